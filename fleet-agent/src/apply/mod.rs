//! Applying a bundle's objects to the cluster: discovery, namespaces, Helm ownership,
//! install order, server-side apply, waiting for CRDs, hooks and pruning.
//!
//! The flow for one bundle ([`Applier::prepare`] then [`Applier::apply_all`]):
//! 1. every object's kind is resolved (from the bundle's own CRDs first, then discovery) to
//!    know whether it is namespaced; namespaced objects get the bundle's namespace, the
//!    [`NamespacePolicy`] refuses what the bundle may not write;
//! 2. Helm's ownership metadata is added, so `helm` treats the objects as the release's;
//! 3. CRDs are applied and waited for until Established, then Namespaces, then everything
//!    else in Helm's install order, each with server-side apply as `fleet-agent`;
//! 4. an object that exists and belongs to another release (or to no release) is refused
//!    unless the bundle sets `takeOwnership` or `force`.

pub mod discovery;
pub mod hooks;
pub mod order;
pub mod policy;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PropagationPolicy};
use kube::Client;
use serde_json::{json, Value};

use crate::resource::{self, ResourceId};
pub use discovery::{DiscoveryError, Kind, KindCache};
pub use policy::{NamespacePolicy, PolicyViolation};

/// The field manager of every server-side apply the agent makes.
pub const FIELD_MANAGER: &str = "fleet-agent";
/// Helm's label marking objects it manages.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Helm's annotation naming the owning release.
pub const RELEASE_NAME_ANNOTATION: &str = "meta.helm.sh/release-name";
/// Helm's annotation naming the owning release's namespace.
pub const RELEASE_NAMESPACE_ANNOTATION: &str = "meta.helm.sh/release-namespace";
/// Helm's annotation keeping an object when its release goes.
pub const RESOURCE_POLICY_ANNOTATION: &str = "helm.sh/resource-policy";
/// Fleet's label grouping the objects of one BundleDeployment (used to watch them).
pub const SET_HASH_LABEL: &str = "objectset.rio.cattle.io/hash";

/// Errors of applying objects.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("document {index} of the bundle has no apiVersion, kind or metadata.name")]
    Incomplete { index: usize },
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    #[error("refused: {0}")]
    Policy(#[from] PolicyViolation),
    #[error(
        "{id} exists and is owned by {owner}; refusing to take it over (set helm.takeOwnership \
         or helm.force in fleet.yaml to adopt it)"
    )]
    OwnedElsewhere { id: ResourceId, owner: String },
    #[error("server-side apply of {id} failed: {source}")]
    Apply {
        id: ResourceId,
        #[source]
        source: kube::Error,
    },
    #[error("reading {id} failed: {source}")]
    Get {
        id: ResourceId,
        #[source]
        source: kube::Error,
    },
    #[error("deleting {id} failed: {source}")]
    Delete {
        id: ResourceId,
        #[source]
        source: kube::Error,
    },
    #[error("CustomResourceDefinition {name} did not become Established within {seconds}s")]
    CrdNotEstablished { name: String, seconds: u64 },
    #[error("hook {id} failed: {reason}")]
    Hook { id: ResourceId, reason: String },
    #[error("{event} hooks not run: {id} is not ready after {seconds}s ({reason})")]
    NotReadyForHooks {
        id: ResourceId,
        event: &'static str,
        seconds: u64,
        reason: String,
    },
}

/// How one bundle's objects are owned and placed.
#[derive(Debug, Clone, Default)]
pub struct ReleaseContext {
    pub release_name: String,
    pub release_namespace: String,
    /// Namespace for namespaced objects that name none (`defaultNamespace`, else `default`).
    pub default_namespace: String,
    /// Label value grouping this BundleDeployment's objects.
    pub set_hash: String,
    /// `helm.takeOwnership` or `helm.force`: adopt objects owned elsewhere.
    pub take_ownership: bool,
    /// Keep CRDs when the release goes (Fleet's default unless `deleteCRDResources`).
    pub keep_crds: bool,
    pub policy: NamespacePolicy,
}

/// Applies objects with server-side apply; holds a per-kind discovery cache.
pub struct Applier {
    client: Client,
    kinds: KindCache,
    crd_timeout: Duration,
}

impl Applier {
    /// An applier on `client`, waiting up to `crd_timeout` for CRDs to be Established.
    pub fn new(client: Client, crd_timeout: Duration) -> Applier {
        Applier {
            client,
            kinds: KindCache::default(),
            crd_timeout,
        }
    }

    /// The Kubernetes client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Fills in namespaces, checks the namespace policy and adds Helm's ownership metadata.
    ///
    /// Kinds defined by a CRD in `objects` itself are resolved from that CRD's `spec.scope`,
    /// since discovery cannot know them before the CRD is applied.
    pub async fn prepare(
        &mut self,
        objects: Vec<Value>,
        ctx: &ReleaseContext,
    ) -> Result<Vec<Value>, ApplyError> {
        let bundle_kinds = crd_scopes(&objects);
        let mut out = Vec::with_capacity(objects.len());
        for (index, mut obj) in objects.into_iter().enumerate() {
            let id = ResourceId::of(&obj).ok_or(ApplyError::Incomplete { index })?;
            let namespaced = match bundle_kinds.get(&id.group_kind()) {
                Some(namespaced) => *namespaced,
                None => self.kinds.resolve(&self.client, &id).await?.namespaced,
            };
            if namespaced {
                let namespace = if !ctx.policy.target_namespace.is_empty() {
                    ctx.policy.target_namespace.clone()
                } else if id.namespace.is_empty() {
                    ctx.default_namespace.clone()
                } else {
                    id.namespace.clone()
                };
                resource::set_namespace(&mut obj, &namespace);
            } else {
                resource::clear_namespace(&mut obj);
            }
            let id = ResourceId::of(&obj).ok_or(ApplyError::Incomplete { index })?;
            ctx.policy.check(&id, namespaced)?;
            resource::set_metadata_entry(&mut obj, "labels", MANAGED_BY_LABEL, "Helm");
            resource::set_metadata_entry(&mut obj, "labels", SET_HASH_LABEL, &ctx.set_hash);
            resource::set_metadata_entry(
                &mut obj,
                "annotations",
                RELEASE_NAME_ANNOTATION,
                &ctx.release_name,
            );
            resource::set_metadata_entry(
                &mut obj,
                "annotations",
                RELEASE_NAMESPACE_ANNOTATION,
                &ctx.release_namespace,
            );
            if ctx.keep_crds && id.kind == "CustomResourceDefinition" {
                resource::set_metadata_entry(
                    &mut obj,
                    "annotations",
                    RESOURCE_POLICY_ANNOTATION,
                    "keep",
                );
            }
            out.push(obj);
        }
        Ok(out)
    }

    /// Creates (or updates) a namespace the bundle deploys into, with the bundle's
    /// `namespaceLabels`/`namespaceAnnotations`. The namespace is not part of the release,
    /// as in Fleet, so uninstalling a bundle never deletes a shared namespace.
    pub async fn ensure_namespace(
        &mut self,
        name: &str,
        labels: &BTreeMap<String, String>,
        annotations: &BTreeMap<String, String>,
    ) -> Result<(), ApplyError> {
        let obj = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": labels, "annotations": annotations},
        });
        let id = ResourceId::of(&obj).ok_or(ApplyError::Incomplete { index: 0 })?;
        self.server_side_apply(&id, &obj, false).await.map(|_| ())
    }

    /// Applies prepared objects in install order; CRDs are waited for until Established
    /// before anything else goes in.
    pub async fn apply_all(
        &mut self,
        objects: &[Value],
        ctx: &ReleaseContext,
    ) -> Result<(), ApplyError> {
        let mut ordered: Vec<&Value> = objects.iter().collect();
        ordered.sort_by_key(|o| {
            order::install_rank(o.get("kind").and_then(Value::as_str).unwrap_or_default())
        });
        for obj in ordered.iter().filter(|o| is_crd(o)) {
            self.apply_owned(obj, ctx).await?;
        }
        for obj in ordered.iter().filter(|o| is_crd(o)) {
            if let Some(name) = obj.pointer("/metadata/name").and_then(Value::as_str) {
                self.wait_established(name).await?;
            }
            if let Some(group) = obj.pointer("/spec/group").and_then(Value::as_str) {
                self.kinds.forget_group(group);
            }
        }
        for obj in ordered.iter().filter(|o| !is_crd(o)) {
            self.apply_owned(obj, ctx).await?;
        }
        Ok(())
    }

    /// Applies one prepared object after checking that it is ours to write.
    pub async fn apply_owned(
        &mut self,
        obj: &Value,
        ctx: &ReleaseContext,
    ) -> Result<Value, ApplyError> {
        let id = ResourceId::of(obj).ok_or(ApplyError::Incomplete { index: 0 })?;
        let live = self.get(&id).await?;
        if let Some(live) = &live {
            if let Some(owner) = foreign_owner(live, ctx) {
                if !ctx.take_ownership {
                    return Err(ApplyError::OwnedElsewhere { id, owner });
                }
                tracing::info!(resource = %id, %owner, "taking ownership as the bundle asks");
            }
        }
        // Conflicts are forced only once ownership is settled: the object is new, already
        // ours, or the bundle asked to adopt it.
        self.server_side_apply(&id, obj, true).await
    }

    /// Re-applies one of this release's own objects (drift correction), taking back the
    /// fields someone else changed.
    pub async fn reapply(&mut self, obj: &Value) -> Result<Value, ApplyError> {
        let id = ResourceId::of(obj).ok_or(ApplyError::Incomplete { index: 0 })?;
        self.server_side_apply(&id, obj, true).await
    }

    async fn server_side_apply(
        &mut self,
        id: &ResourceId,
        obj: &Value,
        force: bool,
    ) -> Result<Value, ApplyError> {
        let api = self.api_for(id).await?;
        let patch = Patch::Apply(obj);
        let mut params = PatchParams::apply(FIELD_MANAGER);
        if force {
            params = params.force();
        }
        let applied = crate::transient::retry("apply", || api.patch(&id.name, &params, &patch))
            .await
            .map_err(|source| ApplyError::Apply {
                id: id.clone(),
                source,
            })?;
        serde_json::to_value(applied).map_err(|e| ApplyError::Apply {
            id: id.clone(),
            source: kube::Error::SerdeError(e),
        })
    }

    /// The live object, `None` when it does not exist (or its kind is not served).
    pub async fn get(&mut self, id: &ResourceId) -> Result<Option<Value>, ApplyError> {
        let api = match self.api_for(id).await {
            Ok(api) => api,
            Err(ApplyError::Discovery(DiscoveryError::UnknownKind { .. })) => return Ok(None),
            Err(e) => return Err(e),
        };
        match crate::transient::retry("get", || api.get_opt(&id.name)).await {
            Ok(Some(obj)) => serde_json::to_value(obj)
                .map(Some)
                .map_err(|e| ApplyError::Get {
                    id: id.clone(),
                    source: kube::Error::SerdeError(e),
                }),
            Ok(None) => Ok(None),
            Err(source) => Err(ApplyError::Get {
                id: id.clone(),
                source,
            }),
        }
    }

    /// Deletes an object (background propagation); a missing object is not an error.
    pub async fn delete(&mut self, id: &ResourceId) -> Result<(), ApplyError> {
        let api = match self.api_for(id).await {
            Ok(api) => api,
            Err(ApplyError::Discovery(DiscoveryError::UnknownKind { .. })) => return Ok(()),
            Err(e) => return Err(e),
        };
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        match crate::transient::retry("delete", || api.delete(&id.name, &params)).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(source) => Err(ApplyError::Delete {
                id: id.clone(),
                source,
            }),
        }
    }

    /// Whether `id`'s kind is namespaced (asks discovery).
    pub async fn kind(&mut self, id: &ResourceId) -> Result<Kind, ApplyError> {
        Ok(self.kinds.resolve(&self.client, id).await?)
    }

    async fn api_for(&mut self, id: &ResourceId) -> Result<Api<DynamicObject>, ApplyError> {
        let kind = self.kinds.resolve(&self.client, id).await?;
        Ok(if kind.namespaced {
            Api::namespaced_with(self.client.clone(), &id.namespace, &kind.resource)
        } else {
            Api::all_with(self.client.clone(), &kind.resource)
        })
    }

    /// Polls the CRD until its `Established` condition is `True`.
    async fn wait_established(&mut self, name: &str) -> Result<(), ApplyError> {
        let id = ResourceId {
            api_version: "apiextensions.k8s.io/v1".into(),
            kind: "CustomResourceDefinition".into(),
            namespace: String::new(),
            name: name.to_string(),
        };
        let deadline = tokio::time::Instant::now() + self.crd_timeout;
        let mut delay = Duration::from_millis(50);
        loop {
            if let Some(crd) = self.get(&id).await? {
                if crate::health::condition_is(&crd, "Established", "True") {
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ApplyError::CrdNotEstablished {
                    name: name.to_string(),
                    seconds: self.crd_timeout.as_secs(),
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(1));
        }
    }
}

/// Who owns `live` if it is not this release: the other release, or "no Helm release".
fn foreign_owner(live: &Value, ctx: &ReleaseContext) -> Option<String> {
    let name = resource::annotation(live, RELEASE_NAME_ANNOTATION);
    let namespace = resource::annotation(live, RELEASE_NAMESPACE_ANNOTATION);
    match (name, namespace) {
        (Some(n), Some(ns)) if n == ctx.release_name && ns == ctx.release_namespace => None,
        (Some(n), Some(ns)) => Some(format!("Helm release {ns}/{n}")),
        _ => Some("no Helm release (created by another tool)".to_string()),
    }
}

fn is_crd(obj: &Value) -> bool {
    obj.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition")
}

/// `(group, kind) -> namespaced` for the CRDs among `objects`.
fn crd_scopes(objects: &[Value]) -> HashMap<(String, String), bool> {
    objects
        .iter()
        .filter(|o| is_crd(o))
        .filter_map(|crd| {
            let group = crd.pointer("/spec/group")?.as_str()?.to_string();
            let kind = crd.pointer("/spec/names/kind")?.as_str()?.to_string();
            let namespaced = crd.pointer("/spec/scope").and_then(Value::as_str) != Some("Cluster");
            Some(((group, kind), namespaced))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_is_read_from_helm_annotations() {
        let ctx = ReleaseContext {
            release_name: "web".into(),
            release_namespace: "fleet-system".into(),
            ..Default::default()
        };
        let ours = json!({"metadata": {"annotations": {
            RELEASE_NAME_ANNOTATION: "web", RELEASE_NAMESPACE_ANNOTATION: "fleet-system"}}});
        assert_eq!(foreign_owner(&ours, &ctx), None);
        let theirs = json!({"metadata": {"annotations": {
            RELEASE_NAME_ANNOTATION: "db", RELEASE_NAMESPACE_ANNOTATION: "fleet-system"}}});
        assert_eq!(
            foreign_owner(&theirs, &ctx).unwrap(),
            "Helm release fleet-system/db"
        );
        assert!(foreign_owner(&json!({"metadata": {}}), &ctx)
            .unwrap()
            .contains("another tool"));
    }

    #[test]
    fn crd_scopes_come_from_the_bundle() {
        let objects = vec![
            json!({"kind": "CustomResourceDefinition", "spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget"}}}),
            json!({"kind": "CustomResourceDefinition", "spec": {"group": "example.com", "scope": "Cluster", "names": {"kind": "Gadget"}}}),
        ];
        let scopes = crd_scopes(&objects);
        assert!(scopes[&("example.com".to_string(), "Widget".to_string())]);
        assert!(!scopes[&("example.com".to_string(), "Gadget".to_string())]);
    }
}
