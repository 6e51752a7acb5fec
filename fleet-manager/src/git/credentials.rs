//! Git credentials and server verification from a GitRepo's `clientSecretName` secret
//! and TLS settings, as git2 callbacks.
//!
//! Secret keys, as Fleet reads them: `ssh-privatekey` (+ optional `ssh-publickey`,
//! `known_hosts`) for SSH; `username` + `password` for HTTP basic auth, where a token
//! goes in `password` (or alone under `token`). SSH host keys are checked against
//! `known_hosts`; without one the fetch is refused unless `insecureSkipTLSVerify` is set,
//! so nobody is silently trusted.

use base64::Engine;
use git2::{CertificateCheckStatus, Cred, CredentialType, RemoteCallbacks};

use crate::resources::SecretData;

/// How to authenticate to and verify one remote.
#[derive(Clone, Default)]
pub struct GitAuth {
    pub secret: Option<SecretData>,
    pub insecure_skip_tls_verify: bool,
    /// PEM certificates trusted for this remote's TLS (the GitRepo's `caBundle`), in
    /// addition to the system's.
    pub ca_bundle: Option<Vec<u8>>,
}

/// The PEM bytes of a GitRepo `caBundle`: Fleet's field is bytes, so YAML carries it as
/// base64; PEM text is accepted as is.
pub fn ca_bundle_pem(field: &str) -> Result<Vec<u8>, String> {
    let trimmed = field.trim();
    if trimmed.starts_with("-----BEGIN") {
        return Ok(trimmed.as_bytes().to_vec());
    }
    let compact: String = trimmed.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| format!("caBundle is neither PEM nor base64 of PEM: {e}"))
}

/// Verifies a server's leaf certificate (DER) for `host` against the CA certificates of
/// `pem`: signed by one of them, valid now, for server authentication, naming `host`.
pub fn verify_with_ca_bundle(pem: &[u8], leaf_der: &[u8], host: &str) -> Result<(), String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
    let cas: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("caBundle: cannot read PEM certificates: {e:?}"))?;
    if cas.is_empty() {
        return Err("caBundle holds no certificate".into());
    }
    let anchors: Vec<_> = cas
        .iter()
        .filter_map(|c| webpki::anchor_from_trusted_cert(c).ok())
        .collect();
    let leaf = CertificateDer::from(leaf_der.to_vec());
    let cert =
        webpki::EndEntityCert::try_from(&leaf).map_err(|e| format!("server certificate: {e}"))?;
    cert.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &[],
        UnixTime::now(),
        webpki::KeyUsage::server_auth(),
        None,
        None,
    )
    .map_err(|e| format!("server certificate is not signed by caBundle: {e}"))?;
    let name = ServerName::try_from(host.to_string()).map_err(|e| format!("host {host:?}: {e}"))?;
    cert.verify_is_valid_for_subject_name(&name)
        .map_err(|e| format!("server certificate is not valid for {host}: {e}"))
}

impl std::fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitAuth")
            .field("secret", &self.secret)
            .field("insecure_skip_tls_verify", &self.insecure_skip_tls_verify)
            .finish()
    }
}

/// One `known_hosts` line: host patterns (or a hashed host) and a key.
#[derive(Debug, Clone, PartialEq)]
struct KnownHost {
    hosts: Vec<String>,
    /// `|1|salt|hash` entries: (salt, hash).
    hashed: Option<(Vec<u8>, Vec<u8>)>,
    key_type: String,
    key: Vec<u8>,
}

fn parse_known_hosts(text: &str) -> Vec<KnownHost> {
    let b64 = base64::engine::general_purpose::STANDARD;
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('@'))
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let hosts = parts.next()?;
            let key_type = parts.next()?.to_string();
            let key = b64.decode(parts.next()?).ok()?;
            let hashed = hosts.strip_prefix("|1|").and_then(|rest| {
                let (salt, hash) = rest.split_once('|')?;
                Some((b64.decode(salt).ok()?, b64.decode(hash).ok()?))
            });
            Some(KnownHost {
                hosts: hosts.split(',').map(str::to_string).collect(),
                hashed,
                key_type,
                key,
            })
        })
        .collect()
}

impl KnownHost {
    fn names(&self, host: &str, port: Option<u16>) -> bool {
        let candidates = match port {
            Some(p) if p != 22 => vec![format!("[{host}]:{p}")],
            _ => vec![host.to_string(), format!("[{host}]:22")],
        };
        if let Some((salt, hash)) = &self.hashed {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, salt);
            return candidates
                .iter()
                .any(|c| ring::hmac::verify(&key, c.as_bytes(), hash).is_ok());
        }
        self.hosts.iter().any(|h| candidates.iter().any(|c| c == h))
    }
}

/// Whether `key` is a known host key of `host` (and `port`).
fn host_key_known(known_hosts: &str, host: &str, port: Option<u16>, key: &[u8]) -> bool {
    parse_known_hosts(known_hosts)
        .iter()
        .any(|k| k.names(host, port) && k.key == key)
}

/// Splits `host` and port out of a remote URL for known_hosts lookups.
pub fn host_and_port(url: &str) -> (String, Option<u16>) {
    let rest = match url.split_once("://") {
        Some((_, rest)) => rest,
        None => {
            // scp-like user@host:path
            let host = url.split(':').next().unwrap_or(url);
            return (host.rsplit('@').next().unwrap_or(host).to_string(), None);
        }
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    match host_port.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => match p.parse() {
            Ok(port) => (
                h.trim_matches(|c| c == '[' || c == ']').to_string(),
                Some(port),
            ),
            Err(_) => (host_port.to_string(), None),
        },
        _ => (host_port.to_string(), None),
    }
}

impl GitAuth {
    /// The callbacks for a fetch of `url`. Credentials are offered once: libgit2 asks
    /// again after a rejection, and a second ask means the credentials are wrong.
    pub fn callbacks(&self, url: &str) -> RemoteCallbacks<'static> {
        let mut cb = RemoteCallbacks::new();
        let secret = self.secret.clone();
        let mut attempts = 0;
        cb.credentials(move |_url, username_from_url, allowed| {
            attempts += 1;
            if attempts > 2 {
                return Err(git2::Error::from_str(
                    "authentication failed: the credentials of clientSecretName were rejected",
                ));
            }
            let Some(secret) = &secret else {
                return Err(git2::Error::from_str(
                    "the server asks for credentials: set clientSecretName to a secret with username/password, token or ssh-privatekey",
                ));
            };
            let data = &secret.data;
            if allowed.contains(CredentialType::SSH_KEY) {
                if let Some(key) = data.get("ssh-privatekey") {
                    let user = username_from_url.unwrap_or("git");
                    return Cred::ssh_key_from_memory(user, data.get("ssh-publickey").map(String::as_str), key, None);
                }
            }
            if allowed.contains(CredentialType::USERNAME) {
                return Cred::username(username_from_url.unwrap_or("git"));
            }
            if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                let password = data.get("password").or_else(|| data.get("token"));
                if let Some(password) = password {
                    let user = data
                        .get("username")
                        .map(String::as_str)
                        .or(username_from_url)
                        .unwrap_or("git");
                    return Cred::userpass_plaintext(user, password);
                }
            }
            Err(git2::Error::from_str(
                "clientSecretName has no credential of the kind the server asks for (username/password, token or ssh-privatekey)",
            ))
        });
        let insecure = self.insecure_skip_tls_verify;
        let known_hosts = self
            .secret
            .as_ref()
            .and_then(|s| s.data.get("known_hosts").cloned());
        let (host, port) = host_and_port(url);
        let ca_bundle = self.ca_bundle.clone();
        cb.certificate_check(move |cert, _hostname| {
            if let Some(hostkey) = cert.as_hostkey() {
                let Some(key) = hostkey.hostkey() else {
                    return Err(git2::Error::from_str("the SSH server sent no host key"));
                };
                return match &known_hosts {
                    Some(kh) if host_key_known(kh, &host, port, key) => Ok(CertificateCheckStatus::CertificateOk),
                    Some(_) => Err(git2::Error::from_str(&format!(
                        "the SSH host key of {host} is not in known_hosts of clientSecretName"
                    ))),
                    None if insecure => Ok(CertificateCheckStatus::CertificateOk),
                    None => Err(git2::Error::from_str(&format!(
                        "no known_hosts for {host}: add known_hosts to clientSecretName (or set insecureSkipTLSVerify)"
                    ))),
                };
            }
            if insecure {
                return Ok(CertificateCheckStatus::CertificateOk);
            }
            if let (Some(pem), Some(x509)) = (&ca_bundle, cert.as_x509()) {
                // Trusted when the caBundle accepts it; otherwise libgit2 still decides
                // with the system roots (a public certificate keeps working).
                return match verify_with_ca_bundle(pem, x509.data(), &host) {
                    Ok(()) => Ok(CertificateCheckStatus::CertificateOk),
                    Err(e) => {
                        tracing::debug!(error = %e, "caBundle does not verify the server; trying the system roots");
                        Ok(CertificateCheckStatus::CertificatePassthrough)
                    }
                };
            }
            // Let libgit2 decide with the system trust store.
            Ok(CertificateCheckStatus::CertificatePassthrough)
        });
        cb
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hosts_match_plain_ported_and_hashed_entries() {
        let key = b"\x00\x00\x00\x0bssh-ed25519key-bytes";
        let b64 = base64::engine::general_purpose::STANDARD.encode(key);
        let kh = format!("# comment\ngithub.com,140.82.1.1 ssh-ed25519 {b64}\n[127.0.0.1]:2222 ssh-ed25519 {b64}\n");
        assert!(host_key_known(&kh, "github.com", None, key));
        assert!(host_key_known(&kh, "127.0.0.1", Some(2222), key));
        assert!(!host_key_known(&kh, "127.0.0.1", Some(2223), key));
        assert!(!host_key_known(&kh, "github.com", None, b"other"));
        // Hashed: HMAC-SHA1(salt, host).
        let salt = b"0123456789abcdefghij";
        let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, salt);
        let tag = ring::hmac::sign(&k, b"example.org");
        let e = base64::engine::general_purpose::STANDARD;
        let hashed = format!(
            "|1|{}|{} ssh-ed25519 {b64}\n",
            e.encode(salt),
            e.encode(tag.as_ref())
        );
        assert!(host_key_known(&hashed, "example.org", None, key));
        assert!(!host_key_known(&hashed, "example.com", None, key));
    }

    #[test]
    fn hosts_and_ports_from_urls() {
        assert_eq!(
            host_and_port("ssh://git@127.0.0.1:2222/repo.git"),
            ("127.0.0.1".into(), Some(2222))
        );
        assert_eq!(
            host_and_port("git@github.com:org/repo.git"),
            ("github.com".into(), None)
        );
        assert_eq!(
            host_and_port("https://example.org/x"),
            ("example.org".into(), None)
        );
    }
}
