//! Synth of the real app: snapshots of every template, determinism, and properties that must
//! hold in the synthesized templates whatever the snapshots say.

use std::path::Path;

use serde_json::Value;
use silos::constructs::Unscoped;
use silos::stacks::Config;
use silos::synth::{self, Format, Output};

fn synth(format: Format) -> Output {
    let config = Config::new("silos").unwrap();
    synth::synth(&config, Path::new("blueprints"), format).unwrap()
}

fn file<'a>(output: &'a Output, name: &str) -> &'a str {
    &output
        .files
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no {name} in the synth output"))
        .contents
}

fn templates(output: &Output) -> Vec<(String, Value)> {
    output
        .manifest
        .stacks
        .iter()
        .map(|s| {
            (
                s.id.clone(),
                serde_json::from_str(file(output, &s.template)).unwrap(),
            )
        })
        .collect()
}

#[test]
fn every_template_matches_its_snapshot() {
    let output = synth(Format::Json);
    for stack in &output.manifest.stacks {
        insta::assert_snapshot!(stack.id.clone(), file(&output, &stack.template));
    }
    insta::assert_snapshot!("catalog", file(&output, "catalog.json"));
}

#[test]
fn synth_is_byte_for_byte_deterministic() {
    for format in [Format::Json, Format::Yaml] {
        let a = synth(format).files;
        let b = synth(format).files;
        assert_eq!(a, b);
        assert!(a.len() >= 6, "templates, catalog and manifest");
    }
}

#[test]
fn the_manifest_describes_every_file_it_lists() {
    let output = synth(Format::Yaml);
    let names: Vec<&str> = output
        .manifest
        .stacks
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "toolkit",
            "control-plane",
            "control-plane-local",
            "tenant-silo"
        ]
    );
    for s in &output.manifest.stacks {
        let contents = file(&output, &s.template);
        assert!(s.template.ends_with(".yaml"));
        assert_eq!(s.sha256, synth::sha256_hex(contents.as_bytes()));
        assert_eq!(s.bytes, contents.len());
    }
    let toolkit = &output.manifest.stacks[0];
    assert_eq!(toolkit.stack_name.as_deref(), Some("silos-toolkit"));
    assert!(toolkit.bytes <= silos::cfn::MAX_BODY_BYTES);
    let catalog = file(&output, "catalog.json");
    assert_eq!(
        output.manifest.catalog.sha256,
        synth::sha256_hex(catalog.as_bytes())
    );
    assert_eq!(
        output.manifest.catalog.key,
        format!("catalog/{}.json", output.manifest.catalog.sha256)
    );
    let catalog: Value = serde_json::from_str(catalog).unwrap();
    let silo = &catalog["deploymentTypes"]["silo"];
    let tenant = output
        .manifest
        .stacks
        .iter()
        .find(|s| s.id == "tenant-silo")
        .unwrap();
    assert_eq!(
        silo["templateKey"],
        format!("templates/tenant-silo/{}.yaml", tenant.sha256)
    );
    assert_eq!(
        silo["systemParameters"]["CodeKey"]["artifact"],
        "tenant-function"
    );
    assert_eq!(
        silo["systemParameters"]["CodeBucket"]["source"],
        "artifactsBucket"
    );
}

/// Every `Allow` statement of every role in a template, as (role, actions, resources).
fn allows(template: &Value) -> Vec<(String, Vec<String>, Vec<Value>)> {
    let mut out = Vec::new();
    for (id, r) in template["Resources"].as_object().unwrap() {
        for policy in r["Properties"]["Policies"].as_array().into_iter().flatten() {
            for st in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
                if st["Effect"] == "Allow" {
                    let actions = st["Action"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| a.as_str().unwrap().to_owned())
                        .collect();
                    out.push((
                        id.clone(),
                        actions,
                        st["Resource"].as_array().unwrap().clone(),
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn no_statement_anywhere_allows_a_wildcard_action_or_resource() {
    for (stack, template) in templates(&synth(Format::Json)) {
        for (role, actions, resources) in allows(&template) {
            for a in &actions {
                assert!(!a.contains('*'), "{stack} {role} allows {a}");
            }
            // `*` only for the actions IAM authorizes on nothing narrower.
            let unscoped: Vec<&str> = Unscoped::ALL.iter().map(|u| u.action()).collect();
            for r in &resources {
                if r == "*" {
                    assert!(
                        actions.iter().all(|a| unscoped.contains(&a.as_str())),
                        "{stack} {role} allows {actions:?} on every resource"
                    );
                }
            }
        }
    }
}

#[test]
fn the_tenant_function_reaches_only_its_own_table() {
    let output = synth(Format::Json);
    let (_, tenant) = templates(&output)
        .into_iter()
        .find(|(id, _)| id == "tenant-silo")
        .unwrap();
    let own_table = serde_json::json!({"Fn::GetAtt": ["TenantTable", "Arn"]});
    let statements = allows(&tenant);
    assert!(!statements.is_empty());
    for (role, actions, resources) in statements {
        assert_eq!(role, "TenantRole");
        for a in &actions {
            if a.starts_with("dynamodb:") {
                assert_eq!(resources, std::slice::from_ref(&own_table), "{a}");
            } else {
                assert!(a.starts_with("logs:"), "unexpected action {a}");
            }
        }
    }
}

#[test]
fn only_the_provisioning_functions_may_pass_the_provisioning_role() {
    let output = synth(Format::Json);
    let (_, cp) = templates(&output)
        .into_iter()
        .find(|(id, _)| id == "control-plane")
        .unwrap();
    let provisioning = serde_json::json!({"Fn::GetAtt": ["ProvisioningRole", "Arn"]});
    let mut passers = Vec::new();
    for (role, actions, resources) in allows(&cp) {
        if actions.iter().any(|a| a == "iam:PassRole") {
            assert_eq!(actions, ["iam:PassRole"]);
            if role == "ProvisioningRole" {
                // CloudFormation passes tenant roles to Lambda, under the tenant path only.
                assert_eq!(
                    resources,
                    [
                        serde_json::json!({"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/silos/tenant/*"})
                    ]
                );
            } else {
                assert_eq!(resources, std::slice::from_ref(&provisioning), "{role}");
                passers.push(role);
            }
        }
    }
    passers.sort();
    assert_eq!(passers, ["ProvisionerRole", "ReconcilerRole", "RetryRole"]);
}

#[test]
fn every_api_route_requires_iam_auth_and_the_rule_matches_only_tenant_stacks() {
    let (_, cp) = templates(&synth(Format::Json))
        .into_iter()
        .find(|(id, _)| id == "control-plane")
        .unwrap();
    let resources = cp["Resources"].as_object().unwrap();
    let routes: Vec<&Value> = resources
        .values()
        .filter(|r| r["Type"] == "AWS::ApiGatewayV2::Route")
        .collect();
    assert_eq!(routes.len(), 8);
    for r in routes {
        assert_eq!(r["Properties"]["AuthorizationType"], "AWS_IAM", "{r}");
    }
    let pattern = &resources["StackStatusRule"]["Properties"]["EventPattern"];
    assert_eq!(
        pattern["detail"]["stack-id"][0]["prefix"]["Fn::Sub"],
        "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/silos-tenant-"
    );
}

#[test]
fn the_local_variant_holds_only_what_the_emulator_can_host() {
    let (_, local) = templates(&synth(Format::Json))
        .into_iter()
        .find(|(id, _)| id == "control-plane-local")
        .unwrap();
    let mut types: Vec<&str> = local["Resources"]
        .as_object()
        .unwrap()
        .values()
        .map(|r| r["Type"].as_str().unwrap())
        .collect();
    types.sort();
    assert_eq!(types, ["AWS::DynamoDB::Table", "AWS::IAM::Role"]);
}
