//! The status dashboard, served by the manager at `/`, and `fleet-manager status`.
//!
//! A platform engineer with thousands of clusters sees where a commit stands (every
//! GitRepo, bundle and cluster group with its clusters' states), filters and pages
//! through clusters, and drills down GitRepo → bundle → cluster → the resource that is
//! not ready or drifted, with its field paths. Pages update live over server-sent events.
//!
//! - [`board`]: the in-memory picture of the fleet, refreshed from the manager and
//!   versioned, so a change reaches open pages within a second;
//! - [`queries`]: overview roll-ups and filtered, paginated listings over that picture;
//! - [`api`]: the JSON endpoints under `/api/v1/dashboard` and the event stream;
//! - [`pages`]: login, logout and the page shell, with the HTML/JS/CSS embedded in the
//!   binary so the manager ships as one file;
//! - [`session`]: the admin-token login and its sealed, HttpOnly session cookie;
//! - [`redact`]: credentials scrubbed from anything displayed;
//! - [`cli_status`]: the same information as terminal tables.
//!
//! Mount it with [`router`] beside the manager's own routes.

pub mod api;
pub mod board;
pub mod cli_status;
pub mod pages;
pub mod queries;
pub mod redact;
pub mod session;

use std::sync::Arc;

use axum::Router;

use crate::manager::Manager;

/// Everything the dashboard's handlers share.
pub struct Dashboard {
    pub manager: Arc<Manager>,
    pub board: Arc<board::Board>,
    pub sessions: session::Sessions,
}

impl Dashboard {
    /// Loads the session key and starts keeping the board fresh (needs a Tokio runtime).
    pub fn start(manager: Arc<Manager>) -> Result<Arc<Dashboard>, session::SessionError> {
        let sessions = session::Sessions::load(&manager.config.data_dir)?;
        let board = Arc::new(board::Board::new());
        board.start(&manager);
        Ok(Arc::new(Dashboard {
            manager,
            board,
            sessions,
        }))
    }
}

/// The dashboard's routes: pages at `/`, `/login`, `/logout`, `/ui/…`, `/assets/…` and
/// the JSON API at `/api/v1/dashboard/…`. Generic over the outer router's state so it
/// merges into any router.
pub fn router<S: Clone + Send + Sync + 'static>(manager: Arc<Manager>) -> Router<S> {
    match Dashboard::start(manager) {
        Ok(dash) => pages::routes().merge(api::routes()).with_state(dash),
        Err(e) => {
            tracing::error!(error = %e, "the dashboard is disabled");
            pages::unavailable(e.to_string())
        }
    }
}
