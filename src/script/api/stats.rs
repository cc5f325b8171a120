//! Registers statistics: `mean`, `std`, `percentile`, `correlation`, `ci`, `auroc`, `group_by`. No
//! experiment logic here: convert the
//! arguments, call `crate::stats`, convert the results.

use super::{Fallible, fail};
use crate::script::HostState;
use crate::script::convert::numbers;
use rhai::{Array, Dynamic, Engine, Map};

pub(super) fn register(engine: &mut Engine) {
    engine.register_fn("mean", |values: Array| -> Fallible<Dynamic> {
        let v = numbers(&values, "mean").or_else(fail)?;
        // `()` here surfaced lines later as "Function not found: - ((), ())".
        match crate::stats::mean(&v) {
            Some(m) => Ok(Dynamic::from(m)),
            None => fail(format!(
                "mean: no finite numbers to average (got {} values)",
                values.len()
            )),
        }
    });
    engine.register_fn(
        "percentile",
        |values: Array, q: rhai::FLOAT| -> Fallible<Dynamic> {
            let v = numbers(&values, "percentile").or_else(fail)?;
            if !(0.0..=1.0).contains(&q) {
                return fail(format!("percentile: q must be in [0, 1], got {q}"));
            }
            match crate::stats::percentile(&v, q) {
                Some(p) => Ok(Dynamic::from(p)),
                None => fail(format!(
                    "percentile: no finite numbers (got {} values)",
                    values.len()
                )),
            }
        },
    );
    engine.register_fn("correlation", |xs: Array, ys: Array| -> Fallible<Dynamic> {
        if xs.len() != ys.len() {
            return fail(format!(
                "correlation: the two lists differ in length ({} and {})",
                xs.len(),
                ys.len()
            ));
        }
        let (x, y) = (
            numbers(&xs, "correlation").or_else(fail)?,
            numbers(&ys, "correlation").or_else(fail)?,
        );
        // `()` when undefined (fewer than two pairs, or a constant side): records store it
        // as null and plots skip it.
        Ok(crate::stats::correlation(&x, &y).map_or(Dynamic::UNIT, Dynamic::from))
    });
    engine.register_fn("std", |values: Array| -> Fallible<Dynamic> {
        let v = numbers(&values, "std").or_else(fail)?;
        Ok(crate::stats::std(&v).map_or(Dynamic::UNIT, Dynamic::from))
    });
    engine.register_fn(
        "ci",
        |values: Array, level: rhai::FLOAT| -> Fallible<Dynamic> {
            let v = numbers(&values, "ci").or_else(fail)?;
            let interval = crate::stats::ci_t(&v, level).or_else(|e| fail(e.to_string()))?;
            Ok(interval_to_dynamic(interval))
        },
    );
    engine.register_fn(
        "ci",
        |values: Array, level: rhai::FLOAT, opts: Map| -> Fallible<Dynamic> {
            let v = numbers(&values, "ci").or_else(fail)?;
            let mut method = "t".to_string();
            let mut seed = 0u64;
            let mut resamples = 10_000usize;
            for (key, value) in &opts {
                match key.as_str() {
                    "method" => method = value.to_string(),
                    "seed" => {
                        seed = value.as_int().map_err(|t| {
                            HostState::runtime_error(format!(
                                "ci: seed must be an integer, not {t}"
                            ))
                        })? as u64
                    }
                    "resamples" => {
                        resamples = value
                            .as_int()
                            .map_err(|t| {
                                HostState::runtime_error(format!(
                                    "ci: resamples must be an integer, not {t}"
                                ))
                            })?
                            .max(1) as usize
                    }
                    other => {
                        return fail(format!(
                            "ci: unknown option `{other}` (valid: method, seed, resamples)"
                        ));
                    }
                }
            }
            let interval = match method.as_str() {
                "t" => crate::stats::ci_t(&v, level),
                "bootstrap" => crate::stats::ci_bootstrap(&v, level, resamples, seed),
                other => {
                    return fail(format!(
                        "ci: unknown method `{other}` (valid: t, bootstrap)"
                    ));
                }
            }
            .or_else(|e| fail(e.to_string()))?;
            Ok(interval_to_dynamic(interval))
        },
    );
    engine.register_fn(
        "auroc",
        |positive: Array, negative: Array| -> Fallible<Dynamic> {
            let p = numbers(&positive, "auroc (positive scores)").or_else(fail)?;
            let n = numbers(&negative, "auroc (negative scores)").or_else(fail)?;
            match crate::stats::auroc(&p, &n) {
                Some(a) => Ok(Dynamic::from(a)),
                None => fail(format!(
                    "auroc: each side needs a finite score (got {} positive, {} negative)",
                    p.iter().filter(|x| x.is_finite()).count(),
                    n.iter().filter(|x| x.is_finite()).count()
                )),
            }
        },
    );
    engine.register_fn("group_by", |records: Array, key: &str| -> Map {
        let mut groups: Vec<(String, Array)> = Vec::new();
        for record in records {
            let value = record
                .clone()
                .try_cast::<Map>()
                .and_then(|m| m.get(key).cloned())
                .unwrap_or(Dynamic::UNIT);
            let name = if value.is_string() {
                value.into_string().unwrap_or_default()
            } else {
                value.to_string()
            };
            match groups.iter_mut().find(|(n, _)| *n == name) {
                Some((_, members)) => members.push(record),
                None => groups.push((name, vec![record])),
            }
        }
        groups
            .into_iter()
            .map(|(k, v)| (k.into(), Dynamic::from(v)))
            .collect()
    });
}

fn interval_to_dynamic(interval: Option<(f64, f64)>) -> Dynamic {
    match interval {
        Some((lo, hi)) => Dynamic::from(vec![Dynamic::from(lo), Dynamic::from(hi)]),
        None => Dynamic::UNIT,
    }
}
