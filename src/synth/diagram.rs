//! A Mermaid diagram of a stack, from its template: resources grouped by service, the
//! references between them (Ref, GetAtt, Sub, DependsOn), IAM grants (who may reach what, and
//! how), and the flows that make the control plane work (API routes, the table's stream,
//! EventBridge rules, CloudFormation). Deterministic: sorted maps, no timestamps.
//!
//! Kept readable for large stacks: a function's role, its policy and its log group are drawn
//! as the function; routes and integrations are labels on the API's edges; permissions and
//! queue policies are plumbing and are left out.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use crate::cfn::policy::rendered_actions;
use crate::cfn::{Template, references};

/// Plumbing: never a node of its own.
const HIDDEN: &[&str] = &[
    "AWS::ApiGatewayV2::Integration",
    "AWS::ApiGatewayV2::Route",
    "AWS::ApiGatewayV2::Stage",
    "AWS::Lambda::EventSourceMapping",
    "AWS::Lambda::Permission",
    "AWS::Logs::LogGroup",
    "AWS::S3::BucketPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::IAM::Policy",
];

/// Nodes for what is outside the stack.
const CLOUDFORMATION: &str = "ext_CloudFormation";
const TENANT_STACKS: &str = "ext_TenantStacks";

pub fn mermaid(template: &Template) -> String {
    let resources: BTreeMap<&str, (&str, &Json)> = template
        .resources
        .iter()
        .map(|(id, e)| (id.as_str(), (e.type_name.as_str(), &e.properties)))
        .collect();
    let entries = &template.resources;

    // A function's role (and so its grants and log group) is drawn as the function.
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    for (id, (ty, props)) in &resources {
        if *ty == "AWS::Lambda::Function" {
            if let Some(role) = references(&props["Role"]).into_iter().next() {
                owner.insert(role, (*id).to_owned());
            }
            if let Some(group) = references(&props["LoggingConfig"]["LogGroup"])
                .into_iter()
                .next()
            {
                owner.insert(group, (*id).to_owned());
            }
        }
    }
    let node = |id: &str| -> Option<String> {
        let id = owner.get(id).map_or(id, String::as_str);
        let (ty, _) = resources.get(id)?;
        (!HIDDEN.contains(ty)).then(|| id.to_owned())
    };

    let mut edges: BTreeSet<(String, String, String, bool)> = BTreeSet::new();
    let mut external = BTreeSet::new();
    let mut routes: BTreeMap<String, Vec<String>> = BTreeMap::new();

    for (id, (ty, props)) in &resources {
        let from = node(id);
        match *ty {
            "AWS::IAM::Role" => {
                let holder = node(id).unwrap_or_else(|| (*id).to_owned());
                for (target, access) in grants(props) {
                    match target {
                        Target::Resource(t) => {
                            if let Some(t) = node(&t).filter(|t| *t != holder) {
                                edges.insert((holder.clone(), t, access, false));
                            }
                        }
                        Target::CloudFormation => {
                            external.insert(CLOUDFORMATION);
                            edges.insert((
                                holder.clone(),
                                CLOUDFORMATION.to_owned(),
                                access,
                                false,
                            ));
                        }
                    }
                }
                let trusted = &props["AssumeRolePolicyDocument"]["Statement"];
                let by_cfn = trusted
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|s| s["Principal"]["Service"] == "cloudformation.amazonaws.com");
                if by_cfn && !owner.contains_key(*id) {
                    external.insert(CLOUDFORMATION);
                    external.insert(TENANT_STACKS);
                    edges.insert((
                        CLOUDFORMATION.to_owned(),
                        (*id).to_owned(),
                        "assumes".to_owned(),
                        false,
                    ));
                    edges.insert((
                        (*id).to_owned(),
                        TENANT_STACKS.to_owned(),
                        "creates, updates, deletes".to_owned(),
                        false,
                    ));
                }
            }
            "AWS::ApiGatewayV2::Route" => {
                let api = references(&props["ApiId"]).into_iter().next();
                let key = props["RouteKey"].as_str().unwrap_or("route").to_owned();
                let integration = references(&props["Target"]).into_iter().next();
                let function = integration
                    .and_then(|i| resources.get(i.as_str()))
                    .and_then(|(_, p)| references(&p["IntegrationUri"]).into_iter().next())
                    .and_then(|f| node(&f));
                if let (Some(api), Some(function)) = (api.and_then(|a| node(&a)), function) {
                    routes
                        .entry(function.clone())
                        .or_default()
                        .push(key.clone());
                    edges.insert((api, function, key, false));
                }
            }
            "AWS::Lambda::EventSourceMapping" => {
                let source = references(&props["EventSourceArn"]).into_iter().next();
                let function = references(&props["FunctionName"]).into_iter().next();
                if let (Some(s), Some(f)) = (
                    source.and_then(|s| node(&s)),
                    function.and_then(|f| node(&f)),
                ) {
                    edges.insert((s, f, "stream".to_owned(), false));
                }
                let failures = references(&props["DestinationConfig"]);
                for q in failures.into_iter().filter_map(|q| node(&q)) {
                    if let Some(f) = references(&props["FunctionName"])
                        .into_iter()
                        .next()
                        .and_then(|f| node(&f))
                    {
                        edges.insert((f, q, "failed batches".to_owned(), true));
                    }
                }
            }
            "AWS::Events::Rule" => {
                let Some(rule) = from.clone() else { continue };
                if props["EventPattern"]["source"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|v| v == "aws.cloudformation"))
                {
                    external.insert(CLOUDFORMATION);
                    edges.insert((
                        CLOUDFORMATION.to_owned(),
                        rule.clone(),
                        "stack events".to_owned(),
                        false,
                    ));
                }
                for target in props["Targets"].as_array().into_iter().flatten() {
                    for t in references(&target["Arn"])
                        .into_iter()
                        .filter_map(|t| node(&t))
                    {
                        let label = if props.get("ScheduleExpression").is_some() {
                            props["ScheduleExpression"]
                                .as_str()
                                .unwrap_or("schedule")
                                .to_owned()
                        } else {
                            "matches".to_owned()
                        };
                        edges.insert((rule.clone(), t, label, false));
                    }
                }
            }
            _ => {
                let Some(from) = from else { continue };
                for target in references(props) {
                    if let Some(t) = node(&target).filter(|t| *t != from) {
                        edges.insert((from.clone(), t, String::new(), false));
                    }
                }
            }
        }
        if let (Some(from), Some(entry)) = (node(id), entries.get(*id)) {
            for d in &entry.depends_on {
                if let Some(t) = node(d).filter(|t| *t != from) {
                    edges.insert((from.clone(), t, "depends on".to_owned(), true));
                }
            }
        }
    }

    // A managed policy attached to nothing here is the tenant roles' boundary.
    if external.contains(TENANT_STACKS) {
        for (id, (ty, props)) in &resources {
            let attached = ["Roles", "Users", "Groups"]
                .iter()
                .any(|k| props.get(*k).is_some());
            if *ty == "AWS::IAM::ManagedPolicy" && !attached {
                edges.insert((
                    (*id).to_owned(),
                    TENANT_STACKS.to_owned(),
                    "boundary of every tenant role".to_owned(),
                    true,
                ));
            }
        }
    }

    // Nodes by service.
    let mut services: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (id, (ty, _)) in &resources {
        if node(id).as_deref() == Some(*id) {
            let service = ty.split("::").nth(1).unwrap_or("Other");
            services.entry(service).or_default().push(id);
        }
    }

    let mut out = String::from("flowchart LR\n");
    for (service, ids) in &services {
        // Subgraph ids never meet a logical ID: `svc_` is not alphanumeric-only.
        out.push_str(&format!("  subgraph svc_{service}[\"{service}\"]\n"));
        for id in ids {
            let (ty, _) = resources[*id];
            let label = match routes.get(*id) {
                Some(keys) => format!("{id}<br/><i>{}</i>", keys.join(", ")),
                None => (*id).to_owned(),
            };
            out.push_str(&format!("    {}\n", shape(id, ty, &label)));
        }
        out.push_str("  end\n");
    }
    for e in &external {
        let label = if *e == TENANT_STACKS {
            "tenant stacks"
        } else {
            "CloudFormation"
        };
        out.push_str(&format!("  {e}{{{{\"{label}\"}}}}\n"));
    }
    // A plain reference says less than a grant or a flow between the same two nodes.
    let labelled: BTreeSet<(String, String)> = edges
        .iter()
        .filter(|(_, _, label, _)| !label.is_empty())
        .map(|(f, t, _, _)| (f.clone(), t.clone()))
        .collect();
    edges.retain(|(f, t, label, _)| {
        !label.is_empty() || !labelled.contains(&(f.clone(), t.clone()))
    });
    for (from, to, label, dotted) in &edges {
        let arrow = if *dotted { "-.->" } else { "-->" };
        if label.is_empty() {
            out.push_str(&format!("  {from} {arrow} {to}\n"));
        } else {
            out.push_str(&format!(
                "  {from} {arrow}|\"{}\"| {to}\n",
                label.replace('"', "'")
            ));
        }
    }
    out
}

fn shape(id: &str, ty: &str, label: &str) -> String {
    match ty {
        "AWS::DynamoDB::Table" | "AWS::S3::Bucket" => format!("{id}[(\"{label}\")]"),
        "AWS::Lambda::Function" => format!("{id}([\"{label}\"])"),
        "AWS::SQS::Queue" => format!("{id}[[\"{label}\"]]"),
        "AWS::Events::Rule" => format!("{id}>\"{label}\"]"),
        "AWS::IAM::Role" | "AWS::IAM::ManagedPolicy" => format!("{id}{{{{\"{label}\"}}}}"),
        _ => format!("{id}[\"{label}\"]"),
    }
}

enum Target {
    Resource(String),
    CloudFormation,
}

/// What a role's inline policies let it reach, each with its access level.
fn grants(role: &Json) -> Vec<(Target, String)> {
    let mut by_target: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    let mut cfn = BTreeSet::new();
    for policy in role["Policies"].as_array().into_iter().flatten() {
        for st in policy["PolicyDocument"]["Statement"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if st["Effect"] != "Allow" {
                continue;
            }
            let levels: BTreeSet<&'static str> = rendered_actions(st, "Action")
                .into_iter()
                .map(level)
                .collect();
            for target in references(&st["Resource"]) {
                by_target.entry(target).or_default().extend(levels.iter());
            }
            if st["Resource"].to_string().contains(":cloudformation:") {
                cfn.extend(levels.iter());
            }
        }
    }
    let label = |levels: &BTreeSet<&str>| levels.iter().copied().collect::<Vec<_>>().join("+");
    let mut out: Vec<(Target, String)> = by_target
        .into_iter()
        .map(|(t, l)| (Target::Resource(t), label(&l)))
        .collect();
    if !cfn.is_empty() {
        out.push((Target::CloudFormation, label(&cfn)));
    }
    out
}

/// An action's access level: read, write, invoke or pass.
fn level(action: &str) -> &'static str {
    let verb = action.split_once(':').map_or(action, |(_, v)| v);
    if verb == "PassRole" {
        "pass"
    } else if verb.starts_with("Invoke") {
        "invoke"
    } else if [
        "Get", "List", "Describe", "Query", "Scan", "BatchGet", "Receive",
    ]
    .iter()
    .any(|p| verb.starts_with(p))
    {
        "read"
    } else {
        "write"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_with_a_grant_on_a_table_is_an_edge_with_its_access() {
        let mut t = Template::new("t");
        t.add_raw(
            "Items",
            "AWS::DynamoDB::Table",
            serde_json::json!({"KeySchema": []}),
        );
        t.add_raw(
            "ReaderRole",
            "AWS::IAM::Role",
            serde_json::json!({"Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": [
                {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Query"],
                 "Resource": [{"Fn::GetAtt": ["Items", "Arn"]}]}]}}]}),
        );
        t.add_raw(
            "ReaderLogGroup",
            "AWS::Logs::LogGroup",
            serde_json::json!({}),
        );
        t.add_raw(
            "ReaderFunction",
            "AWS::Lambda::Function",
            serde_json::json!({
                "Role": {"Fn::GetAtt": ["ReaderRole", "Arn"]},
                "LoggingConfig": {"LogGroup": {"Ref": "ReaderLogGroup"}},
                "Environment": {"Variables": {"TABLE": {"Ref": "Items"}}}
            }),
        );
        let m = mermaid(&t);
        assert!(m.starts_with("flowchart LR\n"), "{m}");
        assert!(
            m.contains("subgraph svc_DynamoDB[\"DynamoDB\"]") && m.contains("Items[(\"Items\")]"),
            "{m}"
        );
        // The role and log group are drawn as the function.
        assert!(
            !m.contains("ReaderRole") && !m.contains("ReaderLogGroup"),
            "{m}"
        );
        assert!(m.contains("ReaderFunction -->|\"read\"| Items"), "{m}");
        // The environment's Ref says less than the grant: one edge.
        assert!(!m.contains("ReaderFunction --> Items\n"), "{m}");
        assert_eq!(m, mermaid(&t), "deterministic");
    }

    #[test]
    fn levels_name_the_kind_of_access() {
        assert_eq!(level("dynamodb:GetItem"), "read");
        assert_eq!(level("dynamodb:PutItem"), "write");
        assert_eq!(level("lambda:InvokeFunction"), "invoke");
        assert_eq!(level("iam:PassRole"), "pass");
        assert_eq!(level("sqs:ReceiveMessage"), "read");
    }
}
