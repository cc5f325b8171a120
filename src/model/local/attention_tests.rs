//! Tests of `attention.rs`: the phases against a plain reference, and the same bits for every
//! grouping of rows.

use super::*;
use crate::model::local::kv_cache::KvPrecision;

#[test]
fn softmax_rows_sum_to_one() {
    let mut v: Vec<f32> = (0..100).map(|i| (i as f32 * 0.37).sin() * 5.0).collect();
    softmax(&mut v);
    assert!((v.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    assert!(v.iter().all(|&p| p > 0.0));
}

/// The read-out of a hand-made cache: π equals the softmax mass on the system positions
/// computed by hand in f64, every row sums to 1, and split-softmax makes the system share
/// exactly π^k while keeping the output a weighted mean of the values with those weights.
#[test]
fn readout_and_split_softmax_match_the_hand_computation() {
    const HD: usize = 16;
    let kv_shape = KvShape {
        layers: 1,
        kv_heads: 1,
        head_dim: HD,
    };
    let shape = AttentionShape::new(2, 1, HD, None);
    let key = |t: usize| -> [f32; HD] {
        std::array::from_fn(|d| ((t * 5 + d * 3) % 13) as f32 * 0.07 - 0.4)
    };
    let value = |t: usize| -> [f32; HD] { std::array::from_fn(|d| ((t * 3 + d) % 7) as f32 - 3.0) };
    let positions = 45;
    let mut seq = SeqKv::default();
    let tokens: Vec<u32> = (0..positions as u32).collect();
    seq.reserve(&tokens, kv_shape, KvPrecision::F32);
    for t in 0..positions {
        seq.block_mut(t)
            .write(kv_shape, 0, t % KV_BLOCK, &key(t), &value(t));
    }
    let q: [f32; 2 * HD] = std::array::from_fn(|i| ((i * 3) % 5) as f32 * 0.3 - 0.5);
    let position = 40;
    let system = 3..20;
    // By hand: softmax of q·k/√d in f64, mass on positions 3..20.
    let by_hand: Vec<Vec<f64>> = (0..2)
        .map(|head| {
            let qh = &q[head * HD..(head + 1) * HD];
            let s: Vec<f64> = (0..=position)
                .map(|t| {
                    key(t)
                        .iter()
                        .zip(qh)
                        .map(|(k, q)| (*k * *q) as f64)
                        .sum::<f64>()
                        / (HD as f64).sqrt()
                })
                .collect();
            let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = s.iter().map(|v| (v - m).exp()).sum();
            s.iter().map(|v| (v - m).exp() / z).collect()
        })
        .collect();
    let run = |split_k: Option<f32>| {
        let mut pi = [0f32; 2];
        let mut full = vec![0f32; 2 * (position + 1)];
        let mut out = [0f32; 2 * HD];
        let mut hook = RowHook {
            system: system.clone(),
            split_k,
            pi: Some(&mut pi),
            full: Some(&mut full),
        };
        attend_row(
            Isa::Portable,
            &seq,
            kv_shape,
            0,
            0,
            &shape,
            position,
            &q,
            &mut out,
            Some(&mut hook),
        );
        (pi, full, out)
    };
    let (pi, full, plain_out) = run(None);
    for head in 0..2 {
        let expected: f64 = by_hand[head][system.clone()].iter().sum();
        assert!(
            (pi[head] as f64 - expected).abs() < 1e-6,
            "head {head}: {} vs {expected}",
            pi[head]
        );
        let row = &full[head * (position + 1)..(head + 1) * (position + 1)];
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
    // Reading attention out changes nothing.
    let mut bare = [0f32; 2 * HD];
    attend_row(
        Isa::Portable,
        &seq,
        kv_shape,
        0,
        0,
        &shape,
        position,
        &q,
        &mut bare,
        None,
    );
    assert_eq!(bare, plain_out);

    let k = 0.5f32;
    let (split_pi, split_full, split_out) = run(Some(k));
    for head in 0..2 {
        let before: f64 = by_hand[head][system.clone()].iter().sum();
        let row = &split_full[head * (position + 1)..(head + 1) * (position + 1)];
        assert!(
            (row.iter().sum::<f32>() - 1.0).abs() < 1e-5,
            "rows still sum to 1"
        );
        assert!((split_pi[head] as f64 - before.powf(k as f64)).abs() < 1e-5);
        // The output is the weighted sum of values under the new weights.
        for d in 0..HD {
            let expected: f64 = (0..=position)
                .map(|t| row[t] as f64 * value(t)[d] as f64)
                .sum();
            assert!((split_out[head * HD + d] as f64 - expected).abs() < 1e-4);
        }
    }
    assert_ne!(split_out, plain_out);
}

/// The profile's count of loaded key/value blocks follows the kernels' walk: a lone row
/// loads each of its blocks once for keys and once for values (less its partial last
/// block, whose values it sums alone either way); answers that share a prompt's blocks
/// load those once for all of them; a prompt's rows load the blocks all of them see whole
/// once per pass of four rows.
#[test]
fn blocks_loaded_counts_shared_blocks_once_per_pass() {
    let kv_shape = KvShape {
        layers: 1,
        kv_heads: 1,
        head_dim: 8,
    };
    let shape = AttentionShape::new(3, 1, 8, None);
    let mut prompt = SeqKv::default();
    prompt.reserve(&(0..100).collect::<Vec<u32>>(), kv_shape, KvPrecision::F16);
    // Both answers copy the prompt's partial block 3 (positions 96–99) to write into it, so
    // they share blocks 0–2 and end in block 4 (positions 139 and 146).
    let answers: Vec<SeqKv> = [40u32, 47]
        .iter()
        .map(|&n| {
            let mut seq = prompt.clone();
            seq.reserve(
                &(1000..1000 + n).collect::<Vec<u32>>(),
                kv_shape,
                KvPrecision::F16,
            );
            seq
        })
        .collect();
    let loaded = |rows: &[(&SeqKv, usize)]| {
        let inputs: Vec<RowInput<'_>> = rows
            .iter()
            .map(|&(kv, position)| RowInput {
                kv,
                position,
                q: &[],
            })
            .collect();
        RowsPlan::new(&shape, &inputs).blocks_loaded()
    };
    let last = |seq: &SeqKv| seq.len() - 1;
    // Keys: blocks 0–4; values: 0–3 jointly, 4 alone.
    assert_eq!(loaded(&[(&answers[0], last(&answers[0]))]), 10);
    // Keys: 0–2 once, 3–4 per row; values the same.
    let both = [
        (&answers[0], last(&answers[0])),
        (&answers[1], last(&answers[1])),
    ];
    assert_eq!(loaded(&both), 3 + 3 + 2 * 2 + 2 * 2);
    // Rows at 80, 96, 99 share blocks 0–2 (keys once), see 0–1 whole (values once), and
    // load the rest row by row: keys 0 + 1 + 1, values 1 + 2 + 2.
    assert_eq!(
        loaded(&[(&prompt, 80), (&prompt, 96), (&prompt, 99)]),
        3 + 2 + 2 + 5
    );
    // Rows at 94–99 take two passes of four, so blocks 0–2 (keys) and 0–1 (values) load
    // twice; past them, keys: 0 for the rows in block 2, 1 for those in block 3; values:
    // 1 and 2.
    let six: Vec<(&SeqKv, usize)> = (94..100).map(|p| (&prompt, p)).collect();
    let (keys_past_shared, values_past_joint) = (4, 2 + 4 * 2);
    assert_eq!(
        loaded(&six),
        2 * (3 + 2) + keys_past_shared + values_past_joint
    );
}

/// Rows attended together (a prompt's rows, answers sharing their first blocks, rows of
/// unrelated sequences, more rows than one kernel pass holds) get exactly the bits each
/// row gets alone, on every instruction set.
#[test]
fn rows_together_equal_rows_alone() {
    const HD: usize = 64;
    let kv_shape = KvShape {
        layers: 2,
        kv_heads: 1,
        head_dim: HD,
    };
    let shape = AttentionShape::new(3, 1, HD, None);
    let fill = |seq: &mut SeqKv, from: usize, salt: usize| {
        for t in from..seq.len() {
            for layer in 0..2 {
                let key: [f32; HD] = std::array::from_fn(|d| {
                    ((t * 7 + d * 3 + salt + layer) % 17) as f32 * 0.06 - 0.5
                });
                let value: [f32; HD] =
                    std::array::from_fn(|d| ((t * 5 + d + salt) % 9) as f32 * 0.3 - 1.2);
                seq.block_mut(t)
                    .write(kv_shape, layer, t % KV_BLOCK, &key, &value);
            }
        }
    };
    for precision in [KvPrecision::F32, KvPrecision::F16] {
        // A 100-token prompt, and two answers that share its blocks and then diverge.
        let mut prompt = SeqKv::default();
        prompt.reserve(&(0..100).collect::<Vec<u32>>(), kv_shape, precision);
        fill(&mut prompt, 0, 0);
        let answers: Vec<SeqKv> = (0..2)
            .map(|a| {
                let mut seq = prompt.clone();
                let new: Vec<u32> = (0..40 + 7 * a).map(|t| 1000 + t).collect();
                seq.reserve(&new, kv_shape, precision);
                fill(&mut seq, 100, 1 + a as usize);
                seq
            })
            .collect();
        let mut other = SeqKv::default();
        other.reserve(&(0..70).collect::<Vec<u32>>(), kv_shape, precision);
        fill(&mut other, 0, 9);
        // (sequence, position) of each row: prompt rows, both answers' last rows, another
        // sequence; six rows need two passes of four.
        let rows: Vec<(&SeqKv, usize)> = vec![
            (&prompt, 80),
            (&prompt, 96),
            (&prompt, 99),
            (&answers[0], answers[0].len() - 1),
            (&answers[1], answers[1].len() - 1),
            (&other, 69),
        ];
        let q: Vec<[f32; 3 * HD]> = (0..rows.len())
            .map(|r| std::array::from_fn(|i| ((i * 5 + r * 3) % 11) as f32 * 0.1 - 0.5))
            .collect();
        let best = super::super::isa::detected_isa();
        for isa in [Isa::Portable, Isa::Avx2, best] {
            if isa == Isa::Avx2 && best == Isa::Portable {
                continue;
            }
            for subset in [&[0usize, 1, 2][..], &[3, 4], &[0, 3, 4, 5, 1, 2], &[5, 3]] {
                let mut alone = vec![[0f32; 3 * HD]; subset.len()];
                for (out, &r) in alone.iter_mut().zip(subset) {
                    attend_row(
                        isa, rows[r].0, kv_shape, 1, 0, &shape, rows[r].1, &q[r], out, None,
                    );
                }
                let mut together = vec![[0f32; 3 * HD]; subset.len()];
                let mut queries: Vec<RowQuery<'_>> = together
                    .iter_mut()
                    .zip(subset)
                    .map(|(out, &r)| RowQuery {
                        kv: rows[r].0,
                        position: rows[r].1,
                        q: &q[r],
                        out,
                        hook: None,
                    })
                    .collect();
                let at = AttendAt {
                    kv_shape,
                    layer: 1,
                    kv_head: 0,
                    shape,
                };
                attend_rows(isa, &at, &mut queries);
                assert!(together == alone, "{precision:?} {isa} rows {subset:?}");

                // The same in three steps, scores in three block ranges and sums in two
                // halves of the dimensions, as threads share long contexts.
                let inputs: Vec<RowInput<'_>> = subset
                    .iter()
                    .map(|&r| RowInput {
                        kv: rows[r].0,
                        position: rows[r].1,
                        q: &q[r],
                    })
                    .collect();
                let plan = RowsPlan::new(&shape, &inputs);
                let mut scores = vec![0f32; plan.scores_len];
                let mut stepwise = vec![[f32::NAN; 3 * HD]; subset.len()];
                let outs: Vec<*mut f32> = stepwise.iter_mut().map(|o| o.as_mut_ptr()).collect();
                for part in 0..3 {
                    let blocks = crate::model::local::pool::split_range(plan.blocks, 3, part);
                    unsafe {
                        attention_scores(isa, &at, &plan, &inputs, blocks, scores.as_mut_ptr())
                    };
                }
                attention_softmax(isa, &at, &plan, &mut scores, &mut []);
                for dims in [32..HD, 0..32] {
                    unsafe { attention_sums(isa, &at, &plan, &inputs, &scores, &outs, dims) };
                }
                assert!(
                    stepwise == alone,
                    "{precision:?} {isa} rows {subset:?} in steps"
                );
            }
        }
    }
}

/// Attention over a hand-made cache equals the textbook formula computed in f64.
#[test]
fn matches_the_definition() {
    const HD: usize = 16; // the kernels work on 16 dimensions at a time
    let kv_shape = KvShape {
        layers: 1,
        kv_heads: 1,
        head_dim: HD,
    };
    let shape = AttentionShape::new(2, 1, HD, None);
    let positions = 40; // crosses a block boundary
    let key = |t: usize| -> [f32; HD] {
        std::array::from_fn(|d| ((t * 7 + d * 3) % 11) as f32 * 0.05 - 0.25)
    };
    let value = |t: usize| -> [f32; HD] { std::array::from_fn(|d| ((t + d) % 5) as f32 - 2.0) };
    for precision in [KvPrecision::F32, KvPrecision::F16] {
        let mut seq = SeqKv::default();
        let tokens: Vec<u32> = (0..positions as u32).collect();
        seq.reserve(&tokens, kv_shape, precision);
        for t in 0..positions {
            seq.block_mut(t)
                .write(kv_shape, 0, t % KV_BLOCK, &key(t), &value(t));
        }
        let q: [f32; 2 * HD] = std::array::from_fn(|i| ((i * 5) % 7) as f32 * 0.2 - 0.6);
        let position = 37;
        let mut out = [0f32; 2 * HD];
        attend_row(
            Isa::Portable,
            &seq,
            kv_shape,
            0,
            0,
            &shape,
            position,
            &q,
            &mut out,
            None,
        );
        let tolerance = if precision == KvPrecision::F32 {
            1e-5
        } else {
            2e-2
        };
        for head in 0..2 {
            let qh = &q[head * HD..(head + 1) * HD];
            let s: Vec<f64> = (0..=position)
                .map(|t| {
                    key(t)
                        .iter()
                        .zip(qh)
                        .map(|(k, q)| (*k * *q) as f64)
                        .sum::<f64>()
                        / (HD as f64).sqrt()
                })
                .collect();
            let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = s.iter().map(|v| (v - m).exp()).sum();
            for d in 0..HD {
                let expected: f64 = (0..=position)
                    .map(|t| (s[t] - m).exp() / z * value(t)[d] as f64)
                    .sum();
                let got = out[head * HD + d] as f64;
                assert!(
                    (got - expected).abs() < tolerance,
                    "{precision:?} head {head} dim {d}: {got} vs {expected}"
                );
            }
        }
        // Every instruction set gives the same bits.
        let best = super::super::isa::detected_isa();
        let mut isas = vec![best];
        if best == Isa::Avx512Vnni {
            isas.push(Isa::Avx2);
        }
        for isa in isas {
            let mut again = [0f32; 2 * HD];
            attend_row(
                isa, &seq, kv_shape, 0, 0, &shape, position, &q, &mut again, None,
            );
            assert_eq!(out, again, "{isa}");
        }
    }
}
