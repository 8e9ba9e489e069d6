use std::collections::BTreeMap;

use crate::cfn::lambda::{self, function};
use crate::cfn::logs::{self, log_group::RetentionInDays};
use crate::cfn::{Expr, Handle, Template, Value};

use super::{Queue, Role, Skips, count, count_value, json};

/// Where a function's zip lives: both halves come from stack parameters, so synth needs no build.
#[derive(Clone, Debug, PartialEq)]
pub struct Code {
    pub bucket: Value<String>,
    pub key: Value<String>,
}

/// A Lambda function on `provided.al2023` (`{id}Function`) with its own role (`{id}Role`) (which starts with nothing but
/// writing to its own log group) and its own log group with a retention (`{id}LogGroup`).
#[derive(Clone, Debug, PartialEq)]
pub struct Function {
    id: String,
    props: lambda::Function,
    /// The environment variables, rendered into `props.environment` (which the schema leaves
    /// free-form JSON).
    env: BTreeMap<String, Value<String>>,
    role: Role,
    retention: RetentionInDays,
    log_group_name: Option<Value<String>>,
    skips: Skips,
}

impl Function {
    pub fn new(id: &str, code: Code) -> Function {
        let role = Role::for_service(&format!("{id}Role"), "lambda.amazonaws.com");
        let mut skips = Skips::default();
        skips.add(
            "CKV_AWS_117",
            "Calls only AWS APIs and reaches no private network; a VPC would add NAT cost and cold-start time for nothing",
        );
        skips.add(
            "CKV_AWS_173",
            "Environment variables hold only resource names and ARNs, no secrets; they are encrypted at rest with the AWS-managed key",
        );
        skips.add(
            "CKV_AWS_115",
            "Reserved concurrency is set per deployment (reserved_concurrency); a fixed value here would fail in accounts with a low concurrency quota",
        );
        Function {
            id: id.to_owned(),
            props: lambda::Function {
                handler: Some("bootstrap".into()),
                runtime: Some(function::Runtime::ProvidedAl2023.into()),
                architectures: Some(vec![function::Architectures::X8664.into()]),
                memory_size: Some(count(256)),
                timeout: Some(count(30)),
                logging_config: Some(function::LoggingConfig {
                    log_group: Some(
                        Handle::<logs::LogGroup>::new(&format!("{id}LogGroup"))
                            .r#ref()
                            .into(),
                    ),
                    log_format: Some(function::LogFormat::Json.into()),
                    ..function::LoggingConfig::new()
                }),
                ..lambda::Function::new(
                    function::Code {
                        s3_bucket: Some(code.bucket),
                        s3_key: Some(code.key),
                        ..function::Code::new()
                    },
                    role.arn(),
                )
            },
            env: BTreeMap::new(),
            role,
            retention: RetentionInDays::V365,
            log_group_name: None,
            skips,
        }
    }

    pub fn description(mut self, d: &str) -> Function {
        self.props.description = Some(d.into());
        self
    }

    /// Memory in MB: a number, or a reference (a parameter, say).
    pub fn memory(mut self, mb: impl Into<Value<u32>>) -> Function {
        self.props.memory_size = Some(count_value(mb.into()));
        self
    }

    pub fn timeout(mut self, seconds: u32) -> Function {
        self.props.timeout = Some(count(seconds));
        self
    }

    pub fn function_name(mut self, name: impl Into<Value<String>>) -> Function {
        self.props.function_name = Some(name.into());
        self
    }

    pub fn log_group_name(mut self, name: impl Into<Value<String>>) -> Function {
        self.log_group_name = Some(name.into());
        self
    }

    /// Puts the function's role under an IAM path (see [`Role::path`]).
    pub fn role_path(mut self, path: &str) -> Function {
        self.role = self.role.path(path);
        self
    }

    /// Caps the function's role with a permissions boundary (see [`Role::permissions_boundary`]).
    pub fn permissions_boundary(mut self, policy_arn: Expr) -> Function {
        self.role = self.role.permissions_boundary(policy_arn);
        self
    }

    pub fn reserved_concurrency(mut self, n: u32) -> Function {
        self.props.reserved_concurrent_executions = Some(count(n));
        self
    }

    pub fn env(mut self, key: &str, value: impl Into<Value<String>>) -> Function {
        self.set_env(key, value);
        self
    }

    /// [`Function::env`] on a function held by reference.
    pub fn set_env(&mut self, key: &str, value: impl Into<Value<String>>) {
        self.env.insert(key.to_owned(), value.into());
    }

    /// Sends failed asynchronous invocations to `queue`.
    pub fn dead_letter_queue(mut self, queue: &Queue) -> Function {
        self.props.dead_letter_config = Some(function::DeadLetterConfig {
            target_arn: Some(queue.arn().into()),
        });
        queue.grant_send(&mut self.role);
        self
    }

    /// Records why this function has no dead-letter queue (checkov CKV_AWS_116).
    pub fn without_dead_letter_queue(mut self, reason: &str) -> Function {
        self.skips.add("CKV_AWS_116", reason);
        self
    }

    /// The function resource's logical ID, `{id}Function`.
    pub fn logical_id(&self) -> String {
        format!("{}Function", self.id)
    }

    fn handle(&self) -> Handle<lambda::Function> {
        Handle::new(&self.logical_id())
    }

    pub fn arn(&self) -> Expr {
        self.handle().attr_arn()
    }

    pub fn name(&self) -> Expr {
        self.handle().r#ref()
    }

    pub fn role(&self) -> &Role {
        &self.role
    }

    pub fn role_mut(&mut self) -> &mut Role {
        &mut self.role
    }

    pub fn environment(&self) -> Option<&BTreeMap<String, Value<String>>> {
        (!self.env.is_empty()).then_some(&self.env)
    }

    /// Adds the role, the log group and the function.
    pub fn add_to(&self, t: &mut Template) {
        let log_group_id = format!("{}LogGroup", self.id);
        let mut role = self.role.clone();
        role.allow(
            &["logs:CreateLogStream", "logs:PutLogEvents"],
            [Handle::<logs::LogGroup>::new(&log_group_id).attr_arn()],
        );
        role.add_to(t);
        t.add(
            &log_group_id,
            &logs::LogGroup {
                log_group_name: self.log_group_name.clone(),
                retention_in_days: Some(self.retention.into()),
                ..logs::LogGroup::new()
            },
        )
        .removal(crate::cfn::RemovalPolicy::Retain)
        .checkov_skip(
            "CKV_AWS_158",
            "Log data is encrypted at rest by CloudWatch Logs; a customer-managed KMS key is an opt-in",
        );
        let props = lambda::Function {
            environment: (!self.env.is_empty()).then(|| function::Environment {
                variables: Some(
                    self.env
                        .iter()
                        .map(|(key, value)| (key.clone(), json(value)))
                        .collect(),
                ),
            }),
            ..self.props.clone()
        };
        let options = t.add(&self.logical_id(), &props);
        self.skips.apply(options);
    }
}

/// `lambda:InvokeFunction` on the function `function_name` for the service `principal`, from
/// `source_arn` only.
pub(crate) fn invoke_permission(
    function_name: impl Into<Value<String>>,
    principal: &str,
    source_arn: impl Into<Value<String>>,
) -> lambda::Permission {
    lambda::Permission {
        source_arn: Some(source_arn.into()),
        ..lambda::Permission::new("lambda:InvokeFunction", function_name, principal)
    }
}
