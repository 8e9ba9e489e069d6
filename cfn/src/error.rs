use thiserror::Error;

/// Everything that can be wrong with a template. Each variant names the stack and the logical IDs
/// involved.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    #[error("stack {stack}: invalid logical ID {id:?}: {reason}")]
    InvalidLogicalId {
        stack: String,
        id: String,
        reason: &'static str,
    },
    #[error("stack {stack}: logical ID {id} is used twice: first by {first}, then by {second}")]
    DuplicateLogicalId {
        stack: String,
        id: String,
        first: String,
        second: String,
    },
    #[error("stack {stack}: {from} refers to {target}, which is not in the template")]
    MissingReference {
        stack: String,
        from: String,
        target: String,
    },
    #[error(
        "stack {stack}: {from} reads attribute {attribute} of {target}, but {type_name} has no such attribute (it has: {known})"
    )]
    UnknownAttribute {
        stack: String,
        from: String,
        target: String,
        attribute: String,
        type_name: String,
        known: String,
    },
    #[error("stack {stack}: {from} uses condition {condition}, which is not defined")]
    UnknownCondition {
        stack: String,
        from: String,
        condition: String,
    },
    #[error("stack {stack}: dependency cycle: {}", cycle.join(" -> "))]
    DependencyCycle { stack: String, cycle: Vec<String> },
    #[error("stack {stack}: {count} {what} exceed CloudFormation's limit of {max}")]
    LimitExceeded {
        stack: String,
        what: &'static str,
        count: usize,
        max: usize,
    },
    #[error(
        "stack {stack}: the template is {bytes} bytes, over the {max}-byte limit for a template {delivery}"
    )]
    TemplateTooLarge {
        stack: String,
        bytes: usize,
        max: usize,
        delivery: &'static str,
    },
    #[error("stack {stack}: {from} allows the wildcard action {action:?}; name exact actions")]
    WildcardAction {
        stack: String,
        from: String,
        action: String,
    },
    #[error("stack {stack}: resource {id}: the override of {path:?} cannot apply: {reason}")]
    BadOverride {
        stack: String,
        id: String,
        path: String,
        reason: String,
    },
    #[error("stack {stack}: resource {id}: invalid type name {type_name:?}: {reason}")]
    InvalidTypeName {
        stack: String,
        id: String,
        type_name: String,
        reason: &'static str,
    },
    #[error("stack {stack}: {from} cannot be rendered: {message}")]
    Render {
        stack: String,
        from: String,
        message: String,
    },
}

/// Something worth fixing that does not stop synth.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Warning {
    #[error("stack {stack}: parameter {parameter} is never used")]
    UnusedParameter { stack: String, parameter: String },
}

/// All the errors found in one pass, so a user fixes them in one go.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct Errors(pub Vec<Error>);
