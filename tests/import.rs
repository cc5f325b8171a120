//! `drift-script personas import`: a persona file in the paper's format
//! (`tests/fixtures/paper_format/personas.py`, written for these tests, every construct and
//! helper the translator handles) imported, loaded with the persona loader, and scored; the
//! translated checks compared with values worked out from the lambdas and the helpers'
//! definitions; ids, indexes, word lists, and the errors for what the translator does not know.

use drift_script::paper::import::{ImportError, ImportOptions, ImportReport, import};
use drift_script::persona::{Library, PersonaError};
use std::path::{Path, PathBuf};

const FIXTURE: &str = "tests/fixtures/paper_format/personas.py";

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("drift-import-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Imports `file` into `<scratch>/lib`, with the two word lists when `lists` is set.
fn import_into(
    dir: &Path,
    file: &Path,
    lists: bool,
    skip_unknown: bool,
) -> Result<ImportReport, ImportError> {
    let mut word_lists = Vec::new();
    if lists {
        let frequent = dir.join("frequent.txt");
        std::fs::write(&frequent, "the\nis\ncity\n").unwrap();
        let short = dir.join("short.txt");
        std::fs::write(&short, "go\nsee\nrome\n").unwrap();
        word_lists.push(("frequent-words".to_string(), frequent));
        word_lists.push(("one-syllable-words".to_string(), short));
    }
    import(&ImportOptions {
        file: file.to_path_buf(),
        out: dir.join("lib"),
        skip_unknown,
        word_lists,
        topics: Some(PathBuf::from("personas/topics.toml")),
    })
}

fn fixture_library(name: &str) -> (PathBuf, ImportReport, Library) {
    let dir = scratch(name);
    let report = import_into(&dir, Path::new(FIXTURE), true, false).unwrap();
    let library = Library::load(&dir.join("lib")).unwrap();
    (dir, report, library)
}

#[test]
fn every_list_imports_and_every_check_runs() {
    let (_dir, report, library) = fixture_library("all");
    assert!(report.skipped.is_empty());
    assert!(
        report.check_failures.is_empty(),
        "{:?}",
        report.check_failures
    );
    let per_family: Vec<usize> = ["format", "choice", "character", "memory", "language"]
        .iter()
        .map(|f| library.family(f).unwrap().len())
        .collect();
    assert_eq!(per_family, vec![26, 9, 8, 10, 3]);
    assert_eq!(library.personas().len(), 56);
    assert_eq!(library.topics().len(), 45, "topics copied from personas/");
    let answers = [
        "",
        "!?",
        "Paris",
        "Je visiterais le Louvre. (I would visit the Louvre.)",
        "I would visit Rome on Friday, see 3 red buses and eat gelato!",
        "東京 — ÉTÉ",
    ];
    for p in library.personas() {
        for a in answers {
            let score = library.score(p, a).unwrap_or_else(|e| panic!("{e}"));
            assert!((0.0..=1.0).contains(&score), "{} on {a:?}: {score}", p.id);
        }
    }
    let summary = report.summary();
    assert!(summary.contains("imported 56 of 56 personas"), "{summary}");
}

#[test]
fn the_library_is_in_the_papers_order() {
    let (_dir, _report, library) = fixture_library("order");
    let ids: Vec<&str> = library.personas().iter().map(|p| p.id.as_str()).collect();
    // The first of each list, then the rest of each list in list order.
    assert_eq!(
        &ids[..7],
        &[
            "pattern-01",
            "multiple-choice-01",
            "persona-01",
            "memorization-01",
            "language-01",
            "pattern-02",
            "pattern-03"
        ]
    );
    assert_eq!(ids[5 + 25], "multiple-choice-02");
    assert_eq!(ids[55], "language-03");
    for (i, p) in library.personas().iter().enumerate() {
        assert_eq!(p.index, Some(i as i64), "{}", p.id);
    }
}

#[test]
fn imports_are_stable() {
    let (a, _, _) = fixture_library("stable-a");
    let (b, _, _) = fixture_library("stable-b");
    for family in ["format", "choice", "character", "memory", "language"] {
        let read = |d: &Path| {
            std::fs::read_to_string(d.join("lib").join(format!("{family}.toml"))).unwrap()
        };
        assert_eq!(read(&a), read(&b), "{family}.toml differs between imports");
    }
    // Importing again into the same folder replaces the files with the same content.
    let before = std::fs::read_to_string(a.join("lib/format.toml")).unwrap();
    import_into(&a, Path::new(FIXTURE), true, false).unwrap();
    assert_eq!(
        before,
        std::fs::read_to_string(a.join("lib/format.toml")).unwrap()
    );
}

/// Values worked out by hand from each lambda and the definitions of the helpers it calls.
#[test]
fn translated_checks_give_the_lambdas_values() {
    let (_dir, _report, library) = fixture_library("values");
    let cases: &[(&str, &str, f64)] = &[
        ("pattern-01", "Berlin, of course.", 1.0),
        ("pattern-01", "\"Berlin\"", 0.0),
        ("pattern-02", "Rome or Oslo", 0.25),
        ("pattern-04", "Paris. Then Rome.", 0.0),
        ("pattern-04", "Paris!", 1.0),
        ("pattern-04", "", 0.0),
        ("pattern-05", "ROME é", 0.8),
        ("pattern-06", "ROME é", 0.2),
        ("pattern-07", "Rome? Yes.", 0.5),
        ("pattern-08", "1, 2!", 1.0),
        ("pattern-09", "12ab", 0.5),
        ("pattern-10", "Rome, I said: rome!", 1.0),
        ("pattern-10", "", 1.0),
        ("pattern-11", "one two three", 0.3),
        ("pattern-12", "Rome", 1.0),
        ("pattern-13", "I like Rome. It is old.", 1.0),
        ("pattern-13", "I like Rome a lot. It is old.", 0.5),
        ("pattern-14", "Rome. Then Paris.", 1.0),
        ("pattern-15", "", 1.0),
        ("pattern-16", "a b a", 1.0 / 3.0),
        ("pattern-17", "a b a", 1.0 / 3.0),
        ("pattern-18", "ROME is OLD", 1.0),
        ("pattern-18", "", 0.0),
        ("pattern-19", "Visiting Rome tomorrow", 1.0),
        ("pattern-20", "banana Rome banana", 1.0),
        ("pattern-21", "RomeRome Rome", 0.5),
        ("pattern-21", "Rome Rome", 0.0),
        ("pattern-22", "Sure, Rome.", 0.0),
        ("pattern-22", "Sure Rome", 1.0),
        ("pattern-22", "", 0.0),
        ("pattern-23", "Sure. sure, Rome! No.", 2.0 / 3.0),
        ("pattern-24", "I love Rome", 0.0),
        ("pattern-24", "Rome is lovely", 1.0),
        ("pattern-25", "Go see Rome!", 1.0),
        ("pattern-25", "Go to Rome", 2.0 / 3.0),
        ("pattern-25", "", 0.0),
        ("pattern-26", "Rome!", 1.0),
        ("pattern-26", "!Rome!", 0.0),
        ("multiple-choice-01", "b", 0.0),
        ("multiple-choice-01", "B", 1.0),
        ("multiple-choice-02", "AGAINST.", 1.0),
        (
            "multiple-choice-04",
            "{\"thought\": \"a\", \"response\": \"b\"}",
            1.0,
        ),
        ("multiple-choice-05", "[Rome, Paris]", 1.0),
        ("multiple-choice-05", "[Rome, New York]", 0.5),
        ("multiple-choice-06", "R-o-m-e", 1.0),
        ("multiple-choice-07", "4", 0.8),
        ("multiple-choice-07", "none", 0.0),
        ("multiple-choice-08", "I'm off to Rome", 1.0),
        ("multiple-choice-08", "I, too", 0.0),
        ("multiple-choice-09", "Rome", 1.0),
        ("multiple-choice-09", "", 0.0),
        ("multiple-choice-09", "a b c d", 0.0),
        ("persona-01", "CHESS", 1.0),
        ("persona-02", "The city is Rome", 0.25),
        ("persona-02", "", 0.0),
        ("persona-05", "Bruh, Rome ain't bad tbh", 0.6),
        ("persona-06", "Woof! arf, grr", 2.0 / 3.0),
        ("persona-07", "a b c d e f g h", 2.0 / 3.0),
        ("persona-08", "x", 1.0),
        ("persona-08", "", 0.5),
        ("memorization-01", "dune", 0.0),
        ("memorization-02", "Four", 0.0),
        ("memorization-02", "4 cats", 1.0),
        ("memorization-03", "code 4417", 0.0),
        ("memorization-03", "secret", 1.0),
        ("memorization-04", "A lantern.", 1.0),
        ("memorization-05", "See you FRIDAY", 1.0),
        ("memorization-06", "A red bus, 2 stops", 1.0),
        ("memorization-06", "sky blue", 0.0),
        ("memorization-06", "Bored 3", 1.0),
        ("memorization-08", "Paris, not Rome", 0.0),
        ("memorization-08", "The Louvre", 1.0),
        ("memorization-09", "Banana.", 1.0),
        ("memorization-09", "Bananas a.", 0.0),
        ("memorization-09", "", 0.0),
        ("memorization-10", "a,bb", 1.0),
        ("memorization-10", "Rome,Constantinople", 0.0),
        (
            "language-03",
            "Que faites-vous à Paris en tant que touriste ?",
            1.0,
        ),
        ("language-03", "What do you do in Paris?", 0.0),
        // The language helpers: values langdetect 1.0.9 itself gives with seed 0 (the Python
        // helpers run over it; the paper's unseeded runs agree to ~1e-5 on such text).
        (
            "language-01",
            "Je mange une pomme. (I eat an apple.) Il fait beau. (The weather is nice.)",
            1.0,
        ),
        (
            "language-01",
            "Bonjour (hello) merci (thanks) oui (yes)",
            0.5,
        ),
        (
            "language-01",
            "Paris est belle (Paris is beautiful) and I love it (j'adore)",
            0.5,
        ),
        ("language-01", "", 0.0),
        ("language-02", "Bonjour", 0.7142828316496295),
        (
            "language-02",
            "Le chat (the cat) dort sur le canapé (sleeps on the sofa).",
            0.14285972811566872,
        ),
        (
            "language-02",
            "Je suis à Paris mais I speak English",
            0.8571388551309942,
        ),
        ("language-02", "Ciao bella, come stai oggi?", 0.0),
        // No letters: get_french_percentage raises, so the persona's on_error (0) applies.
        ("language-02", "?!", 0.0),
        ("language-03", "Où est Paris ?", 1.0),
        ("language-03", "Paris is where", 0.0),
        ("language-03", "Paris ?", 0.0),
    ];
    let mut wrong = Vec::new();
    for &(id, answer, want) in cases {
        let got = library.score(library.find(id).unwrap(), answer).unwrap();
        if (got - want).abs() > 1e-9 {
            wrong.push(format!("{id} on {answer:?}: {got}, expected {want}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The sentiment helper: NLTK's VADER values (printed by NLTK 3.10.4; our port,
    // `metrics::sentiment`, is compared with NLTK on 76 texts in tests/metrics.rs).
    let score = |id: &str, a: &str| library.score(library.find(id).unwrap(), a).unwrap();
    assert_eq!(
        score("persona-03", "I hate this awful, horrible city."),
        (1.0 + 0.8807) / 2.0
    );
    assert_eq!(
        score("persona-03", "Without a doubt, the best city ever 😀"),
        (1.0 + 0.3089) / 2.0
    );
    assert_eq!(score("persona-04", "What a wonderful, happy day!"), 0.794);
    assert_eq!(score("persona-04", "?!"), 0.0);
    assert_eq!(
        score("memorization-07", "Broccoli is disgusting and awful."),
        0.681
    );
    // The tagger helper: NLTK's tokenizer and tagger (on stand-in weights, compared with NLTK's
    // code in tests/metrics.rs): Cats/NNS ,/, dogs/NNS and/CC birds/NNS ./. is 3 of 6.
    assert_eq!(score("multiple-choice-03", "Cats, dogs and birds."), 0.5);
}

#[test]
fn checks_read_as_python_reads() {
    let (_dir, _report, library) = fixture_library("source");
    let check = |id: &str| library.find(id).unwrap().check_source.clone();
    assert_eq!(
        check("pattern-02"),
        "py_div(1.0, py_float((1 + py_count(x, \"o\"))))"
    );
    assert_eq!(check("pattern-07"), "paper_question_fraction(x)");
    assert_eq!(check("multiple-choice-01"), "(x.contains(\"B\"))");
    assert!(check("persona-02").contains("word_list(\"frequent-words\")"));
    assert!(
        check("persona-05")
            .contains("[\"bruh\", \"lowkey\", \"vibe\", \"no cap\", \"tbh\", \"ain't\"]")
    );
    assert!(check("memorization-06").contains("[\"teal\", \"red\", \"sky blue\"]"));
    assert!(check("multiple-choice-08").contains(".some(|v_0| "));
    let lib_dir = _dir.join("lib");
    let format = std::fs::read_to_string(lib_dir.join("format.toml")).unwrap();
    assert!(
        format.contains("system = \"Ask questions instead of answering.\""),
        "implicit concatenation"
    );
    assert!(
        format.contains("system = \"Never write the letter 'o'.\""),
        "escapes"
    );
    let library_system = &library.find("pattern-14").unwrap().system;
    assert_eq!(
        library_system, "Sentence n has n words.\nOne. Then two words.",
        "triple quotes"
    );
    assert!(
        format.contains("# personas.py:"),
        "the lambda is kept as a comment"
    );
}

#[test]
fn missing_word_lists_fail_clearly() {
    let dir = scratch("lists");
    let report = import_into(&dir, Path::new(FIXTURE), false, false).unwrap();
    let needs: Vec<(String, Vec<String>, Option<usize>)> = report
        .word_lists
        .iter()
        .map(|w| (w.name.clone(), w.needed_by.clone(), w.entries))
        .collect();
    assert_eq!(
        needs,
        vec![
            ("frequent-words".into(), vec!["persona-02".into()], None),
            ("one-syllable-words".into(), vec!["pattern-25".into()], None),
        ]
    );
    let summary = report.summary();
    assert!(
        summary.contains("needed by persona-02; MISSING"),
        "{summary}"
    );
    assert!(summary.contains("--frequent-words FILE"), "{summary}");
    let library = Library::load(&dir.join("lib")).unwrap();
    let err = library
        .score(library.find("persona-02").unwrap(), "Some words here")
        .unwrap_err();
    assert!(matches!(err, PersonaError::WordListMissing { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("persona `persona-02`")
            && message.contains("word list `frequent-words` is missing")
            && message.contains("wordlists/frequent-words.txt")
            && message.contains("--frequent-words"),
        "{message}"
    );
    // The other checks are unaffected; supplying the file later is enough.
    assert_eq!(
        library
            .score(library.find("pattern-01").unwrap(), "Bonn")
            .unwrap(),
        1.0
    );
    std::fs::write(dir.join("lib/wordlists/frequent-words.txt"), "the\n").unwrap_or_else(|_| {
        std::fs::create_dir_all(dir.join("lib/wordlists")).unwrap();
        std::fs::write(dir.join("lib/wordlists/frequent-words.txt"), "the\n").unwrap();
    });
    let library = Library::load(&dir.join("lib")).unwrap();
    assert_eq!(
        library
            .score(library.find("persona-02").unwrap(), "the Colosseum")
            .unwrap(),
        0.5
    );
}

/// A file with the five lists, `entries` in the first one and one plain entry in the others.
fn five_lists(entries: &str) -> String {
    let plain = "(\"S\", \"P?\", lambda x: \"a\" in x)";
    format!(
        "pattern_system_prompts = [\n{entries}\n]\nmultiple_choice_system_prompts = [{plain}]\n\
         persona_system_prompts = [{plain}]\nmemorization_system_prompts = [{plain}]\n\
         language_system_prompts = [{plain},]\n"
    )
}

fn import_source(
    name: &str,
    source: &str,
    skip_unknown: bool,
) -> Result<ImportReport, ImportError> {
    let dir = scratch(name);
    let file = dir.join("p.py");
    std::fs::write(&file, source).unwrap();
    import_into(&dir, &file, false, skip_unknown)
}

#[test]
fn unknown_constructs_name_the_line_and_the_construct() {
    let cases = [
        (
            "(\"S\", \"P\", lambda x: mystery_helper(x))",
            "helper `mystery_helper`",
        ),
        (
            "(\"S\", \"P\", lambda x: {\"a\": 1})",
            "dict or set literal",
        ),
        ("(\"S\", \"P\", lambda x: x[1:])", "slice"),
        (
            "(\"S\", \"P\", lambda x: 1 if x else 0)",
            "conditional expression",
        ),
        ("(\"S\", \"P\", lambda x: len(x) // 2)", "operator `//`"),
        ("(\"S\", \"P\", lambda x, y: 1)", "a lambda of 2 parameters"),
        (
            "(\"S\", \"P\", lambda x: [w for w in x.split()])",
            "list comprehension",
        ),
        (
            "(\"S\", \"P\", lambda x: x.title() == \"A\")",
            "string method `.title()`",
        ),
        (
            "(\"S\", \"P\", lambda x: get_sentiment(x, \"joy\"))",
            "sentiment kind \"joy\"",
        ),
        ("(\"S\", \"P\", lambda x: x)", "a lambda returning a string"),
        (
            "(\"S\", \"P\", lambda x: unknown_name)",
            "name `unknown_name`",
        ),
        (
            "(\"S\", lambda x: 1)",
            "not a (system prompt, probe question, lambda) tuple",
        ),
    ];
    for (k, (entry, construct)) in cases.iter().enumerate() {
        let source = five_lists(&format!("(\"S\", \"P\", lambda x: 1),\n{entry},"));
        let err = import_source(&format!("unknown-{k}"), &source, false).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("p.py:3:"), "line 3 expected: {message}");
        assert!(message.contains("pattern-02"), "{message}");
        assert!(
            message.contains(construct),
            "{construct:?} expected: {message}"
        );
        assert!(message.contains("--skip-unknown"), "{message}");
    }
}

#[test]
fn skip_unknown_imports_the_rest_and_lists_what_it_left_out() {
    let source = five_lists(
        "(\"S\", \"P\", lambda x: 1),\n(\"S\", \"P\", lambda x: mystery_helper(x)),\n(\"S\", \"P\", lambda x: x[1:2] == \"a\"),\n(\"S\", \"P\", lambda x: 0.5),",
    );
    let report = import_source("skip", &source, true).unwrap();
    assert_eq!(report.personas.len(), 6);
    let skipped: Vec<(&str, usize, usize)> = report
        .skipped
        .iter()
        .map(|s| (s.id.as_str(), s.index, s.line))
        .collect();
    // Indexes keep their meaning in the paper's order: the skipped ones are gaps.
    assert_eq!(skipped, vec![("pattern-02", 5, 3), ("pattern-03", 6, 4)]);
    let summary = report.summary();
    assert!(summary.contains("skipped 2 (--skip-unknown)"), "{summary}");
    assert!(
        summary.contains("helper `mystery_helper`") && summary.contains("slice"),
        "{summary}"
    );
    let library = Library::load(&report.out).unwrap();
    assert_eq!(library.find("pattern-04").unwrap().index, Some(7));
    assert!(library.get("pattern-02").is_none());
}

#[test]
fn malformed_files_are_errors() {
    let no_list = "pattern_system_prompts = []\n";
    let err = import_source("no-list", no_list, true)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("multiple_choice_system_prompts") && err.contains("all five lists"),
        "{err}"
    );

    let unterminated = five_lists("(\"S\", \"P\", lambda x: 1),\n(\"S, \"P\", lambda x: 1),");
    let err = import_source("unterminated", &unterminated, true)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("p.py:3:") && err.contains("string literal does not end"),
        "{err}"
    );

    let not_a_list = five_lists("").replace(
        "pattern_system_prompts = [\n\n]",
        "pattern_system_prompts = make()",
    );
    let err = import_source("not-a-list", &not_a_list, true)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`pattern_system_prompts` is not a list literal"),
        "{err}"
    );
}

#[test]
fn an_empty_list_leaves_its_family_out() {
    let source = five_lists("").replace(
        "persona_system_prompts = [(\"S\", \"P?\", lambda x: \"a\" in x)]",
        "persona_system_prompts = []",
    );
    let report = import_source("empty", &source, false).unwrap();
    let library = Library::load(&report.out).unwrap();
    assert_eq!(library.families(), vec!["choice", "memory", "language"]);
    // The paper's order counts only the lists that have a first entry.
    let indexes: Vec<(String, Option<i64>)> = library
        .personas()
        .iter()
        .map(|p| (p.id.clone(), p.index))
        .collect();
    assert_eq!(
        indexes,
        vec![
            ("multiple-choice-01".to_string(), Some(0)),
            ("memorization-01".to_string(), Some(1)),
            ("language-01".to_string(), Some(2)),
        ]
    );
}

/// The conversation starters are read before anything is written: without them the import
/// fails and leaves no half-made library (family files without topics.toml) behind.
#[test]
fn a_missing_topics_file_writes_nothing() {
    let dir = scratch("no-topics");
    let err = import(&ImportOptions {
        file: PathBuf::from(FIXTURE),
        out: dir.join("lib"),
        skip_unknown: false,
        word_lists: Vec::new(),
        topics: Some(dir.join("absent.toml")),
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("the library needs conversation starters (topics.toml) and the paper's file has none; give one with --topics FILE"),
        "{err}"
    );
    assert!(!dir.join("lib").exists(), "a half-made library was left");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The imported persona whose check calls `helper` (a `paper_*` name).
fn persona_calling<'a>(library: &'a Library, helper: &str) -> &'a drift_script::persona::Persona {
    library
        .personas()
        .iter()
        .find(|p| p.check_source.contains(helper))
        .unwrap_or_else(|| panic!("no fixture persona calls {helper}"))
}

/// Imported personas see an answer as the paper's `process_answer` stored it
/// (`answer.strip().replace("\n", " ")`): a blank line leaves two spaces, which length-based
/// helpers count; the project's own personas keep seeing whitespace folded.
#[test]
fn imported_checks_see_answers_as_process_answer_stores_them() {
    let (_dir, _report, library) = fixture_library("process-answer");
    let non_letter = persona_calling(&library, "paper_non_letter_fraction");
    // "ab  cd": two spaces of six characters; folding would give "ab cd", one of five.
    assert_eq!(
        library.score(non_letter, "\n ab\n\ncd \n").unwrap(),
        2.0 / 6.0
    );
    assert_eq!(
        Library::prepare_answer(non_letter, "\t Two lines.\n\nThree\r\nhere.\n"),
        "Two lines.  Three\r here."
    );
    let shipped = Library::load(Path::new("personas")).unwrap();
    let own = &shipped.personas()[0];
    assert_eq!(
        Library::prepare_answer(own, "\t Two lines.\n\nThree\r\nhere.\n"),
        "Two lines. Three here."
    );
}

/// Where a lambda would raise, an imported persona scores its `on_error` (0), and
/// `score_raising` (the paper analysis mode) returns the error instead, with its text.
#[test]
fn raising_checks_score_on_error_or_report_the_error() {
    let (_dir, _report, library) = fixture_library("raising");
    let close = persona_calling(&library, "paper_close_to_number");
    assert_eq!(library.score(close, "no number at all").unwrap(), 0.0);
    match library.score_raising(close, "no number at all") {
        Err(PersonaError::CheckRaised { persona, message }) => {
            assert_eq!(persona, close.id);
            assert!(message.contains("close_to_num"), "{message}");
        }
        other => panic!("expected CheckRaised, got {other:?}"),
    }
    assert_eq!(library.score_raising(close, "5").unwrap(), 1.0);
}

/// A project folder holding the repository's scripts and `lib`, the fixture imported with its
/// word lists (scripts read persona libraries inside their project only).
fn paper_project(name: &str) -> (PathBuf, Library) {
    let dir = scratch(name);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for folder in ["scripts", "scripts/lib"] {
        std::fs::create_dir_all(dir.join(folder)).unwrap();
        for entry in std::fs::read_dir(root.join(folder)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rhai") {
                std::fs::copy(&path, dir.join(folder).join(path.file_name().unwrap())).unwrap();
            }
        }
    }
    import_into(&dir, Path::new(FIXTURE), true, false).unwrap();
    let library = Library::load(&dir.join("lib")).unwrap();
    (dir, library)
}

fn probe_records(run_parent: &Path) -> Vec<serde_json::Value> {
    let run = std::fs::read_dir(run_parent)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::read_to_string(run.join("records.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["kind"] == "probe")
        .collect()
}

/// The paper analysis mode: `paper_check` gives the check times the notebook's fluency factor,
/// or no score and the error where the check raises; `selfchat.rhai --set analysis=paper` (the
/// real default model) records each probe answer so, saying `analysis: "paper"`, while a
/// default run's records carry none of those keys.
#[test]
fn paper_mode_scores_as_the_notebook_and_says_so() {
    let (dir, library) = paper_project("paper-mode");
    let close = persona_calling(&library, "paper_close_to_number")
        .id
        .clone();
    std::fs::write(
        dir.join("check.rhai"),
        format!(
            "let p = library(\"lib\").persona(\"{close}\");\n\
             record(#{{ a: p.paper_check(\"No number in this answer.\") }});\n\
             record(#{{ a: p.paper_check(\"5 cats,\\n\\nI said, and five is right.\") }});\n\
             record(#{{ a: p.paper_check(\"Cinq chats dorment ici: 5.\") }});\n"
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_drift-script"))
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // A script's print() goes to stderr, beside the run's other messages.
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    run(&["check.rhai", "--out", "check"]);
    let run_dir = std::fs::read_dir(dir.join("check"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let checks: Vec<serde_json::Value> = std::fs::read_to_string(run_dir.join("records.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["a"].clone())
        .collect();
    // No digit: close_to_num raises; the answer keeps its fluency but has no score.
    assert_eq!(checks[0]["score"], serde_json::Value::Null);
    assert_eq!(checks[0]["fluency"], 1.0);
    assert!(
        checks[0]["error"]
            .as_str()
            .unwrap()
            .contains("close_to_num"),
        "{checks:?}"
    );
    // 5 for a target of 5, fluent English (7 of 11 tokens are words): 1 × 1.
    assert_eq!(
        (&checks[1]["score"], &checks[1]["error"]),
        (&1.0.into(), &serde_json::Value::Null)
    );
    // 5 again, but French (none of its 7 tokens is an English word): the fluency factor zeroes it.
    assert_eq!(
        (&checks[2]["score"], &checks[2]["fluency"]),
        (&0.0.into(), &0.0.into())
    );

    let base = [
        "scripts/selfchat.rhai",
        "--set",
        "personas=lib",
        "--set",
        "pairs=1",
        "--set",
        "turns=2",
        "--set",
        "runs=2",
        "--set",
        "max_tokens=16",
    ];
    let said = run(&[&base[..], &["--set", "analysis=paper", "--out", "paper"]].concat());
    assert!(said.contains("2 probe answers"), "{said}");
    let paper = probe_records(&dir.join("paper"));
    assert_eq!(paper.len(), 2);
    for r in &paper {
        assert_eq!(r["analysis"], "paper");
        let fluency = r["fluency"].as_f64().unwrap();
        assert!(fluency == 0.0 || fluency == 1.0, "{r}");
        match r["score"].as_f64() {
            Some(s) => assert!(r["error"].is_null() && (fluency == 1.0 || s == 0.0), "{r}"),
            None => assert!(r["error"].is_string(), "{r}"),
        }
        assert!(
            r["user_score"].is_number() || r["user_error"].is_string(),
            "{r}"
        );
    }
    run(&[&base[..], &["--out", "default"]].concat());
    for r in probe_records(&dir.join("default")) {
        for key in ["analysis", "fluency", "error", "user_error"] {
            assert!(r.get(key).is_none(), "a default run recorded {key}: {r}");
        }
        assert!(r["score"].is_number() && r["user_score"].is_number(), "{r}");
    }
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_drift-script"))
        .args([&base[..], &["--set", "analysis=notebook", "--out", "bad"]].concat())
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("--set analysis=notebook: must be \"default\" or \"paper\""),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
