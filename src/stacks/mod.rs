//! The product's stacks: the toolkit (artifacts bucket), the control plane (in an AWS and a
//! local variant) and the tenant stacks that blueprints instantiate.

mod app;
pub mod cell;
mod control_plane;
mod event_sources;
pub mod names;
pub mod provisioning;
mod tenant_silo;
mod toolkit;

use serde::Serialize;

use crate::cfn::{Delivery, Template};

pub use app::{App, AppError, TenantContext};
pub use control_plane::{
    CATALOG_POINTER_KEY, STATUS_INDEX, control_plane, dashboard_body, dashboard_name,
};
pub use tenant_silo::{Silo, TENANT_ROUTES, outputs as tenant_outputs, tenant_silo};
pub use toolkit::toolkit;

/// Settings that shape every stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    prefix: String,
    sbt_aws_event_names: bool,
    drift_interval: std::time::Duration,
}

/// How often the scheduled pass checks every tenant's stack for drift, unless the app says
/// otherwise ([`Config::with_drift_interval`]): daily.
pub const DEFAULT_DRIFT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(86_400);

/// Where the control plane runs, which decides what its template holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// Everything: API, functions, stream subscription, event rule.
    Aws,
    /// Only the state an emulator can host (table, provisioning role). The API and the
    /// processors run in-process under `silos local`.
    Local,
}

/// What a tenant stack's id ends with in its variant that deletes tenant data on offboarding.
pub const DELETE_DATA_SUFFIX: &str = "-delete-data";

/// The blueprint's data policy, which picks a tenant stack's variant.
pub use crate::blueprint::TenantData;

impl TenantData {
    /// The removal policy of tenant data resources (tables, buckets) under this policy.
    pub fn removal(self) -> crate::cfn::RemovalPolicy {
        match self {
            TenantData::Retain => crate::cfn::RemovalPolicy::RetainExceptOnCreate,
            TenantData::Delete => crate::cfn::RemovalPolicy::Delete,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Toolkit,
    ControlPlane,
    Tenant,
    /// Deployed into each cell by `silos cells bootstrap`, never by `deploy`.
    Cell,
}

/// A Lambda artifact deploy must build and publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    pub name: &'static str,
    /// The binary that becomes the zip's `bootstrap`.
    pub binary: &'static str,
    pub description: &'static str,
}

pub const CONTROL_PLANE_ARTIFACT: Artifact = Artifact {
    name: "control-plane",
    binary: "silos-lambda",
    description: "The control plane's API, provisioner and stack-events handler",
};

pub const TENANT_ARTIFACT: Artifact = Artifact {
    name: "tenant-function",
    binary: "silos-tenant-handler",
    description: "The function inside each tenant silo",
};

/// A stack parameter whose value comes from a published artifact: its bucket and key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactParameters {
    /// Written as the artifact's name.
    #[serde(serialize_with = "artifact_name")]
    pub artifact: Artifact,
    pub bucket_parameter: &'static str,
    pub key_parameter: &'static str,
}

fn artifact_name<S: serde::Serializer>(a: &Artifact, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(a.name)
}

/// A synthesized stack and what deploy needs to know about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Stack {
    /// The name in `out/` and the manifest: `toolkit`, `control-plane`, `tenant-silo`, ...
    pub id: String,
    /// The deployed stack name, or None for tenant stacks (blueprints name those).
    pub stack_name: Option<String>,
    pub kind: Kind,
    pub target: Option<Target>,
    pub delivery: Delivery,
    pub template: Template,
    /// Parameters the platform fills from artifacts, never a user or a blueprint.
    pub artifacts: Vec<ArtifactParameters>,
}

impl Stack {
    /// Names of parameters the platform supplies (the "system parameters" of a tenant stack).
    pub fn system_parameters(&self) -> Vec<&'static str> {
        self.artifacts
            .iter()
            .flat_map(|a| [a.bucket_parameter, a.key_parameter])
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid prefix {0:?}: use 1 to 20 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen"
)]
pub struct InvalidPrefix(pub String);

impl Config {
    pub fn new(prefix: &str) -> Result<Config, InvalidPrefix> {
        let ok = (1..=20).contains(&prefix.len())
            && prefix.starts_with(|c: char| c.is_ascii_lowercase())
            && !prefix.ends_with('-')
            && prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok {
            Ok(Config {
                prefix: prefix.to_owned(),
                sbt_aws_event_names: false,
                drift_interval: DEFAULT_DRIFT_INTERVAL,
            })
        } else {
            Err(InvalidPrefix(prefix.to_owned()))
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The prefix every tenant stack name starts with: `{prefix}-tenant-`.
    pub fn tenant_stack_prefix(&self) -> String {
        format!("{}-tenant-", self.prefix)
    }

    /// Publish lifecycle events under sbt-aws's detail types (`onboardingRequest`, ...)
    /// where it has them, instead of ours.
    pub fn with_sbt_aws_event_names(mut self) -> Config {
        self.sbt_aws_event_names = true;
        self
    }

    /// How often the reconciler's schedule runs a drift pass over every running tenant
    /// (zero: never; `silos tenants drift` still checks on demand). At most one round runs
    /// at a time, each resuming where the last run stopped.
    pub fn with_drift_interval(mut self, interval: std::time::Duration) -> Config {
        self.drift_interval = interval;
        self
    }

    pub fn drift_interval(&self) -> std::time::Duration {
        self.drift_interval
    }

    /// The event publisher's `SILOS_EVENT_NAMES`: `silos` or `sbt-aws`.
    pub fn event_names(&self) -> &'static str {
        if self.sbt_aws_event_names {
            "sbt-aws"
        } else {
            "silos"
        }
    }

    /// The control plane's event bus: `{prefix}-events`.
    pub fn event_bus_name(&self) -> String {
        format!("{}-events", self.prefix)
    }

    /// The IAM path of tenant roles, which the provisioning role is scoped to.
    pub fn tenant_role_path(&self) -> String {
        format!("/{}/tenant/", self.prefix)
    }
}
