//! The console's pages and actions: each a handler that asks the tenant API and renders a
//! template. Every action is a plain HTML form (the pages work without JavaScript); an API
//! error comes back on the form that caused it.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

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
use crate::cli::client::{ClientError, body, decode, query_escape};
use crate::control_plane::api::{DeleteRequest, OnboardingRequest, TenantRequest};
use crate::control_plane::tenant::{Status, Tenant};

/// Rows per page of the tenants table.
pub const PAGE_SIZE: usize = 50;

pub fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("fleet.html", include_str!("templates/fleet.html")),
        ("tenants.html", include_str!("templates/tenants.html")),
        ("tenant.html", include_str!("templates/tenant.html")),
        ("onboard.html", include_str!("templates/onboard.html")),
        ("error.html", include_str!("templates/error.html")),
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
        .route("/onboard", get(onboard_form).post(onboard))
        .route("/events", get(events))
        .route("/assets/console.css", get(css))
        .route("/assets/console.js", get(js))
}

fn render(s: &AppState, status: StatusCode, name: &str, ctx: minijinja::Value) -> Response {
    match s.templates.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, template = name, "cannot render");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot render the page").into_response()
        }
    }
}

/// An API error as a page: the API's status, code and message.
fn failure(s: &AppState, e: &ClientError) -> Response {
    let (status, code, message) = api_error(e);
    render(
        s,
        status,
        "error.html",
        context! { title => "Error", code, message },
    )
}

fn api_error(e: &ClientError) -> (StatusCode, String, String) {
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
        created: t.created.to_string(),
        version: crate::fleet::short(t.version.as_deref()).to_owned(),
    }
}

/// `/`: the fleet's counts by status, tier, cell, health and drift, and the latest events.
async fn fleet(State(s): State<AppState>) -> Response {
    let all = match s.api.tenants().await {
        Ok(all) => all,
        Err(e) => return failure(&s, &e),
    };
    let live: Vec<Tenant> = all
        .into_iter()
        .filter(|t| t.status != Status::Deleted)
        .collect();
    let ctx = context! {
        title => "Fleet",
        total => live.len(),
        by_status => counts(live.iter().map(|t| t.status.as_str())),
        by_tier => counts(live.iter().map(|t| t.deployment_type.as_str())),
        by_cell => counts(live.iter().map(|t| t.cell.as_deref().unwrap_or("-"))),
        by_health => counts(live.iter().map(health_of)),
        by_drift => counts(live.iter().map(drift_of)),
        events => s.live.recent(None, 20),
        prefix => s.prefix,
    };
    render(&s, StatusCode::OK, "fleet.html", ctx)
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
    let status = if query.status.is_empty() {
        None
    } else {
        match Status::ALL.iter().find(|st| st.as_str() == query.status) {
            Some(st) => Some(*st),
            None => {
                return render(
                    &s,
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
    render(&s, StatusCode::OK, "tenants.html", ctx)
}

/// `/tenants/{id}`: the record, its stack, its events, drift, health, users and cost.
async fn tenant(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    let value = match s.api.get(&format!("/tenants/{}", query_escape(&id))).await {
        Ok(v) => v,
        Err(e) => return failure(&s, &e),
    };
    let t: Tenant = match decode(&value, "a tenant") {
        Ok(t) => t,
        Err(e) => return failure(&s, &e),
    };
    let resources = match s.api.tenant_info(&id).await {
        Ok(r) => Ok(r),
        Err(e) => Err(e.to_string()),
    };
    let outputs = stack_outputs(&s, &t).await;
    let users = users(&s, &t).await;
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
        events => s.live.recent(Some(&id), 100),
        stack_link,
        alarms_link,
        dashboard_link,
        retryable => t.status == Status::Failed,
        deletable => !matches!(t.status, Status::Deleted | Status::Deleting),
    };
    render(&s, StatusCode::OK, "tenant.html", ctx)
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

async fn onboard_page(
    s: &AppState,
    form: &OnboardForm,
    error: Option<(StatusCode, String, String)>,
) -> Response {
    let tiers = tiers(s).await;
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.0);
    let ctx = context! {
        title => "Onboard a tenant",
        form,
        tiers,
        error_code => error.as_ref().map(|e| e.1.clone()),
        error_message => error.as_ref().map(|e| e.2.clone()),
    };
    render(s, status, "onboard.html", ctx)
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
        Err(e) => failure(&s, &e),
    }
}

/// `POST /tenants/{id}/retry`.
async fn retry(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    let request = TenantRequest {
        tenant_id: id.clone(),
    };
    match s.api.post_once("/retry", body(&request)).await {
        Ok(_) => Redirect::to(&format!("/tenants/{}", query_escape(&id))).into_response(),
        Err(e) => failure(&s, &e),
    }
}

/// `/events`: the lifecycle events as they arrive, as server-sent events (`lifecycle`, the
/// event as JSON). A page too slow to keep up is told to reload (`lagged`).
async fn events(
    State(s): State<AppState>,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    let receiver = s.live.subscribe();
    let stream = futures_util::stream::unfold(receiver, |mut rx| async move {
        let event = match rx.recv().await {
            Ok(e) => Event::default()
                .event("lifecycle")
                .data(serde_json::to_string(&*e).unwrap_or_default()),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                Event::default().event("lagged").data(n.to_string())
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(event), rx))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
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
        for name in ["fleet.html", "onboard.html", "error.html"] {
            env.get_template(name)
                .unwrap()
                .render(context! { title => hostile, message => hostile, form => OnboardForm { name: hostile.into(), ..Default::default() } })
                .unwrap_or_else(|e| panic!("{name}: {e}"));
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
