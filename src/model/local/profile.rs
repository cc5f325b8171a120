//! Where forward-pass time goes: wall time per phase, accumulated across calls while profiling
//! is on (`drift-script bench profile`, or `DRIFT_SCRIPT_PROFILE=1` on a script run or on `bench
//! episode`, which print the table at the end). Off, a phase costs one relaxed atomic load.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Embedding rows, RoPE angles, buffer sizing.
    Setup,
    /// RMSNorm before attention and before the feed-forward block.
    Norm,
    /// The stacked q, k, v projection.
    QkvProjection,
    /// Bias, RoPE and writing keys and values into the cache.
    RopeAndCache,
    /// Scores, softmax, hooks and weighted sums of values.
    Attention,
    /// The attention output projection and residual add.
    OutputProjection,
    /// The stacked gate and up projection.
    GateUp,
    /// SiLU(gate) · up.
    Swiglu,
    /// The down projection and residual add.
    Down,
    /// Final norm and the vocabulary projection.
    Logits,
    /// Drawing tokens from logits (top-p, temperature, guidance).
    Sampling,
}

pub const PHASES: [Phase; 11] = [
    Phase::Setup,
    Phase::Norm,
    Phase::QkvProjection,
    Phase::RopeAndCache,
    Phase::Attention,
    Phase::OutputProjection,
    Phase::GateUp,
    Phase::Swiglu,
    Phase::Down,
    Phase::Logits,
    Phase::Sampling,
];

static ENABLED: AtomicBool = AtomicBool::new(false);
static NANOS: [AtomicU64; PHASES.len()] = [const { AtomicU64::new(0) }; PHASES.len()];
/// The work of the forward passes run while profiling, field by field of `PassWork`.
static WORK: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

/// What one forward pass did, counted from its shape (not measured), so that the table can say
/// how much work the time bought and how close each part ran to the machine's limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassWork {
    /// Scores and weighted sums of values.
    pub attention_multiply_adds: u64,
    /// The layers' projections and the vocabulary projection.
    pub matrix_multiply_adds: u64,
    /// Bytes of keys and values the attention kernels load: blocks that a pass's rows share
    /// once per pass, every other block once per row (keys in the score phase, values in
    /// the sum phase).
    pub key_value_bytes: u64,
    /// Bytes of weight matrices the pass multiplies by: every layer's, and the vocabulary
    /// projection's when some row's logits are asked for.
    pub weight_bytes: u64,
}

impl PassWork {
    fn fields(&self) -> [u64; 4] {
        [
            self.attention_multiply_adds,
            self.matrix_multiply_adds,
            self.key_value_bytes,
            self.weight_bytes,
        ]
    }
}

/// The phases whose time the matrix products' multiply-adds are set against.
const MATRIX_PHASES: [Phase; 5] = [
    Phase::QkvProjection,
    Phase::OutputProjection,
    Phase::GateUp,
    Phase::Down,
    Phase::Logits,
];

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Setup => "setup (embedding, RoPE angles)",
            Phase::Norm => "RMSNorm",
            Phase::QkvProjection => "q/k/v projection",
            Phase::RopeAndCache => "bias, RoPE, KV cache writes",
            Phase::Attention => "attention",
            Phase::OutputProjection => "attention output projection",
            Phase::GateUp => "gate/up projection",
            Phase::Swiglu => "SwiGLU",
            Phase::Down => "down projection",
            Phase::Logits => "final norm + vocabulary projection",
            Phase::Sampling => "sampling",
        }
    }
}

/// Turns profiling on (from the environment variable `DRIFT_SCRIPT_PROFILE` or explicitly).
pub fn enable(on: bool) {
    ENABLED.store(on, Relaxed);
}

/// Turns profiling on if `DRIFT_SCRIPT_PROFILE` is set (and not `0`); says whether it did.
pub fn enable_from_environment() -> bool {
    let on = crate::util::env_flag("DRIFT_SCRIPT_PROFILE");
    enable(on);
    on
}

pub fn enabled() -> bool {
    ENABLED.load(Relaxed)
}

pub fn reset() {
    for n in &NANOS {
        n.store(0, Relaxed);
    }
    for w in &WORK {
        w.store(0, Relaxed);
    }
}

/// Adds one forward pass's work (when profiling is on): the episode's floor is its
/// multiply-adds at the kernels' rates, and its bytes at the machine's read bandwidth.
pub fn count(work: &PassWork) {
    if enabled() {
        for (total, n) in WORK.iter().zip(work.fields()) {
            total.fetch_add(n, Relaxed);
        }
    }
}

/// Runs `f`, adding its wall time to `phase` when profiling is on.
#[inline]
pub fn timed<R>(phase: Phase, f: impl FnOnce() -> R) -> R {
    if !enabled() {
        return f();
    }
    let started = Instant::now();
    let result = f();
    NANOS[phase as usize].fetch_add(started.elapsed().as_nanos() as u64, Relaxed);
    result
}

/// The work counted since the last reset.
pub fn counted() -> PassWork {
    let [a, m, kv, w] = std::array::from_fn(|i| WORK[i].load(Relaxed));
    PassWork {
        attention_multiply_adds: a,
        matrix_multiply_adds: m,
        key_value_bytes: kv,
        weight_bytes: w,
    }
}

/// Milliseconds per phase since the last reset.
pub fn snapshot() -> Vec<(Phase, f64)> {
    PHASES
        .iter()
        .map(|&p| (p, NANOS[p as usize].load(Relaxed) as f64 / 1e6))
        .collect()
}

/// The table: milliseconds, share, and milliseconds per `per` unit (e.g. per token).
pub fn table(per: usize, unit: &str) -> String {
    let rows = snapshot();
    let total: f64 = rows.iter().map(|r| r.1).sum();
    let mut out = String::new();
    for &(phase, ms) in &rows {
        out.push_str(&format!(
            "  {:<36} {:>9.1} ms {:>5.1}%  {:>8.3} ms/{unit}\n",
            phase.name(),
            ms,
            100.0 * ms / total.max(1e-9),
            ms / per.max(1) as f64
        ));
    }
    out.push_str(&format!(
        "  {:<36} {:>9.1} ms        {:>8.3} ms/{unit}\n",
        "total",
        total,
        total / per.max(1) as f64
    ));
    let phase_ms = |phases: &[Phase]| -> f64 {
        rows.iter()
            .filter(|(p, _)| phases.contains(p))
            .map(|r| r.1)
            .sum()
    };
    // Giga per second: multiply-adds or bytes over the milliseconds they took.
    let rate = |n: u64, ms: f64| n as f64 / (ms.max(1e-9) * 1e6);
    let work = counted();
    let (attention_ms, matrix_ms) = (phase_ms(&[Phase::Attention]), phase_ms(&MATRIX_PHASES));
    out.push_str(&format!(
        "  attention: {:.1} G multiply-adds, {:.1} G/s over its phase; \
         {:.1} GB of keys and values loaded, {:.1} GB/s\n  \
         matrix products: {:.1} G multiply-adds, {:.1} G/s over their phases (projections, vocabulary); \
         {:.1} GB of weights, {:.1} GB/s\n",
        work.attention_multiply_adds as f64 / 1e9,
        rate(work.attention_multiply_adds, attention_ms),
        work.key_value_bytes as f64 / 1e9,
        rate(work.key_value_bytes, attention_ms),
        work.matrix_multiply_adds as f64 / 1e9,
        rate(work.matrix_multiply_adds, matrix_ms),
        work.weight_bytes as f64 / 1e9,
        rate(work.weight_bytes, matrix_ms),
    ));
    out
}

/// The start of the phase being timed; `None` when profiling is off.
pub type Clock = Option<Instant>;

/// Starts timing a phase (nothing when profiling is off); pair with `stop`.
#[inline]
pub fn start() -> Clock {
    enabled().then(Instant::now)
}

/// Adds the time since `start` to `phase`, then starts timing the next phase.
#[inline]
pub fn lap(phase: Phase, started: &mut Clock) {
    if let Some(s) = started {
        let now = Instant::now();
        NANOS[phase as usize].fetch_add((now - *s).as_nanos() as u64, Relaxed);
        *s = now;
    }
}
