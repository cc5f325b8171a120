//! Every weight format and architecture the engine loads, proven on tiny models built here.
//!
//! Each test writes a small random model (2 layers, grouped-query attention, the default
//! model's 49,152-token vocabulary so that the real tokenizer loads with it) to a temporary
//! folder, loads it with the engine, and compares the logits after a 40-token prompt with an
//! independent implementation: candle-transformers' `quantized_llama` / `quantized_qwen2`.
//!
//! - GGUF, one test per weight type (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K…Q6_K):
//!   1. *conversion*: every matrix the engine holds equals candle's dequantization of the file's
//!      tensor, bit for bit where the conversion is documented exact (Q4_*, Q5_*, Q8_0, the
//!      K-quants Q2_K…Q6_K and the float types); and the weights in memory are within the row's
//!      bound of the file's bytes;
//!   2. *exact numerics*: with `WeightMode::F32` our logits match candle's run on an F32 GGUF
//!      holding the dequantized values, within 1e-4 (the two differ only in the order of float
//!      operations);
//!   3. *native numerics*: with the file's own precision, our logits (8-bit activations) match
//!      candle's quantized run within a per-type tolerance relative to the logits' size, and
//!      are on average no further from the exact result than candle's (which, like llama.cpp,
//!      also quantizes activations).
//! - A Q4_K_M-like mix (Q6_K embedding, `attn_v` and `ffn_down` in one layer, Q4_K elsewhere).
//! - Tied embeddings: no `output.weight` gives the same logits as an explicit copy.
//! - Qwen2 (biases on q, k, v; "halves" RoPE) against `quantized_qwen2`.
//! - Hugging Face safetensors: the same weights as a GGUF whose q/k rows are permuted as
//!   llama.cpp's converter does give the same logits, which proves both RoPE conventions and
//!   both loaders; F16 and BF16 checkpoints load exactly; tied and untied heads agree.
//! - Mistral-style sliding windows: a window longer than the prompt changes nothing, and a
//!   window of w keys limits the receptive field of 2 layers to exactly 2w − 1 tokens.
//! - Bad inputs give errors naming what is wrong, and nothing panics.
//!
//! Measured differences are printed (`cargo test --release --test formats -- --nocapture`).

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use candle_transformers::models::{quantized_llama, quantized_qwen2};
use drift_script::model::local::config::RopeStyle;
use drift_script::model::local::loader::WeightMode;
use drift_script::model::local::quant::{Matrix, StorageFormat};
use drift_script::model::{ChatModel, LocalModel};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

mod common;
use common::{
    Rng, TempDir, VOCAB, default_metadata, load_gguf, load_hf, logits, max_abs, max_abs_diff,
    options, prompt,
};

// ---------------------------------------------------------------------------------------------
// The table: GGUF weight types, what the engine must turn them into, and tolerances.
// ---------------------------------------------------------------------------------------------

/// Our F32-mode logits vs candle's f32 run on the same values: max |difference|.
const EXACT_TOL: f32 = 1e-4;

/// How the engine's stored matrix relates to candle's dequantization of the file's tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Conversion {
    /// Bit-identical values.
    Exact,
}

struct Format {
    dtype: GgmlDType,
    dims: Dims,
    /// The layout every weight matrix must end up in with `WeightMode::Native`.
    storage: StorageFormat,
    conversion: Conversion,
    /// Native mode: max |ours − candle's quantized run| as a fraction of max |logit|. Both runs
    /// quantize activations to 8 bits, in 32-value blocks (candle: 256-value blocks for
    /// K-quants), so they differ by a few percent at the worst of 49,152 logits.
    native_tol: f32,
    /// No `output.weight`: the logits reuse the embedding. The K-quant rows are tied (as
    /// SmolLM2's files are), which halves their 49152 × 256 work; the others test a separate
    /// output matrix.
    tied: bool,
    /// Bound on the weights in memory (every matrix the engine holds) over the file's bytes of
    /// those tensors: the bar is 1.10. Rows above it say why (see `FORMATS`).
    memory: f32,
}

/// No row is above the bar of 1.10 (Q3_K keeps its 6-bit scales in whole bytes,
/// 1824 bytes a tile for the file's 1760).
#[rustfmt::skip]
const FORMATS: &[Format] = &[
    Format { dtype: GgmlDType::F32, dims: SMALL, storage: StorageFormat::F32, conversion: Conversion::Exact, native_tol: 1e-5, tied: false, memory: 1.0 },
    Format { dtype: GgmlDType::F16, dims: SMALL, storage: StorageFormat::F16, conversion: Conversion::Exact, native_tol: 1e-5, tied: false, memory: 1.0 },
    Format { dtype: GgmlDType::BF16, dims: SMALL, storage: StorageFormat::BF16, conversion: Conversion::Exact, native_tol: 1e-5, tied: false, memory: 1.0 },
    Format { dtype: GgmlDType::Q4_0, dims: SMALL, storage: StorageFormat::U4, conversion: Conversion::Exact, native_tol: 0.05, tied: false, memory: 1.0 },
    Format { dtype: GgmlDType::Q4_1, dims: SMALL, storage: StorageFormat::U4, conversion: Conversion::Exact, native_tol: 0.05, tied: false, memory: 1.0 },
    Format { dtype: GgmlDType::Q5_0, dims: SMALL, storage: StorageFormat::U5, conversion: Conversion::Exact, native_tol: 0.05, tied: false, memory: 1.0 },
    Format { dtype: GgmlDType::Q5_1, dims: SMALL, storage: StorageFormat::U5, conversion: Conversion::Exact, native_tol: 0.05, tied: false, memory: 1.0 },
    Format { dtype: GgmlDType::Q8_0, dims: SMALL, storage: StorageFormat::U8, conversion: Conversion::Exact, native_tol: 0.05, tied: false, memory: 1.0 },
    Format { dtype: GgmlDType::Q2K, dims: KQUANT, storage: StorageFormat::Q2K, conversion: Conversion::Exact, native_tol: 0.08, tied: true, memory: 1.0 },
    Format { dtype: GgmlDType::Q3K, dims: KQUANT, storage: StorageFormat::Q3K, conversion: Conversion::Exact, native_tol: 0.08, tied: true, memory: 1.04 },
    Format { dtype: GgmlDType::Q4K, dims: KQUANT, storage: StorageFormat::Q4K, conversion: Conversion::Exact, native_tol: 0.08, tied: true, memory: 1.03 },
    Format { dtype: GgmlDType::Q5K, dims: KQUANT, storage: StorageFormat::Q5K, conversion: Conversion::Exact, native_tol: 0.08, tied: true, memory: 1.03 },
    Format { dtype: GgmlDType::Q6K, dims: KQUANT, storage: StorageFormat::Q6K, conversion: Conversion::Exact, native_tol: 0.08, tied: true, memory: 1.02 },
];

macro_rules! gguf_format_tests {
    ($($test:ident: $arch:ident $dtype:ident,)*) => {$(
        #[test]
        fn $test() {
            check_gguf_format(Arch::$arch, GgmlDType::$dtype, stringify!($test));
        }
    )*};
}

gguf_format_tests! {
    gguf_llama_f32: Llama F32,
    gguf_llama_f16: Llama F16,
    gguf_llama_bf16: Llama BF16,
    gguf_llama_q4_0: Llama Q4_0,
    gguf_llama_q4_1: Llama Q4_1,
    gguf_llama_q5_0: Llama Q5_0,
    gguf_llama_q5_1: Llama Q5_1,
    gguf_llama_q8_0: Llama Q8_0,
    gguf_llama_q2_k: Llama Q2K,
    gguf_llama_q3_k: Llama Q3K,
    gguf_llama_q4_k: Llama Q4K,
    gguf_llama_q5_k: Llama Q5K,
    gguf_llama_q6_k: Llama Q6K,
    gguf_qwen2_f32: Qwen2 F32,
    gguf_qwen2_q8_0: Qwen2 Q8_0,
    gguf_qwen2_q4_k: Qwen2 Q4K,
}

// ---------------------------------------------------------------------------------------------
// Tiny models.
// ---------------------------------------------------------------------------------------------

/// Geometry of a tiny model. `heads · head_dim == hidden`, as candle's reference assumes.
#[derive(Debug, Clone, Copy)]
struct Dims {
    hidden: usize,
    layers: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    ffn: usize,
}

impl Dims {
    fn q_dim(&self) -> usize {
        self.heads * self.head_dim
    }
    fn kv_dim(&self) -> usize {
        self.kv_heads * self.head_dim
    }
}

/// For the 32-value block types.
const SMALL: Dims = Dims {
    hidden: 64,
    layers: 2,
    heads: 4,
    kv_heads: 2,
    head_dim: 16,
    ffn: 128,
};
/// K-quants need every input dimension to be a multiple of 256.
const KQUANT: Dims = Dims {
    hidden: 256,
    layers: 2,
    heads: 4,
    kv_heads: 2,
    head_dim: 64,
    ffn: 512,
};

const CONTEXT: usize = 512;
const RMS_EPS: f32 = 1e-5;
const ROPE_THETA: f32 = 10_000.0;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Arch {
    Llama,
    Qwen2,
}

impl Arch {
    fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
        }
    }
}

/// A model's weights in Hugging Face orientation (q and k rows not permuted), keyed by GGUF
/// tensor name; 2-D tensors are (out, in).
#[derive(Clone)]
struct TinyModel {
    arch: Arch,
    dims: Dims,
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl TinyModel {
    /// Random weights, scaled so that every activation stays near unit size and attention is
    /// neither uniform nor one-hot (score spread ≈ 2). `tied`: no `output.weight`.
    fn random(arch: Arch, dims: Dims, seed: &str, tied: bool) -> Self {
        let d = dims;
        let mut tensors = BTreeMap::new();
        let mut add = |name: String, shape: Vec<usize>, gain: f32, offset: f32| {
            let mut rng = Rng::new(&format!("{seed}/{name}"));
            let fan_in = *shape.last().unwrap() as f32;
            // Uniform with standard deviation gain/√fan_in for matrices; ±gain for vectors.
            let amp = if shape.len() == 2 {
                gain * (3.0 / fan_in).sqrt()
            } else {
                gain
            };
            let n: usize = shape.iter().product();
            let values = (0..n).map(|_| offset + amp * rng.uniform()).collect();
            tensors.insert(name, (shape, values));
        };
        add("token_embd.weight".into(), vec![VOCAB, d.hidden], 1.0, 0.0);
        if !tied {
            add("output.weight".into(), vec![VOCAB, d.hidden], 1.0, 0.0);
        }
        add("output_norm.weight".into(), vec![d.hidden], 0.2, 1.0);
        for l in 0..d.layers {
            let n = |s: &str| format!("blk.{l}.{s}");
            add(n("attn_norm.weight"), vec![d.hidden], 0.2, 1.0);
            add(n("attn_q.weight"), vec![d.q_dim(), d.hidden], 1.2, 0.0);
            add(n("attn_k.weight"), vec![d.kv_dim(), d.hidden], 1.2, 0.0);
            add(n("attn_v.weight"), vec![d.kv_dim(), d.hidden], 1.0, 0.0);
            add(n("attn_output.weight"), vec![d.hidden, d.q_dim()], 1.0, 0.0);
            add(n("ffn_norm.weight"), vec![d.hidden], 0.2, 1.0);
            add(n("ffn_gate.weight"), vec![d.ffn, d.hidden], 1.0, 0.0);
            add(n("ffn_up.weight"), vec![d.ffn, d.hidden], 1.0, 0.0);
            add(n("ffn_down.weight"), vec![d.hidden, d.ffn], 1.0, 0.0);
            if arch == Arch::Qwen2 {
                add(n("attn_q.bias"), vec![d.q_dim()], 0.5, 0.0);
                add(n("attn_k.bias"), vec![d.kv_dim()], 0.5, 0.0);
                add(n("attn_v.bias"), vec![d.kv_dim()], 0.5, 0.0);
            }
        }
        TinyModel {
            arch,
            dims,
            tensors,
        }
    }

    fn values(&self, name: &str) -> &[f32] {
        &self.tensors[name].1
    }

    /// Adds `output.weight` as a copy of the embedding (the untied twin of a tied model).
    fn with_explicit_output(mut self) -> Self {
        let embedding = self.tensors["token_embd.weight"].clone();
        self.tensors.insert("output.weight".into(), embedding);
        self
    }
}

/// llama.cpp's `convert_hf_to_gguf.py` `permute(w, n_head)`: within each head, rows
/// (first half, second half) are interleaved, so that GGUF's interleaved RoPE rotates the
/// pairs Hugging Face's "halves" RoPE rotates. Row `h·d + 2i + j` of the result is row
/// `h·d + j·d/2 + i` of the input.
fn permute_for_gguf(w: &[f32], n_head: usize, cols: usize) -> Vec<f32> {
    let rows = w.len() / cols;
    let head_dim = rows / n_head;
    let mut out = vec![0f32; w.len()];
    for h in 0..n_head {
        for i in 0..head_dim / 2 {
            for j in 0..2 {
                let dst = h * head_dim + 2 * i + j;
                let src = h * head_dim + j * head_dim / 2 + i;
                out[dst * cols..(dst + 1) * cols].copy_from_slice(&w[src * cols..(src + 1) * cols]);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Writing files.
// ---------------------------------------------------------------------------------------------

/// Metadata as llama.cpp writes it, with the default model's tokenizer.
fn gguf_metadata(arch_name: &str, dims: Dims) -> Vec<(String, Value)> {
    let a = |key: &str| format!("{arch_name}.{key}");
    let mut meta = vec![
        (
            "general.architecture".to_string(),
            Value::String(arch_name.into()),
        ),
        (
            "general.name".to_string(),
            Value::String(format!("tiny-{arch_name}")),
        ),
        (a("block_count"), Value::U32(dims.layers as u32)),
        (a("context_length"), Value::U32(CONTEXT as u32)),
        (a("embedding_length"), Value::U32(dims.hidden as u32)),
        (a("feed_forward_length"), Value::U32(dims.ffn as u32)),
        (a("attention.head_count"), Value::U32(dims.heads as u32)),
        (
            a("attention.head_count_kv"),
            Value::U32(dims.kv_heads as u32),
        ),
        (a("rope.freq_base"), Value::F32(ROPE_THETA)),
        (a("attention.layer_norm_rms_epsilon"), Value::F32(RMS_EPS)),
        (a("rope.dimension_count"), Value::U32(dims.head_dim as u32)),
    ];
    let mut tokenizer: Vec<_> = default_metadata()
        .iter()
        .filter(|(k, _)| k.starts_with("tokenizer."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    tokenizer.sort_by(|a, b| a.0.cmp(&b.0));
    meta.extend(tokenizer);
    meta
}

/// The model's tensors as GGUF writes them: matrices in `dtype`, vectors in F32, q/k rows
/// permuted for Llama (as llama.cpp's converter does; not for Qwen2).
fn gguf_tensors(model: &TinyModel, dtype: GgmlDType) -> Vec<(String, QTensor)> {
    gguf_tensors_with(model, &|_| dtype, model.arch == Arch::Llama)
}

/// As `gguf_tensors`, with each matrix's type chosen by its name.
fn gguf_tensors_with(
    model: &TinyModel,
    dtype_of: &dyn Fn(&str) -> GgmlDType,
    permute_qk: bool,
) -> Vec<(String, QTensor)> {
    let d = model.dims;
    model
        .tensors
        .iter()
        .map(|(name, (shape, values))| {
            let values = match name.rsplit('.').nth(1) {
                Some("attn_q") if permute_qk && shape.len() == 2 => {
                    permute_for_gguf(values, d.heads, d.hidden)
                }
                Some("attn_k") if permute_qk && shape.len() == 2 => {
                    permute_for_gguf(values, d.kv_heads, d.hidden)
                }
                _ => values.clone(),
            };
            let t = Tensor::from_vec(values, shape.as_slice(), &Device::Cpu).unwrap();
            let ty = if shape.len() == 2 {
                dtype_of(name)
            } else {
                GgmlDType::F32
            };
            (name.clone(), QTensor::quantize(&t, ty).unwrap())
        })
        .collect()
}

/// The same tensors dequantized by candle and stored as F32.
fn dequantized(tensors: &[(String, QTensor)]) -> Vec<(String, QTensor)> {
    tensors
        .iter()
        .map(|(name, q)| {
            let t = q.dequantize(&Device::Cpu).unwrap();
            (name.clone(), QTensor::quantize(&t, GgmlDType::F32).unwrap())
        })
        .collect()
}

fn write_gguf(path: &Path, metadata: &[(String, Value)], tensors: &[(String, QTensor)]) {
    let meta: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tens: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, t)| (k.as_str(), t)).collect();
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    gguf_file::write(&mut file, &meta, &tens).unwrap();
    file.flush().unwrap();
}

fn write_model_gguf(path: &Path, model: &TinyModel, dtype: GgmlDType) -> Vec<(String, QTensor)> {
    let tensors = gguf_tensors(model, dtype);
    write_gguf(
        path,
        &gguf_metadata(model.arch.name(), model.dims),
        &tensors,
    );
    tensors
}

/// GGUF tensor name → Hugging Face name.
fn hf_name(gguf: &str) -> String {
    match gguf {
        "token_embd.weight" => return "model.embed_tokens.weight".into(),
        "output.weight" => return "lm_head.weight".into(),
        "output_norm.weight" => return "model.norm.weight".into(),
        _ => {}
    }
    let rest = gguf.strip_prefix("blk.").expect("a layer tensor");
    let (layer, rest) = rest.split_once('.').unwrap();
    let part = match rest {
        "attn_norm.weight" => "input_layernorm.weight",
        "ffn_norm.weight" => "post_attention_layernorm.weight",
        "attn_q.weight" => "self_attn.q_proj.weight",
        "attn_k.weight" => "self_attn.k_proj.weight",
        "attn_v.weight" => "self_attn.v_proj.weight",
        "attn_q.bias" => "self_attn.q_proj.bias",
        "attn_k.bias" => "self_attn.k_proj.bias",
        "attn_v.bias" => "self_attn.v_proj.bias",
        "attn_output.weight" => "self_attn.o_proj.weight",
        "ffn_gate.weight" => "mlp.gate_proj.weight",
        "ffn_up.weight" => "mlp.up_proj.weight",
        "ffn_down.weight" => "mlp.down_proj.weight",
        other => panic!("no Hugging Face name for {other}"),
    };
    format!("model.layers.{layer}.{part}")
}

/// A Hugging Face folder: config.json (with `extra` keys merged in), model.safetensors in
/// `dtype`, and the tokenizer of tests/fixtures/tiny_hf (15 tokens, fewer than the
/// embeddings, which is allowed).
fn write_hf_folder(
    dir: &Path,
    model: &TinyModel,
    dtype: DType,
    model_type: &str,
    extra: serde_json::Value,
) {
    std::fs::create_dir_all(dir).unwrap();
    let d = model.dims;
    let mut config = serde_json::json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": model_type,
        "hidden_size": d.hidden,
        "intermediate_size": d.ffn,
        "num_hidden_layers": d.layers,
        "num_attention_heads": d.heads,
        "num_key_value_heads": d.kv_heads,
        "vocab_size": VOCAB,
        "max_position_embeddings": CONTEXT,
        "rms_norm_eps": RMS_EPS,
        "rope_theta": ROPE_THETA,
        "tie_word_embeddings": !model.tensors.contains_key("output.weight"),
        "torch_dtype": "float32",
    });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&config).unwrap(),
    )
    .unwrap();
    let tensors: HashMap<String, Tensor> = model
        .tensors
        .iter()
        .map(|(name, (shape, values))| {
            let t = Tensor::from_vec(values.clone(), shape.as_slice(), &Device::Cpu).unwrap();
            (hf_name(name), t.to_dtype(dtype).unwrap())
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

// ---------------------------------------------------------------------------------------------
// Running models.
// ---------------------------------------------------------------------------------------------

/// candle-transformers' reference forward pass over a GGUF file: last-position logits.
fn candle_logits(arch: Arch, path: &Path, ids: &[u32]) -> Vec<f32> {
    CandleModel::load(arch, path).logits(ids)
}

enum CandleModel {
    Llama(quantized_llama::ModelWeights),
    Qwen2(quantized_qwen2::ModelWeights),
}

impl CandleModel {
    fn load(arch: Arch, path: &Path) -> Self {
        let mut file = std::fs::File::open(path).unwrap();
        let content = gguf_file::Content::read(&mut file).unwrap();
        match arch {
            Arch::Llama => Self::Llama(
                quantized_llama::ModelWeights::from_gguf(content, &mut file, &Device::Cpu).unwrap(),
            ),
            Arch::Qwen2 => Self::Qwen2(
                quantized_qwen2::ModelWeights::from_gguf(content, &mut file, &Device::Cpu).unwrap(),
            ),
        }
    }

    /// Last-position logits of `ids` from position 0 (which discards the previous key/value state).
    fn logits(&mut self, ids: &[u32]) -> Vec<f32> {
        let input = Tensor::new(ids, &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let out = match self {
            Self::Llama(m) => m.forward(&input, 0),
            Self::Qwen2(m) => m.forward(&input, 0),
        };
        out.unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    }
}

fn rms_diff(a: &[f32], b: &[f32]) -> f32 {
    let sum: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    (sum / a.len() as f64).sqrt() as f32
}

// ---------------------------------------------------------------------------------------------
// GGUF weight types.
// ---------------------------------------------------------------------------------------------

/// The engine's matrices, each with the file values it must hold (row-major, file order:
/// q, k and v stacked, gate and up stacked, q/k rows as permuted in the file).
fn engine_matrices<'a>(
    model: &'a LocalModel,
    file: &HashMap<String, Vec<f32>>,
) -> Vec<(String, &'a Matrix, Vec<f32>)> {
    let t = model.transformer();
    let cat = |names: &[String]| {
        names
            .iter()
            .flat_map(|n| file[n].iter().copied())
            .collect::<Vec<f32>>()
    };
    let mut out = vec![(
        "token_embd".to_string(),
        &t.embedding,
        file["token_embd.weight"].clone(),
    )];
    if let Some(output) = &t.output {
        out.push(("output".into(), output, file["output.weight"].clone()));
    }
    for (l, layer) in t.layers.iter().enumerate() {
        let n = |s: &str| format!("blk.{l}.{s}.weight");
        out.push((
            format!("blk.{l}.qkv"),
            &layer.qkv,
            cat(&[n("attn_q"), n("attn_k"), n("attn_v")]),
        ));
        out.push((
            format!("blk.{l}.attn_output"),
            &layer.attn_output,
            file[&n("attn_output")].clone(),
        ));
        out.push((
            format!("blk.{l}.gate_up"),
            &layer.gate_up,
            cat(&[n("ffn_gate"), n("ffn_up")]),
        ));
        out.push((
            format!("blk.{l}.down"),
            &layer.down,
            file[&n("ffn_down")].clone(),
        ));
    }
    out
}

/// Checks every matrix against the file's dequantized values.
fn check_conversion(
    model: &LocalModel,
    file: &HashMap<String, Vec<f32>>,
    storage_of: &dyn Fn(&str) -> StorageFormat,
    conversion: Conversion,
) {
    for (name, matrix, expected) in engine_matrices(model, file) {
        let storage = storage_of(&name);
        assert_eq!(
            matrix.format(),
            storage,
            "{name} is stored as {}, expected {storage}",
            matrix.format()
        );
        let got = matrix.to_f32_rows();
        assert_eq!(got.len(), expected.len(), "{name}: size");
        match conversion {
            Conversion::Exact => {
                // `!=` rather than bits: d·q + m may give +0 where candle's d·(q − 8) gives −0.
                if let Some(i) = (0..got.len()).find(|&i| got[i] != expected[i]) {
                    panic!(
                        "{name}: element {i} is {} but the file holds {}",
                        got[i], expected[i]
                    );
                }
            }
        }
    }
}

fn check_gguf_format(arch: Arch, dtype: GgmlDType, test: &str) {
    let format = FORMATS
        .iter()
        .find(|f| f.dtype == dtype)
        .expect("a row of FORMATS");
    check_gguf_file(
        arch,
        format,
        test,
        &|_| dtype,
        &|_| format.storage,
        &format!("{dtype:?}"),
    );
}

/// Weights in memory over the file's bytes of the same tensors (the 2-D ones).
fn memory_ratio(model: &LocalModel, tensors: &[(String, QTensor)]) -> f64 {
    let t = model.transformer();
    let file: usize = tensors
        .iter()
        .filter(|(_, q)| q.shape().dims().len() == 2)
        .map(|(_, q)| q.storage_size_in_bytes())
        .sum();
    let ours = t.embedding.size_bytes()
        + t.output.as_ref().map_or(0, Matrix::size_bytes)
        + t.layers
            .iter()
            .map(|l| {
                l.qkv.size_bytes()
                    + l.attn_output.size_bytes()
                    + l.gate_up.size_bytes()
                    + l.down.size_bytes()
            })
            .sum::<usize>();
    ours as f64 / file as f64
}

/// The checks of `check_gguf_format` on a file whose matrices have the types `dtype_of`
/// gives them and must be stored as `storage_of` says (by engine matrix name).
fn check_gguf_file(
    arch: Arch,
    format: &Format,
    test: &str,
    dtype_of: &dyn Fn(&str) -> GgmlDType,
    storage_of: &dyn Fn(&str) -> StorageFormat,
    label: &str,
) {
    let dir = TempDir::new(test);
    let model = TinyModel::random(arch, format.dims, test, format.tied);
    let quantized_path = dir.join("model.gguf");
    let tensors = gguf_tensors_with(&model, dtype_of, arch == Arch::Llama);
    write_gguf(
        &quantized_path,
        &gguf_metadata(arch.name(), format.dims),
        &tensors,
    );
    // The exact reference: candle's own dequantization of every tensor, stored as F32.
    let reference_tensors = dequantized(&tensors);
    let reference_path = dir.join("dequantized-f32.gguf");
    write_gguf(
        &reference_path,
        &gguf_metadata(arch.name(), format.dims),
        &reference_tensors,
    );
    let file_values: HashMap<String, Vec<f32>> = reference_tensors
        .iter()
        .map(|(n, q)| {
            (
                n.clone(),
                q.dequantize(&Device::Cpu)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1()
                    .unwrap(),
            )
        })
        .collect();
    let ids = prompt(test, 40);

    // Exact numerics: all weights f32 on both sides.
    let ours_f32 = load_gguf(&quantized_path, WeightMode::F32);
    let expected_rope = if arch == Arch::Llama {
        RopeStyle::Interleaved
    } else {
        RopeStyle::Halves
    };
    assert_eq!(ours_f32.transformer().config.rope_style, expected_rope);
    assert_eq!(ours_f32.transformer().config.qkv_bias, arch == Arch::Qwen2);
    check_conversion(
        &ours_f32,
        &file_values,
        &|_| StorageFormat::F32,
        Conversion::Exact,
    );
    let mut candle_f32 = CandleModel::load(arch, &reference_path);
    let reference = candle_f32.logits(&ids);
    let exact_diff = max_abs_diff(&logits(&ours_f32, &ids), &reference);
    drop(ours_f32);

    // Native numerics: the file's precision on both sides.
    let ours = load_gguf(&quantized_path, WeightMode::Native);
    check_conversion(&ours, &file_values, storage_of, format.conversion);
    let memory = memory_ratio(&ours, &tensors);
    let ours_native = logits(&ours, &ids);
    let mut candle_quantized = CandleModel::load(arch, &quantized_path);
    let candle_native = candle_quantized.logits(&ids);
    let scale = max_abs(&candle_native);
    let native_diff = max_abs_diff(&ours_native, &candle_native);
    // How far each quantized run is from the exact result with the same weights: both quantize
    // activations to 8 bits, so neither is exact, and ours must not be the worse one. Per
    // prompt, which run is closer is a coin toss (ratios 0.6–1.5 measured), so the RMS error
    // over the vocabulary is summed over four prompts.
    let (mut ours_err, mut candle_err) = (
        rms_diff(&ours_native, &reference),
        rms_diff(&candle_native, &reference),
    );
    for k in 1..4 {
        let ids = prompt(&format!("{test}/{k}"), 40);
        let reference = candle_f32.logits(&ids);
        ours_err += rms_diff(&logits(&ours, &ids), &reference);
        candle_err += rms_diff(&candle_quantized.logits(&ids), &reference);
    }
    let (ours_err, candle_err) = (ours_err / 4.0, candle_err / 4.0);

    eprintln!(
        "{test:<16} {label:<4} hidden {:>3} | memory/file {memory:.3} | F32 mode vs candle f32 {exact_diff:.1e} | \
         native vs candle native {native_diff:.1e} = {:.2}% of max|logit| {scale:.2} | mean RMS vs exact: ours {ours_err:.1e}, candle {candle_err:.1e}",
        format.dims.hidden,
        100.0 * native_diff / scale,
    );
    assert!(
        memory <= f64::from(format.memory),
        "{test}: weights take {memory:.3}× the file's bytes, more than {}",
        format.memory
    );
    assert!(
        exact_diff <= EXACT_TOL,
        "{test}: F32-mode logits differ from candle's f32 run by {exact_diff}"
    );
    assert!(
        native_diff <= format.native_tol * scale,
        "{test}: native logits differ from candle's by {native_diff}, more than {} of {scale}",
        format.native_tol
    );
    assert!(
        ours_err <= 1.3 * candle_err + 1e-5,
        "{test}: our quantized logits are {ours_err} from the exact ones, candle's only {candle_err}"
    );
}

/// A Q4_K_M-like file, as llama.cpp's `llama-quantize` writes one: Q4_K matrices, with Q6_K
/// for the embedding (tied, so also the output), and for `attn_v` and `ffn_down` of some
/// layers (here layer 0). Each keeps its own layout; layer 0's q, k, v stack as parts of
/// different formats.
#[test]
fn gguf_llama_q4_k_m_mix() {
    let format = Format {
        dtype: GgmlDType::Q4K,
        dims: KQUANT,
        storage: StorageFormat::Q4K,
        conversion: Conversion::Exact,
        native_tol: 0.08,
        tied: true,
        memory: 1.03,
    };
    let six_bits = |name: &str| {
        name == "token_embd.weight"
            || name == "blk.0.attn_v.weight"
            || name == "blk.0.ffn_down.weight"
    };
    check_gguf_file(
        Arch::Llama,
        &format,
        "gguf_llama_q4_k_m",
        &|name| {
            if six_bits(name) {
                GgmlDType::Q6K
            } else {
                GgmlDType::Q4K
            }
        },
        &|matrix| match matrix {
            "token_embd" | "blk.0.down" => StorageFormat::Q6K,
            "blk.0.qkv" => StorageFormat::Mixed,
            _ => StorageFormat::Q4K,
        },
        "Q4_K_M",
    );
}

// ---------------------------------------------------------------------------------------------
// Tied embeddings.
// ---------------------------------------------------------------------------------------------

#[test]
fn gguf_tied_embeddings_equal_an_explicit_copy() {
    let dir = TempDir::new("tied-gguf");
    let tied = TinyModel::random(Arch::Llama, SMALL, "tied", true);
    let untied = tied.clone().with_explicit_output();
    let ids = prompt("tied", 40);
    for dtype in [GgmlDType::F32, GgmlDType::Q4_1, GgmlDType::Q8_0] {
        let (a, b) = (dir.join("tied.gguf"), dir.join("untied.gguf"));
        write_model_gguf(&a, &tied, dtype);
        write_model_gguf(&b, &untied, dtype);
        let tied_model = load_gguf(&a, WeightMode::Native);
        assert!(
            tied_model.transformer().output.is_none(),
            "a tied model has no output matrix"
        );
        assert!(
            load_gguf(&b, WeightMode::Native)
                .transformer()
                .output
                .is_some()
        );
        let (x, y) = (
            logits(&tied_model, &ids),
            logits(&load_gguf(&b, WeightMode::Native), &ids),
        );
        let reference = candle_logits(Arch::Llama, &a, &ids);
        let vs_candle = max_abs_diff(&x, &reference);
        eprintln!(
            "tied {dtype:?}: tied vs untied {:.1e}, tied vs candle {vs_candle:.2e}",
            max_abs_diff(&x, &y)
        );
        assert_eq!(x, y, "{dtype:?}: tied and untied logits differ");
        let tol = FORMATS
            .iter()
            .find(|f| f.dtype == dtype)
            .unwrap()
            .native_tol;
        assert!(
            vs_candle <= tol * max_abs(&reference),
            "{dtype:?}: tied logits differ from candle's by {vs_candle}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Hugging Face safetensors.
// ---------------------------------------------------------------------------------------------

/// The same weights as a HF folder and as an F32 GGUF (q/k permuted for Llama): the engine
/// must agree with itself and with candle.
fn check_hf_matches_gguf(arch: Arch, test: &str) {
    let dir = TempDir::new(test);
    let model = TinyModel::random(arch, SMALL, test, false);
    let gguf = dir.join("model.gguf");
    write_model_gguf(&gguf, &model, GgmlDType::F32);
    let hf = dir.join("hf");
    write_hf_folder(&hf, &model, DType::F32, arch.name(), serde_json::json!({}));
    let ids = prompt(test, 40);

    let from_hf = load_hf(&hf, WeightMode::Native);
    assert_eq!(from_hf.transformer().config.rope_style, RopeStyle::Halves);
    assert_eq!(from_hf.transformer().config.qkv_bias, arch == Arch::Qwen2);
    assert_eq!(from_hf.info().architecture, arch.name());
    // The HF loader keeps Hugging Face's row order.
    let q = from_hf.transformer().layers[0].qkv.to_f32_rows();
    let q_len = SMALL.q_dim() * SMALL.hidden;
    assert_eq!(&q[..q_len], model.values("blk.0.attn_q.weight"));
    let hf_logits = logits(&from_hf, &ids);
    let gguf_logits = logits(&load_gguf(&gguf, WeightMode::Native), &ids);
    let reference = candle_logits(arch, &gguf, &ids);
    let (hf_vs_gguf, hf_vs_candle) = (
        max_abs_diff(&hf_logits, &gguf_logits),
        max_abs_diff(&hf_logits, &reference),
    );
    eprintln!(
        "{test}: safetensors vs GGUF {hf_vs_gguf:.2e}, safetensors vs candle {hf_vs_candle:.2e} (max|logit| {:.2})",
        max_abs(&reference)
    );
    assert!(
        hf_vs_gguf <= EXACT_TOL,
        "{test}: safetensors and GGUF logits differ by {hf_vs_gguf}"
    );
    assert!(
        hf_vs_candle <= EXACT_TOL,
        "{test}: safetensors and candle logits differ by {hf_vs_candle}"
    );
}

#[test]
fn hf_llama_matches_permuted_gguf() {
    check_hf_matches_gguf(Arch::Llama, "hf-llama");
}

#[test]
fn hf_qwen2_matches_gguf() {
    check_hf_matches_gguf(Arch::Qwen2, "hf-qwen2");
}

/// The permutation is what makes the conventions meet: an unpermuted GGUF must NOT agree
/// (otherwise the test above would prove nothing about RoPE).
#[test]
fn gguf_without_the_converter_permutation_differs() {
    let dir = TempDir::new("unpermuted");
    let model = TinyModel::random(Arch::Llama, SMALL, "unpermuted", false);
    let hf = dir.join("hf");
    write_hf_folder(&hf, &model, DType::F32, "llama", serde_json::json!({}));
    let tensors = gguf_tensors_with(&model, &|_| GgmlDType::F32, false);
    let gguf = dir.join("unpermuted.gguf");
    write_gguf(&gguf, &gguf_metadata("llama", SMALL), &tensors);
    let ids = prompt("unpermuted", 40);
    let a = logits(&load_hf(&hf, WeightMode::Native), &ids);
    let b = logits(&load_gguf(&gguf, WeightMode::Native), &ids);
    let diff = max_abs_diff(&a, &b);
    eprintln!("unpermuted GGUF vs safetensors: {diff:.2e} (must be large)");
    assert!(
        diff > 100.0 * EXACT_TOL,
        "RoPE convention not exercised: diff {diff}"
    );
}

#[test]
fn hf_f16_and_bf16_checkpoints() {
    let dir = TempDir::new("hf-half");
    let model = TinyModel::random(Arch::Llama, SMALL, "hf-half", false);
    let f32_dir = dir.join("f32");
    write_hf_folder(&f32_dir, &model, DType::F32, "llama", serde_json::json!({}));
    let ids = prompt("hf-half", 40);
    let full = logits(&load_hf(&f32_dir, WeightMode::Native), &ids);
    for (dtype, storage) in [
        (DType::F16, StorageFormat::F16),
        (DType::BF16, StorageFormat::BF16),
    ] {
        // The f32 twin holds exactly the half-precision values.
        let mut rounded = model.clone();
        for (_, values) in rounded.tensors.values_mut() {
            let t = Tensor::new(values.as_slice(), &Device::Cpu).unwrap();
            *values = t
                .to_dtype(dtype)
                .unwrap()
                .to_dtype(DType::F32)
                .unwrap()
                .to_vec1()
                .unwrap();
        }
        let (half_dir, twin_dir) = (
            dir.join(&format!("{dtype:?}")),
            dir.join(&format!("{dtype:?}-as-f32")),
        );
        write_hf_folder(
            &half_dir,
            &model,
            dtype,
            "llama",
            serde_json::json!({"torch_dtype": format!("{dtype:?}")}),
        );
        write_hf_folder(
            &twin_dir,
            &rounded,
            DType::F32,
            "llama",
            serde_json::json!({}),
        );

        let native = load_hf(&half_dir, WeightMode::Native);
        let t = native.transformer();
        for m in [
            &t.embedding,
            &t.layers[0].qkv,
            &t.layers[1].down,
            t.output.as_ref().unwrap(),
        ] {
            assert_eq!(m.format(), storage);
        }
        let as_f32 = load_hf(&half_dir, WeightMode::F32);
        assert_eq!(
            as_f32.transformer().layers[0].qkv.format(),
            StorageFormat::F32
        );

        let twin = logits(&load_hf(&twin_dir, WeightMode::Native), &ids);
        let (native, as_f32) = (logits(&native, &ids), logits(&as_f32, &ids));
        let (exact, mode, loose) = (
            max_abs_diff(&native, &twin),
            max_abs_diff(&as_f32, &twin),
            max_abs_diff(&native, &full),
        );
        eprintln!(
            "safetensors {dtype:?}: vs rounded f32 twin {exact:.2e}, F32 mode vs twin {mode:.2e}, vs unrounded f32 {loose:.2e} ({:.3}% of max|logit|)",
            100.0 * loose / max_abs(&full)
        );
        assert!(
            exact <= EXACT_TOL && mode <= EXACT_TOL,
            "{dtype:?}: {exact}, {mode}"
        );
        let loose_tol = if dtype == DType::F16 { 0.01 } else { 0.05 };
        assert!(
            loose <= loose_tol * max_abs(&full),
            "{dtype:?}: {loose} from the f32 checkpoint"
        );
    }
}

#[test]
fn hf_tied_embeddings_equal_an_explicit_copy() {
    let dir = TempDir::new("hf-tied");
    let tied = TinyModel::random(Arch::Llama, SMALL, "hf-tied", true);
    let untied = tied.clone().with_explicit_output();
    write_hf_folder(
        &dir.join("tied"),
        &tied,
        DType::F32,
        "llama",
        serde_json::json!({}),
    );
    write_hf_folder(
        &dir.join("untied"),
        &untied,
        DType::F32,
        "llama",
        serde_json::json!({}),
    );
    // A checkpoint that ships lm_head but says tie_word_embeddings = true uses the embedding.
    let mut decoy = untied.clone();
    decoy
        .tensors
        .get_mut("output.weight")
        .unwrap()
        .1
        .iter_mut()
        .for_each(|v| *v = -*v);
    write_hf_folder(
        &dir.join("decoy"),
        &decoy,
        DType::F32,
        "llama",
        serde_json::json!({"tie_word_embeddings": true}),
    );
    let ids = prompt("hf-tied", 40);
    let tied_model = load_hf(&dir.join("tied"), WeightMode::Native);
    assert!(tied_model.transformer().output.is_none());
    let a = logits(&tied_model, &ids);
    let b = logits(&load_hf(&dir.join("untied"), WeightMode::Native), &ids);
    let c = logits(&load_hf(&dir.join("decoy"), WeightMode::Native), &ids);
    assert_eq!(a, b, "tied vs explicit lm_head");
    assert_eq!(a, c, "tie_word_embeddings = true must ignore lm_head");
}

// ---------------------------------------------------------------------------------------------
// Sliding window (Mistral).
// ---------------------------------------------------------------------------------------------

#[test]
fn sliding_window_limits_the_receptive_field() {
    let dir = TempDir::new("window");
    let model = TinyModel::random(Arch::Llama, SMALL, "window", false);
    let folder = |name: &str, extra: serde_json::Value| {
        let path = dir.join(name);
        write_hf_folder(&path, &model, DType::F32, "mistral", extra);
        load_hf(&path, WeightMode::Native)
    };
    let none = folder("none", serde_json::json!({"sliding_window": null}));
    let wide = folder("wide", serde_json::json!({"sliding_window": 64}));
    const W: usize = 3;
    let narrow = folder("narrow", serde_json::json!({"sliding_window": W}));
    assert_eq!(none.transformer().config.sliding_window, None);
    assert_eq!(narrow.transformer().config.sliding_window, Some(W));

    let ids = prompt("window", 40);
    assert_eq!(
        logits(&none, &ids),
        logits(&wide, &ids),
        "a window longer than the prompt changes nothing"
    );

    // With 2 layers, the last position sees the last 2W − 1 tokens and nothing else.
    let reach = 2 * W - 1;
    let tail = &ids[ids.len() - reach..];
    let other_prefix = prompt("window-other", 23);
    let shifted: Vec<u32> = other_prefix.iter().chain(tail).copied().collect();
    let mut edge = ids.clone();
    let n = edge.len();
    edge[n - reach] = (edge[n - reach] + 1) % VOCAB as u32;

    let base = logits(&narrow, &ids);
    let same_tail = max_abs_diff(&base, &logits(&narrow, &shifted));
    let edge_changed = max_abs_diff(&base, &logits(&narrow, &edge));
    let no_window = max_abs_diff(&logits(&none, &ids), &logits(&none, &shifted));
    let narrow_vs_none = max_abs_diff(&base, &logits(&none, &ids));
    eprintln!(
        "sliding window {W}: other prefix, same last {reach} tokens {same_tail:.2e}; token {reach} from the end changed \
         {edge_changed:.2e}; no window, other prefix {no_window:.2e}; window vs none {narrow_vs_none:.2e}"
    );
    assert!(
        same_tail <= EXACT_TOL,
        "tokens beyond the window changed the logits by {same_tail}"
    );
    assert!(
        edge_changed > 100.0 * EXACT_TOL,
        "the oldest token inside the window made no difference"
    );
    assert!(
        no_window > 100.0 * EXACT_TOL,
        "without a window the prefix must matter"
    );
    assert!(
        narrow_vs_none > 100.0 * EXACT_TOL,
        "a small window must change the logits"
    );
}

// ---------------------------------------------------------------------------------------------
// Bad inputs.
// ---------------------------------------------------------------------------------------------

/// Loads a GGUF that must fail; returns the message. A panic fails the test by itself.
fn gguf_error(path: &Path) -> String {
    match LocalModel::load_gguf(path, &options(WeightMode::Native)) {
        Ok(_) => panic!("{} loaded, expected an error", path.display()),
        Err(e) => e.to_string(),
    }
}

fn hf_error(dir: &Path) -> String {
    match LocalModel::load_hf(dir, &options(WeightMode::Native)) {
        Ok(_) => panic!("{} loaded, expected an error", dir.display()),
        Err(e) => e.to_string(),
    }
}

fn assert_mentions(message: &str, needles: &[&str]) {
    // One line: no backtrace (candle appends one to its errors when RUST_BACKTRACE is set).
    assert!(
        !message.contains('\n'),
        "error message spans several lines: {message:?}"
    );
    for needle in needles {
        assert!(
            message.contains(needle),
            "error message {message:?} does not mention {needle:?}"
        );
    }
}

#[test]
fn gguf_unsupported_architecture() {
    let dir = TempDir::new("gemma");
    let model = TinyModel::random(Arch::Llama, SMALL, "gemma", true);
    let path = dir.join("gemma.gguf");
    write_gguf(
        &path,
        &gguf_metadata("gemma", SMALL),
        &gguf_tensors(&model, GgmlDType::Q8_0),
    );
    let message = gguf_error(&path);
    eprintln!("gemma: {message}");
    assert_mentions(&message, &["unsupported architecture `gemma`"]);
}

#[test]
fn gguf_missing_tensor() {
    let dir = TempDir::new("missing");
    let model = TinyModel::random(Arch::Llama, SMALL, "missing", true);
    let mut tensors = gguf_tensors(&model, GgmlDType::Q8_0);
    tensors.retain(|(name, _)| name != "blk.1.ffn_down.weight");
    let path = dir.join("missing.gguf");
    write_gguf(&path, &gguf_metadata("llama", SMALL), &tensors);
    let message = gguf_error(&path);
    eprintln!("missing: {message}");
    assert_mentions(&message, &["missing tensor `blk.1.ffn_down.weight`"]);
}

#[test]
fn gguf_truncated_files() {
    let dir = TempDir::new("truncated");
    let model = TinyModel::random(Arch::Llama, SMALL, "truncated", true);
    let path = dir.join("full.gguf");
    write_model_gguf(&path, &model, GgmlDType::Q8_0);
    let bytes = std::fs::read(&path).unwrap();
    let content = gguf_file::Content::read(&mut std::fs::File::open(&path).unwrap()).unwrap();
    // Cut in the middle of the tensor that lies last in the file.
    let (last_name, last) = content
        .tensor_infos
        .iter()
        .max_by_key(|(_, info)| info.offset)
        .unwrap();
    let size = last.shape.elem_count() / last.ggml_dtype.block_size() * last.ggml_dtype.type_size();
    let cut = content.tensor_data_offset as usize + last.offset as usize + size / 2;
    let cut_path = dir.join("cut.gguf");
    std::fs::write(&cut_path, &bytes[..cut]).unwrap();
    let message = gguf_error(&cut_path);
    eprintln!("cut in tensor data: {message}");
    assert_mentions(&message, &["truncated", &format!("`{last_name}`")]);

    // Cut inside the header (the tokenizer's vocabulary).
    std::fs::write(&cut_path, &bytes[..content.tensor_data_offset as usize / 2]).unwrap();
    let message = gguf_error(&cut_path);
    eprintln!("cut in header: {message}");
    assert_mentions(&message, &["truncated"]);

    // Nothing but the magic.
    std::fs::write(&cut_path, b"GGUF").unwrap();
    let message = gguf_error(&cut_path);
    eprintln!("magic only: {message}");
    assert_mentions(&message, &["truncated"]);
}

#[test]
fn not_a_gguf_file() {
    let dir = TempDir::new("not-gguf");
    let path = dir.join("model.gguf");
    std::fs::write(&path, b"PK\x03\x04 this is a zip file, not a model").unwrap();
    let message = gguf_error(&path);
    eprintln!("other magic: {message}");
    assert_mentions(&message, &["not a GGUF file"]);
    std::fs::write(&path, b"GG").unwrap();
    assert_mentions(&gguf_error(&path), &["not a GGUF file"]);
    let message = gguf_error(&dir.join("no-such-file.gguf"));
    assert_mentions(&message, &["no-such-file.gguf"]);
}

/// A GGUF v3 file written byte by byte, holding one tensor of ggml type 16 (IQ2_XXS), which
/// candle cannot read.
#[test]
fn gguf_unsupported_quantization_type() {
    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend((s.len() as u64).to_le_bytes());
        out.extend(s.as_bytes());
    }
    let mut out = Vec::new();
    out.extend(b"GGUF");
    out.extend(3u32.to_le_bytes()); // version
    out.extend(1u64.to_le_bytes()); // tensors
    out.extend(2u64.to_le_bytes()); // metadata entries
    string(&mut out, "general.architecture");
    out.extend(8u32.to_le_bytes()); // string
    string(&mut out, "llama");
    string(&mut out, "llama.block_count");
    out.extend(4u32.to_le_bytes()); // u32
    out.extend(1u32.to_le_bytes());
    string(&mut out, "blk.0.ffn_down.weight");
    out.extend(2u32.to_le_bytes()); // dimensions, innermost first
    out.extend(256u64.to_le_bytes());
    out.extend(16u64.to_le_bytes());
    out.extend(16u32.to_le_bytes()); // IQ2_XXS
    out.extend(0u64.to_le_bytes()); // offset
    out.resize(out.len().div_ceil(32) * 32, 0);
    out.extend(vec![0u8; 16 * 66]); // 16 rows of one 66-byte IQ2_XXS block
    let dir = TempDir::new("iq2");
    let path = dir.join("iq2.gguf");
    std::fs::write(&path, &out).unwrap();
    let message = gguf_error(&path);
    eprintln!("IQ2_XXS: {message}");
    assert_mentions(&message, &["IQ2_XXS"]);
}

#[test]
fn hf_bad_folders() {
    let dir = TempDir::new("hf-bad");
    let model = TinyModel::random(Arch::Llama, SMALL, "hf-bad", true);

    // No config.json.
    let folder = dir.join("no-config");
    write_hf_folder(&folder, &model, DType::F32, "llama", serde_json::json!({}));
    std::fs::remove_file(folder.join("config.json")).unwrap();
    let message = hf_error(&folder);
    eprintln!("no config.json (load_hf): {message}");
    assert_mentions(&message, &["config.json"]);
    let message = match LocalModel::load(
        folder.to_str().unwrap(),
        &options(WeightMode::Native),
        &mut |_| {},
    ) {
        Ok(_) => panic!("a folder without config.json loaded"),
        Err(e) => e.to_string(),
    };
    eprintln!("no config.json (load): {message}");
    assert_mentions(&message, &["config.json"]);

    // An architecture the engine does not implement.
    let folder = dir.join("gpt2");
    write_hf_folder(&folder, &model, DType::F32, "gpt2", serde_json::json!({}));
    let message = hf_error(&folder);
    eprintln!("gpt2: {message}");
    assert_mentions(&message, &["unsupported architecture `gpt2`"]);

    // A weight with the wrong shape.
    let folder = dir.join("bad-shape");
    let mut bad = model.clone();
    let (shape, _) = bad.tensors.get_mut("blk.1.ffn_down.weight").unwrap();
    shape.reverse();
    write_hf_folder(&folder, &bad, DType::F32, "llama", serde_json::json!({}));
    let message = hf_error(&folder);
    eprintln!("bad shape: {message}");
    assert_mentions(&message, &["model.layers.1.mlp.down_proj.weight", "shape"]);

    // A missing weight.
    let folder = dir.join("missing");
    let mut missing = model.clone();
    missing.tensors.remove("blk.0.attn_v.weight");
    write_hf_folder(
        &folder,
        &missing,
        DType::F32,
        "llama",
        serde_json::json!({}),
    );
    let message = hf_error(&folder);
    eprintln!("missing: {message}");
    assert_mentions(
        &message,
        &["missing tensor `model.layers.0.self_attn.v_proj.weight`"],
    );
}
