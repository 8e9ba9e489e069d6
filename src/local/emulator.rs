//! The emulator `silos local` starts when no `--endpoint-url` is given: the project's
//! serialized moto launcher (`scripts/moto_server.py`, embedded here), run by the Python that
//! has moto: the project's `.venv`, else the one behind `moto_server` on PATH. It listens on a
//! free loopback port, dies with its parent even on SIGKILL, and is stopped on exit.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The launcher: moto's WSGI app behind one lock (DESIGN.md section 10).
const LAUNCHER: &str = include_str!("../../scripts/moto_server.py");

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no moto found: run ./scripts/test.sh once (it installs the pinned moto into .venv), or `pip install 'moto[server]==5.2.5'` so moto_server is on PATH, or pass --endpoint-url of a running emulator"
    )]
    NotInstalled,
    #[error("the emulator ({python}) did not start: {message}")]
    Start { python: String, message: String },
}

pub struct Emulator {
    child: Child,
    pub endpoint: String,
    pub pid: u32,
    pub python: PathBuf,
}

/// The Python interpreter that has moto.
fn find_python() -> Option<PathBuf> {
    let venv = Path::new(".venv/bin/python");
    if venv.is_file() {
        return Some(venv.to_owned());
    }
    let path = std::env::var_os("PATH")?;
    let moto = std::env::split_paths(&path)
        .map(|d| d.join("moto_server"))
        .find(|p| p.is_file())?;
    // A console script: its first line names the interpreter it was installed with.
    let text = std::fs::read_to_string(&moto).ok()?;
    let interpreter = text.lines().next()?.strip_prefix("#!")?.trim();
    let interpreter = PathBuf::from(interpreter.split_whitespace().next()?);
    interpreter.is_file().then_some(interpreter)
}

impl Emulator {
    pub async fn start() -> Result<Emulator, Error> {
        let python = find_python().ok_or(Error::NotInstalled)?;
        let start_error = |message: String| Error::Start {
            python: python.display().to_string(),
            message,
        };
        let mut child = Command::new(&python)
            .arg("-c")
            .arg(LAUNCHER)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| start_error(e.to_string()))?;
        let pid = child.id().unwrap_or_default();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");

        // Drain stderr for ever (moto logs every request there, and a full pipe would block
        // it); keep the last lines for an error message.
        let (tail_tx, tail_rx) = tokio::sync::watch::channel(Vec::<String>::new());
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::trace!(target: "silos::emulator", "{line}");
                tail_tx.send_modify(|tail| {
                    tail.push(line);
                    if tail.len() > 8 {
                        tail.remove(0);
                    }
                });
            }
        });

        let mut first = String::new();
        let read = tokio::time::timeout(
            Duration::from_secs(60),
            BufReader::new(stdout).read_line(&mut first),
        )
        .await;
        let port = first
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse::<u16>().ok());
        match (read, port) {
            (Ok(Ok(_)), Some(port)) => Ok(Emulator {
                child,
                endpoint: format!("http://127.0.0.1:{port}"),
                pid,
                python,
            }),
            (read, _) => {
                let _ = child.kill().await;
                // Let the stderr reader catch up with the last lines.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let tail = tail_rx.borrow().join(" | ");
                let why = match read {
                    Err(_) => "no port line within 60 s".to_owned(),
                    Ok(Err(e)) => e.to_string(),
                    Ok(Ok(_)) => format!("unexpected output {:?}", first.trim()),
                };
                Err(start_error(if tail.is_empty() {
                    why
                } else {
                    format!("{why}: {tail}")
                }))
            }
        }
    }

    /// Stops the emulator and reaps it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
