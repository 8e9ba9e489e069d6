//! Fleet upgrades as a user runs them: `silos local` on the project's emulator, tenants
//! provisioned through `silos tenants`, a changed blueprint published by restarting local mode
//! (as `silos deploy` publishes on AWS), then `silos tenants upgrade` in waves.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use serde_json::Value;

use common::local::{Local, stderr};

const TENANTS: usize = 5;

/// The project's blueprints, with the silo tenant function's memory set to `mb`.
fn blueprints(mb: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("blueprints");
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let changed = text.replace("MemorySize: \"128\"", &format!("MemorySize: \"{mb}\""));
        assert!(
            path.file_name().unwrap() != "silo.yaml" || changed != text,
            "silo.yaml sets MemorySize: \"128\""
        );
        std::fs::write(dir.path().join(path.file_name().unwrap()), changed).unwrap();
    }
    dir
}

/// Five running tenants on a fresh emulator, then local mode restarted with the silo
/// memory at 512 MB: every tenant is behind. Returns the emulator, the restarted local mode,
/// the tenant ids (oldest first), their version and the blueprint directory.
fn fleet() -> (common::Moto, Local, Vec<String>, String, tempfile::TempDir) {
    let moto = common::Moto::start();
    let mut first = Local::start_at(Some(&moto.endpoint));
    let ids: Vec<String> = (0..TENANTS)
        .map(|i| first.create(&format!("Tenant {i}")))
        .collect();
    for id in &ids {
        first.wait(id, "running");
    }
    let listed = first.json(&["list"]);
    let v1 = listed[0]["version"].as_str().unwrap().to_owned();
    assert_eq!(v1.len(), 64, "{listed}");
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["version"] == v1.as_str()),
        "{listed}"
    );
    let text = first.tenants(&["list"]);
    assert!(!String::from_utf8_lossy(&text.stdout).contains("behind"));
    assert!(first.interrupt().success());

    let bp = blueprints("512");
    let second = Local::start_with(Some(&moto.endpoint), Some(bp.path()));
    (moto, second, ids, v1, bp)
}

fn ids_of(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| {
            x.as_str()
                .or_else(|| x["tenantId"].as_str())
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// The position of the first local-mode line that says `tenant` moved `from_to`.
fn line_of(local: &Local, tenant: &str, from_to: &str) -> usize {
    let lines = local.lines.lock().unwrap();
    lines
        .iter()
        .position(|l| l.contains(&format!("({tenant}): {from_to}")))
        .unwrap_or_else(|| panic!("no line for {tenant} {from_to}: {lines:?}"))
}

async fn memory(local: &Local, id: &str) -> String {
    let cfn = aws_sdk_cloudformation::Client::new(&local.sdk_config());
    common::stack_parameter(&cfn, &format!("silos-tenant-{id}"), "MemorySize").await
}

#[tokio::test]
async fn an_upgrade_rolls_the_new_version_out_in_waves_of_the_requested_size() {
    let (moto, mut local, ids, v1, _bp) = fleet();

    let text = local.tenants(&["list"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert_eq!(text.matches("(behind)").count(), TENANTS, "{text}");
    assert!(
        text.contains("5 of 5 behind the published version"),
        "{text}"
    );

    // The plan: a canary, then waves of two, oldest first; and nothing changes.
    let plan = local.json(&["upgrade", "--wave-size", "2", "--dry-run"]);
    let waves: Vec<Vec<String>> = plan["waves"]
        .as_array()
        .unwrap()
        .iter()
        .map(ids_of)
        .collect();
    assert_eq!(
        waves,
        vec![
            vec![ids[0].clone()],
            vec![ids[1].clone(), ids[2].clone()],
            vec![ids[3].clone(), ids[4].clone()]
        ]
    );
    let v2 = plan["targets"]["silo"].as_str().unwrap().to_owned();
    assert_ne!(v1, v2);
    assert!(
        local
            .json(&["list"])
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["version"] == v1.as_str() && t["status"] == "running")
    );

    let report = local.json(&["upgrade", "--wave-size", "2"]);
    let run: Vec<Vec<String>> = report["waves"]
        .as_array()
        .unwrap()
        .iter()
        .map(ids_of)
        .collect();
    assert_eq!(run, waves, "{report}");
    assert_eq!(ids_of(&report["upgraded"]).len(), TENANTS, "{report}");
    assert!(ids_of(&report["failed"]).is_empty(), "{report}");
    assert_eq!(report["halted"], false);

    for t in local.json(&["list"]).as_array().unwrap() {
        assert_eq!(t["status"], "running", "{t}");
        assert_eq!(t["version"], v2.as_str(), "{t}");
        assert_eq!(t["targetVersion"], Value::Null, "{t}");
    }
    for id in &ids {
        assert_eq!(memory(&local, id).await, "512", "tenant {id}");
    }
    // Each wave settled before the next began: its last tenant back to running comes
    // before the next wave's first tenant leaves it.
    for pair in waves.windows(2) {
        let settled = pair[0]
            .iter()
            .map(|id| line_of(&local, id, "updating -> running"))
            .max()
            .unwrap();
        let started = pair[1]
            .iter()
            .map(|id| line_of(&local, id, "running -> updating"))
            .min()
            .unwrap();
        assert!(settled < started, "waves overlapped: {pair:?}");
    }

    // Run again: everything is up to date, and nothing is touched.
    let again = local.json(&["upgrade", "--wave-size", "2"]);
    assert!(again["waves"].as_array().unwrap().is_empty(), "{again}");
    assert_eq!(ids_of(&again["upToDate"]).len(), TENANTS);

    // A second upgrade ends where the first did, in UPDATE_COMPLETE: local mode still sees
    // each stack's new update (through its stack events) and settles it.
    assert!(local.interrupt().success());
    let bp = blueprints("1024");
    let local = Local::start_with(Some(&moto.endpoint), Some(bp.path()));
    // Well inside the reconciler's minute, so only the watcher can settle them in time.
    let report = local.json(&["upgrade", "--wave-size", "4", "--timeout", "20"]);
    assert_eq!(ids_of(&report["upgraded"]).len(), TENANTS, "{report}");
    let v3 = report["targets"]["silo"].as_str().unwrap();
    assert_ne!(v3, v2);
    for t in local.json(&["list"]).as_array().unwrap() {
        assert_eq!(t["version"], v3, "{t}");
    }
    for id in &ids {
        assert_eq!(memory(&local, id).await, "1024", "tenant {id}");
    }
}

#[tokio::test]
async fn an_interrupted_upgrade_resumes_without_touching_the_upgraded_tenants() {
    let (_moto, local, ids, _v1, _bp) = fleet();

    let mut args = vec!["tenants", "--api-url", local.api_url.as_str()];
    args.extend(["upgrade", "--wave-size", "2"]);
    let mut child = local
        .command(&args, Some(("testing", "testing")))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        let done = line.starts_with("wave 1/3 done");
        seen.push(line);
        if done {
            break;
        }
    }
    assert!(
        seen.iter().any(|l| l.starts_with("wave 1/3 done")),
        "{seen:?}"
    );
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(!status.success(), "the upgrade ran to the end: {seen:?}");

    let report = local.json(&["upgrade", "--wave-size", "2"]);
    let up_to_date = ids_of(&report["upToDate"]);
    let upgraded = ids_of(&report["upgraded"]);
    assert!(up_to_date.contains(&ids[0]), "the canary: {report}");
    assert!(!upgraded.contains(&ids[0]), "{report}");
    let mut all: Vec<String> = up_to_date.iter().chain(&upgraded).cloned().collect();
    all.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(all, expected, "{report}");
    assert!(ids_of(&report["failed"]).is_empty(), "{report}");

    // Each tenant was updated exactly once across both runs.
    for id in &ids {
        let updates = local
            .transitions(id)
            .iter()
            .filter(|t| t.as_str() == "running -> updating")
            .count();
        assert_eq!(updates, 1, "tenant {id}: {:?}", local.transitions(id));
        assert_eq!(local.json(&["info", id])["tenant"]["status"], "running");
    }
}

#[tokio::test]
async fn failures_beyond_max_failures_halt_the_upgrade_and_leave_the_rest() {
    let (_moto, local, ids, v1, _bp) = fleet();
    // The emulator cannot fail an update (DESIGN.md section 6). What it can do is lose a
    // stack: the first two tenants' stacks are deleted behind the control plane's back, so
    // their change sets cannot be created.
    let cfn = aws_sdk_cloudformation::Client::new(&local.sdk_config());
    for id in &ids[..2] {
        cfn.delete_stack()
            .stack_name(format!("silos-tenant-{id}"))
            .send()
            .await
            .unwrap();
    }

    let out = local.tenants(&[
        "upgrade",
        "--wave-size",
        "2",
        "--max-failures",
        "1",
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.lines().any(|l| l
            == "error: upgrade halted: 2 failures exceeded --max-failures 1; 2 tenants left; fix the cause and run `silos tenants upgrade` again"),
        "{err}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The canary failed (1, within the limit), so wave 2 ran; its failure crossed it.
    assert_eq!(ids_of(&report["failed"]), ids[..2].to_vec(), "{report}");
    for f in report["failed"].as_array().unwrap() {
        let reason = f["reason"].as_str().unwrap();
        assert!(reason.contains("CreateChangeSet"), "{reason}");
    }
    assert_eq!(ids_of(&report["upgraded"]), vec![ids[2].clone()]);
    assert_eq!(ids_of(&report["left"]), ids[3..].to_vec());
    assert_eq!(report["halted"], true);
    for id in &ids[3..] {
        let t = local.json(&["info", id])["tenant"].clone();
        assert_eq!(t["status"], "running", "{t}");
        assert_eq!(t["version"], v1.as_str(), "{t}");
    }
    // A failed update leaves its tenant running at the old version, with the reason.
    let t = local.json(&["info", &ids[0]])["tenant"].clone();
    assert_eq!(t["status"], "running", "{t}");
    assert_eq!(t["version"], v1.as_str(), "{t}");
    assert!(
        t["statusReason"].as_str().unwrap().contains("failed"),
        "{t}"
    );

    // With the default --max-failures 0, a failing canary halts the run at once.
    let out = local.tenants(&["upgrade", "--output", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ids_of(&report["failed"]), vec![ids[0].clone()], "{report}");
    assert_eq!(
        ids_of(&report["left"]),
        vec![ids[1].clone(), ids[3].clone(), ids[4].clone()]
    );
}
