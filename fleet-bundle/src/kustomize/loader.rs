//! Reading files for a build, confined to the bundle root.
//!
//! Every path a kustomization names is resolved (symlinks included) and must stay inside
//! the root given in [`super::BuildOptions`]; remote resources (URLs, git references) are
//! refused because a bundle must be self-contained.

use std::path::{Path, PathBuf};

use super::error::KustomizeError;

/// The file names kustomize recognises as a kustomization, in its order of preference.
pub const KUSTOMIZATION_FILE_NAMES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// File access confined to one directory tree.
#[derive(Debug, Clone)]
pub struct Loader {
    root: PathBuf,
}

impl Loader {
    /// A loader for files under `root`.
    pub fn new(root: &Path) -> Result<Loader, KustomizeError> {
        let root = root.canonicalize().map_err(|source| KustomizeError::Read {
            path: root.to_path_buf(),
            source,
        })?;
        Ok(Loader { root })
    }

    /// The root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves `entry` (as written in the kustomization `file`) against `dir`.
    ///
    /// Fails for URLs, for paths that do not exist and for paths outside the root.
    pub fn resolve(
        &self,
        dir: &Path,
        entry: &str,
        file: &Path,
        field: &'static str,
    ) -> Result<PathBuf, KustomizeError> {
        if is_remote(entry) {
            return Err(KustomizeError::Remote {
                file: file.to_path_buf(),
                url: entry.to_string(),
            });
        }
        let joined = dir.join(entry);
        let resolved = joined.canonicalize().map_err(|e| KustomizeError::Missing {
            file: file.to_path_buf(),
            field,
            entry: entry.to_string(),
            reason: format!("{}: {e}", joined.display()),
        })?;
        self.check_inside(&resolved, entry, file)?;
        Ok(resolved)
    }

    /// Fails when `path` is outside the root.
    pub fn check_inside(
        &self,
        path: &Path,
        entry: &str,
        file: &Path,
    ) -> Result<(), KustomizeError> {
        if path.starts_with(&self.root) {
            Ok(())
        } else {
            Err(KustomizeError::OutsideRoot {
                file: file.to_path_buf(),
                entry: entry.to_string(),
                resolved: path.to_path_buf(),
                root: self.root.clone(),
            })
        }
    }

    /// Reads a file as UTF-8 text.
    pub fn read_text(&self, path: &Path) -> Result<String, KustomizeError> {
        let bytes = self.read_bytes(path)?;
        String::from_utf8(bytes).map_err(|e| KustomizeError::Read {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    }

    /// Reads a file's bytes.
    pub fn read_bytes(&self, path: &Path) -> Result<Vec<u8>, KustomizeError> {
        std::fs::read(path).map_err(|source| KustomizeError::Read {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The kustomization file of a directory.
    pub fn kustomization_file(&self, dir: &Path) -> Result<PathBuf, KustomizeError> {
        let found: Vec<PathBuf> = KUSTOMIZATION_FILE_NAMES
            .iter()
            .map(|n| dir.join(n))
            .filter(|p| p.is_file())
            .collect();
        match found.len() {
            0 => Err(KustomizeError::MissingKustomization {
                dir: dir.to_path_buf(),
            }),
            1 => Ok(found.into_iter().next().unwrap_or_default()),
            _ => Err(KustomizeError::AmbiguousKustomization {
                dir: dir.to_path_buf(),
                names: found
                    .iter()
                    .filter_map(|p| p.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}

/// Whether a resource entry points at something remote.
pub fn is_remote(entry: &str) -> bool {
    entry.contains("://")
        || entry.starts_with("git@")
        || entry.starts_with("github.com/")
        || entry.starts_with("gitlab.com/")
        || entry.starts_with("bitbucket.org/")
        || entry.contains("?ref=")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_entries_are_recognised() {
        assert!(is_remote("https://github.com/a/b//c?ref=v1"));
        assert!(is_remote("github.com/kubernetes-sigs/kustomize/examples"));
        assert!(is_remote("git@github.com:a/b.git"));
        assert!(!is_remote("../base"));
    }

    #[test]
    fn paths_outside_the_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        std::fs::write(dir.path().join("secret.yaml"), "a: b").unwrap();
        let loader = Loader::new(&dir.path().join("root")).unwrap();
        let err = loader
            .resolve(
                loader.root(),
                "../secret.yaml",
                Path::new("kustomization.yaml"),
                "resources",
            )
            .unwrap_err();
        assert!(matches!(err, KustomizeError::OutsideRoot { .. }), "{err}");
    }
}
