//! What the forward pass does for one sequence besides computing it: read-outs and
//! interventions, on the attention weights (the paper's π and split-softmax, DESIGN.md §2) and
//! on the residual stream after a layer (DESIGN.md §2b), plus classifier-free guidance on the
//! logits.
//!
//! Options travel with the sampling options of a call (`SamplingOptions::intervention`); the
//! forward pass sees them as one [`SequenceHook`] per sequence. `attention.rs` applies the
//! attention part to the explicit weights of one query, between the softmax and the weighted
//! sum ([`RowHook`]); `transformer.rs` applies the residual part after each layer
//! ([`ResidualEdit`]). [`SequenceHook::cache_key`] names everything that changes keys and
//! values, so that sequences computed under an intervention are cached apart from plain ones.
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

use crate::model::options::{Positions, Readout, ResidualEdit, ResidualOp, SplitSoftmax};
use std::ops::Range;

/// What the forward pass does for one sequence: attention read-out and split-softmax, and
/// edits of the residual stream. The default does nothing.
#[derive(Debug, Clone, Default)]
pub struct SequenceHook {
    /// Positions of the system prompt's content in the sequence.
    pub system: Range<usize>,
    pub split: Option<SplitSoftmax>,
    /// Read π (and with `Full`, the weight rows) of the sequence's last row in each pass.
    pub readout: Readout,
    /// Edits of the hidden state after chosen layers, applied in order.
    pub residual: Vec<PreparedEdit>,
    /// Hidden states to copy out after chosen layers (after the edits of the same layer).
    pub hidden: Option<HiddenReadout>,
}

/// Which hidden states a forward pass copies out for one sequence ([`Scratch::hidden`]).
///
/// [`Scratch::hidden`]: super::transformer::Scratch::hidden
#[derive(Debug, Clone, PartialEq)]
pub struct HiddenReadout {
    /// Layers whose output is read, in the order they are stored.
    pub layers: Vec<usize>,
    pub rows: HiddenRows,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HiddenRows {
    /// The sequence's last row in each pass (generation: the row of the token just fed).
    Last,
    /// Every row of the pass (reading a given conversation).
    All,
}

impl SequenceHook {
    /// Whether attention rows of this sequence need a [`RowHook`].
    pub fn touches_attention(&self) -> bool {
        self.split.is_some() || self.readout != Readout::Off
    }

    /// Whether the pass must stop after some layer for this sequence's residual stream.
    pub fn touches_residual(&self) -> bool {
        !self.residual.is_empty() || self.hidden.is_some()
    }

    pub fn is_active(&self) -> bool {
        self.touches_attention() || self.touches_residual()
    }

    /// Whether answers with this hook may draft (`drafting.rs`): only if every row's result is
    /// the same whatever rows are fed beside it, as for residual edits of all positions and
    /// a read-out of every fed row. Attention read-outs and interventions work on the last row
    /// of a pass, and so do `Positions::Last` edits; with a drafted row that row moves.
    pub fn allows_drafting(&self) -> bool {
        !self.touches_attention()
            && self
                .residual
                .iter()
                .all(|e| e.edit.positions == Positions::All)
            && self
                .hidden
                .as_ref()
                .is_none_or(|h| h.rows == HiddenRows::All)
    }

    /// Everything that changes this sequence's keys and values, as a prefix-cache key; `None`
    /// when nothing does (the read-out only looks). Floats enter by their bits, so two
    /// settings share a cache only when they compute the same numbers.
    pub fn cache_key(&self) -> Option<CacheKey> {
        if self.split.is_none() && self.residual.is_empty() {
            return None;
        }
        let mut key = Vec::new();
        if let Some(split) = &self.split {
            key.extend([
                0,
                split.k.to_bits(),
                split.layers.start as u32,
                split.layers.end as u32,
            ]);
        }
        for prepared in &self.residual {
            prepared.edit.push_key(&mut key);
        }
        Some(CacheKey(key))
    }
}

/// A cache key for sequences computed under interventions ([`SequenceHook::cache_key`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(Vec<u32>);

/// A residual edit ready for the forward pass: its direction v̂ = v/|v| computed once, in f64,
/// when the call starts, not for every row of every pass.
#[derive(Debug, Clone)]
pub struct PreparedEdit {
    pub edit: ResidualEdit,
    /// v̂ for the ops that project on it; empty for an addition.
    unit: Vec<f64>,
}

impl PreparedEdit {
    pub fn new(edit: ResidualEdit) -> Self {
        let unit = match &edit.op {
            ResidualOp::Add { .. } => Vec::new(),
            op => {
                let v = op.vector();
                let norm = v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
                v.iter()
                    .map(|&x| f64::from(x) / norm.max(f64::MIN_POSITIVE))
                    .collect()
            }
        };
        PreparedEdit { edit, unit }
    }

    /// Applies the edit to one row of the hidden state.
    pub fn apply(&self, h: &mut [f32]) {
        let unit = &self.unit;
        let projection =
            |h: &[f32]| -> f64 { h.iter().zip(unit).map(|(&x, &u)| f64::from(x) * u).sum() };
        let remove = |h: &mut [f32], amount: f64| {
            for (x, &u) in h.iter_mut().zip(unit) {
                *x = (f64::from(*x) - amount * u) as f32;
            }
        };
        match &self.edit.op {
            ResidualOp::Add {
                vector,
                coefficient,
            } => {
                // c = 0 must leave the row's bits alone (x + 0·v would turn −0 into +0).
                if *coefficient != 0.0 {
                    for (x, &v) in h.iter_mut().zip(vector) {
                        *x += coefficient * v;
                    }
                }
            }
            ResidualOp::Ablate {
                vector,
                coefficient,
            } => {
                remove(h, projection(h));
                for (x, &v) in h.iter_mut().zip(vector) {
                    *x += coefficient * v;
                }
            }
            ResidualOp::MeanAblate { mean, .. } => {
                remove(h, projection(h));
                for (x, &m) in h.iter_mut().zip(mean) {
                    *x += m;
                }
            }
            ResidualOp::Cap { threshold, .. } => {
                let excess = projection(h) - f64::from(*threshold);
                if excess > 0.0 {
                    remove(h, excess);
                }
            }
        }
    }
}

// The engine's side of `options::ResidualEdit`: its part of a cache key.
impl ResidualEdit {
    pub(super) fn push_key(&self, key: &mut Vec<u32>) {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let (tag, vectors, scalar): (u32, Vec<&[f32]>, f32) = match &self.op {
            ResidualOp::Add {
                vector,
                coefficient,
            } => (1, vec![vector], *coefficient),
            ResidualOp::Ablate {
                vector,
                coefficient,
            } => (2, vec![vector], *coefficient),
            ResidualOp::MeanAblate { vector, mean } => (3, vec![vector, mean], 0.0),
            ResidualOp::Cap { vector, threshold } => (4, vec![vector], *threshold),
        };
        let positions = match self.positions {
            Positions::All => 0,
            Positions::Last => 1,
        };
        key.extend([tag, self.layer as u32, positions, scalar.to_bits()]);
        for v in vectors {
            key.push(v.len() as u32);
            key.extend(bits(v));
        }
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

/// What the paper's read-out and intervention do to one query row (see [`SequenceHook`]).
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
    pub(super) fn apply(
        &mut self,
        scores: &mut [f32],
        group: usize,
        first: usize,
        position: usize,
    ) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(op: ResidualOp) -> PreparedEdit {
        PreparedEdit::new(ResidualEdit {
            layer: 0,
            positions: Positions::All,
            op,
        })
    }

    #[test]
    fn residual_edits_follow_their_formulas() {
        let v = vec![3.0f32, 4.0, 0.0]; // v̂ = (0.6, 0.8, 0)
        let h = [1.0f32, 2.0, 5.0]; // ⟨h, v̂⟩ = 2.2
        let mut added = h;
        edit(ResidualOp::Add {
            vector: v.clone(),
            coefficient: -0.5,
        })
        .apply(&mut added);
        assert_eq!(added, [-0.5, 0.0, 5.0]);
        let mut ablated = h;
        edit(ResidualOp::Ablate {
            vector: v.clone(),
            coefficient: 0.0,
        })
        .apply(&mut ablated);
        let expected = [1.0 - 2.2 * 0.6, 2.0 - 2.2 * 0.8, 5.0];
        for (a, e) in ablated.iter().zip(expected) {
            assert!((a - e).abs() < 1e-6, "{ablated:?}");
        }
        let mut mean = h;
        edit(ResidualOp::MeanAblate {
            vector: v.clone(),
            mean: vec![1.0, 1.0, 1.0],
        })
        .apply(&mut mean);
        for (a, e) in mean.iter().zip(expected) {
            assert!((a - (e + 1.0)).abs() < 1e-6, "{mean:?}");
        }
        // Capping at τ = 1 brings the projection down to 1; at τ = 3 the row is left alone.
        let mut capped = h;
        edit(ResidualOp::Cap {
            vector: v.clone(),
            threshold: 1.0,
        })
        .apply(&mut capped);
        let p: f32 = capped[0] * 0.6 + capped[1] * 0.8;
        assert!((p - 1.0).abs() < 1e-6, "{capped:?}");
        let mut untouched = h;
        edit(ResidualOp::Cap {
            vector: v,
            threshold: 3.0,
        })
        .apply(&mut untouched);
        assert_eq!(untouched, h);
    }

    #[test]
    fn cache_keys_name_what_changes_keys_and_values() {
        let plain = SequenceHook {
            readout: Readout::Pi,
            ..Default::default()
        };
        assert_eq!(plain.cache_key(), None, "a read-out changes nothing");
        let split = |k: f32| SequenceHook {
            split: Some(SplitSoftmax { k, layers: 0..4 }),
            ..Default::default()
        };
        assert_eq!(split(0.5).cache_key(), split(0.5).cache_key());
        assert_ne!(split(0.5).cache_key(), split(0.25).cache_key());
        let steered = SequenceHook {
            residual: vec![edit(ResidualOp::Add {
                vector: vec![1.0],
                coefficient: 2.0,
            })],
            ..Default::default()
        };
        assert!(steered.cache_key().is_some());
        assert_ne!(steered.cache_key(), split(0.5).cache_key());
    }

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
}
