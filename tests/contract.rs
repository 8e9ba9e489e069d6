//! The API's JSON shapes, one type each (`control_plane::api`'s contract types, the tenant
//! record, `outputs.json`, the catalog pointer): a snapshot of a sample of every one, so that a
//! contract change is a reviewed diff, and a round trip of each, so that what one side writes
//! the other reads back unchanged.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;
use serde::de::DeserializeOwned;
use silos::blueprint::TenantData;
use silos::blueprint::catalog::Pointer;
use silos::cli::outputs::Outputs;
use silos::control_plane::api::{
    DeleteRequest, DriftInformation, ErrorBody, ErrorDetail, MoveAction, MovePlan, MovePlanRequest,
    OnboardingRequest, PlannedChange, PublishedType, StackResource, TenantRequest, TenantsPage,
    UpdateRequest,
};
use silos::control_plane::api::{DriftAnswer, DriftRequest, TenantError};
use silos::control_plane::tenant::{
    Detection, Drift, DriftStatus, DriftedResource, PropertyDifference, Status, Tenant, TenantName,
    Timestamp,
};

fn tenant() -> Tenant {
    let mut t = Tenant::new(
        "0f8c2d3e-5b1d-4e8a-9c6f-2d4b8a1e3f70".to_owned(),
        TenantName::parse("Acme Corp").unwrap(),
        "silo",
        Timestamp {
            millis: 1_700_000_000_120,
        },
    );
    t.cell = Some("home".to_owned());
    t.status = Status::Updating;
    t.stack_name = Some("silos-tenant-0f8c2d3e-5b1d-4e8a-9c6f-2d4b8a1e3f70".to_owned());
    t.stack_id = Some("arn:aws:cloudformation:us-east-1:123456789012:stack/silos-tenant-0f8c2d3e-5b1d-4e8a-9c6f-2d4b8a1e3f70/1".to_owned());
    t.status_changed_at = Timestamp {
        millis: 1_700_000_360_000,
    };
    t.version = Some("v1".to_owned());
    t.target_version = Some("v2".to_owned());
    t.endpoint = Some("https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com".to_owned());
    t.identity = Some(silos::control_plane::tenant::Identity {
        user_pool_id: "us-east-1_AbCdEf123".to_owned(),
        client_id: "4l2kq3h2b1example".to_owned(),
        issuer: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123".to_owned(),
    });
    t.admin_email = Some("ops@acme.example".to_owned());
    // Internal fields, never in the shape.
    t.change_set = Some("silos-update-v2".to_owned());
    t.attempt = 3;
    t
}

/// `value` as pretty JSON under a heading, after checking it reads back as itself.
fn shape<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    out: &mut String,
    heading: &str,
    value: &T,
) {
    let json = serde_json::to_string_pretty(value).unwrap();
    let back: T = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, value, "{heading} reads back as written");
    writeln!(out, "## {heading}\n{json}\n").unwrap();
}

#[test]
fn every_contract_shape_matches_its_snapshot() {
    let mut out = String::new();
    shape(
        &mut out,
        "OnboardingRequest (POST /onboarding)",
        &OnboardingRequest {
            tenant_name: "Acme Corp".to_owned(),
            deployment_type: "silo".to_owned(),
            region: Some("eu-west-1".to_owned()),
            admin_email: Some("ops@acme.example".to_owned()),
        },
    );
    shape(
        &mut out,
        "DeleteRequest (POST /delete)",
        &DeleteRequest {
            tenant_id: "0f8c2d3e-5b1d-4e8a-9c6f-2d4b8a1e3f70".to_owned(),
            tenant_name: None,
        },
    );
    shape(
        &mut out,
        "TenantRequest (POST /tenant-info, POST /retry)",
        &TenantRequest {
            tenant_id: "0f8c2d3e-5b1d-4e8a-9c6f-2d4b8a1e3f70".to_owned(),
        },
    );
    shape(
        &mut out,
        "UpdateRequest (POST /update)",
        &UpdateRequest {
            tenant_id: "0f8c2d3e-5b1d-4e8a-9c6f-2d4b8a1e3f70".to_owned(),
            version: Some("v2".to_owned()),
            deployment_type: None,
            allow_data_loss: false,
        },
    );
    shape(
        &mut out,
        "UpdateRequest, a tier move (POST /update)",
        &UpdateRequest {
            tenant_id: "0f8c2d3e-5b1d-4e8a-9c6f-2d4b8a1e3f70".to_owned(),
            version: Some("v3".to_owned()),
            deployment_type: Some("premium".to_owned()),
            allow_data_loss: true,
        },
    );
    shape(
        &mut out,
        "MovePlanRequest (POST /move-plan)",
        &MovePlanRequest {
            tenant_id: "0f8c2d3e-5b1d-4e8a-9c6f-2d4b8a1e3f70".to_owned(),
            deployment_type: "silo".to_owned(),
        },
    );
    shape(
        &mut out,
        "MovePlan (POST /move-plan)",
        &MovePlan {
            tenant_id: "0f8c2d3e-5b1d-4e8a-9c6f-2d4b8a1e3f70".to_owned(),
            from: "premium".to_owned(),
            to: "silo".to_owned(),
            version: Some("v3".to_owned()),
            changes: vec![
                PlannedChange {
                    logical_id: "Files".to_owned(),
                    resource_type: "AWS::S3::Bucket".to_owned(),
                    action: MoveAction::Remove,
                    loses_data: true,
                    retained: true,
                },
                PlannedChange {
                    logical_id: "Topic".to_owned(),
                    resource_type: "AWS::SNS::Topic".to_owned(),
                    action: MoveAction::Add,
                    loses_data: false,
                    retained: false,
                },
            ],
        },
    );
    // Internal fields (the change set, the attempt) are left out: the shape the API
    // returns reads back as the record without them.
    let mut record = tenant();
    let json = serde_json::to_value(&record).unwrap();
    record.change_set = None;
    record.attempt = 0;
    record.name_lock = None;
    assert_eq!(serde_json::from_value::<Tenant>(json).unwrap(), record);
    shape(
        &mut out,
        "Tenant (GET /tenants/{tenantId}, and every mutating route's answer)",
        &record,
    );
    shape(
        &mut out,
        "TenantsPage (GET /tenants?limit=)",
        &TenantsPage {
            tenants: vec![record.clone()],
            next_token: Some("eyJ2IjoxfQ".to_owned()),
        },
    );
    shape(
        &mut out,
        "DriftRequest (POST /drift)",
        &DriftRequest {
            tenant_ids: vec!["0f8c2d3e-5b1d-4e8a-9c6f-2d4b8a1e3f70".to_owned()],
        },
    );
    // Drift is detected on running tenants.
    let mut drifted = record.clone();
    drifted.status = Status::Running;
    drifted.target_version = None;
    drifted.drift = Some(Drift {
        status: DriftStatus::Drifted,
        checked_at: Some(Timestamp {
            millis: 1_796_600_000_000,
        }),
        resources: vec![DriftedResource {
            logical_id: "TenantFunction".to_owned(),
            physical_id: Some("silos-tenant-0f8c2d3e".to_owned()),
            resource_type: "AWS::Lambda::Function".to_owned(),
            status: "MODIFIED".to_owned(),
            differences: vec![PropertyDifference {
                path: "/MemorySize".to_owned(),
                expected: Some("128".to_owned()),
                actual: Some("512".to_owned()),
                kind: "NOT_EQUAL".to_owned(),
            }],
        }],
        reason: None,
        detection: None,
        previous: Some(DriftStatus::InSync),
    });
    let mut detecting = record.clone();
    detecting.tenant_id = "1a8c2d3e-5b1d-4e8a-9c6f-2d4b8a1e3f70".to_owned();
    detecting.drift = Some(Drift {
        status: DriftStatus::NotChecked,
        checked_at: None,
        resources: Vec::new(),
        reason: None,
        detection: Some(Detection {
            id: "a1b2c3d4-0000-4000-8000-000000000001".to_owned(),
            started_at: Timestamp {
                millis: 1_796_600_000_000,
            },
        }),
        previous: None,
    });
    shape(
        &mut out,
        "DriftAnswer (POST /drift)",
        &DriftAnswer {
            tenants: vec![drifted, detecting],
            errors: vec![TenantError {
                tenant_id: "2b8c2d3e-5b1d-4e8a-9c6f-2d4b8a1e3f70".to_owned(),
                error: ErrorDetail {
                    code: "TenantNotFound".to_owned(),
                    message: "tenant 2b8c2d3e-5b1d-4e8a-9c6f-2d4b8a1e3f70 not found".to_owned(),
                },
            }],
        },
    );
    shape(
        &mut out,
        "StackResource (POST /tenant-info)",
        &vec![StackResource {
            logical_resource_id: "TenantTable".to_owned(),
            physical_resource_id: Some("silos-tenant-0f8c2d3e-table".to_owned()),
            resource_type: "AWS::DynamoDB::Table".to_owned(),
            last_updated_timestamp: Some("2026-12-06T20:00:00Z".to_owned()),
            resource_status: Some("CREATE_COMPLETE".to_owned()),
            drift_information: DriftInformation {
                stack_resource_drift_status: "NOT_CHECKED".to_owned(),
            },
        }],
    );
    shape(
        &mut out,
        "PublishedType (GET /deployment-types)",
        &vec![PublishedType {
            deployment_type: "silo".to_owned(),
            description: "Dedicated table and function per tenant.".to_owned(),
            version: Some("v2".to_owned()),
            tenant_data: TenantData::Retain,
        }],
    );
    shape(
        &mut out,
        "ErrorBody (every error)",
        &ErrorBody {
            error: ErrorDetail {
                code: "TenantNameTaken".to_owned(),
                message: "tenantName \"Acme Corp\" is taken".to_owned(),
            },
        },
    );
    shape(
        &mut out,
        "Outputs (out/outputs.json)",
        &Outputs {
            mode: "local".to_owned(),
            prefix: "silos".to_owned(),
            region: "us-east-1".to_owned(),
            api_url: Some("http://127.0.0.1:8080".to_owned()),
            endpoint_url: Some("http://127.0.0.1:5000".to_owned()),
            artifacts_bucket: "silos-artifacts".to_owned(),
            tenants_table: Some("silos-tenants".to_owned()),
            provisioning_role_arn: None,
            require_auth: Some(false),
            stacks: BTreeMap::from([(
                "silos-control-plane".to_owned(),
                BTreeMap::from([("TenantsTableName".to_owned(), "silos-tenants".to_owned())]),
            )]),
        },
    );
    shape(
        &mut out,
        "Pointer (catalog/current.json)",
        &Pointer {
            key: "catalog/3f2a9c1b.json".to_owned(),
        },
    );
    insta::assert_snapshot!("contract-shapes", out);
}
