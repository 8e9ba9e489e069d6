//! A fault-injecting HTTP proxy, seeded, to put between a client and the emulator (or the
//! tenant API). Each request is read whole, then, by the proxy's script or its dice:
//! - **ServerError**: answered 500 in the service's own error shape, never forwarded;
//! - **Throttle**: answered with the service's throttling error (S3's 503 SlowDown), never
//!   forwarded;
//! - **Refuse**: answered 400 with an error the SDK does not retry (CloudFormation's
//!   ValidationError, say), never forwarded;
//! - **Delay**: forwarded after 50 ms to 1.5 s;
//! - **LoseResponse**: forwarded and applied, then the connection is cut before the answer.
//!
//! The shapes are each protocol's: the JSON protocols' `__type` (DynamoDB, Streams,
//! EventBridge, SQS), the query protocol's `<ErrorResponse>` (CloudFormation, STS, IAM), S3's
//! `<Error>`, and the tenant API's own `{"error": {"code", "message"}}`. The service is the one
//! the request's SigV4 credential scope names.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    ServerError,
    Throttle,
    Refuse,
    Delay,
    LoseResponse,
}

/// The faults the dice choose from, equally likely.
const RANDOM: [Fault; 4] = [
    Fault::ServerError,
    Fault::Throttle,
    Fault::Delay,
    Fault::LoseResponse,
];

/// One request, as the proxy classifies it.
#[derive(Clone, Debug)]
struct Call {
    /// The SigV4 scope's service (`dynamodb`, `cloudformation`, `s3`, `execute-api`, ...).
    service: String,
    /// `UpdateItem`, `CreateStack`, `PUT` (S3), `POST /delete` (the tenant API).
    operation: String,
    /// The request's Content-Type, which a JSON protocol's error echoes.
    content_type: String,
}

struct Script {
    operation: String,
    fault: Fault,
    left: usize,
}

struct State {
    rng: fastrand::Rng,
    rate: f64,
    /// Faults the dice may choose; all of [`RANDOM`] unless narrowed.
    kinds: Vec<Fault>,
    /// Only requests to these services get random faults (all when empty).
    services: Vec<String>,
    scripts: Vec<Script>,
    injected: BTreeMap<Fault, usize>,
    /// Per operation, the faults injected: what a failing test prints.
    by_operation: BTreeMap<String, usize>,
    forwarded: usize,
}

impl State {
    /// The fault for `call`, if any: a script for its operation first, then the dice.
    fn decide(&mut self, call: &Call) -> Option<(Fault, Duration)> {
        let scripted = self
            .scripts
            .iter_mut()
            .find(|s| s.left > 0 && s.operation == call.operation)
            .map(|s| {
                s.left -= 1;
                s.fault
            });
        let serviced = self.services.is_empty() || self.services.contains(&call.service);
        let fault = scripted.or_else(|| {
            (serviced && self.rate > 0.0 && self.rng.f64() < self.rate)
                .then(|| self.kinds[self.rng.usize(..self.kinds.len())])
        })?;
        *self.injected.entry(fault).or_default() += 1;
        *self
            .by_operation
            .entry(format!("{} {}", call.service, call.operation))
            .or_default() += 1;
        let delay = Duration::from_millis(self.rng.u64(50..=1500));
        Some((fault, delay))
    }
}

pub struct FaultProxy {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// The seed of a test's dice: `SILOS_FAULT_SEED`, else `default`. Printed, so that a failure
/// can be replayed.
pub fn seed(default: u64) -> u64 {
    let seed = std::env::var("SILOS_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    eprintln!("fault seed: {seed} (SILOS_FAULT_SEED)");
    seed
}

impl FaultProxy {
    /// Proxies a free loopback port to `upstream` (`http://127.0.0.1:PORT`), with no faults
    /// until told. It runs on a thread and runtime of its own, so it serves from a plain
    /// `#[test]` and from any tokio runtime alike.
    pub fn start(upstream: &str, seed: u64) -> FaultProxy {
        let state = Arc::new(Mutex::new(State {
            rng: fastrand::Rng::with_seed(seed),
            rate: 0.0,
            kinds: RANDOM.to_vec(),
            services: Vec::new(),
            scripts: Vec::new(),
            injected: BTreeMap::new(),
            by_operation: BTreeMap::new(),
            forwarded: 0,
        }));
        let upstream: Arc<str> = upstream.trim_end_matches('/').into();
        let (started_tx, started_rx) = mpsc::channel();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let shared = state.clone();
        let thread = std::thread::Builder::new()
            .name("fault-proxy".to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("the proxy's runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("a loopback port");
                    let _ = started_tx.send(listener.local_addr().expect("its address"));
                    let client: Client<HttpConnector, Full<Bytes>> =
                        Client::builder(TokioExecutor::new()).build_http();
                    loop {
                        let accepted = tokio::select! {
                            accepted = listener.accept() => accepted,
                            _ = &mut stopped => return,
                        };
                        let Ok((stream, _)) = accepted else { continue };
                        let (state, upstream, client) =
                            (shared.clone(), upstream.clone(), client.clone());
                        tokio::spawn(async move {
                            let service = hyper::service::service_fn(move |request| {
                                handle(request, state.clone(), upstream.clone(), client.clone())
                            });
                            // A lost answer ends the connection with an error: expected.
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                });
            })
            .expect("start the proxy's thread");
        let addr = started_rx.recv().expect("the proxy started");
        FaultProxy {
            endpoint: format!("http://{addr}"),
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// From now on, each request gets a random fault with probability `rate` (0 stops them).
    pub fn set_rate(&self, rate: f64) {
        self.with(|s| s.rate = rate);
    }

    /// Narrows the dice to these faults.
    pub fn set_kinds(&self, kinds: &[Fault]) {
        self.with(|s| s.kinds = kinds.to_vec());
    }

    /// Random faults only for requests to these services (the SigV4 scope's names).
    pub fn only_services(&self, services: &[&str]) {
        self.with(|s| s.services = services.iter().map(|x| (*x).to_owned()).collect());
    }

    /// The next `times` requests of `operation` (`UpdateItem`, `CreateStack`, `POST /delete`)
    /// get `fault`, whatever the dice say.
    pub fn inject(&self, operation: &str, fault: Fault, times: usize) {
        self.with(|s| {
            s.scripts.push(Script {
                operation: operation.to_owned(),
                fault,
                left: times,
            })
        });
    }

    /// How many of a script's faults are still to come, over every script for `operation`.
    pub fn pending(&self, operation: &str) -> usize {
        self.with(|s| {
            s.scripts
                .iter()
                .filter(|x| x.operation == operation)
                .map(|x| x.left)
                .sum()
        })
    }

    /// The faults injected so far, by kind.
    pub fn injected(&self) -> BTreeMap<Fault, usize> {
        self.with(|s| s.injected.clone())
    }

    /// A line for a test's output: requests forwarded, faults by kind and by operation.
    pub fn report(&self) -> String {
        self.with(|s| {
            format!(
                "{} forwarded; faults {:?}; by operation {:?}",
                s.forwarded, s.injected, s.by_operation
            )
        })
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[derive(Debug)]
struct Cut(&'static str);

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Cut {}

async fn handle(
    request: Request<Incoming>,
    state: Arc<Mutex<State>>,
    upstream: Arc<str>,
    client: Client<HttpConnector, Full<Bytes>>,
) -> Result<Response<Full<Bytes>>, Cut> {
    let (mut parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|_| Cut("the request body was cut"))?
        .to_bytes();
    let call = classify(&parts, &body);
    let decided = state.lock().unwrap().decide(&call);
    match decided {
        Some((fault @ (Fault::ServerError | Fault::Throttle | Fault::Refuse), _)) => {
            return Ok(error_response(&call, fault));
        }
        Some((Fault::Delay, wait)) => tokio::time::sleep(wait).await,
        _ => {}
    }
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    parts.uri = format!("{upstream}{path}")
        .parse()
        .map_err(|_| Cut("an unusable path"))?;
    let answer = client
        .request(Request::from_parts(parts, Full::new(body)))
        .await
        .map_err(|_| Cut("the upstream did not answer"))?;
    let (head, body) = answer.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|_| Cut("the upstream's body was cut"))?
        .to_bytes();
    state.lock().unwrap().forwarded += 1;
    if matches!(decided, Some((Fault::LoseResponse, _))) {
        // Applied upstream; the client hears nothing: hyper drops the connection.
        return Err(Cut("answer lost on purpose"));
    }
    Ok(Response::from_parts(head, Full::new(body)))
}

fn classify(parts: &http::request::Parts, body: &[u8]) -> Call {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    // `AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, ...`
    let authorization = header("authorization");
    let service = authorization
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("unknown")
        .to_owned();
    let target = header("x-amz-target");
    let form_action = || {
        std::str::from_utf8(body)
            .ok()?
            .split('&')
            .find_map(|p| p.strip_prefix("Action="))
            .map(str::to_owned)
    };
    let operation = if let Some((_, op)) = target.rsplit_once('.') {
        op.to_owned()
    } else if let Some(action) = form_action() {
        action
    } else if service == "execute-api" {
        format!("{} {}", parts.method, parts.uri.path())
    } else {
        parts.method.to_string()
    };
    Call {
        service,
        operation,
        content_type: header("content-type"),
    }
}

/// `fault` as the service would say it.
fn error_response(call: &Call, fault: Fault) -> Response<Full<Bytes>> {
    let message = format!("injected fault: {fault:?}");
    let json = call.content_type.starts_with("application/x-amz-json");
    let (status, code, content_type, body) = if call.service == "execute-api" {
        let (status, code) = match fault {
            Fault::Throttle => (StatusCode::TOO_MANY_REQUESTS, "TooManyRequestsException"),
            Fault::Refuse => (StatusCode::BAD_REQUEST, "BadRequest"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError"),
        };
        let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
        (status, code, "application/json".to_owned(), body)
    } else if json {
        let (status, code) = match (fault, call.service.as_str()) {
            (Fault::Throttle, _) => (StatusCode::BAD_REQUEST, "ThrottlingException"),
            (Fault::Refuse, _) => (StatusCode::BAD_REQUEST, "ValidationException"),
            (_, "dynamodb") => (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure"),
        };
        let body = serde_json::json!({"__type": code, "message": message}).to_string();
        (status, code, call.content_type.clone(), body)
    } else if call.service == "s3" {
        let (status, code) = match fault {
            Fault::Throttle => (StatusCode::SERVICE_UNAVAILABLE, "SlowDown"),
            Fault::Refuse => (StatusCode::BAD_REQUEST, "InvalidRequest"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
        };
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>FAULT</RequestId></Error>"
        );
        (status, code, "application/xml".to_owned(), body)
    } else {
        let (status, code, kind) = match fault {
            Fault::Throttle => (StatusCode::BAD_REQUEST, "Throttling", "Sender"),
            Fault::Refuse => (StatusCode::BAD_REQUEST, "ValidationError", "Sender"),
            _ => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailure",
                "Receiver",
            ),
        };
        let body = format!(
            "<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>FAULT</RequestId></ErrorResponse>"
        );
        (status, code, "text/xml".to_owned(), body)
    };
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("x-amzn-errortype", code)
        .header("x-amzn-requestid", "FAULT")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}
