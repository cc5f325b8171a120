//! Vectors in activation space: persona vectors, axes and their principal components (DESIGN
//! §2b), and the safetensors files they are shared in. Pure Rust; `script::api::vectors`
//! registers it for scripts, and the engine's residual-stream read-out returns its [`Vector`].
//!
//! Storage is f32 (as the engine's hidden states); every sum is taken in f64, one coordinate or
//! one term after the other in index order, so a result has the same bits in every process and
//! on every machine. Must not import the model, the script host or the store's run logic.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A vector of f32 values, cheap to clone (scripts clone values often).
#[derive(Clone, PartialEq)]
pub struct Vector(Arc<[f32]>);

#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    #[error("{op}: lengths differ ({left} and {right})")]
    LengthMismatch {
        op: &'static str,
        left: usize,
        right: usize,
    },
    #[error("{op}: the list is empty")]
    Empty { op: &'static str },
    #[error("{op}: {what} has length 0")]
    NoCoordinates { op: &'static str, what: String },
    #[error("{op}: {what} is a zero vector, which has no direction")]
    Zero {
        op: &'static str,
        what: &'static str,
    },
    #[error("pca: k = {k} is out of range: {n} vectors of length {len} give 1 to {max} components")]
    ComponentsOutOfRange {
        k: usize,
        n: usize,
        len: usize,
        max: usize,
    },
    #[error("pca: the vectors vary along only {rank} direction(s), fewer than k = {k}")]
    RankTooLow { k: usize, rank: usize },
    #[error("cannot write vectors to {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: crate::store::StoreError,
    },
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {reason}", path.display())]
    Format { path: PathBuf, reason: String },
    #[error("save_vectors: {0}")]
    BadEntries(String),
    #[error("{0}")]
    WrongModel(String),
}

pub type Result<T> = std::result::Result<T, VectorError>;

impl Vector {
    pub fn new(values: Vec<f32>) -> Self {
        Vector(values.into())
    }

    pub fn as_slice(&self) -> &[f32] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<f32> {
        self.0.to_vec()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn from_f64(values: impl Iterator<Item = f64>) -> Self {
        Vector(values.map(|x| x as f32).collect())
    }

    fn same_len(&self, other: &Vector, op: &'static str) -> Result<()> {
        if self.len() == other.len() {
            Ok(())
        } else {
            Err(VectorError::LengthMismatch {
                op,
                left: self.len(),
                right: other.len(),
            })
        }
    }

    pub fn add(&self, other: &Vector) -> Result<Vector> {
        self.same_len(other, "a + b")?;
        Ok(Vector::from_f64(
            self.iter64().zip(other.iter64()).map(|(a, b)| a + b),
        ))
    }

    pub fn sub(&self, other: &Vector) -> Result<Vector> {
        self.same_len(other, "a - b")?;
        Ok(Vector::from_f64(
            self.iter64().zip(other.iter64()).map(|(a, b)| a - b),
        ))
    }

    /// Each coordinate times `x` (computed in f64, rounded once to f32).
    pub fn scale(&self, x: f64) -> Vector {
        Vector::from_f64(self.iter64().map(|a| a * x))
    }

    pub fn dot(&self, other: &Vector) -> Result<f64> {
        self.same_len(other, "dot")?;
        Ok(dot64(self.as_slice(), other.as_slice()))
    }

    pub fn norm(&self) -> f64 {
        dot64(self.as_slice(), self.as_slice()).sqrt()
    }

    /// Cosine similarity; a zero vector has no direction, so it is an error.
    pub fn cos(&self, other: &Vector) -> Result<f64> {
        self.same_len(other, "cos")?;
        let (na, nb) = (self.norm(), other.norm());
        if na == 0.0 {
            return Err(VectorError::Zero {
                op: "cos",
                what: "the first vector",
            });
        }
        if nb == 0.0 {
            return Err(VectorError::Zero {
                op: "cos",
                what: "the second vector",
            });
        }
        Ok(dot64(self.as_slice(), other.as_slice()) / (na * nb))
    }

    /// The unit vector along `self`.
    pub fn normalize(&self) -> Result<Vector> {
        let n = self.norm();
        if n == 0.0 {
            return Err(VectorError::Zero {
                op: "normalize",
                what: "the vector",
            });
        }
        Ok(Vector::from_f64(self.iter64().map(|a| a / n)))
    }

    /// Scalar projection of `self` on the unit axis: ⟨v, a/|a|⟩.
    pub fn project(&self, axis: &Vector) -> Result<f64> {
        self.same_len(axis, "project")?;
        let n = axis.norm();
        if n == 0.0 {
            return Err(VectorError::Zero {
                op: "project",
                what: "the axis",
            });
        }
        Ok(dot64(self.as_slice(), axis.as_slice()) / n)
    }

    fn iter64(&self) -> impl Iterator<Item = f64> + '_ {
        self.0.iter().map(|&x| x as f64)
    }
}

impl std::fmt::Debug for Vector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

/// `vector(576)[0.0132, -0.5, 1.25, …]`: the length and the first values, for `print`.
impl std::fmt::Display for Vector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const SHOWN: usize = 4;
        write!(f, "vector({})[", self.len())?;
        for (i, x) in self.0.iter().take(SHOWN).enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{x}")?;
        }
        if self.len() > SHOWN {
            write!(f, ", …")?;
        }
        write!(f, "]")
    }
}

/// Σ aᵢbᵢ in f64, in index order.
fn dot64(a: &[f32], b: &[f32]) -> f64 {
    let mut sum = 0.0f64;
    for (&x, &y) in a.iter().zip(b) {
        sum += x as f64 * y as f64;
    }
    sum
}

/// The list's vectors, checked non-empty, with coordinates, and of one length.
fn check_list(list: &[Vector], op: &'static str) -> Result<usize> {
    let first = list.first().ok_or(VectorError::Empty { op })?;
    if first.is_empty() {
        return Err(VectorError::NoCoordinates {
            op,
            what: "vector 0".into(),
        });
    }
    for v in list {
        first.same_len(v, op)?;
    }
    Ok(first.len())
}

/// The coordinate-wise mean in f64, the vectors summed in list order.
fn mean64(list: &[Vector], op: &'static str) -> Result<Vec<f64>> {
    let len = check_list(list, op)?;
    let mut sum = vec![0.0f64; len];
    for v in list {
        for (s, &x) in sum.iter_mut().zip(v.as_slice()) {
            *s += x as f64;
        }
    }
    let n = list.len() as f64;
    Ok(sum.into_iter().map(|s| s / n).collect())
}

/// The mean of a list of vectors of one length.
pub fn mean_of(list: &[Vector]) -> Result<Vector> {
    Ok(Vector::from_f64(mean64(list, "mean_of")?.into_iter()))
}

/// mean(a) − mean(b): for example the assistant axis, mean(default) − mean(roles).
pub fn contrast(a: &[Vector], b: &[Vector]) -> Result<Vector> {
    let ma = mean64(a, "contrast")?;
    let mb = mean64(b, "contrast")?;
    if ma.len() != mb.len() {
        return Err(VectorError::LengthMismatch {
            op: "contrast",
            left: ma.len(),
            right: mb.len(),
        });
    }
    Ok(Vector::from_f64(ma.iter().zip(&mb).map(|(x, y)| x - y)))
}

/// Principal components of a list of vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    /// Unit vectors, by decreasing variance; each one's largest-magnitude coordinate is
    /// positive (the first such coordinate on a tie).
    pub components: Vec<Vector>,
    /// The share of the total variance along each component.
    pub explained: Vec<f64>,
    pub mean: Vector,
}

/// PCA of `list` (n vectors of length d): centre; eigenvectors of the n×n Gram matrix of the
/// centred vectors by cyclic Jacobi rotations in f64 (deterministic: a fixed order of
/// rotations); each eigenvector u mapped back to Cᵀu/|Cᵀu|. k runs from 1 to min(n − 1, d):
/// n centred vectors span at most n − 1 directions.
pub fn pca(list: &[Vector], k: usize) -> Result<Pca> {
    let mean = mean64(list, "pca")?;
    let (n, d) = (list.len(), mean.len());
    let max = (n - 1).min(d);
    if k == 0 || k > max {
        return Err(VectorError::ComponentsOutOfRange { k, n, len: d, max });
    }
    let centred: Vec<Vec<f64>> = list
        .iter()
        .map(|v| v.iter64().zip(&mean).map(|(x, m)| x - m).collect())
        .collect();
    let mut gram = vec![0.0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut s = 0.0;
            for (a, b) in centred[i].iter().zip(&centred[j]) {
                s += a * b;
            }
            gram[i * n + j] = s;
            gram[j * n + i] = s;
        }
    }
    let total: f64 = (0..n).map(|i| gram[i * n + i]).sum();
    let (values, vectors) = jacobi_eigen(gram, n);
    let mut order: Vec<usize> = (0..n).collect();
    // Stable: equal eigenvalues keep their index order.
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    // Eigenvalues below this are rounding noise of a zero (the Gram matrix's scale times ε·n).
    let floor = total * 1e-12 * n as f64;
    let rank = order.iter().filter(|&&i| values[i] > floor).count();
    if k > rank {
        return Err(VectorError::RankTooLow { k, rank });
    }
    let mut components = Vec::with_capacity(k);
    let mut explained = Vec::with_capacity(k);
    for &e in &order[..k] {
        let mut w = vec![0.0f64; d];
        for (i, row) in centred.iter().enumerate() {
            let u = vectors[i * n + e];
            for (wj, x) in w.iter_mut().zip(row) {
                *wj += u * x;
            }
        }
        let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
        // The first coordinate of largest magnitude decides the sign.
        let mut top = 0;
        for (j, x) in w.iter().enumerate() {
            if x.abs() > w[top].abs() {
                top = j;
            }
        }
        let sign = if w[top] < 0.0 { -1.0 } else { 1.0 };
        components.push(Vector::from_f64(w.iter().map(|x| sign * x / norm)));
        explained.push(if total > 0.0 { values[e] / total } else { 0.0 });
    }
    Ok(Pca {
        components,
        explained,
        mean: Vector::from_f64(mean.into_iter()),
    })
}

/// Eigenvalues and eigenvectors (column e of the row-major n×n result) of a symmetric matrix
/// by cyclic Jacobi rotations, pairs (p, q) in row order, until the off-diagonal part is
/// negligible.
fn jacobi_eigen(mut a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    for _sweep in 0..100 {
        let mut off = 0.0f64;
        for p in 0..n {
            for q in p + 1..n {
                off += a[p * n + q] * a[p * n + q];
            }
        }
        if off.sqrt() <= scale * 1e-15 || off == 0.0 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let (app, aqq) = (a[p * n + p], a[q * n + q]);
                let theta = (aqq - app) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// Metadata keys a vectors file carries (all values are strings in safetensors).
pub mod meta {
    /// The model's name.
    pub const MODEL: &str = "model";
    /// sha256 of the model's weights file (empty where the model has no single file).
    pub const MODEL_SHA256: &str = "model_sha256";
    /// The vectors' length, written by `save_vectors` itself.
    pub const HIDDEN_SIZE: &str = "hidden_size";
    /// The decoder layer the vectors were read after (per file; `layer.NAME` per vector).
    pub const LAYER: &str = "layer";
    /// Free text: how the vectors were made.
    pub const MADE_BY: &str = "made_by";
    /// The drift-script version that wrote the file, written by `save_vectors` itself.
    pub const TOOL: &str = "tool";
}

/// Writes named vectors (all of one length) and string metadata as a safetensors file, one
/// 1-D F32 tensor per name, atomically (a temporary file in the same folder, then a rename).
/// `hidden_size` and `tool` are filled in; a `hidden_size` given that disagrees with the
/// vectors is an error.
pub fn save_vectors(
    path: &Path,
    entries: &BTreeMap<String, Vector>,
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let bad = |m: String| Err(VectorError::BadEntries(m));
    let Some((first_name, first)) = entries.iter().next() else {
        return bad("no vectors to save".into());
    };
    for (name, v) in entries {
        if name.is_empty() {
            return bad("a vector's name is empty".into());
        }
        if v.is_empty() {
            return bad(format!("vector `{name}` has length 0"));
        }
        if v.len() != first.len() {
            return bad(format!(
                "vectors in one file must have one length: `{first_name}` has {}, `{name}` {}",
                first.len(),
                v.len()
            ));
        }
    }
    let mut info: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let hidden = first.len().to_string();
    if let Some(given) = info.get(meta::HIDDEN_SIZE)
        && *given != hidden
    {
        return bad(format!(
            "metadata says hidden_size {given}, but the vectors have length {hidden}"
        ));
    }
    info.insert(meta::HIDDEN_SIZE.into(), hidden);
    info.insert(
        meta::TOOL.into(),
        concat!("drift-script ", env!("CARGO_PKG_VERSION")).into(),
    );
    let bytes: Vec<(String, Vec<u8>)> = entries
        .iter()
        .map(|(name, v)| {
            let data = v.as_slice().iter().flat_map(|x| x.to_le_bytes()).collect();
            (name.clone(), data)
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, data)| {
            let view = safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                vec![data.len() / 4],
                data,
            )
            .expect("length matches the shape");
            (name.as_str(), view)
        })
        .collect::<Vec<_>>();
    let file = safetensors::tensor::serialize(views, Some(info))
        .map_err(|e| VectorError::BadEntries(format!("cannot encode the file: {e}")))?;
    crate::store::write_atomically(path, &file).map_err(|source| VectorError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// A vectors file: named vectors and its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorFile {
    pub vectors: BTreeMap<String, Vector>,
    pub metadata: BTreeMap<String, String>,
}

/// Reads a file written by [`save_vectors`] (or any safetensors file of 1-D F32 tensors).
pub fn load_vectors(path: &Path) -> Result<VectorFile> {
    let bytes = std::fs::read(path).map_err(|source| VectorError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let format = |reason: String| VectorError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let tensors = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| format(format!("not a safetensors file ({e})")))?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| format(format!("not a safetensors file ({e})")))?;
    let metadata: BTreeMap<String, String> = header
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut vectors = BTreeMap::new();
    for (name, view) in tensors.tensors() {
        if view.dtype() != safetensors::Dtype::F32 || view.shape().len() != 1 {
            return Err(format(format!(
                "tensor `{name}` is {:?} of shape {:?}; vectors are 1-D F32",
                view.dtype(),
                view.shape()
            )));
        }
        let values = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        vectors.insert(name, Vector::new(values));
    }
    Ok(VectorFile { vectors, metadata })
}

/// Refuses vectors made for another model: the file's `hidden_size` must equal the model's and
/// its `model_sha256` the model's sha256 (both empty passes: a model without a single weights
/// file is checked by hidden size alone). `hidden_size` 0 means the model's is unknown (an
/// HTTP backend), which is refused too: the vectors could not be checked, nor used.
pub fn check_model(
    metadata: &BTreeMap<String, String>,
    hidden_size: usize,
    sha256: &str,
) -> Result<()> {
    let made_for = metadata
        .get(meta::MODEL)
        .map_or("an unnamed model".to_string(), |m| format!("model `{m}`"));
    let file_hidden = metadata.get(meta::HIDDEN_SIZE).map(String::as_str);
    let wrong = |m: String| Err(VectorError::WrongModel(m));
    if hidden_size == 0 {
        return wrong(format!(
            "these vectors were made for {made_for} (hidden size {}); this model's hidden size \
             is unknown (an HTTP backend), so they cannot be checked or used with it",
            file_hidden.unwrap_or("not given")
        ));
    }
    if file_hidden != Some(hidden_size.to_string().as_str()) {
        return wrong(format!(
            "these vectors were made for {made_for} with hidden size {}, but this model's hidden \
             size is {hidden_size}",
            file_hidden.unwrap_or("not given")
        ));
    }
    let file_sha = metadata.get(meta::MODEL_SHA256).map_or("", String::as_str);
    if file_sha != sha256 {
        let show = |s: &str| {
            if s.is_empty() {
                "none".to_string()
            } else {
                s.to_string()
            }
        };
        return wrong(format!(
            "these vectors were made for {made_for} with sha256 {}, but this model's sha256 is {}",
            show(file_sha),
            show(sha256)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(x: &[f32]) -> Vector {
        Vector::new(x.to_vec())
    }

    #[test]
    fn jacobi_diagonalizes_a_known_matrix() {
        // [[2, 1], [1, 2]]: eigenvalues 1 and 3, eigenvectors (1, −1)/√2 and (1, 1)/√2.
        let (values, vectors) = jacobi_eigen(vec![2.0, 1.0, 1.0, 2.0], 2);
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        assert!((sorted[0] - 1.0).abs() < 1e-12 && (sorted[1] - 3.0).abs() < 1e-12);
        let big = if values[0] > values[1] { 0 } else { 1 };
        let (x, y) = (vectors[big], vectors[2 + big]);
        assert!((x.abs() - 0.5f64.sqrt()).abs() < 1e-12 && (x - y).abs() < 1e-12);
    }

    #[test]
    fn sums_run_in_f64() {
        // In f32, 1e8 + 1 − 1e8 is 0; in f64 it is 1.
        let a = v(&[1e8, 1.0, -1e8]);
        let ones = v(&[1.0, 1.0, 1.0]);
        assert_eq!(a.dot(&ones).unwrap(), 1.0);
    }

    #[test]
    fn display_shows_length_and_first_values() {
        assert_eq!(v(&[1.0, -0.5]).to_string(), "vector(2)[1, -0.5]");
        assert_eq!(
            v(&[1.0, 2.0, 3.0, 4.0, 5.0]).to_string(),
            "vector(5)[1, 2, 3, 4, …]"
        );
    }
}
