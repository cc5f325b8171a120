//! `drift-script SCRIPT.rhai [--set name=value]… [--model SPEC] [--out DIR] [--seed N]`.

use crate::script::{HostConfig, ScriptHost, convert::parse_set_value};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The script to run; without one, the REPL starts.
    pub script: Option<PathBuf>,
    /// A script parameter, as a typed constant (integer, float, true/false, else string).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// The model `model()` loads: `smollm2` (default), a GGUF file, or a Hugging Face folder.
    #[arg(long, default_value = "smollm2")]
    pub model: String,
    /// Root folder for results; each run writes to its own folder inside.
    #[arg(long, default_value = "selfchat")]
    pub out: PathBuf,
    /// The run seed (`SEED`, and `param("seed", …)`).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Folder scripts may read and import from (default: the current folder).
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
    /// Stop a script after this many Rhai operations (default: no limit).
    #[arg(long)]
    pub max_ops: Option<u64>,
    /// Threads for the local engine (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
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
            if name == "seed" {
                seed = value
                    .as_int()
                    .ok()
                    .and_then(|s| u64::try_from(s).ok())
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "--set seed={value}: the seed must be a non-negative integer"
                        )
                    })?;
            }
            params.push((name.to_string(), value));
        }
        if let Some(threads) = self.threads {
            anyhow::ensure!(threads >= 1, "--threads must be at least 1");
        }
        Ok(HostConfig {
            script: self.script.clone(),
            project_dir: self.project.clone(),
            out_root: self.out.clone(),
            model_spec: self.model.clone(),
            seed,
            params,
            max_operations: self.max_ops,
            threads: self.threads,
        })
    }
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let mut host = ScriptHost::new(args.host_config()?)?;
    host.run_script()?;
    if host.has_records() {
        eprintln!("results in {}", host.run_dir().display());
    }
    Ok(())
}
