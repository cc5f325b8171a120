//! The paper's measurements and interventions on the local engine (DESIGN.md §2): the
//! attention read-out π, split-softmax and classifier-free guidance.
//!
//! Options travel with the sampling options of a call (`SamplingOptions::intervention`); the
//! forward pass sees them as an `AttentionHook` per sequence, and `attention.rs` applies them
//! to the explicit attention weights of one query, between the softmax and the weighted sum.
//!
//! Edge cases, defined once here:
//! - π is the attention mass on the *content* of the system message (`ChatPrompt::system_span`);
//!   with no system message the span is empty, π = 0, and split-softmax changes nothing.
//! - split-softmax leaves a weight row unchanged when π = 0 (no mass to move) or π = 1 (the
//!   prompt already has it all), and is skipped altogether at k = 1, so that k = 1 gives the
//!   same bits as no intervention.
//! - the read-out reports π *after* any split-softmax of the same call: the attention the model
//!   actually used.
//! - CFG's unconditional branch is the conversation with the system message removed, rendered by
//!   the model's own template (which may insert the model's default system prompt, as SmolLM2's
//!   does); with no system message there is nothing to remove and the branch is skipped.

use super::error::{ModelError, Result};
use std::ops::Range;

/// What a call asks of the attention read-out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Readout {
    #[default]
    Off,
    /// π per generated token, layer and head.
    Pi,
    /// Also every attention row of every generated token (short prompts only).
    Full,
}

/// The largest context for which `attention: "full"` keeps every weight row: layers × heads ×
/// positions floats per generated token grows quadratically with the conversation.
pub const FULL_READOUT_MAX_CONTEXT: usize = 1024;

/// Interventions and read-outs of one call. All off by default.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Intervention {
    pub attention: Readout,
    /// Split-softmax exponent k ∈ [0, 1].
    pub split_softmax: Option<f64>,
    /// Layers split-softmax applies to, first and last included (all when absent).
    pub layers: Option<(usize, usize)>,
    /// Classifier-free guidance strength α ≥ 1.
    pub cfg: Option<f64>,
}

impl Intervention {
    pub fn is_none(&self) -> bool {
        *self == Intervention::default()
    }

    /// Names of what is asked, for backends that cannot do it.
    pub fn requested(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.attention != Readout::Off {
            names.push("attention");
        }
        if self.split_softmax.is_some() {
            names.push("split_softmax");
        }
        if self.layers.is_some() {
            names.push("layers");
        }
        if self.cfg.is_some() {
            names.push("cfg");
        }
        names
    }

    pub fn validate(&self) -> Result<()> {
        if let Some(k) = self.split_softmax
            && !(0.0..=1.0).contains(&k)
        {
            return Err(ModelError::InvalidOption(format!(
                "split_softmax must be an exponent k in [0, 1] (1 changes nothing), got {k}"
            )));
        }
        if let Some((a, b)) = self.layers {
            if a > b {
                return Err(ModelError::InvalidOption(format!(
                    "layers must be [first, last] with first ≤ last, got [{a}, {b}]"
                )));
            }
            if self.split_softmax.is_none() {
                return Err(ModelError::InvalidOption(
                    "layers restricts split_softmax: give split_softmax too".into(),
                ));
            }
        }
        if let Some(alpha) = self.cfg
            && !(alpha.is_finite() && alpha >= 1.0)
        {
            return Err(ModelError::InvalidOption(format!(
                "cfg must be a guidance strength α ≥ 1 (1 changes nothing), got {alpha}"
            )));
        }
        Ok(())
    }

    /// Checks against a model's depth.
    pub fn validate_for(&self, layers: usize) -> Result<()> {
        self.validate()?;
        if let Some((_, last)) = self.layers
            && last >= layers
        {
            return Err(ModelError::InvalidOption(format!(
                "layers: the model has layers 0 to {}, got last layer {last}",
                layers - 1
            )));
        }
        Ok(())
    }

    /// The split-softmax part, when it changes anything.
    pub fn split(&self, layers: usize) -> Option<SplitSoftmax> {
        let k = self.split_softmax?;
        if k == 1.0 {
            return None;
        }
        let (first, last) = self.layers.unwrap_or((0, layers.saturating_sub(1)));
        Some(SplitSoftmax {
            k: k as f32,
            layers: first..last + 1,
        })
    }

    /// The guidance strength, when guidance changes anything.
    pub fn guidance(&self) -> Option<f32> {
        self.cfg.filter(|&a| a != 1.0).map(|a| a as f32)
    }
}

/// Split-softmax with exponent `k` in the given layers.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitSoftmax {
    pub k: f32,
    pub layers: Range<usize>,
}

/// What the forward pass does to the attention of one sequence.
#[derive(Debug, Clone, Default)]
pub struct AttentionHook {
    /// Positions of the system prompt's content in the sequence.
    pub system: Range<usize>,
    pub split: Option<SplitSoftmax>,
    /// Read π (and with `Full`, the weight rows) of the sequence's last row in each pass.
    pub readout: Readout,
}

impl AttentionHook {
    pub fn is_active(&self) -> bool {
        self.split.is_some() || self.readout != Readout::Off
    }
}

/// Reweights one attention row so that the system span holds π^k of the mass (DESIGN.md §2):
/// α'_i = α_i·π^k/π inside the span, α_i·(1 − π^k)/(1 − π) outside. Returns π before the
/// change. Rows with π = 0 or π = 1 are left as they are.
pub fn split_softmax(weights: &mut [f32], system: Range<usize>, k: f32) -> f32 {
    let pi: f32 = weights[system.clone()].iter().sum();
    if pi <= 0.0 || pi >= 1.0 {
        return pi;
    }
    let target = pi.powf(k);
    let inside = target / pi;
    let outside = (1.0 - target) / (1.0 - pi);
    for (i, w) in weights.iter_mut().enumerate() {
        *w *= if system.contains(&i) { inside } else { outside };
    }
    pi
}

/// Log-probabilities combined for classifier-free guidance, written over `conditional`:
/// log p̂ = log p(w|h) + α·(log p(w|h,s) − log p(w|h)). The result is a valid logit vector (the
/// sampler normalises it); α = 1 gives the conditional distribution.
pub fn guide_logits(conditional: &mut [f32], unconditional: &[f32], alpha: f32) {
    let log_z = |logits: &[f32]| -> f32 {
        let max = super::math::max(logits);
        let sum: f64 = logits.iter().map(|&l| f64::from((l - max).exp())).sum();
        max + sum.ln() as f32
    };
    let (zc, zu) = (log_z(conditional), log_z(unconditional));
    for (c, &u) in conditional.iter_mut().zip(unconditional) {
        let (lc, lu) = (*c - zc, u - zu);
        *c = lu + alpha * (lc - lu);
    }
}

/// The attention read-out of one answer: π for every generated token (the query whose logits
/// chose it), per layer and head.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AttentionTrace {
    pub layers: usize,
    pub heads: usize,
    /// Tokens of the system prompt's content that the queries could see.
    pub system_tokens: usize,
    /// For each generated token, the number of tokens in the context of the query that chose it
    /// (the paper's x axis).
    pub context: Vec<usize>,
    /// `context.len() × layers × heads` values, token-major.
    pub pi: Vec<f32>,
    /// With `Readout::Full`: for each generated token, `layers × heads` rows of `context[t]`
    /// weights (zero outside a sliding window).
    #[serde(skip)]
    pub full: Vec<Vec<f32>>,
}

impl AttentionTrace {
    pub fn tokens(&self) -> usize {
        self.context.len()
    }

    /// π of token `t` in every layer and head (`layers × heads`).
    pub fn at_token(&self, t: usize) -> &[f32] {
        let size = self.layers * self.heads;
        &self.pi[t * size..(t + 1) * size]
    }

    /// π of every token for one layer and head.
    pub fn series(&self, layer: usize, head: usize) -> Vec<f32> {
        (0..self.tokens())
            .map(|t| self.at_token(t)[layer * self.heads + head])
            .collect()
    }

    /// π per layer and head averaged over the answer's tokens (`layers × heads`).
    pub fn mean_over_tokens(&self) -> Vec<f32> {
        let size = self.layers * self.heads;
        let mut sums = vec![0f64; size];
        for t in 0..self.tokens() {
            for (s, &v) in sums.iter_mut().zip(self.at_token(t)) {
                *s += f64::from(v);
            }
        }
        let n = self.tokens().max(1) as f64;
        sums.into_iter().map(|s| (s / n) as f32).collect()
    }

    /// π of every token averaged over the heads of one layer, or over all layers and heads.
    pub fn mean_series(&self, layer: Option<usize>) -> Vec<f32> {
        (0..self.tokens())
            .map(|t| {
                let values = self.at_token(t);
                let values = match layer {
                    Some(l) => &values[l * self.heads..(l + 1) * self.heads],
                    None => values,
                };
                values.iter().map(|&v| f64::from(v)).sum::<f64>() as f32 / values.len() as f32
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_softmax_moves_mass_to_pi_to_the_k() {
        let mut w = vec![0.1f32, 0.2, 0.3, 0.4];
        let pi = split_softmax(&mut w, 1..3, 0.5);
        assert!((pi - 0.5).abs() < 1e-6);
        let share: f32 = w[1..3].iter().sum();
        assert!((share - 0.5f32.sqrt()).abs() < 1e-6, "{share}");
        assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        // Ratios inside and outside the span are kept.
        assert!((w[2] / w[1] - 1.5).abs() < 1e-5);
        assert!((w[3] / w[0] - 4.0).abs() < 1e-5);
    }

    #[test]
    fn split_softmax_edge_cases_leave_rows_alone() {
        let mut none = vec![0.25f32; 4];
        split_softmax(&mut none, 2..2, 0.3); // no system prompt: π = 0
        assert_eq!(none, vec![0.25; 4]);
        let mut zero = vec![0.0f32, 0.0, 0.5, 0.5];
        split_softmax(&mut zero, 0..2, 0.3);
        assert_eq!(zero, vec![0.0, 0.0, 0.5, 0.5]);
        let mut all = vec![0.5f32, 0.5];
        split_softmax(&mut all, 0..2, 0.3);
        assert_eq!(all, vec![0.5, 0.5]);
        // k = 0 puts all the mass on the prompt.
        let mut w = vec![0.1f32, 0.2, 0.7];
        split_softmax(&mut w, 0..1, 0.0);
        assert!((w[0] - 1.0).abs() < 1e-6 && w[1] == 0.0 && w[2] == 0.0);
    }

    #[test]
    fn guidance_at_one_is_the_conditional_distribution() {
        let cond: Vec<f32> = (0..50).map(|i| (i as f32 * 0.7).sin() * 4.0).collect();
        let uncond: Vec<f32> = (0..50).map(|i| (i as f32 * 0.3).cos() * 3.0).collect();
        let softmax = |l: &[f32]| {
            let m = l.iter().cloned().fold(f32::MIN, f32::max);
            let z: f64 = l.iter().map(|&v| f64::from((v - m).exp())).sum();
            l.iter()
                .map(|&v| f64::from((v - m).exp()) / z)
                .collect::<Vec<_>>()
        };
        let mut guided = cond.clone();
        guide_logits(&mut guided, &uncond, 1.0);
        for (a, b) in softmax(&guided).iter().zip(softmax(&cond)) {
            assert!((a - b).abs() < 1e-6);
        }
        // α > 1 moves away from the unconditional distribution.
        let mut strong = cond.clone();
        guide_logits(&mut strong, &uncond, 3.0);
        assert_ne!(softmax(&strong), softmax(&cond));
    }

    #[test]
    fn bad_options_name_the_problem() {
        let bad = |i: Intervention| i.validate().unwrap_err().to_string();
        assert!(
            bad(Intervention {
                split_softmax: Some(1.5),
                ..Default::default()
            })
            .contains("split_softmax must be an exponent k in [0, 1]")
        );
        assert!(
            bad(Intervention {
                cfg: Some(0.5),
                ..Default::default()
            })
            .contains("cfg must be a guidance strength α ≥ 1")
        );
        assert!(
            bad(Intervention {
                split_softmax: Some(0.5),
                layers: Some((4, 2)),
                ..Default::default()
            })
            .contains("first ≤ last")
        );
        let deep = Intervention {
            split_softmax: Some(0.5),
            layers: Some((0, 30)),
            ..Default::default()
        };
        assert!(
            deep.validate_for(30)
                .unwrap_err()
                .to_string()
                .contains("the model has layers 0 to 29")
        );
    }
}
