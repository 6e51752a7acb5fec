//! Field specifications: which fields of which kinds a transformer touches.
//!
//! A field spec is a kind selector (group, version, kind; empty means any) plus a
//! slash-separated path (`spec/template/metadata/labels`). Lists on the way are walked
//! element by element. The built-in tables below say where Kubernetes keeps labels,
//! selectors, annotations, images, replicas and name references; `configurations` files
//! add to them.

use super::kustomization::FieldSpecArgs;
use super::resource::Gvk;
use super::value::{Mapping, Value};

/// A field of resources of some kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    /// Group selector (empty: any).
    pub group: String,
    /// Version selector (empty: any).
    pub version: String,
    /// Kind selector (empty: any).
    pub kind: String,
    /// Path segments.
    pub path: Vec<String>,
    /// Create the field when it is missing.
    pub create: bool,
}

impl FieldSpec {
    /// A spec from its parts; `path` is slash-separated, `\/` escapes a slash.
    pub fn new(group: &str, version: &str, kind: &str, path: &str, create: bool) -> FieldSpec {
        FieldSpec {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            path: split_path(path),
            create,
        }
    }

    /// Whether it applies to resources of `gvk`.
    pub fn selects(&self, gvk: &Gvk) -> bool {
        gvk.is_selected_by(&self.group, &self.version, &self.kind)
    }

    /// The path as written.
    pub fn path_text(&self) -> String {
        self.path
            .iter()
            .map(|s| s.replace('/', "\\/"))
            .collect::<Vec<_>>()
            .join("/")
    }
}

impl From<&FieldSpecArgs> for FieldSpec {
    fn from(a: &FieldSpecArgs) -> FieldSpec {
        FieldSpec::new(&a.group, &a.version, &a.kind, &a.path, a.create)
    }
}

/// Splits `a/b\/c/d[]` into `["a", "b/c", "d[]"]`; the `[]` marks a list, which
/// [`visit`] walks but never creates.
pub fn split_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                cur.push('/');
                chars.next();
            }
            '/' => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

/// Calls `set` on every node at `path` inside `value`, walking lists element by element.
///
/// With `create`, missing maps on the way are made and `set` sees [`Value::Null`] for a
/// missing last field (it decides what to put there); without it, missing fields are
/// skipped.
pub fn visit<E>(
    value: &mut Value,
    path: &[String],
    create: bool,
    set: &mut dyn FnMut(&mut Value) -> Result<(), E>,
) -> Result<(), E> {
    let Some((first, rest)) = path.split_first() else {
        return set(value);
    };
    let (first, is_list) = match first.strip_suffix("[]") {
        Some(name) => (name, true),
        None => (first.as_str(), false),
    };
    match value {
        Value::Map(map) => {
            if !map.contains_key(first) {
                if !create || is_list {
                    return Ok(());
                }
                let fresh = if rest.is_empty() {
                    Value::Null
                } else {
                    Value::Map(Mapping::new())
                };
                map.insert(first.to_string(), fresh);
            }
            let Some(child) = map.get_mut(first) else {
                return Ok(());
            };
            if matches!(child, Value::Null) && !rest.is_empty() {
                if !create {
                    return Ok(());
                }
                *child = Value::Map(Mapping::new());
            }
            visit(child, rest, create, set)
        }
        Value::Seq(items) => {
            for item in items {
                visit(item, path, create, set)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Every field spec table a build uses, defaults plus `configurations`.
#[derive(Debug, Clone, Default)]
pub struct TransformerConfig {
    /// `commonLabels` and `labels` with selectors.
    pub common_labels: Vec<FieldSpec>,
    /// `labels` with `includeTemplates`.
    pub template_labels: Vec<FieldSpec>,
    /// `commonAnnotations`.
    pub common_annotations: Vec<FieldSpec>,
    /// `images`.
    pub images: Vec<FieldSpec>,
    /// `replicas`.
    pub replicas: Vec<FieldSpec>,
    /// `namespace`.
    pub namespace: Vec<FieldSpec>,
    /// `namePrefix`.
    pub name_prefix: Vec<FieldSpec>,
    /// `nameSuffix`.
    pub name_suffix: Vec<FieldSpec>,
    /// `vars` substitution fields.
    pub var_reference: Vec<FieldSpec>,
    /// Name references: (referred kind selector, referring fields).
    pub name_reference: Vec<NameBackReference>,
}

/// Fields that hold the name of resources of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameBackReference {
    /// The referred-to kind.
    pub gvk: Gvk,
    /// The fields naming it.
    pub referrers: Vec<FieldSpec>,
}

fn add_unique(list: &mut Vec<FieldSpec>, fs: FieldSpec) {
    if !list.contains(&fs) {
        list.push(fs);
    }
}

impl TransformerConfig {
    /// Whether no table has an entry.
    pub fn is_empty(&self) -> bool {
        self.common_labels.is_empty()
            && self.template_labels.is_empty()
            && self.common_annotations.is_empty()
            && self.images.is_empty()
            && self.replicas.is_empty()
            && self.namespace.is_empty()
            && self.name_prefix.is_empty()
            && self.name_suffix.is_empty()
            && self.var_reference.is_empty()
            && self.name_reference.is_empty()
    }

    /// Adds another config's specs (a `configurations` file or a sub-build's).
    pub fn merge(&mut self, other: &TransformerConfig) {
        for (mine, theirs) in [
            (&mut self.common_labels, &other.common_labels),
            (&mut self.template_labels, &other.template_labels),
            (&mut self.common_annotations, &other.common_annotations),
            (&mut self.images, &other.images),
            (&mut self.replicas, &other.replicas),
            (&mut self.namespace, &other.namespace),
            (&mut self.name_prefix, &other.name_prefix),
            (&mut self.name_suffix, &other.name_suffix),
            (&mut self.var_reference, &other.var_reference),
        ] {
            for fs in theirs {
                add_unique(mine, fs.clone());
            }
        }
        for back in &other.name_reference {
            match self.name_reference.iter_mut().find(|b| b.gvk == back.gvk) {
                Some(existing) => {
                    for fs in &back.referrers {
                        add_unique(&mut existing.referrers, fs.clone());
                    }
                }
                None => self.name_reference.push(back.clone()),
            }
        }
    }

    /// Kustomize's built-in tables.
    pub fn defaults() -> TransformerConfig {
        let mut c = TransformerConfig::default();
        let metadata_labels = metadata_label_specs();
        c.template_labels = metadata_labels.clone();
        c.common_labels = common_label_selector_specs();
        c.common_labels.extend(metadata_labels);
        c.common_labels.push(FieldSpec::new(
            "apps",
            "",
            "StatefulSet",
            "spec/volumeClaimTemplates[]/metadata/labels",
            true,
        ));
        c.common_annotations = vec![FieldSpec::new("", "", "", "metadata/annotations", true)];
        for (group, version, kind) in POD_TEMPLATE_KINDS {
            c.common_annotations.push(FieldSpec::new(
                group,
                version,
                kind,
                "spec/template/metadata/annotations",
                true,
            ));
        }
        c.common_annotations.push(FieldSpec::new(
            "batch",
            "",
            "CronJob",
            "spec/jobTemplate/metadata/annotations",
            true,
        ));
        c.common_annotations.push(FieldSpec::new(
            "batch",
            "",
            "CronJob",
            "spec/jobTemplate/spec/template/metadata/annotations",
            true,
        ));
        for prefix in ["spec", "spec/template/spec"] {
            for field in [
                "containers[]/image",
                "initContainers[]/image",
                "volumes[]/image/reference",
            ] {
                c.images.push(FieldSpec::new(
                    "",
                    "",
                    "",
                    &format!("{prefix}/{field}"),
                    true,
                ));
            }
        }
        for kind in [
            "Deployment",
            "ReplicationController",
            "ReplicaSet",
            "StatefulSet",
        ] {
            c.replicas
                .push(FieldSpec::new("", "", kind, "spec/replicas", true));
        }
        c.namespace = vec![
            FieldSpec::new("", "", "Namespace", "metadata/name", true),
            FieldSpec::new(
                "apiregistration.k8s.io",
                "",
                "APIService",
                "spec/service/namespace",
                true,
            ),
            FieldSpec::new(
                "apiextensions.k8s.io",
                "",
                "CustomResourceDefinition",
                "spec/conversion/webhook/clientConfig/service/namespace",
                false,
            ),
        ];
        c.name_prefix = vec![FieldSpec::new("", "", "", "metadata/name", false)];
        c.name_suffix = vec![FieldSpec::new("", "", "", "metadata/name", false)];
        c.var_reference = var_reference_specs();
        c.name_reference = super::namerefs::default_back_references();
        c
    }
}

/// Kinds with a pod template at `spec/template`, as (group, version, kind) selectors.
const POD_TEMPLATE_KINDS: &[(&str, &str, &str)] = &[
    ("", "v1", "ReplicationController"),
    ("", "", "Deployment"),
    ("", "", "ReplicaSet"),
    ("", "", "DaemonSet"),
    ("", "", "StatefulSet"),
    ("batch", "", "Job"),
];

fn metadata_label_specs() -> Vec<FieldSpec> {
    let mut v = vec![FieldSpec::new("", "", "", "metadata/labels", true)];
    for (group, version, kind) in [
        ("", "v1", "ReplicationController"),
        ("", "", "Deployment"),
        ("", "", "ReplicaSet"),
        ("", "", "DaemonSet"),
        ("apps", "", "StatefulSet"),
        ("batch", "", "Job"),
    ] {
        v.push(FieldSpec::new(
            group,
            version,
            kind,
            "spec/template/metadata/labels",
            true,
        ));
    }
    v.push(FieldSpec::new(
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/metadata/labels",
        true,
    ));
    v.push(FieldSpec::new(
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/spec/template/metadata/labels",
        true,
    ));
    v
}

fn common_label_selector_specs() -> Vec<FieldSpec> {
    let mut v = vec![
        FieldSpec::new("", "v1", "Service", "spec/selector", true),
        FieldSpec::new("", "v1", "ReplicationController", "spec/selector", true),
        FieldSpec::new("", "", "Deployment", "spec/selector/matchLabels", true),
    ];
    let affinity = [
        "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
    ];
    for path in affinity {
        v.push(FieldSpec::new("apps", "", "Deployment", path, false));
    }
    v.push(FieldSpec::new(
        "",
        "",
        "ReplicaSet",
        "spec/selector/matchLabels",
        true,
    ));
    v.push(FieldSpec::new(
        "",
        "",
        "DaemonSet",
        "spec/selector/matchLabels",
        true,
    ));
    v.push(FieldSpec::new(
        "apps",
        "",
        "StatefulSet",
        "spec/selector/matchLabels",
        true,
    ));
    for path in affinity {
        v.push(FieldSpec::new("apps", "", "StatefulSet", path, false));
    }
    v.push(FieldSpec::new(
        "batch",
        "",
        "Job",
        "spec/selector/matchLabels",
        false,
    ));
    v.push(FieldSpec::new(
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/spec/selector/matchLabels",
        false,
    ));
    v.push(FieldSpec::new(
        "policy",
        "",
        "PodDisruptionBudget",
        "spec/selector/matchLabels",
        false,
    ));
    for path in [
        "spec/podSelector/matchLabels",
        "spec/ingress/from/podSelector/matchLabels",
        "spec/egress/to/podSelector/matchLabels",
    ] {
        v.push(FieldSpec::new(
            "networking.k8s.io",
            "",
            "NetworkPolicy",
            path,
            false,
        ));
    }
    v
}

fn var_reference_specs() -> Vec<FieldSpec> {
    let mut v = Vec::new();
    let container_fields = [
        "containers/args",
        "containers/command",
        "containers/env/value",
        "containers/volumeMounts/mountPath",
        "initContainers/args",
        "initContainers/command",
        "initContainers/env/value",
        "initContainers/volumeMounts/mountPath",
    ];
    let pod_specs: [(&str, &str, &str); 7] = [
        (
            "CronJob",
            "spec/jobTemplate/spec/template/spec",
            "spec/jobTemplate/spec/template/volumes/nfs/server",
        ),
        (
            "DaemonSet",
            "spec/template/spec",
            "spec/template/spec/volumes/nfs/server",
        ),
        (
            "Deployment",
            "spec/template/spec",
            "spec/template/spec/volumes/nfs/server",
        ),
        (
            "Job",
            "spec/template/spec",
            "spec/template/spec/volumes/nfs/server",
        ),
        ("Pod", "spec", "spec/volumes/nfs/server"),
        (
            "ReplicaSet",
            "spec/template/spec",
            "spec/template/spec/volumes/nfs/server",
        ),
        (
            "StatefulSet",
            "spec/template/spec",
            "spec/volumeClaimTemplates/spec/nfs/server",
        ),
    ];
    for (kind, pod, nfs) in pod_specs {
        for f in container_fields {
            v.push(FieldSpec::new("", "", kind, &format!("{pod}/{f}"), false));
        }
        v.push(FieldSpec::new("", "", kind, nfs, false));
        if kind == "Deployment" {
            v.push(FieldSpec::new(
                "",
                "",
                kind,
                "spec/template/metadata/annotations",
                false,
            ));
        }
    }
    for path in ["spec/rules/host", "spec/tls/hosts", "spec/tls/secretName"] {
        v.push(FieldSpec::new("", "", "Ingress", path, false));
    }
    v.push(FieldSpec::new("", "", "Service", "spec/ports/port", false));
    v.push(FieldSpec::new(
        "",
        "",
        "Service",
        "spec/ports/targetPort",
        false,
    ));
    v.push(FieldSpec::new(
        "",
        "",
        "PersistentVolume",
        "spec/nfs/server",
        false,
    ));
    v.push(FieldSpec::new("", "", "", "metadata/labels", false));
    v.push(FieldSpec::new("", "", "", "metadata/annotations", false));
    v
}

/// Parses a `configurations` file.
pub fn parse_configuration(text: &str) -> Result<TransformerConfig, serde_yaml::Error> {
    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct Raw {
        #[serde(default)]
        common_labels: Vec<FieldSpecArgs>,
        #[serde(default)]
        template_labels: Vec<FieldSpecArgs>,
        #[serde(default)]
        common_annotations: Vec<FieldSpecArgs>,
        #[serde(default)]
        images: Vec<FieldSpecArgs>,
        #[serde(default)]
        replicas: Vec<FieldSpecArgs>,
        #[serde(default)]
        namespace: Vec<FieldSpecArgs>,
        #[serde(default)]
        name_prefix: Vec<FieldSpecArgs>,
        #[serde(default)]
        name_suffix: Vec<FieldSpecArgs>,
        #[serde(default)]
        var_reference: Vec<FieldSpecArgs>,
        #[serde(default)]
        name_reference: Vec<RawBackRef>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct RawBackRef {
        #[serde(default)]
        group: String,
        #[serde(default)]
        version: String,
        #[serde(default)]
        kind: String,
        #[serde(default)]
        field_specs: Vec<FieldSpecArgs>,
    }
    let raw: Raw = if text.trim().is_empty() {
        Raw::default()
    } else {
        serde_yaml::from_str(text)?
    };
    let conv = |v: Vec<FieldSpecArgs>| v.iter().map(FieldSpec::from).collect::<Vec<_>>();
    Ok(TransformerConfig {
        common_labels: conv(raw.common_labels),
        template_labels: conv(raw.template_labels),
        common_annotations: conv(raw.common_annotations),
        images: conv(raw.images),
        replicas: conv(raw.replicas),
        namespace: conv(raw.namespace),
        name_prefix: conv(raw.name_prefix),
        name_suffix: conv(raw.name_suffix),
        var_reference: conv(raw.var_reference),
        name_reference: raw
            .name_reference
            .into_iter()
            .map(|b| NameBackReference {
                gvk: Gvk {
                    group: b.group,
                    version: b.version,
                    kind: b.kind,
                },
                referrers: conv(b.field_specs),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kustomize::document::parse_one;

    #[test]
    fn paths_split_on_unescaped_slashes() {
        assert_eq!(
            split_path("metadata/annotations/a\\/b"),
            vec!["metadata", "annotations", "a/b"]
        );
        assert_eq!(
            split_path("spec/containers[]/image"),
            vec!["spec", "containers[]", "image"]
        );
    }

    #[test]
    fn visit_walks_lists_and_creates_when_asked() {
        let mut v = parse_one("spec:\n  containers:\n  - image: a\n  - name: b\n").unwrap();
        let mut seen = Vec::new();
        visit::<()>(
            &mut v,
            &split_path("spec/containers/image"),
            false,
            &mut |n| {
                seen.push(n.clone());
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, vec![Value::String("a".into())]);
        visit::<()>(&mut v, &split_path("metadata/labels"), true, &mut |n| {
            *n = Value::Map(Mapping::new());
            Ok(())
        })
        .unwrap();
        assert!(v.get_path(&["metadata", "labels"]).is_some());
    }
}
