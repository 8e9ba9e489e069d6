//! The test harness: the project's serialized moto launcher on a free loopback port, one per
//! test, stopped when the test ends.

#![allow(dead_code)]

pub mod env;
pub mod lambda_zip;
pub mod local;
pub mod proxy;
pub mod recorder;
pub mod runtime;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    /// Starts `scripts/moto_server.py` with the project's `.venv` (installed by
    /// `scripts/test.sh`) and waits until it listens.
    pub fn start() -> Moto {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = root.join(".venv/bin/python");
        assert!(
            python.is_file(),
            "no {}: run ./scripts/test.sh once to install the pinned moto",
            python.display()
        );
        let mut child = Command::new(python)
            .arg(root.join("scripts/moto_server.py"))
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the moto launcher");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("read the launcher's port line");
        let port: u16 = line
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected launcher output {line:?}"));
        Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        silos::aws::emulator(&self.endpoint, "us-east-1")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
