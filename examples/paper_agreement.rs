//! Scores sample answers with every persona imported from the paper's persona file, for
//! `bench/paper_agreement.py`, which runs the file's own Python lambdas on the same answers and
//! compares. Prints one JSON array: per persona, in the paper's order, `{id, index, approximate,
//! scores}` (a score is a number, or a string for an error).
//!
//!     cargo run --release --example paper_agreement -- hundred_system_prompts.py answers.json \
//!         OUT_DIR [--frequent-words FILE] [--one-syllable-words FILE]
use drift_script::paper::import::{ImportOptions, import};
use drift_script::persona::Library;
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, answers, out, rest @ ..] = &args[..] else {
        anyhow::bail!(
            "usage: paper_agreement PERSONA_FILE.py ANSWERS.json OUT_DIR [--frequent-words FILE] [--one-syllable-words FILE]"
        );
    };
    let mut word_lists = Vec::new();
    for pair in rest.chunks(2) {
        match pair {
            [flag, path] if flag.starts_with("--") => word_lists.push((
                flag.trim_start_matches("--").to_string(),
                PathBuf::from(path),
            )),
            _ => anyhow::bail!("expected --frequent-words FILE or --one-syllable-words FILE"),
        }
    }
    let out = PathBuf::from(out);
    let report = import(&ImportOptions {
        file: file.into(),
        out: out.clone(),
        skip_unknown: false,
        word_lists,
        topics: Some(PathBuf::from("personas/topics.toml")),
    })?;
    eprint!("{}", report.summary());
    let library = Library::load(&out)?;
    let answers: Vec<String> = serde_json::from_str(&std::fs::read_to_string(answers)?)?;
    let mut personas: Vec<_> = library.personas().iter().collect();
    personas.sort_by_key(|p| p.index);
    let mut rows = Vec::new();
    for p in personas {
        let scores: Vec<serde_json::Value> = answers
            .iter()
            .map(|a| {
                // The raw answer: the library prepares it as the paper's `process_answer` does,
                // and the Python side applies `process_answer` itself.
                match library.score(p, a) {
                    Ok(v) => serde_json::json!(v),
                    Err(e) => serde_json::json!(format!("error: {e}")),
                }
            })
            .collect();
        let approximate =
            p.check_source.contains("plural_noun") || p.check_source.contains("past_tense");
        rows.push(serde_json::json!({"id": p.id, "index": p.index, "approximate": approximate, "scores": scores}));
    }
    println!("{}", serde_json::to_string(&rows)?);
    Ok(())
}
