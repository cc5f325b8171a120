//! `drift-script bench profile`: where the time of prompt processing and decoding goes, phase by
//! phase (`model::profile`), for the workloads of the engine benchmark and the paper's episode.

use super::BenchArgs;
use crate::model::local::engine::Request;
use crate::model::local::profile;
use crate::model::{LocalModel, LocalOptions, SamplingOptions};
use std::time::Instant;

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let path = super::gguf_path(&args.model)?;
    let model = LocalModel::load_gguf(
        &path,
        &LocalOptions {
            threads: args.threads,
            ..LocalOptions::default()
        },
    )?;
    say!(
        "profile: drift-script {} on {} ({} threads, {})",
        env!("CARGO_PKG_VERSION"),
        path.display(),
        args.threads,
        model.isa()
    );
    let vocab = model.transformer().config.vocab as u64;
    let tokens = |n: usize, salt: u64| -> Vec<u32> {
        (0..n as u64)
            .map(|i| ((i + 1 + salt * 7919).wrapping_mul(2_654_435_761) % vocab) as u32)
            .collect()
    };
    let prompt = tokens(args.prompt_tokens, 0);
    model.prompt_logits(&prompt, false)?; // warm-up
    profile::enable(true);

    let section =
        |title: &str, per: usize, unit: &str, f: &mut dyn FnMut() -> anyhow::Result<()>| {
            profile::reset();
            let started = Instant::now();
            let result = f();
            let wall = started.elapsed().as_secs_f64() * 1e3;
            say!("{title}: {wall:.0} ms wall");
            print!("{}", profile::table(per, unit));
            result
        };
    section(
        &format!("prompt, {} tokens from an empty cache", args.prompt_tokens),
        args.prompt_tokens,
        "token",
        &mut || {
            model.prompt_logits(&prompt, false)?;
            Ok(())
        },
    )?;
    section(
        &format!(
            "decode, {} tokens after a 1-token prompt",
            args.decode_tokens
        ),
        args.decode_tokens,
        "token",
        &mut || {
            model.greedy_tokens(&prompt[..1], args.decode_tokens)?;
            Ok(())
        },
    )?;
    let long = tokens(1500, 1);
    let greedy = SamplingOptions {
        temperature: 0.0,
        max_tokens: args.decode_tokens,
        ignore_eos: true,
        ..SamplingOptions::default()
    };
    model.prompt_logits(&long, true)?; // cached: the section times decoding alone
    section(
        &format!(
            "decode, {} tokens after a cached 1500-token prompt",
            args.decode_tokens
        ),
        args.decode_tokens,
        "token",
        &mut || {
            model.generate(&long, 1, &greedy)?;
            Ok(())
        },
    )?;
    // Real chat prompts: sampling cost depends on how peaked the distributions are, and
    // pseudo-random prompts give flat ones.
    let questions = [
        "What do you think about space exploration?",
        "Is tea better than coffee?",
        "Tell me about your favourite book.",
        "How should cities deal with traffic?",
        "What makes a good teacher?",
        "Should everyone learn to cook?",
        "What is the best way to spend a rainy day?",
        "Why do people like music?",
    ];
    let prompts: Vec<Vec<u32>> = questions
        .iter()
        .map(|q| {
            model
                .tokenize_chat(&[
                    crate::model::Message::system("You are a friendly assistant."),
                    crate::model::Message::user(*q),
                ])
                .map(|p| p.ids)
        })
        .collect::<Result<_, _>>()?;
    let requests: Vec<Request<'_>> = prompts
        .iter()
        .map(|p| Request {
            prompt: p,
            ..Request::default()
        })
        .collect();
    let sampled = SamplingOptions {
        max_tokens: args.decode_tokens,
        ignore_eos: true,
        ..SamplingOptions::default()
    };
    model.generate_batch(
        &requests,
        1,
        &SamplingOptions {
            max_tokens: 1,
            ..sampled.clone()
        },
    )?;
    section(
        &format!(
            "8 chats × {} sampled tokens (temperature 1, top-p 0.9), prompts cached",
            args.decode_tokens
        ),
        8 * args.decode_tokens,
        "token",
        &mut || {
            model.generate_batch(&requests, 1, &sampled)?;
            Ok(())
        },
    )?;
    profile::enable(false);
    Ok(())
}
