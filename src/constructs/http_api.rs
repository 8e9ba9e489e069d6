use crate::cfn::apigatewayv2::{self as apigw, stage};
use crate::cfn::lambda;
use crate::cfn::logs::{self, log_group::RetentionInDays};
use crate::cfn::{Expr, Handle, RemovalPolicy, Template, Value};

use super::{Function, count, invoke_permission};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }

    /// `Get`, `Post`, ...: the start of a route's logical name.
    fn word(self) -> &'static str {
        match self {
            Method::Get => "Get",
            Method::Post => "Post",
            Method::Put => "Put",
            Method::Delete => "Delete",
        }
    }
}

/// Who may call an API's routes.
#[derive(Clone, Debug, PartialEq)]
pub enum Authorization {
    /// SigV4-signed requests from principals IAM allows (`AWS_IAM`).
    Iam,
    /// Bearer JWTs API Gateway verifies: signed by the issuer's JWKS, for the audience
    /// (an app client id), unexpired.
    Jwt { issuer: Expr, audience: Expr },
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
        let mut name = String::from(self.method.word());
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

/// An HTTP API whose every route requires authorization (IAM's SigV4 by default, or a JWT
/// authorizer) and invokes a Lambda function, with a throttled `$default` stage that writes
/// JSON access logs.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpApi {
    id: String,
    name: Value<String>,
    description: Option<String>,
    routes: Vec<Route>,
    authorization: Authorization,
    burst_limit: Value<i64>,
    rate_limit: Value<f64>,
}

impl HttpApi {
    pub fn new(id: &str, name: impl Into<Value<String>>) -> HttpApi {
        HttpApi {
            id: id.to_owned(),
            name: name.into(),
            description: None,
            routes: Vec::new(),
            authorization: Authorization::Iam,
            burst_limit: count(100),
            rate_limit: 50.0.into(),
        }
    }

    /// Every route takes a bearer JWT from `issuer` for `audience`, instead of SigV4.
    pub fn jwt(mut self, issuer: Expr, audience: Expr) -> HttpApi {
        self.authorization = Authorization::Jwt { issuer, audience };
        self
    }

    /// The stage's request limits for every route: the burst (concurrent requests) and the
    /// steady rate (requests per second). Per tenant, set per tier from its blueprint.
    pub fn throttle(
        mut self,
        burst: impl Into<Value<i64>>,
        rate: impl Into<Value<f64>>,
    ) -> HttpApi {
        self.burst_limit = burst.into();
        self.rate_limit = rate.into();
        self
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

    /// The API's id (`Ref`), its metrics' `ApiId` dimension.
    pub fn api_id(&self) -> Expr {
        Handle::<apigw::Api>::new(&self.id).r#ref()
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
        let api = Handle::<apigw::Api>::new(&self.id).r#ref();
        t.add(
            &self.id,
            &apigw::Api {
                name: Some(self.name.clone()),
                description: self.description.clone().map(Into::into),
                protocol_type: Some("HTTP".into()),
                // Off: clients must use the stage URL, never a guessable default endpoint
                // bypass.
                disable_execute_api_endpoint: Some(false.into()),
                ..apigw::Api::new()
            },
        );
        self.add_stage(t, &api);
        let authorizer = self.add_authorizer(t, &api);
        for route in &self.routes {
            self.add_route(t, &api, authorizer.as_ref(), route);
        }
    }

    /// The JWT authorizer, if the API takes JWTs: its id for the routes.
    fn add_authorizer(&self, t: &mut Template, api: &Expr) -> Option<Expr> {
        let Authorization::Jwt { issuer, audience } = &self.authorization else {
            return None;
        };
        let id = format!("{}Authorizer", self.id);
        t.add(
            &id,
            &apigw::Authorizer {
                identity_source: Some(vec!["$request.header.Authorization".into()]),
                jwt_configuration: Some(apigw::authorizer::JwtConfiguration {
                    audience: Some(vec![audience.clone().into()]),
                    issuer: Some(issuer.clone().into()),
                }),
                ..apigw::Authorizer::new(api.clone(), "JWT", "jwt")
            },
        );
        Some(Handle::<apigw::Authorizer>::new(&id).r#ref())
    }

    /// The access log group and the throttled, auto-deployed `$default` stage that writes to
    /// it.
    fn add_stage(&self, t: &mut Template, api: &Expr) {
        let log_group = format!("{}AccessLogs", self.id);
        t.add(
            &log_group,
            &logs::LogGroup {
                retention_in_days: Some(RetentionInDays::V365.into()),
                ..logs::LogGroup::new()
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
                auto_deploy: Some(true.into()),
                access_log_settings: Some(stage::AccessLogSettings {
                    destination_arn: Some(
                        Handle::<logs::LogGroup>::new(&log_group).attr_arn().into(),
                    ),
                    format: Some(ACCESS_LOG_FORMAT.into()),
                }),
                default_route_settings: Some(stage::RouteSettings {
                    detailed_metrics_enabled: Some(true.into()),
                    throttling_burst_limit: Some(self.burst_limit.clone()),
                    throttling_rate_limit: Some(self.rate_limit.clone()),
                    ..stage::RouteSettings::new()
                }),
                ..apigw::Stage::new(api.clone(), "$default")
            },
        );
    }

    /// A route's integration, its authorized route, and the permission for the API to invoke
    /// its function.
    fn add_route(&self, t: &mut Template, api: &Expr, authorizer: Option<&Expr>, route: &Route) {
        let name = format!("{}{}", self.id, route.logical_name());
        let integration = format!("{name}Integration");
        t.add(
            &integration,
            &apigw::Integration {
                integration_uri: Some(route.function_arn.clone().into()),
                payload_format_version: Some("2.0".into()),
                timeout_in_millis: Some(count(29_000)),
                ..apigw::Integration::new(api.clone(), "AWS_PROXY")
            },
        );
        t.add(
            &format!("{name}Route"),
            &apigw::Route {
                authorization_type: Some(
                    if authorizer.is_some() {
                        "JWT"
                    } else {
                        "AWS_IAM"
                    }
                    .into(),
                ),
                authorizer_id: authorizer.cloned().map(Into::into),
                target: Some(Expr::sub(format!("integrations/${{{integration}}}")).into()),
                ..apigw::Route::new(
                    api.clone(),
                    format!("{} {}", route.method.as_str(), route.path),
                )
            },
        );
        t.add(
            &format!("{name}Permission"),
            &invoke_permission(
                Handle::<lambda::Function>::new(&route.function_id).r#ref(),
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

const ACCESS_LOG_FORMAT: &str = concat!(
    r#"{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","#,
    r#""caller":"$context.identity.caller","user":"$context.identity.user","#,
    r#""userArn":"$context.identity.userArn","requestTime":"$context.requestTime","#,
    r#""routeKey":"$context.routeKey","status":"$context.status","#,
    r#""protocol":"$context.protocol","responseLength":"$context.responseLength","#,
    r#""integrationError":"$context.integrationErrorMessage"}"#
);
