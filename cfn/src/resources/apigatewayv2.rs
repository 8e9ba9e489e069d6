//! `AWS::ApiGatewayV2::*`: HTTP APIs.

use serde::Serialize;

use crate::{Resource, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ProtocolType {
    Http,
    Websocket,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Api {
    pub name: Value<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub protocol_type: ProtocolType,
    /// Off: clients must use the stage URL, never a guessable default endpoint bypass.
    pub disable_execute_api_endpoint: bool,
}

impl Resource for Api {
    const TYPE: &'static str = "AWS::ApiGatewayV2::Api";
    const ATTRIBUTES: &'static [&'static str] = &["ApiEndpoint", "ApiId"];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IntegrationType {
    AwsProxy,
    HttpProxy,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum PayloadFormatVersion {
    #[serde(rename = "1.0")]
    V1,
    #[serde(rename = "2.0")]
    V2,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Integration {
    pub api_id: Value<String>,
    pub integration_type: IntegrationType,
    pub integration_uri: Value<String>,
    pub payload_format_version: PayloadFormatVersion,
    pub timeout_in_millis: u32,
}

impl Resource for Integration {
    const TYPE: &'static str = "AWS::ApiGatewayV2::Integration";
    const ATTRIBUTES: &'static [&'static str] = &["IntegrationId"];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthorizationType {
    AwsIam,
    Jwt,
    Custom,
    None,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Route {
    pub api_id: Value<String>,
    pub route_key: String,
    pub authorization_type: AuthorizationType,
    pub target: Value<String>,
}

impl Resource for Route {
    const TYPE: &'static str = "AWS::ApiGatewayV2::Route";
    const ATTRIBUTES: &'static [&'static str] = &["RouteId"];
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Stage {
    pub api_id: Value<String>,
    pub stage_name: String,
    pub auto_deploy: bool,
    pub access_log_settings: stage::AccessLogSettings,
    pub default_route_settings: stage::RouteSettings,
}

impl Resource for Stage {
    const TYPE: &'static str = "AWS::ApiGatewayV2::Stage";
    const ATTRIBUTES: &'static [&'static str] = &[];
}

pub mod stage {
    use serde::Serialize;

    use crate::Value;

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct AccessLogSettings {
        pub destination_arn: Value<String>,
        pub format: String,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct RouteSettings {
        pub detailed_metrics_enabled: bool,
        pub throttling_burst_limit: u32,
        pub throttling_rate_limit: f64,
    }
}
