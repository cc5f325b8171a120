//! The profile's work counts (`DRIFT_SCRIPT_PROFILE`, `bench profile`) on the real default
//! model: a prompt pass counts exactly the multiply-adds and bytes its shape implies. This file holds
//! one test on purpose: the profile is process-wide, and another test's forward passes would add
//! to the counts.

use drift_script::model::local::profile;
use drift_script::model::{ChatModel, LocalModel, LocalOptions, Message};

#[test]
fn a_prompt_pass_counts_the_work_of_its_shape() {
    let path = drift_script::fetch::default_model_path(&mut |m| eprintln!("{m}")).unwrap();
    let model = LocalModel::load_gguf(&path, &LocalOptions::default()).unwrap();
    let prompt = model
        .tokenize_chat(&[
            Message::system("You are a pirate."),
            Message::user("What do you think about space exploration?"),
        ])
        .unwrap()
        .ids;
    profile::enable(true);
    profile::reset();
    model.prompt_logits(&prompt, false).unwrap();
    profile::enable(false);
    let work = profile::counted();

    // SmolLM2-135M: 30 layers, hidden size 576, 9 query heads and 3 key/value heads of 64
    // dimensions, feed-forward size 1536, 49,152 tokens in the vocabulary.
    let p = prompt.len() as u64;
    // Row i sees i + 1 positions; per position and query head, 64 multiply-adds for its
    // score and 64 for the weighted sum of values.
    let visible = p * (p + 1) / 2;
    assert_eq!(work.attention_multiply_adds, visible * 9 * 64 * 2 * 30);
    // Per row and layer: q, k, v (576 → 576 + 192 + 192), the output projection (576 → 576),
    // gate and up (576 → 2 × 1536) and down (1536 → 576); the vocabulary projection for the
    // last row only.
    let per_row = 30 * 576 * (576 + 2 * 192 + 576 + 3 * 1536);
    assert_eq!(work.matrix_multiply_adds, p * per_row + 49_152 * 576);

    // The prompt fits in the first key/value block of 32 positions. Its rows attend in even
    // runs of at most 16, and the rows of a run share that block, so the score phase loads its
    // keys once per pass of 4 rows (12 query vectors of 3 heads); no row sees the block whole,
    // so the sum phase loads its values once per row. Each load is 32 positions × 64
    // dimensions × 2 bytes (f16), per key/value head and layer.
    assert!(prompt.len() <= 32, "the prompt outgrew one block");
    let runs = p.div_ceil(16);
    let run_len = |r: u64| p / runs + u64::from(r < p % runs);
    let key_loads: u64 = (0..runs).map(|r| run_len(r).div_ceil(4)).sum();
    let loads = key_loads + p;
    assert_eq!(work.key_value_bytes, loads * 32 * 64 * 2 * 3 * 30);
    // Every weight matrix once: the layers', and the tied embedding as the vocabulary
    // projection for the last row.
    assert_eq!(work.weight_bytes, model.info().weight_bytes as u64);
}
