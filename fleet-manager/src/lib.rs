//! The Fleet manager: from a Git push to each cluster's desired state, for up to a
//! million clusters.
//!
//! Start at [`server::start`] (what `fleet-manager serve` runs): it opens the [`store`],
//! builds the [`targeting`] index and serves the [`api`] while the leader ([`leader`])
//! polls [`git`] and advances [`rollout`]s. Everything that changes state goes through
//! [`manager::Manager`].
//!
//! - [`resources`]: GitRepo / ClusterGroup / Secret in Fleet's YAML;
//! - [`git`]: fetch, credentials, webhooks, commit → bundles (fleet-bundle's scan);
//! - [`targeting`]: desired state computed once per distinct target key, ETags, watches;
//! - [`rollout`]: partitions, maxUnavailable, maxUnavailablePartitions, paused;
//! - [`status`]: per (cluster, bundle) states and roll-ups;
//! - [`auth`], [`secrets`]: tokens, OIDC bearer tokens, credentials, secrets sealed at rest;
//! - [`tls`]: the listener's TLS and agents' client certificates (mTLS);
//! - [`store`]: SQLite (default) or PostgreSQL behind one interface; [`leader`]: election;
//! - [`metrics`]: Prometheus; [`cli`]: the command line.
//!
//! **For the dashboard.** The status queries live in [`status`]: [`status::clusters`],
//! [`status::cluster`], [`status::bundles`], [`status::gitrepos`] and [`status::groups`]
//! take a [`status::Filter`] (namespace, name substring, state, `k=v` label selector,
//! group, offset/limit) and return a [`status::Page`] of rows carrying Fleet's
//! [`status::Summary`] counts; they need only an `&Manager`, which the router's state
//! holds (`axum::extract::State<Arc<Manager>>`). Authenticate dashboard calls with
//! [`api::admin::Admin`] (read-only tokens may read), and add routes beside
//! [`api::router`]'s admin routes.
#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod cli;
pub mod content_cache;
pub mod dashboard;
pub mod git;
pub mod install;
pub mod leader;
pub mod manager;
pub mod metrics;
pub mod report_memory;
pub mod resources;
pub mod rollout;
pub mod secrets;
pub mod server;
pub mod status;
pub mod store;
pub mod targeting;
pub mod tls;
