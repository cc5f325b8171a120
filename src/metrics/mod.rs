//! Text metrics for persona checks.
//!
//! Owns: the project's own text metrics and its one scorer per job (sentiment, language,
//! part of speech). Must not import: `paper`, `persona`, `script` or `model` (it sits below
//! them; scorer data comes through `crate::fetch`).
//!
//! A persona's check is a small Rhai expression over an answer `x` that returns a number in
//! [0, 1] (DESIGN §2), e.g. `upper_fraction(x)`, `starts_with(x, "a")`,
//! `language_prob(x, "fr")`. This module holds the functions those expressions call: pure
//! functions of text, with no I/O at call time (the shipped lexicon is built once, on first use,
//! in a `LazyLock`). The exceptions are the language detector ([`language`], langdetect) and
//! the part-of-speech tagger ([`pos`], NLTK's), whose data are fetched with pip and read on
//! first use; a check that needs them when they cannot be had fails (a [`MissingDetectorData`]
//! error, whatever its persona's `on_error`). [`register`] makes them callable from Rhai.
//!
//! # One scorer per job
//!
//! | job | scorer | Rhai names |
//! | --- | --- | --- |
//! | sentiment | NLTK's VADER ([`sentiment()`]), no data to fetch | `sentiment`, `positivity`, `negativity` |
//! | language | langdetect 1.0.9, seed 0 ([`language`](mod@language)) | `language`, `language_prob`, `french_english_alternation` |
//! | part of speech | NLTK's `word_tokenize` and `pos_tag` ([`pos`]) | `plural_noun_fraction`, `past_tense_fraction` |
//!
//! They are the tools the paper scored with, so the project's personas and the paper's imported
//! ones (`crate::paper`) read the same numbers, checked against the tools' own output in
//! `tests/metrics.rs`, and each gives the same bits in every process. A new check calls these;
//! no second implementation of a job belongs here. [`python`] holds the Python string
//! semantics and lexer the ports need.
//!
//! # Shared definitions
//!
//! - **Words** ([`words`]): maximal runs of letters, digits, apostrophes (`'`, `’`) and
//!   combining marks, joined across inner hyphens (`well-known`), inner periods between
//!   letters or digits (`3.14`, `U.S`, `e.g`) and commas between digits (`1,000`); apostrophes
//!   at the ends are dropped (`'hello'` → `hello`). Comparisons are case-insensitive with `’`
//!   read as `'`.
//! - **Sentences** ([`sentences`]): see the [`sentences`](sentences()) splitter's rules
//!   (abbreviations, decimals, ellipses, closing quotes, numbered lists, text without final
//!   punctuation).
//! - **Fractions of nothing are 0.0**: every share returns 0.0 when its denominator is empty
//!   (no words, no sentences, no cased letters, no verbs), never NaN. The exceptions are
//!   [`positivity`] and [`negativity`], which are 0.5 (neutral) for empty text, and
//!   [`word_count_closeness`] with a target of 0.
//! - Answers are usually folded first ([`fold_newlines`]), as the protocol does.
//!
//! # Rhai names
//!
//! | function | returns |
//! | --- | --- |
//! | `words(x)`, `sentences(x)` | array of strings |
//! | `word_count(x)`, `sentence_count(x)`, `count(x, s)`, `emoji_count(x)` | int |
//! | `upper_fraction(x)`, `lower_fraction(x)`, `alliteration(x)`, `unique_word_fraction(x)`, `repeated_word_fraction(x)`, `question_fraction(x)`, `dash_format_fraction(x)`, `english_fluency(x)`, `plural_noun_fraction(x)`, `past_tense_fraction(x)`, `french_english_alternation(x)`, `positivity(x)`, `negativity(x)`, `avg_word_length(x)`, `avg_sentence_length(x)` | float |
//! | `word_fraction_in(x, list)`, `list_hit_fraction(x, list)`, `word_start_fraction(x, letter)`, `sentence_start_fraction(x, prefix)`, `word_count_closeness(x, target)`, `language_prob(x, code)` | float |
//! | `starts_with(x, prefix)`, `contains_word(x, w)`, `contains_phrase(x, p)`, `first_equals_last(x)`, `is_list_format(x)`, `is_json_object(x)`, `contains_number(x, n)` | bool |
//! | `numbers(x)` | array of floats |
//! | `list_items(x)`, `json_keys(x)` | array of strings (empty when not that format) |
//! | `sentiment(x)` | map `#{pos, neg, neu, compound}` |
//! | `language(x)` | map `#{lang, prob}` |
//!
//! The paper's helpers (`paper_*`, `py_*`, `WordSet`) are registered by `crate::paper`.
//! | `clamp01(v)` | float |
//! | `fold_newlines(x)` | string |
//!
//! `starts_with(x, prefix)` replaces Rhai's built-in case-sensitive `starts_with` for string
//! arguments once [`register`] has run (functions registered on the engine take precedence over
//! its packages).

mod format;
pub mod language;
mod lexicon;
pub mod nltk_data;
mod numbers;
pub mod pos;
pub mod python;
pub(crate) mod register;
mod sentences;
mod sentiment;
mod text;

pub use format::{dash_format_fraction, is_json_object, is_list_format, json_keys, list_items};
pub use language::{Detected, LANGUAGE_CODES, french_english_alternation, language, language_prob};
pub use lexicon::{english_fluency, is_english_word, lexicon_size};
pub use numbers::{contains_number, numbers};
pub use pos::{past_tense_fraction, plural_noun_fraction, pos_tags};
pub use register::register;
pub use sentences::{sentence_spans, sentences};
pub use sentiment::{Sentiment, negativity, positivity, sentiment};
pub use text::{
    alliteration, avg_sentence_length, avg_word_length, clamp01, contains_phrase, contains_word,
    count, emoji_count, first_equals_last, fold_newlines, list_hit_fraction, lower_fraction,
    question_fraction, repeated_word_fraction, sentence_start_fraction, starts_with,
    unique_word_fraction, upper_fraction, word_count, word_count_closeness, word_fraction_in,
    word_key, word_spans, word_start_fraction, words,
};

/// The number of [`sentences`].
pub fn sentence_count(text: &str) -> usize {
    sentence_spans(text).len()
}

/// The Rhai error value of a metric whose data (langdetect's profiles, the tagger's weights and
/// Punkt parameters) cannot be had: a check that fails with it fails even when its persona has
/// `on_error`, as for a missing word list.
#[derive(Debug, Clone)]
pub struct MissingDetectorData(pub String);

/// Errors from bad arguments or missing scorer data (never from the text).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    #[error("unknown language code {0:?}: expected one of en, fr, es, de, it")]
    UnknownLanguage(String),
    #[error("{function}: list items must be strings, got {got}")]
    NotAString { function: &'static str, got: String },
    /// The data a scorer reads on first use (langdetect's profiles, the tagger's weights and
    /// Punkt parameters) cannot be had: the message says why and what to do.
    #[error("{0}")]
    MissingData(String),
}
