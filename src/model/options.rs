//! What a call asks of any backend: sampling options, and the read-outs and interventions of
//! the local engine as data (DESIGN.md §2). The HTTP backend reads the sampling part and refuses
//! the rest by name; the local engine turns them into per-sequence hooks (`local::hooks`).

use super::error::{ModelError, Result};
use std::ops::Range;

/// How to draw tokens. The defaults are the paper's (temperature 1, top-p 0.9, 400 tokens).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplingOptions {
    /// 0 picks the most likely token every time.
    pub temperature: f64,
    /// Keep the smallest set of most likely tokens whose probability reaches `top_p` (1 = off).
    pub top_p: f64,
    /// Keep only the `top_k` most likely tokens (0 = off).
    pub top_k: usize,
    pub max_tokens: usize,
    pub seed: u64,
    /// Generation stops before the first occurrence of any of these strings.
    pub stop: Vec<String>,
    /// Keep generating through end-of-turn tokens until `max_tokens` (benchmarks use it to time
    /// a fixed number of tokens).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ignore_eos: bool,
    /// The attention read-out and the paper's interventions (local engine only).
    #[serde(skip_serializing_if = "Intervention::is_none")]
    pub intervention: Intervention,
}

impl Default for SamplingOptions {
    fn default() -> Self {
        SamplingOptions {
            temperature: 1.0,
            top_p: 0.9,
            top_k: 0,
            max_tokens: 400,
            seed: 0,
            stop: Vec::new(),
            ignore_eos: false,
            intervention: Intervention::default(),
        }
    }
}

impl SamplingOptions {
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(ModelError::InvalidOption(format!(
                "temperature must be a number ≥ 0, got {}",
                self.temperature
            )));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(ModelError::InvalidOption(format!(
                "top_p must be in (0, 1], got {}",
                self.top_p
            )));
        }
        if self.max_tokens == 0 {
            return Err(ModelError::InvalidOption(
                "max_tokens must be at least 1".into(),
            ));
        }
        if self.stop.iter().any(String::is_empty) {
            return Err(ModelError::InvalidOption(
                "stop strings must not be empty".into(),
            ));
        }
        self.intervention.validate()
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

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
