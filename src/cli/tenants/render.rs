//! How `silos tenants` shows what the API returns: aligned tables (by display width), the
//! VERSION cell marked when behind, or the API's JSON as it came.

use serde_json::Value;

use crate::cli::{Cli, OutputFormat};
use crate::control_plane::api::StackResource;
use crate::control_plane::tenant::{Status, Tenant};
use crate::control_plane::updater::short;
use crate::fleet::Published;

/// An optional field's cell: `-` when absent.
pub(super) fn or_dash(v: Option<&str>) -> String {
    v.unwrap_or("-").to_owned()
}

/// Columns padded to their widest cell, measured in terminal columns: `東京` takes four.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    use unicode_width::UnicodeWidthStr;
    let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.width());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(w.saturating_sub(cell.width()) + 2));
            }
        }
        out.trim_end().to_owned()
    };
    let mut out = line(headers.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// The VERSION cell: the first 12 characters, marked when behind the published version.
pub(super) fn version_cell(t: &Tenant, published: Option<&Published>) -> (String, bool) {
    let version = t.version.as_deref();
    let mut cell = version.map_or("-", short).to_owned();
    let target = published
        .and_then(|p| p.get(&t.deployment_type))
        .and_then(Option::as_deref);
    let live = t.status != Status::Deleted;
    let behind = live && target.is_some_and(|target| version != Some(target));
    if behind {
        cell.push_str(" (behind)");
    }
    (cell, behind)
}

/// The DRIFT cell: the last result, `…` while the first detection runs, `-` if never checked.
pub(super) fn drift_cell(t: &Tenant) -> String {
    use crate::control_plane::tenant::DriftStatus;
    match &t.drift {
        None => "-".to_owned(),
        Some(d) if d.status == DriftStatus::NotChecked && d.detection.is_some() => {
            "DETECTING".to_owned()
        }
        Some(d) => d.status.to_string(),
    }
}

/// The HEALTH cell: `ok`, `alarm (errors, duration)` naming the alarms firing by what
/// follows the stack's name, or `-` until an alarm reports.
pub(super) fn health_cell(t: &Tenant) -> String {
    let Some(health) = &t.health else {
        return "-".to_owned();
    };
    let stack = t.stack_name.as_deref().map(|s| format!("{s}-"));
    let firing: Vec<&str> = health
        .firing()
        .map(|a| {
            stack
                .as_deref()
                .and_then(|s| a.name.strip_prefix(s))
                .unwrap_or(&a.name)
        })
        .collect();
    if firing.is_empty() {
        return health.status.to_string();
    }
    format!("{} ({})", health.status, firing.join(", "))
}

/// Each alarm firing on one line: `alarm …-errors since 1700000000.000: Threshold Crossed…`.
pub(super) fn health_lines(t: &Tenant) -> Vec<String> {
    let Some(health) = &t.health else {
        return Vec::new();
    };
    health
        .firing()
        .map(|a| match &a.reason {
            Some(reason) => format!("{} since {}: {reason}", a.name, a.since),
            None => format!("{} since {}", a.name, a.since),
        })
        .collect()
}

/// A drifted resource's differences on one line: `TenantFunction /MemorySize 128 → 512`.
pub(super) fn drift_lines(t: &Tenant) -> Vec<String> {
    let Some(drift) = &t.drift else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    for r in &drift.resources {
        if r.differences.is_empty() {
            lines.push(format!(
                "{} ({}) {}",
                r.logical_id, r.resource_type, r.status
            ));
        }
        for d in &r.differences {
            lines.push(format!(
                "{} {} {} → {}",
                r.logical_id,
                d.path,
                d.expected.as_deref().unwrap_or("(none)"),
                d.actual.as_deref().unwrap_or("(none)")
            ));
        }
    }
    if let Some(reason) = &drift.reason {
        lines.push(reason.clone());
    }
    lines
}

pub(super) fn tenant_rows(tenants: &[Tenant], published: Option<&Published>) -> String {
    let mut behind = 0;
    let rows: Vec<Vec<String>> = tenants
        .iter()
        .map(|t| {
            let (version, late) = version_cell(t, published);
            behind += usize::from(late);
            vec![
                t.tenant_id.clone(),
                t.tenant_name.clone(),
                t.deployment_type.clone(),
                or_dash(t.cell.as_deref()),
                t.status.to_string(),
                version,
                drift_cell(t),
                health_cell(t),
                or_dash(t.status_reason.as_deref()),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "TENANT ID",
            "NAME",
            "TYPE",
            "CELL",
            "STATUS",
            "VERSION",
            "DRIFT",
            "HEALTH",
            "REASON",
        ],
        &rows,
    );
    if behind > 0 {
        out.push_str(&format!(
            "{behind} of {} behind the published version; `silos tenants upgrade` rolls it out\n",
            tenants.len()
        ));
    }
    out
}

pub(super) fn print(cli: &Cli, value: &Value, text: impl FnOnce() -> String) {
    match cli.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        ),
        OutputFormat::Text => print!("{}", text()),
    }
}

/// The tenant's data tables, from its stack's resources.
pub(crate) fn tables(resources: &[StackResource]) -> Vec<String> {
    of_type(resources, "AWS::DynamoDB::Table")
}

/// The tenant's buckets, which offboarding always keeps.
pub(super) fn buckets(resources: &[StackResource]) -> Vec<String> {
    of_type(resources, "AWS::S3::Bucket")
}

fn of_type(resources: &[StackResource], type_name: &str) -> Vec<String> {
    resources
        .iter()
        .filter(|r| r.resource_type == type_name)
        .filter_map(|r| r.physical_resource_id.clone())
        .collect()
}

/// `silos tenants delete`'s text: the tenant's status, and each data table and bucket kept.
pub(super) fn deleted(t: &Tenant, kept: &[String], buckets: &[String]) -> String {
    let mut out = format!(
        "tenant {} ({}) is {}\n",
        t.tenant_name, t.tenant_id, t.status
    );
    // Where they are: the stack's account and region (a cell's, perhaps not this one's).
    let (account, region) = t
        .stack_id
        .as_deref()
        .map(|id| {
            let parts: Vec<&str> = id.split(':').collect();
            (
                parts.get(4).copied().unwrap_or_default(),
                parts.get(3).copied().unwrap_or_default(),
            )
        })
        .unwrap_or_default();
    let (where_, flag) = if region.is_empty() {
        (String::new(), String::new())
    } else {
        (
            format!(", in account {account}, {region}"),
            format!(" --region {region}"),
        )
    };
    for t in kept {
        out.push_str(&format!(
            "its data table {t} is retained when the stack is deleted (unless its blueprint sets tenantData: delete){where_}; remove it with `aws dynamodb delete-table --table-name {t}{flag}` once it is no longer needed\n"
        ));
    }
    for b in buckets {
        out.push_str(&format!(
            "its bucket {b} is kept when the stack is deleted (a versioned bucket that holds anything cannot be){where_}; empty and remove it with `aws s3 rb s3://{b} --force{flag}` once it is no longer needed\n"
        ));
    }
    out
}

/// `silos tenants info`'s text: the record's fields, then its stack's resources.
pub(super) fn info(t: &Tenant, resources: &[StackResource]) -> String {
    let mut out = String::new();
    for (key, cell) in [
        ("tenantId", t.tenant_id.clone()),
        ("tenantName", t.tenant_name.clone()),
        ("deploymentType", t.deployment_type.clone()),
        ("status", t.status.to_string()),
        ("statusReason", or_dash(t.status_reason.as_deref())),
        ("version", or_dash(t.version.as_deref())),
        ("targetVersion", or_dash(t.target_version.as_deref())),
        ("stackName", or_dash(t.stack_name.as_deref())),
        ("stackId", or_dash(t.stack_id.as_deref())),
        ("created", t.created.to_string()),
        ("endpoint", or_dash(t.endpoint.as_deref())),
        (
            "userPoolId",
            or_dash(t.identity.as_ref().map(|i| i.user_pool_id.as_str())),
        ),
        (
            "clientId",
            or_dash(t.identity.as_ref().map(|i| i.client_id.as_str())),
        ),
        (
            "issuer",
            or_dash(t.identity.as_ref().map(|i| i.issuer.as_str())),
        ),
        ("adminEmail", or_dash(t.admin_email.as_deref())),
        ("adminInvite", or_dash(t.admin_invite_error.as_deref())),
        ("drift", drift_cell(t)),
        (
            "driftCheckedAt",
            or_dash(
                t.drift
                    .as_ref()
                    .and_then(|d| d.checked_at)
                    .map(|c| c.to_string())
                    .as_deref(),
            ),
        ),
        ("health", health_cell(t)),
        (
            "healthChangedAt",
            or_dash(
                t.health
                    .as_ref()
                    .map(|h| h.changed_at.to_string())
                    .as_deref(),
            ),
        ),
    ] {
        out.push_str(&format!("{key:<16}{cell}\n"));
        if key == "driftCheckedAt" {
            for line in drift_lines(t) {
                out.push_str(&format!("{:<16}{line}\n", ""));
            }
        }
    }
    for line in health_lines(t) {
        out.push_str(&format!("{:<16}{line}\n", ""));
    }
    let rows: Vec<Vec<String>> = resources
        .iter()
        .map(|r| {
            vec![
                r.logical_resource_id.clone(),
                r.resource_type.clone(),
                or_dash(r.physical_resource_id.as_deref()),
                or_dash(r.resource_status.as_deref()),
            ]
        })
        .collect();
    out.push('\n');
    out.push_str(&table(
        &["RESOURCE", "TYPE", "PHYSICAL ID", "STATUS"],
        &rows,
    ));
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tables_pad_columns_to_the_widest_cell() {
        let out = table(
            &["ID", "NAME"],
            &[
                vec!["1".into(), "Acme".into()],
                vec!["22222".into(), "B".into()],
            ],
        );
        assert_eq!(out, "ID     NAME\n1      Acme\n22222  B\n");
        // Wide characters take two columns each: the next column still lines up.
        let out = table(
            &["NAME", "STATUS"],
            &[
                vec!["東京 株式会社".into(), "running".into()],
                vec!["Zürich AG".into(), "failed".into()],
            ],
        );
        assert_eq!(
            out,
            "NAME           STATUS\n東京 株式会社  running\nZürich AG      failed\n"
        );
    }

    #[test]
    fn tenants_behind_the_published_version_are_marked() {
        let v1 = "1111111111111111aaaa";
        let v2 = "2222222222222222bbbb";
        let tenant = |id: &str, status: &str, v: Option<&str>| -> Tenant {
            serde_json::from_value(json!({"tenantId": id, "tenantName": id,
                   "tenantSafeName": id, "deploymentType": "silo", "status": status,
                   "created": "0.000", "statusChangedAt": "0.000", "version": v,
                   "statusReason": null}))
            .unwrap()
        };
        let published = Published::from([("silo".to_owned(), Some(v2.to_owned()))]);
        let out = tenant_rows(
            &[
                tenant("a", "running", Some(v1)),
                tenant("b", "running", Some(v2)),
                tenant("c", "deleted", Some(v1)),
            ],
            Some(&published),
        );
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[1].contains("111111111111 (behind)"), "{out}");
        assert!(
            lines[2].contains("222222222222") && !lines[2].contains("behind"),
            "{out}"
        );
        // A deleted tenant is not behind anything.
        assert!(!lines[3].contains("behind"), "{out}");
        assert_eq!(
            lines[4],
            "1 of 3 behind the published version; `silos tenants upgrade` rolls it out"
        );
        // Without the published versions nothing is marked.
        assert!(!tenant_rows(&[tenant("a", "running", Some(v1))], None).contains("behind"));
    }
}
