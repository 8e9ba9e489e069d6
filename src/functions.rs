//! The control plane's functions, each declared once: its handler, its trigger (API routes, a
//! stream filter, the stack-status rule or a schedule), its environment beyond the common
//! variables, its grants, and its memory and timeout. Everything else reads [`FUNCTIONS`]:
//! - `stacks::control_plane` makes each function, its role, its trigger's resources and the
//!   HTTP API's routes from it;
//! - `lambda` dispatches on [`Handler`] (`SILOS_HANDLER` is [`Handler::name`]);
//! - `control_plane::api` builds the Router from its own route list, which a test holds equal
//!   to the routes declared here;
//! - `control_plane::provisioner` and local mode's event-source-mapping emulation decide with
//!   the same [`StreamFilter`]s that the stack renders into the mappings' filter criteria;
//! - the permission tests read the handler, environment and routes from here.
//!
//! Adding a route to a function is one [`Route`] in its declaration, plus its handler in the
//! Router's list. Adding a function is one [`Declaration`], plus its handler. Pure data: no IO.

use serde_json::{Value, json};

/// Which handler a function runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Handler {
    /// The tenant API (one axum Router, one function per route).
    Api,
    /// Provisioning and requested updates, on the tenants table's stream.
    Provisioner,
    /// Tenant stack status changes, from EventBridge.
    StackEvents,
    /// The scheduled pass over stuck tenants.
    Reconciler,
    /// The lifecycle event publisher, on the tenants table's stream.
    Events,
    /// Tenant stack alarm state changes, from EventBridge.
    Health,
}

impl Handler {
    pub const ALL: [Handler; 6] = [
        Handler::Api,
        Handler::Provisioner,
        Handler::StackEvents,
        Handler::Reconciler,
        Handler::Events,
        Handler::Health,
    ];

    /// Its `SILOS_HANDLER` value.
    pub const fn name(self) -> &'static str {
        match self {
            Handler::Api => "api",
            Handler::Provisioner => "provisioner",
            Handler::StackEvents => "stack-events",
            Handler::Reconciler => "reconciler",
            Handler::Events => "events",
            Handler::Health => "health",
        }
    }

    pub fn parse(name: &str) -> Option<Handler> {
        Handler::ALL.into_iter().find(|h| h.name() == name)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    Get,
    Post,
}

/// One route of the tenant API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    pub method: Method,
    /// axum's and API Gateway's syntax: `/tenants/{tenantId}`.
    pub path: &'static str,
}

impl Route {
    pub const fn get(path: &'static str) -> Route {
        Route {
            method: Method::Get,
            path,
        }
    }

    pub const fn post(path: &'static str) -> Route {
        Route {
            method: Method::Post,
            path,
        }
    }
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let method = match self.method {
            Method::Get => "GET",
            Method::Post => "POST",
        };
        write!(f, "{method} {}", self.path)
    }
}

/// What a stream filter asks of one string attribute of the record's new image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// It is one of these strings.
    OneOf(&'static [&'static str]),
    /// It is present (as a string).
    Present,
    /// It is absent.
    Absent,
}

/// A filter of an event source mapping on the tenants table's stream: the records of these
/// event names whose new image matches every condition. Rendered into the mapping's filter
/// criteria on AWS ([`pattern`](Self::pattern)), and evaluated the same way by local mode and
/// by the handlers themselves ([`matches`](Self::matches)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamFilter {
    pub event_names: &'static [&'static str],
    pub new_image: &'static [(&'static str, Match)],
}

impl StreamFilter {
    /// The Lambda filter pattern: `{"eventName": [...], "dynamodb": {"NewImage": {...}}}`.
    pub fn pattern(&self) -> Value {
        let image: serde_json::Map<String, Value> = self
            .new_image
            .iter()
            .map(|(name, m)| {
                let values = match m {
                    Match::OneOf(values) => json!(values),
                    Match::Present => json!([{"exists": true}]),
                    Match::Absent => json!([{"exists": false}]),
                };
                ((*name).to_owned(), json!({ "S": values }))
            })
            .collect();
        json!({"eventName": self.event_names, "dynamodb": {"NewImage": image}})
    }

    /// Whether a record with `event_name` passes, where `attribute` gives the new image's
    /// string attributes (None for one that is absent or not a string).
    pub fn matches<'a>(
        &self,
        event_name: &str,
        attribute: impl Fn(&str) -> Option<&'a str>,
    ) -> bool {
        self.event_names.contains(&event_name)
            && self
                .new_image
                .iter()
                .all(|(name, m)| match (m, attribute(name)) {
                    (Match::OneOf(values), Some(v)) => values.contains(&v),
                    (Match::OneOf(_), None) => false,
                    (Match::Present, found) => found.is_some(),
                    (Match::Absent, found) => found.is_none(),
                })
    }
}

/// A new tenant, written `initiated`: provisioning starts.
pub const PROVISION: StreamFilter = StreamFilter {
    event_names: &["INSERT"],
    new_image: &[("status", Match::OneOf(&["initiated"]))],
};

/// An update requested through the API (it sets a target version; one CloudFormation reported
/// on its own has none), whose change set is not yet recorded.
pub const UPDATE: StreamFilter = StreamFilter {
    event_names: &["MODIFY"],
    new_image: &[
        ("status", Match::OneOf(&["updating"])),
        ("targetVersion", Match::Present),
        ("changeSet", Match::Absent),
    ],
};

/// A running tenant whose front door is not recorded yet: the provisioner reads its stack's
/// outputs into the record and invites its first administrator. Once written the record
/// carries `endpoint` and no longer passes; a stack with no front door passes again on each
/// return to `running`, and is read again (one DescribeStacks).
pub const READY: StreamFilter = StreamFilter {
    event_names: &["MODIFY"],
    new_image: &[
        ("status", Match::OneOf(&["running"])),
        ("endpoint", Match::Absent),
        ("kind", Match::Absent),
    ],
};

/// Every tenant record written or changed; lock items, idempotency records and cell counts
/// carry `kind`.
pub const LIFECYCLE: StreamFilter = StreamFilter {
    event_names: &["INSERT", "MODIFY"],
    new_image: &[("kind", Match::Absent)],
};

/// What calls a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Routes of the tenant API, invoked synchronously by API Gateway.
    Routes(&'static [Route]),
    /// The tenants table's stream, through an event source mapping with these filters (any
    /// of them passes a record) and an on-failure queue.
    Stream {
        filters: &'static [StreamFilter],
        /// What the on-failure queue keeps, for its output's description.
        failures: &'static str,
        /// The batches each shard runs at once (Lambda's ParallelizationFactor, 1 to 10).
        /// Lambda keeps one partition key's records in order, so one tenant's are.
        parallelization: u32,
    },
    /// Tenant stack status changes: the rule on the default bus, and the rule for what cells
    /// in other accounts forward.
    StackStatus,
    /// Tenant stack alarm state changes: the rule on the default bus, and the rule for what
    /// cells in other accounts forward.
    AlarmState,
    /// An EventBridge schedule.
    Schedule {
        expression: &'static str,
        description: &'static str,
    },
}

/// EventBridge's detail type for a CloudWatch alarm state change, which [`Trigger::AlarmState`]
/// takes.
pub const ALARM_STATE_CHANGE: &str = "CloudWatch Alarm State Change";

/// An environment variable beyond the common ones (handler, prefix, table, bucket, catalog).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Env {
    /// `PROVISIONING_ROLE_ARN`: the role CloudFormation assumes for tenant stacks.
    ProvisioningRole,
    /// `EVENT_BUS`: the lifecycle event bus's ARN.
    EventBus,
    /// `SILOS_EVENT_NAMES`: the detail types the app chose.
    EventNames,
    /// `SILOS_DRIFT_INTERVAL_SECONDS`: how often the drift pass runs (0: never).
    DriftInterval,
}

/// What a function's role may do, in the order its statements are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    /// These actions on the tenants table.
    Table(&'static [&'static str]),
    /// These actions on the tenants table's status index.
    StatusIndex(&'static [&'static str]),
    /// Reading the catalog (`catalog/*` in the artifacts bucket).
    Catalog,
    /// Reading the tenant templates (`templates/*`): CloudFormation reads TemplateURL with the
    /// caller's credentials.
    Templates,
    /// These CloudFormation actions on tenant stacks.
    TenantStacks(&'static [&'static str]),
    /// Passing the provisioning role to CloudFormation.
    PassProvisioningRole,
    /// The update change sets' actions on tenant stacks, for change sets named
    /// `{prefix}-update-*`.
    ChangeSets,
    /// Putting events on the lifecycle bus.
    PutEvents,
    /// These Cognito actions on the tenants' user pools (tagged with the app's `silos:app`).
    TenantDirectories(&'static [&'static str]),
    /// Drift detection on tenant stacks: DetectStackDrift and its results on the stacks, and
    /// the read-handler actions of every tenant resource type, with which CloudFormation
    /// reads the resources as the caller.
    DriftDetection,
    /// Assuming the access role of each cell in another account (none without such cells).
    /// Its statement comes after the trigger's own grants, and the role goes under the
    /// control-plane path, which the cells' access roles trust.
    CellAccess,
}

/// One control-plane function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Declaration {
    /// Its logical-ID stem: `Onboarding` makes `OnboardingFunction` and `OnboardingRole`.
    pub id: &'static str,
    pub handler: Handler,
    /// Empty for an API function: its routes describe it.
    pub description: &'static str,
    pub trigger: Trigger,
    pub env: &'static [Env],
    pub grants: &'static [Grant],
    /// Megabytes; None for the construct's default.
    pub memory: Option<u32>,
    /// Seconds; None for the construct's default.
    pub timeout: Option<u32>,
}

impl Declaration {
    pub fn routes(&self) -> &'static [Route] {
        match self.trigger {
            Trigger::Routes(routes) => routes,
            _ => &[],
        }
    }

    pub fn stream_filters(&self) -> &'static [StreamFilter] {
        match self.trigger {
            Trigger::Stream { filters, .. } => filters,
            _ => &[],
        }
    }

    /// What the function's description says: the declared one, or an API function's routes.
    pub fn description(&self) -> String {
        if self.description.is_empty() {
            let routes: Vec<String> = self.routes().iter().map(Route::to_string).collect();
            return routes.join(", ");
        }
        self.description.to_owned()
    }

    pub fn has(&self, grant: Grant) -> bool {
        self.grants.contains(&grant)
    }

    /// `{id}Function`, its logical ID in the template.
    pub fn function_id(&self) -> String {
        format!("{}Function", self.id)
    }
}

/// The function that runs `handler` (the first, for the API's), if any.
pub fn of(handler: Handler) -> Option<&'static Declaration> {
    FUNCTIONS.iter().find(|d| d.handler == handler)
}

/// Every declared route, in declaration order.
pub fn routes() -> impl Iterator<Item = Route> {
    FUNCTIONS.iter().flat_map(|d| d.routes().iter().copied())
}

const fn api(id: &'static str, route: &'static [Route], grants: &'static [Grant]) -> Declaration {
    Declaration {
        id,
        handler: Handler::Api,
        description: "",
        trigger: Trigger::Routes(route),
        env: &[],
        grants,
        memory: None,
        timeout: None,
    }
}

/// The control plane's functions. One function per API route, each with only the calls its
/// route makes. With an Idempotency-Key a mutating route also reads the key's record
/// (GetItem), claims it in its first write's transaction (PutItem) and records the answer
/// (UpdateItem).
pub const FUNCTIONS: &[Declaration] = &[
    // Every tenant: a Scan, page by page. By status: a Query of the index.
    api(
        "ListTenants",
        &[Route::get("/tenants")],
        &[
            Grant::Table(&["dynamodb:Scan"]),
            Grant::StatusIndex(&["dynamodb:Query"]),
        ],
    ),
    api(
        "GetTenant",
        &[Route::get("/tenants/{tenantId}")],
        &[Grant::Table(&["dynamodb:GetItem"])],
    ),
    // A tenant and its name lock: two conditional Puts in one transaction, with a check that
    // no tenant recorded before Unicode names holds the name under its old lock. Placement
    // reads the cells' counts (BatchGetItem) and raises one in the same transaction.
    api(
        "Onboarding",
        &[Route::post("/onboarding")],
        &[
            Grant::Table(&[
                "dynamodb:BatchGetItem",
                "dynamodb:ConditionCheckItem",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
            ]),
            Grant::Catalog,
        ],
    ),
    // The catalog says which cell the tenant's stack is in, and how to reach it.
    api(
        "Delete",
        &[Route::post("/delete")],
        &[
            Grant::Table(&[
                "dynamodb:DeleteItem",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
            ]),
            Grant::TenantStacks(&["cloudformation:DeleteStack"]),
            Grant::Catalog,
            Grant::CellAccess,
        ],
    ),
    api(
        "TenantInfo",
        &[Route::post("/tenant-info")],
        &[
            Grant::Table(&["dynamodb:GetItem"]),
            Grant::TenantStacks(&["cloudformation:ListStackResources"]),
            Grant::Catalog,
            Grant::CellAccess,
        ],
    ),
    // A retry provisions at once; only a retry clears a stack a failed create left behind
    // (DeleteStack).
    Declaration {
        env: &[Env::ProvisioningRole],
        ..api(
            "Retry",
            &[Route::post("/retry")],
            &[
                Grant::Table(&["dynamodb:GetItem", "dynamodb:UpdateItem"]),
                Grant::TenantStacks(&[
                    "cloudformation:CreateStack",
                    "cloudformation:DeleteStack",
                    "cloudformation:DescribeStacks",
                ]),
                Grant::PassProvisioningRole,
                Grant::Templates,
                Grant::Catalog,
                Grant::Table(&["dynamodb:PutItem"]),
                Grant::CellAccess,
            ],
        )
    },
    // A tier move's plan reads the tenant and the catalog (its resource summaries and cells).
    api(
        "MovePlan",
        &[Route::post("/move-plan")],
        &[Grant::Table(&["dynamodb:GetItem"]), Grant::Catalog],
    ),
    // Drift detection, started or collected per tenant in its cell; CloudFormation reads each
    // resource with this function's credentials.
    api(
        "Drift",
        &[Route::post("/drift")],
        &[
            Grant::Table(&["dynamodb:GetItem", "dynamodb:UpdateItem"]),
            Grant::DriftDetection,
            Grant::Catalog,
            Grant::CellAccess,
        ],
    ),
    // The update route only records the request (a tier move's after checking its plan); the
    // provisioner carries it out.
    api(
        "Update",
        &[Route::post("/update")],
        &[
            Grant::Table(&[
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
            ]),
            Grant::Catalog,
        ],
    ),
    api(
        "DeploymentTypes",
        &[Route::get("/deployment-types")],
        &[Grant::Catalog],
    ),
    Declaration {
        id: "Provisioner",
        handler: Handler::Provisioner,
        description: "Creates tenant stacks for new tenants, updates them on request, and records each running tenant's front door and invites its administrator, from the table stream",
        trigger: Trigger::Stream {
            filters: &[PROVISION, UPDATE, READY],
            failures: "Stream records the provisioner could not process",
            // Four shards at one batch each moved ~75 tenants a second against 100 arriving
            // (docs/SCALING.md); ten lanes a shard keep up, one tenant's records in order.
            parallelization: 10,
        },
        env: &[Env::ProvisioningRole],
        grants: &[
            Grant::Table(&["dynamodb:GetItem", "dynamodb:UpdateItem"]),
            Grant::TenantStacks(&[
                "cloudformation:CreateStack",
                "cloudformation:DescribeStacks",
            ]),
            Grant::PassProvisioningRole,
            Grant::Templates,
            Grant::Catalog,
            Grant::ChangeSets,
            Grant::TenantDirectories(&["cognito-idp:AdminCreateUser"]),
            Grant::CellAccess,
        ],
        memory: None,
        timeout: Some(120),
    },
    // Every committed transition, published with its own mapping (retries, bisection, an
    // on-failure queue), so a failed publish never holds up provisioning. A running tenant's
    // event carries its stack's outputs, read in the tenant's cell, which the catalog names.
    Declaration {
        id: "EventPublisher",
        handler: Handler::Events,
        description: "Publishes tenant lifecycle events on the event bus, from the table stream",
        trigger: Trigger::Stream {
            filters: &[LIFECYCLE],
            failures: "Stream records whose lifecycle events could not be published",
            // One lane a shard trailed the stream by thousands of events (docs/SCALING.md).
            parallelization: 10,
        },
        env: &[Env::EventBus, Env::EventNames],
        grants: &[
            Grant::PutEvents,
            Grant::TenantStacks(&["cloudformation:DescribeStacks"]),
            Grant::Catalog,
            Grant::CellAccess,
        ],
        memory: None,
        timeout: None,
    },
    // Reaching `deleted` frees the tenant's name: an update and a lock delete in one
    // transaction.
    Declaration {
        id: "StackEvents",
        handler: Handler::StackEvents,
        description: "Moves tenants through their statuses on tenant stack status changes",
        trigger: Trigger::StackStatus,
        env: &[],
        grants: &[Grant::Table(&[
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
        ])],
        memory: None,
        timeout: None,
    },
    // An alarm state change sets its tenant's health: a read, then a write conditional on the
    // health it read.
    Declaration {
        id: "Health",
        handler: Handler::Health,
        description: "Sets tenants' health from their stacks' alarm state changes",
        trigger: Trigger::AlarmState,
        env: &[],
        grants: &[Grant::Table(&["dynamodb:GetItem", "dynamodb:UpdateItem"])],
        memory: None,
        timeout: None,
    },
    // Tenants stuck in a transitional status, repaired from their stacks: it lists the tenants
    // in flight (a Query of the status index), applies stack statuses like the stack-events
    // handler (a delete frees the name lock), resumes provisioning like the provisioner (a
    // retried tenant's dead stack is deleted first), resumes updates, and calls DeleteStack
    // again for a tenant left deleting.
    Declaration {
        id: "Reconciler",
        handler: Handler::Reconciler,
        description: "Repairs tenants stuck in provisioning, deleting or updating, from their stacks, and runs the scheduled drift pass",
        trigger: Trigger::Schedule {
            expression: "rate(5 minutes)",
            description: "Runs the reconciler over stuck tenants",
        },
        env: &[Env::ProvisioningRole, Env::DriftInterval],
        grants: &[
            Grant::Table(&["dynamodb:GetItem", "dynamodb:UpdateItem"]),
            Grant::TenantStacks(&[
                "cloudformation:CreateStack",
                "cloudformation:DeleteStack",
                "cloudformation:DescribeStacks",
            ]),
            // The drift pass: its place (PutItem), and detection on each running tenant.
            Grant::Table(&["dynamodb:PutItem"]),
            Grant::DriftDetection,
            Grant::PassProvisioningRole,
            Grant::Templates,
            Grant::Catalog,
            Grant::ChangeSets,
            Grant::Table(&["dynamodb:DeleteItem"]),
            Grant::StatusIndex(&["dynamodb:Query"]),
            Grant::CellAccess,
        ],
        memory: None,
        timeout: Some(300),
    },
];

/// The metrics the functions write (`control_plane::metrics` writes them), which the control
/// plane's dashboard draws. Pure data.
pub mod metrics {
    /// One metric the functions write.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Metric {
        pub name: &'static str,
        pub unit: &'static str,
        /// Its one dimension, if it has one.
        pub dimension: Option<&'static str>,
        pub description: &'static str,
    }

    /// Tenants by status, counted through the status index by each reconciler pass.
    pub const TENANTS: Metric = Metric {
        name: "Tenants",
        unit: "Count",
        dimension: Some("Status"),
        description: "Tenants by status",
    };

    /// From onboarding to a running stack, for each tenant provisioned.
    pub const ONBOARDING_SECONDS: Metric = Metric {
        name: "OnboardingSeconds",
        unit: "Seconds",
        dimension: None,
        description: "Onboarding time: the request to a running stack",
    };

    /// From the delete request to a deleted stack, for each tenant offboarded.
    pub const OFFBOARDING_SECONDS: Metric = Metric {
        name: "OffboardingSeconds",
        unit: "Seconds",
        dimension: None,
        description: "Offboarding time: the request to a deleted stack",
    };

    /// Each failure: a create, an update (rolled back or failed) or a delete.
    pub const FAILURES: Metric = Metric {
        name: "Failures",
        unit: "Count",
        dimension: Some("Operation"),
        description: "Failures by operation",
    };

    /// Each tenant-stack alarm that went into ALARM.
    pub const ALARMS_FIRED: Metric = Metric {
        name: "AlarmsFired",
        unit: "Count",
        dimension: None,
        description: "Tenant alarms that went into ALARM",
    };

    /// Each change of a tenant's health, by the health it changed to.
    pub const HEALTH_CHANGES: Metric = Metric {
        name: "HealthChanges",
        unit: "Count",
        dimension: Some("Health"),
        description: "Tenant health changes, by the new health",
    };

    pub const ALL: [Metric; 6] = [
        TENANTS,
        ONBOARDING_SECONDS,
        OFFBOARDING_SECONDS,
        FAILURES,
        ALARMS_FIRED,
        HEALTH_CHANGES,
    ];

    /// The values each dimension takes, for the dashboard's lines.
    pub fn dimension_values(metric: Metric) -> &'static [&'static str] {
        match metric.dimension {
            Some("Status") => &[
                "initiated",
                "provisioning",
                "running",
                "updating",
                "deleting",
                "failed",
            ],
            Some("Operation") => &["create", "update", "delete"],
            Some("Health") => &["ok", "alarm"],
            _ => &[],
        }
    }

    /// The app's namespace: `Silos/{prefix}`, so two apps in one account keep apart.
    pub fn namespace(prefix: &str) -> String {
        format!("Silos/{prefix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_handler_is_named_and_parsed_back() {
        for h in Handler::ALL {
            assert_eq!(Handler::parse(h.name()), Some(h));
        }
        assert_eq!(Handler::parse("nope"), None);
    }

    #[test]
    fn ids_and_routes_are_declared_once() {
        let mut ids = std::collections::BTreeSet::new();
        for d in FUNCTIONS {
            assert!(ids.insert(d.id), "{} twice", d.id);
            assert!(d.id.chars().all(|c| c.is_ascii_alphanumeric()), "{}", d.id);
        }
        let routes: Vec<Route> = routes().collect();
        let unique: std::collections::BTreeSet<Route> = routes.iter().copied().collect();
        assert_eq!(routes.len(), unique.len(), "{routes:?}");
        for h in Handler::ALL {
            assert!(of(h).is_some(), "no function runs {h:?}");
        }
    }

    /// `(event name, [(attribute, value)])` against a filter.
    fn check(filter: &StreamFilter, event: &str, image: &[(&str, &'static str)], expected: bool) {
        let attribute = |k: &str| image.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        assert_eq!(
            filter.matches(event, attribute),
            expected,
            "{event} {image:?}"
        );
    }

    #[test]
    fn the_provisioners_filters_pass_new_tenants_and_requested_updates_only() {
        check(&PROVISION, "INSERT", &[("status", "initiated")], true);
        check(&PROVISION, "MODIFY", &[("status", "initiated")], false);
        check(&PROVISION, "INSERT", &[("status", "running")], false);
        check(&PROVISION, "INSERT", &[], false);
        let requested = [("status", "updating"), ("targetVersion", "v2")];
        check(&UPDATE, "MODIFY", &requested, true);
        check(&UPDATE, "INSERT", &requested, false);
        // Reported by CloudFormation on its own: no target.
        check(&UPDATE, "MODIFY", &[("status", "updating")], false);
        // Its change set recorded: the provisioner's own write, already carried out.
        check(
            &UPDATE,
            "MODIFY",
            &[
                ("status", "updating"),
                ("targetVersion", "v2"),
                ("changeSet", "cs-1"),
            ],
            false,
        );
        check(&READY, "MODIFY", &[("status", "running")], true);
        check(&READY, "INSERT", &[("status", "running")], false);
        check(&READY, "MODIFY", &[("status", "updating")], false);
        check(
            &READY,
            "MODIFY",
            &[("status", "running"), ("endpoint", "https://e")],
            false,
        );
        check(&LIFECYCLE, "MODIFY", &[("status", "running")], true);
        check(&LIFECYCLE, "REMOVE", &[("status", "running")], false);
        check(&LIFECYCLE, "INSERT", &[("kind", "name-lock")], false);
    }

    #[test]
    fn a_filter_renders_as_lambdas_filter_pattern() {
        assert_eq!(
            UPDATE.pattern(),
            json!({
                "eventName": ["MODIFY"],
                "dynamodb": {"NewImage": {
                    "status": {"S": ["updating"]},
                    "targetVersion": {"S": [{"exists": true}]},
                    "changeSet": {"S": [{"exists": false}]}
                }}
            })
        );
    }
}
