//! `silos tenants upgrade`: rolls the published tenant version out to every outdated tenant,
//! in waves: a canary of one, then waves of `--wave-size`. Each wave settles before the next
//! starts, and the run halts once failures exceed `--max-failures`. Tenants already at the
//! published version are skipped, so a run that was interrupted resumes where it stopped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use super::client::{ApiClient, ClientError};
use super::tenants::{Published, published_versions};
use super::{Cli, Error, OutputFormat};
use crate::control_plane::updater;

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

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// The first 12 characters of a version, or `none`.
fn short(version: Option<&str>) -> &str {
    version.map_or("none", updater::short)
}

/// Plans the upgrade of `tenants` (the API's list, oldest first) to `published` (deployment
/// type → version, None if published without one). `only` restricts it to those tenant ids.
pub fn plan(
    tenants: &[Value],
    published: &Published,
    only: Option<&[String]>,
    wave_size: usize,
) -> Result<Plan, Error> {
    if let Some(only) = only {
        for id in only {
            if !tenants.iter().any(|t| t["tenantId"] == id.as_str()) {
                return Err(Error::Usage(format!("--tenants: no tenant {id}")));
            }
        }
    }
    let mut plan = Plan::default();
    let mut outdated = Vec::new();
    for t in tenants {
        let id = text(&t["tenantId"]);
        if only.is_some_and(|only| !only.contains(&id)) {
            continue;
        }
        let status = text(&t["status"]);
        if status == "deleted" {
            continue;
        }
        let deployment_type = text(&t["deploymentType"]);
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
        let version = t["version"].as_str().map(str::to_owned);
        let candidate = Candidate {
            tenant_id: id.clone(),
            tenant_name: text(&t["tenantName"]),
            deployment_type,
            from: version.clone(),
            to: target.clone(),
        };
        match status.as_str() {
            "running" if version.as_deref() == Some(target.as_str()) => plan.up_to_date.push(id),
            "running" => outdated.push(candidate),
            "updating" if t["targetVersion"].as_str() == Some(target.as_str()) => {
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

pub struct Options {
    pub wave_size: usize,
    pub max_failures: usize,
    pub only: Option<Vec<String>>,
    pub dry_run: bool,
    /// For each wave to settle.
    pub timeout: Duration,
}

/// How one tenant's upgrade ended.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Failure {
    tenant_id: String,
    tenant_name: String,
    reason: String,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    targets: BTreeMap<String, String>,
    /// Tenant ids per wave, as run (the in-flight ones first, if any).
    waves: Vec<Vec<String>>,
    upgraded: Vec<String>,
    failed: Vec<Failure>,
    /// Not attempted: the run halted first.
    left: Vec<String>,
    up_to_date: Vec<String>,
    skipped: Vec<Skipped>,
    halted: bool,
}

/// Progress goes to stdout as text, or to stderr when stdout carries the JSON report.
struct Progress {
    json: bool,
}

impl Progress {
    fn line(&self, line: &str) {
        if self.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {one}s")
    }
}

pub async fn run(cli: &Cli, client: Arc<ApiClient>, options: Options) -> Result<(), Error> {
    let tenants = client.get("/tenants").await?;
    let tenants = tenants.as_array().cloned().unwrap_or_default();
    let published = published_versions(&client).await?;
    let plan = plan(
        &tenants,
        &published,
        options.only.as_deref(),
        options.wave_size,
    )?;
    let json = cli.output == OutputFormat::Json;
    let progress = Progress { json };

    let targets = plan
        .targets
        .iter()
        .map(|(t, v)| format!("{t} {}", short(Some(v))))
        .collect::<Vec<_>>()
        .join(", ");
    let waves = plan.waves.len();
    let summary = format!(
        "{} to upgrade to {}; {} up to date, {} skipped; {} (a canary of 1, then up to {}); halts when failures exceed {}",
        plural(plan.outdated(), "tenant"),
        if targets.is_empty() {
            "-".to_owned()
        } else {
            targets
        },
        plan.up_to_date.len(),
        plan.skipped.len(),
        plural(waves, "wave"),
        options.wave_size,
        options.max_failures,
    );
    if options.dry_run {
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&plan).unwrap_or_default()
            );
            return Ok(());
        }
        println!("{summary}");
        if !plan.in_flight.is_empty() {
            println!("already updating:");
            for c in &plan.in_flight {
                println!(
                    "  {} ({}) → {}",
                    c.tenant_name,
                    c.tenant_id,
                    short(Some(&c.to))
                );
            }
        }
        for (i, wave) in plan.waves.iter().enumerate() {
            let label = if i == 0 { " (canary)" } else { "" };
            println!("wave {}/{waves}{label}:", i + 1);
            for c in wave {
                println!(
                    "  {} ({}) {} → {}",
                    c.tenant_name,
                    c.tenant_id,
                    short(c.from.as_deref()),
                    short(Some(&c.to))
                );
            }
        }
        for s in &plan.skipped {
            println!("skipped {}: {}", s.tenant_id, s.reason);
        }
        return Ok(());
    }

    progress.line(&summary);
    let mut report = Report {
        targets: plan.targets.clone(),
        up_to_date: plan.up_to_date.clone(),
        skipped: plan.skipped.clone(),
        ..Report::default()
    };
    for s in &plan.skipped {
        progress.line(&format!("skipped {}: {}", s.tenant_id, s.reason));
    }
    if !plan.in_flight.is_empty() {
        progress.line(&format!(
            "waiting for {} already updating",
            plural(plan.in_flight.len(), "tenant")
        ));
        let started: Vec<(Candidate, Instant)> = plan
            .in_flight
            .iter()
            .map(|c| (c.clone(), Instant::now()))
            .collect();
        settle(&client, started, options.timeout, &progress, &mut report).await?;
        report
            .waves
            .push(plan.in_flight.iter().map(|c| c.tenant_id.clone()).collect());
    }
    for (i, wave) in plan.waves.iter().enumerate() {
        if report.failed.len() > options.max_failures {
            report.halted = true;
            report.left.extend(wave.iter().map(|c| c.tenant_id.clone()));
            continue;
        }
        let label = if i == 0 { " (canary)" } else { "" };
        let names = wave
            .iter()
            .map(|c| c.tenant_name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        progress.line(&format!(
            "wave {}/{waves}{label}: {}: {names}",
            i + 1,
            plural(wave.len(), "tenant")
        ));
        let wave_start = Instant::now();
        let failed_before = report.failed.len();
        let upgraded_before = report.upgraded.len();
        report
            .waves
            .push(wave.iter().map(|c| c.tenant_id.clone()).collect());
        let mut started = Vec::new();
        let requests = wave
            .iter()
            .map(|c| {
                let body = json!({"tenantId": c.tenant_id, "version": c.to});
                ("/update".to_owned(), Some(body))
            })
            .collect();
        let answers = concurrently(&client, requests).await;
        for (c, answer) in wave.iter().zip(answers) {
            match answer {
                Ok(t) if t["status"] == "updating" => started.push((c.clone(), Instant::now())),
                Ok(t) => outcome(c, &t, Duration::ZERO, &progress, &mut report),
                Err(ClientError::Api { code, message, .. }) => {
                    fail(c, format!("{code}: {message}"), &progress, &mut report)
                }
                Err(e) => return Err(e.into()),
            }
        }
        settle(&client, started, options.timeout, &progress, &mut report).await?;
        progress.line(&format!(
            "wave {}/{waves} done in {:.1} s: {} upgraded, {} failed",
            i + 1,
            wave_start.elapsed().as_secs_f64(),
            report.upgraded.len() - upgraded_before,
            report.failed.len() - failed_before,
        ));
    }

    let line = format!(
        "upgraded {}, failed {}, left {}{}",
        report.upgraded.len(),
        report.failed.len(),
        report.left.len(),
        if report.halted { " (halted)" } else { "" }
    );
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        println!("{line}");
        for f in &report.failed {
            println!("failed: {} ({}): {}", f.tenant_name, f.tenant_id, f.reason);
        }
        if !report.left.is_empty() {
            println!("left: {}", report.left.join(", "));
        }
    }
    match report.failed.len() {
        0 => Ok(()),
        n if n > options.max_failures => Err(Error::Tenant(format!(
            "upgrade halted: {} exceeded --max-failures {}; {} left; fix the cause and run `silos tenants upgrade` again",
            plural(n, "failure"),
            options.max_failures,
            plural(report.left.len(), "tenant")
        ))),
        n => Err(Error::Tenant(format!(
            "{} failed to upgrade (within --max-failures {}); see the reasons above",
            plural(n, "tenant"),
            options.max_failures
        ))),
    }
}

fn fail(c: &Candidate, reason: String, progress: &Progress, report: &mut Report) {
    progress.line(&format!(
        "  ✗ {} ({}): {reason}",
        c.tenant_name, c.tenant_id
    ));
    report.failed.push(Failure {
        tenant_id: c.tenant_id.clone(),
        tenant_name: c.tenant_name.clone(),
        reason,
    });
}

/// Records how `c`'s update ended, from the tenant as the API returns it.
fn outcome(c: &Candidate, t: &Value, took: Duration, progress: &Progress, report: &mut Report) {
    let status = text(&t["status"]);
    let version = t["version"].as_str();
    if status == "running" && version == Some(c.to.as_str()) {
        progress.line(&format!(
            "  ✓ {} ({}) {} → {} in {:.1} s",
            c.tenant_name,
            c.tenant_id,
            short(c.from.as_deref()),
            short(version),
            took.as_secs_f64()
        ));
        report.upgraded.push(c.tenant_id.clone());
    } else {
        let reason = t["statusReason"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("it is {status} at version {}", short(version)));
        fail(c, reason, progress, report);
    }
}

/// Waits until every started update has left `updating`, reporting each as it settles.
/// Sends `requests` (a path, and a body to POST or none to GET) at once, and returns the
/// answers in the same order. A wave is at most `--wave-size` requests.
async fn concurrently(
    client: &Arc<ApiClient>,
    requests: Vec<(String, Option<Value>)>,
) -> Vec<Result<Value, ClientError>> {
    let n = requests.len();
    let mut set = tokio::task::JoinSet::new();
    for (i, (path, body)) in requests.into_iter().enumerate() {
        let client = client.clone();
        set.spawn(async move {
            let answer = match body {
                Some(body) => client.post_once(&path, body).await,
                None => client.get(&path).await,
            };
            (i, answer)
        });
    }
    let mut answers: Vec<Option<Result<Value, ClientError>>> = (0..n).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        if let Ok((i, answer)) = joined {
            answers[i] = Some(answer);
        }
    }
    answers
        .into_iter()
        .map(|a| {
            a.unwrap_or_else(|| {
                Err(ClientError::Transport {
                    url: String::new(),
                    message: "the request's task failed".to_owned(),
                })
            })
        })
        .collect()
}

async fn settle(
    client: &Arc<ApiClient>,
    mut started: Vec<(Candidate, Instant)>,
    timeout: Duration,
    progress: &Progress,
    report: &mut Report,
) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    while !started.is_empty() {
        let mut still = Vec::new();
        let requests = started
            .iter()
            .map(|(c, _)| (format!("/tenants/{}", c.tenant_id), None))
            .collect();
        let answers = concurrently(client, requests).await;
        for ((c, since), answer) in started.into_iter().zip(answers) {
            let t = answer?;
            if t["status"] == "updating" {
                still.push((c, since));
            } else {
                outcome(&c, &t, since.elapsed(), progress, report);
            }
        }
        started = still;
        if started.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            for (c, _) in &started {
                fail(
                    c,
                    format!(
                        "still updating after {} s; `silos tenants wait {} --status running` follows it",
                        timeout.as_secs(),
                        c.tenant_id
                    ),
                    progress,
                    report,
                );
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(id: &str, status: &str, version: Option<&str>) -> Value {
        json!({
            "tenantId": id, "tenantName": format!("T {id}"), "deploymentType": "silo",
            "status": status, "version": version, "targetVersion": null,
        })
    }

    fn published(v: &str) -> Published {
        Published::from([("silo".to_owned(), Some(v.to_owned()))])
    }

    fn ids(wave: &[Candidate]) -> Vec<&str> {
        wave.iter().map(|c| c.tenant_id.as_str()).collect()
    }

    #[test]
    fn a_canary_of_one_then_waves_of_the_requested_size() {
        let tenants: Vec<Value> = (1..=6)
            .map(|i| tenant(&format!("t{i}"), "running", Some("v1")))
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
        let mut updating = tenant("t3", "updating", Some("v1"));
        updating["targetVersion"] = json!("v2");
        let tenants = vec![
            tenant("t1", "running", Some("v2")),
            tenant("t2", "running", None),
            updating,
            tenant("t4", "failed", Some("v1")),
            tenant("t5", "deleted", Some("v1")),
            tenant("t6", "running", Some("v1")),
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
        let tenants: Vec<Value> = (1..=4)
            .map(|i| tenant(&format!("t{i}"), "running", Some("v1")))
            .collect();
        let only = vec!["t2".to_owned(), "t4".to_owned()];
        let plan = plan(&tenants, &published("v2"), Some(&only), 5).unwrap();
        let waves: Vec<Vec<&str>> = plan.waves.iter().map(|w| ids(w)).collect();
        assert_eq!(waves, vec![vec!["t2"], vec!["t4"]]);
        let err =
            super::plan(&tenants, &published("v2"), Some(&["nope".to_owned()]), 5).unwrap_err();
        assert_eq!(err.to_string(), "--tenants: no tenant nope");
    }

    #[test]
    fn unpublished_or_unversioned_types_are_skipped_with_the_reason() {
        let mut other = tenant("t2", "running", Some("v1"));
        other["deploymentType"] = json!("pool");
        let tenants = vec![tenant("t1", "running", Some("v1")), other];
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
}
