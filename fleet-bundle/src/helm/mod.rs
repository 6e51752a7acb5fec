//! Helm charts: loading, values, the Go-template engine on minijinja, and `helm template` output.
//!
//! The flow mirrors Helm's own: [`chart`] loads a chart directory or archive (with its
//! vendored dependencies), [`values`] coalesces the values tree, [`engine`] executes every
//! template of the chart tree, and [`output`] assembles the `helm template` stream.

pub mod chart;
pub mod constraint;
pub mod dependencies;
pub mod engine;
pub mod funcs;
pub mod ignore;
pub mod load;
pub mod metadata;
pub mod output;
pub mod render;
pub mod repo;
pub mod schema;
pub mod strvals;
pub mod template;
pub mod values;
pub mod yaml11;
