//! Which kinds the cluster serves and whether they are namespaced, learnt lazily per kind
//! and looked up again when a kind is unknown (a CRD of the same bundle just became
//! Established), so the agent never holds the whole discovery document.

use std::collections::HashMap;

use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{pinned_kind, Scope};
use kube::Client;

use crate::resource::ResourceId;

/// Errors of discovery.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("the cluster does not serve {api_version} {kind} (is its CRD installed?)")]
    UnknownKind { api_version: String, kind: String },
    #[error("discovery of {api_version} {kind} failed: {source}")]
    Query {
        api_version: String,
        kind: String,
        #[source]
        source: kube::Error,
    },
}

/// What the agent needs to know about a kind.
#[derive(Debug, Clone)]
pub struct Kind {
    pub resource: ApiResource,
    pub namespaced: bool,
}

/// A per-kind discovery cache. Only kinds the bundles use are ever looked up.
#[derive(Debug, Default)]
pub struct KindCache {
    kinds: HashMap<(String, String), Kind>,
}

impl KindCache {
    /// The kind of `id`, asking the API server on a miss.
    pub async fn resolve(
        &mut self,
        client: &Client,
        id: &ResourceId,
    ) -> Result<Kind, DiscoveryError> {
        let key = (id.api_version.clone(), id.kind.clone());
        if let Some(kind) = self.kinds.get(&key) {
            return Ok(kind.clone());
        }
        let gvk: GroupVersionKind = id.gvk();
        let (resource, caps) = pinned_kind(client, &gvk)
            .await
            .map_err(|source| match &source {
                kube::Error::Api(status) if status.code == 404 => DiscoveryError::UnknownKind {
                    api_version: id.api_version.clone(),
                    kind: id.kind.clone(),
                },
                kube::Error::Discovery(_) => DiscoveryError::UnknownKind {
                    api_version: id.api_version.clone(),
                    kind: id.kind.clone(),
                },
                _ => DiscoveryError::Query {
                    api_version: id.api_version.clone(),
                    kind: id.kind.clone(),
                    source,
                },
            })?;
        let kind = Kind {
            resource,
            namespaced: caps.scope == Scope::Namespaced,
        };
        self.kinds.insert(key, kind.clone());
        Ok(kind)
    }

    /// Forgets every kind of `group` (a CRD of that group changed), so the next lookup
    /// asks the server again.
    pub fn forget_group(&mut self, group: &str) {
        self.kinds.retain(|(api_version, _), _| {
            api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("") != group
        });
    }
}
