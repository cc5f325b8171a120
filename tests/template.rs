//! Chat templates: the default model's own template, the ChatML and Llama-2 fallbacks, where the
//! system prompt lands in text and tokens, and template errors.

use candle_core::quantized::gguf_file::{self, Value};
use drift_script::model::ModelError;
use drift_script::model::local::tokenizer::TextTokenizer;
use drift_script::model::{Message, local::template::ChatTemplate};
use std::collections::HashMap;
use std::sync::OnceLock;

fn default_metadata() -> &'static HashMap<String, Value> {
    static META: OnceLock<HashMap<String, Value>> = OnceLock::new();
    META.get_or_init(|| {
        let path = drift_script::fetch::default_model_path(&mut |msg| eprintln!("{msg}"))
            .expect("default model");
        let mut file = std::fs::File::open(&path).expect("open default model");
        gguf_file::Content::read(&mut file)
            .expect("read GGUF")
            .metadata
    })
}

fn smollm2() -> &'static TextTokenizer {
    static TOK: OnceLock<TextTokenizer> = OnceLock::new();
    TOK.get_or_init(|| TextTokenizer::from_gguf(default_metadata()).expect("tokenizer"))
}

const PIRATE: &str = "You are a pirate. Always answer like a pirate, matey!";

fn template_error(result: Result<impl std::fmt::Debug, ModelError>) -> String {
    match result {
        Err(ModelError::Template(msg)) => msg,
        other => panic!("expected a template error, got {other:?}"),
    }
}

#[test]
fn default_model_template_with_system_prompt() {
    let tok = smollm2();
    let template = ChatTemplate::for_tokenizer(tok).unwrap();
    let messages = [
        Message::system(PIRATE),
        Message::user("Hello! Who are you?"),
    ];

    let rendered = template.render(&messages, true).unwrap();
    let header = "<|im_start|>system\n";
    assert_eq!(
        rendered.text,
        format!(
            "{header}{PIRATE}<|im_end|>\n<|im_start|>user\nHello! Who are you?<|im_end|>\n\
             <|im_start|>assistant\n"
        )
    );
    let bytes = rendered.system_content.clone().unwrap();
    assert_eq!(bytes, header.len()..header.len() + PIRATE.len());
    assert_eq!(&rendered.text[bytes], PIRATE);

    let prompt = template.tokenize(tok, &messages, true).unwrap();
    assert_eq!(prompt.text, rendered.text);
    assert_eq!(prompt.ids, tok.encode(&rendered.text, false).unwrap().ids);
    // By hand: <|im_start|> "system" "\n" come first, then the content's own tokens (it follows
    // a newline, which is always a token of its own), then <|im_end|>.
    let content_ids = tok.encode(PIRATE, false).unwrap().ids;
    assert_eq!(prompt.ids[..3], [1, 9690, 198]);
    let span = prompt.system_span.clone().unwrap();
    assert_eq!(span, 3..3 + content_ids.len());
    assert_eq!(span, 3..17);
    assert_eq!(prompt.ids[span.clone()], content_ids[..]);
    assert_eq!(prompt.ids[span.end], 2, "<|im_end|> right after the span");
    assert_eq!(tok.decode(&prompt.ids[span]), PIRATE);
}

#[test]
fn default_model_template_without_system_prompt() {
    let tok = smollm2();
    let template = ChatTemplate::for_tokenizer(tok).unwrap();
    let messages = [
        Message::user("Hi"),
        Message::assistant("Hello!"),
        Message::user("Bye"),
    ];
    let rendered = template.render(&messages, false).unwrap();
    assert_eq!(
        rendered.text,
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
         <|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n\
         <|im_start|>user\nBye<|im_end|>\n"
    );
    // The template's default system prompt is not the caller's: no span.
    assert_eq!(rendered.system_content, None);
    assert_eq!(
        template.tokenize(tok, &messages, true).unwrap().system_span,
        None
    );
}

#[test]
fn chatml_fallback() {
    let chatml = ChatTemplate::chatml();
    let with_system = [
        Message::system("Be brief."),
        Message::user("Hi"),
        Message::assistant("Hello."),
        Message::user("Bye"),
    ];
    let rendered = chatml.render(&with_system, true).unwrap();
    assert_eq!(
        rendered.text,
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n\
         <|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n\
         <|im_start|>assistant\n"
    );
    assert_eq!(rendered.system_content, Some(19..28));

    let prompt = chatml.tokenize(smollm2(), &with_system, true).unwrap();
    let span = prompt.system_span.unwrap();
    assert_eq!(
        span,
        3..3 + smollm2().encode("Be brief.", false).unwrap().ids.len()
    );
    assert_eq!(smollm2().decode(&prompt.ids[span]), "Be brief.");

    let without_system = chatml.render(&[Message::user("Hi")], false).unwrap();
    assert_eq!(without_system.text, "<|im_start|>user\nHi<|im_end|>\n");
    assert_eq!(without_system.system_content, None);

    // The fallback chosen for a model whose vocabulary has <|im_start|> but no template.
    let mut meta = default_metadata().clone();
    meta.remove("tokenizer.chat_template");
    let tok = TextTokenizer::from_gguf(&meta).unwrap();
    assert_eq!(tok.chat_template(), None);
    let chosen = ChatTemplate::for_tokenizer(&tok).unwrap();
    assert_eq!(chosen.render(&with_system, true).unwrap(), rendered);
}

#[test]
fn llama2_fallback() {
    let llama2 = ChatTemplate::llama2();
    let with_system = [
        Message::system("Be brief."),
        Message::user("Hi"),
        Message::assistant("Hello there"),
        Message::user("Bye"),
    ];
    let rendered = llama2.render(&with_system, true).unwrap();
    assert_eq!(
        rendered.text,
        "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello there </s><s>[INST] Bye [/INST]"
    );
    let start = "<s>[INST] <<SYS>>\n".len();
    assert_eq!(
        rendered.system_content,
        Some(start..start + "Be brief.".len())
    );

    // Spans are token indices whatever the tokenizer; SmolLM2's serves as one here.
    let prompt = llama2.tokenize(smollm2(), &with_system, true).unwrap();
    let span = prompt.system_span.unwrap();
    assert_eq!(smollm2().decode(&prompt.ids[span.clone()]), "Be brief.");
    assert_eq!(
        smollm2().decode(&prompt.ids[..span.start]),
        "<s>[INST] <<SYS>>\n"
    );

    let single = llama2.render(&[Message::user("Hi")], true).unwrap();
    assert_eq!(single.text, "<s>[INST] Hi [/INST]");
    assert_eq!(single.system_content, None);

    let multi = llama2
        .render(
            &[
                Message::user(" Hi "),
                Message::assistant("Yo"),
                Message::user("Bye"),
            ],
            false,
        )
        .unwrap();
    assert_eq!(
        multi.text,
        "<s>[INST] Hi [/INST] Yo </s><s>[INST] Bye [/INST]"
    );

    // Roles must alternate: the template raises.
    let msg = template_error(llama2.render(&[Message::user("a"), Message::user("b")], false));
    assert!(msg.contains("Conversation roles must alternate"), "{msg}");

    // The fallback for a vocabulary with neither a template nor <|im_start|>: Llama-2 with the
    // model's own BOS/EOS texts.
    let strings =
        |xs: &[&str]| Value::Array(xs.iter().map(|s| Value::String(s.to_string())).collect());
    let meta = HashMap::from([
        (
            "tokenizer.ggml.model".to_string(),
            Value::String("gpt2".into()),
        ),
        (
            "tokenizer.ggml.pre".to_string(),
            Value::String("gpt2".into()),
        ),
        (
            "tokenizer.ggml.tokens".to_string(),
            strings(&["<bos>", "<eos>", "a"]),
        ),
        ("tokenizer.ggml.merges".to_string(), strings(&[])),
        ("tokenizer.ggml.bos_token_id".to_string(), Value::U32(0)),
        ("tokenizer.ggml.eos_token_id".to_string(), Value::U32(1)),
    ]);
    let tok = TextTokenizer::from_gguf(&meta).unwrap();
    let chosen = ChatTemplate::for_tokenizer(&tok).unwrap();
    let text = chosen
        .render(&[Message::user("a"), Message::assistant("a")], false)
        .unwrap()
        .text;
    assert_eq!(text, "<bos>[INST] a [/INST] a <eos>");
}

#[test]
fn transformed_or_dropped_system_content() {
    // The template strips the system prompt: the span is the stripped text.
    let stripping = ChatTemplate::from_jinja(
        "{% for m in messages %}[{{ m['role'] }}]{{ m['content'].strip() }}\n{% endfor %}",
        None,
        None,
    )
    .unwrap();
    let messages = [Message::system("  Be brief.  "), Message::user("Be brief.")];
    let rendered = stripping.render(&messages, false).unwrap();
    assert_eq!(rendered.text, "[system]Be brief.\n[user]Be brief.\n");
    assert_eq!(rendered.system_content, Some(8..17));

    // The template ignores system messages: no span, even though the text occurs elsewhere.
    let dropping = ChatTemplate::from_jinja(
        "{% for m in messages if m.role != 'system' %}{{ m.content }}{% endfor %}",
        None,
        None,
    )
    .unwrap();
    let rendered = dropping.render(&messages, false).unwrap();
    assert_eq!(rendered.text, "Be brief.");
    assert_eq!(rendered.system_content, None);
}

#[test]
fn jinja2_compatibility() {
    // Python string methods, lenient undefined values, loop controls, bos/eos variables,
    // strftime_now, and trim_blocks/lstrip_blocks.
    let source = "{% if messages[5]['role'] == 'system' %}never{% endif %}
    {% for m in messages %}
        {% if loop.index0 == 2 %}{% break %}{% endif %}
        {{ bos_token }}{{ m.role.upper() }}:{{ m.content.strip().startswith('x') }}
    {% endfor %}
{{ eos_token }}|{{ strftime_now('%Y')|length }}|{{ missing.attribute }}";
    let template =
        ChatTemplate::from_jinja(source, Some("<s>".into()), Some("</s>".into())).unwrap();
    let text = template
        .render(
            &[
                Message::user(" xy "),
                Message::assistant("yx"),
                Message::user("never"),
            ],
            false,
        )
        .unwrap()
        .text;
    // What Jinja2 renders (checked with Jinja2 3.1.6, `missing.attribute` aside: Jinja2 raises).
    assert_eq!(
        text,
        "        <s>USER:True\n        <s>ASSISTANT:False\n</s>|4|"
    );
}

#[test]
fn template_errors() {
    let msg = template_error(
        ChatTemplate::from_jinja(
            "{{ raise_exception('This model only talks to pirates.') }}",
            None,
            None,
        )
        .and_then(|t| t.render(&[Message::user("hi")], false)),
    );
    assert!(msg.contains("This model only talks to pirates."), "{msg}");

    let msg = template_error(ChatTemplate::from_jinja(
        "{% for m in messages %}\n{{ m.content }\n{% endfor %}",
        None,
        None,
    ));
    assert!(msg.contains("syntax error"), "{msg}");
    assert!(msg.contains("line 2"), "{msg}");

    let msg = template_error(ChatTemplate::chatml().render(&[Message::new(" ", "hi")], false));
    assert!(msg.contains("empty role"), "{msg}");
}

#[test]
fn shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ChatTemplate>();
    assert_send_sync::<TextTokenizer>();
}

/// A template that doubles a string in a loop (found by the fuzz suite, which replays it too)
/// runs out of fuel, not memory: minijinja charges fuel for every byte an operator produces, so
/// the template fuel ends it by about 32 MB of string.
#[test]
fn a_template_that_doubles_a_string_runs_out_of_fuel() {
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/fuzz/template/string-doubling.jinja"
    ))
    .unwrap();
    let before = peak_rss_kib();
    let msg = template_error(
        ChatTemplate::from_jinja(&source, None, None)
            .and_then(|t| t.render(&[Message::user("hi")], false)),
    );
    assert!(msg.contains("fuel"), "{msg}");
    let grown_mib = (peak_rss_kib() - before) / 1024;
    assert!(grown_mib < 512, "the peak grew by {grown_mib} MiB");
}

/// This process's peak resident memory (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}
