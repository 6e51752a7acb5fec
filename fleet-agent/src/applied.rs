//! What the agent applied for one bundle: the record that lets it prune, detect drift and
//! resume after a restart without re-applying an unchanged bundle.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::resource::ResourceId;

/// One bundle as last applied on this cluster, kept in the state dir (never all bundles'
/// objects in memory at once).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedBundle {
    pub namespace: String,
    pub bundle: String,
    #[serde(rename = "deploymentID")]
    pub deployment_id: String,
    /// Helm release name and the namespace holding its records.
    pub release_name: String,
    pub release_namespace: String,
    /// The Helm release revision written for this deploymentID.
    pub revision: u32,
    /// [`crate::release::digest`] of that revision (chart and values), to tell a record
    /// rewritten by someone else; empty in records written before it was kept.
    #[serde(default)]
    pub release_digest: String,
    /// The objects exactly as sent with server-side apply (hooks excluded).
    pub objects: Vec<Value>,
    /// Whether the previous release is kept when the bundle goes away.
    #[serde(default)]
    pub keep_resources: bool,
    /// Where namespaced objects naming none went (`defaultNamespace`, else `default`), so
    /// the delete hooks read back from the release record at uninstall land where the
    /// install put the release. Empty in records written before hooks were recorded raw.
    #[serde(default)]
    pub default_namespace: String,
    /// The bundle's forced `namespace:` (target namespace), for the same reason.
    #[serde(default)]
    pub target_namespace: String,
}

impl AppliedBundle {
    /// Identities of the applied objects.
    pub fn ids(&self) -> Vec<ResourceId> {
        self.objects.iter().filter_map(ResourceId::of).collect()
    }

    /// The applied object with identity `id`.
    pub fn object(&self, id: &ResourceId) -> Option<&Value> {
        self.objects
            .iter()
            .find(|o| ResourceId::of(o).as_ref() == Some(id))
    }
}
