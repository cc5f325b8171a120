//! The command line: raw arguments parsed by clap into one validated configuration per command.
//!
//! Owns: argument parsing, the REPL's line editing, and printing through `cli::stdout`. Must
//! not hold experiment logic: each command calls the library (`script`, `plot`, `merge`,
//! `paper::import`, `bench`, `view`) and prints.

/// `print!` to standard output through [`stdout::write`]: `?` hands a closed pipe to `main`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::stdout::write(format_args!($($arg)*))
    };
}

/// `println!` to standard output through [`stdout::write`]: `?` hands a closed pipe to `main`.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::stdout::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod chat;
mod make_model;
mod merge;
mod personas;
mod plot;
mod repl;
mod run;
pub mod stdout;
mod view;

use clap::{Parser, Subcommand};
use std::ffi::OsString;

#[derive(Parser, Debug)]
#[command(
    name = "drift-script",
    version,
    about = "Scriptable experiments on persona drift in chatbots",
    long_about = "Runs a Rhai script in batch (drift-script SCRIPT.rhai), starts the REPL (drift-script), \
                  or runs one of the commands below.",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: run::RunArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// One chat turn with a model; prints only the reply (or JSON with --json).
    Chat(chat::ChatArgs),
    /// Fetches the embedded default model into the cache (and verifies its sha256).
    FetchModel(FetchModelArgs),
    /// Benchmarks against peers; prints one line per figure with `ratio=X`.
    Bench(crate::bench::BenchArgs),
    /// Writes a synthetic GGUF (seeded random weights, SmolLM2's tokenizer) of a given
    /// architecture and size, for speed and memory measurements; optionally quantized by
    /// llama.cpp's llama-quantize. Prints the files' paths.
    MakeModel(make_model::MakeModelArgs),
    /// Draws a results file (JSON Lines) as a line plot, PNG or SVG.
    Plot(plot::PlotArgs),
    /// Lists the persona library (id, family, system prompt, probe), or prints it as JSON.
    Personas(personas::PersonasArgs),
    /// Combines the run folders of a sharded run (--shard i/n) into one run folder.
    Merge(merge::MergeArgs),
    /// Writes a run folder as one self-contained HTML page (RUN_DIR/view.html): configuration,
    /// plots, conversations with probe answers and scores, filters.
    View(view::ViewArgs),
}

/// Options shared by commands that load a local model.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelArgs {
    /// `smollm2` (the default model), a GGUF file, or a Hugging Face folder.
    #[arg(long, default_value = "smollm2")]
    pub model: String,
    /// Threads for the engine (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Extra variables for the chat template, a JSON object: '{"enable_thinking": false}'
    /// turns Qwen3's thinking mode off.
    #[arg(long, value_name = "JSON")]
    pub chat_template_kwargs: Option<String>,
}

impl ModelArgs {
    pub fn local_options(&self) -> anyhow::Result<crate::model::LocalOptions> {
        let mut options = crate::model::LocalOptions::default();
        if let Some(threads) = self.threads {
            anyhow::ensure!(threads >= 1, "--threads must be at least 1");
            options.threads = threads;
        }
        if let Some(text) = &self.chat_template_kwargs {
            options.chat_template_kwargs = parse_template_kwargs(text)?;
        }
        Ok(options)
    }

    pub fn load(&self) -> anyhow::Result<crate::model::LocalModel> {
        anyhow::ensure!(
            !self.model.starts_with("openai:"),
            "--model {}: this command runs local models; served models are used from scripts \
             (drift-script SCRIPT.rhai --model {} --api-base URL)",
            self.model,
            self.model
        );
        let options = self.local_options()?;
        let model =
            crate::model::LocalModel::load(&self.model, &options, &mut |msg| eprintln!("{msg}"))?;
        Ok(model)
    }
}

/// `--chat-template-kwargs`: a JSON object.
pub(crate) fn parse_template_kwargs(
    text: &str,
) -> anyhow::Result<std::collections::BTreeMap<String, serde_json::Value>> {
    let example = r#"'{"enable_thinking": false}'"#;
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => {
            // Refused here too, so that a run stops before anything runs, not at `model()`.
            use crate::model::local::template::{RESERVED_VARIABLES, reserved_variable};
            if let Some(name) = reserved_variable(map.keys()) {
                anyhow::bail!(
                    "--chat-template-kwargs {text}: may not set `{name}`: the renderer sets it ({})",
                    RESERVED_VARIABLES.join(", ")
                );
            }
            Ok(map.into_iter().collect())
        }
        Ok(other) => anyhow::bail!(
            "--chat-template-kwargs {text}: expected a JSON object such as {example}, got {}",
            match other {
                serde_json::Value::Array(_) => "a list",
                serde_json::Value::String(_) => "a string",
                serde_json::Value::Number(_) => "a number",
                serde_json::Value::Bool(_) => "a boolean",
                _ => "null",
            }
        ),
        Err(e) => anyhow::bail!(
            "--chat-template-kwargs {text}: not JSON ({e}); expected an object such as {example}"
        ),
    }
}

pub fn run(args: impl IntoIterator<Item = OsString>) -> anyhow::Result<()> {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version: print and succeed (a closed pipe, as in `| head`, is fine).
            return Ok(out!("{e}")?);
        }
        Err(e) => anyhow::bail!("{}", e.to_string().trim_start_matches("error: ").trim_end()),
    };
    match cli.command {
        Some(Command::Chat(args)) => chat::run(args),
        Some(Command::FetchModel(args)) => fetch_model(args),
        Some(Command::Bench(args)) => crate::bench::run(args),
        Some(Command::MakeModel(args)) => make_model::run(args),
        Some(Command::Plot(args)) => plot::run(args),
        Some(Command::Personas(args)) => personas::run(args),
        Some(Command::Merge(args)) => merge::run(args),
        Some(Command::View(args)) => view::run(args),
        None if cli.run.script.is_some() => run::run(cli.run),
        None => repl::run(cli.run),
    }
}

#[derive(clap::Args, Debug)]
struct FetchModelArgs {
    /// Also fetch the data the paper's helpers need (langdetect's profiles; NLTK's Punkt
    /// parameters and the tagger's weights), used by personas imported from its file, for
    /// machines that will run offline; prints their folders after the model's path.
    #[arg(long, alias = "langdetect")]
    paper_data: bool,
}

fn fetch_model(args: FetchModelArgs) -> anyhow::Result<()> {
    use crate::fetch;
    let spec = fetch::FetchSpec::default_model();
    let path = fetch::default_model_path(&mut |msg| eprintln!("{msg}"))?;
    let actual = fetch::sha256_file(&path)?;
    if actual != spec.sha256 {
        // Corrupted after it was cached: remove it so the next run fetches a good copy.
        std::fs::remove_file(&path)?;
        anyhow::bail!(
            "{} had sha256 {actual}, expected {}: removed it; run fetch-model again",
            path.display(),
            spec.sha256
        );
    }
    outln!("{}", path.display())?;
    if args.paper_data {
        let folder =
            crate::metrics::language::langdetect::data_dir().map_err(anyhow::Error::msg)?;
        crate::metrics::language::langdetect::LangDetect::load(&folder)
            .map_err(anyhow::Error::msg)?;
        outln!("{}", folder.display())?;
        crate::metrics::pos::load().map_err(anyhow::Error::msg)?;
        outln!("{}", crate::metrics::pos::data_dir().display())?;
    }
    Ok(())
}
