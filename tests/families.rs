//! Qwen3, Gemma 2 and Gemma 3 (text), proven on tiny random models built here against
//! independent implementations, as `tests/formats.rs` does for Llama and Qwen2.
//!
//! - Qwen3 (q/k RMSNorm per head before RoPE, head size from `attention.key_length` /
//!   `head_dim`, not hidden/heads): GGUF against candle-transformers' `quantized_qwen3`, F32
//!   exactly and Q8_0 natively; the same weights as a Hugging Face folder against the GGUF.
//! - Gemma 2 (norms `x̂ · (1 + w)`, post-norms, GeGLU, embeddings × √hidden, attention and
//!   final-logit soft-caps, `query_pre_attn_scalar`, every other layer windowed): the HF folder
//!   against candle's `gemma2` (safetensors through a VarBuilder); the GGUF (norms written with
//!   the 1 added, as llama.cpp's converter does) against the HF folder.
//! - Gemma 3 (Gemma 2's block plus q/k norms, five windowed layers in six, a RoPE base of
//!   10,000 on the windowed layers and another on the global ones): the HF folder against
//!   candle's `gemma3`; the GGUF against the HF folder.
//! - Every family's chat template rendered and run: the logits of the rendered conversation
//!   against the reference, and the system prompt's token span decoding to the system prompt
//!   (Gemma 2's template refuses a system role: it goes at the start of the first user turn,
//!   where Gemma 3's own template puts it).
//! - Every family through the engine (Q8_0): prefix-cached prompts give the uncached bits,
//!   batched answers equal single ones, the attention read-out covers the system span and
//!   changes nothing, split-softmax runs.
//!
//! Candle's Gemma references differ from transformers and llama.cpp in three ways, which the
//! tests work around rather than copy: their window lets a query see `window + 1` keys
//! (`j + window < i` is masked) where transformers' and llama.cpp's see `window`, so candle is
//! given `window − 1`; `gemma2` windows every layer, so its comparisons use a window longer
//! than the prompt, or one layer (which Gemma 2 windows); both scale scores by 1/√head_dim
//! whatever `query_pre_attn_scalar` says, so the models here set it to head_dim and the scalar
//! is checked on its own (a 4× scalar equals halved query weights). `quantized_gemma3` uses
//! SiLU where Gemma uses GELU, so it is not used.
//!
//! Measured differences are printed (`cargo test --release --test families -- --nocapture`).
//!
//! The family-specific part of the tiny-model kit (weights, GGUF and Hugging Face writers, the
//! candle references) is here; what it shares with `tests/formats.rs` is in `tests/common`.

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use candle_transformers::models::{gemma2, gemma3, quantized_qwen3};
use drift_script::model::local::config::RopeStyle;
use drift_script::model::local::loader::WeightMode;
use drift_script::model::{ChatModel, LocalModel, Message};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

mod common;
use common::{
    Rng, TempDir, VOCAB, default_metadata, load_gguf, load_hf, logits, max_abs, max_abs_diff,
    options, prompt,
};

/// Our logits against an f32 reference on the same weights: max |difference| (as formats.rs).
const EXACT_TOL: f32 = 1e-4;
/// Q8_0 weights, both sides quantizing activations to 8 bits: a fraction of max |logit|.
const NATIVE_TOL: f32 = 0.05;

const CONTEXT: usize = 512;
const RMS_EPS: f32 = 1e-6;
/// The prompt is longer than every window below, so the windowed layers matter.
const PROMPT: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Family {
    Qwen3,
    Gemma2,
    Gemma3,
}

impl Family {
    fn gguf_name(self) -> &'static str {
        match self {
            Family::Qwen3 => "qwen3",
            Family::Gemma2 => "gemma2",
            Family::Gemma3 => "gemma3",
        }
    }
    fn hf_model_type(self) -> &'static str {
        match self {
            Family::Qwen3 => "qwen3",
            Family::Gemma2 => "gemma2",
            Family::Gemma3 => "gemma3_text",
        }
    }
    fn is_gemma(self) -> bool {
        self != Family::Qwen3
    }
}

/// A tiny model's geometry and the hyperparameters the families vary.
#[derive(Debug, Clone)]
struct Spec {
    family: Family,
    hidden: usize,
    layers: usize,
    heads: usize,
    kv_heads: usize,
    /// Not hidden/heads: q and k are 128 wide for a 64-wide residual stream.
    head_dim: usize,
    ffn: usize,
    rope_theta: f32,
    /// Gemma 3's windowed layers.
    local_rope_theta: f32,
    window: Option<usize>,
    attn_softcap: Option<f32>,
    final_softcap: Option<f32>,
    query_pre_attn_scalar: usize,
}

impl Spec {
    fn new(family: Family) -> Self {
        let (layers, window, caps) = match family {
            Family::Qwen3 => (2, None, (None, None)),
            Family::Gemma2 => (4, Some(5), (Some(2.0), Some(5.0))),
            Family::Gemma3 => (6, Some(6), (None, None)),
        };
        Spec {
            family,
            hidden: 64,
            layers,
            heads: 4,
            kv_heads: 2,
            head_dim: 32,
            ffn: 128,
            rope_theta: if family == Family::Gemma3 {
                1_000_000.0
            } else {
                10_000.0
            },
            local_rope_theta: 10_000.0,
            window,
            attn_softcap: caps.0,
            final_softcap: caps.1,
            query_pre_attn_scalar: 32,
        }
    }
    fn q_dim(&self) -> usize {
        self.heads * self.head_dim
    }
    fn kv_dim(&self) -> usize {
        self.kv_heads * self.head_dim
    }
}

/// Weights keyed by GGUF name, in Hugging Face row order (no family here permutes q/k), norm
/// weights as used (`1 + 0.2u`): GGUF stores them so; Gemma's HF checkpoints store 1 less.
#[derive(Clone)]
struct TinyModel {
    spec: Spec,
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl TinyModel {
    fn random(spec: &Spec, seed: &str) -> Self {
        let s = spec;
        let mut tensors = BTreeMap::new();
        let mut add = |name: String, shape: Vec<usize>, gain: f32, offset: f32| {
            let mut rng = Rng::new(&format!("{seed}/{name}"));
            let fan_in = *shape.last().unwrap() as f32;
            let amp = if shape.len() == 2 {
                gain * (3.0 / fan_in).sqrt()
            } else {
                gain
            };
            let n: usize = shape.iter().product();
            let values = (0..n).map(|_| offset + amp * rng.uniform()).collect();
            tensors.insert(name, (shape, values));
        };
        add("token_embd.weight".into(), vec![VOCAB, s.hidden], 1.0, 0.0);
        // Gemma ties the output to the embedding; Qwen3's small models too, but the
        // reference is checked here with a separate output matrix.
        if !s.family.is_gemma() {
            add("output.weight".into(), vec![VOCAB, s.hidden], 1.0, 0.0);
        }
        add("output_norm.weight".into(), vec![s.hidden], 0.2, 1.0);
        for l in 0..s.layers {
            let n = |x: &str| format!("blk.{l}.{x}");
            add(n("attn_norm.weight"), vec![s.hidden], 0.2, 1.0);
            add(n("attn_q.weight"), vec![s.q_dim(), s.hidden], 1.2, 0.0);
            add(n("attn_k.weight"), vec![s.kv_dim(), s.hidden], 1.2, 0.0);
            add(n("attn_v.weight"), vec![s.kv_dim(), s.hidden], 1.0, 0.0);
            add(n("attn_output.weight"), vec![s.hidden, s.q_dim()], 1.0, 0.0);
            add(n("ffn_norm.weight"), vec![s.hidden], 0.2, 1.0);
            add(n("ffn_gate.weight"), vec![s.ffn, s.hidden], 1.0, 0.0);
            add(n("ffn_up.weight"), vec![s.ffn, s.hidden], 1.0, 0.0);
            add(n("ffn_down.weight"), vec![s.hidden, s.ffn], 1.0, 0.0);
            if s.family != Family::Gemma2 {
                add(n("attn_q_norm.weight"), vec![s.head_dim], 0.2, 1.0);
                add(n("attn_k_norm.weight"), vec![s.head_dim], 0.2, 1.0);
            }
            if s.family.is_gemma() {
                add(n("post_attention_norm.weight"), vec![s.hidden], 0.2, 1.0);
                add(n("post_ffw_norm.weight"), vec![s.hidden], 0.2, 1.0);
            }
        }
        TinyModel {
            spec: spec.clone(),
            tensors,
        }
    }
}

/// GGUF metadata as llama.cpp writes it for the family, with the default model's tokenizer and
/// `chat_template` as the model's template (`None`: no template).
fn gguf_metadata(spec: &Spec, chat_template: Option<&str>) -> Vec<(String, Value)> {
    let arch = spec.family.gguf_name();
    let a = |key: &str| format!("{arch}.{key}");
    let u = |v: usize| Value::U32(v as u32);
    let mut meta = vec![
        ("general.architecture".into(), Value::String(arch.into())),
        ("general.name".into(), Value::String(format!("tiny-{arch}"))),
        (a("block_count"), u(spec.layers)),
        (a("context_length"), u(CONTEXT)),
        (a("embedding_length"), u(spec.hidden)),
        (a("feed_forward_length"), u(spec.ffn)),
        (a("attention.head_count"), u(spec.heads)),
        (a("attention.head_count_kv"), u(spec.kv_heads)),
        (a("attention.key_length"), u(spec.head_dim)),
        (a("attention.value_length"), u(spec.head_dim)),
        (a("rope.freq_base"), Value::F32(spec.rope_theta)),
        (a("attention.layer_norm_rms_epsilon"), Value::F32(RMS_EPS)),
    ];
    if spec.family == Family::Qwen3 {
        // Read by candle's `quantized_qwen3` only (0: F32), which otherwise computes its RoPE
        // tables in F16 and then differs from its own safetensors `qwen3` by 4e-3 here.
        meta.push(("general.dtype".into(), Value::U32(0)));
    }
    if let Some(w) = spec.window {
        meta.push((a("attention.sliding_window"), u(w)));
    }
    if let Some(cap) = spec.attn_softcap {
        meta.push((a("attn_logit_softcapping"), Value::F32(cap)));
    }
    if let Some(cap) = spec.final_softcap {
        meta.push((a("final_logit_softcapping"), Value::F32(cap)));
    }
    let mut tokenizer: Vec<_> = default_metadata()
        .iter()
        .filter(|(k, _)| k.starts_with("tokenizer.") && *k != "tokenizer.chat_template")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    tokenizer.sort_by(|a, b| a.0.cmp(&b.0));
    meta.extend(tokenizer);
    if let Some(template) = chat_template {
        meta.push((
            "tokenizer.chat_template".into(),
            Value::String(template.into()),
        ));
    }
    meta
}

/// Writes the model as GGUF: matrices in `dtype`, vectors in F32.
fn write_gguf(path: &Path, model: &TinyModel, dtype: GgmlDType, chat_template: Option<&str>) {
    let tensors: Vec<(String, QTensor)> = model
        .tensors
        .iter()
        .map(|(name, (shape, values))| {
            let t = Tensor::from_vec(values.clone(), shape.as_slice(), &Device::Cpu).unwrap();
            let ty = if shape.len() == 2 {
                dtype
            } else {
                GgmlDType::F32
            };
            (name.clone(), QTensor::quantize(&t, ty).unwrap())
        })
        .collect();
    let metadata = gguf_metadata(&model.spec, chat_template);
    let meta: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tens: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, t)| (k.as_str(), t)).collect();
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    gguf_file::write(&mut file, &meta, &tens).unwrap();
    file.flush().unwrap();
}

/// GGUF tensor name → the family's Hugging Face name.
fn hf_name(family: Family, gguf: &str) -> String {
    match gguf {
        "token_embd.weight" => return "model.embed_tokens.weight".into(),
        "output.weight" => return "lm_head.weight".into(),
        "output_norm.weight" => return "model.norm.weight".into(),
        _ => {}
    }
    let rest = gguf.strip_prefix("blk.").expect("a layer tensor");
    let (layer, rest) = rest.split_once('.').unwrap();
    let part = match (rest, family.is_gemma()) {
        ("attn_norm.weight", _) => "input_layernorm.weight",
        ("ffn_norm.weight", false) => "post_attention_layernorm.weight",
        ("ffn_norm.weight", true) => "pre_feedforward_layernorm.weight",
        ("post_attention_norm.weight", true) => "post_attention_layernorm.weight",
        ("post_ffw_norm.weight", true) => "post_feedforward_layernorm.weight",
        ("attn_q.weight", _) => "self_attn.q_proj.weight",
        ("attn_k.weight", _) => "self_attn.k_proj.weight",
        ("attn_v.weight", _) => "self_attn.v_proj.weight",
        ("attn_q_norm.weight", _) => "self_attn.q_norm.weight",
        ("attn_k_norm.weight", _) => "self_attn.k_norm.weight",
        ("attn_output.weight", _) => "self_attn.o_proj.weight",
        ("ffn_gate.weight", _) => "mlp.gate_proj.weight",
        ("ffn_up.weight", _) => "mlp.up_proj.weight",
        ("ffn_down.weight", _) => "mlp.down_proj.weight",
        (other, _) => panic!("no Hugging Face name for {other}"),
    };
    format!("model.layers.{layer}.{part}")
}

/// The family's `config.json`, as transformers writes it.
fn hf_config(spec: &Spec) -> serde_json::Value {
    let mut config = serde_json::json!({
        "model_type": spec.family.hf_model_type(),
        "hidden_size": spec.hidden,
        "intermediate_size": spec.ffn,
        "num_hidden_layers": spec.layers,
        "num_attention_heads": spec.heads,
        "num_key_value_heads": spec.kv_heads,
        "head_dim": spec.head_dim,
        "vocab_size": VOCAB,
        "max_position_embeddings": CONTEXT,
        "rms_norm_eps": RMS_EPS,
        "rope_theta": spec.rope_theta,
        "attention_bias": false,
        "torch_dtype": "float32",
    });
    match spec.family {
        Family::Qwen3 => {
            config["tie_word_embeddings"] = false.into();
            config["use_sliding_window"] = false.into();
            config["sliding_window"] = serde_json::Value::Null;
        }
        Family::Gemma2 | Family::Gemma3 => {
            config["tie_word_embeddings"] = true.into();
            config["hidden_activation"] = "gelu_pytorch_tanh".into();
            config["query_pre_attn_scalar"] = spec.query_pre_attn_scalar.into();
            config["sliding_window"] = spec.window.into();
            config["attn_logit_softcapping"] = spec.attn_softcap.into();
            config["final_logit_softcapping"] = spec.final_softcap.into();
        }
    }
    if spec.family == Family::Gemma3 {
        config["sliding_window_pattern"] = 6.into();
        config["rope_local_base_freq"] = spec.local_rope_theta.into();
    }
    config
}

/// A Hugging Face folder of the model (Gemma's norms stored as `w − 1`), with `config` as
/// config.json and the tokenizer of tests/fixtures/tiny_hf.
fn write_hf_folder(dir: &Path, model: &TinyModel, config: &serde_json::Value) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(config).unwrap(),
    )
    .unwrap();
    let family = model.spec.family;
    let tensors: HashMap<String, Tensor> = model
        .tensors
        .iter()
        .map(|(name, (shape, values))| {
            let offset = if family.is_gemma() && name.ends_with("norm.weight") {
                1.0
            } else {
                0.0
            };
            let values: Vec<f32> = values.iter().map(|v| v - offset).collect();
            let t = Tensor::from_vec(values, shape.as_slice(), &Device::Cpu).unwrap();
            (hf_name(family, name), t)
        })
        .collect();
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny_hf");
    for file in [
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
    ] {
        std::fs::copy(fixture.join(file), dir.join(file)).unwrap();
    }
}

fn to_vec(t: candle_core::Result<Tensor>) -> Vec<f32> {
    t.unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

fn input(ids: &[u32]) -> Tensor {
    Tensor::new(ids, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap()
}

/// candle's `quantized_qwen3` on a GGUF file: last-position logits.
fn candle_qwen3(path: &Path, ids: &[u32]) -> Vec<f32> {
    let mut file = std::fs::File::open(path).unwrap();
    let content = gguf_file::Content::read(&mut file).unwrap();
    let mut model =
        quantized_qwen3::ModelWeights::from_gguf(content, &mut file, &Device::Cpu).unwrap();
    to_vec(model.forward(&input(ids), 0))
}

/// candle's `qwen3` (safetensors) on a HF folder: last-position logits.
fn candle_qwen3_hf(dir: &Path, ids: &[u32]) -> Vec<f32> {
    let mut config = hf_config(&Spec::new(Family::Qwen3));
    config["max_window_layers"] = 0.into();
    config["hidden_act"] = "silu".into();
    let cfg: candle_transformers::models::qwen3::Config = serde_json::from_value(config).unwrap();
    let files = [dir.join("model.safetensors")];
    // SAFETY: the test's own file, not modified while mapped.
    let vb = unsafe {
        candle_nn::VarBuilder::from_mmaped_safetensors(&files, DType::F32, &Device::Cpu).unwrap()
    };
    let mut model = candle_transformers::models::qwen3::ModelForCausalLM::new(&cfg, vb).unwrap();
    to_vec(model.forward(&input(ids), 0))
}

/// candle's `gemma2` / `gemma3` on a HF folder: last-position logits. `config` is the folder's
/// config.json; candle is given `window − 1` (its window shows one key more than
/// transformers' and llama.cpp's).
fn candle_gemma(dir: &Path, config: &serde_json::Value, ids: &[u32]) -> Vec<f32> {
    let mut config = config.clone();
    let config_window = config["sliding_window"].clone();
    if let Some(w) = config["sliding_window"].as_u64() {
        config["sliding_window"] = (w - 1).into();
    }
    let files = [dir.join("model.safetensors")];
    // SAFETY: the test's own file, not modified while mapped.
    let vb = unsafe {
        candle_nn::VarBuilder::from_mmaped_safetensors(&files, DType::F32, &Device::Cpu).unwrap()
    };
    match config["model_type"].as_str().unwrap() {
        "gemma2" => {
            let cfg: gemma2::Config = serde_json::from_value(config).unwrap();
            let mut model = gemma2::Model::new(false, &cfg, vb).unwrap();
            to_vec(model.forward(&input(ids), 0))
        }
        _ => {
            // `gemma3` fails on a prompt longer than its window in one call (its rotating
            // cache's `slice_set` refuses the layout), so it is fed one token at a time: then
            // it applies no mask, and its cache of `window` keys is the window, exactly
            // transformers' — so it gets the window itself, not `window − 1`.
            config["sliding_window"] = config_window;
            let cfg: gemma3::Config = serde_json::from_value(config).unwrap();
            let mut model = gemma3::Model::new(false, &cfg, vb).unwrap();
            let mut last = Vec::new();
            for (position, &id) in ids.iter().enumerate() {
                last = to_vec(model.forward(&input(&[id]), position));
            }
            last
        }
    }
}

fn assert_close(what: &str, diff: f32, tol: f32) {
    assert!(
        diff <= tol,
        "{what}: logits differ by {diff} (tolerance {tol})"
    );
}

/// The feature changed the logits: it was exercised, not skipped.
fn assert_matters(what: &str, diff: f32) {
    assert!(
        diff > 100.0 * EXACT_TOL,
        "{what} made no difference ({diff}): not exercised"
    );
}

// ---------------------------------------------------------------------------------------------
// Qwen3.
// ---------------------------------------------------------------------------------------------

#[test]
fn qwen3_gguf_and_hf_match_candle() {
    let dir = TempDir::new("qwen3");
    let spec = Spec::new(Family::Qwen3);
    let model = TinyModel::random(&spec, "qwen3");
    let (f32_path, q8_path) = (dir.join("f32.gguf"), dir.join("q8.gguf"));
    write_gguf(&f32_path, &model, GgmlDType::F32, None);
    write_gguf(&q8_path, &model, GgmlDType::Q8_0, None);
    let hf = dir.join("hf");
    write_hf_folder(&hf, &model, &hf_config(&spec));
    let ids = prompt("qwen3", PROMPT);

    let ours = load_gguf(&f32_path, WeightMode::F32);
    let c = &ours.transformer().config;
    assert_eq!(ours.info().architecture, "qwen3");
    assert_eq!(
        (c.head_dim, c.q_dim(), c.rope_style),
        (32, 128, RopeStyle::Halves)
    );
    assert!(!c.qkv_bias && c.embedding_scale.is_none() && c.attention_softcap.is_none());
    assert!(ours.transformer().layers[0].qk_norm.is_some());
    let reference = candle_qwen3(&f32_path, &ids);
    let ours_logits = logits(&ours, &ids);
    let exact = max_abs_diff(&ours_logits, &reference);

    let native = logits(&load_gguf(&q8_path, WeightMode::Native), &ids);
    let candle_native = candle_qwen3(&q8_path, &ids);
    let native_diff = max_abs_diff(&native, &candle_native);

    let from_hf = load_hf(&hf, WeightMode::Native);
    assert_eq!(from_hf.transformer().config.head_dim, 32);
    let hf_logits = logits(&from_hf, &ids);
    let hf_vs_gguf = max_abs_diff(&hf_logits, &ours_logits);
    let hf_vs_candle = max_abs_diff(&hf_logits, &candle_qwen3_hf(&hf, &ids));

    // Without the q/k norms (weights of 1 do not make them the identity: RMSNorm rescales).
    let mut plain = model.clone();
    plain
        .tensors
        .retain(|name, _| !name.contains("attn_q_norm") && !name.contains("attn_k_norm"));
    eprintln!(
        "qwen3: F32 vs candle {exact:.2e} | Q8_0 vs candle Q8_0 {native_diff:.2e} ({:.2}% of max|logit| {:.2}) | HF vs GGUF {hf_vs_gguf:.2e} | HF vs candle's safetensors qwen3 {hf_vs_candle:.2e}",
        100.0 * native_diff / max_abs(&candle_native),
        max_abs(&candle_native)
    );
    assert_close("qwen3 F32 GGUF vs candle", exact, EXACT_TOL);
    assert_close(
        "qwen3 Q8_0 GGUF vs candle",
        native_diff,
        NATIVE_TOL * max_abs(&candle_native),
    );
    assert_close("qwen3 HF vs GGUF", hf_vs_gguf, EXACT_TOL);
    assert_close("qwen3 HF vs candle's qwen3", hf_vs_candle, EXACT_TOL);
    // A file without the q/k norm tensors is refused by name.
    let path = dir.join("no-qk-norm.gguf");
    write_gguf(&path, &plain, GgmlDType::F32, None);
    let message = match LocalModel::load_gguf(&path, &options(WeightMode::Native)) {
        Ok(_) => panic!("a Qwen3 file without q/k norms loaded"),
        Err(e) => e.to_string(),
    };
    assert!(
        message.contains("missing tensor `blk.0.attn_q_norm.weight`"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------------------------
// Gemma 2.
// ---------------------------------------------------------------------------------------------

/// Candle's `gemma2` windows every layer: compared with a window longer than the prompt
/// (soft-caps, post-norms, GeGLU, embedding scale and norm offset), and with one layer, which
/// Gemma 2 windows (the window itself).
#[test]
fn gemma2_hf_matches_candle() {
    let dir = TempDir::new("gemma2");
    let ids = prompt("gemma2", PROMPT);
    let mut results = Vec::new();
    for (label, layers, window) in [("4 layers, window 64", 4, 64), ("1 layer, window 5", 1, 5)] {
        let spec = Spec {
            layers,
            window: Some(window),
            ..Spec::new(Family::Gemma2)
        };
        let model = TinyModel::random(&spec, "gemma2");
        let config = hf_config(&spec);
        let hf = dir.join(&format!("hf-{layers}"));
        write_hf_folder(&hf, &model, &config);
        let ours = load_hf(&hf, WeightMode::Native);
        let c = &ours.transformer().config;
        assert_eq!(ours.info().architecture, "gemma2");
        assert_eq!(c.attention_softcap, Some(2.0));
        assert_eq!(c.final_softcap, Some(5.0));
        assert_eq!(c.embedding_scale, Some(8.0));
        assert!(ours.transformer().output.is_none(), "tied");
        let got = logits(&ours, &ids);
        let reference = candle_gemma(&hf, &config, &ids);
        let diff = max_abs_diff(&got, &reference);
        // The features are exercised: without the caps, or without the window, results differ.
        let mut uncapped = config.clone();
        uncapped["attn_logit_softcapping"] = serde_json::Value::Null;
        uncapped["final_logit_softcapping"] = serde_json::Value::Null;
        let hf_uncapped = dir.join(&format!("uncapped-{layers}"));
        write_hf_folder(&hf_uncapped, &model, &uncapped);
        let caps = max_abs_diff(
            &got,
            &logits(&load_hf(&hf_uncapped, WeightMode::Native), &ids),
        );
        eprintln!(
            "gemma2 {label}: HF vs candle {diff:.2e} (max|logit| {:.2}); caps change {caps:.2e}",
            max_abs(&reference)
        );
        results.push((label, diff, caps));
    }
    for (label, diff, caps) in results {
        assert_close(&format!("gemma2 {label} vs candle"), diff, EXACT_TOL);
        assert_matters(&format!("gemma2 {label}: soft-caps"), caps);
    }
}

/// The GGUF (norms with the 1 added, caps and window in metadata) gives the HF folder's
/// logits; every other layer is windowed, and windowing all or none would differ.
#[test]
fn gemma2_gguf_matches_hf_and_alternates_windows() {
    let dir = TempDir::new("gemma2-gguf");
    let spec = Spec::new(Family::Gemma2);
    let model = TinyModel::random(&spec, "gemma2-gguf");
    let gguf = dir.join("model.gguf");
    write_gguf(&gguf, &model, GgmlDType::F32, None);
    let config = hf_config(&spec);
    let hf = dir.join("hf");
    write_hf_folder(&hf, &model, &config);
    let ids = prompt("gemma2-gguf", PROMPT);

    let from_gguf = load_gguf(&gguf, WeightMode::Native);
    let c = &from_gguf.transformer().config;
    let windows: Vec<Option<usize>> = (0..c.layers).map(|l| c.layer_window(l)).collect();
    assert_eq!(windows, [Some(5), None, Some(5), None]);
    assert_eq!(
        (c.attention_softcap, c.final_softcap),
        (Some(2.0), Some(5.0))
    );
    assert_eq!(c.attention_scale, 1.0 / 32f32.sqrt());
    let gguf_logits = logits(&from_gguf, &ids);
    let hf_logits = logits(&load_hf(&hf, WeightMode::Native), &ids);
    let hf_vs_gguf = max_abs_diff(&gguf_logits, &hf_logits);

    let mut differs = Vec::new();
    for (label, types) in [
        ("every layer windowed", ["sliding_attention"; 4]),
        ("no layer windowed", ["full_attention"; 4]),
    ] {
        let mut other = config.clone();
        other["layer_types"] = serde_json::json!(types);
        let path = dir.join(label);
        write_hf_folder(&path, &model, &other);
        differs.push((
            label,
            max_abs_diff(
                &hf_logits,
                &logits(&load_hf(&path, WeightMode::Native), &ids),
            ),
        ));
    }
    eprintln!("gemma2: GGUF vs HF {hf_vs_gguf:.2e}; {differs:?}");
    assert_close("gemma2 GGUF vs HF", hf_vs_gguf, EXACT_TOL);
    for (label, diff) in differs {
        assert_matters(label, diff);
    }
}

/// Scores are scaled by 1/√query_pre_attn_scalar: a scalar 4 × head_dim gives the logits of
/// head_dim with the query weights halved.
#[test]
fn gemma2_query_pre_attn_scalar_scales_scores() {
    let dir = TempDir::new("gemma2-scalar");
    let spec = Spec::new(Family::Gemma2);
    let model = TinyModel::random(&spec, "gemma2-scalar");
    let mut halved = model.clone();
    for (name, (_, values)) in halved.tensors.iter_mut() {
        if name.ends_with("attn_q.weight") {
            values.iter_mut().for_each(|v| *v *= 0.5);
        }
    }
    let mut config = hf_config(&spec);
    config["query_pre_attn_scalar"] = (4 * spec.head_dim).into();
    write_hf_folder(&dir.join("scalar"), &model, &config);
    write_hf_folder(&dir.join("halved"), &halved, &hf_config(&spec));
    write_hf_folder(&dir.join("plain"), &model, &hf_config(&spec));
    let ids = prompt("gemma2-scalar", PROMPT);
    let scaled = load_hf(&dir.join("scalar"), WeightMode::Native);
    assert_eq!(
        scaled.transformer().config.attention_scale,
        1.0 / 128f32.sqrt()
    );
    let a = logits(&scaled, &ids);
    let b = logits(&load_hf(&dir.join("halved"), WeightMode::Native), &ids);
    let plain = logits(&load_hf(&dir.join("plain"), WeightMode::Native), &ids);
    let (same, changed) = (max_abs_diff(&a, &b), max_abs_diff(&a, &plain));
    eprintln!("gemma2 query_pre_attn_scalar: vs halved q {same:.2e}, vs head_dim {changed:.2e}");
    assert_close("scalar 4·head_dim vs halved queries", same, EXACT_TOL);
    assert_matters("query_pre_attn_scalar", changed);
}

// ---------------------------------------------------------------------------------------------
// Gemma 3.
// ---------------------------------------------------------------------------------------------

#[test]
fn gemma3_hf_matches_candle_and_gguf_matches_hf() {
    let dir = TempDir::new("gemma3");
    let spec = Spec::new(Family::Gemma3);
    let model = TinyModel::random(&spec, "gemma3");
    let config = hf_config(&spec);
    let hf = dir.join("hf");
    write_hf_folder(&hf, &model, &config);
    let gguf = dir.join("model.gguf");
    write_gguf(&gguf, &model, GgmlDType::F32, None);
    let ids = prompt("gemma3", PROMPT);

    let from_hf = load_hf(&hf, WeightMode::Native);
    let c = &from_hf.transformer().config;
    assert_eq!(from_hf.info().architecture, "gemma3");
    let global: Vec<usize> = (0..6).filter(|&l| c.layer_window(l).is_none()).collect();
    assert_eq!(global, [5], "five windowed layers in six");
    assert_eq!(c.local_rope_theta, Some(10_000.0));
    assert!(from_hf.transformer().layers[0].qk_norm.is_some());
    let hf_logits = logits(&from_hf, &ids);
    let reference = candle_gemma(&hf, &config, &ids);
    let vs_candle = max_abs_diff(&hf_logits, &reference);

    let from_gguf = load_gguf(&gguf, WeightMode::Native);
    let gc = &from_gguf.transformer().config;
    assert_eq!(
        (gc.head_dim, gc.local_rope_theta, gc.sliding_window),
        (32, Some(10_000.0), Some(6))
    );
    let hf_vs_gguf = max_abs_diff(&logits(&from_gguf, &ids), &hf_logits);

    // The local RoPE base and the window are exercised.
    let mut same_base = config.clone();
    same_base["rope_local_base_freq"] = spec.rope_theta.into();
    let mut wide = config.clone();
    wide["sliding_window"] = 64.into();
    let mut matters = Vec::new();
    for (label, other) in [("local RoPE base", same_base), ("window", wide)] {
        let path = dir.join(label);
        write_hf_folder(&path, &model, &other);
        matters.push((
            label,
            max_abs_diff(
                &hf_logits,
                &logits(&load_hf(&path, WeightMode::Native), &ids),
            ),
        ));
    }
    eprintln!(
        "gemma3: HF vs candle {vs_candle:.2e} (max|logit| {:.2}) | GGUF vs HF {hf_vs_gguf:.2e} | {matters:?}",
        max_abs(&reference)
    );
    assert_close("gemma3 HF vs candle", vs_candle, EXACT_TOL);
    assert_close("gemma3 GGUF vs HF", hf_vs_gguf, EXACT_TOL);
    for (label, diff) in matters {
        assert_matters(label, diff);
    }
}

#[test]
fn gemma3_multimodal_configs_are_refused_with_a_way_out() {
    let dir = TempDir::new("gemma3-mm");
    let spec = Spec::new(Family::Gemma3);
    let model = TinyModel::random(&spec, "gemma3-mm");
    let mut config = hf_config(&spec);
    config["model_type"] = "gemma3".into();
    write_hf_folder(&dir.join("hf"), &model, &config);
    let message = match LocalModel::load_hf(&dir.join("hf"), &options(WeightMode::Native)) {
        Ok(_) => panic!("a multimodal Gemma 3 config loaded"),
        Err(e) => e.to_string(),
    };
    assert!(message.contains("gemma3_text"), "{message}");
}

// ---------------------------------------------------------------------------------------------
// Chat templates.
// ---------------------------------------------------------------------------------------------

const PIRATE: &str = "You are a pirate. Always answer like a pirate, matey!";
const QUESTION: &str = "Hello! Who are you, and where is the treasure buried?";

/// Gemma 2's template as Google ships it (`tokenizer_config.json`): it refuses a system role.
const GEMMA2_TEMPLATE: &str = "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}";

/// Gemma 3's template, text part: the system prompt opens the first user turn, then a blank
/// line.
const GEMMA3_TEMPLATE: &str = "{{ bos_token }}{%- if messages[0]['role'] == 'system' -%}{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}{%- set loop_messages = messages[1:] -%}{%- else -%}{%- set first_user_prefix = \"\" -%}{%- set loop_messages = messages -%}{%- endif -%}{%- for message in loop_messages -%}{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}{{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}{%- endif -%}{%- if (message['role'] == 'assistant') -%}{%- set role = \"model\" -%}{%- else -%}{%- set role = message['role'] -%}{%- endif -%}{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else \"\") }}{{ message['content'] | trim }}{{ '<end_of_turn>\n' }}{%- endfor -%}{%- if add_generation_prompt -%}{{'<start_of_turn>model\n'}}{%- endif -%}";

/// The rendered conversation's prompt and logits, ours and the reference's; the system span
/// must decode to the system prompt.
fn chat_logits(spec: Spec, template: Option<&str>) -> (String, f32, f32) {
    let family = spec.family;
    let dir = TempDir::new(&format!("chat-{}", family.gguf_name()));
    let model = TinyModel::random(&spec, &format!("chat-{}", family.gguf_name()));
    let gguf = dir.join("model.gguf");
    write_gguf(&gguf, &model, GgmlDType::F32, template);
    let ours = load_gguf(&gguf, WeightMode::F32);
    let messages = [Message::system(PIRATE), Message::user(QUESTION)];
    let chat = ours.tokenize_chat(&messages).unwrap();
    let span = chat.system_span.clone().expect("a system span");
    assert_eq!(
        ours.tokenizer().decode(&chat.ids[span.clone()]),
        PIRATE,
        "{family:?}: the system span's tokens"
    );
    assert!(chat.ids.len() > spec.window.unwrap_or(0) + 10);
    let got = logits(&ours, &chat.ids);
    let reference = if family == Family::Qwen3 {
        candle_qwen3(&gguf, &chat.ids)
    } else {
        let config = hf_config(&spec);
        let hf = dir.join("hf");
        write_hf_folder(&hf, &model, &config);
        candle_gemma(&hf, &config, &chat.ids)
    };
    (
        chat.text,
        max_abs_diff(&got, &reference),
        max_abs(&reference),
    )
}

#[test]
fn qwen3_chat_through_the_chatml_fallback_matches_candle() {
    let (text, diff, scale) = chat_logits(Spec::new(Family::Qwen3), None);
    eprintln!("qwen3 ChatML chat: vs candle {diff:.2e} (max|logit| {scale:.2})");
    assert_eq!(
        text,
        format!(
            "<|im_start|>system\n{PIRATE}<|im_end|>\n<|im_start|>user\n{QUESTION}<|im_end|>\n\
             <|im_start|>assistant\n"
        )
    );
    assert_close("qwen3 chat vs candle", diff, EXACT_TOL);
}

#[test]
fn gemma_chat_puts_the_system_prompt_in_the_first_user_turn() {
    // One layer for Gemma 2: candle's `gemma2` windows every layer, Gemma 2 the first of two.
    let gemma2 = Spec {
        layers: 1,
        ..Spec::new(Family::Gemma2)
    };
    let (text2, diff2, scale2) = chat_logits(gemma2, Some(GEMMA2_TEMPLATE));
    let (text3, diff3, scale3) = chat_logits(Spec::new(Family::Gemma3), Some(GEMMA3_TEMPLATE));
    eprintln!(
        "gemma2 chat: vs candle {diff2:.2e} (max|logit| {scale2:.2}); gemma3 chat: vs candle {diff3:.2e} (max|logit| {scale3:.2})\n{text2:?}"
    );
    // Gemma 2's refusing template and Gemma 3's own handling give the same prompt.
    assert!(
        text2.ends_with(&format!(
            "<start_of_turn>user\n{PIRATE}\n\n{QUESTION}<end_of_turn>\n<start_of_turn>model\n"
        )),
        "{text2:?}"
    );
    assert_eq!(text2, text3);
    assert_close("gemma2 chat vs candle", diff2, EXACT_TOL);
    assert_close("gemma3 chat vs candle", diff3, EXACT_TOL);
}

/// Where the folded system prompt goes in longer conversations and without a user turn, and
/// that templates which take a system message (ChatML, Gemma 3's) are left alone.
#[test]
fn system_prompt_folding_only_for_templates_that_refuse_it() {
    use drift_script::model::local::template::ChatTemplate;
    let bos = || Some("<bos>".to_string());
    let gemma2 = ChatTemplate::from_jinja(GEMMA2_TEMPLATE, bos(), None).unwrap();
    let gemma3 = ChatTemplate::from_jinja(GEMMA3_TEMPLATE, bos(), None).unwrap();
    assert!(gemma2.folds_system_into_first_user());
    assert!(!gemma3.folds_system_into_first_user());
    assert!(!ChatTemplate::chatml().folds_system_into_first_user());

    let conversation = [
        Message::system(PIRATE),
        Message::user("Hi"),
        Message::assistant("Arr."),
        Message::user("Bye"),
    ];
    let rendered = gemma2.render(&conversation, true).unwrap();
    assert_eq!(
        rendered.text,
        format!(
            "<bos><start_of_turn>user\n{PIRATE}\n\nHi<end_of_turn>\n<start_of_turn>model\nArr.<end_of_turn>\n\
             <start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n"
        )
    );
    let span = rendered.system_content.clone().unwrap();
    assert_eq!(&rendered.text[span], PIRATE);
    assert_eq!(rendered, gemma3.render(&conversation, true).unwrap());

    // No user turn after the system prompt: it becomes the first user turn.
    let alone = gemma2.render(&[Message::system(PIRATE)], true).unwrap();
    assert_eq!(
        alone.text,
        format!("<bos><start_of_turn>user\n{PIRATE}<end_of_turn>\n<start_of_turn>model\n")
    );
    assert_eq!(&alone.text[alone.system_content.unwrap()], PIRATE);
    // Without a system message nothing moves, and other template errors still surface.
    let plain = gemma2.render(&[Message::user("Hi")], true).unwrap();
    assert_eq!(
        plain.text,
        "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"
    );
    let err = gemma2
        .render(&[Message::user("a"), Message::user("b")], false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("Conversation roles must alternate"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// The engine around the forward pass: prefix cache, batching, read-out, split-softmax.
// ---------------------------------------------------------------------------------------------

/// Each family through the engine as a script uses it, Q8_0 weights: a prompt extending a
/// cached one gets the uncached bits (windowed layers and the local RoPE table included); the
/// first of three answers is the single answer; the attention read-out gives one π per token,
/// layer and head over the system span and changes nothing; split-softmax runs.
#[test]
fn families_through_the_engine_cache_readout_and_split_softmax() {
    use drift_script::model::{Intervention, Readout, SamplingOptions};
    for (spec, template) in [
        (Spec::new(Family::Qwen3), None),
        (Spec::new(Family::Gemma2), Some(GEMMA2_TEMPLATE)),
        (Spec::new(Family::Gemma3), Some(GEMMA3_TEMPLATE)),
    ] {
        let family = spec.family;
        let dir = TempDir::new(&format!("engine-{}", family.gguf_name()));
        let model = TinyModel::random(&spec, &format!("engine-{}", family.gguf_name()));
        let path = dir.join("model.gguf");
        write_gguf(&path, &model, GgmlDType::Q8_0, template);
        let m = load_gguf(&path, WeightMode::Native);
        let messages = vec![
            Message::system(PIRATE),
            Message::user(QUESTION),
            Message::assistant("Arr, the stars be a fine sea to sail, matey!"),
            Message::user("Would you sail to Mars if you could? Why or why not?"),
        ];
        let prompt = m.tokenize_chat(&messages).unwrap();
        let ids = &prompt.ids;
        assert!(ids.len() > 40, "{family:?}: more than one cache block");
        let uncached = m.prompt_logits(ids, false).unwrap();
        for prefix in [1, 17, 32, 33, ids.len() - 1] {
            m.clear_cache();
            m.prompt_logits(&ids[..prefix], true).unwrap();
            assert!(
                m.prompt_logits(ids, true).unwrap() == uncached,
                "{family:?}: a cached prefix of {prefix} tokens changed the logits"
            );
        }

        let opts = |intervention: Intervention| SamplingOptions {
            seed: 5,
            max_tokens: 12,
            ignore_eos: true,
            intervention,
            ..SamplingOptions::default()
        };
        let one = m
            .chat(&messages, 1, &opts(Intervention::default()))
            .unwrap();
        let three = m
            .chat(&messages, 3, &opts(Intervention::default()))
            .unwrap();
        assert_eq!(one[0].tokens, three[0].tokens, "{family:?}: chat_n(3)[0]");
        let readout = Intervention {
            attention: Readout::Pi,
            ..Default::default()
        };
        let read = m
            .chat(&messages, 1, &opts(readout.clone()))
            .unwrap()
            .remove(0);
        assert_eq!(
            read.tokens, one[0].tokens,
            "{family:?}: the read-out changed the text"
        );
        let trace = read.attention.expect("asked for");
        let span = prompt.system_span.clone().unwrap();
        assert_eq!(trace.system_tokens, span.len());
        assert_eq!(trace.pi.len(), read.tokens.len() * spec.layers * spec.heads);
        assert!(trace.pi.iter().all(|&p| (0.0..=1.0001).contains(&p)));
        assert!(trace.pi.iter().any(|&p| p > 0.0));
        let split = Intervention {
            split_softmax: Some(0.5),
            ..readout
        };
        let steered = m.chat(&messages, 1, &opts(split)).unwrap().remove(0);
        assert_eq!(steered.tokens.len(), 12, "{family:?}: split-softmax ran");
        eprintln!(
            "{family:?}: prompt {} tokens, system span {span:?}, mean π {:.3}",
            ids.len(),
            trace.pi.iter().sum::<f32>() / trace.pi.len() as f32
        );
    }
}

/// Gemma 3 1B's head shape (4 query heads of 256 sharing one key/value head) on a 64-wide
/// model: the kernels' widest heads and largest sharing, against candle.
#[test]
fn gemma3_1b_head_shape_matches_candle() {
    let dir = TempDir::new("gemma3-1b-heads");
    let spec = Spec {
        kv_heads: 1,
        head_dim: 256,
        query_pre_attn_scalar: 256,
        ..Spec::new(Family::Gemma3)
    };
    let model = TinyModel::random(&spec, "gemma3-1b-heads");
    let config = hf_config(&spec);
    let hf = dir.join("hf");
    write_hf_folder(&hf, &model, &config);
    let ids = prompt("gemma3-1b-heads", PROMPT);
    let ours = load_hf(&hf, WeightMode::Native);
    assert_eq!(ours.transformer().config.q_dim(), 1024);
    let got = logits(&ours, &ids);
    let reference = candle_gemma(&hf, &config, &ids);
    let diff = max_abs_diff(&got, &reference);
    eprintln!(
        "gemma3, 4 heads of 256 on 1 kv head: vs candle {diff:.2e} (max|logit| {:.2})",
        max_abs(&reference)
    );
    assert_close("gemma3 1B heads vs candle", diff, EXACT_TOL);
}
