//! Reading the vendored registry schemas into the generator's model: one `Resource` per type,
//! its properties resolved to Rust types, and the items (structs, enums) its module needs.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use crate::names;

/// A property's Rust type.
#[derive(Clone, Debug, PartialEq)]
pub enum Ty {
    Str,
    Int,
    Num,
    Bool,
    /// Free-form or union-typed: any JSON.
    Json,
    /// An enum or struct item of this resource's module, by its Rust name.
    Enum(String),
    Struct(String),
    Vec(Box<Ty>),
    Map(Box<Ty>),
    /// A hand-written type named in the overrides file (a Rust path from the crate root).
    Override(String),
}

#[derive(Clone, Debug)]
pub struct Field {
    /// The CloudFormation name.
    pub json: String,
    pub ident: String,
    pub ty: Ty,
    pub required: bool,
    pub doc: String,
    /// Boxed to break a recursive definition.
    pub boxed: bool,
}

#[derive(Clone, Debug)]
pub enum Item {
    Struct {
        name: String,
        doc: String,
        fields: Vec<Field>,
    },
    StrEnum {
        name: String,
        values: Vec<String>,
    },
    IntEnum {
        name: String,
        values: Vec<i64>,
    },
}

/// The paths and permissions every type has, generated into the metadata table.
#[derive(Clone, Debug, Default)]
pub struct Meta {
    pub attributes: Vec<String>,
    pub primary_identifier: Vec<String>,
    pub create_only: Vec<String>,
    pub conditional_create_only: Vec<String>,
    pub write_only: Vec<String>,
    pub create: Vec<String>,
    pub update: Vec<String>,
    pub delete: Vec<String>,
    /// The read handler's, those IAM lists: what drift detection needs of its caller.
    pub read: Vec<String>,
    /// Handler permissions IAM's action list does not have: never granted.
    pub unlisted: Vec<String>,
    /// Top-level string properties with a length or character limit.
    pub limits: Vec<Limit>,
}

/// A string property's limits: the schema's `maxLength` and `pattern`, or the override's
/// where the schema states none.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Limit {
    #[serde(default)]
    pub property: String,
    pub max_length: Option<u64>,
    pub pattern: Option<String>,
}

pub struct Resource {
    pub type_name: String,
    /// The module of the service (`sqs`), and the Rust name of the resource (`Queue`).
    pub service: String,
    pub name: String,
    /// The resource's submodule, holding its property types (`queue`).
    pub module: String,
    pub doc: String,
    pub docs_url: Option<String>,
    pub fields: Vec<Field>,
    pub items: Vec<Item>,
    pub meta: Meta,
}

/// Hand-written types for chosen properties, keyed by `TYPE#SCHEMA_PATH`.
pub type Overrides = BTreeMap<String, String>;

/// IAM's actions, by service prefix, lowercase.
pub type IamActions = BTreeMap<String, BTreeSet<String>>;

pub fn resource(
    type_name: &str,
    schema: &Json,
    overrides: &Overrides,
    iam: &IamActions,
) -> Resource {
    let parts: Vec<&str> = type_name.split("::").collect();
    let (service, resource) = match parts.as_slice() {
        ["AWS", service, resource] => (names::module(service), *resource),
        [ns, service, resource] => (names::module(&format!("{ns}_{service}")), *resource),
        _ => (names::module(type_name), type_name),
    };
    let name = names::type_name(resource);
    let module = names::module(&heck::ToSnakeCase::to_snake_case(resource));
    let empty = serde_json::Map::new();
    let definitions = schema["definitions"].as_object().unwrap_or(&empty);

    let read_only: BTreeSet<String> = strings(&schema["readOnlyProperties"]).into_iter().collect();
    let mut r = Resolver {
        type_name,
        schema,
        definitions,
        overrides,
        memo: BTreeMap::new(),
        items: Vec::new(),
        used: BTreeSet::new(),
    };
    // Definitions keep their names; names for inline types are taken around them.
    for def in definitions.keys() {
        r.used.insert(names::item(def));
    }
    let properties = schema["properties"].as_object().unwrap_or(&empty);
    let required: BTreeSet<String> = strings(&schema["required"]).into_iter().collect();
    let writable = properties
        .iter()
        .filter(|(p, _)| !read_only.contains(&format!("/properties/{p}")));
    let fields = r.fields(writable, &required, "/properties", &name);
    let mut items = std::mem::take(&mut r.items);
    let mut fields = fields;
    box_cycles(&name, &mut fields, &mut items);

    let meta = Meta {
        attributes: read_only.iter().map(|p| attribute(p)).collect(),
        primary_identifier: strings(&schema["primaryIdentifier"])
            .iter()
            .map(|p| path(p))
            .collect(),
        create_only: strings(&schema["createOnlyProperties"])
            .iter()
            .map(|p| path(p))
            .collect(),
        conditional_create_only: strings(&schema["conditionalCreateOnlyProperties"])
            .iter()
            .map(|p| path(p))
            .collect(),
        write_only: strings(&schema["writeOnlyProperties"])
            .iter()
            .map(|p| path(p))
            .collect(),
        create: Vec::new(),
        update: Vec::new(),
        delete: Vec::new(),
        read: Vec::new(),
        unlisted: Vec::new(),
        limits: limits(properties, definitions),
    };
    let mut meta = meta;
    let known = |a: &String| {
        a.split_once(':').is_some_and(|(service, action)| {
            iam.get(service)
                .is_some_and(|actions| actions.contains(&action.to_lowercase()))
        })
    };
    let mut unlisted = BTreeSet::new();
    for (handler, out) in [
        ("create", &mut meta.create),
        ("update", &mut meta.update),
        ("delete", &mut meta.delete),
    ] {
        for a in permissions(schema, handler) {
            if known(&a) {
                out.push(a);
            } else {
                unlisted.insert(a);
            }
        }
    }
    // A read action IAM does not list is one no policy can grant: left out, not noted (the
    // notes are the provisioning role's).
    meta.read = permissions(schema, "read")
        .into_iter()
        .filter(|a| known(a))
        .collect();
    meta.unlisted = unlisted.into_iter().collect();
    Resource {
        type_name: type_name.to_owned(),
        service,
        name,
        module,
        doc: names::doc(schema["description"].as_str().unwrap_or("")),
        docs_url: schema["documentationUrl"].as_str().map(str::to_owned),
        fields,
        items,
        meta,
    }
}

/// The limits of each top-level string property (inline or through one `$ref`), by name.
fn limits(
    properties: &serde_json::Map<String, Json>,
    definitions: &serde_json::Map<String, Json>,
) -> Vec<Limit> {
    let mut out = Vec::new();
    for (name, p) in properties {
        let p = match p["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/definitions/"))
        {
            Some(def) => definitions.get(def).unwrap_or(p),
            None => p,
        };
        if p["type"].as_str() != Some("string") {
            continue;
        }
        let limit = Limit {
            property: name.clone(),
            max_length: p["maxLength"].as_u64(),
            pattern: p["pattern"].as_str().map(str::to_owned),
        };
        if limit.max_length.is_some() || limit.pattern.is_some() {
            out.push(limit);
        }
    }
    out.sort_by(|a, b| a.property.cmp(&b.property));
    out
}

fn strings(v: &Json) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn permissions(schema: &Json, handler: &str) -> Vec<String> {
    let mut p = strings(&schema["handlers"][handler]["permissions"]);
    p.sort();
    p.dedup();
    p
}

/// `/properties/A/B` → `A/B`: a property path as the metadata table keeps it.
fn path(p: &str) -> String {
    p.strip_prefix("/properties/").unwrap_or(p).to_owned()
}

/// `/properties/Endpoint/Address` → `Endpoint.Address`: the name `Fn::GetAtt` takes.
fn attribute(p: &str) -> String {
    path(p).replace('/', ".")
}

struct Resolver<'a> {
    type_name: &'a str,
    schema: &'a Json,
    definitions: &'a serde_json::Map<String, Json>,
    overrides: &'a Overrides,
    /// Each definition's type, once resolved (inserted before its fields, for recursion).
    memo: BTreeMap<String, Ty>,
    items: Vec<Item>,
    used: BTreeSet<String>,
}

impl Resolver<'_> {
    fn fields<'s>(
        &mut self,
        properties: impl Iterator<Item = (&'s String, &'s Json)>,
        required: &BTreeSet<String>,
        at: &str,
        owner: &str,
    ) -> Vec<Field> {
        let mut idents = BTreeSet::new();
        let mut fields = Vec::new();
        for (json, schema) in properties {
            let mut ident = names::field(json);
            while !idents.insert(ident.clone()) {
                ident.push('_');
            }
            let path = format!("{at}/{json}");
            let ty = match self.overrides.get(&format!("{}#{path}", self.type_name)) {
                Some(rust) => Ty::Override(rust.clone()),
                None => self.resolve(schema, json, owner, &path, 0),
            };
            fields.push(Field {
                json: json.clone(),
                ident,
                ty,
                required: required.contains(json),
                doc: names::doc(schema["description"].as_str().unwrap_or("")),
                boxed: false,
            });
        }
        fields
    }

    fn resolve(&mut self, schema: &Json, hint: &str, owner: &str, at: &str, depth: u32) -> Ty {
        if depth > 32 {
            return Ty::Json;
        }
        if let Some(r) = schema["$ref"].as_str() {
            if let Some(def) = r.strip_prefix("#/definitions/") {
                return self.definition(def, depth);
            }
            if let Some(target) = r.strip_prefix('#').and_then(|p| self.schema.pointer(p)) {
                return self.resolve(target, hint, owner, at, depth + 1);
            }
            // A reference into another document (`resource-schema.json#…`): read what is here.
        }
        let ty = match &schema["type"] {
            Json::String(t) => t.as_str(),
            Json::Array(ts) if ts.len() == 1 => ts[0].as_str().unwrap_or(""),
            // Union types, and schemas that only combine others: any JSON.
            Json::Array(_) => return Ty::Json,
            _ if schema.get("properties").is_some() => "object",
            _ => return Ty::Json,
        };
        match ty {
            "string" => match strings_enum(schema) {
                Some(values) => {
                    let name = self.name(hint, owner);
                    self.items.push(Item::StrEnum {
                        name: name.clone(),
                        values,
                    });
                    Ty::Enum(name)
                }
                None => Ty::Str,
            },
            "integer" => match ints_enum(schema) {
                Some(values) => {
                    let name = self.name(hint, owner);
                    self.items.push(Item::IntEnum {
                        name: name.clone(),
                        values,
                    });
                    Ty::Enum(name)
                }
                None => Ty::Int,
            },
            "number" => Ty::Num,
            "boolean" => Ty::Bool,
            "array" => match schema.get("items") {
                Some(items) if items.is_object() => Ty::Vec(Box::new(self.resolve(
                    items,
                    hint,
                    owner,
                    &format!("{at}/*"),
                    depth + 1,
                ))),
                _ => Ty::Vec(Box::new(Ty::Json)),
            },
            "object" => self.object(schema, hint, owner, at, depth),
            _ => Ty::Json,
        }
    }

    fn object(&mut self, schema: &Json, hint: &str, owner: &str, at: &str, depth: u32) -> Ty {
        if let Some(props) = schema["properties"].as_object().filter(|p| !p.is_empty()) {
            let name = self.name(hint, owner);
            self.struct_item(&name, schema, props, at);
            return Ty::Struct(name);
        }
        let values = schema["patternProperties"]
            .as_object()
            .and_then(|p| p.values().next())
            .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()));
        match values {
            Some(v) => Ty::Map(Box::new(self.resolve(v, hint, owner, at, depth + 1))),
            None => Ty::Json,
        }
    }

    fn struct_item(
        &mut self,
        name: &str,
        schema: &Json,
        props: &serde_json::Map<String, Json>,
        at: &str,
    ) {
        let required: BTreeSet<String> = strings(&schema["required"]).into_iter().collect();
        // Reserve the slot first, so the item order follows the first reference.
        let slot = self.items.len();
        self.items.push(Item::StrEnum {
            name: String::new(),
            values: Vec::new(),
        });
        let fields = self.fields(props.iter(), &required, &format!("{at}/properties"), name);
        self.items[slot] = Item::Struct {
            name: name.to_owned(),
            doc: names::doc(schema["description"].as_str().unwrap_or("")),
            fields,
        };
    }

    fn definition(&mut self, def: &str, depth: u32) -> Ty {
        if let Some(ty) = self.memo.get(def) {
            return ty.clone();
        }
        let Some(schema) = self.definitions.get(def) else {
            return Ty::Json;
        };
        let name = names::item(def);
        let at = format!("/definitions/{def}");
        if let Some(rust) = self.overrides.get(&format!("{}#{at}", self.type_name)) {
            let ty = Ty::Override(rust.clone());
            self.memo.insert(def.to_owned(), ty.clone());
            return ty;
        }
        let is_struct = schema["properties"]
            .as_object()
            .is_some_and(|p| !p.is_empty())
            && matches!(schema["type"].as_str(), Some("object") | None);
        if is_struct {
            self.memo.insert(def.to_owned(), Ty::Struct(name.clone()));
            let props = schema["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            self.struct_item(&name, schema, &props, &at);
            return Ty::Struct(name);
        }
        // Guards a definition that refers to itself without being a struct.
        self.memo.insert(def.to_owned(), Ty::Json);
        // An enum or map definition keeps the definition's name.
        self.used.remove(&name);
        let ty = self.resolve(schema, def, "", &at, depth + 1);
        self.memo.insert(def.to_owned(), ty.clone());
        ty
    }

    /// A fresh item name for an inline type: the property's name, or owner + property.
    fn name(&mut self, hint: &str, owner: &str) -> String {
        let base = names::item(hint);
        let mut candidate = base.clone();
        if self.used.contains(&candidate) {
            candidate = format!("{owner}{base}");
        }
        let mut n = 2;
        while self.used.contains(&candidate) {
            candidate = format!("{owner}{base}{n}");
            n += 1;
        }
        self.used.insert(candidate.clone());
        candidate
    }
}

fn strings_enum(schema: &Json) -> Option<Vec<String>> {
    let values = schema["enum"].as_array()?;
    let mut out: Vec<String> = values
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect::<Option<_>>()?;
    let mut seen = BTreeSet::new();
    out.retain(|v| seen.insert(v.clone()));
    (!out.is_empty()).then_some(out)
}

fn ints_enum(schema: &Json) -> Option<Vec<i64>> {
    let values = schema["enum"].as_array()?;
    let mut out: Vec<i64> = values.iter().map(Json::as_i64).collect::<Option<_>>()?;
    let mut seen = BTreeSet::new();
    out.retain(|v| seen.insert(*v));
    (!out.is_empty()).then_some(out)
}

/// Boxes every struct field whose type can reach back to the struct that holds it, through
/// fields that are neither lists nor maps: a recursive definition would otherwise have no size.
fn box_cycles(root: &str, fields: &mut [Field], items: &mut [Item]) {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let direct = |fields: &[Field]| -> BTreeSet<String> {
        fields
            .iter()
            .filter_map(|f| match &f.ty {
                Ty::Struct(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    };
    edges.insert(root.to_owned(), direct(fields));
    for item in items.iter() {
        if let Item::Struct { name, fields, .. } = item {
            edges.insert(name.clone(), direct(fields));
        }
    }
    let reaches = |from: &str, to: &str| -> bool {
        let mut stack = vec![from.to_owned()];
        let mut seen = BTreeSet::new();
        while let Some(n) = stack.pop() {
            if n == to {
                return true;
            }
            if seen.insert(n.clone()) {
                stack.extend(edges.get(&n).into_iter().flatten().cloned());
            }
        }
        false
    };
    let mark = |owner: &str, fields: &mut [Field]| {
        for f in fields.iter_mut() {
            if let Ty::Struct(s) = &f.ty {
                f.boxed = reaches(s, owner);
            }
        }
    };
    mark(root, fields);
    for item in items.iter_mut() {
        if let Item::Struct { name, fields, .. } = item {
            let owner = name.clone();
            mark(&owner, fields);
        }
    }
}

/// `codegen/schemas/iam-reference.json.gz`: service prefix → its actions and resource types.
pub type IamReference = BTreeMap<String, IamService>;

#[derive(serde::Deserialize)]
pub struct IamService {
    pub actions: BTreeMap<String, IamAction>,
    pub resources: BTreeMap<String, IamResource>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IamAction {
    pub access: String,
    /// (resource type key, required)
    pub resources: Vec<(String, bool)>,
    pub request_tag: bool,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IamResource {
    pub arns: Vec<String>,
    pub resource_tag: bool,
}
