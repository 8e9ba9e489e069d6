use std::collections::BTreeSet;

use serde_json::json;

use super::*;
use crate::cfn::sqs;
use crate::stacks::{App, Silo, TenantContext, tenant_silo};

fn config() -> Config {
    Config::new("silos").unwrap()
}

/// Every action the derived role allows (on tenant resources, on `*`, or on the artifacts).
fn granted(app: &App) -> BTreeSet<String> {
    let p = app.provisioning(&config()).unwrap();
    p.role
        .statements()
        .iter()
        .flat_map(|s| s.action.iter().cloned())
        .collect()
}

fn with_queue(ctx: &TenantContext) -> Stack {
    let mut silo = Silo::new(ctx);
    silo.template().add("Extra", &sqs::Queue::new());
    silo.finish()
}

#[test]
fn adding_a_type_adds_exactly_its_handler_actions() {
    let reference = App::new().tenant_stack("tenant-silo", tenant_silo);
    let more = App::new()
        .tenant_stack("tenant-silo", tenant_silo)
        .tenant_stack("tenant-queue", with_queue);
    let before = granted(&reference);
    let after = granted(&more);
    let added: BTreeSet<String> = after.difference(&before).cloned().collect();
    let queue = metadata::type_info("AWS::SQS::Queue").unwrap();
    let expected: BTreeSet<String> = queue
        .permissions
        .create
        .iter()
        .chain(queue.permissions.update)
        .chain(queue.permissions.delete)
        .map(|a| (*a).to_owned())
        .filter(|a| !before.contains(a))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(added, expected);
    assert!(before.is_subset(&after));
    // The queue's actions reach tenant-named queues only.
    let p = more.provisioning(&config()).unwrap();
    let st = p
        .role
        .statements()
        .iter()
        .find(|s| s.action.iter().any(|a| a == "sqs:CreateQueue"))
        .unwrap();
    assert_eq!(
        serde_json::to_value(&st.resource).unwrap(),
        json!([{"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:silos-tenant-*"}])
    );
}

#[test]
fn a_type_no_rule_scopes_fails_with_the_type_and_its_actions() {
    let app = App::new().tenant_stack("tenant-topic", |ctx: &TenantContext| {
        let mut silo = Silo::new(ctx);
        silo.template()
            .add_raw("Topic", "AWS::SNS::Topic", json!({}));
        silo.finish()
    });
    let Err(crate::stacks::AppError::Provisioning(errors)) = app.provisioning(&config()) else {
        panic!("an SNS topic has no scoping rule");
    };
    let sns = metadata::type_info("AWS::SNS::Topic").unwrap();
    let expected: BTreeSet<String> = sns
        .permissions
        .create
        .iter()
        .chain(sns.permissions.update)
        .chain(sns.permissions.delete)
        .filter(|a| a.starts_with("sns:"))
        .map(|a| (*a).to_owned())
        .collect();
    let uncovered: Vec<_> = errors
        .iter()
        .filter_map(|e| match e {
            Error::Uncovered {
                type_name, actions, ..
            } if type_name == "AWS::SNS::Topic" => Some(actions.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(uncovered.len(), 2, "both data variants: {errors:?}");
    let reported: BTreeSet<String> = uncovered[0].iter().cloned().collect();
    assert!(expected.is_subset(&reported), "{reported:?}");
    let message = errors[0].to_string();
    assert!(
        message.contains("cannot create AWS::SNS::Topic") && message.contains("sns:CreateTopic"),
        "{message}"
    );
}

#[test]
fn the_refusal_reads_one_line_per_type_under_its_stack_with_the_variants_merged() {
    let app = App::new().tenant_stack("tenant-saas", |ctx: &TenantContext| {
        let mut silo = Silo::new(ctx);
        silo.template()
            .add_raw("Topic", "AWS::SNS::Topic", json!({}));
        silo.template()
            .add_raw("OtherTopic", "AWS::SNS::Topic", json!({}));
        silo.template().add_raw("Key", "AWS::KMS::Key", json!({}));
        silo.finish()
    });
    let Err(e @ crate::stacks::AppError::Provisioning(_)) = app.provisioning(&config()) else {
        panic!("neither SNS nor KMS has a scoping rule");
    };
    let message = e.to_string();
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(
        lines[0], "the provisioning role cannot be derived for 1 tenant stack:",
        "{message}"
    );
    assert_eq!(lines[1], "  tenant stack tenant-saas (both data variants):");
    // Two types, one line each, though each appears in two resources and two variants.
    assert!(
        lines[2].starts_with("    AWS::KMS::Key: no scoping rule covers kms:"),
        "{message}"
    );
    assert!(
        lines[3].starts_with("    AWS::SNS::Topic: no scoping rule covers "),
        "{message}"
    );
    assert!(lines[3].contains("sns:CreateTopic"), "{message}");
    assert_eq!(lines.len(), 5, "{message}");
    assert!(lines[4].starts_with("what you can do: "), "{message}");
    assert!(
        lines[4].contains("dynamodb, lambda, logs, sqs, s3, iam"),
        "{message}"
    );
}

#[test]
fn a_type_the_schemas_lack_fails() {
    let app = App::new().tenant_stack("tenant-meter", |ctx: &TenantContext| {
        let mut silo = Silo::new(ctx);
        silo.template()
            .add_raw("Meter", "MyOrg::Billing::Meter", json!({}));
        silo.finish()
    });
    let Err(crate::stacks::AppError::Provisioning(errors)) = app.provisioning(&config()) else {
        panic!("a private type has no handler permissions");
    };
    assert!(
        errors.iter().any(|e| matches!(e, Error::UnknownType { type_name, .. } if type_name == "MyOrg::Billing::Meter")),
        "{errors:?}"
    );
}

#[test]
fn a_tenant_role_without_the_boundary_fails() {
    let app = App::new().tenant_stack("tenant-unbounded", |ctx: &TenantContext| {
        let mut silo = Silo::new(ctx);
        crate::constructs::Role::for_service("Loose", "lambda.amazonaws.com")
            .path(&ctx.config.tenant_role_path())
            .add_to(silo.template());
        silo.finish()
    });
    let Err(crate::stacks::AppError::Provisioning(errors)) = app.provisioning(&config()) else {
        panic!("a role without the boundary");
    };
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, Error::MissingBoundary { role, .. } if role == "Loose")),
        "{errors:?}"
    );
    assert!(
        errors[0]
            .to_string()
            .contains("role Loose has no permissions boundary")
    );
}

#[test]
fn a_tenant_grant_outside_every_scope_fails() {
    let app = App::new().tenant_stack("tenant-wide", |ctx: &TenantContext| {
        let mut silo = Silo::new(ctx);
        silo.function_role()
            .allow(&["sns:Publish"], [Expr::lit("arn:aws:sns:us-east-1:1:t")]);
        silo.finish()
    });
    let Err(crate::stacks::AppError::Provisioning(errors)) = app.provisioning(&config()) else {
        panic!("a grant the boundary cannot hold");
    };
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, Error::UnscopedGrant { action, .. } if action == "sns:Publish")),
        "{errors:?}"
    );
}

#[test]
fn the_reference_apps_unscoped_actions_are_these() {
    let app = App::new().tenant_stack("tenant-silo", tenant_silo);
    let p = app.provisioning(&config()).unwrap();
    let on_star: Vec<&str> = p
        .notes
        .iter()
        .filter(|n| n.granted)
        .map(|n| n.action.as_str())
        .collect();
    assert_eq!(on_star, ["logs:DescribeLogGroups"]);
    let not_granted: BTreeSet<&str> = p
        .notes
        .iter()
        .filter(|n| !n.granted)
        .map(|n| n.action.as_str())
        .collect();
    let expected: BTreeSet<&str> = [
        "dynamodb:BatchWriteItem",
        "dynamodb:DeleteItem",
        "dynamodb:DescribeImport",
        "dynamodb:GetItem",
        "dynamodb:ImportTable",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:UpdateItem",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcs",
        "elasticfilesystem:DescribeMountTargets",
        "firehose:TagDeliveryStream",
        "iam:CreateServiceLinkedRole",
        "iam:DeleteRolePermissionsBoundary",
        "iam:UpdateAssumeRolePolicy",
        "kinesis:DescribeStream",
        "kinesis:PutRecords",
        "kms:CreateGrant",
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:ListAliases",
        "kms:RevokeGrant",
        "lambda:AssociateRuntimeAlias",
        "s3:GetObject",
        "s3:GetObjectMetadata",
        "s3:GetObjectVersion",
        "s3:ListBucket",
        "s3:REST.PUT.OBJECT",
        "s3files:ListMountTargets",
    ]
    .into();
    assert_eq!(not_granted, expected);
    // Nothing granted touches tenant data, and no write to a role goes without the boundary.
    let granted = granted(&app);
    assert!(!granted.contains("dynamodb:GetItem") && !granted.contains("dynamodb:PutItem"));
    let bounded = p
        .role
        .statements()
        .iter()
        .find(|s| s.action.iter().any(|a| a == "iam:CreateRole"))
        .unwrap();
    assert!(bounded.condition["StringEquals"].contains_key("iam:PermissionsBoundary"));
    for action in [
        "iam:PutRolePolicy",
        "iam:AttachRolePolicy",
        "iam:DeleteRolePolicy",
    ] {
        assert!(bounded.action.iter().any(|a| a == action), "{action}");
    }
}

/// The resources of every statement that allows `action`, as JSON.
fn resources_of(p: &Provisioning, action: &str) -> Vec<serde_json::Value> {
    p.role
        .statements()
        .iter()
        .filter(|s| s.action.iter().any(|a| a == action))
        .map(|s| serde_json::to_value(&s.resource).unwrap())
        .collect()
}

#[test]
fn the_role_never_reaches_tenant_objects_and_tenant_roles_never_change_iam() {
    let premium = App::new().tenant_stack("tenant-premium", |ctx: &TenantContext| {
        let mut silo = Silo::new(ctx);
        silo.bucket("Files", "files", "FILES_BUCKET");
        silo.finish()
    });
    let p = premium.provisioning(&config()).unwrap();
    // Function code comes from the artifacts bucket only; no object action on tenant buckets.
    for action in [
        "s3:GetObject",
        "s3:DeleteObject",
        "s3:PutObjectAcl",
        "s3:ListBucket",
    ] {
        for resources in resources_of(&p, action) {
            assert!(
                !resources.to_string().contains("silos-tenant-"),
                "{action} reaches tenant objects: {resources}"
            );
        }
    }
    let create = p
        .role
        .statements()
        .iter()
        .find(|s| s.action.iter().any(|a| a == "s3:CreateBucket"))
        .unwrap();
    assert!(create.condition["StringEquals"].contains_key("s3:ResourceAccount"));
    // The boundary denies IAM to every tenant role, whatever its policies say.
    let boundary = serde_json::to_value(&p.boundary).unwrap();
    let deny = boundary["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Effect"] == "Deny")
        .expect("a Deny statement");
    assert_eq!(deny["Action"], json!(["iam:*"]));
    assert_eq!(deny["Resource"], json!(["*"]));
}

#[test]
fn a_tenant_role_granted_iam_or_off_the_tenant_path_fails() {
    let app = App::new().tenant_stack("tenant-iam", |ctx: &TenantContext| {
        let mut silo = Silo::new(ctx);
        silo.function_role()
            .allow(&["iam:DeleteRolePermissionsBoundary"], [Expr::lit("*")]);
        crate::constructs::Role::for_service("Pathless", "lambda.amazonaws.com")
            .permissions_boundary(boundary_arn(ctx.config))
            .add_to(silo.template());
        silo.finish()
    });
    let Err(crate::stacks::AppError::Provisioning(errors)) = app.provisioning(&config()) else {
        panic!("an IAM grant and a role off the tenant path");
    };
    assert!(
        errors.iter().any(|e| matches!(e, Error::UnscopedGrant { action, .. } if action == "iam:DeleteRolePermissionsBoundary")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, Error::RolePath { role, .. } if role == "Pathless")),
        "{errors:?}"
    );
}

#[test]
fn a_type_of_a_scoped_service_with_another_arn_shape_or_an_unscoped_service_fails() {
    for (type_name, service) in [
        ("AWS::IAM::ManagedPolicy", "iam:"),
        ("AWS::KMS::Key", "kms:"),
        ("AWS::Lambda::LayerVersion", "lambda:"),
    ] {
        let app = App::new().tenant_stack("tenant-x", move |ctx: &TenantContext| {
            let mut silo = Silo::new(ctx);
            silo.template().add_raw("X", type_name, json!({}));
            silo.finish()
        });
        let Err(crate::stacks::AppError::Provisioning(errors)) = app.provisioning(&config()) else {
            panic!("{type_name} has no rule for its ARNs");
        };
        let actions = errors
            .iter()
            .find_map(|e| match e {
                Error::Uncovered {
                    type_name: t,
                    actions,
                    ..
                } if t == type_name => Some(actions.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{type_name}: {errors:?}"));
        assert!(
            actions.iter().all(|a| a.starts_with(service)),
            "{actions:?}"
        );
        assert!(!actions.is_empty());
    }
}
