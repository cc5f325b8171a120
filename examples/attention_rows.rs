//! Attention arithmetic with several query rows: `ROWS` rows of one sequence (the last
//! positions, as a prompt chunk or a decoding row with its drafted token) over `CONTEXT`
//! positions, one thread. With `LAYERS` = 1 the keys and values stay in cache, so this measures
//! the kernels' arithmetic rate (multiply-adds per second) rather than memory.
//!
//! `cargo run --release --example attention_rows -- [CONTEXT] [ROWS] [LAYERS]`
mod common;

use drift_script::model::local::attention::{RowQuery, attend_rows};
use drift_script::model::local::kernels::detected_isa;

fn main() {
    let mut args = common::number_args();
    let context = args.next().unwrap_or(2000);
    let rows = args.next().unwrap_or(2);
    let layers = args.next().unwrap_or(1);
    let (kv_shape, shape) = common::default_model_shapes(layers);
    let group_dim = shape.group() * shape.head_dim;
    let seq = common::filled_sequence(context, kv_shape, 0);
    let q = common::queries(group_dim);
    let mut outs = vec![vec![0f32; group_dim]; rows];
    let isa = detected_isa();
    let repetitions = (200 / layers).max(2);
    let mut best = f64::INFINITY;
    for _ in 0..8 {
        let started = std::time::Instant::now();
        for _ in 0..repetitions {
            common::each_attention_head(kv_shape, shape, |at| {
                let mut queries: Vec<RowQuery<'_>> = outs
                    .iter_mut()
                    .enumerate()
                    .map(|(r, out)| RowQuery {
                        kv: &seq,
                        position: context - rows + r,
                        q: &q,
                        out,
                        hook: None,
                    })
                    .collect();
                attend_rows(isa, at, &mut queries);
            });
        }
        best = best.min(started.elapsed().as_secs_f64() / (repetitions * layers) as f64);
    }
    // Scores and sums: per row, visible position and query head, one multiply-add per dimension each.
    let macs = (rows * context * shape.heads * 64 * 2) as f64;
    println!(
        "context {context}, {rows} row(s), {layers} layer(s): {:.1} µs per layer, {:.1} G multiply-adds/s",
        best * 1e6,
        macs / best / 1e9
    );
}
