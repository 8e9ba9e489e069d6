//! `silos console` (and `silos local`'s): the fleet's page, served on 127.0.0.1 only.
//!
//! The page is rendered on the server (minijinja, templates and assets embedded in the binary)
//! from the tenant API, which it calls through silos's own signing client with the operator's
//! credentials: no credential reaches the browser. Lifecycle events reach open pages as
//! server-sent events from one subscription of the console's own ([`live`]).
//!
//! It is a local server that can delete tenants, so every request passes [`guard`]:
//! - the Host header must name this server (against DNS rebinding);
//! - the printed token must come with it, in the URL once, then in a `SameSite=Strict` cookie;
//! - a POST must carry this server's Origin (against cross-site requests);
//! - every answer has a Content-Security-Policy that allows no inline script.

mod live;
mod upgrade;
mod views;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq;
use tokio::sync::watch;

use super::Error;
use super::client::ApiClient;

/// `silos console`'s flags.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The API URL; else SILOS_API_URL, out/outputs.json, then the deployed stack's output.
    #[arg(long, env = "SILOS_API_URL")]
    pub api_url: Option<String>,
    /// The port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8081)]
    pub port: u16,
}

/// What the console reads and acts through.
pub struct Sources {
    pub api: ApiClient,
    /// For the events subscription, the directories and Cost Explorer.
    pub sdk: aws_config::SdkConfig,
    pub prefix: String,
    pub region: String,
    /// The emulator's endpoint in local mode: links then point nowhere on AWS.
    pub local: bool,
}

/// A console being served.
pub struct Console {
    /// The page's address with its token: what the operator opens.
    pub url: String,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    counts: tokio::task::JoinHandle<()>,
    live: Arc<live::Hub>,
}

impl Console {
    /// Stops serving and removes the events subscription.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        self.counts.abort();
        self.live.close().await;
    }
}

/// The name of the token's cookie, per port: two consoles on one machine keep their own.
fn cookie_name(port: u16) -> String {
    format!("silos_console_{port}")
}

pub(crate) struct Shared {
    pub api: Arc<ApiClient>,
    pub sdk: aws_config::SdkConfig,
    pub prefix: String,
    pub region: String,
    pub local: bool,
    pub token: String,
    pub port: u16,
    pub templates: minijinja::Environment<'static>,
    pub live: Arc<live::Hub>,
    /// This month's costs, and when Cost Explorer was asked (see `views::month_cost`).
    pub cost: tokio::sync::Mutex<Option<CostAnswer>>,
    pub runs: upgrade::Runs,
    /// Held while the fleet's listing is read for its counts.
    pub fleet_read: tokio::sync::Mutex<()>,
}

pub(crate) type CostAnswer = (
    std::time::Instant,
    Result<Arc<super::tenants::cost::MonthToDate>, String>,
);

pub(crate) type AppState = Arc<Shared>;

/// A fresh token: 244 bits from the system's random source (the random bits of two v4
/// UUIDs), as 64 hex digits.
fn new_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Binds 127.0.0.1:`port`, subscribes to the lifecycle events, and serves the console.
pub async fn start(sources: Sources, port: u16) -> Result<Console, Error> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .map_err(|e| Error::Usage(format!("cannot serve the console on 127.0.0.1:{port}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Usage(format!("cannot serve the console: {e}")))?;
    let bus = format!("{}-events", sources.prefix);
    let live = Arc::new(live::Hub::start(&sources.sdk, &bus).await?);
    let token = new_token();
    let shared = Arc::new(Shared {
        api: Arc::new(sources.api),
        sdk: sources.sdk,
        prefix: sources.prefix,
        region: sources.region,
        local: sources.local,
        token: token.clone(),
        port: addr.port(),
        templates: views::templates(),
        live: live.clone(),
        cost: tokio::sync::Mutex::new(None),
        runs: upgrade::Runs::default(),
        fleet_read: tokio::sync::Mutex::new(()),
    });
    let counts = tokio::spawn(views::keep_fleet(shared.clone()));
    let router = views::router()
        .merge(upgrade::router())
        .layer(axum::middleware::from_fn_with_state(shared.clone(), guard))
        .with_state(shared);
    let (shutdown, mut stop) = watch::channel(false);
    let task = tokio::spawn(async move {
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::error!(error = %e, "the console stopped serving");
        }
    });
    Ok(Console {
        url: format!("http://127.0.0.1:{}/?token={token}", addr.port()),
        shutdown,
        task,
        counts,
        live,
    })
}

/// The hosts this server answers to: its own address, by IP or as localhost.
fn allowed_host(host: &str, port: u16) -> bool {
    host == format!("127.0.0.1:{port}") || host == format!("localhost:{port}")
}

/// A refusal: plain text, so nothing of the request is echoed into a page.
fn refuse(status: StatusCode, why: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        why,
    )
        .into_response()
}

/// The `token` query parameter, if the URL has one.
fn query_token(request: &Request) -> Option<String> {
    request.uri().query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "token").then(|| v.to_owned())
    })
}

fn cookie_token(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == name).then(|| v.to_owned())
        })
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The checks every request passes, then the security headers on every answer.
async fn guard(State(s): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = check(&s, request, next).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // Not `no-referrer`: under it Chromium sends `Origin: null` on a same-origin form
        // POST, which the Origin check must then refuse. No Referer leaves this origin.
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn check(s: &Shared, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if !allowed_host(host, s.port) {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "refused: this console answers only to 127.0.0.1 and localhost on its own port",
        );
    }
    let cookie = cookie_name(s.port);
    if let Some(given) = query_token(&request) {
        if !same(&given, &s.token) {
            return refuse(StatusCode::FORBIDDEN, "refused: a wrong token");
        }
        // The token moves from the URL into a cookie, and the URL loses it (as Jupyter does),
        // so it is neither in the history nor in a link's Referer.
        if request.method() == Method::GET {
            let path = request.uri().path().to_owned();
            let mut response = Redirect::to(&path).into_response();
            if let Ok(value) = HeaderValue::from_str(&format!(
                "{cookie}={}; HttpOnly; SameSite=Strict; Path=/",
                s.token
            )) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            return response;
        }
    } else if !cookie_token(request.headers(), &cookie).is_some_and(|t| same(&t, &s.token)) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "refused: no token. Open the URL that `silos console` printed, with its ?token=",
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .and_then(|o| o.strip_prefix("http://"));
        if !origin.is_some_and(|o| allowed_host(o, s.port) && o == host) {
            return refuse(
                StatusCode::FORBIDDEN,
                "refused: a change must come from this console's own page (Origin)",
            );
        }
    }
    next.run(request).await
}

/// `silos console`: serves the console for the API found as `silos tenants` finds it, until
/// a signal.
pub async fn run(cli: &super::Cli, api_url: Option<&str>, args: &Args) -> Result<(), Error> {
    let mut signals = super::signals::Signals::install()?;
    let api = super::tenants::client(cli, api_url).await?;
    let mut options = cli.aws_options();
    let outputs =
        super::outputs::Outputs::read(std::path::Path::new(super::outputs::OUTPUTS_FILE))?;
    let local = outputs.as_ref().is_some_and(|o| o.mode == "local");
    if options.endpoint_url.is_none()
        && let Some(o) = outputs.filter(|o| o.mode == "local")
    {
        options.endpoint_url = o.endpoint_url;
    }
    let sdk = crate::aws::load(&options).await;
    let region = cli
        .region
        .clone()
        .or_else(|| sdk.region().map(|r| r.to_string()))
        .unwrap_or_else(|| "us-east-1".to_owned());
    let console = start(
        Sources {
            api,
            sdk,
            prefix: cli.prefix.clone(),
            region,
            local,
        },
        args.port,
    )
    .await?;
    println!("console: {}", console.url);
    println!("serving on 127.0.0.1 only; Ctrl-C to stop");
    signals.wait().await;
    console.stop().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_this_servers_own() {
        assert!(allowed_host("127.0.0.1:8081", 8081));
        assert!(allowed_host("localhost:8081", 8081));
        assert!(!allowed_host("127.0.0.1:8082", 8081));
        assert!(!allowed_host("evil.example:8081", 8081));
        assert!(!allowed_host("127.0.0.1", 8081));
        assert!(!allowed_host("localhost.evil.example:8081", 8081));
    }

    #[test]
    fn tokens_compare_whole() {
        let t = new_token();
        assert_eq!(t.len(), 64);
        assert!(same(&t, &t.clone()));
        assert!(!same(&t, &t[..63]));
        assert!(!same(&t, &new_token()));
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; silos_console_9=abc; b=2"),
        );
        assert_eq!(cookie_token(&h, "silos_console_9").as_deref(), Some("abc"));
        assert_eq!(cookie_token(&h, "silos_console_8"), None);
    }
}
