//! The API's errors: the contract's JSON body, and the one place domain errors become HTTP
//! statuses (DESIGN.md section 3).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::MAX_BODY_BYTES;
use super::contract::{ErrorBody, ErrorDetail};
use crate::control_plane::{Error, store};

/// An error response: a status and the contract's JSON error body.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub(super) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub(super) fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// The contract's body of this error.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message.clone(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

/// The one place domain errors become HTTP statuses.
impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let message = e.to_string();
        let (status, code) = match &e {
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "TenantNotFound"),
            Error::Store(store::Error::NameTaken { .. }) => {
                (StatusCode::CONFLICT, "TenantNameTaken")
            }
            Error::Store(store::Error::WrongStatus { .. }) | Error::WrongStatus { .. } => {
                (StatusCode::CONFLICT, "WrongStatus")
            }
            Error::NoStack(_) => (StatusCode::CONFLICT, "NoStack"),
            Error::Deleted(_) => (StatusCode::CONFLICT, "TenantDeleted"),
            Error::Unversioned(_) => (StatusCode::CONFLICT, "CatalogUnversioned"),
            Error::VersionMismatch { .. } => (StatusCode::CONFLICT, "VersionMismatch"),
            Error::NameMismatch { .. } => (StatusCode::CONFLICT, "TenantNameMismatch"),
            Error::UnknownDeploymentType { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "UnknownDeploymentType")
            }
            // Settled before it gets here ([`Mutation::run`]): another request with the key won.
            Error::Store(store::Error::KeyClaimed) => (StatusCode::CONFLICT, "IdempotencyKeyInUse"),
            Error::Store(store::Error::InvalidNextToken(_)) => {
                (StatusCode::BAD_REQUEST, "InvalidNextToken")
            }
            Error::Store(store::Error::Corrupt(..) | store::Error::Unwritable(..)) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "CorruptRecord")
            }
            // The published catalog cannot be read: an upstream (S3) failure.
            Error::Catalog(_) => (StatusCode::SERVICE_UNAVAILABLE, "CatalogUnavailable"),
            Error::Blueprint(..) => (StatusCode::INTERNAL_SERVER_ERROR, "BlueprintError"),
            Error::Store(store::Error::Aws { .. }) | Error::CloudFormation { .. } => {
                (StatusCode::BAD_GATEWAY, "AwsError")
            }
            Error::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "Timeout"),
            // The request is fine, but the fleet has no room for it: a conflict with the
            // cells' state that retrying will not change until an operator adds capacity
            // (so not a 503, which clients retry).
            Error::NoCell(crate::control_plane::cells::NoCell::Full { .. }) => {
                (StatusCode::CONFLICT, "NoCellCapacity")
            }
            Error::NoCell(crate::control_plane::cells::NoCell::NoMatch { .. }) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "NoMatchingCell")
            }
            // Settled inside placement: the next cell is tried.
            Error::Store(store::Error::CellFull(_)) => (StatusCode::CONFLICT, "NoCellCapacity"),
            Error::Unreachable(_) => (StatusCode::SERVICE_UNAVAILABLE, "CellUnreachable"),
            Error::MoveRefused { .. } => (StatusCode::CONFLICT, "MoveRefused"),
            Error::DataLoss { .. } => (StatusCode::CONFLICT, "DataLoss"),
        };
        if status.is_server_error() {
            tracing::error!(error = %message, "request failed");
        }
        ApiError::new(status, code, message)
    }
}

/// The body's bytes, or 400 when it is unreadable or too large.
pub(super) fn bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        ApiError::bad_request(
            "BodyTooLarge",
            format!("the body is unreadable or larger than {MAX_BODY_BYTES} bytes: {e}"),
        )
    })
}

/// Parses a JSON body strictly: malformed, unknown or mistyped fields are all 400.
pub(super) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request("InvalidBody", format!("invalid JSON body: {e}")))
}

/// Parses a JSON body strictly: malformed, oversize, unknown or mistyped fields are all 400.
pub(super) fn parse<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    parse_json(&bytes(body)?)
}
