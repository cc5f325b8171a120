//! The tokenizer against llama.cpp on the default model (SmolLM2-135M-Instruct, pre="smollm").
//!
//! Golden ids come from llama.cpp's `llama-tokenize`, as vendored by `llama-cpp-python 0.3.36`,
//! one run per case with the case's exact bytes on standard input:
//!
//! ```sh
//! printf '%s' "$TEXT" | llama-tokenize -m SmolLM2-135M-Instruct.Q4_1.gguf \
//!     --stdin --no-escape --ids --log-disable
//! ```
//!
//! (`llama-tokenize` parses special tokens by default; the model has `add_bos_token = false`, so
//! no BOS is added.)

use candle_core::quantized::gguf_file::{self, Value};
use drift_script::model::ModelError;
use drift_script::model::local::tokenizer::TextTokenizer;
use drift_script::model::{Message, local::template::ChatTemplate};
use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

fn default_metadata() -> &'static HashMap<String, Value> {
    static META: OnceLock<HashMap<String, Value>> = OnceLock::new();
    META.get_or_init(|| {
        let path = drift_script::fetch::default_model_path(&mut |msg| eprintln!("{msg}"))
            .expect("default model");
        let mut file = std::fs::File::open(&path).expect("open default model");
        gguf_file::Content::read(&mut file)
            .expect("read GGUF")
            .metadata
    })
}

fn smollm2() -> &'static TextTokenizer {
    static TOK: OnceLock<TextTokenizer> = OnceLock::new();
    TOK.get_or_init(|| TextTokenizer::from_gguf(default_metadata()).expect("tokenizer"))
}

/// (name, text, ids from llama-tokenize)
const CASES: &[(&str, &str, &[u32])] = &[
    (
        "ascii",
        "The quick brown fox jumps over the lazy dog.",
        &[504, 2365, 6354, 16438, 27003, 690, 260, 23790, 2767, 30],
    ),
    (
        "spaces",
        "  leading spaces, trailing spaces   \n\nmultiple\n\n\n  newlines\t tabs  ",
        &[
            216, 2899, 5600, 28, 35079, 5600, 333, 198, 198, 30404, 1116, 3805, 725, 5110, 197,
            29416, 256,
        ],
    ),
    (
        "digits",
        "12345 and 3.14159",
        &[33, 34, 35, 36, 37, 284, 216, 35, 30, 33, 36, 33, 37, 41],
    ),
    (
        "accents",
        "Café naïve façade déjà vu",
        &[
            51, 1939, 2756, 15486, 46494, 40852, 32564, 90, 16739, 386, 101,
        ],
    ),
    (
        "cjk",
        "你好，世界。日本語のテキスト",
        &[
            18645, 250, 48392, 138, 12831, 7906, 240, 178, 239, 230, 19076, 23274, 115, 40993, 179,
            120, 248, 26453, 11100, 224, 10391, 251, 10391, 134, 11100, 226,
        ],
    ),
    (
        "emoji",
        "I love 🦀 and 🎉!",
        &[57, 2606, 15107, 116, 218, 284, 15107, 232, 227, 17],
    ),
    (
        "contractions",
        "I'm sure they'll've",
        &[57, 5248, 2090, 502, 3060, 3543],
    ),
];

/// The conversation of the chat case, rendered by SmolLM2's template (system + user + assistant
/// + user, add_generation_prompt = true).
fn chat_messages() -> Vec<Message> {
    vec![
        Message::system("You are a pirate. Always answer like a pirate, matey!"),
        Message::user("What's the weather like today?"),
        Message::assistant("Arr, the skies be clear and the winds be fair."),
        Message::user("And tomorrow?"),
    ]
}

const CHAT_TEXT: &str = "<|im_start|>system\nYou are a pirate. Always answer like a pirate, matey!<|im_end|>\n\
<|im_start|>user\nWhat's the weather like today?<|im_end|>\n\
<|im_start|>assistant\nArr, the skies be clear and the winds be fair.<|im_end|>\n\
<|im_start|>user\nAnd tomorrow?<|im_end|>\n\
<|im_start|>assistant\n";

const CHAT_IDS: &[u32] = &[
    1, 9690, 198, 2683, 359, 253, 30820, 30, 11078, 2988, 702, 253, 30820, 28, 18357, 105, 17, 2,
    198, 1, 4093, 198, 1780, 506, 260, 3947, 702, 1834, 47, 2, 198, 1, 520, 9531, 198, 40909, 28,
    260, 20215, 325, 2437, 284, 260, 11113, 325, 3506, 30, 2, 198, 1, 4093, 198, 3528, 13759, 47,
    2, 198, 1, 520, 9531, 198,
];

#[test]
fn matches_llama_cpp_and_round_trips() {
    let tok = smollm2();
    for &(name, text, golden) in CASES {
        let enc = tok.encode(text, true).unwrap();
        assert_eq!(enc.ids, golden, "case `{name}`: ids differ from llama.cpp");
        assert_eq!(enc.offsets.len(), enc.ids.len());
        assert_eq!(
            tok.decode(&enc.ids),
            text,
            "case `{name}`: decode(encode(x)) != x"
        );
        assert_eq!(tok.decode_with_special(&enc.ids), text, "case `{name}`");
    }
}

/// 400 random concatenations of awkward pieces (CRLF, tabs, runs of spaces, NBSP and ideographic
/// spaces, zero-width characters, many scripts, ZWJ emoji and flags, code, URLs, digits, partial
/// and whole special tokens), each tokenized by the same `llama-tokenize` command as above. The
/// fixture is `[[text, ids], ...]`.
#[test]
fn matches_llama_cpp_on_mixed_text() {
    let tok = smollm2();
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smollm2_llama_cpp_mixed.json");
    let cases: Vec<(String, Vec<u32>)> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(cases.len(), 400);
    for (text, golden) in &cases {
        let ids = tok.encode(text, true).unwrap().ids;
        assert_eq!(&ids, golden, "ids differ from llama.cpp for {text:?}");
        assert_eq!(
            tok.decode_with_special(&ids),
            *text,
            "round trip of {text:?}"
        );
    }
}

#[test]
fn chat_prompt_matches_llama_cpp() {
    let tok = smollm2();
    let template = ChatTemplate::for_tokenizer(tok).unwrap();
    let rendered = template.render(&chat_messages(), true).unwrap();
    assert_eq!(rendered.text, CHAT_TEXT);

    let enc = tok.encode(CHAT_TEXT, true).unwrap();
    assert_eq!(enc.ids, CHAT_IDS);
    assert_eq!(tok.decode_with_special(&enc.ids), CHAT_TEXT);
    // Special tokens are skipped by `decode`.
    assert!(!tok.decode(&enc.ids).contains("<|im_"));
    assert!(
        tok.decode(&enc.ids)
            .starts_with("system\nYou are a pirate.")
    );
    // Offsets are byte ranges of the text, special tokens included.
    assert_eq!(enc.offsets[0], (0, "<|im_start|>".len()));
    assert_eq!(&CHAT_TEXT[enc.offsets[1].0..enc.offsets[1].1], "system");
    assert_eq!(
        &CHAT_TEXT[enc.offsets[17].0..enc.offsets[17].1],
        "<|im_end|>"
    );
}

#[test]
fn offsets_tile_plain_text() {
    let tok = smollm2();
    let text = CASES[1].1;
    let enc = tok.encode(text, false).unwrap();
    let mut at = 0;
    for &(start, end) in &enc.offsets {
        assert_eq!(start, at, "offsets {:?} leave a gap", enc.offsets);
        at = end;
    }
    assert_eq!(at, text.len());
}

#[test]
fn special_tokens_and_settings_of_the_default_model() {
    let tok = smollm2();
    assert_eq!(tok.vocab_size(), 49152);
    assert_eq!(tok.bos_id(), Some(1));
    assert_eq!(tok.eos_id(), Some(2));
    assert_eq!(tok.bos_token().as_deref(), Some("<|im_start|>"));
    assert_eq!(tok.eos_token().as_deref(), Some("<|im_end|>"));
    assert!(
        !tok.add_bos_token(),
        "SmolLM2's GGUF says add_bos_token = false"
    );
    assert_eq!(tok.token_id("<|im_end|>"), Some(2));
    assert_eq!(tok.token_id("<|endoftext|>"), Some(0));
    assert_eq!(tok.token_text(504).as_deref(), Some("The"));
    assert_eq!(tok.token_text(260).as_deref(), Some("Ġthe"));
    assert_eq!(tok.token_text(49152), None);
    // <|endoftext|> (0) and <|im_end|> (2, also EOS).
    assert_eq!(tok.end_of_turn_ids(), vec![0, 2]);
    assert!(
        tok.chat_template()
            .is_some_and(|t| t.contains("You are a helpful AI assistant named SmolLM"))
    );
    // No BOS for this model even when asked.
    assert_eq!(
        tok.encode("Hi", true).unwrap().ids,
        tok.encode("Hi", false).unwrap().ids
    );
    assert_eq!(tok.encode("", true).unwrap().ids, Vec::<u32>::new());
}

/// A tiny byte-level vocabulary with the given `tokenizer.ggml.*` entries on top.
fn tiny_gpt2(extra: &[(&str, Value)]) -> HashMap<String, Value> {
    let strings =
        |xs: &[&str]| Value::Array(xs.iter().map(|s| Value::String(s.to_string())).collect());
    let mut meta = HashMap::from([
        (
            "tokenizer.ggml.model".to_string(),
            Value::String("gpt2".into()),
        ),
        (
            "tokenizer.ggml.tokens".to_string(),
            strings(&["<eos>", "a", "b", "ab"]),
        ),
        ("tokenizer.ggml.merges".to_string(), strings(&["a b"])),
        (
            "tokenizer.ggml.token_type".to_string(),
            Value::Array(vec![
                Value::I32(3),
                Value::I32(1),
                Value::I32(1),
                Value::I32(1),
            ]),
        ),
    ]);
    for (k, v) in extra {
        meta.insert(k.to_string(), v.clone());
    }
    meta
}

#[test]
fn tiny_byte_level_vocabulary_works() {
    let tok = TextTokenizer::from_gguf(&tiny_gpt2(&[
        ("tokenizer.ggml.pre", Value::String("gpt-2".into())),
        ("tokenizer.ggml.eos_token_id", Value::U32(0)),
    ]))
    .unwrap();
    assert_eq!(
        tok.encode("ab<eos>ba", false).unwrap().ids,
        vec![3, 0, 2, 1]
    );
    assert_eq!(tok.decode(&[3, 0, 2, 1]), "abba");
    assert_eq!(tok.end_of_turn_ids(), vec![0]);
    assert_eq!(tok.chat_template(), None);
}

#[test]
fn unknown_pre_tokenizer_is_a_clear_error() {
    let err = TextTokenizer::from_gguf(&tiny_gpt2(&[(
        "tokenizer.ggml.pre",
        Value::String("no-such-pre".into()),
    )]))
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ModelError::Tokenizer(_)), "{msg}");
    assert!(msg.contains("`no-such-pre`"), "{msg}");
    assert!(msg.contains("tokenizer.ggml.pre"), "{msg}");
    for supported in ["smollm", "gpt2", "llama-bpe", "qwen2"] {
        assert!(msg.contains(supported), "{msg} should list {supported}");
    }
}

#[test]
fn missing_or_unsupported_metadata_is_named() {
    let mut meta = tiny_gpt2(&[]);
    meta.remove("tokenizer.ggml.tokens");
    match TextTokenizer::from_gguf(&meta).unwrap_err() {
        ModelError::Metadata { key, reason } => {
            assert_eq!(key, "tokenizer.ggml.tokens");
            assert!(reason.contains("missing"), "{reason}");
        }
        other => panic!("expected a metadata error, got {other}"),
    }

    let mut meta = tiny_gpt2(&[]);
    meta.remove("tokenizer.ggml.merges");
    let err = TextTokenizer::from_gguf(&meta).unwrap_err();
    assert!(err.to_string().contains("tokenizer.ggml.merges"), "{err}");

    let meta = tiny_gpt2(&[("tokenizer.ggml.model", Value::String("bert".into()))]);
    let err = TextTokenizer::from_gguf(&meta).unwrap_err().to_string();
    assert!(err.contains("`bert`"), "{err}");
}

#[test]
fn hugging_face_folder() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny_hf");
    let tok = TextTokenizer::from_hf_folder(&dir).unwrap();
    assert_eq!(tok.bos_id(), Some(0));
    assert_eq!(tok.eos_id(), Some(1));
    assert_eq!(tok.bos_token().as_deref(), Some("<s>"));
    // tokenizer_config.json has no add_bos_token; the post-processor adds <s>.
    assert!(tok.add_bos_token());
    let enc = tok.encode("hi there", true).unwrap();
    assert_eq!(enc.ids, vec![0, 9, 14]);
    assert_eq!(enc.offsets[0], (0, 0));
    assert_eq!(
        tok.encode("<s>hi there</s>", true).unwrap().ids,
        vec![0, 9, 14, 1]
    );
    assert_eq!(tok.decode(&[0, 9, 14, 1]), "hi there");
    // eos, generation_config's [1, 2], and the </s> and <|im_end|> texts.
    assert_eq!(tok.end_of_turn_ids(), vec![1, 2]);
    assert!(
        tok.chat_template()
            .unwrap()
            .starts_with("{% for message in messages %}")
    );

    let err = TextTokenizer::from_hf_folder(&dir.join("missing")).unwrap_err();
    assert!(matches!(err, ModelError::Io { .. }), "{err}");
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
}
