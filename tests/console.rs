//! The console in a real browser: `silos local`'s console, driven in headless Chromium over
//! WebDriver as an operator would use it (onboard, watch it run without a reload, the API's
//! refusals inline, offboard with the name typed, page through 2,500 tenants), its hostile
//! cases (a tenant name that is markup, a cross-origin POST, no token, a foreign Host), and
//! the README's screenshots, retaken when the pages change.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use serde_json::{Value, json};

use common::browser::{Browser, http};
use common::local::Local;

const HOSTILE: &str = "<img src=x onerror=alert(1)>";

/// The console's origin (`http://127.0.0.1:PORT`), its port and its token.
fn console(local: &Local) -> (String, u16, String) {
    let url = local
        .console_url
        .clone()
        .expect("silos local prints a console: line");
    let (origin, token) = url.split_once("/?token=").expect("a token in the URL");
    let port = origin.rsplit(':').next().unwrap().parse().unwrap();
    (origin.to_owned(), port, token.to_owned())
}

fn tenants_table(local: &Local) -> String {
    let outputs: Value =
        serde_json::from_slice(&std::fs::read(local.out.path().join("outputs.json")).unwrap())
            .unwrap();
    outputs["tenantsTable"].as_str().unwrap().to_owned()
}

/// A tenant's item as the store wrote it.
async fn item(local: &Local, id: &str) -> HashMap<String, AttributeValue> {
    let ddb = aws_sdk_dynamodb::Client::new(&local.sdk_config());
    ddb.get_item()
        .table_name(tenants_table(local))
        .key("tenantId", AttributeValue::S(id.to_owned()))
        .send()
        .await
        .unwrap()
        .item()
        .cloned()
        .expect("the tenant's item")
}

/// Writes records of tenants the API never onboarded: `template`'s item with another id, name,
/// status and creation time, no stack and no name lock (a record as an older release, a
/// restore or a hand edit could leave). The reconciler leaves `running` and `failed` alone.
async fn seed(
    local: &Local,
    template: &HashMap<String, AttributeValue>,
    records: &[(String, String, &str, u64)],
) {
    let ddb = aws_sdk_dynamodb::Client::new(&local.sdk_config());
    let table = tenants_table(local);
    for chunk in records.chunks(25) {
        let writes = chunk
            .iter()
            .map(|(id, name, status, created)| {
                let mut item = template.clone();
                for gone in [
                    "stackName",
                    "stackId",
                    "nameLock",
                    "changeSet",
                    "previousStatus",
                    "statusReason",
                    "writeId",
                ] {
                    item.remove(gone);
                }
                item.insert("tenantId".into(), AttributeValue::S(id.clone()));
                item.insert("tenantName".into(), AttributeValue::S(name.clone()));
                item.insert("tenantSafeName".into(), AttributeValue::S("seeded".into()));
                item.insert("status".into(), AttributeValue::S((*status).to_owned()));
                let at = format!("{}.{:03}", created / 1000, created % 1000);
                item.insert("created".into(), AttributeValue::N(at.clone()));
                item.insert("statusChangedAt".into(), AttributeValue::N(at));
                WriteRequest::builder()
                    .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                    .build()
            })
            .collect::<Vec<_>>();
        let mut pending = Some(HashMap::from([(table.clone(), writes)]));
        while let Some(items) = pending.take().filter(|p| p.values().any(|w| !w.is_empty())) {
            let out = ddb
                .batch_write_item()
                .set_request_items(Some(items))
                .send()
                .await
                .unwrap();
            pending = out.unprocessed_items().cloned();
        }
    }
}

/// The page's navigation and paint timings, in ms from the start of navigation.
fn timing(browser: &Browser) -> Value {
    browser.run(
        "const n = performance.getEntriesByType('navigation')[0];
         const p = performance.getEntriesByName('first-contentful-paint')[0];
         return { responseEnd: n.responseEnd, domContentLoaded: n.domContentLoadedEventEnd,
                  firstContentfulPaint: p ? p.startTime : null };",
        json!([]),
    )
}

/// What every page must be for a keyboard and a screen reader: a language, one h1, every
/// form control labelled, every button named, no positive tabindex, and a visible focus
/// style. Returns what is wrong, if anything.
fn accessibility(browser: &Browser) -> Vec<String> {
    let problems = browser.run(
        "const out = [];
         if (!document.documentElement.lang) out.push('no lang');
         if (document.querySelectorAll('h1').length !== 1) out.push('not one h1');
         for (const c of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
           if (!(c.labels && c.labels.length) && !c.getAttribute('aria-label')) out.push('unlabelled ' + (c.name || c.id));
         }
         for (const b of document.querySelectorAll('button, a')) {
           if (!b.textContent.trim() && !b.getAttribute('aria-label')) out.push('unnamed ' + b.outerHTML);
         }
         for (const e of document.querySelectorAll('[tabindex]')) {
           if (Number(e.getAttribute('tabindex')) > 0) out.push('positive tabindex ' + e.outerHTML);
         }
         const focus = [...document.styleSheets].flatMap(s => [...s.cssRules]).some(r => (r.selectorText || '').includes(':focus-visible'));
         if (!focus) out.push('no focus style');
         return out;",
        json!([]),
    );
    serde_json::from_value(problems).unwrap()
}

/// Marks the page: the mark survives until the page is loaded again.
fn mark(browser: &Browser) {
    browser.run("window.__sameDocument = true; return true;", json!([]));
}

fn still_marked(browser: &Browser) -> bool {
    browser.run("return window.__sameDocument === true;", json!([])) == json!(true)
}

/// Waits until `#tenant-status` reads `status` on this page, set by a lifecycle event that
/// came live (the script marks the body with the last), and returns how long after the
/// transition it appeared (the event's recorded time to the DOM change, in ms), when the
/// change came after this was called.
fn watch_status(browser: &Browser, status: &str) -> Option<f64> {
    browser.run(
        "const want = arguments[0];
         const el = document.getElementById('tenant-status');
         window.__seenAt = null;
         new MutationObserver(() => {
           if (el.textContent === want && window.__seenAt === null) { window.__seenAt = Date.now(); }
         }).observe(el, { childList: true, characterData: true, subtree: true });
         return true;",
        json!([status]),
    );
    browser.wait_for(
        &format!("the status to become {status} by a live event"),
        Duration::from_secs(90),
        &format!(
            "return document.getElementById('tenant-status').textContent === '{status}'
               && (document.body.dataset.lastEvent || '').endsWith(':{status}');"
        ),
    );
    let latency = browser.run(
        "const want = arguments[0];
         const item = [...document.querySelectorAll('#events li')].find(li =>
           li.querySelector('.status') && li.querySelector('.status').textContent === want);
         const ms = item && item.querySelector('time').dataset.ms;
         return ms && window.__seenAt ? window.__seenAt - Number(ms) : null;",
        json!([status]),
    );
    latency.as_f64()
}

/// The screenshots the README shows, and the outline of each page (its headings, labels,
/// column headings and buttons, without the data) they were taken of.
fn docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/console")
}

/// The page's outline: what a screenshot of it shows, apart from the data.
fn outline(browser: &Browser) -> String {
    browser
        .run(
            "return [...document.querySelectorAll('main h1, main h2, main label, main th[scope=col], main button, main summary, nav a')]
               .map(e => e.tagName.toLowerCase() + ': ' + (e.tagName === 'H1' ? '' : e.textContent.replace(/\\s+/g, ' ').replace(/[0-9]+/g, 'N').trim()))
               .join('\\n');",
            json!([]),
        )
        .as_str()
        .unwrap()
        .to_owned()
}

/// Keeps the README's screenshot `name` current: with SILOS_UPDATE_SCREENSHOTS=1 it is
/// retaken, else the page's outline must be the one it was taken of.
fn screenshot(browser: &Browser, name: &str) {
    let png = browser.screenshot();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("console-{name}.png"));
    std::fs::write(&shot, &png).unwrap();
    let outline = outline(browser);
    let (png_file, outline_file) = (
        docs().join(format!("{name}.png")),
        docs().join(format!("{name}.outline")),
    );
    if std::env::var_os("SILOS_UPDATE_SCREENSHOTS").is_some() {
        std::fs::create_dir_all(docs()).unwrap();
        std::fs::write(&png_file, &png).unwrap();
        std::fs::write(&outline_file, &outline).unwrap();
    }
    let kept = std::fs::read_to_string(&outline_file).unwrap_or_default();
    assert_eq!(
        kept,
        outline,
        "docs/console/{name}.png shows another page than the console serves now (this run's is {}): retake it with SILOS_UPDATE_SCREENSHOTS=1 cargo nextest run --test console",
        shot.display()
    );
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("docs/console/{name}.png")),
        "the README shows docs/console/{name}.png"
    );
}

#[tokio::test]
async fn an_operator_onboards_watches_and_offboards_a_tenant_in_a_browser() {
    let local = Local::start();
    let (origin, port, _) = console(&local);
    let browser = Browser::start();

    // The printed URL: its token becomes a cookie, and the address loses it.
    browser.goto(local.console_url.as_deref().unwrap());
    assert_eq!(browser.url(), format!("{origin}/"));
    browser.element("#fleet-total");
    let first = timing(&browser);
    eprintln!("figure: the fleet page's timing (ms): {first}");
    assert!(
        first["firstContentfulPaint"].as_f64().is_some(),
        "the page painted: {first}"
    );
    browser.wait_for(
        "live updates",
        Duration::from_secs(10),
        "return document.body.dataset.live === 'on';",
    );

    // Onboard through the form; the tenant page follows it to running without a reload.
    browser.goto(&format!("{origin}/onboard"));
    assert_eq!(accessibility(&browser), Vec::<String>::new(), "/onboard");
    // By keyboard: the first Tab reaches the skip link, which moves the focus to the page's
    // content; the form goes with Enter.
    browser.run("document.activeElement.blur(); return true;", json!([]));
    browser.keys("\u{E004}");
    assert_eq!(
        browser.run("return document.activeElement.className;", json!([])),
        "skip"
    );
    browser.keys("\u{E007}");
    assert_eq!(
        browser.run("return document.activeElement.id;", json!([])),
        "main"
    );
    browser.type_into("#name", "Browser Co");
    browser.keys("\u{E007}");
    browser.wait_for(
        "the tenant's page",
        Duration::from_secs(20),
        "return location.pathname.startsWith('/tenants/');",
    );
    let id = browser.url().rsplit('/').next().unwrap().to_owned();
    assert_eq!(browser.text("#tenant-name"), "Browser Co");
    let shown = browser.text("#tenant-status");
    assert_ne!(
        shown, "running",
        "the page was read before the stack was up"
    );
    mark(&browser);
    let latency = watch_status(&browser, "running");
    assert!(
        still_marked(&browser),
        "the status changed without a reload"
    );
    if let Some(ms) = latency {
        eprintln!(
            "figure: a lifecycle event (running) appeared on the page {ms:.0} ms after the transition"
        );
    }
    assert!(
        browser.text("#events").contains("Tenant Provisioned"),
        "{}",
        browser.text("#events")
    );
    browser.goto(&format!("{origin}/tenants/{id}"));
    browser.element("#move-tier, #offboard");
    assert!(
        browser.text("#h-resources + *").contains("AWS::"),
        "{}",
        browser.text("main")
    );

    // A taken name: the API's 409 on the form, with what was typed kept.
    browser.goto(&format!("{origin}/onboard"));
    browser.type_into("#name", "browser co");
    browser.click("#onboard button[type=submit]");
    browser.wait_for(
        "the refusal",
        Duration::from_secs(20),
        "return !!document.getElementById('form-error');",
    );
    assert!(browser.url().ends_with("/onboard"), "{}", browser.url());
    let refusal = browser.text("#form-error");
    assert!(refusal.starts_with("409 "), "{refusal}");
    assert_eq!(
        browser.run("return document.getElementById('name').value;", json!([])),
        "browser co"
    );

    // A name that is markup: refused by the API, shown back as text, and no script runs.
    browser.type_into("#name", HOSTILE);
    browser.click("#onboard button[type=submit]");
    browser.wait_for(
        "the refusal",
        Duration::from_secs(20),
        "return document.getElementById('form-error').textContent.includes('400');",
    );
    assert_eq!(
        browser.run("return document.getElementById('name').value;", json!([])),
        HOSTILE
    );
    assert_eq!(
        browser.run("return document.querySelectorAll('img').length;", json!([])),
        0
    );
    assert_eq!(browser.alert(), None);

    // A record that holds such a name anyway (written by hand, or by an older release): it
    // is text in the table and on its page.
    let template = item(&local, &id).await;
    let hostile_id = "00000000-0000-4000-8000-00000000beef".to_owned();
    seed(
        &local,
        &template,
        &[(
            hostile_id.clone(),
            HOSTILE.to_owned(),
            "running",
            1_700_000_000_000,
        )],
    )
    .await;
    browser.goto(&format!("{origin}/tenants?sort=-created"));
    assert!(
        browser.text("table.tenants").contains(HOSTILE),
        "{}",
        browser.text("table.tenants")
    );
    assert_eq!(
        browser.run("return document.querySelectorAll('img').length;", json!([])),
        0
    );
    browser.goto(&format!("{origin}/tenants/{hostile_id}"));
    assert_eq!(browser.text("#tenant-name"), HOSTILE);
    assert_eq!(
        browser.run("return document.querySelectorAll('img').length;", json!([])),
        0
    );
    assert_eq!(browser.alert(), None);
    browser.goto(&format!("{origin}/"));
    assert_eq!(browser.alert(), None);

    // A form on another origin that posts to the console: the browser sends no cookie with it
    // (SameSite=Strict), and the console refuses it. Nothing is onboarded.
    let page = format!(
        "data:text/html,<form id=f method=post action='{origin}/onboard'><input name=name value=Forged></form><script>document.getElementById('f').submit()</script>"
    );
    browser.goto(&page);
    browser.wait_for(
        "the forged post's answer",
        Duration::from_secs(10),
        "return location.href.startsWith('http://127.0.0.1');",
    );
    let answer = browser.text("body");
    assert!(
        answer.contains("token") || answer.contains("Origin"),
        "{answer}"
    );
    let listed = local.json(&["list"]);
    assert!(
        !listed.to_string().contains("Forged"),
        "a cross-origin post onboarded a tenant: {listed}"
    );

    // Every page reads by keyboard and screen reader.
    for path in [
        "/".to_owned(),
        "/tenants".to_owned(),
        format!("/tenants/{id}"),
        "/upgrade".to_owned(),
    ] {
        browser.goto(&format!("{origin}{path}"));
        assert_eq!(accessibility(&browser), Vec::<String>::new(), "{path}");
    }

    // The screenshots: the fleet, and a tenant.
    browser.goto(&format!("{origin}/"));
    screenshot(&browser, "fleet");
    browser.goto(&format!("{origin}/tenants/{id}"));
    screenshot(&browser, "tenant");

    // Offboard: a wrong name is the API's 409, inline; the name typed offboards it, and the
    // page follows it to deleted.
    browser.type_into("#confirm", "Someone Else");
    browser.click("#offboard button[type=submit]");
    browser.wait_for(
        "the refusal",
        Duration::from_secs(20),
        "return !!document.getElementById('form-error');",
    );
    assert!(
        browser.text("#form-error").starts_with("409 "),
        "{}",
        browser.text("#form-error")
    );
    assert_eq!(local.json(&["info", &id])["tenant"]["status"], "running");
    browser.type_into("#confirm", "Browser Co");
    browser.click("#offboard button[type=submit]");
    browser.wait_for("the tenant's page", Duration::from_secs(20), "return !document.getElementById('form-error') && !!document.getElementById('tenant-status');");
    mark(&browser);
    watch_status(&browser, "deleted");
    assert!(still_marked(&browser));
    assert_eq!(local.wait(&id, "deleted")["status"], "deleted");
    let _ = port;
}

#[tokio::test]
async fn an_operator_pages_through_a_fleet_of_2500_tenants() {
    let local = Local::start();
    let (origin, _, _) = console(&local);
    let id = local.create("Template Tenant");
    local.wait(&id, "running");
    let template = item(&local, &id).await;
    let records: Vec<(String, String, &str, u64)> = (0..2500u64)
        .map(|n| {
            (
                format!("00000000-0000-4000-8000-{n:012}"),
                format!("Tenant {n:04}"),
                if n % 25 == 0 { "failed" } else { "running" },
                1_600_000_000_000 + n * 1000,
            )
        })
        .collect();
    seed(&local, &template, &records).await;
    let mut expected: BTreeSet<String> = records.iter().map(|r| r.0.clone()).collect();
    expected.insert(id.clone());

    let browser = Browser::start();
    browser.goto(local.console_url.as_deref().unwrap());
    // The console read the fleet when it started: records written since without an event
    // are counted once it reads the listing again.
    browser.click("#read-again");
    browser.wait_for(
        "the fresh counts",
        Duration::from_secs(60),
        "return location.search === '?fresh=1' && document.readyState === 'complete';",
    );
    assert!(
        browser.text("#fleet-total").starts_with("2501 "),
        "{}",
        browser.text("#fleet-total")
    );
    assert_eq!(browser.text("[data-count='status:failed']"), "100");
    eprintln!(
        "figure: the fleet page of 2,501 tenants, reading the listing, timing (ms): {}",
        timing(&browser)
    );

    // The counts are kept from that read, with the events since: a tenant onboarded now is
    // counted on the next load, which reads no listing.
    let running = |b: &Browser| {
        b.text("[data-count='status:running']")
            .parse::<u32>()
            .unwrap()
    };
    let before = running(&browser);
    let late = local.create("Late Tenant");
    local.wait(&late, "running");
    expected.insert(late.clone());
    browser.wait_for(
        "the live running event",
        Duration::from_secs(30),
        &format!("return document.body.dataset.lastEvent === '{late}:running';"),
    );
    browser.goto(&format!("{origin}/"));
    assert!(
        browser.text("#fleet-total").starts_with("2502 "),
        "{}",
        browser.text("#fleet-total")
    );
    assert_eq!(running(&browser), before + 1);
    eprintln!(
        "figure: the fleet page of 2,502 tenants again, from its kept counts, timing (ms): {}",
        timing(&browser)
    );

    // Every page of the API's listing, by its Next link.
    browser.goto(&format!("{origin}/tenants"));
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        pages += 1;
        let ids = browser.run(
            "return [...document.querySelectorAll('table.tenants tr[data-tenant]')].map(r => r.dataset.tenant);",
            json!([]),
        );
        let ids: Vec<String> = serde_json::from_value(ids).unwrap();
        assert!(ids.len() <= 50, "page {pages} has {} rows", ids.len());
        seen.extend(ids);
        if browser.find("#next-page").is_none() {
            break;
        }
        browser.click("#next-page");
        browser.wait_for("the next page", Duration::from_secs(30), "return document.readyState === 'complete' && !!document.querySelector('table.tenants');");
    }
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "a tenant on two pages");
    assert_eq!(unique, expected);
    assert!(pages >= 51, "{pages} pages");

    // A status filter pages through the API's index; a search reads the listing.
    browser.goto(&format!("{origin}/tenants?status=failed"));
    let mut failed = 0;
    loop {
        failed += browser
            .run(
                "return document.querySelectorAll('table.tenants tr[data-tenant]').length;",
                json!([]),
            )
            .as_u64()
            .unwrap();
        if browser.find("#next-page").is_none() {
            break;
        }
        browser.click("#next-page");
        browser.wait_for(
            "the next page",
            Duration::from_secs(30),
            "return document.readyState === 'complete';",
        );
    }
    assert_eq!(failed, 100);
    browser.goto(&format!("{origin}/tenants?q=tenant+0042"));
    assert_eq!(browser.text("#matched"), "1 tenant matches");
    assert!(browser.text("table.tenants").contains("Tenant 0042"));
}

/// The guard's refusals, with requests no browser would send: no token, a wrong one, a
/// foreign Host (DNS rebinding), and POSTs without this server's Origin. None writes a tenant.
#[tokio::test]
async fn the_console_refuses_requests_without_its_token_host_or_origin() {
    let local = Local::start();
    let (origin, port, token) = console(&local);

    let (status, head, _) = http(port, "GET", "/", &[], "");
    assert_eq!(status, 401, "{head}");
    let (status, _, _) = http(port, "GET", "/?token=0000", &[], "");
    assert_eq!(status, 403);
    let host = format!("rebound.example:{port}");
    let (status, _, _) = http(
        port,
        "GET",
        &format!("/?token={token}"),
        &[("Host", &host)],
        "",
    );
    assert_eq!(status, 421);

    let (status, head, _) = http(port, "GET", &format!("/?token={token}"), &[], "");
    assert_eq!(status, 303, "{head}");
    let cookie = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .expect("a cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        head.to_ascii_lowercase().contains("samesite=strict"),
        "{head}"
    );
    assert!(head.to_ascii_lowercase().contains("httponly"), "{head}");

    let (status, head, body) = http(port, "GET", "/", &[("Cookie", &cookie)], "");
    assert_eq!(status, 200, "{head}");
    assert!(body.contains("id=\"fleet-total\""));
    let csp = head
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("content-security-policy:")
        })
        .expect("a CSP");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    // The cookie of this console, on another Host: still refused.
    let (status, _, _) = http(
        port,
        "GET",
        "/",
        &[("Cookie", &cookie), ("Host", &host)],
        "",
    );
    assert_eq!(status, 421);

    let form = "name=Forged+Co&tier=silo";
    let form_type = ("Content-Type", "application/x-www-form-urlencoded");
    for origin_header in [
        None,
        Some("http://evil.example"),
        Some("null"),
        Some(&format!("http://localhost:{}", port + 1)[..]),
    ] {
        let mut headers = vec![("Cookie", cookie.as_str()), form_type];
        if let Some(o) = origin_header {
            headers.push(("Origin", o));
        }
        let (status, head, _) = http(port, "POST", "/onboard", &headers, form);
        assert_eq!(status, 403, "Origin {origin_header:?}: {head}");
    }
    assert!(!local.json(&["list"]).to_string().contains("Forged"));
    // The same form from this console's own origin is taken: the check is not a blanket no.
    let (status, head, _) = http(
        port,
        "POST",
        "/onboard",
        &[("Cookie", &cookie), form_type, ("Origin", &origin)],
        form,
    );
    assert_eq!(status, 303, "{head}");
    assert!(local.json(&["list"]).to_string().contains("Forged Co"));
}

/// Queues a Cost Explorer answer in the emulator (moto's API): the next GetCostAndUsage
/// gets it.
fn queue_cost(local: &Local, tenant: &str, amount: &str) {
    let results = json!({ "results": [{
        "ResultsByTime": [{
            "TimePeriod": {"Start": "2026-12-01", "End": "2026-12-31"},
            "Total": {},
            "Groups": [{
                "Keys": [format!("silos:tenant-id${tenant}")],
                "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}}
            }],
            "Estimated": true
        }],
        "DimensionValueAttributes": []
    }]});
    common::python(
        common::QUEUE_COSTS,
        &[&local.endpoint, &results.to_string()],
    );
}

/// The premium example's app: a tenant's cost on its page, then moves from the page, each
/// after its plan: silo → premium adds resources; premium → silo removes the Files bucket,
/// so the form will not go without the box that accepts the loss ticked.
#[tokio::test]
async fn an_operator_moves_a_tenant_between_tiers_after_reading_the_plan() {
    let binary = Path::new(env!("CARGO_BIN_EXE_silos")).with_file_name("premium");
    let blueprints = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/premium/blueprints");
    let local = Local::start_app(&binary, None, Some(&blueprints));
    let (origin, _, _) = console(&local);
    let id = local.create_typed("Initech", "silo");
    local.wait(&id, "running");
    queue_cost(&local, &id, "12.3456789");

    let browser = Browser::start();
    browser.goto(local.console_url.as_deref().unwrap());
    browser.goto(&format!("{origin}/tenants/{id}"));
    let cost = browser.text("#tenant-cost");
    assert!(
        cost.starts_with("12.35 USD in 2026-") || cost.contains("12.35 USD"),
        "{cost}"
    );
    assert!(cost.contains("estimated"), "{cost}");

    // silo → premium: the plan adds resources and loses nothing.
    browser.run(
        "document.getElementById('to').value = 'premium'; return true;",
        json!([]),
    );
    browser.click("#move-tier button[type=submit]");
    browser.wait_for(
        "the plan",
        Duration::from_secs(30),
        "return !!document.getElementById('move');",
    );
    let plan = browser.text("#plan");
    assert!(plan.contains("Files") && plan.contains("add"), "{plan}");
    assert!(browser.find("#data-loss").is_none());
    browser.click("#move button[type=submit]");
    browser.wait_for(
        "the tenant's page",
        Duration::from_secs(30),
        "return !!document.getElementById('tenant-status');",
    );
    assert!(
        browser.find("#form-error").is_none(),
        "{}",
        browser.text("main")
    );
    mark(&browser);
    watch_status(&browser, "running");
    assert!(still_marked(&browser));
    assert_eq!(
        local.json(&["info", &id])["tenant"]["deploymentType"],
        "premium"
    );

    // premium → silo: the plan names the bucket it would lose; the form needs the box.
    browser.goto(&format!("{origin}/tenants/{id}/move?to=silo"));
    assert_eq!(
        accessibility(&browser),
        Vec::<String>::new(),
        "the move's plan"
    );
    let loss = browser.text("#data-loss");
    assert!(loss.contains("Files"), "{loss}");
    browser.click("#move button[type=submit]");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        browser.url().contains("/move?to=silo"),
        "went without the box: {}",
        browser.url()
    );
    assert_eq!(
        local.json(&["info", &id])["tenant"]["deploymentType"],
        "premium"
    );
    browser.click("#allow_data_loss");
    browser.click("#move button[type=submit]");
    browser.wait_for(
        "the tenant's page",
        Duration::from_secs(30),
        "return !!document.getElementById('tenant-status');",
    );
    mark(&browser);
    watch_status(&browser, "running");
    assert!(still_marked(&browser));
    assert_eq!(
        local.json(&["info", &id])["tenant"]["deploymentType"],
        "silo"
    );
}

/// A fleet upgrade from the page: the plan, then a run in waves (a canary of one, then the
/// wave size asked for) whose progress the page follows without a reload.
#[tokio::test]
async fn an_operator_runs_a_fleet_upgrade_and_watches_its_waves() {
    let moto = common::Moto::start();
    let mut first = Local::start_at(Some(&moto.endpoint));
    let ids: Vec<String> = (0..3)
        .map(|i| first.create(&format!("Wave Tenant {i}")))
        .collect();
    for id in &ids {
        first.wait(id, "running");
    }
    assert!(first.interrupt().success());
    // The silo blueprint with more memory, published by restarting local mode.
    let changed = tempfile::tempdir().unwrap();
    for entry in
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("blueprints")).unwrap()
    {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            changed.path().join(path.file_name().unwrap()),
            text.replace("MemorySize: \"128\"", "MemorySize: \"256\""),
        )
        .unwrap();
    }
    let local = Local::start_with(Some(&moto.endpoint), Some(changed.path()));
    let (origin, _, _) = console(&local);

    let browser = Browser::start();
    browser.goto(local.console_url.as_deref().unwrap());
    browser.goto(&format!("{origin}/upgrade"));
    let plan = browser.text("#upgrade-plan");
    assert!(plan.starts_with("3 tenants to upgrade"), "{plan}");
    browser.type_into("#wave_size", "2");
    browser.click("#upgrade button[type=submit]");
    browser.wait_for(
        "the run",
        Duration::from_secs(30),
        "return !!document.getElementById('run-state');",
    );
    mark(&browser);
    browser.wait_for(
        "the run to end",
        Duration::from_secs(180),
        "return document.getElementById('run-state').textContent !== 'running';",
    );
    assert!(
        still_marked(&browser),
        "the page followed the run without a reload"
    );
    assert_eq!(
        accessibility(&browser),
        Vec::<String>::new(),
        "a run's page"
    );
    assert_eq!(
        browser.text("#run-state"),
        "done",
        "{}",
        browser.text("#run")
    );
    assert_eq!(browser.text("[data-upgrade='wave-0-upgraded']"), "1");
    assert_eq!(browser.text("[data-upgrade='wave-1-upgraded']"), "2");
    for id in &ids {
        let text = browser.run(
            "return document.querySelector(`[data-upgrade=\"step-${arguments[0]}-state\"]`).textContent;",
            json!([id]),
        );
        assert_eq!(text, "upgraded", "{id}");
    }
    let listed = local.json(&["list"]);
    let version = listed[0]["version"].clone();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["version"] == version && t["status"] == "running"),
        "{listed}"
    );
    // Nothing is left to do: the page says so and offers no run.
    browser.goto(&format!("{origin}/upgrade"));
    assert!(
        browser
            .text("#upgrade-plan")
            .starts_with("0 tenants to upgrade")
    );
    assert!(browser.find("#upgrade").is_none());
}
