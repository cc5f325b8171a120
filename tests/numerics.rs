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

/// candle's logits after a whole prompt, from an empty cache.
fn reference_prompt_logits(reference: &mut ModelWeights, prompt: &[u32]) -> Vec<f32> {
    let input = Tensor::new(prompt, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    reference
        .forward(&input, 0)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
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
    let expected = reference_prompt_logits(&mut reference, &prompt);
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

/// The default model cut after its first `layers` decoder layers: the same GGUF with the later
/// layers' tensors left out and `llama.block_count` set to `layers`. Its logits are the final
/// norm and output projection of the full model's hidden state after layer `layers − 1`.
fn truncated_gguf(path: &std::path::Path, layers: usize) -> std::path::PathBuf {
    use candle_core::quantized::gguf_file::{self, Value};
    let mut file = std::fs::File::open(path).unwrap();
    let content = gguf_file::Content::read(&mut file).unwrap();
    let mut metadata: Vec<(String, Value)> = content
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (key, value) in metadata.iter_mut() {
        if key == "llama.block_count" {
            *value = Value::U32(layers as u32);
        }
    }
    let kept = |name: &str| match name.strip_prefix("blk.") {
        Some(rest) => rest.split('.').next().unwrap().parse::<usize>().unwrap() < layers,
        None => true,
    };
    let mut names: Vec<&String> = content.tensor_infos.keys().filter(|n| kept(n)).collect();
    names.sort();
    let tensors: Vec<(String, candle_core::quantized::QTensor)> = names
        .into_iter()
        .map(|n| {
            (
                n.clone(),
                content.tensor(&mut file, n, &Device::Cpu).unwrap(),
            )
        })
        .collect();
    let out = std::env::temp_dir().join(format!(
        "drift-numerics-{}-{layers}-layers.gguf",
        std::process::id()
    ));
    let meta: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tens: Vec<(&str, &candle_core::quantized::QTensor)> =
        tensors.iter().map(|(k, t)| (k.as_str(), t)).collect();
    let mut writer = std::io::BufWriter::new(std::fs::File::create(&out).unwrap());
    gguf_file::write(&mut writer, &meta, &tens).unwrap();
    std::io::Write::flush(&mut writer).unwrap();
    out
}

/// Hidden states at several depths against an independent reference: for each depth, the model
/// cut after that many layers gives the same logits on both sides (so the hidden state our pass
/// hands to the next layer is candle's), and the residual-stream read-out of the *full* model
/// after that layer equals the cut model's, bit for bit (so the read-out reads exactly that
/// state, and later layers do not touch it).
#[test]
fn hidden_states_at_every_depth_match_candle_transformers() {
    let path = drift_script::fetch::default_model_path(&mut |m| eprintln!("{m}")).unwrap();
    let f32_options = LocalOptions {
        weights: WeightMode::F32,
        kv_precision: KvPrecision::F32,
        ..LocalOptions::default()
    };
    let full = LocalModel::load_gguf(&path, &f32_options).unwrap();
    let messages = [
        Message::system("You are a pirate."),
        Message::user("What do you think about the ocean at night?"),
    ];
    let prompt = full.tokenize_chat(&messages).unwrap().ids;
    for layers in [1usize, 8, 15, 23, 30] {
        let cut_path = truncated_gguf(&path, layers);
        let cut = LocalModel::load_gguf(&cut_path, &f32_options).unwrap();
        let mut reference = reference_model(&cut_path);
        let expected = reference_prompt_logits(&mut reference, &prompt);
        let actual = cut.prompt_logits(&prompt, false).unwrap();
        let max_diff = expected
            .iter()
            .zip(&actual)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        eprintln!(
            "after layer {}: max |logit difference| = {max_diff:e}",
            layers - 1
        );
        assert!(
            max_diff < 1e-3,
            "after layer {}: logits differ by {max_diff}",
            layers - 1
        );
        let read = |m: &LocalModel| {
            m.message_activations(&messages, &[layers - 1], &[])
                .unwrap()
        };
        assert_eq!(
            read(&full),
            read(&cut),
            "read-out after layer {}",
            layers - 1
        );
        std::fs::remove_file(&cut_path).unwrap();
    }
}
