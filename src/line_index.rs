//! Maps spec field paths (`spec.clusters[1].rootCA.files[0]`) to the line
//! they stand on, so a diagnostic can say `federation.yaml:14`.
//!
//! serde does not carry positions, so this walks the YAML event stream of
//! the same text once more. It is only run when there is something to
//! report. Aliases are not followed, so it costs no more than the text.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser};

/// Field path → 1-based line of the key (for mapping entries) or of the item
/// (for sequence entries).
#[derive(Debug, Default)]
pub struct LineIndex {
    lines: HashMap<String, usize>,
}

enum Frame {
    Map {
        path: String,
        key: Option<String>,
    },
    Seq {
        path: String,
        next: usize,
    },
    /// A complex key or something else we do not address.
    Opaque,
}

/// Appends a mapping key to a path.
pub fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Appends a sequence index to a path.
pub fn item(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

impl LineIndex {
    /// Indexes the first document of `text`; a text that does not parse gives
    /// whatever was indexed up to the error.
    pub fn build(text: &str) -> Self {
        let mut lines = HashMap::new();
        let mut stack: Vec<Frame> = Vec::new();
        for event in Parser::new_from_str(text) {
            let Ok((event, span)) = event else { break };
            let line = span.start.line();
            let opens = matches!(event, Event::MappingStart(..) | Event::SequenceStart(..));
            let is_node = opens || matches!(event, Event::Scalar(..) | Event::Alias(..));
            if matches!(event, Event::DocumentEnd) {
                break;
            }
            if matches!(event, Event::MappingEnd | Event::SequenceEnd) {
                stack.pop();
                continue;
            }
            if !is_node {
                continue;
            }
            // Where does this node sit?
            let node_path = match stack.last_mut() {
                None => Some(String::new()),
                Some(Frame::Opaque) => None,
                Some(Frame::Seq { path, next }) => {
                    let p = item(path, *next);
                    *next += 1;
                    lines.entry(p.clone()).or_insert(line);
                    Some(p)
                }
                Some(Frame::Map { path, key }) => match key.take() {
                    None => {
                        // A key: record it and wait for its value.
                        if let Event::Scalar(k, ..) = &event {
                            let p = child(path, k);
                            lines.entry(p).or_insert(line);
                            *key = Some(k.to_string());
                            continue;
                        }
                        *key = Some(String::new());
                        None
                    }
                    Some(k) if k.is_empty() => None,
                    Some(k) => Some(child(path, &k)),
                },
            };
            if opens {
                stack.push(match (node_path, &event) {
                    (Some(path), Event::MappingStart(..)) => Frame::Map { path, key: None },
                    (Some(path), _) => Frame::Seq { path, next: 0 },
                    (None, _) => Frame::Opaque,
                });
            }
        }
        LineIndex { lines }
    }

    /// The line of `path`, or of its nearest ancestor that has one.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(line) = self.lines.get(p) {
                return Some(*line);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "apiVersion: x\nspec:\n  clusters:\n  - name: a\n    rootCA:\n      files: [a.pem, b.pem]\n  - name: b\n    exports:\n    - service: foo\n";

    #[test]
    fn finds_keys_and_items() {
        let idx = LineIndex::build(TEXT);
        assert_eq!(idx.line_of("apiVersion"), Some(1));
        assert_eq!(idx.line_of("spec.clusters"), Some(3));
        assert_eq!(idx.line_of("spec.clusters[0]"), Some(4));
        assert_eq!(idx.line_of("spec.clusters[0].rootCA.files[1]"), Some(6));
        assert_eq!(idx.line_of("spec.clusters[1].name"), Some(7));
        assert_eq!(idx.line_of("spec.clusters[1].exports[0].service"), Some(9));
    }

    #[test]
    fn falls_back_to_the_nearest_ancestor() {
        let idx = LineIndex::build(TEXT);
        assert_eq!(idx.line_of("spec.clusters[1].exports[0].ports"), Some(9));
        assert_eq!(idx.line_of("spec.clusters[1].domain"), Some(7));
    }
}
