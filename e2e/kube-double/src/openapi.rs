//! OpenAPI documents: enough of `/openapi/v3` for kubectl and helm to find that every
//! resource supports server-side field validation, and a minimal `/openapi/v2`.
//!
//! With `fieldValidation` advertised on each PATCH operation, clients validate on the server
//! (sending `fieldValidation=Strict`) instead of needing full client-side schemas.

use serde_json::{json, Map, Value};

use crate::registry::{Registry, ResourceType};

/// The `/openapi/v3` root: one entry per served group version.
pub fn v3_root(reg: &Registry) -> Value {
    let mut paths = Map::new();
    for (group, versions) in reg.groups() {
        for v in versions {
            let path = gv_path(&group, &v);
            let hash = hash_of(&v3_group_version(reg, &group, &v).to_string());
            paths.insert(
                path.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
            );
        }
    }
    json!({"paths": paths})
}

/// `api/v1` or `apis/<group>/<version>`.
pub fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn hash_of(s: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016X}{:016X}", h.rotate_left(17) ^ 0x9e3779b97f4a7c15)
}

fn query_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": "string", "uniqueItems": true}})
}

fn gvk(rt: &ResourceType) -> Value {
    json!({"group": rt.group, "version": rt.version, "kind": rt.kind})
}

fn operation(rt: &ResourceType, action: &str, id: &str, write: bool) -> Value {
    let mut params = vec![];
    if write {
        params.push(query_param(
            "dryRun",
            "When present, indicates that modifications should not be persisted.",
        ));
        params.push(query_param("fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes."));
        params.push(query_param("fieldValidation", "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields."));
    }
    if action == "patch" {
        params.push(json!({"name": "force", "in": "query", "description": "Force is going to \"force\" Apply requests.", "schema": {"type": "boolean", "uniqueItems": true}}));
    }
    json!({
        "description": format!("{action} the specified {}", rt.kind),
        "operationId": id,
        "parameters": params,
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(rt),
    })
}

/// The OpenAPI v3 document of one group version: paths for every resource with the
/// operations the double serves.
pub fn v3_group_version(reg: &Registry, group: &str, version: &str) -> Value {
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let mut paths = Map::new();
    // Component schemas are left out on purpose: kubectl's client-side apply would compute
    // strategic patches from them, and without real schemas it must use its compiled-in types.
    let schemas = Map::new();
    for rt in reg.resources_of(group, version) {
        let base = if rt.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", rt.plural)
        } else {
            format!("{prefix}/{}", rt.plural)
        };
        let id = format!("{}{}", rt.kind, rt.version);
        paths.insert(base.clone(), json!({
            "get": operation(rt, "list", &format!("list{id}"), false),
            "post": operation(rt, "post", &format!("create{id}"), true),
            "delete": operation(rt, "deletecollection", &format!("deletecollection{id}"), false),
        }));
        paths.insert(
            format!("{base}/{{name}}"),
            json!({
                "get": operation(rt, "get", &format!("read{id}"), false),
                "put": operation(rt, "put", &format!("replace{id}"), true),
                "patch": operation(rt, "patch", &format!("patch{id}"), true),
                "delete": operation(rt, "delete", &format!("delete{id}"), false),
            }),
        );
        if rt.status_subresource {
            paths.insert(
                format!("{base}/{{name}}/status"),
                json!({
                    "get": operation(rt, "get", &format!("read{id}Status"), false),
                    "put": operation(rt, "put", &format!("replace{id}Status"), true),
                    "patch": operation(rt, "patch", &format!("patch{id}Status"), true),
                }),
            );
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.30.0"},
        "paths": paths,
        "components": {"schemas": schemas}
    })
}

/// The media type of OpenAPI v2 in protobuf, which kubectl asks for first.
pub const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

/// A minimal OpenAPI v2 document as JSON.
pub fn v2_json() -> Value {
    json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.30.0"}, "paths": {}, "definitions": {}})
}

/// The same document in the gnostic `openapi_v2.Document` protobuf encoding: field 1
/// `swagger` and field 2 `info` (title, version).
pub fn v2_protobuf() -> Vec<u8> {
    fn field(out: &mut Vec<u8>, number: u8, bytes: &[u8]) {
        out.push((number << 3) | 2);
        let mut len = bytes.len();
        loop {
            let mut b = (len & 0x7f) as u8;
            len >>= 7;
            if len > 0 {
                b |= 0x80;
            }
            out.push(b);
            if len == 0 {
                break;
            }
        }
        out.extend_from_slice(bytes);
    }
    let mut info = Vec::new();
    field(&mut info, 1, b"Kubernetes");
    field(&mut info, 2, b"v1.30.0");
    let mut doc = Vec::new();
    field(&mut doc, 1, b"2.0");
    field(&mut doc, 2, &info);
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_patch_operation_advertises_field_validation() {
        let reg = Registry::builtin();
        let doc = v3_group_version(&reg, "apps", "v1");
        let op = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(op["x-kubernetes-group-version-kind"]["kind"], "Deployment");
        let names: Vec<&str> = op["parameters"]
            .as_array()
            .expect("params")
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert!(names.contains(&"fieldValidation"));
        let root = v3_root(&reg);
        assert!(root["paths"]["api/v1"]["serverRelativeURL"]
            .as_str()
            .expect("url")
            .starts_with("/openapi/v3/api/v1?hash="));
    }

    #[test]
    fn protobuf_document_is_well_formed() {
        let pb = v2_protobuf();
        assert_eq!(&pb[..5], &[0x0a, 3, b'2', b'.', b'0']);
        assert_eq!(pb[5], 0x12);
        assert_eq!(pb[6] as usize, pb.len() - 7);
    }
}
