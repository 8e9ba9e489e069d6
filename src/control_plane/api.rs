//! The tenant API as one axum `Router`, served by `lambda_http` on AWS and by `axum::serve`
//! locally. Paths, bodies, field names and statuses follow DESIGN.md section 3. Every error is
//! `{"error": {"code", "message"}}`, and domain errors map to statuses in one function
//! ([`ApiError::from`]). Bodies are bounded and fully validated before any write.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Extension, FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::idempotency::{self, Caller, Claim, Key};
use super::store::ClaimState;
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
        (Route::get("/tenants"), get(list)),
        (Route::get("/tenants/{tenantId}"), get(get_one)),
        (Route::post("/onboarding"), post(onboarding)),
        (Route::post("/delete"), post(delete)),
        (Route::post("/tenant-info"), post(tenant_info)),
        (Route::post("/retry"), post(retry)),
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
            Error::NoCell(super::cells::NoCell::Full { .. }) => {
                (StatusCode::CONFLICT, "NoCellCapacity")
            }
            Error::NoCell(super::cells::NoCell::NoMatch { .. }) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "NoMatchingCell")
            }
            // Settled inside placement: the next cell is tried.
            Error::Store(store::Error::CellFull(_)) => (StatusCode::CONFLICT, "NoCellCapacity"),
            Error::Unreachable(_) => (StatusCode::SERVICE_UNAVAILABLE, "CellUnreachable"),
        };
        if status.is_server_error() {
            tracing::error!(error = %message, "request failed");
        }
        ApiError::new(status, code, message)
    }
}

/// The body's bytes, or 400 when it is unreadable or too large.
fn bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        ApiError::bad_request(
            "BodyTooLarge",
            format!("the body is unreadable or larger than {MAX_BODY_BYTES} bytes: {e}"),
        )
    })
}

/// Parses a JSON body strictly: malformed, unknown or mistyped fields are all 400.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request("InvalidBody", format!("invalid JSON body: {e}")))
}

/// Parses a JSON body strictly: malformed, oversize, unknown or mistyped fields are all 400.
fn parse<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    parse_json(&bytes(body)?)
}

/// A mutating route's answer: the status and the JSON body.
type Answer = Result<(StatusCode, Value), ApiError>;

fn answer(status: StatusCode, value: impl serde::Serialize) -> Answer {
    serde_json::to_value(value)
        .map(|v| (status, v))
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                e.to_string(),
            )
        })
}

fn respond(answer: Answer) -> Reply {
    answer.map(|(status, value)| (status, axum::Json(value)).into_response())
}

/// The status and body text an answer is recorded with.
fn recorded(answer: &Answer) -> (u16, String) {
    match answer {
        Ok((status, value)) => (status.as_u16(), value.to_string()),
        Err(e) => (
            e.status.as_u16(),
            json!({"error": {"code": e.code, "message": e.message}}).to_string(),
        ),
    }
}

/// A mutating request as the routes take it: its body (read within the size limit), its
/// headers (for `Idempotency-Key`) and its caller, as the host set it.
struct Mutation {
    headers: HeaderMap,
    caller: Caller,
    body: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for Mutation {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Mutation, ApiError> {
        let caller = request
            .extensions()
            .get::<Caller>()
            .cloned()
            .unwrap_or_else(Caller::anonymous);
        let headers = request.headers().clone();
        let body = bytes(Bytes::from_request(request, state).await)?;
        Ok(Mutation {
            headers,
            caller,
            body,
        })
    }
}

impl Mutation {
    /// The body, parsed strictly.
    fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse_json(&self.body)
    }

    /// Runs a mutating route. Without an `Idempotency-Key` it just runs. With one: a live record
    /// of the key is replayed (or refused, for another request); otherwise the route runs with a
    /// claim its first write carries, and its answer is recorded. `success` is the route's status
    /// for a replay whose answer was never recorded.
    async fn run<F, Fut>(
        &self,
        cp: &ControlPlane,
        route: &'static str,
        success: StatusCode,
        run: F,
    ) -> Reply
    where
        F: FnOnce(ControlPlane) -> Fut,
        Fut: Future<Output = Answer>,
    {
        let Some(raw) = self.headers.get(IDEMPOTENCY_KEY) else {
            return respond(run(cp.clone()).await);
        };
        let key = Key::parse(raw.as_bytes())
            .map_err(|m| ApiError::bad_request("InvalidIdempotencyKey", m))?;
        let id = idempotency::record_id(&self.caller, &key);
        let hash = idempotency::request_hash(route, &self.body);
        if let Some(record) = cp
            .store()
            .idempotency_record(&id)
            .await
            .map_err(Error::from)?
        {
            return replay(cp, &record, &hash, success).await;
        }
        let claim = Claim {
            id: id.clone(),
            route: route.to_owned(),
            request_hash: hash.clone(),
            expires_at: Timestamp::now().millis / 1000 + idempotency::TTL_SECONDS,
        };
        let claimed = cp.claiming(claim);
        let answer = run(claimed.clone()).await;
        match claimed.store().claim_state() {
            // A server error may have cut the route's work short after its write: left
            // unrecorded, a repeat finishes the work (see `replay`).
            Some(ClaimState::Written) if server_error(&answer) => respond(answer),
            Some(ClaimState::Written) => {
                let (status, body) = recorded(&answer);
                if let Err(e) = cp.store().record_response(&id, status, &body).await {
                    // A repeat then answers from the tenant as it is, as after a crash.
                    tracing::warn!(error = %e, "could not record an idempotent answer");
                }
                respond(answer)
            }
            // Another request with the key wrote first: answer as it did.
            Some(ClaimState::Lost) => {
                match cp
                    .store()
                    .idempotency_record(&id)
                    .await
                    .map_err(Error::from)?
                {
                    Some(record) => replay(cp, &record, &hash, success).await,
                    None => respond(answer),
                }
            }
            // Nothing was written, so nothing is recorded: a retry runs afresh.
            _ => respond(answer),
        }
    }
}

/// The answer to a repeat of a keyed request.
async fn replay(
    cp: &ControlPlane,
    record: &idempotency::Record,
    hash: &str,
    success: StatusCode,
) -> Reply {
    if record.request_hash != hash {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "IdempotencyKeyReused",
            format!(
                "this Idempotency-Key was used in the last 24 hours for another request (to {}); send a new key for a new request",
                record.route
            ),
        ));
    }
    let mut response = match &record.response {
        Some((status, body)) => (
            StatusCode::from_u16(*status).unwrap_or(StatusCode::OK),
            [(header::CONTENT_TYPE, "application/json")],
            body.clone(),
        )
            .into_response(),
        // Written, but never answered (the answer was lost, a server error cut the route
        // short, or the process stopped): the route's work is finished, then the tenant.
        None => {
            let tenant = cp.tenant(&record.tenant_id).await?;
            (
                success,
                axum::Json(finish(cp, &record.route, tenant).await?),
            )
                .into_response()
        }
    };
    response
        .headers_mut()
        .insert(REPLAYED, header::HeaderValue::from_static("true"));
    Ok(response)
}

/// Whether an answer is a server error (5xx).
fn server_error(answer: &Answer) -> bool {
    match answer {
        Ok((status, _)) => status.is_server_error(),
        Err(e) => e.status.is_server_error(),
    }
}

/// The work a mutating route does after its write, done again for a repeat of a request
/// whose write landed but whose answer was never recorded: the first may have stopped in
/// between. Each step is idempotent. Onboarding and updates need nothing here: the stream
/// record of their write starts their work (and the reconciler, should it be lost).
async fn finish(cp: &ControlPlane, route: &str, tenant: Tenant) -> Result<Tenant, Error> {
    match (route, tenant.status) {
        ("/delete", Status::Deleting) => cp.delete_stack(tenant).await,
        ("/retry", Status::Provisioning) if tenant.stack_id.is_none() => cp.provision(tenant).await,
        _ => Ok(tenant),
    }
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

/// `GET /tenants`'s query. Every value is checked by hand, for the API's own errors.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ListQuery {
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    next_token: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

/// `GET /tenants[?status=&limit=&nextToken=]` (DESIGN.md section 3; docs/guide/tenants-and-the-api.md):
/// - with `limit` or `nextToken`, one page: `{"tenants": [...], "nextToken": "..." | null}`,
///   at most `limit` tenants (1 to 1000, [`DEFAULT_LIMIT`] if not given);
/// - with neither, as before paging: the array of tenants, from the listing's start, as many
///   as the response budget holds (about 8,000 running tenants, at about 600 bytes each as
///   counted). When some are left out, [`NEXT_TOKEN_HEADER`] says where to continue, with
///   `nextToken`.
///
/// `status` lists only the tenants in that status, through the status index. Either way a
/// body stays within [`Limits::response_budget`]: a page that would not fit ends early, with
/// a `nextToken`. The tenants of one answer are oldest first.
async fn list(
    State(cp): State<ControlPlane>,
    Extension(limits): Extension<Limits>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Reply {
    let Query(query) = query.map_err(|e| {
        ApiError::bad_request("InvalidQuery", format!("invalid query: {}", e.body_text()))
    })?;
    let status = query.status.as_deref().map(parse_status).transpose()?;
    let limit = query.limit.as_deref().map(parse_limit).transpose()?;
    let paged = limit.is_some() || query.next_token.is_some();
    let mut fill = Fill::new(limits.response_budget.saturating_sub(PAGE_OVERHEAD));
    let next_token = if paged {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        let page = read_page(&cp, status, limit, query.next_token.as_deref()).await?;
        match fill.extend(page.tenants, status)? {
            Some(cut) => Some(cut),
            None => page.next_token,
        }
    } else {
        let mut token: Option<String> = None;
        loop {
            let page = read_page(&cp, status, MAX_LIMIT, token.as_deref()).await?;
            if let Some(cut) = fill.extend(page.tenants, status)? {
                break Some(cut);
            }
            match page.next_token {
                Some(next) => token = Some(next),
                None => break None,
            }
        }
    };
    let body = fill.body(paged.then_some(next_token.as_deref()));
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response();
    if let Some(token) = next_token
        && let Ok(value) = header::HeaderValue::from_str(&token)
    {
        response.headers_mut().insert(NEXT_TOKEN_HEADER, value);
    }
    Ok(response)
}

/// One page of every tenant, or of those in `status`.
async fn read_page(
    cp: &ControlPlane,
    status: Option<Status>,
    limit: usize,
    token: Option<&str>,
) -> Result<store::Page, ApiError> {
    let page = match status {
        Some(status) => cp.store().by_status(status, limit, token).await,
        None => cp.store().page(limit, token).await,
    };
    Ok(page.map_err(Error::from)?)
}

fn parse_status(raw: &str) -> Result<Status, ApiError> {
    Status::ALL
        .into_iter()
        .find(|s| s.as_str() == raw)
        .ok_or_else(|| {
            let known: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::bad_request(
                "InvalidStatus",
                format!(
                    "status {raw:?} is not a tenant status; known: {}",
                    known.join(", ")
                ),
            )
        })
}

fn parse_limit(raw: &str) -> Result<usize, ApiError> {
    raw.parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request(
                "InvalidLimit",
                format!("limit {raw:?} is not a whole number from 1 to {MAX_LIMIT}"),
            )
        })
}

/// What a page's body holds besides its tenants, at most: `{"tenants":[` ... `],"nextToken":`,
/// the token (under 1 KiB, and under 600 bytes embedded), `}`.
const PAGE_OVERHEAD: usize = 2048;

/// The bytes `json` takes in the Lambda response that carries it: API Gateway's payload holds
/// the body as a JSON string, in which each `"` and `\` is escaped (serde_json writes no raw
/// control characters, and leaves other text as it is).
fn embedded_len(json: &[u8]) -> usize {
    json.len() + json.iter().filter(|b| matches!(b, b'"' | b'\\')).count()
}

/// The tenants of a list answer, in the order read, serialized as they come, within a budget
/// of embedded bytes ([`embedded_len`]) for the array that holds them.
struct Fill {
    budget: usize,
    /// The array's embedded bytes so far: `[`, `]`, the commas and the tenants.
    used: usize,
    tenants: Vec<(Tenant, Vec<u8>)>,
}

impl Fill {
    fn new(budget: usize) -> Fill {
        Fill {
            budget,
            used: 2,
            tenants: Vec::new(),
        }
    }

    /// Adds `tenant`, or answers false (and adds nothing) when the array would then exceed
    /// the budget.
    fn push(&mut self, tenant: Tenant) -> Result<bool, ApiError> {
        let json = serde_json::to_vec(&tenant).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                e.to_string(),
            )
        })?;
        let cost = embedded_len(&json) + usize::from(!self.tenants.is_empty());
        if self.used + cost > self.budget {
            return Ok(false);
        }
        self.used += cost;
        self.tenants.push((tenant, json));
        Ok(true)
    }

    /// Adds `tenants` (of a listing by `status`, or of all) until one does not fit. Then the
    /// answer is the token that continues after the last one added.
    fn extend(
        &mut self,
        tenants: Vec<Tenant>,
        status: Option<Status>,
    ) -> Result<Option<String>, ApiError> {
        for tenant in tenants {
            let id = tenant.tenant_id.clone();
            if !self.push(tenant)? {
                return match self.tenants.last() {
                    Some((last, _)) => Ok(Some(store::token_after(status, last))),
                    // Never with the real budget: a record is at most 400 KB.
                    None => Err(ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "ResponseTooLarge",
                        format!("tenant {id}'s record alone is larger than the response budget"),
                    )),
                };
            }
        }
        Ok(None)
    }

    /// The body: the array of the tenants oldest first or, for a page (`Some(next_token)`),
    /// the page object around it.
    fn body(mut self, page: Option<Option<&str>>) -> Vec<u8> {
        self.tenants
            .sort_by(|(a, _), (b, _)| (a.created, &a.tenant_id).cmp(&(b.created, &b.tenant_id)));
        let mut array = Vec::with_capacity(self.used);
        array.push(b'[');
        for (i, (_, json)) in self.tenants.iter().enumerate() {
            if i > 0 {
                array.push(b',');
            }
            array.extend_from_slice(json);
        }
        array.push(b']');
        let Some(next_token) = page else {
            return array;
        };
        let mut body = b"{\"tenants\":".to_vec();
        body.extend_from_slice(&array);
        body.extend_from_slice(b",\"nextToken\":");
        body.extend_from_slice(json!(next_token).to_string().as_bytes());
        body.push(b'}');
        body
    }
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
    /// Places the tenant in a cell of this region.
    #[serde(default)]
    region: Option<String>,
}

async fn onboarding(State(cp): State<ControlPlane>, request: Mutation) -> Reply {
    let req: OnboardingRequest = request.json()?;
    if let Some(region) = &req.region
        && !(1..=32).contains(&region.len())
            | !region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(ApiError::bad_request(
            "InvalidRegion",
            format!("region {region:?} is not an AWS region name such as eu-west-1"),
        ));
    }
    let name = TenantName::parse(&req.tenant_name)
        .map_err(|e| ApiError::bad_request("InvalidTenantName", e.to_string()))?;
    let route = "/onboarding";
    request
        .run(&cp, route, StatusCode::CREATED, async |cp| {
            cp.catalog().await?.deployment_type(&req.deployment_type)?;
            let tenant = Tenant::new(
                uuid::Uuid::new_v4().hyphenated().to_string(),
                name,
                &req.deployment_type,
                Timestamp::now(),
            );
            let tenant = cp.create_placed(tenant, req.region.as_deref()).await?;
            answer(StatusCode::CREATED, tenant)
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DeleteRequest {
    tenant_id: String,
    #[serde(default)]
    tenant_name: Option<String>,
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
async fn update(State(cp): State<ControlPlane>, request: Mutation) -> Reply {
    let req: UpdateRequest = request.json()?;
    let id = tenant_id(&req.tenant_id)?;
    request
        .run(&cp, "/update", StatusCode::ACCEPTED, async |cp| {
            let tenant = cp.tenant(&id).await?;
            match cp.request_update(tenant, req.version.as_deref()).await? {
                super::updater::UpdateRequest::UpToDate(t) => answer(StatusCode::OK, t),
                super::updater::UpdateRequest::Started(t) => answer(StatusCode::ACCEPTED, t),
            }
        })
        .await
}

/// One published deployment type, as `GET /deployment-types` lists it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, Deserialize)]
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

    use super::*;
    use crate::control_plane::tenant::TenantName;

    fn tenant(n: u32, reason: Option<&str>) -> Tenant {
        let mut t = Tenant::new(
            format!("00000000-0000-4000-8000-{n:012}"),
            TenantName::parse(&format!("Tenant {n}")).unwrap(),
            "silo",
            Timestamp {
                // Read newest first, so the body's order is not the reading order.
                millis: 1_700_000_000_000 - u64::from(n),
            },
        );
        t.status_reason = reason.map(str::to_owned);
        t
    }

    /// Fills a budget of `budget` bytes with `tenants`, then checks the body: within the
    /// budget (as Lambda's payload counts it), holding the `expected` first tenants of those
    /// read, oldest first, and stopped only because the next one would not fit.
    fn check(budget: usize, tenants: Vec<Tenant>, expected: usize) {
        let mut fill = Fill::new(budget);
        let cut = fill.extend(tenants.clone(), None).unwrap();
        let body = fill.body(None);
        assert!(
            embedded_len(&body) <= budget,
            "{} > {budget}",
            embedded_len(&body)
        );
        let got: Vec<Tenant> = serde_json::from_slice(&body).unwrap();
        let got: Vec<&str> = got.iter().map(|t| t.tenant_id.as_str()).collect();
        let mut want = tenants[..expected].to_vec();
        want.sort_by_key(|t| t.created);
        let want: Vec<&str> = want.iter().map(|t| t.tenant_id.as_str()).collect();
        assert_eq!(got, want);
        if expected < tenants.len() {
            assert_eq!(
                cut,
                Some(store::token_after(None, &tenants[expected - 1])),
                "continues after the last one kept"
            );
            let next = serde_json::to_vec(&tenants[expected]).unwrap();
            assert!(
                embedded_len(&body) + 1 + embedded_len(&next) > budget,
                "the next one would have fit"
            );
        } else {
            assert_eq!(cut, None);
        }
    }

    #[test]
    fn a_list_body_stops_before_its_budget() {
        let ten: Vec<Tenant> = (0..10).map(|n| tenant(n, None)).collect();
        let one = embedded_len(&serde_json::to_vec(&ten[0]).unwrap());
        check(usize::MAX, ten.clone(), 10);
        check(2 + one, ten.clone(), 1);
        check(2 + 3 * one + 2, ten.clone(), 3);
        check(2 + 3 * one + 1, ten.clone(), 2);
        // Quotes and backslashes count twice: a reason full of them takes more room.
        let quoted: Vec<Tenant> = (0..10)
            .map(|n| tenant(n, Some(&"\"\\".repeat(50))))
            .collect();
        let raw = serde_json::to_vec(&quoted[0]).unwrap();
        let counted = embedded_len(&raw);
        assert!(counted >= raw.len() + 200, "{counted}");
        check(2 + 2 * counted + 1, quoted.clone(), 2);
        check(2 + 2 * counted, quoted, 1);
    }

    #[test]
    fn a_record_larger_than_the_budget_is_an_error_not_an_empty_answer() {
        let mut fill = Fill::new(10);
        let err = fill.extend(vec![tenant(1, None)], None).unwrap_err();
        assert_eq!(err.code, "ResponseTooLarge");
    }

    #[test]
    fn a_page_body_carries_its_next_token() {
        let mut fill = Fill::new(usize::MAX);
        fill.extend(vec![tenant(1, None)], None).unwrap();
        let body: Value = serde_json::from_slice(&fill.body(Some(Some("abc")))).unwrap();
        assert_eq!(body["nextToken"], "abc");
        assert_eq!(body["tenants"].as_array().unwrap().len(), 1);
        let body: Value = serde_json::from_slice(&Fill::new(100).body(Some(None))).unwrap();
        assert_eq!(body, json!({"tenants": [], "nextToken": null}));
    }
}
