//! `drift-script plot RESULTS.jsonl [-o FILE.png|.svg] [--x turn --y score --group method]`.

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
    #[arg(long)]
    title: Option<String>,
}

pub fn run(args: PlotArgs) -> anyhow::Result<()> {
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
        band_method: Default::default(),
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
