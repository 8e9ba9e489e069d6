//! Lifecycle events through the publisher against the emulator's EventBridge, read back
//! through a subscription as a consumer would: a failed provisioning publishes the failure
//! with its reason, a redelivered record publishes the same event with the same key, and
//! sbt-aws's names are used when asked for.

mod common;

use std::time::{Duration, Instant};

use silos::control_plane::events::{DetailTypes, Publisher, Received, Subscription};

/// What the subscription receives until `n` events are in (or 20 s pass), and a second more.
async fn receive(subscription: &Subscription, n: usize) -> Vec<Received> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut events = Vec::new();
    while events.len() < n && Instant::now() < deadline {
        for e in subscription.receive(Duration::from_secs(1)).await.unwrap() {
            events.push(serde_json::from_value(e).unwrap());
        }
    }
    // Nothing more is coming.
    events.extend(
        subscription
            .receive(Duration::from_secs(1))
            .await
            .unwrap()
            .into_iter()
            .map(|e| serde_json::from_value(e).unwrap()),
    );
    events
}

#[tokio::test]
async fn a_failed_provisioning_is_published_with_its_reason_once_per_key() {
    let env = common::env::env().await;
    let sdk = env.moto.sdk_config();
    let subscription = Subscription::create(&sdk, "silos-events").await.unwrap();

    let acme = env.onboard("Acme").await;
    let id = acme["tenantId"].as_str().unwrap().to_owned();
    let insert = env.insert_record(&acme).await;
    env.cp.handle_stream(insert.clone()).await;
    let published = env.publisher.handle_stream(insert).await;
    assert!(published.batch_item_failures.is_empty(), "{published:?}");
    let stack_id = env.tenant(&id).await["stackId"]
        .as_str()
        .unwrap()
        .to_owned();
    env.stack_event("eventbridge-stack-create-failed.json", &stack_id)
        .await;
    let failed = env.tenant(&id).await;
    assert_eq!(failed["status"], "failed");

    // The failure's record, delivered twice (at least once), and once more under sbt-aws's
    // names.
    let modify = env.modify_record(&id).await;
    for _ in 0..2 {
        let published = env.publisher.handle_stream(modify.clone()).await;
        assert!(published.batch_item_failures.is_empty(), "{published:?}");
    }
    let sbt = Publisher::new(
        aws_sdk_eventbridge::Client::new(&sdk),
        env.publisher.bus(),
        DetailTypes::SbtAws,
    );
    sbt.handle_stream(modify).await;

    let events = receive(&subscription, 4).await;
    subscription.delete().await.unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.detail_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "Tenant Requested",
            "Tenant Provisioning Failed",
            "Tenant Provisioning Failed",
            "onboardingFailure",
        ],
        "{events:#?}"
    );
    for e in &events {
        assert_eq!(e.source, "silos.tenants");
        assert_eq!(e.detail.tenant.tenant_id, id);
    }
    let failure = &events[1].detail;
    assert_eq!(
        failure.tenant.status_reason.as_deref(),
        failed["statusReason"].as_str()
    );
    assert!(
        failure
            .tenant
            .status_reason
            .as_deref()
            .is_some_and(|r| r.starts_with("CREATE_FAILED")),
        "{failure:?}"
    );
    assert_eq!(
        failure.previous_status,
        Some(silos::control_plane::tenant::Status::Provisioning)
    );
    // Redelivery and the other names: the same key; the request: another.
    assert_eq!(events[2].detail, events[1].detail);
    assert_eq!(events[3].detail, events[1].detail);
    assert_ne!(
        events[0].detail.idempotency_key,
        events[1].detail.idempotency_key
    );
}

#[tokio::test]
async fn a_subscription_removes_its_queue_and_rule() {
    let env = common::env::env().await;
    let sdk = env.moto.sdk_config();
    let subscription = Subscription::create(&sdk, "silos-events").await.unwrap();
    let rules = aws_sdk_eventbridge::Client::new(&sdk)
        .list_rules()
        .event_bus_name("silos-events")
        .send()
        .await
        .unwrap();
    assert_eq!(rules.rules().len(), 1, "{rules:?}");
    subscription.delete().await.unwrap();
    let rules = aws_sdk_eventbridge::Client::new(&sdk)
        .list_rules()
        .event_bus_name("silos-events")
        .send()
        .await
        .unwrap();
    assert!(rules.rules().is_empty(), "{rules:?}");
    let queues = aws_sdk_sqs::Client::new(&sdk)
        .list_queues()
        .send()
        .await
        .unwrap();
    assert!(queues.queue_urls().is_empty(), "{queues:?}");
}
