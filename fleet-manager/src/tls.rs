//! TLS for the manager's listener: the server certificate and, with `--client-ca`,
//! client certificates for agents (mTLS), with the identity a certificate carries.
//!
//! The TLS layer only asks for a client certificate and verifies it against the client
//! CA when one is sent: a certificate from another CA, expired or not meant for client
//! authentication fails the handshake on every endpoint, but sending none is allowed so
//! that browsers, the CLI and Git webhooks keep using tokens on the admin API and the
//! dashboard. Whether an agent call needs a certificate, and whether it names the
//! calling cluster, is decided per request by [`ClientCert`] (see
//! `api::client_cert`), because only the HTTP layer knows which cluster a credential
//! belongs to.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Whether agents must present a client certificate when `--client-ca` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ClientCertMode {
    /// Every agent call (registration included) needs a certificate naming the cluster.
    #[default]
    Required,
    /// An agent without a certificate is served on its token alone (for migrating a
    /// fleet to mTLS); one that sends a certificate must be named by it.
    Optional,
}

impl ClientCertMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientCertMode::Required => "required",
            ClientCertMode::Optional => "optional",
        }
    }
}

/// Why the TLS settings cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading TLS certificate {path}: {source}")]
    ReadCert {
        path: PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error("reading TLS key {path}: {source}")]
    ReadKey {
        path: PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error("reading client CA bundle {path}: {source}")]
    ReadClientCa {
        path: PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error("client CA bundle {path} holds no usable CA certificate (PEM `CERTIFICATE` blocks expected)")]
    EmptyClientCa { path: PathBuf },
    #[error("client certificate verifier: {0}")]
    ClientVerifier(#[from] rustls::server::VerifierBuilderError),
    #[error("TLS protocol versions: {0}")]
    Protocols(#[source] rustls::Error),
    #[error("TLS certificate and key do not match: {0}")]
    KeyMismatch(#[source] rustls::Error),
}

/// The listener's TLS: the server certificate and key, and optionally the CA bundle
/// that signs agents' client certificates.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// A ready TLS listener configuration: the rustls acceptor and, when client
/// certificates are verified, how agents must use them.
#[derive(Clone)]
pub struct TlsServer {
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// `None` without `--client-ca`: no client certificate is asked for.
    pub client_cert_mode: Option<ClientCertMode>,
}

impl TlsServer {
    /// Loads the files; `client_cert_mode` matters only with a client CA.
    pub fn load(files: &TlsFiles, client_cert_mode: ClientCertMode) -> Result<TlsServer, TlsError> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
            .and_then(|it| it.collect::<Result<_, _>>())
            .map_err(|source| TlsError::ReadCert {
                path: files.cert.clone(),
                source,
            })?;
        let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|source| TlsError::ReadKey {
            path: files.key.clone(),
            source,
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Protocols)?;
        let builder = match &files.client_ca {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let roots = client_roots(path)?;
                // Anonymous clients pass the handshake: the admin API, the dashboard and
                // webhooks authenticate with tokens; agent calls are checked per request.
                let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider)
                    .allow_unauthenticated()
                    .build()?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder
            .with_single_cert(certs, key)
            .map_err(TlsError::KeyMismatch)?;
        Ok(TlsServer {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            client_cert_mode: files.client_ca.as_ref().map(|_| client_cert_mode),
        })
    }
}

/// The CA certificates of a PEM bundle.
fn client_roots(path: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|source| TlsError::ReadClientCa {
            path: path.to_path_buf(),
            source,
        })?;
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(certs);
    if ignored > 0 {
        tracing::warn!(path = %path.display(), ignored, "client CA bundle: unparsable certificates ignored");
    }
    if added == 0 {
        return Err(TlsError::EmptyClientCa {
            path: path.to_path_buf(),
        });
    }
    Ok(Arc::new(roots))
}

/// What a verified client certificate says about its holder: the subject's common
/// names and organizations and the DNS names of its subjectAltName.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientIdentity {
    pub common_names: Vec<String>,
    pub dns_names: Vec<String>,
    pub organizations: Vec<String>,
}

impl ClientIdentity {
    /// Reads the identity of a DER certificate (already verified by rustls).
    pub fn from_der(der: &[u8]) -> Result<ClientIdentity, String> {
        let (_, cert) =
            x509_parser::parse_x509_certificate(der).map_err(|e| format!("certificate: {e}"))?;
        let subject = cert.subject();
        let text = |attr: &x509_parser::x509::AttributeTypeAndValue| {
            attr.as_str().ok().map(str::to_string)
        };
        let common_names = subject.iter_common_name().filter_map(text).collect();
        let organizations = subject.iter_organization().filter_map(text).collect();
        let mut dns_names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                if let x509_parser::extensions::GeneralName::DNSName(n) = name {
                    dns_names.push((*n).to_string());
                }
            }
        }
        Ok(ClientIdentity {
            common_names,
            dns_names,
            organizations,
        })
    }

    /// Whether this certificate names cluster `namespace/name`.
    ///
    /// The cluster name must be the subject CN or one of the DNS SANs. A certificate
    /// with organizations (`O=`, as Kubernetes uses them for groups) is also pinned to
    /// the workspaces they name, so two workspaces may hold clusters of the same name
    /// without one's certificate serving the other.
    pub fn names_cluster(&self, namespace: &str, name: &str) -> bool {
        let named = self
            .common_names
            .iter()
            .chain(&self.dns_names)
            .any(|n| n == name);
        named
            && (self.organizations.is_empty() || self.organizations.iter().any(|o| o == namespace))
    }

    /// The cluster name a registration without a requested name gets: the CN, else the
    /// first DNS SAN.
    pub fn cluster_name(&self) -> Option<&str> {
        self.common_names
            .first()
            .or_else(|| self.dns_names.first())
            .map(String::as_str)
    }

    /// A short description for logs and error messages.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.common_names.is_empty() {
            parts.push(format!("CN={}", self.common_names.join(",")));
        }
        if !self.organizations.is_empty() {
            parts.push(format!("O={}", self.organizations.join(",")));
        }
        if !self.dns_names.is_empty() {
            parts.push(format!("DNS={}", self.dns_names.join(",")));
        }
        if parts.is_empty() {
            "a certificate without CN or DNS names".into()
        } else {
            parts.join(" ")
        }
    }
}

/// What one connection's TLS handshake established about its client, attached to each
/// of its requests when client certificates are verified.
#[derive(Debug, Clone)]
pub struct ClientCert {
    pub mode: ClientCertMode,
    /// `None` when the client sent no certificate.
    pub identity: Option<Arc<ClientIdentity>>,
}

impl ClientCert {
    /// The client part of a finished handshake.
    pub fn of_connection(
        mode: ClientCertMode,
        conn: &rustls::ServerConnection,
        peer: std::net::SocketAddr,
    ) -> ClientCert {
        let identity = conn
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|leaf| match ClientIdentity::from_der(leaf) {
                Ok(id) => Arc::new(id),
                Err(e) => {
                    // rustls verified it, so this is a certificate we cannot read: treat
                    // it as naming nobody rather than as absent.
                    tracing::warn!(%peer, error = %e, "cannot read a verified client certificate");
                    Arc::new(ClientIdentity::default())
                }
            });
        ClientCert { mode, identity }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(cn: Option<&str>, dns: &[&str], orgs: &[&str]) -> Vec<u8> {
        let mut params =
            rcgen::CertificateParams::new(dns.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(cn) = cn {
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, cn);
        }
        for o in orgs {
            params
                .distinguished_name
                .push(rcgen::DnType::OrganizationName, *o);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn identity_names_clusters_by_cn_or_dns_and_pins_workspaces_by_o() {
        let id = ClientIdentity::from_der(&cert(Some("c1"), &["c1.example"], &[])).unwrap();
        assert_eq!(id.common_names, ["c1"]);
        assert_eq!(id.dns_names, ["c1.example"]);
        assert!(id.names_cluster("fleet-default", "c1"));
        assert!(id.names_cluster("other", "c1.example"));
        assert!(!id.names_cluster("fleet-default", "c2"));
        assert_eq!(id.cluster_name(), Some("c1"));

        let pinned = ClientIdentity::from_der(&cert(Some("c1"), &[], &["team-a"])).unwrap();
        assert!(pinned.names_cluster("team-a", "c1"));
        assert!(!pinned.names_cluster("fleet-default", "c1"));
        assert_eq!(pinned.describe(), "CN=c1 O=team-a");

        let dns_only = ClientIdentity::from_der(&cert(None, &["edge-7"], &[])).unwrap();
        assert_eq!(dns_only.cluster_name(), Some("edge-7"));
        assert!(ClientIdentity::default().cluster_name().is_none());
        assert!(!ClientIdentity::default().names_cluster("fleet-default", ""));
    }
}
