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

    // The tier's alarm threshold: premium sets AlarmErrors, the silo keeps the default.
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);
    let threshold = |stack: String| {
        let cloudwatch = cloudwatch.clone();
        async move {
            let out = cloudwatch
                .describe_alarms()
                .alarm_names(format!("{stack}-errors"))
                .send()
                .await
                .unwrap();
            out.metric_alarms().first().and_then(|a| a.threshold())
        }
    };
    assert_eq!(threshold(stack.clone()).await, Some(1.0));
    assert_eq!(threshold(format!("silos-tenant-{silo}")).await, Some(5.0));

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

const PASSWORD: &str = "Correct-Horse-Battery-9";

/// `silos tenants ARGS --output json` against the emulator, with a user's password in the
/// environment: the JSON answer, or the exit code and the stderr.
fn tenants(local: &Local, args: &[&str]) -> Result<serde_json::Value, (Option<i32>, String)> {
    let mut all = vec![
        "tenants",
        "--api-url",
        &local.api_url,
        "--endpoint-url",
        &local.endpoint,
    ];
    all.extend(args);
    all.extend(["--output", "json"]);
    use std::io::Write;
    let mut child = local
        .command(&all, Some(("testing", "testing")))
        .env("SILOS_USER_PASSWORD", PASSWORD)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(format!("{PASSWORD}\n").as_bytes());
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout))))
    } else {
        Err((
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ))
    }
}

/// A tier move and back, as an operator runs it: silo → premium adds the bucket and the
/// queues and keeps the table's items; premium → silo would remove them, so it is refused
/// until --allow-data-loss; the items are still there after each move.
#[tokio::test]
async fn a_tenant_moves_to_premium_and_back_keeping_its_items() {
    let blueprints = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/premium/blueprints");
    let local = Local::start_app(&premium_binary(), None, Some(&blueprints));
    let id = local.create_typed("Initech", "silo");
    local.wait(&id, "running");
    let stack = format!("silos-tenant-{id}");
    // The front door is recorded just after the tenant is running.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while local.json(&["info", &id])["tenant"]["endpoint"].is_null() {
        assert!(std::time::Instant::now() < deadline, "no front door");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let user = "ops@initech.example";
    tenants(&local, &["users", "add", &id, user, "--password-stdin"])
        .unwrap_or_else(|e| panic!("{e:?}"));
    let put = tenants(
        &local,
        &[
            "call",
            &id,
            "PUT",
            "/items/order-1",
            "--data",
            r#"{"qty":3}"#,
            "--user",
            user,
        ],
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(put["key"], "order-1", "{put}");
    let item = |local: &Local| {
        tenants(
            local,
            &["call", &id, "GET", "/items/order-1", "--user", user],
        )
        .unwrap_or_else(|e| panic!("{e:?}"))
    };

    // The plan alone changes nothing.
    let plan = tenants(&local, &["move", &id, "--type", "premium", "--dry-run"]).unwrap();
    let added: Vec<&str> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "add")
        .map(|c| c["logicalId"].as_str().unwrap())
        .collect();
    assert!(
        added.contains(&"Files") && added.contains(&"Jobs"),
        "{plan}"
    );
    assert!(
        plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["losesData"].is_null()),
        "{plan}"
    );
    assert_eq!(
        local.json(&["info", &id])["tenant"]["deploymentType"],
        "silo"
    );

    // Up: the bucket appears, the item stays.
    let moved = tenants(
        &local,
        &["move", &id, "--type", "premium", "--timeout", "60"],
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(moved["tenant"]["deploymentType"], "premium", "{moved}");
    assert_eq!(moved["tenant"]["status"], "running");
    let info = local.json(&["info", &id]);
    let types: Vec<&str> = info["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["ResourceType"].as_str())
        .collect();
    assert!(types.contains(&"AWS::S3::Bucket"), "{info}");
    assert_eq!(item(&local)["value"], serde_json::json!({"qty": 3}));

    // Down: refused, naming what would go, and nothing changes.
    let (code, stderr) =
        tenants(&local, &["move", &id, "--type", "silo", "--timeout", "60"]).unwrap_err();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("would lose data"), "{stderr}");
    assert!(
        stderr.contains("Files (AWS::S3::Bucket) removed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Jobs (AWS::SQS::Queue) removed"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let after = local.json(&["info", &id]);
    assert_eq!(after["tenant"]["deploymentType"], "premium");
    assert_eq!(after["tenant"]["status"], "running");

    // Allowed, it moves, and the table (which both tiers have) keeps the item.
    let moved = tenants(
        &local,
        &[
            "move",
            &id,
            "--type",
            "silo",
            "--allow-data-loss",
            "--timeout",
            "60",
        ],
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(moved["tenant"]["deploymentType"], "silo", "{moved}");
    assert_eq!(item(&local)["value"], serde_json::json!({"qty": 3}));
    let queues = aws_sdk_sqs_urls(&local).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut queues = queues;
    while queues.iter().any(|q| q.ends_with(&format!("{stack}-jobs")))
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        queues = aws_sdk_sqs_urls(&local).await;
    }
    assert!(
        !queues.iter().any(|q| q.ends_with(&format!("{stack}-jobs"))),
        "{queues:?}"
    );
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
