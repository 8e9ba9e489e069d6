use crate::cfn::dynamodb::{self, table};
use crate::cfn::{Expr, RemovalPolicy, Template, Value};

use super::{Role, Skips, Unscoped};

/// A DynamoDB table: on-demand billing, encrypted, point-in-time recovery on, retained by default.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    id: String,
    props: dynamodb::Table,
    removal: RemovalPolicy,
    skips: Skips,
}

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
            props: dynamodb::Table {
                table_name: None,
                key_schema: vec![table::KeySchema {
                    attribute_name: partition_key.to_owned(),
                    key_type: table::KeyType::Hash,
                }],
                attribute_definitions: vec![table::AttributeDefinition {
                    attribute_name: partition_key.to_owned(),
                    attribute_type: table::AttributeType::S,
                }],
                billing_mode: table::BillingMode::PayPerRequest,
                stream_specification: None,
                point_in_time_recovery_specification: table::PointInTimeRecoverySpecification {
                    point_in_time_recovery_enabled: true.into(),
                },
                sse_specification: table::SseSpecification {
                    sse_enabled: true.into(),
                    sse_type: Some(table::SseType::Kms),
                    kms_master_key_id: None,
                },
                global_secondary_indexes: Vec::new(),
                deletion_protection_enabled: None,
                time_to_live_specification: None,
                tags: Vec::new(),
            },
            removal: RemovalPolicy::Retain,
            skips,
        }
    }

    fn define(&mut self, name: &str) {
        if !self
            .props
            .attribute_definitions
            .iter()
            .any(|a| a.attribute_name == name)
        {
            self.props
                .attribute_definitions
                .push(table::AttributeDefinition {
                    attribute_name: name.to_owned(),
                    attribute_type: table::AttributeType::S,
                });
        }
    }

    pub fn sort_key(mut self, name: &str) -> Table {
        self.define(name);
        self.props.key_schema.push(table::KeySchema {
            attribute_name: name.to_owned(),
            key_type: table::KeyType::Range,
        });
        self
    }

    pub fn stream(mut self, view: table::StreamViewType) -> Table {
        self.props.stream_specification = Some(table::StreamSpecification {
            stream_view_type: view,
        });
        self
    }

    /// Items whose number attribute `attribute` (epoch seconds) has passed are deleted by
    /// DynamoDB, within days; readers must still check it.
    pub fn time_to_live(mut self, attribute: &str) -> Table {
        self.props.time_to_live_specification = Some(table::TimeToLiveSpecification {
            attribute_name: attribute.to_owned().into(),
            enabled: true.into(),
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

    pub fn arn(&self) -> Expr {
        Expr::get_att(&self.id, "Arn")
    }

    pub fn name(&self) -> Expr {
        Expr::r#ref(&self.id)
    }

    pub fn stream_arn(&self) -> Expr {
        Expr::get_att(&self.id, "StreamArn")
    }

    /// Allows exactly `actions` on this table and, if it has any, its indexes.
    pub fn grant(&self, role: &mut Role, actions: &[&str]) {
        let mut resources = vec![self.arn()];
        if !self.props.global_secondary_indexes.is_empty() {
            resources.push(Expr::sub(format!("${{{}.Arn}}/index/*", self.id)));
        }
        role.allow(actions, resources);
    }

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
        let options = t.add(&self.id, &self.props).removal(self.removal);
        self.skips.apply(options);
    }
}
