//! What the registry schemas say of every resource type, for every type of the pinned set and
//! whatever features are enabled: GetAtt attributes, the primary identifier, the properties
//! whose change replaces the resource, and the permissions CloudFormation's handlers need.

/// One type's entry. Property paths are the schema's, without `/properties/`: `KeySchema`,
/// `Tags/*/Key`.
#[derive(Debug, PartialEq, Eq)]
pub struct TypeInfo {
    pub type_name: &'static str,
    /// What `Fn::GetAtt` may read (`Arn`, `Endpoint.Address`).
    pub attributes: &'static [&'static str],
    pub primary_identifier: &'static [&'static str],
    /// A change to one of these replaces the resource.
    pub create_only: &'static [&'static str],
    /// A change to one of these may replace the resource, depending on the other properties.
    pub conditional_create_only: &'static [&'static str],
    /// Accepted but never returned by CloudFormation (passwords, inline code).
    pub write_only: &'static [&'static str],
    pub permissions: Permissions,
    /// The length and character limits of top-level string properties, sorted by property.
    pub limits: &'static [Limit],
}

/// A string property's limits, from its schema (`maxLength`, `pattern`) or, where the schema
/// states none, from the service's documentation (`codegen/overrides.json`).
#[derive(Debug, PartialEq, Eq)]
pub struct Limit {
    pub property: &'static str,
    pub max_length: Option<u32>,
    /// An ECMAScript regular expression, as the schema writes it.
    pub pattern: Option<&'static str>,
}

/// The IAM actions CloudFormation calls to create, update, delete and read a resource of the
/// type.
#[derive(Debug, PartialEq, Eq)]
pub struct Permissions {
    pub create: &'static [&'static str],
    pub update: &'static [&'static str],
    pub delete: &'static [&'static str],
    /// The read handler's. Drift detection reads each resource with the credentials of
    /// whoever calls DetectStackDrift, so the caller needs these.
    pub read: &'static [&'static str],
    /// Handler permissions that IAM's action list (as the pinned cfn-lint knows it) does not
    /// have, such as `s3:REST.PUT.OBJECT`: no policy can name them, so none is granted.
    pub unlisted: &'static [&'static str],
}

/// Whether changing a property replaces the resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replacement {
    Never,
    /// Depends on the values (the schema's conditional create-only properties).
    Conditional,
    Always,
}

/// Every type of the pinned schemas, sorted by name.
pub fn types() -> &'static [TypeInfo] {
    crate::generated::metadata::TYPES
}

/// The entry of a type, or `None` for a type the pinned schemas do not have (a private or
/// third-party registry type, or one newer than the schemas).
pub fn type_info(type_name: &str) -> Option<&'static TypeInfo> {
    let types = types();
    types
        .binary_search_by(|t| t.type_name.cmp(type_name))
        .ok()
        .map(|i| &types[i])
}

impl TypeInfo {
    /// The limits of the top-level string property `property`, if it has any.
    pub fn limit(&self, property: &str) -> Option<&'static Limit> {
        self.limits
            .binary_search_by(|l| l.property.cmp(property))
            .ok()
            .map(|i| &self.limits[i])
    }

    /// Whether a change at `path` (`KeySchema`, `Tags/0/Key`, list indexes as numbers)
    /// replaces the resource. A change inside a create-only property replaces it; so does a
    /// change to a property that holds a create-only path.
    pub fn replacement(&self, path: &str) -> Replacement {
        if self.create_only.iter().any(|p| overlaps(p, path)) {
            Replacement::Always
        } else if self
            .conditional_create_only
            .iter()
            .any(|p| overlaps(p, path))
        {
            Replacement::Conditional
        } else {
            Replacement::Never
        }
    }
}

/// Whether one path is a prefix of the other, `*` in the schema's path matching any index.
fn overlaps(schema_path: &str, path: &str) -> bool {
    schema_path
        .split('/')
        .zip(path.split('/'))
        .all(|(s, p)| s == p || s == "*")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_holds_every_pinned_type_sorted() {
        let types = types();
        assert!(types.len() > 1800, "{} types", types.len());
        assert!(types.windows(2).all(|w| w[0].type_name < w[1].type_name));
        let queue = type_info("AWS::SQS::Queue").expect("AWS::SQS::Queue");
        assert!(queue.attributes.contains(&"Arn"));
        assert!(queue.permissions.create.contains(&"sqs:CreateQueue"));
        assert!(type_info("MyOrg::Billing::Meter").is_none());
    }

    #[test]
    fn replacement_follows_create_only_paths() {
        let table = type_info("AWS::DynamoDB::Table").expect("table");
        assert_eq!(table.replacement("TableName"), Replacement::Always);
        assert_eq!(table.replacement("KeySchema"), Replacement::Conditional);
        assert_eq!(
            table.replacement("KeySchema/0/AttributeName"),
            Replacement::Conditional
        );
        assert_eq!(
            table.replacement("LocalSecondaryIndexes"),
            Replacement::Never
        );
        assert_eq!(table.replacement("BillingMode"), Replacement::Never);
    }

    #[test]
    fn nested_paths_match_any_index() {
        let info = TypeInfo {
            type_name: "X::Y::Z",
            attributes: &[],
            primary_identifier: &[],
            create_only: &["Config/*/Name"],
            conditional_create_only: &[],
            write_only: &[],
            permissions: Permissions {
                create: &[],
                update: &[],
                delete: &[],
                read: &[],
                unlisted: &[],
            },
            limits: &[],
        };
        assert_eq!(info.replacement("Config/3/Name"), Replacement::Always);
        // A whole-list change holds a create-only path: it replaces.
        assert_eq!(info.replacement("Config"), Replacement::Always);
        assert_eq!(info.replacement("Config/3/Size"), Replacement::Never);
    }
}
