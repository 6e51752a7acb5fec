//! Starting a double and the handle tests hold: URL, kubeconfig, CA, token and test knobs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use rand::Rng;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::cluster::{Cluster, Hold};
use crate::config::{Config, Faults};
use crate::store::{ObjectKey, Store};
use crate::writes::{Target, WriteOptions};

/// Why a double could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The port could not be bound.
    #[error("binding 127.0.0.1:{port}: {source}")]
    Bind {
        /// Requested port.
        port: u16,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Certificates could not be generated.
    #[error(transparent)]
    Certs(#[from] crate::certs::CertError),
    /// The state file could not be loaded.
    #[error(transparent)]
    State(#[from] crate::persist::PersistError),
    /// The kubeconfig could not be written.
    #[error("writing kubeconfig {path}: {source}")]
    Kubeconfig {
        /// Target file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Entry point: `KubeDouble::start(config)`.
pub struct KubeDouble;

/// A running double. Dropping it signals shutdown (watches end, the listener stops
/// accepting); [`Handle::shutdown`] also waits for the tasks and saves state.
pub struct Handle {
    url: String,
    kubeconfig_path: PathBuf,
    kubeconfig_yaml: String,
    owns_kubeconfig: bool,
    ca_pem: Option<String>,
    cluster: Arc<Cluster>,
    tasks: Vec<JoinHandle<()>>,
    server: Option<JoinHandle<()>>,
}

const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-node-lease", "kube-public", "kube-system"];

impl KubeDouble {
    /// Bind, generate certificates (when TLS), restore state, start the controllers and
    /// serve. The kubeconfig is written before this returns.
    ///
    /// # Errors
    /// [`StartError`] when the port, certificates, state file or kubeconfig fail.
    pub async fn start(config: Config) -> Result<Handle, StartError> {
        let token = config.token.clone().unwrap_or_else(|| {
            let bytes: [u8; 24] = rand::thread_rng().gen();
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        });
        let store = match &config.state_file {
            Some(path) => match crate::persist::load(path)? {
                Some(snapshot) => Store::restore(snapshot, config.watch_history),
                None => Store::new(config.watch_history),
            },
            None => Store::new(config.watch_history),
        };
        let cluster = Cluster::new(
            store,
            token.clone(),
            config.simulate_status,
            config.faults.clone(),
        );
        seed_namespaces(&cluster);

        let tcp = TcpListener::bind(("127.0.0.1", config.port))
            .await
            .map_err(|source| StartError::Bind {
                port: config.port,
                source,
            })?;
        let addr = tcp.local_addr().map_err(|source| StartError::Bind {
            port: config.port,
            source,
        })?;
        *crate::cluster::lock(&cluster.server_address) = addr.to_string();

        // Controllers subscribe before the first request can write anything.
        let mut tasks = Vec::new();
        {
            let inner = cluster.lock();
            let delay = Duration::from_millis(config.status_delay_ms);
            tasks.push(tokio::spawn(crate::status_sim::run(
                cluster.clone(),
                inner.store.subscribe(),
                delay,
                config.simulate_status,
            )));
            tasks.push(tokio::spawn(crate::gc::run(
                cluster.clone(),
                inner.store.subscribe(),
            )));
            if let Some(path) = &config.state_file {
                tasks.push(tokio::spawn(crate::persist::run(
                    cluster.clone(),
                    path.clone(),
                    inner.store.subscribe(),
                )));
            }
        }

        let (url, ca_pem, server) = if config.tls {
            let certs = crate::certs::generate()?;
            let listener = crate::server::TlsListener::new(tcp, certs.server_config.clone())
                .map_err(|source| StartError::Bind {
                    port: config.port,
                    source,
                })?;
            (
                format!("https://{addr}"),
                Some(certs.ca_pem),
                tokio::spawn(crate::server::serve_tls(listener, cluster.clone())),
            )
        } else {
            (
                format!("http://{addr}"),
                None,
                tokio::spawn(crate::server::serve_plain(tcp, cluster.clone())),
            )
        };
        let kubeconfig_yaml = kubeconfig(&url, ca_pem.as_deref(), &token);
        let (kubeconfig_path, owns_kubeconfig) = match &config.kubeconfig_out {
            Some(p) => (p.clone(), false),
            None => (
                std::env::temp_dir().join(format!(
                    "kube-double-{}-{}.kubeconfig",
                    std::process::id(),
                    addr.port()
                )),
                true,
            ),
        };
        write_private(&kubeconfig_path, &kubeconfig_yaml).map_err(|source| {
            StartError::Kubeconfig {
                path: kubeconfig_path.clone(),
                source,
            }
        })?;
        tracing::info!(%url, kubeconfig = %kubeconfig_path.display(), "kube-double serving");
        Ok(Handle {
            url,
            kubeconfig_path,
            kubeconfig_yaml,
            owns_kubeconfig,
            ca_pem,
            cluster,
            tasks,
            server: Some(server),
        })
    }
}

fn seed_namespaces(cluster: &Cluster) {
    let Some(rt) = crate::registry::Registry::builtin()
        .find("", "v1", "namespaces")
        .cloned()
    else {
        return;
    };
    let mut inner = cluster.lock();
    for ns in SYSTEM_NAMESPACES {
        let key = ObjectKey {
            group: String::new(),
            plural: "namespaces".into(),
            namespace: String::new(),
            name: (*ns).into(),
        };
        if inner.store.get(&key).is_some() {
            continue;
        }
        let t = Target {
            rt: &rt,
            namespace: "",
            name: "",
            subresource: "",
        };
        let opts = WriteOptions {
            dry_run: false,
            manager: "kube-apiserver".into(),
            manager_given: true,
            force: false,
            now: crate::now(),
            field_validation: crate::writes::FieldValidation::Ignore,
        };
        if let Err(e) = crate::writes::create(
            &mut inner,
            &t,
            json!({"metadata": {"name": ns}}),
            &opts,
            false,
        ) {
            tracing::warn!(namespace = ns, error = %e, "seeding namespace");
        }
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, contents)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

fn kubeconfig(url: &str, ca_pem: Option<&str>, token: &str) -> String {
    let ca_line = match ca_pem {
        Some(pem) => format!(
            "    certificate-authority-data: {}\n",
            base64::engine::general_purpose::STANDARD.encode(pem)
        ),
        None => String::new(),
    };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kube-double\n  cluster:\n    server: {url}\n{ca_line}contexts:\n- name: kube-double\n  context:\n    cluster: kube-double\n    user: kube-double\n    namespace: default\ncurrent-context: kube-double\nusers:\n- name: kube-double\n  user:\n    token: {token}\npreferences: {{}}\n"
    )
}

impl Handle {
    /// `https://127.0.0.1:<port>` (or `http://` without TLS).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The kubeconfig file with server, CA and token.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// The kubeconfig contents.
    pub fn kubeconfig_yaml(&self) -> &str {
        &self.kubeconfig_yaml
    }

    /// PEM of the CA that signed the serving certificate (`None` for plain HTTP).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The bearer token requests must carry.
    pub fn token(&self) -> &str {
        &self.cluster.token
    }

    /// Hold an object NotReady (`true`) or let it become ready again (`false`). Takes
    /// effect at once for an existing object and on every later change.
    pub fn set_not_ready(&self, group: &str, kind: &str, namespace: &str, name: &str, held: bool) {
        let hold = Hold {
            group: group.into(),
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        };
        self.cluster.set_hold(hold, held);
        let key = {
            let inner = self.cluster.lock();
            inner.registry.find_kind(group, kind).map(|rt| ObjectKey {
                group: group.into(),
                plural: rt.plural.clone(),
                namespace: if rt.namespaced {
                    namespace.into()
                } else {
                    String::new()
                },
                name: name.into(),
            })
        };
        if let (Some(key), true) = (key, self.cluster.simulate_status) {
            crate::status_sim::reconcile(&self.cluster, &key);
        }
    }

    /// Replace the injected faults.
    pub fn set_faults(&self, faults: Faults) {
        self.cluster.set_faults(faults);
    }

    /// Forget the watch history, so watches from any earlier resourceVersion get 410.
    pub fn compact(&self) {
        self.cluster.lock().store.compact();
    }

    /// Direct access to the state, for assertions that bypass the HTTP API.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Stop serving, end watches, save state, and remove a generated kubeconfig.
    pub async fn shutdown(mut self) {
        let _ = self.cluster.shutdown.send(true);
        if let Some(server) = self.server.take() {
            let abort = server.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), server)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        for t in self.tasks.drain(..) {
            let abort = t.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), t)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        if self.owns_kubeconfig {
            let _ = std::fs::remove_file(&self.kubeconfig_path);
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.cluster.shutdown.send(true);
        if self.owns_kubeconfig {
            let _ = std::fs::remove_file(&self.kubeconfig_path);
        }
    }
}
