//! `drift-script view RUN_DIR`: a run folder as one self-contained HTML page, read in a browser
//! from disk (no server, no network): the run's configuration and model, its plots, a
//! stability-per-turn chart whose points link to their answers, and per unit the conversation
//! as chat bubbles with each probe's answers and scores beside the turn they follow.
//!
//! Owns: reading a run folder for display (`data.rs`: records grouped into units, unknown kinds
//! as tables), the page (`page.rs`, with `page.css` and `page.js` inlined) and the chart
//! (`chart.rs`). Records reach the page as one JSON blob; the page renders a unit's bubbles only
//! when it is scrolled to or opened, so a 200-pair run stays light. All text is escaped: answers
//! are model output.
//!
//! Must not import `script`, `model`, `persona`, `metrics` or `cli`: it reads files a run wrote
//! (through `plot::read_jsonl`) and writes one file.

mod chart;
mod data;
mod page;

use std::path::{Path, PathBuf};

/// Why a page could not be written. Nothing is written when any of these occurs.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("{} is not a folder (give the run folder, which holds records.jsonl)", .0.display())]
    NotAFolder(PathBuf),
    #[error("{}: no records.jsonl (is this a run folder? a script run writes it there)", .0.display())]
    NoRecords(PathBuf),
    #[error("{}: the run has no records yet: nothing to show", .0.display())]
    EmptyRun(PathBuf),
    #[error(transparent)]
    Records(#[from] crate::plot::PlotError),
    #[error("{}: malformed run.json: {message}", path.display())]
    BadRunJson { path: PathBuf, message: String },
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What [`write_view`] wrote.
#[derive(Debug, Clone)]
pub struct ViewReport {
    pub path: PathBuf,
    /// Size of the page in bytes.
    pub bytes: u64,
    /// Records read (unit markers not counted).
    pub records: usize,
    /// Conversations shown as bubbles (units with `turn`, `agent_turn` or `probe` records).
    pub units: usize,
    /// Probe answers shown beside their turns.
    pub answers: usize,
    /// Record kinds shown as tables (kinds the page does not know).
    pub tables: Vec<String>,
    /// Pictures of the run folder embedded (file names).
    pub plots: Vec<String>,
}

/// Writes the page for the run in `run_dir` to `output` (default `run_dir/view.html`),
/// atomically (a temporary file renamed into place).
pub fn write_view(run_dir: &Path, output: Option<&Path>) -> Result<ViewReport, ViewError> {
    let run = data::Run::read(run_dir)?;
    let output = output
        .map(Path::to_path_buf)
        .unwrap_or_else(|| run_dir.join("view.html"));
    let html = page::render(&run);
    let tmp = temp_path(&output);
    let write = |path: &Path| std::fs::write(path, html.as_bytes());
    write(&tmp)
        .and_then(|()| std::fs::rename(&tmp, &output))
        .map_err(|source| {
            let _ = std::fs::remove_file(&tmp);
            ViewError::Write {
                path: output.clone(),
                source,
            }
        })?;
    Ok(ViewReport {
        path: output,
        bytes: html.len() as u64,
        records: run.record_count,
        units: run.units.len(),
        answers: run.units.iter().map(|u| u.probes.len()).sum(),
        tables: run.tables.iter().map(|t| t.kind.clone()).collect(),
        plots: run.plots.iter().map(|p| p.name.clone()).collect(),
    })
}

fn temp_path(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "view.html".into());
    output.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// HTML-escapes text for element content and quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Standard base64 with padding, for `data:` URIs.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
    }

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<b a="1">'&'</b>"#),
            "&lt;b a=&quot;1&quot;&gt;&#39;&amp;&#39;&lt;/b&gt;"
        );
    }
}
