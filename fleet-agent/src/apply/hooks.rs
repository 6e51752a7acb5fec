//! Helm hooks: objects annotated `helm.sh/hook` run around an install, upgrade or delete
//! instead of being part of the release's manifest, ordered by weight, waited for (Jobs
//! until complete, Pods until they succeed) and deleted per `helm.sh/hook-delete-policy`.
//! Test hooks are recorded but never run, as Helm runs them only on `helm test`.
//!
//! Hooks come from two places: the chart's own (set apart by fleet-bundle's Helm renderer,
//! with the template path and rendered text Helm records) and hook-annotated objects of
//! plain bundles ([`split_hooks`]).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Applier, ApplyError, ReleaseContext};
use crate::resource::{self, ResourceId};

/// The annotation declaring a hook and its events.
pub const HOOK_ANNOTATION: &str = "helm.sh/hook";
/// The annotation ordering hooks of one event (lower first).
pub const WEIGHT_ANNOTATION: &str = "helm.sh/hook-weight";
/// The annotation saying when to delete a hook object.
pub const DELETE_POLICY_ANNOTATION: &str = "helm.sh/hook-delete-policy";

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookEvent {
    PreInstall,
    PostInstall,
    PreUpgrade,
    PostUpgrade,
    PreDelete,
    PostDelete,
    PreRollback,
    PostRollback,
    Test,
}

impl HookEvent {
    /// Helm's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            HookEvent::PreInstall => "pre-install",
            HookEvent::PostInstall => "post-install",
            HookEvent::PreUpgrade => "pre-upgrade",
            HookEvent::PostUpgrade => "post-upgrade",
            HookEvent::PreDelete => "pre-delete",
            HookEvent::PostDelete => "post-delete",
            HookEvent::PreRollback => "pre-rollback",
            HookEvent::PostRollback => "post-rollback",
            HookEvent::Test => "test",
        }
    }

    fn parse(s: &str) -> Option<HookEvent> {
        Some(match s.trim() {
            "pre-install" => HookEvent::PreInstall,
            "post-install" => HookEvent::PostInstall,
            "pre-upgrade" => HookEvent::PreUpgrade,
            "post-upgrade" => HookEvent::PostUpgrade,
            "pre-delete" => HookEvent::PreDelete,
            "post-delete" => HookEvent::PostDelete,
            "pre-rollback" => HookEvent::PreRollback,
            "post-rollback" => HookEvent::PostRollback,
            // `test-success` is Helm 2's name, still accepted by Helm.
            "test" | "test-success" => HookEvent::Test,
            _ => return None,
        })
    }
}

/// When a hook object is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletePolicy {
    BeforeHookCreation,
    HookSucceeded,
    HookFailed,
}

impl DeletePolicy {
    /// Helm's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DeletePolicy::BeforeHookCreation => "before-hook-creation",
            DeletePolicy::HookSucceeded => "hook-succeeded",
            DeletePolicy::HookFailed => "hook-failed",
        }
    }
}

/// How a hook's last run went, as Helm records it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HookRun {
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// `Running`, `Succeeded`, `Failed`, or empty when it never ran.
    pub phase: String,
}

/// One hook object of a release.
#[derive(Debug, Clone, PartialEq)]
pub struct Hook {
    pub id: ResourceId,
    /// The template it came from (`<chart>/templates/<file>`).
    pub path: String,
    /// The object to apply (prepared: namespaced and marked as the release's).
    pub object: Value,
    /// The document as rendered, which the release record keeps (Helm's `manifest`), so
    /// `helm get hooks` shows the chart's output rather than the agent's bookkeeping.
    pub manifest: String,
    pub events: Vec<HookEvent>,
    pub weight: i64,
    /// As annotated. Helm fills in its default (`before-hook-creation`) only when the hook
    /// runs, and records it then; a hook that never ran keeps an empty list.
    pub delete_policies: Vec<DeletePolicy>,
    pub last_run: HookRun,
}

impl Hook {
    /// Reads `obj` as a hook, `None` if it carries no `helm.sh/hook` annotation; its
    /// recorded manifest is the object as YAML. Unknown event names are ignored.
    pub fn from_object(obj: &Value, path: &str) -> Option<Hook> {
        let manifest = serde_yaml::to_string(obj).unwrap_or_else(|_| obj.to_string());
        Hook::from_rendered(obj, path, manifest.trim_end().to_string())
    }

    /// Reads a chart's hook: `obj` parsed from `manifest`, the text Helm records.
    pub fn from_rendered(obj: &Value, path: &str, manifest: String) -> Option<Hook> {
        let events_text = resource::annotation(obj, HOOK_ANNOTATION)?;
        let id = ResourceId::of(obj)?;
        let events = events_text
            .split(',')
            .filter_map(HookEvent::parse)
            .collect();
        let weight = resource::annotation(obj, WEIGHT_ANNOTATION)
            .and_then(|w| w.trim().parse().ok())
            .unwrap_or(0);
        let delete_policies: Vec<DeletePolicy> =
            resource::annotation(obj, DELETE_POLICY_ANNOTATION)
                .unwrap_or_default()
                .split(',')
                .filter_map(|p| match p.trim() {
                    "before-hook-creation" => Some(DeletePolicy::BeforeHookCreation),
                    "hook-succeeded" => Some(DeletePolicy::HookSucceeded),
                    "hook-failed" => Some(DeletePolicy::HookFailed),
                    _ => None,
                })
                .collect();
        Some(Hook {
            id,
            path: path.to_string(),
            object: obj.clone(),
            manifest,
            events,
            weight,
            delete_policies,
            last_run: HookRun::default(),
        })
    }
}

/// Splits rendered `(path, object)` pairs into the release's objects and its hooks.
pub fn split_hooks(objects: Vec<(String, Value)>) -> (Vec<(String, Value)>, Vec<Hook>) {
    let mut plain = Vec::new();
    let mut hooks = Vec::new();
    for (path, obj) in objects {
        match Hook::from_object(&obj, &path) {
            Some(hook) => hooks.push(hook),
            None => plain.push((path, obj)),
        }
    }
    (plain, hooks)
}

/// The hooks that `event` runs, in Helm's order: by weight, then by name, then by kind
/// install order (Helm sorts by kind first and then stably by weight and name).
pub fn hooks_for(hooks: &[Hook], event: HookEvent) -> Vec<usize> {
    let mut selected: Vec<usize> = (0..hooks.len())
        .filter(|i| hooks[*i].events.contains(&event))
        .collect();
    selected.sort_by(|a, b| {
        let (a, b) = (&hooks[*a], &hooks[*b]);
        (a.weight, &a.id.name, super::order::install_rank(&a.id.kind)).cmp(&(
            b.weight,
            &b.id.name,
            super::order::install_rank(&b.id.kind),
        ))
    });
    selected
}

/// Runs the hooks of `event` as Helm's `execHook` does, waiting for each to finish before
/// the next. The hooks' objects must be prepared ([`Applier::prepare`]): namespaced,
/// checked and marked as the release's.
///
/// Flow, per hook in [`hooks_for`] order: the default policy `before-hook-creation` is
/// filled in when none is annotated; under that policy the object of an earlier run is
/// deleted and waited for; the object is applied and waited for (Jobs until complete,
/// Pods until they succeed, other kinds once created). Once every hook of the event has
/// succeeded, those with `hook-succeeded` are deleted, last first.
///
/// A failing hook stops the run with an error; its object is deleted first if its policy
/// says `hook-failed`. `hooks` records each run for the release record. Test hooks never
/// run.
pub async fn run_hooks(
    applier: &mut Applier,
    hooks: &mut [Hook],
    event: HookEvent,
    ctx: &ReleaseContext,
    timeout: Duration,
) -> Result<(), ApplyError> {
    if event == HookEvent::Test {
        return Ok(());
    }
    let selected = hooks_for(hooks, event);
    for &index in &selected {
        let hook = &mut hooks[index];
        tracing::info!(hook = %hook.id, event = event.as_str(), weight = hook.weight, "running hook");
        if hook.delete_policies.is_empty() {
            hook.delete_policies.push(DeletePolicy::BeforeHookCreation);
        }
        if hook
            .delete_policies
            .contains(&DeletePolicy::BeforeHookCreation)
        {
            applier.delete(&hook.id).await?;
            wait_gone(applier, &hook.id, timeout).await?;
        }
        hook.last_run = HookRun {
            started_at: Some(Utc::now()),
            completed_at: None,
            phase: "Running".into(),
        };
        applier.apply_owned(&hook.object, ctx).await?;
        let outcome = wait_hook(applier, &hook.id, timeout).await;
        hook.last_run.completed_at = Some(Utc::now());
        match outcome {
            Ok(()) => hook.last_run.phase = "Succeeded".into(),
            Err(reason) => {
                hook.last_run.phase = "Failed".into();
                if hook.delete_policies.contains(&DeletePolicy::HookFailed) {
                    applier.delete(&hook.id).await?;
                }
                return Err(ApplyError::Hook {
                    id: hook.id.clone(),
                    reason,
                });
            }
        }
    }
    // Only once the whole event succeeded, as Helm does: a later failure leaves every
    // object of the event in place to look at.
    for &index in selected.iter().rev() {
        let hook = &hooks[index];
        if hook.delete_policies.contains(&DeletePolicy::HookSucceeded) {
            applier.delete(&hook.id).await?;
        }
    }
    Ok(())
}

/// Waits for a hook to finish: Jobs until Complete, Pods until Succeeded; other kinds are
/// done once created, as in Helm.
async fn wait_hook(
    applier: &mut Applier,
    id: &ResourceId,
    timeout: Duration,
) -> Result<(), String> {
    if id.kind != "Job" && id.kind != "Pod" {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let live = applier.get(id).await.map_err(|e| e.to_string())?;
        let Some(live) = live else {
            return Err("the hook object disappeared while running".into());
        };
        if id.kind == "Job" {
            if crate::health::condition_is(&live, "Complete", "True") {
                return Ok(());
            }
            if crate::health::condition_is(&live, "Failed", "True") {
                return Err("job failed".into());
            }
        } else {
            match live.pointer("/status/phase").and_then(Value::as_str) {
                Some("Succeeded") => return Ok(()),
                Some("Failed") => return Err("pod failed".into()),
                _ => {}
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("not finished within {}s", timeout.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn wait_gone(
    applier: &mut Applier,
    id: &ResourceId,
    timeout: Duration,
) -> Result<(), ApplyError> {
    let deadline = tokio::time::Instant::now() + timeout;
    while applier.get(id).await?.is_some() {
        if tokio::time::Instant::now() >= deadline {
            return Err(ApplyError::Hook {
                id: id.clone(),
                reason: "the previous hook object was not deleted in time".into(),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(name: &str, annotations: Value) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "annotations": annotations}})
    }

    #[test]
    fn reads_hook_annotations() {
        let hook = Hook::from_object(
            &obj(
                "migrate",
                json!({
                HOOK_ANNOTATION: "pre-install, pre-upgrade,unknown",
                WEIGHT_ANNOTATION: "-5",
                DELETE_POLICY_ANNOTATION: "hook-succeeded,hook-failed"}),
            ),
            "app/templates/migrate.yaml",
        )
        .unwrap();
        assert_eq!(
            hook.events,
            vec![HookEvent::PreInstall, HookEvent::PreUpgrade]
        );
        assert_eq!(hook.weight, -5);
        assert_eq!(
            hook.delete_policies,
            vec![DeletePolicy::HookSucceeded, DeletePolicy::HookFailed]
        );
    }

    #[test]
    fn no_policy_is_recorded_until_the_hook_runs() {
        let hook = Hook::from_object(&obj("t", json!({HOOK_ANNOTATION: "test"})), "p").unwrap();
        assert_eq!(hook.events, vec![HookEvent::Test]);
        assert!(hook.delete_policies.is_empty());
        assert_eq!(hook.weight, 0);
        assert!(hook.manifest.starts_with("apiVersion: batch/v1\n"));
    }

    #[test]
    fn order_is_weight_then_name_then_kind() {
        let hook = |kind: &str, name: &str, weight: &str| {
            let mut o = obj(
                name,
                json!({HOOK_ANNOTATION: "pre-install", WEIGHT_ANNOTATION: weight}),
            );
            o["kind"] = json!(kind);
            Hook::from_object(&o, "p").unwrap()
        };
        let hooks = vec![
            hook("Job", "a", "0"),
            hook("ConfigMap", "z", "-1"),
            hook("ConfigMap", "a", "0"),
            hook("Job", "b", "-1"),
            hook("Job", "post", "0"),
        ];
        let mut hooks = hooks;
        hooks[4].events = vec![HookEvent::PostInstall];
        let order: Vec<_> = hooks_for(&hooks, HookEvent::PreInstall)
            .into_iter()
            .map(|i| format!("{}/{}", hooks[i].id.kind, hooks[i].id.name))
            .collect();
        assert_eq!(order, ["Job/b", "ConfigMap/z", "ConfigMap/a", "Job/a"]);
    }

    #[test]
    fn a_chart_hook_keeps_its_rendered_text() {
        let text = "kind: Job\napiVersion: batch/v1\nmetadata:\n  name: \"m\"\n  annotations:\n    helm.sh/hook: post-delete";
        let object = obj("m", json!({HOOK_ANNOTATION: "post-delete"}));
        let hook = Hook::from_rendered(&object, "c/templates/m.yaml", text.into()).unwrap();
        assert_eq!(hook.manifest, text);
        assert_eq!(hook.events, vec![HookEvent::PostDelete]);
    }

    #[test]
    fn splits_hooks_from_the_manifest() {
        let (plain, hooks) = split_hooks(vec![
            ("a".into(), obj("plain", json!({}))),
            (
                "b".into(),
                obj("hook", json!({HOOK_ANNOTATION: "post-install"})),
            ),
        ]);
        assert_eq!(plain.len(), 1);
        assert_eq!(hooks.len(), 1);
        assert_eq!(hooks[0].path, "b");
    }
}
