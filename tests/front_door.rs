//! A silo its tenant's users can reach, and only they: local mode's front doors end to end,
//! over plain HTTP, with tokens from the emulator's Cognito (each tenant stack's own user pool
//! and app client, created by the emulator launcher). Every way in that is not the tenant's own
//! user is refused: another tenant's token, no token, an altered signature, another pool's
//! token, an expired one, edited claims re-signed with a key not in the JWKS; and a token that
//! passes the authorizer but names another tenant is refused by the function itself.

mod common;

use std::collections::BTreeSet;

use aws_sdk_cognitoidentityprovider::types::{AttributeType, AuthFlowType};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::local::Local;
use serde_json::{Value, json};

const PASSWORD: &str = "Correct-Horse-Battery-9";

/// A tenant's front door and directory, from its stack's outputs.
struct Silo {
    id: String,
    endpoint: String,
    pool: String,
    client: String,
    issuer: String,
}

async fn silo(local: &Local, id: &str) -> Silo {
    let cfn = aws_sdk_cloudformation::Client::new(&local.sdk_config());
    let described = cfn
        .describe_stacks()
        .stack_name(format!("silos-tenant-{id}"))
        .send()
        .await
        .unwrap();
    let output = |key: &str| {
        described.stacks()[0]
            .outputs()
            .iter()
            .find(|o| o.output_key() == Some(key))
            .and_then(|o| o.output_value())
            .unwrap_or_else(|| panic!("no output {key}"))
            .to_owned()
    };
    Silo {
        id: id.to_owned(),
        endpoint: format!("{}/silo/{id}", local.api_url),
        pool: output("UserPoolId"),
        client: output("UserPoolClientId"),
        issuer: output("Issuer"),
    }
}

/// Invites `email` into the silo's directory as its tenant's user, sets a password, signs in,
/// and returns the ID token.
async fn sign_in(local: &Local, silo: &Silo, email: &str) -> String {
    let idp = aws_sdk_cognitoidentityprovider::Client::new(&local.sdk_config());
    let attribute = |name: &str, value: &str| {
        AttributeType::builder()
            .name(name)
            .value(value)
            .build()
            .unwrap()
    };
    let created = idp
        .admin_create_user()
        .user_pool_id(&silo.pool)
        .username(email)
        .user_attributes(attribute("email", email))
        .user_attributes(attribute("email_verified", "true"))
        .user_attributes(attribute("custom:tenantId", &silo.id))
        .send()
        .await;
    // The tenant's administrator, invited by the control plane, is there already.
    if let Err(e) = created {
        assert!(
            e.as_service_error()
                .is_some_and(|s| s.is_username_exists_exception()),
            "{e:?}"
        );
    }
    idp.admin_set_user_password()
        .user_pool_id(&silo.pool)
        .username(email)
        .password(PASSWORD)
        .permanent(true)
        .send()
        .await
        .unwrap();
    let auth = idp
        .admin_initiate_auth()
        .user_pool_id(&silo.pool)
        .client_id(&silo.client)
        .auth_flow(AuthFlowType::AdminUserPasswordAuth)
        .auth_parameters("USERNAME", email)
        .auth_parameters("PASSWORD", PASSWORD)
        .send()
        .await
        .unwrap();
    auth.authentication_result()
        .and_then(|r| r.id_token())
        .expect("an ID token")
        .to_owned()
}

/// One plain HTTP request: the status and the JSON body (Null when empty).
async fn call(url: &str, method: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    use http_body_util::{BodyExt, Full};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    let mut request = http::Request::builder().method(method).uri(url);
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = request
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from(body)))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)))
    };
    (status, value)
}

fn keys(listing: &Value) -> BTreeSet<String> {
    listing["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {listing}"))
        .iter()
        .map(|i| i["key"].as_str().unwrap().to_owned())
        .collect()
}

/// moto's Cognito signs every pool's tokens with one key, which it ships (n, e and d only):
/// with it a test signs a token the JWKS verifies, with any claims. The primes ring needs are
/// recovered by the `cryptography` package moto depends on, in the emulator's Python.
fn moto_key() -> ring::signature::RsaKeyPair {
    const SCRIPT: &str = r#"
import base64, gzip, json, os, sys
import moto.cognitoidp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
path = os.path.join(os.path.dirname(moto.cognitoidp.__file__), "resources", "jwks-private.json.gz")
key = json.load(gzip.open(path))
num = lambda s: int.from_bytes(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)), "big")
n, e, d = num(key["n"]), num(key["e"]), num(key["d"])
p, q = rsa.rsa_recover_prime_factors(n, e, d)
private = rsa.RSAPrivateNumbers(
    p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q),
    rsa.RSAPublicNumbers(e, n),
).private_key()
sys.stdout.write(private.private_bytes(
    serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption(),
).hex())
"#;
    let hex = common::python(SCRIPT, &[]);
    let der: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    ring::signature::RsaKeyPair::from_pkcs8(&der).unwrap()
}

/// A token over `claims` under `kid`, signed with `key`.
fn sign(key: &ring::signature::RsaKeyPair, kid: &str, claims: &Value) -> String {
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let signed = format!(
        "{}.{}",
        b64(&json!({"alg": "RS256", "kid": kid})),
        b64(claims)
    );
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signed.as_bytes(),
        &mut signature,
    )
    .unwrap();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn claims_of(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// `silos tenants ARGS --output json` against local mode's API and emulator, with the password
/// on standard input (for `--password-stdin`) and in `SILOS_USER_PASSWORD`: the JSON, or the
/// exit code and the error line.
fn cli(local: &Local, args: &[&str]) -> Result<Value, (Option<i32>, String)> {
    use std::io::Write;
    let mut all = vec![
        "tenants",
        "--api-url",
        &local.api_url,
        "--endpoint-url",
        &local.endpoint,
    ];
    all.extend(args);
    all.extend(["--output", "json"]);
    let mut child = local
        .command(&all, Some(("testing", "testing")))
        .env("SILOS_USER_PASSWORD", PASSWORD)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout))))
    } else {
        Err((
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ))
    }
}

/// `tenants info` once the tenant's record has its front door (the provisioner writes it
/// just after the tenant is running).
fn wait_for_front_door(local: &Local, id: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let info = local.json(&["info", id]);
        if !info["tenant"]["endpoint"].is_null() {
            return info;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no front door recorded: {info}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn a_tenant_s_user_reaches_only_their_own_silo_and_every_other_token_is_refused() {
    let local = Local::start();
    let a = local.json(&["create", "Acme", "--admin-email", "admin@acme.example"]);
    assert_eq!(a["adminEmail"], "admin@acme.example", "{a}");
    let a = a["tenantId"].as_str().unwrap().to_owned();
    let b = local.create("Globex");
    local.wait(&a, "running");
    local.wait(&b, "running");
    let (a, b) = (silo(&local, &a).await, silo(&local, &b).await);
    assert_ne!(a.pool, b.pool, "each tenant has a directory of its own");

    // The record says where the silo is and who signs its users in, once the control plane
    // has read the stack's outputs; the administrator is invited, as A's user.
    let record = wait_for_front_door(&local, &a.id);
    assert_eq!(record["tenant"]["endpoint"], a.endpoint.as_str());
    assert_eq!(
        record["tenant"]["identity"],
        json!({"userPoolId": a.pool, "clientId": a.client, "issuer": a.issuer})
    );
    assert_eq!(record["tenant"]["adminInviteError"], Value::Null);
    let idp = aws_sdk_cognitoidentityprovider::Client::new(&local.sdk_config());
    let admin = idp
        .admin_get_user()
        .user_pool_id(&a.pool)
        .username("admin@acme.example")
        .send()
        .await
        .expect("the administrator is invited");
    let tenant_of = admin
        .user_attributes()
        .iter()
        .find(|at| at.name() == "custom:tenantId")
        .and_then(|at| at.value());
    assert_eq!(tenant_of, Some(a.id.as_str()));
    let globex = wait_for_front_door(&local, &b.id);
    assert_eq!(globex["tenant"]["adminEmail"], Value::Null);
    let token_a = sign_in(&local, &a, "admin@acme.example").await;
    let token_b = sign_in(&local, &b, "admin@globex.example").await;
    assert_eq!(claims_of(&token_a)["custom:tenantId"], a.id);

    // A's admin writes, and reads back exactly A's items; B's writes stay B's.
    let item = |k: &str| format!("{}/items/{k}", a.endpoint);
    for k in ["k1", "k2"] {
        let (status, body) = call(&item(k), "PUT", Some(&token_a), Some(json!({"n": k}))).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _) = call(
        &format!("{}/items/theirs", b.endpoint),
        "PUT",
        Some(&token_b),
        Some(json!({"n": 1})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, listing) = call(
        &format!("{}/items", a.endpoint),
        "GET",
        Some(&token_a),
        None,
    )
    .await;
    assert_eq!(status, 200, "{listing}");
    assert_eq!(
        keys(&listing),
        BTreeSet::from(["k1".to_owned(), "k2".to_owned()])
    );
    let (status, about) = call(&a.endpoint, "GET", Some(&token_a), None).await;
    assert_eq!(
        (status, about["tenantId"].as_str()),
        (200, Some(a.id.as_str())),
        "{about}"
    );

    // Refused at the door (401), before the function.
    let items_a = format!("{}/items", a.endpoint);
    let refused = |status: u16, body: &Value, what: &str| {
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["message"], "Unauthorized", "{what}");
    };
    let (s, body) = call(
        &format!("{}/items", b.endpoint),
        "GET",
        Some(&token_a),
        None,
    )
    .await;
    refused(s, &body, "A's token at B's door");
    let (s, body) = call(&items_a, "GET", Some(&token_b), None).await;
    refused(s, &body, "another pool's token");
    let (s, body) = call(&items_a, "GET", None, None).await;
    refused(s, &body, "no token");
    let mut altered = token_a.clone().into_bytes();
    let at = altered.len() - 3;
    altered[at] = if altered[at] == b'x' { b'y' } else { b'x' };
    let (s, body) = call(
        &items_a,
        "GET",
        Some(std::str::from_utf8(&altered).unwrap()),
        None,
    )
    .await;
    refused(s, &body, "an altered signature");

    let moto = moto_key();
    let kid = "dummy";
    let mut expired = claims_of(&token_a);
    expired["exp"] = json!(now() - 60);
    expired["iat"] = json!(now() - 3660);
    let (s, body) = call(&items_a, "GET", Some(&sign(&moto, kid, &expired)), None).await;
    refused(s, &body, "an expired token, properly signed");
    let mut edited = claims_of(&token_a);
    edited["custom:tenantId"] = json!(b.id);
    let foreign = ring::signature::RsaKeyPair::from_pkcs8(include_bytes!(
        "../src/local/jwt/fixtures/foreign.pk8"
    ))
    .unwrap();
    let (s, body) = call(&items_a, "GET", Some(&sign(&foreign, kid, &edited)), None).await;
    refused(
        s,
        &body,
        "edited claims re-signed with a key not in the JWKS",
    );

    // Past the door, the function checks again: a token the JWKS verifies, for A's pool and
    // client, that names B, is refused by A's function (403).
    let (s, body) = call(&items_a, "GET", Some(&sign(&moto, kid, &edited)), None).await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(body["error"]["code"], "Forbidden");
    // An undeclared route is the gateway's 404.
    let (s, _) = call(
        &format!("{}/admin", a.endpoint),
        "GET",
        Some(&token_a),
        None,
    )
    .await;
    assert_eq!(s, 404);
    assert_eq!(a.issuer, claims_of(&token_a)["iss"]);

    // Through the CLI, as a user tries a silo: add a user with a password, list the users,
    // sign in, call the front door; remove the user, whose sign-in then fails.
    let added = cli(
        &local,
        &[
            "users",
            "add",
            &b.id,
            "dev@globex.example",
            "--password-stdin",
        ],
    );
    assert_eq!(added.unwrap()["invited"], false);
    let listed = cli(&local, &["users", "list", &b.id]).unwrap();
    let emails: BTreeSet<&str> = listed["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        BTreeSet::from(["admin@globex.example", "dev@globex.example"])
    );
    assert!(
        listed["users"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["tenantId"] == b.id.as_str())
    );
    let token = cli(&local, &["token", &b.id, "--user", "dev@globex.example"]).unwrap();
    let token = token["idToken"].as_str().unwrap().to_owned();
    assert_eq!(claims_of(&token)["custom:tenantId"], b.id);
    let put = cli(
        &local,
        &[
            "call",
            &b.id,
            "PUT",
            "/items/cli",
            "--data",
            r#"{"via":"cli"}"#,
            "--user",
            "dev@globex.example",
        ],
    )
    .unwrap();
    assert_eq!(put, json!({"key": "cli", "value": {"via": "cli"}}));
    let listing = cli(
        &local,
        &[
            "call",
            &b.id,
            "get",
            "/items",
            "--user",
            "dev@globex.example",
        ],
    )
    .unwrap();
    assert_eq!(
        keys(&listing),
        BTreeSet::from(["cli".to_owned(), "theirs".to_owned()])
    );
    // The gateway's refusal (an undeclared route) is one line and exit code 1.
    let refused = cli(
        &local,
        &[
            "call",
            &b.id,
            "GET",
            "/nope",
            "--user",
            "dev@globex.example",
        ],
    );
    let (code, message) = refused.unwrap_err();
    assert_eq!(code, Some(1), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");
    let bad = cli(
        &local,
        &[
            "call",
            &b.id,
            "PUT",
            "/items/x",
            "--data",
            "{nope",
            "--user",
            "dev@globex.example",
        ],
    );
    assert!(bad.unwrap_err().1.contains("--data is not JSON"));
    cli(&local, &["users", "remove", &b.id, "dev@globex.example"]).unwrap();
    let gone = cli(&local, &["token", &b.id, "--user", "dev@globex.example"]);
    assert!(gone.unwrap_err().1.contains("AdminInitiateAuth"));

    // Offboarding removes the front door and the directory: A's token fails afterwards.
    local.json(&["delete", &a.id]);
    local.wait(&a.id, "deleted");
    let (s, _) = call(&items_a, "GET", Some(&token_a), None).await;
    assert_eq!(s, 404, "a token issued before offboarding");
    let gone = idp.describe_user_pool().user_pool_id(&a.pool).send().await;
    assert!(gone.is_err(), "the directory is deleted with the stack");
    let (s, _) = call(
        &format!("{}/items", b.endpoint),
        "GET",
        Some(&token_b),
        None,
    )
    .await;
    assert_eq!(s, 200, "B is untouched");
}

/// The claim that names a user's tenant is declared by the directory (constructs), checked by
/// the tenant function, and set by the control plane's invitation: one name.
#[test]
fn the_tenant_claim_has_one_name_in_the_directory_the_function_and_the_invitation() {
    assert_eq!(silos::constructs::TENANT_CLAIM, "custom:tenantId");
    assert_eq!(
        silos::tenant_function::TENANT_CLAIM,
        silos::constructs::TENANT_CLAIM
    );
    assert_eq!(
        silos::control_plane::TENANT_ATTRIBUTE,
        silos::constructs::TENANT_CLAIM
    );
}
