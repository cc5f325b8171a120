//! The tiny-model kit shared by `tests/formats.rs` and `tests/families.rs`: seeded weights, a
//! temporary folder, the default model's GGUF metadata (for its tokenizer), and loading models
//! and comparing their logits. Each file builds its own models with these.

// Each test file uses its own part of the kit.
#![allow(dead_code)]

use candle_core::quantized::gguf_file::{self, Value};
use drift_script::model::local::kv_cache::KvPrecision;
use drift_script::model::local::loader::WeightMode;
use drift_script::model::{LocalModel, LocalOptions};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The default model's vocabulary, which every tiny model borrows with its tokenizer.
pub const VOCAB: usize = 49152;

/// splitmix64 seeded by FNV-1a of a label: every tensor its own stream, independent of test
/// order.
pub struct Rng(u64);

impl Rng {
    pub fn new(label: &str) -> Self {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for b in label.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
        Rng(h)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// A temporary folder, named after the test binary, removed when dropped (also when the test
/// fails).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "drift-{}-{}-{name}",
            env!("CARGO_CRATE_NAME"),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The default model's GGUF metadata (read once per test binary).
pub fn default_metadata() -> &'static HashMap<String, Value> {
    static META: OnceLock<HashMap<String, Value>> = OnceLock::new();
    META.get_or_init(|| {
        let path = drift_script::fetch::default_model_path(&mut |m| eprintln!("{m}"))
            .expect("default model");
        let mut file = std::fs::File::open(&path).unwrap();
        gguf_file::Content::read(&mut file)
            .expect("read the default model's header")
            .metadata
    })
}

/// Two threads and an f32 key/value cache, so that comparisons see only the weights' effect.
pub fn options(weights: WeightMode) -> LocalOptions {
    LocalOptions {
        threads: 2,
        weights,
        kv_precision: KvPrecision::F32,
        ..Default::default()
    }
}

pub fn load_gguf(path: &Path, weights: WeightMode) -> LocalModel {
    LocalModel::load_gguf(path, &options(weights))
        .unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
}

pub fn load_hf(dir: &Path, weights: WeightMode) -> LocalModel {
    LocalModel::load_hf(dir, &options(weights))
        .unwrap_or_else(|e| panic!("loading {}: {e}", dir.display()))
}

/// `len` token ids spread over the whole vocabulary.
pub fn prompt(seed: &str, len: usize) -> Vec<u32> {
    let mut rng = Rng::new(seed);
    (0..len)
        .map(|_| (rng.next_u64() % VOCAB as u64) as u32)
        .collect()
}

/// Last-position logits of `ids`, all finite.
pub fn logits(model: &LocalModel, ids: &[u32]) -> Vec<f32> {
    let out = model.prompt_logits(ids, false).unwrap();
    assert_eq!(out.len(), VOCAB);
    assert!(out.iter().all(|x| x.is_finite()), "non-finite logits");
    out
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

pub fn max_abs(a: &[f32]) -> f32 {
    a.iter().map(|x| x.abs()).fold(0.0, f32::max)
}
