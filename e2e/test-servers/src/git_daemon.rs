//! `git daemon` serving bare repositories over `git://` on a loopback port, and
//! [`GitServer`]: one such repository with its work tree, for whole-system tests, the demo
//! and the scale simulator.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::git::{bare_repo, copy_tree, git, utf8, WorkTree};
use crate::process::{free_port, wait_for_port, Daemon};

/// `git daemon` serving every repository under its root, pushes included, on
/// `git://127.0.0.1:PORT/`. It can be stopped and restarted on the same port to play a
/// server that goes down.
pub struct GitDaemon {
    root: PathBuf,
    port: u16,
    process: Option<Daemon>,
    /// Declared after `process` so the server is killed before its directory goes.
    _temp: Option<tempfile::TempDir>,
}

impl GitDaemon {
    /// Serves a new temp dir, removed on drop; [`repo`](Self::repo) creates repositories
    /// in it.
    pub fn start() -> anyhow::Result<GitDaemon> {
        let temp = tempfile::tempdir().context("creating the git daemon's directory")?;
        GitDaemon::listen_on(temp.path().to_path_buf(), Some(temp))
    }

    /// Serves the repositories under `root`, which the caller keeps.
    pub fn serve(root: &Path) -> anyhow::Result<GitDaemon> {
        GitDaemon::listen_on(root.to_path_buf(), None)
    }

    fn listen_on(root: PathBuf, temp: Option<tempfile::TempDir>) -> anyhow::Result<GitDaemon> {
        let mut daemon = GitDaemon {
            root,
            port: free_port()?,
            process: None,
            _temp: temp,
        };
        daemon.listen()?;
        Ok(daemon)
    }

    fn listen(&mut self) -> anyhow::Result<()> {
        // `git daemon` runs `git-daemon` as a child of `git`, and killing `git` would leave
        // the server running: start the real program so that drop and `stop` stop it.
        let exec_path = git(&self.root, &["--exec-path"])?;
        let mut cmd = Command::new(Path::new(&exec_path).join("git-daemon"));
        cmd.args([
            "--reuseaddr",
            "--export-all",
            "--enable=receive-pack",
            "--informative-errors",
            "--listen=127.0.0.1",
        ])
        .arg(format!("--port={}", self.port))
        .arg(format!("--base-path={}", self.root.display()))
        .arg(&self.root);
        self.process = Some(Daemon::spawn(
            cmd,
            &self.root.join("logs").join("git-daemon.log"),
        )?);
        wait_for_port(self.port, "git daemon")
    }

    /// The port, the same across [`restart`](Self::restart).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `git://127.0.0.1:PORT/<name>`, the URL of the repository `root/<name>`.
    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}", self.port)
    }

    /// Creates the bare repository `<name>` and returns its path (to push to from a
    /// [`WorkTree`]) and its URL (for the code under test).
    pub fn repo(&self, name: &str) -> anyhow::Result<(PathBuf, String)> {
        let path = bare_repo(&self.root, name)?;
        Ok((path, self.url(name)))
    }

    /// Stops the server: fetches fail as from a server that is down.
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Starts the server again on the same port, so URLs handed out stay valid.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        self.listen()
    }
}

/// A bare repository `root/<name>.git` served over `git://127.0.0.1:PORT/<name>.git`, and
/// its work tree `root/<name>-work` to commit and push from (force pushes that rewrite
/// history included).
pub struct GitServer {
    name: String,
    work: WorkTree,
    daemon: GitDaemon,
}

impl GitServer {
    /// Creates `root/<name>.git` holding one commit of the files of `initial` (copied
    /// recursively; may be empty), and starts `git daemon` for it.
    pub fn start(root: &Path, name: &str, initial: Option<&Path>) -> anyhow::Result<GitServer> {
        let bare = bare_repo(root, &format!("{name}.git"))?;
        let work = WorkTree::init(&root.join(format!("{name}-work")), utf8(&bare)?)?;
        if let Some(src) = initial {
            copy_tree(src, work.dir())?;
        }
        work.commit_and_push("initial")?;
        Ok(GitServer {
            name: name.to_string(),
            work,
            daemon: GitDaemon::serve(root)?,
        })
    }

    /// `git://127.0.0.1:PORT/<name>.git`
    pub fn url(&self) -> String {
        self.daemon.url(&format!("{}.git", self.name))
    }

    /// The work tree to change files in before [`commit_and_push`](Self::commit_and_push).
    pub fn work_dir(&self) -> PathBuf {
        self.work.dir().to_path_buf()
    }

    /// Commits everything in the work tree and pushes; returns the new commit id.
    pub fn commit_and_push(&self, message: &str) -> anyhow::Result<String> {
        self.work.commit_and_push(message)
    }

    /// Rewrites history: see [`WorkTree::force_push_rewrite`].
    pub fn force_push_rewrite(&self, back: usize, message: &str) -> anyhow::Result<String> {
        self.work.force_push_rewrite(back, message)
    }

    /// Stops the daemon: fetches fail as with a server that is down.
    pub fn stop(&mut self) {
        self.daemon.stop();
    }

    /// Starts the daemon again on the same port.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.daemon.restart()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_pushes_and_rewrites_history() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("app")).expect("mkdir");
        std::fs::write(src.join("app/cm.yaml"), "kind: ConfigMap\n").expect("write");
        let mut server =
            GitServer::start(&dir.path().join("srv"), "repo", Some(&src)).expect("server");

        let clone = dir.path().join("clone");
        let clone_str = clone.to_str().expect("utf8");
        git(dir.path(), &["clone", "-q", &server.url(), clone_str]).expect("clone");
        assert!(clone.join("app/cm.yaml").is_file());

        std::fs::write(server.work_dir().join("app/cm.yaml"), "kind: Secret\n").expect("write");
        let second = server.commit_and_push("second").expect("push");
        git(&clone, &["pull", "-q"]).expect("pull");
        assert_eq!(
            git(&clone, &["rev-parse", "HEAD"]).expect("rev-parse"),
            second
        );

        let rewritten = server.force_push_rewrite(1, "rewritten").expect("rewrite");
        assert_ne!(rewritten, second);
        git(&clone, &["fetch", "-q"]).expect("fetch");
        assert_eq!(
            git(&clone, &["rev-parse", "origin/main"]).expect("rev-parse"),
            rewritten
        );

        server.stop();
        assert!(
            git(&clone, &["fetch", "-q"]).is_err(),
            "a stopped server refuses fetches"
        );
        server.restart().expect("restart");
        git(&clone, &["fetch", "-q"]).expect("fetch after restart");
    }

    #[test]
    fn accepts_pushes_over_git_protocol() {
        let daemon = GitDaemon::start().expect("git daemon");
        let (_, url) = daemon.repo("apps").expect("repo");
        let work = tempfile::tempdir().expect("tempdir");
        let tree = WorkTree::init(work.path(), &url).expect("work tree");
        std::fs::write(tree.dir().join("a"), "a").expect("write");
        let commit = tree.commit_and_push("first").expect("push over git://");
        let remote = git(work.path(), &["ls-remote", &url, "main"]).expect("ls-remote");
        assert!(remote.starts_with(&commit), "{remote}");
    }
}
