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
/// the function's behalf (logs, the stream's reads, dead-letter sends) and the ones
/// CloudFormation uses with the function's credentials to read resources for drift detection
/// (`DriftRead*` statements, checked in `tests/synth.rs`).
fn granted(template: &Value, function: &str) -> BTreeSet<String> {
    let role = function.strip_suffix("Function").unwrap().to_owned() + "Role";
    let mut actions = BTreeSet::new();
    for policy in template["Resources"][&role]["Properties"]["Policies"]
        .as_array()
        .unwrap()
    {
        for st in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
            if st["Sid"]
                .as_str()
                .is_some_and(|s| s.starts_with(silos::stacks::provisioning::DRIFT_READ_SID))
            {
                continue;
            }
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

const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Acme";

/// What API Gateway's JWT authorizer hands the tenant function for one of t-1's users.
fn tenant_users_context() -> lambda_http::request::RequestContext {
    let context = serde_json::from_value(json!({
        "authorizer": {"jwt": {"claims": {"iss": ISSUER, "custom:tenantId": "t-1"}}},
        "http": {"method": "GET"}
    }))
    .unwrap();
    lambda_http::request::RequestContext::ApiGatewayV2(context)
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
        json!({"tenantName": "Acme", "deploymentType": "silo", "adminEmail": "ops@acme.example"}),
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
    // Then its front door is recorded from its stack's outputs (a write that moves no
    // status), and its administrator invited.
    recorder.take();
    let ready = env.cp.handle_stream(env.modify_record(&id).await).await;
    assert!(ready.batch_item_failures.is_empty(), "{ready:?}");
    record("ProvisionerFunction", &recorder);
    let front = env.tenant(&id).await;
    assert!(front["endpoint"].is_string(), "{front}");
    assert_eq!(front["adminInviteError"], Value::Null, "{front}");
    recorder.take();

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

    // A tier move's plan: the same silo at the version the tenant is at, and a second type.
    env.publish_catalog("tiers", |c| {
        let silo = c.deployment_types.get_mut("silo").unwrap();
        memory("512")(silo);
        let mut large = silo.clone();
        large.blueprint.deployment_type = "large".to_owned();
        c.deployment_types.insert("large".to_owned(), large);
    })
    .await;
    let (status, body) = env
        .call(
            "POST",
            "/move-plan",
            json!({"tenantId": id, "deploymentType": "large"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    record("MovePlanFunction", &recorder);

    // An alarm fires, then a late report of an older state arrives (read, nothing written),
    // and a second alarm's report races nothing.
    let alarm = format!("{}-errors", front["stackName"].as_str().unwrap());
    recorder.take();
    let handled = env
        .alarm_event(&alarm, "ALARM", "2026-12-07T17:04:40.989+0000")
        .await;
    assert!(
        matches!(
            handled,
            silos::control_plane::health::Handled::Recorded { changed: true, .. }
        ),
        "{handled:?}"
    );
    let handled = env
        .alarm_event(&alarm, "OK", "2026-12-07T17:03:40.985+0000")
        .await;
    assert_eq!(
        handled,
        silos::control_plane::health::Handled::Stale(id.to_string())
    );
    record("HealthFunction", &recorder);

    // Drift detection: started, and (the emulator's being quick) collected at once.
    let (status, body) = env
        .call("POST", "/drift", json!({"tenantIds": [id]}).to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tenants"][0]["drift"]["status"], "IN_SYNC", "{body}");
    record("DriftFunction", &recorder);

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
    // The same schedule's drift pass: its place, and detection on the running tenants.
    let pass = env
        .cp
        .drift_pass(
            std::time::Duration::from_secs(86_400),
            std::time::Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert!(pass.checked > 0 && pass.round_done, "{pass:?}");
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
        // The drifted resources are read only for a stack that drifted; this run's did not.
        (
            "DriftFunction",
            &["cloudformation:DescribeStackResourceDrifts"][..],
        ),
        // A retried tenant cut off before CreateStack clears its dead stack first; this run's
        // tenant was cut off on its first attempt.
        // The drift pass reads drifted resources only for a stack that drifted.
        (
            "ReconcilerFunction",
            &[
                "cloudformation:DeleteChangeSet",
                "cloudformation:DeleteStack",
                "cloudformation:DescribeStackResourceDrifts",
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
            issuer: ISSUER.to_owned(),
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
                    .extension(tenant_users_context())
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

/// IAM's evaluation, for the statements a test reads from the synthesized templates: an
/// explicit Deny wins, else some Allow must match. Actions match without regard to case,
/// resources with it; `*` and `?` are IAM's wildcards. A statement with a condition cannot be
/// judged here, so meeting one fails the test rather than guessing.
mod iam {
    use serde_json::Value;

    pub fn glob(pattern: &str, text: &str) -> bool {
        let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
        let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
        while ti < t.len() {
            if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
                pi += 1;
                ti += 1;
            } else if pi < p.len() && p[pi] == '*' {
                star = Some(pi);
                mark = ti;
                pi += 1;
            } else if let Some(s) = star {
                pi = s + 1;
                mark += 1;
                ti = mark;
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|c| *c == '*')
    }

    /// A tenant stack's names and ARNs, as CloudFormation resolves them for stack `stack`.
    pub struct Stack<'a> {
        pub template: &'a Value,
        pub name: String,
    }

    const REGION: &str = "us-east-1";
    const ACCOUNT: &str = "123456789012";

    impl Stack<'_> {
        pub fn resolve(&self, v: &Value) -> String {
            if let Some(s) = v.as_str() {
                return s.to_owned();
            }
            if v["Ref"] == "AWS::StackName" {
                return self.name.clone();
            }
            if let Some(text) = v["Fn::Sub"].as_str() {
                let mut out = text
                    .replace("${AWS::Partition}", "aws")
                    .replace("${AWS::Region}", REGION)
                    .replace("${AWS::AccountId}", ACCOUNT)
                    .replace("${AWS::StackName}", &self.name);
                assert!(!out.contains("${"), "cannot resolve {v}");
                out.shrink_to_fit();
                return out;
            }
            if let Some([id, attribute]) = v["Fn::GetAtt"].as_array().map(Vec::as_slice) {
                assert_eq!(attribute, "Arn", "{v}");
                return self.arn(id.as_str().unwrap());
            }
            panic!("cannot resolve {v}")
        }

        /// The ARN of resource `id`, from its type and its resolved name (CloudFormation's
        /// generated one, `{stack}-{id}-{suffix}`, where the template sets none).
        pub fn arn(&self, id: &str) -> String {
            let r = &self.template["Resources"][id];
            let p = &r["Properties"];
            let name = |key: &str| match &p[key] {
                Value::Null => format!("{}-{id}-1A2B3C4D5E6F", self.name),
                v => self.resolve(v),
            };
            let prefix = |service: &str| format!("arn:aws:{service}:{REGION}:{ACCOUNT}");
            match r["Type"].as_str().unwrap() {
                "AWS::DynamoDB::Table" => {
                    format!("{}:table/{}", prefix("dynamodb"), name("TableName"))
                }
                "AWS::Logs::LogGroup" => {
                    format!("{}:log-group:{}:*", prefix("logs"), name("LogGroupName"))
                }
                "AWS::Lambda::Function" => {
                    format!("{}:function:{}", prefix("lambda"), name("FunctionName"))
                }
                other => panic!("no ARN rule for {other} ({id})"),
            }
        }
    }

    /// Whether `statements` (resolved in `stack`) allow `action` on `resource`.
    pub fn allows(statements: &[Value], stack: &Stack, action: &str, resource: &str) -> bool {
        let mut allowed = false;
        for st in statements {
            let list = |v: &Value| match v {
                Value::Array(items) => items.clone(),
                other => vec![other.clone()],
            };
            let action_matches = list(&st["Action"]).iter().any(|a| {
                glob(
                    &a.as_str().unwrap().to_ascii_lowercase(),
                    &action.to_ascii_lowercase(),
                )
            });
            let resource_matches = list(&st["Resource"])
                .iter()
                .any(|r| glob(&stack.resolve(r), resource));
            if !(action_matches && resource_matches) {
                continue;
            }
            assert!(st.get("Condition").is_none(), "a condition to judge: {st}");
            match st["Effect"].as_str() {
                Some("Deny") => return false,
                _ => allowed = true,
            }
        }
        allowed
    }
}

/// Tenant A's function role reaches A's table and nothing of B's, nor the control plane's
/// tenants table: IAM's evaluation of the synthesized role policy and the tenant boundary,
/// with the stack names CloudFormation gives two tenants.
#[test]
fn tenant_a_s_role_reaches_its_own_resources_and_none_of_tenant_b_s() {
    let silo = template("tenant-silo.json");
    let control_plane = control_plane_template();
    let a = iam::Stack {
        template: &silo,
        name: "silos-tenant-7f3c2a9e-5b1d-4e8a-9c6f-2d4b8a1e3f70".to_owned(),
    };
    let b = iam::Stack {
        template: &silo,
        name: "silos-tenant-0f8c2d3e-5b1d-4e8a-9c6f-2d4b8a1e3f71".to_owned(),
    };
    let role: Vec<Value> = silo["Resources"]["TenantRole"]["Properties"]["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap().clone())
        .collect();
    let boundary =
        control_plane["Resources"]["TenantBoundary"]["Properties"]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap()
            .clone();
    let may = |stack: &iam::Stack, action: &str, resource: &str| {
        iam::allows(&role, stack, action, resource)
            && iam::allows(&boundary, stack, action, resource)
    };
    // The evaluation can say yes: A's own table and log group.
    let a_table = a.arn("TenantTable");
    for action in [
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:DeleteItem",
    ] {
        assert!(may(&a, action, &a_table), "{action} on A's own table");
    }
    assert!(may(&a, "logs:PutLogEvents", &a.arn("TenantLogGroup")));
    // Every action any statement names, and the data actions besides, on every resource of
    // B's stack that has an ARN here, and on the control plane's tenants table.
    let mut actions: BTreeSet<String> = role
        .iter()
        .flat_map(|st| st["Action"].as_array().unwrap().clone())
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    actions.extend(
        [
            "dynamodb:Scan",
            "dynamodb:BatchGetItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:UpdateItem",
            "lambda:InvokeFunction",
            "logs:GetLogEvents",
        ]
        .map(str::to_owned),
    );
    let mut theirs: Vec<String> = silo["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| {
            matches!(
                r["Type"].as_str(),
                Some("AWS::DynamoDB::Table" | "AWS::Logs::LogGroup" | "AWS::Lambda::Function")
            )
        })
        .map(|(id, _)| b.arn(id))
        .collect();
    let tenants_table = control_plane["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, r)| r["Type"] == "AWS::DynamoDB::Table")
        .map(|(id, _)| {
            iam::Stack {
                template: &control_plane,
                name: "silos-control-plane".into(),
            }
            .arn(id)
        })
        .unwrap();
    theirs.push(tenants_table);
    assert!(theirs.len() >= 4, "{theirs:?}");
    for resource in &theirs {
        for action in &actions {
            assert!(
                !may(&a, action, resource),
                "A's role may {action} on {resource}"
            );
        }
    }
    // The glob is IAM's: `*` spans any run, `?` one character, and nothing else is special.
    assert!(iam::glob("table/silos-tenant-*", "table/silos-tenant-x"));
    assert!(!iam::glob("table/silos-tenant-?", "table/silos-tenant-xy"));
    assert!(!iam::glob("table/a", "table/ab"));
}
