//! A run folder read for display: `run.json`, the records grouped into units (conversation
//! turns and probe answers), the kinds the page does not know as tables, the model and sampling
//! settings found in the records' `_meta`, and the pictures of the folder.

use super::ViewError;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// Fields of `turn`/`agent_turn`/`probe` records that the page shows in their own place;
/// the others are shown as small tags beside the bubble or answer.
const SHOWN: &[&str] = &[
    "kind",
    "pair",
    "turn",
    "speaker",
    "text",
    "agent",
    "user",
    "topic",
    "setting",
    "run",
    "answer",
    "score",
    "user_score",
];

/// Arrays longer than this (vectors, per-token series) are shown as their length.
const MAX_ARRAY: usize = 8;

pub(super) struct Unit {
    pub key: String,
    pub setting: Option<String>,
    pub pair: Option<Value>,
    pub agent: Option<String>,
    pub user: Option<String>,
    pub topic: Option<String>,
    /// `{turn, speaker, text, extra}` in record order.
    pub turns: Vec<Value>,
    /// `{turn, run, score, user_score, answer, extra}` in record order.
    pub probes: Vec<Value>,
}

pub(super) struct Table {
    pub kind: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

pub(super) enum Picture {
    Png(Vec<u8>),
    Svg(String),
}

pub(super) struct Plot {
    pub name: String,
    pub picture: Picture,
}

pub(super) struct Run {
    pub dir: PathBuf,
    pub run_json: Option<Value>,
    pub record_count: usize,
    pub units: Vec<Unit>,
    pub tables: Vec<Table>,
    pub plots: Vec<Plot>,
    /// Distinct `_meta.model` values with the number of records that carry each.
    pub models: Vec<(Value, usize)>,
    /// Distinct `_meta.sampling` values (without the per-call seed) with their counts.
    pub samplings: Vec<(Value, usize)>,
    /// `_meta.run` of the first record that has one (the configuration the records carry).
    pub meta_run: Option<Value>,
}

impl Run {
    pub fn read(dir: &Path) -> Result<Run, ViewError> {
        if !dir.is_dir() {
            return Err(ViewError::NotAFolder(dir.to_path_buf()));
        }
        let records_path = dir.join("records.jsonl");
        if !records_path.is_file() {
            return Err(ViewError::NoRecords(dir.to_path_buf()));
        }
        let records: Vec<Value> = crate::plot::read_jsonl(&records_path)?
            .into_iter()
            .filter(|r| !is_marker(r))
            .collect();
        if records.is_empty() {
            return Err(ViewError::EmptyRun(dir.to_path_buf()));
        }
        let run_json = read_run_json(dir)?;
        let mut run = Run {
            dir: dir.to_path_buf(),
            run_json,
            record_count: records.len(),
            units: Vec::new(),
            tables: Vec::new(),
            plots: read_plots(dir)?,
            models: Vec::new(),
            samplings: Vec::new(),
            meta_run: None,
        };
        for record in &records {
            run.add(record);
        }
        Ok(run)
    }

    fn add(&mut self, record: &Value) {
        let Some(fields) = record.as_object() else {
            return;
        };
        if let Some(meta) = fields.get("_meta") {
            if self.meta_run.is_none() {
                self.meta_run = meta.get("run").cloned();
            }
            if let Some(model) = meta.get("model") {
                count(&mut self.models, model.clone());
            }
            if let Some(Value::Object(sampling)) = meta.get("sampling") {
                let mut sampling = sampling.clone();
                sampling.remove("seed");
                count(&mut self.samplings, compact(&Value::Object(sampling), 400));
            }
        }
        let kind = fields.get("kind").and_then(Value::as_str).unwrap_or("");
        match kind {
            "turn" | "agent_turn" => {
                let speaker = match fields.get("speaker").and_then(Value::as_str) {
                    Some(s) => s.to_string(),
                    None if kind == "agent_turn" => "agent".into(),
                    None => "?".into(),
                };
                let turn = json!({
                    "turn": fields.get("turn").cloned().unwrap_or(Value::Null),
                    "speaker": speaker,
                    "text": text_of(fields.get("text")),
                    "extra": extras(fields),
                });
                self.unit_for(fields).turns.push(turn);
            }
            "probe" => {
                let probe = json!({
                    "turn": fields.get("turn").cloned().unwrap_or(Value::Null),
                    "run": fields.get("run").cloned().unwrap_or(Value::Null),
                    "score": number_or_null(fields.get("score")),
                    "user_score": number_or_null(fields.get("user_score")),
                    "answer": text_of(fields.get("answer")),
                    "extra": extras(fields),
                });
                self.unit_for(fields).probes.push(probe);
            }
            _ => self.table_row(if kind.is_empty() { "(no kind)" } else { kind }, fields),
        }
    }

    /// The unit a conversation record belongs to: its `_meta.unit` (the script's `once` key),
    /// else its setting and pair.
    fn unit_for(&mut self, fields: &Map<String, Value>) -> &mut Unit {
        let setting = fields.get("setting").map(scalar_text);
        let pair = fields.get("pair").cloned();
        let key = match fields
            .get("_meta")
            .and_then(|m| m.get("unit"))
            .and_then(Value::as_str)
        {
            Some(unit) => unit.to_string(),
            None => match (&setting, &pair) {
                (Some(s), Some(p)) => format!("{s}/{}", scalar_text(p)),
                (None, Some(p)) => scalar_text(p),
                (Some(s), None) => s.clone(),
                (None, None) => "(no unit)".into(),
            },
        };
        let i = match self.units.iter().position(|u| u.key == key) {
            Some(i) => i,
            None => {
                self.units.push(Unit {
                    key,
                    setting,
                    pair,
                    agent: None,
                    user: None,
                    topic: None,
                    turns: Vec::new(),
                    probes: Vec::new(),
                });
                self.units.len() - 1
            }
        };
        let unit = &mut self.units[i];
        for (slot, name) in [
            (&mut unit.agent, "agent"),
            (&mut unit.user, "user"),
            (&mut unit.topic, "topic"),
        ] {
            if slot.is_none() {
                *slot = fields.get(name).map(scalar_text);
            }
        }
        unit
    }

    fn table_row(&mut self, kind: &str, fields: &Map<String, Value>) {
        let i = match self.tables.iter().position(|t| t.kind == kind) {
            Some(i) => i,
            None => {
                self.tables.push(Table {
                    kind: kind.to_string(),
                    columns: Vec::new(),
                    rows: Vec::new(),
                });
                self.tables.len() - 1
            }
        };
        let table = &mut self.tables[i];
        let mut row = vec![Value::Null; table.columns.len()];
        for (name, value) in fields {
            if name.starts_with('_') || name == "kind" {
                continue;
            }
            let column = match table.columns.iter().position(|c| c == name) {
                Some(c) => c,
                None => {
                    table.columns.push(name.clone());
                    row.push(Value::Null);
                    table.columns.len() - 1
                }
            };
            row[column] = compact(value, 4000);
        }
        table.rows.push(row);
    }

    /// The records as the page's JSON blob.
    pub fn blob(&self) -> Value {
        let units: Vec<Value> = self
            .units
            .iter()
            .map(|u| {
                json!({
                    "key": u.key,
                    "setting": u.setting,
                    "pair": u.pair,
                    "agent": u.agent,
                    "user": u.user,
                    "topic": u.topic,
                    "turns": u.turns,
                    "probes": u.probes,
                })
            })
            .collect();
        let tables: Vec<Value> = self
            .tables
            .iter()
            .map(|t| {
                let rows: Vec<Value> = t
                    .rows
                    .iter()
                    .map(|r| {
                        let mut r = r.clone();
                        r.resize(t.columns.len(), Value::Null);
                        Value::Array(r)
                    })
                    .collect();
                json!({"kind": t.kind, "columns": t.columns, "rows": rows})
            })
            .collect();
        json!({"units": units, "tables": tables})
    }
}

/// `{"_unit_done": key}` lines close units in `records.jsonl`; they are not results.
fn is_marker(record: &Value) -> bool {
    record
        .as_object()
        .is_some_and(|o| o.keys().all(|k| k.starts_with('_')) && !o.contains_key("_meta"))
}

fn read_run_json(dir: &Path) -> Result<Option<Value>, ViewError> {
    let path = dir.join("run.json");
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|source| ViewError::Read {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| ViewError::BadRunJson {
            path,
            message: e.to_string(),
        })
}

/// The PNG and SVG files at the top of the run folder, by name.
fn read_plots(dir: &Path) -> Result<Vec<Plot>, ViewError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ViewError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension()
                        .and_then(|e| e.to_str())
                        .map(str::to_ascii_lowercase)
                        .as_deref(),
                    Some("png" | "svg")
                )
        })
        .collect();
    paths.sort();
    let mut plots = Vec::new();
    for path in paths {
        let read_error = |source| ViewError::Read {
            path: path.clone(),
            source,
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let is_svg = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
        let picture = if is_svg {
            Picture::Svg(std::fs::read_to_string(&path).map_err(read_error)?)
        } else {
            Picture::Png(std::fs::read(&path).map_err(read_error)?)
        };
        plots.push(Plot { name, picture });
    }
    Ok(plots)
}

fn count(seen: &mut Vec<(Value, usize)>, value: Value) {
    match seen.iter_mut().find(|(v, _)| *v == value) {
        Some((_, n)) => *n += 1,
        None => seen.push((value, 1)),
    }
}

fn text_of(value: Option<&Value>) -> Value {
    match value {
        None | Some(Value::Null) => Value::String(String::new()),
        Some(Value::String(s)) => Value::String(s.clone()),
        Some(other) => Value::String(other.to_string()),
    }
}

fn number_or_null(value: Option<&Value>) -> Value {
    match value {
        Some(v @ Value::Number(_)) => v.clone(),
        _ => Value::Null,
    }
}

/// A value as short text: strings as they are, others as JSON.
pub(super) fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The fields a conversation record has beyond the ones shown in their own place, compacted.
fn extras(fields: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    for (name, value) in fields {
        if name.starts_with('_') || SHOWN.contains(&name.as_str()) {
            continue;
        }
        out.insert(name.clone(), compact(value, 200));
    }
    Value::Object(out)
}

/// Long arrays become `"[N values]"`, nested structures JSON text cut at `max_chars`, so
/// vectors and per-token series do not swell the page.
pub(super) fn compact(value: &Value, max_chars: usize) -> Value {
    match value {
        Value::Array(items) if items.len() > MAX_ARRAY => {
            Value::String(format!("[{} values]", items.len()))
        }
        Value::Array(items) => {
            let items: Vec<Value> = items.iter().map(|v| compact(v, max_chars)).collect();
            shorten(Value::Array(items), max_chars)
        }
        Value::Object(map) => {
            let map: Map<String, Value> = map
                .iter()
                .map(|(k, v)| (k.clone(), compact(v, max_chars)))
                .collect();
            shorten(Value::Object(map), max_chars)
        }
        other => other.clone(),
    }
}

fn shorten(value: Value, max_chars: usize) -> Value {
    let text = value.to_string();
    if text.chars().count() <= max_chars {
        return value;
    }
    let cut: String = text.chars().take(max_chars).collect();
    Value::String(format!("{cut}…"))
}
