use serde_json::json;

use crate::blueprint::cells::Cells;
use crate::cfn::dynamodb::table::{AttributeType, StreamViewType};
use crate::cfn::events::EventBusPolicy;
use crate::cfn::iam::Statement;
use crate::cfn::{Delivery, Expr, Output, Parameter, Template};
use crate::constructs::{
    self, BucketRef, Code, EventBus, EventRule, Function, HttpApi, Method, Queue, Role,
    StreamSubscription, Table,
};

use super::cell::control_plane_role_path;
use super::provisioning::{self, Provisioning};
use super::{ArtifactParameters, CONTROL_PLANE_ARTIFACT, Config, Kind, Stack, Target};

/// The catalog pointer: the one fixed key in the artifacts bucket through which synth's
/// manifest, deploy and the runtime (via `CATALOG_KEY`) find the current catalog.
pub const CATALOG_POINTER_KEY: &str = "catalog/current.json";

/// The tenants table's index of tenants by status, oldest first: `status` (S), `created` (N).
/// Lock items and idempotency records have neither, so they are not in it. The runtime names it
/// as `control_plane::store::STATUS_INDEX`; `tests/synth.rs` checks the two agree.
pub const STATUS_INDEX: &str = "byStatus";

const SYNC_NO_DLQ: &str = "Invoked synchronously by API Gateway: errors return to the caller and there are no asynchronous events to keep";

/// `{prefix}-control-plane`: the tenants table, the provisioning role and, on AWS, the HTTP API,
/// one function per route, the provisioner on the table stream and the stack-events handler.
pub fn control_plane(
    config: &Config,
    target: Target,
    provisioning: &Provisioning,
    cells: &Cells,
) -> Stack {
    let prefix = config.prefix();
    let id = match target {
        Target::Aws => "control-plane",
        Target::Local => "control-plane-local",
    };
    let mut t = Template::new(id);
    t.description(&match target {
        Target::Aws => format!("silos control plane for prefix {prefix}: tenants API, provisioner and stack-events handler"),
        Target::Local => format!("silos control plane for prefix {prefix}, local variant: the state resources only; silos local runs the API and processors in-process"),
    });

    t.parameter(
        "ArtifactsBucket",
        Parameter::string("The artifacts bucket of the toolkit stack").length(3, 63),
    );
    let bucket = artifacts_bucket(config);
    // Idempotency records expire (`control_plane::idempotency`). Listing by status (the API's
    // `?status=`, the reconciler) reads the index instead of scanning the table.
    let tenants = Table::new("TenantsTable", "tenantId")
        .stream(StreamViewType::NewImage)
        .time_to_live("expiresAt")
        .global_index(
            STATUS_INDEX,
            ("status", AttributeType::S),
            Some(("created", AttributeType::N)),
        );
    let boundary = provisioning::add_boundary(config, &mut t, &provisioning.boundary).handle();
    let provisioning = &provisioning.role;
    tenants.add_to(&mut t);
    provisioning.add_to(&mut t);
    // Tenant lifecycle events (`control_plane::events`): state, so local mode has it too.
    let bus = EventBus::new(
        "EventBus",
        &config.event_bus_name(),
        "Tenant lifecycle events (source silos.tenants), published from the tenants table's stream",
    );
    bus.add_to(&mut t);
    t.output(
        "EventBusName",
        Output::new("The bus of tenant lifecycle events", bus.name().to_owned()),
    );
    t.output(
        "EventBusArn",
        Output::new("The bus of tenant lifecycle events", bus.arn()),
    );
    t.output(
        "TenantsTableName",
        Output::new("The tenants table", tenants.name()),
    );
    t.output(
        "TenantBoundaryArn",
        Output::new(
            "The permissions boundary every tenant role carries",
            boundary.r#ref(),
        ),
    );
    t.output(
        "ProvisioningRoleArn",
        Output::new(
            "The role CloudFormation assumes to create and delete tenant stacks",
            provisioning.arn(),
        ),
    );

    let mut artifacts = Vec::new();
    if target == Target::Aws {
        let code_key = t.parameter(
            "ControlPlaneCodeKey",
            Parameter::string("The key of the control plane's Lambda zip in the artifacts bucket")
                .length(1, 1024),
        );
        artifacts.push(ArtifactParameters {
            artifact: CONTROL_PLANE_ARTIFACT,
            bucket_parameter: "ArtifactsBucket",
            key_parameter: "ControlPlaneCodeKey",
        });
        aws_compute(
            config,
            cells,
            &mut t,
            State {
                tenants: &tenants,
                provisioning,
                bucket: &bucket,
                bus: &bus,
            },
            code_key,
        );
        t.output(
            "ArtifactsBucketName",
            Output::new(
                "The artifacts bucket this control plane reads",
                bucket.name(),
            ),
        );
    }

    Stack {
        id: id.to_owned(),
        stack_name: Some(format!("{prefix}-control-plane")),
        kind: Kind::ControlPlane,
        target: Some(target),
        delivery: Delivery::Url,
        template: t,
        artifacts,
    }
}

/// The artifacts bucket, from the stack's `ArtifactsBucket` parameter.
pub(super) fn artifacts_bucket(_config: &Config) -> BucketRef {
    BucketRef::from_name(Expr::r#ref("ArtifactsBucket"))
}

/// The state resources both variants hold, which the AWS variant's functions use.
struct State<'a> {
    tenants: &'a Table,
    provisioning: &'a Role,
    bucket: &'a BucketRef,
    bus: &'a EventBus,
}

/// The API, the functions and the event plumbing, which only exist on AWS.
fn aws_compute(config: &Config, cells: &Cells, t: &mut Template, state: State, code_key: Expr) {
    let State {
        tenants,
        provisioning,
        bucket,
        bus,
    } = state;
    let prefix = config.prefix();
    let code = Code {
        bucket: bucket.name(),
        key: code_key.into(),
    };
    let tenant_stacks = constructs::arn(
        "cloudformation",
        &format!("stack/{}*/*", config.tenant_stack_prefix()),
    );
    let function = |id: &str, handler: &str, description: &str| {
        Function::new(id, code.clone())
            .description(description)
            .env("SILOS_HANDLER", handler)
            .env("SILOS_PREFIX", prefix)
            .env("TENANTS_TABLE", tenants.name())
            .env("ARTIFACTS_BUCKET", bucket.name())
            .env("CATALOG_KEY", CATALOG_POINTER_KEY)
    };

    // One function per route, each with only the calls its route makes.
    let mut list =
        function("ListTenants", "api", "GET /tenants").without_dead_letter_queue(SYNC_NO_DLQ);
    // Every tenant: a Scan, page by page. By status: a Query of the index.
    tenants.grant(list.role_mut(), &["dynamodb:Scan"]);
    tenants.grant_index(list.role_mut(), STATUS_INDEX, &["dynamodb:Query"]);

    let mut get = function("GetTenant", "api", "GET /tenants/{tenantId}")
        .without_dead_letter_queue(SYNC_NO_DLQ);
    tenants.grant(get.role_mut(), &["dynamodb:GetItem"]);

    let mut onboarding =
        function("Onboarding", "api", "POST /onboarding").without_dead_letter_queue(SYNC_NO_DLQ);
    // A tenant and its name lock: two conditional Puts in one transaction, with a check that
    // no tenant recorded before Unicode names holds the name under its old lock.
    // With an Idempotency-Key: the key's record is read (GetItem), claimed in the same
    // transaction (PutItem), and given the answer (UpdateItem); likewise on every mutating
    // route.
    // Placement reads the cells' counts (BatchGetItem) and raises one in the same transaction.
    tenants.grant(
        onboarding.role_mut(),
        &[
            "dynamodb:BatchGetItem",
            "dynamodb:ConditionCheckItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
        ],
    );
    bucket.grant_read(onboarding.role_mut(), "catalog/*");

    let mut delete = function("Delete", "api", "POST /delete")
        .without_dead_letter_queue(SYNC_NO_DLQ)
        .role_path(&control_plane_role_path(config));
    tenants.grant(
        delete.role_mut(),
        &[
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
        ],
    );
    delete
        .role_mut()
        .allow(&["cloudformation:DeleteStack"], [tenant_stacks.clone()]);
    // The catalog says which cell the tenant's stack is in, and how to reach it.
    bucket.grant_read(delete.role_mut(), "catalog/*");

    let mut info = function("TenantInfo", "api", "POST /tenant-info")
        .without_dead_letter_queue(SYNC_NO_DLQ)
        .role_path(&control_plane_role_path(config));
    tenants.grant(info.role_mut(), &["dynamodb:GetItem"]);
    info.role_mut().allow(
        &["cloudformation:ListStackResources"],
        [tenant_stacks.clone()],
    );
    bucket.grant_read(info.role_mut(), "catalog/*");

    // DescribeStacks: after AlreadyExists (a redelivery), and around a dead stack (a retry).
    // DeleteStack: only a retry clears a stack a failed create left behind.
    let provisioner_calls = |f: &mut Function, cfn_actions: &[&str]| {
        tenants.grant(f.role_mut(), &["dynamodb:GetItem", "dynamodb:UpdateItem"]);
        f.role_mut().allow(cfn_actions, [tenant_stacks.clone()]);
        f.role_mut()
            .grant_pass_role(provisioning, "cloudformation.amazonaws.com");
        // CloudFormation reads TemplateURL with the caller's credentials.
        bucket.grant_read(f.role_mut(), "templates/*");
        bucket.grant_read(f.role_mut(), "catalog/*");
    };
    // The update route only records the request; the provisioner carries it out.
    let mut update =
        function("Update", "api", "POST /update").without_dead_letter_queue(SYNC_NO_DLQ);
    tenants.grant(
        update.role_mut(),
        &[
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
        ],
    );
    bucket.grant_read(update.role_mut(), "catalog/*");

    let mut types = function("DeploymentTypes", "api", "GET /deployment-types")
        .without_dead_letter_queue(SYNC_NO_DLQ);
    bucket.grant_read(types.role_mut(), "catalog/*");

    let mut retry = function("Retry", "api", "POST /retry")
        .without_dead_letter_queue(SYNC_NO_DLQ)
        .role_path(&control_plane_role_path(config))
        .env("PROVISIONING_ROLE_ARN", provisioning.arn());
    provisioner_calls(
        &mut retry,
        &[
            "cloudformation:CreateStack",
            "cloudformation:DeleteStack",
            "cloudformation:DescribeStacks",
        ],
    );
    // An Idempotency-Key's claim.
    tenants.grant(retry.role_mut(), &["dynamodb:PutItem"]);

    // Updates go through change sets, named after the tenant stack's update. The change-set
    // actions are authorized on the stack; the name is held by the ChangeSetName condition.
    let update_calls = |f: &mut Function| {
        f.role_mut().add_statement(
            Statement::allow(
                &[
                    "cloudformation:CreateChangeSet",
                    "cloudformation:DeleteChangeSet",
                    "cloudformation:DescribeChangeSet",
                    "cloudformation:ExecuteChangeSet",
                ],
                [tenant_stacks.clone()],
            )
            .condition(
                "StringLike",
                "cloudformation:ChangeSetName",
                format!("{prefix}-update-*"),
            ),
        );
    };
    let mut provisioner = function(
        "Provisioner",
        "provisioner",
        "Creates tenant stacks for new tenants, and updates them on request, from the table stream",
    )
    .timeout(120)
    .role_path(&control_plane_role_path(config))
    .env("PROVISIONING_ROLE_ARN", provisioning.arn())
    .without_dead_letter_queue(
        "Invoked by a stream event source mapping, whose on-failure destination keeps failed records",
    );
    provisioner_calls(
        &mut provisioner,
        &[
            "cloudformation:CreateStack",
            "cloudformation:DescribeStacks",
        ],
    );
    update_calls(&mut provisioner);
    let subscription =
        StreamSubscription::new("ProvisionerSubscription", tenants, &mut provisioner)
            .filter(json!({
                "eventName": ["INSERT"],
                "dynamodb": {"NewImage": {"status": {"S": ["initiated"]}}}
            }))
            // An update requested through the API (it sets a target version).
            .filter(json!({
                "eventName": ["MODIFY"],
                "dynamodb": {"NewImage": {
                    "status": {"S": ["updating"]},
                    "targetVersion": {"S": [{"exists": true}]}
                }}
            }));

    // Lifecycle events: every committed transition, published from the stream, with its own
    // mapping (retries, bisection, an on-failure queue), so a failed publish never holds up
    // provisioning. Lock items and idempotency records (they carry `kind`) are filtered out.
    let mut publisher = function(
        "EventPublisher",
        "events",
        "Publishes tenant lifecycle events on the event bus, from the table stream",
    )
    .role_path(&control_plane_role_path(config))
    // The ARN (PutEvents takes a name or an ARN): a reference, so the bus comes first.
    .env("EVENT_BUS", bus.arn())
    .env("SILOS_EVENT_NAMES", config.event_names())
    .without_dead_letter_queue(
        "Invoked by a stream event source mapping, whose on-failure destination keeps failed records",
    );
    bus.grant_put(publisher.role_mut());
    // A running tenant's event carries its stack's outputs.
    publisher
        .role_mut()
        .allow(&["cloudformation:DescribeStacks"], [tenant_stacks.clone()]);
    // Read in the tenant's cell, which the catalog names.
    bucket.grant_read(publisher.role_mut(), "catalog/*");
    let publications =
        StreamSubscription::new("EventPublisherSubscription", tenants, &mut publisher).filter(
            json!({
                "eventName": ["INSERT", "MODIFY"],
                "dynamodb": {"NewImage": {"kind": {"S": [{"exists": false}]}}}
            }),
        );

    let events_dlq = Queue::new("StackEventsDeadLetterQueue");
    let mut stack_events = function(
        "StackEvents",
        "stack-events",
        "Moves tenants through their statuses on tenant stack status changes",
    )
    .dead_letter_queue(&events_dlq);
    // Reaching `deleted` frees the tenant's name: an update and a lock delete in one transaction.
    tenants.grant(
        stack_events.role_mut(),
        &[
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
        ],
    );
    let rule = EventRule::pattern(
        "StackStatusRule",
        "Tenant stack status changes, and no other stack's",
        json!({
            "source": ["aws.cloudformation"],
            "detail-type": ["CloudFormation Stack Status Change"],
            "detail": {"stack-id": [{"prefix": constructs::arn(
                "cloudformation",
                &format!("stack/{}", config.tenant_stack_prefix()),
            )}]}
        }),
    )
    .target(&stack_events);

    // The reconciler: tenants stuck in a transitional status are repaired from their stacks,
    // on a schedule. It lists the tenants in flight (a Query of the status index), applies stack statuses like the stack-events
    // handler (a delete frees the name lock), and resumes provisioning like the provisioner.
    let mut reconciler = function(
        "Reconciler",
        "reconciler",
        "Repairs tenants stuck in provisioning, deleting or updating, from their stacks",
    )
    .timeout(300)
    .role_path(&control_plane_role_path(config))
    .env("PROVISIONING_ROLE_ARN", provisioning.arn())
    .without_dead_letter_queue(
        "Invoked by a schedule rule whose target has its own dead-letter queue, and the next scheduled pass retries anything missed",
    );
    // DeleteStack: a retried tenant cut off before CreateStack is resumed here, and its
    // attempt clears the stack the failed create left behind first.
    provisioner_calls(
        &mut reconciler,
        &[
            "cloudformation:CreateStack",
            "cloudformation:DeleteStack",
            "cloudformation:DescribeStacks",
        ],
    );
    update_calls(&mut reconciler);
    tenants.grant(reconciler.role_mut(), &["dynamodb:DeleteItem"]);
    tenants.grant_index(reconciler.role_mut(), STATUS_INDEX, &["dynamodb:Query"]);
    let schedule = EventRule::schedule(
        "ReconcilerSchedule",
        "Runs the reconciler over stuck tenants",
        "rate(5 minutes)",
    )
    .target(&reconciler);

    // Cells in other accounts: the functions that work tenant stacks assume each cell's
    // access role, and the cells forward their tenant stack events to the bus.
    let access_roles: Vec<Expr> = cells
        .remote()
        .filter_map(|c| {
            Some(Expr::sub(format!(
                "arn:${{AWS::Partition}}:iam::{}:role/{}",
                c.account.as_deref()?,
                c.access_role_name(prefix)
            )))
        })
        .collect();
    if !access_roles.is_empty() {
        for f in [
            &mut delete,
            &mut info,
            &mut retry,
            &mut provisioner,
            &mut publisher,
            &mut reconciler,
        ] {
            f.role_mut()
                .allow(&["sts:AssumeRole"], access_roles.clone());
        }
    }
    let cell_accounts: std::collections::BTreeSet<&str> = cells
        .remote()
        .filter_map(|c| c.account.as_deref())
        .collect();
    for account in &cell_accounts {
        t.add(
            &format!("CellEvents{account}"),
            &EventBusPolicy {
                event_bus_name: Some(bus.name().to_owned().into()),
                statement: Some(json!({
                    "Sid": format!("CellEvents{account}"),
                    "Effect": "Allow",
                    "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
                    "Action": "events:PutEvents",
                    "Resource": bus.arn(),
                })),
                ..EventBusPolicy::new(format!("CellEvents{account}"))
            },
        );
    }
    let forwarded = (!cell_accounts.is_empty()).then(|| {
        let stacks: Vec<String> = cells
            .remote()
            .filter_map(|c| {
                Some(format!(
                    "arn:aws:cloudformation:{}:{}:stack/{}",
                    c.region.as_deref()?,
                    c.account.as_deref()?,
                    config.tenant_stack_prefix()
                ))
            })
            .collect();
        EventRule::pattern(
            "CellStackStatusRule",
            "Tenant stack status changes the cells forward, and no other stack's",
            json!({
                "source": ["aws.cloudformation"],
                "detail-type": ["CloudFormation Stack Status Change"],
                "account": cell_accounts.iter().collect::<Vec<_>>(),
                "detail": {"stack-id": stacks.iter().map(|p| json!({"prefix": p})).collect::<Vec<_>>()}
            }),
        )
        .on_bus(bus.name().to_owned())
        .target(&stack_events)
    });

    let mut api = HttpApi::new("Api", format!("{prefix}-control-plane"))
        .description("silos tenant API; every route requires SigV4 (AWS_IAM) authorization");
    api.route(Method::Get, "/tenants", &list);
    api.route(Method::Get, "/tenants/{tenantId}", &get);
    api.route(Method::Post, "/onboarding", &onboarding);
    api.route(Method::Post, "/delete", &delete);
    api.route(Method::Post, "/tenant-info", &info);
    api.route(Method::Post, "/retry", &retry);
    api.route(Method::Post, "/update", &update);
    api.route(Method::Get, "/deployment-types", &types);

    for f in [
        &list,
        &get,
        &onboarding,
        &delete,
        &info,
        &retry,
        &update,
        &types,
        &provisioner,
        &publisher,
        &stack_events,
        &reconciler,
    ] {
        f.add_to(t);
    }
    subscription.add_to(t);
    publications.add_to(t);
    events_dlq.add_to(t);
    rule.add_to(t);
    if let Some(forwarded) = &forwarded {
        forwarded.add_to(t);
    }
    schedule.add_to(t);
    api.add_to(t);

    t.output("ApiUrl", Output::new("The tenant API's URL", api.url()));
    t.output(
        "ProvisionerFailureQueueUrl",
        Output::new(
            "Stream records the provisioner could not process",
            subscription.failure_queue().url(),
        ),
    );
    t.output(
        "EventPublisherFailureQueueUrl",
        Output::new(
            "Stream records whose lifecycle events could not be published",
            publications.failure_queue().url(),
        ),
    );
}
