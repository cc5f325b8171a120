//! Safetensors headers: the shipped persona-vectors file and a tiny Llama written here, taken
//! apart (8-byte header length, JSON header, data) and put back with the header damaged where
//! readers trust it: dtypes, shapes, data offsets (overlapping, reversed, past the end, huge),
//! the header length itself, metadata of wrong types; and cut at any byte. Each input is read as
//! a Hugging Face model folder (`LocalModel::load_hf`) and as a vectors file
//! (`vectors::load_vectors`).

use crate::gguf::scratch_dir;
use crate::harness::{self, Pick, Target, Verdict, interesting_u64};
use drift_script::model::{LocalModel, LocalOptions, Message};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::Rng;
use serde_json::{Map, Value, json};
use std::path::Path;

const VOCAB: usize = 32;
const HIDDEN: usize = 64;
const FFN: usize = 64;

fn hf_config() -> Value {
    json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": HIDDEN,
        "intermediate_size": FFN,
        "num_hidden_layers": 1,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": VOCAB,
        "max_position_embeddings": 128,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "tie_word_embeddings": true,
        "torch_dtype": "float32",
    })
}

/// A safetensors file from (name, shape, f32 values), in name order.
fn write_f32(tensors: &[(String, Vec<usize>, Vec<f32>)], metadata: Option<Value>) -> Vec<u8> {
    let mut header = Map::new();
    if let Some(m) = metadata {
        header.insert("__metadata__".into(), m);
    }
    let mut data = Vec::new();
    for (name, shape, values) in tensors {
        let start = data.len();
        values
            .iter()
            .for_each(|v| data.extend_from_slice(&v.to_le_bytes()));
        header.insert(
            name.clone(),
            json!({"dtype": "F32", "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    assemble(&Value::Object(header), &data, None)
}

fn assemble(header: &Value, data: &[u8], declared_len: Option<u64>) -> Vec<u8> {
    let mut text = serde_json::to_vec(header).unwrap();
    while !text.len().is_multiple_of(8) {
        text.push(b' ');
    }
    let mut bytes = declared_len
        .unwrap_or(text.len() as u64)
        .to_le_bytes()
        .to_vec();
    bytes.extend_from_slice(&text);
    bytes.extend_from_slice(data);
    bytes
}

fn tiny_llama(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut tensors = Vec::new();
    let mut add = |name: &str, shape: Vec<usize>| {
        let n: usize = shape.iter().product();
        let values = (0..n)
            .map(|_| (rng.next_u32() as f32 / u32::MAX as f32 - 0.5) * 0.2)
            .collect();
        tensors.push((name.to_string(), shape, values));
    };
    add("model.embed_tokens.weight", vec![VOCAB, HIDDEN]);
    add("model.norm.weight", vec![HIDDEN]);
    let p = "model.layers.0.";
    add(&format!("{p}input_layernorm.weight"), vec![HIDDEN]);
    add(&format!("{p}post_attention_layernorm.weight"), vec![HIDDEN]);
    add(&format!("{p}self_attn.q_proj.weight"), vec![HIDDEN, HIDDEN]);
    add(
        &format!("{p}self_attn.k_proj.weight"),
        vec![HIDDEN / 2, HIDDEN],
    );
    add(
        &format!("{p}self_attn.v_proj.weight"),
        vec![HIDDEN / 2, HIDDEN],
    );
    add(&format!("{p}self_attn.o_proj.weight"), vec![HIDDEN, HIDDEN]);
    add(&format!("{p}mlp.gate_proj.weight"), vec![FFN, HIDDEN]);
    add(&format!("{p}mlp.up_proj.weight"), vec![FFN, HIDDEN]);
    add(&format!("{p}mlp.down_proj.weight"), vec![HIDDEN, FFN]);
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    write_f32(&tensors, Some(json!({"format": "pt"})))
}

fn shipped_vectors() -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("personas/smollm2-assistant-axis.safetensors"),
    )
    .unwrap()
}

fn hostile_json(rng: &mut ChaCha8Rng) -> Value {
    match rng.below(8) {
        0 => json!(null),
        1 => json!(interesting_u64(rng)),
        2 => json!(-1),
        3 => json!(harness::random_text(rng, 20)),
        4 => json!([]),
        5 => json!({}),
        6 => json!([interesting_u64(rng), interesting_u64(rng)]),
        _ => json!(1.5),
    }
}

fn generate(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let seed = if rng.chance(500) {
        tiny_llama(rng)
    } else {
        shipped_vectors()
    };
    let header_len = u64::from_le_bytes(seed[..8].try_into().unwrap()) as usize;
    let mut header: Value = serde_json::from_slice(&seed[8..8 + header_len]).unwrap();
    let mut data = seed[8 + header_len..].to_vec();
    let mut declared = None;
    let names: Vec<String> = header
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect();
    for _ in 0..1 + rng.below(3) {
        let name = rng.pick(&names).clone();
        let entry = &mut header[&name];
        match rng.below(9) {
            0 => {
                entry["dtype"] = json!(rng.pick(&[
                    "F16", "BF16", "F64", "I64", "U8", "BOOL", "F8_E4M3", "F4", "nope", ""
                ]))
            }
            1 => {
                let shape = entry["shape"].as_array().cloned().unwrap_or_default();
                let mut shape: Vec<Value> = shape;
                match rng.below(3) {
                    0 if !shape.is_empty() => {
                        let i = rng.below(shape.len());
                        shape[i] = json!(interesting_u64(rng));
                    }
                    1 => shape.push(json!(interesting_u64(rng))),
                    _ => shape.clear(),
                }
                entry["shape"] = Value::Array(shape);
            }
            2 => {
                let a = interesting_u64(rng);
                let b = if rng.chance(500) {
                    a
                } else {
                    interesting_u64(rng)
                };
                entry["data_offsets"] = json!([a, b]);
            }
            3 => {
                let key = *rng.pick(&["dtype", "shape", "data_offsets"]);
                entry[key] = hostile_json(rng);
            }
            4 => {
                header.as_object_mut().unwrap().remove(&name);
            }
            5 => header["__metadata__"] = hostile_json(rng),
            6 => {
                header["__metadata__"] =
                    json!({"model": hostile_json(rng), "hidden_size": hostile_json(rng)})
            }
            7 => declared = Some(interesting_u64(rng)),
            _ => data.truncate(rng.below(data.len().max(1))),
        }
    }
    let mut bytes = assemble(&header, &data, declared);
    if rng.chance(200) {
        harness::mutate_bytes(rng, &mut bytes);
    }
    bytes
}

fn check(input: &[u8]) -> Verdict {
    let dir = scratch_dir();
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec(&hf_config()).unwrap(),
    )
    .unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny_hf");
    for file in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(fixture.join(file), dir.join(file)).unwrap();
    }
    let path = dir.join("model.safetensors");
    std::fs::write(&path, input).unwrap();
    let options = LocalOptions {
        threads: 1,
        cache_budget_bytes: 16 << 20,
        ..LocalOptions::default()
    };
    if let Ok(model) = LocalModel::load_hf(&dir, &options)
        && let Ok(prompt) = model.tokenize_chat(&[Message::user("hello")])
    {
        let _ = model.greedy_tokens(&prompt.ids, 2);
    }
    if let Ok(file) = drift_script::vectors::load_vectors(&path) {
        let _ = drift_script::vectors::check_model(&file.metadata, 576, "0123");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[test]
fn the_unmutated_seeds_load() {
    let dir = scratch_dir();
    let path = dir.join("v.safetensors");
    std::fs::write(&path, shipped_vectors()).unwrap();
    drift_script::vectors::load_vectors(&path).expect("the shipped vectors load");
    let bytes = tiny_llama(&mut harness::case_rng(1, "st-seed", 0));
    std::fs::write(dir.join("model.safetensors"), bytes).unwrap();
    std::fs::write(dir.join("config.json"), hf_config().to_string()).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny_hf");
    for file in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(fixture.join(file), dir.join(file)).unwrap();
    }
    let options = LocalOptions {
        threads: 1,
        ..LocalOptions::default()
    };
    LocalModel::load_hf(&dir, &options).expect("the tiny Llama loads");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn safetensors() {
    harness::fuzz(
        Target {
            name: "safetensors",
            extension: "safetensors",
            cases: 300,
        },
        generate,
        check,
    );
}
