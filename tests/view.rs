//! `drift-script view`: pages written from synthetic runs shaped as the shipped scripts write
//! them (selfchat.rhai's `turn` and `probe` records with their `_meta`, unit markers and
//! run.json; axis_drift's settings; persona_space's vectors), then opened in headless Chromium
//! (`/usr/bin/chromium`, or `DRIFT_SCRIPT_CHROMIUM`): the page loads without console messages,
//! the filters in the URL fragment change what is shown, and a screenshot is kept under the
//! target folder (its path is printed). Bad run folders give clear errors and write nothing.
//!
//! Without Chromium the browser tests say so loudly on stderr and pass, unless
//! `DRIFT_SCRIPT_REQUIRE_CHROMIUM=1` (set by `.ci/run`, which installs it), where they fail.
//! `DRIFT_SCRIPT_KEEP_VIEW=1` keeps the run folders and their pages and prints where they are.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const PERSONAS: &[&str] = &[
    "pirate",
    "all-caps",
    "french",
    "cat",
    "json",
    "secret-number",
    "sad",
];
const SHA: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
/// An answer written to test escaping: it must show as text and never run.
const HOSTILE: &str = "<script>document.title='pwned'</script></script><img src=x onerror=\"document.title='pwned'\"> & \"quotes\" <!--";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("drift-view-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Removes a test's folder, or keeps it and says where with `DRIFT_SCRIPT_KEEP_VIEW=1`.
fn done_with(dir: &Path) {
    if std::env::var("DRIFT_SCRIPT_KEEP_VIEW").is_ok_and(|v| v == "1") {
        eprintln!("kept: {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A deterministic word stream (no model): `len` characters or a little more.
fn words(seed: &mut u64, len: usize) -> String {
    const VOCAB: &[&str] = &[
        "the",
        "robots",
        "conversation",
        "arr",
        "matey",
        "careful",
        "I",
        "think",
        "that",
        "we",
        "should",
        "consider",
        "care",
        "people",
        "often",
        "a",
        "question",
        "of",
        "trust",
        "and",
        "values",
        "BUT",
        "ALSO",
        "bonjour",
        "le",
        "monde",
        "is",
        "meow",
        "{\"answer\":",
        "42}",
    ];
    let mut out = String::new();
    while out.len() < len {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(VOCAB[(*seed >> 33) as usize % VOCAB.len()]);
    }
    out
}

struct Shape {
    pairs: usize,
    turns: i64,
    runs: usize,
    /// Characters per message (a 400-token answer is about 1,600).
    chars: usize,
}

fn meta(run: &Value, unit: usize, seed: u64) -> Value {
    json!({
        "model": {"backend": "local", "name": "Smollm2 135M 8k Lc100K Mix1 Ep2", "sha256": SHA},
        "run": run,
        "sampling": {"max_tokens": 400, "seed": seed, "stop": [], "temperature": 1.0, "top_k": 0, "top_p": 0.9},
        "time": "2026-12-07T03:47:10.122Z",
        "unit": unit.to_string(),
        "usage": {"completion_tokens": 400, "prompt_tokens": 900}
    })
}

fn agent_of(pair: usize) -> &'static str {
    PERSONAS[pair % PERSONAS.len()]
}
fn user_of(pair: usize) -> &'static str {
    PERSONAS[(pair * 3 + 1) % PERSONAS.len()]
}
/// The score of a probe answer: spread over [0, 1], falling with the turn.
fn score_of(pair: usize, turn: i64, run: usize) -> f64 {
    let x = ((pair * 7 + run * 3) % 10) as f64 / 10.0;
    (x * 2.0 / turn as f64 + x / 2.0).min(1.0)
}

/// Writes `records.jsonl` and `run.json` as `scripts/selfchat.rhai` writes them.
fn selfchat_run(dir: &Path, shape: &Shape) {
    let run = json!({
        "drift_script_version": "0.1.0", "model": "smollm2",
        "params": {"pairs": shape.pairs, "turns": shape.turns},
        "script": "scripts/selfchat.rhai",
        "script_sha256": "f2fdb845cee5979348df01f41ebd833a85422ccf625ddbd88f5e1745398579a1",
        "seed": 0
    });
    let mut lines = Vec::new();
    let mut seed = 1u64;
    for pair in 0..shape.pairs {
        let (agent, user) = (agent_of(pair), user_of(pair));
        let topic = format!("Topic {pair}: how much should we rely on robots?");
        for turn in 2..=shape.turns {
            let speaker = if turn % 2 == 0 { "agent" } else { "user" };
            lines.push(json!({
                "_meta": meta(&run, pair, seed), "agent": agent, "kind": "turn", "pair": pair,
                "speaker": speaker, "text": words(&mut seed, shape.chars), "topic": topic,
                "turn": turn, "user": user
            }));
        }
        for turn in (2..=shape.turns).step_by(2) {
            for run_i in 0..shape.runs {
                let answer = if pair == 0 && turn == 2 && run_i == 0 {
                    HOSTILE.to_string()
                } else {
                    words(&mut seed, shape.chars)
                };
                lines.push(json!({
                    "_meta": meta(&run, pair, seed), "agent": agent, "answer": answer,
                    "kind": "probe", "pair": pair, "run": run_i,
                    "score": score_of(pair, turn, run_i), "topic": topic, "turn": turn,
                    "user": user, "user_score": 0.0
                }));
            }
        }
        lines.push(json!({"_seq": pair, "_unit_done": pair.to_string()}));
    }
    let mut complete = run.clone();
    complete["complete"] = json!({"units": shape.pairs});
    write_run(dir, &lines, &complete);
}

fn write_run(dir: &Path, lines: &[Value], run: &Value) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("records.jsonl"), text).unwrap();
    std::fs::write(
        dir.join("run.json"),
        serde_json::to_string_pretty(run).unwrap(),
    )
    .unwrap();
}

/// Runs `drift-script view DIR`: the page's path from stdout, and stderr.
fn view(dir: &Path) -> (PathBuf, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_drift-script"))
        .arg("view")
        .arg(dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "view failed: {stderr}");
    let path = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    assert_eq!(path, dir.join("view.html"));
    (path, stderr)
}

// ---------------------------------------------------------------------------------------------
// Headless Chromium.

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("DRIFT_SCRIPT_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if path.is_file() {
        return Some(path);
    }
    let required = std::env::var("DRIFT_SCRIPT_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "DRIFT_SCRIPT_REQUIRE_CHROMIUM=1 but there is no Chromium at {}",
        path.display()
    );
    eprintln!(
        "\n**********************************************************************\n\
         SKIPPED: no Chromium at {} (apt-get install -y chromium, or set\n\
         DRIFT_SCRIPT_CHROMIUM): the page was NOT checked in a browser.\n\
         **********************************************************************\n",
        path.display()
    );
    None
}

struct Loaded {
    dom: String,
    console: Vec<String>,
    wall_ms: u128,
}

/// Opens `url` headless; `--dump-dom` when `screenshot` is None, else a screenshot there.
fn open(browser: &Path, url: &str, screenshot: Option<&Path>) -> Loaded {
    static OPENED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = OPENED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let profile = temp_dir(&format!("chromium-{n}"));
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1280,2000",
        // Lets the page's own work (observers, timers) finish before the dump.
        "--virtual-time-budget=3000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    match screenshot {
        Some(path) => cmd.arg(format!("--screenshot={}", path.display())),
        None => cmd.arg("--dump-dom"),
    };
    let start = Instant::now();
    let out = cmd.arg(url).output().expect("run chromium");
    let wall_ms = start.elapsed().as_millis();
    let _ = std::fs::remove_dir_all(&profile);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed on {url}: {stderr}");
    // Chromium logs every console message (errors and uncaught exceptions included) as
    // `…:CONSOLE…] "text", source: …`, all at level INFO; the page writes none, so any is a failure.
    let console = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    Loaded {
        dom: String::from_utf8_lossy(&out.stdout).into_owned(),
        console,
        wall_ms,
    }
}

fn url(page: &Path, fragment: &str) -> String {
    format!(
        "file://{}{fragment}",
        page.canonicalize().unwrap().display()
    )
}

/// The values of `attr="…"` in the dumped DOM, in order.
fn attrs<'a>(dom: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!(" {attr}=\"");
    dom.match_indices(&needle)
        .map(|(i, _)| {
            let rest = &dom[i + needle.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect()
}

fn count(dom: &str, needle: &str) -> usize {
    dom.matches(needle).count()
}

#[test]
fn the_console_check_catches_errors() {
    let Some(browser) = chromium() else { return };
    let dir = temp_dir("console");
    let page = dir.join("error.html");
    std::fs::write(
        &page,
        "<html><body><script>console.error('boom'); missing();</script></body></html>",
    )
    .unwrap();
    let loaded = open(&browser, &url(&page, ""), None);
    assert_eq!(loaded.console.len(), 2, "{:?}", loaded.console);
    assert!(
        loaded.console[1].contains("Uncaught ReferenceError"),
        "{:?}",
        loaded.console
    );
    done_with(&dir);
}

#[test]
fn a_selfchat_run_renders_with_filters_and_a_screenshot() {
    let dir = temp_dir("selfchat20");
    let shape = Shape {
        pairs: 20,
        turns: 8,
        runs: 2,
        chars: 300,
    };
    selfchat_run(&dir, &shape);
    // A picture of the run, as selfchat.rhai's plot() leaves one.
    let png = dir.join("stability.png");
    let probes: Vec<Value> = (0..shape.pairs)
        .flat_map(|p| {
            (2..=8)
                .step_by(2)
                .map(move |t| json!({"turn": t, "score": score_of(p, t, 0)}))
        })
        .collect();
    let spec = drift_script::plot::LineSpec {
        x: "turn".into(),
        y: vec!["score".into()],
        group: None,
        band: Some(0.68),
        band_method: Default::default(),
        title: Some("Persona stability".into()),
        xlabel: None,
        ylabel: None,
        y_range: None,
        facet: None,
    };
    drift_script::plot::line_plot(&probes, &spec, &png).unwrap();
    let (page, stderr) = view(&dir);
    assert!(
        stderr.contains("300 record(s): 20 unit(s), 160 probe answer(s), 1 picture(s)"),
        "{stderr}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: the picture inline, nothing fetched.
    assert!(html.contains("src=\"data:image/png;base64,iVBORw0KGgo"));
    for remote in ["http://", "https://", "src=\"/", "href=\"/"] {
        assert!(!html.contains(remote), "page refers to {remote}");
    }
    // The hostile answer is in the blob only as escaped JSON text.
    assert!(!html.contains("<script>document.title"));
    assert!(!html.contains("<img src=x"));
    let Some(browser) = chromium() else { return };

    // Unfiltered: every unit's header, the first units' bubbles, the chart's links.
    let all = open(&browser, &url(&page, ""), None);
    assert!(all.console.is_empty(), "console: {:?}", all.console);
    assert!(
        all.dom.contains("data-ready=\"1\""),
        "the script did not finish"
    );
    assert_eq!(attrs(&all.dom, "data-agent").len(), 20);
    assert!(all.dom.contains("20 of 20 unit(s)"));
    assert!(all.dom.contains("Smollm2 135M 8k Lc100K Mix1 Ep2"));
    assert!(all.dom.contains(SHA));
    assert!(all.dom.contains("scripts/selfchat.rhai"));
    for t in [2, 4, 6, 8] {
        assert!(
            all.dom.contains(&format!("href=\"#turn={t}\"")),
            "no chart link to turn {t}"
        );
    }
    assert!(count(&all.dom, "class=\"bubble agent\"") >= 3 * 4);
    // The hostile answer shows as text; nothing of it ran.
    assert!(
        all.dom
            .contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;")
    );
    assert!(!all.dom.contains("pwned</title>"));
    assert!(!all.dom.contains("<img src=\"x\""));

    // Persona and turn: only the pirate's units, only turn 4 and its answers.
    let pirate: Vec<usize> = (0..shape.pairs)
        .filter(|&p| agent_of(p) == "pirate")
        .collect();
    let some = open(&browser, &url(&page, "#agent=pirate&turn=4"), None);
    assert!(some.console.is_empty(), "console: {:?}", some.console);
    let agents = attrs(&some.dom, "data-agent");
    assert_eq!(agents.len(), pirate.len());
    assert!(agents.iter().all(|a| *a == "pirate"), "{agents:?}");
    let turns = attrs(&some.dom, "data-turn");
    assert!(!turns.is_empty(), "no answers shown");
    assert!(turns.iter().all(|t| *t == "4"), "{turns:?}");
    assert!(!some.dom.contains("turn 2 · agent") && !some.dom.contains("turn 3 · user"));
    assert!(some.dom.contains("turn 4 · agent (pirate)"));
    assert!(
        some.dom
            .contains(&format!("{} of 20 unit(s)", pirate.len()))
    );
    // The controls show the state read from the URL.
    assert!(
        some.dom.contains("<option value=\"pirate\" selected")
            || some.dom.contains("value=\"pirate\"")
    );

    // Score range: only answers in it, only units that have one.
    let ranged = open(&browser, &url(&page, "#min=0.5&max=0.9"), None);
    assert!(ranged.console.is_empty(), "console: {:?}", ranged.console);
    let scores: Vec<f64> = attrs(&ranged.dom, "data-score")
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert!(!scores.is_empty());
    assert!(scores.iter().all(|s| (0.5..=0.9).contains(s)), "{scores:?}");
    let expected = (0..shape.pairs)
        .filter(|&p| {
            (2..=8)
                .step_by(2)
                .any(|t| (0..2).any(|r| (0.5..=0.9).contains(&score_of(p, t, r))))
        })
        .count();
    assert_eq!(attrs(&ranged.dom, "data-agent").len(), expected);
    assert!(expected < shape.pairs, "the range should hide some units");

    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("view-selfchat-20.png");
    let _ = std::fs::remove_file(&shot);
    let loaded = open(&browser, &url(&page, ""), Some(&shot));
    assert!(loaded.console.is_empty(), "console: {:?}", loaded.console);
    let bytes = std::fs::read(&shot).unwrap();
    assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000);
    eprintln!("screenshot: {}", shot.display());
    done_with(&dir);
}

/// The size: 200 pairs of 16 turns, 4 answers per probe, 400-token messages.
#[test]
fn a_200_pair_run_stays_light() {
    let dir = temp_dir("selfchat200");
    let shape = Shape {
        pairs: 200,
        turns: 16,
        runs: 4,
        chars: 1600,
    };
    selfchat_run(&dir, &shape);
    let records = std::fs::metadata(dir.join("records.jsonl")).unwrap().len();
    let start = Instant::now();
    let (page, _) = view(&dir);
    let write_ms = start.elapsed().as_millis();
    let bytes = std::fs::metadata(&page).unwrap().len();
    eprintln!(
        "200 pairs × 16 turns × 4 runs: records.jsonl {:.1} MB, view.html {:.1} MB, written in {write_ms} ms",
        records as f64 / 1e6,
        bytes as f64 / 1e6
    );
    // The page carries the text once, without the records' `_meta` per line: nearly all of it
    // is the conversations' and answers' text (200 × 47 messages of 1,600 characters, 15 MB).
    assert!(
        bytes < records * 3 / 4,
        "{bytes} bytes for {records} of records"
    );
    let Some(browser) = chromium() else { return };
    let loaded = open(&browser, &url(&page, ""), None);
    assert!(loaded.console.is_empty(), "console: {:?}", loaded.console);
    let render_ms: u64 = attrs(&loaded.dom, "data-render-ms")[0].parse().unwrap();
    eprintln!(
        "headless Chromium: page ready {render_ms} ms after navigation start; process wall time {} ms",
        loaded.wall_ms
    );
    assert_eq!(attrs(&loaded.dom, "data-agent").len(), 200);
    // Lazily drawn: a screenful of units has bubbles, not all 200.
    let drawn = count(&loaded.dom, "class=\"row\"");
    assert!(drawn > 0 && drawn < 200 * 15 / 4, "{drawn} rows drawn");
    assert!(render_ms < 5_000, "page took {render_ms} ms");
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("view-selfchat-200.png");
    open(&browser, &url(&page, "#turn=16"), Some(&shot));
    eprintln!("screenshot: {}", shot.display());
    done_with(&dir);
}

/// Records of the other scripts: `agent_turn` and `probe` with `setting` (axis_drift), long
/// per-token series (attention_decay), vectors in `answer` records (persona_space).
#[test]
fn other_scripts_records_render_as_units_and_tables() {
    let dir = temp_dir("others");
    let run = json!({"script": "scripts/axis_drift.rhai", "seed": 0, "params": {}, "model": "smollm2",
                     "script_sha256": "00", "drift_script_version": "0.1.0"});
    let mut lines = Vec::new();
    let mut seed = 5u64;
    for setting in ["plain", "capped"] {
        for pair in 0..2usize {
            let unit = format!("{setting}/{pair}");
            let mut m = meta(&run, 0, 1);
            m["unit"] = json!(unit);
            if setting == "capped" {
                m["sampling"]["intervention"] = json!({"steer": [{"op": "cap", "layer": 12, "threshold": -0.5,
                    "vector": (0..576).map(|i| i as f64 / 576.0).collect::<Vec<_>>()}]});
            }
            for turn in [2, 4] {
                lines.push(json!({"_meta": m, "kind": "agent_turn", "setting": setting, "pair": pair,
                    "turn": turn, "agent": "pirate", "text": words(&mut seed, 120), "projection": 1.5,
                    "pi": 0.25, "pi_head": (0..300).map(|i| i as f64).collect::<Vec<_>>()}));
                lines.push(
                    json!({"_meta": m, "kind": "probe", "setting": setting, "pair": pair,
                    "turn": turn, "run": 0, "agent": "pirate", "answer": words(&mut seed, 80),
                    "score": if setting == "capped" { 0.75 } else { 0.25 }}),
                );
            }
            lines.push(json!({"_seq": 0, "_unit_done": unit}));
        }
    }
    for q in 0..3 {
        lines.push(json!({"_meta": {"unit": "role-1"}, "kind": "answer", "persona": "role-1", "group": "role",
            "question": q, "text": format!("answer <b>{q}</b>"), "L12": vec![0.5; 576]}));
    }
    lines.push(json!({"kind": "summary", "layer": 12, "roles": 1, "auroc": 0.93}));
    lines.push(json!({"temperature": 0.7, "words": 12, "answer": "no kind"}));
    write_run(&dir, &lines, &run);
    let report = drift_script::view::write_view(&dir, None).unwrap();
    assert_eq!(report.units, 4);
    assert_eq!(report.answers, 8);
    assert_eq!(report.tables, vec!["answer", "summary", "(no kind)"]);
    let html = std::fs::read_to_string(&report.path).unwrap();
    // Vectors and series are shown as their length, not carried.
    assert!(html.contains("[576 values]") && html.contains("[300 values]"));
    assert!(report.bytes < 40_000, "{} bytes", report.bytes);
    let Some(browser) = chromium() else { return };
    let loaded = open(&browser, &url(&report.path, "#setting=capped"), None);
    assert!(loaded.console.is_empty(), "console: {:?}", loaded.console);
    assert!(loaded.dom.contains("2 of 4 unit(s)"));
    assert!(loaded.dom.contains("pair 0 · capped"));
    assert!(!loaded.dom.contains("pair 0 · plain"));
    assert!(loaded.dom.contains("href=\"#turn=4&amp;setting=capped\""));
    assert!(loaded.dom.contains("projection 1.500"));
    assert!(loaded.dom.contains("Records of kind \"answer\" (3)"));
    assert!(loaded.dom.contains("answer &lt;b&gt;1&lt;/b&gt;"));
    assert!(loaded.dom.contains("Records of kind \"(no kind)\" (1)"));
    done_with(&dir);
}

#[test]
fn bad_run_folders_are_refused_and_nothing_is_written() {
    use drift_script::view::write_view;
    let dir = temp_dir("bad");
    let message = |dir: &Path| write_view(dir, None).unwrap_err().to_string();
    let written = |dir: &Path| dir.join("view.html").exists();

    assert_eq!(
        message(&dir),
        format!(
            "{}: no records.jsonl (is this a run folder? a script run writes it there)",
            dir.display()
        )
    );
    assert!(!written(&dir));

    let missing = dir.join("nowhere");
    assert_eq!(
        message(&missing),
        format!(
            "{} is not a folder (give the run folder, which holds records.jsonl)",
            missing.display()
        )
    );

    std::fs::write(dir.join("records.jsonl"), "").unwrap();
    assert_eq!(
        message(&dir),
        format!(
            "{}: the run has no records yet: nothing to show",
            dir.display()
        )
    );
    // Unit markers alone are no records either.
    std::fs::write(
        dir.join("records.jsonl"),
        "{\"_seq\":0,\"_unit_done\":\"0\"}\n",
    )
    .unwrap();
    assert_eq!(
        message(&dir),
        format!(
            "{}: the run has no records yet: nothing to show",
            dir.display()
        )
    );
    assert!(!written(&dir));

    std::fs::write(
        dir.join("records.jsonl"),
        "{\"kind\":\"probe\",\"turn\":2,\"score\":1}\n\n{\"kind\":\"probe\",\"turn\":4,\n",
    )
    .unwrap();
    assert_eq!(
        message(&dir),
        format!(
            "{}:3: malformed JSON at column 25: EOF while parsing a value",
            dir.join("records.jsonl").display()
        )
    );
    assert!(!written(&dir));

    std::fs::write(
        dir.join("records.jsonl"),
        "{\"kind\":\"probe\",\"turn\":2,\"score\":1}\n",
    )
    .unwrap();
    std::fs::write(dir.join("run.json"), "{\"seed\": ").unwrap();
    assert!(message(&dir).starts_with(&format!(
        "{}: malformed run.json: ",
        dir.join("run.json").display()
    )));
    assert!(!written(&dir));

    // Through the command: the error and a failure status, no page.
    std::fs::remove_file(dir.join("records.jsonl")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_drift-script"))
        .arg("view")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no records.jsonl"), "{stderr}");
    assert!(!written(&dir));
    done_with(&dir);
}

#[test]
fn output_goes_where_asked() {
    let dir = temp_dir("output");
    selfchat_run(
        &dir,
        &Shape {
            pairs: 1,
            turns: 4,
            runs: 1,
            chars: 40,
        },
    );
    let elsewhere = dir.join("copy.html");
    let out = Command::new(env!("CARGO_BIN_EXE_drift-script"))
        .args([
            "view".as_ref(),
            dir.as_os_str(),
            "-o".as_ref(),
            elsewhere.as_os_str(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        elsewhere.display().to_string()
    );
    assert!(elsewhere.is_file() && !dir.join("view.html").exists());
    done_with(&dir);
}
