//! The general path, for templates from `--templates DIR`: values are
//! written as JSON (minijinja's auto-escape for `.yaml`, which any YAML
//! reader reads), and the rendered text is parsed back and re-emitted by
//! `yaml.rs`, so a broken template is a clear error and the output is
//! canonical whatever the template's spacing.

use std::fmt::Write as _;
use std::path::Path;

use minijinja::value::ValueKind;
use minijinja::{AutoEscape, Output, State, Value};

use super::to_yaml;
use crate::diagnostics::{Code, Diagnostic};

/// Writes a `{{ value }}`: integers, and strings that need no escaping (nearly
/// all of them), straight into the output, byte for byte what minijinja's own
/// formatter writes for them (JSON auto-escape for `.yaml`, nothing escaped
/// for `next-steps.md`), without building a JSON string or going through
/// `Display` first; everything else through minijinja's own formatter.
pub(super) fn format_value(out: &mut Output, state: &mut State, value: &Value) -> Result<(), minijinja::Error> {
    let plain = match state.auto_escape() {
        AutoEscape::None => true,
        AutoEscape::Json if !value.is_safe() => false,
        _ => return minijinja::escape_formatter(out, state, value),
    };
    match value.kind() {
        ValueKind::String => {
            if let Some(s) = value.as_str() {
                if plain {
                    return Ok(out.write_str(s)?);
                }
                if !s.bytes().any(needs_json_escape) {
                    out.write_char('"')?;
                    out.write_str(s)?;
                    out.write_char('"')?;
                    return Ok(());
                }
            }
        }
        // Port numbers: both write an integer as its decimal digits.
        ValueKind::Number if value.is_integer() => {
            if let Ok(n) = i64::try_from(value.clone()) {
                write!(out, "{n}")?;
                return Ok(());
            }
        }
        _ => {}
    }
    minijinja::escape_formatter(out, state, value)
}

/// Bytes JSON escapes, or that minijinja escapes for HTML safety.
fn needs_json_escape(b: u8) -> bool {
    b < 0x20 || matches!(b, b'"' | b'\\' | b'<' | b'>' | b'&' | b'\'')
}

/// Parses a rendered document and emits it again as canonical YAML.
pub(super) fn parse_back(origin: &Path, text: &str) -> Result<String, Diagnostic> {
    let broken = |why: String| {
        let name = origin.file_name().unwrap_or_default().to_string_lossy();
        Diagnostic::new(
            Code::MF302,
            "",
            format!("template {name} rendered invalid output: {why}"),
        )
        .hint("the template must render one YAML mapping")
        .at(origin, None)
    };
    // The Kubernetes type checks what a hand-made template could get wrong
    // (base64 in `data`, field types).
    let check_secret = |json: serde_json::Value| {
        serde_json::from_value::<k8s_openapi::api::core::v1::Secret>(json)
            .map(|_| ())
            .map_err(|e| broken(format!("not a valid Secret: {e}")))
    };
    let value: serde_norway::Value = serde_norway::from_str(text).map_err(|e| broken(e.to_string()))?;
    if !value.is_mapping() {
        return Err(broken("not a mapping".into()));
    }
    if value.get("kind").and_then(|k| k.as_str()) == Some("Secret") {
        check_secret(serde_json::to_value(&value).map_err(|e| broken(e.to_string()))?)?;
    }
    to_yaml(&value).map_err(|e| broken(e.to_string()))
}

#[cfg(test)]
mod tests {
    use minijinja::Environment;

    #[test]
    fn format_value_writes_what_minijinja_s_formatter_writes() {
        let mut ours = Environment::new();
        ours.set_formatter(super::format_value);
        let theirs = Environment::new();
        let values = [
            minijinja::Value::from("plain"),
            minijinja::Value::from("needs \"escaping\" <&> 'here'\n\t\u{1}"),
            minijinja::Value::from_safe_string("<safe> \"string\"".into()),
            minijinja::Value::from(""),
            minijinja::Value::from(8080),
            minijinja::Value::from(-3),
            minijinja::Value::from(u64::MAX),
            minijinja::Value::from(2.0),
            minijinja::Value::from(true),
            minijinja::Value::from(()),
            minijinja::Value::from(vec!["a", "b"]),
        ];
        for name in ["t.md", "t.yaml", "t.html"] {
            for value in &values {
                let ctx = minijinja::context! { v => value.clone() };
                let render = |env: &Environment| env.render_named_str(name, "[{{ v }}]", ctx.clone()).unwrap();
                assert_eq!(render(&ours), render(&theirs), "{name}: {value:?}");
            }
        }
    }
}
