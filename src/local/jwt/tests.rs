use super::*;

/// A key pair made for these tests (`openssl genpkey -algorithm RSA`), whose public half is
/// `jwks.json`; and another, in no JWKS.
const ISSUER_KEY: &[u8] = include_bytes!("fixtures/issuer.pk8");
const FOREIGN_KEY: &[u8] = include_bytes!("fixtures/foreign.pk8");
const JWKS: &str = include_str!("fixtures/jwks.json");

const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool";
const CLIENT: &str = "client123";
const NOW: u64 = 1_800_000_000;

fn jwks() -> Jwks {
    serde_json::from_str(JWKS).unwrap()
}

fn expected() -> Expected<'static> {
    Expected {
        issuer: ISSUER,
        audience: CLIENT,
    }
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// A token with `header` and `claims`, signed with `key` (PKCS#8).
fn sign(key: &[u8], header: &Value, claims: &Value) -> String {
    let pair = ring::signature::RsaKeyPair::from_pkcs8(key).unwrap();
    let signed = format!("{}.{}", b64(header), b64(claims));
    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signed.as_bytes(),
        &mut signature,
    )
    .unwrap();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn header() -> Value {
    serde_json::json!({"alg": "RS256", "kid": "silos-test", "typ": "JWT"})
}

fn claims() -> Value {
    serde_json::json!({
        "iss": ISSUER,
        "aud": CLIENT,
        "token_use": "id",
        "exp": NOW + 3600,
        "iat": NOW - 10,
        "sub": "u1",
        "custom:tenantId": "t1",
        "email_verified": true,
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

#[test]
fn a_token_of_the_issuer_for_the_client_verifies_and_its_claims_come_as_strings() {
    let token = sign(ISSUER_KEY, &header(), &claims());
    let verified = verify(&token, &jwks(), &expected(), NOW).unwrap();
    assert_eq!(verified["custom:tenantId"], "t1");
    assert_eq!(verified["email_verified"], "true");
    assert_eq!(verified["exp"], (NOW + 3600).to_string());
    // An access token names its client in client_id.
    let mut access = claims();
    access.as_object_mut().unwrap().remove("aud");
    let access = with(
        with(access, "token_use", "access".into()),
        "client_id",
        CLIENT.into(),
    );
    verify(
        &sign(ISSUER_KEY, &header(), &access),
        &jwks(),
        &expected(),
        NOW,
    )
    .unwrap();
}

#[test]
fn every_way_a_token_can_be_wrong_is_refused() {
    let jwks = jwks();
    let refused = |token: &str| verify(token, &jwks, &expected(), NOW).unwrap_err();
    let good = sign(ISSUER_KEY, &header(), &claims());

    // Expired, at the second it expires; not valid yet.
    let expired = with(claims(), "exp", NOW.into());
    assert_eq!(
        refused(&sign(ISSUER_KEY, &header(), &expired)),
        Refused::Expired
    );
    let early = with(claims(), "nbf", (NOW + 60).into());
    assert_eq!(
        refused(&sign(ISSUER_KEY, &header(), &early)),
        Refused::NotYet
    );
    // Another pool's token, another client's, or neither an ID nor an access token.
    let other_pool = with(claims(), "iss", format!("{ISSUER}x").into());
    assert!(matches!(
        refused(&sign(ISSUER_KEY, &header(), &other_pool)),
        Refused::Issuer(_)
    ));
    let other_client = with(claims(), "aud", "other".into());
    assert_eq!(
        refused(&sign(ISSUER_KEY, &header(), &other_client)),
        Refused::Audience
    );
    let refresh = with(claims(), "token_use", "refresh".into());
    assert!(matches!(
        refused(&sign(ISSUER_KEY, &header(), &refresh)),
        Refused::TokenUse(_)
    ));

    // One altered byte of the signature.
    let mut altered = good.clone().into_bytes();
    let last = altered.len() - 2;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        refused(std::str::from_utf8(&altered).unwrap()),
        Refused::Signature
    );
    // The claims edited (another tenant) under the original signature.
    let (_, signature) = good.rsplit_once('.').unwrap();
    let edited = with(claims(), "custom:tenantId", "t2".into());
    let forged = format!("{}.{}.{signature}", b64(&header()), b64(&edited));
    assert_eq!(refused(&forged), Refused::Signature);
    // Re-signed with a key not in the JWKS, under the JWKS key's kid or another.
    assert_eq!(
        refused(&sign(FOREIGN_KEY, &header(), &edited)),
        Refused::Signature
    );
    let other_kid = serde_json::json!({"alg": "RS256", "kid": "mine"});
    assert_eq!(
        refused(&sign(FOREIGN_KEY, &other_kid, &edited)),
        Refused::UnknownKey("mine".into())
    );
    // No signature algorithm at all.
    let none = format!(
        "{}.{}.",
        b64(&serde_json::json!({"alg": "none", "kid": "silos-test"})),
        b64(&edited)
    );
    assert_eq!(refused(&none), Refused::Algorithm("none".into()));
    assert!(matches!(refused("not-a-token"), Refused::Malformed(_)));
}

#[test]
fn the_bearer_scheme_is_optional_and_an_empty_header_is_no_token() {
    assert_eq!(bearer(Some("Bearer abc")), Ok("abc"));
    assert_eq!(bearer(Some("bearer  abc ")), Ok("abc"));
    assert_eq!(bearer(Some("abc")), Ok("abc"));
    assert_eq!(bearer(Some("  ")), Err(Refused::Missing));
    assert_eq!(bearer(None), Err(Refused::Missing));
}
