//! Git over SSH: an sshd on a loopback port that accepts one generated client key for the
//! current user, with the host key line a client needs in its `known_hosts`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;

use crate::git::bare_repo;
use crate::process::{free_port, run, wait_for_port, Daemon};

/// sshd accepting [`client_key`](Self::client_key) for [`user`](Self::user).
pub struct Sshd {
    /// The port sshd listens on.
    pub port: u16,
    /// The private key (OpenSSH format, no passphrase) sshd accepts.
    pub client_key: String,
    /// `[127.0.0.1]:PORT <type> <key>`: the `known_hosts` line of this server.
    pub known_hosts: String,
    /// The user to log in as: the one running the tests.
    pub user: String,
    _process: Daemon,
    /// Declared after the process so it is killed before its directory goes.
    root: tempfile::TempDir,
}

impl Sshd {
    /// Generates a host key and a client key and starts sshd with key auth only.
    pub fn start() -> anyhow::Result<Sshd> {
        let root = tempfile::tempdir().context("creating the sshd directory")?;
        let d = root.path();
        // sshd refuses to start without its privilege separation directory.
        std::fs::create_dir_all("/run/sshd").context("creating /run/sshd")?;
        for key in ["host_key", "client_key"] {
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(d.join(key)))?;
        }
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys"))
            .context("writing authorized_keys")?;
        let port = free_port()?;
        let user = run(Command::new("id").arg("-un"))?.trim().to_string();
        // StrictModes off: the temp dir's permissions are not what sshd demands of a home.
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\nLogLevel ERROR\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).context("writing sshd_config")?;
        let mut sshd = Command::new("/usr/sbin/sshd");
        sshd.args(["-D", "-e", "-f"]).arg(d.join("sshd_config"));
        let process = Daemon::spawn(sshd, &d.join("logs").join("sshd.log"))?;
        wait_for_port(port, "sshd")?;
        let host_pub =
            std::fs::read_to_string(d.join("host_key.pub")).context("reading the host key")?;
        let mut parts = host_pub.split_whitespace();
        let known_hosts = format!(
            "[127.0.0.1]:{port} {} {}\n",
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default()
        );
        Ok(Sshd {
            port,
            client_key: std::fs::read_to_string(d.join("client_key"))
                .context("reading the client key")?,
            known_hosts,
            user,
            _process: process,
            root,
        })
    }

    /// Creates the bare repository `<name>` and returns its path (to push to from a
    /// [`WorkTree`](crate::WorkTree)) and its `ssh://` URL.
    pub fn repo(&self, name: &str) -> anyhow::Result<(PathBuf, String)> {
        let path = bare_repo(&self.root.path().join("repos"), name)?;
        let url = format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            path.display()
        );
        Ok((path, url))
    }
}
