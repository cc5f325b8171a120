//! `drift_script::plot` end to end: pictures written to a temporary folder, then their content
//! checked (PNG header and size, SVG text), and every bad input's error message.
//!
//! Set `DRIFT_SCRIPT_KEEP_PLOTS=1` to keep the pictures and print where they are.
//!
//! Over 1,000 lines on purpose: one file for every kind of picture, because they share the
//! helpers above (temporary folders, PNG header and SVG text checks) and the same house rules.

use drift_script::plot::{
    Facet, HeatmapSpec, LineSpec, PlotError, PlotKind, ScatterSpec, heatmap, line_plot, read_jsonl,
    scatter_plot,
};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// A fresh folder per test; removed at the end unless DRIFT_SCRIPT_KEEP_PLOTS is set.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("drift-plot-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
    /// Names of the files in the folder, sorted (to prove no temporary file is left behind).
    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("DRIFT_SCRIPT_KEEP_PLOTS").is_some() {
            eprintln!("kept plots in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Records shaped like the self-chat results: 12 persona pairs × 3 methods × turns 2..8,
/// stability falling with the turn (less so under split-softmax), user score rising.
fn selfchat_records() -> Vec<Value> {
    let mut state = 12345u64;
    let mut noise = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f64 / (1u64 << 31) as f64) - 0.5
    };
    let mut out = Vec::new();
    for (m, method) in ["baseline", "split-softmax", "cfg"].iter().enumerate() {
        for pair in 0..12 {
            for turn in [2, 4, 6, 8] {
                let t = turn as f64;
                let drop = [0.06, 0.025, 0.04][m];
                let score = (0.7 - drop * t + 0.25 * noise()).clamp(0.0, 1.0);
                let user_score = (0.1 + 0.02 * t + 0.1 * noise()).clamp(0.0, 1.0);
                out.push(json!({
                    "turn": turn, "pair": pair, "method": method,
                    "score": score, "user_score": user_score, "answer": "…"
                }));
            }
        }
    }
    out
}

fn assert_png(path: &Path, width: u32, height: u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    // The first chunk is IHDR: length 13, type, then width and height big-endian.
    assert_eq!(&bytes[12..16], b"IHDR");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((w, h), (width, height));
    assert!(
        bytes.len() > 15_000,
        "{} is only {} bytes: nearly blank?",
        path.display(),
        bytes.len()
    );
    assert_eq!(
        &bytes[bytes.len() - 8..bytes.len() - 4],
        b"IEND",
        "PNG is truncated"
    );
}

/// Text content of the SVG's <text> elements (trimmed, XML entities decoded).
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| Some(t[t.find('>')? + 1..t.find("</text>")?].trim().to_string()))
        .map(|t| {
            t.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&")
        })
        .collect()
}

#[test]
fn two_y_columns_with_bands_to_png_and_svg() {
    let dir = TempDir::new("two-y");
    let records = selfchat_records();
    let spec = LineSpec {
        band: Some(0.68),
        ..LineSpec::new("turn", ["score", "user_score"])
    };

    let png = dir.path("stability.png");
    let report = line_plot(&records, &spec, &png).unwrap();
    assert_eq!((report.series, report.points), (2, 8));
    assert_eq!(
        (report.used, report.skipped, report.non_numeric),
        (records.len(), 0, 0)
    );
    assert_eq!(report.path, png);
    assert_eq!(report.warning(), None);
    assert_png(&png, 1000, 650);

    let svg_path = dir.path("stability.svg");
    line_plot(&records, &spec, &svg_path).unwrap();
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    let texts = svg_texts(&svg);
    for want in [
        "score",
        "user_score",
        "turn",
        "score, user_score",
        "score, user_score by turn",
    ] {
        assert!(
            texts.iter().any(|t| t == want),
            "no text {want:?} in {texts:?}"
        );
    }
    // Integer turns give integer tick labels 2, 4, 6, 8 (and no 2.5).
    for tick in ["2", "4", "6", "8"] {
        assert!(texts.iter().any(|t| t == tick), "no tick {tick}");
    }
    assert!(!texts.iter().any(|t| t.contains(".5") && t.starts_with('2')));
    // Two translucent bands (one polygon per series, 4 points each with n = 12).
    assert_eq!(
        svg.matches("<polygon").count(),
        2,
        "expected two band polygons"
    );
    assert!(svg.contains("opacity=\"0.2"), "bands should be translucent");
    assert!(
        texts.iter().any(|t| t == "bands: 68% CI of the mean"),
        "band level noted in the legend"
    );
    // Nothing but the two pictures in the folder: the temporary files were renamed away.
    assert_eq!(dir.files(), ["stability.png", "stability.svg"]);
}

#[test]
fn grouped_plot_names_each_combination() {
    let dir = TempDir::new("grouped");
    let records = selfchat_records();
    let spec = LineSpec {
        group: Some("method".into()),
        band: Some(0.95),
        title: Some("Persona stability by method".into()),
        ylabel: Some("persona score".into()),
        ..LineSpec::new("turn", ["score", "user_score"])
    };
    let path = dir.path("by-method.svg");
    let report = line_plot(&records, &spec, &path).unwrap();
    assert_eq!((report.series, report.points), (6, 24));
    let texts = svg_texts(&std::fs::read_to_string(&path).unwrap());
    for want in [
        "score · method=baseline",
        "score · method=split-softmax",
        "score · method=cfg",
        "user_score · method=baseline",
        "user_score · method=split-softmax",
        "user_score · method=cfg",
        "Persona stability by method",
        "persona score",
        "turn",
    ] {
        assert!(
            texts.iter().any(|t| t == want),
            "no text {want:?} in {texts:?}"
        );
    }
    let png = dir.path("by-method.png");
    line_plot(&records, &spec, &png).unwrap();
    assert_png(&png, 1000, 650);
}

#[test]
fn skipped_records_and_values_are_counted() {
    let dir = TempDir::new("skips");
    let mut records = vec![
        json!({"turn": 2, "score": 0.5}),
        json!({"turn": 2, "score": 0.7}),
        json!({"turn": 4, "score": false}), // booleans count as 0/1
        json!({"turn": 4, "score": "n/a"}), // present but not a number
        json!({"turn": 6, "score": null}),  // likewise
        json!({"turn": 6}),                 // another kind of record: no score at all
        json!({"kind": "config"}),          // no turn
    ];
    records.push(json!({"turn": 8.5, "score": 1}));
    let path = dir.path("skips.svg");
    let report = line_plot(&records, &LineSpec::new("turn", ["score"]), &path).unwrap();
    assert_eq!((report.series, report.points), (1, 3)); // x = 2, 4, 8.5
    assert_eq!((report.used, report.skipped, report.non_numeric), (4, 4, 2));
    let warning = report.warning().unwrap();
    assert!(
        warning.contains("4 record(s) had no usable x/y values"),
        "{warning}"
    );
    assert!(
        warning.contains("2 y value(s) were not numbers"),
        "{warning}"
    );
    // Non-integer x: ticks are no longer forced to integers, and 8.5 is in range.
    let texts = svg_texts(&std::fs::read_to_string(&path).unwrap());
    assert!(texts.iter().any(|t| t == "8"), "{texts:?}");
}

#[test]
fn heatmap_png_and_svg() {
    let dir = TempDir::new("heatmap");
    // Attention to the system prompt: 6 layers × 8 turns, fading with the turn.
    let matrix: Vec<Vec<f64>> = (0..6)
        .map(|l| {
            (0..8)
                .map(|t| (0.9 - 0.08 * t as f64) * (1.0 - 0.1 * l as f64))
                .collect()
        })
        .collect();
    let spec = HeatmapSpec {
        title: Some("Attention to the system prompt".into()),
        xlabel: Some("turn".into()),
        ylabel: Some("layer".into()),
        row_labels: Some((0..6).map(|l| format!("L{l}")).collect()),
        col_labels: Some((1..=8).map(|t| format!("t{t}")).collect()),
        min: Some(0.0),
        max: Some(1.0),
    };
    let png = dir.path("attention.png");
    let report = heatmap(&matrix, &spec, &png).unwrap();
    assert_eq!((report.points, report.skipped), (48, 0));
    assert_png(&png, 1000, 650);

    let mut with_nan = matrix.clone();
    with_nan[2][3] = f64::NAN;
    let svg_path = dir.path("attention.svg");
    let report = heatmap(&with_nan, &spec, &svg_path).unwrap();
    assert_eq!((report.points, report.skipped), (47, 1));
    assert!(
        report
            .warning()
            .unwrap()
            .contains("1 cell(s) were not finite")
    );
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    let texts = svg_texts(&svg);
    for want in [
        "Attention to the system prompt",
        "turn",
        "layer",
        "L0",
        "L5",
        "t1",
        "t8",
        "0",
        "1",
    ] {
        assert!(
            texts.iter().any(|t| t == want),
            "no text {want:?} in {texts:?}"
        );
    }
    // 48 cells + 200 colour-bar strips (+ background rectangles).
    assert!(svg.matches("<rect").count() >= 248);
    // The top-left cell (0.9) and the bottom-right one (0.9·0.5·0.44 ≈ 0.17) are far apart on the
    // viridis scale: the brightest yellow-green appears, and the NaN cell is grey.
    assert!(
        svg.contains("#DCDCDC") || svg.contains("#dcdcdc"),
        "NaN cell should be light grey"
    );
}

#[test]
fn default_heatmap_labels_are_indices() {
    let dir = TempDir::new("heatmap-default");
    let path = dir.path("m.svg");
    heatmap(
        &[vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]],
        &HeatmapSpec::default(),
        &path,
    )
    .unwrap();
    let texts = svg_texts(&std::fs::read_to_string(&path).unwrap());
    for want in ["0", "1", "2"] {
        assert!(texts.iter().any(|t| t == want), "no index label {want}");
    }
}

#[test]
fn writes_create_folders_and_replace_atomically() {
    let dir = TempDir::new("atomic");
    let records = selfchat_records();
    let spec = LineSpec::new("turn", ["score"]);
    // Parent folders are created.
    let nested = dir.path("a/b/c/plot.png");
    line_plot(&records, &spec, &nested).unwrap();
    assert_png(&nested, 1000, 650);
    // An existing file is replaced…
    let path = dir.path("plot.svg");
    std::fs::write(&path, "old").unwrap();
    line_plot(&records, &spec, &path).unwrap();
    assert!(std::fs::read_to_string(&path).unwrap().starts_with("<svg"));
    // …but left alone when the plot fails.
    std::fs::write(&path, "old").unwrap();
    assert!(line_plot(&records, &LineSpec::new("turn", ["nope"]), &path).is_err());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
    assert_eq!(dir.files(), ["a", "plot.svg"]);
    // A folder where the file should go is a write error naming the path, and no temporary
    // file is left behind.
    let blocked = dir.path("blocked.png");
    std::fs::create_dir(&blocked).unwrap();
    let err = line_plot(&records, &spec, &blocked).unwrap_err();
    assert!(matches!(err, PlotError::Write { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot write plot file {}", blocked.display())),
        "{err}"
    );
    assert_eq!(dir.files(), ["a", "blocked.png", "plot.svg"]);
}

#[test]
fn bad_inputs_give_clear_errors() {
    let dir = TempDir::new("errors");
    let records = selfchat_records();
    let spec = LineSpec::new("turn", ["score"]);
    let msg = |r: Result<drift_script::plot::PlotReport, PlotError>| r.unwrap_err().to_string();

    let jpg = dir.path("out.jpg");
    assert_eq!(
        msg(line_plot(&records, &spec, &jpg)),
        format!("plot file must end in .png or .svg: got {}", jpg.display())
    );
    assert_eq!(
        msg(heatmap(
            &[vec![1.0]],
            &HeatmapSpec::default(),
            Path::new("out")
        )),
        "plot file must end in .png or .svg: got out"
    );
    let svg = dir.path("x.svg");
    assert_eq!(
        msg(line_plot(
            &records,
            &LineSpec::new("turn", ["stability"]),
            &svg
        )),
        "no records have numeric `turn` and `stability`"
    );
    assert_eq!(
        msg(line_plot(
            &records,
            &LineSpec::new("round", ["score", "user_score"]),
            &svg
        )),
        "no records have numeric `round` and any of `score`, `user_score`"
    );
    assert_eq!(
        msg(line_plot(&[], &spec, &svg)),
        "no records have numeric `turn` and `score`"
    );
    let mut bad_x = records.clone();
    bad_x.insert(3, json!({"turn": "four", "score": 1}));
    assert_eq!(
        msg(line_plot(&bad_x, &spec, &svg)),
        "x key `turn` must hold numbers, but record 4 has \"four\""
    );
    assert_eq!(
        msg(line_plot(
            &records,
            &LineSpec {
                band: Some(68.0),
                ..spec.clone()
            },
            &svg
        )),
        "confidence level must be between 0 and 1 (exclusive), got 68"
    );
    assert_eq!(
        msg(heatmap(
            &[vec![1.0, 2.0], vec![3.0, 4.0], vec![5.0]],
            &HeatmapSpec::default(),
            &svg
        )),
        "heatmap rows must all have the same length: row 1 has 2 values, row 3 has 1"
    );
    assert_eq!(
        msg(heatmap(&[], &HeatmapSpec::default(), &svg)),
        "heatmap: the matrix is empty"
    );
    let labels = HeatmapSpec {
        row_labels: Some(vec!["only one".into()]),
        ..Default::default()
    };
    assert_eq!(
        msg(heatmap(&[vec![1.0], vec![2.0]], &labels, &svg)),
        "heatmap: 1 row labels given for 2 rows"
    );
    // No picture was written for any of them.
    assert!(dir.files().is_empty(), "{:?}", dir.files());
}

#[test]
fn read_jsonl_reads_records_and_names_bad_lines() {
    let dir = TempDir::new("jsonl");
    let good = dir.path("results.jsonl");
    std::fs::write(
        &good,
        "{\"turn\": 2, \"score\": 0.5}\n\n   \n{\"turn\": 4, \"score\": 1}\n",
    )
    .unwrap();
    let records = read_jsonl(&good).unwrap();
    assert_eq!(
        records,
        [
            json!({"turn": 2, "score": 0.5}),
            json!({"turn": 4, "score": 1})
        ]
    );
    // A file without a final newline reads the same.
    std::fs::write(
        &good,
        "{\"turn\": 2, \"score\": 0.5}\n{\"turn\": 4, \"score\": 1}",
    )
    .unwrap();
    assert_eq!(read_jsonl(&good).unwrap().len(), 2);

    let bad = dir.path("bad.jsonl");
    std::fs::write(&bad, "{\"turn\": 2}\n\n{\"turn\": 4, \"score\": }\n").unwrap();
    let err = read_jsonl(&bad).unwrap_err();
    assert!(
        matches!(err, PlotError::BadRecord { line: 3, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}:3: malformed JSON at column 22: expected value",
            bad.display()
        )
    );

    // A truncated last line (a run killed mid-write) is named too.
    std::fs::write(&bad, "{\"turn\": 2}\n{\"turn\": 4, \"sc").unwrap();
    let err = read_jsonl(&bad).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}:2: malformed JSON", bad.display())),
        "{err}"
    );
    assert!(err.contains("EOF while parsing"), "{err}");

    std::fs::write(&bad, "{\"turn\": 2}\n[1, 2]\n").unwrap();
    assert_eq!(
        read_jsonl(&bad).unwrap_err().to_string(),
        format!(
            "{}:2: expected a JSON object (a record), found an array",
            bad.display()
        )
    );

    let missing = dir.path("missing.jsonl");
    let err = read_jsonl(&missing).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("cannot read results file {}", missing.display())),
        "{err}"
    );

    // Records read from a file plot like any others.
    std::fs::write(
        &good,
        "{\"turn\": 2, \"score\": 0.5}\n{\"turn\": 4, \"score\": 1}\n",
    )
    .unwrap();
    let out = dir.path("from-file.svg");
    let report = line_plot(
        &read_jsonl(&good).unwrap(),
        &LineSpec::new("turn", ["score"]),
        &out,
    )
    .unwrap();
    assert_eq!((report.series, report.points), (1, 2));
}

/// Roles on the first two principal components of persona space: four families in four
/// quadrants (negative coordinates as often as positive), a few points near the origin.
fn role_records() -> Vec<Value> {
    let families = [
        ("character", -1.0, 1.0),
        ("format", 1.0, 1.0),
        ("memory", -1.0, -1.0),
        ("language", 1.0, -1.0),
    ];
    let names = [
        "pirate",
        "teenager",
        "cat",
        "librarian",
        "json",
        "haiku",
        "all caps",
        "bullet list",
        "secret 42",
        "tokyo",
        "user name",
        "birthday",
        "french",
        "glossed french",
        "spanish",
        "latin",
    ];
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let (family, sx, sy) = families[i / 4];
        let k = (i % 4) as f64;
        out.push(json!({
            "role": name, "family": family,
            "pc1": sx * (2.0 + 1.5 * k), "pc2": sy * (1.0 + 0.8 * (3.0 - k)),
        }));
    }
    out.push(json!({"role": "assistant", "family": "default", "pc1": 0.3, "pc2": -0.2}));
    out
}

#[test]
fn scatter_with_labels_and_groups_to_png_and_svg() {
    let dir = TempDir::new("scatter");
    let records = role_records();
    let spec = ScatterSpec {
        label: Some("role".into()),
        group: Some("family".into()),
        title: Some("Roles on PC1/PC2".into()),
        xlabel: Some("PC1 (41%)".into()),
        ylabel: Some("PC2 (17%)".into()),
        ..ScatterSpec::new("pc1", "pc2")
    };
    let png = dir.path("roles.png");
    let report = scatter_plot(&records, &spec, &png).unwrap();
    assert_eq!(report.kind, PlotKind::Scatter);
    assert_eq!((report.series, report.points, report.panels), (5, 17, 1));
    assert_eq!(
        (report.used, report.skipped, report.non_numeric),
        (17, 0, 0)
    );
    assert_eq!((report.labels, report.unlabelled), (17, 0));
    assert_eq!(report.warning(), None);
    assert_png(&png, 1000, 650);

    let svg_path = dir.path("roles.svg");
    scatter_plot(&records, &spec, &svg_path).unwrap();
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    let texts = svg_texts(&svg);
    for record in &records {
        let role = record["role"].as_str().unwrap();
        assert_eq!(
            texts.iter().filter(|t| *t == role).count(),
            1,
            "label {role:?} once in {texts:?}"
        );
    }
    for want in [
        "Roles on PC1/PC2",
        "PC1 (41%)",
        "PC2 (17%)",
        "family=character",
        "family=format",
        "family=memory",
        "family=language",
        "family=default",
    ] {
        assert!(texts.iter().any(|t| t == want), "no {want:?} in {texts:?}");
    }
    // One marker per point, and one per legend entry.
    assert_eq!(svg.matches("<circle").count(), 17 + 5);
    // Negative and positive ticks on both axes, and the origin lines (x = 0, y = 0).
    assert!(texts.iter().any(|t| t.starts_with('-')), "{texts:?}");
    assert_eq!(dir.files(), ["roles.png", "roles.svg"]);

    // Without labels or groups: bare points in one colour, no legend.
    let plain = dir.path("plain.svg");
    let report = scatter_plot(&records, &ScatterSpec::new("pc1", "pc2"), &plain).unwrap();
    assert_eq!((report.series, report.labels, report.unlabelled), (1, 0, 0));
    let svg = std::fs::read_to_string(&plain).unwrap();
    assert_eq!(svg.matches("<circle").count(), 17);
    let texts = svg_texts(&svg);
    assert!(!texts.iter().any(|t| t == "pirate"));
    assert!(texts.iter().any(|t| t == "pc2 by pc1"), "{texts:?}");
}

#[test]
fn scatter_skips_and_reports_values_that_are_not_numbers() {
    let dir = TempDir::new("scatter-skips");
    let mut records = role_records();
    records.push(json!({"role": "broken", "pc1": "n/a", "pc2": 1.0}));
    records.push(json!({"role": "nulls", "pc1": null, "pc2": null}));
    records.push(json!({"kind": "config"})); // another kind of record: no pc1, no pc2
    records.push(json!({"role": "flag", "pc1": true, "pc2": -2.5})); // booleans read as 0/1
    let spec = ScatterSpec {
        label: Some("role".into()),
        ..ScatterSpec::new("pc1", "pc2")
    };
    let path = dir.path("skips.svg");
    let report = scatter_plot(&records, &spec, &path).unwrap();
    assert_eq!((report.points, report.used), (18, 18));
    assert_eq!((report.skipped, report.non_numeric), (3, 3));
    assert_eq!(
        report.warning().unwrap(),
        format!(
            "{}: 3 record(s) had no usable x/y values; 3 x/y value(s) were not numbers",
            path.display()
        )
    );
    let svg = std::fs::read_to_string(&path).unwrap();
    assert_eq!(svg.matches("<circle").count(), 18);
    let texts = svg_texts(&svg);
    assert!(texts.iter().any(|t| t == "flag"));
    assert!(!texts.iter().any(|t| t == "broken" || t == "nulls"));
}

#[test]
fn crowded_labels_are_left_out_and_counted() {
    let dir = TempDir::new("scatter-crowded");
    // 300 roles in a tight cloud: far more labels than fit without overlapping.
    let records: Vec<Value> = (0..300)
        .map(|i| {
            let a = i as f64 * 2.399_963; // golden angle: an even spiral
            let r = (i as f64 / 300.0).sqrt();
            json!({"role": format!("role {i}"), "pc1": r * a.cos(), "pc2": r * a.sin()})
        })
        .collect();
    let spec = ScatterSpec {
        label: Some("role".into()),
        ..ScatterSpec::new("pc1", "pc2")
    };
    let path = dir.path("crowded.svg");
    let report = scatter_plot(&records, &spec, &path).unwrap();
    assert_eq!(report.points, 300);
    assert_eq!(report.labels + report.unlabelled, 300);
    assert!(
        report.labels >= 100 && report.unlabelled >= 10,
        "{report:?}"
    );
    let png = dir.path("crowded.png");
    let again = scatter_plot(&records, &spec, &png).unwrap();
    assert_png(&png, 1000, 650);
    assert_eq!(again.points, 300);
    let warning = report.warning().unwrap();
    assert!(
        warning.contains(&format!(
            "{} of 300 point label(s) left out where they would overlap",
            report.unlabelled
        )),
        "{warning}"
    );
    let texts = svg_texts(&std::fs::read_to_string(&path).unwrap());
    let drawn = texts.iter().filter(|t| t.starts_with("role ")).count();
    assert_eq!(drawn, report.labels);
    // The outermost point of the spiral is labelled first, so it always is.
    assert!(texts.iter().any(|t| t == "role 299"), "{texts:?}");

    // max_labels caps them.
    let capped = ScatterSpec {
        max_labels: 5,
        ..spec.clone()
    };
    let report = scatter_plot(&records, &capped, &path).unwrap();
    assert_eq!((report.labels, report.unlabelled), (5, 295));
    let texts = svg_texts(&std::fs::read_to_string(&path).unwrap());
    assert_eq!(texts.iter().filter(|t| t.starts_with("role ")).count(), 5);
}

#[test]
fn scatter_errors_name_the_key() {
    let dir = TempDir::new("scatter-errors");
    let records = role_records();
    let svg = dir.path("x.svg");
    let msg = |spec: ScatterSpec| scatter_plot(&records, &spec, &svg).unwrap_err().to_string();
    assert_eq!(
        msg(ScatterSpec::new("pc1", "pc3")),
        "no records have numeric `pc1` and `pc3`"
    );
    assert_eq!(
        msg(ScatterSpec {
            label: Some("name".into()),
            ..ScatterSpec::new("pc1", "pc2")
        }),
        "scatter plot: no record with numeric `pc1` and `pc2` has the label key `name`"
    );
    assert_eq!(
        msg(ScatterSpec {
            group: Some("famliy".into()),
            ..ScatterSpec::new("pc1", "pc2")
        }),
        "scatter plot: no record with numeric `pc1` and `pc2` has the group key `famliy`"
    );
    let jpg = dir.path("x.jpg");
    assert_eq!(
        scatter_plot(&records, &ScatterSpec::new("pc1", "pc3"), &jpg)
            .unwrap_err()
            .to_string(),
        format!("plot file must end in .png or .svg: got {}", jpg.display())
    );
    assert!(dir.files().is_empty(), "{:?}", dir.files());
}

/// Per agent turn: the projection on the assistant axis (tens, falling) and persona stability
/// (0..1, falling), with and without capping.
fn drift_records() -> Vec<Value> {
    let mut out = Vec::new();
    for (m, method) in ["baseline", "capped"].iter().enumerate() {
        for episode in 0..6 {
            for turn in [2, 4, 6, 8, 10] {
                let t = turn as f64;
                let e = episode as f64;
                let fall = [1.0, 0.3][m];
                out.push(json!({
                    "turn": turn, "episode": episode, "method": method,
                    "projection": 30.0 - fall * 2.0 * t + 1.5 * (e - 2.5),
                    "score": (0.8 - fall * 0.05 * t + 0.04 * (e - 2.5)).clamp(0.0, 1.0),
                }));
            }
        }
        out.push(json!({"kind": "summary", "method": method}));
    }
    out
}

#[test]
fn panels_per_y_key_share_the_x_axis() {
    let dir = TempDir::new("facet-y");
    let records = drift_records();
    let spec = LineSpec {
        group: Some("method".into()),
        band: Some(0.68),
        title: Some("Drift along the assistant axis".into()),
        facet: Some(Facet::YKeys),
        ..LineSpec::new("turn", ["projection", "score"])
    };
    let png = dir.path("drift.png");
    let report = line_plot(&records, &spec, &png).unwrap();
    assert_eq!(report.kind, PlotKind::Line);
    assert_eq!((report.panels, report.series, report.points), (2, 4, 20));
    assert_eq!(
        (report.used, report.skipped, report.non_numeric),
        (60, 2, 0)
    );
    assert_png(&png, 1000, 650);

    let svg_path = dir.path("drift.svg");
    line_plot(&records, &spec, &svg_path).unwrap();
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    let texts = svg_texts(&svg);
    let count = |want: &str| texts.iter().filter(|t| *t == want).count();
    // Each panel is captioned with its key, which also labels its y axis.
    assert_eq!(count("projection"), 2, "{texts:?}");
    assert_eq!(count("score"), 2, "{texts:?}");
    // The lines are named by group alone, once each in the legend, the same in both panels.
    assert_eq!(count("method=baseline"), 1);
    assert_eq!(count("method=capped"), 1);
    // One shared x axis: its label and tick labels appear once, under the bottom panel.
    assert_eq!(count("turn"), 1);
    assert_eq!(count("2"), 1, "{texts:?}");
    // Two bands per panel, and the line of each series plus one swatch per legend entry.
    assert_eq!(svg.matches("<polygon").count(), 4);
    // The line of each series in each panel, and one swatch per legend entry (ticks and axes
    // are thin black polylines).
    let thick = |svg: &str| svg.matches("stroke-width=\"2\" points=").count();
    assert_eq!(thick(&svg), 4 + 2, "four lines, two swatches");
    // Markers: 20 points and 2 legend swatches.
    assert_eq!(svg.matches("<circle").count(), 22);

    // Without groups: one line per panel, named by its key.
    let plain = LineSpec {
        group: None,
        ..spec.clone()
    };
    let report = line_plot(&records, &plain, &svg_path).unwrap();
    assert_eq!((report.panels, report.series), (2, 2));
    // A y key without data is named, as in a plain plot.
    let bad = LineSpec {
        y: vec!["projection".into(), "stability".into()],
        ..spec.clone()
    };
    assert_eq!(
        line_plot(&records, &bad, &svg_path)
            .unwrap_err()
            .to_string(),
        "no records have numeric `turn` and `stability`"
    );
}

#[test]
fn panels_per_value_of_a_key() {
    let dir = TempDir::new("facet-key");
    let records = drift_records();
    let spec = LineSpec {
        band: Some(0.68),
        facet: Some(Facet::Values("method".into())),
        ..LineSpec::new("turn", ["score"])
    };
    let png = dir.path("by-method.png");
    let report = line_plot(&records, &spec, &png).unwrap();
    // The summary records have no turn: they make no panel and are counted as skipped.
    assert_eq!((report.panels, report.series, report.points), (2, 2, 10));
    assert_eq!((report.used, report.skipped), (60, 2));
    assert_png(&png, 1000, 650);

    let svg_path = dir.path("by-method.svg");
    line_plot(&records, &spec, &svg_path).unwrap();
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    let texts = svg_texts(&svg);
    let count = |want: &str| texts.iter().filter(|t| *t == want).count();
    assert_eq!(count("method=baseline"), 1, "{texts:?}");
    assert_eq!(count("method=capped"), 1);
    // Same line in both panels: one legend entry, one colour.
    assert_eq!(count("score"), 1 + 2, "legend entry and both y axes");
    // One y range for both panels (the same quantity): the same ticks in each.
    assert_eq!(count("0.5"), 2, "{texts:?}");
    assert_eq!(count("0.8"), 2, "{texts:?}");
    let thick = svg.matches("stroke-width=\"2\" points=").count();
    assert_eq!(thick, 2 + 1, "a line per panel, one legend swatch");

    // Many values: more panels make a taller picture, up to a limit.
    let mut many = Vec::new();
    for pair in 0..13 {
        for turn in [2, 4] {
            many.push(json!({"pair": pair, "turn": turn, "score": 0.5}));
        }
    }
    let by_pair = LineSpec {
        facet: Some(Facet::Values("pair".into())),
        ..LineSpec::new("turn", ["score"])
    };
    let tall = dir.path("tall.png");
    let report = line_plot(&many[..8], &by_pair, &tall).unwrap();
    assert_eq!(report.panels, 4);
    assert_png(&tall, 1000, 120 + 220 * 4);
    assert_eq!(
        line_plot(&many, &by_pair, &tall).unwrap_err().to_string(),
        "line plot: 13 panels (values of `pair` with data); at most 12 fit one picture"
    );
    assert_eq!(
        line_plot(
            &many,
            &LineSpec {
                facet: Some(Facet::Values(String::new())),
                ..by_pair.clone()
            },
            &tall
        )
        .unwrap_err()
        .to_string(),
        "line plot: the facet key must not be empty"
    );
}

/// `plot(…)` from a script: the kinds, their options, and the errors a script author sees.
#[test]
fn script_plot_kinds_and_errors() {
    use drift_script::script::{HostConfig, ScriptHost};
    let dir = TempDir::new("script");
    let mut host = ScriptHost::new(HostConfig {
        project_dir: dir.0.clone(),
        out_root: dir.path("out"),
        ..HostConfig::default()
    })
    .unwrap();
    let roles = r#"let roles = [
        #{role: "pirate", family: "character", pc1: -2.0, pc2: 1.5},
        #{role: "json", family: "format", pc1: 3.0, pc2: 1.0},
        #{role: "tokyo", family: "memory", pc1: -1.0, pc2: -2.0},
        #{role: "french", family: "language", pc1: 2.0, pc2: -1.0},
        #{role: "broken", family: "format", pc1: "n/a", pc2: 0.0},
    ];"#;
    let path = host
        .eval(&format!(
            r#"{roles} plot(#{{kind: "scatter", x: "pc1", y: "pc2", label: "role", group: "family",
                 title: "Roles", data: roles}}, "roles.svg")"#
        ))
        .unwrap()
        .into_string()
        .unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    let texts = svg_texts(&svg);
    for want in [
        "pirate",
        "json",
        "tokyo",
        "french",
        "Roles",
        "family=memory",
    ] {
        assert!(texts.iter().any(|t| t == want), "no {want:?} in {texts:?}");
    }
    assert!(!texts.iter().any(|t| t == "broken"));
    assert_eq!(svg.matches("<circle").count(), 4 + 4);

    // labels: false draws the points alone; max_labels caps the labels.
    let path = host
        .eval(&format!(
            r#"{roles} plot(#{{kind: "scatter", x: "pc1", y: "pc2", label: "role", labels: false,
                 data: roles}}, "bare.svg")"#
        ))
        .unwrap()
        .into_string()
        .unwrap();
    let texts = svg_texts(&std::fs::read_to_string(&path).unwrap());
    assert!(!texts.iter().any(|t| t == "pirate"), "{texts:?}");
    let path = host
        .eval(&format!(
            r#"{roles} plot(#{{kind: "scatter", x: "pc1", y: "pc2", label: "role", max_labels: 1,
                 data: roles}}, "one.svg")"#
        ))
        .unwrap()
        .into_string()
        .unwrap();
    let texts = svg_texts(&std::fs::read_to_string(&path).unwrap());
    let labelled = ["pirate", "json", "tokyo", "french"]
        .iter()
        .filter(|r| texts.iter().any(|t| t == *r))
        .count();
    assert_eq!(labelled, 1, "{texts:?}");

    // A faceted line plot: one panel per y key.
    let path = host
        .eval(
            r#"let recs = [];
               for t in [2, 4, 6] { recs.push(#{turn: t, projection: 20.0 - t, score: 1.0 - 0.1 * t}); }
               plot(#{x: "turn", y: ["projection", "score"], facet: true, data: recs}, "drift.svg")"#,
        )
        .unwrap()
        .into_string()
        .unwrap();
    let texts = svg_texts(&std::fs::read_to_string(&path).unwrap());
    assert_eq!(texts.iter().filter(|t| *t == "projection").count(), 3); // caption, axis, legend
    assert_eq!(texts.iter().filter(|t| *t == "turn").count(), 1);

    let mut err = |code: &str| host.eval(code).unwrap_err().to_string();
    let e = err(r#"plot(#{kind: "bar", x: "a", y: "b", data: []}, "x.png")"#);
    assert!(
        e.contains("plot: unknown kind `bar` (valid: line, scatter; heatmaps use plot_heatmap)"),
        "{e}"
    );
    let e = err(r#"plot(#{kind: "scatter", x: "a", y: "b", band: 0.68, data: []}, "x.png")"#);
    assert!(
        e.contains(
            "plot: unknown option `band` for kind `scatter` (valid: kind, x, y, label, labels, \
             max_labels, group, title, xlabel, ylabel, data)"
        ),
        "{e}"
    );
    let e = err(r#"plot(#{kind: "scatter", x: "a", y: ["b", "c"], data: []}, "x.png")"#);
    assert!(
        e.contains("plot: a scatter plot takes one `y` key, not a list"),
        "{e}"
    );
    let e = err(r#"plot(#{kind: "scatter", x: "a", data: [#{a: 1}]}, "x.png")"#);
    assert!(e.contains("plot: option `y` is required"), "{e}");
    let e = err(
        r#"plot(#{kind: "scatter", x: "a", y: "b", label: "name", data: [#{a: 1, b: 2}]}, "x.png")"#,
    );
    assert!(
        e.contains(
            "plot: scatter plot: no record with numeric `a` and `b` has the label key `name`"
        ),
        "{e}"
    );
    let e = err(r#"plot(#{kind: "scatter", x: "a", y: "b", max_labels: -1, data: []}, "x.png")"#);
    assert!(
        e.contains("plot: `max_labels` must be a whole number, 0 or more"),
        "{e}"
    );
    let e = err(r#"plot(#{x: "a", y: "b", facet: 3, data: [#{a: 1, b: 2}]}, "x.png")"#);
    assert!(
        e.contains("plot: `facet` must be true (one panel per y key) or a key (one panel per value), not i64"),
        "{e}"
    );
    let e = err(r#"plot(#{x: "a", y: "b", facte: "c", data: []}, "x.png")"#);
    assert!(
        e.contains(
            "plot: unknown option `facte` (valid: kind, x, y, group, band, title, xlabel, ylabel, \
             ylim, facet, data)"
        ),
        "{e}"
    );
}
