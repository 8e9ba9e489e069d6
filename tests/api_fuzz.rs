//! Hostile input to the API router: arbitrary bodies, paths and deeply nested JSON. Nothing
//! panics, nothing is a 500, and every rejection is a 4xx made before any AWS call. The control
//! plane here points at a closed port with retries off, so a request that does reach AWS shows
//! up as a 5xx, and the properties check that only well-formed requests ever get that far.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use proptest::prelude::*;
use serde_json::{Value, json};
use silos::control_plane::api::{self, MAX_BODY_BYTES};
use silos::control_plane::{ControlPlane, Settings};
use tower::ServiceExt;

fn control_plane() -> ControlPlane {
    let config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        // Nothing listens on port 9 (discard) here: a call fails at once.
        .endpoint_url("http://127.0.0.1:9")
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            aws_sdk_dynamodb::config::Credentials::new("t", "t", None, None, "test"),
        ))
        .retry_config(RetryConfig::disabled())
        .build();
    ControlPlane::new(
        &config,
        Settings {
            prefix: "silos".into(),
            tenants_table: "tenants".into(),
            artifacts_bucket: "artifacts".into(),
            catalog_key: "catalog/current.json".into(),
            region: "us-east-1".into(),
            provisioning_role_arn: None,
            stack_wait: Duration::from_secs(1),
            catalog_ttl: Duration::ZERO,
        },
    )
}

fn call(method: &str, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = api::router(control_plane())
            .oneshot(
                Request::builder()
                    .method(method)
                    .uri(path)
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    })
}

/// Whether `body` is a well-formed request for `path`: a JSON object with exactly the fields
/// the route takes, each a string. Only such a request may reach AWS.
fn well_formed(path: &str, body: &[u8]) -> bool {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    let (required, optional): (&[&str], &[&str]) = match path {
        "/onboarding" => (&["tenantName", "deploymentType"], &[]),
        "/delete" => (&["tenantId"], &["tenantName"]),
        "/update" => (&["tenantId"], &["version"]),
        _ => (&["tenantId"], &[]),
    };
    required
        .iter()
        .all(|k| map.get(*k).is_some_and(Value::is_string))
        && map.iter().all(|(k, v)| {
            (required.contains(&k.as_str()) || optional.contains(&k.as_str()))
                && (v.is_string() || v.is_null() && optional.contains(&k.as_str()))
        })
}

fn check(path: &str, body: Vec<u8>) -> Result<(), TestCaseError> {
    let (status, value) = call("POST", path, body.clone());
    prop_assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{}", value);
    prop_assert!(
        value["error"]["code"].is_string(),
        "every refusal is the API's JSON error: {} {}",
        status,
        value
    );
    if !well_formed(path, &body) {
        prop_assert!(
            status.is_client_error(),
            "{} for {:?}: {}",
            status,
            String::from_utf8_lossy(&body),
            value
        );
    }
    Ok(())
}

/// Strings that are hostile as names: templates, quotes, shell, control characters, huge.
fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{{ 7*7 }}".to_owned()),
        Just("{% for x in y %}{% endfor %}".to_owned()),
        Just("'; DROP TABLE tenants; --".to_owned()),
        Just("$(rm -rf /) `id` && | ; > <".to_owned()),
        Just("\u{0}\u{7}\n\r\t".to_owned()),
        Just("name#acme".to_owned()),
        Just("namekey#acme".to_owned()),
        // Bidi overrides and isolates, zero-width and other invisible characters.
        Just("Acme\u{202E}proC\u{202C} \u{2066}x\u{2069}".to_owned()),
        Just("\u{200B}\u{200D}\u{FEFF}\u{AD}\u{FE0F}\u{3164}".to_owned()),
        "[a-z\u{202A}-\u{202E}\u{2066}-\u{2069}\u{200B}-\u{200F}]{1,20}",
        "\\PC{0,80}",
        ".{0,300}",
    ]
}

fn field() -> impl Strategy<Value = Value> {
    prop_oneof![
        nasty().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
        Just(json!([])),
        Just(json!({"S": "x"})),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let keys = prop_oneof![
        Just("tenantName".to_owned()),
        Just("deploymentType".to_owned()),
        Just("tenantId".to_owned()),
        Just("version".to_owned()),
        "[a-zA-Z]{1,12}",
    ];
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        proptest::collection::btree_map(keys, field(), 0..4)
            .prop_map(|m| serde_json::to_vec(&m).unwrap()),
        field().prop_map(|v| serde_json::to_vec(&v).unwrap()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn no_body_crashes_a_route_or_reaches_aws_unless_well_formed(
        path in prop_oneof![
            Just("/onboarding"),
            Just("/delete"),
            Just("/tenant-info"),
            Just("/retry"),
            Just("/update"),
        ],
        body in body(),
    ) {
        check(path, body)?;
    }

    #[test]
    fn no_tenant_id_in_a_path_crashes_the_router(id in "\\PC{0,100}") {
        let path = format!("/tenants/{}", urlencode(&id));
        let (status, value) = call("GET", &path, Vec::new());
        prop_assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{}", value);
        prop_assert!(value["error"]["code"].is_string(), "{} {}", status, value);
        if uuid::Uuid::parse_str(&id).is_err() {
            prop_assert!(status.is_client_error(), "{} for {:?}", status, id);
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn deeply_nested_json_is_refused_cheaply() {
    let depth = 100_000;
    let body = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let (status, value) = call("POST", "/onboarding", body.into_bytes());
    // Larger than the body limit: refused before parsing.
    assert_eq!(status, StatusCode::BAD_REQUEST, "{value}");
    let depth = 5_000;
    let body = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    assert!(body.len() < MAX_BODY_BYTES);
    let (status, value) = call("POST", "/onboarding", body.into_bytes());
    assert_eq!(status, StatusCode::BAD_REQUEST, "{value}");
    assert_eq!(value["error"]["code"], "InvalidBody");
}

#[test]
fn oversize_bodies_are_refused_before_any_aws_call() {
    let name = "a".repeat(MAX_BODY_BYTES);
    let body = json!({"tenantName": name, "deploymentType": "silo"}).to_string();
    let (status, value) = call("POST", "/onboarding", body.into_bytes());
    assert_eq!(status, StatusCode::BAD_REQUEST, "{value}");
    assert_eq!(value["error"]["code"], "BodyTooLarge");
}

#[test]
fn invisible_characters_are_refused_before_any_aws_call_and_international_names_pass() {
    let onboard = |name: &str| {
        let body = json!({"tenantName": name, "deploymentType": "silo"}).to_string();
        call("POST", "/onboarding", body.into_bytes())
    };
    for (name, found) in [
        ("Acme\u{202E}Corp", "found U+202E (a format character)"),
        ("Acme\u{2066}Corp", "found U+2066 (a format character)"),
        ("Acme\u{200B}Corp", "found U+200B (a format character)"),
        ("Acme\u{0}", "found U+0000 (a control character)"),
        ("Acme 🚀", "found '🚀' (U+1F680, an emoji)"),
    ] {
        let (status, value) = onboard(name);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name:?}: {value}");
        assert_eq!(value["error"]["code"], "InvalidTenantName", "{value}");
        let message = value["error"]["message"].as_str().unwrap();
        assert!(message.contains(found), "{name:?}: {message}");
    }
    // Accepted: they get as far as the catalog read, an AWS call (see the test below).
    for name in [
        "Zürich AG",
        "東京 株式会社",
        "Acme\u{a0}Corp",
        "O'Brien & Sons, Ltd.",
    ] {
        let (status, value) = onboard(name);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{name:?}: {value}");
    }
}

#[test]
fn a_well_formed_request_does_reach_aws_here() {
    // The other properties rely on this: a request that gets past parsing fails with a 5xx
    // on the closed port (its first call reads the catalog), so a 4xx really was decided
    // before any AWS call.
    let body = json!({"tenantName": "Acme", "deploymentType": "silo"}).to_string();
    let (status, value) = call("POST", "/onboarding", body.into_bytes());
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{value}");
    assert_eq!(value["error"]["code"], "CatalogUnavailable");
}
