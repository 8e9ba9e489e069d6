//! A tenant's users, from the command line: `silos tenants users list|add|remove`, and for
//! trying a silo, `silos tenants token` (sign in, print an ID token) and `silos tenants call`
//! (sign in, call the tenant's front door).
//!
//! The tenant's record names its directory (`identity`) and its front door (`endpoint`); the
//! CLI asks Cognito directly, with the operator's credentials (the emulator's in local mode:
//! `--endpoint-url`, or the one `silos local` wrote in `out/outputs.json`). Signing in uses
//! the admin password flow (ADMIN_USER_PASSWORD_AUTH), which the reference silo's app client
//! allows; the password comes from `--password-stdin` or `SILOS_USER_PASSWORD`, never from a
//! flag.

use std::io::Read;
use std::path::Path;

use aws_sdk_cognitoidentityprovider::Client as Cognito;
use aws_sdk_cognitoidentityprovider::types::{AttributeType, AuthFlowType, DeliveryMediumType};
use serde_json::{Value, json};

use super::super::client::ApiClient;
use super::super::outputs::{OUTPUTS_FILE, Outputs};
use super::super::{Cli, Error};
use super::render::{print, table};
use crate::control_plane::TENANT_ATTRIBUTE;
use crate::control_plane::tenant::{Identity, Tenant};

/// The environment variable a password may come from, for scripts.
pub const PASSWORD_VARIABLE: &str = "SILOS_USER_PASSWORD";

/// The tenant's record and its directory, or why it has none.
async fn directory(client: &ApiClient, id: &str) -> Result<(Tenant, Identity), Error> {
    let tenant = client.tenant(id).await?;
    let identity = tenant.identity.clone().ok_or_else(|| {
        Error::Tenant(format!(
            "tenant {id} has no directory recorded (status {}): its stack has none, or it is not running yet",
            tenant.status
        ))
    })?;
    Ok((tenant, identity))
}

/// A Cognito client for the directories: the CLI's AWS settings, with local mode's emulator
/// when no endpoint is given and `silos local` wrote one.
async fn cognito(cli: &Cli) -> Result<Cognito, Error> {
    let mut options = cli.aws_options();
    if options.endpoint_url.is_none()
        && let Some(outputs) = Outputs::read(Path::new(OUTPUTS_FILE))?
        && outputs.mode == "local"
    {
        options.endpoint_url = outputs.endpoint_url;
    }
    Ok(Cognito::new(&crate::aws::load(&options).await))
}

fn cognito_error<E, R>(
    operation: &str,
    e: &aws_sdk_cognitoidentityprovider::error::SdkError<E, R>,
) -> Error
where
    E: std::error::Error + aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug + 'static,
{
    Error::Tenant(format!(
        "Cognito {operation}: {}",
        crate::aws::sdk_message(e)
    ))
}

/// The password: one line of standard input with `--password-stdin`, else the environment.
fn password(from_stdin: bool) -> Result<String, Error> {
    if from_stdin {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| {
            Error::Tenant(format!("cannot read the password from standard input: {e}"))
        })?;
        let line = text.lines().next().unwrap_or_default().to_owned();
        if line.is_empty() {
            return Err(Error::Usage(
                "--password-stdin: standard input holds no password".into(),
            ));
        }
        return Ok(line);
    }
    std::env::var(PASSWORD_VARIABLE).map_err(|_| {
        Error::Usage(format!(
            "no password: pass --password-stdin, or set {PASSWORD_VARIABLE}"
        ))
    })
}

/// Every user of the directory `pool`, page by page: username, email, tenant, status, enabled.
pub async fn directory_users(cognito: &Cognito, pool: &str) -> Result<Vec<Value>, Error> {
    let mut users = Vec::new();
    let mut token = None;
    loop {
        let page = cognito
            .list_users()
            .user_pool_id(pool)
            .set_pagination_token(token)
            .send()
            .await
            .map_err(|e| cognito_error("ListUsers", &e))?;
        for u in page.users() {
            let attribute = |name: &str| {
                u.attributes()
                    .iter()
                    .find(|a| a.name() == name)
                    .and_then(|a| a.value())
                    .map(str::to_owned)
            };
            users.push(json!({
                "username": u.username(),
                "email": attribute("email"),
                "tenantId": attribute(TENANT_ATTRIBUTE),
                "status": u.user_status().map(|s| s.as_str().to_owned()),
                "enabled": u.enabled(),
            }));
        }
        token = page.pagination_token().map(str::to_owned);
        if token.is_none() {
            return Ok(users);
        }
    }
}

/// `silos tenants users list TENANT`.
pub async fn list(cli: &Cli, client: &ApiClient, id: &str) -> Result<(), Error> {
    let (_, identity) = directory(client, id).await?;
    let cognito = cognito(cli).await?;
    let users = directory_users(&cognito, &identity.user_pool_id).await?;
    let value = json!({"tenantId": id, "userPoolId": identity.user_pool_id, "users": users});
    print(cli, &value, || {
        let rows: Vec<Vec<String>> = users
            .iter()
            .map(|u| {
                ["email", "status"]
                    .iter()
                    .map(|k| u[*k].as_str().unwrap_or("-").to_owned())
                    .collect()
            })
            .collect();
        if rows.is_empty() {
            format!("no users in tenant {id}'s directory\n")
        } else {
            table(&["EMAIL", "STATUS"], &rows)
        }
    });
    Ok(())
}

/// `silos tenants users add TENANT EMAIL`: Cognito's invitation (a temporary password by
/// email), or with a password a user who can sign in at once (for trying a silo).
pub async fn add(
    cli: &Cli,
    client: &ApiClient,
    id: &str,
    email: &str,
    password_stdin: bool,
) -> Result<(), Error> {
    if let Err(why) = crate::control_plane::api::check_email(email) {
        return Err(Error::Usage(format!("{email:?} {why}")));
    }
    let set_password = if password_stdin {
        Some(password(true)?)
    } else {
        None
    };
    let (_, identity) = directory(client, id).await?;
    let cognito = cognito(cli).await?;
    let attribute = |name: &str, value: &str| {
        AttributeType::builder()
            .name(name)
            .value(value)
            .build()
            .map_err(|e| Error::Tenant(e.to_string()))
    };
    let mut request = cognito
        .admin_create_user()
        .user_pool_id(&identity.user_pool_id)
        .username(email)
        .user_attributes(attribute("email", email)?)
        .user_attributes(attribute("email_verified", "true")?)
        .user_attributes(attribute(TENANT_ATTRIBUTE, id)?);
    request = match set_password {
        // The password is set below; no invitation.
        Some(_) => request
            .message_action(aws_sdk_cognitoidentityprovider::types::MessageActionType::Suppress),
        None => request.desired_delivery_mediums(DeliveryMediumType::Email),
    };
    request
        .send()
        .await
        .map_err(|e| cognito_error("AdminCreateUser", &e))?;
    if let Some(password) = &set_password {
        cognito
            .admin_set_user_password()
            .user_pool_id(&identity.user_pool_id)
            .username(email)
            .password(password)
            .permanent(true)
            .send()
            .await
            .map_err(|e| cognito_error("AdminSetUserPassword", &e))?;
    }
    let how = if set_password.is_some() {
        "with the given password"
    } else {
        "invited by email"
    };
    let value =
        json!({"tenantId": id, "email": email, "added": true, "invited": set_password.is_none()});
    print(cli, &value, || {
        format!("added {email} to tenant {id}'s directory, {how}\n")
    });
    Ok(())
}

/// `silos tenants users remove TENANT EMAIL`.
pub async fn remove(cli: &Cli, client: &ApiClient, id: &str, email: &str) -> Result<(), Error> {
    let (_, identity) = directory(client, id).await?;
    cognito(cli)
        .await?
        .admin_delete_user()
        .user_pool_id(&identity.user_pool_id)
        .username(email)
        .send()
        .await
        .map_err(|e| cognito_error("AdminDeleteUser", &e))?;
    let value = json!({"tenantId": id, "email": email, "removed": true});
    print(cli, &value, || {
        format!("removed {email} from tenant {id}'s directory\n")
    });
    Ok(())
}

/// Signs `email` in to the tenant's directory: its ID token.
async fn sign_in(
    cli: &Cli,
    identity: &Identity,
    email: &str,
    password_stdin: bool,
) -> Result<String, Error> {
    let password = password(password_stdin)?;
    let auth = cognito(cli)
        .await?
        .admin_initiate_auth()
        .user_pool_id(&identity.user_pool_id)
        .client_id(&identity.client_id)
        .auth_flow(AuthFlowType::AdminUserPasswordAuth)
        .auth_parameters("USERNAME", email)
        .auth_parameters("PASSWORD", password)
        .send()
        .await
        .map_err(|e| cognito_error("AdminInitiateAuth", &e))?;
    if let Some(challenge) = auth.challenge_name() {
        return Err(Error::Tenant(format!(
            "{email} must answer Cognito's {} challenge first (a new password, or MFA): sign in once in your app",
            challenge.as_str()
        )));
    }
    auth.authentication_result()
        .and_then(|r| r.id_token())
        .map(str::to_owned)
        .ok_or_else(|| {
            Error::Tenant(format!(
                "Cognito signed {email} in but returned no ID token"
            ))
        })
}

/// `silos tenants token TENANT --user EMAIL`: prints the user's ID token.
pub async fn token(
    cli: &Cli,
    client: &ApiClient,
    id: &str,
    user: &str,
    password_stdin: bool,
) -> Result<(), Error> {
    let (_, identity) = directory(client, id).await?;
    let token = sign_in(cli, &identity, user, password_stdin).await?;
    let value = json!({"tenantId": id, "user": user, "idToken": token});
    print(cli, &value, || format!("{token}\n"));
    Ok(())
}

/// What `silos tenants call` does.
pub struct Call<'a> {
    pub id: &'a str,
    pub user: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub data: Option<&'a str>,
    pub password_stdin: bool,
}

/// `silos tenants call TENANT METHOD PATH [--data JSON] --user EMAIL`: signs in and calls the
/// tenant's front door; prints its answer.
pub async fn call(cli: &Cli, client: &ApiClient, c: &Call<'_>) -> Result<(), Error> {
    let method = c.method.to_ascii_uppercase();
    if !matches!(method.as_str(), "GET" | "PUT" | "POST" | "DELETE" | "PATCH") {
        return Err(Error::Usage(format!(
            "method {:?}: use GET, PUT, POST, PATCH or DELETE",
            c.method
        )));
    }
    if !c.path.starts_with('/') {
        return Err(Error::Usage(format!("path {:?} must start with /", c.path)));
    }
    let body: Option<Value> = match c.data {
        Some(text) => Some(
            serde_json::from_str(text)
                .map_err(|e| Error::Usage(format!("--data is not JSON: {e}")))?,
        ),
        None => None,
    };
    let (tenant, identity) = directory(client, c.id).await?;
    let endpoint = tenant
        .endpoint
        .clone()
        .ok_or_else(|| Error::Tenant(format!("tenant {} has no front door recorded", c.id)))?;
    let token = sign_in(cli, &identity, c.user, c.password_stdin).await?;
    let door = ApiClient::new(&endpoint, None)?.with_bearer(&token);
    let answer = door.send_json(&method, c.path, body).await?;
    print(cli, &answer, || {
        if answer.is_null() {
            String::new()
        } else {
            format!(
                "{}\n",
                serde_json::to_string_pretty(&answer).unwrap_or_default()
            )
        }
    });
    Ok(())
}
