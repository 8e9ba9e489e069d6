//! The control-plane API client behind `silos tenants`: JSON over HTTP(S), signed with SigV4
//! for `execute-api` when credentials are at hand (API Gateway's `AWS_IAM` routes need it).
//! API errors come back as the API's own code and message.

use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::control_plane::api::{
    MAX_LIMIT, MovePlan, MovePlanRequest, PublishedType, StackResource, TenantRequest,
    UpdateRequest,
};
use crate::control_plane::tenant::{Status, Tenant};

const TIMEOUT: Duration = Duration::from_secs(30);

pub use crate::control_plane::api::TenantsPage;

/// A request body of the API's own contract types, as the JSON sent.
pub fn body(request: &impl serde::Serialize) -> Value {
    serde_json::to_value(request).unwrap_or_default()
}

/// `value` as a query-string value: unreserved characters as they are, the rest
/// percent-encoded. (A token is base64url, which needs none.)
pub(crate) fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// How many times [`ApiClient::post_once`] sends a request, at most.
pub const ATTEMPTS: u32 = 5;

/// The wait after failed attempt `n` (from 1): 250 ms, doubling, at most 4 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64 << attempt.saturating_sub(1).min(4)).min(Duration::from_secs(4))
}

/// A transport error, or the server's (5xx), may pass; a 4xx is the answer.
fn retryable(e: &ClientError) -> bool {
    match e {
        ClientError::Transport { .. } => true,
        ClientError::Api { status, .. } | ClientError::Response { status, .. } => *status >= 500,
        _ => false,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("cannot reach the API at {url}: {message}")]
    Transport { url: String, message: String },
    #[error(
        "the API at {url} answered HTTP {status} with a body that is not the API's JSON: {body}"
    )]
    Response {
        url: String,
        status: u16,
        body: String,
    },
    #[error("invalid API URL {0:?}: use http(s)://host[:port][/stage]")]
    Url(String),
    #[error(transparent)]
    Sign(#[from] crate::aws::SignError),
    #[error("TLS setup failed: {0}")]
    Tls(String),
    #[error("the API answered with something that is not {what}: {message}")]
    Shape { what: &'static str, message: String },
}

/// `value` (an answer of the API) as the typed record `what` names.
pub fn decode<T: DeserializeOwned>(value: &Value, what: &'static str) -> Result<T, ClientError> {
    T::deserialize(value).map_err(|e| ClientError::Shape {
        what,
        message: e.to_string(),
    })
}

/// How requests are signed: credentials and region, or not at all.
#[derive(Clone, Debug)]
pub struct Signing {
    pub credentials: aws_credential_types::Credentials,
    pub region: String,
}

pub struct ApiClient {
    base: String,
    signing: Option<Signing>,
    /// A tenant user's ID token, sent as `Authorization: Bearer` (a tenant's front door).
    bearer: Option<String>,
    http: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// True for a URL on this machine (local mode).
pub fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map(|(_, rest)| rest).unwrap_or(url);
    let host = rest.split(['/', ':']).next().unwrap_or_default();
    rest.starts_with("[::1]") || host == "localhost" || host.starts_with("127.")
}

/// `https://{id}.execute-api.{region}.amazonaws.com/...` → `region`.
pub fn region_of(url: &str) -> Option<&str> {
    let host = url.split_once("://")?.1.split('/').next()?;
    let mut parts = host.split('.');
    let _id = parts.next()?;
    (parts.next()? == "execute-api").then_some(())?;
    parts.next()
}

impl ApiClient {
    pub fn new(base: &str, signing: Option<Signing>) -> Result<ApiClient, ClientError> {
        let uri: hyper::Uri = base
            .parse()
            .map_err(|_| ClientError::Url(base.to_owned()))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(ClientError::Url(base.to_owned()));
        }
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| ClientError::Tls(e.to_string()))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(ApiClient {
            base: base.trim_end_matches('/').to_owned(),
            signing,
            bearer: None,
            http: Client::builder(TokioExecutor::new()).build(https),
        })
    }

    /// The same client, calling with a tenant user's ID token (a silo's front door).
    pub fn with_bearer(mut self, token: &str) -> ApiClient {
        self.bearer = Some(token.to_owned());
        self
    }

    /// One request, once: its JSON answer (Null for an empty one).
    pub async fn send_json(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ClientError> {
        self.call(method, path, body, None).await
    }

    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.call("GET", path, None, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value, ClientError> {
        self.call("POST", path, Some(body), None).await
    }

    /// POSTs a mutating request so that it takes effect once: under one fresh
    /// `Idempotency-Key`, retried after a transport error or a 5xx answer, up to
    /// [`ATTEMPTS`] times with [`backoff`] in between. The API answers a repeat of a request it
    /// carried out with its first answer, so a lost response costs nothing. A 4xx is final.
    pub async fn post_once(&self, path: &str, body: Value) -> Result<Value, ClientError> {
        let key = uuid::Uuid::new_v4().to_string();
        let mut attempt = 1;
        loop {
            match self
                .call("POST", path, Some(body.clone()), Some(&key))
                .await
            {
                Err(e) if retryable(&e) && attempt < ATTEMPTS => {
                    let wait = backoff(attempt);
                    tracing::warn!(
                        "attempt {attempt} of {ATTEMPTS} failed ({e}); retrying in {:.2} s with the same Idempotency-Key",
                        wait.as_secs_f64()
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                answer => return answer,
            }
        }
    }

    /// `GET /tenants`, page by page: every tenant, oldest first.
    pub async fn tenants(&self) -> Result<Vec<Tenant>, ClientError> {
        self.tenants_where(None, MAX_LIMIT).await
    }

    /// Every tenant, or those in `status`, oldest first: pages of `page_size` (1 to 1000),
    /// followed until the API gives no `nextToken`.
    pub async fn tenants_where(
        &self,
        status: Option<Status>,
        page_size: usize,
    ) -> Result<Vec<Tenant>, ClientError> {
        let mut tenants = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .tenants_page(status, page_size, token.as_deref())
                .await?;
            tenants.extend(page.tenants);
            match page.next_token {
                // A token that does not move would page forever.
                Some(next) if token.as_deref() != Some(next.as_str()) => token = Some(next),
                Some(_) => {
                    return Err(ClientError::Shape {
                        what: "a page of tenants",
                        message: "the same nextToken twice".to_owned(),
                    });
                }
                None => break,
            }
        }
        tenants.sort_by(|a, b| (a.created, &a.tenant_id).cmp(&(b.created, &b.tenant_id)));
        Ok(tenants)
    }

    /// One page of `GET /tenants`: at most `limit` tenants (in `status`, if given) from
    /// `next_token`. An API from before paging answers every tenant as an array, which is one
    /// last page.
    pub async fn tenants_page(
        &self,
        status: Option<Status>,
        limit: usize,
        next_token: Option<&str>,
    ) -> Result<TenantsPage, ClientError> {
        let mut path = format!("/tenants?limit={limit}");
        if let Some(status) = status {
            path.push_str(&format!("&status={status}"));
        }
        if let Some(token) = next_token {
            path.push_str(&format!("&nextToken={}", query_escape(token)));
        }
        let value = self.get(&path).await?;
        if value.is_array() {
            return Ok(TenantsPage {
                tenants: decode(&value, "a list of tenants")?,
                next_token: None,
            });
        }
        decode(&value, "a page of tenants")
    }

    /// `GET /tenants/{id}`.
    pub async fn tenant(&self, id: &str) -> Result<Tenant, ClientError> {
        decode(&self.get(&format!("/tenants/{id}")).await?, "a tenant")
    }

    /// `GET /deployment-types`: the published deployment types.
    pub async fn deployment_types(&self) -> Result<Vec<PublishedType>, ClientError> {
        decode(
            &self.get("/deployment-types").await?,
            "a list of deployment types",
        )
    }

    /// `POST /update` (once): starts the tenant's update to `version`.
    pub async fn request_update(&self, id: &str, version: &str) -> Result<Tenant, ClientError> {
        let request = UpdateRequest {
            tenant_id: id.to_owned(),
            version: Some(version.to_owned()),
            deployment_type: None,
            allow_data_loss: false,
        };
        decode(
            &self.post_once("/update", body(&request)).await?,
            "a tenant",
        )
    }

    /// `POST /move-plan`: what moving the tenant to deployment type `to` would do.
    pub async fn move_plan(&self, id: &str, to: &str) -> Result<MovePlan, ClientError> {
        let request = MovePlanRequest {
            tenant_id: id.to_owned(),
            deployment_type: to.to_owned(),
        };
        decode(
            &self.post("/move-plan", body(&request)).await?,
            "a move plan",
        )
    }

    /// `POST /update` (once) with a deployment type: moves the tenant to `to` at the version
    /// its plan was made for.
    pub async fn request_move(
        &self,
        id: &str,
        to: &str,
        version: Option<&str>,
        allow_data_loss: bool,
    ) -> Result<Tenant, ClientError> {
        let request = UpdateRequest {
            tenant_id: id.to_owned(),
            version: version.map(str::to_owned),
            deployment_type: Some(to.to_owned()),
            allow_data_loss,
        };
        decode(
            &self.post_once("/update", body(&request)).await?,
            "a tenant",
        )
    }

    /// `POST /tenant-info`: the resources of the tenant's stack.
    pub async fn tenant_info(&self, id: &str) -> Result<Vec<StackResource>, ClientError> {
        let request = TenantRequest {
            tenant_id: id.to_owned(),
        };
        decode(
            &self.post("/tenant-info", body(&request)).await?,
            "a list of stack resources",
        )
    }

    /// One request to the API: built, signed when there are credentials, sent, and its answer
    /// read as the API's JSON.
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.base);
        let request = self.request(method, &url, body, idempotency_key)?;
        let (status, body) = self.send(request, &url).await?;
        answer(url, status, &body)
    }

    /// The HTTP request, with its JSON body and, if given, its idempotency key; signed with
    /// SigV4 when the client signs.
    fn request(
        &self,
        method: &str,
        url: &str,
        body: Option<Value>,
        idempotency_key: Option<&str>,
    ) -> Result<http::Request<Vec<u8>>, ClientError> {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let uri: hyper::Uri = url.parse().map_err(|_| ClientError::Url(url.to_owned()))?;
        let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
        let mut request = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("host", authority)
            .header("accept", "application/json");
        if !bytes.is_empty() {
            request = request.header("content-type", "application/json");
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        if let Some(token) = &self.bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let mut request = request
            .body(bytes)
            .map_err(|e| ClientError::Url(e.to_string()))?;
        if let Some(s) = &self.signing {
            crate::aws::sign(
                &mut request,
                s.credentials.clone(),
                &s.region,
                SystemTime::now(),
            )?;
        }
        Ok(request)
    }

    /// Sends `request` to `url` within [`TIMEOUT`]: the answer's status and body.
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
        url: &str,
    ) -> Result<(u16, Bytes), ClientError> {
        let transport = |message: String| ClientError::Transport {
            url: url.to_owned(),
            message,
        };
        let response = tokio::time::timeout(
            TIMEOUT,
            self.http
                .request(request.map(|b| Full::new(Bytes::from(b)))),
        )
        .await
        .map_err(|_| transport(format!("no answer within {} s", TIMEOUT.as_secs())))?
        .map_err(|e| transport(error_chain(&e)))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| transport(e.to_string()))?
            .to_bytes();
        Ok((status, body))
    }
}

/// `error` and each of its sources, joined with ": ".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    message
}

/// The API's answer from `url`: its JSON on a 2xx, else its error (the API's own, API
/// Gateway's, or a body that is not JSON).
fn answer(url: String, status: u16, body: &[u8]) -> Result<Value, ClientError> {
    if body.is_empty() && (200..300).contains(&status) {
        return Ok(Value::Null);
    }
    let value: Result<Value, _> = serde_json::from_slice(body);
    match value {
        Ok(v) if (200..300).contains(&status) => Ok(v),
        Ok(v) if v["error"]["code"].is_string() => Err(ClientError::Api {
            status,
            code: v["error"]["code"].as_str().unwrap_or_default().to_owned(),
            message: v["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        }),
        // API Gateway's own errors: {"message": "..."}.
        Ok(v) if v["message"].is_string() => Err(ClientError::Api {
            status,
            code: format!("HTTP{status}"),
            message: v["message"].as_str().unwrap_or_default().to_owned(),
        }),
        _ => Err(ClientError::Response {
            url,
            status,
            body: String::from_utf8_lossy(body).chars().take(200).collect(),
        }),
    }
}

impl crate::fleet::TenantApi for ApiClient {
    type Error = ClientError;

    async fn tenants(&self) -> Result<Vec<Tenant>, ClientError> {
        ApiClient::tenants(self).await
    }

    async fn deployment_types(&self) -> Result<Vec<PublishedType>, ClientError> {
        ApiClient::deployment_types(self).await
    }

    async fn request_update(&self, id: &str, version: &str) -> Result<Tenant, ClientError> {
        ApiClient::request_update(self, id, version).await
    }

    async fn tenant(&self, id: &str) -> Result<Tenant, ClientError> {
        ApiClient::tenant(self, id).await
    }

    fn refusal(error: &ClientError) -> Option<String> {
        match error {
            ClientError::Api { code, message, .. } => Some(format!("{code}: {message}")),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_stop_at_client_errors() {
        let waits: Vec<u64> = (1..ATTEMPTS)
            .map(|n| backoff(n).as_millis() as u64)
            .collect();
        assert_eq!(waits, [250, 500, 1000, 2000]);
        assert_eq!(backoff(9), Duration::from_secs(4));
        let api = |status| ClientError::Api {
            status,
            code: "X".into(),
            message: String::new(),
        };
        assert!(retryable(&api(502)));
        assert!(retryable(&api(503)));
        assert!(!retryable(&api(409)));
        assert!(!retryable(&api(422)));
        assert!(retryable(&ClientError::Transport {
            url: String::new(),
            message: String::new()
        }));
        assert!(!retryable(&ClientError::Url(String::new())));
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(query_escape("eyJ2IjoxfQ-_"), "eyJ2IjoxfQ-_");
        assert_eq!(query_escape("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn loopback_urls_are_recognised() {
        assert!(is_loopback("http://127.0.0.1:8080"));
        assert!(is_loopback("http://localhost:8080/"));
        assert!(!is_loopback(
            "https://abc.execute-api.eu-west-1.amazonaws.com"
        ));
        assert!(!is_loopback("http://127example.com"));
    }

    #[test]
    fn the_region_comes_from_an_execute_api_host() {
        assert_eq!(
            region_of("https://abc123.execute-api.eu-west-1.amazonaws.com/prod"),
            Some("eu-west-1")
        );
        assert_eq!(region_of("http://127.0.0.1:8080"), None);
    }

    #[test]
    fn bad_urls_are_refused() {
        assert!(matches!(
            ApiClient::new("ftp://x", None),
            Err(ClientError::Url(_))
        ));
        assert!(matches!(
            ApiClient::new("not a url", None),
            Err(ClientError::Url(_))
        ));
    }
}
