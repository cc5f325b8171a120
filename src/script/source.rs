//! What a script's source says about its `--set` parameters, read before anything runs: which
//! names it reads (as constants, or with `param("name", …)`), so that a `--set` the script
//! would ignore is an error up front rather than a silently unused value in `run.json`.
//!
//! A small lexer, not Rhai's parser: it skips comments and string literals (but reads the code
//! inside `${…}` of backtick strings), and does not count map keys (`#{turns: 8}`), properties
//! and methods (`x.turns`), declarations (`let turns`) or function names (`turns(…)`) as reads.

use super::ScriptError;
use std::collections::BTreeSet;

/// Every `--set` name must be read by the script, so that a typo, or a name the script only
/// uses as a map key, is caught before hours of running.
pub fn check_set_names(
    params: &[(String, rhai::Dynamic)],
    source: &str,
    script: &str,
) -> Result<(), ScriptError> {
    let Reads::Names(read) = names_read(source) else {
        return Ok(());
    };
    let unread: Vec<&str> = params
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| !read.contains(*n))
        .collect();
    if unread.is_empty() {
        return Ok(());
    }
    let declared = declared_params(source);
    Err(ScriptError(format!(
        "--set {}: {script} never reads {} (as a constant or with param(\"name\", …)); its \
         parameters: {}",
        unread.join(", "),
        if unread.len() == 1 { "it" } else { "them" },
        if declared.is_empty() {
            "none".to_string()
        } else {
            declared.join(", ")
        }
    )))
}

/// Names read with `param("name", …)` in a script's source, in order of first use.
pub fn declared_params(source: &str) -> Vec<String> {
    let tokens = tokens(source);
    let mut names = Vec::new();
    for i in 0..tokens.len() {
        if let Some(name) = param_literal(&tokens, i)
            && !names.iter().any(|n| n == name)
        {
            names.push(name.to_string());
        }
    }
    names
}

/// The names a script may read as `--set` values.
#[derive(Debug, PartialEq)]
pub enum Reads {
    Names(BTreeSet<String>),
    /// `param(expression, …)` with a computed name: any name may be read.
    Any,
}

pub fn names_read(source: &str) -> Reads {
    let tokens = tokens(source);
    let mut read = BTreeSet::new();
    for (i, token) in tokens.iter().enumerate() {
        let Token::Ident(name) = token else { continue };
        let prev = i.checked_sub(1).map(|p| &tokens[p]);
        let next = tokens.get(i + 1);
        let after_next = tokens.get(i + 2);
        if name == "param" && next == Some(&Token::Punct('(')) {
            match param_literal(&tokens, i) {
                Some(literal) => {
                    read.insert(literal.to_string());
                }
                None => return Reads::Any,
            }
            continue;
        }
        let property = prev == Some(&Token::Punct('.'));
        let map_key = next == Some(&Token::Punct(':')) && after_next != Some(&Token::Punct(':'));
        let declared =
            matches!(prev, Some(Token::Ident(k)) if k == "let" || k == "const" || k == "fn");
        let called = next == Some(&Token::Punct('('));
        if !(property || map_key || declared || called || KEYWORDS.contains(&name.as_str())) {
            read.insert(name.clone());
        }
    }
    Reads::Names(read)
}

/// Rhai's keywords, which are never variables.
const KEYWORDS: &[&str] = &[
    "let", "const", "fn", "private", "if", "else", "switch", "while", "loop", "do", "until", "for",
    "in", "break", "continue", "return", "throw", "try", "catch", "import", "export", "as", "true",
    "false", "this", "global",
];

/// The literal name of `param("name", …)` when `tokens[i]` starts such a call.
fn param_literal(tokens: &[Token], i: usize) -> Option<&str> {
    match (&tokens[i], tokens.get(i + 1), tokens.get(i + 2)) {
        (Token::Ident(p), Some(Token::Punct('(')), Some(Token::Str(name))) if p == "param" => {
            Some(name)
        }
        _ => None,
    }
}

#[derive(Debug, PartialEq)]
enum Token {
    Ident(String),
    /// A string literal's text (escapes left as written; only names are compared).
    Str(String),
    Punct(char),
}

fn tokens(source: &str) -> Vec<Token> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    lex(&chars, &mut 0, &mut out, false);
    out
}

/// Lexes code from `*at`; inside `${…}` (`interpolation`), stops after the closing brace.
fn lex(chars: &[char], at: &mut usize, out: &mut Vec<Token>, interpolation: bool) {
    let mut depth = 0usize;
    while *at < chars.len() {
        let c = chars[*at];
        let next = chars.get(*at + 1).copied();
        match c {
            _ if c.is_whitespace() => *at += 1,
            '/' if next == Some('/') => {
                while *at < chars.len() && chars[*at] != '\n' {
                    *at += 1;
                }
            }
            '/' if next == Some('*') => skip_block_comment(chars, at),
            '"' | '\'' => {
                let text = quoted(chars, at, c);
                if c == '"' {
                    out.push(Token::Str(text));
                }
            }
            '`' => backtick(chars, at, out),
            _ if c.is_alphabetic() || c == '_' => {
                let start = *at;
                while *at < chars.len() && (chars[*at].is_alphanumeric() || chars[*at] == '_') {
                    *at += 1;
                }
                out.push(Token::Ident(chars[start..*at].iter().collect()));
            }
            _ if c.is_ascii_digit() => {
                // Numbers, exponents and suffixes alike (`1e5`, `0x1f`, `1_000`); a `.` only
                // before a digit, so that `1..5` stays a range.
                while *at < chars.len()
                    && (chars[*at].is_alphanumeric()
                        || chars[*at] == '_'
                        || (chars[*at] == '.'
                            && chars.get(*at + 1).is_some_and(|d| d.is_ascii_digit())))
                {
                    *at += 1;
                }
            }
            _ => {
                *at += 1;
                if interpolation {
                    if c == '{' {
                        depth += 1;
                    } else if c == '}' {
                        if depth == 0 {
                            return;
                        }
                        depth -= 1;
                    }
                }
                out.push(Token::Punct(c));
            }
        }
    }
}

/// Skips a `/* … */` comment, which Rhai lets nest.
fn skip_block_comment(chars: &[char], at: &mut usize) {
    let mut depth = 0usize;
    while *at < chars.len() {
        match (chars[*at], chars.get(*at + 1)) {
            ('/', Some('*')) => {
                depth += 1;
                *at += 2;
            }
            ('*', Some('/')) => {
                depth -= 1;
                *at += 2;
                if depth == 0 {
                    return;
                }
            }
            _ => *at += 1,
        }
    }
}

/// The text of a `"…"` or `'…'` literal starting at `*at`, which ends past its closing quote.
fn quoted(chars: &[char], at: &mut usize, quote: char) -> String {
    *at += 1;
    let start = *at;
    while *at < chars.len() && chars[*at] != quote {
        *at += if chars[*at] == '\\' { 2 } else { 1 };
    }
    let text = chars[start..(*at).min(chars.len())].iter().collect();
    *at += 1;
    text
}

/// A backtick string: its text is skipped, the code of each `${…}` lexed; without
/// interpolation it is a string token like `"…"`.
fn backtick(chars: &[char], at: &mut usize, out: &mut Vec<Token>) {
    *at += 1;
    let start = *at;
    let mut interpolated = false;
    while *at < chars.len() && chars[*at] != '`' {
        if chars[*at] == '$' && chars.get(*at + 1) == Some(&'{') {
            interpolated = true;
            *at += 2;
            lex(chars, at, out, true);
        } else {
            *at += 1;
        }
    }
    if !interpolated {
        out.push(Token::Str(
            chars[start..(*at).min(chars.len())].iter().collect(),
        ));
    }
    *at += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(source: &str) -> Vec<String> {
        match names_read(source) {
            Reads::Names(names) => names.into_iter().collect(),
            Reads::Any => vec!["<any>".into()],
        }
    }

    #[test]
    fn constants_and_param_literals_are_reads() {
        assert_eq!(
            read(r#"let t = param("turns", 8); print(n + 1);"#),
            ["n", "turns"]
        );
        assert!(read("print(`${type_of(x)} and ${ #{a: y}.a }`)").contains(&"x".to_string()));
        assert!(read("print(`${type_of(x)} and ${ #{a: y}.a }`)").contains(&"y".to_string()));
        assert!(read("global::depth").contains(&"depth".to_string()));
    }

    #[test]
    fn keys_properties_declarations_comments_and_strings_are_not_reads() {
        let source = r#"
            // temperature in a comment
            /* top_p /* nested */ seed */
            let sampling = #{ temperature: 1.0, "top_k": 0 };
            let answer = m.chat(msgs, sampling).max_tokens;
            fn fluency(x) { x }
            let quiet = "runs in a string";
            let c = 'r';
            let e = 1e5 + 0x1f + 2..5;
        "#;
        let names = read(source);
        for absent in [
            "temperature",
            "top_p",
            "seed",
            "top_k",
            "max_tokens",
            "chat",
            "fluency",
            "runs",
            "e5",
            "x1f",
        ] {
            assert!(
                !names.contains(&absent.to_string()),
                "{absent} in {names:?}"
            );
        }
        // Used after their declaration, they are reads.
        assert!(names.contains(&"m".to_string()) && names.contains(&"x".to_string()));
    }

    #[test]
    fn a_computed_param_name_allows_any_name() {
        assert_eq!(names_read(r#"for n in ["a"] { param(n, 1) }"#), Reads::Any);
        assert_eq!(
            declared_params(r#"param("b", 1); param(`a`, 2); param("b", 3)"#),
            ["b", "a"]
        );
    }
}
