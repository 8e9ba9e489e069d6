//! `{prefix}-cell-{name}`: what a cell's account and region need so the control plane can place
//! tenants there (`silos cells bootstrap` deploys it, one stack per cell, or one StackSet
//! instance per cell). One template serves every cell; the cell is its parameters.
//!
//! - **The artifacts bucket** `{prefix}-cell-{name}-{account}-{region}` (encrypted, public
//!   access blocked, TLS only, access-logged): the cell's copy of the tenant templates and
//!   zips. Lambda takes code only from a bucket in the function's region, and CloudFormation
//!   reads a TemplateURL with the caller's credentials.
//! - **The provisioning role** `{prefix}-cell-{name}-provisioning`: the one the control plane
//!   derives from the tenant stacks, for this account, carrying the tenant boundary.
//! - **The tenant boundary** `{prefix}-tenant-boundary`, in the first cell of each account
//!   (IAM names are per account; `AccountResources`).
//! - **The access role** `{prefix}-cell-{name}-access`, which the control plane assumes: it
//!   trusts only the control plane's own function roles (under the control-plane path), with
//!   the cell's external id, and may only work tenant stacks and pass the provisioning role.
//! - **The forwarding rule**: the cell's tenant stack status changes go to the control plane's
//!   bus, where the stack-events handler takes them as it takes its own account's.

use crate::cfn::iam::{Principal, Statement};
use crate::cfn::{Delivery, Expr, Output, Parameter, Template, events, sqs};
use crate::constructs::{self, Bucket, BucketRef, Queue, Role};

use super::event_sources::EventSource;
use super::provisioning::{self, Provisioning};
use super::{Config, Kind, Stack};
use crate::blueprint::cells::names;

/// The cell's name inside the cell stack: its `CellName` parameter.
const CELL_NAME: &str = "${CellName}";

pub const CELL_STACK_ID: &str = "cell";
/// The condition on the account-wide resources (the tenant boundary).
const OWNS_ACCOUNT: &str = "OwnsAccountResources";

/// The IAM path of the control plane's roles that reach cells: the access roles trust only
/// roles under it.
pub fn control_plane_role_path(config: &Config) -> String {
    format!("/{}/control-plane/", config.prefix())
}

/// The bucket the cell stack creates, by the name the control plane derives
/// (`blueprint::cells::Cell::bucket_name`).
pub fn cell_bucket_name(config: &Config) -> Expr {
    Expr::sub(names::bucket(
        config.prefix(),
        CELL_NAME,
        "${AWS::AccountId}",
        "${AWS::Region}",
    ))
}

/// The cell's bucket, as the provisioning role derived for the cell reads it.
pub fn cell_bucket(config: &Config) -> BucketRef {
    BucketRef::from_name(cell_bucket_name(config))
}

/// The cell stack, with the provisioning role and boundary derived for [`cell_bucket`].
pub fn cell(config: &Config, provisioning: Provisioning) -> Stack {
    let prefix = config.prefix();
    let mut t = Template::new(CELL_STACK_ID);
    t.description(&format!(
        "silos cell for prefix {prefix}: the artifacts bucket, provisioning and access roles, and stack-event forwarding of one cell"
    ));
    let (external_id, bus_arn) = parameters(&mut t);

    let logs = Bucket::new("AccessLogsBucket").log_target();
    let artifacts = Bucket::new("ArtifactsBucket")
        .bucket_name(cell_bucket_name(config))
        .access_logs_to(&logs, "artifacts/");
    logs.add_to(&mut t);
    artifacts.add_to(&mut t);

    let Provisioning {
        role: provisioning_role,
        boundary,
        reads,
        ..
    } = provisioning;
    provisioning::add_boundary(config, &mut t, &boundary).condition(OWNS_ACCOUNT);
    let provisioning_role =
        provisioning_role.role_name(Expr::sub(names::provisioning_role(prefix, CELL_NAME)));
    provisioning_role.add_to(&mut t);

    let access = access_role(config, external_id, &provisioning_role, &artifacts, &reads);
    access.add_to(&mut t);

    forwarding(config, &mut t, bus_arn);

    t.output(
        "ArtifactsBucketName",
        Output::new(
            "The cell's copy of the tenant templates and zips",
            artifacts.name(),
        ),
    );
    t.output(
        "AccessRoleArn",
        Output::new(
            "The role the control plane assumes in this cell",
            access.arn(),
        ),
    );
    t.output(
        "ProvisioningRoleArn",
        Output::new(
            "The role CloudFormation assumes for this cell's tenant stacks",
            provisioning_role.arn(),
        ),
    );
    Stack {
        id: CELL_STACK_ID.to_owned(),
        stack_name: None,
        kind: Kind::Cell,
        target: None,
        // The cell has no bucket before this stack exists.
        delivery: Delivery::Body,
        template: t,
        artifacts: Vec::new(),
    }
}

/// The cell stack's parameters (and its one condition); the external id and the control
/// plane's bus, which the roles use.
fn parameters(t: &mut Template) -> (Expr, Expr) {
    t.parameter(
        "CellName",
        Parameter::string("The cell's name, as cells.yaml declares it").pattern(
            "^[a-z][a-z0-9-]{0,15}$",
            "1 to 16 lowercase letters, digits and hyphens, starting with a letter",
        ),
    );
    let external_id = t.parameter(
        "ExternalId",
        Parameter::string("What the control plane passes when it assumes the access role")
            .length(2, 1224),
    );
    t.parameter(
        "ControlPlaneAccount",
        Parameter::string("The control plane's account id")
            .pattern("^[0-9]{12}$", "a 12-digit AWS account id"),
    );
    let bus_arn = t.parameter(
        "ControlPlaneEventBusArn",
        Parameter::string(
            "The control plane's event bus, which receives this cell's tenant stack events",
        )
        .length(20, 1600),
    );
    t.parameter(
        "AccountResources",
        Parameter::string(
            "true in the first cell of its account: the stack that holds the tenant boundary",
        )
        .pattern("^(true|false)$", "true or false"),
    );
    t.condition(
        OWNS_ACCOUNT,
        Expr::equals(Expr::r#ref("AccountResources"), Expr::lit("true")),
    );

    (external_id, bus_arn)
}

/// The role the control plane's functions assume in the cell: the tenant stacks' calls, the
/// update change sets, passing the cell's provisioning role, and reading the templates.
fn access_role(
    config: &Config,
    external_id: Expr,
    provisioning_role: &Role,
    artifacts: &Bucket,
    reads: &[Statement],
) -> Role {
    let prefix = config.prefix();
    let tenant_stacks = constructs::arn(
        "cloudformation",
        &format!("stack/{}*/*", config.tenant_stack_prefix()),
    );
    let trust = Statement::assume_role(Principal::Aws(
        Expr::sub("arn:${AWS::Partition}:iam::${ControlPlaneAccount}:root").into(),
    ))
    .condition("StringEquals", "sts:ExternalId", external_id)
    .condition(
        "ArnLike",
        "aws:PrincipalArn",
        Expr::sub(format!(
            "arn:${{AWS::Partition}}:iam::${{ControlPlaneAccount}}:role{}*",
            control_plane_role_path(config)
        )),
    );
    let mut access = Role::trusting("AccessRole", trust)
        .role_name(Expr::sub(names::access_role(prefix, CELL_NAME)))
        .description("Assumed by the control plane's functions to work this cell's tenant stacks");
    access.allow(
        &[
            "cloudformation:CreateStack",
            "cloudformation:DeleteStack",
            "cloudformation:DescribeStacks",
            "cloudformation:ListStackResources",
        ],
        [tenant_stacks.clone()],
    );
    access.add_statement(
        Statement::allow(
            &[
                "cloudformation:CreateChangeSet",
                "cloudformation:DeleteChangeSet",
                "cloudformation:DescribeChangeSet",
                "cloudformation:ExecuteChangeSet",
            ],
            [tenant_stacks],
        )
        .condition(
            "StringLike",
            "cloudformation:ChangeSetName",
            format!("{prefix}-update-*"),
        ),
    );
    access.grant_pass_role(provisioning_role, "cloudformation.amazonaws.com");
    // The provisioner invites each tenant's administrator into its directory; a pool's ARN
    // holds its generated id, so the app's tag scopes it.
    access.add_statement(
        Statement::allow(
            &["cognito-idp:AdminCreateUser"],
            [constructs::arn("cognito-idp", "userpool/*")],
        )
        .condition(
            "StringEquals",
            &format!("aws:ResourceTag/{}", crate::blueprint::APP_TAG),
            prefix,
        ),
    );
    // CloudFormation reads TemplateURL with the caller's credentials.
    artifacts.as_ref().grant_read(&mut access, "templates/*");
    // Drift detection, which reads each resource with the caller's credentials too.
    access.allow(
        &[
            "cloudformation:DetectStackDrift",
            "cloudformation:DescribeStackResourceDrifts",
        ],
        [constructs::arn(
            "cloudformation",
            &format!("stack/{}*/*", config.tenant_stack_prefix()),
        )],
    );
    // IAM authorizes it on no resource type: a detection id is not an ARN.
    access.add_statement(
        Statement::allow(&["cloudformation:DescribeStackDriftDetectionStatus"], ["*"])
            .sid("DriftDetectionStatus"),
    );
    for statement in reads {
        access.add_statement(statement.clone());
    }
    access
}

/// The cell's tenant stack status changes and its tenant stacks' alarm state changes,
/// forwarded to the control plane's bus through a role, with a dead-letter queue that only the rule may send to.
fn forwarding(config: &Config, t: &mut Template, bus_arn: Expr) {
    let prefix = config.prefix();
    let mut forwarder = Role::for_service("ForwarderRole", "events.amazonaws.com").description(
        "Lets EventBridge put this cell's tenant stack and alarm events on the control plane's bus",
    );
    forwarder.allow(&["events:PutEvents"], [bus_arn.clone()]);
    forwarder.add_to(t);
    // Named: a generated name grows with the stack's, and a StackSet instance's stack name
    // (`StackSet-{set}-{uuid}`) is long.
    let dlq = Queue::new("ForwardDeadLetterQueue")
        .queue_name(Expr::sub(names::forward_dlq(prefix, CELL_NAME)));
    dlq.add_to(t);
    let sources = [
        (
            EventSource::StackStatus,
            "ForwardStackEvents",
            "Tenant stack status changes, forwarded to the control plane",
        ),
        (
            EventSource::AlarmState,
            "ForwardAlarmStates",
            "Tenant stacks' alarm state changes, forwarded to the control plane",
        ),
    ];
    for (source, id, description) in sources {
        t.add(
            id,
            &events::Rule {
                description: Some(description.into()),
                event_pattern: Some(source.pattern(config, None)),
                state: Some(events::rule::State::Enabled.into()),
                targets: Some(vec![events::rule::Target {
                    role_arn: Some(forwarder.arn().into()),
                    dead_letter_config: Some(events::rule::DeadLetterConfig {
                        arn: Some(dlq.arn().into()),
                    }),
                    retry_policy: Some(events::rule::RetryPolicy {
                        maximum_retry_attempts: Some(constructs::count(8)),
                        maximum_event_age_in_seconds: Some(constructs::count(3600)),
                    }),
                    ..events::rule::Target::new(bus_arn.clone(), "ControlPlaneBus")
                }]),
                ..events::Rule::new()
            },
        );
    }
    t.add(
        "ForwardDeadLetterQueuePolicy",
        &sqs::QueuePolicy::new(
            crate::cfn::iam::PolicyDocument::new(
                sources
                    .iter()
                    .map(|(_, id, _)| {
                        Statement::allow(&["sqs:SendMessage"], [dlq.arn()])
                            .sid(&format!("Allow{id}Only"))
                            .principal(Principal::service("events.amazonaws.com"))
                            .condition(
                                "ArnEquals",
                                "aws:SourceArn",
                                crate::cfn::Handle::<events::Rule>::new(id).attr_arn(),
                            )
                    })
                    .collect(),
            ),
            vec![dlq.url().into()],
        ),
    );
}
