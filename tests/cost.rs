//! `silos tenants cost` against the emulator's Cost Explorer, which answers what the test
//! queues through moto's API (`/moto-api/static/ce/cost-and-usage-results`): pages are
//! followed and summed, tenants are named from the API, and the report reads as a table and
//! as JSON.

mod common;

use serde_json::{Value, json};

use common::local::{Local, stderr};

/// Queues Cost Explorer answers in the emulator: each distinct request takes the next one.
fn queue_results(local: &Local, results: Value) {
    common::python(
        common::QUEUE_COSTS,
        &[&local.endpoint, &json!({ "results": results }).to_string()],
    );
}

fn group(tag: &str, value: &str, amount: &str) -> Value {
    json!({
        "Keys": [format!("{tag}${value}")],
        "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}}
    })
}

fn page(groups: Vec<Value>, next: Option<&str>, estimated: bool) -> Value {
    let mut page = json!({
        "ResultsByTime": [{
            "TimePeriod": {"Start": "2026-11-01", "End": "2026-12-01"},
            "Total": {},
            "Groups": groups,
            "Estimated": estimated
        }],
        "DimensionValueAttributes": []
    });
    if let Some(token) = next {
        page["NextPageToken"] = json!(token);
    }
    page
}

fn cost(local: &Local, args: &[&str]) -> std::process::Output {
    let mut all = vec!["cost", "--endpoint-url", &local.endpoint];
    all.extend(args);
    local.tenants(&all)
}

#[test]
fn costs_are_read_page_by_page_grouped_by_tag_and_named_from_the_api() {
    let local = Local::start();
    let acme = local.create("Acme");
    let globex = local.create("Globex");
    let stranger = "00000000-0000-4000-8000-00000000abcd";
    let tag = "silos:tenant-id";
    queue_results(
        &local,
        json!([
            page(
                vec![
                    group(tag, &acme, "1.2345678901"),
                    group(tag, stranger, "0.5")
                ],
                Some("page-2"),
                false
            ),
            page(
                vec![group(tag, &globex, "2.1"), group(tag, "", "0.004")],
                None,
                true
            ),
            page(
                vec![
                    group("silos:tier", "silo", "3.0"),
                    group("silos:tier", "premium", "1.5")
                ],
                None,
                false
            ),
        ]),
    );

    let out = cost(&local, &["--month", "2026-11", "--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["month"], "2026-11");
    assert_eq!(report["start"], "2026-11-01");
    assert_eq!(report["end"], "2026-12-01");
    assert_eq!(report["by"], "tenant");
    assert_eq!(report["requests"], 2, "both pages were read");
    assert_eq!(report["estimated"], true);
    // 1.2345678901 + 0.5 + 2.1 + 0.004, exactly, then to the cent.
    assert_eq!(report["total"], "3.84");
    let groups: Vec<(&str, &str, Value)> = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap(),
                g["amount"].as_str().unwrap(),
                g["tenantName"].clone(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        vec![
            (globex.as_str(), "2.1", json!("Globex")),
            (acme.as_str(), "1.2345678901", json!("Acme")),
            (stranger, "0.5", Value::Null),
            ("", "0.004", Value::Null),
        ]
    );

    // The same question as a table (the emulator answers a repeated request alike).
    let out = cost(&local, &["--month", "2026-11"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("TENANT ID") && lines[0].ends_with("COST (USD)"),
        "{text}"
    );
    assert!(
        lines[1].starts_with(&globex) && lines[1].contains("Globex") && lines[1].ends_with("2.10"),
        "{text}"
    );
    assert!(
        lines[2].contains("Acme") && lines[2].ends_with("1.23"),
        "{text}"
    );
    assert!(
        lines[4].starts_with("(untagged)") && lines[4].ends_with("0.00"),
        "{text}"
    );
    assert!(
        text.contains("total 3.84 USD for 2026-11 (2026-11-01 to 2026-12-01, UnblendedCost, estimated); 2 Cost Explorer requests ($0.02)"),
        "{text}"
    );

    // By tier: another request, the next answer.
    let out = cost(&local, &["--month", "2026-11", "--by", "tier"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text,
        "TIER     COST (USD)\nsilo     3.00\npremium  1.50\ntotal 4.50 USD for 2026-11 (2026-11-01 to 2026-12-01, UnblendedCost); 1 Cost Explorer request ($0.01)\n"
    );

    // A bad month: one line, non-zero, and Cost Explorer is not asked.
    for bad in ["2026-13", "November"] {
        let out = cost(&local, &["--month", bad]);
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(err.contains("is not a month as YYYY-MM"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    let out = cost(&local, &["--month", "2999-01"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("has not begun"), "{}", stderr(&out));
}
