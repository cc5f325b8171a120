//! Attention over sequences that share a prefix, the way a probe's sampled answers do: `SEQS`
//! sequences share a `PREFIX`-position prefix and then have `OWN` positions each, and each
//! sequence attends `ROWS` rows at its end (a decoding row and its drafted rows). Compares the
//! rows in one call per sequence (the prefix loaded once per sequence) with all rows in one
//! call (the prefix loaded once), over all 30 layers, so keys and values stream from memory.
//! One thread; the best of several batches.
//!
//! `cargo run --release --example attention_shared -- [PREFIX] [OWN] [SEQS] [ROWS]`
mod common;

use drift_script::model::local::attention::{RowQuery, attend_rows};
use drift_script::model::local::kernels::detected_isa;
use drift_script::model::local::kv_cache::SeqKv;

fn main() {
    let mut args = common::number_args();
    let prefix = args.next().unwrap_or(2900);
    let own = args.next().unwrap_or(200);
    let seqs = args.next().unwrap_or(2);
    let rows = args.next().unwrap_or(2);
    let layers = 30;
    let (kv_shape, shape) = common::default_model_shapes(layers);
    let group_dim = shape.group() * shape.head_dim;
    let shared = common::filled_sequence(prefix, kv_shape, 0);
    let sequences: Vec<SeqKv> = (0..seqs)
        .map(|s| common::extended(&shared, own, kv_shape, 1 + s))
        .collect();
    let q = common::queries(group_dim);
    let mut outs = vec![vec![0f32; group_dim]; seqs * rows];
    let isa = detected_isa();
    let context = prefix + own;
    let attend = |calls: &[std::ops::Range<usize>], outs: &mut [Vec<f32>]| {
        common::each_attention_head(kv_shape, shape, |at| {
            for call in calls {
                let mut queries: Vec<RowQuery<'_>> = outs[call.clone()]
                    .iter_mut()
                    .enumerate()
                    .map(|(i, out)| {
                        let r = call.start + i;
                        RowQuery {
                            kv: &sequences[r / rows],
                            position: context - rows + r % rows,
                            q: &q,
                            out,
                            hook: None,
                        }
                    })
                    .collect();
                attend_rows(isa, at, &mut queries);
            }
        });
    };
    let apart: Vec<_> = (0..seqs).map(|s| s * rows..(s + 1) * rows).collect();
    let all_rows = 0..seqs * rows;
    let (mut best_apart, mut best_together) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..10 {
        let started = std::time::Instant::now();
        attend(&apart, &mut outs);
        best_apart = best_apart.min(started.elapsed().as_secs_f64());
        let started = std::time::Instant::now();
        attend(std::slice::from_ref(&all_rows), &mut outs);
        best_together = best_together.min(started.elapsed().as_secs_f64());
    }
    println!(
        "prefix {prefix}, {own} own positions, {seqs} sequence(s) × {rows} row(s), {layers} layers: \
         one call per sequence {:.2} ms, one call for all {:.2} ms",
        best_apart * 1e3,
        best_together * 1e3
    );
}
