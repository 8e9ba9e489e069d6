//! Idempotency claims ([`super::super::idempotency`]): a keyed request's record rides on its
//! first write, in the same transaction, and its answer is recorded once.

use super::*;

/// Where a keyed request's claim stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimState {
    /// Nothing has been written yet.
    Pending(Claim),
    /// Written with the request's first write.
    Written,
    /// Another request with the key wrote its claim first; this one wrote nothing.
    Lost,
}

impl Store {
    /// A store whose first write also writes `claim`, atomically.
    pub fn claiming(&self, claim: Claim) -> Store {
        Store {
            claim: Some(Arc::new(Mutex::new(ClaimState::Pending(claim)))),
            ..self.clone()
        }
    }

    /// Where this store's claim stands, if it has one.
    pub fn claim_state(&self) -> Option<ClaimState> {
        let slot = self.claim.as_ref()?;
        Some(slot.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }

    /// The claim still to write, if any.
    pub(super) fn pending_claim(&self) -> Option<Claim> {
        match self.claim_state()? {
            ClaimState::Pending(claim) => Some(claim),
            _ => None,
        }
    }

    pub(super) fn settle_claim(&self, state: ClaimState) {
        if let Some(slot) = &self.claim {
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = state;
        }
    }

    /// The Put of `claim`, for the write that touches `tenant_id`. An expired record may be
    /// taken over: DynamoDB deletes expired items only within days.
    pub(super) fn claim_put(&self, claim: &Claim, tenant_id: &str) -> Result<Put, Error> {
        let now = Timestamp::now().millis / 1000;
        let record = RecordItem {
            tenant_id: claim.id.clone(),
            kind: RECORD_KIND.to_owned(),
            route: claim.route.clone(),
            request_hash: claim.request_hash.clone(),
            resource: tenant_id.to_owned(),
            expires_at: claim.expires_at,
            response_status: None,
            response_body: None,
        };
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(encode(&claim.id, &record)?))
            .condition_expression("attribute_not_exists(tenantId) OR expiresAt < :now")
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .build()
            .map_err(|e| Error::Aws {
                operation: "TransactWriteItems",
                message: e.to_string(),
            })
    }

    /// Sends `transaction`, whose item 0 is the tenant's and carries `write`, with the pending
    /// claim (for the write to `tenant_id`) as its item `index` if there is one, and `write` as
    /// its ClientRequestToken. A cancellation that finds `write` already on the tenant is an
    /// earlier attempt applied, and a success. A claim that loses to another request is
    /// `KeyClaimed`; any other outcome is the caller's to read.
    pub(super) async fn send_claimed(
        &self,
        mut transaction: TransactWriteItemsFluentBuilder,
        tenant_id: &str,
        index: usize,
        write: &Write,
    ) -> Result<Result<TransactWriteItemsOutput, TransactError>, Error> {
        let claim = self.pending_claim();
        if let Some(claim) = &claim {
            transaction = transaction.transact_items(
                TransactWriteItem::builder()
                    .put(self.claim_put(claim, tenant_id)?)
                    .build(),
            );
        }
        let result = transaction.client_request_token(&write.0).send().await;
        if let Err(e) = &result
            && write.landed_in(e, 0)
        {
            // The claim went in with it.
            if claim.is_some() {
                self.settle_claim(ClaimState::Written);
            }
            return Ok(Ok(TransactWriteItemsOutput::builder().build()));
        }
        if claim.is_some()
            && let Some(e) = self.claim_outcome(&result, index)
        {
            return Err(e);
        }
        Ok(result)
    }

    /// Settles the claim after a transaction that carried it: written, or lost to another
    /// request when its own condition failed (reason `index`).
    pub(super) fn claim_outcome<T>(
        &self,
        result: &Result<T, SdkError<TransactWriteItemsError, HttpResponse>>,
        index: usize,
    ) -> Option<Error> {
        match result {
            Ok(_) => {
                self.settle_claim(ClaimState::Written);
                None
            }
            Err(e) => {
                let Some(TransactWriteItemsError::TransactionCanceledException(c)) =
                    e.as_service_error()
                else {
                    return None;
                };
                let lost = c.cancellation_reasons().get(index).and_then(|r| r.code())
                    == Some("ConditionalCheckFailed");
                lost.then(|| {
                    self.settle_claim(ClaimState::Lost);
                    Error::KeyClaimed
                })
            }
        }
    }

    /// The live idempotency record `id`, if there is one (an expired one is not).
    pub async fn idempotency_record(&self, id: &str) -> Result<Option<idempotency::Record>, Error> {
        let Some(item) = self.item(id).await? else {
            return Ok(None);
        };
        let item: RecordItem = serde_dynamo::from_item(item)
            .map_err(|e| Error::Corrupt(id.to_owned(), e.to_string()))?;
        let record = idempotency::Record {
            route: item.route,
            request_hash: item.request_hash,
            tenant_id: item.resource,
            expires_at: item.expires_at,
            response: item.response_status.zip(item.response_body),
        };
        let now = Timestamp::now().millis / 1000;
        Ok((record.expires_at >= now).then_some(record))
    }

    /// Records the answer to the request that wrote claim `id`, unless one is recorded.
    pub async fn record_response(&self, id: &str, status: u16, body: &str) -> Result<(), Error> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .update_expression("SET responseStatus = :status, responseBody = :body")
            .condition_expression(
                "attribute_exists(tenantId) AND attribute_not_exists(responseStatus)",
            )
            .expression_attribute_values(":status", AttributeValue::N(status.to_string()))
            .expression_attribute_values(":body", AttributeValue::S(body.to_owned()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(aws("UpdateItem")(e)),
        }
    }
}
