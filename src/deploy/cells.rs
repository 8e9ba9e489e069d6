//! `silos cells bootstrap`: each cell's stack in its account and region, then the cell's copy of
//! the tenant templates and zips in its bucket. Deployed through the same plan → approve →
//! execute path as every other stack, one stack per cell; or, where the user's organization
//! has trusted access for StackSets, as one StackSet with an instance per cell
//! ([`Via`]).
//!
//! The cell's account is reached by assuming its bootstrap role (by default
//! `OrganizationAccountAccessRole`, which AWS Organizations creates in member accounts) with
//! the deployer's credentials.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::{
    AccountFilterType, Capability, DeploymentTargets, Parameter, PermissionModels,
    StackSetOperationStatus,
};

use super::app::{Approval, Ui, deploy_stack};
use super::{Clients, Deployed, Error, LambdaZip, StackSpec, Stacks, Upload, publish};
use crate::blueprint::cells::{Cell, Cells};
use crate::stacks::Kind;
use crate::synth;

/// How the cell stacks are deployed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// A StackSet if the organization allows it (trusted access for service-managed
    /// StackSets is enabled, and every remote cell names its organizational unit), else one
    /// stack per cell.
    Auto,
    /// One stack per cell, each through a change set.
    Stacks,
    /// One StackSet `{prefix}-cells` with an instance per cell.
    StackSet,
}

/// What the control plane's side gives every cell stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Home {
    pub account: String,
    pub event_bus_arn: String,
}

/// What bootstrapping did for one cell.
#[derive(Debug)]
pub struct CellReport {
    pub cell: String,
    pub stack: String,
    pub bucket: String,
    pub objects: Vec<Upload>,
}

/// The control plane's account and bus, from its stack (`{prefix}-control-plane`): cells are
/// bootstrapped after it.
pub async fn home(clients: &Clients, prefix: &str) -> Result<Home, Error> {
    let name = format!("{prefix}-control-plane");
    let stacks = Stacks::new(clients.cfn.clone());
    let missing = |output: &str| Error::MissingOutput {
        stack: name.clone(),
        output: output.to_owned(),
    };
    let out = clients
        .cfn
        .describe_stacks()
        .stack_name(&name)
        .send()
        .await
        .map_err(|e| Error::CloudFormation {
            operation: "DescribeStacks",
            stack: name.clone(),
            message: format!(
                "{} (deploy the control plane before its cells)",
                super::sdk_message(&e)
            ),
        })?;
    let stack_id = out
        .stacks()
        .first()
        .and_then(|s| s.stack_id())
        .ok_or_else(|| missing("StackId"))?;
    // arn:aws:cloudformation:REGION:ACCOUNT:stack/NAME/ID
    let account = stack_id
        .split(':')
        .nth(4)
        .filter(|a| a.len() == 12)
        .ok_or_else(|| missing("an account in its stack id"))?
        .to_owned();
    let event_bus_arn = stacks
        .outputs(&name)
        .await?
        .and_then(|mut o| o.remove("EventBusArn"))
        .ok_or_else(|| missing("EventBusArn"))?;
    Ok(Home {
        account,
        event_bus_arn,
    })
}

/// The deployer's configuration in `cell`'s account and region: its bootstrap role, assumed.
pub async fn cell_config(sdk: &aws_config::SdkConfig, cell: &Cell, prefix: &str) -> Clients {
    let region = aws_config::Region::new(cell.region.clone().unwrap_or_default());
    let Some(role) = cell.role_arn(cell.bootstrap_role()) else {
        return Clients::new(sdk);
    };
    let credentials = aws_config::sts::AssumeRoleProvider::builder(role)
        .session_name(format!("{prefix}-cells-bootstrap"))
        .region(region.clone())
        .configure(sdk)
        .build()
        .await;
    let config = sdk
        .to_builder()
        .region(region)
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
        )
        .build();
    Clients::new(&config)
}

/// The cell stack's template and parameters for `cell`.
pub fn cell_spec(
    output: &synth::Output,
    cells: &Cells,
    cell: &Cell,
    home: &Home,
) -> Result<StackSpec, Error> {
    let prefix = &output.manifest.prefix;
    let entry = output
        .manifest
        .stacks
        .iter()
        .find(|s| s.kind == Kind::Cell)
        .ok_or(Error::MissingStack(Kind::Cell))?;
    let body = output
        .files
        .iter()
        .find(|f| f.name == entry.template)
        .ok_or_else(|| Error::MissingFile(entry.template.clone()))?;
    let parameters = [
        ("CellName", cell.name.clone()),
        ("ExternalId", cell.external_id(prefix)),
        ("ControlPlaneAccount", home.account.clone()),
        ("ControlPlaneEventBusArn", home.event_bus_arn.clone()),
        (
            "AccountResources",
            cells.owns_account_resources(cell).to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Ok(StackSpec {
        name: cell.stack_name(prefix),
        body: body.contents.clone(),
        url: None,
        parameters,
        tags: Default::default(),
    })
}

/// Publishes what a cell's CloudFormation and Lambda read from its own bucket: the tenant
/// templates and the tenant zips of `output`, under the same keys as at home, so the published
/// catalog serves every cell. The control plane's zip stays home.
pub async fn publish_to_cell(
    clients: &Clients,
    bucket: &str,
    output: &synth::Output,
    zips: &[LambdaZip],
) -> Result<Vec<Upload>, Error> {
    let mut objects = Vec::new();
    for zip in zips
        .iter()
        .filter(|z| z.artifact.name != crate::stacks::CONTROL_PLANE_ARTIFACT.name)
    {
        objects.push(
            publish::put_if_absent(clients, bucket, &zip.key(), &zip.bytes, "application/zip")
                .await?,
        );
    }
    publish::publish_templates(clients, bucket, output, &mut objects).await?;
    Ok(objects)
}

/// Deploys one cell's stack and publishes its artifacts.
#[allow(clippy::too_many_arguments)]
pub async fn bootstrap_cell(
    clients: &Clients,
    output: &synth::Output,
    zips: &[LambdaZip],
    cells: &Cells,
    cell: &Cell,
    home: &Home,
    approval: Approval,
    timeout: Duration,
    ui: &mut dyn Ui,
) -> Result<(CellReport, Deployed), Error> {
    let spec = cell_spec(output, cells, cell, home)?;
    let stacks = Stacks::new(clients.cfn.clone());
    let (_, deployed) = deploy_stack(&stacks, &spec, approval, timeout, ui).await?;
    let bucket = deployed.output("ArtifactsBucketName")?.to_owned();
    let objects = publish_to_cell(clients, &bucket, output, zips).await?;
    Ok((
        CellReport {
            cell: cell.name.clone(),
            stack: spec.name,
            bucket,
            objects,
        },
        deployed,
    ))
}

/// Whether the organization lets this account run service-managed StackSets for `cells`:
/// trusted access for CloudFormation StackSets is enabled, and every remote cell names the
/// organizational unit its account is in. Returns the reason when it does not.
pub async fn organization_allows_stack_sets(
    clients: &Clients,
    cells: &Cells,
) -> Result<(), String> {
    if let Some(c) = cells.remote().find(|c| c.organizational_unit.is_none()) {
        return Err(format!(
            "cell {} names no organizationalUnit, which a service-managed StackSet targets",
            c.name
        ));
    }
    match clients.cfn.describe_organizations_access().send().await {
        Ok(out) => match out.status() {
            Some(aws_sdk_cloudformation::types::OrganizationStatus::Enabled) => Ok(()),
            status => Err(format!(
                "trusted access for StackSets is {}",
                status.map_or("unknown", |s| s.as_str())
            )),
        },
        Err(e) => Err(format!(
            "DescribeOrganizationsAccess: {}",
            super::sdk_message(&e)
        )),
    }
}

/// Deploys every remote cell as an instance of the StackSet `{prefix}-cells`, one operation
/// per cell (each with its own parameter overrides), then publishes each cell's artifacts with
/// `publish_cell(cell, bucket)`. `service_managed`: the organization's trusted access, with
/// each cell's account as its own target; otherwise self-managed, which needs the StackSet
/// administration role in this account and the execution role in each cell's.
#[allow(clippy::too_many_arguments)]
pub async fn bootstrap_stack_set(
    admin: &Clients,
    output: &synth::Output,
    cells: &Cells,
    home: &Home,
    service_managed: bool,
    timeout: Duration,
    mut publish_cell: impl AsyncFnMut(&Cell, &str) -> Result<Vec<Upload>, Error>,
    ui: &mut dyn Ui,
) -> Result<Vec<CellReport>, Error> {
    let prefix = &output.manifest.prefix;
    let Some(first) = cells.remote().next() else {
        return Ok(Vec::new());
    };
    let set = StackSet {
        admin,
        name: format!("{prefix}-cells"),
        service_managed,
        timeout,
    };
    set.put(&cell_spec(output, cells, first, home)?, ui).await?;
    let present = set.instances().await?;
    let mut reports = Vec::new();
    for cell in cells.remote() {
        let (Some(account), Some(region)) = (&cell.account, &cell.region) else {
            continue;
        };
        let spec = cell_spec(output, cells, cell, home)?;
        let exists = present.contains(&(account.clone(), region.clone()));
        set.put_instance(cell, account, region, &spec, exists)
            .await?;
        let bucket = cell.bucket_name(prefix).unwrap_or_default();
        let objects = publish_cell(cell, &bucket).await?;
        ui.line(&format!(
            "cell {}: instance of {} in {account}/{region}; s3://{bucket}: {} objects, {} uploaded",
            cell.name,
            set.name,
            objects.len(),
            objects.iter().filter(|o| o.uploaded).count()
        ));
        reports.push(CellReport {
            cell: cell.name.clone(),
            stack: set.name.clone(),
            bucket,
            objects,
        });
    }
    Ok(reports)
}

/// The cells' StackSet, as [`bootstrap_stack_set`] drives it.
struct StackSet<'a> {
    admin: &'a Clients,
    name: String,
    service_managed: bool,
    /// How long each operation may take.
    timeout: Duration,
}

impl StackSet<'_> {
    fn error(&self, operation: &'static str, message: String) -> Error {
        Error::CloudFormation {
            operation,
            stack: self.name.clone(),
            message,
        }
    }

    /// Creates the set with `template`'s body and parameters, or updates it to them.
    async fn put(&self, template: &StackSpec, ui: &mut dyn Ui) -> Result<(), Error> {
        let cfn = &self.admin.cfn;
        let name = &self.name;
        let exists = cfn
            .describe_stack_set()
            .stack_set_name(name)
            .send()
            .await
            .is_ok();
        let model = if self.service_managed {
            PermissionModels::ServiceManaged
        } else {
            PermissionModels::SelfManaged
        };
        // Per-instance parameters are overridden per cell; the set carries every parameter.
        let all = parameters(template);
        if exists {
            let op = cfn
                .update_stack_set()
                .stack_set_name(name)
                .template_body(super::stack::compact(&template.body))
                .set_parameters(Some(all))
                .capabilities(Capability::CapabilityNamedIam)
                .send()
                .await
                .map_err(|e| self.error("UpdateStackSet", super::sdk_message(&e)))?;
            if let Some(id) = op.operation_id() {
                wait_operation(self.admin, name, id, self.timeout).await?;
            }
            ui.line(&format!("updated StackSet {name}"));
        } else {
            cfn.create_stack_set()
                .stack_set_name(name)
                .description("silos cells: one instance per cell")
                .template_body(super::stack::compact(&template.body))
                .set_parameters(Some(all))
                .permission_model(model.clone())
                .capabilities(Capability::CapabilityNamedIam)
                .send()
                .await
                .map_err(|e| self.error("CreateStackSet", super::sdk_message(&e)))?;
            ui.line(&format!("created StackSet {name} ({})", model.as_str()));
        }
        Ok(())
    }

    /// The accounts and regions the set has an instance in.
    async fn instances(&self) -> Result<BTreeSet<(String, String)>, Error> {
        let instances = self
            .admin
            .cfn
            .list_stack_instances()
            .stack_set_name(&self.name)
            .send()
            .await
            .map_err(|e| self.error("ListStackInstances", super::sdk_message(&e)))?;
        Ok(instances
            .summaries()
            .iter()
            .filter_map(|i| Some((i.account()?.to_owned(), i.region()?.to_owned())))
            .collect())
    }

    /// Creates `cell`'s instance in `account` and `region` with `spec`'s parameters, or
    /// updates it (`exists`) to them, and waits for the operation.
    async fn put_instance(
        &self,
        cell: &Cell,
        account: &str,
        region: &str,
        spec: &StackSpec,
        exists: bool,
    ) -> Result<(), Error> {
        let cfn = &self.admin.cfn;
        // Every parameter, the set's own included: an override with the set's value changes
        // nothing, and the emulator replaces the set's parameters with the overrides.
        let overrides = parameters(spec);
        // Self-managed instances are addressed by account.
        let accounts = (!self.service_managed).then(|| vec![account.to_owned()]);
        let targets = self
            .service_managed
            .then(|| deployment_targets(cell, account));
        let op = if exists {
            cfn.update_stack_instances()
                .stack_set_name(&self.name)
                .set_accounts(accounts)
                .set_deployment_targets(targets)
                .regions(region)
                .set_parameter_overrides(Some(overrides))
                .send()
                .await
                .map_err(|e| self.error("UpdateStackInstances", super::sdk_message(&e)))?
                .operation_id
        } else {
            cfn.create_stack_instances()
                .stack_set_name(&self.name)
                .set_accounts(accounts)
                .set_deployment_targets(targets)
                .regions(region)
                .set_parameter_overrides(Some(overrides))
                .send()
                .await
                .map_err(|e| self.error("CreateStackInstances", super::sdk_message(&e)))?
                .operation_id
        };
        if let Some(id) = op {
            wait_operation(self.admin, &self.name, &id, self.timeout).await?;
        }
        Ok(())
    }
}

/// `spec`'s parameters, for the StackSet API.
fn parameters(spec: &StackSpec) -> Vec<Parameter> {
    spec.parameters
        .iter()
        .map(|(k, v)| {
            Parameter::builder()
                .parameter_key(k)
                .parameter_value(v)
                .build()
        })
        .collect()
}

/// Where a service-managed instance of `cell` goes. Service-managed StackSets target
/// organizational units; the filter keeps the cell's account alone.
fn deployment_targets(cell: &Cell, account: &str) -> DeploymentTargets {
    match &cell.organizational_unit {
        Some(ou) => DeploymentTargets::builder()
            .organizational_unit_ids(ou)
            .accounts(account)
            .account_filter_type(AccountFilterType::Intersection)
            .build(),
        None => DeploymentTargets::builder().build(),
    }
}

/// Waits for a StackSet operation to succeed.
async fn wait_operation(
    admin: &Clients,
    name: &str,
    operation: &str,
    timeout: Duration,
) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    let policy = crate::aws::Backoff::doubling(Duration::from_millis(200), Duration::from_secs(5));
    crate::aws::poll_until(&policy, deadline, || async move {
        let out = admin
            .cfn
            .describe_stack_set_operation()
            .stack_set_name(name)
            .operation_id(operation)
            .send()
            .await
            .map_err(|e| Error::CloudFormation {
                operation: "DescribeStackSetOperation",
                stack: name.to_owned(),
                message: super::sdk_message(&e),
            })?;
        let op = out.stack_set_operation();
        match op.and_then(|o| o.status()) {
            Some(StackSetOperationStatus::Succeeded) => Ok(Some(())),
            Some(s @ (StackSetOperationStatus::Failed | StackSetOperationStatus::Stopped)) => {
                Err(Error::StackFailed {
                    stack: name.to_owned(),
                    status: format!("operation {operation} {}", s.as_str()),
                    reason: op.and_then(|o| o.status_reason()).map(str::to_owned),
                })
            }
            _ => Ok(None),
        }
    })
    .await
    .map_err(|e| match e {
        crate::aws::PollError::Probe(e) => e,
        crate::aws::PollError::Timeout { .. } => Error::Timeout {
            stack: name.to_owned(),
            status: format!("operation {operation}"),
            seconds: timeout.as_secs(),
        },
    })
}

/// What `silos cells bootstrap` works on: the synthesized output, the selected cells, the
/// tenant zips, how to deploy them and with what approval.
pub struct Bootstrap<'a> {
    pub sdk: &'a aws_config::SdkConfig,
    pub output: &'a synth::Output,
    pub cells: &'a Cells,
    pub zips: &'a [LambdaZip],
    pub via: Via,
    pub approval: Approval,
    pub timeout: Duration,
}

/// Bootstraps every remote cell of `b.cells`: one StackSet instance per cell where `b.via`
/// asks for one (and, for `Auto`, the organization allows it), else one stack per cell through
/// a change set; then each cell's copy of the tenant templates and zips. What it does goes to
/// `ui`, line by line.
pub async fn bootstrap(b: &Bootstrap<'_>, ui: &mut dyn Ui) -> Result<(), Error> {
    let prefix = b.output.manifest.prefix.clone();
    let home_clients = Clients::new(b.sdk);
    let home = home(&home_clients, &prefix).await?;
    let service_managed = match b.via {
        Via::Stacks => None,
        Via::StackSet => Some(
            organization_allows_stack_sets(&home_clients, b.cells)
                .await
                .is_ok(),
        ),
        Via::Auto => match organization_allows_stack_sets(&home_clients, b.cells).await {
            Ok(()) => Some(true),
            Err(why) => {
                ui.line(&format!(
                    "deploying one stack per cell: the organization does not allow a StackSet here ({why})"
                ));
                None
            }
        },
    };
    if let Some(service_managed) = service_managed {
        ui.line(&format!(
            "deploying the cells as instances of the StackSet {prefix}-cells ({})",
            if service_managed {
                "service-managed, through the organization's trusted access"
            } else {
                "self-managed: needs AWSCloudFormationStackSetAdministrationRole here and AWSCloudFormationStackSetExecutionRole in each cell's account"
            }
        ));
        let prefix = prefix.as_str();
        return bootstrap_stack_set(
            &home_clients,
            b.output,
            b.cells,
            &home,
            service_managed,
            b.timeout,
            async |cell, bucket| {
                let clients = cell_config(b.sdk, cell, prefix).await;
                publish_to_cell(&clients, bucket, b.output, b.zips).await
            },
            ui,
        )
        .await
        .map(|_| ());
    }
    for cell in b.cells.remote() {
        let clients = cell_config(b.sdk, cell, &prefix).await;
        let (report, deployed) = bootstrap_cell(
            &clients, b.output, b.zips, b.cells, cell, &home, b.approval, b.timeout, ui,
        )
        .await?;
        ui.line(&format!(
            "cell {}: stack {} in {}/{}: {}; s3://{}: {} objects, {} uploaded",
            report.cell,
            report.stack,
            cell.account.as_deref().unwrap_or_default(),
            cell.region.as_deref().unwrap_or_default(),
            deployed.outcome,
            report.bucket,
            report.objects.len(),
            report.objects.iter().filter(|o| o.uploaded).count()
        ));
    }
    Ok(())
}
