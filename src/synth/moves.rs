//! The catalog's summary of a template's resources, which a tier move's plan reads
//! ([`crate::blueprint::moves`]): synth has the template model and the registry schemas'
//! create-only properties; the control plane has neither.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::blueprint::moves::{Fingerprint, ResourceSummary};
use crate::cfn::{self, RemovalPolicy, metadata};

/// Each resource of `template`, by logical id.
pub fn summaries(template: &cfn::Template) -> BTreeMap<String, ResourceSummary> {
    template
        .resources
        .iter()
        .map(|(id, r)| {
            let info = metadata::type_info(&r.type_name);
            let (create_only, conditional) = match info {
                Some(info) => (
                    fingerprint(template, &r.properties, info.create_only),
                    fingerprint(template, &r.properties, info.conditional_create_only),
                ),
                // A type the pinned schemas do not know: any property may replace it.
                None => (fingerprint(template, &r.properties, &[]), {
                    let all: Vec<&str> = r
                        .properties
                        .as_object()
                        .map(|m| m.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    fingerprint(template, &r.properties, &all)
                }),
            };
            let retained = matches!(
                r.deletion_policy,
                Some(
                    RemovalPolicy::Retain
                        | RemovalPolicy::RetainExceptOnCreate
                        | RemovalPolicy::Snapshot
                )
            );
            (
                id.clone(),
                ResourceSummary {
                    resource_type: r.type_name.clone(),
                    retained,
                    create_only,
                    conditional,
                },
            )
        })
        .collect()
}

/// The fingerprint of the top-level properties that `paths` start at. A nested create-only
/// path (`Config/*/Name`) fingerprints its whole top-level property, which may call a
/// change a replacement that is not one, never the other way round.
fn fingerprint(template: &cfn::Template, properties: &Value, paths: &[&str]) -> Fingerprint {
    let tops: BTreeSet<&str> = paths.iter().filter_map(|p| p.split('/').next()).collect();
    let set: BTreeMap<&str, &Value> = tops
        .into_iter()
        .filter_map(|k| properties.get(k).map(|v| (k, v)))
        .collect();
    if set.is_empty() {
        return Fingerprint::default();
    }
    let json = serde_json::to_string(&set).unwrap_or_default();
    let mut names = BTreeSet::new();
    for v in set.values() {
        referenced(v, &mut names);
    }
    let parameters = names
        .into_iter()
        .filter_map(|n| {
            template
                .parameters
                .get(n)
                .map(|p| (n.to_owned(), p.default.clone()))
        })
        .collect();
    Fingerprint {
        sha256: super::sha256_hex(json.as_bytes()),
        parameters,
    }
}

/// Every name `value` refers to: `Ref` targets and `${Name}` in `Fn::Sub` strings (a Sub's
/// own variables included, which only widens the set).
fn referenced<'a>(value: &'a Value, out: &mut BTreeSet<&'a str>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| referenced(v, out)),
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("Ref", Value::String(name)) => {
                        out.insert(name);
                    }
                    ("Fn::Sub", Value::String(s)) => out.extend(cfn::sub_variables(s)),
                    ("Fn::Sub", Value::Array(args)) => {
                        if let Some(s) = args.first().and_then(Value::as_str) {
                            out.extend(cfn::sub_variables(s));
                        }
                        args.iter().skip(1).for_each(|v| referenced(v, out));
                    }
                    _ => referenced(v, out),
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blueprint::TenantData;
    use crate::blueprint::moves::{Action, Side, plan};
    use crate::stacks::{Config, Silo, Stack, TenantContext};

    fn premium(ctx: &TenantContext) -> Stack {
        let mut silo = Silo::new(ctx);
        silo.bucket("Files", "files", "FILES_BUCKET");
        silo.finish()
    }

    fn entry(stack: &Stack) -> BTreeMap<String, crate::blueprint::moves::ResourceSummary> {
        summaries(&stack.template)
    }

    #[test]
    fn summaries_know_create_only_properties_and_retention() {
        let config = Config::new("silos").unwrap();
        let kept = crate::stacks::tenant_silo(&TenantContext::new(
            &config,
            "tenant-silo",
            TenantData::Retain,
        ));
        let s = summaries(&kept.template);
        assert_eq!(s.len(), kept.template.resources.len());
        let table = s
            .values()
            .find(|r| r.resource_type == "AWS::DynamoDB::Table")
            .expect("a table");
        assert!(table.retained, "{table:?}");
        // Its name is create-only and set, so it is in the fingerprint; MemorySize is not.
        assert_ne!(table.create_only, Fingerprint::default());
        let deleted = summaries(
            &crate::stacks::tenant_silo(&TenantContext::new(
                &config,
                "tenant-silo",
                TenantData::Delete,
            ))
            .template,
        );
        let other = deleted
            .values()
            .find(|r| r.resource_type == "AWS::DynamoDB::Table")
            .unwrap();
        assert!(!other.retained);
        // The deletion policy is not create-only: the fingerprints agree.
        assert_eq!(table.create_only, other.create_only);
        // Deterministic.
        assert_eq!(s, summaries(&kept.template));
    }

    #[test]
    fn adding_a_bucket_loses_nothing_and_removing_it_is_data_loss() {
        let config = Config::new("silos").unwrap();
        let ctx = TenantContext::new(&config, "tenant-silo", TenantData::Retain);
        let (silo, premium) = (
            entry(&crate::stacks::tenant_silo(&ctx)),
            entry(&premium(&ctx)),
        );
        let params = BTreeMap::from([("TenantId".to_owned(), "t-1".to_owned())]);
        let side = |e| Side {
            resources: e,
            parameters: &params,
        };
        let up = plan(
            "t-1",
            ("silo", side(&silo)),
            ("premium", side(&premium)),
            None,
        );
        assert!(up.data_loss().is_empty(), "{up:?}");
        assert!(
            up.changes
                .iter()
                .any(|c| c.logical_id.starts_with("Files") && c.action == Action::Add),
            "{up:?}"
        );
        assert!(up.changes.iter().all(|c| c.action == Action::Add), "{up:?}");
        let down = plan(
            "t-1",
            ("premium", side(&premium)),
            ("silo", side(&silo)),
            None,
        );
        let lost: Vec<&str> = down
            .data_loss()
            .iter()
            .map(|c| c.logical_id.as_str())
            .collect();
        assert!(lost.contains(&"Files"), "{down:?}");
        assert!(
            down.describe_data_loss()
                .contains("Files (AWS::S3::Bucket) removed"),
            "{}",
            down.describe_data_loss()
        );
        // The same type to itself changes nothing.
        assert!(
            plan("t-1", ("silo", side(&silo)), ("silo", side(&silo)), None)
                .changes
                .is_empty()
        );
    }
}
