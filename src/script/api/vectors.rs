//! Registers vectors: the `Vector` type (f32 storage behind an `Arc`, never an array of
//! Dynamics), its arithmetic, `dot`, `norm`, `cos`, `normalize`, `project`, `mean_of`,
//! `contrast`, `pca`, and the files `save_vectors` / `load_vectors`. No experiment logic here:
//! convert the arguments, call `crate::vectors`, convert the results.
//!
//! A Vector in `record(…)` is stored as an array of numbers (see `convert::to_json`), from
//! which `vector(…)` gives back the same bits.

use super::{Fallible, fail};
use crate::script::sandbox::Access;
use crate::script::{HostState, ScriptModel};
use crate::vectors::{self, Vector, VectorError, meta};
use rhai::{Array, Dynamic, Engine, FLOAT, INT, Map};
use std::collections::BTreeMap;
use std::sync::Arc;

fn check<T>(result: Result<T, VectorError>) -> Fallible<T> {
    result.or_else(|e| fail(crate::util::error_chain(&e)))
}

/// An array of Vectors, or an error naming the first element that is not one.
fn vector_list(list: &Array, what: &str) -> Fallible<Vec<Vector>> {
    list.iter()
        .enumerate()
        .map(|(i, item)| {
            item.clone().try_cast::<Vector>().ok_or_else(|| {
                HostState::runtime_error(format!(
                    "{what}: element {i} is {}, not a Vector",
                    item.type_name()
                ))
            })
        })
        .collect()
}

fn to_array(v: &Vector) -> Array {
    v.as_slice()
        .iter()
        .map(|&x| Dynamic::from(x as FLOAT))
        .collect()
}

pub(super) fn register(engine: &mut Engine, state: &Arc<HostState>) {
    engine.register_type_with_name::<Vector>("Vector");
    engine.register_fn("vector", |values: Array| -> Fallible<Vector> {
        let numbers = crate::script::convert::numbers(&values, "vector").or_else(fail)?;
        Ok(Vector::new(numbers.into_iter().map(|x| x as f32).collect()))
    });
    engine.register_fn("len", |v: &mut Vector| v.len() as INT);
    engine.register_fn("to_array", |v: &mut Vector| to_array(v));
    engine.register_indexer_get(|v: &mut Vector, i: INT| -> Fallible<FLOAT> {
        match usize::try_from(i).ok().and_then(|i| v.as_slice().get(i)) {
            Some(&x) => Ok(x as FLOAT),
            None => fail(format!(
                "index {i} is out of range for a vector of length {}",
                v.len()
            )),
        }
    });
    engine.register_fn("to_string", |v: &mut Vector| v.to_string());
    engine.register_fn("to_debug", |v: &mut Vector| v.to_string());

    engine.register_fn("+", |a: Vector, b: Vector| check(a.add(&b)));
    engine.register_fn("-", |a: Vector, b: Vector| check(a.sub(&b)));
    engine.register_fn("*", |v: Vector, x: FLOAT| v.scale(x));
    engine.register_fn("*", |x: FLOAT, v: Vector| v.scale(x));
    engine.register_fn("*", |v: Vector, x: INT| v.scale(x as f64));
    engine.register_fn("*", |x: INT, v: Vector| v.scale(x as f64));
    engine.register_fn("/", |v: Vector, x: FLOAT| divide(&v, x));
    engine.register_fn("/", |v: Vector, x: INT| divide(&v, x as f64));
    engine.register_fn("-", |v: Vector| v.scale(-1.0));

    engine.register_fn("dot", |a: Vector, b: Vector| check(a.dot(&b)));
    engine.register_fn("norm", |v: Vector| v.norm());
    engine.register_fn("cos", |a: Vector, b: Vector| check(a.cos(&b)));
    engine.register_fn("normalize", |v: Vector| check(v.normalize()));
    engine.register_fn("project", |v: Vector, axis: Vector| check(v.project(&axis)));
    engine.register_fn("mean_of", |list: Array| -> Fallible<Vector> {
        check(vectors::mean_of(&vector_list(&list, "mean_of")?))
    });
    engine.register_fn("contrast", |a: Array, b: Array| -> Fallible<Vector> {
        let a = vector_list(&a, "contrast (first list)")?;
        let b = vector_list(&b, "contrast (second list)")?;
        check(vectors::contrast(&a, &b))
    });
    engine.register_fn("pca", |list: Array, k: INT| -> Fallible<Map> {
        let list = vector_list(&list, "pca")?;
        let k = usize::try_from(k).or_else(|_| fail(format!("pca: k must be ≥ 1, got {k}")))?;
        let result = check(vectors::pca(&list, k))?;
        let mut map = Map::new();
        map.insert(
            "components".into(),
            Dynamic::from(
                result
                    .components
                    .into_iter()
                    .map(Dynamic::from)
                    .collect::<Array>(),
            ),
        );
        map.insert(
            "explained".into(),
            Dynamic::from(
                result
                    .explained
                    .into_iter()
                    .map(Dynamic::from)
                    .collect::<Array>(),
            ),
        );
        map.insert("mean".into(), Dynamic::from(result.mean));
        Ok(map)
    });

    let s = state.clone();
    engine.register_fn(
        "save_vectors",
        move |path: &str, entries: Map, metadata: Map| -> Fallible<String> {
            save(&s, path, &entries, &metadata)
        },
    );
    let s = state.clone();
    engine.register_fn("load_vectors", move |path: &str| -> Fallible<Map> {
        load(&s, path, None)
    });
    let s = state.clone();
    engine.register_fn(
        "load_vectors",
        move |path: &str, model: ScriptModel| -> Fallible<Map> { load(&s, path, Some(&model)) },
    );
}

fn divide(v: &Vector, x: f64) -> Fallible<Vector> {
    if x == 0.0 {
        return fail("vector / 0: division by zero");
    }
    Ok(Vector::new(
        v.as_slice()
            .iter()
            .map(|&a| (a as f64 / x) as f32)
            .collect(),
    ))
}

/// `save_vectors(path, #{name: Vector}, #{model: m or "name", made_by: "…", layer: 10, …})`:
/// metadata values are strings or numbers (stored as text); a Model given as `model` fills in
/// its name and sha256, and its hidden size must match the vectors'.
fn save(state: &HostState, path: &str, entries: &Map, metadata: &Map) -> Fallible<String> {
    let target = state
        .sandbox
        .resolve(path, Access::Write)
        .or_else(|e| fail(format!("save_vectors: {e}")))?;
    let mut vectors_by_name = BTreeMap::new();
    for (name, value) in entries {
        let v = value.clone().try_cast::<Vector>().ok_or_else(|| {
            HostState::runtime_error(format!(
                "save_vectors: `{name}` is {}, not a Vector",
                value.type_name()
            ))
        })?;
        vectors_by_name.insert(name.to_string(), v);
    }
    let mut meta_text = BTreeMap::new();
    let mut model = None;
    for (key, value) in metadata {
        let text = if let Some(m) = value.clone().try_cast::<ScriptModel>() {
            if key.as_str() != meta::MODEL {
                return fail(format!(
                    "save_vectors: metadata `{key}` is a Model; only `model` may be one"
                ));
            }
            let text = m.0.model.info().name.clone();
            model = Some(m);
            text
        } else if value.is_string() {
            value.clone().into_string().unwrap_or_default()
        } else if value.is_int() || value.is_float() || value.is_bool() {
            value.to_string()
        } else {
            return fail(format!(
                "save_vectors: metadata `{key}` is {}; values are text or numbers",
                value.type_name()
            ));
        };
        meta_text.insert(key.to_string(), text);
    }
    if let Some(m) = &model {
        let sha = m.0.model.sha256();
        if let Some(given) = meta_text.get(meta::MODEL_SHA256)
            && *given != sha
        {
            return fail(format!(
                "save_vectors: metadata gives model_sha256 {given}, but the model's is {sha}"
            ));
        }
        meta_text.insert(meta::MODEL_SHA256.into(), sha.clone());
        if let Some(first) = vectors_by_name.values().next() {
            let hidden = m.0.model.info().hidden_size;
            if hidden != 0 && hidden != first.len() {
                return fail(format!(
                    "save_vectors: the vectors have length {}, but model `{}` has hidden size \
                     {hidden}",
                    first.len(),
                    m.0.spec
                ));
            }
        }
    }
    if state.is_worker() {
        return Ok(target.display().to_string()); // the main pass writes it
    }
    check(vectors::save_vectors(&target, &vectors_by_name, &meta_text))?;
    Ok(target.display().to_string())
}

/// `load_vectors(path)` → `#{vectors: #{name: Vector}, meta: #{key: "text"}}`; with a model,
/// vectors made for another model are refused.
fn load(state: &HostState, path: &str, model: Option<&ScriptModel>) -> Fallible<Map> {
    let source = state
        .sandbox
        .resolve(path, Access::Read)
        .or_else(|e| fail(format!("load_vectors: {e}")))?;
    let file = check(vectors::load_vectors(&source))?;
    if let Some(m) = model {
        vectors::check_model(
            &file.metadata,
            m.0.model.info().hidden_size,
            &m.0.model.sha256(),
        )
        .or_else(|e| {
            fail(format!(
                "load_vectors(\"{path}\") for model `{}`: {e}",
                m.0.spec
            ))
        })?;
    }
    let vectors: Map = file
        .vectors
        .into_iter()
        .map(|(k, v)| (k.into(), Dynamic::from(v)))
        .collect();
    let meta: Map = file
        .metadata
        .into_iter()
        .map(|(k, v)| (k.into(), Dynamic::from(v)))
        .collect();
    let mut map = Map::new();
    map.insert("vectors".into(), Dynamic::from(vectors));
    map.insert("meta".into(), Dynamic::from(meta));
    Ok(map)
}
