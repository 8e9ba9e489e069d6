//! Synth-time validation: references, conditions, dependency cycles, wildcard actions and
//! CloudFormation's limits. Works on the rendered envelope, so it checks exactly what is written.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use super::error::{Error, Errors, Warning};
use super::expr::Pseudo;
use super::template::Template;

pub const MAX_RESOURCES: usize = 500;
pub const MAX_PARAMETERS: usize = 200;
pub const MAX_OUTPUTS: usize = 200;
pub const MAX_BODY_BYTES: usize = 51_200;
pub const MAX_URL_BYTES: usize = 1_000_000;

/// How a template reaches CloudFormation, which decides its size limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// `TemplateBody`: at most 51,200 bytes. Needed where no bucket exists yet.
    Body,
    /// `TemplateURL` to an object in the artifacts bucket: at most 1 MB.
    Url,
}

impl Delivery {
    pub fn max_bytes(self) -> usize {
        match self {
            Delivery::Body => MAX_BODY_BYTES,
            Delivery::Url => MAX_URL_BYTES,
        }
    }
}

/// Checks a rendered template's size against the limit of its delivery.
pub fn check_size(stack: &str, bytes: usize, delivery: Delivery) -> Result<(), Error> {
    let max = delivery.max_bytes();
    if bytes > max {
        return Err(Error::TemplateTooLarge {
            stack: stack.to_owned(),
            bytes,
            max,
            delivery: match delivery {
                Delivery::Body => "passed as TemplateBody",
                Delivery::Url => "passed by TemplateURL",
            },
        });
    }
    Ok(())
}

/// One thing found while walking a property tree.
enum Found {
    Ref(String),
    GetAtt(String, String),
    Condition(String),
    Action(String),
}

struct Walk<'a> {
    path: Vec<&'a str>,
    found: Vec<(String, Found)>,
}

impl<'a> Walk<'a> {
    fn new(root: &'a str) -> Walk<'a> {
        Walk {
            path: vec![root],
            found: Vec::new(),
        }
    }

    fn push(&mut self, f: Found) {
        self.found.push((self.path.join("."), f));
    }

    fn value(&mut self, v: &'a Json) {
        match v {
            Json::Array(items) => items.iter().for_each(|i| self.value(i)),
            Json::Object(map) => {
                if map.len() == 1 {
                    let (k, arg) = map
                        .iter()
                        .next()
                        .map_or(("", &Json::Null), |(k, a)| (k.as_str(), a));
                    if self.intrinsic(k, arg) {
                        return;
                    }
                }
                // Least privilege is about what is allowed: a Deny on `s3:*` (the TLS-only
                // idiom) narrows access and is fine.
                if map.get("Effect").and_then(Json::as_str) == Some("Allow") {
                    for key in ["Action", "NotAction"] {
                        for a in crate::policy::rendered_actions(v, key) {
                            if key == "NotAction" || a.contains('*') {
                                self.push(Found::Action(format!("{key} {a}")));
                            }
                        }
                    }
                }
                for (k, child) in map {
                    self.path.push(k);
                    self.value(child);
                    self.path.pop();
                }
            }
            _ => {}
        }
    }

    /// Records an intrinsic's references. Returns false if `key` is not an intrinsic.
    fn intrinsic(&mut self, key: &str, arg: &'a Json) -> bool {
        match (key, arg) {
            ("Ref", Json::String(target)) => self.push(Found::Ref(target.clone())),
            ("Fn::GetAtt", Json::Array(a)) if a.len() == 2 => {
                if let (Some(t), Some(attr)) = (a[0].as_str(), a[1].as_str()) {
                    self.push(Found::GetAtt(t.to_owned(), attr.to_owned()));
                } else {
                    self.value(arg);
                }
            }
            ("Fn::GetAtt", Json::String(s)) => {
                let (t, attr) = s.split_once('.').unwrap_or((s, ""));
                self.push(Found::GetAtt(t.to_owned(), attr.to_owned()));
            }
            ("Fn::Sub", Json::String(s)) => self.sub(s, &BTreeSet::new()),
            ("Fn::Sub", Json::Array(a)) if a.len() == 2 => {
                let local: BTreeSet<&str> = a[1]
                    .as_object()
                    .map(|m| m.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                if let Some(s) = a[0].as_str() {
                    self.sub(s, &local);
                }
                self.value(&a[1]);
            }
            ("Fn::If", Json::Array(a)) if a.len() == 3 => {
                if let Some(c) = a[0].as_str() {
                    self.push(Found::Condition(c.to_owned()));
                }
                self.value(&a[1]);
                self.value(&a[2]);
            }
            ("Condition", Json::String(c)) => self.push(Found::Condition(c.clone())),
            _ => return false,
        }
        true
    }

    fn sub(&mut self, template: &str, local: &BTreeSet<&str>) {
        for var in sub_variables(template) {
            if local.contains(var) {
                continue;
            }
            match var.split_once('.') {
                Some((t, attr)) if !var.contains("::") => {
                    self.push(Found::GetAtt(t.to_owned(), attr.to_owned()))
                }
                _ => self.push(Found::Ref(var.to_owned())),
            }
        }
    }
}

/// The logical IDs a rendered value refers to, once each in order of appearance: its `Ref`s
/// (pseudo parameters left out), `Fn::GetAtt`s and `Fn::Sub` variables, as validation reads
/// them.
pub fn references(value: &Json) -> Vec<String> {
    let mut walk = Walk::new("");
    walk.value(value);
    let mut out: Vec<String> = Vec::new();
    for (_, found) in walk.found {
        let id = match found {
            Found::Ref(id) if !Pseudo::is_pseudo(&id) => id,
            Found::GetAtt(id, _) => id,
            _ => continue,
        };
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

/// The `${Name}` variables of a Fn::Sub string, without the `${!Literal}` escapes.
pub fn sub_variables(template: &str) -> Vec<&str> {
    let mut vars = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let var = after[..end].trim();
        if !var.starts_with('!') {
            vars.push(var);
        }
        rest = &after[end + 1..];
    }
    vars
}

/// The result of a successful validation.
#[derive(Debug, Default)]
pub struct Report {
    pub warnings: Vec<Warning>,
}

impl Template {
    /// Runs every structural check. Returns all errors at once.
    pub fn validate(&self) -> Result<Report, Errors> {
        let stack = self.stack.as_str();
        let mut errors = self.build_errors.clone();
        for (what, count, max) in [
            ("resources", self.resources.len(), MAX_RESOURCES),
            ("parameters", self.parameters.len(), MAX_PARAMETERS),
            ("outputs", self.outputs.len(), MAX_OUTPUTS),
        ] {
            if count > max {
                errors.push(Error::LimitExceeded {
                    stack: stack.to_owned(),
                    what,
                    count,
                    max,
                });
            }
        }

        let mut used_parameters = BTreeSet::new();
        let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();

        let mut walks = Vec::new();
        for (id, entry) in &self.resources {
            let mut w = Walk::new(id);
            w.path.push("Properties");
            w.value(&entry.properties);
            w.path.pop();
            for (key, policy) in [
                ("UpdatePolicy", &entry.update_policy),
                ("CreationPolicy", &entry.creation_policy),
            ] {
                if let Some(p) = policy {
                    w.path.push(key);
                    w.value(p);
                    w.path.pop();
                }
            }
            if let Some(c) = &entry.condition {
                w.push(Found::Condition(c.clone()));
            }
            for d in &entry.depends_on {
                w.path.push("DependsOn");
                w.push(Found::Ref(d.clone()));
                w.path.pop();
            }
            walks.push((Some(id.as_str()), w));
        }
        let outputs = self
            .outputs
            .iter()
            .map(|(id, o)| (id, serde_json::to_value(o)));
        let conditions = self
            .conditions
            .iter()
            .map(|(id, c)| (id, serde_json::to_value(c)));
        let mut rendered = Vec::new();
        for (id, value) in outputs.chain(conditions) {
            match value {
                Ok(v) => rendered.push((id.as_str(), v)),
                Err(e) => errors.push(Error::Render {
                    stack: stack.to_owned(),
                    from: id.clone(),
                    message: e.to_string(),
                }),
            }
        }
        for (id, value) in &rendered {
            let mut w = Walk::new(id);
            w.value(value);
            walks.push((None, w));
        }

        for (resource, walk) in &walks {
            for (from, found) in &walk.found {
                let missing = |target: &str| Error::MissingReference {
                    stack: stack.to_owned(),
                    from: from.clone(),
                    target: target.to_owned(),
                };
                match found {
                    Found::Ref(target) => {
                        if Pseudo::is_pseudo(target) {
                            continue;
                        }
                        if self.parameters.contains_key(target) {
                            used_parameters.insert(target.as_str());
                        } else if let Some((key, _)) = self.resources.get_key_value(target) {
                            if let Some(r) = resource {
                                edges.entry(r).or_default().insert(key);
                            }
                        } else {
                            errors.push(missing(target));
                        }
                    }
                    Found::GetAtt(target, attribute) => {
                        match self.resources.get_key_value(target) {
                            None => errors.push(missing(target)),
                            Some((key, entry)) => {
                                let known = entry.attributes;
                                if known.is_some_and(|k| !k.contains(&attribute.as_str())) {
                                    errors.push(Error::UnknownAttribute {
                                        stack: stack.to_owned(),
                                        from: from.clone(),
                                        target: target.clone(),
                                        attribute: attribute.clone(),
                                        type_name: entry.type_name.clone(),
                                        known: known.unwrap_or_default().join(", "),
                                    });
                                }
                                if let Some(r) = resource {
                                    edges.entry(r).or_default().insert(key);
                                }
                            }
                        }
                    }
                    Found::Condition(c) => {
                        if !self.conditions.contains_key(c) {
                            errors.push(Error::UnknownCondition {
                                stack: stack.to_owned(),
                                from: from.clone(),
                                condition: c.clone(),
                            });
                        }
                    }
                    Found::Action(action) => errors.push(Error::WildcardAction {
                        stack: stack.to_owned(),
                        from: from.clone(),
                        action: action.clone(),
                    }),
                }
            }
        }

        if let Some(cycle) = find_cycle(&edges) {
            errors.push(Error::DependencyCycle {
                stack: stack.to_owned(),
                cycle,
            });
        }

        if !errors.is_empty() {
            return Err(Errors(errors));
        }
        let warnings = self
            .parameters
            .keys()
            .filter(|p| !used_parameters.contains(p.as_str()))
            .map(|p| Warning::UnusedParameter {
                stack: stack.to_owned(),
                parameter: p.clone(),
            })
            .collect();
        Ok(Report { warnings })
    }
}

/// Finds one dependency cycle, as the list of IDs with the first repeated at the end.
fn find_cycle<'a>(edges: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Active,
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> = BTreeMap::new();
    for &start in edges.keys() {
        if marks.contains_key(start) {
            continue;
        }
        // Iterative DFS: a stack of (node, its remaining successors).
        let mut path: Vec<&str> = vec![start];
        let mut stack: Vec<Vec<&str>> = vec![successors(edges, start)];
        marks.insert(start, Mark::Active);
        while let Some(next) = stack.last_mut() {
            match next.pop() {
                Some(n) => match marks.get(n) {
                    Some(Mark::Active) => {
                        let from = path.iter().position(|p| *p == n).unwrap_or(0);
                        let mut cycle: Vec<String> =
                            path[from..].iter().map(|s| (*s).to_owned()).collect();
                        cycle.push(n.to_owned());
                        return Some(cycle);
                    }
                    Some(Mark::Done) => {}
                    None => {
                        marks.insert(n, Mark::Active);
                        path.push(n);
                        stack.push(successors(edges, n));
                    }
                },
                None => {
                    if let Some(done) = path.pop() {
                        marks.insert(done, Mark::Done);
                    }
                    stack.pop();
                }
            }
        }
    }
    None
}

fn successors<'a>(edges: &BTreeMap<&'a str, BTreeSet<&'a str>>, n: &str) -> Vec<&'a str> {
    // Reversed so that popping visits successors in sorted order: cycles are reported stably.
    edges
        .get(n)
        .map(|s| s.iter().rev().copied().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
