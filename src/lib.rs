//! drift-script: experiments on persona drift in chatbots.
//!
//! See ARCHITECTURE.md for the bird's-eye view. The library holds everything; `main.rs` only
//! hands the command line to `cli::run` and prints errors.

pub mod bench;
pub mod cli;
pub mod fetch;
pub mod interrupt;
pub mod merge;
pub mod metrics;
pub mod model;
pub mod paper;
pub mod persona;
pub mod plot;
pub mod progress;
pub mod script;
pub mod stats;
pub mod store;
pub mod synth;
pub mod util;
pub mod vectors;
pub mod view;
