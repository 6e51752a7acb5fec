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

pub mod api_status;
pub mod apply;
pub mod auth;
pub mod certs;
pub mod cluster;
pub mod config;
pub mod crd;
pub mod defaults;
pub mod discovery;
pub mod fields;
pub mod gc;
pub mod managed_fields;
pub mod openapi;
pub mod patch;
pub mod persist;
pub mod protobuf;
pub mod reads;
pub mod registry;
pub mod routes;
pub mod schema;
pub mod selectors;
pub mod server;
pub mod status_sim;
pub mod store;
pub mod table;
pub mod validation;
pub mod watch;
pub mod writes;

mod handle;

pub use config::{Config, Faults};
pub use handle::{Handle, KubeDouble, StartError};

/// The current time as the API server writes it (RFC 3339, seconds, `Z`).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
