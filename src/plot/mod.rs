//! Pictures from results: line plots with confidence bands (in one chart or in panels), scatter
//! plots with point labels, and heatmaps, as PNG or SVG.
//!
//! Owns: drawing records (JSON values) to files. Must not import: Rhai, `script`, `model`.
//!
//! The public surface is five functions and their specs:
//! [`line_plot`] (`records` + [`LineSpec`] → file), [`scatter_plot`] (`records` +
//! [`ScatterSpec`] → file), [`heatmap`] (matrix + [`HeatmapSpec`] → file), [`read_jsonl`] (a
//! results file → records), and the [`PlotReport`] each drawing returns, which says what was
//! drawn and what was skipped so a caller can warn.
//!
//! # How a line plot is formed
//!
//! Records are JSON objects (one line of a results file each). A [`LineSpec`] names the x key,
//! one or more y keys, optionally a `group` key and a band level:
//!
//! - Only records holding the x key take part; its value must be a number (or a boolean, read as
//!   0/1) — anything else is an error naming the key and the value, because a string turn number
//!   means the data is not what the caller thinks.
//! - One **series per (y key, group value)**, y keys in the order given, groups in order of
//!   first appearance ([`crate::stats::group_by`]; records lacking the group key form the group
//!   `(none)`). Series are named `score` without a group and `score · method=split-softmax` with
//!   one.
//! - A series has one point per distinct x, sorted ascending: the mean of y over the records with
//!   that x. A y value that is missing is not part of that series; one that is present but not a
//!   number (a string, `null`) is skipped too and counted in [`PlotReport::non_numeric`].
//! - With `band: Some(level)` each point gets a Student-t confidence interval of its mean at that
//!   level ([`crate::stats::summarize`]), drawn as a translucent area in the series colour; a
//!   point with a single record has no interval and gets no band. t rather than normal quantiles
//!   because a point often averages few values (a handful of probe answers, a few dozen persona
//!   pairs), where a normal band would be visibly too narrow; the paper plots 68% bands.
//! - With `band_method: BandMethod::Bootstrap { resamples, seed }` the band is instead the
//!   percentile bootstrap interval of the mean ([`crate::stats::ci_bootstrap`]: `resamples`
//!   resamples, a fixed seed), what seaborn's `errorbar=('ci', 68)` draws in the paper's
//!   notebook; the paper analysis mode of `scripts/selfchat.rhai` plots that way.
//! - With `facet` ([`Facet`]) the plot becomes panels stacked top to bottom that share the x
//!   axis: one per y key (each on its own y range: the projection on an axis above, stability
//!   below) or one per value of a record key (on one shared y range). Panels, not a second y
//!   axis: see [`Facet`]. The picture grows taller past two panels; at most [`MAX_PANELS`].
//!
//! # Scatter plots
//!
//! One point per record with numeric x and y (records without them, or with values that are not
//! numbers, are skipped and counted), coloured by an optional group key with a legend, and an
//! optional label key whose text is drawn beside each point where it overlaps nothing; labels
//! that find no free place, or exceed `max_labels`, are left out and counted. The rules are in
//! the docs of `scatter.rs` ([`scatter_plot`]).
//!
//! # Files
//!
//! The extension picks the format: `.png` (1000×650 bitmap; a line plot of three or more panels
//! is taller) or `.svg` (same size, text kept as text so it can be searched and edited). Parent folders are created. The picture is rendered to
//! a temporary file in the destination folder and renamed over the final name only once complete,
//! so an interrupted run never leaves a half-written picture (DESIGN §6). The temporary name keeps
//! the real extension at its end (`.stability.png.tmp-<pid>-<n>.png`) because the bitmap encoder
//! picks the image format from the extension.
//!
//! # Fonts
//!
//! All text uses DejaVu Sans, embedded by the `dejavu` crate and registered with plotters under
//! the family name `sans-serif` (plotters' default family) the first time anything is drawn. No
//! system fonts are read and nothing is downloaded, so PNGs look the same on every machine.

mod colors;
mod heatmap;
mod jsonl;
mod line;
mod scatter;

pub use heatmap::{HeatmapSpec, heatmap};
pub use jsonl::read_jsonl;
pub use line::{BandMethod, Facet, LineSpec, MAX_PANELS, line_plot};
pub use scatter::{DEFAULT_MAX_LABELS, ScatterSpec, scatter_plot};

use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Size of every picture, in pixels (PNG) or user units (SVG).
pub const PLOT_SIZE: (u32, u32) = (1000, 650);

/// Everything that can go wrong making a picture or reading a results file.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("plot file must end in .png or .svg: got {0}")]
    BadExtension(String),
    /// No record had a numeric x and a numeric value for any y key.
    #[error("no records have numeric {}", describe_keys(x, y))]
    NoData { x: String, y: Vec<String> },
    #[error("x key `{key}` must hold numbers, but record {record} has {value}")]
    NonNumericX {
        key: String,
        /// 1-based position of the record in the slice given.
        record: usize,
        /// The offending value as JSON text.
        value: String,
    },
    #[error(
        "heatmap rows must all have the same length: row 1 has {first} values, row {row} has {len}"
    )]
    RaggedMatrix {
        first: usize,
        row: usize,
        len: usize,
    },
    /// A spec that cannot be drawn (empty key, wrong number of labels, min ≥ max, …).
    #[error("{0}")]
    BadSpec(String),
    #[error(transparent)]
    Stats(#[from] crate::stats::StatsError),
    #[error("cannot write plot file {path}: {message}")]
    Write { path: PathBuf, message: String },
    #[error("cannot read results file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line of a results file that is not a JSON object; `line` is 1-based.
    #[error("{}:{line}: {message}", path.display())]
    BadRecord {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

fn describe_keys(x: &str, y: &[String]) -> String {
    match y {
        [one] => format!("`{x}` and `{one}`"),
        many => {
            let ys: Vec<String> = many.iter().map(|k| format!("`{k}`")).collect();
            format!("`{x}` and any of {}", ys.join(", "))
        }
    }
}

/// Which kind of picture a [`PlotReport`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlotKind {
    Line,
    Scatter,
    Heatmap,
}

/// What a drawing call drew, for the caller to report or warn about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlotReport {
    /// The file written.
    pub path: PathBuf,
    pub kind: PlotKind,
    /// Lines drawn over all panels (line plot); groups, each its own colour (scatter); 0 for a
    /// heatmap.
    pub series: usize,
    /// Panels stacked one above the other: 1 unless a line plot is faceted; 0 for a heatmap.
    pub panels: usize,
    /// Points drawn over all series (line, scatter); cells coloured (heatmap).
    pub points: usize,
    /// Records that contributed to at least one point (line plot) or are a point (scatter);
    /// finite cells (heatmap).
    pub used: usize,
    /// Records that contributed to no point: no x key, or no numeric value for any y key (line
    /// plot); no x or y key, or a value that is not a number (scatter); cells left blank because
    /// they were NaN or infinite (heatmap).
    pub skipped: usize,
    /// y values (line plot), x and y values (scatter) present but not numbers (strings, `null`,
    /// arrays …), skipped; 0 for a heatmap.
    pub non_numeric: usize,
    /// Point labels drawn (scatter only).
    pub labels: usize,
    /// Points with a label whose label was left out: it would have covered another label or a
    /// point, or `max_labels` labels were drawn already (scatter only).
    pub unlabelled: usize,
}

impl PlotReport {
    /// A one-line warning when something was left out, for the caller to print.
    pub fn warning(&self) -> Option<String> {
        let mut parts = Vec::new();
        match self.kind {
            PlotKind::Line | PlotKind::Scatter => {
                if self.skipped > 0 {
                    parts.push(format!(
                        "{} record(s) had no usable x/y values",
                        self.skipped
                    ));
                }
                if self.non_numeric > 0 {
                    let which = if self.kind == PlotKind::Line {
                        "y"
                    } else {
                        "x/y"
                    };
                    parts.push(format!(
                        "{} {which} value(s) were not numbers",
                        self.non_numeric
                    ));
                }
                if self.unlabelled > 0 {
                    parts.push(format!(
                        "{} of {} point label(s) left out where they would overlap \
                         (or past max_labels)",
                        self.unlabelled,
                        self.labels + self.unlabelled
                    ));
                }
            }
            PlotKind::Heatmap => {
                if self.skipped > 0 {
                    parts.push(format!(
                        "{} cell(s) were not finite numbers and are blank",
                        self.skipped
                    ));
                }
            }
        }
        if parts.is_empty() {
            None
        } else {
            Some(format!("{}: {}", self.path.display(), parts.join("; ")))
        }
    }
}

/// A prepared picture that can draw itself on any plotters backend.
trait Picture {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;

    /// Width and height in pixels (PNG) or user units (SVG).
    fn size(&self) -> (u32, u32) {
        PLOT_SIZE
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Format {
    Png,
    Svg,
}

/// The format named by `path`'s extension (case-insensitive).
fn format_of(path: &Path) -> Result<Format, PlotError> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => Ok(Format::Png),
        Some("svg") => Ok(Format::Svg),
        _ => Err(PlotError::BadExtension(path.display().to_string())),
    }
}

/// Registers DejaVu Sans (regular and bold) as `sans-serif`, once per process.
fn ensure_fonts() -> Result<(), String> {
    static FONTS: OnceLock<Result<(), String>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let fonts = [
                (FontStyle::Normal, dejavu::sans::regular()),
                (FontStyle::Bold, dejavu::sans::bold()),
                (FontStyle::Oblique, dejavu::sans::oblique()),
                (FontStyle::Italic, dejavu::sans::oblique()),
            ];
            for (style, bytes) in fonts {
                plotters::style::register_font("sans-serif", style, bytes)
                    .map_err(|_| "the embedded DejaVu Sans font could not be loaded".to_string())?;
            }
            Ok(())
        })
        .clone()
}

/// Renders `picture` to `path` atomically (temporary file in the same folder, then rename).
fn write_picture(picture: &impl Picture, path: &Path) -> Result<(), PlotError> {
    let format = format_of(path)?;
    let write_err = |message: String| PlotError::Write {
        path: path.to_path_buf(),
        message,
    };
    ensure_fonts().map_err(write_err)?;
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = parent {
        std::fs::create_dir_all(dir)
            .map_err(|e| write_err(format!("cannot create folder: {e}")))?;
    }
    let tmp = temp_path(path);
    let result = render(picture, format, &tmp).and_then(|()| {
        // Make the content durable before it takes the final name.
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, path).map_err(|e| e.to_string())
    });
    if let Err(message) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(write_err(message));
    }
    Ok(())
}

fn render(picture: &impl Picture, format: Format, tmp: &Path) -> Result<(), String> {
    match format {
        Format::Png => {
            // The backend saves on `present` (and, failing that, when dropped): keep it in this
            // scope so the caller can remove a partial temporary file afterwards.
            let root = BitMapBackend::new(tmp, picture.size()).into_drawing_area();
            root.fill(&WHITE).map_err(|e| e.to_string())?;
            picture.draw(&root)?;
            root.present().map_err(|e| e.to_string())
        }
        Format::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, picture.size()).into_drawing_area();
                root.fill(&WHITE).map_err(|e| e.to_string())?;
                picture.draw(&root)?;
                root.present().map_err(|e| e.to_string())?;
            }
            std::fs::write(tmp, svg).map_err(|e| e.to_string())
        }
    }
}

/// `dir/.name.tmp-<pid>-<n>.ext`: hidden, unique within and across processes, real extension last.
fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.tmp-{}-{n}.{ext}", std::process::id()))
}

/// A number as a tick label: integers without a decimal point, others to 4 significant digits
/// without trailing zeros (so floating-point noise such as 0.30000000000000004 disappears).
fn format_number(v: f64) -> String {
    if v == v.round() && v.abs() < 1e15 {
        return format!("{}", v as i64);
    }
    let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 12) as usize;
    let s = format!("{v:.digits$}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

fn draw_err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_decides_format() {
        assert_eq!(format_of(Path::new("a/b.png")).unwrap(), Format::Png);
        assert_eq!(format_of(Path::new("B.SVG")).unwrap(), Format::Svg);
        let err = format_of(Path::new("out.jpg")).unwrap_err().to_string();
        assert_eq!(err, "plot file must end in .png or .svg: got out.jpg");
        assert!(format_of(Path::new("png")).is_err());
    }

    #[test]
    fn temp_path_keeps_folder_and_extension() {
        let t = temp_path(Path::new("out/stability.png"));
        assert_eq!(t.parent(), Some(Path::new("out")));
        let name = t.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with(".stability.png.tmp-") && name.ends_with(".png"),
            "{name}"
        );
        assert_ne!(temp_path(Path::new("x.svg")), temp_path(Path::new("x.svg")));
    }

    #[test]
    fn numbers_format_compactly() {
        assert_eq!(format_number(2.0), "2");
        assert_eq!(format_number(-3.0), "-3");
        assert_eq!(format_number(0.25), "0.25");
        assert_eq!(format_number(0.1 + 0.2), "0.3");
        assert_eq!(format_number(123.456_78), "123.5");
        assert_eq!(format_number(0.000_123_4), "0.0001234");
    }

    #[test]
    fn no_data_message_names_keys() {
        let one = PlotError::NoData {
            x: "turn".into(),
            y: vec!["score".into()],
        };
        assert_eq!(
            one.to_string(),
            "no records have numeric `turn` and `score`"
        );
        let two = PlotError::NoData {
            x: "turn".into(),
            y: vec!["score".into(), "u".into()],
        };
        assert_eq!(
            two.to_string(),
            "no records have numeric `turn` and any of `score`, `u`"
        );
    }
}
