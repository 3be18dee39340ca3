//! The one YAML writer: every YAML text meshfed prints (generated objects,
//! installer fragments, `kustomization.yaml`, the stdout stream, KRM
//! answers, `import deckhouse`) is written here; the embedded templates'
//! values are written by `render::canonical` with this module's writers.
//!
//! The layout is the block style libyaml writes (two-space mappings,
//! sequences not indented under their key, `|` blocks for multi-line text).
//! What differs from a YAML 1.2 writer is the choice of quotes: a string is
//! written plain only when every reader our users have reads it back as the
//! same string. kubectl and kustomize (go-yaml v2 under sigs.k8s.io/yaml) and
//! PyYAML read YAML 1.1, where `yes`, `on`, `off`, `y`, `~`, `0o17`, `1_000`,
//! `1:20` and `2024-01-01` are booleans, null, numbers or dates; a YAML 1.2
//! writer leaves those plain, and `selector: {istio: yes}` then selects
//! nothing. Such strings are single-quoted, which every reader takes as a
//! string.

use std::fmt::Write as _;

use serde::Serialize;
use serde_norway::Value;

/// `value` as a YAML document (no `---`), in meshfed's canonical form.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_norway::Error> {
    let value = serde_norway::to_value(value)?;
    let mut out = String::new();
    write_document(&value, &mut out);
    Ok(out)
}

/// Writes `value` as a document; the text ends with a newline.
pub fn write_document(value: &Value, out: &mut String) {
    match value {
        Value::Mapping(m) if !m.is_empty() => write_entries(m, 0, false, out),
        Value::Sequence(s) if !s.is_empty() => write_items(s, 0, out),
        Value::Tagged(t) => write_tagged(t, 0, out),
        _ => {
            write_inline(value, 2, false, out);
            out.push('\n');
        }
    }
}

/// Mapping entries at `indent`; the first continues the current line when
/// `inline` (a mapping inside a sequence item).
fn write_entries(m: &serde_norway::Mapping, indent: usize, inline: bool, out: &mut String) {
    for (i, (key, value)) in m.iter().enumerate() {
        if !(inline && i == 0) {
            pad(out, indent);
        }
        // YAML readers take an implicit key of at most 1024 characters, as
        // written: escapes (`\n` for a line break), doubled quotes and a tag
        // count too, so it is the written key that is measured (in bytes,
        // never fewer than its characters). A string short as read but long
        // once escaped was written as an implicit key libyaml refused (found
        // by the krm_resource_list fuzz target).
        let key_start = out.len();
        if is_scalar(key) {
            write_inline(key, indent + 2, true, out);
        }
        if is_scalar(key) && out.len() - key_start <= 1000 {
            out.push(':');
        } else {
            // A collection or a long key: the explicit `? key` / `: value` form.
            out.truncate(key_start);
            out.push('?');
            write_after_indicator(key, indent, out);
            pad(out, indent);
            out.push(':');
            write_after_indicator(value, indent, out);
            continue;
        }
        write_value(value, indent, out);
    }
}

/// A mapping value after its `key:`.
pub(crate) fn write_value(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Mapping(m) if !m.is_empty() => {
            out.push('\n');
            write_entries(m, indent + 2, false, out);
        }
        Value::Sequence(s) if !s.is_empty() => {
            out.push('\n');
            write_items(s, indent, out);
        }
        Value::Tagged(t) => {
            out.push(' ');
            out.push_str(&tag_text(&t.tag));
            write_value(&t.value, indent, out);
        }
        _ => {
            out.push(' ');
            write_inline(value, indent + 2, false, out);
            out.push('\n');
        }
    }
}

fn write_items(items: &[Value], indent: usize, out: &mut String) {
    for item in items {
        pad(out, indent);
        out.push('-');
        write_after_indicator(item, indent, out);
    }
}

/// A node after a `-`, `?` or `:` indicator at `indent`: a collection
/// continues on the same line, a scalar follows a space.
pub(crate) fn write_after_indicator(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Mapping(m) if !m.is_empty() => {
            out.push(' ');
            write_entries(m, indent + 2, true, out);
        }
        Value::Sequence(s) if !s.is_empty() => {
            out.push(' ');
            // A nested sequence starts on the indicator's line.
            for (i, item) in s.iter().enumerate() {
                if i > 0 {
                    pad(out, indent + 2);
                }
                out.push('-');
                write_after_indicator(item, indent + 2, out);
            }
        }
        Value::Tagged(t) => {
            out.push(' ');
            write_tagged(t, indent + 2, out);
        }
        _ => {
            out.push(' ');
            write_inline(value, indent + 2, false, out);
            out.push('\n');
        }
    }
}

/// A tag, then its node: a block collection on the next lines at `indent`
/// (on the tag's line it would tag the first key or item), a scalar after
/// a space.
fn write_tagged(t: &serde_norway::value::TaggedValue, indent: usize, out: &mut String) {
    out.push_str(&tag_text(&t.tag));
    match &t.value {
        Value::Mapping(m) if !m.is_empty() => {
            out.push('\n');
            write_entries(m, indent, false, out);
        }
        Value::Sequence(s) if !s.is_empty() => {
            out.push('\n');
            write_items(s, indent, out);
        }
        other => {
            out.push(' ');
            write_inline(other, indent.max(2), false, out);
            out.push('\n');
        }
    }
}

fn is_scalar(value: &Value) -> bool {
    match value {
        Value::Mapping(m) => m.is_empty(),
        Value::Sequence(s) => s.is_empty(),
        Value::Tagged(t) => is_scalar(&t.value),
        _ => true,
    }
}

/// A scalar (or empty collection) on the current line. A multi-line string
/// that is not a key becomes a `|` block whose lines sit at `block_indent`.
fn write_inline(value: &Value, block_indent: usize, key: bool, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_str(s, block_indent, key, out),
        Value::Sequence(_) => out.push_str("[]"),
        Value::Mapping(_) => out.push_str("{}"),
        Value::Tagged(t) => {
            out.push_str(&tag_text(&t.tag));
            out.push(' ');
            write_inline(&t.value, block_indent, key, out);
        }
    }
}

fn tag_text(tag: &serde_norway::value::Tag) -> String {
    let text = tag.to_string();
    // serde_norway shows the non-specific tag `!` as `!!`, which is no tag
    // at all to a YAML reader (found by the krm_resource_list fuzz target).
    if text == "!!" {
        "!".to_owned()
    } else if text.starts_with('!') {
        text
    } else {
        format!("!{text}")
    }
}

/// How a string is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
}

/// The style meshfed writes `s` in, as a mapping key when `key` (keys stay
/// on one line).
pub fn style(s: &str, key: bool) -> Style {
    if is_word(s) {
        return if reads_as_string_everywhere(s) {
            Style::Plain
        } else {
            Style::SingleQuoted
        };
    }
    full_style(s, key)
}

/// [`style`] by the full rules.
fn full_style(s: &str, key: bool) -> Style {
    if memchr::memchr(b'\n', s.as_bytes()).is_some() {
        return if !key && literal_allowed(s) {
            Style::Literal
        } else {
            Style::DoubleQuoted
        };
    }
    if !all_printable(s) {
        return Style::DoubleQuoted;
    }
    if plain_allowed(s) && reads_as_string_everywhere(s) {
        Style::Plain
    } else {
        Style::SingleQuoted
    }
}

/// Most strings meshfed writes (names, hosts, namespaces, addresses,
/// SPIFFE IDs): a letter or digit, then letters, digits and `-._/`, or `:`
/// not at the end. For these only `reads_as_string_everywhere` decides the
/// style: one line, printable, no indicator (`fast_path_agrees_with_the_full_rules`).
fn is_word(s: &str) -> bool {
    let b = s.as_bytes();
    let Some((&first, rest)) = b.split_first() else {
        return false;
    };
    // One table look-up per byte.
    const WORD_BYTE: [bool; 256] = {
        let mut table = [false; 256];
        let mut i = 0;
        while i < 256 {
            let c = i as u8;
            table[i] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'/' | b':');
            i += 1;
        }
        table
    };
    first.is_ascii_alphanumeric() && rest.iter().all(|&c| WORD_BYTE[c as usize]) && b.last() != Some(&b':')
}

/// Writes one string scalar in its style.
pub fn write_str(s: &str, block_indent: usize, key: bool, out: &mut String) {
    match style(s, key) {
        Style::Plain => out.push_str(s),
        Style::SingleQuoted => {
            out.push('\'');
            for (i, part) in s.split('\'').enumerate() {
                if i > 0 {
                    out.push_str("''");
                }
                out.push_str(part);
            }
            out.push('\'');
        }
        Style::DoubleQuoted => write_double_quoted(s, out),
        Style::Literal => write_literal(s, block_indent, out),
    }
}

fn write_literal(s: &str, indent: usize, out: &mut String) {
    out.push('|');
    let body = s.trim_end_matches('\n');
    match s.len() - body.len() {
        0 => out.push('-'),
        1 => {}
        _ => out.push('+'),
    }
    for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
        out.push('\n');
        if !line.is_empty() {
            pad(out, indent);
            out.push_str(line);
        }
    }
}

fn write_double_quoted(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if printable(c) => out.push(c),
            c if (c as u32) <= 0xff => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c if (c as u32) <= 0xffff => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08X}", c as u32);
            }
        }
    }
    out.push('"');
}

/// Whether every character of `s` is [`printable`]: a byte test first, as
/// the long strings meshfed writes (base64 bundles, PEM) are ASCII.
fn all_printable(s: &str) -> bool {
    s.bytes().all(|b| (0x20..0x7f).contains(&b)) || s.chars().all(printable)
}

/// The characters YAML lets a scalar hold as they are (libyaml's
/// `IS_PRINTABLE`, less the line breaks, which are handled apart): U+2028
/// and U+2029 are line breaks to YAML 1.1 readers (libyaml's `IS_BREAK`,
/// PyYAML), so written as they are they would cut a line in two; they are
/// escaped, as `\n` is (found by fuzzing a ResourceList).
fn printable(c: char) -> bool {
    matches!(c as u32,
        0x20..=0x7e | 0xa0..=0x2027 | 0x202a..=0xd7ff | 0xe000..=0xfffd | 0x10000..=0x10ffff)
        && c != '\u{feff}'
}

/// Whether a multi-line string can be a `|` block that reads back exactly:
/// printable lines, none ending in a space, and a first line that does not
/// start with a space or a break (the block's indentation is read from it).
fn literal_allowed(s: &str) -> bool {
    !s.starts_with([' ', '\n']) && s.split('\n').all(|line| !line.ends_with(' ') && all_printable(line))
}

/// Whether `s` (one printable line) may be written without quotes in block
/// context: libyaml's analysis, which PyYAML and go-yaml share.
fn plain_allowed(s: &str) -> bool {
    let bytes = s.as_bytes();
    // Only `:` and `#` matter after the first byte: jump from one to the next.
    plain_ends_allowed(s)
        && !memchr::memchr2_iter(b':', b'#', &bytes[1..]).any(|at| {
            let i = at + 1;
            if bytes[i] == b':' {
                blank_at(bytes, i + 1)
            } else {
                bytes[i - 1] == b' '
            }
        })
}

/// [`plain_allowed`]'s rules for the ends of `s`: not empty, no space at
/// either end, no document marker, no indicator first.
fn plain_ends_allowed(s: &str) -> bool {
    let bytes = s.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    let indicator =
        b"#,[]{}&*!|>'\"%@`".contains(&first) || (matches!(first, b'?' | b':' | b'-') && blank_at(bytes, 1));
    !(indicator || first == b' ' || last == b' ' || s.starts_with("---") || s.starts_with("..."))
}

/// Whether the byte at `i` is a space or past the end.
fn blank_at(bytes: &[u8], i: usize) -> bool {
    bytes.get(i).is_none_or(|b| *b == b' ')
}

/// Whether every YAML reader — 1.2 core (serde_norway, yaml-rust), 1.1
/// (PyYAML, go-yaml v2 as kubectl and kustomize use it) — reads the plain
/// scalar `s` as the string `s`.
pub fn reads_as_string_everywhere(s: &str) -> bool {
    // YAML 1.1 and 1.2 booleans and nulls, `=` (1.1's value key), `<<`
    // (merge key), not-a-number.
    let word = matches!(
        s,
        "" | "~"
            | "null"
            | "Null"
            | "NULL"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "y"
            | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
            | "="
            | "<<"
            | ".nan"
            | ".NaN"
            | ".NAN"
    );
    if word {
        return false;
    }
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") {
        return false;
    }
    let b = unsigned.as_bytes();
    let numeric_start = match b {
        [d, ..] if d.is_ascii_digit() => true,
        [b'.', d, ..] if d.is_ascii_digit() => true,
        _ => false,
    };
    !(numeric_start && looks_numeric_or_date(unsigned))
}

/// `t` (no sign, starting with a digit or `.digit`) as some reader's
/// integer, float, sexagesimal number or timestamp.
fn looks_numeric_or_date(t: &str) -> bool {
    let b = t.as_bytes();
    let all = |s: &str, f: fn(u8) -> bool| !s.is_empty() && s.bytes().all(f);
    let digit_ = |c: u8| c.is_ascii_digit() || c == b'_';
    // Integers: decimal (with `_` in 1.1, leading zeros as octal), and the
    // 0x/0o/0b forms in either case (go-yaml parses with Go's base prefixes).
    if all(t, digit_) {
        return true;
    }
    if let Some(rest) = t.get(2..).filter(|_| b.len() > 2 && b[0] == b'0') {
        let radix_digits = match b[1] {
            b'x' | b'X' => all(rest, |c| c.is_ascii_hexdigit() || c == b'_'),
            b'o' | b'O' => all(rest, |c| (b'0'..=b'7').contains(&c) || c == b'_'),
            b'b' | b'B' => all(rest, |c| matches!(c, b'0' | b'1' | b'_')),
            _ => false,
        };
        if radix_digits {
            return true;
        }
    }
    // Floats: digits with at most one dot, an optional exponent.
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let exponent_ok = exponent.is_none_or(|e| all(e.strip_prefix(['-', '+']).unwrap_or(e), |c| c.is_ascii_digit()));
    let mut parts = mantissa.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let fraction = parts.next();
    let mantissa_ok = whole.bytes().all(digit_)
        && fraction.is_none_or(|f| f.bytes().all(digit_))
        && mantissa.bytes().any(|c| c.is_ascii_digit());
    if mantissa_ok && exponent_ok && (fraction.is_some() || exponent.is_some()) {
        return true;
    }
    // YAML 1.1 sexagesimal: 1:20, 190:20:30.15.
    if let Some((head, tail)) = t.split_once(':') {
        let (tail, fraction) = match tail.rsplit_once('.') {
            Some((t, f)) => (t, Some(f)),
            None => (tail, None),
        };
        let base60 = tail
            .split(':')
            .all(|p| (1..=2).contains(&p.len()) && all(p, |c| c.is_ascii_digit()) && (p.len() < 2 || p < "60"));
        if all(head, digit_) && base60 && fraction.is_none_or(|f| f.bytes().all(digit_)) {
            return true;
        }
    }
    // Timestamps start with a date: 2001-12-14.
    b.len() >= 8 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && {
        let rest = &t[5..];
        let mut fields = rest.splitn(3, '-');
        let month = fields.next().unwrap_or("");
        let day = fields.next().unwrap_or("");
        let day_digits: String = day.chars().take_while(char::is_ascii_digit).collect();
        (1..=2).contains(&month.len()) && all(month, |c| c.is_ascii_digit()) && (1..=2).contains(&day_digits.len())
    }
}

fn pad(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

#[cfg(test)]
mod tests;
