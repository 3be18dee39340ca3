//! Unit tests of `nesting`.

use super::*;
use serde_norway::Value;

/// The depth the scan measures: the smallest limit it accepts.
fn measured(text: &str) -> usize {
    (0..).find(|&l| check_depth(text.as_bytes(), l).is_ok()).unwrap()
}

/// The depth of what libyaml actually builds.
fn actual(text: &str) -> usize {
    fn depth(v: &Value) -> usize {
        match v {
            Value::Sequence(s) => 1 + s.iter().map(depth).max().unwrap_or(0),
            Value::Mapping(m) => 1 + m.iter().map(|(k, v)| depth(k).max(depth(v))).max().unwrap_or(0),
            Value::Tagged(t) => depth(&t.value),
            _ => 0,
        }
    }
    serde_norway::Deserializer::from_str(text)
        .map(|d| depth(&serde::Deserialize::deserialize(d).unwrap()))
        .max()
        .unwrap_or(0)
}

fn exact(text: &str, want: usize) {
    assert_eq!(actual(text), want, "libyaml's depth of {text:?}");
    assert_eq!(measured(text), want, "scanned depth of {text:?}");
}

#[test]
fn flow_and_block_nesting_are_counted() {
    exact("a: 1\n", 1);
    exact("[[[]]]\n", 3);
    exact("a:\n  b:\n    c: [1, {d: [2]}]\n", 6);
    exact("- - - x\n", 3);
    exact("- a: 1\n  b:\n  - c\n", 3);
    exact("a:\n- b\n- c\n", 2);
    exact("? a\n: b\n", 1);
    exact("a: {b: c}\n---\n[x]\n", 2);
}

#[test]
fn brackets_in_scalars_comments_and_block_text_are_not_nesting() {
    exact("a: '[[[['\nb: \"{{\\\"[[\"\n", 1);
    exact("a: x[[[ # [[[[\n", 1);
    exact("a: |\n  [[[[\n  - - - -\nb: 1\n", 1);
    exact("a: >-\n\n   [[[[\n  \n   {{{{\nb: [x]\n", 2);
    exact("a: plain text\n  continued [[[ here\n  and 'here\nb: 1\n", 1);
    exact("a: [it's, \"a]\", 'b}']\n", 2);
    exact("a: x\n# [[[[\nb: y\n", 1);
}

#[test]
fn a_quote_inside_a_plain_scalar_hides_nothing() {
    // libyaml reads `b '` as one plain scalar, then opens the brackets:
    // the scan must not take the quote for the start of a string.
    let text = format!("[b\n'{}\n", "[".repeat(50));
    assert!(measured(&text) >= 51, "{}", measured(&text));
    let text = format!("a: b\n  '\nc: {}\n", "[".repeat(50));
    assert!(measured(&text) >= 51);
    // And after a block scalar ends, what follows is structure again.
    let text = format!("a: |\n  'x\nb: {}'\n", "[".repeat(50));
    assert!(measured(&text) >= 51);
    let text = format!("- k: |\n    text\n  other: {}\n", "[".repeat(50));
    assert!(measured(&text) >= 52);
}

#[test]
fn unicode_line_breaks_and_a_bom_at_a_line_start_are_what_libyaml_says() {
    // libyaml ends a comment at NEL, LS and PS, and skips a BOM that
    // starts a line: the brackets after them are structure.
    for brk in ["\u{85}", "\u{2028}", "\u{2029}"] {
        let text = format!("# note{brk}{}\n", "[".repeat(50));
        assert!(measured(&text) >= 50, "{brk:?}");
    }
    let text = format!("a: 1\n\u{FEFF}b: {}\n", "[".repeat(50));
    assert!(measured(&text) >= 51);
    exact("a: 1 # x\u{2028}b: [c]\n", 2);
}

#[test]
fn real_documents_measure_what_libyaml_builds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![
        root.join("testdata/istio/crd-all.gen.yaml"),
        root.join("examples/seed/federation.yaml"),
    ];
    for dir in ["testdata/krm", "testdata/generate/seed/expected"] {
        for e in walk(&root.join(dir)) {
            files.push(e);
        }
    }
    for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "yaml")) {
        let text = std::fs::read_to_string(f).unwrap();
        let (want, got) = (actual(&text), measured(&text));
        assert!(
            got >= want && got <= want + 2,
            "{}: libyaml {want}, scan {got}",
            f.display()
        );
    }
}

#[test]
fn random_documents_never_measure_less_than_libyaml_builds() {
    const PIECES: [&str; 26] = [
        "[", "]", "{", "}", ", ", ": ", ":", "- ", "? ", "'", "\"", " #", "|", ">", "\n", "  ", " ", "a", "b: ", "&x ",
        "*x", "!t ", "\\", "---\n", "|2\n", "\n- ",
    ];
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut checked = 0;
    for _ in 0..iterations() {
        let len = 1 + next() % 24;
        let text: String = (0..len)
            .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
            .collect();
        let Ok(values) = serde_norway::Deserializer::from_str(&text)
            .map(<Value as serde::Deserialize>::deserialize)
            .collect::<Result<Vec<_>, _>>()
        else {
            continue;
        };
        checked += 1;
        let _ = values;
        assert!(
            measured(&text) >= actual(&text),
            "{text:?}: libyaml {}, scan {}",
            actual(&text),
            measured(&text)
        );
    }
    assert!(checked > 1000, "only {checked} valid documents");
}

/// MESHFED_NESTING_RUNS=N for a longer run.
fn iterations() -> usize {
    std::env::var("MESHFED_NESTING_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_megabyte_of_nesting_is_refused_at_once() {
    let brackets = "[".repeat(1 << 20);
    assert_eq!(check(&brackets), Err(TooDeep { line: 1 }));
    let mut block = String::from("a:\n");
    for depth in 1.. {
        block.push_str(&" ".repeat(depth));
        block.push_str("a:\n");
        if block.len() > 1 << 20 {
            break;
        }
    }
    assert_eq!(check(&block), Err(TooDeep { line: MAX_DEPTH + 1 }));
    assert_eq!(check(&"- ".repeat(1 << 19)), Err(TooDeep { line: 1 }));
}
