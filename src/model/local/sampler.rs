//! Sampling options and the sampler: temperature, top-k, top-p, with a seeded ChaCha20 stream.
//!
//! ChaCha20 gives the same numbers on every platform and Rust version; sample `i` of a call uses
//! stream `i` of the seed, so answer `i` does not depend on how many others are drawn with it.
//! Ties between equal probabilities are broken by token id, so the result is a function of the
//! logits, the options and the seed alone.

use super::isa::detected_isa;
use super::math;
use crate::model::options::SamplingOptions;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

pub struct Sampler {
    rng: ChaCha20Rng,
    temperature: f32,
    top_p: f32,
    top_k: usize,
    /// Unnormalised probabilities of every token, reused between tokens.
    probs: Vec<f32>,
    /// (unnormalised probability, token) candidates, reused between tokens.
    candidates: Vec<(f32, u32)>,
}

impl Sampler {
    /// The sampler for answer number `stream` of a call with these options.
    pub fn new(opts: &SamplingOptions, stream: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(opts.seed);
        rng.set_stream(stream);
        Sampler {
            rng,
            temperature: opts.temperature as f32,
            top_p: opts.top_p as f32,
            top_k: opts.top_k,
            probs: Vec::new(),
            candidates: Vec::new(),
        }
    }

    /// A uniform number in [0, 1) from 53 random bits.
    fn uniform(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        if self.temperature == 0.0 {
            return argmax(logits);
        }
        let max = math::max(logits);
        let inv_t = 1.0 / self.temperature;
        // Unnormalised probabilities, relative to the most likely token.
        self.probs.resize(logits.len(), 0.0);
        scaled_exp_for(detected_isa(), logits, max, inv_t, &mut self.probs);
        // Most likely first; equal probabilities by token id.
        let order = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        self.candidates.clear();
        let top_k = self.top_k > 0 && self.top_k < self.probs.len();
        if top_k {
            self.candidates
                .extend(self.probs.iter().enumerate().map(|(i, &p)| (p, i as u32)));
            self.candidates
                .select_nth_unstable_by(self.top_k - 1, order);
            self.candidates.truncate(self.top_k);
        }
        if self.top_p < 1.0 {
            let total: f64 = if top_k {
                self.candidates.iter().map(|c| f64::from(c.0)).sum()
            } else {
                sum_f64(&self.probs)
            };
            let target = f64::from(self.top_p) * total;
            // Sorting 49k candidates per token would dominate decoding; the nucleus almost
            // always lies among the few tokens within a factor 1000 of the best, so sort those
            // first and widen only if their mass falls short. Tokens left out are all less
            // likely than every token kept, so the sorted prefix is exact either way.
            let pool: Vec<(f32, u32)> = if top_k {
                std::mem::take(&mut self.candidates)
            } else {
                Vec::new()
            };
            for threshold in [1e-3f32, 1e-6, 0.0] {
                self.candidates.clear();
                if top_k {
                    self.candidates
                        .extend(pool.iter().copied().filter(|c| c.0 >= threshold));
                } else {
                    self.candidates.extend(
                        self.probs
                            .iter()
                            .enumerate()
                            .filter(|(_, p)| **p >= threshold)
                            .map(|(i, &p)| (p, i as u32)),
                    );
                }
                self.candidates.sort_unstable_by(order);
                let mut cumulative = 0f64;
                let mut reached = None;
                for (i, c) in self.candidates.iter().enumerate() {
                    cumulative += f64::from(c.0);
                    if cumulative >= target {
                        reached = Some(i + 1);
                        break;
                    }
                }
                if let Some(n) = reached.or((threshold == 0.0).then_some(self.candidates.len())) {
                    self.candidates.truncate(n.max(1));
                    break;
                }
            }
        } else if !top_k {
            // No filtering: draw over every token in id order without building candidates.
            let total = sum_f64(&self.probs);
            let mut u = self.uniform() * total;
            for (token, &p) in self.probs.iter().enumerate() {
                u -= f64::from(p);
                if u < 0.0 {
                    return token as u32;
                }
            }
            return (self.probs.len() - 1) as u32;
        }
        let total: f64 = self.candidates.iter().map(|c| f64::from(c.0)).sum();
        let mut u = self.uniform() * total;
        for &(p, token) in &self.candidates {
            u -= f64::from(p);
            if u < 0.0 {
                return token;
            }
        }
        self.candidates.last().map_or(0, |c| c.1)
    }
}

super::isa::compiled_for_isa! {
    /// `out[i] = exp((logits[i] − max) · inv_t)`, compiled for `isa` (the
    /// arithmetic is the same plain Rust everywhere, so the results are too).
    fn scaled_exp_for(logits: &[f32], max: f32, inv_t: f32, out: &mut [f32]) = scaled_exp_body;
}

#[inline(always)]
fn scaled_exp_body(logits: &[f32], max: f32, inv_t: f32, out: &mut [f32]) {
    for (o, &l) in out.iter_mut().zip(logits) {
        *o = math::exp((l - max) * inv_t);
    }
}

/// Σ values in f64, in 8 interleaved partial sums folded in a fixed order: the same result
/// everywhere, without one long chain of dependent additions.
fn sum_f64(values: &[f32]) -> f64 {
    let mut lanes = [0f64; 8];
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        for l in 0..8 {
            lanes[l] += f64::from(chunk[l]);
        }
    }
    for (l, &v) in chunks.remainder().iter().enumerate() {
        lanes[l] += f64::from(v);
    }
    ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6]))
        + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]))
}

/// Index of the largest logit (the first one on ties).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits() -> Vec<f32> {
        (0..1000)
            .map(|i| ((i * 7919) % 1000) as f32 / 100.0)
            .collect()
    }

    #[test]
    fn same_seed_same_tokens_and_streams_differ() {
        let opts = SamplingOptions {
            seed: 42,
            ..Default::default()
        };
        let draw = |stream| {
            let mut s = Sampler::new(&opts, stream);
            (0..50).map(|_| s.sample(&logits())).collect::<Vec<_>>()
        };
        assert_eq!(draw(0), draw(0));
        assert_ne!(draw(0), draw(1));
    }

    #[test]
    fn greedy_and_top_k_one_pick_the_best() {
        let l = logits();
        let best = argmax(&l);
        let greedy = SamplingOptions {
            temperature: 0.0,
            ..Default::default()
        };
        assert_eq!(Sampler::new(&greedy, 0).sample(&l), best);
        let top1 = SamplingOptions {
            top_k: 1,
            ..Default::default()
        };
        let mut s = Sampler::new(&top1, 3);
        assert!((0..20).all(|_| s.sample(&l) == best));
    }

    #[test]
    fn top_p_keeps_only_the_nucleus() {
        // Token 0 has probability ~0.88, token 1 ~0.12, the rest are negligible.
        let mut l = vec![-30.0f32; 100];
        l[0] = 2.0;
        l[1] = 0.0;
        let opts = SamplingOptions {
            top_p: 0.5,
            ..Default::default()
        };
        let mut s = Sampler::new(&opts, 0);
        assert!((0..200).all(|_| s.sample(&l) == 0));
        let wide = SamplingOptions {
            top_p: 0.95,
            ..Default::default()
        };
        let mut s = Sampler::new(&wide, 0);
        let ones = (0..2000).filter(|_| s.sample(&l) == 1).count();
        assert!(
            (150..350).contains(&ones),
            "token 1 drawn {ones} times in 2000"
        );
    }

    #[test]
    fn bad_options_are_rejected_with_the_reason() {
        let bad = SamplingOptions {
            top_p: 0.0,
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("top_p"));
        let bad = SamplingOptions {
            temperature: -1.0,
            ..Default::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("temperature")
        );
        let bad = SamplingOptions {
            max_tokens: 0,
            ..Default::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("max_tokens")
        );
    }
}
