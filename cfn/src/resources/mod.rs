//! Typed resource structs, one module per AWS service, named as CloudFormation names them.

pub mod apigatewayv2;
pub mod dynamodb;
pub mod events;
pub mod iam;
pub mod lambda;
pub mod logs;
pub mod s3;
pub mod sqs;

/// A `Key`/`Value` tag, as most resources take them.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: crate::Value<String>,
}

impl Tag {
    pub fn new(key: &str, value: impl Into<crate::Value<String>>) -> Tag {
        Tag {
            key: key.to_owned(),
            value: value.into(),
        }
    }
}
