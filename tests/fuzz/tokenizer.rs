//! Tokenizers. `tokenizer`: the fixture's real tokenizer.json and tokenizer_config.json
//! (tests/fixtures/tiny_hf) with nodes of their JSON trees damaged (wrong types, dropped keys,
//! duplicated or cut vocabularies and merges, ids out of range, huge strings) or their bytes;
//! loaded with `TextTokenizer::from_hf_folder`, then encoding, decoding (ids out of range
//! included) and the chat template. `gguf_tokenizer`: the `tokenizer.ggml.*` metadata of the real
//! SmolLM2 file, cut to a consistent few hundred tokens, damaged value by value, written as a
//! GGUF file without tensors and read through `TextTokenizer::from_gguf`.

use crate::gguf::scratch_dir;
use crate::harness::{self, Pick, Target, Verdict, interesting_u64};
use candle_core::quantized::gguf_file::{self, Value as GgufValue};
use drift_script::model::Message;
use drift_script::model::local::template::ChatTemplate;
use drift_script::model::local::tokenizer::TextTokenizer;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::Rng;
use serde_json::{Value, json};
use std::path::Path;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tiny_hf")
            .join(name),
    )
    .unwrap()
}

fn generate_hf(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut tokenizer: Value = serde_json::from_str(&fixture("tokenizer.json")).unwrap();
    let mut config: Value = serde_json::from_str(&fixture("tokenizer_config.json")).unwrap();
    for _ in 0..1 + rng.below(3) {
        if rng.chance(750) {
            harness::mutate_json(rng, &mut tokenizer);
        } else {
            harness::mutate_json(rng, &mut config);
        }
    }
    let mut case = json!({"tokenizer.json": tokenizer.to_string(), "tokenizer_config.json": config.to_string()});
    if rng.chance(150) {
        // Damage to the text itself: the tokenizers crate parses it.
        let mut bytes = case["tokenizer.json"].as_str().unwrap().as_bytes().to_vec();
        harness::mutate_bytes(rng, &mut bytes);
        case["tokenizer.json"] = json!(String::from_utf8_lossy(&bytes));
    }
    serde_json::to_vec(&case).unwrap()
}

/// What a loaded tokenizer must survive: text with special tokens, ids out of range, the
/// chat template over a short conversation.
fn exercise(tokenizer: &TextTokenizer, seed: u64) {
    let mut rng = harness::case_rng(seed, "tokenizer-use", 0);
    for _ in 0..3 {
        let text = harness::random_text(&mut rng, 80);
        if let Ok(encoded) = tokenizer.encode(&text, rng.chance(500)) {
            let _ = tokenizer.decode(&encoded.ids);
        }
    }
    let ids: Vec<u32> = (0..8).map(|_| interesting_u64(&mut rng) as u32).collect();
    let _ = tokenizer.decode(&ids);
    let _ = tokenizer.decode_with_special(&ids);
    for &id in &ids {
        let _ = tokenizer.token_text(id);
    }
    let _ = tokenizer.end_of_turn_ids();
    let _ = (
        tokenizer.bos_token(),
        tokenizer.eos_token(),
        tokenizer.vocab_size(),
    );
    if let Ok(template) = ChatTemplate::for_tokenizer(tokenizer) {
        let chat = [Message::system("Be brief."), Message::user("hi")];
        let _ = template.tokenize(tokenizer, &chat, true);
    }
}

fn check_hf(input: &[u8]) -> Verdict {
    let Ok(case) = serde_json::from_slice::<Value>(input) else {
        return Ok(());
    };
    let dir = scratch_dir();
    for name in ["tokenizer.json", "tokenizer_config.json"] {
        if let Some(text) = case[name].as_str() {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }
    if let Ok(tokenizer) = TextTokenizer::from_hf_folder(&dir) {
        exercise(&tokenizer, input.len() as u64);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The real file's tokenizer metadata, cut to a consistent vocabulary.
fn gguf_tokenizer_seed() -> Vec<(String, GgufValue)> {
    crate::gguf::seed_metadata()
        .iter()
        .filter(|(k, _)| k.starts_with("tokenizer."))
        .cloned()
        .collect()
}

fn generate_gguf(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut metadata = gguf_tokenizer_seed();
    for _ in 0..1 + rng.below(3) {
        match rng.below(6) {
            0 => {
                let i = rng.below(metadata.len());
                metadata.remove(i);
            }
            1 => {
                // A special-token id out of range or of another type.
                let key = *rng.pick(&[
                    "tokenizer.ggml.bos_token_id",
                    "tokenizer.ggml.eos_token_id",
                    "tokenizer.ggml.padding_token_id",
                    "tokenizer.ggml.eot_token_id",
                ]);
                metadata.retain(|(k, _)| k != key);
                let value = if rng.chance(700) {
                    GgufValue::U32(interesting_u64(rng) as u32)
                } else {
                    crate::gguf::hostile_value(rng, &GgufValue::U32(0))
                };
                metadata.push((key.into(), value));
            }
            2 => {
                let key = *rng.pick(&["tokenizer.ggml.model", "tokenizer.ggml.pre"]);
                metadata.retain(|(k, _)| k != key);
                let name =
                    *rng.pick(&["gpt2", "llama", "bert", "t5", "", "smollm", "qwen2", "nope"]);
                metadata.push((key.into(), GgufValue::String(name.into())));
            }
            3 => {
                // Tokens that are not what they seem: empty, duplicated, huge.
                if let Some((_, GgufValue::Array(tokens))) = metadata
                    .iter_mut()
                    .find(|(k, _)| k == "tokenizer.ggml.tokens")
                {
                    let i = rng.below(tokens.len());
                    tokens[i] = GgufValue::String(match rng.below(3) {
                        0 => String::new(),
                        1 => "x".repeat(1 << (4 + rng.below(16))),
                        _ => "<|im_end|>".into(),
                    });
                }
            }
            _ => {
                let i = rng.below(metadata.len());
                metadata[i].1 = crate::gguf::hostile_value(rng, &metadata[i].1);
            }
        }
    }
    let mut bytes = crate::gguf::write_gguf(&metadata, &[], 32).bytes;
    if rng.chance(100) {
        harness::mutate_bytes(rng, &mut bytes);
    }
    let _ = rng.next_u32();
    bytes
}

fn check_gguf(input: &[u8]) -> Verdict {
    let Ok(content) = gguf_file::Content::read(&mut std::io::Cursor::new(input)) else {
        return Ok(());
    };
    if let Ok(tokenizer) = TextTokenizer::from_gguf(&content.metadata) {
        exercise(&tokenizer, input.len() as u64);
    }
    Ok(())
}

#[test]
fn the_unmutated_seeds_load() {
    let dir = scratch_dir();
    std::fs::write(dir.join("tokenizer.json"), fixture("tokenizer.json")).unwrap();
    std::fs::write(
        dir.join("tokenizer_config.json"),
        fixture("tokenizer_config.json"),
    )
    .unwrap();
    TextTokenizer::from_hf_folder(&dir).expect("the fixture loads");
    let metadata = gguf_tokenizer_seed().into_iter().collect();
    let tokenizer = TextTokenizer::from_gguf(&metadata).expect("the cut vocabulary loads");
    assert_eq!(tokenizer.vocab_size(), 400);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tokenizer() {
    harness::fuzz(
        Target {
            name: "tokenizer",
            extension: "json",
            cases: 300,
        },
        generate_hf,
        check_hf,
    );
}

#[test]
fn gguf_tokenizer() {
    harness::fuzz(
        Target {
            name: "gguf_tokenizer",
            extension: "gguf",
            cases: 300,
        },
        generate_gguf,
        check_gguf,
    );
}
