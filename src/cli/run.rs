//! `drift-script SCRIPT.rhai [--set name=value]… [--model SPEC] [--out DIR] [--seed N]
//! [--jobs N] [--shard I/N] [--api-base URL] [--api-key-env NAME] [--max-… N] …`.

use crate::progress::Mode;
use crate::script::{HostConfig, ScriptHost, convert::parse_set_value, limits};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The script to run; without one, the REPL starts.
    pub script: Option<PathBuf>,
    /// A script parameter, as a typed constant (integer, float, true/false, else string).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// The model `model()` loads: `smollm2` (default), a GGUF file, a Hugging Face folder, or
    /// `openai:NAME` (a model served over an OpenAI-compatible HTTP API, see --api-base).
    #[arg(long, default_value = "smollm2")]
    pub model: String,
    /// Extra variables for every model's chat template, a JSON object, as transformers'
    /// `apply_chat_template(**kwargs)` takes them: '{"enable_thinking": false}' turns Qwen3's
    /// thinking mode off. Sent as `chat_template_kwargs` to `openai:` models; part of the
    /// run's identity.
    #[arg(long, value_name = "JSON")]
    pub chat_template_kwargs: Option<String>,
    /// The OpenAI-compatible API root for `openai:NAME` models.
    #[arg(long, env = "DRIFT_API_BASE", default_value = crate::model::openai::DEFAULT_API_BASE)]
    pub api_base: String,
    /// The environment variable holding the API key (unset: no key is sent). Keys are never
    /// read from scripts, nor written to records, logs or errors.
    #[arg(long, value_name = "NAME", default_value = crate::model::openai::DEFAULT_API_KEY_ENV)]
    pub api_key_env: String,
    /// Seconds one HTTP request may take before it is retried.
    #[arg(long, value_name = "SECONDS", default_value_t = 600.0)]
    pub api_timeout: f64,
    /// Retries of a failed HTTP request (timeouts, dropped connections, 429, 5xx).
    #[arg(long, value_name = "N", default_value_t = 6)]
    pub api_retries: u32,
    /// First retry delay in milliseconds; doubles per retry (with jitter) up to 60 s.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub api_backoff_ms: u64,
    /// Units of work (`once(…)`) run at once; records keep the script's order.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub jobs: usize,
    /// Run only shard I of N (0 ≤ I < N) of the script's units; `merge` combines the shards.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Root folder for results; each run writes to its own folder inside.
    #[arg(long, default_value = "selfchat")]
    pub out: PathBuf,
    /// The run seed (`SEED`, and `param("seed", …)`) [default: 0]; `--set seed=N` says the same.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Folder scripts may read and import from (default: the current folder).
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
    /// Stop a script after this many Rhai operations in one pass, closures included (0: no
    /// limit).
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_MAX_OPERATIONS)]
    pub max_ops: u64,
    /// Bytes of string data one value may hold, strings inside arrays and maps included (0: no
    /// limit).
    #[arg(long, value_name = "BYTES", default_value_t = limits::DEFAULT_MAX_STRING_SIZE)]
    pub max_string_size: usize,
    /// Elements one array may hold, those of nested arrays included (0: no limit).
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_MAX_ARRAY_SIZE)]
    pub max_array_size: usize,
    /// Entries one map may hold, those of nested maps included (0: no limit).
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_MAX_MAP_SIZE)]
    pub max_map_size: usize,
    /// How deep script functions may call each other (1 to 10000).
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_MAX_CALL_DEPTH)]
    pub max_call_depth: usize,
    /// How deep expressions and blocks may nest in the source (1 to 10000).
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_MAX_EXPR_DEPTH)]
    pub max_expr_depth: usize,
    /// Stop a script once the process has held this much memory, models included (0: no
    /// limit) [default: three quarters of physical memory].
    #[arg(long, value_name = "MB")]
    pub max_memory: Option<u64>,
    /// Threads for the local engine (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Show the progress line (units done of the total the script declares, generated tokens
    /// per second, time left) even when stderr is not a terminal [default: only when it is;
    /// or DRIFT_SCRIPT_PROGRESS=1, 0 or auto].
    #[arg(long, conflicts_with = "no_progress")]
    pub progress: bool,
    /// Never show the progress line.
    #[arg(long)]
    pub no_progress: bool,
}

impl RunArgs {
    pub fn host_config(&self) -> anyhow::Result<HostConfig> {
        let mut params = Vec::new();
        let mut seed = self.seed;
        for item in &self.set {
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--set {item}: expected NAME=VALUE"))?;
            let name = name.trim();
            anyhow::ensure!(
                !name.is_empty()
                    && name.chars().all(|c| c.is_alphanumeric() || c == '_')
                    && !name.starts_with(|c: char| c.is_ascii_digit()),
                "--set {item}: `{name}` is not a valid name (letters, digits and _)"
            );
            let value = parse_set_value(value);
            if let Some(flag) = reserved_flag(name) {
                anyhow::bail!("--set {item}: `{name}` is set by {flag}, not by --set");
            }
            if let Some((_, earlier)) = params.iter().find(|(n, _)| n == name) {
                anyhow::bail!(
                    "--set {name} is given twice ({earlier}, then {value}); give each name once"
                );
            }
            if name == "seed" {
                // The same run as `--seed N`: `SEED`, `param("seed", …)` and the run folder.
                let from_set = value
                    .as_int()
                    .ok()
                    .and_then(|s| u64::try_from(s).ok())
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "--set seed={value}: the seed must be a non-negative integer"
                        )
                    })?;
                anyhow::ensure!(
                    seed.is_none_or(|s| s == from_set),
                    "--set seed={from_set} and --seed {} disagree; give the seed once",
                    seed.unwrap_or_default()
                );
                seed = Some(from_set);
                continue;
            }
            params.push((name.to_string(), value));
        }
        if let Some(threads) = self.threads {
            anyhow::ensure!(threads >= 1, "--threads must be at least 1");
        }
        anyhow::ensure!(self.jobs >= 1, "--jobs must be at least 1");
        anyhow::ensure!(
            self.api_timeout.is_finite() && self.api_timeout > 0.0,
            "--api-timeout must be a positive number of seconds"
        );
        let shard = match &self.shard {
            None => None,
            Some(text) => {
                let parsed = text.split_once('/').and_then(|(i, n)| {
                    Some((
                        i.trim().parse::<usize>().ok()?,
                        n.trim().parse::<usize>().ok()?,
                    ))
                });
                match parsed {
                    Some((i, n)) if n >= 1 && i < n => Some((i, n)),
                    _ => anyhow::bail!(
                        "--shard {text}: expected I/N with 0 ≤ I < N, e.g. --shard 0/4 … 3/4"
                    ),
                }
            }
        };
        let chat_template_kwargs = match &self.chat_template_kwargs {
            None => Default::default(),
            Some(text) => super::parse_template_kwargs(text)?,
        };
        let http = crate::model::HttpOptions {
            api_base: self.api_base.clone(),
            api_key_env: self.api_key_env.clone(),
            timeout: std::time::Duration::from_secs_f64(self.api_timeout),
            max_retries: self.api_retries,
            backoff: std::time::Duration::from_millis(self.api_backoff_ms),
            max_in_flight: 16.max(self.jobs * 4),
            chat_template_kwargs: chat_template_kwargs.clone(),
            ..crate::model::HttpOptions::default()
        };
        Ok(HostConfig {
            script: self.script.clone(),
            project_dir: self.project.clone(),
            out_root: self.out.clone(),
            model_spec: self.model.clone(),
            chat_template_kwargs,
            seed: seed.unwrap_or(0),
            params,
            limits: self.limits()?,
            threads: self.threads,
            http,
            jobs: self.jobs,
            shard,
        })
    }
}

impl RunArgs {
    /// The resource limits the options give (`script::limits`).
    pub fn limits(&self) -> anyhow::Result<limits::Limits> {
        let limits = limits::Limits {
            max_string_size: self.max_string_size,
            max_array_size: self.max_array_size,
            max_map_size: self.max_map_size,
            max_call_depth: self.max_call_depth,
            max_expr_depth: self.max_expr_depth,
            max_memory_mb: self
                .max_memory
                .unwrap_or_else(limits::default_max_memory_mb),
            max_operations: self.max_ops,
        };
        limits.validate().map_err(anyhow::Error::msg)?;
        Ok(limits)
    }
}

/// The option that sets a constant every script sees, for a `--set` of that name.
fn reserved_flag(name: &str) -> Option<&'static str> {
    match name {
        "SEED" => Some("--seed"),
        "OUT" => Some("--out"),
        "MODEL" => Some("--model"),
        _ => None,
    }
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    crate::interrupt::install_batch_sigint_note();
    crate::interrupt::ignore_file_size_signal();
    // `DRIFT_SCRIPT_PROFILE=1`: time per forward-pass phase over the whole run, printed at the end.
    let profiling = crate::model::local::profile::enable_from_environment();
    let progress = Mode::choose(args.progress, args.no_progress).map_err(anyhow::Error::msg)?;
    let mut host = ScriptHost::new(args.host_config()?)?;
    let result = {
        // Cleared when the run ends, well or not, before anything below prints.
        let _line = progress
            .shows_line()
            .then(|| crate::progress::show(host.progress_source()));
        host.run_script()
    };
    if profiling {
        eprintln!("forward-pass profile of this run:");
        eprint!("{}", crate::model::local::profile::table(1, "run"));
    }
    crate::interrupt::report_crash_points();
    result?;
    if host.has_records() {
        eprintln!("results in {}", host.run_dir().display());
    }
    Ok(())
}
