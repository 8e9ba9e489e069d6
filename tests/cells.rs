//! Cells in local mode: three cells (the control plane's own account and two more) in one
//! emulator, which keeps a separate account for the credentials `sts:AssumeRole` gives on a
//! role of another account id. Placement by the rules, a full cell skipped, all full refused
//! with nothing written, and delete, tenant-info and an upgrade wave each in the right account.

mod common;

use std::path::Path;

use common::local::{Local, stderr};
use serde_json::Value;

const CELLS: &str = "\
cells:
  - name: home
    capacity: 2
  - name: eu
    account: \"210987654321\"
    region: eu-west-1
    capacity: 2
  - name: ap
    account: \"310987654321\"
    region: ap-south-1
    capacity: 1
";

/// The project's blueprints (the silo function's memory at `mb`) and `cells`.
fn blueprints(dir: &Path, mb: &str, cells: &str) {
    let silo = std::fs::read_to_string("blueprints/silo.yaml").unwrap();
    let silo = silo.replace("MemorySize: \"128\"", &format!("MemorySize: \"{mb}\""));
    std::fs::write(dir.join("silo.yaml"), silo).unwrap();
    std::fs::write(dir.join("cells.yaml"), cells).unwrap();
}

/// CloudFormation in `account` and `region` of the emulator: the home account's credentials,
/// or those of a role assumed in another account.
async fn cfn_in(local: &Local, account: &str, region: &str) -> aws_sdk_cloudformation::Client {
    let sdk = local.sdk_config();
    if account == silos::aws::EMULATOR_ACCOUNT {
        let config = aws_sdk_cloudformation::config::Builder::from(&sdk)
            .region(aws_config::Region::new(region.to_owned()))
            .build();
        return aws_sdk_cloudformation::Client::from_conf(config);
    }
    let credentials = aws_config::sts::AssumeRoleProvider::builder(format!(
        "arn:aws:iam::{account}:role/cells-test"
    ))
    .session_name("cells-test")
    .configure(&sdk)
    .build()
    .await;
    let config = aws_sdk_cloudformation::config::Builder::from(&sdk)
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(credentials)
        .build();
    aws_sdk_cloudformation::Client::from_conf(config)
}

/// The status of stack `id` as `account` sees it in `region`, or None if it sees no such stack.
async fn stack_status(local: &Local, account: &str, region: &str, id: &str) -> Option<String> {
    let cfn = cfn_in(local, account, region).await;
    let out = cfn.describe_stacks().stack_name(id).send().await.ok()?;
    out.stacks()
        .first()
        .and_then(|s| s.stack_status())
        .map(|s| s.as_str().to_owned())
}

async fn memory_size(local: &Local, account: &str, region: &str, id: &str) -> String {
    let cfn = cfn_in(local, account, region).await;
    let out = cfn.describe_stacks().stack_name(id).send().await.unwrap();
    out.stacks()[0]
        .parameters()
        .iter()
        .find(|p| p.parameter_key() == Some("MemorySize"))
        .and_then(|p| p.parameter_value())
        .unwrap()
        .to_owned()
}

fn tenants(local: &Local) -> Vec<Value> {
    let listed = local.json(&["list"]);
    listed.as_array().cloned().unwrap_or_default()
}

/// (account, region) of a stack ARN.
fn place(stack_id: &str) -> (String, String) {
    let parts: Vec<&str> = stack_id.split(':').collect();
    (parts[4].to_owned(), parts[3].to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_spread_across_cells_and_each_is_reached_in_its_own_account() {
    let dir = tempfile::tempdir().unwrap();
    blueprints(dir.path(), "128", CELLS);
    // An emulator of the test's own, so that local mode can restart against it.
    let moto = common::Moto::start();
    let mut local = Local::start_with(Some(&moto.endpoint), Some(dir.path()));

    // Least filled first (share of capacity, then count, then declared order), full cells
    // skipped: home, eu, ap (0 of 1), home (1/2 = eu's 1/2, declared first), eu.
    let mut ids = Vec::new();
    let mut cells = Vec::new();
    for name in ["Acme", "Beta", "Gamma", "Delta", "Epsilon"] {
        let t = local.json(&["create", name]);
        ids.push(t["tenantId"].as_str().unwrap().to_owned());
        cells.push(t["cell"].as_str().unwrap().to_owned());
    }
    assert_eq!(cells, ["home", "eu", "ap", "home", "eu"]);

    // Every cell is full: refused with the reason, and nothing written.
    let refused = local.tenants(&["create", "Zeta"]);
    assert!(!refused.status.success());
    let reason = stderr(&refused);
    assert!(
        reason.contains("NoCellCapacity") && reason.contains("home (2/2), eu (2/2), ap (1/1)"),
        "{reason}"
    );
    assert_eq!(reason.trim().lines().count(), 1, "{reason}");
    let refused = local.tenants(&["create", "Zeta", "--cell-region", "sa-east-1"]);
    assert!(
        stderr(&refused).contains("no cell takes deployment type silo in region sa-east-1"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        tenants(&local).len(),
        5,
        "a refused onboarding writes nothing"
    );
    // The name of a refused tenant is still free.
    assert!(tenants(&local).iter().all(|t| t["tenantName"] != "Zeta"));

    // Each stack is in its cell's account and region, and only there.
    let accounts = |cell: &str| match cell {
        "home" => (silos::aws::EMULATOR_ACCOUNT, "us-east-1"),
        "eu" => ("210987654321", "eu-west-1"),
        "ap" => ("310987654321", "ap-south-1"),
        other => panic!("no cell {other}"),
    };
    let mut stacks = Vec::new();
    for (id, cell) in ids.iter().zip(&cells) {
        let t = local.wait(id, "running");
        let stack = t["stackId"].as_str().unwrap().to_owned();
        let (account, region) = accounts(cell);
        assert_eq!(
            place(&stack),
            (account.to_owned(), region.to_owned()),
            "{t}"
        );
        assert_eq!(
            stack_status(&local, account, region, &stack)
                .await
                .as_deref(),
            Some("CREATE_COMPLETE")
        );
        if account != silos::aws::EMULATOR_ACCOUNT {
            let name = t["stackName"].as_str().unwrap();
            assert_eq!(
                stack_status(&local, silos::aws::EMULATOR_ACCOUNT, region, name).await,
                None,
                "the control plane's own account sees no stack of cell {cell}"
            );
        }
        stacks.push(stack);
    }

    // tenant-info reads the stack's resources in the ap account.
    let info = local.json(&["info", &ids[2]]);
    let resources = info["resources"].as_array().unwrap();
    // Every resource of the reference silo's template.
    let template: Value = serde_json::from_str(
        &silos::synth::synth(
            &common::app(),
            &silos::stacks::Config::new("silos").unwrap(),
            std::path::Path::new("blueprints"),
            silos::synth::Format::Json,
        )
        .unwrap()
        .files
        .iter()
        .find(|f| f.name == "tenant-silo.json")
        .unwrap()
        .contents,
    )
    .unwrap();
    let declared = template["Resources"].as_object().unwrap().len();
    assert_eq!(resources.len(), declared, "{info}");
    assert!(
        resources
            .iter()
            .all(|r| r["ResourceStatus"] == "CREATE_COMPLETE")
    );

    // Delete reaches the eu account; the cell then has room for one more.
    let out = local.tenants(&["delete", &ids[1]]);
    assert!(out.status.success(), "{}", stderr(&out));
    local.wait(&ids[1], "deleted");
    let (account, region) = accounts("eu");
    assert_ne!(
        stack_status(&local, account, region, &stacks[1])
            .await
            .as_deref(),
        Some("CREATE_COMPLETE"),
        "the eu tenant's stack is deleted in the eu account"
    );
    let again = local.json(&["create", "Eta"]);
    assert_eq!(again["cell"], "eu", "{again}");
    ids.push(again["tenantId"].as_str().unwrap().to_owned());
    cells.push("eu".to_owned());
    let eta = local.wait(&ids[5], "running");
    stacks.push(eta["stackId"].as_str().unwrap().to_owned());

    // An upgrade wave: a new blueprint published, every live tenant updated in its own cell.
    assert!(local.interrupt().success());
    let dir2 = tempfile::tempdir().unwrap();
    blueprints(dir2.path(), "256", CELLS);
    let upgraded = Local::start_with(Some(&moto.endpoint), Some(dir2.path()));
    let out = upgraded.tenants(&["upgrade", "--wave-size", "2", "--timeout", "120"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for (i, (id, cell)) in ids.iter().zip(&cells).enumerate() {
        if i == 1 {
            continue; // deleted
        }
        let (account, region) = accounts(cell);
        upgraded.wait(id, "running");
        assert_eq!(
            memory_size(&upgraded, account, region, &stacks[i]).await,
            "256",
            "tenant {id} in cell {cell}"
        );
    }
}

/// Concurrent onboardings against a cell with one free slot: exactly one lands there, and
/// the others go to the next cell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_onboardings_never_overfill_a_cell() {
    let dir = tempfile::tempdir().unwrap();
    blueprints(
        dir.path(),
        "128",
        "cells:\n  - name: small\n    capacity: 1\n  - name: big\n    account: \"210987654321\"\n    region: eu-west-1\n    capacity: 50\n",
    );
    let local = Local::start_with(None, Some(dir.path()));
    let local = std::sync::Arc::new(local);
    let mut threads = Vec::new();
    for i in 0..8 {
        let local = local.clone();
        threads.push(std::thread::spawn(move || {
            local.json(&["create", &format!("Tenant {i}")])["cell"]
                .as_str()
                .unwrap()
                .to_owned()
        }));
    }
    let mut cells: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    cells.sort();
    assert_eq!(
        cells,
        ["big", "big", "big", "big", "big", "big", "big", "small"]
    );
    let listed = tenants(&local);
    assert_eq!(listed.len(), 8);
    assert_eq!(listed.iter().filter(|t| t["cell"] == "small").count(), 1);
}

/// `silos cells bootstrap` as a user runs it, after the control plane is deployed: by
/// default one stack per cell (the emulator's organization has no trusted access for
/// StackSets), saying so; with `--via stack-set`, one StackSet instance per cell, each
/// landing in its cell's account with the cell's parameters. Either way the cell's bucket
/// then holds the tenant template the catalog names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_deploys_each_cell_by_stacks_or_by_a_stack_set() {
    let moto = common::Moto::start();
    // The control plane, with no cells of its own yet.
    let plain = tempfile::tempdir().unwrap();
    std::fs::copy("blueprints/silo.yaml", plain.path().join("silo.yaml")).unwrap();
    let local = Local::start_with(Some(&moto.endpoint), Some(plain.path()));
    // A tenant function's zip as the user gives it (the emulator never runs it).
    let zip = plain.path().join("tenant.zip");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&zip).unwrap());
    writer
        .start_file("bootstrap", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut writer, b"#!/bin/sh\nexit 0\n").unwrap();
    writer.finish().unwrap();
    let cells = tempfile::tempdir().unwrap();
    blueprints(cells.path(), "128", CELLS);
    let bootstrap = |via: &str, blueprints: &Path| {
        local.silos(
            &[
                "cells",
                "bootstrap",
                "--yes",
                "--via",
                via,
                "--blueprints",
                blueprints.to_str().unwrap(),
                "--tenant-zip",
                zip.to_str().unwrap(),
                "--endpoint-url",
                &moto.endpoint,
            ],
            Some((
                silos::aws::EMULATOR_ACCESS_KEY,
                silos::aws::EMULATOR_SECRET_KEY,
            )),
        )
    };
    let out = bootstrap("auto", cells.path());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        text.contains(
            "deploying one stack per cell: the organization does not allow a StackSet here"
        ),
        "{text}"
    );
    for (cell, account, region) in [
        ("eu", "210987654321", "eu-west-1"),
        ("ap", "310987654321", "ap-south-1"),
    ] {
        assert!(
            text.contains(&format!(
                "cell {cell}: stack silos-cell-{cell} in {account}/{region}: created"
            )),
            "{text}"
        );
        assert_eq!(
            stack_status(&local, account, region, &format!("silos-cell-{cell}"))
                .await
                .as_deref(),
            Some("CREATE_COMPLETE")
        );
    }
    // Again: nothing to change, nothing to upload.
    let again = bootstrap("stacks", cells.path());
    let text = String::from_utf8_lossy(&again.stdout).into_owned();
    assert!(again.status.success(), "{text}{}", stderr(&again));
    assert!(text.contains("0 uploaded"), "{text}");

    // The same cells as StackSet instances, in a fresh emulator account pair.
    let set_cells = tempfile::tempdir().unwrap();
    blueprints(
        set_cells.path(),
        "128",
        "cells:\n  - name: home\n  - name: sa\n    account: \"410987654321\"\n    region: sa-east-1\n    capacity: 10\n",
    );
    let out = bootstrap("stack-set", set_cells.path());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        text.contains("instances of the StackSet silos-cells (self-managed"),
        "{text}"
    );
    assert!(
        text.contains("cell sa: instance of silos-cells in 410987654321/sa-east-1"),
        "{text}"
    );
    let cfn = cfn_in(&local, "410987654321", "sa-east-1").await;
    let listed = cfn.list_stacks().send().await.unwrap();
    let instance = listed
        .stack_summaries()
        .iter()
        .find(|s| s.stack_name().is_some_and(|n| n.contains("silos-cells")))
        .unwrap_or_else(|| panic!("no StackSet instance in the cell's account: {listed:?}"));
    let described = cfn
        .describe_stacks()
        .stack_name(instance.stack_id().unwrap())
        .send()
        .await
        .unwrap();
    let cell_name = described.stacks()[0]
        .parameters()
        .iter()
        .find(|p| p.parameter_key() == Some("CellName"))
        .and_then(|p| p.parameter_value());
    assert_eq!(
        cell_name,
        Some("sa"),
        "the instance has its cell's parameters"
    );
}
