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
/// all of them), straight into the output, byte for byte what minijinja's JSON auto-escape
/// writes for them, without building a JSON string first; strings where
/// nothing is escaped (`next-steps.md`) as they are, as minijinja does, without
/// its `Display`; everything else through minijinja's own formatter.
pub(super) fn format_value(out: &mut Output, state: &mut State, value: &Value) -> Result<(), minijinja::Error> {
    // Unescaped (`next-steps.md`): minijinja writes a string as it is.
    if matches!(state.auto_escape(), AutoEscape::None) && value.kind() == ValueKind::String {
        if let Some(s) = value.as_str() {
            return Ok(out.write_str(s)?);
        }
    }
    if matches!(state.auto_escape(), AutoEscape::Json) && !value.is_safe() {
        match value.kind() {
            ValueKind::String => {
                if let Some(s) = value.as_str().filter(|s| !s.bytes().any(needs_json_escape)) {
                    out.write_char('"')?;
                    out.write_str(s)?;
                    out.write_char('"')?;
                    return Ok(());
                }
            }
            // Port numbers: JSON writes an integer as its decimal digits.
            ValueKind::Number if value.is_integer() => {
                if let Ok(n) = i64::try_from(value.clone()) {
                    write!(out, "{n}")?;
                    return Ok(());
                }
            }
            _ => {}
        }
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
