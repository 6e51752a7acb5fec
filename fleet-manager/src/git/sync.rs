//! One GitRepo commit → bundles in the store: scan the checkout with fleet-bundle, store
//! each bundle's content once by sha256, start rollouts for changed bundles, keep the
//! previous good version of bundles that fail to build, and drop bundles that are gone.

use std::path::PathBuf;
use std::sync::Arc;

use fleet_bundle::bundle::BundleTargetRestriction;
use fleet_bundle::scan::{ScanError, ScanOptions};

use crate::manager::Manager;
use crate::resources::GitRepoSpec;
use crate::store::{BundleRecord, StoreError};

/// Why a commit could not be synced at all (per-bundle problems are in [`SyncOutcome`]).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("scanning the commit: {0}")]
    Scan(#[from] ScanError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("scan task failed: {0}")]
    Task(String),
}

/// What a sync did.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncOutcome {
    pub bundles: Vec<String>,
    /// Bundles that failed to build, with why (their previous version stays deployed).
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

/// One commit of one GitRepo, checked out, to turn into bundles.
pub struct SyncRequest<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub labels: &'a std::collections::BTreeMap<String, String>,
    pub spec: &'a GitRepoSpec,
    pub commit: &'a str,
    pub checkout: PathBuf,
    /// The opened `helmSecretName` secret, for chart repositories.
    pub helm_credentials: Option<crate::resources::SecretData>,
}

/// Builds the bundles of the checkout (the GitRepo `namespace/name` at `commit`) and
/// stores them, then reloads targeting.
pub async fn sync_commit(
    manager: &Arc<Manager>,
    req: SyncRequest<'_>,
) -> Result<SyncOutcome, SyncError> {
    let SyncRequest {
        namespace,
        name,
        labels,
        spec,
        commit,
        checkout,
        helm_credentials,
    } = req;
    let gitrepo_targets: Vec<BundleTargetRestriction> = spec
        .targets
        .iter()
        .map(|t| BundleTargetRestriction {
            name: t.name.clone(),
            cluster_name: t.cluster_name.clone(),
            cluster_selector: t.cluster_selector.clone(),
            cluster_group: t.cluster_group.clone(),
            cluster_group_selector: t.cluster_group_selector.clone(),
        })
        .collect();
    let repo_name = name.to_string();
    let ns = namespace.to_string();
    let opts_paths = spec.paths.clone();
    let mut bundle_labels = labels.clone();
    bundle_labels.insert("fleet.cattle.io/repo-name".into(), name.to_string());
    let commit_s = commit.to_string();
    let spec_c = spec.clone();
    let chart_cache = manager.config.data_dir.join("charts");
    let outcome = tokio::task::spawn_blocking(move || {
        // Charts named by `helm.repo`, chart URLs and OCI references are downloaded at
        // scan time (digest-verified, cached), so agents get self-contained bundles.
        let mut charts = fleet_bundle::chart_source::HelmRepoChartSource::new(chart_cache);
        // `helmSecretName`: Fleet's keys for chart repository credentials.
        if let Some(secret) = &helm_credentials {
            charts.options.username = secret.data.get("username").cloned();
            charts.options.password = secret.data.get("password").cloned();
            charts.options.ca_pem = secret.data.get("cacerts").map(|c| c.clone().into_bytes());
        }
        let opts = ScanOptions {
            repo_name,
            namespace: ns,
            paths: opts_paths,
            gitrepo_targets: Some(gitrepo_targets),
            labels: bundle_labels,
            commit: commit_s,
            target_namespace: spec_c.target_namespace.clone(),
            service_account: spec_c.service_account.clone(),
            paused: spec_c.paused,
            keep_resources: spec_c.keep_resources,
            delete_namespace: spec_c.delete_namespace,
            correct_drift: spec_c.correct_drift.clone(),
            sync_generation: spec_c.force_sync_generation,
            charts: &charts,
            ..Default::default()
        };
        fleet_bundle::scan::scan(&checkout, &opts)
    })
    .await
    .map_err(|e| SyncError::Task(e.to_string()))??;

    let existing: Vec<BundleRecord> = manager
        .store
        .list_bundles(Some(namespace))
        .await?
        .into_iter()
        .filter(|b| b.gitrepo == name)
        .collect();
    let mut result = SyncOutcome {
        warnings: outcome.warnings.iter().map(ToString::to_string).collect(),
        ..Default::default()
    };
    let mut seen = std::collections::BTreeSet::new();
    for bundle in outcome.bundles {
        let (bytes, digest) = fleet_bundle::digest::content_blob(&bundle.spec.resources);
        manager.store.put_content(&digest, bytes).await?;
        let mut spec = bundle.spec;
        spec.resources.clear();
        let old = existing.iter().find(|b| b.name == bundle.metadata.name);
        let mut record = BundleRecord {
            namespace: namespace.to_string(),
            name: bundle.metadata.name.clone(),
            gitrepo: name.to_string(),
            spec,
            labels: bundle.metadata.labels,
            content_digest: digest,
            commit: commit.to_string(),
            error: String::new(),
            rollout: None,
        };
        record.rollout = manager.next_rollout(old, &record);
        if old != Some(&record) {
            manager.store.put_bundle(&record).await?;
        }
        seen.insert(record.name.clone());
        result.bundles.push(record.name);
    }
    for e in &outcome.errors {
        let bundle_name = fleet_bundle::naming::bundle_name(name, &e.path);
        let message = e.to_string();
        tracing::warn!(gitrepo = %name, bundle = %bundle_name, error = %message, "bundle failed to build; keeping its previous version");
        manager
            .metrics
            .git_sync_errors
            .with_label_values(&["bundle"])
            .inc();
        let mut record = existing
            .iter()
            .find(|b| b.name == bundle_name)
            .cloned()
            .unwrap_or_else(|| BundleRecord {
                namespace: namespace.to_string(),
                name: bundle_name.clone(),
                gitrepo: name.to_string(),
                ..Default::default()
            });
        if record.error != message {
            record.error = message.clone();
            manager.store.put_bundle(&record).await?;
        }
        seen.insert(bundle_name);
        result.errors.push(message);
    }
    for old in &existing {
        if !seen.contains(&old.name) {
            tracing::info!(gitrepo = %name, bundle = %old.name, "bundle removed from the repository");
            manager.store.delete_bundle(namespace, &old.name).await?;
        }
    }
    manager.reload().await?;
    manager.rollout_wake.notify_one();
    Ok(result)
}
