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

/// The refusals of `type_name` in a tenant stack of its own, each action with why.
fn refusals_of(type_name: &'static str) -> Vec<Error> {
    let app = App::new().tenant_stack("tenant-x", move |ctx: &TenantContext| {
        let mut silo = Silo::new(ctx);
        silo.template().add_raw("X", type_name, json!({}));
        silo.finish()
    });
    match app.provisioning(&config()) {
        Err(crate::stacks::AppError::Provisioning(errors)) => errors,
        Ok(_) => panic!("{type_name} is provisioned"),
        Err(e) => panic!("{type_name}: {e}"),
    }
}

#[test]
fn a_type_iam_cannot_scope_fails_with_the_type_each_action_and_why() {
    let errors = refusals_of("AWS::SSM::ServiceSetting");
    let refused: Vec<_> = errors
        .iter()
        .filter_map(|e| match e {
            Error::Refused {
                type_name,
                refusals,
                ..
            } if type_name == "AWS::SSM::ServiceSetting" => Some(refusals.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(refused.len(), 2, "both data variants: {errors:?}");
    let actions: BTreeSet<&str> = refused[0].iter().map(|(a, _)| a.as_str()).collect();
    assert!(actions.contains("ssm:UpdateServiceSetting"), "{actions:?}");
    assert!(refused[0].iter().all(|(_, r)| matches!(
        r,
        scoping::Refusal::GeneratedId { resource, .. } if resource == "ssm:servicesetting"
    )));
    let message = errors[0].to_string();
    assert!(
        message.contains("cannot create AWS::SSM::ServiceSetting: ssm:")
            && message
                .contains("because its ssm:servicesetting ARN holds a generated id (ResourceId)"),
        "{message}"
    );
}

#[test]
fn an_account_wide_permission_and_an_iam_type_other_than_a_role_fail() {
    let errors = refusals_of("AWS::Logs::ResourcePolicy");
    assert!(
        errors.iter().any(|e| matches!(e, Error::Refused { refusals, .. }
            if refusals.iter().any(|(a, r)| a == "logs:PutResourcePolicy" && *r == scoping::Refusal::PermissionsOnAccount))),
        "{errors:?}"
    );
    let errors = refusals_of("AWS::IAM::ManagedPolicy");
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, Error::IamType { type_name, .. } if type_name == "AWS::IAM::ManagedPolicy")),
        "{errors:?}"
    );
}

#[test]
fn the_refusal_reads_one_line_per_action_under_its_stack_with_the_variants_merged() {
    let app = App::new().tenant_stack("tenant-saas", |ctx: &TenantContext| {
        let mut silo = Silo::new(ctx);
        silo.template()
            .add_raw("Policy", "AWS::Logs::ResourcePolicy", json!({}));
        silo.template()
            .add_raw("OtherPolicy", "AWS::Logs::ResourcePolicy", json!({}));
        silo.template()
            .add_raw("Setting", "AWS::SSM::ServiceSetting", json!({}));
        silo.finish()
    });
    let Err(e @ crate::stacks::AppError::Provisioning(_)) = app.provisioning(&config()) else {
        panic!("an account's log resource policy and service setting are no tenant's");
    };
    let message = e.to_string();
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(
        lines[0], "the provisioning role cannot be derived for 1 tenant stack:",
        "{message}"
    );
    assert_eq!(lines[1], "  tenant stack tenant-saas (both data variants):");
    // One line per refused action, though each type appears in two resources and two variants.
    let refused: Vec<&&str> = lines.iter().filter(|l| l.starts_with("    ")).collect();
    let policy = refused
        .iter()
        .filter(|l| l.starts_with("    AWS::Logs::ResourcePolicy: logs:"))
        .count();
    let setting = refused
        .iter()
        .filter(|l| l.starts_with("    AWS::SSM::ServiceSetting: ssm:"))
        .count();
    assert_eq!(policy + setting, refused.len(), "{message}");
    assert!(policy == 1 && setting >= 2, "{message}");
    let advice: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("what you can do: "))
        .collect();
    assert_eq!(advice.len(), 2, "{message}");
    assert_eq!(lines.len(), 2 + refused.len() + advice.len(), "{message}");
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
        silo.function_role().allow(
            &["ssm:UpdateServiceSetting"],
            [Expr::lit("arn:aws:ssm:us-east-1:1:servicesetting/x")],
        );
        silo.finish()
    });
    let Err(crate::stacks::AppError::Provisioning(errors)) = app.provisioning(&config()) else {
        panic!("a grant the boundary cannot hold");
    };
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, Error::UnscopedGrant { action, .. } if action == "ssm:UpdateServiceSetting")),
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
    // Each is one IAM's reference authorizes on no resource type.
    assert_eq!(
        on_star,
        [
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeSubnets",
            "ec2:DescribeVpcs",
            "kms:ListAliases",
            "logs:CreateLogDelivery",
            "logs:DeleteIndexPolicy",
            "logs:DescribeIndexPolicies",
            "logs:DescribeLogGroups",
            "logs:DescribeResourcePolicies",
            "logs:PutIndexPolicy",
        ]
    );
    for action in &on_star {
        let reference = crate::cfn::iam_reference::action(action).unwrap();
        assert_eq!(reference.resources().count(), 0, "{action}");
    }
    let not_granted: BTreeSet<&str> = p
        .notes
        .iter()
        .filter(|n| !n.granted)
        .map(|n| n.action.as_str())
        .collect();
    let expected: BTreeSet<&str> = [
        // The front door's: API Gateway tags through apigateway:PUT/DELETE on /tags, and an
        // HTTP API's import reads its body from S3 (s3:getObject, as its handler spells it).
        "apigateway:TagResource",
        "apigateway:UntagResource",
        "dynamodb:BatchWriteItem",
        "dynamodb:DeleteItem",
        "dynamodb:DescribeImport",
        "dynamodb:GetItem",
        "dynamodb:ImportTable",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:UpdateItem",
        "iam:CreateServiceLinkedRole",
        "iam:DeleteRolePermissionsBoundary",
        "iam:UpdateAssumeRolePolicy",
        "kms:Decrypt",
        "lambda:AssociateRuntimeAlias",
        "logs:DeleteResourcePolicy",
        "logs:PutResourcePolicy",
        "s3:GetObject",
        "s3:GetObjectMetadata",
        "s3:GetObjectVersion",
        "s3:ListBucket",
        "s3:REST.PUT.OBJECT",
        "s3:getObject",
    ]
    .into();
    assert_eq!(
        not_granted,
        expected,
        "{:?}",
        not_granted
            .symmetric_difference(&expected)
            .collect::<Vec<_>>()
    );
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
        .find(|s| s["Sid"] == "TenantRolesNeverChangeIam")
        .expect("a Deny statement");
    assert_eq!(deny["Effect"], "Deny");
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
fn a_generated_id_is_reached_by_the_app_tag_and_a_name_by_the_tenant_prefix() {
    let app = App::new().tenant_stack("tenant-keyed", |ctx: &TenantContext| {
        let mut silo = Silo::new(ctx);
        silo.template().add_raw("Key", "AWS::KMS::Key", json!({}));
        silo.template()
            .add_raw("Topic", "AWS::SNS::Topic", json!({}));
        silo.finish()
    });
    let p = app.provisioning(&config()).unwrap();
    let statements = p.role.statements();
    let create = statements
        .iter()
        .find(|s| s.action.iter().any(|a| a == "kms:CreateKey"))
        .unwrap();
    assert_eq!(
        serde_json::to_value(&create.resource).unwrap(),
        json!(["*"])
    );
    assert_eq!(
        serde_json::to_value(&create.condition).unwrap(),
        json!({"StringEquals": {"aws:RequestTag/silos:app": "silos"}})
    );
    let delete = statements
        .iter()
        .find(|s| s.action.iter().any(|a| a == "kms:ScheduleKeyDeletion"))
        .unwrap();
    assert_eq!(
        serde_json::to_value(&delete.condition).unwrap(),
        json!({"StringEquals": {"aws:ResourceTag/silos:app": "silos"}})
    );
    let topic = statements
        .iter()
        .find(|s| s.action.iter().any(|a| a == "sns:CreateTopic"))
        .unwrap();
    assert!(topic.condition.is_empty());
    assert!(
        serde_json::to_value(&topic.resource)
            .unwrap()
            .to_string()
            .contains(":silos-tenant-*")
    );
}

/// The service of a type as the coverage figures group it: `AWS::ApiGatewayV2::Api` →
/// `ApiGatewayV2`.
fn service_of_type(type_name: &str) -> &str {
    type_name.split("::").nth(1).unwrap_or_default()
}

/// The services a serverless silo uses, whose every type a tenant stack should be able to hold.
const SILO_SERVICES: &[&str] = &[
    "ApiGateway",
    "ApiGatewayV2",
    "AppSync",
    "Cognito",
    "KMS",
    "SecretsManager",
    "SSM",
    "SNS",
    "SQS",
    "Events",
    "Scheduler",
    "Pipes",
    "StepFunctions",
    "CloudWatch",
    "Logs",
    "Lambda",
    "DynamoDB",
    "S3",
    "Kinesis",
    "KinesisFirehose",
    "XRay",
    "AppConfig",
    "Backup",
];

#[test]
fn every_type_alone_is_provisioned_with_every_action_scoped_or_refused_with_a_reason() {
    let config = config();
    let tenant = config.tenant_stack_prefix();
    let mut held_types = 0;
    let mut refused_by_reason: BTreeMap<String, usize> = BTreeMap::new();
    let mut silo_services: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut silo_refusals: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for info in metadata::types() {
        let type_name = info.type_name;
        let mut needs = Needs::default();
        needs.add(&config, "tenant-x", type_name);
        let service = service_of_type(type_name);
        let silo = SILO_SERVICES.contains(&service);
        if silo {
            silo_services.entry(service).or_default().0 += 1;
        }
        if !needs.errors.is_empty() {
            for e in &needs.errors {
                let reason = match e {
                    Error::Refused { refusals, .. } => {
                        let (action, r) = &refusals[0];
                        if silo {
                            silo_refusals
                                .entry(type_name.to_owned())
                                .or_default()
                                .insert(format!("{action}: {r}"));
                        }
                        match r {
                            scoping::Refusal::GeneratedId { .. } => {
                                "generated id, no tag condition"
                            }
                            scoping::Refusal::AccountWide { .. } => "account-wide resource",
                            scoping::Refusal::PermissionsOnAccount => "account-wide permissions",
                        }
                    }
                    Error::IamType { .. } => "an IAM type other than a role",
                    Error::UnknownType { .. } => "no handler permissions",
                    other => panic!("{type_name}: {other}"),
                };
                *refused_by_reason.entry(reason.to_owned()).or_default() += 1;
            }
            continue;
        }
        held_types += 1;
        if silo {
            silo_services.entry(service).or_default().1 += 1;
        }
        // The property: every action the role holds is scoped to tenant resources, on `*`
        // because IAM names no resource type for it, or not granted with a reason.
        for action in needs.actions.keys() {
            match held(&config, action, type_name) {
                Ok(Held::Scoped(grants)) => {
                    assert!(!grants.is_empty(), "{type_name} {action}");
                    for g in grants {
                        assert!(!g.arns.is_empty(), "{type_name} {action}");
                        for arn in &g.arns {
                            match g.form {
                                Form::Name => assert!(arn.contains(&tenant), "{action} {arn}"),
                                Form::Tag => {
                                    assert!(arn.ends_with('*') && arn != "*", "{action} {arn}")
                                }
                                Form::RequestTag => {}
                            }
                        }
                    }
                }
                Ok(Held::OnStar) => {
                    let reference = crate::cfn::iam_reference::action(action).unwrap();
                    assert_eq!(reference.resources().count(), 0, "{action}");
                }
                Ok(Held::NotGranted(why)) => assert!(!why.is_empty()),
                Ok(Held::Iam) => assert!(action.starts_with("iam:")),
                Err(Refusal::PermissionsOnAccount) => {}
                Err(r) => panic!("{type_name} {action} is held and refused: {r}"),
            }
        }
    }
    let total = metadata::types().len();
    eprintln!(
        "{held_types} of {total} types may be in a tenant stack; refused: {refused_by_reason:?}"
    );
    for (service, (types, held)) in &silo_services {
        eprintln!("  {service}: {held} of {types}");
    }
    for (t, why) in &silo_refusals {
        eprintln!("  refused {t}: {}", why.iter().next().unwrap());
    }
    assert!(held_types >= 1660, "{held_types} of {total}");
    // Of the serverless services, only these are refused: each acts on the account (its API
    // Gateway settings, an S3 access grants instance, SSM's service settings, a logs resource
    // policy) or on a resource IAM can scope neither by name nor by tag.
    let refused: Vec<&str> = silo_refusals.keys().map(String::as_str).collect();
    assert_eq!(
        refused,
        [
            "AWS::ApiGateway::Account",
            "AWS::AppConfig::HostedConfigurationVersion",
            "AWS::AppSync::SourceApiAssociation",
            "AWS::Cognito::IdentityPool",
            "AWS::Events::Endpoint",
            "AWS::Logs::Integration",
            "AWS::Logs::ResourcePolicy",
            "AWS::S3::AccessGrantsInstance",
            "AWS::S3::MultiRegionAccessPoint",
            "AWS::S3::MultiRegionAccessPointPolicy",
            "AWS::SSM::ServiceSetting",
        ]
    );
}

#[test]
fn the_statements_of_each_scoping_form_match_their_snapshot() {
    // SNS by name, KMS by tag and request tag, and what IAM authorizes on no resource type.
    let app = App::new().tenant_stack("tenant-forms", |ctx: &TenantContext| {
        let mut silo = Silo::new(ctx);
        silo.template().add_raw("Key", "AWS::KMS::Key", json!({}));
        silo.template()
            .add_raw("Topic", "AWS::SNS::Topic", json!({}));
        silo.finish()
    });
    let p = app.provisioning(&config()).unwrap();
    let forms: Vec<serde_json::Value> = p
        .role
        .statements()
        .iter()
        .filter(|s| {
            // Any: a form's statement holds every service's actions of that form (the silo's
            // own directory's CreateUserPool sits beside kms:CreateKey).
            s.action
                .iter()
                .any(|a| a.starts_with("sns:") || a.starts_with("kms:"))
                || s.sid.as_deref() == Some("NoResourceLevelPermission")
        })
        .map(|s| serde_json::to_value(s).unwrap())
        .collect();
    insta::assert_json_snapshot!("scoping-forms", forms);
}

#[test]
fn a_tenant_role_that_may_tag_may_not_set_or_remove_the_platforms_tags() {
    let app = App::new().tenant_stack("tenant-tagger", |ctx: &TenantContext| {
        let mut silo = Silo::new(ctx);
        silo.template().add_raw("Key", "AWS::KMS::Key", json!({}));
        silo.function_role().allow(
            &["kms:TagResource", "kms:UntagResource", "kms:DescribeKey"],
            [Expr::get_att("Key", "Arn")],
        );
        silo.finish()
    });
    let p = app.provisioning(&config()).unwrap();
    let boundary = serde_json::to_value(&p.boundary).unwrap();
    let statements = boundary["Statement"].as_array().unwrap();
    let deny = statements
        .iter()
        .find(|s| s["Sid"] == "TenantRolesNeverChangeThePlatformsTags")
        .expect("a Deny on the platform's tags");
    assert_eq!(deny["Effect"], "Deny");
    // The tagging actions the boundary allows, and no other.
    assert_eq!(
        deny["Action"],
        json!(["kms:TagResource", "kms:UntagResource"])
    );
    assert_eq!(
        deny["Condition"],
        json!({"ForAnyValue:StringLike": {"aws:TagKeys": "silos:*"}})
    );
    let allowed: Vec<&Json> = statements
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .flat_map(|s| s["Action"].as_array().unwrap())
        .collect();
    assert!(allowed.contains(&&json!("kms:TagResource")), "{allowed:?}");
    // Without a tagging action, no such statement.
    let plain = App::new().tenant_stack("tenant-silo", tenant_silo);
    let boundary = serde_json::to_value(&plain.provisioning(&config()).unwrap().boundary).unwrap();
    assert!(
        !boundary["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["Sid"] == "TenantRolesNeverChangeThePlatformsTags")
    );
}
