//! `fleet.yaml`: Fleet's per-directory bundle description, parsed with Fleet's schema so that
//! existing repos work unchanged, with warnings for unknown keys and located errors for
//! malformed files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bundle::{BundleSpec, BundleTarget, BundleTargetRestriction};
use crate::deployment::BundleState;

/// The primary file name Fleet looks for in a bundle directory.
pub const FLEET_YAML: &str = "fleet.yaml";
/// The fallback file name, used when `fleet.yaml` is absent.
pub const FLEET_YML: &str = "fleet.yml";

/// Whether `name` (a bare file name) is one of Fleet's bundle file names.
pub fn is_fleet_yaml(name: &str) -> bool {
    name == FLEET_YAML || name == FLEET_YML
}

/// The contents of a `fleet.yaml` (Fleet's `FleetYAML`): a [`BundleSpec`] inline plus what
/// only the file can say (bundle name and labels, customizations, target overrides).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetYaml {
    /// Overrides the generated bundle name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Labels added to the bundle (used by `dependsOn` selectors and rollouts).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations added to the bundle (Fleet reads the file's top level as object metadata).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(flatten)]
    pub spec: BundleSpec,
    /// Per-cluster overrides; the first one matching a cluster applies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_customizations: Vec<BundleTarget>,
    /// Image scan definitions: refused when the bundle is read, as Fleet refuses them with
    /// image scanning disabled (its default).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_scans: Vec<Value>,
    /// Replaces the GitRepo's targets for this bundle (and restricts to them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_targets: Option<Vec<BundleTargetRestriction>>,
}

/// A problem that does not stop the bundle, such as a key Fleet's schema does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetYamlWarning {
    pub file: PathBuf,
    /// Dotted key path, with list indexes in brackets: `helm.relaseName`,
    /// `targetCustomizations[1].clusterSelectr`.
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for FleetYamlWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.file.display(), self.key, self.message)
    }
}

/// Why a `fleet.yaml` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FleetYamlError {
    /// Not YAML at all (or a document too deep or with too many aliases to expand safely).
    #[error("{}:{line}:{column}: invalid YAML: {message}", file.display())]
    Syntax {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// YAML, but a value has the wrong type for Fleet's schema.
    #[error("{}:{line}:{column}: {message}", file.display())]
    Schema {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// Well-typed but semantically invalid (Fleet's fleet.yaml validation).
    #[error("{}: {message}", file.display())]
    Invalid { file: PathBuf, message: String },
}

/// A parsed `fleet.yaml` and the warnings found on the way.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedFleetYaml {
    pub fleet_yaml: FleetYaml,
    pub warnings: Vec<FleetYamlWarning>,
}

/// Parses the text of a `fleet.yaml` read from `file` (used in messages only).
///
/// Flow: the text is first read as untyped YAML (syntax errors, alias bombs and nesting
/// beyond serde_yaml's recursion limit fail here, with line and column), then with Fleet's
/// schema (a wrong type fails with the line and column serde_yaml reports), then validated as
/// Fleet validates (`dependsOn` entries need a name or a selector).
///
/// Guarantees: an empty file is the empty description, as in Fleet. Keys the schema does not
/// know become [`FleetYamlWarning`]s naming the key path; they never fail the parse, since
/// Fleet itself ignores them. Caveat: an unknown key whose value is empty (`false`, `0`,
/// `""`, `[]`, `{}`, null) cannot be told apart from a known key left at its default, and is
/// not reported.
pub fn parse(file: &Path, text: &str) -> Result<ParsedFleetYaml, FleetYamlError> {
    let untyped: serde_yaml::Value = serde_yaml::from_str(text).map_err(|err| {
        let (line, column) = location(&err);
        FleetYamlError::Syntax {
            file: file.to_path_buf(),
            line,
            column,
            message: strip_location(&err),
        }
    })?;
    if untyped.is_null() {
        return Ok(ParsedFleetYaml::default());
    }
    if !untyped.is_mapping() {
        return Err(FleetYamlError::Schema {
            file: file.to_path_buf(),
            line: 1,
            column: 1,
            message: "fleet.yaml must be a mapping of keys to values".to_string(),
        });
    }
    validate_depends_on(file, &untyped)?;
    let fleet_yaml: FleetYaml = serde_yaml::from_str(text).map_err(|err| {
        let (line, column, message) = locate_schema_error(text, &untyped, &err);
        FleetYamlError::Schema {
            file: file.to_path_buf(),
            line,
            column,
            message,
        }
    })?;
    let input = serde_json::to_value(&untyped).unwrap_or(Value::Null);
    let known = serde_json::to_value(&fleet_yaml).unwrap_or(Value::Null);
    let mut warnings = Vec::new();
    unknown_keys(&input, &known, String::new(), &mut |key| {
        warnings.push(FleetYamlWarning {
            file: file.to_path_buf(),
            key,
            message: "unknown key, ignored (not part of Fleet's fleet.yaml schema)".to_string(),
        });
    });
    for warning in &warnings {
        tracing::warn!(file = %warning.file.display(), key = %warning.key, "unknown key in fleet.yaml");
    }
    Ok(ParsedFleetYaml {
        fleet_yaml,
        warnings,
    })
}

fn location(err: &serde_yaml::Error) -> (usize, usize) {
    err.location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((1, 1))
}

/// serde_yaml appends " at line L column C" to its messages; we print the location first.
fn strip_location(err: &serde_yaml::Error) -> String {
    let message = err.to_string();
    match message.rfind(" at line ") {
        Some(i) if err.location().is_some() => message[..i].to_string(),
        _ => message,
    }
}

/// The serde phrase of a schema error, without serde_yaml's path prefix and location.
fn core_message(message: &str) -> &str {
    const PHRASES: &[&str] = &[
        "invalid type",
        "invalid value",
        "invalid length",
        "missing field",
        "unknown variant",
        "unknown field",
        "duplicate field",
    ];
    let start = PHRASES
        .iter()
        .filter_map(|p| message.find(p))
        .min()
        .unwrap_or(0);
    let rest = &message[start..];
    match rest.rfind(" at line ") {
        Some(i) => &rest[..i],
        None => rest,
    }
}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(serde_yaml::Value),
    Index(usize),
}

/// Where a schema error is, as `(line, column, "key.path: message")`.
///
/// serde loses positions inside flattened structs (most of Fleet's schema), so the failing
/// value is found by narrowing: descend into the child whose document, alone, still fails
/// with the same message; then the value's position comes from the YAML events.
fn locate_schema_error(
    text: &str,
    doc: &serde_yaml::Value,
    err: &serde_yaml::Error,
) -> (usize, usize, String) {
    let full = err.to_string();
    let target = core_message(&full).to_string();
    let mut path: Vec<Step> = Vec::new();
    let mut node = doc;
    'descend: loop {
        let children: Vec<(Step, &serde_yaml::Value)> = match node {
            serde_yaml::Value::Mapping(m) => {
                m.iter().map(|(k, v)| (Step::Key(k.clone()), v)).collect()
            }
            serde_yaml::Value::Sequence(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (Step::Index(i), v))
                .collect(),
            serde_yaml::Value::Tagged(t) => vec![(Step::Index(usize::MAX), &t.value)],
            _ => Vec::new(),
        };
        for (step, child) in children {
            if step == Step::Index(usize::MAX) {
                node = child;
                continue 'descend;
            }
            if !could_be_the_culprit(child, &target) {
                continue;
            }
            let mut candidate = path.clone();
            candidate.push(step);
            let pruned = prune(doc, &candidate);
            if let Err(e) = serde_yaml::from_value::<FleetYaml>(pruned) {
                if core_message(&e.to_string()) == target {
                    path = candidate;
                    node = child;
                    continue 'descend;
                }
            }
        }
        break;
    }
    let key_path = render_path(&path);
    let message = if key_path.is_empty() {
        target
    } else {
        format!("{key_path}: {target}")
    };
    match position_of(text, &path) {
        Some((line, column)) => (line, column, message),
        None => {
            let (line, column) = location(err);
            (line, column, message)
        }
    }
}

/// For an "invalid type" error, only a scalar of the type it names can be at fault (so the
/// narrowing stops at `matchLabels: [x]` instead of descending into `x`); collections are
/// always searched, the culprit may be inside.
fn could_be_the_culprit(value: &serde_yaml::Value, message: &str) -> bool {
    let Some(found) = message.strip_prefix("invalid type: ") else {
        return true;
    };
    use serde_yaml::Value as V;
    match value {
        V::Sequence(_) | V::Mapping(_) | V::Tagged(_) => true,
        V::String(_) => found.starts_with("string"),
        V::Bool(_) => found.starts_with("boolean"),
        V::Number(_) => found.starts_with("integer") || found.starts_with("floating"),
        V::Null => found.starts_with("unit"),
    }
}

/// `doc` keeping, along `path`, only the one child the path goes through.
fn prune(doc: &serde_yaml::Value, path: &[Step]) -> serde_yaml::Value {
    let Some((first, rest)) = path.split_first() else {
        return doc.clone();
    };
    match (doc, first) {
        (serde_yaml::Value::Mapping(m), Step::Key(k)) => {
            let mut out = serde_yaml::Mapping::new();
            if let Some(v) = m.get(k) {
                out.insert(k.clone(), prune(v, rest));
            }
            serde_yaml::Value::Mapping(out)
        }
        (serde_yaml::Value::Sequence(items), Step::Index(i)) => serde_yaml::Value::Sequence(
            items
                .get(*i)
                .map(|v| vec![prune(v, rest)])
                .unwrap_or_default(),
        ),
        (other, _) => other.clone(),
    }
}

fn render_path(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                let key = match k {
                    serde_yaml::Value::String(s) => s.clone(),
                    other => serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&key);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Line and column (both 1-based) of the value at `path`, from the YAML events.
fn position_of(text: &str, path: &[Step]) -> Option<(usize, usize)> {
    use saphyr_parser::{Event, Parser};

    /// Where the walk is inside one open collection.
    enum Frame {
        Map {
            expecting_key: bool,
            key: Option<String>,
        },
        Seq {
            index: usize,
        },
    }
    let wanted: Vec<String> = path
        .iter()
        .map(|s| match s {
            Step::Key(serde_yaml::Value::String(k)) => format!("k:{k}"),
            Step::Key(other) => format!(
                "k:{}",
                serde_yaml::to_string(other).unwrap_or_default().trim()
            ),
            Step::Index(i) => format!("i:{i}"),
        })
        .collect();
    let mut stack: Vec<Frame> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    for event in Parser::new_from_str(text) {
        let (event, span) = event.ok()?;
        // Position of this node in its parent (None for keys and the root).
        let is_value_node = matches!(
            event,
            Event::Scalar(..)
                | Event::Alias(..)
                | Event::MappingStart(..)
                | Event::SequenceStart(..)
        );
        if is_value_node {
            let mut at_key = false;
            match stack.last_mut() {
                Some(Frame::Map { expecting_key, key }) if *expecting_key => {
                    at_key = true;
                    *key = match &event {
                        Event::Scalar(v, ..) => Some(v.to_string()),
                        _ => None,
                    };
                    *expecting_key = false;
                }
                Some(Frame::Map { expecting_key, key }) => {
                    *expecting_key = true;
                    current.push(format!("k:{}", key.clone().unwrap_or_default()));
                }
                Some(Frame::Seq { index }) => {
                    current.push(format!("i:{index}"));
                    *index += 1;
                }
                None => {}
            }
            if !at_key {
                if current == wanted {
                    return Some((span.start.line(), span.start.col() + 1));
                }
                match event {
                    Event::MappingStart(..) => stack.push(Frame::Map {
                        expecting_key: true,
                        key: None,
                    }),
                    Event::SequenceStart(..) => stack.push(Frame::Seq { index: 0 }),
                    _ => {
                        current.pop();
                    }
                }
                continue;
            }
            if let Event::MappingStart(..) | Event::SequenceStart(..) = event {
                // A complex key: walk it without tracking a path through it.
                stack.push(Frame::Seq { index: 0 });
                current.push("complex-key".to_string());
            }
            continue;
        }
        if let Event::MappingEnd | Event::SequenceEnd = event {
            stack.pop();
            current.pop();
        }
    }
    None
}

/// Fleet's `validateFleetYAML` (internal/bundlereader/validate_fleetyaml.go), on the
/// untyped document so an unknown state gets Fleet's wording rather than serde's: each
/// `dependsOn` entry names a bundle or a selector, and its `acceptedStates` are states
/// Fleet knows, listed best first in the message as Fleet lists them.
fn validate_depends_on(file: &Path, doc: &serde_yaml::Value) -> Result<(), FleetYamlError> {
    let Some(serde_yaml::Value::Sequence(deps)) = doc.get("dependsOn") else {
        return Ok(());
    };
    let invalid = |message: String| FleetYamlError::Invalid {
        file: file.to_path_buf(),
        message,
    };
    for (i, dep) in deps.iter().enumerate() {
        let named = dep
            .get("name")
            .and_then(serde_yaml::Value::as_str)
            .is_some_and(|n| !n.is_empty());
        let selected = dep.get("selector").is_some_and(|s| !s.is_null());
        if !named && !selected {
            return Err(invalid(format!(
                "dependsOn[{i}]: must specify either 'name' or 'selector'"
            )));
        }
        let Some(serde_yaml::Value::Sequence(states)) = dep.get("acceptedStates") else {
            continue;
        };
        for (j, state) in states.iter().enumerate() {
            let name = state.as_str().unwrap_or_default();
            if !BundleState::ALL.iter().any(|s| s.as_str() == name) {
                let mut valid = BundleState::ALL;
                valid.sort_by_key(|s| s.rank());
                let valid: Vec<&str> = valid.iter().map(|s| s.as_str()).collect();
                let shown = match state {
                    serde_yaml::Value::String(s) => format!("{s:?}"),
                    other => serde_yaml::to_string(other)
                        .map(|t| format!("{:?}", t.trim_end()))
                        .unwrap_or_default(),
                };
                return Err(invalid(format!(
                    "dependsOn[{i}].acceptedStates[{j}]: invalid state {shown}, valid values are: [{}]",
                    valid.join(" ")
                )));
            }
        }
    }
    Ok(())
}

/// Reports every key of `input` absent from `known` (the typed parse written back), unless
/// its value is empty; recurses into keys and list items present on both sides.
fn unknown_keys(input: &Value, known: &Value, path: String, report: &mut dyn FnMut(String)) {
    match (input, known) {
        (Value::Object(inp), Value::Object(kn)) => {
            for (key, value) in inp {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match kn.get(key) {
                    Some(k) => unknown_keys(value, k, child, report),
                    None if is_empty_value(value) => {}
                    None => report(child),
                }
            }
        }
        (Value::Array(inp), Value::Array(kn)) => {
            for (i, (a, b)) in inp.iter().zip(kn).enumerate() {
                unknown_keys(a, b, format!("{path}[{i}]"), report);
            }
        }
        _ => {}
    }
}

fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_empty_value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<ParsedFleetYaml, FleetYamlError> {
        parse(Path::new("repo/app/fleet.yaml"), text)
    }

    #[test]
    fn reads_fleet_schema() {
        let parsed = parse_str(
            r#"
name: my-app
labels: {team: a}
defaultNamespace: apps
namespace: forced
helm:
  chart: ./chart
  releaseName: web
  values: {replicas: 2, nested: {a: [1, 2]}}
  valuesFiles: [values-prod.yaml]
  takeOwnership: true
  disablePreProcess: true
kustomize: {dir: overlays/prod}
yaml: {overlays: [a, b]}
diff: {comparePatches: [{kind: Service, name: x, jsonPointers: [/spec/ports]}]}
dependsOn: [{name: other}, {selector: {matchLabels: {a: b}}}]
rolloutStrategy: {maxUnavailable: 10%, partitions: [{name: p, clusterGroup: g}]}
paused: true
correctDrift: {enabled: true}
keepResources: true
serviceAccount: deployer
namespaceLabels: {x: y}
targetCustomizations:
- name: prod
  clusterSelector: {matchLabels: {env: prod}}
  helm: {values: {replicas: 3}}
overrideTargets:
- clusterGroup: edge
"#,
        )
        .unwrap();
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        let fy = parsed.fleet_yaml;
        assert_eq!(fy.name, "my-app");
        assert_eq!(fy.spec.options.default_namespace, "apps");
        assert_eq!(fy.spec.options.target_namespace, "forced");
        let helm = fy.spec.options.helm.unwrap();
        assert_eq!(helm.release_name, "web");
        assert!(helm.take_ownership && helm.disable_pre_process);
        assert_eq!(fy.spec.options.kustomize.unwrap().dir, "overlays/prod");
        assert_eq!(fy.spec.depends_on.len(), 2);
        assert!(fy.spec.paused);
        assert_eq!(fy.target_customizations[0].name, "prod");
        assert_eq!(fy.override_targets.unwrap()[0].cluster_group, "edge");
    }

    #[test]
    fn empty_file_is_empty_description() {
        assert_eq!(parse_str("").unwrap(), ParsedFleetYaml::default());
        assert_eq!(
            parse_str("# only a comment\n").unwrap(),
            ParsedFleetYaml::default()
        );
    }

    #[test]
    fn unknown_keys_warn_with_their_path() {
        let parsed = parse_str(
            "namespace: x\nhelm:\n  relaseName: typo\ntargetCustomizations:\n- name: a\n  clusterSelectr: {matchLabels: {a: b}}\nfoo: bar\n",
        )
        .unwrap();
        let keys: Vec<_> = parsed.warnings.iter().map(|w| w.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "helm.relaseName",
                "targetCustomizations[0].clusterSelectr",
                "foo"
            ]
        );
        assert!(parsed.warnings[0]
            .to_string()
            .contains("repo/app/fleet.yaml"));
    }

    fn schema_error(text: &str) -> (usize, usize, String) {
        match parse_str(text) {
            Err(FleetYamlError::Schema {
                line,
                column,
                message,
                ..
            }) => (line, column, message),
            other => panic!("expected a schema error, got {other:?}"),
        }
    }

    #[test]
    fn wrong_type_is_an_error_with_line_and_column() {
        let err = parse_str("namespace: x\npaused: maybe\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "repo/app/fleet.yaml:2:9: paused: invalid type: string \"maybe\", expected a boolean"
        );
    }

    #[test]
    fn wrong_types_inside_flattened_and_nested_fields_are_located() {
        let (line, column, message) = schema_error("helm:\n  chart: x\n  timeoutSeconds: soon\n");
        assert_eq!((line, column), (3, 19), "{message}");
        assert!(
            message.starts_with("helm.timeoutSeconds: invalid type"),
            "{message}"
        );

        let (line, column, message) = schema_error(
            "targetCustomizations:\n- name: a\n- name: b\n  clusterSelector:\n    matchLabels: [x]\n",
        );
        assert_eq!((line, column), (5, 18), "{message}");
        assert!(
            message
                .starts_with("targetCustomizations[1].clusterSelector.matchLabels: invalid type"),
            "{message}"
        );

        let (line, column, message) = schema_error(
            "dependsOn:\n- selector:\n    matchExpressions:\n    - {key: a, operator: Maybe}\n",
        );
        assert_eq!(line, 4, "{message}");
        assert!(message.contains("unknown variant `Maybe`"), "{message}");
        assert!(column > 1, "{message}");
    }

    #[test]
    fn syntax_error_names_line_and_column() {
        let err = parse_str("namespace: x\nhelm: [unclosed\n").unwrap_err();
        let FleetYamlError::Syntax { line, column, .. } = &err else {
            panic!("{err}")
        };
        assert!(*line >= 2, "{err}");
        assert!(*column >= 1);
    }

    #[test]
    fn not_a_mapping_is_an_error() {
        assert!(matches!(
            parse_str("- a\n- b\n"),
            Err(FleetYamlError::Schema { .. })
        ));
    }

    #[test]
    fn alias_bombs_are_bounded() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        text.push_str("helm:\n  values:\n    bomb: *a11\n");
        let err = parse_str(&text).unwrap_err();
        assert!(matches!(err, FleetYamlError::Syntax { .. }), "{err}");
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let text = format!(
            "helm:\n  values: {}{}\n",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert!(parse_str(&text).is_err());
    }

    // Fleet: internal/bundlereader/validate_fleetyaml.go and the CLI assets
    // integrationtests/cli/assets/dependson_invalid (an unknown state is refused, naming it
    // and listing the valid ones); dependson_all_states (every state is accepted).
    #[test]
    fn depends_on_accepted_states_are_fleet_states() {
        let err =
            parse_str("dependsOn:\n- name: db\n  acceptedStates: [Ready, Bogus]\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "repo/app/fleet.yaml: dependsOn[0].acceptedStates[1]: invalid state \"Bogus\", valid values are: \
             [Ready NotReady Pending OutOfSync Modified WaitApplied ErrApplied]"
        );
        let all = "dependsOn:\n- selector: {matchLabels: {app: db}}\n  acceptedStates: \
                   [Ready, NotReady, Pending, OutOfSync, Modified, WaitApplied, ErrApplied]\n";
        let parsed = parse_str(all).unwrap();
        assert_eq!(
            parsed.fleet_yaml.spec.depends_on[0].accepted_states.len(),
            7
        );
    }

    #[test]
    fn depends_on_needs_name_or_selector() {
        let err = parse_str("dependsOn: [{acceptedStates: [Ready]}]\n").unwrap_err();
        assert!(err.to_string().contains("dependsOn[0]"), "{err}");
    }
}
