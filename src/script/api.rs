//! The functions scripts call, registered into the engine. Each converts its arguments, calls
//! the Rust API that does the work, and converts the result.

use super::convert::{self, as_number, from_json, numbers, to_json};
use super::sandbox::Access;
use super::{HostState, ModelEntry, Role, ScriptModel, UnitState, map_to_json};
use crate::model::{ChatModel, LocalModel, OpenAiModel, SamplingOptions};
use rhai::{Array, Dynamic, Engine, EvalAltResult, FnPtr, Map, NativeCallContext};
use std::sync::{Arc, Mutex};

type Fallible<T> = Result<T, Box<EvalAltResult>>;

fn fail<T>(message: impl Into<String>) -> Fallible<T> {
    Err(HostState::runtime_error(message))
}

pub(super) fn register(engine: &mut Engine, state: &Arc<HostState>) {
    register_models(engine, state);
    register_attention(engine);
    register_records(engine, state);
    register_params(engine, state);
    register_personas(engine, state);
    crate::metrics::register(engine);
    crate::paper::register(engine);
    register_stats(engine);
    register_plots(engine, state);
    register_rng(engine);
    register_progress(engine, state);
}

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

fn register_models(engine: &mut Engine, state: &Arc<HostState>) {
    engine.register_type_with_name::<ScriptModel>("Model");
    let s = state.clone();
    engine.register_fn("model", move || {
        load_model(&s, &s.config.model_spec.clone())
    });
    let s = state.clone();
    engine.register_fn("model", move |spec: &str| load_model(&s, spec));

    let s = state.clone();
    engine.register_fn("chat", move |m: &mut ScriptModel, messages: Array| {
        chat(&s, m, &messages, 1, &Map::new()).map(first)
    });
    let s = state.clone();
    engine.register_fn(
        "chat",
        move |m: &mut ScriptModel, messages: Array, opts: Map| {
            chat(&s, m, &messages, 1, &opts).map(first)
        },
    );
    let s = state.clone();
    engine.register_fn(
        "chat_n",
        move |m: &mut ScriptModel, messages: Array, n: rhai::INT| {
            chat(&s, m, &messages, n, &Map::new()).map(strings)
        },
    );
    let s = state.clone();
    engine.register_fn(
        "chat_n",
        move |m: &mut ScriptModel, messages: Array, n: rhai::INT, opts: Map| {
            chat(&s, m, &messages, n, &opts).map(strings)
        },
    );
    let s = state.clone();
    engine.register_fn(
        "chat_batch",
        move |m: &mut ScriptModel, conversations: Array, n: rhai::INT, opts: Map| {
            chat_batch(&s, m, &conversations, n, &opts)
        },
    );
    engine.register_type_with_name::<PendingChat>("Pending");
    let s = state.clone();
    engine.register_fn(
        "submit",
        move |m: &mut ScriptModel, messages: Array, n: rhai::INT, opts: Map| {
            submit(&s, m, &messages, n, &opts)
        },
    );
    let s = state.clone();
    engine.register_fn("wait", move |p: &mut PendingChat| -> Fallible<Array> {
        let ticket = p.ticket.lock().unwrap().take().ok_or_else(|| {
            HostState::runtime_error("wait: these answers were already collected")
        })?;
        let answers = p
            .model
            .0
            .model
            .wait(ticket)
            .or_else(|e| fail(e.to_string()))?;
        // Records made from these answers carry this call's options and usage.
        s.note_call(&p.model, &p.sampling, &[&answers]);
        Ok(answers.into_iter().map(answer_value).collect())
    });
    engine.register_fn(
        "count_tokens",
        |m: &mut ScriptModel, messages: Array| -> Fallible<rhai::INT> {
            let messages = convert::messages(&messages).or_else(fail)?;
            let n =
                m.0.model
                    .count_tokens(&messages)
                    .or_else(|e| fail(e.to_string()))?;
            Ok(n as rhai::INT)
        },
    );
    engine.register_fn("info", |m: &mut ScriptModel| -> Dynamic {
        let mut info = serde_json::to_value(m.0.model.info()).unwrap_or_default();
        info["sha256"] = m.0.model.sha256().into();
        info["spec"] = m.0.spec.clone().into();
        from_json(&info)
    });
    engine.register_fn("to_string", |m: &mut ScriptModel| {
        format!("model(\"{}\")", m.0.spec)
    });
    engine.register_fn("to_debug", |m: &mut ScriptModel| {
        format!("model(\"{}\")", m.0.spec)
    });
}

/// Loads a model once per spec and shares it for the rest of the run (and REPL session).
fn load_model(state: &HostState, spec: &str) -> Fallible<ScriptModel> {
    if let Some(model) = state.models.lock().unwrap().get(spec) {
        return Ok(model.clone());
    }
    let _loading = state.loading.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(model) = state.models.lock().unwrap().get(spec) {
        return Ok(model.clone()); // another worker loaded it meanwhile
    }
    let mut options = crate::model::LocalOptions::default();
    if let Some(threads) = state.config.threads {
        options.threads = threads;
    }
    // An HTTP model: the server and the key come from the user's configuration, never from
    // the script (which names only the model).
    if let Some(name) = spec.strip_prefix("openai:") {
        let mut options = state.config.http.clone();
        let label = state.script_name.clone();
        options.log = Arc::new(move |msg| eprintln!("[{label}] {msg}"));
        let remote = OpenAiModel::new(name, &options)
            .or_else(|e| fail(format!("model(\"{spec}\"): {e}")))?;
        return Ok(remember(state, spec, Arc::new(remote)));
    }
    // A model path a script names is read like any other input: inside the project. The
    // default model and the one the user gave with --model are trusted.
    let resolved = if spec == crate::fetch::DEFAULT_MODEL_NAME || spec == state.config.model_spec {
        spec.to_string()
    } else {
        state
            .sandbox
            .resolve(spec, Access::Read)
            .or_else(fail)?
            .display()
            .to_string()
    };
    let local = LocalModel::load(&resolved, &options, &mut |msg| {
        eprintln!("[{}] {msg}", state.script_name)
    })
    .or_else(|e| fail(format!("model(\"{spec}\"): {e}")))?;
    Ok(remember(state, spec, Arc::new(local)))
}

fn remember(state: &HostState, spec: &str, model: Arc<dyn ChatModel>) -> ScriptModel {
    let model = ScriptModel(Arc::new(ModelEntry {
        spec: spec.to_string(),
        model,
    }));
    state
        .models
        .lock()
        .unwrap()
        .entry(spec.to_string())
        .or_insert(model)
        .clone()
}

fn chat(
    state: &HostState,
    m: &ScriptModel,
    messages: &Array,
    n: rhai::INT,
    opts: &Map,
) -> Fallible<Vec<Dynamic>> {
    let messages = convert::messages(messages).or_else(fail)?;
    if messages.is_empty() {
        return fail("chat needs at least one message");
    }
    let n = usize::try_from(n)
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| HostState::runtime_error(format!("chat_n needs n ≥ 1, got {n}")))?;
    let (mut sampling, seed) = convert::sampling_options(opts).or_else(fail)?;
    sampling.seed = seed.unwrap_or_else(|| state.next_call_seed());
    let answers =
        m.0.model
            .chat(&messages, n, &sampling)
            .or_else(|e| fail(e.to_string()))?;
    state.note_call(m, &sampling, &[&answers]);
    Ok(answers.into_iter().map(answer_value).collect())
}

/// An answer as scripts see it: its text, or with the attention read-out asked for,
/// `#{text, attention}`.
fn answer_value(answer: crate::model::Generation) -> Dynamic {
    match answer.attention {
        None => Dynamic::from(answer.text),
        Some(trace) => {
            let mut map = Map::new();
            map.insert("text".into(), Dynamic::from(answer.text));
            map.insert(
                "attention".into(),
                Dynamic::from(ScriptAttention(Arc::new(trace))),
            );
            Dynamic::from_map(map)
        }
    }
}

/// The attention read-out of one answer (`answer.attention`): π per generated token, layer and
/// head. Token indices count from 0; negative ones count from the end.
#[derive(Clone)]
pub struct ScriptAttention(Arc<crate::model::AttentionTrace>);

impl ScriptAttention {
    fn token(&self, t: rhai::INT) -> Fallible<usize> {
        let n = self.0.tokens() as rhai::INT;
        let index = if t < 0 { n + t } else { t };
        if (0..n).contains(&index) {
            Ok(index as usize)
        } else {
            fail(format!(
                "attention: token {t} is out of range (the answer has {n} tokens)"
            ))
        }
    }

    fn layer_head(&self, layer: rhai::INT, head: rhai::INT) -> Fallible<(usize, usize)> {
        let (layers, heads) = (self.0.layers as rhai::INT, self.0.heads as rhai::INT);
        if !(0..layers).contains(&layer) || !(0..heads).contains(&head) {
            return fail(format!(
                "attention: layer {layer}, head {head} is out of range (layers 0 to {}, heads 0 to {})",
                layers - 1,
                heads - 1
            ));
        }
        Ok((layer as usize, head as usize))
    }
}

fn floats(values: impl IntoIterator<Item = f32>) -> Array {
    values
        .into_iter()
        .map(|v| Dynamic::from_float(f64::from(v)))
        .collect()
}

fn register_attention(engine: &mut Engine) {
    engine.register_type_with_name::<ScriptAttention>("Attention");
    engine.register_get("tokens", |a: &mut ScriptAttention| {
        a.0.tokens() as rhai::INT
    });
    engine.register_get("layers", |a: &mut ScriptAttention| a.0.layers as rhai::INT);
    engine.register_get("heads", |a: &mut ScriptAttention| a.0.heads as rhai::INT);
    engine.register_get("system_tokens", |a: &mut ScriptAttention| {
        a.0.system_tokens as rhai::INT
    });
    engine.register_get("context", |a: &mut ScriptAttention| -> Array {
        a.0.context
            .iter()
            .map(|&c| Dynamic::from_int(c as rhai::INT))
            .collect()
    });
    engine.register_fn("mean", |a: &mut ScriptAttention| {
        floats(a.0.mean_series(None))
    });
    engine.register_fn(
        "layer_mean",
        |a: &mut ScriptAttention, layer: rhai::INT| -> Fallible<Array> {
            let (layer, _) = a.layer_head(layer, 0)?;
            Ok(floats(a.0.mean_series(Some(layer))))
        },
    );
    engine.register_fn(
        "series",
        |a: &mut ScriptAttention, layer: rhai::INT, head: rhai::INT| -> Fallible<Array> {
            let (layer, head) = a.layer_head(layer, head)?;
            Ok(floats(a.0.series(layer, head)))
        },
    );
    engine.register_fn(
        "at",
        |a: &mut ScriptAttention, t: rhai::INT| -> Fallible<Array> {
            let t = a.token(t)?;
            Ok(a.0
                .at_token(t)
                .chunks(a.0.heads)
                .map(|layer| Dynamic::from_array(floats(layer.iter().copied())))
                .collect())
        },
    );
    engine.register_fn("layer_head_mean", |a: &mut ScriptAttention| -> Array {
        a.0.mean_over_tokens()
            .chunks(a.0.heads)
            .map(|layer| Dynamic::from_array(floats(layer.iter().copied())))
            .collect()
    });
    engine.register_fn(
        "weights",
        |a: &mut ScriptAttention,
         t: rhai::INT,
         layer: rhai::INT,
         head: rhai::INT|
         -> Fallible<Array> {
            let t = a.token(t)?;
            let (layer, head) = a.layer_head(layer, head)?;
            let Some(rows) = a.0.full.get(t) else {
                return fail("attention.weights needs the call option attention: \"full\"");
            };
            let width = a.0.context[t];
            let at = (layer * a.0.heads + head) * width;
            Ok(floats(rows[at..at + width].iter().copied()))
        },
    );
    engine.register_fn("to_map", |a: &mut ScriptAttention| -> Dynamic {
        from_json(&serde_json::json!({
            "layers": a.0.layers,
            "heads": a.0.heads,
            "system_tokens": a.0.system_tokens,
            "context": a.0.context,
            "mean": a.0.mean_series(None),
        }))
    });
    let describe = |a: &mut ScriptAttention| {
        format!(
            "attention({} tokens, {} layers × {} heads)",
            a.0.tokens(),
            a.0.layers,
            a.0.heads
        )
    };
    engine.register_fn("to_string", describe);
    engine.register_fn("to_debug", describe);
}

/// Answers being drawn in the background of later calls (`m.submit(…)`, then `p.wait()`).
#[derive(Clone)]
pub struct PendingChat {
    model: ScriptModel,
    sampling: SamplingOptions,
    ticket: Arc<Mutex<Option<crate::model::Ticket>>>,
}

/// Starts `n` answers to one conversation; they are decoded alongside every later chat call
/// of the same model and collected with `wait()`. The seed is drawn as for a `chat` call here.
fn submit(
    state: &HostState,
    m: &ScriptModel,
    messages: &Array,
    n: rhai::INT,
    opts: &Map,
) -> Fallible<PendingChat> {
    let messages = convert::messages(messages).or_else(fail)?;
    if messages.is_empty() {
        return fail("submit needs at least one message");
    }
    let n = usize::try_from(n)
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| HostState::runtime_error(format!("submit needs n ≥ 1, got {n}")))?;
    let (mut sampling, seed) = convert::sampling_options(opts).or_else(fail)?;
    sampling.seed = seed.unwrap_or_else(|| state.next_call_seed());
    let mut tickets =
        m.0.model
            .submit(&[(messages, sampling.seed)], n, &sampling)
            .or_else(|e| fail(e.to_string()))?;
    Ok(PendingChat {
        model: m.clone(),
        sampling,
        ticket: Arc::new(Mutex::new(tickets.pop())),
    })
}

/// Several conversations sampled together: each gets the seed a separate `chat` call at this
/// point would get (or the explicit `seed` option), so the answers equal separate calls.
fn chat_batch(
    state: &HostState,
    m: &ScriptModel,
    conversations: &Array,
    n: rhai::INT,
    opts: &Map,
) -> Fallible<Array> {
    let n = usize::try_from(n)
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| HostState::runtime_error(format!("chat_batch needs n ≥ 1, got {n}")))?;
    let (sampling, seed) = convert::sampling_options(opts).or_else(fail)?;
    let mut batch = Vec::with_capacity(conversations.len());
    for (i, conversation) in conversations.iter().enumerate() {
        let messages = conversation.clone().into_array().map_err(|t| {
            HostState::runtime_error(format!(
                "chat_batch: conversation {i} is {t}, not an array of messages"
            ))
        })?;
        let messages = convert::messages(&messages)
            .map_err(|e| HostState::runtime_error(format!("chat_batch: conversation {i}: {e}")))?;
        if messages.is_empty() {
            return fail(format!("chat_batch: conversation {i} has no messages"));
        }
        batch.push((messages, seed.unwrap_or_else(|| state.next_call_seed())));
    }
    let answers =
        m.0.model
            .chat_batch(&batch, n, &sampling)
            .or_else(|e| fail(e.to_string()))?;
    let per_conversation: Vec<&[crate::model::Generation]> =
        answers.iter().map(Vec::as_slice).collect();
    state.note_call(m, &sampling, &per_conversation);
    Ok(answers
        .into_iter()
        .map(|texts| Dynamic::from(texts.into_iter().map(answer_value).collect::<Array>()))
        .collect())
}

fn first(mut answers: Vec<Dynamic>) -> Dynamic {
    answers.swap_remove(0)
}

fn strings(answers: Vec<Dynamic>) -> Array {
    answers
}

// ---------------------------------------------------------------------------------------------
// Records and units of work
// ---------------------------------------------------------------------------------------------

fn register_records(engine: &mut Engine, state: &Arc<HostState>) {
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
        crate::store::write_atomically(&target, csv.as_bytes()).or_else(|e| fail(e.to_string()))?;
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
        false
    }
    for (key, value) in map {
        if has_non_finite(value)
            && state.may_print()
            && state.nulled_keys.lock().unwrap().insert(key.to_string())
        {
            eprintln!(
                "[{}] warning: record key `{key}` holds NaN or an infinity, stored as null \
                 (JSON has neither); plots and means skip it",
                state.script_name
            );
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
        && super::shard_of(&key, n) != i
    {
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
            .map_err(|e| e.to_string())
    })?;
    Ok(array)
}

// ---------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------

fn register_params(engine: &mut Engine, state: &Arc<HostState>) {
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

// ---------------------------------------------------------------------------------------------
// Personas
// ---------------------------------------------------------------------------------------------

/// A persona library as scripts see it.
#[derive(Clone)]
pub struct ScriptLibrary(Arc<crate::persona::Library>);

/// One persona of a library: `id`, `family`, `system`, `probe`, `check_source`, and
/// `check(answer)`.
#[derive(Clone)]
pub struct ScriptPersona {
    library: Arc<crate::persona::Library>,
    id: String,
}

impl ScriptPersona {
    fn get(&self) -> &crate::persona::Persona {
        self.library.get(&self.id).expect("made from this library")
    }
}

fn register_personas(engine: &mut Engine, state: &Arc<HostState>) {
    engine.register_type_with_name::<ScriptLibrary>("Library");
    engine.register_type_with_name::<ScriptPersona>("Persona");
    let s = state.clone();
    engine.register_fn("library", move |dir: &str| -> Fallible<ScriptLibrary> {
        let path = s.sandbox.resolve(dir, Access::Read).or_else(fail)?;
        let key = path.display().to_string();
        if let Some(library) = s.libraries.lock().unwrap().get(&key) {
            return Ok(library.clone());
        }
        let library = ScriptLibrary(Arc::new(
            crate::persona::Library::load(&path).or_else(|e| fail(e.to_string()))?,
        ));
        s.libraries.lock().unwrap().insert(key, library.clone());
        Ok(library)
    });
    engine.register_fn("ids", |lib: &mut ScriptLibrary| -> Array {
        lib.0
            .personas()
            .iter()
            .map(|p| Dynamic::from(p.id.clone()))
            .collect()
    });
    engine.register_fn("personas", |lib: &mut ScriptLibrary| -> Array {
        lib.0
            .personas()
            .iter()
            .map(|p| {
                Dynamic::from(ScriptPersona {
                    library: lib.0.clone(),
                    id: p.id.clone(),
                })
            })
            .collect()
    });
    engine.register_fn(
        "persona",
        |lib: &mut ScriptLibrary, id: &str| -> Fallible<ScriptPersona> {
            let persona = lib.0.find(id).or_else(|e| fail(e.to_string()))?;
            Ok(ScriptPersona {
                library: lib.0.clone(),
                id: persona.id.clone(),
            })
        },
    );
    engine.register_fn(
        "family",
        |lib: &mut ScriptLibrary, family: &str| -> Fallible<Array> {
            let members = lib.0.family(family).or_else(|e| fail(e.to_string()))?;
            Ok(members
                .iter()
                .map(|p| {
                    Dynamic::from(ScriptPersona {
                        library: lib.0.clone(),
                        id: p.id.clone(),
                    })
                })
                .collect())
        },
    );
    engine.register_fn("topics", |lib: &mut ScriptLibrary| -> Array {
        lib.0.topics().iter().cloned().map(Dynamic::from).collect()
    });
    engine.register_get("id", |p: &mut ScriptPersona| p.id.clone());
    engine.register_get("family", |p: &mut ScriptPersona| p.get().family.clone());
    engine.register_get("system", |p: &mut ScriptPersona| p.get().system.clone());
    engine.register_get("probe", |p: &mut ScriptPersona| p.get().probe.clone());
    engine.register_get("index", |p: &mut ScriptPersona| {
        p.get().index.map_or(Dynamic::UNIT, Dynamic::from)
    });
    engine.register_get("check_source", |p: &mut ScriptPersona| {
        p.get().check_source.clone()
    });
    engine.register_fn(
        "check",
        |p: &mut ScriptPersona, answer: &str| -> Fallible<rhai::FLOAT> {
            p.library
                .score(p.get(), answer)
                .or_else(|e| fail(e.to_string()))
        },
    );
    engine.register_fn("to_string", |p: &mut ScriptPersona| {
        format!("persona(\"{}\")", p.id)
    });
    engine.register_fn("to_debug", |p: &mut ScriptPersona| {
        format!("persona(\"{}\")", p.id)
    });
}

// ---------------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------------

fn register_stats(engine: &mut Engine) {
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

// ---------------------------------------------------------------------------------------------
// Plots
// ---------------------------------------------------------------------------------------------

const LINE_OPTIONS: &[&str] = &[
    "kind", "x", "y", "group", "band", "title", "xlabel", "ylabel", "ylim", "data",
];
const HEATMAP_OPTIONS: &[&str] = &[
    "title",
    "xlabel",
    "ylabel",
    "row_labels",
    "col_labels",
    "min",
    "max",
];

fn register_plots(engine: &mut Engine, state: &Arc<HostState>) {
    let s = state.clone();
    engine.register_fn("plot", move |opts: Map, path: &str| -> Fallible<String> {
        let target = s.sandbox.resolve(path, Access::Write).or_else(fail)?;
        if s.is_worker() {
            return Ok(target.display().to_string()); // the main pass draws it
        }
        if s.skip_plot_in_shard(path) {
            return Ok(target.display().to_string());
        }
        let text = |key: &str| opts.get(key).map(|v| v.to_string());
        if let Some(bad) = opts.keys().find(|k| !LINE_OPTIONS.contains(&k.as_str())) {
            return fail(format!(
                "plot: unknown option `{bad}` (valid: {})",
                LINE_OPTIONS.join(", ")
            ));
        }
        match text("kind").as_deref() {
            None | Some("line") => {}
            Some(other) => {
                return fail(format!(
                    "plot: unknown kind `{other}` (valid: line; heatmaps use plot_heatmap)"
                ));
            }
        }
        let x =
            text("x").ok_or_else(|| HostState::runtime_error("plot: option `x` is required"))?;
        let y = match opts.get("y") {
            Some(v) if v.is_array() => v
                .clone()
                .into_array()
                .unwrap_or_default()
                .iter()
                .map(|v| v.to_string())
                .collect(),
            Some(v) => vec![v.to_string()],
            None => return fail("plot: option `y` is required"),
        };
        let band = match opts.get("band") {
            Some(v) => Some(as_number(v).ok_or_else(|| {
                HostState::runtime_error("plot: `band` must be a confidence level such as 0.68")
            })?),
            None => None,
        };
        let y_range = match opts.get("ylim") {
            Some(v) => {
                let pair = v
                    .clone()
                    .into_array()
                    .ok()
                    .map(|a| numbers(&a, "plot: ylim"))
                    .transpose()
                    .or_else(fail)?;
                match pair.as_deref() {
                    Some([lo, hi]) if lo < hi => Some((*lo, *hi)),
                    _ => return fail("plot: `ylim` must be [low, high] with low < high"),
                }
            }
            None => None,
        };
        let spec = crate::plot::LineSpec {
            x,
            y,
            group: text("group"),
            band,
            title: text("title"),
            xlabel: text("xlabel"),
            ylabel: text("ylabel"),
            y_range,
        };
        let records: Vec<serde_json::Value> = match opts.get("data") {
            Some(data) => data
                .clone()
                .into_array()
                .map_err(|t| {
                    HostState::runtime_error(format!(
                        "plot: `data` must be an array of maps, not {t}"
                    ))
                })?
                .iter()
                .map(to_json)
                .collect(),
            None => s
                .results()?
                .into_iter()
                .map(serde_json::Value::Object)
                .collect(),
        };
        crate::plot::line_plot(&records, &spec, &target).or_else(|e| fail(format!("plot: {e}")))?;
        Ok(target.display().to_string())
    });
    let s = state.clone();
    let heatmap = move |matrix: Array, path: &str, opts: Map| -> Fallible<String> {
        let target = s.sandbox.resolve(path, Access::Write).or_else(fail)?;
        if s.is_worker() || s.skip_plot_in_shard(path) {
            return Ok(target.display().to_string());
        }
        if let Some(bad) = opts.keys().find(|k| !HEATMAP_OPTIONS.contains(&k.as_str())) {
            return fail(format!(
                "plot_heatmap: unknown option `{bad}` (valid: {})",
                HEATMAP_OPTIONS.join(", ")
            ));
        }
        let rows: Vec<Vec<f64>> = matrix
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let row = row
                    .clone()
                    .into_array()
                    .map_err(|t| format!("plot_heatmap: row {i} is {t}, not an array"))?;
                numbers(&row, &format!("plot_heatmap: row {i}"))
            })
            .collect::<Result<_, _>>()
            .or_else(fail)?;
        let labels = |key: &str| -> Option<Vec<String>> {
            opts.get(key)
                .and_then(|v| v.clone().into_array().ok())
                .map(|a| a.iter().map(|v| v.to_string()).collect())
        };
        let spec = crate::plot::HeatmapSpec {
            title: opts.get("title").map(|v| v.to_string()),
            xlabel: opts.get("xlabel").map(|v| v.to_string()),
            ylabel: opts.get("ylabel").map(|v| v.to_string()),
            row_labels: labels("row_labels"),
            col_labels: labels("col_labels"),
            min: opts.get("min").and_then(as_number),
            max: opts.get("max").and_then(as_number),
        };
        crate::plot::heatmap(&rows, &spec, &target)
            .or_else(|e| fail(format!("plot_heatmap: {e}")))?;
        Ok(target.display().to_string())
    };
    let h = heatmap.clone();
    engine.register_fn("plot_heatmap", move |matrix: Array, path: &str| {
        h(matrix, path, Map::new())
    });
    engine.register_fn("plot_heatmap", heatmap);
}

// ---------------------------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------------------------

/// A seeded random stream. Copies share the stream (scripts pass it around by reference).
#[derive(Clone)]
pub struct ScriptRng(Arc<Mutex<rand_chacha::ChaCha20Rng>>);

impl ScriptRng {
    fn next(&self) -> u64 {
        use rand_chacha::rand_core::Rng;
        self.0.lock().unwrap().next_u64()
    }

    /// Uniform in `0..n` without modulo bias.
    fn below(&self, n: u64) -> u64 {
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let v = self.next();
            if v < zone {
                return v % n;
            }
        }
    }
}

fn register_rng(engine: &mut Engine) {
    use rand_chacha::rand_core::SeedableRng;
    engine.register_type_with_name::<ScriptRng>("Rng");
    engine.register_fn("rng", |seed: rhai::INT| {
        ScriptRng(Arc::new(Mutex::new(
            rand_chacha::ChaCha20Rng::seed_from_u64(seed as u64),
        )))
    });
    engine.register_fn(
        "int",
        |r: &mut ScriptRng, lo: rhai::INT, hi: rhai::INT| -> Fallible<rhai::INT> {
            if hi <= lo {
                return fail(format!(
                    "rng.int({lo}, {hi}): the range is empty (hi is excluded)"
                ));
            }
            Ok(lo + r.below((hi - lo) as u64) as rhai::INT)
        },
    );
    engine.register_fn("float", |r: &mut ScriptRng| {
        (r.next() >> 11) as rhai::FLOAT / (1u64 << 53) as rhai::FLOAT
    });
    engine.register_fn(
        "pick",
        |r: &mut ScriptRng, items: Array| -> Fallible<Dynamic> {
            if items.is_empty() {
                return fail("rng.pick: the array is empty");
            }
            Ok(items[r.below(items.len() as u64) as usize].clone())
        },
    );
    engine.register_fn("shuffle", |r: &mut ScriptRng, mut items: Array| -> Array {
        for i in (1..items.len()).rev() {
            let j = r.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
        items
    });
    engine.register_fn(
        "sample",
        |r: &mut ScriptRng, mut items: Array, k: rhai::INT| -> Fallible<Array> {
            let k = usize::try_from(k).unwrap_or(usize::MAX);
            if k > items.len() {
                return fail(format!(
                    "rng.sample: cannot draw {k} distinct items from {}",
                    items.len()
                ));
            }
            for i in 0..k {
                let j = i + r.below((items.len() - i) as u64) as usize;
                items.swap(i, j);
            }
            items.truncate(k);
            Ok(items)
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Progress
// ---------------------------------------------------------------------------------------------

#[derive(Clone)]
pub struct Progress(indicatif::ProgressBar);

fn register_progress(engine: &mut Engine, state: &Arc<HostState>) {
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
