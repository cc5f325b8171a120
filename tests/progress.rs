//! The progress line of batch runs (issue 24 item 5), through the real binary on the real
//! default model: `scripts/selfchat.rhai` with stderr on a pseudo-terminal shows units done of
//! total, tokens per second and the time left, redrawn in place and cleared at the end, so the
//! screen ends up exactly as without the line; piped, stderr has exactly the bytes of
//! `--no-progress`. Resumed runs start from the units already done; `--jobs` counts each unit
//! once. The REPL never shows the line. Ctrl-C clears it before its note. Bad settings are
//! refused with a message saying so.

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test: `DRIFT_SCRIPT_BIN` if set (a copy of this branch's build, where the
/// target folder is shared with other branches' builds), else Cargo's.
fn binary() -> PathBuf {
    std::env::var_os("DRIFT_SCRIPT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_drift-script")))
}

/// A throwaway project folder holding the repository's scripts, modules and personas.
struct Project {
    dir: PathBuf,
}

impl Project {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "drift-script-progress-{}-{name}",
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

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.join(name), text).unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(binary());
        command
            .args(args)
            .current_dir(&self.dir)
            .env_remove("DRIFT_SCRIPT_PROGRESS")
            .stdin(Stdio::null());
        command
    }

    /// Runs with standard output and standard error piped.
    fn piped(&self, args: &[&str]) -> Output {
        let output = self.command(args).output().unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
        output
    }

    /// Runs with standard error on a pseudo-terminal (120 columns), standard output piped;
    /// returns everything the terminal received.
    fn on_terminal(&self, args: &[&str]) -> String {
        let (status, bytes) = on_terminal(self.command(args));
        let screen = String::from_utf8_lossy(&bytes).into_owned();
        assert!(status.success(), "{screen}");
        screen
    }

    fn remove(&self, folder: &str) {
        let _ = std::fs::remove_dir_all(self.dir.join(folder));
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `command` with its standard error on a new pseudo-terminal; returns its exit status and
/// the bytes the terminal showed (the line discipline turns `\n` into `\r\n`).
fn on_terminal(mut command: Command) -> (std::process::ExitStatus, Vec<u8>) {
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: 40,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty fills two descriptors we then own.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty failed");
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    let mut master = unsafe { std::fs::File::from_raw_fd(master) };
    command.stdout(Stdio::piped()).stderr(Stdio::from(slave));
    let mut child = command.spawn().unwrap();
    // Our copy of the terminal's other end must go, or reading would never see its end.
    drop(command);
    let mut stdout = child.stdout.take().unwrap();
    let drain = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    let mut screen = Vec::new();
    let mut buf = [0u8; 4096];
    // Linux answers EIO once the last writer closed the terminal.
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        screen.extend_from_slice(&buf[..n]);
    }
    let status = child.wait().unwrap();
    let stdout = drain.join().unwrap();
    assert!(stdout.is_empty(), "stdout: {}", text(&stdout));
    (status, screen)
}

/// What a terminal shows once `bytes` are written to it: carriage return to the line's
/// start, backspace one column back, newline to the next line, other characters written over
/// what is there.
fn final_screen(bytes: &str) -> String {
    let mut lines: Vec<Vec<char>> = vec![Vec::new()];
    let mut column: usize = 0;
    for c in bytes.chars() {
        match c {
            '\r' => column = 0,
            '\n' => {
                lines.push(Vec::new());
                column = 0;
            }
            '\u{8}' => column = column.saturating_sub(1),
            c => {
                let line = lines.last_mut().unwrap();
                if column < line.len() {
                    line[column] = c;
                } else {
                    line.resize(column, ' ');
                    line.push(c);
                }
                column += 1;
            }
        }
    }
    let mut out = String::new();
    for line in lines {
        let line: String = line.into_iter().collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.trim_end_matches('\n').to_string() + "\n"
}

/// Every drawing of the line, in order: the text after each carriage return that starts with
/// `[label] units`, up to the next control character.
fn drawings(screen: &str, label: &str) -> Vec<String> {
    let start = format!("[{label}] units ");
    screen
        .split(['\r', '\n', '\u{8}'])
        .filter(|part| part.starts_with(&start))
        .map(|part| part.trim_end().to_string())
        .collect()
}

/// `(done, total)` of a drawing `[label] units D/T, …`.
fn counts(drawing: &str) -> (u64, u64) {
    let after = drawing.split("] units ").nth(1).unwrap();
    let fraction = after.split([',', ' ']).next().unwrap();
    let (done, total) = fraction.split_once('/').unwrap();
    (done.parse().unwrap(), total.parse().unwrap())
}

const SELFCHAT: &[&str] = &[
    "scripts/selfchat.rhai",
    "--set",
    "pairs=3",
    "--set",
    "turns=4",
    "--set",
    "max_tokens=16",
    "--set",
    "runs=1",
    "--out",
    "out",
];

fn with(extra: &[&str]) -> Vec<&'static str> {
    let mut args = SELFCHAT.to_vec();
    for arg in extra {
        args.push(arg.to_string().leak());
    }
    args
}

#[test]
fn selfchat_shows_progress_on_a_terminal_and_nothing_extra_when_piped() {
    let p = Project::new("selfchat");

    // Piped: exactly the bytes of --no-progress (the same run folder, made anew each time).
    let plain = p.piped(&with(&["--no-progress"]));
    p.remove("out");
    let piped = p.piped(SELFCHAT);
    assert_eq!(text(&piped.stderr), text(&plain.stderr));
    assert!(!text(&plain.stderr).contains("units"));
    p.remove("out");

    // On a terminal: 0/3 once the script declares its units, then each unit as it finishes,
    // with tokens per second and, while units are left, the time left.
    let screen = p.on_terminal(SELFCHAT);
    let drawn = drawings(&screen, "selfchat.rhai");
    let seen: Vec<(u64, u64)> = drawn.iter().map(|d| counts(d)).collect();
    assert!(seen.iter().all(|&(_, total)| total == 3), "{drawn:#?}");
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "{drawn:#?}");
    let mut done: Vec<u64> = seen.iter().map(|&(d, _)| d).collect();
    done.dedup();
    assert_eq!(done, [0, 1, 2, 3], "{drawn:#?}");
    let after_first = drawn.iter().find(|d| d.contains("units 1/3")).unwrap();
    assert!(
        after_first.contains(" tok/s, ") && after_first.ends_with(" left"),
        "{after_first}"
    );
    let last = drawn.last().unwrap();
    assert!(
        last.starts_with("[selfchat.rhai] units 3/3, ") && last.ends_with(" tok/s"),
        "{last}"
    );
    // The rate is a number of tokens per second.
    let rate: f64 = last
        .split(", ")
        .nth(1)
        .unwrap()
        .trim_end_matches(" tok/s")
        .parse()
        .unwrap();
    assert!(rate > 0.0, "{last}");
    // Cleared at the end, and the run's own lines printed whole: the screen reads exactly as
    // the run's stderr without the line.
    assert_eq!(final_screen(&screen), text(&plain.stderr));

    // A resumed run: the last unit's marker lost, as when a run is killed before it. The two
    // units kept count as done from the first drawing.
    let folder = std::fs::read_dir(p.dir.join("out"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let records = std::fs::read_to_string(folder.join("records.jsonl")).unwrap();
    let last_marker = records.trim_end().rsplit('\n').next().unwrap();
    assert!(
        last_marker.contains("\"_unit_done\":\"2\""),
        "{last_marker}"
    );
    let cut = &records[..records.len() - last_marker.len() - 1];
    std::fs::write(folder.join("records.jsonl"), cut).unwrap();
    let screen = p.on_terminal(SELFCHAT);
    let drawn = drawings(&screen, "selfchat.rhai");
    let done: Vec<u64> = drawn.iter().map(|d| counts(d).0).collect();
    assert_eq!(done.first(), Some(&2), "{drawn:#?}");
    assert_eq!(done.last(), Some(&3), "{drawn:#?}");
    let resumed = final_screen(&screen);
    assert!(
        resumed.contains("unit 2 was cut short: its 5 record(s) will be made again"),
        "{resumed}"
    );
    assert!(resumed.ends_with(&text(&plain.stderr)), "{resumed}");
    assert!(!resumed.contains("units "), "{resumed}");
    p.remove("out");

    // --jobs 3: three units at once, each counted once.
    let screen = p.on_terminal(&with(&["--jobs", "3"]));
    let drawn = drawings(&screen, "selfchat.rhai");
    let seen: Vec<(u64, u64)> = drawn.iter().map(|d| counts(d)).collect();
    assert!(seen.iter().all(|&(d, t)| t == 3 && d <= 3), "{drawn:#?}");
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "{drawn:#?}");
    assert_eq!(seen.last(), Some(&(3, 3)), "{drawn:#?}");
    assert_eq!(final_screen(&screen), text(&plain.stderr));
}

#[test]
fn the_repl_never_shows_the_line() {
    let p = Project::new("repl");
    // Standard error on a terminal and the line asked for: the REPL still draws none, and
    // prints what it prints without it.
    let mut command = p.command(&[]);
    command.env("DRIFT_SCRIPT_PROGRESS", "1");
    let input = "progress(2);\nonce(\"a\", || { record(#{ x: 1 }); 1 })\nprint(\"between\");\nonce(\"b\", || 2)\n:quit\n";
    let script = p.dir.join("input.txt");
    std::fs::write(&script, input).unwrap();
    command.stdin(std::fs::File::open(&script).unwrap());
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills two descriptors we then own.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0);
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    let mut master = unsafe { std::fs::File::from_raw_fd(master) };
    command.stdout(Stdio::piped()).stderr(Stdio::from(slave));
    let child = command.spawn().unwrap();
    drop(command);
    let mut screen = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        screen.extend_from_slice(&buf[..n]);
    }
    let output = child.wait_with_output().unwrap();
    let screen = text(&screen);
    assert!(output.status.success(), "{screen}");
    assert!(screen.contains("[repl] between"), "{screen}");
    assert!(!screen.contains("units"), "{screen}");
    assert!(!screen.contains("\r["), "{screen}");
}

#[test]
fn forced_on_the_line_goes_to_a_pipe_and_a_wrong_total_is_reported() {
    let p = Project::new("forced");
    p.write(
        "units.rhai",
        "progress(3);\nonce(\"a\", || record(#{ x: 1 }));\nprint(\"middle\");\nonce(\"b\", || record(#{ x: 2 }));\n",
    );
    let output = p.piped(&["units.rhai", "--progress"]);
    let stderr = text(&output.stderr);
    let drawn = drawings(&stderr, "units.rhai");
    let done: Vec<u64> = drawn.iter().map(|d| counts(d).0).collect();
    assert_eq!(done.first(), Some(&0), "{drawn:#?}");
    assert_eq!(done.last(), Some(&2), "{drawn:#?}");
    // No model, no tokens: no rate; one unit finished, two left: a time left.
    assert!(
        drawn
            .iter()
            .any(|d| d.starts_with("[units.rhai] units 1/3, ") && d.ends_with(" left")),
        "{drawn:#?}"
    );
    assert!(!stderr.contains("tok/s"), "{stderr}");
    let screen = final_screen(&stderr);
    assert!(
        screen.starts_with(
            "[units.rhai] middle\n[units.rhai] warning: progress(3) declared 3 unit(s), but \
             the script has 2 once(…) unit(s); the progress line's counts and time left were off\n\
             results in "
        ),
        "{screen}"
    );
    // The same through the environment; the options win over it.
    let shown = |stderr: &str| {
        let done: Vec<u64> = drawings(stderr, "units.rhai")
            .iter()
            .map(|d| counts(d).0)
            .collect();
        (done, final_screen(stderr))
    };
    let expected = shown(&stderr);
    p.remove("selfchat");
    let mut forced = p.command(&["units.rhai"]);
    forced.env("DRIFT_SCRIPT_PROGRESS", "1");
    assert_eq!(shown(&text(&forced.output().unwrap().stderr)), expected);
    p.remove("selfchat");
    let mut on = p.command(&["units.rhai", "--progress"]);
    on.env("DRIFT_SCRIPT_PROGRESS", "0");
    assert_eq!(shown(&text(&on.output().unwrap().stderr)), expected);
    p.remove("selfchat");
    let mut off = p.command(&["units.rhai", "--no-progress"]);
    off.env("DRIFT_SCRIPT_PROGRESS", "1");
    assert_eq!(text(&off.output().unwrap().stderr), screen);
}

#[test]
fn bad_progress_settings_are_refused() {
    let p = Project::new("bad");
    p.write("negative.rhai", "progress(-1);\n");
    let output = p.command(&["negative.rhai"]).output().unwrap();
    assert!(!output.status.success());
    assert_eq!(
        text(&output.stderr),
        "error: negative.rhai:1:1: progress(-1): the number of units must be 0 or more\n"
    );
    assert!(!p.dir.join("selfchat").exists(), "nothing written");

    let mut env = p.command(&["negative.rhai"]);
    env.env("DRIFT_SCRIPT_PROGRESS", "yes");
    let output = env.output().unwrap();
    assert!(!output.status.success());
    assert_eq!(
        text(&output.stderr),
        "error: DRIFT_SCRIPT_PROGRESS=yes: expected 1 (always show the progress line), 0 \
         (never) or auto (when stderr is a terminal)\n"
    );

    let output = p
        .command(&["negative.rhai", "--progress", "--no-progress"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("'--progress' cannot be used with '--no-progress'"),
        "{stderr}"
    );
}

/// Ctrl-C while the line is drawn: the note that finished units are kept takes the line's
/// place, rather than leaving the last drawing on the screen above it.
#[test]
fn an_interrupt_clears_the_line_before_its_note() {
    let p = Project::new("interrupt");
    // One unit, then a loop until the interrupt (or the operation limit, a safety net).
    p.write(
        "spin.rhai",
        "progress(2);\nonce(\"a\", || record(#{ x: 1 }));\nlet n = 0;\nloop { n += 1; }\n",
    );
    let mut child = p
        .command(&["spin.rhai", "--progress", "--max-ops", "3000000000"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (sender, received) = std::sync::mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut chunk) {
            if n == 0 || sender.send(chunk[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut bytes = Vec::new();
    let started = std::time::Instant::now();
    while !text(&bytes).contains("[spin.rhai] units 1/2") {
        let chunk = received
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no drawing of the finished unit: {}", text(&bytes)));
        bytes.extend(chunk);
        assert!(started.elapsed().as_secs() < 60, "{}", text(&bytes));
    }
    // SAFETY: signals our own child, which is still running (it has not been waited for).
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let status = child.wait().unwrap();
    reader.join().unwrap();
    bytes.extend(received.try_iter().flatten());
    assert_eq!(status.code(), Some(130), "{}", text(&bytes));
    let screen = final_screen(&text(&bytes));
    assert!(
        screen.ends_with(
            "interrupted: the records of finished units are kept; run the same command again \
             to resume\n"
        ),
        "{screen}"
    );
    assert!(
        !screen.contains("units 1/2"),
        "the drawing stayed: {screen}"
    );
}
