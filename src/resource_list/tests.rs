//! Unit tests of `resource_list`.

use super::*;

const LIST: &str = "# a comment\napiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n# first\n- apiVersion: v1\n  kind: ConfigMap # the kind\n  data: {a: \"yes\", b: 0o17}\n  big: 123456789012345678901234567890\n-\n  kind: x\n- &anchor !tag\n  kind: y\n  z: |\n    text\n# after\nfunctionConfig: {kind: Foo}\n";

#[test]
fn items_keep_their_lines() {
    let list = read(LIST).unwrap();
    let texts: Vec<&str> = list.items.iter().map(|i| i.text.as_deref().unwrap()).collect();
    assert_eq!(
        texts,
        [
            "- apiVersion: v1\n  kind: ConfigMap # the kind\n  data: {a: \"yes\", b: 0o17}\n  big: 123456789012345678901234567890\n",
            "-\n  kind: x\n",
            "- &anchor !tag\n  kind: y\n  z: |\n    text\n# after\n",
        ]
    );
    assert_eq!(list.items_header.as_deref(), Some("items:\n# first\n"));
    assert_eq!(list.preamble, "# a comment\n");
    let keys: Vec<&str> = list.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["apiVersion", "kind", "items", "functionConfig"]);
    assert_eq!(list.entries[3].text.as_deref(), Some("functionConfig: {kind: Foo}\n"));
}

#[test]
fn values_read_as_serde_norway_reads_them() {
    let list = read(LIST).unwrap();
    let first = &list.items[0].value;
    assert_eq!(first["data"]["a"], Value::from("yes"));
    assert_eq!(first["data"]["b"], Value::from(15));
    // Too big for serde_norway's numbers: kept as its text.
    assert_eq!(first["big"], Value::from("123456789012345678901234567890"));
    assert!(matches!(list.items[2].value, Value::Tagged(_)));
    assert_eq!(list.entries[3].value["kind"], Value::from("Foo"));
}

#[test]
fn unicode_before_an_item_keeps_offsets_right() {
    let text = "kind: ResourceList # ünïcödé\nitems:\n- a: \"é\"\n- b: 2\n";
    let list = read(text).unwrap();
    assert_eq!(list.items[1].text.as_deref(), Some("- b: 2\n"));
    assert_eq!(list.items[0].value["a"], Value::from("é"));
}

#[test]
fn crlf_lines_are_copied_as_they_are() {
    let text = "kind: ResourceList\r\nitems:\r\n- a: 1 # one\r\n- b: \"2\"\r\n";
    let list = read(text).unwrap();
    assert_eq!(list.items[0].text.as_deref(), Some("- a: 1 # one\r\n"));
    assert_eq!(list.items[1].text.as_deref(), Some("- b: \"2\"\r\n"));
    assert_eq!(list.items[1].value["b"], Value::from("2"));
}

#[test]
fn a_layout_it_cannot_cut_is_left_to_the_writer() {
    // An anchored or tagged items list: the items are not cut, their
    // values still read.
    for text in [
        "kind: ResourceList\nitems: &all\n- a: 1\n",
        "kind: ResourceList\nitems: !!seq\n- a: 1\n",
    ] {
        let list = read(text).unwrap();
        assert_eq!(list.items_header, None, "{text:?}");
        assert!(list.items.iter().all(|i| i.text.is_none()), "{text:?}");
        assert_eq!(list.items[0].value["a"], Value::from(1), "{text:?}");
    }
}

#[test]
fn flow_items_on_one_line_are_copied_others_are_not() {
    let list = read("kind: ResourceList\nitems: [{a: 'x'}, {b: 1,\n  c: 2}]\n").unwrap();
    assert_eq!(list.items[0].text.as_deref(), Some("- {a: 'x'}\n"));
    assert_eq!(list.items[1].text, None);
    assert_eq!(list.items_header, None);
}

#[test]
fn aliases_expand_within_a_budget() {
    let mut text = String::from("kind: ResourceList\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..8 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    assert!(read(&text).unwrap_err().contains("aliases"));
}

#[test]
fn deep_nesting_reads_as_null_without_failing() {
    let deep = format!(
        "kind: ResourceList\nitems:\n- x: {}{}\n",
        "[".repeat(200),
        "]".repeat(200)
    );
    let list = read(&deep).unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].text.as_deref(), Some(&deep[26..]));
    let deeper = format!(
        "kind: ResourceList\nitems:\n- x: {}{}\n",
        "[".repeat(300),
        "]".repeat(300)
    );
    assert!(read(&deeper).unwrap_err().contains("recursion limit"));
}

#[test]
fn not_a_single_mapping() {
    assert!(read("kind: ResourceList\nitems: []\nitems: [a]\n")
        .unwrap_err()
        .contains("\"items\" appears twice"));
    assert!(read("").is_err());
    assert!(read("a: 1\n---\nb: 2\n").unwrap_err().contains("more than one"));
    assert!(read("[1]").is_err());
}

/// `!<>` (a verbatim tag with no name) is not YAML to libyaml, and
/// serde_norway panics making a tag of it: refused, alone, on an item or on
/// a scalar.
#[test]
fn a_tag_with_no_name_is_refused() {
    for text in [
        "!<>",
        "kind: ResourceList\nitems:\n- !<> {}\n",
        "kind: !<> ResourceList\nitems: []\n",
    ] {
        assert!(serde_norway::from_str::<Value>(text).is_err(), "{text}");
        let why = read(text).unwrap_err();
        assert!(
            why.contains("`!<>`") && why.contains("name the tag or remove it"),
            "{why}"
        );
    }
}
