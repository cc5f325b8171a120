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
    /// Per-thread score buffer: one row of scores per query head of a group.
    static SCORES: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
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
    debug_assert!(position < kv.len());
    SCORES.with(|scores| {
        let mut scores = scores.borrow_mut();
        let args = RowArgs {
            kv,
            kv_shape,
            layer,
            kv_head,
            shape,
            position,
            q,
        };
        // SAFETY: the feature-gated variants run only where `isa` was detected.
        unsafe {
            match isa {
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512Vnni => attend_avx512(&args, &mut scores, out, hook),
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => attend_avx2(&args, &mut scores, out, hook),
                _ => attend_generic(&args, Isa::Portable, &mut scores, out, hook),
            }
        }
    });
}

struct RowArgs<'a> {
    kv: &'a SeqKv,
    kv_shape: KvShape,
    layer: usize,
    kv_head: usize,
    shape: &'a AttentionShape,
    position: usize,
    q: &'a [f32],
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,fma,f16c")]
unsafe fn attend_avx512(
    args: &RowArgs<'_>,
    scores: &mut Vec<f32>,
    out: &mut [f32],
    hook: Option<&mut RowHook<'_>>,
) {
    attend_generic(args, Isa::Avx512Vnni, scores, out, hook)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn attend_avx2(
    args: &RowArgs<'_>,
    scores: &mut Vec<f32>,
    out: &mut [f32],
    hook: Option<&mut RowHook<'_>>,
) {
    attend_generic(args, Isa::Avx2, scores, out, hook)
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

/// Query heads sharing one key/value head, at most.
const MAX_GROUP: usize = 8;

#[inline(always)]
fn attend_generic(
    args: &RowArgs<'_>,
    isa: Isa,
    scores: &mut Vec<f32>,
    out: &mut [f32],
    hook: Option<&mut RowHook<'_>>,
) {
    let shape = args.shape;
    let hd = shape.head_dim;
    let group = shape.group();
    let first = shape.first_visible(args.position);
    let n = args.position + 1 - first;
    let scale = 1.0 / (hd as f32).sqrt();
    scores.clear();
    scores.resize(group * n, 0.0);
    let head_index = args.layer * args.kv_shape.kv_heads + args.kv_head;
    let blocks = first / KV_BLOCK..=args.position / KV_BLOCK;

    // Scores: q·k / sqrt(d) for every visible key (the causal mask is the range itself).
    let mut block_scores = [[0f32; KV_BLOCK]; MAX_GROUP];
    for b in blocks.clone() {
        let k_base = head_index * hd * KV_BLOCK;
        match &args.kv.blocks[b].data {
            KvData::F32 { k, .. } => block_dot(
                isa,
                &k[k_base..k_base + hd * KV_BLOCK],
                args.q,
                group,
                hd,
                &mut block_scores,
            ),
            KvData::F16 { k, .. } => block_dot(
                isa,
                &k[k_base..k_base + hd * KV_BLOCK],
                args.q,
                group,
                hd,
                &mut block_scores,
            ),
        }
        let lo = first.max(b * KV_BLOCK);
        let hi = (args.position + 1).min((b + 1) * KV_BLOCK);
        for (head, row) in block_scores.iter().enumerate().take(group) {
            for pos in lo..hi {
                scores[head * n + pos - first] = row[pos - b * KV_BLOCK] * scale;
            }
        }
    }

    for head in 0..group {
        softmax(&mut scores[head * n..(head + 1) * n]);
    }
    // `scores` now holds each head's attention distribution over positions first..=position:
    // row `head`, `n` weights summing to 1. Read-outs and interventions (DESIGN.md §2) hook in
    // here, before the weighted sum.
    if let Some(hook) = hook {
        hook.apply(scores, group, first, args.position);
    }

    out[..group * hd].fill(0.0);
    for b in blocks {
        let lo = first.max(b * KV_BLOCK);
        let hi = (args.position + 1).min((b + 1) * KV_BLOCK);
        let v_base = head_index * KV_BLOCK * hd;
        let weights = WeightRows {
            scores,
            n,
            offset: lo - first,
            count: hi - lo,
        };
        let slot0 = lo - b * KV_BLOCK;
        match &args.kv.blocks[b].data {
            KvData::F32 { v, .. } => block_weighted_sum(
                isa,
                &v[v_base + slot0 * hd..v_base + KV_BLOCK * hd],
                &weights,
                group,
                hd,
                out,
            ),
            KvData::F16 { v, .. } => block_weighted_sum(
                isa,
                &v[v_base + slot0 * hd..v_base + KV_BLOCK * hd],
                &weights,
                group,
                hd,
                out,
            ),
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

/// The weights of one block's keys for every head of a group: `scores[h * n + offset + t]`.
struct WeightRows<'a> {
    scores: &'a [f32],
    n: usize,
    offset: usize,
    count: usize,
}

impl WeightRows<'_> {
    #[inline(always)]
    fn get(&self, head: usize, t: usize) -> f32 {
        self.scores[head * self.n + self.offset + t]
    }

    /// Start of head `head`'s weights for this block.
    #[inline(always)]
    fn row(&self, head: usize) -> *const f32 {
        self.scores[head * self.n + self.offset..][..self.count].as_ptr()
    }
}

/// `acc[h][t] = Σ_d q_h[d]·k[d][t]` for the 32 keys of a block (keys stored dimension-major),
/// sequential in `d` for every lane: the same bits on every instruction set.
#[inline(always)]
fn block_dot<E: KvElem>(
    isa: Isa,
    k: &[E],
    q: &[f32],
    group: usize,
    hd: usize,
    acc: &mut [[f32; KV_BLOCK]; MAX_GROUP],
) {
    macro_rules! by_group {
        ($f:ident) => {
            match group {
                1 => $f::<E, 1>(k, q, hd, acc),
                2 => $f::<E, 2>(k, q, hd, acc),
                3 => $f::<E, 3>(k, q, hd, acc),
                4 => $f::<E, 4>(k, q, hd, acc),
                5 => $f::<E, 5>(k, q, hd, acc),
                6 => $f::<E, 6>(k, q, hd, acc),
                7 => $f::<E, 7>(k, q, hd, acc),
                _ => $f::<E, 8>(k, q, hd, acc),
            }
        };
    }
    // SAFETY: the x86 variants run only where `isa` says their instructions exist; slices are
    // sized by the caller (hd × 32 keys).
    unsafe {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => by_group!(dot_avx512),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => by_group!(dot_avx2),
            _ => by_group!(dot_portable),
        }
    }
}

#[inline(always)]
unsafe fn dot_portable<E: KvElem, const G: usize>(
    k: &[E],
    q: &[f32],
    hd: usize,
    acc: &mut [[f32; KV_BLOCK]; MAX_GROUP],
) {
    let mut a = [[0f32; KV_BLOCK]; G];
    for d in 0..hd {
        let keys: [f32; KV_BLOCK] = std::array::from_fn(|t| k[d * KV_BLOCK + t].to_f32());
        for (h, a) in a.iter_mut().enumerate() {
            let qd = q[h * hd + d];
            for t in 0..KV_BLOCK {
                a[t] = qd.mul_add(keys[t], a[t]);
            }
        }
    }
    acc[..G].copy_from_slice(&a);
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn dot_avx512<E: KvElem, const G: usize>(
    k: &[E],
    q: &[f32],
    hd: usize,
    acc: &mut [[f32; KV_BLOCK]; MAX_GROUP],
) {
    use std::arch::x86_64::*;
    unsafe {
        let mut a = [[_mm512_setzero_ps(); 2]; G];
        let kp = k.as_ptr();
        for d in 0..hd {
            let k0 = E::load16(kp.add(d * KV_BLOCK));
            let k1 = E::load16(kp.add(d * KV_BLOCK + 16));
            for (h, a) in a.iter_mut().enumerate() {
                let qd = _mm512_set1_ps(*q.get_unchecked(h * hd + d));
                a[0] = _mm512_fmadd_ps(qd, k0, a[0]);
                a[1] = _mm512_fmadd_ps(qd, k1, a[1]);
            }
        }
        for (h, a) in a.iter().enumerate() {
            _mm512_storeu_ps(acc[h].as_mut_ptr(), a[0]);
            _mm512_storeu_ps(acc[h].as_mut_ptr().add(16), a[1]);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn dot_avx2<E: KvElem, const G: usize>(
    k: &[E],
    q: &[f32],
    hd: usize,
    acc: &mut [[f32; KV_BLOCK]; MAX_GROUP],
) {
    use std::arch::x86_64::*;
    unsafe {
        let mut a = [[_mm256_setzero_ps(); 4]; G];
        let kp = k.as_ptr();
        for d in 0..hd {
            let keys: [__m256; 4] = std::array::from_fn(|i| E::load8(kp.add(d * KV_BLOCK + 8 * i)));
            for (h, a) in a.iter_mut().enumerate() {
                let qd = _mm256_set1_ps(*q.get_unchecked(h * hd + d));
                for i in 0..4 {
                    a[i] = _mm256_fmadd_ps(qd, keys[i], a[i]);
                }
            }
        }
        for (h, a) in a.iter().enumerate() {
            for i in 0..4 {
                _mm256_storeu_ps(acc[h].as_mut_ptr().add(8 * i), a[i]);
            }
        }
    }
}

/// `out[h][d] += Σ_t w[h][t]·v[t][d]` over one block's value rows (token-major, starting at the
/// first visible slot), sequential in `t` for every lane.
#[inline(always)]
fn block_weighted_sum<E: KvElem>(
    isa: Isa,
    v: &[E],
    w: &WeightRows<'_>,
    group: usize,
    hd: usize,
    out: &mut [f32],
) {
    macro_rules! by_group {
        ($f:ident) => {
            match group {
                1 => $f::<E, 1>(v, w, hd, out),
                2 => $f::<E, 2>(v, w, hd, out),
                3 => $f::<E, 3>(v, w, hd, out),
                4 => $f::<E, 4>(v, w, hd, out),
                5 => $f::<E, 5>(v, w, hd, out),
                6 => $f::<E, 6>(v, w, hd, out),
                7 => $f::<E, 7>(v, w, hd, out),
                _ => $f::<E, 8>(v, w, hd, out),
            }
        };
    }
    // SAFETY: as in `block_dot`; `v` holds at least `w.count` rows of `hd` values.
    unsafe {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => by_group!(sum_avx512),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => by_group!(sum_avx2),
            _ => by_group!(sum_portable),
        }
    }
}

#[inline(always)]
unsafe fn sum_portable<E: KvElem, const G: usize>(
    v: &[E],
    w: &WeightRows<'_>,
    hd: usize,
    out: &mut [f32],
) {
    for t in 0..w.count {
        let row = &v[t * hd..(t + 1) * hd];
        for h in 0..G {
            let wt = w.get(h, t);
            let o = &mut out[h * hd..(h + 1) * hd];
            for d in 0..hd {
                o[d] = wt.mul_add(row[d].to_f32(), o[d]);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn sum_avx512<E: KvElem, const G: usize>(
    v: &[E],
    w: &WeightRows<'_>,
    hd: usize,
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    unsafe {
        let vp = v.as_ptr();
        let rows: [*const f32; G] = std::array::from_fn(|h| w.row(h));
        // 64 dimensions (four registers) per pass: each value row is loaded once per pass and
        // feeds every head of the group.
        for c in (0..hd).step_by(64) {
            let chunks = ((hd - c) / 16).min(4);
            let mut acc = [[_mm512_setzero_ps(); 4]; G];
            for (h, acc) in acc.iter_mut().enumerate() {
                for (i, a) in acc.iter_mut().enumerate().take(chunks) {
                    *a = _mm512_loadu_ps(out.as_ptr().add(h * hd + c + 16 * i));
                }
            }
            for t in 0..w.count {
                let base = vp.add(t * hd + c);
                let values: [__m512; 4] = std::array::from_fn(|i| {
                    if i < chunks {
                        E::load16(base.add(16 * i))
                    } else {
                        _mm512_setzero_ps()
                    }
                });
                for (h, acc) in acc.iter_mut().enumerate() {
                    let weight = _mm512_set1_ps(*rows[h].add(t));
                    for i in 0..chunks {
                        acc[i] = _mm512_fmadd_ps(weight, values[i], acc[i]);
                    }
                }
            }
            for (h, acc) in acc.iter().enumerate() {
                for (i, a) in acc.iter().enumerate().take(chunks) {
                    _mm512_storeu_ps(out.as_mut_ptr().add(h * hd + c + 16 * i), *a);
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn sum_avx2<E: KvElem, const G: usize>(
    v: &[E],
    w: &WeightRows<'_>,
    hd: usize,
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    unsafe {
        let vp = v.as_ptr();
        for c in (0..hd).step_by(8) {
            let mut acc: [__m256; G] =
                std::array::from_fn(|h| _mm256_loadu_ps(out.as_ptr().add(h * hd + c)));
            for t in 0..w.count {
                let row = E::load8(vp.add(t * hd + c));
                for (h, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm256_fmadd_ps(_mm256_set1_ps(w.get(h, t)), row, *acc);
                }
            }
            for (h, acc) in acc.iter().enumerate() {
                _mm256_storeu_ps(out.as_mut_ptr().add(h * hd + c), *acc);
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
