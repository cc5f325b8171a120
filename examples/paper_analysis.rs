//! drift-script's side of `bench/paper_analysis.py`: the per-turn means and bands that the paper
//! analysis mode of `scripts/selfchat.rhai` plots, computed from a run's records with the same
//! functions the plot uses (`stats::mean`, `stats::ci_bootstrap` at 68% with 1,000 resamples and
//! seed 0). Prints one JSON object: per turn, `{n, mean, lo, hi}` over the probe records with a
//! numeric `score` (paper mode leaves answers whose check raised with `score: null`).
//!
//!     cargo run --release --example paper_analysis -- RUN_DIR/records.jsonl
use std::collections::BTreeMap;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [records] = &args[..] else {
        anyhow::bail!("usage: paper_analysis RUN_DIR/records.jsonl");
    };
    let records = drift_script::plot::read_jsonl(records.as_ref())?;
    let mut by_turn: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for r in &records {
        if r["kind"] != "probe" {
            continue;
        }
        if let (Some(turn), Some(score)) = (r["turn"].as_i64(), r["score"].as_f64()) {
            by_turn.entry(turn).or_default().push(score);
        }
    }
    let mut out = serde_json::Map::new();
    for (turn, scores) in by_turn {
        let mean = drift_script::stats::mean(&scores);
        let band = drift_script::stats::ci_bootstrap(&scores, 0.68, 1000, 0)?;
        out.insert(
            turn.to_string(),
            serde_json::json!({"n": scores.len(), "mean": mean,
                               "lo": band.map(|b| b.0), "hi": band.map(|b| b.1)}),
        );
    }
    println!("{}", serde_json::Value::Object(out));
    Ok(())
}
