//! The `silos` binary as a user runs it: exit codes, one-line errors, files written.

use std::path::Path;
use std::process::{Command, Output};

fn silos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_silos"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("SILOS_PREFIX")
        .output()
        .expect("the silos binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A failure: non-zero exit, no panic, and the reason on the first line of stderr.
fn assert_fails_with(o: &Output, code: i32, reason: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let first = err.lines().next().unwrap_or_default();
    assert!(
        first.contains(reason),
        "first line {first:?} lacks {reason:?}"
    );
}

#[test]
fn synth_writes_every_template_the_manifest_and_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    for format in ["json", "yaml"] {
        let o = silos(&["synth", "--out", out.to_str().unwrap(), "--format", format]);
        assert!(o.status.success(), "{}", stderr(&o));
        for stack in [
            "toolkit",
            "control-plane",
            "control-plane-local",
            "tenant-silo",
        ] {
            assert!(
                out.join(format!("{stack}.{format}")).is_file(),
                "{stack}.{format}"
            );
        }
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["format"], format);
        assert!(out.join("catalog.json").is_file());
    }
}

#[test]
fn the_prefix_names_every_stack() {
    let dir = tempfile::tempdir().unwrap();
    let o = silos(&[
        "--prefix",
        "acme",
        "synth",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cp = std::fs::read_to_string(dir.path().join("control-plane.json")).unwrap();
    assert!(cp.contains("stack/acme-tenant-"));
    assert!(!cp.contains("silos-tenant-"));
}

#[test]
fn bad_flags_are_usage_errors() {
    assert_fails_with(
        &silos(&["synth", "--bogus"]),
        2,
        "unexpected argument '--bogus'",
    );
    assert_fails_with(
        &silos(&["synth", "--format", "xml"]),
        2,
        "invalid value 'xml'",
    );
    assert_fails_with(&silos(&["frobnicate"]), 2, "unrecognized subcommand");
}

#[test]
fn a_bad_prefix_is_refused() {
    assert_fails_with(
        &silos(&["--prefix", "Bad_Prefix", "validate"]),
        1,
        "error: invalid prefix \"Bad_Prefix\"",
    );
}

#[test]
fn an_unwritable_out_dir_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    // A path through a regular file cannot be created, even by root.
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let out = file.join("out");
    let o = silos(&["synth", "--out", out.to_str().unwrap()]);
    assert_fails_with(&o, 1, &format!("error: cannot write {}", out.display()));
    assert_eq!(stderr(&o).lines().count(), 1);
}

/// Writes the project's `silo.yaml`, changed by `edit`, into `dir`.
fn broken_blueprints(dir: &Path, edit: impl Fn(&str) -> String) {
    let good =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("blueprints/silo.yaml"))
            .unwrap();
    std::fs::write(dir.join("silo.yaml"), edit(&good)).unwrap();
}

/// A temporary directory holding `bp/` (an edited blueprint) and room for `out/`, and `silos
/// synth` run on them.
fn synth_with(edit: impl Fn(&str) -> String) -> (tempfile::TempDir, std::path::PathBuf, Output) {
    let dir = tempfile::tempdir().unwrap();
    let bp = dir.path().join("bp");
    std::fs::create_dir(&bp).unwrap();
    broken_blueprints(&bp, edit);
    let out = dir.path().join("out");
    let o = silos(&[
        "synth",
        "--blueprints",
        bp.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    (dir, bp, o)
}

#[test]
fn a_broken_blueprint_fails_with_file_line_and_reason_and_writes_nothing() {
    let (dir, bp, o) = synth_with(|s| s.replace("{{ tenant.name }}", "{{ tenant.nam }}"));
    let out = dir.path().join("out");
    let path = bp.join("silo.yaml");
    assert_fails_with(
        &o,
        1,
        &format!(
            "error: {}:8: parameters.TenantName: undefined value",
            path.display()
        ),
    );
    assert!(!out.exists(), "nothing is written when synth fails");

    broken_blueprints(&bp, |s| {
        s.replace("stack: tenant-silo", "stack: tenant-pool")
    });
    let o = silos(&["validate", "--blueprints", bp.to_str().unwrap()]);
    assert_fails_with(
        &o,
        1,
        "silo.yaml:4: unknown stack \"tenant-pool\" (known: tenant-silo)",
    );

    broken_blueprints(&bp, |s| {
        s.replace("tenantData: retain", "tenantData: shred")
    });
    let o = silos(&["validate", "--blueprints", bp.to_str().unwrap()]);
    assert_fails_with(&o, 1, "silo.yaml:20");
}

#[test]
fn a_blueprint_may_choose_to_delete_tenant_data() {
    let (dir, _, o) = synth_with(|s| s.replace("tenantData: retain", "tenantData: delete"));
    let out = dir.path().join("out");
    assert!(o.status.success(), "{}", stderr(&o));
    let t: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("tenant-silo-delete-data.json")).unwrap())
            .unwrap();
    assert_eq!(t["Resources"]["TenantTable"]["DeletionPolicy"], "Delete");
    let catalog: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("catalog.json")).unwrap()).unwrap();
    assert_eq!(
        catalog["deploymentTypes"]["silo"]["stack"],
        "tenant-silo-delete-data"
    );
}

#[test]
fn validate_checks_everything_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_silos"))
        .args(["validate", "--blueprints"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("blueprints"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("valid: 5 stacks and 1 deployment types"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
