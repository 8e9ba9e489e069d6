//! `AWS::DynamoDB::*`.

use serde::Serialize;

use crate::resources::Tag;
use crate::{Resource, Value};

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Table {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_name: Option<Value<String>>,
    pub key_schema: Vec<table::KeySchema>,
    pub attribute_definitions: Vec<table::AttributeDefinition>,
    pub billing_mode: table::BillingMode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_specification: Option<table::StreamSpecification>,
    pub point_in_time_recovery_specification: table::PointInTimeRecoverySpecification,
    #[serde(rename = "SSESpecification")]
    pub sse_specification: table::SseSpecification,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub global_secondary_indexes: Vec<table::GlobalSecondaryIndex>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_protection_enabled: Option<Value<bool>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_live_specification: Option<table::TimeToLiveSpecification>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

impl Resource for Table {
    const TYPE: &'static str = "AWS::DynamoDB::Table";
    const ATTRIBUTES: &'static [&'static str] = &["Arn", "StreamArn"];
}

pub mod table {
    use serde::Serialize;

    use crate::Value;

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum BillingMode {
        PayPerRequest,
        Provisioned,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
    pub enum AttributeType {
        S,
        N,
        B,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum KeyType {
        Hash,
        Range,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum StreamViewType {
        KeysOnly,
        NewImage,
        OldImage,
        NewAndOldImages,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum ProjectionType {
        All,
        KeysOnly,
        Include,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct KeySchema {
        pub attribute_name: String,
        pub key_type: KeyType,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct AttributeDefinition {
        pub attribute_name: String,
        pub attribute_type: AttributeType,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct StreamSpecification {
        pub stream_view_type: StreamViewType,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct TimeToLiveSpecification {
        pub attribute_name: Value<String>,
        pub enabled: Value<bool>,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct PointInTimeRecoverySpecification {
        pub point_in_time_recovery_enabled: Value<bool>,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "UPPERCASE")]
    pub enum SseType {
        Kms,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct SseSpecification {
        #[serde(rename = "SSEEnabled")]
        pub sse_enabled: Value<bool>,
        #[serde(rename = "SSEType", skip_serializing_if = "Option::is_none")]
        pub sse_type: Option<SseType>,
        #[serde(rename = "KMSMasterKeyId", skip_serializing_if = "Option::is_none")]
        pub kms_master_key_id: Option<Value<String>>,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct Projection {
        pub projection_type: ProjectionType,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub non_key_attributes: Vec<String>,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct GlobalSecondaryIndex {
        pub index_name: String,
        pub key_schema: Vec<KeySchema>,
        pub projection: Projection,
    }
}
