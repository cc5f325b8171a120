//! The local engine: a model's weights in this process, run by our own forward pass.
//!
//! Owns: loading (`config`, `loader`: GGUF metadata, `config.json` + safetensors), tokenizing
//! and chat templates (`tokenizer`, `template`), the forward pass (`transformer`) with its
//! explicit attention (`attention`) and the hooks that read or change it (`hooks`), key/value
//! state shared by prefix (`kv_cache`), weight layouts and matrix kernels (`quant`, `kquant`,
//! `kernels`, `kernels_k`, `isa`, `math`), threads (`pool`), the sampler, per-phase timers (`profile`), and `engine`,
//! which ties them into [`LocalModel`], a [`ChatModel`](super::ChatModel).
//!
//! Must not import: the HTTP backend, or anything above `model` (scripts, personas, records).

pub mod architecture;
pub mod attention;
pub mod config;
pub mod drafting;
pub mod engine;
pub mod hooks;
pub mod isa;
pub mod kernels;
pub mod kernels_k;
pub mod kquant;
pub mod kv_cache;
pub mod loader;
pub mod math;
pub mod pool;
pub mod profile;
pub mod quant;
pub mod sampler;
pub mod template;
pub mod tokenizer;
pub mod transformer;

pub use engine::{LocalModel, LocalOptions};
