//! Drift detection end to end in local mode: a tenant function's memory changed out of band
//! (with boto3, against the emulator) makes that tenant DRIFTED, with the property's
//! expected and actual values, and leaves the others IN_SYNC; through the CLI and the API.

mod common;

use serde_json::Value;

use common::local::{Local, stderr};

/// The tenant function's physical name, from `tenants info`.
fn function_name(local: &Local, id: &str) -> String {
    let info = local.json(&["info", id]);
    info["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ResourceType"] == "AWS::Lambda::Function")
        .and_then(|r| r["PhysicalResourceId"].as_str())
        .unwrap_or_else(|| panic!("no function: {info}"))
        .to_owned()
}

/// Changes a function's memory with boto3, as an operator's console click would.
fn set_memory_out_of_band(local: &Local, function: &str, mb: u32) {
    common::python(
        "import boto3, sys; boto3.client('lambda', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing').update_function_configuration(FunctionName=sys.argv[2], MemorySize=int(sys.argv[3]))",
        &[&local.endpoint, function, &mb.to_string()],
    );
}

fn by_id<'a>(answer: &'a Value, id: &str) -> &'a Value {
    answer["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tenantId"] == id)
        .unwrap_or_else(|| panic!("{id} not in {answer}"))
}

#[test]
fn a_function_changed_by_hand_drifts_its_tenant_alone() {
    let local = Local::start();
    let ids: Vec<String> = ["Acme", "Globex", "Initech"]
        .iter()
        .map(|n| local.create(n))
        .collect();
    for id in &ids {
        local.wait(id, "running");
    }
    // Never checked yet: the list says so.
    let listed = local.tenants(&["list"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(text.lines().next().unwrap().contains("DRIFT"), "{text}");

    let first = local.json(&["drift", "--all"]);
    for id in &ids {
        assert_eq!(by_id(&first, id)["drift"]["status"], "IN_SYNC", "{first}");
    }

    set_memory_out_of_band(&local, &function_name(&local, &ids[0]), 512);
    let answer = local.json(&["drift", "--all"]);
    let acme = &by_id(&answer, &ids[0])["drift"];
    assert_eq!(acme["status"], "DRIFTED", "{answer}");
    assert_eq!(acme["previous"], "IN_SYNC");
    let resources = acme["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 1, "{acme}");
    assert_eq!(resources[0]["logicalId"], "TenantFunction");
    assert_eq!(resources[0]["type"], "AWS::Lambda::Function");
    assert_eq!(resources[0]["status"], "MODIFIED");
    assert_eq!(
        resources[0]["differences"],
        serde_json::json!([{"path": "/MemorySize", "expected": "128", "actual": "512", "kind": "NOT_EQUAL"}])
    );
    for id in &ids[1..] {
        assert_eq!(by_id(&answer, id)["drift"]["status"], "IN_SYNC", "{answer}");
    }
    // The record keeps it: info and the list show it.
    let info = local.json(&["info", &ids[0]]);
    assert_eq!(info["tenant"]["drift"]["status"], "DRIFTED");
    let text = local.tenants(&["info", &ids[0]]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("TenantFunction /MemorySize 128 → 512"),
        "{text}"
    );
    let listed = local.tenants(&["list"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    let acme_line = text.lines().find(|l| l.starts_with(&ids[0])).unwrap();
    assert!(acme_line.contains("DRIFTED"), "{text}");

    // One tenant by id, as text.
    let out = local.tenants(&["drift", &ids[1]]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("IN_SYNC") && text.contains("0 of 1 drifted"),
        "{text}"
    );

    // Put back by hand: in sync again.
    set_memory_out_of_band(&local, &function_name(&local, &ids[0]), 128);
    let again = local.json(&["drift", &ids[0]]);
    assert_eq!(
        by_id(&again, &ids[0])["drift"]["status"],
        "IN_SYNC",
        "{again}"
    );
    assert_eq!(by_id(&again, &ids[0])["drift"]["previous"], "DRIFTED");

    // Bad input: no tenants named, an unknown one, not a UUID.
    let out = local.tenants(&["drift"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("pass --all"), "{}", stderr(&out));
    let out = local.tenants(&["drift", "00000000-0000-4000-8000-000000000000"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("could not be checked"),
        "{}",
        stderr(&out)
    );
    let out = local.tenants(&["drift", "acme"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is not a UUID"), "{}", stderr(&out));
}

/// The scheduled pass (the reconciler's schedule) over more running tenants than one page (of two, here):
/// a run that stops at its budget keeps its place, the next resumes there and ends the
/// round, and a round that is done waits for its interval.
#[tokio::test]
async fn the_drift_pass_resumes_where_it_stopped_and_waits_for_its_interval() {
    let env = common::env::env().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(env.running(&format!("Tenant {i}")).await.0);
    }
    let day = std::time::Duration::from_secs(86_400);
    // No budget: one page (of two here), then it stops and keeps its place.
    let first = env
        .cp
        .drift_pass_paged(day, std::time::Duration::ZERO, 2)
        .await
        .unwrap();
    assert_eq!((first.checked, first.round_done), (2, false), "{first:?}");
    let second = env
        .cp
        .drift_pass_paged(day, std::time::Duration::ZERO, 2)
        .await
        .unwrap();
    assert_eq!((second.checked, second.round_done), (1, true), "{second:?}");
    for id in &ids {
        let t = env.tenant(id).await;
        assert_eq!(t["drift"]["status"], "IN_SYNC", "{t}");
    }
    // The round is over: nothing until the interval has passed.
    let third = env
        .cp
        .drift_pass(day, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(third.checked, 0, "{third:?}");
    // With no interval, no pass at all.
    let off = env
        .cp
        .drift_pass(std::time::Duration::ZERO, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(off.checked, 0);
}
