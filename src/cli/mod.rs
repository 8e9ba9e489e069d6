//! The `silos` command line: argument parsing and output rendering. Errors become one line on
//! stderr and a non-zero exit code.

pub mod client;
mod console;
mod deploy;
mod local;
mod new;
pub mod outputs;
mod signals;
pub mod tenants;
mod upgrade;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::control_plane::tenant::Status;
use crate::stacks::{App, Config};
use crate::synth::{self, Format};

#[derive(Debug, Parser)]
#[command(
    name = "silos",
    version,
    about = "Serverless Silos: synthesize, deploy and run a multi-tenant control plane"
)]
pub struct Cli {
    /// Prefix of every stack and tenant stack name.
    #[arg(long, global = true, default_value = "silos", env = "SILOS_PREFIX")]
    pub prefix: String,
    /// More output.
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Errors only.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// The AWS profile, as the AWS CLI's --profile.
    #[arg(long, global = true, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// The AWS region, as the AWS CLI's --region.
    #[arg(long, global = true, env = "AWS_REGION")]
    pub region: Option<String>,
    /// An AWS-compatible endpoint (an emulator), as the AWS CLI's --endpoint-url.
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub output: OutputFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

impl Cli {
    pub fn aws_options(&self) -> crate::aws::Options {
        crate::aws::Options {
            profile: self.profile.clone(),
            region: self.region.clone(),
            endpoint_url: self.endpoint_url.clone(),
        }
    }
}

/// `--format`: the library's `synth::Format`, spelled for the command line (clap stays here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    Json,
    Yaml,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Json => Format::Json,
            FormatArg::Yaml => Format::Yaml,
        }
    }
}

/// `--require-approval`: the library's `deploy::app::Approval`, spelled for the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ApprovalArg {
    Never,
    /// Changes that widen access: new IAM statements, new invoke permissions.
    Broadening,
    AnyChange,
}

impl From<ApprovalArg> for crate::deploy::app::Approval {
    fn from(a: ApprovalArg) -> crate::deploy::app::Approval {
        use crate::deploy::app::Approval;
        match a {
            ApprovalArg::Never => Approval::Never,
            ApprovalArg::Broadening => Approval::Broadening,
            ApprovalArg::AnyChange => Approval::AnyChange,
        }
    }
}

/// `--blueprints`, which every command that synthesizes takes.
#[derive(Clone, Debug, clap::Args)]
pub struct BlueprintsArg {
    /// Directory of blueprints (*.yaml).
    #[arg(long, default_value = "blueprints")]
    pub blueprints: PathBuf,
}

/// Parses a `--timeout` in whole seconds.
fn seconds(s: &str) -> Result<std::time::Duration, std::num::ParseIntError> {
    s.parse().map(std::time::Duration::from_secs)
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make a new silos app: a crate with the reference app, its blueprints, its Lambda
    /// binaries and a snapshot test of its templates, as `cdk init` does.
    New {
        /// The new crate's directory (its name is the crate's).
        dir: PathBuf,
        /// Depend on this silos checkout instead of the crates.io release.
        #[arg(long)]
        silos_path: Option<PathBuf>,
    },
    /// Write every template, manifest.json and catalog.json into the output directory.
    Synth {
        /// Output directory.
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Template format.
        #[arg(long, value_enum, default_value = "json")]
        format: FormatArg,
        #[command(flatten)]
        blueprints: BlueprintsArg,
    },
    /// Print a stack's Mermaid diagram (`out/<stack>.mmd`, as synth writes it): resources by
    /// service, references, IAM grants and the control plane's flows.
    Graph {
        /// The stack: control-plane, tenant-silo, toolkit, … (default: control-plane).
        #[arg(default_value = "control-plane")]
        stack: String,
        #[command(flatten)]
        blueprints: BlueprintsArg,
    },
    /// Run synth and every check without writing anything.
    Validate {
        #[command(flatten)]
        blueprints: BlueprintsArg,
    },
    /// Deploy the toolkit, the artifacts and the control plane, through change sets.
    Deploy(deploy::DeployArgs),
    /// Show the synthesized templates against the deployed ones, per resource.
    Diff {
        /// Exit non-zero when there are differences.
        #[arg(long)]
        fail: bool,
        #[command(flatten)]
        blueprints: BlueprintsArg,
    },
    /// Delete the control plane (and with --all the toolkit). Refuses while tenants exist.
    Destroy(deploy::DestroyArgs),
    /// Run the whole control plane on this machine against an emulator (moto), started here
    /// unless --endpoint-url names a running one.
    Local(local::Args),
    /// Serve the fleet console, a page for operators, on 127.0.0.1 with a token in its URL.
    Console(console::Args),
    /// The cells tenants are placed in (cells.yaml beside the blueprints).
    Cells {
        #[command(subcommand)]
        command: CellsCommand,
    },
    /// List, create, inspect, delete, retry and wait for tenants through the control-plane API.
    Tenants {
        /// The API URL; else SILOS_API_URL, out/outputs.json, then the deployed stack's output.
        #[arg(long, global = true, env = "SILOS_API_URL")]
        api_url: Option<String>,
        #[command(subcommand)]
        command: TenantsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum CellsCommand {
    /// The declared cells: account, region, capacity and deployment types.
    List {
        #[command(flatten)]
        blueprints: BlueprintsArg,
    },
    /// Deploy each cell's stack into its account and region (the cell's bucket, its roles
    /// and its stack-event forwarding), and publish its copy of the tenant templates and zips.
    /// Run it after `silos deploy`, and again when the tenant stacks change.
    Bootstrap(deploy::BootstrapArgs),
}

/// A tenant status as a flag's value (`--status running`): the API's own names.
impl clap::ValueEnum for Status {
    fn value_variants<'a>() -> &'a [Self] {
        &Status::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

#[derive(Debug, Subcommand)]
pub enum TenantsCommand {
    /// Every tenant (or those in one status), read page by page.
    List {
        /// Only the tenants in this status.
        #[arg(long, value_enum)]
        status: Option<Status>,
        /// Tenants per request (1 to 1000); the list follows the pages to the end.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1000))]
        page_size: u32,
    },
    /// Onboard a tenant.
    Create {
        name: String,
        /// The deployment type (a blueprint).
        #[arg(long = "type", default_value = "silo")]
        deployment_type: String,
        /// Place the tenant in a cell of this region.
        #[arg(long)]
        cell_region: Option<String>,
        /// The tenant's first administrator, invited into its directory (with Cognito's
        /// invitation email) once its stack is running.
        #[arg(long)]
        admin_email: Option<String>,
    },
    /// Offboard a tenant: its stack is deleted.
    Delete {
        id: String,
        /// Must match the tenant's name, as a safety check.
        #[arg(long)]
        name: Option<String>,
    },
    /// A tenant and its stack's resources.
    Info { id: String },
    /// Provision a failed tenant again.
    Retry { id: String },
    /// Detect drift on tenants' stacks (CloudFormation's DetectStackDrift, paced per cell):
    /// each resource's live properties against its template. Prints IN_SYNC, DRIFTED (with
    /// each changed property, expected and actual) or UNKNOWN per tenant; the record keeps
    /// the result, and `silos tenants list` shows it.
    Drift {
        /// The tenants to check.
        #[arg(conflicts_with = "all")]
        ids: Vec<String>,
        /// Every running tenant.
        #[arg(long)]
        all: bool,
        /// Seconds to wait for the detections to complete.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Move a running tenant to another deployment type (a tier), in place: prints the plan
    /// (the resources added, removed and replaced), then updates the stack and waits for the
    /// outcome. A move that would remove or replace a table, a bucket or another data-bearing
    /// resource is refused unless --allow-data-loss.
    Move {
        id: String,
        /// The deployment type to move to.
        #[arg(long = "type")]
        deployment_type: String,
        /// Move even if the plan removes or replaces a data-bearing resource.
        #[arg(long)]
        allow_data_loss: bool,
        /// Print the plan and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Return once the move has started.
        #[arg(long)]
        no_wait: bool,
        /// Seconds to wait for the outcome.
        #[arg(long, default_value_t = 1800)]
        timeout: u64,
    },
    /// Update outdated tenants' stacks to the published version, in waves: a canary of one,
    /// then waves of --wave-size, each settled before the next. Safe to run again: tenants
    /// already at the version are skipped, so an interrupted upgrade resumes.
    Upgrade {
        /// Tenants per wave after the canary.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
        wave_size: u32,
        /// Halt once more tenants than this have failed.
        #[arg(long, default_value_t = 0)]
        max_failures: u32,
        /// Only these tenants (comma-separated ids).
        #[arg(long, value_delimiter = ',')]
        tenants: Option<Vec<String>>,
        /// Print the plan (the waves and their tenants) and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Seconds each wave may take to settle.
        #[arg(long, default_value_t = 1800)]
        timeout: u64,
    },
    /// Print the tenant lifecycle events of the control plane's bus ({prefix}-events),
    /// through a queue and a rule made for this and removed on exit. Only events published
    /// after it starts are seen.
    Events {
        /// Keep printing until Ctrl-C or SIGTERM.
        #[arg(long)]
        follow: bool,
        /// Without --follow: how many seconds to listen.
        #[arg(long, default_value_t = 20)]
        wait: u64,
    },
    /// A tenant's users, in its directory (the operator's AWS credentials, or the emulator's).
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Sign a tenant's user in and print the ID token (password from --password-stdin or
    /// SILOS_USER_PASSWORD). In local mode with the emulator's Cognito; on AWS where the
    /// app client allows the admin password flow (the reference silo's does).
    Token {
        id: String,
        /// The user's email.
        #[arg(long)]
        user: String,
        /// Read the password from standard input (else SILOS_USER_PASSWORD).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Sign a tenant's user in and call the tenant's front door: METHOD PATH, with an
    /// optional JSON body. Prints the answer.
    Call {
        id: String,
        /// GET, PUT, POST, PATCH or DELETE.
        method: String,
        /// The path under the tenant's endpoint, such as /items/order-1.
        path: String,
        /// The JSON request body.
        #[arg(long)]
        data: Option<String>,
        /// The user's email.
        #[arg(long)]
        user: String,
        /// Read the password from standard input (else SILOS_USER_PASSWORD).
        #[arg(long)]
        password_stdin: bool,
    },
    /// What each tenant (or tier, or cell) cost in a month: Cost Explorer's GetCostAndUsage
    /// (UnblendedCost), grouped by the cost allocation tags of the app's tenant stacks.
    /// Each page of the answer is one request, billed by AWS at $0.01.
    Cost {
        /// The month, YYYY-MM; the current one (so far) by default.
        #[arg(long)]
        month: Option<String>,
        /// Group by tenant, tier (deployment type) or cell.
        #[arg(long, value_enum, default_value = "tenant")]
        by: tenants::CostBy,
    },
    /// Wait until a tenant has a status.
    Wait {
        id: String,
        #[arg(long, value_enum)]
        status: Status,
        /// Seconds to wait before giving up.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Every user of the tenant's directory.
    List { id: String },
    /// Add a user, naming the tenant: Cognito's invitation by email, or with
    /// --password-stdin a password they can sign in with at once (for trying a silo).
    Add {
        id: String,
        email: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove a user from the tenant's directory.
    Remove { id: String, email: String },
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Prefix(#[from] crate::stacks::InvalidPrefix),
    #[error(transparent)]
    Synth(#[from] synth::Error),
    #[error(transparent)]
    Local(#[from] crate::local::Error),
    #[error(transparent)]
    Events(#[from] crate::control_plane::events::SubscriptionError),
    #[error(transparent)]
    Client(#[from] client::ClientError),
    #[error(transparent)]
    Deploy(#[from] crate::deploy::Error),
    #[error("there are differences")]
    Differences,
    #[error("{0}")]
    Tenant(String),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    UnknownTenant(#[from] crate::fleet::UnknownTenant),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot handle signals: {0}")]
    Signals(std::io::Error),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not valid JSON: {source}", outputs::OUTPUTS_FILE)]
    Outputs { source: serde_json::Error },
    #[error("no AWS credentials provider: configure credentials to sign API requests")]
    NoCredentialsProvider,
    #[error("no AWS credentials to sign the API request with (every route requires IAM auth): {0}")]
    Credentials(aws_credential_types::provider::error::CredentialsError),
    #[error("cannot run cargo lambda: {0}")]
    CargoLambda(std::io::Error),
    #[error(
        "`{command}` failed (is cargo-lambda installed? `pip install cargo-lambda==1.9.2 ziglang==0.17.1`, or ./scripts/test.sh installs it into .venv); or pass the zip with --{flag}"
    )]
    BuildFailed { command: String, flag: &'static str },
    #[error("`{0}` wrote no zip")]
    NoZipBuilt(String),
    #[error("cannot check for tenants, so nothing was deleted: {0}")]
    TenantsUnchecked(Box<Error>),
    #[error("not confirmed; nothing was deleted")]
    NotConfirmed,
}

/// Parses the process arguments, runs the command on `app` and maps the result to an exit
/// code. A user's `main` is `silos::cli::main_with(App::new().tenant_stack(…))`.
pub fn main_with(app: App) -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with 0; usage errors to stderr with 2.
            let _ = e.print();
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    match run(&cli, &app) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)
}

/// Whether what goes to `stream` is coloured: when it is a terminal, and `NO_COLOR` is not set
/// to anything (<https://no-color.org>).
pub(crate) fn colour(stream: &impl std::io::IsTerminal) -> bool {
    colour_when(
        stream.is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

fn colour_when(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Logs go to stderr: warnings by default, the details with -v, or as RUST_LOG says.
fn init_tracing(cli: &Cli) {
    let default = if cli.verbose {
        "silos=debug,info"
    } else if cli.quiet {
        "error"
    } else {
        "error,silos=warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// Runs the parsed command on `app`: one function per subcommand.
pub fn run(cli: &Cli, app: &App) -> Result<(), Error> {
    let config = Config::new(&cli.prefix)?;
    match &cli.command {
        Command::Local(args) => block_on(cli, local::run(cli, app, config, args.clone())),
        Command::Console(args) => block_on(cli, console::run(cli, args.api_url.as_deref(), args)),
        Command::Deploy(args) => block_on(cli, deploy::deploy(cli, app, &config, args)),
        Command::Cells { command } => cells(cli, app, &config, command),
        Command::Diff { fail, blueprints } => diff(cli, app, &config, *fail, blueprints),
        Command::Destroy(args) => block_on(cli, deploy::destroy(cli, &config, args)),
        Command::Tenants { api_url, command } => {
            block_on(cli, tenants::run(cli, api_url.as_deref(), command))
        }
        Command::New { dir, silos_path } => new_crate(cli, dir, silos_path.as_deref()),
        Command::Synth {
            out,
            format,
            blueprints,
        } => synthesize(cli, app, &config, out, *format, blueprints),
        Command::Graph { stack, blueprints } => graph(app, &config, stack, blueprints),
        Command::Validate { blueprints } => validate(cli, app, &config, blueprints),
    }
}

/// Runs an async command on a fresh runtime, with its logs going to stderr.
fn block_on<T>(cli: &Cli, command: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    init_tracing(cli);
    runtime()?.block_on(command)
}

/// `silos cells list` and `silos cells bootstrap`.
fn cells(cli: &Cli, app: &App, config: &Config, command: &CellsCommand) -> Result<(), Error> {
    match command {
        CellsCommand::List { blueprints } => {
            deploy::cells_list(cli, app, config, &blueprints.blueprints)
        }
        CellsCommand::Bootstrap(args) => {
            block_on(cli, deploy::cells_bootstrap(cli, app, config, args))
        }
    }
}

/// `silos diff`: with `--fail`, a difference is an error.
fn diff(
    cli: &Cli,
    app: &App,
    config: &Config,
    fail: bool,
    blueprints: &BlueprintsArg,
) -> Result<(), Error> {
    let differs = block_on(cli, deploy::diff(cli, app, config, &blueprints.blueprints))?;
    if differs && fail {
        return Err(Error::Differences);
    }
    Ok(())
}

/// `silos new`: writes the crate, then says what to run next.
fn new_crate(cli: &Cli, dir: &Path, silos_path: Option<&Path>) -> Result<(), Error> {
    let created = new::new(dir, silos_path)?;
    if !cli.quiet {
        println!(
            "created {} in {} ({} files); next:\n  cd {}\n  cargo run -- synth\n  cargo test",
            created.name,
            created.dir.display(),
            created.files.len(),
            created.dir.display()
        );
    }
    Ok(())
}

/// `silos synth`: writes every file of the synthesis into `out`, then says what it wrote.
fn synthesize(
    cli: &Cli,
    app: &App,
    config: &Config,
    out: &Path,
    format: FormatArg,
    blueprints: &BlueprintsArg,
) -> Result<(), Error> {
    let output = synth::synth(app, config, &blueprints.blueprints, format.into())?;
    warn(cli, &output);
    synth::write(out, &output)?;
    if cli.verbose {
        print_unscoped(&output);
    }
    if !cli.quiet {
        print_synthesized(&output, out);
    }
    Ok(())
}

/// `-v`: the provisioning role's handler actions that are not scoped to tenant resources.
fn print_unscoped(output: &synth::Output) {
    println!("the provisioning role's handler actions not scoped to tenant resources:");
    for n in &output.unscoped {
        println!(
            "  {:<40} {:<12} {} (for {})",
            n.action,
            if n.granted { "on *" } else { "not granted" },
            n.why,
            n.types.join(", ")
        );
    }
}

/// What synth wrote into `out`: the counts, then one line per stack.
fn print_synthesized(output: &synth::Output, out: &Path) {
    println!(
        "synthesized {} stacks and {} deployment types into {}",
        output.manifest.stacks.len(),
        output.deployment_types.len(),
        out.display()
    );
    for s in &output.manifest.stacks {
        println!(
            "  {:<24} {:<24} {:>3} resources  {:>7} bytes  sha256 {}",
            s.template,
            s.stack_name.as_deref().unwrap_or(match s.kind {
                crate::stacks::Kind::Cell => "(one per cell)",
                _ => "(one per tenant)",
            }),
            s.resources,
            s.bytes,
            &s.sha256[..12]
        );
    }
}

/// `silos graph`: prints the stack's Mermaid diagram, or names the stacks there are.
fn graph(app: &App, config: &Config, stack: &str, blueprints: &BlueprintsArg) -> Result<(), Error> {
    let output = synth::synth(app, config, &blueprints.blueprints, Format::Json)?;
    let name = format!("{stack}.mmd");
    match output.files.iter().find(|f| f.name == name) {
        Some(file) => {
            print!("{}", file.contents);
            Ok(())
        }
        None => {
            let known: Vec<&str> = output
                .manifest
                .stacks
                .iter()
                .map(|s| s.id.as_str())
                .collect();
            Err(Error::Usage(format!(
                "no stack {stack:?}: the stacks are {}",
                known.join(", ")
            )))
        }
    }
}

/// `silos validate`: synthesizes in both formats and writes nothing.
fn validate(
    cli: &Cli,
    app: &App,
    config: &Config,
    blueprints: &BlueprintsArg,
) -> Result<(), Error> {
    for format in [Format::Json, Format::Yaml] {
        let output = synth::synth(app, config, &blueprints.blueprints, format)?;
        if format == Format::Json {
            warn(cli, &output);
            if !cli.quiet {
                println!(
                    "valid: {} stacks and {} deployment types",
                    output.manifest.stacks.len(),
                    output.deployment_types.len()
                );
            }
        }
    }
    Ok(())
}

fn warn(cli: &Cli, output: &synth::Output) {
    if !cli.quiet {
        for w in &output.warnings {
            eprintln!("warning: {w}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::colour_when;

    #[test]
    fn colour_on_a_terminal_unless_no_color_is_set_to_anything() {
        assert!(colour_when(true, None));
        assert!(colour_when(true, Some(OsStr::new(""))), "empty is unset");
        assert!(!colour_when(true, Some(OsStr::new("1"))));
        assert!(!colour_when(true, Some(OsStr::new("false"))), "any value");
        assert!(!colour_when(false, None));
    }
}
