//! Whole-system test support: child processes of our binaries, a TCP link that can be
//! cut, and helpers to wait for convergence. The tests themselves live in `e2e/tests/`;
//! the scale simulator in `src/bin/`.

pub mod fleet;
pub mod gitserver;
pub mod link;
pub mod postgres;
pub mod process;
pub mod sim;
pub mod wait;
