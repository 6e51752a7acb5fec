//! Targeting: which target of a bundle a cluster gets (Fleet's matcher), the options it ends
//! up with (Fleet's `options.Merge`), and the cluster-specific Helm values.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::bundle::{
    BundleDeploymentOptions, BundleSpec, BundleTarget, HelmOptions, TargetCustomizationMode,
};
use crate::selector::LabelSelector;
use crate::templating::{self, TemplateError};

/// Rancher's label holding a cluster's display name; `clusterName` matches it too.
pub const CLUSTER_DISPLAY_NAME_LABEL: &str = "management.cattle.io/cluster-display-name";

/// What targeting knows about a cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInfo {
    pub name: String,
    /// The workspace of the cluster (`fleet-default`), `.ClusterNamespace` in templates.
    pub namespace: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The cluster groups the cluster belongs to.
    #[serde(default)]
    pub groups: Vec<GroupInfo>,
    /// The cluster's `templateValues`, `.ClusterValues` in templates.
    #[serde(default)]
    pub template_values: Map<String, Value>,
    /// The cluster's Kubernetes version (`v1.31.2`), for Helm's `.Capabilities`; empty
    /// renders as `fleet test` does, against Fleet's template default
    /// ([`crate::render::helm::FLEET_TEMPLATE_KUBE_VERSION`]).
    #[serde(default)]
    pub kube_version: String,
}

/// A cluster group the cluster is a member of.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupInfo {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// The outcome of targeting one bundle at one cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetMatch {
    /// The name of the target that selected the cluster.
    pub target_name: String,
    /// The name of the customization that applied, if one did (GitRepo bundles only).
    pub customization: Option<String>,
    /// The bundle's options merged with the target's, Helm values templated for the cluster.
    pub options: BundleDeploymentOptions,
}

/// Why targeting a cluster failed (only ever the Helm values templating).
#[derive(Debug, thiserror::Error)]
#[error("cluster {} in namespace {namespace}: {source}", if cluster.is_empty() { "(unnamed)" } else { cluster.as_str() })]
pub struct TargetError {
    pub cluster: String,
    pub namespace: String,
    #[source]
    pub source: Box<TemplateError>,
}

/// Picks the target of `spec` for `cluster` and computes the options it deploys with.
///
/// Flow, as Fleet's target builder:
/// 1. The first N targets are customizations (from fleet.yaml), the rest GitRepo targets,
///    N = targets − targetRestrictions. Without restrictions (a bundle from the CLI), every
///    target is an ordinary target.
/// 2. The first ordinary target that matches wins, provided a restriction allows the
///    cluster. A target matches when ALL of its criteria hold (clusterName, also matching
///    Rancher's display-name label; clusterGroup; clusterGroupSelector; clusterSelector),
///    for some group of the cluster; a target with no criterion matches nothing.
/// 3. Then the first matching customization (restrictions do not apply to them) replaces
///    that target's options; with `targetCustomizationMode: AllMatches`, every matching one
///    is merged over them in order ([`customize`]).
/// 4. `doNotDeploy` on the chosen target or customization means no deployment.
/// 5. The options are merged onto the bundle's ([`merge_options`]) and the Helm values are
///    templated for the cluster ([`templating::preprocess_helm_values`]).
///
/// Returns `Ok(None)` when the cluster is not targeted.
///
/// Errors: templating errors (a `${ .ClusterLabels.x }` naming a label the cluster lacks,
/// a malformed template), worded as Fleet words them, with the cluster named.
pub fn select(
    spec: &BundleSpec,
    cluster: &ClusterInfo,
) -> Result<Option<TargetMatch>, TargetError> {
    let restrictions = spec.target_restrictions.len();
    let customizations = if restrictions == 0 {
        0
    } else {
        spec.targets.len().saturating_sub(restrictions)
    };
    let restricted = restrictions > 0
        && !spec.target_restrictions.iter().any(|r| {
            criteria_match(
                &r.cluster_name,
                &r.cluster_group,
                r.cluster_group_selector.as_ref(),
                r.cluster_selector.as_ref(),
                cluster,
            )
        });
    if restricted {
        return Ok(None);
    }
    let Some(target) = spec
        .targets
        .iter()
        .skip(customizations)
        .find(|t| target_matches(t, cluster))
    else {
        return Ok(None);
    };
    if target.do_not_deploy {
        tracing::debug!(target = %target.name, cluster = %cluster.name, "doNotDeploy on target");
        return Ok(None);
    }
    let Some((target_options, customization)) =
        customize(spec, customizations, &target.options, cluster)
    else {
        return Ok(None);
    };
    let mut options = merge_options(&spec.options, &target_options);
    templating::preprocess_helm_values(&mut options, cluster).map_err(|source| TargetError {
        cluster: cluster.name.clone(),
        namespace: cluster.namespace.clone(),
        source: Box::new(source),
    })?;
    Ok(Some(TargetMatch {
        target_name: target.name.clone(),
        customization,
        options,
    }))
}

/// `fleet test -t NAME`: the target of `spec` named `name`, whatever the cluster
/// (Fleet's `MatchForTarget`, internal/cmd/controller/target/matcher/bundlematch.go), its
/// options merged onto the bundle's and templated for `cluster`; `None` when no target
/// has that name.
pub fn select_named(
    spec: &BundleSpec,
    name: &str,
    cluster: &ClusterInfo,
) -> Result<Option<TargetMatch>, TargetError> {
    let Some(target) = spec.targets.iter().find(|t| t.name == name) else {
        return Ok(None);
    };
    let mut options = merge_options(&spec.options, &target.options);
    templating::preprocess_helm_values(&mut options, cluster).map_err(|source| TargetError {
        cluster: cluster.name.clone(),
        namespace: cluster.namespace.clone(),
        source: Box::new(source),
    })?;
    Ok(Some(TargetMatch {
        target_name: target.name.clone(),
        customization: None,
        options,
    }))
}

/// The options the chosen target deploys with once the customizations matching `cluster`
/// (the first `customizations` targets of `spec`) are applied, and the names of those that
/// applied (comma-separated); `None` when one of them says `doNotDeploy`.
///
/// As Fleet's target builder (internal/cmd/controller/target/builder.go): in `FirstMatch`
/// mode the first match replaces the target's options; in `AllMatches` mode every match
/// is merged over them in list order ([`merge_options`]).
pub fn customize(
    spec: &BundleSpec,
    customizations: usize,
    target_options: &BundleDeploymentOptions,
    cluster: &ClusterInfo,
) -> Option<(BundleDeploymentOptions, Option<String>)> {
    let mut matching = spec.targets[..customizations]
        .iter()
        .filter(|t| target_matches(t, cluster));
    let applied: Vec<&BundleTarget> = match spec.target_customization_mode {
        TargetCustomizationMode::FirstMatch => matching.next().into_iter().collect(),
        TargetCustomizationMode::AllMatches => matching.collect(),
    };
    if let Some(stop) = applied.iter().find(|c| c.do_not_deploy) {
        tracing::debug!(customization = %stop.name, cluster = %cluster.name, "doNotDeploy on targetCustomization");
        return None;
    }
    let options = match (spec.target_customization_mode, applied.as_slice()) {
        (_, []) => target_options.clone(),
        (TargetCustomizationMode::FirstMatch, [first, ..]) => first.options.clone(),
        (TargetCustomizationMode::AllMatches, all) => {
            all.iter().fold(target_options.clone(), |acc, c| {
                merge_options(&acc, &c.options)
            })
        }
    };
    let names: Vec<&str> = applied.iter().map(|c| c.name.as_str()).collect();
    Some((options, (!names.is_empty()).then(|| names.join(","))))
}

/// Whether `target`'s criteria all hold for `cluster` (for one of its groups).
pub fn target_matches(target: &BundleTarget, cluster: &ClusterInfo) -> bool {
    criteria_match(
        &target.cluster_name,
        &target.cluster_group,
        target.cluster_group_selector.as_ref(),
        target.cluster_selector.as_ref(),
        cluster,
    )
}

fn criteria_match(
    cluster_name: &str,
    cluster_group: &str,
    group_selector: Option<&LabelSelector>,
    cluster_selector: Option<&LabelSelector>,
    cluster: &ClusterInfo,
) -> bool {
    if cluster_name.is_empty()
        && cluster_group.is_empty()
        && group_selector.is_none()
        && cluster_selector.is_none()
    {
        return false;
    }
    let no_group = [GroupInfo::default()];
    let groups: &[GroupInfo] = if cluster.groups.is_empty() {
        &no_group
    } else {
        &cluster.groups
    };
    groups.iter().any(|group| {
        (cluster_name.is_empty()
            || cluster_name == cluster.name
            || cluster
                .labels
                .get(CLUSTER_DISPLAY_NAME_LABEL)
                .map(String::as_str)
                == Some(cluster_name))
            && (cluster_group.is_empty() || cluster_group == group.name)
            && group_selector.is_none_or(|s| s.matches(&group.labels))
            && cluster_selector.is_none_or(|s| s.matches(&cluster.labels))
    })
}

/// Overrides `base` with a target's `custom` options (Fleet's `options.Merge`).
///
/// Namespaces, service account, chart coordinates, release name and timeout replace when
/// set (`-` clears a namespace or service account); Helm values deep-merge (maps merge,
/// anything else replaces); templateValues and valuesFrom merge by key; boolean switches
/// are or-ed; overlays are appended to the bundle's; compare patches merge by object;
/// `correctDrift` replaces. `valuesFiles` are not merged: the scanner already folded them
/// into `values` of the bundle and of each target.
pub fn merge_options(
    base: &BundleDeploymentOptions,
    custom: &BundleDeploymentOptions,
) -> BundleDeploymentOptions {
    let mut result = base.clone();
    override_string(&mut result.default_namespace, &custom.default_namespace);
    override_string(&mut result.target_namespace, &custom.target_namespace);
    override_string(&mut result.service_account, &custom.service_account);
    if let Some(ch) = &custom.helm {
        let rh = result.helm.get_or_insert_with(HelmOptions::default);
        if ch.timeout_seconds > 0 {
            rh.timeout_seconds = ch.timeout_seconds;
        } else if ch.timeout_seconds < 0 {
            rh.timeout_seconds = 0;
        }
        match (&mut rh.values, &ch.values) {
            (None, v) => rh.values = v.clone(),
            (Some(Value::Object(dst)), Some(Value::Object(src))) => {
                merge_values(dst, src.clone());
            }
            (Some(_), Some(v)) => rh.values = Some(v.clone()),
            (Some(_), None) => {}
        }
        for (k, v) in &ch.template_values {
            rh.template_values.insert(k.clone(), v.clone());
        }
        for vf in &ch.values_from {
            let key = values_from_key(vf);
            match rh
                .values_from
                .iter_mut()
                .find(|existing| key.is_some() && values_from_key(existing) == key)
            {
                Some(existing) => *existing = vf.clone(),
                None => rh.values_from.push(vf.clone()),
            }
        }
        for (dst, src) in [
            (&mut rh.repo, &ch.repo),
            (&mut rh.chart, &ch.chart),
            (&mut rh.version, &ch.version),
            (&mut rh.release_name, &ch.release_name),
        ] {
            if !src.is_empty() {
                *dst = src.clone();
            }
        }
        rh.force |= ch.force;
        rh.atomic |= ch.atomic;
        rh.take_ownership |= ch.take_ownership;
        rh.disable_pre_process |= ch.disable_pre_process;
        rh.wait_for_jobs |= ch.wait_for_jobs;
        rh.disable_dns |= ch.disable_dns;
    }
    if let Some(ck) = &custom.kustomize {
        let rk = result.kustomize.get_or_insert_with(Default::default);
        if !ck.dir.is_empty() {
            rk.dir = ck.dir.clone();
        }
    }
    if let Some(cd) = &custom.diff {
        let rd = result.diff.get_or_insert_with(Default::default);
        for patch in &cd.compare_patches {
            let same = |p: &crate::bundle::ComparePatch| {
                p.api_version == patch.api_version
                    && p.kind == patch.kind
                    && p.namespace == patch.namespace
                    && p.name == patch.name
            };
            match rd.compare_patches.iter_mut().find(|p| same(p)) {
                Some(existing) => *existing = patch.clone(),
                None => rd.compare_patches.push(patch.clone()),
            }
        }
    }
    if let Some(cy) = &custom.yaml {
        let ry = result.yaml.get_or_insert_with(Default::default);
        ry.overlays.extend(cy.overlays.iter().cloned());
    }
    if custom.force_sync_generation > 0 {
        result.force_sync_generation = custom.force_sync_generation;
    }
    result.keep_resources |= custom.keep_resources;
    if custom.correct_drift.is_some() {
        result.correct_drift = custom.correct_drift.clone();
    }
    result
}

fn override_string(dst: &mut String, src: &str) {
    match src {
        "" => {}
        "-" => dst.clear(),
        other => *dst = other.to_string(),
    }
}

fn values_from_key(v: &crate::bundle::ValuesFrom) -> Option<String> {
    if let Some(r) = &v.config_map_key_ref {
        return Some(format!("configmap|{}|{}|{}", r.namespace, r.name, r.key));
    }
    v.secret_key_ref
        .as_ref()
        .map(|r| format!("secret|{}|{}|{}", r.namespace, r.name, r.key))
}

/// Deep-merges `src` into `dst` (wrangler's `data.MergeMaps`): nested maps merge key by
/// key, any other value of `src` replaces the one in `dst`.
pub fn merge_values(dst: &mut Map<String, Value>, src: Map<String, Value>) {
    for (key, value) in src {
        match (dst.get_mut(&key), value) {
            (Some(Value::Object(d)), Value::Object(s)) => merge_values(d, s),
            (_, v) => {
                dst.insert(key, v);
            }
        }
    }
}

#[cfg(test)]
mod tests;
