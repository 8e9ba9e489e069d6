//! CloudFormation names to Rust names, and descriptions to one-line doc comments.

use heck::{ToSnakeCase, ToUpperCamelCase};

const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let",
    "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return",
    "static", "struct", "trait", "true", "try", "type", "typeof", "union", "unsafe", "unsized",
    "use", "virtual", "where", "while", "yield",
];

/// Names that generated modules import or use; an item of that name is renamed.
const TAKEN: &[&str] = &[
    "Value",
    "Expr",
    "Json",
    "Handle",
    "Resource",
    "Option",
    "Some",
    "None",
    "Vec",
    "String",
    "Box",
    "BTreeMap",
    "Default",
    "Serialize",
    "Self",
    "Result",
    "Ok",
    "Err",
];

/// Replaces what cannot be in an identifier with `_`, and gives a leading digit a prefix.
fn clean(s: &str, digit_prefix: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.is_empty() {
        out.push_str(digit_prefix);
    } else if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, digit_prefix);
    }
    out
}

/// A struct or enum name.
pub fn item(name: &str) -> String {
    let camel = clean(name, "N").to_upper_camel_case();
    let camel = clean(&camel, "N");
    if TAKEN.contains(&camel.as_str()) {
        format!("{camel}Property")
    } else {
        camel
    }
}

/// A resource's struct name: the CloudFormation name when it is one already.
pub fn type_name(name: &str) -> String {
    item(name)
}

/// A module name: snake case, never a keyword.
pub fn module(name: &str) -> String {
    let snake = clean(name, "n").to_lowercase();
    escape(snake, "_")
}

/// A field name.
pub fn field(name: &str) -> String {
    let snake = clean(&clean(name, "n").to_snake_case(), "n");
    escape(snake, "r#")
}

fn escape(name: String, how: &str) -> String {
    if matches!(name.as_str(), "self" | "super" | "crate" | "extern") {
        format!("{name}_")
    } else if KEYWORDS.contains(&name.as_str()) {
        if how == "r#" {
            format!("r#{name}")
        } else {
            format!("{name}{how}")
        }
    } else {
        name
    }
}

/// An enum variant for a string value.
pub fn variant(value: &str) -> String {
    let camel = clean(value, "V").to_upper_camel_case();
    let camel = clean(&camel, "V");
    if camel == "Other" || camel == "Self_" || camel == "Self" {
        format!("{camel}Value")
    } else {
        camel
    }
}

/// An enum variant for an integer value.
pub fn int_variant(value: i64) -> String {
    if value < 0 {
        format!("Minus{}", value.unsigned_abs())
    } else {
        format!("V{value}")
    }
}

/// The first sentence of a description, on one line, safe inside `///`.
pub fn doc(description: &str) -> String {
    let one_line: String = description.split_whitespace().collect::<Vec<_>>().join(" ");
    let end = one_line.find(". ").map_or(one_line.len(), |i| i + 1);
    let mut s = one_line[..end].to_owned();
    if s.chars().count() > 200 {
        s = s.chars().take(197).collect::<String>();
        s.push_str("...");
    }
    // No fences, no HTML, no link syntax: rustdoc reads the text as plain words.
    s.replace("```", "'")
        .replace('`', "'")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('[', "(")
        .replace(']', ")")
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_rust_names() {
        assert_eq!(field("SQSManagedSSEEnabled"), "sqs_managed_sse_enabled");
        assert_eq!(field("S3Bucket"), "s3_bucket");
        assert_eq!(field("Type"), "r#type");
        assert_eq!(field("Self"), "self_");
        assert_eq!(field("3DSettings"), "n3_d_settings");
        assert_eq!(item("tag-key"), "TagKey");
        assert_eq!(item("Value"), "ValueProperty");
        assert_eq!(module("ApiGatewayV2"), "apigatewayv2");
        assert_eq!(module("Type"), "type_");
        assert_eq!(variant("nodejs18.x"), "Nodejs18X");
        assert_eq!(variant("*"), "V");
        assert_eq!(variant("Other"), "OtherValue");
        assert_eq!(int_variant(-1), "Minus1");
    }

    #[test]
    fn docs_are_one_plain_sentence() {
        assert_eq!(doc("The queue. Second    sentence."), "The queue.");
        assert_eq!(doc("Use `x` <b>[y]</b>"), "Use 'x' &lt;b&gt;(y)&lt;/b&gt;");
        assert!(doc(&"a".repeat(400)).ends_with("..."));
    }
}
