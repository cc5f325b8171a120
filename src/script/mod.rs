//! The Rhai host: registers model, record, statistics, plotting and utility functions into a
//! Rhai engine, runs scripts in batch or line by line (REPL), and formats script errors as
//! `file:line:column: message`.
//!
//! Owns: the engine's configuration (sandbox, limits, modules), run identity and units, error
//! positions. Must not hold experiment logic that Rust code needs (ARCHITECTURE.md,
//! invariants); `model`, `metrics`, `plot`, `store` and `stats` never import it.
//!
//! The Rhai layer is a thin adapter: every function here converts its arguments, calls a Rust
//! API (`model`, `store`, `stats`, `plot`) and converts the result back. Experiment logic lives
//! in scripts or in those Rust modules, never here.

mod api;
pub mod convert;
pub mod limits;
pub mod sandbox;
mod source;

use crate::model::{ChatModel, SamplingOptions};
use crate::store::{self, RunStore};
use rhai::{Dynamic, Engine, EvalAltResult, Map, Position, Scope};
use sandbox::{Sandbox, SandboxResolver};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Everything a run is configured with, resolved from the command line.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The script being run (`None` in the REPL).
    pub script: Option<PathBuf>,
    /// Folder scripts may read and import from (default: the current folder).
    pub project_dir: PathBuf,
    /// Root of the output folders (default `selfchat`).
    pub out_root: PathBuf,
    /// The model `model()` loads without an argument, and the `MODEL` constant.
    pub model_spec: String,
    /// `--chat-template-kwargs`: extra variables for every local model's chat template (the
    /// HTTP backend has its copy in `http`).
    pub chat_template_kwargs: std::collections::BTreeMap<String, serde_json::Value>,
    /// The run seed (`--seed`, or `--set seed`): `SEED` and `param("seed", …)`.
    pub seed: u64,
    /// `--set name=value`, in command-line order; never `seed`, which is `seed` above.
    pub params: Vec<(String, Dynamic)>,
    /// Resource limits (`--max-string-size`, `--max-memory`, `--max-ops`, …).
    pub limits: limits::Limits,
    pub threads: Option<usize>,
    /// How `openai:NAME` models reach their server (`--api-base`, `--api-key-env`, …).
    pub http: crate::model::HttpOptions,
    /// Units run at once (`--jobs`): worker passes over the script, see `ScriptHost::run_script`.
    pub jobs: usize,
    /// `--shard i/n` (0-based `i`): run only the units `shard_of(key, n) == i`.
    pub shard: Option<(usize, usize)>,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            script: None,
            project_dir: PathBuf::from("."),
            out_root: PathBuf::from("selfchat"),
            model_spec: crate::fetch::DEFAULT_MODEL_NAME.into(),
            chat_template_kwargs: Default::default(),
            seed: 0,
            params: Vec::new(),
            limits: limits::Limits::default(),
            threads: None,
            http: crate::model::HttpOptions::default(),
            jobs: 1,
            shard: None,
        }
    }
}

/// A script error with its location, ready to print.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ScriptError(pub String);

/// A loaded model as scripts see it.
#[derive(Clone)]
pub struct ScriptModel(pub Arc<ModelEntry>);

pub struct ModelEntry {
    pub spec: String,
    pub model: Arc<dyn ChatModel>,
    /// The chat template's extra variables this model renders with (the run's
    /// `--chat-template-kwargs` and the script's `model(spec, #{chat_template_kwargs})`).
    pub chat_template_kwargs: std::collections::BTreeMap<String, Value>,
}

/// The unit of work `once(key, …)` is running.
struct UnitState {
    key: String,
    records: Vec<serde_json::Map<String, Value>>,
    calls: u64,
}

/// What a pass over the script met, in order: units (by key) and records made outside units.
/// Results and the final records file follow this order, so they do not depend on which units
/// an earlier session, another worker or another shard ran, or when.
#[derive(Default)]
struct Visits {
    order: Vec<Visit>,
    units: HashMap<String, u64>,
}

enum Visit {
    Unit(String),
    Loose(serde_json::Map<String, Value>),
}

impl Visits {
    /// Notes a `once(key)` call; returns the unit's position among the distinct units met, and
    /// whether this is the first time this pass meets `key`.
    fn unit(&mut self, key: &str) -> (u64, bool) {
        if let Some(&seq) = self.units.get(key) {
            return (seq, false);
        }
        let seq = self.units.len() as u64;
        self.units.insert(key.to_string(), seq);
        self.order.push(Visit::Unit(key.to_string()));
        (seq, true)
    }
}

/// Whether this pass is the run itself or one of the `--jobs` workers before it.
enum Role {
    Main,
    /// A worker runs only units no other worker has claimed, and leaves everything outside
    /// units (records, plots, files, prints) to the main pass that follows.
    Worker {
        index: usize,
        claimed: Arc<Mutex<HashSet<String>>>,
        /// Set when any worker's unit failed: the others stop at their next unit.
        abort: Arc<AtomicBool>,
        /// Set when this worker's own unit failed (a real error, not a worker-pass artefact).
        failed_in_unit: AtomicBool,
    },
}

/// The shard (0-based, of `n`) a unit key belongs to: a hash, so it depends on the key alone.
pub fn shard_of(key: &str, n: usize) -> usize {
    let digest = sha256_hex(key);
    (u64::from_str_radix(&digest[..16], 16).unwrap_or(0) % n.max(1) as u64) as usize
}

/// State shared by the registered functions.
pub(crate) struct HostState {
    config: HostConfig,
    sandbox: Sandbox,
    run_dir: PathBuf,
    run_config: Value,
    script_name: String,
    /// The configuration `run.json` holds: `run_config` plus the shard.
    folder_config: Value,
    models: Arc<Mutex<HashMap<String, ScriptModel>>>,
    /// Held while a model loads, so `--jobs` workers asking at once load it once.
    loading: Arc<Mutex<()>>,
    libraries: Arc<Mutex<HashMap<String, api::ScriptLibrary>>>,
    store: Arc<Mutex<Option<RunStore>>>,
    unit: Mutex<Option<UnitState>>,
    visits: Mutex<Visits>,
    role: Role,
    /// Chat calls made outside any unit (for deriving seeds).
    loose_calls: Mutex<u64>,
    /// The model and sampling options of the last chat call, copied into records.
    last_call: Mutex<Option<Value>>,
    /// Record keys already warned about holding NaN or an infinity (stored as null).
    nulled_keys: Mutex<HashSet<String>>,
    /// Units declared, resumed and finished, for the progress line (shared with workers).
    units: Arc<crate::progress::UnitCounts>,
}

pub struct ScriptHost {
    engine: Engine,
    state: Arc<HostState>,
    /// Operations and memory counted by the progress hook (`limits`).
    budget: Arc<limits::Budget>,
    pub scope: Scope<'static>,
    /// Functions defined by earlier REPL entries (Rhai keeps functions in the AST, not the scope).
    functions: rhai::AST,
}

impl ScriptHost {
    pub fn new(config: HostConfig) -> Result<Self, ScriptError> {
        let project = std::fs::canonicalize(&config.project_dir).map_err(|e| {
            ScriptError(format!(
                "project folder {}: {e}",
                config.project_dir.display()
            ))
        })?;
        let script_source = match &config.script {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| ScriptError(format!("cannot read {}: {e}", path.display())))?,
            ),
            None => None,
        };
        let script_name = config
            .script
            .as_ref()
            .and_then(|p| p.file_name())
            .map_or_else(|| "repl".to_string(), |n| n.to_string_lossy().into_owned());
        if let Some(source) = &script_source {
            source::check_set_names(&config.params, source, &script_name)?;
        }
        let params_json: BTreeMap<String, Value> = config
            .params
            .iter()
            .map(|(k, v)| (k.clone(), convert::to_json(v)))
            .collect();
        let script_rel = config
            .script
            .as_ref()
            .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
            .map(|p| {
                p.strip_prefix(&project)
                    .map(Path::to_path_buf)
                    .unwrap_or(p)
                    .display()
                    .to_string()
            });
        let mut run_config = json!({
            "script": script_rel,
            "script_sha256": script_source.as_deref().map(sha256_hex),
            "params": params_json,
            "seed": config.seed,
            "model": config.model_spec,
            "drift_script_version": env!("CARGO_PKG_VERSION"),
        });
        // Template variables change every prompt, so they are part of the run; absent when
        // unset, so that runs without them keep their folders.
        if !config.chat_template_kwargs.is_empty() {
            run_config["chat_template_kwargs"] = json!(config.chat_template_kwargs);
        }
        let run_name = match &config.script {
            Some(path) => {
                let stem = path
                    .file_stem()
                    .map_or("run".into(), |s| s.to_string_lossy().into_owned());
                let mut identity = json!([
                    run_config["script"],
                    run_config["params"],
                    run_config["seed"],
                    run_config["model"]
                ]);
                if let Some(kwargs) = run_config.get("chat_template_kwargs") {
                    identity
                        .as_array_mut()
                        .expect("a list")
                        .push(kwargs.clone());
                }
                let name = format!("{stem}-{}", &sha256_hex(&identity.to_string())[..8]);
                match config.shard {
                    Some((i, n)) => format!("{name}-shard-{i}-of-{n}"),
                    None => name,
                }
            }
            None => format!("repl-{}", crate::util::utc_timestamp_compact()),
        };
        let out_root = if config.out_root.is_absolute() {
            config.out_root.clone()
        } else {
            project.join(&config.out_root)
        };
        let run_dir = out_root.join(run_name);
        let sandbox = Sandbox {
            project: project.clone(),
            output: run_dir.clone(),
        };
        config.limits.validate().map_err(ScriptError)?;
        if let Some((i, n)) = config.shard
            && (n == 0 || i >= n)
        {
            return Err(ScriptError(format!(
                "--shard {i}/{n}: expected i/n with 0 ≤ i < n (shards are numbered from 0)"
            )));
        }
        let mut folder_config = run_config.clone();
        if let Some((i, n)) = config.shard {
            folder_config["shard"] = json!({"index": i, "count": n});
        }
        let state = Arc::new(HostState {
            sandbox: sandbox.clone(),
            run_dir,
            run_config,
            folder_config,
            script_name,
            models: Arc::new(Mutex::new(HashMap::new())),
            loading: Arc::new(Mutex::new(())),
            libraries: Arc::new(Mutex::new(HashMap::new())),
            store: Arc::new(Mutex::new(None)),
            unit: Mutex::new(None),
            visits: Mutex::new(Visits::default()),
            role: Role::Main,
            loose_calls: Mutex::new(0),
            last_call: Mutex::new(None),
            nulled_keys: Mutex::new(HashSet::new()),
            units: Arc::new(crate::progress::UnitCounts::default()),
            config,
        });
        Ok(Self::with_state(state))
    }

    /// A `--jobs` worker: its own Rhai engine and unit state over this host's models, libraries
    /// and store.
    fn worker(
        &self,
        index: usize,
        claimed: &Arc<Mutex<HashSet<String>>>,
        abort: &Arc<AtomicBool>,
    ) -> Self {
        let s = &self.state;
        let state = Arc::new(HostState {
            config: s.config.clone(),
            sandbox: s.sandbox.clone(),
            run_dir: s.run_dir.clone(),
            run_config: s.run_config.clone(),
            folder_config: s.folder_config.clone(),
            script_name: s.script_name.clone(),
            models: s.models.clone(),
            loading: s.loading.clone(),
            libraries: s.libraries.clone(),
            store: s.store.clone(),
            unit: Mutex::new(None),
            visits: Mutex::new(Visits::default()),
            role: Role::Worker {
                index,
                claimed: claimed.clone(),
                abort: abort.clone(),
                failed_in_unit: AtomicBool::new(false),
            },
            loose_calls: Mutex::new(0),
            last_call: Mutex::new(None),
            nulled_keys: Mutex::new(HashSet::new()),
            units: s.units.clone(),
        });
        Self::with_state(state)
    }

    fn with_state(state: Arc<HostState>) -> Self {
        let mut engine = Engine::new();
        let sandbox = state.sandbox.clone();
        engine.set_module_resolver(SandboxResolver::new(sandbox));
        let limits = &state.config.limits;
        limits.apply(&mut engine);
        // Every operation: Ctrl-C, then the operations and memory budgets. Errors raised here
        // (`ErrorTerminated`) cannot be caught by a script's `try`.
        let budget = Arc::new(limits::Budget::new(limits));
        let hook = budget.clone();
        engine.on_progress(move |_| {
            if crate::interrupt::requested() {
                return Some(Dynamic::from("interrupted"));
            }
            hook.check().map(Dynamic::from)
        });
        // Workers print only from inside units (the main pass prints the rest), tagged.
        let name = match &state.role {
            Role::Main => state.script_name.clone(),
            Role::Worker { index, .. } => format!("{}#{index}", state.script_name),
        };
        let printer = state.clone();
        let label = name.clone();
        engine.on_print(move |text| {
            if printer.may_print() {
                crate::progress::eprintln(format_args!("[{label}] {text}"))
            }
        });
        let printer = state.clone();
        engine.on_debug(move |text, _source, pos| {
            if printer.may_print() {
                match pos.line() {
                    Some(line) => crate::progress::eprintln(format_args!("[{name}:{line}] {text}")),
                    None => crate::progress::eprintln(format_args!("[{name}] {text}")),
                }
            }
        });
        api::register(&mut engine, &state);
        let mut scope = Scope::new();
        scope.push_constant("MODEL", state.config.model_spec.clone());
        scope.push_constant("SEED", state.config.seed as rhai::INT);
        scope.push_constant("OUT", state.run_dir.display().to_string());
        for (name, value) in &state.config.params {
            scope.push_constant(name.as_str(), value.clone());
        }
        ScriptHost {
            engine,
            state,
            budget,
            scope,
            functions: rhai::AST::empty(),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The folder this run writes to.
    pub fn run_dir(&self) -> &Path {
        &self.state.run_dir
    }

    /// Runs the configured script to the end, then writes its records in the order the script
    /// met them and marks the run complete in `run.json`.
    ///
    /// With `--jobs N` (N > 1), N worker passes over the script run first, on threads, sharing
    /// the models and the store: each worker runs the units no other worker has claimed yet and
    /// skips everything else. Chat seeds depend only on the run seed, the unit and the call's
    /// place in it, so a unit's records do not depend on which worker ran it. The main pass
    /// then runs the script as usual, finds the units completed (as a resumed run would), makes
    /// the records outside units, plots, and prints; the file is finally rewritten in script
    /// order, so it is the same for any N and any timing.
    pub fn run_script(&mut self) -> Result<(), ScriptError> {
        if self.state.config.jobs > 1 {
            self.run_workers()?;
        }
        // On a thread whose stack holds the deepest calls the limits allow, so deep recursion
        // ends in a limit error rather than a stack overflow that aborts the process.
        let stack = self.state.config.limits.stack_bytes();
        on_script_stack(stack, || self.run_pass())?;
        self.note_undeclared_units();
        let order = self.state.visits.lock().unwrap();
        let order: Vec<store::Entry<'_>> = order
            .order
            .iter()
            .map(|v| match v {
                Visit::Unit(key) => store::Entry::Unit(key),
                Visit::Loose(record) => store::Entry::Record(record),
            })
            .collect();
        let mut guard = self.state.store.lock().unwrap();
        if let Some(store) = guard.as_mut() {
            store
                .finish_run(&order, &self.state.folder_config)
                .map_err(|e| ScriptError(crate::util::error_chain(&e)))?;
        }
        Ok(())
    }

    /// After a run that went to the end: says so when `progress(total)` declared another number
    /// of units than the script met, since the line's counts and time left were off.
    fn note_undeclared_units(&self) {
        let Some(declared) = self.state.units.total() else {
            return;
        };
        let met = self.state.visits.lock().unwrap().units.len() as u64;
        if met != declared {
            crate::progress::eprintln(format_args!(
                "[{}] warning: progress({declared}) declared {declared} unit(s), but the script \
                 has {met} once(…) unit(s); the progress line's counts and time left were off",
                self.state.script_name
            ));
        }
    }

    fn run_workers(&mut self) -> Result<(), ScriptError> {
        // Opened before the workers start, so resume notes print once.
        self.state.with_store(|_| Ok(())).map_err(|e| {
            let limits = &self.state.config.limits;
            ScriptError(describe(&e, &self.state.script_name, limits))
        })?;
        let claimed = Arc::new(Mutex::new(HashSet::new()));
        let abort = Arc::new(AtomicBool::new(false));
        let jobs = self.state.config.jobs;
        let mut workers: Vec<ScriptHost> = (0..jobs)
            .map(|i| self.worker(i, &claimed, &abort))
            .collect();
        let results: Vec<(bool, Result<(), ScriptError>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = workers
                .iter_mut()
                .map(|w| {
                    let stack = w.state.config.limits.stack_bytes();
                    let builder = std::thread::Builder::new().stack_size(stack);
                    builder.spawn_scoped(scope, move || {
                        let result = w.run_pass();
                        let failed = match &w.state.role {
                            Role::Worker { failed_in_unit, .. } => {
                                failed_in_unit.load(Ordering::SeqCst)
                            }
                            Role::Main => false,
                        };
                        (failed, result)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| match h {
                    Ok(h) => h.join().unwrap_or_else(|_| {
                        (true, Err(ScriptError("a worker thread panicked".into())))
                    }),
                    Err(e) => (
                        true,
                        Err(ScriptError(format!("cannot start a worker: {e}"))),
                    ),
                })
                .collect()
        });
        // A failure inside a unit is the run's failure (completed units stay for the rerun).
        // Anything else a worker met outside units is left to the main pass, which meets it
        // again if it is real.
        for (i, (failed, result)) in results.into_iter().enumerate() {
            if let (true, Err(e)) = (failed, result) {
                return Err(ScriptError(format!("worker {i}: {e}")));
            }
        }
        Ok(())
    }

    fn run_pass(&mut self) -> Result<(), ScriptError> {
        let path = self
            .state
            .config
            .script
            .clone()
            .ok_or_else(|| ScriptError("no script to run".into()))?;
        let display = path.display().to_string();
        self.budget.reset();
        let limits = &self.state.config.limits;
        let mut ast = self
            .engine
            .compile_file(path)
            .map_err(|e| ScriptError(describe(&e, &display, limits)))?;
        ast.set_source(display.clone());
        self.engine
            .run_ast_with_scope(&mut self.scope, &ast)
            .map_err(|e| ScriptError(describe(&e, &display, limits)))?;
        Ok(())
    }

    /// Evaluates one REPL entry in the persistent scope; returns its value.
    pub fn eval(&mut self, code: &str) -> Result<Dynamic, ScriptError> {
        let stack = self.state.config.limits.stack_bytes();
        on_script_stack(stack, || self.eval_here(code))
    }

    fn eval_here(&mut self, code: &str) -> Result<Dynamic, ScriptError> {
        self.budget.reset();
        let limits = &self.state.config.limits;
        let ast = self
            .engine
            .compile_with_scope(&self.scope, code)
            .map_err(|e| ScriptError(describe(&e.into(), "<repl>", limits)))?;
        let mut program = self.functions.merge(&ast);
        let result = self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut self.scope, &program)
            .map_err(|e| ScriptError(describe(&e, "<repl>", limits)));
        program.clear_statements();
        self.functions = program;
        result
    }

    /// Runs a script file (inside the project folder) in the current scope: the REPL's `:load`.
    pub fn eval_file(&mut self, path: &str) -> Result<(), ScriptError> {
        let stack = self.state.config.limits.stack_bytes();
        on_script_stack(stack, || self.eval_file_here(path))
    }

    fn eval_file_here(&mut self, path: &str) -> Result<(), ScriptError> {
        let resolved = self
            .state
            .sandbox
            .resolve(path, sandbox::Access::Read)
            .map_err(ScriptError)?;
        let source = std::fs::read_to_string(&resolved)
            .map_err(|e| ScriptError(format!("cannot read {path}: {e}")))?;
        self.budget.reset();
        let limits = &self.state.config.limits;
        let mut ast = self
            .engine
            .compile_with_scope(&self.scope, &source)
            .map_err(|e| ScriptError(describe(&e.into(), path, limits)))?;
        ast.set_source(path.to_string());
        let mut program = self.functions.merge(&ast);
        let result = self
            .engine
            .run_ast_with_scope(&mut self.scope, &program)
            .map_err(|e| ScriptError(describe(&e, path, limits)));
        program.clear_statements();
        self.functions = program;
        result
    }

    /// Notes from reopening the run (resumed units, dropped partial ones).
    pub fn store_notes(&self) -> Vec<String> {
        self.state
            .store
            .lock()
            .unwrap()
            .as_ref()
            .map(|s| s.notes.clone())
            .unwrap_or_default()
    }

    /// What the progress line of this run says (`crate::progress::show`): units done of the
    /// total the script declared, tokens per second, time left; read from any thread.
    pub fn progress_source(&self) -> crate::progress::Source {
        let state = self.state.clone();
        Arc::new(move || {
            let shard = state.config.shard.map(|(i, n)| (i as u64, n as u64));
            state
                .units
                .status(&state.script_name, state.generated_tokens(), shard)
                .map(|status| status.line())
        })
    }

    /// Whether the run wrote any records (its folder exists).
    pub fn has_records(&self) -> bool {
        self.state.store.lock().unwrap().is_some()
    }

    /// Tokens processed by every model this host loaded.
    pub fn usage(&self) -> crate::model::Usage {
        let models = self.state.models.lock().unwrap();
        let mut total = crate::model::Usage::default();
        for model in models.values() {
            let u = model.0.model.usage();
            total.prompt_tokens += u.prompt_tokens;
            total.cached_prompt_tokens += u.cached_prompt_tokens;
            total.generated_tokens += u.generated_tokens;
        }
        total
    }

    /// Names the host registers (for REPL completion).
    pub fn function_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .engine
            .gen_fn_signatures(false)
            .into_iter()
            .filter_map(|sig| sig.split('(').next().map(|n| n.trim().to_string()))
            .filter(|n| {
                !n.is_empty()
                    && n.chars()
                        .next()
                        .is_some_and(|c| c.is_alphabetic() || c == '_')
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

impl HostState {
    fn runtime_error(message: impl Into<String>) -> Box<EvalAltResult> {
        EvalAltResult::ErrorRuntime(Dynamic::from(message.into()), Position::NONE).into()
    }

    /// Opens the run's store on first use, so runs that record nothing leave no folder.
    fn with_store<T>(
        &self,
        f: impl FnOnce(&mut RunStore) -> Result<T, String>,
    ) -> Result<T, Box<EvalAltResult>> {
        let mut guard = self.store.lock().unwrap();
        if guard.is_none() {
            let store = RunStore::open(
                &self.run_dir,
                &self.folder_config,
                &[
                    "script",
                    "script_sha256",
                    "params",
                    "seed",
                    "model",
                    "shard",
                ],
            )
            .map_err(|e| Self::runtime_error(crate::util::error_chain(&e)))?;
            for note in &store.notes {
                crate::progress::eprintln(format_args!(
                    "[{}] resuming {}: {note}",
                    self.script_name,
                    self.run_dir.display()
                ));
            }
            self.units.set_resumed(store.completed_units() as u64);
            *guard = Some(store);
        }
        f(guard.as_mut().expect("opened above")).map_err(Self::runtime_error)
    }

    /// The seed of a chat call that sets none: a function of the run seed, the unit, and the
    /// call's position within the unit, so a resumed unit draws exactly what it drew before.
    fn next_call_seed(&self) -> u64 {
        let mut unit = self.unit.lock().unwrap();
        let (key, index) = match unit.as_mut() {
            Some(u) => {
                u.calls += 1;
                (u.key.clone(), u.calls)
            }
            None => {
                let mut calls = self.loose_calls.lock().unwrap();
                *calls += 1;
                (String::new(), *calls)
            }
        };
        let digest = sha256_hex(&format!("{}\u{0}{key}\u{0}{index}", self.config.seed));
        u64::from_str_radix(&digest[..16], 16).unwrap_or(0)
    }

    /// Remembers a finished call (its model, the server's name for it, sampling options and
    /// token usage) for the `_meta` of the records that follow.
    fn note_call(
        &self,
        model: &ScriptModel,
        opts: &SamplingOptions,
        conversations: &[&[crate::model::Generation]],
    ) {
        let info = model.0.model.info();
        let mut model_meta =
            json!({"name": info.name, "backend": info.backend, "sha256": model.0.model.sha256()});
        if let Some(served) = conversations
            .iter()
            .flat_map(|c| c.iter())
            .find_map(|g| g.served_model.clone())
        {
            model_meta["served_model"] = Value::String(served);
        }
        if !model.0.chat_template_kwargs.is_empty() {
            model_meta["chat_template_kwargs"] = json!(model.0.chat_template_kwargs);
        }
        // The answers to one conversation share its prompt.
        let prompt_tokens: usize = conversations
            .iter()
            .filter_map(|c| c.first())
            .map(|g| g.prompt_tokens)
            .sum();
        let completion_tokens: usize = conversations
            .iter()
            .flat_map(|c| c.iter())
            .map(|g| g.completion_tokens)
            .sum();
        *self.last_call.lock().unwrap() = Some(json!({
            "model": model_meta,
            "sampling": opts,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
        }));
    }

    /// Tokens generated so far by every model this run loaded (their own counters).
    fn generated_tokens(&self) -> u64 {
        let models = self.models.lock().unwrap_or_else(|e| e.into_inner());
        models
            .values()
            .map(|m| m.0.model.usage().generated_tokens)
            .sum()
    }

    fn is_worker(&self) -> bool {
        matches!(self.role, Role::Worker { .. })
    }

    /// A shard holds part of the data (maybe none): its plots would mislead, so they are
    /// drawn from the merged results instead.
    fn skip_plot_in_shard(&self, path: &str) -> bool {
        let Some((i, n)) = self.config.shard else {
            return false;
        };
        crate::progress::eprintln(format_args!(
            "[{}] {path}: not drawn in shard {i}/{n} (a shard holds part of the results); \
             merge the shards, then `drift-script plot MERGED/records.jsonl`",
            self.script_name
        ));
        true
    }

    /// Workers print only inside units; the main pass always.
    fn may_print(&self) -> bool {
        !self.is_worker() || self.unit.lock().unwrap().is_some()
    }

    /// The run's results so far, in script order (see `Visits`).
    fn results(&self) -> Result<Vec<serde_json::Map<String, Value>>, Box<EvalAltResult>> {
        let visits = self.visits.lock().unwrap();
        let unit = self.unit.lock().unwrap();
        self.with_store(|store| {
            let mut out = Vec::new();
            for visit in &visits.order {
                match visit {
                    Visit::Unit(key) => {
                        if let Some(records) = store.completed_unit(key) {
                            out.extend(records.iter().cloned());
                        } else if let Some(current) = unit.as_ref().filter(|u| &u.key == key) {
                            out.extend(current.records.iter().cloned());
                        }
                    }
                    Visit::Loose(record) => out.push(record.clone()),
                }
            }
            Ok(out)
        })
    }

    /// Adds `_meta` (unit, time, run configuration, last model and sampling) and appends.
    fn record(&self, mut record: serde_json::Map<String, Value>) -> Result<(), Box<EvalAltResult>> {
        let unit_key = self.unit.lock().unwrap().as_ref().map(|u| u.key.clone());
        let mut meta = json!({
            "time": crate::util::utc_timestamp(),
            "run": self.run_config,
        });
        if let Some(key) = &unit_key {
            meta["unit"] = Value::String(key.clone());
        }
        if let Some(call) = self.last_call.lock().unwrap().clone() {
            meta["model"] = call["model"].clone();
            meta["sampling"] = call["sampling"].clone();
            meta["usage"] = call["usage"].clone();
        }
        record.insert("_meta".into(), meta);
        // A worker leaves records outside units to the main pass.
        if unit_key.is_none() && self.is_worker() {
            return Ok(());
        }
        let copy = record.clone();
        self.with_store(|store| {
            store
                .append(record)
                .map_err(|e| crate::util::error_chain(&e))
        })?;
        let loose = match self.unit.lock().unwrap().as_mut() {
            Some(unit) => {
                unit.records.push(copy);
                None
            }
            None => Some(copy),
        };
        if let Some(record) = loose {
            self.visits.lock().unwrap().order.push(Visit::Loose(record));
        }
        Ok(())
    }
}

/// Runs `f` on a thread whose stack holds the deepest calls and expressions the limits allow
/// (`Limits::stack_bytes`), so deep recursion ends in a limit error rather than a stack
/// overflow that aborts the process.
fn on_script_stack<T: Send>(
    stack: usize,
    f: impl FnOnce() -> Result<T, ScriptError> + Send,
) -> Result<T, ScriptError> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(stack)
            .spawn_scoped(scope, f)
            .map_err(|e| ScriptError(format!("cannot start the script's thread: {e}")))?
            .join()
            .unwrap_or_else(|_| Err(ScriptError("the script's thread panicked".into())))
    })
}

/// `file:line:column: message` for a Rhai error, with the innermost message and the outermost
/// position in the script being run; a crossed limit is named with its value (`limits`).
pub fn describe(error: &EvalAltResult, file: &str, limits: &limits::Limits) -> String {
    let pos = error.position();
    let mut inner = error;
    let mut chain = Vec::new();
    loop {
        match inner {
            EvalAltResult::ErrorInFunctionCall(name, _, next, _) => {
                // Closures are named `anon$<hash>` inside Rhai; their positions say more.
                if name.starts_with("anon$") {
                    chain.push("in a closure".to_string());
                } else {
                    chain.push(format!("in call to `{name}`"));
                }
                inner = next;
            }
            EvalAltResult::ErrorInModule(name, next, _) => {
                chain.push(format!("in module `{name}`"));
                inner = next;
            }
            _ => break,
        }
    }
    let mut message = match inner {
        EvalAltResult::ErrorRuntime(value, _) => value.to_string(),
        // The progress hook's reason: "interrupted", or a budget with its limit.
        EvalAltResult::ErrorTerminated(reason, _) => reason.to_string(),
        other => limits
            .message(other)
            .unwrap_or_else(|| strip_position(&other.to_string())),
    };
    if !chain.is_empty() {
        message = format!("{message} ({})", chain.join(", "));
    }
    match (pos.line(), pos.position()) {
        (Some(line), Some(col)) => format!("{file}:{line}:{col}: {message}"),
        (Some(line), None) => format!("{file}:{line}: {message}"),
        _ => format!("{file}: {message}"),
    }
}

fn strip_position(text: &str) -> String {
    match text.rfind(" (line ") {
        Some(i) if text.ends_with(')') => text[..i].to_string(),
        _ => text.to_string(),
    }
}

pub(crate) fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Turns `Map`s built by scripts into JSON objects for the store.
pub(crate) fn map_to_json(map: &Map) -> serde_json::Map<String, Value> {
    map.iter()
        .map(|(k, v)| (k.to_string(), convert::to_json(v)))
        .collect()
}
