//! Validation of incoming objects, answering 422 `Invalid` with one cause per problem as
//! kube-apiserver does (metadata rules for every kind, a few structural rules per built-in kind).

use serde_json::Value;

use crate::api_status::Cause;
use crate::registry::ResourceType;

const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Whether `s` is a lowercase RFC 1123 subdomain (the rule for most object names).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

fn is_dns1035_label(s: &str) -> bool {
    is_dns1123_label(s) && s.starts_with(|c: char| c.is_ascii_lowercase())
}

/// Whether `s` is a valid label value (empty allowed).
pub fn is_label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= 63
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

fn is_qualified_name(s: &str) -> bool {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    prefix.is_none_or(is_dns1123_subdomain)
        && !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Which rule an object name follows for this kind.
fn name_rule(kind: &str) -> (fn(&str) -> bool, &'static str) {
    match kind {
        "Namespace" => (is_dns1123_label, DNS1123_LABEL_MSG),
        "Service" => (is_dns1035_label, DNS1035_LABEL_MSG),
        // RBAC objects accept any path segment name.
        "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => (
            |s: &str| {
                !s.is_empty() && s != "." && s != ".." && !s.contains('/') && !s.contains('%')
            },
            "may not contain '/' or '%'",
        ),
        _ => (is_dns1123_subdomain, DNS1123_SUBDOMAIN_MSG),
    }
}

/// Check metadata and the kind-specific rules; an empty result means valid.
pub fn validate(rt: &ResourceType, object: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let meta = object.get("metadata").cloned().unwrap_or(Value::Null);
    let name = meta.get("name").and_then(Value::as_str).unwrap_or_default();
    let (rule, msg) = name_rule(&rt.kind);
    if name.is_empty() {
        causes.push(Cause::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else if !rule(name) {
        causes.push(Cause::invalid("metadata.name", name, msg));
    }
    if let Some(labels) = meta.get("labels").and_then(Value::as_object) {
        for (k, v) in labels {
            if !is_qualified_name(k) {
                causes.push(Cause::invalid("metadata.labels", k, "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"));
            }
            let value = v.as_str().unwrap_or_default();
            if !v.is_string() || !is_label_value(value) {
                causes.push(Cause::invalid("metadata.labels", value, "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"));
            }
        }
    }
    if let Some(annotations) = meta.get("annotations").and_then(Value::as_object) {
        for (k, v) in annotations {
            if !is_qualified_name(&k.to_lowercase()) {
                causes.push(Cause::invalid("metadata.annotations", k, "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"));
            }
            if !v.is_string() {
                causes.push(Cause::invalid(
                    "metadata.annotations",
                    &v.to_string(),
                    "annotation values must be strings",
                ));
            }
        }
    }
    kind_rules(rt, object, &mut causes);
    causes
}

fn kind_rules(rt: &ResourceType, object: &Value, causes: &mut Vec<Cause>) {
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "ConfigMap") | ("", "Secret") => {
            for field in ["data", "binaryData", "stringData"] {
                if let Some(data) = object.get(field).and_then(Value::as_object) {
                    for key in data.keys() {
                        let ok = !key.is_empty()
                            && key.len() <= 253
                            && key
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
                        if !ok {
                            causes.push(Cause::invalid(&format!("{field}[{key}]"), key, "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"));
                        }
                    }
                }
            }
        }
        ("apps", "Deployment")
        | ("apps", "StatefulSet")
        | ("apps", "DaemonSet")
        | ("apps", "ReplicaSet") => {
            match object.pointer("/spec/selector") {
                None | Some(Value::Null) => causes.push(Cause::required("spec.selector", "")),
                Some(sel) => {
                    let selector = crate::selectors::LabelSelector::from_object(sel);
                    let labels = object
                        .pointer("/spec/template/metadata/labels")
                        .and_then(Value::as_object);
                    if selector.is_empty() {
                        causes.push(Cause::invalid(
                            "spec.selector",
                            "{}",
                            "empty selector is invalid for deployment",
                        ));
                    } else if !selector.matches(labels) {
                        let shown = labels
                            .map(|l| {
                                let pairs: Vec<String> = l
                                    .iter()
                                    .map(|(k, v)| {
                                        format!("{}:{}", crate::api_status::go_quote(k), v)
                                    })
                                    .collect();
                                format!("map[string]string{{{}}}", pairs.join(", "))
                            })
                            .unwrap_or_else(|| "map[string]string(nil)".into());
                        causes.push(Cause {
                            reason: "FieldValueInvalid".into(),
                            message: format!("Invalid value: {shown}: `selector` does not match template `labels`"),
                            field: "spec.template.metadata.labels".into(),
                        });
                    }
                }
            }
            pod_spec_rules(
                object.pointer("/spec/template/spec"),
                "spec.template.spec",
                causes,
            );
        }
        ("batch", "Job") => pod_spec_rules(
            object.pointer("/spec/template/spec"),
            "spec.template.spec",
            causes,
        ),
        ("batch", "CronJob") => {
            if object
                .pointer("/spec/schedule")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .is_empty()
            {
                causes.push(Cause::required("spec.schedule", ""));
            }
            pod_spec_rules(
                object.pointer("/spec/jobTemplate/spec/template/spec"),
                "spec.jobTemplate.spec.template.spec",
                causes,
            );
        }
        ("", "Pod") => pod_spec_rules(object.get("spec"), "spec", causes),
        ("", "Service") => {
            if let Some(ports) = object.pointer("/spec/ports").and_then(Value::as_array) {
                for (i, p) in ports.iter().enumerate() {
                    if p.get("port").and_then(Value::as_i64).is_none() {
                        causes.push(Cause::required(&format!("spec.ports[{i}].port"), ""));
                    }
                    if ports.len() > 1
                        && p.get("name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .is_empty()
                    {
                        causes.push(Cause::required(&format!("spec.ports[{i}].name"), ""));
                    }
                }
            }
        }
        _ => {}
    }
}

fn pod_spec_rules(spec: Option<&Value>, at: &str, causes: &mut Vec<Cause>) {
    let containers = spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array);
    match containers {
        None => causes.push(Cause::required(&format!("{at}.containers"), "")),
        Some(cs) if cs.is_empty() => causes.push(Cause::required(&format!("{at}.containers"), "")),
        Some(cs) => {
            for (i, c) in cs.iter().enumerate() {
                let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
                if name.is_empty() {
                    causes.push(Cause::required(&format!("{at}.containers[{i}].name"), ""));
                } else if !is_dns1123_label(name) {
                    causes.push(Cause::invalid(
                        &format!("{at}.containers[{i}].name"),
                        name,
                        DNS1123_LABEL_MSG,
                    ));
                }
                if c.get("image")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .is_empty()
                {
                    causes.push(Cause::required(&format!("{at}.containers[{i}].image"), ""));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use serde_json::json;

    #[test]
    fn bad_configmap_name_gives_the_recorded_cause() {
        let reg = Registry::builtin();
        let rt = reg.find("", "v1", "configmaps").expect("builtin");
        let causes = validate(rt, &json!({"metadata": {"name": "Bad_Name"}}));
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "metadata.name");
        assert!(causes[0]
            .message
            .starts_with("Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"));
    }

    #[test]
    fn deployment_selector_must_match_template() {
        let reg = Registry::builtin();
        let rt = reg.find("apps", "v1", "deployments").expect("builtin");
        let d = json!({"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        let causes = validate(rt, &d);
        assert_eq!(causes.len(), 1, "{causes:?}");
        assert_eq!(causes[0].field, "spec.template.metadata.labels");
    }
}
