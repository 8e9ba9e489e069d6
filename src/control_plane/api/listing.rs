//! `GET /tenants`: a listing, page by page or whole, within the response budget.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::{DEFAULT_LIMIT, Limits, MAX_LIMIT, NEXT_TOKEN_HEADER, Reply};
use crate::control_plane::tenant::{Status, Tenant};
use crate::control_plane::{ControlPlane, Error, store};

/// `GET /tenants`'s query. Every value is checked by hand, for the API's own errors.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct ListQuery {
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    next_token: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

/// `GET /tenants[?status=&limit=&nextToken=]` (DESIGN.md section 3; docs/guide/tenants-and-the-api.md):
/// - with `limit` or `nextToken`, one page: `{"tenants": [...], "nextToken": "..." | null}`,
///   at most `limit` tenants (1 to 1000, [`DEFAULT_LIMIT`] if not given);
/// - with neither, as before paging: the array of tenants, from the listing's start, as many
///   as the response budget holds (about 8,000 running tenants, at about 600 bytes each as
///   counted). When some are left out, [`NEXT_TOKEN_HEADER`] says where to continue, with
///   `nextToken`.
///
/// `status` lists only the tenants in that status, through the status index. Either way a
/// body stays within [`Limits::response_budget`]: a page that would not fit ends early, with
/// a `nextToken`. The tenants of one answer are oldest first.
pub(super) async fn list(
    State(cp): State<ControlPlane>,
    Extension(limits): Extension<Limits>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Reply {
    let Query(query) = query.map_err(|e| {
        ApiError::bad_request("InvalidQuery", format!("invalid query: {}", e.body_text()))
    })?;
    let status = query.status.as_deref().map(parse_status).transpose()?;
    let limit = query.limit.as_deref().map(parse_limit).transpose()?;
    let paged = limit.is_some() || query.next_token.is_some();
    let mut fill = Fill::new(limits.response_budget.saturating_sub(PAGE_OVERHEAD));
    let next_token = if paged {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        let page = read_page(&cp, status, limit, query.next_token.as_deref()).await?;
        match fill.extend(page.tenants, status)? {
            Some(cut) => Some(cut),
            None => page.next_token,
        }
    } else {
        let mut token: Option<String> = None;
        loop {
            let page = read_page(&cp, status, MAX_LIMIT, token.as_deref()).await?;
            if let Some(cut) = fill.extend(page.tenants, status)? {
                break Some(cut);
            }
            match page.next_token {
                Some(next) => token = Some(next),
                None => break None,
            }
        }
    };
    let body = fill.body(paged.then_some(next_token.as_deref()));
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response();
    if let Some(token) = next_token
        && let Ok(value) = header::HeaderValue::from_str(&token)
    {
        response.headers_mut().insert(NEXT_TOKEN_HEADER, value);
    }
    Ok(response)
}

/// One page of every tenant, or of those in `status`.
async fn read_page(
    cp: &ControlPlane,
    status: Option<Status>,
    limit: usize,
    token: Option<&str>,
) -> Result<store::Page, ApiError> {
    let page = match status {
        Some(status) => cp.store().by_status(status, limit, token).await,
        None => cp.store().page(limit, token).await,
    };
    Ok(page.map_err(Error::from)?)
}

fn parse_status(raw: &str) -> Result<Status, ApiError> {
    Status::parse(raw).ok_or_else(|| {
        let known: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
        ApiError::bad_request(
            "InvalidStatus",
            format!(
                "status {raw:?} is not a tenant status; known: {}",
                known.join(", ")
            ),
        )
    })
}

fn parse_limit(raw: &str) -> Result<usize, ApiError> {
    raw.parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request(
                "InvalidLimit",
                format!("limit {raw:?} is not a whole number from 1 to {MAX_LIMIT}"),
            )
        })
}

/// What a page's body holds besides its tenants, at most: `{"tenants":[` ... `],"nextToken":`,
/// the token (under 1 KiB, and under 600 bytes embedded), `}`.
const PAGE_OVERHEAD: usize = 2048;

/// The bytes `json` takes in the Lambda response that carries it: API Gateway's payload holds
/// the body as a JSON string, in which each `"` and `\` is escaped (serde_json writes no raw
/// control characters, and leaves other text as it is).
fn embedded_len(json: &[u8]) -> usize {
    json.len() + json.iter().filter(|b| matches!(b, b'"' | b'\\')).count()
}

/// The tenants of a list answer, in the order read, serialized as they come, within a budget
/// of embedded bytes ([`embedded_len`]) for the array that holds them.
struct Fill {
    budget: usize,
    /// The array's embedded bytes so far: `[`, `]`, the commas and the tenants.
    used: usize,
    tenants: Vec<(Tenant, Vec<u8>)>,
}

impl Fill {
    fn new(budget: usize) -> Fill {
        Fill {
            budget,
            used: 2,
            tenants: Vec::new(),
        }
    }

    /// Adds `tenant`, or answers false (and adds nothing) when the array would then exceed
    /// the budget.
    fn push(&mut self, tenant: Tenant) -> Result<bool, ApiError> {
        let json = serde_json::to_vec(&tenant).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                e.to_string(),
            )
        })?;
        let cost = embedded_len(&json) + usize::from(!self.tenants.is_empty());
        if self.used + cost > self.budget {
            return Ok(false);
        }
        self.used += cost;
        self.tenants.push((tenant, json));
        Ok(true)
    }

    /// Adds `tenants` (of a listing by `status`, or of all) until one does not fit. Then the
    /// answer is the token that continues after the last one added.
    fn extend(
        &mut self,
        tenants: Vec<Tenant>,
        status: Option<Status>,
    ) -> Result<Option<String>, ApiError> {
        for tenant in tenants {
            let id = tenant.tenant_id.clone();
            if !self.push(tenant)? {
                return match self.tenants.last() {
                    Some((last, _)) => Ok(Some(store::token_after(status, last))),
                    // Never with the real budget: a record is at most 400 KB.
                    None => Err(ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "ResponseTooLarge",
                        format!("tenant {id}'s record alone is larger than the response budget"),
                    )),
                };
            }
        }
        Ok(None)
    }

    /// The body: the array of the tenants oldest first or, for a page (`Some(next_token)`),
    /// the page object around it.
    fn body(mut self, page: Option<Option<&str>>) -> Vec<u8> {
        self.tenants
            .sort_by(|(a, _), (b, _)| (a.created, &a.tenant_id).cmp(&(b.created, &b.tenant_id)));
        let mut array = Vec::with_capacity(self.used);
        array.push(b'[');
        for (i, (_, json)) in self.tenants.iter().enumerate() {
            if i > 0 {
                array.push(b',');
            }
            array.extend_from_slice(json);
        }
        array.push(b']');
        let Some(next_token) = page else {
            return array;
        };
        let mut body = b"{\"tenants\":".to_vec();
        body.extend_from_slice(&array);
        body.extend_from_slice(b",\"nextToken\":");
        body.extend_from_slice(json!(next_token).to_string().as_bytes());
        body.push(b'}');
        body
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::control_plane::tenant::{TenantName, Timestamp};

    fn tenant(n: u32, reason: Option<&str>) -> Tenant {
        let mut t = Tenant::new(
            format!("00000000-0000-4000-8000-{n:012}"),
            TenantName::parse(&format!("Tenant {n}")).unwrap(),
            "silo",
            Timestamp {
                // Read newest first, so the body's order is not the reading order.
                millis: 1_700_000_000_000 - u64::from(n),
            },
        );
        t.status_reason = reason.map(str::to_owned);
        t
    }

    /// Fills a budget of `budget` bytes with `tenants`, then checks the body: within the
    /// budget (as Lambda's payload counts it), holding the `expected` first tenants of those
    /// read, oldest first, and stopped only because the next one would not fit.
    fn check(budget: usize, tenants: Vec<Tenant>, expected: usize) {
        let mut fill = Fill::new(budget);
        let cut = fill.extend(tenants.clone(), None).unwrap();
        let body = fill.body(None);
        assert!(
            embedded_len(&body) <= budget,
            "{} > {budget}",
            embedded_len(&body)
        );
        let got: Vec<Tenant> = serde_json::from_slice(&body).unwrap();
        let got: Vec<&str> = got.iter().map(|t| t.tenant_id.as_str()).collect();
        let mut want = tenants[..expected].to_vec();
        want.sort_by_key(|t| t.created);
        let want: Vec<&str> = want.iter().map(|t| t.tenant_id.as_str()).collect();
        assert_eq!(got, want);
        if expected < tenants.len() {
            assert_eq!(
                cut,
                Some(store::token_after(None, &tenants[expected - 1])),
                "continues after the last one kept"
            );
            let next = serde_json::to_vec(&tenants[expected]).unwrap();
            assert!(
                embedded_len(&body) + 1 + embedded_len(&next) > budget,
                "the next one would have fit"
            );
        } else {
            assert_eq!(cut, None);
        }
    }

    #[test]
    fn a_list_body_stops_before_its_budget() {
        let ten: Vec<Tenant> = (0..10).map(|n| tenant(n, None)).collect();
        let one = embedded_len(&serde_json::to_vec(&ten[0]).unwrap());
        check(usize::MAX, ten.clone(), 10);
        check(2 + one, ten.clone(), 1);
        check(2 + 3 * one + 2, ten.clone(), 3);
        check(2 + 3 * one + 1, ten.clone(), 2);
        // Quotes and backslashes count twice: a reason full of them takes more room.
        let quoted: Vec<Tenant> = (0..10)
            .map(|n| tenant(n, Some(&"\"\\".repeat(50))))
            .collect();
        let raw = serde_json::to_vec(&quoted[0]).unwrap();
        let counted = embedded_len(&raw);
        assert!(counted >= raw.len() + 200, "{counted}");
        check(2 + 2 * counted + 1, quoted.clone(), 2);
        check(2 + 2 * counted, quoted, 1);
    }

    #[test]
    fn a_record_larger_than_the_budget_is_an_error_not_an_empty_answer() {
        let mut fill = Fill::new(10);
        let err = fill.extend(vec![tenant(1, None)], None).unwrap_err();
        assert_eq!(err.code, "ResponseTooLarge");
    }

    #[test]
    fn a_page_body_carries_its_next_token() {
        let mut fill = Fill::new(usize::MAX);
        fill.extend(vec![tenant(1, None)], None).unwrap();
        let body: Value = serde_json::from_slice(&fill.body(Some(Some("abc")))).unwrap();
        assert_eq!(body["nextToken"], "abc");
        assert_eq!(body["tenants"].as_array().unwrap().len(), 1);
        let body: Value = serde_json::from_slice(&Fill::new(100).body(Some(None))).unwrap();
        assert_eq!(body, json!({"tenants": [], "nextToken": null}));
    }
}
