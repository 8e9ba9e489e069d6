//! CloudFormation intrinsic functions as a typed enum, and `Value<T>` for properties that take
//! either a literal or an intrinsic.

use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// A pseudo parameter (`Ref: AWS::Region` and friends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pseudo {
    AccountId,
    NotificationArns,
    NoValue,
    Partition,
    Region,
    StackId,
    StackName,
    UrlSuffix,
}

impl Pseudo {
    pub const ALL: [Pseudo; 8] = [
        Pseudo::AccountId,
        Pseudo::NotificationArns,
        Pseudo::NoValue,
        Pseudo::Partition,
        Pseudo::Region,
        Pseudo::StackId,
        Pseudo::StackName,
        Pseudo::UrlSuffix,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Pseudo::AccountId => "AWS::AccountId",
            Pseudo::NotificationArns => "AWS::NotificationARNs",
            Pseudo::NoValue => "AWS::NoValue",
            Pseudo::Partition => "AWS::Partition",
            Pseudo::Region => "AWS::Region",
            Pseudo::StackId => "AWS::StackId",
            Pseudo::StackName => "AWS::StackName",
            Pseudo::UrlSuffix => "AWS::URLSuffix",
        }
    }

    pub fn is_pseudo(name: &str) -> bool {
        Pseudo::ALL.iter().any(|p| p.name() == name)
    }
}

/// An intrinsic function. Serializes to the JSON form CloudFormation expects
/// (`{"Ref": ..}`, `{"Fn::GetAtt": [..]}`, ...).
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A literal string in an expression position (inside Join, If, ...).
    Lit(String),
    /// A literal list in an expression position (the list of Select).
    List(Vec<Expr>),
    Ref(String),
    Pseudo(Pseudo),
    GetAtt(String, String),
    /// `Fn::Sub` with a template string only.
    Sub(String),
    /// `Fn::Sub` with a template string and a variable map.
    SubWith(String, BTreeMap<String, Expr>),
    Join(String, Vec<Expr>),
    Select(u32, Box<Expr>),
    Split(String, Box<Expr>),
    If(String, Box<Expr>, Box<Expr>),
    Equals(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    /// `{"Condition": name}` inside a condition expression.
    Condition(String),
    ImportValue(Box<Expr>),
    GetAZs(Box<Expr>),
}

impl Expr {
    pub fn lit(s: impl Into<String>) -> Expr {
        Expr::Lit(s.into())
    }
    pub fn r#ref(id: impl Into<String>) -> Expr {
        Expr::Ref(id.into())
    }
    pub fn get_att(id: impl Into<String>, attribute: impl Into<String>) -> Expr {
        Expr::GetAtt(id.into(), attribute.into())
    }
    pub fn sub(template: impl Into<String>) -> Expr {
        Expr::Sub(template.into())
    }
    pub fn sub_with<K: Into<String>>(
        template: impl Into<String>,
        vars: impl IntoIterator<Item = (K, Expr)>,
    ) -> Expr {
        Expr::SubWith(
            template.into(),
            vars.into_iter().map(|(k, v)| (k.into(), v)).collect(),
        )
    }
    pub fn join(delimiter: impl Into<String>, items: impl IntoIterator<Item = Expr>) -> Expr {
        Expr::Join(delimiter.into(), items.into_iter().collect())
    }
    pub fn select(index: u32, list: Expr) -> Expr {
        Expr::Select(index, Box::new(list))
    }
    pub fn split(delimiter: impl Into<String>, source: Expr) -> Expr {
        Expr::Split(delimiter.into(), Box::new(source))
    }
    pub fn if_(condition: impl Into<String>, then: Expr, otherwise: Expr) -> Expr {
        Expr::If(condition.into(), Box::new(then), Box::new(otherwise))
    }
    pub fn equals(a: Expr, b: Expr) -> Expr {
        Expr::Equals(Box::new(a), Box::new(b))
    }
    pub fn not_(condition: Expr) -> Expr {
        Expr::Not(Box::new(condition))
    }
    pub fn import_value(name: Expr) -> Expr {
        Expr::ImportValue(Box::new(name))
    }
    pub fn get_azs(region: Expr) -> Expr {
        Expr::GetAZs(Box::new(region))
    }
    pub fn account_id() -> Expr {
        Expr::Pseudo(Pseudo::AccountId)
    }
    pub fn partition() -> Expr {
        Expr::Pseudo(Pseudo::Partition)
    }
    pub fn region() -> Expr {
        Expr::Pseudo(Pseudo::Region)
    }
    pub fn stack_name() -> Expr {
        Expr::Pseudo(Pseudo::StackName)
    }
    pub fn no_value() -> Expr {
        Expr::Pseudo(Pseudo::NoValue)
    }
}

impl Serialize for Expr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        fn one<S: Serializer, V: Serialize + ?Sized>(
            s: S,
            key: &str,
            value: &V,
        ) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(Some(1))?;
            m.serialize_entry(key, value)?;
            m.end()
        }
        match self {
            Expr::Lit(v) => s.serialize_str(v),
            Expr::List(items) => items.serialize(s),
            Expr::Ref(id) => one(s, "Ref", id),
            Expr::Pseudo(p) => one(s, "Ref", p.name()),
            Expr::GetAtt(id, attr) => one(s, "Fn::GetAtt", &[id, attr]),
            Expr::Sub(t) => one(s, "Fn::Sub", t),
            Expr::SubWith(t, vars) => one(s, "Fn::Sub", &(t, vars)),
            Expr::Join(d, items) => one(s, "Fn::Join", &(d, items)),
            Expr::Select(i, list) => one(s, "Fn::Select", &(i.to_string(), list)),
            Expr::Split(d, src) => one(s, "Fn::Split", &(d, src)),
            Expr::If(c, a, b) => one(s, "Fn::If", &(c, a, b)),
            Expr::Equals(a, b) => one(s, "Fn::Equals", &[a, b]),
            Expr::Not(c) => one(s, "Fn::Not", &[c]),
            Expr::And(cs) => one(s, "Fn::And", cs),
            Expr::Or(cs) => one(s, "Fn::Or", cs),
            Expr::Condition(name) => one(s, "Condition", name),
            Expr::ImportValue(v) => one(s, "Fn::ImportValue", v),
            Expr::GetAZs(v) => one(s, "Fn::GetAZs", v),
        }
    }
}

/// A property value: a literal of type `T`, or an intrinsic function.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<T> {
    Lit(T),
    Expr(Expr),
}

impl<T: Serialize> Serialize for Value<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Lit(v) => v.serialize(s),
            Value::Expr(e) => e.serialize(s),
        }
    }
}

impl<T> From<Expr> for Value<T> {
    fn from(e: Expr) -> Self {
        Value::Expr(e)
    }
}
impl From<&str> for Value<String> {
    fn from(s: &str) -> Self {
        Value::Lit(s.to_owned())
    }
}
impl From<String> for Value<String> {
    fn from(s: String) -> Self {
        Value::Lit(s)
    }
}
impl From<bool> for Value<bool> {
    fn from(b: bool) -> Self {
        Value::Lit(b)
    }
}
impl From<i64> for Value<i64> {
    fn from(n: i64) -> Self {
        Value::Lit(n)
    }
}
impl From<f64> for Value<f64> {
    fn from(n: f64) -> Self {
        Value::Lit(n)
    }
}
impl From<u32> for Value<u32> {
    fn from(n: u32) -> Self {
        Value::Lit(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(expr: Expr, expected: serde_json::Value) {
        assert_eq!(serde_json::to_value(&expr).unwrap(), expected);
    }

    #[test]
    fn intrinsics_have_the_cloudformation_json_shape() {
        check(Expr::r#ref("Table"), json!({"Ref": "Table"}));
        check(Expr::region(), json!({"Ref": "AWS::Region"}));
        check(Expr::no_value(), json!({"Ref": "AWS::NoValue"}));
        check(
            Expr::get_att("Table", "Arn"),
            json!({"Fn::GetAtt": ["Table", "Arn"]}),
        );
        check(Expr::sub("${Api}.x"), json!({"Fn::Sub": "${Api}.x"}));
        check(
            Expr::sub_with(
                "${A}-${B}",
                [("A", Expr::r#ref("P")), ("B", Expr::lit("b"))],
            ),
            json!({"Fn::Sub": ["${A}-${B}", {"A": {"Ref": "P"}, "B": "b"}]}),
        );
        check(
            Expr::join(",", [Expr::lit("a"), Expr::r#ref("P")]),
            json!({"Fn::Join": [",", ["a", {"Ref": "P"}]]}),
        );
        check(
            Expr::select(1, Expr::split("/", Expr::r#ref("P"))),
            json!({"Fn::Select": ["1", {"Fn::Split": ["/", {"Ref": "P"}]}]}),
        );
        check(
            Expr::if_("IsProd", Expr::lit("a"), Expr::no_value()),
            json!({"Fn::If": ["IsProd", "a", {"Ref": "AWS::NoValue"}]}),
        );
        check(
            Expr::not_(Expr::equals(Expr::r#ref("Env"), Expr::lit("prod"))),
            json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "Env"}, "prod"]}]}),
        );
        check(
            Expr::And(vec![
                Expr::Condition("A".into()),
                Expr::Condition("B".into()),
            ]),
            json!({"Fn::And": [{"Condition": "A"}, {"Condition": "B"}]}),
        );
        check(
            Expr::import_value(Expr::sub("${AWS::StackName}-x")),
            json!({"Fn::ImportValue": {"Fn::Sub": "${AWS::StackName}-x"}}),
        );
        check(Expr::get_azs(Expr::lit("")), json!({"Fn::GetAZs": ""}));
        check(
            Expr::List(vec![Expr::lit("a"), Expr::lit("b")]),
            json!(["a", "b"]),
        );
    }

    #[test]
    fn values_render_literals_or_intrinsics() {
        let lit: Value<bool> = true.into();
        let ex: Value<bool> = Expr::r#ref("Flag").into();
        assert_eq!(serde_json::to_value(lit).unwrap(), json!(true));
        assert_eq!(serde_json::to_value(ex).unwrap(), json!({"Ref": "Flag"}));
    }
}
