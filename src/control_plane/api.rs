//! The tenant API as one axum `Router`, served by `lambda_http` on AWS and by `axum::serve`
//! locally. Paths, bodies, field names and statuses follow DESIGN.md section 3. Every error is
//! `{"error": {"code", "message"}}`, and domain errors map to statuses in one function
//! ([`ApiError::from`]). Bodies are bounded and fully validated before any write.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::tenant::{Status, Tenant, TenantName, Timestamp};
use super::{ControlPlane, Error, store};

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

pub fn router(control_plane: ControlPlane) -> Router {
    Router::new()
        .route("/tenants", get(list))
        .route("/tenants/{tenant_id}", get(get_one))
        .route("/onboarding", post(onboarding))
        .route("/delete", post(delete))
        .route("/tenant-info", post(tenant_info))
        .route("/retry", post(retry))
        .route("/update", post(update))
        .route("/deployment-types", get(deployment_types))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "NoSuchRoute", "no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(control_plane)
}

/// An error response: a status and the contract's JSON error body.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, axum::Json(body)).into_response()
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
            Error::Store(store::Error::Corrupt(..)) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "CorruptRecord")
            }
            // The published catalog cannot be read: an upstream (S3) failure.
            Error::Catalog(_) => (StatusCode::SERVICE_UNAVAILABLE, "CatalogUnavailable"),
            Error::Blueprint(..) => (StatusCode::INTERNAL_SERVER_ERROR, "BlueprintError"),
            Error::Store(store::Error::Aws { .. }) | Error::CloudFormation { .. } => {
                (StatusCode::BAD_GATEWAY, "AwsError")
            }
            Error::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "Timeout"),
        };
        if status.is_server_error() {
            tracing::error!(error = %message, "request failed");
        }
        ApiError::new(status, code, message)
    }
}

/// Parses a JSON body strictly: malformed, oversize, unknown or mistyped fields are all 400.
fn parse<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = body.map_err(|e| {
        ApiError::bad_request(
            "BodyTooLarge",
            format!("the body is unreadable or larger than {MAX_BODY_BYTES} bytes: {e}"),
        )
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request("InvalidBody", format!("invalid JSON body: {e}")))
}

/// Tenant ids are UUIDs; anything else is a bad request, not an unknown tenant.
fn tenant_id(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| {
            ApiError::bad_request("InvalidTenantId", format!("tenantId {raw:?} is not a UUID"))
        })
}

type Reply = Result<Response, ApiError>;

fn reply(status: StatusCode, value: impl serde::Serialize) -> Reply {
    Ok((status, axum::Json(value)).into_response())
}

async fn list(State(cp): State<ControlPlane>) -> Reply {
    reply(
        StatusCode::OK,
        cp.store().list().await.map_err(Error::from)?,
    )
}

async fn get_one(State(cp): State<ControlPlane>, Path(id): Path<String>) -> Reply {
    let id = tenant_id(&id)?;
    reply(StatusCode::OK, cp.tenant(&id).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OnboardingRequest {
    tenant_name: String,
    deployment_type: String,
}

async fn onboarding(State(cp): State<ControlPlane>, body: Result<Bytes, BytesRejection>) -> Reply {
    let req: OnboardingRequest = parse(body)?;
    let name = TenantName::parse(&req.tenant_name)
        .map_err(|e| ApiError::bad_request("InvalidTenantName", e.to_string()))?;
    cp.catalog().await?.deployment_type(&req.deployment_type)?;
    let tenant = Tenant::new(
        uuid::Uuid::new_v4().hyphenated().to_string(),
        name,
        &req.deployment_type,
        Timestamp::now(),
    );
    cp.store().create(&tenant).await.map_err(Error::from)?;
    reply(StatusCode::CREATED, tenant)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DeleteRequest {
    tenant_id: String,
    #[serde(default)]
    tenant_name: Option<String>,
}

async fn delete(State(cp): State<ControlPlane>, body: Result<Bytes, BytesRejection>) -> Reply {
    let req: DeleteRequest = parse(body)?;
    let id = tenant_id(&req.tenant_id)?;
    let tenant = cp.tenant(&id).await?;
    // Compared in the stored form: "Acme\u{a0}Corp" confirms "Acme Corp".
    if let Some(given) = req.tenant_name
        && !TenantName::parse(&given).is_ok_and(|n| n.name == tenant.tenant_name)
    {
        return Err(Error::NameMismatch { id, given }.into());
    }
    reply(StatusCode::ACCEPTED, cp.offboard(tenant).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TenantRequest {
    tenant_id: String,
}

async fn tenant_info(State(cp): State<ControlPlane>, body: Result<Bytes, BytesRejection>) -> Reply {
    let req: TenantRequest = parse(body)?;
    let tenant = cp.tenant(&tenant_id(&req.tenant_id)?).await?;
    reply(StatusCode::OK, cp.stack_resources(&tenant).await?)
}

async fn retry(State(cp): State<ControlPlane>, body: Result<Bytes, BytesRejection>) -> Reply {
    let req: TenantRequest = parse(body)?;
    let tenant = cp.tenant(&tenant_id(&req.tenant_id)?).await?;
    if tenant.status != Status::Failed {
        return Err(Error::WrongStatus {
            id: tenant.tenant_id,
            status: tenant.status,
            operation: "retry",
            needs: "failed",
        }
        .into());
    }
    reply(StatusCode::ACCEPTED, cp.provision(tenant).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UpdateRequest {
    tenant_id: String,
    /// The version the caller planned for; refused (409) if another is published now.
    #[serde(default)]
    version: Option<String>,
}

/// `POST /update`: 202 with the tenant `updating`, or 200 with it unchanged when it is
/// already at the published version.
async fn update(State(cp): State<ControlPlane>, body: Result<Bytes, BytesRejection>) -> Reply {
    let req: UpdateRequest = parse(body)?;
    let tenant = cp.tenant(&tenant_id(&req.tenant_id)?).await?;
    match cp.request_update(tenant, req.version.as_deref()).await? {
        super::updater::UpdateRequest::UpToDate(t) => reply(StatusCode::OK, t),
        super::updater::UpdateRequest::Started(t) => reply(StatusCode::ACCEPTED, t),
    }
}

/// `GET /deployment-types`: each published deployment type and its tenant version.
async fn deployment_types(State(cp): State<ControlPlane>) -> Reply {
    let catalog = cp.catalog().await?;
    let types: Vec<_> = catalog
        .deployment_types
        .iter()
        .map(|(name, entry)| {
            json!({
                "deploymentType": name,
                "description": entry.blueprint.description,
                "version": entry.version,
            })
        })
        .collect();
    reply(StatusCode::OK, types)
}
