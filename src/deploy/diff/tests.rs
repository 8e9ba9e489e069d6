use serde_json::json;

use super::*;

fn template(resources: Value) -> Value {
    json!({"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources})
}

fn function(memory: u32) -> Value {
    json!({"Type": "AWS::Lambda::Function", "Properties": {
        "FunctionName": "f", "MemorySize": memory,
        "Code": {"S3Bucket": "b", "S3Key": {"Ref": "CodeKey"}}}})
}

#[test]
fn a_changed_property_is_named_by_its_path() {
    let old = template(json!({"Fn": function(128), "T": {"Type": "AWS::SQS::Queue"}}));
    let new = template(json!({"Fn": function(256), "T": {"Type": "AWS::SQS::Queue"}}));
    let d = diff("s", Some(&old), &new, &BTreeSet::new());
    assert_eq!(
        d.resources,
        vec![ResourceChange {
            logical_id: "Fn".into(),
            resource_type: "AWS::Lambda::Function".into(),
            change: Change::Modified {
                paths: vec!["Properties.MemorySize".into()],
                replacement: Replacement::Never,
            },
            broadening: None,
        }]
    );
    assert!(d.other.is_empty());
    assert_eq!(
        render(&d, false),
        "stack s\n[~] AWS::Lambda::Function Fn\n    Properties.MemorySize\n"
    );
}

#[test]
fn identical_templates_have_no_differences() {
    let t = template(json!({"Fn": function(128)}));
    let d = diff("s", Some(&t), &t, &BTreeSet::new());
    assert!(d.is_empty());
    assert_eq!(render(&d, false), "stack s: no differences\n");
}

#[test]
fn renames_replace_and_removals_say_what_is_retained() {
    let old = template(json!({
        "Table": {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain",
                  "Properties": {"TableName": "a"}},
        "Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "q"}},
    }));
    let new = template(json!({"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "r"}}}));
    let d = diff("s", Some(&old), &new, &BTreeSet::new());
    assert_eq!(d.resources.len(), 2);
    assert_eq!(
        d.resources[0].change,
        Change::Modified {
            paths: vec!["Properties.QueueName".into()],
            replacement: Replacement::Always
        }
    );
    assert_eq!(d.resources[1].change, Change::Removed { retained: true });
    let text = render(&d, false);
    assert!(
        text.contains("[~] AWS::SQS::Queue Q (replacement)"),
        "{text}"
    );
    assert!(
        text.contains("[-] AWS::DynamoDB::Table Table (retained"),
        "{text}"
    );
}

#[test]
fn a_changed_parameter_value_modifies_the_resources_that_use_it() {
    let t = template(json!({"Fn": function(128), "Q": {"Type": "AWS::SQS::Queue"}}));
    let changed = BTreeSet::from(["CodeKey".to_owned()]);
    let d = diff("s", Some(&t), &t, &changed);
    assert_eq!(d.resources.len(), 1, "{d:?}");
    assert_eq!(d.resources[0].logical_id, "Fn");
    assert_eq!(
        d.resources[0].change,
        Change::Modified {
            paths: vec!["(parameter CodeKey)".into()],
            replacement: Replacement::Never
        }
    );
}

/// The resources a changed value of `CodeKey` modifies, in a template of `resources`.
fn using_code_key(resources: Value) -> Vec<String> {
    let t = template(resources);
    let changed = BTreeSet::from(["CodeKey".to_owned()]);
    diff("s", Some(&t), &t, &changed)
        .resources
        .into_iter()
        .map(|r| r.logical_id)
        .collect()
}

#[test]
fn a_parameter_used_through_fn_sub_is_reported() {
    let queue = |name: Value| json!({"Type": "AWS::SQS::Queue", "Properties": {"QueueName": name}});
    assert_eq!(
        using_code_key(json!({
            "Sub": queue(json!({"Fn::Sub": "q-${CodeKey}"})),
            "SubList": queue(json!({"Fn::Sub": ["q-${Key}", {"Key": {"Ref": "CodeKey"}}]})),
            "Nested": queue(json!({"Fn::Join": ["-", [{"Fn::Sub": "${AWS::Region}-${ CodeKey }"}]]})),
            "Other": queue(json!({"Fn::Sub": "q-${OtherKey}"})),
        })),
        ["Nested", "Sub", "SubList"]
    );
}

#[test]
fn a_literal_naming_a_parameter_is_not_a_use_of_it() {
    let queue = |name: Value| json!({"Type": "AWS::SQS::Queue", "Properties": {"QueueName": name}});
    assert_eq!(
        using_code_key(json!({
            "Literal": queue(json!("CodeKey")),
            "RefText": queue(json!("{\"Ref\":\"CodeKey\"}")),
            "Escaped": queue(json!({"Fn::Sub": "q-${!CodeKey}"})),
            "Shadowed": queue(json!({"Fn::Sub": ["q-${CodeKey}", {"CodeKey": "fixed"}]})),
            "Key": queue(json!({"Fn::If": ["C", {"CodeKey": "x"}, "y"]})),
        })),
        Vec::<String>::new()
    );
}

#[test]
fn new_statements_and_permissions_broaden_and_removed_ones_do_not() {
    let role = |actions: Value| {
        json!({"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                "Principal": {"Service": "lambda.amazonaws.com"}}]},
            "Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": actions}}]}})
    };
    let one = json!([{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:a"}]);
    let two = json!([
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:a"},
        {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": "arn:a"}
    ]);
    let narrow = template(json!({"R": role(one)}));
    let wide = template(json!({"R": role(two)}));
    let d = diff("s", Some(&narrow), &wide, &BTreeSet::new());
    assert_eq!(
        d.resources[0].broadening.as_deref(),
        Some("1 new IAM statement(s) or policy attachment(s)")
    );
    let d = diff("s", Some(&wide), &narrow, &BTreeSet::new());
    assert_eq!(
        d.resources[0].broadening, None,
        "narrowing is not broadening"
    );
    let permission = template(
        json!({"P": {"Type": "AWS::Lambda::Permission", "Properties": {
        "Action": "lambda:InvokeFunction", "FunctionName": "f", "Principal": "events.amazonaws.com"}}}),
    );
    let d = diff(
        "s",
        Some(&template(json!({}))),
        &permission,
        &BTreeSet::new(),
    );
    assert_eq!(
        d.resources[0].broadening.as_deref(),
        Some("lets events.amazonaws.com invoke a function")
    );
    // A new stack: everything is added, and its roles broaden.
    let d = diff("s", None, &wide, &BTreeSet::new());
    assert_eq!(d.resources[0].change, Change::Added);
    assert!(d.resources[0].broadening.is_some());
}

#[test]
fn colour_only_when_asked() {
    let d = diff(
        "s",
        None,
        &template(json!({"Q": {"Type": "AWS::SQS::Queue"}})),
        &BTreeSet::new(),
    );
    assert!(render(&d, true).contains("\x1b[32m[+]\x1b[0m"));
    assert!(!render(&d, false).contains('\x1b'));
    // A replacement's note is bold red; an empty note is not painted.
    let old = template(json!({"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "a"}}}));
    let new = template(json!({"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "b"}}}));
    let text = render(&diff("s", Some(&old), &new, &BTreeSet::new()), true);
    assert!(
        text.contains("\x1b[33m[~]\x1b[0m AWS::SQS::Queue Q\x1b[1m\x1b[31m (replacement)\x1b[0m\n"),
        "{text:?}"
    );
    assert_eq!(
        render(&d, true),
        "stack s\n\x1b[32m[+]\x1b[0m AWS::SQS::Queue Q\n"
    );
}

#[test]
fn a_new_deny_does_not_broaden() {
    let policy = |statements: Value| {
        template(
            json!({"P": {"Type": "AWS::S3::BucketPolicy", "Properties": {
            "Bucket": "b", "PolicyDocument": {"Statement": statements}}}}),
        )
    };
    let deny = json!([{"Effect": "Deny", "Action": "s3:*", "Principal": "*", "Resource": "arn:b"}]);
    let d = diff(
        "s",
        Some(&policy(json!([]))),
        &policy(deny),
        &BTreeSet::new(),
    );
    assert_eq!(d.resources.len(), 1);
    assert_eq!(d.resources[0].broadening, None);
}

/// The replacement a one-property change of a `resource_type` gets, from `old` to `new`.
fn replacement_of(resource_type: &str, old: Value, new: Value) -> Replacement {
    let before = template(json!({"R": {"Type": resource_type, "Properties": old}}));
    let after = template(json!({"R": {"Type": resource_type, "Properties": new}}));
    match &diff("s", Some(&before), &after, &BTreeSet::new()).resources[0].change {
        Change::Modified { replacement, .. } => *replacement,
        other => panic!("{other:?}"),
    }
}

#[test]
fn replacement_comes_from_the_schemas_create_only_properties() {
    // The hand-kept list had these wrong: LocalSecondaryIndexes is not create-only, and the
    // bucket's BucketNamePrefix is.
    assert_eq!(
        replacement_of(
            "AWS::DynamoDB::Table",
            json!({"LocalSecondaryIndexes": []}),
            json!({"LocalSecondaryIndexes": [{"IndexName": "i"}]})
        ),
        Replacement::Never
    );
    assert_eq!(
        replacement_of(
            "AWS::S3::Bucket",
            json!({"BucketNamePrefix": "a"}),
            json!({"BucketNamePrefix": "b"})
        ),
        Replacement::Always
    );
    // A type the product never used gets its answer from the same table.
    assert_eq!(
        replacement_of(
            "AWS::Cognito::UserPool",
            json!({"UserPoolName": "a"}),
            json!({"UserPoolName": "b"})
        ),
        Replacement::Never
    );
    assert_eq!(
        replacement_of(
            "AWS::StepFunctions::StateMachine",
            json!({"StateMachineName": "a"}),
            json!({"StateMachineName": "b"})
        ),
        Replacement::Always
    );
}

#[test]
fn a_nested_create_only_path_replaces_and_its_siblings_do_not() {
    // AWS::MSK::Replicator: `ReplicationInfoList/*/SourceKafkaClusterArn` and
    // `…/*/TopicReplication/StartingPosition` are create-only; the list itself is not.
    let replicator = "AWS::MSK::Replicator";
    let info = |source: &str, topics: &str, start: &str| {
        json!({"ReplicationInfoList": [{"SourceKafkaClusterArn": source,
            "TopicReplication": {"TopicsToReplicate": [topics], "StartingPosition": {"Type": start}}}]})
    };
    let base = info("a", "t", "LATEST");
    assert_eq!(
        replacement_of(replicator, base.clone(), info("b", "t", "LATEST")),
        Replacement::Always
    );
    assert_eq!(
        replacement_of(replicator, base.clone(), info("a", "t", "EARLIEST")),
        Replacement::Always
    );
    assert_eq!(
        replacement_of(replicator, base.clone(), info("a", "u", "LATEST")),
        Replacement::Never
    );
    // A list that grows is reported whole, and holds create-only paths.
    let mut grown = base.clone();
    grown["ReplicationInfoList"]
        .as_array_mut()
        .unwrap()
        .push(json!({"SourceKafkaClusterArn": "c"}));
    assert_eq!(replacement_of(replicator, base, grown), Replacement::Always);
}

#[test]
fn conditionally_create_only_and_unknown_types_may_replace() {
    assert_eq!(
        replacement_of(
            "AWS::DynamoDB::Table",
            json!({"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}),
            json!({"KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]})
        ),
        Replacement::Conditional
    );
    assert_eq!(
        replacement_of(
            "AWS::Events::Rule",
            json!({"EventBusName": "a"}),
            json!({"EventBusName": "b"})
        ),
        Replacement::Conditional
    );
    assert_eq!(
        replacement_of("MyOrg::Billing::Meter", json!({"A": 1}), json!({"A": 2})),
        Replacement::Conditional
    );
    let before = template(json!({"M": {"Type": "MyOrg::Billing::Meter", "Properties": {"A": 1}}}));
    let after = template(json!({"M": {"Type": "MyOrg::Billing::Meter", "Properties": {"A": 2}}}));
    let text = render(&diff("s", Some(&before), &after, &BTreeSet::new()), false);
    assert!(
        text.contains("[~] MyOrg::Billing::Meter M (may replace)"),
        "{text}"
    );
}
