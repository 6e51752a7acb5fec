//! Fuzzes the decoding of what the manager accepts from agents over the network, through
//! the manager's own extractors, and of the desired state the agent accepts back.
//!
//! The same bytes are offered as: the JSON body of `POST /agent/v1/register` and
//! `POST /agent/v1/status` (the manager's [`ApiJson`] extractor, which must answer a
//! malformed body with a 400 naming the cause, never panic), the `Authorization` header
//! (bearer parsing), the query of `GET /agent/v1/desired` (`?wait=`), and the body of
//! `GET /agent/v1/desired` as the agent decodes it.
#![no_main]

use axum::body::Body;
use axum::extract::{FromRequest, Query};
use axum::http::{Request, Uri};
use fleet_bundle::deployment::{DesiredState, RegisterRequest, StatusReport};
use fleet_manager::api::agent::WaitQuery;
use fleet_manager::api::error::ApiJson;
use libfuzzer_sys::fuzz_target;

/// Runs the extractor over `data` as a request body; the future never waits on I/O.
fn decode<T: serde::de::DeserializeOwned>(data: &[u8]) {
    let req = Request::post("/agent/v1/status")
        .header("content-type", "application/json")
        .body(Body::from(data.to_vec()));
    let Ok(req) = req else {
        return;
    };
    if let Err(failure) = futures::executor::block_on(ApiJson::<T>::from_request(req, &())) {
        assert_eq!(failure.status.as_u16(), 400, "{}", failure.message);
    }
}

fuzz_target!(|data: &[u8]| {
    decode::<RegisterRequest>(data);
    decode::<StatusReport>(data);
    let _ = serde_json::from_slice::<DesiredState>(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = fleet_manager::auth::bearer(Some(text));
        if let Ok(uri) = format!("/agent/v1/desired?{text}").parse::<Uri>() {
            let _ = Query::<WaitQuery>::try_from_uri(&uri);
        }
    }
});
