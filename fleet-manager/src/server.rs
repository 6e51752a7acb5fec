//! Starting a manager: open the store, load keys and tokens, build the index, then run
//! the HTTP server and the background loops (store reload, leader election, Git poller,
//! rollouts, heartbeat flush).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::auth::oidc::{OidcConfig, OidcVerifier};
use crate::auth::{self, AdminTokenSource};
use crate::manager::{Config, Manager};
use crate::secrets::SecretBox;
use crate::store::Store;
use crate::tls::{ClientCertMode, TlsFiles, TlsServer};

/// Everything `fleet-manager serve` can be told.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `sqlite:///…` or `postgres://…`; default SQLite in the data dir.
    pub database: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// CA bundle of agents' client certificates: turns on mTLS for the agent API.
    pub client_ca: Option<PathBuf>,
    /// With `client_ca`: whether agents must present a certificate.
    pub client_cert_mode: ClientCertMode,
    /// OIDC bearer tokens for the admin API and the dashboard API.
    pub oidc: Option<OidcConfig>,
    pub admin_token: Option<String>,
    pub secret_key: Option<String>,
    pub webhook_secret: Option<String>,
    pub offline_after: Duration,
    pub reload_interval: Duration,
    pub leader_retry: Duration,
    pub git_concurrency: usize,
    /// The URL agents reach this manager at, for `cluster join`'s install commands.
    pub public_url: Option<String>,
    /// PEM file of the CA that signs `tls_cert`, pinned in installed agents (default:
    /// the last certificate of `tls_cert`'s chain).
    pub tls_ca: Option<PathBuf>,
}

impl ServeOptions {
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> ServeOptions {
        ServeOptions {
            listen,
            data_dir,
            database: None,
            tls_cert: None,
            tls_key: None,
            client_ca: None,
            client_cert_mode: ClientCertMode::Required,
            oidc: None,
            admin_token: None,
            secret_key: None,
            webhook_secret: None,
            offline_after: Duration::from_secs(300),
            reload_interval: Duration::from_secs(1),
            leader_retry: Duration::from_secs(1),
            git_concurrency: 4,
            public_url: None,
            tls_ca: None,
        }
    }
}

/// Why the manager could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("opening the database: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("OIDC: {0}")]
    Oidc(#[from] crate::auth::oidc::OidcError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("--tls-cert and --tls-key go together")]
    TlsPair,
    #[error("--client-ca needs --tls-cert and --tls-key: client certificates are a TLS feature")]
    ClientCaWithoutTls,
    #[error("--tls-ca {}: no PEM certificate in it", .0.display())]
    NoCertificate(PathBuf),
}

/// A started manager.
pub struct Running {
    pub addr: SocketAddr,
    pub manager: Arc<Manager>,
    /// Where the admin token came from (to print its path when generated).
    pub admin_token_source: AdminTokenSource,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Waits until the HTTP server stops (it normally never does).
    pub async fn wait(mut self) {
        if let Some(server) = self.tasks.first_mut() {
            let _ = server.await;
        }
    }

    /// Stops every task of this manager.
    pub fn shutdown(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts a manager and returns once it listens.
pub async fn start(opts: ServeOptions) -> Result<Running, ServerError> {
    let io = |context: String| move |source| ServerError::Io { context, source };
    std::fs::create_dir_all(&opts.data_dir)
        .map_err(io(format!("creating data dir {}", opts.data_dir.display())))?;
    let (admin_token, admin_token_source) =
        auth::bootstrap_admin_token(opts.admin_token.as_deref(), &opts.data_dir)
            .map_err(io("reading or creating the admin token".into()))?;
    let secrets = SecretBox::load(opts.secret_key.as_deref(), &opts.data_dir)?;
    let database = opts
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", opts.data_dir.join("fleet.db").display()));
    let store = Store::open(&database).await?;
    let mut config = Config::new(opts.data_dir.clone(), &admin_token);
    config.webhook_secret = opts.webhook_secret.clone().filter(|s| !s.is_empty());
    config.offline_after = opts.offline_after;
    config.reload_interval = opts.reload_interval;
    config.git_concurrency = opts.git_concurrency;
    config.public_url = opts
        .public_url
        .as_deref()
        .map(|u| u.trim_end_matches('/').to_string())
        .filter(|u| !u.is_empty());
    config.tls = opts.tls_cert.is_some();
    config.agent_ca_pem = match (&opts.tls_ca, &opts.tls_cert) {
        (Some(ca), _) => {
            let pem = std::fs::read_to_string(ca)
                .map_err(io(format!("reading the CA file {}", ca.display())))?;
            Some(
                crate::install::ca_of_chain(&pem)
                    .ok_or_else(|| ServerError::NoCertificate(ca.clone()))?,
            )
        }
        (None, Some(cert)) => std::fs::read_to_string(cert)
            .ok()
            .and_then(|pem| crate::install::ca_of_chain(&pem)),
        (None, None) => None,
    };
    let manager = Manager::new(store, secrets, config)?;
    manager.reload().await?;

    let tls = match (&opts.tls_cert, &opts.tls_key) {
        (Some(c), Some(k)) => Some(TlsServer::load(
            &TlsFiles {
                cert: c.clone(),
                key: k.clone(),
                client_ca: opts.client_ca.clone(),
            },
            opts.client_cert_mode,
        )?),
        (None, None) if opts.client_ca.is_some() => return Err(ServerError::ClientCaWithoutTls),
        (None, None) => None,
        _ => return Err(ServerError::TlsPair),
    };
    let oidc = opts.oidc.clone().map(OidcVerifier::new).transpose()?;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(io(format!("listening on {}", opts.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(io("reading the bound address".into()))?;
    let mut app = crate::api::router(manager.clone());
    if let Some(verifier) = &oidc {
        // The extractors of the admin and dashboard APIs find the verifier here.
        app = app.layer(axum::Extension(verifier.clone()));
    }
    let mut tasks = Vec::new();
    let serving = manager.clone();
    tasks.push(tokio::spawn(async move {
        if let Err(e) = crate::api::serve(listener, app, serving, tls).await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    }));
    tasks.push(tokio::spawn(crate::leader::run(
        manager.clone(),
        database,
        opts.leader_retry,
    )));
    tasks.push(tokio::spawn(crate::git::poller::run(manager.clone())));
    tasks.push(tokio::spawn(reload_loop(manager.clone())));
    tasks.push(tokio::spawn(rollout_loop(manager.clone())));
    tasks.push(tokio::spawn(heartbeat_loop(manager.clone())));
    if let Some(verifier) = oidc {
        tasks.push(tokio::spawn(verifier.refresh_loop()));
    }
    tracing::info!(
        %addr,
        tls = opts.tls_cert.is_some(),
        client_certificates = opts.client_ca.as_ref().map_or("off", |_| opts.client_cert_mode.as_str()),
        oidc = opts.oidc.as_ref().map_or("off", |o| o.issuer_url.as_str()),
        "fleet-manager listening"
    );
    Ok(Running {
        addr,
        manager,
        admin_token_source,
        tasks,
    })
}

/// Picks up changes other replicas wrote (and heals after a store outage).
async fn reload_loop(manager: Arc<Manager>) {
    loop {
        tokio::time::sleep(manager.config.reload_interval).await;
        if let Err(e) = manager.reload().await {
            tracing::warn!(error = %e, "reload from the store failed");
        }
    }
}

/// On the leader: advances rollouts after each status change of a rolling bundle, each
/// push, and every few seconds.
async fn rollout_loop(manager: Arc<Manager>) {
    loop {
        tokio::select! {
            _ = manager.rollout_wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
        if !manager.is_leader() {
            continue;
        }
        // Pick up reports written through other replicas first.
        if let Err(e) = manager.reload().await {
            tracing::warn!(error = %e, "reload before rollout failed");
            continue;
        }
        if let Err(e) = manager.advance_rollouts().await {
            tracing::warn!(error = %e, "advancing rollouts failed");
        }
    }
}

/// Writes last-seen times to the store every 10 seconds, not on every poll.
async fn heartbeat_loop(manager: Arc<Manager>) {
    let mut since = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let now = crate::store::now();
        if let Err(e) = manager.flush_heartbeats(since).await {
            tracing::warn!(error = %e, "flushing heartbeats failed");
            continue;
        }
        since = now - 1;
    }
}
