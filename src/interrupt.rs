//! The process-wide "stop what you are doing" flag behind Ctrl-C in the REPL.
//!
//! SIGINT is process-wide, so the flag is too. Long-running work checks it at safe points: the
//! engine between prompt chunks and decoding steps, the script engine every few operations. The
//! REPL clears it before each line; batch runs end at once on SIGINT, as by default, which
//! loses nothing because records are written as they are made, but first say how to resume.
//!
//! Also the crash tests' hook (`DRIFT_SCRIPT_KILL_AT`, see `Phase`): points in a run where a test
//! can have the process killed with SIGKILL, and the handling of SIGXFSZ.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks running work to stop at its next check.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

pub fn clear() {
    REQUESTED.store(false, Ordering::SeqCst);
}

pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

/// Makes SIGINT set the flag instead of ending the process.
pub fn install_sigint_handler() {
    extern "C" fn on_sigint(_: libc::c_int) {
        // Only an atomic store: async-signal-safe.
        REQUESTED.store(true, Ordering::SeqCst);
    }
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
    }
}

/// For batch runs: SIGINT still ends the process at once, with status 130 as the default
/// action would, after one line on stderr saying that finished units are kept.
pub fn install_batch_sigint_note() {
    extern "C" fn on_sigint(_: libc::c_int) {
        const NOTE: &[u8] = b"\ninterrupted: the records of finished units are kept; run the same \
command again to resume\n";
        // A progress line is cleared, and the note takes its place; otherwise the note starts
        // on a line of its own (after the terminal's `^C`, or a line being written).
        let note = if crate::progress::clear_from_signal_handler() {
            &NOTE[1..]
        } else {
            NOTE
        };
        // SAFETY: write(2) and _exit(2) are async-signal-safe.
        unsafe {
            libc::write(2, note.as_ptr().cast(), note.len());
            libc::_exit(130);
        }
    }
    // SAFETY: the handler calls only async-signal-safe functions.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
    }
}

/// Places in a run's life where the crash tests (`drift-script bench reliability`,
/// tests/crash.rs) kill the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Before a chunk of prompt tokens is computed.
    Prompt,
    /// Before a decoding step.
    Decode,
    /// Halfway through writing a record's line.
    Record,
    /// Halfway through writing a unit's marker line.
    Unit,
    /// In the final rewrite of a run (`records.jsonl`, then `run.json`): the new file is
    /// written, not yet renamed into place.
    Final,
    /// The same, in `merge`.
    Merge,
}

impl Phase {
    pub const ALL: [Phase; 6] = [
        Phase::Prompt,
        Phase::Decode,
        Phase::Record,
        Phase::Unit,
        Phase::Final,
        Phase::Merge,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Prompt => "prompt",
            Phase::Decode => "decode",
            Phase::Record => "record",
            Phase::Unit => "unit",
            Phase::Final => "final",
            Phase::Merge => "merge",
        }
    }

    pub fn parse(name: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// The test hook's environment variable: `PHASE:N` kills the process with SIGKILL at the N-th
/// time (from 1) it reaches `PHASE`; `count` only counts, and `report_crash_points` prints
/// the counts at the end of a command. Unset (always, outside tests), each crash point costs one
/// load of an initialised `OnceLock`.
pub const KILL_AT_VARIABLE: &str = "DRIFT_SCRIPT_KILL_AT";

/// `None`: the hook is off. `Some(None)`: counting only.
static KILL_AT: std::sync::OnceLock<Option<Option<(Phase, u64)>>> = std::sync::OnceLock::new();
static MET: [std::sync::atomic::AtomicU64; 6] = [const { std::sync::atomic::AtomicU64::new(0) }; 6];

fn kill_at() -> Option<Option<(Phase, u64)>> {
    *KILL_AT.get_or_init(|| {
        let text = std::env::var(KILL_AT_VARIABLE).ok()?;
        if text == "count" {
            return Some(None);
        }
        let parsed = text.split_once(':').and_then(|(phase, n)| {
            Some((
                Phase::parse(phase)?,
                n.parse::<u64>().ok().filter(|&n| n >= 1)?,
            ))
        });
        if parsed.is_none() {
            let phases: Vec<&str> = Phase::ALL.iter().map(|p| p.name()).collect();
            crate::progress::eprintln(format_args!(
                "warning: ignoring {KILL_AT_VARIABLE}={text}: expected `count` or PHASE:N with \
                 N ≥ 1 and PHASE one of {}",
                phases.join(", ")
            ));
        }
        Some(parsed)
    })
}

/// Counts a pass through `phase`; true when the test hook wants the process killed here. The
/// caller may first leave things half done (half a line written), then calls `kill_now`.
pub fn at_crash_point(phase: Phase) -> bool {
    let Some(target) = kill_at() else {
        return false;
    };
    let n = MET[phase as usize].fetch_add(1, Ordering::SeqCst) + 1;
    target == Some((phase, n))
}

/// Kills the process here when the test hook says so (see `at_crash_point`).
pub fn crash_point(phase: Phase) {
    if at_crash_point(phase) {
        kill_now();
    }
}

/// Ends the process with a real SIGKILL: no destructors, no flushing, as a crash or the OOM
/// killer would.
pub fn kill_now() -> ! {
    // SAFETY: kill(2) on our own pid; SIGKILL cannot be caught.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    loop {
        std::thread::park();
    }
}

/// With the test hook on: one stderr line with how often each phase was reached, which the
/// crash harness reads to choose kill points.
pub fn report_crash_points() {
    if kill_at().is_none() {
        return;
    }
    let counts: Vec<String> = Phase::ALL
        .iter()
        .map(|p| format!("{}={}", p.name(), MET[*p as usize].load(Ordering::SeqCst)))
        .collect();
    eprintln!("crash points met: {}", counts.join(" "));
}

/// A file-size limit (`ulimit -f`) must end a write with an error (EFBIG), which the run
/// reports and resumes from, rather than kill the process with SIGXFSZ.
pub fn ignore_file_size_signal() {
    // SAFETY: setting a signal's disposition to SIG_IGN.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}
