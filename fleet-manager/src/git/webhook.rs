//! Push webhooks from GitHub, GitLab, Gitea/Gogs and Bitbucket: which provider sent it,
//! whether it is authentic, and which repository and branch it is about.
//!
//! Only authenticated events do anything, and what they do is wake the poller for the
//! GitRepos whose own `repo` matches the event's repository: the payload never supplies
//! a URL that the manager fetches.

use axum::http::HeaderMap;

/// The sender of a webhook, from its event header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    GitHub,
    GitLab,
    Gitea,
    Gogs,
    Bitbucket,
}

/// Why a webhook was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    #[error("unknown webhook sender: expected X-GitHub-Event, X-Gitlab-Event, X-Gitea-Event, X-Gogs-Event or X-Event-Key")]
    UnknownProvider,
    #[error("missing signature header {0}")]
    MissingSignature(&'static str),
    #[error("signature does not match the configured webhook secret")]
    BadSignature,
    #[error("payload is not valid JSON: {0}")]
    BadPayload(String),
}

/// A push event: the repository's addresses and the pushed branch (if a branch).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PushEvent {
    pub urls: Vec<String>,
    pub branch: Option<String>,
    /// False for pings and other non-push events, which are acknowledged and ignored.
    pub is_push: bool,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The provider, from the event header each one sets.
pub fn detect(headers: &HeaderMap) -> Result<Provider, WebhookError> {
    // Gitea and Gogs also send X-GitHub-Event for compatibility, so look at them first.
    if header(headers, "x-gitea-event").is_some() {
        Ok(Provider::Gitea)
    } else if header(headers, "x-gogs-event").is_some() {
        Ok(Provider::Gogs)
    } else if header(headers, "x-github-event").is_some() {
        Ok(Provider::GitHub)
    } else if header(headers, "x-gitlab-event").is_some() {
        Ok(Provider::GitLab)
    } else if header(headers, "x-event-key").is_some() {
        Ok(Provider::Bitbucket)
    } else {
        Err(WebhookError::UnknownProvider)
    }
}

fn hmac_sha256_ok(secret: &str, body: &[u8], hex_sig: &str) -> bool {
    let Ok(sig) = hex::decode(hex_sig.trim()) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::verify(&key, body, &sig).is_ok()
}

/// Checks the event's authenticity with the shared `secret`: HMAC-SHA256 of the body
/// for GitHub (`X-Hub-Signature-256`), Gitea, Gogs and Bitbucket (`X-Hub-Signature`);
/// the token header for GitLab. Comparisons are constant-time.
pub fn verify(
    provider: Provider,
    headers: &HeaderMap,
    body: &[u8],
    secret: &str,
) -> Result<(), WebhookError> {
    let ok = match provider {
        Provider::GitHub => {
            let sig = header(headers, "x-hub-signature-256")
                .ok_or(WebhookError::MissingSignature("X-Hub-Signature-256"))?;
            sig.strip_prefix("sha256=")
                .is_some_and(|h| hmac_sha256_ok(secret, body, h))
        }
        Provider::Gitea => {
            let sig = header(headers, "x-gitea-signature")
                .ok_or(WebhookError::MissingSignature("X-Gitea-Signature"))?;
            hmac_sha256_ok(secret, body, sig)
        }
        Provider::Gogs => {
            let sig = header(headers, "x-gogs-signature")
                .ok_or(WebhookError::MissingSignature("X-Gogs-Signature"))?;
            hmac_sha256_ok(secret, body, sig)
        }
        Provider::Bitbucket => {
            let sig = header(headers, "x-hub-signature")
                .ok_or(WebhookError::MissingSignature("X-Hub-Signature"))?;
            sig.strip_prefix("sha256=")
                .is_some_and(|h| hmac_sha256_ok(secret, body, h))
        }
        Provider::GitLab => {
            let token = header(headers, "x-gitlab-token")
                .ok_or(WebhookError::MissingSignature("X-Gitlab-Token"))?;
            crate::auth::secrets_equal(token, secret)
        }
    };
    if ok {
        Ok(())
    } else {
        Err(WebhookError::BadSignature)
    }
}

/// Reads the repository addresses and branch of a push event.
pub fn parse_push(
    provider: Provider,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<PushEvent, WebhookError> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| WebhookError::BadPayload(e.to_string()))?;
    let s = |p: &str| v.pointer(p).and_then(|x| x.as_str()).map(str::to_string);
    let branch_of =
        |r: Option<String>| r.and_then(|r| r.strip_prefix("refs/heads/").map(str::to_string));
    let mut ev = PushEvent::default();
    match provider {
        Provider::GitHub | Provider::Gitea | Provider::Gogs => {
            let event = header(headers, "x-github-event")
                .or_else(|| header(headers, "x-gitea-event"))
                .or_else(|| header(headers, "x-gogs-event"))
                .unwrap_or("");
            ev.is_push = event == "push";
            ev.urls = [
                "/repository/clone_url",
                "/repository/ssh_url",
                "/repository/html_url",
                "/repository/git_url",
            ]
            .iter()
            .filter_map(|p| s(p))
            .collect();
            ev.branch = branch_of(s("/ref"));
        }
        Provider::GitLab => {
            let event = header(headers, "x-gitlab-event").unwrap_or("");
            ev.is_push = event == "Push Hook" || event == "Tag Push Hook";
            ev.urls = [
                "/project/git_http_url",
                "/project/git_ssh_url",
                "/project/web_url",
                "/repository/git_http_url",
                "/repository/homepage",
            ]
            .iter()
            .filter_map(|p| s(p))
            .collect();
            ev.branch = branch_of(s("/ref"));
        }
        Provider::Bitbucket => {
            let event = header(headers, "x-event-key").unwrap_or("");
            ev.is_push = event == "repo:push" || event == "repo:refs_changed";
            if let Some(h) = s("/repository/links/html/href") {
                ev.urls.push(h);
            }
            if let Some(clones) = v
                .pointer("/repository/links/clone")
                .and_then(|c| c.as_array())
            {
                ev.urls.extend(
                    clones
                        .iter()
                        .filter_map(|c| c.get("href")?.as_str().map(str::to_string)),
                );
            }
            // Cloud: push.changes[].new.name (type branch); Server: changes[].ref.displayId.
            ev.branch = v
                .pointer("/push/changes/0/new")
                .filter(|n| n.get("type").and_then(|t| t.as_str()) == Some("branch"))
                .and_then(|n| n.get("name")?.as_str().map(str::to_string))
                .or_else(|| branch_of(s("/changes/0/refId")));
        }
    }
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn sign(secret: &str, body: &[u8]) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
        hex::encode(ring::hmac::sign(&key, body).as_ref())
    }

    #[test]
    fn github_signatures_are_checked() {
        let body = br#"{"ref":"refs/heads/main","repository":{"clone_url":"https://github.com/o/r.git","ssh_url":"git@github.com:o/r.git"}}"#;
        let good = headers(&[
            ("x-github-event", "push"),
            (
                "x-hub-signature-256",
                &format!("sha256={}", sign("s3cret", body)),
            ),
        ]);
        let p = detect(&good).unwrap();
        assert_eq!(p, Provider::GitHub);
        assert_eq!(verify(p, &good, body, "s3cret"), Ok(()));
        assert_eq!(
            verify(p, &good, body, "other"),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify(p, &good, b"tampered", "s3cret"),
            Err(WebhookError::BadSignature)
        );
        let unsigned = headers(&[("x-github-event", "push")]);
        assert!(matches!(
            verify(p, &unsigned, body, "s3cret"),
            Err(WebhookError::MissingSignature(_))
        ));
        let ev = parse_push(p, &good, body).unwrap();
        assert!(ev.is_push);
        assert_eq!(ev.branch.as_deref(), Some("main"));
        assert_eq!(ev.urls.len(), 2);
    }

    #[test]
    fn gitlab_token_gitea_and_bitbucket() {
        let body =
            br#"{"ref":"refs/heads/dev","project":{"git_http_url":"https://gitlab.com/o/r.git"}}"#;
        let h = headers(&[("x-gitlab-event", "Push Hook"), ("x-gitlab-token", "tok")]);
        let p = detect(&h).unwrap();
        assert_eq!(verify(p, &h, body, "tok"), Ok(()));
        assert_eq!(verify(p, &h, body, "nope"), Err(WebhookError::BadSignature));
        assert_eq!(
            parse_push(p, &h, body).unwrap().branch.as_deref(),
            Some("dev")
        );

        let body =
            br#"{"ref":"refs/heads/main","repository":{"clone_url":"http://gitea/o/r.git"}}"#;
        let h = headers(&[
            ("x-gitea-event", "push"),
            ("x-github-event", "push"),
            ("x-gitea-signature", &sign("k", body)),
        ]);
        let p = detect(&h).unwrap();
        assert_eq!(p, Provider::Gitea);
        assert_eq!(verify(p, &h, body, "k"), Ok(()));

        let body = br#"{"push":{"changes":[{"new":{"type":"branch","name":"main"}}]},"repository":{"links":{"html":{"href":"https://bitbucket.org/o/r"}}}}"#;
        let h = headers(&[
            ("x-event-key", "repo:push"),
            ("x-hub-signature", &format!("sha256={}", sign("k", body))),
        ]);
        let p = detect(&h).unwrap();
        assert_eq!(verify(p, &h, body, "k"), Ok(()));
        let ev = parse_push(p, &h, body).unwrap();
        assert_eq!(
            (ev.branch.as_deref(), ev.urls[0].as_str()),
            (Some("main"), "https://bitbucket.org/o/r")
        );
        assert_eq!(
            detect(&HeaderMap::new()),
            Err(WebhookError::UnknownProvider)
        );
    }
}
