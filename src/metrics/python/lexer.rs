//! Python tokens, enough of them to read a persona file or a data file of Python literals:
//! names, numbers, strings (every quoting and prefix, escapes decoded), operators and brackets,
//! and the start of each logical line.

/// A string that does not end, or a character Python does not allow, at a 1-based line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct LexError {
    pub line: usize,
    pub message: String,
}

impl LexError {
    fn at(line: usize, message: impl Into<String>) -> LexError {
        LexError {
            line,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Name(String),
    Number(String),
    /// A string literal's value, escapes decoded. `prefix` holds its lower-cased prefix letters
    /// (`r`, `b`, `f`, `u`…).
    Str {
        value: String,
        prefix: String,
    },
    Op(String),
}

#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    /// 1-based line of the token's first character.
    pub line: usize,
    /// Byte offsets of the token in the file.
    pub start: usize,
    pub end: usize,
    /// The first token of a logical line, and that line's indentation (in characters).
    pub line_start: bool,
    pub indent: usize,
}

const OPERATORS: [&str; 26] = [
    "**=", "//=", ">>=", "<<=", "...", "**", "//", "==", "!=", "<=", ">=", "->", "+=", "-=", "*=",
    "/=", "%=", "&=", "|=", "^=", ":=", "<<", ">>", "@=", "<>", "~",
];

/// Splits `src` into tokens. Comments, blank lines and line continuations are dropped; a
/// string that does not end, or a character Python does not allow, is an error with its line.
pub fn tokenize(src: &str) -> Result<Vec<Token>, LexError> {
    let b = src.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let mut depth = 0usize;
    let mut at_line_start = true;
    let mut indent = 0;
    let mut column = 0; // characters since the last newline, while skipping indentation
    while i < src.len() {
        let c = src[i..].chars().next().expect("in bounds");
        match c {
            '\n' => {
                line += 1;
                i += 1;
                if depth == 0 {
                    at_line_start = true;
                }
                column = 0;
                continue;
            }
            ' ' | '\t' | '\r' | '\x0c' => {
                i += 1;
                column += if c == '\t' { 8 - column % 8 } else { 1 };
                continue;
            }
            '#' => {
                while i < src.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            '\\' if src[i + 1..].starts_with('\n') || src[i + 1..].starts_with("\r\n") => {
                i += if b[i + 1] == b'\r' { 3 } else { 2 };
                line += 1;
                column = 0;
                continue;
            }
            _ => {}
        }
        let start = i;
        let start_line = line;
        let tok = if let Some((prefix, quote_at)) = string_start(&src[i..]) {
            let (value, len, newlines) = read_string(&src[i..], &prefix, quote_at)
                .map_err(|m| LexError::at(start_line, m))?;
            i += len;
            line += newlines;
            Tok::Str { value, prefix }
        } else if c.is_alphabetic() || c == '_' {
            let len = src[i..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(src.len() - i);
            i += len;
            Tok::Name(src[start..i].to_string())
        } else if c.is_ascii_digit()
            || (c == '.' && src[i + 1..].starts_with(|d: char| d.is_ascii_digit()))
        {
            i += number_len(&src[i..]);
            Tok::Number(src[start..i].to_string())
        } else if let Some(op) = OPERATORS.iter().find(|op| src[i..].starts_with(**op)) {
            i += op.len();
            Tok::Op(op.to_string())
        } else if "()[]{},:;.=+-*/%<>&|^@!".contains(c) {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
            i += 1;
            Tok::Op(c.to_string())
        } else {
            return Err(LexError::at(
                line,
                format!("unexpected character {c:?} (not Python)"),
            ));
        };
        tokens.push(Token {
            tok,
            line: start_line,
            start,
            end: i,
            line_start: at_line_start,
            indent: if at_line_start { column } else { indent },
        });
        if at_line_start {
            indent = column;
        }
        at_line_start = false;
    }
    Ok(tokens)
}

/// If a string literal starts here: its lower-cased prefix and the offset of its first quote.
fn string_start(s: &str) -> Option<(String, usize)> {
    let prefix_len = s
        .find(|c: char| !matches!(c, 'r' | 'R' | 'b' | 'B' | 'u' | 'U' | 'f' | 'F'))
        .unwrap_or(s.len());
    if prefix_len > 2 {
        return None;
    }
    let prefix = &s[..prefix_len];
    let next = s[prefix_len..].chars().next()?;
    if next != '"' && next != '\'' {
        return None;
    }
    Some((prefix.to_ascii_lowercase(), prefix_len))
}

/// Reads one string literal: (value, bytes consumed, newlines inside).
fn read_string(s: &str, prefix: &str, quote_at: usize) -> Result<(String, usize, usize), String> {
    let raw = prefix.contains('r');
    let q = &s[quote_at..quote_at + 1];
    let triple = s[quote_at..].starts_with(&q.repeat(3));
    let delim = if triple { q.repeat(3) } else { q.to_string() };
    let mut i = quote_at + delim.len();
    let mut value = String::new();
    let mut newlines = 0;
    loop {
        let rest = &s[i..];
        if rest.starts_with(&delim) {
            return Ok((value, i + delim.len(), newlines));
        }
        let Some(c) = rest.chars().next() else {
            return Err("string literal does not end".into());
        };
        if c == '\n' {
            if !triple {
                return Err("string literal does not end on its line".into());
            }
            newlines += 1;
        }
        if c != '\\' {
            value.push(c);
            i += c.len_utf8();
            continue;
        }
        let Some(e) = rest[1..].chars().next() else {
            return Err("string literal does not end".into());
        };
        i += 1 + e.len_utf8();
        if e == '\n' {
            newlines += 1;
        }
        if raw {
            // A raw string keeps the backslash; it only stops the quote from ending it.
            value.push('\\');
            value.push(e);
            continue;
        }
        match e {
            '\n' => {}
            '\\' | '\'' | '"' => value.push(e),
            'n' => value.push('\n'),
            't' => value.push('\t'),
            'r' => value.push('\r'),
            'a' => value.push('\x07'),
            'b' => value.push('\x08'),
            'f' => value.push('\x0c'),
            'v' => value.push('\x0b'),
            '0'..='7' => {
                let digits: String = std::iter::once(e)
                    .chain(
                        s[i..]
                            .chars()
                            .take_while(|d| ('0'..='7').contains(d))
                            .take(2),
                    )
                    .collect();
                i += digits.len() - 1;
                let code = u32::from_str_radix(&digits, 8).expect("octal digits");
                value.push(char::from_u32(code).ok_or("bad octal escape")?);
            }
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex = s.get(i..i + n).ok_or("truncated escape")?;
                let code =
                    u32::from_str_radix(hex, 16).map_err(|_| format!("bad escape \\{e}{hex}"))?;
                value.push(char::from_u32(code).ok_or(format!("bad escape \\{e}{hex}"))?);
                i += n;
            }
            'N' => return Err("named escapes (\\N{...}) are not supported".into()),
            other => {
                // Python keeps unknown escapes as written ("\s" is backslash, s).
                value.push('\\');
                value.push(other);
            }
        }
    }
}

fn number_len(s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        while *i < b.len() && (b[*i].is_ascii_alphanumeric() || b[*i] == b'_') {
            if (b[*i] == b'e' || b[*i] == b'E')
                && *i + 1 < b.len()
                && (b[*i + 1] == b'+' || b[*i + 1] == b'-')
            {
                *i += 1;
            }
            *i += 1;
        }
    };
    digits(&mut i);
    if i < b.len() && b[i] == b'.' {
        i += 1;
        digits(&mut i);
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(src: &str) -> Vec<Tok> {
        tokenize(src).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn strings_decode_like_python() {
        let s = |v: &str, p: &str| Tok::Str {
            value: v.into(),
            prefix: p.into(),
        };
        assert_eq!(
            values(r#"'a\'b' "c\"\n" r'\s+' '''x"y''' "\x41\u00e9\101\q""#),
            vec![
                s("a'b", ""),
                s("c\"\n", ""),
                s("\\s+", "r"),
                s("x\"y", ""),
                s("AéA\\q", "")
            ]
        );
    }

    #[test]
    fn logical_lines_and_indents() {
        let t = tokenize("a = [1,\n  2]  # c\ndef f(x):\n    return x\n").unwrap();
        let starts: Vec<(String, usize)> = t
            .iter()
            .filter(|t| t.line_start)
            .map(|t| (format!("{:?}", t.tok), t.indent))
            .collect();
        assert_eq!(starts.len(), 3);
        assert_eq!(starts[2].1, 4);
        assert!(tokenize("x = 'open").is_err());
    }
}
