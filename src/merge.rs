//! `drift-script merge DIR…`: the run folders of one sharded run (`--shard i/n`) combined into
//! one run folder, as if the run had not been sharded.
//!
//! Each shard runs the whole script and so meets every unit, in the same order; it runs only
//! the units `script::shard_of(key, n) == i` and writes each one's place (`_seq`) in its marker
//! line. Merging sorts the units of all shards by that place. It refuses, rather than mixes:
//! folders of different scripts, script versions, parameters, seeds, models or tool versions;
//! shard counts that differ; a shard missing, given twice, or not finished; a unit found in two
//! shards or in a shard it does not belong to. Records made outside units depend on the units
//! a shard ran (summaries, plots' data), so they are left out, with a note.
//!
//! The merged folder is locked like a run folder, and each shard is read under a shared lock,
//! so a merge never reads a shard that a rerun is rewriting. `run.json` is written first and
//! `records.jsonl` last: a merge killed before the end leaves no records, and running it again
//! finishes it (a merged folder that holds records is refused as already merged).

use crate::store::{self, UNIT_DONE, UNIT_SEQ};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// What a merge wrote.
#[derive(Debug)]
pub struct Merged {
    pub dir: PathBuf,
    pub units: usize,
    pub records: usize,
    pub notes: Vec<String>,
}

/// The configuration fields that must agree between shards.
const SAME: &[&str] = &[
    "script",
    "script_sha256",
    "params",
    "seed",
    "model",
    "drift_script_version",
];

struct Shard {
    dir: PathBuf,
    index: usize,
    config: Value,
}

/// Merges shard folders into `out` (default: next to the first shard, named without the
/// `-shard-i-of-n` suffix).
pub fn merge(dirs: &[PathBuf], out: Option<&Path>) -> Result<Merged, MergeError> {
    let refuse = |m: String| Err(MergeError::Refused(m));
    if dirs.is_empty() {
        return refuse("merge: name the shard folders to merge".into());
    }
    let mut shards = Vec::new();
    let mut count = None;
    for dir in dirs {
        let path = dir.join("run.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            MergeError::Refused(format!(
                "{}: {e} (is {} a run folder?)",
                path.display(),
                dir.display()
            ))
        })?;
        let config: Value = serde_json::from_str(&text).map_err(|e| {
            MergeError::Refused(format!("{}: malformed run.json: {e}", path.display()))
        })?;
        let shard = config.get("shard").ok_or_else(|| {
            MergeError::Refused(format!(
                "{} is not a shard (its run.json has no `shard`): merge combines the folders \
                 of one run made with --shard i/n",
                dir.display()
            ))
        })?;
        let index = shard["index"].as_u64().unwrap_or(u64::MAX) as usize;
        let n = shard["count"].as_u64().unwrap_or(0) as usize;
        match count {
            None => count = Some(n),
            Some(c) if c != n => {
                return refuse(format!(
                    "{} is shard {index} of {n}, but {} is one of {c}: the shard counts differ",
                    dir.display(),
                    dirs[0].display()
                ));
            }
            Some(_) => {}
        }
        if config.get("complete").is_none() {
            return refuse(format!(
                "{} (shard {index} of {n}) did not finish: run that shard again to resume it, \
                 then merge",
                dir.display()
            ));
        }
        shards.push(Shard {
            dir: dir.clone(),
            index,
            config,
        });
    }
    let n = count.unwrap_or(0);
    let first = &shards[0];
    for shard in &shards[1..] {
        for key in SAME {
            if shard.config.get(key) != first.config.get(key) {
                return refuse(format!(
                    "{} and {} come from different configurations: {key} is {} there and {} here",
                    first.dir.display(),
                    shard.dir.display(),
                    first.config.get(key).unwrap_or(&Value::Null),
                    shard.config.get(key).unwrap_or(&Value::Null)
                ));
            }
        }
        if shard.config["complete"]["units"] != first.config["complete"]["units"] {
            return refuse(format!(
                "{} met {} units and {} met {}: the script took different paths in different \
                 shards",
                first.dir.display(),
                first.config["complete"]["units"],
                shard.dir.display(),
                shard.config["complete"]["units"]
            ));
        }
    }
    // Held until the merge ends.
    let mut shard_locks = Vec::new();
    for shard in &shards {
        shard_locks.push(store::lock_folder_for_reading(&shard.dir)?);
    }
    let mut by_index: BTreeMap<usize, &Shard> = BTreeMap::new();
    for shard in &shards {
        if let Some(other) = by_index.insert(shard.index, shard) {
            return refuse(format!(
                "shard {} is given twice: {} and {}",
                shard.index,
                other.dir.display(),
                shard.dir.display()
            ));
        }
    }
    let missing: Vec<String> = (0..n)
        .filter(|i| !by_index.contains_key(i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        return refuse(format!(
            "shard(s) {} of {n} missing: merge needs every shard",
            missing.join(", ")
        ));
    }

    // Units from every shard, by their place in the script.
    let mut units: BTreeMap<u64, (String, Vec<Map<String, Value>>)> = BTreeMap::new();
    let mut where_from: HashMap<String, usize> = HashMap::new();
    let mut loose = 0usize;
    for shard in by_index.values() {
        let path = shard.dir.join("records.jsonl");
        let lines = if path.exists() {
            store::read_jsonl(&path)?
        } else {
            store::JsonLines {
                records: Vec::new(),
                truncated_tail: None,
                ends_with_newline: true,
            }
        };
        let mut pending: HashMap<String, Vec<Map<String, Value>>> = HashMap::new();
        for (line, record) in lines.records {
            if let Some(key) = record.get(UNIT_DONE) {
                let key = match key {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let seq = record
                    .get(UNIT_SEQ)
                    .and_then(Value::as_u64)
                    .ok_or_else(|| {
                        MergeError::Refused(format!(
                            "{}:{line}: unit marker without `{UNIT_SEQ}` (written by an older \
                         drift-script?)",
                            path.display()
                        ))
                    })?;
                let owner = crate::script::shard_of(&key, n);
                if owner != shard.index {
                    return refuse(format!(
                        "{}: unit {key} belongs to shard {owner}, not {}: the folders come from \
                         different shard assignments",
                        path.display(),
                        shard.index
                    ));
                }
                if let Some(other) = where_from.insert(key.clone(), shard.index) {
                    return refuse(format!(
                        "unit {key} appears in shards {other} and {}",
                        shard.index
                    ));
                }
                let records = pending.remove(&key).unwrap_or_default();
                if let Some((other, _)) = units.insert(seq, (key.clone(), records)) {
                    return refuse(format!(
                        "units {other} and {key} both claim place {seq} in the script"
                    ));
                }
                continue;
            }
            match store::record_unit(&record) {
                Some(unit) => pending.entry(unit).or_default().push(record),
                None => loose += 1,
            }
        }
        // Records of units cut short (no marker) are not part of a finished run; a finished
        // shard has none, but a hand-edited folder might.
        if !pending.is_empty() {
            return refuse(format!(
                "{} holds records of unfinished unit(s) {}: run that shard again",
                path.display(),
                pending.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    let total = first.config["complete"]["units"].as_u64().unwrap_or(0);
    if let Some(gap) = (0..total).find(|seq| !units.contains_key(seq)) {
        return refuse(format!(
            "no shard holds the unit at place {gap} of {total}: a shard's folder is incomplete"
        ));
    }

    let out = match out {
        Some(dir) => dir.to_path_buf(),
        None => {
            let name = first
                .dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let base = match name.rfind("-shard-") {
                Some(i) => name[..i].to_string(),
                None => format!("{name}-merged"),
            };
            first.dir.parent().unwrap_or(Path::new(".")).join(base)
        }
    };
    std::fs::create_dir_all(&out)
        .map_err(|e| MergeError::Refused(format!("cannot create {}: {e}", out.display())))?;
    let _out_lock = store::lock_folder(&out)?;
    store::remove_stale_temporaries(&out);
    if out.join("records.jsonl").exists() {
        return refuse(format!(
            "{} already holds records: remove it or choose another folder with -o",
            out.display()
        ));
    }
    let mut text = String::new();
    let mut count_records = 0;
    for (seq, (key, records)) in &units {
        for record in records {
            text.push_str(&serde_json::to_string(record).unwrap_or_default());
            text.push('\n');
            count_records += 1;
        }
        let mut marker = Map::new();
        marker.insert(UNIT_DONE.into(), Value::String(key.clone()));
        marker.insert(UNIT_SEQ.into(), Value::from(*seq));
        text.push_str(&serde_json::to_string(&marker).unwrap_or_default());
        text.push('\n');
    }
    let mut config = first.config.clone();
    if let Some(map) = config.as_object_mut() {
        map.remove("shard");
        map.insert(
            "merged_from".into(),
            Value::from(
                by_index
                    .values()
                    .map(|s| s.dir.display().to_string())
                    .collect::<Vec<_>>(),
            ),
        );
    }
    // records.jsonl last: its presence says the merge is done.
    store::write_atomically_at(
        &out.join("run.json"),
        serde_json::to_string_pretty(&config)
            .unwrap_or_default()
            .as_bytes(),
        Some(crate::interrupt::Phase::Merge),
    )?;
    store::write_atomically_at(
        &out.join("records.jsonl"),
        text.as_bytes(),
        Some(crate::interrupt::Phase::Merge),
    )?;
    let mut notes = Vec::new();
    if loose > 0 {
        notes.push(format!(
            "left out {loose} record(s) made outside once(…) units: each shard made its own \
             (they depend on the units it ran); compute summaries from the merged file"
        ));
    }
    Ok(Merged {
        dir: out,
        units: units.len(),
        records: count_records,
        notes,
    })
}
