//! Hostile scripts, through the real binary: memory bombs, deep recursion, huge literals, deep
//! nesting, runaway loops, and path escapes through every function that takes a path (symbolic
//! links and imports of imports included). Each must end with its own message, naming the
//! place and (for limits) the limit's option and value; none may abort the process, and the
//! memory bombs must end within seconds in well under 1 GB.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// The binary under test: `DRIFT_SCRIPT_BIN` if set (a copy of this branch's build, where the
/// target folder is shared with other branches' builds), else Cargo's. It must know the limit
/// options: an older build would let the bombs below take the machine's memory. As a safety
/// net, each child gets 4 GiB of address space at most (a hostile script needs far less).
fn command() -> Command {
    static CHECKED: std::sync::Once = std::sync::Once::new();
    let bin = std::env::var_os("DRIFT_SCRIPT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_drift-script")));
    CHECKED.call_once(|| {
        let help = Command::new(&bin).arg("--help").output().unwrap();
        let help = String::from_utf8_lossy(&help.stdout);
        assert!(
            help.contains("--max-string-size") && help.contains("--max-memory"),
            "{} does not know the limit options: not this branch's build?",
            bin.display()
        );
    });
    let mut cmd = Command::new(bin);
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe; it only lowers this child's own limit.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 4 << 30,
                rlim_max: 4 << 30,
            };
            libc::setrlimit(libc::RLIMIT_AS, &limit);
            Ok(())
        });
    }
    cmd
}

/// A throwaway project folder; `outside` is a sibling folder scripts must not reach.
struct Project {
    root: PathBuf,
    dir: PathBuf,
    outside: PathBuf,
}

impl Project {
    fn new(name: &str) -> Self {
        let root = std::env::temp_dir().join(format!(
            "drift-script-hostile-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("project");
        let outside = root.join("outside");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        Project { root, dir, outside }
    }

    fn write(&self, name: &str, text: &str) -> &Self {
        let path = self.dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    /// Runs the binary; its stderr, exit status, wall time and peak resident memory (the
    /// child's own, as the benchmarks measure it: `bench::measure::run_measured`).
    fn run(&self, args: &[&str]) -> Ran {
        let started = Instant::now();
        let mut command = command();
        command.args(args).current_dir(&self.dir);
        let measured = drift_script::bench::measure::run_measured(command).unwrap();
        Ran {
            stderr: String::from_utf8_lossy(&measured.stderr).into_owned(),
            exit: measured.status.code(),
            wall: started.elapsed(),
            // MiB, as the 1024 bar below counts them; run_measured gives MB of 10^6 bytes.
            peak_mb: (measured.peak_rss_mb * 1e6 / (1 << 20) as f64) as u64,
        }
    }

    /// Runs `source` as `name`, which must fail with exit status 1 (an error, not a crash) and
    /// a message containing `expected`.
    fn refuses(&self, name: &str, source: &str, args: &[&str], expected: &str) -> Ran {
        self.write(name, source);
        let mut all = vec![name];
        all.extend_from_slice(args);
        let ran = self.run(&all);
        assert_eq!(ran.exit, Some(1), "{name} {args:?}: {}", ran.stderr);
        assert!(
            ran.stderr.contains(expected),
            "{name} {args:?}: expected `{expected}` in:\n{}",
            ran.stderr
        );
        assert!(
            !ran.stderr.contains("panicked") && !ran.stderr.contains("backtrace"),
            "{}",
            ran.stderr
        );
        ran
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

struct Ran {
    stderr: String,
    /// Exit status; `None` when killed by a signal (an abort or a stack overflow).
    exit: Option<i32>,
    wall: Duration,
    peak_mb: u64,
}

impl Ran {
    /// The bar for memory bombs: a limit error within 5 s and under 1 GB resident.
    fn within_bar(&self, what: &str) {
        eprintln!(
            "{what}: {:.2} s, {} MB peak resident",
            self.wall.as_secs_f64(),
            self.peak_mb
        );
        assert!(
            self.wall < Duration::from_secs(5),
            "{what}: {:?}",
            self.wall
        );
        assert!(self.peak_mb < 1024, "{what}: {} MB", self.peak_mb);
    }
}

#[test]
fn memory_bombs_stop_at_a_limit_naming_the_line() {
    let p = Project::new("bombs");
    p.refuses(
        "double.rhai",
        "let s = \"x\";\nloop {\n    s += s;\n}\n",
        &[],
        "double.rhai:3:7: string longer than the limit of 67108864 bytes (--max-string-size)",
    )
    .within_bar("string doubled in a loop");
    p.refuses(
        "self_push.rhai",
        "let a = [1];\nloop {\n    a.push(a);\n}\n",
        &[],
        "self_push.rhai:3:7: array larger than the limit of 4194304 elements, nested arrays \
         counted (--max-array-size)",
    )
    .within_bar("array pushed into itself");
    p.refuses(
        "map_growth.rhai",
        "let m = #{a: 1};\nloop {\n    m.b = m;\n    m.c = m;\n}\n",
        &[],
        "map larger than the limit of 1048576 entries, nested maps counted (--max-map-size)",
    )
    .within_bar("map stored into itself");
    p.refuses(
        "pad.rhai",
        "let s = \"x\";\nloop {\n    s.pad(s.len() * 2, \"y\");\n}\n",
        &[],
        "pad.rhai:3:7: string longer than the limit of 67108864 bytes (--max-string-size)",
    )
    .within_bar("string padded in a loop");
    p.refuses(
        "plus.rhai",
        "let s = \"\";\nlet chunk = \"0123456789abcdef\";\nloop {\n    s = s + chunk;\n}\n",
        &["--max-string-size", "100000"],
        "plus.rhai:4:11: string longer than the limit of 100000 bytes (--max-string-size)",
    );
    // Strings inside an array count against the string limit together.
    p.refuses(
        "many.rhai",
        "let parts = [];\nlet s = \"x\";\ns.pad(1000, \"y\");\nloop {\n    parts.push(s);\n}\n",
        &["--max-string-size", "100000"],
        "many.rhai:5:11: string longer than the limit of 100000 bytes (--max-string-size)",
    );
    // The limits are settable: a smaller one stops the same bomb sooner.
    p.refuses(
        "double.rhai",
        "let s = \"x\";\nloop {\n    s += s;\n}\n",
        &["--max-string-size", "1000"],
        "double.rhai:3:7: string longer than the limit of 1000 bytes (--max-string-size)",
    );
}

#[test]
fn the_memory_budget_stops_what_the_size_limits_do_not() {
    let p = Project::new("memory");
    // With the string limit off, the process's memory is the limit.
    p.refuses(
        "double.rhai",
        "let s = \"x\";\nloop {\n    s += s;\n}\n",
        &["--max-string-size", "0", "--max-memory", "300"],
        "over the limit of 300 MB (--max-memory)",
    )
    .within_bar("string doubled, string limit off");
    // Vectors hold their numbers outside Rhai's values, where no size limit sees them.
    let ran = p.refuses(
        "vectors.rhai",
        "let big = [];\nbig.pad(1000000, 0.5);\nlet v = vector(big);\nlet kept = [];\n\
         loop {\n    kept.push(v * 2.0);\n}\n",
        &["--max-memory", "400"],
        "over the limit of 400 MB (--max-memory)",
    );
    ran.within_bar("vectors kept in an array");
    assert!(ran.stderr.contains("vectors.rhai:6:"), "{}", ran.stderr);
}

#[test]
fn deep_recursion_and_nesting_end_in_limit_errors() {
    let p = Project::new("deep");
    let recursion = "fn f(n) {\n    f(n + 1)\n}\nf(0);\n";
    p.refuses(
        "recursion.rhai",
        recursion,
        &[],
        "recursion.rhai:4:1: functions called deeper than the limit of 64 calls (--max-call-depth)",
    );
    // The deepest limit allowed still ends in an error, not a stack overflow.
    p.refuses(
        "recursion.rhai",
        recursion,
        &["--max-call-depth", "10000"],
        "functions called deeper than the limit of 10000 calls (--max-call-depth)",
    );
    // Each level also nests expressions: the stack holds both.
    let nested_call = format!(
        "fn f(n) {{\n    {}f(n + 1){}\n}}\nf(0);\n",
        "(".repeat(25),
        " + 1)".repeat(25)
    );
    p.refuses(
        "nested_call.rhai",
        &nested_call,
        &["--max-call-depth", "10000", "--max-expr-depth", "10000"],
        "functions called deeper than the limit of 10000 calls (--max-call-depth)",
    );
    let too_deep = |n: usize| format!("let x = {}1{};\n", "(".repeat(n), " + 1)".repeat(n));
    p.refuses("parens.rhai", &too_deep(100), &[], "parens.rhai:1:");
    p.refuses(
        "parens.rhai",
        &too_deep(100),
        &[],
        "expression nested deeper than the limit of 64 levels (--max-expr-depth)",
    );
    p.refuses(
        "parens.rhai",
        &too_deep(100_000),
        &["--max-expr-depth", "10000"],
        "expression nested deeper than the limit of 10000 levels (--max-expr-depth)",
    );
    let blocks = format!("{}let x = 1;{}\n", "{ ".repeat(200), " }".repeat(200));
    p.refuses(
        "blocks.rhai",
        &blocks,
        &[],
        "expression nested deeper than the limit of 64 levels (--max-expr-depth)",
    );
    let arrays = format!("let x = {}1{};\n", "[".repeat(200), "]".repeat(200));
    p.refuses(
        "arrays.rhai",
        &arrays,
        &[],
        "expression nested deeper than the limit of 64 levels (--max-expr-depth)",
    );
    // Out-of-range values are refused before anything runs.
    p.refuses(
        "recursion.rhai",
        recursion,
        &["--max-call-depth", "1000000"],
        "--max-call-depth 1000000: expected 1 to 10000",
    );
}

#[test]
fn huge_literals_are_refused_when_parsed() {
    let p = Project::new("literals");
    let string = format!("let s = \"{}\";\nprint(s.len());\n", "x".repeat(5000));
    p.refuses(
        "string.rhai",
        &string,
        &["--max-string-size", "1000"],
        "string.rhai:1:9: string literal longer than the limit of 1000 bytes (--max-string-size)",
    );
    let items: Vec<String> = (0..5000).map(|i| i.to_string()).collect();
    let array = format!("let a = [{}];\n", items.join(", "));
    p.refuses(
        "array.rhai",
        &array,
        &["--max-array-size", "1000"],
        "array literal larger than the limit of 1000 elements, nested arrays counted \
         (--max-array-size)",
    );
    let entries: Vec<String> = (0..500).map(|i| format!("k{i}: {i}")).collect();
    let map = format!("let m = #{{{}}};\n", entries.join(", "));
    p.refuses(
        "map.rhai",
        &map,
        &["--max-map-size", "100"],
        "map literal larger than the limit of 100 entries, nested maps counted (--max-map-size)",
    );
    // A literal the default limits allow runs.
    p.write(
        "fine.rhai",
        &format!("let s = \"{}\";\nprint(s.len());\n", "x".repeat(100_000)),
    );
    let ran = p.run(&["fine.rhai"]);
    assert_eq!(ran.exit, Some(0), "{}", ran.stderr);
    assert!(ran.stderr.contains("[fine.rhai] 100000"), "{}", ran.stderr);
}

#[test]
fn the_operations_budget_counts_closures_and_cannot_be_caught() {
    let p = Project::new("ops");
    p.refuses(
        "forever.rhai",
        "loop { }\n",
        &["--max-ops", "100000"],
        "forever.rhai:1:6: Too many operations: more than the limit of 100000 (--max-ops)",
    );
    // Rhai's own count restarts in each closure a native function calls; ours does not.
    p.refuses(
        "closures.rhai",
        "for i in 0..1000000 {\n    [1].map(|x| { let k = 0; while k < 1000 { k += 1; } x });\n}\n",
        &["--max-ops", "1000000"],
        "Too many operations: more than the limit of 1000000 (--max-ops)",
    );
    p.refuses(
        "caught.rhai",
        "loop {\n    try { loop { } } catch (e) { }\n}\n",
        &["--max-ops", "100000"],
        "caught.rhai:2:",
    );
    p.refuses(
        "caught_memory.rhai",
        "let s = \"x\";\nloop {\n    try { s += s; } catch (e) { print(e); }\n}\n",
        &[],
        "caught_memory.rhai:3:13: string longer than the limit of 67108864 bytes",
    );
}

/// A completed unit stays when a later one crosses a limit, and a rerun under a larger limit
/// resumes from it.
#[test]
fn a_limit_keeps_completed_units_and_the_run_resumes() {
    let p = Project::new("resume");
    let source = "for k in 0..4 {\n    once(k, || {\n        print(`unit ${k} runs`);\n        \
                  let s = \"x\";\n        s.pad((k + 1) * 1000, \"y\");\n        \
                  record(#{ k: k, len: s.len() });\n    });\n}\n";
    let ran = p.refuses(
        "units.rhai",
        source,
        &["--max-string-size", "2500"],
        // Rhai passes limit errors straight out of functions and closures, placed at the
        // call in the script that led there: here the `once` call.
        "units.rhai:2:5: string longer than the limit of 2500 bytes (--max-string-size)",
    );
    let out = std::fs::read_dir(p.dir.join("selfchat"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(out.join("records.jsonl")).unwrap();
    assert_eq!(text.matches("\"len\"").count(), 2, "{text}\n{}", ran.stderr);
    let ran = p.run(&["units.rhai"]);
    assert_eq!(ran.exit, Some(0), "{}", ran.stderr);
    // Units 0 and 1 are not run again; 2 (cut short) and 3 are.
    for (k, runs) in [(0, false), (1, false), (2, true), (3, true)] {
        let line = format!("unit {k} runs");
        assert_eq!(ran.stderr.contains(&line), runs, "{line}: {}", ran.stderr);
    }
    let text = std::fs::read_to_string(out.join("records.jsonl")).unwrap();
    for k in 0..4 {
        assert_eq!(
            text.matches(&format!("\"len\":{}", (k + 1) * 1000)).count(),
            1,
            "{text}"
        );
    }
}

/// Every registered function that takes a path, with `..`, an absolute path elsewhere, and a
/// symbolic link inside the project pointing outside it.
#[test]
fn path_escapes_are_refused_through_every_function_that_takes_a_path() {
    let p = Project::new("paths");
    let outside = p.outside.display().to_string();
    std::fs::write(p.outside.join("secret.rhai"), "fn secret() { 42 }").unwrap();
    std::fs::write(p.outside.join("v.safetensors"), "not vectors").unwrap();
    std::fs::write(p.outside.join("model.gguf"), "not a model").unwrap();
    std::fs::write(p.outside.join("persona.toml"), "secret = \"do not read\"").unwrap();
    std::os::unix::fs::symlink(&p.outside, p.dir.join("link")).unwrap();
    // A folder inside the project whose entries lead outside.
    std::fs::create_dir_all(p.dir.join("lib")).unwrap();
    std::os::unix::fs::symlink(p.outside.join("persona.toml"), p.dir.join("lib/evil.toml"))
        .unwrap();
    std::fs::create_dir_all(p.dir.join("modeldir")).unwrap();
    std::os::unix::fs::symlink(&p.outside, p.dir.join("modeldir/weights")).unwrap();

    let reads = [
        ("library(\"PATH\");", "library"),
        ("load_vectors(\"PATH\");", "load_vectors"),
        ("model(\"PATH\");", "model"),
        ("import \"PATH\" as m;", "import"),
    ];
    let writes = [
        "save_csv(\"PATH\");",
        "plot(#{x: \"a\", y: \"b\", data: [#{a: 1, b: 2}]}, \"PATH\");",
        "plot_heatmap([[1.0]], \"PATH\", #{});",
        "save_vectors(\"PATH\", #{v: vector([1.0, 2.0])}, #{});",
    ];
    let fill = |template: &str, path: &str| template.replace("PATH", path);
    for (template, name) in reads {
        let file = |stem: &str| match name {
            "import" => format!("{stem}/secret"),
            "library" => stem.to_string(),
            "model" => format!("{stem}/model.gguf"),
            _ => format!("{stem}/v.safetensors"),
        };
        let shown = |path: &str| match name {
            "import" => format!("{path}.rhai"),
            _ => path.to_string(),
        };
        let up = if name == "library" {
            "../outside".to_string()
        } else {
            file("../outside")
        };
        let abs = if name == "library" {
            outside.clone()
        } else {
            file(&outside)
        };
        let link = if name == "library" {
            "link".to_string()
        } else {
            file("link")
        };
        for (path, expected) in [
            (
                up.clone(),
                format!("`{}` is refused: paths may not contain `..`", shown(&up)),
            ),
            (
                abs.clone(),
                format!(
                    "`{}` is refused: scripts may only read files inside",
                    shown(&abs)
                ),
            ),
            (
                link.clone(),
                format!(
                    "`{}` is refused: scripts may only read files inside",
                    shown(&link)
                ),
            ),
        ] {
            let source = fill(template, &path);
            p.refuses("escape.rhai", &format!("{source}\n"), &[], "escape.rhai:1:");
            p.refuses("escape.rhai", &format!("{source}\n"), &[], &expected);
        }
    }
    // Folders read whole: an entry leading outside refuses the folder.
    p.refuses(
        "escape.rhai",
        "library(\"lib\");\n",
        &[],
        "`lib` is refused: ",
    );
    p.refuses("escape.rhai", "library(\"lib\");\n", &[], "evil.toml");
    p.refuses(
        "escape.rhai",
        "model(\"modeldir\");\n",
        &[],
        "`modeldir` is refused: ",
    );
    for template in writes {
        for (path, expected) in [
            (
                "../x.png".to_string(),
                "`../x.png` is refused: paths may not contain `..`".to_string(),
            ),
            (
                format!("{outside}/x.png"),
                format!("`{outside}/x.png` is refused: scripts may only write files inside"),
            ),
            // Inside the project, but not inside the run folder.
            (
                format!("{}/x.png", p.dir.display()),
                "is refused: scripts may only write files inside".to_string(),
            ),
        ] {
            let source = fill(template, &path);
            p.refuses("escape.rhai", &format!("{source}\n"), &[], "escape.rhai:1:");
            p.refuses("escape.rhai", &format!("{source}\n"), &[], &expected);
        }
    }
    assert_eq!(
        std::fs::read_dir(&p.outside).unwrap().count(),
        4,
        "nothing was written outside"
    );
}

/// A symbolic link planted inside the run folder is no way out for the functions that write.
#[test]
fn a_link_inside_the_run_folder_does_not_lead_out() {
    let p = Project::new("runlink");
    let source =
        "record(#{ a: 1 });\nlet s = \"x\";\ns.pad(100, \"y\");\nsave_csv(\"link/x.csv\");\n";
    // The first run makes the folder and stops at a limit before writing; the second is the
    // same run (limits are not part of its identity), with a link planted in its folder.
    p.refuses(
        "writer.rhai",
        source,
        &["--max-string-size", "50"],
        "writer.rhai:3:3: string longer than the limit of 50 bytes",
    );
    let out = std::fs::read_dir(p.dir.join("selfchat"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::os::unix::fs::symlink(&p.outside, out.join("link")).unwrap();
    p.refuses(
        "writer.rhai",
        source,
        &[],
        "writer.rhai:4:1: `link/x.csv` is refused: scripts may only write files inside",
    );
    assert!(!p.outside.join("x.csv").exists());
}

/// Imports of imports are confined the same way, however deep.
#[test]
fn imports_of_imports_cannot_escape() {
    let p = Project::new("imports");
    std::fs::write(p.outside.join("evil.rhai"), "fn evil() { 666 }").unwrap();
    std::os::unix::fs::symlink(&p.outside, p.dir.join("link")).unwrap();
    std::os::unix::fs::symlink(p.outside.join("evil.rhai"), p.dir.join("alias.rhai")).unwrap();
    let outside = p.outside.display().to_string();
    for (inner, expected) in [
        (
            "../outside/evil",
            "`../outside/evil.rhai` is refused: paths may not contain `..`".to_string(),
        ),
        (
            outside.as_str(),
            "is refused: scripts may only read files inside".to_string(),
        ),
        (
            "link/evil",
            "`link/evil.rhai` is refused: scripts may only read files inside".to_string(),
        ),
        (
            "alias",
            "`alias.rhai` is refused: scripts may only read files inside".to_string(),
        ),
    ] {
        let target = if inner == outside {
            format!("{outside}/evil")
        } else {
            inner.to_string()
        };
        p.write(
            "lib/inner.rhai",
            &format!("import \"{target}\" as e;\nfn f() {{ e::evil() }}\n"),
        );
        p.write(
            "lib/outer.rhai",
            "import \"lib/inner\" as i;\nfn g() { i::f() }\n",
        );
        let ran = p.refuses(
            "main.rhai",
            "import \"lib/outer\" as o;\nprint(o::g());\n",
            &[],
            &expected,
        );
        assert!(ran.stderr.contains("main.rhai:1:"), "{}", ran.stderr);
        assert!(!ran.stderr.contains("666"), "{}", ran.stderr);
    }
    // The same chain inside the project works.
    p.write("lib/inner.rhai", "fn f() { 21 }\n");
    p.write(
        "main.rhai",
        "import \"lib/outer\" as o;\nprint(o::g() * 2);\n",
    );
    let ran = p.run(&["main.rhai"]);
    assert_eq!(ran.exit, Some(0), "{}", ran.stderr);
    assert!(ran.stderr.contains("[main.rhai] 42"), "{}", ran.stderr);
}
