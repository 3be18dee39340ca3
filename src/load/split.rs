//! A large spec parsed on two cores. Nearly all of a large spec is the
//! block sequence `spec.clusters`, and libyaml (under serde_norway) reads
//! it on one core: at 20x100 that was a quarter of `generate`. Where the
//! text is plain enough ([`Cut::of`]), the items are cut into two runs of
//! whole lines, each parsed as a document of its own on its own thread, and
//! the rest of the text (the skeleton) is parsed with one sentinel item in
//! their place. The line of each item falls out of the cut, so the warnings
//! placed at `spec.clusters[N]` need no second scan of the text.
//!
//! Why the parts give the whole's value. libyaml reads left to right, so
//! up to the first item the whole and the skeleton are read alike; the
//! skeleton's value having exactly `[sentinel]` at `spec.clusters` proves
//! that, there, the text is a block sequence entry of `spec.clusters` at
//! the items' column. Every line of the cut is then blank, a comment, more
//! indented than that column, or a `- ` entry at it, and the first line
//! after it is not: so the cut is the sequence's entries, and what follows
//! ends the sequence in the whole as it ends the sentinel's in the skeleton.
//! Inside an entry, nothing at that column can continue a plain or block
//! scalar; a quoted scalar or flow collection left open where a run ends
//! fails that run's parse (it ends the document), and a `- ` line inside
//! one makes a run hold fewer items than it has `- ` lines: either way the
//! whole text is parsed as before. What would make a run read differently
//! alone is refused outright: anchors (`&`, an alias to one outside the run
//! or a name defined twice), `%` directives (`%TAG` redefines `!!`), tabs,
//! and line breaks other than `\n` and `\r\n` (libyaml also breaks lines at
//! a lone `\r`, NEL, LS and PS; the line numbers here count `\n`).
//! `tests` checks value and lines against the whole parse on documents made
//! to break these rules.

use std::ops::Range;

use serde_json::Value;

use crate::line_index::LineIndex;

/// Below this size one parse on one core is about as quick as starting a
/// thread (and its allocator arena) for the other half.
const WORTH_SPLITTING: usize = 32 << 10;

/// The sequence that is cut.
pub(crate) const SEQUENCE: &str = "spec.clusters";

/// Stands in the skeleton for the items; the cut is refused if the text
/// holds it.
const SENTINEL: &str = "meshfed-split-sentinel-3f9c27a1";

/// Where a spec's `spec.clusters` items are, found by reading lines.
#[derive(Debug)]
pub(crate) struct Cut<'t> {
    text: &'t str,
    /// From the first item's line to the first line after the sequence.
    region: Range<usize>,
    /// The byte offset and 1-based line of each `- ` line at `column`.
    items: Vec<(usize, usize)>,
    column: usize,
    /// The 1-based lines of the `spec:` and `clusters:` keys.
    spec_line: usize,
    clusters_line: usize,
}

/// A line of the text: its indentation and what follows it.
struct Line<'t> {
    start: usize,
    number: usize,
    indent: usize,
    rest: &'t str,
}

impl Line<'_> {
    /// Blank or a comment: no structure.
    fn is_filler(&self) -> bool {
        self.rest.is_empty() || self.rest.starts_with('#')
    }

    /// `key:` with nothing after it but spaces or a comment.
    fn is_bare_key(&self, key: &str) -> bool {
        self.rest
            .strip_prefix(key)
            .and_then(|r| r.strip_prefix(':'))
            .is_some_and(|r| {
                let after = r.trim_start_matches(' ');
                after.is_empty() || (after.starts_with('#') && after.len() < r.len())
            })
    }

    /// A block sequence entry (`- ` and a node on the same line).
    fn is_entry(&self) -> bool {
        self.rest == "-" || self.rest.starts_with("- ")
    }
}

fn lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    let mut start = 0;
    text.split_inclusive('\n').enumerate().map(move |(i, raw)| {
        let line = raw.strip_suffix('\n').unwrap_or(raw);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let indent = line.len() - line.trim_start_matches(' ').len();
        let l = Line {
            start,
            number: i + 1,
            indent,
            rest: &line[indent..],
        };
        start += raw.len();
        l
    })
}

/// Whether the text holds anything that could make a run of lines parse
/// differently alone (see the module doc).
fn refused(text: &str) -> bool {
    let bytes = text.as_bytes();
    if memchr::memchr2(b'\t', b'&', bytes).is_some() || text.contains(SENTINEL) {
        return true;
    }
    if bytes.windows(2).any(|w| w[0] == b'\r' && w[1] != b'\n') || bytes.last() == Some(&b'\r') {
        return true;
    }
    if !text.is_ascii() {
        let body = text.strip_prefix('\u{feff}').unwrap_or(text);
        if body.contains(['\u{85}', '\u{2028}', '\u{2029}', '\u{feff}']) {
            return true;
        }
    }
    false
}

impl<'t> Cut<'t> {
    /// The items of `spec.clusters` in a spec of at least 32 KiB whose text
    /// allows the cut; `None` otherwise (then it is parsed whole).
    pub(crate) fn of(text: &'t str) -> Option<Self> {
        if text.len() < WORTH_SPLITTING {
            return None;
        }
        Self::find(text)
    }

    /// [`Cut::of`] at any size.
    pub(super) fn find(text: &'t str) -> Option<Self> {
        if refused(text) {
            return None;
        }
        let mut lines = lines(text);
        let mut spec_line = None;
        // `spec:` at column 0, then its keys' column from its first key.
        for l in lines.by_ref() {
            if l.indent == 0 && l.rest.starts_with('%') {
                return None;
            }
            if l.indent == 0 && l.is_bare_key("spec") {
                spec_line = Some(l.number);
                break;
            }
        }
        let spec_line = spec_line?;
        let mut child = None;
        let mut clusters_line = None;
        for l in lines.by_ref() {
            if l.is_filler() {
                continue;
            }
            if l.indent == 0 {
                return None;
            }
            let column = *child.get_or_insert(l.indent);
            if l.indent == column && l.is_bare_key("clusters") {
                clusters_line = Some(l.number);
                break;
            }
        }
        let cut = Cut {
            text,
            region: 0..0,
            items: Vec::new(),
            column: 0,
            spec_line,
            clusters_line: clusters_line?,
        };
        cut.with_items(lines, child?)
    }

    /// The cut with the entries that follow the `clusters:` line (at a
    /// column of at least `child`, that of `spec`'s keys): their region,
    /// each one's offset and line, and their column.
    fn with_items(self, lines: impl Iterator<Item = Line<'t>>, child: usize) -> Option<Self> {
        let text = self.text;
        let mut items = Vec::new();
        let mut column = None;
        let mut start = None;
        for l in lines {
            if l.is_filler() {
                continue;
            }
            let c = *column.get_or_insert(l.indent);
            if start.is_none() {
                // The value of `clusters:` must be a block sequence.
                if c < child || !l.is_entry() {
                    return None;
                }
                start = Some(l.start);
            }
            if l.indent > c {
                continue;
            }
            if l.indent == c && l.is_entry() {
                // An entry whose node starts on a later line has its line there.
                let node = l.rest[1..].trim_start_matches(' ');
                if node.is_empty() || node.starts_with('#') {
                    return None;
                }
                items.push((l.start, l.number));
                continue;
            }
            return self.found(start.unwrap_or(l.start)..l.start, items, c);
        }
        self.found(start.unwrap_or(text.len())..text.len(), items, column.unwrap_or(0))
    }

    /// The cut with its items, if there are two or more to share out.
    fn found(self, region: Range<usize>, items: Vec<(usize, usize)>, column: usize) -> Option<Self> {
        (items.len() >= 2).then_some(Cut {
            region,
            items,
            column,
            ..self
        })
    }

    /// The lines of `spec`, `spec.clusters` and each item, as
    /// [`LineIndex::for_items`] finds them.
    fn lines(&self) -> LineIndex {
        let keys = [
            ("spec".to_owned(), self.spec_line),
            (SEQUENCE.to_owned(), self.clusters_line),
        ];
        let items = (self.items.iter().enumerate()).map(|(i, &(_, line))| (crate::line_index::item(SEQUENCE, i), line));
        LineIndex::from_lines(keys.into_iter().chain(items))
    }

    /// The spec's value and its items' lines: the two runs of items on two
    /// threads, the skeleton meanwhile. `None` when the parts cannot vouch
    /// for the whole (a part fails to parse, or holds other than it should):
    /// then the whole text is parsed as before, which also gives the error.
    pub(crate) fn parse(&self) -> Option<(Value, LineIndex)> {
        let mid = self.items.len() / 2;
        let split = self.items[mid].0;
        let first = &self.text[self.region.start..split];
        let second = &self.text[split..self.region.end];
        let skeleton = format!(
            "{}{:column$}- {SENTINEL}\n{}",
            &self.text[..self.region.start],
            "",
            &self.text[self.region.end..],
            column = self.column
        );
        let rest = self.items.len() - mid;
        let (mut value, first, second) = std::thread::scope(|s| {
            let later = std::thread::Builder::new().spawn_scoped(s, || entries(second, rest));
            let value = document(&skeleton);
            let first = entries(first, mid);
            let second = match later {
                Ok(later) => later.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
                // No thread to be had: the same work on this one.
                Err(_) => entries(second, rest),
            };
            (value, first, second)
        });
        let slot = value.as_mut()?.pointer_mut("/spec/clusters")?;
        if *slot != Value::Array(vec![Value::String(SENTINEL.to_owned())]) {
            return None;
        }
        let mut items = first?;
        items.extend(second?);
        *slot = Value::Array(items);
        Some((value?, self.lines()))
    }
}

/// The one YAML document of `text`, or `None` (an error, or more than one).
fn document(text: &str) -> Option<Value> {
    let mut docs = serde_norway::Deserializer::from_str(text);
    let value = serde::Deserialize::deserialize(docs.next()?).ok()?;
    docs.next().is_none().then_some(value)
}

/// The `n` entries of a run of block sequence lines, or `None`.
fn entries(text: &str, n: usize) -> Option<Vec<Value>> {
    match document(text)? {
        Value::Array(items) if items.len() == n => Some(items),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
