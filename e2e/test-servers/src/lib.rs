//! Real servers for tests, started per test from the programs of a Debian machine:
//! `git daemon`, `git http-backend` behind nginx and fcgiwrap with basic auth (optionally
//! over TLS with a private CA), sshd with key auth, and a throwaway PostgreSQL 15.
//!
//! Each server listens on a free loopback port, keeps its files in a directory of its own,
//! is accepting connections when its constructor returns, and is stopped when its handle
//! drops, so a failing test leaves nothing running. The manager's integration tests
//! (`fleet-manager/tests/`) and the whole-system tests (`e2e`) share this one harness, so a
//! fix to how a server is started or waited for reaches both.
//!
//! Start here: [`GitDaemon::start`] serves bare repositories that a [`WorkTree`] pushes
//! to; [`HttpGit`], [`Sshd`] and [`Postgres`] start the same way. [`GitServer`] bundles one
//! repository, its work tree and its daemon for whole-system tests.
//!
//! ```no_run
//! # fn demo() -> anyhow::Result<()> {
//! use test_servers::{GitDaemon, WorkTree};
//!
//! let daemon = GitDaemon::start()?;
//! let (bare, url) = daemon.repo("apps")?;
//! let work = tempfile::tempdir()?;
//! let tree = WorkTree::init(work.path(), &bare.display().to_string())?;
//! std::fs::write(tree.dir().join("cm.yaml"), "kind: ConfigMap\n")?;
//! let commit = tree.commit_and_push("first")?;
//! println!("{url} serves {commit}");
//! # Ok(()) }
//! ```
//!
//! Every error names the step and the command that failed, with its output; tests
//! `expect` them with what they were starting.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod git;
pub mod git_daemon;
pub mod http_git;
pub mod pki;
pub mod postgres;
pub mod process;
pub mod sshd;

pub use git::WorkTree;
pub use git_daemon::{GitDaemon, GitServer};
pub use http_git::HttpGit;
pub use pki::TestPki;
pub use postgres::Postgres;
pub use process::{free_port, Daemon};
pub use sshd::Sshd;
