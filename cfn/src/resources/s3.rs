//! `AWS::S3::*`.

use serde::Serialize;

use crate::iam::PolicyDocument;
use crate::resources::Tag;
use crate::{Resource, Value};

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Bucket {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket_name: Option<Value<String>>,
    pub bucket_encryption: bucket::BucketEncryption,
    pub public_access_block_configuration: bucket::PublicAccessBlockConfiguration,
    pub ownership_controls: bucket::OwnershipControls,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versioning_configuration: Option<bucket::VersioningConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifecycle_configuration: Option<bucket::LifecycleConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging_configuration: Option<bucket::LoggingConfiguration>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

impl Resource for Bucket {
    const TYPE: &'static str = "AWS::S3::Bucket";
    const ATTRIBUTES: &'static [&'static str] = &[
        "Arn",
        "DomainName",
        "DualStackDomainName",
        "RegionalDomainName",
        "WebsiteURL",
    ];
}

pub mod bucket {
    use serde::Serialize;

    use crate::Value;

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct BucketEncryption {
        pub server_side_encryption_configuration: Vec<ServerSideEncryptionRule>,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct ServerSideEncryptionRule {
        pub server_side_encryption_by_default: ServerSideEncryptionByDefault,
        pub bucket_key_enabled: bool,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
    pub enum SseAlgorithm {
        #[serde(rename = "AES256")]
        Aes256,
        #[serde(rename = "aws:kms")]
        AwsKms,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct ServerSideEncryptionByDefault {
        #[serde(rename = "SSEAlgorithm")]
        pub sse_algorithm: SseAlgorithm,
        #[serde(rename = "KMSMasterKeyID", skip_serializing_if = "Option::is_none")]
        pub kms_master_key_id: Option<Value<String>>,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct PublicAccessBlockConfiguration {
        pub block_public_acls: bool,
        pub block_public_policy: bool,
        pub ignore_public_acls: bool,
        pub restrict_public_buckets: bool,
    }

    impl PublicAccessBlockConfiguration {
        pub fn all() -> Self {
            PublicAccessBlockConfiguration {
                block_public_acls: true,
                block_public_policy: true,
                ignore_public_acls: true,
                restrict_public_buckets: true,
            }
        }
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
    pub enum ObjectOwnership {
        BucketOwnerEnforced,
        BucketOwnerPreferred,
        ObjectWriter,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct OwnershipControls {
        pub rules: Vec<OwnershipControlsRule>,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct OwnershipControlsRule {
        pub object_ownership: ObjectOwnership,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
    pub enum VersioningStatus {
        Enabled,
        Suspended,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct VersioningConfiguration {
        pub status: VersioningStatus,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct LifecycleConfiguration {
        pub rules: Vec<Rule>,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
    pub enum RuleStatus {
        Enabled,
        Disabled,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct Rule {
        pub id: String,
        pub status: RuleStatus,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub expiration_in_days: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub noncurrent_version_expiration: Option<NoncurrentVersionExpiration>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub abort_incomplete_multipart_upload: Option<AbortIncompleteMultipartUpload>,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct NoncurrentVersionExpiration {
        pub noncurrent_days: u32,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct AbortIncompleteMultipartUpload {
        pub days_after_initiation: u32,
    }

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct LoggingConfiguration {
        pub destination_bucket_name: Value<String>,
        pub log_file_prefix: String,
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketPolicy {
    pub bucket: Value<String>,
    pub policy_document: PolicyDocument,
}

impl Resource for BucketPolicy {
    const TYPE: &'static str = "AWS::S3::BucketPolicy";
    const ATTRIBUTES: &'static [&'static str] = &[];
}
