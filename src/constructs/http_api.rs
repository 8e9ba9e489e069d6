use crate::cfn::apigatewayv2::{self as apigw, stage};
use crate::cfn::lambda::Permission;
use crate::cfn::logs::{LogGroup, RetentionDays};
use crate::cfn::{Expr, RemovalPolicy, Template, Value};

use super::Function;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Route {
    method: Method,
    path: String,
    function_id: String,
    function_arn: Expr,
}

impl Route {
    /// `GET /tenants/{tenantId}` → `GetTenantsTenantId`: stable, derived from the route alone.
    fn logical_name(&self) -> String {
        let mut name = String::from(match self.method {
            Method::Get => "Get",
            Method::Post => "Post",
        });
        for word in self.path.split(|c: char| !c.is_ascii_alphanumeric()) {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                name.push(first.to_ascii_uppercase());
                name.extend(chars);
            }
        }
        name
    }

    /// The path as it appears in an execute-api ARN: `{param}` segments become `*`.
    fn arn_path(&self) -> String {
        self.path
            .split('/')
            .map(|s| if s.starts_with('{') { "*" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// An HTTP API whose every route requires IAM (SigV4) authorization and invokes a Lambda
/// function, with a throttled `$default` stage that writes JSON access logs.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpApi {
    id: String,
    name: Value<String>,
    description: Option<String>,
    routes: Vec<Route>,
    burst_limit: u32,
    rate_limit: f64,
}

impl HttpApi {
    pub fn new(id: &str, name: impl Into<Value<String>>) -> HttpApi {
        HttpApi {
            id: id.to_owned(),
            name: name.into(),
            description: None,
            routes: Vec::new(),
            burst_limit: 100,
            rate_limit: 50.0,
        }
    }

    pub fn description(mut self, d: &str) -> HttpApi {
        self.description = Some(d.to_owned());
        self
    }

    pub fn route(&mut self, method: Method, path: &str, function: &Function) {
        self.routes.push(Route {
            method,
            path: path.to_owned(),
            function_id: function.logical_id(),
            function_arn: function.arn(),
        });
    }

    /// The invoke URL. Built with Fn::Sub rather than `GetAtt Api.ApiEndpoint`, which some
    /// emulators cannot resolve.
    pub fn url(&self) -> Expr {
        Expr::sub(format!(
            "https://${{{}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}",
            self.id
        ))
    }

    pub fn add_to(&self, t: &mut Template) {
        let api = Expr::r#ref(&self.id);
        t.add(
            &self.id,
            &apigw::Api {
                name: self.name.clone(),
                description: self.description.clone(),
                protocol_type: apigw::ProtocolType::Http,
                disable_execute_api_endpoint: false,
            },
        );
        let log_group = format!("{}AccessLogs", self.id);
        t.add(
            &log_group,
            &LogGroup {
                log_group_name: None,
                retention_in_days: RetentionDays::OneYear,
                kms_key_id: None,
            },
        )
        .removal(RemovalPolicy::Retain)
        .checkov_skip(
            "CKV_AWS_158",
            "Log data is encrypted at rest by CloudWatch Logs; a customer-managed KMS key is an opt-in",
        );
        t.add(
            &format!("{}DefaultStage", self.id),
            &apigw::Stage {
                api_id: api.clone().into(),
                stage_name: "$default".to_owned(),
                auto_deploy: true,
                access_log_settings: stage::AccessLogSettings {
                    destination_arn: Expr::get_att(&log_group, "Arn").into(),
                    format: ACCESS_LOG_FORMAT.to_owned(),
                },
                default_route_settings: stage::RouteSettings {
                    detailed_metrics_enabled: true,
                    throttling_burst_limit: self.burst_limit,
                    throttling_rate_limit: self.rate_limit,
                },
            },
        );
        for route in &self.routes {
            let name = format!("{}{}", self.id, route.logical_name());
            let integration = format!("{name}Integration");
            t.add(
                &integration,
                &apigw::Integration {
                    api_id: api.clone().into(),
                    integration_type: apigw::IntegrationType::AwsProxy,
                    integration_uri: route.function_arn.clone().into(),
                    payload_format_version: apigw::PayloadFormatVersion::V2,
                    timeout_in_millis: 29_000,
                },
            );
            t.add(
                &format!("{name}Route"),
                &apigw::Route {
                    api_id: api.clone().into(),
                    route_key: format!("{} {}", route.method.as_str(), route.path),
                    authorization_type: apigw::AuthorizationType::AwsIam,
                    target: Expr::sub(format!("integrations/${{{integration}}}")).into(),
                },
            );
            t.add(
                &format!("{name}Permission"),
                &Permission::invoke(
                    Expr::r#ref(&route.function_id).into(),
                    "apigateway.amazonaws.com",
                    super::arn(
                        "execute-api",
                        &format!(
                            "${{{}}}/*/{}{}",
                            self.id,
                            route.method.as_str(),
                            route.arn_path()
                        ),
                    ),
                ),
            );
        }
    }
}

const ACCESS_LOG_FORMAT: &str = concat!(
    r#"{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","#,
    r#""caller":"$context.identity.caller","user":"$context.identity.user","#,
    r#""userArn":"$context.identity.userArn","requestTime":"$context.requestTime","#,
    r#""routeKey":"$context.routeKey","status":"$context.status","#,
    r#""protocol":"$context.protocol","responseLength":"$context.responseLength","#,
    r#""integrationError":"$context.integrationErrorMessage"}"#
);
