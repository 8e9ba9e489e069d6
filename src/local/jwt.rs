//! JWT verification as API Gateway's JWT authorizer does it, for local mode's front doors: the
//! token's `kid` names a key of the issuer's JWKS, its RS256 signature verifies with that key,
//! `iss` is the configured issuer, the audience (`aud`, or `client_id` on an access token) is
//! the configured client, `token_use` is `id` or `access`, and `exp` (and `nbf`, if present) hold
//! at the time of the request. The claims come back as API Gateway delivers them in the event:
//! every value a string.
//!
//! The signature is checked by `ring`; this module only parses and compares.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::Value;

/// One key of a JWKS document.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Jwk {
    pub kid: String,
    pub kty: String,
    #[serde(default)]
    pub alg: Option<String>,
    pub n: String,
    pub e: String,
}

/// A JWKS document: `{"keys": [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// What a token must be for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
}

/// Why a token is refused. API Gateway answers each with 401 and says no more; the reason is
/// for local mode's log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("no token in the Authorization header")]
    Missing,
    #[error("not a JWT: {0}")]
    Malformed(&'static str),
    #[error("signed with {0}, not RS256")]
    Algorithm(String),
    #[error("its key {0:?} is not in the issuer's JWKS")]
    UnknownKey(String),
    #[error("its signature does not verify")]
    Signature,
    #[error("issued by {0:?}")]
    Issuer(String),
    #[error("for another audience")]
    Audience,
    #[error("token_use is {0:?}, neither id nor access")]
    TokenUse(String),
    #[error("expired")]
    Expired,
    #[error("not valid yet")]
    NotYet,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

/// The token of an `Authorization` header value: `Bearer TOKEN`, or the bare token (API
/// Gateway accepts both).
pub fn bearer(header: Option<&str>) -> Result<&str, Refused> {
    let value = header
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(Refused::Missing)?;
    Ok(match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => value,
    })
}

/// The `kid` of a token's header, to find its JWKS before verifying.
pub fn key_id(token: &str) -> Result<String, Refused> {
    let header = token
        .split('.')
        .next()
        .ok_or(Refused::Malformed("no header"))?;
    let header: Header = decode_json(header)?;
    header.kid.ok_or(Refused::Malformed("no kid in the header"))
}

/// Verifies `token` against `jwks` for `expected` at `now` (seconds since the epoch), and
/// returns its claims as API Gateway delivers them.
pub fn verify(
    token: &str,
    jwks: &Jwks,
    expected: &Expected,
    now: u64,
) -> Result<HashMap<String, String>, Refused> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refused::Malformed("not three dot-separated parts"));
    };
    let header: Header = decode_json(header_b64)?;
    if header.alg != "RS256" {
        return Err(Refused::Algorithm(header.alg));
    }
    let kid = header
        .kid
        .ok_or(Refused::Malformed("no kid in the header"))?;
    let key = jwks
        .keys
        .iter()
        .find(|k| k.kid == kid && k.kty == "RSA")
        .ok_or_else(|| Refused::UnknownKey(kid.clone()))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| Refused::Malformed("the signature is not base64url"))?;
    let n = URL_SAFE_NO_PAD
        .decode(&key.n)
        .map_err(|_| Refused::UnknownKey(kid.clone()))?;
    let e = URL_SAFE_NO_PAD
        .decode(&key.e)
        .map_err(|_| Refused::UnknownKey(kid.clone()))?;
    let signed = &token[..header_b64.len() + 1 + claims_b64.len()];
    ring::signature::RsaPublicKeyComponents { n: &n, e: &e }
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            signed.as_bytes(),
            &signature,
        )
        .map_err(|_| Refused::Signature)?;
    let claims: serde_json::Map<String, Value> = decode_json(claims_b64)?;
    check_claims(&claims, expected, now)?;
    Ok(claims
        .into_iter()
        .map(|(k, v)| (k, claim_string(&v)))
        .collect())
}

/// The registered claims, checked as API Gateway checks them.
fn check_claims(
    claims: &serde_json::Map<String, Value>,
    expected: &Expected,
    now: u64,
) -> Result<(), Refused> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let issuer = text("iss").unwrap_or_default();
    if issuer != expected.issuer {
        return Err(Refused::Issuer(issuer.to_owned()));
    }
    let audience_matches = match claims.get("aud") {
        Some(Value::String(aud)) => aud == expected.audience,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(expected.audience)),
        _ => text("client_id") == Some(expected.audience),
    };
    if !audience_matches {
        return Err(Refused::Audience);
    }
    match text("token_use") {
        Some("id" | "access") => {}
        other => return Err(Refused::TokenUse(other.unwrap_or_default().to_owned())),
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_u64)
        .ok_or(Refused::Expired)?;
    if now >= exp {
        return Err(Refused::Expired);
    }
    if let Some(nbf) = claims.get("nbf").and_then(Value::as_u64)
        && now < nbf
    {
        return Err(Refused::NotYet);
    }
    Ok(())
}

/// A claim as API Gateway puts it in the event: strings as they are, numbers and booleans
/// written out, arrays as `[a b]`.
fn claim_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(claim_string).collect();
            format!("[{}]", items.join(" "))
        }
        other => other.to_string(),
    }
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, Refused> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| Refused::Malformed("a part is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| Refused::Malformed("a part is not JSON"))
}

#[cfg(test)]
mod tests;
