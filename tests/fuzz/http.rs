//! HTTP responses from a fake OpenAI-compatible server on loopback: a valid chat completion
//! with nodes of its JSON damaged (wrong types, missing choices, numbers for text), cut short
//! (fewer bytes than `Content-Length`), not JSON, an event stream, huge (more than the client's
//! cap), dripped slowly past the timeout, statuses of every kind. The client (one attempt, a
//! 2 s timeout) must answer or fail clearly, in bounded time and memory. An input is the
//! response as JSON: status, body, how it is sent.

use crate::harness::{self, Pick, Target, Verdict};
use drift_script::model::{ChatModel, HttpOptions, Message, OpenAiModel, SamplingOptions};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

fn completion() -> Value {
    json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Ahoy!"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    })
}

fn generate(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut body = completion();
    for _ in 0..rng.below(3) {
        harness::mutate_json(rng, &mut body);
    }
    let mut body = body.to_string();
    let mode = *rng.pick(&[
        "whole",
        "whole",
        "whole",
        "cut",
        "close",
        "drip",
        "huge",
        "sse",
        "text",
        "headers-only",
    ]);
    match mode {
        "sse" => {
            body = format!(
                "data: {}\n\ndata: {{\"choices\": [{{\"delta\": {{\"content\": \"x\"}}}}]}}\n\ndata: [DONE]\n\n",
                completion()
            )
        }
        "text" => body = harness::random_text(rng, 200),
        _ => {}
    }
    let status = *rng.pick(&[200, 200, 200, 201, 204, 301, 400, 404, 429, 500, 503, 999]);
    serde_json::to_vec(&json!({"status": status, "mode": mode, "body": body})).unwrap()
}

/// Serves `case` to every connection until the client is done (one attempt, but the `n`
/// fallback or a retry may connect again).
fn serve(listener: TcpListener, case: Value) {
    listener.set_nonblocking(false).unwrap();
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { return };
        let case = case.clone();
        std::thread::spawn(move || {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            // Read the request head and body.
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut request = vec![0u8; length.min(1 << 20)];
            let _ = reader.read_exact(&mut request);
            let status = case["status"].as_u64().unwrap_or(200);
            let body = case["body"].as_str().unwrap_or("").as_bytes().to_vec();
            let head = |len: u64, kind: &str| {
                format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: {kind}\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n"
                )
            };
            let _ = match case["mode"].as_str().unwrap_or("whole") {
                "cut" => stream
                    .write_all(head(body.len() as u64 + 100, "application/json").as_bytes())
                    .and_then(|_| stream.write_all(&body[..body.len() / 2])),
                "close" => Ok(()),
                "headers-only" => {
                    stream.write_all(head(body.len() as u64, "application/json").as_bytes())
                }
                "drip" => stream
                    .write_all(head(body.len() as u64, "application/json").as_bytes())
                    .and_then(|_| {
                        for b in body.iter().take(40) {
                            stream.write_all(&[*b])?;
                            std::thread::sleep(Duration::from_millis(100));
                        }
                        Ok(())
                    }),
                "huge" => {
                    // More than any cap should allow: 2 GiB of JSON whitespace, then the body.
                    let total = (2u64 << 30) + body.len() as u64;
                    let chunk = vec![b' '; 1 << 20];
                    stream
                        .write_all(head(total, "application/json").as_bytes())
                        .and_then(|_| {
                            for _ in 0..2048 {
                                stream.write_all(&chunk)?;
                            }
                            stream.write_all(&body)
                        })
                }
                "sse" => stream
                    .write_all(head(body.len() as u64, "text/event-stream").as_bytes())
                    .and_then(|_| stream.write_all(&body)),
                _ => stream
                    .write_all(head(body.len() as u64, "application/json").as_bytes())
                    .and_then(|_| stream.write_all(&body)),
            };
        });
    }
}

fn check(input: &[u8]) -> Verdict {
    let Ok(case) = serde_json::from_slice::<Value>(input) else {
        return Ok(());
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || serve(listener, case));
    let options = HttpOptions {
        api_base: format!("http://127.0.0.1:{port}/v1"),
        api_key_env: "DRIFT_FUZZ_NO_SUCH_KEY".into(),
        timeout: Duration::from_secs(2),
        max_retries: 0,
        backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(1),
        max_in_flight: 2,
        log: Arc::new(|_| {}),
        chat_template_kwargs: Default::default(),
    };
    let model = OpenAiModel::new("m", &options).map_err(|e| format!("client setup: {e}"))?;
    // Bounded time is the harness's watchdog's to check.
    let result = model.chat(&[Message::user("hi")], 1, &SamplingOptions::default());
    match result {
        Ok(answers) if answers.is_empty() => Err("an answer list without answers".into()),
        Ok(_) => Ok(()),
        Err(e) if e.to_string().trim().is_empty() => Err("an error without a message".into()),
        Err(_) => Ok(()),
    }
}

#[test]
fn a_valid_response_is_answered() {
    let case = json!({"status": 200, "mode": "whole", "body": completion().to_string()});
    check(&serde_json::to_vec(&case).unwrap()).unwrap();
}

#[test]
fn a_huge_response_is_refused_by_the_cap() {
    let case = json!({"status": 200, "mode": "huge", "body": completion().to_string()});
    check(&serde_json::to_vec(&case).unwrap()).unwrap();
}

#[test]
fn http() {
    harness::fuzz(
        Target {
            name: "http",
            extension: "json",
            cases: 60,
        },
        generate,
        check,
    );
}
