//! Synth of the real app: snapshots of every template, determinism, and properties that must
//! hold in the synthesized templates whatever the snapshots say. Beside the whole templates,
//! two snapshots a reviewer reads: every policy statement on one line (`permissions`) and the
//! resource types each template holds (`resource-types`).

use std::path::Path;

use serde_json::Value;
use silos::constructs::Unscoped;
use silos::stacks::Config;
use silos::synth::{self, Format, Output};

/// The reference app, as `src/main.rs` registers it.
fn app() -> silos::App {
    silos::App::new().tenant_stack("tenant-silo", silos::stacks::tenant_silo)
}

fn synth(format: Format) -> Output {
    let config = Config::new("silos").unwrap();
    synth::synth(&app(), &config, Path::new("blueprints"), format).unwrap()
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
            "cell",
            "tenant-silo"
        ]
    );
    // The cell stack goes by TemplateBody: a new cell has no bucket to hold it.
    let cell = &output.manifest.stacks[3];
    assert_eq!(cell.stack_name, None);
    assert!(cell.bytes <= silos::cfn::MAX_BODY_BYTES, "{}", cell.bytes);
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

/// Where a policy statement sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Held {
    /// A role's trust policy (`AssumeRolePolicyDocument`).
    Trust,
    /// An identity policy: a role's inline policy, or an `AWS::IAM::Policy`/`ManagedPolicy`.
    Identity,
    /// A resource policy: a bucket or queue policy, or a Lambda permission.
    Resource,
}

/// One statement of one policy in a template, wherever the template holds it.
#[derive(Debug)]
struct Statement {
    /// The logical ID of the resource that holds the policy.
    holder: String,
    held: Held,
    /// The roles an identity statement applies to (logical IDs).
    roles: Vec<String>,
    effect: String,
    principal: Option<Value>,
    actions: Vec<String>,
    resources: Vec<Value>,
    condition: Option<Value>,
}

/// Every statement of every policy in a template: roles' trust and inline policies,
/// `AWS::IAM::Policy` and `ManagedPolicy`, bucket and queue policies, and Lambda permissions
/// (as the statement Lambda adds to the function's policy). Panics on a policy it cannot read,
/// so a new kind of policy is added here before any test passes over it.
fn statements(stack: &str, template: &Value) -> Vec<Statement> {
    let mut out = Vec::new();
    for (id, r) in template["Resources"].as_object().unwrap() {
        let ty = r["Type"].as_str().unwrap();
        let props = &r["Properties"];
        // (document, where it sits, the roles it applies to)
        let mut documents: Vec<(&Value, Held, Vec<String>)> = Vec::new();
        match ty {
            "AWS::IAM::Role" => {
                documents.push((&props["AssumeRolePolicyDocument"], Held::Trust, Vec::new()));
                for policy in as_list(&props["Policies"]) {
                    documents.push((&policy["PolicyDocument"], Held::Identity, vec![id.clone()]));
                }
                assert!(
                    props.get("ManagedPolicyArns").is_none(),
                    "{stack} {id} attaches managed policies, which no test can read"
                );
            }
            "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" => {
                let roles = as_list(&props["Roles"]).iter().map(render).collect();
                documents.push((&props["PolicyDocument"], Held::Identity, roles));
            }
            "AWS::S3::BucketPolicy" | "AWS::SQS::QueuePolicy" => {
                documents.push((&props["PolicyDocument"], Held::Resource, Vec::new()));
            }
            "AWS::Lambda::Permission" => out.push(lambda_permission(stack, id, props)),
            _ => assert!(
                !ty.ends_with("Policy") && !ty.ends_with("Permission"),
                "{stack} {id}: the policy walker does not read {ty}"
            ),
        }
        assert_eq!(
            documents.len(),
            policy_documents(props),
            "{stack} {id} ({ty}) holds a policy document the walker does not read"
        );
        for (document, held, roles) in documents {
            for st in as_list(&document["Statement"]) {
                out.push(statement(stack, id, held, roles.clone(), st));
            }
        }
    }
    out
}

/// The policy documents (objects with a `Statement`) anywhere under `v`.
fn policy_documents(v: &Value) -> usize {
    match v {
        Value::Object(m) => {
            usize::from(m.contains_key("Statement"))
                + m.values().map(policy_documents).sum::<usize>()
        }
        Value::Array(a) => a.iter().map(policy_documents).sum(),
        _ => 0,
    }
}

fn statement(stack: &str, holder: &str, held: Held, roles: Vec<String>, st: &Value) -> Statement {
    let st = st.as_object().unwrap();
    const READ: [&str; 6] = [
        "Sid",
        "Effect",
        "Principal",
        "Action",
        "Resource",
        "Condition",
    ];
    for key in st.keys() {
        assert!(
            READ.contains(&key.as_str()),
            "{stack} {holder}: the policy walker does not read {key}"
        );
    }
    Statement {
        holder: holder.to_owned(),
        held,
        roles,
        effect: st["Effect"].as_str().unwrap().to_owned(),
        principal: st.get("Principal").cloned(),
        actions: as_list(&st["Action"])
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect(),
        resources: st
            .get("Resource")
            .map(|r| as_list(r).to_vec())
            .unwrap_or_default(),
        condition: st.get("Condition").cloned(),
    }
}

/// A Lambda permission as the statement Lambda writes into the function's resource policy.
fn lambda_permission(stack: &str, id: &str, props: &Value) -> Statement {
    let mut condition = serde_json::Map::new();
    for (key, v) in props.as_object().unwrap() {
        let (operator, context_key) = match key.as_str() {
            "Action" | "FunctionName" | "Principal" => continue,
            "SourceArn" => ("ArnLike", "AWS:SourceArn"),
            "SourceAccount" => ("StringEquals", "AWS:SourceAccount"),
            "PrincipalOrgID" => ("StringEquals", "aws:PrincipalOrgID"),
            "FunctionUrlAuthType" => ("StringEquals", "lambda:FunctionUrlAuthType"),
            _ => panic!("{stack} {id}: the policy walker does not read a permission's {key}"),
        };
        condition
            .entry(operator)
            .or_insert_with(|| serde_json::json!({}))
            .as_object_mut()
            .unwrap()
            .insert(context_key.to_owned(), v.clone());
    }
    Statement {
        holder: id.to_owned(),
        held: Held::Resource,
        roles: Vec::new(),
        effect: "Allow".to_owned(),
        principal: Some(props["Principal"].clone()),
        actions: vec![props["Action"].as_str().unwrap().to_owned()],
        resources: vec![props["FunctionName"].clone()],
        condition: (!condition.is_empty()).then_some(Value::Object(condition)),
    }
}

/// A policy element that may be one value or a list of them.
fn as_list(v: &Value) -> &[Value] {
    match v {
        Value::Array(a) => a,
        Value::Null => &[],
        one => std::slice::from_ref(one),
    }
}

/// A value as a reviewer reads it: `X.Arn` for a GetAtt, `P` for a Ref, a Sub's string (its
/// variables substituted as `${…}`), a Join's parts joined, and `Fn(args)` for anything else.
fn render(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(render).collect::<Vec<_>>().join(","),
        Value::Object(m) if m.len() == 1 => {
            let (f, arg) = m.iter().next().unwrap();
            match f.as_str() {
                "Ref" => render(arg),
                "Fn::GetAtt" => as_list(arg)
                    .iter()
                    .map(render)
                    .collect::<Vec<_>>()
                    .join("."),
                "Fn::Sub" => match arg {
                    Value::Array(a) => {
                        let mut s = render(&a[0]);
                        for (name, value) in a[1].as_object().unwrap() {
                            s = s.replace(&format!("${{{name}}}"), &render_within(value));
                        }
                        s
                    }
                    s => render(s),
                },
                "Fn::Join" => {
                    let a = arg.as_array().unwrap();
                    let parts: Vec<String> = as_list(&a[1]).iter().map(render_within).collect();
                    parts.join(a[0].as_str().unwrap())
                }
                _ => format!("{}({})", f.trim_start_matches("Fn::"), render(arg)),
            }
        }
        other => other.to_string(),
    }
}

/// A part of a Sub or Join: literals as they are, references as `${…}`.
fn render_within(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(m) if m.contains_key("Fn::Sub") || m.contains_key("Fn::Join") => render(v),
        other => format!("${{{}}}", render(other)),
    }
}

/// A principal: a service by its name, anything else as `AWS:…`, `Federated:…`.
fn render_principal(p: &Value) -> String {
    match p {
        Value::Object(m) => m
            .iter()
            .flat_map(|(kind, v)| {
                as_list(v).iter().map(move |v| match kind.as_str() {
                    "Service" => render(v),
                    _ => format!("{kind}:{}", render(v)),
                })
            })
            .collect::<Vec<_>>()
            .join(","),
        other => render(other),
    }
}

/// `StringEquals iam:PassedToService=lambda.amazonaws.com and …`.
fn render_condition(c: &Value) -> String {
    let mut parts = Vec::new();
    for (operator, tests) in c.as_object().unwrap() {
        for (key, v) in tests.as_object().unwrap() {
            let v = match v {
                Value::Array(a) => format!("[{}]", render(&Value::Array(a.clone()))),
                v => render(v),
            };
            parts.push(format!("{operator} {key}={v}"));
        }
    }
    parts.join(" and ")
}

/// One line: `control-plane ProvisionerRole Allow dynamodb:GetItem on TenantsTable.Arn`.
fn render_statement(stack: &str, st: &Statement) -> String {
    let mut line = format!("{stack} {}", st.holder);
    if st.held == Held::Trust {
        line.push_str(" (trust)");
    }
    if st.held == Held::Identity && st.roles.is_empty() {
        // A managed policy attached to no role here: the tenant roles' boundary.
        line.push_str(" (attached to none)");
    } else if st.held == Held::Identity && st.roles != [st.holder.clone()] {
        line.push_str(&format!(" (for {})", st.roles.join(",")));
    }
    line.push_str(&format!(" {} {}", st.effect, st.actions.join(",")));
    if !st.resources.is_empty() {
        let resources: Vec<String> = st.resources.iter().map(render).collect();
        line.push_str(&format!(" on {}", resources.join(",")));
    }
    if let Some(p) = &st.principal {
        line.push_str(&format!(" to {}", render_principal(p)));
    }
    if let Some(c) = &st.condition {
        line.push_str(&format!(" if {}", render_condition(c)));
    }
    line
}

/// Every `Allow` statement of every role's identity policies in a template, as (role,
/// actions, resources).
fn allows(template: &Value) -> Vec<(String, Vec<String>, Vec<Value>)> {
    let mut out = Vec::new();
    for st in statements("", template) {
        if st.held == Held::Identity && st.effect == "Allow" {
            for role in &st.roles {
                out.push((role.clone(), st.actions.clone(), st.resources.clone()));
            }
        }
    }
    out
}

#[test]
fn every_policy_statement_matches_its_snapshot() {
    let mut lines = Vec::new();
    for (stack, template) in templates(&synth(Format::Json)) {
        for st in statements(&stack, &template) {
            lines.push(render_statement(&stack, &st));
        }
    }
    insta::assert_snapshot!("permissions", lines.join("\n"));
}

#[test]
fn every_template_holds_the_resource_types_of_its_snapshot() {
    let mut lines = Vec::new();
    for (stack, template) in templates(&synth(Format::Json)) {
        let mut counts = std::collections::BTreeMap::<&str, usize>::new();
        for r in template["Resources"].as_object().unwrap().values() {
            *counts.entry(r["Type"].as_str().unwrap()).or_default() += 1;
        }
        let counts: Vec<String> = counts.iter().map(|(ty, n)| format!("{ty} ×{n}")).collect();
        lines.push(format!("{stack}: {}", counts.join(", ")));
    }
    insta::assert_snapshot!("resource-types", lines.join("\n"));
}

#[test]
fn no_statement_anywhere_allows_a_wildcard_action_or_resource() {
    // `*` only for the actions IAM authorizes on nothing narrower: those of the hand-kept
    // list, and those IAM's reference names no resource type for.
    let unscoped: Vec<&str> = Unscoped::ALL.iter().map(|u| u.action()).collect();
    let on_nothing = |a: &str| {
        silos::cfn::iam_reference::action(a).is_some_and(|r| r.resources().next().is_none())
    };
    for (stack, template) in templates(&synth(Format::Json)) {
        for st in statements(&stack, &template) {
            // A Deny may: the TLS-only `Deny s3:*` narrows access.
            if st.effect != "Allow" {
                continue;
            }
            let holder = &st.holder;
            let actions = &st.actions;
            for a in actions {
                assert!(!a.contains('*'), "{stack} {holder} allows {a}");
            }
            for r in &st.resources {
                if r == "*" {
                    assert!(
                        actions
                            .iter()
                            .all(|a| unscoped.contains(&a.as_str()) || on_nothing(a)),
                        "{stack} {holder} allows {actions:?} on every resource"
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
fn the_status_index_is_the_one_the_runtime_queries_and_only_listing_may_query_it() {
    assert_eq!(
        silos::stacks::STATUS_INDEX,
        silos::control_plane::store::STATUS_INDEX
    );
    for (id, template) in templates(&synth(Format::Json)) {
        if !id.starts_with("control-plane") {
            continue;
        }
        let table = &template["Resources"]["TenantsTable"]["Properties"];
        let indexes = table["GlobalSecondaryIndexes"].as_array().unwrap();
        assert_eq!(indexes.len(), 1, "{id}");
        assert_eq!(indexes[0]["IndexName"], silos::stacks::STATUS_INDEX);
        assert_eq!(indexes[0]["Projection"]["ProjectionType"], "ALL");
        let index_arn = serde_json::json!({
            "Fn::Sub": format!("${{TenantsTable.Arn}}/index/{}", silos::stacks::STATUS_INDEX)
        });
        let mut queriers = Vec::new();
        for (role, actions, resources) in allows(&template) {
            if resources.contains(&index_arn) {
                assert_eq!(actions, ["dynamodb:Query"], "{role}");
                assert_eq!(resources, std::slice::from_ref(&index_arn), "{role}");
                queriers.push(role);
            }
        }
        queriers.sort();
        let expected: &[&str] = match id.as_str() {
            "control-plane" => &["ListTenantsRole", "ReconcilerRole"],
            _ => &[],
        };
        assert_eq!(queriers, expected, "{id}");
    }
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
    for r in &routes {
        assert_eq!(r["Properties"]["AuthorizationType"], "AWS_IAM", "{r}");
    }
    // The stack's routes are the ones the Router serves, no more and no fewer.
    let in_stack: std::collections::BTreeSet<String> = routes
        .iter()
        .map(|r| r["Properties"]["RouteKey"].as_str().unwrap().to_owned())
        .collect();
    let served: std::collections::BTreeSet<String> = silos::control_plane::api::routes()
        .iter()
        .map(|(route, _)| route.to_string())
        .collect();
    assert_eq!(in_stack, served);
    assert_eq!(routes.len(), served.len(), "one route resource per route");
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
    // The tenant roles' boundary too: tenant stacks in the emulator carry it. And the event
    // bus, which local mode publishes lifecycle events to.
    assert_eq!(
        types,
        [
            "AWS::DynamoDB::Table",
            "AWS::Events::EventBus",
            "AWS::IAM::ManagedPolicy",
            "AWS::IAM::Role"
        ]
    );
}

#[test]
fn every_diagram_matches_its_snapshot() {
    let output = synth(Format::Json);
    for stack in &output.manifest.stacks {
        let diagram = file(&output, &format!("{}.mmd", stack.id));
        assert!(diagram.starts_with("flowchart LR\n"), "{diagram}");
        insta::assert_snapshot!(format!("diagram-{}", stack.id), diagram);
    }
}

/// The README's diagrams are the generated ones: each block after a
/// `<!-- diagram: STACK -->` line is `silos graph STACK`'s output.
#[test]
fn the_readmes_diagrams_are_not_stale() {
    let output = synth(Format::Json);
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let mut found = 0;
    for stack in ["control-plane", "tenant-silo"] {
        let marker = format!("<!-- diagram: {stack} -->\n```mermaid\n");
        let start = readme
            .find(&marker)
            .unwrap_or_else(|| panic!("README.md has no {marker:?}"))
            + marker.len();
        let end = start + readme[start..].find("```").unwrap();
        let generated = file(&output, &format!("{stack}.mmd"));
        assert_eq!(
            &readme[start..end],
            generated,
            "README.md's diagram of {stack} is stale: replace its block with `cargo run -q -- graph {stack}`"
        );
        found += 1;
    }
    assert_eq!(found, 2);
}

/// Only the event publisher may put events, and only on the control plane's bus (and a cell's
/// forwarder, only on the bus its stack is given).
#[test]
fn only_the_event_publisher_puts_events_and_only_on_the_bus() {
    let mut found = Vec::new();
    for (id, template) in templates(&synth(Format::Json)) {
        for (logical_id, r) in template["Resources"].as_object().unwrap() {
            let Some(policies) = r["Properties"]["Policies"].as_array() else {
                continue;
            };
            for st in policies
                .iter()
                .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap())
            {
                let actions: Vec<String> = st["Action"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_owned())
                    .collect();
                if actions.iter().any(|a| a.starts_with("events:")) {
                    found.push((
                        id.clone(),
                        logical_id.clone(),
                        actions,
                        st["Resource"].clone(),
                    ));
                }
            }
        }
    }
    assert_eq!(
        found,
        [
            (
                "control-plane".to_owned(),
                "EventPublisherRole".to_owned(),
                vec!["events:PutEvents".to_owned()],
                serde_json::json!([{"Fn::GetAtt": ["EventBus", "Arn"]}])
            ),
            (
                "cell".to_owned(),
                "ForwarderRole".to_owned(),
                vec!["events:PutEvents".to_owned()],
                // A cell forwards its tenant stack events to the control plane's bus.
                serde_json::json!([{"Ref": "ControlPlaneEventBusArn"}])
            ),
        ]
    );
}

/// With cells in other accounts, the functions that work tenant stacks may assume exactly
/// those cells' access roles, each cell account may put events on the bus, and the forwarded
/// stack events reach the stack-events handler. Without any, none of that exists.
#[test]
fn remote_cells_are_granted_exactly_their_access_roles() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy("blueprints/silo.yaml", dir.path().join("silo.yaml")).unwrap();
    std::fs::write(
        dir.path().join("cells.yaml"),
        "cells:\n  - name: home\n    capacity: 100\n  - name: eu-1\n    account: \"210987654321\"\n    region: eu-west-1\n    capacity: 50\n  - name: eu-2\n    account: \"210987654321\"\n    region: eu-central-1\n    capacity: 50\n  - name: ap\n    account: \"310987654321\"\n    region: ap-south-1\n    capacity: 30\n",
    )
    .unwrap();
    let config = Config::new("silos").unwrap();
    let output = synth::synth(&app(), &config, dir.path(), Format::Json).unwrap();
    let cp: Value = serde_json::from_str(file(&output, "control-plane.json")).unwrap();
    let resources = cp["Resources"].as_object().unwrap();
    let mut assuming = Vec::new();
    for (id, r) in resources {
        for policy in r["Properties"]["Policies"].as_array().into_iter().flatten() {
            for st in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
                if st["Action"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a == "sts:AssumeRole")
                {
                    assert_eq!(st["Action"], serde_json::json!(["sts:AssumeRole"]));
                    let arns: Vec<&str> = st["Resource"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r["Fn::Sub"].as_str().unwrap())
                        .collect();
                    assert_eq!(
                        arns,
                        [
                            "arn:${AWS::Partition}:iam::210987654321:role/silos-cell-eu-1-access",
                            "arn:${AWS::Partition}:iam::210987654321:role/silos-cell-eu-2-access",
                            "arn:${AWS::Partition}:iam::310987654321:role/silos-cell-ap-access",
                        ]
                    );
                    assuming.push(id.clone());
                    // Only roles under the path the cells' access roles trust.
                    assert_eq!(r["Properties"]["Path"], "/silos/control-plane/", "{id}");
                }
            }
        }
    }
    assuming.sort();
    assert_eq!(
        assuming,
        [
            "DeleteRole",
            "DriftRole",
            "EventPublisherRole",
            "ProvisionerRole",
            "ReconcilerRole",
            "RetryRole",
            "TenantInfoRole"
        ]
    );
    let bus_policies: Vec<&Value> = resources
        .values()
        .filter(|r| r["Type"] == "AWS::Events::EventBusPolicy")
        .map(|r| &r["Properties"]["Statement"]["Principal"]["AWS"])
        .collect();
    assert_eq!(
        bus_policies,
        [
            "arn:aws:iam::210987654321:root",
            "arn:aws:iam::310987654321:root"
        ]
    );
    let rule = &resources["CellStackStatusRule"]["Properties"];
    assert_eq!(rule["EventBusName"], "silos-events");
    assert_eq!(
        rule["EventPattern"]["account"],
        serde_json::json!(["210987654321", "310987654321"])
    );
    assert_eq!(
        rule["Targets"][0]["Arn"],
        serde_json::json!({"Fn::GetAtt": ["StackEventsFunction", "Arn"]})
    );
    // The cells' forwarded alarm state changes go to the health function.
    let alarms = &resources["CellAlarmStateRule"]["Properties"];
    assert_eq!(alarms["EventBusName"], "silos-events");
    assert_eq!(
        alarms["EventPattern"]["account"],
        serde_json::json!(["210987654321", "310987654321"])
    );
    assert_eq!(
        alarms["EventPattern"]["detail"]["alarmName"],
        serde_json::json!([{"prefix": "silos-tenant-"}])
    );
    assert_eq!(
        alarms["Targets"][0]["Arn"],
        serde_json::json!({"Fn::GetAtt": ["HealthFunction", "Arn"]})
    );
    let catalog: Value = serde_json::from_str(file(&output, "catalog.json")).unwrap();
    let names: Vec<&str> = catalog["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["home", "eu-1", "eu-2", "ap"]);

    // The reference app declares no cells: nothing to assume, no bus policy.
    let plain = synth(Format::Json);
    let cp = file(&plain, "control-plane.json");
    assert!(
        !cp.contains(":role/silos-cell-"),
        "no cell, no access role to assume"
    );
    assert!(!cp.contains("CellStackStatusRule"));
    assert!(!cp.contains("AWS::Events::EventBusPolicy"));
}

/// The reference silo with one more resource, named after the stack by `name`.
fn silo_with(
    name: &'static str,
    add: fn(&mut silos::cfn::Template, silos::cfn::Expr),
) -> impl Fn(&silos::stacks::TenantContext) -> silos::stacks::Stack {
    move |ctx| {
        let mut silo = silos::stacks::Silo::new(ctx);
        add(silo.template(), silos::cfn::Expr::sub(name));
        silo.finish()
    }
}

fn bucket(t: &mut silos::cfn::Template, name: silos::cfn::Expr) {
    let bucket = silos::cfn::s3::Bucket {
        bucket_name: Some(name.into()),
        ..Default::default()
    };
    t.add("Extra", &bucket);
}

fn queue(t: &mut silos::cfn::Template, name: silos::cfn::Expr) {
    let queue = silos::cfn::sqs::Queue {
        queue_name: Some(name.into()),
        ..Default::default()
    };
    t.add("Extra", &queue);
}

/// The names synth refuses in `app` with `blueprints` (none if it succeeds).
fn name_errors(app: silos::App, blueprints: &Path) -> Vec<silos::stacks::names::NameError> {
    let config = Config::new("silos").unwrap();
    match synth::synth(&app, &config, blueprints, Format::Json) {
        Ok(_) => Vec::new(),
        Err(synth::Error::Names(errors)) => errors,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn a_name_built_from_the_stack_name_past_its_limit_fails_synth_with_the_resource_and_the_limit() {
    // silos-tenant-{uuid} is 49 characters: a bucket may add 14 (63), a queue 31 (80).
    let fits = silos::App::new().tenant_stack(
        "tenant-silo",
        silo_with("${AWS::StackName}-1234567890123", bucket),
    );
    assert_eq!(name_errors(fits, Path::new("blueprints")), []);
    let over = silos::App::new().tenant_stack(
        "tenant-silo",
        silo_with("${AWS::StackName}-12345678901234", bucket),
    );
    let errors = name_errors(over, Path::new("blueprints"));
    assert_eq!(
        errors.len(),
        1,
        "a 64-character bucket name must fail synth"
    );
    let message = errors[0].to_string();
    assert!(
        message.contains("Extra (AWS::S3::Bucket) BucketName"),
        "{message}"
    );
    assert!(
        message.contains("64 characters where 63 is the most"),
        "{message}"
    );
    let queue_fits = silos::App::new().tenant_stack(
        "tenant-silo",
        silo_with("${AWS::StackName}-${AWS::Region}-123456789012345", queue),
    );
    assert_eq!(name_errors(queue_fits, Path::new("blueprints")), []);
    let queue_over = silos::App::new().tenant_stack(
        "tenant-silo",
        silo_with("${AWS::StackName}-${AWS::Region}-1234567890123456", queue),
    );
    assert_eq!(name_errors(queue_over, Path::new("blueprints")).len(), 1);
    // Upper case is no bucket name, however short.
    let upper =
        silos::App::new().tenant_stack("tenant-silo", silo_with("${AWS::StackName}-Logs", bucket));
    let errors = name_errors(upper, Path::new("blueprints"));
    assert_eq!(errors.len(), 1, "an upper-case bucket name must fail synth");
    assert!(
        errors[0].to_string().contains("does not match"),
        "{}",
        errors[0]
    );
}

#[test]
fn a_stack_name_holding_the_tenant_s_name_is_checked_at_the_longest_stack_name() {
    let dir = tempfile::tempdir().unwrap();
    let silo = std::fs::read_to_string("blueprints/silo.yaml")
        .unwrap()
        .replace(
            "stackName: \"{{ prefix }}-tenant-{{ tenant.id }}\"",
            "stackName: \"{{ prefix }}-tenant-{{ tenant.safe_name }}-{{ tenant.id }}\"",
        );
    assert!(silo.contains("tenant.safe_name"));
    std::fs::write(dir.path().join("silo.yaml"), silo).unwrap();
    // 14 characters past the stack name (a hyphen and 13) fit the 49 of silos-tenant-{uuid},
    // not the 64 a tenant's name can take the stack name to.
    let app = silos::App::new().tenant_stack(
        "tenant-silo",
        silo_with("${AWS::StackName}-1234567890123", bucket),
    );
    let errors = name_errors(app, dir.path());
    assert_eq!(
        errors.len(),
        1,
        "the stack name's longest form must be checked"
    );
    assert!(
        errors[0].to_string().contains("78 characters"),
        "{}",
        errors[0]
    );
}

/// DetectStackDrift reads each resource with its caller's credentials: the drift function's
/// role (and each cell's access role) holds the tenant types' read-handler actions, scoped to
/// tenant resources, in statements of their own.
#[test]
fn the_drift_role_reads_tenant_resources_and_nothing_else() {
    let config = Config::new("silos").unwrap();
    let output = synth::synth(
        &app(),
        &config,
        std::path::Path::new("blueprints"),
        Format::Json,
    )
    .unwrap();
    let template: Value = serde_json::from_str(file(&output, "control-plane.json")).unwrap();
    let statements: Vec<&serde_json::Value> =
        template["Resources"]["DriftRole"]["Properties"]["Policies"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap())
            .filter(|s| {
                s["Sid"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("DriftRead"))
            })
            .collect();
    assert!(!statements.is_empty());
    let reads_function = statements.iter().find(|s| {
        s["Action"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "lambda:GetFunction")
    });
    let reads_function = reads_function.expect("lambda:GetFunction is granted");
    assert_eq!(
        reads_function["Resource"][0]["Fn::Sub"],
        "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:silos-tenant-*"
    );
    for s in &statements {
        assert_eq!(s["Effect"], "Allow");
        for a in s["Action"].as_array().unwrap() {
            let a = a.as_str().unwrap();
            // Reads only: nothing that creates, changes or deletes (API Gateway's read is
            // its HTTP verb, `GET`).
            let verb = a.split(':').nth(1).unwrap();
            assert!(
                ["Get", "Describe", "List", "GET"]
                    .iter()
                    .any(|v| verb.starts_with(v)),
                "{a} in {s}"
            );
        }
    }
}

/// The fleet dashboard draws each metric the functions write, and nothing else, in the app's
/// namespace.
#[test]
fn the_dashboard_draws_every_metric_the_functions_write() {
    use silos::functions::metrics;
    let output = synth(Format::Json);
    let template: Value = serde_json::from_str(file(&output, "control-plane.json")).unwrap();
    let dashboard = &template["Resources"]["FleetDashboard"]["Properties"];
    assert_eq!(dashboard["DashboardName"], "silos-fleet");
    let body = dashboard["DashboardBody"]["Fn::Sub"].as_str().unwrap();
    let body: Value = serde_json::from_str(&body.replace("${AWS::Region}", "us-east-1")).unwrap();
    let mut drawn = std::collections::BTreeSet::new();
    for widget in body["widgets"].as_array().unwrap() {
        assert_eq!(widget["properties"]["region"], "us-east-1");
        for line in widget["properties"]["metrics"].as_array().unwrap() {
            assert_eq!(line[0], "Silos/silos", "{line}");
            let name = line[1].as_str().unwrap().to_owned();
            let dimension = line[2].as_str().map(str::to_owned);
            drawn.insert((name, dimension));
        }
    }
    let declared: std::collections::BTreeSet<(String, Option<String>)> = metrics::ALL
        .iter()
        .map(|m| (m.name.to_owned(), m.dimension.map(str::to_owned)))
        .collect();
    assert_eq!(drawn, declared);
    // The local variant has no functions, so no dashboard.
    let local: Value = serde_json::from_str(file(&output, "control-plane-local.json")).unwrap();
    assert!(local["Resources"].get("FleetDashboard").is_none());
}
