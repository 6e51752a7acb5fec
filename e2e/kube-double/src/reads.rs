//! The read verbs: get and list (label and field selectors, limit and continue).

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::api_status::ApiError;
use crate::cluster::Inner;
use crate::registry::ResourceType;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::ObjectKey;

/// An object as served at `rt`'s version: kind and apiVersion of the request.
pub fn present(rt: &ResourceType, obj: &Value) -> Value {
    let mut out = Map::new();
    out.insert("kind".into(), json!(rt.kind));
    out.insert("apiVersion".into(), json!(rt.api_version()));
    if let Some(m) = obj.as_object() {
        for (k, v) in m {
            if k != "kind" && k != "apiVersion" {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// Get one object.
///
/// # Errors
/// 404 NotFound.
pub fn get(
    inner: &Inner,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
) -> Result<Value, ApiError> {
    let key = ObjectKey {
        group: rt.group.clone(),
        plural: rt.plural.clone(),
        namespace: if rt.namespaced {
            namespace.to_string()
        } else {
            String::new()
        },
        name: name.to_string(),
    };
    inner
        .store
        .get(&key)
        .map(|o| present(rt, o))
        .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))
}

/// List parameters.
#[derive(Debug, Default, Clone)]
pub struct ListParams {
    /// `labelSelector`.
    pub label_selector: Option<String>,
    /// `fieldSelector`.
    pub field_selector: Option<String>,
    /// `limit`.
    pub limit: Option<usize>,
    /// `continue`.
    pub continue_token: Option<String>,
}

/// Parsed selectors of a list or watch.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    /// Parse both selectors.
    ///
    /// # Errors
    /// 400 BadRequest worded as the server does.
    pub fn parse(
        rt: &ResourceType,
        label: Option<&str>,
        field: Option<&str>,
    ) -> Result<Self, ApiError> {
        let labels = LabelSelector::parse(label.unwrap_or_default())
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let fields = FieldSelector::parse(field.unwrap_or_default(), &rt.kind)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok(Self { labels, fields })
    }

    /// Whether an object passes both selectors.
    pub fn matches(&self, obj: &Value) -> bool {
        self.labels
            .matches(obj.pointer("/metadata/labels").and_then(Value::as_object))
            && self.fields.matches(obj)
    }

    fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }
}

fn encode_continue(rv: u64, key: &ObjectKey) -> String {
    let start = format!("{}/{}\u{0}", key.namespace, key.name);
    let token = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": start});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token.to_string())
}

fn decode_continue(token: &str) -> Result<(String, String), ApiError> {
    let invalid = |why: &str| ApiError::bad_request(format!("continue key is not valid: {why}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| invalid("incorrect encoded start resourceVersion (version meta.k8s.io/v1)"))?;
    let v: Value = serde_json::from_slice(&raw)
        .map_err(|_| invalid("incorrect encoded start resourceVersion (version meta.k8s.io/v1)"))?;
    if v.get("v").and_then(Value::as_str) != Some("meta.k8s.io/v1") {
        return Err(invalid("server does not recognize this encoded key"));
    }
    let start = v
        .get("start")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim_end_matches('\u{0}')
        .to_string();
    let (ns, name) = start.split_once('/').unwrap_or(("", start.as_str()));
    Ok((ns.to_string(), name.to_string()))
}

/// The objects of a list request and its list metadata.
///
/// # Errors
/// 400 for bad selectors or continue tokens.
pub fn list_objects(
    inner: &Inner,
    rt: &ResourceType,
    namespace: Option<&str>,
    p: &ListParams,
) -> Result<(Vec<Value>, Value), ApiError> {
    let filter = Filter::parse(rt, p.label_selector.as_deref(), p.field_selector.as_deref())?;
    let after = p
        .continue_token
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(decode_continue)
        .transpose()?;
    let rv = inner.store.current_rv();
    let mut matching: Vec<(&ObjectKey, &Value)> = inner
        .store
        .list(&rt.group, &rt.plural, namespace.filter(|_| rt.namespaced))
        .into_iter()
        .filter(|(k, _)| {
            after.as_ref().is_none_or(|(ns, name)| {
                (k.namespace.as_str(), k.name.as_str()) > (ns.as_str(), name.as_str())
            })
        })
        .filter(|(_, v)| filter.matches(v))
        .collect();
    let mut meta = Map::new();
    meta.insert("resourceVersion".into(), json!(rv.to_string()));
    if let Some(limit) = p.limit.filter(|l| *l > 0) {
        if matching.len() > limit {
            let remaining = matching.len() - limit;
            matching.truncate(limit);
            if let Some((last, _)) = matching.last() {
                meta.insert("continue".into(), json!(encode_continue(rv, last)));
            }
            if filter.is_empty() {
                meta.insert("remainingItemCount".into(), json!(remaining));
            }
        }
    }
    let items = matching.into_iter().map(|(_, v)| v.clone()).collect();
    Ok((items, Value::Object(meta)))
}

/// A `<Kind>List` answer.
pub fn list_document(rt: &ResourceType, items: Vec<Value>, meta: Value) -> Value {
    let items: Vec<Value> = items
        .into_iter()
        .map(|o| {
            if rt.custom {
                present(rt, &o)
            } else {
                // Built-in list items carry no kind/apiVersion, like the real server's.
                let mut o = o;
                if let Some(m) = o.as_object_mut() {
                    m.shift_remove("kind");
                    m.shift_remove("apiVersion");
                }
                o
            }
        })
        .collect();
    json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(), "metadata": meta, "items": items})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use crate::store::Store;

    fn inner_with(names: &[&str]) -> Inner {
        let mut inner = Inner {
            store: Store::new(100),
            registry: Registry::builtin(),
        };
        for n in names {
            let key = ObjectKey {
                group: String::new(),
                plural: "configmaps".into(),
                namespace: "demo".into(),
                name: (*n).into(),
            };
            inner.commit(
                key,
                json!({"metadata": {"name": n, "namespace": "demo", "labels": {"app": n}}}),
            );
        }
        inner
    }

    #[test]
    fn limit_and_continue_page_through_everything() {
        let inner = inner_with(&["a", "b", "c"]);
        let rt = inner
            .registry
            .find("", "v1", "configmaps")
            .expect("cm")
            .clone();
        let (page1, meta1) = list_objects(
            &inner,
            &rt,
            Some("demo"),
            &ListParams {
                limit: Some(2),
                ..Default::default()
            },
        )
        .expect("page 1");
        assert_eq!(page1.len(), 2);
        assert_eq!(meta1["remainingItemCount"], 1);
        let token = meta1["continue"].as_str().expect("continue").to_string();
        let (page2, meta2) = list_objects(
            &inner,
            &rt,
            Some("demo"),
            &ListParams {
                limit: Some(2),
                continue_token: Some(token),
                ..Default::default()
            },
        )
        .expect("page 2");
        assert_eq!(page2.len(), 1);
        assert_eq!(page2[0]["metadata"]["name"], "c");
        assert!(meta2.get("continue").is_none());
        assert_eq!(
            list_objects(
                &inner,
                &rt,
                Some("demo"),
                &ListParams {
                    continue_token: Some("garbage!".into()),
                    ..Default::default()
                }
            )
            .expect_err("bad")
            .code,
            400
        );
    }

    #[test]
    fn builtin_list_items_have_no_type_meta() {
        let reg = Registry::builtin();
        let rt = reg.find("", "v1", "configmaps").expect("cm");
        let doc = list_document(
            rt,
            vec![json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "a"}})],
            json!({}),
        );
        assert_eq!(doc["kind"], "ConfigMapList");
        assert!(doc["items"][0].get("kind").is_none());
    }
}
