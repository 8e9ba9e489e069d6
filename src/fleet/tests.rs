use std::collections::BTreeSet;
use std::sync::Mutex;

use super::*;
use crate::control_plane::tenant::Timestamp;

fn tenant(id: &str, status: Status, version: Option<&str>) -> Tenant {
    Tenant {
        tenant_id: id.to_owned(),
        tenant_name: format!("T {id}"),
        tenant_safe_name: id.to_owned(),
        cell: None,
        deployment_type: "silo".to_owned(),
        status,
        created: Timestamp { millis: 0 },
        stack_name: None,
        stack_id: None,
        status_reason: None,
        status_changed_at: Timestamp { millis: 0 },
        version: version.map(str::to_owned),
        target_version: None,
        target_deployment_type: None,
        drift: None,
        health: None,
        change_set: None,
        attempt: 0,
        name_lock: None,
        previous_status: None,
        endpoint: None,
        identity: None,
        admin_email: None,
        admin_invite_error: None,
    }
}

fn published(v: &str) -> Published {
    Published::from([("silo".to_owned(), Some(v.to_owned()))])
}

fn ids(wave: &[Candidate]) -> Vec<&str> {
    wave.iter().map(|c| c.tenant_id.as_str()).collect()
}

#[test]
fn a_canary_of_one_then_waves_of_the_requested_size() {
    let tenants: Vec<Tenant> = (1..=6)
        .map(|i| tenant(&format!("t{i}"), Status::Running, Some("v1")))
        .collect();
    let plan = plan(&tenants, &published("v2"), None, 2).unwrap();
    let waves: Vec<Vec<&str>> = plan.waves.iter().map(|w| ids(w)).collect();
    assert_eq!(
        waves,
        vec![vec!["t1"], vec!["t2", "t3"], vec!["t4", "t5"], vec!["t6"]]
    );
    assert_eq!(plan.outdated(), 6);
    assert!(plan.waves.iter().flatten().all(|c| c.to == "v2"));
}

#[test]
fn tenants_at_the_version_in_flight_or_not_running_are_not_in_a_wave() {
    let mut updating = tenant("t3", Status::Updating, Some("v1"));
    updating.target_version = Some("v2".to_owned());
    let tenants = vec![
        tenant("t1", Status::Running, Some("v2")),
        tenant("t2", Status::Running, None),
        updating,
        tenant("t4", Status::Failed, Some("v1")),
        tenant("t5", Status::Deleted, Some("v1")),
        tenant("t6", Status::Running, Some("v1")),
    ];
    let plan = plan(&tenants, &published("v2"), None, 10).unwrap();
    let waves: Vec<Vec<&str>> = plan.waves.iter().map(|w| ids(w)).collect();
    assert_eq!(waves, vec![vec!["t2"], vec!["t6"]]);
    assert_eq!(plan.up_to_date, vec!["t1"]);
    assert_eq!(ids(&plan.in_flight), vec!["t3"]);
    assert_eq!(plan.skipped.len(), 1);
    assert_eq!(plan.skipped[0].tenant_id, "t4");
    assert!(plan.skipped[0].reason.contains("failed"));
}

#[test]
fn only_the_named_tenants_and_unknown_names_are_refused() {
    let tenants: Vec<Tenant> = (1..=4)
        .map(|i| tenant(&format!("t{i}"), Status::Running, Some("v1")))
        .collect();
    let only = vec!["t2".to_owned(), "t4".to_owned()];
    let plan = plan(&tenants, &published("v2"), Some(&only), 5).unwrap();
    let waves: Vec<Vec<&str>> = plan.waves.iter().map(|w| ids(w)).collect();
    assert_eq!(waves, vec![vec!["t2"], vec!["t4"]]);
    let err = super::plan(&tenants, &published("v2"), Some(&["nope".to_owned()]), 5).unwrap_err();
    assert_eq!(err.to_string(), "--tenants: no tenant nope");
}

#[test]
fn unpublished_or_unversioned_types_are_skipped_with_the_reason() {
    let mut other = tenant("t2", Status::Running, Some("v1"));
    other.deployment_type = "pool".to_owned();
    let tenants = vec![tenant("t1", Status::Running, Some("v1")), other];
    let published = Published::from([("silo".to_owned(), None)]);
    let plan = plan(&tenants, &published, None, 5).unwrap();
    assert!(plan.waves.is_empty());
    let reasons: Vec<&str> = plan.skipped.iter().map(|s| s.reason.as_str()).collect();
    assert_eq!(
        reasons,
        vec![
            "deployment type silo was published without versions; publish it again",
            "its deployment type pool is no longer published"
        ]
    );
}

#[derive(Debug, thiserror::Error)]
enum FakeError {
    #[error("refused: {0}")]
    Refused(String),
    #[error("no tenant {0}")]
    Missing(String),
}

/// The tenant API in memory: an update is accepted (or refused), and the next read of the
/// tenant finds it finished: at the version, or failed for the tenants in `breaks`, or still
/// updating for the tenants in `stuck`.
#[derive(Default)]
struct Fake {
    tenants: Mutex<Vec<Tenant>>,
    refuses: BTreeSet<String>,
    breaks: BTreeSet<String>,
    stuck: BTreeSet<String>,
    updates: Mutex<Vec<String>>,
    reads: Mutex<Vec<String>>,
}

impl Fake {
    fn with(tenants: Vec<Tenant>) -> Fake {
        Fake {
            tenants: Mutex::new(tenants),
            ..Fake::default()
        }
    }

    fn change(&self, id: &str, f: impl FnOnce(&mut Tenant)) -> Result<Tenant, FakeError> {
        let mut tenants = self.tenants.lock().unwrap();
        let t = tenants
            .iter_mut()
            .find(|t| t.tenant_id == id)
            .ok_or_else(|| FakeError::Missing(id.to_owned()))?;
        f(t);
        Ok(t.clone())
    }
}

impl TenantApi for Fake {
    type Error = FakeError;

    async fn tenants(&self) -> Result<Vec<Tenant>, FakeError> {
        Ok(self.tenants.lock().unwrap().clone())
    }

    async fn deployment_types(&self) -> Result<Vec<PublishedType>, FakeError> {
        Ok(vec![PublishedType {
            deployment_type: "silo".to_owned(),
            description: String::new(),
            version: Some("v2".to_owned()),
            tenant_data: Default::default(),
        }])
    }

    async fn request_update(&self, id: &str, version: &str) -> Result<Tenant, FakeError> {
        self.updates.lock().unwrap().push(id.to_owned());
        if self.refuses.contains(id) {
            return Err(FakeError::Refused(format!("Conflict: tenant {id} is busy")));
        }
        self.change(id, |t| {
            t.status = Status::Updating;
            t.target_version = Some(version.to_owned());
        })
    }

    async fn tenant(&self, id: &str) -> Result<Tenant, FakeError> {
        self.reads.lock().unwrap().push(id.to_owned());
        let breaks = self.breaks.contains(id);
        let stuck = self.stuck.contains(id);
        self.change(id, |t| {
            if t.status != Status::Updating || stuck {
                return;
            }
            if breaks {
                t.status = Status::Failed;
                t.status_reason = Some("UPDATE_ROLLBACK_FAILED".to_owned());
            } else {
                t.status = Status::Running;
                t.version = t.target_version.take();
            }
        })
    }

    fn refusal(error: &FakeError) -> Option<String> {
        match error {
            FakeError::Refused(reason) => Some(reason.clone()),
            FakeError::Missing(_) => None,
        }
    }
}

fn limits(max_failures: usize) -> Limits {
    Limits {
        max_failures,
        timeout: Duration::from_secs(5),
        poll: crate::aws::Backoff::constant(Duration::ZERO),
    }
}

async fn run(fake: Fake, max_failures: usize) -> (Report, Vec<String>, Arc<Fake>) {
    let fake = Arc::new(fake);
    let tenants = fake.tenants().await.unwrap();
    let published = published_versions(fake.as_ref()).await.unwrap();
    let plan = plan(&tenants, &published, None, 2).unwrap();
    let mut events = Vec::new();
    let report = execute(&fake, &plan, &limits(max_failures), &mut |e| {
        events.push(match e {
            Event::WaitingForInFlight { count } => format!("waiting {count}"),
            Event::WaveStarted { index, tenants, .. } => {
                format!("wave {index}: {}", ids(tenants).join(" "))
            }
            Event::Upgraded { candidate, .. } => format!("ok {}", candidate.tenant_id),
            Event::Failed { candidate, reason } => {
                format!("failed {}: {reason}", candidate.tenant_id)
            }
            Event::WaveDone {
                index,
                upgraded,
                failed,
                ..
            } => format!("wave {index} done: {upgraded} {failed}"),
        })
    })
    .await
    .unwrap();
    (report, events, fake)
}

fn fleet(n: usize) -> Vec<Tenant> {
    (1..=n)
        .map(|i| tenant(&format!("t{i}"), Status::Running, Some("v1")))
        .collect()
}

#[tokio::test]
async fn a_run_upgrades_every_wave_in_turn() {
    let mut tenants = fleet(4);
    let mut updating = tenant("t0", Status::Updating, Some("v1"));
    updating.target_version = Some("v2".to_owned());
    tenants.insert(0, updating);
    let (report, events, fake) = run(Fake::with(tenants), 0).await;
    assert_eq!(
        events,
        vec![
            "waiting 1",
            "ok t0",
            "wave 0: t1",
            "ok t1",
            "wave 0 done: 1 0",
            "wave 1: t2 t3",
            "ok t2",
            "ok t3",
            "wave 1 done: 2 0",
            "wave 2: t4",
            "ok t4",
            "wave 2 done: 1 0",
        ]
    );
    assert_eq!(report.upgraded, vec!["t0", "t1", "t2", "t3", "t4"]);
    assert_eq!(
        report.waves,
        vec![vec!["t0"], vec!["t1"], vec!["t2", "t3"], vec!["t4"]]
    );
    assert!(report.failed.is_empty() && report.left.is_empty() && !report.halted);
    assert_eq!(report.targets["silo"], "v2");
    // The in-flight tenant is waited for, not asked again.
    assert_eq!(*fake.updates.lock().unwrap(), vec!["t1", "t2", "t3", "t4"]);
    let tenants = fake.tenants.lock().unwrap();
    assert!(
        tenants
            .iter()
            .all(|t| t.status == Status::Running && t.version.as_deref() == Some("v2"))
    );
}

#[tokio::test]
async fn failures_beyond_the_limit_halt_the_run() {
    let mut fake = Fake::with(fleet(6));
    fake.refuses.insert("t2".to_owned());
    fake.breaks.insert("t3".to_owned());
    let (report, events, fake) = run(fake, 1).await;
    assert_eq!(
        events,
        vec![
            "wave 0: t1",
            "ok t1",
            "wave 0 done: 1 0",
            "wave 1: t2 t3",
            "failed t2: Conflict: tenant t2 is busy",
            "failed t3: UPDATE_ROLLBACK_FAILED",
            "wave 1 done: 0 2",
        ]
    );
    assert_eq!(report.upgraded, vec!["t1"]);
    let failed: Vec<&str> = report.failed.iter().map(|f| f.tenant_id.as_str()).collect();
    assert_eq!(failed, vec!["t2", "t3"]);
    assert!(report.halted);
    assert_eq!(report.left, vec!["t4", "t5", "t6"]);
    assert_eq!(report.waves, vec![vec!["t1"], vec!["t2", "t3"]]);
    // Nothing past the halt was asked for.
    assert_eq!(*fake.updates.lock().unwrap(), vec!["t1", "t2", "t3"]);
}

#[tokio::test]
async fn an_error_that_is_not_a_refusal_stops_the_run() {
    let fake = Arc::new(Fake::with(fleet(2)));
    let tenants = fake.tenants().await.unwrap();
    let plan = plan(&tenants, &published("v2"), None, 2).unwrap();
    fake.tenants.lock().unwrap().clear();
    let err = execute(&fake, &plan, &limits(5), &mut |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "no tenant t1");
}

#[tokio::test(start_paused = true)]
async fn an_update_still_running_at_the_timeout_fails_and_the_run_goes_on() {
    let mut fake = Fake::with(fleet(2));
    fake.stuck.insert("t1".to_owned());
    let fake = Arc::new(fake);
    let tenants = fake.tenants().await.unwrap();
    let plan = plan(&tenants, &published("v2"), None, 2).unwrap();
    let limits = Limits {
        max_failures: 5,
        timeout: Duration::from_secs(30),
        poll: crate::aws::Backoff::constant(Duration::from_secs(1)),
    };
    let mut failures = Vec::new();
    let report = execute(&fake, &plan, &limits, &mut |e| {
        if let Event::Failed { candidate, reason } = e {
            failures.push(format!("{}: {reason}", candidate.tenant_id));
        }
    })
    .await
    .unwrap();
    assert_eq!(
        failures,
        vec!["t1: still updating after 30 s; `silos tenants wait t1 --status running` follows it"]
    );
    assert_eq!(report.upgraded, vec!["t2"]);
    // Polled once a second from 0 to 30 s inclusive, as the backoff says.
    let reads = fake.reads.lock().unwrap();
    assert_eq!(reads.iter().filter(|id| *id == "t1").count(), 31);
}
