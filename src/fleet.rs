//! Fleet upgrades: rolls the published tenant version out to every outdated tenant, in waves:
//! a canary of one, then waves of `wave_size`. Each wave settles before the next starts, and
//! the run halts once failures exceed `max_failures`. Tenants already at the published version
//! are skipped, so a run that was interrupted resumes where it stopped.
//!
//! The planner and the executor reach the control plane only through [`TenantApi`], so a test
//! drives them without HTTP; `silos tenants upgrade` parses the arguments and renders.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::aws::{Backoff, PollError, poll_until};
use crate::control_plane::api::PublishedType;
use crate::control_plane::tenant::{Status, Tenant};
use crate::control_plane::updater;

/// What the fleet needs of the tenant API.
pub trait TenantApi: Send + Sync + 'static {
    type Error: std::error::Error + Send + 'static;

    /// Every tenant, oldest first.
    fn tenants(&self) -> impl Future<Output = Result<Vec<Tenant>, Self::Error>> + Send;
    /// The published deployment types.
    fn deployment_types(
        &self,
    ) -> impl Future<Output = Result<Vec<PublishedType>, Self::Error>> + Send;
    /// Asks for `tenant_id`'s update to `version` (once), and returns the tenant as it is then.
    fn request_update(
        &self,
        tenant_id: &str,
        version: &str,
    ) -> impl Future<Output = Result<Tenant, Self::Error>> + Send;
    fn tenant(&self, tenant_id: &str) -> impl Future<Output = Result<Tenant, Self::Error>> + Send;
    /// `code: message` if `error` is the API refusing the request (it fails that tenant's
    /// upgrade); None for anything else (it stops the run).
    fn refusal(error: &Self::Error) -> Option<String>;
}

/// Deployment type → its published version (None: published without versions).
pub type Published = BTreeMap<String, Option<String>>;

pub fn published(types: &[PublishedType]) -> Published {
    types
        .iter()
        .map(|t| (t.deployment_type.clone(), t.version.clone()))
        .collect()
}

/// The published versions, from [`TenantApi::deployment_types`].
pub async fn published_versions<A: TenantApi>(api: &A) -> Result<Published, A::Error> {
    Ok(published(&api.deployment_types().await?))
}

/// The first 12 characters of a version, or `none`.
pub fn short(version: Option<&str>) -> &str {
    version.map_or("none", updater::short)
}

/// A tenant the upgrade touches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    pub tenant_id: String,
    pub tenant_name: String,
    pub deployment_type: String,
    /// Its version now (None: provisioned before versions were recorded).
    pub from: Option<String>,
    pub to: String,
}

/// A tenant left out, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    pub tenant_id: String,
    pub reason: String,
}

/// What an upgrade will do.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Deployment type → the published version.
    pub targets: BTreeMap<String, String>,
    /// Updates already under way to the published version (an interrupted run's): waited
    /// for before the first wave.
    pub in_flight: Vec<Candidate>,
    pub waves: Vec<Vec<Candidate>>,
    pub up_to_date: Vec<String>,
    pub skipped: Vec<Skipped>,
}

impl Plan {
    pub fn outdated(&self) -> usize {
        self.waves.iter().map(Vec::len).sum()
    }
}

/// A tenant asked for by id that the API does not list.
#[derive(Debug, thiserror::Error)]
#[error("--tenants: no tenant {0}")]
pub struct UnknownTenant(pub String);

/// Plans the upgrade of `tenants` (the API's list, oldest first) to `published`. `only`
/// restricts it to those tenant ids.
pub fn plan(
    tenants: &[Tenant],
    published: &Published,
    only: Option<&[String]>,
    wave_size: usize,
) -> Result<Plan, UnknownTenant> {
    if let Some(only) = only {
        for id in only {
            if !tenants.iter().any(|t| t.tenant_id == *id) {
                return Err(UnknownTenant(id.clone()));
            }
        }
    }
    let mut plan = Plan::default();
    let mut outdated = Vec::new();
    for t in tenants {
        let id = t.tenant_id.clone();
        if only.is_some_and(|only| !only.contains(&id)) {
            continue;
        }
        if t.status == Status::Deleted {
            continue;
        }
        let deployment_type = t.deployment_type.clone();
        let skip = |reason: String| Skipped {
            tenant_id: id.clone(),
            reason,
        };
        let Some(target) = published.get(&deployment_type) else {
            plan.skipped.push(skip(format!(
                "its deployment type {deployment_type} is no longer published"
            )));
            continue;
        };
        let Some(target) = target else {
            plan.skipped.push(skip(format!(
                "deployment type {deployment_type} was published without versions; publish it again"
            )));
            continue;
        };
        plan.targets.insert(deployment_type.clone(), target.clone());
        let version = t.version.clone();
        let candidate = Candidate {
            tenant_id: id.clone(),
            tenant_name: t.tenant_name.clone(),
            deployment_type,
            from: version.clone(),
            to: target.clone(),
        };
        match t.status {
            Status::Running if version.as_deref() == Some(target.as_str()) => {
                plan.up_to_date.push(id)
            }
            Status::Running => outdated.push(candidate),
            Status::Updating if t.target_version.as_deref() == Some(target.as_str()) => {
                plan.in_flight.push(candidate)
            }
            other => plan
                .skipped
                .push(skip(format!("it is {other}, not running"))),
        }
    }
    let mut rest = outdated.into_iter();
    if let Some(canary) = rest.next() {
        plan.waves.push(vec![canary]);
    }
    let rest: Vec<Candidate> = rest.collect();
    for chunk in rest.chunks(wave_size.max(1)) {
        plan.waves.push(chunk.to_vec());
    }
    Ok(plan)
}

/// How one tenant's upgrade failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    pub tenant_id: String,
    pub tenant_name: String,
    pub reason: String,
}

/// How a run went.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub targets: BTreeMap<String, String>,
    /// Tenant ids per wave, as run (the in-flight ones first, if any).
    pub waves: Vec<Vec<String>>,
    pub upgraded: Vec<String>,
    pub failed: Vec<Failure>,
    /// Not attempted: the run halted first.
    pub left: Vec<String>,
    pub up_to_date: Vec<String>,
    pub skipped: Vec<Skipped>,
    pub halted: bool,
}

/// What the executor tells its caller as it goes.
#[derive(Debug)]
pub enum Event<'a> {
    /// Waiting for the plan's in-flight updates.
    WaitingForInFlight { count: usize },
    /// Wave `index` (from 0) of `waves` starts.
    WaveStarted {
        index: usize,
        waves: usize,
        tenants: &'a [Candidate],
    },
    Upgraded {
        candidate: &'a Candidate,
        version: Option<&'a str>,
        took: Duration,
    },
    Failed {
        candidate: &'a Candidate,
        reason: &'a str,
    },
    WaveDone {
        index: usize,
        waves: usize,
        took: Duration,
        upgraded: usize,
        failed: usize,
    },
}

/// How the executor runs a plan.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The run halts once failures exceed this.
    pub max_failures: usize,
    /// For each wave to settle.
    pub timeout: Duration,
    /// Between polls of the tenants a wave updates.
    pub poll: Backoff,
}

/// Runs `plan`: waits for its in-flight updates, then runs each wave, until failures exceed
/// `limits.max_failures`. An error from the API other than a refusal stops the run.
pub async fn execute<A: TenantApi>(
    api: &Arc<A>,
    plan: &Plan,
    limits: &Limits,
    on: &mut impl FnMut(Event<'_>),
) -> Result<Report, A::Error> {
    let mut report = Report {
        targets: plan.targets.clone(),
        up_to_date: plan.up_to_date.clone(),
        skipped: plan.skipped.clone(),
        ..Report::default()
    };
    if !plan.in_flight.is_empty() {
        on(Event::WaitingForInFlight {
            count: plan.in_flight.len(),
        });
        let started: Vec<(Candidate, Instant)> = plan
            .in_flight
            .iter()
            .map(|c| (c.clone(), Instant::now()))
            .collect();
        settle(api, started, limits, on, &mut report).await?;
        report
            .waves
            .push(plan.in_flight.iter().map(|c| c.tenant_id.clone()).collect());
    }
    let waves = plan.waves.len();
    for (index, wave) in plan.waves.iter().enumerate() {
        if report.failed.len() > limits.max_failures {
            report.halted = true;
            report.left.extend(wave.iter().map(|c| c.tenant_id.clone()));
            continue;
        }
        on(Event::WaveStarted {
            index,
            waves,
            tenants: wave,
        });
        let wave_start = Instant::now();
        let failed_before = report.failed.len();
        let upgraded_before = report.upgraded.len();
        report
            .waves
            .push(wave.iter().map(|c| c.tenant_id.clone()).collect());
        let requests = wave
            .iter()
            .map(|c| Request::Update {
                tenant_id: c.tenant_id.clone(),
                version: c.to.clone(),
            })
            .collect();
        let mut started = Vec::new();
        for (c, answer) in wave.iter().zip(concurrently(api, requests).await) {
            match answer {
                Ok(t) if t.status == Status::Updating => started.push((c.clone(), Instant::now())),
                Ok(t) => outcome(c, &t, Duration::ZERO, on, &mut report),
                Err(e) => match A::refusal(&e) {
                    Some(reason) => fail(c, reason, on, &mut report),
                    None => return Err(e),
                },
            }
        }
        settle(api, started, limits, on, &mut report).await?;
        on(Event::WaveDone {
            index,
            waves,
            took: wave_start.elapsed(),
            upgraded: report.upgraded.len() - upgraded_before,
            failed: report.failed.len() - failed_before,
        });
    }
    Ok(report)
}

fn fail(c: &Candidate, reason: String, on: &mut impl FnMut(Event<'_>), report: &mut Report) {
    on(Event::Failed {
        candidate: c,
        reason: &reason,
    });
    report.failed.push(Failure {
        tenant_id: c.tenant_id.clone(),
        tenant_name: c.tenant_name.clone(),
        reason,
    });
}

/// Records how `c`'s update ended, from the tenant as the API returns it.
fn outcome(
    c: &Candidate,
    t: &Tenant,
    took: Duration,
    on: &mut impl FnMut(Event<'_>),
    report: &mut Report,
) {
    let version = t.version.as_deref();
    if t.status == Status::Running && version == Some(c.to.as_str()) {
        on(Event::Upgraded {
            candidate: c,
            version,
            took,
        });
        report.upgraded.push(c.tenant_id.clone());
    } else {
        let reason = t
            .status_reason
            .clone()
            .unwrap_or_else(|| format!("it is {} at version {}", t.status, short(version)));
        fail(c, reason, on, report);
    }
}

enum Request {
    Update { tenant_id: String, version: String },
    Tenant { tenant_id: String },
}

/// Sends `requests` at once, and returns the answers in the same order. A wave is at most
/// `wave_size` requests.
async fn concurrently<A: TenantApi>(
    api: &Arc<A>,
    requests: Vec<Request>,
) -> Vec<Result<Tenant, A::Error>> {
    let n = requests.len();
    let mut set = tokio::task::JoinSet::new();
    for (i, request) in requests.into_iter().enumerate() {
        let api = api.clone();
        set.spawn(async move {
            let answer = match &request {
                Request::Update { tenant_id, version } => {
                    api.request_update(tenant_id, version).await
                }
                Request::Tenant { tenant_id } => api.tenant(tenant_id).await,
            };
            (i, answer)
        });
    }
    let mut answers: Vec<Option<Result<Tenant, A::Error>>> = (0..n).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, answer)) => answers[i] = Some(answer),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {}
        }
    }
    answers
        .into_iter()
        .map(|a| a.expect("every request's task ran to the end"))
        .collect()
}

/// Waits until every started update has left `updating`, reporting each as it settles. Polls
/// the tenants still updating as `limits.poll` says, through [`crate::aws::poll_until`], until
/// `limits.timeout`; those left then fail.
async fn settle<A: TenantApi>(
    api: &Arc<A>,
    started: Vec<(Candidate, Instant)>,
    limits: &Limits,
    on: &mut impl FnMut(Event<'_>),
    report: &mut Report,
) -> Result<(), A::Error> {
    if started.is_empty() {
        return Ok(());
    }
    // The probe runs between awaits of its own future; the locks are never held across one.
    let pending = Mutex::new(started);
    let shared = Mutex::new((&mut *on, &mut *report));
    let deadline = tokio::time::Instant::now() + limits.timeout;
    let polled = poll_until(&limits.poll, deadline, || async {
        let requests = lock(&pending)
            .iter()
            .map(|(c, _)| Request::Tenant {
                tenant_id: c.tenant_id.clone(),
            })
            .collect();
        let answers = concurrently(api, requests).await;
        let mut still = Vec::new();
        let started = std::mem::take(&mut *lock(&pending));
        let mut shared = lock(&shared);
        let (on, report) = &mut *shared;
        for ((c, since), answer) in started.into_iter().zip(answers) {
            let t = answer?;
            if t.status == Status::Updating {
                still.push((c, since));
            } else {
                outcome(&c, &t, since.elapsed(), *on, report);
            }
        }
        let done = still.is_empty();
        *lock(&pending) = still;
        Ok(done.then_some(()))
    })
    .await;
    match polled {
        Ok(()) => Ok(()),
        Err(PollError::Probe(e)) => Err(e),
        Err(PollError::Timeout { .. }) => {
            for (c, _) in lock(&pending).iter() {
                fail(
                    c,
                    format!(
                        "still updating after {} s; `silos tenants wait {} --status running` follows it",
                        limits.timeout.as_secs(),
                        c.tenant_id
                    ),
                    on,
                    report,
                );
            }
            Ok(())
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests;
