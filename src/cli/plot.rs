//! `drift-script plot RESULTS.jsonl [-o FILE.png|.svg] [--x turn --y score --group method]
//! [--band LEVEL] [--band-method t|bootstrap [--resamples N] [--seed S]]`.

use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct PlotArgs {
    /// A results file (JSON Lines).
    results: PathBuf,
    /// The picture to write (.png or .svg); default: next to the results, `<name>.png`.
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    /// The x column.
    #[arg(long, default_value = "turn")]
    x: String,
    /// The y column(s), comma-separated.
    #[arg(long, default_value = "score", value_delimiter = ',')]
    y: Vec<String>,
    /// A column whose values split the data into separate lines.
    #[arg(long)]
    group: Option<String>,
    /// Confidence level of the shaded band around each line (0 for none).
    #[arg(long, default_value_t = 0.68)]
    band: f64,
    /// How the band is computed: `t`, the Student-t interval of the mean, or `bootstrap`, the
    /// percentile bootstrap interval of the mean (what seaborn draws for `errorbar=('ci', 68)`,
    /// as the paper's notebook does; a script's `band: #{bootstrap: 0.68}`).
    #[arg(long, default_value = "t", value_parser = ["t", "bootstrap"])]
    band_method: String,
    /// --band-method bootstrap: resamples per point [default: 1000].
    #[arg(long)]
    resamples: Option<usize>,
    /// --band-method bootstrap: the seed of the resampling stream, the same at every point
    /// [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long)]
    title: Option<String>,
}

/// The band's method from `--band-method`, `--resamples` and `--seed`, refused before anything
/// is read when they do not fit together.
fn band_method(args: &PlotArgs) -> anyhow::Result<crate::plot::BandMethod> {
    if args.band_method == "bootstrap" {
        let resamples = args.resamples.unwrap_or(1000);
        anyhow::ensure!(resamples >= 1, "--resamples must be at least 1");
        return Ok(crate::plot::BandMethod::Bootstrap {
            resamples,
            seed: args.seed.unwrap_or(0),
        });
    }
    anyhow::ensure!(
        args.resamples.is_none() && args.seed.is_none(),
        "--resamples and --seed apply to --band-method bootstrap only"
    );
    Ok(crate::plot::BandMethod::T)
}

pub fn run(args: PlotArgs) -> anyhow::Result<()> {
    let band_method = band_method(&args)?;
    let records = crate::plot::read_jsonl(&args.results)?;
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| args.results.with_extension("png"));
    let spec = crate::plot::LineSpec {
        x: args.x.clone(),
        y: args.y.clone(),
        group: args.group.clone(),
        band: (args.band > 0.0).then_some(args.band),
        band_method,
        title: args.title.clone(),
        xlabel: None,
        ylabel: None,
        y_range: None,
        facet: None,
    };
    let report = crate::plot::line_plot(&records, &spec, &output)?;
    let mut summary = format!(
        "{} line(s), {} point(s) from {} record(s)",
        report.series, report.points, report.used
    );
    if report.skipped > 0 {
        summary += &format!(
            "; {} record(s) skipped (no `{}`, or no number for the y column)",
            report.skipped, args.x
        );
    }
    if report.non_numeric > 0 {
        summary += &format!("; {} y value(s) not numbers", report.non_numeric);
    }
    eprintln!("{summary}");
    outln!("{}", output.display())?;
    Ok(())
}
