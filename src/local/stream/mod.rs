//! The tenants table's stream, processed the way the provisioner's event source mapping does
//! on AWS: records are read through the DynamoDB Streams API (shards, iterators, closed shards
//! and their children), filtered like the mapping's filter (INSERTs of `initiated` tenants),
//! and handed to the provisioner in batches of the same `aws_lambda_events` type. Batch item
//! failures are retried from the first failed record with backoff, and a record that still
//! fails after the mapping's retry count is given up, as the on-failure queue would take it.
//!
//! Every record also feeds the transition report: one line per tenant status change.
//!
//! Three parts: the shard reader ([`reader`]), the event-source-mapping emulation
//! ([`mapping`]) and the transition report ([`report`]). This module runs them in turn.
//!
//! The reader never trusts one iterator for long. A shard that returned nothing for
//! [`RESYNC`] is re-opened at the last record read, which must come back first, unchanged
//! (same sequence number, same event id), and is then skipped. An emulator that swaps a
//! table's stream under an open iterator (moto after a cancelled transaction, before the project's launcher rolled back in place) is
//! caught this way: the new stream's records are read, and a record that reuses an old
//! sequence number is reported and processed rather than skipped.

mod mapping;
mod reader;
mod report;

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::watch;

use super::Reporter;
use super::watcher::InFlight;
use crate::control_plane::ControlPlane;
use crate::control_plane::events::Publisher;
use mapping::Mapping;
pub use mapping::{BATCH_SIZE, MAX_RETRIES};
use reader::Reader;
use report::Transitions;

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
    /// The lifecycle event publisher, fed by its own mapping in its own task: a failing
    /// publish is retried there and never holds up provisioning.
    pub publisher: Option<Publisher>,
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

fn string(
    image: &HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
    k: &str,
) -> Option<String> {
    image.get(k).and_then(|v| v.as_s().ok()).cloned()
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
    fn streams<E, R>(
        operation: &'static str,
        shard: Option<&str>,
        e: aws_sdk_dynamodbstreams::error::SdkError<E, R>,
    ) -> Self
    where
        E: std::error::Error + aws_sdk_dynamodbstreams::error::ProvideErrorMetadata + 'static,
        R: std::fmt::Debug + 'static,
    {
        ReadError::Streams {
            operation,
            shard: shard.map(str::to_owned),
            message: crate::aws::sdk_message(&e),
        }
    }
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
                    message: crate::aws::sdk_message(&e),
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
        let mut reader = Reader::new(arn.clone());
        let region = self.cp.settings().region.clone();
        let events = self.publisher.clone().map(|publisher| {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let mapping = Mapping::publisher(arn.clone(), region.clone());
            tokio::spawn(publish(
                publisher,
                mapping,
                rx,
                self.reporter.clone(),
                shutdown.clone(),
            ));
            tx
        });
        let mut mapping = Mapping::new(arn, region);
        let mut transitions = Transitions::default();
        let mut errors = 0;
        let mut records = Vec::new();
        while !*shutdown.borrow() {
            let read = reader.read(&self.streams, &mut records).await;
            let count = records.len();
            for (shard, record) in records.drain(..) {
                transitions.observe(&record, &self.reporter, &self.in_flight);
                mapping.offer(&shard, &record, &self.reporter);
                if let Some(events) = &events {
                    // The publisher's task outlives this loop; a send fails only after it
                    // stopped on shutdown.
                    let _ = events.send((shard, record));
                }
            }
            let handled = mapping
                .process(
                    |event| self.cp.handle_stream(event),
                    &self.reporter,
                    &mut shutdown,
                )
                .await;
            let wait = match read {
                Ok(()) if count == 0 && !handled => POLL,
                Ok(()) => {
                    errors = 0;
                    Duration::ZERO
                }
                Err(e) => {
                    errors += 1;
                    tracing::warn!(error = %e, "reading the tenants stream failed; retrying");
                    backoff(errors)
                }
            };
            if !wait.is_zero() && pause(&mut shutdown, wait).await {
                break;
            }
        }
    }
}

/// The event publisher's side of the stream: its own mapping over the same records, with the
/// same batches, retries and giving up.
async fn publish(
    publisher: Publisher,
    mut mapping: Mapping,
    mut records: tokio::sync::mpsc::UnboundedReceiver<(
        String,
        aws_sdk_dynamodbstreams::types::Record,
    )>,
    reporter: Reporter,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if mapping.is_empty() {
            tokio::select! {
                next = records.recv() => match next {
                    Some((shard, record)) => mapping.offer(&shard, &record, &reporter),
                    None => return,
                },
                _ = shutdown.changed() => {}
            }
        }
        if *shutdown.borrow() {
            return;
        }
        while let Ok((shard, record)) = records.try_recv() {
            mapping.offer(&shard, &record, &reporter);
        }
        mapping
            .process(
                |event| publisher.handle_stream(event),
                &reporter,
                &mut shutdown,
            )
            .await;
    }
}
