//! Registers plots: `plot` (line plots, faceted or not, and scatter plots) and `plot_heatmap`. No experiment logic here: check and
//! convert the options, call `crate::plot`, return the file's path.

use super::{Fallible, fail};
use crate::script::HostState;
use crate::script::convert::{as_number, numbers, to_json};
use crate::script::sandbox::Access;
use rhai::{Array, Engine, Map};
use std::sync::Arc;

const LINE_OPTIONS: &[&str] = &[
    "kind", "x", "y", "group", "band", "title", "xlabel", "ylabel", "ylim", "facet", "data",
];
const SCATTER_OPTIONS: &[&str] = &[
    "kind",
    "x",
    "y",
    "label",
    "labels",
    "max_labels",
    "group",
    "title",
    "xlabel",
    "ylabel",
    "data",
];
const HEATMAP_OPTIONS: &[&str] = &[
    "title",
    "xlabel",
    "ylabel",
    "row_labels",
    "col_labels",
    "min",
    "max",
];

pub(super) fn register(engine: &mut Engine, state: &Arc<HostState>) {
    let s = state.clone();
    engine.register_fn("plot", move |opts: Map, path: &str| -> Fallible<String> {
        let target = s.sandbox.resolve(path, Access::Write).or_else(fail)?;
        if s.is_worker() {
            return Ok(target.display().to_string()); // the main pass draws it
        }
        if s.skip_plot_in_shard(path) {
            return Ok(target.display().to_string());
        }
        let text = |key: &str| opts.get(key).map(|v| v.to_string());
        let (kind, valid) = match text("kind").as_deref() {
            None | Some("line") => ("line", LINE_OPTIONS),
            Some("scatter") => ("scatter", SCATTER_OPTIONS),
            Some(other) => {
                return fail(format!(
                    "plot: unknown kind `{other}` (valid: line, scatter; heatmaps use plot_heatmap)"
                ));
            }
        };
        if let Some(bad) = opts.keys().find(|k| !valid.contains(&k.as_str())) {
            let which = if kind == "line" {
                String::new()
            } else {
                format!(" for kind `{kind}`")
            };
            return fail(format!(
                "plot: unknown option `{bad}`{which} (valid: {})",
                valid.join(", ")
            ));
        }
        let x =
            text("x").ok_or_else(|| HostState::runtime_error("plot: option `x` is required"))?;
        let records: Vec<serde_json::Value> = match opts.get("data") {
            Some(data) => data
                .clone()
                .into_array()
                .map_err(|t| {
                    HostState::runtime_error(format!(
                        "plot: `data` must be an array of maps, not {t}"
                    ))
                })?
                .iter()
                .map(to_json)
                .collect(),
            None => s
                .results()?
                .into_iter()
                .map(serde_json::Value::Object)
                .collect(),
        };
        let report = if kind == "scatter" {
            let spec = scatter_spec(&opts, x)?;
            crate::plot::scatter_plot(&records, &spec, &target)
        } else {
            let spec = line_spec(&opts, x)?;
            crate::plot::line_plot(&records, &spec, &target)
        }
        .or_else(|e| fail(format!("plot: {}", crate::util::error_chain(&e))))?;
        // Line plots stay as quiet as they always were; the new kinds say what they left out.
        if (kind == "scatter" || report.panels > 1)
            && let Some(warning) = report.warning()
            && s.may_print()
        {
            crate::progress::eprintln(format_args!("[{}] warning: plot {warning}", s.script_name));
        }
        Ok(target.display().to_string())
    });
    let s = state.clone();
    let heatmap = move |matrix: Array, path: &str, opts: Map| -> Fallible<String> {
        let target = s.sandbox.resolve(path, Access::Write).or_else(fail)?;
        if s.is_worker() || s.skip_plot_in_shard(path) {
            return Ok(target.display().to_string());
        }
        if let Some(bad) = opts.keys().find(|k| !HEATMAP_OPTIONS.contains(&k.as_str())) {
            return fail(format!(
                "plot_heatmap: unknown option `{bad}` (valid: {})",
                HEATMAP_OPTIONS.join(", ")
            ));
        }
        let rows: Vec<Vec<f64>> = matrix
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let row = row
                    .clone()
                    .into_array()
                    .map_err(|t| format!("plot_heatmap: row {i} is {t}, not an array"))?;
                numbers(&row, &format!("plot_heatmap: row {i}"))
            })
            .collect::<Result<_, _>>()
            .or_else(fail)?;
        let labels = |key: &str| -> Option<Vec<String>> {
            opts.get(key)
                .and_then(|v| v.clone().into_array().ok())
                .map(|a| a.iter().map(|v| v.to_string()).collect())
        };
        let spec = crate::plot::HeatmapSpec {
            title: opts.get("title").map(|v| v.to_string()),
            xlabel: opts.get("xlabel").map(|v| v.to_string()),
            ylabel: opts.get("ylabel").map(|v| v.to_string()),
            row_labels: labels("row_labels"),
            col_labels: labels("col_labels"),
            min: opts.get("min").and_then(as_number),
            max: opts.get("max").and_then(as_number),
        };
        crate::plot::heatmap(&rows, &spec, &target)
            .or_else(|e| fail(format!("plot_heatmap: {}", crate::util::error_chain(&e))))?;
        Ok(target.display().to_string())
    };
    let h = heatmap.clone();
    engine.register_fn("plot_heatmap", move |matrix: Array, path: &str| {
        h(matrix, path, Map::new())
    });
    engine.register_fn("plot_heatmap", heatmap);
}

/// `band: #{ bootstrap: LEVEL, resamples: N, seed: S }`: a percentile bootstrap band at LEVEL
/// (resamples 1,000 and seed 0 unless given), as seaborn's `errorbar=('ci', 68)` draws.
fn bootstrap_band(band: &Map) -> Fallible<(Option<f64>, crate::plot::BandMethod)> {
    const USAGE: &str = "plot: a bootstrap band is #{ bootstrap: 0.68, resamples: 1000, seed: 0 } \
         (a level in (0, 1); resamples at least 1 and seed at least 0, both optional)";
    if let Some(key) = band
        .keys()
        .find(|k| !matches!(k.as_str(), "bootstrap" | "resamples" | "seed"))
    {
        return fail(format!("{USAGE}; unknown key `{key}`"));
    }
    let level = band
        .get("bootstrap")
        .and_then(as_number)
        .ok_or_else(|| HostState::runtime_error(USAGE))?;
    let count = |key: &str, default: rhai::INT| -> Fallible<u64> {
        match band.get(key) {
            None => Ok(default as u64),
            Some(v) => match v.as_int() {
                Ok(n) if n >= 0 && (key == "seed" || n >= 1) => Ok(n as u64),
                _ => fail(format!("{USAGE}; `{key}` is {v}")),
            },
        }
    };
    let method = crate::plot::BandMethod::Bootstrap {
        resamples: count("resamples", 1000)? as usize,
        seed: count("seed", 0)?,
    };
    Ok((Some(level), method))
}

/// `plot(#{kind: "line", …})`'s options as a [`crate::plot::LineSpec`].
fn line_spec(opts: &Map, x: String) -> Fallible<crate::plot::LineSpec> {
    let text = |key: &str| opts.get(key).map(|v| v.to_string());
    let y = match opts.get("y") {
        Some(v) if v.is_array() => v
            .clone()
            .into_array()
            .unwrap_or_default()
            .iter()
            .map(|v| v.to_string())
            .collect(),
        Some(v) => vec![v.to_string()],
        None => return fail("plot: option `y` is required"),
    };
    let (band, band_method) = match opts.get("band") {
        Some(v) if v.is_map() => bootstrap_band(&v.clone().cast::<Map>())?,
        Some(v) => (
            Some(as_number(v).ok_or_else(|| {
                HostState::runtime_error(
                    "plot: `band` must be a confidence level such as 0.68, or \
                     #{ bootstrap: 0.68, resamples: 1000, seed: 0 }",
                )
            })?),
            crate::plot::BandMethod::T,
        ),
        None => (None, crate::plot::BandMethod::T),
    };
    let y_range = match opts.get("ylim") {
        Some(v) => {
            let pair = v
                .clone()
                .into_array()
                .ok()
                .map(|a| numbers(&a, "plot: ylim"))
                .transpose()
                .or_else(fail)?;
            match pair.as_deref() {
                Some([lo, hi]) if lo < hi => Some((*lo, *hi)),
                _ => return fail("plot: `ylim` must be [low, high] with low < high"),
            }
        }
        None => None,
    };
    let facet = match opts.get("facet") {
        None => None,
        Some(v) if v.is_bool() => v
            .as_bool()
            .unwrap_or_default()
            .then_some(crate::plot::Facet::YKeys),
        Some(v) if v.is_string() => Some(crate::plot::Facet::Values(v.to_string())),
        Some(v) => {
            return fail(format!(
                "plot: `facet` must be true (one panel per y key) or a key (one panel per \
                 value), not {}",
                v.type_name()
            ));
        }
    };
    Ok(crate::plot::LineSpec {
        x,
        y,
        group: text("group"),
        band,
        band_method,
        title: text("title"),
        xlabel: text("xlabel"),
        ylabel: text("ylabel"),
        y_range,
        facet,
    })
}

/// `plot(#{kind: "scatter", …})`'s options as a [`crate::plot::ScatterSpec`].
fn scatter_spec(opts: &Map, x: String) -> Fallible<crate::plot::ScatterSpec> {
    let text = |key: &str| opts.get(key).map(|v| v.to_string());
    let y = match opts.get("y") {
        Some(v) if v.is_array() => {
            return fail("plot: a scatter plot takes one `y` key, not a list");
        }
        Some(v) => v.to_string(),
        None => return fail("plot: option `y` is required"),
    };
    let labels = match opts.get("labels") {
        None => true,
        Some(v) => v
            .as_bool()
            .or_else(|_| fail("plot: `labels` must be true or false"))?,
    };
    let max_labels = match opts.get("max_labels") {
        None => crate::plot::DEFAULT_MAX_LABELS,
        Some(v) => match v.as_int() {
            Ok(n) if n >= 0 => n as usize,
            _ => return fail("plot: `max_labels` must be a whole number, 0 or more"),
        },
    };
    Ok(crate::plot::ScatterSpec {
        x,
        y,
        label: text("label").filter(|_| labels),
        group: text("group"),
        max_labels,
        title: text("title"),
        xlabel: text("xlabel"),
        ylabel: text("ylabel"),
    })
}
