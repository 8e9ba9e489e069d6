//! `silos deploy`, `silos diff` and `silos destroy`: the deployer's commands, with summaries,
//! approval prompts and progress on the terminal.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{ApprovalArg, BlueprintsArg, Cli, Error, OutputFormat};
use crate::control_plane::tenant::{Status, Tenant};
use crate::deploy::app::{self, Approval, ApprovalReason, Ui};
use crate::deploy::changeset::{Plan, PlanSummary};
use crate::deploy::diff::{self, Change, Replacement};
use crate::deploy::{self, Clients, LambdaZip, StackSpec, Stacks, ZipSource};
use crate::stacks::{App, Artifact, CONTROL_PLANE_ARTIFACT, Config, TENANT_ARTIFACT};
use crate::synth::{self, Format};

/// Deploy's terminal: summaries, progress lines, and the approval question.
struct Terminal {
    yes: bool,
    quiet: bool,
    color: bool,
    policy: Approval,
}

fn summary(plan: &Plan) -> String {
    let (mut add, mut modify, mut replace, mut may, mut remove) = (0, 0, 0, 0, 0);
    for r in &plan.diff.resources {
        match &r.change {
            Change::Added => add += 1,
            Change::Removed { .. } => remove += 1,
            Change::Modified { replacement, .. } => {
                modify += 1;
                match replacement {
                    Replacement::Always => replace += 1,
                    Replacement::Conditional => may += 1,
                    Replacement::Never => {}
                }
            }
        }
    }
    format!(
        "{}: {add} to add, {modify} to modify ({replace} by replacement{}), {remove} to remove",
        plan.stack,
        if may > 0 {
            format!(", {may} may replace")
        } else {
            String::new()
        }
    )
}

/// A plan on the terminal: "no changes", or its summary line and the coloured diff.
fn show(plan: &Plan, color: bool) {
    if plan.unchanged {
        println!("{}: no changes", plan.stack);
        return;
    }
    println!("{}", summary(plan));
    print!("{}", diff::render(&plan.diff, color));
}

impl Ui for Terminal {
    fn line(&mut self, line: &str) {
        if !self.quiet {
            println!("  {line}");
        }
    }

    fn plan(&mut self, plan: &Plan) {
        if !self.quiet {
            show(plan, self.color);
        }
    }

    fn approve(&mut self, plan: &Plan) -> Result<bool, deploy::Error> {
        if self.yes {
            return Ok(true);
        }
        let why = ApprovalReason::of(self.policy, plan);
        if !std::io::stdin().is_terminal() {
            return Err(deploy::Error::NoTerminal {
                stack: plan.stack.clone(),
                reason: why,
            });
        }
        print!(
            "{} needs approval because {why}. Deploy it? [y/N] ",
            plan.stack
        );
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
    }
}

/// The zip of `artifact` that deploy publishes: the one given, else a cargo-lambda build
/// (incremental when one exists). Never the labelled placeholder, whose `bootstrap` only exits
/// 1: a real function must run.
fn artifact_zip(
    artifact: Artifact,
    given: Option<&PathBuf>,
    chatter: Chatter,
) -> Result<LambdaZip, Error> {
    let zip = match given {
        Some(path) => LambdaZip::read(artifact, path, ZipSource::Given(path.clone()))?,
        None => build(artifact, chatter)?,
    };
    if zip.is_placeholder() {
        return Err(Error::Usage(format!(
            "{} is the labelled placeholder for {}, which only exits 1 and is never published: build the real one with `{}`",
            zip.source,
            artifact.binary,
            deploy::build_command(artifact)
        )));
    }
    Ok(zip)
}

/// Where deploy's progress text goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Chatter {
    /// `--quiet`: nowhere.
    Quiet,
    Stdout,
    /// Stdout holds JSON (`--dry-run --output json`): stderr, the build's output too.
    Stderr,
}

fn build(artifact: Artifact, chatter: Chatter) -> Result<LambdaZip, Error> {
    let venv = Path::new(".venv/bin");
    let mut path = std::env::var_os("PATH").unwrap_or_default();
    if venv.is_dir() {
        let mut dirs = vec![venv.canonicalize().unwrap_or(venv.to_owned())];
        dirs.extend(std::env::split_paths(&path));
        path = std::env::join_paths(dirs).unwrap_or(path);
    }
    let building = format!(
        "building {} with cargo-lambda (a cold release build takes minutes)",
        artifact.binary
    );
    let mut command = std::process::Command::new("cargo");
    match chatter {
        Chatter::Quiet => {}
        Chatter::Stdout => println!("{building}"),
        Chatter::Stderr => {
            eprintln!("{building}");
            command.stdout(std::io::stderr());
        }
    }
    let status = command
        .args(deploy::build_args(artifact))
        .env("PATH", path)
        .status()
        .map_err(Error::CargoLambda)?;
    if !status.success() {
        return Err(Error::BuildFailed {
            command: deploy::build_command(artifact),
            flag: if artifact.name == CONTROL_PLANE_ARTIFACT.name {
                "lambda-zip"
            } else {
                "tenant-zip"
            },
        });
    }
    let built = deploy::find_lambda_zip(artifact.binary)
        .ok_or_else(|| Error::NoZipBuilt(deploy::build_command(artifact)))?;
    Ok(LambdaZip::read(
        artifact,
        &built,
        ZipSource::Built(built.clone()),
    )?)
}

async fn region(cli: &Cli, sdk: &aws_config::SdkConfig) -> Result<String, Error> {
    cli.region
        .clone()
        .or_else(|| sdk.region().map(|r| r.to_string()))
        .ok_or_else(|| Error::Usage("no region: pass --region or set AWS_REGION".to_owned()))
}

/// `silos deploy`'s flags.
#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    /// Approve every change without asking.
    #[arg(long)]
    pub yes: bool,
    /// Which changes need approval.
    #[arg(long, value_enum, default_value = "broadening")]
    pub require_approval: ApprovalArg,
    /// The control-plane zip to publish, instead of building it with cargo-lambda.
    #[arg(long)]
    pub lambda_zip: Option<PathBuf>,
    /// The tenant function's zip to publish, instead of building it with cargo-lambda.
    #[arg(long)]
    pub tenant_zip: Option<PathBuf>,
    /// Where the templates and outputs.json are written.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    #[command(flatten)]
    pub blueprints: BlueprintsArg,
    /// Seconds each stack operation may take.
    #[arg(long, default_value = "1800", value_parser = super::seconds)]
    pub timeout: Duration,
    /// Print what deploy would do to each stack, and change nothing.
    ///
    /// The plan: per stack, create, update or nothing, and each resource change with whether
    /// it replaces the resource. With --output json, the plan as JSON.
    #[arg(long)]
    pub dry_run: bool,
}

/// `silos deploy`: synth, the artifacts, then the toolkit and the control plane through change
/// sets (or, with `--dry-run`, their plans), then each remote cell's copy of the artifacts.
pub async fn deploy(cli: &Cli, app: &App, config: &Config, args: &DeployArgs) -> Result<(), Error> {
    let sdk = crate::aws::load(&cli.aws_options()).await;
    let region = region(cli, &sdk).await?;
    let output = synth::synth(app, config, &args.blueprints.blueprints, Format::Json)?;
    let json = cli.output == OutputFormat::Json;
    let chatter = if cli.quiet {
        Chatter::Quiet
    } else if args.dry_run && json {
        Chatter::Stderr
    } else {
        Chatter::Stdout
    };
    if !args.dry_run {
        synth::write(&args.out, &output)?;
    }
    let zips = deploy_zips(&output, args, chatter)?;
    let options = app::Options {
        approval: args.require_approval.into(),
        timeout: args.timeout,
        region: region.clone(),
    };
    if args.dry_run {
        let plans = app::plan_app(&Clients::new(&sdk), &output, &zips, &options).await?;
        show_dry_run(cli, &plans);
        return Ok(());
    }
    let mut ui = Terminal {
        yes: args.yes,
        quiet: cli.quiet,
        color: super::colour(&std::io::stdout()),
        policy: args.require_approval.into(),
    };
    let report = app::deploy_app(&Clients::new(&sdk), &output, &zips, &options, &mut ui).await?;
    let outputs = deployed_outputs(config, &region, &report);
    let path = super::outputs::write_outputs(&args.out, &outputs)?;
    publish_to_cells(cli, &sdk, config, &output, &zips).await?;
    if !cli.quiet {
        for s in &report.stacks {
            println!("{}: {}", s.name, s.outcome);
            for (k, v) in &s.outputs {
                println!("  {k} = {v}");
            }
        }
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Every artifact the app's stacks name: the control plane's, and each tenant function; each
/// said with where its zip came from.
fn deploy_zips(
    output: &synth::Output,
    args: &DeployArgs,
    chatter: Chatter,
) -> Result<Vec<LambdaZip>, Error> {
    let mut zips = Vec::new();
    for artifact in &output.manifest.artifacts {
        let given = if artifact.name == CONTROL_PLANE_ARTIFACT.name {
            args.lambda_zip.as_ref()
        } else if artifact.name == TENANT_ARTIFACT.name {
            args.tenant_zip.as_ref()
        } else {
            None
        };
        zips.push(artifact_zip(*artifact, given, chatter)?);
    }
    for z in &zips {
        match chatter {
            Chatter::Quiet => {}
            Chatter::Stdout => println!("artifact {}: {}", z.artifact.name, z.source),
            Chatter::Stderr => eprintln!("artifact {}: {}", z.artifact.name, z.source),
        }
    }
    Ok(zips)
}

/// `--dry-run`'s plans: as JSON, or each stack's summary and diff.
fn show_dry_run(cli: &Cli, plans: &[Plan]) {
    if cli.output == OutputFormat::Json {
        let stacks: Vec<PlanSummary> = plans.iter().map(Plan::summary).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "stacks": stacks })).unwrap_or_default()
        );
    } else if !cli.quiet {
        let color = super::colour(&std::io::stdout());
        for plan in plans {
            show(plan, color);
        }
        println!("dry run: nothing was published or deployed");
    }
}

/// What outputs.json records of a deploy: the control plane's API and table, and every
/// stack's outputs.
fn deployed_outputs(
    config: &Config,
    region: &str,
    report: &app::Report,
) -> super::outputs::Outputs {
    let control_plane = &report.stacks[1];
    super::outputs::Outputs {
        mode: "aws".to_owned(),
        prefix: config.prefix().to_owned(),
        region: region.to_owned(),
        api_url: control_plane.outputs.get("ApiUrl").cloned(),
        artifacts_bucket: report.publication.bucket.clone(),
        tenants_table: control_plane.outputs.get("TenantsTableName").cloned(),
        stacks: report
            .stacks
            .iter()
            .map(|s| (s.name.clone(), s.outputs.clone()))
            .collect(),
        ..Default::default()
    }
}

/// The cells' copies of the tenant templates and zips, which a new tenant zip or template
/// changes: a cell must hold every key the published catalog names. A cell not bootstrapped
/// yet is skipped, and said.
async fn publish_to_cells(
    cli: &Cli,
    sdk: &aws_config::SdkConfig,
    config: &Config,
    output: &synth::Output,
    zips: &[LambdaZip],
) -> Result<(), Error> {
    for cell in output.cells.remote() {
        let clients = deploy::cells::cell_config(sdk, cell, config.prefix()).await;
        let stacks = Stacks::new(clients.cfn.clone());
        let bucket = stacks
            .outputs(&cell.stack_name(config.prefix()))
            .await
            .ok()
            .flatten()
            .and_then(|mut o| o.remove("ArtifactsBucketName"));
        let Some(bucket) = bucket else {
            if !cli.quiet {
                println!(
                    "cell {}: not bootstrapped yet; tenants placed there fail until `silos cells bootstrap` deploys it",
                    cell.name
                );
            }
            continue;
        };
        let objects = deploy::cells::publish_to_cell(&clients, &bucket, output, zips).await?;
        if !cli.quiet {
            println!(
                "cell {}: s3://{bucket}: {} objects, {} uploaded",
                cell.name,
                objects.len(),
                objects.iter().filter(|o| o.uploaded).count()
            );
        }
    }
    Ok(())
}

/// Synthesized templates against the deployed ones. Returns whether anything differs.
pub async fn diff(cli: &Cli, app: &App, config: &Config, blueprints: &Path) -> Result<bool, Error> {
    let sdk = crate::aws::load(&cli.aws_options()).await;
    let output = synth::synth(app, config, blueprints, Format::Json)?;
    let stacks = Stacks::new(Clients::new(&sdk).cfn);
    let color = super::colour(&std::io::stdout());
    let mut any = false;
    for entry in output
        .manifest
        .stacks
        .iter()
        .filter(|s| s.target != Some(crate::stacks::Target::Local))
    {
        let Some(name) = &entry.stack_name else {
            continue;
        };
        let body = output
            .files
            .iter()
            .find(|f| f.name == entry.template)
            .map(|f| f.contents.clone())
            .unwrap_or_default();
        let spec = StackSpec {
            name: name.clone(),
            body,
            url: None,
            parameters: Default::default(),
            tags: Default::default(),
        };
        let plan = stacks
            .plan(&spec, Instant::now() + Duration::from_secs(60))
            .await?;
        any |= !plan.diff.is_empty();
        if !cli.quiet {
            if !plan.exists {
                println!("stack {name} is not deployed");
            }
            print!("{}", diff::render(&plan.diff, color));
        }
    }
    Ok(any)
}

/// `silos destroy`'s flags.
#[derive(Debug, clap::Args)]
pub struct DestroyArgs {
    /// Offboard every tenant first, and wait until they are deleted.
    #[arg(long)]
    pub with_tenants: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// Delete the toolkit stack too.
    #[arg(long)]
    pub all: bool,
    /// The control-plane API, to find and offboard tenants.
    #[arg(long, env = "SILOS_API_URL")]
    pub api_url: Option<String>,
    /// Seconds the whole destroy may take.
    #[arg(long, default_value = "1800", value_parser = super::seconds)]
    pub timeout: Duration,
}

fn confirm(yes: bool, what: &str) -> Result<(), Error> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage(format!(
            "{what}: there is no terminal to confirm it; rerun with --yes"
        )));
    }
    print!("{what}. Continue? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Error::NotConfirmed)
    }
}

/// Prints `line` unless `--quiet`.
fn say(cli: &Cli, line: &str) {
    if !cli.quiet {
        println!("{line}");
    }
}

/// `silos destroy`: offboards the tenants (with `--with-tenants`), then deletes the control
/// plane (and with `--all` the toolkit), and says what is kept on purpose.
pub async fn destroy(cli: &Cli, config: &Config, args: &DestroyArgs) -> Result<(), Error> {
    let sdk = crate::aws::load(&cli.aws_options()).await;
    let stacks = Stacks::new(Clients::new(&sdk).cfn);
    let control_plane = format!("{}-control-plane", config.prefix());
    let toolkit = format!("{}-toolkit", config.prefix());
    let deadline = Instant::now() + args.timeout;
    let exists = stacks.describe(&control_plane).await?.is_some();
    let tenant_tables = if exists {
        // Tenants first: never orphan their stacks.
        offboard_all(cli, args, &control_plane, &toolkit, deadline).await?
    } else {
        say(cli, &format!("no stack {control_plane}"));
        if args.all {
            confirm(args.yes, &format!("this deletes the stack {toolkit}"))?;
        }
        Vec::new()
    };
    let mut names = Vec::new();
    if exists {
        names.push(control_plane);
    }
    if args.all && stacks.describe(&toolkit).await?.is_some() {
        names.push(toolkit);
    }
    let retained = delete_stacks(cli, &stacks, &names, deadline).await?;
    if !cli.quiet && (!retained.is_empty() || !tenant_tables.is_empty()) {
        print_kept(&retained, &tenant_tables);
    }
    Ok(())
}

/// Before the control plane goes: refuses while tenants exist (unless `--with-tenants`),
/// asks, then offboards every tenant and waits until each is deleted. Returns the tenants'
/// data tables, which outlive them.
async fn offboard_all(
    cli: &Cli,
    args: &DestroyArgs,
    control_plane: &str,
    toolkit: &str,
    deadline: Instant,
) -> Result<Vec<String>, Error> {
    let client = super::tenants::client(cli, args.api_url.as_deref())
        .await
        .map_err(|e| Error::TenantsUnchecked(Box::new(e)))?;
    // Every page of them.
    let active: Vec<Tenant> = client
        .tenants()
        .await?
        .into_iter()
        .filter(|t| t.status != Status::Deleted)
        .collect();
    if !active.is_empty() && !args.with_tenants {
        let names: Vec<&str> = active.iter().map(|t| t.tenant_name.as_str()).collect();
        return Err(Error::Usage(format!(
            "{} tenant(s) still exist ({}): offboard them with `silos tenants delete`, or pass --with-tenants",
            active.len(),
            names.join(", ")
        )));
    }
    let mut what = format!("this deletes the stack {control_plane}");
    if !active.is_empty() {
        what = format!(
            "this offboards {} tenant(s), then deletes the stack {control_plane}",
            active.len()
        );
    }
    if args.all {
        what.push_str(&format!(" and the stack {toolkit}"));
    }
    confirm(args.yes, &what)?;
    let tenant_tables = offboard(cli, &client, &active).await?;
    for t in &active {
        let id = t.tenant_id.as_str();
        let left = deadline.saturating_duration_since(Instant::now());
        super::tenants::wait(&client, id, Status::Deleted, left).await?;
        say(cli, &format!("tenant {id} is deleted"));
    }
    Ok(tenant_tables)
}

/// Asks to delete each of `active` not already deleting. Returns their data tables, read
/// before their stacks go.
async fn offboard(
    cli: &Cli,
    client: &super::client::ApiClient,
    active: &[Tenant],
) -> Result<Vec<String>, Error> {
    let mut tenant_tables = Vec::new();
    for t in active {
        let id = t.tenant_id.as_str();
        if let Ok(resources) = client.tenant_info(id).await {
            tenant_tables.extend(super::tenants::tables(&resources));
        }
        if t.status != Status::Deleting {
            let request = crate::control_plane::api::DeleteRequest {
                tenant_id: id.to_owned(),
                tenant_name: None,
            };
            client
                .post_once("/delete", super::client::body(&request))
                .await?;
            say(cli, &format!("offboarding tenant {} ({id})", t.tenant_name));
        }
    }
    Ok(tenant_tables)
}

/// Deletes each stack of `names` with its progress. Returns what they retain.
async fn delete_stacks(
    cli: &Cli,
    stacks: &Stacks,
    names: &[String],
    deadline: Instant,
) -> Result<Vec<deploy::Retained>, Error> {
    let mut retained = Vec::new();
    for name in names {
        retained.extend(stacks.retained(name).await?);
        say(cli, &format!("deleting {name}"));
        let mut line = |l: &str| {
            if !cli.quiet {
                println!("  {l}");
            }
        };
        stacks.destroy(name, deadline, &mut line).await?;
        say(cli, &format!("{name}: deleted"));
    }
    Ok(retained)
}

/// What destroy left on purpose, each with how to remove it.
fn print_kept(retained: &[deploy::Retained], tenant_tables: &[String]) {
    println!("kept on purpose (DeletionPolicy Retain):");
    for r in retained {
        println!(
            "  {} {} ({}): remove with `{}`",
            r.resource_type,
            r.physical_id,
            r.logical_id,
            r.removal()
        );
    }
    for t in tenant_tables {
        println!(
            "  tenant data table {t}: remove with `aws dynamodb delete-table --table-name {t}` (unless its blueprint set tenantData: delete)"
        );
    }
}

/// `silos cells bootstrap`'s flags.
#[derive(Debug, clap::Args)]
pub struct BootstrapArgs {
    /// Approve every change without asking.
    #[arg(long)]
    pub yes: bool,
    /// Which changes need approval.
    #[arg(long, value_enum, default_value = "broadening")]
    pub require_approval: ApprovalArg,
    /// One stack per cell, a StackSet, or a StackSet where the organization allows it.
    #[arg(long, value_enum, default_value = "auto")]
    pub via: ViaArg,
    /// The tenant function's zip to publish, instead of building it with cargo-lambda.
    #[arg(long)]
    pub tenant_zip: Option<PathBuf>,
    /// Only these cells (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    pub cells: Option<Vec<String>>,
    #[command(flatten)]
    pub blueprints: BlueprintsArg,
    /// Seconds each stack operation may take.
    #[arg(long, default_value = "1800", value_parser = super::seconds)]
    pub timeout: Duration,
}

/// `--via`: the library's `deploy::cells::Via`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ViaArg {
    Auto,
    Stacks,
    StackSet,
}

/// The tenant zips of `output`: every artifact but the control plane's.
fn tenant_zips(
    output: &synth::Output,
    tenant_zip: Option<&PathBuf>,
    chatter: Chatter,
) -> Result<Vec<LambdaZip>, Error> {
    let mut zips = Vec::new();
    for artifact in &output.manifest.artifacts {
        if artifact.name == CONTROL_PLANE_ARTIFACT.name {
            continue;
        }
        let given = (artifact.name == TENANT_ARTIFACT.name)
            .then_some(tenant_zip)
            .flatten();
        zips.push(artifact_zip(*artifact, given, chatter)?);
    }
    Ok(zips)
}

/// `silos cells bootstrap`: each remote cell's stack in its account, and its artifacts.
pub async fn cells_bootstrap(
    cli: &Cli,
    app: &App,
    config: &Config,
    args: &BootstrapArgs,
) -> Result<(), Error> {
    use crate::deploy::cells::{self, Via};
    let sdk = crate::aws::load(&cli.aws_options()).await;
    let output = synth::synth(app, config, &args.blueprints.blueprints, Format::Json)?;
    let selected = match &args.cells {
        Some(names) => output.cells.only(names).map_err(Error::Usage)?,
        None => output.cells.clone(),
    };
    if selected.remote().next().is_none() {
        if !cli.quiet {
            println!(
                "no cells to bootstrap: the control plane's own account and region needs none ({} declares no other)",
                output
                    .cells
                    .path
                    .as_deref()
                    .map_or("no cells.yaml".into(), |p| p.display().to_string())
            );
        }
        return Ok(());
    }
    let chatter = if cli.quiet {
        Chatter::Quiet
    } else {
        Chatter::Stdout
    };
    let zips = tenant_zips(&output, args.tenant_zip.as_ref(), chatter)?;
    let via = match args.via {
        ViaArg::Stacks => Via::Stacks,
        ViaArg::StackSet => Via::StackSet,
        ViaArg::Auto => Via::Auto,
    };
    let mut ui = Terminal {
        yes: args.yes,
        quiet: cli.quiet,
        color: super::colour(&std::io::stdout()),
        policy: args.require_approval.into(),
    };
    let bootstrap = cells::Bootstrap {
        sdk: &sdk,
        output: &output,
        cells: &selected,
        zips: &zips,
        via,
        approval: args.require_approval.into(),
        timeout: args.timeout,
    };
    cells::bootstrap(&bootstrap, &mut ui).await?;
    Ok(())
}

/// `silos cells list`: the declared cells, as the catalog publishes them.
pub fn cells_list(cli: &Cli, app: &App, config: &Config, blueprints: &Path) -> Result<(), Error> {
    let output = synth::synth(app, config, blueprints, Format::Json)?;
    if cli.output == OutputFormat::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&output.cells.cells).unwrap_or_default()
        );
        return Ok(());
    }
    println!(
        "{:<16} {:<14} {:<16} {:>8}  TYPES",
        "CELL", "ACCOUNT", "REGION", "CAPACITY"
    );
    for c in &output.cells.cells {
        println!(
            "{:<16} {:<14} {:<16} {:>8}  {}",
            c.name,
            c.account.as_deref().unwrap_or("(own)"),
            c.region.as_deref().unwrap_or("(own)"),
            c.capacity,
            c.deployment_types
                .as_ref()
                .map_or("all".to_owned(), |t| t.join(","))
        );
    }
    Ok(())
}
