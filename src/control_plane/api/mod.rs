//! The tenant API as one axum `Router`, served by `lambda_http` on AWS and by `axum::serve`
//! locally. Paths, bodies, field names and statuses follow DESIGN.md section 3. Every error is
//! `{"error": {"code", "message"}}`, and domain errors map to statuses in one function
//! ([`ApiError::from`]). Bodies are bounded and fully validated before any write.

mod contract;
mod error;
mod listing;
mod mutation;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};

pub use contract::{
    DeleteRequest, DriftAnswer, DriftInformation, DriftRequest, ErrorBody, ErrorDetail,
    MAX_DRIFT_TENANTS, MoveAction, MovePlan, MovePlanRequest, OnboardingRequest, PlannedChange,
    PublishedType, StackResource, TenantError, TenantRequest, TenantsPage, UpdateRequest,
};
pub use error::ApiError;
use error::parse;
use mutation::{Mutation, answer};

use super::moves::Move;
use super::tenant::{Status, Tenant, TenantName, Timestamp};
use super::{ControlPlane, Error, store};
use crate::functions::Route;

/// The header that makes a mutating request safe to retry ([`idempotency`]).
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Set on an answer replayed from an idempotency record.
pub const REPLAYED: &str = "idempotent-replayed";

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The header of a `GET /tenants` answer that stopped before the listing's end: the
/// `nextToken` to continue from. The only sign of it in the array a request that does not page
/// gets; beside the body's `nextToken` in a page.
pub const NEXT_TOKEN_HEADER: &str = "x-silos-next-token";

/// The most tenants a page of `GET /tenants` holds: the largest `limit`.
pub const MAX_LIMIT: usize = store::MAX_PAGE;

/// The tenants of a page when a request pages (sends `limit` or `nextToken`) but names no
/// `limit`.
pub const DEFAULT_LIMIT: usize = 100;

/// The most bytes a `GET /tenants` body may take, counted as the Lambda response that
/// carries it holds it (a JSON string, in which each `"` and `\` takes two): well below
/// Lambda's 6 MB response limit, with room for the envelope and the headers.
pub const RESPONSE_BUDGET: usize = 5_000_000;

/// What bounds the API's answers. [`router`] uses the defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// [`RESPONSE_BUDGET`] unless a test says otherwise.
    pub response_budget: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            response_budget: RESPONSE_BUDGET,
        }
    }
}

pub fn router(control_plane: ControlPlane) -> Router {
    router_with(control_plane, Limits::default())
}

/// Every route the Router serves, with its handler. The stack makes the same routes from
/// `functions::FUNCTIONS`; a test holds the two equal, so a route added here and not declared
/// there (or the other way round) fails.
pub fn routes() -> Vec<(Route, MethodRouter<ControlPlane>)> {
    vec![
        (Route::get("/tenants"), get(listing::list)),
        (Route::get("/tenants/{tenantId}"), get(get_one)),
        (Route::post("/onboarding"), post(onboarding)),
        (Route::post("/delete"), post(delete)),
        (Route::post("/tenant-info"), post(tenant_info)),
        (Route::post("/retry"), post(retry)),
        (Route::post("/move-plan"), post(move_plan)),
        (Route::post("/drift"), post(drift)),
        (Route::post("/update"), post(update)),
        (Route::get("/deployment-types"), get(deployment_types)),
    ]
}

/// The router with other `limits` (a smaller response budget, in tests).
pub fn router_with(control_plane: ControlPlane, limits: Limits) -> Router {
    let mut router = Router::new();
    for (route, handler) in routes() {
        router = router.route(route.path, handler);
    }
    router
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "NoSuchRoute", "no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(Extension(limits))
        .with_state(control_plane)
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

async fn get_one(State(cp): State<ControlPlane>, Path(id): Path<String>) -> Reply {
    let id = tenant_id(&id)?;
    reply(StatusCode::OK, cp.tenant(&id).await?)
}

async fn onboarding(State(cp): State<ControlPlane>, request: Mutation) -> Reply {
    let req: OnboardingRequest = request.json()?;
    if let Some(region) = &req.region
        && !crate::blueprint::cells::valid_region(region)
    {
        return Err(ApiError::bad_request(
            "InvalidRegion",
            format!("region {region:?} is not an AWS region name such as eu-west-1"),
        ));
    }
    let name = TenantName::parse(&req.tenant_name)
        .map_err(|e| ApiError::bad_request("InvalidTenantName", e.to_string()))?;
    if let Some(email) = &req.admin_email
        && let Err(why) = check_email(email)
    {
        return Err(ApiError::bad_request(
            "InvalidAdminEmail",
            format!("adminEmail {email:?} {why}"),
        ));
    }
    let route = "/onboarding";
    request
        .run(&cp, route, StatusCode::CREATED, async |cp| {
            cp.catalog().await?.deployment_type(&req.deployment_type)?;
            let mut tenant = Tenant::new(
                uuid::Uuid::new_v4().hyphenated().to_string(),
                name,
                &req.deployment_type,
                Timestamp::now(),
            );
            tenant.admin_email = req.admin_email.clone();
            let tenant = cp.create_placed(tenant, req.region.as_deref()).await?;
            answer(StatusCode::CREATED, tenant)
        })
        .await
}

/// Whether `email` can be a directory's username: Cognito's email usernames are at most 128
/// characters here (its attribute limit is 2048; a login is not), one `@` between a local
/// part and a dotted domain, no spaces or control characters. Why not, if not.
pub fn check_email(email: &str) -> Result<(), &'static str> {
    if email.is_empty() || email.chars().count() > 128 {
        return Err("must be 1 to 128 characters");
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("has a space or a control character");
    }
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.') =>
        {
            Ok(())
        }
        _ => Err("is not an email address (name@example.com)"),
    }
}

async fn delete(State(cp): State<ControlPlane>, request: Mutation) -> Reply {
    let req: DeleteRequest = request.json()?;
    let id = tenant_id(&req.tenant_id)?;
    request
        .run(&cp, "/delete", StatusCode::ACCEPTED, async |cp| {
            let tenant = cp.tenant(&id).await?;
            // Compared in the stored form: "Acme\u{a0}Corp" confirms "Acme Corp".
            if let Some(given) = req.tenant_name
                && !TenantName::parse(&given).is_ok_and(|n| n.name == tenant.tenant_name)
            {
                return Err(Error::NameMismatch { id, given }.into());
            }
            answer(StatusCode::ACCEPTED, cp.offboard(tenant).await?)
        })
        .await
}

async fn tenant_info(State(cp): State<ControlPlane>, body: Result<Bytes, BytesRejection>) -> Reply {
    let req: TenantRequest = parse(body)?;
    let tenant = cp.tenant(&tenant_id(&req.tenant_id)?).await?;
    reply(StatusCode::OK, cp.stack_resources(&tenant).await?)
}

async fn retry(State(cp): State<ControlPlane>, request: Mutation) -> Reply {
    let req: TenantRequest = request.json()?;
    let id = tenant_id(&req.tenant_id)?;
    request
        .run(&cp, "/retry", StatusCode::ACCEPTED, async |cp| {
            let tenant = cp.tenant(&id).await?;
            if tenant.status != Status::Failed {
                return Err(Error::WrongStatus {
                    id: tenant.tenant_id,
                    status: tenant.status,
                    operation: "retry",
                    needs: "failed",
                }
                .into());
            }
            answer(StatusCode::ACCEPTED, cp.provision(tenant).await?)
        })
        .await
}

/// `POST /move-plan`: what moving a running tenant to another deployment type would add,
/// remove and replace; 409 with the reason if it cannot move at all.
async fn move_plan(State(cp): State<ControlPlane>, body: Result<Bytes, BytesRejection>) -> Reply {
    let req: MovePlanRequest = parse(body)?;
    let tenant = cp.tenant(&tenant_id(&req.tenant_id)?).await?;
    reply(
        StatusCode::OK,
        cp.plan_move(&tenant, &req.deployment_type).await?,
    )
}

/// `POST /drift`: for each tenant, starts drift detection or collects the one in flight.
/// 400 for a bad or oversize list before anything is done; a tenant that cannot be checked
/// (unknown, not running) is an error of its own in the answer.
async fn drift(State(cp): State<ControlPlane>, body: Result<Bytes, BytesRejection>) -> Reply {
    let req: DriftRequest = parse(body)?;
    if req.tenant_ids.is_empty() || req.tenant_ids.len() > MAX_DRIFT_TENANTS {
        return Err(ApiError::bad_request(
            "InvalidTenantIds",
            format!(
                "tenantIds holds {} ids: give 1 to {MAX_DRIFT_TENANTS}",
                req.tenant_ids.len()
            ),
        ));
    }
    let ids = req
        .tenant_ids
        .iter()
        .map(|id| tenant_id(id))
        .collect::<Result<Vec<String>, ApiError>>()?;
    let mut answer = DriftAnswer {
        tenants: Vec::new(),
        errors: Vec::new(),
    };
    for id in ids {
        let checked = match cp.tenant(&id).await {
            Ok(t) => cp.drift(t).await,
            Err(e) => Err(e),
        };
        match checked {
            Ok(t) => answer.tenants.push(t),
            Err(e) => answer.errors.push(TenantError {
                tenant_id: id,
                error: ApiError::from(e).body().error,
            }),
        }
    }
    reply(StatusCode::OK, answer)
}

/// `POST /update`: 202 with the tenant `updating`, or 200 with it unchanged when it is
/// already at the published version. With another `deploymentType`, a tier move: 409
/// `DataLoss` if its plan removes or replaces a data-bearing resource and `allowDataLoss` is
/// not set, 409 `MoveRefused` if it cannot move at all.
async fn update(State(cp): State<ControlPlane>, request: Mutation) -> Reply {
    let req: UpdateRequest = request.json()?;
    let id = tenant_id(&req.tenant_id)?;
    request
        .run(&cp, "/update", StatusCode::ACCEPTED, async |cp| {
            let tenant = cp.tenant(&id).await?;
            let to = req.deployment_type.as_deref().map(|to| Move {
                to,
                allow_data_loss: req.allow_data_loss,
            });
            match cp
                .request_update(tenant, req.version.as_deref(), to)
                .await?
            {
                super::updater::UpdateRequest::UpToDate(t) => answer(StatusCode::OK, t),
                super::updater::UpdateRequest::Started(t) => answer(StatusCode::ACCEPTED, t),
            }
        })
        .await
}

/// `GET /deployment-types`: each published deployment type and its tenant version.
async fn deployment_types(State(cp): State<ControlPlane>) -> Reply {
    let catalog = cp.catalog().await?;
    let types: Vec<PublishedType> = catalog
        .deployment_types
        .iter()
        .map(|(name, entry)| PublishedType {
            deployment_type: name.clone(),
            description: entry.blueprint.description.clone(),
            version: entry.version.clone(),
            tenant_data: entry.blueprint.tenant_data,
        })
        .collect();
    reply(StatusCode::OK, types)
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_admin_email_is_one_address_or_a_reason() {
        for good in ["ops@acme.example", "a.b+silo@sub.acme.io"] {
            assert_eq!(super::check_email(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "acme",
            "@acme.io",
            "a@b@acme.io",
            "a@acme",
            "a@.acme.io",
            "a@acme.io.",
            "a b@acme.io",
            "a@acme.io\n",
        ] {
            assert!(super::check_email(bad).is_err(), "{bad:?}");
        }
        assert!(super::check_email(&format!("{}@acme.io", "a".repeat(128))).is_err());
    }

    #[test]
    fn the_router_serves_exactly_the_declared_routes() {
        let served: Vec<String> = super::routes().iter().map(|(r, _)| r.to_string()).collect();
        let declared: Vec<String> = crate::functions::routes().map(|r| r.to_string()).collect();
        let unique: std::collections::BTreeSet<&String> = served.iter().collect();
        assert_eq!(unique.len(), served.len(), "a route twice: {served:?}");
        assert_eq!(
            unique,
            declared.iter().collect(),
            "the Router (api::routes) and the declarations (functions::FUNCTIONS) differ"
        );
    }
}
