//! The tenant record (the API's JSON shape), its statuses, the moves between them, and how
//! CloudFormation stack statuses map onto them (DESIGN.md sections 2, 3 and 10). The name rules
//! are in [`name`].

use serde::{Deserialize, Serialize};

pub mod name;

pub use name::{NameError, TenantName};

/// A tenant's status. Every change is a conditional write naming the expected current status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Initiated,
    Provisioning,
    Running,
    Updating,
    Deleting,
    Deleted,
    Failed,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Initiated,
        Status::Provisioning,
        Status::Running,
        Status::Updating,
        Status::Deleting,
        Status::Deleted,
        Status::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Initiated => "initiated",
            Status::Provisioning => "provisioning",
            Status::Running => "running",
            Status::Updating => "updating",
            Status::Deleting => "deleting",
            Status::Deleted => "deleted",
            Status::Failed => "failed",
        }
    }

    /// The status named `raw` (`running`), if it is one.
    pub fn parse(raw: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// The table of allowed moves. Anything else (such as `deleted` → `running`, from a late
    /// event) is refused, so out-of-order events never move a tenant backwards.
    pub fn can_move_to(self, next: Status) -> bool {
        use Status::*;
        matches!(
            (self, next),
            (Initiated, Provisioning | Failed | Deleted)
                | (Provisioning, Running | Failed | Deleting)
                | (Running, Updating | Deleting | Failed)
                | (Updating, Running | Failed | Deleting)
                | (Deleting, Deleted | Failed)
                // Retry re-provisions; delete offboards, straight to `deleted` with no stack.
                | (Failed, Provisioning | Deleting | Deleted)
        )
    }

    /// A status no event moves a tenant out of.
    pub fn is_terminal(self) -> bool {
        Status::ALL.iter().all(|next| !self.can_move_to(*next))
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a CloudFormation stack status means for the stack's tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackTransition {
    pub status: Status,
    /// Keep the stack's status reason as the tenant's `statusReason` (failures, and an update
    /// that rolled back).
    pub keep_reason: bool,
}

/// The explicit mapping of DESIGN.md section 10. Statuses not listed (CREATE_IN_PROGRESS,
/// cleanup phases, imports, ...) change nothing: `None`.
pub fn stack_transition(stack_status: &str) -> Option<StackTransition> {
    let (status, keep_reason) = match stack_status {
        "CREATE_COMPLETE" => (Status::Running, false),
        "CREATE_FAILED" | "ROLLBACK_IN_PROGRESS" | "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" => {
            (Status::Failed, true)
        }
        "UPDATE_IN_PROGRESS" => (Status::Updating, false),
        "UPDATE_COMPLETE" => (Status::Running, false),
        "UPDATE_ROLLBACK_COMPLETE" => (Status::Running, true),
        "UPDATE_ROLLBACK_FAILED" => (Status::Failed, true),
        "DELETE_IN_PROGRESS" => (Status::Deleting, false),
        "DELETE_COMPLETE" => (Status::Deleted, false),
        "DELETE_FAILED" => (Status::Failed, true),
        _ => return None,
    };
    Some(StackTransition {
        status,
        keep_reason,
    })
}

/// What a stack status event does to a tenant in `current`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventOutcome {
    /// Move to this status (a conditional write naming `current`).
    Move(StackTransition),
    /// Already there: nothing to write (a repeated event).
    AlreadyThere,
    /// Not an allowed move, or not a status that matters: ignore, and log.
    Ignore,
}

pub fn apply_stack_status(current: Status, stack_status: &str) -> EventOutcome {
    match stack_transition(stack_status) {
        None => EventOutcome::Ignore,
        Some(t) if t.status == current => EventOutcome::AlreadyThere,
        Some(t) if current.can_move_to(t.status) => EventOutcome::Move(t),
        Some(_) => EventOutcome::Ignore,
    }
}

/// The first 12 characters of a version, as shown to people.
pub fn short(version: &str) -> &str {
    version.get(..12).unwrap_or(version)
}

/// Seconds since the epoch with millisecond precision. Stored as a DynamoDB number, rendered
/// as a string (`"1700000000.123"`), as the reference architecture's API does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp {
    pub millis: u64,
}

impl Timestamp {
    pub fn now() -> Timestamp {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Timestamp { millis }
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:03}", self.millis / 1000, self.millis % 1000)
    }
}

/// A string that is not a [`Timestamp`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a timestamp: {0:?}")]
pub struct BadTimestamp(pub String);

impl std::str::FromStr for Timestamp {
    type Err = BadTimestamp;
    fn from_str(s: &str) -> Result<Timestamp, BadTimestamp> {
        let bad = || BadTimestamp(s.to_owned());
        let (secs, frac) = s.split_once('.').unwrap_or((s, "0"));
        if frac.is_empty() || frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let secs: u64 = secs.parse().map_err(|_| bad())?;
        let frac: u64 = format!("{frac:0<3}").parse().map_err(|_| bad())?;
        secs.checked_mul(1000)
            .and_then(|m| m.checked_add(frac))
            .map(|millis| Timestamp { millis })
            .ok_or_else(bad)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The tenant record, and the JSON shape the API returns. Field names are the reference
/// architecture's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub tenant_id: String,
    pub tenant_name: String,
    pub tenant_safe_name: String,
    pub deployment_type: String,
    /// The cell the tenant was placed in at onboarding, for good. `None` on a record written
    /// before cells: the control plane's own cell.
    pub cell: Option<String>,
    pub status: Status,
    pub created: Timestamp,
    pub stack_name: Option<String>,
    pub stack_id: Option<String>,
    pub status_reason: Option<String>,
    pub status_changed_at: Timestamp,
    /// The tenant version (DESIGN.md section 10) its stack was provisioned or last updated
    /// with: a hash over the template, the blueprint and the system parameters.
    pub version: Option<String>,
    /// While `updating` through the control plane: the version the update goes to.
    pub target_version: Option<String>,
    /// While `updating` to another deployment type (a tier move): that type. The record
    /// keeps its old `deploymentType` until the stack's update completes.
    pub target_deployment_type: Option<String>,
    /// The change set of the update in flight, once it is about to be executed. Internal.
    #[serde(skip)]
    pub change_set: Option<String>,
    /// How many times provisioning started; numbers the CreateStack client request token.
    /// Internal: not part of the API's shape.
    #[serde(skip)]
    pub attempt: u32,
    /// The id of the lock item that holds this tenant's name key (`nameLock`). `None` on a
    /// record written before Unicode names, whose lock is `name#<tenantSafeName>`. Internal.
    #[serde(skip)]
    pub name_lock: Option<String>,
    /// The status before the last write (`previousStatus`): the one it moved from, or its own
    /// status after a write that moved nothing (a stack id, a change set). `None` on a new
    /// record and on one written before lifecycle events. The table's stream is NEW_IMAGE, so
    /// this is how the event publisher tells a transition from its image. Internal.
    #[serde(skip)]
    pub previous_status: Option<Status>,
    /// Where the tenant's users call its silo: its stack's `ApiEndpoint` output (local mode's
    /// front door, `{api}/silo/{tenantId}`, there). Recorded once the stack is running; `None`
    /// for a stack with no front door.
    pub endpoint: Option<String>,
    /// The tenant's user directory, recorded with [`endpoint`](Self::endpoint).
    pub identity: Option<Identity>,
    /// The first administrator, invited into the directory once the stack is running
    /// (onboarding's `adminEmail`).
    pub admin_email: Option<String>,
    /// Why that invitation failed, if it did: `silos tenants users add` invites again.
    pub admin_invite_error: Option<String>,
    /// What drift detection last found of its stack ([`Drift`]); None until it first runs.
    pub drift: Option<Drift>,
    /// What its stack's alarms last said ([`Health`]); None until one reports.
    pub health: Option<Health>,
}

/// What a tenant stack's CloudWatch alarms say: `alarm` while any of them is in ALARM, `ok`
/// otherwise. Alarm state changes reach the health handler through EventBridge (forwarded
/// from cells), or local mode's alarm watcher.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub status: HealthStatus,
    /// Each alarm of the stack heard from so far, with its last state, by name.
    pub alarms: Vec<AlarmState>,
    /// When the status or the set of alarms in ALARM last changed: a change publishes
    /// `Tenant Health Changed`, keyed by this time.
    pub changed_at: Timestamp,
    /// The status before that change; None before the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<HealthStatus>,
    /// The write that recorded it, which the next health write is conditional on. Internal.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub revision: String,
}

impl Health {
    /// The alarms in ALARM, by name.
    pub fn firing(&self) -> impl Iterator<Item = &AlarmState> {
        self.alarms.iter().filter(|a| a.state == ALARM)
    }
}

/// CloudWatch's state of an alarm that is firing.
pub const ALARM: &str = "ALARM";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Ok,
    Alarm,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Ok => "ok",
            HealthStatus::Alarm => "alarm",
        }
    }
}

impl std::fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alarm's last reported state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmState {
    /// `{stackName}-{what}`: `…-errors`, `…-throttles`, `…-duration`, `…-table-throttles`,
    /// `…-front-door-5xx`.
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`, in CloudWatch's words.
    pub state: String,
    /// When CloudWatch moved it there (its event's state timestamp); a report older than the
    /// recorded one changes nothing, so events may arrive in any order.
    pub since: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What drift detection found of a tenant's stack: CloudFormation's DetectStackDrift, started
/// by `POST /drift` or the scheduled pass, and collected once complete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    /// The last result: `NOT_CHECKED` until the first detection completes.
    pub status: DriftStatus,
    /// When the last result was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<Timestamp>,
    /// The resources found changed or deleted, each with its differences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<DriftedResource>,
    /// Why the status is `UNKNOWN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A detection in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection: Option<Detection>,
    /// The status before the last result: a change publishes `Tenant Drifted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<DriftStatus>,
}

/// A stack's drift, in CloudFormation's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DriftStatus {
    InSync,
    Drifted,
    /// Detection failed, or could not check the stack.
    Unknown,
    NotChecked,
}

impl DriftStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftStatus::InSync => "IN_SYNC",
            DriftStatus::Drifted => "DRIFTED",
            DriftStatus::Unknown => "UNKNOWN",
            DriftStatus::NotChecked => "NOT_CHECKED",
        }
    }
}

impl std::fmt::Display for DriftStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A drift detection CloudFormation is running.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Detection {
    /// CloudFormation's StackDriftDetectionId.
    pub id: String,
    pub started_at: Timestamp,
}

/// One resource that drifted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftedResource {
    pub logical_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_id: Option<String>,
    #[serde(rename = "type")]
    pub resource_type: String,
    /// `MODIFIED` or `DELETED`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<PropertyDifference>,
}

/// A property whose value is not the template's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyDifference {
    /// `/MemorySize`, as CloudFormation writes it.
    pub path: String,
    pub expected: Option<String>,
    pub actual: Option<String>,
    /// `NOT_EQUAL`, `ADD` or `REMOVE`.
    pub kind: String,
}

/// A tenant's user directory: the stack's Cognito user pool and app client, and the issuer of
/// their tokens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub user_pool_id: String,
    /// The app client: the audience (`aud`, `client_id`) of the directory's tokens.
    pub client_id: String,
    /// `https://cognito-idp.{region}.amazonaws.com/{userPoolId}`: the tokens' `iss`.
    pub issuer: String,
}

impl Tenant {
    /// The deployment type its stack is, or is being moved to during a tier move.
    pub fn stack_type(&self) -> &str {
        match (&self.status, &self.target_deployment_type) {
            (Status::Updating, Some(t)) => t,
            _ => &self.deployment_type,
        }
    }

    /// A new tenant in `initiated`, with no stack yet, holding its name's lock.
    pub fn new(
        tenant_id: String,
        name: TenantName,
        deployment_type: &str,
        now: Timestamp,
    ) -> Tenant {
        Tenant {
            tenant_safe_name: name.safe_name(&tenant_id),
            name_lock: Some(name.lock_id()),
            tenant_id,
            tenant_name: name.name,
            deployment_type: deployment_type.to_owned(),
            cell: None,
            status: Status::Initiated,
            created: now,
            stack_name: None,
            stack_id: None,
            status_reason: None,
            status_changed_at: now,
            version: None,
            target_version: None,
            target_deployment_type: None,
            change_set: None,
            attempt: 0,
            previous_status: None,
            endpoint: None,
            identity: None,
            admin_email: None,
            admin_invite_error: None,
            drift: None,
            health: None,
        }
    }
}

#[cfg(test)]
mod tests;
