//! Measuring both sides the same way: every timed run — ours and llama.cpp's — is a child
//! process of its own, and its peak resident memory is that child's `ru_maxrss` as `wait4`
//! returns it for that one process (not `RUSAGE_CHILDREN`, the maximum over every child ever
//! waited for, nor `RUSAGE_SELF`, which counts the benchmark's own bookkeeping).
//!
//! Our side runs as `drift-script bench ours-engine|ours-batch …` (the same options), which
//! prints one JSON line of figures; also the size of the weights in memory, beside the file's
//! tensor bytes. And the machine's memory bandwidth, the ceiling of a decode step that reads
//! every weight once.

use super::BenchArgs;
use anyhow::Context;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

/// What a child printed, how it ended, and its own peak resident memory.
pub struct Measured {
    pub status: std::process::ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub peak_rss_mb: f64,
}

/// Runs `command` to its end, reading its output, and returns its peak resident memory as
/// `wait4` reports it for that process alone.
///
/// The child is forked, not spawned with `posix_spawn` (std's default), which shares the
/// parent's memory until `exec` like `vfork`: Linux then carries the parent's own peak into the
/// child's `ru_maxrss` (at `exec` it keeps the peak of the memory it leaves), so every child
/// of a `bench scale` reported at least the 1 GiB of its bandwidth probe. A forked child's
/// count starts from the parent's current resident memory instead, a few MB here.
pub fn run_measured(mut command: Command) -> anyhow::Result<Measured> {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let program = command.get_program().to_string_lossy().into_owned();
    // SAFETY: the hook does nothing, so it is trivially async-signal-safe; its presence is what
    // makes std fork.
    unsafe { command.pre_exec(|| Ok(())) };
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {program}"))?;
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let stdout = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        out.read_to_end(&mut bytes).map(|_| bytes)
    });
    let stderr = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        err.read_to_end(&mut bytes).map(|_| bytes)
    });
    let mut raw_status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    loop {
        // SAFETY: `raw_status` and `usage` are valid out-parameters; `pid` is our child, not
        // yet waited for (`child` is never waited on through std).
        let r = unsafe { libc::wait4(pid, &mut raw_status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e).with_context(|| format!("waiting for {program}"));
        }
    }
    Ok(Measured {
        status: std::process::ExitStatus::from_raw(raw_status),
        stdout: stdout.join().expect("reader thread")?,
        stderr: stderr.join().expect("reader thread")?,
        // ru_maxrss is in KiB; MB here are 10^6 bytes, as in the `weights` line.
        peak_rss_mb: usage.ru_maxrss as f64 * 1024.0 / 1e6,
    })
}

/// `run_measured` that fails with the child's last line of standard error.
pub fn run_checked(command: Command) -> anyhow::Result<Measured> {
    let program = command.get_program().to_string_lossy().into_owned();
    let measured = run_measured(command)?;
    anyhow::ensure!(
        measured.status.success(),
        "{program} failed ({}): {}",
        measured.status,
        String::from_utf8_lossy(&measured.stderr)
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
    );
    Ok(measured)
}

/// Our side of a benchmark, as the child `drift-script bench ours-…` reports it.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct OursReport {
    /// Prompt tokens per second (engine; `None`: not measured).
    pub prompt: Option<f64>,
    /// Decode tokens per second, one sequence (engine; `None`: not measured).
    pub decode: Option<f64>,
    /// Aggregate decode tokens per second per batch size (batch).
    pub batch: Vec<(usize, f64)>,
    /// Bytes of weights the engine holds.
    pub weight_bytes: u64,
    #[serde(skip_deserializing)]
    pub peak_rss_mb: f64,
}

/// Runs our side of `which` (`engine` or `batch`) in a child process with `args`' options and
/// `threads` threads.
pub fn ours_in_child(
    which: &str,
    model: &Path,
    args: &BenchArgs,
    threads: usize,
) -> anyhow::Result<OursReport> {
    let exe = std::env::current_exe().context("locating drift-script's own executable")?;
    let mut command = Command::new(exe);
    command
        .arg("bench")
        .arg(format!("ours-{which}"))
        .arg("--model")
        .arg(model)
        .args(["--threads", &threads.to_string()])
        .args(["--repetitions", &args.repetitions.to_string()])
        .args(["--prompt-tokens", &args.prompt_tokens.to_string()])
        .args(["--decode-tokens", &args.decode_tokens.to_string()])
        .args(["--batch-prompt", &args.batch_prompt.to_string()])
        .args(["--batch-decode", &args.batch_decode.to_string()])
        .args(["--batch-sizes", &join(&args.batch_sizes)]);
    let measured = run_checked(command)?;
    let stdout = String::from_utf8(measured.stdout)?;
    let last = stdout.lines().last().unwrap_or("");
    let mut report: OursReport = serde_json::from_str(last)
        .with_context(|| format!("unexpected output from bench ours-{which}: {last}"))?;
    report.peak_rss_mb = measured.peak_rss_mb;
    Ok(report)
}

pub fn join(values: &[usize]) -> String {
    values
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Bytes of all tensor data in a GGUF file, from its header (what llama.cpp holds in memory,
/// and what one decode step reads when the embedding is also the output).
pub fn file_tensor_bytes(path: &Path) -> anyhow::Result<u64> {
    use candle_core::quantized::gguf_file;
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let content = gguf_file::Content::read(&mut file)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    Ok(content
        .tensor_infos
        .values()
        .map(|t| {
            let elements = t.shape.elem_count();
            (elements / t.ggml_dtype.block_size() * t.ggml_dtype.type_size()) as u64
        })
        .sum())
}

/// The machine's streaming read bandwidth in bytes per second with `threads` threads: the best
/// of a few passes summing a 1 GiB buffer (far beyond any L3 cache), each thread its own part.
pub fn read_bandwidth(threads: usize) -> f64 {
    const BYTES: usize = 1 << 30;
    let buffer: Vec<u64> = (0..BYTES / 8).map(|i| i as u64).collect();
    let part = buffer.len().div_ceil(threads.max(1));
    let mut best = 0f64;
    for _ in 0..4 {
        let started = std::time::Instant::now();
        let total: u64 = std::thread::scope(|scope| {
            let handles: Vec<_> = buffer
                .chunks(part)
                .map(|chunk| scope.spawn(move || sum_words(chunk)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        std::hint::black_box(total);
        best = best.max(BYTES as f64 / started.elapsed().as_secs_f64());
    }
    best
}

/// Eight independent sums, so the loop is bound by loads, not by one addition's latency.
fn sum_words(words: &[u64]) -> u64 {
    let mut lanes = [0u64; 8];
    let mut chunks = words.chunks_exact(8);
    for c in &mut chunks {
        for (lane, w) in lanes.iter_mut().zip(c) {
            *lane = lane.wrapping_add(*w);
        }
    }
    let tail: u64 = chunks.remainder().iter().fold(0, |a, w| a.wrapping_add(*w));
    lanes.iter().fold(tail, |a, l| a.wrapping_add(*l))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn python(code: &str) -> Command {
        let mut command = Command::new("python3");
        command.args(["-c", code]);
        command
    }

    /// Held by the tests that measure a small child: a forked child starts from this test
    /// process's resident memory, which another test holding 400 MB would raise.
    static PARENT_MEMORY: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn each_child_reports_its_own_peak_not_the_largest_so_far() {
        let _alone = PARENT_MEMORY.lock().unwrap_or_else(|e| e.into_inner());
        // 300 MB touched by the first child; the second holds almost nothing. A maximum over
        // all children (RUSAGE_CHILDREN) would give the second the first one's figure.
        let big = run_checked(python("b = bytearray(300_000_000); print(len(b))")).unwrap();
        assert_eq!(String::from_utf8_lossy(&big.stdout).trim(), "300000000");
        let small = run_checked(python("print('x')")).unwrap();
        assert!(big.peak_rss_mb > 290.0, "{}", big.peak_rss_mb);
        assert!(small.peak_rss_mb < 100.0, "{}", small.peak_rss_mb);
    }

    #[test]
    fn a_child_does_not_inherit_the_parents_peak() {
        let _alone = PARENT_MEMORY.lock().unwrap_or_else(|e| e.into_inner());
        // 400 MB touched and freed here first (as `bench scale`'s bandwidth probe does); a
        // child started with posix_spawn reported at least that much.
        let buffer: Vec<u8> = vec![1; 400_000_000];
        assert_eq!(std::hint::black_box(&buffer)[399_999_999], 1);
        drop(buffer);
        let small = run_checked(python("print('x')")).unwrap();
        assert!(small.peak_rss_mb < 100.0, "{}", small.peak_rss_mb);
    }

    #[test]
    fn a_failing_child_is_reported_with_its_last_line() {
        let measured = run_measured(python("import sys; sys.exit(3)")).unwrap();
        assert_eq!(measured.status.code(), Some(3));
        let err = run_checked(python("raise SystemExit('no model here')"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.starts_with("python3 failed (exit status: 1): no model here"),
            "{err}"
        );
    }

    #[test]
    fn sums_count_every_word() {
        let words: Vec<u64> = (1..=1003).collect();
        assert_eq!(sum_words(&words), 1003 * 1004 / 2);
    }
}
