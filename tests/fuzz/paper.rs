//! The paper's persona-file importer (`paper::import::translate_file`): the fixture in the
//! paper's format (tests/fixtures/paper_format/personas.py) damaged token-wise — a lambda's
//! body replaced by a generated Python expression (calls of the known helpers with wrong
//! arities and types, deep nesting, comprehensions, long literals, unterminated strings),
//! tuples cut, lines dropped or duplicated, brackets unbalanced — or byte-wise. The importer
//! must translate or name what it cannot, without running anything.

use crate::gguf::scratch_dir;
use crate::harness::{self, Pick, Target, Verdict};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

fn fixture() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/paper_format/personas.py"),
    )
    .unwrap()
}

fn python_expression(rng: &mut ChaCha8Rng, depth: usize) -> String {
    let leaf = [
        "x",
        "1",
        "0",
        "-1",
        "2.5",
        "'a'",
        "\"b c\"",
        "True",
        "None",
        "[]",
        "x.split()",
        "len(x)",
        "common_words_list",
        "string.punctuation",
        "'\\n'",
        "1e400",
        "10**400",
        "'unterminated",
        "r'\\b\\d+\\b'",
        "f'{x}'",
        "b'bytes'",
    ];
    if depth == 0 || rng.chance(300) {
        return rng.pick(&leaf).to_string();
    }
    let a = python_expression(rng, depth - 1);
    let b = python_expression(rng, depth - 1);
    match rng.below(16) {
        0 => format!("{a} / {b}"),
        1 => format!("{a} in {b}"),
        2 => format!("({a}) + ({b})"),
        3 => format!("{a} if {b} else 0"),
        4 => format!("not {a}"),
        5 => format!(
            "{a}.{}({b})",
            rng.pick(&[
                "count",
                "startswith",
                "endswith",
                "split",
                "lower",
                "strip",
                "isupper",
                "find"
            ])
        ),
        6 => format!("[w for w in {a} if {b}]"),
        7 => format!("sum(1 for w in {a})"),
        8 => format!(
            "{}({a})",
            rng.pick(&[
                "fraction_starts_with",
                "teenager_score",
                "contains_color_and_number",
                "split_into_sentences",
                "len",
                "max",
                "min",
                "abs",
                "bool",
                "int",
                "float",
                "sorted",
                "set",
                "re.findall",
                "unknown_helper"
            ])
        ),
        9 => format!(
            "{}({a}, {b})",
            rng.pick(&[
                "fraction_starts_with",
                "re.search",
                "re.sub",
                "max",
                "isinstance",
                "getattr"
            ])
        ),
        10 => format!("{a}[{b}]"),
        11 => format!("{a}[{b}:{b}]"),
        12 => format!("lambda y: {a}"),
        13 => format!("{a} == {b} and {a} != {b}"),
        14 => format!(
            "{}{a}{}",
            "(".repeat(1 + rng.below(300)),
            ")".repeat(1 + rng.below(300))
        ),
        _ => format!("{{{a}: {b}}}"),
    }
}

fn generate(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let text = fixture();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for _ in 0..1 + rng.below(3) {
        let lambdas: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].contains("lambda x:"))
            .collect();
        match rng.below(6) {
            0 | 1 if !lambdas.is_empty() => {
                let i = *rng.pick(&lambdas);
                let at = lines[i].find("lambda x:").unwrap() + "lambda x:".len();
                lines[i] = format!("{} {}),", &lines[i][..at], python_expression(rng, 3));
            }
            2 => {
                let i = rng.below(lines.len());
                lines.remove(i);
            }
            3 => {
                let i = rng.below(lines.len());
                let copy = lines[i].clone();
                lines.insert(i, copy);
            }
            4 => {
                let i = rng.below(lines.len());
                let cut = lines[i].floor_char_boundary(rng.below(lines[i].len() + 1));
                lines[i].truncate(cut);
            }
            _ => {
                let mut bytes = lines.join("\n").into_bytes();
                harness::mutate_bytes(rng, &mut bytes);
                lines = String::from_utf8_lossy(&bytes)
                    .lines()
                    .map(String::from)
                    .collect();
            }
        }
    }
    (lines.join("\n") + "\n").into_bytes()
}

fn check(input: &[u8]) -> Verdict {
    let dir = scratch_dir();
    let path = dir.join("personas.py");
    std::fs::write(&path, input).unwrap();
    let skip_unknown = input.len().is_multiple_of(2);
    if let Err(e) = drift_script::paper::import::translate_file(&path, skip_unknown)
        && e.to_string().trim().is_empty()
    {
        return Err("an import error without a message".into());
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[test]
fn the_fixture_translates() {
    let dir = scratch_dir();
    let path = dir.join("personas.py");
    std::fs::write(&path, fixture()).unwrap();
    let (imported, _, _) =
        drift_script::paper::import::translate_file(&path, false).expect("the fixture translates");
    assert!(!imported.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn paper() {
    harness::fuzz(
        Target {
            name: "paper",
            extension: "py",
            cases: 300,
        },
        generate,
        check,
    );
}
