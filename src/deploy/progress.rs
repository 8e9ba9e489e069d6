//! Rendering a stack operation from its events: a progress bar of resources done out of the
//! total, one line per resource event, and the failures with their reasons. Pure, so it is
//! tested on recorded DescribeStackEvents sequences of the real shape (an emulator only
//! produces stack-level events).

use std::collections::BTreeSet;

use serde::Deserialize;

/// One DescribeStackEvents entry, in the API's field names.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StackEvent {
    pub event_id: String,
    pub stack_name: String,
    pub logical_resource_id: String,
    #[serde(default)]
    pub resource_type: String,
    pub resource_status: String,
    #[serde(default)]
    pub resource_status_reason: Option<String>,
    #[serde(default)]
    pub timestamp: String,
}

impl StackEvent {
    pub fn from_sdk(e: &aws_sdk_cloudformation::types::StackEvent) -> StackEvent {
        StackEvent {
            event_id: e.event_id().unwrap_or_default().to_owned(),
            stack_name: e.stack_name().unwrap_or_default().to_owned(),
            logical_resource_id: e.logical_resource_id().unwrap_or_default().to_owned(),
            resource_type: e.resource_type().unwrap_or_default().to_owned(),
            resource_status: e
                .resource_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            resource_status_reason: e
                .resource_status_reason()
                .filter(|r| !r.is_empty())
                .map(str::to_owned),
            timestamp: e.timestamp().map(|t| t.to_string()).unwrap_or_default(),
        }
    }

    fn is_stack(&self) -> bool {
        self.resource_type == "AWS::CloudFormation::Stack"
            && self.logical_resource_id == self.stack_name
    }
}

/// What the operation does to resources, which decides what "done" means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    CreateOrUpdate,
    Delete,
}

/// A failed resource and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}) {}: {}",
            self.logical_id, self.resource_type, self.status, self.reason
        )
    }
}

#[derive(Clone, Debug)]
pub struct Progress {
    operation: Operation,
    total: usize,
    done: BTreeSet<String>,
    seen: BTreeSet<String>,
    failures: Vec<Failure>,
    rolling_back: bool,
    stack_status: Option<String>,
}

const WIDTH: usize = 24;

impl Progress {
    pub fn new(operation: Operation, total: usize) -> Progress {
        Progress {
            operation,
            total,
            done: BTreeSet::new(),
            seen: BTreeSet::new(),
            failures: Vec::new(),
            rolling_back: false,
            stack_status: None,
        }
    }

    /// Applies one event (events must come oldest first, and each once). Returns the line to
    /// print for it, or None for an event already seen.
    pub fn apply(&mut self, e: &StackEvent) -> Option<String> {
        if !self.seen.insert(e.event_id.clone()) {
            return None;
        }
        let status = e.resource_status.as_str();
        if e.is_stack() {
            self.stack_status = Some(status.to_owned());
            if status.contains("ROLLBACK_IN_PROGRESS") {
                self.rolling_back = true;
            }
        } else {
            let done = match self.operation {
                Operation::CreateOrUpdate => {
                    matches!(
                        status,
                        "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "IMPORT_COMPLETE"
                    )
                }
                Operation::Delete => matches!(status, "DELETE_COMPLETE" | "DELETE_SKIPPED"),
            };
            if done && !self.rolling_back {
                self.done.insert(e.logical_resource_id.clone());
            }
            if status.ends_with("_FAILED") {
                self.failures.push(Failure {
                    logical_id: e.logical_resource_id.clone(),
                    resource_type: e.resource_type.clone(),
                    status: status.to_owned(),
                    reason: e
                        .resource_status_reason
                        .clone()
                        .unwrap_or_else(|| "no reason given".to_owned()),
                });
            }
        }
        let reason = e
            .resource_status_reason
            .as_deref()
            .filter(|_| status.ends_with("_FAILED") || e.is_stack() && status.contains("ROLLBACK"))
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        Some(format!(
            "{} {:<20} {:<32} {}{reason}",
            self.bar(),
            status,
            e.resource_type,
            e.logical_resource_id
        ))
    }

    /// `[##########--------------]  5/12`, or the rollback state.
    pub fn bar(&self) -> String {
        let done = self.done.len().min(self.total);
        let filled = (done * WIDTH).checked_div(self.total).unwrap_or(WIDTH);
        let state = if self.rolling_back {
            " rolling back"
        } else {
            ""
        };
        format!(
            "[{}{}] {done:>3}/{}{state}",
            "#".repeat(filled),
            "-".repeat(WIDTH - filled),
            self.total
        )
    }

    pub fn done(&self) -> usize {
        self.done.len()
    }

    pub fn failures(&self) -> &[Failure] {
        &self.failures
    }

    pub fn stack_status(&self) -> Option<&str> {
        self.stack_status.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Vec<StackEvent> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Out {
            stack_events: Vec<StackEvent>,
        }
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/describe-stack-events-create-failed.json"
        );
        let out: Out = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        // DescribeStackEvents answers newest first.
        out.stack_events.into_iter().rev().collect()
    }

    #[test]
    fn a_failed_create_shows_progress_then_the_failure_and_the_rollback() {
        let events = fixture();
        let mut p = Progress::new(Operation::CreateOrUpdate, 3);
        let lines: Vec<String> = events.iter().filter_map(|e| p.apply(e)).collect();
        assert_eq!(lines.len(), events.len());
        // The role and the table were created before the function failed.
        assert_eq!(p.done(), 2);
        assert_eq!(p.stack_status(), Some("ROLLBACK_COMPLETE"));
        assert_eq!(p.failures().len(), 1);
        let f = &p.failures()[0];
        assert_eq!(f.logical_id, "ApiFunction");
        assert_eq!(f.resource_type, "AWS::Lambda::Function");
        assert!(f.reason.contains("S3 Error Code: NoSuchKey"), "{f}");
        // Lines: a bar, the status, the type, the id; reasons on failures.
        let created = lines
            .iter()
            .find(|l| l.contains("CREATE_COMPLETE") && l.contains("ApiFunctionRole"))
            .unwrap();
        assert!(
            created.starts_with("[########----------------]   1/3 CREATE_COMPLETE"),
            "{created}"
        );
        let failed = lines.iter().find(|l| l.contains("CREATE_FAILED")).unwrap();
        assert!(failed.ends_with("NoSuchKey. S3 Error Message: The specified key does not exist. (Service: Lambda, Status Code: 400, Request ID: 8a1f2b3c-4d5e-6f70-8192-a3b4c5d6e7f8)\" (RequestToken: 1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901, HandlerErrorCode: InvalidRequest)"), "{failed}");
        // Deletions during the rollback do not count as progress.
        assert!(lines.last().unwrap().contains("rolling back"), "{lines:#?}");
        // Applying the same events again prints nothing.
        assert!(events.iter().all(|e| p.apply(e).is_none()));
    }

    #[test]
    fn a_delete_counts_deleted_and_skipped_resources() {
        let mut p = Progress::new(Operation::Delete, 2);
        let ev = |id: &str, logical: &str, status: &str| StackEvent {
            event_id: id.into(),
            stack_name: "s".into(),
            logical_resource_id: logical.into(),
            resource_type: "AWS::SQS::Queue".into(),
            resource_status: status.into(),
            resource_status_reason: None,
            timestamp: String::new(),
        };
        p.apply(&ev("1", "A", "DELETE_IN_PROGRESS"));
        assert_eq!(p.done(), 0);
        p.apply(&ev("2", "A", "DELETE_COMPLETE"));
        p.apply(&ev("3", "B", "DELETE_SKIPPED"));
        assert_eq!(p.done(), 2);
        assert_eq!(p.bar(), format!("[{}]   2/2", "#".repeat(WIDTH)));
    }
}
