//! Numerics of our forward pass against candle-transformers' `quantized_llama` on the real
//! default model: with every weight dequantized to f32 on both sides (and f32 keys/values on
//! ours), the logits of a chat prompt agree to 1e-3 and 64 greedy tokens are identical.
//!
//! This file is its own test binary because it sets `CANDLE_DEQUANTIZE_ALL`, which candle reads
//! whenever it builds a matrix multiplication.

use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;
use drift_script::model::local::kv_cache::KvPrecision;
use drift_script::model::local::loader::WeightMode;
use drift_script::model::{LocalModel, LocalOptions, Message};

fn reference_model(path: &std::path::Path) -> ModelWeights {
    // SAFETY: set before any thread of this binary reads the environment through candle.
    unsafe { std::env::set_var("CANDLE_DEQUANTIZE_ALL", "1") };
    let mut file = std::fs::File::open(path).unwrap();
    let content = candle_core::quantized::gguf_file::Content::read(&mut file).unwrap();
    ModelWeights::from_gguf(content, &mut file, &Device::Cpu).unwrap()
}

fn argmax(t: &Tensor) -> u32 {
    t.flatten_all()
        .unwrap()
        .argmax(0)
        .unwrap()
        .to_scalar::<u32>()
        .unwrap()
}

#[test]
fn logits_and_greedy_text_match_candle_transformers() {
    let path = drift_script::fetch::default_model_path(&mut |m| eprintln!("{m}")).unwrap();
    let ours = LocalModel::load_gguf(
        &path,
        &LocalOptions {
            weights: WeightMode::F32,
            kv_precision: KvPrecision::F32,
            ..LocalOptions::default()
        },
    )
    .unwrap();
    let prompt = ours
        .tokenize_chat(&[
            Message::system("You are a cheerful assistant who loves astronomy."),
            Message::user("Why is the sky blue? Answer in two sentences."),
        ])
        .unwrap()
        .ids;

    let mut reference = reference_model(&path);
    let input = Tensor::new(prompt.as_slice(), &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let expected = reference
        .forward(&input, 0)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let actual = ours.prompt_logits(&prompt, false).unwrap();
    assert_eq!(expected.len(), actual.len());
    let max_diff = expected
        .iter()
        .zip(&actual)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    eprintln!(
        "max |logit difference| = {max_diff:e} over {} logits",
        actual.len()
    );
    assert!(max_diff < 1e-3, "logits differ by up to {max_diff}");

    // 64 greedy tokens, each fed back one at a time on both sides.
    let ours_tokens = ours.greedy_tokens(&prompt, 64).unwrap();
    let mut reference_tokens = Vec::new();
    let mut token = argmax(&Tensor::new(expected.as_slice(), &Device::Cpu).unwrap());
    for step in 0..64 {
        reference_tokens.push(token);
        if step == 63 {
            break;
        }
        let input = Tensor::new(&[token], &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        token = argmax(&reference.forward(&input, prompt.len() + step).unwrap());
    }
    let text = |ids: &[u32]| ours.tokenizer().decode(ids);
    eprintln!("greedy continuation: {:?}", text(&ours_tokens));
    assert_eq!(text(&ours_tokens), text(&reference_tokens));
    assert_eq!(ours_tokens, reference_tokens);
}
