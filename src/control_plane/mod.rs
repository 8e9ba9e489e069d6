//! The control plane runtime: the tenant model and its status machine, the DynamoDB store, the
//! published catalog, provisioning, the stack-events handler and the API router. One
//! [`ControlPlane`] value serves every host (Lambda, `silos local`, tests). Uses `blueprint` and
//! the AWS SDK; never `cfn`, `constructs` or `deploy`.

pub mod api;
pub mod catalog;
pub mod cells;
pub mod drift;
pub mod events;
mod front_door;
pub mod health;
pub mod idempotency;
pub mod metrics;
pub mod moves;
mod offboarding;
mod provisioner;
pub mod reconciler;
pub mod stack_events;
pub mod store;
pub mod tenant;
pub mod updater;

use std::sync::Arc;
use std::time::Duration;

pub use front_door::TENANT_ATTRIBUTE;
use tenant::Status;

/// What the runtime needs to know. On Lambda it comes from the environment the control-plane
/// template sets (`crate::lambda::configure`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub prefix: String,
    pub tenants_table: String,
    pub artifacts_bucket: String,
    pub catalog_key: String,
    pub region: String,
    /// The role CloudFormation assumes for tenant stacks. Only provisioning needs it.
    pub provisioning_role_arn: Option<String>,
    /// How long provisioning waits for a dead stack to be deleted before re-creating it.
    pub stack_wait: Duration,
    /// How long the catalog pointer is trusted before it is read again. A published catalog
    /// is seen at most this late.
    pub catalog_ttl: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("missing environment variable {0}: the control-plane template sets it")]
pub struct MissingVariable(pub &'static str);

/// Everything that can go wrong in the control plane, mapped to HTTP statuses in one place
/// ([`api`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("tenant {0} not found")]
    NotFound(String),
    #[error("tenant {id} is {status}: {operation} needs it to be {needs}")]
    WrongStatus {
        id: String,
        status: Status,
        operation: &'static str,
        needs: &'static str,
    },
    #[error("tenant {0} has no stack")]
    NoStack(String),
    #[error(
        "tenant {0} is deleted: its stack and the resources it did not retain are gone (the delete response named any retained data table)"
    )]
    Deleted(String),
    #[error("tenantName {given:?} does not match tenant {id}")]
    NameMismatch { id: String, given: String },
    #[error("unknown deploymentType {given:?}; known: {}", known.join(", "))]
    UnknownDeploymentType { given: String, known: Vec<String> },
    #[error(transparent)]
    Catalog(#[from] catalog::Error),
    #[error("blueprint for {0}: {1}")]
    Blueprint(String, String),
    #[error("CloudFormation {operation} failed: {message}")]
    CloudFormation {
        operation: &'static str,
        message: String,
        /// The call may well succeed later: no answer, a timeout, throttling or a 5xx.
        transient: bool,
    },
    #[error(
        "deployment type {0} was published without tenant versions: publish it again (silos deploy, or restart silos local)"
    )]
    Unversioned(String),
    #[error("the upgrade was planned for version {expected}, but {published} is published now")]
    VersionMismatch { expected: String, published: String },
    #[error("stack {0} was not deleted in time")]
    Timeout(String),
    #[error(transparent)]
    NoCell(#[from] cells::NoCell),
    #[error(transparent)]
    Unreachable(#[from] cells::Unreachable),
    #[error("tenant {id} cannot move to {to}: {reason}")]
    MoveRefused {
        id: String,
        to: String,
        reason: String,
    },
    #[error(
        "moving tenant {id} from {from} to {to} would lose data: {resources}. Nothing was changed; allow data loss (--allow-data-loss, or allowDataLoss in the request) to move anyway"
    )]
    DataLoss {
        id: String,
        from: String,
        to: String,
        resources: String,
    },
}

impl Error {
    /// A CloudFormation call that may well succeed later ([`is_transient`]).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::CloudFormation {
                transient: true,
                ..
            }
        )
    }
}

type HttpResponse = aws_smithy_runtime_api::client::orchestrator::HttpResponse;

pub(crate) fn cfn_error<E>(
    operation: &'static str,
) -> impl FnOnce(aws_sdk_cloudformation::error::SdkError<E, HttpResponse>) -> Error
where
    E: std::error::Error + aws_sdk_cloudformation::error::ProvideErrorMetadata + 'static,
{
    move |e| Error::CloudFormation {
        operation,
        transient: is_transient(&e),
        message: sdk_message(&e),
    }
}

use crate::aws::sdk_message;

use crate::aws::is_transient;

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

/// The control plane: shared, cheap to clone.
#[derive(Clone)]
pub struct ControlPlane {
    inner: Arc<Inner>,
    /// The store, carrying a request's idempotency claim where there is one.
    store: store::Store,
}

struct Inner {
    catalog: catalog::Cache,
    cells: cells::Registry,
    s3: aws_sdk_s3::Client,
    settings: Settings,
    /// Local mode's base URL, under which it serves each tenant's front door
    /// (`{base}/silo/{tenantId}`); unset on AWS, where the stack's API is the front door.
    front_doors: std::sync::OnceLock<String>,
    /// The home cell's Cognito for a control plane built from bare clients (tests), which
    /// has no SDK configuration to make one from.
    home_cognito: std::sync::OnceLock<aws_sdk_cognitoidentityprovider::Client>,
    /// The fleet's metrics, for the control plane's dashboard.
    metrics: metrics::Metrics,
}

impl ControlPlane {
    pub fn new(config: &aws_config::SdkConfig, settings: Settings) -> ControlPlane {
        let s3 = crate::aws::s3_client(config);
        ControlPlane::build(
            Some(config.clone()),
            aws_sdk_dynamodb::Client::new(config),
            aws_sdk_cloudformation::Client::new(config),
            s3,
            settings,
        )
    }

    /// From clients configured by the caller (with interceptors, say). It reaches only its
    /// own cell: cells in other accounts need [`from_clients_with`](Self::from_clients_with).
    pub fn from_clients(
        dynamodb: aws_sdk_dynamodb::Client,
        cfn: aws_sdk_cloudformation::Client,
        s3: aws_sdk_s3::Client,
        settings: Settings,
    ) -> ControlPlane {
        ControlPlane::build(None, dynamodb, cfn, s3, settings)
    }

    /// As [`from_clients`](Self::from_clients), reaching cells in other accounts by assuming
    /// their access roles with `config`'s credentials.
    pub fn from_clients_with(
        config: aws_config::SdkConfig,
        dynamodb: aws_sdk_dynamodb::Client,
        cfn: aws_sdk_cloudformation::Client,
        s3: aws_sdk_s3::Client,
        settings: Settings,
    ) -> ControlPlane {
        ControlPlane::build(Some(config), dynamodb, cfn, s3, settings)
    }

    fn build(
        config: Option<aws_config::SdkConfig>,
        dynamodb: aws_sdk_dynamodb::Client,
        cfn: aws_sdk_cloudformation::Client,
        s3: aws_sdk_s3::Client,
        settings: Settings,
    ) -> ControlPlane {
        ControlPlane {
            store: store::Store::new(dynamodb, &settings.tenants_table),
            inner: Arc::new(Inner {
                catalog: catalog::Cache::default(),
                cells: cells::Registry::new(config, cfn),
                s3,
                front_doors: std::sync::OnceLock::new(),
                home_cognito: std::sync::OnceLock::new(),
                metrics: metrics::Metrics::new(&settings.prefix),
                settings,
            }),
        }
    }

    pub fn store(&self) -> &store::Store {
        &self.store
    }

    /// This control plane for one keyed request: its first write also writes `claim`.
    pub fn claiming(&self, claim: idempotency::Claim) -> ControlPlane {
        ControlPlane {
            inner: self.inner.clone(),
            store: self.store.claiming(claim),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Where the fleet's metrics go.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }

    /// This control plane, keeping the metrics it writes for a test to read
    /// (`metrics().recorded()`). Call it before cloning the control plane.
    pub fn recording_metrics(mut self) -> ControlPlane {
        let prefix = self.inner.settings.prefix.clone();
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.metrics = metrics::Metrics::recording(&prefix),
            None => tracing::warn!("recording_metrics after a clone: not recording"),
        }
        self
    }

    /// The published cells: the catalog's, or the default cell for a catalog from before
    /// cells.
    pub async fn cells(&self) -> Result<Vec<cells::Cell>, Error> {
        let catalog = self.catalog().await?;
        Ok(if catalog.cells.is_empty() {
            cells::default_cells()
        } else {
            catalog.cells.clone()
        })
    }

    /// How to reach `tenant`'s cell: its own, or the control plane's for a tenant recorded
    /// before cells.
    pub(crate) async fn reach(&self, tenant: &tenant::Tenant) -> Result<cells::Reach, Error> {
        self.reach_of(&tenant.tenant_id, tenant.cell.as_deref())
            .await
    }

    /// How to reach the cell named `cell` of tenant `tenant_id` (named in the error).
    pub(crate) async fn reach_of(
        &self,
        tenant_id: &str,
        cell: Option<&str>,
    ) -> Result<cells::Reach, Error> {
        let cell = self.cell_of(tenant_id, cell).await?;
        Ok(self.inner.cells.reach(&cell, &self.inner.settings).await?)
    }

    /// The declared cell named `cell` of tenant `tenant_id` (named in the error), or the home
    /// cell for a record written before cells.
    pub(crate) async fn cell_of(
        &self,
        tenant_id: &str,
        cell: Option<&str>,
    ) -> Result<cells::Cell, Error> {
        let cells = self.cells().await?;
        Ok(match cell {
            Some(name) => cells.into_iter().find(|c| c.name == name).ok_or_else(|| {
                cells::Unreachable::Undeclared {
                    tenant: tenant_id.to_owned(),
                    cell: name.to_owned(),
                }
            })?,
            None => cells
                .into_iter()
                .find(|c| c.is_home())
                .unwrap_or_else(cells::Cell::home),
        })
    }

    /// How to reach `cell` (local mode watches each cell's stacks through it).
    pub async fn reach_cell(&self, cell: &cells::Cell) -> Result<cells::Reach, Error> {
        Ok(self.inner.cells.reach(cell, &self.inner.settings).await?)
    }

    /// Until when cell `name`'s CloudFormation calls are paused after a throttling answer.
    pub fn paused_until(&self, name: &str) -> Option<tokio::time::Instant> {
        self.inner.cells.paused_until(name)
    }

    /// Throttling answers per cell so far (the fleet bench reports them).
    pub fn throttles(&self) -> Vec<(String, u64)> {
        self.inner.cells.throttles()
    }

    pub async fn catalog(&self) -> Result<Arc<catalog::Catalog>, Error> {
        let s = &self.inner.settings;
        Ok(self
            .inner
            .catalog
            .load(
                &self.inner.s3,
                &s.artifacts_bucket,
                &s.catalog_key,
                s.catalog_ttl,
            )
            .await?)
    }

    /// The tenant, or `NotFound`.
    pub async fn tenant(&self, id: &str) -> Result<tenant::Tenant, Error> {
        self.store()
            .get(id)
            .await?
            .ok_or_else(|| Error::NotFound(id.to_owned()))
    }
}
