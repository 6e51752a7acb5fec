//! A real Git server for whole-system tests, the demo and the scale simulator: a bare
//! repository served by `git daemon` on a loopback port, with a working clone to commit
//! and push from (including force pushes that rewrite history).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::process::Proc;

/// A bare repo served over `git://127.0.0.1:PORT/<name>`, and a clone to push from.
pub struct GitServer {
    root: PathBuf,
    name: String,
    port: u16,
    daemon: Option<Proc>,
}

/// Runs `git` in `dir`, failing with its stderr.
pub fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Fleet Test")
        .env("GIT_AUTHOR_EMAIL", "fleet-test@example.org")
        .env("GIT_COMMITTER_NAME", "Fleet Test")
        .env("GIT_COMMITTER_EMAIL", "fleet-test@example.org")
        .output()
        .with_context(|| format!("running git {args:?} in {}", dir.display()))?;
    if !out.status.success() {
        bail!(
            "git {args:?} in {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A free loopback TCP port (bound then released; good enough for tests on one machine).
pub fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

impl GitServer {
    /// Creates `root/<name>.git` holding one commit of the files of `initial` (copied
    /// recursively; may be empty), and starts `git daemon` for it.
    pub fn start(root: &Path, name: &str, initial: Option<&Path>) -> anyhow::Result<GitServer> {
        let bare = root.join(format!("{name}.git"));
        let work = root.join(format!("{name}-work"));
        std::fs::create_dir_all(&work)?;
        git(
            root,
            &[
                "init",
                "-q",
                "--bare",
                "-b",
                "main",
                bare.to_str().unwrap_or_default(),
            ],
        )?;
        git(&work, &["init", "-q", "-b", "main"])?;
        if let Some(src) = initial {
            copy_tree(src, &work)?;
        }
        git(&work, &["add", "-A"])?;
        git(&work, &["commit", "-q", "--allow-empty", "-m", "initial"])?;
        git(
            &work,
            &["remote", "add", "origin", bare.to_str().unwrap_or_default()],
        )?;
        git(&work, &["push", "-q", "origin", "main"])?;
        let mut server = GitServer {
            root: root.to_path_buf(),
            name: name.to_string(),
            port: 0,
            daemon: None,
        };
        server.start_daemon()?;
        Ok(server)
    }

    fn start_daemon(&mut self) -> anyhow::Result<()> {
        let port = if self.port == 0 {
            free_port()?
        } else {
            self.port
        };
        // `git daemon` runs `git-daemon` as a child of `git`; start the real program so that
        // killing it really stops the server.
        let exec_path = git(&self.root, &["--exec-path"])?;
        let mut cmd = Command::new(Path::new(&exec_path).join("git-daemon"));
        cmd.args([
            "--reuseaddr",
            "--export-all",
            "--informative-errors",
            "--listen=127.0.0.1",
        ])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", self.root.display()))
        .arg(&self.root);
        let proc = Proc::spawn(
            &format!("git-daemon-{}", self.name),
            cmd,
            &self.root.join("logs"),
        )?;
        self.port = port;
        self.daemon = Some(proc);
        // Ready once the port accepts connections.
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("git daemon did not listen on port {port}")
    }

    /// `git://127.0.0.1:PORT/<name>.git`
    pub fn url(&self) -> String {
        format!("git://127.0.0.1:{}/{}.git", self.port, self.name)
    }

    /// The working clone to change files in before [`commit_and_push`](Self::commit_and_push).
    pub fn work_dir(&self) -> PathBuf {
        self.root.join(format!("{}-work", self.name))
    }

    /// Commits everything in the working clone and pushes; returns the new commit id.
    pub fn commit_and_push(&self, message: &str) -> anyhow::Result<String> {
        let work = self.work_dir();
        git(&work, &["add", "-A"])?;
        git(&work, &["commit", "-q", "--allow-empty", "-m", message])?;
        git(&work, &["push", "-q", "origin", "main"])?;
        git(&work, &["rev-parse", "HEAD"])
    }

    /// Rewrites history: resets the clone `back` commits, commits anew and force-pushes.
    pub fn force_push_rewrite(&self, back: usize, message: &str) -> anyhow::Result<String> {
        let work = self.work_dir();
        git(&work, &["reset", "-q", "--soft", &format!("HEAD~{back}")])?;
        git(&work, &["add", "-A"])?;
        git(&work, &["commit", "-q", "--allow-empty", "-m", message])?;
        git(&work, &["push", "-q", "--force", "origin", "main"])?;
        git(&work, &["rev-parse", "HEAD"])
    }

    /// Stops the daemon: fetches fail as with a server that is down.
    pub fn stop(&mut self) {
        self.daemon = None;
    }

    /// Starts the daemon again on the same port.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        self.start_daemon()
    }
}

/// Copies a directory tree (regular files and directories; symlinks copied as links).
pub fn copy_tree(src: &Path, dst: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dst)?;
    for entry in std::fs::read_dir(src).with_context(|| format!("reading {}", src.display()))? {
        let entry = entry?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let ty = entry.file_type()?;
        if ty.is_dir() {
            copy_tree(&from, &to)?;
        } else if ty.is_symlink() {
            let target = std::fs::read_link(&from)?;
            std::os::unix::fs::symlink(target, &to)?;
        } else {
            std::fs::copy(&from, &to)
                .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_pushes_and_rewrites_history() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("app")).unwrap();
        std::fs::write(src.join("app/cm.yaml"), "kind: ConfigMap\n").unwrap();
        let mut server = GitServer::start(&dir.path().join("srv"), "repo", Some(&src)).unwrap();

        let clone = dir.path().join("clone");
        git(
            dir.path(),
            &["clone", "-q", &server.url(), clone.to_str().unwrap()],
        )
        .unwrap();
        assert!(clone.join("app/cm.yaml").is_file());

        std::fs::write(server.work_dir().join("app/cm.yaml"), "kind: Secret\n").unwrap();
        let second = server.commit_and_push("second").unwrap();
        git(&clone, &["pull", "-q"]).unwrap();
        assert_eq!(git(&clone, &["rev-parse", "HEAD"]).unwrap(), second);

        let rewritten = server.force_push_rewrite(1, "rewritten").unwrap();
        assert_ne!(rewritten, second);
        git(&clone, &["fetch", "-q"]).unwrap();
        assert_eq!(
            git(&clone, &["rev-parse", "origin/main"]).unwrap(),
            rewritten
        );

        server.stop();
        assert!(
            git(&clone, &["fetch", "-q"]).is_err(),
            "a stopped server refuses fetches"
        );
        server.restart().unwrap();
        git(&clone, &["fetch", "-q"]).unwrap();
    }
}
