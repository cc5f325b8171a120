//! `drift-script personas [--family F] [--json] [--dir DIR]`: lists the persona library.

use crate::persona::{Library, Persona};
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct PersonasArgs {
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

pub fn run(args: PersonasArgs) -> anyhow::Result<()> {
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
    // A closed pipe (`| head`) is not an error worth reporting.
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
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
