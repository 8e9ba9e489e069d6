//! The scheduled drift pass's place: `{tenantId: "drift-pass", kind, nextAt, cursor}`, one
//! item. `cursor` is where the pass resumes among the running tenants (the status index's
//! token); without it the pass is between rounds, and the next starts at `nextAt`.

use super::*;

const DRIFT_PASS_ID: &str = "drift-pass";
const DRIFT_PASS_KIND: &str = "drift-pass";

/// Where the scheduled drift pass stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriftPass {
    /// When the next round starts (a round in progress goes on regardless).
    pub next_at: Timestamp,
    /// Where the round in progress resumes.
    pub cursor: Option<String>,
}

impl Store {
    /// The pass's place, read consistently; None before the first pass.
    pub async fn drift_pass(&self) -> Result<Option<DriftPass>, Error> {
        let Some(item) = self.item(DRIFT_PASS_ID).await? else {
            return Ok(None);
        };
        let next_at = match item.get("nextAt") {
            Some(AttributeValue::N(n)) => n.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| {
            Error::Corrupt(
                DRIFT_PASS_ID.to_owned(),
                "nextAt is not a timestamp".to_owned(),
            )
        })?;
        let cursor = match item.get("cursor") {
            Some(AttributeValue::S(c)) => Some(c.clone()),
            _ => None,
        };
        Ok(Some(DriftPass { next_at, cursor }))
    }

    /// Records the pass's place.
    pub async fn set_drift_pass(&self, pass: &DriftPass) -> Result<(), Error> {
        let mut item = Self::key(DRIFT_PASS_ID);
        item.insert(
            "kind".to_owned(),
            AttributeValue::S(DRIFT_PASS_KIND.to_owned()),
        );
        item.insert(
            "nextAt".to_owned(),
            AttributeValue::N(pass.next_at.to_string()),
        );
        if let Some(cursor) = &pass.cursor {
            item.insert("cursor".to_owned(), AttributeValue::S(cursor.clone()));
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(aws("PutItem"))?;
        Ok(())
    }
}
