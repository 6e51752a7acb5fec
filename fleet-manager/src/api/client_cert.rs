//! The mTLS check of agent calls: with `--client-ca`, an agent's bearer credential is
//! honoured only together with a client certificate that names its cluster, so a
//! stolen credential alone (or one cluster's certificate with another's credential)
//! gets nothing.
//!
//! The server attaches a [`ClientCert`] to every request of a TLS connection whose
//! client certificates are verified (see [`crate::tls`]); without one (plain HTTP, or
//! TLS without `--client-ca`) these checks pass, as agents then authenticate by
//! credential alone.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Extensions, StatusCode};

use super::error::ApiFailure;
use crate::targeting::ClusterHandle;
use crate::tls::{ClientCert, ClientCertMode};

/// The refusal of an agent call that needed a certificate and came without one.
fn required() -> ApiFailure {
    ApiFailure::unauthorized(
        "client_certificate_required",
        "this manager requires agents to present a client certificate signed by its client CA (fleet-agent --client-cert/--client-key)",
    )
}

/// Checks the client certificate of a call authenticated as `cluster`.
///
/// # Errors
/// 401 `client_certificate_required` when certificates are required and none was
/// sent; 403 `client_certificate_mismatch` when the certificate names another cluster.
pub fn authorize_cluster(ext: &Extensions, cluster: &ClusterHandle) -> Result<(), ApiFailure> {
    let Some(cert) = ext.get::<ClientCert>() else {
        return Ok(());
    };
    match (&cert.identity, cert.mode) {
        (None, ClientCertMode::Required) => Err(required()),
        (None, ClientCertMode::Optional) => Ok(()),
        (Some(id), _) if id.names_cluster(&cluster.namespace, &cluster.name) => Ok(()),
        (Some(id), _) => {
            tracing::warn!(
                cluster = %cluster.name,
                namespace = %cluster.namespace,
                certificate = %id.describe(),
                "agent call refused: the client certificate names another cluster"
            );
            Err(ApiFailure::new(
                StatusCode::FORBIDDEN,
                "client_certificate_mismatch",
                format!(
                    "the client certificate ({}) does not name cluster {}/{}",
                    id.describe(),
                    cluster.namespace,
                    cluster.name
                ),
            ))
        }
    }
}

/// The client certificate of a request, for the registration call (which has no
/// cluster yet).
pub struct PeerCert(Option<ClientCert>);

impl<S: Send + Sync> FromRequestParts<S> for PeerCert {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PeerCert(parts.extensions.get::<ClientCert>().cloned()))
    }
}

impl PeerCert {
    /// Checks a registration's requested cluster name against the certificate, before
    /// the registration token is spent: an empty name becomes the certificate's (CN,
    /// else first DNS SAN); another name must be one the certificate carries. The
    /// workspace (from the token) is checked on the first call with the credential.
    ///
    /// # Errors
    /// As [`authorize_cluster`].
    pub fn authorize_registration(&self, requested: &mut String) -> Result<(), ApiFailure> {
        let Some(cert) = &self.0 else {
            return Ok(());
        };
        let id = match (&cert.identity, cert.mode) {
            (None, ClientCertMode::Required) => return Err(required()),
            (None, ClientCertMode::Optional) => return Ok(()),
            (Some(id), _) => id,
        };
        if requested.trim().is_empty() {
            if let Some(name) = id.cluster_name() {
                *requested = name.to_string();
                return Ok(());
            }
        } else if id
            .common_names
            .iter()
            .chain(&id.dns_names)
            .any(|n| n == requested.trim())
        {
            return Ok(());
        }
        tracing::warn!(
            requested = %requested,
            certificate = %id.describe(),
            "registration refused: the client certificate names another cluster"
        );
        Err(ApiFailure::new(
            StatusCode::FORBIDDEN,
            "client_certificate_mismatch",
            format!(
                "the client certificate ({}) does not name cluster {:?}",
                id.describe(),
                requested
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::tls::ClientIdentity;

    fn ext(mode: ClientCertMode, cn: Option<&str>) -> Extensions {
        let mut e = Extensions::new();
        e.insert(ClientCert {
            mode,
            identity: cn.map(|cn| {
                Arc::new(ClientIdentity {
                    common_names: vec![cn.to_string()],
                    ..Default::default()
                })
            }),
        });
        e
    }

    fn handle(name: &str) -> ClusterHandle {
        ClusterHandle {
            id: Default::default(),
            namespace: "fleet-default".into(),
            name: name.into(),
        }
    }

    #[test]
    fn cluster_calls_need_a_matching_certificate() {
        assert!(authorize_cluster(&Extensions::new(), &handle("a")).is_ok());
        let e = authorize_cluster(&ext(ClientCertMode::Required, None), &handle("a")).unwrap_err();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::UNAUTHORIZED, "client_certificate_required")
        );
        assert!(authorize_cluster(&ext(ClientCertMode::Optional, None), &handle("a")).is_ok());
        assert!(authorize_cluster(&ext(ClientCertMode::Required, Some("a")), &handle("a")).is_ok());
        let e =
            authorize_cluster(&ext(ClientCertMode::Optional, Some("b")), &handle("a")).unwrap_err();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::FORBIDDEN, "client_certificate_mismatch")
        );
    }

    #[test]
    fn registration_takes_or_checks_the_certificate_name() {
        let peer = |mode, cn| PeerCert(ext(mode, cn).get::<ClientCert>().cloned());
        let mut name = String::new();
        peer(ClientCertMode::Required, Some("edge-1"))
            .authorize_registration(&mut name)
            .unwrap();
        assert_eq!(name, "edge-1");
        let mut name = "edge-2".to_string();
        let e = peer(ClientCertMode::Required, Some("edge-1"))
            .authorize_registration(&mut name)
            .unwrap_err();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert!(peer(ClientCertMode::Required, None)
            .authorize_registration(&mut name)
            .is_err());
        assert!(peer(ClientCertMode::Optional, None)
            .authorize_registration(&mut name)
            .is_ok());
        assert!(PeerCert(None).authorize_registration(&mut name).is_ok());
    }
}
