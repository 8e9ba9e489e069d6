//! The published blueprint catalog, as the runtime reads it: the pointer key names the
//! content-addressed catalog object, which maps each deployment type to its blueprint, its
//! template key and the values of its system parameters.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::blueprint::Blueprint;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("cannot read s3://{bucket}/{key}: {message}")]
    Read {
        bucket: String,
        key: String,
        message: String,
    },
    #[error("s3://{bucket}/{key} is not a valid catalog: {message}")]
    Invalid {
        bucket: String,
        key: String,
        message: String,
    },
}

/// `catalog/current.json`: which catalog is current.
#[derive(Clone, Debug, Deserialize)]
pub struct Pointer {
    pub key: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Catalog {
    pub prefix: String,
    pub deployment_types: BTreeMap<String, DeploymentType>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentType {
    pub stack: String,
    pub template_key: String,
    pub blueprint: Blueprint,
    #[serde(default)]
    pub system_parameters: BTreeMap<String, SystemParameter>,
}

/// A platform-supplied parameter. Publishing fills in `value`.
#[derive(Clone, Debug, Deserialize)]
pub struct SystemParameter {
    pub value: Option<String>,
}

async fn get<T: serde::de::DeserializeOwned>(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<T, Error> {
    let read = |message: String| Error::Read {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        message,
    };
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| read(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()))?;
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| read(e.to_string()))?
        .into_bytes();
    serde_json::from_slice(&bytes).map_err(|e| Error::Invalid {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        message: e.to_string(),
    })
}

/// Reads the pointer, then the catalog it names.
pub async fn load(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    pointer_key: &str,
) -> Result<Catalog, Error> {
    let pointer: Pointer = get(s3, bucket, pointer_key).await?;
    get(s3, bucket, &pointer.key).await
}
