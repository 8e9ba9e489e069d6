//! Listening to the lifecycle events: a queue of its own and a rule on the bus that targets it,
//! removed again when done. `silos tenants events` is built on it; EventBridge (and moto)
//! deliver a rule's matches to an SQS target.

use std::time::Duration;

use aws_sdk_eventbridge::types::Target;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};

use super::SOURCE;

const TARGET_ID: &str = "silos-tail";

/// A failed call while subscribing, receiving or cleaning up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed: {message}")]
pub struct SubscriptionError {
    pub operation: &'static str,
    pub message: String,
}

fn fail<E: std::fmt::Display>(operation: &'static str) -> impl FnOnce(E) -> SubscriptionError {
    move |e| SubscriptionError {
        operation,
        message: e.to_string(),
    }
}

/// One listener's queue and rule.
#[derive(Debug)]
pub struct Subscription {
    events: aws_sdk_eventbridge::Client,
    sqs: aws_sdk_sqs::Client,
    bus: String,
    /// The rule's and the queue's name.
    pub name: String,
    pub queue_url: String,
}

impl Subscription {
    /// Creates a queue and a rule on `bus` matching every lifecycle event, targeting it. The
    /// queue allows only that rule to send to it. On a failure half-way, what was made is
    /// removed.
    pub async fn create(
        config: &aws_config::SdkConfig,
        bus: &str,
    ) -> Result<Subscription, SubscriptionError> {
        let events = aws_sdk_eventbridge::Client::new(config);
        let sqs = aws_sdk_sqs::Client::new(config);
        let id = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("{bus}-tail-{}", &id[..8]);
        let queue_url = sqs
            .create_queue()
            .queue_name(&name)
            .attributes(QueueAttributeName::SqsManagedSseEnabled, "true")
            .send()
            .await
            .map_err(|e| fail("SQS CreateQueue")(crate::aws::sdk_message(&e)))?
            .queue_url
            .unwrap_or_default();
        let subscription = Subscription {
            events,
            sqs,
            bus: bus.to_owned(),
            name,
            queue_url,
        };
        match subscription.subscribe().await {
            Ok(()) => Ok(subscription),
            Err(e) => {
                if let Err(cleanup) = subscription.delete().await {
                    tracing::warn!(error = %cleanup, "cleaning up a half-made subscription failed");
                }
                Err(e)
            }
        }
    }

    async fn subscribe(&self) -> Result<(), SubscriptionError> {
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| fail("SQS GetQueueAttributes")(crate::aws::sdk_message(&e)))?;
        let queue_arn = attributes
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .unwrap_or_default();
        let rule_arn = self
            .events
            .put_rule()
            .name(&self.name)
            .event_bus_name(&self.bus)
            .description("silos tenants events: removed when it stops")
            .event_pattern(json!({"source": [SOURCE]}).to_string())
            .send()
            .await
            .map_err(|e| fail("EventBridge PutRule")(crate::aws::sdk_message(&e)))?
            .rule_arn
            .unwrap_or_default();
        let policy = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}
            }]
        });
        self.sqs
            .set_queue_attributes()
            .queue_url(&self.queue_url)
            .attributes(QueueAttributeName::Policy, policy.to_string())
            .send()
            .await
            .map_err(|e| fail("SQS SetQueueAttributes")(crate::aws::sdk_message(&e)))?;
        let target = Target::builder()
            .id(TARGET_ID)
            .arn(queue_arn)
            .build()
            .map_err(fail("EventBridge PutTargets"))?;
        let out = self
            .events
            .put_targets()
            .rule(&self.name)
            .event_bus_name(&self.bus)
            .targets(target)
            .send()
            .await
            .map_err(|e| fail("EventBridge PutTargets")(crate::aws::sdk_message(&e)))?;
        if out.failed_entry_count() > 0 {
            return Err(SubscriptionError {
                operation: "EventBridge PutTargets",
                message: format!("{:?}", out.failed_entries()),
            });
        }
        Ok(())
    }

    /// The events that arrived, waiting up to `wait` (at most 20 s) for the first; each is
    /// removed from the queue once read. A message that is not JSON is skipped.
    pub async fn receive(&self, wait: Duration) -> Result<Vec<Value>, SubscriptionError> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .send()
            .await
            .map_err(|e| fail("SQS ReceiveMessage")(crate::aws::sdk_message(&e)))?;
        let mut events = Vec::new();
        for message in out.messages() {
            if let Some(body) = message.body() {
                match serde_json::from_str(body) {
                    Ok(event) => events.push(event),
                    Err(e) => tracing::warn!(error = %e, "a message that is not an event; skipped"),
                }
            }
            if let Some(handle) = message.receipt_handle() {
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .map_err(|e| fail("SQS DeleteMessage")(crate::aws::sdk_message(&e)))?;
            }
        }
        Ok(events)
    }

    /// Removes the rule (its target first) and the queue.
    pub async fn delete(&self) -> Result<(), SubscriptionError> {
        let targets = self
            .events
            .remove_targets()
            .rule(&self.name)
            .event_bus_name(&self.bus)
            .ids(TARGET_ID)
            .send()
            .await;
        let rule = self
            .events
            .delete_rule()
            .name(&self.name)
            .event_bus_name(&self.bus)
            .send()
            .await;
        let queue = self
            .sqs
            .delete_queue()
            .queue_url(&self.queue_url)
            .send()
            .await;
        // A rule never made is no failure here; a queue that will not go is.
        if let Err(e) = targets {
            tracing::debug!(error = %crate::aws::sdk_message(&e), "removing the rule's target");
        }
        if let Err(e) = rule {
            tracing::debug!(error = %crate::aws::sdk_message(&e), "removing the rule");
        }
        queue
            .map(|_| ())
            .map_err(|e| fail("SQS DeleteQueue")(crate::aws::sdk_message(&e)))
    }
}
