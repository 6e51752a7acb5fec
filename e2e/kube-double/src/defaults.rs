//! Defaulting of built-in kinds, so objects read back as from a real cluster (and drift
//! detection and `kubectl diff` see the same extra fields they would in production).

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::registry::ResourceType;

fn obj(v: &mut Value) -> Option<&mut Map<String, Value>> {
    v.as_object_mut()
}

fn default(map: &mut Map<String, Value>, key: &str, value: Value) {
    if !map.contains_key(key) || map.get(key) == Some(&Value::Null) {
        map.insert(key.into(), value);
    }
}

fn at<'a>(v: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut cur = v;
    for p in path {
        cur = cur.get_mut(*p)?;
    }
    cur.as_object_mut()
}

fn ensure<'a>(v: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut cur = v;
    for p in path {
        let m = cur.as_object_mut()?;
        if !m.get(*p).is_some_and(Value::is_object) {
            m.insert((*p).into(), json!({}));
        }
        cur = m.get_mut(*p)?;
    }
    cur.as_object_mut()
}

/// What the registry strategy sets on create after field ownership is recorded (so no
/// manager owns it): a Namespace's `kubernetes` finalizer.
pub fn prepare_for_create(rt: &ResourceType, object: &mut Value) {
    if rt.group.is_empty() && rt.kind == "Namespace" {
        if let Some(spec) = ensure(object, &["spec"]) {
            spec.insert("finalizers".into(), json!(["kubernetes"]));
        }
    }
}

/// Apply the defaults of `rt`'s kind to `object`. `uid` is the object's uid (Jobs derive
/// their selector from it).
pub fn apply_defaults(rt: &ResourceType, object: &mut Value, uid: &str) {
    if rt.custom {
        return;
    }
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => {
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if let Some(labels) = ensure(object, &["metadata", "labels"]) {
                labels.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
            if let Some(status) = ensure(object, &["status"]) {
                default(status, "phase", json!("Active"));
            }
        }
        ("", "Secret") => {
            if let Some(m) = obj(object) {
                if let Some(Value::Object(string_data)) = m.remove("stringData") {
                    let data = m.entry("data").or_insert_with(|| json!({}));
                    if let Some(data) = data.as_object_mut() {
                        for (k, v) in string_data {
                            let s = v.as_str().unwrap_or_default();
                            data.insert(
                                k,
                                json!(base64::engine::general_purpose::STANDARD.encode(s)),
                            );
                        }
                    }
                }
                default(m, "type", json!("Opaque"));
            }
        }
        ("", "Service") => default_service(object),
        ("", "PersistentVolumeClaim") => {
            if let Some(spec) = ensure(object, &["spec"]) {
                default(spec, "volumeMode", json!("Filesystem"));
            }
            if let Some(status) = ensure(object, &["status"]) {
                default(status, "phase", json!("Pending"));
            }
        }
        ("", "Pod") => {
            if let Some(spec) = at(object, &["spec"]) {
                default_pod_spec(spec);
                default(spec, "serviceAccountName", json!("default"));
                default(spec, "serviceAccount", json!("default"));
                default(spec, "enableServiceLinks", json!(true));
                default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
                default(spec, "priority", json!(0));
                default(
                    spec,
                    "tolerations",
                    json!([
                    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]),
                );
            }
            if let Some(status) = ensure(object, &["status"]) {
                default(status, "phase", json!("Pending"));
                default(status, "qosClass", json!("BestEffort"));
            }
        }
        ("apps", "Deployment") => {
            if let Some(spec) = ensure(object, &["spec"]) {
                default(spec, "replicas", json!(1));
                default(
                    spec,
                    "strategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
                );
                default(spec, "revisionHistoryLimit", json!(10));
                default(spec, "progressDeadlineSeconds", json!(600));
            }
            default_template(object, &["spec", "template"]);
        }
        ("apps", "ReplicaSet") => {
            if let Some(spec) = ensure(object, &["spec"]) {
                default(spec, "replicas", json!(1));
            }
            default_template(object, &["spec", "template"]);
        }
        ("apps", "StatefulSet") => {
            if let Some(spec) = ensure(object, &["spec"]) {
                default(spec, "replicas", json!(1));
                default(spec, "podManagementPolicy", json!("OrderedReady"));
                default(
                    spec,
                    "updateStrategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
                );
                default(spec, "revisionHistoryLimit", json!(10));
                default(
                    spec,
                    "persistentVolumeClaimRetentionPolicy",
                    json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
                );
            }
            default_template(object, &["spec", "template"]);
        }
        ("apps", "DaemonSet") => {
            if let Some(spec) = ensure(object, &["spec"]) {
                default(
                    spec,
                    "updateStrategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
                );
                default(spec, "revisionHistoryLimit", json!(10));
            }
            default_template(object, &["spec", "template"]);
        }
        ("batch", "Job") => {
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            default_job_spec(object, &["spec"], &name, uid);
        }
        ("batch", "CronJob") => {
            if let Some(spec) = ensure(object, &["spec"]) {
                default(spec, "concurrencyPolicy", json!("Allow"));
                default(spec, "suspend", json!(false));
                default(spec, "successfulJobsHistoryLimit", json!(3));
                default(spec, "failedJobsHistoryLimit", json!(1));
            }
            default_template(object, &["spec", "jobTemplate", "spec", "template"]);
            if let Some(spec) = at(object, &["spec", "jobTemplate", "spec"]) {
                default(spec, "backoffLimit", json!(6));
                default(spec, "completionMode", json!("NonIndexed"));
                default(spec, "suspend", json!(false));
            }
            if let Some(meta) = ensure(object, &["spec", "jobTemplate", "metadata"]) {
                default(meta, "creationTimestamp", Value::Null);
            }
        }
        ("policy", "PodDisruptionBudget") => {
            if let Some(status) = ensure(object, &["status"]) {
                default(status, "disruptionsAllowed", json!(0));
                default(status, "currentHealthy", json!(0));
                default(status, "desiredHealthy", json!(0));
                default(status, "expectedPods", json!(0));
            }
        }
        ("networking.k8s.io", "Ingress") => {
            if let Some(status) = ensure(object, &["status"]) {
                default(status, "loadBalancer", json!({}));
            }
        }
        ("networking.k8s.io", "NetworkPolicy") => {
            if let Some(spec) = ensure(object, &["spec"]) {
                let types = if spec.contains_key("egress") {
                    json!(["Ingress", "Egress"])
                } else {
                    json!(["Ingress"])
                };
                default(spec, "policyTypes", types);
            }
        }
        ("scheduling.k8s.io", "PriorityClass") => {
            if let Some(m) = obj(object) {
                default(m, "preemptionPolicy", json!("PreemptLowerPriority"));
            }
        }
        ("storage.k8s.io", "StorageClass") => {
            if let Some(m) = obj(object) {
                default(m, "reclaimPolicy", json!("Delete"));
                default(m, "volumeBindingMode", json!("Immediate"));
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            if let Some(spec) = ensure(object, &["spec"]) {
                default(spec, "conversion", json!({"strategy": "None"}));
            }
        }
        _ => {}
    }
}

fn default_job_spec(object: &mut Value, spec_path: &[&str], name: &str, uid: &str) {
    let manual = object
        .pointer(&format!("/{}/manualSelector", spec_path.join("/")))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if let Some(spec) = ensure(object, spec_path) {
        default(spec, "parallelism", json!(1));
        default(spec, "completions", json!(1));
        default(spec, "backoffLimit", json!(6));
        default(spec, "completionMode", json!("NonIndexed"));
        default(spec, "suspend", json!(false));
        default(spec, "podReplacementPolicy", json!("TerminatedOrFailed"));
        if !manual && !uid.is_empty() {
            default(
                spec,
                "selector",
                json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
            );
        }
    }
    let mut template_path: Vec<&str> = spec_path.to_vec();
    template_path.push("template");
    if !manual && !uid.is_empty() {
        let mut labels_path = template_path.clone();
        labels_path.extend(["metadata", "labels"]);
        if let Some(labels) = ensure(object, &labels_path) {
            labels.insert("batch.kubernetes.io/controller-uid".into(), json!(uid));
            labels.insert("batch.kubernetes.io/job-name".into(), json!(name));
            labels.insert("controller-uid".into(), json!(uid));
            labels.insert("job-name".into(), json!(name));
        }
    }
    default_template(object, &template_path);
}

fn default_template(object: &mut Value, path: &[&str]) {
    let mut meta_path = path.to_vec();
    meta_path.push("metadata");
    if let Some(meta) = ensure(object, &meta_path) {
        default(meta, "creationTimestamp", Value::Null);
    }
    let mut spec_path = path.to_vec();
    spec_path.push("spec");
    if let Some(spec) = at(object, &spec_path) {
        default_pod_spec(spec);
    }
}

fn default_pod_spec(spec: &mut Map<String, Value>) {
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        if let Some(Value::Array(cs)) = spec.get_mut(list) {
            for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                default_container(c);
            }
        }
    }
    default(spec, "restartPolicy", json!("Always"));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    default(spec, "securityContext", json!({}));
    default(spec, "schedulerName", json!("default-scheduler"));
    if let Some(Value::Array(volumes)) = spec.get_mut("volumes") {
        for v in volumes.iter_mut().filter_map(Value::as_object_mut) {
            for (source, mode) in [
                ("configMap", 420),
                ("secret", 420),
                ("projected", 420),
                ("downwardAPI", 420),
            ] {
                if let Some(Value::Object(s)) = v.get_mut(source) {
                    default(s, "defaultMode", json!(mode));
                }
            }
        }
    }
}

fn default_container(c: &mut Map<String, Value>) {
    if let Some(Value::Array(ports)) = c.get_mut("ports") {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            default(p, "protocol", json!("TCP"));
        }
    }
    default(c, "resources", json!({}));
    default(c, "terminationMessagePath", json!("/dev/termination-log"));
    default(c, "terminationMessagePolicy", json!("File"));
    let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
    let after_slash = image.rsplit('/').next().unwrap_or(image);
    let latest = !after_slash.contains(':') && !image.contains('@') || image.ends_with(":latest");
    default(
        c,
        "imagePullPolicy",
        json!(if latest { "Always" } else { "IfNotPresent" }),
    );
}

fn default_service(object: &mut Value) {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if let Some(spec) = ensure(object, &["spec"]) {
        default(spec, "type", json!("ClusterIP"));
        let kind = spec
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_string();
        if kind != "ExternalName" {
            if !spec.contains_key("clusterIP") {
                let ip = cluster_ip_for(&name);
                spec.insert("clusterIP".into(), json!(ip));
            }
            let ip = spec.get("clusterIP").cloned().unwrap_or(Value::Null);
            default(spec, "clusterIPs", json!([ip]));
            default(spec, "ipFamilies", json!(["IPv4"]));
            default(spec, "ipFamilyPolicy", json!("SingleStack"));
            default(spec, "internalTrafficPolicy", json!("Cluster"));
        }
        default(spec, "sessionAffinity", json!("None"));
        if kind == "NodePort" || kind == "LoadBalancer" {
            default(spec, "externalTrafficPolicy", json!("Cluster"));
        }
        if let Some(Value::Array(ports)) = spec.get_mut("ports") {
            for (i, p) in ports
                .iter_mut()
                .filter_map(Value::as_object_mut)
                .enumerate()
            {
                default(p, "protocol", json!("TCP"));
                if let Some(port) = p.get("port").cloned() {
                    default(p, "targetPort", port);
                }
                if kind == "NodePort" || kind == "LoadBalancer" {
                    default(
                        p,
                        "nodePort",
                        json!(30000 + (stable_hash(&name) % 2000) as u64 + i as u64),
                    );
                }
            }
        }
    }
    if let Some(status) = ensure(object, &["status"]) {
        default(status, "loadBalancer", json!({}));
    }
}

fn stable_hash(s: &str) -> u32 {
    s.bytes().fold(2166136261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16777619)
    })
}

/// A stable address in the service range for a service name.
fn cluster_ip_for(name: &str) -> String {
    let h = stable_hash(name);
    format!("10.96.{}.{}", (h >> 8) % 256, (h % 254) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    #[test]
    fn deployment_defaults_match_the_recorded_object() {
        let reg = Registry::builtin();
        let rt = reg.find("apps", "v1", "deployments").expect("builtin");
        let mut d = json!({"metadata": {"name": "web"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]}}}});
        apply_defaults(rt, &mut d, "u");
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"],
            "TCP"
        );
        assert_eq!(d["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");
        assert_eq!(
            d["spec"]["template"]["metadata"]["creationTimestamp"],
            Value::Null
        );
    }

    #[test]
    fn untagged_images_are_pulled_always() {
        let mut c = Map::new();
        c.insert("image".into(), json!("busybox"));
        default_container(&mut c);
        assert_eq!(c["imagePullPolicy"], "Always");
        let mut c = Map::new();
        c.insert("image".into(), json!("registry:5000/busybox"));
        default_container(&mut c);
        assert_eq!(c["imagePullPolicy"], "Always");
    }
}
