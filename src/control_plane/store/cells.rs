//! Cell counts: how many tenants each cell holds, raised in the transaction that writes a
//! new tenant (only while below capacity) and lowered when one reaches `deleted`.

use super::*;

/// What `kind` a cell's tenant count carries: `{tenantId: "cell#<name>", kind, tenants}`.
pub(super) const CELL_COUNT_KIND: &str = "cell-count";

/// The id prefix of cell counts.
pub const CELL_COUNT_PREFIX: &str = "cell#";

/// The cell a new tenant goes to, with the most it may hold: the tenant's write raises the
/// cell's count in the same transaction, only while it is below `capacity`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    pub cell: String,
    pub capacity: u32,
}

impl Store {
    /// The tenants counted in each of `cells` (a cell with no count yet holds none), read
    /// consistently.
    pub async fn cell_counts(&self, cells: &[&str]) -> Result<HashMap<String, u32>, Error> {
        let mut counts = HashMap::new();
        for chunk in cells.chunks(100) {
            let keys: Vec<Item> = chunk
                .iter()
                .map(|c| Self::key(&format!("{CELL_COUNT_PREFIX}{c}")))
                .collect();
            let mut request = Some(
                aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| Error::Aws {
                        operation: "BatchGetItem",
                        message: e.to_string(),
                    })?,
            );
            while let Some(keys) = request.take() {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, keys)
                    .send()
                    .await
                    .map_err(aws("BatchGetItem"))?;
                for item in out
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default()
                {
                    let id = item.get("tenantId").and_then(|v| v.as_s().ok());
                    let n = item.get("tenants").and_then(|v| v.as_n().ok());
                    if let (Some(id), Some(n)) = (id, n) {
                        let cell = id.trim_start_matches(CELL_COUNT_PREFIX).to_owned();
                        let n = n
                            .parse()
                            .map_err(|_| Error::Corrupt(id.clone(), format!("tenants is {n:?}")))?;
                        counts.insert(cell, n);
                    }
                }
                request = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys().is_empty());
            }
        }
        Ok(counts)
    }

    /// The count update of a placement in `slot`: one more tenant, while below capacity.
    pub(super) fn count_up(&self, slot: &Slot) -> Result<Update, Error> {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(&format!(
                "{CELL_COUNT_PREFIX}{}",
                slot.cell
            ))))
            .update_expression("SET tenants = if_not_exists(tenants, :zero) + :one, kind = :kind")
            .condition_expression("attribute_not_exists(tenants) OR tenants < :capacity")
            .expression_attribute_values(":zero", AttributeValue::N("0".to_owned()))
            .expression_attribute_values(":one", AttributeValue::N("1".to_owned()))
            .expression_attribute_values(":kind", AttributeValue::S(CELL_COUNT_KIND.to_owned()))
            .expression_attribute_values(":capacity", AttributeValue::N(slot.capacity.to_string()))
            .build()
            .map_err(|e| Error::Aws {
                operation: "TransactWriteItems",
                message: e.to_string(),
            })
    }

    /// The count update of a tenant leaving `cell` (when it reaches `deleted`).
    pub(super) fn count_down(&self, cell: &str) -> Result<Update, Error> {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(&format!("{CELL_COUNT_PREFIX}{cell}"))))
            .update_expression("SET tenants = if_not_exists(tenants, :one) - :one, kind = :kind")
            .expression_attribute_values(":one", AttributeValue::N("1".to_owned()))
            .expression_attribute_values(":kind", AttributeValue::S(CELL_COUNT_KIND.to_owned()))
            .build()
            .map_err(|e| Error::Aws {
                operation: "TransactWriteItems",
                message: e.to_string(),
            })
    }
}
