//! `dependsOn`: a bundle is applied only once the bundles it depends on are Ready (or in
//! one of the states the dependency accepts) on this cluster.

use fleet_bundle::bundle::BundleRef;
use fleet_bundle::deployment::{BundleDeployment, BundleState};

use crate::status::StatusBook;

/// Why a bundle must wait, or `None` when all its dependencies are satisfied.
///
/// Dependencies are looked up by name in the bundle's own workspace. A selector-only
/// dependency cannot be resolved by the agent (it does not know other bundles' labels)
/// and keeps the bundle waiting with a message saying so.
pub fn blocking_dependency(deployment: &BundleDeployment, book: &StatusBook) -> Option<String> {
    for dependency in &deployment.depends_on {
        if let Some(reason) = unmet(deployment, dependency, book) {
            return Some(reason);
        }
    }
    None
}

fn unmet(
    deployment: &BundleDeployment,
    dependency: &BundleRef,
    book: &StatusBook,
) -> Option<String> {
    if dependency.name.is_empty() {
        return Some(
            "dependsOn by selector is resolved by the manager; waiting for it to name the bundle"
                .into(),
        );
    }
    let accepted: &[BundleState] = if dependency.accepted_states.is_empty() {
        &[BundleState::Ready]
    } else {
        &dependency.accepted_states
    };
    match book.get(&deployment.namespace, &dependency.name) {
        Some(status) if accepted.contains(&status.state) => None,
        Some(status) => Some(format!(
            "waiting for dependency {} to be {} (it is {})",
            dependency.name,
            names(accepted),
            status.state
        )),
        None => Some(format!(
            "waiting for dependency {} (not deployed on this cluster yet)",
            dependency.name
        )),
    }
}

fn names(states: &[BundleState]) -> String {
    states
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Orders deployments so that dependencies come before their dependents where possible
/// (a cycle keeps the input order for its members, which then wait on each other).
pub fn dependency_order(deployments: &[BundleDeployment]) -> Vec<usize> {
    let mut order = Vec::with_capacity(deployments.len());
    let mut placed = vec![false; deployments.len()];
    while order.len() < deployments.len() {
        let before = order.len();
        for (i, d) in deployments.iter().enumerate() {
            if placed[i] {
                continue;
            }
            let ready = d.depends_on.iter().all(|dep| {
                !deployments.iter().enumerate().any(|(j, other)| {
                    !placed[j]
                        && j != i
                        && other.bundle == dep.name
                        && other.namespace == d.namespace
                })
            });
            if ready {
                placed[i] = true;
                order.push(i);
            }
        }
        if order.len() == before {
            // A cycle: place the rest in input order.
            for (i, p) in placed.iter_mut().enumerate() {
                if !*p {
                    *p = true;
                    order.push(i);
                }
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_bundle::deployment::BundleDeploymentStatus;

    fn deployment(name: &str, deps: &[&str]) -> BundleDeployment {
        BundleDeployment {
            bundle: name.into(),
            namespace: "fleet-default".into(),
            depends_on: deps
                .iter()
                .map(|d| BundleRef {
                    name: d.to_string(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn status(name: &str, state: BundleState) -> BundleDeploymentStatus {
        BundleDeploymentStatus {
            bundle: name.into(),
            namespace: "fleet-default".into(),
            deployment_id: "d".into(),
            applied_deployment_id: "d".into(),
            state,
            message: String::new(),
            non_ready: vec![],
            modified: vec![],
            release: String::new(),
            sequence: 0,
        }
    }

    #[test]
    fn waits_until_dependency_ready() {
        let app = deployment("app", &["db"]);
        let mut book = StatusBook::default();
        assert!(blocking_dependency(&app, &book)
            .unwrap()
            .contains("not deployed"));
        book.set(status("db", BundleState::NotReady));
        assert!(blocking_dependency(&app, &book)
            .unwrap()
            .contains("it is NotReady"));
        book.set(status("db", BundleState::Ready));
        assert_eq!(blocking_dependency(&app, &book), None);
    }

    #[test]
    fn accepted_states_widen_readiness() {
        let mut app = deployment("app", &["db"]);
        app.depends_on[0].accepted_states = vec![BundleState::Ready, BundleState::Modified];
        let mut book = StatusBook::default();
        book.set(status("db", BundleState::Modified));
        assert_eq!(blocking_dependency(&app, &book), None);
    }

    #[test]
    fn dependencies_sort_first_and_cycles_terminate() {
        let list = vec![
            deployment("app", &["db"]),
            deployment("db", &[]),
            deployment("web", &["app"]),
        ];
        assert_eq!(dependency_order(&list), vec![1, 0, 2]);
        let cycle = vec![deployment("a", &["b"]), deployment("b", &["a"])];
        assert_eq!(dependency_order(&cycle), vec![0, 1]);
    }
}
