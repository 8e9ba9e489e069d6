//! Where the tenant API is and how to sign for it: the URL from `--api-url` (or
//! `SILOS_API_URL`), `out/outputs.json` or the deployed stack; credentials from the environment,
//! the profile or the whole default chain.

use aws_credential_types::provider::ProvideCredentials;
use std::path::Path;

use crate::cli::client::{ApiClient, Signing, is_loopback, region_of};
use crate::cli::outputs::{OUTPUTS_FILE, Outputs};
use crate::cli::{Cli, Error};

/// The API URL: `--api-url` (or `SILOS_API_URL`), then `out/outputs.json`, then the deployed
/// control-plane stack's `ApiUrl` output.
async fn api_url(cli: &Cli, given: Option<&str>) -> Result<String, Error> {
    if let Some(url) = given {
        return Ok(url.to_owned());
    }
    if let Some(url) = Outputs::read(Path::new(OUTPUTS_FILE))?.and_then(|o| o.api_url) {
        return Ok(url);
    }
    let sdk = crate::aws::load(&cli.aws_options()).await;
    let stack = format!("{}-control-plane", cli.prefix);
    let outputs = crate::deploy::Stacks::new(aws_sdk_cloudformation::Client::new(&sdk))
        .outputs(&stack)
        .await;
    outputs
        .ok()
        .flatten()
        .and_then(|mut o| o.remove("ApiUrl"))
        .ok_or_else(|| {
            Error::Usage(format!(
                "no API URL: pass --api-url, set SILOS_API_URL, or run `silos local` or `silos deploy` first (they write {OUTPUTS_FILE}); no stack {stack} with an ApiUrl output was found either"
            ))
        })
}

/// Credentials to sign with. For a loopback URL (local mode) only the environment and the
/// profile files are asked, and no credentials means unsigned requests; elsewhere the whole
/// default chain is asked, and no credentials is an error.
async fn signing(cli: &Cli, url: &str) -> Result<Option<Signing>, Error> {
    if is_loopback(url) {
        let env =
            aws_config::environment::credentials::EnvironmentVariableCredentialsProvider::new();
        let mut credentials = env.provide_credentials().await.ok();
        if credentials.is_none() {
            let mut profile = aws_config::profile::ProfileFileCredentialsProvider::builder();
            if let Some(p) = &cli.profile {
                profile = profile.profile_name(p);
            }
            credentials = profile.build().provide_credentials().await.ok();
        }
        let region = cli.region.clone().unwrap_or_else(|| "us-east-1".to_owned());
        return Ok(credentials.map(|credentials| Signing {
            credentials,
            region,
        }));
    }
    let sdk = crate::aws::load(&cli.aws_options()).await;
    let provider = sdk
        .credentials_provider()
        .ok_or(Error::NoCredentialsProvider)?;
    let credentials = provider
        .provide_credentials()
        .await
        .map_err(Error::Credentials)?;
    let region = cli
        .region
        .clone()
        .or_else(|| region_of(url).map(str::to_owned))
        .or_else(|| sdk.region().map(|r| r.to_string()))
        .ok_or_else(|| Error::Usage("no region: pass --region or set AWS_REGION".into()))?;
    Ok(Some(Signing {
        credentials,
        region,
    }))
}

/// The API client for `--api-url` (or wherever the API is found), signing when it can.
pub async fn client(cli: &Cli, given: Option<&str>) -> Result<ApiClient, Error> {
    let url = api_url(cli, given).await?;
    let signing = signing(cli, &url).await?;
    Ok(ApiClient::new(&url, signing)?)
}
