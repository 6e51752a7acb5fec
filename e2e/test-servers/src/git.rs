//! Git on the command line for test repositories: bare repositories for the servers to
//! serve, and work trees that commit and push to them.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

/// Runs `git` in `dir` and returns its trimmed stdout, failing with its stderr.
///
/// The author and committer are fixed so that commits need no user configuration on the
/// machine running the tests.
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

/// Creates the bare repository `root/<name>` on branch `main` and returns its path.
///
/// `http.receivepack` is on so that `git http-backend` accepts pushes to it as well as
/// fetches; the other servers ignore the setting.
pub fn bare_repo(root: &Path, name: &str) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let path = root.join(name);
    let path_str = utf8(&path)?;
    git(root, &["init", "-q", "--bare", "-b", "main", path_str])?;
    git(&path, &["config", "http.receivepack", "true"])?;
    Ok(path)
}

/// A work tree on branch `main` whose commits are pushed to `origin`: the only writer of
/// the repository it pushes to, as a developer would be.
pub struct WorkTree {
    dir: PathBuf,
}

impl WorkTree {
    /// Makes `dir` (created if missing) a new work tree pushing to `remote`, a local path
    /// or a URL.
    pub fn init(dir: &Path, remote: &str) -> anyhow::Result<WorkTree> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        git(dir, &["init", "-q", "-b", "main"])?;
        git(dir, &["remote", "add", "origin", remote])?;
        Ok(WorkTree {
            dir: dir.to_path_buf(),
        })
    }

    /// The directory to change files in before [`commit_and_push`](Self::commit_and_push).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Commits everything in the work tree (an empty commit when nothing changed) and
    /// pushes `main`; returns the new commit id.
    pub fn commit_and_push(&self, message: &str) -> anyhow::Result<String> {
        self.commit(message)?;
        git(&self.dir, &["push", "-q", "origin", "main"])?;
        git(&self.dir, &["rev-parse", "HEAD"])
    }

    /// Rewrites history: resets the work tree `back` commits (keeping its files), commits
    /// anew and force-pushes; returns the new commit id.
    pub fn force_push_rewrite(&self, back: usize, message: &str) -> anyhow::Result<String> {
        git(
            &self.dir,
            &["reset", "-q", "--soft", &format!("HEAD~{back}")],
        )?;
        self.commit(message)?;
        git(&self.dir, &["push", "-q", "--force", "origin", "main"])?;
        git(&self.dir, &["rev-parse", "HEAD"])
    }

    fn commit(&self, message: &str) -> anyhow::Result<()> {
        git(&self.dir, &["add", "-A"])?;
        git(&self.dir, &["commit", "-q", "--allow-empty", "-m", message])?;
        Ok(())
    }
}

/// Copies a directory tree: directories and regular files, symlinks as links.
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

/// `path` as UTF-8, since it becomes a `git` argument or a URL.
pub(crate) fn utf8(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("path {} is not UTF-8", path.display()))
}
