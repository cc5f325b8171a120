//! The HTML page: static parts (configuration, pictures, the chart) written here, escaped; the
//! units and tables rendered by `page.js` from the JSON blob, through `textContent` only.

use super::data::{Picture, Run, scalar_text};
use super::{base64, chart, escape};
use serde_json::Value;
use std::fmt::Write;

const CSS: &str = include_str!("page.css");
const JS: &str = include_str!("page.js");

pub(super) fn render(run: &Run) -> String {
    let name = run
        .dir
        .canonicalize()
        .unwrap_or_else(|_| run.dir.clone())
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| run.dir.display().to_string());
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"icon\" href=\"data:,\"><title>{} · drift-script view</title><style>{CSS}</style></head>\n<body>\n",
        escape(&name)
    );
    let _ = writeln!(
        html,
        "<header><h1>{}</h1><p class=\"sub\">drift-script run · {}</p></header>",
        escape(&name),
        escape(&run.dir.display().to_string())
    );
    html += &configuration(run);
    html += &pictures(run);
    html += "<section id=\"browse\"><h2>Conversations and probe answers</h2>\
        <form id=\"filters\" onsubmit=\"return false\">\
        <label>agent <select id=\"f-agent\"><option value=\"\">all</option></select></label>\
        <label>user <select id=\"f-user\"><option value=\"\">all</option></select></label>\
        <label id=\"l-setting\">setting <select id=\"f-setting\"><option value=\"\">all</option></select></label>\
        <label>turn <select id=\"f-turn\"><option value=\"\">all</option></select></label>\
        <label>score from <input id=\"f-min\" type=\"number\" min=\"0\" max=\"1\" step=\"0.05\" placeholder=\"0\"></label>\
        <label>to <input id=\"f-max\" type=\"number\" min=\"0\" max=\"1\" step=\"0.05\" placeholder=\"1\"></label>\
        <a href=\"#\" id=\"f-reset\">show all</a> <span id=\"shown\"></span></form>\
        <p class=\"legend\">Answers are coloured by score: <span class=\"swatch\" style=\"background:hsl(0,70%,88%)\">0</span>\
        <span class=\"swatch\" style=\"background:hsl(60,70%,88%)\">0.5</span>\
        <span class=\"swatch\" style=\"background:hsl(120,70%,88%)\">1</span>\
        <span class=\"swatch none\">no score</span>; a unit's bubbles are drawn when it is scrolled to.</p>\
        <div id=\"units\"></div></section>\n<section id=\"tables\"></section>\n";
    // `<` never appears in JSON outside strings, so this keeps `</script>` and `<!--` out of
    // the blob without changing what JSON.parse reads.
    let blob = run.blob().to_string().replace('<', "\\u003c");
    let _ = write!(
        html,
        "<script type=\"application/json\" id=\"data\">{blob}</script>\n<script>{JS}</script>\n</body></html>\n"
    );
    html
}

fn configuration(run: &Run) -> String {
    let config = run.run_json.as_ref().or(run.meta_run.as_ref());
    let get = |key: &str| config.and_then(|c| c.get(key));
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut add = |label: &str, value: String| rows.push((label.to_string(), value));
    if let Some(script) = get("script") {
        let mut text = escape(&scalar_text(script));
        if let Some(sha) = get("script_sha256") {
            let _ = write!(
                text,
                " <span class=\"hash\">sha256 {}</span>",
                escape(&scalar_text(sha))
            );
        }
        add("script", text);
    }
    if let Some(model) = get("model") {
        add("model (as asked)", escape(&scalar_text(model)));
    }
    for (model, n) in &run.models {
        let field = |k: &str| model.get(k).map(scalar_text).unwrap_or_default();
        let mut text = format!(
            "<b>{}</b> ({})",
            escape(&field("name")),
            escape(&field("backend"))
        );
        if let Some(served) = model.get("served_model") {
            let _ = write!(text, ", served as {}", escape(&scalar_text(served)));
        }
        if model.get("sha256").is_some_and(|s| !s.is_null()) {
            let _ = write!(
                text,
                " <span class=\"hash\">sha256 {}</span>",
                escape(&field("sha256"))
            );
        }
        if run.models.len() > 1 {
            let _ = write!(text, " · {n} record(s)");
        }
        add("model", text);
    }
    if let Some(seed) = get("seed") {
        add("seed", escape(&scalar_text(seed)));
    }
    if let Some(Value::Object(params)) = get("params") {
        let list: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("<code>{}={}</code>", escape(k), escape(&scalar_text(v))))
            .collect();
        add(
            "parameters",
            if list.is_empty() {
                "(defaults)".into()
            } else {
                list.join(" ")
            },
        );
    }
    for (sampling, n) in &run.samplings {
        let mut plain = sampling.clone();
        let intervention = plain.as_object_mut().and_then(|o| o.remove("intervention"));
        let list: Vec<String> = match &plain {
            Value::Object(o) => o
                .iter()
                .map(|(k, v)| format!("{}={}", escape(k), escape(&scalar_text(v))))
                .collect(),
            other => vec![escape(&scalar_text(other))],
        };
        let count = if run.samplings.len() > 1 {
            format!(" · {n} record(s)")
        } else {
            String::new()
        };
        add(
            "sampling",
            format!("<code>{}</code>{count}", list.join(", ")),
        );
        add(
            "intervention",
            match intervention {
                Some(i) => format!("<code>{}</code>{count}", escape(&i.to_string())),
                None => format!("none{count}"),
            },
        );
    }
    if let Some(version) = get("drift_script_version") {
        add("drift-script", escape(&scalar_text(version)));
    }
    // Anything else run.json holds (completion, shard), as JSON.
    if let Some(Value::Object(all)) = config {
        for (key, value) in all {
            let known = [
                "script",
                "script_sha256",
                "model",
                "seed",
                "params",
                "drift_script_version",
            ];
            if !known.contains(&key.as_str()) {
                add(key, format!("<code>{}</code>", escape(&value.to_string())));
            }
        }
    }
    if run.run_json.is_none() {
        add(
            "run.json",
            "missing (configuration taken from the records)".into(),
        );
    }
    let answers: usize = run.units.iter().map(|u| u.probes.len()).sum();
    add(
        "records",
        format!(
            "{} · {} conversation unit(s) · {answers} probe answer(s){}",
            run.record_count,
            run.units.len(),
            if run.tables.is_empty() {
                String::new()
            } else {
                let kinds: Vec<String> = run.tables.iter().map(|t| escape(&t.kind)).collect();
                format!(" · other kinds: {}", kinds.join(", "))
            }
        ),
    );
    let mut html =
        String::from("<section id=\"config\"><h2>Configuration and model</h2><table class=\"kv\">");
    for (label, value) in rows {
        let _ = write!(html, "<tr><th>{}</th><td>{value}</td></tr>", escape(&label));
    }
    html += "</table></section>\n";
    html
}

fn pictures(run: &Run) -> String {
    let chart = chart::stability_svg(run);
    if chart.is_none() && run.plots.is_empty() {
        return String::new();
    }
    let mut html = String::from("<section id=\"plots\"><h2>Plots</h2>");
    if let Some(svg) = chart {
        html += "<figure class=\"chart-box\">";
        html += &svg;
        html += "<figcaption>Mean score per turn over all units (solid: the agent's persona, \
                 dashed: the user's). Click a point for that turn's answers.</figcaption></figure>";
    }
    for plot in &run.plots {
        let _ = write!(html, "<figure class=\"picture\">");
        match &plot.picture {
            Picture::Png(bytes) => {
                let _ = write!(
                    html,
                    "<img alt=\"{}\" src=\"data:image/png;base64,{}\">",
                    escape(&plot.name),
                    base64(bytes)
                );
            }
            Picture::Svg(text) => html += &svg_inline(text, &plot.name),
        }
        let _ = write!(
            html,
            "<figcaption>{}</figcaption></figure>",
            escape(&plot.name)
        );
    }
    html += "</section>\n";
    html
}

/// An SVG file inline, without its XML prologue. One that could run code (a script, event
/// handlers, foreign content) is shown as an image instead, where browsers run none of it.
fn svg_inline(text: &str, name: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let start = lower.find("<svg");
    let risky = lower.contains("<script") || lower.contains("foreignobject") || has_handler(&lower);
    match start {
        Some(start) if !risky => text[start..].to_string(),
        _ => format!(
            "<img alt=\"{}\" src=\"data:image/svg+xml;base64,{}\">",
            escape(name),
            base64(text.as_bytes())
        ),
    }
}

/// Whether the text has an attribute like ` onload=` (an event handler).
fn has_handler(lower: &str) -> bool {
    static HANDLER: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"[\s"'/]on[a-z]+\s*="#).expect("a valid pattern")
    });
    HANDLER.is_match(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svgs_go_inline_without_their_prologue_unless_they_could_run_code() {
        let plain =
            "<?xml version=\"1.0\"?>\n<svg width=\"10\"><text font=\"x\">x = 1</text></svg>";
        assert_eq!(
            svg_inline(plain, "a.svg"),
            "<svg width=\"10\"><text font=\"x\">x = 1</text></svg>"
        );
        for risky in [
            "<svg><script>alert(1)</script></svg>",
            "<svg onload = \"alert(1)\"></svg>",
            "<svg\n\tonclick=\"alert(1)\"></svg>",
            "<svg><foreignObject><div/></foreignObject></svg>",
        ] {
            let html = svg_inline(risky, "b\".svg");
            assert!(
                html.starts_with("<img alt=\"b&quot;.svg\" src=\"data:image/svg+xml;base64,"),
                "{html}"
            );
        }
    }
}
