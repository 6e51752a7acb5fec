//! Git over HTTP(S) as hosting services serve it: `git http-backend` behind nginx and
//! fcgiwrap, with basic auth, and optionally TLS with a certificate from a private CA.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::git::bare_repo;
use crate::pki::TestPki;
use crate::process::{free_port, run, wait_for_port, Daemon};

/// nginx + fcgiwrap + `git http-backend` on `http(s)://127.0.0.1:PORT/`, requiring
/// [`user`](Self::user) and [`password`](Self::password).
pub struct HttpGit {
    /// The port nginx listens on.
    pub port: u16,
    /// The one user basic auth accepts.
    pub user: String,
    /// That user's password.
    pub password: String,
    /// With TLS: the PEM of the CA that signed the server certificate.
    pub ca_pem: Option<String>,
    _nginx: Daemon,
    _fcgi: Daemon,
    /// Declared after the processes so they are killed before their directory goes.
    root: tempfile::TempDir,
}

impl HttpGit {
    /// Serves plain HTTP.
    pub fn start() -> anyhow::Result<HttpGit> {
        HttpGit::start_with(false)
    }

    /// Serves HTTPS with a certificate for 127.0.0.1 from a private CA
    /// ([`ca_pem`](Self::ca_pem)).
    pub fn start_tls() -> anyhow::Result<HttpGit> {
        HttpGit::start_with(true)
    }

    fn start_with(tls: bool) -> anyhow::Result<HttpGit> {
        let root = tempfile::tempdir().context("creating the HTTP server's directory")?;
        let work = root.path().join("_server");
        let logs = work.join("logs");
        std::fs::create_dir_all(&logs).context("creating the nginx directory")?;
        let repos = root.path().join("repos");
        std::fs::create_dir_all(&repos).context("creating the repository directory")?;
        let port = free_port()?;
        let (user, password) = ("fleet".to_string(), "s3cret-pass".to_string());
        run(Command::new("htpasswd")
            .arg("-bc")
            .arg(work.join("htpasswd"))
            .args([&user, &password]))?;

        let socket = work.join("fcgi.sock");
        let mut fcgi = Command::new("fcgiwrap");
        fcgi.arg("-s").arg(format!("unix:{}", socket.display()));
        let fcgi = Daemon::spawn(fcgi, &logs.join("fcgiwrap.log"))?;
        wait_for_socket(&socket)?;

        let (ca_pem, listen_extra, tls_lines) = if tls {
            let pki = TestPki::issue("127.0.0.1")?;
            std::fs::write(work.join("server.crt"), pki.cert_pem).context("writing the cert")?;
            std::fs::write(work.join("server.key"), pki.key_pem).context("writing the key")?;
            (
                Some(pki.ca_pem),
                " ssl",
                format!(
                    "ssl_certificate {w}/server.crt;\n    ssl_certificate_key {w}/server.key;",
                    w = work.display()
                ),
            )
        } else {
            (None, "", String::new())
        };
        let conf = nginx_conf(&work, port, listen_extra, &tls_lines, &socket, &repos);
        std::fs::write(work.join("nginx.conf"), conf).context("writing nginx.conf")?;
        let mut nginx = Command::new("nginx");
        nginx
            .arg("-p")
            .arg(&work)
            .arg("-c")
            .arg(work.join("nginx.conf"));
        let nginx = Daemon::spawn(nginx, &logs.join("nginx.log"))?;
        wait_for_port(port, "nginx")?;
        Ok(HttpGit {
            port,
            user,
            password,
            ca_pem,
            _nginx: nginx,
            _fcgi: fcgi,
            root,
        })
    }

    /// Creates the bare repository `<name>` and returns its path (to push to from a
    /// [`WorkTree`](crate::WorkTree)) and its `http(s)://` URL, without credentials.
    pub fn repo(&self, name: &str) -> anyhow::Result<(PathBuf, String)> {
        let path = bare_repo(&self.root.path().join("repos"), name)?;
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        Ok((path, format!("{scheme}://127.0.0.1:{}/{name}", self.port)))
    }
}

/// Waits (about 5 s at most) for fcgiwrap to create its socket, without which nginx would
/// answer every request with 502.
fn wait_for_socket(socket: &Path) -> anyhow::Result<()> {
    for _ in 0..100 {
        if socket.exists() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("fcgiwrap did not create {}", socket.display())
}

/// nginx in the foreground with every file it writes under `work`, so that servers of
/// concurrent tests do not share a pid file or temp paths, handing every request that
/// passes basic auth to `git http-backend`.
///
/// One process (`master_process off`): a master killed on drop would leave its workers
/// running, still bound to the port.
fn nginx_conf(
    work: &Path,
    port: u16,
    listen_extra: &str,
    tls_lines: &str,
    socket: &Path,
    repos: &Path,
) -> String {
    format!(
        r#"
daemon off;
master_process off;
user root;
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
    )
}
