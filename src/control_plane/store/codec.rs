//! The item codec: a tenant as its item (camelCase attribute names, no NULLs, the timestamps
//! as numbers), a lock item and an idempotency record.

use super::*;

/// A tenant as its item. The attribute names are the record's (camelCase); absent optional
/// fields are left out, never written as NULL (`writeId`, the last write's marker, is the
/// store's own and not read back); `attempt` is a number, and so are the two
/// timestamps (see [`TIMESTAMPS`]).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TenantItem {
    pub(super) tenant_id: String,
    pub(super) tenant_name: String,
    pub(super) tenant_safe_name: String,
    pub(super) deployment_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) cell: Option<String>,
    pub(super) status: Status,
    pub(super) created: Timestamp,
    pub(super) status_changed_at: Timestamp,
    #[serde(default)]
    pub(super) attempt: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) stack_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) stack_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) status_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) target_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) target_deployment_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) change_set: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) name_lock: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) previous_status: Option<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) identity: Option<Identity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) admin_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) admin_invite_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) drift: Option<super::super::tenant::Drift>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) health: Option<super::super::tenant::Health>,
}

/// The attributes that hold a [`Timestamp`] as a DynamoDB number whose text is the
/// timestamp's (`1700000000.120`, DESIGN.md section 10). serde_dynamo writes numbers only
/// from Rust numbers, which would drop the trailing zeros, so these go through serde as strings
/// and change type here.
pub(super) const TIMESTAMPS: [&str; 2] = ["created", "statusChangedAt"];

impl From<&Tenant> for TenantItem {
    fn from(t: &Tenant) -> TenantItem {
        let t = t.clone();
        TenantItem {
            tenant_id: t.tenant_id,
            tenant_name: t.tenant_name,
            tenant_safe_name: t.tenant_safe_name,
            deployment_type: t.deployment_type,
            cell: t.cell,
            status: t.status,
            created: t.created,
            status_changed_at: t.status_changed_at,
            attempt: t.attempt,
            stack_name: t.stack_name,
            stack_id: t.stack_id,
            status_reason: t.status_reason,
            version: t.version,
            target_version: t.target_version,
            target_deployment_type: t.target_deployment_type,
            change_set: t.change_set,
            name_lock: t.name_lock,
            previous_status: t.previous_status,
            endpoint: t.endpoint,
            identity: t.identity,
            admin_email: t.admin_email,
            admin_invite_error: t.admin_invite_error,
            drift: t.drift,
            health: t.health,
        }
    }
}

impl From<TenantItem> for Tenant {
    fn from(t: TenantItem) -> Tenant {
        Tenant {
            tenant_id: t.tenant_id,
            tenant_name: t.tenant_name,
            tenant_safe_name: t.tenant_safe_name,
            deployment_type: t.deployment_type,
            cell: t.cell,
            status: t.status,
            created: t.created,
            stack_name: t.stack_name,
            stack_id: t.stack_id,
            status_reason: t.status_reason,
            status_changed_at: t.status_changed_at,
            version: t.version,
            target_version: t.target_version,
            target_deployment_type: t.target_deployment_type,
            change_set: t.change_set,
            attempt: t.attempt,
            name_lock: t.name_lock,
            previous_status: t.previous_status,
            endpoint: t.endpoint,
            identity: t.identity,
            admin_email: t.admin_email,
            admin_invite_error: t.admin_invite_error,
            drift: t.drift,
            health: t.health,
        }
    }
}

/// A name lock item.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LockItem<'a> {
    pub(super) tenant_id: &'a str,
    pub(super) kind: &'a str,
    pub(super) owner: &'a str,
    pub(super) name_key: &'a str,
}

/// An idempotency record as its item: the claim, and once answered the response.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RecordItem {
    pub(super) tenant_id: String,
    pub(super) kind: String,
    pub(super) route: String,
    pub(super) request_hash: String,
    /// The tenant the claimed write touches.
    pub(super) resource: String,
    /// Epoch seconds (the table's TTL attribute).
    pub(super) expires_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) response_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) response_body: Option<String>,
}

/// `value` as an item. `id` names the record in the error, which only a value serde_dynamo
/// cannot represent would cause.
pub(super) fn encode(id: &str, value: &impl Serialize) -> Result<Item, Error> {
    serde_dynamo::to_item(value).map_err(|e| Error::Unwritable(id.to_owned(), e.to_string()))
}

pub(super) fn to_item(t: &Tenant) -> Result<Item, Error> {
    let mut item = encode(&t.tenant_id, &TenantItem::from(t))?;
    for k in TIMESTAMPS {
        if let Some(AttributeValue::S(text)) = item.remove(k) {
            item.insert(k.to_owned(), AttributeValue::N(text));
        }
    }
    Ok(item)
}

/// A tenant from a stream record's image (the Lambda event's attribute values).
pub fn from_image(image: &serde_dynamo::Item) -> Result<Tenant, Error> {
    let item: Item = image
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect();
    from_item(&item)
}

pub(super) fn from_item(item: &Item) -> Result<Tenant, Error> {
    let id = item
        .get("tenantId")
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default();
    let corrupt = |what: String| Error::Corrupt(id.clone(), what);
    let mut item = item.clone();
    for k in TIMESTAMPS {
        match item.remove(k) {
            Some(AttributeValue::N(text)) => {
                item.insert(k.to_owned(), AttributeValue::S(text));
            }
            _ => return Err(corrupt(format!("{k} is missing or not a timestamp"))),
        }
    }
    serde_dynamo::from_item::<_, TenantItem>(item)
        .map(Tenant::from)
        .map_err(|e| corrupt(e.to_string()))
}
