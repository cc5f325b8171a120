//! Registers seeded random streams (`rng(seed)`, `int`, `float`, `pick`, `shuffle`, `sample`). No
//! experiment logic here: draw numbers, convert them.

use super::{Fallible, fail};
use rhai::{Array, Dynamic, Engine};
use std::sync::{Arc, Mutex};

/// A seeded random stream. Copies share the stream (scripts pass it around by reference).
#[derive(Clone)]
pub struct ScriptRng(Arc<Mutex<rand_chacha::ChaCha20Rng>>);

impl ScriptRng {
    fn next(&self) -> u64 {
        use rand_chacha::rand_core::Rng;
        self.0.lock().unwrap().next_u64()
    }

    /// Uniform in `0..n` without modulo bias.
    fn below(&self, n: u64) -> u64 {
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let v = self.next();
            if v < zone {
                return v % n;
            }
        }
    }
}

pub(super) fn register(engine: &mut Engine) {
    use rand_chacha::rand_core::SeedableRng;
    engine.register_type_with_name::<ScriptRng>("Rng");
    engine.register_fn("rng", |seed: rhai::INT| {
        ScriptRng(Arc::new(Mutex::new(
            rand_chacha::ChaCha20Rng::seed_from_u64(seed as u64),
        )))
    });
    engine.register_fn(
        "int",
        |r: &mut ScriptRng, lo: rhai::INT, hi: rhai::INT| -> Fallible<rhai::INT> {
            if hi <= lo {
                return fail(format!(
                    "rng.int({lo}, {hi}): the range is empty (hi is excluded)"
                ));
            }
            Ok(lo + r.below((hi - lo) as u64) as rhai::INT)
        },
    );
    engine.register_fn("float", |r: &mut ScriptRng| {
        (r.next() >> 11) as rhai::FLOAT / (1u64 << 53) as rhai::FLOAT
    });
    engine.register_fn(
        "pick",
        |r: &mut ScriptRng, items: Array| -> Fallible<Dynamic> {
            if items.is_empty() {
                return fail("rng.pick: the array is empty");
            }
            Ok(items[r.below(items.len() as u64) as usize].clone())
        },
    );
    engine.register_fn("shuffle", |r: &mut ScriptRng, mut items: Array| -> Array {
        for i in (1..items.len()).rev() {
            let j = r.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
        items
    });
    engine.register_fn(
        "sample",
        |r: &mut ScriptRng, mut items: Array, k: rhai::INT| -> Fallible<Array> {
            let k = usize::try_from(k).unwrap_or(usize::MAX);
            if k > items.len() {
                return fail(format!(
                    "rng.sample: cannot draw {k} distinct items from {}",
                    items.len()
                ));
            }
            for i in 0..k {
                let j = i + r.below((items.len() - i) as u64) as usize;
                items.swap(i, j);
            }
            items.truncate(k);
            Ok(items)
        },
    );
}
