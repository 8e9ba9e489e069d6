//! The `nextToken` of a tenant listing: where the next page starts, as an opaque string.
//!
//! A token is the base64url (no padding) of a small JSON object: the format version `v` (1),
//! the `id` of the table item the page stopped at and, for a listing by status, that item's
//! `status` and `created` (its key in the status index). It is not signed: a client that
//! forges one can only start a listing it may read anyway somewhere else. It is validated
//! before anything is read: a token that does not decode to that object, names another
//! status than the listing's, or belongs to the other kind of listing is `InvalidNextToken`.
//! Only the validated fields reach DynamoDB, as the ExclusiveStartKey.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::super::tenant::{Status, Tenant, Timestamp};
use super::{Error, Item};

/// The longest token accepted, in characters. A real one is well under 200.
const MAX_LEN: usize = 1024;
/// The longest item id a token may carry. Item ids are tenant UUIDs (36), lock ids and
/// idempotency record ids (under 80).
const MAX_ID: usize = 256;
const VERSION: u8 = 1;

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Token {
    v: u8,
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created: Option<Timestamp>,
}

impl Token {
    fn encode(&self) -> String {
        // A struct of strings always serializes.
        let json = serde_json::to_vec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }
}

/// The token that starts a listing (by `status`, or of every tenant) right after `tenant`.
pub fn after(status: Option<Status>, tenant: &Tenant) -> String {
    Token {
        v: VERSION,
        id: tenant.tenant_id.clone(),
        status,
        created: status.map(|_| tenant.created),
    }
    .encode()
}

/// The token of a DynamoDB LastEvaluatedKey `key` of the listing, if it is one (a key this
/// store's own reads return always is).
pub(super) fn from_key(status: Option<Status>, key: &Item) -> Option<String> {
    let id = key.get("tenantId")?.as_s().ok()?.clone();
    let created = match status {
        Some(_) => Some(key.get("created")?.as_n().ok()?.parse().ok()?),
        None => None,
    };
    Some(
        Token {
            v: VERSION,
            id,
            status,
            created,
        }
        .encode(),
    )
}

/// The ExclusiveStartKey that `token` stands for, in a listing by `status` (or of every
/// tenant, for None); `InvalidNextToken` if it is not a token of that listing.
pub(super) fn start_key(status: Option<Status>, token: &str) -> Result<Item, Error> {
    let invalid = |why: &str| Error::InvalidNextToken(why.to_owned());
    if token.len() > MAX_LEN {
        return Err(invalid("it is longer than any token the API gives"));
    }
    let json = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| invalid("it is not base64url"))?;
    let token: Token =
        serde_json::from_slice(&json).map_err(|_| invalid("it is not a token the API gave"))?;
    if token.v != VERSION {
        return Err(invalid("it is of an unknown version"));
    }
    if token.id.is_empty() || token.id.len() > MAX_ID {
        return Err(invalid("it names no item"));
    }
    let mut key: Item = HashMap::from([("tenantId".to_owned(), AttributeValue::S(token.id))]);
    match (status, token.status, token.created) {
        (None, None, None) => {}
        (Some(wanted), Some(given), Some(created)) if wanted == given => {
            key.insert(
                "status".to_owned(),
                AttributeValue::S(given.as_str().to_owned()),
            );
            key.insert("created".to_owned(), AttributeValue::N(created.to_string()));
        }
        (Some(wanted), Some(given), Some(_)) => {
            return Err(invalid(&format!(
                "it continues a listing of {given} tenants, not of {wanted} ones"
            )));
        }
        (Some(_), _, _) => {
            return Err(invalid(
                "it continues a listing of every tenant, not by status",
            ));
        }
        (None, _, _) => {
            return Err(invalid(
                "it continues a listing by status, not of every tenant",
            ));
        }
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::super::super::tenant::TenantName;
    use super::*;

    fn tenant() -> Tenant {
        let mut t = Tenant::new(
            "00000000-0000-4000-8000-000000000001".to_owned(),
            TenantName::parse("Acme").unwrap(),
            "silo",
            Timestamp {
                millis: 1_700_000_000_120,
            },
        );
        t.status = Status::Running;
        t
    }

    /// `token` in a listing by `status`: the start key's attributes, or the error's reason.
    fn check(status: Option<Status>, token: &str, expected: Result<&[(&str, &str)], &str>) {
        let got = start_key(status, token).map(|key| {
            let mut attrs: Vec<(String, String)> = key
                .into_iter()
                .map(|(k, v)| {
                    let text = match v {
                        AttributeValue::S(s) => s,
                        AttributeValue::N(n) => format!("N:{n}"),
                        other => format!("{other:?}"),
                    };
                    (k, text)
                })
                .collect();
            attrs.sort();
            attrs
        });
        match (got, expected) {
            (Ok(got), Ok(want)) => {
                let want: Vec<(String, String)> = want
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                assert_eq!(got, want, "{token}");
            }
            (Err(Error::InvalidNextToken(why)), Err(want)) => {
                assert!(why.contains(want), "{token}: {why:?} lacks {want:?}");
            }
            (got, want) => panic!("{token}: {got:?}, expected {want:?}"),
        }
    }

    fn raw(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn tokens_round_trip_and_anything_else_is_refused() {
        let t = tenant();
        let id = t.tenant_id.as_str();
        check(None, &after(None, &t), Ok(&[("tenantId", id)]));
        check(
            Some(Status::Running),
            &after(Some(Status::Running), &t),
            Ok(&[
                ("created", "N:1700000000.120"),
                ("status", "running"),
                ("tenantId", id),
            ]),
        );
        // A lock id (a scan can stop at one) is an item id like any other.
        check(
            None,
            &raw(r#"{"v":1,"id":"namekey#ab"}"#),
            Ok(&[("tenantId", "namekey#ab")]),
        );
        let by_status = after(Some(Status::Running), &t);
        check(
            Some(Status::Failed),
            &by_status,
            Err("a listing of running tenants, not of failed ones"),
        );
        check(None, &by_status, Err("by status, not of every tenant"));
        check(
            Some(Status::Running),
            &after(None, &t),
            Err("every tenant, not by status"),
        );
        check(None, "", Err("not a token the API gave"));
        check(None, "not base64!", Err("not base64url"));
        check(None, "e30=", Err("not base64url"));
        check(None, &raw("[1,2]"), Err("not a token the API gave"));
        check(None, &raw(r#"{"v":1}"#), Err("not a token the API gave"));
        check(
            None,
            &raw(r#"{"v":1,"id":"x","admin":true}"#),
            Err("not a token the API gave"),
        );
        check(None, &raw(r#"{"v":2,"id":"x"}"#), Err("unknown version"));
        check(None, &raw(r#"{"v":1,"id":""}"#), Err("names no item"));
        check(
            None,
            &raw(&format!(r#"{{"v":1,"id":"{}"}}"#, "x".repeat(300))),
            Err("names no item"),
        );
        check(
            Some(Status::Running),
            &raw(r#"{"v":1,"id":"x","status":"running","created":"1e9"}"#),
            Err("not a token the API gave"),
        );
        check(
            Some(Status::Running),
            &raw(r#"{"v":1,"id":"x","status":"bogus","created":"1.0"}"#),
            Err("not a token the API gave"),
        );
        check(None, &"A".repeat(MAX_LEN + 1), Err("longer than any token"));
    }

    #[test]
    fn a_last_evaluated_key_becomes_the_token_of_its_item() {
        let t = tenant();
        let key: Item = HashMap::from([
            (
                "tenantId".to_owned(),
                AttributeValue::S(t.tenant_id.clone()),
            ),
            ("status".to_owned(), AttributeValue::S("running".to_owned())),
            (
                "created".to_owned(),
                AttributeValue::N("1700000000.120".to_owned()),
            ),
        ]);
        assert_eq!(
            from_key(Some(Status::Running), &key),
            Some(after(Some(Status::Running), &t))
        );
        assert_eq!(from_key(None, &key), Some(after(None, &t)));
    }
}
