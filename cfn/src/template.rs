//! The template model: parameters, conditions, resources, outputs, and the resource envelope.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde::Serialize;
use serde_json::Value as Json;

use super::error::Error;
use super::expr::{Expr, Value};

/// A typed resource: a plain struct of its properties.
pub trait Resource: Serialize {
    /// The CloudFormation type name, e.g. `AWS::DynamoDB::Table`.
    const TYPE: &'static str;
    /// The attributes `Fn::GetAtt` may read.
    const ATTRIBUTES: &'static [&'static str];
}

/// A logical ID: `^[A-Za-z0-9]{1,255}$`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct LogicalId(String);

impl LogicalId {
    pub fn new(id: &str) -> Result<LogicalId, &'static str> {
        if id.is_empty() {
            Err("it is empty")
        } else if id.len() > 255 {
            Err("it is longer than 255 characters")
        } else if !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Err("only ASCII letters and digits are allowed")
        } else {
            Ok(LogicalId(id.to_owned()))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What happens to a resource when it leaves the stack. Maps to both `DeletionPolicy` and
/// `UpdateReplacePolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum RemovalPolicy {
    Delete,
    Retain,
    /// Retained, except when the stack's first create rolls back.
    RetainExceptOnCreate,
    Snapshot,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ParameterType {
    String,
    Number,
    CommaDelimitedList,
    #[serde(rename = "List<Number>")]
    NumberList,
    #[serde(rename = "AWS::SSM::Parameter::Value<String>")]
    SsmString,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Parameter {
    #[serde(rename = "Type")]
    pub kind: ParameterType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_values: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_pattern: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraint_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_value: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_value: Option<u32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_echo: bool,
}

impl Parameter {
    pub fn string(description: &str) -> Parameter {
        Parameter {
            kind: ParameterType::String,
            description: Some(description.to_owned()),
            default: None,
            allowed_values: Vec::new(),
            allowed_pattern: None,
            constraint_description: None,
            min_length: None,
            max_length: None,
            min_value: None,
            max_value: None,
            no_echo: false,
        }
    }
    pub fn number(description: &str) -> Parameter {
        Parameter {
            kind: ParameterType::Number,
            ..Parameter::string(description)
        }
    }
    pub fn range(mut self, min: u32, max: u32) -> Parameter {
        self.min_value = Some(min);
        self.max_value = Some(max);
        self
    }
    pub fn pattern(mut self, pattern: &str, explanation: &str) -> Parameter {
        self.allowed_pattern = Some(pattern.to_owned());
        self.constraint_description = Some(explanation.to_owned());
        self
    }
    pub fn length(mut self, min: u32, max: u32) -> Parameter {
        self.min_length = Some(min);
        self.max_length = Some(max);
        self
    }
    pub fn default(mut self, value: &str) -> Parameter {
        self.default = Some(value.to_owned());
        self
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Output {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub value: Value<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export: Option<Export>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Export {
    pub name: Value<String>,
}

impl Output {
    pub fn new(description: &str, value: impl Into<Value<String>>) -> Output {
        Output {
            description: Some(description.to_owned()),
            value: value.into(),
            export: None,
            condition: None,
        }
    }
    pub fn export(mut self, name: impl Into<Value<String>>) -> Output {
        self.export = Some(Export { name: name.into() });
        self
    }
}

/// The resource envelope: type, properties and the attributes around them. Rendered in one place.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceEntry {
    #[serde(rename = "Type")]
    pub type_name: String,
    /// What `Fn::GetAtt` may read; `None` for a type the pinned schemas do not know (a private
    /// registry type), whose attributes are not checked.
    #[serde(skip)]
    pub attributes: Option<&'static [&'static str]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<RemovalPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_replace_policy: Option<RemovalPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_policy: Option<Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_policy: Option<Json>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, Json>,
    #[serde(skip_serializing_if = "is_empty_object")]
    pub properties: Json,
}

fn is_empty_object(v: &Json) -> bool {
    v.as_object().is_some_and(|m| m.is_empty())
}

/// A resource of a type the model has no struct for: a private or third-party registry type
/// (`MyOrg::Billing::Meter`), or a type newer than the pinned schemas. Its properties are JSON,
/// validated like any other resource's.
pub struct Raw;

/// A resource added to a template, by logical ID: its `Ref` and its typed attributes (the
/// generated `attr_*` methods, for example `Handle<sqs::Queue>::attr_arn`).
pub struct Handle<R> {
    id: String,
    kind: PhantomData<fn() -> R>,
}

impl<R> Handle<R> {
    /// A handle to the resource `id`, for one added elsewhere.
    pub fn new(id: &str) -> Handle<R> {
        Handle {
            id: id.to_owned(),
            kind: PhantomData,
        }
    }
    pub fn id(&self) -> &str {
        &self.id
    }
    pub fn r#ref(&self) -> Expr {
        Expr::Ref(self.id.clone())
    }
    /// `Fn::GetAtt` of any attribute; the generated `attr_*` methods name the known ones.
    pub fn get_att(&self, attribute: &str) -> Expr {
        Expr::GetAtt(self.id.clone(), attribute.to_owned())
    }
}

impl<R> Clone for Handle<R> {
    fn clone(&self) -> Self {
        Handle::new(&self.id)
    }
}

impl<R> std::fmt::Debug for Handle<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Handle({})", self.id)
    }
}

/// Options on a resource just added: dependencies, removal policy, metadata, the rest of the
/// envelope, and overrides of its properties.
pub struct ResourceOptions<'a, R = Raw> {
    id: String,
    stack: String,
    entry: Option<&'a mut ResourceEntry>,
    errors: Option<&'a mut Vec<Error>>,
    kind: PhantomData<fn() -> R>,
}

impl<R> ResourceOptions<'_, R> {
    /// The resource's handle: its `Ref` and typed attributes.
    pub fn handle(&self) -> Handle<R> {
        Handle::new(&self.id)
    }
    pub fn depends_on(self, id: &str) -> Self {
        self.edit(|e| {
            if !e.depends_on.iter().any(|d| d == id) {
                e.depends_on.push(id.to_owned());
            }
        })
    }
    pub fn removal(self, policy: RemovalPolicy) -> Self {
        self.edit(|e| {
            e.deletion_policy = Some(policy);
            // UpdateReplacePolicy has no RetainExceptOnCreate: a replacement is never a create.
            e.update_replace_policy = Some(match policy {
                RemovalPolicy::RetainExceptOnCreate => RemovalPolicy::Retain,
                other => other,
            });
        })
    }
    pub fn condition(self, name: &str) -> Self {
        self.edit(|e| e.condition = Some(name.to_owned()))
    }
    /// The `UpdatePolicy` attribute, as JSON.
    pub fn update_policy(self, policy: Json) -> Self {
        self.edit(|e| e.update_policy = Some(policy))
    }
    /// The `CreationPolicy` attribute, as JSON.
    pub fn creation_policy(self, policy: Json) -> Self {
        self.edit(|e| e.creation_policy = Some(policy))
    }
    /// One `Metadata` key.
    pub fn metadata(self, key: &str, value: Json) -> Self {
        self.edit(|e| {
            e.metadata.insert(key.to_owned(), value);
        })
    }
    /// Suppresses a checkov check on this resource. The reason is required and is written into
    /// the template beside the suppression.
    pub fn checkov_skip(self, check: &str, reason: &str) -> Self {
        self.edit(|e| {
            let checkov = e
                .metadata
                .entry("checkov".to_owned())
                .or_insert_with(|| serde_json::json!({"skip": []}));
            if let Some(list) = checkov.get_mut("skip").and_then(Json::as_array_mut) {
                list.push(serde_json::json!({"id": check, "comment": reason}));
            }
        })
    }
    /// Sets the property at `path` (dot-separated, list indexes as numbers: `Tags.0.Value`),
    /// creating the objects on the way, as CDK's `addPropertyOverride` does. The result is
    /// validated like every property: references, wildcard actions.
    pub fn override_property(self, path: &str, value: Json) -> Self {
        self.apply(path, Some(value))
    }
    /// Removes the property at `path`, as CDK's `addPropertyDeletionOverride` does.
    pub fn remove_property(self, path: &str) -> Self {
        self.apply(path, None)
    }

    fn apply(mut self, path: &str, value: Option<Json>) -> Self {
        let result = match self.entry.as_deref_mut() {
            Some(e) => override_at(&mut e.properties, path, value),
            None => Ok(()),
        };
        if let (Err(reason), Some(errors)) = (result, self.errors.as_deref_mut()) {
            {
                errors.push(Error::BadOverride {
                    stack: self.stack.clone(),
                    id: self.id.clone(),
                    path: path.to_owned(),
                    reason,
                });
            }
        }
        self
    }

    fn edit(mut self, f: impl FnOnce(&mut ResourceEntry)) -> Self {
        if let Some(e) = self.entry.as_deref_mut() {
            f(e);
        }
        self
    }
}

/// Sets (or, with `None`, removes) the value at a dotted path inside `root`.
fn override_at(root: &mut Json, path: &str, value: Option<Json>) -> Result<(), String> {
    let parts: Vec<&str> = path.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err("the path has an empty segment".to_owned());
    }
    let (last, parents) = parts.split_last().ok_or("the path is empty")?;
    let mut node = root;
    for (i, part) in parents.iter().enumerate() {
        let at = parts[..=i].join(".");
        node = match node {
            Json::Object(map) => {
                if value.is_none() && !map.contains_key(*part) {
                    return Err(format!("{at} is not set"));
                }
                map.entry(part.to_string())
                    .or_insert_with(|| Json::Object(Default::default()))
            }
            Json::Array(list) => {
                let index: usize = part
                    .parse()
                    .map_err(|_| format!("{at}: {part:?} is not an index into a list"))?;
                let len = list.len();
                list.get_mut(index)
                    .ok_or_else(|| format!("{at}: index {index} is past the list's {len} items"))?
            }
            _ => {
                return Err(format!(
                    "{at} is inside a value that is not an object or a list"
                ));
            }
        };
    }
    match (node, value) {
        (Json::Object(map), Some(v)) => {
            map.insert(last.to_string(), v);
            Ok(())
        }
        (Json::Object(map), None) => map
            .remove(*last)
            .map(drop)
            .ok_or_else(|| format!("{path} is not set")),
        (Json::Array(list), v) => {
            let index: usize = last
                .parse()
                .map_err(|_| format!("{last:?} is not an index into a list"))?;
            if index >= list.len() {
                return Err(format!(
                    "index {index} is past the list's {} items",
                    list.len()
                ));
            }
            match v {
                Some(v) => list[index] = v,
                None => {
                    list.remove(index);
                }
            }
            Ok(())
        }
        _ => Err(format!(
            "{path} is inside a value that is not an object or a list"
        )),
    }
}

/// `Service::Resource`-shaped type names: `AWS::SQS::Queue`, `MyOrg::Billing::Meter`,
/// `Custom::Anything`.
fn check_type_name(name: &str) -> Result<(), &'static str> {
    let parts: Vec<&str> = name.split("::").collect();
    let word = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    match parts.as_slice() {
        ["Custom", r] if word(r) => Ok(()),
        [a, b, c] if word(a) && word(b) && word(c) => Ok(()),
        _ => Err("a type name is Organization::Service::Resource (or Custom::Name)"),
    }
}

/// A CloudFormation template under construction. Mistakes made while building (a bad or
/// duplicate logical ID) are recorded and reported by [`Template::validate`], so stack code reads
/// as a list of declarations.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    /// The stack this template is for; every error names it.
    pub stack: String,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, Json>,
    pub parameters: BTreeMap<String, Parameter>,
    pub conditions: BTreeMap<String, Expr>,
    pub resources: BTreeMap<String, ResourceEntry>,
    pub outputs: BTreeMap<String, Output>,
    pub(crate) build_errors: Vec<Error>,
}

impl Template {
    pub fn new(stack: &str) -> Template {
        Template {
            stack: stack.to_owned(),
            description: None,
            metadata: BTreeMap::new(),
            parameters: BTreeMap::new(),
            conditions: BTreeMap::new(),
            resources: BTreeMap::new(),
            outputs: BTreeMap::new(),
            build_errors: Vec::new(),
        }
    }

    pub fn description(&mut self, d: &str) -> &mut Self {
        self.description = Some(d.to_owned());
        self
    }

    /// Adds a parameter and returns a `Ref` to it.
    pub fn parameter(&mut self, id: &str, parameter: Parameter) -> Expr {
        if self.claim(id, "parameter") {
            self.parameters.insert(id.to_owned(), parameter);
        }
        Expr::Ref(id.to_owned())
    }

    pub fn condition(&mut self, id: &str, condition: Expr) -> &mut Self {
        if self.claim(id, "condition") {
            self.conditions.insert(id.to_owned(), condition);
        }
        self
    }

    pub fn output(&mut self, id: &str, output: Output) -> &mut Self {
        match LogicalId::new(id) {
            Err(reason) => self.invalid_id(id, reason),
            Ok(_) if self.outputs.contains_key(id) => {
                self.duplicate(id, "output".to_owned(), "output")
            }
            Ok(_) => {
                self.outputs.insert(id.to_owned(), output);
            }
        }
        self
    }

    /// Adds a typed resource under `id`.
    pub fn add<R: Resource>(&mut self, id: &str, resource: &R) -> ResourceOptions<'_, R> {
        match serde_json::to_value(resource) {
            Ok(properties) => self.insert(id, R::TYPE.to_owned(), Some(R::ATTRIBUTES), properties),
            Err(e) => {
                self.build_errors.push(Error::Render {
                    stack: self.stack.clone(),
                    from: id.to_owned(),
                    message: e.to_string(),
                });
                self.options(id, false)
            }
        }
    }

    /// Adds a resource of any type name with JSON properties: the escape hatch for private and
    /// third-party registry types and for types newer than the pinned schemas. A type the
    /// schemas know has its attributes checked as a typed one does.
    pub fn add_raw(&mut self, id: &str, type_name: &str, properties: Json) -> ResourceOptions<'_> {
        if let Err(reason) = check_type_name(type_name) {
            self.build_errors.push(Error::InvalidTypeName {
                stack: self.stack.clone(),
                id: id.to_owned(),
                type_name: type_name.to_owned(),
                reason,
            });
            return self.options(id, false);
        }
        if !properties.is_object() {
            self.build_errors.push(Error::Render {
                stack: self.stack.clone(),
                from: id.to_owned(),
                message: "a resource's properties are a JSON object".to_owned(),
            });
            return self.options(id, false);
        }
        let attributes = crate::metadata::type_info(type_name).map(|t| t.attributes);
        self.insert(id, type_name.to_owned(), attributes, properties)
    }

    fn insert<R>(
        &mut self,
        id: &str,
        type_name: String,
        attributes: Option<&'static [&'static str]>,
        properties: Json,
    ) -> ResourceOptions<'_, R> {
        if !self.claim(id, &type_name) {
            return self.options(id, false);
        }
        self.resources.insert(
            id.to_owned(),
            ResourceEntry {
                type_name,
                attributes,
                condition: None,
                depends_on: Vec::new(),
                deletion_policy: None,
                update_replace_policy: None,
                update_policy: None,
                creation_policy: None,
                metadata: BTreeMap::new(),
                properties,
            },
        );
        self.options(id, true)
    }

    /// The options of resource `id`; detached (they change nothing) if it was refused.
    fn options<R>(&mut self, id: &str, added: bool) -> ResourceOptions<'_, R> {
        ResourceOptions {
            id: id.to_owned(),
            stack: self.stack.clone(),
            entry: if added {
                self.resources.get_mut(id)
            } else {
                None
            },
            errors: if added {
                Some(&mut self.build_errors)
            } else {
                None
            },
            kind: PhantomData,
        }
    }

    /// Checks that `id` is a valid logical ID not yet used by a parameter, condition or resource.
    fn claim(&mut self, id: &str, what: &str) -> bool {
        if let Err(reason) = LogicalId::new(id) {
            self.invalid_id(id, reason);
            return false;
        }
        let existing = if let Some(r) = self.resources.get(id) {
            Some(r.type_name.clone())
        } else if self.parameters.contains_key(id) {
            Some("parameter".to_owned())
        } else if self.conditions.contains_key(id) {
            Some("condition".to_owned())
        } else {
            None
        };
        match existing {
            Some(first) => {
                self.duplicate(id, first, what);
                false
            }
            None => true,
        }
    }

    fn invalid_id(&mut self, id: &str, reason: &'static str) {
        self.build_errors.push(Error::InvalidLogicalId {
            stack: self.stack.clone(),
            id: id.to_owned(),
            reason,
        });
    }

    fn duplicate(&mut self, id: &str, first: String, second: &str) {
        self.build_errors.push(Error::DuplicateLogicalId {
            stack: self.stack.clone(),
            id: id.to_owned(),
            first,
            second: second.to_owned(),
        });
    }

    /// The template as CloudFormation reads it, in canonical section order.
    fn document(&self) -> Document<'_> {
        Document {
            format_version: "2010-09-09",
            description: self.description.as_deref(),
            metadata: &self.metadata,
            parameters: &self.parameters,
            conditions: &self.conditions,
            resources: &self.resources,
            outputs: &self.outputs,
        }
    }

    /// Pretty JSON with a trailing newline. Keys are sorted, so output is deterministic.
    pub fn to_json(&self) -> String {
        // Every map in the document has string keys, so this cannot fail.
        let mut s = serde_json::to_string_pretty(&self.document()).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Compact JSON: what a TemplateBody carries, and what its size limit is checked against.
    pub fn to_json_compact(&self) -> String {
        // Every map in the document has string keys, so this cannot fail.
        serde_json::to_string(&self.document()).unwrap_or_default()
    }

    /// YAML with ambiguous scalars quoted (`"2010-09-09"`, `"yes"`) and intrinsics in long form.
    pub fn to_yaml(&self) -> Result<String, Error> {
        serde_saphyr::to_string(&self.document()).map_err(|e| Error::Render {
            stack: self.stack.clone(),
            from: "the template".to_owned(),
            message: e.to_string(),
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Document<'a> {
    #[serde(rename = "AWSTemplateFormatVersion")]
    format_version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    metadata: &'a BTreeMap<String, Json>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    parameters: &'a BTreeMap<String, Parameter>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    conditions: &'a BTreeMap<String, Expr>,
    resources: &'a BTreeMap<String, ResourceEntry>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    outputs: &'a BTreeMap<String, Output>,
}
