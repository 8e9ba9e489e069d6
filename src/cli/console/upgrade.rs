//! A fleet upgrade from the console: the plan ([`fleet::plan`], as `silos tenants upgrade
//! --dry-run` shows it), then one run at a time of [`fleet::execute`] in the background, its
//! waves' progress on the page and sent to it as it goes (`/upgrade/events`). The halt rule is
//! the executor's: a canary failure, or more failures than allowed, stops the run.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::AppState;
use super::views::{Refusal, api_error, render};
use crate::fleet::{self, Candidate, Limits, short};

/// The upgrade's pages: the plan and the run, its start, and its progress as it goes.
pub fn router() -> axum::Router<AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/upgrade", get(page).post(start))
        .route("/upgrade/events", get(events))
}

/// The wave size and failure limit the form starts with: `silos tenants upgrade`'s defaults.
const WAVE_SIZE: usize = 10;
const MAX_FAILURES: usize = 0;
/// The most tenants a wave may take.
const MAX_WAVE_SIZE: usize = 1000;
/// For each wave to settle, as the CLI's default.
const WAVE_TIMEOUT: Duration = Duration::from_secs(1800);

/// One tenant of a run.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub tenant_id: String,
    pub tenant_name: String,
    pub deployment_type: String,
    pub from: String,
    pub to: String,
    /// `waiting`, `updating`, `upgraded`, `failed`, or `not run` (the run halted first).
    pub state: &'static str,
    pub detail: String,
}

/// One wave of a run.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Wave {
    /// `waiting`, `running` or `done`.
    pub state: &'static str,
    pub took: String,
    pub steps: Vec<Step>,
}

/// A run as the page shows it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    /// `running`, `done`, `halted` or `stopped` (an API error ended it).
    pub state: &'static str,
    pub summary: String,
    pub wave_size: usize,
    pub max_failures: usize,
    pub in_flight: usize,
    pub waves: Vec<Wave>,
    pub error: Option<String>,
}

impl Run {
    fn new(plan: &fleet::Plan, wave_size: usize, max_failures: usize) -> Run {
        let step = |c: &Candidate| Step {
            tenant_id: c.tenant_id.clone(),
            tenant_name: c.tenant_name.clone(),
            deployment_type: c.deployment_type.clone(),
            from: short(c.from.as_deref()).to_owned(),
            to: short(Some(&c.to)).to_owned(),
            state: "waiting",
            detail: String::new(),
        };
        Run {
            state: "running",
            summary: String::new(),
            wave_size,
            max_failures,
            in_flight: plan.in_flight.len(),
            waves: plan
                .waves
                .iter()
                .map(|w| Wave {
                    state: "waiting",
                    took: String::new(),
                    steps: w.iter().map(step).collect(),
                })
                .collect(),
            error: None,
        }
    }

    /// Applies one of the executor's events.
    fn apply(&mut self, event: fleet::Event<'_>) {
        let find = |run: &mut Run, id: &str| -> Option<(usize, usize)> {
            run.waves.iter().enumerate().find_map(|(w, wave)| {
                let s = wave.steps.iter().position(|s| s.tenant_id == id)?;
                Some((w, s))
            })
        };
        match event {
            fleet::Event::WaitingForInFlight { count } => self.in_flight = count,
            fleet::Event::WaveStarted { index, .. } => {
                if let Some(wave) = self.waves.get_mut(index) {
                    wave.state = "running";
                    for s in &mut wave.steps {
                        s.state = "updating";
                    }
                }
            }
            fleet::Event::Upgraded {
                candidate,
                version,
                took,
            } => {
                if let Some((w, i)) = find(self, &candidate.tenant_id) {
                    let s = &mut self.waves[w].steps[i];
                    s.state = "upgraded";
                    s.to = short(version).to_owned();
                    s.detail = format!("{:.1} s", took.as_secs_f64());
                }
            }
            fleet::Event::Failed { candidate, reason } => {
                if let Some((w, i)) = find(self, &candidate.tenant_id) {
                    let s = &mut self.waves[w].steps[i];
                    s.state = "failed";
                    s.detail = reason.to_owned();
                }
            }
            // A wave's counts are its steps' states: the page and the script count those.
            fleet::Event::WaveDone { index, took, .. } => {
                if let Some(wave) = self.waves.get_mut(index) {
                    wave.state = "done";
                    wave.took = format!("{:.1} s", took.as_secs_f64());
                }
            }
        }
    }

    /// The end of the run: what the report says.
    fn finish(&mut self, report: Result<fleet::Report, String>) {
        match report {
            Ok(report) => {
                self.state = if report.halted { "halted" } else { "done" };
                self.summary = format!(
                    "{} upgraded, {} failed, {} not run",
                    report.upgraded.len(),
                    report.failed.len(),
                    report.left.len()
                );
            }
            Err(e) => {
                self.state = "stopped";
                self.error = Some(e);
            }
        }
        for wave in &mut self.waves {
            for s in &mut wave.steps {
                if matches!(s.state, "waiting" | "updating") {
                    s.state = "not run";
                }
            }
        }
    }

    /// What the page's script sets: `data-upgrade` key → text.
    fn fields(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::from([
            ("state".to_owned(), self.state.to_owned()),
            ("summary".to_owned(), self.summary.clone()),
            ("error".to_owned(), self.error.clone().unwrap_or_default()),
        ]);
        for (i, w) in self.waves.iter().enumerate() {
            let done = w.steps.iter().filter(|s| s.state == "upgraded").count();
            let failed = w.steps.iter().filter(|s| s.state == "failed").count();
            out.insert(format!("wave-{i}-state"), w.state.to_owned());
            out.insert(format!("wave-{i}-upgraded"), done.to_string());
            out.insert(format!("wave-{i}-failed"), failed.to_string());
            out.insert(format!("wave-{i}-took"), w.took.clone());
            for s in &w.steps {
                out.insert(format!("step-{}-state", s.tenant_id), s.state.to_owned());
                out.insert(format!("step-{}-to", s.tenant_id), s.to.clone());
                out.insert(format!("step-{}-detail", s.tenant_id), s.detail.clone());
            }
        }
        out
    }
}

/// The console's upgrade runs: the latest, as a watch so open pages hear each change.
pub struct Runs {
    latest: watch::Sender<Option<Arc<Run>>>,
}

impl Default for Runs {
    fn default() -> Runs {
        Runs {
            latest: watch::channel(None).0,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct StartForm {
    wave_size: usize,
    max_failures: usize,
}

impl Default for StartForm {
    fn default() -> StartForm {
        StartForm {
            wave_size: WAVE_SIZE,
            max_failures: MAX_FAILURES,
        }
    }
}

/// The plan of an upgrade of every outdated tenant, in waves of `wave_size`.
async fn plan(s: &AppState, wave_size: usize) -> Result<fleet::Plan, Refusal> {
    let tenants = s.api.tenants().await.map_err(|e| api_error(&e))?;
    let published = fleet::published_versions(s.api.as_ref())
        .await
        .map_err(|e| api_error(&e))?;
    fleet::plan(&tenants, &published, None, wave_size).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            "InvalidRequest".to_owned(),
            e.to_string(),
        )
    })
}

/// `/upgrade`: the run under way or the last one, and the plan of the next.
pub async fn page(State(s): State<AppState>) -> Response {
    upgrade_page(&s, None, StartForm::default()).await
}

async fn upgrade_page(s: &AppState, refused: Option<Refusal>, form: StartForm) -> Response {
    let seq = s.live.last_seq();
    let run = s.runs.latest.borrow().clone();
    let plan = match plan(s, form.wave_size.clamp(1, MAX_WAVE_SIZE)).await {
        Ok(p) => p,
        Err(r) => {
            return render(
                s,
                seq,
                r.0,
                "error.html",
                context! { title => "Error", code => r.1, message => r.2 },
            );
        }
    };
    let status = refused.as_ref().map_or(StatusCode::OK, |r| r.0);
    let targets: Vec<(String, String)> = plan
        .targets
        .iter()
        .map(|(t, v)| (t.clone(), short(Some(v)).to_owned()))
        .collect();
    let running = run.as_ref().is_some_and(|r| r.state == "running");
    let ctx = context! {
        title => "Fleet upgrade",
        run => run.as_deref(),
        running,
        outdated => plan.outdated(),
        waves => plan.waves.iter().map(Vec::len).collect::<Vec<_>>(),
        in_flight => plan.in_flight.len(),
        up_to_date => plan.up_to_date.len(),
        skipped => plan.skipped,
        targets,
        wave_size => form.wave_size,
        max_wave_size => MAX_WAVE_SIZE,
        max_failures => form.max_failures,
        refused_status => refused.as_ref().map(|r| r.0.as_u16()),
        refused_code => refused.as_ref().map(|r| r.1.clone()),
        refused_message => refused.as_ref().map(|r| r.2.clone()),
    };
    render(s, seq, status, "upgrade.html", ctx)
}

/// `POST /upgrade`: plans again (the fleet may have changed since the page was read) and
/// starts the run in the background; one at a time.
pub async fn start(State(s): State<AppState>, Form(form): Form<StartForm>) -> Response {
    if s.runs
        .latest
        .borrow()
        .as_ref()
        .is_some_and(|r| r.state == "running")
    {
        let refused = (
            StatusCode::CONFLICT,
            "UpgradeRunning".to_owned(),
            "an upgrade is already running: it must end first".to_owned(),
        );
        return upgrade_page(&s, Some(refused), form).await;
    }
    if !(1..=MAX_WAVE_SIZE).contains(&form.wave_size) {
        let refused = (
            StatusCode::BAD_REQUEST,
            "InvalidRequest".to_owned(),
            format!("the wave size must be 1 to {MAX_WAVE_SIZE}"),
        );
        return upgrade_page(&s, Some(refused), form).await;
    }
    let plan = match plan(&s, form.wave_size).await {
        Ok(p) => p,
        Err(r) => return upgrade_page(&s, Some(r), form).await,
    };
    if plan.outdated() == 0 && plan.in_flight.is_empty() {
        let refused = (
            StatusCode::CONFLICT,
            "NothingToUpgrade".to_owned(),
            "every tenant is at its published version".to_owned(),
        );
        return upgrade_page(&s, Some(refused), form).await;
    }
    let run = Arc::new(Mutex::new(Run::new(
        &plan,
        form.wave_size,
        form.max_failures,
    )));
    let snapshot =
        |run: &Mutex<Run>| Arc::new(run.lock().unwrap_or_else(|e| e.into_inner()).clone());
    s.runs.latest.send_replace(Some(snapshot(&run)));
    let limits = Limits {
        max_failures: form.max_failures,
        timeout: WAVE_TIMEOUT,
        poll: crate::aws::Backoff::constant(Duration::from_millis(500)),
    };
    let shared = s.clone();
    tokio::spawn(async move {
        let report = fleet::execute(&shared.api, &plan, &limits, &mut |event| {
            run.lock().unwrap_or_else(|e| e.into_inner()).apply(event);
            shared.runs.latest.send_replace(Some(snapshot(&run)));
        })
        .await
        .map_err(|e| e.to_string());
        if let Err(e) = &report {
            tracing::warn!(error = %e, "the console's fleet upgrade stopped");
        }
        run.lock().unwrap_or_else(|e| e.into_inner()).finish(report);
        shared.runs.latest.send_replace(Some(snapshot(&run)));
    });
    Redirect::to("/upgrade").into_response()
}

/// `/upgrade/events`: the run's fields (`upgrade`, JSON: `data-upgrade` key → text) now and
/// at each change.
pub async fn events(
    State(s): State<AppState>,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    let mut receiver = s.runs.latest.subscribe();
    receiver.mark_changed();
    let stream = futures_util::stream::unfold(receiver, |mut rx| async move {
        rx.changed().await.ok()?;
        let fields = rx.borrow_and_update().as_ref().map(|r| r.fields());
        let data = serde_json::to_string(&fields.unwrap_or_default()).unwrap_or_default();
        Some((Ok(Event::default().event("upgrade").data(data)), rx))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
