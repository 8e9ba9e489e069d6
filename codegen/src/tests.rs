//! The generator on small schema fixtures: each covers one shape the registry schemas use.

use serde_json::json;

use crate::emit;
use crate::schema::{self, Item, Overrides, Ty};

fn fixture() -> serde_json::Value {
    json!({
        "typeName": "Acme::Widgets::Gadget",
        "description": "A gadget. It has parts.",
        "x-unknown-keyword": {"whatever": [1, 2]},
        "additionalProperties": false,
        "required": ["Name", "Parts"],
        "readOnlyProperties": ["/properties/Arn", "/properties/Endpoint/Address"],
        "createOnlyProperties": ["/properties/Name", "/properties/Parts/*/Serial"],
        "conditionalCreateOnlyProperties": ["/properties/Mode"],
        "writeOnlyProperties": ["/properties/Secret"],
        "primaryIdentifier": ["/properties/Arn"],
        "handlers": {
            "create": {"permissions": ["widgets:CreateGadget", "iam:PassRole", "widgets:CreateGadget"]},
            "delete": {"permissions": ["widgets:DeleteGadget", "widgets:REST.DELETE", "nosuch:Action"]}
        },
        "properties": {
            "Name": {"type": "string", "description": "The name.   Not the id.", "pattern": "^[a-z]+$"},
            "Arn": {"type": "string"},
            "Mode": {"type": "string", "enum": ["fast", "slow", "FAST"]},
            "Level": {"type": "integer", "enum": [1, 5, -1]},
            "Ratio": {"type": "number"},
            "Secret": {"type": "string"},
            "Shape": {"type": ["object", "string"]},
            "Either": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "Labels": {"type": "object", "patternProperties": {"^.+$": {"type": "string"}}},
            "Parts": {"type": "array", "items": {"$ref": "#/definitions/Part"}},
            "Tree": {"$ref": "#/definitions/Node"},
            "Policy": {"type": "object"},
            "Type": {"type": "boolean"}
        },
        "definitions": {
            "Part": {
                "type": "object",
                "required": ["Serial"],
                "properties": {
                    "Serial": {"type": "string"},
                    "Size": {"type": "object", "properties": {"Width": {"type": "integer"}}}
                }
            },
            "Node": {
                "type": "object",
                "properties": {
                    "Value": {"type": "string"},
                    "Child": {"$ref": "#/definitions/Node"},
                    "Children": {"type": "array", "items": {"$ref": "#/definitions/Node"}}
                }
            },
            "Unused": {"type": "object", "properties": {"X": {"type": "string"}}}
        }
    })
}

fn overrides() -> Overrides {
    Overrides::from([(
        "Acme::Widgets::Gadget#/properties/Policy".to_owned(),
        "crate::policy::PolicyDocument".to_owned(),
    )])
}

fn gadget() -> schema::Resource {
    let iam = schema::IamActions::from([
        (
            "widgets".to_owned(),
            ["creategadget", "deletegadget"].map(String::from).into(),
        ),
        ("iam".to_owned(), ["passrole"].map(String::from).into()),
    ]);
    schema::resource("Acme::Widgets::Gadget", &fixture(), &overrides(), &iam)
}

fn field<'a>(r: &'a schema::Resource, json: &str) -> &'a schema::Field {
    r.fields.iter().find(|f| f.json == json).unwrap()
}

#[test]
fn names_and_required_properties() {
    let r = gadget();
    assert_eq!(
        (r.service.as_str(), r.name.as_str(), r.module.as_str()),
        ("acme_widgets", "Gadget", "gadget")
    );
    assert!(field(&r, "Name").required && field(&r, "Parts").required);
    assert!(!field(&r, "Ratio").required);
    assert_eq!(field(&r, "Name").doc, "The name.");
    assert_eq!(field(&r, "Type").ident, "r#type");
    // Read-only properties are attributes, not fields.
    assert!(r.fields.iter().all(|f| f.json != "Arn"));
    assert_eq!(r.meta.attributes, ["Arn", "Endpoint.Address"]);
}

#[test]
fn enums_unions_maps_and_overrides() {
    let r = gadget();
    assert_eq!(field(&r, "Mode").ty, Ty::Enum("Mode".into()));
    assert_eq!(field(&r, "Level").ty, Ty::Enum("Level".into()));
    assert_eq!(field(&r, "Ratio").ty, Ty::Num);
    assert_eq!(field(&r, "Shape").ty, Ty::Json);
    assert_eq!(field(&r, "Either").ty, Ty::Json);
    assert_eq!(field(&r, "Labels").ty, Ty::Map(Box::new(Ty::Str)));
    assert_eq!(
        field(&r, "Policy").ty,
        Ty::Override("crate::policy::PolicyDocument".into())
    );
    let mode = r.items.iter().find_map(|i| match i {
        Item::StrEnum { name, values } if name == "Mode" => Some(values.clone()),
        _ => None,
    });
    assert_eq!(mode.unwrap(), ["fast", "slow", "FAST"]);
}

#[test]
fn recursion_is_boxed_only_where_it_has_no_size() {
    let r = gadget();
    let node = r.items.iter().find_map(|i| match i {
        Item::Struct { name, fields, .. } if name == "Node" => Some(fields.clone()),
        _ => None,
    });
    let node = node.unwrap();
    let child = node.iter().find(|f| f.json == "Child").unwrap();
    let children = node.iter().find(|f| f.json == "Children").unwrap();
    assert!(child.boxed);
    assert!(!children.boxed, "a Vec has a size already");
    // The definition named Value keeps away from `Value<T>`.
    assert_eq!(node.iter().find(|f| f.json == "Value").unwrap().ty, Ty::Str);
    // Only what the resource reaches is generated.
    assert!(
        r.items
            .iter()
            .all(|i| !matches!(i, Item::Struct { name, .. } if name == "Unused"))
    );
}

#[test]
fn metadata_keeps_nested_and_conditional_paths_and_sorted_permissions() {
    let m = gadget().meta;
    assert_eq!(m.create_only, ["Name", "Parts/*/Serial"]);
    assert_eq!(m.conditional_create_only, ["Mode"]);
    assert_eq!(m.write_only, ["Secret"]);
    assert_eq!(m.primary_identifier, ["Arn"]);
    assert_eq!(m.create, ["iam:PassRole", "widgets:CreateGadget"]);
    assert!(m.update.is_empty());
    // What IAM does not know is kept apart, never granted.
    assert_eq!(m.delete, ["widgets:DeleteGadget"]);
    assert_eq!(m.unlisted, ["nosuch:Action", "widgets:REST.DELETE"]);
}

#[test]
fn the_generated_module_is_stable() {
    let r = gadget();
    let text = crate::format(&emit::service("acme_widgets", &[&r], &Default::default())).unwrap();
    insta::assert_snapshot!("gadget", text);
}
