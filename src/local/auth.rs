//! SigV4 verification for `silos local --require-auth`: what API Gateway's `AWS_IAM`
//! authorization does on AWS, against the emulator's credentials. The client signs with the
//! real `aws-sigv4`; this recomputes the signature from the request and compares.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::control_plane::api::MAX_BODY_BYTES;
use crate::synth::sha256_hex;

/// How far a request's `x-amz-date` may be from now, as on AWS.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// The credentials requests must be signed with, and the scope they must name.
#[derive(Clone, Debug)]
pub struct Verifier {
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
    pub service: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing authentication: the request is not signed with SigV4")]
    Missing,
    #[error("malformed Authorization header: {0}")]
    Malformed(String),
    #[error("the credential scope {0} is not valid here")]
    Scope(String),
    #[error("unknown access key {0}")]
    UnknownKey(String),
    #[error("the request time {0} is more than 15 minutes from the server's")]
    Skew(String),
    #[error("the signature does not match: check the secret key and what was signed")]
    Signature,
}

struct Authorization<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, AuthError> {
    let malformed = |why: &str| AuthError::Malformed(why.to_owned());
    let rest = value
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| malformed("the algorithm is not AWS4-HMAC-SHA256"))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| malformed("expected key=value parts"))?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => return Err(malformed(&format!("unknown part {k}"))),
        }
    }
    let credential = credential.ok_or_else(|| malformed("no Credential"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, terminator] = scope[..] else {
        return Err(malformed(
            "Credential is not KEY/DATE/REGION/SERVICE/aws4_request",
        ));
    };
    if terminator != "aws4_request" {
        return Err(malformed("Credential does not end in aws4_request"));
    }
    Ok(Authorization {
        access_key,
        date,
        region,
        service,
        signed_headers: signed
            .ok_or_else(|| malformed("no SignedHeaders"))?
            .split(';')
            .collect(),
        signature: signature.ok_or_else(|| malformed("no Signature"))?,
    })
}

/// `20150830T123600Z` → the time it names.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// RFC 3986 encoding of everything but the unreserved characters, as SigV4 wants.
fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k), false),
                uri_encode(&percent_decode(v), false),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

impl Verifier {
    /// Checks the SigV4 signature of a request: method, path and query as received, its
    /// headers and its body.
    pub fn verify(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), AuthError> {
        let header = headers
            .get("authorization")
            .ok_or(AuthError::Missing)?
            .to_str()
            .map_err(|_| AuthError::Malformed("not ASCII".to_owned()))?;
        let auth = parse_authorization(header)?;
        if auth.access_key != self.access_key {
            return Err(AuthError::UnknownKey(auth.access_key.to_owned()));
        }
        if auth.region != self.region || auth.service != self.service {
            return Err(AuthError::Scope(format!(
                "{}/{}/{}",
                auth.date, auth.region, auth.service
            )));
        }
        let amz_date = headers
            .get("x-amz-date")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| AuthError::Malformed("no x-amz-date header".to_owned()))?;
        let time = parse_amz_date(amz_date)
            .ok_or_else(|| AuthError::Malformed(format!("bad x-amz-date {amz_date:?}")))?;
        if !amz_date.starts_with(auth.date) {
            return Err(AuthError::Scope(auth.date.to_owned()));
        }
        let skew = now.duration_since(time).unwrap_or_else(|e| e.duration());
        if skew > MAX_SKEW {
            return Err(AuthError::Skew(amz_date.to_owned()));
        }
        if !auth.signed_headers.contains(&"host") {
            return Err(AuthError::Malformed(
                "host is not a signed header".to_owned(),
            ));
        }

        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let mut canonical = format!(
            "{method}\n{}\n{}\n",
            uri_encode(if path.is_empty() { "/" } else { path }, true),
            canonical_query(query)
        );
        for name in &auth.signed_headers {
            let values: Vec<String> = headers
                .get_all(*name)
                .iter()
                .map(|v| {
                    String::from_utf8_lossy(v.as_bytes())
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect();
            if values.is_empty() {
                return Err(AuthError::Malformed(format!(
                    "signed header {name} is missing"
                )));
            }
            canonical.push_str(&format!("{name}:{}\n", values.join(",")));
        }
        let payload = headers
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| sha256_hex(body));
        if payload != sha256_hex(body) && payload != "UNSIGNED-PAYLOAD" {
            return Err(AuthError::Signature);
        }
        canonical.push_str(&format!("\n{}\n{payload}", auth.signed_headers.join(";")));

        let scope = format!(
            "{}/{}/{}/aws4_request",
            auth.date, auth.region, auth.service
        );
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            sha256_hex(canonical.as_bytes())
        );
        let key = aws_sigv4::sign::v4::generate_signing_key(
            &self.secret_key,
            time,
            auth.region,
            auth.service,
        );
        let expected = aws_sigv4::sign::v4::calculate_signature(key, string_to_sign.as_bytes());
        // Constant-time comparison.
        let same = expected.len() == auth.signature.len()
            && expected
                .bytes()
                .zip(auth.signature.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if same {
            Ok(())
        } else {
            Err(AuthError::Signature)
        }
    }
}

/// Who signed a request: the access key its Authorization header names, or anonymous.
pub fn caller(headers: &HeaderMap) -> crate::control_plane::idempotency::Caller {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|h| parse_authorization(h).ok().map(|a| a.access_key.to_owned()))
        .map_or_else(
            crate::control_plane::idempotency::Caller::anonymous,
            crate::control_plane::idempotency::Caller,
        )
}

/// The axum middleware: verifies every request, or answers 403 as API Gateway does.
pub async fn require_sigv4(
    State(verifier): State<Verifier>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY_BYTES + 1).await else {
        return deny(AuthError::Malformed("unreadable body".to_owned()));
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    match verifier.verify(
        parts.method.as_str(),
        path,
        &parts.headers,
        &bytes,
        SystemTime::now(),
    ) {
        Ok(()) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(e) => {
            tracing::info!(error = %e, path, "rejected an unsigned or badly signed request");
            deny(e)
        }
    }
}

fn deny(e: AuthError) -> Response {
    let code = match e {
        AuthError::Missing => "MissingAuthenticationToken",
        AuthError::Signature => "InvalidSignature",
        _ => "AccessDenied",
    };
    (
        StatusCode::FORBIDDEN,
        axum::Json(json!({"error": {"code": code, "message": e.to_string()}})),
    )
        .into_response()
}

#[cfg(test)]
mod tests;
