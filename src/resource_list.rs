//! Reads a KRM `ResourceList`'s text once (saphyr-parser events) into two
//! things: every node as a `serde_norway::Value` for meshfed to read (kinds,
//! labels, root CA ConfigMaps and Secrets, the functionConfig), and the
//! original text of each top-level entry and of each item, so that what
//! meshfed does not own is written back byte for byte — comments, quoting,
//! flow style, key order and all.
//!
//! It does not write anything: `krm` decides which items stay and writes the
//! list. A text is copied in whole lines, so it keeps the indentation it had:
//! an item's text runs from the line of its `-` to the line of the next
//! item's `-` (comments between items go with the item above them), a
//! top-level entry's from the line of its key to the next key's. Where the
//! layout is not that simple (a flow-style list, a flow item over several
//! lines, an anchored or tagged list, a tab or a lone carriage return before
//! an entry) the text is `None` and the writer falls back to emitting the
//! value. A top-level key written twice is an error, as it is to
//! serde_norway.
//!
//! Scalars are read as `serde_norway` reads them (YAML 1.2 core schema),
//! except that a scalar it cannot hold (an integer past 64 bits) becomes a
//! string instead of failing: items are data meshfed passes on, not types it
//! owns. Aliases expand within a budget (a "billion laughs" list fails fast),
//! and nodes nested deeper than `MAX_DEPTH` are read as null (their text
//! still passes through).

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use serde_norway::{Mapping, Value};

use scalar::{has_empty_tag, scalar, tagged};

/// Deeper nodes are not read (their value is null); no Kubernetes object
/// comes near this. (saphyr-parser itself refuses flow nesting a few hundred
/// levels deep, in time linear in the input.)
const MAX_DEPTH: usize = 128;

/// Alias expansion may add at most this many nodes beyond the text's own.
const ALIAS_BUDGET: usize = 1 << 20;

/// A ResourceList as read.
#[derive(Debug)]
pub struct ResourceList {
    /// The top-level entries, in order (`items`, when a list, with an empty
    /// one: the items are in `items`).
    pub entries: Vec<Entry>,
    pub items: Vec<Item>,
    /// Whether the list has an `items` key at all.
    pub has_items_key: bool,
    /// Text before the first key (comments, `---`) and after the last entry
    /// (`...`), when the layout is copyable; else empty.
    pub preamble: String,
    pub postamble: String,
    /// `items:` and any comment lines before the first item, when the items
    /// are a block sequence whose items' texts are copied.
    pub items_header: Option<String>,
    /// The column of the items' `-`; new items are written there too.
    pub dash_column: usize,
    /// Top-level keys under which some mapping repeats a key (the last one
    /// is read).
    pub duplicate_keys_under: Vec<String>,
    /// Whether the text uses an alias: copying some texts and writing others
    /// could then leave an alias without its anchor.
    pub has_aliases: bool,
}

/// A top-level entry of the list.
#[derive(Debug)]
pub struct Entry {
    /// The key as text ("" when it is not a string).
    pub key: String,
    /// The key as read, for writing the entry from its value.
    pub key_value: Value,
    pub value: Value,
    /// `key: value` as written, whole lines, ending in a newline (never for
    /// `items`: those are written item by item).
    pub text: Option<String>,
}

/// One item of the list.
#[derive(Debug)]
pub struct Item {
    pub value: Value,
    /// `- item` as written, whole lines, ending in a newline.
    pub text: Option<String>,
}

/// Where a node's text starts and ends (byte offsets).
#[derive(Clone, Copy)]
struct Extent {
    start: usize,
    end: usize,
}

enum Collection {
    Map { map: Mapping, key: Option<Value> },
    Seq(Vec<Value>),
}

struct Frame {
    collection: Collection,
    anchor: usize,
    tag: Option<Tag>,
    start: usize,
    /// Nodes below this one (for the alias budget).
    nodes: usize,
    /// This is the top-level `items` sequence.
    items: bool,
}

/// A node read but not yet placed in its parent.
struct Node {
    value: Value,
    nodes: usize,
    extent: Extent,
}

/// What the top-level mapping holds, with positions.
struct TopEntry {
    key: String,
    key_value: Value,
    key_extent: Extent,
    value: Value,
    /// Whether the key was a plain scalar (its text can be checked).
    plain_key: bool,
}

/// Char index → byte offset, for saphyr's markers (which count chars).
struct Offsets<'a> {
    text: &'a str,
    ascii: bool,
    /// A (char index, byte offset) pair known to match.
    cursor: (usize, usize),
}

impl Offsets<'_> {
    fn byte(&mut self, char_index: usize) -> usize {
        if self.ascii {
            return char_index.min(self.text.len());
        }
        let (mut c, mut b) = self.cursor;
        for ch in self.text[..b].chars().rev() {
            if c <= char_index {
                break;
            }
            c -= 1;
            b -= ch.len_utf8();
        }
        for ch in self.text[b..].chars() {
            if c == char_index {
                break;
            }
            c += 1;
            b += ch.len_utf8();
        }
        self.cursor = (c, b);
        b
    }
}

/// The first character YAML does not allow in a stream (anything outside
/// its printable set, which admits tab, line feed and carriage return), and
/// its line.
fn first_unprintable(text: &str) -> Option<(usize, char)> {
    let printable = |c: char| {
        matches!(c as u32,
            0x09 | 0x0A | 0x0D | 0x20..=0x7E | 0x85 | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
    };
    let (at, c) = text.char_indices().find(|(_, c)| !printable(*c))?;
    Some((text[..at].matches('\n').count() + 1, c))
}

/// Reads `text`, or says why it is not a single-document mapping (the caller
/// words the error).
pub fn read(text: &str) -> Result<ResourceList, String> {
    // YAML allows only printable characters; saphyr-parser lets some control
    // characters through, which libyaml (kpt, kustomize) would then refuse
    // in the kept text (found by the krm_resource_list fuzz target).
    if let Some((line, c)) = first_unprintable(text) {
        return Err(format!(
            "not YAML: line {line} holds the control character U+{:04X}, which YAML does not allow",
            c as u32
        ));
    }
    let mut reader = Reader {
        offsets: Offsets {
            text,
            ascii: text.is_ascii(),
            cursor: (0, 0),
        },
        frames: Vec::new(),
        skipped: 0,
        anchors: HashMap::new(),
        budget: ALIAS_BUDGET,
        documents: 0,
        root: None,
        top: Vec::new(),
        items: Vec::new(),
        items_value_extent: None,
        top_end: text.len(),
        duplicate_keys_under: Vec::new(),
        has_aliases: false,
    };
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| format!("not YAML: {e}"))?;
        reader.event(event, span)?;
    }
    if reader.documents == 0 {
        return Err("stdin is empty".into());
    }
    let Some(root) = reader.root.take() else {
        return Err("stdin is empty".into());
    };
    if !matches!(root.value, Value::Mapping(_)) {
        return Err("its kind is not ResourceList".into());
    }
    Ok(reader.finish(text, root.extent))
}

struct Reader<'a> {
    offsets: Offsets<'a>,
    frames: Vec<Frame>,
    /// Depth below `MAX_DEPTH` being skipped.
    skipped: usize,
    anchors: HashMap<usize, (Value, usize)>,
    budget: usize,
    documents: usize,
    root: Option<Node>,
    top: Vec<TopEntry>,
    items: Vec<(Value, Extent)>,
    items_value_extent: Option<Extent>,
    /// Where the top-level mapping ends.
    top_end: usize,
    duplicate_keys_under: Vec<String>,
    has_aliases: bool,
}

impl Reader<'_> {
    fn event(&mut self, event: Event, span: Span) -> Result<(), String> {
        if has_empty_tag(&event) {
            return Err(format!(
                "not YAML: a tag with no name (`!<>`) at line {}; name the tag or remove it",
                span.start.line()
            ));
        }
        let start = self.offsets.byte(span.start.index());
        let end = self.offsets.byte(span.end.index());
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err("more than one YAML document".into());
                }
            }
            Event::MappingStart(anchor, tag) | Event::SequenceStart(anchor, tag)
                if self.skipped > 0 || self.frames.len() >= MAX_DEPTH =>
            {
                let _ = (anchor, tag);
                self.skipped += 1;
            }
            Event::MappingEnd | Event::SequenceEnd if self.skipped > 0 => {
                self.skipped -= 1;
                if self.skipped == 0 {
                    self.place(Node {
                        value: Value::Null,
                        nodes: 1,
                        extent: Extent { start, end },
                    })?;
                }
            }
            _ if self.skipped > 0 => {}
            Event::MappingStart(anchor, tag) => self.open(
                Collection::Map {
                    map: Mapping::new(),
                    key: None,
                },
                anchor,
                tag.map(|t| t.into_owned()),
                start,
            ),
            Event::SequenceStart(anchor, tag) => {
                let items = self.frames.len() == 1
                    && matches!(&self.frames[0].collection,
                        Collection::Map { key: Some(Value::String(k)), .. } if k == "items");
                self.open(Collection::Seq(Vec::new()), anchor, tag.map(|t| t.into_owned()), start);
                if let Some(frame) = self.frames.last_mut() {
                    frame.items = items;
                }
            }
            Event::MappingEnd | Event::SequenceEnd => self.close(start, end)?,
            Event::Scalar(text, style, anchor, tag) => {
                self.scalar_event(text.into_owned(), style, anchor, tag, Extent { start, end })?
            }
            Event::Alias(id) => {
                self.has_aliases = true;
                let (value, nodes) = self.anchors.get(&id).cloned().unwrap_or((Value::Null, 1));
                self.budget = self
                    .budget
                    .checked_sub(nodes)
                    .ok_or("its aliases expand to more than a million nodes")?;
                self.place(Node {
                    value,
                    nodes,
                    extent: Extent { start, end },
                })?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The end of a mapping or sequence that began at the frame on top.
    fn close(&mut self, start: usize, end: usize) -> Result<(), String> {
        let Some(frame) = self.frames.pop() else {
            return Err("unbalanced YAML events".into());
        };
        if self.frames.is_empty() {
            self.top_end = start;
        }
        let value = match frame.collection {
            Collection::Map { map, .. } => Value::Mapping(map),
            Collection::Seq(seq) => Value::Sequence(seq),
        };
        let value = tagged(value, frame.tag.as_ref());
        let node = Node {
            value,
            nodes: frame.nodes + 1,
            extent: Extent {
                start: frame.start,
                end,
            },
        };
        if frame.anchor != 0 {
            self.anchors.insert(frame.anchor, (node.value.clone(), node.nodes));
        }
        if frame.items {
            self.items_value_extent = Some(node.extent);
        }
        self.place(node)
    }

    fn scalar_event(
        &mut self,
        text: String,
        style: ScalarStyle,
        anchor: usize,
        tag: Option<std::borrow::Cow<'_, Tag>>,
        extent: Extent,
    ) -> Result<(), String> {
        let plain = style == ScalarStyle::Plain && tag.is_none();
        let value = scalar(text, style, tag.as_deref());
        if anchor != 0 {
            self.anchors.insert(anchor, (value.clone(), 1));
        }
        let node = Node {
            value,
            nodes: 1,
            extent,
        };
        // A top-level key written plainly can be found in the text.
        if plain && self.frames.len() == 1 {
            if let Collection::Map { key: None, .. } = &self.frames[0].collection {
                self.top.push(TopEntry {
                    key: String::new(),
                    key_value: Value::Null,
                    key_extent: node.extent,
                    value: Value::Null,
                    plain_key: true,
                });
            }
        }
        self.place(node)
    }

    fn open(&mut self, collection: Collection, anchor: usize, tag: Option<Tag>, start: usize) {
        self.frames.push(Frame {
            collection,
            anchor,
            tag,
            start,
            nodes: 0,
            items: false,
        });
    }

    /// Puts a finished node into its parent.
    fn place(&mut self, node: Node) -> Result<(), String> {
        let depth = self.frames.len();
        let Some(parent) = self.frames.last_mut() else {
            self.root = Some(node);
            return Ok(());
        };
        parent.nodes += node.nodes;
        if parent.items {
            self.items.push((node.value, node.extent));
            return Ok(());
        }
        match &mut parent.collection {
            Collection::Seq(seq) => seq.push(node.value),
            Collection::Map { key: key @ None, .. } => {
                if depth == 1 {
                    let plain = self
                        .top
                        .last()
                        .is_some_and(|e| e.plain_key && e.key.is_empty() && e.key_extent.start == node.extent.start);
                    if !plain {
                        self.top.push(TopEntry {
                            key: String::new(),
                            key_value: Value::Null,
                            key_extent: node.extent,
                            value: Value::Null,
                            plain_key: false,
                        });
                    }
                    if let Some(entry) = self.top.last_mut() {
                        entry.key = node.value.as_str().unwrap_or_default().to_owned();
                        entry.key_value = node.value.clone();
                    }
                }
                *key = Some(node.value);
            }
            Collection::Map { map, key } => {
                let k = key.take().unwrap_or(Value::Null);
                if depth == 1 {
                    if let Some(entry) = self.top.last_mut() {
                        entry.value = node.value.clone();
                    }
                }
                if map.insert(k, node.value).is_some() {
                    if depth == 1 {
                        return Err(format!(
                            "the key {:?} appears twice",
                            self.top.last().map(|e| e.key.as_str()).unwrap_or_default()
                        ));
                    }
                    let under = self.top.last().map(|e| e.key.clone()).unwrap_or_default();
                    if !self.duplicate_keys_under.contains(&under) {
                        self.duplicate_keys_under.push(under);
                    }
                }
            }
        }
        Ok(())
    }
}

mod cut;
mod scalar;

#[cfg(test)]
mod tests;
