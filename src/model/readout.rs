//! What a generation reports besides its text: the attention read-out (π) and the
//! residual-stream read-out (activations).

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

/// The residual-stream read-out of one answer: the hidden state after each asked layer, reduced
/// over the rows of the answer's own tokens ([`ActivationReadout`]).
///
/// [`ActivationReadout`]: super::options::ActivationReadout
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ActivationTrace {
    pub layers: Vec<usize>,
    pub reduce: super::options::Reduce,
    /// Rows reduced: the answer's tokens that were fed back (0 for an empty answer, whose
    /// `vectors` are then empty).
    pub tokens: usize,
    /// One vector per layer of `layers`, in that order.
    pub vectors: Vec<Vec<f32>>,
}

/// Sums (or the last row) of an answer's hidden states while it decodes.
#[derive(Debug, Clone)]
pub struct ActivationSums {
    layers: Vec<usize>,
    reduce: super::options::Reduce,
    hidden: usize,
    rows: usize,
    /// Per layer: the running sum in f64 (mean), or the last row (last).
    values: Vec<f64>,
}

impl ActivationSums {
    pub fn new(readout: &super::options::ActivationReadout, hidden: usize) -> Self {
        ActivationSums {
            layers: readout.layers.clone(),
            reduce: readout.reduce,
            hidden,
            rows: 0,
            values: vec![0.0; readout.layers.len() * hidden],
        }
    }

    /// Values in one row: `layers × hidden`.
    pub fn width(&self) -> usize {
        self.values.len()
    }

    /// Adds one row: `layers × hidden` values, the layers in the readout's order.
    pub fn add(&mut self, row: &[f32]) {
        use super::options::Reduce;
        for (v, &x) in self.values.iter_mut().zip(row) {
            match self.reduce {
                Reduce::Mean => *v += f64::from(x),
                Reduce::Last => *v = f64::from(x),
            }
        }
        self.rows += 1;
    }

    pub fn finish(self) -> ActivationTrace {
        use super::options::Reduce;
        let n = self.rows;
        let vectors = if n == 0 {
            Vec::new()
        } else {
            self.values
                .chunks_exact(self.hidden)
                .map(|layer| {
                    layer
                        .iter()
                        .map(|&v| match self.reduce {
                            Reduce::Mean => (v / n as f64) as f32,
                            Reduce::Last => v as f32,
                        })
                        .collect()
                })
                .collect()
        };
        ActivationTrace {
            layers: self.layers,
            reduce: self.reduce,
            tokens: n,
            vectors,
        }
    }
}
