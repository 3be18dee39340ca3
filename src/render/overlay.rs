//! A template value laid over a shared one: an import is its export's
//! shared value with this importer's annotations in place, without a serde
//! copy of the whole import for every importer.

use std::sync::Arc;

use minijinja::value::{Enumerator, Object};
use minijinja::Value;

/// `base` (an import's shared value) with `meta.annotations` replaced.
pub(super) fn overlay_annotations(base: Value, annotations: Value) -> Value {
    let meta = base.get_attr("meta").unwrap_or_default();
    Value::from_object(Overlay::new(
        base,
        [("meta", Overlay::value(meta, [("annotations", annotations)]))],
    ))
}

/// A map value that is `base` with some entries replaced: shares everything
/// else instead of copying it.
#[derive(Debug)]
struct Overlay {
    base: Value,
    replaced: Vec<(&'static str, Value)>,
}

impl Overlay {
    fn new<const N: usize>(base: Value, replaced: [(&'static str, Value); N]) -> Self {
        Overlay {
            base,
            replaced: replaced.into(),
        }
    }

    fn value<const N: usize>(base: Value, replaced: [(&'static str, Value); N]) -> Value {
        Value::from_object(Self::new(base, replaced))
    }
}

impl Object for Overlay {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.get_value_by_str(key.as_str()?)
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        match self.replaced.iter().find(|(k, _)| *k == key) {
            Some((_, v)) => Some(v.clone()),
            None => self.base.get_attr(key).ok().filter(|v| !v.is_undefined()),
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.base.try_iter() {
            Ok(keys) => Enumerator::Values(keys.collect()),
            Err(_) => Enumerator::Empty,
        }
    }
}
