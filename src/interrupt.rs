//! The process-wide "stop what you are doing" flag behind Ctrl-C in the REPL.
//!
//! SIGINT is process-wide, so the flag is too. Long-running work checks it at safe points: the
//! engine between prompt chunks and decoding steps, the script engine every few operations. The
//! REPL clears it before each line; batch runs end at once on SIGINT, as by default, which
//! loses nothing because records are written as they are made, but first say how to resume.

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
        // SAFETY: write(2) and _exit(2) are async-signal-safe.
        unsafe {
            libc::write(2, NOTE.as_ptr().cast(), NOTE.len());
            libc::_exit(130);
        }
    }
    // SAFETY: the handler calls only async-signal-safe functions.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
    }
}
