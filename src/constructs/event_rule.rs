use crate::cfn::events::{self, rule};
use crate::cfn::iam::{PolicyDocument, Principal, Statement};
use crate::cfn::lambda;
use crate::cfn::sqs::QueuePolicy;
use crate::cfn::{Expr, Handle, Template, Value};

use super::{Function, Queue, count, invoke_permission};

/// An EventBridge rule that invokes a Lambda function, retries, and keeps what it could not
/// deliver in its own dead-letter queue.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRule {
    id: String,
    description: String,
    pattern: Option<serde_json::Value>,
    schedule: Option<String>,
    target: Option<(String, Expr)>,
    bus: Option<Value<String>>,
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
            bus: None,
        }
    }

    /// Matches events on `bus` (a name or ARN) instead of the account's default bus.
    pub fn on_bus(mut self, bus: impl Into<Value<String>>) -> EventRule {
        self.bus = Some(bus.into());
        self
    }

    /// A rule firing on a schedule, e.g. `rate(5 minutes)`.
    pub fn schedule(id: &str, description: &str, expression: &str) -> EventRule {
        EventRule {
            id: id.to_owned(),
            description: description.to_owned(),
            pattern: None,
            schedule: Some(expression.to_owned()),
            target: None,
            bus: None,
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
        Handle::<events::Rule>::new(&self.id).attr_arn()
    }

    pub fn add_to(&self, t: &mut Template) {
        let dlq = Queue::new(&format!("{}DeadLetterQueue", self.id));
        let targets = match &self.target {
            Some((_, arn)) => vec![rule::Target {
                dead_letter_config: Some(rule::DeadLetterConfig {
                    arn: Some(dlq.arn().into()),
                }),
                retry_policy: Some(rule::RetryPolicy {
                    maximum_retry_attempts: Some(count(8)),
                    maximum_event_age_in_seconds: Some(count(3600)),
                }),
                ..rule::Target::new(arn.clone(), "Target0")
            }],
            None => Vec::new(),
        };
        t.add(
            &self.id,
            &events::Rule {
                description: Some(self.description.clone().into()),
                event_pattern: self.pattern.clone(),
                schedule_expression: self.schedule.clone().map(Into::into),
                state: Some(rule::State::Enabled.into()),
                event_bus_name: self.bus.clone(),
                targets: Some(targets),
                ..events::Rule::new()
            },
        );
        if let Some((function_id, _)) = &self.target {
            t.add(
                &format!("{}Permission", self.id),
                &invoke_permission(
                    Handle::<lambda::Function>::new(function_id).r#ref(),
                    "events.amazonaws.com",
                    self.arn(),
                ),
            );
            dlq.add_to(t);
            t.add(
                &format!("{}DeadLetterQueuePolicy", self.id),
                &QueuePolicy::new(
                    PolicyDocument::new(vec![
                        Statement::allow(&["sqs:SendMessage"], [dlq.arn()])
                            .sid("AllowThisRuleOnly")
                            .principal(Principal::service("events.amazonaws.com"))
                            .condition("ArnEquals", "aws:SourceArn", self.arn()),
                    ]),
                    vec![dlq.url().into()],
                ),
            );
        }
    }
}
