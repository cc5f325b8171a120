//! Resource limits for scripts. Scripts are shared next to papers and run by strangers, so a
//! script must not be able to take the machine's memory or run forever: every limit is on by
//! default, settable on the command line (`--max-…`, 0 turns one off), and crossing one stops
//! the script with `file:line:column`, the limit's name and its value, never by aborting the
//! process (completed units stay, so a rerun resumes).
//!
//! Rhai checks sizes itself: strings, arrays and maps (nested values counted into their
//! container: an array holding arrays counts all their elements, and all the bytes of the
//! strings inside it count against the string limit), call depth, expression depth, and the
//! literals of the source. Two limits are ours, checked in the engine's progress hook, which
//! sees every operation: the operations budget (Rhai's own count restarts inside closures that
//! native functions call, such as `once` bodies and `map`, so it would not bound them) and the
//! memory budget, the process's peak resident memory (Rhai has no such limit; it also covers
//! what Rhai cannot size, such as Vectors), read every few operations: often when the budget is
//! near, rarely when it is far.

use rhai::EvalAltResult;
use rhai::ParseErrorType;
use std::sync::atomic::{AtomicU64, Ordering};

/// The limits a script runs under. 0 turns a size, memory or operations limit off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of string data in one value (`--max-string-size`).
    pub max_string_size: usize,
    /// Elements of one array, nested arrays included (`--max-array-size`).
    pub max_array_size: usize,
    /// Entries of one map, nested maps included (`--max-map-size`).
    pub max_map_size: usize,
    /// Script functions calling functions (`--max-call-depth`), at least 1.
    pub max_call_depth: usize,
    /// Nesting of expressions and statements in the source (`--max-expr-depth`), at least 1.
    pub max_expr_depth: usize,
    /// The process's resident memory in MB (`--max-memory`), models included.
    pub max_memory_mb: u64,
    /// Operations of one pass over the script, closures included (`--max-ops`).
    pub max_operations: u64,
}

/// 64 MiB of text in one value: far above any transcript, small enough that a string doubled
/// in a loop stops long before it matters.
pub const DEFAULT_MAX_STRING_SIZE: usize = 64 << 20;
/// 4 Mi elements (64 MB of values) in one array, nested ones included: an array pushed into
/// itself stops at about 350 MB.
pub const DEFAULT_MAX_ARRAY_SIZE: usize = 4 << 20;
/// 1 Mi entries in one map, nested ones included. `results()` holds the run's records as one
/// array of maps, and a record of `selfchat.rhai` is about 40 entries with its `_meta`, so this
/// allows some 26,000 records (the paper's 200 pairs with 10 probe answers per turn make about
/// 19,000); a map stored into itself stops at about 400 MB (each entry costs some 300 bytes).
pub const DEFAULT_MAX_MAP_SIZE: usize = 1 << 20;
/// Rhai's own default.
pub const DEFAULT_MAX_CALL_DEPTH: usize = 64;
/// Rhai's own default for top-level code (it allows 32 inside functions; we allow the same
/// everywhere).
pub const DEFAULT_MAX_EXPR_DEPTH: usize = 64;
/// Ten billion operations: minutes of pure script work, far more than any shipped script uses
/// (their work is in the model and the Rust functions they call), yet a loop that never ends
/// does end.
pub const DEFAULT_MAX_OPERATIONS: u64 = 10_000_000_000;
/// The most calls and expression levels the stack a pass runs on is sized for (see
/// `stack_bytes`).
pub const CEILING_DEPTH: usize = 10_000;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_string_size: DEFAULT_MAX_STRING_SIZE,
            max_array_size: DEFAULT_MAX_ARRAY_SIZE,
            max_map_size: DEFAULT_MAX_MAP_SIZE,
            max_call_depth: DEFAULT_MAX_CALL_DEPTH,
            max_expr_depth: DEFAULT_MAX_EXPR_DEPTH,
            max_memory_mb: default_max_memory_mb(),
            max_operations: DEFAULT_MAX_OPERATIONS,
        }
    }
}

/// Three quarters of the machine's physical memory, in MB (8 GB where it cannot be read).
pub fn default_max_memory_mb() -> u64 {
    // SAFETY: sysconf reads a system constant.
    let (pages, page) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if pages <= 0 || page <= 0 {
        return 8 * 1024;
    }
    (pages as u64 * page as u64 / (1 << 20)) * 3 / 4
}

/// The process's peak resident memory in bytes, if the system says.
fn peak_resident_bytes() -> Option<u64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes the struct it is given.
    let ok = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } == 0;
    // SAFETY: written above (or zeroed).
    let kb = unsafe { usage.assume_init() }.ru_maxrss;
    (ok && kb > 0).then_some(kb as u64 * 1024)
}

impl Limits {
    /// Checks the values given on the command line.
    pub fn validate(&self) -> Result<(), String> {
        for (value, flag) in [
            (self.max_call_depth, "--max-call-depth"),
            (self.max_expr_depth, "--max-expr-depth"),
        ] {
            if value == 0 || value > CEILING_DEPTH {
                return Err(format!(
                    "{flag} {value}: expected 1 to {CEILING_DEPTH} (deeper nesting would need \
                     more stack than a script is given)"
                ));
            }
        }
        Ok(())
    }

    /// Sets Rhai's own limits on `engine`.
    pub fn apply(&self, engine: &mut rhai::Engine) {
        engine.set_max_string_size(self.max_string_size);
        engine.set_max_array_size(self.max_array_size);
        engine.set_max_map_size(self.max_map_size);
        engine.set_max_call_levels(self.max_call_depth);
        engine.set_max_expr_depths(self.max_expr_depth, self.max_expr_depth);
    }

    /// Stack for a thread that runs a pass: room for the deepest calls and expressions these
    /// limits allow (measured: a Rhai call level takes under 20 KB of stack in release builds;
    /// parsing a nesting level far less), and never less than the main thread's 8 MB.
    pub fn stack_bytes(&self) -> usize {
        let levels = self.max_call_depth.max(self.max_expr_depth);
        (8 << 20usize).max(levels.saturating_mul(64 << 10))
    }

    /// The text of a limit error, or `None` for any other error.
    pub fn message(&self, error: &EvalAltResult) -> Option<String> {
        Some(match error {
            EvalAltResult::ErrorDataTooLarge(what, _) => self.data_message(what, false)?,
            EvalAltResult::ErrorStackOverflow(_) => format!(
                "functions called deeper than the limit of {} calls (--max-call-depth)",
                self.max_call_depth
            ),
            EvalAltResult::ErrorTooManyOperations(_) => self.operations_message(),
            EvalAltResult::ErrorParsing(ParseErrorType::ExprTooDeep, _) => format!(
                "expression nested deeper than the limit of {} levels (--max-expr-depth)",
                self.max_expr_depth
            ),
            EvalAltResult::ErrorParsing(ParseErrorType::LiteralTooLarge(what, _), _) => {
                self.data_message(what, true)?
            }
            _ => return None,
        })
    }

    fn data_message(&self, what: &str, literal: bool) -> Option<String> {
        let literal = if literal { " literal" } else { "" };
        Some(if what.starts_with("Length of string") {
            format!(
                "string{literal} longer than the limit of {} bytes (--max-string-size)",
                self.max_string_size
            )
        } else if what.starts_with("Size of array") {
            format!(
                "array{literal} larger than the limit of {} elements, nested arrays counted \
                 (--max-array-size)",
                self.max_array_size
            )
        } else if what.starts_with("Size of object map")
            || what.starts_with("Number of properties in object map")
        {
            format!(
                "map{literal} larger than the limit of {} entries, nested maps counted \
                 (--max-map-size)",
                self.max_map_size
            )
        } else {
            return None;
        })
    }

    fn operations_message(&self) -> String {
        format!(
            "Too many operations: more than the limit of {} (--max-ops)",
            self.max_operations
        )
    }
}

/// The progress hook's state for one engine: operations counted over a pass (closures
/// included) and when to read the memory next.
pub struct Budget {
    limits: Limits,
    operations: AtomicU64,
    next_memory_check: AtomicU64,
    /// The most bytes one operation can add: the largest value the size limits allow.
    step_bytes: u64,
}

impl Budget {
    pub fn new(limits: &Limits) -> Self {
        let string = match limits.max_string_size {
            0 => 64 << 20,
            n => n as u64,
        };
        let step_bytes = string
            .max(limits.max_array_size as u64 * 32)
            .max(limits.max_map_size as u64 * 64)
            .max(1 << 20);
        Budget {
            limits: limits.clone(),
            operations: AtomicU64::new(0),
            next_memory_check: AtomicU64::new(0),
            step_bytes,
        }
    }

    /// A new pass (or REPL entry) starts counting from zero.
    pub fn reset(&self) {
        self.operations.store(0, Ordering::Relaxed);
        self.next_memory_check.store(0, Ordering::Relaxed);
    }

    /// Called for every operation: the message that ends the script, if a budget is spent.
    pub fn check(&self) -> Option<String> {
        let n = self.operations.fetch_add(1, Ordering::Relaxed) + 1;
        let max_ops = self.limits.max_operations;
        if max_ops > 0 && n > max_ops {
            return Some(self.limits.operations_message());
        }
        let max_mb = self.limits.max_memory_mb;
        if max_mb == 0 || n < self.next_memory_check.load(Ordering::Relaxed) {
            return None;
        }
        let budget = max_mb.saturating_mul(1 << 20);
        let Some(held) = peak_resident_bytes() else {
            // Cannot be measured here: stop asking.
            self.next_memory_check.store(u64::MAX, Ordering::Relaxed);
            return None;
        };
        if held > budget {
            return Some(format!(
                "the process holds {} MB, over the limit of {max_mb} MB (--max-memory)",
                held >> 20
            ));
        }
        // Read again before the largest values the size limits allow could fill the headroom.
        let step = ((budget - held) / self.step_bytes).clamp(1, 1024);
        self.next_memory_check.store(n + step, Ordering::Relaxed);
        None
    }
}
