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

use super::kernels::Isa;
use super::kv_cache::{KV_BLOCK, KvData, KvShape, SeqKv};
use super::math;
use half::f16;
use std::cell::RefCell;

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
                Isa::Avx512Vnni => attend_avx512(&args, &mut scores, out),
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => attend_avx2(&args, &mut scores, out),
                _ => attend_generic(&args, &mut scores, out),
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
unsafe fn attend_avx512(args: &RowArgs<'_>, scores: &mut Vec<f32>, out: &mut [f32]) {
    attend_generic(args, scores, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn attend_avx2(args: &RowArgs<'_>, scores: &mut Vec<f32>, out: &mut [f32]) {
    attend_generic(args, scores, out)
}

trait KvElem: Copy {
    fn to_f32(self) -> f32;
}
impl KvElem for f32 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
}
impl KvElem for f16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        math_f16(self)
    }
}

#[inline(always)]
fn math_f16(v: f16) -> f32 {
    super::quant::f16_bits_to_f32(v.to_bits())
}

#[inline(always)]
fn attend_generic(args: &RowArgs<'_>, scores: &mut Vec<f32>, out: &mut [f32]) {
    let shape = args.shape;
    let hd = shape.head_dim;
    let group = shape.group();
    let first = shape.first_visible(args.position);
    let n = args.position + 1 - first;
    let scale = 1.0 / (hd as f32).sqrt();
    scores.clear();
    scores.resize(group * n, 0.0);
    let head_index = args.layer * args.kv_shape.kv_heads + args.kv_head;

    // Scores: q·k / sqrt(d) for every visible key (the causal mask is the range itself).
    for b in first / KV_BLOCK..=args.position / KV_BLOCK {
        let block = &args.kv.blocks[b];
        let lo = first.max(b * KV_BLOCK);
        let hi = (args.position + 1).min((b + 1) * KV_BLOCK);
        let k_base = head_index * hd * KV_BLOCK;
        match &block.data {
            KvData::F32 { k, .. } => score_block(&k[k_base..k_base + hd * KV_BLOCK], args.q, group, hd, scale, b * KV_BLOCK, lo, hi, first, n, scores),
            KvData::F16 { k, .. } => score_block(&k[k_base..k_base + hd * KV_BLOCK], args.q, group, hd, scale, b * KV_BLOCK, lo, hi, first, n, scores),
        }
    }

    for head in 0..group {
        let weights = &mut scores[head * n..(head + 1) * n];
        softmax(weights);
        // `weights` now holds this head's attention distribution over positions first..=position.
        // Read-outs and interventions (DESIGN.md §2) hook in here.
        let out_head = &mut out[head * hd..(head + 1) * hd];
        out_head.fill(0.0);
        for b in first / KV_BLOCK..=args.position / KV_BLOCK {
            let block = &args.kv.blocks[b];
            let lo = first.max(b * KV_BLOCK);
            let hi = (args.position + 1).min((b + 1) * KV_BLOCK);
            let v_base = head_index * KV_BLOCK * hd;
            let w = &weights[lo - first..hi - first];
            match &block.data {
                KvData::F32 { v, .. } => weighted_sum(&v[v_base..v_base + KV_BLOCK * hd], w, lo - b * KV_BLOCK, hd, out_head),
                KvData::F16 { v, .. } => weighted_sum(&v[v_base..v_base + KV_BLOCK * hd], w, lo - b * KV_BLOCK, hd, out_head),
            }
        }
    }
}

/// Scores of the group's query heads against the keys of one block (positions lo..hi).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn score_block<E: KvElem>(
    k: &[E],
    q: &[f32],
    group: usize,
    hd: usize,
    scale: f32,
    block_start: usize,
    lo: usize,
    hi: usize,
    first: usize,
    n: usize,
    scores: &mut [f32],
) {
    for head in 0..group {
        let qh = &q[head * hd..(head + 1) * hd];
        let mut acc = [0f32; KV_BLOCK];
        for (d, &qd) in qh.iter().enumerate() {
            let keys = &k[d * KV_BLOCK..(d + 1) * KV_BLOCK];
            for t in 0..KV_BLOCK {
                acc[t] = qd.mul_add(keys[t].to_f32(), acc[t]);
            }
        }
        for pos in lo..hi {
            scores[head * n + pos - first] = acc[pos - block_start] * scale;
        }
    }
}

/// out += Σ_t w[t] · v[slot0 + t], value rows of `hd` values.
#[inline(always)]
fn weighted_sum<E: KvElem>(v: &[E], w: &[f32], slot0: usize, hd: usize, out: &mut [f32]) {
    for (t, &wt) in w.iter().enumerate() {
        let row = &v[(slot0 + t) * hd..(slot0 + t + 1) * hd];
        for d in 0..hd {
            out[d] = wt.mul_add(row[d].to_f32(), out[d]);
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

    /// Attention over a hand-made cache equals the textbook formula computed in f64.
    #[test]
    fn matches_the_definition() {
        let kv_shape = KvShape {
            layers: 1,
            kv_heads: 1,
            head_dim: 4,
        };
        let shape = AttentionShape {
            heads: 2,
            kv_heads: 1,
            head_dim: 4,
            window: None,
        };
        let positions = 40; // crosses a block boundary
        let key = |t: usize| [t as f32 * 0.1, 1.0, -(t as f32) * 0.05, 0.5];
        let value = |t: usize| [t as f32, 1.0, (t % 3) as f32, -1.0];
        for precision in [KvPrecision::F32, KvPrecision::F16] {
            let mut seq = SeqKv::default();
            let tokens: Vec<u32> = (0..positions as u32).collect();
            seq.reserve(&tokens, kv_shape, precision);
            for t in 0..positions {
                seq.block_mut(t).write(kv_shape, 0, t % KV_BLOCK, &key(t), &value(t));
            }
            let q = [0.3, -0.2, 0.5, 0.1, -0.4, 0.2, 0.1, 0.3];
            let position = 37;
            let mut out = [0f32; 8];
            attend_row(Isa::Portable, &seq, kv_shape, 0, 0, &shape, position, &q, &mut out);
            let tolerance = if precision == KvPrecision::F32 { 1e-5 } else { 2e-2 };
            for head in 0..2 {
                let qh = &q[head * 4..head * 4 + 4];
                let s: Vec<f64> = (0..=position)
                    .map(|t| key(t).iter().zip(qh).map(|(k, q)| (*k * *q) as f64).sum::<f64>() / 2.0)
                    .collect();
                let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = s.iter().map(|v| (v - m).exp()).sum();
                for d in 0..4 {
                    let expected: f64 = (0..=position).map(|t| (s[t] - m).exp() / z * value(t)[d] as f64).sum();
                    let got = out[head * 4 + d] as f64;
                    assert!((got - expected).abs() < tolerance, "{precision:?} head {head} dim {d}: {got} vs {expected}");
                }
            }
            // Every instruction set gives the same bits.
            let mut again = [0f32; 8];
            attend_row(super::super::kernels::detected_isa(), &seq, kv_shape, 0, 0, &shape, position, &q, &mut again);
            assert_eq!(out, again);
        }
    }
}
