//! NLTK data shipped with drift-script (`data/vader_lexicon.zip`, `data/words.zip`: the files of
//! the nltk/nltk_data repository, byte for byte; see `data/README.md`), embedded in the binary
//! and checked against their sha256 before first use, so a run scores with exactly the data
//! NLTK downloads and never fetches it.
//!
//! - VADER's lexicon (`packages/sentiment/vader_lexicon.zip`, MIT), read as NLTK's
//!   `SentimentIntensityAnalyzer.make_lex_dict` reads it, for [`super::sentiment`];
//! - the Words corpus (`packages/corpora/words.zip`, public domain): `en` (Webster's Second
//!   International, Unix `web2`) and `en-basic` (Ogden's 850 Basic English words), the set the
//!   paper's notebook tests fluency against (`set(w.lower() for w in words.words())`).

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::LazyLock;

use sha2::{Digest, Sha256};

static VADER_ZIP: &[u8] = include_bytes!("data/vader_lexicon.zip");
const VADER_SHA256: &str = "8adba4294eef3964d820bf655e37e61bdc3a341994356af59b74fb3b4a36ce5c";
static WORDS_ZIP: &[u8] = include_bytes!("data/words.zip");
const WORDS_SHA256: &str = "54ed02917d6771dcc3e8141218960d020947f7f2ccfd9ac9b320979349746015";

/// The text of `member` in an embedded zip whose sha256 must be `sha256` (a file edited or
/// truncated in a checkout is a bug to see at once, not scores to trust).
fn member_text(name: &str, zip: &[u8], sha256: &str, member: &str) -> String {
    let actual: String = Sha256::digest(zip)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        actual, sha256,
        "src/metrics/data/{name} is not the file of NLTK's data (sha256 differs); restore it"
    );
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("a zip");
    let mut text = String::new();
    archive
        .by_name(member)
        .unwrap_or_else(|_| panic!("{name} holds {member}"))
        .read_to_string(&mut text)
        .unwrap_or_else(|_| panic!("{name}: {member} is UTF-8"));
    text
}

/// NLTK's `make_lex_dict`: each line (split on `\n`, stripped: the file has CRLF endings) is
/// `word<TAB>valence<TAB>…`; a later line with the same word replaces an earlier one.
pub fn vader_lexicon() -> HashMap<String, f64> {
    let text = member_text(
        "vader_lexicon.zip",
        VADER_ZIP,
        VADER_SHA256,
        "vader_lexicon/vader_lexicon.txt",
    );
    let mut lexicon = HashMap::new();
    for line in text.split('\n') {
        let line = super::python::py_strip(line);
        let mut fields = line.split('\t');
        let (Some(word), Some(valence)) = (fields.next(), fields.next()) else {
            panic!("vader_lexicon.txt: line without a valence: {line:?}");
        };
        let valence: f64 = valence
            .parse()
            .unwrap_or_else(|_| panic!("vader_lexicon.txt: bad valence in {line:?}"));
        lexicon.insert(word.to_string(), valence);
    }
    lexicon
}

/// `set(w.lower() for w in nltk.corpus.words.words())`: the lines of `en` and `en-basic` that
/// are not blank (NLTK's `WordListCorpusReader`), lower-cased.
pub static NLTK_WORDS: LazyLock<HashSet<String>> = LazyLock::new(|| {
    ["words/en", "words/en-basic"]
        .iter()
        .flat_map(|member| {
            let text = member_text("words.zip", WORDS_ZIP, WORDS_SHA256, member);
            text.lines()
                .filter(|l| !l.trim_end().is_empty())
                .map(|l| l.to_lowercase())
                .collect::<Vec<_>>()
        })
        .collect()
});

/// Whether `token`, lower-cased, is in NLTK's Words corpus ([`NLTK_WORDS`]).
pub fn is_nltk_word(token: &str) -> bool {
    NLTK_WORDS.contains(&token.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_data_reads_as_nltk_reads_it() {
        let lexicon = vader_lexicon();
        assert_eq!(lexicon.len(), 7502);
        assert_eq!(lexicon[":p"], 1.4);
        assert!(!lexicon.contains_key("heart"));
        // The vader_sentiment crate's lexicon has `flawed`; NLTK's does not.
        assert!(!lexicon.contains_key("flawed"));
        assert!(is_nltk_word("Zythum") && is_nltk_word("yesterday") && is_nltk_word("a"));
        assert!(!is_nltk_word(".") && !is_nltk_word("chatbot") && !is_nltk_word(""));
    }
}
