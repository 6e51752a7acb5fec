//! `fleet-bundle bundlediff`: what differs between what bundles want and what clusters
//! have, from BundleDeployment statuses (`modifiedStatus`, `nonReadyStatus`), printed as
//! `fleet bundlediff` prints them (internal/cmd/cli/bundlediff.go): text grouped by
//! bundle, one deployment with `--bundle-deployment`, `--json`, or `--fleet-yaml` (a
//! `diff.comparePatches` snippet that ignores the drift found).
//!
//! The statuses are read from a file (`kubectl get bundledeployments -A -o yaml`, or the
//! manager's export), not from a live cluster.

use std::collections::BTreeMap;
use std::io::Read as _;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Arguments of `fleet-bundle bundlediff -i FILE [--bundle B | --bundle-deployment D]`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// BundleDeployments (YAML documents or a List; `-` for stdin).
    #[arg(short = 'i', long, default_value = "-")]
    pub input: String,
    /// Only this BundleDeployment (with -n, in that namespace).
    #[arg(long)]
    pub bundle_deployment: Option<String>,
    /// Only the BundleDeployments of this Bundle.
    #[arg(short = 'b', long)]
    pub bundle: Option<String>,
    /// Only BundleDeployments in this namespace.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// JSON output.
    #[arg(long, conflicts_with = "fleet_yaml")]
    pub json: bool,
    /// A fleet.yaml `diff:` snippet ignoring the modified fields (needs
    /// --bundle-deployment).
    #[arg(long, requires = "bundle_deployment")]
    pub fleet_yaml: bool,
}

const BUNDLE_NAME_LABEL: &str = "fleet.cattle.io/bundle-name";
const RULE: &str = "━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━";

/// Fleet's `ModifiedStatus`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Modified {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(
        default,
        rename = "missing",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub create: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exist: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub patch: String,
}

/// Fleet's `NonReadyStatus` (the summary kept as given).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NonReady {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub summary: Value,
}

/// One deployment's differences (Fleet's `DiffOutput`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffOutput {
    pub bundle_deployment_name: String,
    pub bundle_name: String,
    pub namespace: String,
    pub modified_resources: Vec<Modified>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub non_ready_resources: Vec<NonReady>,
}

/// Reads, filters and prints.
pub fn run(args: Args) -> anyhow::Result<()> {
    let text = if args.input == "-" {
        let mut t = String::new();
        std::io::stdin()
            .read_to_string(&mut t)
            .context("reading stdin")?;
        t
    } else {
        std::fs::read_to_string(&args.input).with_context(|| args.input.clone())?
    };
    let diffs = diffs(&text, &args).with_context(|| args.input.clone())?;
    print!("{}", format(&diffs, &args)?);
    Ok(())
}

/// The deployments of `text` with differences, filtered as the flags say.
pub fn diffs(text: &str, args: &Args) -> anyhow::Result<Vec<DiffOutput>> {
    let mut items = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value = Value::deserialize(doc).context("invalid YAML")?;
        match value.get("items").and_then(Value::as_array) {
            Some(list) => items.extend(list.iter().cloned()),
            None if !value.is_null() => items.push(value),
            None => {}
        }
    }
    let mut out = Vec::new();
    for item in items {
        if item.get("kind").and_then(Value::as_str) != Some("BundleDeployment") {
            continue;
        }
        let meta = &item["metadata"];
        let name = meta["name"].as_str().unwrap_or_default().to_string();
        let namespace = meta["namespace"].as_str().unwrap_or_default().to_string();
        let bundle_name = meta["labels"][BUNDLE_NAME_LABEL]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if args.bundle_deployment.as_ref().is_some_and(|d| *d != name)
            || args.bundle.as_ref().is_some_and(|b| *b != bundle_name)
            || args.namespace.as_ref().is_some_and(|n| *n != namespace)
        {
            continue;
        }
        let status = &item["status"];
        let modified: Vec<Modified> =
            serde_json::from_value(status["modifiedStatus"].clone()).unwrap_or_default();
        let non_ready: Vec<NonReady> =
            serde_json::from_value(status["nonReadyStatus"].clone()).unwrap_or_default();
        if modified.is_empty() && non_ready.is_empty() {
            continue;
        }
        out.push(DiffOutput {
            bundle_deployment_name: name,
            bundle_name,
            namespace,
            modified_resources: modified,
            non_ready_resources: non_ready,
        });
    }
    Ok(out)
}

/// The text, JSON or fleet.yaml output of `diffs`.
pub fn format(diffs: &[DiffOutput], args: &Args) -> anyhow::Result<String> {
    if args.json {
        let out = serde_json::json!({
            "bundleName": args.bundle.clone().unwrap_or_default(),
            "namespace": args.namespace.clone().unwrap_or_default(),
            "bundleDeploymentDiffs": diffs,
        });
        return Ok(serde_json::to_string_pretty(&out)? + "\n");
    }
    if diffs.is_empty() {
        return Ok("No modified resources found.\n".to_string());
    }
    if args.fleet_yaml {
        return Ok(fleet_yaml(diffs));
    }
    let mut out = String::new();
    if args.bundle_deployment.is_some() {
        for (i, diff) in diffs.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&format!(
                "BundleDeployment: {}/{}\n",
                diff.namespace, diff.bundle_deployment_name
            ));
            if !diff.bundle_name.is_empty() {
                out.push_str(&format!("Bundle: {}\n", diff.bundle_name));
            }
            out.push_str(RULE);
            out.push('\n');
            if !diff.modified_resources.is_empty() {
                out.push_str("\nModified Resources:\n");
                for m in &diff.modified_resources {
                    out.push('\n');
                    modified(&mut out, m, "  ");
                }
            }
            if !diff.non_ready_resources.is_empty() {
                out.push_str("\nNon-Ready Resources:\n");
                for n in &diff.non_ready_resources {
                    out.push('\n');
                    non_ready(&mut out, n, "  ");
                }
            }
        }
        return Ok(out);
    }
    let mut by_bundle: BTreeMap<&str, Vec<&DiffOutput>> = BTreeMap::new();
    for diff in diffs {
        let name = if diff.bundle_name.is_empty() {
            "(unknown)"
        } else {
            diff.bundle_name.as_str()
        };
        by_bundle.entry(name).or_default().push(diff);
    }
    for (i, (bundle, group)) in by_bundle.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!(
            "Bundle: {bundle}\nBundleDeployments with diffs: {}\n{RULE}\n",
            group.len()
        ));
        for diff in group {
            out.push_str(&format!(
                "\n  BundleDeployment: {}/{}\n",
                diff.namespace, diff.bundle_deployment_name
            ));
            if !diff.modified_resources.is_empty() {
                out.push_str(&format!(
                    "  Modified Resources ({}):\n",
                    diff.modified_resources.len()
                ));
                for m in &diff.modified_resources {
                    modified(&mut out, m, "    ");
                }
            }
            if !diff.non_ready_resources.is_empty() {
                out.push_str(&format!(
                    "  Non-Ready Resources ({}):\n",
                    diff.non_ready_resources.len()
                ));
                for n in &diff.non_ready_resources {
                    non_ready(&mut out, n, "    ");
                }
            }
        }
    }
    Ok(out)
}

fn resource_id(kind: &str, api_version: &str, namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        format!("{kind}.{api_version} {name}")
    } else {
        format!("{kind}.{api_version} {namespace}/{name}")
    }
}

fn modified(out: &mut String, m: &Modified, indent: &str) {
    out.push_str(&format!(
        "{indent}Resource: {}\n",
        resource_id(&m.kind, &m.api_version, &m.namespace, &m.name)
    ));
    if m.create {
        if m.exist {
            out.push_str(&format!(
                "{indent}Status: Resource exists but is not owned by Fleet\n"
            ));
        } else {
            out.push_str(&format!(
                "{indent}Status: Resource is missing (should be created)\n"
            ));
        }
    } else if m.delete {
        out.push_str(&format!(
            "{indent}Status: Extra resource (should be deleted)\n"
        ));
    } else if !m.patch.is_empty() {
        out.push_str(&format!("{indent}Status: Modified\n{indent}Patch:\n"));
        let pretty = serde_json::from_str::<Value>(&m.patch)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| m.patch.clone());
        for line in pretty.lines() {
            out.push_str(&format!("{indent}  {line}\n"));
        }
    }
}

fn non_ready(out: &mut String, n: &NonReady, indent: &str) {
    out.push_str(&format!(
        "{indent}Resource: {}\n{indent}Status: Not Ready\n",
        resource_id(&n.kind, &n.api_version, &n.namespace, &n.name)
    ));
    if let Some(state) = n.summary.get("state").and_then(Value::as_str) {
        out.push_str(&format!("{indent}Summary: {state}\n"));
    }
}

/// Fleet's `convertMergePatchToRemoveOps`: one `remove` per changed leaf (an emptied
/// object is removed whole), keys in order, JSON Pointer escaping.
fn remove_ops(patch: &serde_json::Map<String, Value>, base: &str, out: &mut Vec<String>) {
    let mut keys: Vec<&String> = patch.keys().collect();
    keys.sort();
    for key in keys {
        let path = format!("{base}/{}", key.replace('~', "~0").replace('/', "~1"));
        match &patch[key] {
            Value::Object(nested) if !nested.is_empty() => remove_ops(nested, &path, out),
            _ => out.push(path),
        }
    }
}

/// The `diff.comparePatches` snippet for the modified resources with a patch.
fn fleet_yaml(diffs: &[DiffOutput]) -> String {
    let mut patches: BTreeMap<(String, String, String, String), Vec<String>> = BTreeMap::new();
    for m in diffs.iter().flat_map(|d| &d.modified_resources) {
        let Ok(Value::Object(patch)) = serde_json::from_str::<Value>(&m.patch) else {
            continue;
        };
        let mut ops = Vec::new();
        remove_ops(&patch, "", &mut ops);
        if ops.is_empty() {
            continue;
        }
        let key = (
            m.api_version.clone(),
            m.kind.clone(),
            m.namespace.clone(),
            m.name.clone(),
        );
        let entry = patches.entry(key).or_default();
        for op in ops {
            if !entry.contains(&op) {
                entry.push(op);
            }
        }
    }
    if patches.is_empty() {
        return String::new();
    }
    let mut out = String::from("diff:\n  comparePatches:\n");
    for ((api_version, kind, namespace, name), ops) in patches {
        out.push_str(&format!(
            "  - apiVersion: {api_version}\n    kind: {kind}\n    name: {name}\n"
        ));
        if !namespace.is_empty() {
            out.push_str(&format!("    namespace: {namespace}\n"));
        }
        out.push_str("    operations:\n");
        for op in ops {
            out.push_str(&format!("    - op: remove\n      path: {op}\n"));
        }
    }
    out
}
