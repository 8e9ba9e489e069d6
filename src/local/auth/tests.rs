use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, HeaderValue};

use super::*;

fn verifier() -> Verifier {
    Verifier {
        access_key: "testing".into(),
        secret_key: "testing".into(),
        region: "us-east-1".into(),
        service: "execute-api".into(),
    }
}

/// Signs a request with the real `aws-sigv4`, as the CLI does.
fn signed(method: &str, uri: &str, body: &[u8], secret: &str, time: SystemTime) -> HeaderMap {
    let mut request = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "127.0.0.1:8080")
        .header("content-type", "application/json")
        .body(body.to_vec())
        .unwrap();
    crate::aws::sign(
        &mut request,
        aws_credential_types::Credentials::new("testing", secret, None, None, "test"),
        "us-east-1",
        time,
    )
    .unwrap();
    request.headers().clone()
}

#[test]
fn the_aws_test_suite_get_vanilla_vector_verifies() {
    // From the AWS SigV4 test suite (get-vanilla): published inputs and signature.
    let v = Verifier {
        access_key: "AKIDEXAMPLE".into(),
        secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        region: "us-east-1".into(),
        service: "service".into(),
    };
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("example.amazonaws.com"));
    headers.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
    headers.insert(
        "authorization",
        HeaderValue::from_static(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
    );
    let at = parse_amz_date("20150830T123600Z").unwrap();
    assert_eq!(v.verify("GET", "/", &headers, b"", at), Ok(()));
    // The same request one byte different in the path does not.
    assert_eq!(
        v.verify("GET", "/x", &headers, b"", at),
        Err(AuthError::Signature)
    );
}

#[test]
fn amz_dates_parse_to_the_right_instant() {
    // 2015-08-30T12:36:00Z is 1440938160 seconds after the epoch.
    assert_eq!(
        parse_amz_date("20150830T123600Z"),
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160))
    );
    assert_eq!(parse_amz_date("2015-08-30T12:36"), None);
    assert_eq!(parse_amz_date("20151330T123600Z"), None);
}

#[test]
fn a_request_signed_by_aws_sigv4_verifies() {
    let now = SystemTime::now();
    let body = br#"{"tenantName":"Acme","deploymentType":"silo"}"#;
    let headers = signed(
        "POST",
        "http://127.0.0.1:8080/onboarding",
        body,
        "testing",
        now,
    );
    assert_eq!(
        verifier().verify("POST", "/onboarding", &headers, body, now),
        Ok(())
    );
    let headers = signed(
        "GET",
        "http://127.0.0.1:8080/tenants/0b0e6a3c-0000-4000-8000-000000000000",
        b"",
        "testing",
        now,
    );
    assert_eq!(
        verifier().verify(
            "GET",
            "/tenants/0b0e6a3c-0000-4000-8000-000000000000",
            &headers,
            b"",
            now
        ),
        Ok(())
    );
}

#[test]
fn tampering_and_wrong_keys_are_rejected() {
    let now = SystemTime::now();
    let body = br#"{"tenantId":"x"}"#;
    let headers = signed("POST", "http://127.0.0.1:8080/delete", body, "testing", now);
    let v = verifier();
    assert_eq!(
        v.verify("POST", "/delete", &headers, br#"{"tenantId":"y"}"#, now),
        Err(AuthError::Signature),
        "another body"
    );
    assert_eq!(
        v.verify("POST", "/retry", &headers, body, now),
        Err(AuthError::Signature),
        "another path"
    );
    assert_eq!(
        v.verify("GET", "/delete", &headers, body, now),
        Err(AuthError::Signature),
        "another method"
    );
    let wrong = signed("POST", "http://127.0.0.1:8080/delete", body, "nope", now);
    assert_eq!(
        v.verify("POST", "/delete", &wrong, body, now),
        Err(AuthError::Signature),
        "another secret"
    );
    let mut host = headers.clone();
    host.insert("host", HeaderValue::from_static("evil.example:8080"));
    assert_eq!(
        v.verify("POST", "/delete", &host, body, now),
        Err(AuthError::Signature),
        "another host"
    );
    let stale = signed(
        "POST",
        "http://127.0.0.1:8080/delete",
        body,
        "testing",
        now - Duration::from_secs(20 * 60),
    );
    assert!(matches!(
        v.verify("POST", "/delete", &stale, body, now),
        Err(AuthError::Skew(_))
    ));
    assert_eq!(
        v.verify("POST", "/delete", &HeaderMap::new(), body, now),
        Err(AuthError::Missing)
    );
    let other = Verifier {
        access_key: "someone-else".into(),
        ..verifier()
    };
    assert_eq!(
        other.verify("POST", "/delete", &headers, body, now),
        Err(AuthError::UnknownKey("testing".into()))
    );
}

#[test]
fn queries_and_encoded_paths_verify_as_clients_sign_them() {
    let now = SystemTime::now();
    for uri in [
        "/tenants?status=running&limit=10",
        "/tenants?b=x%20y&a=z",
        "/tenants/a%20b/c",
        "/tenants/./x/../y",
    ] {
        let headers = signed(
            "GET",
            &format!("http://127.0.0.1:8080{uri}"),
            b"",
            "testing",
            now,
        );
        assert_eq!(
            verifier().verify("GET", uri, &headers, b"", now),
            Ok(()),
            "{uri}"
        );
    }
    let headers = signed(
        "GET",
        "http://127.0.0.1:8080/tenants?limit=10",
        b"",
        "testing",
        now,
    );
    assert_eq!(
        verifier().verify("GET", "/tenants?limit=11", &headers, b"", now),
        Err(AuthError::Signature),
        "another query"
    );
}

#[test]
fn only_the_signed_headers_are_checked_and_all_of_them() {
    let now = SystemTime::now();
    let body = br#"{"tenantId":"x"}"#;
    let headers = signed("POST", "http://127.0.0.1:8080/delete", body, "testing", now);
    let mut extra = headers.clone();
    extra.insert("user-agent", HeaderValue::from_static("a proxy"));
    extra.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
    assert_eq!(
        verifier().verify("POST", "/delete", &extra, body, now),
        Ok(())
    );
    let mut changed = headers.clone();
    changed.insert("content-type", HeaderValue::from_static("text/plain"));
    assert_eq!(
        verifier().verify("POST", "/delete", &changed, body, now),
        Err(AuthError::Signature),
        "a signed header changed"
    );
    let mut removed = headers.clone();
    removed.remove("content-type");
    assert_eq!(
        verifier().verify("POST", "/delete", &removed, body, now),
        Err(AuthError::Malformed(
            "signed header content-type is missing".into()
        ))
    );
    let ahead = signed(
        "POST",
        "http://127.0.0.1:8080/delete",
        body,
        "testing",
        now + Duration::from_secs(20 * 60),
    );
    assert!(matches!(
        verifier().verify("POST", "/delete", &ahead, body, now),
        Err(AuthError::Skew(_))
    ));
}

#[test]
fn amz_dates_are_checked_by_the_calendar() {
    // 2000-02-29 is a leap day, 2015-02-29 and 2015-02-30 are not days.
    assert_eq!(
        parse_amz_date("20000229T000000Z"),
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400))
    );
    assert_eq!(parse_amz_date("20150229T000000Z"), None);
    assert_eq!(parse_amz_date("20150230T000000Z"), None);
    assert_eq!(parse_amz_date("20150830T246000Z"), None);
    assert_eq!(parse_amz_date("2015083OT123600Z"), None);
    assert_eq!(parse_amz_date("20150830T123600"), None);
    assert_eq!(parse_amz_date("２0150830T12360Z"), None);
}
