//! How deep YAML text nests, measured by one linear byte scan before any
//! parser sees it, so that deep nesting is refused in time linear in the
//! input.
//!
//! libyaml (under serde_norway) checks every open flow collection at every
//! token, so its time grows with the square of the nesting depth: 100,000
//! nested `[` (200 KB) took 32 s. Every YAML entry point (the spec, KRM
//! stdin, the plugin's member file, Deckhouse documents) calls [`check`]
//! first; beyond [`MAX_DEPTH`] levels the input is refused with MF003.
//!
//! The scan follows libyaml's own tokenizing rules where they decide what
//! is structure: flow brackets, block entries (`- `, `? `) and simple keys
//! (`key:`) with libyaml's indentation stack, quoted scalars, plain scalars
//! and where they continue on the next line, block scalars (`|`, `>`) and
//! their indentation, comments, anchors and tags, line breaks as libyaml
//! knows them (NEL, LS, PS too). It is meant never to count less nesting
//! than libyaml sees (a differential test against libyaml checks it on
//! generated documents); where in doubt (a bracket inside a tag) it counts
//! more. On real documents it counts at most two levels more.
//!
//! Not a parser: it finds no syntax errors (libyaml reports those) and
//! builds nothing.

use std::path::Path;

use crate::diagnostics::{Code, Diagnostic};

/// Deepest nesting accepted: block and flow collections together. Istio's
/// own CRD schemas, the deepest real documents meshfed meets (as KRM items),
/// nest 28 levels; serde_norway stops at 128.
pub const MAX_DEPTH: usize = 100;

/// Where the nesting first went beyond the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooDeep {
    /// 1-based line.
    pub line: usize,
}

/// `Ok` when `text` nests at most [`MAX_DEPTH`] levels.
pub fn check(text: &str) -> Result<(), TooDeep> {
    check_depth(text.as_bytes(), MAX_DEPTH)
}

/// [`check`] as the diagnostic every entry point reports (MF003), for `file`.
pub fn diagnose(text: &str, file: &Path) -> Result<(), Diagnostic> {
    check(text).map_err(|e| too_deep(e, file))
}

/// The MF003 diagnostic for a refused input.
pub fn too_deep(e: TooDeep, file: &Path) -> Diagnostic {
    Diagnostic::new(
        Code::MF003,
        "",
        format!("the YAML nests deeper than {MAX_DEPTH} levels"),
    )
    .hint("no real document nests that deep: write the values out plainly")
    .at(file, Some(e.line))
}

/// One open flow collection.
struct Level {
    sequence: bool,
    /// A `:` or `?` made the current entry of this sequence a single-pair mapping.
    pair: bool,
    /// Deepest total nesting within the current entry, and within the whole collection.
    entry_peak: usize,
    peak: usize,
}

/// One open block collection on libyaml's indentation stack.
#[derive(Clone, Copy)]
struct Indent {
    column: usize,
    /// An indentless sequence (`key:` then `- item` at the key's column)
    /// is open here: one more level than the stack shows.
    indentless: bool,
}

struct Scan<'a> {
    s: &'a [u8],
    i: usize,
    line_start: usize,
    /// Open flow collections, innermost last (at most `limit` of them).
    levels: Vec<Level>,
    /// Single-pair mappings open (`[a: b]` is a list of one mapping).
    pairs: usize,
    indents: Vec<Indent>,
    /// Block levels open, indentless sequences included.
    block: usize,
    /// Block context: the column of the node on this line that becomes the
    /// key if `:` follows (libyaml's simple key); `None` until one starts.
    key: Option<usize>,
    /// The deepest total nesting inside that key so far: once `:` makes it
    /// a key, it sits one block level deeper than it was counted.
    key_peak: usize,
    limit: usize,
}

/// The length of the line break at `i`, 0 if there is none. libyaml breaks
/// lines at NEL, LS and PS too, so a comment ends there.
fn break_len(s: &[u8], i: usize) -> usize {
    match s.get(i..).unwrap_or_default() {
        [b'\r', b'\n', ..] => 2,
        [b'\r' | b'\n', ..] => 1,
        [0xC2, 0x85, ..] => 2,
        [0xE2, 0x80, 0xA8 | 0xA9, ..] => 3,
        _ => 0,
    }
}

fn blankz(s: &[u8], i: usize) -> bool {
    matches!(s.get(i), None | Some(b' ' | b'\t')) || break_len(s, i) > 0
}

fn flow_indicator(c: u8) -> bool {
    matches!(c, b',' | b'[' | b']' | b'{' | b'}')
}

fn anchor_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

fn tag_char(c: u8) -> bool {
    anchor_char(c) || b";/?:@&=+$.%!~*'()<>".contains(&c) || c >= 0x80
}

pub(crate) fn check_depth(s: &[u8], limit: usize) -> Result<(), TooDeep> {
    let mut scan = Scan {
        s,
        i: 0,
        line_start: 0,
        levels: Vec::new(),
        pairs: 0,
        indents: Vec::new(),
        block: 0,
        key: None,
        key_peak: 0,
        limit,
    };
    if s.starts_with(b"\xEF\xBB\xBF") {
        scan.i = 3;
        scan.line_start = 3;
    }
    scan.run().map_err(|at| TooDeep {
        line: 1 + s[..at.min(s.len())].iter().filter(|&&b| b == b'\n').count(),
    })
}

impl Scan<'_> {
    fn column(&self) -> usize {
        self.i - self.line_start
    }

    /// Past the line break at `self.i`.
    fn newline(&mut self) {
        self.i += break_len(self.s, self.i).max(1);
        self.line_start = self.i;
        if self.levels.is_empty() {
            self.key = None;
        }
    }

    fn too_deep(&self) -> bool {
        self.depth() > self.limit
    }

    fn depth(&self) -> usize {
        self.block + self.levels.len() + self.pairs
    }

    /// libyaml's `roll_indent`: a block collection opens at `column`.
    fn roll(&mut self, column: usize, sequence: bool) -> Result<(), usize> {
        match self.indents.last_mut() {
            Some(top) if column < top.column => return Ok(()),
            Some(top) if column == top.column => {
                if sequence && !top.indentless {
                    top.indentless = true;
                    self.block += 1;
                }
            }
            _ => {
                self.indents.push(Indent {
                    column,
                    indentless: false,
                });
                self.block += 1;
            }
        }
        if self.too_deep() {
            Err(self.i)
        } else {
            Ok(())
        }
    }

    fn open(&mut self, sequence: bool) -> Result<(), usize> {
        if self.levels.len() >= self.limit {
            return Err(self.i);
        }
        self.levels.push(Level {
            sequence,
            pair: false,
            entry_peak: 0,
            peak: 0,
        });
        let depth = self.depth();
        let top = self.levels.last_mut().expect("just pushed");
        top.entry_peak = depth;
        top.peak = depth;
        if self.too_deep() {
            Err(self.i)
        } else {
            Ok(())
        }
    }

    fn close(&mut self) {
        self.end_pair();
        if let Some(done) = self.levels.pop() {
            match self.levels.last_mut() {
                Some(parent) => {
                    parent.entry_peak = parent.entry_peak.max(done.peak);
                    parent.peak = parent.peak.max(done.peak);
                }
                None => self.key_peak = self.key_peak.max(done.peak),
            }
        }
    }

    fn end_pair(&mut self) {
        if let Some(top) = self.levels.last_mut() {
            if top.pair {
                top.pair = false;
                self.pairs -= 1;
            }
        }
    }

    /// `:` or `?` in flow context: inside a sequence, the entry becomes a
    /// mapping of one pair, one level deeper than it was counted.
    fn pair(&mut self) -> Result<(), usize> {
        let limit = self.limit;
        match self.levels.last_mut() {
            Some(top) if top.sequence && !top.pair => {
                if top.entry_peak + 1 > limit {
                    return Err(self.i);
                }
                top.pair = true;
                top.peak = top.peak.max(top.entry_peak + 1);
                self.pairs += 1;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// libyaml's `unroll_indent`, at every token of block context.
    fn unroll(&mut self, column: usize, block_entry: bool) {
        while let Some(top) = self.indents.last() {
            if top.column > column {
                self.block -= 1 + usize::from(top.indentless);
                self.indents.pop();
            } else {
                break;
            }
        }
        if let Some(top) = self.indents.last_mut() {
            if top.column == column && top.indentless && !block_entry {
                top.indentless = false;
                self.block -= 1;
            }
        }
    }

    /// libyaml's `parser->indent`: the innermost block column, or -1.
    fn indent(&self) -> isize {
        self.indents.last().map_or(-1, |t| t.column as isize)
    }

    /// Skips blanks, breaks and comments up to the next token.
    fn skip_to_token(&mut self) {
        while let Some(&c) = self.s.get(self.i) {
            match c {
                b' ' | b'\t' => self.i += 1,
                b'#' => self.skip_line(),
                // libyaml skips a byte order mark at the start of any line.
                0xEF if self.i == self.line_start && self.s[self.i..].starts_with(b"\xEF\xBB\xBF") => self.i += 3,
                _ if break_len(self.s, self.i) > 0 => self.newline(),
                _ => break,
            }
        }
    }

    /// To the break that ends this line (not past it).
    fn skip_line(&mut self) {
        while self.i < self.s.len() {
            match self.s[self.i] {
                b'\n' | b'\r' => return,
                0xC2 | 0xE2 if break_len(self.s, self.i) > 0 => return,
                _ => self.i += 1,
            }
        }
    }

    fn run(&mut self) -> Result<(), usize> {
        loop {
            self.skip_to_token();
            let Some(&c) = self.s.get(self.i) else {
                return Ok(());
            };
            let column = self.column();
            let block = self.levels.is_empty();
            if block && column == 0 && self.document_line(c) {
                continue;
            }
            if block {
                let entry = c == b'-' && blankz(self.s, self.i + 1);
                self.unroll(column, entry);
            }
            self.token(c, column, block)?;
        }
    }

    /// A document boundary (`---`, `...`) or a directive (`%`) at the start
    /// of a line outside flow collections: passed over; whether it was one.
    fn document_line(&mut self, c: u8) -> bool {
        if self.document_marker() {
            // A document boundary closes every block collection.
            self.unroll(0, false);
            self.indents.clear();
            self.block = 0;
            self.i += 3;
            self.key = None;
            return true;
        }
        if c == b'%' {
            self.skip_line();
            return true;
        }
        false
    }

    /// `---` or `...` at `self.i`, then a blank, a break or the end.
    fn document_marker(&self) -> bool {
        matches!(self.s.get(self.i..self.i + 3), Some(b"---" | b"...")) && blankz(self.s, self.i + 3)
    }

    /// The token that starts with `c` at `column`; `block`: outside flow
    /// collections.
    fn token(&mut self, c: u8, column: usize, block: bool) -> Result<(), usize> {
        // A node may start here: it is the simple key if `:` follows.
        let node_start = |scan: &mut Self| {
            if block && scan.key.is_none() {
                scan.key = Some(column);
                scan.key_peak = 0;
            }
        };
        match c {
            b'[' | b'{' => {
                node_start(self);
                self.i += 1;
                self.open(c == b'[')?;
            }
            b']' | b'}' => {
                self.close();
                self.i += 1;
            }
            b',' => {
                self.end_pair();
                let depth = self.depth();
                if let Some(top) = self.levels.last_mut() {
                    top.entry_peak = depth;
                }
                self.i += 1;
            }
            b'-' if blankz(self.s, self.i + 1) => {
                if block {
                    self.roll(column, true)?;
                    self.key = None;
                }
                self.i += 1;
            }
            b'?' | b':' if !block => {
                self.pair()?;
                self.i += 1;
            }
            b'?' if blankz(self.s, self.i + 1) => {
                self.roll(column, false)?;
                self.key = None;
                self.i += 1;
            }
            b':' if blankz(self.s, self.i + 1) => self.block_value(column)?,
            b'*' | b'&' => {
                node_start(self);
                self.i += 1;
                self.skip_while(anchor_char);
            }
            b'!' => {
                node_start(self);
                // Brackets end a tag here (they are structure unless a
                // verbatim tag holds them, and then they are counted:
                // more, never less).
                self.i += 1;
                self.skip_while(tag_char);
            }
            b'|' | b'>' if block => self.block_scalar(),
            b'\'' => {
                node_start(self);
                self.single_quoted();
            }
            b'"' => {
                node_start(self);
                self.double_quoted();
            }
            _ => {
                node_start(self);
                self.plain();
            }
        }
        Ok(())
    }

    /// `: ` outside flow collections: the simple key's column; without one
    /// libyaml rolls at the `:` itself.
    fn block_value(&mut self, column: usize) -> Result<(), usize> {
        let before = self.block;
        self.roll(self.key.unwrap_or(column), false)?;
        if self.key.is_some() && self.key_peak + (self.block - before) > self.limit {
            return Err(self.i);
        }
        self.key = None;
        self.i += 1;
        Ok(())
    }

    fn skip_while(&mut self, wanted: fn(u8) -> bool) {
        while self.s.get(self.i).is_some_and(|&b| wanted(b)) {
            self.i += 1;
        }
    }
}

mod scalars;

#[cfg(test)]
mod tests;
