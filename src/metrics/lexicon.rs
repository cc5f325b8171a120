//! The shipped English lexicon (`data/lexicon.zip`, built by `data/build_lexicon.py` from SCOWL
//! and WordNet 3.0; see `data/README.md`) and the fluency metric built on it.

use std::collections::HashMap;
use std::io::Read;
use std::sync::LazyLock;

use super::text::{ratio, word_key, words};

static LEXICON_ZIP: &[u8] = include_bytes!("data/lexicon.zip");

/// What the lexicon knows about one word form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Entry {
    /// WordNet noun lemma: `floor(log2(1 + SemCor count))`, capped at 9.
    pub noun: Option<u8>,
    /// WordNet verb lemma, same scale.
    pub verb: Option<u8>,
    /// WordNet adjective lemma, same scale.
    pub adj: Option<u8>,
    /// Irregular plural noun (WordNet noun.exc).
    pub irregular_plural: bool,
    /// Irregular past tense or past participle (WordNet verb.exc).
    pub irregular_past: bool,
    /// SCOWL lists the word only capitalized (names, nationalities).
    pub capitalized: bool,
}

fn parse_flags(flags: &str) -> Entry {
    let mut e = Entry::default();
    let bytes = flags.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let digit = || {
            bytes
                .get(i + 1)
                .filter(|b| b.is_ascii_digit())
                .map(|b| b - b'0')
        };
        match bytes[i] {
            b'n' => {
                e.noun = digit();
                i += 1;
            }
            b'v' => {
                e.verb = digit();
                i += 1;
            }
            b'a' => {
                e.adj = digit();
                i += 1;
            }
            b'P' => e.irregular_plural = true,
            b'D' => e.irregular_past = true,
            b'C' => e.capitalized = true,
            _ => {}
        }
        i += 1;
    }
    e
}

static LEXICON: LazyLock<HashMap<String, Entry>> = LazyLock::new(|| {
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
        .map(|line| match line.split_once('\t') {
            Some((w, flags)) => (w.to_string(), parse_flags(flags)),
            None => (line.to_string(), Entry::default()),
        })
        .collect()
});

/// The lexicon entry of a word key (lowercase, `'` apostrophes).
pub(crate) fn entry(key: &str) -> Option<Entry> {
    LEXICON.get(key).copied()
}

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
    if LEXICON.contains_key(key) {
        return true;
    }
    let parts: Vec<&str> = key.split(['-', '\u{2010}', '\u{2011}']).collect();
    parts.len() > 1
        && parts
            .iter()
            .all(|p| p.chars().count() >= 2 && LEXICON.contains_key(*p))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse() {
        let e = parse_flags("n5v3a2PDC");
        assert_eq!((e.noun, e.verb, e.adj), (Some(5), Some(3), Some(2)));
        assert!(e.irregular_plural && e.irregular_past && e.capitalized);
        assert_eq!(parse_flags(""), Entry::default());
    }

    #[test]
    fn shipped_lexicon_has_pos_information() {
        let walk = entry("walk").expect("walk is listed");
        assert!(walk.noun.is_some() && walk.verb.is_some());
        assert!(entry("went").is_some_and(|e| e.irregular_past));
        assert!(entry("children").is_some_and(|e| e.irregular_plural));
        assert!(entry("american").is_some_and(|e| e.capitalized));
        assert!(entry("xqzt").is_none());
    }
}
