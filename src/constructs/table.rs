use crate::cfn::dynamodb::{self, table};
use crate::cfn::{Expr, Handle, Json, RemovalPolicy, Template, Value};

use super::{Role, Skips, Unscoped, json};

/// A DynamoDB table: on-demand billing, encrypted, point-in-time recovery on, retained by default.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    id: String,
    /// The key schema, rendered into `props.key_schema`: the schema types that property as
    /// a union (a list of keys, or an object), so the model holds it as JSON.
    key_schema: Vec<table::KeySchema>,
    props: dynamodb::Table,
    removal: RemovalPolicy,
    skips: Skips,
}

/// `KeyType`, which the table's schema leaves a plain string.
const HASH: &str = "HASH";
const RANGE: &str = "RANGE";

impl Table {
    /// A table keyed by the string attribute `partition_key`.
    pub fn new(id: &str, partition_key: &str) -> Table {
        let mut skips = Skips::default();
        skips.add(
            "CKV_AWS_119",
            "Encrypted at rest with the AWS-managed KMS key (SSEType KMS); a customer-managed key is an opt-in that adds a key policy to run",
        );
        Table {
            id: id.to_owned(),
            key_schema: vec![table::KeySchema::new(partition_key, HASH)],
            props: dynamodb::Table {
                attribute_definitions: Some(vec![table::AttributeDefinition::new(
                    partition_key,
                    table::AttributeType::S,
                )]),
                billing_mode: Some(table::BillingMode::PayPerRequest.into()),
                point_in_time_recovery_specification: Some(
                    table::PointInTimeRecoverySpecification {
                        point_in_time_recovery_enabled: Some(true.into()),
                        ..table::PointInTimeRecoverySpecification::new()
                    },
                ),
                sse_specification: Some(table::SseSpecification {
                    sse_type: Some(table::SseType::Kms.into()),
                    ..table::SseSpecification::new(true)
                }),
                // `add_to` renders `key_schema` here.
                ..dynamodb::Table::new(Json::Null)
            },
            removal: RemovalPolicy::Retain,
            skips,
        }
    }

    /// Declares key attribute `name` with type `ty`, once: the first declaration holds.
    fn define(&mut self, name: &str, ty: table::AttributeType) {
        let definitions = self
            .props
            .attribute_definitions
            .get_or_insert_with(Vec::new);
        let name_value: Value<String> = name.into();
        if !definitions.iter().any(|a| a.attribute_name == name_value) {
            definitions.push(table::AttributeDefinition::new(name, ty));
        }
    }

    pub fn sort_key(mut self, name: &str) -> Table {
        self.define(name, table::AttributeType::S);
        self.key_schema.push(table::KeySchema::new(name, RANGE));
        self
    }

    /// A global secondary index `name` on `partition` and, if given, `sort` (each an attribute
    /// name and its type), projecting every attribute. Items that lack a key attribute of the
    /// index are not in it. Grants on the table do not reach it: see
    /// [`grant_index`](Self::grant_index).
    pub fn global_index(
        mut self,
        name: &str,
        partition: (&str, table::AttributeType),
        sort: Option<(&str, table::AttributeType)>,
    ) -> Table {
        let mut key_schema = Vec::new();
        for (key, key_type) in [(Some(partition), HASH), (sort, RANGE)] {
            if let Some((attribute, ty)) = key {
                self.define(attribute, ty);
                key_schema.push(table::GlobalSecondaryIndexKeySchema::new(
                    attribute, key_type,
                ));
            }
        }
        let projection = table::Projection {
            projection_type: Some(table::ProjectionType::All.into()),
            ..table::Projection::new()
        };
        self.props
            .global_secondary_indexes
            .get_or_insert_with(Vec::new)
            .push(table::GlobalSecondaryIndex::new(
                name, key_schema, projection,
            ));
        self
    }

    pub fn stream(mut self, view: table::StreamViewType) -> Table {
        self.props.stream_specification = Some(table::StreamSpecification::new(view));
        self
    }

    /// Items whose number attribute `attribute` (epoch seconds) has passed are deleted by
    /// DynamoDB, within days; readers must still check it.
    pub fn time_to_live(mut self, attribute: &str) -> Table {
        self.props.time_to_live_specification = Some(table::TimeToLiveSpecification {
            attribute_name: Some(attribute.into()),
            ..table::TimeToLiveSpecification::new(true)
        });
        self
    }

    pub fn table_name(mut self, name: impl Into<Value<String>>) -> Table {
        self.props.table_name = Some(name.into());
        self
    }

    pub fn removal(mut self, policy: RemovalPolicy) -> Table {
        self.removal = policy;
        self
    }

    pub fn logical_id(&self) -> &str {
        &self.id
    }

    fn handle(&self) -> Handle<dynamodb::Table> {
        Handle::new(&self.id)
    }

    pub fn arn(&self) -> Expr {
        self.handle().attr_arn()
    }

    pub fn name(&self) -> Expr {
        self.handle().r#ref()
    }

    pub fn stream_arn(&self) -> Expr {
        self.handle().attr_stream_arn()
    }

    /// The ARN of this table's index `name`.
    pub fn index_arn(&self, name: &str) -> Expr {
        Expr::sub(format!("${{{}.Arn}}/index/{name}", self.id))
    }

    fn has_indexes(&self) -> bool {
        self.props
            .global_secondary_indexes
            .as_ref()
            .is_some_and(|indexes| !indexes.is_empty())
    }

    /// Allows exactly `actions` on this table, and not on its indexes.
    pub fn grant(&self, role: &mut Role, actions: &[&str]) {
        role.allow(actions, [self.arn()]);
    }

    /// Allows exactly `actions` (Query, Scan: the only ones an index takes) on this table's
    /// index `index`, and nothing on the table.
    pub fn grant_index(&self, role: &mut Role, index: &str, actions: &[&str]) {
        role.allow(actions, [self.index_arn(index)]);
    }

    /// Every read of the table, and Query and Scan on all its indexes if it has any.
    pub fn grant_read_data(&self, role: &mut Role) {
        self.grant(
            role,
            &[
                "dynamodb:BatchGetItem",
                "dynamodb:GetItem",
                "dynamodb:Query",
                "dynamodb:Scan",
            ],
        );
        if self.has_indexes() {
            role.allow(
                &["dynamodb:Query", "dynamodb:Scan"],
                [Expr::sub(format!("${{{}.Arn}}/index/*", self.id))],
            );
        }
    }

    pub fn grant_write_data(&self, role: &mut Role) {
        self.grant(
            role,
            &[
                "dynamodb:BatchWriteItem",
                "dynamodb:DeleteItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
            ],
        );
    }

    pub fn grant_read_write_data(&self, role: &mut Role) {
        self.grant_read_data(role);
        self.grant_write_data(role);
    }

    /// What a stream consumer needs: read this table's stream, and nothing of the table.
    /// ListStreams has no resource type, so it is allowed on `*`.
    pub fn grant_stream_read(&self, role: &mut Role) {
        role.allow(
            &[
                "dynamodb:DescribeStream",
                "dynamodb:GetRecords",
                "dynamodb:GetShardIterator",
            ],
            [self.stream_arn()],
        );
        role.allow_unscoped(Unscoped::DynamoDbListStreams);
    }

    pub fn add_to(&self, t: &mut Template) {
        let props = dynamodb::Table {
            key_schema: json(&self.key_schema),
            ..self.props.clone()
        };
        let options = t.add(&self.id, &props).removal(self.removal);
        self.skips.apply(options);
    }
}
