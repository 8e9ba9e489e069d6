//! A tenant directory: a Cognito user pool whose users an administrator invites (no
//! self-sign-up), each carrying the tenant's id in an immutable attribute, and one app client
//! that signs them in.

use crate::cfn::cognito::{self, user_pool, user_pool_client};
use crate::cfn::{Expr, Handle, RemovalPolicy, Template, Value};

use super::count;

/// The custom attribute every user of a tenant directory carries: the tenant's id. Its claim
/// in an ID token is `custom:tenantId`, which the tenant function checks.
pub const TENANT_ATTRIBUTE: &str = "tenantId";
/// [`TENANT_ATTRIBUTE`] as the token's claim and the user's attribute name.
pub const TENANT_CLAIM: &str = "custom:tenantId";

/// A user pool and its app client.
#[derive(Clone, Debug, PartialEq)]
pub struct UserPool {
    id: String,
    name: Value<String>,
}

impl UserPool {
    pub fn new(id: &str, name: impl Into<Value<String>>) -> UserPool {
        UserPool {
            id: id.to_owned(),
            name: name.into(),
        }
    }

    /// The pool's id (`Ref`).
    pub fn pool_id(&self) -> Expr {
        Handle::<cognito::UserPool>::new(&self.id).r#ref()
    }

    /// The app client's id (`Ref`): the audience of the pool's ID tokens.
    pub fn client_id(&self) -> Expr {
        Handle::<cognito::UserPoolClient>::new(&self.client()).r#ref()
    }

    /// The pool's token issuer, `https://cognito-idp.{region}.amazonaws.com/{poolId}`: the
    /// tokens' `iss`, built as Cognito builds it rather than read from an attribute whose
    /// scheme the documentation leaves unsaid (ProviderURL).
    pub fn issuer(&self) -> Expr {
        Expr::sub(format!(
            "https://cognito-idp.${{AWS::Region}}.${{AWS::URLSuffix}}/${{{}}}",
            self.id
        ))
    }

    pub fn arn(&self) -> Expr {
        Expr::get_att(&self.id, "Arn")
    }

    fn client(&self) -> String {
        format!("{}Client", self.id)
    }

    /// The pool and its client. The pool goes with the stack: a tenant's directory is
    /// offboarded with it.
    pub fn add_to(&self, t: &mut Template) {
        t.add(&self.id, &self.pool()).removal(RemovalPolicy::Delete);
        t.add(&self.client(), &self.app_client());
    }

    fn pool(&self) -> cognito::UserPool {
        cognito::UserPool {
            user_pool_name: Some(self.name.clone()),
            // Users sign in with their email; only an administrator (the control plane, or
            // `silos tenants users add`) creates them, with Cognito's invitation.
            username_attributes: Some(vec![Value::Lit(user_pool::UsernameAttributes::Email)]),
            auto_verified_attributes: Some(vec![Value::Lit(
                user_pool::AutoVerifiedAttributes::Email,
            )]),
            admin_create_user_config: Some(user_pool::AdminCreateUserConfig {
                allow_admin_create_user_only: Some(true.into()),
                ..Default::default()
            }),
            schema: Some(vec![user_pool::SchemaAttribute {
                name: Some(TENANT_ATTRIBUTE.into()),
                attribute_data_type: Some(Value::Lit(user_pool::AttributeDataType::String)),
                // Set once, at the invitation: no user can move to another tenant.
                mutable: Some(false.into()),
                string_attribute_constraints: Some(user_pool::StringAttributeConstraints {
                    min_length: Some("36".into()),
                    max_length: Some("36".into()),
                }),
                ..Default::default()
            }]),
            policies: Some(user_pool::Policies {
                password_policy: Some(user_pool::PasswordPolicy {
                    minimum_length: Some(count(12)),
                    require_lowercase: Some(true.into()),
                    require_uppercase: Some(true.into()),
                    require_numbers: Some(true.into()),
                    require_symbols: Some(true.into()),
                    temporary_password_validity_days: Some(count(7)),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            mfa_configuration: Some(Value::Lit(user_pool::MfaConfiguration::Optional)),
            enabled_mfas: Some(vec!["SOFTWARE_TOKEN_MFA".into()]),
            account_recovery_setting: Some(user_pool::AccountRecoverySetting {
                recovery_mechanisms: Some(vec![user_pool::RecoveryOption {
                    name: Some(Value::Lit(user_pool::Name::VerifiedEmail)),
                    priority: Some(count(1)),
                }]),
            }),
            ..cognito::UserPool::new()
        }
    }

    fn app_client(&self) -> cognito::UserPoolClient {
        use user_pool_client::ExplicitAuthFlows as Flow;
        cognito::UserPoolClient {
            client_name: Some(self.name.clone()),
            generate_secret: Some(false.into()),
            // SRP for the product's own sign-in page; the admin flow (IAM-signed) for
            // `silos tenants token` and `call`; refresh tokens for both.
            explicit_auth_flows: Some(vec![
                Value::Lit(Flow::AllowUserSrpAuth),
                Value::Lit(Flow::AllowAdminUserPasswordAuth),
                Value::Lit(Flow::AllowRefreshTokenAuth),
            ]),
            prevent_user_existence_errors: Some(Value::Lit(
                user_pool_client::PreventUserExistenceErrors::Enabled,
            )),
            enable_token_revocation: Some(true.into()),
            id_token_validity: Some(count(60)),
            access_token_validity: Some(count(60)),
            refresh_token_validity: Some(count(30)),
            token_validity_units: Some(user_pool_client::TokenValidityUnits {
                id_token: Some(Value::Lit(user_pool_client::IdToken::Minutes)),
                access_token: Some(Value::Lit(user_pool_client::AccessToken::Minutes)),
                refresh_token: Some(Value::Lit(user_pool_client::RefreshToken::Days)),
            }),
            supported_identity_providers: Some(vec!["COGNITO".into()]),
            // A user reads their tenant id but cannot write it (nor could they: it is
            // immutable).
            read_attributes: Some(vec![
                "email".into(),
                "email_verified".into(),
                TENANT_CLAIM.into(),
            ]),
            write_attributes: Some(vec!["email".into()]),
            ..cognito::UserPoolClient::new(self.pool_id())
        }
    }
}
