//! `drift-script bench http`: the same scripts/selfchat.rhai episode run on the local engine
//! and, through the OpenAI-compatible backend, on llama.cpp's `llama-server` serving the same
//! GGUF file with the same thread count (DESIGN §5). Answers are sampled, and the two engines
//! draw different tokens, so the figure compared is generated tokens per second over the
//! episode (model loading and server start excluded); both wall times are printed too.

use super::BenchArgs;
use super::episode;
use anyhow::Context;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The server is stopped however the benchmark ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let library = crate::persona::Library::load(&repo.join("personas"))?;
    let episode = episode::episode_from(args, &library)?;
    let model = super::gguf_path(&args.model)?;
    episode.print_header("http", args.threads, &model)?;
    let local = episode::run_ours(repo, &model, &episode, args.threads)?;
    local.print("local engine")?;
    if args.no_peer {
        return Ok(());
    }
    let bin = super::llama_cpp::bin_dir(args.llama_cpp_bin.as_deref())?;
    let exe = bin.join("llama-server");
    anyhow::ensure!(
        exe.is_file(),
        "{} is missing: rebuild with bench/build_llama_cpp.sh (it builds llama-server too)",
        exe.display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    // Four slots: the script submits probes while the conversation goes on, as the local
    // engine batches them.
    let child = Command::new(&exe)
        .arg("-m")
        .arg(&model)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "-t",
            &args.threads.to_string(),
            "-tb",
            &args.threads.to_string(),
        ])
        .args(["-np", "4", "-c", "16384", "-a", "bench"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let _server = Server(child);
    wait_healthy(port)?;
    let http = crate::model::HttpOptions {
        api_base: format!("http://127.0.0.1:{port}/v1"),
        // No key: the variable is one nobody sets.
        api_key_env: "DRIFT_BENCH_NO_KEY".into(),
        ..crate::model::HttpOptions::default()
    };
    let remote = episode::run_script(repo, "openai:bench", &episode, args.threads, http)?;
    remote.print("llama-server")?;
    say!(
        "http local={:.1} tok/s  llama-server={:.1} tok/s  ratio={:.2}  (wall {:.1}s vs {:.1}s)",
        local.tokens_per_second(),
        remote.tokens_per_second(),
        local.tokens_per_second() / remote.tokens_per_second(),
        local.wall_s,
        remote.wall_s
    );
    Ok(())
}

/// Polls `GET /health` until the model is loaded (200) or two minutes pass.
fn wait_healthy(port: u16) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let healthy = std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .and_then(|mut s| {
                write!(
                    s,
                    "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                )
                .ok()?;
                let mut text = String::new();
                s.read_to_string(&mut text).ok()?;
                text.starts_with("HTTP/1.1 200").then_some(())
            })
            .is_some();
        if healthy {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "llama-server did not become healthy within two minutes"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
