//! The second half of reading a `ResourceList`: once every event is read,
//! `Reader::finish` cuts the text into each top-level entry's and each
//! item's original lines, as `resource_list`'s doc describes (whole lines;
//! `None` where the layout is not that simple).

use serde_norway::Value;

use super::{Entry, Extent, Item, Reader, ResourceList};

impl Reader<'_> {
    /// Cuts the text into entries and items.
    pub(super) fn finish(self, text: &str, root: Extent) -> ResourceList {
        let (values, extents): (Vec<Value>, Vec<Extent>) = self.items.into_iter().unzip();
        let mut items: Vec<Item> = values.into_iter().map(|value| Item { value, text: None }).collect();
        let has_items_key = self.top.iter().any(|e| e.key == "items");
        let mut entries: Vec<Entry> = self
            .top
            .iter()
            .map(|e| Entry {
                key: e.key.clone(),
                key_value: e.key_value.clone(),
                value: e.value.clone(),
                text: None,
            })
            .collect();
        let mut list = ResourceList {
            entries: Vec::new(),
            items: Vec::new(),
            has_items_key,
            preamble: String::new(),
            postamble: String::new(),
            items_header: None,
            dash_column: 0,
            duplicate_keys_under: self.duplicate_keys_under.clone(),
            has_aliases: self.has_aliases,
        };

        // The top-level mapping must be a block mapping whose keys each
        // start a line, and the whole text one document without tabs or
        // lone carriage returns before a key.
        let block = text.as_bytes().get(root.start) != Some(&b'{')
            && !self.top.is_empty()
            && self.top.iter().all(|e| {
                e.plain_key
                    && text[line_start(text, e.key_extent.start)..e.key_extent.start]
                        .bytes()
                        .all(|b| b == b' ')
                    && text[e.key_extent.start..].starts_with(e.key.as_str())
            });
        if block {
            let starts: Vec<usize> = self.top.iter().map(|e| line_start(text, e.key_extent.start)).collect();
            let content_end = if text[self.top_end..].trim().is_empty() {
                text.len()
            } else {
                line_start(text, self.top_end)
            };
            list.preamble = text[..starts[0]].to_owned();
            list.postamble = text[content_end..].to_owned();
            for (i, entry) in entries.iter_mut().enumerate() {
                let end = starts.get(i + 1).copied().unwrap_or(content_end);
                if entry.key != "items" {
                    entry.text = Some(with_newline(&text[starts[i]..end]));
                    continue;
                }
                // The items are written one by one, never as the whole entry.
                let key_end = self.top[i].key_extent.end;
                if let Some((header, dash_column)) = block_items(text, key_end, end, &extents, &mut items) {
                    list.items_header = Some(header);
                    list.dash_column = dash_column;
                }
            }
        }
        if list.items_header.is_none() {
            // A flow list: an item on one line can still be copied as is.
            let flow = self
                .items_value_extent
                .is_some_and(|e| text.as_bytes().get(e.start) == Some(&b'['));
            for (item, extent) in items.iter_mut().zip(&extents) {
                let source = &text[extent.start..extent.end.max(extent.start)];
                item.text = (flow && !source.contains(['\n', '\r']) && whole_node(source, &item.value))
                    .then(|| format!("- {source}\n"));
            }
        }
        list.entries = entries;
        list.items = items;
        list
    }
}

/// Whether `source`, cut from a flow list by the parser's span, is the whole
/// item: it reads back alone as the same value. saphyr-parser can end a flow
/// mapping's span before its closing brace (after a trailing comma and a
/// line break), and the cut text is then no YAML (found by the
/// krm_resource_list fuzz target).
fn whole_node(source: &str, value: &Value) -> bool {
    serde_norway::from_str::<Value>(source).is_ok_and(|v| v == *value)
}

/// Splits a block `items:` sequence into each item's lines; `None` (and no
/// item text) when the layout is not a plain block sequence.
fn block_items(
    text: &str,
    key_end: usize,
    entry_end: usize,
    read: &[Extent],
    items: &mut [Item],
) -> Option<(String, usize)> {
    let mut dashes = Vec::with_capacity(read.len());
    let mut from = key_end;
    // The first item's `-` follows `items:`; each other's follows the item before.
    if !text[from..].starts_with(':') {
        return None;
    }
    from += 1;
    for extent in read {
        let dash = next_token(text, from, extent.start.max(from))?;
        if text.as_bytes()[dash] != b'-' {
            return None;
        }
        let line = line_start(text, dash);
        if !text[line..dash].bytes().all(|b| b == b' ') {
            return None;
        }
        dashes.push((line, dash - line));
        from = extent.end.max(dash + 1);
    }
    let (first_line, column) = *dashes.first()?;
    if dashes.iter().any(|&(_, c)| c != column) {
        return None;
    }
    for (i, item) in items.iter_mut().enumerate() {
        let end = dashes.get(i + 1).map_or(entry_end, |&(line, _)| line);
        item.text = Some(with_newline(&text[dashes[i].0..end]));
    }
    let header = with_newline(&text[line_start(text, key_end)..first_line]);
    Some((header, column))
}

/// The first byte in `text[from..until]` (or at `until`) that is not
/// white space or part of a comment.
fn next_token(text: &str, from: usize, until: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = from;
    let mut comment = false;
    while i <= until && i < bytes.len() {
        match bytes[i] {
            b'\n' => comment = false,
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => {}
            b'\r' => return None,
            b' ' | b'\t' => {}
            b'#' => comment = true,
            _ if comment => {}
            _ => return Some(i),
        }
        i += 1;
    }
    None
}

fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |i| i + 1)
}

fn with_newline(s: &str) -> String {
    let mut s = s.to_owned();
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}
