//! GGUF headers and metadata. The seed is a small model written here with the real SmolLM2
//! file's metadata (its tokenizer cut to a consistent few hundred tokens, its shape to 2 layers
//! of width 64) and random weights, so the unmutated seed loads and answers: mutations then
//! reach every stage (header, tokenizer, configuration, tensor directory, weights, a forward
//! pass). Mutations are structural: header fields by their offsets (counts, string and array
//! lengths, value types, dimensions, tensor types and offsets), metadata values of wrong types
//! or extreme sizes, keys dropped, cuts at any byte.

use crate::harness::{self, Pick, Target, Verdict, interesting_u64};
use candle_core::quantized::gguf_file::{self, Value};
use drift_script::model::{LocalModel, LocalOptions, Message};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::Rng;
use std::sync::OnceLock;

/// Where a header field was written, for mutations that know what they damage.
#[derive(Clone, Copy)]
struct Field {
    at: usize,
    width: usize,
}

#[derive(Default)]
pub struct Writer {
    pub bytes: Vec<u8>,
    fields: Vec<Field>,
}

impl Writer {
    fn u32(&mut self, v: u32) {
        self.fields.push(Field {
            at: self.bytes.len(),
            width: 4,
        });
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.fields.push(Field {
            at: self.bytes.len(),
            width: 8,
        });
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    fn string(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.bytes.extend_from_slice(s.as_bytes());
    }
    fn value(&mut self, v: &Value) {
        match v {
            Value::U8(x) => self.bytes.push(*x),
            Value::I8(x) => self.bytes.push(*x as u8),
            Value::U16(x) => self.bytes.extend_from_slice(&x.to_le_bytes()),
            Value::I16(x) => self.bytes.extend_from_slice(&x.to_le_bytes()),
            Value::U32(x) => self.u32(*x),
            Value::I32(x) => self.u32(*x as u32),
            Value::F32(x) => self.bytes.extend_from_slice(&x.to_le_bytes()),
            Value::Bool(x) => self.bytes.push(*x as u8),
            Value::String(s) => self.string(s),
            Value::U64(x) => self.u64(*x),
            Value::I64(x) => self.u64(*x as u64),
            Value::F64(x) => self.bytes.extend_from_slice(&x.to_le_bytes()),
            Value::Array(items) => {
                let item_type = items.first().map_or(4, type_id);
                self.u32(item_type);
                self.u64(items.len() as u64);
                for item in items {
                    self.value(item);
                }
            }
        }
    }
}

fn type_id(v: &Value) -> u32 {
    match v {
        Value::U8(_) => 0,
        Value::I8(_) => 1,
        Value::U16(_) => 2,
        Value::I16(_) => 3,
        Value::U32(_) => 4,
        Value::I32(_) => 5,
        Value::F32(_) => 6,
        Value::Bool(_) => 7,
        Value::String(_) => 8,
        Value::Array(_) => 9,
        Value::U64(_) => 10,
        Value::I64(_) => 11,
        Value::F64(_) => 12,
    }
}

/// A tensor of the seed: name, ggml dimensions (innermost first), ggml type, data.
pub struct Tensor {
    name: String,
    dims: Vec<u64>,
    dtype: u32,
    data: Vec<u8>,
}

const F32: u32 = 0;
const F16: u32 = 1;
const Q8_0: u32 = 8;

fn tensor(rng: &mut ChaCha8Rng, name: &str, dims: &[u64], dtype: u32) -> Tensor {
    let count: u64 = dims.iter().product();
    let mut data = Vec::new();
    let small = |rng: &mut ChaCha8Rng| (rng.next_u32() as f32 / u32::MAX as f32 - 0.5) * 0.2;
    match dtype {
        F32 => (0..count).for_each(|_| data.extend_from_slice(&(1.0 + small(rng)).to_le_bytes())),
        F16 => (0..count)
            .for_each(|_| data.extend_from_slice(&half::f16::from_f32(small(rng)).to_le_bytes())),
        _ => (0..count / 32).for_each(|_| {
            data.extend_from_slice(&half::f16::from_f32(0.01).to_le_bytes());
            (0..32).for_each(|_| data.push(rng.next_u32() as u8));
        }),
    }
    Tensor {
        name: name.into(),
        dims: dims.to_vec(),
        dtype,
        data,
    }
}

const HIDDEN: u64 = 64;
const FFN: u64 = 128;
const LAYERS: u64 = 2;

/// The real file's metadata, cut down: (key, value) in the file's order.
pub fn seed_metadata() -> &'static Vec<(String, Value)> {
    static SEED: OnceLock<Vec<(String, Value)>> = OnceLock::new();
    SEED.get_or_init(|| {
        let path = dirs_model();
        let mut file = std::fs::File::open(&path)
            .unwrap_or_else(|e| panic!("the default model {}: {e}", path.display()));
        let content = gguf_file::Content::read(&mut file).unwrap();
        let tokens = content.metadata["tokenizer.ggml.tokens"].to_vec().unwrap();
        // A consistent vocabulary: the first ids (special tokens and single bytes) and the
        // merges whose parts and result all stay in it.
        const KEEP: usize = 400;
        let kept: std::collections::HashSet<&str> = tokens[..KEEP]
            .iter()
            .map(|t| t.to_string().unwrap().as_str())
            .collect();
        let mut entries: Vec<(String, Value)> = content
            .metadata
            .iter()
            .filter_map(|(key, value)| {
                let value = match key.as_str() {
                    "tokenizer.ggml.tokens" => Value::Array(tokens[..KEEP].to_vec()),
                    "tokenizer.ggml.token_type" | "tokenizer.ggml.scores" => {
                        Value::Array(value.to_vec().ok()?[..KEEP].to_vec())
                    }
                    "tokenizer.ggml.merges" => Value::Array(
                        value
                            .to_vec()
                            .unwrap()
                            .iter()
                            .filter(|m| {
                                let m = m.to_string().unwrap();
                                let (a, b) = m.split_once(' ').unwrap_or((m, ""));
                                kept.contains(a)
                                    && kept.contains(b)
                                    && kept.contains(format!("{a}{b}").as_str())
                            })
                            .cloned()
                            .collect(),
                    ),
                    "llama.embedding_length" => Value::U32(HIDDEN as u32),
                    "llama.feed_forward_length" => Value::U32(FFN as u32),
                    "llama.block_count" => Value::U32(LAYERS as u32),
                    "llama.attention.head_count" => Value::U32(4),
                    "llama.attention.head_count_kv" => Value::U32(2),
                    "llama.rope.dimension_count" => Value::U32(16),
                    "llama.context_length" => Value::U32(256),
                    "llama.vocab_size" => Value::U32(KEEP as u32),
                    "general.file_type" => return None,
                    _ => value.clone(),
                };
                Some((key.clone(), value))
            })
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries
    })
}

fn dirs_model() -> std::path::PathBuf {
    let home = std::env::var_os("HOME").expect("HOME");
    std::path::PathBuf::from(home)
        .join(".cache/drift-script/models/SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn seed_tensors(rng: &mut ChaCha8Rng) -> Vec<Tensor> {
    let vocab = 400;
    let mut tensors = vec![
        tensor(rng, "token_embd.weight", &[HIDDEN, vocab], Q8_0),
        tensor(rng, "output_norm.weight", &[HIDDEN], F32),
    ];
    for layer in 0..LAYERS {
        let name = |part: &str| format!("blk.{layer}.{part}.weight");
        let (q, kv) = (HIDDEN, HIDDEN / 2);
        tensors.push(tensor(rng, &name("attn_norm"), &[HIDDEN], F32));
        tensors.push(tensor(rng, &name("ffn_norm"), &[HIDDEN], F32));
        tensors.push(tensor(rng, &name("attn_q"), &[HIDDEN, q], Q8_0));
        tensors.push(tensor(rng, &name("attn_k"), &[HIDDEN, kv], F16));
        tensors.push(tensor(rng, &name("attn_v"), &[HIDDEN, kv], Q8_0));
        tensors.push(tensor(rng, &name("attn_output"), &[q, HIDDEN], Q8_0));
        tensors.push(tensor(rng, &name("ffn_gate"), &[HIDDEN, FFN], Q8_0));
        tensors.push(tensor(rng, &name("ffn_up"), &[HIDDEN, FFN], F16));
        tensors.push(tensor(rng, &name("ffn_down"), &[FFN, HIDDEN], Q8_0));
    }
    tensors
}

/// A metadata value of another type or an extreme size, in place of a real one.
pub fn hostile_value(rng: &mut ChaCha8Rng, old: &Value) -> Value {
    match rng.below(9) {
        0 => Value::String(harness::random_text(rng, 40)),
        1 => Value::U32(interesting_u64(rng) as u32),
        2 => Value::U64(interesting_u64(rng)),
        3 => Value::I32(-(rng.below(1000) as i32) - 1),
        4 => Value::F32(*rng.pick(&[f32::NAN, f32::INFINITY, -1.0, 0.0, 1e30])),
        5 => Value::Bool(rng.chance(500)),
        6 => Value::Array(Vec::new()),
        7 => match old {
            // The same array, cut or with elements of another type.
            Value::Array(items) if !items.is_empty() => {
                let mut items = items.clone();
                match rng.below(3) {
                    0 => items.truncate(rng.below(items.len())),
                    1 => {
                        let i = rng.below(items.len());
                        items[i] = Value::U64(interesting_u64(rng));
                    }
                    _ => items.extend_from_within(..items.len().min(50)),
                }
                Value::Array(items)
            }
            _ => Value::Array(vec![Value::U32(1), Value::U32(2)]),
        },
        _ => Value::Array(vec![Value::Array(vec![Value::U8(1)])]),
    }
}

/// Writes metadata and tensors as a GGUF v3 file, recording where each header field lies.
pub fn write_gguf(metadata: &[(String, Value)], tensors: &[Tensor], alignment: u64) -> Writer {
    let mut w = Writer::default();
    w.bytes.extend_from_slice(b"GGUF");
    w.u32(3);
    w.u64(tensors.len() as u64);
    w.u64(metadata.len() as u64);
    for (key, value) in metadata {
        w.string(key);
        w.u32(type_id(value));
        w.value(value);
    }
    let mut offset = 0u64;
    for t in tensors {
        w.string(&t.name);
        w.u32(t.dims.len() as u32);
        for &d in &t.dims {
            w.u64(d);
        }
        w.u32(t.dtype);
        w.u64(offset);
        offset = (offset + t.data.len() as u64).div_ceil(alignment) * alignment;
    }
    let start = w.bytes.len().div_ceil(alignment as usize) * alignment as usize;
    w.bytes.resize(start, 0);
    for t in tensors {
        w.bytes.extend_from_slice(&t.data);
        let end = w.bytes.len().div_ceil(alignment as usize) * alignment as usize;
        w.bytes.resize(end, 0);
    }
    w
}

fn generate(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut metadata = seed_metadata().clone();
    let mut tensors = seed_tensors(rng);
    // Semantic damage first: values, keys, tensor shapes and types.
    let semantic = rng.below(4);
    for _ in 0..semantic {
        match rng.below(5) {
            0 | 1 => {
                let i = rng.below(metadata.len());
                metadata[i].1 = hostile_value(rng, &metadata[i].1);
            }
            2 => {
                let i = rng.below(metadata.len());
                metadata.remove(i);
            }
            3 => {
                let key = *rng.pick(&["general.alignment", "llama.attention.sliding_window"]);
                metadata.push((key.into(), hostile_value(rng, &Value::U32(0))));
            }
            _ => {
                let i = rng.below(tensors.len());
                let t = &mut tensors[i];
                match rng.below(3) {
                    0 => t.dtype = rng.below(42) as u32,
                    1 => {
                        let d = rng.below(t.dims.len());
                        t.dims[d] = interesting_u64(rng);
                    }
                    _ => t.dims.push(1 + rng.below(3) as u64),
                }
            }
        }
    }
    let mut w = write_gguf(&metadata, &tensors, 32);
    // Then damage to the bytes: header fields by offset, cuts, flips.
    let header_damage = if semantic == 0 {
        1 + rng.below(3)
    } else {
        rng.below(2)
    };
    for _ in 0..header_damage {
        match rng.below(4) {
            0 | 1 => {
                let f = *rng.pick(&w.fields);
                let v = interesting_u64(rng).to_le_bytes();
                // (An earlier cut may have removed the field.)
                if let Some(field) = w.bytes.get_mut(f.at..f.at + f.width) {
                    field.copy_from_slice(&v[..f.width]);
                }
            }
            2 => {
                let cut = rng.below(w.bytes.len());
                w.bytes.truncate(cut);
            }
            _ => harness::mutate_bytes(rng, &mut w.bytes),
        }
    }
    w.bytes
}

/// Loads the file; a model that loads must also tokenize a chat and answer two tokens.
fn check(input: &[u8]) -> Verdict {
    let dir = scratch_dir();
    let path = dir.join("model.gguf");
    std::fs::write(&path, input).unwrap();
    let options = LocalOptions {
        threads: 1,
        cache_budget_bytes: 16 << 20,
        ..LocalOptions::default()
    };
    let result = LocalModel::load_gguf(&path, &options);
    if let Ok(model) = result
        && let Ok(prompt) = model.tokenize_chat(&[Message::user("Hello there")])
    {
        let _ = model.greedy_tokens(&prompt.ids, 2);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A folder of this thread's own under the system's temporary folder.
pub fn scratch_dir() -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("drift-fuzz-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_unmutated_seed_loads_and_answers() {
    let mut rng = harness::case_rng(1, "gguf-seed", 0);
    let w = write_gguf(seed_metadata(), &seed_tensors(&mut rng), 32);
    let dir = scratch_dir();
    let path = dir.join("seed.gguf");
    std::fs::write(&path, &w.bytes).unwrap();
    let options = LocalOptions {
        threads: 1,
        ..LocalOptions::default()
    };
    let model = LocalModel::load_gguf(&path, &options).expect("the seed must load");
    let prompt = model.tokenize_chat(&[Message::user("Hello")]).unwrap();
    assert_eq!(model.greedy_tokens(&prompt.ids, 2).unwrap().len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn gguf() {
    harness::fuzz(
        Target {
            name: "gguf",
            extension: "gguf",
            cases: 300,
        },
        generate,
        check,
    );
}
