use crate::cfn::cloudwatch::{self, alarm};
use crate::cfn::{Delivery, Expr, Output, Parameter, RemovalPolicy, Template, Value};
use crate::constructs::{Bucket, Code, Function, HttpApi, Method, Queue, Role, Table, UserPool};

use super::{
    Artifact, ArtifactParameters, Kind, Stack, TENANT_ARTIFACT, TenantContext, provisioning,
};

/// `tenant-silo`: one tenant's own table, function, directory and front door. The function's
/// role reaches that table and nothing else, and carries the tenant boundary. The front door
/// (an HTTP API) takes only the directory's tokens, throttled per tier. Resources are named
/// after the stack, so the provisioning role can be scoped to `{prefix}-tenant-*`.
pub fn tenant_silo(ctx: &TenantContext) -> Stack {
    Silo::new(ctx).finish()
}

/// The reference tenant stack as a builder, for tenant stacks that add to it: a tier with a
/// bucket and a queue starts here, grants the function what it needs, and calls
/// [`Silo::finish`].
pub struct Silo {
    template: Template,
    artifact: Artifact,
    table: Table,
    function: Function,
    directory: UserPool,
    api: HttpApi,
    thresholds: Thresholds,
}

/// The alarm thresholds, each a stack parameter with a default that a tier's blueprint may
/// set (`parameters: {AlarmErrors: "1"}`).
struct Thresholds {
    errors: Expr,
    throttles: Expr,
    duration: Expr,
    table_throttles: Expr,
    front_door_5xx: Expr,
}

/// The tenant function's timeout in seconds (the function construct's default).
const FUNCTION_TIMEOUT_SECONDS: u32 = 30;

/// The period every alarm of the silo evaluates, in seconds, over this many periods.
const ALARM_PERIOD: i64 = 60;
const ALARM_PERIODS: i64 = 1;

/// What each alarm of a tenant stack is named after its stack: `{stackName}-{suffix}`. The
/// health handler finds the tenant from the name.
pub mod alarms {
    pub const ERRORS: &str = "errors";
    pub const THROTTLES: &str = "throttles";
    pub const DURATION: &str = "duration";
    pub const TABLE_THROTTLES: &str = "table-throttles";
    pub const FRONT_DOOR_5XX: &str = "front-door-5xx";
}

/// The routes of the tenant function (`crate::tenant_function`), each behind the front door.
pub const TENANT_ROUTES: [(Method, &str); 5] = [
    (Method::Get, "/"),
    (Method::Get, "/items"),
    (Method::Get, "/items/{key}"),
    (Method::Put, "/items/{key}"),
    (Method::Delete, "/items/{key}"),
];

impl Silo {
    /// The silo's parameters, table and function, not yet rendered.
    pub fn new(ctx: &TenantContext) -> Silo {
        let (config, data) = (ctx.config, ctx.data);
        let mut t = ctx.template();
        t.description(&format!(
            "silos tenant silo for prefix {}: a dedicated table and function for one tenant",
            config.prefix()
        ));
        let tenant_id = t.parameter(
            "TenantId",
            Parameter::string("The tenant's id").pattern(
                "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
                "a lowercase UUID",
            ),
        );
        let tenant_name = t.parameter(
            "TenantName",
            Parameter::string("The tenant's display name").length(1, 64),
        );
        // Set per deployment type in its blueprint, so tiers can differ.
        let memory = t.parameter(
            "MemorySize",
            Parameter::number("The tenant function's memory in MB, set by the blueprint")
                .range(128, 10_240),
        );
        let burst = t.parameter(
            "ThrottleBurst",
            Parameter::number(
                "The front door's burst limit (concurrent requests), set per tier by the blueprint",
            )
            .range(1, 5_000),
        );
        let rate = t.parameter(
            "ThrottleRate",
            Parameter::number(
                "The front door's steady limit (requests per second), set per tier by the blueprint",
            )
            .range(1, 10_000),
        );
        let bucket = t.parameter(
            "CodeBucket",
            Parameter::string("Supplied by the platform: the artifacts bucket").length(3, 63),
        );
        let key = t.parameter(
            "CodeKey",
            Parameter::string("Supplied by the platform: the key of the tenant function's zip")
                .length(1, 1024),
        );

        let threshold = |t: &mut Template, id: &str, description: &str, default: u32, max: u32| {
            t.parameter(
                id,
                Parameter::number(description)
                    .range(1, max)
                    .default(&default.to_string()),
            )
        };
        let thresholds = Thresholds {
            errors: threshold(
                &mut t,
                "AlarmErrors",
                "The tenant function's errors in a minute that set off its alarm; a tier's blueprint may set it",
                5,
                1_000_000,
            ),
            throttles: threshold(
                &mut t,
                "AlarmThrottles",
                "The tenant function's throttled invocations in a minute that set off its alarm",
                1,
                1_000_000,
            ),
            duration: threshold(
                &mut t,
                "AlarmDurationMs",
                "The tenant function's longest run in a minute, in ms, that sets off its alarm: by default 80% of its timeout",
                FUNCTION_TIMEOUT_SECONDS * 800,
                FUNCTION_TIMEOUT_SECONDS * 1000,
            ),
            table_throttles: threshold(
                &mut t,
                "AlarmTableThrottles",
                "The tenant table's throttled reads and writes in a minute that set off its alarm",
                1,
                1_000_000,
            ),
            front_door_5xx: threshold(
                &mut t,
                "AlarmFrontDoor5xx",
                "The front door's 5xx answers in a minute that set off its alarm",
                5,
                1_000_000,
            ),
        };
        let directory = UserPool::new("TenantUserPool", Expr::stack_name());
        let table = Table::new("TenantTable", "pk")
            .sort_key("sk")
            .table_name(Expr::stack_name())
            .removal(data.removal());
        let mut function = Function::new(
            "Tenant",
            Code {
                bucket: bucket.into(),
                key: key.into(),
            },
        )
        .description("The tenant's own function")
        .function_name(Expr::stack_name())
        .log_group_name(Expr::sub("/aws/lambda/${AWS::StackName}"))
        .role_path(&config.tenant_role_path())
        .permissions_boundary(provisioning::boundary_arn(config))
        .memory(memory)
        .timeout(FUNCTION_TIMEOUT_SECONDS)
        .env("TENANT_ID", tenant_id)
        .env("TENANT_NAME", tenant_name)
        .env("TABLE_NAME", table.name())
        .env("TENANT_ISSUER", directory.issuer())
        .without_dead_letter_queue(
            "Invoked synchronously by the tenant's own callers, who receive its errors",
        );
        // Exactly the calls the tenant function makes (`crate::tenant_function`).
        table.grant(
            function.role_mut(),
            &[
                "dynamodb:DeleteItem",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:Query",
            ],
        );
        let mut api = HttpApi::new("TenantApi", Expr::stack_name())
            .description("The tenant's front door: every route takes the tenant directory's tokens")
            .jwt(directory.issuer(), directory.client_id())
            .throttle(burst, rate);
        for (method, path) in TENANT_ROUTES {
            api.route(method, path, &function);
        }
        Silo {
            template: t,
            artifact: TENANT_ARTIFACT,
            table,
            function,
            directory,
            api,
            thresholds,
        }
    }

    /// The artifact whose zip the tenant function runs (default: silos's own
    /// `silos-tenant-handler`); a user crate names its own binary here.
    pub fn artifact(mut self, artifact: Artifact) -> Silo {
        self.artifact = artifact;
        self
    }

    /// A bucket for the tenant, in one line: named `${AWS::StackName}-{suffix}`, encrypted,
    /// public access blocked, TLS only, its accesses logged into a log bucket of its own
    /// (`-{suffix}-logs`). Both are kept on offboarding whatever the blueprint's `tenantData`
    /// says: CloudFormation cannot delete a versioned bucket that holds anything, and
    /// `silos tenants delete` names them. Only the tenant's function may read and write it; its name is in the function's
    /// environment as `env` and in the stack's outputs as `{id}Name`.
    pub fn bucket(&mut self, id: &str, suffix: &str, env: &str) -> Bucket {
        let logs = Bucket::new(&format!("{id}Logs"))
            .bucket_name(Expr::sub(format!("${{AWS::StackName}}-{suffix}-logs")))
            .log_target()
            .removal(RemovalPolicy::RetainExceptOnCreate);
        let bucket = Bucket::new(id)
            .bucket_name(Expr::sub(format!("${{AWS::StackName}}-{suffix}")))
            .access_logs_to(&logs, &format!("{suffix}/"))
            .removal(RemovalPolicy::RetainExceptOnCreate);
        bucket.grant_read_write(self.function_role());
        self.env(env, bucket.name());
        logs.add_to(&mut self.template);
        bucket.add_to(&mut self.template);
        self.output(
            &format!("{id}Name"),
            "A bucket of the tenant's",
            bucket.name(),
        );
        bucket
    }

    /// A queue for the tenant, in one line: named `${AWS::StackName}-{suffix}`, encrypted,
    /// with a dead-letter queue (`-{suffix}-dlq`) after 5 receives. Only the tenant's function
    /// may send to it and consume it; its URL is in the function's environment as `env` and
    /// in the stack's outputs as `{id}Url`.
    pub fn queue(&mut self, id: &str, suffix: &str, env: &str) -> Queue {
        let dead = Queue::new(&format!("{id}DeadLetter"))
            .queue_name(Expr::sub(format!("${{AWS::StackName}}-{suffix}-dlq")));
        let queue = Queue::new(id)
            .queue_name(Expr::sub(format!("${{AWS::StackName}}-{suffix}")))
            .dead_letter_queue(&dead, 5);
        queue.grant_send(self.function_role());
        queue.grant_consume(self.function_role());
        self.env(env, queue.url());
        dead.add_to(&mut self.template);
        queue.add_to(&mut self.template);
        self.output(&format!("{id}Url"), "A queue of the tenant's", queue.url());
        queue
    }

    /// The template, for resources a tier adds (`bucket.add_to(silo.template())`).
    pub fn template(&mut self) -> &mut Template {
        &mut self.template
    }

    /// The tenant function's role, for grants on what a tier adds.
    pub fn function_role(&mut self) -> &mut Role {
        self.function.role_mut()
    }

    /// The tenant function's ARN (`Fn::GetAtt`), for what invokes it: CloudFormation creates
    /// the function first.
    pub fn function_arn(&self) -> Expr {
        self.function.arn()
    }

    /// An environment variable of the tenant function.
    pub fn env(&mut self, key: &str, value: impl Into<Value<String>>) {
        self.function.set_env(key, value);
    }

    /// An alarm of the tenant's, named `${AWS::StackName}-{suffix}`: `metric` in `namespace`
    /// with `dimensions`, summed (or its `statistic`) per minute, at or over `threshold`. Its
    /// state changes set the tenant's health. Missing data is not breaching: a silo nobody
    /// calls is healthy.
    #[allow(clippy::too_many_arguments)]
    pub fn alarm(
        &mut self,
        id: &str,
        suffix: &str,
        description: &str,
        namespace: &str,
        metric: &str,
        dimensions: Vec<(&str, Value<String>)>,
        statistic: alarm::Statistic,
        threshold: impl Into<Value<f64>>,
    ) {
        let alarm = cloudwatch::Alarm {
            alarm_name: Some(Expr::sub(format!("${{AWS::StackName}}-{suffix}")).into()),
            alarm_description: Some(description.into()),
            namespace: Some(namespace.into()),
            metric_name: Some(metric.into()),
            dimensions: Some(
                dimensions
                    .into_iter()
                    .map(|(name, value)| alarm::Dimension::new(name, value))
                    .collect(),
            ),
            statistic: Some(Value::Lit(statistic)),
            period: Some(Value::Lit(ALARM_PERIOD)),
            evaluation_periods: Some(Value::Lit(ALARM_PERIODS)),
            threshold: Some(threshold.into()),
            comparison_operator: Some(Value::Lit(
                alarm::ComparisonOperator::GreaterThanOrEqualToThreshold,
            )),
            treat_missing_data: Some(Value::Lit(alarm::TreatMissingData::NotBreaching)),
            ..cloudwatch::Alarm::new()
        };
        self.template.add(id, &alarm);
    }

    /// The table's throttled reads and writes: one alarm over the sum of both metrics (the
    /// table-wide `ThrottledRequests` carries an `Operation` dimension too).
    fn table_throttles_alarm(&mut self) {
        let table = self.table.name();
        let stat = |id: &str, metric: &str| alarm::MetricDataQuery {
            metric_stat: Some(alarm::MetricStat::new(
                alarm::Metric {
                    namespace: Some("AWS/DynamoDB".into()),
                    metric_name: Some(metric.into()),
                    dimensions: Some(vec![alarm::Dimension::new("TableName", table.clone())]),
                },
                Value::Lit(ALARM_PERIOD),
                "Sum",
            )),
            return_data: Some(Value::Lit(false)),
            ..alarm::MetricDataQuery::new(id)
        };
        let alarm = cloudwatch::Alarm {
            alarm_name: Some(
                Expr::sub(format!("${{AWS::StackName}}-{}", alarms::TABLE_THROTTLES)).into(),
            ),
            alarm_description: Some("The tenant table's throttled reads and writes".into()),
            metrics: Some(vec![
                stat("reads", "ReadThrottleEvents"),
                stat("writes", "WriteThrottleEvents"),
                alarm::MetricDataQuery {
                    expression: Some("reads + writes".into()),
                    label: Some("Throttled reads and writes".into()),
                    return_data: Some(Value::Lit(true)),
                    ..alarm::MetricDataQuery::new("throttled")
                },
            ]),
            evaluation_periods: Some(Value::Lit(ALARM_PERIODS)),
            threshold: Some(self.thresholds.table_throttles.clone().into()),
            comparison_operator: Some(Value::Lit(
                alarm::ComparisonOperator::GreaterThanOrEqualToThreshold,
            )),
            treat_missing_data: Some(Value::Lit(alarm::TreatMissingData::NotBreaching)),
            ..cloudwatch::Alarm::new()
        };
        self.template.add("TenantTableThrottlesAlarm", &alarm);
    }

    /// The silo's alarms: its function's errors, throttles and a run near its timeout, its
    /// table's throttles and its front door's 5xx answers.
    fn alarms(&mut self) {
        let function = || vec![("FunctionName", self.function.name().into())];
        let t = &self.thresholds;
        let (errors, throttles, duration) =
            (t.errors.clone(), t.throttles.clone(), t.duration.clone());
        let front_door_5xx = t.front_door_5xx.clone();
        let (f1, f2, f3) = (function(), function(), function());
        self.alarm(
            "TenantErrorsAlarm",
            alarms::ERRORS,
            "The tenant function's errors",
            "AWS/Lambda",
            "Errors",
            f1,
            alarm::Statistic::Sum,
            errors,
        );
        self.alarm(
            "TenantThrottlesAlarm",
            alarms::THROTTLES,
            "The tenant function's throttled invocations",
            "AWS/Lambda",
            "Throttles",
            f2,
            alarm::Statistic::Sum,
            throttles,
        );
        self.alarm(
            "TenantDurationAlarm",
            alarms::DURATION,
            "The tenant function's longest run, near its timeout",
            "AWS/Lambda",
            "Duration",
            f3,
            alarm::Statistic::Maximum,
            duration,
        );
        self.table_throttles_alarm();
        let api = self.api.api_id();
        self.alarm(
            "TenantFrontDoor5xxAlarm",
            alarms::FRONT_DOOR_5XX,
            "The front door's 5xx answers",
            "AWS/ApiGateway",
            "5xx",
            vec![("ApiId", api.into()), ("Stage", "$default".into())],
            alarm::Statistic::Sum,
            front_door_5xx,
        );
    }

    /// A stack output, which `silos tenants tenant-info` shows.
    pub fn output(&mut self, id: &str, description: &str, value: impl Into<Value<String>>) {
        self.template.output(id, Output::new(description, value));
    }

    /// Renders the table, the function, the directory and the front door, and returns the
    /// stack.
    pub fn finish(mut self) -> Stack {
        self.table.add_to(&mut self.template);
        self.function.add_to(&mut self.template);
        self.directory.add_to(&mut self.template);
        self.api.add_to(&mut self.template);
        self.alarms();
        let (table, function) = (self.table.name(), self.function.name());
        self.output("TenantTableName", "The tenant's table", table);
        self.output("TenantFunctionName", "The tenant's function", function);
        let endpoint = self.api.url();
        self.output(outputs::ENDPOINT, "The tenant's front door", endpoint);
        let (pool, client) = (self.directory.pool_id(), self.directory.client_id());
        self.output(outputs::USER_POOL, "The tenant's directory", pool);
        self.output(
            outputs::CLIENT,
            "The directory's app client: the tokens' audience",
            client,
        );
        let issuer = self.directory.issuer();
        self.output(outputs::ISSUER, "The directory's token issuer", issuer);
        let id = self.template.stack.clone();
        Stack {
            id,
            stack_name: None,
            kind: Kind::Tenant,
            target: None,
            delivery: Delivery::Url,
            template: self.template,
            artifacts: vec![ArtifactParameters {
                artifact: self.artifact,
                bucket_parameter: "CodeBucket",
                key_parameter: "CodeKey",
            }],
        }
    }
}

/// The outputs of a tenant stack that the control plane reads into the tenant record.
pub use crate::blueprint::outputs;
