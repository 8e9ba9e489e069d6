//! Listing, page by page: a Scan that filters out lock items and idempotency records, or a
//! Query of the status index; a page resumes after the tenant it ended with.

use super::*;

/// The tenants table's index by status: partition key `status` (S), sort key `created` (N),
/// every attribute projected. The stack declares it as `stacks::STATUS_INDEX`.
pub const STATUS_INDEX: &str = "byStatus";

/// The most tenants a page holds.
pub const MAX_PAGE: usize = 1000;

/// The most reads (Scan or Query calls) one page makes. A page that reaches it before it is
/// full (a stretch of the table holding nothing but lock items, say) ends early, with a
/// token, so one request never reads without bound.
pub(super) const MAX_READS_PER_PAGE: usize = 16;

/// One page of a listing, in the order the table holds it (a Scan's, or oldest first by
/// status), and the token of the next page: None when the listing is done. A page may hold
/// fewer than its limit and still have a next token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    pub tenants: Vec<Tenant>,
    pub next_token: Option<String>,
}

/// A failed read of a listing. DynamoDB's refusal of its ExclusiveStartKey, which only a
/// client's token can lead to, is `InvalidNextToken`, not an AWS failure.
pub(super) fn read_error<E, R>(operation: &'static str, e: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let refused = e.as_service_error().is_some_and(|s| {
        s.code() == Some("ValidationException")
            && s.message()
                .is_some_and(|m| m.to_ascii_lowercase().contains("start"))
    });
    if refused {
        return Error::InvalidNextToken("DynamoDB refused the key it starts at".to_owned());
    }
    aws(operation)(e)
}

impl Store {
    /// Every tenant, across all pages of the table. Name locks are left out.
    pub async fn list(&self) -> Result<Vec<Tenant>, Error> {
        let mut tenants = Vec::new();
        let mut items = self
            .client
            .scan()
            .table_name(&self.table)
            .set_limit(self.page_size)
            .into_paginator()
            .items()
            .send();
        while let Some(item) = items.next().await {
            let item = item.map_err(aws("Scan"))?;
            if !item.contains_key("kind") {
                tenants.push(from_item(&item)?);
            }
        }
        tenants.sort_by(|a, b| (a.created, &a.tenant_id).cmp(&(b.created, &b.tenant_id)));
        Ok(tenants)
    }

    /// At most `limit` tenants (1 to [`MAX_PAGE`]), from where `next_token` says (the start
    /// when None): a Scan, without lock items or idempotency records.
    pub async fn page(&self, limit: usize, next_token: Option<&str>) -> Result<Page, Error> {
        self.read_page(None, limit, next_token).await
    }

    /// As [`page`](Self::page), of the tenants in `status` only, oldest first: a Query of
    /// [`STATUS_INDEX`]. The index is eventually consistent: a tenant that just moved may
    /// still be listed under the status it left, for a moment.
    pub async fn by_status(
        &self,
        status: Status,
        limit: usize,
        next_token: Option<&str>,
    ) -> Result<Page, Error> {
        self.read_page(Some(status), limit, next_token).await
    }

    /// Reads until the page has `limit` tenants, the listing ends, or
    /// [`MAX_READS_PER_PAGE`] reads are done. Each read asks for `limit` items (or the store's
    /// page size); a Scan's filter drops lock items after the read, so a read may return fewer
    /// tenants than asked, and the page reads on. A read that returns more than the page has
    /// room for leaves the rest to the next page, which starts after the last tenant kept.
    pub(super) async fn read_page(
        &self,
        status: Option<Status>,
        limit: usize,
        next_token: Option<&str>,
    ) -> Result<Page, Error> {
        let limit = limit.clamp(1, MAX_PAGE);
        let mut start = next_token
            .map(|t| token::start_key(status, t))
            .transpose()?;
        let read_size = self.page_size.unwrap_or(limit as i32);
        let mut tenants = Vec::new();
        for _ in 0..MAX_READS_PER_PAGE {
            let (items, last) = self.read(status, read_size, start.take()).await?;
            let mut items = items.into_iter().peekable();
            while let Some(item) = items.next() {
                let tenant = from_item(&item)?;
                if tenants.len() + 1 == limit {
                    // Full. Done only if this was the listing's last item.
                    let done = items.peek().is_none() && last.is_none();
                    let next_token = (!done).then(|| token::after(status, &tenant));
                    tenants.push(tenant);
                    return Ok(Page {
                        tenants,
                        next_token,
                    });
                }
                tenants.push(tenant);
            }
            match last {
                None => {
                    return Ok(Page {
                        tenants,
                        next_token: None,
                    });
                }
                Some(key) => start = Some(key),
            }
        }
        // Out of reads: resume where the last one stopped.
        let next_token = start
            .as_ref()
            .and_then(|key| token::from_key(status, key))
            .ok_or_else(|| Error::Aws {
                operation: if status.is_some() { "Query" } else { "Scan" },
                message: "its LastEvaluatedKey lacks the listing's key attributes".to_owned(),
            })?;
        Ok(Page {
            tenants,
            next_token: Some(next_token),
        })
    }

    /// One Scan (every tenant) or Query (by `status`) of at most `limit` items from `start`:
    /// the tenants it returned and its LastEvaluatedKey.
    /// A Query of the status index for the tenants in `status`.
    fn status_query(
        &self,
        status: Status,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(STATUS_INDEX)
            .key_condition_expression("#status = :status")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", AttributeValue::S(status.as_str().to_owned()))
    }

    /// How many tenants are `status`, as the status index holds them: a Query that returns
    /// only the count, page by page (each page reads up to 1 MB of the index).
    pub async fn count_by_status(&self, status: Status) -> Result<u64, Error> {
        let mut pages = self
            .status_query(status)
            .select(aws_sdk_dynamodb::types::Select::Count)
            .into_paginator()
            .send();
        let mut count = 0u64;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| read_error("Query", e))?;
            count += u64::try_from(page.count()).unwrap_or_default();
        }
        Ok(count)
    }

    pub(super) async fn read(
        &self,
        status: Option<Status>,
        limit: i32,
        start: Option<Item>,
    ) -> Result<(Vec<Item>, Option<Item>), Error> {
        let Some(status) = status else {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("attribute_not_exists(#kind)")
                .expression_attribute_names("#kind", "kind")
                .limit(limit)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| read_error("Scan", e))?;
            return Ok((out.items.unwrap_or_default(), out.last_evaluated_key));
        };
        let out = self
            .status_query(status)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| read_error("Query", e))?;
        Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
    }
}
