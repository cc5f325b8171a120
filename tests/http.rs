//! The OpenAI-compatible HTTP backend end to end: the real binary against a chat-completions
//! server on loopback, written here, that injects faults (delays past the timeout, 429 with
//! Retry-After, 500/503, dropped connections, bodies cut short, malformed JSON); resume after a
//! failing server; API keys kept out of records, logs and errors; `--jobs` and `--shard` +
//! `merge` giving the records of a plain run; bad inputs and what each produces. The last test
//! runs scripts/selfchat.rhai unchanged against llama.cpp's server on the default model, and is
//! skipped (saying why) where that server is not built.
//!
//! Over 1,000 lines because one test binary holds one server: the fault-injecting server and
//! the llama.cpp server are started once and shared by every test here.

use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// The test server
// ---------------------------------------------------------------------------------------------

/// What the server does with one request.
#[derive(Clone, Debug)]
enum Fault {
    /// Answer normally after this delay.
    Delay(Duration),
    /// 429 with this `Retry-After` header (seconds).
    TooMany(Option<&'static str>),
    /// This status with this body.
    Status(u16, String),
    /// Close the connection without a word.
    Drop,
    /// Send headers promising more body than arrives, then close.
    CutShort,
    /// 200 with a body that is not JSON.
    Malformed,
}

#[derive(Default)]
struct ServerState {
    /// Faults for the next chat requests, in order; then normal answers.
    faults: VecDeque<Fault>,
    /// A fault for every chat request from number `from` on (0-based), if set.
    fail_from: Option<(usize, Fault)>,
    /// Answer at most one choice, whatever `n` says (as Ollama does).
    ignore_n: bool,
    /// Refuse `n > 1` with a 400 (as some servers do).
    refuse_n: bool,
    /// Random delays up to this many milliseconds (to shuffle timing between requests).
    jitter_ms: u64,
    /// The key requests must carry (`Authorization: Bearer KEY`), if any.
    key: Option<String>,
    /// Serve llama.cpp's /apply-template and /tokenize.
    tokenizer: bool,
    /// Chat requests seen: (when, body, authorization header).
    seen: Vec<(Instant, Value, Option<String>)>,
}

struct TestServer {
    port: u16,
    state: Arc<Mutex<ServerState>>,
}

impl TestServer {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(ServerState::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let state = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &state);
                });
            }
        });
        TestServer { port, state }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    fn with<T>(&self, f: impl FnOnce(&mut ServerState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    fn requests(&self) -> usize {
        self.with(|s| s.seen.len())
    }
}

fn respond(stream: &mut TcpStream, status: u16, extra: &str, body: &str) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n{extra}\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// A deterministic answer: a function of the conversation, the seed and the choice's index.
fn answer_for(messages: &Value, seed: u64, index: u64) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in messages.to_string().bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    h ^= seed.wrapping_add(index).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    let words = [
        "arr", "matey", "treasure", "sea", "I", "think", "the", "answer", "is", "yes", "no",
        "perhaps", "friends", "coffee", "tea", "space",
    ];
    let mut out = Vec::new();
    for i in 0..(4 + h % 6) {
        out.push(words[((h >> (i * 4)) % words.len() as u64) as usize]);
    }
    format!("{} ({h:016x}).", out.join(" "))
}

fn serve(mut stream: TcpStream, state: &Mutex<ServerState>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut length = 0;
    let mut auth = None;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "authorization" => auth = Some(value.trim().to_string()),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);

    if path == "/apply-template" || path == "/tokenize" {
        if !state.lock().unwrap().tokenizer {
            return respond(
                &mut stream,
                404,
                "",
                r#"{"error":{"message":"File Not Found"}}"#,
            );
        }
        if path == "/apply-template" {
            let prompt: String = body["messages"]
                .as_array()
                .map(|m| {
                    m.iter()
                        .map(|x| format!("<{}>{}", x["role"], x["content"]))
                        .collect()
                })
                .unwrap_or_default();
            return respond(
                &mut stream,
                200,
                "",
                &json!({ "prompt": prompt }).to_string(),
            );
        }
        let words = body["content"]
            .as_str()
            .unwrap_or("")
            .split_whitespace()
            .count();
        let tokens: Vec<u32> = (0..words as u32).collect();
        return respond(
            &mut stream,
            200,
            "",
            &json!({ "tokens": tokens }).to_string(),
        );
    }
    if path != "/v1/chat/completions" {
        return respond(
            &mut stream,
            404,
            "",
            r#"{"error":{"message":"no such endpoint"}}"#,
        );
    }

    let (fault, ignore_n, refuse_n, jitter, key) = {
        let mut s = state.lock().unwrap();
        let number = s.seen.len();
        s.seen.push((Instant::now(), body.clone(), auth.clone()));
        let fault = match s.faults.pop_front() {
            Some(f) => Some(f),
            None => s
                .fail_from
                .as_ref()
                .filter(|(from, _)| number >= *from)
                .map(|(_, f)| f.clone()),
        };
        let jitter = if s.jitter_ms > 0 {
            (number as u64 * 7919 + 13) % s.jitter_ms
        } else {
            0
        };
        (fault, s.ignore_n, s.refuse_n, jitter, s.key.clone())
    };
    if let Some(key) = key
        && auth.as_deref() != Some(&format!("Bearer {key}"))
    {
        // Like hosted APIs, quote (part of) what was sent.
        let sent = auth.unwrap_or_default();
        let msg = format!(
            "Incorrect API key provided: {sent}. Partial: {}****{}",
            sent.get(7..14).unwrap_or(""),
            sent.get(sent.len().saturating_sub(4)..).unwrap_or("")
        );
        return respond(
            &mut stream,
            401,
            "",
            &json!({"error": {"message": msg}}).to_string(),
        );
    }
    std::thread::sleep(Duration::from_millis(jitter));
    match fault {
        Some(Fault::Delay(d)) => std::thread::sleep(d),
        Some(Fault::TooMany(after)) => {
            let extra = after.map_or(String::new(), |a| format!("Retry-After: {a}\r\n"));
            return respond(
                &mut stream,
                429,
                &extra,
                r#"{"error":{"message":"rate limit reached, slow down"}}"#,
            );
        }
        Some(Fault::Status(code, text)) => return respond(&mut stream, code, "", &text),
        Some(Fault::Drop) => return Ok(()),
        Some(Fault::CutShort) => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{{\"choices\": ["
            )?;
            return stream.flush();
        }
        Some(Fault::Malformed) => return respond(&mut stream, 200, "", "{\"choices\": [oops"),
        None => {}
    }
    let n = body["n"].as_u64().unwrap_or(1);
    if refuse_n && n > 1 {
        return respond(
            &mut stream,
            400,
            "",
            r#"{"error":{"message":"n > 1 is not supported"}}"#,
        );
    }
    let seed = body["seed"].as_u64().unwrap_or(0);
    let choices: Vec<Value> = (0..if ignore_n { 1 } else { n })
        .map(|i| {
            json!({"index": i, "finish_reason": "stop",
                   "message": {"role": "assistant", "content": answer_for(&body["messages"], seed, i)}})
        })
        .collect();
    let completion: usize = choices
        .iter()
        .map(|c| {
            c["message"]["content"]
                .as_str()
                .unwrap()
                .split_whitespace()
                .count()
        })
        .sum();
    let reply = json!({
        "id": "chatcmpl-test", "object": "chat.completion",
        "model": format!("served/{}", body["model"].as_str().unwrap_or("?")),
        "choices": choices,
        "usage": {"prompt_tokens": body["messages"].to_string().len() / 4,
                  "completion_tokens": completion},
    });
    respond(&mut stream, 200, "", &reply.to_string())
}

// ---------------------------------------------------------------------------------------------
// Running the binary in a throwaway project
// ---------------------------------------------------------------------------------------------

struct Project {
    dir: PathBuf,
}

impl Project {
    /// A project folder with the repository's scripts and persona library.
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("drift-http-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for sub in ["scripts", "scripts/lib", "personas"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
            for entry in std::fs::read_dir(root.join(sub)).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    std::fs::copy(&path, dir.join(sub).join(path.file_name().unwrap())).unwrap();
                }
            }
        }
        Project { dir }
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.join(name), text).unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_drift-script"));
        cmd.args(args)
            .current_dir(&self.dir)
            .env_remove("DRIFT_API_KEY")
            .env_remove("DRIFT_API_BASE");
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn run_dirs(&self, out: &str) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(self.dir.join(out))
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        dirs.sort();
        dirs
    }

    fn run_dir(&self, out: &str) -> PathBuf {
        let dirs = self.run_dirs(out);
        assert_eq!(dirs.len(), 1, "{dirs:?}");
        dirs[0].clone()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Records and unit markers without timestamps, the only thing allowed to differ. Scores are
/// compared exactly: every metric gives the same bits in every process (tests/identity.rs).
fn lines_without_time(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("records.jsonl"))
        .unwrap()
        .lines()
        .map(|line| {
            let mut v: Value = serde_json::from_str(line).unwrap();
            if let Some(meta) = v.get_mut("_meta").and_then(|m| m.as_object_mut()) {
                meta.remove("time");
            }
            v
        })
        .collect()
}

/// Fast retries for tests.
fn http_args(server: &TestServer) -> Vec<String> {
    vec![
        "--model".into(),
        "openai:tiny".into(),
        "--api-base".into(),
        server.base(),
        "--api-backoff-ms".into(),
        "10".into(),
    ]
}

fn selfchat_args(pairs: u32) -> Vec<String> {
    [
        "scripts/selfchat.rhai",
        "--set",
        &format!("pairs={pairs}"),
        "--set",
        "turns=4",
        "--set",
        "runs=2",
        "--set",
        "max_tokens=20",
        "--seed",
        "4",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn run_with(p: &Project, args: &[String], extra: &[&str]) -> Output {
    let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
    all.extend_from_slice(extra);
    p.run(&all)
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

const ONE_CHAT: &str = r#"
let m = model();
let answers = m.chat_n([#{ role: "user", content: "Hello?" }], 2, #{ max_tokens: 10, seed: 7 });
print(`answers: ${answers.len()}`);
record(#{ a: answers[0], b: answers[1] });
"#;

#[test]
fn every_fault_is_survived_and_the_answer_arrives() {
    let server = TestServer::start();
    server.with(|s| {
        s.faults = VecDeque::from([
            Fault::Drop,
            Fault::Status(500, r#"{"error":{"message":"boom"}}"#.into()),
            Fault::TooMany(Some("1")),
            Fault::Malformed,
            Fault::CutShort,
            Fault::Delay(Duration::from_secs(3)),
            Fault::Status(503, "upstream overloaded".into()),
        ])
    });
    let p = Project::new("faults");
    p.write("one.rhai", ONE_CHAT);
    let mut args = http_args(&server);
    args.insert(0, "one.rhai".into());
    let o = run_with(
        &p,
        &args,
        &[
            "--api-timeout",
            "1",
            "--api-retries",
            "8",
            "--chat-template-kwargs",
            r#"{"enable_thinking": false}"#,
        ],
    );
    let log = stderr(&o);
    assert!(o.status.success(), "{log}");
    assert!(log.contains("answers: 2"), "{log}");
    // One attempt per fault, then the answer.
    assert_eq!(server.requests(), 8, "{log}");
    for expected in [
        "HTTP 500 Internal Server Error: boom",
        "HTTP 429 Too Many Requests: rate limit reached",
        "malformed JSON",
        "cut short",
        "timed out after 1.0s",
        "HTTP 503 Service Unavailable: upstream overloaded",
    ] {
        assert!(log.contains(expected), "no `{expected}` in:\n{log}");
    }
    // Retry-After: 1 was honoured: the attempt after the 429 came at least a second later.
    let times = server.with(|s| s.seen.iter().map(|x| x.0).collect::<Vec<_>>());
    assert!(
        times[3] - times[2] >= Duration::from_millis(950),
        "{:?}",
        times[3] - times[2]
    );
    // The same request every time (so a retried answer is the answer that was asked for).
    let bodies = server.with(|s| s.seen.iter().map(|x| x.1.clone()).collect::<Vec<_>>());
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(bodies[0]["n"], 2);
    assert_eq!(bodies[0]["seed"], 7);
    assert_eq!(bodies[0]["max_tokens"], 10);
    assert_eq!(bodies[0]["model"], "tiny");
    // --chat-template-kwargs goes to the server's template (vLLM, llama.cpp's server).
    assert_eq!(
        bodies[0]["chat_template_kwargs"],
        serde_json::json!({"enable_thinking": false})
    );
    // The server's model name and usage are recorded.
    let records = lines_without_time(&p.run_dir("selfchat"));
    let meta = &records[0]["_meta"];
    assert_eq!(meta["model"]["served_model"], "served/tiny");
    assert_eq!(meta["model"]["backend"], "openai");
    assert!(
        meta["usage"]["completion_tokens"].as_u64().unwrap() > 0,
        "{meta}"
    );
    assert!(
        meta["usage"]["prompt_tokens"].as_u64().unwrap() > 0,
        "{meta}"
    );
}

#[test]
fn lasting_server_errors_are_reported_with_status_and_message() {
    let server = TestServer::start();
    server.with(|s| {
        s.fail_from = Some((
            0,
            Fault::Status(503, r#"{"error":{"message":"the GPU is on fire"}}"#.into()),
        ))
    });
    let p = Project::new("lasting");
    p.write("one.rhai", ONE_CHAT);
    let mut args = http_args(&server);
    args.insert(0, "one.rhai".into());
    let o = run_with(&p, &args, &["--api-retries", "2"]);
    let log = stderr(&o);
    assert!(!o.status.success());
    assert!(
        log.contains("one.rhai:3:")
            && log.contains("/v1/chat/completions: HTTP 503 Service Unavailable: the GPU is on fire (gave up after 3 attempts)"),
        "{log}"
    );
    assert_eq!(server.requests(), 3);

    // 429 without Retry-After: backoff, then the same report.
    server.with(|s| {
        s.seen.clear();
        s.fail_from = Some((0, Fault::TooMany(None)));
    });
    let o = run_with(&p, &args, &["--api-retries", "1"]);
    assert!(
        stderr(&o).contains(
            "HTTP 429 Too Many Requests: rate limit reached, slow down (gave up after 2 attempts)"
        ),
        "{}",
        stderr(&o)
    );

    // Nobody listening: "cannot connect", after the retries.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let o = p.run(&[
        "one.rhai",
        "--model",
        "openai:tiny",
        "--api-base",
        &format!("http://127.0.0.1:{port}/v1"),
        "--api-retries",
        "1",
        "--api-backoff-ms",
        "10",
    ]);
    assert!(
        stderr(&o).contains("cannot connect") && stderr(&o).contains("gave up after 2 attempts"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn client_errors_fail_at_once_with_the_servers_message() {
    let server = TestServer::start();
    server.with(|s| {
        s.faults = VecDeque::from([Fault::Status(
            404,
            r#"{"error":{"message":"The model `tiny` does not exist"}}"#.into(),
        )])
    });
    let p = Project::new("client-errors");
    p.write("one.rhai", ONE_CHAT);
    let mut args = http_args(&server);
    args.insert(0, "one.rhai".into());
    let o = run_with(&p, &args, &[]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("HTTP 404 Not Found: The model `tiny` does not exist"),
        "{}",
        stderr(&o)
    );
    assert_eq!(server.requests(), 1, "a 4xx is not retried");
    // A 401 without a key says that no key was sent, and from which variable.
    server.with(|s| s.key = Some("expected-key-000000".into()));
    let o = run_with(&p, &args, &["--api-key-env", "DRIFT_TEST_NO_SUCH_KEY"]);
    assert!(
        stderr(&o).contains("HTTP 401 Unauthorized")
            && stderr(&o).contains("no key was sent: $DRIFT_TEST_NO_SUCH_KEY is not set"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn servers_that_ignore_or_refuse_n_get_one_request_per_answer() {
    for refuse in [false, true] {
        let server = TestServer::start();
        server.with(|s| {
            s.ignore_n = !refuse;
            s.refuse_n = refuse;
        });
        let p = Project::new(if refuse { "refuse-n" } else { "ignore-n" });
        p.write(
            "n.rhai",
            r#"
let m = model();
for i in 0..2 {
    let answers = m.chat_n([#{ role: "user", content: `Question ${i}` }], 3, #{ max_tokens: 10, seed: 100 });
    record(#{ i: i, answers: answers });
}
"#,
        );
        let mut args = http_args(&server);
        args.insert(0, "n.rhai".into());
        let o = run_with(&p, &args, &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("one request per answer from now on"),
            "{}",
            stderr(&o)
        );
        let records = lines_without_time(&p.run_dir("selfchat"));
        for r in records.iter().filter(|r| r.get("i").is_some()) {
            let answers = r["answers"].as_array().unwrap();
            assert_eq!(answers.len(), 3);
            assert_ne!(answers[0], answers[1], "each answer has its own seed");
        }
        // First call: one request with n=3, then three; the second call goes straight to three.
        let seen = server.with(|s| s.seen.iter().map(|x| x.1.clone()).collect::<Vec<_>>());
        assert_eq!(seen.len(), 1 + 3 + 3);
        assert_eq!(seen[0]["n"], 3);
        let mut seeds: Vec<u64> = seen[1..4]
            .iter()
            .map(|b| b["seed"].as_u64().unwrap())
            .collect();
        seeds.sort();
        assert_eq!(
            seeds,
            [100, 101, 102],
            "seeds seed+i, as llama.cpp gives its n children"
        );
        assert!(seen[1..].iter().all(|b| b["n"] == 1));
    }
}

#[test]
fn a_run_stopped_by_a_failing_server_resumes_without_loss_or_duplicates() {
    let p = Project::new("resume");
    // The reference: an uninterrupted run against a healthy server.
    let healthy = TestServer::start();
    let o = run_with(
        &p,
        &[selfchat_args(4), http_args(&healthy)].concat(),
        &["--out", "full"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let expected = lines_without_time(&p.run_dir("full"));
    assert_eq!(
        expected.iter().filter(|r| r["kind"] == "probe").count(),
        4 * 2 * 2
    );

    // The server fails for good partway through the third pair.
    let server = TestServer::start();
    let per_pair = healthy.requests() / 4;
    server.with(|s| {
        s.fail_from = Some((
            2 * per_pair + 2,
            Fault::Status(500, r#"{"error":{"message":"node lost"}}"#.into()),
        ))
    });
    let args = [selfchat_args(4), http_args(&server)].concat();
    let o = run_with(&p, &args, &["--out", "cut", "--api-retries", "1"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("node lost"), "{}", stderr(&o));
    let partial = lines_without_time(&p.run_dir("cut"));
    assert!(partial.len() < expected.len());

    // The server recovers; the rerun completes the run.
    server.with(|s| s.fail_from = None);
    let o = run_with(&p, &args, &["--out", "cut"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("resuming"), "{}", stderr(&o));
    assert_eq!(lines_without_time(&p.run_dir("cut")), expected);
}

#[test]
fn no_api_key_appears_in_records_logs_or_errors() {
    const KEY: &str = "sk-test-Zq8vN3xKp7LmR2wT9yB4";
    let server = TestServer::start();
    server.with(|s| {
        s.key = Some(KEY.into());
        // A retry notice must not carry it either.
        s.faults = VecDeque::from([Fault::Status(
            500,
            format!(r#"{{"error":{{"message":"bad key {KEY}"}}}}"#),
        )]);
    });
    let p = Project::new("key");
    let args = [selfchat_args(1), http_args(&server)].concat();
    let mut cmd = p.command(&args.iter().map(String::as_str).collect::<Vec<_>>());
    cmd.args(["--api-key-env", "MY_TEST_KEY"])
        .env("MY_TEST_KEY", KEY);
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // The key was used...
    assert!(server.with(|s| {
        s.seen
            .iter()
            .all(|x| x.2.as_deref() == Some(&format!("Bearer {KEY}")))
    }));
    // ...and is nowhere in what the run left or said.
    let mut everything = format!("{}{}", stderr(&o), String::from_utf8_lossy(&o.stdout));
    for entry in std::fs::read_dir(p.run_dir("selfchat")).unwrap() {
        let path = entry.unwrap().path();
        everything.push_str(&String::from_utf8_lossy(&std::fs::read(path).unwrap()));
    }
    assert!(everything.contains("retrying"), "the 500 was logged");
    assert!(
        !everything.contains(KEY) && !everything.contains("Zq8vN3"),
        "{everything}"
    );

    // A wrong key: the server quotes it in its error, the error shown does not.
    p.write("one.rhai", ONE_CHAT);
    let mut args = http_args(&server);
    args.insert(0, "one.rhai".into());
    let o = p
        .command(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .args(["--api-key-env", "MY_TEST_KEY"])
        .env("MY_TEST_KEY", "sk-wrong-Hh5jK8lP0oI9uY7t")
        .output()
        .unwrap();
    let log = stderr(&o);
    assert!(
        log.contains("HTTP 401 Unauthorized: Incorrect API key provided"),
        "{log}"
    );
    assert!(
        !log.contains("Hh5jK8") && !log.contains("uY7t") && !log.contains("sk-wrong"),
        "{log}"
    );

    // Scripts cannot name the key's variable or the server: model() takes a model name only,
    // and credentials in the URL are refused.
    let o = p.run(&[
        "one.rhai",
        "--model",
        "openai:tiny",
        "--api-base",
        "http://user:pw@127.0.0.1:1/v1",
    ]);
    assert!(
        stderr(&o).contains("--api-base must not hold credentials"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn jobs_and_shards_give_the_records_of_a_plain_run() {
    let server = TestServer::start();
    // Uneven delays, so workers finish units out of order.
    server.with(|s| s.jitter_ms = 40);
    let p = Project::new("grid");
    let base = [selfchat_args(6), http_args(&server)].concat();
    let o = run_with(&p, &base, &["--out", "plain"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let expected = lines_without_time(&p.run_dir("plain"));
    assert_eq!(
        expected.iter().filter(|r| r["kind"] == "probe").count(),
        6 * 2 * 2
    );

    let o = run_with(&p, &base, &["--out", "jobs", "--jobs", "4"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(lines_without_time(&p.run_dir("jobs")), expected, "--jobs 4");
    assert!(p.run_dir("jobs").join("stability.png").exists());

    // Three shards, one with --jobs 2, then merged.
    for (i, jobs) in [(0, "1"), (1, "2"), (2, "1")] {
        let o = run_with(
            &p,
            &base,
            &[
                "--out",
                "shards",
                "--shard",
                &format!("{i}/3"),
                "--jobs",
                jobs,
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let shards = p.run_dirs("shards");
    assert_eq!(shards.len(), 3);
    let mut merge = vec!["merge".to_string()];
    merge.extend(shards.iter().map(|d| d.display().to_string()));
    merge.extend(["-o".into(), "merged".into()]);
    let o = p.run(&merge.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        lines_without_time(&p.dir.join("merged")),
        expected,
        "shards merged"
    );

    // What merge refuses.
    let refuse = |args: &[&str], expected: &str| {
        let o = p.run(args);
        assert!(!o.status.success());
        assert!(
            stderr(&o).contains(expected),
            "{}: {}",
            expected,
            stderr(&o)
        );
    };
    let s: Vec<String> = shards.iter().map(|d| d.display().to_string()).collect();
    refuse(&["merge", &s[0], &s[1]], "shard(s) 2 of 3 missing");
    refuse(&["merge", &s[0], &s[0], &s[1]], "shard 0 is given twice");
    refuse(
        &["merge", &s[0], &s[1], &s[2], "-o", "merged"],
        "already holds records",
    );
    let plain = p.run_dir("plain").display().to_string();
    refuse(&["merge", &plain], "is not a shard");
    // A shard of another seed.
    let other_seed: Vec<String> = base
        .iter()
        .map(|a| if a == "4" { "5".into() } else { a.clone() })
        .collect();
    let o = run_with(&p, &other_seed, &["--out", "other", "--shard", "2/3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let other = p.run_dir("other").display().to_string();
    refuse(
        &["merge", &s[0], &s[1], &other],
        "seed is 4 there and 5 here",
    );
    // An unfinished shard.
    std::fs::write(
        Path::new(&s[2]).join("run.json"),
        std::fs::read_to_string(Path::new(&s[2]).join("run.json"))
            .unwrap()
            .replace("\"complete\"", "\"was_complete\""),
    )
    .unwrap();
    refuse(&["merge", &s[0], &s[1], &s[2]], "did not finish");
}

#[test]
fn bad_inputs_get_clear_errors() {
    let server = TestServer::start();
    let p = Project::new("bad");
    p.write("one.rhai", ONE_CHAT);
    let cases: &[(&[&str], &str)] = &[
        (
            &["one.rhai", "--model", "openai:"],
            "openai: needs a model name",
        ),
        (
            &[
                "one.rhai",
                "--model",
                "openai:x",
                "--api-base",
                "ftp://host/v1",
            ],
            "expected an http:// or https:// URL",
        ),
        (
            &["one.rhai", "--model", "openai:x", "--api-base", "not a url"],
            "--api-base not a url: not a URL",
        ),
        (
            &["one.rhai", "--shard", "3/3"],
            "--shard 3/3: expected I/N with 0 ≤ I < N",
        ),
        (&["one.rhai", "--shard", "x"], "--shard x: expected I/N"),
        (&["one.rhai", "--jobs", "0"], "--jobs must be at least 1"),
        (
            &["one.rhai", "--api-timeout", "0"],
            "--api-timeout must be a positive number",
        ),
        (&["merge", "nowhere"], "is nowhere a run folder?"),
    ];
    for (args, expected) in cases {
        let o = p.run(args);
        assert!(!o.status.success(), "{args:?}");
        assert!(stderr(&o).contains(expected), "{args:?}: {}", stderr(&o));
    }
    // Script-level: an intervention option asked of the HTTP backend, and count_tokens on a
    // server without a tokenizer endpoint, then with llama.cpp's.
    let script = |body: &str| {
        p.write("s.rhai", &format!("let m = model();\n{body}\n"));
        let mut args = http_args(&server);
        args.insert(0, "s.rhai".into());
        run_with(&p, &args, &[])
    };
    for (option, name) in [
        ("split_softmax: 0.5", "split_softmax"),
        ("attention: true", "attention"),
        ("cfg: 2.0", "cfg"),
    ] {
        let o = script(&format!(
            "m.chat([#{{ role: \"user\", content: \"hi\" }}], #{{ {option} }});"
        ));
        assert!(
            stderr(&o).contains("s.rhai:2:")
                && stderr(&o).contains(&format!(
                    "option `{name}` is not available with the HTTP backend"
                ))
                && stderr(&o).contains("need the local engine's own attention code"),
            "{}",
            stderr(&o)
        );
    }
    let o = script(r#"m.count_tokens([#{ role: "user", content: "hi there" }]);"#);
    assert!(
        stderr(&o).contains("count_tokens: the server at")
            && stderr(&o).contains("has no tokenizer endpoint"),
        "{}",
        stderr(&o)
    );
    server.with(|s| s.tokenizer = true);
    let o =
        script(r#"print(`tokens=${m.count_tokens([#{ role: "user", content: "hi there" }])}`);"#);
    assert!(stderr(&o).contains("tokens=2"), "{}", stderr(&o));
    let o = script(r#"print(m.info().backend + " " + m.info().name);"#);
    assert!(stderr(&o).contains("openai tiny"), "{}", stderr(&o));
}

// ---------------------------------------------------------------------------------------------
// llama.cpp's server on the default model
// ---------------------------------------------------------------------------------------------

/// llama.cpp's `llama-server`: `$DRIFT_LLAMA_CPP_BIN`, or the build `bench/build_llama_cpp.sh`
/// caches.
fn llama_server() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("DRIFT_LLAMA_CPP_BIN") {
        let exe = PathBuf::from(dir).join("llama-server");
        return exe
            .is_file()
            .then_some(exe.clone())
            .ok_or(format!("{} does not exist", exe.display()));
    }
    let home = std::env::var_os("DRIFT_SCRIPT_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/drift-script")))
        .ok_or("no HOME")?;
    let builds = home.join("llama.cpp");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&builds)
        .map_err(|_| {
            format!(
                "no llama.cpp build under {} (bench/build_llama_cpp.sh makes one)",
                builds.display()
            )
        })?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("build/bin/llama-server"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop().ok_or(format!(
        "no llama-server under {} (bench/build_llama_cpp.sh builds it)",
        builds.display()
    ))
}

fn default_model() -> Result<PathBuf, String> {
    let home = std::env::var_os("DRIFT_SCRIPT_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/drift-script")))
        .ok_or("no HOME")?;
    let path = home.join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    path.is_file().then_some(path.clone()).ok_or(format!(
        "{} is not fetched (drift-script fetch-model)",
        path.display()
    ))
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn selfchat_runs_unchanged_against_llama_cpp_server() {
    let (exe, model) = match (llama_server(), default_model()) {
        (Ok(e), Ok(m)) => (e, m),
        (Err(why), _) | (_, Err(why)) => {
            println!("SKIPPED selfchat_runs_unchanged_against_llama_cpp_server: {why}");
            return;
        }
    };
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let _server = Child(
        Command::new(&exe)
            .arg("-m")
            .arg(&model)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["-t", "2", "-np", "4", "-c", "8192", "-a", "smollm2"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Ready when /health says so.
    let started = Instant::now();
    loop {
        let ok = TcpStream::connect(("127.0.0.1", port))
            .ok()
            .and_then(|mut s| {
                write!(
                    s,
                    "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                )
                .ok()?;
                let mut text = String::new();
                s.read_to_string(&mut text).ok()?;
                text.starts_with("HTTP/1.1 200").then_some(())
            });
        if ok.is_some() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "llama-server did not start"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let p = Project::new("llama-server");
    let args = [
        "scripts/selfchat.rhai",
        "--set",
        "pairs=1",
        "--set",
        "turns=4",
        "--set",
        "runs=2",
        "--set",
        "max_tokens=40",
        "--seed",
        "1",
    ];
    let mut remote: Vec<&str> = args.to_vec();
    let base = format!("http://127.0.0.1:{port}/v1");
    remote.extend([
        "--model",
        "openai:smollm2",
        "--api-base",
        &base,
        "--out",
        "remote",
        "--threads",
        "2",
    ]);
    let o = p.run(&remote);
    assert!(o.status.success(), "{}", stderr(&o));
    let remote = lines_without_time(&p.run_dir("remote"));
    let mut local_args: Vec<&str> = args.to_vec();
    local_args.extend(["--out", "local", "--threads", "2"]);
    let o = p.run(&local_args);
    assert!(o.status.success(), "{}", stderr(&o));
    let local = lines_without_time(&p.run_dir("local"));
    assert!(p.run_dir("remote").join("stability.png").exists());

    // The same shape: the same records, fields and units; only the backend fields and the
    // sampled texts differ.
    assert_eq!(remote.len(), local.len());
    let shape = |v: &Value| -> Vec<String> {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        if let Some(meta) = v.get("_meta").and_then(Value::as_object) {
            keys.extend(meta.keys().map(|k| format!("_meta.{k}")));
        }
        keys.sort();
        keys
    };
    for (r, l) in remote.iter().zip(&local) {
        assert_eq!(shape(r), shape(l));
        for key in [
            "kind", "pair", "turn", "speaker", "run", "agent", "user", "topic",
        ] {
            assert_eq!(r.get(key), l.get(key), "{key}");
        }
        if r.get("_meta").is_some() {
            assert_eq!(r["_meta"]["model"]["backend"], "openai");
            assert_eq!(r["_meta"]["model"]["served_model"], "smollm2");
            assert_eq!(l["_meta"]["model"]["backend"], "local");
        }
    }
    let probes: Vec<&Value> = remote.iter().filter(|r| r["kind"] == "probe").collect();
    assert_eq!(probes.len(), 2 * 2);
    assert!(
        probes
            .iter()
            .all(|p| !p["answer"].as_str().unwrap().is_empty())
    );
}

/// `model("openai:…", #{chat_template_kwargs})` sends that model's variables over the run's,
/// and a model without its own sends the run's alone.
#[test]
fn per_model_template_variables_reach_the_server() {
    let server = TestServer::start();
    let p = Project::new("template-kwargs");
    p.write(
        "two.rhai",
        r#"
let msgs = [#{ role: "user", content: "Hello?" }];
model().chat(msgs, #{ max_tokens: 5, seed: 1 });
model(MODEL, #{ chat_template_kwargs: #{ enable_thinking: false } }).chat(msgs, #{ max_tokens: 5, seed: 1 });
"#,
    );
    let mut args = http_args(&server);
    args.insert(0, "two.rhai".into());
    let o = run_with(&p, &args, &["--chat-template-kwargs", r#"{"lang": "en"}"#]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bodies = server.with(|s| s.seen.iter().map(|x| x.1.clone()).collect::<Vec<_>>());
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0]["chat_template_kwargs"], json!({"lang": "en"}));
    assert_eq!(
        bodies[1]["chat_template_kwargs"],
        json!({"lang": "en", "enable_thinking": false})
    );
}
