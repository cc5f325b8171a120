//! Heatmaps: a matrix of values as coloured cells (row 0 at the top, as a matrix is printed),
//! with a colour bar giving the scale. Used for attention by layer × head, or stability by
//! method × turn. The colour scale is viridis: perceptually uniform, so equal steps in value look
//! like equal steps in colour, and still ordered when printed in grey.

use super::colors::viridis;
use super::{Picture, PlotError, PlotReport, draw_err, format_number, write_picture};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// What to draw in a [`heatmap`]. Every field is optional.
///
/// ```no_run
/// use drift_script::plot::{HeatmapSpec, heatmap};
/// let matrix = vec![vec![0.9, 0.7, 0.4], vec![0.8, 0.5, 0.2]];
/// let spec = HeatmapSpec {
///     title: Some("attention to the system prompt".into()),
///     xlabel: Some("turn".into()),
///     row_labels: Some(vec!["layer 0".into(), "layer 1".into()]),
///     min: Some(0.0),
///     max: Some(1.0),
///     ..Default::default()
/// };
/// heatmap(&matrix, &spec, "attention.svg".as_ref())?;
/// # Ok::<(), drift_script::plot::PlotError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeatmapSpec {
    pub title: Option<String>,
    /// Label under the columns.
    pub xlabel: Option<String>,
    /// Label beside the rows.
    pub ylabel: Option<String>,
    /// One label per row (top to bottom); default the row index from 0.
    pub row_labels: Option<Vec<String>>,
    /// One label per column (left to right); default the column index from 0.
    pub col_labels: Option<Vec<String>>,
    /// Value at the bottom of the colour scale; default the smallest finite value. Smaller
    /// values get the bottom colour.
    pub min: Option<f64>,
    /// Value at the top of the colour scale; default the largest finite value.
    pub max: Option<f64>,
}

/// Draws `matrix` (rows of equal length) as a heatmap to `path` (`.png` or `.svg`).
///
/// NaN and infinite cells are drawn light grey and counted in [`PlotReport::skipped`].
/// Errors: bad extension, empty matrix, rows of different lengths, a label list of the wrong
/// length, a non-finite `min`/`max` or `min ≥ max`, no finite value and no explicit scale.
pub fn heatmap(
    matrix: &[Vec<f64>],
    spec: &HeatmapSpec,
    path: &Path,
) -> Result<PlotReport, PlotError> {
    super::format_of(path)?;
    let picture = prepare(matrix, spec)?;
    write_picture(&picture, path)?;
    let cells = picture.rows * picture.cols;
    Ok(PlotReport {
        path: path.to_path_buf(),
        kind: super::PlotKind::Heatmap,
        series: 0,
        panels: 0,
        points: cells - picture.blank,
        used: cells - picture.blank,
        skipped: picture.blank,
        non_numeric: 0,
        labels: 0,
        unlabelled: 0,
    })
}

pub(crate) struct HeatmapPicture<'a> {
    matrix: &'a [Vec<f64>],
    rows: usize,
    cols: usize,
    row_labels: Vec<String>,
    col_labels: Vec<String>,
    title: Option<String>,
    xlabel: String,
    ylabel: String,
    vmin: f64,
    vmax: f64,
    blank: usize,
}

fn bad(message: String) -> PlotError {
    PlotError::BadSpec(format!("heatmap: {message}"))
}

fn labels(given: &Option<Vec<String>>, n: usize, what: &str) -> Result<Vec<String>, PlotError> {
    match given {
        None => Ok((0..n).map(|i| i.to_string()).collect()),
        Some(l) if l.len() == n => Ok(l.clone()),
        Some(l) => Err(bad(format!(
            "{} {what} labels given for {n} {what}s",
            l.len()
        ))),
    }
}

pub(crate) fn prepare<'a>(
    matrix: &'a [Vec<f64>],
    spec: &HeatmapSpec,
) -> Result<HeatmapPicture<'a>, PlotError> {
    let rows = matrix.len();
    let cols = matrix.first().map_or(0, Vec::len);
    if rows == 0 || cols == 0 {
        return Err(bad("the matrix is empty".into()));
    }
    if let Some((row, r)) = matrix.iter().enumerate().find(|(_, r)| r.len() != cols) {
        return Err(PlotError::RaggedMatrix {
            first: cols,
            row: row + 1,
            len: r.len(),
        });
    }
    for (name, v) in [("min", spec.min), ("max", spec.max)] {
        if let Some(v) = v
            && !v.is_finite()
        {
            return Err(bad(format!("{name} must be a finite number, got {v}")));
        }
    }
    let finite: Vec<f64> = matrix
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let blank = rows * cols - finite.len();
    let data_min = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let data_max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (mut vmin, mut vmax) = match (spec.min, spec.max) {
        (Some(a), Some(b)) => (a, b),
        _ if finite.is_empty() => {
            return Err(bad(
                "no cell holds a finite number (give min and max to draw it anyway)".into(),
            ));
        }
        (a, b) => (a.unwrap_or(data_min), b.unwrap_or(data_max)),
    };
    if vmin > vmax || (vmin == vmax && spec.min.is_some() && spec.max.is_some()) {
        return Err(bad(format!("min ({vmin}) must be less than max ({vmax})")));
    }
    if vmin == vmax {
        // One value everywhere: widen the scale around it so it still has a colour and labels.
        let d = if vmin == 0.0 { 0.5 } else { vmin.abs() * 0.1 };
        if spec.min.is_some() {
            vmax += 2.0 * d;
        } else if spec.max.is_some() {
            vmin -= 2.0 * d;
        } else {
            vmin -= d;
            vmax += d;
        }
    }
    Ok(HeatmapPicture {
        matrix,
        rows,
        cols,
        row_labels: labels(&spec.row_labels, rows, "row")?,
        col_labels: labels(&spec.col_labels, cols, "column")?,
        title: spec.title.clone(),
        xlabel: spec.xlabel.clone().unwrap_or_default(),
        ylabel: spec.ylabel.clone().unwrap_or_default(),
        vmin,
        vmax,
        blank,
    })
}

impl HeatmapPicture<'_> {
    fn color(&self, v: f64) -> RGBColor {
        if v.is_finite() {
            viridis((v - self.vmin) / (self.vmax - self.vmin))
        } else {
            RGBColor(220, 220, 220)
        }
    }
}

/// The label of the tick at `v` if `v` is (close to) the index of an item. Rows are drawn at
/// y = −row (so row 0 is at the top and plotters' round tick values fall on rows 0, 2, 4 …):
/// pass `negated` for them.
fn tick_label(v: f64, labels: &[String], negated: bool) -> String {
    let v = if negated { -v } else { v };
    let i = v.round();
    if (v - i).abs() > 1e-6 || i < 0.0 || i as usize >= labels.len() {
        return String::new();
    }
    labels[i as usize].clone()
}

impl Picture for HeatmapPicture<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let root = match &self.title {
            Some(t) => {
                let font = FontDesc::new(FontFamily::SansSerif, 26.0, FontStyle::Bold);
                root.margin(8, 0, 0, 0).titled(t, font).map_err(draw_err)?
            }
            None => root.clone(),
        };
        let label_font: TextStyle = ("sans-serif", 15).into();
        let (w, _) = root.dim_in_pixel();
        let mut row_w = 0;
        for l in &self.row_labels {
            row_w = row_w.max(root.estimate_text_size(l, &label_font).map_err(draw_err)?.0);
        }
        let y_area = (row_w + if self.ylabel.is_empty() { 20 } else { 45 }).clamp(50, 320);
        let (main, bar_area) = root.split_horizontally(w - 130);
        const MARGIN: u32 = 15;
        const X_AREA: u32 = 55;

        let mut chart = ChartBuilder::on(&main)
            .margin(MARGIN)
            .x_label_area_size(X_AREA)
            .y_label_area_size(y_area)
            .build_cartesian_2d(-0.5..self.cols as f64 - 0.5, 0.5 - self.rows as f64..0.5)
            .map_err(draw_err)?;
        let x_fmt = |v: &f64| tick_label(*v, &self.col_labels, false);
        let y_fmt = |v: &f64| tick_label(*v, &self.row_labels, true);
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(self.xlabel.as_str())
            .y_desc(self.ylabel.as_str())
            .axis_desc_style(("sans-serif", 19))
            .label_style(label_font.clone())
            .x_labels(self.cols.min(25))
            .y_labels(self.rows.min(25))
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .draw()
            .map_err(draw_err)?;
        let cells = self.matrix.iter().enumerate().flat_map(|(r, row)| {
            let y = -(r as f64); // row 0 at the top
            row.iter().enumerate().map(move |(c, &v)| {
                let c = c as f64;
                Rectangle::new(
                    [(c - 0.5, y - 0.5), (c + 0.5, y + 0.5)],
                    self.color(v).filled(),
                )
            })
        });
        chart.draw_series(cells).map_err(draw_err)?;

        // Colour bar, aligned with the cells' vertical extent.
        let mut bar = ChartBuilder::on(&bar_area)
            .margin_top(MARGIN)
            .margin_bottom(MARGIN + X_AREA)
            .margin_left(10)
            .set_label_area_size(LabelAreaPosition::Right, 70)
            .build_cartesian_2d(0.0..1.0, self.vmin..self.vmax)
            .map_err(draw_err)?;
        bar.configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .label_style(label_font.clone())
            .y_labels(8)
            .y_label_formatter(&|v| format_number(*v))
            .draw()
            .map_err(draw_err)?;
        const STEPS: usize = 200;
        let step = (self.vmax - self.vmin) / STEPS as f64;
        let strips = (0..STEPS).map(|i| {
            let lo = self.vmin + i as f64 * step;
            let color = viridis((i as f64 + 0.5) / STEPS as f64);
            Rectangle::new([(0.0, lo), (1.0, lo + step)], color.filled())
        });
        bar.draw_series(strips).map_err(draw_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_defaults_and_checks() {
        let m = vec![vec![1.0, f64::NAN], vec![3.0, 2.0]];
        let p = prepare(&m, &HeatmapSpec::default()).unwrap();
        assert_eq!((p.vmin, p.vmax, p.blank), (1.0, 3.0, 1));
        assert_eq!(p.row_labels, ["0", "1"]);
        assert_eq!(p.color(1.0), viridis(0.0));
        assert_eq!(p.color(3.0), viridis(1.0));
        assert_eq!(p.color(f64::NAN), RGBColor(220, 220, 220));
        let p = prepare(
            &m,
            &HeatmapSpec {
                max: Some(5.0),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!((p.vmin, p.vmax), (1.0, 5.0));
        // A constant matrix still gets a scale.
        let constant = [vec![2.0, 2.0]];
        let p = prepare(&constant, &HeatmapSpec::default()).unwrap();
        assert!(p.vmin < 2.0 && p.vmax > 2.0);

        let err = |m: &[Vec<f64>], s: HeatmapSpec| prepare(m, &s).err().unwrap().to_string();
        assert_eq!(
            err(&[], HeatmapSpec::default()),
            "heatmap: the matrix is empty"
        );
        let s = HeatmapSpec {
            min: Some(3.0),
            max: Some(1.0),
            ..Default::default()
        };
        assert_eq!(err(&m, s), "heatmap: min (3) must be less than max (1)");
        let s = HeatmapSpec {
            col_labels: Some(vec!["a".into()]),
            ..Default::default()
        };
        assert_eq!(err(&m, s), "heatmap: 1 column labels given for 2 columns");
        assert_eq!(
            err(&[vec![f64::NAN]], HeatmapSpec::default()),
            "heatmap: no cell holds a finite number (give min and max to draw it anyway)"
        );
    }

    #[test]
    fn ticks_name_rows_top_down() {
        let l: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(tick_label(0.0, &l, false), "a");
        assert_eq!(tick_label(0.0, &l, true), "a");
        assert_eq!(tick_label(-2.0, &l, true), "c");
        assert_eq!(tick_label(2.0, &l, true), "");
        assert_eq!(tick_label(0.5, &l, false), "");
        assert_eq!(tick_label(3.0, &l, false), "");
    }
}
