//! Benchmarks that print ratios against the peers named in DESIGN.md §5. Each figure is one
//! line naming it, with both sides' numbers and `ratio=X` (ours / peer; above 1 means faster).
//!
//! Owns: the peers' builds and runs (llama.cpp, transformers) and the timing. Nothing in the
//! library imports `bench`.
//!
//! `drift-script bench engine`: prompt processing (512 tokens from an empty cache) and decode
//! (128 tokens, one at a time, greedy) of the local engine against llama.cpp's `llama-bench` on
//! the same GGUF file and thread count, plus peak resident memory of both, each side measured
//! as a child process of its own (`measure.rs`), and the weights in memory against the file's
//! tensor bytes.
//!
//! `drift-script bench scale` (`scale.rs`): engine and batch on synthetic 1B/3B Llama-shaped
//! and 1.7B Qwen3-shaped models (`crate::synth`) in Q4_0, Q4_K_M and Q8_0, as one table with
//! thread scaling and the fraction of the machine's memory bandwidth decode reaches.
//!
//! `drift-script bench episode` (`episode.rs`) and `drift-script bench http` (`http.rs`): one
//! whole self-chat episode against the transformers pipeline, and against llama.cpp's server
//! through the HTTP backend.

/// `println!` through `cli::stdout`, so `bench … | head` ends quietly like every other command
/// (a closed pipe reaches `main` as `StdoutError::Closed`, status 0).
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::stdout::write(format_args!("{}\n", format_args!($($arg)*)))?
    };
}

mod batch;
pub mod episode;
mod http;
mod interventions;
mod llama_cpp;
pub mod measure;
mod profile;
mod reliability;
mod scale;

use crate::model::{LocalModel, LocalOptions};
use std::time::Instant;

#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Which benchmark: `all` (engine, batch, episode and http in turn), `engine` (prompt and
    /// decode vs llama.cpp and transformers), `batch`
    /// (aggregate decode of 1, 4 and 8 sequences vs llama-batched-bench), `episode` (one paper
    /// episode vs the transformers pipeline), `http` (one episode on the local engine vs through
    /// the HTTP backend on llama.cpp's server), `interventions` (what the read-out,
    /// split-softmax and guidance cost over plain generation), `profile` (time per
    /// forward-pass phase) or `scale` (engine and batch on synthetic 1B–3B models in Q4_0,
    /// Q4_K_M and Q8_0 vs llama.cpp, one table; `--sizes`, `--formats` narrow it);
    /// `reliability` (crash and fault tests of run folders, see reliability.rs) is not part of
    /// `all`. (`ours-engine` and `ours-batch` are the child processes that measure our side.)
    which: String,
    /// `smollm2` (default) or a GGUF file (llama.cpp needs GGUF).
    #[arg(long, default_value = "smollm2")]
    model: String,
    /// Threads for both sides.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Timed repetitions per figure (after one warm-up). `scale`'s defaults are smaller
    /// throughout (2, 128, 64, 32, 32, 8), so that it runs in minutes per model.
    #[arg(long, default_value_t = 3, default_value_if("which", "scale", "2"))]
    repetitions: usize,
    #[arg(long, default_value_t = 512, default_value_if("which", "scale", "128"))]
    prompt_tokens: usize,
    #[arg(long, default_value_t = 128, default_value_if("which", "scale", "64"))]
    decode_tokens: usize,
    /// batch: prompt tokens per sequence.
    #[arg(long, default_value_t = 128, default_value_if("which", "scale", "32"))]
    batch_prompt: usize,
    /// batch: decoded tokens per sequence.
    #[arg(long, default_value_t = 128, default_value_if("which", "scale", "32"))]
    batch_decode: usize,
    /// batch: how many sequences decode together, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,4,8",
        default_value_if("which", "scale", "8")
    )]
    batch_sizes: Vec<usize>,
    /// scale: which synthetic models, comma-separated (1b, 3b, qwen3).
    #[arg(long, value_delimiter = ',', default_value = "1b,3b,qwen3")]
    sizes: Vec<String>,
    /// scale: which formats, comma-separated (llama-quantize's names).
    #[arg(long, value_delimiter = ',', default_value = "Q4_0,Q4_K_M,Q8_0")]
    formats: Vec<String>,
    /// scale: decode-only runs of each side, alternated in pairs (ours first, then llama.cpp
    /// first, …), after a row's other figures; the row's decode ratio is then also given as the
    /// median of the pairs' ratios, which the drift of a shared machine's memory bandwidth
    /// (both sides decode at it; ±15% from minute to minute) moves far less than one run each.
    /// 0 skips them.
    #[arg(long, default_value_t = 4)]
    decode_pairs: usize,
    /// Measure only our engine.
    #[arg(long)]
    no_peer: bool,
    /// Folder holding llama.cpp's `llama-bench` (default: build or reuse the cached build).
    #[arg(long)]
    llama_cpp_bin: Option<std::path::PathBuf>,
    /// episode: the agent persona.
    #[arg(long)]
    agent: Option<String>,
    /// episode: the user persona.
    #[arg(long)]
    user: Option<String>,
    /// episode: messages in the conversation.
    #[arg(long, default_value_t = 8)]
    turns: usize,
    /// episode: probe answers per agent turn.
    #[arg(long, default_value_t = 2)]
    runs: usize,
    /// episode: new tokens per answer at most.
    #[arg(long, default_value_t = 400)]
    max_tokens: usize,
    /// episode: the seed; reliability: the seed choosing the kill points.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// reliability: runs killed and resumed (each phase once first, then random ones).
    #[arg(long, default_value_t = 50)]
    kills: usize,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.which.as_str() {
        "engine" => engine(&args),
        "episode" => episode::run(&args),
        "interventions" => interventions::run(&args),
        "batch" => batch::run(&args),
        "profile" => profile::run(&args),
        "http" => http::run(&args),
        "reliability" => reliability::run(&args),
        "scale" => scale::run(&args),
        "ours-engine" => {
            let report = measure_ours(&gguf_path(&args.model)?, &args)?;
            say!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        "ours-batch" => {
            let path = gguf_path(&args.model)?;
            batch::check_sizes(&args.batch_sizes)?;
            let (batch, weight_bytes) = batch::measure_ours(&path, &args)?;
            let report = measure::OursReport {
                batch,
                weight_bytes,
                ..Default::default()
            };
            say!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        "all" => {
            // One line per figure with `ratio=`: prompt, decode, batch 1/4/8, episode (and the
            // HTTP episode against llama.cpp's server).
            engine(&args)?;
            batch::run(&args)?;
            episode::run(&args)?;
            http::run(&args)
        }
        other => anyhow::bail!(
            "unknown benchmark `{other}` (available: all, engine, batch, episode, http, interventions, profile, scale)"
        ),
    }
}

/// Tokens per second of one side of a figure, and that side's peak resident memory.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    pub prompt: f64,
    pub decode: f64,
    pub peak_rss_mb: f64,
}

/// The folder holding llama.cpp's binaries (see `llama_cpp::bin_dir`).
pub fn llama_cpp_bin(explicit: Option<&std::path::Path>) -> anyhow::Result<std::path::PathBuf> {
    llama_cpp::bin_dir(explicit)
}

fn engine(args: &BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.repetitions >= 1, "--repetitions must be at least 1");
    let model_path = gguf_path(&args.model)?;
    let ours = measure::ours_in_child("engine", &model_path, args, args.threads)?;
    let (ours_prompt, ours_decode) = (
        ours.prompt.unwrap_or(f64::NAN),
        ours.decode.unwrap_or(f64::NAN),
    );
    say!(
        "engine: drift-script {} on {} ({} threads), {}",
        env!("CARGO_PKG_VERSION"),
        crate::model::local::kernels::detected_isa(),
        args.threads,
        model_path.display()
    );
    let peer = if args.no_peer {
        None
    } else {
        let bin = llama_cpp::bin_dir(args.llama_cpp_bin.as_deref())?;
        Some(llama_cpp::llama_bench(
            &bin,
            &model_path,
            args,
            args.threads,
        )?)
    };
    let line = |name: &str, ours: f64, peer: Option<f64>| -> anyhow::Result<()> {
        match peer {
            Some(p) => say!(
                "{name:<7} ours={ours:.1} tok/s  llama.cpp={p:.1} tok/s  ratio={:.2}",
                ours / p
            ),
            None => say!("{name:<7} ours={ours:.1} tok/s"),
        }
        Ok(())
    };
    // The prompt's peer is the faster of llama.cpp and transformers (fp32 matrix multiplies).
    match peer {
        Some(p) => {
            let transformers = transformers_prompt(&model_path, args)?;
            say!(
                "prompt  ours={:.1} tok/s  llama.cpp={:.1} tok/s  transformers={transformers:.1} tok/s  ratio={:.2}",
                ours_prompt,
                p.prompt,
                ours_prompt / p.prompt.max(transformers)
            );
        }
        None => line("prompt", ours_prompt, None)?,
    }
    line("decode", ours_decode, peer.map(|p| p.decode))?;
    print_memory(ours.peak_rss_mb, peer.map(|p| p.peak_rss_mb))?;
    print_weights(ours.weight_bytes, measure::file_tensor_bytes(&model_path)?)?;
    Ok(())
}

/// The `memory` line: each side's peak resident memory, measured alike (its own child).
fn print_memory(ours_mb: f64, peer_mb: Option<f64>) -> anyhow::Result<()> {
    match peer_mb {
        Some(p) => say!(
            "memory  ours={ours_mb:.0} MB  llama.cpp={p:.0} MB  ratio={:.2}  (peak resident of each side's own process; ratio here is ours / llama.cpp, lower is better)",
            ours_mb / p
        ),
        None => say!("memory  ours={ours_mb:.0} MB  (peak resident of our own process)"),
    }
    Ok(())
}

/// The `weights` line: bytes our engine holds for the weights against the file's tensor bytes.
fn print_weights(ours: u64, file: u64) -> anyhow::Result<()> {
    say!(
        "weights ours={:.0} MB in memory  file tensors={:.0} MB  ratio={:.2}  (ours / file, lower is better)",
        ours as f64 / 1e6,
        file as f64 / 1e6,
        ours as f64 / file as f64
    );
    Ok(())
}

/// Prompt tokens per second of transformers' fp32 forward pass (bench/transformers_prompt.py).
fn transformers_prompt(model: &std::path::Path, args: &BenchArgs) -> anyhow::Result<f64> {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = episode::transformers_python(repo)?;
    let output = std::process::Command::new(&python)
        .arg(repo.join("bench/transformers_prompt.py"))
        .arg("--gguf")
        .arg(model)
        .args(["--threads", &args.threads.to_string()])
        .args(["--tokens", &args.prompt_tokens.to_string()])
        .args(["--repetitions", &args.repetitions.to_string()])
        .stderr(std::process::Stdio::inherit())
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "bench/transformers_prompt.py failed ({})",
        output.status
    );
    let stdout = String::from_utf8(output.stdout)?;
    let last = stdout.lines().last().unwrap_or("");
    let result: serde_json::Value = serde_json::from_str(last).map_err(|e| {
        anyhow::anyhow!("unexpected output from transformers_prompt.py: {last} ({e})")
    })?;
    result["tokens_per_s"]
        .as_f64()
        .ok_or_else(|| anyhow::anyhow!("no tokens_per_s in {last}"))
}

/// The GGUF file a model spec names (benchmarks compare on GGUF files).
fn gguf_path(spec: &str) -> anyhow::Result<std::path::PathBuf> {
    match crate::model::local::engine::resolve_spec(spec, &mut |m| eprintln!("{m}"))? {
        crate::model::local::engine::ModelSource::Gguf(path) => Ok(path),
        crate::model::local::engine::ModelSource::HfFolder(dir) => {
            anyhow::bail!(
                "{} is a safetensors folder; benchmarks compare on a GGUF file",
                dir.display()
            )
        }
    }
}

/// Prompt and decode speed of our engine in this process (the child `bench ours-engine` runs
/// this). A count of 0 skips that figure (`None`).
fn measure_ours(path: &std::path::Path, args: &BenchArgs) -> anyhow::Result<measure::OursReport> {
    anyhow::ensure!(args.repetitions >= 1, "--repetitions must be at least 1");
    let options = LocalOptions {
        threads: args.threads,
        ..LocalOptions::default()
    };
    let model = LocalModel::load_gguf(path, &options)?;
    let vocab = model.transformer().config.vocab as u64;
    // Pseudo-random token ids, like llama-bench's synthetic prompts.
    let prompt: Vec<u32> = (0..args.prompt_tokens.max(1) as u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) % vocab) as u32)
        .collect();
    let time = |f: &mut dyn FnMut() -> anyhow::Result<()>| -> anyhow::Result<f64> {
        f()?; // warm-up
        let mut total = 0.0;
        for _ in 0..args.repetitions {
            let started = Instant::now();
            f()?;
            total += started.elapsed().as_secs_f64();
        }
        Ok(total / args.repetitions as f64)
    };
    let prompt_speed = if args.prompt_tokens == 0 {
        None
    } else {
        let seconds = time(&mut || {
            model.prompt_logits(&prompt, false)?;
            Ok(())
        })?;
        Some(args.prompt_tokens as f64 / seconds)
    };
    let decode_speed = if args.decode_tokens == 0 {
        None
    } else {
        let seconds = time(&mut || {
            model.greedy_tokens(&prompt[..1], args.decode_tokens)?;
            Ok(())
        })?;
        Some(args.decode_tokens as f64 / seconds)
    };
    Ok(measure::OursReport {
        prompt: prompt_speed,
        decode: decode_speed,
        batch: Vec::new(),
        weight_bytes: model.transformer().weight_bytes() as u64,
        peak_rss_mb: 0.0,
    })
}
