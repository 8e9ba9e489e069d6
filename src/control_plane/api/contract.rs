//! The API's contracts: every request body and every response shape, one type each, which
//! the handlers parse and answer with and the CLI's client sends and reads. A change here is
//! a change of the API: `tests/contract.rs` snapshots each shape's JSON.

use serde::{Deserialize, Serialize};

use crate::control_plane::tenant::Tenant;

/// `POST /onboarding`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OnboardingRequest {
    pub tenant_name: String,
    pub deployment_type: String,
    /// Places the tenant in a cell of this region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The tenant's first administrator, invited into its directory (Cognito's invitation)
    /// once its stack is running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_email: Option<String>,
}

/// `POST /delete`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeleteRequest {
    pub tenant_id: String,
    /// If given, it must be the tenant's name (409 otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_name: Option<String>,
}

/// `POST /tenant-info` and `POST /retry`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TenantRequest {
    pub tenant_id: String,
}

/// `POST /update`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateRequest {
    pub tenant_id: String,
    /// The version the caller planned for; refused (409) if another is published now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Another deployment type to move the tenant to (a tier move); its own type, or none,
    /// for an update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_type: Option<String>,
    /// Move even if the move's plan removes or replaces a data-bearing resource (else 409
    /// `DataLoss`, naming them).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_data_loss: bool,
}

/// `POST /move-plan`: what moving the tenant to `deploymentType` would do. The answer is a
/// [`MovePlan`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MovePlanRequest {
    pub tenant_id: String,
    pub deployment_type: String,
}

pub use crate::blueprint::moves::{Action as MoveAction, MovePlan, PlannedChange};

/// The most tenants one `POST /drift` takes: each costs a paced DetectStackDrift or two, and
/// API Gateway waits 29 s.
pub const MAX_DRIFT_TENANTS: usize = 25;

/// `POST /drift`: start drift detection on these tenants' stacks, or collect the detections
/// in flight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DriftRequest {
    pub tenant_ids: Vec<String>,
}

/// `POST /drift`'s answer: each tenant as it stands (its `drift`: a result, or a detection in
/// flight), and each that could not be checked, with why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftAnswer {
    pub tenants: Vec<Tenant>,
    pub errors: Vec<TenantError>,
}

/// One tenant's error in an answer about many.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantError {
    pub tenant_id: String,
    pub error: ErrorDetail,
}

/// One published deployment type, as `GET /deployment-types` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishedType {
    pub deployment_type: String,
    pub description: String,
    /// Its tenant version; None if the catalog was published without versions.
    pub version: Option<String>,
    /// What offboarding does with its tenants' data: `retain` (the default) or `delete`.
    #[serde(default)]
    pub tenant_data: crate::blueprint::TenantData,
}

/// One resource of a tenant's stack, as `POST /tenant-info` lists them (the reference
/// architecture's shape: CloudFormation's own field names).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StackResource {
    pub logical_resource_id: String,
    pub physical_resource_id: Option<String>,
    pub resource_type: String,
    pub last_updated_timestamp: Option<String>,
    pub resource_status: Option<String>,
    pub drift_information: DriftInformation,
}

/// A resource's drift, `NOT_CHECKED` unless CloudFormation says otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DriftInformation {
    pub stack_resource_drift_status: String,
}

/// One page of `GET /tenants` (with `limit` or `nextToken`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantsPage {
    pub tenants: Vec<Tenant>,
    /// Where the next page starts; None on the last.
    pub next_token: Option<String>,
}

/// Every error: `{"error": {"code", "message"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}
