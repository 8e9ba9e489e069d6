//! Resource names built from the stack name, checked at synth against each property's limits.
//!
//! A tenant stack names its resources after `${AWS::StackName}` (the README's advice, and what
//! the provisioning role scopes by), so a name's length is the stack name's plus the stack's
//! own suffix. A blueprint fixes the stack name's shape (`{prefix}-tenant-{id}`, 49 characters
//! with the prefix `silos`), so synth knows the longest name each resource can get, and checks
//! it against the property's `maxLength` and `pattern` from the registry schemas (or, where the
//! schema states none, the service's documented limit: `codegen/overrides.json`). A name that
//! CloudFormation would reject at the first onboarding fails synth instead.

use std::fmt;

use serde_json::Value as Json;

use crate::cfn::metadata;

use super::Stack;

/// The longest value each pseudo parameter takes, so that a name holding one is checked at
/// its longest: `ap-southeast-5` is as long as a region name gets.
const PSEUDO: &[(&str, &str)] = &[
    ("AWS::Region", "ap-southeast-5"),
    ("AWS::AccountId", "123456789012"),
    ("AWS::Partition", "aws-us-gov"),
    ("AWS::URLSuffix", "amazonaws.com.cn"),
];

/// A name that breaks its property's limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameError {
    pub stack: String,
    pub resource: String,
    pub type_name: String,
    pub property: String,
    /// The name at its longest: with the longest stack name the stack's blueprints give.
    pub value: String,
    pub violation: Violation,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    TooLong { length: usize, max: u32 },
    Pattern(&'static str),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stack {}: {} ({}) {} would be {:?}, ",
            self.stack, self.resource, self.type_name, self.property, self.value
        )?;
        match &self.violation {
            Violation::TooLong { length, max } => write!(
                f,
                "{length} characters where {max} is the most: shorten what the stack adds to ${{AWS::StackName}}, or the blueprint's stackName"
            ),
            Violation::Pattern(p) => write!(
                f,
                "which does not match {p:?}: use only the characters the pattern allows"
            ),
        }
    }
}

/// Every name in `stack` built from the stack name that breaks its property's limits, with
/// `stack_name` the longest stack name the stack is deployed under.
pub fn check(stack: &Stack, stack_name: &str) -> Vec<NameError> {
    let mut errors = Vec::new();
    for (id, entry) in &stack.template.resources {
        let Some(info) = metadata::type_info(&entry.type_name) else {
            continue;
        };
        let Some(properties) = entry.properties.as_object() else {
            continue;
        };
        for (property, value) in properties {
            let Some(limit) = info.limit(property) else {
                continue;
            };
            let Some(Value {
                text,
                from_stack_name: true,
            }) = resolve(value, stack_name)
            else {
                continue;
            };
            if let Some(violation) = violates(limit, &text) {
                errors.push(NameError {
                    stack: stack.id.clone(),
                    resource: id.clone(),
                    type_name: info.type_name.to_owned(),
                    property: property.clone(),
                    value: text,
                    violation,
                });
            }
        }
    }
    errors
}

/// The longest stack name a blueprint gives for a tenant: its rendering for the sample tenant
/// when it depends only on the prefix and the tenant id (both of fixed length), and that
/// rendering padded to the longest tenant stack name otherwise (a name holding the tenant's
/// name is as long as onboarding lets it be).
pub fn longest_stack_name(sample: &str, other_sample: &str) -> String {
    let mut name = sample.to_owned();
    if sample.len() != other_sample.len() {
        while name.len() < crate::blueprint::MAX_TENANT_STACK_NAME {
            name.push('a');
        }
    }
    name
}

fn violates(limit: &metadata::Limit, text: &str) -> Option<Violation> {
    let length = text.chars().count();
    if let Some(max) = limit.max_length
        && length > max as usize
    {
        return Some(Violation::TooLong { length, max });
    }
    let pattern = limit.pattern?;
    // The schemas write ECMAScript patterns; `\Z` is Rust's `\z`. A pattern this engine
    // cannot read (Unicode classes) is left to cfn-lint, which reads the literal names.
    let regex = regex_lite::Regex::new(&pattern.replace("\\Z", "\\z")).ok()?;
    (!regex.is_match(text)).then_some(Violation::Pattern(pattern))
}

/// A property value as a string, where it can be known at synth.
struct Value {
    text: String,
    from_stack_name: bool,
}

/// `value` with `${AWS::StackName}` as `stack_name` and the pseudo parameters at their
/// longest, or `None` when it holds anything else (a parameter, an attribute, a condition).
fn resolve(value: &Json, stack_name: &str) -> Option<Value> {
    if let Some(text) = value.as_str() {
        return Some(Value {
            text: text.to_owned(),
            from_stack_name: false,
        });
    }
    let (function, args) = value.as_object().filter(|o| o.len() == 1)?.iter().next()?;
    match function.as_str() {
        "Ref" => pseudo(args.as_str()?, stack_name),
        "Fn::Sub" => match args {
            Json::String(template) => sub(template, &serde_json::Map::new(), stack_name),
            Json::Array(a) if a.len() == 2 => sub(a[0].as_str()?, a[1].as_object()?, stack_name),
            _ => None,
        },
        "Fn::Join" => {
            let [delimiter, items] = args.as_array()?.as_slice() else {
                return None;
            };
            let mut parts = Vec::new();
            let mut from_stack_name = false;
            for item in items.as_array()? {
                let v = resolve(item, stack_name)?;
                from_stack_name |= v.from_stack_name;
                parts.push(v.text);
            }
            Some(Value {
                text: parts.join(delimiter.as_str()?),
                from_stack_name,
            })
        }
        _ => None,
    }
}

fn pseudo(name: &str, stack_name: &str) -> Option<Value> {
    if name == "AWS::StackName" {
        return Some(Value {
            text: stack_name.to_owned(),
            from_stack_name: true,
        });
    }
    let (_, text) = PSEUDO.iter().find(|(p, _)| *p == name)?;
    Some(Value {
        text: (*text).to_owned(),
        from_stack_name: false,
    })
}

/// `Fn::Sub`'s template with its variables replaced; `${!x}` is the literal `${x}`.
fn sub(template: &str, vars: &serde_json::Map<String, Json>, stack_name: &str) -> Option<Value> {
    let mut text = String::new();
    let mut from_stack_name = false;
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        text.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}')?;
        let name = &after[..end];
        if let Some(literal) = name.strip_prefix('!') {
            text.push_str("${");
            text.push_str(literal);
            text.push('}');
        } else {
            let v = match vars.get(name) {
                Some(v) => resolve(v, stack_name)?,
                None => pseudo(name, stack_name)?,
            };
            from_stack_name |= v.from_stack_name;
            text.push_str(&v.text);
        }
        rest = &after[end + 1..];
    }
    text.push_str(rest);
    Some(Value {
        text,
        from_stack_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const STACK: &str = "silos-tenant-00000000-0000-4000-8000-000000000000";

    fn limit(max_length: Option<u32>, pattern: Option<&'static str>) -> metadata::Limit {
        metadata::Limit {
            property: "Name",
            max_length,
            pattern,
        }
    }

    #[test]
    fn subs_and_joins_resolve_with_the_stack_name_and_pseudo_parameters_at_their_longest() {
        let v = resolve(&json!({"Fn::Sub": "${AWS::StackName}-items"}), STACK).unwrap();
        assert_eq!(v.text, format!("{STACK}-items"));
        assert!(v.from_stack_name);
        let v = resolve(
            &json!({"Fn::Join": ["-", [{"Ref": "AWS::StackName"}, {"Ref": "AWS::Region"}]]}),
            STACK,
        )
        .unwrap();
        assert_eq!(v.text, format!("{STACK}-ap-southeast-5"));
        let v = resolve(
            &json!({"Fn::Sub": ["${S}-${!Literal}", {"S": {"Ref": "AWS::StackName"}}]}),
            STACK,
        )
        .unwrap();
        assert_eq!(v.text, format!("{STACK}-${{Literal}}"));
        assert!(!resolve(&json!("fixed"), STACK).unwrap().from_stack_name);
        // A parameter or an attribute is not known at synth.
        assert!(resolve(&json!({"Fn::Sub": "${AWS::StackName}-${Env}"}), STACK).is_none());
        assert!(resolve(&json!({"Fn::GetAtt": ["Table", "Arn"]}), STACK).is_none());
    }

    #[test]
    fn a_name_over_its_length_or_outside_its_pattern_violates() {
        let name = format!("{STACK}-artifacts-logs");
        assert_eq!(
            violates(&limit(Some(63), None), &name),
            Some(Violation::TooLong {
                length: name.len(),
                max: 63
            })
        );
        assert_eq!(violates(&limit(Some(80), None), &name), None);
        let lower = "^[a-z0-9.-]*$";
        assert_eq!(violates(&limit(None, Some(lower)), &name), None);
        assert_eq!(
            violates(&limit(None, Some(lower)), "Silos-Tenant"),
            Some(Violation::Pattern(lower))
        );
        // ECMAScript's \Z reads as the end of the text.
        assert_eq!(
            violates(&limit(None, Some("^[a-z-]{1,10}\\Z")), "silos-a"),
            None
        );
    }

    #[test]
    fn a_stack_name_that_holds_the_tenant_s_name_is_checked_at_its_longest() {
        assert_eq!(longest_stack_name(STACK, STACK), STACK);
        let padded = longest_stack_name("silos-tenant-acme", "silos-tenant-acme-two");
        assert_eq!(padded.len(), crate::blueprint::MAX_TENANT_STACK_NAME);
        assert!(padded.starts_with("silos-tenant-acme"));
    }

    #[test]
    fn the_schemas_limits_reach_the_types_tenant_stacks_name() {
        let bucket = metadata::type_info("AWS::S3::Bucket").unwrap();
        assert_eq!(bucket.limit("BucketName").unwrap().max_length, Some(63));
        // The schema states none for a queue's name: the override gives SQS's 80.
        let queue = metadata::type_info("AWS::SQS::Queue").unwrap();
        assert_eq!(queue.limit("QueueName").unwrap().max_length, Some(80));
        let function = metadata::type_info("AWS::Lambda::Function").unwrap();
        assert_eq!(function.limit("FunctionName").unwrap().max_length, Some(64));
        let role = metadata::type_info("AWS::IAM::Role").unwrap();
        assert_eq!(role.limit("RoleName").unwrap().max_length, Some(64));
    }
}
