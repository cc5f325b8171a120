//! Attention, written out: scores, causal mask, softmax, weighted sum of values — in one place.
//!
//! This is the only code that sees the attention weights α of a query, as an explicit vector
//! between the softmax and the weighted sum. That is where the paper's measurements and
//! interventions belong: the attention read-out (mass on the system prompt) and split-softmax
//! (reweighting that mass) operate on `weights` in `attend_row` and nowhere else.
//!
//! One call handles one query row and one key/value head with the query heads that share it
//! (grouped-query attention), so that each key is loaded once per group. Scores for 32 keys are
//! computed lane by lane over the head dimension (keys are stored dimension-major), and the
//! weighted sum streams value rows; both are sequential in their reduction index, so a query
//! gets the same bits whether it is computed in a prompt, during decoding, or next to others.

use super::intervention::split_softmax;
use super::kernels::Isa;
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
}

impl AttentionShape {
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
    /// Per-thread score buffer: for each row, one row of scores per query head of its group.
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
    attend_rows(isa, kv_shape, layer, kv_head, shape, &mut rows);
}

/// Attention of several query rows for the query heads sharing `kv_head`. Rows may belong to
/// one sequence (a prompt) or to sequences that share their first blocks (answers sampled from
/// one prompt): each block that all rows see is loaded once for all of them. Every row gets the
/// same bits as it would alone: each score and each output lane is summed in the same order.
pub fn attend_rows(
    isa: Isa,
    kv_shape: KvShape,
    layer: usize,
    kv_head: usize,
    shape: &AttentionShape,
    rows: &mut [RowQuery<'_>],
) {
    if rows.is_empty() {
        return;
    }
    SCORES.with(|scores| {
        let mut scores = scores.borrow_mut();
        let at = Where {
            kv_shape,
            layer,
            kv_head,
            shape,
        };
        // SAFETY: the feature-gated variants run only where `isa` was detected.
        unsafe {
            match isa {
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512Vnni => attend_avx512(&at, &mut scores, rows),
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => attend_avx2(&at, &mut scores, rows),
                _ => attend_generic(&at, Isa::Portable, &mut scores, rows),
            }
        }
    });
}

/// Which layer and key/value head a call attends with.
struct Where<'a> {
    kv_shape: KvShape,
    layer: usize,
    kv_head: usize,
    shape: &'a AttentionShape,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,fma,f16c")]
unsafe fn attend_avx512(at: &Where<'_>, scores: &mut Vec<f32>, rows: &mut [RowQuery<'_>]) {
    attend_generic(at, Isa::Avx512Vnni, scores, rows)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn attend_avx2(at: &Where<'_>, scores: &mut Vec<f32>, rows: &mut [RowQuery<'_>]) {
    attend_generic(at, Isa::Avx2, scores, rows)
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
    #[inline(always)]
    unsafe fn load16(p: *const Self) -> std::arch::x86_64::__m512 {
        use std::arch::x86_64::*;
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i)) }
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

#[inline(always)]
fn attend_generic(at: &Where<'_>, isa: Isa, scores: &mut Vec<f32>, rows: &mut [RowQuery<'_>]) {
    let shape = at.shape;
    let hd = shape.head_dim;
    let group = shape.group();
    let scale = 1.0 / (hd as f32).sqrt();
    let head_index = at.layer * at.kv_shape.kv_heads + at.kv_head;
    let k_base = head_index * hd * KV_BLOCK;
    let v_base = head_index * KV_BLOCK * hd;

    let mut spans = Vec::with_capacity(rows.len());
    let mut total = 0;
    for row in rows.iter() {
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
    scores.clear();
    scores.resize(total, 0.0);

    // Leading blocks that every row sees and that are one and the same block for all of them:
    // those are loaded once per pass of rows. The rest of each row's blocks are its own.
    let min_last = spans.iter().map(|s| s.last_block).min().unwrap_or(0);
    let shared = if spans.iter().any(|s| s.first_block > 0) {
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
    let rows_per_pass = (MAX_VECTORS / group).max(1);
    let passes: Vec<std::ops::Range<usize>> = (0..rows.len())
        .step_by(rows_per_pass)
        .map(|start| start..(start + rows_per_pass).min(rows.len()))
        .collect();
    let geometry = Geometry {
        isa,
        hd,
        group,
        scale,
        k_base,
        v_base,
        spans: &spans,
    };
    let queries = |range: Range<usize>, rows: &[RowQuery<'_>]| {
        let mut q = [std::ptr::null::<f32>(); MAX_VECTORS];
        for (i, r) in range.clone().enumerate() {
            for h in 0..group {
                q[i * group + h] = rows[r].q[h * hd..(h + 1) * hd].as_ptr();
            }
        }
        (q, range.len() * group)
    };

    // Scores: q·k / sqrt(d) for every visible key (the causal mask is the range itself).
    for pass in &passes {
        let (q, vectors) = queries(pass.clone(), rows);
        let members: Vec<usize> = pass.clone().collect();
        score_blocks(
            &geometry,
            rows[pass.start].kv,
            0..shared,
            &q[..vectors],
            &members,
            scores,
        );
    }
    for (r, span) in spans.iter().enumerate() {
        let (q, vectors) = queries(r..r + 1, rows);
        let own = shared.max(span.first_block)..span.last_block + 1;
        score_blocks(&geometry, rows[r].kv, own, &q[..vectors], &[r], scores);
    }

    // Each row's scores now hold each head's attention distribution over positions
    // first..=position: `n` weights summing to 1. Read-outs and interventions (DESIGN.md §2)
    // hook in here, before the weighted sum.
    for (row, span) in rows.iter_mut().zip(&spans) {
        let mine = &mut scores[span.offset..span.offset + group * span.n];
        for head in 0..group {
            softmax(&mut mine[head * span.n..(head + 1) * span.n]);
        }
        if let Some(hook) = row.hook.as_mut() {
            hook.apply(mine, group, span.first, span.position);
        }
        row.out[..group * hd].fill(0.0);
    }

    // Weighted sum of values. Blocks every row sees whole (and shares) go once per pass.
    let joint = shared.min(min_last);
    let outs: Vec<*mut f32> = rows
        .iter_mut()
        .flat_map(|row| {
            let base = row.out.as_mut_ptr();
            (0..group).map(move |h| base.wrapping_add(h * hd))
        })
        .collect();
    for pass in &passes {
        let members: Vec<usize> = pass.clone().collect();
        sum_blocks(
            &geometry,
            rows[pass.start].kv,
            0..joint,
            &members,
            scores,
            &outs,
        );
    }
    for (r, span) in spans.iter().enumerate() {
        let own = joint.max(span.first_block)..span.last_block + 1;
        sum_blocks(&geometry, rows[r].kv, own, &[r], scores, &outs);
    }
}

/// What `score_blocks` and `sum_blocks` need to know about one `attend_rows` call.
struct Geometry<'a> {
    isa: Isa,
    hd: usize,
    group: usize,
    scale: f32,
    /// Offsets of this layer and head's keys and values in a block.
    k_base: usize,
    v_base: usize,
    spans: &'a [RowSpan],
}

/// Scores of the query vectors `q` (the heads of rows `members`, in order) against `blocks` of
/// `kv`, scaled and stored at each row's visible positions.
#[inline(always)]
fn score_blocks(
    at: &Geometry<'_>,
    kv: &SeqKv,
    blocks: Range<usize>,
    q: &[*const f32],
    members: &[usize],
    scores: &mut [f32],
) {
    let (hd, group) = (at.hd, at.group);
    let mut block_scores = [[0f32; KV_BLOCK]; MAX_VECTORS];
    for b in blocks.clone() {
        let next = if b + 1 < blocks.end {
            kv.blocks[b + 1].data.k_ptr(at.k_base)
        } else {
            std::ptr::null()
        };
        let keys = at.k_base..at.k_base + hd * KV_BLOCK;
        match &kv.blocks[b].data {
            KvData::F32 { k, .. } => block_dot(at.isa, &k[keys], next, q, hd, &mut block_scores),
            KvData::F16 { k, .. } => block_dot(at.isa, &k[keys], next, q, hd, &mut block_scores),
        }
        for (m, &r) in members.iter().enumerate() {
            let span = at.spans[r];
            let lo = span.first.max(b * KV_BLOCK);
            let hi = (span.position + 1).min((b + 1) * KV_BLOCK);
            for head in 0..group {
                let from = &block_scores[m * group + head][lo - b * KV_BLOCK..hi - b * KV_BLOCK];
                let to = &mut scores[span.offset + head * span.n + lo - span.first..][..hi - lo];
                for (to, from) in to.iter_mut().zip(from) {
                    *to = from * at.scale;
                }
            }
        }
    }
}

/// Adds the weighted values of `blocks` of `kv` to the outputs of rows `members`. Every member
/// sees the same slots of these blocks (blocks shared whole, or one row's own blocks).
#[inline(always)]
fn sum_blocks(
    at: &Geometry<'_>,
    kv: &SeqKv,
    blocks: Range<usize>,
    members: &[usize],
    scores: &[f32],
    outs: &[*mut f32],
) {
    let (hd, group) = (at.hd, at.group);
    for b in blocks.clone() {
        let next = if b + 1 < blocks.end {
            kv.blocks[b + 1].data.v_ptr(at.v_base)
        } else {
            std::ptr::null()
        };
        let span = at.spans[members[0]];
        let lo = span.first.max(b * KV_BLOCK);
        let hi = (span.position + 1).min((b + 1) * KV_BLOCK);
        let slot0 = lo - b * KV_BLOCK;
        let mut weights = [std::ptr::null::<f32>(); MAX_VECTORS];
        let mut out = [std::ptr::null_mut::<f32>(); MAX_VECTORS];
        let vectors = members.len() * group;
        for (m, &r) in members.iter().enumerate() {
            let s = at.spans[r];
            for h in 0..group {
                weights[m * group + h] = scores[s.offset + h * s.n + lo - s.first..].as_ptr();
                out[m * group + h] = outs[r * group + h];
            }
        }
        let (weights, out) = (&weights[..vectors], &out[..vectors]);
        let values = at.v_base + slot0 * hd..at.v_base + KV_BLOCK * hd;
        match &kv.blocks[b].data {
            KvData::F32 { v, .. } => {
                block_weighted_sum(at.isa, &v[values], next, weights, hi - lo, hd, out)
            }
            KvData::F16 { v, .. } => {
                block_weighted_sum(at.isa, &v[values], next, weights, hi - lo, hd, out)
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

/// What the paper's read-out and intervention do to one query row (see `intervention.rs`).
pub struct RowHook<'a> {
    /// Positions of the system prompt's content.
    pub system: Range<usize>,
    /// Split-softmax exponent, when it applies in this layer.
    pub split_k: Option<f32>,
    /// Receives π of each head of the group.
    pub pi: Option<&'a mut [f32]>,
    /// Receives each head's weights over positions `0..=position` (`group × (position + 1)`).
    pub full: Option<&'a mut [f32]>,
}

impl RowHook<'_> {
    fn apply(&mut self, scores: &mut [f32], group: usize, first: usize, position: usize) {
        let n = position + 1 - first;
        // The part of the system span this query sees, relative to `first`.
        let lo = self.system.start.clamp(first, position + 1) - first;
        let hi = self.system.end.clamp(first, position + 1) - first;
        for head in 0..group {
            let row = &mut scores[head * n..(head + 1) * n];
            if let Some(k) = self.split_k {
                split_softmax(row, lo..hi.max(lo), k);
            }
            if let Some(pi) = self.pi.as_deref_mut() {
                pi[head] = row[lo..hi.max(lo)].iter().sum();
            }
            if let Some(full) = self.full.as_deref_mut() {
                let dest = &mut full[head * (position + 1)..(head + 1) * (position + 1)];
                dest[..first].fill(0.0);
                dest[first..].copy_from_slice(row);
            }
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
            for j in 0..4 {
                _mm256_storeu_ps(acc[i].as_mut_ptr().add(8 * j), a[j]);
            }
        }
    }
}

/// `out_i[d] += Σ_t w_i[t]·v[t][d]` over `count` value rows of one block (token-major) for each
/// query vector `i` (weights `w_i`, outputs `out_i` of `hd` values), sequential in `t` for every
/// lane.
#[inline(always)]
fn block_weighted_sum<E: KvElem>(
    isa: Isa,
    v: &[E],
    next: *const u8,
    w: &[*const f32],
    count: usize,
    hd: usize,
    out: &[*mut f32],
) {
    debug_assert!(w.len() == out.len() && w.len() <= MAX_VECTORS && v.len() >= count * hd);
    // SAFETY: as in `block_dot`; each weight pointer holds `count` values and each output `hd`.
    unsafe {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => {
                by_vectors!(w.len(), sum_avx512, v.as_ptr(), next, w, count, hd, out)
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => by_vectors!(w.len(), sum_avx2, v.as_ptr(), next, w, count, hd, out),
            _ => by_vectors!(w.len(), sum_portable, v.as_ptr(), next, w, count, hd, out),
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
    out: &[*mut f32],
) {
    unsafe {
        for t in 0..count {
            for i in 0..N {
                let wt = *w[i].add(t);
                for d in 0..hd {
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
    out: &[*mut f32],
) {
    use std::arch::x86_64::*;
    unsafe {
        let w: [*const f32; N] = std::array::from_fn(|i| w[i]);
        let out: [*mut f32; N] = std::array::from_fn(|i| out[i]);
        // Up to 64 dimensions (four registers) per pass, fewer when many vectors share the
        // registers: each value row is loaded once per pass and feeds every query vector.
        let width = if N <= 6 { 4 } else { 2 };
        for c in (0..hd).step_by(16 * width) {
            let chunks = ((hd - c) / 16).min(width);
            let mut acc = [[_mm512_setzero_ps(); 4]; N];
            for (i, acc) in acc.iter_mut().enumerate() {
                for (j, a) in acc.iter_mut().enumerate().take(chunks) {
                    *a = _mm512_loadu_ps(out[i].add(c + 16 * j));
                }
            }
            for t in 0..count {
                if c == 0 {
                    prefetch_rows(next, t, hd * std::mem::size_of::<E>());
                }
                let base = vp.add(t * hd + c);
                let values: [__m512; 4] = std::array::from_fn(|j| {
                    if j < chunks {
                        E::load16(base.add(16 * j))
                    } else {
                        _mm512_setzero_ps()
                    }
                });
                for (i, acc) in acc.iter_mut().enumerate() {
                    let weight = _mm512_set1_ps(*w[i].add(t));
                    for j in 0..chunks {
                        acc[j] = _mm512_fmadd_ps(weight, values[j], acc[j]);
                    }
                }
            }
            for (i, acc) in acc.iter().enumerate() {
                for (j, a) in acc.iter().enumerate().take(chunks) {
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
    out: &[*mut f32],
) {
    use std::arch::x86_64::*;
    unsafe {
        let w: [*const f32; N] = std::array::from_fn(|i| w[i]);
        let out: [*mut f32; N] = std::array::from_fn(|i| out[i]);
        for c in (0..hd).step_by(8) {
            let mut acc: [__m256; N] = std::array::from_fn(|i| _mm256_loadu_ps(out[i].add(c)));
            for t in 0..count {
                if c == 0 {
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

/// In-place softmax with lane-structured sums (see `math`).
#[inline(always)]
pub fn softmax(values: &mut [f32]) {
    let max = math::max(values);
    for v in values.iter_mut() {
        *v = math::exp(*v - max);
    }
    let inv = 1.0 / math::sum(values);
    for v in values.iter_mut() {
        *v *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kv_cache::KvPrecision;

    #[test]
    fn softmax_rows_sum_to_one() {
        let mut v: Vec<f32> = (0..100).map(|i| (i as f32 * 0.37).sin() * 5.0).collect();
        softmax(&mut v);
        assert!((v.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(v.iter().all(|&p| p > 0.0));
    }

    /// The read-out of a hand-made cache: π equals the softmax mass on the system positions
    /// computed by hand in f64, every row sums to 1, and split-softmax makes the system share
    /// exactly π^k while keeping the output a weighted mean of the values with those weights.
    #[test]
    fn readout_and_split_softmax_match_the_hand_computation() {
        const HD: usize = 16;
        let kv_shape = KvShape {
            layers: 1,
            kv_heads: 1,
            head_dim: HD,
        };
        let shape = AttentionShape {
            heads: 2,
            kv_heads: 1,
            head_dim: HD,
            window: None,
        };
        let key = |t: usize| -> [f32; HD] {
            std::array::from_fn(|d| ((t * 5 + d * 3) % 13) as f32 * 0.07 - 0.4)
        };
        let value =
            |t: usize| -> [f32; HD] { std::array::from_fn(|d| ((t * 3 + d) % 7) as f32 - 3.0) };
        let positions = 45;
        let mut seq = SeqKv::default();
        let tokens: Vec<u32> = (0..positions as u32).collect();
        seq.reserve(&tokens, kv_shape, KvPrecision::F32);
        for t in 0..positions {
            seq.block_mut(t)
                .write(kv_shape, 0, t % KV_BLOCK, &key(t), &value(t));
        }
        let q: [f32; 2 * HD] = std::array::from_fn(|i| ((i * 3) % 5) as f32 * 0.3 - 0.5);
        let position = 40;
        let system = 3..20;
        // By hand: softmax of q·k/√d in f64, mass on positions 3..20.
        let by_hand: Vec<Vec<f64>> = (0..2)
            .map(|head| {
                let qh = &q[head * HD..(head + 1) * HD];
                let s: Vec<f64> = (0..=position)
                    .map(|t| {
                        key(t)
                            .iter()
                            .zip(qh)
                            .map(|(k, q)| (*k * *q) as f64)
                            .sum::<f64>()
                            / (HD as f64).sqrt()
                    })
                    .collect();
                let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = s.iter().map(|v| (v - m).exp()).sum();
                s.iter().map(|v| (v - m).exp() / z).collect()
            })
            .collect();
        let run = |split_k: Option<f32>| {
            let mut pi = [0f32; 2];
            let mut full = vec![0f32; 2 * (position + 1)];
            let mut out = [0f32; 2 * HD];
            let mut hook = RowHook {
                system: system.clone(),
                split_k,
                pi: Some(&mut pi),
                full: Some(&mut full),
            };
            attend_row(
                Isa::Portable,
                &seq,
                kv_shape,
                0,
                0,
                &shape,
                position,
                &q,
                &mut out,
                Some(&mut hook),
            );
            (pi, full, out)
        };
        let (pi, full, plain_out) = run(None);
        for head in 0..2 {
            let expected: f64 = by_hand[head][system.clone()].iter().sum();
            assert!(
                (pi[head] as f64 - expected).abs() < 1e-6,
                "head {head}: {} vs {expected}",
                pi[head]
            );
            let row = &full[head * (position + 1)..(head + 1) * (position + 1)];
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
        // Reading attention out changes nothing.
        let mut bare = [0f32; 2 * HD];
        attend_row(
            Isa::Portable,
            &seq,
            kv_shape,
            0,
            0,
            &shape,
            position,
            &q,
            &mut bare,
            None,
        );
        assert_eq!(bare, plain_out);

        let k = 0.5f32;
        let (split_pi, split_full, split_out) = run(Some(k));
        for head in 0..2 {
            let before: f64 = by_hand[head][system.clone()].iter().sum();
            let row = &split_full[head * (position + 1)..(head + 1) * (position + 1)];
            assert!(
                (row.iter().sum::<f32>() - 1.0).abs() < 1e-5,
                "rows still sum to 1"
            );
            assert!((split_pi[head] as f64 - before.powf(k as f64)).abs() < 1e-5);
            // The output is the weighted sum of values under the new weights.
            for d in 0..HD {
                let expected: f64 = (0..=position)
                    .map(|t| row[t] as f64 * value(t)[d] as f64)
                    .sum();
                assert!((split_out[head * HD + d] as f64 - expected).abs() < 1e-4);
            }
        }
        assert_ne!(split_out, plain_out);
    }

    /// Rows attended together (a prompt's rows, answers sharing their first blocks, rows of
    /// unrelated sequences, more rows than one kernel pass holds) get exactly the bits each
    /// row gets alone, on every instruction set.
    #[test]
    fn rows_together_equal_rows_alone() {
        const HD: usize = 64;
        let kv_shape = KvShape {
            layers: 2,
            kv_heads: 1,
            head_dim: HD,
        };
        let shape = AttentionShape {
            heads: 3,
            kv_heads: 1,
            head_dim: HD,
            window: None,
        };
        let fill = |seq: &mut SeqKv, from: usize, salt: usize| {
            for t in from..seq.len() {
                for layer in 0..2 {
                    let key: [f32; HD] = std::array::from_fn(|d| {
                        ((t * 7 + d * 3 + salt + layer) % 17) as f32 * 0.06 - 0.5
                    });
                    let value: [f32; HD] =
                        std::array::from_fn(|d| ((t * 5 + d + salt) % 9) as f32 * 0.3 - 1.2);
                    seq.block_mut(t)
                        .write(kv_shape, layer, t % KV_BLOCK, &key, &value);
                }
            }
        };
        for precision in [KvPrecision::F32, KvPrecision::F16] {
            // A 100-token prompt, and two answers that share its blocks and then diverge.
            let mut prompt = SeqKv::default();
            prompt.reserve(&(0..100).collect::<Vec<u32>>(), kv_shape, precision);
            fill(&mut prompt, 0, 0);
            let answers: Vec<SeqKv> = (0..2)
                .map(|a| {
                    let mut seq = prompt.clone();
                    let new: Vec<u32> = (0..40 + 7 * a).map(|t| 1000 + t).collect();
                    seq.reserve(&new, kv_shape, precision);
                    fill(&mut seq, 100, 1 + a as usize);
                    seq
                })
                .collect();
            let mut other = SeqKv::default();
            other.reserve(&(0..70).collect::<Vec<u32>>(), kv_shape, precision);
            fill(&mut other, 0, 9);
            // (sequence, position) of each row: prompt rows, both answers' last rows, another
            // sequence; six rows need two passes of four.
            let rows: Vec<(&SeqKv, usize)> = vec![
                (&prompt, 80),
                (&prompt, 96),
                (&prompt, 99),
                (&answers[0], answers[0].len() - 1),
                (&answers[1], answers[1].len() - 1),
                (&other, 69),
            ];
            let q: Vec<[f32; 3 * HD]> = (0..rows.len())
                .map(|r| std::array::from_fn(|i| ((i * 5 + r * 3) % 11) as f32 * 0.1 - 0.5))
                .collect();
            let best = super::super::kernels::detected_isa();
            for isa in [Isa::Portable, Isa::Avx2, best] {
                if isa == Isa::Avx2 && best == Isa::Portable {
                    continue;
                }
                for subset in [&[0usize, 1, 2][..], &[3, 4], &[0, 3, 4, 5, 1, 2], &[5, 3]] {
                    let mut alone = vec![[0f32; 3 * HD]; subset.len()];
                    for (out, &r) in alone.iter_mut().zip(subset) {
                        attend_row(
                            isa, rows[r].0, kv_shape, 1, 0, &shape, rows[r].1, &q[r], out, None,
                        );
                    }
                    let mut together = vec![[0f32; 3 * HD]; subset.len()];
                    let mut queries: Vec<RowQuery<'_>> = together
                        .iter_mut()
                        .zip(subset)
                        .map(|(out, &r)| RowQuery {
                            kv: rows[r].0,
                            position: rows[r].1,
                            q: &q[r],
                            out,
                            hook: None,
                        })
                        .collect();
                    attend_rows(isa, kv_shape, 1, 0, &shape, &mut queries);
                    assert!(together == alone, "{precision:?} {isa} rows {subset:?}");
                }
            }
        }
    }

    /// Attention over a hand-made cache equals the textbook formula computed in f64.
    #[test]
    fn matches_the_definition() {
        const HD: usize = 16; // the kernels work on 16 dimensions at a time
        let kv_shape = KvShape {
            layers: 1,
            kv_heads: 1,
            head_dim: HD,
        };
        let shape = AttentionShape {
            heads: 2,
            kv_heads: 1,
            head_dim: HD,
            window: None,
        };
        let positions = 40; // crosses a block boundary
        let key = |t: usize| -> [f32; HD] {
            std::array::from_fn(|d| ((t * 7 + d * 3) % 11) as f32 * 0.05 - 0.25)
        };
        let value = |t: usize| -> [f32; HD] { std::array::from_fn(|d| ((t + d) % 5) as f32 - 2.0) };
        for precision in [KvPrecision::F32, KvPrecision::F16] {
            let mut seq = SeqKv::default();
            let tokens: Vec<u32> = (0..positions as u32).collect();
            seq.reserve(&tokens, kv_shape, precision);
            for t in 0..positions {
                seq.block_mut(t)
                    .write(kv_shape, 0, t % KV_BLOCK, &key(t), &value(t));
            }
            let q: [f32; 2 * HD] = std::array::from_fn(|i| ((i * 5) % 7) as f32 * 0.2 - 0.6);
            let position = 37;
            let mut out = [0f32; 2 * HD];
            attend_row(
                Isa::Portable,
                &seq,
                kv_shape,
                0,
                0,
                &shape,
                position,
                &q,
                &mut out,
                None,
            );
            let tolerance = if precision == KvPrecision::F32 {
                1e-5
            } else {
                2e-2
            };
            for head in 0..2 {
                let qh = &q[head * HD..(head + 1) * HD];
                let s: Vec<f64> = (0..=position)
                    .map(|t| {
                        key(t)
                            .iter()
                            .zip(qh)
                            .map(|(k, q)| (*k * *q) as f64)
                            .sum::<f64>()
                            / (HD as f64).sqrt()
                    })
                    .collect();
                let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = s.iter().map(|v| (v - m).exp()).sum();
                for d in 0..HD {
                    let expected: f64 = (0..=position)
                        .map(|t| (s[t] - m).exp() / z * value(t)[d] as f64)
                        .sum();
                    let got = out[head * HD + d] as f64;
                    assert!(
                        (got - expected).abs() < tolerance,
                        "{precision:?} head {head} dim {d}: {got} vs {expected}"
                    );
                }
            }
            // Every instruction set gives the same bits.
            let best = super::super::kernels::detected_isa();
            let mut isas = vec![best];
            if best == Isa::Avx512Vnni {
                isas.push(Isa::Avx2);
            }
            for isa in isas {
                let mut again = [0f32; 2 * HD];
                attend_row(
                    isa, &seq, kv_shape, 0, 0, &shape, position, &q, &mut again, None,
                );
                assert_eq!(out, again, "{isa}");
            }
        }
    }
}
