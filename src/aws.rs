//! AWS SDK client setup, the AWS CLI's way: `--profile`/`AWS_PROFILE`, `--region`/`AWS_REGION`,
//! `--endpoint-url`/`AWS_ENDPOINT_URL` (for emulators), and the default credential chain. Every
//! client gets the SDK's standard retry mode: exponential backoff with jitter, throttling errors
//! included, bounded attempts.

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

/// How many attempts a call gets before its error is reported.
pub const MAX_ATTEMPTS: u32 = 5;

/// Explicit settings; anything left `None` comes from the environment and profile files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

pub async fn load(options: &Options) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
    if let Some(p) = &options.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = &options.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(e) = &options.endpoint_url {
        loader = loader.endpoint_url(e);
    }
    loader.load().await
}

/// The static credentials emulators accept (and `silos local --require-auth` verifies).
pub const EMULATOR_ACCESS_KEY: &str = "testing";
pub const EMULATOR_SECRET_KEY: &str = "testing";

/// A config for an emulator on `endpoint_url`, with the static credentials emulators accept.
pub fn emulator(endpoint_url: &str, region: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint_url)
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            aws_sdk_dynamodb::config::Credentials::new(
                EMULATOR_ACCESS_KEY,
                EMULATOR_SECRET_KEY,
                None,
                None,
                "emulator",
            ),
        ))
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .build()
}

/// The S3 client: path-style addressing when an endpoint URL points at an emulator, AWS's
/// virtual-hosted style otherwise.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build(),
    )
}

/// The URL CloudFormation reads a template from: the AWS form, which the emulator accepts too
/// (it refuses a `127.0.0.1` URL).
pub fn s3_url(bucket: &str, region: &str, key: &str) -> String {
    format!("https://{bucket}.s3.{region}.amazonaws.com/{key}")
}

/// An SDK error in one line: the service's code and message, or for anything else (a
/// connection failure, a timeout) the whole chain of causes.
pub fn sdk_message<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match e.as_service_error() {
        Some(s) if s.code().is_some() || s.message().is_some() => match (s.code(), s.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            (None, message) => message.unwrap_or_default().to_owned(),
        },
        _ => aws_sdk_s3::error::DisplayErrorContext(e)
            .to_string()
            .replace('\n', " "),
    }
}

/// Whether CloudFormation answered that the stack does not exist (DescribeStacks and friends
/// say so with a ValidationError).
pub fn is_missing_stack<E, R>(e: &aws_sdk_cloudformation::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_cloudformation::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|s| s.message())
        .is_some_and(|m| m.contains("does not exist"))
}

/// Whether a change set's status reason, or an UpdateStack error, says nothing would change.
pub fn no_changes(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

/// The service name requests to API Gateway are signed for.
pub const EXECUTE_API: &str = "execute-api";

#[derive(Debug, thiserror::Error)]
#[error("cannot sign the request: {0}")]
pub struct SignError(String);

/// Signs `request` in place with SigV4 for `execute-api` in `region`, the way API Gateway's
/// `AWS_IAM` authorization expects: `x-amz-date`, `authorization` and, for temporary
/// credentials, `x-amz-security-token`.
pub fn sign(
    request: &mut http::Request<Vec<u8>>,
    credentials: aws_credential_types::Credentials,
    region: &str,
    time: std::time::SystemTime,
) -> Result<(), SignError> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let err = |e: &dyn std::fmt::Display| SignError(e.to_string());
    let identity = credentials.into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(EXECUTE_API)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| err(&e))?
        .into();
    let headers: Vec<(&str, &str)> = request
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
        .collect();
    let uri = request.uri().to_string();
    let signable = SignableRequest::new(
        request.method().as_str(),
        &uri,
        headers.into_iter(),
        SignableBody::Bytes(request.body()),
    )
    .map_err(|e| err(&e))?;
    let (instructions, _signature) = sign(signable, &params).map_err(|e| err(&e))?.into_parts();
    instructions.apply_to_request_http1x(request);
    Ok(())
}
