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
//! - [`fleet_yaml`]: `fleet.yaml`, Fleet's schema; [`fleetignore`]: `.fleetignore`;
//! - [`scan`]: a checkout and a GitRepo's paths into Bundles ([`naming`], [`content`],
//!   [`chart_source`] for charts downloaded at scan time) — start here;
//! - [`target`]: which target and options a cluster gets ([`templating`]: cluster values);
//! - [`digest`]: content addresses and deploymentIDs; [`export`]: Fleet's YAML printing;
//! - [`render`]: a bundle for one cluster into Kubernetes objects (plain YAML, overlays,
//!   Helm, kustomize);
//! - [`helm`]: Helm charts on a Go-template engine running on minijinja;
//! - [`kustomize`]: kustomize in Rust;
//! - [`preview`]: what a change does to each target set, as rendered-manifest diffs.
#![forbid(unsafe_code)]

pub mod bundle;
pub mod chart_source;
pub mod content;
pub mod deployment;
pub mod digest;
pub mod export;
pub mod fleet_yaml;
pub mod fleetignore;
pub mod helm;
pub mod kustomize;
pub mod naming;
pub mod preview;
pub mod render;
pub mod scan;
pub mod selector;
pub mod target;
pub mod templating;
