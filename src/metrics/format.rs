//! Answer formats: bracketed lists, dash-spelled words, JSON objects.

use super::text::{ratio, words};

/// The items of an answer in list format, or `None` when it is not one.
///
/// List format: the trimmed answer starts with `[` and ends with `]`, has no other bracket
/// inside, and splitting the inside on commas gives at least one item where every item, trimmed,
/// is non-empty. So `[London, Paris]` and `["a", "b"]` are lists; `[]`, `[a,,b]`, `[a, b,]` and
/// `Here: [a, b]` are not. Items come back trimmed.
pub fn list_items(text: &str) -> Option<Vec<&str>> {
    let inner = text.trim().strip_prefix('[')?.strip_suffix(']')?;
    if inner.contains(['[', ']']) {
        return None;
    }
    let items: Vec<&str> = inner.split(',').map(str::trim).collect();
    if items.iter().any(|i| i.is_empty()) {
        return None;
    }
    Some(items)
}

/// Whether the whole answer is a bracketed comma-separated list (see [`list_items`]).
pub fn is_list_format(text: &str) -> bool {
    list_items(text).is_some()
}

/// Whether a word is spelled with a hyphen between every character: at least two parts, each a
/// single letter, digit or apostrophe (`l-i-k-e`, `I-t-'-s`).
fn is_dash_spelled(word: &str) -> bool {
    let parts: Vec<&str> = word.split(['-', '\u{2010}', '\u{2011}']).collect();
    parts.len() >= 2 && parts.iter().all(|p| p.chars().count() == 1)
}

/// Share of the words spelled with a hyphen between every character (`l-i-k-e`); 0.0 for no
/// words.
///
/// A one-character word ("a", "I") has no place for a dash: it counts as dash-spelled only when
/// the text has at least one dash-spelled word of two or more characters, so "I l-o-v-e i-t" is
/// 1.0 while plain "I am a cat" is 0.0. An answer dashed from end to end without spaces
/// (`A-l-w-a-y-s-r-e-p-l-y`) is one dash-spelled word, so 1.0.
pub fn dash_format_fraction(text: &str) -> f64 {
    let ws = words(text);
    let dashed = ws.iter().filter(|w| is_dash_spelled(w)).count();
    let singles = ws.iter().filter(|w| w.chars().count() == 1).count();
    let hits = if dashed > 0 { dashed + singles } else { 0 };
    ratio(hits, ws.len())
}

/// The JSON text of an answer: the trimmed answer itself, or the inside of a single fenced code
/// block that is the whole answer (```` ```json … ``` ```` or ```` ``` … ``` ````).
fn json_candidate(text: &str) -> &str {
    let t = text.trim();
    if let Some(rest) = t.strip_prefix("```").and_then(|r| r.strip_suffix("```")) {
        // The info string (e.g. `json`) runs to the end of the first line.
        let rest = match rest.find('\n') {
            Some(i) if rest[..i].trim().chars().all(|c| c.is_ascii_alphanumeric()) => {
                &rest[i + 1..]
            }
            _ => rest,
        };
        if !rest.contains("```") {
            return rest.trim();
        }
    }
    t
}

fn json_object(text: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    match serde_json::from_str::<serde_json::Value>(json_candidate(text)) {
        Ok(serde_json::Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// Whether the answer is a JSON object: the trimmed answer parses as one, or the answer is a
/// single fenced code block (```` ```json ````, or with no language) whose content parses as one.
///
/// The fence is accepted because chat models wrap JSON in one by habit, and a persona asked to
/// "respond in JSON" that does so has followed the instruction; text before or after the JSON
/// (or the fence) is not accepted.
pub fn is_json_object(text: &str) -> bool {
    json_object(text).is_some()
}

/// The keys of the answer's JSON object (see [`is_json_object`]), sorted; empty when the answer
/// is not a JSON object.
pub fn json_keys(text: &str) -> Vec<String> {
    let mut keys: Vec<String> = json_object(text)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenced_json_is_unwrapped() {
        assert_eq!(json_candidate("```json\n{\"a\": 1}\n```"), "{\"a\": 1}");
        assert_eq!(json_candidate("```\n{}\n```"), "{}");
        assert_eq!(json_candidate("  {} "), "{}");
        assert!(is_dash_spelled("l-i-k-e"));
        assert!(!is_dash_spelled("well-known"));
        assert!(!is_dash_spelled("a"));
    }
}
