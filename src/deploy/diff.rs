//! Template diffs: what a deploy changes, per resource, computed from the deployed template and
//! the synthesized one (an emulator cannot produce change-set details, and AWS's come only
//! after the change set exists). It also says which changes replace a resource and which
//! broaden permissions, which is what `--require-approval broadening` asks about.

use std::collections::{BTreeMap, BTreeSet};

use anstyle::{AnsiColor, Style};
use serde_json::Value;

use crate::cfn::metadata;
use crate::cfn::sub_variables;

/// Whether a change replaces the resource (a new physical resource, the old one deleted), from
/// the registry schemas' create-only properties.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Replacement {
    Never,
    /// The schema's conditionally create-only properties: it depends on the values (DynamoDB's
    /// `KeySchema`, an event rule's `EventBusName`). Also what a type the pinned schemas do
    /// not know answers.
    Conditional,
    Always,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Added,
    Removed {
        /// The resource is kept (DeletionPolicy Retain) when removed from the stack.
        retained: bool,
    },
    Modified {
        /// Property paths that changed, like `Properties.MemorySize`.
        paths: Vec<String>,
        replacement: Replacement,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceChange {
    pub logical_id: String,
    pub resource_type: String,
    pub change: Change,
    /// Why this change widens access, if it does.
    pub broadening: Option<String>,
}

/// A stack's differences: resources, and the other sections by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StackDiff {
    pub stack: String,
    pub resources: Vec<ResourceChange>,
    /// Parameters, outputs and the like: `Outputs.ApiUrl`, `Parameters (values): ...`.
    pub other: Vec<String>,
}

impl StackDiff {
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty() && self.other.is_empty()
    }

    pub fn broadening(&self) -> Vec<&ResourceChange> {
        self.resources
            .iter()
            .filter(|r| r.broadening.is_some())
            .collect()
    }
}

/// Whether a change at a diff path (`KeySchema[0].AttributeName`, below `Properties`) replaces a
/// resource of `resource_type`: read from the metadata table of the pinned registry schemas.
fn replaces(resource_type: &str, property_path: &str) -> Replacement {
    let Some(info) = metadata::type_info(resource_type) else {
        // A private registry type, or one newer than the schemas: nothing says it cannot.
        return Replacement::Conditional;
    };
    let schema_path = property_path
        .replace("].", "/")
        .replace(['[', '.'], "/")
        .replace(']', "");
    match info.replacement(&schema_path) {
        metadata::Replacement::Never => Replacement::Never,
        metadata::Replacement::Conditional => Replacement::Conditional,
        metadata::Replacement::Always => Replacement::Always,
    }
}

/// The paths under `prefix` where `old` and `new` differ.
pub fn changed_paths(old: &Value, new: &Value, prefix: &str, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let path = format!("{prefix}.{k}");
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => changed_paths(x, y, &path, out),
                    _ => out.push(path),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                changed_paths(x, y, &format!("{prefix}[{i}]"), out);
            }
        }
        _ if old != new => out.push(prefix.to_owned()),
        _ => {}
    }
}

/// Every Allow statement a resource grants, as canonical JSON, to tell added ones. A Deny
/// only narrows access.
fn statements(resource: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let props = &resource["Properties"];
    let mut docs: Vec<&Value> = vec![&props["AssumeRolePolicyDocument"], &props["PolicyDocument"]];
    if let Some(policies) = props["Policies"].as_array() {
        docs.extend(policies.iter().map(|p| &p["PolicyDocument"]));
    }
    for doc in docs {
        let list = match &doc["Statement"] {
            Value::Array(list) => list.iter().collect(),
            Value::Null => Vec::new(),
            one => vec![one],
        };
        out.extend(
            list.into_iter()
                .filter(|s| s["Effect"] == "Allow")
                .map(Value::to_string),
        );
    }
    for key in ["ManagedPolicyArns", "PermissionsBoundary"] {
        if !props[key].is_null() {
            out.insert(format!("{key}: {}", props[key]));
        }
    }
    out
}

/// Why a change widens access: new policy statements, or a new or changed invoke permission.
fn broadening(resource_type: &str, old: Option<&Value>, new: Option<&Value>) -> Option<String> {
    let new = new?;
    if resource_type == "AWS::Lambda::Permission" {
        let same = old.is_some_and(|o| o["Properties"] == new["Properties"]);
        return (!same).then(|| {
            format!(
                "lets {} invoke a function",
                new["Properties"]["Principal"]
                    .as_str()
                    .unwrap_or("a principal")
            )
        });
    }
    let before = old.map(statements).unwrap_or_default();
    let added = statements(new).difference(&before).count();
    (added > 0).then(|| format!("{added} new IAM statement(s) or policy attachment(s)"))
}

/// Whether `value` refers to the parameter `name`: a `{"Ref": name}`, or a `${name}` in a
/// `Fn::Sub` string that the Sub's own variables do not define.
fn uses_parameter(value: &Value, name: &str) -> bool {
    match value {
        Value::Array(items) => items.iter().any(|v| uses_parameter(v, name)),
        Value::Object(map) if map.len() == 1 => match map.iter().next() {
            Some((k, Value::String(target))) if k == "Ref" => target == name,
            Some((k, Value::String(template))) if k == "Fn::Sub" => {
                sub_variables(template).contains(&name)
            }
            Some((k, Value::Array(args))) if k == "Fn::Sub" && args.len() == 2 => {
                let local = args[1].as_object().is_some_and(|m| m.contains_key(name));
                let in_template = args[0]
                    .as_str()
                    .is_some_and(|t| sub_variables(t).contains(&name));
                (in_template && !local) || uses_parameter(&args[1], name)
            }
            Some((_, arg)) => uses_parameter(arg, name),
            None => false,
        },
        Value::Object(map) => map.values().any(|v| uses_parameter(v, name)),
        _ => false,
    }
}

fn resources(template: &Value) -> BTreeMap<String, Value> {
    template["Resources"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// The differences between the deployed template (None for a new stack) and the new one.
/// `changed_parameters` names parameters whose deployed value differs: resources that use them
/// change too, though their template text does not.
pub fn diff(
    stack: &str,
    old: Option<&Value>,
    new: &Value,
    changed_parameters: &BTreeSet<String>,
) -> StackDiff {
    let empty = Value::Null;
    let before = old.map(resources).unwrap_or_default();
    let after = resources(new);
    let mut changes = Vec::new();
    let ids: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for id in ids {
        let (o, n) = (before.get(id), after.get(id));
        let resource_type = n
            .or(o)
            .and_then(|r| r["Type"].as_str())
            .unwrap_or("?")
            .to_owned();
        let change = match (o, n) {
            (None, Some(_)) => Change::Added,
            (Some(o), None) => Change::Removed {
                retained: matches!(
                    o["DeletionPolicy"].as_str(),
                    Some("Retain" | "RetainExceptOnCreate")
                ),
            },
            (Some(o), Some(n)) => {
                let mut paths = Vec::new();
                changed_paths(o, n, "", &mut paths);
                let mut paths: Vec<String> = paths.into_iter().map(|p| p[1..].to_owned()).collect();
                for p in changed_parameters {
                    if uses_parameter(&n["Properties"], p) {
                        paths.push(format!("(parameter {p})"));
                    }
                }
                if paths.is_empty() {
                    continue;
                }
                let replacement = paths
                    .iter()
                    .map(|p| match p.strip_prefix("Properties.") {
                        Some(p) => replaces(&resource_type, p),
                        // A new type is a new resource.
                        None if p == "Type" => Replacement::Always,
                        None => Replacement::Never,
                    })
                    .max()
                    .unwrap_or(Replacement::Never);
                Change::Modified { paths, replacement }
            }
            (None, None) => continue,
        };
        changes.push(ResourceChange {
            logical_id: id.clone(),
            broadening: broadening(&resource_type, o, n),
            resource_type,
            change,
        });
    }
    let mut other = Vec::new();
    for section in ["Parameters", "Outputs", "Conditions", "Mappings"] {
        let mut paths = Vec::new();
        changed_paths(
            old.map(|o| &o[section]).unwrap_or(&empty),
            &new[section],
            section,
            &mut paths,
        );
        other.extend(paths);
    }
    for p in changed_parameters {
        other.push(format!("parameter value {p}"));
    }
    StackDiff {
        stack: stack.to_owned(),
        resources: changes,
        other,
    }
}

/// The diff as text: one line per resource, then its changed paths. `color` adds ANSI colours.
pub fn render(diff: &StackDiff, color: bool) -> String {
    let paint = |style: Style, s: &str| {
        if color && !s.is_empty() {
            format!("{style}{s}{style:#}")
        } else {
            s.to_owned()
        }
    };
    let fg = |c: AnsiColor| Style::new().fg_color(Some(c.into()));
    let mut out = String::new();
    if diff.is_empty() {
        out.push_str(&format!("stack {}: no differences\n", diff.stack));
        return out;
    }
    out.push_str(&format!("stack {}\n", diff.stack));
    for r in &diff.resources {
        let (mark, style, note) = match &r.change {
            Change::Added => ("[+]", fg(AnsiColor::Green), String::new()),
            Change::Removed { retained } => (
                "[-]",
                fg(AnsiColor::Red),
                if *retained {
                    " (retained: removed from the stack, not deleted)".to_owned()
                } else {
                    String::new()
                },
            ),
            Change::Modified { replacement, .. } => (
                "[~]",
                fg(AnsiColor::Yellow),
                match replacement {
                    Replacement::Always => " (replacement)".to_owned(),
                    Replacement::Conditional => " (may replace)".to_owned(),
                    Replacement::Never => String::new(),
                },
            ),
        };
        out.push_str(&format!(
            "{} {} {}{}",
            paint(style, mark),
            r.resource_type,
            r.logical_id,
            paint(fg(AnsiColor::Red).bold(), &note)
        ));
        if let Some(why) = &r.broadening {
            out.push_str(&paint(
                fg(AnsiColor::Magenta),
                &format!("  [broadens access: {why}]"),
            ));
        }
        out.push('\n');
        if let Change::Modified { paths, .. } = &r.change {
            for p in paths {
                out.push_str(&format!("    {p}\n"));
            }
        }
    }
    for o in &diff.other {
        out.push_str(&format!("{} {o}\n", paint(fg(AnsiColor::Yellow), "[~]")));
    }
    out
}

#[cfg(test)]
mod tests;
