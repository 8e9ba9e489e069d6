//! `AWS::Lambda::*`.

use serde::Serialize;

use crate::resources::Tag;
use crate::{Resource, Value};

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Function {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_name: Option<Value<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub code: function::Code,
    pub handler: String,
    pub runtime: function::Runtime,
    pub architectures: Vec<function::Architecture>,
    pub role: Value<String>,
    pub memory_size: Value<u32>,
    pub timeout: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<function::Environment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging_config: Option<function::LoggingConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter_config: Option<function::DeadLetterConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved_concurrent_executions: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracing_config: Option<function::TracingConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

impl Resource for Function {
    const TYPE: &'static str = "AWS::Lambda::Function";
    const ATTRIBUTES: &'static [&'static str] = &["Arn", "SnapStartResponse"];
}

pub mod function {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use crate::Value;

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
    pub enum Runtime {
        #[serde(rename = "provided.al2023")]
        ProvidedAl2023,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Architecture {
        X86_64,
        Arm64,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct Code {
        pub s3_bucket: Value<String>,
        pub s3_key: Value<String>,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct Environment {
        pub variables: BTreeMap<String, Value<String>>,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
    pub enum LogFormat {
        Text,
        #[serde(rename = "JSON")]
        Json,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct LoggingConfig {
        pub log_group: Value<String>,
        pub log_format: LogFormat,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct DeadLetterConfig {
        pub target_arn: Value<String>,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
    pub enum TracingMode {
        Active,
        PassThrough,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct TracingConfig {
        pub mode: TracingMode,
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Permission {
    pub action: &'static str,
    pub function_name: Value<String>,
    pub principal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_arn: Option<Value<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_account: Option<Value<String>>,
}

impl Permission {
    /// `lambda:InvokeFunction` for `principal`, from `source_arn`.
    pub fn invoke(
        function_name: Value<String>,
        principal: &str,
        source_arn: impl Into<Value<String>>,
    ) -> Permission {
        Permission {
            action: "lambda:InvokeFunction",
            function_name,
            principal: principal.to_owned(),
            source_arn: Some(source_arn.into()),
            source_account: None,
        }
    }
}

impl Resource for Permission {
    const TYPE: &'static str = "AWS::Lambda::Permission";
    const ATTRIBUTES: &'static [&'static str] = &[];
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventSourceMapping {
    pub event_source_arn: Value<String>,
    pub function_name: Value<String>,
    pub starting_position: event_source_mapping::StartingPosition,
    pub batch_size: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_batching_window_in_seconds: Option<u32>,
    pub maximum_retry_attempts: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_record_age_in_seconds: Option<i32>,
    pub bisect_batch_on_function_error: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_criteria: Option<event_source_mapping::FilterCriteria>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub function_response_types: Vec<event_source_mapping::FunctionResponseType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_config: Option<event_source_mapping::DestinationConfig>,
}

impl Resource for EventSourceMapping {
    const TYPE: &'static str = "AWS::Lambda::EventSourceMapping";
    const ATTRIBUTES: &'static [&'static str] = &["Id", "EventSourceMappingArn"];
}

pub mod event_source_mapping {
    use serde::Serialize;

    use crate::Value;

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum StartingPosition {
        TrimHorizon,
        Latest,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
    pub enum FunctionResponseType {
        ReportBatchItemFailures,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct FilterCriteria {
        pub filters: Vec<Filter>,
    }

    /// A filter; the pattern is the JSON text Lambda matches records against.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct Filter {
        pub pattern: String,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct DestinationConfig {
        pub on_failure: OnFailure,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct OnFailure {
        pub destination: Value<String>,
    }
}
