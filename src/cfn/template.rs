//! The template model: parameters, conditions, resources, outputs, and the resource envelope.

use std::collections::BTreeMap;

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
    pub type_name: &'static str,
    #[serde(skip)]
    pub attributes: &'static [&'static str],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<RemovalPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_replace_policy: Option<RemovalPolicy>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, Json>,
    #[serde(skip_serializing_if = "is_empty_object")]
    pub properties: Json,
}

fn is_empty_object(v: &Json) -> bool {
    v.as_object().is_some_and(|m| m.is_empty())
}

/// Options on a resource just added: dependencies, removal policy, metadata.
pub struct ResourceOptions<'a>(Option<&'a mut ResourceEntry>);

impl ResourceOptions<'_> {
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
    fn edit(self, f: impl FnOnce(&mut ResourceEntry)) -> Self {
        let ResourceOptions(entry) = self;
        match entry {
            Some(e) => {
                f(e);
                ResourceOptions(Some(e))
            }
            None => ResourceOptions(None),
        }
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

    /// Adds a resource under `id`.
    pub fn add<R: Resource>(&mut self, id: &str, resource: &R) -> ResourceOptions<'_> {
        if !self.claim(id, R::TYPE) {
            return ResourceOptions(None);
        }
        let properties = match serde_json::to_value(resource) {
            Ok(p) => p,
            Err(e) => {
                self.build_errors.push(Error::Render {
                    stack: self.stack.clone(),
                    from: id.to_owned(),
                    message: e.to_string(),
                });
                return ResourceOptions(None);
            }
        };
        let entry = self
            .resources
            .entry(id.to_owned())
            .or_insert(ResourceEntry {
                type_name: R::TYPE,
                attributes: R::ATTRIBUTES,
                condition: None,
                depends_on: Vec::new(),
                deletion_policy: None,
                update_replace_policy: None,
                metadata: BTreeMap::new(),
                properties,
            });
        ResourceOptions(Some(entry))
    }

    /// Checks that `id` is a valid logical ID not yet used by a parameter, condition or resource.
    fn claim(&mut self, id: &str, what: &str) -> bool {
        if let Err(reason) = LogicalId::new(id) {
            self.invalid_id(id, reason);
            return false;
        }
        let existing = if let Some(r) = self.resources.get(id) {
            Some(r.type_name.to_owned())
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
