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
    /// Hidden states after chosen layers, reduced over each answer's tokens (local engine).
    #[serde(skip_serializing_if = "Option::is_none", skip_deserializing)]
    pub activations: Option<ActivationReadout>,
    /// Edits of the residual stream after chosen layers, applied in order (local engine).
    #[serde(skip_serializing_if = "Vec::is_empty", skip_deserializing)]
    pub steer: Vec<ResidualEdit>,
}

/// How an activations read-out reduces the rows it reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reduce {
    /// The mean over the rows, in f64, in order.
    #[default]
    Mean,
    /// The last row.
    Last,
}

/// Which hidden states an answer reports (DESIGN.md §2b): the residual stream after each of
/// `layers`, at the rows of the answer's own tokens — each token's row is computed when the
/// token is fed back, in the pass that chooses the next one, so an answer ended by its
/// end-of-turn token reads every one of its tokens, and one cut by `max_tokens` all but the
/// last. Read from the generating passes themselves; nothing is computed when not asked for.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ActivationReadout {
    pub layers: Vec<usize>,
    pub reduce: Reduce,
}

/// Which rows of a sequence a residual edit applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Positions {
    /// Every row the pass computes: prompt and answer tokens.
    #[default]
    All,
    /// The sequence's last row in each pass: the one whose logits choose the next token.
    Last,
}

/// One edit of the hidden state `h` after a decoder layer (Lu et al. 2026, DESIGN.md §2b), with
/// v̂ = v/|v|. Applied by the local engine (`local::hooks`).
#[derive(Debug, Clone, PartialEq)]
pub struct ResidualEdit {
    /// The layer whose output is edited.
    pub layer: usize,
    pub positions: Positions,
    pub op: ResidualOp,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ResidualOp {
    /// h + c·v.
    Add { vector: Vec<f32>, coefficient: f32 },
    /// h − ⟨h, v̂⟩v̂ + c·v.
    Ablate { vector: Vec<f32>, coefficient: f32 },
    /// h − ⟨h, v̂⟩v̂ + μ.
    MeanAblate { vector: Vec<f32>, mean: Vec<f32> },
    /// h − max(0, ⟨h, v̂⟩ − τ)·v̂: the projection held at or below τ; rows already at or below
    /// are not touched.
    Cap { vector: Vec<f32>, threshold: f32 },
}

impl ResidualOp {
    pub fn name(&self) -> &'static str {
        match self {
            ResidualOp::Add { .. } => "add",
            ResidualOp::Ablate { .. } => "ablate",
            ResidualOp::MeanAblate { .. } => "mean_ablate",
            ResidualOp::Cap { .. } => "cap",
        }
    }

    /// The direction the edit works along.
    pub fn vector(&self) -> &[f32] {
        match self {
            ResidualOp::Add { vector, .. }
            | ResidualOp::Ablate { vector, .. }
            | ResidualOp::MeanAblate { vector, .. }
            | ResidualOp::Cap { vector, .. } => vector,
        }
    }
}

/// Records carry an edit's vectors as their length and sha256, not hundreds of floats per
/// record: enough to tell two settings apart and to check a shared vector file.
impl serde::Serialize for ResidualEdit {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let digest = |v: &[f32]| {
            use sha2::Digest;
            let mut hasher = sha2::Sha256::new();
            for x in v {
                hasher.update(x.to_le_bytes());
            }
            let hash: String = hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            format!("{} floats, sha256 {hash}", v.len())
        };
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("layer", &self.layer)?;
        map.serialize_entry("positions", &self.positions)?;
        map.serialize_entry("op", self.op.name())?;
        map.serialize_entry("vector", &digest(self.op.vector()))?;
        match &self.op {
            ResidualOp::Add { coefficient, .. } | ResidualOp::Ablate { coefficient, .. } => {
                map.serialize_entry("coefficient", coefficient)?
            }
            ResidualOp::MeanAblate { mean, .. } => map.serialize_entry("mean", &digest(mean))?,
            ResidualOp::Cap { threshold, .. } => map.serialize_entry("threshold", threshold)?,
        }
        map.end()
    }
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
        if self.activations.is_some() {
            names.push("activations");
        }
        if !self.steer.is_empty() {
            names.push("steer");
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

    /// Checks against a model's depth and hidden size.
    pub fn validate_for(&self, layers: usize, hidden: usize) -> Result<()> {
        self.validate()?;
        let bad = |message: String| Err(ModelError::InvalidOption(message));
        if let Some((_, last)) = self.layers
            && last >= layers
        {
            return bad(format!(
                "layers: the model has layers 0 to {}, got last layer {last}",
                layers - 1
            ));
        }
        if let Some(readout) = &self.activations {
            if readout.layers.is_empty() {
                return bad("activations: give the layers to read, e.g. layers: [10, 20]".into());
            }
            if let Some(&l) = readout.layers.iter().find(|&&l| l >= layers) {
                return bad(format!(
                    "activations: the model has layers 0 to {}, got layer {l}",
                    layers - 1
                ));
            }
        }
        for (i, edit) in self.steer.iter().enumerate() {
            let op = edit.op.name();
            if edit.layer >= layers {
                return bad(format!(
                    "steer[{i}] ({op}): the model has layers 0 to {}, got layer {}",
                    layers - 1,
                    edit.layer
                ));
            }
            let mut vectors = vec![("vector", edit.op.vector())];
            if let ResidualOp::MeanAblate { mean, .. } = &edit.op {
                vectors.push(("mean", mean));
            }
            for (name, v) in vectors {
                if v.len() != hidden {
                    return bad(format!(
                        "steer[{i}] ({op}): {name} has {} values but the model's hidden size is \
                         {hidden}",
                        v.len()
                    ));
                }
                if v.iter().any(|x| !x.is_finite()) {
                    return bad(format!(
                        "steer[{i}] ({op}): {name} holds a value that is not a finite number"
                    ));
                }
            }
            if edit.op.vector().iter().all(|&x| x == 0.0)
                && !matches!(edit.op, ResidualOp::Add { .. })
            {
                return bad(format!(
                    "steer[{i}] ({op}): the vector is zero, so it has no direction"
                ));
            }
            let scalar = match &edit.op {
                ResidualOp::Add { coefficient, .. } | ResidualOp::Ablate { coefficient, .. } => {
                    Some(("coefficient", *coefficient))
                }
                ResidualOp::Cap { threshold, .. } => Some(("threshold", *threshold)),
                ResidualOp::MeanAblate { .. } => None,
            };
            if let Some((name, value)) = scalar
                && !value.is_finite()
            {
                return bad(format!(
                    "steer[{i}] ({op}): {name} must be a finite number, got {value}"
                ));
            }
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
            deep.validate_for(30, 576)
                .unwrap_err()
                .to_string()
                .contains("the model has layers 0 to 29")
        );
    }
}
