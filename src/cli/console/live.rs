//! The console's live feed: one subscription to the lifecycle events (as `silos tenants
//! events` makes), fanned out to every open page as server-sent events, with the latest kept
//! for the fleet view and the tenants' timelines.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::broadcast;

use crate::control_plane::events::{Received, Subscription, SubscriptionError};
use crate::control_plane::tenant::Timestamp;

/// How many events the console keeps, for the fleet view's latest and the timelines.
const KEPT: usize = 500;

/// How many idempotency keys it remembers to drop a redelivered event: SQS redelivers within
/// its visibility timeout, long before this many later events have come.
const REMEMBERED: usize = 10_000;

/// A timestamp as an operator reads it: `2026-12-07 23:20:01 UTC`.
pub(super) fn when(t: Timestamp) -> String {
    use aws_sdk_cloudformation::primitives::{DateTime, DateTimeFormat};
    let millis = i64::try_from(t.millis).unwrap_or(i64::MAX);
    match DateTime::from_millis(millis).fmt(DateTimeFormat::DateTime) {
        Ok(text) if text.len() >= 19 => format!("{} UTC", text[..19].replace('T', " ")),
        _ => t.to_string(),
    }
}

/// One lifecycle event as the page shows it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveEvent {
    pub kind: String,
    pub tenant_id: String,
    pub tenant_name: String,
    pub deployment_type: String,
    pub cell: Option<String>,
    pub status: String,
    pub previous: Option<String>,
    pub reason: Option<String>,
    /// When the transition was recorded, as the page shows it, and in milliseconds.
    pub at: String,
    pub at_ms: u64,
    /// A health event's new health (`ok`, `alarm`).
    pub health: Option<String>,
    /// A drift event's new drift status.
    pub drift: Option<String>,
    /// Its place in the order the console received events, from 1: a page asks for the events
    /// after the last it has (the SSE id, which the browser sends back when it reconnects).
    pub seq: u64,
}

impl LiveEvent {
    fn from_received(e: Received, seq: u64) -> LiveEvent {
        let t = e.detail.tenant;
        LiveEvent {
            kind: e.detail_type,
            tenant_id: t.tenant_id,
            tenant_name: t.tenant_name,
            deployment_type: t.deployment_type,
            cell: t.cell,
            status: t.status.to_string(),
            previous: e.detail.previous_status.map(|s| s.to_string()),
            reason: t.status_reason,
            at: when(t.status_changed_at),
            at_ms: t.status_changed_at.millis,
            health: e.detail.health.map(|h| h.status.to_string()),
            drift: e.detail.drift.map(|d| d.status.to_string()),
            seq,
        }
    }
}

/// Where a page hears each event after those it was sent.
pub type Receiver = broadcast::Receiver<Arc<LiveEvent>>;

/// A tenant as the fleet view counts it.
#[derive(Clone, Debug)]
pub struct Counted {
    pub status: String,
    pub deployment_type: String,
    pub cell: String,
    pub health: String,
    pub drift: String,
}

impl Counted {
    /// Applies a live event to the tenant as counted: its new status, tier, cell, health
    /// or drift.
    fn apply(&mut self, e: &LiveEvent) {
        self.status.clone_from(&e.status);
        self.deployment_type.clone_from(&e.deployment_type);
        if let Some(cell) = &e.cell {
            self.cell.clone_from(cell);
        }
        if let Some(h) = &e.health {
            self.health.clone_from(h);
        }
        if let Some(d) = &e.drift {
            self.drift.clone_from(d);
        }
    }

    fn from_event(e: &LiveEvent) -> Counted {
        let mut c = Counted {
            status: String::new(),
            deployment_type: String::new(),
            cell: "-".to_owned(),
            health: "-".to_owned(),
            drift: "-".to_owned(),
        };
        c.apply(e);
        c
    }
}

/// The fleet as last read from the API, kept current by the live events since: the fleet
/// view counts it without reading every tenant on each load.
pub struct Snapshot {
    pub read_at: std::time::Instant,
    pub tenants: std::collections::HashMap<String, Counted>,
}

pub struct Hub {
    subscription: Arc<Subscription>,
    sender: broadcast::Sender<Arc<LiveEvent>>,
    recent: Arc<Mutex<VecDeque<Arc<LiveEvent>>>>,
    fleet: Arc<Mutex<Option<Snapshot>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Hub {
    /// Subscribes to `bus` and starts receiving.
    pub async fn start(sdk: &aws_config::SdkConfig, bus: &str) -> Result<Hub, SubscriptionError> {
        let subscription = Arc::new(Subscription::create(sdk, bus).await?);
        let (sender, _) = broadcast::channel(1024);
        let recent = Arc::new(Mutex::new(VecDeque::new()));
        let fleet = Arc::new(Mutex::new(None));
        let task = tokio::spawn(receive(
            subscription.clone(),
            sender.clone(),
            recent.clone(),
            fleet.clone(),
        ));
        Ok(Hub {
            subscription,
            sender,
            recent,
            fleet,
            task,
        })
    }

    /// The kept events after `seq`, oldest first, and a receiver of every later one: none
    /// missed in between and none twice. `None` if some after `seq` are no longer kept (the
    /// page must reload to catch up).
    pub fn follow(&self, seq: u64) -> Option<(Vec<Arc<LiveEvent>>, Receiver)> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let receiver = self.sender.subscribe();
        Some((after(&recent, seq)?, receiver))
    }

    /// The fleet's counted tenants, if it was read less than `kept` ago.
    pub fn fleet(&self, kept: Duration) -> Option<(Duration, Vec<Counted>)> {
        let fleet = self.fleet.lock().unwrap_or_else(|e| e.into_inner());
        let snapshot = fleet.as_ref().filter(|f| f.read_at.elapsed() < kept)?;
        Some((
            snapshot.read_at.elapsed(),
            snapshot.tenants.values().cloned().collect(),
        ))
    }

    /// Keeps `tenants`, read from the API after event `seq`: the events kept since are
    /// applied to it, as they will be to it from now on.
    pub fn set_fleet(&self, tenants: std::collections::HashMap<String, Counted>, seq: u64) {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let mut fleet = self.fleet.lock().unwrap_or_else(|e| e.into_inner());
        let mut snapshot = Snapshot {
            read_at: std::time::Instant::now(),
            tenants,
        };
        for e in after(&recent, seq).unwrap_or_default() {
            snapshot.apply(&e);
        }
        *fleet = Some(snapshot);
    }

    /// The latest events, newest first, of one tenant or of all.
    pub fn recent(&self, tenant: Option<&str>, limit: usize) -> Vec<Arc<LiveEvent>> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent
            .iter()
            .rev()
            .filter(|e| tenant.is_none_or(|t| e.tenant_id == t))
            .take(limit)
            .cloned()
            .collect()
    }

    /// The last event's `seq` (0 before the first): a page rendered now has seen up to it.
    pub fn last_seq(&self) -> u64 {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.back().map_or(0, |e| e.seq)
    }

    /// Stops receiving and removes the subscription's rule and queue.
    pub async fn close(&self) {
        self.task.abort();
        if let Err(e) = self.subscription.delete().await {
            tracing::warn!(error = %e, "cannot remove the console's events subscription");
        }
    }
}

impl Snapshot {
    fn apply(&mut self, e: &LiveEvent) {
        match self.tenants.get_mut(&e.tenant_id) {
            Some(c) => c.apply(e),
            None => {
                self.tenants
                    .insert(e.tenant_id.clone(), Counted::from_event(e));
            }
        }
    }
}

/// The kept events after `seq`, oldest first; None if some after it are no longer kept.
fn after(recent: &VecDeque<Arc<LiveEvent>>, seq: u64) -> Option<Vec<Arc<LiveEvent>>> {
    let newest = recent.back().map_or(0, |e| e.seq);
    let oldest = recent.front().map_or(1, |e| e.seq);
    if seq < newest && seq + 1 < oldest {
        return None;
    }
    Some(recent.iter().filter(|e| e.seq > seq).cloned().collect())
}

/// Receives until aborted. An event delivered twice (SQS is at-least-once) is passed on once:
/// the latest [`REMEMBERED`] idempotency keys are kept.
async fn receive(
    subscription: Arc<Subscription>,
    sender: broadcast::Sender<Arc<LiveEvent>>,
    recent: Arc<Mutex<VecDeque<Arc<LiveEvent>>>>,
    fleet: Arc<Mutex<Option<Snapshot>>>,
) {
    let mut seen = HashSet::new();
    let mut order = VecDeque::new();
    let mut seq = 0;
    loop {
        match subscription.receive(Duration::from_secs(1)).await {
            Ok(events) => {
                for event in events {
                    let Ok(received) = serde_json::from_value::<Received>(event) else {
                        tracing::warn!("not a lifecycle event; skipped");
                        continue;
                    };
                    let key = received.detail.idempotency_key.clone();
                    if !seen.insert(key.clone()) {
                        continue;
                    }
                    order.push_back(key);
                    if order.len() > REMEMBERED
                        && let Some(old) = order.pop_front()
                    {
                        seen.remove(&old);
                    }
                    seq += 1;
                    let event = Arc::new(LiveEvent::from_received(received, seq));
                    // Kept and sent under one lock: a page that reads what is kept and then
                    // listens neither misses an event nor is sent one twice.
                    {
                        let mut recent = recent.lock().unwrap_or_else(|e| e.into_inner());
                        if recent.len() == KEPT {
                            recent.pop_front();
                        }
                        recent.push_back(event.clone());
                        if let Some(f) = fleet.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
                            f.apply(&event);
                        }
                        // No page open is not an error.
                        let _ = sender.send(event);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot receive lifecycle events; trying again in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64) -> Arc<LiveEvent> {
        Arc::new(LiveEvent {
            kind: "Tenant Provisioned".into(),
            tenant_id: "t".into(),
            tenant_name: "T".into(),
            deployment_type: "silo".into(),
            cell: None,
            status: "running".into(),
            previous: None,
            reason: None,
            at: String::new(),
            at_ms: 0,
            health: None,
            drift: None,
            seq,
        })
    }

    #[test]
    fn a_page_gets_the_events_after_its_own_or_is_told_to_reload() {
        let seqs =
            |v: Option<Vec<Arc<LiveEvent>>>| v.map(|v| v.iter().map(|e| e.seq).collect::<Vec<_>>());
        let none = VecDeque::new();
        assert_eq!(seqs(after(&none, 0)), Some(vec![]));
        // Events 5 to 8 are kept (1 to 4 have been dropped).
        let kept: VecDeque<_> = (5..=8).map(event).collect();
        assert_eq!(seqs(after(&kept, 8)), Some(vec![]));
        assert_eq!(seqs(after(&kept, 6)), Some(vec![7, 8]));
        assert_eq!(seqs(after(&kept, 4)), Some(vec![5, 6, 7, 8]));
        // A page rendered before event 4: 4 is gone, so it must reload.
        assert_eq!(seqs(after(&kept, 3)), None);
        // A page from a console that had seen more (it restarted): nothing to send.
        assert_eq!(seqs(after(&kept, 20)), Some(vec![]));
    }
}
