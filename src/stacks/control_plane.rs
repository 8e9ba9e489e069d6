use serde_json::{Value, json};

use crate::blueprint::cells::Cells;
use crate::cfn::dynamodb::table::{AttributeType, StreamViewType};
use crate::cfn::events::EventBusPolicy;
use crate::cfn::iam::Statement;
use crate::cfn::{Delivery, Expr, Output, Parameter, Template};
use crate::constructs::{
    self, BucketRef, Code, EventBus, EventRule, Function, HttpApi, Method, Queue, Role,
    StreamSubscription, Table,
};
use crate::functions::{self, Env, Grant, Trigger};

use super::cell::control_plane_role_path;
use super::event_sources::EventSource;
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
    let tenants = tenants_table();
    let boundary = provisioning::add_boundary(config, &mut t, &provisioning.boundary).handle();
    let reads = &provisioning.reads;
    let provisioning = &provisioning.role;
    tenants.add_to(&mut t);
    provisioning.add_to(&mut t);
    let bus = event_bus(config);
    bus.add_to(&mut t);
    state_outputs(&mut t, &tenants, &bus, boundary.r#ref(), provisioning);

    let mut artifacts = Vec::new();
    if target == Target::Aws {
        let state = State {
            tenants: &tenants,
            provisioning,
            reads,
            bucket: &bucket,
            bus: &bus,
        };
        artifacts.push(aws_variant(config, cells, &mut t, state));
        dashboard(config, &mut t);
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

/// The tenants table. Idempotency records expire (`control_plane::idempotency`). Listing by
/// status (the API's `?status=`, the reconciler) reads the index instead of scanning the table.
fn tenants_table() -> Table {
    Table::new("TenantsTable", "tenantId")
        .stream(StreamViewType::NewImage)
        .time_to_live("expiresAt")
        .global_index(
            STATUS_INDEX,
            ("status", AttributeType::S),
            Some(("created", AttributeType::N)),
        )
}

/// The bus of tenant lifecycle events (`control_plane::events`): state, so local mode has it
/// too.
fn event_bus(config: &Config) -> EventBus {
    EventBus::new(
        "EventBus",
        &config.event_bus_name(),
        "Tenant lifecycle events (source silos.tenants), published from the tenants table's stream",
    )
}

/// The outputs of the state resources both variants hold.
fn state_outputs(
    t: &mut Template,
    tenants: &Table,
    bus: &EventBus,
    boundary: Expr,
    provisioning: &Role,
) {
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
            boundary,
        ),
    );
    t.output(
        "ProvisioningRoleArn",
        Output::new(
            "The role CloudFormation assumes to create and delete tenant stacks",
            provisioning.arn(),
        ),
    );
}

/// What only the AWS variant adds: the code key parameter, the compute ([`aws_compute`]) and
/// the artifacts bucket's output. Returns the control plane artifact's parameters.
fn aws_variant(
    config: &Config,
    cells: &Cells,
    t: &mut Template,
    state: State,
) -> ArtifactParameters {
    let code_key = t.parameter(
        "ControlPlaneCodeKey",
        Parameter::string("The key of the control plane's Lambda zip in the artifacts bucket")
            .length(1, 1024),
    );
    let bucket = state.bucket;
    aws_compute(config, cells, t, state, code_key);
    t.output(
        "ArtifactsBucketName",
        Output::new(
            "The artifacts bucket this control plane reads",
            bucket.name(),
        ),
    );
    ArtifactParameters {
        artifact: CONTROL_PLANE_ARTIFACT,
        bucket_parameter: "ArtifactsBucket",
        key_parameter: "ControlPlaneCodeKey",
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
    /// What drift detection reads of tenant resources ([`provisioning::drift_reads`]).
    reads: &'a [Statement],
    bucket: &'a BucketRef,
    bus: &'a EventBus,
}

/// The API, the functions and the event plumbing, which only exist on AWS: each function of
/// [`functions::FUNCTIONS`], its role's grants, and its trigger's resources.
fn aws_compute(config: &Config, cells: &Cells, t: &mut Template, state: State, code_key: Expr) {
    let code = Code {
        bucket: state.bucket.name(),
        key: code_key.into(),
    };
    let access_roles = cell_access_roles(config, cells);
    let mut api = HttpApi::new("Api", format!("{}-control-plane", config.prefix()))
        .description("silos tenant API; every route requires SigV4 (AWS_IAM) authorization");
    let mut made = Vec::new();
    for declaration in functions::FUNCTIONS {
        let mut f = function(config, &state, &code, declaration);
        let trigger = trigger(config, cells, &state, declaration, &mut f);
        if declaration.has(Grant::CellAccess) && !access_roles.is_empty() {
            f.role_mut()
                .allow(&["sts:AssumeRole"], access_roles.clone());
        }
        for route in declaration.routes() {
            let method = match route.method {
                functions::Method::Get => Method::Get,
                functions::Method::Post => Method::Post,
            };
            api.route(method, route.path, &f);
        }
        made.push((f, trigger));
    }
    for (f, _) in &made {
        f.add_to(t);
    }
    for (_, trigger) in &made {
        trigger.add_to(t);
    }
    cell_event_policies(t, state.bus, cells);
    api.add_to(t);
    t.output("ApiUrl", Output::new("The tenant API's URL", api.url()));
    for (f, trigger) in &made {
        if let Made::Stream(subscription, failures) = trigger {
            t.output(
                &format!(
                    "{}FailureQueueUrl",
                    f.logical_id().trim_end_matches("Function")
                ),
                Output::new(failures, subscription.failure_queue().url()),
            );
        }
    }
}

/// The function `declaration` names, with its environment and its role's grants (all but
/// the trigger's own and [`Grant::CellAccess`], which [`aws_compute`] adds after them).
fn function(
    config: &Config,
    state: &State,
    code: &Code,
    declaration: &functions::Declaration,
) -> Function {
    let tenants = state.tenants;
    let bucket = state.bucket;
    let mut f = Function::new(declaration.id, code.clone())
        .description(&declaration.description())
        .env("SILOS_HANDLER", declaration.handler.name())
        .env("SILOS_PREFIX", config.prefix())
        .env("TENANTS_TABLE", tenants.name())
        .env("ARTIFACTS_BUCKET", bucket.name())
        .env("CATALOG_KEY", CATALOG_POINTER_KEY);
    for env in declaration.env {
        f = match env {
            Env::ProvisioningRole => f.env("PROVISIONING_ROLE_ARN", state.provisioning.arn()),
            // The ARN (PutEvents takes a name or an ARN): a reference, so the bus comes first.
            Env::EventBus => f.env("EVENT_BUS", state.bus.arn()),
            Env::EventNames => f.env("SILOS_EVENT_NAMES", config.event_names()),
            Env::DriftInterval => f.env(
                "SILOS_DRIFT_INTERVAL_SECONDS",
                config.drift_interval().as_secs().to_string(),
            ),
        };
    }
    if let Some(mb) = declaration.memory {
        f = f.memory(mb);
    }
    if let Some(seconds) = declaration.timeout {
        f = f.timeout(seconds);
    }
    if declaration.has(Grant::CellAccess) {
        f = f.role_path(&control_plane_role_path(config));
    }
    f = match declaration.trigger {
        Trigger::Routes(_) => f.without_dead_letter_queue(SYNC_NO_DLQ),
        Trigger::Stream { .. } => f.without_dead_letter_queue(
            "Invoked by a stream event source mapping, whose on-failure destination keeps failed records",
        ),
        Trigger::StackStatus | Trigger::AlarmState => {
            f.dead_letter_queue(&dead_letter_queue(declaration))
        }
        Trigger::Schedule { .. } => f.without_dead_letter_queue(
            "Invoked by a schedule rule whose target has its own dead-letter queue, and the next scheduled pass retries anything missed",
        ),
    };
    let tenant_stacks = constructs::arn(
        "cloudformation",
        &format!("stack/{}*/*", config.tenant_stack_prefix()),
    );
    for grant in declaration.grants {
        let role = f.role_mut();
        match grant {
            Grant::Table(actions) => tenants.grant(role, actions),
            Grant::StatusIndex(actions) => tenants.grant_index(role, STATUS_INDEX, actions),
            Grant::Catalog => bucket.grant_read(role, "catalog/*"),
            Grant::Templates => bucket.grant_read(role, "templates/*"),
            Grant::TenantStacks(actions) => role.allow(actions, [tenant_stacks.clone()]),
            Grant::PassProvisioningRole => {
                role.grant_pass_role(state.provisioning, "cloudformation.amazonaws.com")
            }
            // Change sets are authorized on the stack; the name is held by the condition.
            Grant::ChangeSets => role.add_statement(
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
                    format!("{}-update-*", config.prefix()),
                ),
            ),
            Grant::PutEvents => state.bus.grant_put(role),
            // A pool's ARN holds its generated id: scoped by the app's tag, which every
            // tenant stack carries and CloudFormation propagates to the pool.
            Grant::TenantDirectories(actions) => role.add_statement(
                Statement::allow(actions, [constructs::arn("cognito-idp", "userpool/*")])
                    .condition(
                        "StringEquals",
                        &format!("aws:ResourceTag/{}", crate::blueprint::APP_TAG),
                        config.prefix(),
                    ),
            ),
            Grant::DriftDetection => {
                role.allow(
                    &[
                        "cloudformation:DetectStackDrift",
                        "cloudformation:DescribeStackResourceDrifts",
                    ],
                    [tenant_stacks.clone()],
                );
                // IAM authorizes it on no resource type: a detection id is not an ARN.
                role.add_statement(
                    Statement::allow(&["cloudformation:DescribeStackDriftDetectionStatus"], ["*"])
                        .sid("DriftDetectionStatus"),
                );
                for statement in state.reads {
                    role.add_statement(statement.clone());
                }
            }
            Grant::CellAccess => {}
        }
    }
    f
}

/// The resources of a function's trigger.
// A dozen of these live for one synth: their sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum Made {
    /// The API's routes are the HTTP API's, added once for every function.
    Routes,
    /// The mapping, and what its on-failure queue keeps.
    Stream(StreamSubscription, &'static str),
    /// An AWS event's: the dead-letter queue, the rule and (with cells in other accounts) the
    /// forwarded rule.
    Events(Queue, EventRule, Option<EventRule>),
    Schedule(EventRule),
}

impl Made {
    fn add_to(&self, t: &mut Template) {
        match self {
            Made::Routes => {}
            Made::Stream(subscription, _) => subscription.add_to(t),
            Made::Events(dlq, rule, forwarded) => {
                dlq.add_to(t);
                rule.add_to(t);
                if let Some(forwarded) = forwarded {
                    forwarded.add_to(t);
                }
            }
            Made::Schedule(rule) => rule.add_to(t),
        }
    }
}

/// The dead-letter queue of a function invoked asynchronously by an event rule.
fn dead_letter_queue(declaration: &functions::Declaration) -> Queue {
    Queue::new(&format!("{}DeadLetterQueue", declaration.id))
}

/// The resources that invoke `f`, as its declaration's trigger says (the stream's reads and
/// on-failure queue are granted here).
fn trigger(
    config: &Config,
    cells: &Cells,
    state: &State,
    declaration: &functions::Declaration,
    f: &mut Function,
) -> Made {
    let id = declaration.id;
    match declaration.trigger {
        Trigger::Routes(_) => Made::Routes,
        Trigger::Stream {
            filters,
            failures,
            parallelization,
        } => {
            let mut subscription =
                StreamSubscription::new(&format!("{id}Subscription"), state.tenants, f)
                    .parallelization(parallelization);
            for filter in filters {
                subscription = subscription.filter(filter.pattern());
            }
            Made::Stream(subscription, failures)
        }
        Trigger::StackStatus | Trigger::AlarmState => {
            let source = EventSource::of(declaration.trigger);
            let rule = EventRule::pattern(
                source.rule_id(),
                source.rule_description(),
                source.pattern(config, None),
            )
            .target(f);
            let forwarded = forwarded_rule(config, cells, state.bus, source).map(|r| r.target(f));
            Made::Events(dead_letter_queue(declaration), rule, forwarded)
        }
        Trigger::Schedule {
            expression,
            description,
        } => Made::Schedule(
            EventRule::schedule(&format!("{id}Schedule"), description, expression).target(f),
        ),
    }
}

/// The name of the control plane's CloudWatch dashboard of the fleet.
pub fn dashboard_name(config: &Config) -> String {
    format!("{}-fleet", config.prefix())
}

/// The dashboard's widgets, each drawing one metric the functions write
/// (`functions::metrics`): a line per dimension value, with the statistics that suit it.
pub fn dashboard_body(config: &Config) -> Value {
    use functions::metrics::{self, Metric};
    let namespace = &metrics::namespace(config.prefix());
    let lines = |metric: Metric, stats: &[&str]| -> Vec<Value> {
        let values = metrics::dimension_values(metric);
        match metric.dimension {
            Some(dimension) => values
                .iter()
                .flat_map(|v| {
                    stats.iter().map(move |stat| {
                        json!([namespace, metric.name, dimension, v, {"stat": stat, "label": v}])
                    })
                })
                .collect(),
            None => stats
                .iter()
                .map(|stat| json!([namespace, metric.name, {"stat": stat, "label": stat}]))
                .collect(),
        }
    };
    let widget = |metric: Metric, stats: &[&str], stacked: bool, at: (u32, u32)| {
        json!({
            "type": "metric",
            "x": at.0,
            "y": at.1,
            "width": 12,
            "height": 6,
            "properties": {
                "title": metric.description,
                "region": "${AWS::Region}",
                "view": "timeSeries",
                "stacked": stacked,
                "period": 300,
                "metrics": lines(metric, stats),
            }
        })
    };
    json!({
        "widgets": [
            widget(metrics::TENANTS, &["Maximum"], true, (0, 0)),
            widget(metrics::FAILURES, &["Sum"], true, (12, 0)),
            widget(metrics::ONBOARDING_SECONDS, &["p50", "p90", "Maximum"], false, (0, 6)),
            widget(metrics::OFFBOARDING_SECONDS, &["p50", "p90", "Maximum"], false, (12, 6)),
            widget(metrics::ALARMS_FIRED, &["Sum"], false, (0, 12)),
            widget(metrics::HEALTH_CHANGES, &["Sum"], true, (12, 12)),
        ]
    })
}

/// The fleet's dashboard: tenants by status, failures, onboarding and offboarding times, and
/// the tenants' alarms.
fn dashboard(config: &Config, t: &mut Template) {
    let body = serde_json::to_string(&dashboard_body(config)).unwrap_or_default();
    t.add(
        "FleetDashboard",
        &crate::cfn::cloudwatch::Dashboard {
            dashboard_name: Some(dashboard_name(config).into()),
            // `${AWS::Region}` is the only substitution in the body.
            ..crate::cfn::cloudwatch::Dashboard::new(Expr::sub(body))
        },
    );
    t.output(
        "FleetDashboardName",
        Output::new(
            "The CloudWatch dashboard of the fleet: tenants by status, onboarding and offboarding times, failures, alarms",
            Expr::r#ref("FleetDashboard"),
        ),
    );
}

/// The access role of each cell in another account, which the functions that work tenant
/// stacks there assume.
fn cell_access_roles(config: &Config, cells: &Cells) -> Vec<Expr> {
    cells
        .remote()
        .filter_map(|c| {
            Some(Expr::sub(format!(
                "arn:${{AWS::Partition}}:iam::{}:role/{}",
                c.account.as_deref()?,
                c.access_role_name(config.prefix())
            )))
        })
        .collect()
}

/// The accounts of the cells in other accounts.
fn cell_accounts(cells: &Cells) -> std::collections::BTreeSet<&str> {
    cells
        .remote()
        .filter_map(|c| c.account.as_deref())
        .collect()
}

/// Each cell account may put its forwarded tenant stack events on the bus.
fn cell_event_policies(t: &mut Template, bus: &EventBus, cells: &Cells) {
    for account in cell_accounts(cells) {
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
}

/// The rule on the bus for the events of `source` that the cells forward, if any cell is in
/// another account.
fn forwarded_rule(
    config: &Config,
    cells: &Cells,
    bus: &EventBus,
    source: EventSource,
) -> Option<EventRule> {
    let accounts = cell_accounts(cells);
    if accounts.is_empty() {
        return None;
    }
    let mut prefixes: Vec<String> = cells
        .remote()
        .filter_map(|c| {
            let prefix = source.prefix(config, Some((c.region.as_deref()?, c.account.as_deref()?)));
            prefix.as_str().map(str::to_owned)
        })
        .collect();
    prefixes.dedup();
    let accounts: Vec<&str> = accounts.into_iter().collect();
    let (id, description) = match source {
        EventSource::StackStatus => (
            "CellStackStatusRule",
            "Tenant stack status changes the cells forward, and no other stack's",
        ),
        EventSource::AlarmState => (
            "CellAlarmStateRule",
            "Tenant stacks' alarm state changes the cells forward, and no other alarm's",
        ),
    };
    Some(
        EventRule::pattern(
            id,
            description,
            source.pattern(config, Some((&accounts, &prefixes))),
        )
        .on_bus(bus.name().to_owned()),
    )
}
