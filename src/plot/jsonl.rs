//! Reading a JSON Lines results file into records.

use super::PlotError;
use serde_json::Value;
use std::path::Path;

/// Reads a JSON Lines results file: one JSON object per line.
///
/// Blank (or all-whitespace) lines are skipped. A line that is not valid JSON, or is valid JSON
/// but not an object, is an error of the form `results.jsonl:7: malformed JSON at column 12:
/// EOF while parsing an object` — file, 1-based line number and serde's message — so the bad line
/// can be found and fixed; nothing is silently dropped (DESIGN §6).
///
/// ```no_run
/// let records = drift_script::plot::read_jsonl("selfchat/results.jsonl".as_ref())?;
/// # Ok::<(), drift_script::plot::PlotError>(())
/// ```
pub fn read_jsonl(path: &Path) -> Result<Vec<Value>, PlotError> {
    let text = std::fs::read_to_string(path).map_err(|source| PlotError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut records = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| PlotError::BadRecord {
            path: path.to_path_buf(),
            line: i + 1,
            message,
        };
        let value: Value = serde_json::from_str(line).map_err(|e| {
            // serde reports "… at line 1 column 12"; on a single line only the column matters.
            let full = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            let message = full.strip_suffix(&suffix).unwrap_or(&full);
            bad(format!(
                "malformed JSON at column {}: {message}",
                e.column()
            ))
        })?;
        if !value.is_object() {
            let kind = match value {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                Value::Null => "null",
                Value::Object(_) => unreachable!(),
            };
            return Err(bad(format!(
                "expected a JSON object (a record), found {kind}"
            )));
        }
        records.push(value);
    }
    Ok(records)
}
