//! Drift detection on tenant stacks. CloudFormation's DetectStackDrift is asynchronous: it
//! answers a detection id at once and compares the stack's resources with its template in the
//! background (seconds to minutes on AWS). So one call of [`ControlPlane::drift`] starts a
//! detection, or collects the one in flight, and never waits for it:
//! 1. No detection in flight: DetectStackDrift (paced by the cell's token bucket), and the id
//!    recorded on the tenant (`drift.detection`); then one look at its status, since a quick
//!    detection is already done.
//! 2. One in flight: DescribeStackDriftDetectionStatus. Still running: nothing to do. Done:
//!    the drifted resources (DescribeStackResourceDrifts, MODIFIED and DELETED) and the status
//!    recorded, with the one before it (`previous`), which is how `Tenant Drifted` is told.
//!
//! Every write is conditional on the detection in flight, so two collectors of one detection
//! record it once. `POST /drift` and the reconciler's scheduled pass both call it.

use aws_sdk_cloudformation::types::{
    StackDriftDetectionStatus, StackDriftStatus, StackResourceDriftStatus,
};

use super::cells::Reach;
use super::store;
use super::tenant::{
    Detection, Drift, DriftStatus, DriftedResource, PropertyDifference, Status, Tenant, Timestamp,
};
use super::{ControlPlane, Error, cfn_error};

/// What a detection came to, if it has.
enum Look {
    Running,
    Done {
        status: DriftStatus,
        reason: Option<String>,
    },
    /// CloudFormation does not know the id (it keeps detections for a while only).
    Gone,
}

impl ControlPlane {
    /// Starts drift detection on `tenant`'s stack, or collects the detection in flight;
    /// returns the tenant as it stands after. See the module's steps.
    pub async fn drift(&self, tenant: Tenant) -> Result<Tenant, Error> {
        let id = tenant.tenant_id.clone();
        if tenant.status != Status::Running {
            return Err(Error::WrongStatus {
                id,
                status: tenant.status,
                operation: "drift detection",
                needs: "running",
            });
        }
        let Some(stack) = tenant.stack_id.clone() else {
            return Err(Error::NoStack(id));
        };
        let reach = self.reach(&tenant).await?;
        let in_flight = tenant
            .drift
            .as_ref()
            .and_then(|d| d.detection.as_ref())
            .map(|d| d.id.clone());
        if let Some(detection) = &in_flight {
            match self.look(detection, &reach).await? {
                Look::Running => return Ok(tenant),
                Look::Done { status, reason } => {
                    return self
                        .record(tenant, &stack, detection, status, reason, &reach)
                        .await;
                }
                // Started again below.
                Look::Gone => {}
            }
        }
        let started = reach
            .cfn()
            .await
            .detect_stack_drift()
            .stack_name(&stack)
            .send()
            .await;
        let detection = match reach.paced(started) {
            Ok(out) => out
                .stack_drift_detection_id()
                .unwrap_or_default()
                .to_owned(),
            Err(e) => {
                let e = cfn_error("DetectStackDrift")(e);
                if e.is_transient() {
                    return Err(e);
                }
                // The stack cannot be checked now (an update in progress, say): say why.
                let drift = Drift {
                    status: DriftStatus::Unknown,
                    checked_at: Some(Timestamp::now()),
                    resources: Vec::new(),
                    reason: Some(e.to_string()),
                    detection: None,
                    previous: last_status(&tenant),
                };
                return self
                    .write(&tenant, &drift, in_flight.as_deref(), true)
                    .await;
            }
        };
        let drift = Drift {
            detection: Some(Detection {
                id: detection.clone(),
                started_at: Timestamp::now(),
            }),
            ..tenant.drift.clone().unwrap_or(Drift {
                status: DriftStatus::NotChecked,
                checked_at: None,
                resources: Vec::new(),
                reason: None,
                detection: None,
                previous: None,
            })
        };
        let tenant = self
            .write(&tenant, &drift, in_flight.as_deref(), false)
            .await?;
        if tenant
            .drift
            .as_ref()
            .and_then(|d| d.detection.as_ref())
            .map(|d| &d.id)
            != Some(&detection)
        {
            // Another caller's write won: theirs stands.
            return Ok(tenant);
        }
        match self.look(&detection, &reach).await? {
            Look::Done { status, reason } => {
                self.record(tenant, &stack, &detection, status, reason, &reach)
                    .await
            }
            Look::Running | Look::Gone => Ok(tenant),
        }
    }

    /// One look at detection `id`.
    async fn look(&self, id: &str, reach: &Reach) -> Result<Look, Error> {
        let described = reach
            .cfn()
            .await
            .describe_stack_drift_detection_status()
            .stack_drift_detection_id(id)
            .send()
            .await;
        let out = match reach.paced(described) {
            Ok(out) => out,
            Err(e) => {
                let e = cfn_error("DescribeStackDriftDetectionStatus")(e);
                if !e.is_transient() && e.to_string().contains("does not exist") {
                    return Ok(Look::Gone);
                }
                return Err(e);
            }
        };
        let status = match out.stack_drift_status() {
            Some(StackDriftStatus::Drifted) => DriftStatus::Drifted,
            Some(StackDriftStatus::InSync) => DriftStatus::InSync,
            _ => DriftStatus::Unknown,
        };
        Ok(match out.detection_status() {
            Some(StackDriftDetectionStatus::DetectionInProgress) => Look::Running,
            Some(StackDriftDetectionStatus::DetectionComplete)
                if status != DriftStatus::Unknown =>
            {
                Look::Done {
                    status,
                    reason: None,
                }
            }
            Some(StackDriftDetectionStatus::DetectionComplete) => Look::Done {
                status,
                reason: Some("CloudFormation could check none of the stack's resources".to_owned()),
            },
            // Failed, or a status this SDK does not know: what CloudFormation found of the
            // resources it could check still counts, with its reason.
            _ => Look::Done {
                status: if status == DriftStatus::Drifted {
                    DriftStatus::Drifted
                } else {
                    DriftStatus::Unknown
                },
                reason: Some(
                    out.detection_status_reason()
                        .unwrap_or("drift detection failed")
                        .to_owned(),
                ),
            },
        })
    }

    /// Records the result of detection `detection`: the drifted resources, read page by
    /// page, if the stack drifted.
    async fn record(
        &self,
        tenant: Tenant,
        stack: &str,
        detection: &str,
        status: DriftStatus,
        reason: Option<String>,
        reach: &Reach,
    ) -> Result<Tenant, Error> {
        let resources = if status == DriftStatus::Drifted {
            self.drifted_resources(stack, reach).await?
        } else {
            Vec::new()
        };
        let drift = Drift {
            status,
            checked_at: Some(Timestamp::now()),
            resources,
            reason,
            detection: None,
            previous: last_status(&tenant),
        };
        self.write(&tenant, &drift, Some(detection), true).await
    }

    async fn drifted_resources(
        &self,
        stack: &str,
        reach: &Reach,
    ) -> Result<Vec<DriftedResource>, Error> {
        let mut resources = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = reach
                .cfn()
                .await
                .describe_stack_resource_drifts()
                .stack_name(stack)
                .stack_resource_drift_status_filters(StackResourceDriftStatus::Modified)
                .stack_resource_drift_status_filters(StackResourceDriftStatus::Deleted)
                .set_next_token(token.clone())
                .send()
                .await;
            let page = reach
                .paced(page)
                .map_err(cfn_error("DescribeStackResourceDrifts"))?;
            for r in page.stack_resource_drifts() {
                resources.push(DriftedResource {
                    logical_id: r.logical_resource_id().unwrap_or_default().to_owned(),
                    physical_id: r.physical_resource_id().map(str::to_owned),
                    resource_type: r.resource_type().unwrap_or_default().to_owned(),
                    status: r
                        .stack_resource_drift_status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    differences: r
                        .property_differences()
                        .iter()
                        .map(|d| PropertyDifference {
                            path: d.property_path().unwrap_or_default().to_owned(),
                            expected: d.expected_value().map(str::to_owned),
                            actual: d.actual_value().map(str::to_owned),
                            kind: d
                                .difference_type()
                                .map(|k| k.as_str().to_owned())
                                .unwrap_or_default(),
                        })
                        .collect(),
                });
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                resources.sort_by(|a, b| a.logical_id.cmp(&b.logical_id));
                return Ok(resources);
            }
        }
    }

    /// Writes `drift`, conditional on the detection `in_flight`; a writer that lost to
    /// another gets the record as the other left it.
    async fn write(
        &self,
        tenant: &Tenant,
        drift: &Drift,
        in_flight: Option<&str>,
        result: bool,
    ) -> Result<Tenant, Error> {
        match self
            .store()
            .set_drift(&tenant.tenant_id, Status::Running, drift, in_flight, result)
            .await
        {
            Ok(t) => Ok(t),
            Err(store::Error::WrongStatus { .. }) => self.tenant(&tenant.tenant_id).await,
            Err(e) => Err(e.into()),
        }
    }
}

/// The status of the last result, if there is one.
fn last_status(tenant: &Tenant) -> Option<DriftStatus> {
    tenant
        .drift
        .as_ref()
        .map(|d| d.status)
        .filter(|s| *s != DriftStatus::NotChecked)
}

/// What one run of the scheduled drift pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassRun {
    /// Tenants whose drift was started or collected.
    pub checked: usize,
    /// Of those, the ones whose detection was still running when the run ended (collected by
    /// the next visit, or by `silos tenants drift`).
    pub running: usize,
    /// The run reached the last running tenant: the round is over until the next.
    pub round_done: bool,
}

/// How many running tenants the pass reads at a time.
const PASS_PAGE: usize = 100;

/// Whether `tenant` is due for a check in a pass every `interval`: never checked, a
/// detection in flight, or a result older than nine tenths of the interval (so one checked
/// just before last round's visit is not skipped for a whole round).
fn due(tenant: &Tenant, interval: std::time::Duration, now: Timestamp) -> bool {
    match &tenant.drift {
        None => true,
        Some(d) if d.detection.is_some() => true,
        Some(d) => d.checked_at.is_none_or(|c| {
            let age = now.millis.saturating_sub(c.millis);
            u128::from(age) * 10 >= interval.as_millis() * 9
        }),
    }
}

impl ControlPlane {
    /// One run of the scheduled drift pass (the reconciler's schedule calls it): once a
    /// round is due (every `interval`, the app's `Config::drift_interval`), it checks the
    /// running tenants page by page, for at most `budget`, then collects what it started
    /// while the budget lasts. Where it stopped is kept, so the next run resumes there.
    pub async fn drift_pass(
        &self,
        interval: std::time::Duration,
        budget: std::time::Duration,
    ) -> Result<PassRun, Error> {
        self.drift_pass_paged(interval, budget, PASS_PAGE).await
    }

    /// [`drift_pass`](Self::drift_pass), reading `page_size` running tenants at a time.
    pub async fn drift_pass_paged(
        &self,
        interval: std::time::Duration,
        budget: std::time::Duration,
        page_size: usize,
    ) -> Result<PassRun, Error> {
        let mut run = PassRun::default();
        if interval.is_zero() {
            return Ok(run);
        }
        let now = Timestamp::now();
        let mut cursor = match self.store().drift_pass().await? {
            Some(pass) if pass.cursor.is_none() && pass.next_at > now => return Ok(run),
            Some(pass) => pass.cursor,
            None => None,
        };
        let deadline = std::time::Instant::now() + budget;
        let mut running = Vec::new();
        loop {
            let page = self
                .store()
                .by_status(Status::Running, page_size, cursor.as_deref())
                .await?;
            for tenant in page.tenants {
                if !due(&tenant, interval, now) {
                    continue;
                }
                let id = tenant.tenant_id.clone();
                match self.drift(tenant).await {
                    Ok(t) => {
                        run.checked += 1;
                        if t.drift.as_ref().is_some_and(|d| d.detection.is_some()) {
                            running.push(id);
                        }
                    }
                    // One tenant does not stop the pass; the next round tries it again.
                    Err(e) => tracing::warn!(tenant = %id, error = %e, "drift detection failed"),
                }
            }
            cursor = page.next_token;
            if cursor.is_none() || std::time::Instant::now() >= deadline {
                break;
            }
        }
        while !running.is_empty() && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            let mut still = Vec::new();
            for id in running {
                let collected = match self.tenant(&id).await {
                    Ok(t) => self.drift(t).await,
                    Err(e) => Err(e),
                };
                if let Ok(t) = collected
                    && t.drift.as_ref().is_some_and(|d| d.detection.is_some())
                {
                    still.push(id);
                }
            }
            running = still;
        }
        run.running = running.len();
        run.round_done = cursor.is_none();
        let pass = match cursor {
            None => store::DriftPass {
                next_at: Timestamp {
                    millis: now.millis + interval.as_millis() as u64,
                },
                cursor: None,
            },
            Some(c) => store::DriftPass {
                next_at: now,
                cursor: Some(c),
            },
        };
        self.store().set_drift_pass(&pass).await?;
        Ok(run)
    }
}
