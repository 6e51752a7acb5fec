//! Fetching with git2 into a bare cache repository per remote, resolving a branch, tag or
//! commit, and checking one commit out for scanning (with size limits).
//!
//! Blocking: callers run these on `spawn_blocking` threads.

use std::path::{Path, PathBuf};

use git2::{FetchOptions, Oid, Repository};
use sha2::{Digest, Sha256};

use super::credentials::GitAuth;

/// What a GitRepo wants from its remote.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Want {
    /// The tip of a branch (shallow fetch where the transport allows).
    Branch(String),
    /// A tag or a commit id.
    Revision(String),
}

/// Why a fetch, resolve or checkout failed; the message goes on the GitRepo status, so
/// it never carries credentials (URLs are shown without user info).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot prepare the cache for {url}: {message}")]
    Cache { url: String, message: String },
    #[error("fetching {url}: {source}")]
    Fetch {
        url: String,
        #[source]
        source: git2::Error,
    },
    #[error("{url}: {what} {name:?} not found")]
    NotFound {
        url: String,
        what: &'static str,
        name: String,
    },
    #[error("checking out {commit}: {message}")]
    Checkout { commit: String, message: String },
    #[error("commit {commit} is too large to check out: {message}")]
    TooLarge { commit: String, message: String },
}

/// Bounds on a checkout, against repositories built to exhaust the manager.
#[derive(Debug, Clone, Copy)]
pub struct CheckoutLimits {
    pub max_files: usize,
    pub max_bytes: u64,
}

impl Default for CheckoutLimits {
    fn default() -> Self {
        CheckoutLimits {
            max_files: 100_000,
            max_bytes: 1 << 30,
        }
    }
}

/// A URL as shown in messages: without user info (which may hold a token).
pub fn display_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit('@').next().unwrap_or(authority);
            format!("{scheme}://{host}/{path}")
        }
        None => url.to_string(),
    }
}

/// The cache repository of a remote under `cache_dir`.
pub fn cache_path(cache_dir: &Path, url: &str) -> PathBuf {
    cache_dir.join(hex::encode(&Sha256::digest(url.as_bytes())[..16]))
}

/// Fetches what `wants` need from `url` into its cache repository and returns the path.
/// Branches are fetched with depth 1 except over the local transport (which cannot do
/// shallow fetches); revisions fetch branches and tags in full, as a commit id can only
/// be found in history.
pub fn fetch(
    cache_dir: &Path,
    url: &str,
    auth: &GitAuth,
    wants: &[Want],
) -> Result<PathBuf, FetchError> {
    let shown = display_url(url);
    let path = cache_path(cache_dir, url);
    let repo = match Repository::open_bare(&path) {
        Ok(r) => r,
        Err(_) => {
            std::fs::create_dir_all(&path).map_err(|e| FetchError::Cache {
                url: shown.clone(),
                message: e.to_string(),
            })?;
            Repository::init_bare(&path).map_err(|e| FetchError::Cache {
                url: shown.clone(),
                message: e.to_string(),
            })?
        }
    };
    let mut refspecs: Vec<String> = Vec::new();
    let mut full = false;
    for w in wants {
        match w {
            Want::Branch(b) => refspecs.push(format!("+refs/heads/{b}:refs/remotes/origin/{b}")),
            Want::Revision(_) => full = true,
        }
    }
    if full {
        refspecs.push("+refs/heads/*:refs/remotes/origin/*".into());
        refspecs.push("+refs/tags/*:refs/tags/*".into());
    }
    refspecs.sort();
    refspecs.dedup();
    let mut remote = repo
        .remote_anonymous(url)
        .map_err(|source| FetchError::Fetch {
            url: shown.clone(),
            source,
        })?;
    let mut opts = FetchOptions::new();
    opts.remote_callbacks(auth.callbacks(url));
    opts.download_tags(git2::AutotagOption::None);
    let local = url.starts_with("file://") || url.starts_with('/');
    if !full && !local {
        opts.depth(1);
    }
    remote
        .fetch(&refspecs, Some(&mut opts), None)
        .map_err(|source| FetchError::Fetch { url: shown, source })?;
    Ok(path)
}

/// The commit `want` names in the cache repository at `path`.
pub fn resolve(path: &Path, url: &str, want: &Want) -> Result<Oid, FetchError> {
    let shown = display_url(url);
    let repo = Repository::open_bare(path).map_err(|e| FetchError::Cache {
        url: shown.clone(),
        message: e.to_string(),
    })?;
    let (spec, what, name) = match want {
        Want::Branch(b) => (format!("refs/remotes/origin/{b}"), "branch", b.clone()),
        Want::Revision(r) => {
            if repo.find_reference(&format!("refs/tags/{r}")).is_ok() {
                (format!("refs/tags/{r}"), "tag", r.clone())
            } else {
                (r.clone(), "revision", r.clone())
            }
        }
    };
    let obj = repo
        .revparse_single(&spec)
        .map_err(|_| FetchError::NotFound {
            url: shown.clone(),
            what,
            name: name.clone(),
        })?;
    let commit = obj.peel_to_commit().map_err(|_| FetchError::NotFound {
        url: shown,
        what,
        name,
    })?;
    Ok(commit.id())
}

/// Writes the tree of `commit` into `dest` (which must exist and be empty), refusing
/// commits with more files or bytes than `limits`.
pub fn checkout(
    path: &Path,
    commit: Oid,
    dest: &Path,
    limits: CheckoutLimits,
) -> Result<(), FetchError> {
    let err = |message: String| FetchError::Checkout {
        commit: commit.to_string(),
        message,
    };
    let repo = Repository::open_bare(path).map_err(|e| err(e.to_string()))?;
    let commit_obj = repo.find_commit(commit).map_err(|e| err(e.to_string()))?;
    let tree = commit_obj.tree().map_err(|e| err(e.to_string()))?;
    let odb = repo.odb().map_err(|e| err(e.to_string()))?;
    let mut files = 0usize;
    let mut bytes = 0u64;
    let mut over: Option<String> = None;
    tree.walk(git2::TreeWalkMode::PreOrder, |_, entry| {
        if entry.kind() == Some(git2::ObjectType::Blob) {
            files += 1;
            if let Ok((size, _)) = odb.read_header(entry.id()) {
                bytes += size as u64;
            }
            if files > limits.max_files {
                over = Some(format!("more than {} files", limits.max_files));
                return git2::TreeWalkResult::Abort;
            }
            if bytes > limits.max_bytes {
                over = Some(format!("more than {} bytes", limits.max_bytes));
                return git2::TreeWalkResult::Abort;
            }
        }
        git2::TreeWalkResult::Ok
    })
    .or_else(|e| if over.is_some() { Ok(()) } else { Err(e) })
    .map_err(|e| err(e.to_string()))?;
    if let Some(message) = over {
        return Err(FetchError::TooLarge {
            commit: commit.to_string(),
            message,
        });
    }
    let mut cb = git2::build::CheckoutBuilder::new();
    cb.target_dir(dest).force().recreate_missing(true);
    repo.checkout_tree(tree.as_object(), Some(&mut cb))
        .map_err(|e| err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit_file(repo: &Repository, name: &str, content: &str, branch: &str) -> Oid {
        let workdir = repo.workdir().unwrap();
        std::fs::write(workdir.join(name), content).unwrap();
        let mut index = repo.index().unwrap();
        index.add_path(Path::new(name)).unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = git2::Signature::now("t", "t@example.org").unwrap();
        let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        repo.commit(
            Some(&format!("refs/heads/{branch}")),
            &sig,
            &sig,
            "c",
            &tree,
            &parents,
        )
        .unwrap()
    }

    #[test]
    fn fetches_resolves_and_checks_out_a_local_repo() {
        let src = tempfile::tempdir().unwrap();
        let repo = Repository::init(src.path()).unwrap();
        repo.set_head("refs/heads/main").unwrap();
        let first = commit_file(&repo, "a.yaml", "a: 1\n", "main");
        repo.tag_lightweight("v1", &repo.find_object(first, None).unwrap(), false)
            .unwrap();
        let second = commit_file(&repo, "a.yaml", "a: 2\n", "main");
        let url = format!("file://{}", src.path().display());
        let cache = tempfile::tempdir().unwrap();
        let auth = GitAuth::default();
        let path = fetch(cache.path(), &url, &auth, &[Want::Branch("main".into())]).unwrap();
        assert_eq!(
            resolve(&path, &url, &Want::Branch("main".into())).unwrap(),
            second
        );
        assert!(matches!(
            resolve(&path, &url, &Want::Branch("nope".into())),
            Err(FetchError::NotFound { .. })
        ));
        let path = fetch(cache.path(), &url, &auth, &[Want::Revision("v1".into())]).unwrap();
        assert_eq!(
            resolve(&path, &url, &Want::Revision("v1".into())).unwrap(),
            first
        );
        assert_eq!(
            resolve(&path, &url, &Want::Revision(first.to_string())).unwrap(),
            first
        );
        let out = tempfile::tempdir().unwrap();
        checkout(&path, first, out.path(), CheckoutLimits::default()).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.path().join("a.yaml")).unwrap(),
            "a: 1\n"
        );
        let small = CheckoutLimits {
            max_files: 10,
            max_bytes: 2,
        };
        let out2 = tempfile::tempdir().unwrap();
        assert!(matches!(
            checkout(&path, first, out2.path(), small),
            Err(FetchError::TooLarge { .. })
        ));
    }

    #[test]
    fn urls_are_shown_without_credentials() {
        assert_eq!(
            display_url("https://user:tok@example.org/r.git"),
            "https://example.org/r.git"
        );
        assert_eq!(
            display_url("git@example.org:r.git"),
            "git@example.org:r.git"
        );
    }
}
