//! Fleet Bundles from a Git checkout.
//!
//! `fleet-bundle` reads a checkout holding `fleet.yaml` files (Fleet's own format, so
//! existing Fleet repos work unchanged), turns it into [`bundle::Bundle`]s, works out what a
//! cluster with given labels gets, and renders it: plain YAML with overlays, Helm charts
//! and kustomizations.
//!
//! The flow, one module per step:
//! - [`selector`]: Kubernetes label selectors for clusters, groups and partitions;
//! - [`bundle`]: Fleet's Bundle API types; [`deployment`]: what a cluster runs and reports,
//!   and the agent API wire contract;
//! - [`helm`]: Helm charts on a Go-template engine running on minijinja;
//! - [`kustomize`]: kustomize in Rust.
#![forbid(unsafe_code)]

pub mod bundle;
pub mod deployment;
pub mod helm;
pub mod kustomize;
pub mod selector;
