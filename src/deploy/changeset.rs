//! Deploying a stack, the one path every stack takes (`silos deploy` and local mode, through
//! [`super::app::deploy_stack`]):
//! 1. **Plan.** Compare with what is deployed: no change at all means no change set.
//!    Otherwise the diff of the templates (and of the parameter values) is the summary, and it
//!    says what needs approval.
//! 2. **Create the change set** and wait for it. One that turns out empty is deleted and counts
//!    as "no changes".
//! 3. **Execute it** and follow the stack's events until the stack settles, within the deadline.
//!
//! A stack that does not exist yet is created with CreateStack, after the same plan and
//! approval. A CREATE change set would add no information to the summary, and the emulator
//! loses the outputs of stacks created that way.
//!
//! A stack left in ROLLBACK_COMPLETE by a failed first create is deleted first, and the plan
//! says so.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Instant;

use aws_sdk_cloudformation::types::{ChangeSetStatus, ChangeSetType, StackStatus};
use serde::Serialize;
use serde_json::Value;

use super::diff::{self, Change, Replacement, StackDiff};
use super::progress::{Operation, Progress, StackEvent};
use super::stack::{lock, timed_out, with_spec};
use super::{Deployed, Error, Outcome, StackSpec, Stacks};
use crate::aws::{Backoff, poll_until};

/// What deploying a stack would do.
#[derive(Clone, Debug)]
pub struct Plan {
    pub stack: String,
    pub exists: bool,
    /// A ROLLBACK_COMPLETE stack to delete before creating it again.
    pub leftover: bool,
    pub unchanged: bool,
    pub diff: StackDiff,
}

/// What a plan does to its stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    None,
}

/// A plan as `silos deploy --dry-run --output json` prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanSummary {
    pub stack: String,
    pub action: Action,
    /// A ROLLBACK_COMPLETE stack is deleted before it is created again.
    pub recreate: bool,
    pub changes: Vec<ChangeSummary>,
    /// Changes outside the resources: outputs, parameter values.
    pub other: Vec<String>,
}

/// One resource's change in a [`PlanSummary`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeSummary {
    pub logical_id: String,
    pub resource_type: String,
    /// `add`, `modify` or `remove`.
    pub change: &'static str,
    /// Whether the change replaces the resource (a new physical resource; the old one is
    /// deleted).
    pub replacement: bool,
    /// Whether it may replace the resource: a conditionally create-only property changed, or
    /// the type is one the pinned schemas do not have.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub may_replace: bool,
    /// The property paths a modification changes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// A removed resource the template retains.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub retained: bool,
    /// Why the change widens access, if it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broadening: Option<String>,
}

impl Plan {
    pub fn action(&self) -> Action {
        if !self.exists {
            Action::Create
        } else if self.unchanged {
            Action::None
        } else {
            Action::Update
        }
    }

    pub fn summary(&self) -> PlanSummary {
        let changes = self
            .diff
            .resources
            .iter()
            .map(|r| {
                let (change, replacement, paths, retained) = match &r.change {
                    Change::Added => ("add", Replacement::Never, Vec::new(), false),
                    Change::Removed { retained } => {
                        ("remove", Replacement::Never, Vec::new(), *retained)
                    }
                    Change::Modified { paths, replacement } => {
                        ("modify", *replacement, paths.clone(), false)
                    }
                };
                ChangeSummary {
                    logical_id: r.logical_id.clone(),
                    resource_type: r.resource_type.clone(),
                    change,
                    replacement: replacement == Replacement::Always,
                    may_replace: replacement == Replacement::Conditional,
                    paths,
                    retained,
                    broadening: r.broadening.clone(),
                }
            })
            .collect();
        PlanSummary {
            stack: self.stack.clone(),
            action: self.action(),
            recreate: self.leftover,
            changes,
            other: self.diff.other.clone(),
        }
    }
}

/// A change set name unique to this deploy: `silos-` and the time in milliseconds.
fn change_set_name() -> String {
    format!(
        "silos-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default()
    )
}

fn parse_template(body: &str) -> Option<Value> {
    serde_json::from_str(body)
        .ok()
        .or_else(|| serde_saphyr::from_str(body).ok())
}

impl Stacks {
    /// Compares `spec` with the deployed stack.
    pub async fn plan(&self, spec: &StackSpec, deadline: Instant) -> Result<Plan, Error> {
        let mut existing = self.describe(&spec.name).await?;
        if existing
            .as_ref()
            .and_then(|s| s.stack_status())
            .is_some_and(|s| {
                s.as_str().ends_with("_IN_PROGRESS") && *s != StackStatus::ReviewInProgress
            })
        {
            existing = Some(self.wait(&spec.name, deadline).await?);
        }
        let status = existing.as_ref().and_then(|s| s.stack_status().cloned());
        let leftover = status == Some(StackStatus::RollbackComplete);
        // A stack in REVIEW_IN_PROGRESS has never been created: it has a change set only.
        let live = existing.is_some() && !leftover && status != Some(StackStatus::ReviewInProgress);
        let new = parse_template(&spec.body).unwrap_or(Value::Null);
        let (mut old, mut changed, mut unchanged) = (None, BTreeSet::new(), false);
        if let (true, Some(stack)) = (live, &existing) {
            let body = self
                .client()
                .get_template()
                .stack_name(&spec.name)
                .send()
                .await
                .map_err(Stacks::error("GetTemplate", &spec.name))?
                .template_body
                .unwrap_or_default();
            let deployed = super::stack::deployed_parameters(stack);
            let tags = super::stack::deployed_tags(stack);
            changed = spec
                .parameters
                .iter()
                .filter(|(k, v)| deployed.get(*k) != Some(v))
                .map(|(k, _)| k.clone())
                .collect();
            old = parse_template(&body);
            // Compared as templates: a body goes compact (`stack::compact`), a URL's file as
            // it is.
            unchanged = old.as_ref() == Some(&new) && changed.is_empty() && tags == spec.tags;
        }
        Ok(Plan {
            stack: spec.name.clone(),
            exists: live,
            leftover,
            unchanged,
            diff: diff::diff(&spec.name, old.as_ref(), &new, &changed),
        })
    }

    /// Carries out `plan` through a change set, calling `on_event` with one line per stack
    /// event. Fails with the failed resources and their reasons.
    pub async fn execute(
        &self,
        spec: &StackSpec,
        plan: &Plan,
        deadline: Instant,
        on_event: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Deployed, Error> {
        if plan.unchanged {
            return self.settled(spec, Outcome::Unchanged).await;
        }
        if plan.leftover {
            on_event(&format!(
                "{} is in ROLLBACK_COMPLETE after a failed first create: deleting it to create it again",
                spec.name
            ));
            self.delete_and_wait(&spec.name, deadline).await?;
        }
        let total = plan.diff.resources.len();
        let mut progress = Progress::new(Operation::CreateOrUpdate, total);
        if !plan.exists {
            self.create(spec).await?;
            let stack = self
                .follow(
                    &spec.name,
                    &BTreeSet::new(),
                    &mut progress,
                    deadline,
                    on_event,
                )
                .await?;
            let outcome = if plan.leftover {
                Outcome::Recreated
            } else {
                Outcome::Created
            };
            return self.finish(spec, stack, &progress, outcome);
        }
        let name = change_set_name();
        self.create_change_set(spec, &name).await?;
        if !self.wait_for_change_set(spec, &name, deadline).await? {
            let _ = self
                .client()
                .delete_change_set()
                .stack_name(&spec.name)
                .change_set_name(&name)
                .send()
                .await;
            return self.settled(spec, Outcome::Unchanged).await;
        }

        let seen = self.event_ids(&spec.name).await;
        self.client()
            .execute_change_set()
            .stack_name(&spec.name)
            .change_set_name(&name)
            .send()
            .await
            .map_err(Stacks::error("ExecuteChangeSet", &spec.name))?;
        let stack = self
            .follow(&spec.name, &seen, &mut progress, deadline, on_event)
            .await?;
        self.finish(spec, stack, &progress, Outcome::Updated)
    }

    /// Creates the UPDATE change set `name` for `spec`.
    async fn create_change_set(&self, spec: &StackSpec, name: &str) -> Result<(), Error> {
        let call = self
            .client()
            .create_change_set()
            .stack_name(&spec.name)
            .change_set_name(name)
            .change_set_type(ChangeSetType::Update);
        with_spec!(call, spec)
            .send()
            .await
            .map_err(Stacks::error("CreateChangeSet", &spec.name))?;
        Ok(())
    }

    /// Waits for the change set, at a constant `poll`, until it is ready: true if it has
    /// changes to execute, false if it failed for having none.
    async fn wait_for_change_set(
        &self,
        spec: &StackSpec,
        name: &str,
        deadline: Instant,
    ) -> Result<bool, Error> {
        let last = &Mutex::new(None::<ChangeSetStatus>);
        poll_until(&Backoff::constant(self.poll), deadline, || async move {
            let cs = self
                .client()
                .describe_change_set()
                .stack_name(&spec.name)
                .change_set_name(name)
                .send()
                .await
                .map_err(Stacks::error("DescribeChangeSet", &spec.name))?;
            match cs.status() {
                Some(ChangeSetStatus::CreateComplete) => Ok(Some(true)),
                Some(ChangeSetStatus::Failed) => {
                    let reason = cs.status_reason().unwrap_or_default().to_owned();
                    if crate::aws::no_changes(&reason) {
                        return Ok(Some(false));
                    }
                    Err(Error::StackFailed {
                        stack: spec.name.clone(),
                        status: "change set FAILED".to_owned(),
                        reason: Some(reason),
                    })
                }
                status => {
                    *lock(last) = status.cloned();
                    Ok(None)
                }
            }
        })
        .await
        .map_err(|e| {
            let status = lock(last).as_ref().map(|s| s.as_str().to_owned());
            let status = format!("change set {}", status.as_deref().unwrap_or("?"));
            timed_out(e, &spec.name, status)
        })
    }

    /// The deploy's result from the settled stack: its outputs, or its failures.
    fn finish(
        &self,
        spec: &StackSpec,
        stack: aws_sdk_cloudformation::types::Stack,
        progress: &Progress,
        outcome: Outcome,
    ) -> Result<Deployed, Error> {
        let ok = matches!(
            stack.stack_status(),
            Some(StackStatus::CreateComplete | StackStatus::UpdateComplete)
        );
        if !ok {
            let mut reasons: Vec<String> =
                progress.failures().iter().map(|f| f.to_string()).collect();
            if reasons.is_empty() {
                reasons.extend(stack.stack_status_reason().map(str::to_owned));
            }
            return Err(Error::StackFailed {
                stack: spec.name.clone(),
                status: stack
                    .stack_status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
            });
        }
        Ok(Deployed {
            name: spec.name.clone(),
            stack_id: stack.stack_id().unwrap_or_default().to_owned(),
            outcome,
            outputs: super::stack::outputs(&stack),
        })
    }

    /// The stack as it is, for a deploy that changed nothing. A stack that ended FAILED
    /// (UPDATE_ROLLBACK_FAILED, say) is an error even with nothing to change.
    async fn settled(&self, spec: &StackSpec, outcome: Outcome) -> Result<Deployed, Error> {
        let stack = self
            .describe(&spec.name)
            .await?
            .ok_or_else(|| Error::StackFailed {
                stack: spec.name.clone(),
                status: "missing".to_owned(),
                reason: None,
            })?;
        if let Some(status) = stack
            .stack_status()
            .filter(|s| s.as_str().ends_with("_FAILED"))
        {
            return Err(Error::StackFailed {
                stack: spec.name.clone(),
                status: status.as_str().to_owned(),
                reason: stack.stack_status_reason().map(str::to_owned),
            });
        }
        Ok(Deployed {
            name: spec.name.clone(),
            stack_id: stack.stack_id().unwrap_or_default().to_owned(),
            outcome,
            outputs: super::stack::outputs(&stack),
        })
    }

    /// The ids of the stack's events so far, to follow only the new ones.
    pub(crate) async fn event_ids(&self, name: &str) -> BTreeSet<String> {
        match self
            .client()
            .describe_stack_events()
            .stack_name(name)
            .send()
            .await
        {
            Ok(out) => out
                .stack_events()
                .iter()
                .filter_map(|e| e.event_id().map(str::to_owned))
                .collect(),
            Err(_) => BTreeSet::new(),
        }
    }

    /// Follows the stack's new events into `progress` until the stack settles or `deadline`
    /// passes. Returns the settled stack.
    pub(crate) async fn follow(
        &self,
        name: &str,
        seen: &BTreeSet<String>,
        progress: &mut Progress,
        deadline: Instant,
        on_event: &mut (dyn FnMut(&str) + Send),
    ) -> Result<aws_sdk_cloudformation::types::Stack, Error> {
        let progress = &Mutex::new(progress);
        let on_event = &Mutex::new(on_event);
        let last = &Mutex::new(None::<StackStatus>);
        poll_until(&self.backoff(), deadline, || async move {
            if let Ok(out) = self
                .client()
                .describe_stack_events()
                .stack_name(name)
                .send()
                .await
            {
                let fresh: Vec<StackEvent> = out
                    .stack_events()
                    .iter()
                    .filter(|e| e.event_id().is_some_and(|id| !seen.contains(id)))
                    .map(StackEvent::from_sdk)
                    .collect();
                // Newest first from the API; oldest first into the progress.
                let mut progress = lock(progress);
                let mut on_event = lock(on_event);
                for e in fresh.iter().rev() {
                    if let Some(line) = progress.apply(e) {
                        on_event(&line);
                    }
                }
            }
            let stack = self.describe(name).await?;
            let status = stack.as_ref().and_then(|s| s.stack_status().cloned());
            match (stack, status) {
                (Some(stack), Some(s)) if !s.as_str().ends_with("_IN_PROGRESS") => Ok(Some(stack)),
                (None, _) => Err(Error::StackFailed {
                    stack: name.to_owned(),
                    status: "DELETE_COMPLETE".to_owned(),
                    reason: Some("the stack disappeared".to_owned()),
                }),
                (_, s) => {
                    *lock(last) = s;
                    Ok(None)
                }
            }
        })
        .await
        .map_err(|e| {
            let status = lock(last).as_ref().map(|s| s.as_str().to_owned());
            timed_out(e, name, status.unwrap_or_default())
        })
    }
}
