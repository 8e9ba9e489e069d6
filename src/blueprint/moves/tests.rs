use super::*;

fn resource(t: &str, create_only: &str, parameters: &[(&str, Option<&str>)]) -> ResourceSummary {
    ResourceSummary {
        resource_type: t.to_owned(),
        retained: false,
        create_only: Fingerprint {
            sha256: create_only.to_owned(),
            parameters: parameters
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
                .collect(),
        },
        conditional: Fingerprint::default(),
    }
}

fn entry(resources: &[(&str, ResourceSummary)]) -> BTreeMap<String, ResourceSummary> {
    resources
        .iter()
        .map(|(id, r)| ((*id).to_owned(), r.clone()))
        .collect()
}

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn a_create_only_property_fed_by_a_parameter_replaces_when_the_value_differs() {
    let table = resource(
        "AWS::DynamoDB::Table",
        "h1",
        &[("TableClass", Some("STANDARD"))],
    );
    let e = entry(&[("Table", table)]);
    let standard = params(&[]);
    let infrequent = params(&[("TableClass", "STANDARD_INFREQUENT_ACCESS")]);
    let same = plan(
        "t",
        (
            "a",
            Side {
                resources: &e,
                parameters: &standard,
            },
        ),
        (
            "b",
            Side {
                resources: &e,
                parameters: &params(&[("TableClass", "STANDARD")]),
            },
        ),
        Some("v2".to_owned()),
    );
    // The default and an explicit equal value are the same value.
    assert!(same.changes.is_empty(), "{same:?}");
    let other = plan(
        "t",
        (
            "a",
            Side {
                resources: &e,
                parameters: &standard,
            },
        ),
        (
            "b",
            Side {
                resources: &e,
                parameters: &infrequent,
            },
        ),
        Some("v2".to_owned()),
    );
    assert_eq!(other.changes.len(), 1, "{other:?}");
    assert_eq!(other.changes[0].action, Action::Replace);
    assert!(other.changes[0].loses_data);
    assert_eq!(other.version.as_deref(), Some("v2"));
    assert_eq!(
        other.describe_data_loss(),
        "Table (AWS::DynamoDB::Table) replaced"
    );
}

#[test]
fn a_changed_create_only_text_replaces_and_conditional_ones_may() {
    let none = params(&[]);
    let side = |e| Side {
        resources: e,
        parameters: &none,
    };
    let a = entry(&[("Fn", resource("AWS::Lambda::Function", "h1", &[]))]);
    let b = entry(&[("Fn", resource("AWS::Lambda::Function", "h2", &[]))]);
    let p = plan("t", ("a", side(&a)), ("b", side(&b)), None);
    assert_eq!(p.changes[0].action, Action::Replace);
    // A function holds no data: replacing it loses none.
    assert!(p.data_loss().is_empty());

    let mut conditional = resource("AWS::DynamoDB::Table", "h1", &[]);
    let c = entry(&[("T", conditional.clone())]);
    conditional.conditional.sha256 = "other".to_owned();
    let d = entry(&[("T", conditional)]);
    let p = plan("t", ("c", side(&c)), ("d", side(&d)), None);
    assert_eq!(p.changes[0].action, Action::MayReplace);
    assert!(p.changes[0].loses_data);
}

#[test]
fn removals_name_what_is_kept_and_a_new_type_under_an_old_id_is_a_replacement() {
    let none = params(&[]);
    let side = |e| Side {
        resources: e,
        parameters: &none,
    };
    let mut bucket = resource("AWS::S3::Bucket", "h", &[]);
    bucket.retained = true;
    let a = entry(&[
        ("Files", bucket),
        ("Jobs", resource("AWS::SQS::Queue", "q", &[])),
        ("Topic", resource("AWS::SNS::Topic", "t", &[])),
    ]);
    let b = entry(&[("Jobs", resource("AWS::SNS::Topic", "q", &[]))]);
    let p = plan("t", ("a", side(&a)), ("b", side(&b)), None);
    let got: Vec<(&str, Action, bool, bool)> = p
        .changes
        .iter()
        .map(|c| (c.logical_id.as_str(), c.action, c.loses_data, c.retained))
        .collect();
    assert_eq!(
        got,
        vec![
            ("Files", Action::Remove, true, true),
            ("Jobs", Action::Replace, true, false),
            ("Topic", Action::Remove, false, false),
        ]
    );
    assert_eq!(
        p.describe_data_loss(),
        "Files (AWS::S3::Bucket) removed (kept, detached from the stack), Jobs (AWS::SQS::Queue) replaced"
    );
}
