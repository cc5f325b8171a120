//! Architectures as data: everything that differs between the decoder families the engine
//! runs, one description per family, read once at load into a [`TransformerConfig`].
//!
//! The forward pass (`transformer.rs`) implements the union of the families' features — norm
//! offset and placement, q/k normalization, the feed-forward activation, embedding scaling,
//! attention and final-logit soft-caps, per-layer attention windows, the attention scale — and
//! asks the configuration which apply; it never asks which family it runs. Adding a family is
//! one [`Architecture`] in [`ARCHITECTURES`] (features, metadata keys, tensor names) plus its
//! chat-template quirks; the list of supported names in errors comes from the same table.
//!
//! [`TransformerConfig`]: super::config::TransformerConfig

/// How RoPE pairs up the dimensions of a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    /// Dimensions (2i, 2i+1) rotate together: GGUF Llama files, whose converter permutes the
    /// q and k weights into this order.
    Interleaved,
    /// Dimensions (i, i + d/2) rotate together: Hugging Face checkpoints and GGUF Qwen2.
    Halves,
}

/// The feed-forward block's gate activation: `act(gate) · up`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// SiLU (SwiGLU): Llama, Mistral, Qwen.
    Silu,
    /// GELU, tanh approximation (GeGLU): Gemma.
    GeluTanh,
}

/// Which layers attend through the sliding window, when the model has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowLayers {
    /// Every layer (Mistral).
    All,
    /// Layer `l` is global when `(l + 1) % period == 0`, windowed otherwise (Gemma 2: period
    /// 2, windowed layers 0, 2, 4, …; Gemma 3: period 6).
    AllButEvery(usize),
}

impl WindowLayers {
    /// Whether layer `layer` attends through the sliding window (when there is one).
    pub fn is_windowed(self, layer: usize) -> bool {
        match self {
            WindowLayers::All => true,
            WindowLayers::AllButEvery(period) => !(layer + 1).is_multiple_of(period),
        }
    }
}

/// One architecture family: what the forward pass must do for it and where its weights are.
#[derive(Debug)]
pub struct Architecture {
    /// The name in records and `m.info()`.
    pub name: &'static str,
    /// `general.architecture` values of GGUF files of this family.
    pub gguf_names: &'static [&'static str],
    /// `model_type` values of Hugging Face `config.json` files of this family.
    pub hf_model_types: &'static [&'static str],
    /// How a head's dimensions pair up for RoPE in GGUF files (Hugging Face checkpoints always
    /// use halves; llama.cpp's converter permutes Llama's q and k into interleaved pairs).
    pub gguf_rope: RopeStyle,
    /// Biases on the q, k and v projections (Qwen2).
    pub qkv_bias: bool,
    /// RMSNorm of every query and key head before RoPE (Qwen3, Gemma 3).
    pub qk_norm: bool,
    /// A norm on the attention and feed-forward outputs before each residual add (Gemma 2
    /// and 3), besides the usual pre-norms.
    pub post_norms: bool,
    pub activation: Activation,
    /// Token embeddings are multiplied by √hidden (Gemma).
    pub scale_embedding: bool,
    /// Attention scores and final logits may be soft-capped, `cap · tanh(x / cap)`, with caps
    /// from the metadata (Gemma 2).
    pub soft_caps: bool,
    /// Which layers use the sliding window when the metadata gives one (a Hugging Face
    /// `sliding_window_pattern` or `layer_types` overrides it; GGUF files carry no pattern, and
    /// llama.cpp fixes it per family as this does).
    pub window_layers: WindowLayers,
    /// RoPE base of the windowed layers when it differs from the global layers' (Gemma 3:
    /// 10,000 against 1,000,000), from `rope_local_base_freq` in `config.json` or
    /// `{arch}.rope.local_freq_base` in GGUF, else this default (llama.cpp's). Those layers
    /// take no position scaling (transformers and llama.cpp scale only the global layers).
    pub local_rope_theta: Option<f32>,
    /// A `config.json` window applies only with `use_sliding_window: true` (Qwen: configs
    /// carry a window they do not use).
    pub hf_window_needs_flag: bool,
    /// Scores are scaled by 1/√s with s from the metadata key `query_pre_attn_scalar` when
    /// present (Gemma 2 and 3), else 1/√head_dim.
    pub query_scalar_key: bool,
    /// GGUF files carry no `query_pre_attn_scalar`: llama.cpp scales by 1/√(hidden/heads) for
    /// the models with these layer counts (Gemma 2 27B: 46, Gemma 3 27B: 62), whose scalar is
    /// hidden/heads, and by 1/√head_dim otherwise, which is every other size's scalar.
    pub gguf_hidden_per_head_scalar_layers: &'static [usize],
    pub gguf_tensors: TensorNames,
    pub hf_tensors: TensorNames,
}

/// Tensor names of one checkpoint format; `{}` stands for the layer number. `None`: the
/// family has no such tensor. Which optional tensors are read follows the description's flags.
#[derive(Debug)]
pub struct TensorNames {
    /// Norm weights are stored as `w − offset` and used as `w`: Gemma's Hugging Face
    /// checkpoints (the model computes `x̂ · (1 + w)`) store 1 less than llama.cpp's
    /// converter, which adds the 1 when writing GGUF. Folded in at load, q/k norms included.
    pub norm_offset: f32,
    pub embedding: &'static str,
    pub final_norm: &'static str,
    /// Absent from files whose output projection is tied to the embedding.
    pub output: &'static str,
    pub attn_norm: &'static str,
    pub q: &'static str,
    pub k: &'static str,
    pub v: &'static str,
    /// With `qkv_bias`.
    pub qkv_biases: Option<[&'static str; 3]>,
    /// With `qk_norm`.
    pub qk_norms: Option<[&'static str; 2]>,
    pub attn_output: &'static str,
    /// With `post_norms`: after the attention output and after the feed-forward output.
    pub post_norms: Option<[&'static str; 2]>,
    pub ffn_norm: &'static str,
    pub gate: &'static str,
    pub up: &'static str,
    pub down: &'static str,
}

const GGUF_LLAMA_TENSORS: TensorNames = TensorNames {
    norm_offset: 0.0,
    embedding: "token_embd.weight",
    final_norm: "output_norm.weight",
    output: "output.weight",
    attn_norm: "blk.{}.attn_norm.weight",
    q: "blk.{}.attn_q.weight",
    k: "blk.{}.attn_k.weight",
    v: "blk.{}.attn_v.weight",
    qkv_biases: None,
    qk_norms: None,
    attn_output: "blk.{}.attn_output.weight",
    post_norms: None,
    ffn_norm: "blk.{}.ffn_norm.weight",
    gate: "blk.{}.ffn_gate.weight",
    up: "blk.{}.ffn_up.weight",
    down: "blk.{}.ffn_down.weight",
};

const HF_LLAMA_TENSORS: TensorNames = TensorNames {
    norm_offset: 0.0,
    embedding: "model.embed_tokens.weight",
    final_norm: "model.norm.weight",
    output: "lm_head.weight",
    attn_norm: "model.layers.{}.input_layernorm.weight",
    q: "model.layers.{}.self_attn.q_proj.weight",
    k: "model.layers.{}.self_attn.k_proj.weight",
    v: "model.layers.{}.self_attn.v_proj.weight",
    qkv_biases: None,
    qk_norms: None,
    attn_output: "model.layers.{}.self_attn.o_proj.weight",
    post_norms: None,
    ffn_norm: "model.layers.{}.post_attention_layernorm.weight",
    gate: "model.layers.{}.mlp.gate_proj.weight",
    up: "model.layers.{}.mlp.up_proj.weight",
    down: "model.layers.{}.mlp.down_proj.weight",
};

/// Every family the engine runs.
pub static ARCHITECTURES: &[Architecture] = &[
    Architecture {
        name: "llama",
        gguf_names: &["llama", "mistral"],
        hf_model_types: &["llama", "mistral"],
        gguf_rope: RopeStyle::Interleaved,
        qkv_bias: false,
        qk_norm: false,
        post_norms: false,
        activation: Activation::Silu,
        scale_embedding: false,
        soft_caps: false,
        window_layers: WindowLayers::All,
        local_rope_theta: None,
        hf_window_needs_flag: false,
        query_scalar_key: false,
        gguf_hidden_per_head_scalar_layers: &[],
        gguf_tensors: GGUF_LLAMA_TENSORS,
        hf_tensors: HF_LLAMA_TENSORS,
    },
    Architecture {
        name: "qwen2",
        gguf_names: &["qwen2"],
        hf_model_types: &["qwen2"],
        gguf_rope: RopeStyle::Halves,
        qkv_bias: true,
        qk_norm: false,
        post_norms: false,
        activation: Activation::Silu,
        scale_embedding: false,
        soft_caps: false,
        window_layers: WindowLayers::All,
        local_rope_theta: None,
        hf_window_needs_flag: true,
        query_scalar_key: false,
        gguf_hidden_per_head_scalar_layers: &[],
        gguf_tensors: TensorNames {
            qkv_biases: Some([
                "blk.{}.attn_q.bias",
                "blk.{}.attn_k.bias",
                "blk.{}.attn_v.bias",
            ]),
            ..GGUF_LLAMA_TENSORS
        },
        hf_tensors: TensorNames {
            qkv_biases: Some([
                "model.layers.{}.self_attn.q_proj.bias",
                "model.layers.{}.self_attn.k_proj.bias",
                "model.layers.{}.self_attn.v_proj.bias",
            ]),
            ..HF_LLAMA_TENSORS
        },
    },
    Architecture {
        name: "qwen3",
        gguf_names: &["qwen3"],
        hf_model_types: &["qwen3"],
        gguf_rope: RopeStyle::Halves,
        qkv_bias: false,
        qk_norm: true,
        post_norms: false,
        activation: Activation::Silu,
        scale_embedding: false,
        soft_caps: false,
        window_layers: WindowLayers::All,
        local_rope_theta: None,
        hf_window_needs_flag: true,
        query_scalar_key: false,
        gguf_hidden_per_head_scalar_layers: &[],
        gguf_tensors: TensorNames {
            qk_norms: Some(["blk.{}.attn_q_norm.weight", "blk.{}.attn_k_norm.weight"]),
            ..GGUF_LLAMA_TENSORS
        },
        hf_tensors: TensorNames {
            qk_norms: Some([
                "model.layers.{}.self_attn.q_norm.weight",
                "model.layers.{}.self_attn.k_norm.weight",
            ]),
            ..HF_LLAMA_TENSORS
        },
    },
    Architecture {
        name: "gemma2",
        gguf_names: &["gemma2"],
        hf_model_types: &["gemma2"],
        gguf_rope: RopeStyle::Halves,
        qkv_bias: false,
        qk_norm: false,
        post_norms: true,
        activation: Activation::GeluTanh,
        scale_embedding: true,
        soft_caps: true,
        window_layers: WindowLayers::AllButEvery(2),
        local_rope_theta: None,
        hf_window_needs_flag: false,
        query_scalar_key: true,
        gguf_hidden_per_head_scalar_layers: &[46],
        gguf_tensors: GGUF_GEMMA_TENSORS,
        hf_tensors: HF_GEMMA_TENSORS,
    },
    Architecture {
        name: "gemma3",
        gguf_names: &["gemma3"],
        // Not `gemma3`: the multimodal checkpoints (`text_config`, `language_model.*`
        // tensors) are refused by `config.rs` with a note on what to use instead.
        hf_model_types: &["gemma3_text"],
        gguf_rope: RopeStyle::Halves,
        qkv_bias: false,
        qk_norm: true,
        post_norms: true,
        activation: Activation::GeluTanh,
        scale_embedding: true,
        soft_caps: true,
        window_layers: WindowLayers::AllButEvery(6),
        local_rope_theta: Some(10_000.0),
        hf_window_needs_flag: false,
        query_scalar_key: true,
        gguf_hidden_per_head_scalar_layers: &[62],
        gguf_tensors: TensorNames {
            qk_norms: Some(["blk.{}.attn_q_norm.weight", "blk.{}.attn_k_norm.weight"]),
            ..GGUF_GEMMA_TENSORS
        },
        hf_tensors: TensorNames {
            qk_norms: Some([
                "model.layers.{}.self_attn.q_norm.weight",
                "model.layers.{}.self_attn.k_norm.weight",
            ]),
            ..HF_GEMMA_TENSORS
        },
    },
];

/// llama.cpp's converter: the pre-feed-forward norm keeps Llama's `ffn_norm` name; the norms
/// after attention and after the feed-forward block are `post_attention_norm` and
/// `post_ffw_norm`; norm weights are written with Gemma's 1 already added.
const GGUF_GEMMA_TENSORS: TensorNames = TensorNames {
    post_norms: Some([
        "blk.{}.post_attention_norm.weight",
        "blk.{}.post_ffw_norm.weight",
    ]),
    ..GGUF_LLAMA_TENSORS
};

/// Gemma's `post_attention_layernorm` is the norm *after* attention (Llama's of that name is
/// the feed-forward pre-norm, `pre_feedforward_layernorm` here).
const HF_GEMMA_TENSORS: TensorNames = TensorNames {
    norm_offset: 1.0,
    ffn_norm: "model.layers.{}.pre_feedforward_layernorm.weight",
    post_norms: Some([
        "model.layers.{}.post_attention_layernorm.weight",
        "model.layers.{}.post_feedforward_layernorm.weight",
    ]),
    ..HF_LLAMA_TENSORS
};

impl Architecture {
    /// The family whose GGUF files declare `name`.
    pub fn by_gguf_name(name: &str) -> Option<&'static Architecture> {
        ARCHITECTURES.iter().find(|a| a.gguf_names.contains(&name))
    }

    /// The family of a Hugging Face `model_type`.
    pub fn by_hf_model_type(model_type: &str) -> Option<&'static Architecture> {
        ARCHITECTURES
            .iter()
            .find(|a| a.hf_model_types.contains(&model_type))
    }

    /// Every name a GGUF file may declare, for errors: "llama, mistral, qwen2".
    pub fn supported_names() -> String {
        let mut names: Vec<&str> = ARCHITECTURES
            .iter()
            .flat_map(|a| a.gguf_names.iter().chain(a.hf_model_types))
            .copied()
            .collect();
        names.sort_unstable();
        names.dedup();
        names.join(", ")
    }

    /// Whether layer `layer` attends through the sliding window (when there is one).
    pub fn layer_is_windowed(&self, layer: usize) -> bool {
        self.window_layers.is_windowed(layer)
    }
}

impl std::fmt::Display for Architecture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Compared by identity: there is one description per family.
impl PartialEq for Architecture {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_find_their_family_and_the_supported_list_comes_from_the_table() {
        assert_eq!(Architecture::by_gguf_name("mistral").unwrap().name, "llama");
        assert_eq!(
            Architecture::by_hf_model_type("qwen2").unwrap().name,
            "qwen2"
        );
        assert!(Architecture::by_gguf_name("gpt2").is_none());
        assert_eq!(
            Architecture::supported_names(),
            "gemma2, gemma3, gemma3_text, llama, mistral, qwen2, qwen3"
        );
        assert_eq!(
            Architecture::by_hf_model_type("gemma3_text").unwrap().name,
            "gemma3"
        );
        assert!(Architecture::by_gguf_name("gemma").is_none());
    }

    #[test]
    fn window_patterns_pick_the_windowed_layers() {
        let gemma2_like = Architecture {
            window_layers: WindowLayers::AllButEvery(2),
            ..clone_llama()
        };
        let windowed: Vec<bool> = (0..4).map(|l| gemma2_like.layer_is_windowed(l)).collect();
        assert_eq!(windowed, [true, false, true, false]);
        assert!((0..4).all(|l| ARCHITECTURES[0].layer_is_windowed(l)));
        let gemma3 = Architecture::by_gguf_name("gemma3").unwrap();
        let windowed: Vec<usize> = (0..12).filter(|&l| !gemma3.layer_is_windowed(l)).collect();
        assert_eq!(windowed, [5, 11], "Gemma 3's global layers");
    }

    fn clone_llama() -> Architecture {
        let a = &ARCHITECTURES[0];
        Architecture {
            name: a.name,
            gguf_names: a.gguf_names,
            hf_model_types: a.hf_model_types,
            gguf_rope: a.gguf_rope,
            qkv_bias: a.qkv_bias,
            qk_norm: a.qk_norm,
            post_norms: a.post_norms,
            activation: a.activation,
            scale_embedding: a.scale_embedding,
            soft_caps: a.soft_caps,
            window_layers: a.window_layers,
            local_rope_theta: a.local_rope_theta,
            hf_window_needs_flag: a.hf_window_needs_flag,
            query_scalar_key: a.query_scalar_key,
            gguf_hidden_per_head_scalar_layers: a.gguf_hidden_per_head_scalar_layers,
            gguf_tensors: GGUF_LLAMA_TENSORS,
            hf_tensors: HF_LLAMA_TENSORS,
        }
    }
}
