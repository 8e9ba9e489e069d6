use serde_json::json;

use super::*;

fn tenant(status: Status, reason: Option<&str>) -> Tenant {
    let mut t = Tenant::new(
        "6f1c2a3e-0000-4000-8000-000000000001".to_owned(),
        crate::control_plane::tenant::TenantName::parse("Acme Corp").unwrap(),
        "silo",
        Timestamp {
            millis: 1_700_000_000_000,
        },
    );
    t.status = status;
    t.status_reason = reason.map(str::to_owned);
    t.status_changed_at = Timestamp {
        millis: 1_700_000_123_450,
    };
    t
}

/// The kind of the move `old` → `new` (with `reason` on the new record).
fn check(old: Option<Status>, new: Status, reason: Option<&str>, expected: Option<Kind>) {
    assert_eq!(
        kind(old, &tenant(new, reason)),
        expected,
        "{old:?} -> {new:?} (reason {reason:?})"
    );
}

#[test]
fn every_allowed_move_has_its_kind() {
    use Kind::*;
    use Status::*;
    let table = [
        (Initiated, Provisioning, ProvisioningStarted),
        (Initiated, Failed, ProvisioningFailed),
        (Initiated, Deleted, Offboarded),
        (Provisioning, Running, Provisioned),
        (Provisioning, Failed, ProvisioningFailed),
        (Provisioning, Deleting, Offboarding),
        (Running, Updating, UpdateStarted),
        (Running, Deleting, Offboarding),
        (Running, Failed, UpdateFailed),
        (Updating, Running, Updated),
        (Updating, Failed, UpdateFailed),
        (Updating, Deleting, Offboarding),
        (Deleting, Deleted, Offboarded),
        (Deleting, Failed, OffboardingFailed),
        (Failed, Provisioning, ProvisioningStarted),
        (Failed, Deleting, Offboarding),
        (Failed, Deleted, Offboarded),
    ];
    for (from, to, expected) in table {
        check(Some(from), to, None, Some(expected));
    }
    // The table is the status machine's: every allowed move is in it, and nothing else.
    for from in Status::ALL {
        for to in Status::ALL {
            let listed = table.iter().any(|(f, t, _)| (*f, *t) == (from, to));
            assert_eq!(listed, from.can_move_to(to), "{from:?} -> {to:?}");
        }
    }
}

#[test]
fn every_kind_is_reachable() {
    let mut seen = std::collections::BTreeSet::new();
    seen.extend(kind(None, &tenant(Status::Initiated, None)));
    seen.extend(kind(
        Some(Status::Updating),
        &tenant(Status::Running, Some("update to 0caf125bac46 failed: x")),
    ));
    for from in Status::ALL {
        for to in Status::ALL {
            seen.extend(kind(Some(from), &tenant(to, None)));
        }
    }
    // The one kind that moves no status.
    let drifted = drift_image("w1", Some("w1"), Some("IN_SYNC"), "DRIFTED");
    seen.extend(
        from_record("MODIFY", &none(), &drifted, DetailTypes::Silos)
            .unwrap()
            .map(|e| e.kind),
    );
    let health = health_image("w1", Some("w1"));
    seen.extend(
        from_record("MODIFY", &none(), &health, DetailTypes::Silos)
            .unwrap()
            .map(|e| e.kind),
    );
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), Kind::ALL.to_vec());
}

#[test]
fn an_update_that_comes_back_with_a_reason_rolled_back() {
    let reason = "update to 5a23e002ea02 failed: UPDATE_ROLLBACK_COMPLETE: boom";
    check(
        Some(Status::Updating),
        Status::Running,
        Some(reason),
        Some(Kind::UpdateRolledBack),
    );
    check(
        Some(Status::Updating),
        Status::Running,
        None,
        Some(Kind::Updated),
    );
}

#[test]
fn a_new_tenant_is_requested_and_nothing_else_is_new() {
    check(None, Status::Initiated, None, Some(Kind::Requested));
    for status in Status::ALL.into_iter().filter(|s| *s != Status::Initiated) {
        check(None, status, None, None);
    }
}

#[test]
fn an_unchanged_status_or_a_move_the_machine_refuses_publishes_nothing() {
    for status in Status::ALL {
        check(Some(status), status, None, None);
    }
    // Late or out-of-order: deleted → running, running → initiated, deleted → provisioning.
    check(Some(Status::Deleted), Status::Running, None, None);
    check(Some(Status::Running), Status::Initiated, None, None);
    check(Some(Status::Deleted), Status::Provisioning, None, None);
}

#[test]
fn detail_types_are_distinct_and_sbt_aws_names_map_or_fall_back_to_ours() {
    let ours: std::collections::BTreeSet<_> = Kind::ALL.iter().map(|k| k.silos()).collect();
    assert_eq!(ours.len(), Kind::ALL.len());
    let mapped: Vec<_> = Kind::ALL
        .iter()
        .filter_map(|k| k.sbt_aws().map(|n| (*k, n)))
        .collect();
    assert_eq!(
        mapped,
        [
            (Kind::Requested, "onboardingRequest"),
            (Kind::Provisioned, "onboardingSuccess"),
            (Kind::ProvisioningFailed, "onboardingFailure"),
            (Kind::Offboarding, "offboardingRequest"),
            (Kind::OffboardingFailed, "offboardingFailure"),
            (Kind::Offboarded, "offboardingSuccess"),
        ]
    );
    assert_eq!(
        Kind::Provisioned.detail_type(DetailTypes::SbtAws),
        "onboardingSuccess"
    );
    assert_eq!(
        Kind::Provisioned.detail_type(DetailTypes::Silos),
        "Tenant Provisioned"
    );
    assert_eq!(
        Kind::Updated.detail_type(DetailTypes::SbtAws),
        "Tenant Updated"
    );
    assert_eq!("sbt-aws".parse(), Ok(DetailTypes::SbtAws));
    assert_eq!("silos".parse(), Ok(DetailTypes::Silos));
    assert_eq!(
        "sbt".parse::<DetailTypes>(),
        Err(UnknownDetailTypes("sbt".into()))
    );
    for names in [DetailTypes::Silos, DetailTypes::SbtAws] {
        assert_eq!(names.as_str().parse(), Ok(names));
    }
}

#[test]
fn the_detail_carries_the_record_and_its_key() {
    let mut t = tenant(Status::Failed, Some("CREATE_FAILED: no quota"));
    t.stack_name = Some("silos-tenant-6f1c2a3e".into());
    t.version = Some("0caf125bac46".into());
    let e = event(Some(Status::Provisioning), &t, DetailTypes::Silos).unwrap();
    assert_eq!(e.source(), "silos.tenants");
    assert_eq!(e.detail_type, "Tenant Provisioning Failed");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&e.detail_json()).unwrap(),
        json!({
            "idempotencyKey": "6f1c2a3e-0000-4000-8000-000000000001:failed:1700000123.450",
            "previousStatus": "provisioning",
            "tenant": {
                "tenantId": "6f1c2a3e-0000-4000-8000-000000000001",
                "tenantName": "Acme Corp",
                "deploymentType": "silo",
                "status": "failed",
                "statusReason": "CREATE_FAILED: no quota",
                "statusChangedAt": "1700000123.450",
                "version": "0caf125bac46",
                "stackName": "silos-tenant-6f1c2a3e",
                "cell": null,
            },
        })
    );
}

#[test]
fn a_tier_move_names_its_target_and_a_rolled_back_one_its_reason() {
    let mut t = tenant(Status::Updating, None);
    t.target_deployment_type = Some("premium".into());
    let e = event(Some(Status::Running), &t, DetailTypes::Silos).unwrap();
    assert_eq!(e.detail_type, "Tenant Update Started");
    assert_eq!(
        e.detail.tenant.target_deployment_type.as_deref(),
        Some("premium")
    );
    let json: serde_json::Value = serde_json::from_str(&e.detail_json()).unwrap();
    assert_eq!(json["tenant"]["targetDeploymentType"], "premium");
    // Rolled back: running on its old type, the reason saying which move failed.
    let mut back = tenant(
        Status::Running,
        Some("move to premium (0caf125bac46) failed: UPDATE_ROLLBACK_COMPLETE"),
    );
    back.deployment_type = "silo".into();
    let e = event(Some(Status::Updating), &back, DetailTypes::Silos).unwrap();
    assert_eq!(e.detail_type, "Tenant Update Rolled Back");
    assert_eq!(e.detail.tenant.deployment_type, "silo");
    assert!(
        e.detail
            .tenant
            .status_reason
            .as_deref()
            .unwrap()
            .starts_with("move to premium")
    );
    let json: serde_json::Value = serde_json::from_str(&e.detail_json()).unwrap();
    assert!(
        json["tenant"].get("targetDeploymentType").is_none(),
        "{json}"
    );
}

#[test]
fn the_key_is_the_transition_s_and_only_its() {
    let t = tenant(Status::Running, None);
    let once = event(Some(Status::Provisioning), &t, DetailTypes::Silos).unwrap();
    let again = event(Some(Status::Provisioning), &t.clone(), DetailTypes::Silos).unwrap();
    assert_eq!(once, again);
    // The names do not change the key.
    let sbt = event(Some(Status::Provisioning), &t, DetailTypes::SbtAws).unwrap();
    assert_eq!(sbt.detail.idempotency_key, once.detail.idempotency_key);
    // A later move to the same status (after an update) is another transition.
    let mut later = t.clone();
    later.status_changed_at.millis += 1;
    let updated = event(Some(Status::Updating), &later, DetailTypes::Silos).unwrap();
    assert_ne!(updated.detail.idempotency_key, once.detail.idempotency_key);
    assert_eq!(
        idempotency_key(&later),
        "6f1c2a3e-0000-4000-8000-000000000001:running:1700000123.451"
    );
}

/// A stream image (DynamoDB JSON) of a tenant, as the store writes it.
fn image(status: &str, previous: Option<&str>, changed: &str) -> serde_dynamo::Item {
    let mut v = json!({
        "tenantId": {"S": "6f1c2a3e-0000-4000-8000-000000000001"},
        "tenantName": {"S": "Acme Corp"},
        "tenantSafeName": {"S": "acmecorp"},
        "deploymentType": {"S": "silo"},
        "status": {"S": status},
        "created": {"N": "1700000000.000"},
        "statusChangedAt": {"N": changed},
        "attempt": {"N": "1"},
    });
    if let Some(p) = previous {
        v["previousStatus"] = json!({"S": p});
    }
    serde_json::from_value(v).unwrap()
}

fn none() -> serde_dynamo::Item {
    serde_json::from_value(json!({})).unwrap()
}

fn detail_type(
    name: &str,
    old: &serde_dynamo::Item,
    new: &serde_dynamo::Item,
) -> Option<&'static str> {
    from_record(name, old, new, DetailTypes::Silos)
        .unwrap()
        .map(|e| e.detail_type)
}

#[test]
fn stream_records_publish_their_transition_once() {
    let insert = image("initiated", None, "1700000000.000");
    assert_eq!(
        detail_type("INSERT", &none(), &insert),
        Some("Tenant Requested")
    );
    let provisioning = image("provisioning", Some("initiated"), "1700000001.000");
    assert_eq!(
        detail_type("MODIFY", &none(), &provisioning),
        Some("Tenant Provisioning Started")
    );
    // The write of the stack id moved nothing: previousStatus is the status itself.
    let stack_id = image("provisioning", Some("provisioning"), "1700000001.000");
    assert_eq!(detail_type("MODIFY", &none(), &stack_id), None);
    let running = image("running", Some("provisioning"), "1700000002.000");
    assert_eq!(
        detail_type("MODIFY", &none(), &running),
        Some("Tenant Provisioned")
    );
    // Redelivery: the same event, the same key.
    let first = from_record("MODIFY", &none(), &running, DetailTypes::Silos).unwrap();
    let second = from_record("MODIFY", &none(), &running, DetailTypes::Silos).unwrap();
    assert_eq!(first, second);
    assert_eq!(
        first.unwrap().detail.idempotency_key,
        "6f1c2a3e-0000-4000-8000-000000000001:running:1700000002.000"
    );
}

#[test]
fn an_old_image_wins_over_previous_status() {
    let old = image("updating", None, "1700000001.000");
    let new = image("running", Some("provisioning"), "1700000002.000");
    assert_eq!(detail_type("MODIFY", &old, &new), Some("Tenant Updated"));
    let same = image("running", Some("provisioning"), "1700000002.000");
    assert_eq!(detail_type("MODIFY", &same, &new), None);
}

#[test]
fn locks_idempotency_records_removals_and_old_records_publish_nothing() {
    let lock: serde_dynamo::Item = serde_json::from_value(json!({
        "tenantId": {"S": "namekey#abc"}, "kind": {"S": "name-lock"},
        "owner": {"S": "6f1c2a3e"}, "nameKey": {"S": "acme corp"},
    }))
    .unwrap();
    assert_eq!(detail_type("INSERT", &none(), &lock), None);
    let idem: serde_dynamo::Item = serde_json::from_value(json!({
        "tenantId": {"S": "idem#0123"}, "kind": {"S": "idempotency"},
        "status": {"S": "running"},
    }))
    .unwrap();
    assert_eq!(detail_type("INSERT", &none(), &idem), None);
    assert_eq!(detail_type("MODIFY", &none(), &idem), None);
    // A cell's count, and the key-only record the emulator streams first when an update
    // creates it.
    for count in [
        json!({"tenantId": {"S": "cell#home"}, "kind": {"S": "cell-count"}, "tenants": {"N": "1"}}),
        json!({"tenantId": {"S": "cell#home"}}),
    ] {
        let count: serde_dynamo::Item = serde_json::from_value(count).unwrap();
        assert_eq!(detail_type("INSERT", &none(), &count), None);
    }
    let running = image("running", Some("provisioning"), "1700000002.000");
    assert_eq!(detail_type("REMOVE", &running, &none()), None);
    // Written before lifecycle events: no previous status, so no way to tell the move.
    let legacy = image("running", None, "1700000002.000");
    assert_eq!(detail_type("MODIFY", &none(), &legacy), None);
}

#[test]
fn an_unreadable_tenant_image_is_an_error() {
    let broken: serde_dynamo::Item = serde_json::from_value(json!({
        "tenantId": {"S": "6f1c2a3e"}, "status": {"S": "running"},
    }))
    .unwrap();
    assert!(from_record("MODIFY", &none(), &broken, DetailTypes::Silos).is_err());
}

#[test]
fn a_consumer_reads_back_what_was_published() {
    let mut t = tenant(Status::Running, None);
    t.version = Some("0caf125bac46".into());
    let e = event(Some(Status::Provisioning), &t, DetailTypes::SbtAws).unwrap();
    let envelope = json!({
        "version": "0", "id": "x", "source": e.source(), "detail-type": e.detail_type,
        "account": "123456789012", "time": "2026-12-01T12:00:00Z", "region": "us-east-1",
        "resources": [], "detail": serde_json::from_str::<serde_json::Value>(&e.detail_json()).unwrap(),
    });
    let back: Received = serde_json::from_value(envelope).unwrap();
    assert_eq!(back.source, "silos.tenants");
    assert_eq!(back.detail_type, "onboardingSuccess");
    assert_eq!(back.detail, e.detail);
}

/// A running tenant's image after a drift write: this write's id, the record's `driftWrite`,
/// and the drift's previous and new status.
fn drift_image(
    write: &str,
    drift_write: Option<&str>,
    previous: Option<&str>,
    status: &str,
) -> serde_dynamo::Item {
    let mut v: serde_json::Value =
        serde_json::to_value(image("running", Some("running"), "1700000002.000")).unwrap();
    v["writeId"] = json!({"S": write});
    if let Some(d) = drift_write {
        v["driftWrite"] = json!({"S": d});
    }
    let mut drift = json!({
        "status": {"S": status},
        "checkedAt": {"S": "1700000100.000"},
    });
    if let Some(p) = previous {
        drift["previous"] = json!({"S": p});
    }
    v["drift"] = json!({"M": drift});
    serde_json::from_value(v).unwrap()
}

#[test]
fn a_drift_status_change_publishes_once_and_only_from_its_own_write() {
    let changed = drift_image("w1", Some("w1"), Some("IN_SYNC"), "DRIFTED");
    let e = from_record("MODIFY", &none(), &changed, DetailTypes::Silos)
        .unwrap()
        .expect("an event");
    assert_eq!(e.detail_type, "Tenant Drifted");
    assert_eq!(
        e.detail.idempotency_key,
        "6f1c2a3e-0000-4000-8000-000000000001:drift:1700000100.000"
    );
    let drift = e.detail.drift.expect("the drift");
    assert_eq!(
        drift.status,
        crate::control_plane::tenant::DriftStatus::Drifted
    );
    // Back in sync is a change too; the same status again is not.
    let back = drift_image("w2", Some("w2"), Some("DRIFTED"), "IN_SYNC");
    assert_eq!(
        detail_type("MODIFY", &none(), &back),
        Some("Tenant Drifted")
    );
    let same = drift_image("w3", Some("w3"), Some("DRIFTED"), "DRIFTED");
    assert_eq!(detail_type("MODIFY", &none(), &same), None);
    // A later write of the record (another writeId) carries the drift but publishes nothing.
    let later = drift_image("w9", Some("w1"), Some("IN_SYNC"), "DRIFTED");
    assert_eq!(detail_type("MODIFY", &none(), &later), None);
    // A first result publishes only if it drifted.
    let first = drift_image("w4", Some("w4"), None, "IN_SYNC");
    assert_eq!(detail_type("MODIFY", &none(), &first), None);
    let first = drift_image("w5", Some("w5"), None, "DRIFTED");
    assert_eq!(
        detail_type("MODIFY", &none(), &first),
        Some("Tenant Drifted")
    );
}

/// A running tenant's image after a health write that put one alarm in ALARM: this write's
/// id and the record's `healthWrite`.
fn health_image(write: &str, health_write: Option<&str>) -> serde_dynamo::Item {
    let mut v: serde_json::Value =
        serde_json::to_value(image("running", Some("running"), "1700000002.000")).unwrap();
    v["writeId"] = json!({"S": write});
    if let Some(h) = health_write {
        v["healthWrite"] = json!({"S": h});
    }
    v["health"] = json!({"M": {
        "status": {"S": "alarm"},
        "changedAt": {"S": "1700000200.500"},
        "previous": {"S": "ok"},
        "revision": {"S": write},
        "alarms": {"L": [{"M": {
            "name": {"S": "silos-tenant-6f1c2a3e-0000-4000-8000-000000000001-errors"},
            "state": {"S": "ALARM"},
            "since": {"S": "1700000199.000"},
        }}]},
    }});
    serde_json::from_value(v).unwrap()
}

#[test]
fn a_health_change_publishes_once_and_only_from_its_own_write() {
    let changed = health_image("w1", Some("w1"));
    let e = from_record("MODIFY", &none(), &changed, DetailTypes::Silos)
        .unwrap()
        .expect("an event");
    assert_eq!(e.detail_type, "Tenant Health Changed");
    assert_eq!(
        e.detail.idempotency_key,
        "6f1c2a3e-0000-4000-8000-000000000001:health:1700000200.500"
    );
    let health = e.detail.health.expect("the health");
    assert_eq!(
        health.status,
        crate::control_plane::tenant::HealthStatus::Alarm
    );
    assert_eq!(health.firing().count(), 1);
    // The store's revision is not the consumer's business.
    assert_eq!(health.revision, "");
    // A later write of the record (a health write that changed nothing, or any other).
    let later = health_image("w2", Some("w1"));
    assert_eq!(
        from_record("MODIFY", &none(), &later, DetailTypes::Silos).unwrap(),
        None
    );
    // sbt-aws has no name for it: ours is kept.
    let e = from_record("MODIFY", &none(), &changed, DetailTypes::SbtAws)
        .unwrap()
        .unwrap();
    assert_eq!(e.detail_type, "Tenant Health Changed");
}
