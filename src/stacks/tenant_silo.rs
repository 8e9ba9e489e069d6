use crate::cfn::{Delivery, Expr, Output, Parameter, RemovalPolicy, Template};
use crate::constructs::{Code, Function, Table};

use super::{ArtifactParameters, Config, Kind, Stack, TENANT_ARTIFACT, TenantData};

/// `tenant-silo`: one tenant's own table and function. The function's role reaches that table
/// and nothing else. Resources are named after the stack, so the provisioning role can be scoped
/// to `{prefix}-tenant-*`.
pub fn tenant_silo(config: &Config, data: TenantData) -> Stack {
    let id = match data {
        TenantData::Retain => "tenant-silo".to_owned(),
        TenantData::Delete => "tenant-silo-delete-data".to_owned(),
    };
    let mut t = Template::new(&id);
    t.description(&format!(
        "silos tenant silo for prefix {}: a dedicated table and function for one tenant",
        config.prefix()
    ));
    let tenant_id = t.parameter(
        "TenantId",
        Parameter::string("The tenant's id").pattern(
            "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
            "a lowercase UUID",
        ),
    );
    let tenant_name = t.parameter(
        "TenantName",
        Parameter::string("The tenant's display name").length(1, 64),
    );
    // Set per deployment type in its blueprint, so tiers can differ.
    let memory = t.parameter(
        "MemorySize",
        Parameter::number("The tenant function's memory in MB, set by the blueprint")
            .range(128, 10_240),
    );
    let bucket = t.parameter(
        "CodeBucket",
        Parameter::string("Supplied by the platform: the artifacts bucket").length(3, 63),
    );
    let key = t.parameter(
        "CodeKey",
        Parameter::string("Supplied by the platform: the key of the tenant function's zip")
            .length(1, 1024),
    );

    let table = Table::new("TenantTable", "pk")
        .sort_key("sk")
        .table_name(Expr::stack_name())
        .removal(match data {
            TenantData::Retain => RemovalPolicy::RetainExceptOnCreate,
            TenantData::Delete => RemovalPolicy::Delete,
        });
    let mut function = Function::new(
        "Tenant",
        Code {
            bucket: bucket.into(),
            key: key.into(),
        },
    )
    .description("The tenant's own function")
    .function_name(Expr::stack_name())
    .log_group_name(Expr::sub("/aws/lambda/${AWS::StackName}"))
    .role_path(&config.tenant_role_path())
    .memory(memory)
    .env("TENANT_ID", tenant_id)
    .env("TENANT_NAME", tenant_name)
    .env("TABLE_NAME", table.name())
    .without_dead_letter_queue(
        "Invoked synchronously by the tenant's own callers, who receive its errors",
    );
    // Exactly the calls the tenant function makes (`crate::tenant_function`).
    table.grant(
        function.role_mut(),
        &[
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
        ],
    );

    table.add_to(&mut t);
    function.add_to(&mut t);
    t.output(
        "TenantTableName",
        Output::new("The tenant's table", table.name()),
    );
    t.output(
        "TenantFunctionName",
        Output::new("The tenant's function", function.name()),
    );

    Stack {
        id,
        stack_name: None,
        kind: Kind::Tenant,
        target: None,
        delivery: Delivery::Url,
        template: t,
        artifacts: vec![ArtifactParameters {
            artifact: TENANT_ARTIFACT.name,
            bucket_parameter: "CodeBucket",
            key_parameter: "CodeKey",
        }],
    }
}
