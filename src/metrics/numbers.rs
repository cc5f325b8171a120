//! Numbers written with digits or in English words.

use super::text::{word_key, word_spans};

/// Numbers written with digits: (byte start, byte end, value), in order.
fn digit_numbers(text: &str) -> Vec<(usize, usize, f64)> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let n = chars.len();
    let byte = |i: usize| if i < n { chars[i].0 } else { text.len() };
    let digit = |i: usize| i < n && chars[i].1.is_ascii_digit();
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let leading_dot =
            chars[i].1 == '.' && digit(i + 1) && (i == 0 || !chars[i - 1].1.is_alphanumeric());
        if !(digit(i) || leading_dot) {
            i += 1;
            continue;
        }
        let start = i;
        let mut s = String::new();
        let mut j = i;
        if !leading_dot {
            while digit(j) {
                s.push(chars[j].1);
                j += 1;
            }
            // Thousands separators: groups of exactly three digits after a lead of one to three.
            if s.len() <= 3 {
                while j + 3 < n + 1
                    && chars.get(j).is_some_and(|c| c.1 == ',')
                    && digit(j + 1)
                    && digit(j + 2)
                    && digit(j + 3)
                    && !digit(j + 4)
                {
                    s.extend(chars[j + 1..j + 4].iter().map(|c| c.1));
                    j += 4;
                }
            }
        } else {
            s.push('0');
        }
        if j < n && chars[j].1 == '.' && digit(j + 1) {
            s.push('.');
            j += 1;
            while digit(j) {
                s.push(chars[j].1);
                j += 1;
            }
        }
        // A sign counts when it stands at the start, after a space or an opening bracket or
        // quote: "-5" and "(−3)" are negative, "2-3" and "covid-19" are not.
        let mut first = start;
        if start > 0 && matches!(chars[start - 1].1, '-' | '−' | '+') {
            let before_ok = start == 1 || {
                let b = chars[start - 2].1;
                b.is_whitespace()
                    || matches!(
                        b,
                        '(' | '[' | '{' | '"' | '“' | '\'' | ':' | '=' | '~' | '≈' | '/'
                    )
            };
            if before_ok {
                first = start - 1;
                if chars[start - 1].1 != '+' {
                    s.insert(0, '-');
                }
            }
        }
        if let Ok(v) = s.parse::<f64>() {
            out.push((byte(first), byte(j), v));
        }
        i = j.max(i + 1);
    }
    out
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Digits(f64),
    Unit(f64),
    Teen(f64),
    Tens(f64),
    Hundred,
    Scale(f64),
    And,
    A,
    Other,
}

fn kind_of(word: &str) -> Kind {
    const UNITS: [&str; 10] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ];
    const TEENS: [&str; 10] = [
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: [&str; 8] = [
        "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    ];
    if let Some(i) = UNITS.iter().position(|&u| u == word) {
        return Kind::Unit(i as f64);
    }
    if let Some(i) = TEENS.iter().position(|&u| u == word) {
        return Kind::Teen(10.0 + i as f64);
    }
    if let Some(i) = TENS.iter().position(|&u| u == word) {
        return Kind::Tens(20.0 + 10.0 * i as f64);
    }
    match word {
        "hundred" => Kind::Hundred,
        "thousand" => Kind::Scale(1e3),
        "million" => Kind::Scale(1e6),
        "billion" => Kind::Scale(1e9),
        "trillion" => Kind::Scale(1e12),
        "and" => Kind::And,
        "a" | "an" => Kind::A,
        _ => Kind::Other,
    }
}

/// The numbers in `text`, in reading order.
///
/// - Digits: integers, decimals (`3.14`, `.5`), thousands separators (`1,000`, `12,345,678`:
///   groups of exactly three digits after a lead of one to three), and a sign (`-`, `−`, `+`)
///   when it stands at the start, after a space, an opening bracket or quote (`-5`, `(−3)`), not
///   between digits or after a word (`2-3` is 2 and 3, `covid-19` is 19). Digits inside words
///   count (`3rd` → 3, `1990s` → 1990, `20%` → 20). `1,2,3` is three numbers.
/// - English number words, combined as one would read them: `zero` … `nineteen`, the tens,
///   `hundred`, `thousand`, `million`, `billion`, `trillion`, with hyphens or spaces and an
///   optional `and` after a hundred or a scale (`ninety-seven` and `ninety seven` → 97,
///   `one hundred and five` → 105, `two million three hundred thousand` → 2300000), `a`/`an`
///   before `hundred` or a scale (`a thousand` → 1000), and a digit number before one
///   (`3 million` → 3000000, `2.5 billion`). Two numbers side by side stay two (`one two` → 1,
///   2), punctuation between words ends a number, and `one` counts even as a pronoun. Plurals
///   (`hundreds`), ordinals (`third`) and fractions (`half`) are not numbers.
pub fn numbers(text: &str) -> Vec<f64> {
    // A stream of kinds in reading order; `None` marks punctuation between words.
    let digits = digit_numbers(text);
    let mut stream: Vec<Option<Kind>> = Vec::new();
    let mut prev_end = 0;
    let mut d = 0;
    for (s, e) in word_spans(text) {
        let gap = &text[prev_end.min(s)..s];
        if gap.chars().any(|c| !c.is_whitespace()) {
            stream.push(None);
        }
        prev_end = e;
        let word = &text[s..e];
        if word.chars().any(|c| c.is_ascii_digit()) {
            while d < digits.len() && digits[d].1 <= s {
                d += 1; // numbers outside any word (none in practice)
            }
            let mut any = false;
            while d < digits.len() && digits[d].0 < e {
                stream.push(Some(Kind::Digits(digits[d].2)));
                d += 1;
                any = true;
            }
            if !any {
                stream.push(Some(Kind::Other));
            }
            if word.chars().any(char::is_alphabetic) {
                stream.push(None);
            }
            continue;
        }
        for part in word_key(word).split(['-', '\u{2010}', '\u{2011}']) {
            stream.push(Some(kind_of(part)));
        }
    }

    let mut out = Vec::new();
    let (mut total, mut current, mut active) = (0.0, 0.0, false);
    let mut last = Kind::Other;
    let finish = |out: &mut Vec<f64>, total: &mut f64, current: &mut f64, active: &mut bool| {
        if *active {
            out.push(*total + *current);
        }
        (*total, *current, *active) = (0.0, 0.0, false);
    };
    for (i, tok) in stream.iter().enumerate() {
        let next = stream.get(i + 1).copied().flatten();
        let after_join = active && matches!(last, Kind::Hundred | Kind::Scale(_) | Kind::And);
        match tok {
            None | Some(Kind::Other) => finish(&mut out, &mut total, &mut current, &mut active),
            Some(Kind::Digits(v)) => {
                finish(&mut out, &mut total, &mut current, &mut active);
                (current, active) = (*v, true);
            }
            Some(Kind::Unit(u)) => {
                let after_tens = active && matches!(last, Kind::Tens(_)) && current % 10.0 == 0.0;
                if !(after_tens || after_join) {
                    finish(&mut out, &mut total, &mut current, &mut active);
                }
                current += u;
                active = true;
            }
            Some(Kind::Teen(v)) | Some(Kind::Tens(v)) => {
                if !after_join {
                    finish(&mut out, &mut total, &mut current, &mut active);
                }
                current += v;
                active = true;
            }
            Some(Kind::Hundred) => {
                if active
                    && matches!(
                        last,
                        Kind::Unit(_) | Kind::Teen(_) | Kind::Tens(_) | Kind::A | Kind::Digits(_)
                    )
                {
                    current *= 100.0;
                } else {
                    finish(&mut out, &mut total, &mut current, &mut active);
                }
            }
            Some(Kind::Scale(s)) => {
                if active
                    && matches!(
                        last,
                        Kind::Unit(_)
                            | Kind::Teen(_)
                            | Kind::Tens(_)
                            | Kind::Hundred
                            | Kind::A
                            | Kind::Digits(_)
                    )
                {
                    total += current * s;
                    current = 0.0;
                } else {
                    finish(&mut out, &mut total, &mut current, &mut active);
                }
            }
            Some(Kind::And) => {
                let continues = active
                    && matches!(last, Kind::Hundred | Kind::Scale(_))
                    && matches!(next, Some(Kind::Unit(_) | Kind::Teen(_) | Kind::Tens(_)));
                if !continues {
                    finish(&mut out, &mut total, &mut current, &mut active);
                }
            }
            Some(Kind::A) => {
                finish(&mut out, &mut total, &mut current, &mut active);
                if matches!(next, Some(Kind::Hundred | Kind::Scale(_))) {
                    (current, active) = (1.0, true);
                }
            }
        }
        last = tok.unwrap_or(Kind::Other);
        if !active {
            last = Kind::Other;
        }
    }
    finish(&mut out, &mut total, &mut current, &mut active);
    out
}

/// Whether any of the [`numbers`] in `text` equals `n` exactly.
pub fn contains_number(text: &str, n: f64) -> bool {
    numbers(text).contains(&n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_numbers_carry_positions() {
        assert_eq!(digit_numbers("a -5 b"), vec![(2, 4, -5.0)]);
        assert_eq!(digit_numbers("1,000.5!"), vec![(0, 7, 1000.5)]);
        assert_eq!(digit_numbers("x.5"), vec![(2, 3, 5.0)]);
    }

    #[test]
    fn number_word_kinds() {
        assert_eq!(kind_of("seven"), Kind::Unit(7.0));
        assert_eq!(kind_of("fifteen"), Kind::Teen(15.0));
        assert_eq!(kind_of("ninety"), Kind::Tens(90.0));
        assert_eq!(kind_of("million"), Kind::Scale(1e6));
        assert_eq!(kind_of("seventh"), Kind::Other);
    }
}
