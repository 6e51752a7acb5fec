//! The status simulator: plays the part of the controllers and kubelet so workloads become
//! ready a moment after each change (Deployments, StatefulSets, DaemonSets, ReplicaSets,
//! Pods, PVCs) and Jobs complete — unless a test holds the object NotReady. It also
//! establishes CRDs, as kube-apiserver's own controllers do.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::cluster::{Cluster, Hold};
use crate::store::{Event, EventType, ObjectKey};

const CONTROLLER: &str = "kube-controller-manager";

/// Run until shutdown. `simulate` turns the workload part on; CRDs are always established.
pub async fn run(
    cluster: Arc<Cluster>,
    mut events: broadcast::Receiver<Arc<Event>>,
    delay: Duration,
    simulate: bool,
) {
    let mut shutdown = cluster.shutdown.subscribe();
    loop {
        let event = tokio::select! {
            _ = shutdown.changed() => return,
            ev = events.recv() => match ev {
                Ok(e) => e,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        if event.kind == EventType::Deleted {
            continue;
        }
        let key = event.key.clone();
        if crate::cluster::is_crd_key(&key) {
            establish(&cluster, &key);
            continue;
        }
        if simulate && is_simulated(&key) {
            let cluster = cluster.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                reconcile(&cluster, &key);
            });
        }
    }
}

fn is_simulated(key: &ObjectKey) -> bool {
    matches!(
        (key.group.as_str(), key.plural.as_str()),
        (
            "apps",
            "deployments" | "statefulsets" | "daemonsets" | "replicasets"
        ) | ("batch", "jobs")
            | ("", "pods" | "persistentvolumeclaims" | "services")
    )
}

fn establish(cluster: &Cluster, key: &ObjectKey) {
    let mut inner = cluster.lock();
    let Some(crd) = inner.store.get(key).cloned() else {
        return;
    };
    if crate::registry::crd_established(&crd)
        || crd.pointer("/metadata/deletionTimestamp").is_some()
    {
        return;
    }
    let now = crate::now();
    let status = crate::crd::established_status(&crd, &now);
    if let Err(e) =
        crate::writes::write_status(&mut inner, key, status, &[], "kube-apiserver", &now)
    {
        tracing::warn!(crd = %key.name, error = %e, "establishing CRD");
    }
}

/// Bring one object's status to what the controllers would report now.
pub fn reconcile(cluster: &Cluster, key: &ObjectKey) {
    let mut inner = cluster.lock();
    let Some(obj) = inner.store.get(key).cloned() else {
        return;
    };
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let held = cluster.is_held(&Hold {
        group: key.group.clone(),
        kind,
        namespace: key.namespace.clone(),
        name: key.name.clone(),
    });
    let now = crate::now();
    let old = obj.get("status").cloned().unwrap_or_else(|| json!({}));
    let desired = desired_status(key, &obj, &old, held, &now);
    let annotations = controller_annotations(key, &obj, &old);
    let annotations_current = annotations.iter().all(|(k, v)| {
        obj.pointer("/metadata/annotations")
            .and_then(|a| a.get(*k))
            .and_then(Value::as_str)
            == Some(v.as_str())
    });
    if strip_times(&desired) == strip_times(&old) && annotations_current {
        return;
    }
    if let Err(e) =
        crate::writes::write_status(&mut inner, key, desired, &annotations, CONTROLLER, &now)
    {
        tracing::warn!(object = %key.name, error = %e, "simulating status");
    }
}

/// The annotations the deployment controller keeps: `deployment.kubernetes.io/revision`,
/// bumped whenever the pod template (hence the ReplicaSet) changes.
fn controller_annotations(
    key: &ObjectKey,
    obj: &Value,
    old_status: &Value,
) -> Vec<(&'static str, String)> {
    if (key.group.as_str(), key.plural.as_str()) != ("apps", "deployments") {
        return Vec::new();
    }
    let current: u64 = obj
        .pointer("/metadata/annotations/deployment.kubernetes.io~1revision")
        .and_then(Value::as_str)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let rs = format!("\"{}-{}\"", key.name, revision_hash(obj));
    let same_template = old_status
        .get("conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("message")
                    .and_then(Value::as_str)
                    .is_some_and(|m| m.contains(&rs))
            })
        });
    let revision = if same_template && current > 0 {
        current
    } else {
        current + 1
    };
    vec![("deployment.kubernetes.io/revision", revision.to_string())]
}

fn strip_times(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "lastUpdateTime"
                            | "lastTransitionTime"
                            | "lastProbeTime"
                            | "startTime"
                            | "completionTime"
                            | "startedAt"
                    )
                })
                .map(|(k, v)| (k.clone(), strip_times(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_times).collect()),
        other => other.clone(),
    }
}

/// A condition, keeping the previous transition time when its status did not change.
fn condition(
    old: &Value,
    ty: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: &str,
    update_time: bool,
) -> Value {
    let prev = old
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some(ty))
        });
    let transition = match prev {
        Some(p) if p.get("status").and_then(Value::as_str) == Some(status) => p
            .get("lastTransitionTime")
            .cloned()
            .unwrap_or_else(|| json!(now)),
        _ => json!(now),
    };
    let mut c = json!({"type": ty, "status": status});
    if update_time {
        c["lastUpdateTime"] = json!(now);
    }
    c["lastTransitionTime"] = transition;
    if !reason.is_empty() {
        c["reason"] = json!(reason);
    }
    if !message.is_empty() {
        c["message"] = json!(message);
    }
    c
}

fn int(v: &Value, p: &str, default: i64) -> i64 {
    v.pointer(p).and_then(Value::as_i64).unwrap_or(default)
}

fn revision_hash(obj: &Value) -> String {
    let template = obj
        .pointer("/spec/template")
        .map(Value::to_string)
        .unwrap_or_default();
    let h = template.bytes().fold(2166136261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16777619)
    });
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut n = h;
    (0..10)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u32) as usize] as char;
            n /= ALPHABET.len() as u32;
            c
        })
        .collect::<String>()
        .trim_end_matches('b')
        .to_string()
}

fn desired_status(key: &ObjectKey, obj: &Value, old: &Value, held: bool, now: &str) -> Value {
    let generation = int(obj, "/metadata/generation", 1);
    let replicas = int(obj, "/spec/replicas", 1);
    let name = &key.name;
    match (key.group.as_str(), key.plural.as_str()) {
        ("apps", "deployments") => {
            let rs = format!("{name}-{}", revision_hash(obj));
            if held {
                json!({"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas, "unavailableReplicas": replicas,
                    "conditions": [
                        condition(old, "Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", now, true),
                        condition(old, "Progressing", "True", "ReplicaSetUpdated", &format!("ReplicaSet \"{rs}\" is progressing."), now, true)]})
            } else {
                let mut s = json!({"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
                    "conditions": [
                        condition(old, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now, true),
                        condition(old, "Progressing", "True", "NewReplicaSetAvailable", &format!("ReplicaSet \"{rs}\" has successfully progressed."), now, true)]});
                if replicas == 0 {
                    for k in [
                        "replicas",
                        "updatedReplicas",
                        "readyReplicas",
                        "availableReplicas",
                    ] {
                        if let Some(m) = s.as_object_mut() {
                            m.shift_remove(k);
                        }
                    }
                }
                s
            }
        }
        ("apps", "statefulsets") => {
            let rev = format!("{name}-{}", revision_hash(obj));
            let ready = if held { 0 } else { replicas };
            json!({"observedGeneration": generation, "replicas": replicas, "readyReplicas": ready, "currentReplicas": replicas, "updatedReplicas": replicas,
                "availableReplicas": ready, "currentRevision": rev, "updateRevision": rev, "collisionCount": 0})
        }
        ("apps", "daemonsets") => {
            let ready = if held { 0 } else { 1 };
            let mut s = json!({"currentNumberScheduled": 1, "numberMisscheduled": 0, "desiredNumberScheduled": 1, "numberReady": ready,
                "observedGeneration": generation, "updatedNumberScheduled": 1, "numberAvailable": ready});
            if held {
                s["numberUnavailable"] = json!(1);
            }
            s
        }
        ("apps", "replicasets") => {
            let ready = if held { 0 } else { replicas };
            json!({"replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": ready, "availableReplicas": ready, "observedGeneration": generation})
        }
        ("batch", "jobs") => {
            let start = old.get("startTime").cloned().unwrap_or_else(|| json!(now));
            if held || obj.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
                json!({"startTime": start, "active": 1, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}})
            } else {
                let completions = int(obj, "/spec/completions", 1);
                let completion_time = old
                    .get("completionTime")
                    .cloned()
                    .unwrap_or_else(|| json!(now));
                json!({"conditions": [condition(old, "Complete", "True", "", "", now, false)], "startTime": start, "completionTime": completion_time,
                    "succeeded": completions, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}})
            }
        }
        ("", "pods") => {
            let start = old.get("startTime").cloned().unwrap_or_else(|| json!(now));
            let ready = if held { "False" } else { "True" };
            let statuses: Vec<Value> = obj.pointer("/spec/containers").and_then(Value::as_array).map(|cs| cs.iter().map(|c| {
                let state = if held { json!({"waiting": {"reason": "ContainerCreating"}}) } else { json!({"running": {"startedAt": start}}) };
                json!({"name": c.get("name").cloned().unwrap_or(Value::Null), "ready": !held, "restartCount": 0,
                    "image": c.get("image").cloned().unwrap_or(Value::Null), "imageID": "", "started": !held, "state": state})
            }).collect()).unwrap_or_default();
            json!({"phase": if held { "Pending" } else { "Running" }, "conditions": [
                    condition(old, "Initialized", "True", "", "", now, false),
                    condition(old, "Ready", ready, "", "", now, false),
                    condition(old, "ContainersReady", ready, "", "", now, false),
                    condition(old, "PodScheduled", "True", "", "", now, false)],
                "hostIP": "10.0.0.1", "podIP": "10.244.0.10", "startTime": start, "containerStatuses": statuses, "qosClass": "BestEffort"})
        }
        ("", "persistentvolumeclaims") => {
            if held {
                json!({"phase": "Pending"})
            } else {
                json!({"phase": "Bound", "accessModes": obj.pointer("/spec/accessModes").cloned().unwrap_or_else(|| json!(["ReadWriteOnce"])),
                    "capacity": {"storage": obj.pointer("/spec/resources/requests/storage").cloned().unwrap_or_else(|| json!("1Gi"))}})
            }
        }
        ("", "services") => {
            let mut s = old.clone();
            if obj.pointer("/spec/type").and_then(Value::as_str) == Some("LoadBalancer") && !held {
                s["loadBalancer"] = json!({"ingress": [{"ip": "127.0.0.1", "ipMode": "VIP"}]});
            } else if s.is_object() {
                s["loadBalancer"] = json!({});
            }
            s
        }
        _ => old.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(group: &str, plural: &str) -> ObjectKey {
        ObjectKey {
            group: group.into(),
            plural: plural.into(),
            namespace: "demo".into(),
            name: "web".into(),
        }
    }

    #[test]
    fn deployments_become_available_unless_held() {
        let d = json!({"metadata": {"generation": 3}, "spec": {"replicas": 2, "template": {}}});
        let ready = desired_status(&key("apps", "deployments"), &d, &json!({}), false, "t");
        assert_eq!(ready["observedGeneration"], 3);
        assert_eq!(ready["availableReplicas"], 2);
        assert_eq!(ready["conditions"][0]["status"], "True");
        let held = desired_status(&key("apps", "deployments"), &d, &json!({}), true, "t");
        assert_eq!(held["conditions"][0]["status"], "False");
        assert!(held.get("availableReplicas").is_none());
    }

    #[test]
    fn revision_moves_only_when_the_template_changes() {
        let d = json!({"metadata": {"name": "web", "annotations": {"deployment.kubernetes.io/revision": "1"}}, "spec": {"template": {"a": 1}}});
        let status = desired_status(&key("apps", "deployments"), &d, &json!({}), false, "t");
        assert_eq!(
            controller_annotations(&key("apps", "deployments"), &d, &status),
            vec![("deployment.kubernetes.io/revision", "1".to_string())]
        );
        let changed = json!({"metadata": {"name": "web", "annotations": {"deployment.kubernetes.io/revision": "1"}}, "spec": {"template": {"a": 2}}});
        assert_eq!(
            controller_annotations(&key("apps", "deployments"), &changed, &status),
            vec![("deployment.kubernetes.io/revision", "2".to_string())]
        );
        let lb = json!({"spec": {"type": "LoadBalancer"}});
        assert_eq!(
            desired_status(
                &key("", "services"),
                &lb,
                &json!({"loadBalancer": {}}),
                false,
                "t"
            )["loadBalancer"]["ingress"][0]["ip"],
            "127.0.0.1"
        );
    }

    #[test]
    fn jobs_complete_and_keep_their_times() {
        let j = json!({"metadata": {"generation": 1}, "spec": {"completions": 1}});
        let done = desired_status(&key("batch", "jobs"), &j, &json!({}), false, "t1");
        assert_eq!(done["succeeded"], 1);
        let again = desired_status(&key("batch", "jobs"), &j, &done, false, "t2");
        assert_eq!(again, done);
    }
}
