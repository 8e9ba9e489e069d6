//! `silos tenants upgrade`: the arguments and the rendering of a fleet upgrade; the planner
//! and the executor are [`crate::fleet`]'s.

use std::sync::Arc;
use std::time::Duration;

use super::client::ApiClient;
use super::{Cli, Error, OutputFormat};
use crate::fleet::{self, Event, Limits, short};

pub struct Options {
    pub wave_size: usize,
    pub max_failures: usize,
    pub only: Option<Vec<String>>,
    pub dry_run: bool,
    /// For each wave to settle.
    pub timeout: Duration,
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

    fn event(&self, event: Event<'_>) {
        match event {
            Event::WaitingForInFlight { count } => self.line(&format!(
                "waiting for {} already updating",
                plural(count, "tenant")
            )),
            Event::WaveStarted {
                index,
                waves,
                tenants,
            } => {
                let label = if index == 0 { " (canary)" } else { "" };
                let names = tenants
                    .iter()
                    .map(|c| c.tenant_name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                self.line(&format!(
                    "wave {}/{waves}{label}: {}: {names}",
                    index + 1,
                    plural(tenants.len(), "tenant")
                ));
            }
            Event::Upgraded {
                candidate: c,
                version,
                took,
            } => self.line(&format!(
                "  ✓ {} ({}) {} → {} in {:.1} s",
                c.tenant_name,
                c.tenant_id,
                short(c.from.as_deref()),
                short(version),
                took.as_secs_f64()
            )),
            Event::Failed {
                candidate: c,
                reason,
            } => self.line(&format!(
                "  ✗ {} ({}): {reason}",
                c.tenant_name, c.tenant_id
            )),
            Event::WaveDone {
                index,
                waves,
                took,
                upgraded,
                failed,
            } => self.line(&format!(
                "wave {}/{waves} done in {:.1} s: {upgraded} upgraded, {failed} failed",
                index + 1,
                took.as_secs_f64(),
            )),
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

/// `silos tenants upgrade`: plans the waves, then prints the plan (`--dry-run`) or runs it
/// with a line per event, and reports how it went.
pub async fn run(cli: &Cli, client: Arc<ApiClient>, options: Options) -> Result<(), Error> {
    let tenants = client.tenants().await?;
    let published = fleet::published_versions(client.as_ref()).await?;
    let plan = fleet::plan(
        &tenants,
        &published,
        options.only.as_deref(),
        options.wave_size,
    )?;
    let json = cli.output == OutputFormat::Json;
    let summary = summary(&plan, &options);
    if options.dry_run {
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&plan).unwrap_or_default()
            );
        } else {
            print_plan(&plan, &summary);
        }
        return Ok(());
    }

    let progress = Progress { json };
    progress.line(&summary);
    for s in &plan.skipped {
        progress.line(&format!("skipped {}: {}", s.tenant_id, s.reason));
    }
    let limits = Limits {
        max_failures: options.max_failures,
        timeout: options.timeout,
        poll: crate::aws::Backoff::constant(Duration::from_millis(250)),
    };
    let report = fleet::execute(&client, &plan, &limits, &mut |e| progress.event(e)).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print_report(&report);
    }
    outcome(&report, options.max_failures)
}

/// The plan in one line: how many tenants go to which versions, in how many waves, and when
/// the run halts.
fn summary(plan: &fleet::Plan, options: &Options) -> String {
    let targets = plan
        .targets
        .iter()
        .map(|(t, v)| format!("{t} {}", short(Some(v))))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{} to upgrade to {}; {} up to date, {} skipped; {} (a canary of 1, then up to {}); halts when failures exceed {}",
        plural(plan.outdated(), "tenant"),
        if targets.is_empty() {
            "-".to_owned()
        } else {
            targets
        },
        plan.up_to_date.len(),
        plan.skipped.len(),
        plural(plan.waves.len(), "wave"),
        options.wave_size,
        options.max_failures,
    )
}

/// `--dry-run` as text: the summary, the updates already under way, each wave's tenants,
/// and the skipped ones.
fn print_plan(plan: &fleet::Plan, summary: &str) {
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
    let waves = plan.waves.len();
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
}

/// How the run went, as text: the counts, each failure, and the tenants left.
fn print_report(report: &fleet::Report) {
    println!(
        "upgraded {}, failed {}, left {}{}",
        report.upgraded.len(),
        report.failed.len(),
        report.left.len(),
        if report.halted { " (halted)" } else { "" }
    );
    for f in &report.failed {
        println!("failed: {} ({}): {}", f.tenant_name, f.tenant_id, f.reason);
    }
    if !report.left.is_empty() {
        println!("left: {}", report.left.join(", "));
    }
}

/// A run with failures is an error, which says whether it halted.
fn outcome(report: &fleet::Report, max_failures: usize) -> Result<(), Error> {
    match report.failed.len() {
        0 => Ok(()),
        n if n > max_failures => Err(Error::Tenant(format!(
            "upgrade halted: {} exceeded --max-failures {}; {} left; fix the cause and run `silos tenants upgrade` again",
            plural(n, "failure"),
            max_failures,
            plural(report.left.len(), "tenant")
        ))),
        n => Err(Error::Tenant(format!(
            "{} failed to upgrade (within --max-failures {}); see the reasons above",
            plural(n, "tenant"),
            max_failures
        ))),
    }
}
