//! The stack watcher: what EventBridge does on AWS. It polls the tenant stacks and turns each
//! status change into a "CloudFormation Stack Status Change" event of the real shape, which the
//! stack-events handler takes exactly as the Lambda host gives it.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_cloudformation::types::StackSummary;
use serde_json::json;
use tokio::sync::watch;

use super::{Report, Reporter};
use crate::control_plane::ControlPlane;
use crate::control_plane::stack_events::{Handled, StackStatusEvent};

pub const POLL: Duration = Duration::from_millis(250);

pub struct StackWatcher {
    pub cp: ControlPlane,
    pub cfn: aws_sdk_cloudformation::Client,
    pub account: String,
    pub reporter: Reporter,
}

/// The EventBridge event for a stack status change, as AWS sends it.
pub fn stack_status_event(
    stack_id: &str,
    status: &str,
    reason: &str,
    region: &str,
    account: &str,
) -> StackStatusEvent {
    let value = json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "CloudFormation Stack Status Change",
        "source": "aws.cloudformation",
        "account": account,
        "time": rfc3339(std::time::SystemTime::now()),
        "region": region,
        "resources": [stack_id],
        "detail": {
            "stack-id": stack_id,
            "status-details": {"status": status, "status-reason": reason},
        },
    });
    serde_json::from_value(value).expect("the event shape matches StackStatusEvent")
}

/// `2026-11-28T10:15:42Z`.
fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_render_as_rfc3339() {
        let t = std::time::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        assert_eq!(rfc3339(t), "2015-08-30T12:36:00Z");
        assert_eq!(rfc3339(std::time::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        // A leap day.
        let t = std::time::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn the_event_has_the_shape_of_the_fixture() {
        let id = "arn:aws:cloudformation:us-east-1:123456789012:stack/silos-tenant-x/1";
        let event = stack_status_event(id, "CREATE_COMPLETE", "", "us-east-1", "123456789012");
        assert_eq!(event.detail.stack_id, id);
        assert_eq!(event.detail.status_details.status, "CREATE_COMPLETE");
        assert_eq!(event.source, "aws.cloudformation");
        assert_eq!(event.detail_type, "CloudFormation Stack Status Change");
    }
}
