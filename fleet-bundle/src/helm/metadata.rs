//! `Chart.yaml` (and a v1 chart's `requirements.yaml`): the chart's metadata and its
//! declared dependencies, read and validated as Helm does.
//!
//! Helm decodes `Chart.yaml` into a typed Go struct through JSON, so field names match
//! case-insensitively, unknown fields are ignored, and numbers or booleans given for
//! string fields become strings (`appVersion: 1.10` is `"1.1"`, a known Helm quirk kept
//! for parity).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::constraint::Version;
use super::yaml11::{self, YamlError};

/// A `Chart.yaml` that Helm would refuse.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// Embeds the YAML error rather than exposing it as a `source` (never both).
    #[error("{file}: {cause}")]
    Yaml { file: String, cause: YamlError },
    #[error("{file}: field {field}: expected {expected}, got {got}")]
    FieldType {
        file: String,
        field: String,
        expected: &'static str,
        got: &'static str,
    },
    #[error("{file}: validation: {message}")]
    Invalid { file: String, message: String },
}

/// One entry of `dependencies:`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dependency {
    pub name: String,
    pub version: String,
    pub repository: String,
    pub condition: String,
    pub tags: Vec<String>,
    pub enabled: bool,
    /// Each item is a string (`exports.<name>` of the child) or a `{child, parent}` map.
    pub import_values: Vec<Value>,
    pub alias: String,
}

/// One entry of `maintainers:`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Maintainer {
    pub name: String,
    pub email: String,
    pub url: String,
}

/// `Chart.yaml`, with Helm's field set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChartMetadata {
    pub name: String,
    pub home: String,
    pub sources: Vec<String>,
    pub version: String,
    pub description: String,
    pub keywords: Vec<String>,
    pub maintainers: Vec<Maintainer>,
    pub icon: String,
    pub api_version: String,
    pub condition: String,
    pub tags: String,
    pub app_version: String,
    pub deprecated: bool,
    pub annotations: BTreeMap<String, String>,
    pub kube_version: String,
    pub dependencies: Vec<Dependency>,
    pub chart_type: String,
}

impl ChartMetadata {
    /// Reads `Chart.yaml` text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, MetadataError> {
        let mut md = ChartMetadata::default();
        md.merge_yaml(text, file)?;
        if md.api_version.is_empty() {
            // Helm 2 charts may omit it; Helm then treats the chart as v1.
            md.api_version = "v1".to_string();
        }
        Ok(md)
    }

    /// Decodes more YAML into this metadata, as Helm does with a v1 chart's
    /// `requirements.yaml` (only the fields it holds change).
    pub fn merge_yaml(&mut self, text: &str, file: &str) -> Result<(), MetadataError> {
        let doc = yaml11::parse_first(text).map_err(|cause| MetadataError::Yaml {
            file: file.to_string(),
            cause,
        })?;
        let map = match doc {
            Value::Null => return Ok(()),
            Value::Object(map) => map,
            other => {
                return Err(MetadataError::FieldType {
                    file: file.to_string(),
                    field: "(document)".into(),
                    expected: "a map",
                    got: kind(&other),
                })
            }
        };
        let f = Fields { file, map: &map };
        if let Some(v) = f.string("name")? {
            self.name = v;
        }
        if let Some(v) = f.string("home")? {
            self.home = v;
        }
        if let Some(v) = f.strings("sources")? {
            self.sources = v;
        }
        if let Some(v) = f.string("version")? {
            self.version = v;
        }
        if let Some(v) = f.string("description")? {
            self.description = v;
        }
        if let Some(v) = f.strings("keywords")? {
            self.keywords = v;
        }
        if let Some(v) = f.get("maintainers") {
            self.maintainers = f
                .list(v, "maintainers")?
                .iter()
                .map(|m| {
                    if m.is_null() {
                        return Err(MetadataError::Invalid {
                            file: file.to_string(),
                            message: "maintainers must not contain empty or null nodes".into(),
                        });
                    }
                    let map = f.map(m, "maintainers[]")?;
                    let mf = Fields { file, map };
                    Ok(Maintainer {
                        name: mf.string("name")?.unwrap_or_default(),
                        email: mf.string("email")?.unwrap_or_default(),
                        url: mf.string("url")?.unwrap_or_default(),
                    })
                })
                .collect::<Result<_, MetadataError>>()?;
        }
        if let Some(v) = f.string("icon")? {
            self.icon = v;
        }
        if let Some(v) = f.string("apiVersion")? {
            self.api_version = v;
        }
        if let Some(v) = f.string("condition")? {
            self.condition = v;
        }
        if let Some(v) = f.string("tags")? {
            self.tags = v;
        }
        if let Some(v) = f.string("appVersion")? {
            self.app_version = v;
        }
        if let Some(v) = f.bool("deprecated")? {
            self.deprecated = v;
        }
        if let Some(v) = f.get("annotations") {
            if !v.is_null() {
                let map = f.map(v, "annotations")?;
                self.annotations = map
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), f.coerce_string(v, "annotations")?)))
                    .collect::<Result<_, MetadataError>>()?;
            }
        }
        if let Some(v) = f.string("kubeVersion")? {
            self.kube_version = v;
        }
        if let Some(v) = f.get("dependencies") {
            self.dependencies = f
                .list(v, "dependencies")?
                .iter()
                .map(|d| parse_dependency(d, file))
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = f.string("type")? {
            self.chart_type = v;
        }
        Ok(())
    }

    /// Helm's `Metadata.Validate`: cleans strings and checks required fields, the
    /// version, the type and the aliases.
    pub fn validate(&mut self, file: &str) -> Result<(), MetadataError> {
        let invalid = |message: String| MetadataError::Invalid {
            file: file.to_string(),
            message,
        };
        for s in [
            &mut self.name,
            &mut self.description,
            &mut self.home,
            &mut self.icon,
            &mut self.condition,
            &mut self.tags,
            &mut self.app_version,
            &mut self.kube_version,
        ] {
            *s = sanitize(s);
        }
        for s in self.sources.iter_mut().chain(self.keywords.iter_mut()) {
            *s = sanitize(s);
        }
        if self.api_version.is_empty() {
            return Err(invalid("chart.metadata.apiVersion is required".into()));
        }
        if self.name.is_empty() {
            return Err(invalid("chart.metadata.name is required".into()));
        }
        if self.name == "." || self.name == ".." {
            return Err(invalid(format!(
                "chart.metadata.name {:?} is not allowed",
                self.name
            )));
        }
        if self.name.contains('/') {
            return Err(invalid(format!(
                "chart.metadata.name {:?} is invalid",
                self.name
            )));
        }
        if self.version.is_empty() {
            return Err(invalid("chart.metadata.version is required".into()));
        }
        if Version::parse(&self.version).is_err() {
            return Err(invalid(format!(
                "chart.metadata.version {:?} is invalid",
                self.version
            )));
        }
        if !matches!(self.chart_type.as_str(), "" | "application" | "library") {
            return Err(invalid(
                "chart.metadata.type must be application or library".into(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for dep in &mut self.dependencies {
            dep.name = sanitize(&dep.name);
            dep.version = sanitize(&dep.version);
            dep.repository = sanitize(&dep.repository);
            dep.condition = sanitize(&dep.condition);
            for t in &mut dep.tags {
                *t = sanitize(t);
            }
            if !dep.alias.is_empty()
                && !dep
                    .alias
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(invalid(format!(
                    "dependency {:?} has disallowed characters in the alias",
                    dep.name
                )));
            }
            let key = if dep.alias.is_empty() {
                dep.name.clone()
            } else {
                dep.alias.clone()
            };
            if !seen.insert(key.clone()) {
                return Err(invalid(format!(
                    "more than one dependency with name or alias {key:?}"
                )));
            }
        }
        Ok(())
    }

    /// Whether this is a library chart (templates usable by others, nothing rendered).
    pub fn is_library(&self) -> bool {
        self.chart_type.eq_ignore_ascii_case("library")
    }

    /// `.Chart` as templates see it: Go field names, every field present with its zero
    /// value, plus `IsRoot`.
    pub fn to_template_value(&self, is_root: bool) -> Value {
        let strings = |v: &[String]| Value::Array(v.iter().cloned().map(Value::String).collect());
        let mut m = Map::new();
        m.insert("Name".into(), self.name.clone().into());
        m.insert("Home".into(), self.home.clone().into());
        m.insert("Sources".into(), strings(&self.sources));
        m.insert("Version".into(), self.version.clone().into());
        m.insert("Description".into(), self.description.clone().into());
        m.insert("Keywords".into(), strings(&self.keywords));
        m.insert(
            "Maintainers".into(),
            Value::Array(
                self.maintainers
                    .iter()
                    .map(|mt| {
                        let mut o = Map::new();
                        o.insert("Name".into(), mt.name.clone().into());
                        o.insert("Email".into(), mt.email.clone().into());
                        o.insert("URL".into(), mt.url.clone().into());
                        Value::Object(o)
                    })
                    .collect(),
            ),
        );
        m.insert("Icon".into(), self.icon.clone().into());
        m.insert("APIVersion".into(), self.api_version.clone().into());
        m.insert("Condition".into(), self.condition.clone().into());
        m.insert("Tags".into(), self.tags.clone().into());
        m.insert("AppVersion".into(), self.app_version.clone().into());
        m.insert("Deprecated".into(), self.deprecated.into());
        m.insert(
            "Annotations".into(),
            Value::Object(
                self.annotations
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            ),
        );
        m.insert("KubeVersion".into(), self.kube_version.clone().into());
        m.insert(
            "Dependencies".into(),
            Value::Array(
                self.dependencies
                    .iter()
                    .map(|d| {
                        let mut o = Map::new();
                        o.insert("Name".into(), d.name.clone().into());
                        o.insert("Version".into(), d.version.clone().into());
                        o.insert("Repository".into(), d.repository.clone().into());
                        o.insert("Condition".into(), d.condition.clone().into());
                        o.insert("Tags".into(), strings(&d.tags));
                        o.insert("Enabled".into(), d.enabled.into());
                        o.insert("ImportValues".into(), Value::Array(d.import_values.clone()));
                        o.insert("Alias".into(), d.alias.clone().into());
                        Value::Object(o)
                    })
                    .collect(),
            ),
        );
        m.insert("Type".into(), self.chart_type.clone().into());
        m.insert("IsRoot".into(), is_root.into());
        Value::Object(m)
    }
}

fn parse_dependency(value: &Value, file: &str) -> Result<Dependency, MetadataError> {
    if value.is_null() {
        return Err(MetadataError::Invalid {
            file: file.to_string(),
            message: "dependencies must not contain empty or null nodes".into(),
        });
    }
    let f0 = Fields {
        file,
        map: &Map::new(),
    };
    let map = f0.map(value, "dependencies[]")?;
    let f = Fields { file, map };
    Ok(Dependency {
        name: f.string("name")?.unwrap_or_default(),
        version: f.string("version")?.unwrap_or_default(),
        repository: f.string("repository")?.unwrap_or_default(),
        condition: f.string("condition")?.unwrap_or_default(),
        tags: f.strings("tags")?.unwrap_or_default(),
        enabled: f.bool("enabled")?.unwrap_or(false),
        import_values: match f.get("import-values") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => yaml11::into_helm_numbers(Value::Array(f.list(v, "import-values")?.clone()))
                .as_array()
                .cloned()
                .unwrap_or_default(),
        },
        alias: f.string("alias")?.unwrap_or_default(),
    })
}

/// Field access with Go's JSON rules: exact name first, then case-insensitive.
struct Fields<'a> {
    file: &'a str,
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    /// A field, its name matched as Go's `encoding/json` does (case-insensitively); a
    /// null is no field at all, as JSON's null leaves a Go field as it is.
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map
            .get(name)
            .or_else(|| {
                self.map
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            })
            .filter(|v| !v.is_null())
    }

    fn type_error(&self, field: &str, expected: &'static str, got: &Value) -> MetadataError {
        MetadataError::FieldType {
            file: self.file.to_string(),
            field: field.to_string(),
            expected,
            got: kind(got),
        }
    }

    fn coerce_string(&self, v: &Value, field: &str) -> Result<String, MetadataError> {
        if v.is_null() {
            return Ok(String::new());
        }
        yaml11::scalar_as_go_string(v).ok_or_else(|| self.type_error(field, "a string", v))
    }

    fn string(&self, name: &str) -> Result<Option<String>, MetadataError> {
        self.get(name)
            .map(|v| self.coerce_string(v, name))
            .transpose()
    }

    fn bool(&self, name: &str) -> Result<Option<bool>, MetadataError> {
        match self.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.type_error(name, "a boolean", other)),
        }
    }

    fn list(&self, v: &'a Value, field: &str) -> Result<&'a Vec<Value>, MetadataError> {
        v.as_array()
            .ok_or_else(|| self.type_error(field, "a list", v))
    }

    fn map(&self, v: &'a Value, field: &str) -> Result<&'a Map<String, Value>, MetadataError> {
        v.as_object()
            .ok_or_else(|| self.type_error(field, "a map", v))
    }

    fn strings(&self, name: &str) -> Result<Option<Vec<String>>, MetadataError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(Vec::new())),
            Some(v) => self
                .list(v, name)?
                .iter()
                .map(|item| self.coerce_string(item, name))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// Helm's `sanitizeString`: whitespace becomes a space, unprintable characters go.
fn sanitize(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            if c.is_whitespace() {
                Some(' ')
            } else if c.is_control() {
                None
            } else {
                Some(c)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_with_go_coercions() {
        let md = ChartMetadata::parse(
            "apiVersion: v2\nname: demo\nversion: 1.2.3\nappVersion: 1.10\nAnnotations:\n  weight: 5\nkeywords: [a, b]\ndependencies:\n- name: sub\n  version: ~1.0\n  alias: other\n  tags: [x]\n  import-values: [data, {child: a, parent: b}]\n",
            "Chart.yaml",
        )
        .unwrap();
        assert_eq!(md.app_version, "1.1");
        assert_eq!(md.annotations.get("weight").map(String::as_str), Some("5"));
        assert_eq!(md.keywords, vec!["a", "b"]);
        assert_eq!(md.dependencies[0].alias, "other");
        assert_eq!(md.dependencies[0].import_values.len(), 2);
        let v = md.to_template_value(true);
        assert_eq!(v["AppVersion"], "1.1");
        assert_eq!(v["Home"], "");
        assert_eq!(v["IsRoot"], true);
    }

    #[test]
    fn v1_charts_default_api_version() {
        let md = ChartMetadata::parse("name: old\nversion: 0.1.0\n", "Chart.yaml").unwrap();
        assert_eq!(md.api_version, "v1");
    }

    #[test]
    fn validation_errors_name_the_file() {
        let mut md = ChartMetadata::parse("apiVersion: v2\nname: x\n", "c/Chart.yaml").unwrap();
        let err = md.validate("c/Chart.yaml").unwrap_err().to_string();
        assert_eq!(
            err,
            "c/Chart.yaml: validation: chart.metadata.version is required"
        );
        let mut md = ChartMetadata::parse("apiVersion: v2\nname: x\nversion: abc\n", "C").unwrap();
        assert!(md
            .validate("C")
            .unwrap_err()
            .to_string()
            .contains("\"abc\" is invalid"));
        let mut md = ChartMetadata::parse(
            "apiVersion: v2\nname: x\nversion: 1.0.0\ndependencies:\n- name: a\n- name: b\n  alias: a\n",
            "C",
        )
        .unwrap();
        assert!(md
            .validate("C")
            .unwrap_err()
            .to_string()
            .contains("more than one dependency"));
        let err = ChartMetadata::parse("name: [1]\n", "C")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "C: field name: expected a string, got a list");
    }
}
