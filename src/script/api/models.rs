//! Registers models: `model(…)`, `chat`, `chat_n`, `chat_batch`, `submit`/`wait`, `count_tokens`,
//! `info`, the chat options, and the attention read-out type (`Attention`). No experiment logic
//! here: convert the arguments, call the model API, convert the answers.

use super::{Fallible, fail};
use crate::model::{ChatModel, LocalModel, OpenAiModel, SamplingOptions};
use crate::script::convert::{self, from_json};
use crate::script::{HostState, ModelEntry, ScriptModel};
use rhai::{Array, Dynamic, Engine, Map};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub(super) fn register(engine: &mut Engine, state: &Arc<HostState>) {
    engine.register_type_with_name::<ScriptModel>("Model");
    let s = state.clone();
    engine.register_fn("model", move || {
        load_model(&s, &s.config.model_spec.clone())
    });
    let s = state.clone();
    engine.register_fn("model", move |spec: &str| load_model(&s, spec));
    let s = state.clone();
    engine.register_fn("model", move |spec: &str, opts: Map| {
        let kwargs = template_kwargs_option(&opts)?;
        load_model_with(&s, spec, &kwargs)
    });

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
    engine.register_fn(
        "activations",
        |m: &mut ScriptModel, messages: Array, opts: Map| message_activations(m, &messages, &opts),
    );
    engine.register_fn(
        "activations",
        |m: &mut ScriptModel, messages: Array, layers: Array| {
            message_activations(
                m,
                &messages,
                &Map::from_iter([("layers".into(), Dynamic::from_array(layers))]),
            )
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
            .or_else(|e| fail(crate::util::error_chain(&e)))?;
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
                    .or_else(|e| fail(crate::util::error_chain(&e)))?;
            Ok(n as rhai::INT)
        },
    );
    engine.register_fn("info", |m: &mut ScriptModel| -> Dynamic {
        let mut info = serde_json::to_value(m.0.model.info()).unwrap_or_default();
        info["sha256"] = m.0.model.sha256().into();
        info["spec"] = m.0.spec.clone().into();
        if !m.0.chat_template_kwargs.is_empty() {
            info["chat_template_kwargs"] = serde_json::json!(m.0.chat_template_kwargs);
        }
        from_json(&info)
    });
    engine.register_fn("to_string", |m: &mut ScriptModel| {
        format!("model(\"{}\")", m.0.spec)
    });
    engine.register_fn("to_debug", |m: &mut ScriptModel| {
        format!("model(\"{}\")", m.0.spec)
    });
}

/// `model(spec, #{ chat_template_kwargs: #{ enable_thinking: false } })`: the only option.
fn template_kwargs_option(opts: &Map) -> Fallible<BTreeMap<String, serde_json::Value>> {
    const USAGE: &str = "model(spec, #{ chat_template_kwargs: #{ enable_thinking: false } })";
    if let Some(key) = opts.keys().find(|k| k.as_str() != "chat_template_kwargs") {
        return fail(format!("{USAGE}: unknown option `{key}`"));
    }
    match opts.get("chat_template_kwargs") {
        None => Ok(BTreeMap::new()),
        Some(v) if v.is_map() => {
            let kwargs: BTreeMap<String, serde_json::Value> = match convert::to_json(v) {
                serde_json::Value::Object(map) => map.into_iter().collect(),
                _ => BTreeMap::new(),
            };
            use crate::model::local::template::{RESERVED_VARIABLES, reserved_variable};
            match reserved_variable(kwargs.keys()) {
                Some(name) => fail(format!(
                    "{USAGE}: `{name}` is set by the renderer ({})",
                    RESERVED_VARIABLES.join(", ")
                )),
                None => Ok(kwargs),
            }
        }
        Some(v) => fail(format!(
            "{USAGE}: chat_template_kwargs must be a map, got {}",
            v.type_name()
        )),
    }
}

/// Loads a model once per spec and shares it for the rest of the run (and REPL session).
fn load_model(state: &HostState, spec: &str) -> Fallible<ScriptModel> {
    load_model_with(state, spec, &BTreeMap::new())
}

/// [`load_model`] with template variables over the run's `--chat-template-kwargs` (key by key):
/// shared per spec and resulting variables, as each renders other prompts (a script repeating
/// the run's own variables gets the model `model(spec)` gives).
fn load_model_with(
    state: &HostState,
    spec: &str,
    script_kwargs: &BTreeMap<String, serde_json::Value>,
) -> Fallible<ScriptModel> {
    let mut kwargs = state.config.chat_template_kwargs.clone();
    kwargs.extend(script_kwargs.iter().map(|(k, v)| (k.clone(), v.clone())));
    let key = if kwargs == state.config.chat_template_kwargs {
        spec.to_string()
    } else {
        format!("{spec}\u{0}{}", serde_json::json!(kwargs))
    };
    if let Some(model) = state.models.lock().unwrap().get(&key) {
        return Ok(model.clone());
    }
    let _loading = state.loading.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(model) = state.models.lock().unwrap().get(&key) {
        return Ok(model.clone()); // another worker loaded it meanwhile
    }
    let mut options = crate::model::LocalOptions {
        chat_template_kwargs: kwargs.clone(),
        ..Default::default()
    };
    if let Some(threads) = state.config.threads {
        options.threads = threads;
    }
    // An HTTP model: the server and the key come from the user's configuration, never from
    // the script (which names only the model).
    if let Some(name) = spec.strip_prefix("openai:") {
        let mut options = state.config.http.clone();
        options.chat_template_kwargs = kwargs.clone();
        let label = state.script_name.clone();
        options.log =
            Arc::new(move |msg| crate::progress::eprintln(format_args!("[{label}] {msg}")));
        let remote = OpenAiModel::new(name, &options).or_else(|e| {
            fail(format!(
                "model(\"{spec}\"): {}",
                crate::util::error_chain(&e)
            ))
        })?;
        return Ok(remember(state, spec, &key, kwargs, Arc::new(remote)));
    }
    // A model path a script names is read like any other input: inside the project. The
    // default model and the one the user gave with --model are trusted.
    let resolved = if spec == crate::fetch::DEFAULT_MODEL_NAME || spec == state.config.model_spec {
        spec.to_string()
    } else {
        state
            .sandbox
            .resolve_tree(spec)
            .or_else(fail)?
            .display()
            .to_string()
    };
    let local = LocalModel::load(&resolved, &options, &mut |msg| {
        crate::progress::eprintln(format_args!("[{}] {msg}", state.script_name))
    })
    .or_else(|e| {
        fail(format!(
            "model(\"{spec}\"): {}",
            crate::util::error_chain(&e)
        ))
    })?;
    Ok(remember(state, spec, &key, kwargs, Arc::new(local)))
}

fn remember(
    state: &HostState,
    spec: &str,
    key: &str,
    chat_template_kwargs: BTreeMap<String, serde_json::Value>,
    model: Arc<dyn ChatModel>,
) -> ScriptModel {
    let model = ScriptModel(Arc::new(ModelEntry {
        spec: spec.to_string(),
        model,
        chat_template_kwargs,
    }));
    state
        .models
        .lock()
        .unwrap()
        .entry(key.to_string())
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
            .or_else(|e| fail(crate::util::error_chain(&e)))?;
    state.note_call(m, &sampling, &[&answers]);
    Ok(answers.into_iter().map(answer_value).collect())
}

/// An answer as scripts see it: its text, or with a read-out asked for, a map:
/// `#{text, attention}` (π) and/or `#{text, activations, activation_tokens}` (the residual
/// stream: `activations` maps each read layer, as a string key, to a `Vector`).
fn answer_value(answer: crate::model::Generation) -> Dynamic {
    if answer.attention.is_none() && answer.activations.is_none() {
        return Dynamic::from(answer.text);
    }
    let mut map = Map::new();
    map.insert("text".into(), Dynamic::from(answer.text));
    if let Some(trace) = answer.attention {
        map.insert(
            "attention".into(),
            Dynamic::from(ScriptAttention(Arc::new(trace))),
        );
    }
    if let Some(trace) = answer.activations {
        map.insert(
            "activations".into(),
            Dynamic::from_map(layer_vectors(&trace.layers, trace.vectors)),
        );
        map.insert(
            "activation_tokens".into(),
            Dynamic::from(trace.tokens as rhai::INT),
        );
    }
    Dynamic::from_map(map)
}

/// `#{"10": Vector, "20": Vector}`: one vector per layer, keyed by the layer number.
fn layer_vectors(layers: &[usize], vectors: Vec<Vec<f32>>) -> Map {
    layers
        .iter()
        .zip(vectors)
        .map(|(l, v)| (l.to_string().into(), super::vector_value(v)))
        .collect()
}

/// `m.activations(messages, layers)` / `m.activations(messages, opts)`: the residual stream of
/// a given conversation, read without generating; one entry per message: `#{"10": Vector, …}`,
/// or `()` for a message without content tokens. `opts` takes `layers` and `steer`.
fn message_activations(m: &ScriptModel, messages: &Array, opts: &Map) -> Fallible<Array> {
    let messages = convert::messages(messages).or_else(fail)?;
    let mut layers = Vec::new();
    let mut steer = Vec::new();
    for (key, value) in opts {
        match key.as_str() {
            "layers" => {
                layers = convert::activations_option(&Dynamic::from_map(Map::from_iter([(
                    "layers".into(),
                    value.clone(),
                )])))
                .or_else(fail)?
                .layers
            }
            "steer" => steer = convert::steer_option(value).or_else(fail)?,
            other => {
                return fail(format!(
                    "m.activations: unknown option `{other}` (valid: layers, steer)"
                ));
            }
        }
    }
    if layers.is_empty() {
        return fail("m.activations: give the layers to read, e.g. #{layers: [10, 20]}");
    }
    let read =
        m.0.model
            .message_activations(&messages, &layers, &steer)
            .or_else(|e| fail(crate::util::error_chain(&e)))?;
    Ok(read
        .into_iter()
        .map(|per_message| match per_message {
            Some(vectors) => Dynamic::from_map(layer_vectors(&layers, vectors)),
            None => Dynamic::UNIT,
        })
        .collect())
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

pub(super) fn register_attention(engine: &mut Engine) {
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
            .or_else(|e| fail(crate::util::error_chain(&e)))?;
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
            .or_else(|e| fail(crate::util::error_chain(&e)))?;
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
