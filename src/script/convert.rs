//! Conversions between Rhai values and the Rust types behind them, with errors that say which
//! argument or option was wrong and what was expected.

use crate::model::options::Readout;
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
            "unknown option `temprature` (valid options: temperature, top_p, top_k, max_tokens, seed, stop, attention, split_softmax, layers, cfg)"
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
}
