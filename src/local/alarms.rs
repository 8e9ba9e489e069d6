//! The alarm watcher: what EventBridge does for tenant health on AWS. The emulator's
//! CloudWatch emits no events, so this polls the tenant stacks' alarms (DescribeAlarms by the
//! app's tenant-stack prefix, page by page) every [`POLL`], and turns each state change into a
//! "CloudWatch Alarm State Change" event of the real shape, which the health handler takes
//! exactly as the Lambda host gives it.
//!
//! At start every alarm is delivered once in its current state: the handler keeps each
//! alarm's state with CloudWatch's time for it, so a state it already has changes nothing.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::watch;

use crate::control_plane::ControlPlane;
use crate::control_plane::health::{StateValue, alarm_state_event, format_time};
use crate::control_plane::tenant::Timestamp;

/// How often the alarms are read. A state change reaches the tenant's record within about
/// this long (the closing note of issue 27 measures it).
pub const POLL: Duration = Duration::from_secs(1);

pub struct AlarmWatcher {
    pub cp: ControlPlane,
    /// CloudWatch in the watched cell's account and region.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub account: String,
    pub region: String,
}

/// An alarm as DescribeAlarms shows it.
struct Observed {
    arn: String,
    name: String,
    state: StateValue,
}

impl AlarmWatcher {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let prefix = format!("{}-tenant-", self.cp.settings().prefix);
        // Alarm name → the state (and its time) last delivered.
        let mut seen: HashMap<String, (String, String)> = HashMap::new();
        let mut errors = 0u32;
        loop {
            match self.list(&prefix).await {
                Ok(alarms) => {
                    errors = 0;
                    let listed: std::collections::HashSet<&str> =
                        alarms.iter().map(|a| a.name.as_str()).collect();
                    seen.retain(|name, _| listed.contains(name.as_str()));
                    for a in &alarms {
                        let now = (a.state.value.clone(), a.state.timestamp.clone());
                        if seen.get(&a.name) == Some(&now) {
                            continue;
                        }
                        if self.deliver(a).await {
                            seen.insert(a.name.clone(), now);
                        }
                    }
                }
                Err(e) => {
                    errors += 1;
                    tracing::warn!(error = %e, "reading tenant alarms failed; retrying");
                }
            }
            if !super::poll_again(POLL, errors, &mut shutdown).await {
                return;
            }
        }
    }

    /// Hands the alarm's state to the health handler as its EventBridge event. False if
    /// handling failed: it is delivered again on the next poll, as EventBridge retries.
    async fn deliver(&self, a: &Observed) -> bool {
        let event = alarm_state_event(&a.arn, &a.name, &a.state, &self.region, &self.account);
        match self.cp.handle_alarm_event(&event).await {
            Ok(handled) => {
                tracing::debug!(alarm = %a.name, state = %a.state.value, ?handled, "alarm state change");
                true
            }
            Err(e) => {
                tracing::warn!(alarm = %a.name, error = %e, "handling an alarm state change failed; will retry");
                false
            }
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Observed>, String> {
        let mut out = Vec::new();
        let mut pages = self
            .cloudwatch
            .describe_alarms()
            .alarm_name_prefix(prefix)
            .alarm_types(aws_sdk_cloudwatch::types::AlarmType::MetricAlarm)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| crate::aws::sdk_message(&e))?;
            for alarm in page.metric_alarms() {
                let (Some(name), Some(state)) = (alarm.alarm_name(), alarm.state_value()) else {
                    continue;
                };
                let since = alarm
                    .state_updated_timestamp()
                    .and_then(|t| t.to_millis().ok())
                    .and_then(|m| u64::try_from(m).ok())
                    .map(|millis| Timestamp { millis })
                    .unwrap_or_else(Timestamp::now);
                out.push(Observed {
                    arn: alarm.alarm_arn().unwrap_or_default().to_owned(),
                    name: name.to_owned(),
                    state: StateValue {
                        value: state.as_str().to_owned(),
                        reason: alarm.state_reason().unwrap_or_default().to_owned(),
                        timestamp: format_time(since),
                    },
                });
            }
        }
        Ok(out)
    }
}
