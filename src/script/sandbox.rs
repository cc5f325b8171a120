//! What a script may touch. Scripts are shared next to papers and run by strangers, so they
//! reach files only through registered functions, and those accept only paths inside the
//! project folder (reading, importing) or the run's output folder (writing).
//!
//! Rules, checked before any file is opened: no `..` component anywhere; relative paths are
//! taken from the run folder (outputs) or the project folder (inputs); absolute paths must lie
//! inside one of the allowed folders; and the resolved location, symbolic links followed, must
//! still lie inside it. Rhai itself has no file, process or environment access, and `import`
//! goes through `SandboxResolver`, which applies the same rules.

use rhai::module_resolvers::FileModuleResolver;
use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Shared};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Sandbox {
    /// Folder scripts may read and import from.
    pub project: PathBuf,
    /// Folder scripts may write to (the run folder).
    pub output: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

impl Sandbox {
    /// Resolves `path` for `access`, or explains why it is refused.
    pub fn resolve(&self, path: &str, access: Access) -> Result<PathBuf, String> {
        let given = Path::new(path);
        if path.is_empty() {
            return Err("an empty path".into());
        }
        if given.components().any(|c| c == Component::ParentDir) {
            return Err(format!("`{path}` is refused: paths may not contain `..`"));
        }
        let (base, roots): (&Path, Vec<&Path>) = match access {
            Access::Write => (&self.output, vec![&self.output]),
            Access::Read => (&self.project, vec![&self.project, &self.output]),
        };
        let full = if given.is_absolute() {
            given.to_path_buf()
        } else {
            base.join(given)
        };
        let inside = |p: &Path| {
            roots
                .iter()
                .any(|root| p.starts_with(canonical_or_self(root)))
        };
        // Follow symbolic links of the deepest existing ancestor: a link inside the project
        // that points elsewhere must not become a way out.
        let mut existing = full.as_path();
        while !existing.exists() {
            match existing.parent() {
                Some(parent) => existing = parent,
                None => break,
            }
        }
        let real =
            canonical_or_self(existing).join(full.strip_prefix(existing).unwrap_or(Path::new("")));
        if !inside(&real) {
            let allowed = roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(" or ");
            return Err(format!(
                "`{path}` is refused: scripts may only {} files inside {allowed}",
                match access {
                    Access::Read => "read",
                    Access::Write => "write",
                }
            ));
        }
        Ok(full)
    }
}

impl Sandbox {
    /// Resolves a path to read that may be a folder (a persona library, a model folder): the
    /// path as `resolve` does, and, for a folder, every entry beneath it, symbolic links
    /// followed, must lie inside the readable folders too, since the functions that read a
    /// folder open whatever its entries point to.
    pub fn resolve_tree(&self, path: &str) -> Result<PathBuf, String> {
        /// Entries looked at before the folder is refused as too large to check.
        const MAX_ENTRIES: usize = 100_000;
        let resolved = self.resolve(path, Access::Read)?;
        if !resolved.is_dir() {
            return Ok(resolved);
        }
        let roots = [
            canonical_or_self(&self.project),
            canonical_or_self(&self.output),
        ];
        let mut pending = vec![canonical_or_self(&resolved)];
        let mut seen = std::collections::HashSet::new();
        let mut entries = 0;
        while let Some(dir) = pending.pop() {
            if !seen.insert(dir.clone()) {
                continue;
            }
            let Ok(listing) = std::fs::read_dir(&dir) else {
                continue; // unreadable: the reader reports it
            };
            for entry in listing.flatten() {
                entries += 1;
                if entries > MAX_ENTRIES {
                    return Err(format!(
                        "`{path}` is refused: more than {MAX_ENTRIES} files beneath it to check"
                    ));
                }
                let Ok(real) = std::fs::canonicalize(entry.path()) else {
                    continue; // a dangling link opens nothing
                };
                if !roots.iter().any(|root| real.starts_with(root)) {
                    let inner = entry.path();
                    let shown = inner.strip_prefix(&dir).unwrap_or(&inner);
                    return Err(format!(
                        "`{path}` is refused: `{}` inside it leads to {}, and scripts may only \
                         read files inside {} or {}",
                        dir.join(shown).display(),
                        real.display(),
                        self.project.display(),
                        self.output.display()
                    ));
                }
                if real.is_dir() {
                    pending.push(real);
                }
            }
        }
        Ok(resolved)
    }
}

fn canonical_or_self(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// `import "x"` resolved inside the project folder only.
pub struct SandboxResolver {
    sandbox: Sandbox,
    inner: FileModuleResolver,
}

impl SandboxResolver {
    pub fn new(sandbox: Sandbox) -> Self {
        let inner = FileModuleResolver::new_with_path(sandbox.project.clone());
        SandboxResolver { sandbox, inner }
    }
}

impl ModuleResolver for SandboxResolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let with_extension = if path.ends_with(".rhai") {
            path.to_string()
        } else {
            format!("{path}.rhai")
        };
        let missing = |resolved: &Path| {
            format!(
                "module `{path}` not found: imports are read from the project folder ({}, set \
                 by --project; by default the current folder), and {} is not there",
                self.sandbox.project.display(),
                resolved.display()
            )
        };
        let reason = match self.sandbox.resolve(&with_extension, Access::Read) {
            Ok(resolved) if !resolved.is_file() => missing(&resolved),
            Ok(_) => return self.inner.resolve(engine, source, path, pos),
            Err(reason) => reason,
        };
        Err(EvalAltResult::ErrorInModule(
            path.into(),
            EvalAltResult::ErrorRuntime(reason.into(), pos).into(),
            pos,
        )
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox() -> (Sandbox, PathBuf) {
        let root = std::env::temp_dir().join(format!("drift-sandbox-{}", std::process::id()));
        let project = root.join("project");
        let output = project.join("selfchat/run");
        std::fs::create_dir_all(&output).unwrap();
        let sandbox = Sandbox {
            project: std::fs::canonicalize(&project).unwrap(),
            output: std::fs::canonicalize(&output).unwrap(),
        };
        (sandbox, root)
    }

    #[test]
    fn escapes_are_refused() {
        let (sb, root) = sandbox();
        assert!(
            sb.resolve("plot.png", Access::Write)
                .unwrap()
                .starts_with(&sb.output)
        );
        assert!(
            sb.resolve("data/topics.txt", Access::Read)
                .unwrap()
                .starts_with(&sb.project)
        );
        for (path, access, expected) in [
            ("../x.png", Access::Write, "may not contain `..`"),
            ("a/../../x", Access::Read, "may not contain `..`"),
            ("/etc/passwd", Access::Read, "may only read files inside"),
            ("/tmp/x.png", Access::Write, "may only write files inside"),
            ("", Access::Write, "an empty path"),
        ] {
            let err = sb.resolve(path, access).unwrap_err();
            assert!(err.contains(expected), "{path}: {err}");
        }
        // Writing into the project but outside the run folder is refused too.
        let inside_project = sb.project.join("README.md");
        let err = sb
            .resolve(inside_project.to_str().unwrap(), Access::Write)
            .unwrap_err();
        assert!(err.contains("may only write files inside"), "{err}");
        // A symbolic link inside the output folder pointing outside is no way out.
        std::os::unix::fs::symlink("/tmp", sb.output.join("link")).unwrap();
        let err = sb.resolve("link/escape.png", Access::Write).unwrap_err();
        assert!(err.contains("may only write files inside"), "{err}");
        std::fs::remove_dir_all(root).unwrap();
    }
}
