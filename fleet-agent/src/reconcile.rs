//! Reconciling one cluster: for every BundleDeployment, apply it as a new Helm release
//! revision when its deploymentID changed, otherwise check it for drift and readiness;
//! uninstall the releases of bundles no longer targeted.
//!
//! Only one bundle's rendered objects are in memory at a time: what was applied is read
//! back from the state dir per bundle.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use chrono::Utc;
use fleet_bundle::deployment::{
    BundleDeployment, BundleDeploymentStatus, BundleState, DesiredState, ModifiedResource,
    ResourceStatus,
};
use serde_json::Value;

use crate::applied::AppliedBundle;
use crate::apply::hooks::{self, Hook, HookEvent};
use crate::apply::{
    order, Applier, ApplyError, NamespacePolicy, ReleaseContext, RESOURCE_POLICY_ANNOTATION,
};
use crate::backoff::Backoff;
use crate::cache::{sha256_hex, StateDir};
use crate::health::{self, HealthOptions, Readiness};
use crate::release::{
    self, Chart, HookRecord, Info, Release, ReleaseError, ReleaseStatus, ReleaseStore,
};
use crate::render::{self, RenderError};
use crate::resource::{self, ResourceId};
use crate::status::SharedStatus;
use crate::{depends, drift};

/// Errors of deploying one bundle.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("bundle content {digest} is not available yet")]
    ContentMissing { digest: String },
    #[error("cannot read bundle content from the state dir: {0}")]
    Cache(#[from] crate::cache::CacheError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error(transparent)]
    Release(#[from] ReleaseError),
    #[error("release name {release} in {namespace} is in use by bundle {owner}: bundle {bundle} is refused (give it another helm.releaseName)")]
    NameInUse {
        release: String,
        namespace: String,
        owner: String,
        bundle: String,
    },
}

/// Settings of the reconciler that do not change while the agent runs.
#[derive(Debug, Clone)]
pub struct ReconcileSettings {
    pub release_namespace: String,
    /// Agent-wide namespace restriction (issue: hostile bundles).
    pub allowed_namespaces: Vec<String>,
    pub allow_cluster_scoped: bool,
    /// How long hooks may run when the bundle sets no `helm.timeoutSec`.
    pub hook_timeout: Duration,
    /// Retry delays after a failed deploy.
    pub retry_base: Duration,
    pub retry_max: Duration,
}

/// A failed deploy waiting for its retry.
struct Retry {
    deployment_id: String,
    backoff: Backoff,
    not_before: tokio::time::Instant,
    message: String,
}

/// The reconciler: owns the applier and the release store.
pub struct Reconciler {
    applier: Applier,
    releases: ReleaseStore,
    state: StateDir,
    settings: ReconcileSettings,
    retries: HashMap<(String, String), Retry>,
    metrics: Option<crate::metrics::Metrics>,
    /// Kinds seen among applied objects, and those not yet handed to the watches.
    seen_kinds: BTreeSet<(String, String)>,
    new_kinds: Vec<kube::core::ApiResource>,
    /// Whether the release namespace is known to exist.
    release_namespace_ready: bool,
    /// Per bundle: the out-of-band change last undone for its current deploymentID.
    repairs: HashMap<(String, String), (String, String)>,
    drift_log: drift::DriftLog,
}

/// The label value grouping one BundleDeployment's objects (as Fleet's set hash).
pub fn set_hash(namespace: &str, bundle: &str) -> String {
    sha256_hex(format!("{namespace}/{bundle}").as_bytes())[..40].to_string()
}

impl Reconciler {
    /// A reconciler applying with `applier`, recording releases in `releases`.
    pub fn new(
        applier: Applier,
        releases: ReleaseStore,
        state: StateDir,
        settings: ReconcileSettings,
    ) -> Reconciler {
        Reconciler {
            applier,
            releases,
            state,
            settings,
            retries: HashMap::new(),
            metrics: None,
            seen_kinds: BTreeSet::new(),
            new_kinds: Vec::new(),
            release_namespace_ready: false,
            repairs: HashMap::new(),
            drift_log: drift::DriftLog::default(),
        }
    }

    /// Counts applies, errors and drift corrections in `metrics`.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Reconciler {
        self.metrics = Some(metrics);
        self
    }

    /// The applier (for watches that need its client).
    pub fn applier(&mut self) -> &mut Applier {
        &mut self.applier
    }

    /// Kinds of applied objects first seen since the last call, to watch them.
    pub fn take_new_kinds(&mut self) -> Vec<kube::core::ApiResource> {
        std::mem::take(&mut self.new_kinds)
    }

    /// When the earliest failed deploy may be retried.
    pub fn next_retry(&self) -> Option<tokio::time::Instant> {
        self.retries.values().map(|r| r.not_before).min()
    }

    /// Reconciles every bundle of `desired` (or only those whose set hash is in `only`),
    /// then uninstalls bundles no longer desired. Statuses go into `book`.
    pub async fn reconcile(
        &mut self,
        desired: &DesiredState,
        only: Option<&BTreeSet<String>>,
        book: &SharedStatus,
    ) {
        for index in depends::dependency_order(&desired.deployments) {
            let deployment = &desired.deployments[index];
            if let Some(only) = only {
                // Waiting bundles are looked at too: the change may be their dependency
                // becoming Ready.
                let waiting = book
                    .lock()
                    .get(&deployment.namespace, &deployment.bundle)
                    .is_none_or(|s| s.state == BundleState::Pending);
                if !waiting && !only.contains(&set_hash(&deployment.namespace, &deployment.bundle))
                {
                    continue;
                }
            }
            let status = self.reconcile_bundle(deployment, desired, book).await;
            book.set(status);
        }
        if only.is_some() {
            return;
        }
        let wanted: BTreeSet<(String, String)> = desired
            .deployments
            .iter()
            .map(|d| (d.namespace.clone(), d.bundle.clone()))
            .collect();
        for (namespace, bundle) in self.state.applied_bundles() {
            if wanted.contains(&(namespace.clone(), bundle.clone())) {
                continue;
            }
            match self.uninstall(&namespace, &bundle).await {
                Ok(()) => book.remove(&namespace, &bundle),
                Err(e) => {
                    tracing::warn!(bundle = %bundle, namespace = %namespace, error = %e, "uninstall failed; will retry")
                }
            }
        }
    }

    /// The status of one bundle after applying or checking it.
    async fn reconcile_bundle(
        &mut self,
        deployment: &BundleDeployment,
        desired: &DesiredState,
        book: &SharedStatus,
    ) -> BundleDeploymentStatus {
        let key = (deployment.namespace.clone(), deployment.bundle.clone());
        let applied = self
            .state
            .applied(&deployment.namespace, &deployment.bundle);
        let applied_id = applied
            .as_ref()
            .map(|a| a.deployment_id.clone())
            .unwrap_or_default();
        let mut status = BundleDeploymentStatus {
            bundle: deployment.bundle.clone(),
            namespace: deployment.namespace.clone(),
            deployment_id: deployment.deployment_id.clone(),
            applied_deployment_id: applied_id.clone(),
            state: BundleState::WaitApplied,
            message: String::new(),
            non_ready: vec![],
            modified: vec![],
            release: applied
                .as_ref()
                .map(|a| format!("{}/{}:{}", a.release_namespace, a.release_name, a.revision))
                .unwrap_or_default(),
            sequence: 0,
        };
        if applied_id != deployment.deployment_id {
            if deployment.paused {
                status.state = BundleState::Pending;
                status.message = "paused".into();
                return status;
            }
            let blocked = depends::blocking_dependency(deployment, &book.lock());
            if let Some(reason) = blocked {
                status.state = BundleState::Pending;
                status.message = reason;
                return status;
            }
            if let Some(retry) = self.retries.get(&key) {
                if retry.deployment_id == deployment.deployment_id
                    && tokio::time::Instant::now() < retry.not_before
                {
                    status.state = BundleState::ErrApplied;
                    status.message = retry.message.clone();
                    return status;
                }
            }
            match self
                .deploy(deployment, desired, applied.as_ref(), None)
                .await
            {
                Ok(new_applied) => {
                    self.retries.remove(&key);
                    if let Some(m) = &self.metrics {
                        m.applies.inc();
                    }
                    status.applied_deployment_id = new_applied.deployment_id.clone();
                    status.release = format!(
                        "{}/{}:{}",
                        new_applied.release_namespace,
                        new_applied.release_name,
                        new_applied.revision
                    );
                    self.check(deployment, &new_applied, &mut status).await;
                }
                Err(DeployError::ContentMissing { digest }) => {
                    status.state = BundleState::WaitApplied;
                    status.message = format!("waiting for bundle content {digest}");
                }
                Err(e) => {
                    let message = e.to_string();
                    tracing::warn!(bundle = %deployment.bundle, error = %message, "deploy failed");
                    if let Some(m) = &self.metrics {
                        m.apply_errors.inc();
                    }
                    let retry = self.retries.entry(key).or_insert_with(|| Retry {
                        deployment_id: deployment.deployment_id.clone(),
                        backoff: Backoff::new(self.settings.retry_base, self.settings.retry_max),
                        not_before: tokio::time::Instant::now(),
                        message: String::new(),
                    });
                    if retry.deployment_id != deployment.deployment_id {
                        retry.deployment_id = deployment.deployment_id.clone();
                        retry.backoff.reset();
                    }
                    retry.not_before = tokio::time::Instant::now() + retry.backoff.next_delay();
                    retry.message = message.clone();
                    status.state = BundleState::ErrApplied;
                    status.message = message;
                }
            }
            return status;
        }
        if let Some(mut applied) = applied {
            if let Some(applied_again) = self.repair(deployment, desired, &applied).await {
                applied = applied_again;
                status.release = format!(
                    "{}/{}:{}",
                    applied.release_namespace, applied.release_name, applied.revision
                );
            }
            self.check(deployment, &applied, &mut status).await;
            if let Some((id, note)) = self.repairs.get(&key) {
                if *id == deployment.deployment_id {
                    if !status.message.is_empty() {
                        status.message.push_str("; ");
                    }
                    status.message.push_str(note);
                }
            }
        }
        status
    }

    /// When the newest release record is not the one this agent wrote (a person's
    /// `helm upgrade`, `rollback` or `uninstall`, or a failed revision), puts the cluster
    /// back by deploying the bundle again as a new revision whose description says what
    /// was undone; returns the new applied record.
    async fn repair(
        &mut self,
        deployment: &BundleDeployment,
        desired: &DesiredState,
        applied: &AppliedBundle,
    ) -> Option<AppliedBundle> {
        let history = match self.releases.history(&applied.release_name).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(bundle = %deployment.bundle, error = %e, "cannot read the release records");
                return None;
            }
        };
        let ours = (deployment.namespace.clone(), deployment.bundle.clone());
        if history.owner.as_ref().is_some_and(|o| *o != ours) {
            return None;
        }
        let what = out_of_band(&history, applied)?;
        let note = format!(
            "undid an out-of-band change of release {}: {what}",
            applied.release_name
        );
        tracing::info!(bundle = %deployment.bundle, "{note}");
        match self
            .deploy(deployment, desired, Some(applied), Some(&note))
            .await
        {
            Ok(again) => {
                let note = format!("{note}; revision {} restores it", again.revision);
                self.repairs
                    .insert(ours, (deployment.deployment_id.clone(), note));
                Some(again)
            }
            Err(e) => {
                tracing::warn!(bundle = %deployment.bundle, error = %e, "cannot undo the out-of-band change");
                None
            }
        }
    }

    fn context(&self, deployment: &BundleDeployment, release_name: &str) -> ReleaseContext {
        let options = &deployment.options;
        let helm = options.helm.as_ref();
        ReleaseContext {
            release_name: release_name.to_string(),
            release_namespace: self.settings.release_namespace.clone(),
            default_namespace: if options.default_namespace.is_empty() {
                "default".to_string()
            } else {
                options.default_namespace.clone()
            },
            set_hash: set_hash(&deployment.namespace, &deployment.bundle),
            take_ownership: helm.is_some_and(|h| h.take_ownership || h.force),
            keep_crds: !options.delete_crd_resources,
            policy: NamespacePolicy {
                target_namespace: options.target_namespace.clone(),
                allowed_namespaces: self.settings.allowed_namespaces.clone(),
                allow_cluster_scoped: self.settings.allow_cluster_scoped,
            },
        }
    }

    fn hook_timeout(&self, deployment: &BundleDeployment) -> Duration {
        deployment
            .options
            .helm
            .as_ref()
            .and_then(|h| u64::try_from(h.timeout_seconds).ok())
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
            .unwrap_or(self.settings.hook_timeout)
    }

    /// Applies a new deploymentID as a new release revision.
    ///
    /// 1. render and prepare (namespaces, policy, ownership metadata);
    /// 2. record the revision as pending, run pre hooks, apply, prune what the previous
    ///    revision had and this one does not (unless `keepResources`), run post hooks;
    /// 3. record it deployed (older revisions superseded and trimmed), or failed.
    async fn deploy(
        &mut self,
        deployment: &BundleDeployment,
        desired: &DesiredState,
        previous: Option<&AppliedBundle>,
        repair: Option<&str>,
    ) -> Result<AppliedBundle, DeployError> {
        let bytes = self
            .state
            .content(&deployment.content_digest)?
            .ok_or_else(|| DeployError::ContentMissing {
                digest: deployment.content_digest.clone(),
            })?;
        let content = render::parse_content(&bytes)?;
        drop(bytes);
        let scratch = self.state.root().join("render");
        let rendered = render::render(&content, deployment, desired, &scratch)?;
        let release_name = rendered.release_name.clone();
        drop(content);
        let (documents, mut hooks) = hooks::split_hooks(rendered.documents);
        // The chart's own hooks first, in the Helm renderer's kind order; the order among
        // hooks of one event is settled by weight and name when they run.
        let chart_hooks: Vec<Hook> = rendered
            .chart_hooks
            .iter()
            .filter_map(|h| Hook::from_rendered(&h.object, &h.path, h.manifest.clone()))
            .collect();
        hooks.splice(0..0, chart_hooks);
        let ctx = self.context(deployment, &release_name);
        let (paths, objects): (Vec<String>, Vec<Value>) = documents.into_iter().unzip();
        let prepared = self.applier.prepare(objects, &ctx).await?;
        // Hooks are prepared (and so checked against the policy) before anything is written.
        for hook in &mut hooks {
            let index = 0;
            let prepared = self
                .applier
                .prepare(vec![hook.object.clone()], &ctx)
                .await?
                .pop()
                .ok_or(ApplyError::Incomplete { index })?;
            hook.id = ResourceId::of(&prepared).ok_or(ApplyError::Incomplete { index })?;
            hook.object = prepared;
        }
        let mut manifest_docs: Vec<(String, Value)> = paths.into_iter().zip(prepared).collect();
        manifest_docs.sort_by_key(|(_, o)| {
            order::install_rank(o.get("kind").and_then(Value::as_str).unwrap_or_default())
        });

        // Hooks count: a pre-install hook may be the first object in its namespace.
        let placed: Vec<&Value> = manifest_docs
            .iter()
            .map(|(_, o)| o)
            .chain(hooks.iter().map(|h| &h.object))
            .collect();
        self.ensure_namespaces(deployment, &ctx, &placed).await?;

        if !self.release_namespace_ready {
            // The release records' namespace (fleet-system) is the agent's own; create it
            // on a fresh cluster.
            let id = ResourceId {
                api_version: "v1".into(),
                kind: "Namespace".into(),
                namespace: String::new(),
                name: self.settings.release_namespace.clone(),
            };
            if self.applier.get(&id).await?.is_none() {
                self.applier
                    .ensure_namespace(
                        &self.settings.release_namespace,
                        &BTreeMap::new(),
                        &BTreeMap::new(),
                    )
                    .await?;
            }
            self.release_namespace_ready = true;
        }
        let history = self.releases.history(&release_name).await?;
        if let Some((namespace, bundle)) = &history.owner {
            if (namespace, bundle) != (&deployment.namespace, &deployment.bundle) {
                return Err(DeployError::NameInUse {
                    release: release_name,
                    namespace: self.settings.release_namespace.clone(),
                    owner: format!("{namespace}/{bundle}"),
                    bundle: format!("{}/{}", deployment.namespace, deployment.bundle),
                });
            }
        }
        let upgrade = history.last_revision > 0;
        let now = Utc::now();
        let mut release = Release {
            name: release_name.clone(),
            info: Info {
                first_deployed: history
                    .releases
                    .first()
                    .map(|r| r.info.first_deployed)
                    .unwrap_or(now),
                last_deployed: now,
                deleted: None,
                description: if upgrade {
                    "Preparing upgrade"
                } else {
                    "Initial install underway"
                }
                .into(),
                status: if upgrade {
                    ReleaseStatus::PendingUpgrade
                } else {
                    ReleaseStatus::PendingInstall
                },
                notes: rendered.notes.clone(),
                extra: Default::default(),
            },
            chart: Chart {
                metadata: rendered.chart.clone(),
                lock: Value::Null,
                // Hook templates are the chart's templates too.
                templates: release::templates_for(
                    manifest_docs
                        .iter()
                        .map(|(p, o)| (p.as_str(), o))
                        .chain(hooks.iter().map(|h| (h.path.as_str(), &h.object))),
                    &rendered.chart.name,
                ),
                values: rendered.chart_values.clone(),
                schema: Value::Null,
                schemamodtime: release::zero_time(),
                files: vec![],
                modtime: now,
                extra: Default::default(),
            },
            config: rendered.config.clone(),
            manifest: release::manifest_text(&manifest_docs),
            hooks: hooks.iter().map(HookRecord::of).collect(),
            version: 0,
            namespace: self.settings.release_namespace.clone(),
            apply_method: "ssa".into(),
            extra: Default::default(),
        };
        self.releases
            .create_revision(
                &mut release,
                &history,
                (&deployment.namespace, &deployment.bundle),
            )
            .await?;
        let revision = release.version;

        let objects: Vec<Value> = manifest_docs.into_iter().map(|(_, o)| o).collect();
        let outcome = self
            .apply_revision(deployment, &ctx, &objects, &mut hooks, previous, upgrade)
            .await;
        release.hooks = hooks.iter().map(HookRecord::of).collect();
        match outcome {
            Ok(()) => {
                release.info.status = ReleaseStatus::Deployed;
                release.info.description = match (repair, upgrade) {
                    (Some(note), _) => format!("Fleet {note}"),
                    (None, true) => "Upgrade complete".into(),
                    (None, false) => "Install complete".into(),
                };
                self.releases.update(&release).await?;
                let limit = deployment
                    .options
                    .helm
                    .as_ref()
                    .and_then(|h| usize::try_from(h.max_history).ok())
                    .filter(|n| *n > 0)
                    .unwrap_or(release::DEFAULT_HISTORY_LIMIT);
                self.releases.supersede_and_trim(&release, limit).await?;
                let applied = AppliedBundle {
                    namespace: deployment.namespace.clone(),
                    bundle: deployment.bundle.clone(),
                    deployment_id: deployment.deployment_id.clone(),
                    release_name,
                    release_namespace: self.settings.release_namespace.clone(),
                    revision,
                    release_digest: release::digest(&release),
                    objects,
                    keep_resources: deployment.options.keep_resources,
                    default_namespace: ctx.default_namespace.clone(),
                    target_namespace: ctx.policy.target_namespace.clone(),
                };
                if let Err(e) = self.state.save_applied(&applied) {
                    // The cluster is right; only a restart would re-apply (idempotently).
                    tracing::error!(error = %e, "cannot record the applied bundle in the state dir");
                }
                tracing::info!(bundle = %deployment.bundle, release = %applied.release_name, revision, "deployed");
                Ok(applied)
            }
            Err(e) => {
                release.info.status = ReleaseStatus::Failed;
                release.info.description = if upgrade {
                    format!("Upgrade \"{}\" failed: {e}", release.name)
                } else {
                    format!("Release \"{}\" failed: {e}", release.name)
                };
                if let Err(write) = self.releases.update(&release).await {
                    tracing::warn!(error = %write, "cannot record the failed release");
                }
                Err(e.into())
            }
        }
    }

    async fn apply_revision(
        &mut self,
        deployment: &BundleDeployment,
        ctx: &ReleaseContext,
        objects: &[Value],
        hooks: &mut [Hook],
        previous: Option<&AppliedBundle>,
        upgrade: bool,
    ) -> Result<(), ApplyError> {
        let timeout = self.hook_timeout(deployment);
        let (pre, post) = if upgrade {
            (HookEvent::PreUpgrade, HookEvent::PostUpgrade)
        } else {
            (HookEvent::PreInstall, HookEvent::PostInstall)
        };
        hooks::run_hooks(&mut self.applier, hooks, pre, ctx, timeout).await?;
        self.applier.apply_all(objects, ctx).await?;
        if let Some(previous) = previous {
            if !deployment.options.keep_resources {
                // An object moved to another API version of its kind is the same object:
                // compare without the version, or an upgrade would delete what it applied.
                let keep: BTreeSet<_> = objects
                    .iter()
                    .filter_map(ResourceId::of)
                    .map(|id| id.versionless())
                    .collect();
                let mut stale: Vec<Value> = previous
                    .objects
                    .iter()
                    .filter(|o| {
                        ResourceId::of(o).is_some_and(|id| !keep.contains(&id.versionless()))
                    })
                    .filter(|o| resource::annotation(o, RESOURCE_POLICY_ANNOTATION) != Some("keep"))
                    .cloned()
                    .collect();
                order::sort_for_uninstall(&mut stale);
                for obj in &stale {
                    if let Some(id) = ResourceId::of(obj) {
                        tracing::info!(resource = %id, "pruning a resource the bundle no longer has");
                        self.applier.delete(&id).await?;
                    }
                }
            }
        }
        if !hooks::hooks_for(hooks, post).is_empty() {
            // Helm runs post hooks once the release's resources are ready (`--wait`), so a
            // post-install hook may rely on the workloads it follows.
            self.wait_ready(deployment, objects, post, timeout).await?;
        }
        hooks::run_hooks(&mut self.applier, hooks, post, ctx, timeout).await
    }

    /// Waits until every object of `objects` is ready (as the status report judges it),
    /// before the hooks of `event`; an error names the first object still not ready.
    async fn wait_ready(
        &mut self,
        deployment: &BundleDeployment,
        objects: &[Value],
        event: HookEvent,
        timeout: Duration,
    ) -> Result<(), ApplyError> {
        let health_options = HealthOptions {
            wait_for_jobs: deployment
                .options
                .helm
                .as_ref()
                .is_some_and(|h| h.wait_for_jobs),
            ignore_conditions: deployment
                .options
                .ignore
                .as_ref()
                .map(|i| i.conditions.clone())
                .unwrap_or_default(),
        };
        let deadline = tokio::time::Instant::now() + timeout;
        for obj in objects {
            let Some(id) = ResourceId::of(obj) else {
                continue;
            };
            loop {
                let reason = match self.applier.get(&id).await? {
                    Some(live) => match health::readiness(&live, &health_options) {
                        Readiness::Ready => break,
                        Readiness::NotReady(message) => message,
                    },
                    None => "it does not exist".to_string(),
                };
                if tokio::time::Instant::now() >= deadline {
                    return Err(ApplyError::NotReadyForHooks {
                        id,
                        event: event.as_str(),
                        seconds: timeout.as_secs(),
                        reason,
                    });
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
        Ok(())
    }

    /// Creates the namespaces objects go into; the bundle's own namespace gets its
    /// `namespaceLabels`/`namespaceAnnotations`. Namespaces the bundle declares itself are
    /// left to the bundle.
    async fn ensure_namespaces(
        &mut self,
        deployment: &BundleDeployment,
        ctx: &ReleaseContext,
        objects: &[&Value],
    ) -> Result<(), ApplyError> {
        let declared: BTreeSet<&str> = objects
            .iter()
            .filter(|o| o.get("kind").and_then(Value::as_str) == Some("Namespace"))
            .filter_map(|o| o.pointer("/metadata/name").and_then(Value::as_str))
            .collect();
        let own = if ctx.policy.target_namespace.is_empty() {
            ctx.default_namespace.as_str()
        } else {
            ctx.policy.target_namespace.as_str()
        };
        let mut wanted: BTreeSet<&str> = objects
            .iter()
            .filter_map(|o| o.pointer("/metadata/namespace").and_then(Value::as_str))
            .collect();
        let options = &deployment.options;
        let labelled =
            !options.namespace_labels.is_empty() || !options.namespace_annotations.is_empty();
        if labelled {
            wanted.insert(own);
        }
        let empty = BTreeMap::new();
        for namespace in wanted {
            if declared.contains(namespace) {
                continue;
            }
            let id = ResourceId {
                api_version: "v1".into(),
                kind: "Namespace".into(),
                namespace: String::new(),
                name: namespace.to_string(),
            };
            ctx.policy.check_namespace(&id, namespace)?;
            let (labels, annotations) = if namespace == own {
                (&options.namespace_labels, &options.namespace_annotations)
            } else {
                (&empty, &empty)
            };
            if labels.is_empty() && annotations.is_empty() && self.applier.get(&id).await?.is_some()
            {
                continue;
            }
            self.applier
                .ensure_namespace(namespace, labels, annotations)
                .await?;
        }
        Ok(())
    }

    /// Compares the live objects with what was applied: drift (corrected when the bundle
    /// sets `correctDrift`) and readiness, into `status`.
    async fn check(
        &mut self,
        deployment: &BundleDeployment,
        applied: &AppliedBundle,
        status: &mut BundleDeploymentStatus,
    ) {
        let options = &deployment.options;
        let health_options = HealthOptions {
            wait_for_jobs: options.helm.as_ref().is_some_and(|h| h.wait_for_jobs),
            ignore_conditions: options
                .ignore
                .as_ref()
                .map(|i| i.conditions.clone())
                .unwrap_or_default(),
        };
        let correct = options.correct_drift.as_ref().is_some_and(|c| c.enabled);
        let mut modified = Vec::new();
        let mut non_ready = Vec::new();
        let mut errors = Vec::new();
        for obj in &applied.objects {
            let Some(id) = ResourceId::of(obj) else {
                continue;
            };
            if self
                .seen_kinds
                .insert((id.api_version.clone(), id.kind.clone()))
            {
                if let Ok(kind) = self.applier.kind(&id).await {
                    self.new_kinds.push(kind.resource);
                }
            }
            let mut live = match self.applier.get(&id).await {
                Ok(live) => live,
                Err(e) => {
                    errors.push(e.to_string());
                    continue;
                }
            };
            let mut drift = observe(&id, obj, live.as_ref(), options.diff.as_ref());
            let seen = drift
                .as_ref()
                .map(|d| format!("missing={} {}", d.missing, d.paths.join(" ")));
            if let Some(d) = &drift {
                if self.drift_log.is_new(&id.to_string(), seen.as_deref()) {
                    tracing::info!(resource = %id, missing = d.missing, paths = ?d.paths, correcting = correct, "drift detected");
                } else {
                    tracing::debug!(resource = %id, missing = d.missing, paths = ?d.paths, correcting = correct, "drift still there");
                }
            } else {
                self.drift_log.is_new(&id.to_string(), None);
            }
            if drift.is_some() && correct {
                match self.applier.reapply(obj).await {
                    Ok(after) => {
                        tracing::info!(resource = %id, "corrected drift");
                        // The next drift of it is a new change, even if it looks the same.
                        self.drift_log.is_new(&id.to_string(), None);
                        if let Some(m) = &self.metrics {
                            m.drift_corrections.inc();
                        }
                        drift = observe(&id, obj, Some(&after), options.diff.as_ref());
                        live = Some(after);
                    }
                    Err(e) => errors.push(format!("correcting drift of {id}: {e}")),
                }
            }
            if let Some(m) = drift {
                modified.push(m);
            }
            if let Some(live) = &live {
                if let Readiness::NotReady(message) = health::readiness(live, &health_options) {
                    non_ready.push(ResourceStatus {
                        api_version: id.api_version.clone(),
                        kind: id.kind.clone(),
                        namespace: id.namespace.clone(),
                        name: id.name.clone(),
                        message,
                    });
                }
            }
        }
        status.state = if !modified.is_empty() {
            BundleState::Modified
        } else if !non_ready.is_empty() {
            BundleState::NotReady
        } else if !errors.is_empty() {
            BundleState::ErrApplied
        } else {
            BundleState::Ready
        };
        status.message = summary(&modified, &non_ready, &errors);
        status.modified = modified;
        status.non_ready = non_ready;
    }

    /// Uninstalls a bundle's release: pre-delete hooks, its objects in uninstall order
    /// (unless `keepResources`, or `helm.sh/resource-policy: keep`), post-delete hooks, the
    /// release records, the applied record.
    pub async fn uninstall(&mut self, namespace: &str, bundle: &str) -> Result<(), DeployError> {
        let Some(applied) = self.state.applied(namespace, bundle) else {
            return Ok(());
        };
        tracing::info!(bundle, release = %applied.release_name, "uninstalling a bundle no longer targeted");
        let history = self.releases.history(&applied.release_name).await?;
        let mut hooks: Vec<Hook> = history
            .latest()
            .map(|r| {
                r.hooks
                    .iter()
                    .filter_map(|h| {
                        let obj = render::yaml_documents(&h.path, &h.manifest)
                            .ok()?
                            .into_iter()
                            .next()?;
                        Hook::from_rendered(&obj, &h.path, h.manifest.clone())
                    })
                    .collect()
            })
            .unwrap_or_default();
        let ctx = ReleaseContext {
            release_name: applied.release_name.clone(),
            release_namespace: applied.release_namespace.clone(),
            default_namespace: if applied.default_namespace.is_empty() {
                "default".into()
            } else {
                applied.default_namespace.clone()
            },
            set_hash: set_hash(namespace, bundle),
            take_ownership: false,
            keep_crds: true,
            policy: NamespacePolicy {
                target_namespace: applied.target_namespace.clone(),
                allowed_namespaces: self.settings.allowed_namespaces.clone(),
                allow_cluster_scoped: self.settings.allow_cluster_scoped,
            },
        };
        // The record keeps hooks as rendered: place and mark them as at install.
        for hook in &mut hooks {
            let prepared = self
                .applier
                .prepare(vec![hook.object.clone()], &ctx)
                .await?
                .pop()
                .ok_or(ApplyError::Incomplete { index: 0 })?;
            hook.id = ResourceId::of(&prepared).ok_or(ApplyError::Incomplete { index: 0 })?;
            hook.object = prepared;
        }
        let timeout = self.settings.hook_timeout;
        hooks::run_hooks(
            &mut self.applier,
            &mut hooks,
            HookEvent::PreDelete,
            &ctx,
            timeout,
        )
        .await?;
        if !applied.keep_resources {
            let mut objects: Vec<Value> = applied
                .objects
                .iter()
                .filter(|o| resource::annotation(o, RESOURCE_POLICY_ANNOTATION) != Some("keep"))
                .cloned()
                .collect();
            order::sort_for_uninstall(&mut objects);
            for obj in &objects {
                if let Some(id) = ResourceId::of(obj) {
                    self.applier.delete(&id).await?;
                }
            }
        }
        hooks::run_hooks(
            &mut self.applier,
            &mut hooks,
            HookEvent::PostDelete,
            &ctx,
            timeout,
        )
        .await?;
        // Records another bundle owns (it took the name over) are never ours to delete.
        let ours = (namespace.to_string(), bundle.to_string());
        if history.owner.as_ref().is_none_or(|o| *o == ours) {
            self.releases.delete_all(&applied.release_name).await?;
        }
        self.state.remove_applied(namespace, bundle);
        self.retries
            .remove(&(namespace.to_string(), bundle.to_string()));
        Ok(())
    }
}

/// How the newest release record differs from the revision the agent wrote (`applied`),
/// in words; `None` when it is that revision, deployed, with the same chart and values.
fn out_of_band(history: &release::History, applied: &AppliedBundle) -> Option<String> {
    let Some(latest) = history.latest() else {
        return Some(format!(
            "no record of it was left (our revision {} was replaced by none)",
            applied.revision
        ));
    };
    if latest.version != applied.revision {
        return Some(format!(
            "revision {} ({}: {}) had replaced our revision {}",
            latest.version,
            latest.info.status.as_str(),
            latest.info.description,
            applied.revision
        ));
    }
    if latest.info.status != ReleaseStatus::Deployed {
        return Some(format!(
            "our revision {} is recorded {}",
            latest.version,
            latest.info.status.as_str()
        ));
    }
    if !applied.release_digest.is_empty() && release::digest(latest) != applied.release_digest {
        return Some(format!(
            "revision {} was rewritten with chart {}-{} or other values",
            latest.version, latest.chart.metadata.name, latest.chart.metadata.version
        ));
    }
    None
}

/// How `live` differs from `applied`, as reported to the manager.
fn observe(
    id: &ResourceId,
    applied: &Value,
    live: Option<&Value>,
    diff: Option<&fleet_bundle::bundle::DiffOptions>,
) -> Option<ModifiedResource> {
    let base = ModifiedResource {
        api_version: id.api_version.clone(),
        kind: id.kind.clone(),
        namespace: id.namespace.clone(),
        name: id.name.clone(),
        ..Default::default()
    };
    match live {
        None => Some(ModifiedResource {
            missing: true,
            ..base
        }),
        Some(live) => {
            let paths = drift::drifted_paths(id, applied, live, diff);
            (!paths.is_empty()).then_some(ModifiedResource { paths, ..base })
        }
    }
}

fn summary(
    modified: &[ModifiedResource],
    non_ready: &[ResourceStatus],
    errors: &[String],
) -> String {
    let mut parts = Vec::new();
    for m in modified.iter().take(5) {
        let what = if m.missing {
            "missing".to_string()
        } else {
            format!("modified {}", m.paths.join(", "))
        };
        parts.push(format!("{} {}/{} {what}", m.kind, m.namespace, m.name).replace(" / ", " "));
    }
    for r in non_ready.iter().take(5) {
        parts.push(format!(
            "{} {}/{}: {}",
            r.kind, r.namespace, r.name, r.message
        ));
    }
    parts.extend(errors.iter().take(3).cloned());
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(version: u32, status: ReleaseStatus, config: Value) -> Release {
        let mut r: Release = serde_json::from_value(json!({
            "name": "web", "info": {"status": "deployed", "description": "Upgrade complete"},
            "chart": {"metadata": {"name": "web", "version": "0.1.0"}},
            "version": version,
        }))
        .unwrap();
        r.info.status = status;
        r.config = config;
        r
    }

    #[test]
    fn a_record_not_ours_is_out_of_band() {
        let ours = record(2, ReleaseStatus::Deployed, json!({"a": 1}));
        let applied = AppliedBundle {
            revision: 2,
            release_digest: release::digest(&ours),
            ..Default::default()
        };
        let history = |releases: Vec<Release>| release::History {
            last_revision: releases.iter().map(|r| r.version).max().unwrap_or(0),
            releases,
            owner: None,
        };
        assert_eq!(out_of_band(&history(vec![ours.clone()]), &applied), None);
        let none = out_of_band(&history(vec![]), &applied).unwrap();
        assert!(none.contains("no record"), "{none}");
        let newer = record(3, ReleaseStatus::Deployed, json!({"a": 2}));
        let text = out_of_band(&history(vec![ours.clone(), newer]), &applied).unwrap();
        assert!(
            text.contains("revision 3") && text.contains("our revision 2"),
            "{text}"
        );
        let failed = record(2, ReleaseStatus::Failed, json!({"a": 1}));
        assert!(out_of_band(&history(vec![failed]), &applied)
            .unwrap()
            .contains("failed"));
        let rewritten = record(2, ReleaseStatus::Deployed, json!({"a": 9}));
        assert!(out_of_band(&history(vec![rewritten]), &applied)
            .unwrap()
            .contains("other values"));
    }

    #[test]
    fn set_hash_is_a_label_value() {
        let h = set_hash("fleet-default", "app");
        assert_eq!(h.len(), 40);
        assert_ne!(h, set_hash("fleet-default", "other"));
    }

    #[test]
    fn observe_reports_missing_and_paths() {
        let id = ResourceId {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: "a".into(),
            name: "c".into(),
        };
        let applied = json!({"data": {"k": "v"}});
        assert!(observe(&id, &applied, None, None).unwrap().missing);
        let m = observe(&id, &applied, Some(&json!({"data": {"k": "x"}})), None).unwrap();
        assert_eq!(m.paths, ["data.k"]);
        assert!(observe(
            &id,
            &applied,
            Some(&json!({"data": {"k": "v"}, "metadata": {}})),
            None
        )
        .is_none());
        let text = summary(&[m], &[], &[]);
        assert_eq!(text, "ConfigMap a/c modified data.k");
    }
}
