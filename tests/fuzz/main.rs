//! Fuzzing in CI: structure-aware targets over every input drift-script reads from a stranger
//! (scripts, persona libraries, the paper's persona file, model files, tokenizers, chat
//! templates, run folders, HTTP responses). Each runs a fixed number of seeded cases in
//! `cargo test --release --test fuzz`; `DRIFT_FUZZ_CASES=100000` runs more, `DRIFT_FUZZ_SEED`
//! another stream. No input may panic, hang, or allocate without bound: each must end with a
//! result or a clear error.
//!
//! The tool: a seeded ChaCha8 driver (`harness.rs`) over generators written per format, not
//! proptest or `arbitrary`. The generators must know each format's structure (a GGUF header's
//! field offsets, a run folder's unit markers, the host's function signatures) to reach past
//! the first check, which neither crate gives; a fixed seed per (target, case) makes every case
//! reproducible by number and the suite deterministic; and it needs no crate beyond the
//! `rand_chacha` the tool already uses, so it builds offline on stable Rust. What we give up,
//! proptest's shrinking, matters less here: found inputs are saved whole into the corpus.
//!
//! Unbounded allocation: this binary's global allocator refuses any single allocation over
//! 1 GiB, or more than 6 GiB live at once, by saving the running case's input to the corpus
//! and aborting with a message (an allocator must not unwind), so a header that declares a
//! 2^60-byte string fails the suite instead of the machine.

mod gguf;
mod harness;
mod http;
mod paper;
mod persona;
mod safetensors;
mod script;
mod store;
mod template;
mod tokenizer;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

const MAX_ONE_ALLOCATION: usize = 1 << 30;
const MAX_LIVE: usize = 6 << 30;

struct CappedAllocator;

static LIVE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Set while reporting, so the report's own allocations pass.
    static REPORTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a block of `size` bytes (a new one, or one grown to that size) passes the cap.
fn over_cap(size: usize) -> bool {
    let live = LIVE.load(Ordering::Relaxed);
    (size > MAX_ONE_ALLOCATION || live.saturating_add(size) > MAX_LIVE)
        && !REPORTING.try_with(|r| r.get()).unwrap_or(true)
}

#[cold]
fn report_and_abort(size: usize) -> ! {
    let _ = REPORTING.try_with(|r| r.set(true));
    let saved = harness::save_current_input();
    // Straight to the file descriptor: the test harness's capture of `eprintln!` is lost when
    // the process aborts.
    let message = format!(
        "fuzz: an allocation of {size} bytes ({} live) passes the cap ({MAX_ONE_ALLOCATION} \
         bytes at once, {MAX_LIVE} live); input saved as {saved:?}\n{}\n",
        LIVE.load(Ordering::Relaxed),
        std::backtrace::Backtrace::force_capture()
    );
    let _ = std::io::Write::write_all(&mut std::io::stderr(), message.as_bytes());
    std::process::abort();
}

// SAFETY: every call is passed to the system allocator unchanged; only counted.
unsafe impl GlobalAlloc for CappedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if over_cap(layout.size()) {
            report_and_abort(layout.size());
        }
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if over_cap(layout.size()) {
            report_and_abort(layout.size());
        }
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() && over_cap(new_size) {
            report_and_abort(new_size);
        }
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CappedAllocator = CappedAllocator;
