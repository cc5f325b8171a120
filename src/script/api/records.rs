//! Registers records and units of work: `record`, `results`, `run_dir`, `save_csv`, `once`. No
//! experiment logic here: convert the arguments, call the host state and the store, convert the
//! results.

use super::{Fallible, fail};
use crate::script::convert::{from_json, to_json};
use crate::script::sandbox::Access;
use crate::script::{HostState, Role, UnitState, map_to_json};
use rhai::{Array, Dynamic, Engine, FnPtr, Map, NativeCallContext};
use std::sync::Arc;

pub(super) fn register(engine: &mut Engine, state: &Arc<HostState>) {
    let s = state.clone();
    engine.register_fn("record", move |map: Map| -> Fallible<()> {
        if map.keys().any(|k| k.starts_with('_')) {
            return fail(
                "record keys starting with `_` are reserved for drift-script (e.g. `_meta`)",
            );
        }
        warn_of_non_finite(&s, &map);
        s.record(map_to_json(&map))
    });
    let s = state.clone();
    engine.register_fn("results", move || -> Fallible<Array> {
        Ok(s.results()?
            .into_iter()
            .map(|r| from_json(&serde_json::Value::Object(r)))
            .collect())
    });
    let s = state.clone();
    engine.register_fn("run_dir", move || s.run_dir.display().to_string());
    let s = state.clone();
    engine.register_fn("save_csv", move |path: &str| -> Fallible<String> {
        let target = s.sandbox.resolve(path, Access::Write).or_else(fail)?;
        if s.is_worker() {
            return Ok(target.display().to_string()); // the main pass writes it
        }
        let records = s.results()?;
        let csv = crate::util::records_to_csv(&records);
        crate::store::write_atomically(&target, csv.as_bytes())
            .or_else(|e| fail(crate::util::error_chain(&e)))?;
        Ok(target.display().to_string())
    });
    let s = state.clone();
    engine.register_fn(
        "once",
        move |ctx: NativeCallContext, key: Dynamic, body: FnPtr| -> Fallible<Array> {
            once(&s, &ctx, &key, &body)
        },
    );
}

/// JSON has no NaN or infinity, so such a value is stored as null, where plots and means skip
/// it: says so on stderr, once per key and run, so that a broken score does not vanish unseen.
fn warn_of_non_finite(state: &HostState, map: &Map) {
    fn has_non_finite(value: &Dynamic) -> bool {
        if let Ok(x) = value.as_float() {
            return !x.is_finite();
        }
        if let Some(array) = value.read_lock::<Array>() {
            return array.iter().any(has_non_finite);
        }
        if let Some(map) = value.read_lock::<Map>() {
            return map.values().any(has_non_finite);
        }
        if let Some(v) = value.read_lock::<crate::vectors::Vector>() {
            return v.as_slice().iter().any(|x| !x.is_finite());
        }
        false
    }
    for (key, value) in map {
        if has_non_finite(value)
            && state.may_print()
            && state.nulled_keys.lock().unwrap().insert(key.to_string())
        {
            crate::progress::eprintln(format_args!(
                "[{}] warning: record key `{key}` holds NaN or an infinity, stored as null \
                 (JSON has neither); plots and means skip it",
                state.script_name
            ));
        }
    }
}

/// Runs `body` unless unit `key` was completed by an earlier session of this run, in which
/// case its records are returned without running it.
fn once(
    state: &HostState,
    ctx: &NativeCallContext,
    key: &Dynamic,
    body: &FnPtr,
) -> Fallible<Array> {
    let key = if key.is_string() {
        key.clone().into_string().unwrap_or_default()
    } else {
        to_json(key).to_string()
    };
    let to_array = |records: &[serde_json::Map<String, serde_json::Value>]| -> Array {
        records
            .iter()
            .map(|r| from_json(&serde_json::Value::Object(r.clone())))
            .collect()
    };
    let (seq, first) = state.visits.lock().unwrap().unit(&key);
    // A script that repeats a key would silently skip the second body. (In the REPL, running a
    // line again is how one retries a unit, or gets its records back.)
    if !first && state.config.script.is_some() {
        return fail(format!(
            "once(\"{key}\") is called a second time in this run; each unit needs its own key \
             (is a loop variable missing from it?)"
        ));
    }
    if let Some(done) =
        state.with_store(|store| Ok(store.completed_unit(&key).map(|r| r.to_vec())))?
    {
        return Ok(to_array(&done));
    }
    // Another shard's unit: that shard runs it.
    if let Some((i, n)) = state.config.shard
        && crate::script::shard_of(&key, n) != i
    {
        state.units.unit_elsewhere(&key);
        return Ok(Array::new());
    }
    if let Role::Worker { claimed, abort, .. } = &state.role {
        if abort.load(std::sync::atomic::Ordering::SeqCst) {
            return fail("stopped: another worker's unit failed");
        }
        // Another worker has it (or had it and the main pass will find it done).
        if !claimed.lock().unwrap().insert(key.clone()) {
            return Ok(Array::new());
        }
    }
    {
        let mut unit = state.unit.lock().unwrap();
        if let Some(outer) = unit.as_ref() {
            return fail(format!(
                "once(\"{key}\") inside once(\"{}\"): units cannot be nested",
                outer.key
            ));
        }
        *unit = Some(UnitState {
            key: key.clone(),
            records: Vec::new(),
            calls: 0,
        });
    }
    // A unit's records must not depend on what ran before it (another worker or shard may
    // have run that): no call options carried over from outside.
    *state.last_call.lock().unwrap() = None;
    state.units.unit_begins(|| state.generated_tokens());
    let result = body.call_within_context::<Dynamic>(ctx, ());
    let finished = state.unit.lock().unwrap().take().expect("set above");
    *state.last_call.lock().unwrap() = None;
    if result.is_err()
        && let Role::Worker {
            abort,
            failed_in_unit,
            ..
        } = &state.role
    {
        failed_in_unit.store(true, std::sync::atomic::Ordering::SeqCst);
        abort.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    result.map(drop)?;
    let records = finished.records;
    let array = to_array(&records);
    state.with_store(|store| {
        store
            .finish_unit(&key, seq, records)
            .map_err(|e| crate::util::error_chain(&e))
    })?;
    state.units.unit_finished();
    crate::progress::refresh();
    Ok(array)
}
