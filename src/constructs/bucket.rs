use crate::cfn::iam::{PolicyDocument, Principal, Statement};
use crate::cfn::s3::{self, bucket};
use crate::cfn::{Expr, Handle, RemovalPolicy, Template, Value};

use super::{Role, Skips};

/// A reference to a bucket, possibly one from another stack (by name), for grants.
#[derive(Clone, Debug, PartialEq)]
pub struct BucketRef {
    name: Value<String>,
    arn: Expr,
}

impl BucketRef {
    /// A bucket known by a name expression, e.g. a `Ref` to a stack parameter.
    pub fn from_name(name: Expr) -> BucketRef {
        let arn = Expr::sub_with(
            "arn:${AWS::Partition}:s3:::${Name}",
            [("Name", name.clone())],
        );
        BucketRef {
            name: name.into(),
            arn,
        }
    }

    pub fn name(&self) -> Value<String> {
        self.name.clone()
    }

    /// The ARN of the objects under `key_pattern`, e.g. `templates/*`.
    pub fn objects_arn(&self, key_pattern: &str) -> Expr {
        Expr::join("", [self.arn.clone(), Expr::lit(format!("/{key_pattern}"))])
    }

    /// Allows `s3:GetObject` on the objects under `key_pattern` only.
    pub fn grant_read(&self, role: &mut Role, key_pattern: &str) {
        role.allow(&["s3:GetObject"], [self.objects_arn(key_pattern)]);
    }
}

/// An S3 bucket: encrypted, all public access blocked, ACLs disabled, versioned, TLS-only.
#[derive(Clone, Debug, PartialEq)]
pub struct Bucket {
    id: String,
    props: s3::Bucket,
    log_target: bool,
    removal: RemovalPolicy,
    skips: Skips,
}

impl Bucket {
    pub fn new(id: &str) -> Bucket {
        let mut skips = Skips::default();
        skips.add(
            "CKV_AWS_145",
            "Encrypted at rest with SSE-S3 (AES256); SSE-KMS with a customer-managed key is an opt-in",
        );
        Bucket {
            id: id.to_owned(),
            props: s3::Bucket {
                bucket_encryption: Some(bucket::BucketEncryption::new(vec![
                    bucket::ServerSideEncryptionRule {
                        server_side_encryption_by_default: Some(
                            bucket::ServerSideEncryptionByDefault::new(
                                bucket::SseAlgorithm::Aes256,
                            ),
                        ),
                        bucket_key_enabled: Some(true.into()),
                        ..bucket::ServerSideEncryptionRule::new()
                    },
                ])),
                public_access_block_configuration: Some(bucket::PublicAccessBlockConfiguration {
                    block_public_acls: Some(true.into()),
                    block_public_policy: Some(true.into()),
                    ignore_public_acls: Some(true.into()),
                    restrict_public_buckets: Some(true.into()),
                }),
                ownership_controls: Some(bucket::OwnershipControls::new(vec![
                    bucket::OwnershipControlsRule {
                        object_ownership: Some(bucket::ObjectOwnership::BucketOwnerEnforced.into()),
                    },
                ])),
                versioning_configuration: Some(bucket::VersioningConfiguration::new(
                    bucket::VersioningConfigurationStatus::Enabled,
                )),
                lifecycle_configuration: Some(bucket::LifecycleConfiguration::new(vec![
                    bucket::Rule {
                        id: Some("expire-old-versions".into()),
                        noncurrent_version_expiration: Some(
                            bucket::NoncurrentVersionExpiration::new(90),
                        ),
                        abort_incomplete_multipart_upload: Some(
                            bucket::AbortIncompleteMultipartUpload::new(7),
                        ),
                        ..bucket::Rule::new(bucket::RuleStatus::Enabled)
                    },
                ])),
                ..s3::Bucket::new()
            },
            log_target: false,
            removal: RemovalPolicy::Retain,
            skips,
        }
    }

    /// The bucket's name, e.g. `${AWS::StackName}-files` (lowercase, at most 63 characters).
    pub fn bucket_name(mut self, name: impl Into<Value<String>>) -> Bucket {
        self.props.bucket_name = Some(name.into());
        self
    }

    /// What happens to the bucket when it leaves the stack (default: retained). A bucket
    /// deleted with its stack must be empty by then.
    pub fn removal(mut self, policy: RemovalPolicy) -> Bucket {
        self.removal = policy;
        self
    }

    /// Allows reading, writing and deleting the bucket's objects, and listing them.
    pub fn grant_read_write(&self, role: &mut Role) {
        role.allow(
            &["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            [Expr::sub(format!("${{{}.Arn}}/*", self.id))],
        );
        role.allow(&["s3:ListBucket"], [self.arn()]);
    }

    /// Writes this bucket's server access logs into `target` under `prefix`.
    pub fn access_logs_to(mut self, target: &Bucket, prefix: &str) -> Bucket {
        self.props.logging_configuration = Some(bucket::LoggingConfiguration {
            destination_bucket_name: Some(target.name().into()),
            log_file_prefix: Some(prefix.into()),
            ..bucket::LoggingConfiguration::new()
        });
        self
    }

    /// Makes this bucket a target for other buckets' access logs, and explains why it does not
    /// log its own accesses.
    pub fn log_target(mut self) -> Bucket {
        self.log_target = true;
        self.skips.add(
            "CKV_AWS_18",
            "This is the access-log bucket; logging its own accesses into itself would loop",
        );
        self
    }

    pub fn logical_id(&self) -> &str {
        &self.id
    }

    fn handle(&self) -> Handle<s3::Bucket> {
        Handle::new(&self.id)
    }

    pub fn arn(&self) -> Expr {
        self.handle().attr_arn()
    }

    pub fn name(&self) -> Expr {
        self.handle().r#ref()
    }

    pub fn as_ref(&self) -> BucketRef {
        BucketRef {
            name: self.name().into(),
            arn: self.arn(),
        }
    }

    /// Adds the bucket and its policy: deny every non-TLS request, and, for a log target, let
    /// the S3 logging service write from this account only.
    pub fn add_to(&self, t: &mut Template) {
        let options = t.add(&self.id, &self.props).removal(self.removal);
        self.skips.apply(options);

        let objects = Expr::sub(format!("${{{}.Arn}}/*", self.id));
        let mut statements = vec![
            Statement::deny(&["s3:*"], [self.arn(), objects.clone()])
                .sid("DenyInsecureTransport")
                .principal(Principal::anyone())
                .condition("Bool", "aws:SecureTransport", "false"),
        ];
        if self.log_target {
            statements.push(
                Statement::allow(&["s3:PutObject"], [objects])
                    .sid("AllowServerAccessLogs")
                    .principal(Principal::service("logging.s3.amazonaws.com"))
                    .condition("StringEquals", "aws:SourceAccount", Expr::account_id()),
            );
        }
        t.add(
            &format!("{}Policy", self.id),
            &s3::BucketPolicy::new(self.name(), PolicyDocument::new(statements)),
        );
    }
}
