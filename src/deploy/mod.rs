//! The shared deploy core: publishing artifacts to the artifacts bucket under content-hash keys,
//! and creating or updating a stack and waiting until it settles. `silos local` runs it against
//! an emulator; `silos deploy` uses the same calls against AWS. Uses `synth` and the AWS SDK;
//! never the control-plane runtime.

pub mod app;
mod artifacts;
pub mod cells;
pub mod changeset;
mod destroy;
pub mod diff;
pub mod progress;
mod publish;
pub(crate) mod stack;

pub use crate::aws::is_missing_stack;
pub use artifacts::{
    LambdaZip, ZipSource, artifact_key, build_args, build_command, find_lambda_zip, placeholder_zip,
};
pub use destroy::Retained;
pub use publish::{Publication, Upload, publish_app, tenant_version};
pub use stack::{Deployed, Outcome, StackSpec, Stacks, parameter_list};

/// Everything that can go wrong while deploying. Each message names the object or stack.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("S3 {operation} s3://{bucket}/{key}: {message}")]
    S3 {
        operation: &'static str,
        bucket: String,
        key: String,
        message: String,
    },
    #[error("CloudFormation {operation} on {stack}: {message}")]
    CloudFormation {
        operation: &'static str,
        stack: String,
        message: String,
    },
    #[error("stack {stack} ended in {status}{}", reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    StackFailed {
        stack: String,
        status: String,
        reason: Option<String>,
    },
    #[error("stack {stack} did not settle within {seconds} s (last status {status})")]
    Timeout {
        stack: String,
        status: String,
        seconds: u64,
    },
    #[error("stack {stack} has no output {output}")]
    MissingOutput { stack: String, output: String },
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("synth produced no {0:?} stack")]
    MissingStack(crate::stacks::Kind),
    #[error("synth produced no {0}")]
    MissingFile(String),
    #[error("catalog.json: {0}")]
    CatalogJson(#[source] serde_json::Error),
    #[error(transparent)]
    Catalog(#[from] crate::synth::UnpublishedArtifact),
    #[error("no {0} zip was published")]
    MissingZip(&'static str),
    #[error("the changes to {0} were not approved")]
    NotApproved(String),
    #[error(
        "{stack} needs approval because {reason}, and there is no terminal to ask: review it with `silos diff`, then rerun with --yes (or --require-approval never)"
    )]
    NoTerminal {
        stack: String,
        reason: app::ApprovalReason,
    },
}

/// The S3 and CloudFormation clients deploy uses. S3 uses path-style addressing when an
/// endpoint URL points at an emulator.
#[derive(Clone, Debug)]
pub struct Clients {
    pub cfn: aws_sdk_cloudformation::Client,
    pub s3: aws_sdk_s3::Client,
}

impl Clients {
    pub fn new(config: &aws_config::SdkConfig) -> Clients {
        Clients {
            cfn: aws_sdk_cloudformation::Client::new(config),
            s3: crate::aws::s3_client(config),
        }
    }
}

pub(crate) use crate::aws::sdk_message;
