//! `drift-script bench interventions`: what the attention read-out, split-softmax, guidance, the
//! residual-stream read-out, steering and capping cost on top of plain generation, on one
//! self-chat-sized conversation.
//!
//! Each setting answers the same conversation with the same seed and exactly `decode_tokens`
//! tokens (end-of-turn tokens do not stop it), twice: from an empty prefix cache (prompt and
//! decoding) and with the prompt cached (decoding alone, as in a self-chat where every turn
//! extends the previous prompt). Lines print both times and `slowdown=` (setting / plain; the
//! bars: ≤ 1.3 for the attention read-out and split-softmax, ≤ 1.1 for the activations read-out,
//! ≤ 1.2 for steering and capping).

use super::BenchArgs;
use crate::model::options::{
    ActivationReadout, Intervention, Positions, Readout, Reduce, ResidualEdit, ResidualOp,
};
use crate::model::{ChatModel, LocalModel, LocalOptions, Message, SamplingOptions};
use std::time::Instant;

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.repetitions >= 1, "--repetitions must be at least 1");
    let path = super::gguf_path(&args.model)?;
    let model = LocalModel::load_gguf(
        &path,
        &LocalOptions {
            threads: args.threads,
            ..LocalOptions::default()
        },
    )?;
    let messages = conversation(&model, args.prompt_tokens)?;
    let prompt_tokens = model.count_tokens(&messages)?;
    say!(
        "interventions: drift-script {} on {} ({} threads), prompt {prompt_tokens} tokens, {} generated tokens, best of {}",
        env!("CARGO_PKG_VERSION"),
        path.display(),
        args.threads,
        args.decode_tokens,
        args.repetitions
    );
    let (layers, hidden) = (model.info().layers, model.info().hidden_size);
    // A fixed direction; speed does not depend on which.
    let direction: Vec<f32> = (0..hidden)
        .map(|i| ((i * 7919) % 2001) as f32 / 1000.0 - 1.0)
        .collect();
    let middle = layers / 2;
    let band: Vec<usize> = (middle..(middle + 3).min(layers)).collect();
    let edits = |op: &dyn Fn() -> ResidualOp| -> Vec<ResidualEdit> {
        band.iter()
            .map(|&layer| ResidualEdit {
                layer,
                positions: Positions::All,
                op: op(),
            })
            .collect()
    };
    let settings: Vec<(&str, Intervention)> = vec![
        ("plain", Intervention::default()),
        (
            "readout",
            Intervention {
                attention: Readout::Pi,
                ..Default::default()
            },
        ),
        (
            "split",
            Intervention {
                split_softmax: Some(0.5),
                ..Default::default()
            },
        ),
        (
            "split+readout",
            Intervention {
                attention: Readout::Pi,
                split_softmax: Some(0.5),
                ..Default::default()
            },
        ),
        (
            "cfg",
            Intervention {
                cfg: Some(1.5),
                ..Default::default()
            },
        ),
        (
            "activations",
            Intervention {
                activations: Some(ActivationReadout {
                    layers: band.clone(),
                    reduce: Reduce::Mean,
                }),
                ..Default::default()
            },
        ),
        (
            "steer",
            Intervention {
                steer: edits(&|| ResidualOp::Add {
                    vector: direction.clone(),
                    coefficient: -0.5,
                }),
                ..Default::default()
            },
        ),
        (
            "cap",
            Intervention {
                steer: edits(&|| ResidualOp::Cap {
                    vector: direction.clone(),
                    threshold: 0.0,
                }),
                ..Default::default()
            },
        ),
    ];
    let opts: Vec<SamplingOptions> = settings
        .iter()
        .map(|(_, intervention)| SamplingOptions {
            seed: args.seed,
            max_tokens: args.decode_tokens,
            ignore_eos: true,
            intervention: intervention.clone(),
            ..SamplingOptions::default()
        })
        .collect();
    // A warm-up, then the settings in turn on every repetition, so that a slow moment of the
    // machine does not land on one setting; each keeps its best time.
    time_once(&model, &messages, &opts[0])?;
    let mut best = vec![(f64::MAX, f64::MAX); settings.len()];
    for _ in 0..args.repetitions {
        for (b, o) in best.iter_mut().zip(&opts) {
            let (fresh, cached) = time_once(&model, &messages, o)?;
            *b = (b.0.min(fresh), b.1.min(cached));
        }
    }
    let plain = best[0];
    for ((name, _), (fresh, cached)) in settings.iter().zip(best) {
        say!(
            "{name:<14} fresh={:.0} ms  cached={:.0} ms  slowdown={:.2} (fresh {:.2})",
            fresh * 1e3,
            cached * 1e3,
            cached / plain.1,
            fresh / plain.0
        );
    }
    Ok(())
}

/// Wall time from an empty cache, and with only the prompt cached.
fn time_once(
    model: &LocalModel,
    messages: &[Message],
    opts: &SamplingOptions,
) -> anyhow::Result<(f64, f64)> {
    model.clear_cache();
    let started = Instant::now();
    let answers = model.chat(messages, 1, opts)?;
    let fresh = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        answers[0].tokens.len() == opts.max_tokens,
        "answer cut short"
    );
    // Cache the prompt alone (a one-token answer adds nothing worth reusing), then time
    // decoding from it.
    model.clear_cache();
    let one_token = SamplingOptions {
        max_tokens: 1,
        ..opts.clone()
    };
    model.chat(messages, 1, &one_token)?;
    let started = Instant::now();
    model.chat(messages, 1, opts)?;
    Ok((fresh, started.elapsed().as_secs_f64()))
}

/// A system prompt and alternating turns, about `tokens` long.
fn conversation(model: &LocalModel, tokens: usize) -> anyhow::Result<Vec<Message>> {
    let turns = [
        "Space exploration divides opinions. What's your perspective?",
        "Arr, matey, the stars be the greatest sea of all, and a pirate's heart longs to sail it.",
        "But is it worth the money when there are problems to solve here on Earth?",
        "Aye, the treasure out there be knowledge, and knowledge feeds the crew back home.",
        "What would you bring on a long voyage to Mars?",
        "A sturdy ship, a loyal crew, plenty of rum and a map of every star, me hearty.",
    ];
    let mut messages = vec![Message::system(
        "You are a pirate. Always answer like a pirate would, with arr and matey.",
    )];
    let mut i = 0;
    while model.count_tokens(&messages)? < tokens {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        messages.push(Message::new(role, turns[i % turns.len()]));
        i += 1;
    }
    if messages.last().is_some_and(|m| m.role == "assistant") {
        messages.push(Message::user("Tell me more."));
    }
    Ok(messages)
}
