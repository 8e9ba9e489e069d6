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
