//! An SDK interceptor that records, for every call the control plane makes, the IAM actions
//! AWS authorizes it with.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

#[derive(Clone, Debug, Default)]
pub struct Recorder(Arc<Mutex<Vec<String>>>);

impl Recorder {
    /// The actions recorded since the last call, and clears them.
    pub fn take(&self) -> Vec<String> {
        let mut v = std::mem::take(&mut *self.0.lock().unwrap());
        v.sort();
        v.dedup();
        v
    }
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "Recorder"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(meta) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let service = match meta.service() {
            "DynamoDB" => "dynamodb",
            "CloudFormation" => "cloudformation",
            "S3" => "s3",
            "EventBridge" => "events",
            "Cognito Identity Provider" => "cognito-idp",
            other => other,
        };
        let mut actions = Vec::new();
        let input = context.input();
        if let Some(t) = input.downcast_ref::<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput>() {
            // A transaction is authorized item by item.
            for item in t.transact_items() {
                if item.put().is_some() {
                    actions.push("dynamodb:PutItem");
                }
                if item.update().is_some() {
                    actions.push("dynamodb:UpdateItem");
                }
                if item.delete().is_some() {
                    actions.push("dynamodb:DeleteItem");
                }
                if item.condition_check().is_some() {
                    actions.push("dynamodb:ConditionCheckItem");
                }
            }
        } else {
            if let Some(c) = input.downcast_ref::<aws_sdk_cloudformation::operation::create_stack::CreateStackInput>()
                && c.role_arn().is_some()
            {
                // Handing CloudFormation a role is passing it.
                actions.push("iam:PassRole");
            }
            let mut v = self.0.lock().unwrap();
            v.push(format!("{service}:{}", meta.name()));
        }
        self.0
            .lock()
            .unwrap()
            .extend(actions.into_iter().map(str::to_owned));
        Ok(())
    }
}
