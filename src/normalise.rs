//! The fast path of parse-back normalisation: rendered template text in,
//! the same YAML the general path (`serde_norway` parse, `yaml` emit) would
//! write for it out, or `None`.
//!
//! Parsing a rendered object with a general YAML parser and emitting it
//! again was four fifths of meshfed's time. Templates render a small subset
//! of YAML: block mappings and sequences whose scalars are plain words,
//! integers, booleans, and JSON strings, maps and lists (minijinja writes
//! every `{{ value }}` of a `.yaml` template as JSON). This module reads and
//! writes exactly that subset. Anything else — comments, anchors, tags,
//! multi-line or oddly spelled scalars, duplicate keys, strings that need
//! quoting it does not know — makes it return `None`, and the caller takes
//! the general path, which is also the one that reports broken templates.
//! Tests check both paths give the same bytes.

use std::borrow::Cow;

/// A parsed node: the scalar kinds are the only ones the fast path accepts.
#[derive(Debug, PartialEq)]
enum Node<'a> {
    /// A plain scalar already known to read back as this string.
    Plain(&'a str),
    /// A quoted string: how to write it is decided when it is written.
    Str(Cow<'a, str>),
    /// A decimal integer, kept as written (no sign or leading zero oddities).
    Int(&'a str),
    Bool(bool),
    Map(Vec<(Cow<'a, str>, Node<'a>)>),
    Seq(Vec<Node<'a>>),
}

/// A rendered object read by the fast path, and its normalised text.
pub struct Normalised<'a> {
    pub yaml: String,
    root: Vec<(Cow<'a, str>, Node<'a>)>,
}

impl Normalised<'_> {
    /// The root's `kind`, if it is a string.
    pub fn kind(&self) -> Option<&str> {
        self.root.iter().find(|(k, _)| k == "kind").and_then(|(_, v)| match v {
            Node::Str(s) => Some(s.as_ref()),
            Node::Plain(s) => Some(*s),
            _ => None,
        })
    }

    /// The object as JSON, for checks against Kubernetes types.
    pub fn to_json(&self) -> serde_json::Value {
        map_json(&self.root)
    }
}

fn map_json(entries: &[(Cow<'_, str>, Node<'_>)]) -> serde_json::Value {
    serde_json::Value::Object(entries.iter().map(|(k, v)| (k.to_string(), v.to_json())).collect())
}

impl Node<'_> {
    fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Node::Plain(s) => J::String((*s).to_owned()),
            Node::Str(s) => J::String(s.to_string()),
            // `is_decimal` keeps these within i64.
            Node::Int(i) => i.parse::<i64>().map_or(J::Null, J::from),
            Node::Bool(b) => J::Bool(*b),
            Node::Map(m) => map_json(m),
            Node::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
        }
    }
}

/// The fast path's reading of a rendered object whose root is a mapping,
/// or `None` when it cannot vouch for it.
pub fn normalise(text: &str) -> Option<Normalised<'_>> {
    // Comments, tabs and carriage returns are left to the general parser.
    if has_comment_tab_or_cr(text.as_bytes()) {
        return None;
    }
    let mut lines = Vec::with_capacity(32);
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', text.as_bytes()).chain([text.len()]);
    for end in ends {
        let line = &text[start..end];
        start = end + 1;
        let content = line.trim_start_matches(' ');
        if content.is_empty() {
            continue;
        }
        // Directives and document markers too.
        if content.starts_with('%') {
            return None;
        }
        let indent = line.len() - content.len();
        if indent == 0 && (content.starts_with("---") || content.starts_with("...")) {
            return None;
        }
        lines.push(Line { indent, content });
    }
    let first = lines.first()?;
    if first.indent != 0 || is_seq_item(first.content) {
        return None;
    }
    let mut parser = Parser { lines, pos: 0 };
    let root = parser.map(0)?;
    if parser.pos != parser.lines.len() {
        return None;
    }
    let Node::Map(root) = root else { return None };
    let mut yaml = String::with_capacity(text.len() + text.len() / 8);
    emit_entries(&root, 0, false, &mut yaml)?;
    Some(Normalised { yaml, root })
}

/// Whether `bytes` holds a `#`, a tab or a CR (memchr's vector search: a
/// byte-wise `any` was 4% of `generate` at 20x100).
fn has_comment_tab_or_cr(bytes: &[u8]) -> bool {
    memchr::memchr3(b'#', b'\t', b'\r', bytes).is_some()
}

struct Line<'a> {
    indent: usize,
    content: &'a str,
}

struct Parser<'a> {
    lines: Vec<Line<'a>>,
    pos: usize,
}

fn is_seq_item(content: &str) -> bool {
    content == "-" || content.starts_with("- ")
}

impl<'a> Parser<'a> {
    fn map(&mut self, indent: usize) -> Option<Node<'a>> {
        let mut entries: Vec<(Cow<'a, str>, Node<'a>)> = Vec::with_capacity(8);
        while let Some(line) = self.lines.get(self.pos) {
            if line.indent < indent || (line.indent == indent && is_seq_item(line.content)) {
                break;
            }
            if line.indent > indent {
                return None;
            }
            let (key, rest) = split_key(line.content)?;
            if entries.iter().any(|(k, _)| *k == key) {
                return None;
            }
            self.pos += 1;
            let value = if rest.is_empty() {
                let next = self.lines.get(self.pos)?;
                if next.indent > indent {
                    self.block(next.indent)?
                } else if next.indent == indent && is_seq_item(next.content) {
                    self.seq(indent)?
                } else {
                    return None; // a null value
                }
            } else {
                self.scalar_line(rest, indent)?
            };
            entries.push((key, value));
        }
        Some(Node::Map(entries))
    }

    fn seq(&mut self, indent: usize) -> Option<Node<'a>> {
        let mut items = Vec::with_capacity(4);
        while let Some(line) = self.lines.get(self.pos) {
            if line.indent != indent || !is_seq_item(line.content) {
                if line.indent > indent {
                    return None;
                }
                break;
            }
            let rest = line.content[1..].trim_start_matches(' ');
            if rest.is_empty() {
                return None;
            }
            let column = indent + (line.content.len() - rest.len());
            if is_seq_item(rest) || split_key(rest).is_some() {
                // A compact nested collection: read it as if it started on its own line.
                self.lines[self.pos] = Line {
                    indent: column,
                    content: rest,
                };
                items.push(self.block(column)?);
            } else {
                self.pos += 1;
                items.push(self.scalar_line(rest, indent)?);
            }
        }
        Some(Node::Seq(items))
    }

    fn block(&mut self, indent: usize) -> Option<Node<'a>> {
        if is_seq_item(self.lines.get(self.pos)?.content) {
            self.seq(indent)
        } else {
            self.map(indent)
        }
    }

    /// An inline value; nothing may continue it on a more indented line.
    fn scalar_line(&mut self, text: &'a str, indent: usize) -> Option<Node<'a>> {
        if self.lines.get(self.pos).is_some_and(|l| l.indent > indent) {
            return None;
        }
        let text = text.trim_end_matches(' ');
        if text.starts_with(['"', '{', '[']) {
            let mut flow = Flow { s: text, pos: 0 };
            let node = flow.value()?;
            flow.skip_ws();
            return (flow.pos == text.len()).then_some(node);
        }
        plain(text)
    }
}

/// `key: rest` or `key:` with a plain or JSON-quoted key.
fn split_key(content: &str) -> Option<(Cow<'_, str>, &str)> {
    let (key, after) = if content.starts_with('"') {
        let mut flow = Flow { s: content, pos: 0 };
        let key = flow.string()?;
        (key, &content[flow.pos..])
    } else {
        let bytes = content.as_bytes();
        let colon = (0..bytes.len()).find(|&i| bytes[i] == b':' && bytes.get(i + 1).is_none_or(|b| *b == b' '))?;
        (Cow::Borrowed(&content[..colon]), &content[colon..])
    };
    // Every key is checked here, so writing it needs no second look.
    if key.len() > 128 || !is_plain_string(&key) {
        return None;
    }
    let rest = after.strip_prefix(':')?;
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    Some((key, rest.trim_start_matches(' ')))
}

fn plain(text: &str) -> Option<Node<'_>> {
    match text {
        "true" => Some(Node::Bool(true)),
        "false" => Some(Node::Bool(false)),
        _ if is_decimal(text) => Some(Node::Int(text)),
        _ if is_plain_string(text) => Some(Node::Plain(text)),
        _ => None,
    }
}

/// A decimal integer that every YAML reader and writer keeps as written.
fn is_decimal(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty()
        && digits.len() <= 18
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && s != "-0"
}

/// Characters a plain scalar may hold here: no spaces, quotes, indicators or
/// anything outside ASCII, so reading and writing it is unambiguous.
fn safe_chars(s: &str) -> bool {
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) if first.is_ascii_alphanumeric() && *last != b':' => {}
        _ => return false,
    }
    bytes.iter().all(|&b| SAFE[b as usize])
}

/// The bytes `safe_chars` allows.
static SAFE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'/' | b'=' | b'+' | b':' | b'-');
        b += 1;
    }
    table
};

/// A string written without quotes, read back as the same string by every
/// reader, YAML 1.1 ones included (`yaml::reads_as_string_everywhere`).
fn is_plain_string(s: &str) -> bool {
    safe_chars(s) && crate::yaml::reads_as_string_everywhere(s)
}

/// The JSON that minijinja writes for a value: strings, integers, booleans,
/// objects and arrays (YAML reads JSON the same way).
struct Flow<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Flow<'a> {
    fn skip_ws(&mut self) {
        while self.s.as_bytes().get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
    }

    fn value(&mut self) -> Option<Node<'a>> {
        self.skip_ws();
        match *self.s.as_bytes().get(self.pos)? {
            b'"' => self.string().map(Node::Str),
            b'{' => {
                self.pos += 1;
                let mut entries: Vec<(Cow<'a, str>, Node<'a>)> = Vec::new();
                if self.eat(b'}') {
                    return Some(Node::Map(entries));
                }
                loop {
                    self.skip_ws();
                    let key = self.string()?;
                    if key.len() > 128 || !is_plain_string(&key) {
                        return None;
                    }
                    if entries.iter().any(|(k, _)| *k == key) || !self.eat(b':') {
                        return None;
                    }
                    let value = self.value()?;
                    entries.push((key, value));
                    if self.eat(b'}') {
                        return Some(Node::Map(entries));
                    }
                    if !self.eat(b',') {
                        return None;
                    }
                }
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                if self.eat(b']') {
                    return Some(Node::Seq(items));
                }
                loop {
                    items.push(self.value()?);
                    if self.eat(b']') {
                        return Some(Node::Seq(items));
                    }
                    if !self.eat(b',') {
                        return None;
                    }
                }
            }
            _ => {
                let rest = &self.s[self.pos..];
                let end = rest.find([',', '}', ']', ' ']).unwrap_or(rest.len());
                let word = &rest[..end];
                self.pos += end;
                match word {
                    "true" => Some(Node::Bool(true)),
                    "false" => Some(Node::Bool(false)),
                    _ if is_decimal(word) => Some(Node::Int(word)),
                    _ => None,
                }
            }
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        self.skip_ws();
        if self.s.as_bytes().get(self.pos) == Some(&b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// A JSON string starting at `pos`; escapes are those JSON and YAML share.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let bytes = self.s.as_bytes();
        if bytes.get(self.pos) != Some(&b'"') {
            return None;
        }
        let start = self.pos + 1;
        let mut i = memchr::memchr2(b'"', b'\\', &bytes[start..]).map_or(bytes.len(), |n| start + n);
        if bytes.get(i) == Some(&b'"') {
            self.pos = i + 1;
            return Some(Cow::Borrowed(&self.s[start..i]));
        }
        let mut out = String::from(&self.s[start..i]);
        loop {
            match *bytes.get(i)? {
                b'"' => break,
                b'\\' => {
                    let c = match *bytes.get(i + 1)? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hex = self.s.get(i + 2..i + 6)?;
                            // from_str_radix also takes a sign ("\u+04A"); YAML does not.
                            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                                return None;
                            }
                            let code = u32::from_str_radix(hex, 16).ok()?;
                            i += 4;
                            // Surrogate pairs are left to the general parser.
                            char::from_u32(code)?
                        }
                        _ => return None,
                    };
                    out.push(c);
                    i += 2;
                }
                _ => {
                    let ch = self.s[i..].chars().next()?;
                    out.push(ch);
                    i += ch.len_utf8();
                }
            }
        }
        self.pos = i + 1;
        Some(Cow::Owned(out))
    }
}

/// Writes a scalar; a multi-line string becomes a literal block whose lines
/// are indented by `block_indent`.
fn scalar(node: &Node<'_>, block_indent: usize, out: &mut String) -> Option<()> {
    match node {
        Node::Str(s) if s.contains('\n') => {
            let body = s.strip_suffix('\n').filter(|b| literal_ok(b))?;
            out.push('|');
            for line in body.split('\n') {
                out.push('\n');
                pad(out, block_indent);
                out.push_str(line);
            }
        }
        Node::Plain(s) => out.push_str(s),
        Node::Str(s) if is_plain_string(s) => out.push_str(s),
        // Words YAML would read as something else are single-quoted.
        Node::Str(s) if s.is_empty() || safe_chars(s) => {
            out.push('\'');
            out.push_str(s);
            out.push('\'');
        }
        Node::Int(i) => out.push_str(i),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        _ => return None,
    }
    Some(())
}

/// Text (without its one final newline) YAML writes as a plain `|` block:
/// printable ASCII lines, none empty, none starting or ending with a space.
fn literal_ok(body: &str) -> bool {
    body.split('\n').all(|line| {
        !line.is_empty()
            && !line.starts_with(' ')
            && !line.ends_with(' ')
            && line.bytes().all(|b| (0x20..0x7f).contains(&b))
    })
}

fn pad(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

/// Mapping entries at `indent`; the first one continues the current line
/// when `inline` (a mapping inside a sequence item).
fn emit_entries(entries: &[(Cow<'_, str>, Node<'_>)], indent: usize, inline: bool, out: &mut String) -> Option<()> {
    for (i, (key, value)) in entries.iter().enumerate() {
        if !(inline && i == 0) {
            pad(out, indent);
        }
        out.push_str(key);
        out.push(':');
        match value {
            Node::Map(m) if m.is_empty() => out.push_str(" {}\n"),
            Node::Seq(s) if s.is_empty() => out.push_str(" []\n"),
            Node::Map(m) => {
                out.push('\n');
                emit_entries(m, indent + 2, false, out)?;
            }
            Node::Seq(s) => {
                out.push('\n');
                emit_items(s, indent, out)?;
            }
            _ => {
                out.push(' ');
                scalar(value, indent + 2, out)?;
                out.push('\n');
            }
        }
    }
    Some(())
}

fn emit_items(items: &[Node<'_>], indent: usize, out: &mut String) -> Option<()> {
    for item in items {
        pad(out, indent);
        out.push_str("- ");
        match item {
            Node::Map(m) if m.is_empty() => out.push_str("{}\n"),
            Node::Seq(s) if s.is_empty() => out.push_str("[]\n"),
            Node::Map(m) => emit_entries(m, indent + 2, true, out)?,
            Node::Seq(_) => return None,
            _ => {
                scalar(item, indent + 2, out)?;
                out.push('\n');
            }
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn general(text: &str) -> String {
        let value: serde_norway::Value = serde_norway::from_str(text).unwrap();
        crate::yaml::to_string(&value).unwrap()
    }

    /// The fast path either declines or writes exactly what the general path writes.
    fn same(text: &str) -> bool {
        match normalise(text) {
            Some(fast) => {
                assert_eq!(fast.yaml, general(text), "input:\n{text}");
                true
            }
            None => false,
        }
    }

    #[test]
    fn matches_the_general_path_on_template_shapes() {
        let doc = r#"apiVersion: "networking.istio.io/v1"
kind: "ServiceEntry"
metadata:
  name: "prod-bar-xyz-cluster-b"
  labels: {"app.kubernetes.io/managed-by": "meshfed", "meshfed.io/federation": "prod"}
  annotations: {}
spec:
  hosts:
  - "bar.xyz.svc.cluster-b.local"
  location: MESH_INTERNAL
  ports:
  - number: 8080
    name: "http"
    protocol: "HTTP"
  - number: 9090
    name: grpc-api
    protocol: GRPC
  resolution: STATIC
  endpoints:
  - address: "203.0.113.20"
    ports:
      http: 15443
      "grpc-api": 15443
  - address: gw.example.com
    ports: {"a": 1, "b": [1, 2, {"c": true}]}
  subjectAltNames: ["spiffe://cluster-b.local/ns/xyz/sa/bar"]
  empty: []
  quoted: ["true", "8080", "010", "1.5", "1e3", "null", "", "0x1f", "inf", "yes", "a\u0041b"]
  edges: ["0xzz", "0x+5", "0o9", "1e999", "1.5e400", "1e308", "1.2.3", "12abc", "340282366920938463463374607431768211456"]
"#;
        assert!(same(doc));
        // Digits past what a float holds (found by the normalise_differential
        // fuzz target): strings, quoted since YAML 1.1 reads any digits as a number.
        for digits in [40, 309, 310, 400] {
            let doc = format!("a: \"1{}\"\n", "0".repeat(digits - 1));
            assert!(same(&doc), "{digits} digits");
        }
    }

    #[test]
    fn the_scan_finds_a_comment_tab_or_cr_anywhere() {
        for len in [1, 63, 64, 65, 200] {
            for at in 0..len {
                for b in [b'#', b'\t', b'\r'] {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    assert!(has_comment_tab_or_cr(&bytes), "{len} {at} {b}");
                }
            }
            assert!(!has_comment_tab_or_cr(&vec![b'a'; len]));
        }
    }

    #[test]
    fn declines_what_it_does_not_know() {
        for text in [
            "a: b # comment\n",
            "a: &x b\nc: *x\n",
            // A sign in a \u escape (found by the normalise_differential fuzz target).
            "a: \"x\\u+04Ay\"\n",
            "a: !tag b\n",
            "a: |\n  text\n",
            "a: b\na: c\n",
            "- a\n",
            "a:\n",
            "a: b\n  c\n",
            "a: x y\n",
            "a: 1.5\n",
            "a: \"x\" y\n",
            "---\na: b\n",
            "a: {\"k\": null}\n",
            "a: 'single'\n",
        ] {
            assert!(normalise(text).is_none(), "{text}");
        }
    }

    #[test]
    fn writes_multi_line_strings_as_literal_blocks() {
        let pem = "-----BEGIN CERTIFICATE-----\\nMIIB+DCC/Q==\\n-----END CERTIFICATE-----\\n";
        assert!(same(&format!(
            "a: \"{pem}\"\nb:\n- pem: \"{pem}\"\n  c: d\n- \"{pem}\"\n"
        )));
        for odd in ["x\\n\\ny\\n", "x \\ny\\n", "x\\ny", " x\\n", "x\\n\\n"] {
            assert!(normalise(&format!("a: \"{odd}\"\n")).is_none(), "{odd}");
        }
    }

    #[test]
    fn reads_nested_sequences_and_maps() {
        assert!(same("a:\n  b:\n  - c: 1\n    d:\n    - e\n    - f\n  g: h\n"));
        assert!(same("a:\n- b\n- c: d\n  e: [\"x\"]\nf: g\n"));
        assert!(same("a:\n  - b\n  - c\n"));
    }

    #[test]
    fn names_the_kind_and_converts_to_json() {
        let text = "apiVersion: v1\nkind: \"Secret\"\ndata: {\"a\": \"YQ==\"}\nlist: [1, true]\n";
        let fast = normalise(text).unwrap();
        assert_eq!(fast.kind(), Some("Secret"));
        let general: serde_norway::Value = serde_norway::from_str(text).unwrap();
        assert_eq!(fast.to_json(), serde_json::to_value(&general).unwrap());
    }
}
