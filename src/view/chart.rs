//! The stability-per-turn chart, drawn from the probe records as inline SVG: the mean `score`
//! (and `user_score`) per turn, one line per setting, each point a link to that turn's answers
//! (`#turn=T`, with `&setting=S` where the run has settings).

use super::data::Run;
use super::escape;
use std::collections::BTreeMap;
use std::fmt::Write;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;
const COLORS: &[&str] = &[
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
];

struct Series {
    label: String,
    setting: Option<String>,
    dashed: bool,
    color: &'static str,
    /// turn → (sum, n)
    points: BTreeMap<i64, (f64, usize)>,
}

/// The chart, or `None` when no probe record has a numeric turn and score.
pub(super) fn stability_svg(run: &Run) -> Option<String> {
    let mut settings: Vec<Option<String>> = Vec::new();
    for unit in &run.units {
        if !unit.probes.is_empty() && !settings.contains(&unit.setting) {
            settings.push(unit.setting.clone());
        }
    }
    let mut series = Vec::new();
    for (i, setting) in settings.iter().enumerate() {
        for (field, dashed) in [("score", false), ("user_score", true)] {
            let mut points: BTreeMap<i64, (f64, usize)> = BTreeMap::new();
            for unit in run.units.iter().filter(|u| &u.setting == setting) {
                for probe in &unit.probes {
                    let (Some(turn), Some(value)) = (
                        probe["turn"].as_f64().filter(|t| t.fract() == 0.0),
                        probe[field].as_f64(),
                    ) else {
                        continue;
                    };
                    let entry = points.entry(turn as i64).or_insert((0.0, 0));
                    entry.0 += value;
                    entry.1 += 1;
                }
            }
            if points.is_empty() {
                continue;
            }
            let what = if dashed { "user persona" } else { "stability" };
            series.push(Series {
                label: match setting {
                    Some(s) => format!("{s}: {what}"),
                    None => what.to_string(),
                },
                setting: setting.clone(),
                dashed,
                color: COLORS[(2 * i + usize::from(dashed)) % COLORS.len()],
                points,
            });
        }
    }
    if series.is_empty() {
        return None;
    }
    let turns: Vec<i64> = series
        .iter()
        .flat_map(|s| s.points.keys().copied())
        .collect();
    let (t0, t1) = (
        *turns.iter().min().unwrap() as f64,
        *turns.iter().max().unwrap() as f64,
    );
    let means = series
        .iter()
        .flat_map(|s| s.points.values().map(|(sum, n)| sum / *n as f64));
    let (mut y0, mut y1) = (0.0f64, 1.0f64);
    for m in means {
        y0 = y0.min(m);
        y1 = y1.max(m);
    }
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |t: f64| {
        if t1 > t0 {
            LEFT + (t - t0) / (t1 - t0) * plot_w
        } else {
            LEFT + plot_w / 2.0
        }
    };
    let y = |v: f64| TOP + (y1 - v) / (y1 - y0) * plot_h;

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg id="stability-chart" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="mean score per turn; each point links to its answers">"#
    );
    // Axes, grid and ticks.
    for k in 0..=4 {
        let v = y0 + (y1 - y0) * f64::from(k) / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end" class="tick">{v:.2}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            y(v) + 4.0,
            yy = y(v),
        );
    }
    let mut ticks: Vec<i64> = turns.clone();
    ticks.sort_unstable();
    ticks.dedup();
    for t in &ticks {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="tick">{t}</text>"#,
            x(*t as f64),
            TOP + plot_h + 16.0
        );
    }
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{:.1}" stroke="#888"/><line x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#888"/><text x="{:.1}" y="{:.1}" text-anchor="middle" class="axis">turn</text>"##,
        TOP + plot_h,
        LEFT + plot_w,
        TOP + plot_h,
        TOP + plot_h,
        LEFT + plot_w / 2.0,
        HEIGHT - 6.0
    );
    for (i, s) in series.iter().enumerate() {
        let path: Vec<String> = s
            .points
            .iter()
            .map(|(t, (sum, n))| format!("{:.1},{:.1}", x(*t as f64), y(sum / *n as f64)))
            .collect();
        let dash = if s.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{}" stroke-width="2"{dash} points="{}"/>"#,
            s.color,
            path.join(" ")
        );
        for (t, (sum, n)) in &s.points {
            let mean = sum / *n as f64;
            let mut href = format!("#turn={t}");
            if let Some(setting) = &s.setting {
                href += &format!("&setting={}", percent_encode(setting));
            }
            let _ = write!(
                svg,
                r#"<a href="{}" class="point"><title>{}, turn {t}: mean {mean:.3} over {n} answer(s); click for the answers</title><circle cx="{:.1}" cy="{:.1}" r="5" fill="{}"/></a>"#,
                escape(&href),
                escape(&s.label),
                x(*t as f64),
                y(mean),
                s.color
            );
        }
        let ly = TOP + 10.0 + 18.0 * i as f64;
        let lx = LEFT + plot_w + 14.0;
        let _ = write!(
            svg,
            r#"<line x1="{lx:.1}" x2="{:.1}" y1="{ly:.1}" y2="{ly:.1}" stroke="{}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}" class="legend">{}</text>"#,
            lx + 22.0,
            s.color,
            lx + 28.0,
            ly + 4.0,
            escape(&s.label)
        );
    }
    svg.push_str("</svg>");
    Some(svg)
}

/// Percent-encodes all but unreserved characters, for a value in the URL fragment.
pub(super) fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}
