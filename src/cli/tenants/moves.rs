//! `silos tenants move`: a tier move's plan, then the move, then (unless `--no-wait`) its
//! outcome. The API checks the plan again and refuses a data-losing move unless allowed, so
//! the rule lives in one place.

use std::time::Duration;

use serde_json::json;

use super::render::print;
use super::{Cli, Error, wait};
use crate::cli::OutputFormat;
use crate::cli::client::ApiClient;
use crate::control_plane::api::{MoveAction, MovePlan};
use crate::control_plane::tenant::Status;
use crate::control_plane::updater::short;

/// What `silos tenants move` was asked.
pub struct Request<'a> {
    pub id: &'a str,
    pub to: &'a str,
    pub allow_data_loss: bool,
    pub dry_run: bool,
    /// None with `--no-wait`.
    pub wait: Option<Duration>,
}

pub async fn run(cli: &Cli, client: &ApiClient, r: &Request<'_>) -> Result<(), Error> {
    let plan = client.move_plan(r.id, r.to).await?;
    if cli.output == OutputFormat::Text {
        print!("{}", render(&plan));
    }
    if r.dry_run {
        if cli.output == OutputFormat::Json {
            println!(
                "{}",
                serde_json::to_string_pretty(&plan).unwrap_or_default()
            );
        }
        return Ok(());
    }
    let tenant = client
        .request_move(r.id, r.to, plan.version.as_deref(), r.allow_data_loss)
        .await?;
    let Some(timeout) = r.wait else {
        let value = json!({"plan": plan, "tenant": tenant});
        print(cli, &value, || {
            format!("tenant {} is {}: moving to {}\n", r.id, tenant.status, r.to)
        });
        return Ok(());
    };
    let (_, after) = wait(client, r.id, Status::Running, timeout).await?;
    let value = json!({"plan": plan, "tenant": after});
    if after.deployment_type != r.to {
        if cli.output == OutputFormat::Json {
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
        }
        return Err(Error::Tenant(format!(
            "the move of tenant {} to {} failed, and it is running as {} again: {}",
            r.id,
            r.to,
            after.deployment_type,
            after
                .status_reason
                .as_deref()
                .unwrap_or("no reason recorded")
        )));
    }
    print(cli, &value, || {
        format!(
            "tenant {} ({}) is running as {} at version {}\n",
            after.tenant_name,
            r.id,
            after.deployment_type,
            after.version.as_deref().map_or("-", short)
        )
    });
    Ok(())
}

/// The plan as text: one line per resource the move adds, removes or replaces.
fn render(plan: &MovePlan) -> String {
    let mut out = format!(
        "move tenant {} from {} to {} (version {}):\n",
        plan.tenant_id,
        plan.from,
        plan.to,
        plan.version.as_deref().map_or("-", short)
    );
    if plan.changes.is_empty() {
        out.push_str("  no resource is added, removed or replaced\n");
    }
    let width = plan
        .changes
        .iter()
        .map(|c| c.logical_id.len())
        .max()
        .unwrap_or(0);
    for c in &plan.changes {
        let (mark, what) = match c.action {
            MoveAction::Add => ("+", "added"),
            MoveAction::Remove if c.retained => ("-", "removed (its policy keeps it, detached)"),
            MoveAction::Remove => ("-", "removed"),
            MoveAction::Replace => ("!", "replaced"),
            MoveAction::MayReplace => ("?", "may be replaced"),
        };
        let loss = if c.loses_data { "  DATA LOSS" } else { "" };
        out.push_str(&format!(
            "  {mark} {:width$}  {}  {what}{loss}\n",
            c.logical_id, c.resource_type
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control_plane::api::PlannedChange;

    #[test]
    fn the_plan_marks_each_change_and_the_data_it_loses() {
        let change = |id: &str, t: &str, action, loses_data| PlannedChange {
            logical_id: id.to_owned(),
            resource_type: t.to_owned(),
            action,
            loses_data,
            retained: false,
        };
        let plan = MovePlan {
            tenant_id: "t-1".to_owned(),
            from: "premium".to_owned(),
            to: "silo".to_owned(),
            version: Some("3f2a9c1b7e4d0a1b".to_owned()),
            changes: vec![
                change("Files", "AWS::S3::Bucket", MoveAction::Remove, true),
                change("Topic", "AWS::SNS::Topic", MoveAction::Add, false),
            ],
        };
        assert_eq!(
            render(&plan),
            "move tenant t-1 from premium to silo (version 3f2a9c1b7e4d):\n  - Files  AWS::S3::Bucket  removed  DATA LOSS\n  + Topic  AWS::SNS::Topic  added\n"
        );
    }
}
