//! Hyperparameters of a decoder-only transformer, read from GGUF metadata or a Hugging Face
//! `config.json`. Both sources end up in one `TransformerConfig`, so the forward pass never
//! asks where the weights came from.

pub use super::architecture::RopeStyle;
use super::architecture::{Activation, Architecture, WindowLayers};
use crate::model::error::{ModelError, Result};
use candle_core::quantized::gguf_file::Value;
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct TransformerConfig {
    /// The family's description: which of the forward pass's features apply.
    pub architecture: &'static Architecture,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub ffn_hidden: usize,
    pub vocab: usize,
    pub rms_eps: f32,
    pub rope_theta: f32,
    pub rope_style: RopeStyle,
    /// Linear position scaling (`rope_scaling.type = linear`): positions are divided by it.
    pub rope_linear_factor: f32,
    /// Per-frequency divisors (Llama 3.1 `rope_freqs`), one per rotated pair.
    pub rope_freq_factors: Option<Vec<f32>>,
    pub context_length: usize,
    /// Sliding window: a query of a windowed layer sees at most this many most recent keys
    /// (which layers: [`TransformerConfig::layer_window`]).
    pub sliding_window: Option<usize>,
    /// Per layer: whether it is one of the windowed layers (the family's pattern, or the
    /// checkpoint's `sliding_window_pattern` / `layer_types`).
    pub windowed_layers: Vec<bool>,
    /// RoPE base of the windowed layers, when it differs from `rope_theta` (Gemma 3).
    pub local_rope_theta: Option<f32>,
    pub qkv_bias: bool,
    /// Multiplies attention scores before the softmax: 1/√head_dim unless the model says.
    pub attention_scale: f32,
    /// `cap · tanh(score / cap)` before the softmax.
    pub attention_softcap: Option<f32>,
    /// `cap · tanh(logit / cap)` on the output logits.
    pub final_softcap: Option<f32>,
    /// Token embeddings are multiplied by this.
    pub embedding_scale: Option<f32>,
}

/// More layers than any model has (the largest have a few hundred).
const MAX_LAYERS: usize = 4096;

impl TransformerConfig {
    pub fn q_dim(&self) -> usize {
        self.heads * self.head_dim
    }

    pub fn kv_dim(&self) -> usize {
        self.kv_heads * self.head_dim
    }

    /// The attention window of layer `layer`, if it has one.
    pub fn layer_window(&self, layer: usize) -> Option<usize> {
        self.sliding_window.filter(|_| self.windowed_layers[layer])
    }

    /// Whether layer `layer` rotates with the local RoPE base (`local_rope_theta`).
    pub fn layer_uses_local_rope(&self, layer: usize) -> bool {
        self.local_rope_theta.is_some() && self.windowed_layers[layer]
    }

    pub fn activation(&self) -> Activation {
        self.architecture.activation
    }

    /// The values the description leaves to the model: attention scale, soft-caps, embedding
    /// scale. `query_scalar` is the model's `query_pre_attn_scalar`, `caps` its attention and
    /// final-logit soft-caps.
    /// Refuses sizes no model has before anything is sized by them: a damaged header's
    /// `block_count` of 2^63 would otherwise size the per-layer tables (found by the fuzz suite,
    /// tests/fuzz/gguf.rs).
    fn check_sizes(self) -> Result<Self> {
        let sizes = [
            ("block_count", self.layers, MAX_LAYERS),
            ("embedding_length", self.hidden, 1 << 20),
            ("feed_forward_length", self.ffn_hidden, 1 << 22),
            ("attention.head_count", self.heads, 4096),
            ("attention.head_count_kv", self.kv_heads, 4096),
            ("head_dim", self.head_dim, 1 << 16),
            ("vocab_size", self.vocab, 1 << 24),
            ("context_length", self.context_length, 1 << 24),
        ];
        for (key, value, limit) in sizes {
            if value > limit {
                return Err(ModelError::Metadata {
                    key: key.into(),
                    reason: format!(
                        "{value} is beyond any model this tool can load (at most {limit})"
                    ),
                });
            }
        }
        Ok(self)
    }

    fn with_features(
        mut self,
        query_scalar: Option<f32>,
        caps: (Option<f32>, Option<f32>),
    ) -> Self {
        let arch = self.architecture;
        let scalar = query_scalar
            .filter(|_| arch.query_scalar_key)
            .unwrap_or(self.head_dim as f32);
        self.attention_scale = 1.0 / scalar.sqrt();
        if arch.soft_caps {
            (self.attention_softcap, self.final_softcap) = caps;
        }
        self.embedding_scale = arch.scale_embedding.then(|| (self.hidden as f32).sqrt());
        self.qkv_bias = arch.qkv_bias;
        if self.windowed_layers.len() != self.layers {
            self.windowed_layers = (0..self.layers)
                .map(|l| arch.window_layers.is_windowed(l))
                .collect();
        }
        self
    }

    fn validate(self) -> Result<Self> {
        let bad = |key: &str, reason: String| {
            Err(ModelError::Metadata {
                key: key.into(),
                reason,
            })
        };
        if self.heads == 0 || self.kv_heads == 0 || !self.heads.is_multiple_of(self.kv_heads) {
            return bad(
                "attention.head_count_kv",
                format!(
                    "{} query heads cannot share {} key/value heads",
                    self.heads, self.kv_heads
                ),
            );
        }
        // Attention kernels work on 16 dimensions at a time.
        if !self.head_dim.is_multiple_of(16) || self.head_dim == 0 {
            return bad(
                "head_dim",
                format!(
                    "head dimension {} is not supported (it must be a multiple of 16)",
                    self.head_dim
                ),
            );
        }
        if self.heads / self.kv_heads > 8 {
            return bad(
                "attention.head_count_kv",
                format!(
                    "{} query heads per key/value head are not supported (at most 8)",
                    self.heads / self.kv_heads
                ),
            );
        }
        // Weight tiles hold 16 output rows and quantization blocks 32 inputs.
        if !self.hidden.is_multiple_of(32)
            || !self.ffn_hidden.is_multiple_of(32)
            || !self.kv_dim().is_multiple_of(16)
            || !self.q_dim().is_multiple_of(16)
        {
            return bad(
                "embedding_length",
                format!(
                    "hidden size {}, feed-forward size {} (multiples of 32) or key/value size {} \
                     (a multiple of 16) not supported",
                    self.hidden,
                    self.ffn_hidden,
                    self.kv_dim()
                ),
            );
        }
        Ok(self)
    }

    /// From GGUF metadata; `vocab` comes from the embedding tensor's shape.
    pub fn from_gguf(metadata: &HashMap<String, Value>, vocab: usize) -> Result<Self> {
        let arch_name = get_string(metadata, "general.architecture")?;
        let architecture = Architecture::by_gguf_name(&arch_name)
            .ok_or_else(|| ModelError::UnsupportedArchitecture(arch_name.clone()))?;
        let key = |suffix: &str| format!("{arch_name}.{suffix}");
        let u = |suffix: &str| get_usize(metadata, &key(suffix));
        let f = |suffix: &str| get_f32(metadata, &key(suffix));
        let hidden = u("embedding_length")?;
        let heads = u("attention.head_count")?;
        // Qwen3's and Gemma's heads are not hidden/heads wide: llama.cpp writes the width as
        // `attention.key_length` (and the rotated part as `rope.dimension_count`).
        let head_dim = match (u("attention.key_length"), u("rope.dimension_count")) {
            (Ok(d), _) | (Err(_), Ok(d)) => d,
            _ => hidden / heads.max(1),
        };
        let layers = u("block_count")?;
        let query_scalar = architecture
            .gguf_hidden_per_head_scalar_layers
            .contains(&layers)
            .then(|| (hidden / heads.max(1)) as f32);
        let rope_linear_factor = match metadata.get(&key("rope.scaling.type")) {
            Some(Value::String(kind)) if kind == "linear" => {
                f("rope.scaling.factor").unwrap_or(1.0)
            }
            _ => 1.0,
        };
        TransformerConfig {
            architecture,
            hidden,
            layers,
            heads,
            kv_heads: u("attention.head_count_kv").unwrap_or(heads),
            head_dim,
            ffn_hidden: u("feed_forward_length")?,
            vocab,
            rms_eps: f("attention.layer_norm_rms_epsilon").unwrap_or(1e-5),
            rope_theta: f("rope.freq_base").unwrap_or(10_000.0),
            rope_style: architecture.gguf_rope,
            rope_linear_factor,
            rope_freq_factors: None,
            context_length: u("context_length").unwrap_or(4096),
            sliding_window: u("attention.sliding_window").ok(),
            windowed_layers: Vec::new(),
            local_rope_theta: architecture
                .local_rope_theta
                .map(|default| f("rope.local_freq_base").unwrap_or(default)),
            qkv_bias: false,
            attention_scale: 0.0,
            attention_softcap: None,
            final_softcap: None,
            embedding_scale: None,
        }
        .check_sizes()?
        .with_features(
            query_scalar,
            (
                f("attn_logit_softcapping").ok(),
                f("final_logit_softcapping").ok(),
            ),
        )
        .validate()
    }

    /// From a Hugging Face `config.json`.
    pub fn from_hf_json(json: &serde_json::Value) -> Result<Self> {
        let model_type = json["model_type"].as_str().unwrap_or("");
        if model_type == "gemma3" {
            return Err(ModelError::Metadata {
                key: "config.json: model_type".into(),
                reason: "`gemma3` is the multimodal checkpoint (its text model in `text_config`, \
                         its weights under `language_model.`): use the text-only `gemma3_text` \
                         checkpoint (Gemma 3 1B) or a GGUF file of the model"
                    .into(),
            });
        }
        let architecture = Architecture::by_hf_model_type(model_type)
            .ok_or_else(|| ModelError::UnsupportedArchitecture(model_type.to_string()))?;
        let u = |name: &str| -> Result<usize> {
            json[name]
                .as_u64()
                .map(|v| v as usize)
                .ok_or_else(|| ModelError::Metadata {
                    key: format!("config.json: {name}"),
                    reason: "missing or not a number".into(),
                })
        };
        let hidden = u("hidden_size")?;
        let heads = u("num_attention_heads")?;
        let head_dim = u("head_dim").unwrap_or(hidden / heads.max(1));
        let scaling = &json["rope_scaling"];
        let scaling_type = scaling["rope_type"]
            .as_str()
            .or(scaling["type"].as_str())
            .unwrap_or("");
        let rope_theta = json["rope_theta"].as_f64().unwrap_or(10_000.0) as f32;
        let rope_freq_factors = match scaling_type {
            "llama3" => Some(llama3_frequency_factors(scaling, head_dim, rope_theta)),
            _ => None,
        };
        let window_enabled = json["use_sliding_window"]
            .as_bool()
            .unwrap_or(!architecture.hf_window_needs_flag);
        let sliding_window = json["sliding_window"]
            .as_u64()
            .map(|w| w as usize)
            .filter(|_| window_enabled);
        let float = |name: &str| json[name].as_f64().map(|v| v as f32);
        let layers = u("num_hidden_layers")?;
        // Which layers are windowed: `layer_types` (recent transformers), else
        // `sliding_window_pattern` (Gemma 3's original configs), else the family's pattern.
        let windowed_layers: Vec<bool> = match (
            json["layer_types"].as_array(),
            json["sliding_window_pattern"].as_u64(),
        ) {
            (Some(types), _) if types.len() == layers => types
                .iter()
                .map(|t| t.as_str() == Some("sliding_attention"))
                .collect(),
            (Some(types), _) => {
                return Err(ModelError::Metadata {
                    key: "config.json: layer_types".into(),
                    reason: format!("{} entries for {layers} layers", types.len()),
                });
            }
            // (A layer count no model has is refused by `check_sizes` below, before this table
            // would be sized by it.)
            (None, Some(period)) if period > 0 && layers <= MAX_LAYERS => (0..layers)
                .map(|l| WindowLayers::AllButEvery(period as usize).is_windowed(l))
                .collect(),
            _ => Vec::new(),
        };
        TransformerConfig {
            architecture,
            hidden,
            layers,
            heads,
            kv_heads: u("num_key_value_heads").unwrap_or(heads),
            head_dim,
            ffn_hidden: u("intermediate_size")?,
            vocab: u("vocab_size")?,
            rms_eps: json["rms_norm_eps"].as_f64().unwrap_or(1e-5) as f32,
            rope_theta,
            rope_style: RopeStyle::Halves,
            rope_linear_factor: match scaling_type {
                "linear" => scaling["factor"].as_f64().unwrap_or(1.0) as f32,
                _ => 1.0,
            },
            rope_freq_factors,
            context_length: u("max_position_embeddings").unwrap_or(4096),
            sliding_window,
            windowed_layers,
            local_rope_theta: architecture
                .local_rope_theta
                .map(|default| float("rope_local_base_freq").unwrap_or(default)),
            qkv_bias: false,
            attention_scale: 0.0,
            attention_softcap: None,
            final_softcap: None,
            embedding_scale: None,
        }
        .check_sizes()?
        .with_features(
            float("query_pre_attn_scalar"),
            (
                float("attn_logit_softcapping"),
                float("final_logit_softcapping"),
            ),
        )
        .validate()
    }
}

/// Llama 3.1's frequency-dependent RoPE scaling, expressed as divisors of each inverse frequency.
fn llama3_frequency_factors(scaling: &serde_json::Value, head_dim: usize, theta: f32) -> Vec<f32> {
    let factor = scaling["factor"].as_f64().unwrap_or(8.0);
    let low = scaling["low_freq_factor"].as_f64().unwrap_or(1.0);
    let high = scaling["high_freq_factor"].as_f64().unwrap_or(4.0);
    let original = scaling["original_max_position_embeddings"]
        .as_f64()
        .unwrap_or(8192.0);
    let (low_wavelen, high_wavelen) = (original / low, original / high);
    (0..head_dim / 2)
        .map(|i| {
            let freq = 1.0 / (theta as f64).powf(2.0 * i as f64 / head_dim as f64);
            let wavelen = 2.0 * std::f64::consts::PI / freq;
            let divisor = if wavelen < high_wavelen {
                1.0
            } else if wavelen > low_wavelen {
                factor
            } else {
                let smooth = (original / wavelen - low) / (high - low);
                1.0 / ((1.0 - smooth) / factor + smooth)
            };
            divisor as f32
        })
        .collect()
}

pub(crate) fn get_string(metadata: &HashMap<String, Value>, key: &str) -> Result<String> {
    match metadata.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(ModelError::Metadata {
            key: key.into(),
            reason: "not a string".into(),
        }),
        None => Err(ModelError::Metadata {
            key: key.into(),
            reason: "missing".into(),
        }),
    }
}

fn get_usize(metadata: &HashMap<String, Value>, key: &str) -> Result<usize> {
    let value = metadata.get(key).ok_or_else(|| ModelError::Metadata {
        key: key.into(),
        reason: "missing".into(),
    })?;
    let n = match value {
        Value::U8(v) => *v as u64,
        Value::U16(v) => *v as u64,
        Value::U32(v) => *v as u64,
        Value::U64(v) => *v,
        Value::I32(v) if *v >= 0 => *v as u64,
        Value::I64(v) if *v >= 0 => *v as u64,
        _ => {
            return Err(ModelError::Metadata {
                key: key.into(),
                reason: format!("expected a non-negative integer, found {value:?}"),
            });
        }
    };
    Ok(n as usize)
}

fn get_f32(metadata: &HashMap<String, Value>, key: &str) -> Result<f32> {
    match metadata.get(key) {
        Some(Value::F32(v)) => Ok(*v),
        Some(Value::F64(v)) => Ok(*v as f32),
        Some(other) => Err(ModelError::Metadata {
            key: key.into(),
            reason: format!("expected a float, found {other:?}"),
        }),
        None => Err(ModelError::Metadata {
            key: key.into(),
            reason: "missing".into(),
        }),
    }
}
