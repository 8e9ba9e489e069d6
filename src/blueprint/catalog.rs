//! The blueprint catalog (DESIGN.md section 10): one contract, one type. Synth writes it
//! (`catalog.json`), deploy and local mode publish it with the system parameters' values and
//! each deployment type's tenant version filled in, and the runtime reads the published one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Blueprint;

/// The catalog pointer (`catalog/current.json`): which catalog is current. Deploy and local
/// mode write it, the runtime reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pointer {
    pub key: String,
}

/// `catalog.json`: each deployment type's blueprint, template and system parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Catalog {
    #[serde(default)]
    pub version: u32,
    pub prefix: String,
    pub deployment_types: BTreeMap<String, DeploymentType>,
    /// Where tenants are placed ([`super::cells`]). A catalog published before cells has
    /// none, which means the default cell.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cells: Vec<super::cells::Cell>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentType {
    #[serde(default)]
    pub description: String,
    pub stack: String,
    #[serde(default)]
    pub template: String,
    #[serde(default)]
    pub template_sha256: String,
    /// The content-addressed key of the template in the artifacts bucket.
    pub template_key: String,
    pub blueprint: Blueprint,
    /// Parameter name → where the platform takes its value from (and, once published, the
    /// value).
    #[serde(default)]
    pub system_parameters: BTreeMap<String, SystemParameter>,
    /// The tenant version publishing computed: a hash over the template, the blueprint and
    /// the system parameters. A catalog published before versions existed has none, and its
    /// tenants cannot be upgraded until it is published again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Each resource of the template by logical id, as a tier move's plan reads it
    /// ([`super::moves`]). A catalog written before moves has none, and no tenant moves from
    /// or to its types until it is published again. Not part of the version: it is derived
    /// from the template.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resources: BTreeMap<String, super::moves::ResourceSummary>,
}

/// A parameter the platform supplies: where from, and, once published, its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemParameter {
    #[serde(flatten)]
    pub source: Source,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "source")]
pub enum Source {
    /// The artifacts bucket's name.
    ArtifactsBucket,
    /// The key of a published artifact.
    ArtifactKey { artifact: String },
}

/// A system parameter names an artifact that was not published.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "deployment type {deployment_type}: parameter {parameter} needs artifact {artifact:?}, which was not published"
)]
pub struct UnpublishedArtifact {
    pub deployment_type: String,
    pub parameter: String,
    pub artifact: String,
}

impl Catalog {
    /// The catalog as published: system parameters filled in from the bucket and the
    /// artifact keys, and each deployment type's tenant version. Fails naming an artifact a
    /// parameter needs that was not published.
    pub fn published(
        mut self,
        bucket: &str,
        artifact_keys: &BTreeMap<String, String>,
        version: impl Fn(&DeploymentType) -> String,
    ) -> Result<Catalog, UnpublishedArtifact> {
        for (name, entry) in &mut self.deployment_types {
            for (param, p) in &mut entry.system_parameters {
                p.value = Some(match &p.source {
                    Source::ArtifactsBucket => bucket.to_owned(),
                    Source::ArtifactKey { artifact } => artifact_keys
                        .get(artifact)
                        .cloned()
                        .ok_or_else(|| UnpublishedArtifact {
                            deployment_type: name.clone(),
                            parameter: param.clone(),
                            artifact: artifact.clone(),
                        })?,
                });
            }
            entry.version = Some(version(entry));
        }
        Ok(self)
    }
}
