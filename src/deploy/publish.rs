//! Publishing to the artifacts bucket, as both `silos deploy` and `silos local` do:
//! 1. each Lambda zip under `lambda/{artifact}/{sha256}.zip`;
//! 2. each tenant template under its catalog `templateKey` (also a content hash);
//! 3. the catalog, with its system parameter values and each deployment type's tenant
//!    version filled in, under `catalog/{sha256}.json`;
//! 4. the pointer `catalog/current.json`, naming that catalog.
//!
//! Objects that already exist are skipped, so publishing an unchanged app uploads nothing.

use std::collections::BTreeMap;

use aws_sdk_s3::primitives::ByteStream;
use serde_json::json;

use super::{Clients, Error, LambdaZip, sdk_message};
use crate::stacks::CATALOG_POINTER_KEY;
use crate::synth::{self, Catalog, DeploymentType, sha256_hex};

/// One object publishing wrote or found already there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    pub key: String,
    pub bytes: usize,
    /// False when the object was already in the bucket.
    pub uploaded: bool,
}

/// What publishing did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publication {
    pub bucket: String,
    pub objects: Vec<Upload>,
    /// Artifact name → its key.
    pub artifact_keys: BTreeMap<String, String>,
    /// The content-addressed key of the published catalog.
    pub catalog_key: String,
}

impl Publication {
    pub fn uploaded(&self) -> usize {
        self.objects.iter().filter(|o| o.uploaded).count()
    }
}

/// Publishes the zips, the tenant templates and the catalog of `output` to `bucket`.
pub async fn publish_app(
    clients: &Clients,
    bucket: &str,
    output: &synth::Output,
    zips: &[LambdaZip],
) -> Result<Publication, Error> {
    let mut objects = Vec::new();
    let mut artifact_keys = BTreeMap::new();
    for zip in zips {
        let key = zip.key();
        objects.push(put_if_absent(clients, bucket, &key, &zip.bytes, "application/zip").await?);
        artifact_keys.insert(zip.artifact.name.to_owned(), key);
    }

    let catalog = publish_templates(clients, bucket, output, &mut objects).await?;
    let catalog = catalog.published(bucket, &artifact_keys, tenant_version)?;
    let mut body = serde_json::to_string_pretty(&catalog).unwrap_or_default();
    body.push('\n');
    let catalog_key = format!("catalog/{}.json", sha256_hex(body.as_bytes()));
    objects.push(
        put_if_absent(
            clients,
            bucket,
            &catalog_key,
            body.as_bytes(),
            "application/json",
        )
        .await?,
    );
    objects.push(point_to(clients, bucket, &catalog_key).await?);
    Ok(Publication {
        bucket: bucket.to_owned(),
        objects,
        artifact_keys,
        catalog_key,
    })
}

/// Publishes each tenant template of `output`'s catalog under its catalog key (a content
/// hash), adding each upload to `objects`. Returns the catalog, as synth wrote it.
pub(super) async fn publish_templates(
    clients: &Clients,
    bucket: &str,
    output: &synth::Output,
    objects: &mut Vec<Upload>,
) -> Result<Catalog, Error> {
    let file = |name: &str| {
        output
            .files
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.contents.as_str())
            .ok_or_else(|| Error::MissingFile(name.to_owned()))
    };
    let catalog: Catalog =
        serde_json::from_str(file("catalog.json")?).map_err(Error::CatalogJson)?;
    for entry in catalog.deployment_types.values() {
        let body = file(&entry.template)?;
        let content_type = if entry.template.ends_with(".json") {
            "application/json"
        } else {
            "application/yaml"
        };
        objects.push(
            put_if_absent(
                clients,
                bucket,
                &entry.template_key,
                body.as_bytes(),
                content_type,
            )
            .await?,
        );
    }
    Ok(catalog)
}

/// A deployment type's tenant version (DESIGN.md section 10): a hash over its template (the
/// content-addressed template key), its blueprint and its system parameters with their values,
/// the code key included. A new template, blueprint or tenant zip makes every tenant of the
/// type outdated. serde_json sorts object keys, so the hash is stable.
pub fn tenant_version(entry: &DeploymentType) -> String {
    let basis = json!({
        "templateKey": entry.template_key,
        "blueprint": entry.blueprint,
        "systemParameters": entry.system_parameters,
    });
    sha256_hex(basis.to_string().as_bytes())
}

/// Puts `body` under `key` unless an object is already there. Keys are content hashes, so an
/// existing object has the same bytes.
pub(crate) async fn put_if_absent(
    clients: &Clients,
    bucket: &str,
    key: &str,
    body: &[u8],
    content_type: &str,
) -> Result<Upload, Error> {
    let head = clients
        .s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await;
    match head {
        Ok(_) => {
            return Ok(Upload {
                key: key.to_owned(),
                bytes: body.len(),
                uploaded: false,
            });
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {}
        Err(e) => return Err(s3_error("HeadObject", bucket, key, &e)),
    }
    put(clients, bucket, key, body, content_type).await
}

/// Writes the catalog pointer, unless it already names `catalog_key`.
async fn point_to(clients: &Clients, bucket: &str, catalog_key: &str) -> Result<Upload, Error> {
    let pointer = crate::blueprint::catalog::Pointer {
        key: catalog_key.to_owned(),
    };
    let body = format!("{}\n", serde_json::to_string(&pointer).unwrap_or_default());
    let current = clients
        .s3
        .get_object()
        .bucket(bucket)
        .key(CATALOG_POINTER_KEY)
        .send()
        .await;
    let same = match current {
        Ok(out) => out
            .body
            .collect()
            .await
            .is_ok_and(|b| b.into_bytes().as_ref() == body.as_bytes()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => false,
        Err(e) => return Err(s3_error("GetObject", bucket, CATALOG_POINTER_KEY, &e)),
    };
    if same {
        return Ok(Upload {
            key: CATALOG_POINTER_KEY.to_owned(),
            bytes: body.len(),
            uploaded: false,
        });
    }
    put(
        clients,
        bucket,
        CATALOG_POINTER_KEY,
        body.as_bytes(),
        "application/json",
    )
    .await
}

async fn put(
    clients: &Clients,
    bucket: &str,
    key: &str,
    body: &[u8],
    content_type: &str,
) -> Result<Upload, Error> {
    clients
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .map_err(|e| s3_error("PutObject", bucket, key, &e))?;
    Ok(Upload {
        key: key.to_owned(),
        bytes: body.len(),
        uploaded: true,
    })
}

fn s3_error<E, R>(
    operation: &'static str,
    bucket: &str,
    key: &str,
    e: &aws_sdk_s3::error::SdkError<E, R>,
) -> Error
where
    E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug + 'static,
{
    Error::S3 {
        operation,
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        message: sdk_message(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(template_key: &str, memory: &str, code_key: &str) -> DeploymentType {
        serde_json::from_value(json!({
            "stack": "tenant-silo",
            "templateKey": template_key,
            "blueprint": {
                "deploymentType": "silo",
                "description": "",
                "stack": "tenant-silo",
                "stackName": "silos-tenant-{{ tenant.id }}",
                "parameters": {"MemorySize": memory},
                "tags": {},
            },
            "systemParameters": {
                "CodeKey": {"source": "artifactKey", "artifact": "t", "value": code_key},
            },
        }))
        .unwrap()
    }

    #[test]
    fn the_tenant_version_follows_template_blueprint_and_code() {
        let base = tenant_version(&entry("templates/a.json", "128", "lambda/t/1.zip"));
        assert_eq!(base.len(), 64);
        assert!(base.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            base,
            tenant_version(&entry("templates/a.json", "128", "lambda/t/1.zip"))
        );
        for other in [
            entry("templates/b.json", "128", "lambda/t/1.zip"),
            entry("templates/a.json", "512", "lambda/t/1.zip"),
            entry("templates/a.json", "128", "lambda/t/2.zip"),
        ] {
            assert_ne!(base, tenant_version(&other), "{other:?}");
        }
        // Fields outside the basis (the stack's id, say) do not count.
        let mut renamed = entry("templates/a.json", "128", "lambda/t/1.zip");
        renamed.stack = "renamed".to_owned();
        assert_eq!(base, tenant_version(&renamed));
    }
}
