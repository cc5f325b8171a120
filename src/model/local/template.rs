//! Chat templates: a conversation (role + content messages) becomes the prompt text the model was
//! trained on, rendered by the model's own Jinja template, plus where the system prompt sits in
//! that text and in its tokens.
//!
//! Templates are the Jinja files Hugging Face ships in `tokenizer_config.json` and GGUF files in
//! `tokenizer.chat_template`; they are written for Python's Jinja2 as `transformers`' `apply_chat_template`
//! configures it, so the environment here mirrors that one: `trim_blocks` and `lstrip_blocks`,
//! `raise_exception(msg)`, `strftime_now(fmt)`, Python string/dict methods (`.strip()`,
//! `.startswith()`, `.items()`...), a `tojson` that writes what Python's `json.dumps` writes, loop
//! controls, and lenient undefined values (`messages[0]['role']` on an empty list is just false).
//!
//! The position of the system prompt is what attention measurements and split-softmax act on
//! (DESIGN.md §2), so it is located, never assumed: see [`ChatTemplate::render`].
//!
//! Some templates refuse a system message (Gemma 2's raises "System role not supported"), yet
//! every persona is a system prompt. For those, the system prompt goes where Gemma 3's own
//! template puts it and common practice does: at the start of the first user turn, followed by
//! a blank line (`{system}\n\n{user}`); a conversation with no user turn after it gets a user
//! turn of the system prompt alone. Its span is located as for any template, so π and
//! split-softmax see exactly its tokens.

use super::tokenizer::TextTokenizer;
use crate::model::Message;
use crate::model::error::{ModelError, Result};
use minijinja::value::{Enumerator, Kwargs, Object, ValueKind};
use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::Arc;

/// A rendered conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedChat {
    pub text: String,
    /// Byte range in `text` of the system message's content (not its role header or end marker).
    /// `None` when the caller sent no system message, or the template does not emit its content
    /// recognisably.
    pub system_content: Option<Range<usize>>,
}

/// A rendered and tokenized conversation, ready for the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatPrompt {
    pub text: String,
    pub ids: Vec<u32>,
    /// Indices into `ids` of the tokens that overlap the system content. Only the content: the
    /// role header (`<|im_start|>system\n`), BOS and the end marker (`<|im_end|>`) are left out,
    /// because such tokens act as attention sinks and would swamp a measurement of attention to
    /// the system prompt. A token straddling the content's boundary is included.
    pub system_span: Option<Range<usize>>,
}

/// A compiled chat template.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: Option<String>,
    eos_token: Option<String>,
    /// The template refuses a system message: it is folded into the first user turn.
    system_in_first_user: bool,
    /// Extra variables every rendering sees ([`ChatTemplate::with_kwargs`]).
    kwargs: BTreeMap<String, Value>,
}

/// A JSON value as the template sees it (Python's `None`, `True`, numbers, strings, lists,
/// dicts).
fn json_value(v: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match v {
        J::Null => Value::from(()),
        J::Bool(b) => Value::from(*b),
        J::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::from(i),
            (None, Some(u)) => Value::from(u),
            _ => Value::from(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => Value::from(s.as_str()),
        J::Array(items) => Value::from(items.iter().map(json_value).collect::<Vec<_>>()),
        J::Object(map) => Value::from(
            map.iter()
                .map(|(k, v)| (k.clone(), json_value(v)))
                .collect::<BTreeMap<_, _>>(),
        ),
    }
}

/// Variables the renderer sets itself, which `chat_template_kwargs` may not replace.
pub const RESERVED_VARIABLES: &[&str] = &[
    "messages",
    "add_generation_prompt",
    "bos_token",
    "eos_token",
];

/// The first of `names` that the renderer sets itself ([`RESERVED_VARIABLES`]): template
/// variables may not replace it.
pub fn reserved_variable<'a>(mut names: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    names.find(|name| RESERVED_VARIABLES.contains(&name.as_str()))
}

const TEMPLATE_NAME: &str = "chat_template";

const CHATML: &str = "{% for message in messages %}\
{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}\
{% endfor %}\
{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// The Llama-2-chat template as Meta's `tokenizer_config.json` has it.
const LLAMA2: &str = "{% if messages[0]['role'] == 'system' %}\
{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}\
{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}\
{% for message in loop_messages %}\
{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\
{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}\
{% endif %}\
{% if loop.index0 == 0 and system_message != false %}\
{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}\
{% else %}{% set content = message['content'] %}{% endif %}\
{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}\
{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}\
{% endfor %}";

/// Fuel one rendering may spend: some 25 times what a 200-message conversation needs in the
/// larger templates (about 100 instructions per message). minijinja charges one fuel per
/// instruction and one per 64 bytes that an operator or the output produces, so this also caps
/// the strings a template can build at about 32 MB (a string doubled in a loop ends here:
/// `tests/template.rs`). Low, because some work is charged less than it costs: a loop that
/// appends to a namespace list copies the list each time, so its time grows with the square of
/// the fuel (tests/fixtures/fuzz/template/).
const TEMPLATE_FUEL: u64 = 500_000;

/// Stands in for the system content in a probe rendering. Private-use characters: no real prompt
/// contains them, and `strip`, `upper`, `lower` leave them alone.
const SENTINEL: &str = "\u{E000}\u{E001}\u{E002}\u{E003}";

impl ChatTemplate {
    /// Compiles a Jinja chat template. `bos_token` / `eos_token` are the texts templates see as
    /// the variables of the same names (left undefined when `None`).
    pub fn from_jinja(
        source: &str,
        bos_token: Option<String>,
        eos_token: Option<String>,
    ) -> Result<Self> {
        let mut env = Environment::new();
        // transformers renders with Jinja2(trim_blocks=True, lstrip_blocks=True).
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|e| template_error(&e))?;
        env.set_syntax(syntax);
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        // A template from a model file must end: loops and recursion are bounded by
        // instructions per render (a real template spends a few hundred per message; found by
        // the fuzz suite, tests/fuzz/template.rs).
        env.set_fuel(Some(TEMPLATE_FUEL));
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |msg: String| -> std::result::Result<Value, minijinja::Error> {
                Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
            },
        );
        env.add_function("strftime_now", |fmt: String| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            strftime(&fmt, now)
        });
        env.add_filter("tojson", tojson);
        // Print like Python: True, False, None.
        env.set_formatter(|out, state, value| match value.kind() {
            ValueKind::Bool => {
                let text = if value.is_true() { "True" } else { "False" };
                out.write_str(text).map_err(minijinja::Error::from)
            }
            ValueKind::None => out.write_str("None").map_err(minijinja::Error::from),
            _ => minijinja::escape_formatter(out, state, value),
        });
        env.add_template_owned(TEMPLATE_NAME, source.to_string())
            .map_err(|e| template_error(&e))?;
        let mut template = ChatTemplate {
            env,
            bos_token,
            eos_token,
            system_in_first_user: false,
            kwargs: BTreeMap::new(),
        };
        template.probe_system_role();
        Ok(template)
    }

    /// A template that renders a user turn but fails on a system message before it refuses
    /// the system role (a template that fails on both is left to fail as it does).
    fn probe_system_role(&mut self) {
        self.system_in_first_user = false;
        let probe = |messages: &[Message]| self.render_text(messages, true).is_ok();
        self.system_in_first_user =
            probe(&[Message::user("u")]) && !probe(&[Message::system("s"), Message::user("u")]);
    }

    /// The template with extra variables every rendering sees, as `transformers`'
    /// `apply_chat_template(**kwargs)` and the `chat_template_kwargs` of vLLM and llama.cpp's
    /// server pass them: `{"enable_thinking": false}` turns Qwen3's thinking mode off. The
    /// variables the renderer sets itself (`messages`, `add_generation_prompt`, `bos_token`,
    /// `eos_token`) are refused.
    pub fn with_kwargs(mut self, kwargs: &BTreeMap<String, serde_json::Value>) -> Result<Self> {
        if let Some(name) = reserved_variable(kwargs.keys()) {
            return Err(ModelError::Template(format!(
                "chat_template_kwargs may not set `{name}`: the renderer sets it ({})",
                RESERVED_VARIABLES.join(", ")
            )));
        }
        self.kwargs = kwargs
            .iter()
            .map(|(k, v)| (k.clone(), json_value(v)))
            .collect();
        // A variable may change whether the template accepts a system message.
        self.probe_system_role();
        Ok(self)
    }

    /// Whether this template refuses a system message, so that the system prompt is folded
    /// into the first user turn (see the module's documentation).
    pub fn folds_system_into_first_user(&self) -> bool {
        self.system_in_first_user
    }

    /// ChatML (`<|im_start|>role\ncontent<|im_end|>\n`), for models without a template whose
    /// vocabulary has `<|im_start|>`.
    pub fn chatml() -> Self {
        Self::from_jinja(CHATML, None, None).expect("the built-in ChatML template compiles")
    }

    /// Llama-2-chat (`<s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s>`),
    /// with `<s>` and `</s>` as BOS and EOS.
    pub fn llama2() -> Self {
        Self::llama2_with("<s>", "</s>")
    }

    fn llama2_with(bos: &str, eos: &str) -> Self {
        Self::from_jinja(LLAMA2, Some(bos.into()), Some(eos.into()))
            .expect("the built-in Llama-2 template compiles")
    }

    /// The tokenizer's own template if it has one; else ChatML when the vocabulary has
    /// `<|im_start|>`; else Llama-2 with the tokenizer's BOS/EOS texts.
    pub fn for_tokenizer(tok: &TextTokenizer) -> Result<Self> {
        if let Some(source) = tok.chat_template() {
            return Self::from_jinja(source, tok.bos_token(), tok.eos_token());
        }
        if tok.token_id("<|im_start|>").is_some() {
            return Ok(Self::chatml());
        }
        let bos = tok.bos_token().unwrap_or_else(|| "<s>".into());
        let eos = tok.eos_token().unwrap_or_else(|| "</s>".into());
        Ok(Self::llama2_with(&bos, &eos))
    }

    /// Renders `messages`; with `add_generation_prompt`, ends with the header of an assistant
    /// turn (for templates that have one).
    ///
    /// The system content is located, not assumed, because templates may strip it, move it into
    /// the first user turn (Llama-2) or drop it: the conversation is rendered a second time with
    /// the content replaced by a sentinel; if substituting the real content back gives exactly
    /// the real rendering, the span is where the sentinel was. Otherwise the template changed the
    /// content, and the span is the first occurrence of the whitespace-trimmed content at or
    /// after the point where the two renderings diverge; if there is none, `None` rather than a
    /// wrong span.
    ///
    /// Only the first message with role `system` counts. A template that inserts a default
    /// system prompt when the conversation has none (SmolLM2's does) still gives
    /// `system_content: None`: the caller sent no system message, and the engine treats "no
    /// system prompt" as its own case rather than measuring attention to text it never chose.
    pub fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<RenderedChat> {
        for (i, m) in messages.iter().enumerate() {
            if m.role.trim().is_empty() {
                return Err(ModelError::Template(format!(
                    "message {i} has an empty role"
                )));
            }
        }
        let text = self.render_text(messages, add_generation_prompt)?;
        let system_content = self.locate_system(messages, add_generation_prompt, &text);
        Ok(RenderedChat {
            text,
            system_content,
        })
    }

    /// Renders and tokenizes `messages` (BOS added when the model wants it and the template did
    /// not write it), with the token span of the system content (see [`ChatPrompt::system_span`]).
    pub fn tokenize(
        &self,
        tok: &TextTokenizer,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<ChatPrompt> {
        let rendered = self.render(messages, add_generation_prompt)?;
        let enc = tok.encode(&rendered.text, true)?;
        let system_span = rendered
            .system_content
            .map(|bytes| token_span(&enc.offsets, bytes));
        Ok(ChatPrompt {
            text: rendered.text,
            ids: enc.ids,
            system_span,
        })
    }

    fn render_text(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let folded;
        let messages = match messages.first() {
            Some(first) if self.system_in_first_user && first.role == "system" => {
                folded = system_in_first_user(messages);
                &folded[..]
            }
            _ => messages,
        };
        let msgs: Vec<Value> = messages
            .iter()
            .map(|m| Value::from_object(MessageValue(m.clone())))
            .collect();
        let mut ctx: BTreeMap<&str, Value> = self
            .kwargs
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        ctx.extend([
            ("messages", Value::from(msgs)),
            ("add_generation_prompt", Value::from(add_generation_prompt)),
        ]);
        if let Some(bos) = &self.bos_token {
            ctx.insert("bos_token", Value::from(bos.as_str()));
        }
        if let Some(eos) = &self.eos_token {
            ctx.insert("eos_token", Value::from(eos.as_str()));
        }
        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(|e| template_error(&e))?;
        template
            .render(Value::from(ctx))
            .map_err(|e| template_error(&e))
    }

    /// Renders and tokenizes a whole conversation (no generation prompt), with the token span
    /// of each message's content (`None` where the template does not show it recognisably, or
    /// it is empty), found as the system prompt's is.
    pub fn tokenize_messages(
        &self,
        tok: &TextTokenizer,
        messages: &[Message],
    ) -> Result<(ChatPrompt, Vec<Option<Range<usize>>>)> {
        let prompt = self.tokenize(tok, messages, false)?;
        let enc = tok.encode(&prompt.text, true)?;
        let spans = (0..messages.len())
            .map(|i| {
                self.locate_content(messages, i, false, &prompt.text)
                    .filter(|bytes| !bytes.is_empty())
                    .map(|bytes| token_span(&enc.offsets, bytes))
            })
            .collect();
        Ok((prompt, spans))
    }

    fn locate_system(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
        text: &str,
    ) -> Option<Range<usize>> {
        let index = messages.iter().position(|m| m.role == "system")?;
        self.locate_content(messages, index, add_generation_prompt, text)
    }

    /// The byte span of message `index`'s content in the rendered `text`.
    fn locate_content(
        &self,
        messages: &[Message],
        index: usize,
        add_generation_prompt: bool,
        text: &str,
    ) -> Option<Range<usize>> {
        let content = &messages[index].content;
        let mut probe = messages.to_vec();
        probe[index].content = SENTINEL.to_string();
        let probe_text = self.render_text(&probe, add_generation_prompt).ok()?;
        let at = probe_text.find(SENTINEL)?;
        // A template may repeat the system prompt: substitute every copy, report the first.
        if probe_text.replace(SENTINEL, content) == text {
            return Some(at..at + content.len());
        }
        let needle = content.trim();
        if needle.is_empty() {
            return None;
        }
        let mut from = at.min(common_prefix_len(&probe_text, text));
        while !text.is_char_boundary(from) {
            from -= 1;
        }
        let found = text[from..].find(needle)? + from;
        Some(found..found + needle.len())
    }
}

/// `messages` with the leading system message moved to the start of the first user turn,
/// separated by a blank line (or, with no user turn next, as a user turn of its own).
fn system_in_first_user(messages: &[Message]) -> Vec<Message> {
    let system = &messages[0].content;
    let mut rest = messages[1..].to_vec();
    match rest.first_mut() {
        Some(first) if first.role == "user" => {
            first.content = format!("{system}\n\n{}", first.content);
        }
        _ => rest.insert(0, Message::user(system.clone())),
    }
    rest
}

/// A message as templates see it: a map whose keys iterate as `role`, `content`, the order of
/// the Python dicts transformers passes (a plain minijinja map would sort them, and `tojson`
/// output would differ).
#[derive(Debug)]
struct MessageValue(Message);

impl Object for MessageValue {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "role" => Some(Value::from(self.0.role.as_str())),
            "content" => Some(Value::from(self.0.content.as_str())),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["role", "content"])
    }
}

fn common_prefix_len(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

/// Indices of the tokens whose byte range overlaps `bytes`. For empty content, the empty range
/// just before the first token starting at or after it.
fn token_span(offsets: &[(usize, usize)], bytes: Range<usize>) -> Range<usize> {
    let overlaps = |&(a, b): &(usize, usize)| a < bytes.end && b > bytes.start;
    match offsets.iter().position(overlaps) {
        Some(first) => {
            let last = offsets.iter().rposition(overlaps).unwrap_or(first);
            first..last + 1
        }
        None => {
            let k = offsets
                .iter()
                .position(|&(a, b)| a >= bytes.start && b > a)
                .unwrap_or(offsets.len());
            k..k
        }
    }
}

/// minijinja's message (kind and detail), the template line, and any underlying cause.
fn template_error(e: &minijinja::Error) -> ModelError {
    let mut msg = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    if let Some(line) = e.line() {
        let _ = write!(msg, " (line {line})");
    }
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let _ = write!(msg, ": {cause}");
        source = cause.source();
    }
    ModelError::Template(msg)
}

/// `tojson` as transformers defines it: Python's `json.dumps(value, ensure_ascii=False,
/// indent=indent, sort_keys=sort_keys)`, without the HTML escaping minijinja's built-in applies.
fn tojson(
    value: &Value,
    indent: Option<usize>,
    kwargs: Kwargs,
) -> std::result::Result<Value, minijinja::Error> {
    let indent = match indent {
        Some(i) => Some(i),
        None => kwargs.get::<Option<usize>>("indent")?,
    };
    let sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false);
    // Accepted for compatibility; output is always ensure_ascii=False.
    let _ = kwargs.get::<Option<bool>>("ensure_ascii")?;
    kwargs.assert_all_used()?;
    let mut out = String::new();
    write_json(&mut out, value, indent, 0, sort_keys)?;
    Ok(Value::from_safe_string(out))
}

fn write_json(
    out: &mut String,
    value: &Value,
    indent: Option<usize>,
    level: usize,
    sort_keys: bool,
) -> std::result::Result<(), minijinja::Error> {
    let newline = |out: &mut String, level: usize| {
        if let Some(width) = indent {
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', width * level));
        }
    };
    let separator = if indent.is_some() { "," } else { ", " };
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => out.push_str(&value.to_string()),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(separator);
                }
                newline(out, level + 1);
                write_json(out, item, indent, level + 1, sort_keys)?;
            }
            newline(out, level);
            out.push(']');
        }
        ValueKind::Map => {
            let mut keys: Vec<Value> = value.try_iter()?.collect();
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            if sort_keys {
                keys.sort_by_key(|k| k.to_string());
            }
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(separator);
                }
                newline(out, level + 1);
                write_json_str(out, &key.to_string());
                out.push_str(": ");
                write_json(out, &value.get_item(key)?, indent, level + 1, sort_keys)?;
            }
            newline(out, level);
            out.push('}');
        }
        _ => write_json_str(out, &value.to_string()),
    }
    Ok(())
}

fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's `strftime` for the common directives, in UTC (the machines running experiments may
/// have any time zone; UTC keeps renderings reproducible within a day). Unknown directives are
/// written as they are.
fn strftime(fmt: &str, unix_secs: i64) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = [
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
    ];
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    let (hour, minute, second) = (secs / 3600, secs / 60 % 60, secs % 60);
    let (year, month, day) = civil_from_days(days);
    let weekday = (days + 4).rem_euclid(7) as usize; // 1970-01-01 was a Thursday.
    let day_of_year = days - days_from_civil(year, 1, 1) + 1;
    let month_name = MONTHS[month as usize - 1];

    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let _ = match chars.next() {
            Some('Y') => write!(out, "{year}"),
            Some('y') => write!(out, "{:02}", year.rem_euclid(100)),
            Some('m') => write!(out, "{month:02}"),
            Some('d') => write!(out, "{day:02}"),
            Some('e') => write!(out, "{day:>2}"),
            Some('B') => write!(out, "{month_name}"),
            Some('b') | Some('h') => write!(out, "{}", &month_name[..3]),
            Some('A') => write!(out, "{}", DAYS[weekday]),
            Some('a') => write!(out, "{}", &DAYS[weekday][..3]),
            Some('H') => write!(out, "{hour:02}"),
            Some('I') => write!(out, "{:02}", (hour + 11) % 12 + 1),
            Some('p') => write!(out, "{}", if hour < 12 { "AM" } else { "PM" }),
            Some('M') => write!(out, "{minute:02}"),
            Some('S') => write!(out, "{second:02}"),
            Some('j') => write!(out, "{day_of_year:03}"),
            Some('%') => write!(out, "%"),
            Some(other) => write!(out, "%{other}"),
            None => write!(out, "%"),
        };
    }
    out
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strftime_formats_utc_dates() {
        assert_eq!(strftime("%d %b %Y", 0), "01 Jan 1970");
        // 2023-11-14 22:13:20 UTC, a Tuesday, day 318.
        assert_eq!(
            strftime("%A %B %e %H:%M:%S %I%p %j %y %%", 1_700_000_000),
            "Tuesday November 14 22:13:20 10PM 318 23 %"
        );
        assert_eq!(strftime("%Y-%m-%d", 951_782_400), "2000-02-29");
        assert_eq!(days_from_civil(2000, 2, 29), 951_782_400 / 86_400);
    }

    #[test]
    fn tojson_writes_python_json() {
        let t = ChatTemplate::from_jinja(
            "{{ messages|tojson }}|{{ {'b': [1, 2.5, none, true], 'a': '<é\"\n>'}|tojson(indent=2, sort_keys=true) }}",
            None,
            None,
        )
        .unwrap();
        let text = t.render(&[Message::user("x")], false).unwrap().text;
        assert_eq!(
            text,
            "[{\"role\": \"user\", \"content\": \"x\"}]|{\n  \"a\": \"<é\\\"\\n>\",\n  \"b\": [\n    1,\n    2.5,\n    null,\n    true\n  ]\n}"
        );
    }

    #[test]
    fn token_span_covers_overlapping_tokens() {
        let offsets = [(0, 0), (0, 3), (3, 5), (5, 9), (9, 10)];
        assert_eq!(token_span(&offsets, 4..6), 2..4);
        assert_eq!(token_span(&offsets, 5..9), 3..4);
        assert_eq!(token_span(&offsets, 5..5), 3..3);
    }
}
