//! The attention read-out, split-softmax and classifier-free guidance on the real default model.

use drift_script::model::{
    ChatModel, Generation, LocalModel, LocalOptions, Message, SamplingOptions,
};
use drift_script::model::{Intervention, Readout, local::hooks::guide_logits};

fn model() -> LocalModel {
    let path = drift_script::fetch::default_model_path(&mut |m| eprintln!("{m}")).unwrap();
    LocalModel::load_gguf(&path, &LocalOptions::default()).unwrap()
}

fn conversation() -> Vec<Message> {
    vec![
        Message::system("You are a pirate. Always answer like a pirate would, with arr and matey."),
        Message::user("What do you think about space exploration?"),
        Message::assistant("Arr, the stars be a fine sea to sail, matey!"),
        Message::user("Would you sail to Mars if you could?"),
    ]
}

fn opts(intervention: Intervention) -> SamplingOptions {
    SamplingOptions {
        seed: 11,
        max_tokens: 24,
        intervention,
        ..SamplingOptions::default()
    }
}

fn readout() -> Intervention {
    Intervention {
        attention: Readout::Pi,
        ..Default::default()
    }
}

fn split(k: f64) -> Intervention {
    Intervention {
        split_softmax: Some(k),
        ..readout()
    }
}

fn answer(m: &LocalModel, messages: &[Message], intervention: Intervention) -> Generation {
    m.chat(messages, 1, &opts(intervention)).unwrap().remove(0)
}

fn mean(values: &[f32]) -> f64 {
    values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64
}

/// The read-out comes from the generating pass: one π per answer token, per layer and head, in
/// [0, 1]; reading it changes nothing; the context grows by one per token.
#[test]
fn readout_is_one_pi_per_token_and_changes_nothing() {
    let m = model();
    let plain = answer(&m, &conversation(), Intervention::default());
    assert!(plain.attention.is_none(), "no read-out unless asked");
    let read = answer(&m, &conversation(), readout());
    assert_eq!(read.tokens, plain.tokens);
    let trace = read.attention.expect("asked for");
    let config = &m.transformer().config;
    assert_eq!((trace.layers, trace.heads), (config.layers, config.heads));
    assert_eq!(trace.tokens(), read.tokens.len());
    assert_eq!(
        trace.pi.len(),
        read.tokens.len() * config.layers * config.heads
    );
    let prompt = m.tokenize_chat(&conversation()).unwrap();
    let span = prompt.system_span.unwrap();
    assert_eq!(trace.system_tokens, span.len());
    assert_eq!(trace.context[0], prompt.ids.len());
    assert!(trace.context.windows(2).all(|w| w[1] == w[0] + 1));
    assert!(trace.pi.iter().all(|&p| (0.0..=1.0001).contains(&p)));
    assert!(mean(&trace.pi) > 0.0);
}

/// With `attention: "full"` every row sums to 1 and its mass on the system span is π.
#[test]
fn full_rows_sum_to_one_and_give_pi() {
    let m = model();
    let full = Intervention {
        attention: Readout::Full,
        ..Default::default()
    };
    let read = answer(&m, &conversation(), full);
    let trace = read.attention.unwrap();
    let span = m
        .tokenize_chat(&conversation())
        .unwrap()
        .system_span
        .unwrap();
    let size = trace.layers * trace.heads;
    assert_eq!(trace.full.len(), trace.tokens());
    for t in 0..trace.tokens() {
        let width = trace.context[t];
        assert_eq!(trace.full[t].len(), size * width);
        for (lh, row) in trace.full[t].chunks(width).enumerate() {
            let total: f32 = row.iter().sum();
            assert!(
                (total - 1.0).abs() < 1e-4,
                "token {t} row {lh} sums to {total}"
            );
            let on_system: f32 = row[span.clone()].iter().sum();
            assert!((on_system - trace.at_token(t)[lh]).abs() < 1e-6);
        }
    }
    // A long prompt is refused rather than filling memory.
    let long = vec![
        Message::system("Be brief."),
        Message::user("word ".repeat(1100)),
    ];
    let full = Intervention {
        attention: Readout::Full,
        ..Default::default()
    };
    let Err(err) = m.chat(&long, 1, &opts(full)) else {
        panic!("a 1100-word prompt was accepted for a full read-out");
    };
    let err = err.to_string();
    assert!(
        err.contains("attention: \"full\" keeps every attention row"),
        "{err}"
    );
}

/// k = 1 is the identity, bit for bit; k = 0.5 raises π and changes the answer.
#[test]
fn split_softmax_k_one_is_identity_and_half_raises_pi() {
    let m = model();
    let plain = answer(&m, &conversation(), readout());
    let one = answer(&m, &conversation(), split(1.0));
    assert_eq!(one.tokens, plain.tokens);
    assert_eq!(
        one.attention.as_ref().unwrap().pi,
        plain.attention.as_ref().unwrap().pi
    );
    let half = answer(&m, &conversation(), split(0.5));
    assert_ne!(half.tokens, plain.tokens, "k = 0.5 changes the answer");
    let (pi_plain, pi_half) = (
        mean(&plain.attention.unwrap().pi),
        mean(&half.attention.unwrap().pi),
    );
    assert!(
        pi_half > pi_plain,
        "mean π {pi_half} at k = 0.5 vs {pi_plain} at k = 1"
    );
}

/// Restricted to layers [a, b]: the first token's π is untouched below a, is exactly π^k at a
/// (its input is unchanged there), and differs above b because the hidden states did.
#[test]
fn split_softmax_layer_range() {
    let m = model();
    let (a, b, k) = (5usize, 9usize, 0.5f64);
    let plain = answer(&m, &conversation(), readout()).attention.unwrap();
    let ranged = answer(
        &m,
        &conversation(),
        Intervention {
            layers: Some((a, b)),
            ..split(k)
        },
    )
    .attention
    .unwrap();
    let heads = plain.heads;
    let (p0, r0) = (plain.at_token(0), ranged.at_token(0));
    assert_eq!(
        &p0[..a * heads],
        &r0[..a * heads],
        "layers below {a} untouched"
    );
    for h in 0..heads {
        let expected = f64::from(p0[a * heads + h]).powf(k);
        assert!((f64::from(r0[a * heads + h]) - expected).abs() < 1e-4);
    }
    assert_ne!(&p0[(b + 1) * heads..], &r0[(b + 1) * heads..]);
}

/// Sequences computed under split-softmax live in their own prefix cache: a split call after
/// plain calls on the same conversation equals one on a fresh model, and the plain answers after
/// it are unchanged.
#[test]
fn split_softmax_does_not_share_cached_state_with_plain_calls() {
    let fresh = model();
    let expected = answer(&fresh, &conversation(), split(0.3));
    let m = model();
    let plain = answer(&m, &conversation(), Intervention::default());
    let after = answer(&m, &conversation(), split(0.3));
    assert_eq!(after.tokens, expected.tokens);
    assert_eq!(after.attention.unwrap().pi, expected.attention.unwrap().pi);
    let plain_again = answer(&m, &conversation(), Intervention::default());
    assert_eq!(plain_again.tokens, plain.tokens);
}

/// With no system message π is 0 everywhere and split-softmax changes nothing.
#[test]
fn no_system_message_is_well_defined() {
    let m = model();
    let messages = vec![Message::user("Tell me about the sea.")];
    let plain = answer(&m, &messages, readout());
    let trace = plain.attention.as_ref().unwrap();
    assert_eq!(trace.system_tokens, 0);
    assert!(trace.pi.iter().all(|&p| p == 0.0));
    let split = answer(&m, &messages, split(0.2));
    assert_eq!(split.tokens, plain.tokens);
    let guided = answer(
        &m,
        &messages,
        Intervention {
            cfg: Some(2.0),
            ..Default::default()
        },
    );
    assert_eq!(
        guided.tokens, plain.tokens,
        "nothing to remove: guidance is a no-op"
    );
}

/// Guidance combines the two branches' log-probabilities: at α = 1 the combined distribution is
/// the conditional one (computed here on the model's real logits); α > 1 changes the answer.
#[test]
fn guidance_at_one_keeps_the_distribution_and_above_one_changes_it() {
    let m = model();
    let with_system = m.tokenize_chat(&conversation()).unwrap().ids;
    let without: Vec<Message> = conversation()
        .into_iter()
        .filter(|m| m.role != "system")
        .collect();
    let without = m.tokenize_chat(&without).unwrap().ids;
    let cond = m.prompt_logits(&with_system, false).unwrap();
    let uncond = m.prompt_logits(&without, false).unwrap();
    assert_ne!(cond, uncond);
    let probs = |logits: &[f32]| {
        let max = logits.iter().cloned().fold(f32::MIN, f32::max);
        let z: f64 = logits.iter().map(|&l| f64::from((l - max).exp())).sum();
        logits
            .iter()
            .map(|&l| f64::from((l - max).exp()) / z)
            .collect::<Vec<_>>()
    };
    let mut combined = cond.clone();
    guide_logits(&mut combined, &uncond, 1.0);
    let (p, q) = (probs(&combined), probs(&cond));
    let worst = p
        .iter()
        .zip(&q)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-6, "α = 1 moved a probability by {worst}");

    let plain = answer(&m, &conversation(), Intervention::default());
    let one = answer(
        &m,
        &conversation(),
        Intervention {
            cfg: Some(1.0),
            ..Default::default()
        },
    );
    assert_eq!(one.tokens, plain.tokens);
    let strong = answer(
        &m,
        &conversation(),
        Intervention {
            cfg: Some(3.0),
            ..Default::default()
        },
    );
    assert_ne!(strong.tokens, plain.tokens);
    // Guided answers are reproducible, and batching them with others changes nothing.
    let again = answer(
        &m,
        &conversation(),
        Intervention {
            cfg: Some(3.0),
            ..Default::default()
        },
    );
    assert_eq!(again.tokens, strong.tokens);
    let other = vec![Message::system("You are a cat."), Message::user("Hello!")];
    let batch = m
        .chat_batch(
            &[(other, 5), (conversation(), 11)],
            1,
            &opts(Intervention {
                cfg: Some(3.0),
                ..Default::default()
            }),
        )
        .unwrap();
    assert_eq!(batch[1][0].tokens, strong.tokens);
}

/// Each bad option gets an error naming it.
#[test]
fn bad_intervention_options_are_named() {
    let m = model();
    let cases = [
        (split(1.5), "split_softmax must be an exponent k in [0, 1]"),
        (
            Intervention {
                cfg: Some(0.5),
                ..Default::default()
            },
            "cfg must be a guidance strength α ≥ 1",
        ),
        (
            Intervention {
                layers: Some((0, 99)),
                ..split(0.5)
            },
            "layers: the model has layers 0 to 29, got last layer 99",
        ),
        (
            Intervention {
                layers: Some((3, 4)),
                ..Default::default()
            },
            "layers restricts split_softmax",
        ),
    ];
    for (intervention, expected) in cases {
        let err = m
            .chat(&conversation(), 1, &opts(intervention))
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{err}");
    }
}
