//! The seeded driver every target shares: a fixed number of generated cases (environment
//! `DRIFT_FUZZ_CASES` overrides it; `DRIFT_FUZZ_SEED` picks another stream), each run on its own
//! thread under a watchdog, panics caught; the regression corpus replayed first.
//!
//! A failing input (a panic, a broken property, a case that outlives the watchdog) is printed
//! with its seed and case number and saved under `tests/fixtures/fuzz/<target>/`, where every
//! later run replays it. An allocation past the cap (see `main.rs`) saves the input and aborts.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

/// The seed of the generated stream unless `DRIFT_FUZZ_SEED` says otherwise.
const DEFAULT_SEED: u64 = 0x5eed_d21f_7000_0001;
/// How long one case may run before it counts as a hang. Generous: the machine is shared and
/// the suite may run unoptimised; a real hang runs forever.
const HANG_LIMIT: Duration = Duration::from_secs(60);
/// Failing inputs reported (and saved) per target before it stops looking.
const MAX_FAILURES: usize = 5;
/// The stack of a case thread: the main thread's (8 MiB), where the tool runs templates and
/// parsers too.
const CASE_STACK: usize = 8 << 20;

/// What a case returned: `Ok` for a result or a clear error, `Err` for a broken property.
pub type Verdict = Result<(), String>;

/// One fuzz target: its name (the corpus folder) and the file extension of its inputs.
pub struct Target {
    pub name: &'static str,
    pub extension: &'static str,
    /// Cases per `cargo test` run.
    pub cases: u64,
}

/// A running input: its target's name, the corpus files' extension, and its bytes.
type RunningInput = (&'static str, &'static str, Arc<Vec<u8>>);

thread_local! {
    /// The input the current thread is running, for the allocation cap's report.
    static CURRENT: RefCell<Option<RunningInput>> = const { RefCell::new(None) };
}

/// Saves the input this thread is running (called by the allocator before it aborts).
pub fn save_current_input() -> Option<PathBuf> {
    CURRENT
        .try_with(|c| {
            c.try_borrow()
                .ok()
                .and_then(|c| c.clone())
                .map(|(name, ext, input)| save(name, ext, &input))
        })
        .ok()
        .flatten()
}

pub fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fuzz")
        .join(target)
}

/// Writes a failing input into the corpus, named by its content's hash.
fn save(target: &str, extension: &str, input: &[u8]) -> PathBuf {
    let dir = corpus_dir(target);
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("found-{:016x}.{extension}", fnv1a(input)));
    let _ = std::fs::write(&path, input);
    path
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The input as text for a failure message: UTF-8 when it is, hex otherwise; long ones cut.
pub fn show(input: &[u8]) -> String {
    const SHOWN: usize = 3000;
    let cut = &input[..input.len().min(SHOWN)];
    let mut text = match std::str::from_utf8(cut) {
        Ok(s) => s.to_string(),
        Err(e) if e.valid_up_to() + 4 > cut.len() => {
            String::from_utf8_lossy(&cut[..e.valid_up_to()]).into_owned()
        }
        Err(_) => cut
            .chunks(32)
            .map(|row| row.iter().map(|b| format!("{b:02x}")).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n"),
    };
    if input.len() > SHOWN {
        text.push_str(&format!("\n… ({} bytes in all)", input.len()));
    }
    text
}

fn env_u64(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let text = text.trim();
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// The generator's random source for case `index` of `target`: independent of every other
/// case, so one case is reproduced from (seed, target, index) alone.
pub fn case_rng(seed: u64, target: &str, index: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&fnv1a(target.as_bytes()).to_le_bytes());
    key[16..24].copy_from_slice(&index.to_le_bytes());
    ChaCha8Rng::from_seed(key)
}

/// Runs `check` on one input on its own thread: `None` when it behaved, else what went wrong.
fn run_case<F>(target: &Target, check: &Arc<F>, input: Arc<Vec<u8>>) -> Option<String>
where
    F: Fn(&[u8]) -> Verdict + Send + Sync + 'static,
{
    let (done, wait) = mpsc::channel();
    let check = Arc::clone(check);
    let (name, extension) = (target.name, target.extension);
    std::thread::Builder::new()
        .name(format!("fuzz-{name}"))
        .stack_size(CASE_STACK)
        .spawn(move || {
            CURRENT.with(|c| *c.borrow_mut() = Some((name, extension, Arc::clone(&input))));
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&input)));
            CURRENT.with(|c| *c.borrow_mut() = None);
            let _ = done.send(match outcome {
                Ok(Ok(())) => None,
                Ok(Err(property)) => Some(format!("property broken: {property}")),
                Err(panic) => Some(format!("panicked: {}", panic_text(&panic))),
            });
        })
        .expect("spawning a case thread");
    match wait.recv_timeout(HANG_LIMIT) {
        Ok(outcome) => outcome,
        // The thread is left running: the test fails anyway.
        Err(_) => Some(format!("still running after {}s", HANG_LIMIT.as_secs())),
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(a panic without a message)".into())
}

/// Replays the target's corpus, then runs its generated cases; fails the test with every
/// failing input (up to `MAX_FAILURES`) shown and saved.
pub fn fuzz<G, F>(target: Target, generate: G, check: F)
where
    G: Fn(&mut ChaCha8Rng) -> Vec<u8>,
    F: Fn(&[u8]) -> Verdict + Send + Sync + 'static,
{
    let check = Arc::new(check);
    let mut failures = Vec::new();

    let mut corpus: Vec<PathBuf> = std::fs::read_dir(corpus_dir(target.name))
        .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    corpus.sort();
    for path in &corpus {
        let input = std::fs::read(path).unwrap();
        if let Some(why) = run_case(&target, &check, Arc::new(input.clone())) {
            failures.push(format!(
                "corpus file {}: {why}\ninput:\n{}",
                path.display(),
                show(&input)
            ));
        }
    }

    let seed = env_u64("DRIFT_FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    let cases = env_u64("DRIFT_FUZZ_CASES").unwrap_or(target.cases);
    let started = std::time::Instant::now();
    for index in 0..cases {
        if failures.len() >= MAX_FAILURES {
            break;
        }
        let input = generate(&mut case_rng(seed, target.name, index));
        if let Some(why) = run_case(&target, &check, Arc::new(input.clone())) {
            let saved = save(target.name, target.extension, &input);
            failures.push(format!(
                "case {index} (DRIFT_FUZZ_SEED={seed:#x}): {why}\nsaved as {}\ninput:\n{}",
                saved.display(),
                show(&input)
            ));
        }
    }
    eprintln!(
        "fuzz {}: {} corpus inputs, {cases} generated cases in {:.1}s, {} failing",
        target.name,
        corpus.len(),
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "fuzz target `{}`: {} failing input(s)\n\n{}",
        target.name,
        failures.len(),
        failures.join("\n\n")
    );
}

/// Small helpers for generators.
pub trait Pick {
    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize;
    fn chance(&mut self, per_thousand: u32) -> bool;
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T;
}

impl Pick for ChaCha8Rng {
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, per_thousand: u32) -> bool {
        self.next_u32() % 1000 < per_thousand
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Numbers that find boundary bugs: zero, one, powers of two and their neighbours, the type
/// limits, and lengths far beyond any file.
pub fn interesting_u64(rng: &mut ChaCha8Rng) -> u64 {
    const VALUES: &[u64] = &[
        0,
        1,
        2,
        3,
        7,
        8,
        31,
        32,
        255,
        256,
        4095,
        65535,
        65536,
        u32::MAX as u64,
        u32::MAX as u64 + 1,
        1 << 40,
        1 << 60,
        i64::MAX as u64,
        u64::MAX - 1,
        u64::MAX,
    ];
    match rng.below(3) {
        0 => rng.next_u64(),
        1 => rng.next_u64() % 1024,
        _ => *rng.pick(VALUES),
    }
}

/// Byte-level damage to any input: cut it, flip bytes, drop, duplicate or splice a slice.
pub fn mutate_bytes(rng: &mut ChaCha8Rng, bytes: &mut Vec<u8>) {
    if bytes.is_empty() {
        bytes.push(rng.next_u32() as u8);
        return;
    }
    match rng.below(6) {
        0 => bytes.truncate(rng.below(bytes.len())),
        1 => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(bytes.len());
                bytes[i] = rng.next_u32() as u8;
            }
        }
        2 => {
            let start = rng.below(bytes.len());
            let end = (start + 1 + rng.below(64)).min(bytes.len());
            bytes.drain(start..end);
        }
        3 => {
            let start = rng.below(bytes.len());
            let end = (start + 1 + rng.below(256)).min(bytes.len());
            let slice = bytes[start..end].to_vec();
            let at = rng.below(bytes.len() + 1);
            bytes.splice(at..at, slice);
        }
        4 => {
            let i = rng.below(bytes.len());
            bytes[i] ^= 1 << rng.below(8);
        }
        _ => {
            let at = rng.below(bytes.len() + 1);
            let junk: Vec<u8> = (0..1 + rng.below(16))
                .map(|_| *rng.pick(b"{}[]\"\\:,0-9.eE \n\x00\xff"))
                .collect();
            bytes.splice(at..at, junk);
        }
    }
}

/// A random piece of text: words, punctuation, other scripts, control characters, very long.
pub fn random_text(rng: &mut ChaCha8Rng, max_len: usize) -> String {
    const PIECES: &[&str] = &[
        "the",
        "I",
        "you",
        "bonjour",
        "je",
        "suis",
        "Hello",
        "!",
        "?",
        ".",
        ",",
        " ",
        "  ",
        "\n",
        "\t",
        "42",
        "3.14",
        "-1",
        "é",
        "日本語",
        "🙂",
        "\u{0}",
        "\u{feff}",
        "\u{202e}",
        "\"",
        "'",
        "\\",
        "{",
        "}",
        "<|im_start|>",
        "<|im_end|>",
        "</s>",
        "<s>",
        "ß",
        "İ",
    ];
    let mut text = String::new();
    let target = rng.below(max_len + 1);
    while text.len() < target {
        let piece: &str = PIECES[rng.below(PIECES.len())];
        text.push_str(piece);
    }
    text
}

/// A JSON value of a kind readers do not expect: wrong types, extreme numbers, long text.
pub fn hostile_json(rng: &mut ChaCha8Rng) -> serde_json::Value {
    use serde_json::json;
    match rng.below(11) {
        0 => json!(null),
        1 => json!(interesting_u64(rng)),
        2 => json!(-(rng.below(1 << 20) as i64) - 1),
        3 => json!(random_text(rng, 30)),
        4 => json!([]),
        5 => json!({}),
        6 => json!([interesting_u64(rng), "x", null]),
        7 => json!(1e300),
        8 => json!(true),
        9 => json!("x".repeat(1 << (8 + rng.below(14)))),
        _ => json!({"type": random_text(rng, 8), "id": interesting_u64(rng)}),
    }
}

/// Damages one node of a JSON tree, chosen by a random walk from the root: replaced by a
/// hostile value, removed, its array elements duplicated or dropped, or a key added.
pub fn mutate_json(rng: &mut ChaCha8Rng, value: &mut serde_json::Value) {
    use serde_json::Value;
    // Walk down while the coin says so.
    if rng.chance(700) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                let key = map.keys().nth(rng.below(map.len())).unwrap().clone();
                return mutate_json(rng, map.get_mut(&key).unwrap());
            }
            Value::Array(items) if !items.is_empty() => {
                let i = rng.below(items.len());
                return mutate_json(rng, &mut items[i]);
            }
            _ => {}
        }
    }
    let node = value;
    match node {
        Value::Object(map) if !map.is_empty() && rng.chance(500) => {
            let key = map.keys().nth(rng.below(map.len())).unwrap().clone();
            if rng.chance(500) {
                map.remove(&key);
            } else {
                map.insert(key, hostile_json(rng));
            }
        }
        Value::Array(items) if !items.is_empty() && rng.chance(500) => match rng.below(3) {
            0 => items.truncate(rng.below(items.len())),
            1 => {
                let copy = items.clone();
                items.extend(copy);
            }
            _ => {
                let i = rng.below(items.len());
                items[i] = hostile_json(rng);
            }
        },
        other => *other = hostile_json(rng),
    }
}
