//! Executes every template of a chart tree the way Helm's engine does.
//!
//! # Why this design
//!
//! Charts are Go `text/template` programs, and Helm's output depends on Go's exact
//! semantics (pipelines, `missingkey=zero`, Go truthiness and printing, Sprig's
//! reference-typed maps). Translating templates to Jinja source would need a shim for
//! almost every construct and still leak Jinja semantics, so the template language is
//! parsed by [`super::template::parser`] (with positions for errors) and executed by
//! [`super::template::exec`] directly over minijinja's runtime value model:
//! [`minijinja::Value`] carries every value, its `Object` trait carries Go's maps (shared
//! and mutable, as Sprig's `set`/`merge` need) and Helm's built-in objects (`.Files`,
//! `.Capabilities`, `.Chart`...), and Sprig/Helm functions are Rust functions over that
//! model ([`super::funcs`]). Each template is parsed once per render; values are shared,
//! never copied per template.
//!
//! # What a render does (Helm's `engine.Render`)
//!
//! 1. Collect the templates of the chart and its enabled subcharts, each with its
//!    chart's scope: `.Values` (the subchart's section of the parent's values, the same
//!    map, not a copy), `.Chart`, `.Files`, `.Release`, `.Capabilities`, `.Subcharts`.
//!    Library charts contribute only their partials.
//! 2. Parse them all into one namespace of templates, deepest paths first, so a parent's
//!    `define` wins over a subchart's of the same name.
//! 3. Execute every template whose file name does not start with `_`, setting
//!    `.Template.Name`/`.BasePath`, and drop the `<no value>` marks from the output.

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::Value;

use super::chart::Chart;
use super::funcs::capabilities::{Capabilities, KubeVersion};
use super::funcs::files::Files;
use super::template::exec::{Exec, ExecError, Limits};
use super::template::value::{from_json, new_map, GoMap};
use super::template::{strip_no_value, ParseError, TemplateSet};

/// The release facts templates see besides values.
#[derive(Debug, Clone)]
pub struct RenderContext {
    /// `.Release.Name`.
    pub release_name: String,
    /// `.Release.Namespace`.
    pub namespace: String,
    /// `.Release.Revision` (1 for `helm template`).
    pub revision: i64,
    pub is_install: bool,
    pub is_upgrade: bool,
    /// `.Release.Service` (`Helm`).
    pub service: String,
    /// The Kubernetes version as given (`v1.31.0`, `1.31.0`, `v1.33.4-gke.1`).
    pub kube_version: String,
    /// `--api-versions`, added after Helm's default list.
    pub api_versions: Vec<String>,
    /// Bounds against hostile charts.
    pub limits: Limits,
}

impl Default for RenderContext {
    fn default() -> Self {
        RenderContext {
            release_name: "release-name".into(),
            namespace: "default".into(),
            revision: 1,
            is_install: true,
            is_upgrade: false,
            service: "Helm".into(),
            kube_version: "v1.35.0".into(),
            api_versions: Vec::new(),
            limits: Limits::default(),
        }
    }
}

/// Why a chart's templates could not be rendered.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// A template does not parse: `parse error at (chart/templates/x.yaml:3): ...`.
    #[error("parse error at ({}:{}): {}", .0.file, .0.line, .0.message)]
    Parse(ParseError),
    /// A template failed while running; the message follows Helm's layout.
    #[error("{}", helm_message(.0))]
    Exec(ExecError),
    /// The Kubernetes version given is not `MAJOR.MINOR[.PATCH]`.
    #[error("invalid kube version {0:?}: it must look like v1.31.0")]
    KubeVersion(String),
    /// The render thread could not run.
    #[error("template engine failure: {0}")]
    Internal(String),
}

impl EngineError {
    /// The Go `text/template` error text, as `helm template --debug` shows it.
    pub fn go_message(&self) -> String {
        match self {
            EngineError::Exec(e) => e.to_string(),
            EngineError::Parse(p) => p.to_string(),
            other => other.to_string(),
        }
    }
}

/// Helm's `reformatExecErrorMsg`: a `fail`/`required` message on its own with the
/// outermost location; otherwise one block per template in the chain.
fn helm_message(e: &ExecError) -> String {
    if let (Some(msg), Some(loc)) = (e.fail_message(), e.location()) {
        return format!("execution error at ({loc}): {msg}");
    }
    let full = e.to_string();
    if e.is_raw() {
        return full;
    }
    let mut out = String::new();
    let mut rest = full.as_str();
    while let Some(body) = rest.strip_prefix("template: ") {
        let Some((location, after)) = body.split_once(": executing \"") else {
            out.push_str(rest);
            break;
        };
        let Some((func, after)) = after.split_once("\" at <") else {
            break;
        };
        let Some((node, msg)) = after.split_once(">: ") else {
            break;
        };
        let (msg, next) = match msg.find(" template: ") {
            Some(i) => (&msg[..i], &msg[i + 1..]),
            None => (msg, ""),
        };
        out.push_str(&format!(
            "{location}\n  executing \"{func}\" at <{node}>:\n    {msg}\n"
        ));
        rest = next;
    }
    if out.is_empty() {
        full
    } else {
        out.trim_end().to_string()
    }
}

/// One template to run: its full path, text, and the scope of its chart.
struct Renderable<'c> {
    path: String,
    text: &'c str,
    scope: Arc<GoMap>,
    base_path: String,
}

/// Renders every template of the chart tree (subcharts included).
///
/// `values` is the coalesced top-level values tree (subchart sections under their
/// name or alias, `global` already propagated). Numbers keep Helm's types: values-file
/// numbers are `f64` (`float64`), `--set` integers are integers (`int64`).
///
/// Returns each template's output by path (`mychart/templates/x.yaml`,
/// `mychart/charts/sub/templates/y.yaml`), `NOTES.txt` included, partials (`_*`)
/// excluded.
///
/// # Errors
///
/// [`EngineError::Parse`] for the first template that does not parse (in Helm's
/// order), [`EngineError::Exec`] for the first that fails, with file, line, column and
/// the chain of `include`s.
pub fn render(
    chart: &Chart,
    values: &serde_json::Value,
    ctx: &RenderContext,
) -> Result<BTreeMap<String, String>, EngineError> {
    // Deeply nested includes recurse deeply: run on a thread with room for them.
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("helm-render".into())
            .stack_size(RENDER_STACK)
            .spawn_scoped(s, || render_here(chart, values, ctx))
            .map_err(|e| EngineError::Internal(format!("cannot start the render thread: {e}")))?
            .join()
            .map_err(|_| EngineError::Internal("the render thread panicked".into()))?
    })
}

/// Stack of the render thread and of its template-parsing helpers: deeply nested
/// includes and templates recurse deeply (only what is touched is really allocated).
const RENDER_STACK: usize = 256 << 20;

fn render_here(
    chart: &Chart,
    values: &serde_json::Value,
    ctx: &RenderContext,
) -> Result<BTreeMap<String, String>, EngineError> {
    let kube = parse_kube_version(&ctx.kube_version)?;
    let capabilities = Capabilities::value(kube, &ctx.api_versions);
    let mut release = BTreeMap::new();
    release.insert("Name".to_string(), Value::from(ctx.release_name.as_str()));
    release.insert("Namespace".to_string(), Value::from(ctx.namespace.as_str()));
    release.insert("IsUpgrade".to_string(), Value::from(ctx.is_upgrade));
    release.insert("IsInstall".to_string(), Value::from(ctx.is_install));
    release.insert("Revision".to_string(), Value::from(ctx.revision));
    release.insert("Service".to_string(), Value::from(ctx.service.as_str()));
    let release = new_map(release);

    let root_values = from_json(values);
    let root_values = if super::template::value::as_map(&root_values).is_some() {
        root_values
    } else {
        new_map(BTreeMap::new())
    };
    let mut renderables = Vec::new();
    let root_path = chart_name(chart);
    collect(
        chart,
        &root_path,
        true,
        &root_values,
        &release,
        &capabilities,
        &mut renderables,
    );

    // Helm's order: deepest paths first; among equals, reverse lexical order.
    renderables.sort_by(|a, b| {
        let (ca, cb) = (a.path.matches('/').count(), b.path.matches('/').count());
        cb.cmp(&ca).then_with(|| b.path.cmp(&a.path))
    });

    let mut set = TemplateSet::new();
    let files: Vec<(&str, &str)> = renderables
        .iter()
        .map(|r| (r.path.as_str(), r.text))
        .collect();
    set.add_files(&files, &super::funcs::exists, RENDER_STACK)
        .map_err(EngineError::Parse)?;

    let mut exec = Exec::new(&set, ctx.limits);
    let mut rendered = BTreeMap::new();
    for r in &renderables {
        let file = r.path.rsplit('/').next().unwrap_or("");
        if file.starts_with('_') {
            continue;
        }
        let mut template = BTreeMap::new();
        template.insert("Name".to_string(), Value::from(r.path.as_str()));
        template.insert("BasePath".to_string(), Value::from(r.base_path.as_str()));
        r.scope.set("Template".to_string(), new_map(template));
        let mut out = String::new();
        let data = Value::from_dyn_object(r.scope.clone());
        exec.execute(&r.path, &data, &mut out)
            .map_err(EngineError::Exec)?;
        rendered.insert(r.path.clone(), strip_no_value(out));
    }
    Ok(rendered)
}

fn chart_name(chart: &Chart) -> String {
    if chart.name.is_empty() {
        chart
            .metadata
            .get("Name")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    } else {
        chart.name.clone()
    }
}

fn is_library(chart: &Chart) -> bool {
    chart.metadata.get("Type").and_then(|v| v.as_str()) == Some("library")
}

/// Builds a chart's scope object and gathers its templates and its subcharts'.
/// Returns the scope (what the parent exposes as `.Subcharts.<name>`).
fn collect<'c>(
    chart: &'c Chart,
    path: &str,
    is_root: bool,
    parent_values: &Value,
    release: &Value,
    capabilities: &Value,
    out: &mut Vec<Renderable<'c>>,
) -> Value {
    let values = if is_root {
        parent_values.clone()
    } else {
        super::template::value::as_map(parent_values)
            .and_then(|m| m.get(&chart_name(chart)))
            .filter(|v| super::template::value::as_map(v).is_some())
            .unwrap_or_else(|| new_map(BTreeMap::new()))
    };
    let files = Files::new(chart.files.iter().map(|f| (f.name.clone(), f.data.clone())));
    let mut scope = BTreeMap::new();
    scope.insert("Chart".to_string(), from_json(&chart.metadata));
    scope.insert(
        "Files".to_string(),
        super::template::value::new_struct(files),
    );
    scope.insert("Release".to_string(), release.clone());
    scope.insert("Capabilities".to_string(), capabilities.clone());
    scope.insert("Values".to_string(), values.clone());
    let scope_value = new_map(scope);
    let Some(scope_map) = super::template::value::as_map(&scope_value) else {
        return scope_value;
    };

    let mut subcharts = BTreeMap::new();
    for dep in &chart.dependencies {
        let name = chart_name(dep);
        let sub_path = format!("{path}/charts/{name}");
        let sub_scope = collect(dep, &sub_path, false, &values, release, capabilities, out);
        subcharts.insert(name, sub_scope);
    }
    scope_map.set("Subcharts".to_string(), new_map(subcharts));

    let library = is_library(chart);
    for t in &chart.templates {
        let base = t.name.rsplit('/').next().unwrap_or("");
        if library && !base.starts_with('_') {
            continue;
        }
        let Ok(text) = std::str::from_utf8(&t.data) else {
            continue;
        };
        out.push(Renderable {
            path: format!("{path}/{}", t.name),
            text,
            scope: scope_map.clone(),
            base_path: format!("{path}/templates"),
        });
    }
    scope_value
}

/// Helm's `ParseKubeVersion`: `v` optional, `MAJOR.MINOR[.PATCH]`, suffixes kept in
/// `.Version` but not in the normalized form.
fn parse_kube_version(text: &str) -> Result<KubeVersion, EngineError> {
    let trimmed = text.trim();
    let bare = trimmed.strip_prefix('v').unwrap_or(trimmed);
    let end = bare
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(bare.len());
    let nums: Vec<&str> = bare[..end].split('.').collect();
    if nums.len() < 2
        || nums
            .iter()
            .any(|n| n.is_empty() || n.parse::<u64>().is_err())
    {
        return Err(EngineError::KubeVersion(text.to_string()));
    }
    let mut norm: Vec<String> = nums
        .iter()
        .map(|n| n.parse::<u64>().unwrap_or(0).to_string())
        .collect();
    while norm.len() < 3 {
        norm.push("0".into());
    }
    Ok(KubeVersion {
        version: if trimmed.starts_with('v') {
            trimmed.to_string()
        } else {
            format!("v{trimmed}")
        },
        normalized: format!("v{}", norm.join(".")),
        major: norm[0].clone(),
        minor: norm[1].clone(),
    })
}

#[cfg(test)]
mod tests;
