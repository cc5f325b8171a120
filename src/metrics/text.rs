//! Words, letters and string matching: the tokenization every other metric builds on.

use std::collections::{HashMap, HashSet};

use super::sentences::sentences;

/// `’` and `'` both count as apostrophes; comparisons treat them as the same character.
pub(crate) fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '’' | 'ʼ')
}

/// Combining marks continue a word, so decomposed accents (`e` + U+0301) do not split it.
pub(crate) fn is_combining_mark(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || is_apostrophe(c) || is_combining_mark(c)
}

fn is_hyphen(c: char) -> bool {
    matches!(c, '-' | '\u{2010}' | '\u{2011}')
}

/// Byte ranges of the words of `text`, in order. See [`words`] for the definition.
pub fn word_spans(text: &str) -> Vec<(usize, usize)> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut spans = Vec::new();
    let mut k = 0;
    while k < chars.len() {
        if !is_word_char(chars[k].1) {
            k += 1;
            continue;
        }
        let start = k;
        let mut end = k + 1; // exclusive, in chars
        loop {
            if end < chars.len() && is_word_char(chars[end].1) {
                end += 1;
                continue;
            }
            // A connector joins two runs when it sits between the right kinds of characters.
            if end + 1 < chars.len() {
                let (prev, conn, next) = (chars[end - 1].1, chars[end].1, chars[end + 1].1);
                let joins = if is_hyphen(conn) {
                    is_word_char(prev) && is_word_char(next)
                } else if conn == '.' {
                    prev.is_alphanumeric() && next.is_alphanumeric()
                } else if conn == ',' {
                    prev.is_ascii_digit() && next.is_ascii_digit()
                } else {
                    false
                };
                if joins {
                    end += 2;
                    continue;
                }
            }
            break;
        }
        // Apostrophes at the edges are quotation marks (or a plural possessive), not the word.
        let (mut s, mut e) = (start, end);
        while s < e && is_apostrophe(chars[s].1) {
            s += 1;
        }
        while e > s && is_apostrophe(chars[e - 1].1) {
            e -= 1;
        }
        if chars[s..e].iter().any(|&(_, c)| c.is_alphanumeric()) {
            let byte_end = if e < chars.len() {
                chars[e].0
            } else {
                text.len()
            };
            spans.push((chars[s].0, byte_end));
        }
        k = end;
    }
    spans
}

/// The words of `text`, as slices of it.
///
/// A word is a maximal run of Unicode letters and digits, apostrophes (`'`, `’`) and combining
/// marks, where runs are joined across
/// - a hyphen with a word character on both sides (`well-known`, `l-i-k-e`),
/// - a period with a letter or digit on both sides (`3.14`, `U.S`, `e.g`, `example.com`), so
///   abbreviations, decimals and addresses count as one word, as a reader would count them,
/// - a comma between two digits (`1,000`).
///
/// Apostrophes at either end are then removed (`'hello'` → `hello`, `dogs'` → `dogs`), and a run
/// without any letter or digit is not a word. Emoji, symbols and other punctuation separate
/// words. Scripts written without spaces (Chinese, Japanese) give one word per run of letters.
pub fn words(text: &str) -> Vec<&str> {
    word_spans(text)
        .into_iter()
        .map(|(s, e)| &text[s..e])
        .collect()
}

/// The number of [`words`].
pub fn word_count(text: &str) -> usize {
    word_spans(text).len()
}

/// The comparison form of a word: lowercase, with `’` written as `'`.
pub fn word_key(word: &str) -> String {
    word.chars()
        .flat_map(char::to_lowercase)
        .map(|c| if is_apostrophe(c) { '\'' } else { c })
        .collect()
}

pub(crate) fn word_keys(text: &str) -> Vec<String> {
    words(text).into_iter().map(word_key).collect()
}

/// Letters that have case: the denominator of the case fractions.
fn cased_letter_counts(text: &str) -> (usize, usize) {
    let (mut upper, mut lower) = (0, 0);
    for c in text.chars() {
        if c.is_uppercase() {
            upper += 1;
        } else if c.is_lowercase() {
            lower += 1;
        }
    }
    (upper, lower)
}

/// Share of the cased letters (letters that are upper or lower case) that are upper case; 0.0
/// when there are none.
///
/// Caseless letters (Chinese, Arabic…) are left out of the denominator, so a name in another
/// script neither helps nor hurts an "answer in capitals" check, and
/// `upper_fraction + lower_fraction` is 1 whenever the text has a cased letter.
pub fn upper_fraction(text: &str) -> f64 {
    let (u, l) = cased_letter_counts(text);
    ratio(u, u + l)
}

/// Share of the cased letters that are lower case; 0.0 when there are none. See
/// [`upper_fraction`].
pub fn lower_fraction(text: &str) -> f64 {
    let (u, l) = cased_letter_counts(text);
    ratio(l, u + l)
}

pub(crate) fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Characters skipped before testing how a text or sentence starts: quotation marks and
/// markdown decoration.
pub(crate) fn is_leading_decoration(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '"' | '\''
                | '“'
                | '”'
                | '‘'
                | '’'
                | '«'
                | '»'
                | '„'
                | '‚'
                | '*'
                | '_'
                | '#'
                | '-'
                | '>'
                | '`'
                | '–'
                | '—'
        )
}

fn lower_chars(s: &str) -> Vec<char> {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| if is_apostrophe(c) { '\'' } else { c })
        .collect()
}

/// Whether `text` (already stripped of decoration) starts with `prefix`, case-insensitively.
///
/// A prefix longer than one character that ends in a letter or digit must end at a word boundary,
/// so `"yes"` matches "Yes, sure" but not "Yesterday"; a one-character prefix is a plain test of
/// the first letter ("starts with the letter A").
pub(crate) fn prefix_matches(text: &str, prefix: &str) -> bool {
    let p = lower_chars(prefix.trim());
    if p.is_empty() {
        return false;
    }
    let t = lower_chars(text);
    if t.len() < p.len() || t[..p.len()] != p[..] {
        return false;
    }
    let needs_boundary = p.len() > 1 && p[p.len() - 1].is_alphanumeric();
    !(needs_boundary
        && t.get(p.len())
            .is_some_and(|c| c.is_alphanumeric() || is_combining_mark(*c)))
}

/// Whether the answer starts with `prefix`, case-insensitively, after leading whitespace, quotes
/// and markdown (`"`, `'`, `“`, `*`, `_`, `#`, `-`, `>`, backtick) are skipped.
///
/// A prefix longer than one character ending in a letter or digit must end at a word boundary:
/// `starts_with("Yesterday…", "yes")` is false, `starts_with("Yes! …", "yes")` is true,
/// `starts_with("Apples", "a")` is true. An empty prefix is false.
pub fn starts_with(text: &str, prefix: &str) -> bool {
    prefix_matches(text.trim_start_matches(is_leading_decoration), prefix)
}

/// Whether `word` occurs in `text` as a whole word, case-insensitively (`’` = `'`).
///
/// `word` is tokenized like the text: if it is several words ("ice cream"), this is
/// [`contains_phrase`]; if it has no word at all, false.
pub fn contains_word(text: &str, word: &str) -> bool {
    let wanted = word_keys(word);
    match wanted.len() {
        0 => false,
        1 => word_keys(text).contains(&wanted[0]),
        _ => contains_phrase(text, word),
    }
}

/// Normalises for phrase search: lowercase, curly quotes straightened, every run of whitespace
/// one space.
fn normalize_for_search(s: &str) -> Vec<char> {
    let mut out = Vec::new();
    let mut space = false;
    for c in s.trim().chars().flat_map(char::to_lowercase) {
        let c = match c {
            '’' | '‘' | 'ʼ' => '\'',
            '“' | '”' => '"',
            c => c,
        };
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.push(c);
    }
    out
}

/// Whether `phrase` occurs in `text`, case-insensitively, with every run of whitespace in either
/// counting as one space, curly quotes as straight ones, and the match on word boundaries: if the
/// phrase starts (ends) with a letter or digit, the text must not have a letter or digit just
/// before (after) the match. Punctuation inside the phrase must match: `"Hello, my name is Bob."`
/// is found in "hello,  my name is bob." but not in "Hello my name is Bob". An empty phrase is
/// false.
pub fn contains_phrase(text: &str, phrase: &str) -> bool {
    let p = normalize_for_search(phrase);
    if p.is_empty() {
        return false;
    }
    let t = normalize_for_search(text);
    if t.len() < p.len() {
        return false;
    }
    let word_like = |c: char| c.is_alphanumeric() || is_combining_mark(c);
    let (check_start, check_end) = (word_like(p[0]), word_like(p[p.len() - 1]));
    (0..=t.len() - p.len()).any(|i| {
        t[i..i + p.len()] == p[..]
            && !(check_start && i > 0 && word_like(t[i - 1]))
            && !(check_end && t.get(i + p.len()).is_some_and(|&c| word_like(c)))
    })
}

/// Non-overlapping occurrences of `needle` in `text`, case-insensitively (both lowercased). An
/// empty needle counts 0.
pub fn count(text: &str, needle: &str) -> usize {
    if needle.is_empty() {
        return 0;
    }
    text.to_lowercase().matches(&needle.to_lowercase()).count()
}

/// The entries of a word list, each tokenized into word keys; entries without words dropped.
fn list_keys<S: AsRef<str>>(list: &[S]) -> Vec<Vec<String>> {
    list.iter()
        .map(|e| word_keys(e.as_ref()))
        .filter(|k| !k.is_empty())
        .collect()
}

fn find_all(haystack: &[String], needle: &[String]) -> Vec<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return Vec::new();
    }
    (0..=haystack.len() - needle.len())
        .filter(|&i| haystack[i..i + needle.len()] == needle[..])
        .collect()
}

/// Share of the words of `text` that are in `list` (case-insensitive, `’` = `'`); 0.0 for no
/// words.
///
/// Entries are tokenized like the text. A one-word entry covers every occurrence of that word; a
/// several-word entry ("no cap", "spill the tea") covers each word of each of its occurrences,
/// so slang phrases count as fully as slang words.
pub fn word_fraction_in<S: AsRef<str>>(text: &str, list: &[S]) -> f64 {
    let keys = word_keys(text);
    if keys.is_empty() {
        return 0.0;
    }
    let entries = list_keys(list);
    let singles: HashSet<&str> = entries
        .iter()
        .filter(|e| e.len() == 1)
        .map(|e| e[0].as_str())
        .collect();
    let mut covered: Vec<bool> = keys.iter().map(|k| singles.contains(k.as_str())).collect();
    for phrase in entries.iter().filter(|e| e.len() > 1) {
        for i in find_all(&keys, phrase) {
            covered[i..i + phrase.len()]
                .iter_mut()
                .for_each(|c| *c = true);
        }
    }
    ratio(covered.iter().filter(|&&c| c).count(), keys.len())
}

/// Share of the entries of `list` that occur in `text`; 0.0 for an empty list.
///
/// An entry occurs when its words appear consecutively among the text's words
/// (case-insensitive), so "Adam Li" is found in "I'm Adam Li." and "57" in "I am 57 years old".
/// An entry without any word (say `"!!"`) occurs when it is a case-insensitive substring.
pub fn list_hit_fraction<S: AsRef<str>>(text: &str, list: &[S]) -> f64 {
    if list.is_empty() {
        return 0.0;
    }
    let keys = word_keys(text);
    let lower = text.to_lowercase();
    let hits = list
        .iter()
        .filter(|entry| {
            let entry = entry.as_ref();
            let wanted = word_keys(entry);
            if wanted.is_empty() {
                !entry.is_empty() && lower.contains(&entry.to_lowercase())
            } else {
                !find_all(&keys, &wanted).is_empty()
            }
        })
        .count();
    ratio(hits, list.len())
}

/// Whether the first and last words are equal, case-insensitively. False for no words; true for a
/// single word (it is both first and last).
pub fn first_equals_last(text: &str) -> bool {
    let keys = word_keys(text);
    match (keys.first(), keys.last()) {
        (Some(first), Some(last)) => first == last,
        _ => false,
    }
}

/// How close the word count n is to `target`: `1 − |n − target| / target`, clamped to [0, 1].
///
/// So 1 at exactly `target` words, falling linearly to 0 at 0 words and at `2·target` words and
/// staying 0 beyond (the paper's "exactly 10 words" score). For `target ≤ 0`: 1 when the text
/// has no words, else 0.
pub fn word_count_closeness(text: &str, target: i64) -> f64 {
    let n = word_count(text) as f64;
    if target <= 0 {
        return if n == 0.0 { 1.0 } else { 0.0 };
    }
    let t = target as f64;
    clamp01(1.0 - (n - t).abs() / t)
}

fn first_char_key(word: &str) -> Option<char> {
    word.chars().next().and_then(|c| c.to_lowercase().next())
}

/// Share of the words whose first character (lowercased) is the most common first character;
/// 0.0 for no words. One word gives 1.0. Words starting with a digit count with that digit.
pub fn alliteration(text: &str) -> f64 {
    let ws = words(text);
    let mut counts: HashMap<char, usize> = HashMap::new();
    for w in &ws {
        if let Some(c) = first_char_key(w) {
            *counts.entry(c).or_default() += 1;
        }
    }
    ratio(counts.values().copied().max().unwrap_or(0), ws.len())
}

/// Share of the words that start with `letter`, case-insensitively; 0.0 for no words or an empty
/// `letter`. A longer `letter` is a prefix of the word (`"th"` counts "The" and "this").
pub fn word_start_fraction(text: &str, letter: &str) -> f64 {
    let p = lower_chars(letter.trim());
    if p.is_empty() {
        return 0.0;
    }
    let ws = words(text);
    let hits = ws.iter().filter(|w| lower_chars(w).starts_with(&p)).count();
    ratio(hits, ws.len())
}

/// Share of the sentences (see [`sentences`]) that start with `prefix`, with the same rules as
/// [`starts_with`] (case-insensitive, leading quotes and markdown skipped, whole word for
/// prefixes longer than one character); 0.0 for no sentences.
pub fn sentence_start_fraction(text: &str, prefix: &str) -> f64 {
    let ss = sentences(text);
    let hits = ss.iter().filter(|s| starts_with(s, prefix)).count();
    ratio(hits, ss.len())
}

/// Share of word tokens whose lowercase form already occurred earlier in the text; 0.0 for no
/// words. "a a b" gives 1/3; a text where every word appears exactly twice gives 0.5.
pub fn repeated_word_fraction(text: &str) -> f64 {
    let keys = word_keys(text);
    let mut seen = HashSet::new();
    let repeats = keys.iter().filter(|k| !seen.insert(k.as_str())).count();
    ratio(repeats, keys.len())
}

/// Distinct words (lowercased) divided by word tokens; 0.0 for no words. "a a b" gives 2/3; a
/// text without repetition gives 1.0.
pub fn unique_word_fraction(text: &str) -> f64 {
    let keys = word_keys(text);
    let distinct: HashSet<&str> = keys.iter().map(String::as_str).collect();
    ratio(distinct.len(), keys.len())
}

/// Whether a sentence is a question: its final punctuation (after closing quotes, brackets,
/// emoji and spaces are set aside) contains `?` (or `？`, `‽`), so "Really?!" and "Right? 😊" are
/// questions.
pub(crate) fn is_question(sentence: &str) -> bool {
    for c in sentence.chars().rev() {
        match c {
            '?' | '？' | '‽' => return true,
            '.' | '!' | '…' | '。' | '！' => continue,
            c if c.is_alphanumeric() => return false,
            _ => continue,
        }
    }
    false
}

/// Share of the sentences that are questions (see [`sentences`]; a question's final punctuation
/// contains `?`); 0.0 for no sentences.
pub fn question_fraction(text: &str) -> f64 {
    let ss = sentences(text);
    ratio(ss.iter().filter(|s| is_question(s)).count(), ss.len())
}

pub(crate) fn is_pictographic(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1F0FF   // mahjong, dominoes, playing cards
        | 0x1F170..=0x1F1FF // enclosed alphanumerics (🅰) and regional indicators
        | 0x1F200..=0x1F2FF // enclosed ideographic supplement (🈁)
        | 0x1F300..=0x1FAFF // pictographs, emoticons, transport, supplemental symbols
        | 0x2600..=0x27BF   // miscellaneous symbols and dingbats (☀ ♥ ✅ ❤)
        | 0x2B05..=0x2B07 | 0x2B1B | 0x2B1C | 0x2B50 | 0x2B55 // arrows, squares, star, circle
        | 0x231A | 0x231B | 0x2328 | 0x23CF | 0x23E9..=0x23F3 | 0x23F8..=0x23FA // ⌚ ⌛ ⏰ ⏩
        | 0x3030 | 0x303D | 0x3297 | 0x3299)
}

fn is_emoji_modifier(c: char) -> bool {
    matches!(c as u32, 0x1F3FB..=0x1F3FF | 0xFE0F | 0xFE0E | 0x20E3 | 0xE0020..=0xE007F)
}

/// The number of emoji in `text`, counting each emoji sequence once.
///
/// An emoji is a pictographic code point (the emoji blocks U+1F000–U+1FAFF, miscellaneous
/// symbols and dingbats U+2600–U+27BF, the arrows, stars and clocks emoji use) or any other
/// character followed by the emoji presentation selector U+FE0F (`©️`, `1️⃣`). Skin-tone
/// modifiers, variation selectors, keycap marks and tags belong to the emoji before them, a
/// zero-width joiner glues the next emoji onto the current one (👨‍👩‍👧 is one), and two regional
/// indicators make one flag (🇫🇷).
pub fn emoji_count(text: &str) -> usize {
    let chars: Vec<char> = text.chars().collect();
    let mut n = 0;
    let mut k = 0;
    while k < chars.len() {
        let c = chars[k];
        let regional = |c: char| matches!(c as u32, 0x1F1E6..=0x1F1FF);
        let starts =
            is_pictographic(c) || (!c.is_whitespace() && chars.get(k + 1) == Some(&'\u{FE0F}'));
        if !starts {
            k += 1;
            continue;
        }
        n += 1;
        let pair_flag = regional(c) && chars.get(k + 1).is_some_and(|&d| regional(d));
        k += if pair_flag { 2 } else { 1 };
        loop {
            match chars.get(k) {
                Some(&m) if is_emoji_modifier(m) => k += 1,
                Some(&'\u{200D}') if chars.get(k + 1).is_some_and(|&d| is_pictographic(d)) => {
                    k += 2
                }
                _ => break,
            }
        }
    }
    n
}

/// Mean number of letters and digits per word (apostrophes, hyphens and inner periods not
/// counted: "don't" has 4); 0.0 for no words.
pub fn avg_word_length(text: &str) -> f64 {
    let ws = words(text);
    let total: usize = ws
        .iter()
        .map(|w| w.chars().filter(|c| c.is_alphanumeric()).count())
        .sum();
    if ws.is_empty() {
        0.0
    } else {
        total as f64 / ws.len() as f64
    }
}

/// Mean number of words per sentence: `word_count / sentence_count`; 0.0 for no sentences.
pub fn avg_sentence_length(text: &str) -> f64 {
    let n = sentences(text).len();
    if n == 0 {
        0.0
    } else {
        word_count(text) as f64 / n as f64
    }
}

/// `v` limited to [0, 1]; NaN gives 0.0.
pub fn clamp01(v: f64) -> f64 {
    if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) }
}

/// Every run of whitespace (newlines included) becomes one space, and the ends are trimmed: the
/// protocol folds answers like this before scoring, as the paper does.
pub fn fold_newlines(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_respect_word_boundaries() {
        assert!(prefix_matches("Yes, sure", "yes"));
        assert!(!prefix_matches("Yesterday", "yes"));
        assert!(prefix_matches("Yesterday", "y"));
        assert!(prefix_matches("Hello, world", "hello,"));
        assert!(!prefix_matches("Hi", "hello"));
        assert!(!prefix_matches("Hi", " "));
    }

    #[test]
    fn spans_are_byte_ranges() {
        let text = "Ça va? 'Oui'";
        let spans = word_spans(text);
        assert_eq!(spans.len(), 3);
        assert_eq!(&text[spans[0].0..spans[0].1], "Ça");
        assert_eq!(&text[spans[2].0..spans[2].1], "Oui");
    }
}
