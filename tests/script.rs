//! The scripting host end to end, through the real binary on the real default model: example
//! scripts, reproducible records, kill-and-resume, typed `--set`, error positions, the sandbox.
//!
//! Over 1,000 lines on purpose: one binary for every test that runs the real binary on a
//! project folder (`Project`), so the helpers and the model load are shared; each test is
//! self-contained.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A throwaway project folder holding the repository's scripts.
struct Project {
    dir: PathBuf,
}

impl Project {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("drift-script-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("scripts")).unwrap();
        for entry in
            std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts")).unwrap()
        {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rhai") {
                std::fs::copy(&path, dir.join("scripts").join(path.file_name().unwrap())).unwrap();
            }
        }
        Project { dir }
    }

    /// Also copies the persona library and the script modules under scripts/lib.
    fn with_library(self) -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for folder in ["personas", "scripts/lib"] {
            std::fs::create_dir_all(self.dir.join(folder)).unwrap();
            for entry in std::fs::read_dir(root.join(folder)).unwrap() {
                let path = entry.unwrap().path();
                std::fs::copy(&path, self.dir.join(folder).join(path.file_name().unwrap()))
                    .unwrap();
            }
        }
        self
    }

    fn write(&self, name: &str, text: &str) -> &Self {
        std::fs::write(self.dir.join(name), text).unwrap();
        self
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_drift-script"));
        cmd.args(args).current_dir(&self.dir);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// The only run folder under `out` (each run writes to `<out>/<script>-<hash>`).
    fn run_dir(&self, out: &str) -> PathBuf {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(self.dir.join(out))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(dirs.len(), 1, "{dirs:?}");
        dirs.remove(0)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Records without their timestamps, which are the only thing allowed to differ between runs.
fn records_without_time(dir: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("records.jsonl")).unwrap();
    text.lines()
        .map(|line| {
            let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(meta) = v.get_mut("_meta").and_then(|m| m.as_object_mut()) {
                meta.remove("time");
            }
            v
        })
        .collect()
}

fn is_png(path: &Path) -> bool {
    std::fs::read(path)
        .is_ok_and(|bytes| bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000)
}

#[test]
fn the_example_scripts_run() {
    let p = Project::new("examples");
    let hello = p.run(&["scripts/hello.rhai", "--seed", "1"]);
    assert!(hello.status.success(), "{}", stderr(&hello));
    assert!(
        stderr(&hello).contains("[hello.rhai] "),
        "{}",
        stderr(&hello)
    );
    let sampling = p.run(&["scripts/sampling.rhai", "--set", "samples=3"]);
    assert!(sampling.status.success(), "{}", stderr(&sampling));
    let dir = p.run_dir("selfchat");
    assert!(is_png(&dir.join("sampling.png")));
    let records = records_without_time(&dir);
    let answers = records.iter().filter(|r| r.get("answer").is_some()).count();
    assert_eq!(answers, 4 * 3, "four temperatures, three samples each");
}

#[test]
fn the_same_seed_writes_the_same_records() {
    let p = Project::new("repro");
    for out in ["a", "b"] {
        let o = p.run(&[
            "scripts/sampling.rhai",
            "--set",
            "samples=2",
            "--seed",
            "5",
            "--out",
            out,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let a = records_without_time(&p.run_dir("a"));
    let b = records_without_time(&p.run_dir("b"));
    assert!(!a.is_empty());
    assert_eq!(a, b);
    let o = p.run(&[
        "scripts/sampling.rhai",
        "--set",
        "samples=2",
        "--seed",
        "6",
        "--out",
        "c",
    ]);
    assert!(o.status.success());
    assert_ne!(
        a,
        records_without_time(&p.run_dir("c")),
        "another seed, other answers"
    );
}

const RESUMABLE: &str = r#"
let m = model();
for pair in 0..param("pairs", 6) {
    once(pair, || {
        let answers = m.chat_n([#{ role: "user", content: `Name a colour, then count to ${pair + 3}.` }], 2, #{ max_tokens: 48 });
        for (answer, i) in answers {
            record(#{ pair: pair, sample: i, answer: answer });
        }
    });
}
let all = results();
print(`${all.len()} records`);
"#;

/// `--jobs`: units run at once (on the local engine their answers decode in one batch), and
/// the records are those of a plain run, in the same order.
#[test]
fn jobs_give_the_records_of_a_plain_run() {
    let p = Project::new("jobs");
    p.write("resumable.rhai", RESUMABLE);
    let plain = p.run(&[
        "resumable.rhai",
        "--seed",
        "3",
        "--set",
        "pairs=4",
        "--out",
        "plain",
    ]);
    assert!(plain.status.success(), "{}", stderr(&plain));
    let jobs = p.run(&[
        "resumable.rhai",
        "--seed",
        "3",
        "--set",
        "pairs=4",
        "--out",
        "jobs",
        "--jobs",
        "3",
    ]);
    assert!(jobs.status.success(), "{}", stderr(&jobs));
    let expected = records_without_time(&p.run_dir("plain"));
    assert_eq!(expected.len(), 4 * 2 + 4, "records and unit markers");
    assert_eq!(records_without_time(&p.run_dir("jobs")), expected);
    // The main pass printed once; the workers print nothing outside units.
    assert_eq!(
        stderr(&jobs).matches("records").count(),
        1,
        "{}",
        stderr(&jobs)
    );
}

/// Killed with SIGKILL in the middle, rerun: the final records equal an uninterrupted run's.
#[test]
fn a_killed_run_resumes_without_loss_or_duplicates() {
    let p = Project::new("resume");
    p.write("resumable.rhai", RESUMABLE);
    let full = p.run(&["resumable.rhai", "--seed", "2", "--out", "full"]);
    assert!(full.status.success(), "{}", stderr(&full));
    let expected = records_without_time(&p.run_dir("full"));
    assert_eq!(
        expected.iter().filter(|r| r.get("pair").is_some()).count(),
        12
    );

    let mut child = p
        .command(&["resumable.rhai", "--seed", "2", "--out", "killed"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until two units are complete, then kill without warning.
    let started = Instant::now();
    loop {
        let done = std::fs::read_dir(p.dir.join("killed"))
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| std::fs::read_to_string(e.unwrap().path().join("records.jsonl")).ok())
            .map_or(0, |t| t.matches("_unit_done").count());
        if done >= 2 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the run made no progress"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = records_without_time(&p.run_dir("killed"));
    assert!(partial.len() < expected.len(), "killed before the end");

    let resumed = p.run(&["resumable.rhai", "--seed", "2", "--out", "killed"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_eq!(records_without_time(&p.run_dir("killed")), expected);
    assert!(
        stderr(&resumed).contains("12 records"),
        "{}",
        stderr(&resumed)
    );
}

#[test]
fn set_values_arrive_as_typed_constants() {
    let p = Project::new("set");
    p.write(
        "types.rhai",
        r#"print(`${type_of(n)} ${type_of(x)} ${type_of(flag)} ${type_of(name)} ${param("n", 1) + 1} ${param("absent", 7)}`);"#,
    );
    let o = p.run(&[
        "types.rhai",
        "--set",
        "n=8",
        "--set",
        "x=0.5",
        "--set",
        "flag=true",
        "--set",
        "name=pirate",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("[types.rhai] i64 f64 bool string 9 7"),
        "{}",
        stderr(&o)
    );

    let o = p.run(&["types.rhai", "--set", "nn=8"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o)
            .contains("error: --set nn: types.rhai never reads it (as a constant or with param(\"name\", …)); its parameters: n, absent"),
        "{}",
        stderr(&o)
    );
    p.write("typed.rhai", r#"let turns = param("turns", 8);"#);
    let o = p.run(&["typed.rhai", "--set", "turns=many"]);
    assert!(
        stderr(&o).contains("--set turns=many: expected an integer like the default 8"),
        "{}",
        stderr(&o)
    );
    let o = p.run(&["typed.rhai", "--set", "turns"]);
    assert!(
        stderr(&o).contains("error: --set turns: expected NAME=VALUE"),
        "{}",
        stderr(&o)
    );
}

/// A `--set` the script would ignore, or that belongs to another option, is refused before
/// anything runs; `--set seed=N` is the same run as `--seed N`.
#[test]
fn set_names_the_script_ignores_or_that_belong_to_options_are_refused() {
    let p = Project::new("set-names");
    p.write(
        "ignores.rhai",
        "// turns: only in this comment\n\
         let sampling = #{ temperature: 1.0 };\n\
         let x = param(\"x\", 0);\n\
         once(\"only\", || { record(#{ v: sampling.temperature + SEED + x }); });\n\
         print(`seed ${param(\"seed\", 0)}`);",
    );
    let refused = |args: &[&str], expected: &str| {
        let o = p.run(args);
        assert!(!o.status.success(), "{args:?} was accepted");
        assert!(stderr(&o).contains(expected), "{args:?}: {}", stderr(&o));
        assert!(!p.dir.join("out").exists(), "{args:?} wrote a run folder");
    };
    refused(
        &["ignores.rhai", "--out", "out", "--set", "temperature=0.1"],
        "--set temperature: ignores.rhai never reads it",
    );
    refused(
        &["ignores.rhai", "--out", "out", "--set", "turns=3"],
        "--set turns: ignores.rhai never reads it",
    );
    refused(
        &["ignores.rhai", "--out", "out", "--set", "SEED=5"],
        "--set SEED=5: `SEED` is set by --seed, not by --set",
    );
    refused(
        &["ignores.rhai", "--out", "out", "--set", "OUT=/etc"],
        "`OUT` is set by --out",
    );
    refused(
        &[
            "ignores.rhai",
            "--out",
            "out",
            "--set",
            "x=1",
            "--set",
            "x=2",
        ],
        "--set x is given twice (1, then 2); give each name once",
    );
    refused(
        &[
            "ignores.rhai",
            "--out",
            "out",
            "--seed",
            "2",
            "--set",
            "seed=1",
        ],
        "--set seed=1 and --seed 2 disagree; give the seed once",
    );

    let o = p.run(&["ignores.rhai", "--out", "out", "--set", "seed=3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("[ignores.rhai] seed 3"),
        "{}",
        stderr(&o)
    );
    let folder = p.run_dir("out");
    let o = p.run(&[
        "ignores.rhai",
        "--out",
        "out",
        "--seed",
        "3",
        "--set",
        "seed=3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        p.run_dir("out"),
        folder,
        "--seed 3 is the run of --set seed=3"
    );
    let records = std::fs::read_to_string(folder.join("records.jsonl")).unwrap();
    assert!(records.contains("\"v\":4.0"), "{records}");
}

/// The protocol scripts stop before any generation when their parameters could give no probe
/// answers (which used to surface only at the end, as an empty mean or a failed plot).
#[test]
fn protocol_scripts_refuse_parameters_that_give_nothing_to_measure() {
    let p = Project::new("protocol-params").with_library();
    for (script, set, expected) in [
        (
            "scripts/selfchat.rhai",
            "turns=1",
            "scripts/selfchat.rhai:11:11: --set turns=1: must be at least 2",
        ),
        (
            "scripts/attention_decay.rhai",
            "pairs=0",
            "--set pairs=0: must be at least 1",
        ),
        (
            "scripts/mitigation.rhai",
            "quiz_turn=5",
            "--set quiz_turn=5: the agent speaks on even turns",
        ),
    ] {
        let o = p.run(&[script, "--set", set, "--out", "out"]);
        assert!(!o.status.success(), "{script} --set {set} ran");
        assert!(stderr(&o).contains(expected), "{script}: {}", stderr(&o));
        assert!(!p.dir.join("out").exists(), "{script} wrote a run folder");
    }
}

/// NaN and infinities cannot be written as JSON numbers: they are stored as null, and the run
/// says so once per key rather than letting a broken score drop out of means and plots unseen.
#[test]
fn non_finite_record_values_are_stored_as_null_with_a_warning() {
    let p = Project::new("nan");
    p.write(
        "nan.rhai",
        "record(#{ x: 0.0 / 0.0, y: 1.0 });\nrecord(#{ x: 1.0 / 0.0, y: [2.0, -1.0 / 0.0] });\n",
    );
    let o = p.run(&["nan.rhai", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(
        err.matches("warning: record key `x` holds NaN or an infinity, stored as null")
            .count(),
        1,
        "{err}"
    );
    assert_eq!(err.matches("record key `y`").count(), 1, "{err}");
    let records = records_without_time(&p.run_dir("out"));
    let values: Vec<_> = records
        .iter()
        .filter(|r| r.get("x").is_some())
        .map(|r| (r["x"].clone(), r["y"].clone()))
        .collect();
    assert_eq!(
        values,
        [
            (serde_json::Value::Null, serde_json::json!(1.0)),
            (serde_json::Value::Null, serde_json::json!([2.0, null]))
        ]
    );
}

/// Ctrl-C ends a batch run at once, keeping finished units, and says how to go on.
#[test]
fn an_interrupted_batch_run_says_how_to_resume() {
    let p = Project::new("sigint");
    p.write(
        "long.rhai",
        "once(\"first\", || record(#{ done: true }));\nprint(\"started\");\nloop { }\n",
    );
    let child = p
        .command(&["long.rhai", "--out", "out"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !p.dir.join("out").exists() {
        assert!(started.elapsed() < Duration::from_secs(60), "no run folder");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "interrupted: the records of finished units are kept; run the same command again to resume"
        ),
        "{}",
        stderr(&o)
    );
    let records = std::fs::read_to_string(p.run_dir("out").join("records.jsonl")).unwrap();
    assert!(records.contains("\"done\":true"), "{records}");
}

/// `chat -n` keeps answers apart even when they span lines, and `--json` lists the same texts.
#[test]
fn the_chat_command_separates_several_answers() {
    let p = Project::new("chat-n");
    let args = [
        "chat",
        "Write two short paragraphs about the sea.",
        "-n",
        "2",
        "--max-tokens",
        "24",
        "--seed",
        "3",
        "--threads",
        "1",
    ];
    let plain = p.run(&args);
    assert!(plain.status.success(), "{}", stderr(&plain));
    let text = String::from_utf8(plain.stdout).unwrap();
    let json = p.run(&[&args[..], &["--json"]].concat());
    assert!(json.status.success(), "{}", stderr(&json));
    let replies: Vec<String> =
        serde_json::from_slice::<serde_json::Value>(&json.stdout).unwrap()["replies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_string())
            .collect();
    assert_eq!(replies.len(), 2);
    assert_eq!(
        text,
        format!(
            "--- answer 1 ---\n{}\n--- answer 2 ---\n{}\n",
            replies[0], replies[1]
        )
    );
}

/// A run folder's units belong to the script version that wrote them: an edited script does
/// not resume into them, and they stay as they were.
#[test]
fn an_edited_script_does_not_resume_the_old_versions_units() {
    let p = Project::new("edited");
    p.write("edit.rhai", r#"once("a", || { record(#{x: 1}); });"#);
    let o = p.run(&["edit.rhai", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let records = p.run_dir("out").join("records.jsonl");
    let before = std::fs::read_to_string(&records).unwrap();

    p.write(
        "edit.rhai",
        r#"once("a", || { record(#{x: 2}); }); once("b", || { record(#{x: 3}); });"#,
    );
    let o = p.run(&["edit.rhai", "--out", "out"]);
    assert!(
        !o.status.success(),
        "the edited script resumed the old units"
    );
    assert!(
        stderr(&o).contains("the script was edited since its units were written: sha256 "),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("use another --out folder, restore what changed, or delete the folder"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&records).unwrap(), before);

    let o = p.run(&["edit.rhai", "--out", "fresh"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let fresh = std::fs::read_to_string(p.run_dir("fresh").join("records.jsonl")).unwrap();
    assert!(
        fresh.contains("\"x\":2") && fresh.contains("\"x\":3"),
        "{fresh}"
    );
}

#[test]
fn script_errors_name_file_line_and_column() {
    let p = Project::new("errors");
    let cases = [
        (
            "syntax.rhai",
            "let x = 1;\nlet y = ;\n",
            "syntax.rhai:2:9: ",
        ),
        (
            "option.rhai",
            "let m = model();\n\nm.chat([#{role: \"user\", content: \"hi\"}], #{temprature: 1.0});\n",
            "option.rhai:3:3: unknown option `temprature` (valid options: temperature, top_p, top_k, max_tokens, seed, stop, attention, split_softmax, layers, cfg, activations, steer)",
        ),
        (
            "message.rhai",
            "let m = model();\nm.chat([#{role: \"user\"}]);\n",
            "message.rhai:2:3: message 0 has no `content`",
        ),
        (
            "role.rhai",
            "let m = model();\nm.chat([#{role: \"system\", content: \"Be kind.\"}, #{role: \"usr\", content: \"hi\"}]);\n",
            "role.rhai:2:3: message 1: role `usr` is not one of system, user, assistant",
        ),
        ("variable.rhai", "let a = 1;\nprint(b);\n", "message"),
        (
            "nested.rhai",
            "fn f() { rng(1).int(5, 5) }\nf();\n",
            "nested.rhai:2:1: rng.int(5, 5): the range is empty (hi is excluded) (in call to `f`)",
        ),
        (
            "units.rhai",
            "once(1, || once(2, || 0));\n",
            "units.rhai:1:1: once(\"2\") inside once(\"1\"): units cannot be nested",
        ),
        (
            "empty.rhai",
            "let scores = [];\nprint(`mean ${mean(scores)}`);\n",
            "empty.rhai:2:15: mean: no finite numbers to average (got 0 values)",
        ),
        (
            "module.rhai",
            "import \"scripts/lib/absent\" as a;\n",
            "module.rhai:1:8: module `scripts/lib/absent` not found: imports are read from the project folder (",
        ),
        (
            "closure.rhai",
            "once(\"u\", || {\n    let a = [];\n    a[3]\n});\n",
            "closure.rhai:1:1: Array index 3 out of bounds: array is empty (in a closure)",
        ),
        (
            "repeated.rhai",
            "for t in 0..2 { once(\"pair\", || record(#{t: t})); }\n",
            "repeated.rhai:1:17: once(\"pair\") is called a second time in this run; each unit needs its own key (is a loop variable missing from it?)",
        ),
    ];
    for (file, source, expected) in cases {
        p.write(file, source);
        let o = p.run(&[file]);
        assert!(!o.status.success(), "{file} should fail");
        let err = stderr(&o);
        let expected = if expected == "message" {
            "variable.rhai:2:7: Variable not found: b"
        } else {
            expected
        };
        assert!(err.contains(&format!("error: {expected}")), "{file}: {err}");
    }
}

#[test]
fn the_sandbox_refuses_escapes() {
    let p = Project::new("sandbox");
    let cases = [
        (
            "plot(#{x: \"a\", y: \"b\", data: [#{a: 1, b: 2}]}, \"../outside.png\");",
            "`../outside.png` is refused: paths may not contain `..`",
        ),
        (
            "save_csv(\"/tmp/stolen.csv\");",
            "`/tmp/stolen.csv` is refused: scripts may only write files inside",
        ),
        (
            "import \"../../etc/evil\" as e;",
            "`../../etc/evil.rhai` is refused: paths may not contain `..`",
        ),
        (
            "import \"/etc/passwd\" as e;",
            "`/etc/passwd.rhai` is refused: scripts may only read files inside",
        ),
        (
            "model(\"/etc/hostname\");",
            "`/etc/hostname` is refused: scripts may only read files inside",
        ),
        (
            "plot_heatmap([[1.0]], \"/root/x.png\");",
            "`/root/x.png` is refused",
        ),
        ("system(\"ls\");", "Function not found: system"),
        ("exec(\"ls\");", "Function not found: exec"),
        ("env(\"HOME\");", "Function not found: env"),
        ("open(\"/etc/passwd\");", "Function not found: open"),
    ];
    for (source, expected) in cases {
        p.write("escape.rhai", source);
        let o = p.run(&["escape.rhai"]);
        assert!(!o.status.success(), "{source} should fail");
        assert!(stderr(&o).contains(expected), "{source}: {}", stderr(&o));
    }
    assert!(!Path::new("/tmp/stolen.csv").exists());
    // An import inside the project works.
    p.write("helpers.rhai", "fn double(x) { x * 2 }");
    p.write(
        "importer.rhai",
        "import \"helpers\" as h;\nprint(h::double(21));",
    );
    let o = p.run(&["importer.rhai"]);
    assert!(stderr(&o).contains("[importer.rhai] 42"), "{}", stderr(&o));
    // Operation limits stop runaway scripts when asked.
    p.write("forever.rhai", "loop { }");
    let o = p.run(&["forever.rhai", "--max-ops", "10000"]);
    assert!(
        stderr(&o).contains("forever.rhai:1:6: Too many operations"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn plot_command_draws_a_results_file_and_names_bad_lines() {
    let p = Project::new("plotcmd");
    let mut lines = String::new();
    for turn in [2, 4, 6] {
        for (pair, score) in [(0, 0.9), (1, 0.7), (2, 0.5)] {
            lines.push_str(&format!(
                "{{\"turn\": {turn}, \"pair\": {pair}, \"score\": {}}}\n",
                score - turn as f64 * 0.05
            ));
        }
    }
    p.write("results.jsonl", &lines);
    let o = p.run(&["plot", "results.jsonl", "-o", "out.png"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(is_png(&p.dir.join("out.png")));
    assert!(
        stderr(&o).contains("1 line(s), 3 point(s) from 9 record(s)\n"),
        "{}",
        stderr(&o)
    );
    // A bootstrap band: seeded, so the same picture twice; another seed moves the band (30
    // scores a turn, so that resamples have room to differ).
    let mut many = String::new();
    for turn in [2, 4, 6] {
        for pair in 0..30 {
            let score = ((pair * 37 + turn * 11) % 100) as f64 / 100.0;
            many.push_str(&format!(
                "{{\"turn\": {turn}, \"pair\": {pair}, \"score\": {score}}}\n"
            ));
        }
    }
    p.write("many.jsonl", &many);
    let bootstrap = |seed: &str, out: &str| {
        let args = [
            "plot",
            "many.jsonl",
            "-o",
            out,
            "--band-method",
            "bootstrap",
            "--resamples",
            "200",
            "--seed",
            seed,
        ];
        let o = p.run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::read(p.dir.join(out)).unwrap()
    };
    let first = bootstrap("3", "boot-a.png");
    assert!(
        first == bootstrap("3", "boot-b.png"),
        "same seed, another picture"
    );
    assert!(
        first != bootstrap("4", "boot-c.png"),
        "another seed, the same picture"
    );
    let o = p.run(&["plot", "many.jsonl", "-o", "t.png"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        first != std::fs::read(p.dir.join("t.png")).unwrap(),
        "the bootstrap band drew the t band"
    );
    // Options that do not fit together are refused before anything is drawn.
    for (args, expected) in [
        (
            vec!["--resamples", "0", "--band-method", "bootstrap"],
            "--resamples must be at least 1",
        ),
        (
            vec!["--seed", "1"],
            "--resamples and --seed apply to --band-method bootstrap only",
        ),
        (vec!["--band-method", "normal"], "invalid value 'normal'"),
    ] {
        let mut all = vec!["plot", "results.jsonl", "-o", "refused.png"];
        all.extend(args);
        let o = p.run(&all);
        assert!(!o.status.success());
        assert!(stderr(&o).contains(expected), "{}", stderr(&o));
        assert!(!p.dir.join("refused.png").exists());
    }
    p.write(
        "bad.jsonl",
        "{\"turn\": 2, \"score\": 1}\n{\"turn\": oops}\n",
    );
    let o = p.run(&["plot", "bad.jsonl"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("bad.jsonl:2"), "{}", stderr(&o));
}

/// The paper's benchmark, shortened: every probe answer is recorded with both scores, and the
/// stability plot is drawn.
#[test]
fn the_selfchat_benchmark_records_probes_and_draws_the_plot() {
    // The script reads the persona library from the project folder.
    let p = Project::new("selfchat").with_library();
    let o = p.run(&[
        "scripts/selfchat.rhai",
        "--set",
        "turns=4",
        "--set",
        "runs=2",
        "--set",
        "max_tokens=32",
        "--set",
        "pairs=2",
        "--set",
        "seed=3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = p.run_dir("selfchat");
    assert!(is_png(&dir.join("stability.png")));
    let records = records_without_time(&dir);
    let kind = |k: &str| {
        records
            .iter()
            .filter(|r| r["kind"] == k)
            .collect::<Vec<_>>()
    };
    assert_eq!(kind("turn").len(), 2 * 3, "two pairs, turns 2 to 4");
    let probes = kind("probe");
    assert_eq!(
        probes.len(),
        2 * 2 * 2,
        "two pairs × agent turns 2 and 4 × two runs"
    );
    for probe in &probes {
        for key in ["score", "user_score"] {
            let v = probe[key].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{key} = {v}");
        }
        assert_ne!(probe["agent"], probe["user"]);
        assert!(!probe["answer"].as_str().unwrap().is_empty());
    }
    assert_ne!(
        probes[0]["agent"], probes[4]["agent"],
        "the two pairs differ"
    );

    // Fixing the personas and the topic.
    let o = p.run(&[
        "scripts/selfchat.rhai",
        "--set",
        "turns=2",
        "--set",
        "runs=1",
        "--set",
        "max_tokens=16",
        "--set",
        "agent=pirate",
        "--set",
        "user=french",
        "--set",
        "topic=Is tea better than coffee?",
        "--out",
        "fixed",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let fixed = records_without_time(&p.run_dir("fixed"));
    let probe = fixed.iter().find(|r| r["kind"] == "probe").unwrap();
    assert_eq!(
        (probe["agent"].as_str(), probe["user"].as_str()),
        (Some("pirate"), Some("french"))
    );
    assert_eq!(probe["topic"], "Is tea better than coffee?");
    let o = p.run(&[
        "scripts/selfchat.rhai",
        "--set",
        "agent=pirat",
        "--out",
        "typo",
    ]);
    assert!(
        stderr(&o).contains("unknown persona `pirat`"),
        "{}",
        stderr(&o)
    );
}

/// The paper's Figure 4, shortened: π read from the generating passes falls from round to round,
/// and the three pictures are drawn.
#[test]
fn attention_decay_shows_pi_falling_between_rounds() {
    let p = Project::new("decay").with_library();
    let o = p.run(&[
        "scripts/attention_decay.rhai",
        "--set",
        "turns=6",
        "--set",
        "max_tokens=40",
        "--set",
        "seed=2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = p.run_dir("selfchat");
    for picture in [
        "attention_decay.png",
        "attention_decay_L3H2.png",
        "attention_heatmap.png",
    ] {
        assert!(is_png(&dir.join(picture)), "{picture}");
    }
    let records = records_without_time(&dir);
    let round_mean = |round: u64| {
        let rec = records.iter().find(|r| r["round"] == round).unwrap();
        let pi: Vec<f64> = rec["pi"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let context = rec["context"].as_array().unwrap();
        assert_eq!(pi.len(), context.len(), "one π per generated token");
        assert!(pi.iter().all(|v| (0.0..=1.0).contains(v)));
        pi.iter().sum::<f64>() / pi.len() as f64
    };
    let means: Vec<f64> = (1..=3).map(round_mean).collect();
    assert!(
        means[0] > means[1] && means[1] > means[2],
        "per-round mean π {means:?}"
    );
    assert!(stderr(&o).contains("round 3: mean π"), "{}", stderr(&o));
}

/// The paper's Figures 5 and 6 in quick mode: every setting records probe and quiz answers,
/// both figures are drawn, and a second run resumes without generating anything.
#[test]
fn mitigation_quick_mode_draws_both_figures() {
    let p = Project::new("mitigation").with_library();
    let args = [
        "scripts/mitigation.rhai",
        "--set",
        "quick=true",
        "--set",
        "turns=4",
        "--set",
        "max_tokens=24",
    ];
    let o = p.run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = p.run_dir("selfchat");
    assert!(is_png(&dir.join("mitigation_tradeoff.png")));
    assert!(is_png(&dir.join("mitigation_turns.png")));
    let records = records_without_time(&dir);
    let settings = [
        "none 0.0",
        "split-softmax 0.5",
        "split-softmax 0.2",
        "cfg 1.5",
        "cfg 3.0",
        "spr 0.5",
        "spr 1.0",
    ];
    for setting in settings {
        let of = |kind: &str| {
            records
                .iter()
                .filter(|r| r["kind"] == kind && r["setting"] == setting)
                .count()
        };
        assert_eq!(
            of("probe"),
            2 * 2,
            "{setting}: agent turns 2 and 4 × two runs"
        );
        assert_eq!(of("quiz"), 12, "{setting}: the whole quiz at turn 4");
    }
    // The interventions reach the records' sampling options.
    let split = records
        .iter()
        .find(|r| r["setting"] == "split-softmax 0.2")
        .unwrap();
    assert_eq!(
        split["_meta"]["sampling"]["intervention"]["split_softmax"],
        0.2
    );
    let again = p.run(&args);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        records_without_time(&dir).len(),
        records.len(),
        "resumed, nothing redone"
    );
}

/// System-prompt repetition: p = 0 adds nothing, p = 1 repeats the prompt before every user
/// message, and the draws depend only on the seed and the message.
#[test]
fn system_prompt_repetition_is_seeded_and_visible_to_the_model_only() {
    let p = Project::new("spr").with_library();
    p.write(
        "spr.rhai",
        r#"import "scripts/lib/spr" as spr;
let view = [#{ role: "system", content: "Be a cat." }];
for i in 0..20 { view.push(#{ role: if i % 2 == 0 { "user" } else { "assistant" }, content: `m${i}` }); }
let count = |v| v.filter(|m| m.role == "system").len() - 1;
let half = spr::repeat_system(view, 0.5, 7);
let longer = view + [#{ role: "user", content: "later" }];
let half_later = spr::repeat_system(longer, 0.5, 7);
record(#{ none: count.call(spr::repeat_system(view, 0.0, 7)), all: count.call(spr::repeat_system(view, 1.0, 7)),
          half: count.call(half), same: half == spr::repeat_system(view, 0.5, 7),
          other_seed: half == spr::repeat_system(view, 0.5, 8),
          prefix_kept: half_later.extract(0, half.len()) == half, original: view.len() });
"#,
    );
    let o = p.run(&["spr.rhai"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rec = &records_without_time(&p.run_dir("selfchat"))[0];
    assert_eq!(rec["none"], 0);
    assert_eq!(
        rec["all"], 10,
        "one copy before each of the 10 user messages"
    );
    let half = rec["half"].as_i64().unwrap();
    assert!((1..10).contains(&half), "p = 0.5 repeated {half} of 10");
    assert_eq!(rec["same"], true);
    assert_eq!(rec["other_seed"], false);
    assert_eq!(
        rec["prefix_kept"], true,
        "earlier messages keep their draw on later turns"
    );
    assert_eq!(
        rec["original"], 21,
        "the conversation itself is not changed"
    );
}

/// Script-level intervention options: the read-out's shape, and bad values named.
#[test]
fn intervention_options_in_scripts() {
    let p = Project::new("interventions");
    p.write(
        "ok.rhai",
        r#"let m = model();
let msgs = [#{ role: "system", content: "You are a pirate." }, #{ role: "user", content: "Hello!" }];
let r = m.chat(msgs, #{ max_tokens: 8, attention: true, seed: 1 });
let a = r.attention;
let plain = m.chat(msgs, #{ max_tokens: 8, seed: 1 });
let n = m.chat_n(msgs, 2, #{ max_tokens: 8, attention: true, seed: 1 });
record(#{ same_text: r.text == plain, tokens: a.tokens, layers: a.layers, heads: a.heads,
          mean_len: a.mean().len(), series_len: a.series(29, 8).len(), at_rows: a.at(-1).len(),
          heat_rows: a.layer_head_mean().len(), n_first_same: n[0].text == plain, system_tokens: a.system_tokens });
"#,
    );
    let o = p.run(&["ok.rhai"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rec = &records_without_time(&p.run_dir("selfchat"))[0];
    assert_eq!(rec["same_text"], true);
    assert_eq!(rec["n_first_same"], true);
    let tokens = rec["tokens"].as_i64().unwrap();
    assert!(tokens >= 1);
    assert_eq!(
        (rec["layers"].as_i64(), rec["heads"].as_i64()),
        (Some(30), Some(9))
    );
    assert_eq!(rec["mean_len"], tokens);
    assert_eq!(rec["series_len"], tokens);
    assert_eq!(rec["at_rows"], 30);
    assert_eq!(rec["heat_rows"], 30);
    assert!(rec["system_tokens"].as_i64().unwrap() > 0);

    let cases = [
        (
            "#{ attention: \"yes\" }",
            "option `attention` must be true, false or \"full\", not string yes",
        ),
        (
            "#{ split_softmax: 2.0 }",
            "split_softmax must be an exponent k in [0, 1]",
        ),
        (
            "#{ split_softmax: 0.5, layers: [3] }",
            "option `layers` must be [first, last]",
        ),
        (
            "#{ split_softmax: 0.5, layers: [0, 40] }",
            "the model has layers 0 to 29, got last layer 40",
        ),
        ("#{ cfg: 0.5 }", "cfg must be a guidance strength α ≥ 1"),
        ("#{ cfg: \"high\" }", "option `cfg` must be a number"),
    ];
    for (i, (opts, expected)) in cases.iter().enumerate() {
        let name = format!("bad{i}.rhai");
        p.write(
            &name,
            &format!(
                "let m = model();\nm.chat([#{{ role: \"user\", content: \"hi\" }}], {opts});\n"
            ),
        );
        let o = p.run(&[&name]);
        assert!(!o.status.success());
        assert!(
            stderr(&o).contains(&format!("{name}:2:3: ")),
            "{}",
            stderr(&o)
        );
        assert!(stderr(&o).contains(expected), "{opts}: {}", stderr(&o));
    }
    p.write(
        "weights.rhai",
        "let m = model();\nlet r = m.chat([#{ role: \"user\", content: \"hi\" }], #{ max_tokens: 2, attention: true });\nr.attention.weights(0, 0, 0);\n",
    );
    let o = p.run(&["weights.rhai"]);
    assert!(stderr(&o).contains("weights.rhai:3:13: "), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("attention.weights needs the call option attention: \"full\""),
        "{}",
        stderr(&o)
    );
    // Indices out of range name the range.
    for (call, expected) in [
        (
            "a.series(30, 0)",
            "attention: layer 30, head 0 is out of range (layers 0 to 29, heads 0 to 8)",
        ),
        (
            "a.layer_mean(-1)",
            "attention: layer -1, head 0 is out of range",
        ),
        (
            "a.at(1000)",
            "attention: token 1000 is out of range (the answer has",
        ),
    ] {
        p.write(
            "index.rhai",
            &format!(
                "let m = model();\nlet a = m.chat([#{{ role: \"user\", content: \"hi\" }}], #{{ max_tokens: 2, attention: true }}).attention;\n{call};\n"
            ),
        );
        let o = p.run(&["index.rhai"]);
        assert!(!o.status.success(), "{call}");
        assert!(stderr(&o).contains(expected), "{call}: {}", stderr(&o));
    }
}

// ---- a closed standard output (issue 25) -----------------------------------------------------

/// Runs `cmd` with its standard output a pipe whose reader is already gone (as `| head` leaves
/// it), feeding `input` on standard input: the command must end with status 0, without a panic
/// or a "Broken pipe" message.
fn assert_quiet_with_stdout_closed(mut cmd: Command, input: &str) -> Output {
    use std::io::Write;
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{:?}: {err}", out.status);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe") && !err.contains("error:"),
        "{err}"
    );
    out
}

#[test]
fn help_ends_quietly_when_stdout_is_closed() {
    let p = Project::new("closed-help");
    assert_quiet_with_stdout_closed(p.command(&["--help"]), "");
}

#[test]
fn personas_ends_quietly_when_stdout_is_closed() {
    let p = Project::new("closed-personas").with_library();
    assert_quiet_with_stdout_closed(p.command(&["personas"]), "");
    assert_quiet_with_stdout_closed(p.command(&["personas", "--json"]), "");
}

#[test]
fn chat_ends_quietly_when_stdout_is_closed() {
    let p = Project::new("closed-chat");
    let args = [
        "chat",
        "Write a long story",
        "-n",
        "3",
        "--max-tokens",
        "8",
        "--threads",
        "1",
    ];
    assert_quiet_with_stdout_closed(p.command(&args), "");
    assert_quiet_with_stdout_closed(p.command(&[&args[..], &["--json"]].concat()), "");
}

#[test]
fn plot_ends_quietly_when_stdout_is_closed() {
    let p = Project::new("closed-plot");
    p.write(
        "results.jsonl",
        "{\"turn\": 2, \"score\": 1}\n{\"turn\": 4, \"score\": 0.5}\n",
    );
    assert_quiet_with_stdout_closed(p.command(&["plot", "results.jsonl", "-o", "out.png"]), "");
    assert!(is_png(&p.dir.join("out.png")));
}

/// `bench` prints its figures through the same path: the first line meets the closed pipe.
#[test]
fn bench_ends_quietly_when_stdout_is_closed() {
    let p = Project::new("closed-bench");
    let args = [
        "bench",
        "interventions",
        "--repetitions",
        "1",
        "--decode-tokens",
        "4",
        "--prompt-tokens",
        "64",
    ];
    assert_quiet_with_stdout_closed(p.command(&args), "");
}

/// A script's `print` goes to stderr, so a batch run must not mind a closed stdout; the REPL
/// prints values to stdout, and stops quietly when it is closed.
#[test]
fn scripts_that_print_end_quietly_when_stdout_is_closed() {
    let p = Project::new("closed-script");
    p.write(
        "hello.rhai",
        "print(\"hello from the script\");\nlet x = 1 + 1;\n",
    );
    let out = assert_quiet_with_stdout_closed(p.command(&["hello.rhai"]), "");
    assert!(
        stderr(&out).contains("[hello.rhai] hello from the script"),
        "{}",
        stderr(&out)
    );
    assert_quiet_with_stdout_closed(p.command(&[]), "print(\"hi\")\n1 + 1\n\"x\"\n");
}

/// The metadata map of a safetensors file (its JSON header's `__metadata__`).
fn safetensors_metadata(path: &Path) -> serde_json::Map<String, serde_json::Value> {
    let bytes = std::fs::read(path).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    header["__metadata__"].as_object().unwrap().clone()
}

/// Lu et al.'s persona space in quick mode: role and assistant answers with their activations,
/// an axis that separates held-out assistant answers from role answers, the labelled scatter
/// of the roles on PC1/PC2, and a vectors file made for this model.
#[test]
fn persona_space_quick_mode_finds_an_assistant_axis() {
    let p = Project::new("persona-space").with_library();
    let o = p.run(&["scripts/persona_space.rhai", "--set", "quick=true"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = p.run_dir("selfchat");
    assert!(is_png(&dir.join("persona_space.png")));
    let records = records_without_time(&dir);
    let answers: Vec<_> = records.iter().filter(|r| r["kind"] == "answer").collect();
    assert!(answers.len() >= 40, "{} answers", answers.len());
    for a in &answers {
        for layer in ["L15", "L18", "L21"] {
            assert_eq!(a[layer].as_array().unwrap().len(), 576, "{layer}");
        }
    }
    let summary = records.iter().find(|r| r["kind"] == "summary").unwrap();
    let auroc = summary["auroc"].as_f64().unwrap();
    assert!(auroc >= 0.8, "held-out AUROC {auroc}");
    assert!(
        stderr(&o).contains("held-out AUROC of the axis"),
        "{}",
        stderr(&o)
    );
    let meta = safetensors_metadata(&dir.join("assistant_axis.safetensors"));
    assert_eq!(meta["hidden_size"], "576");
    assert_eq!(meta["read_layer"], "18");
    for key in ["p25_L15", "p25_L18", "p25_L21"] {
        assert!(meta[key].as_str().unwrap().parse::<f64>().is_ok(), "{key}");
    }
}

/// Drift along the axis in quick mode: every agent turn records its projection and π, probes
/// record scores, in both settings; capping holds each capped turn's projection at or above
/// the assistant's 25th percentile at the read-out layer (a floor: a cap along −axis).
#[test]
fn axis_drift_quick_mode_records_both_views_and_capping_holds_the_floor() {
    let p = Project::new("axis-drift").with_library();
    let o = p.run(&["scripts/axis_drift.rhai", "--set", "quick=true"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = p.run_dir("selfchat");
    assert!(is_png(&dir.join("axis_drift.png")));
    assert!(is_png(&dir.join("axis_drift_stability.png")));
    let records = records_without_time(&dir);
    let meta = safetensors_metadata(&p.dir.join("personas/smollm2-assistant-axis.safetensors"));
    let floor: f64 = meta["p25_L18"].as_str().unwrap().parse().unwrap();
    for setting in ["plain", "capped"] {
        let turns: Vec<_> = records
            .iter()
            .filter(|r| r["kind"] == "agent_turn" && r["setting"] == setting)
            .collect();
        assert_eq!(turns.len(), 2, "{setting}: agent turns 2 and 4");
        for t in &turns {
            let pi = t["pi"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&pi), "π = {pi}");
            if setting == "capped" {
                let projection = t["projection"].as_f64().unwrap();
                assert!(projection >= floor - 1e-3, "{projection} < {floor}");
            }
        }
        let probes = records
            .iter()
            .filter(|r| r["kind"] == "probe" && r["setting"] == setting)
            .count();
        assert_eq!(probes, 2, "{setting}: one probe answer per agent turn");
    }
}
