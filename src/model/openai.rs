//! The OpenAI-compatible HTTP backend: `model("openai:NAME")` talks to `POST {base}/chat/completions`
//! of vLLM, TGI, llama.cpp's server, Ollama or a hosted API.
//!
//! What it guarantees, and why:
//! - **The API key never leaves this module except in the `Authorization` header.** It is read
//!   from an environment variable the *user* names (`--api-key-env`, default `DRIFT_API_KEY`),
//!   never from scripts; the header value is marked sensitive; every message that can reach a
//!   log, an error or a record passes through [`Redactor`], because servers echo keys back
//!   ("Incorrect API key provided: sk-…").
//! - **Faults are retried, then reported.** Timeouts, refused or reset connections, bodies cut
//!   short, malformed JSON, 429 (waiting as long as `Retry-After` / `retry-after-ms` say) and 5xx
//!   are retried with exponential backoff and full jitter up to `max_retries`; then the error
//!   names the URL, the status and the server's own message. Other 4xx fail at once.
//! - **Answers are reproducible where the server allows.** Every request carries a seed (folded
//!   to 31 bits: llama.cpp reads seeds as 32-bit and some servers reject larger integers).
//!   `n` answers are asked for in one request; a server that returns fewer choices than asked,
//!   or refuses `n > 1` with a 4xx, is sent `n` separate requests with seeds `seed + i` instead
//!   (llama.cpp's own convention for its `n` children), and is remembered as such.
//! - **`submit` really runs in the background**: each submitted request runs on its own thread
//!   (at most `max_in_flight` requests at once per model), so a script's probes are answered by
//!   the server while the conversation goes on, as the local engine batches them.
//! - **Options the server cannot honour are refused**, not dropped: any sampling option other
//!   than temperature, top_p, top_k, max_tokens, seed and stop that is set to a non-default
//!   value (interventions and attention read-outs need the local engine's own attention code).

use super::error::{ModelError, Result};
use super::{FinishReason, Generation, Message, ModelInfo, SamplingOptions, Ticket, UsageCounters};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The OpenAI-compatible root of a local server (llama.cpp's and vLLM's default port).
pub const DEFAULT_API_BASE: &str = "http://127.0.0.1:8080/v1";
/// The environment variable the key is read from unless the user names another.
pub const DEFAULT_API_KEY_ENV: &str = "DRIFT_API_KEY";
/// Options this backend sends to the server.
pub const SUPPORTED_OPTIONS: &[&str] = &[
    "temperature",
    "top_p",
    "top_k",
    "max_tokens",
    "seed",
    "stop",
];

/// Where the server is and how patiently to talk to it. Set by the user (command line or
/// environment), never by scripts: a script that could choose the URL could send the key to
/// any host.
#[derive(Clone)]
pub struct HttpOptions {
    /// The `/v1` root, e.g. `http://127.0.0.1:8080/v1` or `https://api.openai.com/v1`.
    pub api_base: String,
    /// Name of the environment variable holding the key (unset: no key is sent).
    pub api_key_env: String,
    /// Limit on one request, connecting included.
    pub timeout: Duration,
    /// Retries after the first attempt, for the retryable faults.
    pub max_retries: u32,
    /// Delay before the first retry; doubled each time, with jitter, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Requests of one model in flight at once (submitted ones and `n` fallbacks).
    pub max_in_flight: usize,
    /// Where retry notices go (the model layer never prints).
    pub log: Arc<dyn Fn(&str) + Send + Sync>,
    /// Sent as `chat_template_kwargs` with every request when not empty: vLLM, SGLang and
    /// llama.cpp's server pass it to the model's chat template (hosted APIs may refuse it).
    pub chat_template_kwargs: std::collections::BTreeMap<String, Value>,
}

impl std::fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpOptions")
            .field("api_base", &self.api_base)
            .field("api_key_env", &self.api_key_env)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("backoff", &self.backoff)
            .field("max_backoff", &self.max_backoff)
            .field("max_in_flight", &self.max_in_flight)
            .field("chat_template_kwargs", &self.chat_template_kwargs)
            .finish_non_exhaustive()
    }
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            api_base: DEFAULT_API_BASE.into(),
            api_key_env: DEFAULT_API_KEY_ENV.into(),
            timeout: Duration::from_secs(600),
            max_retries: 6,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_in_flight: 16,
            chat_template_kwargs: Default::default(),
            log: Arc::new(|msg| crate::progress::eprintln(format_args!("{msg}"))),
        }
    }
}

/// Removes the key, and any long piece of it, from text that may be shown or stored.
#[derive(Clone)]
struct Redactor {
    key: Option<String>,
}

impl Redactor {
    fn clean(&self, text: &str) -> String {
        let Some(key) = self.key.as_deref().filter(|k| !k.is_empty()) else {
            return text.to_string();
        };
        let mut out = text.replace(key, "[redacted]");
        // Servers quote keys partly ("sk-abc…wxyz"): drop any word sharing 6+ characters
        // with the key.
        if key.len() >= 6 {
            out = out
                .split_inclusive(|c: char| c.is_whitespace() || c == '"' || c == '\'')
                .map(|word| {
                    let core = word.trim_matches(|c: char| {
                        c.is_whitespace() || c == '"' || c == '\'' || c == '.' || c == ','
                    });
                    let shares = core.len() >= 6
                        && core
                            .as_bytes()
                            .windows(6)
                            .any(|w| key.as_bytes().windows(6).any(|k| k == w));
                    if shares {
                        word.replace(core, "[redacted]")
                    } else {
                        word.to_string()
                    }
                })
                .collect();
        }
        out
    }
}

/// How a failed attempt should be handled.
enum Failure {
    /// Worth another attempt (after `wait`, if the server said how long).
    Retry { why: String, wait: Option<Duration> },
    /// A request the server will not accept however often it is sent.
    Fatal { why: String, status: u16 },
}

/// A counting semaphore bounding requests in flight.
struct Slots {
    free: Mutex<usize>,
    cv: Condvar,
}

impl Slots {
    fn acquire(self: &Arc<Self>) -> SlotGuard {
        let mut free = self.free.lock().unwrap();
        while *free == 0 {
            free = self.cv.wait(free).unwrap();
        }
        *free -= 1;
        SlotGuard(self.clone())
    }
}

struct SlotGuard(Arc<Slots>);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap() += 1;
        self.0.cv.notify_one();
    }
}

/// A model served over HTTP.
pub struct OpenAiModel {
    inner: Arc<Inner>,
    info: ModelInfo,
    pending: Mutex<HashMap<u64, std::thread::JoinHandle<Result<Vec<Generation>>>>>,
}

struct Inner {
    name: String,
    base: String,
    client: reqwest::blocking::Client,
    key: Option<reqwest::header::HeaderValue>,
    key_env: String,
    redactor: Redactor,
    options: HttpOptions,
    /// False once the server has shown it does not honour `n`.
    honours_n: AtomicBool,
    usage: UsageCounters,
    slots: Arc<Slots>,
    jitter: AtomicU64,
}

/// Ids of submitted requests, unique in the process (tickets of different models never clash).
static NEXT_TICKET: AtomicU64 = AtomicU64::new(1 << 48);

impl OpenAiModel {
    /// `name` is the model name the server knows (`openai:NAME` without the prefix).
    pub fn new(name: &str, options: &HttpOptions) -> Result<Self> {
        if name.trim().is_empty() {
            return Err(ModelError::InvalidOption(
                "openai: needs a model name, e.g. openai:gpt-4o-mini or the name your server \
                 serves (see its /v1/models)"
                    .into(),
            ));
        }
        let base = options.api_base.trim_end_matches('/').to_string();
        let url = reqwest::Url::parse(&base).map_err(|e| {
            ModelError::InvalidOption(format!("--api-base {base}: not a URL ({e})"))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ModelError::InvalidOption(format!(
                "--api-base {base}: expected an http:// or https:// URL"
            )));
        }
        if url.password().is_some() || !url.username().is_empty() {
            return Err(ModelError::InvalidOption(
                "--api-base must not hold credentials; put the key in the environment variable \
                 named by --api-key-env"
                    .into(),
            ));
        }
        if options.max_in_flight == 0 {
            return Err(ModelError::InvalidOption(
                "at least one request must be allowed in flight".into(),
            ));
        }
        let raw_key = std::env::var(&options.api_key_env)
            .ok()
            .filter(|k| !k.trim().is_empty());
        let key = match &raw_key {
            Some(k) => {
                let mut value =
                    reqwest::header::HeaderValue::from_str(&format!("Bearer {}", k.trim()))
                        .map_err(|_| {
                            ModelError::InvalidOption(format!(
                                "the key in ${} holds characters an HTTP header cannot carry",
                                options.api_key_env
                            ))
                        })?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        let client = reqwest::blocking::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(30)))
            .user_agent(concat!("drift-script/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ModelError::Http(format!("cannot set up the HTTP client: {e}")))?;
        let info = ModelInfo {
            name: name.to_string(),
            backend: "openai".into(),
            path: base.clone(),
            architecture: "remote".into(),
            context_length: 0,
            vocab_size: 0,
            weight_bytes: 0,
            hidden_size: 0,
            layers: 0,
        };
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1;
        Ok(OpenAiModel {
            inner: Arc::new(Inner {
                name: name.to_string(),
                base,
                client,
                key,
                key_env: options.api_key_env.clone(),
                redactor: Redactor {
                    key: raw_key.map(|k| k.trim().to_string()),
                },
                options: options.clone(),
                honours_n: AtomicBool::new(true),
                usage: UsageCounters::default(),
                slots: Arc::new(Slots {
                    free: Mutex::new(options.max_in_flight),
                    cv: Condvar::new(),
                }),
                jitter: AtomicU64::new(seed),
            }),
            info,
            pending: Mutex::new(HashMap::new()),
        })
    }
}

/// Seeds as servers accept them: 31 bits (llama.cpp keeps 32; 0xFFFFFFFF means "random" there).
pub fn wire_seed(seed: u64) -> u64 {
    (seed ^ (seed >> 31) ^ (seed >> 62)) & 0x7fff_ffff
}

impl Inner {
    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    /// The server root without the trailing `/v1` (vLLM and llama.cpp put `/tokenize` there).
    fn root(&self) -> String {
        self.base
            .strip_suffix("/v1")
            .unwrap_or(&self.base)
            .to_string()
    }

    fn check_options(&self, opts: &SamplingOptions) -> Result<()> {
        opts.validate()?;
        if let Some(first) = opts.intervention.requested().first() {
            return Err(ModelError::InvalidOption(format!(
                "option `{first}` is not available with the HTTP backend (openai:{}): \
                 interventions and attention read-outs need the local engine's own attention \
                 code (asked: {})",
                self.name,
                opts.intervention.requested().join(", ")
            )));
        }
        // Every option the local engine knows is a field of SamplingOptions. Anything beyond
        // what the chat-completions API carries must be at its default, or the caller would
        // get answers that silently ignored what it asked for.
        let fields = serde_json::to_value(opts).unwrap_or_default();
        let defaults = serde_json::to_value(SamplingOptions::default()).unwrap_or_default();
        if let Some(map) = fields.as_object() {
            for (name, value) in map {
                if SUPPORTED_OPTIONS.contains(&name.as_str()) || defaults.get(name) == Some(value) {
                    continue;
                }
                return Err(ModelError::InvalidOption(format!(
                    "option `{name}` is not available with the HTTP backend (openai:{}): \
                     interventions and attention read-outs need the local engine's own \
                     attention code; options this backend supports: {}",
                    self.name,
                    SUPPORTED_OPTIONS.join(", ")
                )));
            }
        }
        Ok(())
    }

    fn body(&self, messages: &[Message], n: usize, opts: &SamplingOptions, seed: u64) -> Value {
        let mut body = json!({
            "model": self.name,
            "messages": messages.iter().map(|m| json!({"role": m.role, "content": m.content})).collect::<Vec<_>>(),
            "temperature": opts.temperature,
            "top_p": opts.top_p,
            "max_tokens": opts.max_tokens,
            "seed": seed,
            "n": n,
            "stream": false,
        });
        if !opts.stop.is_empty() {
            body["stop"] = json!(opts.stop);
        }
        if opts.top_k > 0 {
            // Not in OpenAI's schema; vLLM, TGI and llama.cpp take it, hosted APIs refuse it.
            body["top_k"] = json!(opts.top_k);
        }
        if !self.options.chat_template_kwargs.is_empty() {
            body["chat_template_kwargs"] = json!(self.options.chat_template_kwargs);
        }
        body
    }

    /// `n` answers: one request with `n`, or `n` requests when the server does not honour it.
    fn complete(
        &self,
        messages: &[Message],
        n: usize,
        opts: &SamplingOptions,
    ) -> Result<Vec<Generation>> {
        self.check_options(opts)?;
        let seed = wire_seed(opts.seed);
        if n == 1 || self.honours_n.load(Ordering::Relaxed) {
            let _slot = self.slots.acquire();
            match self.request(messages, n, opts, seed) {
                Ok(answers) if answers.len() == n => return Ok(answers),
                Ok(answers) => {
                    (self.options.log)(&format!(
                        "{}: asked for n={n} answers, got {}; sending one request per answer \
                         from now on",
                        self.url("chat/completions"),
                        answers.len()
                    ));
                }
                // 400/422: the request's parameters were refused, perhaps `n` (others, such
                // as 404 or 401, are not about `n` and are reported as they are).
                Err(ModelError::Http(message))
                    if n > 1 && (message.contains("HTTP 400") || message.contains("HTTP 422")) =>
                {
                    (self.options.log)(&format!(
                        "the server refused n={n} ({message}); sending one request per answer \
                         from now on"
                    ));
                }
                Err(e) => return Err(e),
            }
            self.honours_n.store(false, Ordering::Relaxed);
        }
        // One request per answer, seeds seed, seed+1, …, in parallel up to the slot limit.
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..n)
                .map(|i| {
                    scope.spawn(move || {
                        let _slot = self.slots.acquire();
                        let seed_i = (seed + i as u64) & 0x7fff_ffff;
                        self.request(messages, 1, opts, seed_i)
                    })
                })
                .collect();
            let mut answers = Vec::with_capacity(n);
            for handle in handles {
                let mut one = handle.join().unwrap_or_else(|_| {
                    Err(ModelError::Http("a request thread panicked".into()))
                })?;
                if one.is_empty() {
                    return Err(ModelError::Http(format!(
                        "{}: the server returned no choices",
                        self.url("chat/completions")
                    )));
                }
                answers.push(one.swap_remove(0));
            }
            Ok(answers)
        })
    }

    /// One chat-completions call (with retries); its choices in index order.
    fn request(
        &self,
        messages: &[Message],
        n: usize,
        opts: &SamplingOptions,
        seed: u64,
    ) -> Result<Vec<Generation>> {
        let body = self.body(messages, n, opts, seed);
        let started = Instant::now();
        let response = self.post("chat/completions", &body, &|v: &Value| {
            v.get("choices")
                .and_then(Value::as_array)
                .map(|_| ())
                .ok_or_else(|| "the response has no `choices` array".to_string())
        })?;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        let served = response
            .get("model")
            .and_then(Value::as_str)
            .map(str::to_string);
        let usage = response.get("usage");
        let count = |key: &str| {
            usage
                .and_then(|u| u.get(key))
                .and_then(Value::as_u64)
                .unwrap_or(0) as usize
        };
        let prompt_tokens = count("prompt_tokens");
        let completion_tokens = count("completion_tokens");
        let cached = usage
            .and_then(|u| u.pointer("/prompt_tokens_details/cached_tokens"))
            .and_then(Value::as_u64)
            .unwrap_or(0) as usize;
        self.usage.record_prompt(prompt_tokens, cached);
        self.usage.record_generated(completion_tokens);
        let mut choices: Vec<&Value> = response["choices"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        choices.sort_by_key(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0));
        let k = choices.len().max(1);
        let mut out = Vec::with_capacity(choices.len());
        for (i, choice) in choices.into_iter().enumerate() {
            let text = choice
                .pointer("/message/content")
                .or_else(|| choice.get("text"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let finish_reason = match choice.get("finish_reason").and_then(Value::as_str) {
                Some("length") => FinishReason::Length,
                _ => FinishReason::Stop,
            };
            out.push(Generation {
                text,
                tokens: Vec::new(),
                finish_reason,
                prompt_tokens,
                cached_prompt_tokens: cached,
                prompt_ms: 0.0,
                decode_ms: elapsed_ms,
                completion_tokens: completion_tokens / k
                    + if i == 0 { completion_tokens % k } else { 0 },
                served_model: served.clone(),
                attention: None,
                activations: None,
            });
        }
        Ok(out)
    }

    /// POSTs JSON to `path` under the base (or an absolute URL), retrying what is worth
    /// retrying; `validate` says whether a 2xx body is what the endpoint promises.
    fn post(
        &self,
        path: &str,
        body: &Value,
        validate: &dyn Fn(&Value) -> std::result::Result<(), String>,
    ) -> Result<Value> {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            self.url(path)
        };
        let attempts = self.options.max_retries + 1;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let failure = match self.attempt(&url, body, validate) {
                Ok(value) => return Ok(value),
                Err(f) => f,
            };
            match failure {
                Failure::Fatal { why, status } => {
                    let hint = if matches!(status, 401 | 403) && self.key.is_none() {
                        format!(" (no key was sent: ${} is not set)", self.key_env)
                    } else {
                        String::new()
                    };
                    return Err(ModelError::Http(
                        self.redactor.clean(&format!("POST {url}: {why}{hint}")),
                    ));
                }
                Failure::Retry { why, wait } => {
                    let why = self.redactor.clean(&why);
                    if attempt >= attempts {
                        return Err(ModelError::Http(format!(
                            "POST {url}: {why} (gave up after {attempt} attempt{})",
                            if attempt == 1 { "" } else { "s" }
                        )));
                    }
                    let delay = wait.unwrap_or_else(|| self.backoff(attempt));
                    (self.options.log)(&format!(
                        "POST {url}: {why}; retrying in {:.1}s (attempt {}/{attempts})",
                        delay.as_secs_f64(),
                        attempt + 1
                    ));
                    sleep_interruptibly(delay)?;
                }
            }
        }
    }

    /// `backoff · 2^(attempt-1)`, capped, with jitter: uniform in [half, all] of it.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .options
            .backoff
            .saturating_mul(1u32 << (attempt - 1).min(20))
            .min(self.options.max_backoff);
        // xorshift64: jitter needs no quality, only spread between concurrent clients.
        let mut x = self.jitter.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.jitter.store(x, Ordering::Relaxed);
        let fraction = 0.5 + 0.5 * ((x >> 11) as f64 / (1u64 << 53) as f64);
        exp.mul_f64(fraction)
    }

    fn attempt(
        &self,
        url: &str,
        body: &Value,
        validate: &dyn Fn(&Value) -> std::result::Result<(), String>,
    ) -> std::result::Result<Value, Failure> {
        let mut request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(body).unwrap_or_default());
        if let Some(key) = &self.key {
            request = request.header(reqwest::header::AUTHORIZATION, key.clone());
        }
        let started = Instant::now();
        let response = request.send().map_err(|e| Failure::Retry {
            why: describe_transport(&e, self.options.timeout),
            wait: None,
        })?;
        let status = response.status();
        let wait = retry_after(response.headers());
        let text = match read_body(response, self.options.timeout, started) {
            Ok(text) => text,
            Err(BodyError::TooLarge) => {
                return Err(Failure::Fatal {
                    why: format!(
                        "HTTP {status}: the response is larger than {} MiB, more than any chat \
                         completion needs; is --api-base a chat-completions server?",
                        MAX_RESPONSE_BYTES >> 20
                    ),
                    status: status.as_u16(),
                });
            }
            Err(BodyError::Slow) => {
                return Err(Failure::Retry {
                    why: format!(
                        "HTTP {status}: the response was still arriving after {:.1}s (timed out)",
                        self.options.timeout.as_secs_f64()
                    ),
                    wait: None,
                });
            }
            Err(BodyError::Transport(e)) => {
                return Err(Failure::Retry {
                    why: format!("HTTP {status}: the response was cut short ({e})"),
                    wait: None,
                });
            }
        };
        if status.is_success() {
            let value: Value = serde_json::from_str(&text).map_err(|e| Failure::Retry {
                why: format!("malformed JSON in the response ({e}): {}", snippet(&text)),
                wait: None,
            })?;
            validate(&value).map_err(|why| Failure::Retry {
                why: format!("unexpected response: {why}: {}", snippet(&text)),
                wait: None,
            })?;
            return Ok(value);
        }
        let why = format!("HTTP {status}: {}", server_message(&text));
        if status.as_u16() == 429 || status.is_server_error() || status.as_u16() == 408 {
            Err(Failure::Retry { why, wait })
        } else {
            Err(Failure::Fatal {
                why,
                status: status.as_u16(),
            })
        }
    }

    /// Prompt tokens of a conversation, by the server's own tokenizer: llama.cpp's
    /// `/apply-template` + `/tokenize`, or vLLM's `/tokenize` with messages.
    fn count_tokens(&self, messages: &[Message]) -> Result<usize> {
        let root = self.root();
        let msgs: Vec<Value> = messages
            .iter()
            .map(|m| json!({"role": m.role, "content": m.content}))
            .collect();
        let ok = |_: &Value| Ok(());
        let fatal_404 = |e: &ModelError| match e {
            ModelError::Http(m) => m.contains("HTTP 404") || m.contains("HTTP 405"),
            _ => false,
        };
        match self.post(
            &format!("{root}/apply-template"),
            &json!({"messages": msgs}),
            &ok,
        ) {
            Ok(v) if v.get("prompt").and_then(Value::as_str).is_some() => {
                let tokens = self.post(
                    &format!("{root}/tokenize"),
                    &json!({"content": v["prompt"], "add_special": false, "parse_special": true}),
                    &ok,
                )?;
                if let Some(t) = tokens.get("tokens").and_then(Value::as_array) {
                    return Ok(t.len());
                }
            }
            Ok(_) => {}
            Err(e) if fatal_404(&e) => {}
            Err(e) => return Err(e),
        }
        match self.post(
            &format!("{root}/tokenize"),
            &json!({"model": self.name, "messages": msgs}),
            &ok,
        ) {
            Ok(v) => {
                if let Some(count) = v.get("count").and_then(Value::as_u64) {
                    return Ok(count as usize);
                }
            }
            Err(e) if fatal_404(&e) => {}
            Err(e) => return Err(e),
        }
        Err(ModelError::Http(format!(
            "count_tokens: the server at {root} has no tokenizer endpoint (llama.cpp's \
             /apply-template + /tokenize, or vLLM's /tokenize); hosted APIs do not expose \
             one: count with a local model of the same family, or use the `usage` the records carry"
        )))
    }
}

/// The most a response body may hold. Chat completions are a few kilobytes; a server (or
/// something else on that port) that sends gigabytes must not take the machine's memory
/// (found by the fuzz suite, tests/fuzz/http.rs).
pub const MAX_RESPONSE_BYTES: u64 = 64 << 20;

enum BodyError {
    TooLarge,
    Slow,
    Transport(std::io::Error),
}

/// Reads a response body up to [`MAX_RESPONSE_BYTES`], within `timeout` of `started` in all:
/// the blocking client's timeout bounds each read, so a server dripping a byte at a time would
/// otherwise hold the request open for good.
fn read_body(
    mut response: reqwest::blocking::Response,
    timeout: Duration,
    started: Instant,
) -> std::result::Result<String, BodyError> {
    use std::io::Read;
    let mut body = Vec::new();
    let mut chunk = [0u8; 64 << 10];
    loop {
        if started.elapsed() > timeout {
            return Err(BodyError::Slow);
        }
        let n = match response.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(BodyError::Transport(e)),
        };
        if body.len() as u64 + n as u64 > MAX_RESPONSE_BYTES {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Sleeps in short steps so Ctrl-C in the REPL stops a long `Retry-After` wait.
fn sleep_interruptibly(delay: Duration) -> Result<()> {
    let until = Instant::now() + delay;
    loop {
        if crate::interrupt::requested() {
            return Err(ModelError::Interrupted);
        }
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        std::thread::sleep((until - now).min(Duration::from_millis(50)));
    }
}

/// `retry-after-ms` (OpenAI) or `Retry-After` in seconds, capped at ten minutes so a bad
/// header cannot stall a run for good. HTTP-date values fall back to the backoff.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    let seconds = number("retry-after-ms")
        .map(|ms| ms / 1e3)
        .or_else(|| number("retry-after"))?;
    Some(Duration::from_secs_f64(seconds.min(600.0)))
}

/// A transport error in words: timeout, refused, reset, with the innermost cause.
fn describe_transport(error: &reqwest::Error, timeout: Duration) -> String {
    let mut cause = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    let kind = if error.is_timeout() {
        format!("timed out after {:.1}s", timeout.as_secs_f64())
    } else if error.is_connect() {
        "cannot connect".to_string()
    } else {
        "the connection failed".to_string()
    };
    if cause.is_empty() {
        kind
    } else {
        format!("{kind}: {cause}")
    }
}

/// The server's own explanation: `error.message` (OpenAI, vLLM, llama.cpp), `error` (TGI),
/// `detail` or `message`, else the body itself, shortened.
fn server_message(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        let found = v
            .pointer("/error/message")
            .or_else(|| v.get("error").filter(|e| e.is_string()))
            .or_else(|| v.get("detail"))
            .or_else(|| v.get("message"));
        if let Some(m) = found {
            return match m {
                Value::String(s) => snippet(s),
                other => snippet(&other.to_string()),
            };
        }
    }
    if body.trim().is_empty() {
        "(empty body)".into()
    } else {
        snippet(body)
    }
}

fn snippet(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= 300 {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(300).collect::<String>())
    }
}

impl super::ChatModel for OpenAiModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn chat(
        &self,
        messages: &[Message],
        n: usize,
        opts: &SamplingOptions,
    ) -> Result<Vec<Generation>> {
        self.inner.complete(messages, n, opts)
    }

    fn count_tokens(&self, messages: &[Message]) -> Result<usize> {
        self.inner.count_tokens(messages)
    }

    /// Conversations in parallel (each its own request), answers in order.
    fn chat_batch(
        &self,
        conversations: &[(Vec<Message>, u64)],
        n: usize,
        opts: &SamplingOptions,
    ) -> Result<Vec<Vec<Generation>>> {
        let tickets = self.submit(conversations, n, opts)?;
        tickets.into_iter().map(|t| self.wait(t)).collect()
    }

    fn submit(
        &self,
        conversations: &[(Vec<Message>, u64)],
        n: usize,
        opts: &SamplingOptions,
    ) -> Result<Vec<Ticket>> {
        self.inner.check_options(opts)?;
        let mut tickets = Vec::with_capacity(conversations.len());
        for (messages, seed) in conversations {
            let inner = self.inner.clone();
            let messages = messages.clone();
            let opts = SamplingOptions {
                seed: *seed,
                ..opts.clone()
            };
            let handle = std::thread::Builder::new()
                .name("drift-http".into())
                .spawn(move || inner.complete(&messages, n, &opts))
                .map_err(|e| ModelError::Http(format!("cannot start a request thread: {e}")))?;
            let id = NEXT_TICKET.fetch_add(1, Ordering::Relaxed);
            self.pending.lock().unwrap().insert(id, handle);
            tickets.push(Ticket::Pending(id));
        }
        Ok(tickets)
    }

    fn wait(&self, ticket: Ticket) -> Result<Vec<Generation>> {
        match ticket {
            Ticket::Ready(answers) => Ok(answers),
            Ticket::Pending(id) => {
                let handle = self.pending.lock().unwrap().remove(&id).ok_or_else(|| {
                    ModelError::InvalidOption(format!("request {id} belongs to another model"))
                })?;
                handle
                    .join()
                    .unwrap_or_else(|_| Err(ModelError::Http("a request thread panicked".into())))
            }
        }
    }

    fn usage(&self) -> super::Usage {
        self.inner.usage.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_pieces_of_keys_are_redacted() {
        let r = Redactor {
            key: Some("sk-test-1234567890abcdef".into()),
        };
        let text = "Incorrect API key provided: sk-test-****cdef. Key sk-test-1234567890abcdef. \
                    \"Bearer sk-test-1234567890abcdef\" ok";
        let clean = r.clean(text);
        assert!(!clean.contains("1234567890"), "{clean}");
        assert!(!clean.contains("sk-test-"), "{clean}");
        assert!(clean.contains("ok"));
        assert_eq!(Redactor { key: None }.clean("x"), "x");
    }

    #[test]
    fn server_messages_are_found_in_the_usual_places() {
        assert_eq!(server_message(r#"{"error":{"message":"bad n"}}"#), "bad n");
        assert_eq!(
            server_message(r#"{"error":"Input validation error"}"#),
            "Input validation error"
        );
        assert_eq!(server_message(r#"{"detail":"Not Found"}"#), "Not Found");
        assert_eq!(server_message(""), "(empty body)");
        assert_eq!(server_message("plain"), "plain");
    }

    #[test]
    fn wire_seeds_fit_31_bits() {
        for seed in [0u64, 1, 0x7fff_ffff, u64::MAX, 12_345_678_901_234] {
            assert!(wire_seed(seed) <= 0x7fff_ffff);
        }
        assert_eq!(wire_seed(5), 5);
    }
}
