//! Moving a tenant to another deployment type (a tier move): what the move would add, remove
//! and replace in the tenant's stack, and whether it would lose data.
//!
//! The control plane has no template model (DESIGN.md section 4), so synth writes what a plan
//! needs into the catalog: for each resource of a type's template, its type, whether it holds
//! tenant data, and a fingerprint of the create-only properties it sets
//! ([`ResourceSummary`]), with the parameters those properties refer to. Replacement comes from
//! the registry schemas' create-only properties, as `silos diff`'s does.
//!
//! The plan compares the published entries of the tenant's type and the target type, so a
//! tenant moves only from its type's published version: it is then the exact diff.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The resource types that hold a tenant's data: removing or replacing one loses it (or, if
/// its DeletionPolicy keeps it, detaches it from the tenant's stack). A tier move that would
/// do either is refused unless the caller allows data loss.
pub const DATA_BEARING: &[&str] = &[
    "AWS::Cognito::UserPool",
    "AWS::DocDB::DBCluster",
    "AWS::DynamoDB::GlobalTable",
    "AWS::DynamoDB::Table",
    "AWS::EFS::FileSystem",
    "AWS::ElastiCache::ReplicationGroup",
    "AWS::Kinesis::Stream",
    "AWS::KMS::Key",
    "AWS::OpenSearchService::Domain",
    "AWS::RDS::DBCluster",
    "AWS::RDS::DBInstance",
    "AWS::S3::Bucket",
    "AWS::SecretsManager::Secret",
    "AWS::SQS::Queue",
    "AWS::Timestream::Table",
];

pub fn is_data_bearing(resource_type: &str) -> bool {
    DATA_BEARING.contains(&resource_type)
}

/// What a plan reads of one resource of a deployment type's template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSummary {
    #[serde(rename = "type")]
    pub resource_type: String,
    /// Its DeletionPolicy keeps it when it leaves the stack.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retained: bool,
    /// The create-only properties it sets: a change to one replaces the resource.
    #[serde(default, skip_serializing_if = "Fingerprint::is_empty")]
    pub create_only: Fingerprint,
    /// The conditionally create-only ones: a change may replace it.
    #[serde(default, skip_serializing_if = "Fingerprint::is_empty")]
    pub conditional: Fingerprint,
}

/// Properties' values as the template writes them, hashed, and the template parameters they
/// refer to (with the template's default, if it has one): the same text with another value
/// of such a parameter is a change too. Empty when the resource sets none of them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fingerprint {
    pub sha256: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, Option<String>>,
}

impl Fingerprint {
    pub fn is_empty(&self) -> bool {
        self.sha256.is_empty() && self.parameters.is_empty()
    }
}

/// What a move does to one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    Add,
    Remove,
    Replace,
    /// A conditionally create-only property changes: CloudFormation decides from the values.
    MayReplace,
}

/// One resource the move changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedChange {
    pub logical_id: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub action: Action,
    /// It holds tenant data and would be removed or replaced.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub loses_data: bool,
    /// A removed resource that its DeletionPolicy keeps, outside the stack.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retained: bool,
}

/// `POST /move-plan`'s answer, and what `POST /update` checks before a move.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MovePlan {
    pub tenant_id: String,
    pub from: String,
    pub to: String,
    /// The target type's published tenant version.
    pub version: Option<String>,
    /// Sorted by logical id. Resources that stay as they are, or change in place, are not
    /// listed.
    pub changes: Vec<PlannedChange>,
}

impl MovePlan {
    /// The data-bearing resources the move would remove or replace.
    pub fn data_loss(&self) -> Vec<&PlannedChange> {
        self.changes.iter().filter(|c| c.loses_data).collect()
    }

    /// `Files (AWS::S3::Bucket) removed, Table (AWS::DynamoDB::Table) replaced`.
    pub fn describe_data_loss(&self) -> String {
        self.data_loss()
            .iter()
            .map(|c| {
                let what = match c.action {
                    Action::Remove if c.retained => "removed (kept, detached from the stack)",
                    Action::Remove => "removed",
                    Action::Replace => "replaced",
                    Action::MayReplace => "possibly replaced",
                    Action::Add => "added",
                };
                format!("{} ({}) {what}", c.logical_id, c.resource_type)
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A side of a move: a published deployment type's resource summaries (its catalog entry's
/// `resources`) and the parameter values its stack gets for this tenant (the blueprint's,
/// rendered, and the system parameters').
pub struct Side<'a> {
    pub resources: &'a BTreeMap<String, ResourceSummary>,
    pub parameters: &'a BTreeMap<String, String>,
}

impl Side<'_> {
    /// What `fingerprint`'s properties come to on this side: their text, and the values of
    /// the parameters they refer to.
    fn resolved(&self, fingerprint: &Fingerprint) -> (String, Vec<(String, Option<String>)>) {
        let values = fingerprint
            .parameters
            .iter()
            .map(|(name, default)| {
                let value = self.parameters.get(name).cloned().or(default.clone());
                (name.clone(), value)
            })
            .collect();
        (fingerprint.sha256.clone(), values)
    }
}

/// The plan of moving a tenant from `from` to `to`, whose published version is `version`.
pub fn plan(
    tenant_id: &str,
    from: (&str, Side<'_>),
    to: (&str, Side<'_>),
    version: Option<String>,
) -> MovePlan {
    let (from_name, old) = from;
    let (to_name, new) = to;
    let mut changes = Vec::new();
    let before = old.resources;
    let after = new.resources;
    for (id, r) in after {
        let change = |action: Action| PlannedChange {
            logical_id: id.clone(),
            resource_type: r.resource_type.clone(),
            action,
            loses_data: action != Action::Add && is_data_bearing(&r.resource_type),
            retained: false,
        };
        match before.get(id) {
            None => changes.push(change(Action::Add)),
            Some(o) if o.resource_type != r.resource_type => {
                // A logical id that now names another type: CloudFormation replaces it. The
                // old type is named, as what held the data.
                changes.push(PlannedChange {
                    resource_type: o.resource_type.clone(),
                    loses_data: is_data_bearing(&o.resource_type)
                        || is_data_bearing(&r.resource_type),
                    ..change(Action::Replace)
                })
            }
            Some(o) if old.resolved(&o.create_only) != new.resolved(&r.create_only) => {
                changes.push(change(Action::Replace))
            }
            Some(o) if old.resolved(&o.conditional) != new.resolved(&r.conditional) => {
                changes.push(change(Action::MayReplace))
            }
            Some(_) => {}
        }
    }
    for (id, o) in before {
        if !after.contains_key(id) {
            changes.push(PlannedChange {
                logical_id: id.clone(),
                resource_type: o.resource_type.clone(),
                action: Action::Remove,
                loses_data: is_data_bearing(&o.resource_type),
                retained: o.retained,
            });
        }
    }
    changes.sort_by(|a, b| a.logical_id.cmp(&b.logical_id));
    MovePlan {
        tenant_id: tenant_id.to_owned(),
        from: from_name.to_owned(),
        to: to_name.to_owned(),
        version,
        changes,
    }
}

#[cfg(test)]
mod tests;
