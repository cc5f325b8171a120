//! Line plots of records: mean of y per x, one line per (y key, group value), optional
//! confidence bands. The module docs of [`crate::plot`] give the rules.

use super::colors::series_color;
use super::{Picture, PlotError, PlotKind, PlotReport, draw_err, format_number, write_picture};
use crate::stats::{self, StatsError};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::Value;
use std::path::Path;

/// What to draw in a [`line_plot`].
///
/// ```no_run
/// use drift_script::plot::{LineSpec, line_plot, read_jsonl};
/// let records = read_jsonl("selfchat/results.jsonl".as_ref())?;
/// let spec = LineSpec { band: Some(0.68), ..LineSpec::new("turn", ["score", "user_score"]) };
/// let report = line_plot(&records, &spec, "selfchat/stability.png".as_ref())?;
/// if let Some(w) = report.warning() { eprintln!("warning: {w}"); }
/// # Ok::<(), drift_script::plot::PlotError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineSpec {
    /// Key of the x value (must be numeric where present).
    pub x: String,
    /// Keys of the y values; at least one. Each is a line (per group).
    pub y: Vec<String>,
    /// Key whose distinct values split each y into several lines.
    pub group: Option<String>,
    /// Confidence level of the shaded band around each line (e.g. 0.68), by `band_method`.
    pub band: Option<f64>,
    /// How the band is computed: Student-t (the default) or a percentile bootstrap.
    pub band_method: BandMethod,
    /// Title; default "score, user_score by turn".
    pub title: Option<String>,
    /// x axis label; default the x key.
    pub xlabel: Option<String>,
    /// y axis label; default the y keys joined by ", ".
    pub ylabel: Option<String>,
    /// Fixed y axis range; bands are clipped to it (scores in [0, 1] have bands that the t
    /// interval of a few samples would stretch far past the possible values). With panels, it
    /// applies to every panel.
    pub y_range: Option<(f64, f64)>,
    /// Panels stacked one above the other, sharing the x axis; `None` for one chart.
    pub facet: Option<Facet>,
}

/// How the band around each mean is computed ([`LineSpec::band_method`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum BandMethod {
    /// The Student-t interval of the mean ([`stats::ci_t`]).
    #[default]
    T,
    /// The percentile bootstrap interval of the mean ([`stats::ci_bootstrap`]): `resamples`
    /// resamples drawn from a stream seeded with `seed`, the same seed at every point, so a plot
    /// drawn twice is the same plot. What seaborn draws for `errorbar=('ci', 68)` (the paper's
    /// notebook), with 1,000 resamples.
    Bootstrap { resamples: usize, seed: u64 },
}

/// How a faceted line plot is split into panels, stacked top to bottom with one shared x axis
/// (ticks and label under the bottom panel only) and each its own y axis. A line keeps its
/// colour in every panel, and the legend names each line once.
///
/// Panels, rather than a second y axis on the right: two y scales in one chart invite reading
/// a crossing of the lines as meaningful, while the scale of each is arbitrary; stacked panels
/// show each quantity on its own scale and still line up turn by turn.
///
/// ```no_run
/// use drift_script::plot::{Facet, LineSpec, line_plot, read_jsonl};
/// let records = read_jsonl("selfchat/records.jsonl".as_ref())?;
/// // The projection on the assistant axis per turn above, stability per turn below.
/// let spec = LineSpec {
///     band: Some(0.68),
///     facet: Some(Facet::YKeys),
///     ..LineSpec::new("turn", ["projection", "score"])
/// };
/// line_plot(&records, &spec, "selfchat/drift.png".as_ref())?;
/// # Ok::<(), drift_script::plot::PlotError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Facet {
    /// One panel per y key, in the order given, each on its own y range and its y axis labelled
    /// with the key (`ylabel` is not used); lines within a panel are the groups, named by group
    /// alone. Every y key must have data (an error names the one without).
    YKeys,
    /// One panel per distinct value of this record key, in order of first appearance, captioned
    /// `key=value` (records lacking the key form the panel `key=(none)`); each panel draws every
    /// y key (and group) of its records, on one y range shared by all panels so that heights
    /// compare across them. Values whose records have no data make no panel.
    Values(String),
}

/// Panels a faceted plot may have; more would leave each too short to read.
pub const MAX_PANELS: usize = 12;

impl LineSpec {
    /// A spec with the given keys, no grouping, no band and default labels.
    pub fn new<S: Into<String>>(x: impl Into<String>, y: impl IntoIterator<Item = S>) -> Self {
        LineSpec {
            x: x.into(),
            y: y.into_iter().map(Into::into).collect(),
            ..Default::default()
        }
    }
}

/// Draws a line plot of `records` to `path` (`.png` or `.svg`), replacing any file there.
///
/// Errors: a bad extension, an empty key in the spec, a band level outside (0, 1), an x value
/// that is not a number, or no record with a numeric x and any numeric y. Records without the x
/// key, and y values that are not numbers, are skipped and counted in the [`PlotReport`].
pub fn line_plot(records: &[Value], spec: &LineSpec, path: &Path) -> Result<PlotReport, PlotError> {
    super::format_of(path)?; // a wrong extension is reported before any data problem
    let data = prepare(records, spec)?;
    write_picture(&data.picture, path)?;
    Ok(PlotReport {
        path: path.to_path_buf(),
        kind: PlotKind::Line,
        series: data.picture.series.len(),
        panels: data.picture.panels.len(),
        points: data.picture.series.iter().map(|s| s.points.len()).sum(),
        used: data.used,
        skipped: data.skipped,
        non_numeric: data.non_numeric,
        labels: 0,
        unlabelled: 0,
    })
}

/// One point of a series: the mean of the y values at one x, and its interval if any.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Point {
    pub x: f64,
    pub mean: f64,
    pub n: usize,
    pub band: Option<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub name: String,
    pub color: RGBColor,
    pub points: Vec<Point>,
}

/// One chart of a line plot: the series `series` of [`LinePicture::series`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Panel {
    /// Drawn above the chart (faceted plots only).
    pub caption: Option<String>,
    pub ylabel: String,
    pub series: std::ops::Range<usize>,
}

#[derive(Debug)]
pub(crate) struct LinePicture {
    /// Every series of every panel, panel by panel.
    pub series: Vec<Series>,
    /// Top to bottom; one panel holding every series unless faceted.
    pub panels: Vec<Panel>,
    /// Legend entries: each series once unless faceted, each distinct (name, colour) once if so.
    pub legend: Vec<(String, RGBColor)>,
    pub title: String,
    pub xlabel: String,
    /// The band's level and how it was computed, for the note under the legend.
    pub band: Option<(f64, BandMethod)>,
    pub y_range: Option<(f64, f64)>,
    /// Every panel spans the y range of all of them (panels of one quantity, per value of a
    /// key), rather than its own (panels of different quantities, per y key).
    pub shared_y: bool,
}

#[derive(Debug)]
pub(crate) struct Prepared {
    pub picture: LinePicture,
    pub used: usize,
    pub skipped: usize,
    pub non_numeric: usize,
}

/// A JSON number, or a boolean as 0/1.
pub(super) fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// A value for an error message: its JSON text, shortened.
fn show_value(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

/// How a group value appears in a series name.
pub(super) fn show_group(v: &Value) -> String {
    match v {
        Value::Null => "(none)".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn prepare(records: &[Value], spec: &LineSpec) -> Result<Prepared, PlotError> {
    if let Some(Facet::Values(key)) = &spec.facet
        && key.is_empty()
    {
        return Err(PlotError::BadSpec(
            "line plot: the facet key must not be empty".into(),
        ));
    }
    // The whole plot, unfaceted: checks the records, and counts them as a plain plot would.
    let whole = prepare_flat(records, spec)?;
    let Some(facet) = &spec.facet else {
        return Ok(whole);
    };
    let unfaceted = LineSpec {
        facet: None,
        ..spec.clone()
    };
    let mut panels: Vec<(String, String, Vec<Series>)> = Vec::new();
    match facet {
        Facet::YKeys => {
            for y in &spec.y {
                let one = LineSpec {
                    y: vec![y.clone()],
                    ..unfaceted.clone()
                };
                let mut series = prepare_flat(records, &one)?.picture.series;
                if spec.group.is_some() {
                    // The panel names the y key: lines are named by their group alone.
                    let prefix = format!("{y} · ");
                    for s in &mut series {
                        if let Some(rest) = s.name.strip_prefix(&prefix) {
                            s.name = rest.to_string();
                        }
                    }
                }
                panels.push((y.clone(), y.clone(), series));
            }
        }
        Facet::Values(key) => {
            let mut subsets: Vec<(Value, Vec<Value>)> = Vec::new();
            let mut index = std::collections::HashMap::new();
            for record in records {
                let value = record.get(key).unwrap_or(&Value::Null);
                let i = *index.entry(stats::group_key(value)).or_insert_with(|| {
                    subsets.push((value.clone(), Vec::new()));
                    subsets.len() - 1
                });
                subsets[i].1.push(record.clone());
            }
            for (value, subset) in subsets {
                match prepare_flat(&subset, &unfaceted) {
                    Ok(p) => panels.push((
                        format!("{key}={}", show_group(&value)),
                        whole.picture.panels[0].ylabel.clone(),
                        p.picture.series,
                    )),
                    Err(PlotError::NoData { .. }) => {} // e.g. configuration records
                    Err(e) => return Err(e),
                }
            }
        }
    }
    if panels.len() > MAX_PANELS {
        let what = match facet {
            Facet::YKeys => "y keys".to_string(),
            Facet::Values(key) => format!("values of `{key}` with data"),
        };
        return Err(PlotError::BadSpec(format!(
            "line plot: {} panels ({what}); at most {MAX_PANELS} fit one picture",
            panels.len()
        )));
    }
    // One colour per legend name, whichever panels it appears in.
    let mut legend: Vec<(String, RGBColor)> = Vec::new();
    let mut all = Vec::new();
    let mut ranges = Vec::new();
    for (caption, ylabel, series) in panels {
        let start = all.len();
        for mut s in series {
            s.color = match legend.iter().find(|(name, _)| *name == s.name) {
                Some((_, c)) => *c,
                None => {
                    let c = series_color(legend.len());
                    legend.push((s.name.clone(), c));
                    c
                }
            };
            all.push(s);
        }
        ranges.push(Panel {
            caption: Some(caption),
            ylabel,
            series: start..all.len(),
        });
    }
    let picture = LinePicture {
        series: all,
        panels: ranges,
        legend,
        shared_y: matches!(facet, Facet::Values(_)),
        ..whole.picture
    };
    Ok(Prepared { picture, ..whole })
}

/// The plot as one chart (`spec.facet` is not read).
fn prepare_flat(records: &[Value], spec: &LineSpec) -> Result<Prepared, PlotError> {
    if spec.x.is_empty() {
        return Err(PlotError::BadSpec(
            "line plot: the x key must not be empty".into(),
        ));
    }
    if spec.y.is_empty() {
        return Err(PlotError::BadSpec(
            "line plot: name at least one y key".into(),
        ));
    }
    if spec.y.iter().any(String::is_empty) {
        return Err(PlotError::BadSpec(
            "line plot: y keys must not be empty".into(),
        ));
    }
    if spec.group.as_deref() == Some("") {
        return Err(PlotError::BadSpec(
            "line plot: the group key must not be empty".into(),
        ));
    }
    if let Some(level) = spec.band
        && !(level > 0.0 && level < 1.0)
    {
        return Err(StatsError::BadLevel(level).into());
    }

    // Records with an x, in order, with their x as a number.
    let mut with_x: Vec<(f64, &Value)> = Vec::new();
    let mut skipped = 0;
    for (i, record) in records.iter().enumerate() {
        let Some(xv) = record.get(&spec.x) else {
            skipped += 1;
            continue;
        };
        let Some(x) = as_number(xv) else {
            return Err(PlotError::NonNumericX {
                key: spec.x.clone(),
                record: i + 1,
                value: show_value(xv),
            });
        };
        with_x.push((x, record));
    }

    // Groups in order of first appearance among those records (same notion of equal group
    // values as `stats::group_by`), as indices into `with_x`.
    let mut groups: Vec<(Value, Vec<usize>)> = Vec::new();
    match &spec.group {
        None => groups.push((Value::Null, (0..with_x.len()).collect())),
        Some(key) => {
            let mut index = std::collections::HashMap::new();
            for (i, (_, record)) in with_x.iter().enumerate() {
                let value = record.get(key).unwrap_or(&Value::Null);
                let g = *index.entry(stats::group_key(value)).or_insert_with(|| {
                    groups.push((value.clone(), Vec::new()));
                    groups.len() - 1
                });
                groups[g].1.push(i);
            }
        }
    }

    let mut used_flags = vec![false; with_x.len()];
    let mut non_numeric = 0;
    let mut series = Vec::new();
    for y in &spec.y {
        for (group_value, members) in &groups {
            let mut pairs: Vec<(f64, f64)> = Vec::new();
            for &i in members {
                let (x, record) = with_x[i];
                match record.get(y).map(as_number) {
                    None => {} // this record is of another kind: not part of this series
                    Some(Some(yv)) => {
                        pairs.push((x, yv));
                        used_flags[i] = true;
                    }
                    Some(None) => non_numeric += 1,
                }
            }
            if pairs.is_empty() {
                continue;
            }
            let name = match &spec.group {
                None => y.clone(),
                Some(g) => format!("{y} · {g}={}", show_group(group_value)),
            };
            let points = points_of(pairs, spec.band, spec.band_method)?;
            series.push(Series {
                name,
                color: series_color(series.len()),
                points,
            });
        }
    }
    if series.is_empty() {
        return Err(PlotError::NoData {
            x: spec.x.clone(),
            y: spec.y.clone(),
        });
    }
    let used = used_flags.iter().filter(|&&u| u).count();
    skipped += with_x.len() - used;
    let joined = spec.y.join(", ");
    let panels = vec![Panel {
        caption: None,
        ylabel: spec.ylabel.clone().unwrap_or_else(|| joined.clone()),
        series: 0..series.len(),
    }];
    let legend = series.iter().map(|s| (s.name.clone(), s.color)).collect();
    let picture = LinePicture {
        series,
        panels,
        legend,
        title: spec
            .title
            .clone()
            .unwrap_or_else(|| format!("{joined} by {}", spec.x)),
        xlabel: spec.xlabel.clone().unwrap_or_else(|| spec.x.clone()),
        band: spec.band.map(|level| (level, spec.band_method)),
        y_range: spec.y_range,
        shared_y: false,
    };
    Ok(Prepared {
        picture,
        used,
        skipped,
        non_numeric,
    })
}

/// Sorts (x, y) pairs by x and summarizes the y values at each distinct x.
fn points_of(
    mut pairs: Vec<(f64, f64)>,
    band: Option<f64>,
    method: BandMethod,
) -> Result<Vec<Point>, PlotError> {
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut points = Vec::new();
    for run in pairs.chunk_by(|a, b| a.0 == b.0) {
        let ys: Vec<f64> = run.iter().map(|p| p.1).collect();
        let t_level = band.filter(|_| method == BandMethod::T);
        let s = stats::summarize(&ys, t_level)?.expect("finite values only");
        let band = match (band, method) {
            (Some(level), BandMethod::Bootstrap { resamples, seed }) => {
                stats::ci_bootstrap(&ys, level, resamples, seed)?
            }
            _ => s.lo.zip(s.hi),
        };
        points.push(Point {
            x: run[0].0,
            mean: s.mean,
            n: s.n,
            band,
        });
    }
    Ok(points)
}

/// A padded axis range around [lo, hi].
pub(super) fn padded(lo: f64, hi: f64, frac: f64) -> (f64, f64) {
    if hi - lo <= 1e-12 * lo.abs().max(hi.abs()).max(1e-300) {
        let d = if lo.abs() > 0.0 { lo.abs() * 0.1 } else { 1.0 };
        return (lo - d, hi + d);
    }
    let d = (hi - lo) * frac;
    (lo - d, hi + d)
}

const LEGEND_ROW: i32 = 26;

impl Picture for LinePicture {
    fn size(&self) -> (u32, u32) {
        let (w, h) = super::PLOT_SIZE;
        (w, h.max(120 + 220 * self.panels.len() as u32))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let title_font = FontDesc::new(FontFamily::SansSerif, 26.0, FontStyle::Bold);
        let root = root
            .margin(8, 0, 0, 0)
            .titled(&self.title, title_font)
            .map_err(draw_err)?;
        let legend_font: TextStyle = ("sans-serif", 16).into();
        let (w, h) = root.dim_in_pixel();

        // Legend to the right of the chart: it never hides data.
        let note_font: TextStyle = ("sans-serif", 14).into();
        let note = self.band.map(|(level, method)| match method {
            BandMethod::T => format!("bands: {}% CI of the mean", format_number(level * 100.0)),
            BandMethod::Bootstrap { .. } => format!(
                "bands: {}% bootstrap CI of the mean",
                format_number(level * 100.0)
            ),
        });
        let mut text_w = 0u32;
        for (name, _) in &self.legend {
            text_w = text_w.max(
                root.estimate_text_size(name, &legend_font)
                    .map_err(draw_err)?
                    .0
                    + 56,
            );
        }
        if let Some(note) = &note {
            text_w = text_w.max(
                root.estimate_text_size(note, &note_font)
                    .map_err(draw_err)?
                    .0
                    + 6,
            );
        }
        let legend_w = (text_w + 16).clamp(130, w * 2 / 5);
        let (plot_area, legend_area) = root.split_horizontally(w - legend_w);

        // Panels of equal chart height; the bottom one also holds the x axis labels.
        let n = self.panels.len();
        let areas = if n == 1 {
            vec![plot_area]
        } else {
            let (_, ph) = plot_area.dim_in_pixel();
            let each = (ph as i32 - X_LABELS) / n as i32;
            let breaks: Vec<i32> = (1..n as i32).map(|i| i * each).collect();
            plot_area.split_by_breakpoints([] as [i32; 0], breaks)
        };
        let (xmin, xmax) = self.x_extent();
        let integer_x = self
            .series
            .iter()
            .flat_map(|s| &s.points)
            .all(|p| p.x == p.x.round());
        let (x0, x1) = padded(xmin, xmax, 0.04);
        let x_labels = if integer_x && xmax - xmin <= 30.0 {
            (xmax - xmin) as usize + 1
        } else {
            10
        };
        let caption_font = FontDesc::new(FontFamily::SansSerif, 17.0, FontStyle::Bold);
        for (i, (panel, area)) in self.panels.iter().zip(areas).enumerate() {
            let area = match &panel.caption {
                Some(caption) => area
                    .titled(caption, caption_font.clone())
                    .map_err(draw_err)?,
                None => area,
            };
            let bottom = i + 1 == n;
            self.draw_panel(&area, panel, bottom, (x0, x1), x_labels)?;
        }

        // The legend: a swatch (band, line, marker) and the name per line.
        let top = 15 + 10;
        let fits = ((h as i32 - top - 40) / LEGEND_ROW).max(1) as usize;
        let shown = if self.legend.len() > fits {
            fits - 1
        } else {
            self.legend.len()
        };
        let left = legend_font.pos(Pos::new(HPos::Left, VPos::Center));
        for (i, (name, color)) in self.legend.iter().take(shown).enumerate() {
            let y = top + i as i32 * LEGEND_ROW;
            if self.band.is_some() {
                legend_area
                    .draw(&Rectangle::new(
                        [(6, y - 8), (38, y + 8)],
                        color.mix(0.2).filled(),
                    ))
                    .map_err(draw_err)?;
            }
            legend_area
                .draw(&PathElement::new(
                    vec![(6, y), (38, y)],
                    color.stroke_width(2),
                ))
                .map_err(draw_err)?;
            legend_area
                .draw(&Circle::new((22, y), 4, color.filled()))
                .map_err(draw_err)?;
            legend_area
                .draw(&Text::new(name.as_str(), (46, y), left.clone()))
                .map_err(draw_err)?;
        }
        let mut y = top + shown as i32 * LEGEND_ROW;
        if shown < self.legend.len() {
            let more = format!("… {} more", self.legend.len() - shown);
            legend_area
                .draw(&Text::new(more, (46, y), left.clone()))
                .map_err(draw_err)?;
            y += LEGEND_ROW;
        }
        if let Some(note) = note {
            let grey = BLACK.mix(0.7);
            let small = note_font
                .color(&grey)
                .pos(Pos::new(HPos::Left, VPos::Center));
            legend_area
                .draw(&Text::new(note, (6, y + 4), small))
                .map_err(draw_err)?;
        }
        Ok(())
    }
}

/// Height of the x axis labels under the bottom panel.
const X_LABELS: i32 = 55;

impl LinePicture {
    /// One chart: grid, bands, lines and markers of `panel`'s series; x ticks and label only
    /// on the `bottom` panel.
    fn draw_panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        panel: &Panel,
        bottom: bool,
        (x0, x1): (f64, f64),
        x_labels: usize,
    ) -> Result<(), String> {
        let series = &self.series[panel.series.clone()];
        let extent_of = if self.shared_y { &self.series } else { series };
        let (ymin, ymax) = self.y_range.unwrap_or_else(|| y_extent(extent_of));
        let clip = |y: f64| self.y_range.map_or(y, |(lo, hi)| y.clamp(lo, hi));
        let (y0, y1) = padded(ymin, ymax, 0.06);

        let mut chart = ChartBuilder::on(area)
            .margin(15)
            .x_label_area_size(if bottom { X_LABELS as u32 } else { 0 })
            .y_label_area_size(75)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(draw_err)?;
        let mut mesh = chart.configure_mesh();
        if bottom {
            mesh.x_desc(self.xlabel.as_str());
        }
        mesh.y_desc(panel.ylabel.as_str())
            .axis_desc_style(("sans-serif", 19))
            .label_style(("sans-serif", 15))
            .x_labels(x_labels.max(2))
            .y_labels(if self.panels.len() > 2 { 5 } else { 10 })
            .x_label_formatter(&|v| format_number(*v))
            .y_label_formatter(&|v| format_number(*v))
            .bold_line_style(BLACK.mix(0.12))
            .light_line_style(TRANSPARENT)
            .draw()
            .map_err(draw_err)?;

        // Bands first, so every line and marker lies on top of every band.
        for s in series {
            let band_style = s.color.mix(0.2).filled();
            let points: Vec<&Point> = s.points.iter().collect();
            for run in points.chunk_by(|a, b| a.band.is_some() == b.band.is_some()) {
                if run[0].band.is_none() {
                    continue;
                }
                if run.len() == 1 {
                    // A lone interval: an error bar, since an area of zero width is invisible.
                    let (x, (lo, hi)) = (run[0].x, run[0].band.unwrap());
                    let (lo, hi) = (clip(lo), clip(hi));
                    let bar = s.color.mix(0.5).stroke_width(2);
                    chart
                        .draw_series([PathElement::new(vec![(x, lo), (x, hi)], bar)])
                        .map_err(draw_err)?;
                    for y in [lo, hi] {
                        let cap =
                            EmptyElement::at((x, y)) + PathElement::new(vec![(-6, 0), (6, 0)], bar);
                        chart.draw_series([cap]).map_err(draw_err)?;
                    }
                    continue;
                }
                let mut outline: Vec<(f64, f64)> =
                    run.iter().map(|p| (p.x, clip(p.band.unwrap().0))).collect();
                outline.extend(run.iter().rev().map(|p| (p.x, clip(p.band.unwrap().1))));
                chart
                    .draw_series([Polygon::new(outline, band_style)])
                    .map_err(draw_err)?;
            }
        }
        for s in series {
            let line: Vec<(f64, f64)> = s.points.iter().map(|p| (p.x, p.mean)).collect();
            chart
                .draw_series(LineSeries::new(
                    line.iter().copied(),
                    s.color.stroke_width(2),
                ))
                .map_err(draw_err)?;
            chart
                .draw_series(line.iter().map(|&p| Circle::new(p, 4, s.color.filled())))
                .map_err(draw_err)?;
        }

        Ok(())
    }

    fn x_extent(&self) -> (f64, f64) {
        let xs = self.series.iter().flat_map(|s| &s.points).map(|p| p.x);
        xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(x), hi.max(x))
        })
    }
}

/// The range of the means and bands of `series`.
fn y_extent(series: &[Series]) -> (f64, f64) {
    let ys = series.iter().flat_map(|s| &s.points).flat_map(|p| {
        let (lo, hi) = p.band.unwrap_or((p.mean, p.mean));
        [p.mean, lo, hi]
    });
    ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| {
        (lo.min(y), hi.max(y))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(y: &[&str]) -> LineSpec {
        LineSpec::new("turn", y.iter().copied())
    }

    #[test]
    fn means_per_x_sorted_with_bands() {
        let recs = vec![
            json!({"turn": 4, "score": 0.0}),
            json!({"turn": 2, "score": 1.0}),
            json!({"turn": 4, "score": 1.0}),
            json!({"turn": 2, "score": true}),
            json!({"turn": 6, "score": 0.5}),
        ];
        let p = prepare(
            &recs,
            &LineSpec {
                band: Some(0.95),
                ..spec(&["score"])
            },
        )
        .unwrap();
        let s = &p.picture.series[0];
        let xs: Vec<f64> = s.points.iter().map(|p| p.x).collect();
        let means: Vec<f64> = s.points.iter().map(|p| p.mean).collect();
        assert_eq!(xs, [2.0, 4.0, 6.0]);
        assert_eq!(means, [1.0, 0.5, 0.5]);
        // turn 2: identical values → degenerate interval; turn 4: 0.5 ± 12.706·(0.7071/√2);
        // turn 6: one value → no band.
        assert_eq!(s.points[0].band, Some((1.0, 1.0)));
        let (lo, hi) = s.points[1].band.unwrap();
        assert!((hi - 0.5 - 12.7062 * 0.5).abs() < 1e-3 && (0.5 - lo - 12.7062 * 0.5).abs() < 1e-3);
        assert_eq!(s.points[2].band, None);
        assert_eq!((p.used, p.skipped, p.non_numeric), (5, 0, 0));
        assert_eq!(p.picture.title, "score by turn");
    }

    /// A bootstrap band is `stats::ci_bootstrap` of each point's values with the spec's
    /// resamples and seed: the same every time, around the mean, moved by another seed; the
    /// default stays the t band; null scores (paper mode's raising checks) are left out.
    #[test]
    fn bootstrap_bands_are_seeded_percentile_intervals() {
        // Not on a coarse lattice, so another seed moves the band's edges.
        let scores = [0.0, 1.0, 0.13, 0.97, 0.41, 0.77, 1.0, 0.058];
        let mut recs: Vec<Value> = scores
            .iter()
            .map(|s| json!({"turn": 2, "score": s}))
            .collect();
        recs.push(json!({"turn": 2, "score": null}));
        let method = BandMethod::Bootstrap {
            resamples: 1000,
            seed: 0,
        };
        let boot = LineSpec {
            band: Some(0.68),
            band_method: method,
            ..spec(&["score"])
        };
        let p = prepare(&recs, &boot).unwrap();
        let point = &p.picture.series[0].points[0];
        assert_eq!((point.n, p.non_numeric), (8, 1));
        assert_eq!(Some(point.mean), stats::mean(&scores));
        let (lo, hi) = point.band.unwrap();
        assert_eq!(
            Some((lo, hi)),
            stats::ci_bootstrap(&scores, 0.68, 1000, 0).unwrap()
        );
        assert!(lo < point.mean && point.mean < hi, "{lo} {hi}");
        let again = prepare(&recs, &boot).unwrap();
        assert_eq!(again.picture.series[0].points[0].band, Some((lo, hi)));
        let other_seed = LineSpec {
            band_method: BandMethod::Bootstrap {
                resamples: 1000,
                seed: 1,
            },
            ..boot.clone()
        };
        let moved = prepare(&recs, &other_seed).unwrap().picture.series[0].points[0].band;
        assert_eq!(moved, stats::ci_bootstrap(&scores, 0.68, 1000, 1).unwrap());
        assert_ne!(moved, Some((lo, hi)));
        let t = prepare(
            &recs,
            &LineSpec {
                band_method: BandMethod::T,
                ..boot.clone()
            },
        )
        .unwrap();
        assert_eq!(
            t.picture.series[0].points[0].band,
            stats::ci_t(&scores, 0.68).unwrap()
        );
        assert_eq!(p.picture.band, Some((0.68, method)));
    }

    #[test]
    fn series_per_y_and_group_in_first_appearance_order() {
        let recs = vec![
            json!({"turn": 2, "score": 1, "u": 0, "method": "split"}),
            json!({"turn": 2, "score": 0, "method": "base"}),
            json!({"turn": 4, "score": 1, "u": 1}),
            json!({"turn": 4, "score": "n/a", "u": null, "method": "base"}),
            json!({"other": 1}),
        ];
        let p = prepare(
            &recs,
            &LineSpec {
                group: Some("method".into()),
                ..spec(&["score", "u"])
            },
        )
        .unwrap();
        let names: Vec<&str> = p.picture.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "score · method=split",
                "score · method=base",
                "score · method=(none)",
                "u · method=split",
                "u · method=(none)"
            ]
        );
        // Record 4 has neither a numeric score nor u; record 5 has no turn.
        assert_eq!((p.used, p.skipped, p.non_numeric), (3, 2, 2));
        let colors: std::collections::HashSet<_> =
            p.picture.series.iter().map(|s| s.color).collect();
        assert_eq!(colors.len(), 5);
    }

    #[test]
    fn bad_inputs() {
        let recs = vec![
            json!({"turn": 2, "score": 1}),
            json!({"turn": "three", "score": 1}),
        ];
        let err = prepare(&recs, &spec(&["score"])).unwrap_err().to_string();
        assert_eq!(
            err,
            "x key `turn` must hold numbers, but record 2 has \"three\""
        );
        let err = prepare(&recs[..1], &spec(&["missing"]))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "no records have numeric `turn` and `missing`");
        let err = prepare(
            &recs[..1],
            &LineSpec {
                band: Some(1.5),
                ..spec(&["score"])
            },
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "confidence level must be between 0 and 1 (exclusive), got 1.5"
        );
        assert!(prepare(&recs[..1], &spec(&[])).is_err());
    }

    /// Renders into an in-memory bitmap and checks that the pieces are really there.
    #[test]
    fn bitmap_shows_lines_bands_markers_and_text() {
        let mut recs = Vec::new();
        for pair in 0..6 {
            for turn in [2, 4, 6, 8] {
                let score = 0.8 - 0.06 * turn as f64 + 0.05 * (pair % 3) as f64;
                recs.push(
                    json!({"turn": turn, "score": score, "user_score": 0.1 + 0.02 * turn as f64}),
                );
            }
        }
        let p = prepare(
            &recs,
            &LineSpec {
                band: Some(0.68),
                ..spec(&["score", "user_score"])
            },
        )
        .unwrap();
        super::super::ensure_fonts().unwrap();
        let (w, h) = super::super::PLOT_SIZE;
        let mut buf = vec![0u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
            root.fill(&WHITE).unwrap();
            p.picture.draw(&root).unwrap();
            root.present().unwrap();
        }
        let px = |x: u32, y: u32| {
            let i = ((y * w + x) * 3) as usize;
            (buf[i], buf[i + 1], buf[i + 2])
        };
        let count = |f: &dyn Fn((u8, u8, u8)) -> bool, x0: u32, x1: u32, y0: u32, y1: u32| {
            (y0..y1)
                .flat_map(|y| (x0..x1).map(move |x| (x, y)))
                .filter(|&(x, y)| f(px(x, y)))
                .count()
        };
        let blue = series_color(0);
        let orange = series_color(1);
        let exact = |c: RGBColor| move |p: (u8, u8, u8)| p == (c.0, c.1, c.2);
        // Lines and markers in the series colours.
        assert!(count(&exact(blue), 0, w, 0, h) > 1500);
        assert!(count(&exact(orange), 0, w, 0, h) > 1500);
        // The blue band: 20% blue over white = (210, 228, 240) give or take rounding.
        let pale_blue = |p: (u8, u8, u8)| {
            (p.0 as i32 - 210).abs() <= 2
                && (p.1 as i32 - 228).abs() <= 2
                && (p.2 as i32 - 240).abs() <= 2
        };
        assert!(count(&pale_blue, 0, w, 0, h) > 3000, "no visible band");
        // Dark text: title band at the top, legend at the right, axis labels at the bottom.
        let dark = |p: (u8, u8, u8)| p.0 < 90 && p.1 < 90 && p.2 < 90;
        assert!(count(&dark, 300, 700, 0, 35) > 200, "no title");
        assert!(count(&dark, w - 200, w, 30, 120) > 100, "no legend text");
        assert!(count(&dark, 100, w - 250, h - 60, h) > 100, "no x labels");
    }
}
