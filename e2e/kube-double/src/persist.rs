//! Persistence of all objects to a JSON file (`--state`), so a demo survives a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

use crate::cluster::Cluster;
use crate::store::{Event, Snapshot};

/// Reading or writing the state file failed.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// The file could not be read or written.
    #[error("state file {path}: {source}")]
    Io {
        /// The state file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a snapshot this double wrote.
    #[error("state file {path} is not a kube-double snapshot (line {line}, column {column}): {source}; move it away to start empty")]
    Corrupt {
        /// The state file.
        path: PathBuf,
        /// Line of the JSON error.
        line: usize,
        /// Column of the JSON error.
        column: usize,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

/// Load a snapshot; `None` when the file does not exist yet.
///
/// # Errors
/// [`PersistError`] for unreadable or corrupt files.
pub fn load(path: &Path) -> Result<Option<Snapshot>, PersistError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(PersistError::Io {
                path: path.into(),
                source,
            })
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| PersistError::Corrupt {
            path: path.into(),
            line: source.line(),
            column: source.column(),
            source,
        })
}

/// Write a snapshot atomically (temp file then rename).
///
/// # Errors
/// [`PersistError::Io`].
pub fn save(path: &Path, snapshot: &Snapshot) -> Result<(), PersistError> {
    let io = |source| PersistError::Io {
        path: path.into(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let bytes = serde_json::to_vec(snapshot).map_err(|e| io(std::io::Error::other(e)))?;
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Save after every burst of changes until shutdown, then once more.
pub async fn run(
    cluster: Arc<Cluster>,
    path: PathBuf,
    mut events: broadcast::Receiver<Arc<Event>>,
) {
    let mut shutdown = cluster.shutdown.subscribe();
    loop {
        let stop = tokio::select! {
            _ = shutdown.changed() => true,
            ev = events.recv() => matches!(ev, Err(broadcast::error::RecvError::Closed)),
        };
        if !stop {
            // Let a burst of writes settle into one save.
            tokio::time::sleep(Duration::from_millis(50)).await;
            while events.try_recv().is_ok() {}
        }
        let snapshot = cluster.lock().store.snapshot();
        if let Err(e) = save(&path, &snapshot) {
            tracing::error!(error = %e, "saving state");
        }
        if stop {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_state_names_the_file_and_position() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        std::fs::write(&path, "{not json").expect("write");
        let err = load(&path).expect_err("corrupt");
        let msg = err.to_string();
        assert!(
            msg.contains("state.json") && msg.contains("line 1"),
            "{msg}"
        );
        assert!(load(&dir.path().join("missing.json"))
            .expect("missing is fine")
            .is_none());
    }
}
