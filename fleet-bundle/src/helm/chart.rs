//! A loaded chart tree: metadata, templates, other files, default values, subcharts.
//!
//! This is the contract between chart loading (which fills it) and the template
//! [`engine`](super::engine) (which only reads it).

use serde_json::Value;

/// One file of a chart, with its path relative to the chart root (`templates/x.yaml`,
/// `files/a.conf`, `README.md`), always with `/` separators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartFile {
    pub name: String,
    pub data: Vec<u8>,
}

/// A chart as Helm's loader returns it: `Chart.yaml` metadata, its templates, every other
/// file (what `.Files` sees; `.helmignore` already applied), the default `values.yaml`,
/// and the subcharts that are enabled for this render, in `Chart.yaml` dependency order.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    /// `Chart.yaml` as Helm's `chart.Metadata` exposes it to templates as `.Chart`
    /// (keys in Helm's capitalised form: `Name`, `Version`, `AppVersion`, `APIVersion`,
    /// `Type`, `Description`, `Annotations`, `Keywords`, ...).
    pub metadata: Value,
    /// The chart's name as the parent refers to it: its alias when it has one.
    pub name: String,
    /// Files under `templates/` (including `_helpers.tpl`, `NOTES.txt`).
    pub templates: Vec<ChartFile>,
    /// Every other file of the chart (`.Files`): as in Helm, not `Chart.yaml`,
    /// `values.yaml`, `values.schema.json`, templates or subcharts; `crds/` files are here.
    pub files: Vec<ChartFile>,
    /// Default values from `values.yaml`, numbers as Helm reads them (float64:
    /// `serde_json::Number::is_f64`; integers only come from `--set`). For a chart with
    /// dependencies this is, as in Helm after dependency processing, the merged tree of
    /// its own and its subcharts' defaults plus imported values.
    pub values: Value,
    /// `values.schema.json`, when present.
    pub schema: Option<Vec<u8>>,
    /// Subcharts enabled for this render, each with `name` set to its alias if any.
    pub dependencies: Vec<Chart>,
}

/// A file's bytes as text, invalid UTF-8 replaced by U+FFFD (Go's `string(bytes)` as
/// Helm prints it). Valid text, the usual case, is checked by `str::from_utf8`, whose
/// ASCII fast path is several times quicker than `String::from_utf8_lossy`'s scan on
/// the megabytes of CRDs and dashboards charts carry.
pub fn text_lossy(data: &[u8]) -> String {
    match std::str::from_utf8(data) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(data).into_owned(),
    }
}
