//! Registers `param(name, default)`, which reads `--set` values (and `seed`). No experiment
//! logic here: look the value up, convert it to the default's type.

use super::{Fallible, fail};
use crate::script::HostState;
use rhai::{Dynamic, Engine};
use std::sync::Arc;

pub(super) fn register(engine: &mut Engine, state: &Arc<HostState>) {
    let s = state.clone();
    engine.register_fn(
        "param",
        move |name: &str, default: Dynamic| -> Fallible<Dynamic> {
            let value = if name == "seed" {
                Some(Dynamic::from(s.config.seed as rhai::INT))
            } else {
                s.config
                    .params
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
            };
            let Some(value) = value else {
                return Ok(default);
            };
            // The default fixes the type; integers widen to floats.
            if default.is_unit() || value.type_name() == default.type_name() {
                return Ok(value);
            }
            if default.is_float()
                && let Some(i) = value.clone().try_cast::<rhai::INT>()
            {
                return Ok(Dynamic::from(i as rhai::FLOAT));
            }
            if default.is_string() {
                return Ok(Dynamic::from(value.to_string()));
            }
            fail(format!(
                "--set {name}={value}: expected {} like the default {default}",
                match default.type_name() {
                    "i64" => "an integer",
                    "f64" => "a number",
                    "bool" => "true or false",
                    other => other,
                }
            ))
        },
    );
}
