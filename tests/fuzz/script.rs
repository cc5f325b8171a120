//! Rhai scripts through the host (`ScriptHost::eval`, the REPL's path, with the run's
//! sandbox and limits): programs generated from a grammar whose calls are the host's own
//! functions, read from the engine's signatures, with arguments of the declared types (and
//! sometimes not), plus hostile statements (runaway loops, string and array doubling, deep
//! recursion, path escapes, huge literals). Tight limits; no model is loaded (the `openai:`
//! model points at a closed port). Each program must end with a value or a clear error.

use crate::gguf::scratch_dir;
use crate::harness::{self, Pick, Target, Verdict, interesting_u64};
use drift_script::model::HttpOptions;
use drift_script::script::limits::Limits;
use drift_script::script::{HostConfig, ScriptHost};
use rand_chacha::ChaCha8Rng;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

fn limits() -> Limits {
    Limits {
        max_string_size: 1 << 20,
        max_array_size: 10_000,
        max_map_size: 10_000,
        max_call_depth: 32,
        max_expr_depth: 32,
        max_memory_mb: 4096,
        max_operations: 200_000,
    }
}

fn host(dir: &std::path::Path) -> Result<ScriptHost, String> {
    let config = HostConfig {
        project_dir: dir.to_path_buf(),
        out_root: dir.join("out"),
        model_spec: "openai:none".into(),
        limits: limits(),
        threads: Some(1),
        http: HttpOptions {
            api_base: "http://127.0.0.1:9/v1".into(),
            api_key_env: "DRIFT_FUZZ_NO_SUCH_KEY".into(),
            timeout: Duration::from_secs(1),
            max_retries: 0,
            log: Arc::new(|_| {}),
            ..HttpOptions::default()
        },
        ..HostConfig::default()
    };
    ScriptHost::new(config).map_err(|e| e.to_string())
}

/// (name, parameter types) of the host's functions, from the engine's signatures; those that
/// load the default model are left out (seconds each, and tested elsewhere).
fn functions() -> &'static Vec<(String, Vec<String>)> {
    static FUNCTIONS: OnceLock<Vec<(String, Vec<String>)>> = OnceLock::new();
    FUNCTIONS.get_or_init(|| {
        let dir = scratch_dir();
        let host = host(&dir).unwrap();
        let mut list: Vec<(String, Vec<String>)> = host
            .engine()
            .gen_fn_signatures(false)
            .iter()
            .filter_map(|sig| {
                let (name, rest) = sig.split_once('(')?;
                let params = rest.rsplit_once(')')?.0;
                let types = params
                    .split(", ")
                    .filter(|p| !p.is_empty())
                    .map(|p| p.rsplit(": ").next().unwrap_or("?").to_string())
                    .collect();
                Some((name.trim().to_string(), types))
            })
            .filter(|(name, _)| {
                name.chars().all(|c| c.is_alphanumeric() || c == '_')
                    && !["model", "exit", "sleep"].contains(&name.as_str())
            })
            .collect();
        list.sort();
        list.dedup();
        let _ = std::fs::remove_dir_all(&dir);
        list
    })
}

fn literal(rng: &mut ChaCha8Rng, kind: &str) -> String {
    let any = rng.chance(100);
    let kind = if any {
        *rng.pick(&["&str", "i64", "f64", "bool", "Array", "Map", "()"])
    } else {
        kind
    };
    match kind {
        k if k.contains("str") || k.contains("String") => {
            let text = harness::random_text(rng, 30)
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\0', "");
            match rng.below(6) {
                0 => format!(
                    "\"{}\"",
                    rng.pick(&[
                        "../../etc/passwd",
                        "/etc/hostname",
                        "out/x.png",
                        "a.rhai",
                        "",
                        "records.jsonl"
                    ])
                ),
                _ => format!("\"{text}\""),
            }
        }
        "i64" | "INT" | "int" | "usize" | "u64" | "i32" => {
            let v = interesting_u64(rng) as i64;
            if v == i64::MIN {
                "0".into()
            } else {
                format!("{v}")
            }
        }
        "f64" | "FLOAT" | "float" => rng
            .pick(&["0.0", "1.5", "-2.0", "1e308", "1e-308"])
            .to_string(),
        "bool" => rng.pick(&["true", "false"]).to_string(),
        "Array" => format!("[{}, {}]", literal(rng, "i64"), literal(rng, "&str")),
        "Map" => format!(
            "#{{a: {}, text: {}}}",
            literal(rng, "f64"),
            literal(rng, "&str")
        ),
        _ => match rng.below(4) {
            0 => literal(rng, "&str"),
            1 => literal(rng, "i64"),
            2 => literal(rng, "Array"),
            _ => "()".into(),
        },
    }
}

fn call(rng: &mut ChaCha8Rng) -> String {
    let (name, types) = rng.pick(functions());
    let args: Vec<String> = types.iter().map(|t| literal(rng, t)).collect();
    format!("{name}({})", args.join(", "))
}

const HOSTILE: &[&str] = &[
    "loop { }",
    "let s = \"ab\"; loop { s += s; }",
    "let a = [1]; loop { a += a; }",
    "let a = []; loop { a.push(a); }",
    "let m = #{}; let i = 0; loop { m[`k${i}`] = i; i += 1; }",
    "fn f(n) { f(n + 1) } f(0);",
    "fn g(n) { if n > 0 { g(n - 1) + g(n - 1) } else { 1 } } g(40);",
    "let x = ((((((((((((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))))))))))));",
    "import \"../outside\" as o;",
    "import \"/etc/passwd\" as p;",
    "eval(\"1 + 1\");",
    "let s = \"x\"; for i in 0..30 { s = s + s; } s.len()",
];

fn generate(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut code = String::new();
    for i in 0..1 + rng.below(5) {
        match rng.below(10) {
            0 => code.push_str(HOSTILE[rng.below(HOSTILE.len())]),
            1 => code.push_str(&format!("let v{i} = {};", call(rng))),
            2 => code.push_str(&format!("try {{ {}; }} catch (e) {{ e; }}", call(rng))),
            3 => code.push_str(&format!(
                "for i in 0..{} {{ {}; }}",
                rng.below(50),
                call(rng)
            )),
            _ => code.push_str(&format!("{};", call(rng))),
        }
        code.push('\n');
    }
    code.into_bytes()
}

fn check(input: &[u8]) -> Verdict {
    let dir = scratch_dir();
    let mut host = host(&dir).map_err(|e| format!("host setup: {e}"))?;
    let result = host.eval(&String::from_utf8_lossy(input));
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Err(e) if e.to_string().trim().is_empty() => Err("a script error without a message".into()),
        _ => Ok(()),
    }
}

#[test]
fn the_grammar_knows_the_hosts_functions() {
    let names: Vec<&str> = functions().iter().map(|(n, _)| n.as_str()).collect();
    for expected in ["record", "mean", "persona"] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
}

#[test]
fn script() {
    harness::fuzz(
        Target {
            name: "script",
            extension: "rhai",
            cases: 400,
        },
        generate,
        check,
    );
}
