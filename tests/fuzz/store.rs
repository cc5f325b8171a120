//! Run folders on resume and merge. Seeds are written through the real `RunStore` (records
//! with `_meta.unit`, synced unit markers, the final rewrite, shards of `--shard i/2`), then
//! damaged as crashes and hands do: records.jsonl cut at any byte, lines dropped, duplicated
//! (unit markers included) or swapped, values of wrong types, huge lines; run.json cut or
//! retyped. An input is a JSON object naming the folders' files, so a saved case replays alone.
//!
//! Resume must give a clear error or keep every completed unit: each unit whose marker line
//! survives whole comes back with exactly the records of that unit in the file, and reopening
//! the folder again gives the same units. Merge must give a clear error or a result.

use crate::gguf::scratch_dir;
use crate::harness::{self, Pick, Target, Verdict, interesting_u64};
use drift_script::store::{Entry, RunStore, UNIT_DONE, record_unit};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

const IDENTITY: &[&str] = &[
    "script",
    "script_sha256",
    "params",
    "seed",
    "model",
    "shard",
];

fn config(shard: Option<(usize, usize)>) -> Value {
    let mut c = json!({
        "script": "study.rhai",
        "script_sha256": "3f2a9c00d1e4b5a6",
        "params": {"turns": 3},
        "seed": 7,
        "model": "smollm2",
        "drift_script_version": "0.1.0",
    });
    if let Some((index, count)) = shard {
        c["shard"] = json!({"index": index, "count": count});
    }
    c
}

fn record(rng: &mut ChaCha8Rng, unit: &str, turn: usize) -> Map<String, Value> {
    let value = json!({
        "kind": "turn",
        "persona": "pirate",
        "turn": turn,
        "answer": harness::random_text(rng, 80),
        "score": rng.below(1000) as f64 / 1000.0,
        "_meta": {"unit": unit, "time": "2026-12-07T05:00:00Z"},
    });
    value.as_object().unwrap().clone()
}

/// A finished run folder (or shard `index` of `count`): units u0…u5 in script order, those of
/// another shard left out; `finish` false leaves it as a stopped run (no final rewrite).
fn write_run(rng: &mut ChaCha8Rng, dir: &Path, shard: Option<(usize, usize)>, finish: bool) {
    let config = config(shard);
    let mut store = RunStore::open(dir, &config, IDENTITY).unwrap();
    let keys: Vec<String> = (0..6).map(|i| format!("u{i}")).collect();
    for (seq, key) in keys.iter().enumerate() {
        if let Some((index, count)) = shard
            && drift_script::script::shard_of(key, count) != index
        {
            continue;
        }
        let records: Vec<_> = (0..1 + rng.below(3)).map(|t| record(rng, key, t)).collect();
        for r in &records {
            store.append(r.clone()).unwrap();
        }
        store.finish_unit(key, seq as u64, records).unwrap();
    }
    if finish {
        let order: Vec<Entry> = keys.iter().map(|k| Entry::Unit(k)).collect();
        store.finish_run(&order, &config).unwrap();
    }
}

fn read_folder(dir: &Path) -> Value {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    json!({"run.json": read("run.json"), "records.jsonl": read("records.jsonl")})
}

fn damage_records(rng: &mut ChaCha8Rng, text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    match rng.below(9) {
        0 => return text[..text.floor_char_boundary(rng.below(text.len() + 1))].to_string(),
        1 if !lines.is_empty() => {
            let i = rng.below(lines.len());
            lines.remove(i);
        }
        2 if !lines.is_empty() => {
            let i = rng.below(lines.len());
            let line = lines[i].clone();
            lines.insert(rng.below(lines.len() + 1), line);
        }
        3 if lines.len() > 1 => {
            let (a, b) = (rng.below(lines.len()), rng.below(lines.len()));
            lines.swap(a, b);
        }
        4 if !lines.is_empty() => {
            // A value of another type where the store looks.
            let i = rng.below(lines.len());
            if let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(&lines[i]) {
                let hostile = harness::hostile_json(rng);
                match rng.below(3) {
                    0 => map.insert(UNIT_DONE.into(), hostile),
                    1 => map.insert("_meta".into(), json!({"unit": hostile})),
                    _ => map.insert("_seq".into(), hostile),
                };
                lines[i] = Value::Object(map).to_string();
            }
        }
        5 => {
            let huge = "x".repeat(1 << (10 + rng.below(14)));
            lines.insert(
                rng.below(lines.len() + 1),
                json!({"answer": huge, "_meta": {"unit": "u1"}}).to_string(),
            );
        }
        6 => lines.insert(
            rng.below(lines.len() + 1),
            rng.pick(&["[1,2]", "42", "null", "{", "\"s\"", "{}", "   "])
                .to_string(),
        ),
        7 => {
            let mut bytes = text.as_bytes().to_vec();
            harness::mutate_bytes(rng, &mut bytes);
            return String::from_utf8_lossy(&bytes).into_owned();
        }
        _ => {
            // A marker glued to the line before it (a write cut short, then resumed).
            if let Some(last) = lines.last_mut() {
                last.truncate(last.floor_char_boundary(rng.below(last.len() + 1)));
            }
            return format!(
                "{}{}\n",
                lines.join("\n"),
                json!({UNIT_DONE: "u9", "_seq": 9})
            );
        }
    }
    let mut out = lines.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

fn damage_config(rng: &mut ChaCha8Rng, text: &str) -> String {
    let Ok(mut value) = serde_json::from_str::<Value>(text) else {
        return text.to_string();
    };
    match rng.below(5) {
        0 => return text[..rng.below(text.len() + 1)].to_string(),
        1 => {
            value["shard"] =
                json!({"index": interesting_u64(rng), "count": interesting_u64(rng) % 4})
        }
        2 => value["complete"] = json!({"units": interesting_u64(rng)}),
        3 => value["shard"] = json!(rng.pick(&["0/2", "x"])),
        _ => {
            value.as_object_mut().map(|m| m.remove("complete"));
        }
    }
    value.to_string()
}

fn generate(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let root = scratch_dir();
    let merge = rng.chance(400);
    let mut folders = Vec::new();
    let shards: Vec<Option<(usize, usize)>> = if merge {
        vec![Some((0, 2)), Some((1, 2))]
    } else {
        vec![None]
    };
    for (i, shard) in shards.iter().enumerate() {
        let dir = root.join(format!("run{i}"));
        let finish = merge || rng.chance(500);
        write_run(rng, &dir, *shard, finish);
        let mut folder = read_folder(&dir);
        if rng.chance(if merge { 600 } else { 1000 }) {
            let text = folder["records.jsonl"].as_str().unwrap().to_string();
            folder["records.jsonl"] = json!(damage_records(rng, &text));
        }
        if rng.chance(300) {
            let text = folder["run.json"].as_str().unwrap().to_string();
            folder["run.json"] = json!(damage_config(rng, &text));
        }
        folders.push(folder);
    }
    let _ = std::fs::remove_dir_all(&root);
    serde_json::to_vec(&json!({"merge": merge, "folders": folders})).unwrap()
}

/// Units whose marker line is whole in `text`, with the records of each unit, in file order.
fn intact_units(text: &str) -> Vec<(String, Vec<Map<String, Value>>)> {
    let lines: Vec<Map<String, Value>> = text
        .split_inclusive('\n')
        .filter_map(|l| match serde_json::from_str::<Value>(l.trim()) {
            Ok(Value::Object(map)) => Some(map),
            _ => None,
        })
        .collect();
    let key_of = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    lines
        .iter()
        .filter_map(|m| m.get(UNIT_DONE).map(key_of))
        .map(|key| {
            let records = lines
                .iter()
                .filter(|r| !r.contains_key(UNIT_DONE) && record_unit(r).as_deref() == Some(&key))
                .cloned()
                .collect();
            (key, records)
        })
        .collect()
}

fn check(input: &[u8]) -> Verdict {
    let Ok(case) = serde_json::from_slice::<Value>(input) else {
        return Ok(());
    };
    let root = scratch_dir();
    let mut dirs: Vec<PathBuf> = Vec::new();
    for (i, folder) in case["folders"].as_array().into_iter().flatten().enumerate() {
        let dir = root.join(format!("run{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["run.json", "records.jsonl"] {
            if let Some(text) = folder[name].as_str() {
                std::fs::write(dir.join(name), text).unwrap();
            }
        }
        dirs.push(dir);
    }
    let verdict = if case["merge"].as_bool() == Some(true) {
        let _ = drift_script::merge::merge(&dirs, Some(&root.join("merged")));
        Ok(())
    } else {
        resume(&case, &dirs)
    };
    let _ = std::fs::remove_dir_all(&root);
    verdict
}

fn resume(case: &Value, dirs: &[PathBuf]) -> Verdict {
    let Some(dir) = dirs.first() else {
        return Ok(());
    };
    let text = case["folders"][0]["records.jsonl"].as_str().unwrap_or("");
    let expected = intact_units(text);
    let Ok(store) = RunStore::open(dir, &config(None), IDENTITY) else {
        return Ok(());
    };
    let lost = |store: &RunStore, when: &str| -> Verdict {
        for (key, records) in &expected {
            match store.completed_unit(key) {
                None => return Err(format!("{when}: completed unit {key} was lost")),
                Some(kept) if kept != records.as_slice() => {
                    return Err(format!(
                        "{when}: unit {key} came back with {} records, the file holds {}",
                        kept.len(),
                        records.len()
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    };
    lost(&store, "on resume")?;
    drop(store);
    let again = RunStore::open(dir, &config(None), IDENTITY)
        .map_err(|e| format!("a folder that resumed once is refused the second time: {e}"))?;
    lost(&again, "on the second resume")
}

#[test]
fn a_cut_records_file_keeps_every_unit_closed_before_the_cut() {
    let mut rng = harness::case_rng(2, "store-seed", 0);
    let dir = scratch_dir();
    write_run(&mut rng, &dir, None, false);
    let text = std::fs::read_to_string(dir.join("records.jsonl")).unwrap();
    let whole = intact_units(&text).len();
    assert_eq!(whole, 6);
    let cut = text.len() - 3;
    std::fs::write(dir.join("records.jsonl"), &text[..cut]).unwrap();
    let store = RunStore::open(&dir, &config(None), IDENTITY).unwrap();
    assert!(store.completed_unit("u4").is_some());
    assert!(store.completed_unit("u5").is_none(), "its marker was cut");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn store() {
    harness::fuzz(
        Target {
            name: "store",
            extension: "json",
            cases: 400,
        },
        generate,
        check,
    );
}
