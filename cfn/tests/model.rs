//! The generated types and the escape hatches, through the crate's public API, as a user's
//! stack code would use them.

use serde_json::{Value as Json, json};
use silos_cfn::iam::{PolicyDocument, Statement};
use silos_cfn::{Expr, Handle, Parameter, Template, Value, dynamodb, lambda, logs, sqs};

fn resources(t: &Template) -> Json {
    serde_json::from_str::<Json>(&t.to_json()).unwrap()["Resources"].clone()
}

fn errors(t: &Template) -> Vec<String> {
    match t.validate() {
        Ok(_) => Vec::new(),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_typed_resource_takes_literals_intrinsics_and_enums() {
    let mut t = Template::new("test");
    let retention = t.parameter("Retention", Parameter::number("seconds"));
    let dlq = t.add("Dlq", &sqs::Queue::new()).handle();
    let queue = sqs::Queue {
        // An integer property takes a parameter as well as a number.
        message_retention_period: Some(retention.into()),
        visibility_timeout: Some(30.into()),
        sqs_managed_sse_enabled: Some(true.into()),
        redrive_policy: Some(json!({"deadLetterTargetArn": dlq.attr_arn(), "maxReceiveCount": 3})),
        ..sqs::Queue::new()
    };
    let jobs: Handle<sqs::Queue> = t.add("Jobs", &queue).handle();
    let logs = logs::LogGroup {
        retention_in_days: Some(logs::log_group::RetentionInDays::V30.into()),
        ..logs::LogGroup::new()
    };
    t.add("Logs", &logs);
    // A value newer than the pinned schemas.
    let runtime = lambda::function::Runtime::Other("rust2030".to_owned());
    let function = lambda::Function {
        runtime: Some(runtime.into()),
        ..lambda::Function::new(
            lambda::function::Code {
                s3_bucket: Some("bucket".into()),
                s3_key: Some("key".into()),
                ..lambda::function::Code::new()
            },
            Expr::r#ref("RoleArn"),
        )
    };
    t.parameter("RoleArn", Parameter::string("role"));
    t.add("Fn", &function);
    t.output("JobsArn", silos_cfn::Output::new("jobs", jobs.attr_arn()));

    assert_eq!(errors(&t), Vec::<String>::new());
    let r = resources(&t);
    assert_eq!(
        r["Jobs"]["Properties"],
        json!({
            "MessageRetentionPeriod": {"Ref": "Retention"},
            "VisibilityTimeout": 30,
            "SqsManagedSseEnabled": true,
            "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]}, "maxReceiveCount": 3},
        })
    );
    assert_eq!(r["Logs"]["Properties"], json!({"RetentionInDays": 30}));
    assert_eq!(r["Fn"]["Properties"]["Runtime"], json!("rust2030"));
    assert_eq!(r["Fn"]["Properties"]["Role"], json!({"Ref": "RoleArn"}));
    assert_eq!(r["Dlq"], json!({"Type": "AWS::SQS::Queue"}));
}

#[test]
fn typed_attributes_come_from_the_schemas_and_synth_checks_them() {
    let mut t = Template::new("test");
    let table = t
        .add(
            "Table",
            // KeySchema is a union in the schema (a list, or a JSON string): JSON here.
            &dynamodb::Table::new(json!([{"AttributeName": "pk", "KeyType": "HASH"}])),
        )
        .handle();
    let arn: Value<String> = table.attr_stream_arn().into();
    t.add(
        "Q",
        &sqs::Queue {
            queue_name: Some(arn),
            ..sqs::Queue::new()
        },
    );
    assert_eq!(errors(&t), Vec::<String>::new());

    t.add(
        "Bad",
        &sqs::Queue {
            queue_name: Some(table.get_att("StreamArnn").into()),
            ..sqs::Queue::new()
        },
    );
    let e = errors(&t);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains(
            "reads attribute StreamArnn of Table, but AWS::DynamoDB::Table has no such attribute"
        ) && e[0].contains("StreamArn"),
        "{e:?}"
    );
}

#[test]
fn a_raw_resource_of_any_type_is_validated_like_a_typed_one() {
    let mut t = Template::new("test");
    t.add("Q", &sqs::Queue::new());
    let meter = t
        .add_raw(
            "Meter",
            "MyOrg::Billing::Meter",
            json!({"Queue": {"Fn::GetAtt": ["Q", "Arn"]}, "Rate": 10}),
        )
        .handle();
    // A private type's attributes are not known: any is accepted.
    t.add(
        "R",
        &sqs::Queue {
            queue_name: Some(meter.get_att("MeterId").into()),
            ..sqs::Queue::new()
        },
    );
    assert_eq!(errors(&t), Vec::<String>::new());
    let r = resources(&t);
    assert_eq!(r["Meter"]["Type"], "MyOrg::Billing::Meter");
    assert_eq!(r["Meter"]["Properties"]["Rate"], 10);

    // A bad reference inside a raw resource is still caught.
    t.add_raw(
        "Broken",
        "MyOrg::Billing::Meter",
        json!({"Queue": {"Ref": "Nope"}}),
    );
    // A known type added raw has its attributes checked.
    t.add_raw("Topic", "AWS::SNS::Topic", json!({}));
    t.add_raw(
        "UsesTopic",
        "MyOrg::Billing::Meter",
        json!({"T": {"Fn::GetAtt": ["Topic", "Nope"]}}),
    );
    // A raw IAM policy with a wildcard action is refused as a typed one is.
    t.add_raw(
        "Wild",
        "AWS::IAM::ManagedPolicy",
        json!({"PolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}}),
    );
    t.add_raw("Shape", "NotAType", json!({}));
    t.add_raw("List", "MyOrg::Billing::Meter", json!([1]));
    let e = errors(&t);
    assert!(
        e.iter()
            .any(|m| m.contains("Broken.Properties.Queue refers to Nope")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("reads attribute Nope of Topic, but AWS::SNS::Topic")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("Wild.Properties.PolicyDocument") && m.contains("s3:*")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("invalid type name \"NotAType\"")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m
                .contains("List cannot be rendered: a resource's properties are a JSON object")),
        "{e:?}"
    );
}

#[test]
fn overrides_set_and_remove_properties_by_path_and_are_validated() {
    let mut t = Template::new("test");
    let tagged = sqs::Queue {
        tags: Some(vec![sqs::queue::Tag::new("team", "a")]),
        visibility_timeout: Some(30.into()),
        ..sqs::Queue::new()
    };
    t.add("Q", &tagged)
        .override_property("Tags.0.Value", json!("b"))
        .override_property("RedrivePolicy.maxReceiveCount", json!(5))
        .override_property("NewerThanTheSchema", json!({"Enabled": true}))
        .remove_property("VisibilityTimeout");
    assert_eq!(errors(&t), Vec::<String>::new());
    assert_eq!(
        resources(&t)["Q"]["Properties"],
        json!({
            "Tags": [{"Key": "team", "Value": "b"}],
            "RedrivePolicy": {"maxReceiveCount": 5},
            "NewerThanTheSchema": {"Enabled": true},
        })
    );

    // What an override writes is checked like any property.
    let one_tag = sqs::Queue {
        tags: Some(vec![sqs::queue::Tag::new("team", "a")]),
        ..sqs::Queue::new()
    };
    t.add("P", &one_tag)
        .override_property("QueueName", json!({"Fn::GetAtt": ["Missing", "Arn"]}))
        .override_property("Tags.3.Value", json!("x"))
        .remove_property("DelaySeconds")
        .override_property("Tags..Key", json!("x"));
    let e = errors(&t);
    assert!(
        e.iter()
            .any(|m| m.contains("P.Properties.QueueName refers to Missing")),
        "{e:?}"
    );
    assert!(
        e.iter().any(|m| m
            .contains("the override of \"DelaySeconds\" cannot apply: DelaySeconds is not set")),
        "{e:?}"
    );
    assert!(
        e.iter().any(|m| m
            .contains("the override of \"Tags..Key\" cannot apply: the path has an empty segment")),
        "{e:?}"
    );
    assert!(
        e.iter().any(|m| m.contains(
            "the override of \"Tags.3.Value\" cannot apply: Tags.3: index 3 is past the list's 1 items"
        )),
        "{e:?}"
    );
}

#[test]
fn the_whole_envelope_renders_and_its_references_are_checked() {
    let mut t = Template::new("test");
    t.condition(
        "IsProd",
        Expr::equals(Expr::region(), Expr::lit("us-east-1")),
    );
    t.add("Q", &sqs::Queue::new())
        .condition("IsProd")
        .update_policy(json!({"AutoScalingReplacingUpdate": {"WillReplace": true}}))
        .creation_policy(json!({"ResourceSignal": {"Count": 1, "Timeout": "PT5M"}}))
        .metadata("owner", json!("billing"));
    assert_eq!(errors(&t), Vec::<String>::new());
    let q = &resources(&t)["Q"];
    assert_eq!(q["Condition"], "IsProd");
    assert_eq!(
        q["UpdatePolicy"]["AutoScalingReplacingUpdate"]["WillReplace"],
        true
    );
    assert_eq!(q["CreationPolicy"]["ResourceSignal"]["Count"], 1);
    assert_eq!(q["Metadata"]["owner"], "billing");

    t.add("R", &sqs::Queue::new())
        .update_policy(json!({"X": {"Ref": "Nowhere"}}))
        .condition("NoSuchCondition");
    let e = errors(&t);
    assert!(
        e.iter()
            .any(|m| m.contains("R.UpdatePolicy.X refers to Nowhere")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("uses condition NoSuchCondition")),
        "{e:?}"
    );
}

#[test]
fn policy_properties_use_the_hand_written_document() {
    let mut t = Template::new("test");
    let q = t.add("Q", &sqs::Queue::new()).handle();
    t.add(
        "Policy",
        &sqs::QueuePolicy::new(
            PolicyDocument::new(vec![Statement::allow(&["sqs:*"], [q.attr_arn()])]),
            vec![q.r#ref().into()],
        ),
    );
    let e = errors(&t);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("wildcard action \"Action sqs:*\""), "{e:?}");
}
