//! `drift-script personas [--family F] [--json] [--dir DIR]`: lists the persona library;
//! `drift-script personas import FILE.py [-o DIR] …`: imports the paper's persona file.

use crate::paper::import::{ImportOptions, import};
use crate::persona::{Library, Persona};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct PersonasArgs {
    #[command(subcommand)]
    action: Option<Action>,
    /// Only the personas of this family (format, choice, character, memory or language).
    #[arg(long)]
    family: Option<String>,
    /// Print a JSON array of objects with every field, the check included.
    #[arg(long)]
    json: bool,
    /// The persona library folder.
    #[arg(long, default_value = "personas")]
    dir: PathBuf,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Imports the paper's persona file (hundred_system_prompts.py) into a persona library,
    /// translating each lambda to a check; no Python needed.
    Import(ImportArgs),
}

#[derive(clap::Args, Debug)]
struct ImportArgs {
    /// The paper's persona file: five lists of (system prompt, probe, lambda) tuples.
    file: PathBuf,
    /// The library folder to write (family files, wordlists/, topics.toml).
    #[arg(short = 'o', long = "out", default_value = "paper-personas")]
    out: PathBuf,
    /// Import the personas that translate and list the ones with unknown constructs.
    #[arg(long)]
    skip_unknown: bool,
    /// Local copy of the frequent-English-words list the paper downloads (one word a line).
    #[arg(long, value_name = "FILE")]
    frequent_words: Option<PathBuf>,
    /// Local copy of the one-syllable-words list the paper downloads (one word a line).
    #[arg(long, value_name = "FILE")]
    one_syllable_words: Option<PathBuf>,
    /// Conversation starters to copy when the folder has no topics.toml [default:
    /// personas/topics.toml].
    #[arg(long, value_name = "FILE")]
    topics: Option<PathBuf>,
}

pub fn run(args: PersonasArgs) -> anyhow::Result<()> {
    if let Some(Action::Import(a)) = args.action {
        let mut word_lists = Vec::new();
        if let Some(f) = a.frequent_words {
            word_lists.push(("frequent-words".to_string(), f));
        }
        if let Some(f) = a.one_syllable_words {
            word_lists.push(("one-syllable-words".to_string(), f));
        }
        let report = import(&ImportOptions {
            file: a.file,
            out: a.out,
            skip_unknown: a.skip_unknown,
            word_lists,
            topics: a.topics,
        })?;
        out!("{}", report.summary())?;
        anyhow::ensure!(
            report.check_failures.is_empty(),
            "{} imported check(s) failed on the sample answers",
            report.check_failures.len()
        );
        return Ok(());
    }
    let library = Library::load(&args.dir)?;
    let personas: Vec<&Persona> = match &args.family {
        Some(family) => library.family(family)?,
        None => library.personas().iter().collect(),
    };
    let text = if args.json {
        serde_json::to_string_pretty(&personas)? + "\n"
    } else {
        table(&personas)
    };
    Ok(out!("{text}")?)
}

/// One block per persona: `id (family)`, then the system prompt and the probe, indented.
fn table(personas: &[&Persona]) -> String {
    let mut out = String::new();
    for p in personas {
        out += &format!(
            "{} ({})\n  system: {}\n  probe:  {}\n\n",
            p.id, p.family, p.system, p.probe
        );
    }
    out += &format!(
        "{} persona{}\n",
        personas.len(),
        if personas.len() == 1 { "" } else { "s" }
    );
    out
}
