//! Cells at run time: where a new tenant goes ([`place`]), and how the control plane reaches a
//! tenant's cell ([`Registry`]): CloudFormation in the cell's account and region, through the
//! cell's access role (assumed with its external id), paced by the cell's token bucket.
//!
//! The catalog publishes the cells (`blueprint::cells`). A tenant's cell is recorded on it at
//! onboarding and never changes; a tenant recorded before cells has none and lives in the
//! control plane's own cell.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

pub use crate::blueprint::cells::{Cell, HOME, Pace};

/// The default cell of a catalog published before cells.
pub fn default_cells() -> Vec<Cell> {
    vec![Cell::home()]
}

/// Why no cell can take a new tenant. Nothing is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoCell {
    #[error("no cell takes deployment type {deployment_type}{}", region.as_ref().map(|r| format!(" in region {r}")).unwrap_or_default())]
    NoMatch {
        deployment_type: String,
        region: Option<String>,
    },
    #[error("every cell that takes deployment type {deployment_type}{} is full: {}", region.as_ref().map(|r| format!(" in region {r}")).unwrap_or_default(), fill.join(", "))]
    Full {
        deployment_type: String,
        region: Option<String>,
        /// `name (count/capacity)` of each matching cell.
        fill: Vec<String>,
    },
}

/// The cells a new tenant may go to, in the order to try them: those that take its deployment
/// type, in the requested region if there is one, with room, least filled first (by share of
/// capacity, then by count, then in declared order). `counts` holds each cell's tenants; a
/// cell missing from it holds none. `home_region` is the control plane's own.
pub fn place<'a>(
    cells: &'a [Cell],
    counts: &HashMap<String, u32>,
    deployment_type: &str,
    region: Option<&str>,
    home_region: &str,
) -> Result<Vec<&'a Cell>, NoCell> {
    let matching: Vec<(usize, &Cell)> = cells
        .iter()
        .enumerate()
        .filter(|(_, c)| c.takes(deployment_type))
        .filter(|(_, c)| region.is_none_or(|r| c.region.as_deref().unwrap_or(home_region) == r))
        .collect();
    if matching.is_empty() {
        return Err(NoCell::NoMatch {
            deployment_type: deployment_type.to_owned(),
            region: region.map(str::to_owned),
        });
    }
    let count = |c: &Cell| counts.get(&c.name).copied().unwrap_or(0);
    let mut open: Vec<(usize, &Cell)> = matching
        .iter()
        .copied()
        .filter(|(_, c)| count(c) < c.capacity)
        .collect();
    if open.is_empty() {
        return Err(NoCell::Full {
            deployment_type: deployment_type.to_owned(),
            region: region.map(str::to_owned),
            fill: matching
                .iter()
                .map(|(_, c)| format!("{} ({}/{})", c.name, count(c), c.capacity))
                .collect(),
        });
    }
    // Share of capacity as an exact fraction: a/b < c/d ⇔ a·d < c·b.
    open.sort_by(|(i, a), (j, b)| {
        let share_a = u64::from(count(a)) * u64::from(b.capacity);
        let share_b = u64::from(count(b)) * u64::from(a.capacity);
        share_a
            .cmp(&share_b)
            .then(count(a).cmp(&count(b)))
            .then(i.cmp(j))
    });
    Ok(open.into_iter().map(|(_, c)| c).collect())
}

/// A token bucket: at most `burst` calls at once, `calls_per_second` on average. Waiting is
/// fair enough for its use (every caller sleeps until its own token is due).
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    at: Instant,
    /// No token is handed out before this (after a throttling answer).
    paused_until: Option<Instant>,
    throttled: u64,
}

/// How long a cell's calls wait after CloudFormation throttled one of them.
pub const THROTTLE_PAUSE: Duration = Duration::from_secs(1);

impl TokenBucket {
    pub fn new(pace: &Pace) -> TokenBucket {
        let burst = f64::from(pace.burst.max(1));
        TokenBucket {
            rate: pace.calls_per_second.max(f64::MIN_POSITIVE),
            burst,
            state: Mutex::new(BucketState {
                tokens: burst,
                at: Instant::now(),
                paused_until: None,
                throttled: 0,
            }),
        }
    }

    /// Takes one token, waiting until there is one.
    pub async fn take(&self) {
        let wait = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let elapsed = now.saturating_duration_since(s.at).as_secs_f64();
            s.tokens = (s.tokens + elapsed * self.rate).min(self.burst);
            s.at = now;
            // Reserve the token now; a negative balance is the queue of waiting callers.
            s.tokens -= 1.0;
            let refill = if s.tokens >= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(-s.tokens / self.rate)
            };
            let pause = s
                .paused_until
                .map_or(Duration::ZERO, |p| p.saturating_duration_since(now));
            refill.max(pause)
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// CloudFormation throttled a call: the bucket empties and pauses, so the cell's next
    /// calls back off together instead of each retrying into the same limit.
    pub fn throttled(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.tokens = s.tokens.min(0.0);
        s.paused_until = Some(Instant::now() + THROTTLE_PAUSE);
        s.throttled += 1;
    }

    /// No token is handed out before this instant, if a throttling answer paused the bucket.
    pub fn paused_until(&self) -> Option<Instant> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .paused_until
    }

    /// How many throttling answers were reported.
    pub fn throttle_count(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .throttled
    }
}

/// How the control plane reaches one cell.
#[derive(Clone)]
pub struct Reach {
    pub cell: Cell,
    /// Reached through [`cfn`](Self::cfn), which takes a token, or, for the few reads that
    /// must not wait behind provisioning, [`unpaced`](Self::unpaced).
    cfn: aws_sdk_cloudformation::Client,
    pub pace: Arc<TokenBucket>,
    /// The role CloudFormation assumes for the cell's tenant stacks.
    pub provisioning_role_arn: Option<String>,
    /// The bucket holding the cell's copy of the tenant templates and zips.
    pub bucket: String,
    pub region: String,
    /// The cell's Cognito, where its tenants' directories are: None in a control plane built
    /// from bare clients (some tests), which invites no one.
    pub cognito: Option<aws_sdk_cognitoidentityprovider::Client>,
    /// The cell's CloudWatch, where its tenants' alarms are: only local mode's alarm watcher
    /// reads it (on AWS, EventBridge forwards their state changes). None as for `cognito`.
    pub cloudwatch: Option<aws_sdk_cloudwatch::Client>,
}

impl Reach {
    /// The cell's CloudFormation client, once the cell's bucket hands out a token.
    pub async fn cfn(&self) -> &aws_sdk_cloudformation::Client {
        self.pace.take().await;
        &self.cfn
    }

    /// The cell's CloudFormation client without a token: for reads that must never queue
    /// behind the cell's provisioning calls (the event publisher's DescribeStacks, local mode's
    /// stack watchers). CloudFormation's own throttling still answers them, and the SDK's
    /// retries back off; nothing else may skip the pace.
    pub fn unpaced(&self) -> &aws_sdk_cloudformation::Client {
        &self.cfn
    }

    /// Passes a call's result through, pausing the cell's calls if CloudFormation throttled.
    pub fn paced<T, E>(
        &self,
        result: Result<T, aws_sdk_cloudformation::error::SdkError<E, super::HttpResponse>>,
    ) -> Result<T, aws_sdk_cloudformation::error::SdkError<E, super::HttpResponse>>
    where
        E: aws_sdk_cloudformation::error::ProvideErrorMetadata,
    {
        if let Err(e) = &result
            && crate::aws::is_throttling(e)
        {
            self.pace.throttled();
        }
        result
    }
}

/// Every cell's reach, built on first use and kept: the assumed-role credentials refresh
/// themselves.
pub struct Registry {
    sdk: Option<aws_config::SdkConfig>,
    home: aws_sdk_cloudformation::Client,
    reached: Mutex<HashMap<String, Reach>>,
}

/// A cell the control plane cannot reach.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreachable {
    #[error(
        "tenant {tenant} is in cell {cell}, which the published catalog does not declare: declare it again in cells.yaml"
    )]
    Undeclared { tenant: String, cell: String },
    #[error(
        "cell {0} is in another account, and this control plane was built without an SDK configuration to assume its role"
    )]
    NoConfig(String),
}

impl Registry {
    pub fn new(sdk: Option<aws_config::SdkConfig>, home: aws_sdk_cloudformation::Client) -> Self {
        Registry {
            sdk,
            home,
            reached: Mutex::new(HashMap::new()),
        }
    }

    /// How to reach `cell`, in a control plane with these settings.
    pub async fn reach(
        &self,
        cell: &Cell,
        settings: &super::Settings,
    ) -> Result<Reach, Unreachable> {
        if let Some(r) = self
            .reached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&cell.name)
            .filter(|r| r.cell == *cell)
        {
            return Ok(r.clone());
        }
        let prefix = &settings.prefix;
        let reach = if cell.is_home() {
            Reach {
                cell: cell.clone(),
                cfn: self.home.clone(),
                pace: Arc::new(TokenBucket::new(&cell.cloud_formation)),
                provisioning_role_arn: settings.provisioning_role_arn.clone(),
                bucket: settings.artifacts_bucket.clone(),
                region: settings.region.clone(),
                cognito: self
                    .sdk
                    .as_ref()
                    .map(aws_sdk_cognitoidentityprovider::Client::new),
                cloudwatch: self.sdk.as_ref().map(aws_sdk_cloudwatch::Client::new),
            }
        } else {
            let sdk = self
                .sdk
                .as_ref()
                .ok_or_else(|| Unreachable::NoConfig(cell.name.clone()))?;
            let region = cell
                .region
                .clone()
                .unwrap_or_else(|| settings.region.clone());
            let role = cell
                .role_arn(&cell.access_role_name(prefix))
                .ok_or_else(|| Unreachable::NoConfig(cell.name.clone()))?;
            let credentials = aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_config::sts::AssumeRoleProvider::builder(role)
                    .external_id(cell.external_id(prefix))
                    .session_name(format!("{prefix}-control-plane"))
                    .region(aws_config::Region::new(region.clone()))
                    .configure(sdk)
                    .build()
                    .await,
            );
            let config = aws_sdk_cloudformation::config::Builder::from(sdk)
                .region(aws_config::Region::new(region.clone()))
                .credentials_provider(credentials.clone())
                .build();
            let cognito = aws_sdk_cognitoidentityprovider::config::Builder::from(sdk)
                .region(aws_config::Region::new(region.clone()))
                .credentials_provider(credentials.clone())
                .build();
            let cloudwatch = aws_sdk_cloudwatch::config::Builder::from(sdk)
                .region(aws_config::Region::new(region.clone()))
                .credentials_provider(credentials)
                .build();
            Reach {
                cell: cell.clone(),
                cfn: aws_sdk_cloudformation::Client::from_conf(config),
                pace: Arc::new(TokenBucket::new(&cell.cloud_formation)),
                provisioning_role_arn: cell.role_arn(&cell.provisioning_role_name(prefix)),
                bucket: cell.bucket_name(prefix).unwrap_or_default(),
                region,
                cognito: Some(aws_sdk_cognitoidentityprovider::Client::from_conf(cognito)),
                cloudwatch: Some(aws_sdk_cloudwatch::Client::from_conf(cloudwatch)),
            }
        };
        self.reached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(cell.name.clone(), reach.clone());
        Ok(reach)
    }

    /// Until when the calls of cell `name` are paused, if it was reached and throttled.
    pub fn paused_until(&self, name: &str) -> Option<Instant> {
        let reached = self.reached.lock().unwrap_or_else(|e| e.into_inner());
        reached.get(name)?.pace.paused_until()
    }

    /// Every throttling answer reported so far, per cell reached.
    pub fn throttles(&self) -> Vec<(String, u64)> {
        let reached = self.reached.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<(String, u64)> = reached
            .iter()
            .map(|(name, r)| (name.clone(), r.pace.throttle_count()))
            .collect();
        out.sort();
        out
    }
}

/// How many times onboarding reads the counts again after losing every open cell to
/// concurrent onboardings.
const PLACEMENT_ROUNDS: usize = 3;

impl super::ControlPlane {
    /// Places a new `tenant` (its `cell` is set here) and writes it: the cells that take it,
    /// least filled first, each tried with its count raised in the tenant's own transaction.
    /// A cell that fills up in between is skipped. Fails with `NoCell` when none has room,
    /// and then nothing is written.
    pub async fn create_placed(
        &self,
        mut tenant: super::tenant::Tenant,
        region: Option<&str>,
    ) -> Result<super::tenant::Tenant, super::Error> {
        let cells = self.cells().await?;
        let names: Vec<&str> = cells.iter().map(|c| c.name.as_str()).collect();
        let home_region = self.settings().region.clone();
        for _ in 0..PLACEMENT_ROUNDS {
            let counts = self.store().cell_counts(&names).await?;
            let order = place(
                &cells,
                &counts,
                &tenant.deployment_type,
                region,
                &home_region,
            )?;
            for cell in order {
                tenant.cell = Some(cell.name.clone());
                let slot = super::store::Slot {
                    cell: cell.name.clone(),
                    capacity: cell.capacity,
                };
                match self.store().create_in(&tenant, Some(&slot)).await {
                    Ok(()) => return Ok(tenant),
                    Err(super::store::Error::CellFull(_)) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        // Every open cell filled up while this request tried it: report them as they are now.
        let counts = self.store().cell_counts(&names).await?;
        match place(
            &cells,
            &counts,
            &tenant.deployment_type,
            region,
            &home_region,
        ) {
            Err(e) => Err(e.into()),
            Ok(_) => Err(NoCell::Full {
                deployment_type: tenant.deployment_type.clone(),
                region: region.map(str::to_owned),
                fill: vec!["the open cells filled up while this request tried them".to_owned()],
            }
            .into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(name: &str, region: Option<&str>, capacity: u32, types: Option<&[&str]>) -> Cell {
        Cell {
            name: name.to_owned(),
            account: region.map(|_| "210987654321".to_owned()),
            region: region.map(str::to_owned),
            capacity,
            deployment_types: types.map(|t| t.iter().map(|s| (*s).to_owned()).collect()),
            ..Cell::home()
        }
    }

    /// Paused time advances by the sleeps, which are computed in floating point.
    fn close(a: Duration, b: Duration) -> bool {
        a.abs_diff(b) < Duration::from_millis(1)
    }

    fn names(cells: &[&Cell]) -> Vec<String> {
        cells.iter().map(|c| c.name.clone()).collect()
    }

    #[test]
    fn least_filled_first_by_share() {
        let cells = [
            cell("home", None, 10, None),
            cell("eu", Some("eu-west-1"), 100, None),
            cell("us2", Some("us-west-2"), 4, None),
        ];
        let counts = HashMap::from([("home".into(), 5), ("eu".into(), 10), ("us2".into(), 1)]);
        let order = place(&cells, &counts, "silo", None, "us-east-1").unwrap();
        // 10/100 < 1/4 < 5/10
        assert_eq!(names(&order), ["eu", "us2", "home"]);
        // Ties go to the smaller count, then to the declared order.
        let counts = HashMap::new();
        let order = place(&cells, &counts, "silo", None, "us-east-1").unwrap();
        assert_eq!(names(&order), ["home", "eu", "us2"]);
    }

    #[test]
    fn type_region_and_room_filter() {
        let cells = [
            cell("home", None, 2, Some(&["silo"])),
            cell("eu", Some("eu-west-1"), 2, Some(&["premium"])),
            cell("eu2", Some("eu-west-1"), 1, None),
        ];
        let counts = HashMap::from([("eu2".into(), 1)]);
        assert_eq!(
            names(&place(&cells, &counts, "silo", None, "us-east-1").unwrap()),
            ["home"]
        );
        assert_eq!(
            names(
                &place(
                    &cells,
                    &HashMap::new(),
                    "silo",
                    Some("eu-west-1"),
                    "us-east-1"
                )
                .unwrap()
            ),
            ["eu2"]
        );
        // The home cell's region is the control plane's.
        assert_eq!(
            names(&place(&cells, &counts, "silo", Some("us-east-1"), "us-east-1").unwrap()),
            ["home"]
        );
        assert_eq!(
            place(&cells, &counts, "silo", Some("eu-west-1"), "us-east-1").unwrap_err(),
            NoCell::Full {
                deployment_type: "silo".into(),
                region: Some("eu-west-1".into()),
                fill: vec!["eu2 (1/1)".into()],
            }
        );
        assert_eq!(
            place(&cells, &counts, "gold", Some("us-east-1"), "us-east-1")
                .unwrap_err()
                .to_string(),
            "no cell takes deployment type gold in region us-east-1"
        );
        assert_eq!(
            place(&cells, &counts, "premium", Some("ap-south-1"), "us-east-1")
                .unwrap_err()
                .to_string(),
            "no cell takes deployment type premium in region ap-south-1"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_bucket_paces_calls() {
        let bucket = TokenBucket::new(&Pace {
            calls_per_second: 2.0,
            burst: 3,
        });
        let start = Instant::now();
        for _ in 0..3 {
            bucket.take().await;
        }
        // The burst goes at once.
        assert_eq!(start.elapsed(), Duration::ZERO);
        for _ in 0..4 {
            bucket.take().await;
        }
        // Then two a second.
        assert!(
            close(start.elapsed(), Duration::from_secs(2)),
            "{:?}",
            start.elapsed()
        );
        bucket.throttled();
        let before = Instant::now();
        bucket.take().await;
        assert!(before.elapsed() >= THROTTLE_PAUSE, "{:?}", before.elapsed());
        assert_eq!(bucket.throttle_count(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_the_rate() {
        let bucket = Arc::new(TokenBucket::new(&Pace {
            calls_per_second: 10.0,
            burst: 1,
        }));
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..21 {
            let b = bucket.clone();
            tasks.spawn(async move { b.take().await });
        }
        while tasks.join_next().await.is_some() {}
        // One at once, then 20 more at ten a second.
        assert!(
            close(start.elapsed(), Duration::from_secs(2)),
            "{:?}",
            start.elapsed()
        );
    }
}
