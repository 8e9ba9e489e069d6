//! The DynamoDB tenant store against the serialized moto emulator.

mod common;

use std::collections::HashSet;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, Put, ScalarAttributeType, TransactWriteItem,
};
use silos::control_plane::store::{Changes, Error, Held, Page, STATUS_INDEX, Store};
use silos::control_plane::tenant::{Status, Tenant, TenantName, Timestamp};

/// A table shaped like the control plane's TenantsTable, with its status index.
async fn store(moto: &common::Moto) -> Store {
    let client = Client::new(&moto.sdk_config());
    let attribute = |name: &str, ty: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ty)
            .build()
            .unwrap()
    };
    let key = |name: &str, ty: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(ty)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name("tenants")
        .attribute_definitions(attribute("tenantId", ScalarAttributeType::S))
        .attribute_definitions(attribute("status", ScalarAttributeType::S))
        .attribute_definitions(attribute("created", ScalarAttributeType::N))
        .key_schema(key("tenantId", KeyType::Hash))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(STATUS_INDEX)
                .key_schema(key("status", KeyType::Hash))
                .key_schema(key("created", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
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
        store.get(acme.name_lock.as_deref().unwrap()).await.unwrap(),
        None
    );
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
async fn names_are_unique_on_the_name_key_and_a_loser_writes_nothing() {
    let moto = common::Moto::start();
    let store = store(&moto).await;
    store.create(&tenant(1, "Acme Corp")).await.unwrap();
    for (n, name) in [
        (2, "  acme CORP "),
        (3, "ACME\u{a0} corp"),
        (4, "Ａｃｍｅ Ｃｏｒｐ"),
    ] {
        let err = store.create(&tenant(n, name)).await.unwrap_err();
        assert!(
            matches!(err, Error::NameTaken { held: Held::Key(ref k), .. } if k == "acme corp"),
            "{err}"
        );
        assert_eq!(store.get(&tenant(n, "x").tenant_id).await.unwrap(), None);
    }
    assert_eq!(
        store
            .create(&tenant(2, "acme CORP"))
            .await
            .unwrap_err()
            .to_string(),
        "tenantName \"acme CORP\" is taken: another tenant's name has the same key \"acme corp\""
    );
    assert_eq!(store.list().await.unwrap().len(), 1);
    // Unicode names lock their own key: "Zürich AG" and "Zurich AG" are two names.
    store.create(&tenant(5, "Zürich AG")).await.unwrap();
    store.create(&tenant(6, "Zurich AG")).await.unwrap();
    assert!(matches!(
        store.create(&tenant(7, "ZÜRICH  ag")).await,
        Err(Error::NameTaken { held: Held::Key(ref k), .. }) if k == "zürich ag"
    ));
    store.create(&tenant(8, "東京 株式会社")).await.unwrap();
    assert!(matches!(
        store.create(&tenant(9, "東京\u{3000}株式会社")).await,
        Err(Error::NameTaken { .. })
    ));
    assert_eq!(store.list().await.unwrap().len(), 4);
}

/// A tenant as recorded before Unicode names: its lock is `name#<safe name>`, and the record
/// has no `nameLock`. Written by hand, as the old code wrote it.
async fn put_legacy(moto: &common::Moto, n: u32, name: &str, safe_name: &str) -> Tenant {
    let client = Client::new(&moto.sdk_config());
    let id = format!("00000000-0000-4000-8000-{n:012}");
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let record = TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name("tenants")
                .item("tenantId", s(&id))
                .item("tenantName", s(name))
                .item("tenantSafeName", s(safe_name))
                .item("deploymentType", s("silo"))
                .item("status", s("initiated"))
                .item("created", AttributeValue::N("1600000000.000".to_owned()))
                .item(
                    "statusChangedAt",
                    AttributeValue::N("1600000000.000".to_owned()),
                )
                .item("attempt", AttributeValue::N("0".to_owned()))
                .build()
                .unwrap(),
        )
        .build();
    let lock = TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name("tenants")
                .item("tenantId", s(&format!("name#{safe_name}")))
                .item("kind", s("name-lock"))
                .item("owner", s(&id))
                .build()
                .unwrap(),
        )
        .build();
    client
        .transact_write_items()
        .transact_items(record)
        .transact_items(lock)
        .send()
        .await
        .unwrap();
    Store::new(client, "tenants")
        .get(&id)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn a_tenant_recorded_before_unicode_names_keeps_its_lock_until_deleted() {
    let moto = common::Moto::start();
    let store = store(&moto).await;
    let legacy = put_legacy(&moto, 1, "Acme Corp", "acmecorp").await;
    assert_eq!(legacy.name_lock, None);
    assert_eq!(
        store.list().await.unwrap(),
        std::slice::from_ref(&legacy),
        "the lock is not listed"
    );

    // A name whose key an old tenant could share is checked against its legacy lock too.
    for (n, name) in [
        (2, "ACME  corp"),
        (3, "Ａｃｍｅ Ｃｏｒｐ"),
        (4, "Acme-Corp"),
    ] {
        let err = store.create(&tenant(n, name)).await.unwrap_err();
        assert!(
            matches!(err, Error::NameTaken { held: Held::Legacy(ref s), .. } if s == "acmecorp"),
            "{name}: {err}"
        );
        assert!(err.to_string().contains("\"acmecorp\""), "{err}");
        assert_eq!(store.get(&tenant(n, "x").tenant_id).await.unwrap(), None);
    }
    // A key no ASCII name has is not: "Äcme Corp" was never a legacy name.
    store.create(&tenant(5, "Äcme Corp")).await.unwrap();
    assert_eq!(store.list().await.unwrap().len(), 2);

    // Deleting the old tenant frees its legacy lock, and the name can be taken again.
    store
        .mark_deleted(&legacy, Status::Initiated, None)
        .await
        .unwrap();
    assert_eq!(
        store.get(&legacy.tenant_id).await.unwrap().unwrap().status,
        Status::Deleted
    );
    let again = tenant(6, "ACME  corp");
    store.create(&again).await.unwrap();
    // The new tenant holds the new lock, and a new name with the old key collides with it.
    assert!(matches!(
        store.create(&tenant(7, "acme corp")).await,
        Err(Error::NameTaken { held: Held::Key(ref k), .. }) if k == "acme corp"
    ));
    store
        .mark_deleted(&again, Status::Initiated, None)
        .await
        .unwrap();
    store.create(&tenant(7, "acme corp")).await.unwrap();
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
                Err(Error::NameTaken { .. }) => {}
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
    // Every move records where it came from, for the lifecycle events.
    assert_eq!(t.previous_status, None);
    assert_eq!(moved.previous_status, Some(Status::Initiated));
    // A write that moves nothing says so: its previous status is its status.
    let moved = store
        .record_stack(&t.tenant_id, Status::Provisioning, "arn:stack/x")
        .await
        .unwrap();
    assert_eq!(moved.previous_status, Some(Status::Provisioning));
    assert_eq!(moved.stack_id.as_deref(), Some("arn:stack/x"));

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
    assert_eq!(failed.previous_status, Some(Status::Provisioning));
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
        Err(Error::NameTaken { .. })
    ));

    store
        .mark_deleted(&first, Status::Initiated, None)
        .await
        .unwrap();
    let deleted = store.get(&first.tenant_id).await.unwrap().unwrap();
    assert_eq!(deleted.status, Status::Deleted);
    assert_eq!(deleted.previous_status, Some(Status::Initiated));
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
        Err(Error::NameTaken { .. })
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

/// Reads every page of a listing (by `status`, or of every tenant) of at most `limit`,
/// calling `between` after each page; returns the pages' tenant ids in order.
async fn pages<F, Fut>(
    store: &Store,
    status: Option<Status>,
    limit: usize,
    mut between: F,
) -> Vec<Vec<String>>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let Page {
            tenants,
            next_token,
        } = match status {
            Some(s) => store.by_status(s, limit, token.as_deref()).await,
            None => store.page(limit, token.as_deref()).await,
        }
        .unwrap();
        assert!(
            tenants.len() <= limit,
            "a page of {} > {limit}",
            tenants.len()
        );
        if let Some(s) = status {
            assert!(tenants.iter().all(|t| t.status == s), "{tenants:?}");
        }
        pages.push(tenants.into_iter().map(|t| t.tenant_id).collect());
        between(pages.len()).await;
        match next_token {
            Some(next) => token = Some(next),
            None => return pages,
        }
        assert!(pages.len() < 1000, "the listing never ends");
    }
}

/// Tenant `n` of these tests: even numbers are there from the start, odd ones are written
/// while the listing runs, so they land between the others (ids sort by number).
fn numbered(n: u32) -> Tenant {
    tenant(n, &format!("Tenant {n}"))
}

#[tokio::test]
async fn every_tenant_is_on_exactly_one_page_while_tenants_are_written() {
    let moto = common::Moto::start();
    // Scan reads of 3 items, half of them locks: a page takes several reads to fill.
    let store = store(&moto).await.with_page_size(3);
    let before: Vec<Tenant> = (0..24).map(|i| numbered(2 * i)).collect();
    for t in &before {
        store.create(t).await.unwrap();
    }
    // An idempotency record, which has `kind` too, is never listed.
    let claimed = store.claiming(silos::control_plane::idempotency::Claim {
        id: "idem#0000".to_owned(),
        route: "/onboarding".to_owned(),
        request_hash: "h".to_owned(),
        expires_at: u64::MAX / 2,
    });
    let extra = numbered(1001);
    claimed.create(&extra).await.unwrap();

    let mut written = Vec::new();
    let pages = pages(&store, None, 4, |page| {
        // Two new tenants after each page, and a move of an old one.
        let store = store.clone();
        let new = [numbered(4 * page as u32 + 1), numbered(4 * page as u32 + 3)];
        written.extend(new.iter().map(|t| t.tenant_id.clone()));
        let moved = before[page % before.len()].clone();
        async move {
            for t in &new {
                store.create(t).await.unwrap();
            }
            let _ = store
                .transition(
                    &moved.tenant_id,
                    Status::Initiated,
                    Status::Failed,
                    &Changes::default(),
                )
                .await;
        }
    })
    .await;
    let listed: Vec<&String> = pages.iter().flatten().collect();
    let unique: HashSet<&String> = listed.iter().copied().collect();
    assert_eq!(unique.len(), listed.len(), "no tenant twice: {pages:?}");
    for t in before.iter().chain([&extra]) {
        assert!(unique.contains(&t.tenant_id), "{} is missing", t.tenant_id);
    }
    let known: HashSet<&String> = before
        .iter()
        .chain([&extra])
        .map(|t| &t.tenant_id)
        .chain(&written)
        .collect();
    assert!(
        unique.iter().all(|id| known.contains(id)),
        "only tenants, never a lock or a record: {pages:?}"
    );
    // Full pages until the last: a page reads on until it has its limit.
    for page in &pages[..pages.len() - 1] {
        assert_eq!(page.len(), 4, "{pages:?}");
    }
    assert!(pages.len() >= 7, "{pages:?}");
}

#[tokio::test]
async fn a_status_listing_holds_exactly_the_tenants_in_that_status_oldest_first() {
    let moto = common::Moto::start();
    let store = store(&moto).await.with_page_size(2);
    // Created out of order, so id order is not age order.
    let all: Vec<Tenant> = [5, 2, 9, 0, 7, 4, 1, 8, 3, 6]
        .into_iter()
        .map(|n| {
            let mut t = numbered(n);
            t.created = Timestamp {
                millis: 1_700_000_000_000 + u64::from(10 - n),
            };
            t
        })
        .collect();
    for t in &all {
        store.create(t).await.unwrap();
    }
    let provisioning = |t: &Tenant| {
        let store = store.clone();
        let id = t.tenant_id.clone();
        async move {
            store
                .transition(
                    &id,
                    Status::Initiated,
                    Status::Provisioning,
                    &Changes::default(),
                )
                .await
                .unwrap();
        }
    };
    for t in &all[..5] {
        provisioning(t).await;
    }
    for t in &all[..2] {
        store
            .transition(
                &t.tenant_id,
                Status::Provisioning,
                Status::Running,
                &Changes::default(),
            )
            .await
            .unwrap();
    }
    let expect = |which: &[Tenant]| {
        let mut which = which.to_vec();
        which.sort_by_key(|t| t.created);
        which.into_iter().map(|t| t.tenant_id).collect::<Vec<_>>()
    };
    for limit in [1, 2, 3, 100] {
        for (status, tenants) in [
            (Status::Running, &all[..2]),
            (Status::Provisioning, &all[2..5]),
            (Status::Initiated, &all[5..]),
            (Status::Deleted, &all[..0]),
        ] {
            let listed: Vec<String> = pages(&store, Some(status), limit, |_| async {})
                .await
                .concat();
            assert_eq!(listed, expect(tenants), "{status}, pages of {limit}");
        }
    }

    // Moving tenants out of the status while it is listed skips none of the others.
    let staying = expect(&all[5..8]);
    let leaving = all[8..].to_vec();
    let listed: Vec<String> = pages(&store, Some(Status::Initiated), 1, |page| {
        let leaving = leaving.get(page - 1).cloned();
        let provisioning = &provisioning;
        async move {
            if let Some(t) = leaving {
                provisioning(&t).await;
            }
        }
    })
    .await
    .concat();
    for id in &staying {
        assert_eq!(listed.iter().filter(|l| *l == id).count(), 1, "{listed:?}");
    }
}

#[tokio::test]
async fn a_malformed_or_foreign_next_token_is_refused_before_any_read() {
    let moto = common::Moto::start();
    let store = store(&moto).await;
    for i in 0..3 {
        store.create(&numbered(i)).await.unwrap();
    }
    let by_status = store
        .by_status(Status::Initiated, 1, None)
        .await
        .unwrap()
        .next_token
        .unwrap();
    let scan = store.page(1, None).await.unwrap().next_token.unwrap();
    for (status, token) in [
        (None, "garbage!".to_owned()),
        (None, String::new()),
        (None, by_status.clone()),
        (Some(Status::Running), by_status.clone()),
        (Some(Status::Initiated), scan.clone()),
    ] {
        let got = match status {
            Some(s) => store.by_status(s, 1, Some(&token)).await,
            None => store.page(1, Some(&token)).await,
        };
        assert!(
            matches!(got, Err(Error::InvalidNextToken(_))),
            "{status:?} {token:?}: {got:?}"
        );
    }
    // Each kind of token continues its own listing.
    assert_eq!(store.page(5, Some(&scan)).await.unwrap().tenants.len(), 2);
    assert_eq!(
        store
            .by_status(Status::Initiated, 5, Some(&by_status))
            .await
            .unwrap()
            .tenants
            .len(),
        2
    );
}

/// The items as DynamoDB holds them: the record's attribute names, the timestamps as numbers
/// with their millis written out, the attempt a number, absent fields left out (no NULLs); the
/// lock beside it.
#[tokio::test]
async fn a_tenant_and_its_lock_are_stored_with_these_attributes_and_types() {
    let moto = common::Moto::start();
    let store = store(&moto).await;
    let mut t = Tenant::new(
        "00000000-0000-4000-8000-000000000001".to_owned(),
        TenantName::parse("Acme Corp").unwrap(),
        "silo",
        Timestamp {
            millis: 1_700_000_000_100,
        },
    );
    t.version = Some("v1".to_owned());
    store.create(&t).await.unwrap();
    let raw = |id: String| {
        let client = Client::new(&moto.sdk_config());
        async move {
            client
                .get_item()
                .table_name("tenants")
                .key("tenantId", AttributeValue::S(id))
                .send()
                .await
                .unwrap()
                .item
                .unwrap()
        }
    };
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let n = |v: &str| AttributeValue::N(v.to_owned());
    let lock = t.name_lock.clone().unwrap();
    let expected = std::collections::HashMap::from([
        ("tenantId".to_owned(), s(&t.tenant_id)),
        ("tenantName".to_owned(), s("Acme Corp")),
        ("tenantSafeName".to_owned(), s("acmecorp")),
        ("deploymentType".to_owned(), s("silo")),
        ("status".to_owned(), s("initiated")),
        ("created".to_owned(), n("1700000000.100")),
        ("statusChangedAt".to_owned(), n("1700000000.100")),
        ("attempt".to_owned(), n("0")),
        ("version".to_owned(), s("v1")),
        ("nameLock".to_owned(), s(&lock)),
    ]);
    let mut item = raw(t.tenant_id.clone()).await;
    // The marker of the write that made it, by which a retry knows its own effect.
    let write_id = item.remove("writeId").expect("the write's marker");
    assert!(
        matches!(&write_id, AttributeValue::S(w) if uuid::Uuid::parse_str(w).is_ok()),
        "{write_id:?}"
    );
    assert_eq!(item, expected);
    let key = silos::control_plane::tenant::name::key("Acme Corp");
    let expected_lock = std::collections::HashMap::from([
        ("tenantId".to_owned(), s(&lock)),
        ("kind".to_owned(), s("name-lock")),
        ("owner".to_owned(), s(&t.tenant_id)),
        ("nameKey".to_owned(), s(&key)),
    ]);
    assert_eq!(raw(lock.clone()).await, expected_lock);
}

/// Concurrent placements in a cell with one free slot: exactly one lands, the others are
/// `CellFull` and write nothing (their names stay free), and the count is the cell's tenants.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_placements_never_overfill_a_cell() {
    use silos::control_plane::store::Slot;
    let moto = common::Moto::start();
    let store = store(&moto).await;
    let slot = Slot {
        cell: "one".to_owned(),
        capacity: 2,
    };
    let mut first = tenant(100, "Already There");
    first.cell = Some("one".to_owned());
    store.create_in(&first, Some(&slot)).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..16 {
        let store = store.clone();
        let slot = slot.clone();
        tasks.spawn(async move {
            let mut t = tenant(n, &format!("Racer {n}"));
            t.cell = Some("one".to_owned());
            (n, store.create_in(&t, Some(&slot)).await)
        });
    }
    let (mut won, mut full) = (Vec::new(), 0);
    while let Some(done) = tasks.join_next().await {
        match done.unwrap() {
            (n, Ok(())) => won.push(n),
            (_, Err(Error::CellFull(cell))) => {
                assert_eq!(cell, "one");
                full += 1;
            }
            (n, Err(e)) => panic!("racer {n}: {e}"),
        }
    }
    assert_eq!(won.len(), 1, "exactly one takes the last slot: {won:?}");
    assert_eq!(full, 15);
    let counts = store.cell_counts(&["one", "other"]).await.unwrap();
    assert_eq!(counts.get("one"), Some(&2));
    assert_eq!(counts.get("other"), None);
    // A loser wrote nothing: its name is still free.
    let loser = (0..16).find(|n| !won.contains(n)).unwrap();
    let mut again = tenant(200, &format!("Racer {loser}"));
    again.cell = Some("two".to_owned());
    store
        .create_in(
            &again,
            Some(&Slot {
                cell: "two".to_owned(),
                capacity: 1,
            }),
        )
        .await
        .unwrap();
    // Deleting a placed tenant frees its slot.
    store
        .mark_deleted(&first, Status::Initiated, None)
        .await
        .unwrap();
    assert_eq!(
        store.cell_counts(&["one"]).await.unwrap().get("one"),
        Some(&1)
    );
}

/// A store over the same table whose client goes through a fault proxy, and one that goes
/// direct (to read what the faulty one wrote).
async fn store_behind_faults(
    moto: &common::Moto,
    seed: u64,
) -> (Store, Store, common::faults::FaultProxy) {
    let direct = store(moto).await;
    let proxy = common::faults::FaultProxy::start(&moto.endpoint, seed);
    let client = Client::new(&silos::aws::emulator(&proxy.endpoint, "us-east-1"));
    (Store::new(client, "tenants"), direct, proxy)
}

fn claim(key: &str) -> silos::control_plane::idempotency::Claim {
    silos::control_plane::idempotency::Claim {
        id: format!("idem#{key}"),
        route: "/delete".to_owned(),
        request_hash: "h".to_owned(),
        expires_at: Timestamp::now().millis / 1000 + 3600,
    }
}

/// Each kind of write, its answer lost once: DynamoDB applied it, the connection dropped, and
/// the SDK's retry met the write's own effect (a failed condition). Each is a success, with
/// the tenant as written; a claim it carried counts as written.
#[tokio::test]
async fn every_write_whose_answer_was_lost_is_its_own_success() {
    use common::faults::Fault::LoseResponse;
    use silos::control_plane::store::ClaimState;
    let moto = common::Moto::start();
    let (store, direct, proxy) = store_behind_faults(&moto, 11).await;
    let t = tenant(1, "Lost Answers");
    let id = t.tenant_id.clone();
    let status = |direct: &Store| {
        let (direct, id) = (direct.clone(), id.clone());
        async move { direct.get(&id).await.unwrap().map(|t| t.status) }
    };

    // create: the tenant and its lock, one transaction.
    proxy.inject("TransactWriteItems", LoseResponse, 1);
    store.create(&t).await.unwrap();
    assert_eq!(proxy.pending("TransactWriteItems"), 0, "the fault was met");
    assert_eq!(status(&direct).await, Some(Status::Initiated));

    // A transition (UpdateItem): the tenant comes back as the write left it.
    proxy.inject("UpdateItem", LoseResponse, 1);
    let stack = Changes {
        stack_name: Some("silos-tenant-1".to_owned()),
        ..Changes::default()
    };
    let moved = store
        .transition(&id, Status::Initiated, Status::Provisioning, &stack)
        .await
        .unwrap();
    assert_eq!(proxy.pending("UpdateItem"), 0);
    assert_eq!(moved.status, Status::Provisioning);
    assert_eq!(moved.stack_name.as_deref(), Some("silos-tenant-1"));

    // A field set in place (UpdateItem).
    proxy.inject("UpdateItem", LoseResponse, 1);
    let recorded = store
        .record_stack(&id, Status::Provisioning, "arn:aws:cloudformation:stack/1")
        .await
        .unwrap();
    assert_eq!(
        recorded.stack_id.as_deref(),
        Some("arn:aws:cloudformation:stack/1")
    );

    // A keyed transition: the status and the key's claim, one transaction.
    let keyed = store.claiming(claim("k1"));
    proxy.inject("TransactWriteItems", LoseResponse, 1);
    let running = keyed
        .transition(
            &id,
            Status::Provisioning,
            Status::Running,
            &Changes::default(),
        )
        .await
        .unwrap();
    assert_eq!(running.status, Status::Running);
    assert_eq!(keyed.claim_state(), Some(ClaimState::Written));
    assert!(
        direct
            .idempotency_record("idem#k1")
            .await
            .unwrap()
            .is_some()
    );

    // A health write (UpdateItem, conditional on the last health write), its answer lost:
    // the tenant comes back with the health written, under a new revision.
    use silos::control_plane::tenant::{AlarmState, Health, HealthStatus};
    let health = Health {
        status: HealthStatus::Alarm,
        alarms: vec![AlarmState {
            name: "silos-tenant-1-errors".to_owned(),
            state: "ALARM".to_owned(),
            since: Timestamp { millis: 1_000 },
            reason: None,
        }],
        changed_at: Timestamp { millis: 2_000 },
        previous: Some(HealthStatus::Ok),
        revision: String::new(),
    };
    proxy.inject("UpdateItem", LoseResponse, 1);
    let written = store
        .set_health(&id, Status::Running, &health, None, true)
        .await
        .unwrap();
    assert_eq!(proxy.pending("UpdateItem"), 0);
    let recorded = written.health.expect("the health");
    assert_eq!(recorded.status, HealthStatus::Alarm);
    assert!(!recorded.revision.is_empty());
    // The next health write names that revision; one that names an older one is refused.
    let next = store
        .set_health(
            &id,
            Status::Running,
            &recorded,
            Some(&recorded.revision),
            false,
        )
        .await
        .unwrap();
    assert_ne!(next.health.unwrap().revision, recorded.revision);
    let stale = store
        .set_health(
            &id,
            Status::Running,
            &recorded,
            Some(&recorded.revision),
            false,
        )
        .await;
    assert!(matches!(stale, Err(Error::WrongStatus { .. })), "{stale:?}");

    // A write whose condition truly fails still says so, lost answer or not: its own first
    // attempt wrote nothing, so the item holds another write's marker.
    proxy.inject("UpdateItem", LoseResponse, 1);
    let refused = store
        .transition(
            &id,
            Status::Initiated,
            Status::Provisioning,
            &Changes::default(),
        )
        .await;
    assert!(
        matches!(refused, Err(Error::WrongStatus { .. })),
        "{refused:?}"
    );

    // mark_deleted: the status, the lock freed, one transaction.
    let deleting = store
        .transition(&id, Status::Running, Status::Deleting, &Changes::default())
        .await
        .unwrap();
    proxy.inject("TransactWriteItems", LoseResponse, 1);
    store
        .mark_deleted(&deleting, Status::Deleting, None)
        .await
        .unwrap();
    assert_eq!(proxy.pending("TransactWriteItems"), 0);
    assert_eq!(status(&direct).await, Some(Status::Deleted));
    // The name is free again.
    direct.create(&tenant(2, "Lost Answers")).await.unwrap();
}
