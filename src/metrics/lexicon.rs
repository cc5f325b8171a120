//! The shipped English lexicon (`data/lexicon.zip`, built by `data/build_lexicon.py` from SCOWL
//! and WordNet 3.0; see `data/README.md`) and the fluency metric built on it.

use std::collections::HashSet;
use std::io::Read;
use std::sync::LazyLock;

use super::text::{ratio, word_key, words};

static LEXICON_ZIP: &[u8] = include_bytes!("data/lexicon.zip");

/// The word forms. Lines may carry a tab and WordNet part-of-speech flags, which the rule-based
/// tagger this project used to have read; nothing reads them now (see `data/README.md`).
static LEXICON: LazyLock<HashSet<String>> = LazyLock::new(|| {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(LEXICON_ZIP))
        .expect("embedded lexicon.zip is a zip");
    let mut text = String::new();
    archive
        .by_name("lexicon.txt")
        .expect("lexicon.zip holds lexicon.txt")
        .read_to_string(&mut text)
        .expect("lexicon.txt is UTF-8");
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|line| line.split_once('\t').map_or(line, |(w, _)| w).to_string())
        .collect()
});

/// The number of word forms in the shipped lexicon.
pub fn lexicon_size() -> usize {
    LEXICON.len()
}

/// Whether a word is English by the shipped word list.
///
/// The word is lowercased (`’` read as `'`) and a possessive `'s` removed; it is English when the
/// list has it, or, for a hyphenated word the list lacks, when every part is in the list and
/// has at least two characters (`well-known`, `state-of-the-art`; but not the dash-spelled
/// `l-i-k-e`). The list is SCOWL up to size 60 with its inflected forms (plurals, -ed, -ing,
/// comparatives are listed words, so no suffix stripping is needed), plus names and
/// nationalities up to size 50 and a few abbreviations (AI, TV, e.g.).
pub fn is_english_word(word: &str) -> bool {
    let key = word_key(word);
    let key = key.trim_matches('\'');
    let key = key.strip_suffix("'s").unwrap_or(key);
    if LEXICON.contains(key) {
        return true;
    }
    let parts: Vec<&str> = key.split(['-', '\u{2010}', '\u{2011}']).collect();
    parts.len() > 1
        && parts
            .iter()
            .all(|p| p.chars().count() >= 2 && LEXICON.contains(*p))
}

/// Share of the words (those containing a digit left out) that are English words by
/// [`is_english_word`]; 0.0 when no word is left.
///
/// Numbers are ignored because they are no evidence either way. Names outside the list (Camden,
/// Shoreditch) count against the text, so ordinary English answers score about 0.95–1.0 and
/// French or gibberish far lower; a fluency filter should use a threshold such as 0.8, not 1.0.
pub fn english_fluency(text: &str) -> f64 {
    let ws: Vec<&str> = words(text)
        .into_iter()
        .filter(|w| !w.chars().any(|c| c.is_ascii_digit()))
        .collect();
    ratio(ws.iter().filter(|w| is_english_word(w)).count(), ws.len())
}
