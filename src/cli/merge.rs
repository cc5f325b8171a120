//! `drift-script merge DIR… [-o OUT]`: one run folder from the shards of a sharded run.

use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The shard folders (`selfchat/<script>-<hash>-shard-I-of-N`), all N of them.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// The merged run folder (default: next to the shards, without the `-shard-I-of-N` suffix).
    #[arg(short, long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: MergeArgs) -> anyhow::Result<()> {
    crate::interrupt::ignore_file_size_signal();
    let merged = crate::merge::merge(&args.dirs, args.out.as_deref());
    crate::interrupt::report_crash_points();
    let merged = merged?;
    for note in &merged.notes {
        eprintln!("merge: {note}");
    }
    outln!(
        "merged {} shard(s): {} unit(s), {} record(s) in {}",
        args.dirs.len(),
        merged.units,
        merged.records,
        merged.dir.join("records.jsonl").display()
    )?;
    Ok(())
}
