//! Running llama.cpp's own benchmark tools, built by `bench/build_llama_cpp.sh`.

use super::{BenchArgs, Throughput};
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The folder with llama.cpp's binaries: `--llama-cpp-bin`, `$DRIFT_LLAMA_CPP_BIN`, or the
/// cached build (built on first use by the script in the source tree).
pub fn bin_dir(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = explicit {
        return Ok(dir.into());
    }
    if let Some(dir) = std::env::var_os("DRIFT_LLAMA_CPP_BIN") {
        return Ok(dir.into());
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/build_llama_cpp.sh");
    anyhow::ensure!(
        script.is_file(),
        "llama.cpp is not built and {} is missing: pass --llama-cpp-bin DIR or --no-peer",
        script.display()
    );
    eprintln!(
        "building or locating llama.cpp with {} (the first build takes ~15 minutes)",
        script.display()
    );
    let output = Command::new("bash")
        .arg(&script)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "{} failed ({})",
        script.display(),
        output.status
    );
    let dir = String::from_utf8(output.stdout)?.trim().to_string();
    Ok(dir.into())
}

/// Runs one of llama.cpp's tools on `model` in a child of its own and returns what it printed
/// on stdout and its peak resident memory (`measure::run_measured`); a failure is reported
/// with the tool's last line of stderr.
pub fn run_tool(
    bin: &Path,
    tool: &str,
    model: &Path,
    args: &[&str],
) -> anyhow::Result<(Vec<u8>, f64)> {
    let exe = bin.join(tool);
    anyhow::ensure!(
        exe.is_file(),
        "{} does not exist: build llama.cpp with bench/build_llama_cpp.sh or name its folder \
         with --llama-cpp-bin",
        exe.display()
    );
    let mut command = Command::new(&exe);
    command.arg("-m").arg(model).args(args);
    let measured = super::measure::run_checked(command)?;
    Ok((measured.stdout, measured.peak_rss_mb))
}

/// `llama-bench -p P -n N -t T -r R -o json` on the same file.
pub fn llama_bench(
    bin: &Path,
    model: &Path,
    args: &BenchArgs,
    threads: usize,
) -> anyhow::Result<Throughput> {
    let (stdout, peak_rss_mb) = run_tool(
        bin,
        "llama-bench",
        model,
        &[
            "-t",
            &threads.to_string(),
            "-p",
            &args.prompt_tokens.to_string(),
            "-n",
            &args.decode_tokens.to_string(),
            "-r",
            &args.repetitions.to_string(),
            "-o",
            "json",
        ],
    )?;
    let results: serde_json::Value =
        serde_json::from_slice(&stdout).context("llama-bench printed something other than JSON")?;
    // A zero count means "not run" to llama-bench: that figure is then NaN here.
    let speed = |prompt: bool| -> anyhow::Result<f64> {
        if (prompt && args.prompt_tokens == 0) || (!prompt && args.decode_tokens == 0) {
            return Ok(f64::NAN);
        }
        results
            .as_array()
            .and_then(|runs| {
                runs.iter().find(|r| {
                    let n_prompt = r["n_prompt"].as_u64().unwrap_or(0);
                    let n_gen = r["n_gen"].as_u64().unwrap_or(0);
                    if prompt {
                        n_prompt > 0 && n_gen == 0
                    } else {
                        n_gen > 0 && n_prompt == 0
                    }
                })
            })
            .and_then(|r| r["avg_ts"].as_f64())
            .context("llama-bench's JSON lacks the expected test")
    };
    Ok(Throughput {
        prompt: speed(true)?,
        decode: speed(false)?,
        peak_rss_mb,
    })
}
