//! `silos tenants drift [ID…] [--all]`: drift detection through the API. `POST /drift`
//! starts a detection on each tenant's stack or collects the one in flight, so the command
//! asks again, in batches of [`MAX_DRIFT_TENANTS`], until every tenant has a result or the
//! timeout passes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;

use super::render::{drift_cell, drift_lines, table};
use super::{Cli, Error};
use crate::cli::OutputFormat;
use crate::cli::client::{ApiClient, body, decode};
use crate::control_plane::api::{DriftAnswer, DriftRequest, MAX_DRIFT_TENANTS, TenantError};
use crate::control_plane::tenant::{Status, Tenant};

/// How often tenants with a detection in flight are asked about again.
const ROUND: Duration = Duration::from_secs(2);

pub async fn run(
    cli: &Cli,
    client: &ApiClient,
    ids: &[String],
    all: bool,
    timeout: Duration,
) -> Result<(), Error> {
    let mut pending: Vec<String> = if all {
        client
            .tenants_where(Some(Status::Running), 1000)
            .await?
            .into_iter()
            .map(|t| t.tenant_id)
            .collect()
    } else {
        ids.to_vec()
    };
    if pending.is_empty() {
        if all {
            print(cli, &BTreeMap::new(), &[]);
            return Ok(());
        }
        return Err(Error::Usage(
            "name the tenants to check (silos tenants drift ID…) or pass --all".into(),
        ));
    }
    let deadline = Instant::now() + timeout;
    let mut done: BTreeMap<String, Tenant> = BTreeMap::new();
    let mut errors: Vec<TenantError> = Vec::new();
    loop {
        let mut still = Vec::new();
        for batch in pending.chunks(MAX_DRIFT_TENANTS) {
            let request = DriftRequest {
                tenant_ids: batch.to_vec(),
            };
            let answer: DriftAnswer = decode(
                &client.post("/drift", body(&request)).await?,
                "a drift answer",
            )?;
            for t in answer.tenants {
                let in_flight = t.drift.as_ref().is_some_and(|d| d.detection.is_some());
                if in_flight {
                    still.push(t.tenant_id.clone());
                } else {
                    done.insert(t.tenant_id.clone(), t);
                }
            }
            errors.extend(answer.errors);
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        if Instant::now() + ROUND > deadline {
            print(cli, &done, &errors);
            return Err(Error::Tenant(format!(
                "drift detection of {} tenant(s) still running after {} s: {}",
                pending.len(),
                timeout.as_secs(),
                pending.join(", ")
            )));
        }
        tracing::info!(pending = pending.len(), "drift detection running");
        tokio::time::sleep(ROUND).await;
    }
    print(cli, &done, &errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Tenant(format!(
            "{} tenant(s) could not be checked: {}",
            errors.len(),
            errors
                .iter()
                .map(|e| format!("{} ({})", e.tenant_id, e.error.message))
                .collect::<Vec<_>>()
                .join("; ")
        )))
    }
}

fn print(cli: &Cli, done: &BTreeMap<String, Tenant>, errors: &[TenantError]) {
    match cli.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "tenants": done.values().collect::<Vec<_>>(),
                "errors": errors,
            }))
            .unwrap_or_default()
        ),
        OutputFormat::Text => {
            let rows: Vec<Vec<String>> = done
                .values()
                .map(|t| {
                    vec![
                        t.tenant_id.clone(),
                        t.tenant_name.clone(),
                        drift_cell(t),
                        t.drift
                            .as_ref()
                            .and_then(|d| d.checked_at)
                            .map_or("-".to_owned(), |c| c.to_string()),
                        drift_lines(t).join("; "),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(&["TENANT ID", "NAME", "DRIFT", "CHECKED", "CHANGES"], &rows)
            );
            let drifted = done.values().filter(|t| drift_cell(t) == "DRIFTED").count();
            println!("{drifted} of {} drifted", done.len());
        }
    }
}
