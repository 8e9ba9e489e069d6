//! The tenants table's stream, processed the way the provisioner's event source mapping does
//! on AWS: records are read through the DynamoDB Streams API (shards, iterators, closed shards
//! and their children), filtered like the mapping's filter (INSERTs of `initiated` tenants),
//! and handed to the provisioner in batches of the same `aws_lambda_events` type. Batch item
//! failures are retried from the first failed record with backoff, and a record that still
//! fails after the mapping's retry count is given up, as the on-failure queue would take it.
//!
//! Every record also feeds the transition report: one line per tenant status change.
//!
//! The reader never trusts one iterator for long. A shard that returned nothing for
//! [`RESYNC`] is re-opened at the last record read, which must come back first, unchanged
//! (same sequence number, same event id), and is then skipped. An emulator that swaps a
//! table's stream under an open iterator (moto after a cancelled transaction, issue 12) is
//! caught this way: the new stream's records are read, and a record that reuses an old
//! sequence number is reported and processed rather than skipped.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use aws_sdk_dynamodbstreams::error::DisplayErrorContext;
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::watcher::InFlight;
use super::{Report, Reporter};
use crate::control_plane::ControlPlane;

/// As the control-plane template's stream subscription: batch size and retries.
pub const BATCH_SIZE: usize = 10;
pub const MAX_RETRIES: u32 = 5;
const POLL: Duration = Duration::from_millis(100);
/// How often the shard list is read again, for shards that split.
const REFRESH: Duration = Duration::from_secs(10);
/// How long a shard may return nothing before its iterator is re-opened.
pub const RESYNC: Duration = Duration::from_secs(1);

pub struct StreamProcessor {
    pub cp: ControlPlane,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub reporter: Reporter,
    /// The tenants waiting for a stack status, for the stack watcher.
    pub in_flight: InFlight,
}

#[derive(Default)]
struct Shard {
    parent: Option<String>,
    iterator: Option<String>,
    /// The sequence number and event id of the last record read, where a re-opened iterator
    /// resumes.
    last: Option<(String, String)>,
    /// The iterator was re-opened at `last`: the next record read must be that one.
    reopened: bool,
    /// When the shard last returned a record, or was opened.
    active_at: Option<Instant>,
    closed: bool,
}

impl Shard {
    /// Whether the iterator has been quiet long enough to be re-opened.
    fn stale(&self) -> bool {
        self.iterator.is_some() && self.active_at.is_none_or(|t| t.elapsed() >= RESYNC)
    }
}

/// What to do with the first record a re-opened iterator returns.
#[derive(Debug, PartialEq)]
enum Resumed {
    /// The record already read: skip it.
    Seen,
    /// Another record under the same sequence number: the stream was rewritten.
    Rewritten,
    /// A later record (the one at `last` is gone): read on.
    Later,
}

fn resumed(last: &(String, String), seq: &str, event_id: &str) -> Resumed {
    if seq != last.0 {
        Resumed::Later
    } else if event_id == last.1 {
        Resumed::Seen
    } else {
        Resumed::Rewritten
    }
}

/// DynamoDB sequence numbers are decimal strings of varying length.
fn seq_after(a: &str, b: &str) -> bool {
    (a.len(), a) > (b.len(), b)
}

/// Sleeps, or returns true at once if shutdown was asked for.
async fn pause(shutdown: &mut watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => *shutdown.borrow(),
        _ = shutdown.changed() => true,
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64 << attempt.min(6)).min(Duration::from_secs(5))
}

impl StreamProcessor {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let table = &self.cp.settings().tenants_table;
        let mut attempt = 0;
        let arn = loop {
            let found = self
                .dynamodb
                .describe_table()
                .table_name(table)
                .send()
                .await
                .map_err(|e| ReadError::DescribeTable {
                    table: table.clone(),
                    message: DisplayErrorContext(e).to_string(),
                })
                .and_then(|out| {
                    out.table
                        .and_then(|t| t.latest_stream_arn)
                        .ok_or_else(|| ReadError::NoStream(table.clone()))
                });
            match found {
                Ok(arn) => break arn,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot find the tenants table's stream; retrying");
                    attempt += 1;
                    if pause(&mut shutdown, backoff(attempt)).await {
                        return;
                    }
                }
            }
        };
        let mut state = State {
            arn,
            region: self.cp.settings().region.clone(),
            shards: BTreeMap::new(),
            pending: VecDeque::new(),
            statuses: HashMap::new(),
            read: HashSet::new(),
            attempt: 0,
            errors: 0,
            refresh_at: None,
        };
        while !*shutdown.borrow() {
            let read = self.read(&mut state).await;
            let handled = self.process(&mut state, &mut shutdown).await;
            let wait = match read {
                Ok(0) if !handled => POLL,
                Ok(_) => {
                    state.errors = 0;
                    Duration::ZERO
                }
                Err(e) => {
                    state.errors += 1;
                    tracing::warn!(error = %e, "reading the tenants stream failed; retrying");
                    backoff(state.errors)
                }
            };
            if !wait.is_zero() && pause(&mut shutdown, wait).await {
                break;
            }
        }
    }

    /// Refreshes the shard list and reads one page from each open shard whose parent is done.
    /// Returns how many records were read.
    async fn read(&self, state: &mut State) -> Result<usize, ReadError> {
        if state.refresh_at.is_none_or(|t| t.elapsed() >= REFRESH) {
            let mut start = None;
            loop {
                let out = self
                    .streams
                    .describe_stream()
                    .stream_arn(&state.arn)
                    .set_exclusive_start_shard_id(start.clone())
                    .send()
                    .await
                    .map_err(|e| ReadError::streams("DescribeStream", None, e))?;
                let Some(desc) = out.stream_description else {
                    break;
                };
                for shard in desc.shards() {
                    let Some(id) = shard.shard_id() else { continue };
                    state.shards.entry(id.to_owned()).or_insert_with(|| Shard {
                        parent: shard.parent_shard_id().map(str::to_owned),
                        ..Shard::default()
                    });
                }
                start = desc.last_evaluated_shard_id;
                if start.is_none() {
                    break;
                }
            }
            state.refresh_at = Some(Instant::now());
        }
        let mut count = 0;
        let ids: Vec<String> = state.shards.keys().cloned().collect();
        for id in ids {
            let ready = {
                let shard = &state.shards[&id];
                let parent_done = shard
                    .parent
                    .as_ref()
                    .and_then(|p| state.shards.get(p))
                    .is_none_or(|p| p.closed);
                !shard.closed && parent_done
            };
            if !ready {
                continue;
            }
            let Some(shard) = state.shards.get_mut(&id) else {
                continue;
            };
            if shard.iterator.is_none() || shard.stale() {
                // Opened at the last record read (it comes back first, and is skipped), or at
                // the start of a shard nothing was read from yet.
                let mut call = self
                    .streams
                    .get_shard_iterator()
                    .stream_arn(&state.arn)
                    .shard_id(&id);
                call = match &shard.last {
                    Some((seq, _)) => call
                        .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
                        .sequence_number(seq),
                    None => call.shard_iterator_type(ShardIteratorType::TrimHorizon),
                };
                let out = call
                    .send()
                    .await
                    .map_err(|e| ReadError::streams("GetShardIterator", Some(&id), e))?;
                shard.iterator = out.shard_iterator;
                shard.reopened = shard.last.is_some();
                shard.active_at = Some(Instant::now());
                if shard.iterator.is_none() {
                    shard.closed = true;
                    state.refresh_at = None;
                    continue;
                }
            }
            let result = self
                .streams
                .get_records()
                .shard_iterator(shard.iterator.clone().unwrap_or_default())
                .limit(100)
                .send()
                .await;
            let out = match result {
                Ok(out) => out,
                Err(e) => {
                    // An expired iterator is renewed from the last record read.
                    shard.iterator = None;
                    return Err(ReadError::streams("GetRecords", Some(&id), e));
                }
            };
            shard.iterator = out.next_shard_iterator.clone();
            if shard.iterator.is_none() {
                // A closed shard: its children show up on the next refresh.
                shard.closed = true;
                state.refresh_at = None;
            }
            let mut records = out.records();
            if let (true, Some(first), Some(last)) =
                (shard.reopened, records.first(), shard.last.as_ref())
            {
                shard.reopened = false;
                let seq = first
                    .dynamodb()
                    .and_then(|d| d.sequence_number())
                    .unwrap_or_default();
                match resumed(last, seq, first.event_id().unwrap_or_default()) {
                    Resumed::Seen => records = &records[1..],
                    Resumed::Later => {}
                    Resumed::Rewritten => {
                        // Where it diverged is unknown: read the shard again from its start,
                        // skipping every record already read (by event id).
                        tracing::warn!(
                            shard = %id,
                            sequence = seq,
                            "the stream was rewritten under its iterator (another record now \
                             has the sequence number last read); reading the shard again and \
                             skipping the records already read"
                        );
                        shard.iterator = None;
                        shard.last = None;
                        continue;
                    }
                }
            }
            if let Some(record) = records.last() {
                shard.active_at = Some(Instant::now());
                let change = record.dynamodb();
                shard.last = Some((
                    change
                        .and_then(|d| d.sequence_number())
                        .unwrap_or_default()
                        .to_owned(),
                    record.event_id().unwrap_or_default().to_owned(),
                ));
            }
            for record in records {
                // A record read before (the stream read again after a rewrite).
                if let Some(event) = record.event_id()
                    && !state.read.insert(event.to_owned())
                {
                    continue;
                }
                count += 1;
                state.observe(record, &self.reporter, &self.in_flight);
                if provisioner_filter(record) {
                    match event_record(record, &state.arn, &state.region) {
                        Ok(event) => state.pending.push_back(event),
                        Err(e) => {
                            // Not handed to the provisioner: an empty record would be worse.
                            tracing::error!(
                                shard = %id,
                                event = %e.event_id,
                                sequence = %e.sequence,
                                error = %e.message,
                                "a stream record cannot be converted to a Lambda event record"
                            );
                            (self.reporter)(Report::Unreadable {
                                tenant_id: e.tenant_id,
                                sequence: e.sequence,
                                message: e.message,
                            });
                        }
                    }
                }
            }
        }
        Ok(count)
    }

    /// Hands pending records to the provisioner, a batch at a time. Returns whether any
    /// batch was handled.
    async fn process(&self, state: &mut State, shutdown: &mut watch::Receiver<bool>) -> bool {
        let mut handled = false;
        while !state.pending.is_empty() && !*shutdown.borrow() {
            let n = state.pending.len().min(BATCH_SIZE);
            let batch: Vec<EventRecord> = state.pending.drain(..n).collect();
            let mut event = StreamEvent::default();
            event.records = batch.clone();
            let response = self.cp.handle_stream(event).await;
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
                state.attempt = 0;
                continue;
            };
            // Retry from the first failed record, as the event source mapping does.
            for record in batch[i..].iter().rev() {
                state.pending.push_front(record.clone());
            }
            state.attempt += 1;
            if state.attempt > MAX_RETRIES {
                let record = state.pending.pop_front().expect("just pushed");
                let tenant = match record.change.new_image.get("tenantId") {
                    Some(serde_dynamo::AttributeValue::S(s)) => s.clone(),
                    _ => String::new(),
                };
                (self.reporter)(Report::GaveUp {
                    tenant_id: tenant,
                    sequence: record.change.sequence_number.clone().unwrap_or_default(),
                    attempts: state.attempt,
                });
                state.attempt = 0;
            } else if pause(shutdown, backoff(state.attempt)).await {
                break;
            }
        }
        handled
    }
}

struct State {
    arn: String,
    region: String,
    shards: BTreeMap<String, Shard>,
    pending: VecDeque<EventRecord>,
    /// The last status seen per tenant, and the sequence number it was seen at.
    statuses: HashMap<String, (String, String)>,
    /// The event id of every record read.
    read: HashSet<String>,
    attempt: u32,
    errors: u32,
    /// When the shard list was last read; None asks for a refresh.
    refresh_at: Option<Instant>,
}

fn string(
    image: &HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
    k: &str,
) -> Option<String> {
    image.get(k).and_then(|v| v.as_s().ok()).cloned()
}

impl State {
    /// Reports a tenant's status change, once, in stream order. Lock items are not tenants.
    fn observe(&mut self, record: &Record, reporter: &Reporter, in_flight: &InFlight) {
        let Some(change) = record.dynamodb() else {
            return;
        };
        let Some(image) = change.new_image() else {
            return;
        };
        if image.contains_key("kind") {
            return;
        }
        let (Some(id), Some(status)) = (string(image, "tenantId"), string(image, "status")) else {
            return;
        };
        let seq = change.sequence_number().unwrap_or_default().to_owned();
        let previous = self.statuses.get(&id).cloned();
        if previous.as_ref().is_none_or(|(_, at)| seq_after(&seq, at)) {
            in_flight.observe(&id, &status, string(image, "stackId").as_deref());
        }
        if let Some((before, at)) = &previous
            && (!seq_after(&seq, at) || *before == status)
        {
            if seq_after(&seq, at) {
                self.statuses.insert(id, (status, seq));
            }
            return;
        }
        reporter(Report::Transition {
            tenant_id: id.clone(),
            tenant_name: string(image, "tenantName").unwrap_or_default(),
            from: previous.map(|(s, _)| s),
            to: status.clone(),
            reason: string(image, "statusReason"),
        });
        self.statuses.insert(id, (status, seq));
    }
}

/// The mapping's filters: INSERTs of `initiated` tenants, and MODIFYs to `updating` with a
/// `targetVersion` (an update requested through the API).
fn provisioner_filter(record: &Record) -> bool {
    let Some(image) = record.dynamodb().and_then(|d| d.new_image()) else {
        return false;
    };
    let status = string(image, "status");
    match record.event_name().map(|e| e.as_str()) {
        Some("INSERT") => status.as_deref() == Some("initiated"),
        Some("MODIFY") => {
            status.as_deref() == Some("updating") && string(image, "targetVersion").is_some()
        }
        _ => false,
    }
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

/// Why finding or reading the stream failed (logged; the reader retries with backoff).
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("DynamoDB DescribeTable on {table}: {message}")]
    DescribeTable { table: String, message: String },
    #[error("table {0} has no stream")]
    NoStream(String),
    #[error("DynamoDB Streams {operation}{}: {message}", shard.as_deref().map(|s| format!(" on shard {s}")).unwrap_or_default())]
    Streams {
        operation: &'static str,
        shard: Option<String>,
        message: String,
    },
}

impl ReadError {
    /// A failed DynamoDB Streams call, with the SDK's whole error context.
    fn streams(operation: &'static str, shard: Option<&str>, e: impl std::error::Error) -> Self {
        ReadError::Streams {
            operation,
            shard: shard.map(str::to_owned),
            message: DisplayErrorContext(e).to_string(),
        }
    }
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
            .and_then(|i| string(i, "tenantId"))
            .unwrap_or_default(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        assert!(seq_after("100", "99"));
        assert!(!seq_after("99", "100"));
        assert!(!seq_after("100", "100"));
        assert!(seq_after("000000000000000000102", "000000000000000000101"));
    }

    #[test]
    fn a_reopened_iterator_skips_only_the_record_it_already_read() {
        let last = ("105".to_owned(), "e5".to_owned());
        assert_eq!(resumed(&last, "105", "e5"), Resumed::Seen);
        // moto after a cancelled transaction: a new record under the number last read.
        assert_eq!(resumed(&last, "105", "e9"), Resumed::Rewritten);
        assert_eq!(resumed(&last, "106", "e6"), Resumed::Later);
    }

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
        assert!(!provisioner_filter(&modify(&[
            ("status", "running"),
            ("targetVersion", "v2")
        ])));
        assert!(!provisioner_filter(&modify(&[("status", "initiated")])));
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
