//! Building blocks with secure defaults. Each construct is a plain value: it knows its logical
//! IDs up front, so references (`table.arn()`) are available before anything is added, and
//! `grant_*` methods can write least-privilege statements into a role before it is rendered.
//! `add_to` renders a construct into a template. No IO.

mod bucket;
mod event_rule;
mod function;
mod http_api;
mod queue;
mod role;
mod stream;
mod table;

pub use bucket::{Bucket, BucketRef};
pub use event_rule::EventRule;
pub use function::{Code, Function};
pub use http_api::{HttpApi, Method};
pub use queue::Queue;
pub use role::{Role, Unscoped};
pub use stream::StreamSubscription;
pub use table::Table;

use crate::cfn::{Expr, ResourceOptions};

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
    pub(crate) fn apply<'a>(&self, mut options: ResourceOptions<'a>) -> ResourceOptions<'a> {
        for (check, reason) in &self.0 {
            options = options.checkov_skip(check, reason);
        }
        options
    }
}
