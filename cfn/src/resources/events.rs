//! `AWS::Events::*`.

use serde::Serialize;

use crate::Resource;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Rule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The event pattern. Intrinsics may appear inside it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_pattern: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_expression: Option<String>,
    pub state: rule::State,
    pub targets: Vec<rule::Target>,
}

impl Resource for Rule {
    const TYPE: &'static str = "AWS::Events::Rule";
    const ATTRIBUTES: &'static [&'static str] = &["Arn"];
}

pub mod rule {
    use serde::Serialize;

    use crate::Value;

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum State {
        Enabled,
        Disabled,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct Target {
        pub id: String,
        pub arn: Value<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub dead_letter_config: Option<DeadLetterConfig>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub retry_policy: Option<RetryPolicy>,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct DeadLetterConfig {
        pub arn: Value<String>,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct RetryPolicy {
        pub maximum_retry_attempts: u32,
        pub maximum_event_age_in_seconds: u32,
    }
}
