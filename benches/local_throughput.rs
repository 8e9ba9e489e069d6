//! Local provisioning throughput (DESIGN.md section 8): N tenants (default 200, or
//! SILOS_BENCH_TENANTS) onboarded through the API of a running `silos local` until all are
//! `running`, against N raw CreateStack calls of the same tenant template on the same kind of
//! emulator (the project's serialized moto launcher, fresh for each side).
//!
//! Run with `cargo bench --bench local_throughput`. Needs `.venv` (./scripts/test.sh).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::Capability;
use serde_json::json;
use silos::cli::client::ApiClient;
use silos::local::{self, Emulator};
use silos::stacks::Config;
use silos::synth::{self, Format};

const REGION: &str = "us-east-1";

fn tenants() -> usize {
    std::env::var("SILOS_BENCH_TENANTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200)
}

/// N CreateStack calls of the tenant template, with the parameters the provisioner sends.
async fn baseline(n: usize) -> Duration {
    let emulator = Emulator::start().await.expect("start the emulator");
    let sdk = silos::aws::emulator(&emulator.endpoint, REGION);
    let config = Config::new("silos").unwrap();
    let output = synth::synth(
        &reference_app(),
        &config,
        &PathBuf::from("blueprints"),
        Format::Json,
    )
    .unwrap();
    let setup = local::setup(
        &sdk,
        &config,
        &output,
        local::zips(None, &output.manifest.artifacts).unwrap(),
        REGION,
    )
    .await
    .expect("set up the emulator");
    let catalog: serde_json::Value = {
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        );
        let out = s3
            .get_object()
            .bucket(&setup.settings.artifacts_bucket)
            .key(&setup.publication.catalog_key)
            .send()
            .await
            .unwrap();
        serde_json::from_slice(&out.body.collect().await.unwrap().into_bytes()).unwrap()
    };
    let silo = &catalog["deploymentTypes"]["silo"];
    let url = format!(
        "https://{}.s3.{REGION}.amazonaws.com/{}",
        setup.settings.artifacts_bucket,
        silo["templateKey"].as_str().unwrap()
    );
    let system: BTreeMap<String, String> = silo["systemParameters"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v["value"].as_str().unwrap().to_owned()))
        .collect();
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let started = Instant::now();
    for _ in 0..n {
        let id = uuid::Uuid::new_v4().to_string();
        let mut params = system.clone();
        params.insert("TenantId".into(), id.clone());
        params.insert("TenantName".into(), format!("Tenant {id}"));
        let memory = silo["blueprint"]["parameters"]["MemorySize"].as_str();
        params.insert("MemorySize".into(), memory.unwrap().to_owned());
        cfn.create_stack()
            .stack_name(format!("silos-tenant-{id}"))
            .template_url(&url)
            .set_parameters(Some(silos::deploy::parameter_list(&params)))
            .set_role_arn(setup.settings.provisioning_role_arn.clone())
            .capabilities(Capability::CapabilityIam)
            .send()
            .await
            .expect("CreateStack");
    }
    let took = started.elapsed();
    emulator.stop().await;
    took
}

/// Peak resident memory of this process (which hosts local mode), from /proc.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or_default()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// N onboardings through `silos local`'s API, until every tenant is running.
async fn through_local(n: usize) -> Duration {
    let emulator = Emulator::start().await.expect("start the emulator");
    // Transitions to running, as local mode reports them: no polling of the table.
    let running_count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let all_running = Arc::new(tokio::sync::Notify::new());
    let running = local::start(
        local::Options {
            app: reference_app(),
            config: Config::new("silos").unwrap(),
            blueprints: PathBuf::from("blueprints"),
            endpoint_url: Some(emulator.endpoint.clone()),
            region: REGION.to_owned(),
            port: 0,
            require_auth: false,
            lambda_zip: None,
        },
        {
            let running = running_count.clone();
            let all = all_running.clone();
            Arc::new(move |r| {
                if let local::Report::Transition { to, .. } = r
                    && to == silos::control_plane::tenant::Status::Running
                    && running.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == n
                {
                    all.notify_one();
                }
            })
        },
    )
    .await
    .expect("start local mode");
    let client = Arc::new(ApiClient::new(&running.api_url, None).unwrap());
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let latencies = Arc::new(std::sync::Mutex::new(Vec::with_capacity(n)));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // Eight clients at a time, as a burst of sign-ups would come.
    for _ in 0..8 {
        let client = client.clone();
        let next = next.clone();
        let latencies = latencies.clone();
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= n {
                    return;
                }
                let sent = Instant::now();
                client
                    .post(
                        "/onboarding",
                        json!({"tenantName": format!("Tenant {i}"), "deploymentType": "silo"}),
                    )
                    .await
                    .expect("onboarding");
                latencies.lock().unwrap().push(sent.elapsed());
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let onboarded = started.elapsed();
    all_running.notified().await;
    let took = started.elapsed();
    let took_all = took;
    // Every tenant, once, and each with its own stack.
    let list = client.get("/tenants").await.expect("list");
    let list = list.as_array().unwrap();
    let names: std::collections::BTreeSet<&str> = list
        .iter()
        .map(|t| t["tenantName"].as_str().unwrap())
        .collect();
    let stacks: std::collections::BTreeSet<&str> =
        list.iter().filter_map(|t| t["stackId"].as_str()).collect();
    assert_eq!(list.len(), n, "no tenant lost or duplicated");
    assert_eq!(names.len(), n);
    assert_eq!(stacks.len(), n, "one stack each");
    assert!(list.iter().all(|t| t["status"] == "running"));
    let mut l = latencies.lock().unwrap().clone();
    l.sort();
    println!(
        "  the {n} onboarding requests took {:.2} s; API latency p50 {:.1} ms, p99 {:.1} ms (8 clients)",
        onboarded.as_secs_f64(),
        percentile(&l, 0.5).as_secs_f64() * 1000.0,
        percentile(&l, 0.99).as_secs_f64() * 1000.0,
    );
    println!(
        "  peak RSS of the process hosting silos local: {:.1} MB",
        peak_rss_mb()
    );
    let took = took_all;
    running.stop().await;
    emulator.stop().await;
    took
}

/// The reference app, as `src/main.rs` registers it.
fn reference_app() -> silos::App {
    silos::App::new().tenant_stack("tenant-silo", silos::stacks::tenant_silo)
}

#[tokio::main]
async fn main() {
    if !std::path::Path::new(".venv/bin/python").is_file() {
        println!("(no .venv: run ./scripts/test.sh once to install the pinned moto)");
        return;
    }
    let n = tenants();
    let raw = baseline(n).await;
    println!(
        "emulator baseline: {n} CreateStack calls in {:.2} s ({:.1} ms each)",
        raw.as_secs_f64(),
        raw.as_secs_f64() * 1000.0 / n as f64
    );
    let local = through_local(n).await;
    println!(
        "silos local: {n} tenants onboarded and running in {:.2} s",
        local.as_secs_f64()
    );
    println!(
        "ratio: {:.2} (target < 1.5)",
        local.as_secs_f64() / raw.as_secs_f64()
    );
}
