//! Name references: after prefixes, suffixes, namespaces and hashes renamed resources,
//! rewrite every field that named them (a Deployment's `configMapRef`, a RoleBinding's
//! `roleRef`, a StatefulSet's `serviceName`, ...).
//!
//! A field holding `old` is rewritten to the current name of the one resource of the
//! referred kind that was once called `old` and that the referrer can see (same namespace,
//! or cluster-scoped). Ties are broken as kustomize does, by comparing the prefixes and
//! suffixes the two resources received.

use super::fieldspec::{visit, FieldSpec, NameBackReference};
use super::resource::{Gvk, ResId, Resource};
use super::value::Value;

/// Rewrites references in `resources` using the name-reference table.
pub fn fix_back_references(
    resources: &mut [Resource],
    table: &[NameBackReference],
) -> Result<(), String> {
    for idx in 0..resources.len() {
        let referrer_id = resources[idx].id();
        let referrer_gvk = referrer_id.gvk.clone();
        let visible = visible_candidates(resources, idx);
        for back in table {
            for fs in &back.referrers {
                if !fs.selects(&referrer_gvk) {
                    continue;
                }
                let candidates: Vec<usize> = visible
                    .iter()
                    .copied()
                    .filter(|&c| {
                        resources[c]
                            .previous_ids
                            .iter()
                            .any(|id| selected(&id.gvk, &back.gvk))
                    })
                    .collect();
                if candidates.is_empty() {
                    continue;
                }
                let role_ref_gvk = role_ref_gvk(&resources[idx], fs);
                let snapshot: Vec<CandidateInfo> = candidates
                    .iter()
                    .map(|&c| CandidateInfo::of(&resources[c]))
                    .collect();
                let referrer_info = CandidateInfo::of(&resources[idx]);
                let mut value = std::mem::replace(&mut resources[idx].value, Value::Null);
                let result = visit(&mut value, &fs.path, false, &mut |node| {
                    set_reference(node, &snapshot, &referrer_info, &referrer_id, &role_ref_gvk)
                });
                resources[idx].value = value;
                result.map_err(|e| {
                    format!(
                        "updating name reference in '{}' field of '{}': {e}",
                        fs.path_text(),
                        referrer_id
                    )
                })?;
            }
        }
    }
    Ok(())
}

fn selected(gvk: &Gvk, selector: &Gvk) -> bool {
    gvk.is_selected_by(&selector.group, &selector.version, &selector.kind)
}

/// What name matching needs to know about a possible referral.
struct CandidateInfo {
    id: ResId,
    previous: Vec<ResId>,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
}

impl CandidateInfo {
    fn of(r: &Resource) -> CandidateInfo {
        CandidateInfo {
            id: r.id(),
            previous: r.previous_ids.clone(),
            prefixes: r.prefixes.clone(),
            suffixes: r.suffixes.clone(),
        }
    }
}

/// The resources a referrer may name: all for a cluster-scoped referrer; otherwise
/// cluster-scoped ones, those in its namespace, and for a RoleBinding those in the
/// namespaces of its ServiceAccount subjects.
fn visible_candidates(resources: &[Resource], idx: usize) -> Vec<usize> {
    let referrer = resources[idx].id();
    if referrer.gvk.is_cluster_scoped() {
        return (0..resources.len()).collect();
    }
    let mut binding_namespaces = Vec::new();
    if referrer.gvk.kind == "RoleBinding" {
        if let Some(subjects) = resources[idx]
            .value
            .get_path(&["subjects"])
            .and_then(Value::as_seq)
        {
            for s in subjects {
                if s.get_str(&["kind"]) == Some("ServiceAccount") {
                    if let Some(ns) = s.get_str(&["namespace"]) {
                        binding_namespaces.push(ns.to_string());
                    }
                }
            }
        }
    }
    (0..resources.len())
        .filter(|&i| {
            let id = resources[i].id();
            id.gvk.is_cluster_scoped()
                || id.same_namespace(&referrer)
                || binding_namespaces.contains(&id.namespace)
        })
        .collect()
}

fn role_ref_gvk(referrer: &Resource, fs: &FieldSpec) -> Option<Gvk> {
    if fs.path.last().map(String::as_str) != Some("name")
        || fs.path.len() < 2
        || fs.path[fs.path.len() - 2] != "roleRef"
    {
        return None;
    }
    let group = referrer.value.get_str(&["roleRef", "apiGroup"])?;
    let kind = referrer.value.get_str(&["roleRef", "kind"])?;
    Some(Gvk {
        group: group.to_string(),
        version: String::new(),
        kind: kind.to_string(),
    })
}

fn set_reference(
    node: &mut Value,
    candidates: &[CandidateInfo],
    referrer: &CandidateInfo,
    referrer_id: &ResId,
    role_ref: &Option<Gvk>,
) -> Result<(), String> {
    match node {
        Value::Null => Ok(()),
        Value::Seq(items) => {
            for item in items {
                set_reference(item, candidates, referrer, referrer_id, role_ref)?;
            }
            Ok(())
        }
        Value::Map(map) => {
            let Some(old) = map.get("name").and_then(Value::as_str).map(str::to_string) else {
                return Err("path config error; no 'name' field in node".into());
            };
            let in_namespace: Vec<&CandidateInfo> =
                match map.get("namespace").and_then(Value::as_str) {
                    None => candidates.iter().collect(),
                    Some(ns) => {
                        let by_original: Vec<&CandidateInfo> = candidates
                            .iter()
                            .filter(|c| original_namespace(c) == ns)
                            .collect();
                        if by_original.is_empty() {
                            candidates.iter().filter(|c| c.id.namespace == ns).collect()
                        } else {
                            by_original
                        }
                    }
                };
            let Some(referral) =
                select_referral(&old, &in_namespace, referrer, referrer_id, role_ref, true)?
            else {
                return Ok(());
            };
            if referral.id.name == old && referral.id.namespace.is_empty() {
                return Ok(());
            }
            map.insert("name".into(), Value::String(referral.id.name.clone()));
            if !referral.id.namespace.is_empty() {
                map.insert(
                    "namespace".into(),
                    Value::String(referral.id.namespace.clone()),
                );
            }
            Ok(())
        }
        Value::String(old) => {
            let all: Vec<&CandidateInfo> = candidates.iter().collect();
            if let Some(referral) =
                select_referral(old, &all, referrer, referrer_id, role_ref, false)?
            {
                if referral.id.name != *old {
                    *old = referral.id.name.clone();
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The namespace a resource had when it was read, as kustomize records it (`default` when
/// unset on a namespaced kind).
fn original_namespace(c: &CandidateInfo) -> String {
    let id = c.previous.first().unwrap_or(&c.id);
    id.effective_namespace().to_string()
}

fn select_referral<'a>(
    old: &str,
    candidates: &[&'a CandidateInfo],
    referrer: &CandidateInfo,
    referrer_id: &ResId,
    role_ref: &Option<Gvk>,
    compare_namespaces: bool,
) -> Result<Option<&'a CandidateInfo>, String> {
    let mut list: Vec<&CandidateInfo> = candidates
        .iter()
        .copied()
        .filter(|c| c.previous.iter().any(|id| id.name == old))
        .filter(|c| match role_ref {
            None => true,
            Some(g) => c.previous.iter().any(|id| selected(&id.gvk, g)),
        })
        .filter(|c| {
            referrer_id.gvk.is_cluster_scoped()
                || c.id.gvk.is_cluster_scoped()
                || c.id.gvk.kind == "ServiceAccount"
                || c.id.same_namespace(referrer_id)
        })
        .collect();
    if list.len() == 1 {
        return Ok(Some(list[0]));
    }
    list.retain(|c| affixes_equal(c, referrer, true));
    if list.len() > 1 {
        list.retain(|c| affixes_equal(c, referrer, false));
    }
    match list.len() {
        0 => Ok(None),
        1 => Ok(Some(list[0])),
        _ => {
            let first = &list[0].id;
            let identical = list.iter().all(|c| {
                c.id.name == first.name
                    && (!compare_namespaces || c.id.namespace == first.namespace)
            });
            if identical {
                Ok(Some(list[0]))
            } else {
                let ids: Vec<String> = list.iter().map(|c| c.id.to_string()).collect();
                Err(format!(
                    "found multiple possible referrals: {}",
                    ids.join(", ")
                ))
            }
        }
    }
}

fn same_ending(a: &[String], b: &[String]) -> bool {
    let n = a.len().min(b.len());
    a[a.len() - n..] == b[b.len() - n..]
}

fn affixes_equal(c: &CandidateInfo, r: &CandidateInfo, allow_empty: bool) -> bool {
    if allow_empty {
        (c.prefixes.is_empty() || r.prefixes.is_empty() || same_ending(&c.prefixes, &r.prefixes))
            && (c.suffixes.is_empty()
                || r.suffixes.is_empty()
                || same_ending(&c.suffixes, &r.suffixes))
    } else {
        same_ending(&c.prefixes, &r.prefixes) && same_ending(&c.suffixes, &r.suffixes)
    }
}

/// Where pod specs sit in the workload kinds, as (group, version, kind, path prefix).
const POD_SPEC_HOLDERS: &[(&str, &str, &str, &str)] = &[
    ("", "v1", "Pod", "spec"),
    ("", "", "PodTemplate", "template/spec"),
    ("", "", "Deployment", "spec/template/spec"),
    ("", "", "ReplicaSet", "spec/template/spec"),
    ("", "", "DaemonSet", "spec/template/spec"),
    ("", "", "StatefulSet", "spec/template/spec"),
    ("", "", "Job", "spec/template/spec"),
    ("", "", "CronJob", "spec/jobTemplate/spec/template/spec"),
];

/// Workload kinds that name service accounts, claims and priority classes.
const POD_OWNERS: &[(&str, &str)] = &[
    ("Pod", "spec"),
    ("StatefulSet", "spec/template/spec"),
    ("Deployment", "spec/template/spec"),
    ("ReplicationController", "spec/template/spec"),
    ("CronJob", "spec/jobTemplate/spec/template/spec"),
    ("Job", "spec/template/spec"),
    ("DaemonSet", "spec/template/spec"),
];

fn gvk(group: &str, version: &str, kind: &str) -> Gvk {
    Gvk {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
    }
}

fn pod_fields(fields: &[&str]) -> Vec<FieldSpec> {
    let mut v = Vec::new();
    for (group, version, kind, prefix) in POD_SPEC_HOLDERS {
        for f in fields {
            v.push(FieldSpec::new(
                group,
                version,
                kind,
                &format!("{prefix}/{f}"),
                false,
            ));
        }
    }
    v
}

fn owner_fields(field: &str) -> Vec<FieldSpec> {
    POD_OWNERS
        .iter()
        .map(|(kind, prefix)| FieldSpec::new("", "", kind, &format!("{prefix}/{field}"), false))
        .collect()
}

/// Kustomize's built-in table of which fields name which kinds.
pub fn default_back_references() -> Vec<NameBackReference> {
    let fs = |g: &str, v: &str, k: &str, p: &str| FieldSpec::new(g, v, k, p, false);
    let mut out = Vec::new();
    for kind in [
        "Deployment",
        "ReplicationController",
        "ReplicaSet",
        "StatefulSet",
    ] {
        out.push(NameBackReference {
            gvk: gvk("", "", kind),
            referrers: vec![fs(
                "",
                "",
                "HorizontalPodAutoscaler",
                "spec/scaleTargetRef/name",
            )],
        });
    }
    let mut config_map = pod_fields(&[
        "volumes/configMap/name",
        "containers/env/valueFrom/configMapKeyRef/name",
        "initContainers/env/valueFrom/configMapKeyRef/name",
        "containers/envFrom/configMapRef/name",
        "initContainers/envFrom/configMapRef/name",
        "volumes/projected/sources/configMap/name",
    ]);
    config_map.extend([
        fs("", "", "Node", "spec/configSource/configMap"),
        fs("", "", "Role", "rules/resourceNames"),
        fs("", "", "ClusterRole", "rules/resourceNames"),
        fs(
            "",
            "",
            "Ingress",
            "metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap",
        ),
    ]);
    out.push(NameBackReference {
        gvk: gvk("", "v1", "ConfigMap"),
        referrers: config_map,
    });
    let mut secret = pod_fields(&[
        "volumes/secret/secretName",
        "containers/env/valueFrom/secretKeyRef/name",
        "initContainers/env/valueFrom/secretKeyRef/name",
        "containers/envFrom/secretRef/name",
        "initContainers/envFrom/secretRef/name",
        "imagePullSecrets/name",
        "volumes/projected/sources/secret/name",
    ]);
    secret.extend([
        fs("", "", "Ingress", "spec/tls/secretName"),
        fs(
            "",
            "",
            "Ingress",
            "metadata/annotations/ingress.kubernetes.io\\/auth-secret",
        ),
        fs(
            "",
            "",
            "Ingress",
            "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret",
        ),
        fs(
            "",
            "",
            "Ingress",
            "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret",
        ),
        fs("", "", "ServiceAccount", "imagePullSecrets/name"),
        fs("", "", "StorageClass", "parameters/secretName"),
        fs("", "", "StorageClass", "parameters/adminSecretName"),
        fs("", "", "StorageClass", "parameters/userSecretName"),
        fs("", "", "StorageClass", "parameters/secretRef"),
        fs("", "", "Role", "rules/resourceNames"),
        fs("", "", "ClusterRole", "rules/resourceNames"),
        fs(
            "serving.knative.dev",
            "v1",
            "Service",
            "spec/template/spec/containers/env/valueFrom/secretKeyRef/name",
        ),
        fs("", "", "PersistentVolume", "spec/azureFile/secretName"),
    ]);
    out.push(NameBackReference {
        gvk: gvk("", "v1", "Secret"),
        referrers: secret,
    });
    out.push(NameBackReference {
        gvk: gvk("", "v1", "Service"),
        referrers: vec![
            fs("apps", "", "StatefulSet", "spec/serviceName"),
            fs(
                "",
                "",
                "Ingress",
                "spec/rules/http/paths/backend/serviceName",
            ),
            fs("", "", "Ingress", "spec/backend/serviceName"),
            fs(
                "",
                "",
                "Ingress",
                "spec/rules/http/paths/backend/service/name",
            ),
            fs("", "", "Ingress", "spec/defaultBackend/service/name"),
            fs(
                "apiregistration.k8s.io",
                "",
                "APIService",
                "spec/service/name",
            ),
            fs(
                "admissionregistration.k8s.io",
                "",
                "ValidatingWebhookConfiguration",
                "webhooks/clientConfig/service",
            ),
            fs(
                "admissionregistration.k8s.io",
                "",
                "MutatingWebhookConfiguration",
                "webhooks/clientConfig/service",
            ),
        ],
    });
    out.push(NameBackReference {
        gvk: gvk("rbac.authorization.k8s.io", "", "Role"),
        referrers: vec![fs(
            "rbac.authorization.k8s.io",
            "",
            "RoleBinding",
            "roleRef/name",
        )],
    });
    out.push(NameBackReference {
        gvk: gvk("rbac.authorization.k8s.io", "", "ClusterRole"),
        referrers: vec![
            fs(
                "rbac.authorization.k8s.io",
                "",
                "RoleBinding",
                "roleRef/name",
            ),
            fs(
                "rbac.authorization.k8s.io",
                "",
                "ClusterRoleBinding",
                "roleRef/name",
            ),
        ],
    });
    let mut sa = vec![
        fs("rbac.authorization.k8s.io", "", "RoleBinding", "subjects"),
        fs(
            "rbac.authorization.k8s.io",
            "",
            "ClusterRoleBinding",
            "subjects",
        ),
    ];
    sa.extend(owner_fields("serviceAccountName"));
    out.push(NameBackReference {
        gvk: gvk("", "v1", "ServiceAccount"),
        referrers: sa,
    });
    out.push(NameBackReference {
        gvk: gvk("", "v1", "PersistentVolumeClaim"),
        referrers: owner_fields("volumes/persistentVolumeClaim/claimName"),
    });
    out.push(NameBackReference {
        gvk: gvk("", "v1", "PersistentVolume"),
        referrers: vec![
            fs("", "", "PersistentVolumeClaim", "spec/volumeName"),
            fs("", "", "ClusterRole", "rules/resourceNames"),
        ],
    });
    out.push(NameBackReference {
        gvk: gvk("storage.k8s.io", "v1", "StorageClass"),
        referrers: vec![
            fs("", "", "PersistentVolume", "spec/storageClassName"),
            fs("", "", "PersistentVolumeClaim", "spec/storageClassName"),
            fs(
                "",
                "",
                "StatefulSet",
                "spec/volumeClaimTemplates/spec/storageClassName",
            ),
        ],
    });
    out.push(NameBackReference {
        gvk: gvk("scheduling.k8s.io", "v1", "PriorityClass"),
        referrers: owner_fields("priorityClassName"),
    });
    out.push(NameBackReference {
        gvk: gvk("networking.k8s.io", "v1", "IngressClass"),
        referrers: vec![fs("", "", "Ingress", "spec/ingressClassName")],
    });
    out.push(NameBackReference {
        gvk: gvk(
            "admissionregistration.k8s.io",
            "",
            "ValidatingAdmissionPolicy",
        ),
        referrers: vec![fs(
            "admissionregistration.k8s.io",
            "",
            "ValidatingAdmissionPolicyBinding",
            "spec/policyName",
        )],
    });
    out
}
