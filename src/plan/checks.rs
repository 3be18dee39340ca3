//! The semantic checks of PRODUCT §5 on the spec (the root CA checks are
//! intake's): what the plan relies on, so that `plan::build` cannot fail.
//! Each returns its diagnostics unplaced, in spec order; intake places them
//! at their lines.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::imports::normalise_address;
use super::{istio_minor, port_protocol, trust_domain, NEWEST_CHECKED_ISTIO_MINOR, OLDEST_ISTIO_MINOR};
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::naming;
use crate::spec::{ClusterSpec, ExportSpec, MeshFederation, Metadata};

/// The checks of the federation as a whole, in this order: the Istio
/// version, the number of clusters, unused metadata, no export at all, and
/// clusters' names, domains and trust domains.
pub(crate) fn federation(spec: &MeshFederation) -> Diagnostics {
    let mut out = Diagnostics::new();
    let s = &spec.spec;
    istio_version(&s.istio.version, &mut out);
    if s.clusters.is_empty() {
        out.push(
            Diagnostic::new(Code::MF110, "spec.clusters", "the federation has no clusters")
                .hint("add at least two clusters"),
        );
    } else if s.clusters.len() == 1 {
        out.push(
            Diagnostic::new(Code::MF111, "spec.clusters", "only one cluster: nothing to federate")
                .hint("add the clusters it should federate with"),
        );
    }
    check_unused_metadata(&mut out, &spec.metadata);
    if s.clusters.len() >= 2 && s.clusters.iter().all(|c| c.exports.is_empty()) {
        out.push(
            Diagnostic::new(
                Code::MF133,
                "spec.clusters",
                "no cluster exports anything: no cluster imports a service and no cluster trusts another",
            )
            .hint("list under a cluster's `exports` the services it offers to the others"),
        );
    }
    check_cluster_identities(&mut out, &s.clusters);
    out
}

/// MF124: an Istio older than meshfed renders for (an error), or newer
/// than it was checked against (a warning).
fn istio_version(version: &str, out: &mut Diagnostics) {
    let minor = istio_minor(version).unwrap_or(0);
    if minor < OLDEST_ISTIO_MINOR {
        out.push(
            Diagnostic::new(
                Code::MF124,
                "spec.istio.version",
                format!("Istio {} is older than meshfed supports", version),
            )
            .hint(format!(
                "meshfed renders for Istio 1.{OLDEST_ISTIO_MINOR} and later; upgrade the meshes first"
            )),
        );
    } else if minor > NEWEST_CHECKED_ISTIO_MINOR {
        out.push(
            Diagnostic::new(
                Code::MF126,
                "spec.istio.version",
                format!(
                    "Istio {} is newer than the 1.{NEWEST_CHECKED_ISTIO_MINOR} meshfed was checked against",
                    version
                ),
            )
            .hint("the output uses the newest known API versions; check it against that release's CRDs"),
        );
    }
}

/// Annotation prefixes the tools that read a MeshFederation use themselves
/// (kpt and kustomize: `config.kubernetes.io/local-config`, the function
/// annotation, `internal.config.kubernetes.io/path`...); never reported.
const TOOL_ANNOTATION_PREFIXES: [&str; 6] = [
    "config.kubernetes.io/",
    "internal.config.kubernetes.io/",
    "config.k8s.io/",
    "kustomize.config.k8s.io/",
    "kpt.dev/",
    "kubectl.kubernetes.io/",
];

/// `metadata.namespace`, `labels` and `annotations` of a MeshFederation are
/// not copied to anything meshfed writes: say so rather than ignore them.
fn check_unused_metadata(out: &mut Diagnostics, m: &Metadata) {
    if let Some(ns) = &m.namespace {
        out.push(
            Diagnostic::new(
                Code::MF132,
                "metadata.namespace",
                format!("namespace {ns} is not used: the output's namespaces are spec.istio.namespace and spec.importNamespace"),
            )
            .hint("remove it, or set spec.istio.namespace / spec.importNamespace"),
        );
    }
    if !m.labels.is_empty() {
        let keys: Vec<&str> = m.labels.keys().map(String::as_str).collect();
        out.push(
            Diagnostic::new(
                Code::MF132,
                "metadata.labels",
                format!("labels {} are not copied to the generated objects", keys.join(", ")),
            )
            .hint("remove them; to label the output, use kustomize's `labels:` or kpt's set-labels function"),
        );
    }
    let foreign: Vec<&str> = m
        .annotations
        .keys()
        .map(String::as_str)
        .filter(|k| !TOOL_ANNOTATION_PREFIXES.iter().any(|p| k.starts_with(p)))
        .collect();
    if !foreign.is_empty() {
        out.push(
            Diagnostic::new(
                Code::MF132,
                "metadata.annotations",
                format!("annotations {} are not copied to the generated objects", foreign.join(", ")),
            )
            .hint("remove them; to annotate the output, use kustomize's `commonAnnotations:` or kpt's set-annotations function"),
        );
    }
}

fn check_cluster_identities(out: &mut Diagnostics, clusters: &[ClusterSpec]) {
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut domains: BTreeMap<&str, usize> = BTreeMap::new();
    let mut tds: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, c) in clusters.iter().enumerate() {
        let path = format!("spec.clusters[{i}]");
        if let Some(first) = first_seen(&mut names, &c.name, i) {
            out.push(
                Diagnostic::new(
                    Code::MF112,
                    format!("{path}.name"),
                    format!("cluster name {} is already used by spec.clusters[{first}]", c.name),
                )
                .hint("give every cluster a unique name"),
            );
        }
        if c.domain == "cluster.local" {
            out.push(
                Diagnostic::new(
                    Code::MF115,
                    format!("{path}.domain"),
                    "cluster.local is every cluster's default domain: remote names would collide with local ones",
                )
                .hint(format!(
                    "give the cluster its own domain, e.g. {}.local, as its kubelet clusterDomain and CoreDNS zone (the fragment sets only istiod's)",
                    c.name
                )),
            );
        } else if let Some(first) = first_seen(&mut domains, &c.domain, i) {
            out.push(
                Diagnostic::new(
                    Code::MF113,
                    format!("{path}.domain"),
                    format!("domain {} is already used by spec.clusters[{first}]", c.domain),
                )
                .hint("give each cluster its own DNS domain, the one its kubelet clusterDomain and CoreDNS zone serve"),
            );
        }
        let td = trust_domain(c);
        if let Some(first) = first_seen(&mut tds, td, i) {
            let field = if c.trust_domain.is_some() {
                "trustDomain"
            } else {
                "domain"
            };
            out.push(
                Diagnostic::new(
                    Code::MF114,
                    format!("{path}.{field}"),
                    format!("trust domain {td} is already used by spec.clusters[{first}]"),
                )
                .hint("each cluster needs its own SPIFFE trust domain"),
            );
        }
        if td == "cluster.local" && c.domain != "cluster.local" {
            out.push(
                Diagnostic::new(
                    Code::MF115,
                    format!("{path}.trustDomain"),
                    "cluster.local is every cluster's default trust domain and cannot tell clusters apart",
                )
                .hint("set trustDomain to the cluster's own, e.g. its domain"),
            );
        }
    }
}

/// The checks of cluster `ci`'s gateway and exports (`names`: every
/// cluster's name; `needs_selector`: `authorization: importers`).
pub(crate) fn exports(ci: usize, c: &ClusterSpec, names: &BTreeSet<&str>, needs_selector: bool) -> Diagnostics {
    let mut out = Diagnostics::new();
    let path = format!("spec.clusters[{ci}]");
    if !c.exports.is_empty() && c.gateway.addresses.is_empty() {
        out.push(
            Diagnostic::new(
                Code::MF117,
                format!("{path}.gateway.addresses"),
                format!("cluster {} exports services but has no gateway address", c.name),
            )
            .hint("list the IPs or DNS names at which peers reach its ingress gateway"),
        );
    }
    gateway_addresses(&path, c, &mut out);
    let mut seen: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (ei, e) in c.exports.iter().enumerate() {
        let ep = format!("{path}.exports[{ei}]");
        if let Some(first) = first_seen(&mut seen, (&e.service, &e.namespace), ei) {
            out.push(
                Diagnostic::new(
                    Code::MF119,
                    ep.clone(),
                    format!(
                        "{}.{} is already exported by {path}.exports[{first}]",
                        e.service, e.namespace
                    ),
                )
                .hint("export each service once; list all its ports and targets in that one entry"),
            );
        }
        if needs_selector && e.selector.is_none() {
            out.push(
                Diagnostic::new(Code::MF140, format!("{ep}.selector"), format!("{}.{} has no workload selector", e.service, e.namespace))
                    .hint("authorization: importers needs the labels of the exported pods (the Service's selector), e.g. selector: {app: foo}"),
            );
        }
        export_ports(&ep, e, &mut out);
        export_targets(&ep, e, c, names, &mut out);
    }
    out
}

/// A gateway address is an IP or a DNS name, listed once.
fn gateway_addresses(path: &str, c: &ClusterSpec, out: &mut Diagnostics) {
    let mut seen_addresses: BTreeMap<String, usize> = BTreeMap::new();
    for (ai, addr) in c.gateway.addresses.iter().enumerate() {
        if addr.parse::<IpAddr>().is_err() && !naming::is_dns_name(addr) {
            let bracketed = addr
                .strip_prefix('[')
                .and_then(|a| a.strip_suffix(']'))
                .filter(|a| a.parse::<std::net::Ipv6Addr>().is_ok());
            let hint = match bracketed {
                Some(inner) => {
                    format!("drop the brackets: write {inner} (brackets belong only in URLs, before a port)")
                }
                None => "write an address such as 203.0.113.10 or gw.example.com (no scheme, no port)".to_owned(),
            };
            out.push(
                Diagnostic::new(
                    Code::MF118,
                    format!("{path}.gateway.addresses[{ai}]"),
                    format!("{addr:?} is neither an IP address nor a DNS name"),
                )
                .hint(hint),
            );
            continue;
        }
        let normal = normalise_address(addr);
        if let Some(&first) = seen_addresses.get(&normal) {
            let same = if &normal == addr {
                String::new()
            } else {
                format!(" ({normal})")
            };
            out.push(
                Diagnostic::new(
                    Code::MF131,
                    format!("{path}.gateway.addresses[{ai}]"),
                    format!("{addr}{same} is the same address as addresses[{first}]; it is used once"),
                )
                .hint("list each gateway address once"),
            );
        } else {
            seen_addresses.insert(normal, ai);
        }
    }
}

/// An export's ports: numbers and names unique, a protocol Istio proxies and says.
fn export_ports(ep: &str, e: &ExportSpec, out: &mut Diagnostics) {
    let mut numbers: BTreeMap<u32, usize> = BTreeMap::new();
    let mut port_names: BTreeMap<&str, usize> = BTreeMap::new();
    for (pi, p) in e.ports.iter().enumerate() {
        if let Some(first) = first_seen(&mut numbers, p.port, pi) {
            out.push(
                Diagnostic::new(
                    Code::MF122,
                    format!("{ep}.ports[{pi}].port"),
                    format!("port {} is already listed at ports[{first}]", p.port),
                )
                .hint("list each port number once"),
            );
        }
        if let Some(first) = first_seen(&mut port_names, &p.name, pi) {
            out.push(
                Diagnostic::new(
                    Code::MF123,
                    format!("{ep}.ports[{pi}].name"),
                    format!("port name {} is already used at ports[{first}]", p.name),
                )
                .hint("give each port its own name"),
            );
        }
        let by_name = port_protocol(&p.name, None);
        if names_udp(&p.name) {
            out.push(
                Diagnostic::new(
                    Code::MF129,
                    format!("{ep}.ports[{pi}].name"),
                    format!("port name {} asks for UDP, which Istio does not proxy", p.name),
                )
                .hint("export only TCP-based ports through the mesh; reach a UDP service another way, or rename the port if it is TCP"),
            );
        } else if let (Some(named), Some(explicit)) = (&by_name, &p.protocol) {
            if contradicts(named, explicit) {
                out.push(
                    Diagnostic::new(
                        Code::MF128,
                        format!("{ep}.ports[{pi}].protocol"),
                        format!(
                            "port name {} says {named} but protocol says {explicit}; {explicit} is used",
                            p.name
                        ),
                    )
                    .hint("make the name and the protocol agree: rename the port or change protocol"),
                );
            }
        }
        if !names_udp(&p.name) && port_protocol(&p.name, p.protocol.as_deref()).is_none() {
            out.push(
                Diagnostic::new(
                    Code::MF125,
                    format!("{ep}.ports[{pi}].name"),
                    format!("port name {} does not say its protocol; TCP is assumed", p.name),
                )
                .hint("name it with Istio's prefix (http-, grpc-, tcp-, tls-...) or set protocol"),
            );
        }
    }
}

/// An export's `to`: other clusters that exist.
fn export_targets(ep: &str, e: &ExportSpec, c: &ClusterSpec, names: &BTreeSet<&str>, out: &mut Diagnostics) {
    if let Some(to) = &e.to {
        if to.is_empty() {
            out.push(
                Diagnostic::new(
                    Code::MF127,
                    format!("{ep}.to"),
                    "an empty `to` exports the service to no cluster",
                )
                .hint("remove `to` to export to every other cluster, or name the importers"),
            );
        }
        for (ti, target) in to.iter().enumerate() {
            if target == &c.name {
                out.push(
                    Diagnostic::new(
                        Code::MF121,
                        format!("{ep}.to[{ti}]"),
                        format!("cluster {target} cannot import its own service"),
                    )
                    .hint("name only other clusters in `to`"),
                );
            } else if !names.contains(target.as_str()) {
                out.push(
                    Diagnostic::new(
                        Code::MF120,
                        format!("{ep}.to[{ti}]"),
                        format!("no cluster is named {target}"),
                    )
                    .hint(format!(
                        "use one of: {}",
                        names
                            .iter()
                            .filter(|n| **n != c.name)
                            .copied()
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
            }
        }
    }
}

/// Whether a port name asks for UDP (`udp`, `udp-dns`), which Istio does not proxy.
fn names_udp(name: &str) -> bool {
    name.split('-').next() == Some("udp")
}

/// Whether an explicit protocol and the one a port's name selects disagree.
/// gRPC runs over HTTP/2, so `grpc` with `HTTP2` (and `http2` with `GRPC`) agree.
fn contradicts(by_name: &str, explicit: &str) -> bool {
    by_name != explicit && !matches!((by_name, explicit), ("GRPC", "HTTP2") | ("HTTP2", "GRPC"))
}

/// Where `key` was first seen, when this (`at`) is not its first time;
/// the first place stays recorded, so a third duplicate names the first.
fn first_seen<K: Ord>(seen: &mut BTreeMap<K, usize>, key: K, at: usize) -> Option<usize> {
    match seen.entry(key) {
        std::collections::btree_map::Entry::Occupied(first) => Some(*first.get()),
        std::collections::btree_map::Entry::Vacant(place) => {
            place.insert(at);
            None
        }
    }
}
