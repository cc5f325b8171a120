//! `drift-script bench scale`: engine and batch figures against llama.cpp at the sizes
//! researchers run, on synthetic models (`crate::synth`: seeded random weights, SmolLM2's
//! tokenizer; speed does not depend on the weights' values) in llama.cpp's own quantized
//! formats, as one table.
//!
//! Per model and format, each side in a child process of its own (`measure.rs`):
//! - prompt (`--prompt-tokens` from an empty cache) and decode (`--decode-tokens`, greedy) at
//!   `--threads`, against `llama-bench`;
//! - decode at 1 thread, for the thread scaling 1 → N of both sides;
//! - aggregate decode of `--batch-sizes` sequences, against `llama-batched-bench`;
//! - each side's peak resident memory during the engine run; our weights in memory against the
//!   file's tensor bytes;
//! - `--decode-pairs` decode-only runs of each side, alternated (ours first, then llama.cpp
//!   first, …), whose median pair ratio is the decode ratio least moved by the machine's
//!   memory bandwidth drifting during the row;
//! - the fraction of the machine's read bandwidth decode reaches: bytes of weights one decode
//!   step reads (every matrix once; the embedding is also the output, so all of it) × tokens
//!   per second / bandwidth measured with as many threads just before the row (a busy
//!   machine's bandwidth changes during a run; above 100% means it changed within the row).

use super::BenchArgs;
use super::measure::{self, OursReport};
use crate::synth::{self, SynthSpec};
use std::path::PathBuf;

/// `--sizes` names and the presets they stand for.
const SIZES: &[(&str, &str)] = &[
    ("1b", "llama-1b"),
    ("3b", "llama-3b"),
    ("qwen3", "qwen3-1b"),
];

struct Row {
    model: String,
    format: String,
    file_bytes: u64,
    tensor_bytes: u64,
    ours: OursReport,
    ours_single: OursReport,
    ours_batch: OursReport,
    peer: Option<Peer>,
    /// Read bandwidth measured just before this row, at 1 and at `--threads` threads (bytes
    /// per second): measured per row, as a busy machine's bandwidth changes over a run.
    bandwidth_one: f64,
    bandwidth: f64,
}

struct Peer {
    engine: super::Throughput,
    single: super::Throughput,
    batch: Vec<f64>,
    /// Decode tok/s of the alternated decode-only runs, (ours, llama.cpp) per pair.
    decode_pairs: Vec<(f64, f64)>,
}

impl Peer {
    /// The median of the pairs' ratios ours ÷ llama.cpp, and their smallest and largest.
    fn pair_ratios(&self) -> Option<(f64, f64, f64)> {
        let ratios: Vec<f64> = self.decode_pairs.iter().map(|(o, p)| o / p).collect();
        Some((
            crate::stats::percentile(&ratios, 0.5)?,
            crate::stats::percentile(&ratios, 0.0)?,
            crate::stats::percentile(&ratios, 1.0)?,
        ))
    }
}

/// A `--sizes` name: one of [`SIZES`], or any `make-model` preset by name (tiny ones too).
fn preset_for(size: &str) -> anyhow::Result<&'static str> {
    let size = size.trim();
    SIZES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(size))
        .map(|(_, preset)| *preset)
        .or_else(|| {
            synth::PRESETS
                .iter()
                .find(|(preset, _)| preset.eq_ignore_ascii_case(size))
                .map(|(preset, _)| *preset)
        })
        .ok_or_else(|| {
            anyhow::anyhow!(
                "unknown size `{size}` (available: {}, or a make-model preset: {})",
                SIZES
                    .iter()
                    .map(|(n, p)| format!("{n} = {p}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                synth::PRESETS
                    .iter()
                    .map(|(p, _)| *p)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.repetitions >= 1, "--repetitions must be at least 1");
    anyhow::ensure!(
        args.prompt_tokens >= 1 && args.decode_tokens >= 1,
        "--prompt-tokens and --decode-tokens must be at least 1"
    );
    super::batch::check_sizes(&args.batch_sizes)?;
    let presets: Vec<&str> = args
        .sizes
        .iter()
        .map(|s| preset_for(s))
        .collect::<anyhow::Result<_>>()?;
    let formats: Vec<&str> = args
        .formats
        .iter()
        .map(|f| synth::parse_format(f))
        .collect::<anyhow::Result<_>>()?;
    // llama-quantize makes the formats, so llama.cpp's build is needed even with --no-peer.
    let bin = super::llama_cpp::bin_dir(args.llama_cpp_bin.as_deref())?;
    say!(
        "scale: drift-script {} on {}, {} threads (and 1 for scaling); prompt {} tokens, decode {} tokens, batch {} × ({} prompt + {} decoded) tokens, {} timed repetitions after a warm-up",
        env!("CARGO_PKG_VERSION"),
        crate::model::local::kernels::detected_isa(),
        args.threads,
        args.prompt_tokens,
        args.decode_tokens,
        measure::join(&args.batch_sizes),
        args.batch_prompt,
        args.batch_decode,
        args.repetitions
    );
    let mut rows = Vec::new();
    for preset in presets {
        let spec = SynthSpec::preset(preset)?;
        let source = synth::ensure_model(&spec, args.threads, &mut |m| eprintln!("{m}"))?;
        for format in &formats {
            let path = synth::quantize(&source, format, &bin, args.threads, &mut |m| {
                eprintln!("{m}")
            })?;
            let row = measure_row(args, &bin, preset, format, path)?;
            print_row_lines(&row, args)?;
            rows.push(row);
        }
    }
    print_table(&rows, args)
}

fn measure_row(
    args: &BenchArgs,
    bin: &std::path::Path,
    preset: &str,
    format: &str,
    path: PathBuf,
) -> anyhow::Result<Row> {
    eprintln!("measuring {preset} {format}: {}", path.display());
    let bandwidth_one = measure::read_bandwidth(1);
    let bandwidth = measure::read_bandwidth(args.threads);
    // Decode only, at 1 thread.
    let single_args = BenchArgs {
        prompt_tokens: 0,
        ..args.clone()
    };
    let ours = measure::ours_in_child("engine", &path, args, args.threads)?;
    let ours_single = measure::ours_in_child("engine", &path, &single_args, 1)?;
    let ours_batch = measure::ours_in_child("batch", &path, args, args.threads)?;
    let peer = if args.no_peer {
        None
    } else {
        Some(Peer {
            engine: super::llama_cpp::llama_bench(bin, &path, args, args.threads)?,
            single: super::llama_cpp::llama_bench(bin, &path, &single_args, 1)?,
            batch: super::batch::llama_batched_bench(bin, &path, args)?.0,
            decode_pairs: decode_pairs(args, bin, &path)?,
        })
    };
    Ok(Row {
        model: preset.to_string(),
        format: format.to_string(),
        file_bytes: std::fs::metadata(&path)?.len(),
        tensor_bytes: measure::file_tensor_bytes(&path)?,
        ours,
        ours_single,
        ours_batch,
        peer,
        bandwidth_one,
        bandwidth,
    })
}

/// `--decode-pairs` decode-only runs of each side at `--threads` (one timed repetition each:
/// the pairs are the repetitions), pair i running ours first when i is even and llama.cpp
/// first when it is odd, so that a drift in bandwidth falls on both sides alike.
fn decode_pairs(
    args: &BenchArgs,
    bin: &std::path::Path,
    path: &std::path::Path,
) -> anyhow::Result<Vec<(f64, f64)>> {
    let pair_args = BenchArgs {
        prompt_tokens: 0,
        repetitions: 1,
        ..args.clone()
    };
    let ours = || -> anyhow::Result<f64> {
        let report = measure::ours_in_child("engine", path, &pair_args, args.threads)?;
        Ok(report.decode.unwrap_or(f64::NAN))
    };
    let peer = || -> anyhow::Result<f64> {
        Ok(super::llama_cpp::llama_bench(bin, path, &pair_args, args.threads)?.decode)
    };
    (0..args.decode_pairs)
        .map(|i| {
            if i % 2 == 0 {
                let o = ours()?;
                Ok((o, peer()?))
            } else {
                let p = peer()?;
                Ok((ours()?, p))
            }
        })
        .collect()
}

fn ratio(ours: f64, peer: f64) -> String {
    format!("{:.2}", ours / peer)
}

/// Fraction of `bandwidth` that reading `bytes` per token at `tokens_per_s` is.
fn bandwidth_fraction(bytes: u64, tokens_per_s: f64, bandwidth: f64) -> f64 {
    bytes as f64 * tokens_per_s / bandwidth
}

/// The row as `ratio=` lines, printed as soon as it is measured.
fn print_row_lines(row: &Row, args: &BenchArgs) -> anyhow::Result<()> {
    let (bw_one, bw) = (row.bandwidth_one, row.bandwidth);
    let ours_prompt = row.ours.prompt.unwrap_or(f64::NAN);
    let ours_decode = row.ours.decode.unwrap_or(f64::NAN);
    let ours_single = row.ours_single.decode.unwrap_or(f64::NAN);
    say!(
        "{} {} ({:.0} MiB file)",
        row.model,
        row.format,
        row.file_bytes as f64 / (1 << 20) as f64
    );
    say!(
        "  {:<15} 1 thread={:.1} GB/s  {} threads={:.1} GB/s  (best streaming read of a 1 GiB buffer, just before this model)",
        "read bandwidth",
        bw_one / 1e9,
        args.threads,
        bw / 1e9
    );
    let figure = |name: &str, ours: f64, peer: Option<f64>| -> anyhow::Result<()> {
        match peer {
            Some(p) => say!(
                "  {name:<15} ours={ours:.1} tok/s  llama.cpp={p:.1} tok/s  ratio={}",
                ratio(ours, p)
            ),
            None => say!("  {name:<15} ours={ours:.1} tok/s"),
        }
        Ok(())
    };
    let peer = row.peer.as_ref();
    figure("prompt", ours_prompt, peer.map(|p| p.engine.prompt))?;
    figure("decode", ours_decode, peer.map(|p| p.engine.decode))?;
    if let Some((median, low, high)) = peer.and_then(Peer::pair_ratios) {
        let pairs = &peer.expect("pairs come with a peer").decode_pairs;
        say!(
            "  {:<15} ratio={median:.2}  (median of {} alternated decode-only pairs, ratios {low:.2}–{high:.2}: {})",
            "decode pairs",
            pairs.len(),
            pairs
                .iter()
                .map(|(o, p)| format!("{o:.1}/{p:.1}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    figure(
        "decode 1 thread",
        ours_single,
        peer.map(|p| p.single.decode),
    )?;
    for (i, (b, ours)) in row.ours_batch.batch.iter().enumerate() {
        figure(&format!("batch {b}"), *ours, peer.map(|p| p.batch[i]))?;
    }
    match peer {
        Some(p) => say!(
            "  {:<15} ours={:.0} MB  llama.cpp={:.0} MB  ratio={}  (peak resident during the engine run, each side its own process; lower is better)",
            "memory",
            row.ours.peak_rss_mb,
            p.engine.peak_rss_mb,
            ratio(row.ours.peak_rss_mb, p.engine.peak_rss_mb)
        ),
        None => say!("  {:<15} ours={:.0} MB", "memory", row.ours.peak_rss_mb),
    }
    say!(
        "  {:<15} ours={:.0} MB in memory  file tensors={:.0} MB  ratio={}  (lower is better)",
        "weights",
        row.ours.weight_bytes as f64 / 1e6,
        row.tensor_bytes as f64 / 1e6,
        ratio(row.ours.weight_bytes as f64, row.tensor_bytes as f64)
    );
    let ours_fraction = bandwidth_fraction(row.ours.weight_bytes, ours_decode, bw);
    let ours_fraction_one = bandwidth_fraction(row.ours.weight_bytes, ours_single, bw_one);
    match peer {
        Some(p) => say!(
            "  {:<15} ours={:.0}% ({:.0}% at 1 thread)  llama.cpp={:.0}% ({:.0}% at 1 thread)  of the read bandwidth at {} threads (weights read per token × tok/s)",
            "bandwidth use",
            ours_fraction * 100.0,
            ours_fraction_one * 100.0,
            bandwidth_fraction(row.tensor_bytes, p.engine.decode, bw) * 100.0,
            bandwidth_fraction(row.tensor_bytes, p.single.decode, bw_one) * 100.0,
            args.threads
        ),
        None => say!(
            "  {:<15} ours={:.0}% ({:.0}% at 1 thread) of the read bandwidth",
            "bandwidth use",
            ours_fraction * 100.0,
            ours_fraction_one * 100.0
        ),
    }
    Ok(())
}

/// Every row as one Markdown table: for each figure ours / llama.cpp (ratio).
fn print_table(rows: &[Row], args: &BenchArgs) -> anyhow::Result<()> {
    let batch = args.batch_sizes.iter().max().copied().unwrap_or(1);
    say!("");
    say!(
        "Each cell: ours / llama.cpp (ratio ours ÷ llama.cpp); tok/s, higher is better; memory, lower is better. {} threads unless said.",
        args.threads
    );
    say!("");
    say!(
        "| model | format | file MiB | weights in memory / file tensors (MB) | prompt | decode | decode, pairs | decode 1 thread | scaling 1 → {} threads | batch {batch} | peak RSS MB | decode bandwidth use |",
        args.threads
    );
    say!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for row in rows {
        let (bw_one, bw) = (row.bandwidth_one, row.bandwidth);
        let ours_prompt = row.ours.prompt.unwrap_or(f64::NAN);
        let ours_decode = row.ours.decode.unwrap_or(f64::NAN);
        let ours_single = row.ours_single.decode.unwrap_or(f64::NAN);
        let ours_batch = row
            .ours_batch
            .batch
            .iter()
            .find(|(b, _)| *b == batch)
            .map_or(f64::NAN, |(_, f)| *f);
        let cell = |ours: f64, peer: Option<f64>, digits: usize| match peer {
            Some(p) => format!(
                "{ours:.digits$} / {p:.digits$} ({})",
                ratio(ours, p),
                digits = digits
            ),
            None => format!("{ours:.digits$}", digits = digits),
        };
        let peer = row.peer.as_ref();
        let peer_batch = peer.and_then(|p| {
            args.batch_sizes
                .iter()
                .position(|&b| b == batch)
                .map(|i| p.batch[i])
        });
        let scaling = match peer {
            Some(p) => format!(
                "{:.2}× / {:.2}×",
                ours_decode / ours_single,
                p.engine.decode / p.single.decode
            ),
            None => format!("{:.2}×", ours_decode / ours_single),
        };
        let bandwidth = match peer {
            Some(p) => format!(
                "{:.0}% / {:.0}% (1 thread: {:.0}% / {:.0}%)",
                bandwidth_fraction(row.ours.weight_bytes, ours_decode, bw) * 100.0,
                bandwidth_fraction(row.tensor_bytes, p.engine.decode, bw) * 100.0,
                bandwidth_fraction(row.ours.weight_bytes, ours_single, bw_one) * 100.0,
                bandwidth_fraction(row.tensor_bytes, p.single.decode, bw_one) * 100.0
            ),
            None => format!(
                "{:.0}% (1 thread: {:.0}%)",
                bandwidth_fraction(row.ours.weight_bytes, ours_decode, bw) * 100.0,
                bandwidth_fraction(row.ours.weight_bytes, ours_single, bw_one) * 100.0
            ),
        };
        let pairs = peer
            .and_then(Peer::pair_ratios)
            .map_or("–".to_string(), |(median, low, high)| {
                format!("{median:.2} ({low:.2}–{high:.2})")
            });
        say!(
            "| {} | {} | {:.0} | {:.0} / {:.0} ({}) | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.model,
            row.format,
            row.file_bytes as f64 / (1 << 20) as f64,
            row.ours.weight_bytes as f64 / 1e6,
            row.tensor_bytes as f64 / 1e6,
            ratio(row.ours.weight_bytes as f64, row.tensor_bytes as f64),
            cell(ours_prompt, peer.map(|p| p.engine.prompt), 1),
            cell(ours_decode, peer.map(|p| p.engine.decode), 1),
            pairs,
            cell(ours_single, peer.map(|p| p.single.decode), 1),
            scaling,
            cell(ours_batch, peer_batch, 1),
            cell(row.ours.peak_rss_mb, peer.map(|p| p.engine.peak_rss_mb), 0),
            bandwidth
        );
    }
    say!("");
    say!(
        "decode, pairs: the median ratio of {} alternated decode-only runs of each side (and the range of the pair ratios); decode: one run each",
        args.decode_pairs
    );
    say!(
        "decode bandwidth use: bytes of weights one decode step reads (ours: the weights in memory; llama.cpp: the file's tensors; the tied embedding is also the output) × tok/s ÷ the read bandwidth measured just before the row with as many threads{}",
        rows.iter()
            .map(|r| format!(
                "; {} {}: {:.1} / {:.1} GB/s at 1 / {} threads",
                r.model,
                r.format,
                r.bandwidth_one / 1e9,
                r.bandwidth / 1e9,
                args.threads
            ))
            .collect::<String>()
    );
    Ok(())
}
