//! Tenant lifecycle events: what the event publisher puts on the control plane's
//! bus, `{prefix}-events`, for each committed tenant transition. Pure: a stream record in, an
//! event (or none) out; publishing is the host's.
//!
//! - **From the stream, never from the API.** A record exists only for a committed write, so a
//!   refused write publishes nothing.
//! - **One event per transition.** The table's stream is NEW_IMAGE (changing it would replace
//!   the stream), so the old status comes from the image's `previousStatus`, which every
//!   write of the store records: the status moved from, or the status itself after a write
//!   that moved nothing (a stack id, a change set). An OLD_IMAGE, where a stream has one, wins.
//! - **At least once.** A redelivered record gives the same event with the same
//!   [`Detail::idempotency_key`]: tenant id, status and `statusChangedAt`.
//! - Lock items and idempotency records (they carry `kind`) and removals never produce one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::store;
use super::tenant::{Status, Tenant, Timestamp};

pub mod publish;
pub mod subscription;

pub use publish::{PublishError, Publisher};
pub use subscription::{Subscription, SubscriptionError};

/// The `source` of every lifecycle event.
pub const SOURCE: &str = "silos.tenants";

/// What a transition means for the rest of the SaaS: one detail type each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A new tenant (`initiated`): onboarding was requested.
    Requested,
    /// `provisioning`: its stack is being created (also after `POST /retry`).
    ProvisioningStarted,
    /// `provisioning` → `running`: the stack is created.
    Provisioned,
    /// `initiated` or `provisioning` → `failed`.
    ProvisioningFailed,
    /// `running` → `updating`.
    UpdateStarted,
    /// `updating` → `running` at the new version.
    Updated,
    /// `updating` → `running` with a reason: the update rolled back (or could not start), the
    /// old version stays.
    UpdateRolledBack,
    /// `running` or `updating` → `failed` (UPDATE_ROLLBACK_FAILED).
    UpdateFailed,
    /// → `deleting`.
    Offboarding,
    /// `deleting` → `failed` (DELETE_FAILED).
    OffboardingFailed,
    /// → `deleted`.
    Offboarded,
    /// No status moved: drift detection found the stack's drift status changed (to
    /// `DRIFTED`, or back), or found it `DRIFTED` at its first check.
    Drifted,
    /// No status moved: the stack's alarms changed the tenant's health (`ok` ↔ `alarm`, or
    /// which alarms fire).
    HealthChanged,
}

impl Kind {
    pub const ALL: [Kind; 13] = [
        Kind::Requested,
        Kind::ProvisioningStarted,
        Kind::Provisioned,
        Kind::ProvisioningFailed,
        Kind::UpdateStarted,
        Kind::Updated,
        Kind::UpdateRolledBack,
        Kind::UpdateFailed,
        Kind::Offboarding,
        Kind::OffboardingFailed,
        Kind::Offboarded,
        Kind::Drifted,
        Kind::HealthChanged,
    ];

    /// Our detail type.
    pub fn silos(self) -> &'static str {
        match self {
            Kind::Requested => "Tenant Requested",
            Kind::ProvisioningStarted => "Tenant Provisioning Started",
            Kind::Provisioned => "Tenant Provisioned",
            Kind::ProvisioningFailed => "Tenant Provisioning Failed",
            Kind::UpdateStarted => "Tenant Update Started",
            Kind::Updated => "Tenant Updated",
            Kind::UpdateRolledBack => "Tenant Update Rolled Back",
            Kind::UpdateFailed => "Tenant Update Failed",
            Kind::Offboarding => "Tenant Offboarding",
            Kind::OffboardingFailed => "Tenant Offboarding Failed",
            Kind::Offboarded => "Tenant Offboarded",
            Kind::Drifted => "Tenant Drifted",
            Kind::HealthChanged => "Tenant Health Changed",
        }
    }

    /// sbt-aws's detail type for the same moment, where it has one. It has none for
    /// provisioning started and for updates.
    pub fn sbt_aws(self) -> Option<&'static str> {
        Some(match self {
            Kind::Requested => "onboardingRequest",
            Kind::Provisioned => "onboardingSuccess",
            Kind::ProvisioningFailed => "onboardingFailure",
            Kind::Offboarding => "offboardingRequest",
            Kind::Offboarded => "offboardingSuccess",
            Kind::OffboardingFailed => "offboardingFailure",
            Kind::ProvisioningStarted
            | Kind::UpdateStarted
            | Kind::Updated
            | Kind::UpdateRolledBack
            | Kind::UpdateFailed
            | Kind::Drifted
            | Kind::HealthChanged => return None,
        })
    }

    /// The detail type under `names`. With sbt-aws's names, a kind it has no name for keeps
    /// ours, so no transition goes unpublished.
    pub fn detail_type(self, names: DetailTypes) -> &'static str {
        match names {
            DetailTypes::Silos => self.silos(),
            DetailTypes::SbtAws => self.sbt_aws().unwrap_or_else(|| self.silos()),
        }
    }
}

/// Which detail types the bus carries: ours, or sbt-aws's where it has them
/// (`SILOS_EVENT_NAMES=silos|sbt-aws`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DetailTypes {
    #[default]
    Silos,
    SbtAws,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event names {0:?}: expected silos or sbt-aws")]
pub struct UnknownDetailTypes(pub String);

impl std::str::FromStr for DetailTypes {
    type Err = UnknownDetailTypes;
    fn from_str(s: &str) -> Result<DetailTypes, UnknownDetailTypes> {
        match s {
            "silos" => Ok(DetailTypes::Silos),
            "sbt-aws" => Ok(DetailTypes::SbtAws),
            other => Err(UnknownDetailTypes(other.to_owned())),
        }
    }
}

impl DetailTypes {
    pub fn as_str(self) -> &'static str {
        match self {
            DetailTypes::Silos => "silos",
            DetailTypes::SbtAws => "sbt-aws",
        }
    }
}

/// What the move from `old` (`None`: a new record) to `new`'s status is, or `None` when the
/// status did not change or the move is none the control plane makes.
pub fn kind(old: Option<Status>, new: &Tenant) -> Option<Kind> {
    use Status::*;
    let to = new.status;
    let Some(from) = old else {
        // A new record. (A record written before lifecycle events has no previous status
        // either: only its first status can be told.)
        return (to == Initiated).then_some(Kind::Requested);
    };
    if from == to || !from.can_move_to(to) {
        return None;
    }
    Some(match (from, to) {
        (_, Provisioning) => Kind::ProvisioningStarted,
        (Provisioning, Running) => Kind::Provisioned,
        (Updating, Running) if new.status_reason.is_some() => Kind::UpdateRolledBack,
        (Updating, Running) => Kind::Updated,
        (Initiated | Provisioning, Failed) => Kind::ProvisioningFailed,
        (Running | Updating, Failed) => Kind::UpdateFailed,
        (Deleting, Failed) => Kind::OffboardingFailed,
        (Running, Updating) => Kind::UpdateStarted,
        (_, Deleting) => Kind::Offboarding,
        (_, Deleted) => Kind::Offboarded,
        // can_move_to allows nothing else.
        _ => return None,
    })
}

/// The tenant as an event carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantDetail {
    pub tenant_id: String,
    pub tenant_name: String,
    pub deployment_type: String,
    pub status: Status,
    pub status_reason: Option<String>,
    pub status_changed_at: Timestamp,
    pub version: Option<String>,
    pub stack_name: Option<String>,
    /// The cell the tenant lives in; `None` for a tenant recorded before cells (the control
    /// plane's own).
    #[serde(default)]
    pub cell: Option<String>,
    /// The deployment type a tier move takes it to, while it is `updating` for one (in
    /// `Tenant Update Started`). A move that rolls back says so in `statusReason`, with the
    /// tenant on its old `deploymentType`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_deployment_type: Option<String>,
}

/// An event's `detail`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Detail {
    /// `{tenantId}:{status}:{statusChangedAt}`: the same for every delivery of one
    /// transition, different for any other. A consumer keeps the keys it has handled.
    pub idempotency_key: String,
    /// The status moved from; `None` for a new tenant.
    pub previous_status: Option<Status>,
    pub tenant: TenantDetail,
    /// The tenant stack's outputs, once it is running, where the publisher read them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_outputs: Option<BTreeMap<String, String>>,
    /// A `Tenant Drifted` event's drift: the new status, the one before, the resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<super::tenant::Drift>,
    /// A `Tenant Health Changed` event's health: the status, the one before, each alarm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<super::tenant::Health>,
}

/// A lifecycle event as a consumer receives it from EventBridge (the envelope's fields it
/// needs).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Received {
    pub source: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub detail: Detail,
}

/// One lifecycle event, ready for PutEvents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: Kind,
    pub detail_type: &'static str,
    pub detail: Detail,
}

impl Event {
    pub fn source(&self) -> &'static str {
        SOURCE
    }

    /// The detail as PutEvents takes it.
    pub fn detail_json(&self) -> String {
        // A struct of strings, options and a map of strings always serializes.
        serde_json::to_string(&self.detail).unwrap_or_default()
    }
}

/// The idempotency key of `tenant`'s current status.
pub fn idempotency_key(tenant: &Tenant) -> String {
    format!(
        "{}:{}:{}",
        tenant.tenant_id, tenant.status, tenant.status_changed_at
    )
}

/// The event of a transition from `old` to `new`, or `None`.
pub fn event(old: Option<Status>, new: &Tenant, names: DetailTypes) -> Option<Event> {
    let kind = kind(old, new)?;
    Some(Event {
        kind,
        detail_type: kind.detail_type(names),
        detail: Detail {
            idempotency_key: idempotency_key(new),
            previous_status: old,
            tenant: tenant_detail(new),
            stack_outputs: None,
            drift: None,
            health: None,
        },
    })
}

fn tenant_detail(new: &Tenant) -> TenantDetail {
    TenantDetail {
        tenant_id: new.tenant_id.clone(),
        tenant_name: new.tenant_name.clone(),
        deployment_type: new.deployment_type.clone(),
        cell: new.cell.clone(),
        status: new.status,
        status_reason: new.status_reason.clone(),
        status_changed_at: new.status_changed_at,
        version: new.version.clone(),
        stack_name: new.stack_name.clone(),
        target_deployment_type: new.target_deployment_type.clone(),
    }
}

/// Whether the write whose image this is is the one the record's `marker` attribute names
/// (`driftWrite`, `healthWrite`): that write's own image, and no later one.
fn marked(image: &serde_dynamo::Item, marker: &str) -> bool {
    let text = |name: &str| match image.get(name) {
        Some(serde_dynamo::AttributeValue::S(s)) => Some(s.as_str()),
        _ => None,
    };
    text(store::attribute::WRITE_ID).is_some_and(|this| text(marker) == Some(this))
}

/// The `Tenant Drifted` event of a drift result's write, if its status changed: the write
/// whose `writeId` its record's `driftWrite` names, so no later write of the record publishes
/// it again. A first result publishes only if it is `DRIFTED`. Its key is the tenant, `drift`
/// and the result's time.
fn drift_event(image: &serde_dynamo::Item, new: &Tenant, names: DetailTypes) -> Option<Event> {
    if !marked(image, store::attribute::DRIFT_WRITE) {
        return None;
    }
    let drift = new.drift.as_ref()?;
    let checked_at = drift.checked_at?;
    let changed = match drift.previous {
        Some(previous) => previous != drift.status,
        None => drift.status == super::tenant::DriftStatus::Drifted,
    };
    if !changed {
        return None;
    }
    Some(Event {
        kind: Kind::Drifted,
        detail_type: Kind::Drifted.detail_type(names),
        detail: Detail {
            idempotency_key: format!("{}:drift:{checked_at}", new.tenant_id),
            previous_status: Some(new.status),
            tenant: tenant_detail(new),
            stack_outputs: None,
            drift: Some(drift.clone()),
            health: None,
        },
    })
}

/// The `Tenant Health Changed` event of a health write that changed the tenant's health:
/// the write whose `writeId` its record's `healthWrite` names, as for drift. Its key is the
/// tenant, `health` and the change's time.
fn health_event(image: &serde_dynamo::Item, new: &Tenant, names: DetailTypes) -> Option<Event> {
    if !marked(image, store::attribute::HEALTH_WRITE) {
        return None;
    }
    let health = new.health.as_ref()?;
    Some(Event {
        kind: Kind::HealthChanged,
        detail_type: Kind::HealthChanged.detail_type(names),
        detail: Detail {
            idempotency_key: format!("{}:health:{}", new.tenant_id, health.changed_at),
            previous_status: Some(new.status),
            tenant: tenant_detail(new),
            stack_outputs: None,
            drift: None,
            health: Some(super::tenant::Health {
                revision: String::new(),
                ..health.clone()
            }),
        },
    })
}

/// The event of one stream record, from its images: `Ok(None)` for a removal, a lock item or
/// an idempotency record, and a write that changed no status.
pub fn from_record(
    event_name: &str,
    old_image: &serde_dynamo::Item,
    new_image: &serde_dynamo::Item,
    names: DetailTypes,
) -> Result<Option<Event>, store::Error> {
    if !matches!(event_name, "INSERT" | "MODIFY") || new_image.is_empty() {
        return Ok(None);
    }
    let id = match new_image.get(store::attribute::TENANT_ID) {
        Some(serde_dynamo::AttributeValue::S(id)) => id.as_str(),
        _ => "",
    };
    if new_image.contains_key(store::attribute::KIND) || !store::is_tenant_id(id) {
        return Ok(None);
    }
    let new = store::from_image(new_image)?;
    let old = match event_name {
        "INSERT" => None,
        _ if !old_image.is_empty() && !old_image.contains_key(store::attribute::KIND) => {
            Some(store::from_image(old_image)?.status)
        }
        _ => new.previous_status,
    };
    if event_name == "MODIFY" && old.is_none() {
        // A record written before lifecycle events: its old status is unknown.
        return Ok(None);
    }
    Ok(event(old, &new, names)
        .or_else(|| drift_event(new_image, &new, names))
        .or_else(|| health_event(new_image, &new, names)))
}

#[cfg(test)]
mod tests;
