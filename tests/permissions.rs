//! The control-plane template matches what the code really does:
//! - each function sets exactly the environment variables the Lambda host reads;
//! - each function's role allows every AWS call its handler makes (recorded by an SDK
//!   interceptor against the emulator), and nothing it never makes.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{Value, json};
use silos::functions::{Env, FUNCTIONS};
use silos::stacks::Config;
use silos::synth::{self, Format};

use common::env::env_with;
use common::recorder::Recorder;

fn template(name: &str) -> Value {
    let out = synth::synth(
        &common::app(),
        &Config::new("silos").unwrap(),
        std::path::Path::new("blueprints"),
        Format::Json,
    )
    .unwrap();
    let file = out.files.iter().find(|f| f.name == name).unwrap();
    serde_json::from_str(&file.contents).unwrap()
}

fn control_plane_template() -> Value {
    template("control-plane.json")
}

/// Function logical ID → its environment variables.
fn functions(template: &Value) -> BTreeMap<String, BTreeMap<String, Value>> {
    template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Lambda::Function")
        .map(|(id, r)| {
            let vars = r["Properties"]["Environment"]["Variables"]
                .as_object()
                .map(|m| m.clone().into_iter().collect())
                .unwrap_or_default();
            (id.clone(), vars)
        })
        .collect()
}

/// The actions a function's role allows, outside the ones the Lambda service itself uses on
/// the function's behalf (logs, the stream's reads, dead-letter sends).
fn granted(template: &Value, function: &str) -> BTreeSet<String> {
    let role = function.strip_suffix("Function").unwrap().to_owned() + "Role";
    let mut actions = BTreeSet::new();
    for policy in template["Resources"][&role]["Properties"]["Policies"]
        .as_array()
        .unwrap()
    {
        for st in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
            for a in st["Action"].as_array().unwrap() {
                let a = a.as_str().unwrap();
                let service_side = a.starts_with("logs:")
                    || a.starts_with("sqs:")
                    || matches!(
                        a,
                        "dynamodb:DescribeStream"
                            | "dynamodb:GetRecords"
                            | "dynamodb:GetShardIterator"
                            | "dynamodb:ListStreams"
                    );
                if !service_side {
                    actions.insert(a.to_owned());
                }
            }
        }
    }
    actions
}

#[test]
fn every_function_sets_exactly_the_variables_the_lambda_host_reads() {
    let template = control_plane_template();
    let functions = functions(&template);
    assert_eq!(
        functions.len(),
        FUNCTIONS.len(),
        "one function per declaration"
    );
    for (id, vars) in functions {
        let declared = FUNCTIONS
            .iter()
            .find(|d| d.function_id() == id)
            .unwrap_or_else(|| panic!("{id} is not declared in silos::functions"));
        let lookup = |k: &str| {
            // Lambda sets AWS_REGION itself; the template sets the rest (literals as written,
            // references as a stand-in value).
            match vars.get(k) {
                Some(Value::String(v)) => Some(v.clone()),
                Some(_) => Some("resolved-reference".to_owned()),
                None => (k == "AWS_REGION").then(|| "us-east-1".to_owned()),
            }
        };
        let mut read = BTreeSet::new();
        let (handler, settings) = silos::lambda::configure(lookup, &mut read)
            .unwrap_or_else(|e| panic!("{id} cannot start: {e}"));
        let set: BTreeSet<String> = vars.keys().cloned().collect();
        let unread: Vec<_> = set.difference(&read).collect();
        assert!(
            unread.is_empty(),
            "{id} sets variables nothing reads: {unread:?}"
        );
        assert_eq!(
            settings.provisioning_role_arn.is_some(),
            declared.env.contains(&Env::ProvisioningRole),
            "{id}: PROVISIONING_ROLE_ARN"
        );
        assert_eq!(handler, declared.handler, "{id}");
    }
}

#[test]
fn a_missing_variable_is_a_clear_startup_error() {
    let mut read = BTreeSet::new();
    let err = silos::lambda::configure(
        |k| (k == "SILOS_HANDLER").then(|| "api".to_owned()),
        &mut read,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "missing environment variable SILOS_PREFIX: the control-plane template sets it"
    );
    let err = silos::lambda::configure(|_| Some("nope".to_owned()), &mut read).unwrap_err();
    assert!(
        err.to_string().contains("SILOS_HANDLER is \"nope\""),
        "{err}"
    );
}

#[tokio::test]
async fn every_role_allows_exactly_the_calls_its_handler_makes() {
    let recorder = Recorder::default();
    let env = env_with(Some(recorder.clone())).await;
    let template = &env.control_plane_template;
    let mut called: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut record = |function: &'static str, r: &Recorder| {
        called.entry(function).or_default().extend(r.take());
    };
    recorder.take();

    // Every mutating route with an Idempotency-Key, which reads, claims and answers its record.
    let keyed = |path: &'static str, body: Value, key: &'static str| {
        let env = &env;
        async move {
            let (status, _, body) = env
                .call_as("POST", path, body.to_string(), Some(key), None)
                .await;
            (status, body)
        }
    };
    let (status, acme) = keyed(
        "/onboarding",
        json!({"tenantName": "Acme", "deploymentType": "silo"}),
        "k-onboarding",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{acme}");
    record("OnboardingFunction", &recorder);
    let id = acme["tenantId"].as_str().unwrap().to_owned();
    // Every tenant (a Scan), and by status (a Query of the status index).
    env.call("GET", "/tenants", Body::empty()).await;
    let (status, _) = env
        .call("GET", "/tenants?status=initiated&limit=5", Body::empty())
        .await;
    assert_eq!(status, StatusCode::OK);
    record("ListTenantsFunction", &recorder);
    env.tenant(&id).await;
    record("GetTenantFunction", &recorder);

    // Delivered twice, as the stream may: the second finds the tenant moved on and re-reads it.
    let insert = env.insert_record(&acme).await;
    env.cp.handle_stream(insert.clone()).await;
    env.cp.handle_stream(insert).await;
    record("ProvisionerFunction", &recorder);
    // The lifecycle event of the INSERT, on the stack's bus, twice: delivery is at least once.
    let insert = env.insert_record(&acme).await;
    recorder.take();
    for _ in 0..2 {
        let published = env.publisher.handle_stream(insert.clone()).await;
        assert!(published.batch_item_failures.is_empty(), "{published:?}");
    }
    record("EventPublisherFunction", &recorder);
    let stack_id = env.tenant(&id).await["stackId"]
        .as_str()
        .unwrap()
        .to_owned();
    recorder.take();

    env.stack_event("eventbridge-stack-create-failed.json", &stack_id)
        .await;
    record("StackEventsFunction", &recorder);
    let (status, body) = keyed("/retry", json!({"tenantId": id}), "k-retry").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    record("RetryFunction", &recorder);
    env.stack_event("eventbridge-stack-create-complete.json", &stack_id)
        .await;
    record("StackEventsFunction", &recorder);
    // A running tenant's event reads its stack's outputs.
    let running = env.modify_record(&id).await;
    recorder.take();
    let published = env.publisher.handle_stream(running).await;
    assert!(published.batch_item_failures.is_empty(), "{published:?}");
    record("EventPublisherFunction", &recorder);

    // An upgrade: the published versions, the update request, the provisioner's change set
    // from the MODIFY record, and the outcome event.
    let (status, body) = env.call("GET", "/deployment-types", Body::empty()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    record("DeploymentTypesFunction", &recorder);
    let memory = |mb: &'static str| {
        move |silo: &mut silos::synth::DeploymentType| {
            silo.blueprint
                .parameters
                .insert("MemorySize".to_owned(), mb.to_owned());
        }
    };
    env.publish("v2", memory("512")).await;
    let (status, body) = keyed("/update", json!({"tenantId": id}), "k-update").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    record("UpdateFunction", &recorder);
    env.cp.handle_stream(env.modify_record(&id).await).await;
    record("ProvisionerFunction", &recorder);
    env.stack_event("eventbridge-stack-update-complete.json", &stack_id)
        .await;
    record("StackEventsFunction", &recorder);
    assert_eq!(env.tenant(&id).await["status"], "running");
    recorder.take();

    let (status, body) = env
        .call("POST", "/tenant-info", json!({"tenantId": id}).to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    record("TenantInfoFunction", &recorder);
    let (status, body) = keyed("/delete", json!({"tenantId": id}), "k-delete").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    record("DeleteFunction", &recorder);
    env.stack_event("eventbridge-stack-delete-complete.json", &stack_id)
        .await;
    record("StackEventsFunction", &recorder);
    // A tenant with no stack is deleted by the delete route itself, freeing its name.
    let globex = env.onboard("Globex").await;
    recorder.take();
    env.call(
        "POST",
        "/delete",
        json!({"tenantId": globex["tenantId"]}).to_string(),
    )
    .await;
    record("DeleteFunction", &recorder);

    // The reconciler, over four stuck tenants: one cut off before CreateStack, one whose
    // completion event was lost, one whose delete event was lost, and one whose update
    // request never reached the provisioner.
    use silos::control_plane::store::Changes;
    use silos::control_plane::tenant::Status;
    let cut = env.onboard("Cut Off").await;
    let cut_id = cut["tenantId"].as_str().unwrap().to_owned();
    env.cp
        .store()
        .transition(
            &cut_id,
            Status::Initiated,
            Status::Provisioning,
            &Changes {
                stack_name: Some(format!("silos-tenant-{cut_id}")),
                new_attempt: true,
                ..Changes::default()
            },
        )
        .await
        .unwrap();
    let lost = env.onboard("Lost Create").await;
    env.cp.handle_stream(env.insert_record(&lost).await).await;
    let gone = env.onboard("Lost Delete").await;
    let gone_id = gone["tenantId"].as_str().unwrap().to_owned();
    env.cp.handle_stream(env.insert_record(&gone).await).await;
    let gone_stack = env.tenant(&gone_id).await["stackId"]
        .as_str()
        .unwrap()
        .to_owned();
    env.stack_event("eventbridge-stack-create-complete.json", &gone_stack)
        .await;
    env.call("POST", "/delete", json!({"tenantId": gone_id}).to_string())
        .await;
    let stale = env.onboard("Lost Update").await;
    let stale_id = stale["tenantId"].as_str().unwrap().to_owned();
    env.cp.handle_stream(env.insert_record(&stale).await).await;
    let stale_stack = env.tenant(&stale_id).await["stackId"]
        .as_str()
        .unwrap()
        .to_owned();
    env.stack_event("eventbridge-stack-create-complete.json", &stale_stack)
        .await;
    env.publish("v3", memory("256")).await;
    env.call("POST", "/update", json!({"tenantId": stale_id}).to_string())
        .await;
    recorder.take();
    let repairs = env.cp.reconcile(std::time::Duration::ZERO).await.unwrap();
    assert_eq!(repairs.len(), 4, "{repairs:?}");
    record("ReconcilerFunction", &recorder);
    assert_eq!(env.tenant(&gone_id).await["status"], "deleted");

    // Granted for paths this run does not take, each with the reason.
    let unreachable_here: BTreeMap<&str, &[&str]> = BTreeMap::from([
        // Retry deletes a ROLLBACK_COMPLETE stack first; the emulator never leaves one.
        ("RetryFunction", &["cloudformation:DeleteStack"][..]),
        // A record redelivered after a crash between CreateStack and recording the stack id
        // meets AlreadyExists, then reads the stack id with DescribeStacks.
        // DeleteChangeSet cleans up a change set CloudFormation computed with no changes; the
        // emulator refuses to create one instead.
        (
            "ProvisionerFunction",
            &[
                "cloudformation:DescribeStacks",
                "cloudformation:DeleteChangeSet",
            ][..],
        ),
        // A retried tenant cut off before CreateStack clears its dead stack first; this run's
        // tenant was cut off on its first attempt.
        (
            "ReconcilerFunction",
            &[
                "cloudformation:DeleteChangeSet",
                "cloudformation:DeleteStack",
            ][..],
        ),
    ]);
    for (function, calls) in &called {
        let granted = granted(template, function);
        let missing: Vec<_> = calls.difference(&granted).collect();
        assert!(
            missing.is_empty(),
            "{function} calls {missing:?} without permission"
        );
        let mut expected: BTreeSet<String> = calls.clone();
        for a in unreachable_here.get(function).copied().unwrap_or_default() {
            expected.insert((*a).to_owned());
        }
        let unused: Vec<_> = granted.difference(&expected).collect();
        assert!(
            unused.is_empty(),
            "{function} is granted {unused:?}, which it never calls"
        );
    }
    assert_eq!(
        called.len(),
        FUNCTIONS.len(),
        "every function was exercised: {:?}",
        called.keys()
    );
}

#[test]
fn the_tenant_function_sets_exactly_the_variables_it_reads() {
    let template = template("tenant-silo.json");
    let functions = functions(&template);
    let vars = &functions["TenantFunction"];
    let mut read = BTreeSet::new();
    silos::tenant_function::Settings::configure(
        |k| vars.get(k).map(|_| "resolved-reference".to_owned()),
        &mut read,
    )
    .unwrap();
    let set: BTreeSet<String> = vars.keys().cloned().collect();
    assert_eq!(set, read);
}

#[tokio::test]
async fn the_tenant_role_allows_exactly_the_calls_the_tenant_function_makes() {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    use tower::ServiceExt;
    let moto = common::Moto::start();
    let config = moto.sdk_config();
    let plain = aws_sdk_dynamodb::Client::new(&config);
    let mut request = plain.create_table().table_name("tenant");
    for (name, kind) in [("pk", KeyType::Hash), ("sk", KeyType::Range)] {
        request = request
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(kind)
                    .build()
                    .unwrap(),
            );
    }
    request
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let recorder = Recorder::default();
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .interceptor(recorder.clone())
            .build(),
    );
    let router = silos::tenant_function::router(
        client,
        silos::tenant_function::Settings {
            table: "tenant".to_owned(),
            tenant_id: "t-1".to_owned(),
            tenant_name: "Acme".to_owned(),
        },
    );
    for (method, path, body) in [
        ("GET", "/", ""),
        ("PUT", "/items/a", "1"),
        ("GET", "/items/a", ""),
        ("GET", "/items", ""),
        ("DELETE", "/items/a", ""),
    ] {
        let response = router
            .clone()
            .oneshot(
                axum::http::Request::builder()
                    .method(method)
                    .uri(path)
                    .body(Body::from(body.to_owned()))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{method} {path}: {}",
            response.status()
        );
    }
    let called: BTreeSet<String> = recorder.take().into_iter().collect();
    assert_eq!(
        called,
        granted(&template("tenant-silo.json"), "TenantFunction")
    );
}
