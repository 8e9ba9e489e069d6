//! SigV4 verification for `silos local --require-auth`: what API Gateway's `AWS_IAM`
//! authorization does on AWS, against the emulator's credentials. The client signs with the
//! real `aws-sigv4`; this re-signs the request with it, from what the request says was signed,
//! and compares the two signatures in constant time.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode, sign,
};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::control_plane::api::MAX_BODY_BYTES;

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

/// `20150830T123600Z`, ISO 8601's basic format as SigV4 writes it → the time it names.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let (date, time) = s.strip_suffix('Z')?.split_once('T')?;
    let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(date, 8) || !digits(time, 6) {
        return None;
    }
    // The same fields in RFC 3339's extended format, which the SDK's `DateTime` reads and checks.
    let extended = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &date[..4],
        &date[4..6],
        &date[6..],
        &time[..2],
        &time[2..4],
        &time[4..]
    );
    SystemTime::try_from(DateTime::from_str(&extended, DateTimeFormat::DateTime).ok()?).ok()
}

impl Verifier {
    /// Checks the SigV4 signature of a request: method, path and query as received, its
    /// signed headers and its body, re-signed by `aws-sigv4`.
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
        self.check_scope(&auth)?;
        let time = request_time(headers, &auth, now)?;
        for required in ["host", "x-amz-date"] {
            if !auth.signed_headers.contains(&required) {
                return Err(AuthError::Malformed(format!(
                    "{required} is not a signed header"
                )));
            }
        }

        // The request as the client signed it: the method, path and query as received, only
        // the headers it lists as signed, and the body. Re-signed with the secret of the key
        // it names, at the time it names, the signature must come out the same.
        let signed = signed_headers(headers, &auth.signed_headers)?;
        let unsigned_payload = headers
            .get("x-amz-content-sha256")
            .is_some_and(|v| v == "UNSIGNED-PAYLOAD");
        let payload = if unsigned_payload {
            SignableBody::UnsignedPayload
        } else {
            SignableBody::Bytes(body)
        };
        let request = SignableRequest::new(
            method,
            if path_and_query.is_empty() {
                "/"
            } else {
                path_and_query
            },
            signed.into_iter(),
            payload,
        )
        .map_err(|e| unsignable(&e))?;
        let expected = self.signature(request, &auth, time)?;
        if bool::from(expected.as_bytes().ct_eq(auth.signature.as_bytes())) {
            Ok(())
        } else {
            Err(AuthError::Signature)
        }
    }

    /// The access key must be this verifier's, and the scope its region and service.
    fn check_scope(&self, auth: &Authorization<'_>) -> Result<(), AuthError> {
        if auth.access_key != self.access_key {
            return Err(AuthError::UnknownKey(auth.access_key.to_owned()));
        }
        if auth.region != self.region || auth.service != self.service {
            return Err(AuthError::Scope(format!(
                "{}/{}/{}",
                auth.date, auth.region, auth.service
            )));
        }
        Ok(())
    }

    /// The signature `aws-sigv4` gives `request`, signed with this verifier's secret in the
    /// scope and at the time the request names.
    fn signature(
        &self,
        request: SignableRequest<'_>,
        auth: &Authorization<'_>,
        time: SystemTime,
    ) -> Result<String, AuthError> {
        let identity = Credentials::new(
            &self.access_key,
            &self.secret_key,
            None,
            None,
            "silos-local",
        )
        .into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(auth.region)
            .name(auth.service)
            .time(time)
            .settings(signing_settings())
            .build()
            .map_err(|e| unsignable(&e))?
            .into();
        let (_, expected) = sign(request, &params)
            .map_err(|e| unsignable(&e))?
            .into_parts();
        Ok(expected)
    }
}

/// A request `aws-sigv4` cannot sign.
fn unsignable(e: &dyn std::fmt::Display) -> AuthError {
    AuthError::Malformed(format!("the request cannot be signed: {e}"))
}

/// The time the request's `x-amz-date` names, which must be the scope's date and within
/// [`MAX_SKEW`] of `now`.
fn request_time(
    headers: &HeaderMap,
    auth: &Authorization<'_>,
    now: SystemTime,
) -> Result<SystemTime, AuthError> {
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
    Ok(time)
}

/// The values of the headers the request lists as signed, each of which must be present.
fn signed_headers<'a>(
    headers: &'a HeaderMap,
    names: &[&'a str],
) -> Result<Vec<(&'a str, &'a str)>, AuthError> {
    let mut signed = Vec::with_capacity(names.len());
    for name in names {
        let before = signed.len();
        for value in headers.get_all(*name) {
            let value = std::str::from_utf8(value.as_bytes())
                .map_err(|_| AuthError::Malformed(format!("signed header {name} is not UTF-8")))?;
            signed.push((*name, value));
        }
        if signed.len() == before {
            return Err(AuthError::Malformed(format!(
                "signed header {name} is missing"
            )));
        }
    }
    Ok(signed)
}

/// As clients sign execute-api (the SDKs, botocore, awscurl): the path normalized and encoded
/// twice, no x-amz-content-sha256 added, the signature in the headers.
fn signing_settings() -> SigningSettings {
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Double;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Enabled;
    settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
    settings.signature_location = SignatureLocation::Headers;
    // Exactly the headers the client listed, none of them left out.
    settings.excluded_headers = None;
    settings
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
