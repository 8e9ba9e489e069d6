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

/// A [`Ui`] that shows nothing and is never asked: local mode's, with [`Approval::Never`].
pub struct Silent;

impl Ui for Silent {
    fn line(&mut self, _: &str) {}
    fn plan(&mut self, _: &Plan) {}
    fn approve(&mut self, _: &Plan) -> Result<bool, Error> {
        Ok(true)
    }
}

/// The one path every stack takes, in `silos deploy` and in local mode: plan (what is
/// deployed against `spec`), show the plan, ask for approval when `approval` wants it, then
/// execute it within `timeout`. Returns the plan with what was deployed.
pub async fn deploy_stack(
    stacks: &Stacks,
    spec: &StackSpec,
    approval: Approval,
    timeout: Duration,
    ui: &mut dyn Ui,
) -> Result<(Plan, Deployed), Error> {
    let plan = stacks.plan(spec, Instant::now() + timeout).await?;
    ui.plan(&plan);
    if approval.needed(&plan) && !ui.approve(&plan)? {
        return Err(Error::NotApproved(spec.name.clone()));
    }
    let mut line = |l: &str| ui.line(l);
    let deployed = stacks
        .execute(spec, &plan, Instant::now() + timeout, &mut line)
        .await?;
    Ok((plan, deployed))
}

/// The control-plane stack (the AWS variant) for the artifacts in `bucket`: its template by
/// URL under its content hash (returned with its key and the stack's id), and its parameters.
fn control_plane_spec(
    output: &synth::Output,
    bucket: &str,
    code_key: String,
    region: &str,
) -> Result<(StackSpec, String, String), Error> {
    let (mut cp, id) = spec(output, Kind::ControlPlane, Some(Target::Aws))?;
    let sha = crate::synth::sha256_hex(cp.body.as_bytes());
    let key = format!("templates/{id}/{sha}.json");
    cp.url = Some(crate::aws::s3_url(bucket, region, &key));
    cp.parameters
        .insert("ArtifactsBucket".to_owned(), bucket.to_owned());
    cp.parameters
        .insert("ControlPlaneCodeKey".to_owned(), code_key);
    Ok((cp, key, id))
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
    let (plan, toolkit) = deploy_stack(
        &stacks,
        &toolkit_spec,
        options.approval,
        options.timeout,
        ui,
    )
    .await?;
    plans.push(plan);
    let bucket = toolkit.output("ArtifactsBucketName")?.to_owned();

    let publication = publish_app(clients, &bucket, output, zips).await?;
    ui.line(&format!(
        "published to s3://{bucket}: {} objects, {} uploaded",
        publication.objects.len(),
        publication.uploaded()
    ));
    let code_key = publication
        .artifact_keys
        .get(CONTROL_PLANE_ARTIFACT.name)
        .cloned()
        .ok_or(Error::MissingZip(CONTROL_PLANE_ARTIFACT.name))?;
    let (cp, key, id) = control_plane_spec(output, &bucket, code_key, &options.region)?;
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
    let (plan, control_plane) =
        deploy_stack(&stacks, &cp, options.approval, options.timeout, ui).await?;
    plans.push(plan);
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

/// What [`deploy_app`] would do to each stack (toolkit, then control plane), changing
/// nothing: no upload, no change set, no stack call but reads. The control plane is planned
/// with the toolkit's bucket and the keys the zips would get; before the toolkit exists its
/// bucket is not known, and the control plane's plan is a create with every resource added.
pub async fn plan_app(
    clients: &Clients,
    output: &synth::Output,
    zips: &[LambdaZip],
    options: &Options,
) -> Result<Vec<Plan>, Error> {
    let stacks = Stacks::new(clients.cfn.clone());
    let deadline = Instant::now() + options.timeout;
    let (toolkit_spec, _) = spec(output, Kind::Toolkit, None)?;
    let toolkit = stacks.plan(&toolkit_spec, deadline).await?;
    let bucket = match stacks.outputs(&toolkit_spec.name).await? {
        Some(mut outputs) if toolkit.exists => outputs.remove("ArtifactsBucketName"),
        _ => None,
    }
    .unwrap_or_else(|| format!("(the bucket {} will create)", toolkit_spec.name));
    let code_key = zips
        .iter()
        .find(|z| z.artifact.name == CONTROL_PLANE_ARTIFACT.name)
        .map(LambdaZip::key)
        .ok_or(Error::MissingZip(CONTROL_PLANE_ARTIFACT.name))?;
    let (cp, _, _) = control_plane_spec(output, &bucket, code_key, &options.region)?;
    let control_plane = stacks.plan(&cp, deadline).await?;
    Ok(vec![toolkit, control_plane])
}
