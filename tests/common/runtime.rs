//! A fake Lambda Runtime API on loopback, as the cold-start bench uses: it hands the real
//! `bootstrap` one queued event per `GET /runtime/invocation/next` and collects what the
//! function posts back, so a built zip can be driven exactly as Lambda drives it.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde_json::Value;

/// What the function posted for one invocation.
#[derive(Debug)]
pub enum Outcome {
    Response(Value),
    Error(String),
}

/// Queued invocations (request id, event), and the signal that one was queued.
type Queue = (Mutex<VecDeque<(String, Value)>>, Condvar);

pub struct Runtime {
    pub address: String,
    events: Arc<Queue>,
    outcomes: mpsc::Receiver<(String, Outcome)>,
    next_id: u64,
}

impl Runtime {
    pub fn start() -> Runtime {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let events = Arc::new((Mutex::new(VecDeque::new()), Condvar::new()));
        let (tx, outcomes) = mpsc::channel();
        let queue = events.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let queue = queue.clone();
                let tx = tx.clone();
                std::thread::spawn(move || serve(stream, &queue, &tx));
            }
        });
        Runtime {
            address,
            events,
            outcomes,
            next_id: 0,
        }
    }

    /// Invokes the function with `event` and waits for what it posts back.
    pub fn invoke(&mut self, event: Value) -> Outcome {
        self.next_id += 1;
        let id = format!("request-{}", self.next_id);
        let (queue, ready) = &*self.events;
        queue.lock().unwrap().push_back((id.clone(), event));
        ready.notify_all();
        let (got, outcome) = self
            .outcomes
            .recv_timeout(Duration::from_secs(30))
            .expect("the function answered within 30 s");
        assert_eq!(got, id, "answers come in invocation order");
        outcome
    }
}

/// One connection: requests in a row (the runtime client keeps connections alive).
fn serve(stream: TcpStream, queue: &Queue, tx: &mpsc::Sender<(String, Outcome)>) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let reply = if method == "GET" && path.ends_with("/runtime/invocation/next") {
            let (lock, ready) = queue;
            let mut events = lock.lock().unwrap();
            let (id, event) = loop {
                match events.pop_front() {
                    Some(e) => break e,
                    None => events = ready.wait(events).unwrap(),
                }
            };
            let body = event.to_string();
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 lambda-runtime-aws-request-id: {id}\r\n\
                 lambda-runtime-deadline-ms: 32503680000000\r\n\
                 lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:test\r\n\
                 content-length: {}\r\n\r\n{body}",
                body.len()
            )
        } else if let Some(rest) = path.split("/runtime/invocation/").nth(1) {
            let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
            let text = String::from_utf8_lossy(&body).into_owned();
            let outcome = match kind {
                "response" => Outcome::Response(serde_json::from_str(&text).unwrap_or(Value::Null)),
                _ => Outcome::Error(text),
            };
            let _ = tx.send((id.to_owned(), outcome));
            "HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n".to_owned()
        } else {
            // An init error: the function could not start.
            let _ = tx.send((
                String::new(),
                Outcome::Error(String::from_utf8_lossy(&body).into_owned()),
            ));
            "HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n".to_owned()
        };
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}
