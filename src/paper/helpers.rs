//! The paper's own scorers, reproduced: what each helper function of its persona file computes
//! (Li et al. 2024, arXiv 2402.10962, `hundred_system_prompts.py`), so that personas imported
//! from that file (`drift-script personas import`) score answers exactly as the paper did.
//!
//! Our other metrics are defined for this project (words that keep apostrophes, a sentence
//! splitter that survives abbreviations, case fractions over cased letters only…). The paper's
//! helpers define things differently, and some of their definitions have quirks (a comparison
//! that can never be true, a denominator that counts punctuation). A persona taken from the
//! paper must be scored the paper's way, quirks included, or its stability curve means
//! something else; so these functions follow the helpers' definitions, and are named `paper_*`
//! so that nobody mistakes them for the project's own. Each function's documentation states the
//! definition in words; `tests/metrics.rs` checks them on hand-computed values.
//!
//! # Python's text primitives
//!
//! The helpers are built from a handful of Python string operations, reproduced in
//! [`crate::metrics::python`] (the NLTK and langdetect ports there need them too).
//!
//! # When the helper raises
//!
//! Some helpers raise an exception on some answers (no words: `words[0]` or a division by
//! zero; no number for `close_to_num`). The paper's scripts do not catch them. Here the function
//! returns [`PaperError`], which a check surfaces as an error; imported personas carry
//! `on_error = 0.0`, so such an answer scores 0 (see `personas/README.md`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock};

use regex::Regex;

use crate::metrics::language::langdetect::{self, LangDetectError};
use crate::metrics::pos;
use crate::metrics::python::*;

/// A helper of the paper would have raised a Python exception on this text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{function}: {reason} (the paper's helper raises a Python exception here)")]
pub struct PaperError {
    pub function: &'static str,
    pub reason: &'static str,
}

fn raise<T>(function: &'static str, reason: &'static str) -> Result<T, PaperError> {
    Err(PaperError { function, reason })
}

/// A word list loaded from a file (one entry a line, kept exactly as written), as the paper's
/// `set(download_file(url))`. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct WordSet(pub Arc<HashSet<String>>);

impl WordSet {
    /// The lines of `text` (`\n` or `\r\n` line ends), each kept as it is, as Python's
    /// `splitlines()` gives them.
    pub fn from_lines(text: &str) -> WordSet {
        WordSet(Arc::new(text.lines().map(str::to_string).collect()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, word: &str) -> bool {
        self.0.contains(word)
    }
}

fn char_len(s: &str) -> usize {
    s.chars().count()
}

fn share(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// `fraction_starts_with`: whether the lower-cased text starts with `prefix` as given (no
/// skipping of spaces or quotes; a prefix with capitals never matches).
pub fn paper_starts_with(text: &str, prefix: &str) -> bool {
    text.to_lowercase().starts_with(prefix)
}

/// `fraction_of_case_letters`: upper-case (or lower-case) letters over *all* letters, caseless
/// letters (Chinese, Arabic) included in the denominator; 0 without letters.
pub fn paper_case_fraction(text: &str, upper: bool) -> f64 {
    let letters: Vec<char> = text.chars().filter(|&c| py_is_alpha(c)).collect();
    let hits = letters
        .iter()
        .filter(|c| {
            if upper {
                c.is_uppercase()
            } else {
                c.is_lowercase()
            }
        })
        .count();
    share(hits, letters.len())
}

/// `count_num_words_one`: 1 / the number of whitespace-separated pieces; 0 for none.
pub fn paper_one_word(text: &str) -> f64 {
    let n = py_split(text).len();
    if n == 0 { 0.0 } else { 1.0 / n as f64 }
}

/// `fraction_non_letter`: characters that are not letters (spaces included) over all
/// characters; 0 for empty text.
pub fn paper_non_letter_fraction(text: &str) -> f64 {
    share(
        text.chars().filter(|&c| !py_is_alpha(c)).count(),
        char_len(text),
    )
}

/// `fraction_digit`: digit characters over all characters; 0 for empty text.
pub fn paper_digit_fraction(text: &str) -> f64 {
    share(
        text.chars().filter(|&c| py_is_digit(c)).count(),
        char_len(text),
    )
}

/// `are_first_and_last_words_same`: ASCII punctuation removed, the first and last pieces
/// compared lower-cased; *true* for text without words (both are the empty string).
pub fn paper_first_equals_last(text: &str) -> bool {
    let stripped = strip_ascii_punctuation(text);
    let words = py_split(&stripped);
    let first = words.first().map(|w| w.to_lowercase()).unwrap_or_default();
    let last = words.last().map(|w| w.to_lowercase()).unwrap_or_default();
    first == last
}

/// `count_num_words` (with its target of 10 as a parameter): `1 − min(|n − target| / target,
/// 1)` for n whitespace-separated pieces.
pub fn paper_word_count_closeness(text: &str, target: i64) -> Result<f64, PaperError> {
    if target == 0 {
        return raise("paper_word_count_closeness", "division by a target of zero");
    }
    let n = py_split(text).len() as f64;
    let diff = (n - target as f64).abs();
    Ok((1.0 - (diff / target as f64).clamp(0.0, 1.0)).abs())
}

/// `is_valid_json_format`: whether one line holds `{"thought":`, later `, "response":`, and
/// later `}` (the regular expression `.*{"thought":.*, "response":.*}.*`, whose `.` stops at a
/// line end). Spacing must be exactly that; nothing else about JSON is checked.
pub fn paper_json_format(text: &str) -> bool {
    text.split('\n').any(|line| {
        let Some(i) = line.find("{\"thought\":") else {
            return false;
        };
        let rest = &line[i + "{\"thought\":".len()..];
        let Some(j) = rest.find(", \"response\":") else {
            return false;
        };
        rest[j + ", \"response\":".len()..].contains('}')
    })
}

/// `is_valid_list_format`: between the first `[` and the first `]` (each found on its own, so a
/// `]` before the `[` leaves nothing between), split on `", "`; the share of pieces without a
/// space. 0 when either bracket is missing; an empty list (`[]`) is one empty piece, so 1.
pub fn paper_list_format(text: &str) -> f64 {
    let (Some(start), Some(end)) = (text.find('['), text.find(']')) else {
        return 0.0;
    };
    let inner = if end > start {
        &text[start + 1..end]
    } else {
        ""
    };
    let pieces: Vec<&str> = inner.split(", ").collect();
    share(
        pieces.iter().filter(|p| !p.contains(' ')).count(),
        pieces.len(),
    )
}

/// `is_valid_dash_format`: the text split on `-`; the share of pieces that are one character
/// long (empty text is one empty piece: 0).
pub fn paper_dash_format(text: &str) -> f64 {
    let chunks: Vec<&str> = text.split('-').collect();
    share(
        chunks.iter().filter(|c| char_len(c) == 1).count(),
        chunks.len(),
    )
}

/// The lower-cased, punctuation-stripped pieces the word-list helpers compare.
fn stripped_lower_words(text: &str) -> Vec<String> {
    py_split(&strip_ascii_punctuation(text).to_lowercase())
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// A word list as the helpers receive it: a Python list (entries compared exactly) or a
/// downloaded set.
pub enum Targets<'a> {
    List(&'a [String]),
    Set(&'a WordSet),
}

impl Targets<'_> {
    fn contains(&self, word: &str) -> bool {
        match self {
            Targets::List(l) => l.iter().any(|t| t == word),
            Targets::Set(s) => s.contains(word),
        }
    }
}

/// `does_not_contain`: 0 if any entry of `words` equals one of the text's lower-cased,
/// punctuation-stripped pieces, else 1. Entries are compared as given: one with a capital or a
/// space ("no one") can never match.
pub fn paper_contains_none(text: &str, words: &[String]) -> i64 {
    let pieces = stripped_lower_words(text);
    i64::from(!words.iter().any(|w| pieces.contains(w)))
}

/// `fraction_of_text_that_is_a_target`: the share of the lower-cased, punctuation-stripped
/// pieces that are entries of `targets`. Raises for text without words.
pub fn paper_target_fraction(text: &str, targets: Targets) -> Result<f64, PaperError> {
    let pieces = stripped_lower_words(text);
    if pieces.is_empty() {
        return raise("paper_target_fraction", "no words: division by zero");
    }
    Ok(share(
        pieces.iter().filter(|p| targets.contains(p)).count(),
        pieces.len(),
    ))
}

/// `fraction_of_target_words_hit`: the share of `targets` equal to one of the lower-cased,
/// punctuation-stripped pieces (entries with capitals or spaces never hit). Raises for an empty
/// list.
pub fn paper_targets_hit(text: &str, targets: &[String]) -> Result<f64, PaperError> {
    if targets.is_empty() {
        return raise("paper_targets_hit", "empty target list: division by zero");
    }
    let pieces = stripped_lower_words(text);
    Ok(share(
        targets.iter().filter(|t| pieces.contains(t)).count(),
        targets.len(),
    ))
}

/// `teenager_score`: the share of the lower-cased pieces, with ASCII punctuation other than the
/// apostrophe removed, that are entries of `slang`; 0 for no words.
pub fn paper_slang_fraction(text: &str, slang: &[String]) -> f64 {
    let kept: String = text
        .chars()
        .filter(|&c| c == '\'' || !c.is_ascii_punctuation())
        .collect();
    let lower = kept.to_lowercase();
    let pieces = py_split(&lower);
    share(
        pieces
            .iter()
            .filter(|p| slang.iter().any(|s| s == *p))
            .count(),
        pieces.len(),
    )
}

struct SplitterPatterns {
    prefixes: Regex,
    websites: Regex,
    decimals: Regex,
    multiple_dots: Regex,
    single_initial: Regex,
    acronym_starter: Regex,
    three_letters: Regex,
    two_letters: Regex,
    suffix_starter: Regex,
    suffix: Regex,
    initial: Regex,
}

static SPLITTER: LazyLock<SplitterPatterns> = LazyLock::new(|| {
    let alphabets = "([A-Za-z])";
    let suffixes = "(Inc|Ltd|Jr|Sr|Co)";
    let starters = r"(Mr|Mrs|Ms|Dr|Prof|Capt|Cpt|Lt|He\s|She\s|It\s|They\s|Their\s|Our\s|We\s|But\s|However\s|That\s|This\s|Wherever)";
    let acronyms = "([A-Z][.][A-Z][.](?:[A-Z][.])?)";
    let re = |p: String| Regex::new(&p).expect("splitter pattern");
    SplitterPatterns {
        prefixes: re("(Mr|St|Mrs|Ms|Dr)[.]".into()),
        websites: re("[.](com|net|org|io|gov|edu|me)".into()),
        decimals: re("([0-9])[.]([0-9])".into()),
        multiple_dots: re(r"\.{2,}".into()),
        single_initial: re(format!(r"\s{alphabets}[.] ")),
        acronym_starter: re(format!("{acronyms} {starters}")),
        three_letters: re(format!("{alphabets}[.]{alphabets}[.]{alphabets}[.]")),
        two_letters: re(format!("{alphabets}[.]{alphabets}[.]")),
        suffix_starter: re(format!(" {suffixes}[.] {starters}")),
        suffix: re(format!(" {suffixes}[.]")),
        initial: re(format!(" {alphabets}[.]")),
    }
});

/// `split_into_sentences`: the paper's regular-expression sentence splitter, step by step.
///
/// Periods that do not end a sentence are first protected: after Mr/St/Mrs/Ms/Dr, before
/// com/net/org/io/gov/edu/me, between two digits, in runs of dots (which then end a sentence),
/// in "Ph.D.", after a single letter, in two- and three-letter acronyms (an acronym or one of
/// Inc/Ltd/Jr/Sr/Co followed by a sentence starter such as "He " ends a sentence). A period,
/// `!` or `?` directly followed by `"` swaps with it. Then every `.`, `?` and `!` ends a
/// sentence (so "!!" makes a sentence of one "!"), sentences are stripped, and a final empty
/// one is dropped. Empty text has no sentences.
pub fn paper_sentences(text: &str) -> Vec<String> {
    let p = &*SPLITTER;
    let mut t = format!(" {text}  ").replace('\n', " ");
    t = p.prefixes.replace_all(&t, "${1}<prd>").into_owned();
    t = p.websites.replace_all(&t, "<prd>${1}").into_owned();
    t = p.decimals.replace_all(&t, "${1}<prd>${2}").into_owned();
    t = p
        .multiple_dots
        .replace_all(&t, |c: &regex::Captures| {
            "<prd>".repeat(char_len(&c[0])) + "<stop>"
        })
        .into_owned();
    if t.contains("Ph.D") {
        t = t.replace("Ph.D.", "Ph<prd>D<prd>");
    }
    t = p.single_initial.replace_all(&t, " ${1}<prd> ").into_owned();
    t = p
        .acronym_starter
        .replace_all(&t, "${1}<stop> ${2}")
        .into_owned();
    t = p
        .three_letters
        .replace_all(&t, "${1}<prd>${2}<prd>${3}<prd>")
        .into_owned();
    t = p
        .two_letters
        .replace_all(&t, "${1}<prd>${2}<prd>")
        .into_owned();
    t = p
        .suffix_starter
        .replace_all(&t, " ${1}<stop> ${2}")
        .into_owned();
    t = p.suffix.replace_all(&t, " ${1}<prd>").into_owned();
    t = p.initial.replace_all(&t, " ${1}<prd>").into_owned();
    t = t.replace(".\"", "\".");
    t = t.replace("!\"", "\"!");
    t = t.replace("?\"", "\"?");
    t = t.replace('.', ".<stop>");
    t = t.replace('?', "?<stop>");
    t = t.replace('!', "!<stop>");
    t = t.replace("<prd>", ".");
    let mut sentences: Vec<String> = t.split("<stop>").map(|s| py_strip(s).to_string()).collect();
    if sentences.last().is_some_and(String::is_empty) {
        sentences.pop();
    }
    sentences
}

/// `sentences_start_with`: the share of `sentences` whose first piece, ASCII punctuation
/// removed and lower-cased, equals `word` as given (so a `word` with a capital, as the paper
/// passes "Yes", never matches); 0 for no sentences. Raises for a sentence without words.
pub fn paper_sentences_start_with<S: AsRef<str>>(
    sentences: &[S],
    word: &str,
) -> Result<f64, PaperError> {
    let mut hits = 0;
    for s in sentences {
        let Some(first) = py_split(s.as_ref()).first().copied() else {
            return raise("paper_sentences_start_with", "a sentence without words");
        };
        hits += usize::from(strip_ascii_punctuation(first).to_lowercase() == word);
    }
    Ok(share(hits, sentences.len()))
}

/// `is_alliteration`: over the runs of `\w` characters of the lower-cased text, the share that
/// start with the most common first character; 0 for no words.
pub fn paper_alliteration(text: &str) -> f64 {
    let lower = text.to_lowercase();
    let words = py_word_runs(&lower);
    let mut counts: HashMap<char, usize> = HashMap::new();
    for w in &words {
        if let Some(c) = w.chars().next() {
            *counts.entry(c).or_default() += 1;
        }
    }
    share(counts.values().copied().max().unwrap_or(0), words.len())
}

/// `is_valid_sentence_word_count`: 0 unless there are exactly as many sentences as `pattern`
/// entries; else each sentence whose piece count equals its entry scores 1, off by one 0.5,
/// and the total is divided by the number of sentences (0 sentences and an empty pattern: a
/// division by zero, which raises).
pub fn paper_sentence_word_counts<S: AsRef<str>>(
    sentences: &[S],
    pattern: &[i64],
) -> Result<f64, PaperError> {
    if sentences.len() != pattern.len() {
        return Ok(0.0);
    }
    if sentences.is_empty() {
        return raise(
            "paper_sentence_word_counts",
            "no sentences: division by zero",
        );
    }
    let mut right = 0.0;
    for (s, &n) in sentences.iter().zip(pattern) {
        let len = py_split(s.as_ref()).len() as i64;
        if len == n {
            right += 1.0;
        } else if len + 1 == n || len - 1 == n {
            right += 0.5;
        }
    }
    Ok(right / sentences.len() as f64)
}

/// `is_increasing_sentence_word_count`: the share of sentences with exactly one piece more
/// than the sentence before (the first must have one); 0 for no sentences.
pub fn paper_increasing_sentences<S: AsRef<str>>(sentences: &[S]) -> f64 {
    let mut previous = 0;
    let mut right = 0;
    for s in sentences {
        let len = py_split(s.as_ref()).len();
        right += usize::from(len == previous + 1);
        previous = len;
    }
    share(right, sentences.len())
}

/// `is_probably_language`: whether langdetect's most likely language for `text` is `code`
/// ([`langdetect`], seed 0). False when langdetect finds nothing to go on (no letters:
/// it raises, and the helper catches every exception and returns 0) or no language above 0.1.
/// The error is only for detector data that cannot be had.
pub fn paper_is_language(text: &str, code: &str) -> Result<bool, LangDetectError> {
    match langdetect::detect_langs(text) {
        Ok(languages) => Ok(languages.first().is_some_and(|l| l.lang == code)),
        Err(LangDetectError::NoFeatures) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `get_french_percentage`: langdetect's probability that the text is French (seed 0); 0 when
/// French is not among the languages it reports (those above 0.1). Text without letters raises
/// in the helper (uncaught), so it is [`LangDetectError::NoFeatures`] here.
pub fn paper_french_probability(text: &str) -> Result<f64, LangDetectError> {
    let languages = langdetect::detect_langs(text)?;
    Ok(languages
        .iter()
        .find(|l| l.lang == "fr")
        .map_or(0.0, |l| l.prob))
}

/// `is_valid_alternating_french_english`: the text is split on `") "`; pieces containing `(`
/// are split on `" ("`, and those giving exactly two parts score 0.5 if the first is French and
/// 0.5 if the second is English; the total is divided by the number of pieces containing `(`
/// (0 when none).
pub fn paper_french_english(text: &str) -> Result<f64, LangDetectError> {
    let pairs: Vec<Vec<&str>> = text
        .split(") ")
        .filter(|p| p.contains('('))
        .map(|p| p.split(" (").collect())
        .collect();
    let mut matched = 0.0;
    for pair in &pairs {
        if let [french, english] = pair[..] {
            if paper_is_language(py_strip(french), "fr")? {
                matched += 0.5;
            }
            if paper_is_language(py_strip(english), "en")? {
                matched += 0.5;
            }
        }
    }
    Ok(if pairs.is_empty() {
        0.0
    } else {
        matched / pairs.len() as f64
    })
}

/// `close_to_num`: the first run of ASCII digits n in the text; `1 − min(|n − target| /
/// target, 1)`. Raises when the text has no digit (the helper subtracts from `None`) and for a
/// target of 0.
pub fn paper_close_to_number(text: &str, target: f64) -> Result<f64, PaperError> {
    let Some(digits) = text
        .split(|c: char| !c.is_ascii_digit())
        .find(|s| !s.is_empty())
    else {
        return raise("paper_close_to_number", "no number in the text");
    };
    if target == 0.0 {
        return raise("paper_close_to_number", "division by a target of zero");
    }
    let n: f64 = digits.parse().unwrap_or(f64::INFINITY);
    let diff = (n - target).abs();
    Ok((1.0 - (diff / target).clamp(0.0, 1.0)).abs())
}

/// Letters of a piece: (all upper, all lower), both true when it has no letters (Python's
/// `all` of nothing).
fn piece_case(piece: &str) -> (bool, bool) {
    let letters: Vec<char> = piece.chars().filter(|&c| py_is_alpha(c)).collect();
    (
        letters.iter().all(|c| c.is_uppercase()),
        letters.iter().all(|c| c.is_lowercase()),
    )
}

/// `fraction_alter_upper_lower`: over the whitespace-separated pieces, the first counts if its
/// letters are all upper or all lower case (a piece without letters is both); each later piece
/// counts if it is all upper after an all-lower piece or all lower after an all-upper one; the
/// count over the number of pieces. Raises for text without words.
pub fn paper_case_alternation(text: &str) -> Result<f64, PaperError> {
    let words = py_split(text);
    let Some(first) = words.first() else {
        return raise("paper_case_alternation", "no words: words[0]");
    };
    let (mut prev_upper, mut prev_lower) = piece_case(first);
    let mut n = usize::from(prev_upper || prev_lower);
    for w in &words[1..] {
        let (upper, lower) = piece_case(w);
        if (upper && prev_lower) || (lower && prev_upper) {
            n += 1;
        }
        (prev_upper, prev_lower) = (upper, lower);
    }
    Ok(n as f64 / words.len() as f64)
}

/// `fraction_alter_short_long`: over the whitespace-separated pieces, 1 for the first plus 1
/// for each piece whose "long" (more than 4 characters) differs from the previous one's, over
/// the number of pieces. The first piece's length counts its letters only, later pieces count
/// every character, punctuation included. Raises for text without words.
pub fn paper_short_long_alternation(text: &str) -> Result<f64, PaperError> {
    let words = py_split(text);
    let Some(first) = words.first() else {
        return raise("paper_short_long_alternation", "no words: words[0]");
    };
    let mut prev_long = first.chars().filter(|&c| py_is_alpha(c)).count() > 4;
    let mut n = 1;
    for w in &words[1..] {
        let long = char_len(w) > 4;
        n += usize::from(long != prev_long);
        prev_long = long;
    }
    Ok(n as f64 / words.len() as f64)
}

/// `fraction_alter_banana` (with its word as a parameter): over the whitespace-separated
/// pieces, ASCII punctuation removed and lower-cased, 1 for the first plus 1 for each piece
/// whose being `word` differs from the previous one's, over the number of pieces. Raises for
/// text without words.
pub fn paper_word_alternation(text: &str, word: &str) -> Result<f64, PaperError> {
    let words = py_split(text);
    let Some(first) = words.first() else {
        return raise("paper_word_alternation", "no words: words[0]");
    };
    let is_word = |w: &str| strip_ascii_punctuation(w).to_lowercase() == word;
    let mut prev = is_word(first);
    let mut n = 1;
    for w in &words[1..] {
        let cur = is_word(w);
        n += usize::from(cur != prev);
        prev = cur;
    }
    Ok(n as f64 / words.len() as f64)
}

/// `fraction_sentences_that_are_questions`: the share of [`paper_sentences`] with a `?` among
/// their last two characters; 0 for no sentences.
pub fn paper_question_fraction(text: &str) -> f64 {
    let sentences = paper_sentences(text);
    let questions = sentences
        .iter()
        .filter(|s| {
            let chars: Vec<char> = s.chars().collect();
            chars[chars.len().saturating_sub(2)..].contains(&'?')
        })
        .count();
    share(questions, sentences.len())
}

/// `is_valid_repeat`: over the lower-cased, punctuation-stripped pieces taken in pairs (1st and
/// 2nd, 3rd and 4th, …), the number of pairs whose first piece equals the second piece written
/// *twice* ("likelike like"), over the number of pieces; 0 for no words. (The helper compares
/// `words[i] == words[i+1] * 2`, so an answer that repeats every word — the persona's
/// instruction — scores 0.)
pub fn paper_doubled_words(text: &str) -> f64 {
    let pieces = stripped_lower_words(text);
    let mut n = 0;
    let mut i = 0;
    while i + 1 < pieces.len() {
        n += usize::from(pieces[i] == pieces[i + 1].repeat(2));
        i += 2;
    }
    share(n, pieces.len())
}

/// `fraction_unique_words`: over the runs of `\w` characters of the lower-cased text, the
/// number of distinct words that occur exactly once, over the number of words; 0 for none.
pub fn paper_unique_fraction(text: &str) -> f64 {
    let (counts, total) = word_run_counts(text);
    share(counts.values().filter(|&&n| n == 1).count(), total)
}

/// `fraction_repeated_words`: the number of *distinct* words that occur at least twice, over
/// the number of words (runs of `\w`, lower-cased); 0 for none. So "a a b b" scores 0.5.
pub fn paper_repeated_fraction(text: &str) -> f64 {
    let (counts, total) = word_run_counts(text);
    share(counts.values().filter(|&&n| n >= 2).count(), total)
}

fn word_run_counts(text: &str) -> (HashMap<String, usize>, usize) {
    let lower = text.to_lowercase();
    let words = py_word_runs(&lower);
    let mut counts: HashMap<String, usize> = HashMap::new();
    for w in &words {
        *counts.entry(w.to_string()).or_default() += 1;
    }
    (counts, words.len())
}

/// English number words: with a run of digits, what `contains_color_and_number` accepts as a
/// number.
const NUMBER_WORDS: [&str; 29] = [
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
    "thirty",
    "forty",
    "fifty",
    "sixty",
    "seventy",
    "eighty",
    "ninety",
    "hundred",
    "thousand",
];

/// `contains_color_and_number`: whether some entry of `colours` occurs in the lower-cased text
/// *as a substring* (so "tan" is found in "important") and the text has a number: a run of
/// `\w` characters that is all decimal digits, or is one of the number words one…twenty,
/// thirty…ninety, hundred, thousand.
pub fn paper_colour_and_number(text: &str, colours: &[String]) -> bool {
    let lower = text.to_lowercase();
    let colour = colours.iter().any(|c| lower.contains(c.as_str()));
    let number = py_word_runs(&lower).iter().any(|w| {
        w.chars().all(|c| py_is_digit(c) && !is_superscript_like(c)) || NUMBER_WORDS.contains(w)
    });
    colour && number
}

/// Digits Python's `isdigit` accepts but its regular-expression `\d` (decimal digits) does not.
fn is_superscript_like(c: char) -> bool {
    matches!(c as u32, 0x00B2 | 0x00B3 | 0x00B9 | 0x2070..=0x209F | 0x2460..=0x24FF | 0x2776..=0x2793)
}

/// `count_plural_nouns`: the share of NLTK's tokens (`word_tokenize`, so punctuation marks and
/// clitics such as `n't` count) tagged NNS or NNPS by NLTK's tagger ([`pos`],
/// with its stand-in weights); 0 for text without tokens. The error is only for tagger data
/// that cannot be had.
pub fn paper_plural_noun_fraction(text: &str) -> Result<f64, String> {
    let tags = pos::pos_tags(text)?;
    let plurals = tags.iter().filter(|t| *t == "NNS" || *t == "NNPS").count();
    Ok(share(plurals, tags.len()))
}

/// `fraction_past_tense_verbs`: of the tokens whose tag contains `VB`, the share tagged VBD or
/// VBN, with NLTK's tokenizer and tagger as in [`paper_plural_noun_fraction`]; *1* when there is
/// no verb, as the helper returns.
pub fn paper_past_tense_fraction(text: &str) -> Result<f64, String> {
    let tags = pos::pos_tags(text)?;
    let verbs: Vec<&str> = tags
        .iter()
        .map(String::as_str)
        .filter(|t| t.contains("VB"))
        .collect();
    if verbs.is_empty() {
        return Ok(1.0);
    }
    let past = verbs
        .iter()
        .filter(|t| matches!(**t, "VBD" | "VBN"))
        .count();
    Ok(share(past, verbs.len()))
}

/// The notebook's `is_fluent_english` (the paper's `utils.py`), the factor every probe score is
/// multiplied by in its analysis: 1.0 when more than half of the tokens of `nltk.word_tokenize`
/// (punctuation tokens included), lower-cased, are in NLTK's Words corpus (`en` and
/// `en-basic`, shipped: [`crate::metrics::nltk_data`]), else 0.0; 0.0 for text without tokens.
/// The error is only for Punkt data that cannot be had (the tokenizer's, see [`pos`]).
pub fn is_fluent_english(text: &str) -> Result<f64, String> {
    let data = pos::shared()?;
    let tokens = pos::tokenize::word_tokenize(text, &data.punkt);
    if tokens.is_empty() {
        return Ok(0.0);
    }
    let real = tokens
        .iter()
        .filter(|t| crate::metrics::nltk_data::is_nltk_word(t))
        .count();
    // Python's `num_real_words / num_words > 0.5`: the same division of the same integers.
    Ok(if real as f64 / tokens.len() as f64 > 0.5 {
        1.0
    } else {
        0.0
    })
}
