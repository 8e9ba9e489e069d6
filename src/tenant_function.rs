//! The function inside every tenant silo (`silos-tenant-handler`): a small JSON item service
//! over the tenant's own table. It is what `tenant-silo` deploys for each tenant, built with
//! cargo-lambda like the control plane, and a starting point for a product's own function.
//!
//! Routes (API Gateway HTTP API or a function URL, payload 2.0):
//! - `GET /`: the tenant id, name and table;
//! - `GET /items[?limit=N&nextToken=T]`: the tenant's items, a page at a time;
//! - `GET /items/{key}`, `PUT /items/{key}` (any JSON body), `DELETE /items/{key}`.
//!
//! Every route answers only a caller whose verified claims name this tenant: API Gateway's JWT
//! authorizer checks the token's signature, issuer, audience and expiry, and delivers its
//! claims in the event; the function checks again that the issuer is its tenant's directory
//! and that `custom:tenantId` is its tenant's id, and answers 403 otherwise. A request with no
//! verified claims (a function URL, a direct invoke) is refused the same way.
//!
//! Every item lives under the tenant's partition (`pk` = tenant id, `sk` = the key) of the one
//! table `TABLE_NAME` names: no request can name another table or partition, and the role the
//! template gives the function reaches only that table, and only with the four calls made here.
//! Errors are the control plane's shape, `{"error": {"code", "message"}}`.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("missing environment variable {0}: the tenant-silo template sets it")]
pub struct MissingVariable(pub &'static str);

/// A body larger than this is refused (DynamoDB's item limit is 400 KB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Keys are 1 to this many bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// Page sizes: the default, and the most one request may ask for.
pub const DEFAULT_PAGE: i32 = 100;
pub const MAX_PAGE: i32 = 1000;

/// What the function knows about its tenant, from the environment `tenant-silo` sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub table: String,
    pub tenant_id: String,
    pub tenant_name: String,
    /// The tenant directory's token issuer: `https://cognito-idp.{region}.amazonaws.com/{pool}`.
    pub issuer: String,
}

impl Settings {
    /// The settings from `lookup` (the environment). Records every variable it reads, so a
    /// test can check the template sets exactly these.
    pub fn configure(
        lookup: impl Fn(&str) -> Option<String>,
        read: &mut BTreeSet<String>,
    ) -> Result<Settings, MissingVariable> {
        let mut required = |name: &'static str| {
            read.insert(name.to_owned());
            lookup(name)
                .filter(|v| !v.is_empty())
                .ok_or(MissingVariable(name))
        };
        Ok(Settings {
            table: required("TABLE_NAME")?,
            tenant_id: required("TENANT_ID")?,
            tenant_name: required("TENANT_NAME")?,
            issuer: required("TENANT_ISSUER")?,
        })
    }
}

#[derive(Clone)]
struct Service {
    client: aws_sdk_dynamodb::Client,
    settings: Settings,
}

/// The tenant service as an axum router, for `lambda_http` (or any other host).
pub fn router(client: aws_sdk_dynamodb::Client, settings: Settings) -> Router {
    let caller = settings.clone();
    Router::new()
        .route("/", get(about))
        .route("/items", get(list))
        .route(
            "/items/{key}",
            get(get_item).put(put_item).delete(delete_item),
        )
        .fallback(|| async { error(StatusCode::NOT_FOUND, "NoSuchRoute", "no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(move |request, next| {
            let settings = caller.clone();
            async move { tenant_caller(&settings, request, next).await }
        }))
        .with_state(Service { client, settings })
}

/// Why a caller is refused: the claims API Gateway verified do not name this tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No JWT authorizer's claims in the request (no authorizer ran).
    NoClaims,
    /// The token is another directory's.
    OtherIssuer,
    /// The token names another tenant, or none.
    OtherTenant,
}

/// Whether the verified `claims` are this tenant's: issued by its directory, naming its id.
pub fn check_claims(
    settings: &Settings,
    claims: Option<&HashMap<String, String>>,
) -> Result<(), Refusal> {
    let claims = claims.ok_or(Refusal::NoClaims)?;
    if claims.get("iss").map(String::as_str) != Some(settings.issuer.as_str()) {
        return Err(Refusal::OtherIssuer);
    }
    if claims.get(TENANT_CLAIM).map(String::as_str) != Some(settings.tenant_id.as_str()) {
        return Err(Refusal::OtherTenant);
    }
    Ok(())
}

/// The claim naming a user's tenant: the directory's immutable custom attribute, which
/// `constructs::UserPool` declares (`constructs::TENANT_CLAIM`; tests/front_door.rs holds the
/// two equal).
pub const TENANT_CLAIM: &str = "custom:tenantId";

/// Lets through only a request whose authorizer claims are this tenant's.
async fn tenant_caller(
    settings: &Settings,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use lambda_http::RequestExt;
    use lambda_http::request::RequestContext;
    let claims = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|jwt| &jwt.claims),
        _ => None,
    };
    match check_claims(settings, claims) {
        Ok(()) => next.run(request).await,
        Err(refusal) => error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            match refusal {
                Refusal::NoClaims => "no verified token: call through the tenant's API",
                Refusal::OtherIssuer => "the token is not from this tenant's directory",
                Refusal::OtherTenant => "the token names another tenant",
            },
        ),
    }
}

/// Runs the function on Lambda.
/// The tenant function's binary, for a `main` with no runtime of its own (a user crate's
/// tenant function is `fn main() -> ExitCode { silos::tenant_function::main() }`).
pub fn main() -> std::process::ExitCode {
    crate::lambda::block_on_main(run())
}

pub async fn run() -> Result<(), String> {
    crate::lambda::init_logging();
    let settings = Settings::configure(|k| std::env::var(k).ok(), &mut BTreeSet::new())
        .map_err(|e| e.to_string())?;
    let config = crate::aws::load(&crate::aws::Options::default()).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    lambda_http::run(router(client, settings))
        .await
        .map_err(|e| format!("the Lambda runtime stopped: {e}"))
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = json!({"error": {"code": code, "message": message.into()}});
    (status, axum::Json(body)).into_response()
}

fn aws_error<E, R>(operation: &str, e: aws_sdk_dynamodb::error::SdkError<E, R>) -> Response
where
    E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug + 'static,
{
    let message = format!(
        "DynamoDB {operation} failed: {}",
        crate::aws::sdk_message(&e)
    );
    tracing::error!(error = %message, "request failed");
    error(StatusCode::BAD_GATEWAY, "AwsError", message)
}

/// A key is 1 to 512 bytes with no control characters.
fn check_key(key: &str) -> Result<(), Response> {
    let bad = |message: String| Err(error(StatusCode::BAD_REQUEST, "InvalidKey", message));
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return bad(format!(
            "the key is {} bytes; it must be 1 to {MAX_KEY_BYTES}",
            key.len()
        ));
    }
    if let Some(c) = key.chars().find(|c| c.is_control()) {
        return bad(format!(
            "the key holds the control character U+{:04X}",
            u32::from(c)
        ));
    }
    Ok(())
}

impl Service {
    /// The primary key of `key` in this tenant's partition.
    fn item_key(&self, key: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (
                "pk".to_owned(),
                AttributeValue::S(self.settings.tenant_id.clone()),
            ),
            ("sk".to_owned(), AttributeValue::S(key.to_owned())),
        ])
    }
}

/// An item as the API shows it.
#[derive(Debug, Serialize)]
struct Item {
    key: String,
    value: Value,
}

fn from_attributes(mut attributes: HashMap<String, AttributeValue>) -> Result<Item, Response> {
    let corrupt = |why: String| error(StatusCode::INTERNAL_SERVER_ERROR, "CorruptItem", why);
    let key = match attributes.remove("sk") {
        Some(AttributeValue::S(k)) => k,
        _ => return Err(corrupt("an item has no string sort key".to_owned())),
    };
    let value = match attributes.remove("value") {
        Some(v) => serde_dynamo::from_attribute_value(v)
            .map_err(|e| corrupt(format!("item {key:?} holds a value that is not JSON: {e}")))?,
        None => Value::Null,
    };
    Ok(Item { key, value })
}

async fn about(State(s): State<Service>) -> Response {
    let settings = &s.settings;
    axum::Json(json!({
        "tenantId": settings.tenant_id,
        "tenantName": settings.tenant_name,
        "table": settings.table,
    }))
    .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Page {
    limit: Option<i32>,
    next_token: Option<String>,
}

async fn list(
    State(s): State<Service>,
    page: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(page)) = page else {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidQuery",
            "the query takes only limit (a number) and nextToken",
        );
    };
    let limit = page.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidQuery",
            format!("limit is {limit}; it must be 1 to {MAX_PAGE}"),
        );
    }
    if let Some(token) = &page.next_token
        && let Err(e) = check_key(token)
    {
        return e;
    }
    let result = s
        .client
        .query()
        .table_name(&s.settings.table)
        .key_condition_expression("pk = :tenant")
        .expression_attribute_values(":tenant", AttributeValue::S(s.settings.tenant_id.clone()))
        .set_exclusive_start_key(page.next_token.as_deref().map(|k| s.item_key(k)))
        .limit(limit)
        .send()
        .await;
    let out = match result {
        Ok(out) => out,
        Err(e) => return aws_error("Query", e),
    };
    let next_token = out
        .last_evaluated_key()
        .and_then(|k| k.get("sk"))
        .and_then(|v| v.as_s().ok())
        .cloned();
    let mut items = Vec::new();
    for attributes in out.items.unwrap_or_default() {
        match from_attributes(attributes) {
            Ok(item) => items.push(item),
            Err(e) => return e,
        }
    }
    axum::Json(json!({"items": items, "nextToken": next_token})).into_response()
}

async fn get_item(State(s): State<Service>, Path(key): Path<String>) -> Response {
    if let Err(e) = check_key(&key) {
        return e;
    }
    let result = s
        .client
        .get_item()
        .table_name(&s.settings.table)
        .set_key(Some(s.item_key(&key)))
        .consistent_read(true)
        .send()
        .await;
    match result {
        Ok(out) => match out.item {
            Some(attributes) => match from_attributes(attributes) {
                Ok(item) => axum::Json(item).into_response(),
                Err(e) => e,
            },
            None => not_found(&key),
        },
        Err(e) => aws_error("GetItem", e),
    }
}

fn not_found(key: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "ItemNotFound",
        format!("no item {key:?}"),
    )
}

async fn put_item(
    State(s): State<Service>,
    Path(key): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(e) = check_key(&key) {
        return e;
    }
    let value: Value = match body
        .map_err(|e| format!("the body is unreadable or larger than {MAX_BODY_BYTES} bytes: {e}"))
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| format!("invalid JSON body: {e}")))
    {
        Ok(v) => v,
        Err(message) => return error(StatusCode::BAD_REQUEST, "InvalidBody", message),
    };
    let attribute = match serde_dynamo::to_attribute_value(&value) {
        Ok(a) => a,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidBody",
                format!("the body cannot be stored: {e}"),
            );
        }
    };
    let mut item = s.item_key(&key);
    item.insert("value".to_owned(), attribute);
    let result = s
        .client
        .put_item()
        .table_name(&s.settings.table)
        .set_item(Some(item))
        .send()
        .await;
    match result {
        Ok(_) => axum::Json(Item { key, value }).into_response(),
        Err(e) => aws_error("PutItem", e),
    }
}

async fn delete_item(State(s): State<Service>, Path(key): Path<String>) -> Response {
    if let Err(e) = check_key(&key) {
        return e;
    }
    let result = s
        .client
        .delete_item()
        .table_name(&s.settings.table)
        .set_key(Some(s.item_key(&key)))
        .return_values(ReturnValue::AllOld)
        .send()
        .await;
    match result {
        Ok(out) if out.attributes.is_some() => StatusCode::NO_CONTENT.into_response(),
        Ok(_) => not_found(&key),
        Err(e) => aws_error("DeleteItem", e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bounded_and_printable() {
        let check = |key: &str, ok: bool| assert_eq!(check_key(key).is_ok(), ok, "{key:?}");
        check("a", true);
        check("orders/2026-12-01 #7", true);
        check("Zürich", true);
        check(&"k".repeat(MAX_KEY_BYTES), true);
        check(&"k".repeat(MAX_KEY_BYTES + 1), false);
        check("", false);
        check("a\nb", false);
        check("\u{0}", false);
    }

    #[test]
    fn settings_come_from_the_four_variables_the_template_sets() {
        let vars = HashMap::from([
            ("TABLE_NAME", "silos-tenant-x"),
            ("TENANT_ID", "x"),
            ("TENANT_NAME", "Acme"),
            ("TENANT_ISSUER", ISSUER),
        ]);
        let mut read = BTreeSet::new();
        let settings =
            Settings::configure(|k| vars.get(k).map(|v| (*v).to_owned()), &mut read).unwrap();
        assert_eq!(settings.table, "silos-tenant-x");
        assert_eq!(settings.issuer, ISSUER);
        assert_eq!(read.len(), 4);
        let err = Settings::configure(|_| None, &mut read).unwrap_err();
        assert_eq!(err, MissingVariable("TABLE_NAME"));
    }

    const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc";

    #[test]
    fn only_claims_from_the_tenant_s_directory_naming_the_tenant_pass() {
        let settings = Settings {
            table: "t".into(),
            tenant_id: "a".into(),
            tenant_name: "A".into(),
            issuer: ISSUER.into(),
        };
        let claims = |iss: &str, tenant: Option<&str>| {
            let mut c = HashMap::from([("iss".to_owned(), iss.to_owned())]);
            if let Some(t) = tenant {
                c.insert(TENANT_CLAIM.to_owned(), t.to_owned());
            }
            c
        };
        assert_eq!(
            check_claims(&settings, Some(&claims(ISSUER, Some("a")))),
            Ok(())
        );
        assert_eq!(
            check_claims(&settings, Some(&claims(ISSUER, Some("b")))),
            Err(Refusal::OtherTenant)
        );
        assert_eq!(
            check_claims(&settings, Some(&claims(ISSUER, None))),
            Err(Refusal::OtherTenant)
        );
        let other = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other";
        assert_eq!(
            check_claims(&settings, Some(&claims(other, Some("a")))),
            Err(Refusal::OtherIssuer)
        );
        assert_eq!(check_claims(&settings, None), Err(Refusal::NoClaims));
    }
}
