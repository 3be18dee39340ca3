//! The embedded templates' output, written once in canonical YAML.
//!
//! The embedded templates are written in the layout `yaml::write_document`
//! gives (two-space maps, `- ` items at their key's column). So when each
//! `{{ value }}` is written in that same form as it is inserted, the
//! rendered text is already the final output: no parse and re-emit.
//!
//! [`format`] writes a scalar (string, integer, boolean, null, empty map or
//! list) exactly as `yaml.rs` writes it. A value that needs lines of its own
//! (a non-empty map or list, a `|` block, anything unusual) is held aside
//! and a marker `\u{1}N\u{1}` written in its place. [`finish`] then puts
//! each held value at its place with `yaml.rs`'s block writers, at the
//! indentation read from the marker's line: `key: M` (a value under its
//! key) or `- M` (a list item). A marker anywhere else gives `None`, and
//! the caller takes the general path (render as JSON text, parse back,
//! emit), so an odd value never changes the output.
//!
//! Debug builds (every test run) check each result against that general
//! path (`Renderer::object`).

use std::cell::RefCell;

use minijinja::value::ValueKind;
use minijinja::{AutoEscape, Error, Output, State, Value};

use crate::yaml::{self, Style};

thread_local! {
    /// The values held aside by the render running on this thread.
    static HELD: RefCell<Vec<Value>> = const { RefCell::new(Vec::new()) };
}

const MARK: char = '\u{1}';

/// Forgets what an earlier (perhaps failed) render held aside; call before
/// each render.
pub(super) fn start() {
    HELD.with(|h| h.borrow_mut().clear());
}

/// The formatter of the embedded templates' environment.
pub(super) fn format(out: &mut Output, state: &mut State, value: &Value) -> Result<(), Error> {
    if !matches!(state.auto_escape(), AutoEscape::Json) {
        // Prose (`next-steps.md`).
        return minijinja::escape_formatter(out, state, value);
    }
    match value.kind() {
        ValueKind::String => {
            let s = value.as_str().unwrap_or_default();
            match yaml::style(s, false) {
                Style::Plain => out.write_str(s)?,
                Style::Literal => hold(out, value)?,
                _ => {
                    let mut text = String::new();
                    yaml::write_str(s, 0, false, &mut text);
                    out.write_str(&text)?;
                }
            }
        }
        ValueKind::Number if value.is_integer() => match i64::try_from(value.clone()) {
            Ok(n) => write!(out, "{n}")?,
            Err(_) => hold(out, value)?,
        },
        ValueKind::Bool => out.write_str(if value.is_true() { "true" } else { "false" })?,
        ValueKind::None => out.write_str("null")?,
        ValueKind::Map if value.len() == Some(0) => out.write_str("{}")?,
        ValueKind::Seq if value.len() == Some(0) => out.write_str("[]")?,
        ValueKind::Undefined | ValueKind::Invalid => return minijinja::escape_formatter(out, state, value),
        _ => hold(out, value)?,
    }
    Ok(())
}

fn hold(out: &mut Output, value: &Value) -> Result<(), Error> {
    let n = HELD.with(|h| {
        let mut held = h.borrow_mut();
        held.push(value.clone());
        held.len() - 1
    });
    write!(out, "{MARK}{n}{MARK}")?;
    Ok(())
}

/// `text` (a render that called [`start`] first) with every marker
/// replaced by its value in block YAML, ending with one newline; `None` if
/// a marker is not at the end of a `key: ` or `- ` line.
pub(super) fn finish(text: &str) -> Option<String> {
    let held = HELD.with(|h| std::mem::take(&mut *h.borrow_mut()));
    let mut out = String::with_capacity(text.len() + 64 * held.len() + 1);
    let mut rest = text;
    while let Some(at) = rest.find(MARK) {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let end = after.find(MARK)?;
        let value = held.get(after[..end].parse::<usize>().ok()?)?;
        rest = &after[end + 1..];
        if !rest.is_empty() {
            rest = rest.strip_prefix('\n')?;
        }
        let line = &out[out.rfind('\n').map_or(0, |p| p + 1)..];
        let mut body = line.trim_start_matches(' ');
        let mut column = line.len() - body.len();
        while let Some(tail) = body.strip_prefix("- ") {
            body = tail;
            column += 2;
        }
        if body.is_empty() && column >= 2 {
            // `- M`: the item after the dash at `column - 2`.
            out.pop();
            yaml::write_after_indicator(&serde_norway::to_value(value).ok()?, column - 2, &mut out);
        } else if body.len() > 2 && body.ends_with(": ") {
            // `key: M`: the key starts at `column`.
            out.pop();
            if !write_flat(value, column, &mut out) {
                yaml::write_value(&serde_norway::to_value(value).ok()?, column, &mut out);
            }
        } else {
            return None;
        }
    }
    out.push_str(rest);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Some(out)
}

/// Writes `value` after its `key:` (at `column`) as `yaml::write_value`
/// would, when it is a non-empty map or list of one-line scalars (labels,
/// selectors, hosts, principals): the common case, without building a
/// `serde_norway::Value` first. Returns false, having written nothing, for
/// anything else.
fn write_flat(value: &Value, column: usize, out: &mut String) -> bool {
    let start = out.len();
    let written = match value.kind() {
        ValueKind::Map => value.as_object().and_then(|o| o.try_iter_pairs()).is_some_and(|pairs| {
            out.push('\n');
            pairs.into_iter().all(|(k, v)| {
                pad(out, column + 2);
                let key = k.as_str().filter(|k| k.len() <= 1000 && !k.contains('\n'));
                key.is_some_and(|k| {
                    yaml::write_str(k, 0, true, out);
                    out.push_str(": ");
                    write_scalar(&v, out)
                })
            })
        }),
        ValueKind::Seq => value.try_iter().is_ok_and(|items| {
            out.push('\n');
            items.into_iter().all(|item| {
                pad(out, column);
                out.push_str("- ");
                write_scalar(&item, out)
            })
        }),
        _ => false,
    };
    if !written || out.len() == start + 1 {
        out.truncate(start);
        return false;
    }
    true
}

/// A one-line string, an integer or a boolean and its newline, as
/// `yaml.rs` writes it; false for anything else.
fn write_scalar(value: &Value, out: &mut String) -> bool {
    match value.kind() {
        ValueKind::String => match value.as_str() {
            Some(s) if !s.contains('\n') => yaml::write_str(s, 0, false, out),
            _ => return false,
        },
        ValueKind::Number if value.is_integer() => match i64::try_from(value.clone()) {
            Ok(n) => out.push_str(&n.to_string()),
            Err(_) => return false,
        },
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        _ => return false,
    }
    out.push('\n');
    true
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::{context, Environment};

    fn render(source: &str, ctx: Value) -> Option<String> {
        let mut env = Environment::new();
        env.set_formatter(format);
        start();
        finish(&env.render_named_str("t.yaml", source, ctx).unwrap())
    }

    fn reemit(text: &str) -> String {
        crate::yaml::to_string(&serde_norway::from_str::<serde_norway::Value>(text).unwrap()).unwrap()
    }

    /// Every kind of value, under a key and as a list item, at several
    /// depths, is written exactly as parsing and re-emitting writes it.
    #[test]
    fn held_values_land_where_re_emitting_puts_them() {
        let values = serde_json::json!([
            {"app": "x", "yes": "on", "n": 1, "b": true, "ip": "10.0.0.1", "e": ""},
            ["a", "1.5", "no", 443],
            {"nested": {"deep": ["x", {"y": []}], "empty": {}}, "list": [[1, 2], []]},
            "line one\nline two\n",
            "two\n\n",
            " lead\nx",
            {"pem": "-----BEGIN-----\nabc\n-----END-----\n", "k\nk": "v"},
            [{"a": 1, "b": "c"}, "d", ["e"]],
            1.5,
            null,
            {},
            [],
            "it's",
            "a: b",
        ]);
        let items = values.as_array().unwrap();
        for v in items {
            for source in [
                "a: {{ v }}\n",
                "top:\n  key: {{ v }}\n  next: 1\n",
                "list:\n- {{ v }}\n- {{ v }}\n",
                "list:\n- name: x\n  value: {{ v }}\n",
                "a:\n  b:\n  - - {{ v }}\n",
            ] {
                let ctx = context! { v => Value::from(minijinja::value::Serde(v)) };
                let out = render(source, ctx).unwrap_or_else(|| panic!("{source} {v}"));
                assert_eq!(out, reemit(&out), "{source} with {v}");
                let json = source.replace("{{ v }}", &serde_json::to_string(v).unwrap());
                assert_eq!(out, reemit(&json), "{source} with {v}");
            }
        }
    }

    /// A value that needs its own lines anywhere but the end of a `key: `
    /// or `- ` line cannot be placed: the caller takes the general path.
    #[test]
    fn a_held_value_elsewhere_is_refused() {
        let map = Value::from(minijinja::value::Serde(serde_json::json!({"a": 1})));
        for source in [
            "x: [{{ v }}]\n",
            "{{ v }}: 1\n",
            "{{ v }}\n",
            "x: {{ v }} # c\n",
            "x: {{ v }}{{ v }}\n",
        ] {
            assert_eq!(render(source, context! { v => map.clone() }), None, "{source}");
        }
    }
}
