//! Mutating requests: the `Idempotency-Key` protocol around a route's work
//! ([`crate::control_plane::idempotency`]): a live record is replayed, a new key's claim rides
//! on the route's first write, the answer is recorded, and the repeat of a request whose answer
//! was never recorded finishes the route's work.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{ApiError, bytes, parse_json};
use super::{IDEMPOTENCY_KEY, REPLAYED, Reply};
use crate::control_plane::idempotency::{self, Caller, Claim, Key};
use crate::control_plane::store::ClaimState;
use crate::control_plane::tenant::{Status, Tenant, Timestamp};
use crate::control_plane::{ControlPlane, Error};

/// A mutating route's answer: the status and the JSON body.
pub(super) type Answer = Result<(StatusCode, Value), ApiError>;

pub(super) fn answer(status: StatusCode, value: impl serde::Serialize) -> Answer {
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
            serde_json::to_string(&e.body()).unwrap_or_default(),
        ),
    }
}

/// A mutating request as the routes take it: its body (read within the size limit), its
/// headers (for `Idempotency-Key`) and its caller, as the host set it.
pub(super) struct Mutation {
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
    pub(super) fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse_json(&self.body)
    }

    /// Runs a mutating route. Without an `Idempotency-Key` it just runs. With one: a live record
    /// of the key is replayed (or refused, for another request); otherwise the route runs with a
    /// claim its first write carries, and its answer is recorded. `success` is the route's status
    /// for a replay whose answer was never recorded.
    pub(super) async fn run<F, Fut>(
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
        ("/retry", Status::Provisioning) if tenant.stack_id.is_none() => {
            let id = tenant.tenant_id.clone();
            match cp.provision(tenant).await {
                // The first request's own provisioning moved the tenant on meanwhile: its
                // work is done, and the tenant is where it took it.
                Err(Error::WrongStatus { .. }) => cp.tenant(&id).await,
                other => other,
            }
        }
        _ => Ok(tenant),
    }
}
