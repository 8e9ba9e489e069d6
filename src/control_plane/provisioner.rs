//! Provisioning: render a tenant's blueprint and create its stack with a TemplateURL. The same
//! stream handler carries out requested updates ([`super::updater`]). Idempotent under
//! redelivery: the status move `initiated` → `provisioning` is conditional, and a tenant
//! in `provisioning` with no stack id calls CreateStack again, where AlreadyExists counts as
//! success.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus, Tag};

use super::cells::Reach;
use super::store::{self, Changes};
use super::tenant::{Status, Tenant};
use super::{ControlPlane, Error, cfn_error};
use crate::aws::{Backoff, PollError, poll_until};
use crate::blueprint;
use crate::functions;

/// What provisioning will create: the rendered stack name, parameters, tags and template URL.
pub(super) struct Plan {
    pub(super) stack_name: String,
    pub(super) parameters: Vec<Parameter>,
    pub(super) tags: Vec<Tag>,
    pub(super) template_url: String,
    /// The published tenant version of the deployment type.
    pub(super) version: Option<String>,
}

/// What a stream record asks of the provisioner.
#[derive(Clone, Copy)]
enum Work {
    Provision,
    Update,
    /// Record a running tenant's front door, and invite its administrator.
    FrontDoor,
}

impl ControlPlane {
    /// Provisions `tenant`: from `initiated` (a new tenant), `failed` (a retry), or
    /// `provisioning` without a stack (a redelivery after a crash). Returns the tenant as it
    /// ends up: `provisioning` with a stack id, or `failed` with the reason. A transient error
    /// (the catalog cannot be read) is returned, so the caller retries.
    pub async fn provision(&self, tenant: Tenant) -> Result<Tenant, Error> {
        let id = tenant.tenant_id.clone();
        let from = tenant.status;
        match from {
            Status::Provisioning if tenant.stack_id.is_some() => return Ok(tenant),
            Status::Provisioning | Status::Initiated | Status::Failed => {}
            status => {
                return Err(Error::WrongStatus {
                    id,
                    status,
                    operation: "provisioning",
                    needs: "initiated or failed",
                });
            }
        }
        let planned = match self.reach(&tenant).await {
            Ok(reach) => self.plan(&tenant, &reach).await.map(|plan| (plan, reach)),
            Err(e) => Err(e),
        };
        let (plan, reach) = match planned {
            Ok(planned) => planned,
            Err(
                e @ (Error::UnknownDeploymentType { .. }
                | Error::Blueprint(..)
                | Error::Unreachable(_)),
            ) if from != Status::Failed => {
                return self.fail(&id, from, &e).await;
            }
            Err(e) => return Err(e),
        };
        let tenant = if from == Status::Provisioning {
            tenant
        } else {
            let changes = Changes {
                stack_name: Some(plan.stack_name.clone()),
                status_reason: Some(None),
                version: Some(plan.version.clone()),
                new_attempt: true,
                ..Changes::default()
            };
            match self
                .store()
                .transition(&id, from, Status::Provisioning, &changes)
                .await
            {
                Ok(t) => t,
                // Someone else moved it first (a concurrent redelivery): go on only if it is
                // still ours to finish.
                Err(store::Error::WrongStatus { .. }) => {
                    let now = self.tenant(&id).await?;
                    if now.status == Status::Provisioning && now.stack_id.is_none() {
                        now
                    } else {
                        return Ok(now);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        };
        match self.create_stack(&tenant, plan, &reach).await {
            Ok(stack_id) => match self
                .store()
                .record_stack(&id, Status::Provisioning, &stack_id)
                .await
            {
                Ok(t) => Ok(t),
                // The stack's own status event moved the tenant on before its id was
                // recorded (a fast stack, a slow answer): the tenant as it now stands.
                Err(store::Error::WrongStatus { .. }) => self.tenant(&id).await,
                Err(e) => Err(e.into()),
            },
            // CloudFormation was not reached, or throttled after every retry: the tenant stays
            // `provisioning` with no stack, which a redelivery or the reconciler resumes.
            Err(
                e @ Error::CloudFormation {
                    transient: true, ..
                },
            ) => Err(e),
            Err(e) => self.fail(&id, Status::Provisioning, &e).await,
        }
    }

    /// Moves a tenant to `failed` with `error` as the reason.
    async fn fail(&self, id: &str, from: Status, error: &Error) -> Result<Tenant, Error> {
        let changes = Changes {
            status_reason: Some(Some(error.to_string())),
            ..Changes::default()
        };
        Ok(self
            .store()
            .transition(id, from, Status::Failed, &changes)
            .await?)
    }

    /// Reads the catalog and renders the tenant's blueprint (of the type a tier move takes it
    /// to, during one), for the tenant's cell: its template and code come from the cell's
    /// bucket.
    pub(super) async fn plan(&self, tenant: &Tenant, reach: &Reach) -> Result<Plan, Error> {
        let catalog = self.catalog().await?;
        let name = tenant.stack_type();
        let entry = catalog.deployment_type(name)?;
        let (rendered, values) = self.stack_inputs(tenant, name, entry, &reach.bucket)?;
        let parameters = values
            .iter()
            .map(|(k, v)| {
                Parameter::builder()
                    .parameter_key(k)
                    .parameter_value(v)
                    .build()
            })
            .collect();
        let mut tags = rendered.tags;
        tags.insert(blueprint::CELL_TAG.to_owned(), reach.cell.name.clone());
        let tags = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        Ok(Plan {
            version: entry.version.clone(),
            stack_name: rendered.stack_name,
            parameters,
            tags,
            // Only `https://BUCKET.s3.REGION.amazonaws.com/KEY` is accepted by both AWS and
            // the emulator.
            template_url: crate::aws::s3_url(&reach.bucket, &reach.region, &entry.template_key),
        })
    }

    /// What deployment type `name`'s stack gets for `tenant`: its blueprint rendered, and
    /// every parameter's value (the blueprint's, then the system parameters', the artifacts
    /// bucket being `bucket`, the cell's own copy).
    pub(super) fn stack_inputs(
        &self,
        tenant: &Tenant,
        name: &str,
        entry: &blueprint::catalog::DeploymentType,
        bucket: &str,
    ) -> Result<(blueprint::Rendered, BTreeMap<String, String>), Error> {
        let rendered = entry
            .blueprint
            .render(
                &self.settings().prefix,
                &blueprint::Tenant {
                    id: tenant.tenant_id.clone(),
                    name: tenant.tenant_name.clone(),
                    safe_name: tenant.tenant_safe_name.clone(),
                    deployment_type: name.to_owned(),
                },
            )
            .map_err(|e| Error::Blueprint(name.to_owned(), e.kind.to_string()))?;
        let mut values = rendered.parameters.clone();
        for (k, p) in &entry.system_parameters {
            let value = match p.source {
                // The cell's own copy.
                blueprint::catalog::Source::ArtifactsBucket => Some(bucket.to_owned()),
                _ => p.value.clone(),
            };
            let value = value.ok_or_else(|| {
                Error::Blueprint(
                    name.to_owned(),
                    format!("the published catalog has no value for system parameter {k}"),
                )
            })?;
            values.insert(k.clone(), value);
        }
        Ok((rendered, values))
    }

    /// Calls CreateStack. Returns the stack id.
    async fn create_stack(
        &self,
        tenant: &Tenant,
        plan: Plan,
        reach: &Reach,
    ) -> Result<String, Error> {
        // A retry after a failed create first clears the dead stack.
        if tenant.attempt > 1 {
            self.delete_dead_stack(&plan.stack_name, reach).await?;
        }
        let result = reach
            .cfn()
            .await
            .create_stack()
            .stack_name(&plan.stack_name)
            .template_url(plan.template_url)
            .set_parameters(Some(plan.parameters))
            .set_tags(Some(plan.tags))
            .set_role_arn(reach.provisioning_role_arn.clone())
            .capabilities(Capability::CapabilityIam)
            .client_request_token(format!(
                "silos-provision-{}-{}",
                tenant.tenant_id,
                tenant.attempt.max(1)
            ))
            .send()
            .await;
        match reach.paced(result) {
            Ok(out) => out.stack_id.ok_or_else(|| Error::CloudFormation {
                transient: false,
                operation: "CreateStack",
                message: "no stack id in the response".to_owned(),
            }),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_already_exists_exception()) =>
            {
                // A redelivery after CreateStack went through: the stack is ours.
                self.stack_id(&plan.stack_name, reach)
                    .await?
                    .ok_or_else(|| Error::CloudFormation {
                        transient: false,
                        operation: "DescribeStacks",
                        message: format!("{} exists but cannot be described", plan.stack_name),
                    })
            }
            Err(e) => Err(cfn_error("CreateStack")(e)),
        }
    }

    /// The id and status of a live stack named `name`, if there is one.
    async fn describe(
        &self,
        name: &str,
        reach: &Reach,
    ) -> Result<Option<(String, StackStatus)>, Error> {
        let result = reach
            .cfn()
            .await
            .describe_stacks()
            .stack_name(name)
            .send()
            .await;
        match reach.paced(result) {
            Ok(out) => Ok(out
                .stacks()
                .first()
                .and_then(|s| Some((s.stack_id.clone()?, s.stack_status.clone()?)))),
            // DescribeStacks answers a missing stack with a ValidationError.
            Err(e) if crate::aws::is_missing_stack(&e) => Ok(None),
            Err(e) => Err(cfn_error("DescribeStacks")(e)),
        }
    }

    async fn stack_id(&self, name: &str, reach: &Reach) -> Result<Option<String>, Error> {
        Ok(self.describe(name, reach).await?.map(|(id, _)| id))
    }

    /// Deletes a stack a failed create left behind (ROLLBACK_COMPLETE and the like), and waits
    /// until it is gone.
    async fn delete_dead_stack(&self, name: &str, reach: &Reach) -> Result<(), Error> {
        let dead = |s: &StackStatus| {
            matches!(
                s,
                StackStatus::RollbackComplete
                    | StackStatus::RollbackFailed
                    | StackStatus::CreateFailed
                    | StackStatus::DeleteFailed
            )
        };
        match self.describe(name, reach).await? {
            Some((_, status)) if dead(&status) => {}
            _ => return Ok(()),
        }
        let deleted = reach
            .cfn()
            .await
            .delete_stack()
            .stack_name(name)
            .send()
            .await;
        reach.paced(deleted).map_err(cfn_error("DeleteStack"))?;
        let deadline = Instant::now() + self.settings().stack_wait;
        let policy = Backoff::constant(Duration::from_secs(2));
        poll_until(&policy, deadline, || async move {
            match self.describe(name, reach).await? {
                None | Some((_, StackStatus::DeleteComplete)) => Ok(Some(())),
                Some(_) => Ok(None),
            }
        })
        .await
        .map_err(|e| match e {
            PollError::Probe(e) => e,
            PollError::Timeout { .. } => Error::Timeout(name.to_owned()),
        })
    }

    /// The provisioner's Lambda handler: provisions the tenant of each INSERT of an
    /// `initiated` tenant, and carries out each update requested through the API. Different
    /// tenants' records are worked on at once; one tenant's records in order. On the first
    /// record (in batch order) it cannot process, it reports that record and every one after
    /// it as batch item failures, so they are delivered again, as the event source mapping
    /// expects; a record after it that did go through is idempotent when it comes again.
    pub async fn handle_stream(&self, event: StreamEvent) -> DynamoDbEventResponse {
        let sequences: Vec<Option<String>> = event
            .records
            .iter()
            .map(|r| r.change.sequence_number.clone())
            .collect();
        let (per_tenant, first_failed) = queues(event.records);
        let mut tasks = tokio::task::JoinSet::new();
        for (id, work_list) in per_tenant {
            let cp = self.clone();
            let sequence = |i: usize| sequences[i].clone().unwrap_or_default();
            let sequences: Vec<String> = work_list.iter().map(|(i, ..)| sequence(*i)).collect();
            tasks.spawn(cp.work_through(id, work_list, sequences));
        }
        let first_failed = first_failure(tasks, first_failed).await;
        batch_failures(&sequences, first_failed)
    }

    /// Works through one tenant's queue in order, `sequences` naming its records for the
    /// logs. Returns the batch index of the record it stopped at, if any: the tenant's later
    /// records wait for that one.
    async fn work_through(
        self,
        id: String,
        work_list: Queue,
        sequences: Vec<String>,
    ) -> Option<usize> {
        for ((index, work, tenant), sequence) in work_list.into_iter().zip(sequences) {
            let result = match work {
                Work::Provision => Box::pin(self.provision(tenant)).await.map(|_| ()),
                Work::Update => Box::pin(self.update(tenant)).await.map(|_| ()),
                Work::FrontDoor => Box::pin(self.record_front_door(tenant)).await.map(|_| ()),
            };
            match result {
                Ok(()) | Err(Error::WrongStatus { .. }) => {}
                // A stream record is written only for a committed write, so its
                // tenant is not coming back: retrying cannot help, and hiding it
                // would lose a tenant quietly.
                Err(Error::NotFound(_)) => tracing::warn!(
                    tenant = %id,
                    %sequence,
                    "a stream record names a tenant that is not in the table; \
                     skipped (the item was removed, or the stream does not match \
                     the table)"
                ),
                // Recording a front door never holds up the shard's provisioning for longer
                // than a throttle: a failure that retrying cannot mend is logged and left (the
                // tenant runs without a recorded endpoint until its next return to running).
                Err(e) if matches!(work, Work::FrontDoor) && !e.is_transient() => tracing::error!(
                    tenant = %id,
                    %sequence,
                    error = %e,
                    "recording the tenant's front door failed; not retried"
                ),
                Err(e) => {
                    tracing::error!(tenant = %id, %sequence, error = %e, "provisioning failed; the record will be retried");
                    // This tenant's later records wait for this one.
                    return Some(index);
                }
            }
        }
        None
    }
}

/// Each tenant's work, in batch order: (index in the batch, the work, the tenant).
type Queue = Vec<(usize, Work, Tenant)>;

/// Sorts a batch's records into per-tenant queues, in batch order, skipping those that ask
/// nothing of the provisioner. Returns the queues and the index of the first record that could
/// not be read, if any.
fn queues(records: Vec<EventRecord>) -> (Vec<(String, Queue)>, Option<usize>) {
    let mut per_tenant: Vec<(String, Queue)> = Vec::new();
    let mut first_failed = None;
    for (index, record) in records.into_iter().enumerate() {
        let Some((work, id)) = work_of(&record) else {
            continue;
        };
        // The image is the tenant as written. If it has moved on since (a redelivery),
        // the conditional writes find out, and the work re-reads it.
        let tenant = match store::from_image(&record.change.new_image) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(tenant = %id, error = %e, "an unreadable stream record; it will be retried");
                first_failed = first_failed.min(Some(index)).or(Some(index));
                continue;
            }
        };
        match per_tenant.iter_mut().find(|(t, _)| *t == id) {
            Some((_, work_list)) => work_list.push((index, work, tenant)),
            None => per_tenant.push((id, vec![(index, work, tenant)])),
        }
    }
    (per_tenant, first_failed)
}

/// What `record` asks of the provisioner, and the id of its tenant; None for a record that
/// asks nothing.
fn work_of(record: &EventRecord) -> Option<(Work, String)> {
    let image = &record.change.new_image;
    let s = |k: &str| match image.get(k) {
        Some(serde_dynamo::AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    };
    // Name locks never trigger anything.
    if image.get(store::attribute::KIND).is_some() {
        return None;
    }
    // The mapping's own filters, declared once (a record the mapping let through
    // for another reason, or a test's, is checked the same way).
    let attribute = |k: &str| match image.get(k) {
        Some(serde_dynamo::AttributeValue::S(v)) => Some(v.as_str()),
        _ => None,
    };
    let event = record.event_name.as_str();
    let work = if functions::PROVISION.matches(event, attribute) {
        Work::Provision
    } else if functions::UPDATE.matches(event, attribute) {
        Work::Update
    } else if functions::READY.matches(event, attribute) {
        Work::FrontDoor
    } else {
        return None;
    };
    let id = s(store::attribute::TENANT_ID)?;
    Some((work, id))
}

/// Waits for every tenant's queue and returns the earliest batch index any stopped at,
/// counting `first_failed` (a record that could not be read) too.
async fn first_failure(
    mut tasks: tokio::task::JoinSet<Option<usize>>,
    mut first_failed: Option<usize>,
) -> Option<usize> {
    while let Some(done) = tasks.join_next().await {
        let failed = match done {
            Ok(failed) => failed,
            // A panicking task: its records must come again, all of them from the start.
            Err(e) => {
                tracing::error!(error = %e, "provisioning a record panicked");
                Some(0)
            }
        };
        if let Some(i) = failed {
            first_failed = Some(first_failed.map_or(i, |f: usize| f.min(i)));
        }
    }
    first_failed
}

/// A stream batch's response: every record from the first that failed on is reported, so the
/// event source mapping redelivers them in order (the records before it are done).
pub(crate) fn batch_failures(
    sequences: &[Option<String>],
    first_failed: Option<usize>,
) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    response.batch_item_failures = first_failed
        .map(|i| sequences[i..].to_vec())
        .unwrap_or_default()
        .into_iter()
        .map(|item_identifier| {
            let mut f = DynamoDbBatchItemFailure::default();
            f.item_identifier = item_identifier;
            f
        })
        .collect();
    response
}
