//! Importing the paper's persona file (`hundred_system_prompts.py`, Li et al. 2024, arXiv
//! 2402.10962) into a persona library, without running Python.
//!
//! The file holds five lists of `(system prompt, probe question, lambda x: …)` tuples, helper
//! functions the lambdas call, and module-level word lists downloaded at run time. The importer
//! tokenizes the whole file ([`crate::metrics::python::lexer`]), parses the five lists' entries as Python expressions
//! ([`parse`]), and translates each lambda to a Rhai check ([`translate`]) over the metrics,
//! where a call to one of the file's helpers becomes the `paper_*` metric that computes what
//! the helper computes ([`crate::paper::helpers`]). Helpers that carry their own word lists
//! (slang words, colour names) have those lists read from their bodies in the file, so the
//! imported check uses the file's data, whatever it is.
//!
//! Output: `<family>.toml` files in the library format (`personas/README.md`), one family per
//! list (`pattern` → format, `multiple_choice` → choice, `persona` → character,
//! `memorization` → memory, `language` → language), each persona with
//! - an id made of the list and the position in it (`pattern-01`), so ids are the same on
//!   every import of the same file (and of a file with entries appended);
//! - `index`: its position in the paper's run order — the first entry of each list, then the
//!   rest of each list in list order — the number in the paper's result file names
//!   (`…_agent_<index>_user_<index>_…`); the library is ordered by it;
//! - `on_error = 0.0`: an answer on which the lambda would raise (no words, no number) scores 0.
//!
//! Downloaded word lists are taken from local files and copied to `wordlists/<name>.txt`;
//! checks that use one call `word_list("<name>")`, which fails with a message saying where the
//! list belongs when it is missing.

pub mod parse;
pub mod translate;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::metrics::python::lexer::{LexError, Tok, Token, tokenize};
use parse::{Expr, Node, Parser};
use translate::{Download, FileContext, translate_lambda};

/// The five lists of the paper's file, in the order of its run script, with the family and the
/// id stem of their personas.
pub const LISTS: [(&str, &str, &str); 5] = [
    ("pattern_system_prompts", "format", "pattern"),
    (
        "multiple_choice_system_prompts",
        "choice",
        "multiple-choice",
    ),
    ("persona_system_prompts", "character", "persona"),
    ("memorization_system_prompts", "memory", "memorization"),
    ("language_system_prompts", "language", "language"),
];

/// The first line of every file the importer writes; a family file that starts with it may be
/// replaced or removed by a later import.
pub const HEADER: &str = "# Imported by `drift-script personas import`";

/// Word lists the paper downloads, by the local name they get, with the command-line option
/// that supplies each.
pub const KNOWN_WORD_LISTS: [(&str, &str); 2] = [
    ("frequent-words", "--frequent-words"),
    ("one-syllable-words", "--one-syllable-words"),
];

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A syntax problem, before the file's path is known.
    #[error("line {line}: {message}")]
    Syntax { line: usize, message: String },
    #[error("{}:{line}: {message}", path.display())]
    InFile {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A problem with the whole file, before its path is known.
    #[error("{message}")]
    Whole { message: String },
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the imported library does not load")]
    Load(#[from] crate::persona::PersonaError),
}

impl From<LexError> for ImportError {
    fn from(e: LexError) -> ImportError {
        ImportError::Syntax {
            line: e.line,
            message: e.message,
        }
    }
}

impl ImportError {
    pub(crate) fn at(line: usize, message: impl Into<String>) -> ImportError {
        ImportError::Syntax {
            line,
            message: message.into(),
        }
    }

    fn in_file(self, path: &Path) -> ImportError {
        match self {
            ImportError::Syntax { line, message } => ImportError::InFile {
                path: path.to_path_buf(),
                line,
                message,
            },
            ImportError::Whole { message } => ImportError::File {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ImportError + '_ {
    move |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What to import and where.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The paper's persona file.
    pub file: PathBuf,
    /// The library folder to write.
    pub out: PathBuf,
    /// Import what translates and list the rest, instead of stopping at the first unknown
    /// construct.
    pub skip_unknown: bool,
    /// Local copies of downloaded word lists: (local name, file).
    pub word_lists: Vec<(String, PathBuf)>,
    /// The conversation starters to copy when the folder has no `topics.toml` (the paper's
    /// file has none); `None`: `personas/topics.toml`.
    pub topics: Option<PathBuf>,
}

/// One imported persona.
#[derive(Debug, Clone)]
pub struct Imported {
    pub id: String,
    pub family: &'static str,
    pub index: usize,
    pub line: usize,
    pub system: String,
    pub probe: String,
    pub check: String,
    /// The lambda as written in the file.
    pub lambda: String,
    pub word_lists: BTreeSet<String>,
    pub approximations: BTreeSet<String>,
}

/// An entry left out with `--skip-unknown`.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub id: String,
    pub index: usize,
    pub line: usize,
    pub what: String,
}

/// A downloaded word list and what became of it.
#[derive(Debug, Clone)]
pub struct WordListStatus {
    pub name: String,
    pub python_name: String,
    pub url: String,
    /// Entries copied into the library, or `None` when no local file was given.
    pub entries: Option<usize>,
    /// Imported personas whose checks use it.
    pub needed_by: Vec<String>,
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub out: PathBuf,
    pub personas: Vec<Imported>,
    pub skipped: Vec<Skipped>,
    pub word_lists: Vec<WordListStatus>,
    /// Word-list files given on the command line that no check uses.
    pub unused_word_lists: Vec<String>,
    /// Where `topics.toml` was copied from, when it was.
    pub topics_from: Option<PathBuf>,
    /// Checks that failed on the sample answers (other than for a missing word list).
    pub check_failures: Vec<String>,
}

/// The personas translated, the entries left out, and the downloaded word lists by Python name.
pub type Translated = (Vec<Imported>, Vec<Skipped>, HashMap<String, Download>);

/// Reads the paper's persona file and returns the translated personas (nothing is written).
pub fn translate_file(path: &Path, skip_unknown: bool) -> Result<Translated, ImportError> {
    let src = std::fs::read_to_string(path).map_err(io(path))?;
    translate_source(&src, skip_unknown).map_err(|e| e.in_file(path))
}

fn translate_source(src: &str, skip_unknown: bool) -> Result<Translated, ImportError> {
    let tokens = tokenize(src)?;
    let (assignments, defs) = top_level(&tokens);

    let mut downloads = HashMap::new();
    for (name, &pos) in &assignments {
        if let Some(url) = Parser::new(&tokens, pos)
            .expression()
            .ok()
            .and_then(|n| downloaded_url(&n))
        {
            downloads.insert(
                name.clone(),
                Download {
                    list: word_list_name(name, &url),
                    url,
                },
            );
        }
    }
    let mut helper_lists = HashMap::new();
    for (name, &(start, end)) in &defs {
        if let Some(list) = first_string_list(&tokens[start..end]) {
            helper_lists.insert(name.clone(), list);
        }
    }
    let file = FileContext {
        downloads: &downloads,
        helper_lists: &helper_lists,
    };

    // The entries of each list, in list order.
    let mut lists = Vec::new();
    for (name, _, _) in LISTS {
        let Some(&pos) = assignments.get(name) else {
            return Err(ImportError::Whole {
                message: format!("no top-level `{name} = [...]`: the file needs all five lists"),
            });
        };
        lists.push(list_entries(&tokens, pos, name)?);
    }

    // The paper's order: the first of each (non-empty) list, then the rest of each list.
    let firsts = lists.iter().filter(|l| !l.is_empty()).count();
    let mut next_rest = firsts;
    let mut next_first = 0;
    let mut personas = Vec::new();
    let mut skipped = Vec::new();
    for ((list_name, family, stem), items) in LISTS.iter().zip(&lists) {
        for (position, item) in items.iter().enumerate() {
            let index = if position == 0 {
                next_first += 1;
                next_first - 1
            } else {
                next_rest += 1;
                next_rest - 1
            };
            let id = format!("{stem}-{:02}", position + 1);
            let translated = item
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|item| entry(src, item, &file));
            match translated {
                Ok((line, system, probe, lambda, check)) => personas.push(Imported {
                    id,
                    family,
                    index,
                    line,
                    system,
                    probe,
                    check: check.rhai,
                    lambda,
                    word_lists: check.word_lists,
                    approximations: check.approximations,
                }),
                Err(unknown) => {
                    let what = format!(
                        "`{list_name}` entry {} ({id}): unknown construct: {}",
                        position + 1,
                        unknown.what
                    );
                    if !skip_unknown {
                        return Err(ImportError::at(
                            unknown.line,
                            format!(
                                "{what} (--skip-unknown imports the other personas and lists \
                                 the ones left out)"
                            ),
                        ));
                    }
                    skipped.push(Skipped {
                        id,
                        index,
                        line: unknown.line,
                        what,
                    });
                }
            }
        }
    }
    Ok((personas, skipped, downloads))
}

/// The entries of the list literal whose `[` is at `pos`, each parsed on its own, so that a
/// construct the parser does not know spoils only its entry.
#[allow(clippy::type_complexity)]
fn list_entries(
    tokens: &[Token],
    pos: usize,
    name: &str,
) -> Result<Vec<Result<Node, translate::Unknown>>, ImportError> {
    let is =
        |i: usize, op: &str| matches!(tokens.get(i).map(|t| &t.tok), Some(Tok::Op(o)) if o == op);
    let line = |i: usize| tokens.get(i).or(tokens.last()).map_or(1, |t| t.line);
    if !is(pos, "[") {
        return Err(ImportError::at(
            line(pos),
            format!("`{name}` is not a list literal"),
        ));
    }
    let mut entries = Vec::new();
    let mut i = pos + 1;
    while !is(i, "]") {
        if i >= tokens.len() {
            return Err(ImportError::at(
                line(pos),
                format!("`{name}`: the list does not end"),
            ));
        }
        // The entry ends at the next `,` or `]` outside brackets.
        let mut end = i;
        let mut depth = 0usize;
        while end < tokens.len() {
            match &tokens[end].tok {
                Tok::Op(o) if matches!(o.as_str(), "(" | "[" | "{") => depth += 1,
                Tok::Op(o) if depth == 0 && (o == "," || o == "]") => break,
                Tok::Op(o) if matches!(o.as_str(), ")" | "]" | "}") => {
                    depth = depth.saturating_sub(1)
                }
                _ => {}
            }
            end += 1;
        }
        let mut parser = Parser::new(tokens, i);
        entries.push(match parser.expression() {
            Ok(node) if parser.pos() == end => Ok(node),
            Ok(_) => Err(translate::Unknown {
                line: line(parser.pos()),
                what: "an entry that continues after its expression".into(),
            }),
            Err(ImportError::Syntax { line, message }) => Err(translate::Unknown {
                line,
                what: message,
            }),
            Err(other) => return Err(other),
        });
        i = end + usize::from(is(end, ","));
    }
    Ok(entries)
}

/// One entry: `(system, probe, lambda)`, the lambda translated; with the entry's line.
fn entry(
    src: &str,
    item: &Node,
    file: &FileContext,
) -> Result<(usize, String, String, String, translate::Check), translate::Unknown> {
    let shape = || translate::Unknown {
        line: item.line,
        what: "an entry that is not a (system prompt, probe question, lambda) tuple".into(),
    };
    let Expr::Tuple(parts) = &item.expr else {
        return Err(shape());
    };
    let [system, probe, lambda] = &parts[..] else {
        return Err(shape());
    };
    let (Expr::Str(system), Expr::Str(probe)) = (&system.expr, &probe.expr) else {
        return Err(shape());
    };
    let check = translate_lambda(lambda, file)?;
    let lambda_src = src[lambda.start..lambda.end].to_string();
    Ok((item.line, system.clone(), probe.clone(), lambda_src, check))
}

type DefRanges = HashMap<String, (usize, usize)>;

/// Top-level assignments (`name = …`: the token where the value starts; the last one wins, as
/// in Python) and function definitions (`def name`: the token range of the whole definition).
fn top_level(tokens: &[Token]) -> (HashMap<String, usize>, DefRanges) {
    let mut assignments = HashMap::new();
    let mut defs = HashMap::new();
    let starts: Vec<usize> = (0..tokens.len())
        .filter(|&i| tokens[i].line_start && tokens[i].indent == 0)
        .collect();
    for (k, &i) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(tokens.len());
        match (&tokens[i].tok, tokens.get(i + 1).map(|t| &t.tok)) {
            (Tok::Name(n), Some(Tok::Op(eq))) if eq == "=" => {
                assignments.insert(n.clone(), i + 2);
            }
            (Tok::Name(def), Some(Tok::Name(f))) if def == "def" => {
                defs.insert(f.clone(), (i, end));
            }
            _ => {}
        }
    }
    (assignments, defs)
}

/// `set(download_file("url"))` or `download_file("url")`: the url.
fn downloaded_url(node: &Node) -> Option<String> {
    let Expr::Call { func, args, .. } = &node.expr else {
        return None;
    };
    let Expr::Name(f) = &func.expr else {
        return None;
    };
    match (f.as_str(), &args[..]) {
        ("set", [inner]) => downloaded_url(inner),
        ("download_file", [arg]) => match &arg.expr {
            Expr::Str(url) => Some(url.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// The local name of a downloaded list bound to `python_name` and fetched from `url`: the
/// paper's two lists are recognised by either (`frequent_words_list`, `google-10000-english`;
/// `one_syllable_words_list`, `one-syllable-…`); another list is named after its variable.
fn word_list_name(python_name: &str, url: &str) -> String {
    let both = format!("{python_name} {url}").to_lowercase();
    if both.contains("frequent") || both.contains("10000") {
        "frequent-words".into()
    } else if both.contains("syllab") {
        "one-syllable-words".into()
    } else {
        let lower = python_name.to_lowercase();
        let name = lower.trim_end_matches("_list").replace('_', "-");
        name.trim_matches('-').to_string()
    }
}

/// The first `name = [strings…]` or `name = set([strings…])` inside a definition.
fn first_string_list(tokens: &[Token]) -> Option<Vec<String>> {
    for i in 0..tokens.len() {
        let is = |k: usize, op: &str| matches!(tokens.get(k).map(|t| &t.tok), Some(Tok::Op(o)) if o == op);
        if !(matches!(tokens[i].tok, Tok::Name(_)) && is(i + 1, "=")) {
            continue;
        }
        let mut p = Parser::new(tokens, i + 2);
        let Ok(node) = p.expression() else { continue };
        let items = match node.expr {
            Expr::List(items) => items,
            Expr::Call { func, args, .. } if matches!(&func.expr, Expr::Name(n) if n == "set") => {
                match args.into_iter().next().map(|a| a.expr) {
                    Some(Expr::List(items)) => items,
                    _ => continue,
                }
            }
            _ => continue,
        };
        let strings: Option<Vec<String>> = items
            .into_iter()
            .map(|n| match n.expr {
                Expr::Str(s) => Some(s),
                _ => None,
            })
            .collect();
        if let Some(strings) = strings.filter(|s| !s.is_empty()) {
            return Some(strings);
        }
    }
    None
}

/// A TOML string value.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Imports `options.file` into `options.out`: writes the family files, the word lists given,
/// and `topics.toml` when the folder has none; then loads the result with the persona loader
/// and runs every check on sample answers.
pub fn import(options: &ImportOptions) -> Result<ImportReport, ImportError> {
    let (personas, skipped, downloads) = translate_file(&options.file, options.skip_unknown)?;
    let out = &options.out;
    // Topics: the paper's file has none and the library needs them. Read before anything is
    // written, so that a missing file leaves no half-made library behind.
    let topics_path = out.join(crate::persona::TOPICS_FILE);
    let topics_to_copy = if topics_path.exists() {
        None
    } else {
        let from = options
            .topics
            .clone()
            .unwrap_or_else(|| PathBuf::from("personas").join(crate::persona::TOPICS_FILE));
        let text = std::fs::read_to_string(&from).map_err(|e| ImportError::File {
            path: from.clone(),
            message: format!(
                "{e}: the library needs conversation starters (topics.toml) and the paper's \
                 file has none; give one with --topics FILE"
            ),
        })?;
        Some((from, text))
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let source_name = options
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();

    // Family files.
    for (list_name, family, _) in LISTS {
        let path = out.join(format!("{family}.toml"));
        let members: Vec<&Imported> = personas.iter().filter(|p| p.family == family).collect();
        if members.is_empty() {
            // The loader refuses a family file without personas; drop an earlier import's.
            if std::fs::read_to_string(&path).is_ok_and(|t| t.starts_with(HEADER)) {
                std::fs::remove_file(&path).map_err(io(&path))?;
            }
            continue;
        }
        let mut text = format!(
            "{HEADER} from {source_name} (`{list_name}`).\n# Import again rather than edit: \
             ids and indexes come from the file.\n"
        );
        for p in members {
            text += &format!(
                "\n[[persona]]\nid = \"{}\"\nindex = {}\nsystem = {}\nprobe = {}\n# {}:{}: {}\n",
                p.id,
                p.index,
                toml_string(&p.system),
                toml_string(&p.probe),
                source_name,
                p.line,
                p.lambda.replace('\n', "\n# ")
            );
            if !p.approximations.is_empty() {
                text += &format!(
                    "# approximate: {} (NLTK's tagger, run on stand-in weights)\n",
                    p.approximations
                        .iter()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            text += &format!("check = {}\non_error = 0.0\n", toml_string(&p.check));
        }
        write_atomic(&path, &text)?;
    }

    // Word lists.
    let lists_dir = out.join(crate::persona::WORD_LISTS_DIR);
    let mut copied: BTreeMap<String, usize> = BTreeMap::new();
    let mut unused = Vec::new();
    for (name, file) in &options.word_lists {
        if !downloads.values().any(|d| &d.list == name) {
            unused.push(format!("{name} ({})", file.display()));
            continue;
        }
        let text = std::fs::read_to_string(file).map_err(io(file))?;
        std::fs::create_dir_all(&lists_dir).map_err(io(&lists_dir))?;
        let path = lists_dir.join(format!("{name}.txt"));
        write_atomic(&path, &text)?;
        copied.insert(name.clone(), text.lines().count());
    }
    let mut word_lists: Vec<WordListStatus> = downloads
        .iter()
        .map(|(python_name, d)| {
            let present = lists_dir.join(format!("{}.txt", d.list));
            WordListStatus {
                name: d.list.clone(),
                python_name: python_name.clone(),
                url: d.url.clone(),
                entries: copied.get(&d.list).copied().or_else(|| {
                    std::fs::read_to_string(&present)
                        .ok()
                        .map(|t| t.lines().count())
                }),
                needed_by: personas
                    .iter()
                    .filter(|p| p.word_lists.contains(&d.list))
                    .map(|p| p.id.clone())
                    .collect(),
            }
        })
        .collect();
    word_lists.sort_by(|a, b| a.name.cmp(&b.name));

    // Topics (read above).
    let mut topics_from = None;
    if let Some((from, text)) = topics_to_copy {
        write_atomic(&topics_path, &text)?;
        topics_from = Some(from);
    }

    // The result must load, and every check run.
    let library = crate::persona::Library::load(out)?;
    let samples = [
        "",
        "Yes. I would visit the British Museum, walk along the Thames and eat fish and chips!",
    ];
    let mut check_failures = Vec::new();
    for p in library.personas() {
        for sample in samples {
            match library.score(p, sample) {
                Ok(_) | Err(crate::persona::PersonaError::WordListMissing { .. }) => {}
                Err(e) => check_failures.push(format!(
                    "{} (answer {sample:?})",
                    crate::util::error_chain(&e)
                )),
            }
        }
    }

    Ok(ImportReport {
        out: out.clone(),
        personas,
        skipped,
        word_lists,
        unused_word_lists: unused,
        topics_from,
        check_failures,
    })
}

fn write_atomic(path: &Path, text: &str) -> Result<(), ImportError> {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

impl ImportReport {
    /// A summary for people: what was imported, skipped, and what the word lists need.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let total = self.personas.len() + self.skipped.len();
        s += &format!(
            "imported {} of {total} personas into {}\n",
            self.personas.len(),
            self.out.display()
        );
        for (list, family, _) in LISTS {
            let n = self.personas.iter().filter(|p| p.family == family).count();
            s += &format!("  {family:<10} {n:>3}  (from {list})\n");
        }
        if !self.skipped.is_empty() {
            s += &format!("skipped {} (--skip-unknown):\n", self.skipped.len());
            for k in &self.skipped {
                s += &format!("  line {}: index {}: {}\n", k.line, k.index, k.what);
            }
        }
        for w in &self.word_lists {
            let flag = KNOWN_WORD_LISTS
                .iter()
                .find(|(n, _)| *n == w.name)
                .map(|(_, f)| format!("{f} FILE"))
                .unwrap_or_else(|| "no option: copy the file there by hand".into());
            let state = match w.entries {
                Some(n) => format!("present ({n} entries)"),
                None => format!(
                    "MISSING: those checks fail until {}/{}/{}.txt exists ({flag})",
                    self.out.display(),
                    crate::persona::WORD_LISTS_DIR,
                    w.name
                ),
            };
            let needed = if w.needed_by.is_empty() {
                "no imported persona".to_string()
            } else {
                w.needed_by.join(", ")
            };
            s += &format!(
                "word list {} (`{}`, downloaded by the paper from {}): needed by {needed}; {state}\n",
                w.name, w.python_name, w.url
            );
        }
        for u in &self.unused_word_lists {
            s += &format!("note: word list {u} is not used by this file; not copied\n");
        }
        let approximate: Vec<String> = self
            .personas
            .iter()
            .filter(|p| !p.approximations.is_empty())
            .map(|p| p.id.clone())
            .collect();
        if !approximate.is_empty() {
            s += &format!(
                "approximate scorers (NLTK's tagger on stand-in weights, unless DRIFT_SCRIPT_NLTK_DATA holds NLTK's own): {}\n",
                approximate.join(", ")
            );
        }
        if let Some(from) = &self.topics_from {
            s += &format!(
                "topics.toml copied from {} (the paper's file has no conversation starters)\n",
                from.display()
            );
        }
        for f in &self.check_failures {
            s += &format!("CHECK FAILED: {f}\n");
        }
        s
    }
}
