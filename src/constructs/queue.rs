use crate::cfn::sqs;
use crate::cfn::{Expr, Handle, Template, Value};

use super::{Role, count};

/// An SQS queue: encrypted with SQS-managed keys, 14 days' retention; optionally named, and
/// with a dead-letter queue.
#[derive(Clone, Debug, PartialEq)]
pub struct Queue {
    id: String,
    name: Option<Value<String>>,
    /// The dead-letter queue's ARN and the receives before a message moves there.
    dead_letter: Option<(Expr, u32)>,
}

impl Queue {
    pub fn new(id: &str) -> Queue {
        Queue {
            id: id.to_owned(),
            name: None,
            dead_letter: None,
        }
    }

    /// The queue's name, e.g. `${AWS::StackName}-jobs`.
    pub fn queue_name(mut self, name: impl Into<Value<String>>) -> Queue {
        self.name = Some(name.into());
        self
    }

    /// Moves a message to `queue` after `max_receives` failed receives.
    pub fn dead_letter_queue(mut self, queue: &Queue, max_receives: u32) -> Queue {
        self.dead_letter = Some((queue.arn(), max_receives));
        self
    }

    /// Allows receiving and deleting messages.
    pub fn grant_consume(&self, role: &mut Role) {
        role.allow(
            &[
                "sqs:ChangeMessageVisibility",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:ReceiveMessage",
            ],
            [self.arn()],
        );
    }

    pub fn logical_id(&self) -> &str {
        &self.id
    }

    fn handle(&self) -> Handle<sqs::Queue> {
        Handle::new(&self.id)
    }

    pub fn arn(&self) -> Expr {
        self.handle().attr_arn()
    }

    pub fn url(&self) -> Expr {
        self.handle().r#ref()
    }

    pub fn grant_send(&self, role: &mut Role) {
        role.allow(&["sqs:SendMessage"], [self.arn()]);
    }

    pub fn add_to(&self, t: &mut Template) {
        t.add(
            &self.id,
            &sqs::Queue {
                queue_name: self.name.clone(),
                sqs_managed_sse_enabled: Some(true.into()),
                message_retention_period: Some(count(14 * 24 * 3600)),
                redrive_policy: self.dead_letter.as_ref().map(|(arn, max)| {
                    serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": max})
                }),
                ..sqs::Queue::new()
            },
        )
        .checkov_skip(
            "CKV_AWS_27",
            "Encrypted at rest with SQS-managed SSE (SqsManagedSseEnabled); EventBridge and Lambda cannot write to a queue under the AWS-managed aws/sqs KMS key",
        );
    }
}
