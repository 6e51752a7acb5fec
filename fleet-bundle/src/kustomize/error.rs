//! Errors of a kustomize build, each naming the file and what in it went wrong.

use std::path::PathBuf;

/// Why a kustomization could not be built.
#[derive(Debug, thiserror::Error)]
pub enum KustomizeError {
    /// A file or directory could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A path leads outside the bundle root.
    #[error("{}: {entry:?} resolves to {}, outside the root {}; only files inside the bundle may be read", file.display(), resolved.display(), root.display())]
    OutsideRoot {
        /// The kustomization naming it.
        file: PathBuf,
        /// The entry as written.
        entry: String,
        /// Where it leads.
        resolved: PathBuf,
        /// The root.
        root: PathBuf,
    },
    /// A remote resource (URL or git reference).
    #[error("{}: remote resource {url:?} is not supported: bundles must be self-contained, vendor it into the repository", file.display())]
    Remote {
        /// The kustomization naming it.
        file: PathBuf,
        /// The URL.
        url: String,
    },
    /// Kustomizations include each other in a loop.
    #[error("cycle in kustomizations: {}", chain.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" -> "))]
    Cycle {
        /// The include chain, ending with the repeated directory.
        chain: Vec<PathBuf>,
    },
    /// A directory without a kustomization file.
    #[error("{}: no kustomization.yaml, kustomization.yml or Kustomization in this directory", dir.display())]
    MissingKustomization {
        /// The directory.
        dir: PathBuf,
    },
    /// A directory holds more than one kustomization file.
    #[error("{}: found more than one kustomization file ({names}); keep only one", dir.display())]
    AmbiguousKustomization {
        /// The directory.
        dir: PathBuf,
        /// The file names found.
        names: String,
    },
    /// A kustomization file that does not follow the schema.
    #[error("{}: invalid kustomization: {source}", file.display())]
    Malformed {
        /// The file.
        file: PathBuf,
        /// What is wrong, with line, column and field.
        #[source]
        source: serde_yaml::Error,
    },
    /// YAML that does not parse.
    #[error("{}: {message}", file.display())]
    Yaml {
        /// The file (or the kustomization holding inline YAML).
        file: PathBuf,
        /// The parser's message with line and column.
        message: String,
    },
    /// An entry that names nothing that exists.
    #[error("{}: {field} entry {entry:?}: {reason}", file.display())]
    Missing {
        /// The kustomization.
        file: PathBuf,
        /// The field (`resources`, `patches`, ...).
        field: &'static str,
        /// The entry.
        entry: String,
        /// What was looked for.
        reason: String,
    },
    /// A transformer, generator or patch could not be applied.
    #[error("{}: {field}: {message}", file.display())]
    Transform {
        /// The kustomization.
        file: PathBuf,
        /// The field that configured the step.
        field: &'static str,
        /// What failed.
        message: String,
    },
    /// Two resources with the same id.
    #[error("{}: may not add resource with an already registered id: {id}", file.display())]
    Conflict {
        /// The kustomization.
        file: PathBuf,
        /// The id.
        id: String,
    },
}

impl KustomizeError {
    pub(crate) fn transform(
        file: &std::path::Path,
        field: &'static str,
        message: impl Into<String>,
    ) -> KustomizeError {
        KustomizeError::Transform {
            file: file.to_path_buf(),
            field,
            message: message.into(),
        }
    }
}
