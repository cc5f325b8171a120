//! `drift-script chat`: one conversation turn, for trying a model by hand.

use super::ModelArgs;
use crate::model::{ChatModel, Message, SamplingOptions};

#[derive(clap::Args, Debug)]
pub struct ChatArgs {
    /// The user message.
    message: String,
    /// System prompt (omit to send none).
    #[arg(long)]
    system: Option<String>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = 1.0)]
    temperature: f64,
    #[arg(long, default_value_t = 0.9)]
    top_p: f64,
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    #[arg(long, default_value_t = 256)]
    max_tokens: usize,
    /// Stop before this string (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    /// Number of answers to sample together (printed each after a line `--- answer I ---`).
    #[arg(short = 'n', long, default_value_t = 1)]
    n: usize,
    /// Print a JSON object with the reply, token counts and timings.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    model: ModelArgs,
}

pub fn run(args: ChatArgs) -> anyhow::Result<()> {
    let opts = SamplingOptions {
        temperature: args.temperature,
        top_p: args.top_p,
        top_k: args.top_k,
        max_tokens: args.max_tokens,
        seed: args.seed,
        stop: args.stop.clone(),
        ..Default::default()
    };
    opts.validate()?;
    anyhow::ensure!(args.n >= 1, "-n must be at least 1");
    let load_started = std::time::Instant::now();
    let model = args.model.load()?;
    let load_ms = load_started.elapsed().as_secs_f64() * 1e3;
    let mut messages = Vec::new();
    if let Some(system) = &args.system {
        messages.push(Message::system(system.clone()));
    }
    messages.push(Message::user(args.message.clone()));
    let answers = model.chat(&messages, args.n, &opts)?;
    if args.json {
        let generated: usize = answers.iter().map(|a| a.tokens.len()).sum();
        let first = &answers[0];
        let out = serde_json::json!({
            "reply": first.text,
            "replies": answers.iter().map(|a| &a.text).collect::<Vec<_>>(),
            "finish_reason": first.finish_reason,
            "prompt_tokens": first.prompt_tokens,
            "cached_prompt_tokens": first.cached_prompt_tokens,
            "completion_tokens": generated,
            "timings_ms": {
                "load": load_ms,
                "prompt": first.prompt_ms,
                "decode": first.decode_ms,
            },
            "decode_tokens_per_second": generated as f64 / (first.decode_ms / 1e3),
            "model": model.info(),
        });
        outln!("{}", serde_json::to_string_pretty(&out)?)?;
    } else {
        // Answers may hold newlines, so with several each gets a header line of its own.
        let several = answers.len() > 1;
        for (i, answer) in answers.iter().enumerate() {
            if several {
                outln!("--- answer {} ---", i + 1)?;
            }
            outln!("{}", answer.text)?;
        }
    }
    Ok(())
}
