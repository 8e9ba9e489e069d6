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
const CLOUDWATCH: &str = "ext_CloudWatch";

pub fn mermaid(template: &Template) -> String {
    let nodes = Nodes::new(template);
    let mut graph = Graph::default();
    for (id, entry) in &template.resources {
        let props = &entry.properties;
        match entry.type_name.as_str() {
            "AWS::IAM::Role" => nodes.role(&mut graph, id, props),
            "AWS::ApiGatewayV2::Route" => nodes.route(&mut graph, props),
            "AWS::Lambda::EventSourceMapping" => nodes.event_source_mapping(&mut graph, props),
            "AWS::Events::Rule" => nodes.rule(&mut graph, id, props),
            _ => nodes.references(&mut graph, id, props),
        }
        nodes.depends_on(&mut graph, id, &entry.depends_on);
    }
    if graph.external.contains(TENANT_STACKS) {
        boundaries(template, &mut graph);
    }
    let mut out = String::from("flowchart LR\n");
    nodes.render_services(&graph.routes, &mut out);
    render_external(&graph.external, &mut out);
    render_edges(graph.edges, &mut out);
    out
}

/// An edge: from, to, label (empty for a plain reference) and whether it is dotted.
type Edge = (String, String, String, bool);

/// What the diagram draws between the nodes.
#[derive(Default)]
struct Graph {
    edges: BTreeSet<Edge>,
    /// The nodes outside the stack that something reaches.
    external: BTreeSet<&'static str>,
    /// Each function's route keys, shown on its node.
    routes: BTreeMap<String, Vec<String>>,
}

impl Graph {
    fn edge(&mut self, from: String, to: String, label: &str, dotted: bool) {
        self.edges.insert((from, to, label.to_owned(), dotted));
    }
}

/// The template's resources, and the node each is drawn as.
struct Nodes<'a> {
    template: &'a Template,
    /// A function's role (and so its grants) and its log group, each to the function.
    owner: BTreeMap<String, String>,
}

impl<'a> Nodes<'a> {
    fn new(template: &'a Template) -> Nodes<'a> {
        let mut owner = BTreeMap::new();
        for (id, entry) in &template.resources {
            if entry.type_name != "AWS::Lambda::Function" {
                continue;
            }
            let props = &entry.properties;
            if let Some(role) = first_reference(&props["Role"]) {
                owner.insert(role, id.clone());
            }
            if let Some(group) = first_reference(&props["LoggingConfig"]["LogGroup"]) {
                owner.insert(group, id.clone());
            }
        }
        Nodes { template, owner }
    }

    /// The node resource `id` is drawn as: its owner's, or its own; `None` for plumbing.
    fn node(&self, id: &str) -> Option<String> {
        let id = self.owner.get(id).map_or(id, String::as_str);
        let entry = self.template.resources.get(id)?;
        (!HIDDEN.contains(&entry.type_name.as_str())).then(|| id.to_owned())
    }

    /// The node of the first resource `value` references.
    fn first_node(&self, value: &Json) -> Option<String> {
        first_reference(value).and_then(|r| self.node(&r))
    }

    /// A role's grants, drawn from its holder; a role CloudFormation assumes (and no function
    /// holds) works on the tenant stacks.
    fn role(&self, graph: &mut Graph, id: &str, props: &Json) {
        let holder = self.node(id).unwrap_or_else(|| id.to_owned());
        for (target, access) in grants(props) {
            match target {
                Target::Resource(t) => {
                    if let Some(t) = self.node(&t).filter(|t| *t != holder) {
                        graph.edge(holder.clone(), t, &access, false);
                    }
                }
                Target::CloudFormation => {
                    graph.external.insert(CLOUDFORMATION);
                    graph.edge(holder.clone(), CLOUDFORMATION.to_owned(), &access, false);
                }
            }
        }
        let trusted = &props["AssumeRolePolicyDocument"]["Statement"];
        let by_cfn = trusted
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["Principal"]["Service"] == "cloudformation.amazonaws.com");
        if by_cfn && !self.owner.contains_key(id) {
            graph.external.insert(CLOUDFORMATION);
            graph.external.insert(TENANT_STACKS);
            graph.edge(CLOUDFORMATION.to_owned(), id.to_owned(), "assumes", false);
            let label = "creates, updates, deletes";
            graph.edge(id.to_owned(), TENANT_STACKS.to_owned(), label, false);
        }
    }

    /// An API route: an edge from the API to the function its integration calls, labelled
    /// with the route key, which the function's node shows too.
    fn route(&self, graph: &mut Graph, props: &Json) {
        let key = props["RouteKey"].as_str().unwrap_or("route").to_owned();
        let function = first_reference(&props["Target"])
            .and_then(|i| self.template.resources.get(&i))
            .and_then(|integration| self.first_node(&integration.properties["IntegrationUri"]));
        if let (Some(api), Some(function)) = (self.first_node(&props["ApiId"]), function) {
            graph
                .routes
                .entry(function.clone())
                .or_default()
                .push(key.clone());
            graph.edge(api, function, &key, false);
        }
    }

    /// A stream feeding a function, and the queue its failed batches go to.
    fn event_source_mapping(&self, graph: &mut Graph, props: &Json) {
        let function = self.first_node(&props["FunctionName"]);
        if let (Some(s), Some(f)) = (self.first_node(&props["EventSourceArn"]), &function) {
            graph.edge(s, f.clone(), "stream", false);
        }
        let failures = references(&props["DestinationConfig"]);
        for q in failures.into_iter().filter_map(|q| self.node(&q)) {
            if let Some(f) = &function {
                graph.edge(f.clone(), q, "failed batches", true);
            }
        }
    }

    /// An EventBridge rule: the stack events it takes from CloudFormation (or the alarm
    /// state changes from CloudWatch), and its targets, labelled with its schedule if it has
    /// one.
    fn rule(&self, graph: &mut Graph, id: &str, props: &Json) {
        let Some(rule) = self.node(id) else { return };
        let from = |source: &str| {
            props["EventPattern"]["source"]
                .as_array()
                .is_some_and(|s| s.iter().any(|v| v == source))
        };
        for (source, node, label) in [
            ("aws.cloudformation", CLOUDFORMATION, "stack events"),
            ("aws.cloudwatch", CLOUDWATCH, "alarm state changes"),
        ] {
            if from(source) {
                graph.external.insert(node);
                graph.edge(node.to_owned(), rule.clone(), label, false);
            }
        }
        let label = match props.get("ScheduleExpression") {
            Some(schedule) => schedule.as_str().unwrap_or("schedule"),
            None => "matches",
        };
        for target in props["Targets"].as_array().into_iter().flatten() {
            for t in references(&target["Arn"])
                .into_iter()
                .filter_map(|t| self.node(&t))
            {
                graph.edge(rule.clone(), t, label, false);
            }
        }
    }

    /// Any other resource: a plain edge to each node it references.
    fn references(&self, graph: &mut Graph, id: &str, props: &Json) {
        let Some(from) = self.node(id) else { return };
        for target in references(props) {
            if let Some(t) = self.node(&target).filter(|t| *t != from) {
                graph.edge(from.clone(), t, "", false);
            }
        }
    }

    /// A dotted edge to each node resource `id` depends on.
    fn depends_on(&self, graph: &mut Graph, id: &str, depends_on: &[String]) {
        let Some(from) = self.node(id) else { return };
        for d in depends_on {
            if let Some(t) = self.node(d).filter(|t| *t != from) {
                graph.edge(from.clone(), t, "depends on", true);
            }
        }
    }

    /// Each service's nodes in a subgraph; a function's node lists its routes.
    fn render_services(&self, routes: &BTreeMap<String, Vec<String>>, out: &mut String) {
        let mut services: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
        for (id, entry) in &self.template.resources {
            if self.node(id).as_deref() == Some(id.as_str()) {
                let ty = entry.type_name.as_str();
                let service = ty.split("::").nth(1).unwrap_or("Other");
                services.entry(service).or_default().push((id, ty));
            }
        }
        for (service, ids) in &services {
            // Subgraph ids never meet a logical ID: `svc_` is not alphanumeric-only.
            out.push_str(&format!("  subgraph svc_{service}[\"{service}\"]\n"));
            for (id, ty) in ids {
                let label = match routes.get(*id) {
                    Some(keys) => format!("{id}<br/><i>{}</i>", keys.join(", ")),
                    None => (*id).to_owned(),
                };
                out.push_str(&format!("    {}\n", shape(id, ty, &label)));
            }
            out.push_str("  end\n");
        }
    }
}

/// The first resource `value` references.
fn first_reference(value: &Json) -> Option<String> {
    references(value).into_iter().next()
}

/// A managed policy attached to nothing here is the tenant roles' boundary.
fn boundaries(template: &Template, graph: &mut Graph) {
    for (id, entry) in &template.resources {
        let attached = ["Roles", "Users", "Groups"]
            .iter()
            .any(|k| entry.properties.get(*k).is_some());
        if entry.type_name == "AWS::IAM::ManagedPolicy" && !attached {
            let label = "boundary of every tenant role";
            graph.edge(id.clone(), TENANT_STACKS.to_owned(), label, true);
        }
    }
}

/// The nodes outside the stack.
fn render_external(external: &BTreeSet<&str>, out: &mut String) {
    for e in external {
        let label = match *e {
            TENANT_STACKS => "tenant stacks",
            CLOUDWATCH => "CloudWatch",
            _ => "CloudFormation",
        };
        out.push_str(&format!("  {e}{{{{\"{label}\"}}}}\n"));
    }
}

/// The edges, less each plain reference between two nodes that a grant or a flow already
/// joins: it says less.
fn render_edges(mut edges: BTreeSet<Edge>, out: &mut String) {
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
