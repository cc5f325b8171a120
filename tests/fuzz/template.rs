//! Chat templates: Jinja from a small grammar of what chat templates do (loops over the
//! messages, conditions on roles, `namespace` counters, macros, filters, `raise_exception`,
//! `strftime_now`) plus hostile pieces (nested `range` loops, self-recursive macros, string
//! growth, deep nesting), and the real SmolLM2 template cut and spliced. Each is compiled with
//! `ChatTemplate::from_jinja` and rendered over random conversations: a text or a clear error,
//! in bounded time and memory.

use crate::harness::{self, Pick, Target, Verdict};
use drift_script::model::Message;
use drift_script::model::local::template::ChatTemplate;
use rand_chacha::ChaCha8Rng;

fn expression(rng: &mut ChaCha8Rng, depth: usize) -> String {
    let leaf = [
        "message['content']",
        "message.role",
        "messages|length",
        "loop.index",
        "bos_token",
        "eos_token",
        "ns.text",
        "ns.count",
        "'<|im_start|>'",
        "'x'",
        "42",
        "none",
        "true",
        "messages[0]['content']",
        "messages[-1].role",
        "add_generation_prompt",
        "undefined_name",
        "message.tool_calls",
    ];
    if depth == 0 || rng.chance(400) {
        return rng.pick(&leaf).to_string();
    }
    let a = expression(rng, depth - 1);
    let b = expression(rng, depth - 1);
    match rng.below(14) {
        0 => format!("{a} ~ {b}"),
        1 => format!("{a} + {b}"),
        2 => format!("({a}) * {}", rng.pick(&["2", "1000", "100000", "-1", "a"])),
        3 => format!(
            "{a}|{}",
            rng.pick(&[
                "upper",
                "trim",
                "tojson",
                "length",
                "string",
                "list",
                "reverse",
                "first",
                "last",
                "int",
                "default('d')",
                "replace('a', 'bb')",
                "join(',')",
                "safe",
                "escape",
                "indent(4)"
            ])
        ),
        4 => format!("{a} if {b} else 'no'"),
        5 => format!("{a} == {b}"),
        6 => format!("{a}[{b}]"),
        7 => format!(
            "{a}.{}()",
            rng.pick(&[
                "strip",
                "split",
                "startswith('<')",
                "endswith('>')",
                "lower",
                "title",
                "items",
                "keys"
            ])
        ),
        8 => format!(
            "range({})|list",
            rng.pick(&["3", "100000", "-5", "1000000000", "a"])
        ),
        9 => format!(
            "strftime_now('{}')",
            rng.pick(&["%Y-%m-%d", "%d %B %Y", "%", "%%%", "%Q", "%-d"])
        ),
        10 => format!("raise_exception({a})"),
        11 => format!("rec({})", rng.below(4)),
        12 => format!("[{a}, {b}]"),
        _ => format!("{{'k': {a}}}"),
    }
}

fn statements(rng: &mut ChaCha8Rng, depth: usize, out: &mut String) {
    for _ in 0..1 + rng.below(3) {
        match rng.below(if depth == 0 { 2 } else { 9 }) {
            0 => out.push_str(&format!("{{{{ {} }}}}", expression(rng, 2))),
            1 => out.push_str(&format!("{{% set ns.text = {} %}}", expression(rng, 2))),
            2 => {
                out.push_str("{% for message in messages %}");
                statements(rng, depth - 1, out);
                out.push_str("{% endfor %}");
            }
            3 => {
                out.push_str(&format!("{{% if {} %}}", expression(rng, 1)));
                statements(rng, depth - 1, out);
                out.push_str("{% else %}");
                statements(rng, depth - 1, out);
                out.push_str("{% endif %}");
            }
            4 => {
                let n = rng.pick(&["10", "1000", "100000"]);
                out.push_str(&format!("{{% for i in range({n}) %}}"));
                statements(rng, depth - 1, out);
                out.push_str("{% endfor %}");
            }
            // Growth by one piece per step, or doubling (minijinja charges fuel per byte an
            // operator produces, so either ends on fuel).
            5 => {
                let grown = rng.pick(&["ns.text ~ 'ab'", "ns.text ~ ns.text"]);
                out.push_str(&format!(
                    "{{% set ns.text = {grown} %}}{{% set ns.count = ns.count + 1 %}}"
                ));
            }
            6 => out.push_str("{% set ns.list = ns.list + [ns.count] %}"),
            7 => {
                out.push_str("{% for message in messages %}{% if loop.first and message.role == 'system' %}{{ '<|im_start|>system\n' ~ message['content'] ~ '<|im_end|>\n' }}{% else %}{{ '<|im_start|>' ~ message['role'] ~ '\n' ~ message['content'] ~ '<|im_end|>\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
            }
            _ => {
                out.push_str("{% filter upper %}");
                statements(rng, depth - 1, out);
                out.push_str("{% endfilter %}");
            }
        }
    }
}

const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

fn generate(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut source = String::new();
    if rng.chance(300) {
        source.push_str(SMOLLM2);
        let mut bytes = source.into_bytes();
        for _ in 0..1 + rng.below(3) {
            harness::mutate_bytes(rng, &mut bytes);
        }
        return bytes;
    }
    source.push_str("{% set ns = namespace(text='ab', count=0, list=[1]) %}");
    if rng.chance(300) {
        source.push_str(
            "{% macro rec(n) %}{{ n }}{% if n < 100000 %}{{ rec(n + 1) }}{{ rec(n + 1) }}{% endif %}{% endmacro %}",
        );
    } else {
        source.push_str("{% macro rec(n) %}{{ n }}{% endmacro %}");
    }
    if rng.chance(50) {
        // Deep nesting of parentheses and blocks.
        let depth = 50 + rng.below(5000);
        source.push_str(&format!(
            "{{{{ {}1{} }}}}",
            "(".repeat(depth),
            ")".repeat(depth)
        ));
    }
    statements(rng, 4, &mut source);
    source.into_bytes()
}

fn messages(rng: &mut ChaCha8Rng) -> Vec<Message> {
    let mut list = Vec::new();
    if rng.chance(500) {
        list.push(Message::system(harness::random_text(rng, 40)));
    }
    for i in 0..rng.below(5) {
        let text = harness::random_text(rng, 60);
        list.push(if i % 2 == 0 {
            Message::user(text)
        } else {
            Message::assistant(text)
        });
    }
    list
}

fn check(input: &[u8]) -> Verdict {
    let source = String::from_utf8_lossy(input);
    let Ok(template) =
        ChatTemplate::from_jinja(&source, Some("<s>".to_string()), Some("</s>".to_string()))
    else {
        return Ok(());
    };
    // The conversation comes from the input too, so a saved input replays the same case.
    let mut rng = harness::case_rng(0, "template-messages", input.len() as u64);
    for _ in 0..3 {
        let _ = template.render(&messages(&mut rng), rng.chance(500));
    }
    Ok(())
}

#[test]
fn the_smollm2_template_renders() {
    let template = ChatTemplate::from_jinja(SMOLLM2, None, None).unwrap();
    let text = template.render(&[Message::user("hi")], true).unwrap().text;
    assert!(text.ends_with("<|im_start|>assistant\n"), "{text}");
    // The fuel bound leaves room for conversations far longer than the paper's.
    let long: Vec<Message> = (0..1000)
        .map(|i| match i % 2 {
            0 => Message::user(format!("question {i}")),
            _ => Message::assistant(format!("answer {i}")),
        })
        .collect();
    template.render(&long, true).expect("1,000 messages render");
}

#[test]
fn template() {
    harness::fuzz(
        Target {
            name: "template",
            extension: "jinja",
            cases: 400,
        },
        generate,
        check,
    );
}
