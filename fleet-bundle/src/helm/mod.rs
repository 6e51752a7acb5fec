//! Helm charts: loading, values, the Go-template engine on minijinja, and `helm template` output.
//!
//! The flow mirrors Helm's own, and [`render::template`] runs all of it: [`load`] reads a
//! chart directory or archive (with its vendored subcharts; [`repo`] fetches one from a
//! repository or an OCI registry), [`dependencies`] applies conditions, tags, aliases and
//! import-values, [`values`] coalesces the user's values with the chart tree's defaults
//! and [`schema`] checks them, [`engine`] executes every template of the [`chart::Chart`]
//! tree, and [`output`] sorts the results into manifests and hooks and prints the
//! `helm template` stream.

pub mod chart;
pub mod constraint;
pub mod dependencies;
pub mod engine;
pub mod funcs;
pub mod ignore;
pub mod load;
pub mod metadata;
pub mod output;
pub mod parallel;
pub mod render;
pub mod repo;
pub mod schema;
pub mod strvals;
pub mod template;
pub mod values;
pub mod yaml11;
