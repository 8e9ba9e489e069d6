//! The stack watcher: what EventBridge does on AWS. It polls the tenant stacks and turns each
//! status change into a "CloudFormation Stack Status Change" event of the real shape, which the
//! stack-events handler takes exactly as the Lambda host gives it. A stack whose status can
//! come round again (a second update) is also watched through its newest stack event.
//!
//! What it polls: every [`POLL`], the stacks of the tenants the table shows in flight
//! (provisioning, updating or deleting, with a stack id; [`InFlight`], fed by the stream
//! reader), one DescribeStacks each; and every [`SCAN`], every tenant stack through ListStacks,
//! which catches anything else (a stack deleted by hand). The emulator's ListStacks returns
//! every stack ever made in one page, so polling it four times a second grew with the fleet.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::{Report, Reporter};
use crate::control_plane::ControlPlane;
use crate::control_plane::stack_events::{Handled, stack_status_event};
use crate::control_plane::tenant::Status;

pub const POLL: Duration = Duration::from_millis(250);
/// How often every tenant stack is listed.
pub const SCAN: Duration = Duration::from_secs(5);
/// How many stack summaries in a ListStacks answer cost the emulator about one DescribeStacks
/// (measured with `SILOS_EMULATOR_PROFILE`; see docs/RELIABILITY.md).
const STACKS_PER_DESCRIBE: usize = 40;

/// The stacks whose tenants wait for a stack status: tenant id → stack id.
#[derive(Clone, Default)]
pub struct InFlight(Arc<Mutex<BTreeMap<String, String>>>);

impl InFlight {
    /// Records a tenant's status as the table shows it.
    pub fn observe(&self, tenant_id: &str, status: Status, stack_id: Option<&str>) {
        let waiting = matches!(
            status,
            Status::Provisioning | Status::Updating | Status::Deleting
        );
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match stack_id {
            Some(stack) if waiting => {
                map.insert(tenant_id.to_owned(), stack.to_owned());
            }
            _ => {
                map.remove(tenant_id);
            }
        }
    }

    fn stacks(&self) -> Vec<String> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.values().cloned().collect()
    }

    /// The in-flight stacks of one account and region (one cell's), by their ARNs.
    fn stacks_in(&self, region: &str, account: &str) -> Vec<String> {
        let cell = format!("arn:aws:cloudformation:{region}:{account}:");
        self.stacks()
            .into_iter()
            .filter(|s| s.starts_with(&cell))
            .collect()
    }
}

pub struct StackWatcher {
    pub cp: ControlPlane,
    /// CloudFormation in the watched cell's account and region.
    pub cfn: aws_sdk_cloudformation::Client,
    pub account: String,
    pub region: String,
    pub reporter: Reporter,
    pub in_flight: InFlight,
}

/// A stack's id, status and reason, from ListStacks or DescribeStacks.
struct Observed {
    id: String,
    status: String,
    reason: String,
}

/// ListStacks failed, with the SDK's whole error context (logged; the next poll retries).
#[derive(Debug, thiserror::Error)]
#[error("CloudFormation ListStacks: {0}")]
struct ListFailed(String);

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
        let mut scanned: Option<Instant> = None;
        loop {
            let in_flight = self.in_flight.stacks_in(&self.region, &self.account);
            // One ListStacks instead of many DescribeStacks once enough stacks are in flight:
            // a listing costs the emulator about as much as describing a small share of the
            // stacks it lists.
            let list_instead = in_flight.len() > 1 + seen.len() / STACKS_PER_DESCRIBE;
            let stacks = if list_instead || scanned.is_none_or(|t| t.elapsed() >= SCAN) {
                let listed = self.list(&prefix).await;
                if listed.is_ok() {
                    scanned = Some(Instant::now());
                }
                listed
            } else {
                Ok(self.describe(&in_flight).await)
            };
            match stacks {
                Ok(stacks) => {
                    errors = 0;
                    let mut recheck = Vec::new();
                    for s in &stacks {
                        match seen.get(&s.id) {
                            Some(last) if last.status == s.status => {
                                if repeatable(&s.status) {
                                    recheck.push(s);
                                }
                            }
                            _ => {
                                let event = if repeatable(&s.status) {
                                    self.newest_event(&s.id).await
                                } else {
                                    None
                                };
                                if self.deliver(s).await {
                                    let status = s.status.clone();
                                    seen.insert(s.id.clone(), Seen { status, event });
                                }
                            }
                        }
                    }
                    // A round-robin share of the settled stacks, through their newest event.
                    if !recheck.is_empty() {
                        let n = recheck.len();
                        for i in 0..n.min(RECHECKS_PER_POLL) {
                            let s = recheck[(turn + i) % n];
                            let newest = self.newest_event(&s.id).await;
                            let Some(last) = seen.get_mut(&s.id) else {
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
                    tracing::warn!(error = %e, "reading tenant stacks failed; retrying");
                }
            }
            if !super::poll_again(POLL, errors, &mut shutdown).await {
                return;
            }
        }
    }

    /// Hands the stack's status to the stack-events handler as its EventBridge event. False
    /// if handling failed: it is delivered again on the next poll, as EventBridge retries a
    /// failed invocation.
    async fn deliver(&self, s: &Observed) -> bool {
        let (id, status) = (&s.id, &s.status);
        let event = stack_status_event(id, status, &s.reason, &self.region, &self.account);
        match self.cp.handle_stack_event(&event).await {
            Ok(handled) => {
                tracing::debug!(stack = %id, %status, ?handled, "stack event");
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
                tracing::warn!(stack = %id, error = %e, "handling a stack event failed; will retry");
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
                let e = crate::aws::sdk_message(&e);
                tracing::warn!(stack = stack_id, error = %e, "reading stack events failed");
            })
            .ok()?;
        out.stack_events()
            .iter()
            .find(|e| e.resource_type() == Some("AWS::CloudFormation::Stack"))
            .and_then(|e| e.event_id())
            .map(str::to_owned)
    }

    /// The stacks `ids`, one DescribeStacks each. A stack that cannot be described is left to
    /// the next poll (or scan).
    async fn describe(&self, ids: &[String]) -> Vec<Observed> {
        let mut out = Vec::new();
        for id in ids {
            match self.cfn.describe_stacks().stack_name(id).send().await {
                Ok(found) => out.extend(found.stacks().iter().filter_map(|s| {
                    Some(Observed {
                        id: s.stack_id()?.to_owned(),
                        status: s.stack_status()?.as_str().to_owned(),
                        reason: s.stack_status_reason().unwrap_or_default().to_owned(),
                    })
                })),
                Err(e) => {
                    let e = crate::aws::sdk_message(&e);
                    tracing::debug!(stack = %id, error = %e, "describing an in-flight stack failed");
                }
            }
        }
        out
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Observed>, ListFailed> {
        let mut out = Vec::new();
        let mut summaries = self.cfn.list_stacks().into_paginator().items().send();
        while let Some(s) = summaries.next().await {
            let s = s.map_err(|e| ListFailed(crate::aws::sdk_message(&e)))?;
            if !s.stack_name().is_some_and(|n| n.starts_with(prefix)) {
                continue;
            }
            if let (Some(id), Some(status)) = (s.stack_id(), s.stack_status()) {
                out.push(Observed {
                    id: id.to_owned(),
                    status: status.as_str().to_owned(),
                    reason: s.stack_status_reason().unwrap_or_default().to_owned(),
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tenants_with_a_stack_that_wait_for_its_status_are_in_flight() {
        let in_flight = InFlight::default();
        in_flight.observe("t1", Status::Initiated, None);
        in_flight.observe("t2", Status::Provisioning, None);
        assert!(in_flight.stacks().is_empty());
        in_flight.observe("t2", Status::Provisioning, Some("stack-2"));
        in_flight.observe("t3", Status::Updating, Some("stack-3"));
        in_flight.observe("t4", Status::Deleting, Some("stack-4"));
        assert_eq!(in_flight.stacks(), ["stack-2", "stack-3", "stack-4"]);
        in_flight.observe("t2", Status::Running, Some("stack-2"));
        in_flight.observe("t4", Status::Deleted, Some("stack-4"));
        assert_eq!(in_flight.stacks(), ["stack-3"]);
        in_flight.observe(
            "t5",
            Status::Provisioning,
            Some("arn:aws:cloudformation:eu-west-1:210987654321:stack/a/1"),
        );
        in_flight.observe(
            "t6",
            Status::Provisioning,
            Some("arn:aws:cloudformation:us-east-1:210987654321:stack/b/2"),
        );
        assert_eq!(
            in_flight.stacks_in("eu-west-1", "210987654321"),
            ["arn:aws:cloudformation:eu-west-1:210987654321:stack/a/1"]
        );
    }
}
