//! Element-wise pieces of the forward pass: exp, RMSNorm, SiLU, RoPE, and lane-structured
//! reductions.
//!
//! Every reduction here sums into 16 lanes and then folds the lanes in a fixed order, so that the
//! result does not depend on the instruction set (LLVM vectorizes these loops only when the
//! arithmetic is already written lane by lane; it never reassociates floats on its own).

/// Rounds to the nearest integer, ties to even, for |x| < 2²²: adding and subtracting 1.5·2²³
/// leaves no fraction bits, so the FPU's default rounding does the work. `f32::round_ties_even`
/// is a library call (`rintf`) on baseline x86-64, and it showed up at 12% of decode time.
#[inline(always)]
pub fn round_small(x: f32) -> f32 {
    (x + ROUNDING_SHIFT) - ROUNDING_SHIFT
}

/// 1.5 · 2²³: adding it to |x| < 2²² leaves round(x) in the low mantissa bits.
const ROUNDING_SHIFT: f32 = 12_582_912.0;

/// [`round_small`] as an integer, read from the shifted float's low mantissa bits: a
/// float-to-int cast would not vectorize (Rust's `as` saturates, and LLVM checks each lane in
/// scalar code).
#[inline(always)]
pub fn round_small_int(x: f32) -> i32 {
    (x + ROUNDING_SHIFT)
        .to_bits()
        .wrapping_sub(ROUNDING_SHIFT.to_bits()) as i32
}

/// Folds 16 lanes in a fixed pairwise order.
#[inline(always)]
pub fn fold16(mut lanes: [f32; 16]) -> f32 {
    let mut width = 8;
    while width > 0 {
        for i in 0..width {
            lanes[i] += lanes[i + width];
        }
        width /= 2;
    }
    lanes[0]
}

/// Σ values, lane-structured (see the module note).
#[inline(always)]
pub fn sum(values: &[f32]) -> f32 {
    let mut lanes = [0f32; 16];
    let mut chunks = values.chunks_exact(16);
    for chunk in &mut chunks {
        for l in 0..16 {
            lanes[l] += chunk[l];
        }
    }
    for (l, &v) in chunks.remainder().iter().enumerate() {
        lanes[l] += v;
    }
    fold16(lanes)
}

/// Σ x², lane-structured.
#[inline(always)]
pub fn sum_of_squares(values: &[f32]) -> f32 {
    let mut lanes = [0f32; 16];
    let mut chunks = values.chunks_exact(16);
    for chunk in &mut chunks {
        for l in 0..16 {
            lanes[l] += chunk[l] * chunk[l];
        }
    }
    for (l, &v) in chunks.remainder().iter().enumerate() {
        lanes[l] += v * v;
    }
    fold16(lanes)
}

/// The largest value, in 64 interleaved lanes: max is exact in any order, and four independent
/// chains of comparisons keep the vector unit busy where one chain waits on each comparison's
/// latency (one chain of dependent comparisons over 49k logits took 80 µs per sampled token).
#[inline(always)]
pub fn max(values: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 64];
    let mut chunks = values.chunks_exact(64);
    for chunk in &mut chunks {
        for l in 0..64 {
            lanes[l] = lanes[l].max(chunk[l]);
        }
    }
    for (l, &v) in chunks.remainder().iter().enumerate() {
        lanes[l] = lanes[l].max(v);
    }
    lanes.iter().copied().fold(f32::NEG_INFINITY, f32::max)
}

/// `values[i] = exp(values[i] - shift)`, returning their [`sum`] (the same bits as the two
/// passes, in one: the sum's dependent additions hide behind the exponentials).
#[inline(always)]
pub fn exp_shifted_sum(values: &mut [f32], shift: f32) -> f32 {
    let mut lanes = [0f32; 16];
    let mut chunks = values.chunks_exact_mut(16);
    for chunk in &mut chunks {
        for l in 0..16 {
            chunk[l] = exp(chunk[l] - shift);
            lanes[l] += chunk[l];
        }
    }
    for (l, v) in chunks.into_remainder().iter_mut().enumerate() {
        *v = exp(*v - shift);
        lanes[l] += *v;
    }
    fold16(lanes)
}

/// eˣ with a relative error under 2e-7 for the inputs softmax and SiLU produce, in arithmetic
/// that vectorizes (range reduction to [−ln2/2, ln2/2], degree-6 polynomial, exponent bits).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let input = x;
    let x = x.clamp(-87.0, 88.0);
    // n = round(x·log2 e), as a float here and as an integer for the exponent bits below.
    let n = round_small(x * LOG2_E);
    // Plain multiply-adds, not `mul_add`: code outside the dispatched kernels is compiled for
    // baseline x86-64, where `mul_add` is a library call (and Rust never fuses `a * b + c`).
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    let n_int = round_small_int(x * LOG2_E) as u32;
    let scale = f32::from_bits(n_int.wrapping_add(127) << 23);
    // A select rather than an early return, so that loops over `exp` still vectorize.
    if input.is_nan() { input } else { p * scale }
}

#[inline(always)]
pub fn silu(x: f32) -> f32 {
    x / (1.0 + exp(-x))
}

/// GELU with the tanh approximation (Gemma's feed-forward):
/// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), with tanh(y) = 1 − 2/(e^{2y} + 1).
#[inline(always)]
pub fn gelu_tanh(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    let y = SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x);
    let tanh = 1.0 - 2.0 / (exp(2.0 * y) + 1.0);
    0.5 * x * (1.0 + tanh)
}

/// `out = x / sqrt(mean(x²) + eps) * weight`.
#[inline(always)]
pub fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let mean = sum_of_squares(x) / x.len() as f32;
    let inv = 1.0 / (mean + eps).sqrt();
    for ((o, &v), &w) in out.iter_mut().zip(x).zip(weight) {
        *o = v * inv * w;
    }
}

/// [`rms_norm`] of `x` into itself, with the same arithmetic (q/k norms of each head).
#[inline(always)]
pub fn rms_norm_in_place(x: &mut [f32], weight: &[f32], eps: f32) {
    let mean = sum_of_squares(x) / x.len() as f32;
    let inv = 1.0 / (mean + eps).sqrt();
    for (v, &w) in x.iter_mut().zip(weight) {
        *v = *v * inv * w;
    }
}

/// Cosines and sines of one position's RoPE angles, one pair per rotated dimension pair.
pub struct RopeTable {
    /// Inverse frequencies after Llama 3 style frequency factors, in f64.
    inv_freq: Vec<f64>,
    position_scale: f64,
}

impl RopeTable {
    pub fn new(
        head_dim: usize,
        theta: f32,
        linear_factor: f32,
        freq_factors: Option<&[f32]>,
    ) -> Self {
        let inv_freq = (0..head_dim / 2)
            .map(|i| {
                let base = 1.0 / (theta as f64).powf(2.0 * i as f64 / head_dim as f64);
                base / freq_factors.map_or(1.0, |f| f64::from(f[i]))
            })
            .collect();
        RopeTable {
            inv_freq,
            position_scale: 1.0 / f64::from(linear_factor),
        }
    }

    pub fn pairs(&self) -> usize {
        self.inv_freq.len()
    }

    /// Fills `cos` and `sin` (each `pairs()` long) for `position`.
    pub fn angles(&self, position: usize, cos: &mut [f32], sin: &mut [f32]) {
        let p = position as f64 * self.position_scale;
        for ((c, s), &f) in cos.iter_mut().zip(sin.iter_mut()).zip(&self.inv_freq) {
            let (sn, cs) = (p * f).sin_cos();
            *c = cs as f32;
            *s = sn as f32;
        }
    }
}

/// Rotates one head in place. `interleaved`: pairs (2i, 2i+1); otherwise (i, i + d/2).
#[inline(always)]
pub fn rope(head: &mut [f32], cos: &[f32], sin: &[f32], interleaved: bool) {
    let half = head.len() / 2;
    for i in 0..half {
        let (a, b) = if interleaved {
            (2 * i, 2 * i + 1)
        } else {
            (i, i + half)
        };
        let (x0, x1) = (head[a], head[b]);
        head[a] = x0 * cos[i] - x1 * sin[i];
        head[b] = x0 * sin[i] + x1 * cos[i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let expected = (x as f64).exp();
            let got = exp(x) as f64;
            assert!(
                ((got - expected) / expected).abs() < 5e-7,
                "exp({x}) = {got}, expected {expected}"
            );
            x += 0.0137;
        }
        assert!(exp(-1000.0) < 1e-37 && exp(-1000.0) >= 0.0);
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn small_rounding_matches_the_standard_library() {
        let mut x = -300.0f32;
        while x < 300.0 {
            assert_eq!(round_small(x), x.round_ties_even(), "{x}");
            x += 0.125;
        }
        assert_eq!(round_small(0.5), 0.0);
        assert_eq!(round_small(1.5), 2.0);
        assert_eq!(round_small(-2.5), -2.0);
        for x in [-127.0f32, -2.5, -0.5, 0.0, 0.5, 1.5, 126.6, 4_194_303.0] {
            assert_eq!(round_small_int(x), round_small(x) as i32, "{x}");
        }
    }

    #[test]
    fn fused_exp_and_sum_equal_the_two_passes() {
        for n in [0, 1, 15, 16, 17, 63, 64, 65, 1000] {
            let values: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.37)
                .collect();
            let shift = max(&values);
            let two_passes: Vec<f32> = values.iter().map(|&v| exp(v - shift)).collect();
            let mut fused = values.clone();
            let total = exp_shifted_sum(&mut fused, shift);
            assert_eq!(fused, two_passes);
            assert_eq!(total.to_bits(), sum(&two_passes).to_bits(), "n = {n}");
            let slow_max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            assert_eq!(shift, slow_max);
        }
    }

    #[test]
    fn lane_sums_are_exact_on_integers() {
        let v: Vec<f32> = (0..1001).map(|i| i as f32).collect();
        assert_eq!(sum(&v), 500_500.0);
        assert_eq!(sum(&[]), 0.0);
        assert_eq!(sum_of_squares(&[3.0, 4.0]), 25.0);
    }

    #[test]
    fn rope_rotates_pairs() {
        let mut head = [1.0, 0.0, 1.0, 0.0];
        let table = RopeTable::new(4, 10_000.0, 1.0, None);
        let (mut c, mut s) = ([0.0; 2], [0.0; 2]);
        table.angles(1, &mut c, &mut s);
        rope(&mut head, &c, &s, true);
        assert!((head[0] - 1f32.cos()).abs() < 1e-6 && (head[1] - 1f32.sin()).abs() < 1e-6);
        let norm = |h: &[f32]| h.iter().map(|v| v * v).sum::<f32>();
        assert!((norm(&head) - 2.0).abs() < 1e-5, "rotation keeps the norm");
    }
}
