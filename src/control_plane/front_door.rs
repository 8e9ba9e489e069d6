//! A running tenant's front door and directory, read from its stack's outputs into its record,
//! and its first administrator's invitation. The provisioner does this for each record the
//! [`READY`](crate::functions::READY) filter passes: a running tenant with no `endpoint` yet.
//!
//! The invitation comes first and the record after: a record redelivered after a lost answer
//! invites again, which finds the user there and counts as done, while a record written first
//! and an invitation lost after it would never be retried (the written record no longer passes
//! the filter). An invitation that fails for good is kept in the record
//! (`adminInviteError`), for `silos tenants users add`; it never holds up the stream.

use std::collections::BTreeMap;

use aws_sdk_cognitoidentityprovider::types::{AttributeType, DeliveryMediumType};

use super::tenant::{Identity, Tenant};
use super::{ControlPlane, Error, cfn_error};
use crate::blueprint::outputs;

/// The user attribute that names a user's tenant (the directory's immutable custom attribute,
/// the tokens' `custom:tenantId` claim).
pub const TENANT_ATTRIBUTE: &str = "custom:tenantId";

impl ControlPlane {
    /// Serves each tenant's front door under `base` (local mode): the record's endpoint is
    /// `{base}/silo/{tenantId}` rather than the stack's API. Set once, before any tenant runs.
    pub fn serve_front_doors_at(&self, base: &str) {
        let _ = self
            .inner
            .front_doors
            .set(base.trim_end_matches('/').to_owned());
    }

    /// The home cell's Cognito client, for a control plane built from bare clients (which
    /// otherwise invites no one). Set once.
    pub fn use_home_cognito(&self, client: aws_sdk_cognitoidentityprovider::Client) {
        let _ = self.inner.home_cognito.set(client);
    }

    /// Records `tenant`'s front door and directory from its stack's outputs, inviting its
    /// administrator first. A stack with no `ApiEndpoint` output has no front door: nothing
    /// is written. Returns the tenant as it now stands.
    pub async fn record_front_door(&self, tenant: Tenant) -> Result<Tenant, Error> {
        let Some(stack) = tenant.stack_id.clone().or(tenant.stack_name.clone()) else {
            return Ok(tenant);
        };
        let reach = self.reach(&tenant).await?;
        let described = reach.paced(
            reach
                .cfn()
                .await
                .describe_stacks()
                .stack_name(&stack)
                .send()
                .await,
        );
        let outputs: BTreeMap<String, String> = described
            .map_err(cfn_error("DescribeStacks"))?
            .stacks()
            .first()
            .map(|s| {
                s.outputs()
                    .iter()
                    .filter_map(|o| {
                        Some((o.output_key()?.to_owned(), o.output_value()?.to_owned()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let Some(endpoint) = outputs.get(outputs::ENDPOINT) else {
            return Ok(tenant);
        };
        let endpoint = match self.inner.front_doors.get() {
            Some(base) => format!("{base}/silo/{}", tenant.tenant_id),
            None => endpoint.clone(),
        };
        let identity = match (
            outputs.get(outputs::USER_POOL),
            outputs.get(outputs::CLIENT),
            outputs.get(outputs::ISSUER),
        ) {
            (Some(pool), Some(client), Some(issuer)) => Some(Identity {
                user_pool_id: pool.clone(),
                client_id: client.clone(),
                issuer: issuer.clone(),
            }),
            _ => None,
        };
        let cognito = reach.cognito.clone().or_else(|| {
            reach
                .cell
                .is_home()
                .then(|| self.inner.home_cognito.get().cloned())
                .flatten()
        });
        let invite_error = match (&tenant.admin_email, &identity, &cognito) {
            (Some(email), Some(identity), Some(cognito)) => {
                invite(cognito, identity, email, &tenant.tenant_id)
                    .await
                    .err()
            }
            (Some(_), Some(_), None) => {
                Some("this control plane has no Cognito client to invite with".to_owned())
            }
            _ => None,
        };
        if let Some(reason) = &invite_error {
            tracing::warn!(tenant = %tenant.tenant_id, %reason, "the administrator's invitation failed");
        }
        match self
            .store
            .record_front_door(
                &tenant.tenant_id,
                &endpoint,
                identity.as_ref(),
                invite_error.as_deref(),
            )
            .await
        {
            Ok(t) => Ok(t),
            // Moved on (updating, deleting): the next return to running records it.
            Err(super::store::Error::WrongStatus { .. }) => Ok(tenant),
            Err(e) => Err(e.into()),
        }
    }
}

/// Creates `email` in the tenant's directory with Cognito's invitation (a temporary password
/// by email), naming its tenant. A user already there counts as invited. The error is the
/// reason, for the record.
pub async fn invite(
    cognito: &aws_sdk_cognitoidentityprovider::Client,
    identity: &Identity,
    email: &str,
    tenant_id: &str,
) -> Result<(), String> {
    let attribute = |name: &str, value: &str| {
        AttributeType::builder()
            .name(name)
            .value(value)
            .build()
            .map_err(|e| e.to_string())
    };
    let result = cognito
        .admin_create_user()
        .user_pool_id(&identity.user_pool_id)
        .username(email)
        .user_attributes(attribute("email", email)?)
        .user_attributes(attribute("email_verified", "true")?)
        .user_attributes(attribute(TENANT_ATTRIBUTE, tenant_id)?)
        .desired_delivery_mediums(DeliveryMediumType::Email)
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_username_exists_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(format!(
            "Cognito AdminCreateUser: {}",
            crate::aws::sdk_message(&e)
        )),
    }
}
