//! The stack watcher: what EventBridge does on AWS. It polls the tenant stacks and turns each
//! status change into a "CloudFormation Stack Status Change" event of the real shape, which the
//! stack-events handler takes exactly as the Lambda host gives it. A stack whose status can
//! come round again (a second update) is also watched through its newest stack event.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_cloudformation::types::StackSummary;
use tokio::sync::watch;

use super::{Report, Reporter};
use crate::control_plane::ControlPlane;
use crate::control_plane::stack_events::{Handled, stack_status_event};

pub const POLL: Duration = Duration::from_millis(250);

pub struct StackWatcher {
    pub cp: ControlPlane,
    pub cfn: aws_sdk_cloudformation::Client,
    pub account: String,
    pub reporter: Reporter,
}

/// Stacks re-checked through their events per poll, at most.
const RECHECKS_PER_POLL: usize = 16;

/// Whether a status can repeat with no status change in between: a second update ends where
/// the first did (UPDATE_COMPLETE → UPDATE_COMPLETE). ListStacks cannot tell those apart (the
/// emulator keeps no LastUpdatedTime), so these stacks are watched through their events.
fn repeatable(status: &str) -> bool {
    matches!(status, "UPDATE_COMPLETE" | "UPDATE_ROLLBACK_COMPLETE")
}

/// What the watcher last delivered for a stack.
struct Seen {
    status: String,
    /// The newest stack event then, for a repeatable status.
    event: Option<String>,
}

impl StackWatcher {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let prefix = format!("{}-tenant-", self.cp.settings().prefix);
        // Stack id → what was last delivered (and handled).
        let mut seen: HashMap<String, Seen> = HashMap::new();
        let mut errors = 0u32;
        let mut turn = 0usize;
        loop {
            match self.list(&prefix).await {
                Ok(stacks) => {
                    errors = 0;
                    let mut recheck = Vec::new();
                    for s in &stacks {
                        let (Some(id), Some(status)) = (s.stack_id(), s.stack_status()) else {
                            continue;
                        };
                        let status = status.as_str();
                        match seen.get(id) {
                            Some(last) if last.status == status => {
                                if repeatable(status) {
                                    recheck.push((id, s));
                                }
                            }
                            _ => {
                                let event = if repeatable(status) {
                                    self.newest_event(id).await
                                } else {
                                    None
                                };
                                if self.deliver(s).await {
                                    let status = status.to_owned();
                                    seen.insert(id.to_owned(), Seen { status, event });
                                }
                            }
                        }
                    }
                    // A round-robin share of the settled stacks, through their newest event.
                    if !recheck.is_empty() {
                        let n = recheck.len();
                        for i in 0..n.min(RECHECKS_PER_POLL) {
                            let (id, s) = recheck[(turn + i) % n];
                            let newest = self.newest_event(id).await;
                            let Some(last) = seen.get_mut(id) else {
                                continue;
                            };
                            if newest.is_none() || newest == last.event {
                                continue;
                            }
                            if last.event.is_none() || self.deliver(s).await {
                                last.event = newest;
                            }
                        }
                        turn = (turn + RECHECKS_PER_POLL) % n;
                    }
                }
                Err(e) => {
                    errors += 1;
                    tracing::warn!(error = %e, "listing tenant stacks failed; retrying");
                }
            }
            let wait = POLL * 2u32.pow(errors.min(4));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    /// Hands the stack's status to the stack-events handler as its EventBridge event. False
    /// if handling failed: it is delivered again on the next poll, as EventBridge retries a
    /// failed invocation.
    async fn deliver(&self, s: &StackSummary) -> bool {
        let (Some(id), Some(status)) = (s.stack_id(), s.stack_status()) else {
            return true;
        };
        let settings = self.cp.settings();
        let event = stack_status_event(
            id,
            status.as_str(),
            s.stack_status_reason().unwrap_or_default(),
            &settings.region,
            &self.account,
        );
        match self.cp.handle_stack_event(&event).await {
            Ok(handled) => {
                tracing::debug!(
                    stack = id,
                    status = status.as_str(),
                    ?handled,
                    "stack event"
                );
                if let Handled::Ignored {
                    tenant,
                    from,
                    stack_status,
                } = &handled
                {
                    (self.reporter)(Report::Ignored {
                        tenant_id: tenant.clone(),
                        status: *from,
                        stack_status: stack_status.clone(),
                    });
                }
                true
            }
            Err(e) => {
                tracing::warn!(stack = id, error = %e, "handling a stack event failed; will retry");
                false
            }
        }
    }

    /// The id of the stack's newest event, if it can be read.
    async fn newest_event(&self, stack_id: &str) -> Option<String> {
        let out = self
            .cfn
            .describe_stack_events()
            .stack_name(stack_id)
            .send()
            .await
            .map_err(|e| {
                let e = aws_sdk_cloudformation::error::DisplayErrorContext(e);
                tracing::warn!(stack = stack_id, error = %e, "reading stack events failed");
            })
            .ok()?;
        out.stack_events()
            .iter()
            .find(|e| e.resource_type() == Some("AWS::CloudFormation::Stack"))
            .and_then(|e| e.event_id())
            .map(str::to_owned)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<StackSummary>, String> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .cfn
                .list_stacks()
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| aws_sdk_cloudformation::error::DisplayErrorContext(e).to_string())?;
            out.extend(
                page.stack_summaries()
                    .iter()
                    .filter(|s| s.stack_name().is_some_and(|n| n.starts_with(prefix)))
                    .cloned(),
            );
            token = page.next_token;
            if token.is_none() {
                return Ok(out);
            }
        }
    }
}
