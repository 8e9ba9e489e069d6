//! `silos new`: the crate it writes builds, synthesizes, and passes its own snapshot test as
//! generated, against this checkout (`--silos-path`), sharing this build's target directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn silos(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_silos"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// This build's target directory: the one the `silos` binary is in.
fn target_dir() -> PathBuf {
    let exe = Path::new(env!("CARGO_BIN_EXE_silos"));
    exe.parent().and_then(Path::parent).unwrap().to_owned()
}

fn cargo(args: &[&str], dir: &Path) -> Output {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir())
        // The new crate's snapshots must match as written: never accept new ones.
        .env("INSTA_UPDATE", "no")
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_new_app_builds_synthesizes_and_passes_its_own_test() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = env!("CARGO_MANIFEST_DIR");
    let out = silos(&["new", "acme-saas", "--silos-path", repo], tmp.path());
    assert!(out.status.success(), "{}", text(&out));
    let app = tmp.path().join("acme-saas");
    for file in [
        "Cargo.toml",
        "src/lib.rs",
        "src/main.rs",
        "blueprints/silo.yaml",
        "tests/templates.rs",
        "tests/snapshots/templates__tenant-silo.snap",
        ".gitignore",
        "README.md",
    ] {
        assert!(app.join(file).is_file(), "{file} is missing");
    }
    let manifest = std::fs::read_to_string(app.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains(&format!("silos = {{ path = '{repo}' }}")),
        "{manifest}"
    );
    let readme = std::fs::read_to_string(app.join("README.md")).unwrap();
    assert!(readme.contains("cargo run -- synth") && readme.contains("cargo test"));

    let synth = cargo(&["run", "--quiet", "--", "synth"], &app);
    assert!(synth.status.success(), "{}", text(&synth));
    assert!(app.join("out/tenant-silo.json").is_file());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(app.join("out/manifest.json")).unwrap()).unwrap();
    let binaries: Vec<&str> = manifest["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["binary"].as_str().unwrap())
        .collect();
    // Deploy builds the crate's own tenant function and control-plane binary.
    assert_eq!(binaries, ["silos-lambda", "tenant-function"]);

    let test = cargo(&["test", "--quiet"], &app);
    assert!(test.status.success(), "{}", text(&test));

    // Every command runs inside it: validate, say.
    let validate = cargo(&["run", "--quiet", "--", "validate"], &app);
    assert!(validate.status.success(), "{}", text(&validate));
}

#[test]
fn new_refuses_a_directory_that_is_not_empty_or_not_a_crate_name() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("taken")).unwrap();
    std::fs::write(tmp.path().join("taken/file"), "x").unwrap();
    let out = silos(&["new", "taken"], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("exists and is not empty"),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read_dir(tmp.path().join("taken")).unwrap().count(),
        1
    );

    let out = silos(&["new", "9lives"], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("must be a crate name"),
        "{}",
        text(&out)
    );
    assert!(!tmp.path().join("9lives").exists());
}
