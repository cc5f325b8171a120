//! Registers plots: `plot` (line plots) and `plot_heatmap`. No experiment logic here: check and
//! convert the options, call `crate::plot`, return the file's path.

use super::{Fallible, fail};
use crate::script::HostState;
use crate::script::convert::{as_number, numbers, to_json};
use crate::script::sandbox::Access;
use rhai::{Array, Engine, Map};
use std::sync::Arc;

const LINE_OPTIONS: &[&str] = &[
    "kind", "x", "y", "group", "band", "title", "xlabel", "ylabel", "ylim", "data",
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
        if let Some(bad) = opts.keys().find(|k| !LINE_OPTIONS.contains(&k.as_str())) {
            return fail(format!(
                "plot: unknown option `{bad}` (valid: {})",
                LINE_OPTIONS.join(", ")
            ));
        }
        match text("kind").as_deref() {
            None | Some("line") => {}
            Some(other) => {
                return fail(format!(
                    "plot: unknown kind `{other}` (valid: line; heatmaps use plot_heatmap)"
                ));
            }
        }
        let x =
            text("x").ok_or_else(|| HostState::runtime_error("plot: option `x` is required"))?;
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
        let band = match opts.get("band") {
            Some(v) => Some(as_number(v).ok_or_else(|| {
                HostState::runtime_error("plot: `band` must be a confidence level such as 0.68")
            })?),
            None => None,
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
        let spec = crate::plot::LineSpec {
            x,
            y,
            group: text("group"),
            band,
            title: text("title"),
            xlabel: text("xlabel"),
            ylabel: text("ylabel"),
            y_range,
        };
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
        crate::plot::line_plot(&records, &spec, &target)
            .or_else(|e| fail(format!("plot: {}", crate::util::error_chain(&e))))?;
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
