//! Readiness of applied objects, judged as Helm's `--wait` and kstatus judge it, so a
//! bundle is Ready only when its workloads are rolled out, not merely accepted.

use serde_json::Value;

/// Whether one object is ready, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    NotReady(String),
}

/// What the bundle asks readiness to consider.
#[derive(Debug, Clone, Default)]
pub struct HealthOptions {
    /// `helm.waitForJobs`: Jobs count only once complete.
    pub wait_for_jobs: bool,
    /// `ignore.conditions`: conditions (all key/value pairs matching) that never make an
    /// object non-ready.
    pub ignore_conditions: Vec<std::collections::BTreeMap<String, String>>,
}

/// Whether `obj` has a condition `type_` with status `status`.
pub fn condition_is(obj: &Value, type_: &str, status: &str) -> bool {
    conditions(obj).any(|c| str_at(c, "type") == Some(type_) && str_at(c, "status") == Some(status))
}

fn conditions(obj: &Value) -> impl Iterator<Item = &Value> {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    conditions(obj).find(|c| str_at(c, "type") == Some(type_))
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn int_at(v: &Value, pointer: &str) -> Option<i64> {
    v.pointer(pointer).and_then(Value::as_i64)
}

/// The readiness of a live object.
pub fn readiness(obj: &Value, options: &HealthOptions) -> Readiness {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // kstatus: a controller that has not seen the latest spec has not acted on it yet.
    if let (Some(generation), Some(observed)) = (
        int_at(obj, "/metadata/generation"),
        int_at(obj, "/status/observedGeneration"),
    ) {
        if observed < generation {
            return Readiness::NotReady(format!(
                "waiting for the controller to observe generation {generation} (observed {observed})"
            ));
        }
    }
    let verdict = match kind {
        "Deployment" => deployment(obj),
        "StatefulSet" => stateful_set(obj),
        "DaemonSet" => daemon_set(obj),
        "ReplicaSet" | "ReplicationController" => replica_set(obj),
        "Job" => job(obj, options.wait_for_jobs),
        "Pod" => pod(obj),
        "PersistentVolumeClaim" => match obj.pointer("/status/phase").and_then(Value::as_str) {
            Some("Bound") => Readiness::Ready,
            phase => Readiness::NotReady(format!("PVC is {}", phase.unwrap_or("not bound yet"))),
        },
        "Service" => service(obj),
        "CustomResourceDefinition" => {
            if condition_is(obj, "Established", "True") {
                Readiness::Ready
            } else {
                Readiness::NotReady("CRD is not Established yet".into())
            }
        }
        "APIService" if api_version.starts_with("apiregistration.k8s.io/") => {
            if condition_is(obj, "Available", "True") {
                Readiness::Ready
            } else {
                Readiness::NotReady("APIService is not Available".into())
            }
        }
        _ => generic(obj),
    };
    match verdict {
        Readiness::NotReady(_) if ignored(obj, options) => Readiness::Ready,
        v => v,
    }
}

/// Whether a failing condition of `obj` is one the bundle says to ignore.
fn ignored(obj: &Value, options: &HealthOptions) -> bool {
    !options.ignore_conditions.is_empty()
        && conditions(obj).any(|c| {
            options.ignore_conditions.iter().any(|rule| {
                !rule.is_empty() && rule.iter().all(|(k, v)| str_at(c, k) == Some(v.as_str()))
            })
        })
}

fn deployment(obj: &Value) -> Readiness {
    let desired = int_at(obj, "/spec/replicas").unwrap_or(1);
    if let Some(c) = condition(obj, "Progressing") {
        if str_at(c, "reason") == Some("ProgressDeadlineExceeded") {
            return Readiness::NotReady(format!(
                "rollout failed: {}",
                str_at(c, "message").unwrap_or("progress deadline exceeded")
            ));
        }
    }
    let updated = int_at(obj, "/status/updatedReplicas").unwrap_or(0);
    let available = int_at(obj, "/status/availableReplicas").unwrap_or(0);
    let total = int_at(obj, "/status/replicas").unwrap_or(0);
    if updated < desired {
        return Readiness::NotReady(format!("{updated} of {desired} replicas updated"));
    }
    if total > updated {
        return Readiness::NotReady(format!(
            "{} old replicas pending termination",
            total - updated
        ));
    }
    if available < desired {
        return Readiness::NotReady(format!("{available} of {desired} replicas available"));
    }
    Readiness::Ready
}

fn stateful_set(obj: &Value) -> Readiness {
    let desired = int_at(obj, "/spec/replicas").unwrap_or(1);
    let ready = int_at(obj, "/status/readyReplicas").unwrap_or(0);
    if obj
        .pointer("/spec/updateStrategy/type")
        .and_then(Value::as_str)
        != Some("OnDelete")
    {
        let partition = int_at(obj, "/spec/updateStrategy/rollingUpdate/partition").unwrap_or(0);
        let updated = int_at(obj, "/status/updatedReplicas").unwrap_or(0);
        if updated < desired - partition {
            return Readiness::NotReady(format!(
                "{updated} of {} replicas updated",
                desired - partition
            ));
        }
        let current = obj
            .pointer("/status/currentRevision")
            .and_then(Value::as_str);
        let update = obj
            .pointer("/status/updateRevision")
            .and_then(Value::as_str);
        if partition == 0 && current.is_some() && current != update {
            return Readiness::NotReady("rolling update in progress".into());
        }
    }
    if ready < desired {
        return Readiness::NotReady(format!("{ready} of {desired} replicas ready"));
    }
    Readiness::Ready
}

fn daemon_set(obj: &Value) -> Readiness {
    let desired = int_at(obj, "/status/desiredNumberScheduled").unwrap_or(0);
    let updated = int_at(obj, "/status/updatedNumberScheduled").unwrap_or(0);
    let available = int_at(obj, "/status/numberAvailable").unwrap_or(0);
    if obj
        .pointer("/spec/updateStrategy/type")
        .and_then(Value::as_str)
        != Some("OnDelete")
        && updated < desired
    {
        return Readiness::NotReady(format!("{updated} of {desired} pods updated"));
    }
    if available < desired {
        return Readiness::NotReady(format!("{available} of {desired} pods available"));
    }
    Readiness::Ready
}

fn replica_set(obj: &Value) -> Readiness {
    let desired = int_at(obj, "/spec/replicas").unwrap_or(1);
    let ready = int_at(obj, "/status/readyReplicas").unwrap_or(0);
    if ready < desired {
        return Readiness::NotReady(format!("{ready} of {desired} replicas ready"));
    }
    Readiness::Ready
}

fn job(obj: &Value, wait_for_jobs: bool) -> Readiness {
    if condition_is(obj, "Failed", "True") {
        let message = condition(obj, "Failed")
            .and_then(|c| str_at(c, "message"))
            .unwrap_or("job failed");
        return Readiness::NotReady(format!("job failed: {message}"));
    }
    if !wait_for_jobs || condition_is(obj, "Complete", "True") {
        return Readiness::Ready;
    }
    Readiness::NotReady("job has not completed".into())
}

fn pod(obj: &Value) -> Readiness {
    match obj.pointer("/status/phase").and_then(Value::as_str) {
        Some("Succeeded") => Readiness::Ready,
        Some("Failed") => Readiness::NotReady("pod failed".into()),
        _ if condition_is(obj, "Ready", "True") => Readiness::Ready,
        phase => Readiness::NotReady(format!("pod is {}", phase.unwrap_or("Pending"))),
    }
}

fn service(obj: &Value) -> Readiness {
    let type_ = obj
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    if type_ == "ExternalName" {
        return Readiness::Ready;
    }
    if type_ == "LoadBalancer" {
        let ingress = obj
            .pointer("/status/loadBalancer/ingress")
            .and_then(Value::as_array)
            .is_some_and(|i| !i.is_empty());
        if !ingress {
            return Readiness::NotReady("waiting for the load balancer's address".into());
        }
    }
    Readiness::Ready
}

/// kstatus for kinds it does not know: a `Ready` condition if present decides; otherwise
/// the object is ready once it exists.
fn generic(obj: &Value) -> Readiness {
    match condition(obj, "Ready") {
        Some(c) if str_at(c, "status") == Some("True") => Readiness::Ready,
        Some(c) => Readiness::NotReady(
            str_at(c, "message")
                .filter(|m| !m.is_empty())
                .or_else(|| str_at(c, "reason"))
                .unwrap_or("Ready condition is not True")
                .to_string(),
        ),
        None => Readiness::Ready,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ready(obj: Value) -> Readiness {
        readiness(&obj, &HealthOptions::default())
    }

    #[test]
    fn deployments_need_available_updated_replicas() {
        let base = json!({"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}});
        assert_eq!(ready(base.clone()), Readiness::Ready);
        let mut stale = base.clone();
        stale["status"]["observedGeneration"] = json!(1);
        assert!(matches!(ready(stale), Readiness::NotReady(m) if m.contains("generation 2")));
        let mut rolling = base.clone();
        rolling["status"]["availableReplicas"] = json!(1);
        assert!(matches!(ready(rolling), Readiness::NotReady(m) if m.contains("1 of 2")));
        let fresh = json!({"kind": "Deployment", "spec": {"replicas": 1}});
        assert!(matches!(ready(fresh), Readiness::NotReady(_)));
    }

    #[test]
    fn statefulsets_daemonsets_replicasets() {
        assert_eq!(
            ready(json!({"kind": "StatefulSet", "spec": {"replicas": 1},
                "status": {"readyReplicas": 1, "updatedReplicas": 1, "currentRevision": "a", "updateRevision": "a"}})),
            Readiness::Ready
        );
        assert!(matches!(
            ready(json!({"kind": "StatefulSet", "spec": {"replicas": 1},
                "status": {"readyReplicas": 1, "updatedReplicas": 1, "currentRevision": "a", "updateRevision": "b"}})),
            Readiness::NotReady(_)
        ));
        assert_eq!(
            ready(
                json!({"kind": "DaemonSet", "status": {"desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3}})
            ),
            Readiness::Ready
        );
        assert!(matches!(
            ready(
                json!({"kind": "DaemonSet", "status": {"desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 2}})
            ),
            Readiness::NotReady(_)
        ));
        assert!(matches!(
            ready(
                json!({"kind": "ReplicaSet", "spec": {"replicas": 2}, "status": {"readyReplicas": 1}})
            ),
            Readiness::NotReady(_)
        ));
    }

    #[test]
    fn jobs_wait_only_with_wait_for_jobs() {
        let running = json!({"kind": "Job", "status": {}});
        assert_eq!(ready(running.clone()), Readiness::Ready);
        let waiting = readiness(
            &running,
            &HealthOptions {
                wait_for_jobs: true,
                ..Default::default()
            },
        );
        assert!(matches!(waiting, Readiness::NotReady(_)));
        let failed = json!({"kind": "Job", "status": {"conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]}});
        assert!(
            matches!(ready(failed), Readiness::NotReady(m) if m.contains("BackoffLimitExceeded"))
        );
    }

    #[test]
    fn pods_pvcs_services_crds_apiservices() {
        assert_eq!(
            ready(
                json!({"kind": "Pod", "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})
            ),
            Readiness::Ready
        );
        assert!(matches!(
            ready(json!({"kind": "Pod", "status": {"phase": "Pending"}})),
            Readiness::NotReady(_)
        ));
        assert_eq!(
            ready(json!({"kind": "PersistentVolumeClaim", "status": {"phase": "Bound"}})),
            Readiness::Ready
        );
        assert!(matches!(
            ready(json!({"kind": "PersistentVolumeClaim", "status": {"phase": "Pending"}})),
            Readiness::NotReady(_)
        ));
        assert_eq!(
            ready(json!({"kind": "Service", "spec": {"type": "ClusterIP"}})),
            Readiness::Ready
        );
        assert!(matches!(
            ready(json!({"kind": "Service", "spec": {"type": "LoadBalancer"}})),
            Readiness::NotReady(_)
        ));
        assert_eq!(
            ready(
                json!({"kind": "Service", "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}})
            ),
            Readiness::Ready
        );
        assert!(matches!(
            ready(json!({"kind": "CustomResourceDefinition"})),
            Readiness::NotReady(_)
        ));
        assert!(matches!(
            ready(
                json!({"kind": "APIService", "apiVersion": "apiregistration.k8s.io/v1", "status": {"conditions": [{"type": "Available", "status": "False"}]}})
            ),
            Readiness::NotReady(_)
        ));
    }

    #[test]
    fn generic_ready_condition_and_ignore_rules() {
        let cr = json!({"kind": "Widget", "status": {"conditions": [{"type": "Ready", "status": "False", "message": "warming up"}]}});
        assert_eq!(ready(cr.clone()), Readiness::NotReady("warming up".into()));
        assert_eq!(ready(json!({"kind": "ConfigMap"})), Readiness::Ready);
        let options = HealthOptions {
            ignore_conditions: vec![[
                ("type".to_string(), "Ready".to_string()),
                ("status".to_string(), "False".to_string()),
            ]
            .into()],
            ..Default::default()
        };
        assert_eq!(readiness(&cr, &options), Readiness::Ready);
    }
}
