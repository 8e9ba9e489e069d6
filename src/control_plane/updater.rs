//! Tenant stack updates (fleet upgrades). `POST /update` moves a `running` tenant to
//! `updating` with the published version as its `targetVersion`. The provisioner picks that
//! write up from the table stream and carries the update out with a change set:
//! 1. CreateChangeSet (UPDATE) from the current template, blueprint and system parameters,
//!    and wait until it is ready. A change set with no changes just records the new version.
//! 2. Record the change set on the tenant, then ExecuteChangeSet.
//! 3. The stack's status events settle it: UPDATE_COMPLETE → `running` at the new version,
//!    UPDATE_ROLLBACK_COMPLETE → `running` at the old version with the reason kept.
//!
//! Every step is idempotent, so a redelivered record or the reconciler can resume it. An
//! update that cannot start (a failed change set, say) returns the tenant to `running` at its
//! old version, with the reason.

use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, ChangeSetType, ExecutionStatus};

use super::cells::Reach;
use super::moves::{Move, describe};
use super::provisioner::Plan;
use super::store::{self, Changes};
use super::tenant::{Status, Tenant};
use super::{ControlPlane, Error, cfn_error};
use crate::aws::{Backoff, PollError, poll_until};

/// What `POST /update` did.
#[derive(Debug)]
pub enum UpdateRequest {
    /// The tenant is already at the published version: nothing to do.
    UpToDate(Tenant),
    /// The tenant is `updating` to the published version.
    Started(Tenant),
}

/// Refuses a request planned for another version than the one `published`.
fn check_expected(expected: Option<&str>, published: &str) -> Result<(), Error> {
    match expected {
        Some(expected) if expected != published => Err(Error::VersionMismatch {
            expected: expected.to_owned(),
            published: published.to_owned(),
        }),
        _ => Ok(()),
    }
}

pub use super::tenant::short;

/// `{prefix}-update-{version}-{tenant id}-{attempt}`: one change set per attempt, so a
/// redelivery finds the one it created. The tenant id keeps names unique across stacks: the
/// emulator looks change sets up by name alone, whatever the stack, so two tenants updating
/// to one version at once would otherwise execute each other's.
fn change_set_name(prefix: &str, target: &str, tenant_id: &str, attempt: u32) -> String {
    format!("{prefix}-update-{}-{tenant_id}-{attempt}", short(target))
}

use crate::aws::no_changes;

/// Whether a change set in this execution status has been executed (or is being): its
/// stack's status is then the update's outcome. A change set that is gone has not.
pub(super) fn is_executed(status: Option<&ExecutionStatus>) -> bool {
    status.is_some_and(|s| !matches!(s, ExecutionStatus::Available | ExecutionStatus::Unavailable))
}

enum Created {
    Ready,
    NoChanges,
}

/// Where an update stands once its change set was to be created.
enum Staged {
    /// The change set is ready and recorded on the tenant: execute it.
    Recorded(Tenant),
    /// Nothing to execute: the tenant as it ends up.
    Settled(Tenant),
}

impl ControlPlane {
    /// `POST /update`: asks for `tenant`'s stack to go to the published version of its
    /// deployment type, or with `to`, of another (a tier move, [`super::moves`]).
    /// `expected`, if given, must be that version, so an upgrade never rolls out a version
    /// published after it was planned.
    pub async fn request_update(
        &self,
        tenant: Tenant,
        expected: Option<&str>,
        to: Option<Move<'_>>,
    ) -> Result<UpdateRequest, Error> {
        if let Some(m) = to.filter(|m| m.to != tenant.deployment_type) {
            return self.request_move(tenant, expected, m).await;
        }
        let id = tenant.tenant_id.clone();
        if tenant.status != Status::Running {
            return Err(Error::WrongStatus {
                id,
                status: tenant.status,
                operation: "an update",
                needs: "running",
            });
        }
        if tenant.stack_id.is_none() {
            return Err(Error::NoStack(id));
        }
        let catalog = self.catalog().await?;
        let entry = catalog.deployment_type(&tenant.deployment_type)?;
        let published = entry
            .version
            .clone()
            .ok_or_else(|| Error::Unversioned(tenant.deployment_type.clone()))?;
        check_expected(expected, &published)?;
        if tenant.version.as_deref() == Some(published.as_str()) {
            return Ok(UpdateRequest::UpToDate(tenant));
        }
        self.start_update(&id, published, None).await
    }

    /// A tier move: checked against its plan, then `updating` to the target type.
    async fn request_move(
        &self,
        tenant: Tenant,
        expected: Option<&str>,
        m: Move<'_>,
    ) -> Result<UpdateRequest, Error> {
        let plan = self.check_move(&tenant, m).await?;
        let published = plan
            .version
            .clone()
            .ok_or_else(|| Error::Unversioned(m.to.to_owned()))?;
        check_expected(expected, &published)?;
        self.start_update(&tenant.tenant_id, published, Some(m.to))
            .await
    }

    /// Moves running tenant `id` to `updating` to version `target` (of deployment type `to`,
    /// for a tier move), as a new attempt.
    async fn start_update(
        &self,
        id: &str,
        target: String,
        to: Option<&str>,
    ) -> Result<UpdateRequest, Error> {
        let changes = Changes {
            target_version: Some(Some(target)),
            // A plain update clears any: it goes to the tenant's own type.
            target_deployment_type: Some(to.map(str::to_owned)),
            change_set: Some(None),
            status_reason: Some(None),
            new_attempt: true,
            ..Changes::default()
        };
        let tenant = self
            .store()
            .transition(id, Status::Running, Status::Updating, &changes)
            .await?;
        Ok(UpdateRequest::Started(tenant))
    }

    /// Carries out the update `tenant` is `updating` to; see the module's steps. Returns the
    /// tenant as it ends up. A transient error is returned, so the caller retries.
    pub async fn update(&self, tenant: Tenant) -> Result<Tenant, Error> {
        let (Status::Updating, Some(_)) = (tenant.status, &tenant.target_version) else {
            return Ok(tenant);
        };
        // A redelivered stream image can predate the change set's record (and CloudFormation
        // removes a stack's change sets once one is executed, so creating it again would find
        // no conflict): act on the record as it is now.
        let tenant = match self.tenant(&tenant.tenant_id).await {
            Ok(now) => now,
            Err(Error::NotFound(_)) => return Ok(tenant),
            Err(e) => return Err(e),
        };
        let (Status::Updating, Some(target)) = (tenant.status, tenant.target_version.clone())
        else {
            return Ok(tenant);
        };
        // By name: the emulator finds change sets only by stack name. The stack-events
        // handler still matches outcomes by stack id.
        let (Some(stack), Some(_)) = (tenant.stack_name.clone(), tenant.stack_id.as_ref()) else {
            return self
                .abandon(&tenant, &target, "the tenant has no stack")
                .await;
        };
        let name = change_set_name(
            &self.settings().prefix,
            &target,
            &tenant.tenant_id,
            tenant.attempt,
        );
        let reach = match self.reach(&tenant).await {
            Ok(reach) => reach,
            Err(e @ Error::Unreachable(_)) => {
                return self.abandon(&tenant, &target, &e.to_string()).await;
            }
            Err(e) => return Err(e),
        };
        let reach = &reach;
        let tenant = match &tenant.change_set {
            Some(recorded) => {
                // A redelivery or the reconciler: execute it only if nobody has.
                match self.execution_status(&stack, recorded, reach).await? {
                    Some(ExecutionStatus::Available) => tenant,
                    Some(_) => return Ok(tenant),
                    // CloudFormation removes a stack's change sets once one is executed:
                    // the stack's status is then the update's outcome.
                    None if self.executed_and_removed(&tenant, &stack, reach).await? => {
                        return Ok(tenant);
                    }
                    None => {
                        let reason = format!("its change set {recorded} is gone");
                        return self.abandon(&tenant, &target, &reason).await;
                    }
                }
            }
            None => match self.stage(&tenant, &target, &stack, &name, reach).await? {
                Staged::Recorded(t) => t,
                Staged::Settled(t) => return Ok(t),
            },
        };
        let change_set = tenant.change_set.clone().unwrap_or(name);
        self.execute(tenant, &target, &stack, &change_set, reach)
            .await
    }

    /// Creates the change set `name` of stack `stack` for the update to `target`, and records
    /// it on `tenant`. An update that cannot start is abandoned; a transient error, or a
    /// catalog that cannot be read, is returned.
    async fn stage(
        &self,
        tenant: &Tenant,
        target: &str,
        stack: &str,
        name: &str,
        reach: &Reach,
    ) -> Result<Staged, Error> {
        match self.prepare(tenant, target, stack, name, reach).await {
            Ok(Created::Ready) => {}
            Ok(Created::NoChanges) => {
                return self
                    .settle_unchanged(tenant, target)
                    .await
                    .map(Staged::Settled);
            }
            Err(
                e @ Error::CloudFormation {
                    transient: true, ..
                },
            ) => return Err(e),
            Err(e @ Error::Catalog(_)) => return Err(e),
            Err(e) => {
                return self
                    .abandon(tenant, target, &e.to_string())
                    .await
                    .map(Staged::Settled);
            }
        }
        match self
            .store()
            .record_change_set(&tenant.tenant_id, target, name)
            .await
        {
            Ok(t) => Ok(Staged::Recorded(t)),
            Err(store::Error::WrongStatus { .. }) => {
                self.tenant(&tenant.tenant_id).await.map(Staged::Settled)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Executes `tenant`'s change set `change_set` of stack `stack`. A refusal of a change
    /// set that is executing already (an earlier attempt's answer lost) is success; any other
    /// lasting error abandons the update.
    async fn execute(
        &self,
        tenant: Tenant,
        target: &str,
        stack: &str,
        change_set: &str,
        reach: &Reach,
    ) -> Result<Tenant, Error> {
        let executed = reach
            .cfn()
            .await
            .execute_change_set()
            .stack_name(stack)
            .change_set_name(change_set)
            .client_request_token(change_set)
            .send()
            .await;
        match reach.paced(executed) {
            Ok(_) => Ok(tenant),
            Err(e) => {
                let e = cfn_error("ExecuteChangeSet")(e);
                if e.is_transient() {
                    return Err(e);
                }
                // A retry whose first attempt was carried out (its answer lost) is refused:
                // the change set is no longer available. It is executing, which is success.
                let status = self.execution_status(stack, change_set, reach).await?;
                if is_executed(status.as_ref())
                    || (status.is_none()
                        && self.executed_and_removed(&tenant, stack, reach).await?)
                {
                    return Ok(tenant);
                }
                self.abandon(&tenant, target, &e.to_string()).await
            }
        }
    }

    /// Whether `tenant`'s update was carried out though its change set is gone: CloudFormation
    /// removes a stack's change sets once one is executed, and then the stack shows an update
    /// (in progress, complete or rolled back) that began after the tenant went `updating`.
    pub(super) async fn executed_and_removed(
        &self,
        tenant: &Tenant,
        stack: &str,
        reach: &Reach,
    ) -> Result<bool, Error> {
        let described = reach
            .cfn()
            .await
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await;
        let out = reach
            .paced(described)
            .map_err(cfn_error("DescribeStacks"))?;
        let Some(s) = out.stacks().first() else {
            return Ok(false);
        };
        let updated = s
            .stack_status()
            .is_some_and(|status| status.as_str().starts_with("UPDATE_"));
        let since = s
            .last_updated_time()
            .and_then(|t| t.to_millis().ok())
            .is_some_and(|ms| ms >= tenant.status_changed_at.millis as i64);
        Ok(updated && since)
    }

    /// The execution status of change set `name` of stack `stack`, or None if it is gone.
    pub(super) async fn execution_status(
        &self,
        stack: &str,
        name: &str,
        reach: &Reach,
    ) -> Result<Option<ExecutionStatus>, Error> {
        let described = reach
            .cfn()
            .await
            .describe_change_set()
            .stack_name(stack)
            .change_set_name(name)
            .send()
            .await;
        match reach.paced(described) {
            Ok(out) => Ok(out.execution_status().cloned()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_change_set_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(cfn_error("DescribeChangeSet")(e)),
        }
    }

    /// Creates the update's change set and waits until CloudFormation has computed it.
    async fn prepare(
        &self,
        tenant: &Tenant,
        target: &str,
        stack: &str,
        name: &str,
        reach: &Reach,
    ) -> Result<Created, Error> {
        let plan = self.plan(tenant, reach).await?;
        if plan.version.as_deref() != Some(target) {
            return Err(Error::VersionMismatch {
                expected: target.to_owned(),
                published: plan.version.unwrap_or_else(|| "none".to_owned()),
            });
        }
        if let Some(created) = self
            .create_change_set(tenant, plan, target, stack, name, reach)
            .await?
        {
            return Ok(created);
        }
        self.await_change_set(stack, name, reach).await
    }

    /// Calls CreateChangeSet for `plan`. Returns `NoChanges` if CloudFormation refuses it for
    /// having no changes, and None if a change set is being computed: this one, or (on a
    /// redelivery after CreateChangeSet went through) the one an earlier attempt created.
    async fn create_change_set(
        &self,
        tenant: &Tenant,
        plan: Plan,
        target: &str,
        stack: &str,
        name: &str,
        reach: &Reach,
    ) -> Result<Option<Created>, Error> {
        let created = reach
            .cfn()
            .await
            .create_change_set()
            .stack_name(stack)
            .change_set_name(name)
            .change_set_type(ChangeSetType::Update)
            .description(format!("silos: {}", describe(tenant, target)))
            .template_url(plan.template_url)
            .set_parameters(Some(plan.parameters))
            .set_tags(Some(plan.tags))
            .set_role_arn(reach.provisioning_role_arn.clone())
            .capabilities(Capability::CapabilityIam)
            .send()
            .await;
        if let Err(e) = reach.paced(created) {
            let message = e
                .as_service_error()
                .and_then(|s| aws_sdk_cloudformation::error::ProvideErrorMetadata::message(s))
                .unwrap_or_default()
                .to_owned();
            let exists = e
                .as_service_error()
                .is_some_and(|s| s.is_already_exists_exception());
            if no_changes(&message) {
                return Ok(Some(Created::NoChanges));
            }
            // A redelivery after CreateChangeSet went through: wait for that one.
            if !exists {
                return Err(cfn_error("CreateChangeSet")(e));
            }
        }
        Ok(None)
    }

    /// Waits until change set `name` of stack `stack` is computed, for at most the stack
    /// wait. A timeout is a transient error.
    async fn await_change_set(
        &self,
        stack: &str,
        name: &str,
        reach: &Reach,
    ) -> Result<Created, Error> {
        let deadline = Instant::now() + self.settings().stack_wait;
        let policy = Backoff::doubling(Duration::from_millis(200), Duration::from_secs(2));
        poll_until(&policy, deadline, || {
            self.change_set_state(stack, name, reach)
        })
        .await
        .map_err(|e| match e {
            PollError::Probe(e) => e,
            PollError::Timeout { .. } => Error::CloudFormation {
                operation: "DescribeChangeSet",
                message: format!(
                    "change set {name} was not ready within {} s",
                    self.settings().stack_wait.as_secs()
                ),
                transient: true,
            },
        })
    }

    /// One look at change set `name` of stack `stack`: what it came to, or None while it is
    /// still being computed. An empty one is deleted (best effort) and is `NoChanges`.
    async fn change_set_state(
        &self,
        stack: &str,
        name: &str,
        reach: &Reach,
    ) -> Result<Option<Created>, Error> {
        let described = reach
            .cfn()
            .await
            .describe_change_set()
            .stack_name(stack)
            .change_set_name(name)
            .send()
            .await;
        let described = reach
            .paced(described)
            .map_err(cfn_error("DescribeChangeSet"))?;
        let reason = described.status_reason().unwrap_or_default();
        match described.status() {
            Some(ChangeSetStatus::CreateComplete) => Ok(Some(Created::Ready)),
            Some(ChangeSetStatus::Failed) if no_changes(reason) => {
                // An empty change set is no use to anyone: clean it up, best effort.
                let _ = reach
                    .cfn()
                    .await
                    .delete_change_set()
                    .stack_name(stack)
                    .change_set_name(name)
                    .send()
                    .await;
                Ok(Some(Created::NoChanges))
            }
            Some(ChangeSetStatus::Failed) => Err(Error::CloudFormation {
                operation: "CreateChangeSet",
                message: format!("change set {name} failed: {reason}"),
                transient: false,
            }),
            _ => Ok(None),
        }
    }

    /// Nothing would change: the stack already matches the target, so record it.
    async fn settle_unchanged(&self, tenant: &Tenant, target: &str) -> Result<Tenant, Error> {
        let changes = Changes {
            version: Some(Some(target.to_owned())),
            target_version: Some(None),
            change_set: Some(None),
            status_reason: Some(None),
            deployment_type: tenant.target_deployment_type.clone(),
            target_deployment_type: Some(None),
            ..Changes::default()
        };
        self.finish(tenant, target, Status::Running, &changes).await
    }

    /// The update could not start: back to `running` at the old version, with the reason.
    async fn abandon(&self, tenant: &Tenant, target: &str, reason: &str) -> Result<Tenant, Error> {
        tracing::warn!(tenant = %tenant.tenant_id, reason, "update abandoned");
        let changes = Changes {
            target_version: Some(None),
            target_deployment_type: Some(None),
            change_set: Some(None),
            status_reason: Some(Some(format!(
                "{} failed: {reason}",
                describe(tenant, target)
            ))),
            ..Changes::default()
        };
        self.finish(tenant, target, Status::Running, &changes).await
    }

    async fn finish(
        &self,
        tenant: &Tenant,
        target: &str,
        to: Status,
        changes: &Changes,
    ) -> Result<Tenant, Error> {
        match self
            .store()
            .transition_if(
                &tenant.tenant_id,
                Status::Updating,
                to,
                changes,
                Some(target),
            )
            .await
        {
            Ok(t) => Ok(t),
            // Settled by someone else (an event, a concurrent redelivery).
            Err(store::Error::WrongStatus { .. }) => self.tenant(&tenant.tenant_id).await,
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_set_names_are_valid_and_differ_per_attempt() {
        let v = "3f2a9c1b7e4d0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293";
        let tenant = "0f8c2d3e-5b1d-4e8a-9c6f-2d4b8a1e3f70";
        let name = change_set_name("silos", v, tenant, 2);
        assert_eq!(
            name,
            "silos-update-3f2a9c1b7e4d-0f8c2d3e-5b1d-4e8a-9c6f-2d4b8a1e3f70-2"
        );
        assert_ne!(name, change_set_name("silos", v, tenant, 3));
        let other = "1a8c2d3e-5b1d-4e8a-9c6f-2d4b8a1e3f70";
        assert_ne!(name, change_set_name("silos", v, other, 2));
        // CloudFormation: [a-zA-Z][-a-zA-Z0-9]*, at most 128 characters.
        assert!(name.len() <= 128);
        assert!(name.starts_with(|c: char| c.is_ascii_alphabetic()));
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }

    #[test]
    fn both_ways_of_saying_nothing_changed_are_recognised() {
        // AWS: the change set fails with this reason. The emulator: CreateChangeSet fails.
        assert!(no_changes(
            "The submitted information didn't contain changes. Submit different information to create a change set."
        ));
        assert!(no_changes("No updates are to be performed."));
        assert!(!no_changes("Parameters: [MemorySize] must have values"));
    }
}
