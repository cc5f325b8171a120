//! Reading weights: GGUF files (kept quantized) and Hugging Face folders (safetensors).
//!
//! Every tensor is checked before any is converted, so a truncated file, a missing tensor or an
//! unsupported type is reported at once, by name, instead of after minutes of loading.

use super::architecture::{Architecture, TensorNames};
use super::config::TransformerConfig;
use super::kquant::{KBLOCK, KFormat};
use super::quant::{Matrix, MatrixData, QBLOCK, StorageFormat};
use super::transformer::{Layer, Transformer};
use crate::model::error::{ModelError, Result};
use candle_core::quantized::GgmlDType;
use candle_core::quantized::gguf_file::{self, TensorInfo};
use candle_core::{DType, Device};
use half::f16;
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// How to store weights in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightMode {
    /// Keep the file's precision: quantized GGUF stays quantized, f16 stays f16.
    #[default]
    Native,
    /// Dequantize everything to f32 (the reference mode the numerics tests use).
    F32,
}

/// A parsed GGUF file: metadata plus tensor directory, with the file kept open for reading.
pub struct GgufFile {
    pub path: std::path::PathBuf,
    pub metadata: HashMap<String, gguf_file::Value>,
    tensors: HashMap<String, TensorInfo>,
    data_offset: u64,
    file: std::fs::File,
    file_len: u64,
}

/// ggml type ids that candle cannot read, for naming them in errors.
fn ggml_type_name(id: u32) -> &'static str {
    match id {
        16 => "IQ2_XXS",
        17 => "IQ2_XS",
        18 => "IQ3_XXS",
        19 => "IQ1_S",
        20 => "IQ4_NL",
        21 => "IQ3_S",
        22 => "IQ2_S",
        23 => "IQ4_XS",
        24 => "I8",
        25 => "I16",
        26 => "I32",
        27 => "I64",
        28 => "F64",
        29 => "IQ1_M",
        34 => "TQ1_0",
        35 => "TQ2_0",
        39 => "MXFP4",
        _ => "an unknown ggml type",
    }
}

impl GgufFile {
    pub fn open(path: &Path) -> Result<Self> {
        let mut file = std::fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
        let file_len = file.metadata().map_err(|e| ModelError::io(path, e))?.len();
        let mut magic = [0u8; 4];
        if file_len < 4 || file.read_exact(&mut magic).is_err() {
            return Err(ModelError::NotGguf {
                path: path.into(),
                reason: format!("the file has only {file_len} bytes"),
            });
        }
        if &magic != b"GGUF" {
            return Err(ModelError::NotGguf {
                path: path.into(),
                reason: format!("it starts with {magic:02x?}, not the magic bytes \"GGUF\""),
            });
        }
        file.seek(SeekFrom::Start(0))
            .map_err(|e| ModelError::io(path, e))?;
        let content = gguf_file::Content::read(&mut file).map_err(|e| {
            // First line only: with RUST_BACKTRACE set, candle appends a backtrace.
            let message = crate::model::error::candle_message(&e);
            if let Some(id) = message.strip_prefix("unknown dtype for tensor ") {
                let id: u32 = id.trim().parse().unwrap_or(u32::MAX);
                ModelError::UnsupportedQuantization {
                    tensor: "(some tensors)".into(),
                    dtype: format!("{} (ggml type {id})", ggml_type_name(id)),
                }
            } else {
                ModelError::NotGguf {
                    path: path.into(),
                    reason: format!("its header is truncated or corrupt ({message})"),
                }
            }
        })?;
        let gguf = GgufFile {
            path: path.into(),
            metadata: content.metadata,
            tensors: content.tensor_infos,
            data_offset: content.tensor_data_offset,
            file,
            file_len,
        };
        // Every tensor must lie inside the file: catch truncation before converting anything.
        for (name, info) in &gguf.tensors {
            let end = gguf.data_offset + info.offset + tensor_bytes(info) as u64;
            if end > file_len {
                return Err(ModelError::Truncated {
                    path: path.into(),
                    what: format!("tensor `{name}`"),
                    needed: end,
                    actual: file_len,
                });
            }
        }
        Ok(gguf)
    }

    pub fn has_tensor(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    fn info(&self, name: &str) -> Result<&TensorInfo> {
        self.tensors
            .get(name)
            .ok_or_else(|| ModelError::MissingTensor(name.into()))
    }

    /// (rows, cols) of a 2-D tensor; candle lists GGUF dimensions outermost first.
    pub fn matrix_shape(&self, name: &str) -> Result<(usize, usize)> {
        let dims = self.info(name)?.shape.dims().to_vec();
        match dims[..] {
            [rows, cols] => Ok((rows, cols)),
            _ => Err(ModelError::BadShape {
                tensor: name.into(),
                expected: vec![0, 0],
                actual: dims,
            }),
        }
    }

    fn raw(&mut self, name: &str) -> Result<(GgmlDType, Vec<usize>, Vec<u8>)> {
        let info = self.info(name)?;
        let (dtype, dims, size) = (
            info.ggml_dtype,
            info.shape.dims().to_vec(),
            tensor_bytes(info),
        );
        let start = self.data_offset + info.offset;
        let mut bytes = vec![0u8; size];
        let path = self.path.clone();
        self.file
            .seek(SeekFrom::Start(start))
            .map_err(|e| ModelError::io(&path, e))?;
        self.file
            .read_exact(&mut bytes)
            .map_err(|_| ModelError::Truncated {
                path: path.clone(),
                what: format!("tensor `{name}`"),
                needed: start + size as u64,
                actual: self.file_len,
            })?;
        Ok((dtype, dims, bytes))
    }

    /// A tensor as f32 values (norm weights, biases, frequency factors).
    pub fn vector(&mut self, name: &str, len: usize) -> Result<Vec<f32>> {
        let (dtype, dims, bytes) = self.raw(name)?;
        if dims.iter().product::<usize>() != len {
            return Err(ModelError::BadShape {
                tensor: name.into(),
                expected: vec![len],
                actual: dims,
            });
        }
        dequantize(name, dtype, &dims, &bytes)
    }

    /// A weight matrix with the expected shape, converted to its kernel layout.
    pub fn matrix(
        &mut self,
        name: &str,
        rows: usize,
        cols: usize,
        mode: WeightMode,
    ) -> Result<Matrix> {
        let (dtype, dims, bytes) = self.raw(name)?;
        if dims != [rows, cols] {
            return Err(ModelError::BadShape {
                tensor: name.into(),
                expected: vec![rows, cols],
                actual: dims,
            });
        }
        if mode == WeightMode::F32 {
            let values = dequantize(name, dtype, &dims, &bytes)?;
            return Ok(Matrix::dense(rows, cols, &values, StorageFormat::F32));
        }
        let per_row = |block_bytes: usize| cols / QBLOCK * block_bytes;
        let block = |r: usize, b: usize, block_bytes: usize| {
            let start = r * per_row(block_bytes) + b * block_bytes;
            &bytes[start..start + block_bytes]
        };
        let f16_at = |b: &[u8], i: usize| f16::from_le_bytes([b[i], b[i + 1]]);
        Ok(match dtype {
            GgmlDType::F32 => Matrix::dense(
                rows,
                cols,
                &dequantize(name, dtype, &dims, &bytes)?,
                StorageFormat::F32,
            ),
            GgmlDType::F16 => Matrix::dense(
                rows,
                cols,
                &dequantize(name, dtype, &dims, &bytes)?,
                StorageFormat::F16,
            ),
            GgmlDType::BF16 => Matrix::dense(
                rows,
                cols,
                &dequantize(name, dtype, &dims, &bytes)?,
                StorageFormat::BF16,
            ),
            // Q4_0: d, 16 bytes of nibbles; element j is the low nibble of byte j, element
            // j + 16 the high nibble; value = d·(q − 8).
            GgmlDType::Q4_0 => Matrix::from_blocks(rows, cols, 4, Some(-8.0), |r, b| {
                let blk = block(r, b, 18);
                let d = f16_at(blk, 0);
                let q = std::array::from_fn(|i| {
                    if i < 16 {
                        blk[2 + i] & 15
                    } else {
                        blk[2 + i - 16] >> 4
                    }
                });
                (q, d, f16::from_f32(-8.0 * d.to_f32()))
            }),
            // Q4_1: d, m, 16 bytes of nibbles; value = d·q + m.
            GgmlDType::Q4_1 => Matrix::from_blocks(rows, cols, 4, None, |r, b| {
                let blk = block(r, b, 20);
                let q = std::array::from_fn(|i| {
                    if i < 16 {
                        blk[4 + i] & 15
                    } else {
                        blk[4 + i - 16] >> 4
                    }
                });
                (q, f16_at(blk, 0), f16_at(blk, 2))
            }),
            // Q5_0: d, 32 high bits, 16 bytes of nibbles; value = d·(q − 16).
            GgmlDType::Q5_0 => Matrix::from_blocks(rows, cols, 5, Some(-16.0), |r, b| {
                let blk = block(r, b, 22);
                let d = f16_at(blk, 0);
                let qh = u32::from_le_bytes([blk[2], blk[3], blk[4], blk[5]]);
                (
                    five_bit_codes(&blk[6..22], qh),
                    d,
                    f16::from_f32(-16.0 * d.to_f32()),
                )
            }),
            // Q5_1: d, m, 32 high bits, 16 bytes of nibbles; value = d·q + m.
            GgmlDType::Q5_1 => Matrix::from_blocks(rows, cols, 5, None, |r, b| {
                let blk = block(r, b, 24);
                let qh = u32::from_le_bytes([blk[4], blk[5], blk[6], blk[7]]);
                (
                    five_bit_codes(&blk[8..24], qh),
                    f16_at(blk, 0),
                    f16_at(blk, 2),
                )
            }),
            // Q8_0: d, 32 signed bytes; stored as q + 128 with m = −128·d.
            GgmlDType::Q8_0 => Matrix::from_blocks(rows, cols, 8, Some(-128.0), |r, b| {
                let blk = block(r, b, 34);
                let d = f16_at(blk, 0);
                let q = std::array::from_fn(|i| (blk[2 + i] as i8 as i16 + 128) as u8);
                (q, d, f16::from_f32(-128.0 * d.to_f32()))
            }),
            // Q2_K…Q6_K: kept at their own width, exactly (rows of whole super-blocks, as
            // GGUF requires of them; anything else falls through to re-quantization).
            GgmlDType::Q2K | GgmlDType::Q3K | GgmlDType::Q4K | GgmlDType::Q5K | GgmlDType::Q6K
                if cols.is_multiple_of(KBLOCK) =>
            {
                let format = match dtype {
                    GgmlDType::Q2K => KFormat::Q2K,
                    GgmlDType::Q3K => KFormat::Q3K,
                    GgmlDType::Q4K => KFormat::Q4K,
                    GgmlDType::Q5K => KFormat::Q5K,
                    _ => KFormat::Q6K,
                };
                Matrix::from_k_quant(format, rows, cols, &bytes)
            }
            // Anything else candle dequantizes: re-quantized to 8 bits from its f32 values.
            _ => Matrix::quantize_u8(rows, cols, &dequantize(name, dtype, &dims, &bytes)?),
        })
    }
}

fn five_bit_codes(nibbles: &[u8], qh: u32) -> [u8; QBLOCK] {
    std::array::from_fn(|i| {
        let low = if i < 16 {
            nibbles[i] & 15
        } else {
            nibbles[i - 16] >> 4
        };
        low | ((((qh >> i) & 1) as u8) << 4)
    })
}

fn tensor_bytes(info: &TensorInfo) -> usize {
    info.shape.elem_count() / info.ggml_dtype.block_size() * info.ggml_dtype.type_size()
}

fn dequantize(name: &str, dtype: GgmlDType, dims: &[usize], bytes: &[u8]) -> Result<Vec<f32>> {
    let tensor = candle_core::quantized::ggml_file::qtensor_from_ggml(
        dtype,
        bytes,
        dims.to_vec(),
        &Device::Cpu,
    )
    .and_then(|q| q.dequantize(&Device::Cpu))
    .and_then(|t| t.flatten_all()?.to_vec1::<f32>())
    .map_err(|e| ModelError::UnsupportedQuantization {
        tensor: name.into(),
        dtype: format!("{dtype:?} ({})", crate::model::error::candle_message(&e)),
    })?;
    Ok(tensor)
}

/// Brings matrices that will be stacked to formats `Matrix::stack` accepts: quantized parts
/// keep their own formats (stacked side by side, each tile in its part's layout); dense
/// formats widen to f32; a quantized/dense mix becomes 8-bit quantized.
fn unify_formats(parts: Vec<Matrix>) -> Vec<Matrix> {
    let first = parts[0].format();
    if parts.iter().all(|p| p.format() == first) || parts.iter().all(Matrix::is_quantized) {
        return parts;
    }
    let any_quantized = parts.iter().any(Matrix::is_quantized);
    parts
        .into_iter()
        .map(|m| match (&m.data, any_quantized) {
            (_, true) if m.is_quantized() => m,
            (_, true) => Matrix::quantize_u8(m.rows, m.cols, &m.to_f32_rows()),
            (MatrixData::F32(_), false) => m,
            (_, false) => Matrix::dense(m.rows, m.cols, &m.to_f32_rows(), StorageFormat::F32),
        })
        .collect()
}

/// Loads a GGUF file of any family in the architecture table.
pub fn load_gguf(gguf: &mut GgufFile, mode: WeightMode) -> Result<Transformer> {
    // The architecture decides which tensors to look for: check it first.
    let arch_name = super::config::get_string(&gguf.metadata, "general.architecture")?;
    let architecture = Architecture::by_gguf_name(&arch_name)
        .ok_or(ModelError::UnsupportedArchitecture(arch_name))?;
    let names = &architecture.gguf_tensors;
    let (vocab, hidden_in_file) = gguf.matrix_shape(names.embedding)?;
    let mut config = TransformerConfig::from_gguf(&gguf.metadata, vocab)?;
    if hidden_in_file != config.hidden {
        return Err(ModelError::BadShape {
            tensor: names.embedding.into(),
            expected: vec![vocab, config.hidden],
            actual: vec![vocab, hidden_in_file],
        });
    }
    if gguf.has_tensor("rope_freqs.weight") {
        config.rope_freq_factors = Some(gguf.vector("rope_freqs.weight", config.head_dim / 2)?);
    }
    load_transformer(config, names, |name, shape| match shape {
        Shape::Vector(len) => gguf.vector(name, len).map(Tensor::Vector),
        Shape::Matrix(rows, cols) => gguf.matrix(name, rows, cols, mode).map(Tensor::Matrix),
        Shape::Exists => Ok(Tensor::Exists(gguf.has_tensor(name))),
    })
}

/// Loads a Hugging Face folder: `config.json` and one or more `*.safetensors` files.
pub fn load_safetensors(dir: &Path, mode: WeightMode) -> Result<Transformer> {
    let config_path = dir.join("config.json");
    let text =
        std::fs::read_to_string(&config_path).map_err(|e| ModelError::io(&config_path, e))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ModelError::Metadata {
            key: config_path.display().to_string(),
            reason: e.to_string(),
        })?;
    let config = TransformerConfig::from_hf_json(&json)?;
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| ModelError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ModelError::MissingTensor(format!(
            "*.safetensors in {}",
            dir.display()
        )));
    }
    // SAFETY: the files are memory-mapped read-only; modifying them while loading is the
    // caller's problem, as with any memory-mapped input.
    let st =
        unsafe { candle_core::safetensors::MmapedSafetensors::multi(&files) }.map_err(|e| {
            ModelError::NotGguf {
                path: dir.into(),
                reason: format!(
                    "cannot read safetensors: {}",
                    crate::model::error::candle_message(&e)
                ),
            }
        })?;
    let present: std::collections::HashSet<String> =
        st.tensors().into_iter().map(|(name, _)| name).collect();
    let tied = json["tie_word_embeddings"].as_bool().unwrap_or(false)
        || !present.contains("lm_head.weight");
    let arch = config.architecture;
    let names = &arch.hf_tensors;
    load_transformer(config, names, |name, shape| {
        if let Shape::Exists = shape {
            return Ok(Tensor::Exists(
                present.contains(name) && !(tied && name == "lm_head.weight"),
            ));
        }
        if !present.contains(name) {
            return Err(ModelError::MissingTensor(name.into()));
        }
        let tensor = st.load(name, &Device::Cpu)?;
        let dtype = tensor.dtype();
        let dims = tensor.dims().to_vec();
        let values = tensor
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        match shape {
            Shape::Vector(len) if values.len() == len => Ok(Tensor::Vector(values)),
            Shape::Matrix(rows, cols) if dims == [rows, cols] => {
                let format = match (mode, dtype) {
                    (WeightMode::F32, _) | (_, DType::F32) => StorageFormat::F32,
                    (_, DType::BF16) => StorageFormat::BF16,
                    (_, DType::F16) => StorageFormat::F16,
                    (_, other) => {
                        return Err(ModelError::UnsupportedQuantization {
                            tensor: name.into(),
                            dtype: format!("{other:?}"),
                        });
                    }
                };
                Ok(Tensor::Matrix(Matrix::dense(rows, cols, &values, format)))
            }
            Shape::Vector(len) => Err(ModelError::BadShape {
                tensor: name.into(),
                expected: vec![len],
                actual: dims,
            }),
            Shape::Matrix(rows, cols) => Err(ModelError::BadShape {
                tensor: name.into(),
                expected: vec![rows, cols],
                actual: dims,
            }),
            Shape::Exists => unreachable!(),
        }
    })
}

enum Shape {
    Vector(usize),
    Matrix(usize, usize),
    /// Only asks whether the tensor exists.
    Exists,
}

enum Tensor {
    Vector(Vec<f32>),
    Matrix(Matrix),
    Exists(bool),
}

impl Tensor {
    fn vector(self) -> Vec<f32> {
        match self {
            Tensor::Vector(v) => v,
            _ => unreachable!("asked for a vector"),
        }
    }
    fn matrix(self) -> Matrix {
        match self {
            Tensor::Matrix(m) => m,
            _ => unreachable!("asked for a matrix"),
        }
    }
}

fn layer_name(pattern: &str, layer: usize) -> String {
    pattern.replace("{}", &layer.to_string())
}

/// Assembles the transformer from tensors fetched by name, whatever the file format.
fn load_transformer(
    config: TransformerConfig,
    names: &TensorNames,
    mut fetch: impl FnMut(&str, Shape) -> Result<Tensor>,
) -> Result<Transformer> {
    large_buffers_from_mmap();
    let transformer = build_transformer(config, names, &mut fetch);
    return_free_memory();
    transformer
}

/// Makes every allocation of 4 MiB or more its own mapping, returned to the system when freed.
/// glibc's default raises that threshold to the largest freed size (up to 32 MiB), after which
/// each tensor's file bytes, read, converted and freed, left a hole in the heap that stayed
/// resident: peak memory was 16% above the weights on a 1B Q8_0 model, against llama.cpp's
/// mapped file. The engine allocates its large buffers once, so mapping them costs nothing later.
fn large_buffers_from_mmap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's policy for later allocations.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}

/// Returns the heap's free pages (small buffers freed while loading) to the system.
fn return_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory no allocation holds.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn build_transformer(
    config: TransformerConfig,
    names: &TensorNames,
    fetch: &mut impl FnMut(&str, Shape) -> Result<Tensor>,
) -> Result<Transformer> {
    let c = &config;
    let (hidden, q_dim, kv_dim, ffn) = (c.hidden, c.q_dim(), c.kv_dim(), c.ffn_hidden);
    let embedding = fetch(names.embedding, Shape::Matrix(c.vocab, hidden))?.matrix();
    let final_norm = fetch(names.final_norm, Shape::Vector(hidden))?.vector();
    let output = match fetch(names.output, Shape::Exists)? {
        Tensor::Exists(true) => Some(fetch(names.output, Shape::Matrix(c.vocab, hidden))?.matrix()),
        _ => None,
    };
    let arch = c.architecture;
    // Norm weights stored as `w − offset` (Gemma's checkpoints) are used as `w`.
    let norm = |mut weights: Vec<f32>| {
        if names.norm_offset != 0.0 {
            weights.iter_mut().for_each(|w| *w += names.norm_offset);
        }
        weights
    };
    let mut layers = Vec::with_capacity(c.layers);
    for l in 0..c.layers {
        let name = |pattern: &str| layer_name(pattern, l);
        let mut vector = |pattern: &str, len: usize| -> Result<Vec<f32>> {
            Ok(fetch(&name(pattern), Shape::Vector(len))?.vector())
        };
        let mut vectors = |patterns: &[&str], len: usize| -> Result<Vec<Vec<f32>>> {
            patterns.iter().map(|p| vector(p, len)).collect()
        };
        let qkv_bias = match (c.qkv_bias, names.qkv_biases) {
            (true, Some([q, k, v])) => {
                let mut bias = vectors(&[q], q_dim)?.concat();
                bias.extend(vectors(&[k, v], kv_dim)?.concat());
                Some(bias)
            }
            _ => None,
        };
        let qk_norm = match (arch.qk_norm, names.qk_norms) {
            (true, Some([q, k])) => {
                let [q, k]: [Vec<f32>; 2] = vectors(&[q, k], c.head_dim)?.try_into().unwrap();
                Some((norm(q), norm(k)))
            }
            _ => None,
        };
        let post_norms = match (arch.post_norms, names.post_norms) {
            (true, Some([attn, ffn])) => {
                let [attn, ffn]: [Vec<f32>; 2] = vectors(&[attn, ffn], hidden)?.try_into().unwrap();
                Some((norm(attn), norm(ffn)))
            }
            _ => None,
        };
        let [attn_norm, ffn_norm]: [Vec<f32>; 2] =
            vectors(&[names.attn_norm, names.ffn_norm], hidden)?
                .try_into()
                .unwrap();
        let (attn_norm, ffn_norm) = (norm(attn_norm), norm(ffn_norm));
        let q = fetch(&name(names.q), Shape::Matrix(q_dim, hidden))?.matrix();
        let k = fetch(&name(names.k), Shape::Matrix(kv_dim, hidden))?.matrix();
        let v = fetch(&name(names.v), Shape::Matrix(kv_dim, hidden))?.matrix();
        let gate = fetch(&name(names.gate), Shape::Matrix(ffn, hidden))?.matrix();
        let up = fetch(&name(names.up), Shape::Matrix(ffn, hidden))?.matrix();
        layers.push(Layer {
            attn_norm,
            qkv: Matrix::stack(unify_formats(vec![q, k, v])),
            qkv_bias,
            qk_norm,
            attn_output: fetch(&name(names.attn_output), Shape::Matrix(hidden, q_dim))?.matrix(),
            post_norms,
            ffn_norm,
            gate_up: Matrix::stack(unify_formats(vec![gate, up])),
            down: fetch(&name(names.down), Shape::Matrix(hidden, ffn))?.matrix(),
        });
    }
    let final_norm = norm(final_norm);
    Ok(Transformer::new(
        config, embedding, layers, final_norm, output,
    ))
}
