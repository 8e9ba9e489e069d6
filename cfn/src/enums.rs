//! The macros the generated code writes its enums with. A schema's enum becomes a Rust enum
//! with one variant per listed value, and `Other(_)` for a value newer than the pinned schemas.

/// A string enum: `Name { Variant = "value", … }`.
macro_rules! string_enum {
    ($name:ident { $($variant:ident = $value:literal,)* }) => {
        #[doc = concat!("The values of `", stringify!($name), "` that the schema lists.")]
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $(#[doc = concat!("`", $value, "`")] $variant,)*
            /// A value the pinned schemas do not list yet.
            Other(String),
        }

        impl $name {
            /// The value as CloudFormation spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $value,)*
                    $name::Other(value) => value,
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl From<$name> for crate::Value<$name> {
            fn from(v: $name) -> Self {
                crate::Value::Lit(v)
            }
        }
    };
}

/// An integer enum: `Name { V1 = 1, … }`.
macro_rules! int_enum {
    ($name:ident { $($variant:ident = $value:literal,)* }) => {
        #[doc = concat!("The values of `", stringify!($name), "` that the schema lists.")]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $(#[doc = concat!("`", stringify!($value), "`")] $variant,)*
            /// A value the pinned schemas do not list yet.
            Other(i64),
        }

        impl $name {
            pub fn value(self) -> i64 {
                match self {
                    $($name::$variant => $value,)*
                    $name::Other(value) => value,
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_i64(self.value())
            }
        }

        impl From<$name> for crate::Value<$name> {
            fn from(v: $name) -> Self {
                crate::Value::Lit(v)
            }
        }
    };
}
