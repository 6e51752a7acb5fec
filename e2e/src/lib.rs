//! Whole-system test support: child processes of our binaries, a TCP link that can be
//! cut, and helpers to wait for convergence. The tests themselves live in `e2e/tests/`;
//! the scale simulator in `src/bin/`. The real servers (Git, PostgreSQL) come from the
//! `test-servers` crate, shared with the manager's integration tests.

pub mod fleet;
pub mod link;
pub mod process;
pub mod schema_check;
pub mod sim;
pub mod wait;

/// The Git server of the whole-system tests, the demo and the simulator, under the path
/// their code names it by.
pub mod gitserver {
    pub use test_servers::git::{copy_tree, git};
    pub use test_servers::{free_port, GitServer};
}

/// The throwaway PostgreSQL server of the whole-system tests.
pub use test_servers::postgres;
