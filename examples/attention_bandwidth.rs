//! How fast one query row's attention streams the key/value cache: the decode cost that grows
//! with the context (the default model's shape: 30 layers, 3 key/value heads of 64 dimensions,
//! 3 query heads per group, f16 keys and values). One thread per sequence, each its own cache.
//!
//! `cargo run --release --example attention_bandwidth -- [CONTEXT] [THREADS]`
mod common;

use drift_script::model::local::attention::attend_row;
use drift_script::model::local::kernels::detected_isa;
use drift_script::model::local::kv_cache::SeqKv;

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let context = args
        .next()
        .transpose()
        .expect("CONTEXT is a number")
        .unwrap_or(1500);
    let threads = args
        .next()
        .transpose()
        .expect("THREADS is a number")
        .unwrap_or(1);
    let (kv_shape, shape) = common::default_model_shapes(30);
    let group_dim = shape.group() * shape.head_dim;
    let sequences: Vec<SeqKv> = (0..threads)
        .map(|s| common::filled_sequence(context, kv_shape, s))
        .collect();
    let q = common::queries(shape.heads * shape.head_dim);
    // The fastest of several batches: this VM's speed drifts from second to second.
    let (batches, repetitions) = (8, 10);
    let isa = detected_isa();
    let mut per_token = f64::INFINITY;
    for _ in 0..batches {
        let started = std::time::Instant::now();
        std::thread::scope(|scope| {
            for seq in &sequences {
                let q = &q;
                scope.spawn(move || {
                    let mut out = vec![0f32; group_dim];
                    for _ in 0..repetitions {
                        for layer in 0..kv_shape.layers {
                            for g in 0..kv_shape.kv_heads {
                                let q = &q[g * group_dim..(g + 1) * group_dim];
                                attend_row(
                                    isa,
                                    seq,
                                    kv_shape,
                                    layer,
                                    g,
                                    &shape,
                                    context - 1,
                                    q,
                                    &mut out,
                                    None,
                                );
                            }
                        }
                    }
                });
            }
        });
        per_token = per_token.min(started.elapsed().as_secs_f64() / repetitions as f64);
    }
    let bytes = (context * kv_shape.layers * kv_shape.kv_heads * 64 * 2 * 2 * threads) as f64;
    println!(
        "context {context}, {threads} thread(s): {:.2} ms per token (all layers and heads), {:.1} GB/s of keys and values",
        per_token * 1e3,
        bytes / per_token / 1e9
    );
}
