//! Scatter plots of records: one point per record at (x, y), coloured by group, with an optional
//! text label beside each point (roles on the first two principal components of persona space).
//!
//! - A record is a point when it holds both keys and both values are numbers (booleans read as
//!   0/1, as in line plots). A record lacking either key is another kind of record and is
//!   skipped; one holding a key whose value is not a number (a string, `null`) is skipped and
//!   each such value counted in [`PlotReport::non_numeric`]. Unlike a line plot's x, a bad x is
//!   not an error: both axes play the same part here.
//! - A `label` or `group` key that no point holds is an error (a misspelt key would otherwise
//!   draw a plot without labels or with one group, silently).
//! - Both axes span the data with a 6% margin on each side, negative values like positive ones;
//!   a thin line marks x = 0 and y = 0 where they fall inside (principal components are centred).
//! - Labels are small (11 px) and placed greedily, points far from the middle of the picture
//!   first (in persona space those are the roles worth reading): right of the point, else left,
//!   above, below or on a diagonal, wherever the label covers no other label and no point and
//!   stays inside the chart. A label with no free place is left out and counted in
//!   [`PlotReport::unlabelled`], as is every label past `max_labels`; a blob of overlapping text
//!   would tell the reader nothing.

use super::colors::series_color;
use super::line::{as_number, padded, show_group};
use super::{Picture, PlotError, PlotKind, PlotReport, draw_err, format_number, write_picture};
use crate::stats;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::Value;
use std::path::Path;

/// Labels drawn at most, unless a spec says otherwise: persona-space plots label 50–300 roles.
pub const DEFAULT_MAX_LABELS: usize = 300;

/// What to draw in a [`scatter_plot`].
///
/// ```no_run
/// use drift_script::plot::{ScatterSpec, read_jsonl, scatter_plot};
/// let records = read_jsonl("selfchat/roles.jsonl".as_ref())?;
/// let spec = ScatterSpec {
///     label: Some("role".into()),
///     group: Some("family".into()),
///     title: Some("Roles on PC1/PC2".into()),
///     ..ScatterSpec::new("pc1", "pc2")
/// };
/// let report = scatter_plot(&records, &spec, "selfchat/roles.png".as_ref())?;
/// if let Some(w) = report.warning() { eprintln!("warning: {w}"); }
/// # Ok::<(), drift_script::plot::PlotError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ScatterSpec {
    /// Key of the x value.
    pub x: String,
    /// Key of the y value.
    pub y: String,
    /// Key of the text drawn beside each point (strings as they are, other values as JSON);
    /// `None` for no labels. A point whose record lacks the key, or holds `null`, has none.
    pub label: Option<String>,
    /// Key whose distinct values colour the points, with a legend; records lacking it form the
    /// group `(none)`.
    pub group: Option<String>,
    /// Labels drawn at most; the rest are left out and counted. Default [`DEFAULT_MAX_LABELS`].
    pub max_labels: usize,
    /// Title; default "y by x".
    pub title: Option<String>,
    /// x axis label; default the x key.
    pub xlabel: Option<String>,
    /// y axis label; default the y key.
    pub ylabel: Option<String>,
}

impl Default for ScatterSpec {
    fn default() -> Self {
        ScatterSpec {
            x: String::new(),
            y: String::new(),
            label: None,
            group: None,
            max_labels: DEFAULT_MAX_LABELS,
            title: None,
            xlabel: None,
            ylabel: None,
        }
    }
}

impl ScatterSpec {
    /// A spec with the given keys, no labels, no groups and default axis labels.
    pub fn new(x: impl Into<String>, y: impl Into<String>) -> Self {
        ScatterSpec {
            x: x.into(),
            y: y.into(),
            ..Default::default()
        }
    }
}

/// Draws a scatter plot of `records` to `path` (`.png` or `.svg`), replacing any file there.
///
/// Errors: a bad extension, an empty key in the spec, no record with numeric x and y, or a
/// `label`/`group` key that no point holds. Records without the keys and values that are not
/// numbers are skipped and counted in the [`PlotReport`], as are labels left out.
pub fn scatter_plot(
    records: &[Value],
    spec: &ScatterSpec,
    path: &Path,
) -> Result<PlotReport, PlotError> {
    super::format_of(path)?; // a wrong extension is reported before any data problem
    let data = prepare(records, spec)?;
    let placed = std::cell::Cell::new((0, 0));
    let picture = Drawn {
        picture: &data.picture,
        placed: &placed,
    };
    write_picture(&picture, path)?;
    let (labels, unlabelled) = placed.get();
    Ok(PlotReport {
        path: path.to_path_buf(),
        kind: PlotKind::Scatter,
        series: data.picture.groups.len(),
        panels: 1,
        points: data.picture.points.len(),
        used: data.picture.points.len(),
        skipped: data.skipped,
        non_numeric: data.non_numeric,
        labels,
        unlabelled,
    })
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScatterPoint {
    pub x: f64,
    pub y: f64,
    /// Index into [`ScatterPicture::groups`].
    pub group: usize,
    pub label: Option<String>,
}

#[derive(Debug)]
pub(crate) struct ScatterPicture {
    pub points: Vec<ScatterPoint>,
    /// Legend names (`family=character`), in order of first appearance; one unnamed group
    /// without a `group` key.
    pub groups: Vec<String>,
    pub has_legend: bool,
    pub title: String,
    pub xlabel: String,
    pub ylabel: String,
    pub max_labels: usize,
}

#[derive(Debug)]
pub(crate) struct Prepared {
    pub picture: ScatterPicture,
    pub skipped: usize,
    pub non_numeric: usize,
}

fn bad(message: impl Into<String>) -> PlotError {
    PlotError::BadSpec(format!("scatter plot: {}", message.into()))
}

pub(crate) fn prepare(records: &[Value], spec: &ScatterSpec) -> Result<Prepared, PlotError> {
    if spec.x.is_empty() || spec.y.is_empty() {
        return Err(bad("the x and y keys must not be empty"));
    }
    if spec.label.as_deref() == Some("") {
        return Err(bad("the label key must not be empty"));
    }
    if spec.group.as_deref() == Some("") {
        return Err(bad("the group key must not be empty"));
    }
    let mut points = Vec::new();
    let mut groups: Vec<String> = Vec::new();
    let mut group_index = std::collections::HashMap::new();
    let (mut skipped, mut non_numeric) = (0, 0);
    let (mut any_label, mut any_group) = (false, false);
    for record in records {
        let (Some(xv), Some(yv)) = (record.get(&spec.x), record.get(&spec.y)) else {
            skipped += 1;
            continue;
        };
        let (x, y) = (as_number(xv), as_number(yv));
        let (Some(x), Some(y)) = (x, y) else {
            non_numeric += usize::from(x.is_none()) + usize::from(y.is_none());
            skipped += 1;
            continue;
        };
        let group = match &spec.group {
            None => 0,
            Some(key) => {
                let value = record.get(key);
                any_group |= value.is_some();
                let value = value.unwrap_or(&Value::Null);
                *group_index
                    .entry(stats::group_key(value))
                    .or_insert_with(|| {
                        groups.push(format!("{key}={}", show_group(value)));
                        groups.len() - 1
                    })
            }
        };
        let label = spec.label.as_ref().and_then(|key| {
            let value = record.get(key);
            any_label |= value.is_some();
            match value? {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            }
        });
        points.push(ScatterPoint { x, y, group, label });
    }
    if points.is_empty() {
        return Err(PlotError::NoData {
            x: spec.x.clone(),
            y: vec![spec.y.clone()],
        });
    }
    let missing = |key: &Option<String>, what: &str| {
        bad(format!(
            "no record with numeric `{}` and `{}` has the {what} key `{}`",
            spec.x,
            spec.y,
            key.as_deref().unwrap_or_default()
        ))
    };
    if spec.label.is_some() && !any_label {
        return Err(missing(&spec.label, "label"));
    }
    if spec.group.is_some() && !any_group {
        return Err(missing(&spec.group, "group"));
    }
    if spec.group.is_none() {
        groups.push(String::new());
    }
    let picture = ScatterPicture {
        points,
        groups,
        has_legend: spec.group.is_some(),
        title: spec
            .title
            .clone()
            .unwrap_or_else(|| format!("{} by {}", spec.y, spec.x)),
        xlabel: spec.xlabel.clone().unwrap_or_else(|| spec.x.clone()),
        ylabel: spec.ylabel.clone().unwrap_or_else(|| spec.y.clone()),
        max_labels: spec.max_labels,
    };
    Ok(Prepared {
        picture,
        skipped,
        non_numeric,
    })
}

/// A scatter picture and where drawing it records (labels drawn, labels left out). Label
/// placement depends on text sizes, which only the backend knows, so it is counted while drawing.
struct Drawn<'a> {
    picture: &'a ScatterPicture,
    placed: &'a std::cell::Cell<(usize, usize)>,
}

impl Picture for Drawn<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let counts = self.picture.draw_counting(root)?;
        self.placed.set(counts);
        Ok(())
    }
}

const MARKER: i32 = 4;
const LABEL_SIZE: f64 = 11.0;
const LEGEND_ROW: i32 = 26;

/// An axis-aligned box in pixels: left, top, right, bottom.
#[derive(Clone, Copy)]
struct Boxed(i32, i32, i32, i32);

impl Boxed {
    fn overlaps(&self, o: &Boxed) -> bool {
        self.0 < o.2 && o.0 < self.2 && self.1 < o.3 && o.1 < self.3
    }
}

impl ScatterPicture {
    /// Draws the picture; returns (labels drawn, labels left out).
    fn draw_counting<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(usize, usize), String> {
        let title_font = FontDesc::new(FontFamily::SansSerif, 26.0, FontStyle::Bold);
        let root = root
            .margin(8, 0, 0, 0)
            .titled(&self.title, title_font)
            .map_err(draw_err)?;
        let legend_font: TextStyle = ("sans-serif", 16).into();
        let (w, h) = root.dim_in_pixel();
        let (plot_area, legend_area) = if self.has_legend {
            let mut text_w = 0u32;
            for name in &self.groups {
                let size = root
                    .estimate_text_size(name, &legend_font)
                    .map_err(draw_err)?;
                text_w = text_w.max(size.0 + 34);
            }
            let legend_w = (text_w + 16).clamp(130, w * 2 / 5);
            let (a, b) = root.split_horizontally(w - legend_w);
            (a, Some(b))
        } else {
            (root.clone(), None)
        };

        let fold = |f: fn(&ScatterPoint) -> f64| {
            self.points
                .iter()
                .map(f)
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                    (lo.min(v), hi.max(v))
                })
        };
        let (xmin, xmax) = fold(|p| p.x);
        let (ymin, ymax) = fold(|p| p.y);
        let (x0, x1) = padded(xmin, xmax, 0.06);
        let (y0, y1) = padded(ymin, ymax, 0.06);
        let mut chart = ChartBuilder::on(&plot_area)
            .margin(15)
            .x_label_area_size(55)
            .y_label_area_size(75)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc(self.xlabel.as_str())
            .y_desc(self.ylabel.as_str())
            .axis_desc_style(("sans-serif", 19))
            .label_style(("sans-serif", 15))
            .x_labels(10)
            .y_labels(10)
            .x_label_formatter(&|v| format_number(*v))
            .y_label_formatter(&|v| format_number(*v))
            .bold_line_style(BLACK.mix(0.12))
            .light_line_style(TRANSPARENT)
            .draw()
            .map_err(draw_err)?;
        // The origin, where it is in view: principal components are centred on it.
        let axis_style = BLACK.mix(0.45).stroke_width(1);
        if x0 < 0.0 && 0.0 < x1 {
            chart
                .draw_series([PathElement::new(vec![(0.0, y0), (0.0, y1)], axis_style)])
                .map_err(draw_err)?;
        }
        if y0 < 0.0 && 0.0 < y1 {
            chart
                .draw_series([PathElement::new(vec![(x0, 0.0), (x1, 0.0)], axis_style)])
                .map_err(draw_err)?;
        }

        for p in &self.points {
            let color = series_color(p.group);
            chart
                .draw_series([Circle::new((p.x, p.y), MARKER as u32, color.filled())])
                .map_err(draw_err)?;
        }
        let counts = self.draw_labels(&chart)?;

        if let Some(legend) = legend_area {
            let top = 15 + 10;
            let fits = ((h as i32 - top - 40) / LEGEND_ROW).max(1) as usize;
            let shown = if self.groups.len() > fits {
                fits - 1
            } else {
                self.groups.len()
            };
            let left = legend_font.pos(Pos::new(HPos::Left, VPos::Center));
            for (i, name) in self.groups.iter().take(shown).enumerate() {
                let y = top + i as i32 * LEGEND_ROW;
                legend
                    .draw(&Circle::new((16, y), 5, series_color(i).filled()))
                    .map_err(draw_err)?;
                legend
                    .draw(&Text::new(name.as_str(), (30, y), left.clone()))
                    .map_err(draw_err)?;
            }
            if shown < self.groups.len() {
                let more = format!("… {} more", self.groups.len() - shown);
                let y = top + shown as i32 * LEGEND_ROW;
                legend
                    .draw(&Text::new(more, (30, y), left.clone()))
                    .map_err(draw_err)?;
            }
        }
        Ok(counts)
    }

    /// Places and draws the labels (see the module docs); returns (drawn, left out).
    fn draw_labels<DB: DrawingBackend>(
        &self,
        chart: &ChartContext<DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    ) -> Result<(usize, usize), String> {
        let area = chart.plotting_area();
        let (xr, yr) = area.get_pixel_range();
        let inside = Boxed(xr.start, yr.start, xr.end, yr.end);
        let pixel: Vec<(i32, i32)> = self
            .points
            .iter()
            .map(|p| chart.backend_coord(&(p.x, p.y)))
            .collect();
        let mut taken: Vec<Boxed> = pixel
            .iter()
            .map(|&(x, y)| {
                Boxed(
                    x - MARKER - 1,
                    y - MARKER - 1,
                    x + MARKER + 2,
                    y + MARKER + 2,
                )
            })
            .collect();
        let (cx, cy) = (
            (xr.start + xr.end) as f64 / 2.0,
            (yr.start + yr.end) as f64 / 2.0,
        );
        let mut order: Vec<usize> = (0..self.points.len())
            .filter(|&i| self.points[i].label.is_some())
            .collect();
        let distance = |i: usize| {
            let (x, y) = pixel[i];
            (x as f64 - cx).hypot(y as f64 - cy)
        };
        // Farthest first; ties (and equal points) keep record order.
        order.sort_by(|&a, &b| distance(b).total_cmp(&distance(a)));

        let font = FontDesc::new(FontFamily::SansSerif, LABEL_SIZE, FontStyle::Normal);
        let ink = BLACK.mix(0.85);
        let style = TextStyle::from(font.clone())
            .color(&ink)
            .pos(Pos::new(HPos::Left, VPos::Top));
        let (mut drawn, mut left_out) = (0, 0);
        for i in order {
            let text = self.points[i].label.as_deref().unwrap_or_default();
            if drawn >= self.max_labels {
                left_out += 1;
                continue;
            }
            let (tw, th) = area.estimate_text_size(text, &style).map_err(draw_err)?;
            let (tw, th) = (tw as i32, (th as i32).max(LABEL_SIZE as i32));
            let (px, py) = pixel[i];
            let gap = MARKER + 2;
            // Top-left corners: right, left, above, below, then the four diagonals.
            let candidates = [
                (px + gap, py - th / 2),
                (px - gap - tw, py - th / 2),
                (px - tw / 2, py - gap - th),
                (px - tw / 2, py + gap),
                (px + gap - 2, py - gap - th + 2),
                (px + gap - 2, py + gap - 2),
                (px - gap - tw + 2, py - gap - th + 2),
                (px - gap - tw + 2, py + gap - 2),
            ];
            let free = candidates.into_iter().find(|&(l, t)| {
                let b = Boxed(l, t, l + tw, t + th);
                b.0 >= inside.0
                    && b.1 >= inside.1
                    && b.2 <= inside.2
                    && b.3 <= inside.3
                    && !taken.iter().any(|o| o.overlaps(&b))
            });
            let Some((l, t)) = free else {
                left_out += 1;
                continue;
            };
            taken.push(Boxed(l, t, l + tw, t + th));
            let p = &self.points[i];
            let element = EmptyElement::at((p.x, p.y))
                + Text::new(text.to_string(), (l - px, t - py), style.clone());
            area.draw(&element).map_err(draw_err)?;
            drawn += 1;
        }
        Ok((drawn, left_out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn points_groups_and_skips() {
        let recs = vec![
            json!({"pc1": -1.5, "pc2": 0.5, "role": "pirate", "family": "character"}),
            json!({"pc1": 2, "pc2": -3, "role": "poet", "family": "art"}),
            json!({"pc1": "n/a", "pc2": null, "role": "ghost"}),
            json!({"pc1": 0.25, "pc2": 1, "family": "character"}),
            json!({"pc1": 1, "pc2": true, "role": null}),
            json!({"kind": "config"}),
        ];
        let spec = ScatterSpec {
            label: Some("role".into()),
            group: Some("family".into()),
            ..ScatterSpec::new("pc1", "pc2")
        };
        let p = prepare(&recs, &spec).unwrap();
        let pic = &p.picture;
        assert_eq!(
            pic.groups,
            ["family=character", "family=art", "family=(none)"]
        );
        let got: Vec<(f64, f64, usize, Option<&str>)> = pic
            .points
            .iter()
            .map(|q| (q.x, q.y, q.group, q.label.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (-1.5, 0.5, 0, Some("pirate")),
                (2.0, -3.0, 1, Some("poet")),
                (0.25, 1.0, 0, None),
                (1.0, 1.0, 2, None),
            ]
        );
        assert_eq!((p.skipped, p.non_numeric), (2, 2));
        assert_eq!(pic.title, "pc2 by pc1");
        assert!(pic.has_legend);
    }

    #[test]
    fn bad_specs() {
        let recs = vec![json!({"a": 1, "b": 2})];
        let err = |spec: ScatterSpec| prepare(&recs, &spec).unwrap_err().to_string();
        assert_eq!(
            err(ScatterSpec::new("a", "c")),
            "no records have numeric `a` and `c`"
        );
        assert_eq!(
            err(ScatterSpec {
                label: Some("role".into()),
                ..ScatterSpec::new("a", "b")
            }),
            "scatter plot: no record with numeric `a` and `b` has the label key `role`"
        );
        assert_eq!(
            err(ScatterSpec {
                group: Some("famly".into()),
                ..ScatterSpec::new("a", "b")
            }),
            "scatter plot: no record with numeric `a` and `b` has the group key `famly`"
        );
        assert_eq!(
            err(ScatterSpec::new("", "b")),
            "scatter plot: the x and y keys must not be empty"
        );
    }
}
