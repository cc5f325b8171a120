//! Small helpers without a better home: UTC timestamps, CSV export, on/off environment
//! variables, and an error's chain as one line.

use serde_json::{Map, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

fn now_parts() -> (i64, u32, u32, u64, u64, u64, u32) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    (
        y,
        m,
        d,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis(),
    )
}

/// Whether the on/off environment variable `name` is on: set, not empty and not `0`.
pub fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `2026-11-28T14:03:05.123Z`
pub fn utc_timestamp() -> String {
    let (y, mo, d, h, mi, s, ms) = now_parts();
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

/// `20261128-140305`, for folder names.
pub fn utc_timestamp_compact() -> String {
    let (y, mo, d, h, mi, s, _) = now_parts();
    format!("{y:04}{mo:02}{d:02}-{h:02}{mi:02}{s:02}")
}

/// Records as CSV: one column per key (in order of first appearance; `_meta` left out), nested
/// values as JSON, fields quoted when needed.
pub fn records_to_csv(records: &[Map<String, Value>]) -> String {
    let mut columns: Vec<&str> = Vec::new();
    for record in records {
        for key in record.keys() {
            if key != "_meta" && !columns.contains(&key.as_str()) {
                columns.push(key);
            }
        }
    }
    let quote = |field: String| {
        if field.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", field.replace('"', "\"\""))
        } else {
            field
        }
    };
    let mut out = columns
        .iter()
        .map(|c| quote(c.to_string()))
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    for record in records {
        let row: Vec<String> = columns
            .iter()
            .map(|c| match record.get(*c) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => quote(s.clone()),
                Some(other) => quote(other.to_string()),
            })
            .collect();
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

/// An error and its causes on one line, joined by ": " (each error type renders only its own
/// part, so this is where a message stored or shown as one string gets its causes back).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_right() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_785), (2026, 11, 28));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn an_error_chain_names_every_cause_once() {
        let error = crate::store::StoreError::Io {
            path: "out/records.jsonl".into(),
            source: std::io::Error::other("disk full"),
        };
        assert_eq!(error.to_string(), "cannot write out/records.jsonl");
        assert_eq!(
            error_chain(&error),
            "cannot write out/records.jsonl: disk full"
        );
    }

    #[test]
    fn csv_quotes_and_aligns_columns() {
        let records: Vec<Map<String, Value>> = vec![
            serde_json::json!({"turn": 2, "answer": "a, \"b\"", "_meta": {}})
                .as_object()
                .unwrap()
                .clone(),
            serde_json::json!({"turn": 4, "score": 0.5})
                .as_object()
                .unwrap()
                .clone(),
        ];
        // JSON objects keep their keys sorted (as Rhai maps do), so columns come out sorted.
        assert_eq!(
            records_to_csv(&records),
            "answer,turn,score\n\"a, \"\"b\"\"\",2,\n,4,0.5\n"
        );
    }
}
