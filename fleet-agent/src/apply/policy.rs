//! Where a bundle may write: Fleet's `namespace` (target namespace) rule and the agent's
//! allowed-namespace restriction, so a hostile bundle cannot reach outside its namespaces
//! nor create cluster-scoped objects unless that is allowed.

use crate::resource::ResourceId;

/// A refused object, with what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    #[error(
        "{id} is cluster-scoped, but the bundle sets `namespace: {target}`, which forbids \
         cluster-scoped resources; use `defaultNamespace` instead if that is intended"
    )]
    ClusterScopedWithTargetNamespace { id: Box<ResourceId>, target: String },
    #[error(
        "{id} is cluster-scoped, and this agent only allows namespaced objects (start it with \
         --allow-cluster-scoped to permit them)"
    )]
    ClusterScopedNotAllowed { id: Box<ResourceId> },
    #[error(
        "{id} is in namespace {namespace:?}, which is not among the allowed namespaces {allowed:?}"
    )]
    NamespaceNotAllowed {
        id: Box<ResourceId>,
        namespace: String,
        allowed: Vec<String>,
    },
}

/// The namespace rules one bundle is applied under.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespacePolicy {
    /// Fleet's `namespace:` option: every namespaced object is forced into it and
    /// cluster-scoped objects are refused.
    pub target_namespace: String,
    /// Glob patterns (`*` wildcard) of namespaces objects may live in; empty allows all.
    pub allowed_namespaces: Vec<String>,
    /// With `allowed_namespaces` set, whether cluster-scoped objects are still allowed.
    pub allow_cluster_scoped: bool,
}

impl NamespacePolicy {
    /// Checks an object whose namespace is already filled in.
    pub fn check(&self, id: &ResourceId, namespaced: bool) -> Result<(), PolicyViolation> {
        if !namespaced {
            if !self.target_namespace.is_empty() {
                return Err(PolicyViolation::ClusterScopedWithTargetNamespace {
                    id: Box::new(id.clone()),
                    target: self.target_namespace.clone(),
                });
            }
            if !self.allowed_namespaces.is_empty() && !self.allow_cluster_scoped {
                return Err(PolicyViolation::ClusterScopedNotAllowed {
                    id: Box::new(id.clone()),
                });
            }
            return Ok(());
        }
        self.check_namespace(id, &id.namespace)
    }

    /// Checks that `namespace` may be written to (also used for namespaces the agent
    /// creates for a bundle).
    pub fn check_namespace(&self, id: &ResourceId, namespace: &str) -> Result<(), PolicyViolation> {
        if self.allowed_namespaces.is_empty()
            || self
                .allowed_namespaces
                .iter()
                .any(|p| glob_match(p, namespace))
        {
            return Ok(());
        }
        Err(PolicyViolation::NamespaceNotAllowed {
            id: Box::new(id.clone()),
            namespace: namespace.to_string(),
            allowed: self.allowed_namespaces.clone(),
        })
    }
}

/// Matches `text` against `pattern` where `*` matches any run of characters.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(kind: &str, ns: &str) -> ResourceId {
        ResourceId {
            api_version: "v1".into(),
            kind: kind.into(),
            namespace: ns.into(),
            name: "x".into(),
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("team-*", "team-a"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("a*b*c", "a-x-b-y-c"));
        assert!(!glob_match("team-*", "kube-system"));
        assert!(!glob_match("a*a", "a"));
        assert!(glob_match("exact", "exact"));
    }

    #[test]
    fn target_namespace_forbids_cluster_scoped() {
        let policy = NamespacePolicy {
            target_namespace: "app".into(),
            ..Default::default()
        };
        assert!(policy.check(&id("ConfigMap", "app"), true).is_ok());
        let err = policy.check(&id("ClusterRole", ""), false).unwrap_err();
        assert!(err.to_string().contains("defaultNamespace"), "{err}");
    }

    #[test]
    fn allowed_namespaces_restrict_writes() {
        let policy = NamespacePolicy {
            allowed_namespaces: vec!["team-*".into()],
            ..Default::default()
        };
        assert!(policy.check(&id("ConfigMap", "team-a"), true).is_ok());
        assert!(matches!(
            policy.check(&id("Secret", "kube-system"), true),
            Err(PolicyViolation::NamespaceNotAllowed { .. })
        ));
        assert!(matches!(
            policy.check(&id("Namespace", ""), false),
            Err(PolicyViolation::ClusterScopedNotAllowed { .. })
        ));
        let permissive = NamespacePolicy {
            allow_cluster_scoped: true,
            ..policy
        };
        assert!(permissive.check(&id("Namespace", ""), false).is_ok());
        assert!(NamespacePolicy::default()
            .check(&id("ClusterRole", ""), false)
            .is_ok());
    }
}
