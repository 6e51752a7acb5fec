//! The OpenAPI 3 document of the admin and agent APIs, served at
//! `/api/v1/openapi.json`. Kept next to the router; a test checks that every route the
//! router serves is documented here.

use serde_json::{json, Value};

fn op(summary: &str, tag: &str, responses: &[(&str, &str)]) -> Value {
    let mut r = serde_json::Map::new();
    for (code, desc) in responses {
        let mut resp = json!({ "description": desc });
        if code.starts_with('4') || code.starts_with('5') {
            resp["content"] =
                json!({"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}});
        }
        r.insert((*code).to_string(), resp);
    }
    json!({ "summary": summary, "tags": [tag], "responses": r })
}

/// Every documented (method, path) pair, in the router's path syntax.
pub const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/apply"),
    ("get", "/api/v1/{kind}"),
    ("get", "/api/v1/{kind}/{namespace}/{name}"),
    ("delete", "/api/v1/{kind}/{namespace}/{name}"),
    ("get", "/api/v1/bundles"),
    ("get", "/api/v1/bundles/{namespace}/{name}"),
    ("get", "/api/v1/clusters"),
    ("get", "/api/v1/clusters/{namespace}/{name}"),
    ("delete", "/api/v1/clusters/{namespace}/{name}"),
    ("post", "/api/v1/clusters/{namespace}/{name}/labels"),
    ("post", "/api/v1/clusters/{namespace}/{name}/credential"),
    ("post", "/api/v1/tokens"),
    ("get", "/api/v1/tokens"),
    ("delete", "/api/v1/tokens/{id}"),
    ("post", "/api/v1/joins"),
    ("get", "/install/agent.yaml"),
    ("get", "/install/fleet-agent.tgz"),
    ("post", "/api/v1/admintokens"),
    ("get", "/api/v1/admintokens"),
    ("delete", "/api/v1/admintokens/{name}"),
    ("get", "/api/v1/audit"),
    ("get", "/api/v1/status"),
    ("post", "/agent/v1/register"),
    ("get", "/agent/v1/desired"),
    ("get", "/agent/v1/content/{digest}"),
    ("post", "/agent/v1/status"),
    ("post", "/webhooks/git"),
];

/// The document.
pub fn document() -> Value {
    let admin_errors = [
        ("400", "bad input"),
        ("401", "missing or invalid admin token or OIDC bearer token"),
        (
            "403",
            "read-only caller, or an OIDC token with no mapped group",
        ),
        ("404", "not found"),
        ("503", "OIDC provider keys not fetched yet"),
    ];
    let with = |summary: &str, tag: &str, ok: (&str, &str)| {
        let mut rs = vec![ok];
        rs.extend_from_slice(&admin_errors);
        op(summary, tag, &rs)
    };
    let mut paths = serde_json::Map::new();
    let mut add = |method: &str, path: &str, v: Value| {
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[method] = v;
    };
    add(
        "post",
        "/api/v1/apply",
        with(
            "Apply GitRepo, ClusterGroup and v1 Secret documents (YAML or JSON, multi-document)",
            "resources",
            ("200", "what was applied"),
        ),
    );
    add(
        "get",
        "/api/v1/{kind}",
        with(
            "List gitrepos, clustergroups or secrets (secrets: metadata only)",
            "resources",
            ("200", "items"),
        ),
    );
    add(
        "get",
        "/api/v1/{kind}/{namespace}/{name}",
        with(
            "Get one resource with its status",
            "resources",
            ("200", "the resource"),
        ),
    );
    add(
        "delete",
        "/api/v1/{kind}/{namespace}/{name}",
        with(
            "Delete a resource (a GitRepo takes its bundles along)",
            "resources",
            ("204", "deleted"),
        ),
    );
    add(
        "get",
        "/api/v1/bundles",
        with(
            "Bundles with Fleet summaries; filters namespace, name, state, offset, limit",
            "status",
            ("200", "a page"),
        ),
    );
    add(
        "get",
        "/api/v1/bundles/{namespace}/{name}",
        with(
            "One bundle and its per-cluster states",
            "status",
            ("200", "the bundle"),
        ),
    );
    add("get", "/api/v1/clusters", with("Clusters with summaries; filters namespace, name, state, labels (k=v,...), group, offset, limit", "clusters", ("200", "a page")));
    add(
        "get",
        "/api/v1/clusters/{namespace}/{name}",
        with(
            "One cluster and the state of each of its bundles",
            "clusters",
            ("200", "the cluster"),
        ),
    );
    add(
        "delete",
        "/api/v1/clusters/{namespace}/{name}",
        with(
            "Remove a cluster (its credential stops working)",
            "clusters",
            ("204", "removed"),
        ),
    );
    add(
        "post",
        "/api/v1/clusters/{namespace}/{name}/labels",
        with(
            "Set and remove labels: {set: {k: v}, remove: [k]}",
            "clusters",
            ("200", "the new labels"),
        ),
    );
    add(
        "post",
        "/api/v1/clusters/{namespace}/{name}/credential",
        with(
            "Rotate the cluster credential (returned once)",
            "clusters",
            ("200", "the new credential"),
        ),
    );
    add(
        "post",
        "/api/v1/tokens",
        with(
            "Create a registration token: {namespace, ttl: \"24h\", labels, maxUses}",
            "tokens",
            ("201", "the token, shown once"),
        ),
    );
    add(
        "get",
        "/api/v1/tokens",
        with(
            "List registration tokens (never the tokens themselves)",
            "tokens",
            ("200", "items"),
        ),
    );
    add(
        "delete",
        "/api/v1/tokens/{id}",
        with("Delete a registration token", "tokens", ("204", "deleted")),
    );
    add(
        "post",
        "/api/v1/joins",
        with(
            "Create a join token for one cluster: {name, namespace, ttl: \"1h\", labels}; answers the kubectl and helm install commands",
            "tokens",
            ("201", "the token, shown once, and the install commands"),
        ),
    );
    add(
        "get",
        "/install/agent.yaml",
        op(
            "The agent's manifests for the cluster of ?token= (a join token; no admin token)",
            "install",
            &[
                ("200", "YAML for kubectl apply -f"),
                ("401", "no token"),
                ("403", "unknown, expired or used-up token"),
            ],
        ),
    );
    add(
        "get",
        "/install/fleet-agent.tgz",
        op(
            "The agent chart, for helm install",
            "install",
            &[("200", "the chart archive")],
        ),
    );
    add(
        "post",
        "/api/v1/admintokens",
        with(
            "Create a named admin token: {name, role: admin|read-only}",
            "tokens",
            ("201", "the token, shown once"),
        ),
    );
    add(
        "get",
        "/api/v1/admintokens",
        with("List admin tokens", "tokens", ("200", "items")),
    );
    add(
        "delete",
        "/api/v1/admintokens/{name}",
        with("Revoke an admin token", "tokens", ("204", "revoked")),
    );
    add(
        "get",
        "/api/v1/audit",
        with(
            "The latest audit entries (who, what, when)",
            "audit",
            ("200", "items"),
        ),
    );
    add(
        "get",
        "/api/v1/status",
        with(
            "Fleet-wide summary, GitRepos and cluster groups",
            "status",
            ("200", "the overview"),
        ),
    );
    add(
        "post",
        "/agent/v1/register",
        op(
            "Register with a registration token (bearer); returns the cluster credential once",
            "agent",
            &[
                ("201", "registered"),
                ("400", "bad input"),
                (
                    "401",
                    "invalid token, or no client certificate where mTLS is required",
                ),
                ("403", "the client certificate names another cluster"),
            ],
        ),
    );
    add(
        "get",
        "/agent/v1/desired",
        op(
            "Desired state; If-None-Match + wait=SECONDS long-polls for a change",
            "agent",
            &[
                ("200", "the desired state with ETag"),
                ("304", "unchanged"),
                (
                    "401",
                    "unknown credential, or no client certificate where mTLS is required",
                ),
                ("403", "the client certificate names another cluster"),
            ],
        ),
    );
    add(
        "get",
        "/agent/v1/content/{digest}",
        op(
            "Bundle content by sha256 (only content this cluster is targeted with)",
            "agent",
            &[
                ("200", "content"),
                (
                    "401",
                    "unknown credential, or no client certificate where mTLS is required",
                ),
                ("403", "the client certificate names another cluster"),
                ("404", "not targeted or unknown"),
            ],
        ),
    );
    add(
        "post",
        "/agent/v1/status",
        op(
            "Report bundle states (idempotent; stale reports ignored)",
            "agent",
            &[
                ("204", "accepted"),
                ("400", "malformed"),
                (
                    "401",
                    "unknown credential, or no client certificate where mTLS is required",
                ),
                ("403", "the client certificate names another cluster"),
                ("413", "too large"),
            ],
        ),
    );
    add(
        "post",
        "/webhooks/git",
        op(
            "GitHub/GitLab/Gitea/Gogs/Bitbucket push event (signature checked)",
            "webhooks",
            &[
                ("202", "matching GitRepos triggered"),
                ("401", "bad signature"),
                ("403", "webhooks disabled"),
            ],
        ),
    );
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "fleet-manager",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Admin API (bearer admin token) and agent API (bearer cluster credential) of the Fleet manager."
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "ApiError": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}}
                }
            }
        },
        "security": [{"bearer": []}],
        "paths": paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented() {
        let doc = document();
        for (method, path) in ROUTES {
            assert!(
                doc["paths"][path][method].is_object(),
                "{method} {path} is not documented"
            );
        }
        assert_eq!(doc["openapi"], "3.0.3");
    }
}
