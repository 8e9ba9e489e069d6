use crate::cfn::events::{self, rule};
use crate::cfn::iam::{PolicyDocument, Principal, Statement};
use crate::cfn::lambda::Permission;
use crate::cfn::sqs::QueuePolicy;
use crate::cfn::{Expr, Template};

use super::{Function, Queue};

/// An EventBridge rule that invokes a Lambda function, retries, and keeps what it could not
/// deliver in its own dead-letter queue.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRule {
    id: String,
    description: String,
    pattern: Option<serde_json::Value>,
    schedule: Option<String>,
    target: Option<(String, Expr)>,
}

impl EventRule {
    /// A rule matching events against `pattern`. Values inside it may be intrinsics.
    pub fn pattern(id: &str, description: &str, pattern: serde_json::Value) -> EventRule {
        EventRule {
            id: id.to_owned(),
            description: description.to_owned(),
            pattern: Some(pattern),
            schedule: None,
            target: None,
        }
    }

    /// A rule firing on a schedule, e.g. `rate(5 minutes)`.
    pub fn schedule(id: &str, description: &str, expression: &str) -> EventRule {
        EventRule {
            id: id.to_owned(),
            description: description.to_owned(),
            pattern: None,
            schedule: Some(expression.to_owned()),
            target: None,
        }
    }

    pub fn target(mut self, function: &Function) -> EventRule {
        self.target = Some((function.logical_id(), function.arn()));
        self
    }

    pub fn logical_id(&self) -> &str {
        &self.id
    }

    pub fn arn(&self) -> Expr {
        Expr::get_att(&self.id, "Arn")
    }

    pub fn add_to(&self, t: &mut Template) {
        let dlq = Queue::new(&format!("{}DeadLetterQueue", self.id));
        let targets = match &self.target {
            Some((_, arn)) => vec![rule::Target {
                id: "Target0".to_owned(),
                arn: arn.clone().into(),
                dead_letter_config: Some(rule::DeadLetterConfig {
                    arn: dlq.arn().into(),
                }),
                retry_policy: Some(rule::RetryPolicy {
                    maximum_retry_attempts: 8,
                    maximum_event_age_in_seconds: 3600,
                }),
            }],
            None => Vec::new(),
        };
        t.add(
            &self.id,
            &events::Rule {
                description: Some(self.description.clone()),
                event_pattern: self.pattern.clone(),
                schedule_expression: self.schedule.clone(),
                state: rule::State::Enabled,
                targets,
            },
        );
        if let Some((function_id, _)) = &self.target {
            t.add(
                &format!("{}Permission", self.id),
                &Permission::invoke(
                    Expr::r#ref(function_id).into(),
                    "events.amazonaws.com",
                    self.arn(),
                ),
            );
            dlq.add_to(t);
            t.add(
                &format!("{}DeadLetterQueuePolicy", self.id),
                &QueuePolicy {
                    queues: vec![dlq.url().into()],
                    policy_document: PolicyDocument::new(vec![
                        Statement::allow(&["sqs:SendMessage"], [dlq.arn()])
                            .sid("AllowThisRuleOnly")
                            .principal(Principal::service("events.amazonaws.com"))
                            .condition("ArnEquals", "aws:SourceArn", self.arn()),
                    ]),
                },
            );
        }
    }
}
