//! The shard reader: the tenants table's stream through the DynamoDB Streams API (shards,
//! iterators, closed shards and their children), each record once. A quiet shard's iterator is
//! re-opened at the last record read, which must come back first and unchanged.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};

use super::{REFRESH, RESYNC, ReadError};

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

/// Where the reader is in the stream: its shards, and the event id of every record read.
pub(super) struct Reader {
    arn: String,
    shards: BTreeMap<String, Shard>,
    read: HashSet<String>,
    /// When the shard list was last read; None asks for a refresh.
    refresh_at: Option<Instant>,
}

impl Reader {
    pub(super) fn new(arn: String) -> Reader {
        Reader {
            arn,
            shards: BTreeMap::new(),
            read: HashSet::new(),
            refresh_at: None,
        }
    }

    /// Refreshes the shard list and reads one page from each open shard whose parent is done.
    /// Appends each record not read before to `found` with its shard, in stream order per shard;
    /// the records read before an error are there too.
    pub(super) async fn read(
        &mut self,
        streams: &aws_sdk_dynamodbstreams::Client,
        found: &mut Vec<(String, Record)>,
    ) -> Result<(), ReadError> {
        if self.refresh_at.is_none_or(|t| t.elapsed() >= REFRESH) {
            let mut start = None;
            loop {
                let out = streams
                    .describe_stream()
                    .stream_arn(&self.arn)
                    .set_exclusive_start_shard_id(start.clone())
                    .send()
                    .await
                    .map_err(|e| ReadError::streams("DescribeStream", None, e))?;
                let Some(desc) = out.stream_description else {
                    break;
                };
                for shard in desc.shards() {
                    let Some(id) = shard.shard_id() else { continue };
                    self.shards.entry(id.to_owned()).or_insert_with(|| Shard {
                        parent: shard.parent_shard_id().map(str::to_owned),
                        ..Shard::default()
                    });
                }
                start = desc.last_evaluated_shard_id;
                if start.is_none() {
                    break;
                }
            }
            self.refresh_at = Some(Instant::now());
        }
        let ids: Vec<String> = self.shards.keys().cloned().collect();
        for id in ids {
            let ready = {
                let shard = &self.shards[&id];
                let parent_done = shard
                    .parent
                    .as_ref()
                    .and_then(|p| self.shards.get(p))
                    .is_none_or(|p| p.closed);
                !shard.closed && parent_done
            };
            if !ready {
                continue;
            }
            let Some(shard) = self.shards.get_mut(&id) else {
                continue;
            };
            if shard.iterator.is_none() || shard.stale() {
                // Opened at the last record read (it comes back first, and is skipped), or at
                // the start of a shard nothing was read from yet.
                let mut call = streams
                    .get_shard_iterator()
                    .stream_arn(&self.arn)
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
                    self.refresh_at = None;
                    continue;
                }
            }
            let result = streams
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
                self.refresh_at = None;
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
                    && !self.read.insert(event.to_owned())
                {
                    continue;
                }
                found.push((id.clone(), record.clone()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reopened_iterator_skips_only_the_record_it_already_read() {
        let last = ("105".to_owned(), "e5".to_owned());
        assert_eq!(resumed(&last, "105", "e5"), Resumed::Seen);
        // moto after a cancelled transaction: a new record under the number last read.
        assert_eq!(resumed(&last, "105", "e9"), Resumed::Rewritten);
        assert_eq!(resumed(&last, "106", "e6"), Resumed::Later);
    }
}
