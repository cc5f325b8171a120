//! The process-wide "stop what you are doing" flag behind Ctrl-C in the REPL.
//!
//! SIGINT is process-wide, so the flag is too. Long-running work checks it at safe points: the
//! engine between prompt chunks and decoding steps, the script engine every few operations. The
//! REPL clears it before each line; batch runs keep the default SIGINT behaviour (exit), which
//! loses nothing because records are written as they are made.

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
