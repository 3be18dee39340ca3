//! Unit tests of `render::canonical`.

use super::*;
use minijinja::{context, Environment};

fn render(source: &str, ctx: Value) -> Option<String> {
    let mut env = Environment::new();
    env.set_formatter(format);
    start();
    finish(&env.render_named_str("t.yaml", source, ctx).unwrap())
}

fn reemit(text: &str) -> String {
    crate::yaml::to_string(&serde_norway::from_str::<serde_norway::Value>(text).unwrap()).unwrap()
}

/// Every kind of value, under a key and as a list item, at several
/// depths, is written exactly as parsing and re-emitting writes it.
#[test]
fn held_values_land_where_re_emitting_puts_them() {
    let values = serde_json::json!([
        {"app": "x", "yes": "on", "n": 1, "b": true, "ip": "10.0.0.1", "e": ""},
        ["a", "1.5", "no", 443],
        {"nested": {"deep": ["x", {"y": []}], "empty": {}}, "list": [[1, 2], []]},
        "line one\nline two\n",
        "two\n\n",
        " lead\nx",
        {"pem": "-----BEGIN-----\nabc\n-----END-----\n", "k\nk": "v"},
        [{"a": 1, "b": "c"}, "d", ["e"]],
        1.5,
        null,
        {},
        [],
        "it's",
        "a: b",
    ]);
    let items = values.as_array().unwrap();
    for v in items {
        for source in [
            "a: {{ v }}\n",
            "top:\n  key: {{ v }}\n  next: 1\n",
            "list:\n- {{ v }}\n- {{ v }}\n",
            "list:\n- name: x\n  value: {{ v }}\n",
            "a:\n  b:\n  - - {{ v }}\n",
        ] {
            let ctx = context! { v => Value::from(minijinja::value::Serde(v)) };
            let out = render(source, ctx).unwrap_or_else(|| panic!("{source} {v}"));
            assert_eq!(out, reemit(&out), "{source} with {v}");
            let json = source.replace("{{ v }}", &serde_json::to_string(v).unwrap());
            assert_eq!(out, reemit(&json), "{source} with {v}");
        }
    }
}

/// A value that needs its own lines anywhere but the end of a `key: `
/// or `- ` line cannot be placed: the caller takes the general path.
#[test]
fn a_held_value_elsewhere_is_refused() {
    let map = Value::from(minijinja::value::Serde(serde_json::json!({"a": 1})));
    for source in [
        "x: [{{ v }}]\n",
        "{{ v }}: 1\n",
        "{{ v }}\n",
        "x: {{ v }} # c\n",
        "x: {{ v }}{{ v }}\n",
    ] {
        assert_eq!(render(source, context! { v => map.clone() }), None, "{source}");
    }
}

/// A render keeps its result only when it wrote a writable hole and did
/// nothing else with a hole: any read would make the text depend on the
/// value later put in its place.
#[test]
fn a_render_that_reads_a_hole_is_not_reused() {
    let reuse = |source: &str| {
        let mut env = Environment::new();
        env.set_formatter(format);
        env.add_function("noop", |_: Value| ());
        start();
        let ctx = context! { a => Hole::writable(), c => Hole::unused() };
        env.render_named_str("t.yaml", source, ctx)
            .ok()
            .and_then(|t| finish_reusable(&t))
    };
    assert_eq!(
        reuse("x: {{ a }}\ny: {{ a }}\n").as_ref().map(Reusable::text),
        Some("x: \u{2}\ny: \u{2}\n")
    );
    for source in [
        "x: {{ a.k }}\n",
        "x: {{ a['k'] }}\n",
        "{% for k in a %}{{ k }}{% endfor %}\n",
        "{% for k, v in a|items %}{{ k }}{% endfor %}\n",
        "x: {{ a|length }}\n",
        "{% if a %}x: 1{% endif %}\n",
        "x: {{ a|tojson }}\n",
        "x: {{ a|string }}\n",
        "x: {{ a == {} }}\n",
        "x: {{ 'k' in a }}\n",
        "x: {{ debug(a) }}\n",
        "x: {{ c }}\n",
        "x: {{ c.name }}\n",
        "x: {{ noop(c.name) }}\n",
    ] {
        assert!(reuse(source).is_none(), "{source}");
    }
}

/// Filling a hole writes what rendering the value there writes.
#[test]
fn a_filled_hole_is_the_value_rendered_in_its_place() {
    let values = serde_json::json!([{"a": "1", "b": "yes"}, {}, [], "x", "two\nlines\n", ["p", 1]]);
    for v in values.as_array().unwrap() {
        let v = Value::from(minijinja::value::Serde(v));
        for source in [
            "k: {{ a }}\n",
            "top:\n  k: {{ a }}\n  n: 1\n",
            "l:\n- {{ a }}\n- {{ a }}",
            "k: {{ a }}",
        ] {
            let direct = render(source, context! { a => v.clone() }).unwrap();
            let mut env = Environment::new();
            env.set_formatter(format);
            start();
            let memo = finish_reusable(
                &env.render_named_str("t.yaml", source, context! { a => Hole::writable() })
                    .unwrap(),
            )
            .unwrap();
            let mut out = String::from("before\n");
            assert!(fill(&memo, &mut Filling::new(v.clone()), &mut out), "{source}");
            assert_eq!(out, format!("before\n{direct}"), "{source} with {v}");
        }
    }
}
