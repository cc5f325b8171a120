//! Persona TOML libraries (`persona::Library::load`): the shipped library with one file
//! damaged: a node of its TOML tree replaced by a value of another type or size, a key dropped,
//! a persona duplicated, a check replaced by a hostile Rhai expression (runaway loops, string
//! doubling, deep recursion, calls that do not exist), or its bytes cut and flipped. A library
//! that loads must also score its personas on a random answer. An input is the library as a
//! JSON object of file names to texts.

use crate::gguf::scratch_dir;
use crate::harness::{self, Pick, Target, Verdict};
use drift_script::persona::Library;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};
use std::path::Path;

const HOSTILE_CHECKS: &[&str] = &[
    "loop {}",
    "{ let s = \"ab\"; loop { s += s; } }",
    "{ let s = \"ab\"; for i in 0..40 { s += s; } s.len() }",
    "{ let a = []; let s = \"x\"; for i in 0..23 { s += s; } for i in 0..1000 { a.push(s + i); } a.len() }",
    "{ let a = [1]; for i in 0..40 { a += a; } a.len() }",
    "{ let m = #{}; for i in 0..100000 { m[`k${i}`] = i; } 1 }",
    "{ fn f(n) { f(n + 1) } f(0) }",
    "((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))",
    "no_such_function(x)",
    "x.no_such_property",
    "word_list(\"absent\").contains(x)",
    "sentence_start_fraction(x, \"\")",
    "word_start_fraction(x, 42)",
    "1 / 0",
    "9223372036854775807 + 1",
    "x[100000]",
    "\"\\u{d800}\"",
    "",
];

fn library() -> Map<String, Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("personas");
    let mut files = Map::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            files.insert(name, json!(std::fs::read_to_string(&path).unwrap()));
        }
    }
    files
}

fn generate(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut files = library();
    let names: Vec<String> = files.keys().cloned().collect();
    let name = rng.pick(&names).clone();
    let text = files[&name].as_str().unwrap().to_string();
    let damaged = match rng.below(4) {
        0 => {
            let mut bytes = text.into_bytes();
            for _ in 0..1 + rng.below(3) {
                harness::mutate_bytes(rng, &mut bytes);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        1 => {
            // A hostile check for one persona.
            let mut table: toml::Table = toml::from_str(&text).unwrap();
            if let Some(toml::Value::Array(personas)) = table.get_mut("persona") {
                let i = rng.below(personas.len());
                personas[i]["check"] = toml::Value::String(rng.pick(HOSTILE_CHECKS).to_string());
                if rng.chance(300) {
                    let copy = personas[i].clone();
                    personas.push(copy);
                }
            }
            toml::to_string(&table).unwrap()
        }
        _ => {
            // A node of the tree damaged, through JSON (TOML has no null: such a value is
            // dropped by the round trip, which is damage too).
            let table: toml::Table = toml::from_str(&text).unwrap();
            let mut value = serde_json::to_value(&table).unwrap();
            for _ in 0..1 + rng.below(3) {
                harness::mutate_json(rng, &mut value);
            }
            strip_nulls(&mut value);
            toml::to_string(&value).unwrap_or(text)
        }
    };
    files.insert(name, json!(damaged));
    serde_json::to_vec(&Value::Object(files)).unwrap()
}

fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => {
            items.retain(|v| !v.is_null());
            items.iter_mut().for_each(strip_nulls);
        }
        _ => {}
    }
}

fn check(input: &[u8]) -> Verdict {
    let Ok(Value::Object(files)) = serde_json::from_slice::<Value>(input) else {
        return Ok(());
    };
    let dir = scratch_dir();
    for (name, text) in &files {
        let safe = Path::new(name).file_name().map(|n| n.to_owned());
        if let (Some(file), Some(text)) = (safe, text.as_str()) {
            std::fs::write(dir.join(file), text).unwrap();
        }
    }
    if let Ok(library) = Library::load(&dir) {
        let mut rng = harness::case_rng(0, "persona-answer", input.len() as u64);
        let answer = harness::random_text(&mut rng, 200);
        for persona in library.personas() {
            let _ = library.score(persona, &answer);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[test]
fn the_shipped_library_loads() {
    let dir = scratch_dir();
    for (name, text) in library() {
        std::fs::write(dir.join(name), text.as_str().unwrap()).unwrap();
    }
    Library::load(&dir).expect("the shipped library loads");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn persona() {
    harness::fuzz(
        Target {
            name: "persona",
            extension: "json",
            cases: 120,
        },
        generate,
        check,
    );
}
