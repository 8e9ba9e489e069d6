use crate::cfn::sqs;
use crate::cfn::{Expr, Handle, Template};

use super::{Role, count};

/// An SQS queue for failed deliveries: encrypted with SQS-managed keys, 14 days' retention.
#[derive(Clone, Debug, PartialEq)]
pub struct Queue {
    id: String,
}

impl Queue {
    pub fn new(id: &str) -> Queue {
        Queue { id: id.to_owned() }
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
                sqs_managed_sse_enabled: Some(true.into()),
                message_retention_period: Some(count(14 * 24 * 3600)),
                ..sqs::Queue::new()
            },
        )
        .checkov_skip(
            "CKV_AWS_27",
            "Encrypted at rest with SQS-managed SSE (SqsManagedSseEnabled); EventBridge and Lambda cannot write to a queue under the AWS-managed aws/sqs KMS key",
        );
    }
}
