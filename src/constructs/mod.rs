//! Building blocks with secure defaults. Each construct is a plain value: it knows its logical
//! IDs up front, so references (`table.arn()`) are available before anything is added, and
//! `grant_*` methods can write least-privilege statements into a role before it is rendered.
//! `add_to` renders a construct into a template. No IO.

mod bucket;
mod event_bus;
mod event_rule;
mod function;
mod http_api;
mod queue;
mod role;
mod stream;
mod table;
mod user_pool;

pub use bucket::{Bucket, BucketRef};
pub use event_bus::EventBus;
pub use event_rule::EventRule;
pub use function::{Code, Function};
pub use http_api::{Authorization, HttpApi, Method};
pub use queue::Queue;
pub use role::{Role, Unscoped};
pub use stream::StreamSubscription;
pub use table::Table;
pub use user_pool::{TENANT_ATTRIBUTE, TENANT_CLAIM, UserPool};

use serde::Serialize;

use crate::cfn::{Expr, Json, ResourceOptions, Value};

use function::invoke_permission;

/// An ARN in this stack's partition, region and account: `arn:…:{service}:…:{resource}`.
/// `resource` may contain `${…}` Sub variables.
pub fn arn(service: &str, resource: &str) -> Expr {
    Expr::sub(format!(
        "arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}"
    ))
}

/// checkov suppressions a construct applies to one of its resources, each with its reason.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Skips(Vec<(&'static str, String)>);

impl Skips {
    pub(crate) fn add(&mut self, check: &'static str, reason: impl Into<String>) {
        self.0.push((check, reason.into()));
    }
    pub(crate) fn apply<'a, R>(
        &self,
        mut options: ResourceOptions<'a, R>,
    ) -> ResourceOptions<'a, R> {
        for (check, reason) in &self.0 {
            options = options.checkov_skip(check, reason);
        }
        options
    }
}

/// A count as the model takes it. The constructs take `u32` counts (never negative); the
/// generated types, like the schemas, take any integer.
pub(crate) fn count(n: u32) -> Value<i64> {
    Value::Lit(i64::from(n))
}

/// [`count`] for a value that may also be an intrinsic (a parameter, say).
pub(crate) fn count_value(v: Value<u32>) -> Value<i64> {
    match v {
        Value::Lit(n) => count(n),
        Value::Expr(e) => Value::Expr(e),
    }
}

/// A typed value as JSON, for a property the model holds as free-form JSON (a union in the
/// schema). The model's types render to JSON without fail: every map in them has string keys.
pub(crate) fn json<T: Serialize>(value: &T) -> Json {
    serde_json::to_value(value).unwrap_or(Json::Null)
}
