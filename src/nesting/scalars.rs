//! The scalars of a YAML text, skipped: what is inside one (quoted, plain
//! across lines, or a `|`/`>` block) is never structure, so the scan passes
//! over it by libyaml's rules for where it ends, counting nothing.

use super::{blankz, break_len, flow_indicator, Scan};

impl Scan<'_> {
    pub(super) fn single_quoted(&mut self) {
        self.i += 1;
        while let Some(&c) = self.s.get(self.i) {
            match c {
                b'\'' if self.s.get(self.i + 1) == Some(&b'\'') => self.i += 2,
                b'\'' => {
                    self.i += 1;
                    return;
                }
                _ if break_len(self.s, self.i) > 0 => self.newline(),
                _ => self.i += 1,
            }
        }
    }

    pub(super) fn double_quoted(&mut self) {
        self.i += 1;
        while let Some(&c) = self.s.get(self.i) {
            match c {
                b'\\' => {
                    self.i += 1;
                    if break_len(self.s, self.i) > 0 {
                        self.newline();
                    } else if self.i < self.s.len() {
                        self.i += 1;
                    }
                }
                b'"' => {
                    self.i += 1;
                    return;
                }
                _ if break_len(self.s, self.i) > 0 => self.newline(),
                _ => self.i += 1,
            }
        }
    }

    /// A plain scalar, across lines as libyaml continues it: in block
    /// context while the next line is indented past `parser->indent`.
    pub(super) fn plain(&mut self) {
        let block = self.levels.is_empty();
        loop {
            // Within a line: up to `: `, or (in flow) a flow indicator.
            while let Some(&c) = self.s.get(self.i) {
                // Most bytes of a plain scalar can end nothing (a quarter of the
                // scan's time at 20x100): passed over without the checks below.
                if !matches!(c, b' ' | b'\t' | b'\r' | b'\n' | 0xC2 | 0xE2 | b':') && (block || !flow_indicator(c)) {
                    self.i += 1;
                    continue;
                }
                if blankz(self.s, self.i) {
                    break;
                }
                let next = self.s.get(self.i + 1).copied();
                if c == b':'
                    && (blankz(self.s, self.i + 1) || !block && next.is_some_and(|b| flow_indicator(b) || b == b'?'))
                {
                    return;
                }
                if !block && flow_indicator(c) {
                    return;
                }
                self.i += 1;
            }
            // Blanks and breaks: does the scalar go on?
            let mut broke = false;
            while let Some(&c) = self.s.get(self.i) {
                match c {
                    b' ' | b'\t' => self.i += 1,
                    _ if break_len(self.s, self.i) > 0 => {
                        self.newline();
                        broke = true;
                    }
                    _ => break,
                }
            }
            let Some(&c) = self.s.get(self.i) else {
                return;
            };
            if broke && block && (self.column() as isize) < self.indent() + 1 {
                return;
            }
            if self.column() == 0 && self.document_marker() {
                return;
            }
            if c == b'#' {
                return;
            }
        }
    }

    /// Leading spaces of the line at `self.i`, and whether nothing else is on it.
    fn line_indent(&self) -> (usize, bool) {
        let rest = &self.s[self.i..];
        let spaces = rest.iter().take_while(|&&b| b == b' ').count();
        (
            spaces,
            break_len(self.s, self.i + spaces) > 0 || self.i + spaces >= self.s.len(),
        )
    }

    /// To the start of the next line; false at the end of the input.
    fn next_line(&mut self) -> bool {
        self.skip_line();
        if self.i >= self.s.len() {
            return false;
        }
        self.newline();
        true
    }

    /// A block scalar (`|` or `>` and its header), then every line libyaml
    /// reads as its content, skipped.
    pub(super) fn block_scalar(&mut self) {
        self.i += 1;
        let mut explicit = None;
        while let Some(&c) = self.s.get(self.i) {
            match c {
                b'+' | b'-' => self.i += 1,
                b'1'..=b'9' => {
                    explicit = Some(usize::from(c - b'0'));
                    self.i += 1;
                }
                _ => break,
            }
        }
        // The rest of the header line (blanks, a comment) is no content.
        if !self.next_line() {
            return;
        }
        let parent = self.indent();
        let indent = match explicit {
            // libyaml: parser->indent + the indicator (the indicator alone at top level).
            Some(d) => usize::try_from(parent).map_or(d, |p| p + d),
            // libyaml: the deepest of the leading empty lines and the first
            // line with content, and at least one past the parent.
            None => {
                let mut deepest = 0;
                let mut p = self.i;
                loop {
                    let spaces = self.s[p..].iter().take_while(|&&b| b == b' ').count();
                    deepest = deepest.max(spaces);
                    match break_len(self.s, p + spaces) {
                        0 => break,
                        n => p += spaces + n,
                    }
                }
                deepest.max(usize::try_from(parent + 1).unwrap_or(0).max(1))
            }
        };
        // Content: every line indented that far, and every empty one.
        loop {
            let (spaces, empty) = self.line_indent();
            if !(empty || spaces >= indent) || !self.next_line() {
                return;
            }
        }
    }
}
