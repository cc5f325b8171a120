//! Typed errors of the model layer: each names the file, tensor, format or option at fault, so
//! that a user who reads only the message knows what to fix.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a GGUF file: {reason}")]
    NotGguf { path: PathBuf, reason: String },
    #[error("{path} is truncated: {what} needs bytes up to {needed} but the file has {actual}")]
    Truncated {
        path: PathBuf,
        what: String,
        needed: u64,
        actual: u64,
    },
    #[error(
        "unsupported architecture `{0}` (supported: {supported})",
        supported = crate::model::local::architecture::Architecture::supported_names()
    )]
    UnsupportedArchitecture(String),
    #[error(
        "tensor `{tensor}` has unsupported type {dtype} (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)"
    )]
    UnsupportedQuantization { tensor: String, dtype: String },
    #[error("missing tensor `{0}` in the model file")]
    MissingTensor(String),
    #[error("tensor `{tensor}` has shape {actual:?}, expected {expected:?}")]
    BadShape {
        tensor: String,
        expected: Vec<usize>,
        actual: Vec<usize>,
    },
    #[error("missing or invalid metadata `{key}`: {reason}")]
    Metadata { key: String, reason: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("chat template: {0}")]
    Template(String),
    #[error("{0}")]
    InvalidOption(String),
    #[error("the prompt has {tokens} tokens but the model's context holds {context}")]
    ContextOverflow { tokens: usize, context: usize },
    #[error("fetching the default model")]
    Fetch(#[from] crate::fetch::FetchError),
    #[error("interrupted")]
    Interrupted,
    /// An HTTP backend's failure: the URL, the status and the server's message (never the key).
    #[error("{0}")]
    Http(String),
    /// candle's message only: not a `#[source]`, since its text is this error's whole message
    /// (and candle's own rendering appends a backtrace under `RUST_BACKTRACE`).
    #[error("{}", candle_message(.0))]
    Candle(candle_core::Error),
}

impl From<candle_core::Error> for ModelError {
    fn from(error: candle_core::Error) -> Self {
        ModelError::Candle(error)
    }
}

/// candle's message without the backtrace it appends when `RUST_BACKTRACE` is set.
pub fn candle_message(error: &candle_core::Error) -> String {
    error
        .to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;

impl ModelError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ModelError::Io {
            path: path.into(),
            source,
        }
    }
}
