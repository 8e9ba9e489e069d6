//! The emulator `silos local` starts when no `--endpoint-url` is given: the project's
//! serialized moto launcher (`scripts/moto_server.py`, embedded here), run by the first Python
//! that can import moto: the project's `.venv`, the interpreter `moto_server` on PATH was
//! installed with, then `python3` on PATH (which also covers pyenv's shims). It listens on a
//! free loopback port, dies with its parent even on SIGKILL, and is stopped on exit.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The launcher: moto's WSGI app behind one lock (DESIGN.md section 10).
const LAUNCHER: &str = include_str!("../../scripts/moto_server.py");
/// The CloudFormation models the launcher adds to moto's (a tenant's user pool, app client and
/// HTTP API), handed to it as `--models-source`.
const MODELS: &str = include_str!("../../scripts/emulator_cfn.py");

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no Python that can import moto (tried {}): run ./scripts/test.sh once (it installs the pinned moto into .venv), or `pip install 'moto[server]==5.2.5'`, or pass --endpoint-url of a running emulator",
        tried.join("; ")
    )]
    NotInstalled { tried: Vec<String> },
    #[error("the emulator ({python}) did not start: {message}")]
    Start { python: String, message: String },
}

pub struct Emulator {
    child: Child,
    pub endpoint: String,
    pub pid: u32,
    pub python: PathBuf,
}

/// The interpreters to try, in order, each with where it came from.
fn candidates() -> Vec<(PathBuf, &'static str)> {
    let mut found = vec![(PathBuf::from(".venv/bin/python"), "the project's .venv")];
    let moto = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("moto_server"))
            .find(|p| p.is_file())
    });
    if let Some(interpreter) = moto
        .and_then(|m| std::fs::read_to_string(m).ok())
        .and_then(|text| shebang_python(&text))
    {
        found.push((interpreter, "moto_server's interpreter"));
    }
    found.push((PathBuf::from("python3"), "python3 on PATH"));
    found
}

/// The Python a console script's first line names: `#!/path/python3` or
/// `#!/usr/bin/env python3`. None for anything else (a pyenv shim is `#!/usr/bin/env bash`).
fn shebang_python(script: &str) -> Option<PathBuf> {
    let line = script.lines().next()?.strip_prefix("#!")?;
    let mut words = line.split_whitespace();
    let mut program = words.next()?;
    if Path::new(program).file_name().is_some_and(|n| n == "env") {
        program = words.find(|w| !w.starts_with('-') && !w.contains('='))?;
    }
    let name = Path::new(program).file_name()?.to_str()?;
    name.starts_with("python").then(|| PathBuf::from(program))
}

/// Whether `python` runs and imports what the launcher needs; the reason if not.
async fn imports_moto(python: &Path) -> Result<(), String> {
    let run = Command::new(python)
        .args(["-c", "import moto.server, werkzeug.serving"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(Duration::from_secs(60), run).await {
        Err(_) => Err("no answer within 60 s".to_owned()),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(out)) if out.status.success() => Ok(()),
        Ok(Ok(out)) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            Err(stderr
                .lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("exited with an error")
                .trim()
                .to_owned())
        }
    }
}

/// The first interpreter that can import moto, or everything that was tried.
async fn find_python() -> Result<PathBuf, Error> {
    let mut tried = Vec::new();
    for (python, source) in candidates() {
        match imports_moto(&python).await {
            Ok(()) => return Ok(python),
            Err(why) => tried.push(format!("{} ({source}): {why}", python.display())),
        }
    }
    Err(Error::NotInstalled { tried })
}

impl Emulator {
    pub async fn start() -> Result<Emulator, Error> {
        let python = find_python().await?;
        let start_error = |message: String| Error::Start {
            python: python.display().to_string(),
            message,
        };
        let mut child = Command::new(&python)
            .arg("-c")
            .arg(LAUNCHER)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--models-source",
                MODELS,
            ])
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interpreter_comes_from_a_python_shebang_only() {
        let check = |script: &str, want: Option<&str>| {
            assert_eq!(
                shebang_python(script),
                want.map(PathBuf::from),
                "{script:?}"
            );
        };
        check(
            "#!/opt/venv/bin/python3.11\nimport sys",
            Some("/opt/venv/bin/python3.11"),
        );
        check("#!/usr/bin/env python3\n", Some("python3"));
        check("#!/usr/bin/env -S python3 -u\n", Some("python3"));
        // pyenv's shim: not a Python, so python3 on PATH is tried instead.
        check("#!/usr/bin/env bash\nexec pyenv", None);
        check("#!/bin/sh\n", None);
        check("import sys\n", None);
    }
}
