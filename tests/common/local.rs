//! `silos local` as a user runs it: the real binary, its own auto-started emulator, a free
//! port, SigV4 required, and `silos tenants` processes signing with the emulator's
//! credentials.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Local {
    child: Option<Child>,
    pub api_url: String,
    /// The console's address with its token, as `silos local` prints it.
    pub console_url: Option<String>,
    pub endpoint: String,
    /// The emulator local mode started, if it started one.
    pub emulator_pid: Option<u32>,
    pub out: tempfile::TempDir,
    /// Every stdout line so far.
    pub lines: Arc<Mutex<Vec<String>>>,
    home: tempfile::TempDir,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

impl Local {
    /// Starts `silos local --port 0 --require-auth` and waits until it is ready.
    pub fn start() -> Local {
        Local::start_at(None)
    }

    /// As [`start`](Self::start), against a running emulator when `endpoint` is given.
    pub fn start_at(endpoint: Option<&str>) -> Local {
        Local::start_with(endpoint, None)
    }

    /// As [`start_at`](Self::start_at), publishing the blueprints of `blueprints`.
    pub fn start_with(endpoint: Option<&str>, blueprints: Option<&Path>) -> Local {
        Local::start_app(Path::new(env!("CARGO_BIN_EXE_silos")), endpoint, blueprints)
    }

    /// As [`start_with`](Self::start_with), running another app's binary (the premium
    /// example's `premium`, say): `local` is one of every app's commands.
    pub fn start_app(binary: &Path, endpoint: Option<&str>, blueprints: Option<&Path>) -> Local {
        let out = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        assert!(
            binary.is_file(),
            "{} is not built: scripts/test.sh builds every binary first (cargo build --workspace --bins)",
            binary.display()
        );
        let mut cmd = Command::new(binary);
        cmd.current_dir(root())
            .args(["local", "--port", "0", "--require-auth", "--out"])
            .arg(out.path());
        if let Some(e) = endpoint {
            cmd.args(["--endpoint-url", e]);
        }
        if let Some(b) = blueprints {
            cmd.arg("--blueprints").arg(b);
        }
        let mut child = cmd
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start silos local");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line.clone());
                sink.lock().unwrap().push(line);
            }
        });
        let (mut api_url, mut endpoint, mut pid) = (None, None, None);
        let mut console_url = None;
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| {
                    let _ = child.kill();
                    panic!("silos local did not get ready: {:?}", lines.lock().unwrap())
                });
            if let Some(rest) = line.strip_prefix("emulator: moto (pid ") {
                pid = rest.split(',').next().and_then(|p| p.parse().ok());
                endpoint = rest.rsplit(" at ").next().map(str::to_owned);
            }
            if let Some(rest) = line.strip_prefix("emulator: ")
                && let Some(given) = rest.strip_suffix(" (given)")
            {
                endpoint = Some(given.to_owned());
            }
            if let Some(rest) = line.strip_prefix("API: ") {
                api_url = rest.split_whitespace().next().map(str::to_owned);
            }
            if let Some(rest) = line.strip_prefix("console: ") {
                console_url = Some(rest.trim().to_owned());
            }
            if line.starts_with("ready in ") {
                break;
            }
        }
        Local {
            child: Some(child),
            api_url: api_url.expect("an API line"),
            console_url,
            endpoint: endpoint.expect("an emulator line"),
            emulator_pid: pid,
            out,
            lines,
            home,
        }
    }

    /// `silos tenants --api-url URL ARGS…`, signing with the emulator's credentials.
    pub fn tenants(&self, args: &[&str]) -> Output {
        self.tenants_with(args, Some(("testing", "testing")))
    }

    /// As [`tenants`](Self::tenants), with other credentials or none at all.
    pub fn tenants_with(&self, args: &[&str], credentials: Option<(&str, &str)>) -> Output {
        let mut all = vec!["tenants", "--api-url", &self.api_url];
        all.extend(args);
        self.silos(&all, credentials)
    }

    /// `silos ARGS…` in the project directory, with these credentials or none.
    pub fn silos(&self, args: &[&str], credentials: Option<(&str, &str)>) -> Output {
        self.command(args, credentials)
            .output()
            .expect("run silos tenants")
    }

    /// The command [`silos`](Self::silos) runs, to spawn it instead.
    pub fn command(&self, args: &[&str], credentials: Option<(&str, &str)>) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_silos"));
        cmd.current_dir(root())
            .args(args)
            .env_remove("AWS_ENDPOINT_URL")
            // No profile files of the machine's user, no ambient credentials.
            .env("HOME", self.home.path())
            .env_remove("AWS_CONFIG_FILE")
            .env_remove("AWS_SHARED_CREDENTIALS_FILE")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("SILOS_API_URL")
            .env("AWS_REGION", "us-east-1");
        match credentials {
            Some((key, secret)) => cmd
                .env("AWS_ACCESS_KEY_ID", key)
                .env("AWS_SECRET_ACCESS_KEY", secret),
            None => cmd
                .env_remove("AWS_ACCESS_KEY_ID")
                .env_remove("AWS_SECRET_ACCESS_KEY"),
        };
        cmd
    }

    /// The tenant transition lines local mode printed so far, for `tenant_id`, as
    /// `from -> to` (`created, initiated` for the first).
    pub fn transitions(&self, tenant_id: &str) -> Vec<String> {
        let needle = format!("({tenant_id}): ");
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| l.split_once(&needle).map(|(_, rest)| rest))
            .map(|rest| rest.split(':').next().unwrap_or(rest).to_owned())
            .collect()
    }

    /// `silos tenants events --follow --output json`, listening once this returns: the child,
    /// and the events it has printed so far, each with `receivedAtMs`, when it arrived.
    pub fn follow_events(&self) -> (Child, Arc<Mutex<Vec<Value>>>) {
        let mut follow = self
            .command(
                &[
                    "tenants",
                    "events",
                    "--follow",
                    "--output",
                    "json",
                    "--endpoint-url",
                    &self.endpoint,
                ],
                Some(("testing", "testing")),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Listening before anything happens: only events after that are delivered.
        let mut err = BufReader::new(follow.stderr.take().unwrap());
        let mut first = String::new();
        err.read_line(&mut first).unwrap();
        assert!(first.starts_with("listening on silos-events"), "{first}");
        std::thread::spawn(move || for _ in err.lines() {});
        let out = BufReader::new(follow.stdout.take().unwrap());
        let events = Arc::new(Mutex::new(Vec::<Value>::new()));
        let sink = events.clone();
        std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { break };
                let mut event: Value = serde_json::from_str(&line).unwrap();
                event["receivedAtMs"] = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis()
                    .to_string()
                    .into();
                sink.lock().unwrap().push(event);
            }
        });
        (follow, events)
    }

    /// `tenants ARGS --output json`, which must succeed.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let out = self.tenants(&all);
        assert!(
            out.status.success(),
            "silos tenants {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "tenants {args:?}: not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Creates a tenant and returns its id.
    pub fn create(&self, name: &str) -> String {
        self.create_typed(name, "silo")
    }

    /// Creates a tenant of a deployment type and returns its id.
    pub fn create_typed(&self, name: &str, deployment_type: &str) -> String {
        let tenant = self.json(&["create", name, "--type", deployment_type]);
        assert_eq!(tenant["status"], "initiated", "{tenant}");
        tenant["tenantId"].as_str().unwrap().to_owned()
    }

    /// `tenants wait ID --status S`, which must succeed.
    pub fn wait(&self, id: &str, status: &str) -> Value {
        self.json(&["wait", id, "--status", status, "--timeout", "60"])
    }

    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        silos::aws::emulator(&self.endpoint, "us-east-1")
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// Kills local mode with SIGKILL, mid-flight, and reaps it.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("still running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Sends SIGINT and waits for the exit status.
    pub fn interrupt(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("still running");
        let killed = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("silos local did not exit within 30 s of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
