//! `drift-script view RUN_DIR [-o FILE]`: the run as one self-contained HTML page.

use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ViewArgs {
    /// A run folder (the one that holds records.jsonl and run.json).
    run_dir: PathBuf,
    /// The page to write; default: RUN_DIR/view.html.
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
}

pub fn run(args: ViewArgs) -> anyhow::Result<()> {
    let report = crate::view::write_view(&args.run_dir, args.output.as_deref())?;
    let mut summary = format!(
        "{} record(s): {} unit(s), {} probe answer(s), {} picture(s)",
        report.records,
        report.units,
        report.answers,
        report.plots.len()
    );
    if !report.tables.is_empty() {
        summary += &format!("; tables for {}", report.tables.join(", "));
    }
    summary += &format!("; {:.1} kB", report.bytes as f64 / 1000.0);
    eprintln!("{summary}");
    outln!("{}", report.path.display())?;
    Ok(())
}
