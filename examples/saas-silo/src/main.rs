//! A silos app whose tenant stack is a SaaS silo: the reference table and function, plus what
//! a real silo adds around them. Each resource is named after its stack (so the provisioning
//! role reaches it by name) or carries the stack's `silos:app` tag (so it reaches a generated
//! id, such as a key's or an API's, by tag):
//! - a customer-managed KMS key with rotation, and its alias;
//! - an HTTP API in front of the tenant function;
//! - an SNS topic for the tenant's notifications, encrypted with the tenant's key;
//! - a nightly EventBridge rule that starts a Step Functions state machine, which invokes the
//!   tenant function;
//! - a Secrets Manager secret, encrypted with the tenant's key;
//! - a CloudWatch alarm on the function's errors over five minutes, notifying the topic (named
//!   `{stack}-errors-paged`, beside the silo's own `{stack}-errors`; its state counts for the
//!   tenant's health too);
//! - an SSM parameter holding the tenant's settings.
//!
//! Every `silos` command runs on it: `cargo run -p silos-example-saas-silo -- synth`.

use serde_json::json;
use silos::cfn::iam::{PolicyDocument, Principal, Statement};
use silos::cfn::{
    Expr, apigatewayv2, cloudwatch, events, kms, lambda, logs, secretsmanager, sns, ssm,
    stepfunctions,
};
use silos::constructs::Role;
use silos::stacks::{App, Silo, Stack, TenantContext, provisioning};

/// A role of the tenant's, under the tenant path and with the boundary, as every tenant role.
fn tenant_role(ctx: &TenantContext, id: &str, service: &str) -> Role {
    Role::for_service(id, service)
        .path(&ctx.config.tenant_role_path())
        .permissions_boundary(provisioning::boundary_arn(ctx.config))
}

/// What the account's IAM policies may allow on the tenant's key: KMS's default key policy,
/// with its actions spelled out.
const KEY_ACTIONS: &[&str] = &[
    "kms:CancelKeyDeletion",
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListGrants",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:RevokeGrant",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateKeyDescription",
];

/// The tenant's key, rotated yearly. Its policy hands it to the account's IAM policies, which
/// decide who uses it: a tenant role, by the boundary, only while the key's `silos:tenant` tag
/// is its own.
fn key(silo: &mut Silo) -> Expr {
    let t = silo.template();
    // A key policy's resource is always `*`: the key it is attached to.
    let policy = PolicyDocument::new(vec![
        Statement::allow(KEY_ACTIONS, ["*"])
            .principal(Principal::Aws(
                Expr::sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root").into(),
            ))
            .sid("TheAccountsPoliciesDecide"),
    ]);
    let key = t.add(
        "TenantKey",
        &kms::Key {
            description: Some(Expr::sub("The key of tenant stack ${AWS::StackName}").into()),
            enable_key_rotation: Some(true.into()),
            key_policy: Some(policy),
            ..kms::Key::new()
        },
    );
    let arn = key.handle().get_att("Arn");
    t.add(
        "TenantKeyAlias",
        &kms::Alias::new(Expr::sub("alias/${AWS::StackName}"), arn.clone()),
    );
    arn
}

/// A second HTTP API in front of the tenant function, for the product's back office: SigV4
/// (IAM) callers only, beside the silo's own front door that takes the tenant users' tokens.
fn api(silo: &mut Silo) {
    let function = silo.function_arn();
    let t = silo.template();
    let api = t.add(
        "TenantAdminApi",
        &apigatewayv2::Api {
            name: Some(Expr::sub("${AWS::StackName}-admin").into()),
            protocol_type: Some("HTTP".into()),
            ..apigatewayv2::Api::new()
        },
    );
    let api_id = api.handle().r#ref();
    let integration = t.add(
        "TenantAdminApiIntegration",
        &apigatewayv2::Integration {
            integration_uri: Some(function.clone().into()),
            payload_format_version: Some("2.0".into()),
            ..apigatewayv2::Integration::new(api_id.clone(), "AWS_PROXY")
        },
    );
    let target = Expr::sub_with(
        "integrations/${Integration}",
        [("Integration", integration.handle().r#ref())],
    );
    t.add(
        "TenantAdminApiRoute",
        &apigatewayv2::Route {
            target: Some(target.into()),
            authorization_type: Some("AWS_IAM".into()),
            ..apigatewayv2::Route::new(api_id.clone(), "$default")
        },
    );
    // AWS names the log groups of the services it runs `/aws/SERVICE/NAME`: the provisioning
    // role reaches them by the stack's name.
    let logs = t
        .add(
            "TenantAdminApiAccessLogs",
            &logs::LogGroup {
                log_group_name: Some(Expr::sub("/aws/apigateway/${AWS::StackName}-admin").into()),
                retention_in_days: Some(logs::log_group::RetentionInDays::V365.into()),
                ..logs::LogGroup::new()
            },
        )
        .checkov_skip(
            "CKV_AWS_158",
            "Log data is encrypted at rest by CloudWatch Logs; the tenant key's default policy does not let the Logs service use it",
        )
        .handle();
    t.add(
        "TenantAdminApiStage",
        &apigatewayv2::Stage {
            auto_deploy: Some(true.into()),
            access_log_settings: Some(apigatewayv2::stage::AccessLogSettings {
                destination_arn: Some(logs.attr_arn().into()),
                format: Some(
                    r#"{"requestId":"$context.requestId","routeKey":"$context.routeKey","status":"$context.status"}"#
                        .into(),
                ),
            }),
            // One tenant's burst stays within its own API.
            default_route_settings: Some(apigatewayv2::stage::RouteSettings {
                throttling_burst_limit: Some(100.into()),
                throttling_rate_limit: Some(50.0.into()),
                ..apigatewayv2::stage::RouteSettings::new()
            }),
            ..apigatewayv2::Stage::new(api_id.clone(), "$default")
        },
    );
    t.add(
        "TenantAdminApiInvoke",
        &lambda::Permission {
            source_arn: Some(
                Expr::sub_with(
                    "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/*",
                    [("Api", api_id.clone())],
                )
                .into(),
            ),
            ..lambda::Permission::new(
                "lambda:InvokeFunction",
                function.clone(),
                "apigateway.amazonaws.com",
            )
        },
    );
    silo.output(
        "TenantAdminApiEndpoint",
        "The tenant's back-office API (SigV4)",
        Expr::sub_with(
            "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}",
            [("Api", api_id)],
        ),
    );
}

/// A nightly rule that starts a workflow, which invokes the tenant function.
fn nightly(ctx: &TenantContext, silo: &mut Silo) {
    let function = silo.function_arn();
    let mut workflow_role = tenant_role(ctx, "TenantWorkflowRole", "states.amazonaws.com");
    workflow_role.allow(&["lambda:InvokeFunction"], [function.clone()]);
    let t = silo.template();
    workflow_role.add_to(t);
    let definition = json!({
        "Comment": "The tenant's nightly job",
        "StartAt": "Run",
        "States": {"Run": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "${Function}", "Payload": {"nightly": true}}, "End": true}}
    });
    let machine = t.add(
        "TenantWorkflow",
        &stepfunctions::StateMachine {
            state_machine_name: Some(Expr::stack_name().into()),
            definition_string: Some(
                Expr::sub_with(definition.to_string(), [("Function", function.clone())]).into(),
            ),
            ..stepfunctions::StateMachine::new(workflow_role.arn())
        },
    );
    let machine_arn = machine.handle().r#ref();
    let mut start_role = tenant_role(ctx, "TenantScheduleRole", "events.amazonaws.com");
    start_role.allow(&["states:StartExecution"], [machine_arn.clone()]);
    start_role.add_to(t);
    t.add(
        "TenantNightly",
        &events::Rule {
            name: Some(Expr::sub("${AWS::StackName}-nightly").into()),
            schedule_expression: Some("cron(0 3 * * ? *)".into()),
            targets: Some(vec![events::rule::Target {
                role_arn: Some(start_role.arn().into()),
                ..events::rule::Target::new(machine_arn, "workflow")
            }]),
            ..events::Rule::new()
        },
    );
}

/// The tenant's topic, secret, alarm and settings.
fn the_rest(silo: &mut Silo, key: Expr) {
    let t = silo.template();
    let topic = t.add(
        "TenantNotifications",
        &sns::Topic {
            topic_name: Some(Expr::sub("${AWS::StackName}-notifications").into()),
            kms_master_key_id: Some(key.clone().into()),
            ..sns::Topic::new()
        },
    );
    let topic_arn = topic.handle().r#ref();
    t.add(
        "TenantSecret",
        &secretsmanager::Secret {
            name: Some(Expr::sub("${AWS::StackName}-api-key").into()),
            kms_key_id: Some(key.into()),
            generate_secret_string: Some(secretsmanager::secret::GenerateSecretString {
                password_length: Some(32.into()),
                exclude_punctuation: Some(true.into()),
                ..secretsmanager::secret::GenerateSecretString::new()
            }),
            ..secretsmanager::Secret::new()
        },
    );
    t.add(
        "TenantErrorsPaged",
        &cloudwatch::Alarm {
            alarm_name: Some(Expr::sub("${AWS::StackName}-errors-paged").into()),
            alarm_description: Some("The tenant function fails".into()),
            namespace: Some("AWS/Lambda".into()),
            metric_name: Some("Errors".into()),
            dimensions: Some(vec![cloudwatch::alarm::Dimension::new(
                "FunctionName",
                Expr::stack_name(),
            )]),
            statistic: Some(cloudwatch::alarm::Statistic::Sum.into()),
            period: Some(300.into()),
            evaluation_periods: Some(1.into()),
            threshold: Some(1.0.into()),
            comparison_operator: Some(
                cloudwatch::alarm::ComparisonOperator::GreaterThanOrEqualToThreshold.into(),
            ),
            treat_missing_data: Some(cloudwatch::alarm::TreatMissingData::NotBreaching.into()),
            alarm_actions: Some(vec![topic_arn.into()]),
            ..cloudwatch::Alarm::new()
        },
    );
    let settings = t.add(
        "TenantSettings",
        &ssm::Parameter {
            name: Some(Expr::sub("/${AWS::StackName}/settings").into()),
            description: Some("The tenant's settings".into()),
            ..ssm::Parameter::new(ssm::parameter::Type::String, r#"{"plan":"saas"}"#)
        },
    );
    let name = settings.handle().r#ref();
    silo.env("SETTINGS_PARAMETER", name);
}

/// The SaaS tier: the silo and everything above.
fn saas(ctx: &TenantContext) -> Stack {
    let mut silo = Silo::new(ctx);
    let key = key(&mut silo);
    api(&mut silo);
    nightly(ctx, &mut silo);
    the_rest(&mut silo, key);
    silo.function_role().allow(
        &["ssm:GetParameter"],
        [Expr::sub("arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/${AWS::StackName}/settings")],
    );
    silo.finish()
}

fn main() -> std::process::ExitCode {
    let app = App::new().tenant_stack("tenant-saas", saas);
    silos::cli::main_with(app)
}
