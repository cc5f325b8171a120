//! The persona library: system prompts, probe questions and checks (Li et al. 2024,
//! "Measuring and Controlling Instruction (In)Stability in Language Model Dialogs",
//! arXiv 2402.10962; DESIGN §2).
//!
//! A persona is a system prompt the *agent* bot must keep following, a probe question asked after
//! each of its turns, and a check: a Rhai expression over the answer text `x` built from the
//! text metrics in [`crate::metrics`], returning a number (or boolean) in [0, 1]. The library
//! lives in `personas/`: one TOML file per family (`format.toml`, `choice.toml`, …, the file name
//! *is* the family) plus `topics.toml`, the conversation starters. `personas/README.md` documents
//! the format.
//!
//! ```no_run
//! use drift_script::persona::Library;
//! let lib = Library::load(std::path::Path::new("personas"))?;
//! let caps = lib.find("all-caps")?;
//! assert_eq!(lib.score(caps, "I LOVE\nRAIN")?, 1.0);
//! # Ok::<(), drift_script::persona::PersonaError>(())
//! ```
//!
//! Checks are compiled once, at load, so a library that loads has only checks that parse; a
//! check that fails at run time (an unknown function, a result outside [0, 1]) is an error from
//! [`Library::score`] that names the persona.

use rhai::{AST, Dynamic, Engine, EvalAltResult, Scope};
use serde::Serialize;
use std::cell::Cell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The persona families, in the order DESIGN §2 lists them. A persona file is named after its
/// family (`personas/<family>.toml`).
pub const FAMILIES: [&str; 5] = ["format", "choice", "character", "memory", "language"];

/// The file of conversation starters inside the library folder.
pub const TOPICS_FILE: &str = "topics.toml";

/// Rhai operations one check may take. Ordinary checks take a few dozen; the limit only stops a
/// broken check from hanging a run (a metric function call counts as one operation).
pub const MAX_CHECK_OPERATIONS: u64 = 1_000_000;

thread_local! {
    /// Operations of the check running on this thread, counted by the engine's progress hook.
    /// Rhai's own `max_operations` does not add up the operations of closures called by native
    /// functions (`map`, `reduce`): each call starts from its caller's count, so nested closures
    /// could run for minutes under the limit. The hook sees every operation, closures included.
    static CHECK_OPERATIONS: Cell<u64> = const { Cell::new(0) };
}

/// The fields a `[[persona]]` table may have.
const FIELDS: [&str; 9] = [
    "id",
    "family",
    "system",
    "probe",
    "check",
    "compliant",
    "violating",
    "index",
    "on_error",
];

/// The folder inside a library that holds word lists (`<name>.txt`, one entry a line) for
/// checks that call `word_list("<name>")`: lists the paper's helpers download at run time.
pub const WORD_LISTS_DIR: &str = "wordlists";

/// The Rhai error value of `word_list(name)` for a list the library does not have. A check
/// that fails with it fails even when its persona has `on_error`.
#[derive(Debug, Clone)]
pub struct MissingWordList(pub String);

/// One persona: what the agent is told, what it is asked, and how its answer is scored.
#[derive(Debug, Clone, Serialize)]
pub struct Persona {
    /// Stable kebab-case name, unique across the library.
    pub id: String,
    /// One of [`FAMILIES`]: the name of the file the persona came from.
    pub family: String,
    /// The system prompt.
    pub system: String,
    /// The probe question asked after each agent turn.
    pub probe: String,
    /// The check, as written: a Rhai expression over the answer `x`.
    #[serde(rename = "check")]
    pub check_source: String,
    /// An answer a faithful persona would give to the probe (used by tests and documentation).
    pub compliant: Option<String>,
    /// A plausible answer that ignores the persona.
    pub violating: Option<String>,
    /// Position in the order the persona's source runs its personas (for personas imported from
    /// the paper, the index in its result file names `agent_<index>_user_<index>`). When any
    /// persona of a library has one, all must, and the library is ordered by it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<i64>,
    /// The score of an answer on which the check fails (the paper's lambdas raise on some
    /// answers, e.g. one without words); without it a failing check is an error. A missing word
    /// list is an error either way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_error: Option<f64>,
    #[serde(skip)]
    check: AST,
}

/// The loaded library: personas in a deterministic order (files sorted by name, personas in file
/// order), the topics, and the engine that scores answers. `Send + Sync`: share one across
/// threads.
#[derive(Debug)]
pub struct Library {
    personas: Vec<Persona>,
    by_id: HashMap<String, usize>,
    topics: Vec<String>,
    engine: Engine,
}

/// Everything that can go wrong loading a library or scoring an answer. Every message names the
/// file and the persona it is about.
#[derive(Debug, thiserror::Error)]
pub enum PersonaError {
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "no persona library at {} (a folder of persona .toml files): run from the project \
         folder, or name the library (`personas --dir FOLDER`, `--set personas=FOLDER`)",
        path.display()
    )]
    NoLibrary { path: PathBuf },
    #[error("{}:{line}:{column}: TOML syntax error: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}: {persona}: missing field `{field}`", path.display())]
    MissingField {
        path: PathBuf,
        persona: String,
        field: String,
    },
    #[error("{}: {persona}: field `{field}` is empty", path.display())]
    EmptyField {
        path: PathBuf,
        persona: String,
        field: String,
    },
    #[error("{}: {persona}: field `{field}` must be {expected}, found {found}", path.display())]
    FieldType {
        path: PathBuf,
        persona: String,
        field: String,
        expected: String,
        found: String,
    },
    #[error("{}: {persona}: unknown field `{field}` (fields: {})", path.display(), FIELDS.join(", "))]
    UnknownField {
        path: PathBuf,
        persona: String,
        field: String,
    },
    #[error("{}: {persona}: id must be kebab-case (lower-case letters and digits joined by single dashes)", path.display())]
    BadId { path: PathBuf, persona: String },
    #[error("duplicate persona id `{id}`: in {} and in {}", first.display(), second.display())]
    DuplicateId {
        id: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("{}unknown family `{family}` (families: {})", located(path.as_deref()), FAMILIES.join(", "))]
    UnknownFamily {
        path: Option<PathBuf>,
        family: String,
    },
    #[error("{}: {persona}: family `{family}` does not match the file, which holds family `{expected}`", path.display())]
    FamilyMismatch {
        path: PathBuf,
        persona: String,
        family: String,
        expected: String,
    },
    #[error("{}: {problem}", path.display())]
    Malformed { path: PathBuf, problem: String },
    #[error("{}: {persona}: check does not compile: {message}", path.display())]
    CheckCompile {
        path: PathBuf,
        persona: String,
        message: String,
    },
    #[error("{}: {problem}", path.display())]
    Topics { path: PathBuf, problem: String },
    #[error("unknown persona `{id}`{}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownPersona {
        id: String,
        suggestion: Option<String>,
    },
    #[error("persona `{persona}`: check failed: {message}")]
    CheckFailed { persona: String, message: String },
    /// The check raised on this answer where the persona has an `on_error` score, and the
    /// caller asked for the error instead ([`Library::score_raising`]).
    #[error("persona `{persona}`: check raised: {message}")]
    CheckRaised { persona: String, message: String },
    #[error(
        "{}: {persona}: the check calls what does not exist ({message}), found by running it \
         once on a sample answer",
        path.display()
    )]
    CheckBroken {
        path: PathBuf,
        persona: String,
        message: String,
    },
    #[error(
        "persona `{persona}`: check returned {found}, expected a number in [0, 1] or a boolean"
    )]
    CheckType { persona: String, found: String },
    #[error("persona `{persona}`: check returned {value}, outside [0, 1]")]
    CheckRange { persona: String, value: f64 },
    #[error("{}: {persona}: `index` {index} is also the index of `{other}`", path.display())]
    DuplicateIndex {
        path: PathBuf,
        persona: String,
        index: i64,
        other: String,
    },
    #[error("{}: {persona}: has no `index` while other personas of the library have one (`{other}`): either all personas have an index or none", path.display())]
    MixedIndex {
        path: PathBuf,
        persona: String,
        other: String,
    },
    #[error("persona `{persona}`: {message}")]
    WordListMissing { persona: String, message: String },
}

fn located(path: Option<&Path>) -> String {
    path.map(|p| format!("{}: ", p.display()))
        .unwrap_or_default()
}

impl Library {
    /// Loads every `*.toml` in `dir` but `topics.toml` as the persona file of the family it is
    /// named after (sorted by file name, personas in file order), and `topics.toml`.
    pub fn load(dir: &Path) -> Result<Library, PersonaError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| PersonaError::Io { path, source }
        };
        if !dir.exists() {
            return Err(PersonaError::NoLibrary { path: dir.into() });
        }
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
                files.push(path);
            }
        }
        files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));

        let engine = check_engine(read_word_lists(&dir.join(WORD_LISTS_DIR))?);
        let mut personas: Vec<Persona> = Vec::new();
        let mut by_id: HashMap<String, usize> = HashMap::new();
        let mut origin: Vec<PathBuf> = Vec::new();
        let mut topics = None;
        for path in &files {
            let text = std::fs::read_to_string(path).map_err(io(path))?;
            let table = parse_toml(path, &text)?;
            if path.file_name().is_some_and(|n| n == TOPICS_FILE) {
                topics = Some(read_topics(path, table)?);
                continue;
            }
            for persona in read_persona_file(path, table, &engine)? {
                if let Some(&earlier) = by_id.get(&persona.id) {
                    return Err(PersonaError::DuplicateId {
                        id: persona.id,
                        first: origin[earlier].clone(),
                        second: path.clone(),
                    });
                }
                by_id.insert(persona.id.clone(), personas.len());
                origin.push(path.clone());
                personas.push(persona);
            }
        }
        for (persona, path) in personas.iter().zip(&origin) {
            check_calls_exist(&engine, persona, path)?;
        }
        order_by_index(&mut personas, &origin)?;
        let by_id = personas
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.clone(), i))
            .collect();
        let topics = topics.ok_or_else(|| PersonaError::Topics {
            path: dir.join(TOPICS_FILE),
            problem: "missing: the library needs its conversation starters".into(),
        })?;
        Ok(Library {
            personas,
            by_id,
            topics,
            engine,
        })
    }

    /// Every persona, files sorted by name, personas in file order.
    pub fn personas(&self) -> &[Persona] {
        &self.personas
    }

    /// The persona with this id, if any.
    pub fn get(&self, id: &str) -> Option<&Persona> {
        self.by_id.get(id).map(|&i| &self.personas[i])
    }

    /// The persona with this id, or an error suggesting the closest id.
    pub fn find(&self, id: &str) -> Result<&Persona, PersonaError> {
        self.get(id).ok_or_else(|| PersonaError::UnknownPersona {
            id: id.to_string(),
            suggestion: closest(id, self.personas.iter().map(|p| p.id.as_str()))
                .map(str::to_string),
        })
    }

    /// The families that have personas, in [`FAMILIES`] order.
    pub fn families(&self) -> Vec<&'static str> {
        FAMILIES
            .into_iter()
            .filter(|f| self.personas.iter().any(|p| p.family == *f))
            .collect()
    }

    /// The personas of one family, in library order; an unknown family is an error listing them.
    pub fn family(&self, family: &str) -> Result<Vec<&Persona>, PersonaError> {
        if !FAMILIES.contains(&family) {
            return Err(PersonaError::UnknownFamily {
                path: None,
                family: family.to_string(),
            });
        }
        Ok(self
            .personas
            .iter()
            .filter(|p| p.family == family)
            .collect())
    }

    /// The conversation starters, in file order.
    pub fn topics(&self) -> &[String] {
        &self.topics
    }

    /// Scores an answer with the persona's check: the answer is prepared (see
    /// [`Library::prepare_answer`]), the check runs with `x` bound to that text, and the result
    /// (a boolean counts 1 or 0, an integer as itself) must lie in [0, 1]. An answer on which
    /// the check raises scores the persona's `on_error` where it has one.
    pub fn score(&self, persona: &Persona, answer: &str) -> Result<f64, PersonaError> {
        self.score_with(persona, answer, persona.on_error)
    }

    /// [`Library::score`] without `on_error`: an answer on which the check raises (what a
    /// Python helper would raise on) is [`PersonaError::CheckRaised`], as the paper's notebook
    /// saw it, for the paper analysis mode, which leaves such answers out.
    pub fn score_raising(&self, persona: &Persona, answer: &str) -> Result<f64, PersonaError> {
        self.score_with(persona, answer, None)
    }

    /// The text a persona's check sees as `x`. Personas imported from the paper (those with an
    /// `index`) get the answer as the paper stored it, `answer.strip().replace("\n", " ")`
    /// (its `process_answer`): each newline one space, so a blank line leaves two. Every other
    /// persona gets runs of whitespace folded to single spaces and the ends trimmed, which keeps
    /// word and sentence metrics independent of how a model lays out its answer.
    pub fn prepare_answer(persona: &Persona, answer: &str) -> String {
        if persona.index.is_some() {
            crate::metrics::python::process_answer(answer)
        } else {
            crate::metrics::fold_newlines(answer)
        }
    }

    fn score_with(
        &self,
        persona: &Persona,
        answer: &str,
        on_error: Option<f64>,
    ) -> Result<f64, PersonaError> {
        let text = Self::prepare_answer(persona, answer);
        let value: Dynamic = match eval_check(&self.engine, persona, text) {
            Ok(value) => value,
            Err(e) => {
                let persona_id = persona.id.clone();
                return match e.unwrap_inner() {
                    EvalAltResult::ErrorTerminated(..)
                    | EvalAltResult::ErrorTooManyOperations(..) => Err(PersonaError::CheckFailed {
                        persona: persona_id,
                        message: format!(
                            "stopped after {MAX_CHECK_OPERATIONS} operations, the limit for one check"
                        ),
                    }),
                    EvalAltResult::ErrorRuntime(v, _)
                        if v.is::<crate::metrics::MissingDetectorData>() =>
                    {
                        Err(PersonaError::CheckFailed {
                            persona: persona_id,
                            message: v.clone_cast::<crate::metrics::MissingDetectorData>().0,
                        })
                    }
                    EvalAltResult::ErrorRuntime(v, _) if v.is::<MissingWordList>() => {
                        Err(PersonaError::WordListMissing {
                            persona: persona_id,
                            message: v.clone_cast::<MissingWordList>().0,
                        })
                    }
                    // What a Python helper would raise on (an error a metric returns, an index
                    // out of range, a division by zero) scores `on_error`; a mistake in the check
                    // itself (an unknown function, a wrong type) stays an error.
                    EvalAltResult::ErrorRuntime(..)
                    | EvalAltResult::ErrorArrayBounds(..)
                    | EvalAltResult::ErrorStringBounds(..)
                    | EvalAltResult::ErrorArithmetic(..)
                        if on_error.is_some() =>
                    {
                        Ok(on_error.expect("checked"))
                    }
                    e @ (EvalAltResult::ErrorRuntime(..)
                    | EvalAltResult::ErrorArrayBounds(..)
                    | EvalAltResult::ErrorStringBounds(..)
                    | EvalAltResult::ErrorArithmetic(..))
                        if persona.on_error.is_some() =>
                    {
                        Err(PersonaError::CheckRaised {
                            persona: persona_id,
                            message: raised_message(e),
                        })
                    }
                    _ => Err(PersonaError::CheckFailed {
                        persona: persona_id,
                        message: e.to_string(),
                    }),
                };
            }
        };
        let number = if let Ok(b) = value.as_bool() {
            if b { 1.0 } else { 0.0 }
        } else if let Ok(i) = value.as_int() {
            i as f64
        } else if let Ok(f) = value.as_float() {
            f
        } else {
            let found = if value.is_string() {
                format!("a string ({value:?})")
            } else {
                format!("a value of type {}", value.type_name())
            };
            return Err(PersonaError::CheckType {
                persona: persona.id.clone(),
                found,
            });
        };
        if !(0.0..=1.0).contains(&number) {
            // NaN fails `contains` too.
            return Err(PersonaError::CheckRange {
                persona: persona.id.clone(),
                value: number,
            });
        }
        Ok(number)
    }
}

/// What a raising check said: the thrown value's text for an error a function returned, else
/// Rhai's description (an index out of range, a division by zero).
fn raised_message(e: &EvalAltResult) -> String {
    match e {
        EvalAltResult::ErrorRuntime(v, _) if v.is_string() => {
            v.clone().into_string().unwrap_or_default()
        }
        other => {
            // Rhai's message ends with the position, which names no file here.
            let text = other.to_string();
            text.split(" (line ").next().unwrap_or(&text).to_string()
        }
    }
}

/// Runs a persona's check with `x` bound to `text`, under a fresh operations budget.
fn eval_check(
    engine: &Engine,
    persona: &Persona,
    text: String,
) -> Result<Dynamic, Box<EvalAltResult>> {
    let mut scope = Scope::new();
    scope.push("x", text);
    CHECK_OPERATIONS.with(|n| n.set(0));
    engine.eval_ast_with_scope(&mut scope, &persona.check)
}

/// Runs a persona's check once on a sample answer, so that a check calling a function, or
/// reading a variable or map property, that does not exist fails when the library loads, not
/// after the first episode's generation has been spent. Only those mistakes count here: what a
/// check does with this particular text (its `on_error`, a missing word list or detector data,
/// a score outside [0, 1]) is left to real answers.
fn check_calls_exist(engine: &Engine, persona: &Persona, path: &Path) -> Result<(), PersonaError> {
    const SAMPLE: &str = "Hello! I am happy to help you today. What would you like to talk about?";
    match eval_check(engine, persona, SAMPLE.to_string()) {
        Err(e)
            if matches!(
                e.unwrap_inner(),
                EvalAltResult::ErrorFunctionNotFound(..)
                    | EvalAltResult::ErrorVariableNotFound(..)
                    | EvalAltResult::ErrorPropertyNotFound(..)
            ) =>
        {
            Err(PersonaError::CheckBroken {
                path: path.to_path_buf(),
                persona: persona.id.clone(),
                message: e.unwrap_inner().to_string(),
            })
        }
        _ => Ok(()),
    }
}

/// The engine checks run in: the standard Rhai packages (string methods such as `to_lower` and
/// `ends_with`), the text metrics and the paper's helpers, and limits so that a broken check fails instead of hanging.
fn check_engine(word_lists: HashMap<String, crate::paper::WordSet>) -> Engine {
    let mut engine = Engine::new();
    crate::metrics::register(&mut engine);
    crate::paper::register(&mut engine);
    // Word lists are read once, with the library; a check that names one the library lacks
    // fails when it runs, saying where the list belongs.
    engine.register_fn(
        "word_list",
        move |name: &str| -> Result<crate::paper::WordSet, Box<EvalAltResult>> {
            word_lists.get(name).cloned().ok_or_else(|| {
                let message = format!(
                    "word list `{name}` is missing: put it (one entry a line) at \
                     {WORD_LISTS_DIR}/{name}.txt in the persona library folder, or import again \
                     with --{name} FILE"
                );
                EvalAltResult::ErrorRuntime(
                    Dynamic::from(MissingWordList(message)),
                    rhai::Position::NONE,
                )
                .into()
            })
        },
    );
    engine.set_max_operations(MAX_CHECK_OPERATIONS);
    engine.on_progress(|_| {
        CHECK_OPERATIONS.with(|n| {
            n.set(n.get() + 1);
            (n.get() > MAX_CHECK_OPERATIONS).then_some(Dynamic::UNIT)
        })
    });
    engine.set_max_expr_depths(64, 32);
    engine.set_max_string_size(1 << 24);
    engine.set_max_array_size(1 << 20);
    engine.set_max_map_size(1 << 10);
    // A misspelt variable is a load error, a misspelt map property (`sentiment(x).compund`) a
    // scoring error, rather than a silent `()`.
    engine.set_strict_variables(true);
    engine.set_fail_on_invalid_map_property(true);
    // Checks are pure functions of the text: no printing, no evaluating strings as code.
    engine.on_print(|_| {});
    engine.on_debug(|_, _, _| {});
    engine.disable_symbol("eval");
    engine
}

/// The word lists of a library: every `<name>.txt` in `dir` (no folder, no lists).
fn read_word_lists(dir: &Path) -> Result<HashMap<String, crate::paper::WordSet>, PersonaError> {
    let mut lists = HashMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(lists);
    };
    for entry in entries {
        let path = entry
            .map_err(|source| PersonaError::Io {
                path: dir.to_path_buf(),
                source,
            })?
            .path();
        if path.extension().is_some_and(|e| e == "txt") && path.is_file() {
            let text = std::fs::read_to_string(&path).map_err(|source| PersonaError::Io {
                path: path.clone(),
                source,
            })?;
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            lists.insert(name, crate::paper::WordSet::from_lines(&text));
        }
    }
    Ok(lists)
}

/// Orders the personas by `index` when they have one: all or none must, and no two the same.
fn order_by_index(personas: &mut [Persona], origin: &[PathBuf]) -> Result<(), PersonaError> {
    let Some(with) = personas.iter().position(|p| p.index.is_some()) else {
        return Ok(());
    };
    if let Some(without) = personas.iter().position(|p| p.index.is_none()) {
        return Err(PersonaError::MixedIndex {
            path: origin[without].clone(),
            persona: format!("persona `{}`", personas[without].id),
            other: personas[with].id.clone(),
        });
    }
    let mut seen: HashMap<i64, usize> = HashMap::new();
    for (i, p) in personas.iter().enumerate() {
        let index = p.index.expect("checked above");
        if let Some(&other) = seen.get(&index) {
            return Err(PersonaError::DuplicateIndex {
                path: origin[i].clone(),
                persona: format!("persona `{}`", p.id),
                index,
                other: personas[other].id.clone(),
            });
        }
        seen.insert(index, i);
    }
    personas.sort_by_key(|p| p.index);
    Ok(())
}

fn parse_toml(path: &Path, text: &str) -> Result<toml::Table, PersonaError> {
    text.parse::<toml::Table>().map_err(|e| {
        let (line, column) = e
            .span()
            .map(|s| line_column(text, s.start))
            .unwrap_or((1, 1));
        PersonaError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().trim().to_string(),
        }
    })
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

fn type_of(value: &toml::Value) -> &'static str {
    match value {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

fn read_topics(path: &Path, mut table: toml::Table) -> Result<Vec<String>, PersonaError> {
    let problem = |problem: String| PersonaError::Topics {
        path: path.to_path_buf(),
        problem,
    };
    let value = table
        .remove("topics")
        .ok_or_else(|| problem("missing `topics = [...]`".into()))?;
    if let Some(key) = table.keys().next() {
        return Err(problem(format!(
            "unknown key `{key}` (only `topics` belongs here)"
        )));
    }
    let toml::Value::Array(items) = value else {
        return Err(problem(format!(
            "`topics` must be an array of strings, found {}",
            type_of(&value)
        )));
    };
    if items.is_empty() {
        return Err(problem("`topics` is empty".into()));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            toml::Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            toml::Value::String(_) => Err(problem(format!("topic {} is empty", i + 1))),
            other => Err(problem(format!(
                "topic {} must be a string, found {}",
                i + 1,
                type_of(&other)
            ))),
        })
        .collect()
}

fn read_persona_file(
    path: &Path,
    mut table: toml::Table,
    engine: &Engine,
) -> Result<Vec<Persona>, PersonaError> {
    let family = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !FAMILIES.contains(&family.as_str()) {
        return Err(PersonaError::UnknownFamily {
            path: Some(path.to_path_buf()),
            family,
        });
    }
    let malformed = |problem: String| PersonaError::Malformed {
        path: path.to_path_buf(),
        problem,
    };
    let entries = table
        .remove("persona")
        .ok_or_else(|| malformed("no personas: write each one as a `[[persona]]` table".into()))?;
    if let Some(key) = table.keys().next() {
        return Err(malformed(format!(
            "unknown top-level key `{key}` (only `[[persona]]` tables belong here)"
        )));
    }
    let toml::Value::Array(entries) = entries else {
        return Err(malformed(format!(
            "`persona` must be `[[persona]]` tables, found {}",
            type_of(&entries)
        )));
    };
    if entries.is_empty() {
        return Err(malformed(
            "no personas: write each one as a `[[persona]]` table".into(),
        ));
    }
    let mut scope = Scope::new();
    scope.push("x", String::new());
    let mut personas = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let toml::Value::Table(fields) = entry else {
            return Err(malformed(format!(
                "persona #{} must be a table, found {}",
                index + 1,
                type_of(&entry)
            )));
        };
        personas.push(read_persona(path, &family, index, fields, engine, &scope)?);
    }
    Ok(personas)
}

fn read_persona(
    path: &Path,
    family: &str,
    index: usize,
    mut fields: toml::Table,
    engine: &Engine,
    scope: &Scope,
) -> Result<Persona, PersonaError> {
    // Name the persona by its id once it has a usable one, by position until then.
    let who = format!("persona #{}", index + 1);
    let id = take_string(path, &who, &mut fields, "id", true)?
        .unwrap_or_default()
        .trim()
        .to_string();
    let who = format!("persona `{id}`");
    if !is_kebab_case(&id) {
        return Err(PersonaError::BadId {
            path: path.to_path_buf(),
            persona: who,
        });
    }
    let mut take =
        |field: &str, required: bool| take_string(path, &who, &mut fields, field, required);
    let stated_family = take("family", false)?;
    let system = take("system", true)?.unwrap_or_default();
    let probe = take("probe", true)?.unwrap_or_default();
    let check_source = take("check", true)?.unwrap_or_default();
    let compliant = take("compliant", false)?;
    let violating = take("violating", false)?;
    let index = match fields.remove("index") {
        None => None,
        Some(toml::Value::Integer(i)) if i >= 0 => Some(i),
        Some(other) => {
            return Err(PersonaError::FieldType {
                path: path.to_path_buf(),
                persona: who,
                field: "index".into(),
                expected: "a non-negative integer".into(),
                found: type_of(&other).into(),
            });
        }
    };
    let on_error = match fields.remove("on_error") {
        None => None,
        Some(toml::Value::Float(f)) if (0.0..=1.0).contains(&f) => Some(f),
        Some(toml::Value::Integer(i)) if (0..=1).contains(&i) => Some(i as f64),
        Some(other) => {
            return Err(PersonaError::FieldType {
                path: path.to_path_buf(),
                persona: who,
                field: "on_error".into(),
                expected: "a number in [0, 1]".into(),
                found: type_of(&other).into(),
            });
        }
    };
    if let Some(field) = fields.keys().next() {
        return Err(PersonaError::UnknownField {
            path: path.to_path_buf(),
            persona: who,
            field: field.clone(),
        });
    }
    if let Some(stated) = stated_family {
        let stated = stated.trim();
        if !FAMILIES.contains(&stated) {
            return Err(PersonaError::UnknownFamily {
                path: Some(path.to_path_buf()),
                family: stated.to_string(),
            });
        }
        if stated != family {
            return Err(PersonaError::FamilyMismatch {
                path: path.to_path_buf(),
                persona: who,
                family: stated.to_string(),
                expected: family.to_string(),
            });
        }
    }
    let check = engine
        .compile_expression_with_scope(scope, &check_source)
        .map_err(|e| PersonaError::CheckCompile {
            path: path.to_path_buf(),
            persona: who.clone(),
            message: e.to_string(),
        })?;
    Ok(Persona {
        id,
        family: family.to_string(),
        system: system.trim().to_string(),
        probe: probe.trim().to_string(),
        check_source: check_source.trim().to_string(),
        compliant,
        violating,
        index,
        on_error,
        check,
    })
}

/// Removes `field` from a persona table: a non-empty string, or `None` when absent and optional.
fn take_string(
    path: &Path,
    who: &str,
    fields: &mut toml::Table,
    field: &str,
    required: bool,
) -> Result<Option<String>, PersonaError> {
    let (path, persona, field_name) = (path.to_path_buf(), who.to_string(), field.to_string());
    match fields.remove(field) {
        None if required => Err(PersonaError::MissingField {
            path,
            persona,
            field: field_name,
        }),
        None => Ok(None),
        Some(toml::Value::String(s)) if s.trim().is_empty() => Err(PersonaError::EmptyField {
            path,
            persona,
            field: field_name,
        }),
        Some(toml::Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(PersonaError::FieldType {
            path,
            persona,
            field: field_name,
            expected: "a string".into(),
            found: type_of(&other).into(),
        }),
    }
}

fn is_kebab_case(id: &str) -> bool {
    !id.is_empty()
        && id.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// The candidate nearest to `id` by edit distance, if it is near enough to be a likely typo
/// (at most a third of the length, at least 2 edits allowed), or contains `id` or is contained
/// in it.
fn closest<'a>(id: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let wanted = id.to_lowercase();
    let allowed = (wanted.chars().count() / 3).max(2);
    candidates
        .filter_map(|c| {
            let d = edit_distance(&wanted, c);
            let related =
                d <= allowed || (wanted.len() >= 3 && (c.contains(&wanted) || wanted.contains(c)));
            related.then_some((d, c))
        })
        .min_by_key(|&(d, c)| (d, c))
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let ids = [
            "all-caps",
            "all-lower-case",
            "prefers-cats",
            "secret-number",
        ];
        assert_eq!(closest("all-cap", ids.into_iter()), Some("all-caps"));
        assert_eq!(closest("secret", ids.into_iter()), Some("secret-number"));
        assert_eq!(closest("zzzzzzzz", ids.into_iter()), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn ids_and_positions() {
        assert!(is_kebab_case("a-b2-c"));
        assert!(
            !is_kebab_case("A-b")
                && !is_kebab_case("a--b")
                && !is_kebab_case("-a")
                && !is_kebab_case("a_b")
        );
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
    }
}
