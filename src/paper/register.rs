//! The Rhai names of the paper's helpers (`paper_*`), the `WordSet` type of word lists, and
//! the Python string operations the importer's translations use (`py_*`): thin adapters, as in
//! [`crate::metrics::register`](fn@crate::metrics::register).

use rhai::{Array, Engine, FLOAT, INT};

use super::helpers::*;
use crate::metrics::python::{py_count, py_split, py_strip};
use crate::metrics::register::{
    Fallible, detector, int, sentiment_map, string_array, strings, tagger,
};
use crate::metrics::sentiment;

fn paper<T>(r: Result<T, PaperError>) -> Fallible<T> {
    r.map_err(|e| e.to_string().into())
}

fn ints(function: &'static str, list: &Array) -> Fallible<Vec<i64>> {
    list.iter()
        .map(|v| {
            v.as_int()
                .map_err(|got| format!("{function}: list items must be integers, got {got}").into())
        })
        .collect()
}

/// Registers the paper's scorers (`paper_*`, see [`super::helpers`]) and the Python string operations the
/// importer's translations use (`py_*`).
pub fn register(engine: &mut Engine) {
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
    engine.register_fn("paper_sentiment", |x: &str| sentiment_map(sentiment(x)));
    engine.register_fn("paper_fluency", |x: &str| tagger(is_fluent_english(x)));
    engine.register_fn("paper_process_answer", |x: &str| {
        crate::metrics::python::process_answer(x)
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
