use std::collections::BTreeMap;

use crate::cfn::lambda::{self, function};
use crate::cfn::logs::{self, RetentionDays};
use crate::cfn::{Expr, Template, Value};

use super::{Queue, Role, Skips};

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
    role: Role,
    retention: RetentionDays,
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
                function_name: None,
                description: None,
                code: function::Code {
                    s3_bucket: code.bucket,
                    s3_key: code.key,
                },
                handler: "bootstrap".to_owned(),
                runtime: function::Runtime::ProvidedAl2023,
                architectures: vec![function::Architecture::X86_64],
                role: Expr::get_att(role.logical_id(), "Arn").into(),
                memory_size: 256.into(),
                timeout: 30,
                environment: None,
                logging_config: Some(function::LoggingConfig {
                    log_group: Expr::r#ref(format!("{id}LogGroup")).into(),
                    log_format: function::LogFormat::Json,
                }),
                dead_letter_config: None,
                reserved_concurrent_executions: None,
                tracing_config: None,
                tags: Vec::new(),
            },
            role,
            retention: RetentionDays::OneYear,
            log_group_name: None,
            skips,
        }
    }

    pub fn description(mut self, d: &str) -> Function {
        self.props.description = Some(d.to_owned());
        self
    }

    /// Memory in MB: a number, or a reference (a parameter, say).
    pub fn memory(mut self, mb: impl Into<Value<u32>>) -> Function {
        self.props.memory_size = mb.into();
        self
    }

    pub fn timeout(mut self, seconds: u32) -> Function {
        self.props.timeout = seconds;
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

    pub fn reserved_concurrency(mut self, n: u32) -> Function {
        self.props.reserved_concurrent_executions = Some(n);
        self
    }

    pub fn env(mut self, key: &str, value: impl Into<Value<String>>) -> Function {
        self.props
            .environment
            .get_or_insert_with(|| function::Environment {
                variables: BTreeMap::new(),
            })
            .variables
            .insert(key.to_owned(), value.into());
        self
    }

    /// Sends failed asynchronous invocations to `queue`.
    pub fn dead_letter_queue(mut self, queue: &Queue) -> Function {
        self.props.dead_letter_config = Some(function::DeadLetterConfig {
            target_arn: queue.arn().into(),
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

    pub fn arn(&self) -> Expr {
        Expr::get_att(self.logical_id(), "Arn")
    }

    pub fn name(&self) -> Expr {
        Expr::r#ref(self.logical_id())
    }

    pub fn role(&self) -> &Role {
        &self.role
    }

    pub fn role_mut(&mut self) -> &mut Role {
        &mut self.role
    }

    pub fn environment(&self) -> Option<&BTreeMap<String, Value<String>>> {
        self.props.environment.as_ref().map(|e| &e.variables)
    }

    /// Adds the role, the log group and the function.
    pub fn add_to(&self, t: &mut Template) {
        let log_group_id = format!("{}LogGroup", self.id);
        let mut role = self.role.clone();
        role.allow(
            &["logs:CreateLogStream", "logs:PutLogEvents"],
            [Expr::get_att(&log_group_id, "Arn")],
        );
        role.add_to(t);
        t.add(
            &log_group_id,
            &logs::LogGroup {
                log_group_name: self.log_group_name.clone(),
                retention_in_days: self.retention,
                kms_key_id: None,
            },
        )
        .removal(crate::cfn::RemovalPolicy::Retain)
        .checkov_skip(
            "CKV_AWS_158",
            "Log data is encrypted at rest by CloudWatch Logs; a customer-managed KMS key is an opt-in",
        );
        let options = t.add(&self.logical_id(), &self.props);
        self.skips.apply(options);
    }
}
