//! The agent's state directory: its credential, the last desired state, bundle content
//! by digest and what it applied, written atomically and checked on every read.
//!
//! Layout under the state dir:
//! - `credential.json` (mode 0600): the per-cluster credential from registration;
//! - `desired.json`: the last [`DesiredState`] and its ETag;
//! - `content/<sha256>`: bundle content blobs, verified against their name on read;
//! - `applied/<namespace>.<bundle>.json`: what was applied for one bundle.
//!
//! Every file but the content blobs is an envelope `fleet-agent-state v1 sha256=<hex>\n`
//! followed by its JSON body, so a torn or bit-flipped file is recognised. A file that
//! fails its check is logged, removed and treated as absent: the agent then fetches or
//! re-applies instead of crash-looping on it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use fleet_bundle::deployment::DesiredState;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::applied::AppliedBundle;

const ENVELOPE_PREFIX: &str = "fleet-agent-state v1 sha256=";

/// Errors of the state directory.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot create state directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path} (is the disk full or read-only?): {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode state for {path}: {source}")]
    Encode {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid content digest {0:?}: expected 64 lowercase hex characters")]
    InvalidDigest(String),
}

/// The per-cluster credential kept across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredCredential {
    /// The manager the credential was issued by; a different `--manager` registers anew.
    pub manager: String,
    pub cluster_name: String,
    pub namespace: String,
    pub credential: String,
}

/// The last desired state received, with the ETag to long-poll from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredDesired {
    pub etag: String,
    pub state: DesiredState,
}

/// The state directory. Cheap to clone; all methods do blocking file I/O of small files.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// Opens (creating it if needed) the state directory at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<StateDir, CacheError> {
        let root = root.into();
        for dir in [root.clone(), root.join("content"), root.join("applied")] {
            fs::create_dir_all(&dir)
                .map_err(|source| CacheError::CreateDir { path: dir, source })?;
        }
        Ok(StateDir { root })
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The stored credential, if any and intact.
    pub fn credential(&self) -> Option<StoredCredential> {
        self.read_envelope(&self.root.join("credential.json"))
    }

    /// Stores the credential, readable by the agent's user only.
    pub fn save_credential(&self, credential: &StoredCredential) -> Result<(), CacheError> {
        self.write_envelope(&self.root.join("credential.json"), credential, 0o600)
    }

    /// Forgets the credential (the manager said it is unknown).
    pub fn remove_credential(&self) {
        remove_quietly(&self.root.join("credential.json"));
    }

    /// The last desired state, if any and intact.
    pub fn desired(&self) -> Option<StoredDesired> {
        self.read_envelope(&self.root.join("desired.json"))
    }

    /// Stores the desired state.
    pub fn save_desired(&self, desired: &StoredDesired) -> Result<(), CacheError> {
        self.write_envelope(&self.root.join("desired.json"), desired, 0o600)
    }

    /// The content blob with `digest`, if present and its sha256 still matches.
    pub fn content(&self, digest: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let path = self.content_path(digest)?;
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CacheError::Read { path, source }),
        };
        if sha256_hex(&bytes) != digest {
            tracing::warn!(path = %path.display(), "cached bundle content does not match its digest; discarding it and fetching it again");
            remove_quietly(&path);
            return Ok(None);
        }
        Ok(Some(bytes))
    }

    /// Whether a blob of `digest` is stored (without verifying it).
    pub fn has_content(&self, digest: &str) -> bool {
        self.content_path(digest)
            .map(|p| p.exists())
            .unwrap_or(false)
    }

    /// Stores a content blob; the caller verified that its sha256 is `digest`.
    pub fn save_content(&self, digest: &str, bytes: &[u8]) -> Result<(), CacheError> {
        let path = self.content_path(digest)?;
        atomic_write(&path, bytes, 0o600)
    }

    /// Removes every content blob not in `keep`, so the cache holds only what the
    /// current desired state needs.
    pub fn retain_content(&self, keep: &[&str]) {
        let Ok(entries) = fs::read_dir(self.root.join("content")) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name.as_str()) {
                remove_quietly(&entry.path());
            }
        }
    }

    /// What was applied for the bundle `namespace/bundle`, if recorded and intact.
    pub fn applied(&self, namespace: &str, bundle: &str) -> Option<AppliedBundle> {
        self.read_envelope(&self.applied_path(namespace, bundle))
    }

    /// Records what was applied for a bundle.
    pub fn save_applied(&self, applied: &AppliedBundle) -> Result<(), CacheError> {
        self.write_envelope(
            &self.applied_path(&applied.namespace, &applied.bundle),
            applied,
            0o600,
        )
    }

    /// Forgets a bundle (its release was uninstalled).
    pub fn remove_applied(&self, namespace: &str, bundle: &str) {
        remove_quietly(&self.applied_path(namespace, bundle));
    }

    /// `(namespace, bundle)` of every bundle with an applied record.
    pub fn applied_bundles(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let Ok(entries) = fs::read_dir(self.root.join("applied")) else {
            return out;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".json") else {
                continue;
            };
            // Namespaces are DNS labels (no dots), so the first dot separates them.
            if let Some((namespace, bundle)) = stem.split_once('.') {
                out.push((namespace.to_string(), bundle.to_string()));
            }
        }
        out.sort();
        out
    }

    fn applied_path(&self, namespace: &str, bundle: &str) -> PathBuf {
        self.root
            .join("applied")
            .join(format!("{}.{}.json", sanitize(namespace), sanitize(bundle)))
    }

    fn content_path(&self, digest: &str) -> Result<PathBuf, CacheError> {
        if digest.len() != 64
            || !digest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(CacheError::InvalidDigest(digest.to_string()));
        }
        Ok(self.root.join("content").join(digest))
    }

    fn write_envelope<T: Serialize>(
        &self,
        path: &Path,
        value: &T,
        mode: u32,
    ) -> Result<(), CacheError> {
        let body = serde_json::to_vec(value).map_err(|source| CacheError::Encode {
            path: path.to_path_buf(),
            source,
        })?;
        let mut bytes = format!("{ENVELOPE_PREFIX}{}\n", sha256_hex(&body)).into_bytes();
        bytes.extend_from_slice(&body);
        atomic_write(path, &bytes, mode)
    }

    /// Reads an envelope; a missing file is `None`, a damaged one is logged, removed
    /// and `None`.
    fn read_envelope<T: DeserializeOwned>(&self, path: &Path) -> Option<T> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read state file; treating it as absent");
                return None;
            }
        };
        match decode_envelope(&bytes) {
            Ok(value) => Some(value),
            Err(reason) => {
                tracing::warn!(path = %path.display(), %reason, "state file is corrupted; discarding it");
                remove_quietly(path);
                None
            }
        }
    }
}

fn decode_envelope<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let newline = bytes
        .iter()
        .position(|b| *b == b'\n')
        .ok_or("no header line")?;
    let header = std::str::from_utf8(&bytes[..newline]).map_err(|_| "header is not UTF-8")?;
    let expected = header
        .strip_prefix(ENVELOPE_PREFIX)
        .ok_or("unknown header")?;
    let body = &bytes[newline + 1..];
    let actual = sha256_hex(body);
    if actual != expected {
        return Err(format!(
            "checksum mismatch (header {expected}, content {actual})"
        ));
    }
    serde_json::from_slice(body).map_err(|e| format!("unreadable JSON: {e}"))
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Writes `bytes` to `path` so that a reader sees either the old or the new file, never
/// a torn one: temp file in the same directory, fsync, rename, fsync the directory.
pub fn atomic_write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CacheError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(mode);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        if let Ok(dir) = fs::File::open(dir) {
            // Persist the rename itself; some filesystems refuse fsync on directories.
            let _ = dir.sync_all();
        }
        Ok(())
    };
    write().map_err(|source| {
        remove_quietly(&tmp);
        CacheError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

fn remove_quietly(path: &Path) {
    if let Err(e) = fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove state file");
        }
    }
}

/// Keeps file names to a safe alphabet (bundle names are DNS names, but the state dir must
/// not be escapable by a hostile name).
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(cluster: &str) -> StoredDesired {
        StoredDesired {
            etag: "\"e1\"".into(),
            state: DesiredState {
                cluster_name: cluster.into(),
                ..Default::default()
            },
        }
    }

    #[test]
    fn round_trips_desired_state() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        assert!(state.desired().is_none());
        state.save_desired(&desired("c1")).unwrap();
        assert_eq!(state.desired().unwrap(), desired("c1"));
    }

    #[test]
    fn corrupted_file_is_discarded_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        state.save_desired(&desired("c1")).unwrap();
        let path = dir.path().join("desired.json");
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 3;
        bytes[last] ^= 0x20;
        fs::write(&path, &bytes).unwrap();
        assert!(state.desired().is_none());
        assert!(!path.exists(), "the damaged file is removed");
        // Garbage without a header is discarded too.
        fs::write(&path, b"{\"etag\":").unwrap();
        assert!(state.desired().is_none());
        state.save_desired(&desired("c2")).unwrap();
        assert_eq!(state.desired().unwrap().state.cluster_name, "c2");
    }

    #[test]
    fn credential_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        let cred = StoredCredential {
            manager: "https://m".into(),
            cluster_name: "c".into(),
            namespace: "fleet-default".into(),
            credential: "secret".into(),
        };
        state.save_credential(&cred).unwrap();
        assert_eq!(state.credential().unwrap(), cred);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("credential.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        state.remove_credential();
        assert!(state.credential().is_none());
    }

    #[test]
    fn content_is_verified_by_digest() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        let body = b"{\"resources\":[]}";
        let digest = sha256_hex(body);
        state.save_content(&digest, body).unwrap();
        assert_eq!(state.content(&digest).unwrap().unwrap(), body);
        fs::write(dir.path().join("content").join(&digest), b"tampered").unwrap();
        assert!(state.content(&digest).unwrap().is_none());
        assert!(!state.has_content(&digest));
        assert!(matches!(
            state.content("../../etc/passwd"),
            Err(CacheError::InvalidDigest(_))
        ));
    }

    #[test]
    fn retain_content_drops_unused_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        let a = sha256_hex(b"a");
        let b = sha256_hex(b"b");
        state.save_content(&a, b"a").unwrap();
        state.save_content(&b, b"b").unwrap();
        state.retain_content(&[a.as_str()]);
        assert!(state.has_content(&a));
        assert!(!state.has_content(&b));
    }

    #[test]
    fn write_into_missing_directory_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = atomic_write(&dir.path().join("nope/file"), b"x", 0o600).unwrap_err();
        assert!(err.to_string().contains("cannot write"), "{err}");
    }
}
