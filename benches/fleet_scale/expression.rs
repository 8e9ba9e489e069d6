//! DynamoDB expressions, parsed and evaluated for real: condition expressions (comparisons,
//! `BETWEEN`, `IN`, `AND`/`OR`/`NOT`, `attribute_exists`, `attribute_not_exists`,
//! `begins_with`, `contains`, `size`), key conditions (the same grammar), and update
//! expressions (`SET` with `+`, `-` and `if_not_exists`, and `REMOVE`). Attributes are
//! top-level names (`status`, `#status`); nested paths are refused, as nothing sends them.
//!
//! Every placeholder is resolved against the request's `ExpressionAttributeNames` and
//! `ExpressionAttributeValues`; an undefined one, or one the request defines and no
//! expression uses, is refused as DynamoDB refuses it.

use std::collections::{BTreeMap, BTreeSet};

use super::dynamodb::{Av, Item, invalid};

/// An attribute name as written: literal, or a `#placeholder`.
#[derive(Clone, Debug, PartialEq)]
pub enum Name {
    Literal(String),
    Placeholder(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    Path(Name),
    Value(String),
    Size(Name),
    IfNotExists(Name, Box<Operand>),
    Add(Box<Operand>, Box<Operand>),
    Sub(Box<Operand>, Box<Operand>),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    Compare(Operand, Cmp, Operand),
    Between(Operand, Operand, Operand),
    In(Operand, Vec<Operand>),
    Exists(Name),
    NotExists(Name),
    BeginsWith(Operand, Operand),
    Contains(Operand, Operand),
}

/// An update expression: the attributes it sets (with their values) and removes.
#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    pub set: Vec<(Name, Operand)>,
    pub remove: Vec<Name>,
}

/// The placeholders an expression uses.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Used {
    pub names: BTreeSet<String>,
    pub values: BTreeSet<String>,
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Name(String),
    Value(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let word = |i: &mut usize| {
        let start = *i;
        while *i < chars.len() && (chars[*i].is_ascii_alphanumeric() || chars[*i] == '_') {
            *i += 1;
        }
        chars[start..*i].iter().collect::<String>()
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push(Token::LParen);
                i += 1;
            }
            ')' => {
                out.push(Token::RParen);
                i += 1;
            }
            ',' => {
                out.push(Token::Comma);
                i += 1;
            }
            '#' | ':' => {
                i += 1;
                let w = word(&mut i);
                if w.is_empty() {
                    return Err(format!("a lone {c:?} in {text:?}"));
                }
                out.push(if c == '#' {
                    Token::Name(format!("#{w}"))
                } else {
                    Token::Value(format!(":{w}"))
                });
            }
            '=' | '+' | '-' => {
                out.push(Token::Op(match c {
                    '=' => "=",
                    '+' => "+",
                    _ => "-",
                }));
                i += 1;
            }
            '<' | '>' => {
                let next = chars.get(i + 1).copied();
                let op = match (c, next) {
                    ('<', Some('>')) => "<>",
                    ('<', Some('=')) => "<=",
                    ('>', Some('=')) => ">=",
                    ('<', _) => "<",
                    _ => ">",
                };
                i += op.len();
                out.push(Token::Op(op));
            }
            c if c.is_ascii_alphanumeric() || c == '_' => out.push(Token::Ident(word(&mut i))),
            '.' | '[' => return Err(format!("nested paths are not simulated: {text:?}")),
            other => return Err(format!("unexpected {other:?} in {text:?}")),
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    used: Used,
}

impl Parser {
    fn new(text: &str) -> Result<Parser, String> {
        Ok(Parser {
            tokens: tokens(text)?,
            at: 0,
            used: Used::default(),
        })
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Token::Ident(w)) if w.eq_ignore_ascii_case(k))
    }

    fn expect(&mut self, t: Token) -> Result<(), String> {
        match self.next() {
            Some(got) if got == t => Ok(()),
            got => Err(format!("expected {t:?}, found {got:?}")),
        }
    }

    fn name(&mut self) -> Result<Name, String> {
        match self.next() {
            Some(Token::Name(n)) => {
                self.used.names.insert(n.clone());
                Ok(Name::Placeholder(n))
            }
            Some(Token::Ident(w)) => Ok(Name::Literal(w)),
            got => Err(format!("expected an attribute name, found {got:?}")),
        }
    }

    fn condition(&mut self) -> Result<Cond, String> {
        let mut left = self.conjunction()?;
        while self.keyword("OR") {
            self.at += 1;
            left = Cond::Or(Box::new(left), Box::new(self.conjunction()?));
        }
        Ok(left)
    }

    fn conjunction(&mut self) -> Result<Cond, String> {
        let mut left = self.negation()?;
        while self.keyword("AND") {
            self.at += 1;
            left = Cond::And(Box::new(left), Box::new(self.negation()?));
        }
        Ok(left)
    }

    fn negation(&mut self) -> Result<Cond, String> {
        if self.keyword("NOT") {
            self.at += 1;
            return Ok(Cond::Not(Box::new(self.negation()?)));
        }
        self.primary()
    }

    fn function_name(&self) -> Option<String> {
        match (self.tokens.get(self.at), self.tokens.get(self.at + 1)) {
            (Some(Token::Ident(w)), Some(Token::LParen)) => Some(w.to_ascii_lowercase()),
            _ => None,
        }
    }

    fn primary(&mut self) -> Result<Cond, String> {
        if self.peek() == Some(&Token::LParen) {
            self.at += 1;
            let c = self.condition()?;
            self.expect(Token::RParen)?;
            return Ok(c);
        }
        match self.function_name().as_deref() {
            Some(f @ ("attribute_exists" | "attribute_not_exists")) => {
                self.at += 2;
                let n = self.name()?;
                self.expect(Token::RParen)?;
                return Ok(if f == "attribute_exists" {
                    Cond::Exists(n)
                } else {
                    Cond::NotExists(n)
                });
            }
            Some(f @ ("begins_with" | "contains")) => {
                self.at += 2;
                let a = self.operand()?;
                self.expect(Token::Comma)?;
                let b = self.operand()?;
                self.expect(Token::RParen)?;
                return Ok(if f == "begins_with" {
                    Cond::BeginsWith(a, b)
                } else {
                    Cond::Contains(a, b)
                });
            }
            _ => {}
        }
        let left = self.operand()?;
        if self.keyword("BETWEEN") {
            self.at += 1;
            let low = self.operand()?;
            if !self.keyword("AND") {
                return Err("BETWEEN without AND".to_owned());
            }
            self.at += 1;
            let high = self.operand()?;
            return Ok(Cond::Between(left, low, high));
        }
        if self.keyword("IN") {
            self.at += 1;
            self.expect(Token::LParen)?;
            let mut list = vec![self.operand()?];
            while self.peek() == Some(&Token::Comma) {
                self.at += 1;
                list.push(self.operand()?);
            }
            self.expect(Token::RParen)?;
            return Ok(Cond::In(left, list));
        }
        let cmp = match self.next() {
            Some(Token::Op("=")) => Cmp::Eq,
            Some(Token::Op("<>")) => Cmp::Ne,
            Some(Token::Op("<")) => Cmp::Lt,
            Some(Token::Op("<=")) => Cmp::Le,
            Some(Token::Op(">")) => Cmp::Gt,
            Some(Token::Op(">=")) => Cmp::Ge,
            got => return Err(format!("expected a comparison, found {got:?}")),
        };
        let right = self.operand()?;
        Ok(Cond::Compare(left, cmp, right))
    }

    /// A value in a condition: a path, a value, or `size(path)`.
    fn operand(&mut self) -> Result<Operand, String> {
        if self.function_name().as_deref() == Some("size") {
            self.at += 2;
            let n = self.name()?;
            self.expect(Token::RParen)?;
            return Ok(Operand::Size(n));
        }
        self.simple()
    }

    fn simple(&mut self) -> Result<Operand, String> {
        match self.peek() {
            Some(Token::Value(v)) => {
                let v = v.clone();
                self.at += 1;
                self.used.values.insert(v.clone());
                Ok(Operand::Value(v))
            }
            _ => Ok(Operand::Path(self.name()?)),
        }
    }

    /// A value in a SET action: an operand, or two joined by `+` or `-`.
    fn set_value(&mut self) -> Result<Operand, String> {
        let left = self.set_operand()?;
        match self.peek() {
            Some(Token::Op("+")) => {
                self.at += 1;
                Ok(Operand::Add(Box::new(left), Box::new(self.set_operand()?)))
            }
            Some(Token::Op("-")) => {
                self.at += 1;
                Ok(Operand::Sub(Box::new(left), Box::new(self.set_operand()?)))
            }
            _ => Ok(left),
        }
    }

    fn set_operand(&mut self) -> Result<Operand, String> {
        match self.function_name().as_deref() {
            Some("if_not_exists") => {
                self.at += 2;
                let n = self.name()?;
                self.expect(Token::Comma)?;
                let v = self.set_operand()?;
                self.expect(Token::RParen)?;
                Ok(Operand::IfNotExists(n, Box::new(v)))
            }
            Some(f) => Err(format!("function {f} is not simulated in updates")),
            None => self.simple(),
        }
    }

    fn update(&mut self) -> Result<Update, String> {
        let mut update = Update {
            set: Vec::new(),
            remove: Vec::new(),
        };
        let mut seen = BTreeSet::new();
        while self.peek().is_some() {
            let clause = match self.next() {
                Some(Token::Ident(w)) => w.to_ascii_uppercase(),
                got => return Err(format!("expected SET or REMOVE, found {got:?}")),
            };
            if !seen.insert(clause.clone()) {
                return Err(format!("the {clause} clause appears twice"));
            }
            loop {
                match clause.as_str() {
                    "SET" => {
                        let n = self.name()?;
                        self.expect(Token::Op("="))?;
                        let v = self.set_value()?;
                        update.set.push((n, v));
                    }
                    "REMOVE" => update.remove.push(self.name()?),
                    other => return Err(format!("the {other} clause is not simulated")),
                }
                if self.peek() == Some(&Token::Comma) {
                    self.at += 1;
                } else {
                    break;
                }
            }
        }
        if update.set.is_empty() && update.remove.is_empty() {
            return Err("an empty update expression".to_owned());
        }
        Ok(update)
    }

    fn done(&self) -> Result<(), String> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(format!("unexpected {t:?} after the expression")),
        }
    }
}

pub fn condition(text: &str) -> Result<(Cond, Used), String> {
    let mut p = Parser::new(text)?;
    let c = p.condition()?;
    p.done()?;
    Ok((c, p.used))
}

pub fn update(text: &str) -> Result<(Update, Used), String> {
    let mut p = Parser::new(text)?;
    let u = p.update()?;
    p.done()?;
    Ok((u, p.used))
}

/// The placeholders of one request.
pub struct Scope<'a> {
    pub names: &'a BTreeMap<String, String>,
    pub values: &'a BTreeMap<String, Av>,
}

impl Scope<'_> {
    pub fn name<'n>(&'n self, n: &'n Name) -> Result<&'n str, super::dynamodb::Error> {
        match n {
            Name::Literal(s) => Ok(s),
            Name::Placeholder(p) => self.names.get(p).map(String::as_str).ok_or_else(|| {
                invalid(format!(
                    "An expression attribute name used in the document path is not defined; attribute name: {p}"
                ))
            }),
        }
    }

    fn value(&self, v: &str) -> Result<&Av, super::dynamodb::Error> {
        self.values.get(v).ok_or_else(|| {
            invalid(format!(
                "An expression attribute value used in expression is not defined; attribute value: {v}"
            ))
        })
    }

    /// The operand's value in `item`, `None` for a missing attribute.
    pub fn eval(&self, o: &Operand, item: &Item) -> Result<Option<Av>, super::dynamodb::Error> {
        Ok(match o {
            Operand::Path(n) => item.get(self.name(n)?).cloned(),
            Operand::Value(v) => Some(self.value(v)?.clone()),
            Operand::Size(n) => item
                .get(self.name(n)?)
                .map(|v| Av::N(v.size_function().to_string())),
            Operand::IfNotExists(n, default) => match item.get(self.name(n)?) {
                Some(v) => Some(v.clone()),
                None => self.eval(default, item)?,
            },
            Operand::Add(a, b) | Operand::Sub(a, b) => {
                let (Some(Av::N(x)), Some(Av::N(y))) = (self.eval(a, item)?, self.eval(b, item)?)
                else {
                    return Err(invalid(
                        "An operand in the update expression has an incorrect data type, or refers to an attribute that does not exist in the item".to_owned(),
                    ));
                };
                Some(Av::N(arithmetic(&x, &y, matches!(o, Operand::Add(..)))))
            }
        })
    }

    pub fn holds(&self, c: &Cond, item: &Item) -> Result<bool, super::dynamodb::Error> {
        Ok(match c {
            Cond::And(a, b) => self.holds(a, item)? && self.holds(b, item)?,
            Cond::Or(a, b) => self.holds(a, item)? || self.holds(b, item)?,
            Cond::Not(a) => !self.holds(a, item)?,
            Cond::Exists(n) => item.contains_key(self.name(n)?),
            Cond::NotExists(n) => !item.contains_key(self.name(n)?),
            Cond::Compare(a, cmp, b) => {
                let (a, b) = (self.eval(a, item)?, self.eval(b, item)?);
                match (a, b) {
                    (Some(a), Some(b)) => match order(&a, &b) {
                        Some(o) => match cmp {
                            Cmp::Eq => o.is_eq(),
                            Cmp::Ne => o.is_ne(),
                            Cmp::Lt => o.is_lt(),
                            Cmp::Le => o.is_le(),
                            Cmp::Gt => o.is_gt(),
                            Cmp::Ge => o.is_ge(),
                        },
                        // Different types: never equal, never ordered.
                        None => *cmp == Cmp::Ne || (*cmp == Cmp::Eq && a == b),
                    },
                    // A missing attribute compares as false, except for `<>`.
                    (a, b) => *cmp == Cmp::Ne && a != b,
                }
            }
            Cond::Between(v, low, high) => {
                match (
                    self.eval(v, item)?,
                    self.eval(low, item)?,
                    self.eval(high, item)?,
                ) {
                    (Some(v), Some(l), Some(h)) => {
                        order(&l, &v).is_some_and(|o| o.is_le())
                            && order(&v, &h).is_some_and(|o| o.is_le())
                    }
                    _ => false,
                }
            }
            Cond::In(v, list) => {
                let Some(v) = self.eval(v, item)? else {
                    return Ok(false);
                };
                let mut found = false;
                for o in list {
                    if let Some(x) = self.eval(o, item)?
                        && order(&v, &x).is_some_and(|o| o.is_eq())
                    {
                        found = true;
                    }
                }
                found
            }
            Cond::BeginsWith(a, b) => match (self.eval(a, item)?, self.eval(b, item)?) {
                (Some(Av::S(a)), Some(Av::S(b))) => a.starts_with(&b),
                _ => false,
            },
            Cond::Contains(a, b) => match (self.eval(a, item)?, self.eval(b, item)?) {
                (Some(Av::S(a)), Some(Av::S(b))) => a.contains(&b),
                (Some(Av::Ss(set)), Some(Av::S(b))) => set.contains(&b),
                (Some(Av::L(list)), Some(b)) => list.contains(&b),
                _ => false,
            },
        })
    }
}

/// Two numbers' sum or difference, exactly for integers.
fn arithmetic(x: &str, y: &str, add: bool) -> String {
    match (x.parse::<i128>(), y.parse::<i128>()) {
        (Ok(a), Ok(b)) => (if add { a + b } else { a - b }).to_string(),
        _ => {
            let (a, b) = (number(x), number(y));
            (if add { a + b } else { a - b }).to_string()
        }
    }
}

pub fn number(n: &str) -> f64 {
    n.parse().unwrap_or(f64::NAN)
}

/// The order of two values of one scalar type; `None` for different types.
pub fn order(a: &Av, b: &Av) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Av::N(x), Av::N(y)) => match (x.parse::<i128>(), y.parse::<i128>()) {
            (Ok(x), Ok(y)) => Some(x.cmp(&y)),
            _ => number(x).partial_cmp(&number(y)),
        },
        (Av::S(x), Av::S(y)) | (Av::B(x), Av::B(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Av::Bool(x), Av::Bool(y)) => (x == y).then_some(std::cmp::Ordering::Equal),
        (Av::Null, Av::Null) => Some(std::cmp::Ordering::Equal),
        _ => (a == b).then_some(std::cmp::Ordering::Equal),
    }
}

/// Checks that the request defines exactly the placeholders its expressions use.
pub fn check_placeholders(
    used: &[&Used],
    names: &BTreeMap<String, String>,
    values: &BTreeMap<String, Av>,
) -> Result<(), super::dynamodb::Error> {
    let all_names: BTreeSet<&String> = used.iter().flat_map(|u| &u.names).collect();
    let all_values: BTreeSet<&String> = used.iter().flat_map(|u| &u.values).collect();
    for n in names.keys() {
        if !all_names.contains(n) {
            return Err(invalid(format!(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{n}}}"
            )));
        }
    }
    for v in values.keys() {
        if !all_values.contains(v) {
            return Err(invalid(format!(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{v}}}"
            )));
        }
    }
    for n in all_names {
        if !names.contains_key(n) {
            return Err(invalid(format!(
                "An expression attribute name used in the document path is not defined; attribute name: {n}"
            )));
        }
    }
    for v in all_values {
        if !values.contains_key(v) {
            return Err(invalid(format!(
                "An expression attribute value used in expression is not defined; attribute value: {v}"
            )));
        }
    }
    Ok(())
}

/// Checks the fake's own reading of the expressions the store sends, before any simulation.
pub fn self_check() {
    let item: Item = BTreeMap::from([
        ("tenantId".to_owned(), Av::S("cell#a".to_owned())),
        ("tenants".to_owned(), Av::N("9".to_owned())),
        ("status".to_owned(), Av::S("provisioning".to_owned())),
        ("expiresAt".to_owned(), Av::N("100".to_owned())),
    ]);
    let names = BTreeMap::from([("#status".to_owned(), "status".to_owned())]);
    let values = BTreeMap::from([
        (":capacity".to_owned(), Av::N("10".to_owned())),
        (":expected".to_owned(), Av::S("provisioning".to_owned())),
        (":target".to_owned(), Av::S("v2".to_owned())),
        (":now".to_owned(), Av::N("99".to_owned())),
        (":one".to_owned(), Av::N("1".to_owned())),
        (":zero".to_owned(), Av::N("0".to_owned())),
    ]);
    let scope = Scope {
        names: &names,
        values: &values,
    };
    let check = |text: &str, expected: bool, item: &Item| {
        let (c, _) = condition(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(scope.holds(&c, item).unwrap(), expected, "{text}");
    };
    let empty = Item::new();
    check(
        "attribute_not_exists(tenants) OR tenants < :capacity",
        true,
        &item,
    );
    check(
        "attribute_not_exists(tenants) OR tenants < :capacity",
        true,
        &empty,
    );
    check("attribute_not_exists(tenantId)", false, &item);
    check("attribute_not_exists(tenantId)", true, &empty);
    check("#status = :expected", true, &item);
    check(
        "#status = :expected AND targetVersion = :target",
        false,
        &item,
    );
    check(
        "attribute_not_exists(tenantId) OR expiresAt < :now",
        false,
        &item,
    );
    check("NOT (#status = :expected)", false, &item);
    let mut full = item.clone();
    full.insert("tenants".to_owned(), Av::N("10".to_owned()));
    check(
        "attribute_not_exists(tenants) OR tenants < :capacity",
        false,
        &full,
    );
    let (u, _) =
        update("SET tenants = if_not_exists(tenants, :zero) + :one, x = tenants - :one REMOVE y")
            .unwrap();
    assert_eq!(
        scope.eval(&u.set[0].1, &item).unwrap(),
        Some(Av::N("10".into()))
    );
    assert_eq!(
        scope.eval(&u.set[0].1, &empty).unwrap(),
        Some(Av::N("1".into()))
    );
    assert_eq!(
        scope.eval(&u.set[1].1, &item).unwrap(),
        Some(Av::N("8".into()))
    );
    assert_eq!(u.remove, vec![Name::Literal("y".into())]);
    assert!(condition("a.b = :x").is_err());
}
