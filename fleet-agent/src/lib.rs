//! The Fleet agent: runs in each target cluster, pulls what the cluster should run from the
//! fleet manager, applies it as Helm releases with server-side apply, and holds the line
//! (drift correction, readiness, status) even while the manager is unreachable.
//!
//! Start at [`agent::run`]. The flow, one module per concept:
//! - [`client`]: the manager's agent API (register, long-poll, content, status), with
//!   [`backoff`] for retries and a [`poll_wait`] that adapts to proxies on the way;
//! - [`cache`]: the state dir (credential, desired state, content, [`applied`] records);
//! - [`render`]: bundle content to objects;
//! - [`apply`]: discovery, namespaces and policy, install order, server-side apply, hooks;
//! - [`release`]: Helm release records, so `helm ls/history/get/status` work;
//! - [`reconcile`]: deploy a new deploymentID, check an applied one, uninstall;
//! - [`health`], [`drift`], [`depends`], [`watch`]: readiness, drift, `dependsOn`, watches;
//! - [`status`] and [`metrics`]: what the manager and the cluster's monitoring see;
//! - [`transient`]: retrying Kubernetes API calls that fail for a passing reason.
#![forbid(unsafe_code)]

pub mod agent;
pub mod applied;
pub mod apply;
pub mod backoff;
pub mod cache;
pub mod client;
pub mod cluster;
pub mod depends;
pub mod drift;
pub mod health;
pub mod metrics;
pub mod poll_wait;
pub mod reconcile;
pub mod release;
pub mod render;
pub mod resource;
pub mod status;
pub mod transient;
pub mod watch;

pub use agent::{run, AgentConfig};
