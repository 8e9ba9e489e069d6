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

const PARAMS: &[&str] = &[
    "AlarmErrors",
    "CodeBucket",
    "CodeKey",
    "TenantId",
    "TenantName",
];
const SYSTEM: &[&str] = &["CodeBucket", "CodeKey"];

/// Parses `text` as `silo.yaml`, checks it against the tenant-silo parameters, and compares the
/// error (as displayed) with `expected`, or expects success when `expected` is empty.
fn check(text: &str, expected: &str) {
    let all: Vec<String> = PARAMS.iter().map(|s| (*s).to_owned()).collect();
    let result = Blueprint::parse(Path::new("blueprints/silo.yaml"), text).and_then(|b| {
        let defaulted = ["AlarmErrors".to_owned()];
        let stack = (b.stack == "tenant-silo").then_some(StackParameters {
            all: &all,
            system: SYSTEM,
            defaulted: &defaulted,
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
fn a_parameter_with_a_default_may_be_left_out_or_set() {
    // GOOD sets no AlarmErrors, which has a default.
    check(GOOD, "");
    check(
        &GOOD.replace("  TenantName:", "  AlarmErrors: \"1\"\n  TenantName:"),
        "",
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
        "blueprints/silo.yaml:7: Colour is not a parameter of stack tenant-silo (its parameters: AlarmErrors, CodeBucket, CodeKey, TenantId, TenantName)",
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
    // The cost allocation tags are the platform's: a blueprint cannot set them.
    check(
        &GOOD.replace("silos:tenant-id", "silos:tier"),
        "blueprints/silo.yaml:9: tag \"silos:tier\": the platform sets it on every tenant stack; remove it from the blueprint",
    );
}

#[test]
fn every_stack_carries_the_cost_allocation_tags() {
    let b = Blueprint::parse(
        Path::new("silo.yaml"),
        &GOOD.replace("tenant-id: \"{{ tenant.id }}\"", "tenant-id: \"other\""),
    )
    .unwrap();
    let r = b.render("acme", &Tenant::sample("silo")).unwrap();
    let id = "00000000-0000-4000-8000-000000000000";
    // The blueprint said `other`; the platform's value is the tenant's id.
    assert_eq!(r.tags[TENANT_ID_TAG], id);
    assert_eq!(r.tags[TIER_TAG], "silo");
    assert_eq!(r.tags[PREFIX_TAG], "acme");
    assert_eq!(r.tags[APP_TAG], "acme");
    assert_eq!(r.tags[TENANT_TAG], id);
    // The cell is the control plane's to add, at provisioning.
    assert!(!r.tags.contains_key(CELL_TAG));
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
            .to_string()
            .contains("at most 64")
    );
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    /// GOOD with `insert` put in at a char boundary near `at`.
    fn mutated(at: usize, insert: &str) -> String {
        let mut text = GOOD.to_owned();
        let mut i = at % (text.len() + 1);
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        text.insert_str(i, insert);
        text
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn any_text_parses_or_fails_naming_the_file(
            text in prop_oneof![
                ".{0,400}",
                (any::<usize>(), "[\\[\\]{}:#'\"\\n -]{1,6}|\\PC{1,10}").prop_map(|(at, s)| mutated(at, &s)),
            ]
        ) {
            let path = Path::new("blueprints/silo.yaml");
            if let Err(e) = Blueprint::parse(path, &text) {
                let shown = e.to_string();
                prop_assert!(shown.starts_with("blueprints/silo.yaml"), "{}", shown);
                if let Some(line) = e.line {
                    prop_assert!(shown.starts_with(&format!("blueprints/silo.yaml:{line}: ")), "{}", shown);
                    // YAML breaks lines at \n, \r\n and a lone \r.
                    let breaks = text.replace("\r\n", "\n").matches(['\n', '\r']).count();
                    prop_assert!(line >= 1 && line as usize <= breaks + 1, "line {} of {:?}", line, text);
                }
            }
        }

        #[test]
        fn any_tenant_name_renders_literally(name in "\\PC{0,120}") {
            let b = Blueprint::parse(Path::new("silo.yaml"), GOOD).unwrap();
            let mut tenant = Tenant::sample("silo");
            tenant.name = name.clone();
            let r = b.render("silos", &tenant).unwrap();
            prop_assert_eq!(&r.parameters["TenantName"], &name);
            prop_assert_eq!(r.stack_name, format!("silos-tenant-{}", tenant.id));
        }

        #[test]
        fn an_accepted_stack_name_is_always_a_valid_tenant_stack_name(name in "[a-zA-Z0-9_-]{0,80}|\\PC{0,80}") {
            let id = "00000000-0000-4000-8000-000000000000";
            for candidate in [name.clone(), format!("silos-tenant-{id}{name}"), format!("silos-tenant-{name}")] {
                if check_stack_name(&candidate, "silos", id).is_ok() {
                    prop_assert!(candidate.starts_with("silos-tenant-"), "{}", candidate);
                    prop_assert!(candidate.contains(id), "{}", candidate);
                    prop_assert!(candidate.len() <= 64, "{}", candidate);
                    prop_assert!(
                        candidate.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
                        "{}",
                        candidate
                    );
                }
            }
        }
    }
}

#[test]
fn a_lone_carriage_return_breaks_a_line_as_yaml_says() {
    // Found by the property test: YAML counts `\r` as a line break, `str::lines` does not.
    let e = Blueprint::parse(Path::new("blueprints/silo.yaml"), " \r\r \u{a1}").unwrap_err();
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.to_string().starts_with("blueprints/silo.yaml:3: "), "{e}");
}
