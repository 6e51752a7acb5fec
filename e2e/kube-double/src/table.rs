//! `meta.k8s.io/v1` Table answers, which `kubectl get` asks for to print its columns.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::registry::ResourceType;

/// What `includeObject` asked each row to carry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IncludeObject {
    /// No object.
    None,
    /// PartialObjectMetadata (the default).
    Metadata,
    /// The full object.
    Object,
}

impl IncludeObject {
    /// Parse the `includeObject` query parameter.
    pub fn parse(p: Option<&str>) -> Self {
        match p {
            Some("None") => Self::None,
            Some("Object") => Self::Object,
            _ => Self::Metadata,
        }
    }
}

/// Whether an Accept header asks for a Table.
pub fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

/// Human age as kubectl prints it (`45s`, `3m12s`, `5h`, `2d`).
pub fn human_age(created: &str, now: DateTime<Utc>) -> String {
    let Ok(t) = DateTime::parse_from_rfc3339(created) else {
        return "<unknown>".into();
    };
    let secs = (now - t.with_timezone(&Utc)).num_seconds().max(0);
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    if secs < 120 {
        format!("{secs}s")
    } else if m < 10 {
        let s = secs % 60;
        if s == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{s}s")
        }
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 {
        let mm = m % 60;
        if mm == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{mm}m")
        }
    } else if h < 48 {
        format!("{h}h")
    } else if d < 8 {
        let hh = h % 24;
        if hh == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{hh}h")
        }
    } else {
        format!("{d}d")
    }
}

fn col(name: &str, ty: &str, format: &str, priority: i64, description: &str) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": description, "priority": priority})
}

fn int(v: &Value, p: &str) -> i64 {
    v.pointer(p).and_then(Value::as_i64).unwrap_or(0)
}

fn string(v: &Value, p: &str) -> String {
    v.pointer(p)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Columns and cell values (after Name, before Age) for a kind.
fn kind_columns(rt: &ResourceType) -> Vec<Value> {
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("apps", "Deployment") => vec![
            col("Ready", "string", "", 0, "Number of the pod with ready state"),
            col("Up-to-date", "string", "", 0, "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
            col("Available", "string", "", 0, "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
        ],
        ("apps", "StatefulSet") => vec![col("Ready", "string", "", 0, "Number of the pod with ready state")],
        ("", "ConfigMap") => vec![col("Data", "string", "", 0, "Number of data entries")],
        ("", "Secret") => vec![col("Type", "string", "", 0, "The type of the secret"), col("Data", "string", "", 0, "Number of data entries")],
        ("", "Namespace") => vec![col("Status", "string", "", 0, "The status of the namespace")],
        ("", "Pod") => vec![col("Ready", "string", "", 0, "The aggregate readiness state of this pod for accepting traffic."), col("Status", "string", "", 0, "The aggregate status of the containers in this pod."), col("Restarts", "string", "", 0, "The number of times the containers in this pod have been restarted")],
        ("", "Service") => vec![
            col("Type", "string", "", 0, "The type of the service"),
            col("Cluster-IP", "string", "", 0, "The cluster IP"),
            col("External-IP", "string", "", 0, "The external IP"),
            col("Port(s)", "string", "", 0, "The ports"),
        ],
        ("", "PersistentVolumeClaim") => vec![
            col("Status", "string", "", 0, "The phase of the claim"),
            col("Volume", "string", "", 0, "The bound volume"),
            col("Capacity", "string", "", 0, "The capacity"),
            col("Access Modes", "string", "", 0, "The access modes"),
            col("StorageClass", "string", "", 0, "The storage class"),
        ],
        ("batch", "Job") => vec![col("Status", "string", "", 0, "Status of the job"), col("Completions", "string", "", 0, "The completion status of the job")],
        _ => rt
            .printer_columns
            .iter()
            .filter(|c| c.get("name").and_then(Value::as_str) != Some("Age"))
            .map(|c| col(&string(c, "/name"), c.get("type").and_then(Value::as_str).unwrap_or("string"), &string(c, "/format"), int(c, "/priority"), &string(c, "/description")))
            .collect(),
    }
}

fn kind_cells(rt: &ResourceType, o: &Value) -> Vec<Value> {
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("apps", "Deployment") => vec![
            json!(format!(
                "{}/{}",
                int(o, "/status/readyReplicas"),
                int(o, "/spec/replicas")
            )),
            json!(int(o, "/status/updatedReplicas")),
            json!(int(o, "/status/availableReplicas")),
        ],
        ("apps", "StatefulSet") => vec![json!(format!(
            "{}/{}",
            int(o, "/status/readyReplicas"),
            int(o, "/spec/replicas")
        ))],
        ("", "ConfigMap") => vec![json!(
            o.get("data")
                .and_then(Value::as_object)
                .map_or(0, |m| m.len())
                + o.get("binaryData")
                    .and_then(Value::as_object)
                    .map_or(0, |m| m.len())
        )],
        ("", "Secret") => vec![
            json!(string(o, "/type")),
            json!(o
                .get("data")
                .and_then(Value::as_object)
                .map_or(0, |m| m.len())),
        ],
        ("", "Namespace") => vec![json!(string(o, "/status/phase"))],
        ("", "Pod") => {
            let total = o
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let ready = o
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .map_or(0, |c| c.iter().filter(|s| s["ready"] == true).count());
            vec![
                json!(format!("{ready}/{total}")),
                json!(string(o, "/status/phase")),
                json!("0"),
            ]
        }
        ("", "Service") => {
            let ports: Vec<String> = o
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .map(|p| match p.get("nodePort").and_then(Value::as_i64) {
                            Some(node) => {
                                format!("{}:{node}/{}", int(p, "/port"), string(p, "/protocol"))
                            }
                            None => format!("{}/{}", int(p, "/port"), string(p, "/protocol")),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let external: Vec<String> = o
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .map(|i| {
                    i.iter()
                        .filter_map(|x| x.get("ip").and_then(Value::as_str).map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let external = match (string(o, "/spec/type").as_str(), external.is_empty()) {
                (_, false) => external.join(","),
                ("LoadBalancer", true) => "<pending>".to_string(),
                _ => "<none>".to_string(),
            };
            vec![
                json!(string(o, "/spec/type")),
                json!(string(o, "/spec/clusterIP")),
                json!(external),
                json!(if ports.is_empty() {
                    "<none>".to_string()
                } else {
                    ports.join(",")
                }),
            ]
        }
        ("", "PersistentVolumeClaim") => {
            let modes: Vec<&str> = o
                .pointer("/status/accessModes")
                .and_then(Value::as_array)
                .map(|m| {
                    m.iter()
                        .filter_map(Value::as_str)
                        .map(|m| match m {
                            "ReadWriteOnce" => "RWO",
                            "ReadOnlyMany" => "ROX",
                            "ReadWriteMany" => "RWX",
                            "ReadWriteOncePod" => "RWOP",
                            other => other,
                        })
                        .collect()
                })
                .unwrap_or_default();
            vec![
                json!(string(o, "/status/phase")),
                json!(string(o, "/spec/volumeName")),
                json!(string(o, "/status/capacity/storage")),
                json!(modes.join(",")),
                json!(string(o, "/spec/storageClassName")),
            ]
        }
        ("batch", "Job") => {
            let complete = o
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|c| {
                    c.iter()
                        .any(|x| x["type"] == "Complete" && x["status"] == "True")
                });
            vec![
                json!(if complete { "Complete" } else { "Running" }),
                json!(format!(
                    "{}/{}",
                    int(o, "/status/succeeded"),
                    int(o, "/spec/completions")
                )),
            ]
        }
        _ => rt
            .printer_columns
            .iter()
            .filter(|c| c.get("name").and_then(Value::as_str) != Some("Age"))
            .map(|c| {
                let path = string(c, "/jsonPath");
                let pointer = path.trim_start_matches('.').replace('.', "/");
                o.pointer(&format!("/{pointer}"))
                    .cloned()
                    .unwrap_or(Value::Null)
            })
            .collect(),
    }
}

/// Build a Table of `objects`.
pub fn table(
    rt: &ResourceType,
    objects: &[Value],
    list_meta: Value,
    include: IncludeObject,
) -> Value {
    let now = Utc::now();
    let mut columns = vec![col(
        "Name",
        "string",
        "name",
        0,
        "Name must be unique within a namespace.",
    )];
    columns.extend(kind_columns(rt));
    columns.push(col("Age", "string", "", 0, "CreationTimestamp is a timestamp representing the server time when this object was created."));
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut cells = vec![json!(string(o, "/metadata/name"))];
            cells.extend(kind_cells(rt, o));
            cells.push(json!(human_age(&string(o, "/metadata/creationTimestamp"), now)));
            let mut row = json!({"cells": cells});
            match include {
                IncludeObject::None => {}
                IncludeObject::Metadata => {
                    row["object"] = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata").cloned().unwrap_or(Value::Null)});
                }
                IncludeObject::Object => row["object"] = o.clone(),
            }
            row
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "columnDefinitions": columns, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    #[test]
    fn ages_read_like_kubectl() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T10:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(human_age("2026-01-01T09:59:15Z", now), "45s");
        assert_eq!(human_age("2026-01-01T09:56:48Z", now), "3m12s");
        assert_eq!(human_age("2026-01-01T05:00:00Z", now), "5h");
        assert_eq!(human_age("2025-12-30T10:00:00Z", now), "2d");
    }

    #[test]
    fn deployment_rows_show_readiness() {
        let reg = Registry::builtin();
        let rt = reg.find("apps", "v1", "deployments").expect("deploy");
        let d = json!({"metadata": {"name": "web", "creationTimestamp": "2026-01-01T00:00:00Z"}, "spec": {"replicas": 2}, "status": {"readyReplicas": 1, "updatedReplicas": 2, "availableReplicas": 1}});
        let t = table(
            rt,
            &[d],
            json!({"resourceVersion": "5"}),
            IncludeObject::Metadata,
        );
        assert_eq!(t["rows"][0]["cells"][0], "web");
        assert_eq!(t["rows"][0]["cells"][1], "1/2");
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert!(wants_table(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        ));
        assert!(!wants_table("application/json"));
    }
}
