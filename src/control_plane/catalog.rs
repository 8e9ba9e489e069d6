//! The published blueprint catalog, as the runtime reads it: the pointer key names the
//! content-addressed catalog object, which maps each deployment type to its blueprint, its
//! template key and the values of its system parameters. The type is the one synth writes and
//! deploy publishes ([`crate::blueprint::catalog`]).

pub use crate::blueprint::catalog::{Catalog, DeploymentType, Pointer, SystemParameter};

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

impl Catalog {
    /// The entry of deployment type `name`, or `UnknownDeploymentType` naming the known ones.
    pub fn deployment_type(&self, name: &str) -> Result<&DeploymentType, super::Error> {
        self.deployment_types
            .get(name)
            .ok_or_else(|| super::Error::UnknownDeploymentType {
                given: name.to_owned(),
                known: self.deployment_types.keys().cloned().collect(),
            })
    }
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
        .map_err(|e| read(crate::aws::sdk_message(&e)))?;
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

/// The last catalog read. Catalogs are content-addressed, so a catalog is read once per key;
/// the pointer is read again once it is older than the cache's time to live.
#[derive(Debug, Default)]
pub struct Cache {
    last: std::sync::Mutex<Option<Cached>>,
}

#[derive(Debug)]
struct Cached {
    key: String,
    pointer_read: std::time::Instant,
    catalog: std::sync::Arc<Catalog>,
}

impl Cache {
    /// The current catalog, reading at most the pointer when the cached one is older than
    /// `ttl`, and the catalog only when the pointer names another key.
    pub async fn load(
        &self,
        s3: &aws_sdk_s3::Client,
        bucket: &str,
        pointer_key: &str,
        ttl: std::time::Duration,
    ) -> Result<std::sync::Arc<Catalog>, Error> {
        let fresh = |c: &Cached| c.pointer_read.elapsed() < ttl;
        if let Some(c) = self.last.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
            && fresh(c)
        {
            return Ok(c.catalog.clone());
        }
        let pointer: Pointer = get(s3, bucket, pointer_key).await?;
        let known = self
            .last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .filter(|c| c.key == pointer.key)
            .map(|c| c.catalog.clone());
        let catalog = match known {
            Some(c) => c,
            None => std::sync::Arc::new(get::<Catalog>(s3, bucket, &pointer.key).await?),
        };
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(Cached {
            key: pointer.key,
            pointer_read: std::time::Instant::now(),
            catalog: catalog.clone(),
        });
        Ok(catalog)
    }
}
