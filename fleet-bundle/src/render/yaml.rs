//! Plain YAML bundles: the Kubernetes objects of every `.yaml`, `.yml` and `.json` file,
//! selected and read as Fleet's raw-YAML chart does.

use serde_json::Value;

use super::{BundleFiles, RenderError, RenderInput, Renderer};
use crate::fleet_yaml::is_fleet_yaml;

/// Renders plain YAML files (after overlays were applied by [`super::render`]).
pub struct YamlRenderer;

impl Renderer for YamlRenderer {
    fn render(&self, input: &RenderInput) -> Result<Vec<Value>, RenderError> {
        objects(input.files)
    }
}

/// Which files hold manifests, as Fleet's `manifests()` filter decides: `.yaml`, `.yml`
/// and `.json` files, except `fleet.yaml`/`fleet.yml` at the top, and except anything in
/// a directory holding a `fleet.yaml` or a `Chart.yaml` of its own (another bundle, or a
/// chart that is not this bundle's).
pub fn manifest_files(files: &BundleFiles) -> Vec<&str> {
    let ignored_dirs: Vec<String> = files
        .keys()
        .filter_map(|name| {
            let (dir, base) = name.rsplit_once('/')?;
            (is_fleet_yaml(base) || base == "Chart.yaml").then(|| format!("{dir}/"))
        })
        .collect();
    files
        .keys()
        .filter(|name| !is_fleet_yaml(name))
        .filter(|name| name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json"))
        .filter(|name| !ignored_dirs.iter().any(|d| name.starts_with(d.as_str())))
        .map(String::as_str)
        .collect()
}

/// Every Kubernetes object of the manifest files outside `templates/`, in file-name order
/// then document order.
///
/// Documents that are empty, or lack `apiVersion` or `kind` (values files, configs), are
/// skipped as Fleet skips them; an object with an `items` list is flattened into its items
/// (`kind: List`). A file that is not YAML, or a document that is not a mapping, is an
/// error naming the file and document.
pub fn objects(files: &BundleFiles) -> Result<Vec<Value>, RenderError> {
    let mut out = Vec::new();
    // `templates/` files are chart templates (see `super::helm::render_raw_templates`).
    for name in manifest_files(files)
        .into_iter()
        .filter(|n| !n.starts_with("templates/"))
    {
        let text = String::from_utf8_lossy(&files[name]);
        out.extend(parse_documents(name, &text)?);
    }
    Ok(out)
}

/// The Kubernetes objects of one multi-document YAML (or JSON) text, read as Fleet reads
/// it (`sigs.k8s.io/yaml`: YAML 1.1 scalars, so `yes` is a boolean and `0755` octal).
pub fn parse_documents(file: &str, text: &str) -> Result<Vec<Value>, RenderError> {
    let docs = crate::helm::yaml11::parse_documents(text).map_err(|e| RenderError::Yaml {
        file: file.to_string(),
        message: e.to_string(),
    })?;
    let mut out = Vec::new();
    for (i, json) in docs.into_iter().enumerate() {
        let document = i + 1;
        match json {
            Value::Null => {}
            Value::Object(_) => push_object(json, file, document, &mut out)?,
            other => {
                return Err(RenderError::Object {
                    file: file.to_string(),
                    document,
                    message: format!(
                        "expected a Kubernetes object (a mapping), found {}",
                        kind_of(&other)
                    ),
                })
            }
        }
    }
    Ok(out)
}

fn push_object(
    obj: Value,
    file: &str,
    document: usize,
    out: &mut Vec<Value>,
) -> Result<(), RenderError> {
    if let Some(Value::Array(items)) = obj.get("items") {
        for item in items {
            if !item.is_object() {
                return Err(RenderError::Object {
                    file: file.to_string(),
                    document,
                    message: "list item is not an object".to_string(),
                });
            }
            push_object(item.clone(), file, document, out)?;
        }
        return Ok(());
    }
    let has = |k: &str| {
        obj.get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    if has("apiVersion") && has("kind") {
        out.push(obj);
    }
    Ok(())
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "a list",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        _ => "something else",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(entries: &[(&str, &str)]) -> BundleFiles {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn selects_manifests_like_fleet() {
        let f = files(&[
            ("README.md", "# hi"),
            ("fleet.yaml", "namespace: x"),
            ("a.yaml", ""),
            ("b.yml", ""),
            ("c.json", ""),
            ("notes.txt", ""),
            ("sub/fleet.yaml", ""),
            ("sub/x.yaml", ""),
            ("chart/Chart.yaml", ""),
            ("chart/templates/t.yaml", ""),
            ("deep/ok.yaml", ""),
        ]);
        assert_eq!(
            manifest_files(&f),
            ["a.yaml", "b.yml", "c.json", "deep/ok.yaml"]
        );
    }

    #[test]
    fn reads_multi_documents_lists_and_skips_non_objects() {
        let f = files(&[
            (
                "a.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\nkey: value\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: s}}\n- {apiVersion: v1, kind: Service, metadata: {name: svc}}\n",
            ),
            ("b.json", r#"{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}"#),
            ("values.yaml", "replicas: 2\n"),
        ]);
        let objs = objects(&f).unwrap();
        let kinds: Vec<_> = objs.iter().map(|o| o["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["ConfigMap", "Secret", "Service", "Namespace"]);
    }

    #[test]
    fn scalars_are_read_as_yaml_1_1_like_fleet() {
        let objs = parse_documents(
            "a.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\nspec: {on: yes, mode: 0755, count: 1_000}\n",
        )
        .unwrap();
        assert_eq!(
            objs[0]["spec"],
            serde_json::json!({"true": true, "mode": 493, "count": 1000})
        );
    }

    #[test]
    fn bad_yaml_names_the_file() {
        let f = files(&[("broken.yaml", "a: [unclosed\n")]);
        let err = objects(&f).unwrap_err().to_string();
        assert!(err.starts_with("broken.yaml:"), "{err}");
        let f = files(&[("list.yaml", "- a\n- b\n")]);
        let err = objects(&f).unwrap_err().to_string();
        assert!(err.contains("list.yaml: document 1"), "{err}");
    }
}
