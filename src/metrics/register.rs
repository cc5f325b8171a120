//! The Rhai names of the metrics: thin adapters that convert arguments and results.

use rhai::{Array, Dynamic, Engine, EvalAltResult, FLOAT, INT, Map};

use super::langdetect::LangDetectError;
use super::paper::*;
use super::*;

type Fallible<T> = Result<T, Box<EvalAltResult>>;

fn strings(function: &'static str, list: &Array) -> Fallible<Vec<String>> {
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

fn string_array<S: Into<String>>(items: impl IntoIterator<Item = S>) -> Array {
    items.into_iter().map(|s| Dynamic::from(s.into())).collect()
}

fn int(n: usize) -> INT {
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
    engine.register_fn("language", |x: &str| {
        let d = language(x);
        let mut m = Map::new();
        m.insert("lang".into(), Dynamic::from(d.lang.to_string()));
        m.insert("prob".into(), Dynamic::from_float(d.prob));
        m
    });
    engine.register_fn("language_prob", |x: &str, code: &str| -> Fallible<FLOAT> {
        language_prob(x, code).map_err(|e| e.to_string().into())
    });
    engine.register_fn("french_english_alternation", |x: &str| {
        french_english_alternation(x)
    });

    // Lexicon.
    engine.register_fn("english_fluency", |x: &str| english_fluency(x));
    engine.register_fn("plural_noun_fraction", |x: &str| plural_noun_fraction(x));
    engine.register_fn("past_tense_fraction", |x: &str| past_tense_fraction(x));

    register_paper(engine);
}

fn paper<T>(r: Result<T, PaperError>) -> Fallible<T> {
    r.map_err(|e| e.to_string().into())
}

/// VADER scores as a Rhai map `#{pos, neg, neu, compound}`.
fn sentiment_map(s: Sentiment) -> Map {
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
fn detector<T>(r: Result<T, LangDetectError>) -> Fallible<T> {
    r.map_err(|e| match e {
        LangDetectError::NoFeatures => e.to_string().into(),
        LangDetectError::Data(message) => missing_data(message),
    })
}

/// A tagger helper's result for Rhai: its only error is missing tagger data, which fails the
/// check whatever its persona's `on_error` (as missing detector data does).
fn tagger<T>(r: Result<T, String>) -> Fallible<T> {
    r.map_err(missing_data)
}

fn missing_data(message: String) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(
        Dynamic::from(MissingDetectorData(message)),
        rhai::Position::NONE,
    )
    .into()
}

fn ints(function: &'static str, list: &Array) -> Fallible<Vec<i64>> {
    list.iter()
        .map(|v| {
            v.as_int()
                .map_err(|got| format!("{function}: list items must be integers, got {got}").into())
        })
        .collect()
}

/// The paper's scorers (`paper_*`, see [`super::paper`]) and the Python string operations the
/// importer's translations use (`py_*`).
fn register_paper(engine: &mut Engine) {
    engine.register_type_with_name::<WordSet>("WordSet");
    engine.register_fn("len", |s: &mut WordSet| int(s.len()));
    engine.register_fn("contains", |s: &mut WordSet, w: &str| s.contains(w));

    engine.register_fn("py_split", |x: &str| string_array(py_split(x)));
    engine.register_fn("py_split", |x: &str, sep: &str| -> Fallible<Array> {
        if sep.is_empty() {
            return Err("py_split: empty separator (Python raises ValueError)".into());
        }
        Ok(string_array(x.split(sep)))
    });
    engine.register_fn("py_strip", |x: &str| py_strip(x).to_string());
    engine.register_fn("py_count", |x: &str, sub: &str| int(py_count(x, sub)));
    engine.register_fn("py_startswith", |x: &str, p: &str| x.starts_with(p));
    engine.register_fn("py_endswith", |x: &str, p: &str| x.ends_with(p));
    engine.register_fn("py_lower", |x: &str| x.to_lowercase());
    engine.register_fn("py_upper", |x: &str| x.to_uppercase());
    engine.register_fn("py_float", |v: INT| v as FLOAT);
    engine.register_fn("py_float", |v: FLOAT| v);
    engine.register_fn("py_float", |v: bool| if v { 1.0 } else { 0.0 } as FLOAT);
    engine.register_fn("py_float", |v: &str| -> Fallible<FLOAT> {
        py_strip(v)
            .parse::<FLOAT>()
            .map_err(|_| format!("py_float: could not convert string to float: {v:?}").into())
    });
    engine.register_fn("py_int", |v: bool| INT::from(v));
    engine.register_fn("py_int", |v: INT| v);
    engine.register_fn("py_int", |v: FLOAT| v.trunc() as INT);
    engine.register_fn("py_pow", |a: FLOAT, b: FLOAT| a.powf(b));
    engine.register_fn("py_div", |a: FLOAT, b: FLOAT| -> Fallible<FLOAT> {
        if b == 0.0 {
            Err("division by zero (Python raises ZeroDivisionError)".into())
        } else {
            Ok(a / b)
        }
    });

    engine.register_fn("paper_sentences", |x: &str| {
        string_array(paper_sentences(x))
    });
    engine.register_fn("paper_starts_with", |x: &str, p: &str| {
        paper_starts_with(x, p)
    });
    engine.register_fn("paper_case_fraction", |x: &str, upper: bool| {
        paper_case_fraction(x, upper)
    });
    engine.register_fn("paper_one_word", |x: &str| paper_one_word(x));
    engine.register_fn("paper_non_letter_fraction", |x: &str| {
        paper_non_letter_fraction(x)
    });
    engine.register_fn("paper_digit_fraction", |x: &str| paper_digit_fraction(x));
    engine.register_fn("paper_first_equals_last", |x: &str| {
        paper_first_equals_last(x)
    });
    engine.register_fn("paper_word_count_closeness", |x: &str, t: INT| {
        paper(paper_word_count_closeness(x, t))
    });
    engine.register_fn("paper_json_format", |x: &str| paper_json_format(x));
    engine.register_fn("paper_list_format", |x: &str| paper_list_format(x));
    engine.register_fn("paper_dash_format", |x: &str| paper_dash_format(x));
    engine.register_fn(
        "paper_contains_none",
        |x: &str, list: Array| -> Fallible<INT> {
            Ok(paper_contains_none(
                x,
                &strings("paper_contains_none", &list)?,
            ))
        },
    );
    engine.register_fn(
        "paper_target_fraction",
        |x: &str, list: Array| -> Fallible<FLOAT> {
            let list = strings("paper_target_fraction", &list)?;
            paper(paper_target_fraction(x, Targets::List(&list)))
        },
    );
    engine.register_fn(
        "paper_target_fraction",
        |x: &str, set: WordSet| -> Fallible<FLOAT> {
            paper(paper_target_fraction(x, Targets::Set(&set)))
        },
    );
    engine.register_fn(
        "paper_targets_hit",
        |x: &str, list: Array| -> Fallible<FLOAT> {
            paper(paper_targets_hit(x, &strings("paper_targets_hit", &list)?))
        },
    );
    engine.register_fn(
        "paper_slang_fraction",
        |x: &str, list: Array| -> Fallible<FLOAT> {
            Ok(paper_slang_fraction(
                x,
                &strings("paper_slang_fraction", &list)?,
            ))
        },
    );
    engine.register_fn(
        "paper_sentences_start_with",
        |sentences: Array, word: &str| -> Fallible<FLOAT> {
            let s = strings("paper_sentences_start_with", &sentences)?;
            paper(paper_sentences_start_with(&s, word))
        },
    );
    engine.register_fn("paper_alliteration", |x: &str| paper_alliteration(x));
    engine.register_fn(
        "paper_sentence_word_counts",
        |sentences: Array, pattern: Array| -> Fallible<FLOAT> {
            let s = strings("paper_sentence_word_counts", &sentences)?;
            let p = ints("paper_sentence_word_counts", &pattern)?;
            paper(paper_sentence_word_counts(&s, &p))
        },
    );
    engine.register_fn(
        "paper_increasing_sentences",
        |sentences: Array| -> Fallible<FLOAT> {
            let s = strings("paper_increasing_sentences", &sentences)?;
            Ok(paper_increasing_sentences(&s))
        },
    );
    engine.register_fn("paper_sentiment", |x: &str| {
        sentiment_map(super::nltk_vader::nltk_polarity_scores(x))
    });
    engine.register_fn("paper_is_language", |x: &str, code: &str| {
        detector(paper_is_language(x, code))
    });
    engine.register_fn("paper_french_english", |x: &str| {
        detector(paper_french_english(x))
    });
    engine.register_fn("paper_french_probability", |x: &str| {
        detector(paper_french_probability(x))
    });
    engine.register_fn("paper_close_to_number", |x: &str, t: INT| {
        paper(paper_close_to_number(x, t as FLOAT))
    });
    engine.register_fn("paper_close_to_number", |x: &str, t: FLOAT| {
        paper(paper_close_to_number(x, t))
    });
    engine.register_fn("paper_case_alternation", |x: &str| {
        paper(paper_case_alternation(x))
    });
    engine.register_fn("paper_short_long_alternation", |x: &str| {
        paper(paper_short_long_alternation(x))
    });
    engine.register_fn("paper_word_alternation", |x: &str, w: &str| {
        paper(paper_word_alternation(x, w))
    });
    engine.register_fn("paper_question_fraction", |x: &str| {
        paper_question_fraction(x)
    });
    engine.register_fn("paper_doubled_words", |x: &str| paper_doubled_words(x));
    engine.register_fn("paper_unique_fraction", |x: &str| paper_unique_fraction(x));
    engine.register_fn("paper_repeated_fraction", |x: &str| {
        paper_repeated_fraction(x)
    });
    engine.register_fn(
        "paper_colour_and_number",
        |x: &str, list: Array| -> Fallible<bool> {
            Ok(paper_colour_and_number(
                x,
                &strings("paper_colour_and_number", &list)?,
            ))
        },
    );
    engine.register_fn("paper_plural_noun_fraction", |x: &str| {
        tagger(paper_plural_noun_fraction(x))
    });
    engine.register_fn("paper_past_tense_fraction", |x: &str| {
        tagger(paper_past_tense_fraction(x))
    });
}
