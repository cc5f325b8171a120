//! `drift-script bench batch`: aggregate decode throughput with 1, 4 and 8 sequences decoded
//! together, against llama.cpp's `llama-batched-bench` on the same file and threads.
//!
//! Both sides: `B` sequences, each with its own `--batch-prompt` token prompt, then
//! `--batch-decode` tokens for every sequence, one batched step at a time; the figure is
//! `B × tokens / decode seconds` (llama.cpp's `S_TG`). Ours decodes greedily with end-of-turn
//! tokens ignored, so every sequence produces exactly the same count. Each side runs in a child
//! process of its own, whose peak resident memory is printed for both (`measure.rs`).

use super::BenchArgs;
use crate::model::local::engine::Request;
use crate::model::{LocalModel, LocalOptions, SamplingOptions};
use anyhow::Context;
use std::path::Path;

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let path = super::gguf_path(&args.model)?;
    check_sizes(&args.batch_sizes)?;
    say!(
        "batch: {} prompt tokens and {} decoded tokens per sequence, {} threads, {}",
        args.batch_prompt,
        args.batch_decode,
        args.threads,
        path.display()
    );
    let ours = super::measure::ours_in_child("batch", &path, args, args.threads)?;
    let peer = if args.no_peer {
        None
    } else {
        let bin = super::llama_cpp::bin_dir(args.llama_cpp_bin.as_deref())?;
        Some(llama_batched_bench(&bin, &path, args)?)
    };
    for (i, (b, figure)) in ours.batch.iter().enumerate() {
        print_line(
            &format!("batch {b}"),
            *figure,
            peer.as_ref().map(|(p, _)| p[i]),
        )?;
    }
    super::print_memory(ours.peak_rss_mb, peer.map(|(_, rss)| rss))?;
    Ok(())
}

pub fn check_sizes(sizes: &[usize]) -> anyhow::Result<()> {
    anyhow::ensure!(
        !sizes.is_empty() && sizes.iter().all(|&b| b >= 1),
        "--batch-sizes must list sequence counts of at least 1"
    );
    Ok(())
}

/// One figure line: ours, the peer, `ratio=` ours/peer.
pub fn print_line(name: &str, ours: f64, peer: Option<f64>) -> anyhow::Result<()> {
    match peer {
        Some(p) => say!(
            "{name:<8} ours={ours:.1} tok/s  llama.cpp={p:.1} tok/s  ratio={:.2}",
            ours / p
        ),
        None => say!("{name:<8} ours={ours:.1} tok/s"),
    }
    Ok(())
}

/// Aggregate decode tokens per second at each batch size (best of the repetitions), in this
/// process (the child `bench ours-batch` runs this).
/// Also returns the bytes of weights the engine holds.
pub fn measure_ours(path: &Path, args: &BenchArgs) -> anyhow::Result<(Vec<(usize, f64)>, u64)> {
    let model = LocalModel::load_gguf(
        path,
        &LocalOptions {
            threads: args.threads,
            ..LocalOptions::default()
        },
    )?;
    let vocab = model.transformer().config.vocab as u64;
    let opts = SamplingOptions {
        temperature: 0.0,
        max_tokens: args.batch_decode,
        ignore_eos: true,
        ..SamplingOptions::default()
    };
    let mut figures = Vec::new();
    for &b in &args.batch_sizes {
        // Distinct pseudo-random prompts, so that nothing is shared between sequences.
        let prompts: Vec<Vec<u32>> = (0..b as u64)
            .map(|s| {
                (0..args.batch_prompt as u64)
                    .map(|i| ((i + 1 + s * 7919).wrapping_mul(2_654_435_761) % vocab) as u32)
                    .collect()
            })
            .collect();
        let requests: Vec<Request<'_>> = prompts
            .iter()
            .map(|p| Request {
                prompt: p,
                ..Request::default()
            })
            .collect();
        let mut best = 0f64;
        for _ in 0..args.repetitions.max(1) + 1 {
            model.clear_cache();
            let answers = model.generate_batch(&requests, 1, &opts)?;
            let decode_s = answers.iter().map(|a| a[0].decode_ms).fold(0.0, f64::max) / 1e3;
            best = best.max((b * args.batch_decode) as f64 / decode_s);
        }
        figures.push((b, best));
    }
    Ok((figures, model.transformer().weight_bytes() as u64))
}

/// `llama-batched-bench -npp P -ntg N -npl 1,4,8` → S_TG per batch size, and its peak
/// resident memory.
pub fn llama_batched_bench(
    bin: &Path,
    model: &Path,
    args: &BenchArgs,
) -> anyhow::Result<(Vec<f64>, f64)> {
    let sizes = &args.batch_sizes;
    let context = sizes.iter().max().unwrap_or(&1) * (args.batch_prompt + args.batch_decode) + 64;
    let (stdout, peak_rss_mb) = super::llama_cpp::run_tool(
        bin,
        "llama-batched-bench",
        model,
        &[
            "-t",
            &args.threads.to_string(),
            "-c",
            &context.to_string(),
            "-npp",
            &args.batch_prompt.to_string(),
            "-ntg",
            &args.batch_decode.to_string(),
            "-npl",
            &super::measure::join(sizes),
            "--output-format",
            "jsonl",
        ],
    )?;
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&stdout)
        .lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .context("llama-batched-bench printed a line that is not JSON")?;
    let figures = sizes
        .iter()
        .map(|&b| {
            rows.iter()
                .find(|r| r["pl"].as_u64() == Some(b as u64))
                .and_then(|r| r["speed_tg"].as_f64())
                .with_context(|| format!("llama-batched-bench gave no figure for {b} sequences"))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok((figures, peak_rss_mb))
}
