//! The provisioning role and the tenant permissions boundary, derived from the tenant stacks.
//!
//! CloudFormation assumes the provisioning role to create, update and delete tenant stacks. Its
//! actions are the registry schemas' handler permissions (create, update, delete) of every
//! resource type in every registered tenant stack, each scoped to tenant-named resources through
//! its service's rule below. An action no rule covers fails synth, naming the type: a tenant
//! stack the role cannot create is found at synth, not at CreateStack.
//!
//! Every tenant role carries the boundary, a managed policy that allows what the tenant stacks'
//! roles are granted, on tenant-named resources only. The provisioning role may create a role
//! or change its policies only with that boundary on it, so nothing that drives CloudFormation
//! through it can make a role that reaches past the tenants.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use crate::cfn::iam::{self, PolicyDocument, Statement};
use crate::cfn::{Expr, ResourceOptions, Template, metadata};
use crate::constructs::{self, BucketRef, Role, Unscoped};

use super::{Config, Stack};

/// A handler action the role does not scope to tenant resources, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub action: String,
    /// The tenant resource types whose handlers list it.
    pub types: Vec<String>,
    /// Granted on `*` (IAM authorizes it on no resource type), or not granted at all.
    pub granted: bool,
    pub why: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(
        "tenant stack {stack}: the provisioning role cannot create {type_name}: no scoping rule covers {}",
        actions.join(", ")
    )]
    Uncovered {
        stack: String,
        type_name: String,
        actions: Vec<String>,
    },
    #[error(
        "tenant stack {stack}: {type_name} has no handler permissions in the pinned registry schemas, so the provisioning role cannot be derived for it"
    )]
    UnknownType { stack: String, type_name: String },
    #[error(
        "tenant stack {stack}: role {role} has no permissions boundary (every tenant role carries {boundary}; constructs::Role::permissions_boundary sets it)"
    )]
    MissingBoundary {
        stack: String,
        role: String,
        boundary: String,
    },
    #[error(
        "tenant stack {stack}: role {role} is not under the tenant path {path} (constructs::Role::path), so the provisioning role cannot create it"
    )]
    RolePath {
        stack: String,
        role: String,
        path: String,
    },
    #[error(
        "tenant stack {stack}: {from} grants {action}, which no tenant scoping rule covers (and a tenant role never changes IAM), so the boundary cannot allow it"
    )]
    UnscopedGrant {
        stack: String,
        from: String,
        action: String,
    },
}

impl Error {
    /// The tenant stack the error is about.
    fn stack(&self) -> &str {
        match self {
            Error::Uncovered { stack, .. }
            | Error::UnknownType { stack, .. }
            | Error::MissingBoundary { stack, .. }
            | Error::RolePath { stack, .. }
            | Error::UnscopedGrant { stack, .. } => stack,
        }
    }

    /// The error as one line under its stack's heading (the stack left out).
    fn line(&self) -> String {
        match self {
            Error::Uncovered {
                type_name, actions, ..
            } => format!("{type_name}: no scoping rule covers {}", actions.join(", ")),
            Error::UnknownType { type_name, .. } => {
                format!("{type_name}: no handler permissions in the pinned registry schemas")
            }
            Error::MissingBoundary { role, boundary, .. } => format!(
                "role {role} has no permissions boundary (every tenant role carries {boundary}; constructs::Role::permissions_boundary sets it)"
            ),
            Error::RolePath { role, path, .. } => {
                format!("role {role} is not under the tenant path {path} (constructs::Role::path)")
            }
            Error::UnscopedGrant { from, action, .. } => format!(
                "{from} grants {action}, which no tenant scoping rule covers, so the boundary cannot allow it"
            ),
        }
    }
}

/// The services the scoping rules cover, as a reader lists them.
fn covered_services() -> String {
    RULES
        .iter()
        .map(|r| r.service)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why synth refused the tenant stacks, for a person: one heading per tenant stack (its data
/// variants merged: `tenant-silo` and `tenant-silo-delete-data` are one), one line per
/// resource type or role under it, each said once, then what the user can do.
pub fn report(errors: &[Error]) -> String {
    let mut by_stack: BTreeMap<&str, (BTreeSet<&str>, BTreeSet<String>)> = BTreeMap::new();
    for e in errors {
        let id = e.stack();
        let base = id.strip_suffix(super::DELETE_DATA_SUFFIX).unwrap_or(id);
        let (variants, lines) = by_stack.entry(base).or_default();
        variants.insert(id);
        lines.insert(e.line());
    }
    let mut out = format!(
        "the provisioning role cannot be derived for {} tenant stack{}:",
        by_stack.len(),
        if by_stack.len() == 1 { "" } else { "s" }
    );
    for (stack, (variants, lines)) in &by_stack {
        let both = if variants.len() > 1 {
            " (both data variants)"
        } else {
            ""
        };
        out.push_str(&format!("\n  tenant stack {stack}{both}:"));
        for line in lines {
            out.push_str(&format!("\n    {line}"));
        }
    }
    if errors.iter().any(|e| matches!(e, Error::Uncovered { .. })) {
        out.push_str(&format!(
            "\nwhat you can do: the provisioning role is derived only for the services its scoping rules cover ({}); keep resources of other services out of tenant stacks (shared resources belong in a stack of their own), or add a scoping rule for the service in src/stacks/provisioning.rs",
            covered_services()
        ));
    }
    out
}

/// Services whose actions are not granted, and why. Their actions serve features the tenant
/// stacks do not use; a stack that does use one needs a rule here first.
const NOT_GRANTED: &[(&str, &str)] = &[
    (
        "ec2",
        "network lookups for a function in a VPC; tenant functions run outside any VPC",
    ),
    (
        "elasticfilesystem",
        "mount targets for a function with a file system; tenant functions have none",
    ),
    (
        "firehose",
        "log delivery to Firehose, which tenant log groups do not use",
    ),
    (
        "kinesis",
        "Kinesis streaming from a table, which tenant tables do not use",
    ),
    (
        "kms",
        "customer-managed keys; tenant resources use AWS-owned or AWS-managed keys",
    ),
    (
        "s3files",
        "S3 file systems for functions, which tenant functions do not mount",
    ),
    ("s3tables", "S3 table buckets, which tenant buckets are not"),
];

/// A table import from S3 (`ImportSourceSpecification`) is the only reason a table's handlers
/// list item reads and writes; tenant tables are never imported, and the role that builds
/// tenant stacks never reads tenant data.
const TABLE_IMPORT: &str = "item reads and writes for a table import from S3, which tenant tables do not use; the provisioning role never touches tenant data";

/// Objects in tenant buckets are tenant data: the role that builds tenant stacks never reads,
/// writes or lists them (a Lambda function's code is read from the artifacts bucket, granted
/// apart).
const TENANT_OBJECTS: &str = "S3 object and listing actions: objects in tenant buckets are tenant data, and function code is read from the artifacts bucket only";

/// Single actions that are not granted, and why.
const NOT_GRANTED_ACTIONS: &[(&str, &str)] = &[
    (
        "iam:UpdateAssumeRolePolicy",
        "a tenant role's trust never changes after it is created",
    ),
    ("dynamodb:BatchWriteItem", TABLE_IMPORT),
    ("dynamodb:DeleteItem", TABLE_IMPORT),
    ("dynamodb:DescribeImport", TABLE_IMPORT),
    ("dynamodb:GetItem", TABLE_IMPORT),
    ("dynamodb:ImportTable", TABLE_IMPORT),
    ("dynamodb:PutItem", TABLE_IMPORT),
    ("dynamodb:Query", TABLE_IMPORT),
    ("dynamodb:Scan", TABLE_IMPORT),
    ("dynamodb:UpdateItem", TABLE_IMPORT),
    (
        "iam:CreateServiceLinkedRole",
        "a service-linked role is created once per account, by an administrator, not per tenant",
    ),
    (
        "iam:DeleteRolePermissionsBoundary",
        "it would lift the tenant boundary off a tenant role",
    ),
];

/// IAM actions that create a role or change what it may do: allowed only when the role
/// carries the tenant boundary (`iam:PermissionsBoundary`).
const BOUNDED: &[&str] = &[
    "iam:AttachRolePolicy",
    "iam:CreateRole",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
];

/// A scoping rule: a service's tenant-named resources, and the resource types whose ARNs they
/// are. A type of the service that is not listed has another ARN shape (a layer, a managed
/// policy, an access point) and fails synth until a rule covers it.
struct Rule {
    service: &'static str,
    types: &'static [&'static str],
}

const RULES: &[Rule] = &[
    Rule {
        service: "dynamodb",
        types: &["AWS::DynamoDB::Table"],
    },
    Rule {
        service: "lambda",
        types: &[
            "AWS::Lambda::Function",
            "AWS::Lambda::Permission",
            "AWS::Lambda::Version",
            "AWS::Lambda::Alias",
        ],
    },
    Rule {
        service: "logs",
        types: &["AWS::Logs::LogGroup"],
    },
    Rule {
        service: "sqs",
        types: &[
            "AWS::SQS::Queue",
            "AWS::SQS::QueuePolicy",
            "AWS::SQS::QueueInlinePolicy",
        ],
    },
    Rule {
        service: "s3",
        types: &["AWS::S3::Bucket", "AWS::S3::BucketPolicy"],
    },
    Rule {
        service: "iam",
        types: &["AWS::IAM::Role", "AWS::IAM::RolePolicy", "AWS::IAM::Policy"],
    },
];

/// The tenant-named resources of a service, the only ones its actions reach.
fn scope(config: &Config, service: &str) -> Option<Vec<Expr>> {
    let tenant = config.tenant_stack_prefix();
    let s3 = |r: String| Expr::sub(format!("arn:${{AWS::Partition}}:s3:::{r}"));
    Some(match service {
        "dynamodb" => vec![constructs::arn("dynamodb", &format!("table/{tenant}*"))],
        "lambda" => vec![constructs::arn("lambda", &format!("function:{tenant}*"))],
        "logs" => vec![constructs::arn(
            "logs",
            &format!("log-group:/aws/lambda/{tenant}*"),
        )],
        "sqs" => vec![constructs::arn("sqs", &format!("{tenant}*"))],
        "s3" => vec![s3(format!("{tenant}*")), s3(format!("{tenant}*/*"))],
        "iam" => vec![tenant_roles(config)],
        _ => return None,
    })
}

/// `actions` on a service's tenant-named resources. S3 ARNs name no account, so an S3
/// statement also requires the bucket to be this account's.
fn scoped_statement(config: &Config, service: &str, actions: &[&str]) -> Statement {
    let statement = Statement::allow(actions, scope(config, service).unwrap_or_default());
    if service == "s3" {
        statement.condition("StringEquals", "s3:ResourceAccount", Expr::account_id())
    } else {
        statement
    }
}

fn tenant_roles(config: &Config) -> Expr {
    Expr::sub(format!(
        "arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role{}*",
        config.tenant_role_path()
    ))
}

/// The ARN of the tenant permissions boundary, which every tenant role carries.
pub fn boundary_arn(config: &Config) -> Expr {
    Expr::sub(format!(
        "arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:policy/{}/{}",
        config.prefix(),
        boundary_name(config)
    ))
}

fn boundary_name(config: &Config) -> String {
    format!("{}-tenant-boundary", config.prefix())
}

fn service_of(action: &str) -> &str {
    action.split_once(':').map_or(action, |(s, _)| s)
}

/// What the derivation gives the control plane: the role, the boundary, and the actions left
/// unscoped.
pub struct Provisioning {
    pub role: Role,
    pub boundary: PolicyDocument,
    pub notes: Vec<Note>,
}

/// Derives the provisioning role and the boundary from the tenant stacks. `bucket` holds the
/// tenant functions' zips, which Lambda reads with the role's credentials.
pub fn derive(
    config: &Config,
    bucket: &BucketRef,
    tenant_stacks: &[&Stack],
) -> Result<Provisioning, Vec<Error>> {
    let mut errors = Vec::new();
    // action → the types that need it
    let mut actions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // handler actions IAM does not know → the types that list them
    let mut unlisted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for stack in tenant_stacks {
        for entry in stack.template.resources.values() {
            let Some(info) = metadata::type_info(&entry.type_name) else {
                errors.push(Error::UnknownType {
                    stack: stack.id.clone(),
                    type_name: entry.type_name.clone(),
                });
                continue;
            };
            let p = &info.permissions;
            for action in p.unlisted {
                unlisted
                    .entry((*action).to_owned())
                    .or_default()
                    .insert(entry.type_name.clone());
            }
            let mut uncovered = BTreeSet::new();
            let own = own_service(&entry.type_name);
            let rule = RULES.iter().find(|r| r.service == own);
            let type_scoped = rule.is_some_and(|r| r.types.contains(&entry.type_name.as_str()));
            for action in p.create.iter().chain(p.update).chain(p.delete) {
                let service = service_of(action);
                // A type's own actions need a rule that covers the type itself (its ARN shape);
                // what it calls in other services is scoped or left out by that service's rule.
                let covered = if service == own {
                    type_scoped || not_granted_action(action).is_some() || is_unscoped(action)
                } else {
                    scope(config, service).is_some()
                        || not_granted(action).is_some()
                        || is_unscoped(action)
                };
                if covered {
                    actions
                        .entry((*action).to_owned())
                        .or_default()
                        .insert(entry.type_name.clone());
                } else {
                    uncovered.insert((*action).to_owned());
                }
            }
            if !uncovered.is_empty() {
                errors.push(Error::Uncovered {
                    stack: stack.id.clone(),
                    type_name: entry.type_name.clone(),
                    actions: uncovered.into_iter().collect(),
                });
            }
        }
    }
    let boundary = match boundary(config, tenant_stacks) {
        Ok(b) => b,
        Err(mut e) => {
            errors.append(&mut e);
            PolicyDocument::new(Vec::new())
        }
    };
    if !errors.is_empty() {
        errors.dedup();
        return Err(errors);
    }

    let mut role = Role::for_service("ProvisioningRole", "cloudformation.amazonaws.com")
        .description("Assumed by CloudFormation to create, update and delete tenant stacks");
    let mut notes = Vec::new();
    // service → actions, for the plain scoped statements
    let mut scoped: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut bounded = Vec::new();
    let mut pass_role = false;
    for (action, types) in &actions {
        let types: Vec<String> = types.iter().cloned().collect();
        if let Some(why) = not_granted(action) {
            notes.push(Note {
                action: action.clone(),
                types,
                granted: false,
                why,
            });
        } else if is_unscoped(action) {
            notes.push(Note {
                action: action.clone(),
                types,
                granted: true,
                why: "IAM authorizes it on no resource type, so only on `*`",
            });
        } else if action == "iam:PassRole" {
            pass_role = true;
        } else if BOUNDED.contains(&action.as_str()) {
            bounded.push(action.as_str());
        } else {
            scoped.entry(service_of(action)).or_default().push(action);
        }
    }
    for (action, types) in unlisted {
        notes.push(Note {
            action,
            types: types.into_iter().collect(),
            granted: false,
            why: "not in IAM's action list (the pinned cfn-lint's): no policy can name it",
        });
    }
    notes.sort_by(|a, b| a.action.cmp(&b.action));
    for (service, list) in &scoped {
        role.add_statement(scoped_statement(config, service, list));
    }
    if !bounded.is_empty() {
        role.add_statement(
            Statement::allow(&bounded, [tenant_roles(config)]).condition(
                "StringEquals",
                "iam:PermissionsBoundary",
                boundary_arn(config),
            ),
        );
    }
    if pass_role {
        // Tenant roles go to tenant functions only.
        role.add_statement(
            Statement::allow(&["iam:PassRole"], [tenant_roles(config)]).condition(
                "StringEquals",
                "iam:PassedToService",
                "lambda.amazonaws.com",
            ),
        );
    }
    for unscoped in Unscoped::ALL {
        if actions.contains_key(unscoped.action()) {
            role.allow_unscoped(unscoped);
        }
    }
    if actions
        .keys()
        .any(|a| a.starts_with("lambda:CreateFunction"))
    {
        // Lambda reads a tenant function's zip with the caller's credentials: this role's.
        bucket.grant_read(&mut role, "lambda/*");
    }
    Ok(Provisioning {
        role,
        boundary,
        notes,
    })
}

fn not_granted(action: &str) -> Option<&'static str> {
    not_granted_action(action).or_else(|| {
        NOT_GRANTED
            .iter()
            .find(|(s, _)| *s == service_of(action))
            .map(|(_, why)| *why)
    })
}

/// The single actions never granted: the listed ones, and every S3 action on objects (they
/// are tenant data) or that lists a bucket's keys.
fn not_granted_action(action: &str) -> Option<&'static str> {
    if action.starts_with("s3:") && (action.contains("Object") || action == "s3:ListBucket") {
        return Some(TENANT_OBJECTS);
    }
    NOT_GRANTED_ACTIONS
        .iter()
        .find(|(a, _)| *a == action)
        .map(|(_, why)| *why)
}

/// The service prefix of a type's own actions: `AWS::DynamoDB::Table` → `dynamodb`.
fn own_service(type_name: &str) -> String {
    type_name
        .split("::")
        .nth(1)
        .unwrap_or_default()
        .to_lowercase()
}

fn is_unscoped(action: &str) -> bool {
    Unscoped::ALL.iter().any(|u| u.action() == action)
}

/// The boundary: every action a tenant stack's role is granted, on tenant-named resources.
/// Also checks that every tenant role carries the boundary.
fn boundary(config: &Config, tenant_stacks: &[&Stack]) -> Result<PolicyDocument, Vec<Error>> {
    let mut errors = Vec::new();
    let expected = serde_json::to_value(boundary_arn(config)).unwrap_or_default();
    let mut granted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for stack in tenant_stacks {
        for (id, entry) in &stack.template.resources {
            let props = &entry.properties;
            let documents: Vec<&Json> = match entry.type_name.as_str() {
                "AWS::IAM::Role" => {
                    if props.get("PermissionsBoundary") != Some(&expected) {
                        errors.push(Error::MissingBoundary {
                            stack: stack.id.clone(),
                            role: id.clone(),
                            boundary: boundary_name(config),
                        });
                    }
                    if props["Path"].as_str() != Some(config.tenant_role_path().as_str()) {
                        errors.push(Error::RolePath {
                            stack: stack.id.clone(),
                            role: id.clone(),
                            path: config.tenant_role_path(),
                        });
                    }
                    props["Policies"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|p| &p["PolicyDocument"])
                        .collect()
                }
                "AWS::IAM::Policy" | "AWS::IAM::RolePolicy" | "AWS::IAM::ManagedPolicy" => {
                    vec![&props["PolicyDocument"]]
                }
                _ => continue,
            };
            for doc in documents {
                for st in doc["Statement"].as_array().into_iter().flatten() {
                    if st["Effect"] != "Allow" {
                        continue;
                    }
                    for action in crate::cfn::policy::rendered_actions(st, "Action") {
                        // A tenant role never changes IAM: it could lift its own boundary.
                        if service_of(action) == "iam"
                            || scope(config, service_of(action)).is_none()
                        {
                            errors.push(Error::UnscopedGrant {
                                stack: stack.id.clone(),
                                from: id.clone(),
                                action: action.to_owned(),
                            });
                        } else {
                            granted
                                .entry(service_of(action).to_owned())
                                .or_default()
                                .insert(action.to_owned());
                        }
                    }
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut statements: Vec<Statement> = granted
        .iter()
        .map(|(service, actions)| {
            let actions: Vec<&str> = actions.iter().map(String::as_str).collect();
            scoped_statement(config, service, &actions)
        })
        .collect();
    // Whatever a tenant role's own policies say, it never touches IAM: not its boundary, not
    // this policy, not another role.
    statements.push(Statement::deny(&["iam:*"], ["*".to_owned()]).sid("TenantRolesNeverChangeIam"));
    Ok(PolicyDocument::new(statements))
}

/// Adds the boundary managed policy to the control plane's template.
pub fn add_boundary<'t>(
    config: &Config,
    t: &'t mut Template,
    document: &PolicyDocument,
) -> ResourceOptions<'t, iam::ManagedPolicy> {
    t.add(
        "TenantBoundary",
        &iam::ManagedPolicy {
            managed_policy_name: Some(boundary_name(config).into()),
            path: Some(format!("/{}/", config.prefix()).into()),
            description: Some(
                "The permissions boundary of every tenant role: tenant-named resources only".into(),
            ),
            ..iam::ManagedPolicy::new(document.clone())
        },
    )
}

#[cfg(test)]
mod tests;
