//! Fleet Bundles from a Git checkout.
//!
//! `fleet-bundle` reads a checkout holding `fleet.yaml` files (Fleet's own format, so
//! existing Fleet repos work unchanged), turns it into [`Bundle`]s, works out what a
//! cluster with given labels gets, and renders it: plain YAML with overlays, Helm charts
//! and kustomizations.
//!
//! Start with [`scan::scan`] (checkout → bundles), then [`target::select`] (bundle ×
//! cluster → the matching target) and [`render::render_for_cluster`] (→ manifests and a
//! `deploymentID`).
#![forbid(unsafe_code)]

pub mod helm;
pub mod kustomize;
