//! Maps spec field paths (`spec.clusters[1].rootCA.files[0]`) to the line
//! they stand on, so a diagnostic can say `federation.yaml:14`.
//!
//! serde does not carry positions, so this walks the YAML event stream of
//! the same text once more. It is only run when there is something to
//! report, and then, where the paths to report are known in advance
//! ([`LineIndex::for_paths`]), it records only those paths and their
//! ancestors and stops once every one of them is found. Aliases are not
//! followed, so it costs no more than the text.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use saphyr_parser::{Event, Parser};

/// Field path → 1-based line of the key (for mapping entries) or of the item
/// (for sequence entries).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LineIndex {
    lines: HashMap<String, usize>,
}

/// An open collection; `len` is the length of its path in the path buffer.
enum Frame {
    Map {
        len: usize,
        /// After a key: whether its value is addressed (a complex or empty
        /// key's is not).
        value: Option<bool>,
    },
    Seq {
        len: usize,
        next: usize,
    },
    /// A complex key or something else we do not address.
    Opaque,
}

/// The paths [`LineIndex::for_paths`] is asked for, and every path
/// `line_of` may look up for them (themselves included).
struct Wanted<'p> {
    paths: HashSet<&'p str>,
    ancestors: HashSet<&'p str>,
    /// Every item of this sequence is wanted too, however many
    /// ([`LineIndex::for_items`]); its path is among `ancestors`.
    items_of: Option<&'p str>,
}

impl Wanted<'_> {
    /// Whether `path` is recorded: a wanted path, an ancestor of one, or an
    /// item of `items_of`.
    fn records(&self, path: &str) -> bool {
        self.ancestors.contains(path) || self.items_of.is_some_and(|seq| is_item_of(path, seq))
    }
}

/// Whether `path` is `sequence[N]`.
fn is_item_of(path: &str, sequence: &str) -> bool {
    (path.strip_prefix(sequence))
        .and_then(|rest| rest.strip_prefix('['))
        .and_then(|rest| rest.strip_suffix(']'))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// What a scan has recorded so far.
struct Found<'w, 'p> {
    lines: HashMap<String, usize>,
    /// `None`: every path is wanted.
    wanted: Option<&'w Wanted<'p>>,
    /// How many of the wanted paths themselves are still to be found.
    missing: usize,
}

impl Found<'_, '_> {
    /// Records the first line of a path, if it is wanted.
    fn record(&mut self, path: &str, line: usize) {
        if self.wanted.is_some_and(|w| !w.records(path)) || self.lines.contains_key(path) {
            return;
        }
        self.lines.insert(path.to_owned(), line);
        if self.wanted.is_some_and(|w| w.paths.contains(path)) {
            self.missing -= 1;
        }
    }

    /// Whether anything inside the collection at `path` may be recorded.
    /// The ancestors are closed under taking a parent (every cut at `.` or
    /// `[`), so a path outside them has no descendant inside them: its
    /// subtree is only walked through, without building or looking up a
    /// path for each node (at 20x100, where only the clusters are wanted,
    /// that was a sixth of the scan).
    fn wants_inside(&self, path: &str) -> bool {
        path.is_empty() || self.wanted.is_none_or(|w| w.ancestors.contains(path))
    }
}

impl<'p> Wanted<'p> {
    /// `paths` and their ancestors (every cut at `.` or `[`), and the items of `items_of`.
    fn of(paths: impl IntoIterator<Item = &'p str>, items_of: Option<&'p str>) -> Self {
        let mut wanted = Wanted {
            paths: HashSet::new(),
            ancestors: HashSet::new(),
            items_of,
        };
        for path in paths {
            wanted.paths.insert(path);
            let mut p = path;
            wanted.ancestors.insert(p);
            while let Some(cut) = p.rfind(['.', '[']) {
                p = &p[..cut];
                wanted.ancestors.insert(p);
            }
        }
        wanted
    }
}

/// The `stop` of a scan that always runs to its end.
static NEVER: AtomicBool = AtomicBool::new(false);

/// The lines of a sequence's items, as [`LineIndex::for_items`] gives
/// them: being found by that scan of a copy of the text on a thread of its
/// own (stopped, within an event, when dropped unused), or already known.
pub struct ItemScan {
    sequence: String,
    stop: Arc<AtomicBool>,
    index: Option<Items>,
}

enum Items {
    Scanning(JoinHandle<LineIndex>),
    Known(LineIndex),
}

impl ItemScan {
    /// Starts indexing the items of `sequence` in `text`; `None` if no
    /// thread can be made.
    pub fn start(text: &str, sequence: &str) -> Option<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let (text, seq, flag) = (text.to_owned(), sequence.to_owned(), stop.clone());
        let index = std::thread::Builder::new()
            .spawn(move || LineIndex::for_items(&text, &seq, &flag))
            .ok()?;
        Some(ItemScan {
            sequence: sequence.to_owned(),
            stop,
            index: Some(Items::Scanning(index)),
        })
    }

    /// The items of `sequence` at the lines `index` already holds, as
    /// [`LineIndex::for_items`] would find them.
    pub fn known(sequence: &str, index: LineIndex) -> Self {
        ItemScan {
            sequence: sequence.to_owned(),
            stop: Arc::default(),
            index: Some(Items::Known(index)),
        }
    }

    /// Whether the index answers for `path` as the full index does: it is an item.
    pub fn covers(&self, path: &str) -> bool {
        is_item_of(path, &self.sequence)
    }

    /// The index, once the scan is done.
    pub fn join(mut self) -> LineIndex {
        match self.index.take().expect("joined once") {
            Items::Scanning(scan) => scan.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
            Items::Known(index) => index,
        }
    }
}

impl Drop for ItemScan {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Where the node `event` (on `line`) sits, below the innermost open
/// collection `frame`: `Some(true)` when its path is now in `path`,
/// `Some(false)` when it is not addressed, `None` when it was a mapping
/// key (recorded; its value comes next).
fn locate(
    frame: Option<&mut Frame>,
    event: &Event<'_>,
    path: &mut String,
    found: &mut Found<'_, '_>,
    line: usize,
) -> Option<bool> {
    Some(match frame {
        None => {
            path.clear();
            true
        }
        Some(Frame::Opaque) => false,
        Some(Frame::Seq { len, next }) => {
            path.truncate(*len);
            let _ = write!(path, "[{next}]");
            *next += 1;
            found.record(path, line);
            true
        }
        Some(Frame::Map { len, value }) => match value.take() {
            None => {
                // A key: record it and wait for its value.
                if let Event::Scalar(key, ..) = event {
                    path.truncate(*len);
                    if *len > 0 {
                        path.push('.');
                    }
                    path.push_str(key);
                    found.record(path, line);
                    *value = Some(!key.is_empty());
                    return None;
                }
                // A complex key: neither it nor its value is addressed.
                *value = Some(false);
                false
            }
            // `path` still ends with the key: its value comes next.
            Some(addressed) => addressed,
        },
    })
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
        Self::scan(text, None, &NEVER)
    }

    /// An index that answers [`line_of`](Self::line_of) for `paths` exactly
    /// as [`build`](Self::build)'s does, and knows nothing else: it records
    /// only these paths and the ancestors `line_of` falls back to, and stops
    /// reading once every path itself is recorded (a path keeps the line of
    /// its first occurrence, so nothing later can change an answer). At
    /// 20x100, where each cluster warns once, this is a fraction of indexing
    /// every key.
    pub fn for_paths<'p>(text: &str, paths: impl IntoIterator<Item = &'p str>) -> Self {
        Self::scan(text, Some(&Wanted::of(paths, None)), &NEVER)
    }

    /// An index that answers [`line_of`](Self::line_of) exactly as
    /// [`build`](Self::build)'s does for every item of `sequence`
    /// (`spec.clusters[N]`, whatever N), and knows nothing else. It reads the
    /// whole text, unless `stop` is set: then it stops at once.
    pub fn for_items(text: &str, sequence: &str, stop: &AtomicBool) -> Self {
        Self::scan(text, Some(&Wanted::of([sequence], Some(sequence))), stop)
    }

    /// The walk behind [`build`](Self::build) (`wanted` is `None`: every
    /// path), [`for_paths`](Self::for_paths) and [`for_items`](Self::for_items).
    fn scan(text: &str, wanted: Option<&Wanted<'_>>, stop: &AtomicBool) -> Self {
        let mut found = Found {
            lines: HashMap::new(),
            // Items are wanted however many there are: never all found.
            missing: wanted
                .filter(|w| w.items_of.is_none())
                .map_or(usize::MAX, |w| w.paths.len()),
            wanted,
        };
        // The path of the node at hand, built in one buffer: each path is
        // allocated once, when it is recorded.
        let mut path = String::new();
        let mut stack: Vec<Frame> = Vec::new();
        for event in Parser::new_from_str(text) {
            if found.missing == 0 || stop.load(Ordering::Relaxed) {
                break;
            }
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
            let Some(addressed) = locate(stack.last_mut(), &event, &mut path, &mut found, line) else {
                continue;
            };
            if opens {
                let addressed = addressed && found.wants_inside(&path);
                stack.push(match (addressed, &event) {
                    (true, Event::MappingStart(..)) => Frame::Map {
                        len: path.len(),
                        value: None,
                    },
                    (true, _) => Frame::Seq {
                        len: path.len(),
                        next: 0,
                    },
                    (false, _) => Frame::Opaque,
                });
            }
        }
        LineIndex { lines: found.lines }
    }

    /// An index of these paths and lines, found by other means than a scan
    /// (the cut of a spec parsed in parts, `load::Cut`).
    pub(crate) fn from_lines(lines: impl IntoIterator<Item = (String, usize)>) -> Self {
        LineIndex {
            lines: lines.into_iter().collect(),
        }
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

    /// For its paths, `for_paths` answers what the full index answers:
    /// present, absent (an ancestor's line), inside complex keys, repeated.
    #[test]
    fn for_paths_answers_as_the_full_index() {
        let odd =
            "a:\n  ? [x]\n  : {b: 1}\n  c:\n  - - p\n    - q\n  - {d: [e, f]}\n  \"\": {g: 1}\n  h: 2\na: 3\nz: 4\n";
        let paths = [
            "apiVersion",
            "spec.clusters[0]",
            "spec.clusters[0].rootCA.files[1]",
            "spec.clusters[1].exports[0].ports",
            "spec.clusters[1].domain",
            "spec.clusters[7]",
            "a.c[0][1]",
            "a.c[1].d[1]",
            "a..g",
            "a.b",
            "a.h",
            "a",
            "z",
            "",
            "nowhere.at[3].all",
        ];
        for text in [TEXT, odd] {
            let full = LineIndex::build(text);
            for (i, p) in paths.iter().enumerate() {
                let one = LineIndex::for_paths(text, [*p]);
                assert_eq!(one.line_of(p), full.line_of(p), "{p} alone in {text:?}");
                let some = LineIndex::for_paths(text, paths[i..].iter().copied());
                assert_eq!(some.line_of(p), full.line_of(p), "{p} among others in {text:?}");
            }
        }
        // It stops once its paths are found: nothing after them is recorded.
        let first = LineIndex::for_paths(TEXT, ["spec.clusters[0]"]);
        assert_eq!(first.lines.len(), 3, "{:?}", first.lines);
    }

    /// Keys holding `.` or `[` make paths that read like deeper ones: what
    /// is inside an unwanted collection is still found when it is wanted.
    #[test]
    fn for_paths_finds_paths_under_dotted_keys() {
        let text = "a:\n  x.y:\n    z: 1\n  x:\n    y: {w: 2}\n  \"b[0]\": [c, d]\n  b:\n  - e\n  - f: [g]\n";
        let full = LineIndex::build(text);
        for p in ["a.x.y.z", "a.x.y.w", "a.b[0][1]", "a.b[1].f[0]", "a.x.y", "a.b[0]"] {
            assert_eq!(LineIndex::for_paths(text, [p]).line_of(p), full.line_of(p), "{p}");
        }
        assert_eq!(full.line_of("a.x.y.z"), Some(3));
        assert_eq!(full.line_of("a.b[1].f[0]"), Some(9));
        // Only the wanted path and its ancestors are recorded.
        let one = LineIndex::for_paths(text, ["a.b[1].f[0]"]);
        let mut recorded: Vec<&str> = one.lines.keys().map(String::as_str).collect();
        recorded.sort();
        assert_eq!(recorded, ["a", "a.b", "a.b[1]", "a.b[1].f", "a.b[1].f[0]"]);
    }

    /// `for_items` answers as the full index for every item of its
    /// sequence, however many, also where a key reads like an item's path.
    #[test]
    fn for_items_answers_as_the_full_index_for_each_item() {
        let tricky =
            "\"spec.clusters[1]\": early\nspec:\n  clusters:\n  - a\n  -\n    name: b\n  - {c: [d]}\n  - - e\n";
        for text in [TEXT, tricky] {
            let full = LineIndex::build(text);
            let items = LineIndex::for_items(text, "spec.clusters", &NEVER);
            for i in 0..5 {
                let p = format!("spec.clusters[{i}]");
                assert_eq!(items.line_of(&p), full.line_of(&p), "{p} in {text:?}");
            }
            assert!(
                items
                    .lines
                    .keys()
                    .all(|p| p == "spec" || p.starts_with("spec.clusters")),
                "{:?}",
                items.lines
            );
        }
        assert_eq!(
            LineIndex::for_items(tricky, "spec.clusters", &NEVER).line_of("spec.clusters[1]"),
            Some(1)
        );
        // Stopped, it reads no further.
        let stopped = LineIndex::for_items(TEXT, "spec.clusters", &AtomicBool::new(true));
        assert!(stopped.lines.is_empty(), "{:?}", stopped.lines);
    }

    #[test]
    fn an_item_scan_covers_the_items_alone() {
        let scan = ItemScan::start(TEXT, "spec.clusters").unwrap();
        for (path, covered) in [
            ("spec.clusters[0]", true),
            ("spec.clusters[12]", true),
            ("spec.clusters", false),
            ("spec.clusters[1].name", false),
            ("spec.clusters[]", false),
            ("spec.clusters[x]", false),
            ("spec.clustersx[1]", false),
        ] {
            assert_eq!(scan.covers(path), covered, "{path}");
        }
        assert_eq!(scan.join().line_of("spec.clusters[1]"), Some(7));
    }

    #[test]
    fn falls_back_to_the_nearest_ancestor() {
        let idx = LineIndex::build(TEXT);
        assert_eq!(idx.line_of("spec.clusters[1].exports[0].ports"), Some(9));
        assert_eq!(idx.line_of("spec.clusters[1].domain"), Some(7));
    }

    /// Complex and empty keys, flow collections and sequences of sequences
    /// are addressed as before the path buffer (each path built anew).
    #[test]
    fn odd_keys_and_nested_sequences() {
        let text =
            "a:\n  ? [x]\n  : {b: 1}\n  c:\n  - - p\n    - q\n  - {d: [e, f]}\n  \"\": {g: 1}\n  h: 2\n[k]: 3\nz: 4\n";
        let idx = LineIndex::build(text);
        assert_eq!(idx.line_of("a"), Some(1));
        assert_eq!(idx.line_of("a.c"), Some(4));
        assert_eq!(idx.line_of("a.c[0]"), Some(5));
        assert_eq!(idx.line_of("a.c[0][1]"), Some(6));
        assert_eq!(idx.line_of("a.c[1].d[1]"), Some(7));
        assert_eq!(idx.line_of("a.h"), Some(9));
        assert_eq!(idx.line_of("z"), Some(11));
        // Inside a complex or empty key's value: the nearest addressed ancestor.
        assert_eq!(idx.line_of("a.b"), Some(1));
        assert_eq!(idx.line_of("a..g"), Some(8));
        let mut all: Vec<(&str, usize)> = idx.lines.iter().map(|(p, l)| (p.as_str(), *l)).collect();
        all.sort();
        let expected = [
            ("a", 1),
            ("a.", 8),
            ("a.c", 4),
            ("a.c[0]", 5),
            ("a.c[0][0]", 5),
            ("a.c[0][1]", 6),
            ("a.c[1]", 7),
            ("a.c[1].d", 7),
            ("a.c[1].d[0]", 7),
            ("a.c[1].d[1]", 7),
            ("a.h", 9),
            ("z", 11),
        ];
        assert_eq!(all, expected);
    }
}
