//! A control plane on the emulator: the real local control-plane template deployed by
//! CloudFormation, the synthesized tenant template and catalog published as deploy does.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_sdk_cloudformation::types::Parameter;
use aws_sdk_dynamodb::types::AttributeValue;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use silos::control_plane::events::{DetailTypes, Publisher};
use silos::control_plane::stack_events::{Handled, StackStatusEvent};
use silos::control_plane::{ControlPlane, Settings, api};
use silos::stacks::{Config, TENANT_ARTIFACT};
use silos::synth::{self, Catalog, DeploymentType, Format};
use tower::ServiceExt;

use super::Moto;
use super::faults::FaultProxy;
use super::recorder::Recorder;

pub const BUCKET: &str = "silos-artifacts";
pub const TENANT_CODE_KEY: &str = "lambda/tenant-function/placeholder.zip";

pub struct Env {
    pub moto: Moto,
    pub cp: ControlPlane,
    pub cfn: aws_sdk_cloudformation::Client,
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub template_key: String,
    /// The catalog as published first.
    pub catalog: Catalog,
    /// The synthesized AWS control-plane template.
    pub control_plane_template: Value,
    /// The lifecycle event publisher, on the stack's bus (`EventBusName`).
    pub publisher: Publisher,
    /// The proxy between the control plane's clients and the emulator, if the env has one
    /// ([`env_with_faults`]). The test's own clients (`cfn`, `s3`, `dynamodb`) go direct.
    pub faults: Option<FaultProxy>,
}

/// Deploys control-plane-local into the emulator and publishes the tenant template, a
/// placeholder tenant zip (the emulator never runs it) and the catalog.
pub async fn env() -> Env {
    env_with(None).await
}

/// As [`env`], with `recorder` on every client the control plane uses.
pub async fn env_with(recorder: Option<Recorder>) -> Env {
    build(recorder, None).await
}

/// As [`env`], with the control plane's clients behind a [`FaultProxy`] seeded with `seed`
/// (no faults until the test asks for them).
pub async fn env_with_faults(seed: u64) -> Env {
    build(None, Some(seed)).await
}

async fn build(recorder: Option<Recorder>, faults: Option<u64>) -> Env {
    let moto = Moto::start();
    let config = moto.sdk_config();
    let faults = faults.map(|seed| FaultProxy::start(&moto.endpoint, seed));
    let cp_config = match &faults {
        Some(proxy) => silos::aws::emulator(&proxy.endpoint, "us-east-1"),
        None => config.clone(),
    };
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();

    let out = synth::synth(
        &super::app(),
        &Config::new("silos").unwrap(),
        Path::new("blueprints"),
        Format::Json,
    )
    .unwrap();
    let file = |name: &str| &out.files.iter().find(|f| f.name == name).unwrap().contents;
    cfn.create_stack()
        .stack_name("silos-control-plane")
        .template_body(file("control-plane-local.json"))
        .parameters(
            Parameter::builder()
                .parameter_key("ArtifactsBucket")
                .parameter_value(BUCKET)
                .build(),
        )
        .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityIam)
        .send()
        .await
        .unwrap();
    let stack = cfn
        .describe_stacks()
        .stack_name("silos-control-plane")
        .send()
        .await
        .unwrap();
    let output = |key: &str| {
        stack.stacks()[0]
            .outputs()
            .iter()
            .find(|o| o.output_key() == Some(key))
            .and_then(|o| o.output_value())
            .unwrap_or_else(|| panic!("no output {key}"))
            .to_owned()
    };

    // Publish as deploy does: template by content hash, system parameter values filled in,
    // the catalog by content hash, and the pointer.
    let catalog: Catalog = serde_json::from_str(file("catalog.json")).unwrap();
    let artifact_keys =
        BTreeMap::from([(TENANT_ARTIFACT.name.to_owned(), TENANT_CODE_KEY.to_owned())]);
    let catalog = catalog
        .published(BUCKET, &artifact_keys, silos::deploy::tenant_version)
        .unwrap();
    let template_key = catalog.deployment_types["silo"].template_key.clone();
    let put = |key: String, body: Vec<u8>| {
        let s3 = s3.clone();
        async move {
            s3.put_object()
                .bucket(BUCKET)
                .key(key)
                .body(body.into())
                .send()
                .await
                .unwrap();
        }
    };
    put(
        template_key.clone(),
        file("tenant-silo.json").as_bytes().to_vec(),
    )
    .await;
    // An empty zip archive: the emulator stores it and never runs it.
    let mut empty_zip = b"PK\x05\x06".to_vec();
    empty_zip.extend([0u8; 18]);
    put(TENANT_CODE_KEY.to_owned(), empty_zip).await;
    put(
        "catalog/test.json".to_owned(),
        serde_json::to_vec(&catalog).unwrap(),
    )
    .await;
    put(
        "catalog/current.json".to_owned(),
        json!({"key": "catalog/test.json"}).to_string().into_bytes(),
    )
    .await;

    let with = |b: &mut dyn FnMut(Recorder)| {
        if let Some(r) = &recorder {
            b(r.clone())
        }
    };
    let mut ddb = aws_sdk_dynamodb::config::Builder::from(&cp_config);
    let mut cfn_conf = aws_sdk_cloudformation::config::Builder::from(&cp_config);
    let mut s3_conf = aws_sdk_s3::config::Builder::from(&cp_config).force_path_style(true);
    with(&mut |r| {
        ddb.push_interceptor(aws_sdk_dynamodb::config::SharedInterceptor::new(r));
    });
    with(&mut |r| {
        cfn_conf.push_interceptor(aws_sdk_cloudformation::config::SharedInterceptor::new(r));
    });
    with(&mut |r| {
        s3_conf.push_interceptor(aws_sdk_s3::config::SharedInterceptor::new(r));
    });
    let mut events_conf = aws_sdk_eventbridge::config::Builder::from(&cp_config);
    with(&mut |r| {
        events_conf.push_interceptor(aws_sdk_eventbridge::config::SharedInterceptor::new(r));
    });
    let cp = ControlPlane::from_clients(
        aws_sdk_dynamodb::Client::from_conf(ddb.build()),
        aws_sdk_cloudformation::Client::from_conf(cfn_conf.build()),
        aws_sdk_s3::Client::from_conf(s3_conf.build()),
        Settings {
            prefix: "silos".into(),
            tenants_table: output("TenantsTableName"),
            artifacts_bucket: BUCKET.into(),
            catalog_key: "catalog/current.json".into(),
            region: "us-east-1".into(),
            provisioning_role_arn: Some(output("ProvisioningRoleArn")),
            stack_wait: Duration::from_secs(30),
            catalog_ttl: Duration::ZERO,
        },
    )
    .recording_metrics();
    let mut idp_conf = aws_sdk_cognitoidentityprovider::config::Builder::from(&cp_config);
    with(&mut |r| {
        idp_conf
            .push_interceptor(aws_sdk_cognitoidentityprovider::config::SharedInterceptor::new(r));
    });
    cp.use_home_cognito(aws_sdk_cognitoidentityprovider::Client::from_conf(
        idp_conf.build(),
    ));
    // As on Lambda: a running tenant's stack outputs are read in its cell.
    let publisher = Publisher::new(
        aws_sdk_eventbridge::Client::from_conf(events_conf.build()),
        &output("EventBusName"),
        DetailTypes::Silos,
    )
    .with_stack_outputs_in_cells(cp.clone());
    let control_plane_template = serde_json::from_str(file("control-plane.json")).unwrap();
    Env {
        moto,
        cp,
        cfn,
        s3,
        dynamodb: aws_sdk_dynamodb::Client::new(&config),
        template_key,
        catalog,
        control_plane_template,
        publisher,
        faults,
    }
}

impl Env {
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: impl Into<Body>,
    ) -> (StatusCode, Value) {
        let (status, _, value) = self.call_as(method, path, body, None, None).await;
        (status, value)
    }

    /// As [`call`](Self::call), with an `Idempotency-Key` and a caller (as the host's
    /// authorizer would set), and the response headers too.
    pub async fn call_as(
        &self,
        method: &str,
        path: &str,
        body: impl Into<Body>,
        key: Option<&str>,
        caller: Option<&str>,
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        let (status, headers, value, _) = self
            .call_with(api::Limits::default(), method, path, body, key, caller)
            .await;
        (status, headers, value)
    }

    /// `GET path` through a router with `limits`: the status, headers, JSON body and the
    /// body's length in bytes.
    pub async fn get_with(
        &self,
        limits: api::Limits,
        path: &str,
    ) -> (StatusCode, axum::http::HeaderMap, Value, usize) {
        self.call_with(limits, "GET", path, Body::empty(), None, None)
            .await
    }

    async fn call_with(
        &self,
        limits: api::Limits,
        method: &str,
        path: &str,
        body: impl Into<Body>,
        key: Option<&str>,
        caller: Option<&str>,
    ) -> (StatusCode, axum::http::HeaderMap, Value, usize) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let mut request = request.body(body.into()).unwrap();
        if let Some(caller) = caller {
            request
                .extensions_mut()
                .insert(silos::control_plane::idempotency::Caller(caller.to_owned()));
        }
        let response = api::router_with(self.cp.clone(), limits)
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "{method} {path}: non-JSON body {:?}",
                String::from_utf8_lossy(&bytes)
            )
        });
        (status, headers, value, bytes.len())
    }

    pub async fn onboard(&self, name: &str) -> Value {
        let (status, body) = self
            .call(
                "POST",
                "/onboarding",
                json!({"tenantName": name, "deploymentType": "silo"}).to_string(),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Onboards `name` and brings it to `running` (provisioned, CREATE_COMPLETE) through the
    /// control plane. Returns its id and stack id.
    pub async fn running(&self, name: &str) -> (String, String) {
        let tenant = self.onboard(name).await;
        let id = tenant["tenantId"].as_str().unwrap().to_owned();
        let response = self
            .cp
            .handle_stream(self.insert_record(&tenant).await)
            .await;
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
        let stack_id = self.tenant(&id).await["stackId"]
            .as_str()
            .unwrap()
            .to_owned();
        self.stack_event("eventbridge-stack-create-complete.json", &stack_id)
            .await;
        assert_eq!(self.tenant(&id).await["status"], "running");
        (id, stack_id)
    }

    pub async fn tenant(&self, id: &str) -> Value {
        let (status, body) = self
            .call("GET", &format!("/tenants/{id}"), Body::empty())
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// The stream record of the fixture, carrying this tenant's item as it was inserted.
    pub async fn insert_record(&self, tenant: &Value) -> StreamEvent {
        let id = tenant["tenantId"].as_str().unwrap();
        let mut image = self.image(id).await;
        // As inserted: the stream record of the INSERT shows the first status.
        image.insert(
            "status".to_owned(),
            serde_dynamo::AttributeValue::S("initiated".to_owned()),
        );
        stream_event("dynamodb-stream-insert.json", id, image)
    }

    /// The stream record of the fixture's MODIFY, carrying this tenant's item as it is now.
    pub async fn modify_record(&self, tenant_id: &str) -> StreamEvent {
        let image = self.image(tenant_id).await;
        stream_event("dynamodb-stream-modify.json", tenant_id, image)
    }

    /// The tenant's item as it is now, as a stream record's image.
    async fn image(&self, id: &str) -> serde_dynamo::Item {
        let item = self
            .dynamodb
            .get_item()
            .table_name(&self.cp.settings().tenants_table)
            .key("tenantId", AttributeValue::S(id.to_owned()))
            .send()
            .await
            .unwrap()
            .item
            .expect("the tenant's item");
        item.into_iter()
            .map(|(k, v)| (k, serde_dynamo::AttributeValue::from(v)))
            .collect::<std::collections::HashMap<_, _>>()
            .into()
    }

    /// Publishes a new catalog as deploy would after `change` to the silo entry (its
    /// blueprint, say), with the version recomputed. Returns the new version.
    pub async fn publish(&self, name: &str, change: impl FnOnce(&mut DeploymentType)) -> String {
        let catalog = self
            .publish_catalog(name, |catalog| {
                change(
                    catalog
                        .deployment_types
                        .get_mut("silo")
                        .expect("the silo deployment type"),
                )
            })
            .await;
        catalog.deployment_types["silo"].version.clone().unwrap()
    }

    /// Publishes a new catalog as deploy would after `change` to the first one, with every
    /// entry's version recomputed. Returns it.
    pub async fn publish_catalog(&self, name: &str, change: impl FnOnce(&mut Catalog)) -> Catalog {
        let mut catalog = self.catalog.clone();
        change(&mut catalog);
        for entry in catalog.deployment_types.values_mut() {
            entry.version = Some(silos::deploy::tenant_version(entry));
        }
        let key = format!("catalog/{name}.json");
        for (key, body) in [
            (key.clone(), serde_json::to_string(&catalog).unwrap()),
            (
                "catalog/current.json".to_owned(),
                json!({ "key": key }).to_string(),
            ),
        ] {
            self.s3
                .put_object()
                .bucket(BUCKET)
                .key(key)
                .body(body.into_bytes().into())
                .send()
                .await
                .unwrap();
        }
        catalog
    }

    /// A stack status event of the fixture `name`, for `stack_id`.
    pub async fn stack_event(&self, name: &str, stack_id: &str) -> Handled {
        let mut event: Value = fixture(name);
        event["detail"]["stack-id"] = json!(stack_id);
        event["resources"] = json!([stack_id]);
        let event: StackStatusEvent = serde_json::from_value(event).unwrap();
        self.cp.handle_stack_event(&event).await.unwrap()
    }

    /// The alarm state change fixture for alarm `name` moving to `state` at `timestamp`
    /// (CloudWatch's format), handled as the health function would.
    pub async fn alarm_event(
        &self,
        name: &str,
        state: &str,
        timestamp: &str,
    ) -> silos::control_plane::health::Handled {
        let mut event: Value = fixture("eventbridge-alarm-state-change.json");
        event["detail"]["alarmName"] = json!(name);
        event["detail"]["state"]["value"] = json!(state);
        event["detail"]["state"]["timestamp"] = json!(timestamp);
        let event: silos::control_plane::health::AlarmStateEvent =
            serde_json::from_value(event).unwrap();
        self.cp.handle_alarm_event(&event).await.unwrap()
    }

    pub async fn stacks_named(&self, name: &str) -> usize {
        let out = self.cfn.list_stacks().send().await.unwrap();
        out.stack_summaries()
            .iter()
            .filter(|s| s.stack_name() == Some(name))
            .filter(|s| {
                s.stack_status()
                    .is_some_and(|st| st.as_str() != "DELETE_COMPLETE")
            })
            .count()
    }
}

/// The stream event of fixture `name`, for tenant `id` with `image` as its new image.
fn stream_event(name: &str, id: &str, image: serde_dynamo::Item) -> StreamEvent {
    let mut event: Value = fixture(name);
    let record = &mut event["Records"][0]["dynamodb"];
    record["Keys"]["tenantId"]["S"] = json!(id);
    record["NewImage"] = serde_json::to_value(image).unwrap();
    serde_json::from_value(event).unwrap()
}

pub fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

pub fn error_code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {body}"))
}
