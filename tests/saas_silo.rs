//! The SaaS silo example (`examples/saas-silo`), a tenant stack of ten services, end to end in
//! local mode through its own binary: the tenant runs, every resource of its stack exists on
//! the emulator, the stack carries the tags the provisioning role scopes tagged resources by,
//! and offboarding removes it.

mod common;

use std::path::{Path, PathBuf};

use common::local::Local;

fn saas_binary() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_silos")).with_file_name("saas-silo")
}

#[tokio::test]
async fn a_saas_silo_of_ten_services_runs_tagged_and_offboards() {
    let blueprints = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/saas-silo/blueprints");
    let local = Local::start_app(&saas_binary(), None, Some(&blueprints));
    let id = local.create_typed("Initech", "saas");
    local.wait(&id, "running");
    let stack = format!("silos-tenant-{id}");

    // Every resource of the template the emulator can create, created. moto 5.2.5's
    // CloudFormation has no AWS::ApiGatewayV2::*, AWS::CloudWatch::Alarm or
    // AWS::SecretsManager::Secret: it skips them, and the stack still completes.
    let info = local.json(&["info", &id]);
    let types: std::collections::BTreeSet<String> = info["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["ResourceStatus"]
                .as_str()
                .is_some_and(|s| s.ends_with("_COMPLETE"))
        })
        .map(|r| r["ResourceType"].as_str().unwrap().to_owned())
        .collect();
    for t in [
        "AWS::KMS::Key",
        "AWS::KMS::Alias",
        "AWS::Logs::LogGroup",
        "AWS::SNS::Topic",
        "AWS::Events::Rule",
        "AWS::StepFunctions::StateMachine",
        "AWS::IAM::Role",
        "AWS::SSM::Parameter",
        "AWS::DynamoDB::Table",
        "AWS::Lambda::Function",
    ] {
        assert!(types.contains(t), "{t} in {types:?}: {info}");
    }

    // The stack carries the app's and the tenant's tags, set by the control plane.
    let cfn = aws_sdk_cloudformation::Client::new(&local.sdk_config());
    let described = cfn
        .describe_stacks()
        .stack_name(&stack)
        .send()
        .await
        .unwrap();
    let tags: Vec<(String, String)> = described.stacks()[0]
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_owned(),
                t.value().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(
        tags.contains(&("silos:app".to_owned(), "silos".to_owned())),
        "{tags:?}"
    );
    assert!(
        tags.contains(&("silos:tenant".to_owned(), id.clone())),
        "{tags:?}"
    );
    // And the cost allocation tags, the cell's added by the control plane.
    for (key, value) in [
        ("silos:tenant-id", id.as_str()),
        ("silos:tier", "saas"),
        ("silos:cell", "home"),
        ("silos:prefix", "silos"),
    ] {
        assert!(
            tags.contains(&(key.to_owned(), value.to_owned())),
            "{key}={value} in {tags:?}"
        );
    }

    // Named resources are named after the stack, which is what the role reaches them by.
    let physical = |t: &str| -> Vec<String> {
        info["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["ResourceType"] == t)
            .filter_map(|r| r["PhysicalResourceId"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(
        physical("AWS::SSM::Parameter"),
        [format!("/{stack}/settings")]
    );
    assert!(
        physical("AWS::SNS::Topic")[0].ends_with(&format!(":{stack}-notifications")),
        "{info}"
    );

    let out = local.tenants(&["delete", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    local.wait(&id, "deleted");
}
