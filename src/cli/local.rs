//! `silos local`: starts the local control plane, prints what it set up and one line per tenant
//! transition, and shuts down cleanly on Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::signals::Signals;
use super::{BlueprintsArg, Cli, Error};
use crate::local::{self, Report, Running};
use crate::stacks::{App, Config};

/// `silos local`'s flags.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The API's port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Verify SigV4 signatures (the emulator's credentials), as API Gateway's IAM auth.
    #[arg(long)]
    pub require_auth: bool,
    /// Where outputs.json is written.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    #[command(flatten)]
    pub blueprints: BlueprintsArg,
    /// The control-plane Lambda zip to publish instead of the cargo-lambda build.
    #[arg(long)]
    pub lambda_zip: Option<PathBuf>,
    /// The console's port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub console_port: u16,
    /// Serve no console.
    #[arg(long)]
    pub no_console: bool,
}

fn report(quiet: bool) -> local::Reporter {
    Arc::new(move |r: Report| {
        if quiet {
            return;
        }
        match r {
            Report::Transition {
                tenant_id,
                tenant_name,
                from,
                to,
                reason,
            } => {
                let reason = reason.map(|r| format!(": {r}")).unwrap_or_default();
                match from {
                    None => println!("tenant {tenant_name} ({tenant_id}): created, {to}{reason}"),
                    Some(from) => {
                        println!("tenant {tenant_name} ({tenant_id}): {from} -> {to}{reason}")
                    }
                }
            }
            Report::Ignored {
                tenant_id,
                status,
                stack_status,
            } => println!(
                "tenant {tenant_id}: stack status {stack_status} ignored, the tenant is {status}"
            ),
            Report::GaveUp {
                tenant_id,
                sequence,
                attempts,
            } => eprintln!(
                "warning: gave up on the stream record {sequence} of tenant {tenant_id} after {attempts} attempts (on AWS it goes to the failure queue)"
            ),
            Report::Unreadable {
                tenant_id,
                sequence,
                message,
            } => eprintln!(
                "error: the stream record {sequence} of tenant {tenant_id} cannot be read as a Lambda event record, so it was not processed: {message}"
            ),
        }
    })
}

/// `silos local`: starts the local control plane, says what it set up, writes outputs.json,
/// and runs until a signal.
pub async fn run(cli: &Cli, app: &App, config: Config, args: Args) -> Result<(), Error> {
    let started = Instant::now();
    // Handlers first: a signal that comes as soon as "ready" is printed must find them.
    let mut signals = Signals::install()?;
    let options = local::Options {
        app: app.clone(),
        config,
        blueprints: args.blueprints.blueprints,
        endpoint_url: cli.endpoint_url.clone(),
        region: cli.region.clone().unwrap_or_else(|| "us-east-1".to_owned()),
        port: args.port,
        require_auth: args.require_auth,
        lambda_zip: args.lambda_zip,
    };
    let region = options.region.clone();
    let running = local::start(options, report(cli.quiet)).await?;
    let say = |line: String| {
        if !cli.quiet {
            println!("{line}");
        }
    };
    show_setup(&running, &say);
    let outputs = local_outputs(&running, &region, args.require_auth);
    let path = match super::outputs::write_outputs(&args.out, &outputs) {
        Ok(path) => path,
        Err(e) => {
            running.stop().await;
            return Err(e);
        }
    };
    say(format!("wrote {}", path.display()));
    say(format!(
        "API: {} ({})",
        running.api_url,
        if args.require_auth {
            "SigV4 required"
        } else {
            "unsigned requests accepted"
        }
    ));
    let console = if args.no_console {
        None
    } else {
        match start_console(cli, &running, &region, args.console_port).await {
            Ok(console) => {
                say(format!("console: {}", console.url));
                Some(console)
            }
            Err(e) => {
                running.stop().await;
                return Err(e);
            }
        }
    };
    say(format!(
        "ready in {:.1} s; Ctrl-C to stop",
        started.elapsed().as_secs_f64()
    ));

    signals.wait().await;
    say("stopping".to_owned());
    if let Some(console) = console {
        console.stop().await;
    }
    running.stop().await;
    say("stopped".to_owned());
    Ok(())
}

/// The console of the local control plane: its API, signed with the emulator's credentials,
/// and the emulator for the events, the directories and Cost Explorer.
async fn start_console(
    cli: &Cli,
    running: &Running,
    region: &str,
    port: u16,
) -> Result<super::console::Console, Error> {
    let signing = super::client::Signing {
        credentials: aws_credential_types::Credentials::new(
            crate::aws::EMULATOR_ACCESS_KEY,
            crate::aws::EMULATOR_SECRET_KEY,
            None,
            None,
            "silos-local",
        ),
        region: region.to_owned(),
    };
    let sources = super::console::Sources {
        api: super::client::ApiClient::new(&running.api_url, Some(signing))?,
        sdk: crate::aws::emulator(&running.endpoint_url, region),
        prefix: cli.prefix.clone(),
        region: region.to_owned(),
        local: true,
    };
    super::console::start(sources, port).await
}

/// What starting set up: the emulator, the artifacts, the stacks and the publication.
fn show_setup(running: &Running, say: &impl Fn(String)) {
    match &running.emulator {
        Some(e) => say(format!(
            "emulator: moto (pid {}, {}) at {}",
            e.pid,
            e.python.display(),
            e.endpoint
        )),
        None => say(format!("emulator: {} (given)", running.endpoint_url)),
    }
    for (artifact, source) in &running.setup.zips {
        say(format!("artifact {artifact}: {source}"));
    }
    for s in &running.setup.stacks {
        say(format!("stack {}: {}", s.name, s.outcome));
    }
    let p = &running.setup.publication;
    say(format!(
        "published to s3://{}: {} objects, {} uploaded, catalog {}",
        p.bucket,
        p.objects.len(),
        p.uploaded(),
        p.catalog_key
    ));
}

/// What outputs.json records of the local control plane: its API, the emulator, and every
/// stack's outputs.
fn local_outputs(running: &Running, region: &str, require_auth: bool) -> super::outputs::Outputs {
    let settings = &running.setup.settings;
    super::outputs::Outputs {
        mode: "local".to_owned(),
        prefix: settings.prefix.clone(),
        region: region.to_owned(),
        api_url: Some(running.api_url.clone()),
        endpoint_url: Some(running.endpoint_url.clone()),
        artifacts_bucket: settings.artifacts_bucket.clone(),
        tenants_table: Some(settings.tenants_table.clone()),
        provisioning_role_arn: settings.provisioning_role_arn.clone(),
        require_auth: Some(require_auth),
        stacks: running
            .setup
            .stacks
            .iter()
            .map(|s| (s.name.clone(), s.outputs.clone()))
            .collect(),
    }
}
