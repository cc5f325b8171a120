//! The sentence splitter (rules on [`sentences`]).

use std::collections::HashSet;

fn is_terminal(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…' | '‽' | '。' | '！' | '？' | '｡')
}

fn is_cjk_terminal(c: char) -> bool {
    matches!(c, '。' | '！' | '？' | '｡')
}

fn is_closer(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | '”' | '’' | '»' | '›' | ')' | ']' | '}' | '*' | '_' | '`' | '」' | '』' | '）'
    )
}

fn is_opener(c: char) -> bool {
    matches!(
        c,
        '"' | '\''
            | '“'
            | '‘'
            | '«'
            | '‹'
            | '„'
            | '('
            | '['
            | '{'
            | '*'
            | '_'
            | '`'
            | '¿'
            | '¡'
            | '「'
            | '『'
            | '（'
    )
}

fn is_line_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}' | '\u{85}')
}

/// Abbreviations after which a period never ends a sentence (a name or an example follows).
const NEVER_END: &[&str] = &[
    "mr", "mrs", "ms", "mx", "dr", "prof", "st", "mt", "sen", "rep", "gov", "gen", "col", "lt",
    "capt", "sgt", "rev", "hon", "fr", "e.g", "i.e", "eg", "ie", "cf", "vs", "viz", "approx", "ca",
    "fig", "figs", "vol", "vols", "pp", "incl", "esp",
];

/// Abbreviations that may also be the last word of a sentence.
const MAY_END: &[&str] = &[
    "etc", "inc", "ltd", "co", "corp", "jr", "sr", "bros", "dept", "a.m", "p.m", "u.s", "u.k",
    "u.s.a", "e.u", "ph.d", "b.c", "a.d", "al", "est", "jan", "feb", "apr", "jun", "jul", "aug",
    "sep", "sept", "oct", "nov", "dec",
];

/// Capitalized words that open a new sentence after an abbreviation that may end one.
const STARTERS: &[&str] = &[
    "the",
    "a",
    "an",
    "i",
    "he",
    "she",
    "it",
    "we",
    "they",
    "you",
    "this",
    "that",
    "these",
    "those",
    "there",
    "then",
    "but",
    "and",
    "so",
    "however",
    "also",
    "my",
    "our",
    "his",
    "her",
    "their",
    "its",
    "your",
    "in",
    "on",
    "at",
    "after",
    "before",
    "when",
    "while",
    "if",
    "as",
    "for",
    "yes",
    "no",
    "meanwhile",
    "finally",
    "next",
    "today",
    "overall",
    "still",
    "some",
    "many",
    "most",
    "all",
    "what",
    "why",
    "how",
    "who",
    "where",
    "let",
    "please",
    "thanks",
    "thank",
    "afterwards",
    "later",
    "now",
    "here",
    "each",
    "every",
    "one",
    "both",
    "not",
    "since",
    "because",
    "although",
    "though",
    "instead",
    "otherwise",
    "besides",
    "moreover",
    "furthermore",
    "unfortunately",
    "fortunately",
    "luckily",
    "sadly",
    "anyway",
    "first",
    "second",
    "third",
    "lastly",
];

/// Byte ranges of the sentences of `text` (trimmed), in order. See [`sentences`] for the rules.
pub fn sentence_spans(text: &str) -> Vec<(usize, usize)> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let n = chars.len();
    let byte = |i: usize| if i < n { chars[i].0 } else { text.len() };
    let (marker_starts, marker_dots) = list_markers(&chars);
    // Index of the last non-whitespace character, + 1: from there on only whitespace remains.
    let content_end = chars
        .iter()
        .rposition(|&(_, c)| !c.is_whitespace())
        .map_or(0, |i| i + 1);
    let mut cuts = vec![0];
    let mut k = 0;
    while k < n {
        let c = chars[k].1;
        if is_line_break(c) {
            cuts.push(byte(k));
            k += 1;
            continue;
        }
        if marker_starts.contains(&k) {
            cuts.push(byte(k));
        }
        if !is_terminal(c) {
            k += 1;
            continue;
        }
        let mut j = k;
        while j < n && is_terminal(chars[j].1) {
            j += 1;
        }
        let mut m = j;
        while m < n && is_closer(chars[m].1) {
            m += 1;
        }
        // French spacing puts a space before the closing guillemet: « oui. »
        let mut g = m;
        while g < n && matches!(chars[g].1, ' ' | '\u{a0}' | '\u{202f}') {
            g += 1;
        }
        if g > m && g < n && chars[g].1 == '»' {
            m = g + 1;
        }
        let run: Vec<char> = chars[k..j].iter().map(|&(_, c)| c).collect();
        let cjk = run.iter().any(|&c| is_cjk_terminal(c));
        let at_end = m >= content_end;
        let next_is_space = m < n && chars[m].1.is_whitespace();
        if cjk || at_end || next_is_space {
            let ends = if cjk || run.iter().any(|&c| matches!(c, '!' | '?' | '‽')) {
                true
            } else if run.len() >= 2 || run.contains(&'…') {
                at_end
                    || next_word(&chars, m)
                        .is_some_and(|w| w.chars().next().is_some_and(char::is_uppercase))
            } else if marker_dots.contains(&k) {
                false
            } else {
                period_ends_sentence(&chars, k, m, at_end)
            };
            if ends {
                cuts.push(byte(m));
            }
        }
        k = m;
    }
    cuts.push(text.len());
    cuts.sort_unstable();
    cuts.dedup();

    // Segments between cuts, trimmed; pieces without letters or digits join a neighbour.
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut pending_start: Option<usize> = None;
    for w in cuts.windows(2) {
        let seg = &text[w[0]..w[1]];
        let trimmed = seg.trim();
        if trimmed.is_empty() {
            continue;
        }
        let start = w[0] + (seg.len() - seg.trim_start().len());
        let end = start + trimmed.len();
        if trimmed.chars().any(char::is_alphanumeric) {
            spans.push((pending_start.take().unwrap_or(start), end));
        } else if let Some(last) = spans.last_mut() {
            last.1 = end;
        } else {
            pending_start.get_or_insert(start);
        }
    }
    spans
}

/// The sentences of `text`, as trimmed slices of it; punctuation-only or empty text has none.
///
/// Rules, in the order they apply (a "terminal run" is a maximal run of `.`, `!`, `?`, `…`, `‽`
/// and the full-width `。！？`):
///
/// 1. A line break always ends a sentence (the protocol folds answers first, so this only matters
///    for unfolded text, where list items and headings sit on their own lines).
/// 2. Closing quotes, brackets and markdown emphasis right after a terminal run belong to the
///    sentence it ends: `"He left." She said.` is `"He left."` + `She said.`; so does a closing
///    guillemet after a space, in French typography (`« oui. »`).
/// 3. A terminal run ends a sentence only when followed (after those closers) by whitespace or
///    the end of the text, so `3.14`, `e.g.,`, `U.S.A` and `example.com` never split. Full-width
///    CJK terminals end a sentence even without a following space.
/// 4. A run containing `!`, `?` or `‽` ends the sentence.
/// 5. An ellipsis (`…`, or two or more periods) ends the sentence only before a capital letter:
///    `Well... I think so` is one sentence, `I waited... Then it came.` two.
/// 6. A single period ends the sentence unless the token before it is an abbreviation:
///    - titles and "for example" abbreviations (Mr., Dr., Prof., St., e.g., i.e., vs., cf.,
///      approx., fig.) never end a sentence; `No.` does not before a number (`No. 5`);
///    - abbreviations that can close a sentence (etc., a.m., p.m., U.S., Inc., Ltd., Jr.,
///      Ph.D., months) and initials (any single letter, or single letters joined by periods)
///      end it only when the next word is capitalized *and* is a common sentence opener (The,
///      It, He, We, But, Then, …): `at 5 p.m. He left` splits, `the U.S. Army` and
///      `J. K. Rowling` do not.
/// 7. Numbered lists folded onto one line (`Ideas: 1. Visit the Tower 2. Ride the Eye`) split
///    before each number when the markers count 1, 2, 3… (at least two of them, each a one- or
///    two-digit number followed by `.` or `)` and a space), and a marker's period is not a
///    sentence end. A lone `3.` stays an ordinary period, so `I have 3. They are cute.` splits
///    after the 3.
/// 8. Pieces without any letter or digit (a trailing emoji, a stray `...`) join the sentence
///    before them (or the next one, at the start), so `Great! 😊` is one sentence and `...` alone
///    is none.
///
/// Text without final punctuation ends its last sentence at the end of the text.
pub fn sentences(text: &str) -> Vec<&str> {
    sentence_spans(text)
        .into_iter()
        .map(|(s, e)| &text[s..e])
        .collect()
}

/// The word that starts after position `m`, skipping whitespace and opening quotes/brackets.
fn next_word(chars: &[(usize, char)], m: usize) -> Option<String> {
    let mut i = m;
    while i < chars.len() && (chars[i].1.is_whitespace() || is_opener(chars[i].1)) {
        i += 1;
    }
    let w: String = chars[i..]
        .iter()
        .map(|&(_, c)| c)
        .take_while(|c| c.is_alphanumeric() || *c == '\'')
        .collect();
    if w.is_empty() { None } else { Some(w) }
}

/// Whether the single period at `k` (closers end at `m`) ends a sentence (rule 6).
fn period_ends_sentence(chars: &[(usize, char)], k: usize, m: usize, at_end: bool) -> bool {
    let mut t0 = k;
    while t0 > 0 && !chars[t0 - 1].1.is_whitespace() {
        t0 -= 1;
    }
    let token: String = chars[t0..k]
        .iter()
        .map(|&(_, c)| c)
        .skip_while(|&c| is_opener(c))
        .flat_map(char::to_lowercase)
        .collect();
    if token.is_empty() {
        return true;
    }
    let next = next_word(chars, m);
    if NEVER_END.contains(&token.as_str()) {
        return false;
    }
    if matches!(token.as_str(), "no" | "nos" | "nr")
        && next
            .as_ref()
            .is_some_and(|w| w.starts_with(|c: char| c.is_ascii_digit()))
    {
        return false;
    }
    let initials = token
        .split('.')
        .all(|p| p.chars().count() == 1 && p.chars().all(char::is_alphabetic));
    if initials || MAY_END.contains(&token.as_str()) {
        return at_end
            || next.is_some_and(|w| {
                w.chars().next().is_some_and(char::is_uppercase)
                    && STARTERS.contains(&w.to_lowercase().as_str())
            });
    }
    true
}

/// Numbered-list markers forming a sequence 1, 2, 3…: (char indices where a marker starts, char
/// indices of the markers' periods).
fn list_markers(chars: &[(usize, char)]) -> (HashSet<usize>, HashSet<usize>) {
    // Candidates: 1–2 ASCII digits at the start or after whitespace, then `.` or `)`, then
    // whitespace.
    let mut candidates: Vec<(usize, usize, u32)> = Vec::new();
    let n = chars.len();
    let mut i = 0;
    while i < n {
        if chars[i].1.is_ascii_digit() && (i == 0 || chars[i - 1].1.is_whitespace()) {
            let mut j = i;
            while j < n && chars[j].1.is_ascii_digit() {
                j += 1;
            }
            if j - i <= 2
                && j + 1 < n
                && matches!(chars[j].1, '.' | ')')
                && chars[j + 1].1.is_whitespace()
            {
                let value = chars[i..j]
                    .iter()
                    .fold(0, |v, &(_, c)| v * 10 + c.to_digit(10).unwrap_or(0));
                candidates.push((i, j, value));
            }
            i = j;
        } else {
            i += 1;
        }
    }
    let (mut starts, mut dots) = (HashSet::new(), HashSet::new());
    let mut run: Vec<(usize, usize, u32)> = Vec::new();
    let mut flush = |run: &mut Vec<(usize, usize, u32)>| {
        if run.len() >= 2 {
            for &(s, d, _) in run.iter() {
                starts.insert(s);
                dots.insert(d);
            }
        }
        run.clear();
    };
    for cand in candidates {
        if cand.2 == 1 {
            flush(&mut run);
            run.push(cand);
        } else if run.last().is_some_and(|last| cand.2 == last.2 + 1) {
            run.push(cand);
        }
    }
    flush(&mut run);
    (starts, dots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_markers_need_a_sequence_from_one() {
        let chars: Vec<(usize, char)> = "Ideas: 1. A 2. B 3. C".char_indices().collect();
        let (starts, dots) = list_markers(&chars);
        assert_eq!(starts.len(), 3);
        assert_eq!(dots.len(), 3);
        let chars: Vec<(usize, char)> = "I have 3. They 4. x".char_indices().collect();
        assert!(list_markers(&chars).0.is_empty());
        let chars: Vec<(usize, char)> = "Only 1. here".char_indices().collect();
        assert!(list_markers(&chars).0.is_empty());
    }

    #[test]
    fn initials_and_openers() {
        assert_eq!(
            sentences("J. K. Rowling wrote it."),
            vec!["J. K. Rowling wrote it."]
        );
        assert_eq!(
            sentences("Take vitamin C. It helps."),
            vec!["Take vitamin C.", "It helps."]
        );
    }
}
