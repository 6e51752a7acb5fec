//! `helmCharts`: charts vendored in the bundle, rendered by our Helm renderer (no network,
//! no `helm` binary) and added as resources, as kustomize's `--enable-helm` does.
//!
//! A chart is looked up under `helmGlobals.chartHome` (default `charts/`) as `<name>/` or
//! `<name>-<version>/<name>/`. Values are the `valuesFile` (or none), combined with
//! `valuesInline` as `valuesMerge` says (`override`, the default: inline wins; `merge`:
//! the file wins; `replace`: inline only), then each `additionalValuesFiles` on top.

use std::path::PathBuf;

use serde::Deserialize;

use super::error::KustomizeError;
use super::target::{resources_from_text, Accumulator, Context};
use crate::helm::output::StreamOptions;
use crate::helm::render::{render_loaded, GoTemplateEngine, TemplateOptions};

/// One entry of `helmCharts`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct HelmChart {
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    repo: String,
    #[serde(default)]
    release_name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    name_template: String,
    #[serde(default)]
    values_file: String,
    #[serde(default)]
    additional_values_files: Vec<String>,
    values_inline: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    values_merge: String,
    #[serde(default, rename = "includeCRDs")]
    include_crds: bool,
    #[serde(default)]
    skip_tests: bool,
    #[serde(default)]
    skip_hooks: bool,
    #[serde(default)]
    api_versions: Vec<String>,
    #[serde(default)]
    kube_version: String,
}

/// `helmGlobals`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct HelmGlobals {
    #[serde(default)]
    chart_home: String,
    /// Helm's repository configuration directory: accepted for compatibility, unused
    /// because charts are never pulled.
    #[serde(default, rename = "configHome")]
    _config_home: String,
}

const FIELD: &str = "helmCharts";

/// Renders the kustomization's charts and adds their resources.
pub fn run(ctx: &Context<'_>, acc: &mut Accumulator) -> Result<(), KustomizeError> {
    if ctx.k.helm_charts.is_empty() {
        return Ok(());
    }
    let globals: HelmGlobals = match &ctx.k.helm_globals {
        Some(g) => {
            serde_yaml::from_value(g.clone()).map_err(|source| KustomizeError::Malformed {
                file: ctx.file.to_path_buf(),
                source,
            })?
        }
        None => HelmGlobals::default(),
    };
    let home = if globals.chart_home.is_empty() {
        "charts".to_string()
    } else {
        globals.chart_home
    };
    for raw in &ctx.k.helm_charts {
        let chart: HelmChart =
            serde_yaml::from_value(raw.clone()).map_err(|source| KustomizeError::Malformed {
                file: ctx.file.to_path_buf(),
                source,
            })?;
        let rendered = render(ctx, &home, &chart)?;
        let origin = ctx.dir.join(&home).join(&chart.name);
        let resources = resources_from_text(&rendered, &origin)?;
        acc.append(resources, ctx.file)?;
    }
    Ok(())
}

fn render(ctx: &Context<'_>, home: &str, chart: &HelmChart) -> Result<String, KustomizeError> {
    let fail = |m: String| {
        KustomizeError::transform(ctx.file, FIELD, format!("chart {:?}: {m}", chart.name))
    };
    if chart.name.is_empty() {
        return Err(KustomizeError::transform(
            ctx.file,
            FIELD,
            "a chart needs a name",
        ));
    }
    let mut candidates: Vec<PathBuf> = vec![PathBuf::from(home).join(&chart.name)];
    if !chart.version.is_empty() {
        candidates.insert(
            0,
            PathBuf::from(home)
                .join(format!("{}-{}", chart.name, chart.version))
                .join(&chart.name),
        );
    }
    let Some(dir) = candidates.iter().find(|c| ctx.dir.join(c).is_dir()) else {
        let looked: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
        let hint = if chart.repo.is_empty() {
            String::new()
        } else {
            format!(
                " (charts are not pulled from {}: vendor the chart into the bundle)",
                chart.repo
            )
        };
        return Err(fail(format!(
            "not found under {}{hint}",
            looked.join(" or ")
        )));
    };
    let chart_dir = ctx
        .loader
        .resolve(ctx.dir, &dir.to_string_lossy(), ctx.file, FIELD)?;
    let read_values =
        |entry: &str| -> Result<serde_json::Map<String, serde_json::Value>, KustomizeError> {
            let (path, text) = ctx.read(entry, FIELD)?;
            if text.trim().is_empty() {
                return Ok(serde_json::Map::new());
            }
            serde_yaml::from_str(&text)
                .map_err(|source| KustomizeError::Malformed { file: path, source })
        };
    let file_values = if chart.values_file.is_empty() {
        serde_json::Map::new()
    } else {
        read_values(&chart.values_file)?
    };
    let mut values = match (chart.values_inline.clone(), chart.values_merge.as_str()) {
        (None, _) => file_values,
        (Some(inline), "" | "override") => {
            let mut v = file_values;
            deep_merge(&mut v, inline);
            v
        }
        (Some(inline), "merge") => {
            let mut v = inline;
            deep_merge(&mut v, file_values);
            v
        }
        (Some(inline), "replace") => inline,
        (Some(_), other) => {
            return Err(fail(format!(
                "valuesMerge must be override, merge or replace, not {other:?}"
            )))
        }
    };
    for extra in &chart.additional_values_files {
        deep_merge(&mut values, read_values(extra)?);
    }
    let mut opts = TemplateOptions::default();
    if !chart.release_name.is_empty() {
        opts.release_name = chart.release_name.clone();
    }
    if !chart.namespace.is_empty() {
        opts.namespace = chart.namespace.clone();
    }
    if !chart.name_template.is_empty() {
        return Err(fail(
            "nameTemplate is not supported; set releaseName".into(),
        ));
    }
    if !chart.kube_version.is_empty() {
        opts.kube_version = Some(chart.kube_version.clone());
    }
    opts.api_versions = chart.api_versions.clone();
    opts.stream = StreamOptions {
        include_crds: chart.include_crds,
        skip_tests: chart.skip_tests,
        no_hooks: chart.skip_hooks,
        show_only: Vec::new(),
    };
    let loaded = crate::helm::load::load(&chart_dir).map_err(|e| fail(e.to_string()))?;
    crate::helm::dependencies::check_dependencies(&loaded)
        .map_err(|e| fail(format!("missing dependencies: {e:?}")))?;
    let release = render_loaded(loaded, &values, &opts, &GoTemplateEngine)
        .map_err(|e| fail(e.to_string()))?;
    release
        .stream(&opts.stream)
        .map_err(|e| fail(e.to_string()))
}

/// Helm's value coalescing for user values: maps merge, `over` wins elsewhere.
fn deep_merge(
    base: &mut serde_json::Map<String, serde_json::Value>,
    over: serde_json::Map<String, serde_json::Value>,
) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(serde_json::Value::Object(b)), serde_json::Value::Object(o)) => deep_merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}
