//! The tenants table on DynamoDB. A tenant and its name lock are written in one transaction, so
//! names are unique without a query-then-put race. Every status change is a conditional update
//! that names the expected current status.
//!
//! Name locks (DESIGN.md section 10, "Name uniqueness"). A lock item is
//! `{tenantId: <lock id>, kind: "name-lock", owner: <tenant id>}`, and a tenant records the id
//! of its lock as `nameLock`. Since Unicode names the id is `namekey#<sha256 of the name key>`
//! ([`name::lock_id`]). Tenants recorded before hold `name#<tenantSafeName>` and have no
//! `nameLock`; they keep that lock:
//! - `mark_deleted` frees `nameLock`, or `name#<tenantSafeName>` on a record without one;
//! - `create` also checks that the legacy lock a tenant with the same key would hold
//!   ([`name::legacy_lock_id`]) is absent, so a new name cannot slip past an old tenant;
//! - the two prefixes never meet, so a new lock never lands on a legacy one.
//!
//! Idempotency records ([`super::idempotency`]). A store made with [`Store::claiming`] adds
//! its claim, a Put of the record, to the first write it makes (`create`, `transition_if` or
//! `mark_deleted`), in the same transaction.
//!
//! Writes that land twice. A conditional write whose answer is lost (the connection drops
//! after DynamoDB applied it) is sent again by the SDK's retry, and the second attempt meets
//! the first one's effect: its condition fails. Every write to a tenant therefore carries a
//! fresh marker, `writeId`, and asks for the item as it stood when the condition failed
//! (ReturnValuesOnConditionCheckFailure = ALL_OLD). A failed condition on an item that holds
//! this write's own marker is the write having landed, and counts as its success
//! ([`Write::landed`]). A transaction also sends the marker as its ClientRequestToken, which
//! DynamoDB honours for ten minutes.
//!
//! Listing, page by page ([`Store::page`], [`Store::by_status`]). Every tenant comes from a
//! Scan that filters out lock items and idempotency records (they carry `kind`); a listing by
//! status is a Query of the index [`STATUS_INDEX`], which holds tenants only (the others have
//! no `status`). A page resumes after the tenant it ended with, through an opaque, validated
//! token ([`token`]). A tenant present for the whole listing is on exactly one page; one
//! written meanwhile may or may not be. [`Store::list`] reads everything, for callers that
//! truly need everything; nothing on a request path calls it.

mod cells;
mod claims;
mod codec;
mod drift_pass;
mod listing;
mod token;

pub use cells::{CELL_COUNT_PREFIX, Slot};
pub use claims::ClaimState;
pub use codec::from_image;
use codec::{LockItem, RecordItem, encode, from_item, to_item};
pub use listing::{MAX_PAGE, Page, STATUS_INDEX};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::builders::TransactWriteItemsFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use serde::{Deserialize, Serialize};

use super::idempotency::{self, Claim, RECORD_KIND, RECORD_PREFIX};
use super::tenant::name::{self, LEGACY_LOCK_PREFIX, LOCK_PREFIX};
use super::tenant::{Identity, Status, Tenant, Timestamp};

type Item = HashMap<String, AttributeValue>;
type TransactError = SdkError<TransactWriteItemsError, HttpResponse>;

/// The attribute names of the tenants table's items, for code that reads an item or a stream
/// image without [`from_image`] (a lock item or an idempotency record is no tenant). The
/// tenant record's are [`TenantItem`]'s (a test holds them equal).
pub mod attribute {
    pub const TENANT_ID: &str = "tenantId";
    pub const TENANT_NAME: &str = "tenantName";
    pub const STATUS: &str = "status";
    pub const STATUS_REASON: &str = "statusReason";
    pub const STACK_ID: &str = "stackId";
    pub const ENDPOINT: &str = "endpoint";
    /// What lock items, idempotency records and cell counts carry; tenants never do.
    pub const KIND: &str = "kind";
    pub const WRITE_ID: &str = "writeId";
    /// The `writeId` of the write that recorded the last drift result: the stream's image of
    /// that write (and only of it) has the two equal, which is when `Tenant Drifted` can be
    /// published.
    pub const DRIFT_WRITE: &str = "driftWrite";
    /// The id of the drift detection in flight (also in `drift.detection`), which drift
    /// writes are conditional on.
    pub const DRIFT_DETECTION: &str = "driftDetection";
    /// The `writeId` of the health write that changed the tenant's health (its status, or
    /// the alarms firing): as [`DRIFT_WRITE`], for `Tenant Health Changed`.
    pub const HEALTH_WRITE: &str = "healthWrite";
    /// The `writeId` of the last health write (also `health.revision`), which the next one
    /// is conditional on.
    pub const HEALTH_REVISION: &str = "healthRevision";
}

pub use drift_pass::DriftPass;
pub use token::after as token_after;

/// What `kind` lock items carry. Tenant items have no `kind`, and tenant ids are UUIDs, so they
/// never collide with a lock prefix.
const LOCK_KIND: &str = "name-lock";

/// The lock that held a name another tenant asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Held {
    /// A tenant's name has the same key.
    Key(String),
    /// A tenant recorded before Unicode names holds this safe name.
    Legacy(String),
}

impl std::fmt::Display for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Held::Key(key) => write!(f, "another tenant's name has the same key {key:?}"),
            Held::Legacy(safe) => write!(
                f,
                "a tenant recorded before Unicode names holds the safe name {safe:?}"
            ),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("tenantName {name:?} is taken: {held}")]
    NameTaken { name: String, held: Held },
    #[error("tenant {id} is not {expected}")]
    WrongStatus { id: String, expected: Status },
    #[error("tenant {0} has an unreadable record: {1}")]
    Corrupt(String, String),
    #[error("tenant {0} cannot be written as an item: {1}")]
    Unwritable(String, String),
    #[error("another request with this Idempotency-Key was written first")]
    KeyClaimed,
    #[error("cell {0} filled up first")]
    CellFull(String),
    #[error("nextToken is not valid here: {0}")]
    InvalidNextToken(String),
    #[error("DynamoDB {operation} failed: {message}")]
    Aws {
        operation: &'static str,
        message: String,
    },
}

fn aws<E, R>(operation: &'static str) -> impl FnOnce(SdkError<E, R>) -> Error
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug + 'static,
{
    move |e| Error::Aws {
        operation,
        message: crate::aws::sdk_message(&e),
    }
}

/// The attribute that holds the marker of the last write to a tenant ([`Write`]).
const WRITE_ID: &str = "writeId";

/// The marker of one write to a tenant: a fresh id, written with it, by which a retry of the
/// write that meets its own effect knows it (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Write(String);

impl Write {
    fn new() -> Write {
        Write(uuid::Uuid::new_v4().to_string())
    }

    fn value(&self) -> AttributeValue {
        AttributeValue::S(self.0.clone())
    }

    /// Whether `item`, the item as a failed condition found it, is this write's own effect.
    fn landed(&self, item: Option<&Item>) -> bool {
        item.and_then(|i| i.get(WRITE_ID))
            .and_then(|v| v.as_s().ok())
            .is_some_and(|w| *w == self.0)
    }

    /// Whether a transaction was cancelled because its item `index` already holds this write:
    /// an earlier attempt of the same transaction was applied.
    fn landed_in(&self, e: &TransactError, index: usize) -> bool {
        let Some(TransactWriteItemsError::TransactionCanceledException(c)) = e.as_service_error()
        else {
            return false;
        };
        self.landed(c.cancellation_reasons().get(index).and_then(|r| r.item()))
    }
}

/// What a transition writes besides the status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub stack_name: Option<String>,
    pub stack_id: Option<String>,
    /// `Some(None)` clears the reason.
    pub status_reason: Option<Option<String>>,
    /// Counts a new provisioning or update attempt.
    pub new_attempt: bool,
    /// `Some(None)` clears the field; likewise below.
    pub version: Option<Option<String>>,
    pub target_version: Option<Option<String>>,
    pub change_set: Option<Option<String>>,
    /// A tier move's outcome: the tenant's new deployment type.
    pub deployment_type: Option<String>,
    pub target_deployment_type: Option<Option<String>>,
}

#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: String,
    page_size: Option<i32>,
    /// The claim of a keyed request, shared by the clones the request's work makes.
    claim: Option<Arc<Mutex<ClaimState>>>,
}

impl Store {
    pub fn new(client: Client, table: &str) -> Store {
        Store {
            client,
            table: table.to_owned(),
            page_size: None,
            claim: None,
        }
    }

    /// The item `id`, read consistently.
    async fn item(&self, id: &str) -> Result<Option<Item>, Error> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(aws("GetItem"))?;
        Ok(out.item)
    }

    /// Caps the items per Scan page (to exercise pagination).
    pub fn with_page_size(mut self, n: i32) -> Store {
        self.page_size = Some(n);
        self
    }

    fn key(id: &str) -> Item {
        HashMap::from([("tenantId".to_owned(), AttributeValue::S(id.to_owned()))])
    }

    /// Writes a new tenant and its name lock in one transaction, checking that no tenant
    /// recorded before Unicode names holds the name (see the module docs). Fails with
    /// `NameTaken` if either is held, and writes nothing then. The tenant is counted in no
    /// cell: onboarding uses [`create_in`](Self::create_in).
    pub async fn create(&self, tenant: &Tenant) -> Result<(), Error> {
        self.create_in(tenant, None).await
    }

    /// As [`create`](Self::create), placing the tenant in `slot`'s cell: the cell's count goes
    /// up in the same transaction, only while it is below the slot's capacity, so concurrent
    /// onboardings never overfill a cell. A full cell is `CellFull`, and nothing is written.
    pub async fn create_in(&self, tenant: &Tenant, slot: Option<&Slot>) -> Result<(), Error> {
        let write = Write::new();
        let key = name::key(&tenant.tenant_name);
        let legacy = name::legacy_lock_id(&key);
        let transaction = self.create_transaction(tenant, &key, legacy.as_deref(), slot, &write)?;
        let count_index = 2 + usize::from(legacy.is_some());
        let claim_index = count_index + usize::from(slot.is_some());
        let result = self
            .send_claimed(transaction, &tenant.tenant_id, claim_index, &write)
            .await?;
        let Err(e) = result else {
            return Ok(());
        };
        Err(create_refused(e, tenant, key, legacy, slot, count_index))
    }

    /// The transaction of [`create_in`](Self::create_in), its items in this order: the
    /// tenant's record (carrying `write`), its name lock, the check that `legacy` is absent
    /// (if the name has a legacy lock id), and the count of `slot`'s cell (if given).
    fn create_transaction(
        &self,
        tenant: &Tenant,
        key: &str,
        legacy: Option<&str>,
        slot: Option<&Slot>,
        write: &Write,
    ) -> Result<TransactWriteItemsFluentBuilder, Error> {
        let lock_id = tenant
            .name_lock
            .clone()
            .unwrap_or_else(|| name::lock_id(key));
        let mut record = to_item(tenant)?;
        record.insert("nameLock".to_owned(), AttributeValue::S(lock_id.clone()));
        record.insert(WRITE_ID.to_owned(), write.value());
        let lock = encode(
            &tenant.tenant_id,
            &LockItem {
                tenant_id: &lock_id,
                kind: LOCK_KIND,
                owner: &tenant.tenant_id,
                name_key: key,
            },
        )?;
        let mut transaction = self
            .client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .put(self.put_new(record)?)
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .put(self.put_new(lock)?)
                    .build(),
            );
        if let Some(legacy) = legacy {
            let check = ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(Self::key(legacy)))
                .condition_expression("attribute_not_exists(tenantId)")
                .build()
                .map_err(transact_build_error)?;
            transaction = transaction
                .transact_items(TransactWriteItem::builder().condition_check(check).build());
        }
        if let Some(slot) = slot {
            transaction = transaction.transact_items(
                TransactWriteItem::builder()
                    .update(self.count_up(slot)?)
                    .build(),
            );
        }
        Ok(transaction)
    }

    /// The Put of a new `item`, only while no item has its id; a failed condition returns
    /// the item found.
    fn put_new(&self, item: Item) -> Result<Put, Error> {
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(tenantId)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(transact_build_error)
    }

    pub async fn get(&self, id: &str) -> Result<Option<Tenant>, Error> {
        if !is_tenant_id(id) {
            return Ok(None);
        }
        self.item(id)
            .await?
            .filter(|i| !i.contains_key("kind"))
            .map(|i| from_item(&i))
            .transpose()
    }

    /// Moves tenant `id` from `from` to `to`, if it is in `from`. Returns the updated tenant.
    pub async fn transition(
        &self,
        id: &str,
        from: Status,
        to: Status,
        changes: &Changes,
    ) -> Result<Tenant, Error> {
        self.transition_if(id, from, to, changes, None).await
    }

    /// As [`transition`](Self::transition), and only while the tenant's `targetVersion` is
    /// `target`: an update's outcome never lands on a later update of the same tenant.
    pub async fn transition_if(
        &self,
        id: &str,
        from: Status,
        to: Status,
        changes: &Changes,
        target: Option<&str>,
    ) -> Result<Tenant, Error> {
        let write = Write::new();
        let (expression, names, mut values) = update_expression(from, to, changes, &write);
        let condition = condition(from, target, &mut values);
        if self.pending_claim().is_some() {
            // With the claim: one transaction, then the tenant read back (a transaction
            // returns no values).
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(Self::key(id)))
                .update_expression(expression)
                .condition_expression(condition)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(|e| Error::Aws {
                    operation: "TransactWriteItems",
                    message: e.to_string(),
                })?;
            let transaction = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(update).build());
            let result = self.send_claimed(transaction, id, 1, &write).await?;
            return match result {
                Ok(_) => self
                    .get(id)
                    .await?
                    .ok_or_else(|| Error::Corrupt(id.to_owned(), "gone after its update".into())),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_transaction_canceled_exception()) =>
                {
                    Err(Error::WrongStatus {
                        id: id.to_owned(),
                        expected: from,
                    })
                }
                Err(e) => Err(aws("TransactWriteItems")(e)),
            };
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        updated(result, id, from, &write)
    }

    /// Records the change set of an update about to be executed, while the tenant is
    /// `updating` to `target`. Written before ExecuteChangeSet, so a completion event that
    /// beats the write back is never mistaken for a stale one.
    pub async fn record_change_set(
        &self,
        id: &str,
        target: &str,
        change_set: &str,
    ) -> Result<Tenant, Error> {
        self.set(id, "changeSet", change_set, Status::Updating, Some(target))
            .await
    }

    /// Records the stack id of a tenant still in `expected`.
    pub async fn record_stack(
        &self,
        id: &str,
        expected: Status,
        stack_id: &str,
    ) -> Result<Tenant, Error> {
        self.set(id, "stackId", stack_id, expected, None).await
    }

    /// Records a running tenant's front door and directory, and how its administrator's
    /// invitation went, leaving its status alone (`previousStatus` stays `running`, so no
    /// lifecycle event is published for it). A redelivered record writes the same again.
    pub async fn record_front_door(
        &self,
        id: &str,
        endpoint: &str,
        identity: Option<&Identity>,
        invite_error: Option<&str>,
    ) -> Result<Tenant, Error> {
        // `identity` is one of DynamoDB's reserved words: every name goes through `#` (each is
        // used, in SET or in REMOVE).
        let names = HashMap::from([
            ("#status".to_owned(), "status".to_owned()),
            ("#endpoint".to_owned(), "endpoint".to_owned()),
            ("#identity".to_owned(), "identity".to_owned()),
            ("#invite".to_owned(), "adminInviteError".to_owned()),
        ]);
        let write = Write::new();
        let mut values: Item = HashMap::from([
            (
                ":endpoint".to_owned(),
                AttributeValue::S(endpoint.to_owned()),
            ),
            (":writeId".to_owned(), write.value()),
        ]);
        let mut sets = vec![
            "#endpoint = :endpoint",
            "previousStatus = :expected",
            "writeId = :writeId",
        ];
        let mut removes = Vec::new();
        match identity {
            Some(identity) => {
                let value = serde_dynamo::to_attribute_value(identity)
                    .map_err(|e| Error::Unwritable(id.to_owned(), e.to_string()))?;
                values.insert(":identity".to_owned(), value);
                sets.push("#identity = :identity");
            }
            None => removes.push("#identity"),
        }
        match invite_error {
            Some(reason) => {
                values.insert(":invite".to_owned(), AttributeValue::S(reason.to_owned()));
                sets.push("#invite = :invite");
            }
            None => removes.push("#invite"),
        }
        let condition = condition(Status::Running, None, &mut values);
        let mut expression = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        self.update_one(
            id,
            expression,
            condition,
            names,
            values,
            Status::Running,
            &write,
        )
        .await
    }

    /// One conditional UpdateItem of tenant `id`, returning the tenant as it then stands
    /// ([`updated`]: a write that landed before its answer was lost counts as done).
    #[allow(clippy::too_many_arguments)]
    async fn update_one(
        &self,
        id: &str,
        expression: String,
        condition: String,
        names: HashMap<String, String>,
        values: Item,
        expected: Status,
        write: &Write,
    ) -> Result<Tenant, Error> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        updated(result, id, expected, write)
    }

    /// Records `drift` on tenant `id` while it is `status`, if the detection in flight is
    /// still `in_flight` (None: none is): of two writers racing on one detection, one wins and
    /// the other meets `WrongStatus`. Moves no status; a result write (`result`) is marked so
    /// the event publisher can tell it ([`attribute::DRIFT_WRITE`]).
    pub async fn set_drift(
        &self,
        id: &str,
        status: Status,
        drift: &super::tenant::Drift,
        in_flight: Option<&str>,
        result: bool,
    ) -> Result<Tenant, Error> {
        let names = HashMap::from([
            ("#status".to_owned(), "status".to_owned()),
            ("#drift".to_owned(), "drift".to_owned()),
        ]);
        let write = Write::new();
        let value = serde_dynamo::to_attribute_value(drift)
            .map_err(|e| Error::Unwritable(id.to_owned(), e.to_string()))?;
        let mut values: Item = HashMap::from([
            (":drift".to_owned(), value),
            (":writeId".to_owned(), write.value()),
        ]);
        // The detection in flight is also a top-level attribute, so the condition reads no
        // nested path (which need not exist).
        let mut condition = condition(status, None, &mut values);
        match in_flight {
            Some(detection) => {
                values.insert(
                    ":inFlight".to_owned(),
                    AttributeValue::S(detection.to_owned()),
                );
                condition.push_str(&format!(" AND {} = :inFlight", attribute::DRIFT_DETECTION));
            }
            None => condition.push_str(&format!(
                " AND attribute_not_exists({})",
                attribute::DRIFT_DETECTION
            )),
        }
        let mut expression =
            "SET #drift = :drift, previousStatus = :expected, writeId = :writeId".to_owned();
        if result {
            expression.push_str(&format!(", {} = :writeId", attribute::DRIFT_WRITE));
        }
        match drift.detection.as_ref() {
            Some(d) => {
                values.insert(":detection".to_owned(), AttributeValue::S(d.id.clone()));
                expression.push_str(&format!(", {} = :detection", attribute::DRIFT_DETECTION));
            }
            None => expression.push_str(&format!(" REMOVE {}", attribute::DRIFT_DETECTION)),
        }
        self.update_one(id, expression, condition, names, values, status, &write)
            .await
    }

    /// Records `health` on tenant `id` while it is `status`, if no health write came between
    /// (its last one was `revision`, or none was): of two alarm events racing on one tenant,
    /// one wins and the other meets `WrongStatus` and reads again. Moves no status; a write
    /// that changed the tenant's health (`changed`) is marked for the event publisher
    /// ([`attribute::HEALTH_WRITE`]). `health.revision` becomes this write's id.
    pub async fn set_health(
        &self,
        id: &str,
        status: Status,
        health: &super::tenant::Health,
        revision: Option<&str>,
        changed: bool,
    ) -> Result<Tenant, Error> {
        let names = HashMap::from([
            ("#status".to_owned(), "status".to_owned()),
            ("#health".to_owned(), "health".to_owned()),
        ]);
        let write = Write::new();
        let health = super::tenant::Health {
            revision: write.0.clone(),
            ..health.clone()
        };
        let value = serde_dynamo::to_attribute_value(&health)
            .map_err(|e| Error::Unwritable(id.to_owned(), e.to_string()))?;
        let mut values: Item = HashMap::from([
            (":health".to_owned(), value),
            (":writeId".to_owned(), write.value()),
        ]);
        let mut condition = condition(status, None, &mut values);
        match revision {
            Some(revision) => {
                values.insert(
                    ":revision".to_owned(),
                    AttributeValue::S(revision.to_owned()),
                );
                condition.push_str(&format!(" AND {} = :revision", attribute::HEALTH_REVISION));
            }
            None => condition.push_str(&format!(
                " AND attribute_not_exists({})",
                attribute::HEALTH_REVISION
            )),
        }
        let mut expression = format!(
            "SET #health = :health, {} = :writeId, previousStatus = :expected, writeId = :writeId",
            attribute::HEALTH_REVISION
        );
        if changed {
            expression.push_str(&format!(", {} = :writeId", attribute::HEALTH_WRITE));
        }
        self.update_one(id, expression, condition, names, values, status, &write)
            .await
    }

    /// Sets one string `field` of a tenant still in `expected` (and, if given, still updating
    /// to `target`), leaving its status alone. `previousStatus` becomes `expected` too, so the
    /// stream's image of this write says that no status changed, and publishes no event.
    async fn set(
        &self,
        id: &str,
        field: &str,
        value: &str,
        expected: Status,
        target: Option<&str>,
    ) -> Result<Tenant, Error> {
        let names = HashMap::from([
            ("#status".to_owned(), "status".to_owned()),
            ("#field".to_owned(), field.to_owned()),
        ]);
        let write = Write::new();
        let mut values: Item = HashMap::from([
            (":value".to_owned(), AttributeValue::S(value.to_owned())),
            (":writeId".to_owned(), write.value()),
        ]);
        let condition = condition(expected, target, &mut values);
        self.update_one(
            id,
            "SET #field = :value, previousStatus = :expected, writeId = :writeId".to_owned(),
            condition,
            names,
            values,
            expected,
            &write,
        )
        .await
    }

    /// Moves tenant `id` from `from` to `deleted` and frees its name, in one transaction: the
    /// lock its record names, or the legacy `name#<tenantSafeName>` of a record that names none.
    pub async fn mark_deleted(
        &self,
        tenant: &Tenant,
        from: Status,
        reason: Option<String>,
    ) -> Result<(), Error> {
        let changes = Changes {
            status_reason: Some(reason),
            ..Changes::default()
        };
        let write = Write::new();
        let (expression, names, mut values) =
            update_expression(from, Status::Deleted, &changes, &write);
        let condition = condition(from, None, &mut values);
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(&tenant.tenant_id)))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(transact_build_error)?;
        let lock_id = tenant
            .name_lock
            .clone()
            .unwrap_or_else(|| format!("{LEGACY_LOCK_PREFIX}{}", tenant.tenant_safe_name));
        let unlock = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(&lock_id)))
            .condition_expression("attribute_not_exists(tenantId) OR #owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", AttributeValue::S(tenant.tenant_id.clone()))
            .build()
            .map_err(transact_build_error)?;
        let mut transaction = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(TransactWriteItem::builder().delete(unlock).build());
        // Its cell has room for one more.
        if let Some(cell) = &tenant.cell {
            transaction = transaction.transact_items(
                TransactWriteItem::builder()
                    .update(self.count_down(cell)?)
                    .build(),
            );
        }
        let claim_index = 2 + usize::from(tenant.cell.is_some());
        let result = self
            .send_claimed(transaction, &tenant.tenant_id, claim_index, &write)
            .await?;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_transaction_canceled_exception()) =>
            {
                Err(Error::WrongStatus {
                    id: tenant.tenant_id.clone(),
                    expected: from,
                })
            }
            Err(e) => Err(aws("TransactWriteItems")(e)),
        }
    }
}

/// Whether `id` can name a tenant: lock items, idempotency records and cell counts have ids
/// under their own prefixes. (The emulator streams an update that creates an item as two
/// records, the first holding only the key: its id says what it is.)
pub fn is_tenant_id(id: &str) -> bool {
    ![
        LOCK_PREFIX,
        LEGACY_LOCK_PREFIX,
        RECORD_PREFIX,
        CELL_COUNT_PREFIX,
    ]
    .iter()
    .any(|p| id.starts_with(p))
}

/// A transaction item that could not be built.
fn transact_build_error(e: aws_sdk_dynamodb::error::BuildError) -> Error {
    Error::Aws {
        operation: "TransactWriteItems",
        message: e.to_string(),
    }
}

/// Why the transaction of [`Store::create_in`] for `tenant` was refused: `CellFull` if only the
/// count of `slot`'s cell (reason `count_index`) failed its condition, `NameTaken` otherwise,
/// naming the legacy lock if that is what held the name. Not a cancellation: the error as is.
fn create_refused(
    e: TransactError,
    tenant: &Tenant,
    key: String,
    legacy: Option<String>,
    slot: Option<&Slot>,
    count_index: usize,
) -> Error {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        e.as_service_error()
    else {
        return aws("TransactWriteItems")(e);
    };
    // The reasons come in the order of the items: the record, the lock, the legacy check,
    // the cell's count.
    let failed = |i: usize| {
        cancelled
            .cancellation_reasons()
            .get(i)
            .and_then(|r| r.code())
            == Some("ConditionalCheckFailed")
    };
    let legacy_held = legacy.is_some() && failed(2);
    if let Some(slot) = slot
        && failed(count_index)
        && !failed(1)
        && !legacy_held
    {
        return Error::CellFull(slot.cell.clone());
    }
    let held = match legacy {
        Some(legacy) if legacy_held => {
            Held::Legacy(legacy.trim_start_matches(LEGACY_LOCK_PREFIX).to_owned())
        }
        _ => Held::Key(key),
    };
    Error::NameTaken {
        name: tenant.tenant_name.clone(),
        held,
    }
}

/// The tenant a conditional UpdateItem returned, or `WrongStatus` if its condition on the
/// status failed. A condition that failed on the item `write` itself left (an earlier
/// attempt, answered into the void) is the update done, and that item is the tenant.
fn updated(
    result: Result<UpdateItemOutput, SdkError<UpdateItemError, HttpResponse>>,
    id: &str,
    expected: Status,
    write: &Write,
) -> Result<Tenant, Error> {
    match result {
        Ok(out) => from_item(&out.attributes.unwrap_or_default()),
        Err(e) => match e.as_service_error() {
            Some(UpdateItemError::ConditionalCheckFailedException(c)) => match c.item() {
                Some(item) if write.landed(Some(item)) => from_item(item),
                _ => Err(Error::WrongStatus {
                    id: id.to_owned(),
                    expected,
                }),
            },
            _ => Err(aws("UpdateItem")(e)),
        },
    }
}

/// The condition of every conditional write: the tenant is still `expected` and, for an
/// update's outcome, still updating to `target`. Its values go into `values`; it names
/// `#status`.
fn condition(expected: Status, target: Option<&str>, values: &mut Item) -> String {
    values.insert(
        ":expected".to_owned(),
        AttributeValue::S(expected.as_str().to_owned()),
    );
    match target {
        Some(target) => {
            values.insert(":target".to_owned(), AttributeValue::S(target.to_owned()));
            "#status = :expected AND targetVersion = :target".to_owned()
        }
        None => "#status = :expected".to_owned(),
    }
}

/// The update of a move from `from` to `to` with `changes`, its attribute names and values.
/// It records `from` as `previousStatus`, which the lifecycle events read from the stream's
/// new image.
fn update_expression(
    from: Status,
    to: Status,
    changes: &Changes,
    write: &Write,
) -> (String, HashMap<String, String>, Item) {
    let mut sets: Vec<String> = vec![
        "#status = :to".into(),
        "statusChangedAt = :now".into(),
        "previousStatus = :from".into(),
        format!("{WRITE_ID} = :writeId"),
    ];
    let mut removes = Vec::new();
    let names = HashMap::from([("#status".to_owned(), "status".to_owned())]);
    let mut values: Item = HashMap::from([
        (":to".to_owned(), AttributeValue::S(to.as_str().to_owned())),
        (
            ":from".to_owned(),
            AttributeValue::S(from.as_str().to_owned()),
        ),
        (
            ":now".to_owned(),
            AttributeValue::N(Timestamp::now().to_string()),
        ),
        (":writeId".to_owned(), write.value()),
    ]);
    if let Some(name) = &changes.stack_name {
        sets.push("stackName = :stackName".into());
        values.insert(":stackName".to_owned(), AttributeValue::S(name.clone()));
    }
    if let Some(id) = &changes.stack_id {
        sets.push("stackId = :stackId".into());
        values.insert(":stackId".to_owned(), AttributeValue::S(id.clone()));
    }
    if let Some(t) = &changes.deployment_type {
        sets.push("deploymentType = :deploymentType".into());
        values.insert(":deploymentType".to_owned(), AttributeValue::S(t.clone()));
    }
    if changes.new_attempt {
        sets.push("attempt = if_not_exists(attempt, :zero) + :one".into());
        values.insert(":zero".to_owned(), AttributeValue::N("0".to_owned()));
        values.insert(":one".to_owned(), AttributeValue::N("1".to_owned()));
    }
    for (field, placeholder, change) in [
        ("statusReason", ":reason", &changes.status_reason),
        ("version", ":version", &changes.version),
        ("targetVersion", ":targetVersion", &changes.target_version),
        ("changeSet", ":changeSet", &changes.change_set),
        (
            "targetDeploymentType",
            ":targetDeploymentType",
            &changes.target_deployment_type,
        ),
    ] {
        match change {
            Some(Some(value)) => {
                sets.push(format!("{field} = {placeholder}"));
                values.insert(placeholder.to_owned(), AttributeValue::S(value.clone()));
            }
            Some(None) => removes.push(field),
            None => {}
        }
    }
    let mut expression = format!("SET {}", sets.join(", "));
    if !removes.is_empty() {
        expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
    }
    (expression, names, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The attribute names other code reads by name are the record's, and so are those the
    /// declared stream filters test.
    #[test]
    fn the_attribute_names_read_by_name_are_the_items_own() {
        let mut t = Tenant::new(
            "00000000-0000-4000-8000-000000000001".to_owned(),
            super::super::tenant::TenantName::parse("Acme").unwrap(),
            "silo",
            Timestamp::now(),
        );
        t.stack_id = Some("s".to_owned());
        t.status_reason = Some("r".to_owned());
        t.target_version = Some("v".to_owned());
        t.change_set = Some("c".to_owned());
        t.endpoint = Some("https://e".to_owned());
        t.version = Some("v0".to_owned());
        t.target_deployment_type = Some("premium".to_owned());
        let item = to_item(&t).unwrap();
        // What an update expression sets by name.
        let changes = Changes {
            deployment_type: Some("premium".to_owned()),
            version: Some(None),
            target_version: Some(None),
            change_set: Some(None),
            target_deployment_type: Some(None),
            ..Changes::default()
        };
        let (expression, ..) =
            update_expression(Status::Running, Status::Updating, &changes, &Write::new());
        for name in [
            "deploymentType",
            "version",
            "targetVersion",
            "changeSet",
            "targetDeploymentType",
        ] {
            assert!(expression.contains(name), "{expression}");
            assert!(
                item.contains_key(name),
                "{name} is not an attribute: {item:?}"
            );
        }
        for name in [
            attribute::TENANT_ID,
            attribute::TENANT_NAME,
            attribute::STATUS,
            attribute::STATUS_REASON,
            attribute::STACK_ID,
            attribute::ENDPOINT,
        ] {
            assert!(
                item.contains_key(name),
                "{name} is not an attribute: {item:?}"
            );
        }
        for f in crate::functions::FUNCTIONS {
            for filter in f.stream_filters() {
                for (name, _) in filter.new_image {
                    assert!(
                        item.contains_key(*name) || *name == attribute::KIND,
                        "{}'s filter tests {name}, which no tenant item has",
                        f.id
                    );
                }
            }
        }
    }
}
