//! The IAM policy language, hand-written: the generated types use it (see
//! `codegen/overrides.json`) for every policy-document property, so that validation can read
//! each statement. Re-exported as `iam::{PolicyDocument, Statement, …}`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{Expr, Json, Value};

/// The actions a rendered statement names under `key` (`Action` or `NotAction`): IAM takes one
/// string or a list of them.
pub fn rendered_actions<'a>(statement: &'a Json, key: &str) -> Vec<&'a str> {
    match statement.get(key) {
        Some(Json::String(a)) => vec![a.as_str()],
        Some(Json::Array(list)) => list.iter().filter_map(Json::as_str).collect(),
        _ => Vec::new(),
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyDocument {
    pub version: &'static str,
    pub statement: Vec<Statement>,
}

impl PolicyDocument {
    pub fn new(statement: Vec<Statement>) -> PolicyDocument {
        PolicyDocument {
            version: "2012-10-17",
            statement,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Effect {
    Allow,
    Deny,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Principal {
    #[serde(rename = "Service")]
    Service(String),
    #[serde(rename = "AWS")]
    Aws(Value<String>),
    /// `"*"`, for statements whose conditions do the scoping (a TLS-only Deny).
    #[serde(untagged)]
    Anyone(&'static str),
}

impl Principal {
    pub fn service(name: &str) -> Principal {
        Principal::Service(name.to_owned())
    }
    pub fn anyone() -> Principal {
        Principal::Anyone("*")
    }
}

/// One policy statement. Actions are exact names; validation rejects wildcards.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub effect: Effect,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    pub action: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource: Vec<Value<String>>,
    /// Operator → condition key → values.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub condition: BTreeMap<String, BTreeMap<String, Value<String>>>,
}

impl Statement {
    pub fn allow<R: Into<Value<String>>>(
        actions: &[&str],
        resources: impl IntoIterator<Item = R>,
    ) -> Statement {
        Statement {
            sid: None,
            effect: Effect::Allow,
            principal: None,
            action: actions.iter().map(|a| (*a).to_owned()).collect(),
            resource: resources.into_iter().map(Into::into).collect(),
            condition: BTreeMap::new(),
        }
    }

    pub fn deny<R: Into<Value<String>>>(
        actions: &[&str],
        resources: impl IntoIterator<Item = R>,
    ) -> Statement {
        Statement {
            effect: Effect::Deny,
            ..Statement::allow(actions, resources)
        }
    }

    /// A trust statement: `principal` may assume the role.
    pub fn assume_role(principal: Principal) -> Statement {
        Statement {
            principal: Some(principal),
            ..Statement::allow::<Expr>(&["sts:AssumeRole"], [])
        }
    }

    pub fn principal(mut self, principal: Principal) -> Statement {
        self.principal = Some(principal);
        self
    }

    pub fn sid(mut self, sid: &str) -> Statement {
        self.sid = Some(sid.to_owned());
        self
    }

    pub fn condition(
        mut self,
        operator: &str,
        key: &str,
        value: impl Into<Value<String>>,
    ) -> Statement {
        self.condition
            .entry(operator.to_owned())
            .or_default()
            .insert(key.to_owned(), value.into());
        self
    }
}
