//! Unit tests of `yaml`.

use super::*;

fn emit(text: &str) -> String {
    let value: Value = serde_norway::from_str(text).unwrap();
    to_string(&value).unwrap()
}

/// Strings that YAML 1.1 readers (kubectl, kustomize, PyYAML) take for
/// something else are quoted; each reads back as itself.
#[test]
fn yaml_1_1_look_alikes_are_quoted() {
    let tricky = [
        "yes",
        "Yes",
        "YES",
        "no",
        "NO",
        "on",
        "On",
        "off",
        "OFF",
        "y",
        "Y",
        "n",
        "N",
        "~",
        "null",
        "true",
        "False",
        "0o17",
        "0O17",
        "0x1F",
        "0b101",
        "017",
        "1_000",
        "1e3",
        "1E3",
        "1.5",
        "1.",
        ".5",
        "-1",
        "+1",
        "1:20",
        "190:20:30.15",
        "2001-12-14",
        "2001-12-14t21:59:43.10-05:00",
        "=",
        "<<",
        ".inf",
        "-.Inf",
        ".NaN",
        "",
        "1_0.5e-3",
        "30",
    ];
    for s in tricky {
        let out = to_string(&serde_json::json!({ s: s })).unwrap();
        let quoted = format!("'{s}'");
        assert_eq!(out, format!("{quoted}: {quoted}\n"), "{s:?}");
        let back: Value = serde_norway::from_str(&out).unwrap();
        assert_eq!(back.get(s).and_then(Value::as_str), Some(s), "{s:?}");
    }
}

#[test]
fn ordinary_words_stay_plain() {
    for s in [
        "istio-system",
        "203.0.113.10",
        "1.30.3",
        "ingressgateway",
        "spiffe://cluster-a.local/ns/abc/sa/foo",
        "0xzz",
        "yess",
        "on-call",
        "a b",
        "10.0.0.0/8",
        "2001:db8::11",
        "café",
        "-foo",
        "12:345",
    ] {
        assert_eq!(style(s, false), Style::Plain, "{s:?}");
    }
}

/// `style`'s quick answer for words is the full rules' answer.
#[test]
fn fast_path_agrees_with_the_full_rules() {
    let alphabet = [
        "a", "Y", "n", "o", "e", "s", "1", "0", "-", ".", "_", "/", ":", "x", "f", "N", "O", "2",
    ];
    let mut words = vec![String::new()];
    for _ in 0..4 {
        let longer: Vec<String> = words
            .iter()
            .flat_map(|w| alphabet.iter().map(move |c| format!("{w}{c}")))
            .collect();
        words.extend(longer);
    }
    let more = [
        "spiffe://cluster-a.local/ns/x/sa/y",
        "false",
        "FALSE",
        "10.0.1.10",
        "2001-12-14",
        "1_000",
        "0x1F",
        "0o17",
        "190:20:30.15",
        "2001:db8::11",
    ];
    words.extend(more.map(String::from));
    let mut quick = 0;
    for w in &words {
        quick += usize::from(is_word(w));
        assert_eq!(style(w, false), full_style(w, false), "{w:?}");
    }
    assert!(quick > words.len() / 2, "most take the quick path");
    assert!(is_word("yes") && !is_word("x:") && !is_word("a b") && !is_word("-x"));
}

#[test]
fn layout_is_libyaml_block_style() {
    let text = "a:\n  b: [x, {c: 1, d: []}, [w, z]]\n  e: {}\n  f: \"l1\\nl2\\n\"\n  g: \"k\\n\"\n  h: ' lead'\n";
    assert_eq!(
        emit(text),
        "a:\n  b:\n  - x\n  - c: 1\n    d: []\n  - - w\n    - z\n  e: {}\n  f: |\n    l1\n    l2\n  g: |\n    k\n  h: ' lead'\n"
    );
}

#[test]
fn odd_strings_read_back_as_themselves() {
    for s in [
        "no final newline\nsecond",
        "two\n\n",
        "\nleading break",
        " leading space\nx",
        "trailing space \nx",
        "tab\there",
        "quote ' and \" and \\",
        "bell \u{7} nel \u{85} bom \u{feff}",
        "key: value",
        "# comment",
        "- item",
        "a #b",
        "---",
        "x:",
        "\u{10348}",
    ] {
        for key in [false, true] {
            let value = if key {
                serde_json::json!({ s: 1 })
            } else {
                serde_json::json!({ "k": [s] })
            };
            let out = to_string(&value).unwrap();
            let back: serde_json::Value = serde_norway::from_str(&out).unwrap();
            assert_eq!(back, value, "{s:?} written as {out:?}");
        }
    }
}

/// A key is measured as written: one short as a string but long once its
/// line breaks are escaped or its quotes doubled (past the 1024 characters
/// of an implicit key) is an explicit `? key`; it reads back as itself.
#[test]
fn a_key_long_only_as_written_is_an_explicit_key() {
    for s in [
        format!("a{}b", "\n".repeat(600)),
        format!("a{}b", "\u{7}".repeat(300)),
        "'".repeat(600),
    ] {
        let value = serde_json::json!({ "items": [{ s.as_str(): null, "kind": "x" }] });
        let out = to_string(&value).unwrap();
        assert!(out.contains("- ? "), "{out:?}");
        let back: serde_json::Value = serde_norway::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out:?}"));
        assert_eq!(back, value);
    }
    // A key that fits stays an implicit key.
    let short = serde_json::json!({ "'".repeat(400): 1 });
    assert!(to_string(&short).unwrap().starts_with("''''"));
}

#[test]
fn same_layout_as_serde_norway_for_unambiguous_values() {
    let text = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n  labels: {a: b}\ndata:\n  k: |\n    line\n    two\nlist:\n- a: 1\n  b:\n  - c\n- []\n- {}\nnothing: null\nf: 1.5\nt: true\n";
    let value: Value = serde_norway::from_str(text).unwrap();
    assert_eq!(to_string(&value).unwrap(), serde_norway::to_string(&value).unwrap());
}

/// Random values built from the characters that decide quoting (spaces,
/// indicators, quotes, breaks, digits, YAML 1.1 words, non-ASCII) must
/// read back as themselves, as keys and as values, at any depth.
#[test]
fn random_values_read_back_as_themselves() {
    const PIECES: [&str; 40] = [
        "a", "Z", "0", "1", "_", ".", "-", "+", ":", ": ", " ", "  ", "#", " #", ",", "[", "]", "{", "}", "'", "\"",
        "\\", "\n", "\n\n", "\t", "\r", "?", "!", "&", "*", "|", ">", "%", "@", "`", "yes", "0o1", "e3", "\u{e9}",
        "\u{85}",
    ];
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    fn text(next: &mut impl FnMut(usize) -> usize) -> String {
        (0..next(6)).map(|_| PIECES[next(PIECES.len())]).collect()
    }
    fn value(next: &mut impl FnMut(usize) -> usize, depth: usize) -> serde_json::Value {
        match if depth > 3 { 0 } else { next(5) } {
            0 | 1 => serde_json::Value::String(text(next)),
            2 => serde_json::Value::Array((0..next(4)).map(|_| value(next, depth + 1)).collect()),
            3 => serde_json::Value::Object((0..next(4)).map(|_| (text(next), value(next, depth + 1))).collect()),
            _ => serde_json::json!(next(1000)),
        }
    }
    for _ in 0..20_000 {
        let v = value(&mut next, 0);
        let out = to_string(&v).unwrap();
        let back: serde_json::Value =
            serde_norway::from_str(&out).unwrap_or_else(|e| panic!("{v:?} written as {out:?} does not parse: {e}"));
        assert_eq!(back, v, "written as {out:?}");
    }
}

#[test]
fn tags_read_back_as_themselves() {
    for text in [
        "! {a: b}\n",
        "! a: b\n",
        "!foo [1, x]\n",
        "k: !bar v\n",
        "k: !\n  a: 1\n",
        "- !x {}\n",
    ] {
        let value: Value = serde_norway::from_str(text).unwrap();
        let out = to_string(&value).unwrap();
        let back: Value = serde_norway::from_str(&out).unwrap_or_else(|e| panic!("{text:?} written as {out:?}: {e}"));
        assert_eq!(back, value, "{text:?} written as {out:?}");
    }
}

/// `plain_allowed` jumps from one `:` or `#` to the next (`memchr2`): it
/// must answer as a walk over every byte does, for every string of up to
/// five characters from an alphabet of the bytes that matter.
#[test]
fn plain_allowed_answers_as_a_byte_walk() {
    // The rules for the ends are shared; the rest walks every byte.
    fn walk(s: &str) -> bool {
        let bytes = s.as_bytes();
        plain_ends_allowed(s)
            && (1..bytes.len()).all(|i| match bytes[i] {
                b':' => !blank_at(bytes, i + 1),
                b'#' => bytes[i - 1] != b' ',
                _ => true,
            })
    }
    let alphabet = ["a", " ", ":", "#", "-", "?", "."];
    let mut strings = vec![String::new()];
    let mut last = vec![String::new()];
    for _ in 0..5 {
        last = (last.iter())
            .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
            .collect();
        strings.extend(last.iter().cloned());
    }
    for s in &strings {
        assert_eq!(plain_allowed(s), walk(s), "{s:?}");
    }
    assert!(
        strings.iter().filter(|s| plain_allowed(s)).count() > 1000,
        "the test sees both answers"
    );
}

/// U+2028 and U+2029 break lines for libyaml and PyYAML: written raw, in a
/// plain or quoted scalar, they cut the line in two (a ResourceList answer
/// that serde_norway could no longer read, found by fuzzing). They are
/// escaped, and every such string reads back as itself.
#[test]
fn unicode_line_separators_are_escaped() {
    for s in ["a\u{2028}b", "meo\u{2029} m-\u{2029}e5", "\u{2029}", "x\u{2028}\ny"] {
        let value = Value::Mapping(
            [(Value::String(s.into()), Value::String(s.into()))]
                .into_iter()
                .collect(),
        );
        let text = to_string(&value).unwrap();
        assert!(!text.contains(['\u{2028}', '\u{2029}']), "{text:?}");
        assert_eq!(serde_norway::from_str::<Value>(&text).unwrap(), value, "{text:?}");
    }
}
