//! The language-model layer: one trait for every backend, and the two backends behind it.
//!
//! Owns: [`ChatModel`] and the types every backend shares (messages, sampling and intervention
//! options, generations and their read-outs, usage counts, errors). The backends:
//! [`local`] (the engine on this machine: GGUF and safetensors weights, our own forward pass,
//! attention read-out and interventions) and [`openai`] (any OpenAI-compatible server over HTTP).
//!
//! Must not import: scripts, personas, records, plots (`model` is the bottom layer), and the
//! HTTP backend never imports `local`'s internals.

pub mod error;
pub mod local;
pub mod openai;
pub mod options;
pub mod readout;

pub use error::{ModelError, Result};
pub use local::{LocalModel, LocalOptions};
pub use openai::{HttpOptions, OpenAiModel};
pub use options::{Intervention, Readout, SamplingOptions};
pub use readout::AttentionTrace;

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            role: role.into(),
            content: content.into(),
        }
    }

    pub fn system(content: impl Into<String>) -> Self {
        Message::new("system", content)
    }

    pub fn user(content: impl Into<String>) -> Self {
        Message::new("user", content)
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Message::new("assistant", content)
    }
}

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
    /// The attention read-out, when the call asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attention: Option<AttentionTrace>,
    /// Tokens generated for this answer (`tokens.len()` locally; from the server's `usage`
    /// over HTTP, where a total for several answers is split between them).
    pub completion_tokens: usize,
    /// The model name the server reported (HTTP backends); `None` for the local engine.
    pub served_model: Option<String>,
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
    /// The residual stream's width (0 where unknown: the HTTP backend).
    pub hidden_size: usize,
}

/// A chat model: the local engine (`engine`) or an OpenAI-compatible server (`openai`).
pub trait ChatModel: Send + Sync {
    fn info(&self) -> &ModelInfo;
    /// `n` answers to one conversation, sampled together.
    fn chat(
        &self,
        messages: &[Message],
        n: usize,
        opts: &SamplingOptions,
    ) -> Result<Vec<Generation>>;
    fn count_tokens(&self, messages: &[Message]) -> Result<usize>;
    /// sha256 of the weights file, for records (empty when there is no single file).
    fn sha256(&self) -> String {
        String::new()
    }
    /// Several conversations, each with its own seed, `n` answers each, sampled together where
    /// the backend can. The default runs them one after the other.
    fn chat_batch(
        &self,
        conversations: &[(Vec<Message>, u64)],
        n: usize,
        opts: &SamplingOptions,
    ) -> Result<Vec<Vec<Generation>>> {
        conversations
            .iter()
            .map(|(messages, seed)| {
                self.chat(
                    messages,
                    n,
                    &SamplingOptions {
                        seed: *seed,
                        ..opts.clone()
                    },
                )
            })
            .collect()
    }
    /// Starts `n` answers to each conversation and returns without waiting for them, so that
    /// independent requests can be decoded together. The default computes them at once.
    fn submit(
        &self,
        conversations: &[(Vec<Message>, u64)],
        n: usize,
        opts: &SamplingOptions,
    ) -> Result<Vec<Ticket>> {
        Ok(self
            .chat_batch(conversations, n, opts)?
            .into_iter()
            .map(Ticket::Ready)
            .collect())
    }
    /// The answers of a submitted conversation.
    fn wait(&self, ticket: Ticket) -> Result<Vec<Generation>> {
        match ticket {
            Ticket::Ready(answers) => Ok(answers),
            Ticket::Pending(id) => Err(ModelError::InvalidOption(format!(
                "request {id} belongs to another model"
            ))),
        }
    }
    /// Tokens processed so far by this model (all calls).
    fn usage(&self) -> Usage {
        Usage::default()
    }
}

/// A submitted request: its answers, or the backend's handle for them.
#[derive(Debug, Clone)]
pub enum Ticket {
    Ready(Vec<Generation>),
    Pending(u64),
}

/// Token counts since a model was loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    /// Prompt tokens whose state came from the prefix cache instead of being computed.
    pub cached_prompt_tokens: u64,
    pub generated_tokens: u64,
}

/// Thread-safe counters behind `Usage`.
#[derive(Debug, Default)]
pub struct UsageCounters {
    prompt: std::sync::atomic::AtomicU64,
    cached: std::sync::atomic::AtomicU64,
    generated: std::sync::atomic::AtomicU64,
}

impl UsageCounters {
    pub fn record_prompt(&self, tokens: usize, cached: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        self.prompt.fetch_add(tokens as u64, Relaxed);
        self.cached.fetch_add(cached as u64, Relaxed);
    }

    pub fn record_generated(&self, tokens: usize) {
        self.generated
            .fetch_add(tokens as u64, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Usage {
        use std::sync::atomic::Ordering::Relaxed;
        Usage {
            prompt_tokens: self.prompt.load(Relaxed),
            cached_prompt_tokens: self.cached.load(Relaxed),
            generated_tokens: self.generated.load(Relaxed),
        }
    }
}
