//! Discovery documents: `/version`, the legacy `/api` and `/apis` lists, per group-version
//! resource lists, and aggregated discovery (`apidiscovery.k8s.io` v2 and v2beta1).

use serde_json::{json, Map, Value};

use crate::registry::{Registry, ResourceType};

/// The Kubernetes version the double reports.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "30",
        "gitVersion": "v1.30.0",
        "gitCommit": "7c48c2bd72b9bf5c44d21d7338cc7bea77d0ad2a",
        "gitTreeState": "clean",
        "buildDate": "2024-04-17T17:27:03Z",
        "goVersion": "go1.22.2",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// `/api`.
pub fn core_versions(server_address: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]})
}

fn group_entry(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({"name": name, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(Value::Null)})
}

/// `/apis`: every named group.
pub fn group_list(reg: &Registry) -> Value {
    let groups: Vec<Value> = reg
        .groups()
        .iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, vs)| group_entry(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`, if served.
pub fn group(reg: &Registry, name: &str) -> Option<Value> {
    reg.groups()
        .iter()
        .find(|(g, _)| g == name && !g.is_empty())
        .map(|(g, vs)| {
            let mut e = group_entry(g, vs);
            if let Some(m) = e.as_object_mut() {
                m.insert("kind".into(), json!("APIGroup"));
                m.insert("apiVersion".into(), json!("v1"));
            }
            e
        })
}

fn subresource_verbs() -> Vec<&'static str> {
    vec!["get", "patch", "update"]
}

/// `/api/v1` or `/apis/<group>/<version>`: the APIResourceList.
pub fn resource_list(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    if !reg.serves_group_version(group, version) {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let mut resources = Vec::new();
    for rt in reg.resources_of(group, version) {
        let mut r = Map::new();
        r.insert("name".into(), json!(rt.plural));
        r.insert("singularName".into(), json!(rt.singular));
        r.insert("namespaced".into(), json!(rt.namespaced));
        r.insert("kind".into(), json!(rt.kind));
        r.insert("verbs".into(), json!(rt.verbs()));
        if !rt.short_names.is_empty() {
            r.insert("shortNames".into(), json!(rt.short_names));
        }
        if !rt.categories.is_empty() {
            r.insert("categories".into(), json!(rt.categories));
        }
        resources.push(Value::Object(r));
        if rt.scale_subresource {
            resources.push(json!({"name": format!("{}/scale", rt.plural), "singularName": "", "namespaced": rt.namespaced,
                "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": subresource_verbs()}));
        }
        if rt.status_subresource {
            resources.push(json!({"name": format!("{}/status", rt.plural), "singularName": "", "namespaced": rt.namespaced,
                "kind": rt.kind, "verbs": subresource_verbs()}));
        }
    }
    let mut out = Map::new();
    out.insert("kind".into(), json!("APIResourceList"));
    if !group.is_empty() {
        out.insert("apiVersion".into(), json!("v1"));
    }
    out.insert("groupVersion".into(), json!(gv));
    out.insert("resources".into(), Value::Array(resources));
    Some(Value::Object(out))
}

/// Which aggregated discovery version an Accept header asks for, honouring its order.
pub fn aggregated_version(accept: &str) -> Option<&'static str> {
    for range in accept.split(',') {
        let range = range.trim();
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        let params: Vec<&str> = parts.collect();
        let has = |p: &str| params.iter().any(|x| x.replace(' ', "") == p);
        if has("as=APIGroupDiscoveryList")
            && has("g=apidiscovery.k8s.io")
            && media == "application/json"
        {
            if has("v=v2") {
                return Some("v2");
            }
            if has("v=v2beta1") {
                return Some("v2beta1");
            }
            continue;
        }
        if matches!(media, "application/json" | "*/*" | "application/*") {
            return None;
        }
    }
    None
}

fn aggregated_resource(rt: &ResourceType) -> Value {
    let mut r = Map::new();
    r.insert("resource".into(), json!(rt.plural));
    r.insert(
        "responseKind".into(),
        json!({"group": rt.group, "version": rt.version, "kind": rt.kind}),
    );
    r.insert(
        "scope".into(),
        json!(if rt.namespaced {
            "Namespaced"
        } else {
            "Cluster"
        }),
    );
    r.insert("singularResource".into(), json!(rt.singular));
    r.insert("verbs".into(), json!(rt.verbs()));
    if !rt.short_names.is_empty() {
        r.insert("shortNames".into(), json!(rt.short_names));
    }
    if !rt.categories.is_empty() {
        r.insert("categories".into(), json!(rt.categories));
    }
    let mut subs = Vec::new();
    if rt.scale_subresource {
        subs.push(json!({"subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}, "verbs": subresource_verbs()}));
    }
    if rt.status_subresource {
        subs.push(json!({"subresource": "status", "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind}, "verbs": subresource_verbs()}));
    }
    if !subs.is_empty() {
        r.insert("subresources".into(), Value::Array(subs));
    }
    Value::Object(r)
}

/// The aggregated discovery document for `/api` (`core` = true) or `/apis`.
pub fn aggregated(reg: &Registry, core: bool, version: &str) -> Value {
    let items: Vec<Value> = reg
        .groups()
        .iter()
        .filter(|(g, _)| g.is_empty() == core)
        .map(|(g, versions)| {
            let vs: Vec<Value> = versions
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = reg
                        .resources_of(g, v)
                        .into_iter()
                        .map(aggregated_resource)
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            let metadata = if g.is_empty() {
                json!({"creationTimestamp": null})
            } else {
                json!({"name": g, "creationTimestamp": null})
            };
            json!({"metadata": metadata, "versions": vs})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": format!("apidiscovery.k8s.io/{version}"), "metadata": {}, "items": items})
}

/// The Content-Type of an aggregated discovery answer.
pub fn aggregated_content_type(version: &str) -> String {
    format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_header_order_decides() {
        assert_eq!(aggregated_version("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"), Some("v2"));
        assert_eq!(aggregated_version("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"), Some("v2beta1"));
        assert_eq!(aggregated_version("application/json, application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"), None);
        assert_eq!(
            aggregated_version(
                "application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList"
            ),
            None
        );
    }

    #[test]
    fn core_aggregated_document_lists_configmaps_with_their_scope() {
        let doc = aggregated(&Registry::builtin(), true, "v2");
        let resources = doc["items"][0]["versions"][0]["resources"]
            .as_array()
            .expect("resources");
        let cm = resources
            .iter()
            .find(|r| r["resource"] == "configmaps")
            .expect("configmaps");
        assert_eq!(cm["scope"], "Namespaced");
        assert_eq!(cm["responseKind"]["kind"], "ConfigMap");
        let apps = aggregated(&Registry::builtin(), false, "v2");
        assert!(apps["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|i| i["metadata"]["name"] == "apps"));
    }

    #[test]
    fn apps_resource_list_has_status_and_scale_subresources() {
        let list = resource_list(&Registry::builtin(), "apps", "v1").expect("served");
        let names: Vec<&str> = list["resources"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert!(names.contains(&"deployments/status"));
        assert!(names.contains(&"deployments/scale"));
        assert!(resource_list(&Registry::builtin(), "example.com", "v1").is_none());
    }
}
