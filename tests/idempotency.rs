//! `Idempotency-Key` on the mutating routes (issue 18), through the router against the
//! emulator: repeats replay the first answer and do nothing, another request under the same key
//! is refused and writes nothing, concurrent repeats make one tenant, a write whose answer was
//! lost is still found, and keys belong to their caller.

mod common;

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{Value, json};
use silos::control_plane::idempotency::{self, Caller, Claim, Key};
use silos::control_plane::tenant::{Tenant, TenantName, Timestamp};

use common::env::{env, error_code};

fn onboarding(name: &str) -> String {
    json!({"tenantName": name, "deploymentType": "silo"}).to_string()
}

async fn tenants(env: &common::env::Env) -> Vec<Value> {
    let (status, all) = env.call("GET", "/tenants", Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    all.as_array().unwrap().clone()
}

#[tokio::test]
async fn a_repeated_onboarding_returns_the_same_tenant_and_makes_one_stack() {
    let env = env().await;
    let (status, headers, first) = env
        .call_as("POST", "/onboarding", onboarding("Acme"), Some("k1"), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert!(headers.get("idempotent-replayed").is_none());
    // The same request again, written differently: the first answer, marked as a replay.
    let same = "{ \"deploymentType\": \"silo\", \"tenantName\": \"Acme\" }";
    let (status, headers, again) = env
        .call_as("POST", "/onboarding", same, Some("k1"), None)
        .await;
    assert_eq!((status, &again), (StatusCode::CREATED, &first));
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(tenants(&env).await.len(), 1);

    // One stream record, one stack; the repeat wrote nothing for the stream to deliver.
    let id = first["tenantId"].as_str().unwrap().to_owned();
    env.cp.handle_stream(env.insert_record(&first).await).await;
    assert_eq!(env.stacks_named(&format!("silos-tenant-{id}")).await, 1);
    let (status, _, again) = env
        .call_as("POST", "/onboarding", onboarding("Acme"), Some("k1"), None)
        .await;
    assert_eq!((status, again), (StatusCode::CREATED, first));
    assert_eq!(env.stacks_named(&format!("silos-tenant-{id}")).await, 1);
}

#[tokio::test]
async fn the_same_key_for_another_request_is_refused_and_writes_nothing() {
    let env = env().await;
    let (status, _, _) = env
        .call_as("POST", "/onboarding", onboarding("Acme"), Some("k1"), None)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, body) = env
        .call_as(
            "POST",
            "/onboarding",
            onboarding("Globex"),
            Some("k1"),
            None,
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "IdempotencyKeyReused"),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/onboarding"),
        "{body}"
    );
    let names: Vec<Value> = tenants(&env)
        .await
        .iter()
        .map(|t| t["tenantName"].clone())
        .collect();
    assert_eq!(names, [json!("Acme")]);
    // Globex's name is free: nothing of the refused request was written.
    env.onboard("Globex").await;

    // A key on another route, and a bad key.
    let (status, _, body) = env
        .call_as(
            "POST",
            "/delete",
            json!({"tenantId": "00000000-0000-4000-8000-000000000001"}).to_string(),
            Some("k1"),
            None,
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "IdempotencyKeyReused")
    );
    let long = "k".repeat(65);
    let (status, _, body) = env
        .call_as(
            "POST",
            "/onboarding",
            onboarding("Initech"),
            Some(&long),
            None,
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "InvalidIdempotencyKey")
    );
    assert_eq!(tenants(&env).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_requests_with_one_key_make_one_tenant() {
    let env = std::sync::Arc::new(env().await);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let env = env.clone();
            tokio::spawn(async move {
                env.call_as(
                    "POST",
                    "/onboarding",
                    onboarding("Initech"),
                    Some("burst"),
                    None,
                )
                .await
            })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let (status, _, body) = t.await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.insert(body["tenantId"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "every answer names the one tenant: {ids:?}");
    assert_eq!(tenants(&env).await.len(), 1);
}

#[tokio::test]
async fn a_write_whose_answer_was_lost_is_found_by_the_retry() {
    let env = env().await;
    // The write and its claim, in one transaction, and then the process "dies": no answer is
    // recorded.
    let caller = Caller("AKIAEXAMPLE".to_owned());
    let key = Key::parse(b"lost-answer").unwrap();
    let body = onboarding("Acme");
    let claim = Claim {
        id: idempotency::record_id(&caller, &key),
        route: "/onboarding".to_owned(),
        request_hash: idempotency::request_hash("/onboarding", body.as_bytes()),
        expires_at: Timestamp::now().millis / 1000 + idempotency::TTL_SECONDS,
    };
    let tenant = Tenant::new(
        "00000000-0000-4000-8000-00000000a11e".to_owned(),
        TenantName::parse("Acme").unwrap(),
        "silo",
        Timestamp::now(),
    );
    env.cp
        .claiming(claim)
        .store()
        .create(&tenant)
        .await
        .unwrap();

    let (status, headers, found) = env
        .call_as(
            "POST",
            "/onboarding",
            body.clone(),
            Some("lost-answer"),
            Some("AKIAEXAMPLE"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{found}");
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(found["tenantId"], tenant.tenant_id.as_str());
    assert_eq!(tenants(&env).await.len(), 1);
}

#[tokio::test]
async fn a_key_is_its_callers_alone() {
    let env = env().await;
    let (status, _, alice) = env
        .call_as(
            "POST",
            "/onboarding",
            onboarding("Acme"),
            Some("k"),
            Some("alice"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // Bob's request with Alice's key is his own: it is processed, and the name is taken.
    let (status, headers, body) = env
        .call_as(
            "POST",
            "/onboarding",
            onboarding("Acme"),
            Some("k"),
            Some("bob"),
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, "TenantNameTaken"),
        "{body}"
    );
    assert!(headers.get("idempotent-replayed").is_none());
    // Bob's refusal recorded nothing: the same key now makes his own tenant.
    let (status, _, bob) = env
        .call_as(
            "POST",
            "/onboarding",
            onboarding("Globex"),
            Some("k"),
            Some("bob"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{bob}");
    assert_ne!(bob["tenantId"], alice["tenantId"]);
    // And Alice still gets hers.
    let (status, _, again) = env
        .call_as(
            "POST",
            "/onboarding",
            onboarding("Acme"),
            Some("k"),
            Some("alice"),
        )
        .await;
    assert_eq!((status, again), (StatusCode::CREATED, alice));
}

#[tokio::test]
async fn a_repeated_delete_replays_the_first_answer_after_the_tenant_moved_on() {
    let env = env().await;
    let acme = env.onboard("Acme").await;
    let id = acme["tenantId"].as_str().unwrap().to_owned();
    let body = json!({"tenantId": id}).to_string();
    // No stack yet: the delete goes straight to deleted.
    let (status, _, first) = env
        .call_as("POST", "/delete", body.clone(), Some("d1"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    assert_eq!(first["status"], "deleted");
    let (status, headers, again) = env
        .call_as("POST", "/delete", body.clone(), Some("d1"), None)
        .await;
    assert_eq!((status, &again), (StatusCode::ACCEPTED, &first));
    assert_eq!(headers["idempotent-replayed"], "true");
    // Without the key, the same delete is refused: the tenant is deleted.
    let (status, plain) = env.call("POST", "/delete", body).await;
    assert_eq!(status, StatusCode::CONFLICT, "{plain}");
}
