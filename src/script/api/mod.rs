//! The functions scripts call, registered into the engine, one file per concern (as rhai splits
//! its own API). Each converts its arguments, calls the Rust API that does the work, and converts
//! the result; none holds experiment logic.

mod models;
mod params;
mod personas;
mod plots;
mod progress;
mod records;
mod rng;
mod stats;
mod vectors;

pub use personas::ScriptLibrary;

use super::HostState;
use rhai::{Engine, EvalAltResult};
use std::sync::Arc;

type Fallible<T> = Result<T, Box<EvalAltResult>>;

fn fail<T>(message: impl Into<String>) -> Fallible<T> {
    Err(HostState::runtime_error(message))
}

pub(super) fn register(engine: &mut Engine, state: &Arc<HostState>) {
    models::register(engine, state);
    models::register_attention(engine);
    records::register(engine, state);
    params::register(engine, state);
    personas::register(engine, state);
    crate::metrics::register(engine);
    crate::paper::register(engine);
    stats::register(engine);
    plots::register(engine, state);
    rng::register(engine);
    progress::register(engine, state);
    vectors::register(engine, state);
}

/// The floats of a script `Vector`, if `value` is one.
pub(crate) fn vector_of(value: &rhai::Dynamic) -> Option<Vec<f32>> {
    value
        .read_lock::<crate::vectors::Vector>()
        .map(|v| v.as_slice().to_vec())
}

/// A vector handed to scripts: a `Vector`.
pub(crate) fn vector_value(values: Vec<f32>) -> rhai::Dynamic {
    rhai::Dynamic::from(crate::vectors::Vector::new(values))
}
