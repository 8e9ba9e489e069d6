//! The control plane end to end against the serialized moto emulator: the real local
//! control-plane template deployed by CloudFormation, the synthesized tenant template and
//! catalog published to S3, the API router, the provisioner fed stream records and the
//! stack-events handler fed events of the real shape (tests/fixtures).

mod common;

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{Value, json};
use silos::control_plane::stack_events::Handled;
use silos::control_plane::tenant::Status;

use common::env::{BUCKET, env, error_code};
use silos::control_plane::api;

#[tokio::test]
async fn every_route_answers_by_the_contract_and_bad_requests_leave_nothing_behind() {
    let env = env().await;
    let acme = env.onboard("  Acme Corp ").await;
    assert_eq!(acme["tenantName"], "Acme Corp");
    assert_eq!(acme["tenantSafeName"], "acmecorp");
    assert_eq!(acme["status"], "initiated");
    assert_eq!(acme["stackName"], Value::Null);
    assert!(uuid::Uuid::parse_str(acme["tenantId"].as_str().unwrap()).is_ok());
    assert!(acme["created"].as_str().unwrap().contains('.'));
    let id = acme["tenantId"].as_str().unwrap();

    let onboarding = |body: String| env.call("POST", "/onboarding", body);
    let cases: Vec<(String, StatusCode, &str)> = vec![
        (
            json!({"tenantName": "acme corp", "deploymentType": "silo"}).to_string(),
            StatusCode::CONFLICT,
            "TenantNameTaken",
        ),
        (
            json!({"tenantName": "Globex", "deploymentType": "pool"}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "UnknownDeploymentType",
        ),
        (
            json!({"tenantName": "{{ 7*7 }}", "deploymentType": "silo"}).to_string(),
            StatusCode::BAD_REQUEST,
            "InvalidTenantName",
        ),
        (
            json!({"tenantName": "x".repeat(65), "deploymentType": "silo"}).to_string(),
            StatusCode::BAD_REQUEST,
            "InvalidTenantName",
        ),
        (
            json!({"tenantName": "Globex"}).to_string(),
            StatusCode::BAD_REQUEST,
            "InvalidBody",
        ),
        (
            json!({"tenantName": 7, "deploymentType": "silo"}).to_string(),
            StatusCode::BAD_REQUEST,
            "InvalidBody",
        ),
        (
            json!({"tenantName": "Globex", "deploymentType": "silo", "admin": true}).to_string(),
            StatusCode::BAD_REQUEST,
            "InvalidBody",
        ),
        (
            "{not json".to_owned(),
            StatusCode::BAD_REQUEST,
            "InvalidBody",
        ),
        ("[".repeat(100_000), StatusCode::BAD_REQUEST, "BodyTooLarge"),
        (
            format!("{}{}", "[".repeat(5_000), "]".repeat(5_000)),
            StatusCode::BAD_REQUEST,
            "InvalidBody",
        ),
        (
            json!({"tenantName": "a".repeat(17 * 1024), "deploymentType": "silo"}).to_string(),
            StatusCode::BAD_REQUEST,
            "BodyTooLarge",
        ),
    ];
    for (body, status, code) in cases {
        let (got, reply) = onboarding(body).await;
        assert_eq!((got, error_code(&reply)), (status, code), "{reply}");
    }
    let (_, taken) =
        onboarding(json!({"tenantName": "ACME  corp", "deploymentType": "silo"}).to_string()).await;
    assert_eq!(
        taken["error"]["message"],
        "tenantName \"ACME  corp\" is taken: another tenant's name has the same key \"acme corp\"",
        "{taken}"
    );
    let (_, unknown) =
        onboarding(json!({"tenantName": "Globex", "deploymentType": "pool"}).to_string()).await;
    assert!(
        unknown["error"]["message"]
            .as_str()
            .unwrap()
            .contains("known: silo"),
        "{unknown}"
    );

    // Nothing was written by any of them.
    let (status, all) = env.call("GET", "/tenants", Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
    assert_eq!(all[0], acme);

    assert_eq!(env.tenant(id).await, acme);
    let (status, body) = env
        .call(
            "GET",
            "/tenants/00000000-0000-4000-8000-000000000001",
            Body::empty(),
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "TenantNotFound")
    );
    let (status, body) = env
        .call("GET", "/tenants/name%23acmecorp", Body::empty())
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "InvalidTenantId")
    );

    let tenant_body = json!({"tenantId": id}).to_string();
    let (status, body) = env.call("POST", "/tenant-info", tenant_body.clone()).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, "NoStack")
    );
    let (status, body) = env.call("POST", "/retry", tenant_body.clone()).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, "WrongStatus")
    );
    let (status, body) = env
        .call(
            "POST",
            "/delete",
            json!({"tenantId": id, "tenantName": "Globex"}).to_string(),
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, "TenantNameMismatch")
    );
    let (status, body) = env.call("POST", "/nope", Body::empty()).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "NoSuchRoute")
    );

    // A tenant with no stack goes straight to deleted, and its name is free again.
    let (status, body) = env
        .call(
            "POST",
            "/delete",
            json!({"tenantId": id, "tenantName": "Acme Corp"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "deleted");
    env.onboard("ACME corp").await;
}

#[tokio::test]
async fn international_names_are_onboarded_in_nfc_and_invisible_characters_refused() {
    let env = env().await;
    // Decomposed, with a no-break space: stored composed, with a plain space.
    let zurich = env.onboard("Zu\u{308}rich\u{a0}AG").await;
    assert_eq!(zurich["tenantName"], "Zürich AG");
    assert_eq!(zurich["tenantSafeName"], "zurichag");
    assert_eq!(zurich["status"], "initiated");
    let tokyo = env.onboard("東京 株式会社").await;
    let tokyo_id = tokyo["tenantId"].as_str().unwrap();
    assert_eq!(tokyo["tenantName"], "東京 株式会社");
    assert_eq!(tokyo["tenantSafeName"], format!("t{}", &tokyo_id[..8]));

    let onboarding = |name: &str| {
        env.call(
            "POST",
            "/onboarding",
            json!({"tenantName": name, "deploymentType": "silo"}).to_string(),
        )
    };
    let (status, body) = onboarding("Acme\u{202E}Corp").await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "InvalidTenantName"),
        "{body}"
    );
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("found U+202E (a format character)")
            && message.contains("letters, digits"),
        "{message}"
    );
    assert!(
        !message.contains('\u{202E}'),
        "the message never carries the override"
    );
    let (status, body) = onboarding("ZÜRICH  ag").await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, "TenantNameTaken"),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"zürich ag\""),
        "{body}"
    );

    // Nothing was written by the refusals.
    let (_, all) = env.call("GET", "/tenants", Body::empty()).await;
    let all = all.as_array().unwrap();
    assert!(
        all.len() == 2 && all.contains(&zurich) && all.contains(&tokyo),
        "{all:?}"
    );

    // `/delete` compares tenantName in its stored form.
    let (status, body) = env
        .call(
            "POST",
            "/delete",
            json!({"tenantId": zurich["tenantId"], "tenantName": "Zu\u{308}rich AG"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "deleted");
    env.onboard("ZÜRICH  ag").await;
}

#[tokio::test]
async fn the_whole_lifecycle_with_redelivery_and_a_late_event() {
    let env = env().await;
    let acme = env.onboard("Acme Corp").await;
    let id = acme["tenantId"].as_str().unwrap().to_owned();
    let stack_name = format!("silos-tenant-{id}");

    // The stream record, delivered twice: one stack, one move.
    let record = env.insert_record(&acme).await;
    let response = env.cp.handle_stream(record.clone()).await;
    assert!(response.batch_item_failures.is_empty());
    let provisioning = env.tenant(&id).await;
    assert_eq!(provisioning["status"], "provisioning", "{provisioning}");
    assert_eq!(provisioning["stackName"], stack_name.as_str());
    let stack_id = provisioning["stackId"].as_str().unwrap().to_owned();
    let response = env.cp.handle_stream(record).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(env.stacks_named(&stack_name).await, 1);
    assert_eq!(env.tenant(&id).await, provisioning);

    // An event for another stack, or another tenant stack id, changes nothing.
    let other = env
        .stack_event(
            "eventbridge-stack-other-stack.json",
            "arn:aws:cloudformation:us-east-1:123456789012:stack/unrelated-app/x",
        )
        .await;
    assert_eq!(other, Handled::NotATenantStack);
    let old = stack_id.replace(&stack_id[stack_id.len() - 6..], "000000");
    assert_eq!(
        env.stack_event("eventbridge-stack-create-complete.json", &old)
            .await,
        Handled::OtherStack(id.clone())
    );

    assert_eq!(
        env.stack_event("eventbridge-stack-create-complete.json", &stack_id)
            .await,
        Handled::Moved {
            tenant: id.clone(),
            from: Status::Provisioning,
            to: Status::Running
        }
    );
    assert_eq!(env.tenant(&id).await["status"], "running");

    let (status, resources) = env
        .call("POST", "/tenant-info", json!({"tenantId": id}).to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{resources}");
    let types: Vec<&str> = resources
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ResourceType"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"AWS::DynamoDB::Table"), "{types:?}");
    assert!(types.contains(&"AWS::Lambda::Function"), "{types:?}");
    assert_eq!(
        resources[0]["DriftInformation"]["StackResourceDriftStatus"],
        "NOT_CHECKED"
    );

    let (status, deleting) = env
        .call("POST", "/delete", json!({"tenantId": id}).to_string())
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{deleting}");
    assert_eq!(deleting["status"], "deleting");
    env.stack_event("eventbridge-stack-delete-in-progress.json", &stack_id)
        .await;
    assert_eq!(
        env.stack_event("eventbridge-stack-delete-complete.json", &stack_id)
            .await,
        Handled::Moved {
            tenant: id.clone(),
            from: Status::Deleting,
            to: Status::Deleted
        }
    );
    assert_eq!(env.stacks_named(&stack_name).await, 0, "the stack is gone");
    // Its resources are gone too, which the emulator's ListStackResources would deny.
    let (status, body) = env
        .call("POST", "/tenant-info", json!({"tenantId": id}).to_string())
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, "TenantDeleted"),
        "{body}"
    );

    // A late CREATE_COMPLETE does not resurrect the tenant.
    let late = env
        .stack_event("eventbridge-stack-create-complete.json", &stack_id)
        .await;
    assert!(
        matches!(
            late,
            Handled::Ignored {
                from: Status::Deleted,
                ..
            }
        ),
        "{late:?}"
    );
    assert_eq!(env.tenant(&id).await["status"], "deleted");

    // The dashboard's metrics: one onboarding time and one offboarding time, each as long as
    // this test took at most; and the reconciler's count of the fleet by status.
    let names = |docs: &[Value]| -> Vec<String> {
        docs.iter()
            .map(|d| {
                d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let written = env.cp.metrics().recorded();
    assert_eq!(
        names(&written),
        ["OnboardingSeconds", "OffboardingSeconds"],
        "{written:#?}"
    );
    for d in &written {
        let name = d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]
            .as_str()
            .unwrap();
        let seconds = d[name].as_f64().unwrap();
        assert!((0.0..60.0).contains(&seconds), "{d}");
        assert_eq!(
            d["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "Silos/silos"
        );
    }
    env.cp.count_fleet().await;
    let counts: Vec<(String, f64)> = env.cp.metrics().recorded()[2..]
        .iter()
        .map(|d| {
            (
                d["Status"].as_str().unwrap().to_owned(),
                d["Tenants"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(counts.len(), 6, "{counts:?}");
    // The one tenant is deleted, which is not counted.
    assert!(counts.iter().all(|(_, n)| *n == 0.0), "{counts:?}");
    // Its name is free.
    env.onboard("acme corp").await;
    env.cp.count_fleet().await;
    let initiated = env.cp.metrics().recorded()[8..]
        .iter()
        .find(|d| d["Status"] == "initiated")
        .map(|d| d["Tenants"].as_f64().unwrap());
    assert_eq!(initiated, Some(1.0));
}

#[tokio::test]
async fn failures_are_recorded_and_retry_provisions_again() {
    let env = env().await;

    // A failure the emulator can produce: the tenant template is missing from the bucket.
    let template = env
        .s3
        .get_object()
        .bucket(BUCKET)
        .key(&env.template_key)
        .send()
        .await
        .unwrap();
    let template = template.body.collect().await.unwrap().into_bytes();
    env.s3
        .delete_object()
        .bucket(BUCKET)
        .key(&env.template_key)
        .send()
        .await
        .unwrap();
    let globex = env.onboard("Globex").await;
    let id = globex["tenantId"].as_str().unwrap().to_owned();
    let response = env.cp.handle_stream(env.insert_record(&globex).await).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "a recorded failure is not retried"
    );
    let failed = env.tenant(&id).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["statusReason"]
            .as_str()
            .unwrap()
            .contains("CreateStack"),
        "{failed}"
    );

    // Restored, a retry goes through.
    env.s3
        .put_object()
        .bucket(BUCKET)
        .key(&env.template_key)
        .body(template.into())
        .send()
        .await
        .unwrap();
    let (status, body) = env
        .call("POST", "/retry", json!({"tenantId": id}).to_string())
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "provisioning");
    assert_eq!(body["statusReason"], Value::Null);
    let stack_id = body["stackId"].as_str().unwrap().to_owned();

    // A failed create (the shape AWS sends; the emulator never fails a stack) → failed with
    // the reason, then retry → provisioning again.
    env.stack_event("eventbridge-stack-create-failed.json", &stack_id)
        .await;
    let failed = env.tenant(&id).await;
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["statusReason"]
            .as_str()
            .unwrap()
            .starts_with("CREATE_FAILED: "),
        "{failed}"
    );
    let (status, body) = env
        .call("POST", "/retry", json!({"tenantId": id}).to_string())
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "provisioning");
    assert_eq!(env.stacks_named(&format!("silos-tenant-{id}")).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_onboardings_of_one_name_give_one_201_and_nineteen_409s() {
    let env = std::sync::Arc::new(env().await);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let env = env.clone();
            // The same name key, written differently.
            let name = ["Initech", " initech ", "ＩＮＩＴＥＣＨ", "INITECH"][i % 4];
            tokio::spawn(async move {
                env.call(
                    "POST",
                    "/onboarding",
                    json!({"tenantName": name, "deploymentType": "silo"}).to_string(),
                )
                .await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        if status != StatusCode::CREATED {
            assert_eq!(error_code(&body), "TenantNameTaken", "{body}");
        }
        statuses.push(status);
    }
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 19));
    let (_, all) = env.call("GET", "/tenants", Body::empty()).await;
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
}

#[tokio::test]
async fn the_reconciler_repairs_tenants_a_crash_or_a_lost_event_left_stuck() {
    use silos::control_plane::reconciler::Repair;
    use silos::control_plane::store::Changes;
    use silos::control_plane::tenant::Status;
    let env = env().await;

    // A crash between the move to provisioning and CreateStack: no stack id.
    let a = env.onboard("Crashed").await;
    let a_id = a["tenantId"].as_str().unwrap().to_owned();
    env.cp
        .store()
        .transition(
            &a_id,
            Status::Initiated,
            Status::Provisioning,
            &Changes {
                stack_name: Some(format!("silos-tenant-{a_id}")),
                new_attempt: true,
                ..Changes::default()
            },
        )
        .await
        .unwrap();

    // A stack that completed, whose event was lost.
    let b = env.onboard("Lost Event").await;
    let b_id = b["tenantId"].as_str().unwrap().to_owned();
    env.cp.handle_stream(env.insert_record(&b).await).await;
    assert_eq!(env.tenant(&b_id).await["status"], "provisioning");

    // A tenant that moved just now is left alone.
    assert_eq!(
        env.cp
            .reconcile(std::time::Duration::from_secs(3600))
            .await
            .unwrap(),
        vec![]
    );
    let repairs = env.cp.reconcile(std::time::Duration::ZERO).await.unwrap();
    assert_eq!(repairs.len(), 2, "{repairs:?}");
    assert!(repairs.contains(&Repair::Resumed {
        tenant: a_id.clone(),
        status: Status::Provisioning
    }));
    let crashed = env.tenant(&a_id).await;
    assert!(crashed["stackId"].is_string(), "CreateStack ran: {crashed}");
    assert_eq!(env.stacks_named(&format!("silos-tenant-{a_id}")).await, 1);
    assert_eq!(env.tenant(&b_id).await["status"], "running");

    // A second pass finishes the first tenant from its stack, and then there is nothing left.
    env.cp.reconcile(std::time::Duration::ZERO).await.unwrap();
    assert_eq!(env.tenant(&a_id).await["status"], "running");
    assert_eq!(
        env.cp.reconcile(std::time::Duration::ZERO).await.unwrap(),
        vec![]
    );
    assert_eq!(
        env.stacks_named(&format!("silos-tenant-{a_id}")).await,
        1,
        "no second stack"
    );
}

#[tokio::test]
async fn an_unreachable_cloudformation_leaves_the_tenant_provisioning_for_the_reconciler() {
    use aws_config::retry::RetryConfig;
    let env = env().await;
    // The same control plane, but CloudFormation cannot be reached.
    let dead = aws_sdk_cloudformation::Client::from_conf(
        aws_sdk_cloudformation::config::Builder::from(&silos::aws::emulator(
            "http://127.0.0.1:9",
            "us-east-1",
        ))
        .retry_config(RetryConfig::disabled())
        .build(),
    );
    let cut_off = silos::control_plane::ControlPlane::from_clients(
        env.dynamodb.clone(),
        dead,
        env.s3.clone(),
        env.cp.settings().clone(),
    );
    let acme = env.onboard("Cut Off").await;
    let id = acme["tenantId"].as_str().unwrap().to_owned();
    let response = cut_off.handle_stream(env.insert_record(&acme).await).await;
    assert_eq!(
        response.batch_item_failures.len(),
        1,
        "the record is retried"
    );
    let stuck = env.tenant(&id).await;
    assert_eq!(stuck["status"], "provisioning", "not failed: {stuck}");
    assert_eq!(stuck["stackId"], Value::Null);

    // Once CloudFormation answers again, the reconciler resumes it.
    env.cp.reconcile(std::time::Duration::ZERO).await.unwrap();
    env.cp.reconcile(std::time::Duration::ZERO).await.unwrap();
    assert_eq!(env.tenant(&id).await["status"], "running");
    assert_eq!(env.stacks_named(&format!("silos-tenant-{id}")).await, 1);
}

/// The bytes a body takes in the Lambda response that carries it (as `api::RESPONSE_BUDGET`
/// counts them): each `"` and `\` twice.
fn embedded(body: &Value) -> usize {
    let text = body.to_string();
    text.len() + text.bytes().filter(|b| matches!(b, b'"' | b'\\')).count()
}

/// Follows `GET /tenants` pages from `first` (a paging request) to the end: the tenant ids of
/// each page.
async fn follow(env: &common::env::Env, limits: api::Limits, first: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut path = first.to_owned();
    loop {
        let (status, headers, page, _) = env.get_with(limits, &path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        assert!(embedded(&page) <= limits.response_budget, "{path}");
        let ids: Vec<String> = page["tenants"]
            .as_array()
            .unwrap_or_else(|| panic!("{path}: not a page: {page}"))
            .iter()
            .map(|t| t["tenantId"].as_str().unwrap().to_owned())
            .collect();
        pages.push(ids);
        let header = headers
            .get(api::NEXT_TOKEN_HEADER)
            .map(|h| h.to_str().unwrap().to_owned());
        match page["nextToken"].as_str() {
            Some(token) => {
                assert_eq!(header.as_deref(), Some(token), "the header says the same");
                let base = first
                    .split("nextToken=")
                    .next()
                    .unwrap()
                    .trim_end_matches(['&', '?']);
                let sep = if base.contains('?') { "&" } else { "?" };
                path = format!("{base}{sep}nextToken={token}");
            }
            None => {
                assert_eq!(page["nextToken"], Value::Null, "{page}");
                assert_eq!(header, None);
                return pages;
            }
        }
        assert!(pages.len() < 100, "the listing never ends");
    }
}

fn ids(tenants: &Value) -> Vec<String> {
    tenants
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {tenants}"))
        .iter()
        .map(|t| t["tenantId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn get_tenants_pages_with_limit_and_next_token_and_lists_by_status() {
    let env = env().await;
    let mut onboarded = Vec::new();
    for i in 0..7 {
        onboarded.push(env.onboard(&format!("Tenant {i}")).await);
    }
    let mut oldest_first = onboarded.clone();
    oldest_first.sort_by_key(|t| {
        (
            t["created"]
                .as_str()
                .unwrap()
                .parse::<silos::control_plane::tenant::Timestamp>()
                .unwrap(),
            t["tenantId"].as_str().unwrap().to_owned(),
        )
    });
    let all_ids = ids(&Value::Array(onboarded.clone()));
    let limits = api::Limits::default();

    // No paging parameters: the array, every tenant, oldest first, as before paging.
    let (status, headers, all, _) = env.get_with(limits, "/tenants").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all, Value::Array(oldest_first.clone()));
    assert_eq!(headers.get(api::NEXT_TOKEN_HEADER), None);

    // Pages of 3: every tenant once, full pages but the last.
    let pages = follow(&env, limits, "/tenants?limit=3").await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [3, 3, 1],
        "{pages:?}"
    );
    let mut listed = pages.concat();
    listed.sort();
    let mut expected = all_ids.clone();
    expected.sort();
    assert_eq!(listed, expected);
    // A nextToken alone pages with the default limit, which holds the rest.
    let (_, _, first, _) = env.get_with(limits, "/tenants?limit=2").await;
    let token = first["nextToken"].as_str().unwrap();
    let (_, _, rest, _) = env
        .get_with(limits, &format!("/tenants?nextToken={token}"))
        .await;
    assert_eq!(rest["nextToken"], Value::Null, "{rest}");
    assert_eq!(rest["tenants"].as_array().unwrap().len(), 5, "{rest}");

    // By status: through the index, exactly the tenants in it.
    for t in &onboarded[..2] {
        env.cp
            .store()
            .transition(
                t["tenantId"].as_str().unwrap(),
                Status::Initiated,
                Status::Failed,
                &Default::default(),
            )
            .await
            .unwrap();
    }
    let (status, _, failed, _) = env.get_with(limits, "/tenants?status=failed").await;
    assert_eq!(status, StatusCode::OK, "{failed}");
    let mut failed = ids(&failed);
    failed.sort();
    let mut expected = all_ids[..2].to_vec();
    expected.sort();
    assert_eq!(failed, expected, "status alone: the array shape");
    let initiated = follow(&env, limits, "/tenants?status=initiated&limit=2").await;
    assert_eq!(initiated.len(), 3, "{initiated:?}");
    let mut initiated = initiated.concat();
    initiated.sort();
    let mut expected = all_ids[2..].to_vec();
    expected.sort();
    assert_eq!(initiated, expected);
    let (_, _, none, _) = env
        .get_with(limits, "/tenants?status=deleted&limit=5")
        .await;
    assert_eq!(none, json!({"tenants": [], "nextToken": null}));
}

#[tokio::test]
async fn bad_list_parameters_are_400s_in_the_error_shape() {
    let env = env().await;
    for i in 0..2 {
        env.onboard(&format!("Tenant {i}")).await;
    }
    let (_, _, page, _) = env
        .get_with(api::Limits::default(), "/tenants?status=initiated&limit=1")
        .await;
    let status_token = page["nextToken"].as_str().unwrap().to_owned();
    let cases = [
        ("/tenants?limit=0", "InvalidLimit"),
        ("/tenants?limit=1001", "InvalidLimit"),
        ("/tenants?limit=-1", "InvalidLimit"),
        ("/tenants?limit=ten", "InvalidLimit"),
        ("/tenants?limit=", "InvalidLimit"),
        ("/tenants?status=bogus", "InvalidStatus"),
        ("/tenants?status=Running", "InvalidStatus"),
        ("/tenants?nextToken=garbage!", "InvalidNextToken"),
        ("/tenants?nextToken=", "InvalidNextToken"),
        ("/tenants?nextToken=eyJ2IjoxfQ", "InvalidNextToken"),
        (
            &format!("/tenants?nextToken={status_token}"),
            "InvalidNextToken",
        ),
        (
            &format!("/tenants?status=failed&nextToken={status_token}"),
            "InvalidNextToken",
        ),
        ("/tenants?page=2", "InvalidQuery"),
        ("/tenants?limit=1&limit=2", "InvalidQuery"),
    ];
    for (path, code) in cases {
        let (status, _, body, _) = env.get_with(api::Limits::default(), path).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::BAD_REQUEST, code),
            "{path}: {body}"
        );
        assert!(body["error"]["message"].is_string(), "{body}");
    }
    let (_, _, message, _) = env
        .get_with(api::Limits::default(), "/tenants?limit=1001")
        .await;
    assert_eq!(
        message["error"]["message"],
        "limit \"1001\" is not a whole number from 1 to 1000"
    );
    // Nothing changed.
    let (_, _, all, _) = env.get_with(api::Limits::default(), "/tenants").await;
    assert_eq!(all.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_list_answer_stops_before_its_byte_budget_and_says_where_to_go_on() {
    let env = env().await;
    let mut all = Vec::new();
    for i in 0..9 {
        all.push(
            env.onboard(&format!("Tenant {i}")).await["tenantId"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    all.sort();
    // Room for about three tenants beside a page's overhead.
    let one = embedded(&env.tenant(&all[0]).await);
    let limits = api::Limits {
        response_budget: 2048 + 3 * (one + 1) + 2,
    };
    // Without paging parameters: the array, cut short, and the header to continue from.
    let (status, headers, first, _) = env.get_with(limits, "/tenants").await;
    assert_eq!(status, StatusCode::OK);
    assert!(embedded(&first) <= limits.response_budget);
    let first = ids(&first);
    assert!((1..9).contains(&first.len()), "{first:?}");
    let token = headers
        .get(api::NEXT_TOKEN_HEADER)
        .expect("the header of a cut answer")
        .to_str()
        .unwrap()
        .to_owned();
    // The rest, page by page (asking for more than fits: each page is cut by the budget too).
    let rest = follow(
        &env,
        limits,
        &format!("/tenants?limit=1000&nextToken={token}"),
    )
    .await;
    assert!(rest.len() >= 2, "{rest:?}");
    let mut listed = [vec![first], rest].concat().concat();
    listed.sort();
    assert_eq!(listed, all, "every tenant exactly once");
}

#[tokio::test]
async fn pages_hold_every_tenant_once_while_others_are_onboarded() {
    let env = env().await;
    let mut before = Vec::new();
    for i in 0..10 {
        before.push(
            env.onboard(&format!("Before {i}")).await["tenantId"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // Ten more onboarded while the pages of two are read, on the same runtime.
    let onboarding = async {
        let mut during = Vec::new();
        for i in 0..10 {
            during.push(
                env.onboard(&format!("During {i}")).await["tenantId"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
            tokio::task::yield_now().await;
        }
        during
    };
    let (pages, during) = tokio::join!(
        follow(&env, api::Limits::default(), "/tenants?limit=2"),
        onboarding
    );
    let listed = pages.concat();
    let unique: std::collections::HashSet<&String> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "no tenant twice: {pages:?}");
    for id in &before {
        assert!(unique.contains(id), "{id} is missing: {pages:?}");
    }
    assert!(
        listed
            .iter()
            .all(|id| before.contains(id) || during.contains(id)),
        "{pages:?}"
    );
    assert!(pages.iter().all(|p| p.len() <= 2), "{pages:?}");
}

/// CloudFormation throttling the provisioner: every attempt of the first CreateStack is
/// answered `Throttling`. The SDK retries with backoff, then the cell's calls pause; the
/// tenant stays `provisioning` (never `failed`) and its redelivered record provisions it.
#[tokio::test]
async fn a_throttled_cloudformation_pauses_the_cell_and_fails_no_tenant() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_smithy_runtime_api::box_error::BoxError;
    use aws_smithy_runtime_api::client::interceptors::Intercept;
    use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextMut;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::config_bag::ConfigBag;

    /// Answers the next `left` calls with CloudFormation's throttling error, and notes when
    /// each call is sent.
    #[derive(Debug)]
    struct Throttle {
        left: Arc<AtomicUsize>,
        answered: Arc<AtomicUsize>,
        sent: Arc<std::sync::Mutex<Vec<tokio::time::Instant>>>,
    }
    impl Intercept for Throttle {
        fn name(&self) -> &'static str {
            "Throttle"
        }
        fn read_before_transmit(
            &self,
            _: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
            _: &RuntimeComponents,
            _: &mut ConfigBag,
        ) -> Result<(), BoxError> {
            self.sent.lock().unwrap().push(tokio::time::Instant::now());
            Ok(())
        }
        fn modify_before_deserialization(
            &self,
            context: &mut BeforeDeserializationInterceptorContextMut<'_>,
            _: &RuntimeComponents,
            _: &mut ConfigBag,
        ) -> Result<(), BoxError> {
            let throttle = self
                .left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if throttle {
                self.answered.fetch_add(1, Ordering::SeqCst);
                *context.response_mut() = HttpResponse::new(
                    400.try_into().unwrap(),
                    SdkBody::from(
                        "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>\
                         <Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>",
                    ),
                );
            }
            Ok(())
        }
    }

    let env = env().await;
    let left = Arc::new(AtomicUsize::new(usize::MAX));
    let answered = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
    let config = env.moto.sdk_config();
    let throttled = aws_sdk_cloudformation::Client::from_conf(
        aws_sdk_cloudformation::config::Builder::from(&config)
            .interceptor(Throttle {
                left: left.clone(),
                answered: answered.clone(),
                sent: sent.clone(),
            })
            .build(),
    );
    let cp = silos::control_plane::ControlPlane::from_clients(
        env.dynamodb.clone(),
        throttled,
        env.s3.clone(),
        env.cp.settings().clone(),
    );
    let tenant = env.onboard("Throttled").await;
    let id = tenant["tenantId"].as_str().unwrap().to_owned();
    let record = env.insert_record(&tenant).await;
    let response = cp.handle_stream(record.clone()).await;
    assert_eq!(
        response.batch_item_failures.len(),
        1,
        "the record is retried"
    );
    let attempts = answered.load(Ordering::SeqCst);
    assert!(
        attempts >= 2,
        "the SDK retried before giving up: {attempts}"
    );
    let stuck = env.tenant(&id).await;
    assert_eq!(stuck["status"], "provisioning", "not failed: {stuck}");
    assert_eq!(cp.throttles(), [("home".to_owned(), 1)]);
    // The pause as the bucket holds it, and the calls as they were sent: no stopwatch that
    // starts after the pause began.
    let paused_until = cp
        .paused_until("home")
        .expect("the cell's calls are paused");
    let throttled_calls = sent.lock().unwrap().len();

    // CloudFormation answers again; the redelivery waits out the cell's pause, then
    // provisions the tenant.
    left.store(0, Ordering::SeqCst);
    let response = cp.handle_stream(record).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let redelivered = sent.lock().unwrap()[throttled_calls..].to_vec();
    assert!(
        !redelivered.is_empty(),
        "the redelivery called CloudFormation"
    );
    assert!(
        redelivered.iter().all(|at| *at >= paused_until),
        "no call went out before the cell's pause ended"
    );
    let t = env.tenant(&id).await;
    assert_eq!(t["status"], "provisioning");
    assert!(t["stackId"].is_string(), "{t}");
    assert_eq!(t["cell"], "home");
}

/// A tenant whose stream record was given up (after its retries, or behind a throttled
/// batch) stays `initiated`; the reconciler starts its provisioning.
#[tokio::test]
async fn the_reconciler_provisions_a_tenant_its_stream_record_never_reached() {
    let env = env().await;
    let stranded = env.onboard("Stranded").await;
    let id = stranded["tenantId"].as_str().unwrap().to_owned();
    assert_eq!(env.tenant(&id).await["status"], "initiated");
    // Not while it is young: the stream may still deliver it.
    assert_eq!(
        env.cp
            .reconcile(std::time::Duration::from_secs(3600))
            .await
            .unwrap(),
        vec![]
    );
    let repairs = env.cp.reconcile(std::time::Duration::ZERO).await.unwrap();
    // Provisioning starts; later in the same pass (the emulator creates stacks at once) its
    // stack's status is applied.
    assert_eq!(
        repairs[0],
        silos::control_plane::reconciler::Repair::Resumed {
            tenant: id.clone(),
            status: silos::control_plane::tenant::Status::Provisioning,
        },
        "{repairs:?}"
    );
    let t = env.tenant(&id).await;
    assert!(t["stackId"].is_string(), "{t}");
    assert_eq!(t["status"], "running", "{t}");
    assert_eq!(env.stacks_named(&format!("silos-tenant-{id}")).await, 1);
}

/// Two alarms of one tenant reported at once: both writes land (the loser reads again), the
/// tenant is `alarm` with both, a redelivery changes nothing, and an alarm of no tenant, or
/// of another stack, is left alone.
#[tokio::test]
async fn racing_alarm_events_both_land_and_a_redelivery_changes_nothing() {
    use silos::control_plane::health::Handled as Health;
    let env = env().await;
    let (id, _) = env.running("Acme Corp").await;
    let stack = format!("silos-tenant-{id}");
    let (errors, duration) = (format!("{stack}-errors"), format!("{stack}-duration"));
    let (a, b) = tokio::join!(
        env.alarm_event(&errors, "ALARM", "2026-12-07T17:04:40.100+0000"),
        env.alarm_event(&duration, "ALARM", "2026-12-07T17:04:40.200+0000"),
    );
    for handled in [&a, &b] {
        assert!(
            matches!(handled, Health::Recorded { changed: true, .. }),
            "{handled:?}"
        );
    }
    let tenant = env.tenant(&id).await;
    assert_eq!(tenant["health"]["status"], "alarm", "{tenant}");
    let mut firing: Vec<&str> = tenant["health"]["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["state"] == "ALARM")
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    firing.sort();
    assert_eq!(firing, [duration.as_str(), errors.as_str()]);
    assert_eq!(
        env.alarm_event(&errors, "ALARM", "2026-12-07T17:04:40.100+0000")
            .await,
        Health::Stale(id.clone())
    );
    assert_eq!(env.tenant(&id).await, tenant);
    assert_eq!(
        env.alarm_event("other-app-errors", "ALARM", "2026-12-07T17:04:41.000+0000")
            .await,
        Health::NotATenantAlarm
    );
    // A name under the tenant's id but not its stack's: another app's stack naming scheme.
    let foreign = format!("silos-tenant-x-{id}-errors");
    assert_eq!(
        env.alarm_event(&foreign, "ALARM", "2026-12-07T17:04:41.000+0000")
            .await,
        Health::OtherStack(id.clone())
    );
    // The dashboard's counts: two alarms fired, and two health changes (to alarm, then a
    // second alarm firing).
    let written = env.cp.metrics().recorded();
    let count = |name: &str| written.iter().filter(|d| d.get(name).is_some()).count();
    assert_eq!(
        (count("AlarmsFired"), count("HealthChanges")),
        (2, 2),
        "{written:#?}"
    );
}
