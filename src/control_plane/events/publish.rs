//! Publishing lifecycle events with PutEvents: the event publisher's stream handler on Lambda,
//! and the same code under `silos local`.

use std::time::Duration;

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use super::{DetailTypes, Event, SOURCE, from_record};

/// PutEvents takes at most 10 entries.
const MAX_ENTRIES: usize = 10;

/// Failed entries are sent again this many times (after the SDK's own retries of the call),
/// waiting 100, 200 and 400 ms; then the record goes back to the stream's retries.
const ATTEMPTS: u32 = 4;

/// Some events could not be published: the first of them, in the order given, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {index} ({detail_type}) was not published: {reason}")]
pub struct PublishError {
    pub index: usize,
    pub detail_type: &'static str,
    pub reason: String,
}

/// How many stack-output reads a batch makes at once.
const OUTPUT_READS: usize = 25;

/// Puts lifecycle events on one bus.
#[derive(Clone, Debug)]
pub struct Publisher {
    client: aws_sdk_eventbridge::Client,
    bus: String,
    names: DetailTypes,
    /// Reads a running tenant's stack outputs into its event, in the tenant's own cell, where
    /// given.
    cells: Option<crate::control_plane::ControlPlane>,
}

impl Publisher {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: &str, names: DetailTypes) -> Publisher {
        Publisher {
            client,
            bus: bus.to_owned(),
            names,
            cells: None,
        }
    }

    /// Adds the tenant stack's outputs to the events of a tenant that is now `running`, read
    /// in the tenant's cell (its account and region) through `cp`.
    pub fn with_stack_outputs_in_cells(
        mut self,
        cp: crate::control_plane::ControlPlane,
    ) -> Publisher {
        self.cells = Some(cp);
        self
    }

    /// The outputs of a running tenant's stack, or None: not running, no stack, no client,
    /// or the stack could not be read (logged; the event goes out without them rather than
    /// late).
    async fn stack_outputs(&self, e: &Event) -> Option<std::collections::BTreeMap<String, String>> {
        if e.detail.tenant.status != crate::control_plane::tenant::Status::Running {
            return None;
        }
        let stack = e.detail.tenant.stack_name.as_deref()?;
        let cp = self.cells.as_ref()?;
        let cfn = match cp
            .reach_of(&e.detail.tenant.tenant_id, e.detail.tenant.cell.as_deref())
            .await
        {
            // Not through the cell's token bucket, which paces provisioning: an event must not
            // wait behind a fleet's CreateStack calls. A throttled read leaves the outputs out;
            // it never delays the event.
            Ok(reach) => reach.unpaced().clone(),
            Err(err) => {
                tracing::warn!(stack, error = %err, "cannot reach the tenant's cell; publishing without its stack's outputs");
                return None;
            }
        };
        match cfn.describe_stacks().stack_name(stack).send().await {
            Ok(out) => Some(
                out.stacks()
                    .first()?
                    .outputs()
                    .iter()
                    .filter_map(|o| {
                        Some((o.output_key()?.to_owned(), o.output_value()?.to_owned()))
                    })
                    .collect(),
            ),
            Err(err) => {
                tracing::warn!(stack, error = %crate::aws::sdk_message(&err), "cannot read the tenant stack's outputs; publishing without them");
                None
            }
        }
    }

    pub fn bus(&self) -> &str {
        &self.bus
    }

    pub fn names(&self) -> DetailTypes {
        self.names
    }

    fn entry(&self, e: &Event) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(e.detail_type)
            .detail(e.detail_json())
            .build()
    }

    /// Publishes `events`, in order, 10 per call. Entries that fail are sent again up to
    /// [`ATTEMPTS`] times; the first that still fails is the error. Events before it are
    /// published; some after it may be too, and are published again when the caller retries
    /// (the same idempotency keys).
    pub async fn publish(&self, events: &[Event]) -> Result<(), PublishError> {
        for (chunk_index, chunk) in events.chunks(MAX_ENTRIES).enumerate() {
            let offset = chunk_index * MAX_ENTRIES;
            // Indices within the chunk still to publish, with the last reason.
            let mut pending: Vec<(usize, String)> =
                (0..chunk.len()).map(|i| (i, String::new())).collect();
            let mut wait = Duration::from_millis(100);
            for attempt in 1..=ATTEMPTS {
                let entries: Vec<_> = pending
                    .iter()
                    .map(|(i, _)| self.entry(&chunk[*i]))
                    .collect();
                let result = self
                    .client
                    .put_events()
                    .set_entries(Some(entries))
                    .send()
                    .await;
                pending = match result {
                    Err(e) => {
                        let reason = crate::aws::sdk_message(&e);
                        pending
                            .into_iter()
                            .map(|(i, _)| (i, reason.clone()))
                            .collect()
                    }
                    Ok(out) => pending
                        .into_iter()
                        .zip(
                            out.entries()
                                .iter()
                                .map(Some)
                                .chain(std::iter::repeat(None)),
                        )
                        .filter_map(|((i, _), entry)| match entry {
                            Some(r) if r.error_code().is_none() && r.event_id().is_some() => None,
                            Some(r) => Some((
                                i,
                                format!(
                                    "{}: {}",
                                    r.error_code().unwrap_or("no event id"),
                                    r.error_message().unwrap_or_default()
                                ),
                            )),
                            None => Some((i, "no result for the entry".to_owned())),
                        })
                        .collect(),
                };
                if pending.is_empty() {
                    break;
                }
                if attempt < ATTEMPTS {
                    tracing::warn!(
                        failed = pending.len(),
                        attempt,
                        "PutEvents failed for some events; sending them again"
                    );
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            }
            if let Some((i, reason)) = pending.into_iter().min_by_key(|(i, _)| *i) {
                return Err(PublishError {
                    index: offset + i,
                    detail_type: chunk[i].detail_type,
                    reason,
                });
            }
        }
        Ok(())
    }

    /// The event publisher's Lambda handler: each record's event, in batch order. A record it
    /// cannot read or publish is reported, with every record after it, as batch item failures,
    /// so the mapping delivers them again and, after its retries, sends them to its on-failure
    /// queue. It never touches the table, so it can never hold up provisioning.
    pub async fn handle_stream(&self, event: StreamEvent) -> DynamoDbEventResponse {
        let sequences: Vec<Option<String>> = event
            .records
            .iter()
            .map(|r| r.change.sequence_number.clone())
            .collect();
        let mut first_failed = None;
        // (index in the batch, its event)
        let mut events: Vec<(usize, Event)> = Vec::new();
        for (index, record) in event.records.iter().enumerate() {
            match from_record(
                &record.event_name,
                &record.change.old_image,
                &record.change.new_image,
                self.names,
            ) {
                Ok(Some(e)) => events.push((index, e)),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, sequence = ?sequences[index], "an unreadable stream record; it will be retried");
                    first_failed = Some(index);
                    break;
                }
            }
        }
        // The running tenants' stack outputs, read OUTPUT_READS at a time: one after another,
        // a batch of a busy fleet's events would fall behind the stream.
        for chunk in events.chunks_mut(OUTPUT_READS) {
            let mut reads = tokio::task::JoinSet::new();
            for (i, (_, e)) in chunk.iter().enumerate() {
                let (publisher, e) = (self.clone(), e.clone());
                reads.spawn(async move { (i, publisher.stack_outputs(&e).await) });
            }
            while let Some(read) = reads.join_next().await {
                // A read that panicked leaves its outputs out, as a failed one does.
                if let Ok((i, outputs)) = read {
                    chunk[i].1.detail.stack_outputs = outputs;
                }
            }
        }
        let list: Vec<Event> = events.iter().map(|(_, e)| e.clone()).collect();
        if let Err(e) = self.publish(&list).await {
            tracing::error!(error = %e, "lifecycle events were not published; the records will be retried");
            let index = events[e.index].0;
            first_failed = Some(first_failed.map_or(index, |f: usize| f.min(index)));
        } else {
            for (_, e) in &events {
                tracing::info!(detail_type = e.detail_type, key = %e.detail.idempotency_key, "published");
            }
        }
        crate::control_plane::provisioner::batch_failures(&sequences, first_failed)
    }
}
