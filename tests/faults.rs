//! The control plane under injected AWS faults: each lost answer, each server error and each
//! throttle it must survive, one at a time through the project's fault proxy
//! (tests/common/faults.rs) between the control plane's clients and the emulator; then local
//! mode as a user runs it, onboarding, offboarding, retrying and updating through a quarter
//! of all AWS requests failing, until every tenant settles.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{Value, json};
use silos::cli::client::{ApiClient, Signing};
use silos::control_plane::reconciler::Repair;
use silos::control_plane::store::Changes;
use silos::control_plane::tenant::Status;

use common::env::{Env, env_with_faults};
use common::faults::{Fault, FaultProxy, seed};

fn proxy(env: &Env) -> &FaultProxy {
    env.faults.as_ref().expect("an env with faults")
}

/// The stack's status as the emulator has it (the test's own client, not the proxy's).
async fn stack_status(env: &Env, stack_id: &str) -> String {
    let out = env
        .cfn
        .describe_stacks()
        .stack_name(stack_id)
        .send()
        .await
        .unwrap();
    out.stacks()[0]
        .stack_status()
        .map(|s| s.as_str().to_owned())
        .unwrap()
}

fn delete_body(id: &str) -> String {
    json!({ "tenantId": id }).to_string()
}

#[tokio::test]
async fn a_delete_whose_status_write_lost_its_answer_still_deletes_the_stack() {
    let env = env_with_faults(seed(1)).await;
    let (id, stack_id) = env.running("Lost Delete").await;
    // running -> deleting is applied, its answer lost; the SDK's retry meets its own write.
    proxy(&env).inject("UpdateItem", Fault::LoseResponse, 1);
    let (status, body) = env.call("POST", "/delete", delete_body(&id)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "deleting");
    assert_eq!(proxy(&env).pending("UpdateItem"), 0, "the fault was met");
    assert_eq!(stack_status(&env, &stack_id).await, "DELETE_COMPLETE");
}

#[tokio::test]
async fn a_keyed_delete_whose_transaction_lost_its_answer_still_deletes_the_stack() {
    let env = env_with_faults(seed(2)).await;
    let (id, stack_id) = env.running("Lost Keyed Delete").await;
    // The status write and the key's claim, one transaction: applied, answer lost.
    proxy(&env).inject("TransactWriteItems", Fault::LoseResponse, 1);
    let (status, headers, body) = env
        .call_as("POST", "/delete", delete_body(&id), Some("k1"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(
        !headers.contains_key("idempotent-replayed"),
        "answered by the request itself, not as a replay"
    );
    assert_eq!(proxy(&env).pending("TransactWriteItems"), 0);
    assert_eq!(stack_status(&env, &stack_id).await, "DELETE_COMPLETE");
    // Its answer was recorded: a repeat replays it, and does nothing more.
    let (status, headers, again) = env
        .call_as("POST", "/delete", delete_body(&id), Some("k1"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(again, body);
}

#[tokio::test]
async fn a_repeat_of_a_delete_that_cloudformation_throttled_deletes_the_stack() {
    let env = env_with_faults(seed(3)).await;
    let (id, stack_id) = env.running("Throttled Delete").await;
    // Every attempt the SDK makes is throttled: the request fails after its write.
    proxy(&env).inject(
        "DeleteStack",
        Fault::Throttle,
        silos::aws::MAX_ATTEMPTS as usize,
    );
    let (status, _, body) = env
        .call_as("POST", "/delete", delete_body(&id), Some("k2"), None)
        .await;
    assert!(status.is_server_error(), "{status} {body}");
    let t = env.tenant(&id).await;
    assert_eq!(t["status"], "deleting", "left to finish, not failed: {t}");
    assert_eq!(stack_status(&env, &stack_id).await, "CREATE_COMPLETE");
    // The client's retry under the same key finishes the work.
    let (status, headers, body) = env
        .call_as("POST", "/delete", delete_body(&id), Some("k2"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(stack_status(&env, &stack_id).await, "DELETE_COMPLETE");
}

#[tokio::test]
async fn the_reconciler_deletes_the_stack_of_a_tenant_left_deleting() {
    let env = env_with_faults(seed(4)).await;
    let (id, stack_id) = env.running("Left Deleting").await;
    // Offboarding moved it, then stopped before DeleteStack (or DeleteStack never arrived).
    env.cp
        .store()
        .transition(&id, Status::Running, Status::Deleting, &Changes::default())
        .await
        .unwrap();
    let repairs = env.cp.reconcile(Duration::ZERO).await.unwrap();
    assert_eq!(
        repairs,
        vec![Repair::Resumed {
            tenant: id.clone(),
            status: Status::Deleting
        }]
    );
    assert_eq!(stack_status(&env, &stack_id).await, "DELETE_COMPLETE");
    // The next pass applies the stack's end, as its event would have.
    env.cp.reconcile(Duration::ZERO).await.unwrap();
    assert_eq!(env.tenant(&id).await["status"], "deleted");
}

/// A tenant whose first CreateStack was refused: `failed`, with no stack.
async fn failed(env: &Env, name: &str) -> String {
    let tenant = env.onboard(name).await;
    let id = tenant["tenantId"].as_str().unwrap().to_owned();
    proxy(env).inject("CreateStack", Fault::Refuse, 1);
    env.cp.handle_stream(env.insert_record(&tenant).await).await;
    let t = env.tenant(&id).await;
    assert_eq!(t["status"], "failed", "{t}");
    id
}

#[tokio::test]
async fn a_keyed_retry_whose_transaction_lost_its_answer_still_creates_the_stack() {
    let env = env_with_faults(seed(5)).await;
    let id = failed(&env, "Lost Retry").await;
    proxy(&env).inject("TransactWriteItems", Fault::LoseResponse, 1);
    let (status, _, body) = env
        .call_as("POST", "/retry", delete_body(&id), Some("r1"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(proxy(&env).pending("TransactWriteItems"), 0);
    assert!(body["stackId"].is_string(), "{body}");
    assert_eq!(
        env.stacks_named(&format!("silos-tenant-{id}")).await,
        1,
        "one stack"
    );
}

#[tokio::test]
async fn a_repeat_of_a_retry_that_cloudformation_throttled_creates_the_stack() {
    let env = env_with_faults(seed(6)).await;
    let id = failed(&env, "Throttled Retry").await;
    proxy(&env).inject(
        "CreateStack",
        Fault::Throttle,
        silos::aws::MAX_ATTEMPTS as usize,
    );
    let (status, _, body) = env
        .call_as("POST", "/retry", delete_body(&id), Some("r2"), None)
        .await;
    assert!(status.is_server_error(), "{status} {body}");
    let t = env.tenant(&id).await;
    assert_eq!(t["status"], "provisioning", "{t}");
    assert!(t["stackId"].is_null(), "{t}");
    let (status, headers, body) = env
        .call_as("POST", "/retry", delete_body(&id), Some("r2"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(headers["idempotent-replayed"], "true");
    assert!(body["stackId"].is_string(), "{body}");
    assert_eq!(env.stacks_named(&format!("silos-tenant-{id}")).await, 1);
}

#[tokio::test]
async fn an_onboarding_whose_transaction_lost_its_answer_makes_one_tenant() {
    let env = env_with_faults(seed(7)).await;
    for key in [None, Some("o1")] {
        let name = format!("Lost Onboarding {}", key.unwrap_or("unkeyed"));
        proxy(&env).inject("TransactWriteItems", Fault::LoseResponse, 1);
        let (status, _, body) = env
            .call_as(
                "POST",
                "/onboarding",
                json!({"tenantName": name, "deploymentType": "silo"}).to_string(),
                key,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{key:?}: {body}");
        assert_eq!(body["tenantName"], name.as_str());
    }
    let (_, listed) = env.call("GET", "/tenants", "").await;
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
}

#[tokio::test]
async fn an_update_whose_answers_were_lost_reaches_the_new_version() {
    let env = env_with_faults(seed(8)).await;
    let (id, stack_id) = env.running("Lost Update").await;
    let v2 = env
        .publish("v2", |silo| {
            silo.blueprint
                .parameters
                .insert("MemorySize".to_owned(), "256".to_owned());
        })
        .await;
    proxy(&env).inject("UpdateItem", Fault::LoseResponse, 1);
    let (status, body) = env
        .call(
            "POST",
            "/update",
            json!({"tenantId": id, "version": v2}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    // The provisioner carries it out, every answer of the change set's calls lost once.
    for op in [
        "CreateChangeSet",
        "DescribeChangeSet",
        "ExecuteChangeSet",
        "UpdateItem",
    ] {
        proxy(&env).inject(op, Fault::LoseResponse, 1);
    }
    let response = env.cp.handle_stream(env.modify_record(&id).await).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let t = env.tenant(&id).await;
    assert_eq!(t["status"], "updating", "{t}");
    let stored = env.cp.store().get(&id).await.unwrap().unwrap();
    assert!(
        stored.change_set.is_some(),
        "the change set is recorded: {stored:?}"
    );
    for op in ["CreateChangeSet", "ExecuteChangeSet", "UpdateItem"] {
        assert_eq!(proxy(&env).pending(op), 0, "{op}'s answer was lost once");
    }
    assert_eq!(stack_status(&env, &stack_id).await, "UPDATE_COMPLETE");
    env.stack_event("eventbridge-stack-update-complete.json", &stack_id)
        .await;
    let t = env.tenant(&id).await;
    assert_eq!(t["status"], "running", "{t}");
    assert_eq!(t["version"], v2.as_str(), "{t}");
}

// ---------------------------------------------------------------------------------------
// Local mode as a user runs it, through a quarter of all AWS requests failing.

/// The project's blueprints, with the silo tenant function's memory set to `mb`.
fn blueprints(mb: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("blueprints");
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let changed = text.replace("MemorySize: \"128\"", &format!("MemorySize: \"{mb}\""));
        std::fs::write(dir.path().join(path.file_name().unwrap()), changed).unwrap();
    }
    dir
}

fn client(url: &str) -> Arc<ApiClient> {
    let signing = Signing {
        credentials: aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "test",
        ),
        region: "us-east-1".to_owned(),
    };
    Arc::new(ApiClient::new(url, Some(signing)).unwrap())
}

/// Runs `requests` (path, body) 8 at a time with the CLI's once-only POST (one
/// Idempotency-Key per request, retried on 5xx and transport errors); every answer must be a
/// success.
async fn post_all(api: &Arc<ApiClient>, requests: Vec<(&'static str, Value)>) -> Vec<Value> {
    let mut answers = Vec::new();
    for chunk in requests.chunks(8) {
        let mut calls = tokio::task::JoinSet::new();
        for (path, body) in chunk.iter().cloned() {
            let api = api.clone();
            calls.spawn(async move {
                api.post_once(path, body.clone())
                    .await
                    .unwrap_or_else(|e| panic!("{path} {body}: {e}"))
            });
        }
        while let Some(answer) = calls.join_next().await {
            answers.push(answer.expect("a request task"));
        }
    }
    answers
}

/// Every tenant, as the API lists it; None when the request failed (a fault before the API).
async fn tenants(api: &ApiClient) -> Option<BTreeMap<String, Value>> {
    let listed = api.get("/tenants").await.ok()?;
    Some(
        listed
            .as_array()?
            .iter()
            .map(|t| (t["tenantId"].as_str().unwrap().to_owned(), t.clone()))
            .collect(),
    )
}

/// Waits until `done` holds for the listing, or panics after `limit` with the listing.
async fn settle(
    api: &ApiClient,
    limit: Duration,
    what: &str,
    done: impl Fn(&BTreeMap<String, Value>) -> bool,
) -> BTreeMap<String, Value> {
    let deadline = Instant::now() + limit;
    let mut last = BTreeMap::new();
    loop {
        if let Some(now) = tenants(api).await {
            if !now.is_empty() && done(&now) {
                return now;
            }
            last = now;
        }
        if Instant::now() > deadline {
            let statuses: Vec<String> = last
                .values()
                .map(|t| format!("{} {} {}", t["tenantId"], t["status"], t["statusReason"]))
                .collect();
            panic!("{what}: not settled within {limit:?}: {statuses:#?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Each stack named after a tenant, with its status, as the emulator holds them (deleted ones
/// included), by tenant id.
async fn stacks(cfn: &aws_sdk_cloudformation::Client) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut pages = cfn.list_stacks().into_paginator().items().send();
    while let Some(s) = pages.next().await {
        let s = s.unwrap();
        let name = s.stack_name().unwrap_or_default();
        if let Some(id) = name.strip_prefix("silos-tenant-") {
            out.entry(id.to_owned())
                .or_default()
                .push(s.stack_status().unwrap().as_str().to_owned());
        }
    }
    out
}

const TENANTS: usize = 16;
const REFUSED: usize = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_quarter_of_aws_requests_failing_every_tenant_settles_with_one_stack() {
    let seed = seed(2026);
    let moto = common::Moto::start();
    let aws = FaultProxy::start(&moto.endpoint, seed);
    let local = common::local::Local::start_at(Some(&aws.endpoint));
    // Between the client and the API too: lost answers and server errors the CLI retries.
    let front = FaultProxy::start(&local.api_url, seed ^ 0x5eed);
    let api = client(&front.endpoint);
    front.set_kinds(&[Fault::ServerError, Fault::Delay, Fault::LoseResponse]);

    // 1. Onboarding, faults on. Two CreateStacks are refused outright: those tenants fail.
    aws.set_rate(0.25);
    front.set_rate(0.15);
    aws.inject("CreateStack", Fault::Refuse, REFUSED);
    let onboarded = post_all(
        &api,
        (0..TENANTS)
            .map(|i| {
                (
                    "/onboarding",
                    json!({"tenantName": format!("Faulty {i}"), "deploymentType": "silo"}),
                )
            })
            .collect(),
    )
    .await;
    let ids: BTreeSet<String> = onboarded
        .iter()
        .map(|t| t["tenantId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), TENANTS, "one tenant per onboarding");
    let settled = settle(&api, Duration::from_secs(120), "onboarding", |all| {
        all.values()
            .all(|t| t["status"] == "running" || t["status"] == "failed")
    })
    .await;
    assert_eq!(settled.len(), TENANTS, "no tenant made twice: {settled:?}");
    let failed: Vec<String> = settled
        .values()
        .filter(|t| t["status"] == "failed")
        .map(|t| t["tenantId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(failed.len(), REFUSED, "the refused ones alone: {settled:?}");

    // 2. A new version published: local mode restarted with the tenant function at 512 MB,
    //    as `silos deploy` publishes on AWS. (Faults off while it deploys itself.)
    aws.set_rate(0.0);
    front.set_rate(0.0);
    drop(front);
    let mut first = local;
    assert!(first.interrupt().success());
    let bp = blueprints("512");
    let local = common::local::Local::start_with(Some(&aws.endpoint), Some(bp.path()));
    let front = FaultProxy::start(&local.api_url, seed ^ 0xf00d);
    front.set_kinds(&[Fault::ServerError, Fault::Delay, Fault::LoseResponse]);
    let api = client(&front.endpoint);
    let types = api.get("/deployment-types").await.unwrap();
    let v2 = types
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["deploymentType"] == "silo")
        .and_then(|t| t["version"].as_str())
        .unwrap()
        .to_owned();

    // 3. Offboard half the running ones, update the rest, retry the failed: faults on.
    let running: Vec<String> = settled
        .values()
        .filter(|t| t["status"] == "running")
        .map(|t| t["tenantId"].as_str().unwrap().to_owned())
        .collect();
    let (offboarded, updated) = running.split_at(running.len() / 2);
    let mut requests: Vec<(&'static str, Value)> = Vec::new();
    requests.extend(
        offboarded
            .iter()
            .map(|id| ("/delete", json!({"tenantId": id}))),
    );
    requests.extend(
        updated
            .iter()
            .map(|id| ("/update", json!({"tenantId": id, "version": v2}))),
    );
    requests.extend(failed.iter().map(|id| ("/retry", json!({"tenantId": id}))));
    aws.set_rate(0.25);
    front.set_rate(0.15);
    post_all(&api, requests).await;

    // 4. Faults off: every tenant settles, through the control plane's own paths (a replay,
    //    a redelivery, the reconciler).
    aws.set_rate(0.0);
    front.set_rate(0.0);
    eprintln!("AWS faults: {}", aws.report());
    eprintln!("API faults: {}", front.report());
    let injected = aws.injected();
    for kind in [
        Fault::ServerError,
        Fault::Throttle,
        Fault::Delay,
        Fault::LoseResponse,
    ] {
        assert!(
            injected.get(&kind).copied().unwrap_or(0) > 0,
            "the run met {kind:?}: {injected:?}"
        );
    }
    let stopped = Instant::now();
    let gone: BTreeSet<&String> = offboarded.iter().collect();
    let end = settle(&api, Duration::from_secs(150), "after the faults", |all| {
        all.values().all(|t| {
            let id = t["tenantId"].as_str().unwrap_or_default().to_owned();
            if gone.contains(&id) {
                t["status"] == "deleted"
            } else {
                t["status"] == "running" && (!updated.contains(&id) || t["version"] == v2.as_str())
            }
        })
    })
    .await;
    assert_eq!(end.len(), TENANTS);
    eprintln!(
        "every tenant settled {:?} after the faults stopped",
        stopped.elapsed()
    );

    // One stack per live tenant, none for an offboarded one, and no stack without a tenant.
    let cfn = aws_sdk_cloudformation::Client::new(&moto.sdk_config());
    let stacks = stacks(&cfn).await;
    for (id, statuses) in &stacks {
        assert!(
            end.contains_key(id),
            "an orphan stack for {id}: {statuses:?}"
        );
        let live = statuses
            .iter()
            .filter(|s| s.as_str() != "DELETE_COMPLETE")
            .count();
        let expected = usize::from(!gone.contains(id));
        assert_eq!(live, expected, "tenant {id}'s stacks: {statuses:?}");
    }
    for id in end.keys().filter(|id| !gone.contains(id)) {
        assert!(stacks.contains_key(id), "tenant {id} has no stack");
    }
    drop(front);
}

/// CloudFormation takes a repeated ClientRequestToken for a retry of a request it carried
/// out: an offboarding after a DELETE_FAILED must send a token of its own, or its DeleteStack
/// is a silent no-op on AWS. Each offboarding is a new attempt; its repeats are not.
#[tokio::test]
async fn each_offboarding_sends_deletestack_a_token_of_its_own() {
    let env = env_with_faults(seed(9)).await;
    let (id, stack_id) = env.running("Delete Twice").await;
    let attempt = |env: &Env| {
        let (cp, id) = (env.cp.clone(), id.clone());
        async move { cp.store().get(&id).await.unwrap().unwrap().attempt }
    };
    let provisioned = attempt(&env).await;
    let (status, body) = env.call("POST", "/delete", delete_body(&id)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let first = attempt(&env).await;
    assert_eq!(
        first,
        provisioned + 1,
        "an offboarding is an attempt of its own"
    );
    env.stack_event("eventbridge-stack-delete-failed.json", &stack_id)
        .await;
    assert_eq!(env.tenant(&id).await["status"], "failed");
    // Offboarding again: a new token. The reconciler's resume of it would keep this one.
    let (status, body) = env.call("POST", "/delete", delete_body(&id)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(attempt(&env).await, first + 1);
}
