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

/// A config for an emulator on `endpoint_url`, with the static credentials emulators accept.
pub fn emulator(endpoint_url: &str, region: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint_url)
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            aws_sdk_dynamodb::config::Credentials::new(
                "testing", "testing", None, None, "emulator",
            ),
        ))
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .build()
}
