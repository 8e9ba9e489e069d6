//! Each running tenant's front door, served in-process by local mode: the emulator runs no
//! HTTP APIs and no authorizers, so this stands in for the tenant stack's HTTP API.
//!
//! **Path routing on the API's port**: tenant `T`'s front door is
//! `http://127.0.0.1:PORT/silo/T/…`, the endpoint its record carries in local mode. A request
//! there goes the way API Gateway takes it:
//! 1. the tenant must be running (or updating), with a stack whose outputs name its directory;
//! 2. the route must be one the stack declares (`GET /items/{key}` …), else 404;
//! 3. the bearer JWT must verify against the directory's JWKS, which the emulator's Cognito
//!    serves at `/{poolId}/.well-known/jwks.json`, for the directory's issuer and app client,
//!    unexpired ([`super::jwt`]), else 401;
//! 4. the stack's throttle (its `ThrottleBurst` and `ThrottleRate`), per tenant, else 429;
//! 5. the tenant function's handler gets the API Gateway v2 event AWS would deliver, the
//!    verified claims in `requestContext.authorizer.jwt.claims`, and uses the tenant's table on
//!    the emulator.
//!
//! Answers before the function are API Gateway's: `{"message": "Unauthorized"}` and the like.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::jwt;
use crate::control_plane::ControlPlane;
use crate::control_plane::tenant::Status;
use crate::stacks::tenant_outputs as outputs;
use crate::tenant_function;

/// The path every front door is under: `/silo/{tenantId}`.
pub const PREFIX: &str = "/silo";

/// The routes the reference tenant stack declares, as API Gateway matches them.
use crate::stacks::TENANT_ROUTES as ROUTES;

/// The largest request body API Gateway passes to a function (its payload limit).
const MAX_BODY: usize = 10 * 1024 * 1024;

/// A running tenant's front door, read from its stack once.
#[derive(Clone)]
struct Door {
    stack_id: String,
    issuer: String,
    client_id: String,
    jwks: Arc<jwt::Jwks>,
    handler: axum::Router,
    throttle: Arc<Mutex<Bucket>>,
}

/// Every front door, with what it needs to build one.
#[derive(Clone)]
pub struct FrontDoors {
    cp: ControlPlane,
    dynamodb: aws_sdk_dynamodb::Client,
    /// The emulator's endpoint, where Cognito serves each pool's JWKS.
    endpoint: String,
    doors: Arc<Mutex<HashMap<String, Door>>>,
}

impl FrontDoors {
    pub fn new(cp: ControlPlane, sdk: &aws_config::SdkConfig, endpoint: &str) -> FrontDoors {
        FrontDoors {
            cp,
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            doors: Arc::default(),
        }
    }

    /// The front doors as a router, to merge beside the control plane's API. Outside its
    /// SigV4 layer: a tenant's users hold tokens, not AWS keys.
    pub fn router(self) -> axum::Router {
        axum::Router::new()
            .route(&format!("{PREFIX}/{{tenant_id}}"), any(root))
            .route(&format!("{PREFIX}/{{tenant_id}}/{{*path}}"), any(serve))
            .with_state(self)
    }

    /// The tenant's door: cached while its stack stays the same.
    async fn door(&self, tenant_id: &str) -> Result<Door, Response> {
        let tenant = match self.cp.store().get(tenant_id).await {
            Ok(Some(t)) if matches!(t.status, Status::Running | Status::Updating) => t,
            Ok(_) => return Err(gateway(StatusCode::NOT_FOUND, "Not Found")),
            Err(e) => {
                tracing::warn!(tenant_id, error = %e, "front door: cannot read the tenant");
                return Err(gateway(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service Unavailable",
                ));
            }
        };
        let stack_id = tenant.stack_id.clone().unwrap_or_default();
        if let Some(door) = self
            .doors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(tenant_id)
            && door.stack_id == stack_id
        {
            return Ok(door.clone());
        }
        let door = self.open(&tenant, stack_id).await.map_err(|reason| {
            tracing::warn!(
                tenant_id,
                reason,
                "front door: the tenant's stack has no front door"
            );
            gateway(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        })?;
        self.doors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tenant_id.to_owned(), door.clone());
        Ok(door)
    }

    /// Reads the tenant's stack (outputs and throttle) and its directory's JWKS.
    async fn open(
        &self,
        tenant: &crate::control_plane::tenant::Tenant,
        stack_id: String,
    ) -> Result<Door, String> {
        let reach = self
            .cp
            .reach_of(&tenant.tenant_id, tenant.cell.as_deref())
            .await
            .map_err(|e| e.to_string())?;
        let stack = reach
            .unpaced()
            .describe_stacks()
            .stack_name(&stack_id)
            .send()
            .await
            .map_err(|e| crate::aws::sdk_message(&e))?;
        let stack = stack.stacks().first().ok_or("no such stack")?;
        let output = |key: &str| {
            stack
                .outputs()
                .iter()
                .find(|o| o.output_key() == Some(key))
                .and_then(|o| o.output_value())
                .map(str::to_owned)
                .ok_or_else(|| format!("no output {key}"))
        };
        let parameter = |key: &str| {
            stack
                .parameters()
                .iter()
                .find(|p| p.parameter_key() == Some(key))
                .and_then(|p| p.parameter_value())
                .and_then(|v| v.parse::<f64>().ok())
        };
        let pool = output(outputs::USER_POOL)?;
        let issuer = output(outputs::ISSUER)?;
        let client_id = output(outputs::CLIENT)?;
        let settings = tenant_function::Settings {
            table: output("TenantTableName")?,
            tenant_id: tenant.tenant_id.clone(),
            tenant_name: tenant.tenant_name.clone(),
            issuer: issuer.clone(),
        };
        let jwks = self.jwks(&pool).await?;
        let burst = parameter("ThrottleBurst").unwrap_or(100.0);
        let rate = parameter("ThrottleRate").unwrap_or(50.0);
        Ok(Door {
            stack_id,
            issuer,
            client_id,
            jwks: Arc::new(jwks),
            handler: tenant_function::router(self.dynamodb.clone(), settings),
            throttle: Arc::new(Mutex::new(Bucket::new(burst, rate))),
        })
    }

    /// The pool's signing keys, from the emulator's Cognito.
    async fn jwks(&self, pool: &str) -> Result<jwt::Jwks, String> {
        let url = format!("{}/{pool}/.well-known/jwks.json", self.endpoint);
        let body = http_get(&url).await?;
        serde_json::from_slice(&body).map_err(|e| format!("{url}: {e}"))
    }
}

/// One GET to the emulator (plain HTTP on loopback).
async fn http_get(url: &str) -> Result<axum::body::Bytes, String> {
    use http_body_util::{BodyExt, Empty};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<axum::body::Bytes>>();
    let uri: http::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    let response = client.get(uri).await.map_err(|e| format!("{url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{url}: {}", response.status()));
    }
    let body = response.into_body().collect().await;
    Ok(body.map_err(|e| format!("{url}: {e}"))?.to_bytes())
}

/// API Gateway's own answers: `{"message": "..."}`.
fn gateway(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}

async fn root(
    State(doors): State<FrontDoors>,
    Path(tenant_id): Path<String>,
    request: Request,
) -> Response {
    handle(doors, tenant_id, "/".to_owned(), request).await
}

async fn serve(
    State(doors): State<FrontDoors>,
    Path((tenant_id, path)): Path<(String, String)>,
    request: Request,
) -> Response {
    handle(doors, tenant_id, format!("/{path}"), request).await
}

async fn handle(doors: FrontDoors, tenant_id: String, path: String, request: Request) -> Response {
    let door = match doors.door(&tenant_id).await {
        Ok(door) => door,
        Err(response) => return response,
    };
    let method = request.method().as_str().to_owned();
    let Some(route_key) = route_key(&method, &path) else {
        return gateway(StatusCode::NOT_FOUND, "Not Found");
    };
    let headers = request.headers().clone();
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
    let claims = match authorize(&door, authorization) {
        Ok(claims) => claims,
        Err(refused) => {
            tracing::info!(tenant_id, %refused, "front door: token refused");
            return gateway(StatusCode::UNAUTHORIZED, "Unauthorized");
        }
    };
    if !door
        .throttle
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
    {
        return gateway(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
    }
    let query = request.uri().query().unwrap_or_default().to_owned();
    let body = match axum::body::to_bytes(request.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return gateway(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
    };
    let event = event(&route_key, &method, &path, &query, &headers, &body, &claims);
    invoke(&door, &event).await
}

fn authorize(
    door: &Door,
    authorization: Option<&str>,
) -> Result<HashMap<String, String>, jwt::Refused> {
    let token = jwt::bearer(authorization)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let expected = jwt::Expected {
        issuer: &door.issuer,
        audience: &door.client_id,
    };
    jwt::verify(token, &door.jwks, &expected, now)
}

/// The route `method path` matches, as `METHOD /template`, if any.
fn route_key(method: &str, path: &str) -> Option<String> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    ROUTES.iter().find_map(|(m, template)| {
        let m = m.as_str();
        let parts: Vec<&str> = template.trim_end_matches('/').split('/').collect();
        let matches = m == method
            && parts.len() == segments.len()
            && parts
                .iter()
                .zip(&segments)
                .all(|(p, s)| p.starts_with('{') && !s.is_empty() || p == s);
        matches.then(|| format!("{m} {template}"))
    })
}

/// The API Gateway v2 (payload 2.0) event of one request, with the authorizer's claims.
fn event(
    route_key: &str,
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
    claims: &HashMap<String, String>,
) -> Value {
    let mut header_map = serde_json::Map::new();
    for (name, value) in headers {
        if let Ok(v) = value.to_str() {
            header_map
                .entry(name.as_str().to_owned())
                .and_modify(|e| {
                    if let Value::String(s) = e {
                        s.push(',');
                        s.push_str(v);
                    }
                })
                .or_insert_with(|| Value::String(v.to_owned()));
        }
    }
    let (body, base64) = match std::str::from_utf8(body) {
        _ if body.is_empty() => (Value::Null, false),
        Ok(text) => (Value::String(text.to_owned()), false),
        Err(_) => {
            use base64::Engine;
            let encoded = base64::engine::general_purpose::STANDARD.encode(body);
            (Value::String(encoded), true)
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": header_map,
        "requestContext": {
            "accountId": crate::aws::EMULATOR_ACCOUNT,
            "apiId": "local",
            "authorizer": {"jwt": {"claims": claims, "scopes": null}},
            "domainName": "127.0.0.1",
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or_default(),
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": route_key,
            "stage": "$default",
            "time": "",
            "timeEpoch": now.as_millis() as u64,
        },
        "body": body,
        "isBase64Encoded": base64,
    })
}

/// Hands the event to the tenant function's handler, as lambda_http does on Lambda.
async fn invoke(door: &Door, event: &Value) -> Response {
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "front door: the event did not convert");
            return gateway(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
        }
    };
    match door.handler.clone().oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    }
}

/// The stage's throttle: a token bucket of `burst` tokens refilled at `rate` per second.
struct Bucket {
    burst: f64,
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(burst: f64, rate: f64) -> Bucket {
        Bucket {
            burst,
            rate,
            tokens: burst,
            at: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.at).min(Duration::from_secs(3600));
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.rate).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_as_api_gateway_matches_them() {
        assert_eq!(route_key("GET", "/"), Some("GET /".into()));
        assert_eq!(route_key("GET", "/items"), Some("GET /items".into()));
        assert_eq!(
            route_key("PUT", "/items/a"),
            Some("PUT /items/{key}".into())
        );
        assert_eq!(route_key("POST", "/items/a"), None);
        assert_eq!(route_key("GET", "/items/a/b"), None);
        assert_eq!(route_key("GET", "/other"), None);
    }

    #[test]
    fn the_throttle_allows_a_burst_then_the_rate() {
        let mut bucket = Bucket::new(3.0, 1.0);
        assert!((0..3).all(|_| bucket.take()));
        assert!(!bucket.take());
        bucket.at -= Duration::from_secs(2);
        assert!(bucket.take());
        assert!(bucket.take());
        assert!(!bucket.take());
    }
}
