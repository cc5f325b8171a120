//! `drift-script bench reliability [--kills N] [--seed S]`: kills real runs of
//! `scripts/selfchat.rhai` (short settings, the default model, a fixed run seed) with SIGKILL,
//! runs them again to the end, and checks that each resumed run folder equals an uninterrupted
//! run's byte for byte, `_meta.time` aside; then faults: a file-size limit and a full disk
//! during record writing, and two processes started on one run folder at once. Prints the
//! figures: kill points tried (by phase), resumes identical, faults survived.
//!
//! Kill points are chosen with `--seed` (the harness's own, not the run's): each phase of
//! `interrupt::Phase` once (the final rewrite and the merge at their last write), plus a kill at
//! a random time from outside, then random ones of all of these. A phase kill uses the `DRIFT_SCRIPT_KILL_AT=PHASE:N` test hook, with N drawn from
//! 1 to the number of times an uninterrupted run reaches that phase. Must run in the
//! repository (it needs `scripts/selfchat.rhai`). tests/crash.rs runs a small version.

use super::BenchArgs;
use crate::interrupt::{KILL_AT_VARIABLE, Phase};
use anyhow::{Context, bail, ensure};
use std::collections::BTreeMap;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const SCRIPT: &str = "scripts/selfchat.rhai";
/// Short settings: three units of four messages, one probe answer per agent turn.
const SETTINGS: &[&str] = &[
    "--set",
    "turns=4",
    "--set",
    "runs=1",
    "--set",
    "pairs=3",
    "--set",
    "max_tokens=16",
    "--seed",
    "7",
];

/// Where a run is killed: at a phase's N-th crash point, or from outside after a delay.
#[derive(Clone, Copy, Debug)]
enum KillPoint {
    At(Phase, u64),
    AfterMs(u64),
}

impl KillPoint {
    fn kind(&self) -> &'static str {
        match self {
            KillPoint::At(phase, _) => phase.name(),
            KillPoint::AfterMs(_) => "random-time",
        }
    }
}

/// The run folder files compared, each as text with `_meta.time` blanked (the folder lock's
/// pid aside, every file is compared).
type Folder = BTreeMap<String, Vec<u8>>;

struct Harness {
    exe: PathBuf,
    project: PathBuf,
    work: PathBuf,
    model: String,
    threads: usize,
}

impl Harness {
    fn command(&self, extra: &[&str], out: &Path) -> Command {
        let mut command = Command::new(&self.exe);
        command
            .current_dir(&self.project)
            .arg(SCRIPT)
            .args(SETTINGS)
            .args([
                "--model",
                &self.model,
                "--threads",
                &self.threads.to_string(),
            ])
            .arg("--out")
            .arg(out)
            .args(extra)
            .env_remove(KILL_AT_VARIABLE)
            .stdin(Stdio::null());
        command
    }

    fn merge_command(&self, shards: &[PathBuf], out: &Path) -> Command {
        let mut command = Command::new(&self.exe);
        command
            .current_dir(&self.project)
            .arg("merge")
            .args(shards)
            .arg("-o")
            .arg(out)
            .env_remove(KILL_AT_VARIABLE)
            .stdin(Stdio::null());
        command
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.work.join(name)
    }
}

fn output(command: &mut Command) -> anyhow::Result<Output> {
    command
        .output()
        .with_context(|| format!("cannot start {command:?}"))
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn succeeded(what: &str, output: &Output) -> anyhow::Result<()> {
    ensure!(
        output.status.success(),
        "{what} failed ({}):\n{}",
        output.status,
        stderr(output)
    );
    Ok(())
}

/// The counts `interrupt::report_crash_points` printed.
fn crash_counts(output: &Output) -> anyhow::Result<BTreeMap<String, u64>> {
    let text = stderr(output);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("crash points met: "))
        .with_context(|| format!("no crash point counts in:\n{text}"))?;
    Ok(line
        .split_whitespace()
        .filter_map(|item| {
            let (name, n) = item.split_once('=')?;
            Some((name.to_string(), n.parse().ok()?))
        })
        .collect())
}

/// The one run folder a run made under `out`.
fn run_folder(out: &Path) -> anyhow::Result<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .with_context(|| format!("reading {}", out.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    ensure!(
        dirs.len() == 1,
        "{} holds {} run folders, expected one",
        out.display(),
        dirs.len()
    );
    Ok(dirs.remove(0))
}

/// `"time":"…"` values blanked, everything else byte for byte.
fn without_time(bytes: &[u8]) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return bytes.to_vec();
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("\"time\":\"") {
        let value = i + "\"time\":\"".len();
        out.push_str(&rest[..value]);
        rest = &rest[value..];
        let end = rest.find('"').unwrap_or(rest.len());
        out.push('…');
        rest = &rest[end..];
    }
    out.push_str(rest);
    out.into_bytes()
}

/// Every file of a run folder but its lock, `_meta.time` blanked.
fn read_folder(dir: &Path) -> anyhow::Result<Folder> {
    let mut files = Folder::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == ".lock" {
            continue;
        }
        files.insert(name, without_time(&std::fs::read(entry.path())?));
    }
    Ok(files)
}

/// What differs between two folders, or `None`.
fn difference(expected: &Folder, got: &Folder) -> Option<String> {
    if expected.keys().ne(got.keys()) {
        return Some(format!(
            "files {:?}, expected {:?}",
            got.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>()
        ));
    }
    for (name, bytes) in expected {
        let other = &got[name];
        if bytes != other {
            let line = bytes
                .split(|&b| b == b'\n')
                .zip(other.split(|&b| b == b'\n'))
                .position(|(a, b)| a != b)
                .map_or("a line count".into(), |i| format!("line {}", i + 1));
            return Some(format!("{name} differs at {line}"));
        }
    }
    None
}

/// A small seeded generator (splitmix64): the harness's choices only.
struct Choices(u64);

impl Choices {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `1..=n`.
    fn one_to(&mut self, n: u64) -> u64 {
        1 + self.next() % n.max(1)
    }
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    ensure!(args.kills >= 1, "--kills must be at least 1");
    let project = std::env::current_dir()?;
    ensure!(
        project.join(SCRIPT).is_file(),
        "bench reliability runs {SCRIPT}: start it in the drift-script repository"
    );
    let work = std::env::temp_dir().join(format!("drift-reliability-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let harness = Harness {
        exe: std::env::current_exe()?,
        project,
        work: work.clone(),
        model: args.model.clone(),
        threads: args.threads,
    };
    let result = measure(&harness, args);
    match &result {
        Ok(true) => {
            let _ = std::fs::remove_dir_all(&work);
        }
        _ => eprintln!("reliability: folders kept in {}", work.display()),
    }
    if !result? {
        bail!("reliability: some resumed runs differ from the uninterrupted one (see above)");
    }
    Ok(())
}

/// Runs everything; true when every resumed run and every fault ended as it should.
fn measure(h: &Harness, args: &BenchArgs) -> anyhow::Result<bool> {
    say!(
        "reliability: {SCRIPT} {} on {}, {} thread(s); kill points from seed {}",
        SETTINGS.join(" "),
        h.model,
        h.threads,
        args.seed
    );
    // The uninterrupted run, counting its crash points.
    let started = Instant::now();
    let out = h.dir("reference");
    let reference = output(h.command(&[], &out).env(KILL_AT_VARIABLE, "count"))?;
    let reference_time = started.elapsed();
    succeeded("the uninterrupted run", &reference)?;
    let mut counts = crash_counts(&reference)?;
    let expected = read_folder(&run_folder(&out)?)?;
    // Two shards and their merge, the merge counting its crash points.
    let mut shards = Vec::new();
    for i in 0..2 {
        let out = h.dir(&format!("shard-{i}"));
        let shard = output(&mut h.command(&["--shard", &format!("{i}/2")], &out))?;
        succeeded(&format!("shard {i}/2"), &shard)?;
        shards.push(run_folder(&out)?);
    }
    // With two workers (`--jobs 2`) the records are the same, and units end in any order, so
    // the final rewrite may have to put them back in script order.
    let out = h.dir("reference-jobs-2");
    let jobs = output(
        h.command(&["--jobs", "2"], &out)
            .env(KILL_AT_VARIABLE, "count"),
    )?;
    succeeded("the uninterrupted run with --jobs 2", &jobs)?;
    if let Some(difference) = difference(&expected, &read_folder(&run_folder(&out)?)?) {
        bail!("the run with --jobs 2 differs from the one with --jobs 1: {difference}");
    }
    let jobs_counts = crash_counts(&jobs)?;
    let merged_dir = h.dir("merged");
    let merged = output(
        h.merge_command(&shards, &merged_dir)
            .env(KILL_AT_VARIABLE, "count"),
    )?;
    succeeded("the merge", &merged)?;
    counts.insert("merge".into(), crash_counts(&merged)?["merge"]);
    let expected_merge = read_folder(&merged_dir)?;
    let records = |folder: &Folder| folder.get("records.jsonl").cloned();
    ensure!(
        records(&expected_merge) == records(&expected),
        "the merged shards' records differ from the unsharded run's"
    );
    let list = |counts: &BTreeMap<String, u64>| {
        counts
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    say!(
        "uninterrupted run: {:.1} s; crash points met: {} (with --jobs 2: {})",
        reference_time.as_secs_f64(),
        list(&counts),
        list(&jobs_counts)
    );

    // Kill points: each phase once and one random-time kill, then random choices.
    let mut choices = Choices(args.seed);
    let kinds: Vec<Option<Phase>> = Phase::ALL.iter().copied().map(Some).chain([None]).collect();
    let mut tried: BTreeMap<&'static str, (usize, usize)> = BTreeMap::new();
    let mut all_identical = true;
    let mut distinct = std::collections::BTreeSet::new();
    let mut with_two_workers = 0;
    for i in 0..args.kills {
        let kind = if i < kinds.len() {
            kinds[i]
        } else {
            kinds[choices.next() as usize % kinds.len()]
        };
        // Every other random kill of a record, unit marker or final rewrite, or at a random
        // time, is of a run with `--jobs 2` (resumed with `--jobs 2`): those phases are met
        // as often with two workers (the final rewrite at least once), while prompt chunks and
        // decoding steps depend on how the workers' answers happen to share batches.
        let two_workers = i >= kinds.len()
            && i % 2 == 1
            && matches!(
                kind,
                None | Some(Phase::Record | Phase::Unit | Phase::Final)
            );
        let counts = if two_workers { &jobs_counts } else { &counts };
        let point = match kind {
            // The first final and merge kills come at the last write, when the most is on disk
            // (records.jsonl, or run.json, already replaced).
            Some(phase @ (Phase::Final | Phase::Merge)) if i < kinds.len() => {
                KillPoint::At(phase, counts[phase.name()])
            }
            Some(Phase::Final) if two_workers => KillPoint::At(Phase::Final, 1),
            Some(phase) => KillPoint::At(phase, choices.one_to(counts[phase.name()])),
            None => {
                let span = reference_time.as_millis() as u64;
                KillPoint::AfterMs(choices.next() % span.max(1))
            }
        };
        let jobs: &[&str] = if two_workers { &["--jobs", "2"] } else { &[] };
        let outcome = kill_and_resume(h, point, jobs, i, &shards, &expected, &expected_merge)?;
        let entry = tried.entry(point.kind()).or_default();
        entry.0 += 1;
        distinct.insert(format!("{point:?} {jobs:?}"));
        if two_workers {
            with_two_workers += 1;
        }
        let verdict = match &outcome {
            None => {
                entry.1 += 1;
                "identical".to_string()
            }
            Some(difference) => {
                all_identical = false;
                format!("DIFFERS: {difference}")
            }
        };
        eprintln!(
            "kill {}/{}: {point:?}{} → resumed, {verdict}",
            i + 1,
            args.kills,
            if two_workers { " with --jobs 2" } else { "" }
        );
    }
    let total: usize = tried.values().map(|t| t.0).sum();
    let identical: usize = tried.values().map(|t| t.1).sum();
    say!(
        "kill points tried: {total} ({})",
        tried
            .iter()
            .map(|(k, (n, _))| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    say!(
        "distinct kill points: {}; runs with --jobs 2: {with_two_workers}; random-time kills \
         that came before the run's end: {}",
        distinct.len(),
        RANDOM_KILLS_LANDED.load(std::sync::atomic::Ordering::SeqCst)
    );
    say!("resumes identical: {identical}/{total}");

    let faults = faults(h, &expected)?;
    let survived = faults.iter().filter(|f| f.1.is_none()).count();
    for (name, problem) in &faults {
        match problem {
            None => eprintln!("fault {name}: survived"),
            Some(problem) => eprintln!("fault {name}: NOT survived: {problem}"),
        }
    }
    say!(
        "faults survived: {survived}/{} ({})",
        faults.len(),
        faults
            .iter()
            .map(|f| f.0.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(all_identical && survived == faults.len())
}

/// Random-time kills that came before the run had ended (the others test a finished run).
static RANDOM_KILLS_LANDED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Kills one run (or merge) at `point`, runs it again, and compares; `None` when identical.
fn kill_and_resume(
    h: &Harness,
    point: KillPoint,
    jobs: &[&str],
    index: usize,
    shards: &[PathBuf],
    expected: &Folder,
    expected_merge: &Folder,
) -> anyhow::Result<Option<String>> {
    let out = h.dir(&format!("kill-{index}"));
    if let KillPoint::At(Phase::Merge, n) = point {
        let killed = output(
            h.merge_command(shards, &out)
                .env(KILL_AT_VARIABLE, format!("merge:{n}")),
        )?;
        if killed.status.signal() != Some(libc::SIGKILL) {
            return Ok(Some(format!(
                "the merge was not killed ({}): {}",
                killed.status,
                stderr(&killed)
            )));
        }
        let rerun = output(&mut h.merge_command(shards, &out))?;
        if !rerun.status.success() {
            return Ok(Some(format!("merging again failed: {}", stderr(&rerun))));
        }
        return Ok(difference(expected_merge, &read_folder(&out)?));
    }
    match point {
        KillPoint::At(phase, n) => {
            let killed = output(
                h.command(jobs, &out)
                    .env(KILL_AT_VARIABLE, format!("{}:{n}", phase.name())),
            )?;
            if killed.status.signal() != Some(libc::SIGKILL) {
                return Ok(Some(format!(
                    "the run was not killed ({}): {}",
                    killed.status,
                    stderr(&killed)
                )));
            }
        }
        KillPoint::AfterMs(ms) => {
            let mut child = h
                .command(jobs, &out)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            std::thread::sleep(Duration::from_millis(ms));
            // SAFETY: kill(2) on our own child, not yet waited for, so its pid is still ours.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGKILL);
            }
            if child.wait()?.signal() == Some(libc::SIGKILL) {
                RANDOM_KILLS_LANDED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
    }
    let rerun = output(&mut h.command(jobs, &out))?;
    if !rerun.status.success() {
        return Ok(Some(format!("the rerun failed: {}", stderr(&rerun))));
    }
    Ok(difference(expected, &read_folder(&run_folder(&out)?)?))
}

/// Each fault by name, with `None` when the run ended with a clear error and resumed to the
/// uninterrupted run's folder, or what went wrong.
fn faults(h: &Harness, expected: &Folder) -> anyhow::Result<Vec<(String, Option<String>)>> {
    let size = expected.get("records.jsonl").map_or(0, |r| r.len() as u64);
    let mut results = Vec::new();
    // A file-size limit (`ulimit -f`), so that a write fails with EFBIG at about a third and
    // at two thirds of the records.
    for (i, limit) in [size / 3, 2 * size / 3].into_iter().enumerate() {
        let out = h.dir(&format!("fsize-{i}"));
        let mut command = h.command(&[], &out);
        // SAFETY: only setrlimit(2), async-signal-safe, between fork and exec.
        unsafe {
            command.pre_exec(move || {
                let rlimit = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: libc::RLIM_INFINITY,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let limited = output(&mut command)?;
        let problem = expect_clear_error(&limited, "File too large")
            .or_else(|| resume_and_compare(h, &out, expected));
        results.push((format!("file-size limit at {limit} bytes"), problem));
    }
    // A full disk: a tmpfs too small for the records, then made larger (needs root).
    let mount = h.dir("tmpfs");
    std::fs::create_dir_all(&mount)?;
    let pages = size.div_ceil(2 * 4096).max(1);
    let mounted = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={}k", pages * 4),
            "tmpfs",
        ])
        .arg(&mount)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if mounted {
        let out = mount.join("out");
        let full = output(&mut h.command(&[], &out))?;
        let mut problem = expect_clear_error(&full, "No space left on device");
        let grown = Command::new("mount")
            .args(["-o", "remount,size=64m"])
            .arg(&mount)
            .status()
            .is_ok_and(|s| s.success());
        if problem.is_none() {
            problem = if grown {
                resume_and_compare(h, &out, expected)
            } else {
                Some("could not make the tmpfs larger".into())
            };
        }
        let _ = Command::new("umount").arg(&mount).status();
        results.push((format!("full disk ({} KiB tmpfs)", pages * 4), problem));
    } else {
        eprintln!("fault full disk: skipped (mounting a tmpfs needs root)");
    }
    // Two processes on one run folder at once: one runs, the other stops with a clear error
    // before writing; nothing is duplicated or lost, and running the loser again finds the
    // run done.
    let out = h.dir("two-at-once");
    let spawn = || {
        h.command(&[], &out)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    };
    let (first, second) = (spawn()?, spawn()?);
    let (first, second) = (first.wait_with_output()?, second.wait_with_output()?);
    let busy = |o: &Output| stderr(o).contains("is in use by another drift-script process");
    let problem = match (first.status.success(), second.status.success()) {
        (true, true) => None, // the second started after the first had ended: also right
        (true, false) if busy(&second) => None,
        (false, true) if busy(&first) => None,
        _ => Some(format!(
            "unexpected endings: {} and {}:\n{}\n{}",
            first.status,
            second.status,
            stderr(&first),
            stderr(&second)
        )),
    }
    .or_else(|| resume_and_compare(h, &out, expected));
    results.push(("two processes on one folder".into(), problem));
    Ok(results)
}

/// `None` when the run failed with an error (not a signal) naming `cause` and the records file.
fn expect_clear_error(run: &Output, cause: &str) -> Option<String> {
    let text = stderr(run);
    if run.status.success() {
        return Some("the run did not fail (the fault was not reached)".into());
    }
    if run.status.code() != Some(1) || !text.contains(cause) || !text.contains("records.jsonl") {
        return Some(format!(
            "expected exit status 1 and an error naming records.jsonl and `{cause}`, got {}:\n{text}",
            run.status
        ));
    }
    None
}

fn resume_and_compare(h: &Harness, out: &Path, expected: &Folder) -> Option<String> {
    let rerun = match output(&mut h.command(&[], out)) {
        Ok(rerun) => rerun,
        Err(e) => return Some(e.to_string()),
    };
    if !rerun.status.success() {
        return Some(format!("the rerun failed: {}", stderr(&rerun)));
    }
    match run_folder(out).and_then(|dir| read_folder(&dir)) {
        Ok(folder) => difference(expected, &folder),
        Err(e) => Some(e.to_string()),
    }
}
