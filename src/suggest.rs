//! "Did you mean": the known field nearest to an unknown one, among the
//! fields of the same parent in the spec's JSON Schema, and the fields a
//! user writes at the wrong level (`port:` directly under a cluster is
//! `gateway.port`).

use serde_json::Value;

use crate::load::SCHEMA;

/// The field names the schema allows in the object at `pointer` (an
/// instance JSON pointer such as `/spec/clusters/0`), sorted.
pub fn known_fields(pointer: &str) -> Vec<String> {
    let Ok(root) = serde_json::from_str::<Value>(SCHEMA) else {
        return Vec::new();
    };
    let mut node = &root;
    for seg in pointer.split('/').skip(1) {
        node = resolve(&root, node);
        let next = if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            node.get("items")
        } else {
            node.get("properties")
                .and_then(|p| p.get(seg.replace("~1", "/").replace("~0", "~")))
        };
        match next {
            Some(n) => node = n,
            None => return Vec::new(),
        }
    }
    let mut names: Vec<String> = resolve(&root, node)
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// Follows a local `$ref` (`#/$defs/cluster`).
fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    match node
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
    {
        Some(pointer) => root.pointer(pointer).unwrap_or(node),
        None => node,
    }
}

/// The known name nearest to `field`: the same name in other case, or one
/// within a small edit distance (a swapped pair of letters counts one), or
/// the known name `field` is a prefix or extension of by one or two letters.
pub fn nearest(field: &str, known: &[String]) -> Option<String> {
    let lower = field.to_ascii_lowercase();
    // Short names get one edit, longer ones two: `port` → `pem` is no typo.
    let allowed = if lower.chars().count() <= 4 { 1 } else { 2 };
    known
        .iter()
        .map(|k| (distance(&lower, &k.to_ascii_lowercase()), k))
        .filter(|(d, _)| *d <= allowed)
        .min_by_key(|(d, k)| (*d, k.as_str()))
        .map(|(_, k)| k.clone())
}

/// Optimal string alignment distance: insertions, deletions, substitutions
/// and swaps of two neighbours each cost one.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    d[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// Where a field written at the wrong level belongs, relative to the parent
/// it was found in (`port` under a cluster → `gateway.port`).
pub fn belongs_elsewhere(parent: &str, field: &str) -> Option<&'static str> {
    // The parent's shape: indexes dropped (`spec.clusters[0]` → `spec.clusters[]`).
    let mut shape = String::new();
    let mut in_index = false;
    for c in parent.chars() {
        match c {
            '[' => {
                in_index = true;
                shape.push_str("[]");
            }
            ']' => in_index = false,
            _ if in_index => {}
            _ => shape.push(c),
        }
    }
    const TABLE: &[(&str, &str, &str)] = &[
        ("", "clusters", "spec.clusters"),
        ("", "name", "metadata.name"),
        ("spec", "name", "metadata.name"),
        ("spec", "version", "spec.istio.version"),
        ("spec", "installer", "spec.istio.installer"),
        ("spec", "domain", "spec.clusters[].domain"),
        ("spec", "trustDomain", "spec.clusters[].trustDomain"),
        ("spec", "exports", "spec.clusters[].exports"),
        ("spec", "gateway", "spec.clusters[].gateway"),
        ("spec", "rootCA", "spec.clusters[].rootCA"),
        ("spec.clusters[]", "port", "gateway.port"),
        ("spec.clusters[]", "addresses", "gateway.addresses"),
        ("spec.clusters[]", "address", "gateway.addresses"),
        ("spec.clusters[]", "files", "rootCA.files"),
        ("spec.clusters[]", "pem", "rootCA.pem"),
        ("spec.clusters[]", "spiffeBundle", "rootCA.spiffeBundle"),
        ("spec.clusters[]", "service", "exports[].service"),
        ("spec.clusters[]", "ports", "exports[].ports"),
        ("spec.clusters[]", "version", "spec.istio.version"),
        ("spec.clusters[]", "clusterDomain", "domain"),
        (
            "spec.clusters[].gateway",
            "exports",
            "the cluster's exports (one level up)",
        ),
        ("spec.clusters[].gateway", "address", "gateway.addresses (a list)"),
        ("spec.clusters[].exports[]", "port", "ports[].port"),
        ("spec.clusters[].exports[]", "protocol", "ports[].protocol"),
        ("spec.clusters[].exports[]", "targetPort", "ports[].targetPort"),
        (
            "spec.clusters[].exports[]",
            "serviceAccount",
            "serviceAccounts (a list)",
        ),
        ("spec.clusters[].exports[].ports[]", "selector", "exports[].selector"),
    ];
    TABLE
        .iter()
        .find(|(p, f, _)| *p == shape && *f == field)
        .map(|(_, _, home)| *home)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_and_case_are_near() {
        assert_eq!(distance("domian", "domain"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
        let known = known_fields("/spec/clusters/0");
        assert!(known.contains(&"domain".to_owned()), "{known:?}");
        assert_eq!(nearest("domian", &known).as_deref(), Some("domain"));
        assert_eq!(nearest("trustdomain", &known).as_deref(), Some("trustDomain"));
        assert_eq!(nearest("port", &known), None);
        let export = known_fields("/spec/clusters/0/exports/3");
        assert_eq!(nearest("serviceAccount", &export).as_deref(), Some("serviceAccounts"));
    }

    #[test]
    fn a_field_at_the_wrong_level_is_placed() {
        assert_eq!(belongs_elsewhere("spec.clusters[2]", "port"), Some("gateway.port"));
        assert_eq!(belongs_elsewhere("spec.clusters[2].gateway", "port"), None);
    }
}
