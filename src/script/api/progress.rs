//! Registers `progress(total)`: the script declares how many `once(…)` units its run has, so the
//! progress line (`crate::progress`) can say units done of total and the time left. No
//! experiment logic here: check the number and hand it to the run's unit counts.

use super::{Fallible, fail};
use crate::script::HostState;
use rhai::Engine;
use std::sync::Arc;

pub(super) fn register(engine: &mut Engine, state: &Arc<HostState>) {
    let s = state.clone();
    engine.register_fn("progress", move |total: rhai::INT| -> Fallible<()> {
        let Ok(total) = u64::try_from(total) else {
            return fail(format!(
                "progress({total}): the number of units must be 0 or more"
            ));
        };
        s.units.declare_total(total);
        // A resumed run: open its folder now, so the units it completed count as done from
        // the first drawing of the line. (A new run's folder is made by its first unit, as
        // before; the REPL's by its first record.)
        if s.config.script.is_some() && s.run_dir.join("run.json").exists() {
            s.with_store(|_| Ok(()))?;
        }
        crate::progress::refresh();
        Ok(())
    });
}
