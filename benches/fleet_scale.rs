//! Fleet scale, simulated (DESIGN.md section 8; issue 17's "Scale, measured"): the real
//! onboarding API, placement, provisioner, stack-events handler and reconciler, each run as the
//! Lambda functions the synthesized control-plane template declares, against a simulated AWS
//! (`fleet_scale/fake.rs`): CloudFormation with per-account stack quotas, throttling and stack
//! latencies, STS for the cells' roles, S3 for the catalog, and DynamoDB with real conditions,
//! capacity units and a stream. The SDK clients are the real ones, on a fake `HttpClient`.
//! Everything runs on virtual time (tokio's paused clock), so a stack's minute costs nothing.
//!
//! What is taken from the synthesized app, so the simulation follows the code as it changes:
//! the cells (cells.yaml written here, capacities fitted by synth), the catalog and the tenant
//! template (its parameters, which CreateStack checks), the tenants table's key schema and
//! indexes, each function's memory and timeout, the stream subscriptions' filters, batch size,
//! retries and record age, the stack status rule's pattern, and the reconciler's schedule.
//!
//! Driven as production drives it:
//! - onboarding requests arrive as a Poisson stream (`SILOS_BENCH_RATE` a second) at the
//!   `POST /onboarding` route of `api::router`, with an Idempotency-Key, as the CLI sends
//!   them; each is one invocation of the Onboarding function;
//! - the table's stream has `SILOS_BENCH_SHARDS` shards; on each, the provisioner's event
//!   source mapping polls 4 times a second, sends what passes its filter to one of its
//!   parallelization factor's lanes by partition key (one tenant's records stay in order),
//!   and each lane hands each batch to `ControlPlane::handle_stream` as one invocation, retrying from the
//!   first reported failure with backoff, giving a record up after the template's retries, and
//!   dropping records older than its maximum age; the event publisher's mapping likewise hands
//!   its batches to `events::Publisher::handle_stream` (PutEvents, and DescribeStacks for the
//!   outputs of a tenant now `running`, through the control plane's own client as
//!   `lambda::run` builds it);
//! - CloudFormation's status changes go through EventBridge (0.3 s plus an exponential of mean
//!   0.4 s) to the StackEvents function, matched against the rule's pattern, with Lambda's
//!   two asynchronous retries (after 1 and 2 minutes) and then its dead-letter queue;
//! - the reconciler runs on its schedule, with `lambda::RECONCILE_SETTLE`, cut off at its
//!   function's timeout.
//!
//! Every Lambda execution environment is its own `ControlPlane` (its own catalog cache, its
//! own token bucket per cell, its own SDK clients), taken warm from a pool or started cold.
//!
//! Cell events. By default (`SILOS_BENCH_CELL_EVENTS=synthesized`) a stack event goes where the
//! synthesized templates send it: in a cell's account, to the control plane's bus if the cell
//! stack has a rule targeting `ControlPlaneEventBusArn` (one more EventBridge hop), and then to
//! the stack-events handler if one of the control plane's rules that target it matches it;
//! otherwise only the reconciler sees the stack. `SILOS_BENCH_CELL_EVENTS=forwarded` assumes
//! the forwarding whatever the templates say.
//!
//! Run with `cargo bench --bench fleet_scale` (`SILOS_BENCH_TENANTS`, default 10000;
//! `SILOS_BENCH_QUICK=1` for 1000). Prints a table and writes it as JSON to
//! `target/fleet-scale.json` (or `SILOS_BENCH_OUT`). Other knobs: `SILOS_BENCH_RATE`
//! (arrivals a second, 100), `SILOS_BENCH_CELLS` (enough for 1.2 times the fleet at 4,500 a
//! cell, at least 3), `SILOS_BENCH_SHARDS` (4), `SILOS_BENCH_CFN_RATE` and
//! `SILOS_BENCH_CFN_BURST` (CloudFormation's assumed rate per account and region: 10 a second,
//! bursts of 20), `SILOS_BENCH_CFN_BUCKETS` (`action`: a bucket per API action, the default;
//! `account`: one for every action), `SILOS_BENCH_SEED` (17). The parameters are in the JSON.

#[path = "fleet_scale/dynamodb.rs"]
mod dynamodb;
#[path = "fleet_scale/expression.rs"]
mod expression;
#[path = "fleet_scale/fake.rs"]
mod fake;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use serde_json::{Value, json};
use silos::control_plane::events::{DetailTypes, Publisher};
use silos::control_plane::idempotency::Caller;
use silos::control_plane::reconciler::Repair;
use silos::control_plane::stack_events::{Handled, stack_status_event};
use silos::control_plane::{ControlPlane, Settings, api};
use silos::stacks::Config;
use tokio::time::Instant;
use tower::ServiceExt;

use fake::{Fake, Latency, Params, StackEvent};

const PREFIX: &str = "silos";
const HOME_ACCOUNT: &str = "111111111111";
const HOME_REGION: &str = "us-east-1";
const REMOTE_REGIONS: [&str; 4] = ["us-west-2", "eu-west-1", "us-east-2", "eu-central-1"];
const TABLE: &str = "silos-tenants";
/// The quotas each cell's account is declared with in cells.yaml (and the fake enforces):
/// CloudFormation's stacks per account raised to 5,000, and IAM's roles per account at its
/// maximum of 5,000 (each tenant stack holds one role). Synth fits each cell's capacity to 90%.
const STACK_QUOTA: u32 = 5000;
const ROLE_QUOTA: u32 = 5000;

/// us-east-1 list prices (on-demand DynamoDB, x86 Lambda), as of this bench's writing:
/// DynamoDB $0.625 per million write request units and $0.125 per million read request units;
/// Lambda $0.20 per million requests and $0.0000166667 per GB-second.
const PRICE_WRU: f64 = 0.625 / 1e6;
const PRICE_RRU: f64 = 0.125 / 1e6;
const PRICE_REQUEST: f64 = 0.20 / 1e6;
const PRICE_GB_SECOND: f64 = 0.000_016_666_7;
/// Assumed per invocation on top of the simulated waits (which are all I/O): CPU time, and for
/// a cold start the billed INIT phase.
const CPU_MS: f64 = 2.0;
const INIT_MS: f64 = 150.0;
/// EventBridge's delivery delay: this plus an exponential of mean `EVENT_DELAY_MEAN`.
const EVENT_DELAY_MIN: Duration = Duration::from_millis(300);
const EVENT_DELAY_MEAN: f64 = 0.4;
/// How often an event source mapping polls a shard.
const POLL: Duration = Duration::from_millis(250);
/// The stream's readers: the provisioner's mapping and the publisher's.
const PROVISIONER: usize = 0;
const PUBLISHER: usize = 1;
/// How long the pipelines run on after the last tenant is `running`, before the report.
const DRAIN: Duration = Duration::from_secs(30);
/// The longest a run may simulate before it is called stuck.
const HORIZON: Duration = Duration::from_secs(24 * 3600);

fn env_number(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum CellEvents {
    Synthesized,
    Forwarded,
}

#[derive(Clone, Debug)]
struct Knobs {
    tenants: usize,
    rate: f64,
    cells: usize,
    shards: usize,
    cell_events: CellEvents,
    params: Params,
}

impl Knobs {
    fn from_env() -> Knobs {
        let quick = std::env::var_os("SILOS_BENCH_QUICK").is_some();
        let tenants =
            env_number("SILOS_BENCH_TENANTS", if quick { 1000.0 } else { 10000.0 }) as usize;
        let capacity = f64::from(STACK_QUOTA.min(ROLE_QUOTA)) * 0.9;
        // Room for 20% more than the fleet.
        let cells = env_number(
            "SILOS_BENCH_CELLS",
            (tenants as f64 * 1.2 / capacity).ceil().max(3.0),
        ) as usize;
        let cell_events = match std::env::var("SILOS_BENCH_CELL_EVENTS").as_deref() {
            Ok("forwarded") => CellEvents::Forwarded,
            Ok("synthesized") | Err(_) => CellEvents::Synthesized,
            Ok(other) => panic!("SILOS_BENCH_CELL_EVENTS={other}: synthesized or forwarded"),
        };
        Knobs {
            tenants,
            rate: env_number("SILOS_BENCH_RATE", 100.0),
            cells,
            shards: env_number("SILOS_BENCH_SHARDS", 4.0) as usize,
            cell_events,
            params: Params {
                stack_quota: STACK_QUOTA,
                cfn_rate: env_number("SILOS_BENCH_CFN_RATE", 10.0),
                cfn_burst: env_number("SILOS_BENCH_CFN_BURST", 20.0),
                shared_bucket: match std::env::var("SILOS_BENCH_CFN_BUCKETS").as_deref() {
                    Ok("account") => true,
                    Ok("action") | Err(_) => false,
                    Ok(other) => panic!("SILOS_BENCH_CFN_BUCKETS={other}: action or account"),
                },
                create_median: Duration::from_secs(45),
                create_sigma: 0.35,
                create_min: Duration::from_secs(15),
                delete_median: Duration::from_secs(30),
                seed: env_number("SILOS_BENCH_SEED", 17.0) as u64,
                // SILOS_BENCH_OUTAGE=CELL:FROM:FOR (seconds): cell CELL's CloudFormation
                // throttles every call from FROM for FOR simulated seconds.
                outage: std::env::var("SILOS_BENCH_OUTAGE").ok().map(|v| {
                    let parts: Vec<f64> = v
                        .split(':')
                        .map(|p| p.parse().expect("SILOS_BENCH_OUTAGE=CELL:FROM:FOR"))
                        .collect();
                    let [cell, from, length] = parts[..] else {
                        panic!("SILOS_BENCH_OUTAGE=CELL:FROM:FOR, as 3:100:600");
                    };
                    let from = Duration::from_secs_f64(from);
                    (
                        account(cell as usize),
                        from,
                        from + Duration::from_secs_f64(length),
                    )
                }),
            },
        }
    }
}

/// One remote cell's account.
fn account(i: usize) -> String {
    format!("{:012}", 200_000_000_000u64 + i as u64)
}

fn cells_yaml(knobs: &Knobs) -> String {
    let mut y = format!(
        "# Written by the fleet_scale bench.\ncells:\n  - name: home\n    stackQuota: {STACK_QUOTA}\n    roleQuota: {ROLE_QUOTA}\n    userPoolQuota: {STACK_QUOTA}\n    httpApiQuota: {STACK_QUOTA}\n"
    );
    for i in 1..knobs.cells {
        y.push_str(&format!(
            "  - name: cell-{i:02}\n    account: \"{}\"\n    region: {}\n    stackQuota: {STACK_QUOTA}\n    roleQuota: {ROLE_QUOTA}\n    userPoolQuota: {STACK_QUOTA}\n    httpApiQuota: {STACK_QUOTA}\n",
            account(i),
            REMOTE_REGIONS[(i - 1) % REMOTE_REGIONS.len()]
        ));
    }
    y
}

// ---------------------------------------------------------------------------------------
// What the synthesized templates say.

fn resources(template: &Value) -> &serde_json::Map<String, Value> {
    template["Resources"]
        .as_object()
        .expect("a template has Resources")
}

/// `{"Fn::Sub": ...}` with the pseudo parameters of the control plane's account resolved;
/// anything else as it is.
fn resolve(v: &Value) -> Value {
    match v {
        Value::Object(m) if m.len() == 1 && m.contains_key("Fn::Sub") => {
            let s = m["Fn::Sub"].as_str().expect("a plain Fn::Sub");
            Value::String(
                s.replace("${AWS::Partition}", "aws")
                    .replace("${AWS::Region}", HOME_REGION)
                    .replace("${AWS::AccountId}", HOME_ACCOUNT),
            )
        }
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), resolve(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(resolve).collect()),
        other => other.clone(),
    }
}

/// An EventBridge (or event source mapping filter) pattern against an event: every key of an
/// object pattern matches, a list matches any of its values (a value, `prefix`, `exists` or
/// `anything-but`).
fn matches(pattern: &Value, event: Option<&Value>) -> bool {
    match pattern {
        Value::Object(p) => p
            .iter()
            .all(|(k, sub)| matches(sub, event.and_then(|e| e.get(k)))),
        Value::Array(options) => options.iter().any(|o| leaf(o, event)),
        other => panic!("not an event pattern: {other}"),
    }
}

fn leaf(option: &Value, value: Option<&Value>) -> bool {
    if let Some(Value::Array(items)) = value {
        return items.iter().any(|i| leaf(option, Some(i)));
    }
    match option {
        Value::Object(m) => {
            let (k, v) = m.iter().next().expect("a one-key matcher");
            match k.as_str() {
                "exists" => v.as_bool() == Some(value.is_some()),
                "prefix" => matches!(
                    (v.as_str(), value.and_then(Value::as_str)),
                    (Some(p), Some(s)) if s.starts_with(p)
                ),
                "anything-but" => {
                    value.is_some()
                        && !v
                            .as_array()
                            .map_or(v == value.unwrap(), |a| a.iter().any(|x| Some(x) == value))
                }
                other => panic!("the pattern matcher {other} is not simulated"),
            }
        }
        literal => value == Some(literal),
    }
}

/// A Lambda function of the template: memory, timeout.
#[derive(Clone, Debug)]
struct FunctionSpec {
    memory_mb: u32,
    timeout: Duration,
}

/// A stream subscription of the template.
#[derive(Clone, Debug)]
struct MappingSpec {
    filters: Vec<Value>,
    batch_size: usize,
    max_retries: u32,
    max_age: Duration,
    parallelization: usize,
}

struct ControlPlaneTemplate {
    table: dynamodb::TableSpec,
    functions: BTreeMap<String, FunctionSpec>,
    /// By the function's logical id.
    mappings: BTreeMap<String, MappingSpec>,
    /// The patterns of the rules that send stack status changes to the stack-events handler
    /// (the home account's, and the cells' forwarded ones on the control plane's bus), and the
    /// reconciler schedule's period.
    stack_rules: Vec<Value>,
    /// Whether the synthesized cell stack forwards its tenant stack events to the control
    /// plane's bus (a rule whose target is `ControlPlaneEventBusArn`).
    cells_forward: bool,
    reconcile_every: Duration,
}

fn number(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn read_control_plane(template: &Value, cell: &Value, shards: usize) -> ControlPlaneTemplate {
    let r = resources(template);
    let of_type = |t: &'static str| {
        r.iter()
            .filter(move |(_, v)| v["Type"] == t)
            .map(|(k, v)| (k.clone(), &v["Properties"]))
    };
    let tables: Vec<_> = of_type("AWS::DynamoDB::Table").collect();
    assert_eq!(tables.len(), 1, "one tenants table");
    let t = tables[0].1;
    let types: BTreeMap<String, String> = t["AttributeDefinitions"]
        .as_array()
        .expect("attribute definitions")
        .iter()
        .map(|d| {
            (
                d["AttributeName"].as_str().unwrap().to_owned(),
                d["AttributeType"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let key_of = |schema: &Value, kind: &str| {
        schema
            .as_array()
            .expect("a key schema")
            .iter()
            .find(|k| k["KeyType"] == kind)
            .map(|k| {
                let name = k["AttributeName"].as_str().unwrap().to_owned();
                let ty = types[&name].clone();
                (name, ty)
            })
    };
    let key = key_of(&t["KeySchema"], "HASH").expect("a partition key");
    assert_eq!(key.1, "S", "the simulated table's key is a string");
    assert!(
        key_of(&t["KeySchema"], "RANGE").is_none(),
        "the simulated table has no sort key"
    );
    let indexes = t["GlobalSecondaryIndexes"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|i| {
            assert_eq!(
                i["Projection"]["ProjectionType"], "ALL",
                "the simulated indexes project every attribute"
            );
            dynamodb::IndexSpec {
                name: i["IndexName"].as_str().unwrap().to_owned(),
                partition: key_of(&i["KeySchema"], "HASH").expect("an index partition key"),
                sort: key_of(&i["KeySchema"], "RANGE"),
            }
        })
        .collect();
    let functions = of_type("AWS::Lambda::Function")
        .map(|(id, p)| {
            (
                id,
                FunctionSpec {
                    memory_mb: number(&p["MemorySize"]).unwrap_or(128) as u32,
                    timeout: Duration::from_secs(number(&p["Timeout"]).unwrap_or(3)),
                },
            )
        })
        .collect();
    let mappings = of_type("AWS::Lambda::EventSourceMapping")
        .map(|(_, p)| {
            let function = p["FunctionName"]["Ref"]
                .as_str()
                .expect("a mapping names its function by Ref")
                .to_owned();
            let filters = p["FilterCriteria"]["Filters"]
                .as_array()
                .map(|a| a.as_slice())
                .unwrap_or_default()
                .iter()
                .map(|f| serde_json::from_str(f["Pattern"].as_str().unwrap()).unwrap())
                .collect();
            (
                function,
                MappingSpec {
                    filters,
                    batch_size: number(&p["BatchSize"]).unwrap_or(100) as usize,
                    max_retries: number(&p["MaximumRetryAttempts"]).unwrap_or(10_000) as u32,
                    max_age: Duration::from_secs(
                        number(&p["MaximumRecordAgeInSeconds"]).unwrap_or(7 * 24 * 3600),
                    ),
                    parallelization: number(&p["ParallelizationFactor"]).unwrap_or(1) as usize,
                },
            )
        })
        .collect();
    let target = |p: &Value, function: &str| {
        p["Targets"].as_array().is_some_and(|ts| {
            ts.iter()
                .any(|t| t["Arn"]["Fn::GetAtt"][0].as_str() == Some(function))
        })
    };
    let mut stack_rules = Vec::new();
    let mut reconcile_every = None;
    for (_, p) in of_type("AWS::Events::Rule") {
        if target(p, "StackEventsFunction") {
            stack_rules.push(resolve(&p["EventPattern"]));
        }
        if target(p, "ReconcilerFunction") {
            let s = p["ScheduleExpression"].as_str().expect("a schedule");
            let inner = s
                .strip_prefix("rate(")
                .and_then(|s| s.strip_suffix(')'))
                .expect("a rate() schedule");
            let (n, unit) = inner.split_once(' ').expect("rate(N unit)");
            let n: u64 = n.parse().expect("a number");
            reconcile_every = Some(Duration::from_secs(
                n * match unit.trim_end_matches('s') {
                    "minute" => 60,
                    "hour" => 3600,
                    "day" => 86400,
                    other => panic!("rate unit {other}"),
                },
            ));
        }
    }
    ControlPlaneTemplate {
        table: dynamodb::TableSpec {
            name: TABLE.to_owned(),
            key: key.0,
            indexes,
            shards,
            virtual_times: vec!["statusChangedAt".to_owned()],
        },
        functions,
        mappings,
        stack_rules: {
            assert!(
                !stack_rules.is_empty(),
                "a rule targets StackEventsFunction"
            );
            stack_rules
        },
        cells_forward: resources(cell).values().any(|r| {
            r["Type"] == "AWS::Events::Rule"
                && r["Properties"]["Targets"].as_array().is_some_and(|ts| {
                    ts.iter()
                        .any(|t| t["Arn"] == serde_json::json!({"Ref": "ControlPlaneEventBusArn"}))
                })
        }),
        reconcile_every: reconcile_every.expect("a schedule targets ReconcilerFunction"),
    }
}

// ---------------------------------------------------------------------------------------
// Lambda.

/// One Lambda execution environment: what the host builds at start (`lambda::run`).
#[derive(Clone)]
struct Env {
    cp: ControlPlane,
    router: axum::Router,
    publisher: Publisher,
}

#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct FunctionStats {
    invocations: u64,
    cold_starts: u64,
    billed_ms: f64,
    timeouts: u64,
    max_concurrency: u64,
    #[serde(skip)]
    concurrency: u64,
}

struct Function {
    name: &'static str,
    spec: FunctionSpec,
    idle: Mutex<Vec<Env>>,
    stats: Mutex<FunctionStats>,
}

impl Function {
    fn new(name: &'static str, spec: FunctionSpec) -> Function {
        Function {
            name,
            spec,
            idle: Mutex::new(Vec::new()),
            stats: Mutex::new(FunctionStats::default()),
        }
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, FunctionStats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One invocation on a warm environment, or a new one; `None` if it ran past the
    /// function's timeout (its environment is then discarded, as Lambda does).
    async fn invoke<T, Fut>(&self, world: &World, work: impl FnOnce(Env) -> Fut) -> Option<T>
    where
        Fut: Future<Output = T>,
    {
        let warm = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let cold = warm.is_none();
        let env = warm.unwrap_or_else(|| world.environment());
        {
            let mut s = self.stats();
            s.concurrency += 1;
            s.max_concurrency = s.max_concurrency.max(s.concurrency);
        }
        let start = Instant::now();
        let out = tokio::time::timeout(self.spec.timeout, work(env.clone())).await;
        let ms = start.elapsed().as_secs_f64() * 1000.0 + CPU_MS + if cold { INIT_MS } else { 0.0 };
        let mut s = self.stats();
        s.concurrency -= 1;
        s.invocations += 1;
        s.cold_starts += u64::from(cold);
        s.billed_ms += ms.ceil();
        match out {
            Ok(v) => {
                drop(s);
                self.idle
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(env);
                Some(v)
            }
            Err(_) => {
                s.timeouts += 1;
                None
            }
        }
    }

    fn gb_seconds(&self) -> f64 {
        self.stats().billed_ms / 1000.0 * f64::from(self.spec.memory_mb) / 1024.0
    }
}

// ---------------------------------------------------------------------------------------
// The world.

#[derive(Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Counters {
    onboarded: u64,
    onboarding_errors: BTreeMap<String, u64>,
    onboarding_retries: u64,
    provisioner_mapping: MappingCounters,
    publisher_mapping: MappingCounters,
    events_emitted: u64,
    events_unrouted: u64,
    events_unmatched: u64,
    events_delivered: u64,
    /// Events that moved a tenant (the rest found it there already, or were ignored).
    events_moved: u64,
    event_handler_errors: u64,
    events_dead_lettered: u64,
    reconciler_passes: u64,
    reconciler_cut_off: u64,
    reconciler_errors: u64,
    repairs_applied: u64,
    repairs_resumed: u64,
}

#[derive(Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct MappingCounters {
    batches: u64,
    batches_retried: u64,
    records_failed: u64,
    gave_up: u64,
    expired: u64,
}

impl Counters {
    fn mapping(&mut self, which: Mapping) -> &mut MappingCounters {
        match which {
            Mapping::Provisioner => &mut self.provisioner_mapping,
            Mapping::Publisher => &mut self.publisher_mapping,
        }
    }
}

struct World {
    knobs: Knobs,
    fake: Arc<Fake>,
    sdk: SdkConfig,
    settings: Settings,
    template: ControlPlaneTemplate,
    next_env: AtomicUsize,
    /// Every environment ever started (their throttle counts are summed at the end).
    envs: Mutex<Vec<ControlPlane>>,
    onboarding: Function,
    provisioner: Function,
    stack_events: Function,
    reconciler: Function,
    publisher: Function,
    counters: Mutex<Counters>,
    /// When each tenant's onboarding answered (virtual).
    onboarded_at: Mutex<HashMap<String, Instant>>,
    arrivals_done: std::sync::atomic::AtomicBool,
    wall: std::time::Instant,
}

impl World {
    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new Lambda execution environment: its own clients (and SDK retry quota, where the
    /// control plane lets the host choose it) and its own control plane.
    fn environment(&self) -> Env {
        let n = self.next_env.fetch_add(1, Ordering::SeqCst);
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&self.sdk)
                .retry_partition(aws_sdk_dynamodb::config::retry::RetryPartition::new(
                    format!("dynamodb-env{n}"),
                ))
                .build(),
        );
        let cfn = aws_sdk_cloudformation::Client::from_conf(
            aws_sdk_cloudformation::config::Builder::from(&self.sdk)
                .retry_partition(aws_sdk_cloudformation::config::retry::RetryPartition::new(
                    format!("cloudformation-env{n}"),
                ))
                .build(),
        );
        let s3 = silos::aws::s3_client(&self.sdk);
        let cp = ControlPlane::from_clients_with(
            self.sdk.clone(),
            dynamodb,
            cfn,
            s3,
            self.settings.clone(),
        );
        self.envs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(cp.clone());
        let events = aws_sdk_eventbridge::Client::from_conf(
            aws_sdk_eventbridge::config::Builder::from(&self.sdk)
                .retry_partition(aws_sdk_eventbridge::config::retry::RetryPartition::new(
                    format!("events-env{n}"),
                ))
                .build(),
        );
        // As `lambda::run` builds it: the stack outputs read in the tenant's cell, through
        // the environment's control plane.
        let publisher = Publisher::new(events, &event_bus(), DetailTypes::Silos)
            .with_stack_outputs_in_cells(cp.clone());
        Env {
            router: api::router(cp.clone()),
            cp,
            publisher,
        }
    }

    fn exp(&self, mean_secs: f64) -> Duration {
        let u = self.fake.uniform().max(f64::MIN_POSITIVE);
        Duration::from_secs_f64(-u.ln() * mean_secs)
    }

    fn running(&self) -> u64 {
        self.fake
            .lock()
            .table
            .by_status
            .get("running")
            .copied()
            .unwrap_or(0)
    }
}

// ---------------------------------------------------------------------------------------
// Onboarding.

async fn onboard(world: Arc<World>, i: usize) {
    let body =
        json!({"tenantName": format!("Fleet Tenant {i:06}"), "deploymentType": "silo"}).to_string();
    let key = format!("fleet-scale-onboarding-{i:06}");
    for attempt in 0..3u32 {
        if attempt > 0 {
            world.counters().onboarding_retries += 1;
            tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
        }
        let request = http::Request::post("/onboarding")
            .header("content-type", "application/json")
            .header("idempotency-key", &key)
            .extension(Caller(format!(
                "arn:aws:iam::{HOME_ACCOUNT}:role/fleet-admin"
            )))
            .body(axum::body::Body::from(body.clone()))
            .expect("a request");
        let answer = world
            .onboarding
            .invoke(&world, |env| async move {
                let response = env.router.oneshot(request).await.expect("infallible");
                let status = response.status().as_u16();
                let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                    .await
                    .unwrap_or_default();
                (status, bytes)
            })
            .await;
        match answer {
            Some((201, bytes)) => {
                let tenant: Value = serde_json::from_slice(&bytes).expect("a tenant");
                let id = tenant["tenantId"].as_str().expect("an id").to_owned();
                world
                    .onboarded_at
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id, Instant::now());
                world.counters().onboarded += 1;
                return;
            }
            Some((status, bytes)) if status < 500 => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                *world
                    .counters()
                    .onboarding_errors
                    .entry(format!("{status} {text}"))
                    .or_default() += 1;
                return;
            }
            Some((status, bytes)) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                *world
                    .counters()
                    .onboarding_errors
                    .entry(format!("{status} {text} (retried)"))
                    .or_default() += 1;
            }
            None => {
                *world
                    .counters()
                    .onboarding_errors
                    .entry("timed out (retried)".to_owned())
                    .or_default() += 1;
            }
        }
    }
}

async fn arrivals(world: Arc<World>) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..world.knobs.tenants {
        tasks.spawn(onboard(world.clone(), i));
        tokio::time::sleep(world.exp(1.0 / world.knobs.rate)).await;
    }
    while tasks.join_next().await.is_some() {}
    world
        .arrivals_done
        .store(true, std::sync::atomic::Ordering::SeqCst);
}

// ---------------------------------------------------------------------------------------
// The stream's event source mappings.

/// A stream record as Lambda delivers it, and as the mapping's filters read it.
fn lambda_record(r: &dynamodb::StreamRecord) -> Value {
    let mut change = json!({
        "ApproximateCreationDateTime": r.created_epoch_secs,
        "Keys": r.keys,
        "SequenceNumber": r.sequence,
        "SizeBytes": r.size,
        "StreamViewType": "NEW_IMAGE",
    });
    if let Some(image) = &r.new_image {
        change["NewImage"] = image.clone();
    }
    json!({
        "eventID": r.sequence,
        "eventName": r.event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": HOME_REGION,
        "eventSourceARN": format!("arn:aws:dynamodb:{HOME_REGION}:{HOME_ACCOUNT}:table/{TABLE}/stream/fleet"),
        "dynamodb": change,
    })
}

fn passes(spec: &MappingSpec, record: &Value) -> bool {
    spec.filters.is_empty() || spec.filters.iter().any(|f| matches(f, Some(record)))
}

/// The two stream subscriptions.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mapping {
    Provisioner,
    Publisher,
}

/// A mapping on one shard: batches of what passes its filters, in order, each one invocation
/// of its function, retried from the first failure the function reports (a timeout fails
/// the whole batch), a record given up after the mapping's retries.
/// One shard of a stream subscription, as Lambda's event source mapping runs it: the shard
/// is polled 4 times a second, and with a parallelization factor of N its records go to N
/// lanes by a hash of their partition key, so one key's records stay in order while N
/// batches run at once. Each lane batches, invokes, and retries from its first reported
/// failure on its own.
async fn mapping_shard(world: Arc<World>, shard: usize, spec: MappingSpec, which: Mapping) {
    let reader = match which {
        Mapping::Provisioner => PROVISIONER,
        Mapping::Publisher => PUBLISHER,
    };
    let lanes = spec.parallelization.clamp(1, 10);
    let mut senders = Vec::with_capacity(lanes);
    for _ in 0..lanes {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        senders.push(tx);
        tokio::spawn(mapping_lane(world.clone(), spec.clone(), which, rx));
    }
    loop {
        let read = world.fake.lock().table.stream.read(shard, reader);
        for r in read {
            let record = r.lambda.get_or_init(|| lambda_record(&r));
            if passes(&spec, record) {
                let lane = lane_of(&record["dynamodb"]["Keys"], lanes);
                let _ = senders[lane].send((Instant::now(), r));
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The lane of a record's partition key: a fixed hash, so a run is repeatable.
fn lane_of(keys: &Value, lanes: usize) -> usize {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    keys.to_string().hash(&mut hasher);
    (hasher.finish() % lanes as u64) as usize
}

type Routed = (Instant, Arc<dynamodb::StreamRecord>);

async fn mapping_lane(
    world: Arc<World>,
    spec: MappingSpec,
    which: Mapping,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Routed>,
) {
    let function = match which {
        Mapping::Provisioner => &world.provisioner,
        Mapping::Publisher => &world.publisher,
    };
    let mut pending: VecDeque<Routed> = VecDeque::new();
    let mut attempt = 0u32;
    loop {
        while let Ok(r) = rx.try_recv() {
            pending.push_back(r);
        }
        // Records past the mapping's maximum age are dropped (to its on-failure queue).
        while pending
            .front()
            .is_some_and(|(at, _)| at.elapsed() > spec.max_age)
        {
            pending.pop_front();
            world.counters().mapping(which).expired += 1;
        }
        if pending.is_empty() {
            match rx.recv().await {
                Some(r) => pending.push_back(r),
                None => return,
            }
            continue;
        }
        let n = pending.len().min(spec.batch_size);
        let batch: Vec<Routed> = pending.drain(..n).collect();
        let records: Vec<EventRecord> = batch
            .iter()
            .map(|(_, r)| {
                let v = r.lambda.get().expect("built when read");
                serde::Deserialize::deserialize(v).expect("a Lambda stream record")
            })
            .collect();
        let sequences: Vec<Option<String>> = records
            .iter()
            .map(|r| r.change.sequence_number.clone())
            .collect();
        let mut event = StreamEvent::default();
        event.records = records;
        world.counters().mapping(which).batches += 1;
        let response = function
            .invoke(&world, |env| async move {
                match which {
                    Mapping::Provisioner => env.cp.handle_stream(event).await,
                    Mapping::Publisher => env.publisher.handle_stream(event).await,
                }
            })
            .await;
        let first_failed = match response {
            None => Some(0),
            Some(r) => r
                .batch_item_failures
                .iter()
                .filter_map(|f| sequences.iter().position(|s| *s == f.item_identifier))
                .min(),
        };
        let Some(i) = first_failed else {
            attempt = 0;
            continue;
        };
        {
            let mut c = world.counters();
            let m = c.mapping(which);
            m.batches_retried += 1;
            m.records_failed += (n - i) as u64;
        }
        for record in batch[i..].iter().rev() {
            pending.push_front(record.clone());
        }
        attempt += 1;
        if attempt > spec.max_retries {
            pending.pop_front();
            world.counters().mapping(which).gave_up += 1;
            attempt = 0;
        } else {
            tokio::time::sleep(
                Duration::from_millis(100u64 << attempt.min(6)).min(Duration::from_secs(5)),
            )
            .await;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Stack events, and the reconciler.

async fn eventbridge(world: Arc<World>, mut rx: tokio::sync::mpsc::UnboundedReceiver<StackEvent>) {
    while let Some(e) = rx.recv().await {
        world.counters().events_emitted += 1;
        tokio::spawn(deliver(world.clone(), e));
    }
}

async fn deliver(world: Arc<World>, e: StackEvent) {
    let home = e.account == HOME_ACCOUNT && e.region == HOME_REGION;
    let synthesized = world.knobs.cell_events == CellEvents::Synthesized;
    if !home && synthesized && !world.template.cells_forward {
        // On the cell account's default bus, where no synthesized rule takes it.
        world.counters().events_unrouted += 1;
        return;
    }
    let mut delay = EVENT_DELAY_MIN + world.exp(EVENT_DELAY_MEAN);
    if !home {
        // Forwarded from the cell's bus to the control plane's.
        delay += EVENT_DELAY_MIN + world.exp(EVENT_DELAY_MEAN);
    }
    tokio::time::sleep(delay).await;
    let event = stack_status_event(&e.stack_id, e.status, &e.reason, &e.region, &e.account);
    let value = serde_json::to_value(&event).expect("an event");
    let matched = world
        .template
        .stack_rules
        .iter()
        .any(|rule| matches(rule, Some(&value)));
    if (home || synthesized) && !matched {
        world.counters().events_unmatched += 1;
        return;
    }
    world.counters().events_delivered += 1;
    // An asynchronous invocation: two retries, a minute and then two apart, then the
    // dead-letter queue.
    for attempt in 0..3u64 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(60 * attempt)).await;
        }
        let handled = world
            .stack_events
            .invoke(&world, |env| {
                let event = event.clone();
                async move { env.cp.handle_stack_event(&event).await }
            })
            .await;
        match handled {
            Some(Ok(h)) => {
                if matches!(h, Handled::Moved { .. }) {
                    world.counters().events_moved += 1;
                }
                return;
            }
            _ => world.counters().event_handler_errors += 1,
        }
    }
    world.counters().events_dead_lettered += 1;
}

async fn reconciler(world: Arc<World>) {
    loop {
        tokio::time::sleep(world.template.reconcile_every).await;
        let w = world.clone();
        tokio::spawn(async move {
            w.counters().reconciler_passes += 1;
            let out = w
                .reconciler
                .invoke(&w, |env| async move {
                    env.cp.reconcile(silos::lambda::RECONCILE_SETTLE).await
                })
                .await;
            let mut c = w.counters();
            match out {
                None => c.reconciler_cut_off += 1,
                Some(Err(_)) => c.reconciler_errors += 1,
                Some(Ok(repairs)) => {
                    for r in repairs {
                        match r {
                            Repair::Applied { .. } => c.repairs_applied += 1,
                            Repair::Resumed { .. } => c.repairs_resumed += 1,
                        }
                    }
                }
            }
        });
    }
}

// ---------------------------------------------------------------------------------------
// Setup.

struct Setup {
    template: ControlPlaneTemplate,
    fake: Arc<Fake>,
    events: tokio::sync::mpsc::UnboundedReceiver<StackEvent>,
    cells: Vec<silos::blueprint::cells::Cell>,
}

fn event_bus() -> String {
    format!("arn:aws:events:{HOME_REGION}:{HOME_ACCOUNT}:event-bus/{PREFIX}-events")
}

fn artifacts_bucket() -> String {
    format!("{PREFIX}-artifacts-{HOME_ACCOUNT}-{HOME_REGION}")
}

fn settings() -> Settings {
    Settings {
        prefix: PREFIX.to_owned(),
        tenants_table: TABLE.to_owned(),
        artifacts_bucket: artifacts_bucket(),
        catalog_key: silos::stacks::CATALOG_POINTER_KEY.to_owned(),
        region: HOME_REGION.to_owned(),
        provisioning_role_arn: Some(format!(
            "arn:aws:iam::{HOME_ACCOUNT}:role/{PREFIX}-provisioning"
        )),
        // As `lambda::configure` sets them.
        stack_wait: Duration::from_secs(600),
        catalog_ttl: Duration::from_secs(5),
    }
}

/// Synthesizes the app with the generated cells, and builds the simulated AWS around it: the
/// published catalog and the tenant template in S3, the cells' accounts, the table.
fn setup(knobs: &Knobs) -> Setup {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for entry in std::fs::read_dir("blueprints").expect("the repository's blueprints") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(dir.path().join("cells.yaml"), cells_yaml(knobs)).unwrap();
    let app = silos::App::new().tenant_stack("tenant-silo", silos::stacks::tenant_silo);
    let config = Config::new(PREFIX).unwrap();
    let out =
        silos::synth::synth(&app, &config, dir.path(), silos::synth::Format::Json).expect("synth");
    let file = |name: &str| -> Value {
        let f = out
            .files
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("synth wrote no {name}"));
        serde_json::from_str(&f.contents).expect("JSON")
    };
    let control_plane = out
        .manifest
        .stacks
        .iter()
        .find(|s| {
            matches!(s.kind, silos::stacks::Kind::ControlPlane)
                && matches!(s.target, Some(silos::stacks::Target::Aws))
        })
        .expect("the control plane stack");
    let template = read_control_plane(
        &file(&control_plane.template),
        &file("cell.json"),
        knobs.shards,
    );

    let bucket = artifacts_bucket();
    let artifact_keys: BTreeMap<String, String> = out
        .manifest
        .artifacts
        .iter()
        .map(|a| {
            (
                a.name.to_owned(),
                format!(
                    "lambda/{}/{}.zip",
                    a.name,
                    silos::synth::sha256_hex(a.name.as_bytes())
                ),
            )
        })
        .collect();
    let catalog: silos::blueprint::catalog::Catalog =
        serde_json::from_value(file(&out.manifest.catalog.file)).expect("a catalog");
    let catalog = catalog
        .published(&bucket, &artifact_keys, |t| {
            silos::synth::sha256_hex(serde_json::to_string(t).unwrap().as_bytes())
        })
        .expect("every artifact is published");
    let cells = catalog.cells.clone();

    let mut accounts = vec![fake::CellAccount {
        account: HOME_ACCOUNT.to_owned(),
        region: HOME_REGION.to_owned(),
        access_role: None,
        external_id: None,
        provisioning_role: settings().provisioning_role_arn.unwrap(),
        bucket: bucket.clone(),
    }];
    for c in cells.iter().filter(|c| !c.is_home()) {
        accounts.push(fake::CellAccount {
            account: c.account.clone().unwrap(),
            region: c.region.clone().unwrap(),
            access_role: c.role_arn(&c.access_role_name(PREFIX)),
            external_id: Some(c.external_id(PREFIX)),
            provisioning_role: c.role_arn(&c.provisioning_role_name(PREFIX)).unwrap(),
            bucket: c.bucket_name(PREFIX).unwrap(),
        });
    }
    let table = dynamodb::Table::new(template.table.clone(), 2);
    let (fake, events) = Fake::new(knobs.params.clone(), table, HOME_ACCOUNT, accounts.clone());
    {
        let mut s = fake.lock();
        let catalog_json = serde_json::to_vec(&catalog).unwrap();
        s.objects.insert(
            (bucket.clone(), out.manifest.catalog.key.clone()),
            catalog_json,
        );
        s.objects.insert(
            (
                bucket.clone(),
                silos::stacks::CATALOG_POINTER_KEY.to_owned(),
            ),
            serde_json::to_vec(&json!({"key": out.manifest.catalog.key})).unwrap(),
        );
        for t in catalog.deployment_types.values() {
            let tenant = file(&t.template);
            let parameters = tenant["Parameters"]
                .as_object()
                .map(|p| {
                    p.iter()
                        .map(|(k, v)| (k.clone(), v.get("Default").is_some()))
                        .collect()
                })
                .unwrap_or_default();
            let needs_iam = resources(&tenant).values().any(|r| {
                r["Type"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("AWS::IAM::"))
            });
            s.templates.push(fake::Template {
                key: t.template_key.clone(),
                parameters,
                needs_iam,
            });
            let text = serde_json::to_vec(&tenant).unwrap();
            // Every cell's bucket holds its copy.
            for a in &accounts {
                s.objects
                    .insert((a.bucket.clone(), t.template_key.clone()), text.clone());
            }
        }
    }
    Setup {
        template,
        fake,
        events,
        cells,
    }
}

/// The configuration every environment's clients come from: the loader production uses
/// (`aws::load`: the standard retry mode, `aws::MAX_ATTEMPTS`), with the control plane's own
/// credentials, tokio's (virtual) sleep and the simulated AWS as its HTTP client.
async fn sdk_config(fake: &Arc<Fake>) -> SdkConfig {
    #[derive(Debug)]
    struct TokioSleep;
    impl aws_sdk_dynamodb::config::AsyncSleep for TokioSleep {
        fn sleep(&self, d: Duration) -> aws_sdk_dynamodb::config::Sleep {
            aws_sdk_dynamodb::config::Sleep::new(tokio::time::sleep(d))
        }
    }
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(HOME_REGION))
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            aws_sdk_dynamodb::config::Credentials::new(
                fake::home_key(HOME_ACCOUNT),
                "fake-secret",
                None,
                None,
                "lambda execution role",
            ),
        ))
        .retry_config(
            aws_config::retry::RetryConfig::standard().with_max_attempts(silos::aws::MAX_ATTEMPTS),
        )
        .sleep_impl(aws_sdk_dynamodb::config::SharedAsyncSleep::new(TokioSleep))
        .http_client(fake.http_client())
        .load()
        .await
}

/// Before the fleet: the store's placement never overfills a cell against the simulated table,
/// even when onboardings race (the guarantee the run relies on).
async fn check_placement(world: &World) {
    let cp = world.environment().cp;
    let slot = silos::control_plane::store::Slot {
        cell: "self-check".to_owned(),
        capacity: 3,
    };
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let cp = cp.clone();
        let slot = slot.clone();
        tasks.spawn(async move {
            let name =
                silos::control_plane::tenant::name::TenantName::parse(&format!("Self Check {i}"))
                    .unwrap();
            let tenant = silos::control_plane::tenant::Tenant::new(
                format!("00000000-0000-4000-8000-{i:012}"),
                name,
                "silo",
                silos::control_plane::tenant::Timestamp::now(),
            );
            cp.store().create_in(&tenant, Some(&slot)).await
        });
    }
    let mut placed = 0;
    let mut full = 0;
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            Ok(()) => placed += 1,
            Err(silos::control_plane::store::Error::CellFull(_)) => full += 1,
            Err(e) => panic!("self-check: {e}"),
        }
    }
    assert_eq!((placed, full), (3, 9), "a cell of 3 takes exactly 3");
    // A name is taken once.
    let name = silos::control_plane::tenant::name::TenantName::parse("self check 0").unwrap();
    let again = silos::control_plane::tenant::Tenant::new(
        "00000000-0000-4000-8000-999999999999".to_owned(),
        name,
        "silo",
        silos::control_plane::tenant::Timestamp::now(),
    );
    assert!(matches!(
        cp.store().create_in(&again, None).await,
        Err(silos::control_plane::store::Error::NameTaken { .. })
    ));
    // Leave nothing behind: the fleet's counts and units start from an empty table.
    let mut s = world.fake.lock();
    let spec = world.template.table.clone();
    s.table = dynamodb::Table::new(spec, 2);
}

/// Before the fleet: listing by status through an index, as the reconciler will (a Query of
/// `byStatus`, partition `status`, sort `created`, a page at a time), and a Scan that filters
/// out the lock items, against a table that declares the index, through the real SDK client.
async fn check_listing(world: &World) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut spec = world.template.table.clone();
    spec.indexes = vec![dynamodb::IndexSpec {
        name: "byStatus".to_owned(),
        partition: ("status".to_owned(), "S".to_owned()),
        sort: Some(("created".to_owned(), "N".to_owned())),
    }];
    world.fake.lock().table = dynamodb::Table::new(spec, 2);
    let cp = world.environment().cp;
    let client = aws_sdk_dynamodb::Client::new(&world.sdk);
    for i in 0..5u64 {
        let name =
            silos::control_plane::tenant::name::TenantName::parse(&format!("Listing {i}")).unwrap();
        let tenant = silos::control_plane::tenant::Tenant::new(
            format!("00000000-0000-4000-8000-{i:012}"),
            name,
            "silo",
            silos::control_plane::tenant::Timestamp {
                millis: 1_700_000_000_000 + (5 - i) * 1000,
            },
        );
        cp.store().create(&tenant).await.expect("create");
    }
    cp.store()
        .transition(
            "00000000-0000-4000-8000-000000000002",
            silos::control_plane::tenant::Status::Initiated,
            silos::control_plane::tenant::Status::Provisioning,
            &silos::control_plane::store::Changes::default(),
        )
        .await
        .expect("transition");
    let mut seen = Vec::new();
    let mut start = None;
    loop {
        let out = client
            .query()
            .table_name(TABLE)
            .index_name("byStatus")
            .key_condition_expression("#status = :status")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", AttributeValue::S("initiated".to_owned()))
            .limit(2)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("Query");
        for item in out.items() {
            seen.push(item["tenantId"].as_s().unwrap().clone());
        }
        match out.last_evaluated_key {
            Some(k) => {
                assert!(k.contains_key("created") && k.contains_key("status"));
                start = Some(k);
            }
            None => break,
        }
    }
    // Oldest first, the moved tenant left out.
    let id = |i: u64| format!("00000000-0000-4000-8000-{i:012}");
    assert_eq!(
        seen,
        vec![id(4), id(3), id(1), id(0)],
        "byStatus, oldest first"
    );
    let mut tenants = 0;
    let mut pages = 0;
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(TABLE)
            .filter_expression("attribute_not_exists(#kind)")
            .expression_attribute_names("#kind", "kind")
            .limit(3)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("Scan");
        pages += 1;
        tenants += out.items().len();
        match out.last_evaluated_key {
            Some(k) => start = Some(k),
            None => break,
        }
    }
    // Ten items (five tenants, five locks), three a page.
    assert_eq!((tenants, pages), (5, 4), "a filtered Scan, page by page");
    let units = world.fake.lock().table.units.clone();
    assert!(
        units["TransactWriteItems"].index_wru > 0 && units["UpdateItem"].index_wru > 0,
        "writes into the index are charged: {units:?}"
    );
    let spec = world.template.table.clone();
    world.fake.lock().table = dynamodb::Table::new(spec, 2);
}

// ---------------------------------------------------------------------------------------
// The report.

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn latency_json(l: Latency) -> Value {
    json!({"distribution": "log-normal", "medianMs": l.median_ms, "sigma": l.sigma})
}

fn main() {
    // The control plane's own logs, on stderr, when RUST_LOG asks for them.
    if let Ok(filter) = std::env::var("RUST_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let knobs = Knobs::from_env();
    expression::self_check();
    let wall = std::time::Instant::now();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a runtime");
    let report = runtime.block_on(run(knobs));
    let wall = wall.elapsed();
    let mut report = report;
    report["wallClockSeconds"] = json!(wall.as_secs_f64());
    println!("wall-clock run time: {:.1} s", wall.as_secs_f64());
    let path =
        std::env::var("SILOS_BENCH_OUT").unwrap_or_else(|_| "target/fleet-scale.json".to_owned());
    if let Some(parent) = Path::new(&path).parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap())
        .expect("write the report");
    println!("written to {path}");
    // Dropping the runtime drops the stacks' pending timers and the pollers.
    drop(runtime);
}

async fn run(knobs: Knobs) -> Value {
    let Setup {
        template,
        fake,
        events,
        cells,
    } = setup(&knobs);
    let function = |id: &str| {
        template
            .functions
            .get(id)
            .cloned()
            .unwrap_or_else(|| panic!("the template has no {id}"))
    };
    let provisioner_mapping = template
        .mappings
        .get("ProvisionerFunction")
        .cloned()
        .expect("the provisioner's subscription");
    let publisher_mapping = template
        .mappings
        .get("EventPublisherFunction")
        .cloned()
        .expect("the publisher's subscription");
    let world = Arc::new(World {
        sdk: sdk_config(&fake).await,
        settings: settings(),
        onboarding: Function::new("Onboarding", function("OnboardingFunction")),
        provisioner: Function::new("Provisioner", function("ProvisionerFunction")),
        stack_events: Function::new("StackEvents", function("StackEventsFunction")),
        reconciler: Function::new("Reconciler", function("ReconcilerFunction")),
        publisher: Function::new("EventPublisher", function("EventPublisherFunction")),
        knobs: knobs.clone(),
        fake: fake.clone(),
        template,
        next_env: AtomicUsize::new(0),
        envs: Mutex::new(Vec::new()),
        counters: Mutex::new(Counters::default()),
        onboarded_at: Mutex::new(HashMap::new()),
        arrivals_done: std::sync::atomic::AtomicBool::new(false),
        wall: std::time::Instant::now(),
    });
    check_placement(&world).await;
    check_listing(&world).await;
    // The self-check's environment is not the fleet's.
    world.envs.lock().unwrap().clear();
    let capacity: BTreeMap<String, u32> =
        cells.iter().map(|c| (c.name.clone(), c.capacity)).collect();
    let total_capacity: u64 = capacity.values().map(|c| u64::from(*c)).sum();
    eprintln!(
        "fleet_scale: {} tenants at {}/s into {} cells ({} places), {} stream shards, cell events {:?}",
        knobs.tenants,
        knobs.rate,
        cells.len(),
        total_capacity,
        knobs.shards,
        knobs.cell_events
    );
    assert!(
        total_capacity >= knobs.tenants as u64,
        "the cells hold {total_capacity}, fewer than the fleet"
    );

    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(arrivals(world.clone()));
    tasks.spawn(eventbridge(world.clone(), events));
    tasks.spawn(reconciler(world.clone()));
    let shards = world.knobs.shards;
    for shard in 0..shards {
        tasks.spawn(mapping_shard(
            world.clone(),
            shard,
            provisioner_mapping.clone(),
            Mapping::Provisioner,
        ));
        tasks.spawn(mapping_shard(
            world.clone(),
            shard,
            publisher_mapping.clone(),
            Mapping::Publisher,
        ));
    }
    let n = knobs.tenants as u64;
    let mut last_report = Instant::now();
    let mut done_at = None;
    while start.elapsed() < HORIZON {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let running = world.running();
        let arrived = world
            .arrivals_done
            .load(std::sync::atomic::Ordering::SeqCst);
        if last_report.elapsed() >= Duration::from_secs(600) {
            last_report = Instant::now();
            let s = world.fake.lock();
            eprintln!(
                "  t={:>6.0} s  wall {:>5.0} s  by status {:?}",
                start.elapsed().as_secs_f64(),
                world.wall.elapsed().as_secs_f64(),
                s.table.by_status
            );
        }
        if arrived && running >= n {
            done_at = Some(start.elapsed());
            break;
        }
        let c = world.counters();
        let onboarded_all = arrived && c.onboarded + c.onboarding_errors.values().sum::<u64>() >= n;
        drop(c);
        // Everything that could happen has: what is left is stuck.
        if onboarded_all && running + failed_count(&world) >= n {
            break;
        }
    }
    // Let what is in flight settle (the publisher's last batches), then read the final state.
    tokio::time::sleep(DRAIN).await;
    let elapsed = start.elapsed();
    // The final state through the real store (its reads are not part of the fleet's cost).
    let units_before: BTreeMap<&'static str, dynamodb::OpUnits> =
        world.fake.lock().table.units.clone();
    let cp = world.environment().cp;
    let tenants = cp.store().list().await.expect("list the tenants");
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    for t in &tenants {
        *statuses.entry(t.status.as_str().to_owned()).or_default() += 1;
    }
    let mut per_cell: BTreeMap<String, u64> = BTreeMap::new();
    for t in &tenants {
        *per_cell
            .entry(t.cell.clone().unwrap_or_default())
            .or_default() += 1;
    }
    let counts = cp
        .store()
        .cell_counts(&cells.iter().map(|c| c.name.as_str()).collect::<Vec<_>>())
        .await
        .expect("cell counts");

    let cell_of: HashMap<String, String> = tenants
        .iter()
        .map(|t| (t.tenant_id.clone(), t.cell.clone().unwrap_or_default()))
        .collect();
    report(
        &world,
        &knobs,
        done_at,
        elapsed,
        &statuses,
        &per_cell,
        &cell_of,
        &counts,
        &capacity,
        &cells,
        &units_before,
    )
}

fn failed_count(world: &World) -> u64 {
    world
        .fake
        .lock()
        .table
        .by_status
        .get("failed")
        .copied()
        .unwrap_or(0)
}

#[allow(clippy::too_many_arguments)]
fn report(
    world: &World,
    knobs: &Knobs,
    done_at: Option<Duration>,
    elapsed: Duration,
    statuses: &BTreeMap<String, u64>,
    per_cell: &BTreeMap<String, u64>,
    cell_of: &HashMap<String, String>,
    counts: &HashMap<String, u32>,
    capacity: &BTreeMap<String, u32>,
    cells: &[silos::blueprint::cells::Cell],
    units: &BTreeMap<&'static str, dynamodb::OpUnits>,
) -> Value {
    let n = knobs.tenants as f64;
    let per_k = |x: f64| x / n * 1000.0;
    let s = world.fake.lock();
    // Stacks per cell: its account and region's most ever held.
    let mut cell_rows = Vec::new();
    let mut over = Vec::new();
    for c in cells {
        let (account, region) = match (&c.account, &c.region) {
            (Some(a), Some(r)) => (a.clone(), r.clone()),
            _ => (HOME_ACCOUNT.to_owned(), HOME_REGION.to_owned()),
        };
        let a = s.accounts.get(&(account.clone(), region.clone()));
        let max_live = a.map_or(0, |a| a.max_live);
        let throttled = a.map_or(0, |a| a.throttled);
        let calls: u64 = a.map_or(0, |a| a.calls.values().sum());
        if max_live > c.capacity {
            over.push(format!(
                "{} held {} stacks, capacity {}",
                c.name, max_live, c.capacity
            ));
        }
        cell_rows.push(json!({
            "cell": c.name, "account": account, "region": region,
            "capacity": c.capacity, "stackQuota": STACK_QUOTA,
            "tenants": per_cell.get(&c.name).copied().unwrap_or(0),
            "counted": counts.get(&c.name).copied().unwrap_or(0),
            "maxStacks": max_live, "cloudFormationCalls": calls, "throttled": throttled,
            "errors": a.map(|a| a.errors.clone()).unwrap_or_default(),
        }));
    }
    let fake_throttles: u64 = s.accounts.values().map(|a| a.throttled).sum();
    let cfn_calls: BTreeMap<String, u64> =
        s.accounts
            .values()
            .flat_map(|a| a.calls.clone())
            .fold(BTreeMap::new(), |mut m, (k, v)| {
                *m.entry(k).or_default() += v;
                m
            });
    let unsupported = s.unsupported.clone();
    let sessions: u64 = s.sessions.values().sum();
    let events_put = s.events_put.clone();
    let mut lags = s.publish_lags.clone();
    lags.sort_by(f64::total_cmp);
    let publisher = json!({
        "lagSeconds": {
            "p50": percentile(&lags, 0.5), "p99": percentile(&lags, 0.99),
            "max": lags.last().copied().unwrap_or(0.0),
        },
        "eventsMeasured": lags.len(),
        "keysPublished": s.published_keys.len(),
        "keysPutTwice": s.published_twice,
    });
    let requests = s.requests.clone();
    drop(s);
    let cp_throttles: u64 = world
        .envs
        .lock()
        .unwrap()
        .iter()
        .flat_map(|cp| cp.throttles())
        .map(|(_, n)| n)
        .sum();

    // DynamoDB.
    let mut wru = 0u64;
    let mut rru_halves = 0u64;
    let mut index_wru = 0u64;
    let mut ops = serde_json::Map::new();
    for (op, u) in units {
        wru += u.wru;
        rru_halves += u.rru_halves;
        index_wru += u.index_wru;
        ops.insert(
            (*op).to_owned(),
            json!({"requests": u.requests, "wru": u.wru, "rru": u.rru_halves as f64 / 2.0, "indexWru": u.index_wru,
                   "requestsPer1000": per_k(u.requests as f64)}),
        );
    }
    let rru = rru_halves as f64 / 2.0;
    let ddb_requests: u64 = units.values().map(|u| u.requests).sum();
    let ddb_cost = wru as f64 * PRICE_WRU + rru * PRICE_RRU;

    // Lambda.
    let mut lambda = serde_json::Map::new();
    let mut invocations = 0u64;
    let mut gb_seconds = 0.0;
    for f in [
        &world.onboarding,
        &world.provisioner,
        &world.stack_events,
        &world.reconciler,
        &world.publisher,
    ] {
        let st = *f.stats();
        let gbs = f.gb_seconds();
        invocations += st.invocations;
        gb_seconds += gbs;
        lambda.insert(
            f.name.to_owned(),
            json!({
                "memoryMb": f.spec.memory_mb, "timeoutSeconds": f.spec.timeout.as_secs(),
                "invocations": st.invocations, "invocationsPer1000": per_k(st.invocations as f64),
                "coldStarts": st.cold_starts, "timeouts": st.timeouts, "maxConcurrency": st.max_concurrency,
                "meanBilledMs": if st.invocations > 0 { st.billed_ms / st.invocations as f64 } else { 0.0 },
                "gbSeconds": gbs,
                "costPer1000": per_k(st.invocations as f64 * PRICE_REQUEST + gbs * PRICE_GB_SECOND),
            }),
        );
    }
    let lambda_cost = invocations as f64 * PRICE_REQUEST + gb_seconds * PRICE_GB_SECOND;

    // Onboarding to running, per tenant.
    let onboarded = world.onboarded_at.lock().unwrap().clone();
    let running_at = &world.fake.lock().table.first_running.clone();
    let mut waits: Vec<f64> = onboarded
        .iter()
        .filter_map(|(id, at)| {
            running_at
                .get(id)
                .map(|r| r.saturating_duration_since(*at).as_secs_f64())
        })
        .collect();
    waits.sort_by(f64::total_cmp);
    // AWS's part: each tenant's own stack creation. The soonest every tenant could run is
    // the latest arrival plus its stack; what the control plane adds is the rest of its wait.
    let (aws_bound, mut overhead) = {
        let s = world.fake.lock();
        let first = onboarded.values().min().copied();
        let mut bound: f64 = 0.0;
        let mut overhead = Vec::new();
        for (id, at) in &onboarded {
            let (Some(first), Some(took)) =
                (first, s.create_took.get(&format!("{PREFIX}-tenant-{id}")))
            else {
                continue;
            };
            bound =
                bound.max(at.saturating_duration_since(first).as_secs_f64() + took.as_secs_f64());
            if let Some(ran) = running_at.get(id) {
                overhead
                    .push(ran.saturating_duration_since(*at).as_secs_f64() - took.as_secs_f64());
            }
        }
        (bound, overhead)
    };
    overhead.sort_by(f64::total_cmp);
    // With an outage: the waits of the tenants that arrived while it lasted, in its cell and
    // in the others (each against the same run's, and a run without the outage).
    let outage = knobs.params.outage.as_ref().map(|(account_id, from, until)| {
        let cell = cells
            .iter()
            .find(|c| c.account.as_deref() == Some(account_id.as_str()))
            .map(|c| c.name.clone())
            .unwrap_or_default();
        let first = onboarded.values().min().copied();
        let mut in_cell = Vec::new();
        let mut others = Vec::new();
        let mut last_in_cell: f64 = 0.0;
        for (id, at) in &onboarded {
            let Some(first) = first else { break };
            let arrived = at.saturating_duration_since(first);
            let Some(ran) = running_at.get(id) else { continue };
            let wait = ran.saturating_duration_since(*at).as_secs_f64();
            if cell_of.get(id) == Some(&cell) {
                last_in_cell = last_in_cell.max(ran.saturating_duration_since(first).as_secs_f64());
            }
            if arrived < *from || arrived >= *until {
                continue;
            }
            if cell_of.get(id) == Some(&cell) {
                in_cell.push(wait);
            } else {
                others.push(wait);
            }
        }
        in_cell.sort_by(f64::total_cmp);
        others.sort_by(f64::total_cmp);
        let summary = |w: &[f64]| json!({
            "tenants": w.len(),
            "p50": percentile(w, 0.5), "p99": percentile(w, 0.99),
            "max": w.last().copied().unwrap_or(0.0),
        });
        json!({
            "cell": cell,
            "fromSeconds": from.as_secs_f64(),
            "untilSeconds": until.as_secs_f64(),
            "arrivedDuringOutage": {"outageCell": summary(&in_cell), "otherCells": summary(&others)},
            "outageCellLastRunningSeconds": last_in_cell,
        })
    });
    let c = world.counters();
    let failed = statuses.get("failed").copied().unwrap_or(0);
    let running = statuses.get("running").copied().unwrap_or(0);
    let onboarding_errors: u64 = c.onboarding_errors.values().sum();

    // What CloudFormation's rate allows at best: the busiest cell's CreateStack calls at its
    // account's rate (after the burst), then a median stack.
    let busiest = per_cell.values().copied().max().unwrap_or(0) as f64;
    let bound = ((busiest - knobs.params.cfn_burst).max(0.0) / knobs.params.cfn_rate)
        .max(n / knobs.rate)
        + knobs.params.create_median.as_secs_f64();
    let report = json!({
        "tenants": knobs.tenants,
        "throttleBoundSeconds": bound,
        "cells": cells.len(),
        "cellEvents": format!("{:?}", knobs.cell_events).to_lowercase(),
        "parameters": {
            "arrivals": {"process": "Poisson", "perSecond": knobs.rate},
            "streamShards": knobs.shards,
            "provisionerMapping": {
                "batchSize": world.template.mappings["ProvisionerFunction"].batch_size,
                "maxRetries": world.template.mappings["ProvisionerFunction"].max_retries,
                "maxRecordAgeSeconds": world.template.mappings["ProvisionerFunction"].max_age.as_secs(),
                "parallelization": world.template.mappings["ProvisionerFunction"].parallelization,
                "pollEveryMs": POLL.as_millis() as u64,
            },
            "publisherMapping": {
                "batchSize": world.template.mappings["EventPublisherFunction"].batch_size,
                "parallelization": world.template.mappings["EventPublisherFunction"].parallelization,
            },
            "cloudFormation": {
                "stackQuotaPerAccount": STACK_QUOTA,
                "apiRatePerAccountRegion": knobs.params.cfn_rate,
                "apiBurst": knobs.params.cfn_burst,
                "apiBucket": if knobs.params.shared_bucket { "per account and region, every action together" } else { "per account, region and API action" },
                "stackCreate": {"distribution": "log-normal", "medianSeconds": knobs.params.create_median.as_secs_f64(), "sigma": knobs.params.create_sigma, "minSeconds": knobs.params.create_min.as_secs_f64()},
                "createStackCall": latency_json(fake::CFN_CREATE),
                "describeStacksCall": latency_json(fake::CFN_DESCRIBE),
                "throttledAnswer": latency_json(fake::CFN_THROTTLED),
                "controlPlanePace": cells.first().map(|c| json!({"callsPerSecond": c.cloud_formation.calls_per_second, "burst": c.cloud_formation.burst})),
            },
            "dynamodbCall": {"item": latency_json(fake::DYNAMODB_ITEM), "batchTransactScanQuery": latency_json(fake::DYNAMODB_MULTI)},
            "stsCall": latency_json(fake::STS),
            "s3Get": latency_json(fake::S3_GET),
            "eventBridgeDelay": {"minSeconds": EVENT_DELAY_MIN.as_secs_f64(), "plusExponentialMeanSeconds": EVENT_DELAY_MEAN},
            "reconcileEverySeconds": world.template.reconcile_every.as_secs(),
            "reconcileSettleSeconds": silos::lambda::RECONCILE_SETTLE.as_secs(),
            "lambdaAssumed": {"cpuMsPerInvocation": CPU_MS, "initMsPerColdStart": INIT_MS},
            "seed": knobs.params.seed,
        },
        "simulatedSecondsToAllRunning": done_at.map(|d| d.as_secs_f64()),
        "simulatedSeconds": elapsed.as_secs_f64(),
        "statuses": statuses,
        "failures": {
            "failedTenants": failed,
            "notRunning": knobs.tenants as u64 - running,
            "onboardingErrors": c.onboarding_errors,
        },
        "awsBoundSeconds": aws_bound,
        "controlPlaneOverheadSeconds": {
            "p50": percentile(&overhead, 0.5), "p99": percentile(&overhead, 0.99),
            "max": overhead.last().copied().unwrap_or(0.0),
        },
        "onboardingToRunningSeconds": {
            "p50": percentile(&waits, 0.5), "p95": percentile(&waits, 0.95),
            "p99": percentile(&waits, 0.99), "max": waits.last().copied().unwrap_or(0.0),
        },
        "outage": outage,
        "cellRows": cell_rows,
        "throttling": {
            "cloudFormationThrottlingAnswers": fake_throttles,
            "controlPlaneThrottles": cp_throttles,
            "provisionerBatchesRetried": c.provisioner_mapping.batches_retried,
            "provisionerRecordsFailed": c.provisioner_mapping.records_failed,
        },
        "cloudFormationCalls": cfn_calls,
        "stsSessions": sessions,
        "eventsPut": events_put,
        "publisher": publisher,
        "counters": &*c,
        "dynamodb": {
            "requests": ddb_requests, "wru": wru, "rru": rru, "indexWru": index_wru,
            "requestsPer1000": per_k(ddb_requests as f64), "wruPer1000": per_k(wru as f64), "rruPer1000": per_k(rru),
            "costPer1000": per_k(ddb_cost),
            "byOperation": ops,
            "prices": {"perMillionWru": 0.625, "perMillionRru": 0.125, "region": "us-east-1", "mode": "on-demand"},
        },
        "lambda": {
            "invocations": invocations, "invocationsPer1000": per_k(invocations as f64),
            "gbSeconds": gb_seconds, "costPer1000": per_k(lambda_cost),
            "byFunction": lambda,
            "prices": {"perMillionRequests": 0.20, "perGbSecond": 0.0000166667, "architecture": "x86_64", "region": "us-east-1"},
        },
        "controlPlaneCostPer1000": per_k(ddb_cost + lambda_cost),
        // Passes cut off at the timeout report nothing, so this is counted from the events.
        "movedByReconciler": running.saturating_sub(c.events_moved),
        "unsupportedRequests": unsupported,
        "requests": requests,
    });
    print_table(&report);
    drop(c);
    // The guarantees the run checks.
    assert!(
        over.is_empty(),
        "a cell held more stacks than its capacity: {over:?}"
    );
    for (cell, n) in counts {
        assert!(
            *n <= capacity[cell],
            "cell {cell} counts {n} tenants, above its capacity {}",
            capacity[cell]
        );
    }
    assert_eq!(failed, 0, "failed tenants");
    assert_eq!(onboarding_errors, 0, "onboarding errors");
    assert!(
        report["unsupportedRequests"]
            .as_object()
            .unwrap()
            .is_empty(),
        "the control plane made requests the simulation does not serve"
    );
    assert_eq!(running, knobs.tenants as u64, "every tenant running");
    // Three lifecycle events per tenant (requested, provisioning started, provisioned), each
    // at least once (a redelivered batch may publish one again, with the same key). The
    // publisher may trail the stream when the report is taken: that is a lag, reported.
    let published: u64 = report["eventsPut"]
        .as_object()
        .map(|m| m.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    let expected = 3 * knobs.tenants as u64;
    if published < expected {
        println!(
            "lifecycle events still to publish when every tenant runs (+30 s): {} of {expected}",
            expected - published
        );
    }
    report
}

fn print_table(r: &Value) {
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    println!();
    println!(
        "fleet_scale: {} tenants, {} cells, cell events {}, CloudFormation buckets {}",
        r["tenants"], r["cells"], r["cellEvents"], r["parameters"]["cloudFormation"]["apiBucket"]
    );
    println!(
        "{:<52} {:>14}",
        "simulated time to all running (s)",
        match r["simulatedSecondsToAllRunning"].as_f64() {
            Some(s) => format!("{s:.0}"),
            None => "never".to_owned(),
        }
    );
    println!(
        "{:<52} {:>14.0}",
        "  CloudFormation's rate allows at best (s)",
        f(&r["throttleBoundSeconds"])
    );
    println!(
        "{:<52} {:>14.0}",
        "  the arrivals and each tenant's own stack allow (s)",
        f(&r["awsBoundSeconds"])
    );
    let o = &r["controlPlaneOverheadSeconds"];
    println!(
        "{:<52} {:>14}",
        "control plane's part of the wait p50/p99/max (s)",
        format!(
            "{:.1}/{:.1}/{:.1}",
            f(&o["p50"]),
            f(&o["p99"]),
            f(&o["max"])
        )
    );
    let w = &r["onboardingToRunningSeconds"];
    println!(
        "{:<52} {:>14}",
        "onboarding to running p50/p95/p99/max (s)",
        format!(
            "{:.0}/{:.0}/{:.0}/{:.0}",
            f(&w["p50"]),
            f(&w["p95"]),
            f(&w["p99"]),
            f(&w["max"])
        )
    );
    if let Some(o) = r["outage"].as_object() {
        let during = &o["arrivedDuringOutage"];
        for (label, key) in [("outage cell", "outageCell"), ("other cells", "otherCells")] {
            let w = &during[key];
            println!(
                "{:<52} {:>14}",
                format!("  arrived in the outage, {label}: p50/p99/max (s)"),
                format!(
                    "{:.1}/{:.1}/{:.1}",
                    f(&w["p50"]),
                    f(&w["p99"]),
                    f(&w["max"])
                )
            );
        }
        println!(
            "{:<52} {:>14.0}",
            "  the outage cell's last tenant running at (s)",
            f(&o["outageCellLastRunningSeconds"])
        );
    }
    let lag = &r["publisher"]["lagSeconds"];
    println!(
        "{:<52} {:>14}",
        "publisher's lag behind the stream p50/p99/max (s)",
        format!(
            "{:.1}/{:.1}/{:.1}",
            f(&lag["p50"]),
            f(&lag["p99"]),
            f(&lag["max"])
        )
    );
    println!(
        "{:<52} {:>14}",
        "  lifecycle events put twice under one key",
        r["publisher"]["keysPutTwice"].as_u64().unwrap_or(0)
    );
    println!("{:<52} {:>14}", "statuses", r["statuses"].to_string());
    println!(
        "{:<52} {:>14}",
        "failed tenants",
        r["failures"]["failedTenants"].as_u64().unwrap_or(0)
    );
    println!();
    println!(
        "{:<10} {:>12} {:>10} {:>9} {:>9} {:>10} {:>10}",
        "cell", "account", "region", "capacity", "tenants", "max stacks", "throttled"
    );
    for c in r["cellRows"].as_array().unwrap() {
        let u = |k: &str| c[k].as_u64().unwrap_or(0);
        println!(
            "{:<10} {:>12} {:>10} {:>9} {:>9} {:>10} {:>10}",
            c["cell"].as_str().unwrap(),
            c["account"].as_str().unwrap(),
            c["region"].as_str().unwrap(),
            u("capacity"),
            u("tenants"),
            u("maxStacks"),
            u("throttled")
        );
    }
    for c in r["cellRows"].as_array().unwrap() {
        let other: Vec<String> = c["errors"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| !k.ends_with("Throttling"))
            .map(|(k, v)| format!("{k} x{v}"))
            .collect();
        if !other.is_empty() {
            println!(
                "  {} answered errors: {}",
                c["cell"].as_str().unwrap(),
                other.join(", ")
            );
        }
    }
    println!();
    let t = &r["throttling"];
    println!(
        "{:<52} {:>14}",
        "CloudFormation Throttling answers (simulated)",
        t["cloudFormationThrottlingAnswers"].as_u64().unwrap_or(0)
    );
    println!(
        "{:<52} {:>14}",
        "throttles seen by the control plane (throttles())",
        t["controlPlaneThrottles"].as_u64().unwrap_or(0)
    );
    println!(
        "{:<52} {:>14}",
        "provisioner batches retried / records failed",
        format!(
            "{}/{}",
            t["provisionerBatchesRetried"], t["provisionerRecordsFailed"]
        )
    );
    for (name, m) in [
        ("provisioner", &r["counters"]["provisionerMapping"]),
        ("publisher", &r["counters"]["publisherMapping"]),
    ] {
        println!(
            "{:<52} {:>14}",
            format!("{name} mapping: batches/retried/gave up/expired"),
            format!(
                "{}/{}/{}/{}",
                m["batches"], m["batchesRetried"], m["gaveUp"], m["expired"]
            )
        );
    }
    println!(
        "{:<52} {:>14}",
        "lifecycle events put on the bus",
        r["eventsPut"].to_string()
    );
    println!(
        "{:<52} {:>14}",
        "CloudFormation calls",
        r["cloudFormationCalls"].to_string()
    );
    let c = &r["counters"];
    println!(
        "{:<52} {:>14}",
        "stack events emitted/unrouted/delivered/dead-lettered",
        format!(
            "{}/{}/{}/{}",
            c["eventsEmitted"], c["eventsUnrouted"], c["eventsDelivered"], c["eventsDeadLettered"]
        )
    );
    println!(
        "{:<52} {:>14}",
        "reconciler passes/cut off at timeout",
        format!("{}/{}", c["reconcilerPasses"], c["reconcilerCutOff"])
    );
    println!(
        "{:<52} {:>14}",
        "tenants moved by stack events / by the reconciler",
        format!("{}/{}", c["eventsMoved"], r["movedByReconciler"])
    );
    println!();
    let d = &r["dynamodb"];
    println!("DynamoDB per 1,000 tenants (on-demand, us-east-1: $0.625/M WRU, $0.125/M RRU)");
    println!(
        "  requests {:.0}, WRU {:.0} (of which indexes {}), RRU {:.0}: ${:.4}",
        f(&d["requestsPer1000"]),
        f(&d["wruPer1000"]),
        d["indexWru"],
        f(&d["rruPer1000"]),
        f(&d["costPer1000"])
    );
    for (op, u) in d["byOperation"].as_object().unwrap() {
        println!(
            "  {:<20} {:>10.0} requests/1000  WRU {:>10} RRU {:>10}",
            op,
            f(&u["requestsPer1000"]),
            u["wru"],
            u["rru"]
        );
    }
    let l = &r["lambda"];
    println!("Lambda per 1,000 tenants (x86, us-east-1: $0.20/M requests, $0.0000166667/GB-s)");
    println!(
        "  invocations {:.0}, GB-s total {:.1}: ${:.4}",
        f(&l["invocationsPer1000"]),
        f(&l["gbSeconds"]),
        f(&l["costPer1000"])
    );
    for (name, x) in l["byFunction"].as_object().unwrap() {
        println!(
            "  {:<16} {:>5} MB  {:>8.0} inv/1000  mean {:>7.0} ms  cold {:>4}  timeouts {}  max conc {}{}",
            name,
            x["memoryMb"],
            f(&x["invocationsPer1000"]),
            f(&x["meanBilledMs"]),
            x["coldStarts"],
            x["timeouts"],
            x["maxConcurrency"],
            if x["modeled"] == true {
                "  (modeled)"
            } else {
                ""
            }
        );
    }
    println!(
        "{:<52} {:>14}",
        "control plane cost per 1,000 tenants (USD)",
        format!("{:.4}", f(&r["controlPlaneCostPer1000"]))
    );
}
