//! `AWS::SQS::*`.

use serde::Serialize;

use crate::iam::PolicyDocument;
use crate::{Resource, Value};

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Queue {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_name: Option<Value<String>>,
    pub sqs_managed_sse_enabled: bool,
    pub message_retention_period: u32,
}

impl Resource for Queue {
    const TYPE: &'static str = "AWS::SQS::Queue";
    const ATTRIBUTES: &'static [&'static str] = &["Arn", "QueueName", "QueueUrl"];
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueuePolicy {
    pub queues: Vec<Value<String>>,
    pub policy_document: PolicyDocument,
}

impl Resource for QueuePolicy {
    const TYPE: &'static str = "AWS::SQS::QueuePolicy";
    const ATTRIBUTES: &'static [&'static str] = &["Id"];
}
