//! Values: what the user gives (`-f`, `--set*`) and Helm's coalescing of it with the
//! chart tree's defaults into the one `.Values` tree templates see.
//!
//! Rules, as Helm applies them:
//! - user values override chart defaults; maps merge, scalars and lists replace;
//! - a parent's `values.yaml` section for a subchart (`sub:` or the alias) overrides the
//!   subchart's own defaults;
//! - `global` is copied from each parent into every subchart's section, the parent's
//!   entries winning;
//! - a `null` removes the key it overrides (when coalescing; merging keeps it, which
//!   the dependency steps rely on);
//! - numbers from YAML are float64 and numbers from `--set` are int64, as Helm's readers
//!   produce them.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::load::{merge_maps, read_values, LoadError, LoadedChart};
use super::strvals::{self, StrvalsError};

/// One key of a values tree.
pub type Values = Map<String, Value>;

/// Why the user's values could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ValuesError {
    #[error("failed to read values file {path}: {source}")]
    ReadFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to parse {path}: {source}")]
    ParseFile {
        path: String,
        #[source]
        source: Box<LoadError>,
    },
    #[error("failed parsing --set-json data JSON: {value}")]
    SetJson { value: String },
    #[error("failed parsing {flag} data: {source}")]
    Set {
        flag: &'static str,
        #[source]
        source: StrvalsError,
    },
    #[error("type mismatch on {name}: the values for a subchart must be a map, got {got}")]
    SubchartNotMap { name: String, got: String },
}

/// The values flags of `helm template`/`helm install`, in the order Helm applies them
/// (files, then `--set-json`, `--set`, `--set-string`, `--set-file`, `--set-literal`).
#[derive(Debug, Clone, Default)]
pub struct ValueOptions {
    /// `-f/--values`: paths (or `-` for stdin), later files override earlier ones.
    pub value_files: Vec<PathBuf>,
    /// Values already in memory (fleet.yaml's `helm.values`), merged after the files
    /// exactly as one more `-f` file would be.
    pub value_maps: Vec<Values>,
    pub json_values: Vec<String>,
    pub values: Vec<String>,
    pub string_values: Vec<String>,
    pub file_values: Vec<String>,
    pub literal_values: Vec<String>,
    /// Directory relative `-f` and `--set-file` paths are resolved against (the
    /// working directory when `None`).
    pub base_dir: Option<PathBuf>,
}

impl ValueOptions {
    fn resolve(&self, path: &Path) -> PathBuf {
        match &self.base_dir {
            Some(base) if path.is_relative() => base.join(path),
            _ => path.to_path_buf(),
        }
    }

    fn read(&self, path: &Path) -> Result<Vec<u8>, ValuesError> {
        if path.as_os_str() == "-" {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).map_err(|source| {
                ValuesError::ReadFile {
                    path: "-".into(),
                    source,
                }
            })?;
            return Ok(buf);
        }
        let full = self.resolve(path);
        std::fs::read(&full).map_err(|source| ValuesError::ReadFile {
            path: path.display().to_string(),
            source,
        })
    }

    /// Helm's `Options.MergeValues`: the user-supplied values tree.
    pub fn merge(&self) -> Result<Values, ValuesError> {
        let mut base = Values::new();
        for file in &self.value_files {
            let raw = self.read(file)?;
            let shown = file.display().to_string();
            let text = String::from_utf8(raw).map_err(|e| ValuesError::ParseFile {
                path: shown.clone(),
                source: Box::new(LoadError::NotUtf8 {
                    file: shown.clone(),
                    message: e.to_string(),
                }),
            })?;
            let current = read_values(&text, &shown).map_err(|e| ValuesError::ParseFile {
                path: shown.clone(),
                source: Box::new(e),
            })?;
            base = merge_maps(base, current);
        }
        for map in &self.value_maps {
            base = merge_maps(base, map.clone());
        }
        for value in &self.json_values {
            let trimmed = value.trim();
            if trimmed.starts_with('{') {
                let parsed: Value =
                    serde_json::from_str(trimmed).map_err(|_| ValuesError::SetJson {
                        value: value.clone(),
                    })?;
                let Value::Object(map) = json_numbers(parsed) else {
                    return Err(ValuesError::SetJson {
                        value: value.clone(),
                    });
                };
                base = merge_maps(base, map);
            } else {
                strvals::parse_json(value, &mut base).map_err(|source| ValuesError::Set {
                    flag: "--set-json",
                    source,
                })?;
            }
        }
        for value in &self.values {
            strvals::parse_into(value, &mut base).map_err(|source| ValuesError::Set {
                flag: "--set",
                source,
            })?;
        }
        for value in &self.string_values {
            strvals::parse_into_string(value, &mut base).map_err(|source| ValuesError::Set {
                flag: "--set-string",
                source,
            })?;
        }
        for value in &self.file_values {
            let reader = |path: &str| -> Result<Value, String> {
                let bytes = self.read(Path::new(path)).map_err(|e| e.to_string())?;
                Ok(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
            };
            strvals::parse_into_file(value, &mut base, &reader).map_err(|source| {
                ValuesError::Set {
                    flag: "--set-file",
                    source,
                }
            })?;
        }
        for value in &self.literal_values {
            strvals::parse_literal_into(value, &mut base).map_err(|source| ValuesError::Set {
                flag: "--set-literal",
                source,
            })?;
        }
        Ok(base)
    }
}

/// JSON numbers as Go's `encoding/json` decodes them into `interface{}`: float64.
pub fn json_numbers(v: Value) -> Value {
    super::yaml11::into_helm_numbers(v)
}

/// Helm's `CoalesceValues`: the chart tree's defaults under the user's values, with
/// `null` deleting keys.
pub fn coalesce_values(chart: &LoadedChart, user: &Values) -> Result<Values, ValuesError> {
    let mut dest = user.clone();
    coalesce(chart, &mut dest, false)?;
    Ok(dest)
}

/// Helm's `MergeValues`: like [`coalesce_values`] but `null`s are kept, for steps that
/// coalesce again later.
pub fn merge_values(chart: &LoadedChart, user: &Values) -> Result<Values, ValuesError> {
    let mut dest = user.clone();
    coalesce(chart, &mut dest, true)?;
    Ok(dest)
}

fn coalesce(chart: &LoadedChart, dest: &mut Values, merge: bool) -> Result<(), ValuesError> {
    coalesce_chart_defaults(chart, dest, merge);
    coalesce_dependencies(chart, dest, merge)
}

fn coalesce_dependencies(
    chart: &LoadedChart,
    dest: &mut Values,
    merge: bool,
) -> Result<(), ValuesError> {
    for sub in &chart.dependencies {
        let name = sub.metadata.name.clone();
        let mut section = match dest.remove(&name) {
            None => Values::new(),
            Some(Value::Object(map)) => map,
            Some(other) => {
                let got = other.to_string();
                dest.insert(name.clone(), other);
                return Err(ValuesError::SubchartNotMap { name, got });
            }
        };
        coalesce_globals(&mut section, dest);
        coalesce(sub, &mut section, merge)?;
        dest.insert(name, Value::Object(section));
    }
    Ok(())
}

/// Copies the parent's `global` into a subchart section's `global`, parent entries
/// winning (maps are merged with the parent's side authoritative).
fn coalesce_globals(dest: &mut Values, parent: &Values) {
    let mut dg = match dest.get("global") {
        None => Values::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            tracing::warn!("skipping globals because destination global is not a table");
            return;
        }
    };
    let sg = match parent.get("global") {
        None => Values::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            tracing::warn!("skipping globals because source global is not a table");
            return;
        }
    };
    for (key, val) in sg {
        match val {
            Value::Object(table) => {
                let mut vv = table;
                match dg.get(&key) {
                    None => {
                        dg.insert(key, Value::Object(vv));
                    }
                    Some(Value::Object(dest_table)) => {
                        coalesce_tables(&mut vv, dest_table.clone(), true);
                        dg.insert(key, Value::Object(vv));
                    }
                    Some(_) => {
                        tracing::warn!(key = %key, "cannot merge map onto non-map global; skipping");
                    }
                }
            }
            other => {
                if matches!(dg.get(&key), Some(Value::Object(_))) {
                    tracing::warn!(key = %key, "global key is a table; skipping");
                } else {
                    dg.insert(key, other);
                }
            }
        }
    }
    dest.insert("global".into(), Value::Object(dg));
}

/// Merges a chart's own defaults under `v` (the values destined for that chart).
fn coalesce_chart_defaults(chart: &LoadedChart, v: &mut Values, merge: bool) {
    for (key, default) in &chart.values {
        if !merge && v.get(key).is_some_and(Value::is_null) {
            // A user `null` removes the chart's default.
            v.remove(key);
            continue;
        }
        match v.get_mut(key) {
            Some(Value::Object(dest)) => match default {
                Value::Object(src) => {
                    let is_subchart = chart.dependencies.iter().any(|d| d.metadata.name == *key);
                    coalesce_tables(dest, src.clone(), merge || is_subchart);
                }
                Value::Null => {}
                _ => tracing::warn!(
                    chart = %chart.metadata.name,
                    key = %key,
                    "skipped value: not a table"
                ),
            },
            Some(_) => {}
            None => {
                v.insert(key.clone(), default.clone());
            }
        }
    }
}

/// Helm's `coalesceTablesFullKey`: `dst` is authoritative, `src` fills in.
pub fn coalesce_tables(dst: &mut Values, mut src: Values, merge: bool) {
    let src_non_nil: std::collections::HashSet<String> = src
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, _)| k.clone())
        .collect();
    for (key, val) in dst.iter() {
        if val.is_null() {
            src.insert(key.clone(), Value::Null);
        }
    }
    for (key, val) in src {
        match dst.get_mut(&key) {
            Some(Value::Null) if !merge && src_non_nil.contains(&key) => {
                dst.remove(&key);
            }
            None => {
                dst.insert(key, val);
            }
            Some(dv) => match (dv, val) {
                (Value::Object(dt), Value::Object(st)) => coalesce_tables(dt, st, merge),
                (_, Value::Object(_)) => {
                    tracing::warn!(key = %key, "cannot overwrite table with non table");
                }
                (Value::Object(_), v) if !v.is_null() => {
                    tracing::warn!(key = %key, "destination is a table; ignoring non-table value");
                }
                _ => {}
            },
        }
    }
}

/// Helm's `Values.Table`: the map at a dotted path, if every step is a map.
pub fn table<'a>(values: &'a Values, path: &str) -> Option<&'a Values> {
    let mut current = values;
    for part in path.split('.') {
        current = current.get(part)?.as_object()?;
    }
    Some(current)
}

/// Helm's `Values.PathValue`: the non-map value at a dotted path.
pub fn path_value<'a>(values: &'a Values, path: &str) -> Option<&'a Value> {
    let (parent, key) = match path.rsplit_once('.') {
        Some((parent, key)) => (table(values, parent)?, key),
        None => (values, path),
    };
    parent.get(key).filter(|v| !v.is_object())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helm::metadata::ChartMetadata;
    use serde_json::json;

    fn chart(name: &str, values: Value, deps: Vec<LoadedChart>) -> LoadedChart {
        LoadedChart {
            metadata: ChartMetadata {
                name: name.into(),
                version: "1.0.0".into(),
                api_version: "v2".into(),
                ..ChartMetadata::default()
            },
            values: values.as_object().cloned().unwrap_or_default(),
            dependencies: deps,
            ..LoadedChart::default()
        }
    }

    fn obj(v: Value) -> Values {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn user_values_override_and_null_deletes() {
        let c = chart(
            "p",
            json!({"a": 1, "b": {"x": 1, "y": 2}, "c": "keep"}),
            vec![],
        );
        let out = coalesce_values(
            &c,
            &obj(json!({"a": 5, "b": {"y": null, "z": 3}, "c": null})),
        )
        .unwrap();
        assert_eq!(Value::Object(out), json!({"a": 5, "b": {"x": 1, "z": 3}}));
    }

    #[test]
    fn parent_overrides_subchart_and_globals_flow_down() {
        let sub = chart(
            "sub",
            json!({"port": 80, "name": "s", "global": {"g": "sub", "only": 1}}),
            vec![],
        );
        let parent = chart(
            "p",
            json!({"global": {"g": "parent", "m": {"a": 1}}, "sub": {"port": 8080}}),
            vec![sub],
        );
        let out = coalesce_values(&parent, &obj(json!({"sub": {"name": null}}))).unwrap();
        assert_eq!(
            out["sub"],
            json!({"port": 8080, "global": {"g": "parent", "m": {"a": 1}, "only": 1}})
        );
        assert_eq!(out["global"], json!({"g": "parent", "m": {"a": 1}}));
    }

    #[test]
    fn merge_keeps_nulls() {
        let c = chart("p", json!({"a": 1}), vec![]);
        let out = merge_values(&c, &obj(json!({"a": null}))).unwrap();
        assert_eq!(Value::Object(out), json!({"a": null}));
    }

    #[test]
    fn subchart_section_must_be_a_map() {
        let parent = chart("p", json!({}), vec![chart("sub", json!({}), vec![])]);
        let err = coalesce_values(&parent, &obj(json!({"sub": "x"}))).unwrap_err();
        assert!(err.to_string().starts_with("type mismatch on sub"), "{err}");
    }

    #[test]
    fn path_lookups() {
        let v = obj(json!({"a": {"b": {"c": true}}, "t": {"x": 1}}));
        assert_eq!(path_value(&v, "a.b.c"), Some(&json!(true)));
        assert_eq!(path_value(&v, "a.b"), None);
        assert!(table(&v, "a.b").is_some());
        assert!(table(&v, "a.b.c").is_none());
    }

    #[test]
    fn options_merge_in_helm_order() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("a.yaml"), "x: 1\nm: {a: 1, b: 2}\n").unwrap();
        std::fs::write(tmp.path().join("b.yaml"), "m: {b: 3}\n").unwrap();
        std::fs::write(tmp.path().join("cert.pem"), "PEM").unwrap();
        let opts = ValueOptions {
            value_files: vec!["a.yaml".into(), "b.yaml".into()],
            json_values: vec![r#"j={"k":[1,2]}"#.into()],
            values: vec!["x=2,list[1]=b".into()],
            string_values: vec!["s=007".into()],
            file_values: vec!["cert=cert.pem".into()],
            value_maps: vec![obj(json!({"m": {"c": 4.0}, "x": 9.0}))],
            base_dir: Some(tmp.path().to_path_buf()),
            ..ValueOptions::default()
        };
        let v = opts.merge().unwrap();
        assert_eq!(v["x"], json!(2));
        assert!(v["x"].as_number().unwrap().is_i64(), "--set ints are int64");
        assert_eq!(v["m"], json!({"a": 1.0, "b": 3.0, "c": 4.0}));
        assert_eq!(v["list"], json!([null, "b"]));
        assert_eq!(v["s"], json!("007"));
        assert_eq!(v["cert"], json!("PEM"));
        assert_eq!(v["j"]["k"][0].as_f64(), Some(1.0));
    }

    #[test]
    fn missing_values_file_is_named() {
        let opts = ValueOptions {
            value_files: vec!["nope.yaml".into()],
            ..ValueOptions::default()
        };
        let err = opts.merge().unwrap_err().to_string();
        assert!(
            err.starts_with("failed to read values file nope.yaml"),
            "{err}"
        );
    }
}
