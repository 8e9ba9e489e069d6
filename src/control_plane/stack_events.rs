//! The stack-events handler: "CloudFormation Stack Status Change" events, mapped onto tenants by
//! the explicit table of [`super::tenant::stack_transition`]. An event applies only to the tenant
//! whose stack id it carries, so events from an older stack of the same name change nothing.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_sdk_dynamodb::primitives::DateTime;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::store::{self, Changes};
use super::tenant::{EventOutcome, StackTransition, Status, Tenant, apply_stack_status};
use super::{ControlPlane, Error};

/// The `detail` of a stack status change event.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackStatusDetail {
    #[serde(rename = "stack-id")]
    pub stack_id: String,
    #[serde(rename = "status-details")]
    pub status_details: StatusDetails,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusDetails {
    pub status: String,
    #[serde(rename = "status-reason", default)]
    pub status_reason: String,
}

pub type StackStatusEvent = EventBridgeEvent<StackStatusDetail>;

/// What handling an event did, for logs and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handled {
    /// Not a tenant stack of this control plane.
    NotATenantStack,
    /// A tenant stack whose tenant is unknown.
    UnknownTenant(String),
    /// The event's stack is not the tenant's current stack.
    OtherStack(String),
    /// Not a status that matters, or not an allowed move (logged).
    Ignored {
        tenant: String,
        from: Status,
        stack_status: String,
    },
    /// The tenant already had that status.
    AlreadyThere(String),
    Moved {
        tenant: String,
        from: Status,
        to: Status,
    },
}

/// `arn:…:stack/{name}/{uuid}` → `name`.
fn stack_name(stack_id: &str) -> Option<&str> {
    stack_id.split(":stack/").nth(1)?.split('/').next()
}

/// The first UUID in a stack name (or an alarm's, which starts with it): the tenant id, by
/// the blueprint rules.
pub(super) fn tenant_id(name: &str) -> Option<&str> {
    (0..name.len().saturating_sub(35)).find_map(|i| {
        let candidate = name.get(i..i + 36)?;
        uuid::Uuid::parse_str(candidate).ok().map(|_| candidate)
    })
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

/// `2026-11-28T10:15:42Z`: RFC 3339 to the second, as EventBridge writes it.
fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    // Whole seconds, so no fraction is written. The SDK's `DateTime` displays as
    // `Format::DateTime` (RFC 3339), or as epoch seconds past the year 9999.
    DateTime::from_secs(secs).to_string()
}

/// What applying a stack event writes to its tenant.
struct EventWrite {
    changes: Changes,
    /// The tenant's new `statusReason`, for a move to `deleted`.
    reason: Option<String>,
    /// The version of the update in flight, which the write's condition names.
    target: Option<String>,
}

/// What moving `tenant` by `t`, for the stack event `detail`, writes. None for a settled
/// status of an earlier update, arriving late: the update in flight has no change set yet.
fn event_write(
    tenant: &Tenant,
    t: StackTransition,
    detail: &StackStatusDetail,
) -> Option<EventWrite> {
    let from = tenant.status;
    let status = &detail.status_details.status;
    let mut reason = (t.keep_reason && !detail.status_details.status_reason.is_empty())
        .then(|| format!("{status}: {}", detail.status_details.status_reason));
    // An update the control plane asked for: its outcome moves the version.
    let target = (from == Status::Updating)
        .then(|| tenant.target_version.clone())
        .flatten();
    let mut changes = Changes {
        stack_id: tenant.stack_id.is_none().then(|| detail.stack_id.clone()),
        ..Changes::default()
    };
    if let Some(target) = &target {
        // Its change set is recorded just before it is executed. Until then, a settled
        // status is an earlier update's, arriving late.
        if tenant.change_set.is_none() && t.status != Status::Deleting {
            return None;
        }
        changes.target_version = Some(None);
        changes.change_set = Some(None);
        changes.target_deployment_type = Some(None);
        if status == "UPDATE_COMPLETE" {
            changes.version = Some(Some(target.clone()));
            // A tier move lands: the tenant is of its new type from now on.
            changes.deployment_type = tenant.target_deployment_type.clone();
            changes.status_reason = Some(None);
        } else {
            let why = reason.take().unwrap_or_else(|| status.clone());
            reason = Some(format!(
                "{} failed: {why}",
                super::moves::describe(tenant, target)
            ));
        }
    }
    if t.keep_reason {
        changes.status_reason = Some(reason.clone());
    }
    Some(EventWrite {
        changes,
        reason,
        target,
    })
}

impl ControlPlane {
    /// The fleet metrics of `tenant` moving to `to`: onboarding and offboarding times, and
    /// failures (`rolled_back`: an update that came back with a reason).
    fn measure_move(&self, tenant: &Tenant, to: Status, rolled_back: bool) {
        use super::metrics::{FAILURES, OFFBOARDING_SECONDS, ONBOARDING_SECONDS};
        let since = |t: super::tenant::Timestamp| {
            super::tenant::Timestamp::now()
                .millis
                .saturating_sub(t.millis) as f64
                / 1000.0
        };
        let from = tenant.status;
        match (from, to) {
            (Status::Provisioning | Status::Initiated, Status::Running) => {
                self.metrics()
                    .put(ONBOARDING_SECONDS, None, since(tenant.created));
            }
            (Status::Deleting, Status::Deleted) => {
                self.metrics()
                    .put(OFFBOARDING_SECONDS, None, since(tenant.status_changed_at));
            }
            (Status::Provisioning | Status::Initiated, Status::Failed) => {
                self.metrics().put(FAILURES, Some("create"), 1.0);
            }
            (Status::Deleting, Status::Failed) => {
                self.metrics().put(FAILURES, Some("delete"), 1.0);
            }
            (_, Status::Failed) => self.metrics().put(FAILURES, Some("update"), 1.0),
            (Status::Updating, Status::Running) if rolled_back => {
                self.metrics().put(FAILURES, Some("update"), 1.0);
            }
            _ => {}
        }
    }

    /// Applies a stack status change event to the tenant whose current stack it is about.
    pub async fn handle_stack_event(&self, event: &StackStatusEvent) -> Result<Handled, Error> {
        let detail = &event.detail;
        let (id, tenant) = match self.event_tenant(detail).await? {
            Ok(found) => found,
            Err(handled) => return Ok(handled),
        };
        let from = tenant.status;
        let status = &detail.status_details.status;
        let ignored = || Handled::Ignored {
            tenant: id.to_owned(),
            from,
            stack_status: status.clone(),
        };
        let t = match apply_stack_status(from, status) {
            EventOutcome::Move(t) => t,
            EventOutcome::AlreadyThere => return Ok(Handled::AlreadyThere(id.to_owned())),
            EventOutcome::Ignore => {
                tracing::info!(tenant = id, %from, stack_status = %status, "stack event ignored");
                return Ok(ignored());
            }
        };
        let Some(write) = event_write(&tenant, t, detail) else {
            tracing::info!(tenant = id, stack_status = %status, "stack event predates the update in flight; ignored");
            return Ok(ignored());
        };
        self.apply_event(&tenant, id, t.status, write).await
    }

    /// The tenant the stack event `detail` applies to, with its id as the stack's name gives
    /// it; or, if there is none, how the event was handled.
    async fn event_tenant<'a>(
        &self,
        detail: &'a StackStatusDetail,
    ) -> Result<Result<(&'a str, Tenant), Handled>, Error> {
        let prefix = format!("{}-tenant-", self.settings().prefix);
        let Some(name) = stack_name(&detail.stack_id).filter(|n| n.starts_with(&prefix)) else {
            return Ok(Err(Handled::NotATenantStack));
        };
        let Some(id) = tenant_id(name) else {
            return Ok(Err(Handled::NotATenantStack));
        };
        let Some(tenant) = self.store().get(id).await? else {
            return Ok(Err(Handled::UnknownTenant(id.to_owned())));
        };
        match &tenant.stack_id {
            Some(current) if current != &detail.stack_id => {
                return Ok(Err(Handled::OtherStack(id.to_owned())));
            }
            // The stack id is recorded right after CreateStack returns, and an event can beat
            // it; the stack name is recorded before CreateStack.
            None if tenant.stack_name.as_deref() != Some(name) => {
                return Ok(Err(Handled::OtherStack(id.to_owned())));
            }
            _ => {}
        }
        Ok(Ok((id, tenant)))
    }

    /// Moves tenant `id` from its status to `to` with `write`, conditionally: a tenant that
    /// moved meanwhile is `WrongStatus`, so the event is retried against the new status.
    async fn apply_event(
        &self,
        tenant: &Tenant,
        id: &str,
        to: Status,
        write: EventWrite,
    ) -> Result<Handled, Error> {
        let from = tenant.status;
        let rolled_back = write.target.is_some() && write.reason.is_some();
        let result = if to == Status::Deleted {
            self.store().mark_deleted(tenant, from, write.reason).await
        } else {
            self.store()
                .transition_if(id, from, to, &write.changes, write.target.as_deref())
                .await
                .map(|_| ())
        };
        match result {
            Ok(()) => {
                self.measure_move(tenant, to, rolled_back);
                Ok(Handled::Moved {
                    tenant: id.to_owned(),
                    from,
                    to,
                })
            }
            // It moved under us: the event is retried against the new status.
            Err(store::Error::WrongStatus { .. }) => Err(Error::WrongStatus {
                id: id.to_owned(),
                status: from,
                operation: "a stack status change",
                needs: "unchanged while the event applied",
            }),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_names_and_tenant_ids_are_read_from_stack_ids() {
        let arn = "arn:aws:cloudformation:us-east-1:111122223333:stack/silos-tenant-7f3c2a9e-5b1d-4e8a-9c6f-2d4b8a1e3f70/5e2b1c40-8d3a-11f0-9a7e-0affd3c4b2e1";
        let name = stack_name(arn).unwrap();
        assert_eq!(name, "silos-tenant-7f3c2a9e-5b1d-4e8a-9c6f-2d4b8a1e3f70");
        assert_eq!(
            tenant_id(name),
            Some("7f3c2a9e-5b1d-4e8a-9c6f-2d4b8a1e3f70")
        );
        assert_eq!(stack_name("not an arn"), None);
        assert_eq!(tenant_id("silos-tenant-acme"), None);
    }

    #[test]
    fn times_render_as_rfc3339() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160);
        assert_eq!(rfc3339(t), "2015-08-30T12:36:00Z");
        assert_eq!(rfc3339(std::time::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        // A leap day.
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(951_782_400);
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
