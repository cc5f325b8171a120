//! Attention, written out: scores, causal mask, softmax, weighted sum of values — in one place.
//! (About 1,000 lines: the three phases and their kernels share private argument types and
//! SAFETY invariants that are easiest to check side by side; the tests are in
//! `attention_tests.rs`.)
//!
//! This is the only code that sees the attention weights α of a query, as an explicit vector
//! between the softmax and the weighted sum. That is where the paper's measurements and
//! interventions belong: the attention read-out (mass on the system prompt) and split-softmax
//! (reweighting that mass) operate on the weights in `attention_softmax`, through the
//! sequence's [`RowHook`], and nowhere else.
//!
//! One call handles one query row and one key/value head with the query heads that share it
//! (grouped-query attention), so that each key is loaded once per group. Scores for 32 keys are
//! computed lane by lane over the head dimension (keys are stored dimension-major), and the
//! weighted sum streams value rows; both are sequential in their reduction index, so a query
//! gets the same bits whether it is computed in a prompt, during decoding, or next to others.

pub use super::hooks::RowHook;
use super::isa::Isa;
use super::kv_cache::{KV_BLOCK, KvData, KvShape, SeqKv};
use super::math;
use half::f16;
use std::cell::RefCell;
use std::ops::Range;
use std::sync::Arc;

/// The attention geometry of a model.
#[derive(Debug, Clone, Copy)]
pub struct AttentionShape {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// A query sees at most this many most recent keys (itself included).
    pub window: Option<usize>,
    /// Scores are `scale · q·k` (1/√head_dim unless the model says otherwise).
    pub scale: f32,
    /// Scores become `cap · tanh(score / cap)` before the softmax (Gemma 2).
    pub softcap: Option<f32>,
}

impl AttentionShape {
    /// The usual shape: scores scaled by 1/√head_dim, no soft-cap.
    pub fn new(heads: usize, kv_heads: usize, head_dim: usize, window: Option<usize>) -> Self {
        AttentionShape {
            heads,
            kv_heads,
            head_dim,
            window,
            scale: 1.0 / (head_dim as f32).sqrt(),
            softcap: None,
        }
    }

    pub fn group(&self) -> usize {
        self.heads / self.kv_heads
    }

    /// First key position visible from `position`.
    pub fn first_visible(&self, position: usize) -> usize {
        match self.window {
            Some(w) => (position + 1).saturating_sub(w),
            None => 0,
        }
    }
}

thread_local! {
    /// Per-thread score buffer of `attend_rows`.
    static SCORES: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// One query row for [`attend_rows`]: the query heads of one group at `position` of `kv`.
pub struct RowQuery<'a> {
    pub kv: &'a SeqKv,
    pub position: usize,
    /// The group's query vectors (`group × head_dim`, after RoPE).
    pub q: &'a [f32],
    /// Receives the group's outputs in the same layout.
    pub out: &'a mut [f32],
    pub hook: Option<RowHook<'a>>,
}

/// Attention of one query row at `position` for the query heads sharing `kv_head`.
/// `q` holds those heads' query vectors (`group × head_dim`, after RoPE) and `out` receives
/// their outputs in the same layout. Keys at positions `0..=position` must be in `kv`.
#[allow(clippy::too_many_arguments)]
pub fn attend_row(
    isa: Isa,
    kv: &SeqKv,
    kv_shape: KvShape,
    layer: usize,
    kv_head: usize,
    shape: &AttentionShape,
    position: usize,
    q: &[f32],
    out: &mut [f32],
    hook: Option<&mut RowHook<'_>>,
) {
    let hook = hook.map(|h| RowHook {
        system: h.system.clone(),
        split_k: h.split_k,
        pi: h.pi.as_deref_mut(),
        full: h.full.as_deref_mut(),
    });
    let mut rows = [RowQuery {
        kv,
        position,
        q,
        out,
        hook,
    }];
    let at = AttendAt {
        kv_shape,
        layer,
        kv_head,
        shape: *shape,
    };
    attend_rows(isa, &at, &mut rows);
}

/// Which layer and key/value head a call attends with.
#[derive(Clone, Copy)]
pub struct AttendAt {
    pub kv_shape: KvShape,
    pub layer: usize,
    pub kv_head: usize,
    pub shape: AttentionShape,
}

impl AttendAt {
    /// Where this layer and head's keys (and, with the same offset, values) start in a block.
    fn head_offset(&self) -> usize {
        (self.layer * self.kv_shape.kv_heads + self.kv_head) * self.shape.head_dim * KV_BLOCK
    }
}

/// Attention of several query rows for the query heads sharing one key/value head. Rows may
/// belong to one sequence (a prompt) or to sequences that share their first blocks (answers
/// sampled from one prompt): each block that all rows see is loaded once for all of them. Every
/// row gets the same bits as it would alone: each score and each output lane is summed in the
/// same order.
///
/// This is the one-call form (tests, examples). The forward pass runs the three phases itself —
/// [`attention_scores`] (by block ranges), [`attention_softmax`] (and hooks) and
/// [`attention_sums`] (by dimension ranges) — over [`RowsPlan`]s it computes once per pass.
pub fn attend_rows(isa: Isa, at: &AttendAt, rows: &mut [RowQuery<'_>]) {
    if rows.is_empty() {
        return;
    }
    let inputs: Vec<RowInput<'_>> = rows
        .iter()
        .map(|r| RowInput {
            kv: r.kv,
            position: r.position,
            q: r.q,
        })
        .collect();
    let plan = RowsPlan::new(&at.shape, &inputs);
    let outs: Vec<*mut f32> = rows.iter_mut().map(|r| r.out.as_mut_ptr()).collect();
    SCORES.with(|scores| {
        let mut scores = scores.borrow_mut();
        scores.clear();
        scores.resize(plan.scores_len, 0.0);
        // SAFETY: `scores` holds `plan.scores_len` values; each output holds `group × hd`.
        unsafe {
            attention_scores(isa, at, &plan, &inputs, 0..plan.blocks, scores.as_mut_ptr());
            let mut hooks: Vec<Option<RowHook<'_>>> =
                rows.iter_mut().map(|r| r.hook.take()).collect();
            attention_softmax(isa, at, &plan, &mut scores, &mut hooks);
            attention_sums(
                isa,
                at,
                &plan,
                &inputs,
                &scores,
                &outs,
                0..at.shape.head_dim,
            );
        }
    });
}

/// What the score and sum phases read of one row.
#[derive(Clone, Copy)]
pub struct RowInput<'a> {
    pub kv: &'a SeqKv,
    pub position: usize,
    /// The group's query vectors (`group × head_dim`).
    pub q: &'a [f32],
}

/// The rows of one attention call: where each row's scores live, and which blocks all of them
/// share (loaded once per pass of rows).
pub struct RowsPlan {
    spans: Vec<RowSpan>,
    /// Leading blocks every row sees that are one and the same block for all rows.
    shared: usize,
    /// Leading shared blocks every row sees whole: weighted sums go jointly there.
    joint: usize,
    /// Rows per kernel pass.
    rows_per_pass: usize,
    /// Blocks any row sees are below this.
    pub blocks: usize,
    /// Length of the score buffer the rows need (`group × visible positions` each).
    pub scores_len: usize,
}

impl RowsPlan {
    pub fn new(shape: &AttentionShape, rows: &[RowInput<'_>]) -> Self {
        let group = shape.group();
        let mut spans = Vec::with_capacity(rows.len());
        let mut total = 0;
        for row in rows {
            debug_assert!(row.position < row.kv.len());
            let first = shape.first_visible(row.position);
            let n = row.position + 1 - first;
            spans.push(RowSpan {
                first,
                position: row.position,
                n,
                first_block: first / KV_BLOCK,
                last_block: row.position / KV_BLOCK,
                offset: total,
            });
            total += group * n;
        }
        let min_last = spans.iter().map(|s| s.last_block).min().unwrap_or(0);
        let shared = if rows.is_empty() || spans.iter().any(|s| s.first_block > 0) {
            0
        } else {
            let blocks0 = &rows[0].kv.blocks;
            (0..=min_last)
                .take_while(|&b| {
                    rows.iter()
                        .all(|r| Arc::ptr_eq(&r.kv.blocks[b], &blocks0[b]))
                })
                .count()
        };
        RowsPlan {
            blocks: spans.iter().map(|s| s.last_block + 1).max().unwrap_or(0),
            joint: shared.min(min_last),
            shared,
            rows_per_pass: (MAX_VECTORS / group).max(1),
            spans,
            scores_len: total,
        }
    }

    /// Blocks of one key/value head the score and sum phases load, as `scores_generic` and
    /// `sums_generic` walk them: key blocks all rows share once per pass and the rest once per
    /// row, then value blocks every row sees whole once per pass and the rest once per row.
    pub fn blocks_loaded(&self) -> usize {
        let own_from = |from: usize| -> usize {
            self.spans
                .iter()
                .map(|s| (s.last_block + 1).saturating_sub(from.max(s.first_block)))
                .sum()
        };
        self.passes().count() * (self.shared + self.joint)
            + own_from(self.shared)
            + own_from(self.joint)
    }

    /// Groups of at most `rows_per_pass` rows.
    fn passes(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        (0..self.spans.len())
            .step_by(self.rows_per_pass)
            .map(|start| start..(start + self.rows_per_pass).min(self.spans.len()))
    }
}

/// Phase 1: scores q·k/√d of every row at its visible positions in blocks `blocks`, written
/// into `scores` (laid out as the plan says). Calls with disjoint block ranges write disjoint
/// values and may run at once.
///
/// # Safety
/// `scores` points to `plan.scores_len` values that no one else writes in these blocks.
pub unsafe fn attention_scores(
    isa: Isa,
    at: &AttendAt,
    plan: &RowsPlan,
    rows: &[RowInput<'_>],
    blocks: Range<usize>,
    scores: *mut f32,
) {
    let args = PhaseArgs {
        at,
        plan,
        rows,
        blocks,
        scores,
    };
    // SAFETY: the feature-gated variants run only where `isa` was detected.
    unsafe {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => scores_avx512(&args),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => scores_avx2(&args),
            _ => scores_generic(Isa::Portable, &args),
        }
    }
}

/// Phase 2: each row's scores become a softmax per head; then the row's hook (read-out,
/// split-softmax) sees them.
pub fn attention_softmax(
    isa: Isa,
    at: &AttendAt,
    plan: &RowsPlan,
    scores: &mut [f32],
    hooks: &mut [Option<RowHook<'_>>],
) {
    let group = at.shape.group();
    for (r, span) in plan.spans.iter().enumerate() {
        let mine = &mut scores[span.offset..span.offset + group * span.n];
        if let Some(cap) = at.shape.softcap {
            for s in mine.iter_mut() {
                *s = cap * (*s / cap).tanh();
            }
        }
        for head in 0..group {
            softmax_for(isa, &mut mine[head * span.n..(head + 1) * span.n]);
        }
        // `mine` now holds each head's attention distribution over positions
        // first..=position: `n` weights summing to 1. Read-outs and interventions
        // (DESIGN.md §2) hook in here, before the weighted sum.
        if let Some(hook) = hooks.get_mut(r).and_then(Option::as_mut) {
            hook.apply(mine, group, span.first, span.position);
        }
    }
}

/// Phase 3: dimensions `dims` of every row's outputs (`outs[r]`: `group × hd` values) become
/// the weighted sums of the values. Calls with disjoint dimension ranges may run at once.
///
/// # Safety
/// Each `outs[r]` points to `group × hd` values that no one else writes in `dims`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn attention_sums(
    isa: Isa,
    at: &AttendAt,
    plan: &RowsPlan,
    rows: &[RowInput<'_>],
    scores: &[f32],
    outs: &[*mut f32],
    dims: Range<usize>,
) {
    let args = SumArgs {
        at,
        plan,
        rows,
        scores,
        outs,
        dims,
    };
    // SAFETY: the feature-gated variants run only where `isa` was detected.
    unsafe {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => sums_avx512(&args),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => sums_avx2(&args),
            _ => sums_generic(Isa::Portable, &args),
        }
    }
}

struct PhaseArgs<'a> {
    at: &'a AttendAt,
    plan: &'a RowsPlan,
    rows: &'a [RowInput<'a>],
    blocks: Range<usize>,
    scores: *mut f32,
}

struct SumArgs<'a> {
    at: &'a AttendAt,
    plan: &'a RowsPlan,
    rows: &'a [RowInput<'a>],
    scores: &'a [f32],
    outs: &'a [*mut f32],
    dims: Range<usize>,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,fma,f16c")]
unsafe fn scores_avx512(args: &PhaseArgs<'_>) {
    unsafe { scores_generic(Isa::Avx512Vnni, args) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn scores_avx2(args: &PhaseArgs<'_>) {
    unsafe { scores_generic(Isa::Avx2, args) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,fma,f16c")]
unsafe fn sums_avx512(args: &SumArgs<'_>) {
    unsafe { sums_generic(Isa::Avx512Vnni, args) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn sums_avx2(args: &SumArgs<'_>) {
    unsafe { sums_generic(Isa::Avx2, args) }
}

/// Key/value element types. `load16`/`load8` convert 16 or 8 stored values to f32 lanes; they
/// are only called from functions compiled with the matching instruction set.
trait KvElem: Copy {
    fn to_f32(self) -> f32;
    #[cfg(target_arch = "x86_64")]
    unsafe fn load16(p: *const Self) -> std::arch::x86_64::__m512;
    #[cfg(target_arch = "x86_64")]
    unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256;
}

impl KvElem for f32 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load16(p: *const Self) -> std::arch::x86_64::__m512 {
        unsafe { std::arch::x86_64::_mm512_loadu_ps(p) }
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256 {
        unsafe { std::arch::x86_64::_mm256_loadu_ps(p) }
    }
}

impl KvElem for f16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        super::quant::f16_bits_to_f32(self.to_bits())
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn load16(p: *const Self) -> std::arch::x86_64::__m512 {
        // The conversion reads memory itself: `_mm512_cvtph_ps` asks for exception suppression,
        // which only the register form encodes, so it compiles to a load plus a two-µop
        // register conversion, and the extra µop competes with the multiply-adds for port 5.
        let out: std::arch::x86_64::__m512;
        // SAFETY: the caller guarantees 16 readable values at `p` and AVX-512 (see the trait).
        unsafe {
            std::arch::asm!(
                "vcvtph2ps {out}, ymmword ptr [{p}]",
                out = out(zmm_reg) out,
                p = in(reg) p,
                options(pure, readonly, nostack, preserves_flags),
            )
        };
        out
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256 {
        use std::arch::x86_64::*;
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i)) }
    }
}

/// Query vectors (rows × heads of a group) one kernel pass handles: with AVX-512 their
/// accumulators fill 24 of the 32 vector registers.
const MAX_VECTORS: usize = 12;

/// Where one row's numbers live: its visible positions and its slice of the score buffer.
#[derive(Clone, Copy)]
struct RowSpan {
    first: usize,
    position: usize,
    /// Visible positions, `first..=position`.
    n: usize,
    first_block: usize,
    last_block: usize,
    /// Start of the row's scores: `group` rows of `n`.
    offset: usize,
}

/// The query pointers of rows `range` (each row's `group` heads, in order).
#[inline(always)]
fn queries(
    rows: &[RowInput<'_>],
    range: Range<usize>,
    group: usize,
    hd: usize,
) -> ([*const f32; MAX_VECTORS], usize) {
    let mut q = [std::ptr::null::<f32>(); MAX_VECTORS];
    for (i, r) in range.clone().enumerate() {
        for h in 0..group {
            q[i * group + h] = rows[r].q[h * hd..(h + 1) * hd].as_ptr();
        }
    }
    (q, range.len() * group)
}

#[inline(always)]
unsafe fn scores_generic(isa: Isa, args: &PhaseArgs<'_>) {
    let (plan, rows) = (args.plan, args.rows);
    let (group, hd) = (args.at.shape.group(), args.at.shape.head_dim);
    let within =
        |blocks: Range<usize>| blocks.start.max(args.blocks.start)..blocks.end.min(args.blocks.end);
    for pass in plan.passes() {
        let (q, vectors) = queries(rows, pass.clone(), group, hd);
        let blocks = within(0..plan.shared);
        // SAFETY: forwarded from `attention_scores`.
        unsafe { score_blocks(isa, args, rows[pass.start].kv, blocks, &q[..vectors], pass) };
    }
    for (r, span) in plan.spans.iter().enumerate() {
        let (q, vectors) = queries(rows, r..r + 1, group, hd);
        let own = within(plan.shared.max(span.first_block)..span.last_block + 1);
        // SAFETY: as above.
        unsafe { score_blocks(isa, args, rows[r].kv, own, &q[..vectors], r..r + 1) };
    }
}

#[inline(always)]
unsafe fn sums_generic(isa: Isa, args: &SumArgs<'_>) {
    let (plan, rows) = (args.plan, args.rows);
    let (group, hd) = (args.at.shape.group(), args.at.shape.head_dim);
    for &out in args.outs {
        for h in 0..group {
            // SAFETY: forwarded from `attention_sums`.
            unsafe {
                std::slice::from_raw_parts_mut(out.add(h * hd), hd)[args.dims.clone()].fill(0.0)
            };
        }
    }
    for pass in plan.passes() {
        // SAFETY: as above.
        unsafe { sum_blocks(isa, args, rows[pass.start].kv, 0..plan.joint, pass) };
    }
    for (r, span) in plan.spans.iter().enumerate() {
        let own = plan.joint.max(span.first_block)..span.last_block + 1;
        // SAFETY: as above.
        unsafe { sum_blocks(isa, args, rows[r].kv, own, r..r + 1) };
    }
}

/// Scores of the query vectors `q` (the heads of rows `members`, in order) against `blocks` of
/// `kv`, scaled and stored at each row's visible positions.
#[inline(always)]
unsafe fn score_blocks(
    isa: Isa,
    args: &PhaseArgs<'_>,
    kv: &SeqKv,
    blocks: Range<usize>,
    q: &[*const f32],
    members: Range<usize>,
) {
    let shape = &args.at.shape;
    let (hd, group) = (shape.head_dim, shape.group());
    let scale = shape.scale;
    let k_base = args.at.head_offset();
    let mut block_scores = [[0f32; KV_BLOCK]; MAX_VECTORS];
    for b in blocks.clone() {
        let next = if b + 1 < blocks.end {
            kv.blocks[b + 1].data.k_ptr(k_base)
        } else {
            std::ptr::null()
        };
        let keys = k_base..k_base + hd * KV_BLOCK;
        match &kv.blocks[b].data {
            KvData::F32 { k, .. } => block_dot(isa, &k[keys], next, q, hd, &mut block_scores),
            KvData::F16 { k, .. } => block_dot(isa, &k[keys], next, q, hd, &mut block_scores),
        }
        for (m, r) in members.clone().enumerate() {
            let span = args.plan.spans[r];
            let lo = span.first.max(b * KV_BLOCK);
            let hi = (span.position + 1).min((b + 1) * KV_BLOCK);
            for head in 0..group {
                let from = &block_scores[m * group + head][lo - b * KV_BLOCK..hi - b * KV_BLOCK];
                // SAFETY: the caller owns these positions of the score buffer.
                let to = unsafe {
                    std::slice::from_raw_parts_mut(
                        args.scores
                            .add(span.offset + head * span.n + lo - span.first),
                        hi - lo,
                    )
                };
                for (to, from) in to.iter_mut().zip(from) {
                    *to = from * scale;
                }
            }
        }
    }
}

/// Adds the weighted values of `blocks` of `kv` to the outputs of rows `members`. Every member
/// sees the same slots of these blocks (blocks shared whole, or one row's own blocks).
#[inline(always)]
unsafe fn sum_blocks(
    isa: Isa,
    args: &SumArgs<'_>,
    kv: &SeqKv,
    blocks: Range<usize>,
    members: Range<usize>,
) {
    let shape = &args.at.shape;
    let (hd, group) = (shape.head_dim, shape.group());
    let v_base = args.at.head_offset();
    let spans = &args.plan.spans;
    for b in blocks.clone() {
        let next = if b + 1 < blocks.end {
            kv.blocks[b + 1].data.v_ptr(v_base)
        } else {
            std::ptr::null()
        };
        let span = spans[members.start];
        let lo = span.first.max(b * KV_BLOCK);
        let hi = (span.position + 1).min((b + 1) * KV_BLOCK);
        let slot0 = lo - b * KV_BLOCK;
        let mut weights = [std::ptr::null::<f32>(); MAX_VECTORS];
        let mut out = [std::ptr::null_mut::<f32>(); MAX_VECTORS];
        let vectors = members.len() * group;
        for (m, r) in members.clone().enumerate() {
            let s = spans[r];
            for h in 0..group {
                weights[m * group + h] = args.scores[s.offset + h * s.n + lo - s.first..].as_ptr();
                out[m * group + h] = args.outs[r].wrapping_add(h * hd);
            }
        }
        let (weights, out) = (&weights[..vectors], &out[..vectors]);
        let values = v_base + slot0 * hd..v_base + KV_BLOCK * hd;
        let dims = args.dims.clone();
        match &kv.blocks[b].data {
            KvData::F32 { v, .. } => {
                block_weighted_sum(isa, &v[values], next, weights, hi - lo, hd, dims, out)
            }
            KvData::F16 { v, .. } => {
                block_weighted_sum(isa, &v[values], next, weights, hi - lo, hd, dims, out)
            }
        }
    }
}

/// Asks for the cache line at `p` (null: nothing). Kernels ask for the next block's line as
/// they read the current block's: blocks are separate allocations, where the hardware
/// prefetcher does not follow, and asking for a whole block at once stalls on the line-fill
/// buffers.
#[inline(always)]
fn prefetch_line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    if !p.is_null() {
        // SAFETY: prefetching is a hint; it never faults, whatever the address.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
        };
    }
}

/// The lines of value row `t` of the next block (`row_bytes` each), while row `t` of this one
/// is read.
#[inline(always)]
fn prefetch_rows(next: *const u8, t: usize, row_bytes: usize) {
    if !next.is_null() {
        for offset in (0..row_bytes).step_by(64) {
            prefetch_line(next.wrapping_add(t * row_bytes + offset));
        }
    }
}

/// Dispatches on the number of query vectors, so that each kernel's accumulators are a
/// fixed-size array the compiler keeps in registers.
macro_rules! by_vectors {
    ($n:expr, $f:ident, $($arg:expr),*) => {
        match $n {
            1 => $f::<E, 1>($($arg),*),
            2 => $f::<E, 2>($($arg),*),
            3 => $f::<E, 3>($($arg),*),
            4 => $f::<E, 4>($($arg),*),
            5 => $f::<E, 5>($($arg),*),
            6 => $f::<E, 6>($($arg),*),
            7 => $f::<E, 7>($($arg),*),
            8 => $f::<E, 8>($($arg),*),
            9 => $f::<E, 9>($($arg),*),
            10 => $f::<E, 10>($($arg),*),
            11 => $f::<E, 11>($($arg),*),
            _ => $f::<E, 12>($($arg),*),
        }
    };
}

/// `acc[i][t] = Σ_d q_i[d]·k[d][t]` for the 32 keys of a block (keys stored dimension-major)
/// and each query vector `q_i` (`hd` values each), sequential in `d` for every lane: the same
/// bits on every instruction set and for any number of query vectors.
#[inline(always)]
fn block_dot<E: KvElem>(
    isa: Isa,
    k: &[E],
    next: *const u8,
    q: &[*const f32],
    hd: usize,
    acc: &mut [[f32; KV_BLOCK]; MAX_VECTORS],
) {
    debug_assert!(q.len() <= MAX_VECTORS && k.len() >= hd * KV_BLOCK);
    // SAFETY: the x86 variants run only where `isa` says their instructions exist; `k` holds
    // hd × 32 keys and each query pointer `hd` values (the caller's slices).
    unsafe {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => by_vectors!(q.len(), dot_avx512, k.as_ptr(), next, q, hd, acc),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => by_vectors!(q.len(), dot_avx2, k.as_ptr(), next, q, hd, acc),
            _ => by_vectors!(q.len(), dot_portable, k.as_ptr(), next, q, hd, acc),
        }
    }
}

#[inline(always)]
unsafe fn dot_portable<E: KvElem, const N: usize>(
    k: *const E,
    _next: *const u8,
    q: &[*const f32],
    hd: usize,
    acc: &mut [[f32; KV_BLOCK]; MAX_VECTORS],
) {
    let mut a = [[0f32; KV_BLOCK]; N];
    unsafe {
        for d in 0..hd {
            let keys: [f32; KV_BLOCK] =
                std::array::from_fn(|t| (*k.add(d * KV_BLOCK + t)).to_f32());
            for (i, a) in a.iter_mut().enumerate() {
                let qd = *q[i].add(d);
                for t in 0..KV_BLOCK {
                    a[t] = qd.mul_add(keys[t], a[t]);
                }
            }
        }
    }
    acc[..N].copy_from_slice(&a);
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn dot_avx512<E: KvElem, const N: usize>(
    kp: *const E,
    next: *const u8,
    q: &[*const f32],
    hd: usize,
    acc: &mut [[f32; KV_BLOCK]; MAX_VECTORS],
) {
    use std::arch::x86_64::*;
    unsafe {
        let q: [*const f32; N] = std::array::from_fn(|i| q[i]);
        let mut a = [[_mm512_setzero_ps(); 2]; N];
        let line = KV_BLOCK * std::mem::size_of::<E>();
        for d in 0..hd {
            // One line of the next block's keys per line of these (see `prefetch_line`).
            prefetch_line(next.wrapping_add(d * line));
            let k0 = E::load16(kp.add(d * KV_BLOCK));
            let k1 = E::load16(kp.add(d * KV_BLOCK + 16));
            for (i, a) in a.iter_mut().enumerate() {
                let qd = _mm512_set1_ps(*q[i].add(d));
                a[0] = _mm512_fmadd_ps(qd, k0, a[0]);
                a[1] = _mm512_fmadd_ps(qd, k1, a[1]);
            }
        }
        for (i, a) in a.iter().enumerate() {
            _mm512_storeu_ps(acc[i].as_mut_ptr(), a[0]);
            _mm512_storeu_ps(acc[i].as_mut_ptr().add(16), a[1]);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn dot_avx2<E: KvElem, const N: usize>(
    kp: *const E,
    next: *const u8,
    q: &[*const f32],
    hd: usize,
    acc: &mut [[f32; KV_BLOCK]; MAX_VECTORS],
) {
    use std::arch::x86_64::*;
    unsafe {
        let q: [*const f32; N] = std::array::from_fn(|i| q[i]);
        let mut a = [[_mm256_setzero_ps(); 4]; N];
        let line = KV_BLOCK * std::mem::size_of::<E>();
        for d in 0..hd {
            prefetch_line(next.wrapping_add(d * line));
            let keys: [__m256; 4] = std::array::from_fn(|i| E::load8(kp.add(d * KV_BLOCK + 8 * i)));
            for (i, a) in a.iter_mut().enumerate() {
                let qd = _mm256_set1_ps(*q[i].add(d));
                for j in 0..4 {
                    a[j] = _mm256_fmadd_ps(qd, keys[j], a[j]);
                }
            }
        }
        for (i, a) in a.iter().enumerate() {
            for (j, lanes) in a.iter().enumerate() {
                _mm256_storeu_ps(acc[i].as_mut_ptr().add(8 * j), *lanes);
            }
        }
    }
}

/// `out_i[d] += Σ_t w_i[t]·v[t][d]` over `count` value rows of one block (token-major) for each
/// query vector `i` (weights `w_i`, outputs `out_i` of `hd` values), sequential in `t` for every
/// lane.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block_weighted_sum<E: KvElem>(
    isa: Isa,
    v: &[E],
    next: *const u8,
    w: &[*const f32],
    count: usize,
    hd: usize,
    dims: Range<usize>,
    out: &[*mut f32],
) {
    debug_assert!(w.len() == out.len() && w.len() <= MAX_VECTORS && v.len() >= count * hd);
    // SAFETY: as in `block_dot`; each weight pointer holds `count` values and each output `hd`.
    unsafe {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => {
                by_vectors!(
                    w.len(),
                    sum_avx512,
                    v.as_ptr(),
                    next,
                    w,
                    count,
                    hd,
                    dims,
                    out
                )
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => by_vectors!(w.len(), sum_avx2, v.as_ptr(), next, w, count, hd, dims, out),
            _ => by_vectors!(
                w.len(),
                sum_portable,
                v.as_ptr(),
                next,
                w,
                count,
                hd,
                dims,
                out
            ),
        }
    }
}

#[inline(always)]
unsafe fn sum_portable<E: KvElem, const N: usize>(
    v: *const E,
    _next: *const u8,
    w: &[*const f32],
    count: usize,
    hd: usize,
    dims: Range<usize>,
    out: &[*mut f32],
) {
    unsafe {
        for t in 0..count {
            for i in 0..N {
                let wt = *w[i].add(t);
                for d in dims.clone() {
                    let o = out[i].add(d);
                    *o = wt.mul_add((*v.add(t * hd + d)).to_f32(), *o);
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn sum_avx512<E: KvElem, const N: usize>(
    vp: *const E,
    next: *const u8,
    w: &[*const f32],
    count: usize,
    hd: usize,
    dims: Range<usize>,
    out: &[*mut f32],
) {
    unsafe {
        let w: [*const f32; N] = std::array::from_fn(|i| w[i]);
        let out: [*mut f32; N] = std::array::from_fn(|i| out[i]);
        // Up to 64 dimensions (four registers) per pass, fewer when many vectors share the
        // registers: each value row is loaded once per pass and feeds every query vector. The
        // width is a constant so that the accumulators stay in registers.
        let dims_len = dims.end - dims.start;
        // Head dimensions are multiples of 16 (`config` rejects others).
        debug_assert!(dims_len.is_multiple_of(16));
        if N <= 6 && dims_len.is_multiple_of(64) {
            sum_avx512_width::<E, N, 4>(vp, next, &w, count, hd, dims, &out);
        } else if dims_len.is_multiple_of(32) {
            sum_avx512_width::<E, N, 2>(vp, next, &w, count, hd, dims, &out);
        } else {
            sum_avx512_width::<E, N, 1>(vp, next, &w, count, hd, dims, &out);
        }
    }
}

/// [`sum_avx512`] over dimension chunks of `16 × W` (the range must be a multiple).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn sum_avx512_width<E: KvElem, const N: usize, const W: usize>(
    vp: *const E,
    next: *const u8,
    w: &[*const f32; N],
    count: usize,
    hd: usize,
    dims: Range<usize>,
    out: &[*mut f32; N],
) {
    use std::arch::x86_64::*;
    unsafe {
        for c in dims.clone().step_by(16 * W) {
            // Loops, not `array::from_fn`: a closure does not inherit the caller's target
            // features, so the intrinsics inside it would become calls.
            let mut acc = [[_mm512_setzero_ps(); W]; N];
            for (i, acc) in acc.iter_mut().enumerate() {
                for (j, a) in acc.iter_mut().enumerate() {
                    *a = _mm512_loadu_ps(out[i].add(c + 16 * j));
                }
            }
            for t in 0..count {
                if c == dims.start {
                    prefetch_rows(next, t, hd * std::mem::size_of::<E>());
                }
                let base = vp.add(t * hd + c);
                let mut values = [_mm512_setzero_ps(); W];
                for (j, v) in values.iter_mut().enumerate() {
                    *v = E::load16(base.add(16 * j));
                }
                for (i, acc) in acc.iter_mut().enumerate() {
                    let weight = _mm512_set1_ps(*w[i].add(t));
                    for j in 0..W {
                        acc[j] = _mm512_fmadd_ps(weight, values[j], acc[j]);
                    }
                }
            }
            for (i, acc) in acc.iter().enumerate() {
                for (j, a) in acc.iter().enumerate() {
                    _mm512_storeu_ps(out[i].add(c + 16 * j), *a);
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn sum_avx2<E: KvElem, const N: usize>(
    vp: *const E,
    next: *const u8,
    w: &[*const f32],
    count: usize,
    hd: usize,
    dims: Range<usize>,
    out: &[*mut f32],
) {
    use std::arch::x86_64::*;
    unsafe {
        let w: [*const f32; N] = std::array::from_fn(|i| w[i]);
        let out: [*mut f32; N] = std::array::from_fn(|i| out[i]);
        for c in dims.clone().step_by(8) {
            let mut acc: [__m256; N] = std::array::from_fn(|i| _mm256_loadu_ps(out[i].add(c)));
            for t in 0..count {
                if c == dims.start {
                    prefetch_rows(next, t, hd * std::mem::size_of::<E>());
                }
                let row = E::load8(vp.add(t * hd + c));
                for (i, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm256_fmadd_ps(_mm256_set1_ps(*w[i].add(t)), row, *acc);
                }
            }
            for (i, acc) in acc.iter().enumerate() {
                _mm256_storeu_ps(out[i].add(c), *acc);
            }
        }
    }
}

super::isa::compiled_for_isa! {
    /// [`softmax`] compiled for `isa`.
    fn softmax_for(values: &mut [f32]) = softmax;
}

/// In-place softmax with lane-structured sums (see `math`).
#[inline(always)]
pub fn softmax(values: &mut [f32]) {
    let max = math::max(values);
    let inv = 1.0 / math::exp_shifted_sum(values, max);
    for v in values.iter_mut() {
        *v *= inv;
    }
}

#[cfg(test)]
#[path = "attention_tests.rs"]
mod tests;
