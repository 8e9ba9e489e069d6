//! The test harness: the project's serialized moto launcher on a free loopback port, one per
//! test, stopped when the test ends.

#![allow(dead_code)]

pub mod browser;
pub mod env;
pub mod faults;
pub mod lambda_zip;
pub mod local;
pub mod proxy;
pub mod recorder;
pub mod runtime;

use std::sync::mpsc;

/// Queues Cost Explorer answers through moto's API: `sys.argv[1]` the endpoint, `[2]` the body.
pub const QUEUE_COSTS: &str = "import sys, urllib.request; r = urllib.request.urlopen(urllib.request.Request(sys.argv[1] + '/moto-api/static/ce/cost-and-usage-results', data=sys.argv[2].encode(), headers={'Content-Type': 'application/json'})); sys.exit(0 if r.status == 201 else 1)";

/// Runs `.venv/bin/python -c SCRIPT ARGS…` (the test command's pinned tools: boto3, the
/// emulator's own API) and returns what it printed; it must succeed.
pub fn python(script: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"),
    )
    .arg("-c")
    .arg(script)
    .args(args)
    .env("AWS_ACCESS_KEY_ID", "testing")
    .env("AWS_SECRET_ACCESS_KEY", "testing")
    .output()
    .expect("run .venv/bin/python (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}
use std::thread::JoinHandle;

/// `silos::local::Emulator` (the launcher `silos local` runs) for a test. It runs on a thread
/// of its own with a current-thread runtime, which also drains the emulator's stderr, so
/// `start` works from a plain `#[test]` and from inside any tokio runtime alike.
pub struct Moto {
    pub endpoint: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Moto {
    /// Starts the emulator (with the project's `.venv`, installed by `scripts/test.sh`, when
    /// there is one) and waits until it listens.
    pub fn start() -> Moto {
        let (started_tx, started_rx) = mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("moto".to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the emulator's runtime");
                runtime.block_on(async move {
                    match silos::local::Emulator::start().await {
                        Ok(emulator) => {
                            let _ = started_tx.send(Ok(emulator.endpoint.clone()));
                            // Until the Moto is dropped (or the test's thread is gone).
                            let _ = stopped.await;
                            emulator.stop().await;
                        }
                        Err(e) => {
                            let _ = started_tx.send(Err(e.to_string()));
                        }
                    }
                });
            })
            .expect("start the emulator's thread");
        let endpoint = match started_rx.recv() {
            Ok(Ok(endpoint)) => endpoint,
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => panic!("the emulator's thread ended before it started"),
        };
        Moto {
            endpoint,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        silos::aws::emulator(&self.endpoint, "us-east-1")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The value of parameter `key` of the stack named (or with the id) `stack`.
pub async fn stack_parameter(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
    key: &str,
) -> String {
    let out = cfn
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .unwrap();
    out.stacks()[0]
        .parameters()
        .iter()
        .find(|p| p.parameter_key() == Some(key))
        .and_then(|p| p.parameter_value())
        .unwrap_or_else(|| panic!("stack {stack} has no parameter {key}"))
        .to_owned()
}

/// The reference app, as `src/main.rs` registers it.
#[allow(dead_code)]
pub fn app() -> silos::App {
    silos::App::new().tenant_stack("tenant-silo", silos::stacks::tenant_silo)
}
