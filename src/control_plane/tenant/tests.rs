use super::*;
use Status::*;

fn check(stack_status: &str, current: Status, expected: EventOutcome) {
    assert_eq!(
        apply_stack_status(current, stack_status),
        expected,
        "{stack_status} on a {current} tenant"
    );
}

fn to(status: Status, keep_reason: bool) -> EventOutcome {
    EventOutcome::Move(StackTransition {
        status,
        keep_reason,
    })
}

#[test]
fn stack_statuses_map_by_the_explicit_table() {
    check("CREATE_COMPLETE", Provisioning, to(Running, false));
    check("CREATE_FAILED", Provisioning, to(Failed, true));
    check("ROLLBACK_IN_PROGRESS", Provisioning, to(Failed, true));
    check("ROLLBACK_COMPLETE", Provisioning, to(Failed, true));
    check("ROLLBACK_FAILED", Provisioning, to(Failed, true));
    check("UPDATE_IN_PROGRESS", Running, to(Updating, false));
    check("UPDATE_COMPLETE", Updating, to(Running, false));
    check("UPDATE_ROLLBACK_COMPLETE", Updating, to(Running, true));
    check("UPDATE_ROLLBACK_FAILED", Updating, to(Failed, true));
    check("DELETE_IN_PROGRESS", Running, to(Deleting, false));
    check("DELETE_COMPLETE", Deleting, to(Deleted, false));
    check("DELETE_FAILED", Deleting, to(Failed, true));
}

#[test]
fn statuses_outside_the_table_change_nothing() {
    for s in [
        "CREATE_IN_PROGRESS",
        "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
        "UPDATE_ROLLBACK_IN_PROGRESS",
        "REVIEW_IN_PROGRESS",
        "IMPORT_COMPLETE",
        // Never by prefix: a made-up status that starts like a real one.
        "CREATE_COMPLETE_BUT_NOT_REALLY",
        "",
    ] {
        check(s, Provisioning, EventOutcome::Ignore);
    }
}

#[test]
fn late_or_repeated_events_never_move_a_tenant_backwards() {
    // A late CREATE_COMPLETE after DELETE_COMPLETE does not resurrect the tenant.
    check("CREATE_COMPLETE", Deleted, EventOutcome::Ignore);
    check("DELETE_IN_PROGRESS", Deleted, EventOutcome::Ignore);
    check("CREATE_FAILED", Deleted, EventOutcome::Ignore);
    check("CREATE_COMPLETE", Deleting, EventOutcome::Ignore);
    check("CREATE_COMPLETE", Running, EventOutcome::AlreadyThere);
    check("DELETE_COMPLETE", Deleted, EventOutcome::AlreadyThere);
    assert!(Deleted.is_terminal());
    assert!(
        Status::ALL
            .iter()
            .filter(|s| s.is_terminal())
            .eq([&Deleted])
    );
}

#[test]
fn failed_tenants_can_be_retried_or_deleted() {
    assert!(Failed.can_move_to(Provisioning));
    assert!(Failed.can_move_to(Deleting));
    assert!(
        Failed.can_move_to(Deleted),
        "a tenant with no stack goes straight to deleted"
    );
    assert!(!Failed.can_move_to(Running));
    assert!(
        !Initiated.can_move_to(Running),
        "a tenant is never running without provisioning"
    );
}

#[test]
fn timestamps_render_as_seconds_with_millis_and_round_trip() {
    let t = Timestamp {
        millis: 1_700_000_000_123,
    };
    assert_eq!(t.to_string(), "1700000000.123");
    assert_eq!("1700000000.123".parse::<Timestamp>(), Ok(t));
    assert_eq!(
        "1700000000.1".parse::<Timestamp>().unwrap().millis,
        1_700_000_000_100
    );
    assert_eq!(
        "1700000000".parse::<Timestamp>().unwrap().millis,
        1_700_000_000_000
    );
    for bad in [
        "",
        "x",
        "1.",
        "1.2345",
        "-1.0",
        "1.a",
        "99999999999999999999.0",
    ] {
        assert!(bad.parse::<Timestamp>().is_err(), "{bad:?}");
    }
}

#[test]
fn the_record_has_the_contract_shape() {
    let name = TenantName::parse("Acme Corp").unwrap();
    let t = Tenant::new(
        "7f3c2a9e-5b1d-4e8a-9c6f-2d4b8a1e3f70".into(),
        name,
        "silo",
        Timestamp {
            millis: 1_700_000_000_123,
        },
    );
    assert_eq!(
        serde_json::to_value(&t).unwrap(),
        serde_json::json!({
            "tenantId": "7f3c2a9e-5b1d-4e8a-9c6f-2d4b8a1e3f70",
            "tenantName": "Acme Corp",
            "tenantSafeName": "acmecorp",
            "deploymentType": "silo",
            "cell": null,
            "status": "initiated",
            "created": "1700000000.123",
            "stackName": null,
            "stackId": null,
            "statusReason": null,
            "statusChangedAt": "1700000000.123",
            "version": null,
            "targetDeploymentType": null,
            "targetVersion": null,
            "endpoint": null,
            "identity": null,
            "adminEmail": null,
            "adminInviteError": null,
            "drift": null,
            "health": null
        })
    );
    // The name lock is internal: the JSON leaves it out, and the store keeps it.
    let back: Tenant = serde_json::from_value(serde_json::to_value(&t).unwrap()).unwrap();
    assert_eq!(
        t.name_lock.as_deref(),
        Some(name::lock_id("acme corp").as_str())
    );
    assert_eq!(
        back,
        Tenant {
            name_lock: None,
            ..t
        }
    );
}

mod properties {
    use proptest::prelude::*;

    use super::super::*;

    proptest! {
        #[test]
        fn no_event_sequence_leaves_deleted(events in proptest::collection::vec(
            prop::sample::select(vec![
                "CREATE_COMPLETE", "CREATE_FAILED", "ROLLBACK_COMPLETE", "UPDATE_IN_PROGRESS",
                "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "DELETE_IN_PROGRESS",
                "DELETE_COMPLETE", "DELETE_FAILED", "CREATE_IN_PROGRESS",
            ]),
            0..30,
        )) {
            let mut status = Status::Provisioning;
            for e in events {
                let before = status;
                if let EventOutcome::Move(t) = apply_stack_status(status, e) {
                    prop_assert!(before.can_move_to(t.status));
                    status = t.status;
                }
                prop_assert!(before != Status::Deleted || status == Status::Deleted);
            }
        }
    }
}
