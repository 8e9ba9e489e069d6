//! One stack's CloudFormation calls: describe, create, wait and delete, with a timeout on every
//! wait (an emulator can leave a stack in progress for ever). Deciding what to do with a stack
//! is [`super::changeset`]'s plan and execute, the one path every stack takes.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::{Parameter, Stack, StackStatus, Tag};

use super::{Error, sdk_message};
use crate::aws::{Backoff, PollError, poll_until};

/// Sets what every stack call sends from a spec: parameters, tags, the IAM capabilities, and
/// the template by URL or by body.
macro_rules! with_spec {
    ($call:expr, $spec:expr) => {{
        let call = $call
            .set_parameters(Some($crate::deploy::stack::parameters($spec)))
            .set_tags(Some($crate::deploy::stack::tags($spec)))
            .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityIam)
            .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityNamedIam);
        match &$spec.url {
            Some(url) => call.template_url(url),
            None => call.template_body($crate::deploy::stack::compact(&$spec.body)),
        }
    }};
}
pub(crate) use with_spec;

/// A template as a TemplateBody carries it: compact JSON, which is what CloudFormation's
/// 51,200-byte limit is checked against at synth (`cfn::check_size`). A body that is not a
/// template (JSON or YAML) goes as it is, for CloudFormation to refuse with its reason.
pub(crate) fn compact(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .or_else(|| serde_saphyr::from_str::<serde_json::Value>(body).ok())
        .map(|v| v.to_string())
        .unwrap_or_else(|| body.to_owned())
}

/// A stack to deploy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackSpec {
    pub name: String,
    /// The template text, compared with the deployed one.
    pub body: String,
    /// Where the template is published, for delivery by TemplateURL; None sends the body.
    pub url: Option<String>,
    pub parameters: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

/// What deploying a stack did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    /// A dead stack (ROLLBACK_COMPLETE) was deleted and created again.
    Recreated,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "no changes",
            Outcome::Recreated => "deleted (ROLLBACK_COMPLETE) and created again",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployed {
    pub name: String,
    pub stack_id: String,
    pub outcome: Outcome,
    pub outputs: BTreeMap<String, String>,
}

impl Deployed {
    pub fn output(&self, key: &str) -> Result<&str, Error> {
        self.outputs
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| Error::MissingOutput {
                stack: self.name.clone(),
                output: key.to_owned(),
            })
    }
}

/// CloudFormation stack operations with waits.
#[derive(Clone, Debug)]
pub struct Stacks {
    cfn: aws_sdk_cloudformation::Client,
    /// The first poll interval; it doubles up to five seconds.
    pub poll: Duration,
}

/// The lock on a wait's last seen state (a probe that panicked left nothing half-written).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The last status a wait saw, as the timeout reports it.
fn status_of(last: &Mutex<Option<StackStatus>>) -> String {
    lock(last)
        .as_ref()
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default()
}

/// A wait's error: the probe's own, or a timeout on `stack` with its last `status`.
pub(crate) fn timed_out(e: PollError<Error>, stack: &str, status: String) -> Error {
    match e {
        PollError::Probe(e) => e,
        PollError::Timeout { waited } => Error::Timeout {
            stack: stack.to_owned(),
            status,
            seconds: waited.as_secs(),
        },
    }
}

fn in_progress(status: &StackStatus) -> bool {
    status.as_str().ends_with("_IN_PROGRESS")
}

impl Stacks {
    pub fn client(&self) -> &aws_sdk_cloudformation::Client {
        &self.cfn
    }

    pub fn new(cfn: aws_sdk_cloudformation::Client) -> Stacks {
        Stacks {
            cfn,
            poll: Duration::from_millis(200),
        }
    }

    pub(crate) fn error<E, R>(
        operation: &'static str,
        stack: &str,
    ) -> impl FnOnce(aws_sdk_cloudformation::error::SdkError<E, R>) -> Error
    where
        E: std::error::Error + aws_sdk_cloudformation::error::ProvideErrorMetadata + 'static,
        R: std::fmt::Debug + 'static,
    {
        let stack = stack.to_owned();
        move |e| Error::CloudFormation {
            operation,
            stack,
            message: sdk_message(&e),
        }
    }

    /// The live stack named (or with the id) `name`, if there is one.
    pub async fn describe(&self, name: &str) -> Result<Option<Stack>, Error> {
        match self.cfn.describe_stacks().stack_name(name).send().await {
            Ok(out) => Ok(out.stacks.unwrap_or_default().into_iter().next()),
            Err(e) if crate::aws::is_missing_stack(&e) => Ok(None),
            Err(e) => Err(Stacks::error("DescribeStacks", name)(e)),
        }
    }

    /// The outputs of the deployed stack `name`, or None when there is no such stack.
    pub async fn outputs(&self, name: &str) -> Result<Option<BTreeMap<String, String>>, Error> {
        Ok(self.describe(name).await?.as_ref().map(outputs))
    }

    pub(crate) async fn create(&self, spec: &StackSpec) -> Result<(), Error> {
        let call = self.cfn.create_stack().stack_name(&spec.name);
        let call = with_spec!(call, spec);
        call.send()
            .await
            .map_err(Stacks::error("CreateStack", &spec.name))?;
        Ok(())
    }

    /// How the waits poll: from `poll`, doubling up to five seconds.
    pub(crate) fn backoff(&self) -> Backoff {
        Backoff::doubling(self.poll, Duration::from_secs(5))
    }

    /// Polls until the stack is no longer in progress, or `deadline` passes.
    pub async fn wait(&self, name: &str, deadline: Instant) -> Result<Stack, Error> {
        let last = &Mutex::new(None::<StackStatus>);
        poll_until(&self.backoff(), deadline, || async move {
            let stack = self
                .describe(name)
                .await?
                .ok_or_else(|| Error::StackFailed {
                    stack: name.to_owned(),
                    status: "DELETE_COMPLETE".to_owned(),
                    reason: Some("the stack disappeared while waiting for it".to_owned()),
                })?;
            let status = stack.stack_status().cloned();
            if !status.as_ref().is_some_and(in_progress) {
                return Ok(Some(stack));
            }
            *lock(last) = status;
            Ok(None)
        })
        .await
        .map_err(|e| timed_out(e, name, status_of(last)))
    }

    /// Deletes the stack and waits until it is gone. A missing stack is already gone.
    pub async fn delete_and_wait(&self, name: &str, deadline: Instant) -> Result<(), Error> {
        self.cfn
            .delete_stack()
            .stack_name(name)
            .send()
            .await
            .map_err(Stacks::error("DeleteStack", name))?;
        let last = &Mutex::new(None::<StackStatus>);
        poll_until(&self.backoff(), deadline, || async move {
            let status = self.describe(name).await?.and_then(|s| s.stack_status);
            match status {
                None | Some(StackStatus::DeleteComplete) => Ok(Some(())),
                Some(StackStatus::DeleteFailed) => Err(Error::StackFailed {
                    stack: name.to_owned(),
                    status: "DELETE_FAILED".to_owned(),
                    reason: None,
                }),
                s => {
                    *lock(last) = s;
                    Ok(None)
                }
            }
        })
        .await
        .map_err(|e| timed_out(e, name, status_of(last)))
    }
}

/// The parameter values a stack was deployed with.
pub(crate) fn deployed_parameters(stack: &Stack) -> BTreeMap<String, String> {
    stack
        .parameters()
        .iter()
        .map(|p| {
            (
                p.parameter_key().unwrap_or_default().to_owned(),
                p.parameter_value().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

pub(crate) fn deployed_tags(stack: &Stack) -> BTreeMap<String, String> {
    stack
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_owned(),
                t.value().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

pub(crate) fn parameters(spec: &StackSpec) -> Vec<Parameter> {
    parameter_list(&spec.parameters)
}

/// CloudFormation parameters from name → value.
pub fn parameter_list(values: &BTreeMap<String, String>) -> Vec<Parameter> {
    values
        .iter()
        .map(|(k, v)| {
            Parameter::builder()
                .parameter_key(k)
                .parameter_value(v)
                .build()
        })
        .collect()
}

pub(crate) fn tags(spec: &StackSpec) -> Vec<Tag> {
    spec.tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

pub(crate) fn outputs(stack: &Stack) -> BTreeMap<String, String> {
    stack
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
        .collect()
}
