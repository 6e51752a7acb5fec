//! A Kubernetes API server double speaking the real wire protocol, for tests and the demo.
//!
//! Clients — kube-rs, `kubectl`, `helm`, the fleet agent — cannot tell it from a
//! kube-apiserver 1.30 for what they do: discovery (legacy and aggregated), OpenAPI v3,
//! CRUD with optimistic concurrency, watches with bookmarks, all patch types including
//! server-side apply with managedFields and conflicts, finalizers and garbage collection,
//! CRDs, Table output, and a status simulator that makes workloads ready.
//!
//! Start here: [`KubeDouble::start`] returns a [`Handle`] with the URL, kubeconfig, CA and
//! token, plus knobs for tests ([`Handle::set_not_ready`], [`Handle::set_faults`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use kube_double::{Config, KubeDouble};
//!
//! let double = KubeDouble::start(Config::default()).await?;
//! // Point any client at it: kubectl --kubeconfig <path> get ns
//! println!("{} {}", double.url(), double.kubeconfig_path().display());
//! // Keep a Deployment NotReady to exercise readiness handling.
//! double.set_not_ready("apps", "Deployment", "demo", "web", true);
//! double.shutdown().await;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod access_review;
pub mod api_status;
mod apply;
mod auth;
mod certs;
pub mod cluster;
pub mod config;
mod crd;
mod defaults;
mod discovery;
mod fields;
mod gc;
mod managed_fields;
mod openapi;
mod patch;
mod persist;
mod protobuf;
mod reads;
mod registry;
mod routes;
mod schema;
mod selectors;
mod server;
mod status_sim;
mod store;
mod table;
mod validation;
mod watch;
mod writes;

mod handle;

pub use config::{Config, Faults};
pub use handle::{Handle, KubeDouble, StartError};

/// The current time as the API server writes it (RFC 3339, seconds, `Z`).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
