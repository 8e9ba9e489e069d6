//! The event-source-mapping emulation: records pass a mapping's filter (the provisioner's, or
//! the event publisher's), are converted to the `aws_lambda_events` type Lambda delivers, and
//! are handed over in batches.
//! Batch item failures are retried from the first failed record with backoff, and a record that
//! still fails after the mapping's retry count is given up, as the on-failure queue would take
//! it.

use std::collections::{HashMap, VecDeque};

use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use aws_sdk_dynamodbstreams::types::Record;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::{backoff, pause, string};
use crate::control_plane::store::attribute;
use crate::functions::{self, Handler, StreamFilter};
use crate::local::{Report, Reporter};

/// As the control-plane template's stream subscription: batch size and retries.
pub const BATCH_SIZE: usize = 10;
pub const MAX_RETRIES: u32 = 5;

/// The records waiting for a mapping's function, and the retries of the batch at their head.
pub(super) struct Mapping {
    arn: String,
    region: String,
    filter: fn(&Record) -> bool,
    pending: VecDeque<EventRecord>,
    attempt: u32,
}

impl Mapping {
    /// The provisioner's mapping.
    pub(super) fn new(arn: String, region: String) -> Mapping {
        Mapping::with_filter(arn, region, provisioner_filter)
    }

    /// The event publisher's mapping.
    pub(super) fn publisher(arn: String, region: String) -> Mapping {
        Mapping::with_filter(arn, region, publisher_filter)
    }

    fn with_filter(arn: String, region: String, filter: fn(&Record) -> bool) -> Mapping {
        Mapping {
            arn,
            region,
            filter,
            pending: VecDeque::new(),
            attempt: 0,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Queues `record` (read from `shard`) for the provisioner if the filter passes it. A
    /// record that cannot be converted is reported and left out: an empty record would be
    /// worse.
    pub(super) fn offer(&mut self, shard: &str, record: &Record, reporter: &Reporter) {
        if !(self.filter)(record) {
            return;
        }
        match event_record(record, &self.arn, &self.region) {
            Ok(event) => self.pending.push_back(event),
            Err(e) => {
                tracing::error!(
                    shard = %shard,
                    event = %e.event_id,
                    sequence = %e.sequence,
                    error = %e.message,
                    "a stream record cannot be converted to a Lambda event record"
                );
                reporter(Report::Unreadable {
                    tenant_id: e.tenant_id,
                    sequence: e.sequence,
                    message: e.message,
                });
            }
        }
    }

    /// Hands pending records to `handle` (the function), a batch at a time. Returns whether
    /// any batch was handled.
    pub(super) async fn process<F, Fut>(
        &mut self,
        mut handle: F,
        reporter: &Reporter,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool
    where
        F: FnMut(StreamEvent) -> Fut,
        Fut: std::future::Future<Output = DynamoDbEventResponse>,
    {
        let mut handled = false;
        while !self.pending.is_empty() && !*shutdown.borrow() {
            let n = self.pending.len().min(BATCH_SIZE);
            let batch: Vec<EventRecord> = self.pending.drain(..n).collect();
            let mut event = StreamEvent::default();
            event.records = batch.clone();
            let response = handle(event).await;
            handled = true;
            let first_failed = response
                .batch_item_failures
                .iter()
                .filter_map(|f| {
                    batch
                        .iter()
                        .position(|r| r.change.sequence_number == f.item_identifier)
                })
                .min();
            let Some(i) = first_failed else {
                self.attempt = 0;
                continue;
            };
            // Retry from the first failed record, as the event source mapping does.
            for record in batch[i..].iter().rev() {
                self.pending.push_front(record.clone());
            }
            self.attempt += 1;
            if self.attempt > MAX_RETRIES {
                let record = self.pending.pop_front().expect("just pushed");
                let tenant = match record.change.new_image.get(attribute::TENANT_ID) {
                    Some(serde_dynamo::AttributeValue::S(s)) => s.clone(),
                    _ => String::new(),
                };
                reporter(Report::GaveUp {
                    tenant_id: tenant,
                    sequence: record.change.sequence_number.clone().unwrap_or_default(),
                    attempts: self.attempt,
                });
                self.attempt = 0;
            } else if pause(shutdown, backoff(self.attempt)).await {
                break;
            }
        }
        handled
    }
}

/// Whether `record` passes any of `filters`, as Lambda evaluates them on the mapping.
fn passes(filters: &[StreamFilter], record: &Record) -> bool {
    use aws_sdk_dynamodbstreams::types::AttributeValue;
    let (Some(image), Some(name)) = (
        record.dynamodb().and_then(|d| d.new_image()),
        record.event_name(),
    ) else {
        return false;
    };
    let attribute = |k: &str| match image.get(k) {
        Some(AttributeValue::S(v)) => Some(v.as_str()),
        _ => None,
    };
    filters.iter().any(|f| f.matches(name.as_str(), attribute))
}

/// The filters of the function that runs `handler`, as declared for its mapping.
fn declared(handler: Handler) -> &'static [StreamFilter] {
    functions::of(handler).map_or(&[], |d| d.stream_filters())
}

/// The provisioner's mapping's filters (`functions::PROVISION`, `functions::UPDATE`).
fn provisioner_filter(record: &Record) -> bool {
    passes(declared(Handler::Provisioner), record)
}

/// The event publisher's (`functions::LIFECYCLE`).
fn publisher_filter(record: &Record) -> bool {
    passes(declared(Handler::Events), record)
}

fn image(map: Option<&HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>) -> Value {
    let item: serde_dynamo::Item = map
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, serde_dynamo::AttributeValue::from(v)))
        .collect::<HashMap<_, _>>()
        .into();
    serde_json::to_value(item).unwrap_or(Value::Null)
}

/// A stream record that does not make a Lambda event record.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("stream record {event_id} (sequence {sequence}) is not a Lambda event record: {message}")]
struct Unconvertible {
    event_id: String,
    sequence: String,
    tenant_id: String,
    message: String,
}

/// The record as Lambda would deliver it.
fn event_record(record: &Record, arn: &str, region: &str) -> Result<EventRecord, Unconvertible> {
    let change = record.dynamodb();
    let value = json!({
        "eventID": record.event_id(),
        "eventName": record.event_name().map(|e| e.as_str()),
        "eventVersion": record.event_version(),
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "eventSourceARN": arn,
        "dynamodb": {
            "ApproximateCreationDateTime": change
                .and_then(|c| c.approximate_creation_date_time())
                .map(|t| t.as_secs_f64())
                .unwrap_or_default(),
            "Keys": image(change.and_then(|c| c.keys.as_ref())),
            "NewImage": image(change.and_then(|c| c.new_image.as_ref())),
            "SequenceNumber": change.and_then(|c| c.sequence_number()),
            "SizeBytes": change.and_then(|c| c.size_bytes()).unwrap_or_default(),
            "StreamViewType": "NEW_IMAGE",
        },
    });
    serde_json::from_value(value).map_err(|e| Unconvertible {
        event_id: record.event_id().unwrap_or_default().to_owned(),
        sequence: change
            .and_then(|c| c.sequence_number())
            .unwrap_or_default()
            .to_owned(),
        tenant_id: change
            .and_then(|c| c.new_image())
            .and_then(|i| string(i, attribute::TENANT_ID))
            .unwrap_or_default(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streams_api_record_becomes_the_lambda_event_record() {
        use aws_sdk_dynamodbstreams::types::{AttributeValue as A, OperationType, StreamRecord};
        let image = HashMap::from([
            ("tenantId".to_owned(), A::S("t-1".into())),
            ("status".to_owned(), A::S("initiated".into())),
            ("created".to_owned(), A::N("1700000000.5".into())),
        ]);
        let record = Record::builder()
            .event_id("e1")
            .event_name(OperationType::Insert)
            .dynamodb(
                StreamRecord::builder()
                    .set_keys(Some(HashMap::from([(
                        "tenantId".to_owned(),
                        A::S("t-1".into()),
                    )])))
                    .set_new_image(Some(image))
                    .sequence_number("42")
                    .size_bytes(64)
                    .build(),
            )
            .build();
        assert!(provisioner_filter(&record));
        let event = event_record(&record, "arn:stream", "us-east-1").unwrap();
        assert_eq!(event.event_name, "INSERT");
        assert_eq!(event.event_source_arn.as_deref(), Some("arn:stream"));
        assert_eq!(event.change.sequence_number.as_deref(), Some("42"));
        assert_eq!(
            event.change.new_image.get("status"),
            Some(&serde_dynamo::AttributeValue::S("initiated".into()))
        );
        assert_eq!(
            event.change.new_image.get("created"),
            Some(&serde_dynamo::AttributeValue::N("1700000000.5".into()))
        );
        let modify = Record::builder()
            .event_name(OperationType::Modify)
            .dynamodb(StreamRecord::builder().build())
            .build();
        assert!(!provisioner_filter(&modify));
        let modify = |fields: &[(&str, &str)]| {
            let image = fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), A::S((*v).to_owned())))
                .collect();
            Record::builder()
                .event_name(OperationType::Modify)
                .dynamodb(StreamRecord::builder().set_new_image(Some(image)).build())
                .build()
        };
        // A requested update passes; one CloudFormation reported on its own (no target) and
        // other modifications do not.
        assert!(provisioner_filter(&modify(&[
            ("status", "updating"),
            ("targetVersion", "v2")
        ])));
        assert!(!provisioner_filter(&modify(&[("status", "updating")])));
        // A running tenant passes until its front door is recorded.
        assert!(provisioner_filter(&modify(&[
            ("status", "running"),
            ("targetVersion", "v2")
        ])));
        assert!(!provisioner_filter(&modify(&[
            ("status", "running"),
            ("endpoint", "https://e")
        ])));
        assert!(!provisioner_filter(&modify(&[("status", "initiated")])));
        // The provisioner's own write of the change set: already carried out.
        assert!(!provisioner_filter(&modify(&[
            ("status", "updating"),
            ("targetVersion", "v2"),
            ("changeSet", "silos-update-1")
        ])));
    }

    #[test]
    fn a_record_that_cannot_be_converted_is_an_error_not_an_empty_record() {
        use aws_sdk_dynamodbstreams::types::{AttributeValue as A, OperationType, StreamRecord};
        // No event id: Lambda's event record requires one.
        let record = Record::builder()
            .event_name(OperationType::Insert)
            .dynamodb(
                StreamRecord::builder()
                    .set_new_image(Some(HashMap::from([
                        ("tenantId".to_owned(), A::S("t-1".into())),
                        ("status".to_owned(), A::S("initiated".into())),
                    ])))
                    .sequence_number("42")
                    .build(),
            )
            .build();
        assert!(provisioner_filter(&record));
        let e = event_record(&record, "arn:stream", "us-east-1").unwrap_err();
        assert_eq!((e.sequence.as_str(), e.tenant_id.as_str()), ("42", "t-1"));
        assert!(
            e.message.contains("eventID") || e.message.contains("null"),
            "{e}"
        );
    }
}
