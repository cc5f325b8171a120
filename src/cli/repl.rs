//! The REPL: `drift-script` with no script. Models stay loaded and variables persist between
//! entries; an entry continues over several lines while it is incomplete; Ctrl-C stops the
//! running entry (generation included) and returns to the prompt.

use super::run::RunArgs;
use crate::script::ScriptHost;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use std::sync::{Arc, Mutex};

const HELP: &str = "\
Enter Rhai code; results are printed. Models stay loaded between entries.
  let m = model();                      load the default model (or model(\"path.gguf\"))
  m.chat([#{role: \"user\", content: \"Hi\"}], #{max_tokens: 50})
  :vars        list variables           :load FILE   run a script file here
  :help        this text                :quit        leave (or Ctrl-D)
Ctrl-C stops the running entry; Tab completes functions and variables.";

/// Completion candidates: registered functions and the variables in scope.
struct ReplHelper {
    names: Arc<Mutex<Vec<String>>>,
}

impl Helper for ReplHelper {}
impl Highlighter for ReplHelper {}
impl Validator for ReplHelper {}
impl Hinter for ReplHelper {
    type Hint = String;
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let start = line[..pos]
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let word = &line[start..pos];
        if word.is_empty() {
            return Ok((pos, Vec::new()));
        }
        let names = self.names.lock().unwrap();
        let candidates = names
            .iter()
            .filter(|n| n.starts_with(word))
            .map(|n| Pair {
                display: n.clone(),
                replacement: n.clone(),
            })
            .collect();
        Ok((start, candidates))
    }
}

/// More `(`, `[`, `{` opened than closed, outside string literals.
fn unbalanced(code: &str) -> bool {
    let mut depth = 0i64;
    let mut in_string: Option<char> = None;
    let mut escaped = false;
    for c in code.chars() {
        if let Some(quote) = in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == quote {
                in_string = None;
            }
            continue;
        }
        match c {
            '"' | '`' => in_string = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            _ => {}
        }
    }
    depth > 0 || in_string.is_some()
}

fn is_incomplete(host: &ScriptHost, code: &str) -> bool {
    if unbalanced(code) {
        return true;
    }
    match host.engine().compile_with_scope(&host.scope, code) {
        Ok(_) => false,
        Err(e) => matches!(*e.0, rhai::ParseErrorType::UnexpectedEOF),
    }
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let mut host = ScriptHost::new(args.host_config()?)?;
    crate::interrupt::install_sigint_handler();
    let names = Arc::new(Mutex::new(host.function_names()));
    let mut editor: Editor<ReplHelper, rustyline::history::DefaultHistory> = Editor::new()?;
    editor.set_helper(Some(ReplHelper {
        names: names.clone(),
    }));
    let history = crate::fetch::home_dir().join("repl_history");
    let _ = editor.load_history(&history);
    eprintln!(
        "drift-script {} REPL — :help for help, :quit to leave",
        env!("CARGO_PKG_VERSION")
    );
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() { "> " } else { "… " };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        if buffer.is_empty() {
            let command = line.trim();
            match command {
                ":quit" | ":q" | ":exit" => break,
                ":help" => {
                    outln!("{HELP}")?;
                    continue;
                }
                ":vars" => {
                    for (name, constant, value) in host.scope.iter() {
                        let kind = if constant { "const" } else { "let" };
                        let type_name = host.engine().map_type_name(value.type_name());
                        outln!("{kind} {name}: {type_name} = {}", short(&value.to_string()))?;
                    }
                    continue;
                }
                _ if command.starts_with(":load ") => {
                    crate::interrupt::clear();
                    let path = command[6..].trim();
                    match host.eval_file(path) {
                        Ok(()) => outln!("loaded {path}")?,
                        Err(e) => eprintln!("error: {e}"),
                    }
                    continue;
                }
                _ if command.starts_with(':') => {
                    eprintln!("unknown command {command} (:help lists them)");
                    continue;
                }
                "" => continue,
                _ => {}
            }
        }
        buffer.push_str(&line);
        buffer.push('\n');
        if is_incomplete(&host, &buffer) {
            continue;
        }
        let _ = editor.add_history_entry(buffer.trim_end());
        crate::interrupt::clear();
        match host.eval(&buffer) {
            Ok(value) if !value.is_unit() => outln!("{}", value_text(&value))?,
            Ok(_) => {}
            Err(e) => eprintln!("error: {e}"),
        }
        if crate::interrupt::requested() {
            eprintln!("(interrupted)");
            crate::interrupt::clear();
        }
        buffer.clear();
        // New variables become completion candidates.
        let mut all = host.function_names();
        all.extend(host.scope.iter().map(|(name, _, _)| name.to_string()));
        *names.lock().unwrap() = all;
    }
    if let Some(parent) = history.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let _ = editor.save_history(&history);
    Ok(())
}

fn value_text(value: &rhai::Dynamic) -> String {
    if value.is_string() {
        return format!("{:?}", value.clone().into_string().unwrap_or_default());
    }
    value.to_string()
}

fn short(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(60).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}
