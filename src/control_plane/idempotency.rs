//! Safe retries: the `Idempotency-Key` header of the mutating routes (`POST /onboarding`,
//! `/delete`, `/retry`, `/update`).
//!
//! - **The record.** A request with a key claims an item of the tenants table,
//!   `tenantId = "idem#<sha256 of caller and key>"`, with `kind = "idempotency"` (so it is never
//!   listed and never provisions), the route, a hash of the request, the tenant it touched and
//!   `expiresAt`, 24 hours on (the table's TTL attribute). The claim is a Put in the same
//!   transaction as the first write the request makes ([`super::store::Store`]), so a write
//!   never lands without its record, nor a record without its write.
//! - **The response.** Once the request is answered, the record gets the status and body. A
//!   repeat with the same key and the same request gets them back, and does nothing. If the
//!   answer was never recorded (it was lost, the process died between the write and the
//!   response, or it was a server error, which is never recorded), a repeat finishes the
//!   route's work after its write (DeleteStack for a delete, CreateStack for a retry; each is
//!   idempotent) and gets the route's success status with the tenant as it is then.
//! - **Not a claim.** A request that writes nothing (refused, or an update to a tenant already
//!   at the version) records nothing, so a retry is handled afresh.
//! - **Scope.** Keys belong to the caller (the SigV4 principal on AWS, the access key locally):
//!   one caller cannot replay another's response with a guessed key.

use sha2::{Digest, Sha256};

/// How long a key is honoured.
pub const TTL_SECONDS: u64 = 24 * 60 * 60;
/// The prefix of idempotency records' ids; tenant ids are UUIDs, so they never collide.
pub const RECORD_PREFIX: &str = "idem#";
/// What idempotency records carry as `kind`.
pub const RECORD_KIND: &str = "idempotency";

/// Who made a request: the SigV4 principal (API Gateway's IAM authorizer) on AWS, the access
/// key local mode verified, or `anonymous` where nothing says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller(pub String);

impl Caller {
    pub fn anonymous() -> Caller {
        Caller("anonymous".to_owned())
    }
}

/// A valid `Idempotency-Key`: 1 to 64 printable ASCII characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key(String);

impl Key {
    pub fn parse(raw: &[u8]) -> Result<Key, String> {
        if raw.is_empty() || raw.len() > 64 {
            return Err(format!(
                "the Idempotency-Key is {} characters; it must be 1 to 64",
                raw.len()
            ));
        }
        if let Some(b) = raw.iter().find(|b| !(0x20..=0x7e).contains(*b)) {
            return Err(format!(
                "the Idempotency-Key may hold only printable ASCII; found byte 0x{b:02X}"
            ));
        }
        Ok(Key(String::from_utf8_lossy(raw).into_owned()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The record id of `key` for `caller`. The two are hashed together with a separator, so no
/// caller's key can name another caller's record.
pub fn record_id(caller: &Caller, key: &Key) -> String {
    let mut h = Sha256::new();
    h.update(caller.0.as_bytes());
    h.update([0]);
    h.update(key.0.as_bytes());
    format!("{RECORD_PREFIX}{}", hex(&h.finalize()))
}

/// What identifies "the same request": the route and the body as JSON, so whitespace and key
/// order do not matter. A body that is not JSON is compared byte for byte.
pub fn request_hash(route: &str, body: &[u8]) -> String {
    let canonical = serde_json::from_slice::<serde_json::Value>(body)
        .map(|v| v.to_string().into_bytes())
        .unwrap_or_else(|_| body.to_vec());
    let mut h = Sha256::new();
    h.update(route.as_bytes());
    h.update([0]);
    h.update(&canonical);
    hex(&h.finalize())
}

/// A claim to write with a request's first write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub id: String,
    pub route: String,
    pub request_hash: String,
    /// Epoch seconds.
    pub expires_at: u64,
}

/// A stored record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub route: String,
    pub request_hash: String,
    /// The tenant the claimed write touched.
    pub tenant_id: String,
    pub expires_at: u64,
    /// The recorded answer, once there is one.
    pub response: Option<(u16, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_one_to_sixty_four_printable_ascii_characters() {
        let check = |raw: &[u8], ok: bool| assert_eq!(Key::parse(raw).is_ok(), ok, "{raw:?}");
        check(b"a", true);
        check(b"9f1c2d3e-0000-4000-8000-000000000001", true);
        check(b"with spaces and ~!@#", true);
        check(&[b'k'; 64], true);
        check(&[b'k'; 65], false);
        check(b"", false);
        check(b"tab\there", false);
        check("Zürich".as_bytes(), false);
        assert_eq!(
            Key::parse(b"a\x7fb").unwrap_err(),
            "the Idempotency-Key may hold only printable ASCII; found byte 0x7F"
        );
    }

    #[test]
    fn records_belong_to_their_caller() {
        let key = Key::parse(b"k1").unwrap();
        let alice = record_id(&Caller("AKIAALICE".into()), &key);
        let bob = record_id(&Caller("AKIABOB".into()), &key);
        assert_ne!(alice, bob);
        assert!(alice.starts_with("idem#") && alice.len() == 5 + 64);
        // The separator: ("ab", "c") and ("a", "bc") are two records.
        assert_ne!(
            record_id(&Caller("ab".into()), &Key::parse(b"c").unwrap()),
            record_id(&Caller("a".into()), &Key::parse(b"bc").unwrap())
        );
    }

    #[test]
    fn the_same_request_is_the_same_json_on_the_same_route() {
        let a = request_hash(
            "/onboarding",
            br#"{"tenantName":"Acme","deploymentType":"silo"}"#,
        );
        let b = request_hash(
            "/onboarding",
            b"{ \"deploymentType\": \"silo\",\n \"tenantName\": \"Acme\" }",
        );
        assert_eq!(a, b);
        assert_ne!(
            a,
            request_hash(
                "/onboarding",
                br#"{"tenantName":"Globex","deploymentType":"silo"}"#
            )
        );
        assert_ne!(
            a,
            request_hash(
                "/delete",
                br#"{"tenantName":"Acme","deploymentType":"silo"}"#
            )
        );
    }
}
