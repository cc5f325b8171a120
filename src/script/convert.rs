//! Conversions between Rhai values and the Rust types behind them, with errors that say which
//! argument or option was wrong and what was expected.

use crate::model::options::{
    ActivationReadout, Positions, Readout, Reduce, ResidualEdit, ResidualOp,
};
use crate::model::{Message, SamplingOptions};
use crate::vectors::Vector;
use rhai::{Array, Dynamic, Map};
use serde_json::Value;

/// A Rhai value as JSON (maps keep their keys sorted, as Rhai stores them).
pub fn to_json(value: &Dynamic) -> Value {
    if value.is_unit() {
        return Value::Null;
    }
    if let Some(b) = value.clone().try_cast::<bool>() {
        return Value::Bool(b);
    }
    if let Some(i) = value.clone().try_cast::<rhai::INT>() {
        return Value::from(i);
    }
    if let Some(f) = value.clone().try_cast::<rhai::FLOAT>() {
        return serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number);
    }
    if value.is_string() {
        return Value::String(value.clone().into_string().unwrap_or_default());
    }
    if value.is_array() {
        let array = value.clone().into_array().unwrap_or_default();
        return Value::Array(array.iter().map(to_json).collect());
    }
    if value.is_map() {
        let map = value.clone().cast::<Map>();
        return Value::Object(
            map.iter()
                .map(|(k, v)| (k.to_string(), to_json(v)))
                .collect(),
        );
    }
    // A Vector becomes its numbers (not its `to_string`), so `vector(r.x)` gives back the bits.
    if let Some(v) = value.read_lock::<Vector>() {
        return Value::Array(v.as_slice().iter().map(|&x| f32_to_json(x)).collect());
    }
    Value::String(value.to_string())
}

/// An f32 as a JSON number that reads back as the same f32: its shortest f32 text where that
/// holds when read as f64 and rounded to f32 (almost always: `0.1`, not `0.10000000149011612`),
/// else its exact f64 value. Non-finite values become null, as any NaN in a record does.
fn f32_to_json(x: f32) -> Value {
    let short = x.to_string().parse::<f64>().unwrap_or(x as f64);
    let exact = if short as f32 == x { short } else { x as f64 };
    serde_json::Number::from_f64(exact).map_or(Value::Null, Value::Number)
}

/// JSON as a Rhai value: integers stay integers, objects become maps.
pub fn from_json(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64().unwrap_or(f64::NAN).into(),
        },
        Value::String(s) => s.clone().into(),
        Value::Array(a) => a.iter().map(from_json).collect::<Array>().into(),
        Value::Object(o) => {
            let map: Map = o
                .iter()
                .map(|(k, v)| (k.as_str().into(), from_json(v)))
                .collect();
            map.into()
        }
    }
}

/// A number (integer or float) as f64.
pub fn as_number(value: &Dynamic) -> Option<f64> {
    if let Some(i) = value.clone().try_cast::<rhai::INT>() {
        return Some(i as f64);
    }
    value.clone().try_cast::<rhai::FLOAT>()
}

/// An array of numbers, or an error naming the first bad element.
pub fn numbers(values: &Array, what: &str) -> Result<Vec<f64>, String> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            as_number(v).ok_or_else(|| {
                format!(
                    "{what}: element {i} is {} ({v}), not a number",
                    v.type_name()
                )
            })
        })
        .collect()
}

/// Chat messages: an array of `#{role, content}` maps.
pub fn messages(value: &Array) -> Result<Vec<Message>, String> {
    value
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let map = item.clone().try_cast::<Map>().ok_or_else(|| {
                format!(
                    "message {i} must be a map #{{role: …, content: …}}, not {}",
                    item.type_name()
                )
            })?;
            let field = |name: &str| -> Result<String, String> {
                let value = map
                    .get(name)
                    .ok_or_else(|| format!("message {i} has no `{name}`"))?;
                value
                    .clone()
                    .into_string()
                    .map_err(|t| format!("message {i}: `{name}` must be a string, not {t}"))
            };
            let extra: Vec<&str> = map
                .keys()
                .map(|k| k.as_str())
                .filter(|k| *k != "role" && *k != "content")
                .collect();
            if !extra.is_empty() {
                return Err(format!(
                    "message {i}: unknown field(s) {} (a message has role and content)",
                    extra.join(", ")
                ));
            }
            let role = field("role")?;
            // Templates render any role as given, so a typo would reach the model silently.
            if !["system", "user", "assistant"].contains(&role.as_str()) {
                return Err(format!(
                    "message {i}: role `{role}` is not one of system, user, assistant"
                ));
            }
            Ok(Message::new(role, field("content")?))
        })
        .collect()
}

/// Names `chat` accepts in its options map.
pub const CHAT_OPTIONS: &[&str] = &[
    "temperature",
    "top_p",
    "top_k",
    "max_tokens",
    "seed",
    "stop",
    "attention",
    "split_softmax",
    "layers",
    "cfg",
    "activations",
    "steer",
];

/// Sampling options from a Rhai map; `seed` is `None` when the map does not set it (the host
/// then derives one). Unknown names are an error listing the valid ones.
pub fn sampling_options(map: &Map) -> Result<(SamplingOptions, Option<u64>), String> {
    let mut opts = SamplingOptions::default();
    let mut seed = None;
    for (key, value) in map {
        let number = || {
            as_number(value).ok_or_else(|| {
                format!("option `{key}` must be a number, not {}", value.type_name())
            })
        };
        let count = || -> Result<usize, String> {
            let n = value.clone().try_cast::<rhai::INT>().ok_or_else(|| {
                format!(
                    "option `{key}` must be an integer, not {}",
                    value.type_name()
                )
            })?;
            usize::try_from(n).map_err(|_| format!("option `{key}` must not be negative, got {n}"))
        };
        match key.as_str() {
            "temperature" => opts.temperature = number()?,
            "top_p" => opts.top_p = number()?,
            "top_k" => opts.top_k = count()?,
            "max_tokens" => opts.max_tokens = count()?,
            "seed" => seed = Some(count()? as u64),
            "stop" => {
                opts.stop = if value.is_string() {
                    vec![value.clone().into_string().unwrap_or_default()]
                } else if value.is_array() {
                    value
                        .clone()
                        .into_array()
                        .unwrap_or_default()
                        .into_iter()
                        .map(|s| {
                            s.into_string()
                                .map_err(|t| format!("option `stop` must hold strings, not {t}"))
                        })
                        .collect::<Result<_, _>>()?
                } else {
                    return Err(format!(
                        "option `stop` must be a string or an array of strings, not {}",
                        value.type_name()
                    ));
                }
            }
            "attention" => {
                opts.intervention.attention = if let Some(on) = value.clone().try_cast::<bool>() {
                    if on { Readout::Pi } else { Readout::Off }
                } else {
                    match value.clone().into_string().as_deref() {
                        Ok("full") => Readout::Full,
                        Ok("pi") => Readout::Pi,
                        _ => {
                            return Err(format!(
                                "option `attention` must be true, false or \"full\", not {}",
                                describe(value)
                            ));
                        }
                    }
                }
            }
            "split_softmax" => opts.intervention.split_softmax = Some(number()?),
            "cfg" => opts.intervention.cfg = Some(number()?),
            "layers" => {
                let bounds: Vec<usize> = value
                    .clone()
                    .into_array()
                    .ok()
                    .and_then(|a| {
                        a.into_iter()
                            .map(|v| {
                                v.try_cast::<rhai::INT>()
                                    .and_then(|i| usize::try_from(i).ok())
                            })
                            .collect::<Option<Vec<_>>>()
                    })
                    .filter(|b| b.len() == 2)
                    .ok_or_else(|| {
                        format!(
                            "option `layers` must be [first, last], two layer numbers ≥ 0, not {}",
                            describe(value)
                        )
                    })?;
                opts.intervention.layers = Some((bounds[0], bounds[1]));
            }
            "activations" => opts.intervention.activations = Some(activations_option(value)?),
            "steer" => opts.intervention.steer = steer_option(value)?,
            other => {
                return Err(format!(
                    "unknown option `{other}` (valid options: {})",
                    CHAT_OPTIONS.join(", ")
                ));
            }
        }
    }
    opts.validate().map_err(|e| crate::util::error_chain(&e))?;
    Ok((opts, seed))
}

/// `activations: #{layers: [10, 20], reduce: "mean" | "last"}`.
pub fn activations_option(value: &Dynamic) -> Result<ActivationReadout, String> {
    let map = value.read_lock::<Map>().ok_or_else(|| {
        format!(
            "option `activations` must be a map like #{{layers: [10, 20], reduce: \"mean\"}}, not {}",
            describe(value)
        )
    })?;
    let mut readout = ActivationReadout::default();
    for (key, v) in map.iter() {
        match key.as_str() {
            "layers" => readout.layers = layer_list("activations.layers", v)?,
            "reduce" => {
                readout.reduce = match v.clone().into_string().as_deref() {
                    Ok("mean") => Reduce::Mean,
                    Ok("last") => Reduce::Last,
                    _ => {
                        return Err(format!(
                            "option `activations.reduce` must be \"mean\" or \"last\", not {}",
                            describe(v)
                        ));
                    }
                }
            }
            other => {
                return Err(format!(
                    "unknown key `{other}` in option `activations` (valid: layers, reduce)"
                ));
            }
        }
    }
    Ok(readout)
}

/// Layer numbers: one integer or an array of them, each ≥ 0.
fn layer_list(what: &str, value: &Dynamic) -> Result<Vec<usize>, String> {
    let items = match value.clone().into_array() {
        Ok(items) => items,
        Err(_) => vec![value.clone()],
    };
    items
        .into_iter()
        .map(|v| {
            v.clone()
                .try_cast::<rhai::INT>()
                .and_then(|i| usize::try_from(i).ok())
                .ok_or_else(|| {
                    format!("`{what}` must hold layer numbers ≥ 0, not {}", describe(&v))
                })
        })
        .collect()
}

/// A vector of floats: a script `Vector` or an array of numbers.
pub fn float_vector(what: &str, value: &Dynamic) -> Result<Vec<f32>, String> {
    if let Some(v) = crate::script::api::vector_of(value) {
        return Ok(v);
    }
    let items = value.clone().into_array().map_err(|_| {
        format!(
            "`{what}` must be a Vector or an array of numbers, not {}",
            describe(value)
        )
    })?;
    items
        .iter()
        .map(|x| {
            as_number(x)
                .map(|f| f as f32)
                .ok_or_else(|| format!("`{what}` must hold numbers, not {}", describe(x)))
        })
        .collect()
}

/// `steer: [#{op: "add" | "ablate" | "mean_ablate" | "cap", layer (or layers: [a, b] for each
/// layer from a to b), vector, coefficient, mean, threshold, positions: "all" | "last"}, …]`,
/// one map or an array of them.
pub fn steer_option(value: &Dynamic) -> Result<Vec<ResidualEdit>, String> {
    let maps = match value.clone().into_array() {
        Ok(items) => items,
        Err(_) => vec![value.clone()],
    };
    let mut edits = Vec::new();
    for (i, item) in maps.iter().enumerate() {
        let map = item.read_lock::<Map>().ok_or_else(|| {
            format!(
                "steer[{i}] must be a map like #{{op: \"add\", layer: 12, vector: v, coefficient: -4.0}}, not {}",
                describe(item)
            )
        })?;
        let get = |name: &str| map.get(name);
        const KEYS: &[&str] = &[
            "op",
            "layer",
            "layers",
            "vector",
            "coefficient",
            "mean",
            "threshold",
            "positions",
        ];
        if let Some(unknown) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(format!(
                "steer[{i}]: unknown key `{unknown}` (valid: {})",
                KEYS.join(", ")
            ));
        }
        let op = get("op")
            .and_then(|v| v.clone().into_string().ok())
            .ok_or_else(|| {
                format!("steer[{i}]: give op: \"add\", \"ablate\", \"mean_ablate\" or \"cap\"")
            })?;
        let vector = float_vector(
            &format!("steer[{i}].vector"),
            get("vector").ok_or_else(|| format!("steer[{i}] ({op}): give the vector"))?,
        )?;
        let scalar = |name: &str| -> Result<f32, String> {
            let v = get(name).ok_or_else(|| format!("steer[{i}] ({op}): give the {name}"))?;
            as_number(v).map(|f| f as f32).ok_or_else(|| {
                format!(
                    "steer[{i}] ({op}): {name} must be a number, not {}",
                    describe(v)
                )
            })
        };
        let op_value = match op.as_str() {
            "add" => ResidualOp::Add {
                vector,
                coefficient: scalar("coefficient")?,
            },
            "ablate" => ResidualOp::Ablate {
                vector,
                coefficient: if get("coefficient").is_some() {
                    scalar("coefficient")?
                } else {
                    0.0
                },
            },
            "mean_ablate" => ResidualOp::MeanAblate {
                vector,
                mean: float_vector(
                    &format!("steer[{i}].mean"),
                    get("mean")
                        .ok_or_else(|| format!("steer[{i}] (mean_ablate): give the mean"))?,
                )?,
            },
            "cap" => ResidualOp::Cap {
                vector,
                threshold: scalar("threshold")?,
            },
            other => {
                return Err(format!(
                    "steer[{i}]: unknown op `{other}` (valid: add, ablate, mean_ablate, cap)"
                ));
            }
        };
        let positions = match get("positions").map(|v| v.clone().into_string()) {
            None => Positions::All,
            Some(Ok(p)) if p == "all" => Positions::All,
            Some(Ok(p)) if p == "last" => Positions::Last,
            Some(_) => {
                return Err(format!(
                    "steer[{i}] ({op}): positions must be \"all\" or \"last\""
                ));
            }
        };
        let layers = match (get("layer"), get("layers")) {
            (Some(l), None) => layer_list(&format!("steer[{i}].layer"), l)?,
            (None, Some(range)) => {
                let bounds = layer_list(&format!("steer[{i}].layers"), range)?;
                match bounds[..] {
                    [first, last] if first <= last => (first..=last).collect(),
                    _ => {
                        return Err(format!(
                            "steer[{i}] ({op}): layers must be [first, last] with first ≤ last"
                        ));
                    }
                }
            }
            _ => {
                return Err(format!(
                    "steer[{i}] ({op}): give layer: N or layers: [first, last]"
                ));
            }
        };
        for layer in layers {
            edits.push(ResidualEdit {
                layer,
                positions,
                op: op_value.clone(),
            });
        }
    }
    Ok(edits)
}

/// A value for an error message: its type, and the value itself when short.
fn describe(value: &Dynamic) -> String {
    let text = value.to_string();
    if text.len() <= 40 {
        format!("{} {text}", value.type_name())
    } else {
        value.type_name().to_string()
    }
}

/// `--set name=value` text as a typed value: integer, float, boolean, else string (quotes
/// around a value force a string).
pub fn parse_set_value(text: &str) -> Dynamic {
    let trimmed = text.trim();
    if trimmed.len() >= 2 && trimmed.starts_with('"') && trimmed.ends_with('"') {
        return trimmed[1..trimmed.len() - 1].to_string().into();
    }
    if let Ok(i) = trimmed.parse::<rhai::INT>() {
        return i.into();
    }
    if let Ok(f) = trimmed.parse::<rhai::FLOAT>() {
        return f.into();
    }
    match trimmed {
        "true" => true.into(),
        "false" => false.into(),
        _ => text.to_string().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_values_are_typed() {
        assert_eq!(parse_set_value("8").as_int().unwrap(), 8);
        assert_eq!(parse_set_value("0.5").as_float().unwrap(), 0.5);
        assert!(parse_set_value("true").as_bool().unwrap());
        assert_eq!(parse_set_value("pirate").into_string().unwrap(), "pirate");
        assert_eq!(parse_set_value("\"8\"").into_string().unwrap(), "8");
    }

    #[test]
    fn options_are_checked_by_name() {
        let mut map = Map::new();
        map.insert("temprature".into(), Dynamic::from(1.0));
        let err = sampling_options(&map).unwrap_err();
        assert_eq!(
            err,
            "unknown option `temprature` (valid options: temperature, top_p, top_k, max_tokens, seed, stop, attention, split_softmax, layers, cfg, activations, steer)"
        );
        let mut map = Map::new();
        map.insert("max_tokens".into(), Dynamic::from("many"));
        assert_eq!(
            sampling_options(&map).unwrap_err(),
            "option `max_tokens` must be an integer, not string"
        );
    }

    #[test]
    fn json_round_trips() {
        let value = serde_json::json!({"a": 1, "b": [1.5, "x", true, null], "c": {"d": -2}});
        assert_eq!(to_json(&from_json(&value)), value);
    }

    /// Bad residual-stream options name the edit and what is wrong.
    #[test]
    fn bad_activations_and_steer_options_name_the_problem() {
        let err = |key: &str, value: Dynamic| {
            let mut map = Map::new();
            map.insert(key.into(), value);
            sampling_options(&map).unwrap_err()
        };
        let edit = |pairs: &[(&str, Dynamic)]| {
            let map: Map = pairs
                .iter()
                .map(|(k, v)| ((*k).into(), v.clone()))
                .collect();
            Dynamic::from_map(map)
        };
        let floats = |n: usize| Dynamic::from_array(vec![Dynamic::from(1.0); n]);
        assert!(
            err("activations", Dynamic::from(3 as rhai::INT))
                .contains("option `activations` must be a map")
        );
        let reduce = edit(&[
            ("layers", Dynamic::from(3 as rhai::INT)),
            ("reduce", "median".into()),
        ]);
        let e = err("activations", reduce);
        assert!(e.contains("must be \"mean\" or \"last\""), "{e}");
        let layers = edit(&[(
            "layers",
            Dynamic::from_array(vec![Dynamic::from(-1 as rhai::INT)]),
        )]);
        assert!(err("activations", layers).contains("must hold layer numbers ≥ 0"));
        let unknown_op = edit(&[
            ("op", "push".into()),
            ("layer", Dynamic::from(1 as rhai::INT)),
            ("vector", floats(2)),
        ]);
        assert!(err("steer", unknown_op).contains("steer[0]: unknown op `push`"));
        let no_vector = edit(&[
            ("op", "cap".into()),
            ("layer", Dynamic::from(1 as rhai::INT)),
        ]);
        assert!(err("steer", no_vector).contains("steer[0] (cap): give the vector"));
        let words = Dynamic::from_array(vec!["a".into()]);
        let bad_vector = edit(&[
            ("op", "add".into()),
            ("layer", Dynamic::from(1 as rhai::INT)),
            ("vector", words),
        ]);
        assert!(err("steer", bad_vector).contains("`steer[0].vector` must hold numbers"));
        let tau = edit(&[
            ("op", "cap".into()),
            ("layer", Dynamic::from(1 as rhai::INT)),
            ("vector", floats(2)),
            ("threshold", "high".into()),
        ]);
        assert!(err("steer", tau).contains("steer[0] (cap): threshold must be a number"));
        let range = edit(&[
            ("op", "cap".into()),
            (
                "layers",
                Dynamic::from_array(vec![
                    Dynamic::from(4 as rhai::INT),
                    Dynamic::from(2 as rhai::INT),
                ]),
            ),
            ("vector", floats(2)),
            ("threshold", Dynamic::from(1.0)),
        ]);
        assert!(err("steer", range).contains("first ≤ last"));
        let typo = edit(&[
            ("op", "add".into()),
            ("layer", Dynamic::from(1 as rhai::INT)),
            ("vector", floats(2)),
            ("coef", Dynamic::from(1.0)),
        ]);
        assert!(err("steer", typo).contains("steer[0]: unknown key `coef`"));
        let nowhere = edit(&[
            ("op", "add".into()),
            ("vector", floats(2)),
            ("coefficient", Dynamic::from(1.0)),
        ]);
        assert!(err("steer", nowhere).contains("give layer: N or layers: [first, last]"));
    }
}
