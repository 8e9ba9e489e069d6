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
/// The account the emulator (moto) runs everything in for those credentials.
pub const EMULATOR_ACCOUNT: &str = "123456789012";
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
        // What aws-config's loader sets; assumed-role credentials (cells) need both.
        .time_source(aws_smithy_async::time::SystemTimeSource::new())
        .sleep_impl(aws_smithy_async::rt::sleep::SharedAsyncSleep::new(
            aws_smithy_async::rt::sleep::TokioSleep::new(),
        ))
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

/// An SDK error in one line, as a person reads it in a log, an API body or the CLI: the
/// service's code and message, or for anything else (a connection failure, a timeout, an
/// unreadable answer) each cause once, never the SDK's Debug dump of the raw response.
pub fn sdk_message<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug + 'static,
{
    match e.as_service_error() {
        Some(s) if s.code().is_some() || s.message().is_some() => match (s.code(), s.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            (None, message) => message.unwrap_or_default().to_owned(),
        },
        _ => error_chain(e),
    }
}

/// An error and its causes in one line, each said once: an SDK error's Display often repeats
/// its source's, and the sources of a connection failure nest three deep.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string().replace('\n', " ");
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// Whether an SDK error is worth retrying later: the service was not reached, did not answer
/// in time, or throttled after every retry. Anything it answered otherwise (a 4xx about the
/// request, or a 5xx) is reported as a failure, which `POST /retry` can retry.
pub fn is_transient<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    use aws_sdk_s3::error::SdkError;
    match e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => true,
        SdkError::ServiceError(_) => is_throttling(e),
        _ => false,
    }
}

/// Whether an SDK error is the service throttling the caller: the codes CloudFormation (and
/// the other query-protocol services) and the JSON protocols answer with.
pub fn is_throttling<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| {
            matches!(
                c,
                "Throttling" | "ThrottlingException" | "RequestLimitExceeded"
            )
        })
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

/// How long a poll waits between probes: `first`, then each wait `factor` times the one
/// before, never more than `max`. A `factor` of 1 polls at a constant `first`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub first: std::time::Duration,
    pub factor: u32,
    pub max: std::time::Duration,
}

impl Backoff {
    /// Doubles from `first` up to `max`.
    pub const fn doubling(first: std::time::Duration, max: std::time::Duration) -> Self {
        Backoff {
            first,
            factor: 2,
            max,
        }
    }

    /// Always `every`.
    pub const fn constant(every: std::time::Duration) -> Self {
        Backoff {
            first: every,
            factor: 1,
            max: every,
        }
    }

    /// The wait after `wait`.
    fn next(&self, wait: std::time::Duration) -> std::time::Duration {
        wait.saturating_mul(self.factor).min(self.max)
    }
}

/// Why [`poll_until`] gave up.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PollError<E> {
    /// A probe failed; polling stops at the first error.
    #[error(transparent)]
    Probe(E),
    /// The deadline passed before a probe said done.
    #[error("not done after {} s", waited.as_secs())]
    Timeout { waited: std::time::Duration },
}

/// Probes until `probe` says done (`Ok(Some(_))`), fails (`Err(_)`), or `deadline` passes.
/// The first probe is at once; between probes it waits as `policy` says, never past the
/// deadline. A probe that says not yet (`Ok(None)`) at or after the deadline is a
/// [`PollError::Timeout`] with how long it polled.
pub async fn poll_until<T, E, F, Fut>(
    policy: &Backoff,
    deadline: impl Into<tokio::time::Instant>,
    mut probe: F,
) -> Result<T, PollError<E>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, E>>,
{
    let deadline = deadline.into();
    let started = tokio::time::Instant::now();
    let mut wait = policy.first;
    loop {
        if let Some(done) = probe().await.map_err(PollError::Probe)? {
            return Ok(done);
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(PollError::Timeout {
                waited: now - started,
            });
        }
        tokio::time::sleep(wait.min(deadline - now)).await;
        wait = policy.next(wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;
    use tokio::time::Instant;

    const MS: Duration = Duration::from_millis(1);

    /// Polls with `policy` and a deadline `limit` away, with a probe that says done at its
    /// `done_at`-th call (1-based; never if `None`); returns the outcome and the times (ms
    /// since the start) of the probes.
    async fn check(
        policy: Backoff,
        limit: Duration,
        done_at: Option<usize>,
    ) -> (Result<usize, PollError<String>>, Vec<u128>) {
        let start = Instant::now();
        let probes = Mutex::new(Vec::new());
        let result = poll_until(&policy, start + limit, || {
            let mut probes = probes.lock().unwrap();
            probes.push(start.elapsed().as_millis());
            let n = probes.len();
            async move { Ok((Some(n) == done_at).then_some(n)) }
        })
        .await;
        (result, probes.into_inner().unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn done_at_once() {
        let (result, probes) = check(Backoff::constant(MS * 100), MS * 1000, Some(1)).await;
        assert_eq!(result, Ok(1));
        assert_eq!(probes, [0]);
    }

    #[tokio::test(start_paused = true)]
    async fn doubling_waits_up_to_max() {
        let policy = Backoff::doubling(MS * 200, MS * 1000);
        let (result, probes) = check(policy, MS * 60_000, Some(6)).await;
        assert_eq!(result, Ok(6));
        // Waits of 200, 400, 800, 1000, 1000 ms.
        assert_eq!(probes, [0, 200, 600, 1400, 2400, 3400]);
    }

    #[tokio::test(start_paused = true)]
    async fn constant_waits() {
        let (result, probes) = check(Backoff::constant(MS * 2000), MS * 60_000, Some(3)).await;
        assert_eq!(result, Ok(3));
        assert_eq!(probes, [0, 2000, 4000]);
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_cuts_the_last_wait_short_and_times_out() {
        let policy = Backoff::doubling(MS * 200, MS * 5000);
        let (result, probes) = check(policy, MS * 1000, None).await;
        assert_eq!(result, Err(PollError::Timeout { waited: MS * 1000 }));
        // 200, 400, then the 800 ms wait stops at the deadline for one last probe.
        assert_eq!(probes, [0, 200, 600, 1000]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_error_passes_through() {
        let calls = Mutex::new(0);
        let result: Result<(), _> = poll_until(
            &Backoff::constant(MS * 10),
            Instant::now() + MS * 1000,
            || {
                *calls.lock().unwrap() += 1;
                async { Err::<Option<()>, _>("AccessDenied") }
            },
        )
        .await;
        assert_eq!(result, Err(PollError::Probe("AccessDenied")));
        assert_eq!(*calls.lock().unwrap(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_passed_deadline_still_probes_once() {
        let (result, probes) = check(Backoff::constant(MS * 100), Duration::ZERO, None).await;
        assert_eq!(
            result,
            Err(PollError::Timeout {
                waited: Duration::ZERO
            })
        );
        assert_eq!(probes, [0]);
    }
}
