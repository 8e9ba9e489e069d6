//! Tier moves end to end against the serialized moto emulator: `POST /move-plan`, `POST
//! /update` with a `deploymentType`, the provisioner's change set for the target type's
//! blueprint, and the outcome settled by stack status events of the real shape. The refusals
//! (data loss, a cell that does not take the type, an outdated tenant) write nothing.

mod common;

use axum::http::StatusCode;
use serde_json::{Value, json};
use silos::blueprint::cells::Cell;
use silos::control_plane::stack_events::Handled;
use silos::control_plane::tenant::Status;
use silos::synth::Catalog;

use common::env::{Env, env, error_code};

async fn post(env: &Env, path: &str, body: Value) -> (StatusCode, Value) {
    env.call("POST", path, body.to_string()).await
}

/// Adds deployment type `name`: the silo's blueprint with another memory size.
fn add_type(catalog: &mut Catalog, name: &str, memory: &str) {
    let mut entry = catalog.deployment_types["silo"].clone();
    entry.blueprint.deployment_type = name.to_owned();
    entry
        .blueprint
        .parameters
        .insert("MemorySize".to_owned(), memory.to_owned());
    catalog.deployment_types.insert(name.to_owned(), entry);
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_move_goes_through_its_plan_and_a_change_set_and_a_rollback_keeps_the_old_tier() {
    let env = env().await;
    let (id, stack_id) = env.running("Acme Corp").await;
    let catalog = env
        .publish_catalog("tiers", |c| add_type(c, "large", "512"))
        .await;
    let large = catalog.deployment_types["large"].version.clone().unwrap();
    let silo = catalog.deployment_types["silo"].version.clone().unwrap();
    assert_ne!(large, silo);

    // The plan: memory is not create-only, so nothing is added, removed or replaced.
    let (status, plan) = post(
        &env,
        "/move-plan",
        json!({"tenantId": id, "deploymentType": "large"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(plan["from"], "silo");
    assert_eq!(plan["to"], "large");
    assert_eq!(plan["version"], large.as_str());
    assert_eq!(plan["changes"], json!([]));
    // To its own type, or to none: refused with the reason.
    let (status, body) = post(
        &env,
        "/move-plan",
        json!({"tenantId": id, "deploymentType": "silo"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(error_code(&body), "MoveRefused");
    assert!(
        message(&body).contains("deployment type silo already"),
        "{body}"
    );
    let (status, body) = post(
        &env,
        "/move-plan",
        json!({"tenantId": id, "deploymentType": "gold"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_code(&body), "UnknownDeploymentType");

    // The move: `updating`, still of its old type until the stack says otherwise.
    let (status, body) = post(
        &env,
        "/update",
        json!({"tenantId": id, "deploymentType": "large"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "updating");
    assert_eq!(body["deploymentType"], "silo");
    assert_eq!(body["targetDeploymentType"], "large");
    assert_eq!(body["targetVersion"], large.as_str());
    assert!(
        env.cp
            .handle_stream(env.modify_record(&id).await)
            .await
            .batch_item_failures
            .is_empty()
    );
    // The change set carried the target type's blueprint.
    assert_eq!(
        common::stack_parameter(&env.cfn, &stack_id, "MemorySize").await,
        "512"
    );
    // And its tags: the cost allocation tag says the new tier.
    let stacks = env
        .cfn
        .describe_stacks()
        .stack_name(&stack_id)
        .send()
        .await
        .unwrap();
    let tier = stacks.stacks()[0]
        .tags()
        .iter()
        .find(|t| t.key() == Some("silos:tier"))
        .and_then(|t| t.value().map(str::to_owned));
    assert_eq!(tier.as_deref(), Some("large"));
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
    assert_eq!(after["deploymentType"], "large");
    assert_eq!(after["version"], large.as_str());
    assert_eq!(after["targetDeploymentType"], Value::Null);
    assert_eq!(after["targetVersion"], Value::Null);

    // Back to silo, and the stack rolls back: running on `large`, with the reason.
    let (status, body) = post(
        &env,
        "/update",
        json!({"tenantId": id, "deploymentType": "silo"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    env.cp.handle_stream(env.modify_record(&id).await).await;
    let staged = env.tenant(&id).await;
    assert_eq!(staged["status"], "updating", "{staged}");
    env.stack_event("eventbridge-stack-update-in-progress.json", &stack_id)
        .await;
    env.stack_event("eventbridge-stack-update-rollback-complete.json", &stack_id)
        .await;
    let after = env.tenant(&id).await;
    assert_eq!(after["status"], "running", "{after}");
    assert_eq!(after["deploymentType"], "large");
    assert_eq!(after["version"], large.as_str());
    assert_eq!(after["targetDeploymentType"], Value::Null);
    let reason = after["statusReason"].as_str().unwrap();
    assert!(
        reason.starts_with(&format!(
            "move to silo ({}) failed: UPDATE_ROLLBACK_COMPLETE",
            &silo[..12]
        )),
        "{reason}"
    );
}

#[tokio::test]
async fn a_refused_move_writes_nothing_and_says_why() {
    let env = env().await;
    let (id, _) = env.running("Acme Corp").await;
    // `lean`: a blueprint whose stack has no table (its summary lacks the silo's).
    env.publish_catalog("lean", |c| {
        add_type(c, "lean", "128");
        let lean = c.deployment_types.get_mut("lean").unwrap();
        assert!(
            lean.resources.remove("TenantTable").is_some(),
            "the silo's table is TenantTable"
        );
    })
    .await;
    let before = env.tenant(&id).await;
    let (status, plan) = post(
        &env,
        "/move-plan",
        json!({"tenantId": id, "deploymentType": "lean"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(
        plan["changes"],
        json!([{"logicalId": "TenantTable", "type": "AWS::DynamoDB::Table", "action": "remove", "losesData": true, "retained": true}])
    );
    let (status, body) = post(
        &env,
        "/update",
        json!({"tenantId": id, "deploymentType": "lean"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(error_code(&body), "DataLoss");
    assert!(
        message(&body).contains("TenantTable (AWS::DynamoDB::Table) removed"),
        "{body}"
    );
    assert_eq!(env.tenant(&id).await, before, "nothing was written");
    // Told to, it moves.
    let (status, body) = post(
        &env,
        "/update",
        json!({"tenantId": id, "deploymentType": "lean", "allowDataLoss": true}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["targetDeploymentType"], "lean");
    // Not running: no plan.
    let (status, body) = post(
        &env,
        "/move-plan",
        json!({"tenantId": id, "deploymentType": "lean"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(error_code(&body), "WrongStatus");

    // A cell that does not take the type.
    let env = common::env::env().await;
    let (id, _) = env.running("Globex").await;
    env.publish_catalog("cells", |c| {
        add_type(c, "large", "512");
        c.cells = vec![Cell {
            deployment_types: Some(vec!["silo".to_owned()]),
            ..Cell::home()
        }];
    })
    .await;
    let before = env.tenant(&id).await;
    let (status, body) = post(
        &env,
        "/update",
        json!({"tenantId": id, "deploymentType": "large"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(error_code(&body), "MoveRefused");
    assert!(
        message(&body).contains("its cell home takes no deployment type large (it takes silo)"),
        "{body}"
    );
    assert_eq!(env.tenant(&id).await, before);

    // A tenant behind its type's published version moves once it is upgraded.
    env.publish_catalog("v2", |c| {
        add_type(c, "large", "512");
        c.deployment_types
            .get_mut("silo")
            .unwrap()
            .blueprint
            .parameters
            .insert("MemorySize".to_owned(), "256".to_owned());
    })
    .await;
    let (status, body) = post(
        &env,
        "/update",
        json!({"tenantId": id, "deploymentType": "large"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(message(&body).contains("upgrade it first"), "{body}");
    assert_eq!(env.tenant(&id).await, before);
}
