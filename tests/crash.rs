//! Crashes and faults, through the real binary: runs of `scripts/selfchat.rhai` on the default
//! model killed with SIGKILL at every phase and resumed (`drift-script bench reliability`, whose
//! full version in the README tries 50 kill points), a file-size limit during record writing,
//! and a second process on a run folder that is in use.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn drift_script() -> Command {
    Command::new(env!("CARGO_BIN_EXE_drift-script"))
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Each kill phase once (prompt, decode, record, unit, final, merge, a random time) and the
/// faults: every resumed folder equals the uninterrupted run's.
#[test]
fn runs_killed_at_every_phase_resume_to_identical_records() {
    let run = drift_script()
        .args(["bench", "reliability", "--kills", "7", "--seed", "3"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let (out, err) = (stdout(&run), stderr(&run));
    assert!(run.status.success(), "{out}\n{err}");
    assert!(
        out.contains(
            "kill points tried: 7 (decode 1, final 1, merge 1, prompt 1, random-time 1, \
             record 1, unit 1)"
        ),
        "{out}"
    );
    assert!(out.contains("resumes identical: 7/7"), "{out}\n{err}");
    // Two file-size limits and two processes at once; a full tmpfs too where mounting works.
    let faults = out
        .lines()
        .find_map(|l| l.strip_prefix("faults survived: "))
        .unwrap_or_else(|| panic!("{out}"));
    let (survived, tried) = faults.split_once(' ').unwrap().0.split_once('/').unwrap();
    assert_eq!(survived, tried, "{out}\n{err}");
    assert!(tried.parse::<usize>().unwrap() >= 3, "{out}");
}

/// A throwaway project folder holding one model-free script.
struct Project(PathBuf);

impl Project {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("drift-crash-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // 30 units of one record each, about 300 bytes a record with its `_meta`; the text
        // has two-byte characters, so a cut can fall inside one.
        std::fs::write(
            dir.join("units.rhai"),
            r#"for i in 0..30 { once(i, || { record(#{ i: i, text: "réécrit à l'été, " + i }); }); }"#,
        )
        .unwrap();
        Project(dir)
    }

    fn command(&self, out: &str) -> Command {
        let mut command = drift_script();
        command
            .args(["units.rhai", "--out", out])
            .current_dir(&self.0);
        command
    }

    fn run_dir(&self, out: &str) -> PathBuf {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(self.0.join(out))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(dirs.len(), 1, "{dirs:?}");
        dirs.remove(0)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// records.jsonl with `_meta.time` removed.
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

/// A write that fails (here EFBIG from a file-size limit, as `ulimit -f` sets) ends the run with
/// status 1 and an error naming the file and the cause, never a signal; with the limit gone, the
/// same command resumes to the records of a run that never failed.
#[test]
fn a_failed_record_write_is_a_clear_error_and_the_folder_resumes() {
    let p = Project::new("fsize");
    let full = p.command("full").output().unwrap();
    assert!(full.status.success(), "{}", stderr(&full));
    let expected = records_without_time(&p.run_dir("full"));
    assert_eq!(expected.len(), 60, "30 records and 30 unit markers");

    let mut limited = p.command("limited");
    // SAFETY: only setrlimit(2) between fork and exec.
    unsafe {
        limited.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 4000,
                rlim_max: libc::RLIM_INFINITY,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let failed = limited.output().unwrap();
    let err = stderr(&failed);
    assert_eq!(failed.status.code(), Some(1), "{err}");
    let dir = p.run_dir("limited");
    assert!(
        err.contains(&format!(
            "cannot write {}: File too large (os error 27)",
            dir.join("records.jsonl").display()
        )),
        "{err}"
    );
    let cut = std::fs::metadata(dir.join("records.jsonl")).unwrap().len();
    assert_eq!(cut, 4000, "the file was written up to the limit");

    let resumed = p.command("limited").output().unwrap();
    let err = stderr(&resumed);
    assert!(resumed.status.success(), "{err}");
    assert!(err.contains("cut short when the last run stopped"), "{err}");
    assert_eq!(records_without_time(&dir), expected);
}

/// While a process holds a run folder, another one on the same folder stops before writing,
/// naming the holder's pid; once it is free, the run goes on.
#[test]
fn a_second_process_on_a_folder_in_use_stops_with_a_clear_error() {
    let p = Project::new("busy");
    let first = p.command("out").output().unwrap();
    assert!(first.status.success(), "{}", stderr(&first));
    let dir = p.run_dir("out");
    let before = std::fs::read(dir.join("records.jsonl")).unwrap();
    {
        // Held as a run holds it: an exclusive flock on `.lock`, holding the pid.
        let held = std::fs::File::create(dir.join(".lock")).unwrap();
        // SAFETY: flock(2) on a descriptor this test owns.
        let locked = unsafe {
            libc::flock(
                std::os::unix::io::AsRawFd::as_raw_fd(&held),
                libc::LOCK_EX | libc::LOCK_NB,
            )
        };
        assert_eq!(locked, 0);
        std::fs::write(dir.join(".lock"), std::process::id().to_string()).unwrap();
        let second = p.command("out").output().unwrap();
        let err = stderr(&second);
        assert_eq!(second.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!(
                "{} is in use by another drift-script process (pid {}), running the same \
                 script with the same settings",
                dir.display(),
                std::process::id()
            )),
            "{err}"
        );
        assert_eq!(
            std::fs::read(dir.join("records.jsonl")).unwrap(),
            before,
            "the second process wrote nothing"
        );
    }
    let third = p.command("out").output().unwrap();
    assert!(third.status.success(), "{}", stderr(&third));
    assert_eq!(std::fs::read(dir.join("records.jsonl")).unwrap(), before);
}
