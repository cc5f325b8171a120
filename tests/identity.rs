//! Bit-exact records: the same script, parameters and seed write the same bytes in another
//! process and with any `--jobs`, apart from `_meta.time`. Run on the shipped self-chat with
//! personas whose checks use the seeded language detector (`language_prob`), VADER
//! (`sentiment`) and NLTK's tagger (`plural_noun_fraction`), the scorers whose last digits
//! could differ between processes if anything in them depended on the process.

use std::path::{Path, PathBuf};
use std::process::Command;

struct Project {
    dir: PathBuf,
}

impl Project {
    /// The repository's scripts (with scripts/lib) and persona library in a fresh folder.
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "drift-script-identity-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for folder in ["scripts", "scripts/lib", "personas"] {
            std::fs::create_dir_all(dir.join(folder)).unwrap();
            for entry in std::fs::read_dir(root.join(folder)).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    std::fs::copy(&path, dir.join(folder).join(path.file_name().unwrap())).unwrap();
                }
            }
        }
        Project { dir }
    }

    /// Runs `args` with `--out out`; the bytes of the records file it wrote.
    fn records(&self, args: &[&str], out: &str) -> String {
        // `DRIFT_SCRIPT_BIN`: a copy of this branch's build, where the target folder is shared.
        let bin = std::env::var_os("DRIFT_SCRIPT_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_drift-script")));
        let o = Command::new(bin)
            .args(args)
            .args(["--out", out])
            .current_dir(&self.dir)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(self.dir.join(out))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(dirs.len(), 1, "{dirs:?}");
        std::fs::read_to_string(dirs.remove(0).join("records.jsonl")).unwrap()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The records file's bytes with every `"time":"…"` field cut out (and nothing else touched:
/// no parsing, so no number is re-printed).
fn without_time(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("\"time\":\"") {
        out.push_str(&rest[..i]);
        let after = &rest[i + "\"time\":\"".len()..];
        let end = after.find('"').expect("a closed string");
        rest = &after[end + 1..];
        if let Some(stripped) = rest.strip_prefix(',') {
            rest = stripped;
        }
    }
    out.push_str(rest);
    out
}

fn assert_identical(what: &str, expected: &str, got: &str) {
    if expected == got {
        return;
    }
    for (i, (a, b)) in expected.lines().zip(got.lines()).enumerate() {
        assert_eq!(a, b, "{what}: line {} differs", i + 1);
    }
    assert_eq!(
        expected.lines().count(),
        got.lines().count(),
        "{what}: line counts"
    );
    panic!("{what}: the files differ");
}

/// One configuration: two processes with `--jobs 1`, one with `--jobs 3`.
fn check(name: &str, sets: &[&str], expect_in_records: &[&str]) {
    let p = Project::new(name);
    let mut args = vec!["scripts/selfchat.rhai"];
    for set in sets {
        args.extend(["--set", set]);
    }
    args.extend([
        "--set",
        "turns=4",
        "--set",
        "max_tokens=32",
        "--set",
        "pairs=3",
    ]);
    let first = p.records(&args, "first");
    let second = p.records(&args, "second");
    let mut with_jobs = args.clone();
    with_jobs.extend(["--jobs", "3"]);
    let jobs = p.records(&with_jobs, "jobs");
    assert!(first.lines().count() >= 3 * 3, "{first}");
    for needle in expect_in_records {
        assert!(first.contains(needle), "{needle} not in\n{first}");
    }
    let first = without_time(&first);
    assert!(!first.contains("\"time\""));
    assert_identical(
        &format!("{name}: a second process"),
        &first,
        &without_time(&second),
    );
    assert_identical(&format!("{name}: --jobs 3"), &first, &without_time(&jobs));
}

#[test]
fn language_and_sentiment_personas_write_identical_records() {
    // french: language_prob(x, "fr"); cheerful: sentiment.
    check(
        "french",
        &["agent=french", "user=cheerful"],
        &[
            "\"agent\":\"french\"",
            "\"user\":\"cheerful\"",
            "\"score\":",
        ],
    );
}

#[test]
fn tagger_personas_write_identical_records() {
    // plural-nouns: plural_noun_fraction (NLTK's tokenizer and tagger).
    check(
        "plural-nouns",
        &["agent=plural-nouns"],
        &["\"agent\":\"plural-nouns\"", "\"score\":"],
    );
}

#[test]
fn cutting_time_touches_nothing_else() {
    let line =
        "{\"_meta\":{\"run\":{},\"time\":\"2026-01-01T00:00:00.000Z\",\"unit\":\"0\"},\"x\":0.1}\n";
    assert_eq!(
        without_time(line),
        "{\"_meta\":{\"run\":{},\"unit\":\"0\"},\"x\":0.1}\n"
    );
}
