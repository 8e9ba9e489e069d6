//! Tenant stack updates end to end against the serialized moto emulator: `POST /update`, the
//! provisioner carrying it out from the MODIFY stream record with a real change set, and the
//! outcome settled by stack status events of the real shape (tests/fixtures). Outcomes the
//! emulator cannot produce (a rolled-back update) come from the fixtures.

mod common;

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{Value, json};
use silos::control_plane::stack_events::Handled;
use silos::control_plane::tenant::Status;
use silos::synth::DeploymentType;

use common::env::{Env, env, error_code};

async fn update(env: &Env, body: Value) -> (StatusCode, Value) {
    env.call("POST", "/update", body.to_string()).await
}

/// The tenant function's memory, as the emulator's stack parameters have it.
async fn memory_parameter(env: &Env, stack_id: &str) -> String {
    common::stack_parameter(&env.cfn, stack_id, "MemorySize").await
}

/// The names of the stack's change sets.
async fn change_sets(env: &Env, stack_id: &str) -> Vec<String> {
    let out = env
        .cfn
        .list_change_sets()
        .stack_name(stack_id)
        .send()
        .await
        .unwrap();
    out.summaries()
        .iter()
        .filter_map(|c| c.change_set_name().map(str::to_owned))
        .collect()
}

fn set_memory(mb: &'static str) -> impl FnOnce(&mut DeploymentType) {
    move |silo| {
        silo.blueprint
            .parameters
            .insert("MemorySize".to_owned(), mb.to_owned());
    }
}

#[tokio::test]
async fn an_update_goes_through_a_change_set_to_running_at_the_new_version() {
    let env = env().await;
    let (id, stack_id) = env.running("Acme Corp").await;
    let v1 = env.catalog.deployment_types["silo"]
        .version
        .clone()
        .unwrap();
    assert_eq!(env.tenant(&id).await["version"], v1.as_str());
    assert_eq!(memory_parameter(&env, &stack_id).await, "128");

    // At the published version: nothing to do, and it says so with a 200.
    let (status, body) = update(&env, json!({"tenantId": id})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "running");

    let v2 = env.publish("v2", set_memory("512")).await;
    assert_ne!(v1, v2);
    let (status, types) = env.call("GET", "/deployment-types", Body::empty()).await;
    assert_eq!(status, StatusCode::OK, "{types}");
    assert_eq!(types[0]["deploymentType"], "silo");
    assert_eq!(types[0]["version"], v2.as_str());

    // A plan made for another version is refused, and nothing is written.
    let before = env.tenant(&id).await;
    let (status, body) = update(&env, json!({"tenantId": id, "version": v1})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(error_code(&body), "VersionMismatch");
    assert_eq!(env.tenant(&id).await, before);

    let (status, body) = update(&env, json!({"tenantId": id, "version": v2})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "updating");
    assert_eq!(body["targetVersion"], v2.as_str());
    assert_eq!(body["version"], v1.as_str());
    // One update at a time, and no delete until it settles.
    let (status, body) = update(&env, json!({"tenantId": id})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(error_code(&body), "WrongStatus");
    let (status, body) = env
        .call("POST", "/delete", json!({"tenantId": id}).to_string())
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("an update must settle first"),
        "{body}"
    );
    assert_eq!(env.tenant(&id).await["status"], "updating");

    // A settled status that predates this update (its change set is not executed yet) is
    // not taken for its outcome.
    let stale = env
        .stack_event("eventbridge-stack-update-complete.json", &stack_id)
        .await;
    assert!(
        matches!(
            stale,
            Handled::Ignored {
                from: Status::Updating,
                ..
            }
        ),
        "{stale:?}"
    );
    assert_eq!(env.tenant(&id).await["status"], "updating");

    // The provisioner carries it out from the MODIFY record; a redelivery changes nothing.
    let record = env.modify_record(&id).await;
    assert!(
        env.cp
            .handle_stream(record.clone())
            .await
            .batch_item_failures
            .is_empty()
    );
    assert_eq!(memory_parameter(&env, &stack_id).await, "512");
    assert_eq!(
        change_sets(&env, &stack_id).await,
        vec![format!("silos-update-{}-{id}-2", &v2[..12])]
    );
    assert!(
        env.cp
            .handle_stream(record)
            .await
            .batch_item_failures
            .is_empty()
    );

    assert_eq!(
        env.stack_event("eventbridge-stack-update-in-progress.json", &stack_id)
            .await,
        Handled::AlreadyThere(id.clone())
    );
    assert_eq!(
        env.stack_event("eventbridge-stack-update-complete.json", &stack_id)
            .await,
        Handled::Moved {
            tenant: id.clone(),
            from: Status::Updating,
            to: Status::Running
        }
    );
    let after = env.tenant(&id).await;
    assert_eq!(after["status"], "running", "{after}");
    assert_eq!(after["version"], v2.as_str());
    assert_eq!(after["targetVersion"], Value::Null);
    assert_eq!(after["statusReason"], Value::Null);
}

#[tokio::test]
async fn a_rolled_back_update_stays_at_the_old_version_with_the_reason() {
    let env = env().await;
    let (id, stack_id) = env.running("Acme Corp").await;
    let v1 = env.tenant(&id).await["version"]
        .as_str()
        .unwrap()
        .to_owned();
    let v2 = env.publish("v2", set_memory("1024")).await;
    let (status, body) = update(&env, json!({"tenantId": id})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    env.cp.handle_stream(env.modify_record(&id).await).await;
    env.stack_event("eventbridge-stack-update-in-progress.json", &stack_id)
        .await;
    assert_eq!(
        env.stack_event("eventbridge-stack-update-rollback-complete.json", &stack_id)
            .await,
        Handled::Moved {
            tenant: id.clone(),
            from: Status::Updating,
            to: Status::Running
        }
    );
    let after = env.tenant(&id).await;
    assert_eq!(after["version"], v1.as_str(), "{after}");
    assert_eq!(after["targetVersion"], Value::Null);
    assert_eq!(
        after["statusReason"],
        format!(
            "update to {} failed: UPDATE_ROLLBACK_COMPLETE: The following resource(s) failed to update: [TenantFunction]. ",
            &v2[..12]
        )
    );

    // Tried again and this time its rollback fails too: the tenant is `failed`. (The
    // emulator carried the first change set out, whatever the fixture said: a new version
    // makes the retry a change again.)
    env.publish("v3", set_memory("2048")).await;
    let (status, body) = update(&env, json!({"tenantId": id})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    env.cp.handle_stream(env.modify_record(&id).await).await;
    let mut event = common::env::fixture("eventbridge-stack-update-rollback-complete.json");
    event["detail"]["status-details"]["status"] = json!("UPDATE_ROLLBACK_FAILED");
    event["detail"]["stack-id"] = json!(stack_id);
    let event = serde_json::from_value(event).unwrap();
    env.cp.handle_stack_event(&event).await.unwrap();
    let after = env.tenant(&id).await;
    assert_eq!(after["status"], "failed", "{after}");
    assert_eq!(after["version"], v1.as_str());
    assert!(
        after["statusReason"]
            .as_str()
            .unwrap()
            .contains("UPDATE_ROLLBACK_FAILED"),
        "{after}"
    );
}

#[tokio::test]
async fn an_update_that_cannot_start_returns_the_tenant_to_running_with_the_reason() {
    let env = env().await;
    let (id, stack_id) = env.running("Acme Corp").await;
    let v1 = env.tenant(&id).await["version"]
        .as_str()
        .unwrap()
        .to_owned();
    // A catalog whose template object is missing: CreateChangeSet fails.
    let v2 = env
        .publish("broken", |silo| {
            silo.template_key = "templates/tenant-silo/missing.json".to_owned()
        })
        .await;
    let (status, body) = update(&env, json!({"tenantId": id})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    env.cp.handle_stream(env.modify_record(&id).await).await;
    let after = env.tenant(&id).await;
    assert_eq!(after["status"], "running", "{after}");
    assert_eq!(after["version"], v1.as_str());
    assert_eq!(after["targetVersion"], Value::Null);
    let reason = after["statusReason"].as_str().unwrap();
    assert!(
        reason.starts_with(&format!(
            "update to {} failed: CloudFormation CreateChangeSet failed",
            &v2[..12]
        )),
        "{reason}"
    );
    assert_eq!(memory_parameter(&env, &stack_id).await, "128");
}

#[tokio::test]
async fn a_version_with_no_stack_changes_is_just_recorded() {
    let env = env().await;
    let (id, stack_id) = env.running("Acme Corp").await;
    // A new blueprint description: a new version, and nothing in the stack to change.
    let v2 = env
        .publish("described", |silo| {
            silo.blueprint.description = "Same stack, new words.".to_owned()
        })
        .await;
    let (status, body) = update(&env, json!({"tenantId": id})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    env.cp.handle_stream(env.modify_record(&id).await).await;
    let after = env.tenant(&id).await;
    assert_eq!(after["status"], "running", "{after}");
    assert_eq!(after["version"], v2.as_str());
    assert_eq!(after["statusReason"], Value::Null);
    assert_eq!(change_sets(&env, &stack_id).await, Vec::<String>::new());
}

#[tokio::test]
async fn the_reconciler_carries_out_an_update_whose_stream_record_was_lost() {
    let env = env().await;
    let (id, stack_id) = env.running("Acme Corp").await;
    let v2 = env.publish("v2", set_memory("256")).await;
    let (status, body) = update(&env, json!({"tenantId": id})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    // The MODIFY record never reaches the provisioner. The first pass executes the update;
    // the second applies the stack's status, as its lost event would have.
    let repairs = env.cp.reconcile(std::time::Duration::ZERO).await.unwrap();
    assert_eq!(repairs.len(), 1, "{repairs:?}");
    assert_eq!(memory_parameter(&env, &stack_id).await, "256");
    assert_eq!(env.tenant(&id).await["status"], "updating");
    let repairs = env.cp.reconcile(std::time::Duration::ZERO).await.unwrap();
    assert_eq!(repairs.len(), 1, "{repairs:?}");
    let after = env.tenant(&id).await;
    assert_eq!(after["status"], "running", "{after}");
    assert_eq!(after["version"], v2.as_str());
}

/// CloudFormation removes a stack's change sets once one is executed (the emulator keeps
/// them: the test removes it, as AWS would). A redelivered record, or the reconciler after
/// the outcome's event was lost, then finds the recorded change set gone: the stack's update
/// since the request says it was carried out, so the update is not abandoned, and the
/// reconciler settles it from the stack's status.
#[tokio::test]
async fn an_executed_update_whose_change_set_aws_removed_is_not_abandoned() {
    let env = env().await;
    let (id, stack_id) = env.running("Acme Corp").await;
    let v2 = env.publish("v2", set_memory("256")).await;
    let (status, body) = update(&env, json!({"tenantId": id})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let record = env.modify_record(&id).await;
    env.cp.handle_stream(record.clone()).await;
    assert_eq!(memory_parameter(&env, &stack_id).await, "256");
    let staged = env.tenant(&id).await;
    assert_eq!(staged["status"], "updating", "{staged}");
    for name in change_sets(&env, &stack_id).await {
        env.cfn
            .delete_change_set()
            .stack_name(&stack_id)
            .change_set_name(name)
            .send()
            .await
            .unwrap();
    }
    // The redelivered record: still updating, no reason.
    assert!(
        env.cp
            .handle_stream(record)
            .await
            .batch_item_failures
            .is_empty()
    );
    let after = env.tenant(&id).await;
    assert_eq!(after["status"], "updating", "{after}");
    assert_eq!(after["statusReason"], Value::Null);
    // The outcome's event is lost; the reconciler applies the stack's status.
    let repairs = env.cp.reconcile(std::time::Duration::ZERO).await.unwrap();
    assert_eq!(repairs.len(), 1, "{repairs:?}");
    let after = env.tenant(&id).await;
    assert_eq!(after["status"], "running", "{after}");
    assert_eq!(after["version"], v2.as_str());
    assert_eq!(after["statusReason"], Value::Null);
}
