//! The Rhai names of the metrics: thin adapters that convert arguments and results.

use rhai::{Array, Dynamic, Engine, EvalAltResult, FLOAT, INT, Map};

use super::language::langdetect::LangDetectError;
use super::*;

pub(crate) type Fallible<T> = Result<T, Box<EvalAltResult>>;

pub(crate) fn strings(function: &'static str, list: &Array) -> Fallible<Vec<String>> {
    list.iter()
        .map(|v| {
            v.clone()
                .into_immutable_string()
                .map(|s| s.to_string())
                .map_err(|got| {
                    MetricsError::NotAString {
                        function,
                        got: got.to_string(),
                    }
                    .to_string()
                    .into()
                })
        })
        .collect()
}

pub(crate) fn string_array<S: Into<String>>(items: impl IntoIterator<Item = S>) -> Array {
    items.into_iter().map(|s| Dynamic::from(s.into())).collect()
}

pub(crate) fn int(n: usize) -> INT {
    INT::try_from(n).unwrap_or(INT::MAX)
}

/// Registers every metric on `engine` under its Rhai name (see the module documentation's
/// table). Arguments are strings, ints, floats and arrays of strings; results are bools, ints,
/// floats, arrays and maps.
pub fn register(engine: &mut Engine) {
    // Tokens.
    engine.register_fn("words", |x: &str| string_array(words(x)));
    engine.register_fn("word_count", |x: &str| int(word_count(x)));
    engine.register_fn("sentences", |x: &str| string_array(sentences(x)));
    engine.register_fn("sentence_count", |x: &str| int(sentence_count(x)));
    engine.register_fn("fold_newlines", |x: &str| fold_newlines(x));
    engine.register_fn("clamp01", |v: FLOAT| clamp01(v));
    engine.register_fn("clamp01", |v: INT| clamp01(v as FLOAT));

    // Letters and matching.
    engine.register_fn("upper_fraction", |x: &str| upper_fraction(x));
    engine.register_fn("lower_fraction", |x: &str| lower_fraction(x));
    engine.register_fn("starts_with", |x: &str, prefix: &str| {
        starts_with(x, prefix)
    });
    engine.register_fn("contains_word", |x: &str, w: &str| contains_word(x, w));
    engine.register_fn("contains_phrase", |x: &str, p: &str| contains_phrase(x, p));
    engine.register_fn("count", |x: &str, s: &str| int(count(x, s)));
    engine.register_fn(
        "word_fraction_in",
        |x: &str, list: Array| -> Fallible<FLOAT> {
            Ok(word_fraction_in(x, &strings("word_fraction_in", &list)?))
        },
    );
    engine.register_fn(
        "list_hit_fraction",
        |x: &str, list: Array| -> Fallible<FLOAT> {
            Ok(list_hit_fraction(x, &strings("list_hit_fraction", &list)?))
        },
    );
    engine.register_fn("first_equals_last", |x: &str| first_equals_last(x));
    engine.register_fn("word_count_closeness", |x: &str, target: INT| {
        word_count_closeness(x, target)
    });
    engine.register_fn("alliteration", |x: &str| alliteration(x));
    engine.register_fn("word_start_fraction", |x: &str, letter: &str| {
        word_start_fraction(x, letter)
    });
    engine.register_fn("sentence_start_fraction", |x: &str, prefix: &str| {
        sentence_start_fraction(x, prefix)
    });
    engine.register_fn("repeated_word_fraction", |x: &str| {
        repeated_word_fraction(x)
    });
    engine.register_fn("unique_word_fraction", |x: &str| unique_word_fraction(x));
    engine.register_fn("question_fraction", |x: &str| question_fraction(x));
    engine.register_fn("emoji_count", |x: &str| int(emoji_count(x)));
    engine.register_fn("avg_word_length", |x: &str| avg_word_length(x));
    engine.register_fn("avg_sentence_length", |x: &str| avg_sentence_length(x));

    // Formats.
    engine.register_fn("is_list_format", |x: &str| is_list_format(x));
    engine.register_fn("list_items", |x: &str| {
        string_array(list_items(x).unwrap_or_default())
    });
    engine.register_fn("dash_format_fraction", |x: &str| dash_format_fraction(x));
    engine.register_fn("is_json_object", |x: &str| is_json_object(x));
    engine.register_fn("json_keys", |x: &str| string_array(json_keys(x)));

    // Numbers.
    engine.register_fn("numbers", |x: &str| {
        numbers(x)
            .into_iter()
            .map(Dynamic::from_float)
            .collect::<Array>()
    });
    engine.register_fn("contains_number", |x: &str, n: INT| {
        contains_number(x, n as FLOAT)
    });
    engine.register_fn("contains_number", |x: &str, n: FLOAT| contains_number(x, n));

    // Sentiment.
    engine.register_fn("sentiment", |x: &str| sentiment_map(sentiment(x)));
    engine.register_fn("positivity", |x: &str| positivity(x));
    engine.register_fn("negativity", |x: &str| negativity(x));

    // Languages.
    engine.register_fn("language", |x: &str| -> Fallible<Map> {
        let d = scorer(language(x))?;
        let mut m = Map::new();
        m.insert("lang".into(), Dynamic::from(d.lang.to_string()));
        m.insert("prob".into(), Dynamic::from_float(d.prob));
        Ok(m)
    });
    engine.register_fn("language_prob", |x: &str, code: &str| -> Fallible<FLOAT> {
        scorer(language_prob(x, code))
    });
    engine.register_fn("french_english_alternation", |x: &str| {
        scorer(french_english_alternation(x))
    });

    // Lexicon and part of speech.
    engine.register_fn("english_fluency", |x: &str| english_fluency(x));
    engine.register_fn("plural_noun_fraction", |x: &str| {
        scorer(plural_noun_fraction(x))
    });
    engine.register_fn("past_tense_fraction", |x: &str| {
        scorer(past_tense_fraction(x))
    });
}

/// A metric's result for Rhai: a bad argument (an unknown language code) is an ordinary error;
/// missing scorer data is a [`MissingDetectorData`] value, which fails the check whatever its
/// persona's `on_error`.
fn scorer<T>(r: Result<T, MetricsError>) -> Fallible<T> {
    r.map_err(|e| match e {
        MetricsError::MissingData(message) => missing_data(message),
        other => other.to_string().into(),
    })
}

/// VADER scores as a Rhai map `#{pos, neg, neu, compound}`.
pub(crate) fn sentiment_map(s: Sentiment) -> Map {
    let mut m = Map::new();
    m.insert("pos".into(), Dynamic::from_float(s.pos));
    m.insert("neg".into(), Dynamic::from_float(s.neg));
    m.insert("neu".into(), Dynamic::from_float(s.neu));
    m.insert("compound".into(), Dynamic::from_float(s.compound));
    m
}

/// A langdetect result for Rhai: "no features" is an ordinary error (the paper's helper raises
/// there, so an imported persona scores `on_error`); missing detector data is a
/// [`MissingDetectorData`] value, which fails the check whatever its `on_error`.
pub(crate) fn detector<T>(r: Result<T, LangDetectError>) -> Fallible<T> {
    r.map_err(|e| match e {
        LangDetectError::NoFeatures => e.to_string().into(),
        LangDetectError::Data(message) => missing_data(message),
    })
}

/// A tagger helper's result for Rhai: its only error is missing tagger data, which fails the
/// check whatever its persona's `on_error` (as missing detector data does).
pub(crate) fn tagger<T>(r: Result<T, String>) -> Fallible<T> {
    r.map_err(missing_data)
}

pub(crate) fn missing_data(message: String) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(
        Dynamic::from(MissingDetectorData(message)),
        rhai::Position::NONE,
    )
    .into()
}
