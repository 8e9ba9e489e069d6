use super::*;

const GOOD: &str = r#"deploymentType: silo
description: test
stack: tenant-silo
stackName: "{{ prefix }}-tenant-{{ tenant.id }}"
parameters:
  TenantId: "{{ tenant.id }}"
  TenantName: "{{ tenant.name }}"
tags:
  silos:tenant-id: "{{ tenant.id }}"
"#;

const PARAMS: &[&str] = &["CodeBucket", "CodeKey", "TenantId", "TenantName"];
const SYSTEM: &[&str] = &["CodeBucket", "CodeKey"];

/// Parses `text` as `silo.yaml`, checks it against the tenant-silo parameters, and compares the
/// error (as displayed) with `expected`, or expects success when `expected` is empty.
fn check(text: &str, expected: &str) {
    let all: Vec<String> = PARAMS.iter().map(|s| (*s).to_owned()).collect();
    let result = Blueprint::parse(Path::new("blueprints/silo.yaml"), text).and_then(|b| {
        let stack = (b.stack == "tenant-silo").then_some(StackParameters {
            all: &all,
            system: SYSTEM,
        });
        b.check("silos", stack, &["tenant-silo"])
    });
    match result {
        Ok(_) => assert_eq!(expected, "", "expected an error"),
        Err(e) => assert_eq!(e.to_string(), expected),
    }
}

#[test]
fn a_good_blueprint_renders_for_the_sample_tenant() {
    check(GOOD, "");
    let b = Blueprint::parse(Path::new("silo.yaml"), GOOD).unwrap();
    let r = b.render("silos", &Tenant::sample("silo")).unwrap();
    assert_eq!(
        r.stack_name,
        "silos-tenant-00000000-0000-4000-8000-000000000000"
    );
    assert_eq!(r.parameters["TenantName"], "Sample Tenant");
    assert_eq!(
        r.tags["silos:tenant-id"],
        "00000000-0000-4000-8000-000000000000"
    );
}

#[test]
fn errors_name_the_file_the_line_and_the_reason() {
    check(
        &GOOD.replace("stack: tenant-silo", "stack: tenant-pool"),
        "blueprints/silo.yaml:3: unknown stack \"tenant-pool\" (known: tenant-silo)",
    );
    check(
        &GOOD.replace("  TenantName:", "  Colour: x\n  TenantName:"),
        "blueprints/silo.yaml:7: Colour is not a parameter of stack tenant-silo (its parameters: CodeBucket, CodeKey, TenantId, TenantName)",
    );
    check(
        &GOOD.replace("  TenantName: \"{{ tenant.name }}\"\n", ""),
        "blueprints/silo.yaml:6: stack tenant-silo needs parameter TenantName, which the blueprint does not set",
    );
    check(
        &GOOD.replace("  TenantName:", "  CodeKey: x\n  TenantName:"),
        "blueprints/silo.yaml:7: CodeKey is supplied by the platform; remove it from the blueprint",
    );
    check(
        &GOOD.replace("{{ tenant.name }}", "{{ tenant.nickname }}"),
        "blueprints/silo.yaml:7: parameters.TenantName: undefined value in \"{{ tenant.nickname }}\"",
    );
    check(
        &GOOD.replace("{{ tenant.name }}", "{{ tenant.name "),
        "blueprints/silo.yaml:7: parameters.TenantName: syntax error (unexpected end of input, expected end of variable block) in \"{{ tenant.name \"",
    );
    check(
        &GOOD.replace("-tenant-{{ tenant.id }}", "-{{ tenant.id }}"),
        "blueprints/silo.yaml:4: stackName renders to \"silos-00000000-0000-4000-8000-000000000000\", which does not start with \"silos-tenant-\"",
    );
    check(
        &GOOD.replace("-tenant-{{ tenant.id }}", "-tenant-{{ tenant.safe_name }}"),
        "blueprints/silo.yaml:4: stackName renders to \"silos-tenant-sampletenant\", which does not contain the tenant id (use {{ tenant.id }})",
    );
    check(
        &GOOD.replace("deploymentType: silo", "deploymentType: pool"),
        "blueprints/silo.yaml:1: deploymentType \"pool\" does not match the file name; name the file pool.yaml",
    );
    check(
        &GOOD.replace("silos:tenant-id", "aws:tenant-id"),
        "blueprints/silo.yaml:9: tag \"aws:tenant-id\": the aws: prefix is reserved",
    );
}

#[test]
fn yaml_mistakes_name_the_line() {
    let e = Blueprint::parse(
        Path::new("b/silo.yaml"),
        &GOOD.replace("description: test", "description: test\ncolour: red"),
    )
    .unwrap_err();
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.to_string().contains("colour"), "{e}");
    let e = Blueprint::parse(
        Path::new("b/silo.yaml"),
        "deploymentType: silo\nstack: [unclosed\n",
    )
    .unwrap_err();
    assert!(e.line.is_some(), "{e}");
    assert!(matches!(e.kind, ErrorKind::Parse(_)));
}

#[test]
fn tenant_strings_are_values_not_templates() {
    let b = Blueprint::parse(Path::new("silo.yaml"), GOOD).unwrap();
    let mut tenant = Tenant::sample("silo");
    tenant.name = "{{ 7*7 }} {% if true %}x{% endif %} '\"; $(rm -rf /)".to_owned();
    let r = b.render("silos", &tenant).unwrap();
    assert_eq!(r.parameters["TenantName"], tenant.name);
}

#[test]
fn stack_names_are_checked() {
    let id = "00000000-0000-4000-8000-000000000000";
    assert!(check_stack_name(&format!("silos-tenant-{id}"), "silos", id).is_ok());
    assert!(check_stack_name(&format!("silos-tenant-{id}-x_y"), "silos", id).is_err());
    let long = format!("silos-tenant-{id}-{}", "a".repeat(20));
    assert!(
        check_stack_name(&long, "silos", id)
            .unwrap_err()
            .contains("at most 64")
    );
}
