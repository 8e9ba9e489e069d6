//! The console's live feed: one subscription to the lifecycle events (as `silos tenants
//! events` makes), fanned out to every open page as server-sent events, with the latest kept
//! for the fleet view and the tenants' timelines.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::broadcast;

use crate::control_plane::events::{Received, Subscription, SubscriptionError};

/// How many events the console keeps, for the fleet view's latest and the timelines.
const KEPT: usize = 500;

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
    pub at: String,
    /// A health event's new health (`ok`, `alarm`).
    pub health: Option<String>,
    /// A drift event's new drift status.
    pub drift: Option<String>,
    #[serde(skip)]
    key: String,
}

impl LiveEvent {
    fn from_received(e: Received) -> LiveEvent {
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
            at: t.status_changed_at.to_string(),
            health: e.detail.health.map(|h| h.status.to_string()),
            drift: e.detail.drift.map(|d| d.status.to_string()),
            key: e.detail.idempotency_key,
        }
    }
}

pub struct Hub {
    subscription: Arc<Subscription>,
    sender: broadcast::Sender<Arc<LiveEvent>>,
    recent: Arc<Mutex<VecDeque<Arc<LiveEvent>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Hub {
    /// Subscribes to `bus` and starts receiving.
    pub async fn start(sdk: &aws_config::SdkConfig, bus: &str) -> Result<Hub, SubscriptionError> {
        let subscription = Arc::new(Subscription::create(sdk, bus).await?);
        let (sender, _) = broadcast::channel(1024);
        let recent = Arc::new(Mutex::new(VecDeque::new()));
        let task = tokio::spawn(receive(
            subscription.clone(),
            sender.clone(),
            recent.clone(),
        ));
        Ok(Hub {
            subscription,
            sender,
            recent,
            task,
        })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.sender.subscribe()
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

    /// Stops receiving and removes the subscription's rule and queue.
    pub async fn close(&self) {
        self.task.abort();
        if let Err(e) = self.subscription.delete().await {
            tracing::warn!(error = %e, "cannot remove the console's events subscription");
        }
    }
}

/// Receives until aborted. An event delivered twice (SQS is at-least-once) is passed on once:
/// the idempotency keys seen are kept.
async fn receive(
    subscription: Arc<Subscription>,
    sender: broadcast::Sender<Arc<LiveEvent>>,
    recent: Arc<Mutex<VecDeque<Arc<LiveEvent>>>>,
) {
    let mut seen = HashSet::new();
    loop {
        match subscription.receive(Duration::from_secs(1)).await {
            Ok(events) => {
                for event in events {
                    let Ok(received) = serde_json::from_value::<Received>(event) else {
                        tracing::warn!("not a lifecycle event; skipped");
                        continue;
                    };
                    let event = Arc::new(LiveEvent::from_received(received));
                    if !seen.insert(event.key.clone()) {
                        continue;
                    }
                    {
                        let mut recent = recent.lock().unwrap_or_else(|e| e.into_inner());
                        if recent.len() == KEPT {
                            recent.pop_front();
                        }
                        recent.push_back(event.clone());
                    }
                    // No page open is not an error.
                    let _ = sender.send(event);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot receive lifecycle events; trying again in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
