//! The health handler: "CloudWatch Alarm State Change" events of tenant stacks' alarms, from
//! EventBridge (the home account's and those the cells forward) or local mode's alarm
//! watcher. Each sets its tenant's [`Health`]: `alarm` while any of its stack's alarms is in
//! ALARM, `ok` otherwise. A change of the status or of the alarms firing is marked for the
//! event publisher, which publishes `Tenant Health Changed`.
//!
//! An alarm belongs to a tenant by its name, `{stackName}-{what}` (the tenant stacks name
//! their alarms so, and the stack name holds the tenant id). Events may arrive late, twice or
//! out of order: each alarm's state is kept with CloudWatch's time for it, and a report no
//! newer than the one recorded changes nothing.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::store;
use super::tenant::{ALARM, AlarmState, Health, HealthStatus, Status, Tenant, Timestamp};
use super::{ControlPlane, Error};

/// EventBridge's detail type for an alarm state change.
pub use crate::functions::ALARM_STATE_CHANGE as DETAIL_TYPE;

/// The `detail` of an alarm state change event (the fields the handler reads).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmStateDetail {
    pub alarm_name: String,
    pub state: StateValue,
    #[serde(default)]
    pub previous_state: Option<StateValue>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateValue {
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub value: String,
    #[serde(default)]
    pub reason: String,
    /// `2026-12-07T16:02:11.123+0000`, as CloudWatch writes it.
    pub timestamp: String,
}

pub type AlarmStateEvent = EventBridgeEvent<AlarmStateDetail>;

/// What handling an alarm event did, for logs and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handled {
    /// Not an alarm of a tenant stack of this control plane.
    NotATenantAlarm,
    /// An event whose state timestamp is not CloudWatch's: the alarm's name.
    Unreadable(String),
    UnknownTenant(String),
    /// The alarm is not of the tenant's stack, or the tenant is gone.
    OtherStack(String),
    /// The alarm's recorded state is as new as this one, or newer: nothing written.
    Stale(String),
    /// Recorded; `changed` when the tenant's health changed (its status or the alarms firing).
    Recorded {
        tenant: String,
        health: HealthStatus,
        changed: bool,
    },
}

/// A health write that lost its race is read and tried again, this many times.
const ATTEMPTS: u32 = 5;

/// The EventBridge event for an alarm state change, as CloudWatch sends it (local mode's
/// watcher makes these).
pub fn alarm_state_event(
    alarm_arn: &str,
    alarm_name: &str,
    state: &StateValue,
    region: &str,
    account: &str,
) -> AlarmStateEvent {
    let value = json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": DETAIL_TYPE,
        "source": "aws.cloudwatch",
        "account": account,
        "time": state.timestamp,
        "region": region,
        "resources": [alarm_arn],
        "detail": {
            "alarmName": alarm_name,
            "state": state,
        },
    });
    serde_json::from_value(value).expect("the event shape matches AlarmStateEvent")
}

/// CloudWatch's time (`2026-12-07T16:02:11.123+0000`; RFC 3339 is taken too) as a
/// [`Timestamp`].
pub fn parse_time(text: &str) -> Option<Timestamp> {
    use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat as Format};
    let normal = match text.strip_suffix("+0000") {
        Some(head) => format!("{head}Z"),
        None => text.to_owned(),
    };
    let t = DateTime::from_str(&normal, Format::DateTime).ok()?;
    let millis = t.to_millis().ok()?;
    Some(Timestamp {
        millis: u64::try_from(millis).ok()?,
    })
}

/// `t` as CloudWatch writes it: `2026-12-07T16:02:11.123+0000`.
pub fn format_time(t: Timestamp) -> String {
    use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat as Format};
    let secs = DateTime::from_secs((t.millis / 1000) as i64)
        .fmt(Format::DateTime)
        .unwrap_or_default();
    let head = secs.strip_suffix('Z').unwrap_or(&secs);
    format!("{head}.{:03}+0000", t.millis % 1000)
}

/// `current` with `alarm`'s report applied at `now`, and whether the tenant's health changed;
/// None if the report is no newer than the alarm's recorded state, or repeats it.
pub fn apply(
    current: Option<&Health>,
    alarm: AlarmState,
    now: Timestamp,
) -> Option<(Health, bool)> {
    let mut alarms = current.map(|h| h.alarms.clone()).unwrap_or_default();
    match alarms.iter_mut().find(|a| a.name == alarm.name) {
        Some(known) if known.since >= alarm.since || known.state == alarm.state => return None,
        Some(known) => *known = alarm,
        None => {
            alarms.push(alarm);
            alarms.sort_by(|a, b| a.name.cmp(&b.name));
        }
    }
    let firing = |alarms: &[AlarmState]| -> Vec<String> {
        alarms
            .iter()
            .filter(|a| a.state == ALARM)
            .map(|a| a.name.clone())
            .collect()
    };
    let before = current.map(|h| firing(&h.alarms)).unwrap_or_default();
    let after = firing(&alarms);
    let status = if after.is_empty() {
        HealthStatus::Ok
    } else {
        HealthStatus::Alarm
    };
    let changed = before != after;
    let health = match current {
        Some(h) if !changed => Health {
            alarms,
            ..h.clone()
        },
        _ => Health {
            status,
            alarms,
            changed_at: now,
            previous: current.map(|h| h.status),
            revision: String::new(),
        },
    };
    Some((health, changed))
}

/// The tenant an alarm name belongs to, by the blueprint rules: a name under the app's tenant
/// stacks, whose first UUID is the tenant id.
fn alarm_tenant<'a>(prefix: &str, alarm_name: &'a str) -> Option<&'a str> {
    let name = alarm_name.strip_prefix(&format!("{prefix}-tenant-"))?;
    super::stack_events::tenant_id(name)
}

/// Whether `alarm_name` is one of `tenant`'s stack's alarms.
fn of_stack(tenant: &Tenant, alarm_name: &str) -> bool {
    tenant
        .stack_name
        .as_deref()
        .is_some_and(|stack| alarm_name.starts_with(&format!("{stack}-")))
        && tenant.status != Status::Deleted
}

impl ControlPlane {
    /// Applies an alarm state change to the health of the tenant whose stack the alarm is of.
    pub async fn handle_alarm_event(&self, event: &AlarmStateEvent) -> Result<Handled, Error> {
        let detail = &event.detail;
        let Some(id) = alarm_tenant(&self.settings().prefix, &detail.alarm_name) else {
            return Ok(Handled::NotATenantAlarm);
        };
        let Some(since) = parse_time(&detail.state.timestamp) else {
            // Retrying cannot mend it: logged and dropped.
            tracing::warn!(alarm = %detail.alarm_name, timestamp = %detail.state.timestamp, "alarm event with an unreadable state timestamp; ignored");
            return Ok(Handled::Unreadable(detail.alarm_name.clone()));
        };
        let alarm = AlarmState {
            name: detail.alarm_name.clone(),
            state: detail.state.value.clone(),
            since,
            reason: Some(detail.state.reason.clone()).filter(|r| !r.is_empty()),
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let Some(tenant) = self.store().get(id).await? else {
                return Ok(Handled::UnknownTenant(id.to_owned()));
            };
            if !of_stack(&tenant, &detail.alarm_name) {
                return Ok(Handled::OtherStack(id.to_owned()));
            }
            let current = tenant.health.as_ref();
            let Some((health, changed)) = apply(current, alarm.clone(), Timestamp::now()) else {
                return Ok(Handled::Stale(id.to_owned()));
            };
            let revision = current
                .map(|h| h.revision.as_str())
                .filter(|r| !r.is_empty());
            match self
                .store()
                .set_health(id, tenant.status, &health, revision, changed)
                .await
            {
                Ok(_) => {
                    use super::metrics::{ALARMS_FIRED, HEALTH_CHANGES};
                    if alarm.state == ALARM {
                        self.metrics().put(ALARMS_FIRED, None, 1.0);
                    }
                    if changed {
                        let status = health.status.as_str();
                        self.metrics().put(HEALTH_CHANGES, Some(status), 1.0);
                    }
                    return Ok(Handled::Recorded {
                        tenant: id.to_owned(),
                        health: health.status,
                        changed,
                    });
                }
                // Another write came between (a status move, another alarm): read again.
                Err(store::Error::WrongStatus { .. }) if attempt < ATTEMPTS => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(name: &str, state: &str, at: u64) -> AlarmState {
        AlarmState {
            name: name.to_owned(),
            state: state.to_owned(),
            since: Timestamp { millis: at },
            reason: None,
        }
    }

    const NOW: Timestamp = Timestamp { millis: 9_000 };

    #[test]
    fn health_follows_the_alarms_in_alarm() {
        let (h, changed) = apply(None, report("s-errors", "OK", 1_000), NOW).unwrap();
        assert_eq!(
            (h.status, changed, h.previous),
            (HealthStatus::Ok, false, None)
        );
        let (h, changed) = apply(Some(&h), report("s-duration", "ALARM", 2_000), NOW).unwrap();
        assert_eq!(h.status, HealthStatus::Alarm);
        assert!(changed);
        assert_eq!(h.previous, Some(HealthStatus::Ok));
        let firing: Vec<&str> = h.firing().map(|a| a.name.as_str()).collect();
        assert_eq!(firing, ["s-duration"]);
        // A second alarm fires: still `alarm`, but the firing set changed.
        let (h, changed) = apply(Some(&h), report("s-errors", "ALARM", 3_000), NOW).unwrap();
        assert!(changed);
        assert_eq!(h.firing().count(), 2);
        let (h, _) = apply(Some(&h), report("s-errors", "OK", 4_000), NOW).unwrap();
        let (h, changed) = apply(Some(&h), report("s-duration", "OK", 5_000), NOW).unwrap();
        assert!(changed);
        assert_eq!(
            (h.status, h.previous),
            (HealthStatus::Ok, Some(HealthStatus::Alarm))
        );
    }

    #[test]
    fn a_late_or_repeated_report_changes_nothing() {
        let (h, _) = apply(None, report("s-errors", "ALARM", 5_000), NOW).unwrap();
        // Older than the recorded state: an event that arrived out of order.
        assert_eq!(apply(Some(&h), report("s-errors", "OK", 4_000), NOW), None);
        // The same state again (a redelivery, or the watcher's first look).
        assert_eq!(
            apply(Some(&h), report("s-errors", "ALARM", 6_000), NOW),
            None
        );
        // INSUFFICIENT_DATA is not firing.
        let (h, changed) = apply(
            Some(&h),
            report("s-errors", "INSUFFICIENT_DATA", 7_000),
            NOW,
        )
        .unwrap();
        assert_eq!((h.status, changed), (HealthStatus::Ok, true));
    }

    #[test]
    fn alarm_names_give_their_tenant() {
        let id = "7f3c2a9e-5b1d-4e8a-9c6f-2d4b8a1e3f70";
        assert_eq!(
            alarm_tenant("silos", &format!("silos-tenant-{id}-errors")),
            Some(id)
        );
        assert_eq!(
            alarm_tenant("silos", &format!("other-tenant-{id}-errors")),
            None
        );
        assert_eq!(alarm_tenant("silos", "silos-tenant-acme-errors"), None);
    }

    #[test]
    fn cloudwatch_times_read_and_write_back() {
        let t = parse_time("2015-08-30T12:36:00.250+0000").unwrap();
        assert_eq!(t.millis, 1_440_938_160_250);
        assert_eq!(format_time(t), "2015-08-30T12:36:00.250+0000");
        assert_eq!(
            parse_time("2015-08-30T12:36:00Z").unwrap().millis,
            1_440_938_160_000
        );
        assert_eq!(parse_time("yesterday"), None);
    }
}
