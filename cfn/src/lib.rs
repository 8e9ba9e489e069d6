//! The CloudFormation template model: templates, intrinsics, validation, and a typed struct for
//! every resource type of the registry schemas (generated, one module per service, each behind
//! its feature). Pure data and checks: no IO, no async, no AWS SDK.

// Errors carry their context (stack, logical IDs) by design, and are returned only on cold
// paths: their size costs nothing that matters.
#![allow(clippy::result_large_err)]

#[macro_use]
mod enums;
mod error;
mod expr;
mod generated;
mod template;
mod validate;

pub mod iam_reference;
pub mod metadata;
pub mod policy;

pub use error::{Error, Errors, Warning};
pub use expr::{Expr, Pseudo, Value};
pub use generated::*;
pub use template::{
    Export, Handle, LogicalId, Output, Parameter, ParameterType, RemovalPolicy, Resource,
    ResourceEntry, ResourceOptions, Template,
};
pub use validate::{
    Delivery, MAX_BODY_BYTES, MAX_OUTPUTS, MAX_PARAMETERS, MAX_RESOURCES, MAX_URL_BYTES, Report,
    check_size, references, sub_variables,
};

/// Free-form JSON, for properties the schemas leave untyped or typed as a union.
pub type Json = serde_json::Value;
