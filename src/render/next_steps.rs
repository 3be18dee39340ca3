//! `steps`, the context of `next-steps.md`: `plan::NextSteps` as a template
//! value, without copying its long lists of names.
//!
//! At 20x100 each cluster's steps list 1,900 imported hosts and, over its
//! 100 exports, 1,900 importers. Serialized as they are, every name became
//! a minijinja string, `|join` walked them again one value at a time, and
//! the whole tree was freed afterwards: a tenth of the run. Here each such
//! list is a [`Names`] over the plan's own shared list: to a template it is
//! a sequence like any other (indexing, loops, `|length`, `|tojson`,
//! printing), and the `join` filter registered in place of minijinja's
//! ([`join`]) joins it straight from the strings, to the same text. The
//! rest is serialized as before. The template still decides what is
//! written and how; debug builds check that the value is the serialized
//! plan's, field for field and in order (`same_value`).

use std::sync::{Arc, Mutex, PoisonError};

use minijinja::value::{Enumerator, Kwargs, Object, ObjectRepr, Serde, StringInput};
use minijinja::{AutoEscape, Error, State, Value};
use serde::Serialize;

use crate::plan::{ExportPortStep, GatewayStep, ImportedService, InstallerKind, NextSteps, RemoteGatewayStep};

/// A shared list of names, seen by templates as a sequence of strings.
#[derive(Debug)]
struct Names {
    list: NameList,
    /// The last joiner it was joined by, and the result: the rows of the
    /// exports table join the same importer list, export after export.
    joined: Mutex<Option<(String, Value)>>,
}

#[derive(Debug)]
enum NameList {
    /// Names as such (an export's importers).
    Strings(Arc<[String]>),
    /// The hosts of imports (a cluster's imported hosts).
    Hosts(Arc<[Arc<ImportedService>]>),
}

impl Names {
    fn value(list: NameList) -> Value {
        Value::from_object(Names {
            list,
            joined: Mutex::new(None),
        })
    }

    fn len(&self) -> usize {
        match &self.list {
            NameList::Strings(names) => names.len(),
            NameList::Hosts(services) => services.len(),
        }
    }

    fn get(&self, index: usize) -> Option<&str> {
        match &self.list {
            NameList::Strings(names) => names.get(index).map(String::as_str),
            NameList::Hosts(services) => services.get(index).map(|s| s.host.as_str()),
        }
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// What minijinja's `join` gives for this list and `joiner` when
    /// nothing is escaped: the names with `joiner` between them, as a
    /// plain string.
    fn join(&self, joiner: &str) -> Value {
        let mut joined = self.joined.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((last, value)) = &*joined {
            if last == joiner {
                return value.clone();
            }
        }
        let bytes = self.iter().map(str::len).sum::<usize>() + joiner.len() * self.len().saturating_sub(1);
        let mut out = String::with_capacity(bytes);
        for (i, name) in self.iter().enumerate() {
            if i > 0 {
                out.push_str(joiner);
            }
            out.push_str(name);
        }
        let value = Value::from(out);
        *joined = Some((joiner.to_owned(), value.clone()));
        value
    }
}

/// A sequence, as minijinja's own lists are (`impl Object for Vec<T>`).
impl Object for Names {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.get(key.as_usize()?).map(Value::from)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.len())
    }
}

/// minijinja's `join` filter, which every template gets in its place: for
/// a [`Names`] joined by a string that is not escaped, the names joined
/// directly, the text minijinja's would give (a plain, unsafe string);
/// anything else goes to minijinja's. meshfed sets no fuel, which
/// minijinja's would charge.
pub(super) fn join(
    state: &mut State,
    value: &Value,
    joiner: Option<StringInput<'_>>,
    attribute: Option<&str>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    if let Some(names) = value.downcast_object_ref::<Names>() {
        // minijinja escapes the items only when the joiner is safe and the
        // template escapes; names are never safe strings.
        let plain =
            matches!(state.auto_escape(), AutoEscape::None) || !joiner.as_ref().is_some_and(StringInput::is_safe);
        if plain && attribute.is_none() && kwargs.args().next().is_none() {
            return Ok(names.join(joiner.as_ref().map_or("", StringInput::as_str)));
        }
    }
    minijinja::filters::join(state, value, joiner, attribute, kwargs)
}

/// `NextSteps` field for field, in its order, with its long lists as
/// [`Names`].
#[derive(Serialize)]
struct StepsContext<'a> {
    installer: InstallerKind,
    gateway: &'a Option<GatewayStep>,
    callers: &'a [String],
    exports: Vec<ExportContext<'a>>,
    remote_gateways: &'a [RemoteGatewayStep],
    imported_hosts: Value,
    export_namespaces: &'a [String],
}

/// `ExportStep` field for field.
#[derive(Serialize)]
struct ExportContext<'a> {
    service: &'a str,
    namespace: &'a str,
    ports: &'a [ExportPortStep],
    importers: Value,
}

/// `steps` for `next-steps.md`: what serializing `steps` gives, with its
/// imported hosts and each export's importers shared rather than copied.
pub(super) fn steps_value(steps: &NextSteps) -> Value {
    // The exports of a cluster mostly share one importer list: one value.
    let mut last: Option<(&Arc<[String]>, Value)> = None;
    let mut exports = Vec::with_capacity(steps.exports.len());
    for export in &steps.exports {
        let importers = match &last {
            Some((shared, value)) if Arc::ptr_eq(shared, &export.importers) => value.clone(),
            _ => Names::value(NameList::Strings(export.importers.clone())),
        };
        last = Some((&export.importers, importers.clone()));
        exports.push(ExportContext {
            service: &export.service,
            namespace: &export.namespace,
            ports: &export.ports,
            importers,
        });
    }
    let value = Value::from(Serde(StepsContext {
        installer: steps.installer,
        gateway: &steps.gateway,
        callers: &steps.callers,
        exports,
        remote_gateways: &steps.remote_gateways,
        imported_hosts: Names::value(NameList::Hosts(steps.imported_hosts.services().clone())),
        export_namespaces: &steps.export_namespaces,
    }));
    #[cfg(debug_assertions)]
    assert!(
        same_value(&value, &Value::from(Serde(steps))),
        "next-steps context differs from the serialized plan: {value:?}"
    );
    value
}

/// `a` and `b` hold the same: the same kinds, map keys in the same order,
/// the same items and scalars.
#[cfg(any(test, debug_assertions))]
fn same_value(a: &Value, b: &Value) -> bool {
    use minijinja::value::ValueKind;
    if a.kind() != b.kind() {
        return false;
    }
    let is_map = a.kind() == ValueKind::Map;
    if !is_map && a.kind() != ValueKind::Seq {
        return format!("{a:?}") == format!("{b:?}");
    }
    let (Ok(a_items), Ok(b_items)) = (a.try_iter(), b.try_iter()) else {
        return false;
    };
    let (a_items, b_items): (Vec<Value>, Vec<Value>) = (a_items.collect(), b_items.collect());
    a_items.len() == b_items.len()
        && a_items.iter().zip(&b_items).all(|(x, y)| {
            same_value(x, y)
                && (!is_map || matches!((a.get_item(x), b.get_item(y)), (Ok(ax), Ok(by)) if same_value(&ax, &by)))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::Environment;

    const NAMES: [&str; 4] = ["a.ns.svc.one", "b<&>\"c'", "", "d"];

    fn names() -> Value {
        Names::value(NameList::Strings(NAMES.iter().map(|s| s.to_string()).collect()))
    }

    /// `source` rendered as template `name` (its extension picks the
    /// escaping) with `names` bound to `value`; errors by kind.
    fn render(env: &Environment, name: &str, source: &str, value: Value) -> Result<String, String> {
        env.render_named_str(name, source, minijinja::context! { names => value })
            .map_err(|e| format!("{:?}", e.kind()))
    }

    #[test]
    fn names_render_as_minijinja_lists_do() {
        let mut ours = Environment::new();
        ours.add_filter("join", join);
        let theirs = Environment::new();
        let list = Value::from(NAMES.to_vec());
        let sources = [
            r#"{{ names|join(", ") }}"#,
            "{{ names|join }}",
            r#"{{ names|join("<&>") }}"#,
            r#"{{ names|join("<b>"|safe) }}"#,
            r#"{{ names|join(d="-") }}"#,
            r#"{{ names|join(", ", attribute="x") }}"#,
            r#"{{ names|join(", ")|length }}"#,
            r#"{{ names|join(", ") }}/{{ names|join("-") }}/{{ names|join(", ") }}/{{ names|join }}"#,
            r#"{{ (names|join("<b>"|safe)) ~ "" }}"#,
            "{{ names|length }} {{ names[1] }} {{ names[-1] }} {{ names|first }} {{ names|last }}",
            "{{ names }}|{{ names|tojson }}|{{ names|reverse|list }}|{{ names|sort }}",
            "{% for n in names %}{{ loop.index }}={{ n }}{% if not loop.last %},{% endif %}{% endfor %}",
            "{% if names %}some{% endif %}{% if 'd' in names %} d{% endif %}",
        ];
        for source in sources {
            for name in ["t.md", "t.html", "t.yaml"] {
                let expected = render(&theirs, name, source, list.clone());
                assert_eq!(render(&ours, name, source, names()), expected, "{name}: {source}");
            }
        }
        let empty = Names::value(NameList::Strings(Arc::from(Vec::<String>::new())));
        let source = r#"{% if names %}some{% endif %}[{{ names|join(", ") }}]{{ names|length }}"#;
        assert_eq!(render(&ours, "t.md", source, empty), Ok("[]0".to_owned()));
    }

    #[test]
    fn join_is_minijinja_s_for_anything_else() {
        let mut ours = Environment::new();
        ours.add_filter("join", join);
        let theirs = Environment::new();
        let source = r#"{{ names|join(", ") }}|{{ names|join("<b>"|safe) }}"#;
        let values = [Value::from(vec![1, 2]), Value::from("x<y"), Value::from(NAMES.to_vec())];
        for value in values {
            for name in ["t.md", "t.html"] {
                let expected = render(&theirs, name, source, value.clone());
                assert_eq!(
                    render(&ours, name, source, value.clone()),
                    expected,
                    "{name}: {value:?}"
                );
            }
        }
    }

    #[test]
    fn same_value_tells_apart_what_a_template_could() {
        let list = Value::from(NAMES.to_vec());
        assert!(same_value(&names(), &list));
        let mut other = NAMES.to_vec();
        other[3] = "e";
        assert!(!same_value(&names(), &Value::from(other)));
        assert!(!same_value(&names(), &Value::from(NAMES[..3].to_vec())));
        let map = |pairs: &[(&str, i32)]| Value::from_iter(pairs.iter().map(|&(k, v)| (k, v)));
        assert!(same_value(&map(&[("a", 1), ("b", 2)]), &map(&[("a", 1), ("b", 2)])));
        assert!(!same_value(&map(&[("a", 1), ("b", 2)]), &map(&[("b", 2), ("a", 1)])));
        assert!(!same_value(&map(&[("a", 1), ("b", 2)]), &map(&[("a", 1), ("b", 3)])));
        assert!(!same_value(&Value::from(1), &Value::from("1")));
    }
}
