//! Registers progress bars (`progress(total)`, `tick`, `finish`). No experiment logic here: wrap
//! indicatif's bar, hidden in workers.

use crate::script::HostState;
use rhai::Engine;
use std::sync::Arc;

#[derive(Clone)]
pub struct Progress(indicatif::ProgressBar);

pub(super) fn register(engine: &mut Engine, state: &Arc<HostState>) {
    engine.register_type_with_name::<Progress>("Progress");
    let s = state.clone();
    engine.register_fn("progress", move |total: rhai::INT| {
        if s.is_worker() {
            return Progress(indicatif::ProgressBar::hidden());
        }
        let bar = indicatif::ProgressBar::new(total.max(0) as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} [{elapsed_precise}, {eta} left]",
        ) {
            bar.set_style(style);
        }
        Progress(bar)
    });
    engine.register_fn("tick", |p: &mut Progress| p.0.inc(1));
    engine.register_fn("finish", |p: &mut Progress| p.0.finish());
}
