//! The tenant function as Lambda runs it: the `bootstrap` from the cargo-lambda zip, driven
//! through a fake Runtime API with API Gateway (HTTP API, payload 2.0) events, over a table
//! shaped like the tenant stack's in the emulator.

mod common;

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use common::runtime::{Outcome, Runtime};
use serde_json::{Value, json};

const TENANT: &str = "6f1c2d3e-0000-4000-8000-000000000001";
const OTHER: &str = "6f1c2d3e-0000-4000-8000-000000000002";
const TABLE: &str = "silos-tenant-6f1c2d3e-0000-4000-8000-000000000001";
const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Tenant";

struct Function {
    child: Child,
    runtime: Runtime,
    _dir: tempfile::TempDir,
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Function {
    /// The built `bootstrap`, started as Lambda starts it, with the tenant-silo template's
    /// environment.
    fn start(endpoint: &str) -> Function {
        let (_, bootstrap, _) = common::lambda_zip::read_zip(common::lambda_zip::TENANT);
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("bootstrap");
        std::fs::write(&binary, bootstrap).unwrap();
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
        let runtime = Runtime::start();
        let child = Command::new(&binary)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", &runtime.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", TABLE)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("TABLE_NAME", TABLE)
            .env("TENANT_ID", TENANT)
            .env("TENANT_NAME", "Zürich AG")
            .env("TENANT_ISSUER", ISSUER)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Function {
            child,
            runtime,
            _dir: dir,
        }
    }

    /// One HTTP request through API Gateway, by one of the tenant's users (the claims its JWT
    /// authorizer verified): the status and the JSON body (Null if empty).
    fn http(&mut self, method: &str, path: &str, query: &str, body: Option<&str>) -> (u16, Value) {
        let claims = json!({"iss": ISSUER, "custom:tenantId": TENANT, "sub": "u-1"});
        self.http_as(Some(claims), method, path, query, body)
    }

    /// One request with these verified claims, or with no authorizer's at all (`None`).
    fn http_as(
        &mut self,
        claims: Option<Value>,
        method: &str,
        path: &str,
        query: &str,
        body: Option<&str>,
    ) -> (u16, Value) {
        let mut event = json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": query,
            "headers": {"content-type": "application/json", "host": "api.example.com"},
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "api",
                "domainName": "api.example.com",
                "domainPrefix": "api",
                "http": {
                    "method": method,
                    "path": path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "127.0.0.1",
                    "userAgent": "test"
                },
                "requestId": "r",
                "routeKey": "$default",
                "stage": "$default",
                "time": "01/Dec/2026:00:00:00 +0000",
                "timeEpoch": 1_796_083_200_000_u64
            },
            "body": body,
            "isBase64Encoded": false
        });
        if let Some(claims) = claims {
            event["requestContext"]["authorizer"] =
                json!({"jwt": {"claims": claims, "scopes": null}});
        }
        match self.runtime.invoke(event) {
            Outcome::Response(r) => {
                let status = r["statusCode"].as_u64().unwrap() as u16;
                let text = r["body"].as_str().unwrap_or_default();
                let body = if text.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
                };
                (status, body)
            }
            Outcome::Error(e) => {
                let mut stderr = String::new();
                let _ = self.child.kill();
                if let Some(s) = self.child.stderr.as_mut() {
                    let _ = s.read_to_string(&mut stderr);
                }
                panic!("the function failed: {e}\n{stderr}")
            }
        }
    }
}

async fn table(client: &aws_sdk_dynamodb::Client) {
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(TABLE)
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn the_built_tenant_function_serves_its_own_items_and_nothing_else() {
    let moto = common::Moto::start();
    let client = aws_sdk_dynamodb::Client::new(&moto.sdk_config());
    table(&client).await;
    // Another tenant's item in the same table, under its own partition.
    client
        .put_item()
        .table_name(TABLE)
        .set_item(Some(HashMap::from([
            ("pk".to_owned(), AttributeValue::S(OTHER.to_owned())),
            ("sk".to_owned(), AttributeValue::S("secret".to_owned())),
            ("value".to_owned(), AttributeValue::S("theirs".to_owned())),
        ])))
        .send()
        .await
        .unwrap();
    let mut f = Function::start(&moto.endpoint);

    let (status, about) = f.http("GET", "/", "", None);
    assert_eq!(status, 200, "{about}");
    assert_eq!(
        about,
        json!({"tenantId": TENANT, "tenantName": "Zürich AG", "table": TABLE})
    );

    let order = json!({"total": 42.5, "lines": [{"sku": "a", "qty": 2}], "paid": true});
    let (status, put) = f.http("PUT", "/items/order-1", "", Some(&order.to_string()));
    assert_eq!(
        (status, &put),
        (200, &json!({"key": "order-1", "value": order}))
    );
    let (status, got) = f.http("GET", "/items/order-1", "", None);
    assert_eq!(
        (status, got),
        (200, json!({"key": "order-1", "value": order}))
    );
    // Stored under the tenant's partition, where the SDK finds it too.
    let stored = client
        .get_item()
        .table_name(TABLE)
        .key("pk", AttributeValue::S(TENANT.to_owned()))
        .key("sk", AttributeValue::S("order-1".to_owned()))
        .send()
        .await
        .unwrap();
    assert!(stored.item.is_some());

    for i in 2..=5 {
        let (status, _) = f.http(
            "PUT",
            &format!("/items/order-{i}"),
            "",
            Some(&i.to_string()),
        );
        assert_eq!(status, 200);
    }
    // Pages of two: every item once, in key order, and never the other tenant's.
    let mut keys = Vec::new();
    let mut query = "limit=2".to_owned();
    loop {
        let (status, page) = f.http("GET", "/items", &query, None);
        assert_eq!(status, 200, "{page}");
        for item in page["items"].as_array().unwrap() {
            keys.push(item["key"].as_str().unwrap().to_owned());
        }
        match page["nextToken"].as_str() {
            Some(token) => query = format!("limit=2&nextToken={token}"),
            None => break,
        }
    }
    assert_eq!(
        keys,
        ["order-1", "order-2", "order-3", "order-4", "order-5"]
    );
    let (status, body) = f.http("GET", "/items/secret", "", None);
    assert_eq!((status, code(&body)), (404, "ItemNotFound"));

    let (status, body) = f.http("DELETE", "/items/order-1", "", None);
    assert_eq!((status, body), (204, Value::Null));
    let (status, body) = f.http("DELETE", "/items/order-1", "", None);
    assert_eq!((status, code(&body)), (404, "ItemNotFound"));
    let (status, body) = f.http("GET", "/items/order-1", "", None);
    assert_eq!((status, code(&body)), (404, "ItemNotFound"));

    // Bad input: a clear 4xx, and nothing written.
    let (status, body) = f.http("PUT", "/items/bad", "", Some("{not json"));
    assert_eq!((status, code(&body)), (400, "InvalidBody"), "{body}");
    let big = format!("\"{}\"", "x".repeat(70 * 1024));
    let (status, body) = f.http("PUT", "/items/big", "", Some(&big));
    assert_eq!((status, code(&body)), (400, "InvalidBody"), "{body}");
    let (status, body) = f.http("GET", "/items", "limit=5000", None);
    assert_eq!((status, code(&body)), (400, "InvalidQuery"), "{body}");
    let (status, body) = f.http("POST", "/items/x", "", Some("1"));
    assert_eq!(status, 405, "{body}");
    let (status, body) = f.http("GET", "/nope", "", None);
    assert_eq!((status, code(&body)), (404, "NoSuchRoute"));
    let (status, page) = f.http("GET", "/items", "", None);
    assert_eq!(status, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 4, "{page}");

    // The other tenant's item is untouched.
    let theirs = client
        .get_item()
        .table_name(TABLE)
        .key("pk", AttributeValue::S(OTHER.to_owned()))
        .key("sk", AttributeValue::S("secret".to_owned()))
        .send()
        .await
        .unwrap();
    assert!(theirs.item.is_some());
}

#[tokio::test]
async fn a_caller_whose_verified_token_is_not_this_tenants_is_refused_and_reads_nothing() {
    let moto = common::Moto::start();
    let client = aws_sdk_dynamodb::Client::new(&moto.sdk_config());
    table(&client).await;
    let mut f = Function::start(&moto.endpoint);
    let (status, _) = f.http("PUT", "/items/mine", "", Some("1"));
    assert_eq!(status, 200);
    let other_tenant = json!({"iss": ISSUER, "custom:tenantId": OTHER});
    let other_issuer = json!({
        "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other",
        "custom:tenantId": TENANT
    });
    let no_tenant = json!({"iss": ISSUER});
    for claims in [
        Some(other_tenant),
        Some(other_issuer),
        Some(no_tenant),
        None,
    ] {
        for (method, path, body) in [
            ("GET", "/items/mine", None),
            ("GET", "/items", None),
            ("PUT", "/items/theirs", Some("2")),
            ("DELETE", "/items/mine", None),
        ] {
            let (status, reply) = f.http_as(claims.clone(), method, path, "", body);
            assert_eq!(
                (status, code(&reply)),
                (403, "Forbidden"),
                "{method} {path} as {claims:?}"
            );
        }
    }
    // Nothing was written or deleted by the refused calls.
    let (status, page) = f.http("GET", "/items", "", None);
    assert_eq!(status, 200);
    let keys: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["mine"]);
}

#[test]
fn without_its_variables_the_function_says_which_is_missing() {
    let (_, bootstrap, _) = common::lambda_zip::read_zip(common::lambda_zip::TENANT);
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("bootstrap");
    std::fs::write(&binary, bootstrap).unwrap();
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(&binary)
        .env_clear()
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "error: missing environment variable TABLE_NAME: the tenant-silo template sets it"
    );
}
