//! The `silos` command line: argument parsing and output rendering. Errors become one line on
//! stderr and a non-zero exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::stacks::Config;
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
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write every template, manifest.json and catalog.json into the output directory.
    Synth {
        /// Output directory.
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Template format.
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
        /// Directory of blueprints (*.yaml).
        #[arg(long, default_value = "blueprints")]
        blueprints: PathBuf,
    },
    /// Run synth and every check without writing anything.
    Validate {
        /// Directory of blueprints (*.yaml).
        #[arg(long, default_value = "blueprints")]
        blueprints: PathBuf,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Prefix(#[from] crate::stacks::InvalidPrefix),
    #[error(transparent)]
    Synth(#[from] synth::Error),
}

/// Parses the process arguments, runs the command and maps the result to an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with 0; usage errors to stderr with 2.
            let _ = e.print();
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

pub fn run(cli: &Cli) -> Result<(), Error> {
    let config = Config::new(&cli.prefix)?;
    match &cli.command {
        Command::Synth {
            out,
            format,
            blueprints,
        } => {
            let output = synth::synth(&config, blueprints, *format)?;
            warn(cli, &output);
            synth::write(out, &output)?;
            if !cli.quiet {
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
                        s.stack_name.as_deref().unwrap_or("(one per tenant)"),
                        s.resources,
                        s.bytes,
                        &s.sha256[..12]
                    );
                }
            }
        }
        Command::Validate { blueprints } => {
            for format in [Format::Json, Format::Yaml] {
                let output = synth::synth(&config, blueprints, format)?;
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
