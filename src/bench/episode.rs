//! `drift-script bench episode`: one whole episode of the paper's protocol, run by
//! scripts/selfchat.rhai on our engine and by the seed's approach (Hugging Face transformers'
//! text-generation pipeline, re-encoding the whole history every turn; bench/
//! transformers_selfchat.py) on the same GGUF file, personas, topic, turns, runs and token
//! limit. Answers are sampled, so their lengths differ between the two: the figure compared is
//! generated tokens per second over the whole episode, model loading excluded.

use super::BenchArgs;
use crate::script::{HostConfig, ScriptHost};
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// What one side measured.
#[derive(Debug, Clone, Copy)]
pub struct EpisodeFigures {
    pub wall_s: f64,
    pub generated_tokens: u64,
}

impl EpisodeFigures {
    pub fn tokens_per_second(&self) -> f64 {
        self.generated_tokens as f64 / self.wall_s
    }

    /// One side's line: wall time, generated tokens and their rate.
    pub fn print(&self, side: &str) -> anyhow::Result<()> {
        say!(
            "{side:<13} wall={:.1}s  generated={} tokens  ({:.1} tok/s)",
            self.wall_s,
            self.generated_tokens,
            self.tokens_per_second()
        );
        Ok(())
    }
}

/// The episode both sides run.
pub struct Episode {
    pub agent: String,
    pub user: String,
    pub topic: String,
    pub turns: usize,
    pub runs: usize,
    pub max_tokens: usize,
    pub seed: u64,
}

/// The episode the arguments describe (agent `pirate`, user `shy`, the first topic by default).
impl Episode {
    /// The benchmark's first line: what is run, on which file and threads.
    pub fn print_header(
        &self,
        benchmark: &str,
        threads: usize,
        model: &Path,
    ) -> anyhow::Result<()> {
        say!(
            "{benchmark}: {} turns, runs={}, max_tokens={}, agent={}, user={}, {threads} threads, {}",
            self.turns,
            self.runs,
            self.max_tokens,
            self.agent,
            self.user,
            model.display()
        );
        Ok(())
    }
}

pub fn episode_from(
    args: &BenchArgs,
    library: &crate::persona::Library,
) -> anyhow::Result<Episode> {
    let agent = args.agent.clone().unwrap_or_else(|| "pirate".to_string());
    let user = args.user.clone().unwrap_or_else(|| "shy".to_string());
    Ok(Episode {
        agent: library.find(&agent)?.id.clone(),
        user: library.find(&user)?.id.clone(),
        topic: library
            .topics()
            .first()
            .cloned()
            .context("the persona library has no topics")?,
        turns: args.turns,
        runs: args.runs,
        max_tokens: args.max_tokens,
        seed: args.seed,
    })
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let library = crate::persona::Library::load(&repo.join("personas"))?;
    let episode = episode_from(args, &library)?;
    let model = super::gguf_path(&args.model)?;
    episode.print_header("episode", args.threads, &model)?;
    // `DRIFT_SCRIPT_PROFILE=1`: our side's time per forward-pass phase and its arithmetic.
    let profiling = crate::model::local::profile::enable_from_environment();
    let ours = run_ours(repo, &model, &episode, args.threads)?;
    ours.print("ours")?;
    if profiling {
        crate::model::local::profile::enable(false);
        say!("forward-pass profile of our episode:");
        print!("{}", crate::model::local::profile::table(1, "episode"));
    }
    if args.no_peer {
        return Ok(());
    }
    let theirs = run_transformers(repo, &model, &library, &episode, args.threads)?;
    theirs.print("transformers")?;
    say!(
        "episode ours={:.1} tok/s  transformers={:.1} tok/s  ratio={:.1}  (wall {:.1}s vs {:.1}s)",
        ours.tokens_per_second(),
        theirs.tokens_per_second(),
        ours.tokens_per_second() / theirs.tokens_per_second(),
        ours.wall_s,
        theirs.wall_s
    );
    Ok(())
}

/// scripts/selfchat.rhai on our engine, in a fresh output folder, timed after the model is loaded.
pub fn run_ours(
    repo: &Path,
    model: &Path,
    episode: &Episode,
    threads: usize,
) -> anyhow::Result<EpisodeFigures> {
    run_script(
        repo,
        &model.display().to_string(),
        episode,
        threads,
        crate::model::HttpOptions::default(),
    )
}

/// scripts/selfchat.rhai on the model `spec` names (a local file, or `openai:NAME` reached
/// with `http`), in a fresh output folder, timed after the model is loaded.
pub fn run_script(
    repo: &Path,
    spec: &str,
    episode: &Episode,
    threads: usize,
    http: crate::model::HttpOptions,
) -> anyhow::Result<EpisodeFigures> {
    let out = std::env::temp_dir().join(format!("drift-bench-episode-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let set = |name: &str, value: rhai::Dynamic| (name.to_string(), value);
    let config = HostConfig {
        script: Some(repo.join("scripts/selfchat.rhai")),
        project_dir: repo.to_path_buf(),
        out_root: out.clone(),
        model_spec: spec.to_string(),
        seed: episode.seed,
        params: vec![
            set("turns", (episode.turns as rhai::INT).into()),
            set("runs", (episode.runs as rhai::INT).into()),
            set("max_tokens", (episode.max_tokens as rhai::INT).into()),
            set("pairs", (1 as rhai::INT).into()),
            set("agent", episode.agent.clone().into()),
            set("user", episode.user.clone().into()),
            set("topic", episode.topic.clone().into()),
        ],
        threads: Some(threads),
        http,
        ..HostConfig::default()
    };
    let mut host = ScriptHost::new(config)?;
    let _ = host.eval("model();")?; // load now, so the timing below excludes it
    let before = host.usage();
    let started = Instant::now();
    host.run_script()?;
    let wall_s = started.elapsed().as_secs_f64();
    let generated_tokens = host.usage().generated_tokens - before.generated_tokens;
    let _ = std::fs::remove_dir_all(&out);
    Ok(EpisodeFigures {
        wall_s,
        generated_tokens,
    })
}

/// bench/transformers_selfchat.py in the virtual environment bench/setup_transformers_venv.sh makes.
/// The interpreter of the transformers virtual environment (created on first use by
/// bench/setup_transformers_venv.sh).
pub fn transformers_python(repo: &Path) -> anyhow::Result<String> {
    let setup = repo.join("bench/setup_transformers_venv.sh");
    eprintln!(
        "preparing the transformers environment with {}",
        setup.display()
    );
    let output = Command::new("bash")
        .arg(&setup)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", setup.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "{} failed ({})",
        setup.display(),
        output.status
    );
    let python = String::from_utf8(output.stdout)?
        .lines()
        .last()
        .unwrap_or("")
        .trim()
        .to_string();
    anyhow::ensure!(
        !python.is_empty(),
        "{} printed no python path",
        setup.display()
    );
    Ok(python)
}

fn run_transformers(
    repo: &Path,
    model: &Path,
    library: &crate::persona::Library,
    episode: &Episode,
    threads: usize,
) -> anyhow::Result<EpisodeFigures> {
    let python = transformers_python(repo)?;
    let agent = library.find(&episode.agent)?;
    let user = library.find(&episode.user)?;
    let spec = serde_json::json!({
        "agent": {"system": agent.system, "probe": agent.probe},
        "user": {"system": user.system},
        "topic": episode.topic,
        "turns": episode.turns,
        "runs": episode.runs,
        "max_tokens": episode.max_tokens,
        "temperature": 1.0,
        "top_p": 0.9,
        "seed": episode.seed,
    });
    let spec_path: PathBuf =
        std::env::temp_dir().join(format!("drift-episode-{}.json", std::process::id()));
    std::fs::write(&spec_path, serde_json::to_string_pretty(&spec)?)?;
    eprintln!("running the transformers episode (about 6 minutes on 2 cores)");
    let output = Command::new(&python)
        .arg(repo.join("bench/transformers_selfchat.py"))
        .arg("--spec")
        .arg(&spec_path)
        .arg("--gguf")
        .arg(model)
        .args(["--threads", &threads.to_string()])
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running {python}"))?;
    let _ = std::fs::remove_file(&spec_path);
    anyhow::ensure!(
        output.status.success(),
        "the transformers episode failed ({})",
        output.status
    );
    let stdout = String::from_utf8(output.stdout)?;
    let last = stdout.lines().last().unwrap_or("");
    let result: serde_json::Value =
        serde_json::from_str(last).with_context(|| format!("unexpected output: {last}"))?;
    Ok(EpisodeFigures {
        wall_s: result["wall_s"]
            .as_f64()
            .context("no wall_s in the transformers result")?,
        generated_tokens: result["generated_tokens"]
            .as_u64()
            .context("no generated_tokens in the transformers result")?,
    })
}
