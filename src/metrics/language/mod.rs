//! Language identification: langdetect 1.0.9 ([`langdetect`], a port of the paper's detector,
//! seeded), the project's one language detector. [`language`], [`language_prob`] and
//! [`french_english_alternation`] (shipped personas `french`, `spanish`,
//! `french-with-english-glosses`) and the paper's `paper_is_language`,
//! `paper_french_probability` and `paper_french_english` all read its `detect_langs`
//! (`french_english_alternation` its probabilities before the 0.1 cut, to compare two
//! languages on short pieces).
//!
//! langdetect knows 55 languages; the project's functions name five of them (English, French,
//! Spanish, German, Italian), the languages the personas use, so that a typo in a check's
//! language code fails loudly instead of scoring 0. A language's probability is the one
//! langdetect reports for it: langdetect reports the languages above 0.1, so any other has 0
//! (as the paper's `get_french_percentage` reads it). Every detection is seeded (seed 0), so
//! a text gets the same numbers in every process and on every run.
//!
//! langdetect's profiles are fetched with pip on first use and cached (see [`langdetect`]); a
//! check that needs them when they cannot be had fails with [`MetricsError::MissingData`].

pub mod langdetect;

use self::langdetect::{DetectedLanguage, LangDetectError};
use super::MetricsError;
use super::sentences::sentences;

/// The ISO 639-1 codes [`language_prob`] accepts.
pub const LANGUAGE_CODES: [&str; 5] = ["en", "fr", "es", "de", "it"];

fn has_letter(text: &str) -> bool {
    text.chars().any(char::is_alphabetic)
}

/// langdetect's reported languages for `text` (seed 0); empty when it finds nothing to go on
/// (no letters: langdetect raises "no features" there).
fn detected(text: &str) -> Result<Vec<DetectedLanguage>, MetricsError> {
    match langdetect::detect_langs(text) {
        Ok(languages) => Ok(languages),
        Err(LangDetectError::NoFeatures) => Ok(Vec::new()),
        Err(LangDetectError::Data(message)) => Err(MetricsError::MissingData(message)),
    }
}

/// The probability langdetect reports for `code` among `languages`; 0.0 when not reported.
fn prob_of(languages: &[DetectedLanguage], code: &str) -> f64 {
    languages
        .iter()
        .find(|l| l.lang == code)
        .map_or(0.0, |l| l.prob)
}

/// The most likely language of a text and its probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detected {
    /// `"en"`, `"fr"`, `"es"`, `"de"`, `"it"`, or `"unknown"`.
    pub lang: &'static str,
    /// langdetect's probability for that language, in [0, 1]; 0.0 when unknown.
    pub prob: f64,
}

/// The most likely of English, French, Spanish, German and Italian by langdetect's
/// probabilities, with its probability. `unknown` with 0.0 when langdetect reports none of the
/// five: empty or punctuation-only text, text in another language or script.
pub fn language(text: &str) -> Result<Detected, MetricsError> {
    let languages = detected(text)?;
    let mut best = Detected {
        lang: "unknown",
        prob: 0.0,
    };
    for code in LANGUAGE_CODES {
        let p = prob_of(&languages, code);
        if p > best.prob {
            best = Detected {
                lang: code,
                prob: p,
            };
        }
    }
    Ok(best)
}

/// langdetect's probability that `text` is in the language with ISO 639-1 code `code` (`en`,
/// `fr`, `es`, `de`, `it`; case-insensitive); 0.0 for text without letters and for a language
/// langdetect does not report (below 0.1). Another code is an error, so a typo in a persona
/// check fails loudly instead of scoring 0.
pub fn language_prob(text: &str, code: &str) -> Result<f64, MetricsError> {
    let code = code.trim().to_ascii_lowercase();
    let code = LANGUAGE_CODES
        .iter()
        .find(|&&c| c == code)
        .ok_or_else(|| MetricsError::UnknownLanguage(code.clone()))?;
    Ok(prob_of(&detected(text)?, code))
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

fn fr_or_en(piece: &str) -> Result<FrEn, MetricsError> {
    let languages = match langdetect::probabilities(&without_names(piece)) {
        Ok(languages) => languages,
        Err(LangDetectError::NoFeatures) => return Ok(FrEn::Neither),
        Err(LangDetectError::Data(message)) => return Err(MetricsError::MissingData(message)),
    };
    let (en, fr) = (prob_of(&languages, "en"), prob_of(&languages, "fr"));
    Ok(if fr > en {
        FrEn::Fr
    } else if en > fr {
        FrEn::En
    } else {
        FrEn::Neither
    })
}

/// For the persona that answers in French with an English translation after each sentence
/// ("Bonjour ! (Hello!) Comment vas-tu ? (How are you?)"): the share of adjacent pieces whose
/// languages alternate between French and English.
///
/// Pieces are the sentences, with each top-level parenthesized group split out as its own piece
/// (so a gloss inside the sentence, "Je visite le musée (I visit the museum).", counts as well as
/// one after it), dropping pieces without letters. Each piece is French or English by which of
/// the two langdetect finds more likely, comparing its probabilities before the 0.1 cut of
/// `detect_langs` (a short gloss such as "(Hello!)" is reported as Italian, yet English is far
/// more likely than French there); a tie (no features) is neither. Names are set aside first:
/// capitalized words other than the piece's first word and "I" are
/// dropped, so that "Je visite le British Museum" counts as French. With n pieces the
/// score is the number of adjacent pairs where one is French and the other English, divided by
/// n − 1; 0.0 for fewer than two pieces. A perfect French/English alternation scores 1 (as does
/// one starting in English); an all-French answer 0; one missing gloss costs about two pairs.
pub fn french_english_alternation(text: &str) -> Result<f64, MetricsError> {
    let langs = gloss_segments(text)
        .iter()
        .map(|s| fr_or_en(s))
        .collect::<Result<Vec<FrEn>, MetricsError>>()?;
    if langs.len() < 2 {
        return Ok(0.0);
    }
    let alternating = langs
        .windows(2)
        .filter(|w| matches!((w[0], w[1]), (FrEn::Fr, FrEn::En) | (FrEn::En, FrEn::Fr)))
        .count();
    Ok(alternating as f64 / (langs.len() - 1) as f64)
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
