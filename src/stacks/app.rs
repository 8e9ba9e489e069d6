//! The app: the fixed stacks (toolkit, control plane) and the named tenant stacks a user
//! registers, each built by a function of theirs. `silos::cli::main_with(app)` runs every
//! command on it; this repository's `src/main.rs` is the reference app.

use std::fmt;
use std::sync::Arc;

use crate::blueprint::cells::Cells;
use crate::cfn::{Delivery, Template};

use super::DELETE_DATA_SUFFIX;
use super::provisioning::{self, Provisioning};
use super::{
    ArtifactParameters, Config, Kind, Stack, Target, TenantData, cell, control_plane, toolkit,
};

/// What a tenant stack is built from: the settings, and the data policy of the blueprint that
/// names it.
#[derive(Clone, Debug)]
pub struct TenantContext<'a> {
    pub config: &'a Config,
    pub data: TenantData,
    name: &'a str,
}

impl<'a> TenantContext<'a> {
    pub fn new(config: &'a Config, name: &'a str, data: TenantData) -> TenantContext<'a> {
        TenantContext { config, data, name }
    }

    /// The tenant stack's registered name (`tenant-silo`).
    pub fn name(&self) -> &str {
        self.name
    }

    /// The stack's id in `out/` and the manifest: its name, with `-delete-data` for the
    /// variant whose blueprint deletes tenant data on offboarding.
    pub fn id(&self) -> String {
        match self.data {
            TenantData::Retain => self.name.to_owned(),
            TenantData::Delete => format!("{}{DELETE_DATA_SUFFIX}", self.name),
        }
    }

    /// A new template for the stack, with its id.
    pub fn template(&self) -> Template {
        Template::new(&self.id())
    }

    /// The tenant stack of `template`, whose Lambda artifacts come from `artifacts`.
    pub fn stack(&self, template: Template, artifacts: Vec<ArtifactParameters>) -> Stack {
        Stack {
            id: self.id(),
            stack_name: None,
            kind: Kind::Tenant,
            target: None,
            delivery: Delivery::Url,
            template,
            artifacts,
        }
    }
}

type Builder = Arc<dyn Fn(&TenantContext) -> Stack + Send + Sync>;

/// The fixed stacks and the tenant stacks, by the names blueprints use.
#[derive(Clone, Default)]
pub struct App {
    tenant_stacks: Vec<(String, Builder)>,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("tenant_stacks", &self.tenant_stack_names())
            .finish()
    }
}

/// What is wrong with an app as registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    #[error("tenant stack {0:?} is registered twice")]
    Duplicate(String),
    #[error(
        "tenant stack name {0:?}: use lowercase letters, digits and hyphens, starting with a letter"
    )]
    InvalidName(String),
    #[error(
        "tenant stack name {0:?} is taken: toolkit, control-plane and control-plane-local are the fixed stacks, and -delete-data names a tenant stack's variant"
    )]
    Reserved(String),
    #[error("the app registers no tenant stack: add one with App::tenant_stack")]
    NoTenantStack,
    #[error("{}", provisioning::report(.0))]
    Provisioning(Vec<provisioning::Error>),
}

impl App {
    pub fn new() -> App {
        App::default()
    }

    /// Registers a tenant stack under `name`, the name blueprints give in `stack:`. `build`
    /// makes it from the settings and the blueprint's data policy.
    pub fn tenant_stack(
        mut self,
        name: &str,
        build: impl Fn(&TenantContext) -> Stack + Send + Sync + 'static,
    ) -> App {
        self.tenant_stacks.push((name.to_owned(), Arc::new(build)));
        self
    }

    pub fn tenant_stack_names(&self) -> Vec<&str> {
        self.tenant_stacks.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The tenant stack `name` in the variant of `data`, or `None` if no such stack is
    /// registered.
    pub fn build_tenant(&self, name: &str, config: &Config, data: TenantData) -> Option<Stack> {
        let (name, build) = self.tenant_stacks.iter().find(|(n, _)| n == name)?;
        Some(build(&TenantContext::new(config, name, data)))
    }

    /// Checks the registrations: names, duplicates, at least one.
    pub fn check(&self) -> Result<(), AppError> {
        if self.tenant_stacks.is_empty() {
            return Err(AppError::NoTenantStack);
        }
        let mut seen = std::collections::BTreeSet::new();
        for (name, _) in &self.tenant_stacks {
            let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !ok {
                return Err(AppError::InvalidName(name.clone()));
            }
            let reserved = ["toolkit", "control-plane", "control-plane-local"];
            if reserved.contains(&name.as_str()) || name.ends_with(DELETE_DATA_SUFFIX) {
                return Err(AppError::Reserved(name.clone()));
            }
            if !seen.insert(name.as_str()) {
                return Err(AppError::Duplicate(name.clone()));
            }
        }
        Ok(())
    }

    /// Every tenant stack in both data variants: what the provisioning role must be able to
    /// create.
    pub fn all_tenant_stacks(&self, config: &Config) -> Vec<Stack> {
        let mut out = Vec::new();
        for (name, build) in &self.tenant_stacks {
            for data in [TenantData::Retain, TenantData::Delete] {
                out.push(build(&TenantContext::new(config, name, data)));
            }
        }
        out
    }

    /// The provisioning role and boundary for this app's tenant stacks.
    pub fn provisioning(&self, config: &Config) -> Result<Provisioning, AppError> {
        self.check()?;
        let tenants = self.all_tenant_stacks(config);
        let refs: Vec<&Stack> = tenants.iter().collect();
        let bucket = control_plane::artifacts_bucket(config);
        provisioning::derive(config, &bucket, &refs).map_err(AppError::Provisioning)
    }

    /// The fixed stacks (toolkit, control plane for AWS and for local mode) and each tenant
    /// stack in its default (retain) variant, with the handler actions the provisioning role
    /// leaves unscoped.
    pub fn stacks(
        &self,
        config: &Config,
        cells: &Cells,
    ) -> Result<(Vec<Stack>, Vec<provisioning::Note>), AppError> {
        let tenants = self.all_tenant_stacks(config);
        let refs: Vec<&Stack> = tenants.iter().collect();
        let for_cells = provisioning::derive(config, &cell::cell_bucket(config), &refs)
            .map_err(AppError::Provisioning)?;
        let provisioning = self.provisioning(config)?;
        let mut stacks = vec![
            toolkit(config),
            control_plane::control_plane(config, Target::Aws, &provisioning, cells),
            control_plane::control_plane(config, Target::Local, &provisioning, cells),
            cell::cell(config, for_cells),
        ];
        for (name, build) in &self.tenant_stacks {
            stacks.push(build(&TenantContext::new(config, name, TenantData::Retain)));
        }
        Ok((stacks, provisioning.notes))
    }
}
