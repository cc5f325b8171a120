//! The profile's arithmetic counts (`DRIFT_SCRIPT_PROFILE`, `bench profile`) on the real default
//! model: a prompt pass counts exactly the multiply-adds its shape implies. This file holds
//! one test on purpose: the profile is process-wide, and another test's forward passes would add
//! to the counts.

use drift_script::model::{LocalModel, LocalOptions, Message, profile};

#[test]
fn a_prompt_pass_counts_the_multiply_adds_of_its_shape() {
    let path = drift_script::model::fetch::default_model_path(&mut |m| eprintln!("{m}")).unwrap();
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
    let (attention, matrices) = profile::multiply_adds();

    // SmolLM2-135M: 30 layers, hidden size 576, 9 query heads and 3 key/value heads of 64
    // dimensions, feed-forward size 1536, 49,152 tokens in the vocabulary.
    let p = prompt.len() as u64;
    // Row i sees i + 1 positions; per position and query head, 64 multiply-adds for its
    // score and 64 for the weighted sum of values.
    let visible = p * (p + 1) / 2;
    assert_eq!(attention, visible * 9 * 64 * 2 * 30);
    // Per row and layer: q, k, v (576 → 576 + 192 + 192), the output projection (576 → 576),
    // gate and up (576 → 2 × 1536) and down (1536 → 576); the vocabulary projection for the
    // last row only.
    let per_row = 30 * 576 * (576 + 2 * 192 + 576 + 3 * 1536);
    assert_eq!(matrices, p * per_row + 49_152 * 576);
}
