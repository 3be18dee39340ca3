//! The cut against the whole parse: the same value and the same item
//! lines whenever the cut vouches for itself, on documents made to break
//! each rule the module doc gives.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use super::*;

/// The whole text parsed as before, and its items' lines as the scan finds them.
fn whole(text: &str) -> Option<(Value, LineIndex)> {
    let value = crate::load::parse_yaml(text, Path::new("t.yaml")).ok()?;
    Some((value, LineIndex::for_items(text, SEQUENCE, &AtomicBool::new(false))))
}

/// The cut's answer, checked against the whole parse; `true` when the cut
/// was made and vouched for.
fn agrees(text: &str) -> bool {
    let Some((value, lines)) = Cut::find(text).and_then(|cut| cut.parse()) else {
        return false;
    };
    let (whole_value, whole_lines) = whole(text).expect("the cut parsed what the whole parse refuses");
    assert_eq!(value, whole_value, "value of\n{text}");
    if saphyr_reads_through(text) {
        assert_eq!(lines, whole_lines, "lines of\n{text}");
    } else {
        // The line scan's parser (saphyr) stops at an error libyaml does not
        // see (`"quoted"#`): what it found before the error agrees.
        for i in 0..value["spec"]["clusters"].as_array().map_or(0, Vec::len) {
            let item = crate::line_index::item(SEQUENCE, i);
            // An item the scan did not reach answers with its sequence's line.
            let found = whole_lines.line_of(&item);
            if found != whole_lines.line_of(SEQUENCE) {
                assert_eq!(lines.line_of(&item), found, "{item} of\n{text}");
            }
        }
    }
    true
}

fn saphyr_reads_through(text: &str) -> bool {
    saphyr_parser::Parser::new_from_str(text).all(|event| event.is_ok())
}

fn cluster(i: usize, indent: &str) -> String {
    format!(
        "{indent}- name: c{i}   # the {i}th\n{indent}  domain: \"c{i}.local\"\n{indent}  rootCA: {{files: [c{i}.pem]}}\n\n{indent}  exports:\n{indent}  - service: s{i}\n{indent}    ports:\n{indent}    - {{name: http, port: 80{i}}}\n# a comment at column 0 between items\n"
    )
}

fn spec(indent: &str, n: usize, after: &str) -> String {
    let items: String = (0..n).map(|i| cluster(i, indent)).collect();
    format!("# header\napiVersion: meshfed.io/v1alpha1\nkind: MeshFederation\nmetadata:\n  name: f\nspec:\n  istio: {{version: \"1.30\"}}\n  clusters:\n{items}{after}")
}

#[test]
fn a_plain_spec_is_cut_and_parses_as_the_whole() {
    for indent in ["  ", "    "] {
        for n in [2, 3, 7] {
            for after in [
                "",
                "  importNamespace: istio-system\n",
                "status: {}\n",
                "  # trailing\n",
            ] {
                assert!(agrees(&spec(indent, n, after)), "not cut:\n{}", spec(indent, n, after));
            }
        }
    }
    let crlf = spec("  ", 4, "  importNamespace: x\n").replace('\n', "\r\n");
    assert!(agrees(&crlf));
    let unterminated = spec("  ", 3, "  importNamespace: x");
    assert!(agrees(&unterminated));
}

#[test]
fn one_item_or_none_is_not_worth_a_cut() {
    assert!(Cut::find(&spec("  ", 1, "")).is_none());
    assert!(Cut::find("spec:\n  clusters: []\n").is_none());
    assert!(Cut::find("spec:\n  clusters:\n  -\n    name: a\n  - name: b\n").is_none());
}

#[test]
fn what_could_read_differently_alone_is_refused() {
    let base = spec("  ", 4, "  importNamespace: x\n");
    for (what, text) in [
        ("an anchor", base.replacen("name: c1", "name: &a c1", 1)),
        ("a tab", base.replacen("name: c1", "name:\tc1", 1)),
        ("a lone CR", base.replacen("# the 1th\n", "# the 1th\r", 1)),
        ("a directive", format!("%YAML 1.1\n---\n{base}")),
        ("a line separator", base.replacen("# the 1th", "# the\u{2028}1th", 1)),
        ("the sentinel", base.replacen("c2.local", SENTINEL, 1)),
    ] {
        assert!(Cut::find(&text).is_none(), "{what} was not refused");
    }
}

#[test]
fn a_part_that_cannot_vouch_for_the_whole_falls_back() {
    let base = spec("  ", 4, "  importNamespace: x\n");
    let cases = [
        // A flow collection open across the middle of the items.
        base.replacen("rootCA: {files: [c1.pem]}", "rootCA: {files: [c1.pem,\n", 1)
            .replacen("  - name: c2", "  - name: c2]}\n  - name: c2b", 1),
        // A quoted scalar holding what looks like items.
        base.replacen("\"c1.local\"", "\"c1.local\n  - name: fake\n  - name: fake2\n  \"", 1),
        // `spec:` inside a quoted scalar before the real one.
        format!("note: \"x\nspec:\n  clusters:\n  - a\n  - b\n\"\n{base}"),
        // A second document.
        format!("{base}---\nkind: Other\n"),
        // A second `clusters:` key, whose value wins.
        format!("{base}  clusters:\n  - name: z\n  - name: y\n"),
    ];
    for text in cases {
        // Either the cut stands down, or it agrees with the whole parse.
        assert!(Cut::find(&text).and_then(|c| c.parse()).is_none() || agrees(&text));
    }
}

#[test]
fn block_scalars_and_nested_entries_stay_inside_their_item() {
    let base = spec("  ", 4, "  importNamespace: x\n");
    let text = base.replacen(
        "    domain: \"c1.local\"\n",
        "    domain: \"c1.local\"\n    note: |\n      - name: not an item\n      clusters:\n    list:\n    - a\n    - b\n    plain: one\n      two\n",
        1,
    );
    assert!(agrees(&text));
}

/// Every fragment a YAML author might type, dropped at many places of a
/// spec: the cut either stands down or agrees with the whole parse.
#[test]
fn fragments_anywhere_never_make_the_cut_disagree() {
    let base = spec("  ", 5, "  importNamespace: x\n");
    let fragments = [
        "\"",
        "'",
        "[",
        "{",
        "]",
        "}",
        "|",
        ">",
        "- ",
        "#",
        ": ",
        "\n",
        "\n  ",
        "\n- ",
        "\n  - x\n",
        "? ",
        "*a",
        "!!str ",
        "---\n",
        "...\n",
        "\n  clusters:\n",
        "\nspec:\n",
        ",",
        "\\",
        "%",
    ];
    let mut seed = 0x2545_f491_u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut cut = 0;
    for _ in 0..800 {
        // Two fragments, the second somewhere after the first.
        let mut text = base.clone();
        for _ in 0..2 {
            let r = next();
            let fragment = fragments[(r % fragments.len() as u64) as usize];
            let mut at = (r >> 8) as usize % text.len();
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text.insert_str(at, fragment);
        }
        if agrees(&text) {
            cut += 1;
        }
    }
    // Most fragments land inside an item and leave it valid YAML.
    assert!(cut > 100, "only {cut} of 800 were cut");
}
