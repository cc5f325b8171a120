//! Python's text primitives, as the ports of Python tools in this crate need them: the
//! NLTK tokenizer and VADER port, langdetect's normalization, and (in `crate::paper`) the
//! paper's helper functions. Each follows the Python definition it is named after:
//! - `text.split()`: pieces between runs of whitespace (Python's `isspace`: Unicode
//!   White_Space plus the separators U+001C–U+001F) — [`py_split`];
//! - `text.translate(str.maketrans('', '', string.punctuation))`: the 32 ASCII punctuation
//!   characters removed — [`strip_ascii_punctuation`];
//! - `re.findall(r'\b\w+\b', text.lower())`: maximal runs of letters, digits and `_` —
//!   [`py_word_runs`];
//! - `isalpha`, `isupper`, `islower`, `isdigit` per character (Unicode Alphabetic, Uppercase,
//!   Lowercase and decimal digits; Python's categories differ only for letter-like numerals such
//!   as Ⅻ and the combining vowel signs of Indic scripts);
//! - lengths and slices count characters (code points), as Python does.
//!
//! [`lexer`] splits Python source into tokens: the tagger reads NLTK's Punkt parameters from a
//! Python file with it, and the paper's importer reads the paper's persona file.

pub mod lexer;

/// Python's `str.isspace` for one character.
pub fn py_is_space(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{1C}'..='\u{1F}')
}

/// Python's `str.split()` with no argument: the pieces between runs of whitespace.
pub fn py_split(text: &str) -> Vec<&str> {
    text.split(py_is_space).filter(|s| !s.is_empty()).collect()
}

/// Python's `str.strip()` with no argument.
pub fn py_strip(text: &str) -> &str {
    text.trim_matches(py_is_space)
}

/// `answer.strip().replace("\n", " ")`: how the paper's code stores every answer before any
/// check sees it (its `process_answer`). Each newline becomes one space, so a blank line leaves
/// two and a `\r\n` keeps its `\r`.
pub fn process_answer(answer: &str) -> String {
    py_strip(answer).replace('\n', " ")
}

/// Python's `str.count(sub)`: non-overlapping occurrences, case-sensitive; an empty `sub`
/// counts the positions between characters (length + 1).
pub fn py_count(text: &str, sub: &str) -> usize {
    if sub.is_empty() {
        text.chars().count() + 1
    } else {
        text.matches(sub).count()
    }
}

/// Letter-like numerals and vulgar fractions: numeric to Rust, not digits to Python.
fn is_numeric_not_digit(c: char) -> bool {
    matches!(c as u32,
        0x00BC..=0x00BE | 0x2150..=0x218B | 0x3007 | 0x3021..=0x3029 | 0x3038..=0x303A
        | 0x16EE..=0x16F0 | 0x10140..=0x10174)
}

/// Python's `str.isalpha` for one character (see the module notes).
pub fn py_is_alpha(c: char) -> bool {
    c.is_alphabetic() && !is_numeric_not_digit(c) && !super::text::is_combining_mark(c)
}

/// Python's `str.isdigit` for one character (see the module notes).
pub fn py_is_digit(c: char) -> bool {
    c.is_numeric() && !is_numeric_not_digit(c)
}

/// Python's regular-expression `\w` (Unicode): letters, digits and numerals, and `_`.
pub fn py_is_word_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// `re.findall(r'\b\w+\b', text)`: the maximal runs of [`py_is_word_char`] characters.
pub fn py_word_runs(text: &str) -> Vec<&str> {
    text.split(|c: char| !py_is_word_char(c))
        .filter(|s| !s.is_empty())
        .collect()
}

/// `text.translate(str.maketrans('', '', string.punctuation))`: the 32 ASCII punctuation
/// characters `!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~` removed.
pub fn strip_ascii_punctuation(text: &str) -> String {
    text.chars().filter(|c| !c.is_ascii_punctuation()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_primitives() {
        assert_eq!(py_split("  a\u{1F}b \n c "), vec!["a", "b", "c"]);
        assert_eq!(
            py_word_runs("don't stop_me-now"),
            vec!["don", "t", "stop_me", "now"]
        );
        assert_eq!(strip_ascii_punctuation("¡Hé, l'été!"), "¡Hé lété");
        assert_eq!(py_count("aaaa", "aa"), 2);
        assert_eq!(py_count("ab", ""), 3);
    }
}
