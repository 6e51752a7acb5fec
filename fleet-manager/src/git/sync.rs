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
    #[error("bundle base and/or options paths contain all possible characters from {DRIVEN_SCAN_SEPARATORS:?}, please update those paths to remedy this")]
    NoDrivenScanSeparator,
}

/// The separators Fleet's GitRepo job tries, in order, between a `spec.bundles` entry's
/// base and options (internal/cmd/controller/gitops/reconciler/gitjob.go).
const DRIVEN_SCAN_SEPARATORS: &str = ":,|?<>";

/// The driven-scan paths of `spec.bundles` and the separator they use: the first of
/// [`DRIVEN_SCAN_SEPARATORS`] that no base or options path contains (Fleet's
/// `getDrivenScanSeparator`). `None` when the GitRepo has no `bundles`.
pub fn driven_paths(spec: &GitRepoSpec) -> Result<Option<(Vec<String>, String)>, SyncError> {
    if spec.bundles.is_empty() {
        return Ok(None);
    }
    let sep = DRIVEN_SCAN_SEPARATORS
        .chars()
        .find(|c| {
            !spec
                .bundles
                .iter()
                .any(|b| b.base.contains(*c) || b.options.contains(*c))
        })
        .ok_or(SyncError::NoDrivenScanSeparator)?
        .to_string();
    let paths = spec
        .bundles
        .iter()
        .map(|b| {
            if b.options.is_empty() {
                b.base.clone()
            } else {
                format!("{}{sep}{}", b.base, b.options)
            }
        })
        .collect();
    Ok(Some((paths, sep)))
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
    let driven = driven_paths(spec)?;
    let opts_paths = match &driven {
        Some((paths, _)) => paths.clone(),
        None => spec.paths.clone(),
    };
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
            driven_scan: driven.is_some(),
            driven_scan_separator: driven.map(|(_, sep)| sep).unwrap_or_default(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::BundlePath;

    // Fleet: internal/cmd/controller/gitops/reconciler/gitjob.go `getDrivenScanSeparator`
    // and gitjob_test.go `TestDrivenScanSeparator`: the first separator of ":,|?<>" that
    // no path uses joins base and options; none left is an error.
    #[test]
    fn spec_bundles_become_driven_scan_paths() {
        let spec = |bundles: &[(&str, &str)]| GitRepoSpec {
            bundles: bundles
                .iter()
                .map(|(base, options)| BundlePath {
                    base: base.to_string(),
                    options: options.to_string(),
                })
                .collect(),
            ..GitRepoSpec::default()
        };
        assert!(driven_paths(&GitRepoSpec::default()).unwrap().is_none());
        let (paths, sep) = driven_paths(&spec(&[("k", "dev.yaml"), ("simple", "")]))
            .unwrap()
            .unwrap();
        assert_eq!(
            (paths, sep.as_str()),
            (vec!["k:dev.yaml".to_string(), "simple".to_string()], ":")
        );
        let (paths, sep) = driven_paths(&spec(&[("a:b", "c,d.yaml")]))
            .unwrap()
            .unwrap();
        assert_eq!(
            (paths, sep.as_str()),
            (vec!["a:b|c,d.yaml".to_string()], "|")
        );
        assert!(matches!(
            driven_paths(&spec(&[(":,|?<>", "")])),
            Err(SyncError::NoDrivenScanSeparator)
        ));

        // The paths scan as Fleet's job scans them: one bundle each.
        let tmp = tempfile::tempdir().unwrap();
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";
        for (name, text) in [
            ("k/cm.yaml", cm),
            ("k/dev.yaml", "namespace: dev\n"),
            ("simple/cm.yaml", cm),
        ] {
            let path = tmp.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let (paths, sep) = driven_paths(&spec(&[("k", "dev.yaml"), ("simple", "")]))
            .unwrap()
            .unwrap();
        let opts = ScanOptions {
            repo_name: "repo".into(),
            paths,
            driven_scan: true,
            driven_scan_separator: sep,
            ..ScanOptions::default()
        };
        let out = fleet_bundle::scan::scan(tmp.path(), &opts).unwrap();
        let names: Vec<&str> = out
            .bundles
            .iter()
            .map(|b| b.metadata.name.as_str())
            .collect();
        assert_eq!(names, ["repo-k-dev", "repo-simple"]);
        assert_eq!(out.bundles[0].spec.options.target_namespace, "dev");
    }
}
