//! Real servers from Debian packages, started per test: `git daemon`, `git http-backend`
//! behind nginx + fcgiwrap with basic auth, sshd with key auth, and PostgreSQL 15.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{free_port, run, wait_for_port};

/// A child process killed (and reaped) on drop.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `git daemon` serving every repository under `root` (push enabled) on a free port.
pub struct GitDaemon {
    pub root: tempfile::TempDir,
    pub port: u16,
    _child: Guard,
}

impl GitDaemon {
    pub fn start() -> GitDaemon {
        let root = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let child = Command::new("git")
            .args([
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--enable=receive-pack",
                "--listen=127.0.0.1",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", root.path().display()))
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon starts");
        let guard = Guard(child);
        wait_for_port(SocketAddr::from(([127, 0, 0, 1], port)), "git daemon");
        GitDaemon {
            root,
            port,
            _child: guard,
        }
    }

    /// A new bare repository and its git:// URL.
    pub fn repo(&self, name: &str) -> (PathBuf, String) {
        let path = super::bare_repo(self.root.path(), name);
        (path, format!("git://127.0.0.1:{}/{name}", self.port))
    }
}

/// `git http-backend` behind nginx + fcgiwrap, requiring basic auth.
pub struct HttpGit {
    pub root: tempfile::TempDir,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// With TLS: the PEM of the CA that signed the server certificate.
    pub ca_pem: Option<String>,
    _nginx: Guard,
    _fcgi: Guard,
}

/// A CA and a server certificate for 127.0.0.1 signed by it: (CA PEM, cert PEM, key PEM).
fn test_pki() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "fleet test CA");
    let ca = ca_params.self_signed(&ca_key).expect("CA cert");
    let key = rcgen::KeyPair::generate().expect("server key");
    let mut params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("server params");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &ca, &ca_key).expect("server cert");
    (ca.pem(), cert.pem(), key.serialize_pem())
}

impl HttpGit {
    pub fn start() -> HttpGit {
        HttpGit::start_with(false)
    }

    /// Serves over TLS with a certificate from a private CA.
    pub fn start_tls() -> HttpGit {
        HttpGit::start_with(true)
    }

    fn start_with(tls: bool) -> HttpGit {
        let root = tempfile::tempdir().expect("tempdir");
        let work = root.path().join("_server");
        std::fs::create_dir_all(work.join("logs")).expect("mkdir");
        let repos = root.path().join("repos");
        std::fs::create_dir_all(&repos).expect("mkdir");
        let port = free_port();
        let (user, password) = ("fleet".to_string(), "s3cret-pass".to_string());
        run(Command::new("htpasswd")
            .args(["-bc"])
            .arg(work.join("htpasswd"))
            .args([&user, &password]));
        let socket = work.join("fcgi.sock");
        let fcgi = Guard(
            Command::new("fcgiwrap")
                .arg("-s")
                .arg(format!("unix:{}", socket.display()))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("fcgiwrap starts"),
        );
        for _ in 0..100 {
            if socket.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let (ca_pem, listen_extra, tls_lines) = if tls {
            let (ca, cert, key) = test_pki();
            std::fs::write(work.join("server.crt"), cert).expect("cert");
            std::fs::write(work.join("server.key"), key).expect("key");
            (
                Some(ca),
                " ssl",
                format!(
                    "ssl_certificate {w}/server.crt;\n    ssl_certificate_key {w}/server.key;",
                    w = work.display()
                ),
            )
        } else {
            (None, "", String::new())
        };
        let conf = format!(
            r#"
daemon off;
user root;
worker_processes 1;
error_log {work}/logs/error.log;
pid {work}/nginx.pid;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {work}/body;
  fastcgi_temp_path {work}/fastcgi;
  proxy_temp_path {work}/proxy;
  uwsgi_temp_path {work}/uwsgi;
  scgi_temp_path {work}/scgi;
  server {{
    listen 127.0.0.1:{port}{listen_extra};
    {tls_lines}
    location / {{
      auth_basic "git";
      auth_basic_user_file {work}/htpasswd;
      client_max_body_size 0;
      fastcgi_pass unix:{socket};
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME /usr/lib/git-core/git-http-backend;
      fastcgi_param GIT_HTTP_EXPORT_ALL "";
      fastcgi_param GIT_PROJECT_ROOT {repos};
      fastcgi_param PATH_INFO $uri;
      fastcgi_param REMOTE_USER $remote_user;
    }}
  }}
}}
"#,
            work = work.display(),
            socket = socket.display(),
            repos = repos.display(),
        );
        std::fs::write(work.join("nginx.conf"), conf).expect("write nginx.conf");
        let nginx = Guard(
            Command::new("nginx")
                .arg("-p")
                .arg(&work)
                .arg("-c")
                .arg(work.join("nginx.conf"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("nginx starts"),
        );
        wait_for_port(SocketAddr::from(([127, 0, 0, 1], port)), "nginx");
        HttpGit {
            root,
            port,
            user,
            password,
            ca_pem,
            _nginx: nginx,
            _fcgi: fcgi,
        }
    }

    /// A new bare repository and its http:// URL (without credentials).
    pub fn repo(&self, name: &str) -> (PathBuf, String) {
        let path = super::bare_repo(&self.root.path().join("repos"), name);
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        (path, format!("{scheme}://127.0.0.1:{}/{name}", self.port))
    }

    /// The URL with credentials embedded, for pushing from tests.
    pub fn push_url(&self, name: &str) -> String {
        format!(
            "http://{}:{}@127.0.0.1:{}/{name}",
            self.user, self.password, self.port
        )
    }
}

/// sshd accepting one client key for the current user.
pub struct Sshd {
    pub root: tempfile::TempDir,
    pub port: u16,
    pub client_key: String,
    pub known_hosts: String,
    pub user: String,
    _child: Guard,
}

impl Sshd {
    pub fn start() -> Sshd {
        let root = tempfile::tempdir().expect("tempdir");
        let d = root.path();
        std::fs::create_dir_all("/run/sshd").expect("privilege separation dir");
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(d.join("host_key")));
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(d.join("client_key")));
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys"))
            .expect("authorized_keys");
        let port = free_port();
        let user = run(Command::new("id").arg("-un")).trim().to_string();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\nLogLevel ERROR\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).expect("sshd_config");
        let child = Guard(
            Command::new("/usr/sbin/sshd")
                .args(["-D", "-e", "-f"])
                .arg(d.join("sshd_config"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("sshd starts"),
        );
        wait_for_port(SocketAddr::from(([127, 0, 0, 1], port)), "sshd");
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).expect("host key");
        let mut parts = host_pub.split_whitespace();
        let known_hosts = format!(
            "[127.0.0.1]:{port} {} {}\n",
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default()
        );
        Sshd {
            client_key: std::fs::read_to_string(d.join("client_key")).expect("client key"),
            known_hosts,
            port,
            user,
            root,
            _child: child,
        }
    }

    /// A new bare repository and its ssh:// URL.
    pub fn repo(&self, name: &str) -> (PathBuf, String) {
        let path = super::bare_repo(&self.root.path().join("repos"), name);
        (
            path.clone(),
            format!(
                "ssh://{}@127.0.0.1:{}{}",
                self.user,
                self.port,
                path.display()
            ),
        )
    }
}

/// A throwaway PostgreSQL 15 cluster (trust auth on loopback), run as the `postgres`
/// user when the tests run as root.
pub struct Postgres {
    pub dir: tempfile::TempDir,
    pub port: u16,
}

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

fn as_pg_user(program: &str) -> Command {
    let is_root = run(Command::new("id").arg("-u")).trim() == "0";
    if is_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", &format!("{PG_BIN}/{program}")]);
        c
    } else {
        Command::new(format!("{PG_BIN}/{program}"))
    }
}

impl Postgres {
    pub fn start() -> Postgres {
        let dir = tempfile::Builder::new()
            .prefix("fleet-pg")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let data = dir.path().join("data");
        if run(Command::new("id").arg("-u")).trim() == "0" {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path()));
        }
        run(as_pg_user("initdb")
            .args([
                "--no-sync",
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "-D",
            ])
            .arg(&data));
        let port = free_port();
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            dir.path().display()
        );
        run(as_pg_user("pg_ctl")
            .args(["-w", "-t", "60", "-D"])
            .arg(&data)
            .args(["-l"])
            .arg(dir.path().join("log"))
            .args(["-o", &opts, "start"]));
        Postgres { dir, port }
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A fresh database in this cluster, for test isolation.
    pub fn database(&self, name: &str) -> String {
        run(as_pg_user("psql")
            .args([
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-c",
            ])
            .arg(format!("CREATE DATABASE {name}")));
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_pg_user("pg_ctl")
            .args(["-D"])
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Path of a file inside a server's root, for debugging output.
pub fn log_of(root: &Path, name: &str) -> String {
    std::fs::read_to_string(root.join(name)).unwrap_or_default()
}
