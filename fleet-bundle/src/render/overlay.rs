//! `yaml.overlays`: Fleet's overlays for plain-YAML bundles. For each named overlay, in
//! order, a file `overlays/<name>/<path>` replaces (or adds) `<path>`, and a file
//! `overlays/<name>/<dir>/<base>_patch.<ext>` patches `<dir>/<base>.<ext>`: a JSON patch
//! when it is a list, a strategic merge patch for built-in Kubernetes kinds, a JSON merge
//! patch otherwise (wrangler's `patch.Apply`, which Fleet uses).

use serde_json::{Map, Value};

use super::{BundleFiles, RenderError};

/// The directory holding overlays.
pub const OVERLAY_PREFIX: &str = "overlays/";

/// Applies `overlays` (in order) to `files` and drops everything under `overlays/`.
///
/// Within one overlay, replacements go before patches and patches go in name order, so the
/// result never depends on iteration order (Fleet's walk over a Go map has none).
///
/// Errors: a patch whose base file does not exist ("failed to find base file … to patch",
/// as Fleet words it), a file that is not YAML, or a patch that does not apply; each names
/// the overlay and file.
pub fn apply(files: &BundleFiles, overlays: &[String]) -> Result<BundleFiles, RenderError> {
    let mut content = files.clone();
    for overlay in overlays {
        let prefix = format!("{OVERLAY_PREFIX}{overlay}/");
        let entries: Vec<(String, Vec<u8>)> = files
            .iter()
            .filter_map(|(name, data)| {
                name.strip_prefix(prefix.as_str())
                    .map(|rest| (rest.to_string(), data.clone()))
            })
            .collect();
        let err = |message: String| RenderError::Overlay {
            overlay: overlay.clone(),
            message,
        };
        let (patches, replacements): (Vec<_>, Vec<_>) = entries
            .into_iter()
            .partition(|(name, _)| patch_target(name).is_some());
        for (name, data) in replacements {
            content.insert(name, data);
        }
        for (name, patch) in patches {
            let Some(target) = patch_target(&name) else {
                continue;
            };
            let Some(base) = content.get(&target) else {
                return Err(err(format!("failed to find base file {target} to patch")));
            };
            let base_json = to_json(base)
                .map_err(|e| err(format!("failed to convert {target} to json: {e}")))?;
            let patch_json = to_json(&patch)
                .map_err(|e| err(format!("failed to convert {prefix}{name} to json: {e}")))?;
            let patched = apply_patch(base_json, &patch_json)
                .map_err(|e| err(format!("failed to patch {target}: {e}")))?;
            let bytes = serde_json::to_vec(&patched)
                .map_err(|e| err(format!("failed to patch {target}: {e}")))?;
            content.insert(target, bytes);
        }
    }
    content.retain(|name, _| !name.starts_with(OVERLAY_PREFIX));
    Ok(content)
}

/// `a/b_patch.yaml` → `a/b.yaml` (the first `_patch.` of the base name), else `None`.
pub fn patch_target(name: &str) -> Option<String> {
    let (dir, base) = match name.rsplit_once('/') {
        Some((d, b)) => (Some(d), b),
        None => (None, name),
    };
    if !base.contains("_patch.") {
        return None;
    }
    let target = base.replacen("_patch.", ".", 1);
    Some(match dir {
        Some(d) => format!("{d}/{target}"),
        None => target,
    })
}

/// Reads YAML (or JSON) as Fleet's `convertToJSON` does: the first document, `{}` if empty.
fn to_json(data: &[u8]) -> Result<Value, String> {
    let text = String::from_utf8_lossy(data);
    let value: serde_yaml::Value = match serde_yaml::Deserializer::from_str(&text).next() {
        Some(doc) => serde::Deserialize::deserialize(doc).map_err(|e| e.to_string())?,
        None => serde_yaml::Value::Null,
    };
    let json = serde_json::to_value(value).map_err(|e| e.to_string())?;
    Ok(if json.is_null() {
        Value::Object(Map::new())
    } else {
        json
    })
}

/// Applies one patch, choosing the kind of patch as wrangler's `patch.Apply` does.
pub fn apply_patch(mut original: Value, patch: &Value) -> Result<Value, String> {
    if patch.is_array() {
        let ops: json_patch::Patch = serde_json::from_value(patch.clone())
            .map_err(|e| format!("invalid JSON patch: {e}"))?;
        json_patch::patch(&mut original, &ops).map_err(|e| e.to_string())?;
        return Ok(original);
    }
    let type_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let (api_version, kind) = (type_of(&original, "apiVersion"), type_of(&original, "kind"));
    if let (Some(pa), Some(oa)) = (type_of(patch, "apiVersion"), &api_version) {
        if &pa != oa {
            return Err(format!("patch apiVersion {pa} does not match {oa}"));
        }
    }
    if let (Some(pk), Some(ok)) = (type_of(patch, "kind"), &kind) {
        if &pk != ok {
            return Err(format!("patch kind {pk} does not match {ok}"));
        }
    }
    match (api_version, kind) {
        (Some(av), Some(_)) if is_builtin_api(&av) => {
            strategic_merge(&mut original, patch, "");
            Ok(original)
        }
        _ => {
            json_patch::merge(&mut original, patch);
            Ok(original)
        }
    }
}

/// API groups compiled into Kubernetes (and so known to client-go's scheme, which decides
/// between strategic and JSON merge in wrangler).
fn is_builtin_api(api_version: &str) -> bool {
    const GROUPS: &[&str] = &[
        "apps",
        "batch",
        "autoscaling",
        "policy",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "storage.k8s.io",
        "scheduling.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "node.k8s.io",
        "certificates.k8s.io",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
    ];
    match api_version.split_once('/') {
        None => true,
        Some((group, _)) => GROUPS.contains(&group),
    }
}

/// The merge key of the lists Kubernetes merges by key (`patchMergeKey` in the API types),
/// by field name and, where the same name has different keys, by parent.
fn merge_key(parent: &str, field: &str) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims"
        | "readinessGates"
        | "subsets" => match field {
            "readinessGates" => "conditionType",
            "subsets" => return None,
            _ => "name",
        },
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        "ports" if parent == "containers" || parent == "initContainers" => "containerPort",
        "ports" => "port",
        "conditions" => "type",
        _ => return None,
    })
}

/// A strategic merge patch: maps merge, `null` deletes, lists with a merge key merge their
/// items by key (`$patch: delete` removes one), other lists are replaced, and
/// `$patch: replace` replaces a whole map.
fn strategic_merge(target: &mut Value, patch: &Value, field: &str) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if patch_map.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replacement = patch_map.clone();
        replacement.remove("$patch");
        *target = Value::Object(replacement);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target_map) = target else {
        return;
    };
    for (key, pv) in patch_map {
        if key.starts_with('$') {
            continue;
        }
        if pv.is_null() {
            target_map.remove(key);
            continue;
        }
        match (target_map.get_mut(key), pv) {
            (Some(Value::Array(existing)), Value::Array(items)) => match merge_key(field, key) {
                Some(mk) if items.iter().all(Value::is_object) => {
                    merge_list(existing, items, mk, key);
                }
                _ => *existing = items.clone(),
            },
            (Some(tv @ Value::Object(_)), Value::Object(_)) => strategic_merge(tv, pv, key),
            (_, pv) => {
                let mut clean = pv.clone();
                strip_directives(&mut clean);
                target_map.insert(key.clone(), clean);
            }
        }
    }
}

fn merge_list(existing: &mut Vec<Value>, items: &[Value], merge_key: &str, field: &str) {
    for item in items {
        let key = item.get(merge_key);
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        let position = key.and_then(|k| existing.iter().position(|e| e.get(merge_key) == Some(k)));
        match (position, delete) {
            (Some(i), true) => {
                existing.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic_merge(&mut existing[i], item, field),
            (None, false) => {
                let mut clean = item.clone();
                strip_directives(&mut clean);
                existing.push(clean);
            }
        }
    }
}

fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|k, _| !k.starts_with('$'));
            map.values_mut().for_each(strip_directives);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
