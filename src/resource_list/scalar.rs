//! A scalar or a tagged node as `serde_norway` reads it (YAML 1.2 core
//! schema), except that a scalar it cannot hold becomes a string.

use saphyr_parser::{Event, ScalarStyle, Tag};
use serde_norway::value::{Tag as YamlTag, TaggedValue};
use serde_norway::Value;

fn is_core(tag: &Tag) -> bool {
    tag.is_yaml_core_schema() || tag.handle == "!!"
}

/// Whether the node `event` opens carries the verbatim tag `!<>`, which
/// libyaml refuses and `serde_norway`'s `Tag::new` panics on.
pub(super) fn has_empty_tag(event: &Event) -> bool {
    let tag = match event {
        Event::MappingStart(_, tag) | Event::SequenceStart(_, tag) | Event::Scalar(_, _, _, tag) => tag,
        _ => return false,
    };
    tag.as_ref().is_some_and(|t| t.handle.is_empty() && t.suffix.is_empty())
}

pub(super) fn tagged(value: Value, tag: Option<&Tag>) -> Value {
    match tag {
        Some(tag) if !is_core(tag) => Value::Tagged(Box::new(TaggedValue {
            tag: YamlTag::new(format!("{}{}", tag.handle, tag.suffix)),
            value,
        })),
        _ => value,
    }
}

/// A scalar as `serde_norway` reads it; what it cannot hold is a string.
pub(super) fn scalar(text: String, style: ScalarStyle, tag: Option<&Tag>) -> Value {
    let resolve = match tag {
        Some(tag) if is_core(tag) => tag.suffix != "str",
        Some(tag) => return tagged(scalar(text, style, None), Some(tag)),
        None => style == ScalarStyle::Plain,
    };
    if !resolve {
        return Value::String(text);
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    // Only a number is left to find; asking serde_norway keeps its rules
    // (0o17, 0x1F, leading zeros, .inf), and what it cannot hold stays text.
    let numeric = text
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || b"+-.".contains(&b))
        && !text.starts_with("---")
        && !text.starts_with("...");
    if numeric {
        if let Ok(v @ Value::Number(_)) = serde_norway::from_str::<Value>(&text) {
            return v;
        }
    }
    Value::String(text)
}
