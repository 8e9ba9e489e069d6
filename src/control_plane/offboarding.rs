//! Offboarding and stack inspection: `POST /delete` and `POST /tenant-info`.

use super::api::{DriftInformation, StackResource};

use super::store::Changes;
use super::tenant::{Status, Tenant};
use super::{ControlPlane, Error, cfn_error};

impl ControlPlane {
    /// Starts offboarding: a tenant with no stack goes straight to `deleted` (freeing its
    /// name); one with a stack moves to `deleting`, then DeleteStack runs and the stack's
    /// DELETE_COMPLETE event finishes the job.
    pub async fn offboard(&self, tenant: Tenant) -> Result<Tenant, Error> {
        let id = tenant.tenant_id.clone();
        let from = tenant.status;
        if tenant.stack_id.is_none() {
            if !from.can_move_to(Status::Deleted) {
                return Err(Error::WrongStatus {
                    id,
                    status: from,
                    operation: "delete",
                    needs: "initiated or failed when it has no stack",
                });
            }
            self.store().mark_deleted(&tenant, from, None).await?;
            return self.tenant(&id).await;
        }
        // CloudFormation refuses DeleteStack during an update, and a refusal would leave the
        // tenant `failed`: wait for the update to settle instead.
        if from == Status::Updating || !from.can_move_to(Status::Deleting) {
            return Err(Error::WrongStatus {
                id,
                status: from,
                operation: "delete",
                needs: "provisioning, running or failed (an update must settle first)",
            });
        }
        // The cell first: a tenant whose cell cannot be reached is refused before it moves.
        self.reach(&tenant).await?;
        // A new attempt: each offboarding sends DeleteStack a token of its own. CloudFormation
        // takes a repeated token for a retry of a request it has carried out, so an
        // offboarding after a DELETE_FAILED must not reuse the last one's.
        let changes = Changes {
            new_attempt: true,
            ..Changes::default()
        };
        let deleting = self
            .store()
            .transition(&id, from, Status::Deleting, &changes)
            .await?;
        self.delete_stack(deleting).await
    }

    /// Calls DeleteStack for a tenant in `deleting`. It may be called again and again for one
    /// offboarding (a repeat of the request, the reconciler): every call of one offboarding
    /// sends the same ClientRequestToken, `silos-delete-<id>-<attempt>`. CloudFormation not
    /// reached, or throttling after every retry, leaves the tenant `deleting` and returns the
    /// error, for the caller to retry; a refusal moves it to `failed` with the reason.
    pub(crate) async fn delete_stack(&self, deleting: Tenant) -> Result<Tenant, Error> {
        let (Status::Deleting, Some(stack_id)) = (deleting.status, deleting.stack_id.clone())
        else {
            return Ok(deleting);
        };
        let id = deleting.tenant_id.clone();
        let reach = self.reach(&deleting).await?;
        let deleted = reach
            .cfn()
            .await
            .delete_stack()
            .stack_name(&stack_id)
            .client_request_token(format!("silos-delete-{id}-{}", deleting.attempt))
            .send()
            .await;
        match reach.paced(deleted) {
            Ok(_) => Ok(deleting),
            Err(e) => {
                let e = cfn_error("DeleteStack")(e);
                if e.is_transient() {
                    return Err(e);
                }
                let changes = Changes {
                    status_reason: Some(Some(e.to_string())),
                    ..Changes::default()
                };
                self.store()
                    .transition(&id, Status::Deleting, Status::Failed, &changes)
                    .await?;
                Err(e)
            }
        }
    }

    /// The tenant stack's resources, in the contract's shape. Drift is `NOT_CHECKED` unless
    /// CloudFormation says otherwise. A deleted tenant has none to report (409): the emulator
    /// answers ListStackResources on a deleted stack with every resource CREATE_COMPLETE.
    pub async fn stack_resources(&self, tenant: &Tenant) -> Result<Vec<StackResource>, Error> {
        if tenant.status == Status::Deleted {
            return Err(Error::Deleted(tenant.tenant_id.clone()));
        }
        let stack = tenant
            .stack_id
            .clone()
            .ok_or_else(|| Error::NoStack(tenant.tenant_id.clone()))?;
        let reach = self.reach(tenant).await?;
        let mut resources = Vec::new();
        let mut summaries = reach
            .cfn()
            .await
            .list_stack_resources()
            .stack_name(&stack)
            .into_paginator()
            .items()
            .send();
        while let Some(r) = summaries.next().await {
            let r = r.map_err(cfn_error("ListStackResources"))?;
            let drift = r
                .drift_information()
                .and_then(|d| d.stack_resource_drift_status())
                .map_or("NOT_CHECKED", |s| s.as_str());
            resources.push(StackResource {
                logical_resource_id: r.logical_resource_id().unwrap_or_default().to_owned(),
                physical_resource_id: r.physical_resource_id().map(str::to_owned),
                resource_type: r.resource_type().unwrap_or_default().to_owned(),
                last_updated_timestamp: r.last_updated_timestamp().map(|t| t.to_string()),
                resource_status: r.resource_status().map(|s| s.as_str().to_owned()),
                drift_information: DriftInformation {
                    stack_resource_drift_status: drift.to_owned(),
                },
            });
        }
        Ok(resources)
    }
}
