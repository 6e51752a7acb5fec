//! The dashboard's pages: login and logout (server-rendered forms), one HTML shell for
//! every page (filled by the embedded script from the JSON API), and the embedded
//! assets. Every answer carries a strict Content-Security-Policy: scripts and styles
//! only from this origin, no framing.

use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::session::{self, authenticate};
use super::Dashboard;
use crate::auth;

const SHELL: &str = include_str!("assets/shell.html");
const LOGIN: &str = include_str!("assets/login.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn routes() -> Router<Arc<Dashboard>> {
    Router::new()
        .route("/", get(shell))
        .route("/ui", get(shell))
        .route("/ui/{*page}", get(shell))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route(
            "/assets/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/assets/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
        .layer(axum::middleware::from_fn(security_headers))
}

/// The routes of a dashboard that could not start: every page says why (the reason is
/// about the data directory, never a secret).
pub fn unavailable<S: Clone + Send + Sync + 'static>(reason: String) -> Router<S> {
    let answer = move || {
        let reason = reason.clone();
        async move {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the dashboard is unavailable: {reason}"),
            )
        }
    };
    Router::new()
        .route("/", get(answer.clone()))
        .route("/login", get(answer))
}

/// Headers on every dashboard answer: CSP, no framing, no sniffing, no referrer to other sites, and no
/// caching of anything that shows fleet state.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // Assets change only with the binary; revalidate on each load.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Where to go after login: only a path on this site (no `//host`, no scheme).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.starts_with("/login") =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

/// The request URI as a `next` parameter.
fn login_redirect(uri: &axum::http::Uri) -> Response {
    let next = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    Redirect::to(&format!("/login?next={}", urlencode(next))).into_response()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every page: the shell, whose script reads the path and renders from the JSON API.
async fn shell(State(dash): State<Arc<Dashboard>>, req: Request) -> Response {
    match authenticate(&dash, req.headers()).await {
        Ok(Some(_)) => html(StatusCode::OK, SHELL.to_string()),
        Ok(None) => login_redirect(req.uri()),
        Err(e) => {
            tracing::error!(error = %e, "dashboard: cannot check the session");
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                login_html(
                    "The manager's database is unavailable; retry in a moment.",
                    "/",
                ),
            )
        }
    }
}

#[derive(Deserialize, Default)]
struct NextQuery {
    next: Option<String>,
}

fn login_html(error: &str, next: &str) -> String {
    let error_block = if error.is_empty() {
        String::new()
    } else {
        format!(
            "<p class=\"error\" role=\"alert\" id=\"login-error\">{}</p>",
            escape(error)
        )
    };
    LOGIN
        .replace("{{error}}", &error_block)
        .replace("{{next}}", &escape(next))
}

async fn login_page(
    State(dash): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if let Ok(Some(_)) = authenticate(&dash, &headers).await {
        return Redirect::to(&next).into_response();
    }
    html(StatusCode::OK, login_html("", &next))
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
    #[serde(default)]
    next: Option<String>,
}

/// A form post from another site is refused: the session cookie is SameSite=Strict, and
/// login/logout check where the browser says the request comes from: `Sec-Fetch-Site`
/// when sent (every current browser), else the `Origin` against the `Host`.
fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin);
    origin == "null" || !origin_host.eq_ignore_ascii_case(host)
}

/// Whether the browser reached the login page over HTTPS (directly, as the `Origin` of
/// its form post says, or through a proxy that says so), so the cookie is marked
/// `Secure`. Over plain HTTP a `Secure` cookie would never come back.
fn https(headers: &HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    header("x-forwarded-proto").is_some_and(|p| p.eq_ignore_ascii_case("https"))
        || header("origin").is_some_and(|o| o.to_ascii_lowercase().starts_with("https://"))
}

/// `POST /login`: the token is checked and never echoed, whatever the outcome.
async fn login(
    State(dash): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    if cross_site(&headers) {
        return html(
            StatusCode::FORBIDDEN,
            login_html("Cross-site login refused.", &next),
        );
    }
    let token = form.token.trim();
    if token.is_empty() {
        return html(
            StatusCode::BAD_REQUEST,
            login_html("Enter an admin token.", &next),
        );
    }
    match dash.manager.authenticate_admin(token).await {
        Ok(Some(caller)) => {
            tracing::info!(actor = %caller.name, "dashboard login");
            let cookie = session::set_cookie(
                &dash.sessions.issue(&auth::hash_token(token)),
                https(&headers),
            );
            let mut resp = Redirect::to(&next).into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            resp
        }
        Ok(None) => {
            tracing::info!("dashboard login refused: unknown or revoked token");
            html(
                StatusCode::UNAUTHORIZED,
                login_html("Unknown or revoked admin token.", &next),
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "dashboard login: store unavailable");
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                login_html(
                    "The manager's database is unavailable; retry in a moment.",
                    &next,
                ),
            )
        }
    }
}

/// `POST /logout`: forgets the session and clears the cookie.
async fn logout(State(dash): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    if cross_site(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site logout refused").into_response();
    }
    if let Some(v) = session::cookie_value(&headers) {
        dash.sessions.logout(v);
    }
    let mut resp = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&session::clear_cookie()) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(
            safe_next(Some("/ui/clusters?state=Ready")),
            "/ui/clusters?state=Ready"
        );
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil")), "/");
        assert_eq!(safe_next(Some("/login")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn login_page_escapes_what_it_echoes() {
        let page = login_html("<b>x</b>", "/\"><script>");
        assert!(page.contains("&lt;b&gt;x&lt;/b&gt;"));
        assert!(page.contains("/&quot;&gt;&lt;script&gt;"));
        assert!(!page.contains("{{"));
    }

    #[test]
    fn secure_cookies_over_https_only() {
        let mut h = HeaderMap::new();
        assert!(!https(&h));
        h.insert(header::ORIGIN, "http://fleet.example.org".parse().unwrap());
        assert!(!https(&h));
        h.insert(header::ORIGIN, "https://fleet.example.org".parse().unwrap());
        assert!(https(&h));
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-proto", "HTTPS".parse().unwrap());
        assert!(https(&h));
    }

    #[test]
    fn cross_site_posts_are_detected() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        assert!(!cross_site(&h));
        h.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        assert!(!cross_site(&h));
        h.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(cross_site(&h));
        h.insert(header::ORIGIN, "null".parse().unwrap());
        assert!(cross_site(&h));
        h.insert("sec-fetch-site", "same-origin".parse().unwrap());
        assert!(
            !cross_site(&h),
            "browsers send Origin: null under some referrer policies"
        );
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(cross_site(&h));
    }
}
