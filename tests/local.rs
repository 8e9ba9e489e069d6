//! End to end: `silos local` with its own emulator, driven through `silos tenants` processes
//! that sign their requests (the server requires SigV4).

mod common;

use std::time::Duration;

use common::local::{Local, stderr};
use serde_json::Value;

async fn stack_status(local: &Local, stack_id: &str) -> Option<String> {
    let cfn = aws_sdk_cloudformation::Client::new(&local.sdk_config());
    match cfn.describe_stacks().stack_name(stack_id).send().await {
        Ok(out) => out.stacks()[0]
            .stack_status()
            .map(|s| s.as_str().to_owned()),
        Err(e) if silos::deploy::is_missing_stack(&e) => None,
        Err(e) => panic!("DescribeStacks {stack_id}: {e:?}"),
    }
}

#[tokio::test]
async fn a_tenant_lives_its_whole_life_through_the_cli() {
    let local = Local::start();
    let outputs: Value =
        serde_json::from_slice(&std::fs::read(local.out.path().join("outputs.json")).unwrap())
            .unwrap();
    assert_eq!(outputs["apiUrl"], local.api_url.as_str());
    assert_eq!(outputs["mode"], "local");

    let id = local.create("Acme Corp");
    let running = local.wait(&id, "running");
    let stack_id = running["stackId"].as_str().unwrap().to_owned();
    assert_eq!(
        running["stackName"],
        format!("silos-tenant-{id}"),
        "{running}"
    );
    assert_eq!(
        stack_status(&local, &stack_id).await.as_deref(),
        Some("CREATE_COMPLETE")
    );

    // info: the tenant's own table and function, as text and as JSON.
    let info = local.json(&["info", &id]);
    let types: Vec<&str> = info["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ResourceType"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"AWS::DynamoDB::Table"), "{info}");
    assert!(types.contains(&"AWS::Lambda::Function"), "{info}");
    let text = local.tenants(&["info", &id]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("TenantTable") && text.contains("TenantFunction"),
        "{text}"
    );

    let list = local.tenants(&["list"]);
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.contains("Acme Corp") && list.contains("running"),
        "{list}"
    );

    let deleting = local.tenants(&["delete", &id]);
    assert!(deleting.status.success(), "{}", stderr(&deleting));
    let said = String::from_utf8_lossy(&deleting.stdout);
    assert!(said.contains("is deleting"), "{said}");
    assert!(
        said.contains(&format!("data table silos-tenant-{id} is retained")),
        "delete reports the retained table: {said}"
    );
    local.wait(&id, "deleted");
    let status = stack_status(&local, &stack_id).await;
    assert!(
        status.is_none() || status.as_deref() == Some("DELETE_COMPLETE"),
        "the stack is gone: {status:?}"
    );

    // Each transition was printed once, in order. The last one is printed when the stream
    // processor reads it, which may be a moment after the API shows it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let lines = local.lines.lock().unwrap().clone();
        if lines
            .iter()
            .any(|l| l.contains(&id) && l.ends_with("deleting -> deleted"))
            || std::time::Instant::now() > deadline
        {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let moves: Vec<&String> = lines.iter().filter(|l| l.contains(&id)).collect();
    let expected = [
        "created, initiated",
        "initiated -> provisioning",
        "provisioning -> running",
        "running -> deleting",
        "deleting -> deleted",
    ];
    assert_eq!(moves.len(), expected.len(), "{moves:#?}");
    for (line, want) in moves.iter().zip(expected) {
        assert!(line.ends_with(want), "{line:?} should end with {want:?}");
    }
}

#[tokio::test]
async fn unsigned_and_badly_signed_requests_are_refused_with_the_apis_error() {
    let local = Local::start();
    let unsigned = local.tenants_with(&["list"], None);
    assert_eq!(unsigned.status.code(), Some(1));
    assert_eq!(
        stderr(&unsigned).trim(),
        "error: MissingAuthenticationToken: missing authentication: the request is not signed with SigV4"
    );
    let wrong = local.tenants_with(&["create", "Mallory"], Some(("testing", "not-the-secret")));
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        stderr(&wrong).starts_with("error: InvalidSignature:"),
        "{}",
        stderr(&wrong)
    );
    // Nothing was written by the refused create.
    let list = local.json(&["list"]);
    assert_eq!(list, serde_json::json!([]));
    // API errors keep their code, message and a non-zero exit.
    let bad = local.tenants(&["create", "Acme", "--type", "nope"]);
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(
        stderr(&bad).trim(),
        "error: UnknownDeploymentType: unknown deploymentType \"nope\"; known: silo"
    );
    let missing = local.tenants(&["info", "0b0e6a3c-0000-4000-8000-000000000000"]);
    assert!(
        stderr(&missing).starts_with("error: TenantNotFound:"),
        "{}",
        stderr(&missing)
    );
}

/// Issue 12: a duplicate name refused by the store's transaction, then a new tenant. Nothing
/// is given up, and no record of the refused write reaches the provisioner.
fn a_refused_duplicate_leaves_provisioning_going(local: &Local) {
    let acme = local.create("Acme");
    let duplicate = local.tenants(&["create", "Acme"]);
    assert_eq!(duplicate.status.code(), Some(1));
    assert!(
        stderr(&duplicate).contains("TenantNameTaken"),
        "{}",
        stderr(&duplicate)
    );
    let globex = local.create("Globex");
    local.wait(&globex, "running");
    local.wait(&acme, "running");
    let later = local.create("Initech");
    local.wait(&later, "running");
    let lines = local.lines.lock().unwrap().clone();
    assert!(!lines.iter().any(|l| l.contains("gave up")), "{lines:#?}");
}

#[tokio::test]
async fn a_tenant_after_a_refused_duplicate_reaches_running() {
    let local = Local::start();
    a_refused_duplicate_leaves_provisioning_going(&local);
    // The launcher cancels in place: the refused write never shows up as a transition.
    let created = local
        .lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.ends_with("created, initiated"))
        .count();
    assert_eq!(created, 3, "{:#?}", local.lines.lock().unwrap());
}

/// The stream reader does not rely on the launcher: plain moto swaps the table's stream under
/// an open iterator when it cancels a transaction, and the reader re-opens it.
#[tokio::test]
async fn a_refused_duplicate_on_plain_moto_does_not_stall_the_stream() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let moto_server =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server");
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _moto = Killed(
        std::process::Command::new(moto_server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start plain moto_server"),
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "moto_server did not listen"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let local = Local::start_at(Some(&endpoint));
    a_refused_duplicate_leaves_provisioning_going(&local);
}

/// Issue 18: the response to `tenants create` is lost on the way back; the CLI retries with
/// the same Idempotency-Key and reports the tenant its first request made, once.
#[tokio::test]
async fn a_lost_response_is_retried_and_the_tenant_made_once() {
    let local = Local::start();
    let proxy = common::proxy::Proxy::start(&local.api_url);
    proxy.lose_responses(1);
    let out = local.silos(
        &[
            "tenants",
            "--api-url",
            &proxy.endpoint,
            "create",
            "Acme",
            "--output",
            "json",
        ],
        Some(("testing", "testing")),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("retrying in 0.25 s with the same Idempotency-Key"),
        "{}",
        stderr(&out)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = local.json(&["list"]);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["tenantId"], created["tenantId"]);
    local.wait(created["tenantId"].as_str().unwrap(), "running");
}

#[tokio::test]
async fn two_tenants_created_at_once_both_run_in_their_own_stacks() {
    let local = Local::start();
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| local.create("Tenant A"));
        let b = s.spawn(|| local.create("Tenant B"));
        (a.join().unwrap(), b.join().unwrap())
    });
    let (ta, tb) = std::thread::scope(|s| {
        let ta = s.spawn(|| local.wait(&a, "running"));
        let tb = s.spawn(|| local.wait(&b, "running"));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    assert_ne!(ta["stackId"], tb["stackId"]);
    for t in [&ta, &tb] {
        let id = t["stackId"].as_str().unwrap();
        assert_eq!(
            stack_status(&local, id).await.as_deref(),
            Some("CREATE_COMPLETE"),
            "{t}"
        );
    }
}

#[tokio::test]
async fn a_missing_template_fails_provisioning_and_a_retry_after_restoring_it_runs() {
    let local = Local::start();
    let outputs: Value =
        serde_json::from_slice(&std::fs::read(local.out.path().join("outputs.json")).unwrap())
            .unwrap();
    let bucket = outputs["artifactsBucket"].as_str().unwrap().to_owned();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&local.sdk_config())
            .force_path_style(true)
            .build(),
    );
    let get = |key: String| {
        let s3 = s3.clone();
        let bucket = bucket.clone();
        async move {
            let out = s3
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .unwrap();
            out.body.collect().await.unwrap().into_bytes().to_vec()
        }
    };
    // The template the catalog points at, through the pointer, as the provisioner finds it.
    let pointer: Value =
        serde_json::from_slice(&get("catalog/current.json".to_owned()).await).unwrap();
    let catalog: Value =
        serde_json::from_slice(&get(pointer["key"].as_str().unwrap().to_owned()).await).unwrap();
    let key = catalog["deploymentTypes"]["silo"]["templateKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let template = get(key.clone()).await;
    s3.delete_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .unwrap();

    let id = local.create("Unlucky");
    let failed = local.wait(&id, "failed");
    let reason = failed["statusReason"].as_str().unwrap_or_default();
    assert!(reason.contains("CreateStack"), "a reason: {failed}");
    // Waiting for running on a failed tenant stops at once, with the reason.
    let stuck = local.tenants(&["wait", &id, "--status", "running", "--timeout", "30"]);
    assert_eq!(stuck.status.code(), Some(1));
    assert!(stderr(&stuck).contains("is failed"), "{}", stderr(&stuck));

    s3.put_object()
        .bucket(&bucket)
        .key(&key)
        .body(template.into())
        .send()
        .await
        .unwrap();
    let retried = local.tenants(&["retry", &id]);
    assert!(retried.status.success(), "{}", stderr(&retried));
    let running = local.wait(&id, "running");
    assert_eq!(running["statusReason"], Value::Null, "{running}");
}

#[test]
fn sigint_stops_local_mode_and_its_emulator() {
    let mut local = Local::start();
    let pid = local.emulator_pid.expect("local mode started the emulator");
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the emulator runs while local mode does"
    );
    let status = local.interrupt();
    assert!(status.success(), "exit status {status:?}");
    let lines = local.lines.lock().unwrap().clone();
    assert_eq!(
        lines.last().map(String::as_str),
        Some("stopped"),
        "{lines:?}"
    );
    // The emulator was stopped and reaped: no process is left behind.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "emulator {pid} outlived silos local"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn destroy_refuses_while_tenants_exist_and_with_tenants_offboards_them_first() {
    let local = Local::start();
    let id = local.create("Acme");
    local.wait(&id, "running");
    let destroy = |extra: &[&str]| {
        let mut args = vec![
            "destroy",
            "--yes",
            "--endpoint-url",
            &local.endpoint,
            "--api-url",
            &local.api_url,
            "--timeout",
            "120",
        ];
        args.extend(extra);
        local.silos(&args, Some(("testing", "testing")))
    };
    let refused = destroy(&[]);
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(
        stderr(&refused).trim(),
        "error: 1 tenant(s) still exist (Acme): offboard them with `silos tenants delete`, or pass --with-tenants"
    );
    let cfn = aws_sdk_cloudformation::Client::new(&local.sdk_config());
    let control_plane = cfn
        .describe_stacks()
        .stack_name("silos-control-plane")
        .send()
        .await
        .unwrap();
    let control_plane_id = control_plane.stacks()[0].stack_id().unwrap().to_owned();
    assert_eq!(
        local.json(&["list"]).as_array().unwrap().len(),
        1,
        "nothing was touched"
    );

    let done = destroy(&["--with-tenants"]);
    let said = String::from_utf8_lossy(&done.stdout).into_owned();
    assert!(done.status.success(), "{said}\n{}", stderr(&done));
    assert!(said.contains(&format!("tenant {id} is deleted")), "{said}");
    assert_eq!(
        stack_status(&local, &control_plane_id).await.as_deref(),
        Some("DELETE_COMPLETE")
    );
    assert!(
        said.contains("AWS::DynamoDB::Table")
            && said.contains("(TenantsTable): remove with `aws dynamodb delete-table --table-name"),
        "the retained tenants table is reported: {said}"
    );
    assert!(
        said.contains(&format!("tenant data table silos-tenant-{id}")),
        "the retained tenant table is reported: {said}"
    );
    // The toolkit stays without --all.
    let toolkit = cfn
        .describe_stacks()
        .stack_name("silos-toolkit")
        .send()
        .await
        .unwrap();
    assert_eq!(
        toolkit.stacks()[0].stack_status().map(|s| s.as_str()),
        Some("CREATE_COMPLETE")
    );
}

#[tokio::test]
async fn killed_mid_flight_and_restarted_no_tenant_is_lost_duplicated_or_stuck() {
    let moto = common::Moto::start();
    let mut first = Local::start_at(Some(&moto.endpoint));
    let names: Vec<String> = (0..8).map(|i| format!("Tenant {i}")).collect();
    // Onboard through the API in one process, then kill local mode at once, while the
    // stream and the stacks are mid-flight.
    let client = silos::cli::client::ApiClient::new(
        &first.api_url,
        Some(silos::cli::client::Signing {
            credentials: aws_credential_types::Credentials::new(
                "testing", "testing", None, None, "t",
            ),
            region: "us-east-1".into(),
        }),
    )
    .unwrap();
    let mut ids = Vec::new();
    for name in &names {
        let t = client
            .post(
                "/onboarding",
                serde_json::json!({"tenantName": name, "deploymentType": "silo"}),
            )
            .await
            .unwrap();
        ids.push(t["tenantId"].as_str().unwrap().to_owned());
    }
    first.kill();
    // The kill came mid-flight: some tenants had not reached running.
    let outputs: Value =
        serde_json::from_slice(&std::fs::read(first.out.path().join("outputs.json")).unwrap())
            .unwrap();
    let table = outputs["tenantsTable"].as_str().unwrap();
    let ddb = aws_sdk_dynamodb::Client::new(&first.sdk_config());
    let items = ddb.scan().table_name(table).send().await.unwrap();
    let unfinished = items
        .items()
        .iter()
        .filter(|i| {
            i.get("status")
                .and_then(|s| s.as_s().ok())
                .is_some_and(|s| s != "running")
        })
        .count();
    assert!(unfinished > 0, "the kill came after everything was done");

    let second = Local::start_at(Some(&moto.endpoint));
    for id in &ids {
        let t = second.wait(id, "running");
        assert_eq!(t["stackName"], format!("silos-tenant-{id}"), "{t}");
    }
    // One live stack per tenant, and it is the one the tenant records.
    let cfn = aws_sdk_cloudformation::Client::new(&second.sdk_config());
    let stacks = cfn.list_stacks().send().await.unwrap();
    for id in &ids {
        let live: Vec<_> = stacks
            .stack_summaries()
            .iter()
            .filter(|s| s.stack_name() == Some(format!("silos-tenant-{id}").as_str()))
            .filter(|s| {
                s.stack_status()
                    .is_some_and(|st| st.as_str() != "DELETE_COMPLETE")
            })
            .collect();
        assert_eq!(live.len(), 1, "tenant {id}: {live:?}");
        let t = second.json(&["info", id]);
        assert_eq!(t["tenant"]["stackId"].as_str(), live[0].stack_id(), "{t}");
    }
    let all = second.json(&["list"]);
    assert_eq!(
        all.as_array().unwrap().len(),
        names.len(),
        "no duplicates: {all}"
    );
}

#[tokio::test]
async fn an_emulator_outage_is_survived_and_work_resumes_when_it_is_back() {
    let moto = common::Moto::start();
    let proxy = common::proxy::Proxy::start(&moto.endpoint);
    let mut local = Local::start_at(Some(&proxy.endpoint));
    let before = local.create("Before");
    local.wait(&before, "running");

    proxy.pause();
    std::thread::sleep(Duration::from_secs(3));
    // The API answers with an AWS error (a 502) and writes nothing; the CLI retries with
    // backoff, then gives the one-line reason; local mode keeps running.
    let during = local.tenants(&["create", "During"]);
    assert_eq!(during.status.code(), Some(1));
    let said = stderr(&during);
    let lines: Vec<&str> = said.lines().collect();
    assert!(
        lines.last().unwrap().starts_with("error: AwsError: "),
        "{said}"
    );
    let retries = lines
        .iter()
        .filter(|l| l.contains("retrying in") && l.contains("same Idempotency-Key"))
        .count();
    assert_eq!(retries, 4, "{said}");
    assert!(local.is_running(), "silos local survived the outage");

    proxy.resume();
    let after = local.create("After");
    local.wait(&after, "running");
    let names: Vec<String> = local
        .json(&["list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tenantName"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["After", "Before"],
        "no partial record of the refused create"
    );
}

/// Issue 16: `silos tenants events --follow` hears every transition of a tenant's life on the
/// bus, once each and in order; a refused duplicate publishes nothing; the queue and rule it
/// made are gone once it stops.
#[tokio::test]
async fn the_whole_lifecycle_is_published_on_the_bus_in_order() {
    let local = Local::start();
    // The console `silos local` serves holds its own subscription: what the follower
    // makes must be gone afterwards, and the console's must be left alone.
    let before = bus_subscriptions(&local).await;
    let (mut follow, events) = local.follow_events();

    let id = local.create("Acme Corp");
    let duplicate = local.tenants(&["create", "acme corp"]);
    assert_eq!(duplicate.status.code(), Some(1), "{}", stderr(&duplicate));
    local.wait(&id, "running");
    let deleting = local.tenants(&["delete", &id]);
    assert!(deleting.status.success(), "{}", stderr(&deleting));
    local.wait(&id, "deleted");

    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline
        && !events
            .lock()
            .unwrap()
            .iter()
            .any(|e| e["detail-type"] == "Tenant Offboarded")
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    // SIGTERM: it removes its queue and rule, and exits 0.
    let pid = follow.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = follow.wait().unwrap();
    assert!(status.success(), "{status:?}");

    let events = events.lock().unwrap().clone();
    // Only this tenant: the refused duplicate published nothing.
    for e in &events {
        assert_eq!(e["source"], "silos.tenants", "{e}");
        assert_eq!(e["detail"]["tenant"]["tenantId"], id.as_str(), "{e}");
    }
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["detail-type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "Tenant Requested",
            "Tenant Provisioning Started",
            "Tenant Provisioned",
            "Tenant Offboarding",
            "Tenant Offboarded",
        ],
        "{events:#?}"
    );
    // Once running, the event carries the tenant stack's outputs; before, none.
    assert_eq!(
        events[2]["detail"]["stackOutputs"]["TenantTableName"],
        format!("silos-tenant-{id}"),
        "{:#}",
        events[2]
    );
    assert!(events[1]["detail"].get("stackOutputs").is_none());
    let keys: std::collections::BTreeSet<&str> = events
        .iter()
        .map(|e| e["detail"]["idempotencyKey"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), events.len(), "one key per transition");
    assert!(
        events[0]["detail"]["idempotencyKey"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{id}:initiated:"))
    );

    assert_eq!(bus_subscriptions(&local).await, before);
}

/// The emulator's queues and the rules on the event bus: what subscriptions leave behind.
async fn bus_subscriptions(local: &Local) -> (Vec<String>, Vec<String>) {
    let sdk = local.sdk_config();
    let queues = aws_sdk_sqs::Client::new(&sdk)
        .list_queues()
        .send()
        .await
        .unwrap();
    let rules = aws_sdk_eventbridge::Client::new(&sdk)
        .list_rules()
        .event_bus_name("silos-events")
        .send()
        .await
        .unwrap();
    let mut queues = queues.queue_urls().to_vec();
    let mut rules: Vec<String> = rules
        .rules()
        .iter()
        .filter_map(|r| r.name().map(str::to_owned))
        .collect();
    queues.sort();
    rules.sort();
    (queues, rules)
}

#[tokio::test]
async fn tenants_list_follows_the_pages_and_filters_by_status() {
    let local = Local::start();
    let mut ids: Vec<String> = (0..3)
        .map(|i| local.create(&format!("Paged {i}")))
        .collect();
    ids.sort();
    let listed = |args: &[&str]| {
        let mut listed: Vec<String> = local
            .json(args)
            .as_array()
            .unwrap_or_else(|| panic!("{args:?}: not an array"))
            .iter()
            .map(|t| t["tenantId"].as_str().unwrap().to_owned())
            .collect();
        listed.sort();
        listed
    };
    // Pages of two: the list follows nextToken to the second page.
    assert_eq!(listed(&["list", "--page-size", "2"]), ids);
    let text = local.tenants(&["list", "--page-size", "1"]);
    assert!(text.status.success(), "{}", stderr(&text));
    let text = String::from_utf8_lossy(&text.stdout);
    for i in 0..3 {
        assert!(text.contains(&format!("Paged {i}")), "{text}");
    }
    for id in &ids {
        local.wait(id, "running");
    }
    assert_eq!(
        listed(&["list", "--status", "running", "--page-size", "2"]),
        ids
    );
    assert!(listed(&["list", "--status", "deleted"]).is_empty());
    let bad = local.tenants(&["list", "--page-size", "0"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
}
