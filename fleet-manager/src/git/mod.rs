//! Git: fetching the repositories GitRepos point at, turning each new commit into bundles,
//! and push webhooks that trigger an immediate fetch.
//!
//! - [`fetch`]: git2 fetches into one bare cache repository per remote, shallow where the
//!   transport allows, and checkouts of one commit for scanning;
//! - [`credentials`]: `clientSecretName` secrets (SSH key + known_hosts, username/password
//!   or token), `insecureSkipTLSVerify`;
//! - [`poller`]: the leader's loop, one fetch per remote however many GitRepos share
//!   it, bounded concurrency, exponential backoff with the error on the GitRepo status;
//! - [`signature`]: `spec.verify`, only commits signed by allowed SSH keys are built;
//! - [`sync`]: a checkout → bundles (fleet-bundle's scan) → store;
//! - [`webhook`]: GitHub, GitLab, Gitea/Gogs and Bitbucket push events, verified.

pub mod credentials;
pub mod fetch;
pub mod poller;
pub mod signature;
pub mod sync;
pub mod webhook;

use std::collections::HashSet;
use std::sync::Mutex;

use tokio::sync::Notify;

/// Requests for an immediate fetch, by GitRepo (`namespace/name`) or of everything.
#[derive(Default)]
pub struct Triggers {
    pending: Mutex<(bool, HashSet<String>)>,
    notify: Notify,
}

impl Triggers {
    /// Asks for an immediate fetch of one GitRepo.
    pub fn wake(&self, namespace: &str, name: &str) {
        if let Ok(mut p) = self.pending.lock() {
            p.1.insert(format!("{namespace}/{name}"));
        }
        self.notify.notify_one();
    }

    /// Asks the poller to look at every GitRepo now (a GitRepo was applied).
    pub fn wake_all(&self) {
        if let Ok(mut p) = self.pending.lock() {
            p.0 = true;
        }
        self.notify.notify_one();
    }

    /// Takes the pending requests: (look at all, these GitRepos).
    pub fn take(&self) -> (bool, HashSet<String>) {
        match self.pending.lock() {
            Ok(mut p) => std::mem::take(&mut *p),
            Err(_) => (true, HashSet::new()),
        }
    }

    /// Waits for the next request.
    pub async fn notified(&self) {
        self.notify.notified().await;
    }
}

/// Normalizes a repository address for comparisons (webhook matching, fetch sharing):
/// lowercase host, no scheme/user, no `.git` suffix, no trailing slash.
/// `git@github.com:org/repo.git` and `https://github.com/org/repo` normalize the same.
pub fn normalize_repo_url(url: &str) -> String {
    let mut s = url.trim().to_string();
    if crate::resources::is_scp_like(&s) {
        if let Some((host, path)) = s.split_once(':') {
            let host = host.rsplit('@').next().unwrap_or(host);
            s = format!("{host}/{path}");
        }
    } else if let Some((_, rest)) = s.split_once("://") {
        s = rest.to_string();
        if let Some((userinfo_host, path)) = s.split_once('/') {
            let host = userinfo_host.rsplit('@').next().unwrap_or(userinfo_host);
            // Default ports name the same repository.
            let host = host
                .strip_suffix(":443")
                .or_else(|| host.strip_suffix(":22"))
                .unwrap_or(host);
            s = format!("{host}/{path}");
        }
    }
    let s = s.trim_end_matches('/');
    let s = s.strip_suffix(".git").unwrap_or(s);
    match s.split_once('/') {
        Some((host, path)) => format!("{}/{}", host.to_ascii_lowercase(), path),
        None => s.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_urls_normalize_across_transports() {
        let want = "github.com/org/repo";
        for url in [
            "https://github.com/org/repo",
            "https://github.com/org/repo.git",
            "https://user:tok@GitHub.com/org/repo/",
            "git@github.com:org/repo.git",
            "ssh://git@github.com:22/org/repo.git",
        ] {
            assert_eq!(normalize_repo_url(url), want, "{url}");
        }
        assert_ne!(normalize_repo_url("https://github.com/org/other"), want);
    }

    #[test]
    fn triggers_collect_requests() {
        let t = Triggers::default();
        t.wake("fleet-default", "a");
        t.wake("fleet-default", "b");
        let (all, repos) = t.take();
        assert!(!all);
        assert_eq!(repos.len(), 2);
        t.wake_all();
        assert!(t.take().0);
        assert!(t.take().1.is_empty());
    }
}
