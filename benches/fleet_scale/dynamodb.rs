//! The simulated DynamoDB: one table with the key schema and global secondary indexes the
//! control-plane template declares, in memory, behind the fake's one lock, so each request's
//! conditions are evaluated and its writes applied atomically, as DynamoDB does per item and
//! per transaction. It speaks the JSON 1.0 protocol of the real SDK client (`X-Amz-Target:
//! DynamoDB_20120810.<Op>`): GetItem, BatchGetItem, PutItem, UpdateItem, DeleteItem,
//! TransactWriteItems, Scan and Query. Anything else is refused, so an unsimulated call is
//! seen at once.
//!
//! Capacity is counted as on-demand bills it: a write is 1 WRU per KB of the larger of the item
//! before and after (a failed condition still costs the item's size), a transactional write 2
//! WRU per KB and item; a strongly consistent read 1 RRU per 4 KB, an eventually consistent one
//! half that, a transactional read (a ConditionCheck) 2; Scan and Query by the total size read,
//! before any filter. A write that puts, changes or removes an item in a global secondary index
//! costs 1 WRU per KB of the projected item in that index, twice when it moves the item's
//! index key (a delete and a put). A cancelled transaction is charged as a committed one.
//!
//! Every write that changes an item adds a record (NEW_IMAGE) to the table's stream, on the
//! shard of its key.
//!
//! Time. `Timestamp::now()` in the store is the wall clock, and the simulation runs on virtual
//! time, so the attributes named in `TableSpec::virtual_times` are translated: the fake
//! remembers the virtual instant each was last written, and renders it as the wall clock now
//! minus its virtual age. The reconciler's `settle` then means simulated time.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::expression::{self, Cond, Scope, Update, Used};

#[derive(Clone, Debug, PartialEq)]
pub enum Av {
    S(String),
    N(String),
    B(String),
    Bool(bool),
    Null,
    M(BTreeMap<String, Av>),
    L(Vec<Av>),
    Ss(Vec<String>),
    Ns(Vec<String>),
    Bs(Vec<String>),
}

pub type Item = BTreeMap<String, Av>;

/// A refused request: its error code (the `__type` after `#`), message, and for a cancelled
/// transaction the reason of each item in order (`None` where nothing failed).
#[derive(Clone, Debug, PartialEq)]
pub struct Error {
    pub code: &'static str,
    pub message: String,
    pub reasons: Option<Vec<Option<&'static str>>>,
}

pub fn invalid(message: String) -> Error {
    Error {
        code: "ValidationException",
        message,
        reasons: None,
    }
}

const CONDITION_FAILED: &str = "ConditionalCheckFailed";

impl Av {
    pub fn from_json(v: &Value) -> Result<Av, Error> {
        let bad = || invalid(format!("not an attribute value: {v}"));
        let obj = v.as_object().filter(|o| o.len() == 1).ok_or_else(bad)?;
        let (ty, x) = obj.iter().next().ok_or_else(bad)?;
        let strings = |x: &Value| -> Result<Vec<String>, Error> {
            x.as_array()
                .ok_or_else(bad)?
                .iter()
                .map(|s| s.as_str().map(str::to_owned).ok_or_else(bad))
                .collect()
        };
        Ok(match ty.as_str() {
            "S" => Av::S(x.as_str().ok_or_else(bad)?.to_owned()),
            "N" => {
                let n = x.as_str().ok_or_else(bad)?;
                if n.parse::<f64>().is_err() {
                    return Err(invalid(format!(
                        "The parameter cannot be converted to a numeric value: {n}"
                    )));
                }
                Av::N(n.to_owned())
            }
            "B" => Av::B(x.as_str().ok_or_else(bad)?.to_owned()),
            "BOOL" => Av::Bool(x.as_bool().ok_or_else(bad)?),
            "NULL" => Av::Null,
            "M" => Av::M(item_from_json(x)?),
            "L" => Av::L(
                x.as_array()
                    .ok_or_else(bad)?
                    .iter()
                    .map(Av::from_json)
                    .collect::<Result<_, _>>()?,
            ),
            "SS" => Av::Ss(strings(x)?),
            "NS" => Av::Ns(strings(x)?),
            "BS" => Av::Bs(strings(x)?),
            _ => return Err(bad()),
        })
    }

    pub fn to_json(&self) -> Value {
        match self {
            Av::S(s) => json!({"S": s}),
            Av::N(n) => json!({"N": n}),
            Av::B(b) => json!({"B": b}),
            Av::Bool(b) => json!({"BOOL": b}),
            Av::Null => json!({"NULL": true}),
            Av::M(m) => json!({"M": item_to_json(m)}),
            Av::L(l) => json!({"L": l.iter().map(Av::to_json).collect::<Vec<_>>()}),
            Av::Ss(s) => json!({"SS": s}),
            Av::Ns(s) => json!({"NS": s}),
            Av::Bs(s) => json!({"BS": s}),
        }
    }

    /// What `size()` answers.
    pub fn size_function(&self) -> usize {
        match self {
            Av::S(s) => s.chars().count(),
            Av::B(b) => b.len() * 3 / 4,
            Av::M(m) => m.len(),
            Av::L(l) => l.len(),
            Av::Ss(s) | Av::Ns(s) | Av::Bs(s) => s.len(),
            Av::N(n) => n.len(),
            Av::Bool(_) | Av::Null => 1,
        }
    }

    /// Its size as DynamoDB counts it for capacity units.
    fn size(&self) -> usize {
        let number = |n: &str| {
            let digits = n
                .trim_start_matches('-')
                .chars()
                .filter(char::is_ascii_digit)
                .collect::<String>();
            let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
            significant.div_ceil(2) + 1
        };
        match self {
            Av::S(s) => s.len(),
            Av::N(n) => number(n),
            Av::B(b) => b.len() * 3 / 4,
            Av::Bool(_) | Av::Null => 1,
            Av::M(m) => 3 + m.iter().map(|(k, v)| k.len() + v.size() + 1).sum::<usize>(),
            Av::L(l) => 3 + l.iter().map(|v| v.size() + 1).sum::<usize>(),
            Av::Ss(s) => s.iter().map(String::len).sum(),
            Av::Ns(s) => s.iter().map(|n| number(n)).sum(),
            Av::Bs(s) => s.iter().map(|b| b.len() * 3 / 4).sum(),
        }
    }
}

pub fn item_from_json(v: &Value) -> Result<Item, Error> {
    v.as_object()
        .ok_or_else(|| invalid(format!("not an item: {v}")))?
        .iter()
        .map(|(k, v)| Ok((k.clone(), Av::from_json(v)?)))
        .collect()
}

pub fn item_to_json(item: &Item) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect::<Map<_, _>>(),
    )
}

/// `s` as a JSON string, appended to `out`.
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The value as DynamoDB JSON text, appended to `out` (what `to_json` renders, without
/// building it: a Scan page holds a megabyte of items).
fn push_av(out: &mut String, v: &Av) {
    let strings = |out: &mut String, tag: &str, items: &[String]| {
        out.push_str("{\"");
        out.push_str(tag);
        out.push_str("\":[");
        for (i, x) in items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_json_str(out, x);
        }
        out.push_str("]}");
    };
    match v {
        Av::S(x) | Av::N(x) | Av::B(x) => {
            out.push_str(match v {
                Av::S(_) => "{\"S\":",
                Av::N(_) => "{\"N\":",
                _ => "{\"B\":",
            });
            push_json_str(out, x);
            out.push('}');
        }
        Av::Bool(b) => out.push_str(if *b {
            "{\"BOOL\":true}"
        } else {
            "{\"BOOL\":false}"
        }),
        Av::Null => out.push_str("{\"NULL\":true}"),
        Av::M(m) => {
            out.push_str("{\"M\":");
            push_item(out, m, &[]);
            out.push('}');
        }
        Av::L(l) => {
            out.push_str("{\"L\":[");
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_av(out, x);
            }
            out.push_str("]}");
        }
        Av::Ss(x) => strings(out, "SS", x),
        Av::Ns(x) => strings(out, "NS", x),
        Av::Bs(x) => strings(out, "BS", x),
    }
}

/// An item as JSON text, with `overrides` in place of the attributes they name.
fn push_item(out: &mut String, item: &Item, overrides: &[(&str, Av)]) {
    out.push('{');
    for (i, (k, v)) in item.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_str(out, k);
        out.push(':');
        match overrides.iter().find(|(name, _)| *name == k) {
            Some((_, o)) => push_av(out, o),
            None => push_av(out, v),
        }
    }
    out.push('}');
}

fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + v.size()).sum()
}

/// One global secondary index: its name and key attributes (projecting every attribute).
#[derive(Clone, Debug)]
pub struct IndexSpec {
    pub name: String,
    pub partition: (String, String),
    pub sort: Option<(String, String)>,
}

/// The table as the template declares it.
#[derive(Clone, Debug)]
pub struct TableSpec {
    pub name: String,
    /// The partition key (type S); the table has no sort key.
    pub key: String,
    pub indexes: Vec<IndexSpec>,
    /// The stream's shards.
    pub shards: usize,
    /// Attributes holding the store's wall-clock timestamps (see the module docs).
    pub virtual_times: Vec<String>,
}

/// An index key's part, ordered as DynamoDB orders its type.
#[derive(Clone, Debug, PartialEq)]
enum Part {
    N(f64),
    S(String),
}

impl Eq for Part {}

impl PartialOrd for Part {
    fn partial_cmp(&self, other: &Part) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Part {
    fn cmp(&self, other: &Part) -> std::cmp::Ordering {
        match (self, other) {
            (Part::N(a), Part::N(b)) => a.total_cmp(b),
            (Part::S(a), Part::S(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Part::N(_), Part::S(_)) => std::cmp::Ordering::Less,
            (Part::S(_), Part::N(_)) => std::cmp::Ordering::Greater,
        }
    }
}

type IndexKey = (Part, Option<Part>, String);

/// A Scan's or Query's filter, and the request's placeholders.
type Filter = (
    Option<Arc<(Cond, Used)>>,
    BTreeMap<String, String>,
    BTreeMap<String, Av>,
);

/// One action of a transaction, checked: the item after it (`None` for a ConditionCheck,
/// `Some(None)` for a Delete).
struct Planned<'a> {
    kind: &'a str,
    body: &'a Value,
    key: String,
    after: Option<Option<Item>>,
    stamps: Vec<String>,
}

struct Stored {
    item: Item,
    size: usize,
    /// When each virtual-time attribute was last written.
    written: BTreeMap<String, Instant>,
}

/// What one operation cost, and how often it was called.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OpUnits {
    pub requests: u64,
    pub wru: u64,
    /// Read request units, in halves (an eventually consistent read of 4 KB is one half).
    pub rru_halves: u64,
    /// Of `wru`, what global secondary indexes cost.
    pub index_wru: u64,
}

/// A stream record: the change and the item after it (NEW_IMAGE), rendered when written.
#[derive(Clone, Debug)]
pub struct StreamRecord {
    pub sequence: String,
    pub event_name: &'static str,
    pub keys: Value,
    pub new_image: Option<Value>,
    pub size: usize,
    pub created_epoch_secs: f64,
    /// The record as Lambda delivers it, built once for every mapping that reads it.
    pub lambda: std::sync::OnceLock<Value>,
}

/// The stream: shards of records in commit order, read by `readers` consumers (one cursor
/// each); a record is dropped once every consumer has read it.
pub struct Stream {
    shards: Vec<Shard>,
    readers: usize,
    sequence: u64,
}

struct Shard {
    records: VecDeque<Arc<StreamRecord>>,
    /// The offset of `records[0]`.
    base: u64,
    cursors: Vec<u64>,
}

impl Stream {
    fn new(shards: usize, readers: usize) -> Stream {
        Stream {
            shards: (0..shards)
                .map(|_| Shard {
                    records: VecDeque::new(),
                    base: 0,
                    cursors: vec![0; readers],
                })
                .collect(),
            readers,
            sequence: 0,
        }
    }

    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    /// Everything shard `shard` holds that `reader` has not read yet.
    pub fn read(&mut self, shard: usize, reader: usize) -> Vec<Arc<StreamRecord>> {
        let s = &mut self.shards[shard];
        let from = (s.cursors[reader] - s.base) as usize;
        let out: Vec<Arc<StreamRecord>> = s.records.iter().skip(from).cloned().collect();
        s.cursors[reader] = s.base + s.records.len() as u64;
        let slowest = s.cursors.iter().copied().min().unwrap_or(0);
        while s.base < slowest {
            s.records.pop_front();
            s.base += 1;
        }
        out
    }

    fn push(&mut self, shard: usize, mut record: StreamRecord) {
        self.sequence += 1;
        record.sequence = format!("{:021}", self.sequence * 100);
        if self.readers > 0 {
            self.shards[shard].records.push_back(Arc::new(record));
        }
    }
}

/// One write of a request: the item's key, and the item after it (`None`: deleted).
struct Write {
    key: String,
    after: Option<Item>,
    /// The virtual-time attributes it wrote.
    stamps: Vec<String>,
}

pub struct Table {
    spec: TableSpec,
    /// Keyed by (hash of the key, key): a Scan's order is the hash order, as DynamoDB's is.
    items: BTreeMap<(u64, String), Stored>,
    indexes: Vec<BTreeMap<IndexKey, (u64, String)>>,
    conditions: HashMap<String, Arc<(Cond, Used)>>,
    updates: HashMap<String, Arc<(Update, Used)>>,
    pub stream: Stream,
    pub units: BTreeMap<&'static str, OpUnits>,
    /// Items per value of `status`, and when each item first became `running` (for the
    /// simulation's report, not DynamoDB features).
    pub by_status: BTreeMap<String, u64>,
    pub first_running: HashMap<String, Instant>,
    /// When each transition (`tenantId:status:statusChangedAt`, a lifecycle event's
    /// idempotency key) was written to the stream: the publisher's lag is measured from it.
    pub written: HashMap<String, Instant>,
    /// The virtual and wall-clock instants the simulation started at.
    epoch: (Instant, std::time::SystemTime),
}

/// FNV-1a: a stable hash, so runs are repeatable.
fn hash(key: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in key.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

const KB: usize = 1024;

fn write_units(bytes: usize) -> u64 {
    bytes.div_ceil(KB).max(1) as u64
}

/// Strongly consistent read units (halves: 2 per 4 KB).
fn read_halves(bytes: usize, consistent: bool) -> u64 {
    let units = bytes.div_ceil(4 * KB).max(1) as u64;
    if consistent { units * 2 } else { units }
}

fn names_of(v: &Value) -> Result<BTreeMap<String, String>, Error> {
    match v.get("ExpressionAttributeNames") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                v.as_str()
                    .map(|s| (k.clone(), s.to_owned()))
                    .ok_or_else(|| invalid(format!("bad attribute name {k}")))
            })
            .collect(),
        Some(other) => Err(invalid(format!("bad ExpressionAttributeNames {other}"))),
    }
}

fn values_of(v: &Value) -> Result<BTreeMap<String, Av>, Error> {
    match v.get("ExpressionAttributeValues") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| Ok((k.clone(), Av::from_json(v)?)))
            .collect(),
        Some(other) => Err(invalid(format!("bad ExpressionAttributeValues {other}"))),
    }
}

fn text<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v.get(field).and_then(Value::as_str)
}

impl Table {
    pub fn new(spec: TableSpec, readers: usize) -> Table {
        let shards = spec.shards.max(1);
        Table {
            indexes: vec![BTreeMap::new(); spec.indexes.len()],
            spec,
            items: BTreeMap::new(),
            conditions: HashMap::new(),
            updates: HashMap::new(),
            stream: Stream::new(shards, readers),
            units: BTreeMap::new(),
            by_status: BTreeMap::new(),
            first_running: HashMap::new(),
            written: HashMap::new(),
            epoch: (Instant::now(), std::time::SystemTime::now()),
        }
    }

    fn condition(&mut self, text: &str) -> Result<Arc<(Cond, Used)>, Error> {
        if let Some(c) = self.conditions.get(text) {
            return Ok(c.clone());
        }
        let parsed = Arc::new(
            expression::condition(text)
                .map_err(|e| invalid(format!("Invalid ConditionExpression: {e}")))?,
        );
        self.conditions.insert(text.to_owned(), parsed.clone());
        Ok(parsed)
    }

    fn update(&mut self, text: &str) -> Result<Arc<(Update, Used)>, Error> {
        if let Some(u) = self.updates.get(text) {
            return Ok(u.clone());
        }
        let parsed = Arc::new(
            expression::update(text)
                .map_err(|e| invalid(format!("Invalid UpdateExpression: {e}")))?,
        );
        self.updates.insert(text.to_owned(), parsed.clone());
        Ok(parsed)
    }

    fn count(&mut self, op: &'static str) -> &mut OpUnits {
        self.units.entry(op).or_default()
    }

    /// The key of a request's `Key` (or an item): the partition key, a string.
    fn key_of(&self, key: &Item, whole_key: bool) -> Result<String, Error> {
        if whole_key && key.len() != 1 {
            return Err(invalid(
                "The provided key element does not match the schema".to_owned(),
            ));
        }
        match key.get(&self.spec.key) {
            Some(Av::S(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err(invalid(
                "The provided key element does not match the schema".to_owned(),
            )),
        }
    }

    fn check_table(&self, v: &Value) -> Result<(), Error> {
        match text(v, "TableName") {
            Some(t) if t == self.spec.name => Ok(()),
            other => Err(Error {
                code: "ResourceNotFoundException",
                message: format!("Requested resource not found: Table: {other:?} not found"),
                reasons: None,
            }),
        }
    }

    fn get(&self, key: &str) -> Option<&Stored> {
        self.items.get(&(hash(key), key.to_owned()))
    }

    /// The stored item as a response renders it: virtual-time attributes translated.
    fn render(&self, stored: &Stored) -> Value {
        let mut out = item_to_json(&stored.item);
        if stored.written.is_empty() {
            return out;
        }
        let wall_now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        for (attr, at) in &stored.written {
            let age = at.elapsed().as_millis() as u64;
            let ms = wall_now.saturating_sub(age);
            if let Some(obj) = out.as_object_mut()
                && obj.contains_key(attr)
            {
                obj.insert(
                    attr.clone(),
                    json!({"N": format!("{}.{:03}", ms / 1000, ms % 1000)}),
                );
            }
        }
        out
    }

    /// As [`render`](Self::render), appended to `out` as text.
    fn render_text(&self, stored: &Stored, out: &mut String, wall_now: u64) {
        let overrides: Vec<(&str, Av)> = stored
            .written
            .iter()
            .map(|(attr, at)| {
                let ms = wall_now.saturating_sub(at.elapsed().as_millis() as u64);
                (
                    attr.as_str(),
                    Av::N(format!("{}.{:03}", ms / 1000, ms % 1000)),
                )
            })
            .collect();
        push_item(out, &stored.item, &overrides);
    }

    fn index_key(&self, i: usize, item: &Item, key: &str) -> Result<Option<IndexKey>, Error> {
        let spec = &self.spec.indexes[i];
        let part = |(attr, ty): &(String, String)| -> Result<Option<Part>, Error> {
            match (item.get(attr), ty.as_str()) {
                (None, _) => Ok(None),
                (Some(Av::S(s)), "S") => Ok(Some(Part::S(s.clone()))),
                (Some(Av::N(n)), "N") => Ok(Some(Part::N(expression::number(n)))),
                (Some(_), _) => Err(invalid(format!(
                    "One or more parameter values were invalid: Type mismatch for Index Key {attr} Expected: {ty} IndexName: {}",
                    spec.name
                ))),
            }
        };
        let Some(p) = part(&spec.partition)? else {
            return Ok(None);
        };
        let s = match &spec.sort {
            Some(sort) => match part(sort)? {
                Some(s) => Some(s),
                None => return Ok(None),
            },
            None => None,
        };
        Ok(Some((p, s, key.to_owned())))
    }

    /// Checks a write against the indexes' key types before anything is applied.
    fn check_indexes(&self, item: &Item, key: &str) -> Result<(), Error> {
        for i in 0..self.spec.indexes.len() {
            self.index_key(i, item, key)?;
        }
        Ok(())
    }

    /// Applies the writes of one request (all checked already), and returns what the
    /// indexes cost.
    fn apply(&mut self, writes: Vec<Write>) -> u64 {
        let mut index_wru = 0;
        let now = Instant::now();
        for w in writes {
            let slot = (hash(&w.key), w.key.clone());
            let before = self.items.remove(&slot);
            let existed = before.is_some();
            let unchanged = match (&before, &w.after) {
                (Some(b), Some(a)) => &b.item == a && w.stamps.is_empty(),
                (None, None) => true,
                _ => false,
            };
            for i in 0..self.spec.indexes.len() {
                let old = before
                    .as_ref()
                    .and_then(|b| self.index_key(i, &b.item, &w.key).ok().flatten());
                let new = w
                    .after
                    .as_ref()
                    .and_then(|a| self.index_key(i, a, &w.key).ok().flatten());
                if unchanged {
                    continue;
                }
                let old_size = before.as_ref().map_or(0, |b| b.size);
                let new_size = w.after.as_ref().map_or(0, item_size);
                index_wru += match (&old, &new) {
                    (Some(o), Some(n)) if o == n => write_units(new_size),
                    (Some(_), Some(_)) => write_units(old_size) + write_units(new_size),
                    (Some(_), None) => write_units(old_size),
                    (None, Some(_)) => write_units(new_size),
                    (None, None) => 0,
                };
                if let Some(o) = old {
                    self.indexes[i].remove(&o);
                }
                if let Some(n) = new {
                    self.indexes[i].insert(n, slot.clone());
                }
            }
            let status = |item: &Item| match item.get("status") {
                Some(Av::S(s)) => Some(s.clone()),
                _ => None,
            };
            if let Some(s) = before.as_ref().and_then(|b| status(&b.item))
                && let Some(n) = self.by_status.get_mut(&s)
            {
                *n -= 1;
            }
            match w.after {
                Some(item) => {
                    if let Some(s) = status(&item) {
                        if s == "running" && !self.first_running.contains_key(&w.key) {
                            self.first_running.insert(w.key.clone(), now);
                        }
                        *self.by_status.entry(s).or_default() += 1;
                    }
                    let mut written = before.map(|b| b.written).unwrap_or_default();
                    written.retain(|attr, _| item.contains_key(attr));
                    for attr in w.stamps {
                        written.insert(attr, now);
                    }
                    let stored = Stored {
                        size: item_size(&item),
                        item,
                        written,
                    };
                    if !unchanged {
                        let record = StreamRecord {
                            sequence: String::new(),
                            event_name: if existed { "MODIFY" } else { "INSERT" },
                            keys: json!({ self.spec.key.clone(): {"S": w.key} }),
                            new_image: Some(self.render(&stored)),
                            size: stored.size,
                            created_epoch_secs: self.epoch_secs(),
                            lambda: std::sync::OnceLock::new(),
                        };
                        self.push_record(&w.key, record);
                    }
                    self.items.insert(slot, stored);
                }
                None => {
                    if existed {
                        let record = StreamRecord {
                            sequence: String::new(),
                            event_name: "REMOVE",
                            keys: json!({ self.spec.key.clone(): {"S": w.key} }),
                            new_image: None,
                            size: 0,
                            created_epoch_secs: self.epoch_secs(),
                            lambda: std::sync::OnceLock::new(),
                        };
                        self.push_record(&w.key, record);
                    }
                }
            }
        }
        index_wru
    }

    fn epoch_secs(&self) -> f64 {
        let wall = self
            .epoch
            .1
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        wall + self.epoch.0.elapsed().as_secs_f64()
    }

    fn push_record(&mut self, key: &str, record: StreamRecord) {
        if let Some(image) = &record.new_image {
            let text = |k: &str| {
                image[k]["S"]
                    .as_str()
                    .or_else(|| image[k]["N"].as_str())
                    .map(str::to_owned)
            };
            if let (Some(id), Some(status), Some(at)) =
                (text("tenantId"), text("status"), text("statusChangedAt"))
            {
                self.written
                    .entry(format!("{id}:{status}:{at}"))
                    .or_insert_with(Instant::now);
            }
        }
        let shard = (hash(key) % self.stream.shards() as u64) as usize;
        self.stream.push(shard, record);
    }

    /// Runs one JSON 1.0 operation.
    pub fn call(&mut self, op: &str, body: &Value) -> Result<String, Error> {
        let text = |v: Result<Value, Error>| v.map(|v| v.to_string());
        match op {
            "GetItem" => text(self.get_item(body)),
            "BatchGetItem" => text(self.batch_get_item(body)),
            "PutItem" => text(self.put_item(body)),
            "UpdateItem" => text(self.update_item(body)),
            "DeleteItem" => text(self.delete_item(body)),
            "TransactWriteItems" => text(self.transact_write_items(body)),
            "Scan" => self.scan(body),
            "Query" => self.query(body),
            other => Err(Error {
                code: "UnknownOperationException",
                message: format!("the fleet simulator does not simulate DynamoDB {other}"),
                reasons: None,
            }),
        }
    }

    fn get_item(&mut self, body: &Value) -> Result<Value, Error> {
        self.check_table(body)?;
        let key = self.key_of(&item_from_json(&body["Key"])?, true)?;
        let consistent = body["ConsistentRead"].as_bool().unwrap_or(false);
        let (out, size) = match self.get(&key) {
            Some(s) => (json!({"Item": self.render(s)}), s.size),
            None => (json!({}), 0),
        };
        let u = self.count("GetItem");
        u.requests += 1;
        u.rru_halves += read_halves(size, consistent);
        Ok(out)
    }

    fn batch_get_item(&mut self, body: &Value) -> Result<Value, Error> {
        let requests = body["RequestItems"]
            .as_object()
            .ok_or_else(|| invalid("no RequestItems".to_owned()))?;
        let mut responses = Map::new();
        let mut halves = 0;
        let mut total = 0;
        for (table, spec) in requests {
            if table != &self.spec.name {
                return Err(Error {
                    code: "ResourceNotFoundException",
                    message: format!("Requested resource not found: {table}"),
                    reasons: None,
                });
            }
            let consistent = spec["ConsistentRead"].as_bool().unwrap_or(false);
            let keys = spec["Keys"]
                .as_array()
                .ok_or_else(|| invalid("no Keys".to_owned()))?;
            total += keys.len();
            let mut items = Vec::new();
            for k in keys {
                let key = self.key_of(&item_from_json(k)?, true)?;
                match self.get(&key) {
                    Some(s) => {
                        halves += read_halves(s.size, consistent);
                        items.push(self.render(s));
                    }
                    None => halves += read_halves(0, consistent),
                }
            }
            responses.insert(table.clone(), Value::Array(items));
        }
        if total > 100 {
            return Err(invalid(
                "Too many items requested for the BatchGetItem call".to_owned(),
            ));
        }
        let u = self.count("BatchGetItem");
        u.requests += 1;
        u.rru_halves += halves;
        Ok(json!({"Responses": responses, "UnprocessedKeys": {}}))
    }

    /// Checks a condition on the item at `key` (empty if there is none).
    fn holds(
        &mut self,
        condition: Option<&str>,
        key: &str,
        scope: &Scope<'_>,
    ) -> Result<bool, Error> {
        let Some(text) = condition else {
            return Ok(true);
        };
        let parsed = self.condition(text)?;
        let empty = Item::new();
        let item = self.get(key).map_or(&empty, |s| &s.item);
        scope.holds(&parsed.0, item)
    }

    fn used(&mut self, condition: Option<&str>) -> Result<Option<Arc<(Cond, Used)>>, Error> {
        condition.map(|c| self.condition(c)).transpose()
    }

    /// A Put: the new item, checked.
    fn prepare_put(&mut self, body: &Value, transactional: bool) -> Result<(String, Item), Error> {
        self.check_table(body)?;
        let item = item_from_json(&body["Item"])?;
        let key = self.key_of(&item, false)?;
        let names = names_of(body)?;
        let values = values_of(body)?;
        let cond = self.used(text(body, "ConditionExpression"))?;
        let used: Vec<&Used> = cond.iter().map(|c| &c.1).collect();
        expression::check_placeholders(&used, &names, &values)?;
        self.check_indexes(&item, &key)?;
        if item_size(&item) > 400 * KB {
            return Err(invalid(
                "Item size has exceeded the maximum allowed size".to_owned(),
            ));
        }
        let _ = transactional;
        Ok((key, item))
    }

    fn stamps_of_item(&self, item: &Item) -> Vec<String> {
        self.spec
            .virtual_times
            .iter()
            .filter(|a| item.contains_key(*a))
            .cloned()
            .collect()
    }

    fn put_item(&mut self, body: &Value) -> Result<Value, Error> {
        let (key, item) = self.prepare_put(body, false)?;
        let names = names_of(body)?;
        let values = values_of(body)?;
        let scope = Scope {
            names: &names,
            values: &values,
        };
        let old_size = self.get(&key).map_or(0, |s| s.size);
        let ok = self.holds(text(body, "ConditionExpression"), &key, &scope)?;
        let wru = write_units(old_size.max(if ok { item_size(&item) } else { 0 }));
        let u = self.count("PutItem");
        u.requests += 1;
        u.wru += wru;
        if !ok {
            return Err(condition_failed());
        }
        let stamps = self.stamps_of_item(&item);
        let index = self.apply(vec![Write {
            key,
            after: Some(item),
            stamps,
        }]);
        let u = self.count("PutItem");
        u.wru += index;
        u.index_wru += index;
        Ok(json!({}))
    }

    /// An Update: the item after it (and the attributes it stamps), checked, not applied.
    fn prepare_update(
        &mut self,
        body: &Value,
        key: &str,
        scope: &Scope<'_>,
        used: &mut Vec<Arc<(Update, Used)>>,
    ) -> Result<(Item, Vec<String>), Error> {
        let text_of = text(body, "UpdateExpression")
            .ok_or_else(|| invalid("no UpdateExpression".to_owned()))?;
        let parsed = self.update(text_of)?;
        let empty = Item::new();
        let before = self.get(key).map_or(&empty, |s| &s.item);
        let mut after = before.clone();
        after.insert(self.spec.key.clone(), Av::S(key.to_owned()));
        let mut touched = std::collections::BTreeSet::new();
        let mut stamps = Vec::new();
        for (name, value) in &parsed.0.set {
            let attr = scope.name(name)?.to_owned();
            if attr == self.spec.key {
                return Err(invalid(format!(
                    "One or more parameter values were invalid: Cannot update attribute {attr}. This attribute is part of the key"
                )));
            }
            if !touched.insert(attr.clone()) {
                return Err(invalid(format!(
                    "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [{attr}], path two: [{attr}]"
                )));
            }
            match scope.eval(value, before)? {
                Some(v) => {
                    if self.spec.virtual_times.contains(&attr) {
                        stamps.push(attr.clone());
                    }
                    after.insert(attr, v);
                }
                None => {
                    return Err(invalid(
                        "The provided expression refers to an attribute that does not exist in the item".to_owned(),
                    ));
                }
            }
        }
        for name in &parsed.0.remove {
            let attr = scope.name(name)?.to_owned();
            if attr == self.spec.key {
                return Err(invalid(format!(
                    "Cannot update attribute {attr}. This attribute is part of the key"
                )));
            }
            if !touched.insert(attr.clone()) {
                return Err(invalid(format!(
                    "Invalid UpdateExpression: Two document paths overlap with each other; path: [{attr}]"
                )));
            }
            after.remove(&attr);
        }
        self.check_indexes(&after, key)?;
        if item_size(&after) > 400 * KB {
            return Err(invalid(
                "Item size has exceeded the maximum allowed size".to_owned(),
            ));
        }
        used.push(parsed);
        Ok((after, stamps))
    }

    fn update_item(&mut self, body: &Value) -> Result<Value, Error> {
        self.check_table(body)?;
        let key = self.key_of(&item_from_json(&body["Key"])?, true)?;
        let names = names_of(body)?;
        let values = values_of(body)?;
        let scope = Scope {
            names: &names,
            values: &values,
        };
        let cond = self.used(text(body, "ConditionExpression"))?;
        let mut updates = Vec::new();
        let (after, stamps) = self.prepare_update(body, &key, &scope, &mut updates)?;
        let mut used: Vec<&Used> = cond.iter().map(|c| &c.1).collect();
        used.extend(updates.iter().map(|u| &u.1));
        expression::check_placeholders(&used, &names, &values)?;
        let old_size = self.get(&key).map_or(0, |s| s.size);
        let ok = self.holds(text(body, "ConditionExpression"), &key, &scope)?;
        let wru = write_units(old_size.max(if ok { item_size(&after) } else { 0 }));
        let u = self.count("UpdateItem");
        u.requests += 1;
        u.wru += wru;
        if !ok {
            return Err(condition_failed());
        }
        let returns = text(body, "ReturnValues").unwrap_or("NONE");
        let index = self.apply(vec![Write {
            key: key.clone(),
            after: Some(after),
            stamps,
        }]);
        let u = self.count("UpdateItem");
        u.wru += index;
        u.index_wru += index;
        match returns {
            "ALL_NEW" => {
                let stored = self.get(&key).expect("just written");
                Ok(json!({"Attributes": self.render(stored)}))
            }
            "NONE" => Ok(json!({})),
            other => Err(invalid(format!(
                "ReturnValues {other} is not simulated (the store asks for ALL_NEW or nothing)"
            ))),
        }
    }

    fn delete_item(&mut self, body: &Value) -> Result<Value, Error> {
        self.check_table(body)?;
        let key = self.key_of(&item_from_json(&body["Key"])?, true)?;
        let names = names_of(body)?;
        let values = values_of(body)?;
        let cond = self.used(text(body, "ConditionExpression"))?;
        let used: Vec<&Used> = cond.iter().map(|c| &c.1).collect();
        expression::check_placeholders(&used, &names, &values)?;
        let scope = Scope {
            names: &names,
            values: &values,
        };
        let old_size = self.get(&key).map_or(0, |s| s.size);
        let ok = self.holds(text(body, "ConditionExpression"), &key, &scope)?;
        let u = self.count("DeleteItem");
        u.requests += 1;
        u.wru += write_units(old_size);
        if !ok {
            return Err(condition_failed());
        }
        let index = self.apply(vec![Write {
            key,
            after: None,
            stamps: Vec::new(),
        }]);
        let u = self.count("DeleteItem");
        u.wru += index;
        u.index_wru += index;
        Ok(json!({}))
    }

    fn transact_write_items(&mut self, body: &Value) -> Result<Value, Error> {
        let actions = body["TransactItems"]
            .as_array()
            .ok_or_else(|| invalid("no TransactItems".to_owned()))?;
        if actions.is_empty() || actions.len() > 100 {
            return Err(invalid(format!(
                "Member must have length between 1 and 100: {} items",
                actions.len()
            )));
        }
        // Each action: its kind, body, key, and the item after it (None for a ConditionCheck).
        let mut planned: Vec<Planned> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for a in actions {
            let obj = a
                .as_object()
                .filter(|o| o.len() == 1)
                .ok_or_else(|| invalid(format!("bad TransactItem {a}")))?;
            let (kind, inner) = obj.iter().next().expect("one entry");
            let names = names_of(inner)?;
            let values = values_of(inner)?;
            let scope = Scope {
                names: &names,
                values: &values,
            };
            let cond = self.used(text(inner, "ConditionExpression"))?;
            let mut updates = Vec::new();
            let (key, after, stamps) = match kind.as_str() {
                "Put" => {
                    let (key, item) = self.prepare_put(inner, true)?;
                    let stamps = self.stamps_of_item(&item);
                    (key, Some(Some(item)), stamps)
                }
                "Update" => {
                    self.check_table(inner)?;
                    let key = self.key_of(&item_from_json(&inner["Key"])?, true)?;
                    let (after, stamps) = self.prepare_update(inner, &key, &scope, &mut updates)?;
                    (key, Some(Some(after)), stamps)
                }
                "Delete" => {
                    self.check_table(inner)?;
                    let key = self.key_of(&item_from_json(&inner["Key"])?, true)?;
                    (key, Some(None), Vec::new())
                }
                "ConditionCheck" => {
                    self.check_table(inner)?;
                    if cond.is_none() {
                        return Err(invalid(
                            "A ConditionCheck needs a ConditionExpression".to_owned(),
                        ));
                    }
                    let key = self.key_of(&item_from_json(&inner["Key"])?, true)?;
                    (key, None, Vec::new())
                }
                other => return Err(invalid(format!("bad TransactItem kind {other}"))),
            };
            let mut used: Vec<&Used> = cond.iter().map(|c| &c.1).collect();
            used.extend(updates.iter().map(|u| &u.1));
            expression::check_placeholders(&used, &names, &values)?;
            if !seen.insert(key.clone()) {
                return Err(invalid(
                    "Transaction request cannot include multiple operations on one item".to_owned(),
                ));
            }
            planned.push(Planned {
                kind: kind.as_str(),
                body: inner,
                key,
                after,
                stamps,
            });
        }
        let mut reasons = Vec::new();
        let mut wru = 0;
        let mut halves = 0;
        for Planned {
            kind,
            body: inner,
            key,
            after,
            ..
        } in &planned
        {
            let names = names_of(inner)?;
            let values = values_of(inner)?;
            let scope = Scope {
                names: &names,
                values: &values,
            };
            let ok = self.holds(text(inner, "ConditionExpression"), key, &scope)?;
            reasons.push((!ok).then_some(CONDITION_FAILED));
            let old_size = self.get(key).map_or(0, |s| s.size);
            if *kind == "ConditionCheck" {
                halves += read_halves(old_size, true) * 2;
            } else {
                let new_size = after.as_ref().and_then(|a| a.as_ref()).map_or(0, item_size);
                wru += 2 * write_units(old_size.max(new_size));
            }
        }
        let u = self.count("TransactWriteItems");
        u.requests += 1;
        u.wru += wru;
        u.rru_halves += halves;
        if reasons.iter().any(Option::is_some) {
            let listed: Vec<&str> = reasons.iter().map(|r| r.unwrap_or("None")).collect();
            return Err(Error {
                code: "TransactionCanceledException",
                message: format!(
                    "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                    listed.join(", ")
                ),
                reasons: Some(reasons),
            });
        }
        let writes = planned
            .into_iter()
            .filter_map(|p| {
                p.after.map(|after| Write {
                    key: p.key,
                    after,
                    stamps: p.stamps,
                })
            })
            .collect();
        let index = self.apply(writes);
        let u = self.count("TransactWriteItems");
        u.wru += index;
        u.index_wru += index;
        Ok(json!({}))
    }

    fn filter(&mut self, body: &Value, extra: &[&Used]) -> Result<Filter, Error> {
        let names = names_of(body)?;
        let values = values_of(body)?;
        let filter = self.used(text(body, "FilterExpression"))?;
        let mut used: Vec<&Used> = extra.to_vec();
        used.extend(filter.iter().map(|f| &f.1));
        expression::check_placeholders(&used, &names, &values)?;
        Ok((filter, names, values))
    }

    fn limit(body: &Value) -> Result<Option<usize>, Error> {
        match body.get("Limit") {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if n >= 1 => Ok(Some(n as usize)),
                _ => Err(invalid(format!("Limit must be at least 1: {v}"))),
            },
        }
    }

    /// The page a Scan or Query returns from the candidates in order: at most `limit` read
    /// (and 1 MB), filtered, with LastEvaluatedKey where it stopped early.
    #[allow(clippy::too_many_arguments)]
    fn page(
        &mut self,
        op: &'static str,
        slots: Vec<(u64, String)>,
        more: bool,
        limit: Option<usize>,
        filter: Option<Arc<(Cond, Used)>>,
        names: &BTreeMap<String, String>,
        values: &BTreeMap<String, Av>,
        consistent: bool,
        last_key: impl Fn(&Table, &Stored, &str) -> Value,
    ) -> Result<String, Error> {
        let scope = Scope { names, values };
        let wall_now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut items = String::with_capacity(64 * KB);
        let mut count = 0;
        let mut scanned = 0;
        let mut bytes = 0;
        let mut last = None;
        let n = slots.len();
        for (i, slot) in slots.into_iter().enumerate() {
            let stored = self.items.get(&slot).expect("indexed items exist");
            scanned += 1;
            bytes += stored.size;
            let keep = match &filter {
                Some(f) => scope.holds(&f.0, &stored.item)?,
                None => true,
            };
            if keep {
                if count > 0 {
                    items.push(',');
                }
                self.render_text(stored, &mut items, wall_now);
                count += 1;
            }
            let at_limit = limit.is_some_and(|l| scanned >= l);
            let at_size = bytes >= 1024 * KB;
            if at_limit || at_size {
                if more || i + 1 < n || at_limit {
                    last = Some(last_key(self, stored, &slot.1));
                }
                break;
            }
        }
        let u = self.count(op);
        u.requests += 1;
        u.rru_halves += read_halves(bytes, consistent);
        let mut out = format!("{{\"Items\":[{items}],\"Count\":{count},\"ScannedCount\":{scanned}");
        if let Some(k) = last {
            out.push_str(",\"LastEvaluatedKey\":");
            out.push_str(&k.to_string());
        }
        out.push('}');
        Ok(out)
    }

    fn scan(&mut self, body: &Value) -> Result<String, Error> {
        self.check_table(body)?;
        if body.get("IndexName").is_some_and(|v| !v.is_null()) {
            return Err(invalid("Scan of an index is not simulated".to_owned()));
        }
        let (filter, names, values) = self.filter(body, &[])?;
        let limit = Table::limit(body)?;
        let consistent = body["ConsistentRead"].as_bool().unwrap_or(false);
        let start = match body.get("ExclusiveStartKey") {
            None | Some(Value::Null) => Bound::Unbounded,
            Some(k) => {
                let key = self.key_of(&item_from_json(k)?, true)?;
                Bound::Excluded((hash(&key), key))
            }
        };
        // Enough candidates for the page (the 1 MB cap ends it earlier).
        let take = limit.unwrap_or(usize::MAX);
        let mut slots: Vec<(u64, String)> = Vec::new();
        let mut bytes = 0;
        let mut more = false;
        for (slot, stored) in self.items.range((start, Bound::Unbounded)) {
            if slots.len() >= take || bytes >= 1024 * KB {
                more = true;
                break;
            }
            bytes += stored.size;
            slots.push(slot.clone());
        }
        let key_attr = self.spec.key.clone();
        self.page(
            "Scan",
            slots,
            more,
            limit,
            filter,
            &names,
            &values,
            consistent,
            move |_, _, key| json!({ key_attr.clone(): {"S": key} }),
        )
    }

    fn query(&mut self, body: &Value) -> Result<String, Error> {
        self.check_table(body)?;
        let key_text = text(body, "KeyConditionExpression")
            .ok_or_else(|| invalid("no KeyConditionExpression".to_owned()))?;
        let key_cond = self.condition(key_text)?;
        let (filter, names, values) = self.filter(body, &[&key_cond.1])?;
        let limit = Table::limit(body)?;
        let forward = body["ScanIndexForward"].as_bool().unwrap_or(true);
        let index = match text(body, "IndexName") {
            None => None,
            Some(name) => Some(
                self.spec
                    .indexes
                    .iter()
                    .position(|i| i.name == name)
                    .ok_or_else(|| {
                        invalid(format!(
                            "The table does not have the specified index: {name}"
                        ))
                    })?,
            ),
        };
        let consistent = body["ConsistentRead"].as_bool().unwrap_or(false);
        if consistent && index.is_some() {
            return Err(invalid(
                "Consistent reads are not supported on global secondary indexes".to_owned(),
            ));
        }
        let scope = Scope {
            names: &names,
            values: &values,
        };
        // The key condition: `partition = :v`, optionally `AND <sort condition>`.
        let (partition_cond, sort_cond) = match &key_cond.0 {
            Cond::And(a, b) => (&**a, Some(&**b)),
            c => (c, None),
        };
        let Cond::Compare(expression::Operand::Path(pname), expression::Cmp::Eq, pvalue) =
            partition_cond
        else {
            return Err(invalid(
                "Query key condition not supported: the partition key needs `=`".to_owned(),
            ));
        };
        let pattr = scope.name(pname)?.to_owned();
        let pvalue = scope
            .eval(pvalue, &Item::new())?
            .ok_or_else(|| invalid("no partition value".to_owned()))?;
        let mut slots: Vec<(u64, String)> = Vec::new();
        let mut more = false;
        match index {
            None => {
                if pattr != self.spec.key {
                    return Err(invalid(
                        "Query condition missed key schema element".to_owned(),
                    ));
                }
                if let Av::S(k) = &pvalue
                    && self.get(k).is_some()
                {
                    slots.push((hash(k), k.clone()));
                }
            }
            Some(i) => {
                let spec = self.spec.indexes[i].clone();
                if pattr != spec.partition.0 {
                    return Err(invalid(format!(
                        "Query condition missed key schema element: {}",
                        spec.partition.0
                    )));
                }
                let part = match (&pvalue, spec.partition.1.as_str()) {
                    (Av::S(s), "S") => Part::S(s.clone()),
                    (Av::N(n), "N") => Part::N(expression::number(n)),
                    _ => return Err(invalid("Query key type mismatch".to_owned())),
                };
                let start: Bound<IndexKey> = match body.get("ExclusiveStartKey") {
                    None | Some(Value::Null) => {
                        Bound::Included((part.clone(), None, String::new()))
                    }
                    Some(k) => {
                        let k = item_from_json(k)?;
                        let key = self.key_of(&k, false)?;
                        let ik = self.index_key(i, &k, &key)?.ok_or_else(|| {
                            invalid("The provided starting key is invalid".to_owned())
                        })?;
                        if ik.0 != part {
                            return Err(invalid(
                                "The provided starting key is invalid: partition mismatch"
                                    .to_owned(),
                            ));
                        }
                        Bound::Excluded(ik)
                    }
                };
                if !forward && matches!(start, Bound::Excluded(_)) {
                    return Err(invalid(
                        "paging a Query backwards is not simulated".to_owned(),
                    ));
                }
                let take = limit.unwrap_or(usize::MAX);
                let mut bytes = 0;
                let candidates: Box<dyn Iterator<Item = (&IndexKey, &(u64, String))>> = if forward {
                    Box::new(self.indexes[i].range((start, Bound::Unbounded)))
                } else {
                    Box::new(self.indexes[i].range(..).rev())
                };
                for (ik, slot) in candidates {
                    if ik.0 != part {
                        if forward {
                            break;
                        }
                        continue;
                    }
                    let stored = self.items.get(slot).expect("indexed items exist");
                    if let Some(sc) = sort_cond
                        && !scope.holds(sc, &stored.item)?
                    {
                        continue;
                    }
                    if slots.len() >= take || bytes >= 1024 * KB {
                        more = true;
                        break;
                    }
                    bytes += stored.size;
                    slots.push(slot.clone());
                }
                let key_attr = self.spec.key.clone();
                return self.page(
                    "Query",
                    slots,
                    more,
                    limit,
                    filter,
                    &names,
                    &values,
                    false,
                    move |_, stored, key| {
                        let mut k = Map::new();
                        k.insert(key_attr.clone(), json!({"S": key}));
                        for attr in std::iter::once(&spec.partition).chain(spec.sort.iter()) {
                            if let Some(v) = stored.item.get(&attr.0) {
                                k.insert(attr.0.clone(), v.to_json());
                            }
                        }
                        Value::Object(k)
                    },
                );
            }
        }
        let key_attr = self.spec.key.clone();
        self.page(
            "Query",
            slots,
            more,
            limit,
            filter,
            &names,
            &values,
            consistent,
            move |_, _, key| json!({ key_attr.clone(): {"S": key} }),
        )
    }
}

fn condition_failed() -> Error {
    Error {
        code: "ConditionalCheckFailedException",
        message: "The conditional request failed".to_owned(),
        reasons: None,
    }
}
