//! The simulated AWS behind the real SDK clients: one `HttpClient` that answers STS AssumeRole,
//! CloudFormation (awsQuery, form-encoded requests and XML answers), DynamoDB (JSON 1.0, see
//! `dynamodb`), EventBridge PutEvents (JSON 1.1) and S3 GetObject, each after a latency drawn from the distributions in
//! [`Params`]. Requests are attributed to an account by the access key id in their SigV4
//! `Authorization` header's credential scope: the control plane's own credentials are
//! `AKIA<account>HOME`, and an assumed cell role's are `ASIA<account><n>`, so a cell's
//! CloudFormation calls count against its own account's quota and rate.
//!
//! CloudFormation keeps per-account stacks: CreateStack refuses a name in use
//! (AlreadyExistsException, unless the client request token is the one that created it), a
//! full account (LimitExceededException at the stack quota), a TemplateURL outside the cell's
//! own bucket, a role of another account, missing capabilities, and parameters the template
//! does not declare or lacks; a created stack completes after a drawn latency and its status
//! changes are sent as stack events. Every call is paced by a token bucket per account, region
//! and API action (or one per account and region for every action), and answered `Throttling`
//! (HTTP 400) past it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::dynamodb::Table;

/// The distributions and limits of the simulated services.
#[derive(Clone, Debug)]
pub struct Params {
    /// CloudFormation's stacks per account and region (the quota, raised as cells.yaml says).
    pub stack_quota: u32,
    /// CloudFormation's API rate per account and region: a token bucket per API action, or
    /// one for all of them (`shared_bucket`). AWS publishes no figure; these are assumptions.
    pub cfn_rate: f64,
    pub cfn_burst: f64,
    pub shared_bucket: bool,
    /// Stack creation time: log-normal with this median and sigma (of the log), at least
    /// `create_min`.
    pub create_median: Duration,
    pub create_sigma: f64,
    pub create_min: Duration,
    /// Stack deletion time: log-normal, the same sigma.
    pub delete_median: Duration,
    /// The seed of every draw.
    pub seed: u64,
    /// One account whose CloudFormation throttles every call for a while: (account, from,
    /// until), in simulated time since the fake was made.
    pub outage: Option<(String, Duration, Duration)>,
}

/// A request's latency, drawn per call: a log-normal with this median and sigma.
#[derive(Clone, Copy, Debug)]
pub struct Latency {
    pub median_ms: f64,
    pub sigma: f64,
}

/// The per-call latencies (stated in the bench's output).
pub const DYNAMODB_ITEM: Latency = Latency {
    median_ms: 5.0,
    sigma: 0.35,
};
pub const DYNAMODB_MULTI: Latency = Latency {
    median_ms: 10.0,
    sigma: 0.35,
};
pub const CFN_CREATE: Latency = Latency {
    median_ms: 300.0,
    sigma: 0.3,
};
pub const CFN_DESCRIBE: Latency = Latency {
    median_ms: 80.0,
    sigma: 0.3,
};
pub const CFN_OTHER: Latency = Latency {
    median_ms: 150.0,
    sigma: 0.3,
};
pub const CFN_THROTTLED: Latency = Latency {
    median_ms: 30.0,
    sigma: 0.2,
};
pub const STS: Latency = Latency {
    median_ms: 60.0,
    sigma: 0.2,
};
pub const EVENTS_PUT: Latency = Latency {
    median_ms: 20.0,
    sigma: 0.3,
};
pub const S3_GET: Latency = Latency {
    median_ms: 25.0,
    sigma: 0.3,
};

/// A stack status change, as CloudFormation sends it to EventBridge.
#[derive(Clone, Debug)]
pub struct StackEvent {
    pub stack_id: String,
    pub status: &'static str,
    pub reason: String,
    pub region: String,
    pub account: String,
}

/// What a cell's account accepts: its access role (assumed with the external id), the role
/// CloudFormation may be passed, and the bucket templates come from.
#[derive(Clone, Debug)]
pub struct CellAccount {
    pub account: String,
    pub region: String,
    pub access_role: Option<String>,
    pub external_id: Option<String>,
    pub provisioning_role: String,
    pub bucket: String,
}

/// One account-and-region's CloudFormation.
#[derive(Debug, Default)]
pub struct Account {
    pub live: u32,
    pub max_live: u32,
    pub throttled: u64,
    pub calls: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
    /// Each bucket's tokens and when they were counted, by action (or `*`, shared).
    buckets: BTreeMap<String, (f64, Instant)>,
}

struct Stack {
    id: String,
    name: String,
    status: &'static str,
    reason: String,
    token: Option<String>,
    created: SystemTime,
}

/// The tenant template CreateStack may use: its key, and its parameters (with whether each
/// has a default).
#[derive(Clone, Debug)]
pub struct Template {
    pub key: String,
    pub parameters: BTreeMap<String, bool>,
    pub needs_iam: bool,
}

pub struct State {
    pub table: Table,
    pub accounts: BTreeMap<(String, String), Account>,
    pub cells: Vec<CellAccount>,
    pub home_account: String,
    pub objects: HashMap<(String, String), Vec<u8>>,
    pub templates: Vec<Template>,
    stacks: Vec<Stack>,
    /// (account, region, name) → the live stack's index.
    by_name: HashMap<(String, String, String), usize>,
    by_id: HashMap<String, usize>,
    rng: fastrand::Rng,
    /// Requests per service and operation.
    pub requests: BTreeMap<String, u64>,
    /// Assumed-role sessions handed out per account.
    pub sessions: BTreeMap<String, u64>,
    /// Requests the simulation does not serve (each is a finding).
    pub unsupported: BTreeMap<String, u64>,
    /// Entries put on EventBridge buses, by bus.
    pub events_put: BTreeMap<String, u64>,
    /// Each lifecycle event's lag behind its stream record, in seconds, and the keys put
    /// more than once.
    pub publish_lags: Vec<f64>,
    pub published_keys: std::collections::HashSet<String>,
    pub published_twice: u64,
    /// How long each stack took to create, by stack name: AWS's part of a tenant's wait.
    pub create_took: HashMap<String, Duration>,
}

pub struct Fake {
    pub state: Mutex<State>,
    params: Params,
    started: Instant,
    events: mpsc::UnboundedSender<StackEvent>,
}

/// `ln(median) + sigma·Z`, Z standard normal (Box-Muller).
fn lognormal(rng: &mut fastrand::Rng, median: f64, sigma: f64) -> f64 {
    let u1 = rng.f64().max(f64::MIN_POSITIVE);
    let u2 = rng.f64();
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    (median.ln() + sigma * z).exp()
}

fn draw(rng: &mut fastrand::Rng, l: Latency) -> Duration {
    Duration::from_secs_f64(lognormal(rng, l.median_ms, l.sigma) / 1000.0)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form(body: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// `Prefix.member.N` (or `Prefix.member.N.Field`) values, in order.
fn members(f: &BTreeMap<String, String>, prefix: &str, field: Option<&str>) -> Vec<String> {
    let mut out: Vec<(u32, String)> = f
        .iter()
        .filter_map(|(k, v)| {
            let rest = k.strip_prefix(prefix)?.strip_prefix(".member.")?;
            let (n, tail) = match rest.split_once('.') {
                Some((n, tail)) => (n, Some(tail)),
                None => (rest, None),
            };
            if tail != field {
                return None;
            }
            Some((n.parse().ok()?, v.clone()))
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, v)| v).collect()
}

type Answer = (u16, &'static str, Vec<u8>);

fn query_error(status: u16, code: &str, message: &str) -> Answer {
    (
        status,
        "text/xml",
        format!(
            "<ErrorResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>fake</RequestId></ErrorResponse>",
            escape(message)
        )
        .into_bytes(),
    )
}

fn query_ok(action: &str, result: &str) -> Answer {
    (
        200,
        "text/xml",
        format!(
            "<{action}Response xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\"><{action}Result>{result}</{action}Result><ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></{action}Response>"
        )
        .into_bytes(),
    )
}

fn iso(t: SystemTime) -> String {
    aws_smithy_types::DateTime::from(t)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

/// The access key id of the control plane's own credentials.
pub fn home_key(account: &str) -> String {
    format!("AKIA{account}HOME")
}

impl Fake {
    pub fn new(
        params: Params,
        table: Table,
        home_account: &str,
        cells: Vec<CellAccount>,
    ) -> (Arc<Fake>, mpsc::UnboundedReceiver<StackEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let rng = fastrand::Rng::with_seed(params.seed);
        let fake = Fake {
            state: Mutex::new(State {
                table,
                accounts: BTreeMap::new(),
                cells,
                home_account: home_account.to_owned(),
                objects: HashMap::new(),
                templates: Vec::new(),
                stacks: Vec::new(),
                by_name: HashMap::new(),
                by_id: HashMap::new(),
                rng,
                requests: BTreeMap::new(),
                sessions: BTreeMap::new(),
                unsupported: BTreeMap::new(),
                events_put: BTreeMap::new(),
                publish_lags: Vec::new(),
                published_keys: std::collections::HashSet::new(),
                published_twice: 0,
                create_took: HashMap::new(),
            }),
            params,
            started: Instant::now(),
            events: tx,
        };
        (Arc::new(fake), rx)
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The SDK's HTTP client, answering every request in process.
    pub fn http_client(self: &Arc<Fake>) -> SharedHttpClient {
        let fake = self.clone();
        http_client_fn(move |_, _| SharedHttpConnector::new(Connector(fake.clone())))
    }

    /// A draw from the simulation's generator (for the bench's own distributions).
    pub fn draw(&self, l: Latency) -> Duration {
        draw(&mut self.lock().rng, l)
    }

    pub fn uniform(&self) -> f64 {
        self.lock().rng.f64()
    }

    fn handle(self: &Arc<Fake>, request: &Parsed) -> Answer {
        let mut s = self.lock();
        *s.requests
            .entry(format!("{}:{}", request.service, request.operation))
            .or_default() += 1;
        match request.service.as_str() {
            "dynamodb" => {
                if request.account != s.home_account {
                    return dynamodb_error("AccessDeniedException", "not the control plane's");
                }
                let body: serde_json::Value = match serde_json::from_slice(&request.body) {
                    Ok(v) => v,
                    Err(e) => return dynamodb_error("SerializationException", &e.to_string()),
                };
                match s.table.call(&request.operation, &body) {
                    Ok(text) => (200, "application/x-amz-json-1.0", text.into_bytes()),
                    Err(e) => {
                        if e.code == "UnknownOperationException" || e.code == "ValidationException"
                        {
                            *s.unsupported
                                .entry(format!("dynamodb {}: {}", request.operation, e.message))
                                .or_default() += 1;
                        }
                        let mut body = json!({
                            "__type": format!("com.amazonaws.dynamodb.v20120810#{}", e.code),
                            "message": e.message,
                        });
                        if let Some(reasons) = &e.reasons {
                            body["CancellationReasons"] = reasons
                                .iter()
                                .map(|r| match r {
                                    Some(code) => json!({"Code": code, "Message": "The conditional request failed"}),
                                    None => json!({"Code": "None"}),
                                })
                                .collect();
                        }
                        (
                            400,
                            "application/x-amz-json-1.0",
                            body.to_string().into_bytes(),
                        )
                    }
                }
            }
            "sts" => self.sts(&mut s, request),
            "events" => put_events(&mut s, request),
            "s3" => s3_get(&s, request),
            "cloudformation" => self.cloudformation(&mut s, request),
            other => {
                *s.unsupported.entry(format!("service {other}")).or_default() += 1;
                query_error(400, "UnknownService", other)
            }
        }
    }

    fn sts(&self, s: &mut State, r: &Parsed) -> Answer {
        let f = form(&r.body);
        if f.get("Action").map(String::as_str) != Some("AssumeRole") {
            *s.unsupported
                .entry(format!("sts {:?}", f.get("Action")))
                .or_default() += 1;
            return query_error(400, "InvalidAction", "not simulated");
        }
        let role = f.get("RoleArn").cloned().unwrap_or_default();
        let external = f.get("ExternalId").cloned();
        let cell = s
            .cells
            .iter()
            .find(|c| c.access_role.as_deref() == Some(role.as_str()))
            .cloned();
        let Some(cell) = cell else {
            return query_error(
                403,
                "AccessDenied",
                &format!("User is not authorized to perform: sts:AssumeRole on resource: {role}"),
            );
        };
        if r.account != s.home_account || external != cell.external_id {
            return query_error(
                403,
                "AccessDenied",
                &format!("the trust policy of {role} refuses this caller or external id"),
            );
        }
        let n = s.sessions.entry(cell.account.clone()).or_default();
        *n += 1;
        let key = format!("ASIA{}{:04}", cell.account, *n % 10_000);
        let expires = iso(SystemTime::now() + Duration::from_secs(12 * 3600));
        let session = f.get("RoleSessionName").cloned().unwrap_or_default();
        (
            200,
            "text/xml",
            format!(
                "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult><Credentials><AccessKeyId>{key}</AccessKeyId><SecretAccessKey>fake-secret</SecretAccessKey><SessionToken>fake-session-{key}</SessionToken><Expiration>{expires}</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::{}:assumed-role/{}/{}</Arn><AssumedRoleId>AROAFAKE:{}</AssumedRoleId></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></AssumeRoleResponse>",
                cell.account,
                escape(role.rsplit('/').next().unwrap_or_default()),
                escape(&session),
                escape(&session)
            )
            .into_bytes(),
        )
    }

    /// One token from the account's bucket for `action`, or false: throttled.
    fn admit(&self, account: &mut Account, action: &str) -> bool {
        let now = Instant::now();
        let key = if self.params.shared_bucket {
            "*"
        } else {
            action
        };
        let (tokens, at) = account
            .buckets
            .entry(key.to_owned())
            .or_insert((self.params.cfn_burst, now));
        let elapsed = now.saturating_duration_since(*at).as_secs_f64();
        *tokens = (*tokens + elapsed * self.params.cfn_rate).min(self.params.cfn_burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn cloudformation(self: &Arc<Fake>, s: &mut State, r: &Parsed) -> Answer {
        let f = form(&r.body);
        let action = f.get("Action").cloned().unwrap_or_default();
        let key = (r.account.clone(), r.region.clone());
        let mut account = s.accounts.remove(&key).unwrap_or_default();
        *account.calls.entry(action.clone()).or_default() += 1;
        let out = self.params.outage.as_ref().is_some_and(|(a, from, until)| {
            let t = self.started.elapsed();
            *a == r.account && t >= *from && t < *until
        });
        let answer = if !out && self.admit(&mut account, &action) {
            match action.as_str() {
                "CreateStack" => self.create_stack(s, &mut account, r, &f),
                "DescribeStacks" => describe_stacks(s, r, &f),
                "DeleteStack" => self.delete_stack(s, r, &f),
                other => {
                    *s.unsupported
                        .entry(format!("cloudformation {other}"))
                        .or_default() += 1;
                    query_error(400, "InvalidAction", &format!("{other} is not simulated"))
                }
            }
        } else {
            account.throttled += 1;
            query_error(400, "Throttling", "Rate exceeded")
        };
        if answer.0 != 200 {
            let code = String::from_utf8_lossy(&answer.2)
                .split("<Code>")
                .nth(1)
                .and_then(|c| c.split('<').next())
                .unwrap_or("?")
                .to_owned();
            *account
                .errors
                .entry(format!("{action}: {code}"))
                .or_default() += 1;
        }
        s.accounts.insert(key, account);
        answer
    }

    fn create_stack(
        self: &Arc<Fake>,
        s: &mut State,
        account: &mut Account,
        r: &Parsed,
        f: &BTreeMap<String, String>,
    ) -> Answer {
        let name = f.get("StackName").cloned().unwrap_or_default();
        let valid_name = name.len() <= 128
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !valid_name {
            return query_error(400, "ValidationError", &format!("bad stack name {name:?}"));
        }
        let token = f.get("ClientRequestToken").cloned();
        let name_key = (r.account.clone(), r.region.clone(), name.clone());
        if let Some(&i) = s.by_name.get(&name_key) {
            let stack = &s.stacks[i];
            if token.is_some() && stack.token == token {
                return query_ok(
                    "CreateStack",
                    &format!("<StackId>{}</StackId>", escape(&stack.id)),
                );
            }
            return query_error(
                400,
                "AlreadyExistsException",
                &format!("Stack [{name}] already exists"),
            );
        }
        if account.live >= self.params.stack_quota {
            return query_error(
                400,
                "LimitExceededException",
                &format!(
                    "Cannot exceed quota for StacksPerAccount: {}",
                    self.params.stack_quota
                ),
            );
        }
        let Some(cell) = s
            .cells
            .iter()
            .find(|c| c.account == r.account && c.region == r.region)
            .cloned()
        else {
            return query_error(400, "ValidationError", "no cell in this account and region");
        };
        // The TemplateURL: the cell's own bucket, in its region, holding the template.
        let url = f.get("TemplateURL").cloned().unwrap_or_default();
        let parsed = url
            .strip_prefix("https://")
            .and_then(|rest| rest.split_once('/'))
            .and_then(|(host, key)| {
                let bucket = host.strip_suffix(&format!(".s3.{}.amazonaws.com", r.region))?;
                Some((bucket.to_owned(), key.to_owned()))
            });
        let Some((bucket, template_key)) = parsed else {
            return query_error(
                400,
                "ValidationError",
                &format!("TemplateURL {url} is not an S3 URL of this region"),
            );
        };
        if bucket != cell.bucket
            || !s
                .objects
                .contains_key(&(bucket.clone(), template_key.clone()))
        {
            return query_error(
                400,
                "ValidationError",
                &format!(
                    "TemplateURL must reference a valid S3 object to which you have access: {url}"
                ),
            );
        }
        let Some(template) = s.templates.iter().find(|t| t.key == template_key).cloned() else {
            return query_error(400, "ValidationError", "not a tenant template");
        };
        match f.get("RoleARN") {
            Some(role) if *role == cell.provisioning_role => {}
            other => {
                return query_error(
                    400,
                    "ValidationError",
                    &format!(
                        "Role {other:?} is invalid or cannot be assumed: expected {}",
                        cell.provisioning_role
                    ),
                );
            }
        }
        let capabilities = members(f, "Capabilities", None);
        if template.needs_iam
            && !capabilities
                .iter()
                .any(|c| c == "CAPABILITY_IAM" || c == "CAPABILITY_NAMED_IAM")
        {
            return query_error(
                400,
                "InsufficientCapabilitiesException",
                "Requires capabilities : [CAPABILITY_IAM]",
            );
        }
        let given: BTreeSet<String> = members(f, "Parameters", Some("ParameterKey"))
            .into_iter()
            .collect();
        let unknown: Vec<&String> = given
            .iter()
            .filter(|p| !template.parameters.contains_key(*p))
            .collect();
        if !unknown.is_empty() {
            return query_error(
                400,
                "ValidationError",
                &format!("Parameters: {unknown:?} do not exist in the template"),
            );
        }
        let missing: Vec<&String> = template
            .parameters
            .iter()
            .filter(|(p, has_default)| !**has_default && !given.contains(*p))
            .map(|(p, _)| p)
            .collect();
        if !missing.is_empty() {
            return query_error(
                400,
                "ValidationError",
                &format!("Parameters: {missing:?} must have values"),
            );
        }
        let uuid = format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            s.rng.u32(..),
            s.rng.u16(..),
            s.rng.u16(..),
            s.rng.u16(..),
            s.rng.u64(..) & 0xffff_ffff_ffff
        );
        let id = format!(
            "arn:aws:cloudformation:{}:{}:stack/{name}/{uuid}",
            r.region, r.account
        );
        let index = s.stacks.len();
        s.stacks.push(Stack {
            id: id.clone(),
            name: name.clone(),
            status: "CREATE_IN_PROGRESS",
            reason: "User Initiated".to_owned(),
            token,
            created: SystemTime::now(),
        });
        s.by_name.insert(name_key, index);
        s.by_id.insert(id.clone(), index);
        account.live += 1;
        account.max_live = account.max_live.max(account.live);
        let took = Duration::from_secs_f64(lognormal(
            &mut s.rng,
            self.params.create_median.as_secs_f64(),
            self.params.create_sigma,
        ))
        .max(self.params.create_min);
        s.create_took.insert(name.clone(), took);
        self.emit(&s.stacks[index], r);
        let fake = self.clone();
        let (region, acct) = (r.region.clone(), r.account.clone());
        tokio::spawn(async move {
            tokio::time::sleep(took).await;
            let mut s = fake.lock();
            let stack = &mut s.stacks[index];
            stack.status = "CREATE_COMPLETE";
            stack.reason = String::new();
            let _ = fake.events.send(StackEvent {
                stack_id: stack.id.clone(),
                status: stack.status,
                reason: stack.reason.clone(),
                region,
                account: acct,
            });
        });
        query_ok(
            "CreateStack",
            &format!("<StackId>{}</StackId>", escape(&id)),
        )
    }

    fn emit(&self, stack: &Stack, r: &Parsed) {
        let _ = self.events.send(StackEvent {
            stack_id: stack.id.clone(),
            status: stack.status,
            reason: stack.reason.clone(),
            region: r.region.clone(),
            account: r.account.clone(),
        });
    }

    fn delete_stack(
        self: &Arc<Fake>,
        s: &mut State,
        r: &Parsed,
        f: &BTreeMap<String, String>,
    ) -> Answer {
        let name = f.get("StackName").cloned().unwrap_or_default();
        let Some(index) = find(s, r, &name) else {
            // Deleting a stack that does not exist succeeds.
            return query_ok("DeleteStack", "");
        };
        if matches!(
            s.stacks[index].status,
            "DELETE_COMPLETE" | "DELETE_IN_PROGRESS"
        ) {
            return query_ok("DeleteStack", "");
        }
        s.stacks[index].status = "DELETE_IN_PROGRESS";
        s.stacks[index].reason = "User Initiated".to_owned();
        self.emit(&s.stacks[index], r);
        let took = Duration::from_secs_f64(lognormal(
            &mut s.rng,
            self.params.delete_median.as_secs_f64(),
            self.params.create_sigma,
        ));
        let fake = self.clone();
        let (region, acct) = (r.region.clone(), r.account.clone());
        tokio::spawn(async move {
            tokio::time::sleep(took).await;
            let mut s = fake.lock();
            let stack = &mut s.stacks[index];
            stack.status = "DELETE_COMPLETE";
            stack.reason = String::new();
            let event = StackEvent {
                stack_id: stack.id.clone(),
                status: stack.status,
                reason: String::new(),
                region: region.clone(),
                account: acct.clone(),
            };
            let name_key = (acct.clone(), region.clone(), stack.name.clone());
            s.by_name.remove(&name_key);
            if let Some(a) = s.accounts.get_mut(&(acct, region)) {
                a.live -= 1;
            }
            let _ = fake.events.send(event);
        });
        query_ok("DeleteStack", "")
    }
}

/// A stack by name (the live one) or by id (any, deleted ones too), in the caller's account
/// and region.
fn find(s: &State, r: &Parsed, name_or_id: &str) -> Option<usize> {
    if name_or_id.starts_with("arn:") {
        let i = *s.by_id.get(name_or_id)?;
        let prefix = format!("arn:aws:cloudformation:{}:{}:", r.region, r.account);
        return s.stacks[i].id.starts_with(&prefix).then_some(i);
    }
    s.by_name
        .get(&(r.account.clone(), r.region.clone(), name_or_id.to_owned()))
        .copied()
}

fn describe_stacks(s: &State, r: &Parsed, f: &BTreeMap<String, String>) -> Answer {
    let Some(name) = f.get("StackName") else {
        return query_error(
            400,
            "ValidationError",
            "DescribeStacks of every stack is not simulated",
        );
    };
    let Some(i) = find(s, r, name) else {
        return query_error(
            400,
            "ValidationError",
            &format!("Stack with id {name} does not exist"),
        );
    };
    let st = &s.stacks[i];
    let reason = if st.reason.is_empty() {
        String::new()
    } else {
        format!(
            "<StackStatusReason>{}</StackStatusReason>",
            escape(&st.reason)
        )
    };
    query_ok(
        "DescribeStacks",
        &format!(
            "<Stacks><member><StackName>{}</StackName><StackId>{}</StackId><CreationTime>{}</CreationTime><StackStatus>{}</StackStatus>{reason}</member></Stacks>",
            escape(&st.name),
            escape(&st.id),
            iso(st.created),
            st.status
        ),
    )
}

fn s3_get(s: &State, r: &Parsed) -> Answer {
    let not_found = || {
        (
            404,
            "application/xml",
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>".to_vec(),
        )
    };
    if r.method != "GET" {
        return not_found();
    }
    let Some(bucket) = r.host.split(".s3.").next() else {
        return not_found();
    };
    let key = decode(r.path.trim_start_matches('/'));
    match s.objects.get(&(bucket.to_owned(), key)) {
        Some(bytes) => (200, "application/octet-stream", bytes.clone()),
        None => not_found(),
    }
}

/// EventBridge PutEvents (JSON 1.1): every entry is taken, on a bus of the caller's account.
fn put_events(s: &mut State, r: &Parsed) -> Answer {
    let json_error = |code: &str, message: &str| {
        (
            400,
            "application/x-amz-json-1.1",
            json!({"__type": code, "message": message})
                .to_string()
                .into_bytes(),
        )
    };
    if r.operation != "PutEvents" {
        *s.unsupported
            .entry(format!("events {}", r.operation))
            .or_default() += 1;
        return json_error("UnknownOperationException", "not simulated");
    }
    let body: serde_json::Value = match serde_json::from_slice(&r.body) {
        Ok(v) => v,
        Err(e) => return json_error("SerializationException", &e.to_string()),
    };
    let entries = body["Entries"].as_array().cloned().unwrap_or_default();
    if entries.is_empty() || entries.len() > 10 {
        return json_error("ValidationException", "1 to 10 entries");
    }
    let mut out = Vec::new();
    for e in &entries {
        let bus = e["EventBusName"].as_str().unwrap_or("default").to_owned();
        let own = bus == "default"
            || !bus.starts_with("arn:")
            || bus.starts_with(&format!("arn:aws:events:{}:{}:", r.region, r.account));
        if !own || e["Detail"].as_str().is_none() || e["Source"].as_str().is_none() {
            return json_error("ValidationException", &format!("bad entry on {bus}"));
        }
        *s.events_put.entry(bus).or_default() += 1;
        let detail: serde_json::Value =
            serde_json::from_str(e["Detail"].as_str().unwrap_or("{}")).unwrap_or_default();
        if let Some(key) = detail["idempotencyKey"].as_str() {
            if let Some(at) = s.table.written.get(key) {
                let lag = Instant::now().saturating_duration_since(*at).as_secs_f64();
                s.publish_lags.push(lag);
            }
            if !s.published_keys.insert(key.to_owned()) {
                s.published_twice += 1;
            }
        }
        let n: u64 = s.events_put.values().sum();
        out.push(json!({"EventId": format!("fake-{n}")}));
    }
    (
        200,
        "application/x-amz-json-1.1",
        json!({"FailedEntryCount": 0, "Entries": out})
            .to_string()
            .into_bytes(),
    )
}

fn dynamodb_error(code: &str, message: &str) -> Answer {
    (
        400,
        "application/x-amz-json-1.0",
        json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{code}"), "message": message})
            .to_string()
            .into_bytes(),
    )
}

/// What the fake reads of a request.
struct Parsed {
    service: String,
    operation: String,
    account: String,
    region: String,
    method: String,
    host: String,
    path: String,
    body: Vec<u8>,
}

fn parse(request: &HttpRequest) -> Parsed {
    let header = |n: &str| request.headers().get(n).unwrap_or_default().to_owned();
    let auth = header("authorization");
    // Credential=<AKID>/<date>/<region>/<service>/aws4_request
    let scope: Vec<&str> = auth
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split([',', ' ']).next())
        .unwrap_or_default()
        .split('/')
        .collect();
    let key = scope.first().copied().unwrap_or_default();
    let account = key.get(4..16).unwrap_or_default().to_owned();
    let region = scope.get(2).copied().unwrap_or_default().to_owned();
    let service = scope.get(3).copied().unwrap_or_default().to_owned();
    let body = request.body().bytes().unwrap_or_default().to_vec();
    let uri: http::Uri = request.uri().parse().unwrap_or_default();
    let host = uri.host().unwrap_or_default().to_owned();
    let path = uri.path().to_owned();
    let operation = match service.as_str() {
        "dynamodb" | "events" => header("x-amz-target")
            .split('.')
            .nth(1)
            .unwrap_or_default()
            .to_owned(),
        "s3" => format!(
            "{} {}",
            request.method(),
            host.split(".s3.").next().unwrap_or("")
        ),
        _ => form(&body).remove("Action").unwrap_or_default(),
    };
    Parsed {
        service,
        operation,
        account,
        region,
        method: request.method().to_owned(),
        host,
        path,
        body,
    }
}

#[derive(Debug)]
struct Connector(Arc<Fake>);

impl std::fmt::Debug for Fake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fake")
    }
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let fake = self.0.clone();
        let parsed = parse(&request);
        HttpConnectorFuture::new(async move {
            // Served as it arrives; the answer comes back after the call's latency (a
            // throttled call's is short: it is refused at the door).
            let (status, content_type, body) = fake.handle(&parsed);
            let throttled = status == 400
                && parsed.service == "cloudformation"
                && body.windows(10).any(|w| w == b"Throttling");
            let latency = match (parsed.service.as_str(), parsed.operation.as_str()) {
                _ if throttled => CFN_THROTTLED,
                ("dynamodb", "GetItem" | "PutItem" | "UpdateItem" | "DeleteItem") => DYNAMODB_ITEM,
                ("dynamodb", _) => DYNAMODB_MULTI,
                ("cloudformation", "CreateStack") => CFN_CREATE,
                ("cloudformation", "DescribeStacks") => CFN_DESCRIBE,
                ("cloudformation", _) => CFN_OTHER,
                ("sts", _) => STS,
                ("events", _) => EVENTS_PUT,
                _ => S3_GET,
            };
            tokio::time::sleep(fake.draw(latency)).await;
            let length = body.len().to_string();
            let mut response = HttpResponse::new(
                StatusCode::try_from(status).expect("a valid status"),
                SdkBody::from(body),
            );
            response.headers_mut().insert("content-type", content_type);
            response.headers_mut().insert("content-length", length);
            response.headers_mut().insert("x-amzn-requestid", "fake");
            Ok(response)
        })
    }
}
