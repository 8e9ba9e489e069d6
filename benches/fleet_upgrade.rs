//! Fleet upgrade time: N tenants (default 50, or SILOS_BENCH_TENANTS) provisioned through
//! `silos local`, a new blueprint published by restarting local mode, then
//! `silos tenants upgrade --wave-size W` (default 10, or SILOS_BENCH_WAVE) timed as a user
//! runs it. The baseline is the emulator alone doing the same stack updates: N
//! CreateChangeSet + DescribeChangeSet + ExecuteChangeSet calls on the same stacks.
//!
//! Run with `cargo bench --bench fleet_upgrade`. Needs `.venv` (./scripts/test.sh).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::{Capability, ChangeSetType, Parameter};
use serde_json::{Value, json};
use silos::cli::client::ApiClient;
use silos::local::{self, Emulator};
use silos::stacks::Config;

const REGION: &str = "us-east-1";

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// The project's blueprints with the silo function's memory at `mb`.
fn blueprints(dir: &Path, mb: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir("blueprints").unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text.replace("MemorySize: \"128\"", &format!("MemorySize: \"{mb}\""));
        std::fs::write(dir.join(path.file_name().unwrap()), text).unwrap();
    }
    dir.to_owned()
}

async fn start(
    endpoint: &str,
    blueprints: PathBuf,
    counter: Arc<AtomicUsize>,
    to: &'static str,
) -> local::Running {
    local::start(
        local::Options {
            app: silos::App::new().tenant_stack("tenant-silo", silos::stacks::tenant_silo),
            config: Config::new("silos").unwrap(),
            blueprints,
            endpoint_url: Some(endpoint.to_owned()),
            region: REGION.to_owned(),
            port: 0,
            require_auth: false,
            lambda_zip: None,
        },
        Arc::new(move |r| {
            if let local::Report::Transition { to: now, .. } = r
                && now.as_str() == to
            {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        }),
    )
    .await
    .expect("start local mode")
}

async fn until(counter: &AtomicUsize, n: usize) {
    while counter.load(Ordering::SeqCst) < n {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The emulator alone: each stack updated through a change set to `mb`.
async fn baseline(
    cfn: &aws_sdk_cloudformation::Client,
    stacks: &[(String, Vec<Parameter>)],
    mb: &str,
) -> Duration {
    let started = Instant::now();
    for (i, (stack, params)) in stacks.iter().enumerate() {
        let params: Vec<Parameter> = params
            .iter()
            .map(|p| {
                let value = if p.parameter_key() == Some("MemorySize") {
                    mb.to_owned()
                } else {
                    p.parameter_value().unwrap_or_default().to_owned()
                };
                Parameter::builder()
                    .parameter_key(p.parameter_key().unwrap_or_default())
                    .parameter_value(value)
                    .build()
            })
            .collect();
        let name = format!("bench-{i}");
        cfn.create_change_set()
            .stack_name(stack)
            .change_set_name(&name)
            .change_set_type(ChangeSetType::Update)
            .use_previous_template(true)
            .set_parameters(Some(params))
            .capabilities(Capability::CapabilityIam)
            .send()
            .await
            .expect("CreateChangeSet");
        cfn.describe_change_set()
            .stack_name(stack)
            .change_set_name(&name)
            .send()
            .await
            .expect("DescribeChangeSet");
        cfn.execute_change_set()
            .stack_name(stack)
            .change_set_name(&name)
            .send()
            .await
            .expect("ExecuteChangeSet");
    }
    started.elapsed()
}

#[tokio::main]
async fn main() {
    if !Path::new(".venv/bin/python").is_file() {
        println!("(no .venv: run ./scripts/test.sh once to install the pinned moto)");
        return;
    }
    let n = env_number("SILOS_BENCH_TENANTS", 50);
    let wave = env_number("SILOS_BENCH_WAVE", 10);
    let tmp = tempfile::tempdir().unwrap();
    let emulator = Emulator::start().await.expect("start the emulator");

    // N running tenants at 128 MB.
    let running = Arc::new(AtomicUsize::new(0));
    let first = start(
        &emulator.endpoint,
        PathBuf::from("blueprints"),
        running.clone(),
        "running",
    )
    .await;
    let client = ApiClient::new(&first.api_url, None).unwrap();
    for i in 0..n {
        client
            .post(
                "/onboarding",
                json!({"tenantName": format!("Tenant {i}"), "deploymentType": "silo"}),
            )
            .await
            .expect("onboarding");
    }
    until(&running, n).await;
    first.stop().await;

    // Published at 512 MB: every tenant is behind.
    let updated = Arc::new(AtomicUsize::new(0));
    let second = start(
        &emulator.endpoint,
        blueprints(&tmp.path().join("bp512"), "512"),
        updated.clone(),
        "updating",
    )
    .await;
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_silos"))
        .args([
            "tenants",
            "--api-url",
            &second.api_url,
            "upgrade",
            "--output",
            "json",
        ])
        .args(["--wave-size", &wave.to_string()])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("HOME", tmp.path())
        .output()
        .expect("run silos tenants upgrade");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let upgraded = report["upgraded"].as_array().unwrap().len();
    let waves = report["waves"].as_array().unwrap().len();
    assert_eq!(upgraded, n, "{report}");
    assert_eq!(
        updated.load(Ordering::SeqCst),
        n,
        "each tenant updated once"
    );

    // The same updates by the emulator alone, on the same stacks.
    let sdk = silos::aws::emulator(&emulator.endpoint, REGION);
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let mut stacks = Vec::new();
    let client = ApiClient::new(&second.api_url, None).unwrap();
    for t in client.get("/tenants").await.unwrap().as_array().unwrap() {
        let name = t["stackName"].as_str().unwrap().to_owned();
        let described = cfn
            .describe_stacks()
            .stack_name(&name)
            .send()
            .await
            .unwrap();
        let params = described.stacks()[0].parameters().to_vec();
        stacks.push((name, params));
    }
    second.stop().await;
    let raw = baseline(&cfn, &stacks, "1024").await;
    emulator.stop().await;

    println!(
        "silos tenants upgrade: {n} tenants in {waves} waves (canary, then {wave}) in {:.2} s ({:.0} ms per tenant)",
        took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 / n as f64
    );
    println!(
        "emulator baseline: {n} change sets created, described and executed in {:.2} s ({:.0} ms each)",
        raw.as_secs_f64(),
        raw.as_secs_f64() * 1000.0 / n as f64
    );
    println!(
        "ratio: {:.2} (waves wait for each to settle; the baseline does not)",
        took.as_secs_f64() / raw.as_secs_f64()
    );
}
