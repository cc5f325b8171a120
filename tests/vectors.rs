//! Vectors for persona directions (issue 23 item 2): every operation against values worked out
//! by hand, PCA on a planted direction, safetensors files and the model check, `auroc`, and
//! the script functions with their errors.

use drift_script::vectors::{
    Vector, check_model, contrast, load_vectors, mean_of, pca, save_vectors,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn v(x: &[f32]) -> Vector {
    Vector::new(x.to_vec())
}

fn bits(v: &Vector) -> Vec<u32> {
    v.as_slice().iter().map(|x| x.to_bits()).collect()
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("drift-vectors-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn arithmetic_matches_hand_computed_values() {
    let a = v(&[1.0, 2.0, 3.0]);
    let b = v(&[4.0, -5.0, 6.0]);
    assert_eq!(a.add(&b).unwrap().as_slice(), [5.0, -3.0, 9.0]);
    assert_eq!(a.sub(&b).unwrap().as_slice(), [-3.0, 7.0, -3.0]);
    assert_eq!(a.scale(-0.5).as_slice(), [-0.5, -1.0, -1.5]);
    assert_eq!(a.dot(&b).unwrap(), 12.0); // 4 − 10 + 18
    assert_eq!(a.norm(), 14f64.sqrt());
    assert_eq!(a.cos(&b).unwrap(), 12.0 / (14f64.sqrt() * 77f64.sqrt()));
    assert_eq!(v(&[3.0, 4.0]).normalize().unwrap().as_slice(), [0.6, 0.8]);
    assert_eq!(v(&[3.0, 4.0]).norm(), 5.0);
    // ⟨(1, 1), (3, 4)/5⟩ = 7/5; the axis's length does not matter.
    assert_eq!(v(&[1.0, 1.0]).project(&v(&[3.0, 4.0])).unwrap(), 1.4);
    assert_eq!(v(&[3.0, 4.0]).project(&v(&[0.0, 2.0])).unwrap(), 4.0);
    let list = [v(&[1.0, 2.0]), v(&[3.0, 6.0])];
    assert_eq!(mean_of(&list).unwrap().as_slice(), [2.0, 4.0]);
    assert_eq!(
        contrast(&list, &[v(&[0.0, 1.0]), v(&[2.0, 1.0])])
            .unwrap()
            .as_slice(),
        [1.0, 3.0]
    );
    let back = v(&[0.1, -7.25]);
    assert_eq!(Vector::new(back.clone().into_vec()), back);
    assert_eq!(back.len(), 2);
}

#[test]
fn bad_arguments_are_errors_that_say_what_is_wrong() {
    let a = v(&[1.0, 2.0, 3.0]);
    let short = v(&[1.0, 2.0]);
    let zero = v(&[0.0, 0.0]);
    let text = |e: drift_script::vectors::VectorError| e.to_string();
    assert_eq!(
        text(a.dot(&short).unwrap_err()),
        "dot: lengths differ (3 and 2)"
    );
    assert_eq!(
        text(a.add(&short).unwrap_err()),
        "a + b: lengths differ (3 and 2)"
    );
    assert_eq!(
        text(zero.normalize().unwrap_err()),
        "normalize: the vector is a zero vector, which has no direction"
    );
    assert_eq!(
        text(short.project(&zero).unwrap_err()),
        "project: the axis is a zero vector, which has no direction"
    );
    assert_eq!(
        text(short.cos(&zero).unwrap_err()),
        "cos: the second vector is a zero vector, which has no direction"
    );
    assert_eq!(
        text(mean_of(&[]).unwrap_err()),
        "mean_of: the list is empty"
    );
    assert_eq!(
        text(mean_of(&[a.clone(), short.clone()]).unwrap_err()),
        "mean_of: lengths differ (3 and 2)"
    );
    assert_eq!(
        text(contrast(std::slice::from_ref(&a), std::slice::from_ref(&short)).unwrap_err()),
        "contrast: lengths differ (3 and 2)"
    );
    let three = [v(&[1.0, 0.0]), v(&[0.0, 1.0]), v(&[1.0, 1.0])];
    for k in [0, 3] {
        assert_eq!(
            text(pca(&three, k).unwrap_err()),
            format!("pca: k = {k} is out of range: 3 vectors of length 2 give 1 to 2 components")
        );
    }
    // Points on one line vary along one direction only.
    let line = [v(&[1.0, 1.0]), v(&[2.0, 2.0]), v(&[3.0, 3.0])];
    assert_eq!(
        text(pca(&line, 2).unwrap_err()),
        "pca: the vectors vary along only 1 direction(s), fewer than k = 2"
    );
}

#[test]
fn pca_of_a_hand_made_cloud() {
    // Centred at the origin; variance 8 along x and 2 along y: ratios 0.8 and 0.2.
    let points = [
        v(&[2.0, 0.0]),
        v(&[-2.0, 0.0]),
        v(&[0.0, 1.0]),
        v(&[0.0, -1.0]),
    ];
    let p = pca(&points, 2).unwrap();
    assert_eq!(p.mean.as_slice(), [0.0, 0.0]);
    assert_eq!(p.components[0].as_slice(), [1.0, 0.0]);
    assert_eq!(p.components[1].as_slice(), [0.0, 1.0]);
    assert!((p.explained[0] - 0.8).abs() < 1e-12, "{:?}", p.explained);
    assert!((p.explained[1] - 0.2).abs() < 1e-12, "{:?}", p.explained);
}

/// A fixed pseudo-random stream in [−1, 1) (no dependency on a generator's version).
fn noise(state: &mut u64) -> f32 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

#[test]
fn pca_recovers_a_planted_direction_with_the_same_bits_every_time() {
    let d = 576;
    let mut state = 7u64;
    // The planted axis, with its largest coordinate negative so that the sign rule shows.
    let mut axis: Vec<f32> = (0..d).map(|_| noise(&mut state)).collect();
    axis[17] = -3.0;
    let axis = v(&axis).normalize().unwrap();
    let offset: Vec<f32> = (0..d).map(|_| 5.0 * noise(&mut state)).collect();
    let points: Vec<Vector> = (0..60)
        .map(|i| {
            let t = (i as f64 - 29.5) * 0.5; // spread along the axis
            let x: Vec<f32> = (0..d)
                .map(|j| {
                    offset[j] + (t * axis.as_slice()[j] as f64) as f32 + 0.01 * noise(&mut state)
                })
                .collect();
            v(&x)
        })
        .collect();
    let p = pca(&points, 3).unwrap();
    let pc1 = &p.components[0];
    assert!((pc1.norm() - 1.0).abs() < 1e-6);
    // Up to the sign convention: the planted axis has its largest coordinate negative, so PC1
    // is −axis, whose largest coordinate (17) is positive.
    let cos = pc1.cos(&axis).unwrap();
    assert!(cos < -0.9999, "cos(PC1, axis) = {cos}");
    assert!(pc1.as_slice()[17] > 0.0);
    assert!(p.explained[0] > 0.999, "{:?}", p.explained);
    assert!(p.explained.iter().sum::<f64>() <= 1.0 + 1e-12);
    assert!(p.explained[1] <= p.explained[0] && p.explained[2] <= p.explained[1]);
    // Components are orthonormal.
    for i in 0..3 {
        for j in 0..i {
            let dot = p.components[i].dot(&p.components[j]).unwrap();
            assert!(dot.abs() < 1e-5, "⟨PC{i}, PC{j}⟩ = {dot}");
        }
    }
    let again = pca(&points, 3).unwrap();
    for (a, b) in p.components.iter().zip(&again.components) {
        assert_eq!(bits(a), bits(b));
    }
    assert_eq!(bits(&p.mean), bits(&again.mean));
    assert_eq!(
        p.explained.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        again
            .explained
            .iter()
            .map(|x| x.to_bits())
            .collect::<Vec<_>>()
    );
}

fn metadata(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn files_round_trip_bits_and_metadata() {
    let dir = temp("round-trip");
    let path = dir.join("axis.safetensors");
    let entries: BTreeMap<String, Vector> = [
        ("axis".to_string(), v(&[0.1, -1e-30, f32::MAX, 3.5])),
        (
            "pirate".to_string(),
            v(&[-0.0, 1.0 / 3.0, 7.0, f32::MIN_POSITIVE]),
        ),
    ]
    .into_iter()
    .collect();
    let meta = metadata(&[
        ("model", "smollm2"),
        ("model_sha256", "abc123"),
        ("layer", "10"),
        ("made_by", "mean(default) − mean(roles), 50 roles"),
    ]);
    save_vectors(&path, &entries, &meta).unwrap();
    let file = load_vectors(&path).unwrap();
    assert_eq!(file.vectors.len(), 2);
    for (name, vector) in &entries {
        assert_eq!(bits(&file.vectors[name]), bits(vector), "{name}");
    }
    let mut expected = meta.clone();
    expected.insert("hidden_size".into(), "4".into());
    expected.insert(
        "tool".into(),
        format!("drift-script {}", env!("CARGO_PKG_VERSION")),
    );
    assert_eq!(file.metadata, expected);
    // Nothing but the file: the temporary file was renamed.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["axis.safetensors"]);
    check_model(&file.metadata, 4, "abc123").unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn files_for_another_model_are_refused_naming_both_sides() {
    let meta = metadata(&[
        ("model", "smollm2"),
        ("model_sha256", "aaa"),
        ("hidden_size", "576"),
    ]);
    assert_eq!(
        check_model(&meta, 960, "aaa").unwrap_err().to_string(),
        "these vectors were made for model `smollm2` with hidden size 576, but this model's \
         hidden size is 960"
    );
    assert_eq!(
        check_model(&meta, 576, "bbb").unwrap_err().to_string(),
        "these vectors were made for model `smollm2` with sha256 aaa, but this model's sha256 \
         is bbb"
    );
    assert_eq!(
        check_model(&meta, 0, "aaa").unwrap_err().to_string(),
        "these vectors were made for model `smollm2` (hidden size 576); this model's hidden \
         size is unknown (an HTTP backend), so they cannot be checked or used with it"
    );
    let unnamed = metadata(&[("hidden_size", "576")]);
    assert_eq!(
        check_model(&unnamed, 576, "bbb").unwrap_err().to_string(),
        "these vectors were made for an unnamed model with sha256 none, but this model's \
         sha256 is bbb"
    );
    check_model(&unnamed, 576, "").unwrap();
}

#[test]
fn bad_files_and_entries_are_refused_and_write_nothing() {
    let dir = temp("bad-files");
    let path = dir.join("x.safetensors");
    let two_lengths: BTreeMap<String, Vector> = [
        ("a".to_string(), v(&[1.0, 2.0])),
        ("b".to_string(), v(&[1.0])),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        save_vectors(&path, &two_lengths, &BTreeMap::new())
            .unwrap_err()
            .to_string(),
        "save_vectors: vectors in one file must have one length: `a` has 2, `b` 1"
    );
    assert_eq!(
        save_vectors(&path, &BTreeMap::new(), &BTreeMap::new())
            .unwrap_err()
            .to_string(),
        "save_vectors: no vectors to save"
    );
    let one: BTreeMap<String, Vector> = [("a".to_string(), v(&[1.0, 2.0]))].into();
    assert_eq!(
        save_vectors(&path, &one, &metadata(&[("hidden_size", "3")]))
            .unwrap_err()
            .to_string(),
        "save_vectors: metadata says hidden_size 3, but the vectors have length 2"
    );
    assert!(!path.exists());
    std::fs::write(&path, b"not safetensors").unwrap();
    let err = load_vectors(&path).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}: not a safetensors file", path.display())),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn auroc_on_a_hand_made_case() {
    use drift_script::stats::auroc;
    // 0.9, 0.8 and 0.7 beat all three negatives (9 pairs); 0.5 beats 0.1 and ties 0.5 (1.5):
    // 10.5 of 12 pairs.
    assert_eq!(auroc(&[0.9, 0.8, 0.7, 0.5], &[0.6, 0.5, 0.1]), Some(0.875));
    assert_eq!(auroc(&[1.0, 2.0], &[3.0, 4.0]), Some(0.0));
    assert_eq!(auroc(&[1.0], &[1.0]), Some(0.5));
    assert_eq!(auroc(&[f64::NAN, 2.0], &[1.0]), Some(1.0));
    assert_eq!(auroc(&[], &[1.0]), None);
}

// ---------------------------------------------------------------------------------------------
// The script functions, through the binary.

struct Project {
    dir: PathBuf,
}

impl Project {
    fn new(name: &str) -> Self {
        Project {
            dir: temp(&format!("script-{name}")),
        }
    }

    fn run(&self, name: &str, script: &str) -> Output {
        std::fs::write(self.dir.join(name), script).unwrap();
        Command::new(env!("CARGO_BIN_EXE_drift-script"))
            .args([name, "--out", "out"])
            .current_dir(&self.dir)
            .output()
            .unwrap()
    }

    fn out(&self) -> PathBuf {
        self.dir.join("out")
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

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                found.extend(files_under(&path));
            } else {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn scripts_compute_record_save_and_load_vectors() {
    let p = Project::new("ok");
    let o = p.run(
        "vec.rhai",
        r#"
let a = vector([1, 2.5, -3]);
let b = vector([0.5, 0.5, 0.5]);
print(a);
print(`${vector([1, 2, 3, 4, 5])}`);
record(#{
    v: a,
    sum: (a + b).to_array(),
    diff: (a - b).to_array(),
    scaled: (2 * a).to_array(),
    scaled2: (a * 2.0).to_array(),
    halved: (a / 2).to_array(),
    d: dot(a, b),
    n: norm(vector([3, 4])),
    c: cos(vector([3, 4]), vector([3, 4]) * 2),
    u: normalize(vector([3, 4])).to_array(),
    p: project(vector([1, 1]), vector([3, 4])),
    len: a.len() + len(b),
    first: a[1],
    m: mean_of([vector([1, 2]), vector([3, 6])]).to_array(),
    k: contrast([vector([1, 2]), vector([3, 6])], [vector([0, 1]), vector([2, 1])]).to_array(),
    third: vector([0.1]),
    auc: auroc([0.9, 0.8, 0.7, 0.5], [0.6, 0.5, 0.1]),
});
let pc = pca([vector([2, 0]), vector([-2, 0]), vector([0, 1]), vector([0, -1])], 2);
record(#{ pc1: pc.components[0].to_array(), pc2: pc.components[1].to_array(),
          explained: pc.explained, mean: pc.mean.to_array() });
let path = save_vectors("axis.safetensors", #{ axis: a, other: b },
    #{ model: "tiny", model_sha256: "abc", layer: 3, made_by: "by hand" });
let back = load_vectors(path);
record(#{ same: back.vectors.axis.to_array() == a.to_array(), meta: back.meta,
          names: back.vectors.keys() });
"#,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("vector(3)[1, 2.5, -3]"), "{err}");
    assert!(err.contains("vector(5)[1, 2, 3, 4, …]"), "{err}");
    let runs = files_under(&p.out());
    let records_path = runs
        .iter()
        .find(|f| f.ends_with("records.jsonl"))
        .expect("records");
    assert!(
        runs.iter().any(|f| f.ends_with("axis.safetensors")),
        "{runs:?}"
    );
    let records: Vec<serde_json::Value> = std::fs::read_to_string(records_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let r = &records[0];
    use serde_json::json;
    assert_eq!(
        r["v"],
        json!([1.0, 2.5, -3.0]),
        "a Vector is recorded as its numbers"
    );
    assert_eq!(r["sum"], json!([1.5, 3.0, -2.5]));
    assert_eq!(r["diff"], json!([0.5, 2.0, -3.5]));
    assert_eq!(r["scaled"], json!([2.0, 5.0, -6.0]));
    assert_eq!(r["scaled2"], json!([2.0, 5.0, -6.0]));
    assert_eq!(r["halved"], json!([0.5, 1.25, -1.5]));
    assert_eq!(r["d"], json!(0.25));
    assert_eq!(r["n"], json!(5.0));
    assert_eq!(r["c"], json!(1.0));
    assert_eq!(r["u"], json!([0.6000000238418579, 0.800000011920929]));
    assert_eq!(r["p"], json!(1.4));
    assert_eq!(r["len"], json!(6));
    assert_eq!(r["first"], json!(2.5));
    assert_eq!(r["m"], json!([2.0, 4.0]));
    assert_eq!(r["k"], json!([1.0, 3.0]));
    // An f32 is recorded by its shortest text, and reads back as the same f32.
    assert_eq!(r["third"], json!([0.1]));
    assert_eq!(r["auc"], json!(0.875));
    let r = &records[1];
    assert_eq!(r["pc1"], json!([1.0, 0.0]));
    assert_eq!(r["pc2"], json!([0.0, 1.0]));
    assert_eq!(r["mean"], json!([0.0, 0.0]));
    let explained: Vec<f64> = serde_json::from_value(r["explained"].clone()).unwrap();
    assert!((explained[0] - 0.8).abs() < 1e-12 && (explained[1] - 0.2).abs() < 1e-12);
    let r = &records[2];
    assert_eq!(r["same"], json!(true));
    assert_eq!(r["names"], json!(["axis", "other"]));
    assert_eq!(
        r["meta"],
        json!({"model": "tiny", "model_sha256": "abc", "layer": "3", "made_by": "by hand",
               "hidden_size": "3", "tool": format!("drift-script {}", env!("CARGO_PKG_VERSION"))})
    );
}

#[test]
fn bad_script_input_gives_a_positioned_error_and_writes_nothing() {
    let cases = [
        (
            "let a = vector([\"a\"]);",
            "1:9",
            "vector: element 0 is string (a), not a number",
        ),
        (
            "let x = 1;\nlet a = vector([1, 2]) + vector([1, 2, 3]);",
            "2:24",
            "a + b: lengths differ (2 and 3)",
        ),
        ("let a = mean_of([]);", "1:9", "mean_of: the list is empty"),
        (
            "let a = mean_of([1]);",
            "1:9",
            "mean_of: element 0 is i64, not a Vector",
        ),
        (
            "let a = pca([vector([1, 0]), vector([0, 1])], 0);",
            "1:9",
            "pca: k = 0 is out of range: 2 vectors of length 2 give 1 to 1 components",
        ),
        (
            "let a = pca([vector([1, 0]), vector([0, 1])], 3);",
            "1:9",
            "pca: k = 3 is out of range: 2 vectors of length 2 give 1 to 1 components",
        ),
        (
            "let a = normalize(vector([0, 0]));",
            "1:9",
            "normalize: the vector is a zero vector, which has no direction",
        ),
        (
            "let a = vector([1]) / 0;",
            "1:21",
            "vector / 0: division by zero",
        ),
        (
            "save_vectors(\"a.safetensors\", #{ a: vector([1]), b: vector([1, 2]) }, #{});",
            "1:1",
            "save_vectors: vectors in one file must have one length: `a` has 1, `b` 2",
        ),
        (
            "save_vectors(\"a.safetensors\", #{ a: [1.0] }, #{});",
            "1:1",
            "save_vectors: `a` is array, not a Vector",
        ),
        (
            "save_vectors(\"../a.safetensors\", #{ a: vector([1]) }, #{});",
            "1:1",
            "save_vectors: `../a.safetensors` is refused: paths may not contain `..`",
        ),
        (
            "load_vectors(\"missing.safetensors\");",
            "1:1",
            "cannot read",
        ),
    ];
    for (i, (script, place, message)) in cases.iter().enumerate() {
        let p = Project::new(&format!("bad{i}"));
        let o = p.run("bad.rhai", script);
        let err = stderr(&o);
        assert!(!o.status.success(), "{script}: {err}");
        assert!(
            err.contains(&format!("bad.rhai:{place}: {message}")),
            "{script}: {err}"
        );
        assert_eq!(files_under(&p.out()), Vec::<PathBuf>::new(), "{script}");
        assert!(!p.dir.parent().unwrap().join("a.safetensors").exists());
    }
}

/// On the default model: a file made for another hidden size or another sha256 is refused by
/// `load_vectors(path, model)`, naming both sides, and one made for it is accepted.
#[test]
fn scripts_refuse_vectors_made_for_another_model() {
    let p = Project::new("model");
    let o = p.run(
        "check.rhai",
        r#"
let m = model("smollm2");
let info = m.info();
let values = [];
for i in 0..info.hidden_size { values.push(i * 0.5); }
let right = vector(values);
let ok = save_vectors("ok.safetensors", #{ axis: right }, #{ model: m, made_by: "test" });
let back = load_vectors(ok, m);
print(`accepted ${back.meta.hidden_size} ${back.meta.model_sha256 == info.sha256} ${back.meta.model}`);
let small = save_vectors("small.safetensors", #{ axis: vector([1, 2, 3]) },
    #{ model: "other", model_sha256: info.sha256 });
let other = save_vectors("other.safetensors", #{ axis: right },
    #{ model: "other", model_sha256: "0123" });
let which = param("which", "small");
if which == "small" { load_vectors(small, m); } else { load_vectors(other, m); }
"#,
    );
    let err = stderr(&o);
    assert!(!o.status.success(), "{err}");
    let info_line = err
        .lines()
        .find(|l| l.contains("accepted"))
        .unwrap_or_else(|| panic!("{err}"));
    let words: Vec<&str> = info_line.split(' ').collect();
    assert_eq!(words[3], "true", "{err}");
    let hidden: usize = words[2].parse().unwrap();
    assert!(hidden > 3, "{err}");
    assert!(
        err.contains(&format!(
            "for model `smollm2`: these vectors were made for model `other` with hidden size 3, \
             but this model's hidden size is {hidden}"
        )),
        "{err}"
    );
    assert!(err.contains("check.rhai:15:23: load_vectors("), "{err}");
    std::fs::remove_dir_all(p.out()).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_drift-script"))
        .args(["check.rhai", "--out", "out", "--set", "which=other"])
        .current_dir(&p.dir)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("check.rhai:15:56: load_vectors(")
            && err.contains(
                "for model `smollm2`: these vectors were made for model `other` with sha256 \
                 0123, but this model's sha256 is "
            ),
        "{err}"
    );
}
