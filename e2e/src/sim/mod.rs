//! The scale simulator: N simulated agents in one process, each speaking the real agent
//! HTTP API (register, ETag long-poll, content by digest, status), against a real manager
//! fed by a real Git server. No shortcut into the manager's store.
//!
//! What it measures (see [`run`]): time from a push until all N agents report Ready, the
//! manager's CPU and memory, requests per second, and bytes per agent per hour while idle.

pub mod agent;
pub mod labels;
pub mod procstat;
pub mod scenario;

pub use scenario::{run, Report, SimConfig};
