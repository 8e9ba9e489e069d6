//! `silos tenants`: the tenant API from the command line, as a table or as JSON. Finding the
//! API and its credentials is [`discovery`]'s job, and showing the answers [`render`]'s.

pub(crate) mod cost;
mod discovery;
mod drift;
mod events;
mod moves;
mod render;
mod users;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::client::{ApiClient, body, decode};
use super::{Cli, Error, OutputFormat, TenantsCommand, UsersCommand};
use crate::control_plane::api::{DeleteRequest, OnboardingRequest, TenantRequest};
use crate::control_plane::tenant::{Status, Tenant};
use crate::fleet::{Published, published_versions};
pub use cost::By as CostBy;
pub use discovery::client;
pub(crate) use render::tables;
use render::{or_dash, print, tenant_rows};
pub use users::directory_users;

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

/// Runs a `silos tenants` subcommand: one function each, all but `events` through the API.
pub async fn run(cli: &Cli, api_url: Option<&str>, command: &TenantsCommand) -> Result<(), Error> {
    // The events come from the bus, not the API.
    if let TenantsCommand::Events { follow, wait } = command {
        return events::run(cli, *follow, Duration::from_secs(*wait)).await;
    }
    // The costs come from Cost Explorer; the API only names the tenants.
    if let TenantsCommand::Cost { month, by } = command {
        return cost::run(cli, api_url, month.as_deref(), *by).await;
    }
    let client = client(cli, api_url).await?;
    match command {
        TenantsCommand::List { status, page_size } => list(cli, &client, *status, *page_size).await,
        TenantsCommand::Create {
            name,
            deployment_type,
            cell_region,
            admin_email,
        } => {
            let request = OnboardingRequest {
                tenant_name: name.clone(),
                deployment_type: deployment_type.clone(),
                region: cell_region.clone(),
                admin_email: admin_email.clone(),
            };
            create(cli, &client, &request).await
        }
        TenantsCommand::Delete { id, name } => {
            let request = DeleteRequest {
                tenant_id: id.clone(),
                tenant_name: name.clone(),
            };
            delete(cli, &client, &request).await
        }
        TenantsCommand::Info { id } => info(cli, &client, id).await,
        TenantsCommand::Retry { id } => retry(cli, &client, id).await,
        TenantsCommand::Drift { ids, all, timeout } => {
            drift::run(cli, &client, ids, *all, Duration::from_secs(*timeout)).await
        }
        TenantsCommand::Move {
            id,
            deployment_type,
            allow_data_loss,
            dry_run,
            no_wait,
            timeout,
        } => {
            let request = moves::Request {
                id,
                to: deployment_type,
                allow_data_loss: *allow_data_loss,
                dry_run: *dry_run,
                wait: (!no_wait).then(|| Duration::from_secs(*timeout)),
            };
            moves::run(cli, &client, &request).await
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
            super::upgrade::run(cli, std::sync::Arc::new(client), options).await
        }
        // Answered above, without a client.
        TenantsCommand::Events { .. } | TenantsCommand::Cost { .. } => Ok(()),
        TenantsCommand::Users { command } => match command {
            UsersCommand::List { id } => users::list(cli, &client, id).await,
            UsersCommand::Add {
                id,
                email,
                password_stdin,
            } => users::add(cli, &client, id, email, *password_stdin).await,
            UsersCommand::Remove { id, email } => users::remove(cli, &client, id, email).await,
        },
        TenantsCommand::Token {
            id,
            user,
            password_stdin,
        } => users::token(cli, &client, id, user, *password_stdin).await,
        TenantsCommand::Call {
            id,
            method,
            path,
            data,
            user,
            password_stdin,
        } => {
            let call = users::Call {
                id,
                user,
                method,
                path,
                data: data.as_deref(),
                password_stdin: *password_stdin,
            };
            users::call(cli, &client, &call).await
        }
        TenantsCommand::Wait {
            id,
            status,
            timeout,
        } => wait_for(cli, &client, id, *status, Duration::from_secs(*timeout)).await,
    }
}

/// `silos tenants list`: every page of them; as text, with the outdated ones marked.
async fn list(
    cli: &Cli,
    client: &ApiClient,
    status: Option<Status>,
    page_size: u32,
) -> Result<(), Error> {
    let list = client.tenants_where(status, page_size as usize).await?;
    let tenants = serde_json::to_value(&list)
        .map_err(|e| Error::Tenant(format!("cannot render the tenants: {e}")))?;
    let published = if cli.output == OutputFormat::Text && !list.is_empty() {
        published(client).await
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
    Ok(())
}

/// `silos tenants create`: onboards the tenant.
async fn create(cli: &Cli, client: &ApiClient, request: &OnboardingRequest) -> Result<(), Error> {
    let tenant = client.post_once("/onboarding", body(request)).await?;
    let t: Tenant = decode(&tenant, "a tenant")?;
    print(cli, &tenant, || {
        format!(
            "created tenant {} ({}) in cell {}, status {}\n",
            t.tenant_name,
            t.tenant_id,
            t.cell.as_deref().unwrap_or("-"),
            t.status
        )
    });
    Ok(())
}

/// `silos tenants delete`: offboards the tenant, and says which of its data is kept.
async fn delete(cli: &Cli, client: &ApiClient, request: &DeleteRequest) -> Result<(), Error> {
    // Its tables before the stack goes, to say what is kept.
    let resources = client.tenant_info(&request.tenant_id).await.ok();
    let tenant = client.post_once("/delete", body(request)).await?;
    let t: Tenant = decode(&tenant, "a tenant")?;
    let kept = match (&resources, deletes_data(client, &t.deployment_type).await) {
        (Some(r), false) => tables(r),
        _ => Vec::new(),
    };
    let buckets = resources
        .as_deref()
        .map(render::buckets)
        .unwrap_or_default();
    print(cli, &tenant, || render::deleted(&t, &kept, &buckets));
    Ok(())
}

/// Whether the deployment type deletes tenant data with the tenant (then nothing is kept).
/// False when the API cannot say.
async fn deletes_data(client: &ApiClient, deployment_type: &str) -> bool {
    client
        .deployment_types()
        .await
        .ok()
        .and_then(|types| {
            types
                .into_iter()
                .find(|d| d.deployment_type == deployment_type)
        })
        .is_some_and(|d| d.tenant_data == crate::blueprint::TenantData::Delete)
}

/// `silos tenants info`: the tenant and its stack's resources.
async fn info(cli: &Cli, client: &ApiClient, id: &str) -> Result<(), Error> {
    let tenant = client.get(&format!("/tenants/{id}")).await?;
    let t: Tenant = decode(&tenant, "a tenant")?;
    let resources = client.tenant_info(id).await?;
    let value = json!({"tenant": tenant, "resources": resources});
    print(cli, &value, || render::info(&t, &resources));
    Ok(())
}

/// `silos tenants retry`: provisions a failed tenant again.
async fn retry(cli: &Cli, client: &ApiClient, id: &str) -> Result<(), Error> {
    let request = TenantRequest {
        tenant_id: id.to_owned(),
    };
    let tenant = client.post_once("/retry", body(&request)).await?;
    let t: Tenant = decode(&tenant, "a tenant")?;
    print(cli, &tenant, || {
        format!(
            "retrying tenant {} ({}): status {}\n",
            t.tenant_name, t.tenant_id, t.status
        )
    });
    Ok(())
}

/// `silos tenants wait`: [`wait`], then the tenant.
async fn wait_for(
    cli: &Cli,
    client: &ApiClient,
    id: &str,
    status: Status,
    timeout: Duration,
) -> Result<(), Error> {
    let (tenant, t) = wait(client, id, status, timeout).await?;
    print(cli, &tenant, || {
        format!("tenant {} ({}) is {}\n", t.tenant_name, id, status)
    });
    Ok(())
}

/// Polls the tenant until it has `status`, and returns it as the API answered (for
/// `--output json`) and typed. A tenant that ends in `failed` or `deleted` instead stops the
/// wait early.
pub async fn wait(
    client: &ApiClient,
    id: &str,
    status: Status,
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
            if t.status == status {
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
