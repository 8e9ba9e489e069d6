//! Blueprints (`blueprints/*.yaml`): one file per deployment type, naming the tenant stack to use
//! and holding minijinja expressions rendered per tenant. Loading reports the file and line of
//! every mistake; rendering is strict, and tenant strings are values, never template source.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

/// What happens to a tenant's data table when the tenant is offboarded: the blueprint's
/// `tenantData`, the tenant stack's variant (`stacks::TenantData::removal`), and what the
/// API's `GET /deployment-types` reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantData {
    /// Kept (`DeletionPolicy: RetainExceptOnCreate`): deleting a stack never deletes data.
    #[default]
    Retain,
    /// Deleted with the stack.
    Delete,
}

/// A loaded blueprint, with the source lines of its fields for error messages. It serializes
/// into the catalog, and the runtime reads it back from there.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blueprint {
    #[serde(skip)]
    pub path: PathBuf,
    pub deployment_type: String,
    pub description: String,
    pub stack: String,
    pub stack_name: String,
    pub parameters: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub tenant_data: TenantData,
    #[serde(skip)]
    lines: Lines,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Lines {
    deployment_type: u64,
    stack: u64,
    stack_name: u64,
    parameters: u64,
    parameter: BTreeMap<String, u64>,
    tag: BTreeMap<String, u64>,
}

/// The tenant a blueprint is rendered for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub safe_name: String,
    pub deployment_type: String,
}

impl Tenant {
    /// The tenant synth renders every blueprint for, to prove it renders.
    pub fn sample(deployment_type: &str) -> Tenant {
        Tenant {
            id: "00000000-0000-4000-8000-000000000000".to_owned(),
            name: "Sample Tenant".to_owned(),
            safe_name: "sampletenant".to_owned(),
            deployment_type: deployment_type.to_owned(),
        }
    }

    /// The sample tenant with a shorter name: a stack name that changes length between the two
    /// depends on the tenant's name.
    pub fn other_sample(deployment_type: &str) -> Tenant {
        Tenant {
            name: "Other Tenant".to_owned(),
            safe_name: "othertenant".to_owned(),
            ..Tenant::sample(deployment_type)
        }
    }
}

/// A blueprint rendered for one tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rendered {
    pub stack_name: String,
    pub parameters: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

/// What a blueprint is checked against: the parameters of the stack it names.
pub struct StackParameters<'a> {
    pub all: &'a [String],
    /// Parameters the platform injects; a blueprint must not set them.
    pub system: &'a [&'a str],
    /// Parameters with a default in the template (the alarm thresholds): a blueprint may
    /// leave them out, and its tenants take the default.
    pub defaulted: &'a [String],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {kind}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct Error {
    pub path: PathBuf,
    pub line: Option<u64>,
    pub kind: ErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("cannot read: {0}")]
    Read(String),
    #[error("{0}")]
    Parse(String),
    #[error("no blueprints (*.yaml) in this directory")]
    Empty,
    #[error(
        "deploymentType {0:?} must be 1 to 32 lowercase letters, digits and hyphens, starting with a letter"
    )]
    InvalidDeploymentType(String),
    #[error("deploymentType {found:?} does not match the file name; name the file {found}.yaml")]
    FileNameMismatch { found: String },
    #[error("unknown stack {stack:?} (known: {known})")]
    UnknownStack { stack: String, known: String },
    #[error("stack {stack} needs parameter {parameter}, which the blueprint does not set")]
    MissingParameter { stack: String, parameter: String },
    #[error("{parameter} is not a parameter of stack {stack} (its parameters: {known})")]
    UnknownParameter {
        stack: String,
        parameter: String,
        known: String,
    },
    #[error("{parameter} is supplied by the platform; remove it from the blueprint")]
    SystemParameter { parameter: String },
    #[error("{field}: {message}")]
    Template { field: String, message: String },
    #[error("stackName renders to {name:?}, which {reason}")]
    InvalidStackName {
        name: String,
        reason: StackNameError,
    },
    #[error("tag {key:?}: {reason}")]
    InvalidTag { key: String, reason: TagError },
    #[error("{0}")]
    Cells(cells::CellsError),
}

/// Why a rendered stack name is not a tenant stack name. Reads after "which".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StackNameError {
    #[error("is {0} characters long; tenant stack names hold at most {MAX_TENANT_STACK_NAME}")]
    TooLong(usize),
    #[error("is not a valid stack name (letters, digits and hyphens, starting with a letter)")]
    Invalid,
    #[error("does not start with {0:?}")]
    Prefix(String),
    #[error("does not contain the tenant id (use {{{{ tenant.id }}}})")]
    NoTenantId,
}

/// Why a rendered tag is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("keys hold 1 to 128 characters")]
    KeyLength,
    #[error("the aws: prefix is reserved")]
    Reserved,
    #[error("the platform sets it on every tenant stack; remove it from the blueprint")]
    System,
    #[error("the value is {0} characters; at most 256")]
    ValueLength(usize),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Raw {
    deployment_type: Spanned<String>,
    #[serde(default)]
    description: String,
    stack: Spanned<String>,
    stack_name: Spanned<String>,
    parameters: Spanned<HashMap<Spanned<String>, Spanned<String>>>,
    #[serde(default)]
    tags: HashMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    tenant_data: TenantData,
}

impl Blueprint {
    /// Parses blueprint `text`, read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Blueprint, Error> {
        let err = |line, kind| Error {
            path: path.to_owned(),
            line,
            kind,
        };
        let raw: Raw = parse_yaml(path, text)?;
        let dt = raw.deployment_type.value;
        let dt_line = raw.deployment_type.referenced.line();
        let valid = (1..=32).contains(&dt.len())
            && dt.starts_with(|c: char| c.is_ascii_lowercase())
            && dt
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            return Err(err(Some(dt_line), ErrorKind::InvalidDeploymentType(dt)));
        }
        if path.file_stem().and_then(|s| s.to_str()) != Some(dt.as_str()) {
            return Err(err(
                Some(dt_line),
                ErrorKind::FileNameMismatch { found: dt },
            ));
        }
        let mut lines = Lines {
            deployment_type: dt_line,
            stack: raw.stack.referenced.line(),
            stack_name: raw.stack_name.referenced.line(),
            parameters: raw.parameters.referenced.line(),
            ..Lines::default()
        };
        let mut parameters = BTreeMap::new();
        for (k, v) in raw.parameters.value {
            lines.parameter.insert(k.value.clone(), k.referenced.line());
            parameters.insert(k.value, v.value);
        }
        let mut tags = BTreeMap::new();
        for (k, v) in raw.tags {
            lines.tag.insert(k.value.clone(), k.referenced.line());
            tags.insert(k.value, v.value);
        }
        Ok(Blueprint {
            path: path.to_owned(),
            deployment_type: dt,
            description: raw.description,
            stack: raw.stack.value,
            stack_name: raw.stack_name.value,
            parameters,
            tags,
            tenant_data: raw.tenant_data,
            lines,
        })
    }

    /// Reads and parses one blueprint file.
    pub fn load(path: &Path) -> Result<Blueprint, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error {
            path: path.to_owned(),
            line: None,
            kind: ErrorKind::Read(e.to_string()),
        })?;
        Blueprint::parse(path, &text)
    }

    fn error(&self, line: Option<u64>, kind: ErrorKind) -> Error {
        Error {
            path: self.path.clone(),
            line,
            kind,
        }
    }

    /// Checks the blueprint against the stack it names (`None` if no such stack): none of the
    /// stack's parameters missing, none unknown, none the platform's; and it must render for a
    /// sample tenant to a valid stack name.
    pub fn check(
        &self,
        prefix: &str,
        stack: Option<StackParameters<'_>>,
        known_stacks: &[&str],
    ) -> Result<Rendered, Error> {
        let Some(stack) = stack else {
            return Err(self.error(
                Some(self.lines.stack),
                ErrorKind::UnknownStack {
                    stack: self.stack.clone(),
                    known: known_stacks.join(", "),
                },
            ));
        };
        for (name, line) in &self.lines.parameter {
            if stack.system.contains(&name.as_str()) {
                return Err(self.error(
                    Some(*line),
                    ErrorKind::SystemParameter {
                        parameter: name.clone(),
                    },
                ));
            }
            if !stack.all.contains(name) {
                return Err(self.error(
                    Some(*line),
                    ErrorKind::UnknownParameter {
                        stack: self.stack.clone(),
                        parameter: name.clone(),
                        known: stack.all.join(", "),
                    },
                ));
            }
        }
        for name in stack.all {
            if !stack.system.contains(&name.as_str())
                && !stack.defaulted.contains(name)
                && !self.parameters.contains_key(name)
            {
                return Err(self.error(
                    Some(self.lines.parameters),
                    ErrorKind::MissingParameter {
                        stack: self.stack.clone(),
                        parameter: name.clone(),
                    },
                ));
            }
        }
        self.render(prefix, &Tenant::sample(&self.deployment_type))
    }

    /// Renders the blueprint for `tenant`, in strict-undefined mode. Tenant fields are passed as
    /// values, so a tenant name like `{{ 7*7 }}` stays literal.
    pub fn render(&self, prefix: &str, tenant: &Tenant) -> Result<Rendered, Error> {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        let ctx = minijinja::context! { prefix => prefix, tenant => tenant };
        let render = |field: &str, line: u64, source: &str| {
            env.render_str(source, &ctx).map_err(|e| {
                // minijinja counts lines within the expression: add the field's own line.
                let line = line + e.line().unwrap_or(1).saturating_sub(1) as u64;
                self.error(
                    Some(line),
                    ErrorKind::Template {
                        field: field.to_owned(),
                        message: template_message(&e, source),
                    },
                )
            })
        };

        let stack_name = render("stackName", self.lines.stack_name, &self.stack_name)?;
        if let Err(reason) = check_stack_name(&stack_name, prefix, &tenant.id) {
            return Err(self.error(
                Some(self.lines.stack_name),
                ErrorKind::InvalidStackName {
                    name: stack_name,
                    reason,
                },
            ));
        }
        let mut parameters = BTreeMap::new();
        for (k, v) in &self.parameters {
            let line = self.lines.parameter.get(k).copied().unwrap_or(0);
            parameters.insert(k.clone(), render(&format!("parameters.{k}"), line, v)?);
        }
        let mut tags = BTreeMap::new();
        for (k, v) in &self.tags {
            let line = self.lines.tag.get(k).copied();
            let value = render(&format!("tags.{k}"), line.unwrap_or(0), v)?;
            if let Err(reason) = check_tag(k, &value) {
                return Err(self.error(
                    line,
                    ErrorKind::InvalidTag {
                        key: k.clone(),
                        reason,
                    },
                ));
            }
            tags.insert(k.clone(), value);
        }
        // The tags the provisioning role and the boundary scope tagged resources by.
        tags.insert(APP_TAG.to_owned(), prefix.to_owned());
        tags.insert(TENANT_TAG.to_owned(), tenant.id.clone());
        // The cost allocation tags (`silos tenants cost` groups by them); the control plane
        // adds `silos:cell` ([`CELL_TAG`]), which a blueprint does not know.
        tags.insert(TENANT_ID_TAG.to_owned(), tenant.id.clone());
        tags.insert(TIER_TAG.to_owned(), tenant.deployment_type.clone());
        tags.insert(PREFIX_TAG.to_owned(), prefix.to_owned());
        Ok(Rendered {
            stack_name,
            parameters,
            tags,
        })
    }
}

fn template_message(e: &minijinja::Error, source: &str) -> String {
    match e.detail() {
        Some(detail) => format!("{} ({detail}) in {source:?}", e.kind()),
        None => format!("{} in {source:?}", e.kind()),
    }
}

/// The longest tenant stack name: tenant resources (function, table) are named after the stack,
/// and a Lambda function name holds at most 64 characters.
pub const MAX_TENANT_STACK_NAME: usize = 64;

/// A tenant stack name must be a valid CloudFormation stack name, at most
/// [`MAX_TENANT_STACK_NAME`] long, start with `{prefix}-tenant-` (which the EventBridge filter
/// and the provisioning role's scope rely on) and contain the tenant id (which maps a stack back
/// to its tenant).
pub fn check_stack_name(name: &str, prefix: &str, tenant_id: &str) -> Result<(), StackNameError> {
    let expected = format!("{prefix}-tenant-");
    if name.len() > MAX_TENANT_STACK_NAME {
        return Err(StackNameError::TooLong(name.len()));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic())
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(StackNameError::Invalid);
    }
    if !name.starts_with(&expected) {
        return Err(StackNameError::Prefix(expected));
    }
    if !name.contains(tenant_id) {
        return Err(StackNameError::NoTenantId);
    }
    Ok(())
}

/// The tag every tenant stack carries with the app's prefix. CloudFormation puts a stack's
/// tags on every resource it creates, and the provisioning role reaches a resource whose ARN
/// holds a generated id (a KMS key, an HTTP API) only when the resource carries this tag.
pub const APP_TAG: &str = "silos:app";
/// The tag every tenant stack carries with its tenant's id: the boundary lets a tenant role
/// reach a tagged resource only when the resource's tag is the role's own.
pub const TENANT_TAG: &str = "silos:tenant";

/// The cost allocation tags every tenant stack carries, which CloudFormation propagates to its
/// resources: the tenant's id (a blueprint may set it too, to the tenant's id, as the
/// reference blueprint does; the platform's value wins), its deployment type, its cell and
/// the app's prefix. The README says how to activate them in Billing.
pub const TENANT_ID_TAG: &str = "silos:tenant-id";
pub const TIER_TAG: &str = "silos:tier";
pub const CELL_TAG: &str = "silos:cell";
pub const PREFIX_TAG: &str = "silos:prefix";

fn check_tag(key: &str, value: &str) -> Result<(), TagError> {
    if key.is_empty() || key.len() > 128 {
        return Err(TagError::KeyLength);
    }
    if [APP_TAG, TENANT_TAG, TIER_TAG, CELL_TAG, PREFIX_TAG].contains(&key) {
        return Err(TagError::System);
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err(TagError::Reserved);
    }
    if value.len() > 256 {
        return Err(TagError::ValueLength(value.len()));
    }
    Ok(())
}

/// `text`, read from `path`, as YAML: a syntax or shape error names the file and line.
fn parse_yaml<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, Error> {
    serde_saphyr::from_str(text).map_err(|e| {
        let message = e.without_snippet().to_string();
        // The message may carry its own position and snippet; keep the first line.
        Error {
            path: path.to_owned(),
            line: e.location().map(|l| l.line()),
            kind: ErrorKind::Parse(message.lines().next().unwrap_or_default().to_owned()),
        }
    })
}

/// Loads every `*.yaml` in `dir`, sorted by file name. Deployment types are unique because each
/// must match its file name.
pub fn load_dir(dir: &Path) -> Result<Vec<Blueprint>, Error> {
    let dir_error = |kind| Error {
        path: dir.to_owned(),
        line: None,
        kind,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| dir_error(ErrorKind::Read(e.to_string())))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| dir_error(ErrorKind::Read(e.to_string())))?
            .path();
        // The cells file sits beside the blueprints ([`cells`]).
        let is_cells = path.file_name().is_some_and(|n| n == cells::FILE_NAME);
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") && !is_cells {
            paths.push(path);
        }
    }
    if paths.is_empty() {
        return Err(dir_error(ErrorKind::Empty));
    }
    paths.sort();
    paths.iter().map(|p| Blueprint::load(p)).collect()
}

pub mod catalog;
pub mod cells;
pub mod moves;

/// The outputs of a tenant stack that the control plane reads into the tenant record once the
/// stack is running: where its users call, and who signs them in. A stack without
/// [`ENDPOINT`](outputs::ENDPOINT) has no front door; one without the other three has no
/// directory. The reference silo (`stacks::tenant_silo`) writes all four.
pub mod outputs {
    pub const ENDPOINT: &str = "ApiEndpoint";
    pub const USER_POOL: &str = "UserPoolId";
    pub const CLIENT: &str = "UserPoolClientId";
    pub const ISSUER: &str = "Issuer";
}

#[cfg(test)]
mod tests;
