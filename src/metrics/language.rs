//! Language identification with lingua, restricted to English, French, Spanish, German and
//! Italian.
//!
//! lingua's confidence values are a probability distribution over the languages the detector
//! knows, so restricting it to the five languages the personas use makes the numbers
//! "probability of French rather than English, Spanish, German or Italian". DESIGN §7: lingua
//! gave 1.00 for a plain French sentence where whatlang gave 0.08.

use std::sync::LazyLock;

use lingua::{Language, LanguageDetector, LanguageDetectorBuilder};

use super::MetricsError;
use super::sentences::sentences;

const LANGUAGES: [(Language, &str); 5] = [
    (Language::English, "en"),
    (Language::French, "fr"),
    (Language::Spanish, "es"),
    (Language::German, "de"),
    (Language::Italian, "it"),
];

/// The ISO 639-1 codes [`language_prob`] accepts.
pub const LANGUAGE_CODES: [&str; 5] = ["en", "fr", "es", "de", "it"];

static DETECTOR: LazyLock<LanguageDetector> = LazyLock::new(|| {
    let languages: Vec<Language> = LANGUAGES.iter().map(|&(l, _)| l).collect();
    LanguageDetectorBuilder::from_languages(&languages)
        .with_preloaded_language_models()
        .build()
});

fn has_letter(text: &str) -> bool {
    text.chars().any(char::is_alphabetic)
}

/// lingua's confidence for each of the five languages, in the order of [`LANGUAGE_CODES`]; all
/// 0.0 for text without letters (or without any letter of these languages' script).
fn confidences(text: &str) -> [f64; 5] {
    let mut out = [0.0; 5];
    if !has_letter(text) {
        return out;
    }
    for (lang, conf) in DETECTOR.compute_language_confidence_values(text) {
        if let Some(i) = LANGUAGES.iter().position(|&(l, _)| l == lang) {
            out[i] = if conf.is_finite() {
                conf.clamp(0.0, 1.0)
            } else {
                0.0
            };
        }
    }
    out
}

/// The most likely language of a text and its confidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detected {
    /// `"en"`, `"fr"`, `"es"`, `"de"`, `"it"`, or `"unknown"`.
    pub lang: &'static str,
    /// lingua's confidence for that language, in [0, 1]; 0.0 when unknown.
    pub prob: f64,
}

/// The most likely of English, French, Spanish, German and Italian, with lingua's confidence.
/// `unknown` with 0.0 for empty or punctuation-only text, and for text in another script
/// (Chinese, Cyrillic), which lingua gives no confidence for.
pub fn language(text: &str) -> Detected {
    let conf = confidences(text);
    let (i, &p) = conf
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .expect("five languages");
    if p > 0.0 {
        Detected {
            lang: LANGUAGES[i].1,
            prob: p,
        }
    } else {
        Detected {
            lang: "unknown",
            prob: 0.0,
        }
    }
}

/// lingua's confidence that `text` is in the language with ISO 639-1 code `code` (`en`, `fr`,
/// `es`, `de`, `it`; case-insensitive) rather than one of the other four; 0.0 for text without
/// letters. Another code is an error, so a typo in a persona check fails loudly instead of
/// scoring 0.
pub fn language_prob(text: &str, code: &str) -> Result<f64, MetricsError> {
    let code = code.trim().to_ascii_lowercase();
    let i = LANGUAGE_CODES
        .iter()
        .position(|&c| c == code)
        .ok_or_else(|| MetricsError::UnknownLanguage(code.clone()))?;
    Ok(confidences(text)[i])
}

/// The pieces [`french_english_alternation`] classifies: each sentence, with every top-level
/// parenthesized group taken out as a piece of its own (in reading order); pieces without letters
/// dropped.
pub(crate) fn gloss_segments(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for sentence in sentences(text) {
        let mut depth = 0usize;
        let mut piece = String::new();
        for c in sentence.chars() {
            match c {
                '(' => {
                    if depth == 0 {
                        out.push(std::mem::take(&mut piece));
                    } else {
                        piece.push(c);
                    }
                    depth += 1;
                }
                ')' if depth > 0 => {
                    depth -= 1;
                    if depth == 0 {
                        out.push(std::mem::take(&mut piece));
                    } else {
                        piece.push(c);
                    }
                }
                _ => piece.push(c),
            }
        }
        out.push(piece);
    }
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| has_letter(s))
        .collect()
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum FrEn {
    Fr,
    En,
    Neither,
}

/// A piece without its names: capitalized words other than the first word and "I" are dropped
/// (unless nothing would be left), since "Je visite le British Museum" is French whatever the
/// museum is called.
fn without_names(piece: &str) -> String {
    let ws = super::text::words(piece);
    let kept: Vec<&str> = ws
        .iter()
        .enumerate()
        .filter(|&(i, w)| i == 0 || *w == "I" || !w.chars().next().is_some_and(char::is_uppercase))
        .map(|(_, w)| *w)
        .collect();
    if kept.is_empty() {
        piece.to_string()
    } else {
        kept.join(" ")
    }
}

fn fr_or_en(piece: &str) -> FrEn {
    let conf = confidences(&without_names(piece));
    let (en, fr) = (conf[0], conf[1]);
    if fr > en {
        FrEn::Fr
    } else if en > fr {
        FrEn::En
    } else {
        FrEn::Neither
    }
}

/// For the persona that answers in French with an English translation after each sentence
/// ("Bonjour ! (Hello!) Comment vas-tu ? (How are you?)"): the share of adjacent pieces whose
/// languages alternate between French and English.
///
/// Pieces are the sentences, with each top-level parenthesized group split out as its own piece
/// (so a gloss inside the sentence, "Je visite le musée (I visit the museum).", counts as well as
/// one after it), dropping pieces without letters. Each piece is French or English by which of
/// the two lingua finds more likely (a tie, e.g. another script, is neither), after names are set
/// aside: capitalized words other than the piece's first word and "I" are dropped, so that
/// "Je visite le British Museum" counts as French. With n pieces the
/// score is the number of adjacent pairs where one is French and the other English, divided by
/// n − 1; 0.0 for fewer than two pieces. A perfect French/English alternation scores 1 (as does
/// one starting in English); an all-French answer 0; one missing gloss costs about two pairs.
pub fn french_english_alternation(text: &str) -> f64 {
    let langs: Vec<FrEn> = gloss_segments(text).iter().map(|s| fr_or_en(s)).collect();
    if langs.len() < 2 {
        return 0.0;
    }
    let alternating = langs
        .windows(2)
        .filter(|w| matches!((w[0], w[1]), (FrEn::Fr, FrEn::En) | (FrEn::En, FrEn::Fr)))
        .count();
    alternating as f64 / (langs.len() - 1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glosses_split_out_of_sentences() {
        assert_eq!(
            gloss_segments("Je visite le musée (I visit the museum). Bien !"),
            vec!["Je visite le musée", "I visit the museum", "Bien !"]
        );
        assert_eq!(
            gloss_segments("Bonjour ! (Hello!)"),
            vec!["Bonjour !", "Hello!"]
        );
        assert!(gloss_segments("(...) !!").is_empty());
    }

    #[test]
    fn names_are_set_aside() {
        assert_eq!(without_names("Je visite le British Museum"), "Je visite le");
        assert_eq!(
            without_names("Then I walk along the Thames"),
            "Then I walk along the"
        );
        assert_eq!(without_names("London"), "London");
    }
}
