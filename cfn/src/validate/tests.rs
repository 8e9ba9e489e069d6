use serde_json::json;

use crate::iam::{PolicyDocument, Statement};
use crate::logs::LogGroup;
use crate::logs::log_group::RetentionInDays;
use crate::sqs::{Queue, QueuePolicy};
use crate::{Delivery, Error, Expr, Output, Parameter, Template, Warning, check_size};

fn queue() -> Queue {
    Queue {
        sqs_managed_sse_enabled: Some(true.into()),
        message_retention_period: Some(60.into()),
        ..Queue::new()
    }
}

fn named_queue(name: Expr) -> Queue {
    Queue {
        queue_name: Some(name.into()),
        ..queue()
    }
}

/// Builds a template with `build` and compares the validation errors (displayed) with
/// `expected`; an empty `expected` means the template must be valid.
fn check(build: impl FnOnce(&mut Template), expected: &[&str]) {
    let mut t = Template::new("test");
    build(&mut t);
    let got: Vec<String> = match t.validate() {
        Ok(_) => Vec::new(),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    };
    assert_eq!(got, expected);
}

#[test]
fn a_valid_template_passes() {
    check(
        |t| {
            let p = t.parameter("Env", Parameter::string("env"));
            t.condition("IsProd", Expr::equals(p.clone(), Expr::lit("prod")));
            t.add("A", &named_queue(Expr::if_("IsProd", p, Expr::no_value())));
            t.add(
                "B",
                &named_queue(Expr::sub("${A.QueueName}-b-${AWS::Region}-${!Literal}")),
            );
            t.output("Out", Output::new("o", Expr::get_att("B", "Arn")));
        },
        &[],
    );
}

#[test]
fn references_to_missing_resources_name_both_ends() {
    check(
        |t| {
            t.add("A", &named_queue(Expr::r#ref("Nope")));
        },
        &["stack test: A.Properties.QueueName refers to Nope, which is not in the template"],
    );
    check(
        |t| {
            t.add("A", &named_queue(Expr::sub("x-${Gone.Arn}")));
        },
        &["stack test: A.Properties.QueueName refers to Gone, which is not in the template"],
    );
    check(
        |t| {
            t.output("Out", Output::new("o", Expr::get_att("Missing", "Arn")));
        },
        &["stack test: Out.Value refers to Missing, which is not in the template"],
    );
    check(
        |t| {
            t.add("A", &queue()).depends_on("Ghost");
        },
        &["stack test: A.DependsOn refers to Ghost, which is not in the template"],
    );
    check(
        |t| {
            t.add("A", &named_queue(Expr::r#ref("AWS::Regoin")));
        },
        &["stack test: A.Properties.QueueName refers to AWS::Regoin, which is not in the template"],
    );
}

#[test]
fn sub_variables_defined_locally_are_not_references() {
    check(
        |t| {
            t.add(
                "A",
                &named_queue(Expr::sub_with("${Local}-x", [("Local", Expr::lit("v"))])),
            );
        },
        &[],
    );
}

#[test]
fn unknown_attributes_are_rejected() {
    check(
        |t| {
            t.add("A", &queue());
            t.add("B", &named_queue(Expr::get_att("A", "StreamArn")));
        },
        &[
            "stack test: B.Properties.QueueName reads attribute StreamArn of A, but AWS::SQS::Queue has no such attribute (it has: Arn, QueueName, QueueUrl)",
        ],
    );
}

#[test]
fn unknown_conditions_are_rejected() {
    check(
        |t| {
            t.add(
                "A",
                &named_queue(Expr::if_("Nope", Expr::lit("a"), Expr::lit("b"))),
            );
        },
        &["stack test: A.Properties.QueueName uses condition Nope, which is not defined"],
    );
    check(
        |t| {
            t.add("A", &queue()).condition("AlsoNope");
        },
        &["stack test: A uses condition AlsoNope, which is not defined"],
    );
}

#[test]
fn logical_ids_are_validated_and_collisions_name_both() {
    check(
        |t| {
            t.add("bad-id", &queue());
        },
        &["stack test: invalid logical ID \"bad-id\": only ASCII letters and digits are allowed"],
    );
    check(
        |t| {
            t.add(&"A".repeat(256), &queue());
        },
        &[&format!(
            "stack test: invalid logical ID \"{}\": it is longer than 255 characters",
            "A".repeat(256)
        )],
    );
    check(
        |t| {
            t.add("Thing", &queue());
            t.add(
                "Thing",
                &LogGroup {
                    retention_in_days: Some(RetentionInDays::V7.into()),
                    ..LogGroup::new()
                },
            );
        },
        &[
            "stack test: logical ID Thing is used twice: first by AWS::SQS::Queue, then by AWS::Logs::LogGroup",
        ],
    );
    check(
        |t| {
            t.parameter("Thing", Parameter::string("p"));
            t.add("Thing", &named_queue(Expr::r#ref("Thing")));
        },
        &[
            "stack test: logical ID Thing is used twice: first by parameter, then by AWS::SQS::Queue",
        ],
    );
}

#[test]
fn dependency_cycles_are_reported_with_their_path() {
    check(
        |t| {
            t.add("A", &named_queue(Expr::get_att("B", "QueueName")));
            t.add("B", &named_queue(Expr::get_att("C", "QueueName")));
            t.add("C", &queue()).depends_on("A");
        },
        &["stack test: dependency cycle: A -> B -> C -> A"],
    );
    check(
        |t| {
            t.add("Self", &named_queue(Expr::sub("${Self.QueueName}")));
        },
        &["stack test: dependency cycle: Self -> Self"],
    );
}

#[test]
fn wildcard_actions_in_allow_statements_are_rejected() {
    let policy = |statement: Statement| {
        QueuePolicy::new(
            PolicyDocument::new(vec![statement]),
            vec![Expr::r#ref("Q").into()],
        )
    };
    check(
        |t| {
            t.add("Q", &queue());
            t.add(
                "P",
                &policy(Statement::allow(&["sqs:*"], [Expr::get_att("Q", "Arn")])),
            );
        },
        &[
            "stack test: P.Properties.PolicyDocument.Statement allows the wildcard action \"Action sqs:*\"; name exact actions",
        ],
    );
    // A Deny narrows access: the TLS-only idiom `Deny s3:*` is fine.
    check(
        |t| {
            t.add("Q", &queue());
            t.add(
                "P",
                &policy(Statement::deny(&["sqs:*"], [Expr::get_att("Q", "Arn")])),
            );
        },
        &[],
    );
}

#[test]
fn limits_are_enforced() {
    check(
        |t| {
            for i in 0..501 {
                t.add(&format!("Q{i}"), &queue());
            }
        },
        &["stack test: 501 resources exceed CloudFormation's limit of 500"],
    );
    check(
        |t| {
            for i in 0..201 {
                let p = t.parameter(&format!("P{i}"), Parameter::string("p"));
                t.output(&format!("O{i}"), Output::new("o", p));
            }
            t.add("Q", &queue());
        },
        &[
            "stack test: 201 parameters exceed CloudFormation's limit of 200",
            "stack test: 201 outputs exceed CloudFormation's limit of 200",
        ],
    );
    assert!(check_size("s", 51_200, Delivery::Body).is_ok());
    assert_eq!(
        check_size("s", 51_201, Delivery::Body)
            .unwrap_err()
            .to_string(),
        "stack s: the template is 51201 bytes, over the 51200-byte limit for a template passed as TemplateBody"
    );
    assert!(check_size("s", 51_201, Delivery::Url).is_ok());
    assert!(matches!(
        check_size("s", 1_000_001, Delivery::Url),
        Err(Error::TemplateTooLarge { max: 1_000_000, .. })
    ));
}

#[test]
fn unused_parameters_are_warnings() {
    let mut t = Template::new("test");
    t.parameter("Unused", Parameter::string("p"));
    let used = t.parameter("Used", Parameter::string("p"));
    t.add("Q", &named_queue(used));
    let report = t.validate().unwrap();
    assert_eq!(
        report.warnings,
        vec![Warning::UnusedParameter {
            stack: "test".into(),
            parameter: "Unused".into()
        }]
    );
}

#[test]
fn the_envelope_renders_removal_policies_and_suppressions() {
    let mut t = Template::new("test");
    t.add("Q", &queue())
        .removal(crate::RemovalPolicy::RetainExceptOnCreate)
        .checkov_skip("CKV_AWS_27", "why");
    let v: serde_json::Value = serde_json::from_str(&t.to_json()).unwrap();
    assert_eq!(
        v["Resources"]["Q"],
        json!({
            "Type": "AWS::SQS::Queue",
            "DeletionPolicy": "RetainExceptOnCreate",
            // A replacement is never a create, so it retains.
            "UpdateReplacePolicy": "Retain",
            "Metadata": {"checkov": {"skip": [{"id": "CKV_AWS_27", "comment": "why"}]}},
            "Properties": {"SqsManagedSseEnabled": true, "MessageRetentionPeriod": 60}
        })
    );
    assert_eq!(v["AWSTemplateFormatVersion"], "2010-09-09");
}

#[test]
fn yaml_quotes_ambiguous_scalars() {
    let mut t = Template::new("test");
    t.add("Q", &named_queue(Expr::lit("yes")));
    let yaml = t.to_yaml().unwrap();
    assert!(
        yaml.contains("AWSTemplateFormatVersion: \"2010-09-09\""),
        "{yaml}"
    );
    assert!(yaml.contains("QueueName: \"yes\""), "{yaml}");
}
