//! The console's pages and actions: each a handler that asks the tenant API and renders a
//! template. Every action is a plain HTML form (the pages work without JavaScript); an API
//! error comes back on the form that caused it.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::{Environment, context};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::AppState;
use super::live::{Counted, when};
use crate::cli::client::{ClientError, body, decode, query_escape};
use crate::cli::tenants::cost::{MonthToDate, month_to_date};
use crate::control_plane::api::{DeleteRequest, OnboardingRequest, TenantRequest};
use crate::control_plane::tenant::{Status, Tenant, Timestamp};

/// Rows per page of the tenants table.
pub const PAGE_SIZE: usize = 50;

pub fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    // A record's timestamp (`1700000000.120`) as an operator reads it.
    env.add_filter("when", |v: String| -> String {
        v.parse::<Timestamp>().map_or(v, when)
    });
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("fleet.html", include_str!("templates/fleet.html")),
        ("tenants.html", include_str!("templates/tenants.html")),
        ("tenant.html", include_str!("templates/tenant.html")),
        ("onboard.html", include_str!("templates/onboard.html")),
        ("error.html", include_str!("templates/error.html")),
        ("move.html", include_str!("templates/move.html")),
        ("upgrade.html", include_str!("templates/upgrade.html")),
    ] {
        // The templates are the binary's own; a test renders each.
        env.add_template(name, source)
            .expect("the console's templates parse");
    }
    env
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(fleet))
        .route("/tenants", get(tenants))
        .route("/tenants/{id}", get(tenant))
        .route("/tenants/{id}/offboard", post(offboard))
        .route("/tenants/{id}/retry", post(retry))
        .route("/tenants/{id}/move", get(move_plan).post(move_tenant))
        .route("/onboard", get(onboard_form).post(onboard))
        .route("/events", get(events))
        .route("/assets/console.css", get(css))
        .route("/assets/console.js", get(js))
}

/// Renders a page. `seq` is the last live event before the page read what it shows: its script
/// asks for the events after it, so none that came while the page was read is missed.
pub(super) fn render(
    s: &AppState,
    seq: u64,
    status: StatusCode,
    name: &str,
    ctx: minijinja::Value,
) -> Response {
    let ctx = context! { seq, ..ctx };
    match s.templates.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, template = name, "cannot render");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot render the page").into_response()
        }
    }
}

/// An API error as a page: the API's status, code and message.
pub(super) fn failure(s: &AppState, e: &ClientError) -> Response {
    let (status, code, message) = api_error(e);
    render(
        s,
        s.live.last_seq(),
        status,
        "error.html",
        context! { title => "Error", code, message },
    )
}

pub(super) fn api_error(e: &ClientError) -> Refusal {
    match e {
        ClientError::Api {
            status,
            code,
            message,
        } => (
            StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY),
            code.clone(),
            message.clone(),
        ),
        other => (
            StatusCode::BAD_GATEWAY,
            "Unreachable".to_owned(),
            other.to_string(),
        ),
    }
}

/// Counts of one field's values, largest first.
fn counts<'a>(values: impl Iterator<Item = &'a str>) -> Vec<(String, usize)> {
    let mut map: BTreeMap<&str, usize> = BTreeMap::new();
    for v in values {
        *map.entry(v).or_default() += 1;
    }
    let mut out: Vec<(String, usize)> = map.into_iter().map(|(k, n)| (k.to_owned(), n)).collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

fn health_of(t: &Tenant) -> &'static str {
    t.health.as_ref().map_or("-", |h| h.status.as_str())
}

fn drift_of(t: &Tenant) -> &'static str {
    t.drift.as_ref().map_or("-", |d| d.status.as_str())
}

/// A tenant as a table row and the fleet counts see it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    tenant_id: String,
    tenant_name: String,
    deployment_type: String,
    cell: String,
    status: String,
    health: &'static str,
    drift: &'static str,
    created: String,
    version: String,
}

fn row(t: &Tenant) -> Row {
    Row {
        tenant_id: t.tenant_id.clone(),
        tenant_name: t.tenant_name.clone(),
        deployment_type: t.deployment_type.clone(),
        cell: t.cell.clone().unwrap_or_else(|| "-".to_owned()),
        status: t.status.to_string(),
        health: health_of(t),
        drift: drift_of(t),
        created: when(t.created),
        version: crate::fleet::short(t.version.as_deref()).to_owned(),
    }
}

/// How long the fleet view counts from one read of the listing: the live events keep it
/// current in between, and the read is what catches anything they missed.
const FLEET_KEPT: Duration = Duration::from_secs(300);

/// The fleet's counted tenants: those kept, or a fresh read of the listing. One read at a
/// time: a page that comes during one waits for it.
async fn fleet_counts(s: &AppState, fresh: bool) -> Result<(Duration, Vec<Counted>), ClientError> {
    let started = Instant::now();
    let _reading = s.fleet_read.lock().await;
    // A fresh read asked for: one that began after this asked is fresh enough.
    let kept = if fresh {
        s.live.fleet(started.elapsed())
    } else {
        s.live.fleet(FLEET_KEPT)
    };
    if let Some(kept) = kept {
        return Ok(kept);
    }
    let seq = s.live.last_seq();
    let all = s.api.tenants().await?;
    let tenants = all
        .iter()
        .map(|t| {
            let r = row(t);
            let counted = Counted {
                status: r.status,
                deployment_type: r.deployment_type,
                cell: r.cell,
                health: r.health.to_owned(),
                drift: r.drift.to_owned(),
            };
            (r.tenant_id, counted)
        })
        .collect();
    s.live.set_fleet(tenants, seq);
    Ok(s.live.fleet(FLEET_KEPT).unwrap_or_default())
}

/// Reads the fleet when the console starts, and again before the counts are too old, so
/// the fleet view never waits for the listing. Runs until the console stops.
pub(super) async fn keep_fleet(s: AppState) {
    loop {
        if let Err(e) = fleet_counts(&s, false).await {
            tracing::warn!(error = %e, "cannot read the fleet for its counts; the page will try");
        }
        // The next call finds the counts just old enough to read again.
        tokio::time::sleep(FLEET_KEPT).await;
    }
}

/// `/`: the fleet's counts by status, tier, cell, health and drift, and the latest events.
/// The counts come from the listing as last read (at most [`FLEET_KEPT`] ago), with every
/// live event since applied: a fleet of thousands is not read on every load.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FleetQuery {
    /// Read the listing again now.
    fresh: Option<String>,
}

async fn fleet(State(s): State<AppState>, Query(query): Query<FleetQuery>) -> Response {
    let seq = s.live.last_seq();
    let (age, counted) = match fleet_counts(&s, query.fresh.is_some()).await {
        Ok(kept) => kept,
        Err(e) => return failure(&s, &e),
    };
    let live: Vec<Counted> = counted
        .into_iter()
        .filter(|t| t.status != Status::Deleted.as_str())
        .collect();
    let ctx = context! {
        title => "Fleet",
        total => live.len(),
        by_status => counts(live.iter().map(|t| t.status.as_str())),
        by_tier => counts(live.iter().map(|t| t.deployment_type.as_str())),
        by_cell => counts(live.iter().map(|t| t.cell.as_str())),
        by_health => counts(live.iter().map(|t| t.health.as_str())),
        by_drift => counts(live.iter().map(|t| t.drift.as_str())),
        events => s.live.recent(None, 20),
        read_ago => age.as_secs(),
        prefix => s.prefix,
    };
    render(&s, seq, StatusCode::OK, "fleet.html", ctx)
}

/// The tenants table's query: filters, sort, and where the page starts.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct TableQuery {
    q: String,
    status: String,
    tier: String,
    cell: String,
    health: String,
    sort: String,
    /// The API's `nextToken` of this page (API paging).
    page: String,
    /// The offset of this page (console paging, when sorted or filtered beyond status).
    offset: usize,
}

impl TableQuery {
    /// True when only the API can answer: no search, no filter but status, the API's order.
    fn api_paged(&self) -> bool {
        self.q.is_empty()
            && self.tier.is_empty()
            && self.cell.is_empty()
            && self.health.is_empty()
            && (self.sort.is_empty() || self.sort == "created")
    }

    fn keeps(&self, t: &Tenant) -> bool {
        let q = self.q.to_lowercase();
        (q.is_empty() || t.tenant_name.to_lowercase().contains(&q) || t.tenant_id.contains(&q))
            && (self.tier.is_empty() || t.deployment_type == self.tier)
            && (self.cell.is_empty() || t.cell.as_deref().unwrap_or("-") == self.cell)
            && (self.health.is_empty() || health_of(t) == self.health)
    }

    /// This query with the page moved: the link to the next page.
    fn link(&self, page: Option<&str>, offset: Option<usize>) -> String {
        let mut pairs = vec![];
        for (k, v) in [
            ("q", &self.q),
            ("status", &self.status),
            ("tier", &self.tier),
            ("cell", &self.cell),
            ("health", &self.health),
            ("sort", &self.sort),
        ] {
            if !v.is_empty() {
                pairs.push(format!("{k}={}", query_escape(v)));
            }
        }
        if let Some(p) = page {
            pairs.push(format!("page={}", query_escape(p)));
        }
        if let Some(o) = offset {
            pairs.push(format!("offset={o}"));
        }
        format!("/tenants?{}", pairs.join("&"))
    }
}

fn sort_rows(rows: &mut [Tenant], by: &str) {
    match by {
        "name" => rows.sort_by(|a, b| a.tenant_name.cmp(&b.tenant_name)),
        "status" => rows.sort_by(|a, b| a.status.as_str().cmp(b.status.as_str())),
        "tier" => rows.sort_by(|a, b| a.deployment_type.cmp(&b.deployment_type)),
        "cell" => rows.sort_by(|a, b| a.cell.cmp(&b.cell)),
        "health" => rows.sort_by(|a, b| health_of(b).cmp(health_of(a))),
        "-created" => rows.sort_by_key(|b| std::cmp::Reverse(b.created)),
        _ => {}
    }
}

/// The published deployment types' names, for the forms' choices; none if the API cannot say.
async fn tiers(s: &AppState) -> Vec<String> {
    s.api
        .deployment_types()
        .await
        .map(|t| t.into_iter().map(|d| d.deployment_type).collect())
        .unwrap_or_default()
}

/// `/tenants`: a page of the table. In the API's order with only a status filter, the pages
/// are the API's own (`nextToken`); a search, another filter or another order reads the
/// listing and pages it here.
async fn tenants(State(s): State<AppState>, Query(query): Query<TableQuery>) -> Response {
    let seq = s.live.last_seq();
    let status = if query.status.is_empty() {
        None
    } else {
        match Status::ALL.iter().find(|st| st.as_str() == query.status) {
            Some(st) => Some(*st),
            None => {
                return render(
                    &s,
                    seq,
                    StatusCode::BAD_REQUEST,
                    "error.html",
                    context! { title => "Error", code => "InvalidStatus", message => format!("no status {:?}", query.status) },
                );
            }
        }
    };
    let (rows, next, total) = if query.api_paged() {
        let token = (!query.page.is_empty()).then_some(query.page.as_str());
        match s.api.tenants_page(status, PAGE_SIZE, token).await {
            Ok(page) => {
                let next = page
                    .next_token
                    .as_deref()
                    .map(|t| query.link(Some(t), None));
                (page.tenants, next, None)
            }
            Err(e) => return failure(&s, &e),
        }
    } else {
        match s
            .api
            .tenants_where(status, crate::control_plane::api::MAX_LIMIT)
            .await
        {
            Ok(all) => {
                let mut kept: Vec<Tenant> = all.into_iter().filter(|t| query.keeps(t)).collect();
                sort_rows(&mut kept, &query.sort);
                let total = kept.len();
                let end = (query.offset + PAGE_SIZE).min(total);
                let next = (end < total).then(|| query.link(None, Some(end)));
                let page = kept.drain(query.offset.min(total)..end).collect::<Vec<_>>();
                (page, next, Some(total))
            }
            Err(e) => return failure(&s, &e),
        }
    };
    let tiers = tiers(&s).await;
    let ctx = context! {
        title => "Tenants",
        rows => rows.iter().map(row).collect::<Vec<_>>(),
        next,
        total,
        first => !query.page.is_empty() || query.offset > 0,
        first_link => query.link(None, None),
        query,
        statuses => Status::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        tiers,
    };
    render(&s, seq, StatusCode::OK, "tenants.html", ctx)
}

/// `/tenants/{id}`: the record, its stack, its events, drift, health, users and cost.
async fn tenant(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    tenant_page(&s, &id, None).await
}

/// An API error: its status, code and message.
pub(super) type Refusal = (StatusCode, String, String);

/// The tenant's page; with `refused`, the action the API refused, shown above the actions
/// (and the page answered with the API's status).
async fn tenant_page(s: &AppState, id: &str, refused: Option<Refusal>) -> Response {
    let seq = s.live.last_seq();
    let value = match s.api.get(&format!("/tenants/{}", query_escape(id))).await {
        Ok(v) => v,
        Err(e) => return failure(s, &e),
    };
    let t: Tenant = match decode(&value, "a tenant") {
        Ok(t) => t,
        Err(e) => return failure(s, &e),
    };
    let resources = s.api.tenant_info(id).await.map_err(|e| e.to_string());
    let outputs = stack_outputs(s, &t).await;
    let users = users(s, &t).await;
    let cost = month_cost(s).await;
    let stack_link = t.stack_id.as_ref().filter(|_| !s.local).map(|sid| {
        format!(
            "https://console.aws.amazon.com/cloudformation/home?region={}#/stacks/stackinfo?stackId={}",
            s.region,
            query_escape(sid)
        )
    });
    let alarms_link = t.stack_name.as_ref().filter(|_| !s.local).map(|name| {
        format!(
            "https://console.aws.amazon.com/cloudwatch/home?region={}#alarmsV2:?search={}",
            s.region,
            query_escape(name)
        )
    });
    let dashboard_link = (!s.local).then(|| {
        format!(
            "https://console.aws.amazon.com/cloudwatch/home?region={}#dashboards/dashboard/{}-fleet",
            s.region, s.prefix
        )
    });
    let movable = t.status == Status::Running;
    let other_tiers: Vec<String> = if movable {
        tiers(s)
            .await
            .into_iter()
            .filter(|d| *d != t.deployment_type)
            .collect()
    } else {
        Vec::new()
    };
    let status = refused.as_ref().map_or(StatusCode::OK, |r| r.0);
    let ctx = context! {
        title => t.tenant_name.clone(),
        row => row(&t),
        record => serde_json::to_string_pretty(&value).unwrap_or_default(),
        tenant => value,
        resources => resources.as_ref().ok(),
        resources_error => resources.as_ref().err(),
        outputs => outputs.as_ref().ok(),
        outputs_error => outputs.as_ref().err(),
        users => users.as_ref().ok(),
        users_error => users.as_ref().err(),
        cost => cost.as_ref().ok().map(|c| context! {
            month => c.month,
            amount => c.by_tenant.get(&t.tenant_id),
            unit => c.unit,
            estimated => c.estimated,
        }),
        cost_error => cost.as_ref().err(),
        events => s.live.recent(Some(id), 100),
        stack_link,
        alarms_link,
        dashboard_link,
        retryable => t.status == Status::Failed,
        deletable => !matches!(t.status, Status::Deleted | Status::Deleting),
        other_tiers,
        refused_status => refused.as_ref().map(|r| r.0.as_u16()),
        refused_code => refused.as_ref().map(|r| r.1.clone()),
        refused_message => refused.as_ref().map(|r| r.2.clone()),
    };
    render(s, seq, status, "tenant.html", ctx)
}

/// How long the console keeps Cost Explorer's answer: Cost Explorer updates about daily,
/// and each request costs $0.01. An error is kept a minute.
const COST_KEPT: Duration = Duration::from_secs(3600);
const COST_ERROR_KEPT: Duration = Duration::from_secs(60);

/// This month's costs so far, by tenant: asked at most once per [`COST_KEPT`].
async fn month_cost(s: &AppState) -> Result<Arc<MonthToDate>, String> {
    let mut kept = s.cost.lock().await;
    if let Some((at, cost)) = kept.as_ref() {
        let keep = if cost.is_ok() {
            COST_KEPT
        } else {
            COST_ERROR_KEPT
        };
        if at.elapsed() < keep {
            return cost.clone();
        }
    }
    let ce = aws_sdk_costexplorer::Client::new(&s.sdk);
    let cost = month_to_date(&ce, &s.prefix)
        .await
        .map(Arc::new)
        .map_err(|e| e.to_string());
    *kept = Some((Instant::now(), cost.clone()));
    cost
}

/// The tenant stack's outputs, from CloudFormation.
async fn stack_outputs(s: &AppState, t: &Tenant) -> Result<BTreeMap<String, String>, String> {
    let Some(stack) = t.stack_id.as_deref().or(t.stack_name.as_deref()) else {
        return Ok(BTreeMap::new());
    };
    let cfn = aws_sdk_cloudformation::Client::new(&s.sdk);
    let out = cfn
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| crate::aws::sdk_message(&e))?;
    Ok(out
        .stacks()
        .iter()
        .flat_map(|st| st.outputs())
        .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
        .collect())
}

/// The users of the tenant's directory, if it has one.
async fn users(s: &AppState, t: &Tenant) -> Result<Vec<Value>, String> {
    let Some(identity) = &t.identity else {
        return Ok(Vec::new());
    };
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&s.sdk);
    crate::cli::tenants::directory_users(&cognito, &identity.user_pool_id)
        .await
        .map_err(|e| e.to_string())
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct OnboardForm {
    name: String,
    tier: String,
    region: String,
    admin_email: String,
}

async fn onboard_page(s: &AppState, form: &OnboardForm, error: Option<Refusal>) -> Response {
    let seq = s.live.last_seq();
    let tiers = tiers(s).await;
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.0);
    let ctx = context! {
        title => "Onboard a tenant",
        form,
        tiers,
        error_status => error.as_ref().map(|e| e.0.as_u16()),
        error_code => error.as_ref().map(|e| e.1.clone()),
        error_message => error.as_ref().map(|e| e.2.clone()),
    };
    render(s, seq, status, "onboard.html", ctx)
}

async fn onboard_form(State(s): State<AppState>) -> Response {
    onboard_page(&s, &OnboardForm::default(), None).await
}

/// `POST /onboard`: the API's onboarding, once (its idempotency key); an error is shown on
/// the form, with what was typed kept.
async fn onboard(State(s): State<AppState>, Form(form): Form<OnboardForm>) -> Response {
    let blank = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_owned());
    let request = OnboardingRequest {
        tenant_name: form.name.clone(),
        deployment_type: blank(&form.tier).unwrap_or_else(|| "silo".to_owned()),
        region: blank(&form.region),
        admin_email: blank(&form.admin_email),
    };
    match s.api.post_once("/onboarding", body(&request)).await {
        Ok(value) => match decode::<Tenant>(&value, "a tenant") {
            Ok(t) => {
                Redirect::to(&format!("/tenants/{}", query_escape(&t.tenant_id))).into_response()
            }
            Err(e) => failure(&s, &e),
        },
        Err(e) => onboard_page(&s, &form, Some(api_error(&e))).await,
    }
}

#[derive(Debug, Deserialize)]
struct OffboardForm {
    #[serde(default)]
    confirm: String,
}

/// `POST /tenants/{id}/offboard`: only with the tenant's name typed, as the API requires.
async fn offboard(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<OffboardForm>,
) -> Response {
    let request = DeleteRequest {
        tenant_id: id.clone(),
        tenant_name: Some(form.confirm),
    };
    match s.api.post_once("/delete", body(&request)).await {
        Ok(_) => Redirect::to(&format!("/tenants/{}", query_escape(&id))).into_response(),
        Err(e) => tenant_page(&s, &id, Some(api_error(&e))).await,
    }
}

/// `POST /tenants/{id}/retry`.
async fn retry(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    let request = TenantRequest {
        tenant_id: id.clone(),
    };
    match s.api.post_once("/retry", body(&request)).await {
        Ok(_) => Redirect::to(&format!("/tenants/{}", query_escape(&id))).into_response(),
        Err(e) => tenant_page(&s, &id, Some(api_error(&e))).await,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MoveQuery {
    to: String,
}

/// `/tenants/{id}/move?to=TYPE`: the move's plan (the API's, from the change set's
/// replacement metadata), and the form that makes it, which must accept any data loss.
async fn move_plan(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<MoveQuery>,
) -> Response {
    let seq = s.live.last_seq();
    let plan = match s.api.move_plan(&id, &query.to).await {
        Ok(plan) => plan,
        Err(e) => return tenant_page(&s, &id, Some(api_error(&e))).await,
    };
    let tenant = match s.api.tenant(&id).await {
        Ok(t) => t,
        Err(e) => return failure(&s, &e),
    };
    let ctx = context! {
        title => format!("Move {} to {}", tenant.tenant_name, plan.to),
        row => row(&tenant),
        data_loss => plan.describe_data_loss(),
        loses_data => !plan.data_loss().is_empty(),
        plan,
    };
    render(&s, seq, StatusCode::OK, "move.html", ctx)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MoveForm {
    to: String,
    /// The version the plan was made for.
    version: String,
    /// Present when the operator ticked the box that accepts the data loss.
    allow_data_loss: Option<String>,
}

/// `POST /tenants/{id}/move`: the move, once (its idempotency key), at the plan's version.
async fn move_tenant(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<MoveForm>,
) -> Response {
    let version = (!form.version.is_empty()).then_some(form.version.as_str());
    match s
        .api
        .request_move(&id, &form.to, version, form.allow_data_loss.is_some())
        .await
    {
        Ok(_) => Redirect::to(&format!("/tenants/{}", query_escape(&id))).into_response(),
        Err(e) => tenant_page(&s, &id, Some(api_error(&e))).await,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EventsQuery {
    /// The last event the page has (its `data-seq` when it was rendered).
    after: u64,
}

/// `/events`: the lifecycle events after the page's last, then each as it arrives, as
/// server-sent events (`lifecycle`, the event as JSON, its `seq` the SSE id). A browser that
/// reconnects sends the last id it had (`Last-Event-ID`) and misses nothing. A page too far
/// behind, or too slow to keep up, is told to reload (`lagged`).
async fn events(
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
    Query(query): Query<EventsQuery>,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(query.after);
    let lagged = || Event::default().event("lagged").data("reload");
    let (first, receiver): (Vec<Event>, _) = match s.live.follow(after) {
        Some((missed, rx)) => (missed.iter().map(|e| lifecycle(e)).collect(), Some(rx)),
        None => (vec![lagged()], None),
    };
    let backlog = futures_util::stream::iter(first.into_iter().map(Ok));
    let live = futures_util::stream::unfold(receiver, move |rx| async move {
        let mut rx = rx?;
        let event = match rx.recv().await {
            Ok(e) => lifecycle(&e),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                return Some((Ok(lagged()), None));
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(event), Some(rx)))
    });
    Sse::new(futures_util::StreamExt::chain(backlog, live))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn lifecycle(e: &super::live::LiveEvent) -> Event {
    Event::default()
        .event("lifecycle")
        .id(e.seq.to_string())
        .data(serde_json::to_string(e).unwrap_or_default())
}

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/console.css"),
    )
        .into_response()
}

async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/console.js"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders_and_escapes_what_a_tenant_names() {
        let env = templates();
        let hostile = "<img src=x onerror=alert(1)>";
        let row = Row {
            tenant_id: "t-1".into(),
            tenant_name: hostile.into(),
            deployment_type: "silo".into(),
            cell: "home".into(),
            status: "running".into(),
            health: "ok",
            drift: "-",
            created: "2026-01-01T00:00:00Z".into(),
            version: "abc".into(),
        };
        let html = env
            .get_template("tenants.html")
            .unwrap()
            .render(context! { title => "Tenants", rows => vec![&row], query => TableQuery::default(), statuses => vec!["running"], tiers => vec!["silo"] })
            .unwrap();
        assert!(!html.contains(hostile), "{html}");
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>"), "no inline script: {html}");
        // Every other page, with a tenant's strings (its name, a reason, a resource's id)
        // hostile wherever the page shows them.
        let tenant = serde_json::json!({
            "tenantId": "t-1", "tenantName": hostile, "statusReason": hostile,
            "drift": {"status": "DRIFTED", "reason": hostile, "resources": [{"logicalResourceId": hostile}]},
            "health": {"status": "alarm", "alarms": [{"name": hostile, "state": "ALARM", "since": "1.000", "reason": hostile}]},
        });
        let event = serde_json::json!({"kind": "Tenant Failed", "tenantId": "t-1", "tenantName": hostile, "status": "failed", "reason": hostile, "at": "now", "atMs": 1});
        let plan = serde_json::json!({"tenantId": "t-1", "from": "silo", "to": "premium", "version": "abc", "changes": [{"logicalId": hostile, "type": "AWS::S3::Bucket", "action": "remove", "losesData": true}]});
        let run = serde_json::json!({"state": "running", "summary": hostile, "waveSize": 1, "maxFailures": 0, "inFlight": 0, "error": hostile,
            "waves": [{"state": "running", "upgraded": 0, "failed": 1, "took": "", "steps": [{"tenantId": "t-1", "tenantName": hostile, "deploymentType": "silo", "from": "a", "to": "b", "state": "failed", "detail": hostile}]}]});
        let ctx = context! {
            title => hostile, code => hostile, message => hostile,
            form => OnboardForm { name: hostile.into(), ..Default::default() },
            error_status => 409, error_code => hostile, error_message => hostile,
            refused_status => 409, refused_code => hostile, refused_message => hostile,
            row => &row, tenant, record => hostile, events => vec![event],
            resources => vec![serde_json::json!({"LogicalResourceId": hostile, "ResourceType": hostile})],
            outputs => BTreeMap::from([(hostile, hostile)]),
            users => vec![serde_json::json!({"email": hostile})],
            cost => context! { month => "2026-12", amount => hostile, unit => hostile },
            other_tiers => vec![hostile], deletable => true, retryable => true,
            plan, loses_data => true, data_loss => hostile,
            run, running => true, targets => vec![(hostile, hostile)],
            by_status => vec![(hostile, 1)], total => 1, prefix => hostile,
        };
        for name in [
            "fleet.html",
            "onboard.html",
            "error.html",
            "tenant.html",
            "move.html",
            "upgrade.html",
        ] {
            let html = env
                .get_template(name)
                .unwrap()
                .render(&ctx)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!html.contains(hostile), "{name}: {html}");
            assert!(
                html.contains("&lt;img src=x onerror=alert(1)&gt;"),
                "{name}: {html}"
            );
            assert!(!html.contains("<script>"), "{name}: no inline script");
        }
    }

    #[test]
    fn table_links_keep_the_filters_and_move_the_page() {
        let q = TableQuery {
            q: "a b&c".into(),
            status: "running".into(),
            ..Default::default()
        };
        assert!(!q.api_paged());
        assert_eq!(
            q.link(None, Some(50)),
            "/tenants?q=a%20b%26c&status=running&offset=50"
        );
        let q = TableQuery {
            status: "failed".into(),
            ..Default::default()
        };
        assert!(q.api_paged());
        assert_eq!(
            q.link(Some("t/k="), None),
            "/tenants?status=failed&page=t%2Fk%3D"
        );
    }
}
