//! Cells (DESIGN.md section 11): the accounts and regions tenant stacks are placed in, declared
//! in `cells.yaml` beside the blueprints. Each cell holds a bounded share of the tenants. With
//! no file there is one cell, `home`: the control plane's own account and region.
//!
//! The names the control plane and deploy use for a cell are built here, from the prefix and
//! the cell: the cell stack, its access and provisioning roles, and its artifacts bucket. The
//! cell's own stack (`stacks::cell`) spells the same names as `Fn::Sub` over its `CellName`
//! parameter: a change to one is a change to both.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

/// The names of a cell's resources, spelled once. The control plane and deploy call these
/// with a cell's values ([`Cell::stack_name`] and the rest); the cell's own stack calls them
/// with its parameters and pseudo parameters (`${CellName}`, `${AWS::AccountId}`) inside an
/// `Fn::Sub`, so the two always agree.
pub mod names {
    /// The cell stack.
    pub fn stack(prefix: &str, cell: &str) -> String {
        format!("{prefix}-cell-{cell}")
    }

    /// The role the control plane assumes in the cell.
    pub fn access_role(prefix: &str, cell: &str) -> String {
        format!("{}-access", stack(prefix, cell))
    }

    /// The role CloudFormation assumes for the cell's tenant stacks.
    pub fn provisioning_role(prefix: &str, cell: &str) -> String {
        format!("{}-provisioning", stack(prefix, cell))
    }

    /// The cell's artifacts bucket.
    pub fn bucket(prefix: &str, cell: &str, account: &str, region: &str) -> String {
        format!("{}-{account}-{region}", stack(prefix, cell))
    }

    /// The queue of stack events the cell could not forward.
    pub fn forward_dlq(prefix: &str, cell: &str) -> String {
        format!("{}-forward-dlq", stack(prefix, cell))
    }
}

use super::{Error, ErrorKind};

/// The file beside the blueprints that declares the cells. The blueprint loader skips it.
pub const FILE_NAME: &str = "cells.yaml";
/// The name of the default cell.
pub const HOME: &str = "home";
/// CloudFormation's default quota of stacks per account and region.
pub const DEFAULT_STACK_QUOTA: u32 = 2000;
/// IAM's default quota of roles per account (all regions together). Each tenant stack's roles
/// count against it, so it binds before the stack quota for a stack with a role.
pub const DEFAULT_ROLE_QUOTA: u32 = 1000;

/// A per-region quota a tenant stack's resources count against: each cell is one account and
/// region, so each cell's tenants alone fill it (docs/SCALING.md has the sources).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Regional {
    /// Cognito user pools per account and region: 1,000 by default, adjustable.
    UserPools,
    /// API Gateway HTTP APIs per account and region: 600, as the regional-APIs quota of REST
    /// APIs says (the HTTP API page states no count).
    HttpApis,
}

impl Regional {
    pub const ALL: [Regional; 2] = [Regional::UserPools, Regional::HttpApis];

    pub const fn default_quota(self) -> u32 {
        match self {
            Regional::UserPools => 1000,
            Regional::HttpApis => 600,
        }
    }

    /// The CloudFormation type that counts.
    pub const fn resource_type(self) -> &'static str {
        match self {
            Regional::UserPools => "AWS::Cognito::UserPool",
            Regional::HttpApis => "AWS::ApiGatewayV2::Api",
        }
    }

    /// Its key in cells.yaml, to declare a raised quota.
    pub const fn key(self) -> &'static str {
        match self {
            Regional::UserPools => "userPoolQuota",
            Regional::HttpApis => "httpApiQuota",
        }
    }

    pub const fn noun(self) -> &'static str {
        match self {
            Regional::UserPools => "Cognito user pool(s)",
            Regional::HttpApis => "HTTP API(s)",
        }
    }
}
/// The share of the stack quota a cell takes by default: the rest is headroom for the
/// platform's own stacks, the stacks a retry leaves behind for a moment, and anything else the
/// account runs.
pub const DEFAULT_FILL: f64 = 0.9;
/// The role `silos cells bootstrap` assumes in a cell's account unless the cell names another:
/// the one AWS Organizations creates in every member account.
pub const DEFAULT_BOOTSTRAP_ROLE: &str = "OrganizationAccountAccessRole";

/// How fast the control plane calls CloudFormation in a cell: a token bucket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pace {
    /// Calls per second, on average.
    pub calls_per_second: f64,
    /// Calls that may go at once after a quiet spell.
    pub burst: u32,
}

impl Default for Pace {
    /// Below what CloudFormation's control-plane APIs take before they throttle an account.
    fn default() -> Pace {
        Pace {
            calls_per_second: 5.0,
            burst: 10,
        }
    }
}

/// One cell, as published in the catalog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cell {
    pub name: String,
    /// `None`: the control plane's own account (and then its own region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The most tenants (so tenant stacks) the cell ever holds.
    pub capacity: u32,
    /// The deployment types it takes; `None` takes every one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_types: Option<Vec<String>>,
    /// What the control plane passes when it assumes the cell's access role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The role `silos cells bootstrap` and `silos deploy` assume in the cell's account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_role: Option<String>,
    #[serde(default)]
    pub cloud_formation: Pace,
    /// The organizational unit holding the cell's account, for a service-managed StackSet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organizational_unit: Option<String>,
}

impl Cell {
    /// The default cell: the control plane's own account and region.
    pub fn home() -> Cell {
        Cell {
            name: HOME.to_owned(),
            account: None,
            region: None,
            capacity: default_capacity(DEFAULT_STACK_QUOTA),
            deployment_types: None,
            external_id: None,
            bootstrap_role: None,
            cloud_formation: Pace::default(),
            organizational_unit: None,
        }
    }

    /// Whether this is the control plane's own account and region (no cell stack, no role to
    /// assume).
    pub fn is_home(&self) -> bool {
        self.account.is_none()
    }

    pub fn takes(&self, deployment_type: &str) -> bool {
        self.deployment_types
            .as_ref()
            .is_none_or(|types| types.iter().any(|t| t == deployment_type))
    }

    /// The stack `silos cells bootstrap` deploys into the cell.
    pub fn stack_name(&self, prefix: &str) -> String {
        names::stack(prefix, &self.name)
    }

    /// The role the control plane assumes in the cell.
    pub fn access_role_name(&self, prefix: &str) -> String {
        names::access_role(prefix, &self.name)
    }

    /// The role CloudFormation assumes for the cell's tenant stacks.
    pub fn provisioning_role_name(&self, prefix: &str) -> String {
        names::provisioning_role(prefix, &self.name)
    }

    /// The cell's artifacts bucket: Lambda code must come from a bucket in the function's
    /// region, and CloudFormation reads a TemplateURL with the caller's credentials, so each
    /// cell has its own copy of the tenant templates and zips. Named like CDK's bootstrap
    /// buckets: the account and region make it unique.
    pub fn bucket_name(&self, prefix: &str) -> Option<String> {
        Some(names::bucket(
            prefix,
            &self.name,
            self.account.as_deref()?,
            self.region.as_deref()?,
        ))
    }

    pub fn role_arn(&self, role_name: &str) -> Option<String> {
        Some(format!(
            "arn:aws:iam::{}:role/{role_name}",
            self.account.as_deref()?
        ))
    }

    pub fn external_id(&self, prefix: &str) -> String {
        self.external_id
            .clone()
            .unwrap_or_else(|| format!("silos-{prefix}-{}", self.name))
    }

    pub fn bootstrap_role(&self) -> &str {
        self.bootstrap_role
            .as_deref()
            .unwrap_or(DEFAULT_BOOTSTRAP_ROLE)
    }
}

/// The default capacity under a stack quota.
pub fn default_capacity(stack_quota: u32) -> u32 {
    (f64::from(stack_quota) * DEFAULT_FILL).floor() as u32
}

/// The declared cells, with the lines they were declared on (for later checks).
#[derive(Clone, Debug, PartialEq)]
pub struct Cells {
    pub cells: Vec<Cell>,
    /// `None`: no file, the default cell.
    pub path: Option<PathBuf>,
    lines: Vec<CellLines>,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct CellLines {
    name: u64,
    /// The declared capacity's line; `None`: the default.
    capacity: Option<u64>,
    stack_quota: u32,
    role_quota: u32,
    /// The declared per-region quotas ([`Regional`]); the defaults where absent.
    user_pool_quota: u32,
    http_api_quota: u32,
    /// Each named deployment type's line.
    deployment_types: Vec<u64>,
}

impl Default for Cells {
    fn default() -> Cells {
        Cells {
            cells: vec![Cell::home()],
            path: None,
            lines: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawFile {
    cells: Spanned<Vec<RawCell>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawCell {
    name: Spanned<String>,
    #[serde(default)]
    account: Option<Spanned<String>>,
    #[serde(default)]
    region: Option<Spanned<String>>,
    #[serde(default)]
    capacity: Option<Spanned<u32>>,
    #[serde(default)]
    stack_quota: Option<Spanned<u32>>,
    #[serde(default)]
    role_quota: Option<Spanned<u32>>,
    #[serde(default)]
    user_pool_quota: Option<Spanned<u32>>,
    #[serde(default)]
    http_api_quota: Option<Spanned<u32>>,
    #[serde(default)]
    deployment_types: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    external_id: Option<Spanned<String>>,
    #[serde(default)]
    bootstrap_role: Option<Spanned<String>>,
    #[serde(default)]
    cloud_formation: Option<Spanned<RawPace>>,
    #[serde(default)]
    organizational_unit: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPace {
    calls_per_second: f64,
    burst: u32,
}

/// The longest S3 bucket name.
const MAX_BUCKET_NAME: usize = 63;
/// The longest IAM role name.
const MAX_ROLE_NAME: usize = 64;

fn valid_name(name: &str) -> bool {
    (1..=16).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
}

/// Whether `region` is shaped like an AWS region name: the one check, for `cells.yaml` and
/// for the API's `region` alike.
pub fn valid_region(region: &str) -> bool {
    // us-east-1, eu-central-2, us-gov-west-1, ap-southeast-5
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].chars().all(|c| c.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1]
            .parse::<u8>()
            .is_ok_and(|n| n > 0 && parts[parts.len() - 1].len() <= 2)
}

fn valid_external_id(id: &str) -> bool {
    (2..=1224).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@:/-_".contains(c))
}

fn valid_role_name(name: &str) -> bool {
    (1..=MAX_ROLE_NAME).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c))
}

/// Why a cells file is refused. The file and line are on the [`Error`] that carries it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CellsError {
    #[error("cells is empty: declare at least one cell, or remove the file for the default one")]
    Empty,
    #[error(
        "cell name {0:?} must be 1 to 16 lowercase letters, digits and hyphens, starting with a letter"
    )]
    InvalidName(String),
    #[error("cell {0:?} is declared twice")]
    DuplicateName(String),
    #[error("no cell takes deployment type {0}: its onboardings would all be refused")]
    UntakenDeploymentType(String),
    #[error("cell {cell}: {reason}")]
    Cell { cell: String, reason: CellError },
}

/// Why one cell is refused. Reads after "cell <name>: ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CellError {
    #[error(
        "account {0:?} is not a 12-digit AWS account id (quote it, so YAML keeps leading zeros)"
    )]
    InvalidAccount(String),
    #[error("region {0:?} is not an AWS region name such as eu-west-1")]
    InvalidRegion(String),
    #[error(
        "a cell in another region names its account; leave both out for the control plane's own account and region"
    )]
    RegionWithoutAccount,
    #[error("a cell with an account names its region too")]
    AccountWithoutRegion,
    #[error(
        "only one cell can be the control plane's own account and region (no account and no region)"
    )]
    SecondHome,
    #[error(
        "another cell is already account {account} in {region}; a cell is one account and region"
    )]
    DuplicatePlace { account: String, region: String },
    #[error("stackQuota must be at least 1")]
    ZeroStackQuota,
    #[error("capacity must be at least 1")]
    ZeroCapacity,
    #[error(
        "capacity {capacity} is above the account's stack quota {quota}; raise the quota with AWS first and declare it as stackQuota"
    )]
    CapacityOverStackQuota { capacity: u32, quota: u32 },
    #[error("deploymentTypes is empty; leave it out to take every type")]
    EmptyDeploymentTypes,
    #[error("externalId must be 2 to 1224 letters, digits and +=,.@:/-_")]
    InvalidExternalId,
    #[error("bootstrapRole {0:?} is not an IAM role name")]
    InvalidBootstrapRole(String),
    #[error("cloudFormation needs callsPerSecond above 0 and burst of at least 1")]
    InvalidPace,
    #[error(
        "its artifacts bucket {0} would be {len} characters; S3 allows {MAX_BUCKET_NAME}: shorten the cell name or the prefix",
        len = .0.len()
    )]
    BucketNameTooLong(String),
    #[error("its role {0} would be {len} characters; IAM allows {MAX_ROLE_NAME}", len = .0.len())]
    RoleNameTooLong(String),
    #[error("no blueprint has deploymentType {deployment_type:?} (known: {known})")]
    UnknownDeploymentType {
        deployment_type: String,
        known: String,
    },
    #[error(
        "capacity {capacity} with {roles_per_tenant} IAM role(s) per tenant is above the account's role quota {quota}; raise the quota with AWS first and declare it as roleQuota"
    )]
    CapacityOverRoleQuota {
        capacity: u32,
        roles_per_tenant: u32,
        quota: u32,
    },
    #[error(
        "the cells in its account would hold {roles} tenant roles together, above the role quota {quota}; declare their capacities to share it"
    )]
    AccountOverRoleQuota { roles: u64, quota: u32 },
    #[error(
        "capacity {capacity} with {per_tenant} {} per tenant is above the region's quota {quota}; raise the quota with AWS first and declare it as {}",
        .what.noun(),
        .what.key()
    )]
    CapacityOverRegionalQuota {
        capacity: u32,
        per_tenant: u32,
        what: Regional,
        quota: u32,
    },
}

impl CellError {
    /// The error for cell `cell`.
    fn of(self, cell: &str) -> CellsError {
        CellsError::Cell {
            cell: cell.to_owned(),
            reason: self,
        }
    }
}

/// A cells error on line `line` of `path`.
fn error(path: &Path, line: u64, error: CellsError) -> Error {
    Error {
        path: path.to_owned(),
        line: Some(line),
        kind: ErrorKind::Cells(error),
    }
}

/// A refusal and the line it is about, before the file is known.
type Refused = (u64, CellsError);

impl Cells {
    /// The cells of the blueprints directory `dir`: its `cells.yaml`, or the default cell.
    pub fn load(dir: &Path, prefix: &str) -> Result<Cells, Error> {
        let path = dir.join(FILE_NAME);
        match std::fs::read_to_string(&path) {
            Ok(text) => Cells::parse(&path, &text, prefix),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Cells::default()),
            Err(e) => Err(Error {
                path,
                line: None,
                kind: ErrorKind::Read(e.to_string()),
            }),
        }
    }

    /// Parses and checks a cells file on its own (deployment types are checked against the
    /// blueprints by [`check_types`](Self::check_types)).
    pub fn parse(path: &Path, text: &str, prefix: &str) -> Result<Cells, Error> {
        let raw: RawFile = super::parse_yaml(path, text)?;
        if raw.cells.value.is_empty() {
            return Err(error(path, raw.cells.referenced.line(), CellsError::Empty));
        }
        let mut seen = Seen::default();
        let mut cells = Vec::new();
        let mut lines = Vec::new();
        for raw in raw.cells.value {
            let (cell, cell_lines) = raw
                .check(prefix, &mut seen)
                .map_err(|(line, e)| error(path, line, e))?;
            cells.push(cell);
            lines.push(cell_lines);
        }
        Ok(Cells {
            cells,
            path: Some(path.to_owned()),
            lines,
        })
    }

    /// Only the cells named (and the home cell, which is always there), or the reason: the
    /// first name that is none of them.
    pub fn only(&self, names: &[String]) -> Result<Cells, String> {
        if let Some(unknown) = names
            .iter()
            .find(|n| !self.cells.iter().any(|c| &c.name == *n))
        {
            return Err(format!(
                "no cell {unknown} in {}",
                self.path
                    .as_deref()
                    .map_or("the cells file".into(), |p| p.display().to_string())
            ));
        }
        let mut selected = self.clone();
        selected
            .cells
            .retain(|c| c.is_home() || names.contains(&c.name));
        Ok(selected)
    }

    /// Checks the cells against the blueprints' deployment types: each type a cell names
    /// exists, and every type is taken by some cell (else onboarding it is always refused).
    pub fn check_types(&self, known: &[&str]) -> Result<(), Error> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        for (cell, lines) in self.cells.iter().zip(&self.lines) {
            let Some(types) = &cell.deployment_types else {
                continue;
            };
            for (t, line) in types.iter().zip(&lines.deployment_types) {
                if !known.contains(&t.as_str()) {
                    let reason = CellError::UnknownDeploymentType {
                        deployment_type: t.clone(),
                        known: known.join(", "),
                    };
                    return Err(error(path, *line, reason.of(&cell.name)));
                }
            }
        }
        for t in known {
            if !self.cells.iter().any(|c| c.takes(t)) {
                return Err(error(
                    path,
                    self.lines.first().map_or(1, |l| l.name),
                    CellsError::UntakenDeploymentType((*t).to_owned()),
                ));
            }
        }
        Ok(())
    }

    /// Fits the capacities to IAM's role quota, now that the tenant stacks are known: each
    /// tenant holds `roles_per_tenant` roles in its cell's account. A default capacity is
    /// lowered to 90% of what the role quota allows; a declared one above it is refused, and so
    /// are cells sharing an account whose roles together pass its quota.
    pub fn fit_roles(&mut self, roles_per_tenant: u32) -> Result<(), Error> {
        if roles_per_tenant == 0 {
            return Ok(());
        }
        let path = self
            .path
            .clone()
            .unwrap_or_else(|| PathBuf::from(FILE_NAME));
        if self.lines.is_empty() {
            // The default cell.
            for cell in &mut self.cells {
                let quota = (DEFAULT_ROLE_QUOTA / roles_per_tenant).min(DEFAULT_STACK_QUOTA);
                cell.capacity = default_capacity(quota).max(1);
            }
            return Ok(());
        }
        for (cell, lines) in self.cells.iter_mut().zip(&self.lines) {
            let by_roles = lines.role_quota / roles_per_tenant;
            match lines.capacity {
                Some(line)
                    if u64::from(cell.capacity) * u64::from(roles_per_tenant)
                        > u64::from(lines.role_quota) =>
                {
                    let reason = CellError::CapacityOverRoleQuota {
                        capacity: cell.capacity,
                        roles_per_tenant,
                        quota: lines.role_quota,
                    };
                    return Err(error(&path, line, reason.of(&cell.name)));
                }
                Some(_) => {}
                None => cell.capacity = default_capacity(by_roles.min(lines.stack_quota)).max(1),
            }
        }
        // IAM is per account, whatever the region.
        let mut roles: std::collections::BTreeMap<Option<&str>, u64> = Default::default();
        for (cell, lines) in self.cells.iter().zip(&self.lines) {
            let held = roles.entry(cell.account.as_deref()).or_default();
            *held += u64::from(cell.capacity) * u64::from(roles_per_tenant);
            if *held > u64::from(lines.role_quota) {
                let reason = CellError::AccountOverRoleQuota {
                    roles: *held,
                    quota: lines.role_quota,
                };
                return Err(error(&path, lines.name, reason.of(&cell.name)));
            }
        }
        Ok(())
    }

    /// Fits the capacities to the per-region quotas, now that the tenant stacks are known:
    /// each tenant holds `per_tenant` of each [`Regional`] resource in its cell's region. A
    /// default capacity is lowered to 90% of what a quota allows; a declared one above it is
    /// refused, with its line.
    pub fn fit_regional(&mut self, per_tenant: &[(Regional, u32)]) -> Result<(), Error> {
        let path = self
            .path
            .clone()
            .unwrap_or_else(|| PathBuf::from(FILE_NAME));
        for (i, cell) in self.cells.iter_mut().enumerate() {
            let lines = self.lines.get(i);
            for &(what, count) in per_tenant.iter().filter(|(_, n)| *n > 0) {
                let quota = match (lines, what) {
                    (Some(l), Regional::UserPools) => l.user_pool_quota,
                    (Some(l), Regional::HttpApis) => l.http_api_quota,
                    (None, _) => what.default_quota(),
                };
                match lines.and_then(|l| l.capacity) {
                    Some(line)
                        if u64::from(cell.capacity) * u64::from(count) > u64::from(quota) =>
                    {
                        let reason = CellError::CapacityOverRegionalQuota {
                            capacity: cell.capacity,
                            per_tenant: count,
                            what,
                            quota,
                        };
                        return Err(error(&path, line, reason.of(&cell.name)));
                    }
                    Some(_) => {}
                    None => {
                        cell.capacity = cell.capacity.min(default_capacity(quota / count).max(1));
                    }
                }
            }
        }
        Ok(())
    }

    /// The cells that are not the control plane's own: each needs a cell stack.
    pub fn remote(&self) -> impl Iterator<Item = &Cell> {
        self.cells.iter().filter(|c| !c.is_home())
    }

    /// The first cell declared in each account: its stack holds the account's tenant
    /// boundary (IAM names are per account, and a tenant stack names the boundary by name).
    pub fn owns_account_resources(&self, cell: &Cell) -> bool {
        self.remote()
            .find(|c| c.account == cell.account)
            .is_some_and(|c| c.name == cell.name)
    }
}

/// What the cells before this one took: names, the home cell, and accounts and regions.
#[derive(Default)]
struct Seen {
    names: BTreeSet<String>,
    home: bool,
    places: BTreeSet<(String, String)>,
}

impl Seen {
    /// Takes the name `name`, declared on `line`: it must be valid and not yet taken.
    fn name(&mut self, name: &str, line: u64) -> Result<(), Refused> {
        if !valid_name(name) {
            return Err((line, CellsError::InvalidName(name.to_owned())));
        }
        if !self.names.insert(name.to_owned()) {
            return Err((line, CellsError::DuplicateName(name.to_owned())));
        }
        Ok(())
    }

    /// Takes the account and region `place` (`None`: the home cell): each is one cell's.
    fn place(&mut self, place: Option<&(String, String)>) -> Result<(), CellError> {
        match place {
            None if self.home => Err(CellError::SecondHome),
            None => {
                self.home = true;
                Ok(())
            }
            Some((account, region)) if !self.places.insert((account.clone(), region.clone())) => {
                Err(CellError::DuplicatePlace {
                    account: account.clone(),
                    region: region.clone(),
                })
            }
            Some(_) => Ok(()),
        }
    }
}

/// A refusal of one cell, and the line it is about.
type CellRefused = (u64, CellError);

impl RawCell {
    /// Checks the cell, declared after the ones in `seen`, and adds it there.
    fn check(self, prefix: &str, seen: &mut Seen) -> Result<(Cell, CellLines), Refused> {
        seen.name(&self.name.value, self.name.referenced.line())?;
        let name = self.name.value.clone();
        self.into_cell(prefix, seen)
            .map_err(|(line, reason)| (line, reason.of(&name)))
    }

    /// The cell, its name checked, with the lines of its fields.
    fn into_cell(self, prefix: &str, seen: &mut Seen) -> Result<(Cell, CellLines), CellRefused> {
        let name_line = self.name.referenced.line();
        let place = place(name_line, self.account, self.region)?;
        seen.place(place.as_ref()).map_err(|e| (name_line, e))?;
        let stack_quota = stack_quota(self.stack_quota.as_ref())?;
        let capacity = capacity(self.capacity.as_ref(), stack_quota)?;
        let (deployment_types, type_lines) = deployment_types(name_line, self.deployment_types)?;
        if let Some(id) = &self.external_id
            && !valid_external_id(&id.value)
        {
            return Err((id.referenced.line(), CellError::InvalidExternalId));
        }
        if let Some(role) = &self.bootstrap_role
            && !valid_role_name(&role.value)
        {
            let reason = CellError::InvalidBootstrapRole(role.value.clone());
            return Err((role.referenced.line(), reason));
        }
        let cloud_formation = pace(self.cloud_formation)?;
        let (account, region) = place.unzip();
        let cell = Cell {
            name: self.name.value,
            account,
            region,
            capacity,
            deployment_types,
            external_id: self.external_id.map(|i| i.value),
            bootstrap_role: self.bootstrap_role.map(|r| r.value),
            cloud_formation,
            organizational_unit: self.organizational_unit.map(|o| o.value),
        };
        check_name_lengths(&cell, prefix).map_err(|e| (name_line, e))?;
        let lines = CellLines {
            name: name_line,
            capacity: self.capacity.as_ref().map(|c| c.referenced.line()),
            stack_quota,
            role_quota: self
                .role_quota
                .as_ref()
                .map_or(DEFAULT_ROLE_QUOTA, |q| q.value),
            user_pool_quota: self
                .user_pool_quota
                .as_ref()
                .map_or(Regional::UserPools.default_quota(), |q| q.value),
            http_api_quota: self
                .http_api_quota
                .as_ref()
                .map_or(Regional::HttpApis.default_quota(), |q| q.value),
            deployment_types: type_lines,
        };
        Ok((cell, lines))
    }
}

/// The cell's account and region: both, or neither for the control plane's own (`None`).
fn place(
    name_line: u64,
    account: Option<Spanned<String>>,
    region: Option<Spanned<String>>,
) -> Result<Option<(String, String)>, CellRefused> {
    let account = match account {
        Some(a) if a.value.len() == 12 && a.value.chars().all(|c| c.is_ascii_digit()) => {
            Some(a.value)
        }
        Some(a) => return Err((a.referenced.line(), CellError::InvalidAccount(a.value))),
        None => None,
    };
    let region = match region {
        Some(r) if valid_region(&r.value) => Some((r.value, r.referenced.line())),
        Some(r) => return Err((r.referenced.line(), CellError::InvalidRegion(r.value))),
        None => None,
    };
    match (account, region) {
        (None, Some((_, line))) => Err((line, CellError::RegionWithoutAccount)),
        (Some(_), None) => Err((name_line, CellError::AccountWithoutRegion)),
        (None, None) => Ok(None),
        (Some(account), Some((region, _))) => Ok(Some((account, region))),
    }
}

/// The declared stack quota, or the default.
fn stack_quota(quota: Option<&Spanned<u32>>) -> Result<u32, CellRefused> {
    match quota {
        Some(q) if q.value == 0 => Err((q.referenced.line(), CellError::ZeroStackQuota)),
        Some(q) => Ok(q.value),
        None => Ok(DEFAULT_STACK_QUOTA),
    }
}

/// The declared capacity, within the stack quota, or the default share of it.
fn capacity(capacity: Option<&Spanned<u32>>, stack_quota: u32) -> Result<u32, CellRefused> {
    match capacity {
        Some(c) if c.value == 0 => Err((c.referenced.line(), CellError::ZeroCapacity)),
        Some(c) if c.value > stack_quota => Err((
            c.referenced.line(),
            CellError::CapacityOverStackQuota {
                capacity: c.value,
                quota: stack_quota,
            },
        )),
        Some(c) => Ok(c.value),
        None => Ok(default_capacity(stack_quota).max(1)),
    }
}

/// The deployment types the cell takes (`None`: every one), and the line of each.
fn deployment_types(
    name_line: u64,
    types: Option<Vec<Spanned<String>>>,
) -> Result<(Option<Vec<String>>, Vec<u64>), CellRefused> {
    match types {
        Some(types) if types.is_empty() => Err((name_line, CellError::EmptyDeploymentTypes)),
        Some(types) => {
            let (types, lines) = types
                .into_iter()
                .map(|t| (t.value, t.referenced.line()))
                .unzip();
            Ok((Some(types), lines))
        }
        None => Ok((None, Vec::new())),
    }
}

/// The declared pace of CloudFormation calls, or the default.
fn pace(pace: Option<Spanned<RawPace>>) -> Result<Pace, CellRefused> {
    match pace {
        Some(p)
            if !(p.value.calls_per_second > 0.0 && p.value.calls_per_second.is_finite())
                || p.value.burst == 0 =>
        {
            Err((p.referenced.line(), CellError::InvalidPace))
        }
        Some(p) => Ok(Pace {
            calls_per_second: p.value.calls_per_second,
            burst: p.value.burst,
        }),
        None => Ok(Pace::default()),
    }
}

/// The names built from the cell fit S3's and IAM's limits.
fn check_name_lengths(cell: &Cell, prefix: &str) -> Result<(), CellError> {
    if let Some(bucket) = cell.bucket_name(prefix)
        && bucket.len() > MAX_BUCKET_NAME
    {
        return Err(CellError::BucketNameTooLong(bucket));
    }
    let role = cell.provisioning_role_name(prefix);
    if role.len() > MAX_ROLE_NAME {
        return Err(CellError::RoleNameTooLong(role));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Cells, Error> {
        Cells::parse(Path::new("blueprints/cells.yaml"), text, "silos")
    }

    fn message(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn no_file_is_the_home_cell() {
        let dir = std::env::temp_dir().join(format!("silos-cells-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cells = Cells::load(&dir, "silos").unwrap();
        assert_eq!(cells.cells, vec![Cell::home()]);
        assert_eq!(cells.cells[0].capacity, 1800);
        assert!(cells.cells[0].is_home());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn parses_cells_with_defaults() {
        let cells = parse(
            "cells:\n  - name: home\n    capacity: 10\n  - name: eu-1\n    account: \"210987654321\"\n    region: eu-west-1\n    deploymentTypes: [silo]\n    stackQuota: 4000\n",
        )
        .unwrap();
        assert_eq!(cells.cells.len(), 2);
        assert_eq!(cells.cells[0].capacity, 10);
        let eu = &cells.cells[1];
        assert_eq!(eu.capacity, 3600);
        assert!(eu.takes("silo") && !eu.takes("premium"));
        assert_eq!(
            eu.bucket_name("silos").unwrap(),
            "silos-cell-eu-1-210987654321-eu-west-1"
        );
        assert_eq!(
            eu.role_arn(&eu.access_role_name("silos")).unwrap(),
            "arn:aws:iam::210987654321:role/silos-cell-eu-1-access"
        );
        assert_eq!(eu.external_id("silos"), "silos-silos-eu-1");
        assert_eq!(eu.bootstrap_role(), DEFAULT_BOOTSTRAP_ROLE);
        assert!(cells.owns_account_resources(eu));
        assert_eq!(cells.remote().count(), 1);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let text =
            "cells:\n  - name: a\n  - name: b\n    account: \"12345\"\n    region: eu-west-1\n";
        assert_eq!(
            message(text),
            "blueprints/cells.yaml:4: cell b: account \"12345\" is not a 12-digit AWS account id (quote it, so YAML keeps leading zeros)"
        );
        let m = message("cells:\n  - name: a\n    capacity: 2500\n");
        assert!(
            m.starts_with("blueprints/cells.yaml:3: cell a: capacity 2500 is above"),
            "{m}"
        );
        let m = message(
            "cells:\n  - name: a\n  - name: a\n    account: \"123456789012\"\n    region: us-east-1\n",
        );
        assert!(
            m.starts_with("blueprints/cells.yaml:3: cell \"a\" is declared twice"),
            "{m}"
        );
        let m = message("cells:\n  - name: a\n  - name: b\n");
        assert!(m.contains(":3: cell b: only one cell"), "{m}");
        let m = message("cells:\n  - name: a\n    region: eu-west-1\n");
        assert!(
            m.contains(":3: cell a: a cell in another region names its account"),
            "{m}"
        );
        let m = message("cells:\n  - name: a\n    colour: blue\n");
        assert!(m.starts_with("blueprints/cells.yaml:3:"), "{m}");
        let m = message("cells:\n  - name: Big\n");
        assert!(m.contains(":2: cell name \"Big\""), "{m}");
        let m = message("cells:\n  - name: a\n    region: mars\n    account: \"123456789012\"\n");
        assert!(m.contains(":3: cell a: region \"mars\""), "{m}");
        let m = message(
            "cells:\n  - name: a\n    cloudFormation:\n      callsPerSecond: 0\n      burst: 1\n",
        );
        assert!(
            m.contains(":4: cell a: cloudFormation needs")
                || m.contains(":3: cell a: cloudFormation needs"),
            "{m}"
        );
        let m = message(
            "cells:\n  - name: a\n    account: \"123456789012\"\n    region: eu-west-1\n  - name: b\n    account: \"123456789012\"\n    region: eu-west-1\n",
        );
        assert!(
            m.contains(":5: cell b: another cell is already account 123456789012 in eu-west-1"),
            "{m}"
        );
        let m = message("cells: []\n");
        assert!(m.contains(":1: cells is empty"), "{m}");
    }

    #[test]
    fn a_long_bucket_name_is_refused() {
        let text = "cells:\n  - name: a-very-long-cell\n    account: \"123456789012\"\n    region: ap-southeast-5\n";
        // silos-cell-a-very-long-cell-123456789012-ap-southeast-5: 55 characters.
        assert!(parse(text).is_ok());
        let m = Cells::parse(Path::new("cells.yaml"), text, "a-twenty-char-prefix")
            .unwrap_err()
            .to_string();
        assert_eq!(
            m,
            "cells.yaml:2: cell a-very-long-cell: its artifacts bucket a-twenty-char-prefix-cell-a-very-long-cell-123456789012-ap-southeast-5 would be 70 characters; S3 allows 63: shorten the cell name or the prefix"
        );
    }

    #[test]
    fn capacities_fit_the_role_quota() {
        let mut cells = Cells::default();
        cells.fit_roles(1).unwrap();
        // 90% of the 1,000 roles IAM allows by default.
        assert_eq!(cells.cells[0].capacity, 900);
        let mut cells = parse("cells:\n  - name: a\n    roleQuota: 5000\n  - name: b\n    account: \"210987654321\"\n    region: eu-west-1\n    capacity: 400\n").unwrap();
        cells.fit_roles(2).unwrap();
        assert_eq!(cells.cells[0].capacity, 1800);
        assert_eq!(cells.cells[1].capacity, 400);
        let mut cells = parse("cells:\n  - name: a\n    capacity: 600\n").unwrap();
        let m = cells.fit_roles(2).unwrap_err().to_string();
        assert!(m.starts_with("blueprints/cells.yaml:3: cell a: capacity 600 with 2 IAM role(s) per tenant is above the account's role quota 1000"), "{m}");
        let mut cells = parse("cells:\n  - name: a\n    account: \"210987654321\"\n    region: eu-west-1\n  - name: b\n    account: \"210987654321\"\n    region: eu-west-2\n").unwrap();
        let m = cells.fit_roles(1).unwrap_err().to_string();
        assert!(m.starts_with("blueprints/cells.yaml:5: cell b: the cells in its account would hold 1800 tenant roles"), "{m}");
    }

    #[test]
    fn capacities_fit_the_regional_quotas() {
        let front_door = [(Regional::UserPools, 1), (Regional::HttpApis, 1)];
        let mut cells = Cells::default();
        cells.fit_roles(1).unwrap();
        cells.fit_regional(&front_door).unwrap();
        // 90% of the 600 HTTP APIs a region holds, below the 900 the roles allow.
        assert_eq!(cells.cells[0].capacity, 540);
        // Raised quotas, declared: the roles bind again; each cell's region is its own.
        let mut cells = parse("cells:\n  - name: a\n    httpApiQuota: 2000\n  - name: b\n    account: \"210987654321\"\n    region: eu-west-1\n    userPoolQuota: 300\n").unwrap();
        cells.fit_roles(1).unwrap();
        cells.fit_regional(&front_door).unwrap();
        assert_eq!(cells.cells[0].capacity, 900);
        assert_eq!(cells.cells[1].capacity, 270);
        // A declared capacity above a quota is refused at its line.
        let mut cells = parse("cells:\n  - name: a\n    capacity: 700\n").unwrap();
        cells.fit_roles(1).unwrap();
        let m = cells.fit_regional(&front_door).unwrap_err().to_string();
        assert!(m.starts_with("blueprints/cells.yaml:3: cell a: capacity 700 with 1 HTTP API(s) per tenant is above the region's quota 600; raise the quota with AWS first and declare it as httpApiQuota"), "{m}");
        // A stack without them is bound by nothing new.
        let mut cells = Cells::default();
        cells.fit_roles(1).unwrap();
        cells
            .fit_regional(&[(Regional::UserPools, 0), (Regional::HttpApis, 0)])
            .unwrap();
        assert_eq!(cells.cells[0].capacity, 900);
    }

    #[test]
    fn types_are_checked_against_the_blueprints() {
        let cells =
            parse("cells:\n  - name: a\n    deploymentTypes:\n      - silo\n      - gold\n")
                .unwrap();
        let m = cells.check_types(&["silo"]).unwrap_err().to_string();
        assert_eq!(
            m,
            "blueprints/cells.yaml:5: cell a: no blueprint has deploymentType \"gold\" (known: silo)"
        );
        let cells = parse("cells:\n  - name: a\n    deploymentTypes: [silo]\n").unwrap();
        let m = cells
            .check_types(&["silo", "premium"])
            .unwrap_err()
            .to_string();
        assert!(m.contains("no cell takes deployment type premium"), "{m}");
        assert!(cells.check_types(&["silo"]).is_ok());
    }
}
