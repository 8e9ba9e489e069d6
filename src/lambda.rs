//! The Lambda host: the same [`ControlPlane`] as `silos local`, served through `lambda_http`
//! (the API router) or `lambda_runtime` (the provisioner, the stack-events handler, the
//! scheduled reconciler and the lifecycle event publisher). The
//! handler and every setting come from the environment the control-plane template sets; a
//! missing variable is a clear startup error.

use std::collections::BTreeSet;

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use lambda_runtime::{LambdaEvent, service_fn};

use crate::control_plane::events::{DetailTypes, Publisher};
use crate::control_plane::health::AlarmStateEvent;
use crate::control_plane::idempotency::Caller;
use crate::control_plane::stack_events::StackStatusEvent;
use crate::control_plane::{ControlPlane, MissingVariable, Settings, api};

pub use crate::functions::Handler;

/// How long a tenant keeps a transitional status before the scheduled reconciler repairs it:
/// longer than any in-flight provisioning or event delivery takes.
pub const RECONCILE_SETTLE: std::time::Duration = std::time::Duration::from_secs(600);
/// How long one reconciler run spends on the drift pass: well inside its 300 s timeout.
pub const DRIFT_PASS_BUDGET: std::time::Duration = std::time::Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Missing(#[from] MissingVariable),
    #[error(
        "SILOS_HANDLER is {given:?}; expected {}",
        Handler::ALL.map(|h| h.name()).join(", ")
    )]
    UnknownHandler { given: String },
    #[error("SILOS_EVENT_NAMES: {0}")]
    EventNames(#[from] crate::control_plane::events::UnknownDetailTypes),
    #[error("the Lambda runtime stopped: {0}")]
    Runtime(String),
    #[error("SILOS_DRIFT_INTERVAL_SECONDS is {0:?}, not a number of seconds")]
    BadDriftInterval(String),
}

/// The handler and settings from `lookup` (the environment). Records every variable it reads,
/// so a test can check the template sets exactly these.
pub fn configure(
    lookup: impl Fn(&str) -> Option<String>,
    read: &mut BTreeSet<String>,
) -> Result<(Handler, Settings), Error> {
    let mut var = |name: &'static str| {
        read.insert(name.to_owned());
        lookup(name)
    };
    let name = var("SILOS_HANDLER").ok_or(MissingVariable("SILOS_HANDLER"))?;
    let handler = Handler::parse(&name).ok_or(Error::UnknownHandler { given: name })?;
    let mut required = |name: &'static str| var(name).ok_or(MissingVariable(name));
    let settings = Settings {
        prefix: required("SILOS_PREFIX")?,
        tenants_table: required("TENANTS_TABLE")?,
        artifacts_bucket: required("ARTIFACTS_BUCKET")?,
        catalog_key: required("CATALOG_KEY")?,
        region: required("AWS_REGION")?,
        provisioning_role_arn: var("PROVISIONING_ROLE_ARN"),
        stack_wait: std::time::Duration::from_secs(600),
        catalog_ttl: std::time::Duration::from_secs(5),
    };
    if handler == Handler::Events {
        publisher_settings(var)?;
    } else if handler == Handler::Reconciler {
        drift_interval(var)?;
    }
    Ok((handler, settings))
}

/// The drift pass's interval, from `lookup` (checked by [`configure`]).
fn drift_interval(
    mut lookup: impl FnMut(&'static str) -> Option<String>,
) -> Result<std::time::Duration, Error> {
    const NAME: &str = "SILOS_DRIFT_INTERVAL_SECONDS";
    let text = lookup(NAME).ok_or(MissingVariable(NAME))?;
    text.parse()
        .map(std::time::Duration::from_secs)
        .map_err(|_| Error::BadDriftInterval(text))
}

/// The event publisher's bus and names, from `lookup` (checked by [`configure`]).
fn publisher_settings(
    mut lookup: impl FnMut(&'static str) -> Option<String>,
) -> Result<(String, DetailTypes), Error> {
    let bus = lookup("EVENT_BUS").ok_or(MissingVariable("EVENT_BUS"))?;
    let names = lookup("SILOS_EVENT_NAMES")
        .ok_or(MissingVariable("SILOS_EVENT_NAMES"))?
        .parse()?;
    Ok((bus, names))
}

/// JSON logs for CloudWatch, filtered by `RUST_LOG` (`info`, or targets such as
/// `silos=debug,info`; anything unreadable means `info`). `Targets` rather than `EnvFilter`,
/// whose regex engine would be most of a megabyte of every zip.
pub fn init_logging() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing_subscriber::filter::Targets>().ok())
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new()
                .with_default(tracing_subscriber::filter::LevelFilter::INFO)
        });
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_target(false)
                .without_time(),
        )
        .with(filter)
        .try_init();
}

/// The caller API Gateway's IAM authorizer verified: the principal's ARN (its account and
/// caller id where there is no ARN).
pub fn caller<B>(request: &http::Request<B>) -> Caller {
    use lambda_http::RequestExt;
    let iam = match request.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(c)) => {
            c.authorizer.as_ref().and_then(|a| a.iam.clone())
        }
        _ => None,
    };
    iam.and_then(|iam| {
        iam.user_arn.or_else(|| {
            Some(format!(
                "{}:{}",
                iam.account_id.unwrap_or_default(),
                iam.caller_id?
            ))
        })
    })
    .map_or_else(Caller::anonymous, Caller)
}

/// The control plane's Lambda binary, for a `main` with no runtime of its own (a user crate's
/// `src/bin/silos-lambda.rs` is `fn main() -> ExitCode { silos::lambda::main() }`).
pub fn main() -> std::process::ExitCode {
    block_on_main(run())
}

/// Runs a binary's async body on a multi-threaded runtime: its error becomes `error: …` on
/// stderr and exit code 1.
pub fn block_on_main<E: std::fmt::Display>(
    body: impl std::future::Future<Output = Result<(), E>>,
) -> std::process::ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    match runtime.map(|rt| rt.block_on(body)) {
        Ok(Ok(())) => std::process::ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

pub async fn run() -> Result<(), Error> {
    init_logging();
    let (handler, settings) = configure(|k| std::env::var(k).ok(), &mut BTreeSet::new())?;
    let config = crate::aws::load(&crate::aws::Options::default()).await;
    let cp = ControlPlane::new(&config, settings);
    let result = match handler {
        Handler::Api => {
            let router = api::router(cp).layer(axum::middleware::map_request(
                async |mut request: axum::extract::Request| {
                    let caller = caller(&request);
                    request.extensions_mut().insert(caller);
                    request
                },
            ));
            lambda_http::run(router).await
        }
        Handler::Provisioner => {
            lambda_runtime::run(service_fn(|event: LambdaEvent<StreamEvent>| {
                let cp = cp.clone();
                async move { Ok::<_, lambda_runtime::Error>(cp.handle_stream(event.payload).await) }
            }))
            .await
        }
        Handler::StackEvents => {
            lambda_runtime::run(service_fn(|event: LambdaEvent<StackStatusEvent>| {
                let cp = cp.clone();
                async move {
                    // An error makes EventBridge retry, then the dead-letter queue keeps it.
                    let handled = cp.handle_stack_event(&event.payload).await?;
                    tracing::info!(?handled, "stack event");
                    Ok::<_, lambda_runtime::Error>(())
                }
            }))
            .await
        }
        Handler::Health => {
            lambda_runtime::run(service_fn(|event: LambdaEvent<AlarmStateEvent>| {
                let cp = cp.clone();
                async move {
                    // An error makes EventBridge retry, then the dead-letter queue keeps it.
                    let handled = cp.handle_alarm_event(&event.payload).await?;
                    tracing::info!(?handled, "alarm state change");
                    Ok::<_, lambda_runtime::Error>(())
                }
            }))
            .await
        }
        Handler::Events => {
            let (bus, names) = publisher_settings(|k: &str| std::env::var(k).ok())?;
            let publisher = Publisher::new(aws_sdk_eventbridge::Client::new(&config), &bus, names)
                .with_stack_outputs_in_cells(cp.clone());
            lambda_runtime::run(service_fn(|event: LambdaEvent<StreamEvent>| {
                let publisher = publisher.clone();
                async move {
                    Ok::<_, lambda_runtime::Error>(publisher.handle_stream(event.payload).await)
                }
            }))
            .await
        }
        Handler::Reconciler => {
            let drift_interval = drift_interval(|k| std::env::var(k).ok())?;
            lambda_runtime::run(service_fn(
                |_: LambdaEvent<aws_lambda_events::event::eventbridge::EventBridgeEvent>| {
                    let cp = cp.clone();
                    async move {
                        let repairs = cp.reconcile(RECONCILE_SETTLE).await?;
                        for r in &repairs {
                            tracing::info!(?r, "repaired a tenant");
                        }
                        let pass = cp.drift_pass(drift_interval, DRIFT_PASS_BUDGET).await?;
                        if pass.checked > 0 {
                            tracing::info!(?pass, "drift pass");
                        }
                        Ok::<_, lambda_runtime::Error>(repairs.len())
                    }
                },
            ))
            .await
        }
    };
    result.map_err(|e| Error::Runtime(e.to_string()))
}
