//! The language-model layer: one trait for every backend, and the local engine behind it.
//!
//! Code map: `engine` (the local model: load, prefix cache, generate), `llama` (the forward
//! pass), `attention` (explicit attention, where read-outs and interventions hook in),
//! `kv_cache` (block-shared key/value state), `kernels` + `quant` (weight layouts and matrix
//! kernels), `math` (element-wise pieces), `pool` (threads), `sampler`, `tokenizer`,
//! `template` (chat templates), `config` + `loader` (reading GGUF and safetensors), `fetch`
//! (the embedded default model).

pub mod attention;
pub mod config;
pub mod engine;
pub mod error;
pub mod fetch;
pub mod kernels;
pub mod kv_cache;
pub mod llama;
pub mod loader;
pub mod math;
pub mod pool;
pub mod quant;
pub mod sampler;
pub mod template;
pub mod tokenizer;

pub use engine::{LocalModel, LocalOptions};
pub use error::{ModelError, Result};
pub use sampler::SamplingOptions;
pub use template::Message;

/// Why an answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishReason {
    /// An end-of-turn token or a stop string.
    Stop,
    /// `max_tokens` or the context length.
    Length,
}

/// One sampled answer and what it cost.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Generation {
    pub text: String,
    pub tokens: Vec<u32>,
    pub finish_reason: FinishReason,
    pub prompt_tokens: usize,
    /// Prompt tokens whose state came from the prefix cache.
    pub cached_prompt_tokens: usize,
    /// Wall time of the prompt (shared by all answers of one call).
    pub prompt_ms: f64,
    /// Wall time of decoding (all answers of one call decode together).
    pub decode_ms: f64,
}

/// What a model is, for records and `m.info()`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelInfo {
    pub name: String,
    pub backend: String,
    pub path: String,
    pub architecture: String,
    pub context_length: usize,
    pub vocab_size: usize,
    pub weight_bytes: usize,
}

/// A chat model: the local engine now, HTTP backends later.
pub trait ChatModel: Send + Sync {
    fn info(&self) -> &ModelInfo;
    /// `n` answers to one conversation, sampled together.
    fn chat(&self, messages: &[Message], n: usize, opts: &SamplingOptions) -> Result<Vec<Generation>>;
    fn count_tokens(&self, messages: &[Message]) -> Result<usize>;
    /// sha256 of the weights file, for records (empty when there is no single file).
    fn sha256(&self) -> String {
        String::new()
    }
}
