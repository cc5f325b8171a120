//! Synthetic models to measure with: GGUF files of a given architecture and size with seeded
//! random weights and a real tokenizer (`drift-script make-model`), and their quantized formats
//! through llama.cpp's own `llama-quantize`.
//!
//! Speed does not depend on the weights' values, so these files give honest speed and memory
//! figures at the sizes researchers run (1B–8B) where no real weights can be downloaded. The
//! text they generate is noise.
//!
//! - Weights: every matrix normal(0, 0.02), every norm 1 (GGUF stores Gemma's norms as `w`, not
//!   `w − 1`, so 1 is right for every family), embeddings tied (no `output.weight`, as Llama 3.2
//!   1B/3B and Qwen3 1.7B ship). Each tensor is cut into chunks of [`CHUNK`] values with a
//!   ChaCha20 stream of their own seeded by (seed, tensor, chunk): the same bytes every time,
//!   whatever the thread count, and written as they are drawn (a 3B f16 file is 6 GB).
//! - Tokenizer: the default model's (SmolLM2, 49,152 tokens) `tokenizer.ggml.*` metadata, for
//!   every family. Chat template: SmolLM2's ChatML for llama, gemma2 and gemma3 (so the system
//!   role works everywhere); Qwen3's own template for qwen3 (`qwen3.jinja`, the chat template
//!   of Qwen3-0.6B as published with its weights, Apache-2.0; ChatML with `<think>`, whose
//!   `<|im_start|>`/`<|im_end|>` are SmolLM2's special tokens too). It renders in thinking mode.
//! - Hyperparameter metadata: the keys both our loader and llama.cpp read for the family.
//!
//! Owns: the description of a synthetic model, its file (`gguf_writer.rs`), the cache under
//! `$DRIFT_SCRIPT_HOME/synth`, and running `llama-quantize`. Imports `model` (to read the
//! default model's tokenizer) and `fetch`; nothing in `model` imports it.

pub mod gguf_writer;

use anyhow::Context;
use candle_core::quantized::gguf_file::{self, Value};
use gguf_writer::{GgufWriter, TensorDescription, TensorType};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use std::path::{Path, PathBuf};

/// Values per independently seeded chunk of a tensor.
pub const CHUNK: usize = 1 << 16;
/// Standard deviation of every matrix's values.
pub const WEIGHT_STD: f32 = 0.02;

const QWEN3_TEMPLATE: &str = include_str!("qwen3.jinja");

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Family {
    Llama,
    Qwen3,
    Gemma2,
    Gemma3,
}

impl Family {
    pub fn gguf_name(self) -> &'static str {
        match self {
            Family::Llama => "llama",
            Family::Qwen3 => "qwen3",
            Family::Gemma2 => "gemma2",
            Family::Gemma3 => "gemma3",
        }
    }
}

/// Element type of the matrices (norms are always F32, as llama.cpp's converter writes them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SynthType {
    F16,
    F32,
}

/// A synthetic model's architecture, geometry and seed.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthSpec {
    pub family: Family,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    /// Width of one attention head (Qwen3 and Gemma: not hidden / heads).
    pub head_dim: usize,
    pub ffn: usize,
    pub context: usize,
    pub seed: u64,
    pub ty: SynthType,
}

/// Named sizes: the geometry of a published model of that family and size.
pub const PRESETS: &[(&str, &str)] = &[
    (
        "llama-1b",
        "Llama 3.2 1B: hidden 2048, 16 layers, 32 heads, 8 KV heads, FFN 8192",
    ),
    (
        "llama-3b",
        "Llama 3.2 3B: hidden 3072, 28 layers, 24 heads, 8 KV heads, FFN 8192",
    ),
    (
        "qwen3-1b",
        "Qwen3 1.7B: hidden 2048, 28 layers, 16 heads, 8 KV heads, head 128, FFN 6144",
    ),
    (
        "tiny-llama",
        "a test size: hidden 64, 2 layers, 4 heads, 2 KV heads, FFN 128",
    ),
    (
        "tiny-qwen3",
        "a test size: hidden 64, 2 layers, 4 heads, 2 KV heads, head 32, FFN 128",
    ),
];

impl SynthSpec {
    pub fn preset(name: &str) -> anyhow::Result<Self> {
        let base = |family, hidden, layers, heads, kv_heads, head_dim, ffn| SynthSpec {
            family,
            hidden,
            layers,
            heads,
            kv_heads,
            head_dim,
            ffn,
            context: 4096,
            seed: 1,
            ty: SynthType::F16,
        };
        Ok(match name {
            "llama-1b" => base(Family::Llama, 2048, 16, 32, 8, 64, 8192),
            "llama-3b" => base(Family::Llama, 3072, 28, 24, 8, 128, 8192),
            "qwen3-1b" => base(Family::Qwen3, 2048, 28, 16, 8, 128, 6144),
            "tiny-llama" => base(Family::Llama, 64, 2, 4, 2, 16, 128),
            "tiny-qwen3" => base(Family::Qwen3, 64, 2, 4, 2, 32, 128),
            other => anyhow::bail!(
                "unknown preset `{other}` (available: {})",
                PRESETS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let positive = [
            ("--hidden", self.hidden),
            ("--layers", self.layers),
            ("--heads", self.heads),
            ("--kv-heads", self.kv_heads),
            ("--head-dim", self.head_dim),
            ("--ffn", self.ffn),
            ("--context", self.context),
        ];
        for (flag, value) in positive {
            anyhow::ensure!(value >= 1, "{flag} must be at least 1");
        }
        anyhow::ensure!(
            self.heads.is_multiple_of(self.kv_heads),
            "--heads ({}) must be a multiple of --kv-heads ({})",
            self.heads,
            self.kv_heads
        );
        anyhow::ensure!(
            self.head_dim.is_multiple_of(2),
            "--head-dim ({}) must be even (RoPE rotates pairs)",
            self.head_dim
        );
        // llama.cpp's quantized formats pack 32 (Q4_0, Q8_0) or 256 (K-quants) values per
        // block along a row: every row length here is the hidden size or the FFN size.
        anyhow::ensure!(
            self.hidden.is_multiple_of(32) && self.ffn.is_multiple_of(32),
            "--hidden and --ffn must be multiples of 32 (GGUF's quantization blocks)"
        );
        Ok(())
    }

    /// The file name in the cache: every field that changes the bytes.
    pub fn file_name(&self) -> String {
        format!(
            "{}-h{}-l{}-a{}-kv{}-d{}-f{}-c{}-s{}.{}.gguf",
            self.family.gguf_name(),
            self.hidden,
            self.layers,
            self.heads,
            self.kv_heads,
            self.head_dim,
            self.ffn,
            self.context,
            self.seed,
            match self.ty {
                SynthType::F16 => "f16",
                SynthType::F32 => "f32",
            }
        )
    }

    fn matrix_type(&self) -> TensorType {
        match self.ty {
            SynthType::F16 => TensorType::F16,
            SynthType::F32 => TensorType::F32,
        }
    }

    /// Every tensor in file order, llama.cpp's names (the embedding is also the output).
    pub fn tensors(&self, vocab: usize) -> Vec<TensorDescription> {
        let m = self.matrix_type();
        let (hidden, q_dim, kv_dim) = (
            self.hidden as u64,
            (self.heads * self.head_dim) as u64,
            (self.kv_heads * self.head_dim) as u64,
        );
        let matrix = |name: String, rows: u64, cols: u64| TensorDescription {
            name,
            dims: vec![cols, rows],
            ty: m,
        };
        let norm = |name: String, len: u64| TensorDescription {
            name,
            dims: vec![len],
            ty: TensorType::F32,
        };
        let ffn = self.ffn as u64;
        let mut tensors = vec![matrix("token_embd.weight".into(), vocab as u64, hidden)];
        for l in 0..self.layers {
            let b = |suffix: &str| format!("blk.{l}.{suffix}.weight");
            tensors.push(norm(b("attn_norm"), hidden));
            tensors.push(matrix(b("attn_q"), q_dim, hidden));
            tensors.push(matrix(b("attn_k"), kv_dim, hidden));
            tensors.push(matrix(b("attn_v"), kv_dim, hidden));
            if matches!(self.family, Family::Qwen3 | Family::Gemma3) {
                tensors.push(norm(b("attn_q_norm"), self.head_dim as u64));
                tensors.push(norm(b("attn_k_norm"), self.head_dim as u64));
            }
            tensors.push(matrix(b("attn_output"), hidden, q_dim));
            if matches!(self.family, Family::Gemma2 | Family::Gemma3) {
                tensors.push(norm(b("post_attention_norm"), hidden));
            }
            tensors.push(norm(b("ffn_norm"), hidden));
            tensors.push(matrix(b("ffn_gate"), ffn, hidden));
            tensors.push(matrix(b("ffn_up"), ffn, hidden));
            tensors.push(matrix(b("ffn_down"), hidden, ffn));
            if matches!(self.family, Family::Gemma2 | Family::Gemma3) {
                tensors.push(norm(b("post_ffw_norm"), hidden));
            }
        }
        tensors.push(norm("output_norm.weight".into(), hidden));
        tensors
    }

    /// Parameters in the file (weights of every tensor).
    pub fn parameters(&self, vocab: usize) -> u64 {
        self.tensors(vocab).iter().map(|t| t.elements()).sum()
    }

    /// The family's hyperparameter metadata, with the keys llama.cpp and our loader read.
    fn hyperparameters(&self, vocab: usize) -> Vec<(String, Value)> {
        let arch = self.family.gguf_name();
        let key = |suffix: &str| format!("{arch}.{suffix}");
        let u = |v: usize| Value::U32(v as u32);
        let (rope_base, rms_eps) = match self.family {
            Family::Llama => (500_000.0, 1e-5),
            Family::Qwen3 => (1_000_000.0, 1e-6),
            Family::Gemma2 => (10_000.0, 1e-6),
            Family::Gemma3 => (1_000_000.0, 1e-6),
        };
        let mut meta = vec![
            (key("context_length"), u(self.context)),
            (key("embedding_length"), u(self.hidden)),
            (key("block_count"), u(self.layers)),
            (key("feed_forward_length"), u(self.ffn)),
            (key("attention.head_count"), u(self.heads)),
            (key("attention.head_count_kv"), u(self.kv_heads)),
            (key("attention.key_length"), u(self.head_dim)),
            (key("attention.value_length"), u(self.head_dim)),
            (key("rope.dimension_count"), u(self.head_dim)),
            (key("rope.freq_base"), Value::F32(rope_base)),
            (key("attention.layer_norm_rms_epsilon"), Value::F32(rms_eps)),
            (key("vocab_size"), u(vocab)),
        ];
        match self.family {
            Family::Llama | Family::Qwen3 => {}
            // Gemma 2 2B's window and soft-caps; Gemma 3 1B's window (its local RoPE base is
            // the family's 10,000, which both readers assume).
            Family::Gemma2 => {
                meta.push((key("attention.sliding_window"), u(4096)));
                meta.push((key("attn_logit_softcapping"), Value::F32(50.0)));
                meta.push((key("final_logit_softcapping"), Value::F32(30.0)));
            }
            Family::Gemma3 => meta.push((key("attention.sliding_window"), u(512))),
        }
        meta
    }

    /// All metadata in file order: general, hyperparameters, then the tokenizer's keys (from
    /// `tokenizer`, the default model's metadata) in sorted order, then the chat template.
    pub fn metadata(
        &self,
        tokenizer: &std::collections::HashMap<String, Value>,
    ) -> anyhow::Result<Vec<(String, Value)>> {
        let vocab = vocab_size(tokenizer)?;
        let arch = self.family.gguf_name();
        let mut meta = vec![
            (
                "general.architecture".to_string(),
                Value::String(arch.into()),
            ),
            (
                "general.name".to_string(),
                Value::String(format!("synthetic {arch} (drift-script make-model)")),
            ),
            (
                "general.description".to_string(),
                Value::String(format!(
                    "seeded random weights (seed {}, normal(0, {WEIGHT_STD})), SmolLM2's tokenizer: for speed and memory measurements only",
                    self.seed
                )),
            ),
            // llama_ftype: 0 all F32, 1 mostly F16.
            (
                "general.file_type".to_string(),
                Value::U32(match self.ty {
                    SynthType::F32 => 0,
                    SynthType::F16 => 1,
                }),
            ),
        ];
        meta.extend(self.hyperparameters(vocab));
        let mut tokenizer_keys: Vec<(String, Value)> = tokenizer
            .iter()
            .filter(|(k, _)| k.starts_with("tokenizer.ggml."))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        tokenizer_keys.sort_by(|a, b| a.0.cmp(&b.0));
        meta.extend(tokenizer_keys);
        let template = match self.family {
            Family::Qwen3 => QWEN3_TEMPLATE.to_string(),
            _ => tokenizer
                .get("tokenizer.chat_template")
                .context("the default model has no tokenizer.chat_template")?
                .to_string()
                .map_err(|e| anyhow::anyhow!("tokenizer.chat_template: {e}"))?
                .clone(),
        };
        meta.push(("tokenizer.chat_template".into(), Value::String(template)));
        Ok(meta)
    }
}

/// Tokens in the vocabulary `tokenizer.ggml.tokens` lists.
fn vocab_size(tokenizer: &std::collections::HashMap<String, Value>) -> anyhow::Result<usize> {
    Ok(tokenizer
        .get("tokenizer.ggml.tokens")
        .context("the tokenizer metadata has no tokenizer.ggml.tokens")?
        .to_vec()
        .map_err(|e| anyhow::anyhow!("tokenizer.ggml.tokens: {e}"))?
        .len())
}

/// The default model's metadata (its tokenizer and template are copied into synthetic models).
pub fn default_tokenizer_metadata(
    log: &mut dyn FnMut(&str),
) -> anyhow::Result<std::collections::HashMap<String, Value>> {
    let path = crate::fetch::default_model_path(log)?;
    let mut file =
        std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let content = gguf_file::Content::read(&mut file)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    Ok(content.metadata)
}

/// Writes the model to `path` (through a temporary file in the same folder, renamed at the
/// end, so an interrupted write leaves no half file under the final name). `progress` gets the
/// bytes written so far and the total.
pub fn write_model(
    spec: &SynthSpec,
    tokenizer: &std::collections::HashMap<String, Value>,
    path: &Path,
    threads: usize,
    progress: &mut dyn FnMut(u64, u64),
) -> anyhow::Result<()> {
    spec.validate()?;
    let metadata = spec.metadata(tokenizer)?;
    let tensors = spec.tensors(vocab_size(tokenizer)?);
    let total: u64 = tensors.iter().map(TensorDescription::bytes).sum();
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    crate::fetch::ensure_free_space(folder, total + (64 << 20))?;
    let temporary = folder.join(format!(
        ".{}.partial-{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> anyhow::Result<()> {
        let file = std::fs::File::create(&temporary)
            .with_context(|| format!("creating {}", temporary.display()))?;
        let mut writer = GgufWriter::new(
            std::io::BufWriter::with_capacity(1 << 22, file),
            &metadata,
            tensors.clone(),
        )?;
        let mut written = 0u64;
        for (index, tensor) in tensors.iter().enumerate() {
            let elements = tensor.elements() as usize;
            let is_norm = tensor.dims.len() == 1;
            // Batches of chunks drawn in parallel, written in order.
            let batch = CHUNK * 16;
            let mut start = 0;
            while start < elements {
                let end = (start + batch).min(elements);
                let bytes = if is_norm {
                    (start..end).flat_map(|_| 1f32.to_le_bytes()).collect()
                } else {
                    draw_range(spec.seed, index as u64, start, end, tensor.ty, threads)
                };
                writer.write_data(&bytes)?;
                written += bytes.len() as u64;
                progress(written, total);
                start = end;
            }
        }
        let out = writer.finish()?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&temporary);
        return Err(e);
    }
    std::fs::rename(&temporary, path)
        .with_context(|| format!("renaming {} to {}", temporary.display(), path.display()))?;
    Ok(())
}

/// The values `start..end` of tensor `index` (both multiples of [`CHUNK`] apart from the
/// tensor's end), as little-endian bytes of `ty`; chunks are spread over `threads` threads.
fn draw_range(
    seed: u64,
    index: u64,
    start: usize,
    end: usize,
    ty: TensorType,
    threads: usize,
) -> Vec<u8> {
    let width = ty.element_bytes() as usize;
    let mut bytes = vec![0u8; (end - start) * width];
    let chunks: Vec<(usize, &mut [u8])> = bytes
        .chunks_mut(CHUNK * width)
        .enumerate()
        .map(|(i, c)| (start / CHUNK + i, c))
        .collect();
    let per_thread = chunks.len().div_ceil(threads.max(1));
    let mut chunks = chunks;
    std::thread::scope(|scope| {
        while !chunks.is_empty() {
            let take = per_thread.min(chunks.len());
            let mine: Vec<(usize, &mut [u8])> = chunks.drain(..take).collect();
            scope.spawn(move || {
                for (chunk, out) in mine {
                    fill_chunk(seed, index, chunk as u64, ty, out);
                }
            });
        }
    });
    bytes
}

/// One chunk's values: normal(0, WEIGHT_STD) by Box–Muller from its own ChaCha20 stream.
fn fill_chunk(seed: u64, tensor: u64, chunk: u64, ty: TensorType, out: &mut [u8]) {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&tensor.to_le_bytes());
    key[16..24].copy_from_slice(&chunk.to_le_bytes());
    key[24..].copy_from_slice(b"synthwts");
    let mut rng = ChaCha20Rng::from_seed(key);
    let width = ty.element_bytes() as usize;
    let mut uniform = || ((rng.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64);
    let mut values = out.chunks_exact_mut(width);
    loop {
        let (u1, u2) = (uniform(), uniform());
        let radius = (-2.0 * u1.ln()).sqrt() * WEIGHT_STD as f64;
        let angle = std::f64::consts::TAU * u2;
        for z in [radius * angle.cos(), radius * angle.sin()] {
            let Some(slot) = values.next() else { return };
            match ty {
                TensorType::F32 => slot.copy_from_slice(&(z as f32).to_le_bytes()),
                TensorType::F16 => slot.copy_from_slice(&half::f16::from_f64(z).to_le_bytes()),
            }
        }
    }
}

/// `$DRIFT_SCRIPT_HOME/synth` (default `~/.cache/drift-script/synth`).
pub fn cache_dir() -> PathBuf {
    crate::fetch::home_dir().join("synth")
}

/// The quantized formats `--quantize` accepts: llama-quantize's names.
pub const QUANT_FORMATS: &[&str] = &[
    "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S",
    "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K",
];

/// The canonical (upper-case) name of a format, or an error listing the accepted ones.
pub fn parse_format(name: &str) -> anyhow::Result<&'static str> {
    QUANT_FORMATS
        .iter()
        .find(|f| f.eq_ignore_ascii_case(name.trim()))
        .copied()
        .ok_or_else(|| {
            anyhow::anyhow!(
                "unknown format `{name}` (llama-quantize's names: {})",
                QUANT_FORMATS.join(", ")
            )
        })
}

/// `source` (an F16/F32 GGUF) in `format`, next to it: `NAME.FORMAT.gguf` in place of
/// `NAME.f16.gguf`. Reused when present and not older than the source; otherwise made by
/// `llama-quantize` from `bin`.
pub fn quantize(
    source: &Path,
    format: &str,
    bin: &Path,
    threads: usize,
    log: &mut dyn FnMut(&str),
) -> anyhow::Result<PathBuf> {
    let format = parse_format(format)?;
    let name = source
        .file_name()
        .and_then(|n| n.to_str())
        .context("the model's file name is not UTF-8")?;
    let stem = name
        .strip_suffix(".f16.gguf")
        .or_else(|| name.strip_suffix(".f32.gguf"))
        .or_else(|| name.strip_suffix(".gguf"))
        .unwrap_or(name);
    let target = source.with_file_name(format!("{stem}.{}.gguf", format.to_lowercase()));
    // Reused only when made from this very source (not older than it): a source written again
    // makes its formats again.
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(made), Some(source_time)) = (modified(&target), modified(source))
        && made >= source_time
    {
        return Ok(target);
    }
    let exe = check_llama_quantize(bin)?;
    let partial = target.with_file_name(format!(
        ".{}.partial-{}",
        target.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    log(&format!(
        "llama-quantize {} → {}",
        source.display(),
        target.display()
    ));
    let output = std::process::Command::new(&exe)
        .arg(source)
        .arg(&partial)
        .arg(format)
        .arg(threads.to_string())
        .output()
        .with_context(|| format!("running {}", exe.display()))?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&partial);
        anyhow::bail!(
            "{} failed ({}): {}",
            exe.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
        );
    }
    std::fs::rename(&partial, &target)
        .with_context(|| format!("renaming {} to {}", partial.display(), target.display()))?;
    Ok(target)
}

/// `bin/llama-quantize`, or an error naming the script that builds it.
pub fn check_llama_quantize(bin: &Path) -> anyhow::Result<PathBuf> {
    let exe = bin.join("llama-quantize");
    anyhow::ensure!(
        exe.is_file(),
        "{} does not exist: build it with bench/build_llama_cpp.sh (which builds llama-quantize \
         with llama.cpp's benchmarks) or name its folder with --llama-cpp-bin",
        exe.display()
    );
    Ok(exe)
}

/// The cached F16 file of `spec`, written first if absent.
pub fn ensure_model(
    spec: &SynthSpec,
    threads: usize,
    log: &mut dyn FnMut(&str),
) -> anyhow::Result<PathBuf> {
    let path = cache_dir().join(spec.file_name());
    if path.is_file() {
        return Ok(path);
    }
    let tokenizer = default_tokenizer_metadata(log)?;
    log(&format!(
        "writing {} ({:.2} B parameters)",
        path.display(),
        spec.parameters(vocab_size(&tokenizer)?) as f64 / 1e9
    ));
    write_model(spec, &tokenizer, &path, threads, &mut |_, _| {})?;
    Ok(path)
}
