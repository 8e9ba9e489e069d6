//! `silos deploy` as a library call: the toolkit stack, the artifacts, the tenant templates and
//! catalog, then the control plane, each stack through a change set with a summary and the
//! approval policy. The CLI supplies the user interface ([`Ui`]); tests drive it directly.

use std::time::{Duration, Instant};

use super::changeset::Plan;
use super::{Clients, Deployed, Error, LambdaZip, Publication, StackSpec, Stacks, publish_app};
use crate::stacks::{CONTROL_PLANE_ARTIFACT, Kind, Target};
use crate::synth;

/// Which changes need the user's approval, as CDK's `--require-approval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Approval {
    Never,
    /// Changes that widen access: new IAM statements, new invoke permissions.
    Broadening,
    AnyChange,
}

impl Approval {
    pub fn needed(self, plan: &Plan) -> bool {
        match self {
            Approval::Never => false,
            Approval::Broadening => !plan.unchanged && !plan.diff.broadening().is_empty(),
            Approval::AnyChange => !plan.unchanged,
        }
    }
}

/// Why a plan needs approval under a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApprovalReason {
    /// It broadens access: the logical ids of the resources that do.
    Broadens(Vec<String>),
    /// It changes resources.
    Changes,
}

impl ApprovalReason {
    pub fn of(policy: Approval, plan: &Plan) -> ApprovalReason {
        match policy {
            Approval::Broadening => ApprovalReason::Broadens(
                plan.diff
                    .broadening()
                    .iter()
                    .map(|r| r.logical_id.clone())
                    .collect(),
            ),
            _ => ApprovalReason::Changes,
        }
    }
}

impl std::fmt::Display for ApprovalReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApprovalReason::Broadens(ids) => write!(f, "it broadens access ({})", ids.join(", ")),
            ApprovalReason::Changes => f.write_str("it changes resources"),
        }
    }
}

/// What deploy shows and asks.
pub trait Ui: Send {
    fn line(&mut self, line: &str);
    /// Shown before a stack's change set is executed.
    fn plan(&mut self, plan: &Plan);
    /// Asked when the approval policy wants it; false stops the deploy.
    fn approve(&mut self, plan: &Plan) -> Result<bool, Error>;
}

#[derive(Debug)]
pub struct Report {
    pub stacks: Vec<Deployed>,
    pub plans: Vec<Plan>,
    pub publication: Publication,
}

pub struct Options {
    pub approval: Approval,
    /// For each stack operation.
    pub timeout: Duration,
    pub region: String,
}

fn spec(
    output: &synth::Output,
    kind: Kind,
    target: Option<Target>,
) -> Result<(StackSpec, String), Error> {
    let missing = || Error::MissingStack(kind);
    let entry = output
        .manifest
        .stacks
        .iter()
        .find(|s| s.kind == kind && s.target == target)
        .ok_or_else(missing)?;
    let body = output
        .files
        .iter()
        .find(|f| f.name == entry.template)
        .ok_or_else(missing)?;
    Ok((
        StackSpec {
            name: entry.stack_name.clone().ok_or_else(missing)?,
            body: body.contents.clone(),
            url: None,
            parameters: Default::default(),
            tags: Default::default(),
        },
        entry.id.clone(),
    ))
}

async fn one(
    stacks: &Stacks,
    spec: &StackSpec,
    options: &Options,
    ui: &mut dyn Ui,
    plans: &mut Vec<Plan>,
) -> Result<Deployed, Error> {
    let deadline = Instant::now() + options.timeout;
    let plan = stacks.plan(spec, deadline).await?;
    ui.plan(&plan);
    if options.approval.needed(&plan) && !ui.approve(&plan)? {
        return Err(Error::NotApproved(spec.name.clone()));
    }
    let mut line = |l: &str| ui.line(l);
    let deployed = stacks
        .execute(spec, &plan, Instant::now() + options.timeout, &mut line)
        .await;
    plans.push(plan);
    deployed
}

/// Deploys the app of `output`: toolkit, artifacts, control plane (the AWS variant).
pub async fn deploy_app(
    clients: &Clients,
    output: &synth::Output,
    zips: &[LambdaZip],
    options: &Options,
    ui: &mut dyn Ui,
) -> Result<Report, Error> {
    let stacks = Stacks::new(clients.cfn.clone());
    let mut plans = Vec::new();
    let (toolkit_spec, _) = spec(output, Kind::Toolkit, None)?;
    let toolkit = one(&stacks, &toolkit_spec, options, ui, &mut plans).await?;
    let bucket = toolkit.output("ArtifactsBucketName")?.to_owned();

    let publication = publish_app(clients, &bucket, output, zips).await?;
    ui.line(&format!(
        "published to s3://{bucket}: {} objects, {} uploaded",
        publication.objects.len(),
        publication.uploaded()
    ));
    let (mut cp, id) = spec(output, Kind::ControlPlane, Some(Target::Aws))?;
    let sha = crate::synth::sha256_hex(cp.body.as_bytes());
    let key = format!("templates/{id}/{sha}.json");
    let upload = super::publish::put_if_absent(
        clients,
        &bucket,
        &key,
        cp.body.as_bytes(),
        "application/json",
    )
    .await?;
    if upload.uploaded {
        ui.line(&format!(
            "published the {id} template to s3://{bucket}/{key}"
        ));
    }
    cp.url = Some(crate::aws::s3_url(&bucket, &options.region, &key));
    cp.parameters
        .insert("ArtifactsBucket".to_owned(), bucket.clone());
    let code_key = publication
        .artifact_keys
        .get(CONTROL_PLANE_ARTIFACT.name)
        .cloned()
        .ok_or(Error::MissingZip(CONTROL_PLANE_ARTIFACT.name))?;
    cp.parameters
        .insert("ControlPlaneCodeKey".to_owned(), code_key);
    let control_plane = one(&stacks, &cp, options, ui, &mut plans).await?;
    Ok(Report {
        stacks: vec![toolkit, control_plane],
        plans,
        publication: Publication {
            objects: {
                let mut o = publication.objects.clone();
                o.push(upload);
                o
            },
            ..publication
        },
    })
}
