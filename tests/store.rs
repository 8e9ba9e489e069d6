//! The DynamoDB tenant store against the serialized moto emulator.

mod common;

use std::collections::HashSet;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use silos::control_plane::store::{Changes, Error, Store};
use silos::control_plane::tenant::{Status, Tenant, TenantName, Timestamp};

/// A table shaped like the control plane's TenantsTable.
async fn store(moto: &common::Moto) -> Store {
    let client = Client::new(&moto.sdk_config());
    client
        .create_table()
        .table_name("tenants")
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("tenantId")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("tenantId")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    Store::new(client, "tenants")
}

fn tenant(n: u32, name: &str) -> Tenant {
    Tenant::new(
        format!("00000000-0000-4000-8000-{n:012}"),
        TenantName::parse(name).unwrap(),
        "silo",
        Timestamp {
            millis: 1_700_000_000_000 + u64::from(n),
        },
    )
}

#[tokio::test]
async fn created_tenants_are_read_back_and_listed_without_their_locks() {
    let moto = common::Moto::start();
    let store = store(&moto).await;
    let acme = tenant(1, "Acme Corp");
    store.create(&acme).await.unwrap();
    store.create(&tenant(2, "Globex")).await.unwrap();
    assert_eq!(
        store.get(&acme.tenant_id).await.unwrap(),
        Some(acme.clone())
    );
    assert_eq!(store.get("name#acmecorp").await.unwrap(), None);
    assert_eq!(
        store
            .get("00000000-0000-4000-8000-000000000099")
            .await
            .unwrap(),
        None
    );
    let names: Vec<String> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.tenant_name)
        .collect();
    assert_eq!(names, ["Acme Corp", "Globex"]);
}

#[tokio::test]
async fn names_are_unique_on_the_safe_name_and_a_loser_writes_nothing() {
    let moto = common::Moto::start();
    let store = store(&moto).await;
    store.create(&tenant(1, "Acme Corp")).await.unwrap();
    let err = store.create(&tenant(2, "  acme CORP ")).await.unwrap_err();
    assert!(
        matches!(err, Error::NameTaken(ref n) if n == "acmecorp"),
        "{err}"
    );
    assert_eq!(store.list().await.unwrap().len(), 1);
    assert_eq!(store.get(&tenant(2, "x").tenant_id).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_creates_of_one_name_have_exactly_one_winner() {
    let moto = common::Moto::start();
    let store = store(&moto).await;
    // Several rounds, each of 20 concurrent creates of one name, to give a race many chances.
    for round in 0..5u32 {
        let name = format!("Initech {round}");
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let store = store.clone();
                let t = tenant(round * 100 + i, &name);
                tokio::spawn(async move { store.create(&t).await })
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => won += 1,
                Err(Error::NameTaken(_)) => {}
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        assert_eq!(won, 1, "round {round}");
    }
    let tenants = store.list().await.unwrap();
    assert_eq!(tenants.len(), 5, "exactly one record per name");
}

#[tokio::test]
async fn transitions_name_the_expected_status() {
    let moto = common::Moto::start();
    let store = store(&moto).await;
    let t = tenant(1, "Acme");
    store.create(&t).await.unwrap();
    let changes = Changes {
        stack_name: Some("silos-tenant-x".into()),
        ..Changes::default()
    };
    let moved = store
        .transition(
            &t.tenant_id,
            Status::Initiated,
            Status::Provisioning,
            &changes,
        )
        .await
        .unwrap();
    assert_eq!(moved.status, Status::Provisioning);
    assert_eq!(moved.stack_name.as_deref(), Some("silos-tenant-x"));
    assert!(moved.status_changed_at >= t.status_changed_at);

    // A redelivered record expects `initiated` again: refused, and nothing changes.
    let err = store
        .transition(
            &t.tenant_id,
            Status::Initiated,
            Status::Provisioning,
            &Changes::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::WrongStatus {
                expected: Status::Initiated,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(store.get(&t.tenant_id).await.unwrap(), Some(moved.clone()));

    let failed = store
        .transition(
            &t.tenant_id,
            Status::Provisioning,
            Status::Failed,
            &Changes {
                status_reason: Some(Some("CREATE_FAILED: boom".into())),
                ..Changes::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(failed.status_reason.as_deref(), Some("CREATE_FAILED: boom"));
    let retried = store
        .transition(
            &t.tenant_id,
            Status::Failed,
            Status::Provisioning,
            &Changes {
                status_reason: Some(None),
                ..Changes::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(retried.status_reason, None);
}

#[tokio::test]
async fn reaching_deleted_frees_the_name() {
    let moto = common::Moto::start();
    let store = store(&moto).await;
    let first = tenant(1, "Acme");
    store.create(&first).await.unwrap();
    // Wrong expected status: nothing happens, the name stays held.
    assert!(matches!(
        store.mark_deleted(&first, Status::Deleting, None).await,
        Err(Error::WrongStatus { .. })
    ));
    assert!(matches!(
        store.create(&tenant(2, "acme")).await,
        Err(Error::NameTaken(_))
    ));

    store
        .mark_deleted(&first, Status::Initiated, None)
        .await
        .unwrap();
    assert_eq!(
        store.get(&first.tenant_id).await.unwrap().unwrap().status,
        Status::Deleted
    );
    store.create(&tenant(2, "acme")).await.unwrap();
    // The second tenant's lock belongs to it: deleting the first again cannot free it.
    assert!(
        store
            .mark_deleted(&first, Status::Deleted, None)
            .await
            .is_err()
    );
    assert!(matches!(
        store.create(&tenant(3, "ACME")).await,
        Err(Error::NameTaken(_))
    ));
}

#[tokio::test]
async fn list_reads_every_page() {
    let moto = common::Moto::start();
    let store = store(&moto).await.with_page_size(3);
    for i in 0..10 {
        store
            .create(&tenant(i, &format!("Tenant {i}")))
            .await
            .unwrap();
    }
    // 10 tenants and 10 locks over pages of 3 items.
    let ids: HashSet<String> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.tenant_id)
        .collect();
    assert_eq!(ids.len(), 10);
}
