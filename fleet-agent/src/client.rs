//! The manager's agent API as the agent calls it: registration, the long-polled desired
//! state, bundle content by digest (verified), and status reports.
//!
//! The wire types and routes are those of [`fleet_bundle::deployment`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use fleet_bundle::deployment::{
    ApiError, DesiredState, RegisterRequest, RegisterResponse, StatusReport, AGENT_API_PREFIX,
    REPORT_WANTED_HEADER, STATUS_ACKNOWLEDGED_HEADER,
};
use reqwest::{header, StatusCode};

use crate::cache::sha256_hex;

/// Largest bundle content blob accepted; a manager (or an impostor) sending more is cut off.
pub const MAX_CONTENT_BYTES: usize = 64 * 1024 * 1024;
/// Largest desired-state document accepted.
pub const MAX_DESIRED_BYTES: usize = 32 * 1024 * 1024;

/// Errors of a call to the manager.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid manager URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("cannot read CA file {path}: {source}")]
    CaFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid CA certificate in {path}: {source}")]
    CaCert {
        path: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("cannot read client certificate or key {path}: {source}")]
    ClientCertFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid client certificate {cert} or key {key} (PEM certificate chain and PKCS#8, PKCS#1 or SEC1 key expected): {source}")]
    ClientCert {
        cert: String,
        key: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("--client-cert and --client-key go together")]
    ClientCertPair,
    #[error("cannot build the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
    #[error("manager unreachable ({call}): {}", causes(.source))]
    Unreachable {
        call: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("the manager does not know this agent's credential; it must register again")]
    UnknownCredential,
    #[error("no credential yet: register first")]
    NotRegistered,
    #[error("manager refused {call}: HTTP {status} {code}: {message}")]
    Rejected {
        call: &'static str,
        status: u16,
        code: String,
        message: String,
    },
    #[error("bad answer from the manager to {call}: {reason}")]
    BadAnswer { call: &'static str, reason: String },
    #[error(
        "bundle content {expected} does not match its digest (got sha256 {actual}); refusing it"
    )]
    DigestMismatch { expected: String, actual: String },
}

impl ClientError {
    /// Whether retrying later may help (network trouble, manager overloaded or restarting).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Unreachable { .. }
            | ClientError::BadAnswer { .. }
            | ClientError::DigestMismatch { .. } => true,
            ClientError::Rejected { status, .. } => {
                *status >= 500 || *status == 429 || *status == 408
            }
            _ => false,
        }
    }
}

/// An error and its causes on one line. The agent logs errors by `Display`, and the
/// reason of a refused TLS handshake (an unknown CA, a missing client certificate) is
/// several causes below reqwest's "error sending request".
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
        next = cause.source();
    }
    text
}

/// The outcome of one long-poll for the desired state.
#[derive(Debug, Clone, PartialEq)]
pub enum Poll {
    /// A new desired state with its ETag.
    Changed { state: DesiredState, etag: String },
    /// Nothing changed during the wait.
    NotModified,
}

/// One long-poll's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct PollAnswer {
    pub poll: Poll,
    /// The manager does not hold the report the poll said it acknowledged
    /// ([`fleet_bundle::deployment::REPORT_WANTED_HEADER`]): send the status again.
    pub report_wanted: bool,
}

/// How the agent's TLS connections to the manager are set up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTls {
    /// Extra CA (PEM) to trust for the manager's certificate (a private CA).
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM, leaf first) for a manager that requires mTLS.
    pub client_cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub client_key: Option<PathBuf>,
}

/// A client of one manager.
#[derive(Debug, Clone)]
pub struct ManagerClient {
    http: reqwest::Client,
    base: String,
    /// Shared by every clone, so the puller's re-registration serves the reporter too.
    credential: Arc<RwLock<Option<String>>>,
}

impl ManagerClient {
    /// A client for the manager at `url` (`https://host:port`, or `http://` for tests and
    /// local setups), trusting the extra CA in `ca_file` if given.
    pub fn new(url: &str, ca_file: Option<&Path>) -> Result<ManagerClient, ClientError> {
        ManagerClient::with_tls(
            url,
            &ClientTls {
                ca_file: ca_file.map(Path::to_path_buf),
                ..ClientTls::default()
            },
        )
    }

    /// A client for the manager at `url` with `tls`: an extra CA to trust and, for a
    /// manager started with `--client-ca`, the client certificate naming this cluster.
    pub fn with_tls(url: &str, tls: &ClientTls) -> Result<ManagerClient, ClientError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| ClientError::InvalidUrl {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ClientError::InvalidUrl {
                url: url.to_string(),
                reason: "the scheme must be https (or http)".into(),
            });
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // A parked long-poll is silent for minutes: kernel keepalive probes keep NAT
            // and load-balancer state alive and find a dead link in about two minutes,
            // at no cost to the manager's process.
            .tcp_keepalive(Duration::from_secs(60))
            .tcp_keepalive_interval(Duration::from_secs(15))
            .tcp_keepalive_retries(4)
            .pool_max_idle_per_host(1)
            .user_agent(concat!("fleet-agent/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &tls.ca_file {
            let pem = std::fs::read(path).map_err(|source| ClientError::CaFile {
                path: path.display().to_string(),
                source,
            })?;
            let cert =
                reqwest::Certificate::from_pem(&pem).map_err(|source| ClientError::CaCert {
                    path: path.display().to_string(),
                    source,
                })?;
            builder = builder.add_root_certificate(cert);
        }
        match (&tls.client_cert, &tls.client_key) {
            (Some(cert), Some(key)) => builder = builder.identity(identity(cert, key)?),
            (None, None) => {}
            _ => return Err(ClientError::ClientCertPair),
        }
        Ok(ManagerClient {
            http: builder.build().map_err(ClientError::Build)?,
            base: url.trim_end_matches('/').to_string(),
            credential: Arc::new(RwLock::new(None)),
        })
    }

    /// Uses `credential` for every call but registration.
    pub fn set_credential(&self, credential: Option<String>) {
        match self.credential.write() {
            Ok(mut guard) => *guard = credential,
            Err(poisoned) => *poisoned.into_inner() = credential,
        }
    }

    /// Whether a credential is set.
    pub fn has_credential(&self) -> bool {
        self.current_credential().is_some()
    }

    fn current_credential(&self) -> Option<String> {
        match self.credential.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{AGENT_API_PREFIX}{path}", self.base)
    }

    fn bearer(&self) -> Result<String, ClientError> {
        self.current_credential()
            .map(|c| format!("Bearer {c}"))
            .ok_or(ClientError::NotRegistered)
    }

    /// `POST /register` with the registration `token`.
    pub async fn register(
        &self,
        token: &str,
        request: &RegisterRequest,
    ) -> Result<RegisterResponse, ClientError> {
        const CALL: &str = "register";
        let response = self
            .http
            .post(self.url("/register"))
            .timeout(Duration::from_secs(30))
            .bearer_auth(token)
            .json(request)
            .send()
            .await
            .map_err(|source| ClientError::Unreachable { call: CALL, source })?;
        let response = check(CALL, response).await?;
        let bytes = read_limited(CALL, response, 1024 * 1024).await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::BadAnswer {
            call: CALL,
            reason: e.to_string(),
        })
    }

    /// `GET /desired`, waiting up to `wait` for a change from `etag`; `acknowledged` is the
    /// sequence of the newest report the manager accepted (0: none yet).
    pub async fn desired(
        &self,
        etag: Option<&str>,
        wait: Duration,
        acknowledged: u64,
    ) -> Result<PollAnswer, ClientError> {
        const CALL: &str = "desired state";
        let mut request = self
            .http
            .get(self.url("/desired"))
            .query(&[("wait", wait.as_secs().to_string())])
            .header(header::AUTHORIZATION, self.bearer()?)
            .timeout(wait + Duration::from_secs(30));
        if let Some(etag) = etag.filter(|e| !e.is_empty()) {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        if acknowledged > 0 {
            request = request.header(STATUS_ACKNOWLEDGED_HEADER, acknowledged);
        }
        let response = request
            .send()
            .await
            .map_err(|source| ClientError::Unreachable { call: CALL, source })?;
        let report_wanted = response
            .headers()
            .get(REPORT_WANTED_HEADER)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
        if response.status() == StatusCode::NOT_MODIFIED {
            return Ok(PollAnswer {
                poll: Poll::NotModified,
                report_wanted,
            });
        }
        let response = check(CALL, response).await?;
        let etag = response
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = read_limited(CALL, response, MAX_DESIRED_BYTES).await?;
        let state = serde_json::from_slice(&bytes).map_err(|e| ClientError::BadAnswer {
            call: CALL,
            reason: e.to_string(),
        })?;
        Ok(PollAnswer {
            poll: Poll::Changed { state, etag },
            report_wanted,
        })
    }

    /// `GET /content/<digest>`; the bytes are returned only if their sha256 is `digest`.
    pub async fn content(&self, digest: &str) -> Result<Vec<u8>, ClientError> {
        const CALL: &str = "bundle content";
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ClientError::BadAnswer {
                call: CALL,
                reason: format!("content digest {digest:?} is not a sha256"),
            });
        }
        let response = self
            .http
            .get(self.url(&format!("/content/{digest}")))
            .header(header::AUTHORIZATION, self.bearer()?)
            .timeout(Duration::from_secs(300))
            .send()
            .await
            .map_err(|source| ClientError::Unreachable { call: CALL, source })?;
        let response = check(CALL, response).await?;
        let bytes = read_limited(CALL, response, MAX_CONTENT_BYTES).await?;
        let actual = sha256_hex(&bytes);
        if !actual.eq_ignore_ascii_case(digest) {
            return Err(ClientError::DigestMismatch {
                expected: digest.to_string(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// `POST /status`.
    pub async fn report(&self, report: &StatusReport) -> Result<(), ClientError> {
        const CALL: &str = "status report";
        let response = self
            .http
            .post(self.url("/status"))
            .header(header::AUTHORIZATION, self.bearer()?)
            .timeout(Duration::from_secs(30))
            .json(report)
            .send()
            .await
            .map_err(|source| ClientError::Unreachable { call: CALL, source })?;
        check(CALL, response).await?;
        Ok(())
    }
}

/// The client identity of a PEM certificate chain and key, as rustls presents it.
fn identity(cert: &Path, key: &Path) -> Result<reqwest::Identity, ClientError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| ClientError::ClientCertFile {
            path: path.display().to_string(),
            source,
        })
    };
    let mut pem = read(cert)?;
    pem.push(b'\n');
    pem.extend_from_slice(&read(key)?);
    reqwest::Identity::from_pem(&pem).map_err(|source| ClientError::ClientCert {
        cert: cert.display().to_string(),
        key: key.display().to_string(),
        source,
    })
}

/// Turns an error answer into a [`ClientError`], recognising `unknown_credential`.
async fn check(
    call: &'static str,
    response: reqwest::Response,
) -> Result<reqwest::Response, ClientError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = read_limited(call, response, 64 * 1024)
        .await
        .unwrap_or_default();
    let (code, message) = match serde_json::from_slice::<ApiError>(&body) {
        Ok(e) => (e.code, e.message),
        Err(_) => (
            String::new(),
            String::from_utf8_lossy(&body).chars().take(200).collect(),
        ),
    };
    if status == StatusCode::UNAUTHORIZED && code == "unknown_credential" {
        return Err(ClientError::UnknownCredential);
    }
    Err(ClientError::Rejected {
        call,
        status: status.as_u16(),
        code,
        message,
    })
}

/// Reads a body of at most `limit` bytes.
async fn read_limited(
    call: &'static str,
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, ClientError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(ClientError::BadAnswer {
            call,
            reason: format!("answer larger than {limit} bytes"),
        });
    }
    let mut out = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|source| ClientError::Unreachable { call, source })?
    {
        if out.len() + chunk.len() > limit {
            return Err(ClientError::BadAnswer {
                call,
                reason: format!("answer larger than {limit} bytes"),
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_urls() {
        assert!(matches!(
            ManagerClient::new("ftp://x", None),
            Err(ClientError::InvalidUrl { .. })
        ));
        assert!(matches!(
            ManagerClient::new("not a url", None),
            Err(ClientError::InvalidUrl { .. })
        ));
        assert!(ManagerClient::new("https://manager.example:8443/", None).is_ok());
    }

    #[test]
    fn missing_ca_file_is_named() {
        let err =
            ManagerClient::new("https://m", Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn client_certificates_are_checked_when_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["c1".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (c, k) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        let tls = |cert: Option<&Path>, key: Option<&Path>| ClientTls {
            client_cert: cert.map(Path::to_path_buf),
            client_key: key.map(Path::to_path_buf),
            ..ClientTls::default()
        };
        assert!(ManagerClient::with_tls("https://m", &tls(Some(&c), Some(&k))).is_ok());
        assert!(matches!(
            ManagerClient::with_tls("https://m", &tls(Some(&c), None)),
            Err(ClientError::ClientCertPair)
        ));
        let missing = dir.path().join("missing.key");
        let err = ManagerClient::with_tls("https://m", &tls(Some(&c), Some(&missing))).unwrap_err();
        assert!(err.to_string().contains("missing.key"), "{err}");
        // A key that is not PEM is named with the certificate.
        std::fs::write(&k, "not a key").unwrap();
        let err = ManagerClient::with_tls("https://m", &tls(Some(&c), Some(&k))).unwrap_err();
        assert!(matches!(err, ClientError::ClientCert { .. }), "{err}");
    }

    #[tokio::test]
    async fn calls_need_a_credential() {
        let client = ManagerClient::new("http://127.0.0.1:9", None).unwrap();
        assert!(matches!(
            client.desired(None, Duration::from_secs(1), 0).await,
            Err(ClientError::NotRegistered)
        ));
    }

    /// Polls a one-shot local server answering `response`, with the manager having
    /// acknowledged report `acknowledged`: the poll's answer and the request head the
    /// server received (lower-cased).
    async fn poll_once(response: &'static str, acknowledged: u64) -> (PollAnswer, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                assert!(n > 0, "the request ended early");
                head.extend_from_slice(&buf[..n]);
            }
            socket.write_all(response.as_bytes()).await.unwrap();
            String::from_utf8(head).unwrap().to_ascii_lowercase()
        });
        let client = ManagerClient::new(&format!("http://127.0.0.1:{port}"), None).unwrap();
        client.set_credential(Some("cred".into()));
        let answer = client
            .desired(Some("\"e1\""), Duration::from_secs(5), acknowledged)
            .await
            .unwrap();
        (answer, served.await.unwrap())
    }

    #[tokio::test]
    async fn a_poll_names_the_acknowledged_report_and_hears_when_it_is_wanted() {
        let (answer, head) = poll_once(
            "HTTP/1.1 304 Not Modified\r\netag: \"e1\"\r\nfleet-report-wanted: true\r\ncontent-length: 0\r\n\r\n",
            42,
        )
        .await;
        assert_eq!(answer.poll, Poll::NotModified);
        assert!(answer.report_wanted);
        assert!(
            head.contains("\r\nfleet-status-acknowledged: 42\r\n"),
            "{head}"
        );

        // Nothing acknowledged yet: the header is left out; no answer header, no ask.
        let (answer, head) = poll_once(
            "HTTP/1.1 304 Not Modified\r\netag: \"e1\"\r\ncontent-length: 0\r\n\r\n",
            0,
        )
        .await;
        assert!(!answer.report_wanted);
        assert!(!head.contains("fleet-status-acknowledged"));
    }
}
