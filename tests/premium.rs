//! The premium example (`examples/premium`), a user's app with a second tier, end to end in
//! local mode through its own binary: a `silo` and a `premium` tenant both run, the premium
//! tenant's bucket and queue exist and `tenants info` lists them, and offboarding removes what
//! each blueprint says.

mod common;

use std::path::{Path, PathBuf};

use common::local::Local;

fn premium_binary() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_silos")).with_file_name("premium")
}

fn names(values: &serde_json::Value) -> Vec<String> {
    values
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_silo_and_a_premium_tenant_run_and_offboard_as_their_blueprints_say() {
    let blueprints = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/premium/blueprints");
    let local = Local::start_app(&premium_binary(), None, Some(&blueprints));
    let silo = local.create_typed("Globex", "silo");
    let premium = local.create_typed("Acme", "premium");
    local.wait(&silo, "running");
    local.wait(&premium, "running");

    // The premium tenant's own bucket and queues, named after its stack.
    let sdk = local.sdk_config();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let buckets: Vec<String> = s3
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_owned))
        .collect();
    let stack = format!("silos-tenant-{premium}");
    assert!(buckets.contains(&format!("{stack}-files")), "{buckets:?}");
    assert!(
        !buckets.iter().any(|b| b.contains(&silo)),
        "a silo tenant has no bucket: {buckets:?}"
    );

    let info = local.json(&["info", &premium]);
    let resources: Vec<(String, String)> = info["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["ResourceType"].as_str().unwrap().to_owned(),
                r["PhysicalResourceId"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let has = |t: &str, id: &str| resources.iter().any(|(rt, p)| rt == t && p.ends_with(id));
    assert!(has("AWS::S3::Bucket", &format!("{stack}-files")), "{info}");
    assert!(has("AWS::SQS::Queue", &format!("{stack}-jobs")), "{info}");
    assert!(
        has("AWS::SQS::Queue", &format!("{stack}-jobs-dlq")),
        "{info}"
    );
    let text = local.tenants(&["info", &premium]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("Files") && text.contains("JobsDeadLetter"),
        "{text}"
    );

    let queues = aws_sdk_sqs_urls(&local).await;
    for q in [format!("{stack}-jobs"), format!("{stack}-jobs-dlq")] {
        assert!(queues.iter().any(|u| u.ends_with(&q)), "{q} in {queues:?}");
    }
    assert!(
        buckets.contains(&format!("{stack}-files-logs")),
        "{buckets:?}"
    );

    // Offboarding: the premium blueprint deletes tenant data, the silo one keeps its table.
    let mut said = Vec::new();
    for id in [&premium, &silo] {
        let out = local.tenants(&["delete", id]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        said.push(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    assert!(
        !said[0].contains("is retained"),
        "premium retains no table: {}",
        said[0]
    );
    // Buckets are kept whatever the policy (a versioned bucket with objects cannot be deleted).
    assert!(
        said[0].contains(&format!("its bucket {stack}-files is kept")),
        "{}",
        said[0]
    );
    assert!(
        said[1].contains(&format!("data table silos-tenant-{silo} is retained")),
        "{}",
        said[1]
    );
    local.wait(&premium, "deleted");
    local.wait(&silo, "deleted");
    // The buckets' RetainExceptOnCreate is the template's; moto deletes them with the stack.
    // moto removes a deleted stack's queues a moment after the stack reads DELETE_COMPLETE.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let sqs = loop {
        let sqs = aws_sdk_sqs_urls(&local).await;
        if !sqs.iter().any(|q| q.contains(&premium)) || std::time::Instant::now() > deadline {
            break sqs;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    assert!(!sqs.iter().any(|q| q.contains(&premium)), "{sqs:?}");
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let tables = dynamodb.list_tables().send().await.unwrap();
    let tables: Vec<String> = tables.table_names().to_vec();
    assert!(
        !tables.contains(&stack),
        "premium deletes its table: {tables:?}"
    );
    // The silo table's RetainExceptOnCreate is the template's (tests/synth.rs); moto deletes
    // every resource of a deleted stack whatever its DeletionPolicy, so it is not checked here.
}

/// The queue URLs in the emulator, through its query API (the project has no SQS client).
async fn aws_sdk_sqs_urls(local: &Local) -> Vec<String> {
    let out = std::process::Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"))
        .args([
            "-c",
            "import boto3,json,sys; print(json.dumps(boto3.client('sqs', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing').list_queues().get('QueueUrls', [])))",
            &local.endpoint,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    names(&serde_json::from_slice(&out.stdout).unwrap())
}
