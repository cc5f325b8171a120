//! Synthetic models (`drift-script make-model`): the same bytes for the same seed, metadata
//! both our loader and llama.cpp read, weights at the stated scale, a model that loads and
//! generates, a Qwen3-shaped one that runs the paper's self-chat script to completion with
//! records, the quantized formats through llama.cpp's `llama-quantize` (when built), and what
//! each bad option produces. Tiny sizes: hidden 64, SmolLM2's 49,152-token vocabulary.

use candle_core::quantized::gguf_file;
use drift_script::model::{LocalModel, LocalOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("drift-script-synth-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn drift(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_drift-script"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `make-model ARGS -o dir/NAME`, which must succeed and print the path.
fn make_model(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let mut all = vec!["make-model"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", path.to_str().unwrap()]);
    let output = drift(&all, dir);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        path.to_str().unwrap()
    );
    path
}

fn sha256(path: &Path) -> String {
    drift_script::fetch::sha256_file(path).unwrap()
}

fn options() -> LocalOptions {
    LocalOptions {
        threads: 2,
        ..LocalOptions::default()
    }
}

#[test]
fn a_seed_gives_the_same_file_which_loads_and_generates() {
    let dir = TempDir::new("seeded");
    let a = make_model(&dir.0, "a.gguf", &["--preset", "tiny-llama", "--seed", "7"]);
    let b = make_model(&dir.0, "b.gguf", &["--preset", "tiny-llama", "--seed", "7"]);
    let other = make_model(&dir.0, "c.gguf", &["--preset", "tiny-llama", "--seed", "8"]);
    assert_eq!(sha256(&a), sha256(&b), "one seed, two different files");
    assert_ne!(sha256(&a), sha256(&other), "two seeds, one file");

    // The metadata llama.cpp needs for the family, and SmolLM2's tokenizer and template.
    let mut file = std::fs::File::open(&a).unwrap();
    let content = gguf_file::Content::read(&mut file).unwrap();
    let meta = &content.metadata;
    let u = |key: &str| meta[key].to_u32().unwrap();
    assert_eq!(meta["general.architecture"].to_string().unwrap(), "llama");
    assert_eq!(u("llama.embedding_length"), 64);
    assert_eq!(u("llama.block_count"), 2);
    assert_eq!(u("llama.attention.head_count"), 4);
    assert_eq!(u("llama.attention.head_count_kv"), 2);
    assert_eq!(u("llama.feed_forward_length"), 128);
    assert_eq!(u("llama.rope.dimension_count"), 16);
    assert_eq!(u("llama.vocab_size"), 49152);
    assert!(meta["llama.rope.freq_base"].to_f32().unwrap() > 0.0);
    assert_eq!(meta["tokenizer.ggml.tokens"].to_vec().unwrap().len(), 49152);
    assert!(
        meta["tokenizer.chat_template"]
            .to_string()
            .unwrap()
            .contains("<|im_start|>")
    );
    // Tied embeddings, as Llama 3.2 1B ships: no output.weight.
    assert!(content.tensor_infos.contains_key("token_embd.weight"));
    assert!(!content.tensor_infos.contains_key("output.weight"));
    assert_eq!(content.tensor_infos.len(), 1 + 2 * 9 + 1);

    // Matrices normal(0, 0.02), norms 1.
    let device = candle_core::Device::Cpu;
    let mut values = |name: &str| -> Vec<f32> {
        content
            .tensor(&mut file, name, &device)
            .unwrap()
            .dequantize(&device)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    };
    let q = values("blk.0.attn_q.weight");
    assert_eq!(q.len(), 64 * 64);
    let mean = q.iter().sum::<f32>() / q.len() as f32;
    let std = (q.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / q.len() as f32).sqrt();
    assert!(mean.abs() < 0.002, "mean {mean}");
    assert!((std - 0.02).abs() < 0.002, "std {std}");
    assert!(values("blk.1.ffn_norm.weight").iter().all(|&v| v == 1.0));

    // Our engine loads it and generates; the logits stay finite.
    let model = LocalModel::load_gguf(&a, &options()).unwrap();
    let config = &model.transformer().config;
    assert_eq!((config.hidden, config.layers, config.vocab), (64, 2, 49152));
    let tokens = model.greedy_tokens(&[1, 2, 3], 12).unwrap();
    assert_eq!(tokens.len(), 12);
    let logits = model.prompt_logits(&[5, 6, 7, 8], false).unwrap();
    assert!(logits.iter().all(|l| l.is_finite()));
    assert!(logits.iter().any(|&l| l != logits[0]), "constant logits");
}

#[test]
fn a_tiny_qwen3_runs_the_selfchat_script_to_completion() {
    let dir = TempDir::new("qwen3");
    let model = make_model(&dir.0, "qwen3.gguf", &["--preset", "tiny-qwen3"]);
    let mut file = std::fs::File::open(&model).unwrap();
    let content = gguf_file::Content::read(&mut file).unwrap();
    let meta = &content.metadata;
    assert_eq!(meta["general.architecture"].to_string().unwrap(), "qwen3");
    // Qwen3's heads are not hidden / heads wide.
    assert_eq!(meta["qwen3.attention.key_length"].to_u32().unwrap(), 32);
    assert!(
        content
            .tensor_infos
            .contains_key("blk.1.attn_k_norm.weight")
    );
    assert!(
        meta["tokenizer.chat_template"]
            .to_string()
            .unwrap()
            .contains("enable_thinking")
    );

    // The paper's script with the repository's personas, on the synthetic model.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let project = dir.0.join("project");
    for folder in ["scripts", "scripts/lib", "personas"] {
        std::fs::create_dir_all(project.join(folder)).unwrap();
        for entry in std::fs::read_dir(root.join(folder)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::copy(&path, project.join(folder).join(path.file_name().unwrap())).unwrap();
            }
        }
    }
    let output = drift(
        &[
            "scripts/selfchat.rhai",
            "--model",
            model.to_str().unwrap(),
            "--set",
            "pairs=1",
            "--set",
            "turns=2",
            "--set",
            "max_tokens=8",
            "--set",
            "runs=1",
            "--out",
            "out",
        ],
        &project,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let runs: Vec<PathBuf> = std::fs::read_dir(project.join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let records: Vec<serde_json::Value> = std::fs::read_to_string(runs[0].join("records.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        // The unit's completion marker (`_unit_done`) is not a record of the script's.
        .filter(|r| r.get("_unit_done").is_none())
        .collect();
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["turn", "probe"], "{records:?}");
    assert_eq!(records[0]["speaker"], "agent");
    assert!(records[1]["score"].is_number(), "{:?}", records[1]);
}

/// The cached llama.cpp build, if bench/build_llama_cpp.sh has made one (or
/// `$DRIFT_LLAMA_CPP_BIN`).
fn llama_cpp_bin() -> Option<PathBuf> {
    let dir = std::env::var_os("DRIFT_LLAMA_CPP_BIN")
        .map(PathBuf::from)
        .or_else(|| {
            let root = drift_script::fetch::home_dir().join("llama.cpp");
            let mut builds: Vec<PathBuf> = std::fs::read_dir(root)
                .ok()?
                .map(|e| e.unwrap().path().join("build/bin"))
                .collect();
            builds.sort();
            builds.pop()
        })?;
    dir.join("llama-quantize").is_file().then_some(dir)
}

#[test]
fn formats_come_from_llama_quantize() {
    let Some(bin) = llama_cpp_bin() else {
        eprintln!("skipped: llama-quantize is not built (bench/build_llama_cpp.sh)");
        return;
    };
    let dir = TempDir::new("quantize");
    let path = dir.0.join("tiny.f16.gguf");
    let output = drift(
        &[
            "make-model",
            "--preset",
            "tiny-llama",
            "-o",
            path.to_str().unwrap(),
            "--quantize",
            "q8_0,Q4_0",
            "--llama-cpp-bin",
            bin.to_str().unwrap(),
        ],
        &dir.0,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let printed: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let q8 = dir.0.join("tiny.q8_0.gguf");
    let q4 = dir.0.join("tiny.q4_0.gguf");
    assert_eq!(
        printed,
        [path.display(), q8.display(), q4.display()].map(|p| p.to_string())
    );
    for (file, ggml_type) in [(&q8, "Q8_0"), (&q4, "Q4_0")] {
        let mut f = std::fs::File::open(file).unwrap();
        let content = gguf_file::Content::read(&mut f).unwrap();
        let ty = format!(
            "{:?}",
            content.tensor_infos["blk.0.ffn_up.weight"].ggml_dtype
        );
        assert_eq!(ty.replace('_', ""), ggml_type.replace('_', ""));
        let model = LocalModel::load_gguf(file, &options()).unwrap();
        assert_eq!(model.greedy_tokens(&[1, 2, 3], 4).unwrap().len(), 4);
    }
}

#[test]
fn bad_options_are_refused_with_a_reason() {
    let dir = TempDir::new("bad");
    let cases: &[(&[&str], &str)] = &[
        (&[], "name a --preset"),
        (&["--preset", "llama-70b"], "unknown preset `llama-70b`"),
        (
            &["--arch", "llama", "--hidden", "64", "--heads", "4"],
            "--layers is required without --preset",
        ),
        (
            &["--preset", "tiny-llama", "--kv-heads", "3"],
            "--heads (4) must be a multiple of --kv-heads (3)",
        ),
        (
            &["--preset", "tiny-llama", "--hidden", "70"],
            "multiples of 32",
        ),
        (
            &["--preset", "tiny-llama", "--layers", "0"],
            "--layers must be at least 1",
        ),
        (
            &["--preset", "tiny-llama", "--quantize", "Q9_9"],
            "unknown format `Q9_9`",
        ),
        (
            &[
                "--preset",
                "tiny-llama",
                "--quantize",
                "Q4_0",
                "--llama-cpp-bin",
                "no-such-folder",
            ],
            "bench/build_llama_cpp.sh",
        ),
    ];
    for (args, expected) in cases {
        let out = dir.0.join("refused.gguf");
        let mut all = vec!["make-model"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", out.to_str().unwrap()]);
        let output = drift(&all, &dir.0);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
        // Nothing is written, not even a partial file.
        assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 0, "{args:?}");
    }
}

fn lines_starting(text: &str, prefix: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.trim_start().starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// `bench engine` and `bench batch` on a synthetic model, our side only: every figure line,
/// and the memory and weights lines measured in our own child process.
#[test]
fn bench_engine_and_batch_measure_our_side_in_a_child() {
    let dir = TempDir::new("bench");
    let model = make_model(&dir.0, "tiny.gguf", &["--preset", "tiny-llama"]);
    let common = [
        "--model",
        model.to_str().unwrap(),
        "--no-peer",
        "--repetitions",
        "1",
    ];
    let mut engine = vec![
        "bench",
        "engine",
        "--prompt-tokens",
        "16",
        "--decode-tokens",
        "4",
    ];
    engine.extend_from_slice(&common);
    let output = drift(&engine, &dir.0);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    for prefix in [
        "prompt  ours=",
        "decode  ours=",
        "memory  ours=",
        "weights ours=",
    ] {
        assert_eq!(lines_starting(&text, prefix).len(), 1, "{prefix}: {text}");
    }
    // The child's own peak: the tiny model's weights (6 MB) and the engine, far below 1 GB.
    let memory = &lines_starting(&text, "memory  ours=")[0];
    let mb: f64 = memory["memory  ours=".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(mb > 1.0 && mb < 1000.0, "{memory}");

    let mut batch = vec![
        "bench",
        "batch",
        "--batch-sizes",
        "1,3",
        "--batch-prompt",
        "8",
        "--batch-decode",
        "4",
    ];
    batch.extend_from_slice(&common);
    let output = drift(&batch, &dir.0);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(lines_starting(&text, "batch 1 ").len(), 1, "{text}");
    assert_eq!(lines_starting(&text, "batch 3 ").len(), 1, "{text}");
    assert_eq!(lines_starting(&text, "memory  ours=").len(), 1, "{text}");

    // Bad sizes are refused before anything runs.
    let mut bad = vec!["bench", "batch", "--batch-sizes", "0"];
    bad.extend_from_slice(&common);
    let output = drift(&bad, &dir.0);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("--batch-sizes must list sequence counts of at least 1"),
        "{}",
        stderr(&output)
    );
    let output = drift(&["bench", "scale", "--sizes", "7b", "--no-peer"], &dir.0);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("unknown size `7b`"),
        "{}",
        stderr(&output)
    );
}

/// `bench scale` end to end against llama.cpp on the tiny preset (when llama.cpp is built):
/// the per-model lines and one table row with every cell measured on both sides.
#[test]
fn bench_scale_prints_one_row_per_model_and_format() {
    let Some(bin) = llama_cpp_bin() else {
        eprintln!("skipped: llama.cpp is not built (bench/build_llama_cpp.sh)");
        return;
    };
    let dir = TempDir::new("scale");
    let output = Command::new(env!("CARGO_BIN_EXE_drift-script"))
        .args([
            "bench",
            "scale",
            "--sizes",
            "tiny-llama",
            "--formats",
            "q8_0",
            "--prompt-tokens",
            "16",
            "--decode-tokens",
            "4",
            "--batch-prompt",
            "8",
            "--batch-decode",
            "4",
            "--repetitions",
            "1",
            "--decode-pairs",
            "2",
            "--llama-cpp-bin",
            bin.to_str().unwrap(),
        ])
        .current_dir(&dir.0)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(
        lines_starting(&text, "read bandwidth  1 thread=").len(),
        1,
        "{text}"
    );
    for prefix in [
        "prompt ",
        "decode    ",
        "decode pairs    ratio=",
        "decode 1 thread",
        "batch 8",
        "memory ",
        "weights ",
    ] {
        assert_eq!(lines_starting(&text, prefix).len(), 1, "{prefix}: {text}");
    }
    // Each side's own peak: the tiny model takes a few MB, and neither child may carry the
    // benchmark's 1 GiB bandwidth probe (children started with posix_spawn reported ≥ 1081 MB).
    let memory = &lines_starting(&text, "memory ")[0];
    let figure = |side: &str| -> f64 {
        let at = memory.find(&format!("{side}=")).unwrap() + side.len() + 1;
        memory[at..].split(' ').next().unwrap().parse().unwrap()
    };
    for side in ["ours", "llama.cpp"] {
        assert!(
            figure(side) > 1.0 && figure(side) < 500.0,
            "{side}: {memory}"
        );
    }
    let rows = lines_starting(&text, "| tiny-llama | Q8_0 |");
    assert_eq!(rows.len(), 1, "{text}");
    // Every cell that compares has a finite ratio.
    let ratios = rows[0].matches(" (").count();
    assert!(ratios >= 6, "{}", rows[0]);
    assert!(
        !rows[0].contains("NaN") && !rows[0].contains("inf"),
        "{}",
        rows[0]
    );
}

/// `--chat-template-kwargs '{"enable_thinking": false}'` reaches Qwen3's own template, in
/// `chat` and in a script run: the prompt gains the empty think block that non-thinking mode
/// writes after the assistant header, and the run records the variables in `run.json` and its
/// folder name. Values that are not a JSON object, and the variables the renderer sets itself,
/// are refused with what was expected.
#[test]
fn chat_template_kwargs_turn_qwen3_thinking_off() {
    let dir = TempDir::new("kwargs");
    let model = make_model(&dir.0, "qwen3.gguf", &["--preset", "tiny-qwen3"]);
    let model = model.to_str().unwrap();
    let chat = |extra: &[&str]| {
        let mut args = vec![
            "chat",
            "hi",
            "--model",
            model,
            "--json",
            "--max-tokens",
            "2",
            "--temperature",
            "0",
            "--threads",
            "1",
        ];
        args.extend_from_slice(extra);
        drift(&args, &dir.0)
    };
    let prompt_tokens = |output: &Output| -> u64 {
        assert!(output.status.success(), "{}", stderr(output));
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        json["prompt_tokens"].as_u64().unwrap()
    };
    let thinking = prompt_tokens(&chat(&[]));
    let plain = prompt_tokens(&chat(&[
        "--chat-template-kwargs",
        r#"{"enable_thinking": false}"#,
    ]));
    // `<think>\n\n</think>\n\n` in SmolLM2's tokenizer.
    assert!(plain > thinking, "{plain} vs {thinking}");

    for (value, expected) in [
        ("[1]", "expected a JSON object such as"),
        ("{", "not JSON"),
        (r#"{"messages": []}"#, "may not set `messages`"),
    ] {
        let output = chat(&["--chat-template-kwargs", value]);
        assert!(!output.status.success());
        assert!(
            stderr(&output).contains(expected),
            "{value}: {}",
            stderr(&output)
        );
    }

    // A run: the variables are in run.json and in the folder's identity.
    std::fs::write(
        dir.0.join("hi.rhai"),
        "let m = model();\nrecord(#{answer: m.chat([#{role: \"user\", content: \"hi\"}], #{max_tokens: 2})});\n",
    )
    .unwrap();
    let folders = || -> Vec<PathBuf> {
        let mut all: Vec<PathBuf> = std::fs::read_dir(dir.0.join("out"))
            .map(|entries| entries.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        all.sort();
        all
    };
    // Runs a script and returns the run folder it made.
    let run = |script: &str, extra: &[&str]| -> PathBuf {
        let before = folders();
        let mut args = vec![script, "--model", model, "--threads", "1", "--out", "out"];
        args.extend_from_slice(extra);
        let output = drift(&args, &dir.0);
        assert!(output.status.success(), "{}", stderr(&output));
        let made: Vec<PathBuf> = folders()
            .into_iter()
            .filter(|f| !before.contains(f))
            .collect();
        assert_eq!(made.len(), 1, "{made:?}");
        made[0].clone()
    };
    let with = run(
        "hi.rhai",
        &["--chat-template-kwargs", r#"{"enable_thinking": false}"#],
    );
    let without = run("hi.rhai", &[]);
    let run_json = |folder: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(folder.join("run.json")).unwrap()).unwrap()
    };
    assert_eq!(
        run_json(&with)["chat_template_kwargs"],
        serde_json::json!({"enable_thinking": false})
    );
    assert!(run_json(&without).get("chat_template_kwargs").is_none());

    // Per model in a script: two models of one file, with and without the variable, side by
    // side; the records name the variables of the model that answered.
    std::fs::write(
        dir.0.join("two.rhai"),
        r#"let msgs = [#{role: "user", content: "hi"}];
let thinking = model();
let plain = model(MODEL, #{chat_template_kwargs: #{enable_thinking: false}});
record(#{thinking: thinking.count_tokens(msgs), plain: plain.count_tokens(msgs),
         kwargs: info(plain).chat_template_kwargs, none: "chat_template_kwargs" in info(thinking),
         answer: plain.chat(msgs, #{max_tokens: 2})});
"#,
    )
    .unwrap();
    let two = run("two.rhai", &[]);
    let records = std::fs::read_to_string(two.join("records.jsonl")).unwrap();
    let record: serde_json::Value = serde_json::from_str(records.lines().next().unwrap()).unwrap();
    assert!(
        record["plain"].as_u64() > record["thinking"].as_u64(),
        "{record}"
    );
    assert_eq!(
        record["kwargs"],
        serde_json::json!({"enable_thinking": false})
    );
    assert_eq!(record["none"], false);
    assert_eq!(
        record["_meta"]["model"]["chat_template_kwargs"],
        serde_json::json!({"enable_thinking": false}),
        "{record}"
    );
    // Bad options name what was expected.
    for (options, expected) in [
        (
            "#{chat_template_kwargs: #{messages: []}}",
            "`messages` is set by the renderer",
        ),
        (
            "#{chat_template_kwargs: true}",
            "chat_template_kwargs must be a map, got bool",
        ),
        ("#{template: #{}}", "unknown option `template`"),
    ] {
        std::fs::write(
            dir.0.join("bad.rhai"),
            format!("model(MODEL, {options});\n"),
        )
        .unwrap();
        let output = drift(&["bad.rhai", "--model", model, "--out", "out"], &dir.0);
        assert!(!output.status.success());
        assert!(
            stderr(&output).contains(expected),
            "{options}: {}",
            stderr(&output)
        );
    }
}
