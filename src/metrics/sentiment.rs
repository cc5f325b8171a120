//! Sentiment: VADER (Hutto & Gilbert 2014) exactly as NLTK computes it, the project's one
//! sentiment scorer. It is a line-by-line port of `SentimentIntensityAnalyzer.polarity_scores`
//! from NLTK 3.10 (`nltk/sentiment/vader.py`), the scorer the paper calls as
//! `SentimentIntensityAnalyzer().polarity_scores(text)[kind]`, so the shipped personas'
//! `sentiment(x)`, [`positivity`] and [`negativity`] and the imported personas'
//! `paper_sentiment(x)` give the same numbers as NLTK (checked against NLTK's own output in
//! `tests/metrics.rs`, `tests/fixtures/nltk_vader_reference.jsonl`). It needs no data at run
//! time and does the same floating-point operations in every process.
//!
//! The steps follow NLTK's code and names: `SentiText` (whitespace tokens of more than one
//! character; a token that is a word with one entry of `PUNC_LIST` before or after it loses
//! that punctuation, `_words_plus_punc`/`_words_and_emoticons`; `allcap_differential`),
//! boosters and dampeners with ALL-CAPS emphasis (`scalar_inc_dec`), negation (`negated`,
//! `NEGATE`, `n't`), `_never_check`, `_idioms_check` (`SPECIAL_CASE_IDIOMS` and the
//! `kind of`/`sort of`/`just enough` bigrams), `_least_check`, `_but_check`, the skipped
//! `kind` of `kind of`, `!`/`?` emphasis, `_sift_sentiment_scores`, `normalize` (alpha 15)
//! and Python's `round` (3 decimals for pos/neg/neu, 4 for compound), in the same order of
//! floating-point operations. Like NLTK, a token is scored at the position of its *first*
//! occurrence (`first_index`), so a repeated word takes the context of its first use.
//!
//! Python string semantics: `str.split()` splits on Python's whitespace, `isupper()` wants at
//! least one cased character and no lowercase or titlecase one, `lower()` is the full Unicode
//! lowercase mapping (with final sigma), `string.punctuation` is the 32 ASCII punctuation
//! characters and lengths count code points.
//!
//! # Differences from the `vader_sentiment` crate
//!
//! The project scored with that crate's own analyzer before; it was replaced by this port
//! because it disagrees with NLTK. The crate ports the *vaderSentiment* package, which NLTK's copy has drifted from. The crate
//! replaces emoji by their descriptions (NLTK gives emoji no sentiment), strips all leading and
//! trailing punctuation from a token (NLTK strips one `PUNC_LIST` entry, and only from a
//! token that is then a known word of the text), compares words case-insensitively everywhere
//! (NLTK's `never`/`so`/`this` and idiom checks are case-sensitive), treats "without a doubt"
//! as non-negating, scales `never so`/`never this` by 1.25 (NLTK: 1.5 at distance two),
//! searches idioms and booster bigrams as substrings of a window and adds every booster's
//! value (NLTK matches whole `SPECIAL_CASE_IDIOMS` sequences and adds `B_DECR` once), has a
//! different `least` rule, never multiplies the valence of the negation word of a `kind of`
//! token, scores a repeated word in its own place, and does not round.
//!
//! # Lexicon
//!
//! The words and valences are NLTK's own `vader_lexicon.txt` (nltk_data
//! `packages/sentiment/vader_lexicon.zip`, MIT), shipped in `data/` and read as NLTK's
//! `make_lex_dict` reads it ([`super::nltk_data::vader_lexicon`]). Until December 2026 this
//! port used the `vader_sentiment` crate's embedded lexicon (the *vaderSentiment* package's
//! later file), which differs from NLTK's in four lower-case keys: the crate has `flawed` (−2.1),
//! `:-þ` and `:þ`, which NLTK's lacks, and gives `badass` 1.4 where NLTK gives −0.6; and the
//! crate's case-insensitive map had lost NLTK's `:p` (1.4, the later of two lower-case lines).
//! So "We're all just different, imperfect, flawed." scored neg 0.574 here and 0.315 in NLTK.
//! One scorer per job: the project's `positivity`/`negativity` and the paper's `get_sentiment`
//! both score with NLTK's data.
//!
//! NLTK 3.10 on Python 3.11 sums the valences left to right (`sum`); Python 3.12 and later
//! sum floats with compensation, which can move the last bit of the sum (and, rarely, the
//! rounded compound). This port sums left to right.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use super::python::{py_count, py_split, strip_ascii_punctuation};

/// VADER scores of a text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sentiment {
    /// Share of the text's sentiment mass that is positive, in [0, 1].
    pub pos: f64,
    /// Share that is negative, in [0, 1].
    pub neg: f64,
    /// Share that is neutral, in [0, 1].
    pub neu: f64,
    /// Normalized sum of valences, in [−1, 1]; VADER's headline score.
    pub compound: f64,
}

/// `(compound + 1) / 2`: 1 for the most positive text, 0 for the most negative, 0.5 for neutral
/// or empty text.
pub fn positivity(text: &str) -> f64 {
    (sentiment(text).compound + 1.0) / 2.0
}

/// `(1 − compound) / 2`: 1 for the most negative text, 0 for the most positive, 0.5 for neutral
/// or empty text (the paper's score for the rude persona).
pub fn negativity(text: &str) -> f64 {
    (1.0 - sentiment(text).compound) / 2.0
}

/// Empirically derived mean sentiment intensity rating increase for booster words.
const B_INCR: f64 = 0.293;
/// ... and decrease for dampeners.
const B_DECR: f64 = -0.293;
/// Increase for a sentiment word or booster in ALL CAPS while others are not.
const C_INCR: f64 = 0.733;
/// Factor applied by a negation.
const N_SCALAR: f64 = -0.74;

/// NLTK's `PUNC_LIST`.
const PUNC_LIST: [&str; 17] = [
    ".", "!", "?", ",", ";", ":", "-", "'", "\"", "!!", "!!!", "??", "???", "?!?", "!?!", "?!?!",
    "!?!?",
];

/// The lexicon as NLTK's `make_lex_dict` builds it from NLTK's own data file.
static LEXICON: LazyLock<HashMap<String, f64>> = LazyLock::new(super::nltk_data::vader_lexicon);

fn in_lexicon(word_lower: &str) -> bool {
    LEXICON.contains_key(word_lower)
}

/// NLTK's `NEGATE`.
fn is_negate_word(word_lower: &str) -> bool {
    matches!(
        word_lower,
        "aint"
            | "arent"
            | "cannot"
            | "cant"
            | "couldnt"
            | "darent"
            | "didnt"
            | "doesnt"
            | "ain't"
            | "aren't"
            | "can't"
            | "couldn't"
            | "daren't"
            | "didn't"
            | "doesn't"
            | "dont"
            | "hadnt"
            | "hasnt"
            | "havent"
            | "isnt"
            | "mightnt"
            | "mustnt"
            | "neither"
            | "don't"
            | "hadn't"
            | "hasn't"
            | "haven't"
            | "isn't"
            | "mightn't"
            | "mustn't"
            | "neednt"
            | "needn't"
            | "never"
            | "none"
            | "nope"
            | "nor"
            | "not"
            | "nothing"
            | "nowhere"
            | "oughtnt"
            | "shant"
            | "shouldnt"
            | "uhuh"
            | "wasnt"
            | "werent"
            | "oughtn't"
            | "shan't"
            | "shouldn't"
            | "uh-uh"
            | "wasn't"
            | "weren't"
            | "without"
            | "wont"
            | "wouldnt"
            | "won't"
            | "wouldn't"
            | "rarely"
            | "seldom"
            | "despite"
    )
}

/// NLTK's `BOOSTER_DICT` (looked up with whatever case the caller gives, as NLTK does).
fn booster(word: &str) -> Option<f64> {
    match word {
        "absolutely" | "amazingly" | "awfully" | "completely" | "considerably" | "decidedly"
        | "deeply" | "effing" | "enormously" | "entirely" | "especially" | "exceptionally"
        | "extremely" | "fabulously" | "flipping" | "flippin" | "fricking" | "frickin"
        | "frigging" | "friggin" | "fully" | "fucking" | "greatly" | "hella" | "highly"
        | "hugely" | "incredibly" | "intensely" | "majorly" | "more" | "most" | "particularly"
        | "purely" | "quite" | "really" | "remarkably" | "so" | "substantially" | "thoroughly"
        | "totally" | "tremendously" | "uber" | "unbelievably" | "unusually" | "utterly"
        | "very" => Some(B_INCR),
        "almost" | "barely" | "hardly" | "just enough" | "kind of" | "kinda" | "kindof"
        | "kind-of" | "less" | "little" | "marginally" | "occasionally" | "partly" | "scarcely"
        | "slightly" | "somewhat" | "sort of" | "sorta" | "sortof" | "sort-of" => Some(B_DECR),
        _ => None,
    }
}

/// NLTK's `SPECIAL_CASE_IDIOMS` (case-sensitive).
fn special_case_idiom(sequence: &str) -> Option<f64> {
    match sequence {
        "the shit" => Some(3.0),
        "the bomb" => Some(3.0),
        "bad ass" => Some(1.5),
        "yeah right" => Some(-2.0),
        "cut the mustard" => Some(2.0),
        "kiss of death" => Some(-1.5),
        "hand to mouth" => Some(-2.0),
        _ => None,
    }
}

/// Unicode titlecase letters (general category Lt), which make Python's `isupper` false.
fn is_titlecase(c: char) -> bool {
    matches!(c as u32,
        0x01C5 | 0x01C8 | 0x01CB | 0x01F2 | 0x1F88..=0x1F8F | 0x1F98..=0x1F9F | 0x1FA8..=0x1FAF
        | 0x1FBC | 0x1FCC | 0x1FFC)
}

/// Python's `str.isupper()`: at least one uppercase character and no lowercase or titlecase
/// one.
fn py_isupper(word: &str) -> bool {
    let mut cased = false;
    for c in word.chars() {
        if c.is_lowercase() || is_titlecase(c) {
            return false;
        }
        cased |= c.is_uppercase();
    }
    cased
}

fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// NLTK's `negated([word])` (one word, `include_nt=True`): a `NEGATE` word or one holding
/// `n't` (a one-word list has no pairs for the `least` rule).
fn negated(word: &str) -> bool {
    let lower = word.to_lowercase();
    is_negate_word(&lower) || lower.contains("n't")
}

/// NLTK's `SentiText`: the tokens and whether only some of them are in ALL CAPS.
struct SentiText<'a> {
    words_and_emoticons: Vec<&'a str>,
    /// `.lower()` of each token.
    lowered: Vec<String>,
    is_cap_diff: bool,
}

impl<'a> SentiText<'a> {
    fn new(text: &'a str) -> SentiText<'a> {
        let words_and_emoticons = words_and_emoticons(text);
        let lowered = words_and_emoticons
            .iter()
            .map(|w| w.to_lowercase())
            .collect();
        let is_cap_diff = allcap_differential(&words_and_emoticons);
        SentiText {
            words_and_emoticons,
            lowered,
            is_cap_diff,
        }
    }
}

/// `_words_and_emoticons`: the whitespace tokens longer than one character; a token that is
/// `p + w` or `w + p`, with `p` in `PUNC_LIST` and `w` a word of more than one character of
/// the text with its ASCII punctuation removed (`_words_plus_punc`), becomes `w`.
///
/// `w` has no ASCII punctuation, so a token starting with punctuation can only be `p + w`
/// (with `p` its whole punctuation prefix) and any other only `w + p`: at most one entry of
/// NLTK's dictionary matches, and trying each `p` finds it.
fn words_and_emoticons(text: &str) -> Vec<&str> {
    let no_punc_text = strip_ascii_punctuation(text);
    let words_only: HashSet<&str> = py_split(&no_punc_text)
        .into_iter()
        .filter(|w| char_len(w) > 1)
        .collect();
    py_split(text)
        .into_iter()
        .filter(|we| char_len(we) > 1)
        .map(|we| {
            for p in PUNC_LIST {
                if let Some(w) = we.strip_prefix(p)
                    && words_only.contains(w)
                {
                    return w;
                }
                if let Some(w) = we.strip_suffix(p)
                    && words_only.contains(w)
                {
                    return w;
                }
            }
            we
        })
        .collect()
}

/// `allcap_differential`: some but not all tokens are ALL CAPS.
fn allcap_differential(words: &[&str]) -> bool {
    let allcap_words = words.iter().filter(|w| py_isupper(w)).count();
    let cap_differential = words.len() - allcap_words;
    0 < cap_differential && cap_differential < words.len()
}

/// `scalar_inc_dec`: the booster or dampener effect of `word` on `valence`.
fn scalar_inc_dec(word: &str, valence: f64, is_cap_diff: bool) -> f64 {
    let mut scalar = 0.0;
    if let Some(b) = booster(&word.to_lowercase()) {
        scalar = b;
        if valence < 0.0 {
            scalar *= -1.0;
        }
        // Check if the booster/dampener word is in ALLCAPS (while others aren't).
        if py_isupper(word) && is_cap_diff {
            if valence > 0.0 {
                scalar += C_INCR;
            } else {
                scalar -= C_INCR;
            }
        }
    }
    scalar
}

/// `normalize` with alpha = 15.
fn normalize(score: f64) -> f64 {
    score / (score * score + 15.0).sqrt()
}

/// NLTK's `SentimentIntensityAnalyzer().polarity_scores(text)`: `pos`, `neg` and `neu`
/// rounded to 3 decimals and `compound` to 4, as Python's `round` does; all four are 0.0 when
/// the text has no token of two or more characters.
pub fn sentiment(text: &str) -> Sentiment {
    let sentitext = SentiText::new(text);
    let words = &sentitext.words_and_emoticons;
    let lowered = &sentitext.lowered;
    let mut first_index: HashMap<&str, usize> = HashMap::new();
    for (idx, token) in words.iter().enumerate() {
        first_index.entry(token).or_insert(idx);
    }
    let mut sentiments: Vec<f64> = Vec::with_capacity(words.len());
    for item in words {
        let i = first_index[item];
        if (i < words.len() - 1 && lowered[i] == "kind" && lowered[i + 1] == "of")
            || booster(&lowered[i]).is_some()
        {
            sentiments.push(0.0);
            continue;
        }
        sentiments.push(sentiment_valence(&sentitext, i));
    }
    but_check(lowered, &mut sentiments);
    score_valence(&sentiments, text)
}

/// `sentiment_valence` for the token at `i` (its first occurrence).
fn sentiment_valence(sentitext: &SentiText, i: usize) -> f64 {
    let words = &sentitext.words_and_emoticons;
    let lowered = &sentitext.lowered;
    let is_cap_diff = sentitext.is_cap_diff;
    let Some(&lexicon_valence) = LEXICON.get(lowered[i].as_str()) else {
        return 0.0;
    };
    let mut valence = lexicon_valence;
    // Check if the sentiment-laden word is in ALL CAPS (while others aren't).
    if py_isupper(words[i]) && is_cap_diff {
        if valence > 0.0 {
            valence += C_INCR;
        } else {
            valence -= C_INCR;
        }
    }
    for start_i in 0..3 {
        if i > start_i && !in_lexicon(&lowered[i - (start_i + 1)]) {
            // Dampen the scalar modifier of preceding words by their distance from the item.
            let mut s = scalar_inc_dec(words[i - (start_i + 1)], valence, is_cap_diff);
            if start_i == 1 && s != 0.0 {
                s *= 0.95;
            }
            if start_i == 2 && s != 0.0 {
                s *= 0.9;
            }
            valence += s;
            valence = never_check(valence, words, start_i, i);
            if start_i == 2 {
                valence = idioms_check(valence, words, i);
            }
        }
    }
    least_check(valence, lowered, i)
}

/// `_least_check`.
fn least_check(mut valence: f64, lowered: &[String], i: usize) -> f64 {
    if i > 1 && !in_lexicon(&lowered[i - 1]) && lowered[i - 1] == "least" {
        if lowered[i - 2] != "at" && lowered[i - 2] != "very" {
            valence *= N_SCALAR;
        }
    } else if i > 0 && !in_lexicon(&lowered[i - 1]) && lowered[i - 1] == "least" {
        valence *= N_SCALAR;
    }
    valence
}

/// `_but_check`: halves what comes before the first "but" and adds half to what follows.
fn but_check(lowered: &[String], sentiments: &mut [f64]) {
    if let Some(bi) = lowered.iter().position(|w| w == "but") {
        for (sidx, sentiment) in sentiments.iter_mut().enumerate() {
            if sidx < bi {
                *sentiment *= 0.5;
            } else if sidx > bi {
                *sentiment *= 1.5;
            }
        }
    }
}

/// `_idioms_check` (only called with `i >= 3`).
fn idioms_check(mut valence: f64, words: &[&str], i: usize) -> f64 {
    let onezero = format!("{} {}", words[i - 1], words[i]);
    let twoonezero = format!("{} {} {}", words[i - 2], words[i - 1], words[i]);
    let twoone = format!("{} {}", words[i - 2], words[i - 1]);
    let threetwoone = format!("{} {} {}", words[i - 3], words[i - 2], words[i - 1]);
    let threetwo = format!("{} {}", words[i - 3], words[i - 2]);
    let sequences = [&onezero, &twoonezero, &twoone, &threetwoone, &threetwo];
    if let Some(v) = sequences.iter().find_map(|seq| special_case_idiom(seq)) {
        valence = v;
    }
    if words.len() - 1 > i {
        let zeroone = format!("{} {}", words[i], words[i + 1]);
        if let Some(v) = special_case_idiom(&zeroone) {
            valence = v;
        }
    }
    if words.len() - 1 > i + 1 {
        let zeroonetwo = format!("{} {} {}", words[i], words[i + 1], words[i + 2]);
        if let Some(v) = special_case_idiom(&zeroonetwo) {
            valence = v;
        }
    }
    // Booster/dampener bigrams such as "sort of" or "kind of" (case-sensitive).
    if booster(&threetwo).is_some() || booster(&twoone).is_some() {
        valence += B_DECR;
    }
    valence
}

/// `_never_check` (case-sensitive for "never", "so" and "this").
fn never_check(mut valence: f64, words: &[&str], start_i: usize, i: usize) -> f64 {
    let so_or_this = |w: &str| w == "so" || w == "this";
    if start_i == 0 && negated(words[i - 1]) {
        valence *= N_SCALAR;
    }
    if start_i == 1 {
        if words[i - 2] == "never" && so_or_this(words[i - 1]) {
            valence *= 1.5;
        } else if negated(words[i - (start_i + 1)]) {
            valence *= N_SCALAR;
        }
    }
    if start_i == 2 {
        if (words[i - 3] == "never" && so_or_this(words[i - 2])) || so_or_this(words[i - 1]) {
            valence *= 1.25;
        } else if negated(words[i - (start_i + 1)]) {
            valence *= N_SCALAR;
        }
    }
    valence
}

/// `_punctuation_emphasis`: `!` (up to 4) and `?` (2 or more) in the whole text.
fn punctuation_emphasis(text: &str) -> f64 {
    let ep_count = py_count(text, "!").min(4);
    let ep_amplifier = ep_count as f64 * 0.292;
    let qm_count = py_count(text, "?");
    let qm_amplifier = if qm_count > 1 {
        if qm_count <= 3 {
            qm_count as f64 * 0.18
        } else {
            0.96
        }
    } else {
        0.0
    };
    ep_amplifier + qm_amplifier
}

/// `_sift_sentiment_scores`: positive and negative sums (each valence counted with 1 more
/// than its size) and the count of neutral tokens.
fn sift_sentiment_scores(sentiments: &[f64]) -> (f64, f64, usize) {
    let mut pos_sum = 0.0;
    let mut neg_sum = 0.0;
    let mut neu_count = 0;
    for &sentiment_score in sentiments {
        if sentiment_score > 0.0 {
            pos_sum += sentiment_score + 1.0;
        }
        if sentiment_score < 0.0 {
            neg_sum += sentiment_score - 1.0;
        }
        if sentiment_score == 0.0 {
            neu_count += 1;
        }
    }
    (pos_sum, neg_sum, neu_count)
}

/// `score_valence`.
fn score_valence(sentiments: &[f64], text: &str) -> Sentiment {
    let (compound, pos, neg, neu) = if sentiments.is_empty() {
        (0.0, 0.0, 0.0, 0.0)
    } else {
        // Python 3.11's `sum`: left to right.
        let mut sum_s = sentiments.iter().fold(0.0, |acc, &s| acc + s);
        let punct_emph_amplifier = punctuation_emphasis(text);
        if sum_s > 0.0 {
            sum_s += punct_emph_amplifier;
        } else if sum_s < 0.0 {
            sum_s -= punct_emph_amplifier;
        }
        let compound = normalize(sum_s);
        let (mut pos_sum, mut neg_sum, neu_count) = sift_sentiment_scores(sentiments);
        if pos_sum > neg_sum.abs() {
            pos_sum += punct_emph_amplifier;
        } else if pos_sum < neg_sum.abs() {
            neg_sum -= punct_emph_amplifier;
        }
        let total = pos_sum + neg_sum.abs() + neu_count as f64;
        (
            compound,
            (pos_sum / total).abs(),
            (neg_sum / total).abs(),
            (neu_count as f64 / total).abs(),
        )
    };
    Sentiment {
        pos: py_round(pos, 3),
        neg: py_round(neg, 3),
        neu: py_round(neu, 3),
        compound: py_round(compound, 4),
    }
}

/// Python's `round(x, ndigits)` for a float: the decimal with `ndigits` places nearest to the
/// exact binary value of `x`, ties to even, read back as the nearest double (what CPython does
/// with `_Py_dg_dtoa` and `_Py_dg_strtod`). Non-finite values come back unchanged; the sign of
/// a value rounded to zero is kept (`round(-0.0001, 3)` is `-0.0`).
pub fn py_round(x: f64, ndigits: usize) -> f64 {
    if !x.is_finite() {
        return x;
    }
    // Every double's decimal expansion ends within 1074 places, so this is exact.
    let exact = format!("{:.1100}", x.abs());
    let (int_part, frac) = exact
        .split_once('.')
        .expect("a fixed-point float format has a point");
    let (kept, rest) = frac.split_at(ndigits.min(frac.len()));
    let mut digits: Vec<u8> = int_part.bytes().chain(kept.bytes()).collect();
    let rest = rest.as_bytes();
    let round_up = match rest.first() {
        Some(b'6'..=b'9') => true,
        Some(b'5') => {
            rest[1..].iter().any(|&d| d != b'0')
                || digits.last().is_some_and(|&d| (d - b'0') % 2 == 1)
        }
        _ => false,
    };
    if round_up {
        let mut carry = true;
        for d in digits.iter_mut().rev() {
            if *d == b'9' {
                *d = b'0';
            } else {
                *d += 1;
                carry = false;
                break;
            }
        }
        if carry {
            digits.insert(0, b'1');
        }
    }
    let split = digits.len() - kept.len();
    let rounded = format!(
        "{}.{}e0",
        std::str::from_utf8(&digits[..split]).expect("ASCII digits"),
        std::str::from_utf8(&digits[split..]).expect("ASCII digits"),
    );
    let value: f64 = rounded.parse().expect("a decimal number parses");
    value.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn py_round_matches_python() {
        // (x, ndigits, Python's round(x, ndigits))
        let cases: &[(f64, usize, f64)] = &[
            (0.1235, 3, 0.123), // 0.12349999… in binary
            (2.675, 2, 2.67),   // 2.67499999…
            (0.5, 0, 0.0),      // exact tie: to even
            (1.5, 0, 2.0),
            (2.5, 0, 2.0),
            (0.125, 2, 0.12),
            (0.375, 2, 0.38),
            (-2.675, 2, -2.67),
            (0.00045, 3, 0.0),
            (0.0005, 3, 0.001), // 0.000500000000000000001…
            (0.0015, 3, 0.002),
            (0.9995, 3, 1.0), // carries into the integer part
            (0.99995, 4, 1.0),
            (-0.99995, 4, -1.0),
            (0.12345, 4, 0.1235), // 0.123450000000000004…
            (0.28125, 4, 0.2812), // exact tie
            (-0.28125, 4, -0.2812),
            (1.0, 3, 1.0),
            (0.3, 3, 0.3),
            (0.1, 3, 0.1),
            (123.456, 1, 123.5),
            (9.99, 1, 10.0),
        ];
        for &(x, n, want) in cases {
            let got = py_round(x, n);
            assert_eq!(got, want, "round({x}, {n})");
            assert_eq!(got.to_bits(), want.to_bits(), "round({x}, {n}) bits");
        }
        // Python keeps the sign of a value rounded to zero.
        assert!(py_round(-0.5, 0).is_sign_negative());
        assert!(py_round(-0.0001, 3).is_sign_negative());
        assert_eq!(py_round(-0.0001, 3), 0.0);
        assert!(py_round(f64::NAN, 3).is_nan());
        assert_eq!(py_round(f64::INFINITY, 3), f64::INFINITY);
        // The smallest subnormal and a huge value do not break the exact expansion.
        assert_eq!(py_round(5e-324, 3), 0.0);
        assert_eq!(py_round(1e300, 3), 1e300);
    }

    #[test]
    fn exact_expansion_is_exact() {
        let s = format!("{:.1100}", 0.1_f64);
        assert!(s.starts_with("0.1000000000000000055511151231257827021181583404541015625000"));
        let tiny = format!("{:.1100}", 5e-324_f64);
        assert!(tiny.trim_end_matches('0').ends_with("5"));
        assert_eq!(tiny.trim_end_matches('0').len(), 2 + 1074);
    }

    #[test]
    fn lexicon_follows_nltks_dict() {
        // Later duplicate lines win, as in a Python dict.
        assert_eq!(LEXICON[":p"], 1.4);
        assert!(!LEXICON.contains_key("flawed"));
        assert_eq!(LEXICON["badass"], -0.6);
        assert_eq!(LEXICON["d:"], 1.2);
        assert_eq!(LEXICON["lol"], 1.8);
        assert_eq!(LEXICON["o.o"], -0.8);
        assert_eq!(LEXICON[":d"], 2.3);
        assert_eq!(LEXICON["good"], 1.9);
    }

    #[test]
    fn python_string_semantics() {
        assert!(py_isupper("GOOD"));
        assert!(py_isupper("GOOD!"));
        assert!(py_isupper("ÉTÉ"));
        assert!(!py_isupper("Good"));
        assert!(!py_isupper("123"));
        assert!(!py_isupper(":)"));
        assert!(py_isupper(":D"));
        assert!(!py_isupper("ǅ"));
        assert!(py_isupper("Ǆ"));
        assert!(negated("Isn't"));
        assert!(negated("NEVER"));
        assert!(!negated("ever"));
        // One PUNC_LIST entry comes off, and only when a word of the text is left: `,cat?`
        // and `'quoted'` stay whole; `x-ray` is `xray` without punctuation, so `x-ray.` too.
        assert_eq!(
            words_and_emoticons("Hello, world!! :) a ,cat? 'quoted' \u{1F}x-ray."),
            vec!["Hello", "world", ":)", ",cat?", "'quoted'", "x-ray."]
        );
    }
}
