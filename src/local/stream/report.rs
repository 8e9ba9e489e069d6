//! The transition report: one line per tenant status change, once and in stream order, from
//! every record the reader returns. It also tells the stack watcher which tenants wait for a
//! stack status. Lock items are not tenants.

use std::collections::HashMap;

use aws_sdk_dynamodbstreams::types::Record;

use super::string;
use crate::control_plane::store::attribute;
use crate::control_plane::tenant::Status;
use crate::local::watcher::InFlight;
use crate::local::{Report, Reporter};

/// The last status seen per tenant, and the sequence number it was seen at.
#[derive(Default)]
pub(super) struct Transitions {
    statuses: HashMap<String, (Status, String)>,
}

/// DynamoDB sequence numbers are decimal strings of varying length.
fn seq_after(a: &str, b: &str) -> bool {
    (a.len(), a) > (b.len(), b)
}

impl Transitions {
    /// Reports a tenant's status change, once, in stream order. Lock items are not tenants.
    pub(super) fn observe(&mut self, record: &Record, reporter: &Reporter, in_flight: &InFlight) {
        let Some(change) = record.dynamodb() else {
            return;
        };
        let Some(image) = change.new_image() else {
            return;
        };
        if image.contains_key(attribute::KIND) {
            return;
        }
        let (Some(id), Some(status)) = (
            string(image, attribute::TENANT_ID),
            string(image, attribute::STATUS).and_then(|s| Status::parse(&s)),
        ) else {
            return;
        };
        let seq = change.sequence_number().unwrap_or_default().to_owned();
        let previous = self.statuses.get(&id).cloned();
        if previous.as_ref().is_none_or(|(_, at)| seq_after(&seq, at)) {
            in_flight.observe(&id, status, string(image, attribute::STACK_ID).as_deref());
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
            tenant_name: string(image, attribute::TENANT_NAME).unwrap_or_default(),
            from: previous.map(|(s, _)| s),
            to: status,
            reason: string(image, attribute::STATUS_REASON),
        });
        self.statuses.insert(id, (status, seq));
    }
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
}
