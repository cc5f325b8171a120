//! The persona library (`personas/`): the real library's shape, every persona's check against
//! its own compliant and violating example answers, every malformed input's error message, and
//! the `personas` command.
//!
//! `cargo test --release --test personas -- --nocapture` prints the score of every example.

use drift_script::persona::{FAMILIES, Library, PersonaError};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

fn library_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("personas")
}

fn library() -> Library {
    Library::load(&library_dir()).unwrap_or_else(|e| panic!("{e}"))
}

/// The family sizes the library aims at (each may drift by 2).
const EXPECTED: [(&str, usize); 5] = [
    ("format", 29),
    ("choice", 27),
    ("character", 14),
    ("memory", 27),
    ("language", 3),
];

#[test]
fn the_library_has_100_personas_in_five_families_and_about_45_topics() {
    let lib = library();
    assert_eq!(lib.personas().len(), 100);

    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for p in lib.personas() {
        *counts.entry(p.family.as_str()).or_default() += 1;
    }
    eprintln!("family counts: {counts:?}");
    for (family, expected) in EXPECTED {
        let n = counts.get(family).copied().unwrap_or(0);
        assert!(
            n.abs_diff(expected) <= 2,
            "family {family}: {n} personas, expected {expected} ± 2"
        );
    }
    assert_eq!(lib.families(), FAMILIES.to_vec());
    assert_eq!(lib.family("language").unwrap().len(), counts["language"]);

    let ids: HashSet<&str> = lib.personas().iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids.len(), lib.personas().len(), "ids are unique");
    for p in lib.personas() {
        assert!(lib.get(&p.id).is_some_and(|q| std::ptr::eq(p, q)));
        assert!(!p.system.is_empty() && !p.probe.is_empty() && !p.check_source.is_empty());
    }

    // Files sorted by name, personas in file order: character.toml comes first.
    assert_eq!(lib.personas()[0].family, "character");
    assert_eq!(lib.personas()[0].id, "cheerful");

    let topics = lib.topics();
    assert!((40..=50).contains(&topics.len()), "{} topics", topics.len());
    assert_eq!(
        topics.iter().collect::<HashSet<_>>().len(),
        topics.len(),
        "topics are unique"
    );
    assert!(
        topics.iter().all(|t| t.ends_with('?') || t.ends_with('.')),
        "topics are whole sentences"
    );
}

#[test]
fn every_check_scores_its_compliant_example_above_its_violating_one() {
    let lib = library();
    let mut failures = Vec::new();
    // Printed in one piece so that other tests' output does not interleave.
    let mut table = format!(
        "{:<30} {:<10} {:>9} {:>9}\n",
        "persona", "family", "compliant", "violating"
    );
    for p in lib.personas() {
        let (Some(good), Some(bad)) = (&p.compliant, &p.violating) else {
            failures.push(format!(
                "{}: needs both a compliant and a violating example",
                p.id
            ));
            continue;
        };
        let scores = lib.score(p, good).and_then(|g| Ok((g, lib.score(p, bad)?)));
        let (g, b) = match scores {
            Ok(s) => s,
            Err(e) => {
                failures.push(e.to_string());
                continue;
            }
        };
        let flag = if g < 0.8 || b > 0.2 {
            "  <- weak separation"
        } else {
            ""
        };
        table += &format!("{:<30} {:<10} {g:>9.3} {b:>9.3}{flag}\n", p.id, p.family);
        if !(g > b && g >= 0.5) {
            failures.push(format!("{}: compliant {g:.3}, violating {b:.3}", p.id));
        }
    }
    eprint!("{table}");
    assert!(
        failures.is_empty(),
        "{} persona(s) fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The violating examples are ordinary, persona-less replies to a hundred different questions.
/// A check that many of them pass would credit a model with a persona it does not have (and
/// inflate the user-persona score of the paper's adoption measure), so each check must score
/// them low on average.
///
/// Three personas are exempt, because any short reply obeys them: `one-sentence` (most replies
/// to "what is my name?" are one sentence), `short-sentences` ("Heads!") and `never-the` (short
/// replies often lack "the"). Their probes invite long answers, which is where they tell a
/// faithful model from a forgetful one.
const SATISFIED_BY_SHORT_REPLIES: [&str; 3] = ["one-sentence", "short-sentences", "never-the"];

#[test]
fn checks_score_ordinary_replies_to_other_probes_low() {
    let lib = library();
    let ordinary: Vec<&str> = lib
        .personas()
        .iter()
        .filter_map(|p| p.violating.as_deref())
        .collect();
    let mut rows = Vec::new();
    for p in lib.personas() {
        let total: f64 = ordinary
            .iter()
            .map(|a| lib.score(p, a).unwrap_or_else(|e| panic!("{e}")))
            .sum();
        rows.push((total / ordinary.len() as f64, p.id.as_str()));
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut table =
        String::from("mean score of each check over all 100 violating examples (highest first):\n");
    for (mean, id) in &rows[..10] {
        table += &format!("  {id:<30} {mean:.3}\n");
    }
    eprint!("{table}");
    let high: Vec<String> = rows
        .iter()
        .filter(|(mean, id)| *mean > 0.3 && !SATISFIED_BY_SHORT_REPLIES.contains(id))
        .map(|(mean, id)| format!("{id} {mean:.3}"))
        .collect();
    assert!(
        high.is_empty(),
        "checks that ordinary replies pass too often: {high:?}"
    );
}

#[test]
fn scoring_folds_whitespace_and_converts_booleans() {
    let lib = library();
    // all-caps: a fraction; newlines and runs of spaces must not matter.
    let caps = lib.find("all-caps").unwrap();
    assert_eq!(lib.score(caps, "  I LOVE\n\n  RAIN \n").unwrap(), 1.0);
    // one-sentence: a boolean check, counted as 1 or 0.
    let one = lib.find("one-sentence").unwrap();
    assert_eq!(lib.score(one, "Yes, always.").unwrap(), 1.0);
    assert_eq!(lib.score(one, "Yes. Always.").unwrap(), 0.0);
    // bulleted-list relies on newlines becoming single spaces.
    let bullets = lib.find("bulleted-list").unwrap();
    assert_eq!(lib.score(bullets, "- a\n- b\n\n- c").unwrap(), 1.0);
    // Empty answers score, and score low.
    for p in lib.personas() {
        let s = lib.score(p, "").unwrap_or_else(|e| panic!("{e}"));
        assert!(s <= 0.5, "{}: empty answer scores {s}", p.id);
    }
}

#[test]
fn unknown_ids_and_families_are_errors_with_suggestions() {
    let lib = library();
    let e = lib.find("all-cap").unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown persona `all-cap` (did you mean `all-caps`?)"
    );
    let e = lib.find("qqqqqqqqqqqq").unwrap_err();
    assert_eq!(e.to_string(), "unknown persona `qqqqqqqqqqqq`");
    let e = lib.family("poetry").unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown family `poetry` (families: format, choice, character, memory, language)"
    );
}

#[test]
fn the_library_is_send_and_sync() {
    fn shared<T: Send + Sync>() {}
    shared::<Library>();
}

// ---- malformed libraries ----------------------------------------------------------------------

/// A fresh folder holding the given files, removed when dropped.
struct TempLibrary(PathBuf);

impl TempLibrary {
    fn new(name: &str, files: &[(&str, &str)]) -> Self {
        let dir =
            std::env::temp_dir().join(format!("drift-personas-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (file, text) in files {
            std::fs::write(dir.join(file), text).unwrap();
        }
        TempLibrary(dir)
    }
    fn file(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
    fn load(&self) -> Result<Library, PersonaError> {
        Library::load(&self.0)
    }
    fn load_err(&self) -> String {
        match self.load() {
            Ok(_) => panic!("{} loaded, expected an error", self.0.display()),
            Err(e) => e.to_string(),
        }
    }
}

impl Drop for TempLibrary {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const TOPICS: &str = "topics = [\"Is tea better than coffee?\"]\n";

fn persona(id: &str, check: &str) -> String {
    format!(
        "[[persona]]\nid = \"{id}\"\nsystem = \"Shout.\"\nprobe = \"Hello?\"\ncheck = '{check}'\n\n"
    )
}

#[test]
fn a_minimal_library_loads_and_scores() {
    let dir = TempLibrary::new(
        "minimal",
        &[
            ("topics.toml", TOPICS),
            (
                "format.toml",
                &(persona("caps", "upper_fraction(x)") + "family = \"format\"\n"),
            ),
            ("memory.toml", &persona("count-one", "word_count(x)")),
        ],
    );
    let lib = dir.load().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        lib.personas()
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>(),
        ["caps", "count-one"]
    );
    assert_eq!(lib.families(), ["format", "memory"]);
    assert_eq!(lib.topics(), ["Is tea better than coffee?"]);
    // An integer result counts as a number.
    let one = lib.find("count-one").unwrap();
    assert_eq!(lib.score(one, "word").unwrap(), 1.0);
    assert_eq!(lib.score(one, "").unwrap(), 0.0);
    let e = lib.score(one, "two words").unwrap_err().to_string();
    assert_eq!(e, "persona `count-one`: check returned 2, outside [0, 1]");
}

/// A check that calls a function or reads a variable that does not exist fails when the
/// library loads (it used to fail only when the first answer was scored); what a check does with
/// a particular answer (a score out of range here) is still left to scoring.
#[test]
fn a_check_calling_what_does_not_exist_fails_at_load() {
    for (check, missing) in [
        ("shout_level(x)", "Function not found: shout_level"),
        ("word_count(x).len() > 3", "Function not found: len (i64)"),
        ("sentiment(x).compund", "Property not found: compund"),
    ] {
        let text = persona("caps", "upper_fraction(x)") + persona("counter", check).as_str();
        let dir = TempLibrary::new("broken", &[("topics.toml", TOPICS), ("format.toml", &text)]);
        let e = dir.load_err();
        assert!(
            e.starts_with(&format!(
                "{}: counter: the check calls what does not exist ({missing}",
                dir.file("format.toml")
            )),
            "{e}"
        );
        assert!(
            e.ends_with("found by running it once on a sample answer"),
            "{e}"
        );
    }
    let text = persona("counter", "word_count(x)");
    let dir = TempLibrary::new("range", &[("topics.toml", TOPICS), ("format.toml", &text)]);
    let lib = dir.load().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        lib.score(lib.find("counter").unwrap(), "two words")
            .is_err()
    );
}

#[test]
fn a_toml_syntax_error_names_file_line_and_column() {
    let text = "[[persona]]\nid = \"caps\"\nsystem = \"Shout.\nprobe = \"Hello?\"\n";
    let dir = TempLibrary::new("syntax", &[("topics.toml", TOPICS), ("format.toml", text)]);
    let e = dir.load_err();
    let prefix = format!("{}:3:", dir.file("format.toml"));
    assert!(e.starts_with(&prefix), "{e}");
    assert!(e.contains("TOML syntax error"), "{e}");
}

#[test]
fn a_missing_field_names_file_persona_and_field() {
    let text =
        "[[persona]]\nid = \"all-caps\"\nsystem = \"Shout.\"\ncheck = \"upper_fraction(x)\"\n";
    let dir = TempLibrary::new("missing", &[("topics.toml", TOPICS), ("format.toml", text)]);
    assert_eq!(
        dir.load_err(),
        format!(
            "{}: persona `all-caps`: missing field `probe`",
            dir.file("format.toml")
        )
    );

    // Without an id, the persona is named by its position.
    let text = persona("caps", "upper_fraction(x)")
        + "[[persona]]\nsystem = \"s\"\nprobe = \"p\"\ncheck = \"1\"\n";
    let dir = TempLibrary::new(
        "missing-id",
        &[("topics.toml", TOPICS), ("format.toml", &text)],
    );
    assert_eq!(
        dir.load_err(),
        format!(
            "{}: persona #2: missing field `id`",
            dir.file("format.toml")
        )
    );

    let text = "[[persona]]\nid = \"caps\"\nsystem = \"  \"\nprobe = \"p\"\ncheck = \"1\"\n";
    let dir = TempLibrary::new("empty", &[("topics.toml", TOPICS), ("format.toml", text)]);
    assert_eq!(
        dir.load_err(),
        format!(
            "{}: persona `caps`: field `system` is empty",
            dir.file("format.toml")
        )
    );

    let text = "[[persona]]\nid = \"caps\"\nsystem = \"s\"\nprobe = 3\ncheck = \"1\"\n";
    let dir = TempLibrary::new("type", &[("topics.toml", TOPICS), ("format.toml", text)]);
    assert_eq!(
        dir.load_err(),
        format!(
            "{}: persona `caps`: field `probe` must be a string, found an integer",
            dir.file("format.toml")
        )
    );

    let text = persona("caps", "1") + "compliment = \"nice\"\n";
    let dir = TempLibrary::new(
        "unknown-field",
        &[("topics.toml", TOPICS), ("format.toml", &text)],
    );
    let e = dir.load_err();
    assert!(
        e.starts_with(&format!(
            "{}: persona `caps`: unknown field `compliment`",
            dir.file("format.toml")
        )),
        "{e}"
    );

    let dir = TempLibrary::new(
        "bad-id",
        &[
            ("topics.toml", TOPICS),
            ("format.toml", &persona("All Caps", "1")),
        ],
    );
    let e = dir.load_err();
    assert!(
        e.starts_with(&format!(
            "{}: persona `All Caps`: id must be kebab-case",
            dir.file("format.toml")
        )),
        "{e}"
    );
}

#[test]
fn a_duplicate_id_names_both_files() {
    let dir = TempLibrary::new(
        "duplicate",
        &[
            ("topics.toml", TOPICS),
            ("format.toml", &persona("caps", "1")),
            ("memory.toml", &persona("caps", "0")),
        ],
    );
    assert_eq!(
        dir.load_err(),
        format!(
            "duplicate persona id `caps`: in {} and in {}",
            dir.file("format.toml"),
            dir.file("memory.toml")
        )
    );
}

#[test]
fn families_come_from_file_names() {
    let dir = TempLibrary::new(
        "unknown-family",
        &[
            ("topics.toml", TOPICS),
            ("poetry.toml", &persona("caps", "1")),
        ],
    );
    assert_eq!(
        dir.load_err(),
        format!(
            "{}: unknown family `poetry` (families: format, choice, character, memory, language)",
            dir.file("poetry.toml")
        )
    );
    let text = persona("caps", "1") + "family = \"memory\"\n";
    let dir = TempLibrary::new(
        "mismatch",
        &[("topics.toml", TOPICS), ("format.toml", &text)],
    );
    assert_eq!(
        dir.load_err(),
        format!(
            "{}: persona `caps`: family `memory` does not match the file, which holds family `format`",
            dir.file("format.toml")
        )
    );
}

#[test]
fn a_check_that_does_not_compile_is_a_load_error() {
    let cases = [
        ("compile", "upper_fraction(x"),
        // Checks are expressions: statements are refused.
        ("statement", "let y = 1; y"),
        // The only variable is `x`.
        ("variable", "upper_fraction(y)"),
    ];
    for (name, check) in cases {
        let dir = TempLibrary::new(
            name,
            &[
                ("topics.toml", TOPICS),
                ("format.toml", &persona("caps", check)),
            ],
        );
        let e = dir.load_err();
        let prefix = format!(
            "{}: persona `caps`: check does not compile: ",
            dir.file("format.toml")
        );
        assert!(e.starts_with(&prefix) && e.len() > prefix.len(), "{e}");
    }
}

#[test]
fn a_check_must_return_a_number_in_the_unit_interval() {
    // Ten to the seventh closure calls, well over the limit of a million operations.
    let ten = "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]";
    let runaway = (0..7).fold("0".to_string(), |inner, level| {
        format!("{ten}.reduce(|s{level}, v| s{level} + {inner}, 0)")
    }) + " * 0";
    let dir = TempLibrary::new(
        "results",
        &[
            ("topics.toml", TOPICS),
            (
                "format.toml",
                &[
                    persona("text", "x + \"!\""),
                    persona("too-much", "1.5"),
                    persona("negative", "-1"),
                    persona("not-a-number", "0.0 / 0.0"),
                    persona("runaway", &runaway),
                ]
                .concat(),
            ),
        ],
    );
    let lib = dir.load().unwrap_or_else(|e| panic!("{e}"));
    let score = |id: &str| {
        lib.score(lib.find(id).unwrap(), "hello there")
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        score("text"),
        "persona `text`: check returned a string (\"hello there!\"), expected a number in [0, 1] or a boolean"
    );
    assert_eq!(
        score("too-much"),
        "persona `too-much`: check returned 1.5, outside [0, 1]"
    );
    assert_eq!(
        score("negative"),
        "persona `negative`: check returned -1, outside [0, 1]"
    );
    assert_eq!(
        score("not-a-number"),
        "persona `not-a-number`: check returned NaN, outside [0, 1]"
    );
    // A check that would run for minutes is stopped by the operations limit.
    let e = score("runaway");
    assert_eq!(
        e,
        "persona `runaway`: check failed: stopped after 1000000 operations, the limit for one check"
    );
}

#[test]
fn topics_must_be_present_and_non_empty() {
    let dir = TempLibrary::new("no-topics", &[("format.toml", &persona("caps", "1"))]);
    assert_eq!(
        dir.load_err(),
        format!(
            "{}: missing: the library needs its conversation starters",
            dir.file("topics.toml")
        )
    );
    let dir = TempLibrary::new(
        "empty-topics",
        &[
            ("topics.toml", "topics = []\n"),
            ("format.toml", &persona("caps", "1")),
        ],
    );
    assert_eq!(
        dir.load_err(),
        format!("{}: `topics` is empty", dir.file("topics.toml"))
    );
    let dir = TempLibrary::new(
        "topics-key",
        &[
            ("topics.toml", "starters = [\"a\"]\n"),
            ("format.toml", &persona("caps", "1")),
        ],
    );
    assert_eq!(
        dir.load_err(),
        format!("{}: missing `topics = [...]`", dir.file("topics.toml"))
    );
    let dir = TempLibrary::new(
        "topic-type",
        &[
            ("topics.toml", "topics = [\"a\", 2]\n"),
            ("format.toml", &persona("caps", "1")),
        ],
    );
    assert_eq!(
        dir.load_err(),
        format!(
            "{}: topic 2 must be a string, found an integer",
            dir.file("topics.toml")
        )
    );
}

// ---- the command ------------------------------------------------------------------------------

fn drift_script(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_drift-script"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

#[test]
fn the_personas_command_prints_a_family_as_json() {
    let out = drift_script(&["personas", "--family", "language", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = json.as_array().unwrap();
    let lib = library();
    let expected = lib.family("language").unwrap();
    assert_eq!(items.len(), expected.len());
    for (item, p) in items.iter().zip(expected) {
        let fields: Vec<&str> = item
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for key in [
            "id",
            "family",
            "system",
            "probe",
            "check",
            "compliant",
            "violating",
        ] {
            assert!(fields.contains(&key), "{key} missing from {item}");
        }
        assert_eq!(item["id"], p.id.as_str());
        assert_eq!(item["family"], "language");
        assert_eq!(item["system"], p.system.as_str());
        assert_eq!(item["probe"], p.probe.as_str());
        assert_eq!(item["check"], p.check_source.as_str());
    }
    assert!(items.iter().any(|i| i["id"] == "french"));
}

#[test]
fn the_personas_command_lists_a_table_and_refuses_unknown_families() {
    let out = drift_script(&["personas"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("all-caps (format)\n  system: WRITE EVERYTHING IN CAPITAL LETTERS."),
        "{text}"
    );
    assert!(text.ends_with("100 personas\n"));

    let out = drift_script(&["personas", "--family", "poetry"]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(
            "unknown family `poetry` (families: format, choice, character, memory, language)"
        ),
        "{err}"
    );

    let out = drift_script(&["personas", "--dir", "no-such-folder"]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("error: no persona library at no-such-folder (a folder of persona .toml files): run from the project folder, or name the library (`personas --dir FOLDER`, `--set personas=FOLDER`)\n"),
        "{err}"
    );
    assert!(!err.contains("caused by"), "{err}");
}

// ---- index, on_error and word lists (used by imported personas) -------------------------------

fn persona_toml(id: &str, extra: &str, check: &str) -> String {
    format!(
        "[[persona]]\nid = \"{id}\"\nsystem = \"S\"\nprobe = \"P?\"\ncheck = '{check}'\n{extra}\n"
    )
}

#[test]
fn index_orders_the_library() {
    let format = [
        persona_toml("b", "index = 2", "1.0"),
        persona_toml("a", "index = 0", "1.0"),
    ]
    .concat();
    let choice = persona_toml("c", "index = 1", "1.0");
    let lib = TempLibrary::new(
        "index",
        &[
            ("format.toml", &format),
            ("choice.toml", &choice),
            ("topics.toml", TOPICS),
        ],
    );
    let library = lib.load().unwrap();
    let ids: Vec<&str> = library.personas().iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, vec!["a", "c", "b"]);
    assert_eq!(library.find("c").unwrap().index, Some(1));

    let mixed = [
        persona_toml("a", "index = 0", "1.0"),
        persona_toml("b", "", "1.0"),
    ]
    .concat();
    let lib = TempLibrary::new(
        "index-mixed",
        &[("format.toml", &mixed), ("topics.toml", TOPICS)],
    );
    let err = lib.load_err();
    assert!(
        err.contains("persona `b`: has no `index`") && err.contains("`a`"),
        "{err}"
    );

    let twice = [
        persona_toml("a", "index = 3", "1.0"),
        persona_toml("b", "index = 3", "1.0"),
    ]
    .concat();
    let lib = TempLibrary::new(
        "index-twice",
        &[("format.toml", &twice), ("topics.toml", TOPICS)],
    );
    let err = lib.load_err();
    assert!(err.contains("`index` 3 is also the index of `a`"), "{err}");

    let negative = persona_toml("a", "index = -1", "1.0");
    let lib = TempLibrary::new(
        "index-neg",
        &[("format.toml", &negative), ("topics.toml", TOPICS)],
    );
    assert!(
        lib.load_err()
            .contains("`index` must be a non-negative integer")
    );
}

#[test]
fn on_error_scores_what_python_would_raise_on() {
    let format = [
        persona_toml("raises", "on_error = 0.0", "paper_case_alternation(x)"),
        persona_toml("index-out", "on_error = 0.25", "py_split(x)[0] == \"Yes\""),
        persona_toml("strict", "", "paper_case_alternation(x)"),
        persona_toml(
            "listed",
            "on_error = 0.0",
            "paper_target_fraction(x, word_list(\"rare\"))",
        ),
    ]
    .concat();
    let lib = TempLibrary::new(
        "on-error",
        &[("format.toml", &format), ("topics.toml", TOPICS)],
    );
    let library = lib.load().unwrap();
    let score = |id: &str, a: &str| library.score(library.find(id).unwrap(), a);
    assert_eq!(score("raises", "").unwrap(), 0.0);
    assert_eq!(score("raises", "UP down").unwrap(), 1.0);
    assert_eq!(score("index-out", "").unwrap(), 0.25);
    assert_eq!(score("index-out", "Yes sir").unwrap(), 1.0);
    // A mistake in the check is an error even with on_error, found when the library loads.
    let typo = persona_toml("typo", "on_error = 0.0", "no_such_metric(x)");
    let err = TempLibrary::new(
        "on-error-typo",
        &[("format.toml", &typo), ("topics.toml", TOPICS)],
    )
    .load_err();
    assert!(
        err.contains(
            "typo: the check calls what does not exist (Function not found: no_such_metric"
        ),
        "{err}"
    );
    let err = score("strict", "").unwrap_err().to_string();
    assert!(
        err.contains("paper_case_alternation") && err.contains("Python exception"),
        "{err}"
    );
    // So is a word list the library lacks; once the file is there, the check runs.
    let err = score("listed", "x").unwrap_err().to_string();
    assert!(
        err.contains("word list `rare` is missing") && err.contains("wordlists/rare.txt"),
        "{err}"
    );
    std::fs::create_dir_all(lib.0.join("wordlists")).unwrap();
    std::fs::write(lib.0.join("wordlists/rare.txt"), "quixotic\nzephyr\n").unwrap();
    let library = lib.load().unwrap();
    let got = library
        .score(library.find("listed").unwrap(), "A quixotic zephyr, indeed")
        .unwrap();
    assert_eq!(got, 0.5);

    let bad = persona_toml("a", "on_error = 2.0", "1.0");
    let lib = TempLibrary::new(
        "on-error-bad",
        &[("format.toml", &bad), ("topics.toml", TOPICS)],
    );
    assert!(
        lib.load_err()
            .contains("`on_error` must be a number in [0, 1]")
    );
}
