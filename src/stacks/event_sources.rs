//! The AWS events about tenant stacks that the control plane takes: CloudFormation's stack
//! status changes and CloudWatch's alarm state changes, each matched at home and forwarded
//! from cells by patterns made here, so the control plane's rules and the cells' forwarding
//! rules cannot tell them apart.

use serde_json::{Value, json};

use crate::constructs;
use crate::functions::{self, Trigger};

use super::Config;

/// The AWS events about tenant stacks that the control plane takes, at home and from cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventSource {
    /// CloudFormation's stack status changes of tenant stacks.
    StackStatus,
    /// CloudWatch's alarm state changes of tenant stacks' alarms, which are named after
    /// their stacks.
    AlarmState,
}

impl EventSource {
    pub(super) fn of(trigger: Trigger) -> EventSource {
        match trigger {
            Trigger::AlarmState => EventSource::AlarmState,
            _ => EventSource::StackStatus,
        }
    }

    pub(super) fn rule_id(self) -> &'static str {
        match self {
            EventSource::StackStatus => "StackStatusRule",
            EventSource::AlarmState => "AlarmStateRule",
        }
    }

    pub(super) fn rule_description(self) -> &'static str {
        match self {
            EventSource::StackStatus => "Tenant stack status changes, and no other stack's",
            EventSource::AlarmState => "Tenant stacks' alarm state changes, and no other alarm's",
        }
    }

    /// The event pattern: at home (`accounts` None), or forwarded from the cells in these
    /// accounts, whose stacks (or alarms) are under `prefixes`.
    pub fn pattern(self, config: &Config, forwarded: Option<(&[&str], &[String])>) -> Value {
        let (source, detail_type, field) = match self {
            EventSource::StackStatus => (
                "aws.cloudformation",
                "CloudFormation Stack Status Change",
                "stack-id",
            ),
            EventSource::AlarmState => {
                ("aws.cloudwatch", functions::ALARM_STATE_CHANGE, "alarmName")
            }
        };
        let home = self.prefix(config, None);
        let mut pattern = json!({
            "source": [source],
            "detail-type": [detail_type],
            "detail": {field: [{"prefix": home}]},
        });
        if let Some((accounts, prefixes)) = forwarded {
            pattern["account"] = json!(accounts);
            pattern["detail"][field] = prefixes.iter().map(|p| json!({"prefix": p})).collect();
        }
        pattern
    }

    /// What the rule's field starts with: a tenant stack's id (in this account, or in the
    /// cell at `region` and `account`), or a tenant stack's alarm's name.
    pub fn prefix(self, config: &Config, cell: Option<(&str, &str)>) -> Value {
        match (self, cell) {
            (EventSource::StackStatus, None) => json!(constructs::arn(
                "cloudformation",
                &format!("stack/{}", config.tenant_stack_prefix()),
            )),
            (EventSource::StackStatus, Some((region, account))) => json!(format!(
                "arn:aws:cloudformation:{region}:{account}:stack/{}",
                config.tenant_stack_prefix()
            )),
            (EventSource::AlarmState, _) => json!(config.tenant_stack_prefix()),
        }
    }
}
