//! Results as JSON Lines, one run per folder, resumable by unit of work.
//!
//! A run folder (`selfchat/<script>-<hash of its parameters>/`) holds `run.json` (the resolved
//! configuration) and `records.jsonl`: one JSON object per line, appended and flushed as each
//! record is made, so a killed run loses at most the record being written.
//!
//! Resume works by *units*: a script wraps a piece of work in `once(key, || …)`; its records
//! carry `_meta.unit = key`, and when the unit finishes a marker line `{"_unit_done": key}` is
//! appended and synced to disk. Reopening the run keeps completed units and drops everything
//! else — records of a unit that was cut short and records made outside any unit, both of which
//! the rerun makes again — rewriting the file atomically. So a run killed at any point and run
//! again ends with exactly the records of an uninterrupted run, with no duplicates.
//!
//! One process at a time: an open run holds an exclusive `flock` on the folder's `.lock` file
//! (with its pid inside, for the message), and a second process started on the same folder
//! stops with `StoreError::Busy` before it writes anything. Units are never shared between
//! processes: cooperating ones would have to agree on the final order and on who rewrites the
//! file, which `--jobs` already does inside one process. The lock goes with the process, so a
//! killed run never leaves a stale one. Files a killed process was replacing
//! (`.NAME.tmp-PID`) are deleted by the next process to hold the lock.
//!
//! A write that fails (full disk, file-size limit) ends the run with the error; the half line
//! it may leave is dropped on reopening like a killed run's, and no later record is written
//! after it. `tests/crash.rs` and `drift-script bench reliability` kill real runs at every
//! phase (the `DRIFT_SCRIPT_KILL_AT` hook in `interrupt`) and check the resumed records.

use crate::interrupt::{self, Phase};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}:{line}: malformed record: {reason}")]
    Malformed {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("cannot write {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} belongs to a run with another configuration ({what}); use another --out folder, \
         restore what changed, or delete the folder to start over"
    )]
    ConfigMismatch { path: PathBuf, what: String },
    #[error(
        "{path} is in use by another drift-script process ({holder}), running the same script \
         with the same settings: wait for it to end, or give this one another --out folder"
    )]
    Busy { path: PathBuf, holder: String },
    #[error(
        "an earlier write to {path} failed, so this run writes nothing more after it; run the \
         same command again to resume once the cause is fixed"
    )]
    WriteFailedEarlier { path: PathBuf },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads a JSON Lines file: every non-blank line must be a JSON object. A last line without its
/// newline is a record cut short by a crash: it is reported in `truncated_tail` instead of
/// failing, because the run that wrote it is exactly the one being resumed. Lines are read as
/// bytes, since a cut can fall inside a multi-byte character.
pub fn read_jsonl(path: &Path) -> Result<JsonLines> {
    let file = File::open(path).map_err(io(path))?;
    let mut reader = BufReader::new(file);
    let mut records = Vec::new();
    let mut truncated_tail = None;
    let mut bytes = Vec::new();
    let mut number = 0;
    let mut ends_with_newline = true;
    loop {
        bytes.clear();
        let n = reader.read_until(b'\n', &mut bytes).map_err(io(path))?;
        if n == 0 {
            break;
        }
        number += 1;
        let complete = bytes.ends_with(b"\n");
        let text = match std::str::from_utf8(&bytes) {
            Ok(text) => text.trim(),
            Err(_) if !complete => {
                truncated_tail = Some(number);
                ends_with_newline = false;
                break;
            }
            Err(e) => {
                return Err(StoreError::Malformed {
                    path: path.into(),
                    line: number,
                    reason: format!("not UTF-8 text: {e}"),
                });
            }
        };
        if text.is_empty() {
            continue;
        }
        ends_with_newline = complete;
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => records.push((number, map)),
            Ok(_) => {
                return Err(StoreError::Malformed {
                    path: path.into(),
                    line: number,
                    reason: "not a JSON object".into(),
                });
            }
            // Only the last line can lack its newline.
            Err(_) if !complete => truncated_tail = Some(number),
            Err(e) => {
                return Err(StoreError::Malformed {
                    path: path.into(),
                    line: number,
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok(JsonLines {
        records,
        truncated_tail,
        ends_with_newline,
    })
}

pub struct JsonLines {
    /// (1-based line number, object)
    pub records: Vec<(usize, Map<String, Value>)>,
    pub truncated_tail: Option<usize>,
    /// False when the last line has no newline (appending would then glue two records).
    pub ends_with_newline: bool,
}

/// Key of the marker line that closes a unit.
pub const UNIT_DONE: &str = "_unit_done";
/// The unit's place among the units the script met (in its marker line), for ordering shards.
pub const UNIT_SEQ: &str = "_seq";

/// One item of a run's final order: a unit (its records and marker) or a record made outside
/// units.
pub enum Entry<'a> {
    Unit(&'a str),
    Record(&'a Map<String, Value>),
}

/// An open run: its folder, its records so far, and the file new records go to.
pub struct RunStore {
    dir: PathBuf,
    records_path: PathBuf,
    file: File,
    /// Records of completed units from earlier sessions, by unit key, in file order.
    done_units: HashMap<String, Vec<Map<String, Value>>>,
    /// Every record of this run in order (kept units, then new records).
    records: Vec<Map<String, Value>>,
    /// Notes for the user about what reopening found (dropped partial units, cut lines).
    pub notes: Vec<String>,
    /// Set when a write failed: the file may end in half a line, so nothing more is appended.
    write_failed: bool,
    /// Held open for the run's life: its `flock` keeps other processes out of the folder.
    _lock: File,
}

impl RunStore {
    /// Opens (or creates) the run folder. `config` is written to `run.json`; an existing folder
    /// whose `run.json` has other `identity` fields is refused rather than mixed.
    pub fn open(dir: &Path, config: &Value, identity_keys: &[&str]) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let lock = lock_folder(dir)?;
        remove_stale_temporaries(dir);
        let config_path = dir.join("run.json");
        if config_path.exists() {
            let text = std::fs::read_to_string(&config_path).map_err(io(&config_path))?;
            let old: Value = serde_json::from_str(&text).map_err(|e| StoreError::Malformed {
                path: config_path.clone(),
                line: e.line(),
                reason: e.to_string(),
            })?;
            for key in identity_keys {
                let (was, now) = (
                    old.get(key).unwrap_or(&Value::Null),
                    config.get(key).unwrap_or(&Value::Null),
                );
                if was != now {
                    let what = if *key == "script_sha256" {
                        // Units the old version finished would be kept as if the new one had
                        // written them.
                        format!(
                            "the script was edited since its units were written: sha256 {} then, \
                             {} now; resuming would mix the two versions' records",
                            short_hash(was),
                            short_hash(now)
                        )
                    } else {
                        format!("{key} was {was} and is now {now}")
                    };
                    return Err(StoreError::ConfigMismatch {
                        path: dir.into(),
                        what,
                    });
                }
            }
        }
        write_atomically(
            &config_path,
            serde_json::to_string_pretty(config)
                .unwrap_or_default()
                .as_bytes(),
        )?;

        let records_path = dir.join("records.jsonl");
        let mut notes = Vec::new();
        let mut done_units: HashMap<String, Vec<Map<String, Value>>> = HashMap::new();
        let mut kept = Vec::new();
        if records_path.exists() {
            let lines = read_jsonl(&records_path)?;
            if let Some(line) = lines.truncated_tail {
                notes.push(format!(
                    "dropped line {line}, cut short when the last run stopped"
                ));
            }
            let completed: std::collections::HashSet<String> = lines
                .records
                .iter()
                .filter_map(|(_, r)| r.get(UNIT_DONE).map(unit_key_of))
                .collect();
            let total = lines.records.len();
            let glued = !lines.ends_with_newline;
            let mut partial: HashMap<String, usize> = HashMap::new();
            let mut loose = 0;
            for (_, record) in lines.records {
                if let Some(key) = record.get(UNIT_DONE) {
                    kept.push(record.clone());
                    done_units.entry(unit_key_of(key)).or_default();
                    continue;
                }
                match record_unit(&record) {
                    Some(unit) if completed.contains(&unit) => {
                        done_units.entry(unit).or_default().push(record.clone());
                        kept.push(record);
                    }
                    Some(unit) => *partial.entry(unit).or_default() += 1,
                    None => loose += 1,
                }
            }
            for (unit, n) in &partial {
                notes.push(format!(
                    "unit {unit} was cut short: its {n} record(s) will be made again"
                ));
            }
            if loose > 0 {
                notes.push(format!(
                    "{loose} record(s) made outside any once(…) unit will be made again"
                ));
            }
            if kept.len() != total || glued {
                let mut text = String::new();
                for record in &kept {
                    text.push_str(&serde_json::to_string(record).unwrap_or_default());
                    text.push('\n');
                }
                write_atomically(&records_path, text.as_bytes())?;
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&records_path)
            .map_err(io(&records_path))?;
        let records = kept
            .into_iter()
            .filter(|r| !r.contains_key(UNIT_DONE))
            .collect();
        Ok(RunStore {
            dir: dir.into(),
            records_path,
            file,
            done_units,
            records,
            notes,
            write_failed: false,
            _lock: lock,
        })
    }

    /// Appends `line` to the records file; `crash_phase` is the test hook's place for it (the
    /// process is killed halfway through the line).
    fn write_line(&mut self, line: &str, crash_phase: Phase) -> Result<()> {
        if self.write_failed {
            return Err(StoreError::WriteFailedEarlier {
                path: self.records_path.clone(),
            });
        }
        if interrupt::at_crash_point(crash_phase) {
            // Half the bytes, cut wherever that falls (inside a character, too).
            let _ = self.file.write_all(&line.as_bytes()[..line.len() / 2]);
            interrupt::kill_now();
        }
        let result = self.file.write_all(line.as_bytes());
        if result.is_err() {
            self.write_failed = true;
        }
        result.map_err(io(&self.records_path))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn records_path(&self) -> &Path {
        &self.records_path
    }

    /// Records of a unit completed in an earlier session, if any.
    pub fn completed_unit(&self, key: &str) -> Option<&[Map<String, Value>]> {
        self.done_units.get(key).map(Vec::as_slice)
    }

    /// How many units are complete: those of earlier sessions, and this session's so far.
    pub fn completed_units(&self) -> usize {
        self.done_units.len()
    }

    /// Appends one record and hands it to the operating system before returning, so it
    /// survives the process being killed.
    pub fn append(&mut self, record: Map<String, Value>) -> Result<()> {
        let mut line = serde_json::to_string(&record).unwrap_or_default();
        line.push('\n');
        self.write_line(&line, Phase::Record)?;
        self.records.push(record);
        Ok(())
    }

    /// Closes a unit: its marker line (key and place among the script's units) is written and
    /// synced to disk.
    pub fn finish_unit(
        &mut self,
        key: &str,
        seq: u64,
        records: Vec<Map<String, Value>>,
    ) -> Result<()> {
        let mut line = serde_json::to_string(&marker(key, seq)).unwrap_or_default();
        line.push('\n');
        self.write_line(&line, Phase::Unit)?;
        if let Err(e) = self.file.sync_data() {
            self.write_failed = true;
            return Err(io(&self.records_path)(e));
        }
        self.done_units.insert(key.into(), records);
        Ok(())
    }

    /// All records of the run so far, in the order they were written.
    pub fn records(&self) -> &[Map<String, Value>] {
        &self.records
    }

    /// Ends a run that went to the end: rewrites `records.jsonl` in `order` (the script's
    /// order; units completed by earlier sessions or other workers take their place in it,
    /// units this shard does not own are absent) and records in `run.json` that the run is
    /// complete and how many units it met, which `merge` checks.
    pub fn finish_run(&mut self, order: &[Entry<'_>], config: &Value) -> Result<()> {
        if self.write_failed {
            return Err(StoreError::WriteFailedEarlier {
                path: self.records_path.clone(),
            });
        }
        let mut text = String::new();
        let mut records = Vec::new();
        let mut seq = 0u64;
        for entry in order {
            match entry {
                Entry::Unit(key) => {
                    if let Some(unit) = self.done_units.get(*key) {
                        for record in unit {
                            text.push_str(&serde_json::to_string(record).unwrap_or_default());
                            text.push('\n');
                            records.push(record.clone());
                        }
                        text.push_str(
                            &serde_json::to_string(&marker(key, seq)).unwrap_or_default(),
                        );
                        text.push('\n');
                    }
                    seq += 1;
                }
                Entry::Record(record) => {
                    text.push_str(&serde_json::to_string(record).unwrap_or_default());
                    text.push('\n');
                    records.push((*record).clone());
                }
            }
        }
        let current = std::fs::read_to_string(&self.records_path).unwrap_or_default();
        if current != text {
            write_atomically_at(&self.records_path, text.as_bytes(), Some(Phase::Final))?;
            self.file = OpenOptions::new()
                .append(true)
                .open(&self.records_path)
                .map_err(io(&self.records_path))?;
        }
        self.records = records;
        let mut config = config.clone();
        config["complete"] = serde_json::json!({"units": seq});
        write_atomically_at(
            &self.dir.join("run.json"),
            serde_json::to_string_pretty(&config)
                .unwrap_or_default()
                .as_bytes(),
            Some(Phase::Final),
        )
    }
}

/// The first 12 hex digits of a hash held in `value`, for messages.
fn short_hash(value: &Value) -> String {
    match value.as_str() {
        Some(hash) => format!("{}…", &hash[..hash.len().min(12)]),
        None => value.to_string(),
    }
}

fn marker(key: &str, seq: u64) -> Map<String, Value> {
    let mut marker = Map::new();
    marker.insert(UNIT_DONE.into(), Value::String(key.into()));
    marker.insert(UNIT_SEQ.into(), Value::from(seq));
    marker
}

fn unit_key_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The unit a record belongs to (`_meta.unit`), if any.
pub fn record_unit(record: &Map<String, Value>) -> Option<String> {
    record.get("_meta")?.get("unit").map(unit_key_of)
}

/// Takes the run folder's lock (`.lock`, exclusive, not waiting), or says who holds it.
pub fn lock_folder(dir: &Path) -> Result<File> {
    take_lock(dir, libc::LOCK_EX)
}

/// A shared lock on a run folder that is read (a shard being merged): refused while a run
/// writes there. A folder without `.lock` (never run by this version) needs none.
pub fn lock_folder_for_reading(dir: &Path) -> Result<Option<File>> {
    if !dir.join(LOCK_FILE).exists() {
        return Ok(None);
    }
    take_lock(dir, libc::LOCK_SH).map(Some)
}

const LOCK_FILE: &str = ".lock";

fn take_lock(dir: &Path, kind: libc::c_int) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io(&path))?;
    // SAFETY: flock(2) on a descriptor this function owns.
    if unsafe { libc::flock(file.as_raw_fd(), kind | libc::LOCK_NB) } != 0 {
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(io(&path)(error));
        }
        let holder = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok())
            .map_or_else(|| "pid unknown".to_string(), |pid| format!("pid {pid}"));
        return Err(StoreError::Busy {
            path: dir.into(),
            holder,
        });
    }
    if kind == libc::LOCK_EX {
        file.set_len(0).map_err(io(&path))?;
        write!(file, "{}", std::process::id()).map_err(io(&path))?;
    }
    Ok(file)
}

/// Deletes the `.NAME.tmp-PID` files a killed process left while replacing a file. Only for a
/// folder whose lock this process holds: then nobody else is writing one.
pub fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.contains(".tmp-") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Writes a file so that readers see either the old or the new content, never a mix.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically_at(path, bytes, None)
}

/// `write_atomically`, with the crash tests' hook between writing the new file and renaming it.
pub fn write_atomically_at(path: &Path, bytes: &[u8], crash_phase: Option<Phase>) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        if let Some(phase) = crash_phase {
            interrupt::crash_point(phase);
        }
        std::fs::rename(&tmp, path)?;
        // The rename itself survives a power cut only once the folder is synced.
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("drift-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn record(unit: Option<&str>, value: i64) -> Map<String, Value> {
        let mut r = json!({"value": value}).as_object().unwrap().clone();
        if let Some(unit) = unit {
            r.insert("_meta".into(), json!({"unit": unit}));
        }
        r
    }

    #[test]
    fn reopening_keeps_completed_units_only() {
        let dir = temp("reopen");
        let config = json!({"script": "a.rhai"});
        {
            let mut store = RunStore::open(&dir, &config, &["script"]).unwrap();
            store.append(record(Some("1"), 1)).unwrap();
            store
                .finish_unit("1", 0, vec![record(Some("1"), 1)])
                .unwrap();
            store.append(record(None, 99)).unwrap();
            store.append(record(Some("2"), 2)).unwrap(); // unit 2 never finishes
        }
        // A crash in the middle of a line.
        let path = dir.join("records.jsonl");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"value\": 3, \"_me").unwrap();
        drop(f);
        let store = RunStore::open(&dir, &config, &["script"]).unwrap();
        assert_eq!(store.records().len(), 1);
        assert_eq!(store.completed_unit("1").unwrap().len(), 1);
        assert!(store.completed_unit("2").is_none());
        assert_eq!(store.notes.len(), 3, "{:?}", store.notes);
        let lines = read_jsonl(&path).unwrap();
        assert_eq!(
            lines.records.len(),
            2,
            "the file was rewritten with unit 1 and its marker"
        );
        drop(store);
        let other = RunStore::open(&dir, &json!({"script": "b.rhai"}), &["script"])
            .err()
            .unwrap();
        assert!(
            other
                .to_string()
                .contains("script was \"a.rhai\" and is now \"b.rhai\""),
            "{other}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A resumed run must hand back the very doubles it wrote: serde_json's default float
    /// parser is off by one unit in the last place for some values, 1/65 among them.
    #[test]
    fn floats_survive_reopening_bit_for_bit() {
        let dir = temp("floats");
        let config = json!({"script": "a.rhai"});
        let values = [
            1.0 / 65.0,
            0.1 + 0.2,
            1.0 / 3.0,
            2.0f64.powi(-1074),
            1e300 / 7.0,
        ];
        {
            let mut store = RunStore::open(&dir, &config, &["script"]).unwrap();
            let records: Vec<_> = values
                .iter()
                .map(|&v| {
                    let mut r = json!({"score": v}).as_object().unwrap().clone();
                    r.insert("_meta".into(), json!({"unit": "1"}));
                    r
                })
                .collect();
            for r in &records {
                store.append(r.clone()).unwrap();
            }
            store.finish_unit("1", 0, records).unwrap();
        }
        let store = RunStore::open(&dir, &config, &["script"]).unwrap();
        let read: Vec<f64> = store.completed_unit("1").unwrap()[..values.len()]
            .iter()
            .map(|r| r["score"].as_f64().unwrap())
            .collect();
        for (got, want) in read.iter().zip(values) {
            assert_eq!(
                got.to_bits(),
                want.to_bits(),
                "{got:e} read back for {want:e}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A crash can cut a line inside a multi-byte character: that last line is dropped like any
    /// other cut line (it used to stop the resume with "stream did not contain valid UTF-8").
    #[test]
    fn a_line_cut_inside_a_character_is_dropped_on_reopening() {
        let dir = temp("utf8-cut");
        let config = json!({"script": "a.rhai"});
        {
            let mut store = RunStore::open(&dir, &config, &["script"]).unwrap();
            let mut r = record(Some("1"), 1);
            r.insert("text".into(), json!("été"));
            store.append(r.clone()).unwrap();
            store.finish_unit("1", 0, vec![r]).unwrap();
        }
        let path = dir.join("records.jsonl");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        // "{"text":"é" cut after the first of é's two bytes.
        f.write_all(&"{\"text\":\"é".as_bytes()[..10]).unwrap();
        drop(f);
        let store = RunStore::open(&dir, &config, &["script"]).unwrap();
        assert_eq!(store.completed_unit("1").unwrap()[0]["text"], "été");
        assert_eq!(
            store.notes,
            ["dropped line 3, cut short when the last run stopped"]
        );
        drop(store);
        // Invalid UTF-8 in a complete line is not a cut: it is named.
        std::fs::write(&path, b"{\"a\": 1}\n{\"a\": \"\xff\"}\n").unwrap();
        let err = read_jsonl(&path).err().unwrap().to_string();
        assert!(
            err.contains("records.jsonl:2: malformed record: not UTF-8"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// One process per run folder: a second open is refused with the holder's pid (flock locks
    /// belong to an open file, so a second open in one process conflicts too), and a store
    /// that is dropped frees the folder.
    #[test]
    fn a_run_folder_is_held_by_one_store_at_a_time() {
        let dir = temp("lock");
        let config = json!({"script": "a.rhai"});
        let first = RunStore::open(&dir, &config, &["script"]).unwrap();
        let err = RunStore::open(&dir, &config, &["script"]).err().unwrap();
        assert!(
            err.to_string().contains(&format!(
                "is in use by another drift-script process (pid {})",
                std::process::id()
            )),
            "{err}"
        );
        drop(first);
        RunStore::open(&dir, &config, &["script"]).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A killed process's half-written replacement files are deleted by the next one.
    #[test]
    fn temporaries_left_by_a_killed_process_are_removed() {
        let dir = temp("stale");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(".records.jsonl.tmp-4242"), "{\"half\"").unwrap();
        std::fs::write(dir.join("notes.txt"), "mine").unwrap();
        RunStore::open(&dir, &json!({}), &[]).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".lock", "notes.txt", "records.jsonl", "run.json"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn malformed_lines_are_named() {
        let dir = temp("malformed");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.jsonl");
        std::fs::write(&path, "{\"a\": 1}\n\n{\"a\": oops}\n{\"a\": 3}\n").unwrap();
        let err = read_jsonl(&path).err().unwrap().to_string();
        assert!(err.contains("r.jsonl:3: malformed record"), "{err}");
        std::fs::write(&path, "{\"a\": 1}\n[1, 2]\n").unwrap();
        let err = read_jsonl(&path).err().unwrap().to_string();
        assert!(
            err.contains(":2: malformed record: not a JSON object"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
