//! One minimal instance (required properties only) of every resource type of the default
//! services, built with the generated constructors, must be a template cfn-lint accepts with no
//! error. This checks what the generator decided is required, the constructors' argument types,
//! and how every property type serializes.

use std::path::Path;
use std::process::Command;

use silos_cfn::{Parameter, Template};

#[path = "minimal/instances.rs"]
mod instances;

#[test]
fn one_minimal_instance_of_each_default_type_passes_cfn_lint() {
    let mut t = Template::new("minimal");
    t.parameter("Text", Parameter::string("any text"));
    t.parameter("Number", Parameter::number("any number"));
    instances::add_all(&mut t);
    let count = t.resources.len();
    assert!(count > 50, "only {count} types in the default services");
    if let Err(e) = t.validate() {
        panic!("the minimal instances do not validate: {e}");
    }

    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/cfn-lint");
    assert!(
        venv.exists(),
        "{} is missing: run scripts/test.sh once, which installs the pinned tools",
        venv.display()
    );
    let dir = tempfile_dir();
    let file = dir.join("minimal.json");
    std::fs::write(&file, t.to_json()).unwrap();
    let out = Command::new(&venv)
        .args(["--format", "parseable", "--"])
        .arg(&file)
        .output()
        .expect("cfn-lint runs");
    let findings = String::from_utf8_lossy(&out.stdout);
    let errors: Vec<&str> = findings
        .lines()
        .filter(|l| {
            l.split(':')
                .nth(5)
                .is_some_and(|code| code.starts_with('E'))
        })
        .collect();
    assert!(
        errors.is_empty(),
        "cfn-lint found {} error(s) in {count} minimal instances:\n{}",
        errors.len(),
        errors.join("\n")
    );
    // cfn-lint ran: its exit code is a bit mask of what it found (2 errors, 4 warnings,
    // 8 informational), so 1 or a signal is a crash, not a verdict.
    let code = out.status.code();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        code.is_some_and(|c| c & 1 == 0) && !stderr.contains("Traceback"),
        "cfn-lint did not run cleanly ({code:?}): {stderr}"
    );
    assert_eq!(
        code.map(|c| c & 2),
        Some(0),
        "cfn-lint's exit code says errors"
    );
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("minimal");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
