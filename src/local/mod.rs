//! `silos local`: the whole control plane on one machine, against an AWS-compatible emulator.
//!
//! - **State in the emulator.** The toolkit stack and the control plane's local variant are
//!   deployed with CloudFormation through the shared deploy core, and the Lambda artifacts,
//!   tenant templates and catalog are published as `silos deploy` publishes them.
//! - **Compute in-process.** The API router is served with `axum::serve`, the stream processor
//!   feeds the provisioner, and the stack watcher feeds the stack-events handler, with the same
//!   event types the Lambda host gets (DESIGN.md section 6).

pub mod alarms;
pub mod auth;
pub mod emulator;
pub mod front_door;
pub mod jwt;
pub mod stream;
pub mod watcher;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::control_plane::events::{DetailTypes, Publisher};
use crate::control_plane::tenant::Status;
use crate::control_plane::{ControlPlane, Settings, api};
use crate::deploy::app::{Approval, Silent, deploy_stack};
use crate::deploy::{self, Clients, Deployed, LambdaZip, Publication, StackSpec, Stacks};
use crate::stacks::{
    App, Artifact, CATALOG_POINTER_KEY, CONTROL_PLANE_ARTIFACT, Config, Kind, Target,
};
use crate::synth::{self, Format};

pub use emulator::Emulator;

/// The credentials an emulator accepts, which `--require-auth` verifies signatures against.
pub use crate::aws::{EMULATOR_ACCESS_KEY, EMULATOR_SECRET_KEY};
/// How long a stack deploy may take before local mode gives up on it.
const STACK_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Clone, Debug)]
pub struct Options {
    /// The app whose stacks local mode runs.
    pub app: App,
    pub config: Config,
    pub blueprints: PathBuf,
    /// A running emulator; None starts one.
    pub endpoint_url: Option<String>,
    pub region: String,
    /// The API's port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    pub require_auth: bool,
    /// The control-plane zip to publish instead of the cargo-lambda build.
    pub lambda_zip: Option<PathBuf>,
}

/// What local mode tells its user as it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Report {
    /// A tenant's status changed (or it was created, with `from` None).
    Transition {
        tenant_id: String,
        tenant_name: String,
        from: Option<Status>,
        to: Status,
        reason: Option<String>,
    },
    /// A stack status change that the status machine does not allow for the tenant.
    Ignored {
        tenant_id: String,
        status: Status,
        stack_status: String,
    },
    /// A stream record that failed every retry; on AWS it would go to the failure queue.
    GaveUp {
        tenant_id: String,
        sequence: String,
        attempts: u32,
    },
    /// A stream record the provisioner's filter passes that cannot be made into a Lambda event
    /// record; it is not handed to the provisioner.
    Unreadable {
        tenant_id: String,
        sequence: String,
        message: String,
    },
}

pub type Reporter = Arc<dyn Fn(Report) + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Emulator(#[from] emulator::Error),
    #[error(transparent)]
    Synth(#[from] synth::Error),
    #[error(transparent)]
    Deploy(#[from] deploy::Error),
    #[error("cannot listen on 127.0.0.1:{port}: {message}")]
    Listen { port: u16, message: String },
    #[error("synth produced no {0} stack")]
    MissingStack(&'static str),
    #[error("cell {0}: {1}")]
    Cell(String, String),
}

/// What setting up the emulator did.
#[derive(Debug)]
pub struct Setup {
    /// The toolkit, the control plane, then each remote cell's stack.
    pub stacks: Vec<Deployed>,
    pub publication: Publication,
    pub zips: Vec<(String, deploy::ZipSource)>,
    pub settings: Settings,
    /// The lifecycle events' bus (`EventBusName`).
    pub event_bus: String,
}

/// Deploys the toolkit and the local control plane into the emulator and publishes the
/// artifacts, templates and catalog. Each stack goes the way `silos deploy` takes it (plan,
/// then execute: CreateStack, or an update through a change set), with no approval asked.
pub async fn setup(
    sdk: &aws_config::SdkConfig,
    config: &Config,
    output: &synth::Output,
    zips: Vec<LambdaZip>,
    region: &str,
) -> Result<Setup, Error> {
    let clients = Clients::new(sdk);
    let stacks = Stacks::new(clients.cfn.clone());
    let toolkit =
        deploy_local(&stacks, stack_spec(output, Kind::Toolkit, None, "toolkit")?).await?;
    let bucket = toolkit.output("ArtifactsBucketName")?.to_owned();
    let sources = zips
        .iter()
        .map(|z| (z.artifact.name.to_owned(), z.source.clone()))
        .collect();
    let publication = deploy::publish_app(&clients, &bucket, output, &zips).await?;
    let mut cp_spec = stack_spec(
        output,
        Kind::ControlPlane,
        Some(Target::Local),
        "control-plane-local",
    )?;
    cp_spec
        .parameters
        .insert("ArtifactsBucket".to_owned(), bucket.clone());
    let control_plane = deploy_local(&stacks, cp_spec).await?;
    let settings = settings(config, &control_plane, bucket, region)?;
    let event_bus = control_plane.output("EventBusName")?.to_owned();
    let mut stacks = vec![toolkit, control_plane];
    stacks.extend(bootstrap_cells(sdk, &clients, config, output, &zips).await?);
    Ok(Setup {
        event_bus,
        stacks,
        publication,
        zips: sources,
        settings,
    })
}

/// The stack of `kind` and `target` in synth's output, to deploy; `name` names it in the error
/// if synth produced none.
fn stack_spec(
    output: &synth::Output,
    kind: Kind,
    target: Option<Target>,
    name: &'static str,
) -> Result<StackSpec, Error> {
    let entry = output
        .manifest
        .stacks
        .iter()
        .find(|s| s.kind == kind && s.target == target)
        .ok_or(Error::MissingStack(name))?;
    let body = output
        .files
        .iter()
        .find(|f| f.name == entry.template)
        .ok_or(Error::MissingStack(name))?;
    Ok(StackSpec {
        name: entry.stack_name.clone().ok_or(Error::MissingStack(name))?,
        body: body.contents.clone(),
        url: None,
        parameters: Default::default(),
        tags: Default::default(),
    })
}

/// Deploys one stack with no approval asked and no progress shown.
async fn deploy_local(stacks: &Stacks, spec: StackSpec) -> Result<Deployed, Error> {
    let (_, deployed) =
        deploy_stack(stacks, &spec, Approval::Never, STACK_TIMEOUT, &mut Silent).await?;
    Ok(deployed)
}

/// The control plane's settings, from the local control plane's outputs.
fn settings(
    config: &Config,
    control_plane: &Deployed,
    bucket: String,
    region: &str,
) -> Result<Settings, Error> {
    Ok(Settings {
        prefix: config.prefix().to_owned(),
        tenants_table: control_plane.output("TenantsTableName")?.to_owned(),
        artifacts_bucket: bucket,
        catalog_key: CATALOG_POINTER_KEY.to_owned(),
        region: region.to_owned(),
        provisioning_role_arn: Some(control_plane.output("ProvisioningRoleArn")?.to_owned()),
        stack_wait: Duration::from_secs(60),
        catalog_ttl: Duration::from_secs(2),
    })
}

/// Bootstraps each cell in another account, in the same emulator: moto keeps an account per
/// credentials obtained with sts:AssumeRole on a role ARN of that account.
async fn bootstrap_cells(
    sdk: &aws_config::SdkConfig,
    clients: &Clients,
    config: &Config,
    output: &synth::Output,
    zips: &[LambdaZip],
) -> Result<Vec<Deployed>, Error> {
    let mut stacks = Vec::new();
    if output.cells.remote().next().is_none() {
        return Ok(stacks);
    }
    let home = deploy::cells::home(clients, config.prefix()).await?;
    for cell in output.cells.remote() {
        let cell_clients = deploy::cells::cell_config(sdk, cell, config.prefix()).await;
        let (_, deployed) = deploy::cells::bootstrap_cell(
            &cell_clients,
            output,
            zips,
            &output.cells,
            cell,
            &home,
            Approval::Never,
            STACK_TIMEOUT,
            &mut Silent,
        )
        .await?;
        stacks.push(deployed);
    }
    Ok(stacks)
}

/// The zips local mode publishes: the control plane's (given, built, or a placeholder) and
/// each tenant function's, always the few-hundred-byte placeholder: the emulator stores a copy
/// of the zip in every tenant's function and never runs it (DESIGN.md section 10).
pub fn zips(lambda_zip: Option<&PathBuf>, artifacts: &[Artifact]) -> Result<Vec<LambdaZip>, Error> {
    let control_plane = match lambda_zip {
        Some(path) => LambdaZip::read(
            CONTROL_PLANE_ARTIFACT,
            path,
            deploy::ZipSource::Given(path.clone()),
        )?,
        None => LambdaZip::built_or_placeholder(CONTROL_PLANE_ARTIFACT)?,
    };
    let mut zips = vec![control_plane];
    for artifact in artifacts
        .iter()
        .filter(|a| a.name != CONTROL_PLANE_ARTIFACT.name)
    {
        zips.push(LambdaZip {
            artifact: *artifact,
            bytes: deploy::placeholder_zip(*artifact),
            source: deploy::ZipSource::StandIn,
        });
    }
    Ok(zips)
}

/// A running local control plane. Dropping it without [`Running::stop`] still kills the
/// emulator (kill-on-drop, and the emulator dies with its parent).
pub struct Running {
    pub api_url: String,
    pub endpoint_url: String,
    pub emulator: Option<Emulator>,
    pub setup: Setup,
    pub control_plane: ControlPlane,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

/// Starts everything: the emulator (unless given), the deployed state, the API server, the
/// stream processor and the stack watcher.
pub async fn start(options: Options, reporter: Reporter) -> Result<Running, Error> {
    // Synth first: a broken blueprint fails before any process starts.
    let output = synth::synth(
        &options.app,
        &options.config,
        &options.blueprints,
        Format::Json,
    )?;
    let zips = zips(options.lambda_zip.as_ref(), &output.manifest.artifacts)?;
    let (listener, api_addr) = listen(options.port).await?;
    let emulator = match &options.endpoint_url {
        Some(_) => None,
        None => Some(Emulator::start().await?),
    };
    let endpoint_url = options
        .endpoint_url
        .clone()
        .or_else(|| emulator.as_ref().map(|e| e.endpoint.clone()))
        .unwrap_or_default();
    let sdk = crate::aws::emulator(&endpoint_url, &options.region);
    let setup = setup(&sdk, &options.config, &output, zips, &options.region).await?;
    let cp = ControlPlane::new(&sdk, setup.settings.clone());
    // A tenant's record names the front door local mode serves, not the emulator's API.
    cp.serve_front_doors_at(&format!("http://{api_addr}"));

    let (shutdown, rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    // Each running tenant's front door beside the control plane's API, outside its SigV4
    // layer: `/silo/{tenantId}/…` (front_door).
    let router = api_router(&cp, &options)
        .merge(front_door::FrontDoors::new(cp.clone(), &sdk, &endpoint_url).router());
    let in_flight = watcher::InFlight::default();
    tasks.spawn(serve(listener, router, rx.clone()));
    tasks.spawn(
        stream_processor(
            &sdk,
            &cp,
            &setup.event_bus,
            &options.config,
            &reporter,
            &in_flight,
        )
        .run(rx.clone()),
    );
    tasks.spawn(reconciler(
        cp.clone(),
        options.config.drift_interval(),
        rx.clone(),
    ));
    spawn_cell_watchers(&mut tasks, &cp, &output, &reporter, &in_flight, &rx).await?;
    tasks.spawn(
        alarms::AlarmWatcher {
            cp: cp.clone(),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&sdk),
            account: crate::aws::EMULATOR_ACCOUNT.to_owned(),
            region: options.region.clone(),
        }
        .run(rx.clone()),
    );
    tasks.spawn(
        watcher::StackWatcher {
            cp: cp.clone(),
            cfn: aws_sdk_cloudformation::Client::new(&sdk),
            // moto's account; on AWS EventBridge fills in the real one.
            account: crate::aws::EMULATOR_ACCOUNT.to_owned(),
            region: options.region.clone(),
            reporter,
            in_flight,
        }
        .run(rx),
    );
    Ok(Running {
        api_url: format!("http://{api_addr}"),
        endpoint_url,
        emulator,
        setup,
        control_plane: cp,
        shutdown,
        tasks,
    })
}

/// Binds the API's listener on 127.0.0.1 (`port` 0 picks a free one), with the address it got.
async fn listen(port: u16) -> Result<(tokio::net::TcpListener, SocketAddr), Error> {
    let listen_error = |e: std::io::Error| Error::Listen {
        port,
        message: e.to_string(),
    };
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .map_err(listen_error)?;
    let addr = listener.local_addr().map_err(listen_error)?;
    Ok((listener, addr))
}

/// The API router, each request marked with its caller: the signature's access key, verified
/// with --require-auth (the layer outside this one); unsigned requests are anonymous.
fn api_router(cp: &ControlPlane, options: &Options) -> axum::Router {
    let mut router = api::router(cp.clone()).layer(axum::middleware::map_request(
        async |mut request: axum::extract::Request| {
            let caller = auth::caller(request.headers());
            request.extensions_mut().insert(caller);
            request
        },
    ));
    if options.require_auth {
        router = router.layer(axum::middleware::from_fn_with_state(
            auth::Verifier {
                access_key: EMULATOR_ACCESS_KEY.to_owned(),
                secret_key: EMULATOR_SECRET_KEY.to_owned(),
                region: options.region.clone(),
                service: crate::aws::EXECUTE_API.to_owned(),
            },
            auth::require_sigv4,
        ));
    }
    router
}

/// Serves the API until shutdown, letting in-flight requests finish.
async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let stop = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    if let Err(e) = axum::serve(listener, router)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!(error = %e, "the API server stopped");
    }
}

/// The stream processor, feeding the provisioner and the lifecycle event publisher.
fn stream_processor(
    sdk: &aws_config::SdkConfig,
    cp: &ControlPlane,
    event_bus: &str,
    config: &Config,
    reporter: &Reporter,
    in_flight: &watcher::InFlight,
) -> stream::StreamProcessor {
    stream::StreamProcessor {
        cp: cp.clone(),
        dynamodb: aws_sdk_dynamodb::Client::new(sdk),
        streams: aws_sdk_dynamodbstreams::Client::new(sdk),
        reporter: reporter.clone(),
        in_flight: in_flight.clone(),
        publisher: Some(
            Publisher::new(
                aws_sdk_eventbridge::Client::new(sdk),
                event_bus,
                event_names(config),
            )
            .with_stack_outputs_in_cells(cp.clone()),
        ),
    }
}

/// Spawns one stack watcher and one alarm watcher per remote cell, each through the cell's own reach (its access
/// role).
async fn spawn_cell_watchers(
    tasks: &mut JoinSet<()>,
    cp: &ControlPlane,
    output: &synth::Output,
    reporter: &Reporter,
    in_flight: &watcher::InFlight,
    shutdown: &watch::Receiver<bool>,
) -> Result<(), Error> {
    for cell in output.cells.remote() {
        let reach = cp
            .reach_cell(cell)
            .await
            .map_err(|e| Error::Cell(cell.name.clone(), e.to_string()))?;
        tasks.spawn(
            watcher::StackWatcher {
                cp: cp.clone(),
                cfn: reach.unpaced().clone(),
                account: cell.account.clone().unwrap_or_default(),
                region: reach.region.clone(),
                reporter: reporter.clone(),
                in_flight: in_flight.clone(),
            }
            .run(shutdown.clone()),
        );
        if let Some(cloudwatch) = reach.cloudwatch.clone() {
            tasks.spawn(
                alarms::AlarmWatcher {
                    cp: cp.clone(),
                    cloudwatch,
                    account: cell.account.clone().unwrap_or_default(),
                    region: reach.region.clone(),
                }
                .run(shutdown.clone()),
            );
        }
    }
    Ok(())
}

/// A watcher's pause before its next look: `poll`, doubled for each of the last `errors`
/// failed looks (up to 16 times). False if local mode is stopping.
async fn poll_again(poll: Duration, errors: u32, shutdown: &mut watch::Receiver<bool>) -> bool {
    let wait = poll * 2u32.pow(errors.min(4));
    tokio::select! {
        _ = tokio::time::sleep(wait) => {}
        _ = shutdown.changed() => return false,
    }
    !*shutdown.borrow()
}

/// The app's choice of detail types (`Config::with_sbt_aws_event_names`).
fn event_names(config: &Config) -> DetailTypes {
    config.event_names().parse().unwrap_or_default()
}

/// How often the reconciler passes over the tenants, and how long a tenant must have kept its
/// status before a periodic pass touches it.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(60);
pub const RECONCILE_SETTLE: Duration = Duration::from_secs(30);

/// Repairs stuck tenants: once at startup (anything in flight was cut off by a previous run),
/// then periodically.
async fn reconciler(
    cp: ControlPlane,
    drift_interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut settle = Duration::ZERO;
    loop {
        match cp.reconcile(settle).await {
            Ok(repairs) => {
                for r in repairs {
                    tracing::info!(?r, "reconciler repaired a tenant");
                }
            }
            Err(e) => tracing::warn!(error = %e, "the reconciler pass failed; will retry"),
        }
        match cp.drift_pass(drift_interval, RECONCILE_EVERY / 2).await {
            Ok(pass) if pass.checked > 0 => tracing::info!(?pass, "drift pass"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "the drift pass failed; will retry"),
        }
        settle = RECONCILE_SETTLE;
        tokio::select! {
            _ = tokio::time::sleep(RECONCILE_EVERY) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

impl Running {
    /// Stops the server and the processors (letting in-flight work finish), then the emulator.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        let drain = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(10), drain)
            .await
            .is_err()
        {
            self.tasks.abort_all();
        }
        if let Some(emulator) = self.emulator.take() {
            emulator.stop().await;
        }
    }
}
