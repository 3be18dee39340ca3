//! The one place that knows how generated objects are named and labelled.
//!
//! Names are DNS-1123 labels of at most 63 characters, stable across runs.
//! A name that would be longer is cut and given a hash suffix of the full
//! name, so two long names that share a prefix still differ.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

pub const MAX_NAME: usize = 63;
const HASH_LEN: usize = 10;

pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const LABEL_FEDERATION: &str = "meshfed.io/federation";
pub const LABEL_SOURCE_CLUSTER: &str = "meshfed.io/source-cluster";
/// Annotation naming the cluster an object is meant for.
pub const ANNOTATION_CLUSTER: &str = "meshfed.io/cluster";
pub const MANAGER: &str = "meshfed";

/// Joins parts with `-` into a DNS-1123 label, shortened with a hash suffix
/// when longer than 63 characters.
pub fn object_name(parts: &[&str]) -> String {
    let full = parts.join("-");
    if full.len() <= MAX_NAME {
        return full;
    }
    let hash = hex(&Sha256::digest(full.as_bytes()));
    let keep = MAX_NAME - HASH_LEN - 1;
    let prefix = full[..keep].trim_end_matches('-');
    format!("{prefix}-{}", &hash[..HASH_LEN])
}

/// Name of the ServiceEntry and DestinationRule importing `service.namespace` from `source`.
pub fn import_name(federation: &str, service: &str, namespace: &str, source: &str) -> String {
    object_name(&[federation, service, namespace, source])
}

/// Name of the ServiceEntry and DestinationRule of the global host of `service.namespace`.
pub fn global_name(federation: &str, service: &str, namespace: &str) -> String {
    object_name(&[federation, service, namespace, "global"])
}

pub fn gateway_name(federation: &str) -> String {
    object_name(&[federation, "gateway"])
}

pub fn trust_bundle_name(federation: &str) -> String {
    object_name(&[federation, "trust-bundle"])
}

/// The cluster-qualified host a service is known by outside its cluster.
pub fn service_host(service: &str, namespace: &str, domain: &str) -> String {
    format!("{service}.{namespace}.svc.{domain}")
}

/// SPIFFE identity of a service account.
pub fn spiffe_id(trust_domain: &str, namespace: &str, service_account: &str) -> String {
    format!("spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}")
}

/// Labels every generated object carries; imported objects also name their source.
pub fn labels(federation: &str, source_cluster: Option<&str>) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        (LABEL_MANAGED_BY.to_owned(), MANAGER.to_owned()),
        (LABEL_FEDERATION.to_owned(), federation.to_owned()),
    ]);
    if let Some(source) = source_cluster {
        labels.insert(LABEL_SOURCE_CLUSTER.to_owned(), source.to_owned());
    }
    labels
}

pub fn annotations(cluster: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(ANNOTATION_CLUSTER.to_owned(), cluster.to_owned())])
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS name as a gateway address: labels of letters, digits and '-', dots between.
pub fn is_dns_name(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= MAX_NAME
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        // A name made of digits and dots only is a malformed IP, not a host name.
        && !s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_kept() {
        assert_eq!(import_name("prod", "bar", "xyz", "cluster-b"), "prod-bar-xyz-cluster-b");
    }

    #[test]
    fn long_names_are_hashed_and_stable() {
        let a = object_name(&["federation", &"x".repeat(40), &"y".repeat(40)]);
        let b = object_name(&["federation", &"x".repeat(40), &"y".repeat(41)]);
        assert!(a.len() <= MAX_NAME && a.len() > MAX_NAME - 3, "{a}");
        assert!(is_dns_label(&a), "{a}");
        assert_ne!(a, b);
        assert_eq!(a, object_name(&["federation", &"x".repeat(40), &"y".repeat(40)]));
    }

    #[test]
    fn dns_names_and_labels() {
        assert!(is_dns_name("gw.cluster-b.example.com"));
        assert!(!is_dns_name("999.1.1.1"));
        assert!(!is_dns_name("bad_name.example"));
        assert!(!is_dns_label("Upper"));
    }
}
