//! The stack watcher: what EventBridge does on AWS. It polls the tenant stacks and turns each
//! status change into a "CloudFormation Stack Status Change" event of the real shape, which the
//! stack-events handler takes exactly as the Lambda host gives it.

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

impl StackWatcher {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let prefix = format!("{}-tenant-", self.cp.settings().prefix);
        let region = self.cp.settings().region.clone();
        // Stack id → the status last delivered (and handled).
        let mut seen: HashMap<String, String> = HashMap::new();
        let mut errors = 0u32;
        loop {
            match self.list(&prefix).await {
                Ok(stacks) => {
                    errors = 0;
                    for s in stacks {
                        let (Some(id), Some(status)) = (s.stack_id(), s.stack_status()) else {
                            continue;
                        };
                        if seen.get(id).map(String::as_str) == Some(status.as_str()) {
                            continue;
                        }
                        let event = stack_status_event(
                            id,
                            status.as_str(),
                            s.stack_status_reason().unwrap_or_default(),
                            &region,
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
                                seen.insert(id.to_owned(), status.as_str().to_owned());
                            }
                            // Not marked seen: delivered again on the next poll, as
                            // EventBridge retries a failed invocation.
                            Err(e) => {
                                tracing::warn!(stack = id, error = %e, "handling a stack event failed; will retry")
                            }
                        }
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
