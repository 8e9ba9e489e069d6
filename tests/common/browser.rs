//! Headless Chromium driven over WebDriver (W3C), as an operator's browser: Debian's
//! `chromium` and `chromium-driver`, which the test command installs when they are missing.
//! The protocol is JSON over HTTP on loopback, so this speaks it with a plain TCP stream: a
//! request per connection, `Connection: close`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    _profile: tempfile::TempDir,
}

/// A WebDriver error: its `error` code and message.
#[derive(Debug)]
pub struct WebDriverError {
    pub error: String,
    pub message: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request to `127.0.0.1:port`, answered as (status, body).
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    // Read the head, then the body by its Content-Length (chromedriver keeps the connection
    // open whatever the request says), by chunks, or to the end.
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let fail = |e: std::io::Error| -> ! { panic!("{method} {path} on 127.0.0.1:{port}: {e}") };
    let head_end = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut buf).unwrap_or_else(|e| fail(e));
        if n == 0 {
            break raw.len();
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    let length: Option<usize> = header("content-length").and_then(|v| v.parse().ok());
    let chunked = header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let body_start = (head_end + 4).min(raw.len());
    loop {
        let have = raw.len() - body_start;
        let done = match length {
            Some(n) => have >= n,
            None if chunked => raw[body_start..].windows(5).any(|w| w == b"0\r\n\r\n"),
            None => false,
        };
        if done {
            break;
        }
        let n = stream.read(&mut buf).unwrap_or_else(|e| fail(e));
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let rest = String::from_utf8_lossy(&raw[body_start..]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = if chunked { dechunk(&rest) } else { rest };
    (status, head.to_owned(), body)
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session in a fresh profile,
    /// with everything that would reach beyond loopback turned off.
    pub fn start() -> Browser {
        for (what, path) in [("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)] {
            assert!(
                Path::new(path).is_file(),
                "{what} is not installed at {path}: scripts/test.sh installs Debian's chromium and chromium-driver"
            );
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                let (status, _, body) = http(port, "GET", "/status", &[], "");
                if status == 200 && body.contains("\"ready\":true") {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not get ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser {
            driver,
            port,
            session: String::new(),
            _profile: profile,
        };
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-default-apps".to_owned(),
            "--window-size=1280,900".to_owned(),
            format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let session = browser
            .command(
                "POST",
                "/session",
                json!({
                    "capabilities": {
                        "alwaysMatch": {
                            "browserName": "chrome",
                            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
                            "unhandledPromptBehavior": "ignore",
                        }
                    }
                }),
            )
            .expect("a WebDriver session");
        browser.session = session["sessionId"].as_str().unwrap().to_owned();
        browser
    }

    fn command(&self, method: &str, path: &str, body: Value) -> Result<Value, WebDriverError> {
        let body = if method == "GET" || method == "DELETE" {
            String::new()
        } else {
            body.to_string()
        };
        let (status, _, text) = http(
            self.port,
            method,
            path,
            &[("Content-Type", "application/json")],
            &body,
        );
        let answer: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"));
        let value = answer["value"].clone();
        if status == 200 {
            Ok(value)
        } else {
            Err(WebDriverError {
                error: value["error"].as_str().unwrap_or_default().to_owned(),
                message: value["message"].as_str().unwrap_or_default().to_owned(),
            })
        }
    }

    fn session(&self, method: &str, path: &str, body: Value) -> Result<Value, WebDriverError> {
        self.command(method, &format!("/session/{}{path}", self.session), body)
    }

    fn must(&self, method: &str, path: &str, body: Value) -> Value {
        self.session(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {}: {}", e.error, e.message))
    }

    pub fn goto(&self, url: &str) {
        self.must("POST", "/url", json!({ "url": url }));
    }

    pub fn url(&self) -> String {
        self.must("GET", "/url", Value::Null)
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The first element `css` selects, if any.
    pub fn find(&self, css: &str) -> Option<String> {
        match self.session(
            "POST",
            "/element",
            json!({ "using": "css selector", "value": css }),
        ) {
            Ok(v) => Some(v[ELEMENT].as_str().unwrap().to_owned()),
            Err(e) if e.error == "no such element" => None,
            Err(e) => panic!("find {css}: {}: {}", e.error, e.message),
        }
    }

    pub fn element(&self, css: &str) -> String {
        self.find(css)
            .unwrap_or_else(|| panic!("no element {css} on {}:\n{}", self.url(), self.text("body")))
    }

    /// The rendered text of the first element `css` selects.
    pub fn text(&self, css: &str) -> String {
        let id = self
            .find(css)
            .unwrap_or_else(|| panic!("no element {css} on {}", self.url()));
        self.must("GET", &format!("/element/{id}/text"), Value::Null)
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub fn click(&self, css: &str) {
        let id = self.element(css);
        self.must("POST", &format!("/element/{id}/click"), json!({}));
    }

    /// Types `text` into the element, as keys.
    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.must("POST", &format!("/element/{id}/clear"), json!({}));
        self.must(
            "POST",
            &format!("/element/{id}/value"),
            json!({ "text": text }),
        );
    }

    /// Presses keys on whatever has the focus, as a keyboard would: WebDriver's key codes
    /// (`\u{E004}` Tab, `\u{E007}` Enter) or characters.
    pub fn keys(&self, keys: &str) {
        let mut actions = Vec::new();
        for k in keys.chars() {
            actions.push(json!({ "type": "keyDown", "value": k.to_string() }));
            actions.push(json!({ "type": "keyUp", "value": k.to_string() }));
        }
        self.must(
            "POST",
            "/actions",
            json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] }),
        );
        self.must("DELETE", "/actions", Value::Null);
    }

    /// Runs `script` (a function body) in the page with `args`, and returns what it returns.
    pub fn run(&self, script: &str, args: Value) -> Value {
        self.must(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": args }),
        )
    }

    /// The text of an open alert, confirm or prompt, if one is open.
    pub fn alert(&self) -> Option<String> {
        match self.session("GET", "/alert/text", Value::Null) {
            Ok(v) => Some(v.as_str().unwrap_or_default().to_owned()),
            Err(e) if e.error == "no such alert" => None,
            Err(e) => panic!("alert: {}: {}", e.error, e.message),
        }
    }

    /// A PNG of the viewport.
    pub fn screenshot(&self) -> Vec<u8> {
        let b64 = self.must("GET", "/screenshot", Value::Null);
        aws_smithy_types::base64::decode(b64.as_str().unwrap()).expect("a base64 PNG")
    }

    /// Waits until `script` returns true, or panics with `what` after `timeout`.
    pub fn wait_for(&self, what: &str, timeout: Duration, script: &str) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.run(script, json!([])) == json!(true) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "waited {timeout:?} for {what} on {}:\n{}",
            self.url(),
            self.text("body")
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.session("DELETE", "", Value::Null);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
