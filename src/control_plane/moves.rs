//! Tier moves: a running tenant goes to another deployment type, in place, through the update
//! machinery fleet upgrades use ([`super::updater`]).
//!
//! 1. **The plan** (`POST /move-plan`, and again inside `POST /update`): what the move adds,
//!    removes and replaces in the tenant's stack ([`crate::blueprint::moves`]). A move that
//!    would remove or replace a data-bearing resource is refused unless the request allows
//!    data loss; so is one to a type the tenant's cell does not take.
//! 2. **The update**: the tenant goes `updating` with `targetDeploymentType` and the target
//!    type's published version as `targetVersion`. The provisioner renders the target type's
//!    blueprint into a change set. The stack's outcome settles it: UPDATE_COMPLETE records the
//!    new type and version; a rollback leaves the tenant `running` on its old type, with the
//!    reason.

use super::tenant::{Status, Tenant, short};
use super::{ControlPlane, Error};
use crate::blueprint::moves::{self as plans, MovePlan, Side};

/// What a `POST /update` that names a deployment type asks for.
#[derive(Clone, Copy, Debug)]
pub struct Move<'a> {
    pub to: &'a str,
    /// Move even if the plan removes or replaces a data-bearing resource.
    pub allow_data_loss: bool,
}

impl ControlPlane {
    /// The plan of moving `tenant` to deployment type `to`, or why it cannot move at all.
    pub async fn plan_move(&self, tenant: &Tenant, to: &str) -> Result<MovePlan, Error> {
        let id = &tenant.tenant_id;
        let refuse = |reason: String| Error::MoveRefused {
            id: id.clone(),
            to: to.to_owned(),
            reason,
        };
        if tenant.status != Status::Running {
            return Err(Error::WrongStatus {
                id: id.clone(),
                status: tenant.status,
                operation: "a move",
                needs: "running",
            });
        }
        if tenant.stack_id.is_none() {
            return Err(Error::NoStack(id.clone()));
        }
        let catalog = self.catalog().await?;
        let target = catalog.deployment_type(to)?;
        let from = tenant.deployment_type.as_str();
        if to == from {
            return Err(refuse(format!("it is deployment type {to} already")));
        }
        let current = catalog.deployment_type(from)?;
        let published = current
            .version
            .as_deref()
            .ok_or_else(|| Error::Unversioned(from.to_owned()))?;
        if target.version.is_none() {
            return Err(Error::Unversioned(to.to_owned()));
        }
        if tenant.version.as_deref() != Some(published) {
            return Err(refuse(format!(
                "it is at version {}, not {from}'s published {}: upgrade it first (silos tenants upgrade --tenants {id})",
                tenant.version.as_deref().map_or("none", short),
                short(published),
            )));
        }
        if current.resources.is_empty() || target.resources.is_empty() {
            return Err(refuse(
                "the published catalog predates tier moves (it has no resource summaries): publish it again (silos deploy, or restart silos local)".to_owned(),
            ));
        }
        let cell = self.cell_of(id, tenant.cell.as_deref()).await?;
        if !cell.takes(to) {
            let takes = cell
                .deployment_types
                .as_deref()
                .unwrap_or_default()
                .join(", ");
            return Err(refuse(format!(
                "its cell {} takes no deployment type {to} (it takes {takes})",
                cell.name
            )));
        }
        // The artifacts bucket is a system parameter of both: which copy does not matter to
        // a comparison.
        let bucket = &self.settings().artifacts_bucket;
        let (_, old) = self.stack_inputs(tenant, from, current, bucket)?;
        let (rendered, new) = self.stack_inputs(tenant, to, target, bucket)?;
        if tenant.stack_name.as_deref() != Some(rendered.stack_name.as_str()) {
            return Err(refuse(format!(
                "{to}'s blueprint names the stack {}, not the tenant's {}: a move updates the stack in place",
                rendered.stack_name,
                tenant.stack_name.as_deref().unwrap_or("(none)"),
            )));
        }
        Ok(plans::plan(
            id,
            (
                from,
                Side {
                    resources: &current.resources,
                    parameters: &old,
                },
            ),
            (
                to,
                Side {
                    resources: &target.resources,
                    parameters: &new,
                },
            ),
            target.version.clone(),
        ))
    }

    /// Checks a requested move: its plan, refused if it loses data that `m` does not allow
    /// to lose. Returns the plan.
    pub(super) async fn check_move(&self, tenant: &Tenant, m: Move<'_>) -> Result<MovePlan, Error> {
        let plan = self.plan_move(tenant, m.to).await?;
        if !m.allow_data_loss && !plan.data_loss().is_empty() {
            return Err(Error::DataLoss {
                id: tenant.tenant_id.clone(),
                from: plan.from.clone(),
                to: plan.to.clone(),
                resources: plan.describe_data_loss(),
            });
        }
        Ok(plan)
    }
}

/// What an update in flight is, as its reasons say it: `move to premium` or `update to
/// 3f2a9c1b7e4d`.
pub fn describe(tenant: &Tenant, target_version: &str) -> String {
    match &tenant.target_deployment_type {
        Some(to) => format!("move to {to} ({})", short(target_version)),
        None => format!("update to {}", short(target_version)),
    }
}
