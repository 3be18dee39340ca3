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

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::sync::Arc;

use minijinja::value::{DynObject, Enumerator, Object, ValueKind};
use minijinja::{AutoEscape, Error, ErrorKind, Output, State, Value};

use crate::yaml::{self, Style};

thread_local! {
    /// The values held aside by the render running on this thread.
    static HELD: RefCell<Vec<Value>> = const { RefCell::new(Vec::new()) };
    /// Whether the render running on this thread used a [`Hole`].
    static TOUCHED: Cell<bool> = const { Cell::new(false) };
}

const MARK: char = '\u{1}';
/// Where a writable [`Hole`] was written.
const HOLE: char = '\u{2}';

/// Forgets what an earlier (perhaps failed) render held aside; call before
/// each render.
pub(super) fn start() {
    HELD.with(|h| h.borrow_mut().clear());
    TOUCHED.with(|t| t.set(false));
}

/// The formatter of the embedded templates' environment.
pub(super) fn format(out: &mut Output, state: &mut State, value: &Value) -> Result<(), Error> {
    if !matches!(state.auto_escape(), AutoEscape::Json) {
        // Prose (`next-steps.md`).
        return minijinja::escape_formatter(out, state, value);
    }
    if let Some(hole) = value.downcast_object_ref::<Hole>() {
        if hole.writable {
            out.write_char(HOLE)?;
        } else {
            touch();
        }
        return Ok(());
    }
    if matches!(value.kind(), ValueKind::Undefined | ValueKind::Invalid) {
        return minijinja::escape_formatter(out, state, value);
    }
    if !inline(value, out)? {
        hold(out, value)?;
    }
    Ok(())
}

/// Writes `value` where it stands if it takes one line (a scalar, an empty
/// map or list) and returns true; false, having written nothing, for a
/// value that needs lines of its own (placed by [`place`]).
fn inline<W: std::fmt::Write>(value: &Value, out: &mut W) -> Result<bool, std::fmt::Error> {
    match value.kind() {
        ValueKind::String => {
            let s = value.as_str().unwrap_or_default();
            match yaml::style(s, false) {
                Style::Plain => out.write_str(s)?,
                Style::Literal => return Ok(false),
                _ => {
                    let mut text = String::new();
                    yaml::write_str(s, 0, false, &mut text);
                    out.write_str(&text)?;
                }
            }
        }
        ValueKind::Number if value.is_integer() => match i64::try_from(value.clone()) {
            Ok(n) => write!(out, "{n}")?,
            Err(_) => return Ok(false),
        },
        ValueKind::Bool => out.write_str(if value.is_true() { "true" } else { "false" })?,
        ValueKind::None => out.write_str("null")?,
        ValueKind::Map if value.len() == Some(0) => out.write_str("{}")?,
        ValueKind::Seq if value.len() == Some(0) => out.write_str("[]")?,
        _ => return Ok(false),
    }
    Ok(true)
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
        rest = end_of_line(&after[end + 1..])?;
        place(value, &mut out)?;
    }
    out.push_str(rest);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Some(out)
}

/// What follows a value placed on lines of its own: the rest of the text
/// after the newline that ended the value's line (the block brings its
/// own), or `None` if the line goes on.
fn end_of_line(rest: &str) -> Option<&str> {
    if rest.is_empty() {
        Some(rest)
    } else {
        rest.strip_prefix('\n')
    }
}

/// Writes `value` in block YAML for the line `out` ends with: `key: ` (the
/// value under its key) or `- ` (a list item); `None` for any other line.
fn place(value: &Value, out: &mut String) -> Option<()> {
    let at = line_shape(out)?;
    out.pop();
    write_block(value, at, out)
}

/// Where a value placed after the end of `out` goes: `Item(c)`, a list
/// item after a dash at column c, or `Key(c)`, under a key at column c.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    Item(usize),
    Key(usize),
}

fn line_shape(out: &str) -> Option<At> {
    let line = &out[out.rfind('\n').map_or(0, |p| p + 1)..];
    let mut body = line.trim_start_matches(' ');
    let mut column = line.len() - body.len();
    while let Some(tail) = body.strip_prefix("- ") {
        body = tail;
        column += 2;
    }
    if body.is_empty() && column >= 2 {
        Some(At::Item(column - 2))
    } else if body.len() > 2 && body.ends_with(": ") {
        Some(At::Key(column))
    } else {
        None
    }
}

/// `value` in block YAML at `at`, after the line's last space was removed.
fn write_block(value: &Value, at: At, out: &mut String) -> Option<()> {
    match at {
        At::Item(column) => yaml::write_after_indicator(&serde_norway::to_value(value).ok()?, column, out),
        At::Key(column) => {
            if !write_flat(value, column, out) {
                yaml::write_value(&serde_norway::to_value(value).ok()?, column, out);
            }
        }
    }
    Some(())
}

/// A value for a render whose result is kept and reused (`Renderer`'s
/// per-export memo): the render must give the same text whatever the value
/// later put in its place. A writable hole (`{{ import.meta.annotations }}`)
/// is written as a mark that [`fill`] replaces; any other use of a hole
/// (an attribute, a test, a loop, its length or truth, writing an
/// unwritable one) marks the render as depending on the value, and
/// [`finish_reusable`] refuses it.
pub(super) struct Hole {
    writable: bool,
}

impl Hole {
    /// A hole that may only be written with `{{ }}`.
    pub(super) fn writable() -> Value {
        Value::from_object(Hole { writable: true })
    }

    /// A hole that may not be used at all (`cluster` for an object that must
    /// be the same in every cluster).
    pub(super) fn unused() -> Value {
        Value::from_object(Hole { writable: false })
    }
}

impl std::fmt::Debug for Hole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        touch();
        f.write_str("hole")
    }
}

impl Object for Hole {
    fn get_value(self: &Arc<Self>, _: &Value) -> Option<Value> {
        touch();
        None
    }

    fn get_value_by_str(self: &Arc<Self>, _: &str) -> Option<Value> {
        touch();
        None
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        touch();
        Enumerator::Empty
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        touch();
        None
    }

    fn is_true(self: &Arc<Self>) -> bool {
        touch();
        false
    }

    fn call(self: &Arc<Self>, _: &mut State<'_, '_>, _: &[Value]) -> Result<Value, Error> {
        touch();
        Err(Error::new(ErrorKind::InvalidOperation, "hole"))
    }

    fn call_method(self: &Arc<Self>, _: &mut State<'_, '_>, _: &str, _: &[Value]) -> Result<Value, Error> {
        touch();
        Err(Error::new(ErrorKind::InvalidOperation, "hole"))
    }

    fn custom_cmp(self: &Arc<Self>, _: &DynObject) -> Option<std::cmp::Ordering> {
        touch();
        None
    }

    fn render(self: &Arc<Self>, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        touch();
        Ok(())
    }
}

fn touch() {
    TOUCHED.with(|t| t.set(true));
}

/// A render kept to be [`fill`]ed: its text, and each hole's place in it
/// with what `fill` needs to know of the hole's line, worked out once.
pub(super) struct Reusable {
    text: String,
    holes: Vec<HolePlace>,
}

struct HolePlace {
    /// Byte offset of the hole mark in `text`.
    offset: usize,
    /// The shape of the line up to the hole (`None`: no block can go there).
    at: Option<At>,
    /// The line ends right after the hole (a block may replace it).
    line_ends: bool,
}

impl Reusable {
    #[cfg(test)]
    pub(super) fn text(&self) -> &str {
        &self.text
    }
}

/// [`finish`] for a render with holes in its context: `None` as well if
/// the render used a hole other than by writing a writable one.
pub(super) fn finish_reusable(text: &str) -> Option<Reusable> {
    let touched = TOUCHED.with(|t| t.replace(false));
    let text = finish(text).filter(|_| !touched)?;
    // A filled object is appended at the start of a line (after `---` or at
    // the top of its file), so each hole's line starts within `text`.
    let holes = memchr::memchr_iter(HOLE as u8, text.as_bytes())
        .map(|offset| HolePlace {
            offset,
            at: line_shape(&text[..offset]),
            line_ends: end_of_line(&text[offset + 1..]).is_some(),
        })
        .collect();
    Some(Reusable { text, holes })
}

/// One value to [`fill`] holes with, and the blocks it was written as so
/// far (one per place a hole was at), so that filling many objects with
/// the same value writes it once.
pub(super) struct Filling {
    value: Value,
    /// How the value is written where a hole is, once known.
    inline: Option<Written>,
    blocks: Vec<(At, String)>,
}

/// How a [`Filling`]'s value is written where a hole is.
enum Written {
    /// Where the hole stands, as this text (a scalar, `{}`, `[]`).
    OnItsLine(String),
    /// On lines of its own, under the hole's key or dash ([`Filling::block`]).
    Block,
    /// Not at all: the caller renders the object itself.
    Not,
}

impl Filling {
    pub(super) fn new(value: Value) -> Self {
        Filling {
            value,
            inline: None,
            blocks: Vec::new(),
        }
    }

    /// How [`inline`] writes `value`, worked out once.
    fn inline(&mut self) -> &Written {
        let value = &self.value;
        self.inline.get_or_insert_with(|| {
            let mut text = String::new();
            match inline(value, &mut text) {
                Ok(true) => Written::OnItsLine(text),
                Ok(false) => Written::Block,
                Err(_) => Written::Not,
            }
        })
    }

    pub(super) fn value(&self) -> &Value {
        &self.value
    }

    /// `value` written in block YAML at `at`, as `place` writes it.
    fn block(&mut self, at: At) -> Option<&str> {
        let i = match self.blocks.iter().position(|(a, _)| *a == at) {
            Some(i) => i,
            None => {
                let mut text = String::new();
                write_block(&self.value, at, &mut text)?;
                self.blocks.push((at, text));
                self.blocks.len() - 1
            }
        };
        Some(&self.blocks[i].1)
    }
}

/// Appends `memo` (from [`finish_reusable`]) to `out` with each hole mark
/// replaced by the value of `with`, exactly as rendering with that value in
/// the hole's place would have written it. False, having appended nothing,
/// when it cannot be placed there (the caller then renders the object itself).
pub(super) fn fill(memo: &Reusable, with: &mut Filling, out: &mut String) -> bool {
    if matches!(with.value.kind(), ValueKind::Undefined | ValueKind::Invalid) {
        return false;
    }
    let start = out.len();
    let text = &memo.text;
    let mut from = 0;
    let filled = (|| {
        for hole in &memo.holes {
            out.push_str(&text[from..hole.offset]);
            from = hole.offset + HOLE.len_utf8();
            match with.inline() {
                Written::OnItsLine(text) => out.push_str(text),
                Written::Not => return None,
                Written::Block => {
                    // A block brings its own line break: the one after the
                    // hole goes (`end_of_line`), as does the space before it.
                    if !hole.line_ends {
                        return None;
                    }
                    from += usize::from(from < text.len());
                    out.pop();
                    out.push_str(with.block(hole.at?)?);
                }
            }
        }
        out.push_str(&text[from..]);
        Some(())
    })();
    if filled.is_none() {
        out.truncate(start);
    }
    filled.is_some()
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
mod tests;
