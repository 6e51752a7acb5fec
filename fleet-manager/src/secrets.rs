//! Secrets at rest: Git and Helm credentials sealed with ChaCha20-Poly1305 before they
//! reach the store, opened only when a fetch needs them.
//!
//! The key comes from `FLEET_SECRET_KEY` (base64 of 32 bytes; replicas sharing a
//! PostgreSQL database must share it) or from `DATA_DIR/secret-key`, generated once with
//! mode 0600. [`SecretData`] values never implement `Display` and its `Debug` redacts, so
//! neither logs nor error messages can carry them.

use std::path::Path;

use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

use crate::resources::SecretData;

/// Errors of sealing and opening.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read or create the secret key file {path}: {source}")]
    KeyFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the secret key must be base64 of exactly 32 bytes (FLEET_SECRET_KEY or DATA_DIR/secret-key)")]
    BadKey,
    #[error(
        "cannot open a stored secret: wrong FLEET_SECRET_KEY for this database, or corrupted data"
    )]
    Open,
    #[error("the system random generator failed")]
    Random,
}

/// The sealing key.
pub struct SecretBox {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(<key redacted>)")
    }
}

impl SecretBox {
    /// The key from `env_key` when set, else from `data_dir/secret-key` (created once).
    pub fn load(env_key: Option<&str>, data_dir: &Path) -> Result<SecretBox, SecretError> {
        let encoded = match env_key.filter(|k| !k.trim().is_empty()) {
            Some(k) => k.trim().to_string(),
            None => {
                let path = data_dir.join("secret-key");
                let io = |source| SecretError::KeyFile {
                    path: path.display().to_string(),
                    source,
                };
                match std::fs::read_to_string(&path) {
                    Ok(text) => text.trim().to_string(),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        let mut raw = [0u8; 32];
                        SystemRandom::new()
                            .fill(&mut raw)
                            .map_err(|_| SecretError::Random)?;
                        let text = base64::engine::general_purpose::STANDARD.encode(raw);
                        crate::auth::write_private_file(&path, &text).map_err(io)?;
                        text
                    }
                    Err(e) => return Err(io(e)),
                }
            }
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::BadKey)?;
        SecretBox::from_key(&raw)
    }

    pub fn from_key(raw: &[u8]) -> Result<SecretBox, SecretError> {
        if raw.len() != 32 {
            return Err(SecretError::BadKey);
        }
        let key = UnboundKey::new(&CHACHA20_POLY1305, raw).map_err(|_| SecretError::BadKey)?;
        Ok(SecretBox {
            key: LessSafeKey::new(key),
            rng: SystemRandom::new(),
        })
    }

    /// Seals `data` bound to `namespace/name` (so a sealed blob copied under another
    /// name does not open): nonce || ciphertext || tag.
    pub fn seal(
        &self,
        namespace: &str,
        name: &str,
        data: &SecretData,
    ) -> Result<Vec<u8>, SecretError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| SecretError::Random)?;
        let mut buf = serde_json::to_vec(data).map_err(|_| SecretError::Open)?;
        let aad = format!("{namespace}/{name}");
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut buf,
            )
            .map_err(|_| SecretError::Open)?;
        let mut out = nonce.to_vec();
        out.extend(buf);
        Ok(out)
    }

    /// Opens a blob sealed by [`SecretBox::seal`] for the same `namespace/name`.
    pub fn open(
        &self,
        namespace: &str,
        name: &str,
        sealed: &[u8],
    ) -> Result<SecretData, SecretError> {
        if sealed.len() < NONCE_LEN {
            return Err(SecretError::Open);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecretError::Open)?;
        let mut buf = body.to_vec();
        let aad = format!("{namespace}/{name}");
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buf)
            .map_err(|_| SecretError::Open)?;
        serde_json::from_slice(plain).map_err(|_| SecretError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn data() -> SecretData {
        SecretData {
            r#type: String::new(),
            data: BTreeMap::from([("password".to_string(), "hunter2".to_string())]),
        }
    }

    #[test]
    fn seal_round_trips_and_hides_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let sb = SecretBox::load(None, dir.path()).unwrap();
        let sealed = sb.seal("fleet-default", "creds", &data()).unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("hunter2"));
        assert_eq!(sb.open("fleet-default", "creds", &sealed).unwrap(), data());
        // Same key file on reload.
        let again = SecretBox::load(None, dir.path()).unwrap();
        assert_eq!(
            again.open("fleet-default", "creds", &sealed).unwrap(),
            data()
        );
    }

    #[test]
    fn blobs_are_bound_to_their_name_and_key() {
        let sb = SecretBox::from_key(&[7u8; 32]).unwrap();
        let sealed = sb.seal("fleet-default", "creds", &data()).unwrap();
        assert!(sb.open("fleet-default", "other", &sealed).is_err());
        let other = SecretBox::from_key(&[8u8; 32]).unwrap();
        assert!(other.open("fleet-default", "creds", &sealed).is_err());
        assert!(SecretBox::from_key(&[1u8; 5]).is_err());
    }
}
