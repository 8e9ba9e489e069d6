//! Tenant health end to end in local mode: each tenant stack's alarms exist in the emulator's
//! CloudWatch; setting one in ALARM there (SetAlarmState, as CloudWatch would on a breach)
//! makes that tenant's health `alarm` naming it, publishes `Tenant Health Changed`, and
//! leaves the other tenant `ok`; setting it back makes it `ok` again, with a second event.

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::local::{Local, stderr};

/// The tenant's record, from `tenants info`.
fn record(local: &Local, id: &str) -> Value {
    local.json(&["info", id])["tenant"].clone()
}

/// Waits until the tenant's health status is `status`, and returns the record.
fn wait_health(local: &Local, id: &str, status: &str) -> Value {
    wait_record(local, id, |t| t["health"]["status"] == status)
}

/// Waits until the tenant's record passes `done`, and returns it.
fn wait_record(local: &Local, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let tenant = record(local, id);
        if done(&tenant) {
            return tenant;
        }
        assert!(
            Instant::now() < deadline,
            "the record of {id} never got there: {tenant:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `Tenant Health Changed` events of `id` so far.
fn health_events(events: &Mutex<Vec<Value>>, id: &str) -> Vec<Value> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| {
            e["detail-type"] == "Tenant Health Changed" && e["detail"]["tenant"]["tenantId"] == id
        })
        .cloned()
        .collect()
}

fn wait_events(events: &Mutex<Vec<Value>>, id: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = health_events(events, id);
        if found.len() >= n {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{n} health events of {id} never came: {found:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alarm_in_alarm_makes_its_tenant_unhealthy_and_back() {
    let local = Local::start();
    let ids: Vec<String> = ["Acme", "Globex"].iter().map(|n| local.create(n)).collect();
    for id in &ids {
        local.wait(id, "running");
    }
    let (mut follow, events) = local.follow_events();
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&local.sdk_config());

    // Each stack's five alarms, created by the emulator from the template, start OK.
    let stack = format!("silos-tenant-{}", ids[0]);
    let alarms = cloudwatch
        .describe_alarms()
        .alarm_name_prefix(format!("{stack}-"))
        .send()
        .await
        .unwrap();
    let mut names: Vec<&str> = alarms
        .metric_alarms()
        .iter()
        .filter_map(|a| a.alarm_name())
        .collect();
    names.sort();
    let suffixes: Vec<&str> = names
        .iter()
        .map(|n| n.strip_prefix(&format!("{stack}-")).unwrap())
        .collect();
    assert_eq!(
        suffixes,
        [
            "duration",
            "errors",
            "front-door-5xx",
            "table-throttles",
            "throttles"
        ]
    );
    let errors = alarms
        .metric_alarms()
        .iter()
        .find(|a| a.alarm_name() == Some(&format!("{stack}-errors")))
        .unwrap();
    // The blueprint sets no threshold: the template's default.
    assert_eq!(errors.threshold(), Some(5.0));
    assert_eq!(errors.metric_name(), Some("Errors"));
    // Each alarm reports, and none fires.
    for id in &ids {
        let tenant = wait_record(&local, id, |t| {
            t["health"]["alarms"]
                .as_array()
                .is_some_and(|a| a.len() == 5)
        });
        assert_eq!(tenant["health"]["status"], "ok", "{tenant:#}");
        assert!(tenant["health"].get("previous").is_none(), "{tenant:#}");
    }

    let alarm = format!("{stack}-errors");
    let started = Instant::now();
    cloudwatch
        .set_alarm_state()
        .alarm_name(&alarm)
        .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .state_reason("Threshold Crossed: 7 errors in a minute")
        .send()
        .await
        .unwrap();
    let tenant = wait_health(&local, &ids[0], "alarm");
    let changed = wait_events(&events, &ids[0], 1);
    eprintln!(
        "health changed within {} ms of SetAlarmState (as polled)",
        started.elapsed().as_millis()
    );
    // The latency figure: from CloudWatch's state change (the alarm's own timestamp) to the
    // record's change and to the event reaching a subscriber.
    let millis = |text: &str| -> u64 {
        let (secs, frac) = text.split_once('.').unwrap();
        secs.parse::<u64>().unwrap() * 1000 + frac.parse::<u64>().unwrap()
    };
    let since = tenant["health"]["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == alarm.as_str())
        .map(|a| millis(a["since"].as_str().unwrap()))
        .unwrap();
    let changed_at = millis(tenant["health"]["changedAt"].as_str().unwrap());
    let received: u64 = changed[0]["receivedAtMs"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    eprintln!(
        "health latency: recorded {} ms and the event received {} ms after the alarm's state change",
        changed_at.saturating_sub(since),
        received.saturating_sub(since)
    );
    let firing: Vec<&Value> = tenant["health"]["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["state"] == "ALARM")
        .collect();
    assert_eq!(firing.len(), 1, "{tenant:#}");
    assert_eq!(firing[0]["name"], alarm.as_str());
    assert_eq!(
        firing[0]["reason"],
        "Threshold Crossed: 7 errors in a minute"
    );
    let detail = &changed[0]["detail"];
    assert_eq!(detail["health"]["status"], "alarm", "{detail:#}");
    assert_eq!(detail["health"]["previous"], "ok");
    assert_eq!(
        detail["idempotencyKey"],
        format!(
            "{}:health:{}",
            ids[0],
            tenant["health"]["changedAt"].as_str().unwrap()
        )
    );
    // The other tenant is untouched.
    assert_eq!(record(&local, &ids[1])["health"]["status"], "ok");

    // The list's HEALTH column, and info's lines.
    let listed = local.tenants(&["list"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(text.lines().next().unwrap().contains("HEALTH"), "{text}");
    let line = |id: &str| text.lines().find(|l| l.starts_with(id)).unwrap().to_owned();
    assert!(line(&ids[0]).contains("alarm (errors)"), "{text}");
    assert!(line(&ids[1]).contains(" ok "), "{text}");
    let info = local.tenants(&["info", &ids[0]]);
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains(&format!("{alarm} since ")), "{info}");

    // Back to OK: healthy again, and one more event.
    cloudwatch
        .set_alarm_state()
        .alarm_name(&alarm)
        .state_value(aws_sdk_cloudwatch::types::StateValue::Ok)
        .state_reason("Threshold no longer crossed")
        .send()
        .await
        .unwrap();
    wait_health(&local, &ids[0], "ok");
    let changed = wait_events(&events, &ids[0], 2);
    assert_eq!(changed[1]["detail"]["health"]["previous"], "alarm");
    // A little longer: nothing is published twice, and nothing for the other tenant.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(health_events(&events, &ids[0]).len(), 2);
    assert!(health_events(&events, &ids[1]).is_empty());
    let keys: std::collections::BTreeSet<String> = health_events(&events, &ids[0])
        .iter()
        .map(|e| e["detail"]["idempotencyKey"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), 2);
    let _ = follow.kill();
    let _ = follow.wait();
}
