//! Text ⇄ token ids for the local engine, built from a GGUF file's metadata or from a Hugging Face
//! model folder, with the same ids llama.cpp produces for the same file.
//!
//! Why not candle's `TokenizerFromGguf`: it always adds a prefix space and ignores
//! `tokenizer.ggml.pre`, so it tokenizes SmolLM2 (the default model) differently from the way the
//! model was trained. Here the pipeline is assembled by hand from the metadata, following
//! llama.cpp's `llama-vocab.cpp` (the reference every GGUF is converted against):
//!
//! - `tokenizer.ggml.model = "gpt2"`: byte-level BPE from `tokens` + `merges`. The pre-tokenizer
//!   is the list of regexes llama.cpp uses for the `tokenizer.ggml.pre` name, applied one after
//!   the other (each a `Split` with `Isolated` behaviour, exactly like llama.cpp's sequential
//!   `unicode_regex_split`), then the GPT-2 byte-to-unicode mapping.
//! - `tokenizer.ggml.model = "llama"`: SentencePiece vocabularies (Llama 2, Mistral, TinyLlama)
//!   as a BPE with byte fallback whose merges are derived from the token scores, the way
//!   Hugging Face's `SentencePieceExtractor` converts them.
//!
//! Control (type 3) and unknown (type 2) tokens are matched in text as special tokens, and
//! user-defined (type 4) tokens as non-special added tokens: llama.cpp with `parse_special`
//! matches all three before running the BPE, which is how a chat prompt rendered as text, with
//! `<|im_start|>` and friends written literally, becomes the ids the model expects.

use crate::model::error::{ModelError, Result};
use candle_core::quantized::gguf_file::Value;
use std::collections::HashMap;
use std::path::Path;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

/// Token ids and, for each, the byte range of `text` it came from. BOS added by
/// [`TextTokenizer::encode`] has the empty range `(0, 0)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    pub offsets: Vec<(usize, usize)>,
}

/// A tokenizer plus the facts about special tokens that the engine and chat templates need.
#[derive(Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    bos: Option<u32>,
    eos: Option<u32>,
    eot: Option<u32>,
    eom: Option<u32>,
    /// Further end-of-generation ids (`generation_config.json` may list several).
    extra_eos: Vec<u32>,
    add_bos: bool,
    chat_template: Option<String>,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The wrapped tokenizer would print the whole vocabulary.
        f.debug_struct("TextTokenizer")
            .field("vocab_size", &self.vocab_size())
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("add_bos", &self.add_bos)
            .field("has_chat_template", &self.chat_template.is_some())
            .finish()
    }
}

// GGUF token types (llama.cpp `llama_token_type`).
const TYPE_UNKNOWN: i64 = 2;
const TYPE_CONTROL: i64 = 3;
const TYPE_USER_DEFINED: i64 = 4;

/// Token texts that end an assistant turn in the chat formats we know.
const END_OF_TURN_TEXTS: [&str; 6] = [
    "<|im_end|>",
    "<|eot_id|>",
    "<|end|>",
    "<|endoftext|>",
    "</s>",
    "<end_of_turn>",
];

// Pre-tokenizer regexes, copied from llama.cpp's `llm_tokenizer_bpe` (llama-vocab.cpp).
const GPT2_RE: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
const LLAMA3_RE: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2_RE: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// How llama.cpp pre-tokenizes one family of `tokenizer.ggml.pre` names.
struct PreTokenizerSpec {
    names: &'static [&'static str],
    regexes: &'static [&'static str],
    /// A word that is itself in the vocabulary is one token, merges notwithstanding.
    ignore_merges: bool,
    /// llama.cpp's default for `add_bos_token` when the metadata does not say.
    add_bos: bool,
}

const PRE_TOKENIZERS: &[PreTokenizerSpec] = &[
    PreTokenizerSpec {
        names: &["default"],
        regexes: &[
            r"[\p{P}\$\+<=>\^~\|]+",
            GPT2_RE,
            r"\p{N}+",
            "[0-9][0-9][0-9]",
        ],
        ignore_merges: false,
        add_bos: false,
    },
    PreTokenizerSpec {
        names: &[
            "gpt-2",
            "gpt2",
            "phi-2",
            "mpt",
            "olmo",
            "jais",
            "exaone4",
            "trillion",
            "granite-docling",
            "mellum",
            "gigachat",
            "a.x-4.0",
        ],
        regexes: &[GPT2_RE],
        ignore_merges: false,
        add_bos: false,
    },
    PreTokenizerSpec {
        // Digits one by one first, then the GPT-2 regex.
        names: &[
            "smollm",
            "starcoder",
            "refact",
            "command-r",
            "codeshell",
            "exaone",
            "minerva-7b",
            "mellum2",
        ],
        regexes: &[r"\p{N}", GPT2_RE],
        ignore_merges: false,
        add_bos: false,
    },
    PreTokenizerSpec {
        names: &[
            "llama3",
            "llama-v3",
            "llama-bpe",
            "falcon3",
            "falcon-h1",
            "pixtral",
            "midm-2.0",
            "lfm2",
            "jina-v5-nano",
        ],
        regexes: &[LLAMA3_RE],
        ignore_merges: true,
        add_bos: true,
    },
    PreTokenizerSpec {
        names: &["dbrx", "smaug-bpe"],
        regexes: &[LLAMA3_RE],
        ignore_merges: false,
        add_bos: false,
    },
    PreTokenizerSpec {
        names: &[
            "qwen2",
            "deepseek-r1-qwen",
            "kormo",
            "f2llmv2",
            "megrez",
            "stablelm2",
            "hunyuan",
            "solar-open",
        ],
        regexes: &[QWEN2_RE],
        ignore_merges: false,
        add_bos: false,
    },
];

fn tok_err(what: impl std::fmt::Display) -> impl FnOnce(tokenizers::Error) -> ModelError {
    move |e| ModelError::Tokenizer(format!("{what}: {e}"))
}

fn meta_err(key: &str, reason: impl Into<String>) -> ModelError {
    ModelError::Metadata {
        key: key.to_string(),
        reason: reason.into(),
    }
}

/// Typed, optional access to GGUF metadata: a missing key is `Ok(None)`, a key of the wrong type
/// is an error naming it.
struct Meta<'a>(&'a HashMap<String, Value>);

fn value_as_i64(v: &Value) -> Option<i64> {
    Some(match v {
        Value::U8(x) => *x as i64,
        Value::I8(x) => *x as i64,
        Value::U16(x) => *x as i64,
        Value::I16(x) => *x as i64,
        Value::U32(x) => *x as i64,
        Value::I32(x) => *x as i64,
        Value::U64(x) => i64::try_from(*x).ok()?,
        Value::I64(x) => *x,
        _ => return None,
    })
}

impl<'a> Meta<'a> {
    fn str(&self, key: &str) -> Result<Option<&'a str>> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(meta_err(key, "expected a string")),
        }
    }

    fn bool(&self, key: &str) -> Result<Option<bool>> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => match value_as_i64(v) {
                Some(i) => Ok(Some(i != 0)),
                None => Err(meta_err(key, "expected a boolean")),
            },
        }
    }

    fn token_id(&self, key: &str, n_tokens: usize) -> Result<Option<u32>> {
        let Some(v) = self.0.get(key) else {
            return Ok(None);
        };
        let id = value_as_i64(v).ok_or_else(|| meta_err(key, "expected an integer"))?;
        // llama.cpp writes -1 (as u32::MAX in some files) for "no such token".
        if id < 0 || id == u32::MAX as i64 {
            return Ok(None);
        }
        if id as usize >= n_tokens {
            return Err(meta_err(
                key,
                format!("token id {id} is outside the vocabulary of {n_tokens} tokens"),
            ));
        }
        Ok(Some(id as u32))
    }

    fn array(&self, key: &str) -> Result<Option<&'a [Value]>> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(meta_err(key, "expected an array")),
        }
    }

    fn required_array(&self, key: &str) -> Result<&'a [Value]> {
        self.array(key)?
            .ok_or_else(|| meta_err(key, "missing from the model file's metadata"))
    }

    fn strings(&self, key: &str) -> Result<Vec<&'a str>> {
        self.required_array(key)?
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.as_str()),
                _ => Err(meta_err(key, "expected an array of strings")),
            })
            .collect()
    }

    /// An optional array with one number per token.
    fn per_token<T>(
        &self,
        key: &str,
        n_tokens: usize,
        conv: impl Fn(&Value) -> Option<T>,
    ) -> Result<Option<Vec<T>>> {
        let Some(arr) = self.array(key)? else {
            return Ok(None);
        };
        if arr.len() < n_tokens {
            return Err(meta_err(
                key,
                format!("has {} entries for {n_tokens} tokens", arr.len()),
            ));
        }
        arr.iter()
            .map(|v| conv(v).ok_or_else(|| meta_err(key, "expected an array of numbers")))
            .collect::<Result<Vec<T>>>()
            .map(Some)
    }
}

impl TextTokenizer {
    /// Builds the tokenizer from GGUF metadata (`tokenizer.ggml.*`, `tokenizer.chat_template`).
    ///
    /// `tokenizer.ggml.add_space_prefix = true` on a byte-level ("gpt2") vocabulary (converters
    /// copy it from `add_prefix_space` in `tokenizer_config.json`) prepends a space to each run
    /// of text between special tokens, as Hugging Face's `ByteLevel(add_prefix_space=true)` does
    /// (except that a run already starting with a space gets one more). llama.cpp ignores the key
    /// for byte-level vocabularies, so for such rare files the ids follow Hugging Face, not
    /// llama.cpp. SmolLM2 has it `false`.
    pub fn from_gguf(metadata: &HashMap<String, Value>) -> Result<Self> {
        let meta = Meta(metadata);
        let model = meta.str("tokenizer.ggml.model")?.ok_or_else(|| {
            meta_err(
                "tokenizer.ggml.model",
                "missing from the model file's metadata",
            )
        })?;
        let mut tokens: Vec<String> = meta
            .strings("tokenizer.ggml.tokens")?
            .into_iter()
            .map(String::from)
            .collect();
        let n = tokens.len();
        if n == 0 {
            return Err(meta_err("tokenizer.ggml.tokens", "the vocabulary is empty"));
        }
        // Same placeholder llama.cpp uses, so that every id has a distinct text.
        for (i, t) in tokens.iter_mut().enumerate() {
            if t.is_empty() {
                *t = format!("[EMPTY_{i}]");
            }
        }
        let types = meta.per_token("tokenizer.ggml.token_type", n, value_as_i64)?;
        let type_of = |i: usize| types.as_ref().map_or(1, |t| t[i]);

        let vocab = vocab_map(&tokens)?;
        let add_space_prefix = meta.bool("tokenizer.ggml.add_space_prefix")?;
        let (mut inner, default_add_bos) = match model {
            "gpt2" => {
                let pre_name = meta.str("tokenizer.ggml.pre")?.unwrap_or("default");
                let spec = PRE_TOKENIZERS
                    .iter()
                    .find(|s| s.names.contains(&pre_name))
                    .ok_or_else(|| {
                        let known: Vec<&str> =
                            PRE_TOKENIZERS.iter().flat_map(|s| s.names.iter().copied()).collect();
                        ModelError::Tokenizer(format!(
                            "unknown pre-tokenizer `{pre_name}` (tokenizer.ggml.pre); supported: {}",
                            known.join(", ")
                        ))
                    })?;
                let merges = meta
                    .strings("tokenizer.ggml.merges")?
                    .into_iter()
                    .enumerate()
                    .map(|(i, m)| {
                        m.split_once(' ')
                            .map(|(a, b)| (a.to_string(), b.to_string()))
                            .ok_or_else(|| {
                                meta_err(
                                    "tokenizer.ggml.merges",
                                    format!(
                                        "merge {i} `{m}` is not two tokens separated by a space"
                                    ),
                                )
                            })
                    })
                    .collect::<Result<Vec<_>>>()?;
                let tok = byte_level_bpe(vocab, merges, spec, add_space_prefix.unwrap_or(false))?;
                (tok, spec.add_bos)
            }
            "llama" => {
                let scores = meta
                    .per_token("tokenizer.ggml.scores", n, |v| match v {
                        Value::F32(x) => Some(*x),
                        Value::F64(x) => Some(*x as f32),
                        other => value_as_i64(other).map(|i| i as f32),
                    })?
                    .unwrap_or_else(|| vec![0.0; n]);
                let unk = (0..n)
                    .find(|&i| type_of(i) == TYPE_UNKNOWN)
                    .map(|i| tokens[i].clone());
                let tok = sentencepiece_bpe(
                    &tokens,
                    &scores,
                    vocab,
                    unk,
                    add_space_prefix.unwrap_or(true),
                )?;
                (tok, true)
            }
            other => {
                return Err(ModelError::Tokenizer(format!(
                    "unsupported tokenizer model `{other}` (tokenizer.ggml.model); supported: \
                     gpt2 (byte-level BPE), llama (SentencePiece)"
                )));
            }
        };

        // Every added token's text is already in the vocabulary, so the ids stay those of the file.
        let added: Vec<AddedToken> = (0..n)
            .filter_map(|i| match type_of(i) {
                TYPE_CONTROL | TYPE_UNKNOWN => Some(AddedToken::from(tokens[i].clone(), true)),
                TYPE_USER_DEFINED => {
                    Some(AddedToken::from(tokens[i].clone(), false).normalized(false))
                }
                _ => None,
            })
            .collect();
        inner
            .add_tokens(added)
            .map_err(tok_err("registering special tokens"))?;

        Ok(TextTokenizer {
            inner,
            bos: meta.token_id("tokenizer.ggml.bos_token_id", n)?,
            eos: meta.token_id("tokenizer.ggml.eos_token_id", n)?,
            eot: meta.token_id("tokenizer.ggml.eot_token_id", n)?,
            eom: meta.token_id("tokenizer.ggml.eom_token_id", n)?,
            extra_eos: Vec::new(),
            add_bos: meta
                .bool("tokenizer.ggml.add_bos_token")?
                .unwrap_or(default_add_bos),
            chat_template: meta.str("tokenizer.chat_template")?.map(String::from),
        })
    }

    /// Loads a Hugging Face model folder: `tokenizer.json` (required), `tokenizer_config.json`
    /// (BOS/EOS, `add_bos_token`, chat template), `chat_template.jinja` (newer exports keep the
    /// template there) and `generation_config.json` (`eos_token_id`, one id or a list).
    pub fn from_hf_folder(dir: &Path) -> Result<Self> {
        let tok_path = dir.join("tokenizer.json");
        let bytes = std::fs::read(&tok_path).map_err(|e| ModelError::io(&tok_path, e))?;
        let mut inner = Tokenizer::from_bytes(&bytes)
            .map_err(tok_err(format_args!("{}", tok_path.display())))?;
        // Encodings must be the whole text, whatever the file says.
        inner
            .with_truncation(None)
            .map_err(tok_err("disabling truncation"))?;
        inner.with_padding(None);

        let config = read_json_opt(&dir.join("tokenizer_config.json"))?;
        let generation = read_json_opt(&dir.join("generation_config.json"))?;
        let cfg = |key: &str| config.as_ref().and_then(|c| c.get(key));
        let token_of = |key: &str| -> Option<u32> {
            let v = cfg(key)?;
            let text = v.as_str().or_else(|| v.get("content")?.as_str())?;
            inner.token_to_id(text)
        };
        let bos = token_of("bos_token");
        let mut eos = token_of("eos_token");

        let mut extra_eos = Vec::new();
        match generation.as_ref().and_then(|g| g.get("eos_token_id")) {
            Some(serde_json::Value::Number(x)) => extra_eos.extend(x.as_u64().map(|x| x as u32)),
            Some(serde_json::Value::Array(xs)) => {
                extra_eos.extend(xs.iter().filter_map(|x| x.as_u64()).map(|x| x as u32))
            }
            _ => {}
        }
        if eos.is_none() {
            eos = extra_eos.first().copied();
        }

        // Without an explicit `add_bos_token`, ask the file's post-processor whether it adds BOS.
        let add_bos = match cfg("add_bos_token").and_then(|v| v.as_bool()) {
            Some(b) => b,
            None => bos.is_some_and(|b| {
                let with = inner.encode("a", true).ok();
                let without = inner.encode("a", false).ok();
                with.is_some_and(|e| e.get_ids().first() == Some(&b))
                    && without.is_some_and(|e| e.get_ids().first() != Some(&b))
            }),
        };

        let jinja_path = dir.join("chat_template.jinja");
        let chat_template = if jinja_path.exists() {
            Some(std::fs::read_to_string(&jinja_path).map_err(|e| ModelError::io(&jinja_path, e))?)
        } else {
            match cfg("chat_template") {
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                // Older format: a list of named templates; use "default", else the first.
                Some(serde_json::Value::Array(list)) => list
                    .iter()
                    .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
                    .or_else(|| list.first())
                    .and_then(|t| t.get("template")?.as_str())
                    .map(String::from),
                _ => None,
            }
        };

        Ok(TextTokenizer {
            inner,
            bos,
            eos,
            eot: None,
            eom: None,
            extra_eos,
            add_bos,
            chat_template,
        })
    }

    /// Tokenizes `text`, matching special tokens written literally in it (`<|im_start|>`...).
    /// With `add_bos`, prepends BOS when the model has one, wants it (`add_bos_token`), and the
    /// text does not already start with it (a template may emit it).
    pub fn encode(&self, text: &str, add_bos: bool) -> Result<Encoded> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(tok_err("encoding text"))?;
        let mut ids = enc.get_ids().to_vec();
        let mut offsets = enc.get_offsets().to_vec();
        if add_bos
            && self.add_bos
            && let Some(bos) = self.bos
            && ids.first() != Some(&bos)
        {
            ids.insert(0, bos);
            offsets.insert(0, (0, 0));
        }
        Ok(Encoded { ids, offsets })
    }

    /// Text of `ids`, special tokens left out. Invalid UTF-8 (a character cut between tokens)
    /// comes out as U+FFFD. Unknown ids are skipped.
    pub fn decode(&self, ids: &[u32]) -> String {
        // The decoders used here (byte-level, byte fallback, replace, fuse, strip) cannot fail.
        self.inner.decode(ids, true).unwrap_or_default()
    }

    /// Text of `ids` with special tokens written out.
    pub fn decode_with_special(&self, ids: &[u32]) -> String {
        self.inner.decode(ids, false).unwrap_or_default()
    }

    /// Number of ids, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    pub fn eos_id(&self) -> Option<u32> {
        self.eos
    }

    /// Whether the model wants BOS at the start of a prompt.
    pub fn add_bos_token(&self) -> bool {
        self.add_bos
    }

    /// Id of a token given its vocabulary text (e.g. `<|im_end|>`, or `Ġthe` in a byte-level BPE).
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.inner.token_to_id(text)
    }

    /// Vocabulary text of a token, as stored in the model file.
    pub fn token_text(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    pub fn bos_token(&self) -> Option<String> {
        self.bos.and_then(|id| self.token_text(id))
    }

    pub fn eos_token(&self) -> Option<String> {
        self.eos.and_then(|id| self.token_text(id))
    }

    /// Ids that end an assistant turn: EOS, EOT, EOM, the extra EOS ids of
    /// `generation_config.json`, and whichever of `<|im_end|>`, `<|eot_id|>`, `<|end|>`,
    /// `<|endoftext|>`, `</s>`, `<end_of_turn>` the vocabulary has. Sorted, no duplicates.
    pub fn end_of_turn_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = [self.eos, self.eot, self.eom]
            .into_iter()
            .flatten()
            .chain(self.extra_eos.iter().copied())
            .chain(END_OF_TURN_TEXTS.iter().filter_map(|t| self.token_id(t)))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The model's own chat template (Jinja source), if its files carry one.
    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }
}

fn vocab_map(tokens: &[String]) -> Result<Vocab> {
    let mut vocab = Vocab::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        if let Some(prev) = vocab.insert(t.clone(), i as u32) {
            return Err(meta_err(
                "tokenizer.ggml.tokens",
                format!("token `{t}` appears twice (ids {prev} and {i})"),
            ));
        }
    }
    Ok(vocab)
}

fn byte_level_bpe(
    vocab: Vocab,
    merges: Vec<(String, String)>,
    spec: &PreTokenizerSpec,
    add_space_prefix: bool,
) -> Result<Tokenizer> {
    use tokenizers::pre_tokenizers::{byte_level::ByteLevel, sequence::Sequence, split::Split};

    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .ignore_merges(spec.ignore_merges)
        .build()
        .map_err(tok_err("building the BPE model"))?;
    let mut pre: Vec<PreTokenizerWrapper> = spec
        .regexes
        .iter()
        .map(|re| {
            Split::new(
                tokenizers::pre_tokenizers::split::SplitPattern::Regex(re.to_string()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map(PreTokenizerWrapper::from)
            .map_err(tok_err(format_args!("compiling pre-tokenizer regex {re}")))
        })
        .collect::<Result<_>>()?;
    // The regexes above already split the text; ByteLevel only maps bytes to its alphabet.
    pre.push(ByteLevel::new(false, false, false).into());

    let mut tok = Tokenizer::new(bpe);
    if add_space_prefix {
        let prepend = tokenizers::normalizers::Prepend::new(" ".into());
        tok.with_normalizer(Some(NormalizerWrapper::from(prepend)))
            .map_err(tok_err("setting the normalizer"))?;
    }
    tok.with_pre_tokenizer(Some(Sequence::new(pre)));
    tok.with_decoder(Some(DecoderWrapper::from(ByteLevel::default())));
    Ok(tok)
}

/// Merges of a SentencePiece vocabulary, as Hugging Face's `SentencePieceExtractor` derives them:
/// every split of a token into two vocabulary tokens is a merge, ranked by the merged token's
/// score (highest first); ties keep vocabulary order, then the ids of the two parts.
fn sentencepiece_merges(tokens: &[String], scores: &[f32], vocab: &Vocab) -> Vec<(String, String)> {
    let mut merges: Vec<(f32, u32, u32, usize, usize)> = Vec::new();
    for (id, piece) in tokens.iter().enumerate() {
        let start = merges.len();
        for (cut, _) in piece.char_indices().skip(1) {
            let (l, r) = piece.split_at(cut);
            if let (Some(&li), Some(&ri)) = (vocab.get(l), vocab.get(r)) {
                merges.push((scores[id], li, ri, id, cut));
            }
        }
        merges[start..].sort_by_key(|m| (m.1, m.2));
    }
    // Stable: equal scores keep the order built above.
    merges.sort_by(|a, b| b.0.total_cmp(&a.0));
    merges
        .into_iter()
        .map(|(_, _, _, id, cut)| {
            let (l, r) = tokens[id].split_at(cut);
            (l.to_string(), r.to_string())
        })
        .collect()
}

fn sentencepiece_bpe(
    tokens: &[String],
    scores: &[f32],
    vocab: Vocab,
    unk: Option<String>,
    add_space_prefix: bool,
) -> Result<Tokenizer> {
    use tokenizers::decoders::{
        byte_fallback::ByteFallback, fuse::Fuse, sequence::Sequence, strip::Strip,
    };
    use tokenizers::normalizers::{Prepend, Replace, Sequence as NormalizerSequence};

    let merges = sentencepiece_merges(tokens, scores, &vocab);
    let mut builder = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .byte_fallback(true)
        .fuse_unk(true);
    if let Some(unk) = unk {
        builder = builder.unk_token(unk);
    }
    let bpe = builder.build().map_err(tok_err("building the BPE model"))?;

    // SentencePiece sees "▁" for every space, plus one in front of the text (and, as in
    // llama.cpp, in front of the text after each special token: normalizers run per segment).
    let replace =
        |from: &str, to: &str| Replace::new(from, to).map_err(tok_err("building Replace"));
    let mut normalizers: Vec<NormalizerWrapper> = Vec::new();
    if add_space_prefix {
        normalizers.push(Prepend::new("▁".into()).into());
    }
    normalizers.push(replace(" ", "▁")?.into());
    let mut decoders: Vec<DecoderWrapper> = vec![
        replace("▁", " ")?.into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    if add_space_prefix {
        decoders.push(Strip::new(' ', 1, 0).into());
    }

    let mut tok = Tokenizer::new(bpe);
    tok.with_normalizer(Some(NormalizerSequence::new(normalizers)))
        .map_err(tok_err("setting the normalizer"))?;
    tok.with_decoder(Some(Sequence::new(decoders)));
    Ok(tok)
}

fn read_json_opt(path: &Path) -> Result<Option<serde_json::Value>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ModelError::Tokenizer(format!("{}: invalid JSON: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ModelError::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny SentencePiece vocabulary: control tokens, all 256 byte tokens, a few pieces.
    fn tiny_llama_metadata() -> HashMap<String, Value> {
        let mut tokens = vec!["<unk>".to_string(), "<s>".into(), "</s>".into()];
        let mut types = vec![2, 3, 3];
        for b in 0..=255u8 {
            tokens.push(format!("<0x{b:02X}>"));
            types.push(6);
        }
        let pieces: [(&str, f32); 14] = [
            ("▁", -1.0),
            ("h", -2.0),
            ("e", -2.0),
            ("l", -2.0),
            ("o", -2.0),
            ("w", -2.0),
            ("r", -2.0),
            ("d", -2.0),
            ("ll", -3.0),
            ("▁h", -4.0),
            ("▁he", -5.0),
            ("▁hell", -6.0),
            ("▁hello", -7.0),
            ("▁w", -8.0),
        ];
        let mut scores = vec![0.0f32; tokens.len()];
        for (p, s) in pieces {
            tokens.push(p.into());
            types.push(1);
            scores.push(s);
        }
        tokens.push("<my_tool>".into());
        types.push(4);
        scores.push(0.0);
        let arr = |v: Vec<Value>| Value::Array(v);
        HashMap::from([
            ("tokenizer.ggml.model".into(), Value::String("llama".into())),
            (
                "tokenizer.ggml.tokens".into(),
                arr(tokens.into_iter().map(Value::String).collect()),
            ),
            (
                "tokenizer.ggml.scores".into(),
                arr(scores.into_iter().map(Value::F32).collect()),
            ),
            (
                "tokenizer.ggml.token_type".into(),
                arr(types.into_iter().map(Value::I32).collect()),
            ),
            ("tokenizer.ggml.bos_token_id".into(), Value::U32(1)),
            ("tokenizer.ggml.eos_token_id".into(), Value::U32(2)),
        ])
    }

    #[test]
    fn sentencepiece_vocabulary_round_trips() {
        let tok = TextTokenizer::from_gguf(&tiny_llama_metadata()).unwrap();
        let id = |t: &str| tok.token_id(t).unwrap();
        assert!(tok.add_bos_token());
        assert_eq!(tok.bos_token().as_deref(), Some("<s>"));

        let enc = tok.encode("hello world", true).unwrap();
        let expected = vec![
            1,
            id("▁hello"),
            id("▁w"),
            id("o"),
            id("r"),
            id("l"),
            id("d"),
        ];
        assert_eq!(enc.ids, expected);
        assert_eq!(enc.offsets[1], (0, 5));
        assert_eq!(tok.decode(&enc.ids), "hello world");

        // Unknown characters fall back to bytes; "\n" is <0x0A>, "é" two bytes.
        let enc = tok.encode("he\né", false).unwrap();
        assert_eq!(
            enc.ids,
            vec![id("▁he"), id("<0x0A>"), id("<0xC3>"), id("<0xA9>")]
        );
        assert_eq!(tok.decode(&enc.ids), "he\né");

        // Special tokens in text, no double BOS, user-defined tokens kept by decode.
        let enc = tok.encode("<s>hello</s><my_tool>", true).unwrap();
        assert_eq!(enc.ids, vec![1, id("▁hello"), 2, id("<my_tool>")]);
        assert_eq!(tok.decode(&enc.ids), "hello<my_tool>");
        assert_eq!(tok.decode_with_special(&enc.ids), "<s> hello</s><my_tool>");
        assert_eq!(tok.end_of_turn_ids(), vec![2]);
    }

    #[test]
    fn sentencepiece_merges_follow_scores() {
        let tokens: Vec<String> = ["a", "b", "ab", "bb", "abb"].map(String::from).to_vec();
        let vocab = vocab_map(&tokens).unwrap();
        let merges = sentencepiece_merges(&tokens, &[0.0, 0.0, -1.0, -0.5, -2.0], &vocab);
        let m: Vec<(&str, &str)> = merges
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        assert_eq!(m, vec![("b", "b"), ("a", "b"), ("a", "bb"), ("ab", "b")]);
    }
}
