//! The CloudFormation template model. Pure data and checks: no IO, no async, no AWS SDK.

mod error;
mod expr;
mod template;
mod validate;

pub mod resources;

pub use error::{Error, Errors, Warning};
pub use expr::{Expr, Pseudo, Value};
pub use resources::{apigatewayv2, dynamodb, events, iam, lambda, logs, s3, sqs};
pub use template::{
    Export, LogicalId, Output, Parameter, ParameterType, RemovalPolicy, Resource, ResourceEntry,
    ResourceOptions, Template,
};
pub use validate::{
    Delivery, MAX_BODY_BYTES, MAX_OUTPUTS, MAX_PARAMETERS, MAX_RESOURCES, MAX_URL_BYTES, Report,
    check_size, sub_variables,
};
