//! `drift-script make-model`: a synthetic GGUF (seeded random weights, SmolLM2's tokenizer) of a
//! given architecture and size, optionally also in llama.cpp's quantized formats. See
//! `crate::synth` for what the file holds.

use crate::synth::{self, Family, SynthSpec, SynthType};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct MakeModelArgs {
    /// A named size (llama-1b, llama-3b, qwen3-1b, tiny-llama, tiny-qwen3); the options below
    /// override its fields.
    #[arg(long)]
    preset: Option<String>,
    /// The architecture (without --preset: required).
    #[arg(long, value_enum)]
    arch: Option<Family>,
    #[arg(long)]
    hidden: Option<usize>,
    #[arg(long)]
    layers: Option<usize>,
    #[arg(long)]
    heads: Option<usize>,
    #[arg(long)]
    kv_heads: Option<usize>,
    /// Width of one attention head (default: hidden / heads).
    #[arg(long)]
    head_dim: Option<usize>,
    #[arg(long)]
    ffn: Option<usize>,
    /// Context length written in the metadata.
    #[arg(long)]
    context: Option<usize>,
    #[arg(long)]
    seed: Option<u64>,
    /// Element type of the matrices.
    #[arg(long = "type", value_enum)]
    ty: Option<SynthType>,
    /// Where to write (default: the cache, $DRIFT_SCRIPT_HOME/synth, named by every field).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Also write these formats with llama.cpp's llama-quantize, comma-separated (Q4_0,
    /// Q4_K_M, Q8_0, …), next to the file (NAME.q4_k_m.gguf for NAME.f16.gguf); reused when
    /// not older than the file.
    #[arg(long, value_delimiter = ',')]
    quantize: Vec<String>,
    /// Folder holding llama-quantize (default: $DRIFT_LLAMA_CPP_BIN or the cached build of
    /// bench/build_llama_cpp.sh).
    #[arg(long)]
    llama_cpp_bin: Option<PathBuf>,
    /// Threads drawing the weights and quantizing (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Write the cached file again even if it exists (a file named with -o is always written).
    #[arg(long)]
    force: bool,
}

impl MakeModelArgs {
    fn spec(&self) -> anyhow::Result<SynthSpec> {
        let mut spec = match (&self.preset, self.arch) {
            (Some(name), _) => SynthSpec::preset(name)?,
            (None, Some(family)) => {
                let required = |flag: &str, v: Option<usize>| {
                    v.ok_or_else(|| anyhow::anyhow!("{flag} is required without --preset"))
                };
                let hidden = required("--hidden", self.hidden)?;
                let heads = required("--heads", self.heads)?;
                anyhow::ensure!(heads >= 1, "--heads must be at least 1");
                SynthSpec {
                    family,
                    hidden,
                    layers: required("--layers", self.layers)?,
                    heads,
                    kv_heads: self.kv_heads.unwrap_or(heads),
                    head_dim: self.head_dim.unwrap_or(hidden / heads),
                    ffn: required("--ffn", self.ffn)?,
                    context: 4096,
                    seed: 1,
                    ty: SynthType::F16,
                }
            }
            (None, None) => anyhow::bail!(
                "name a --preset ({}) or an --arch with its sizes",
                synth::PRESETS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        if let Some(family) = self.arch {
            spec.family = family;
        }
        let overrides = [
            (&mut spec.hidden, self.hidden),
            (&mut spec.layers, self.layers),
            (&mut spec.heads, self.heads),
            (&mut spec.kv_heads, self.kv_heads),
            (&mut spec.head_dim, self.head_dim),
            (&mut spec.ffn, self.ffn),
            (&mut spec.context, self.context),
        ];
        for (field, value) in overrides {
            if let Some(v) = value {
                *field = v;
            }
        }
        if let Some(seed) = self.seed {
            spec.seed = seed;
        }
        if let Some(ty) = self.ty {
            spec.ty = ty;
        }
        spec.validate()?;
        Ok(spec)
    }
}

pub fn run(args: MakeModelArgs) -> anyhow::Result<()> {
    let spec = args.spec()?;
    let formats: Vec<&str> = args
        .quantize
        .iter()
        .filter(|f| !f.trim().is_empty())
        .map(|f| synth::parse_format(f))
        .collect::<anyhow::Result<_>>()?;
    let threads = match args.threads {
        Some(0) => anyhow::bail!("--threads must be at least 1"),
        Some(t) => t,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    // Before the (long) write: llama-quantize must be there if formats are asked for.
    let quantize_bin = if formats.is_empty() {
        None
    } else {
        let bin = crate::bench::llama_cpp_bin(args.llama_cpp_bin.as_deref())?;
        synth::check_llama_quantize(&bin)?;
        Some(bin)
    };
    let path = args
        .output
        .clone()
        .unwrap_or_else(|| synth::cache_dir().join(spec.file_name()));
    // A file in the cache is named by every setting, so it is reused; a file named with -o is
    // always written.
    if args.force || args.output.is_some() || !path.is_file() {
        let tokenizer = synth::default_tokenizer_metadata(&mut |m| eprintln!("{m}"))?;
        let started = std::time::Instant::now();
        let mut last_report = std::time::Instant::now();
        synth::write_model(&spec, &tokenizer, &path, threads, &mut |done, total| {
            if last_report.elapsed().as_secs() >= 5 {
                eprintln!(
                    "{:.0}% of {:.2} GB",
                    done as f64 * 100.0 / total as f64,
                    total as f64 / 1e9
                );
                last_report = std::time::Instant::now();
            }
        })?;
        eprintln!(
            "wrote {} in {:.1} s",
            path.display(),
            started.elapsed().as_secs_f64()
        );
    } else {
        eprintln!("{} exists (--force writes it again)", path.display());
    }
    outln!("{}", path.display())?;
    if let Some(bin) = quantize_bin {
        for format in formats {
            let quantized =
                synth::quantize(&path, format, &bin, threads, &mut |m| eprintln!("{m}"))?;
            outln!("{}", quantized.display())?;
        }
    }
    Ok(())
}
