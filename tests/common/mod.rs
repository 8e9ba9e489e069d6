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
