//! `silos tenants`: the tenant API from the command line, as a table or as JSON.

use std::path::Path;
use std::time::{Duration, Instant};

use aws_credential_types::provider::ProvideCredentials;
use serde_json::{Value, json};

use super::client::{ApiClient, Signing, decode, is_loopback, region_of};
use super::{Cli, Error, OutputFormat, TenantsCommand};
use crate::control_plane::tenant::{Status, Tenant};
use crate::control_plane::updater::short;
use crate::fleet::{Published, published_versions};

/// Where `silos local` and `silos deploy` record what they stood up.
pub const OUTPUTS_FILE: &str = "out/outputs.json";

/// The API URL: `--api-url` (or `SILOS_API_URL`), then `out/outputs.json`, then the deployed
/// control-plane stack's `ApiUrl` output.
async fn api_url(cli: &Cli, given: Option<&str>) -> Result<String, Error> {
    if let Some(url) = given {
        return Ok(url.to_owned());
    }
    if let Ok(text) = std::fs::read_to_string(OUTPUTS_FILE) {
        let outputs: Value =
            serde_json::from_str(&text).map_err(|source| Error::Outputs { source })?;
        if let Some(url) = outputs["apiUrl"].as_str() {
            return Ok(url.to_owned());
        }
    }
    let sdk = crate::aws::load(&cli.aws_options()).await;
    let stack = format!("{}-control-plane", cli.prefix);
    let outputs = crate::deploy::Stacks::new(aws_sdk_cloudformation::Client::new(&sdk))
        .outputs(&stack)
        .await;
    outputs
        .ok()
        .flatten()
        .and_then(|mut o| o.remove("ApiUrl"))
        .ok_or_else(|| {
            Error::Usage(format!(
                "no API URL: pass --api-url, set SILOS_API_URL, or run `silos local` or `silos deploy` first (they write {OUTPUTS_FILE}); no stack {stack} with an ApiUrl output was found either"
            ))
        })
}

/// Credentials to sign with. For a loopback URL (local mode) only the environment and the
/// profile files are asked, and no credentials means unsigned requests; elsewhere the whole
/// default chain is asked, and no credentials is an error.
async fn signing(cli: &Cli, url: &str) -> Result<Option<Signing>, Error> {
    if is_loopback(url) {
        let env =
            aws_config::environment::credentials::EnvironmentVariableCredentialsProvider::new();
        let mut credentials = env.provide_credentials().await.ok();
        if credentials.is_none() {
            let mut profile = aws_config::profile::ProfileFileCredentialsProvider::builder();
            if let Some(p) = &cli.profile {
                profile = profile.profile_name(p);
            }
            credentials = profile.build().provide_credentials().await.ok();
        }
        let region = cli.region.clone().unwrap_or_else(|| "us-east-1".to_owned());
        return Ok(credentials.map(|credentials| Signing {
            credentials,
            region,
        }));
    }
    let sdk = crate::aws::load(&cli.aws_options()).await;
    let provider = sdk
        .credentials_provider()
        .ok_or(Error::NoCredentialsProvider)?;
    let credentials = provider
        .provide_credentials()
        .await
        .map_err(Error::Credentials)?;
    let region = cli
        .region
        .clone()
        .or_else(|| region_of(url).map(str::to_owned))
        .or_else(|| sdk.region().map(|r| r.to_string()))
        .ok_or_else(|| Error::Usage("no region: pass --region or set AWS_REGION".into()))?;
    Ok(Some(Signing {
        credentials,
        region,
    }))
}

pub async fn client(cli: &Cli, given: Option<&str>) -> Result<ApiClient, Error> {
    let url = api_url(cli, given).await?;
    let signing = signing(cli, &url).await?;
    Ok(ApiClient::new(&url, signing)?)
}

/// An optional field's cell: `-` when absent.
fn or_dash(v: Option<&str>) -> String {
    v.unwrap_or("-").to_owned()
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
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
fn version_cell(t: &Tenant, published: Option<&Published>) -> (String, bool) {
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

fn tenant_rows(tenants: &[Tenant], published: Option<&Published>) -> String {
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
                t.status.to_string(),
                version,
                or_dash(t.status_reason.as_deref()),
            ]
        })
        .collect();
    let mut out = table(
        &["TENANT ID", "NAME", "TYPE", "STATUS", "VERSION", "REASON"],
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

/// The published versions, or None (and a warning) if the API cannot say.
async fn published(client: &ApiClient) -> Option<Published> {
    match published_versions(client).await {
        Ok(published) => Some(published),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the published versions; not marking outdated tenants");
            None
        }
    }
}

fn print(cli: &Cli, value: &Value, text: impl FnOnce() -> String) {
    match cli.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        ),
        OutputFormat::Text => print!("{}", text()),
    }
}

/// The tenant's data tables, from its stack's resources.
fn tables(resources: &Value) -> Vec<String> {
    resources
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter(|r| r["ResourceType"] == "AWS::DynamoDB::Table")
                .filter_map(|r| r["PhysicalResourceId"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

pub async fn run(cli: &Cli, api_url: Option<&str>, command: &TenantsCommand) -> Result<(), Error> {
    let client = client(cli, api_url).await?;
    match command {
        TenantsCommand::List => {
            let tenants = client.get("/tenants").await?;
            let list: Vec<Tenant> = decode(&tenants, "a list of tenants")?;
            let published = if cli.output == OutputFormat::Text && !list.is_empty() {
                published(&client).await
            } else {
                None
            };
            print(cli, &tenants, || {
                if list.is_empty() {
                    "no tenants\n".to_owned()
                } else {
                    tenant_rows(&list, published.as_ref())
                }
            });
        }
        TenantsCommand::Create {
            name,
            deployment_type,
        } => {
            let tenant = client
                .post_once(
                    "/onboarding",
                    json!({"tenantName": name, "deploymentType": deployment_type}),
                )
                .await?;
            let t: Tenant = decode(&tenant, "a tenant")?;
            print(cli, &tenant, || {
                format!(
                    "created tenant {} ({}), status {}\n",
                    t.tenant_name, t.tenant_id, t.status
                )
            });
        }
        TenantsCommand::Delete { id, name } => {
            // Its tables before the stack goes, to say what is kept.
            let resources = client
                .post("/tenant-info", json!({"tenantId": id}))
                .await
                .ok();
            let mut body = json!({"tenantId": id});
            if let Some(n) = name {
                body["tenantName"] = json!(n);
            }
            let tenant = client.post_once("/delete", body).await?;
            let kept = resources.as_ref().map(tables).unwrap_or_default();
            let t: Tenant = decode(&tenant, "a tenant")?;
            print(cli, &tenant, || {
                let mut out = format!(
                    "tenant {} ({}) is {}\n",
                    t.tenant_name, t.tenant_id, t.status
                );
                for t in &kept {
                    out.push_str(&format!(
                        "its data table {t} is retained when the stack is deleted (unless its blueprint sets tenantData: delete); remove it with `aws dynamodb delete-table --table-name {t}` once it is no longer needed\n"
                    ));
                }
                out
            });
        }
        TenantsCommand::Info { id } => {
            let tenant = client.get(&format!("/tenants/{id}")).await?;
            let t: Tenant = decode(&tenant, "a tenant")?;
            let resources = client.post("/tenant-info", json!({"tenantId": id})).await?;
            let value = json!({"tenant": tenant, "resources": resources});
            print(cli, &value, || {
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
                ] {
                    out.push_str(&format!("{key:<16}{cell}\n"));
                }
                let rows: Vec<Vec<String>> = resources
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|r| {
                        vec![
                            s(&r["LogicalResourceId"]),
                            s(&r["ResourceType"]),
                            s(&r["PhysicalResourceId"]),
                            s(&r["ResourceStatus"]),
                        ]
                    })
                    .collect();
                out.push('\n');
                out.push_str(&table(
                    &["RESOURCE", "TYPE", "PHYSICAL ID", "STATUS"],
                    &rows,
                ));
                out
            });
        }
        TenantsCommand::Retry { id } => {
            let tenant = client.post_once("/retry", json!({"tenantId": id})).await?;
            let t: Tenant = decode(&tenant, "a tenant")?;
            print(cli, &tenant, || {
                format!(
                    "retrying tenant {} ({}): status {}\n",
                    t.tenant_name, t.tenant_id, t.status
                )
            });
        }
        TenantsCommand::Upgrade {
            wave_size,
            max_failures,
            tenants,
            dry_run,
            timeout,
        } => {
            let options = super::upgrade::Options {
                wave_size: *wave_size as usize,
                max_failures: *max_failures as usize,
                only: tenants.clone(),
                dry_run: *dry_run,
                timeout: Duration::from_secs(*timeout),
            };
            super::upgrade::run(cli, std::sync::Arc::new(client), options).await?;
        }
        TenantsCommand::Wait {
            id,
            status,
            timeout,
        } => {
            let (tenant, t) = wait(&client, id, status, Duration::from_secs(*timeout)).await?;
            print(cli, &tenant, || {
                format!("tenant {} ({}) is {}\n", t.tenant_name, id, status)
            });
        }
    }
    Ok(())
}

/// Polls the tenant until it has `status`, and returns it as the API answered (for
/// `--output json`) and typed. A tenant that ends in `failed` or `deleted` instead stops the
/// wait early.
pub async fn wait(
    client: &ApiClient,
    id: &str,
    status: &str,
    timeout: Duration,
) -> Result<(Value, Tenant), Error> {
    // The status the last probe saw, for the timeout's message and the progress lines.
    let last = std::cell::RefCell::new(String::new());
    let polled = crate::aws::poll_until(
        &crate::aws::Backoff::constant(Duration::from_millis(250)),
        Instant::now() + timeout,
        || async {
            let tenant = client.get(&format!("/tenants/{id}")).await?;
            let t: Tenant = decode(&tenant, "a tenant")?;
            let now = t.status.to_string();
            if now == status {
                return Ok(Some((tenant, t)));
            }
            if matches!(t.status, Status::Failed | Status::Deleted) {
                return Err(Error::Tenant(format!(
                    "tenant {id} is {now} ({}), not {status}",
                    or_dash(t.status_reason.as_deref())
                )));
            }
            if *last.borrow() != now {
                tracing::info!(tenant = id, status = %now, "waiting");
                *last.borrow_mut() = now;
            }
            Ok(None)
        },
    )
    .await;
    polled.map_err(|e| match e {
        crate::aws::PollError::Probe(e) => e,
        crate::aws::PollError::Timeout { .. } => Error::Tenant(format!(
            "tenant {id} is still {} after {} s; it did not reach {status}",
            last.borrow(),
            timeout.as_secs()
        )),
    })
}

/// Writes `out/outputs.json` (or `dir/outputs.json`) atomically.
pub fn write_outputs(dir: &Path, value: &Value) -> Result<std::path::PathBuf, Error> {
    let path = dir.join("outputs.json");
    let io = |source: std::io::Error| Error::Write {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = dir.join(".outputs.json.tmp");
    std::fs::write(
        &tmp,
        format!(
            "{}\n",
            serde_json::to_string_pretty(value).unwrap_or_default()
        ),
    )
    .map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
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
