//! Deleting a stack with progress, and saying what it leaves behind on purpose: resources with
//! `DeletionPolicy: Retain` (the tenants table, log groups, buckets), with how to remove them.

use std::time::Instant;

use serde_json::Value;

use super::progress::{Operation, Progress};
use super::{Error, Stacks, sdk_message};

/// A resource the stack keeps when it is deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retained {
    pub logical_id: String,
    pub resource_type: String,
    pub physical_id: String,
}

impl Retained {
    /// The AWS CLI command that removes it, once it is no longer wanted.
    pub fn removal(&self) -> String {
        let id = &self.physical_id;
        match self.resource_type.as_str() {
            "AWS::DynamoDB::Table" => format!("aws dynamodb delete-table --table-name {id}"),
            "AWS::Logs::LogGroup" => format!("aws logs delete-log-group --log-group-name {id}"),
            "AWS::S3::Bucket" => format!(
                "aws s3api delete-bucket --bucket {id} (after deleting every object version)"
            ),
            other => format!("delete the {other} {id} in the console or with the AWS CLI"),
        }
    }
}

impl Stacks {
    /// The resources of the deployed stack `name` that its template retains on delete.
    pub async fn retained(&self, name: &str) -> Result<Vec<Retained>, Error> {
        let err = |operation: &'static str| {
            let stack = name.to_owned();
            move |message: String| Error::CloudFormation {
                operation,
                stack,
                message,
            }
        };
        let body = self
            .client()
            .get_template()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| err("GetTemplate")(sdk_message(&e)))?
            .template_body
            .unwrap_or_default();
        let template: Value = serde_json::from_str(&body)
            .or_else(|_| serde_saphyr::from_str(&body))
            .unwrap_or(Value::Null);
        let resources = self
            .client()
            .describe_stack_resources()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| err("DescribeStackResources")(sdk_message(&e)))?;
        let mut out = Vec::new();
        if let Some(map) = template["Resources"].as_object() {
            for (id, r) in map {
                if !matches!(
                    r["DeletionPolicy"].as_str(),
                    Some("Retain" | "RetainExceptOnCreate")
                ) {
                    continue;
                }
                let physical = resources
                    .stack_resources()
                    .iter()
                    .find(|s| s.logical_resource_id() == Some(id.as_str()))
                    .and_then(|s| s.physical_resource_id())
                    .unwrap_or("(not created)");
                out.push(Retained {
                    logical_id: id.clone(),
                    resource_type: r["Type"].as_str().unwrap_or("?").to_owned(),
                    physical_id: physical.to_owned(),
                });
            }
        }
        Ok(out)
    }

    /// Deletes the stack and follows its events until it is gone. Fails with the resources
    /// that could not be deleted.
    pub async fn destroy(
        &self,
        name: &str,
        deadline: Instant,
        on_event: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), Error> {
        let Some(stack) = self.describe(name).await? else {
            return Ok(());
        };
        // Followed by id: a deleted stack is only found by its id.
        let id = stack.stack_id().unwrap_or(name).to_owned();
        let total = self
            .client()
            .describe_stack_resources()
            .stack_name(&id)
            .send()
            .await
            .map(|r| r.stack_resources().len())
            .unwrap_or(0);
        let seen = self.event_ids(&id).await;
        self.client()
            .delete_stack()
            .stack_name(&id)
            .send()
            .await
            .map_err(|e| Error::CloudFormation {
                operation: "DeleteStack",
                stack: name.to_owned(),
                message: sdk_message(&e),
            })?;
        let mut progress = Progress::new(Operation::Delete, total);
        let settled = self
            .follow(&id, &seen, &mut progress, deadline, on_event)
            .await;
        match settled {
            Err(Error::StackFailed { status, .. }) if status == "DELETE_COMPLETE" => Ok(()),
            Err(e) => Err(e),
            Ok(s) if s.stack_status().map(|s| s.as_str()) == Some("DELETE_COMPLETE") => Ok(()),
            Ok(s) => Err(Error::StackFailed {
                stack: name.to_owned(),
                status: s
                    .stack_status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                reason: Some(
                    progress
                        .failures()
                        .iter()
                        .map(|f| f.to_string())
                        .collect::<Vec<_>>()
                        .join("; "),
                )
                .filter(|r| !r.is_empty())
                .or_else(|| s.stack_status_reason().map(str::to_owned)),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_retained_kind_says_how_to_remove_it() {
        let r = |t: &str| Retained {
            logical_id: "X".into(),
            resource_type: t.into(),
            physical_id: "name".into(),
        };
        assert_eq!(
            r("AWS::DynamoDB::Table").removal(),
            "aws dynamodb delete-table --table-name name"
        );
        assert_eq!(
            r("AWS::Logs::LogGroup").removal(),
            "aws logs delete-log-group --log-group-name name"
        );
        assert!(
            r("AWS::S3::Bucket")
                .removal()
                .starts_with("aws s3api delete-bucket --bucket name")
        );
    }
}
