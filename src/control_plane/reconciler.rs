//! The reconciler: a pass over the tenants that repairs any stuck in a transitional status,
//! from their stacks. It runs on startup and periodically in `silos local`. It catches what
//! a lost event or a crash leaves behind:
//! - `initiated`: provisioning starts, as the stream would have started it (a record given up
//!   after its retries, or cut off by a throttled batch ahead of it);
//! - `provisioning` with a stack: the stack's status is applied, as its event would have been;
//! - `provisioning` with no stack id: provisioning resumes (CreateStack again, where
//!   AlreadyExists counts as success);
//! - `updating` to a target version whose change set was not executed: the update resumes;
//! - `deleting` whose stack settled in a status other than a delete's (DeleteStack was never
//!   called, or never reached CloudFormation): DeleteStack is called again, with the
//!   offboarding's own ClientRequestToken;
//! - `deleting` or `updating` otherwise: the stack's status is applied. A stack that is gone
//!   means the tenant is `deleted`.
//!
//! Tenants that moved recently are left alone: their work may still be in flight.

use std::time::Duration;

use super::stack_events::{Handled, stack_status_event};
use super::store;
use super::tenant::{Status, Tenant, Timestamp};
use super::{ControlPlane, Error, cfn_error};

/// The statuses the reconciler looks at: the ones a lost event or a crash can leave a tenant
/// stuck in.
const IN_FLIGHT: [Status; 4] = [
    Status::Initiated,
    Status::Provisioning,
    Status::Deleting,
    Status::Updating,
];

/// What the reconciler did to one tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Repair {
    /// The stack's current status was applied.
    Applied { tenant: String, handled: Handled },
    /// Provisioning, an update or an offboarding was resumed; the tenant's status after.
    Resumed { tenant: String, status: Status },
}

impl ControlPlane {
    /// One pass over every tenant in flight (initiated, provisioning, deleting, updating) whose status
    /// has not changed for `settle`. They are listed by status through the status index, page
    /// by page, never by scanning the table; a page resumes after its last tenant, so the ones
    /// a repair moves out of the status skip none.
    pub async fn reconcile(&self, settle: Duration) -> Result<Vec<Repair>, Error> {
        let now = Timestamp::now();
        let mut repairs = Vec::new();
        for status in IN_FLIGHT {
            let mut token: Option<String> = None;
            loop {
                let page = self
                    .store()
                    .by_status(status, store::MAX_PAGE, token.as_deref())
                    .await?;
                // As the index holds them, a moment behind the table at most: a repair's
                // conditional writes refuse a tenant that has moved on meanwhile.
                for tenant in page.tenants {
                    let age = Duration::from_millis(
                        now.millis.saturating_sub(tenant.status_changed_at.millis),
                    );
                    if age < settle {
                        continue;
                    }
                    match self.repair(tenant).await {
                        Ok(Some(r)) => repairs.push(r),
                        Ok(None) => {}
                        // One tenant's failure does not stop the pass; the next pass retries it.
                        Err(e) => tracing::warn!(error = %e, "reconciling a tenant failed"),
                    }
                }
                match page.next_token {
                    Some(next) => token = Some(next),
                    None => break,
                }
            }
        }
        self.count_fleet().await;
        Ok(repairs)
    }

    /// Writes the fleet's tenants by status (all but `deleted`, which only grows), for the
    /// dashboard. A count that cannot be read is left out until the next pass.
    pub async fn count_fleet(&self) {
        use super::metrics::TENANTS;
        for status in Status::ALL.into_iter().filter(|s| *s != Status::Deleted) {
            match self.store().count_by_status(status).await {
                Ok(n) => self.metrics().put(TENANTS, Some(status.as_str()), n as f64),
                Err(e) => tracing::warn!(error = %e, %status, "counting tenants failed"),
            }
        }
    }

    /// Whether the change set of `tenant`'s update has been executed (so its stack's status
    /// is the update's outcome). A change set that is gone counts as executed only if the
    /// stack shows an update since the request (CloudFormation removes a stack's change sets
    /// once one is executed).
    async fn executed(&self, tenant: &Tenant) -> Result<bool, Error> {
        let (Some(stack), Some(change_set)) = (&tenant.stack_name, &tenant.change_set) else {
            return Ok(false);
        };
        let reach = self.reach(tenant).await?;
        let status = self.execution_status(stack, change_set, &reach).await?;
        if status.is_none() {
            return self.executed_and_removed(tenant, stack, &reach).await;
        }
        Ok(super::updater::is_executed(status.as_ref()))
    }

    /// Repairs one tenant in flight: resumes its work, or applies its stack's status. None
    /// if there was nothing to do.
    async fn repair(&self, tenant: Tenant) -> Result<Option<Repair>, Error> {
        let id = tenant.tenant_id.clone();
        if tenant.status == Status::Initiated {
            let after = self.provision(tenant).await?;
            return Ok(resumed(id, &after));
        }
        let Some(stack) = tenant
            .stack_id
            .clone()
            .or_else(|| tenant.stack_name.clone())
        else {
            return Ok(None);
        };
        if tenant.status == Status::Provisioning && tenant.stack_id.is_none() {
            let after = self.provision(tenant).await?;
            return Ok(resumed(id, &after));
        }
        if tenant.status == Status::Updating
            && tenant.target_version.is_some()
            && !self.executed(&tenant).await?
        {
            // A requested update whose change set was never created or executed.
            let after = self.update(tenant).await?;
            return Ok(resumed(id, &after));
        }
        let Some(state) = self.stack_state(&tenant, &stack).await? else {
            return Ok(None);
        };
        self.apply_stack_state(tenant, state).await
    }

    /// The state of `tenant`'s stack `stack` (its id or name), from DescribeStacks. None if
    /// there is nothing to apply: no stack is described, or the stack is gone and the tenant
    /// is not being deleted. A gone stack of a tenant being deleted is `DELETE_COMPLETE`.
    async fn stack_state(&self, tenant: &Tenant, stack: &str) -> Result<Option<StackState>, Error> {
        let reach = self.reach(tenant).await?;
        let described = reach
            .cfn()
            .await
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await;
        let described = reach.paced(described);
        let state = match described {
            Ok(out) => match out.stacks().first() {
                Some(s) => StackState {
                    stack_id: s.stack_id().unwrap_or(stack).to_owned(),
                    status: s
                        .stack_status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    reason: s.stack_status_reason().unwrap_or_default().to_owned(),
                },
                None => return Ok(None),
            },
            // Gone: for a tenant being deleted, that is the end of its stack.
            Err(e) if crate::aws::is_missing_stack(&e) => {
                if tenant.status != Status::Deleting {
                    return Ok(None);
                }
                StackState {
                    stack_id: stack.to_owned(),
                    status: "DELETE_COMPLETE".to_owned(),
                    reason: String::new(),
                }
            }
            Err(e) => return Err(cfn_error("DescribeStacks")(e)),
        };
        Ok(Some(state))
    }

    /// Applies the stack `state` to `tenant`, as its event would have: an offboarding whose
    /// stack was never told to delete calls DeleteStack again; a stack still in progress
    /// changes nothing, except for a tenant provisioning.
    async fn apply_stack_state(
        &self,
        tenant: Tenant,
        state: StackState,
    ) -> Result<Option<Repair>, Error> {
        let id = tenant.tenant_id.clone();
        let StackState {
            stack_id,
            status,
            reason,
        } = state;
        let settled = !status.ends_with("_IN_PROGRESS");
        if tenant.status == Status::Deleting && settled && !status.starts_with("DELETE_") {
            // Offboarding moved it, and its stack was never told.
            let after = self.delete_stack(tenant).await?;
            return Ok(resumed(id, &after));
        }
        if !settled && tenant.status != Status::Provisioning {
            return Ok(None);
        }
        let event = stack_status_event(&stack_id, &status, &reason, &self.settings().region, "");
        let handled = self.handle_stack_event(&event).await?;
        Ok(match handled {
            Handled::Moved { .. } => Some(Repair::Applied {
                tenant: id,
                handled,
            }),
            _ => None,
        })
    }
}

/// A tenant stack as DescribeStacks found it.
struct StackState {
    stack_id: String,
    status: String,
    reason: String,
}

/// The repair of tenant `id` whose work was resumed, ending up as `after`.
fn resumed(id: String, after: &Tenant) -> Option<Repair> {
    Some(Repair::Resumed {
        tenant: id,
        status: after.status,
    })
}
