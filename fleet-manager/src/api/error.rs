//! HTTP answers for failures, always a JSON [`ApiError`] body naming the cause, and the
//! JSON body extractor that turns malformed or oversized input into such answers.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fleet_bundle::deployment::ApiError;
use serde::de::DeserializeOwned;

use crate::manager::ManagerError;
use crate::store::StoreError;

/// A failed API call.
#[derive(Debug)]
pub struct ApiFailure {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiFailure {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiFailure {
        ApiFailure {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiFailure {
        ApiFailure::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiFailure {
        ApiFailure::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> ApiFailure {
        ApiFailure::new(StatusCode::UNAUTHORIZED, code, message)
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let body = ApiError {
            code: self.code.to_string(),
            message: self.message,
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<StoreError> for ApiFailure {
    fn from(e: StoreError) -> Self {
        // Internal details go to the log, not to the caller.
        tracing::error!(error = %e, "store error");
        ApiFailure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the manager's database is unavailable; retry later",
        )
    }
}

impl From<ManagerError> for ApiFailure {
    fn from(e: ManagerError) -> Self {
        match e {
            ManagerError::Store(s) => s.into(),
            ManagerError::BadRequest(m) => ApiFailure::bad_request(m),
            ManagerError::NotFound(m) => ApiFailure::not_found(m),
            ManagerError::Conflict(m) => ApiFailure::new(StatusCode::CONFLICT, "conflict", m),
            ManagerError::Forbidden(m) => ApiFailure::new(StatusCode::FORBIDDEN, "forbidden", m),
            ManagerError::InvalidRegistrationToken => ApiFailure::unauthorized(
                "invalid_token",
                "registration token is unknown, expired or used up",
            ),
            ManagerError::Secret(e) => {
                tracing::error!(error = %e, "secret sealing failed");
                ApiFailure::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "secret_error",
                    "cannot store the secret",
                )
            }
        }
    }
}

/// A JSON body: malformed JSON is a 400 naming the problem (line, column, field), an
/// oversized body a 413, both with a JSON error body.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiFailure;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        serde_json::from_slice(&bytes).map(ApiJson).map_err(|e| {
            ApiFailure::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("malformed JSON body: {e}"),
            )
        })
    }
}

/// The raw body, within the route's size limit.
pub async fn body_bytes<S: Send + Sync>(
    req: Request,
    state: &S,
) -> Result<axum::body::Bytes, ApiFailure> {
    axum::body::Bytes::from_request(req, state)
        .await
        .map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiFailure::new(
                    status,
                    "payload_too_large",
                    "request body is larger than this endpoint accepts",
                )
            } else {
                ApiFailure::new(
                    status,
                    "bad_body",
                    format!("cannot read the request body: {rejection}"),
                )
            }
        })
}
