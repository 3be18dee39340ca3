//! Global services: one host, `<service>.<namespace>.<globalDomain>`,
//! served by every cluster that exports the service with `global: true`,
//! with locality failover between them. This file checks what makes a
//! global service (its exporters agree on its ports; the global domain is
//! no cluster's) and plans the ServiceEntry and DestinationRule each
//! cluster gets for it. The per-cluster imports stay as `plan` makes them.
//!
//! Who gets a global host, and with which endpoints:
//! - a cluster that imports the service from at least one of its exporters
//!   (honouring `to:`): every such exporter's gateway addresses, each with
//!   that exporter's locality, every port mapped to its gateway port;
//! - an exporter: its own instance first, as its local Service
//!   (`<service>.<namespace>.svc.<domain>`, its own locality, the service
//!   ports), then the peers it imports the service from. Its gateway needs
//!   this host too: AUTO_PASSTHROUGH routes the SNI
//!   `outbound_.<port>_._.<global host>` peers send only to a host it knows
//!   (pilot/pkg/networking/core/gateway.go, `builtAutoPassthroughFilterChains`).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::diagnostics::{Code, Diagnostic};
use crate::naming;
use crate::plan::{service_ports, ObjectMeta, ServicePort};
use crate::spec::{ClusterSpec, ExportSpec, FederationSpec, OutlierDetectionSpec};

/// A global host as one cluster sees it: a ServiceEntry and its DestinationRule.
#[derive(Debug, Clone, Serialize)]
pub struct GlobalService {
    pub meta: ObjectMeta,
    pub host: String,
    /// The exporters' ports (they agree on names and numbers), sorted by number.
    pub ports: Vec<ServicePort>,
    /// `STATIC` when every endpoint address is an IP, `DNS` otherwise.
    pub resolution: &'static str,
    /// The cluster's own instance first (when it exports the service), then
    /// the peers it imports it from, by cluster name.
    pub endpoints: Vec<GlobalEndpoint>,
    /// The union of the exporters' pinned identities; empty when any
    /// endpoint's exporter pins none (pinning the others would reject it).
    pub subject_alt_names: Vec<String>,
    /// The union of the exporters' `consumers`, plus, in an exporting
    /// cluster, `istio.namespace` (its gateway routes through this host);
    /// empty (mesh-wide) when any of them has none.
    pub export_to: Vec<String>,
    pub outlier_detection: OutlierDetectionSpec,
}

#[derive(Debug, Clone, Serialize)]
pub struct GlobalEndpoint {
    pub address: String,
    /// The exporting cluster's `locality`.
    pub locality: Option<String>,
    /// The exporting cluster, for readers of the plan.
    pub cluster: String,
    /// Port name → the port this endpoint takes it on.
    pub ports: Vec<EndpointPort>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EndpointPort {
    pub name: String,
    pub number: u32,
}

/// `<service>.<namespace>.<globalDomain>`.
pub fn global_host(service: &str, namespace: &str, global_domain: &str) -> String {
    format!("{service}.{namespace}.{global_domain}")
}

/// One exporter of a global service, with its place in the spec.
#[derive(Clone, Copy)]
struct Member<'a> {
    ci: usize,
    cluster: &'a ClusterSpec,
    ei: usize,
    export: &'a ExportSpec,
}

/// Each global service's exporters, by cluster name, keyed by (namespace, service).
fn groups(spec: &FederationSpec) -> BTreeMap<(&str, &str), Vec<Member<'_>>> {
    let mut groups: BTreeMap<(&str, &str), Vec<Member<'_>>> = BTreeMap::new();
    for (ci, cluster) in spec.clusters.iter().enumerate() {
        for (ei, export) in cluster.exports.iter().enumerate().filter(|(_, e)| e.global) {
            groups
                .entry((export.namespace.as_str(), export.service.as_str()))
                .or_default()
                .push(Member {
                    ci,
                    cluster,
                    ei,
                    export,
                });
        }
    }
    for members in groups.values_mut() {
        members.sort_by(|a, b| a.cluster.name.cmp(&b.cluster.name));
    }
    groups
}

/// What one cluster sees of a global service: its own export, if it has
/// one, and the peers it imports the service from.
struct View<'a, 'm> {
    own: Option<&'m Member<'a>>,
    peers: Vec<&'m Member<'a>>,
}

impl<'a, 'm> View<'a, 'm> {
    /// `None` when the cluster neither exports nor imports the service.
    fn of(members: &'m [Member<'a>], cluster: &str) -> Option<Self> {
        let own = members.iter().find(|m| m.cluster.name == cluster);
        let peers: Vec<_> = members
            .iter()
            .filter(|m| exports_to(m.cluster, m.export, cluster))
            .collect();
        (own.is_some() || !peers.is_empty()).then_some(View { own, peers })
    }

    /// The exporters behind the host here: its own first, then the peers.
    fn serving(&self) -> impl Iterator<Item = &'m Member<'a>> + '_ {
        self.own.into_iter().chain(self.peers.iter().copied())
    }
}

fn port_list(e: &ExportSpec) -> Vec<(u32, &str)> {
    let mut ports: Vec<(u32, &str)> = e.ports.iter().map(|p| (p.port, p.name.as_str())).collect();
    ports.sort();
    ports
}

/// The global domain is no cluster's (MF150); the exporters of one global
/// service agree on its ports (MF151); a cluster sharing a global host has
/// a locality (MF134, a warning); no two imported objects share a name
/// (MF135).
pub fn check(fed: &str, spec: &FederationSpec) -> Vec<Diagnostic> {
    let mut out = name_collisions(fed, spec);
    let gd = &spec.global_domain;
    for (ci, c) in spec.clusters.iter().enumerate() {
        if gd == &c.domain || gd.ends_with(&format!(".{}", c.domain)) {
            out.push(
                Diagnostic::new(
                    Code::MF150,
                    "spec.globalDomain",
                    format!(
                        "global domain {gd} is inside the domain of cluster {} (spec.clusters[{ci}].domain): global hosts would be that cluster's names",
                        c.name
                    ),
                )
                .hint("pick a domain no cluster uses, e.g. the default `global`"),
            );
        }
    }
    if !spec.clusters.iter().any(|c| c.exports.iter().any(|e| e.global)) {
        return out;
    }
    let show = |ports: &[(u32, &str)]| {
        ports
            .iter()
            .map(|(n, name)| format!("{name} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for ((namespace, service), members) in groups(spec) {
        let Some(first) = members.first() else {
            continue;
        };
        let expected = port_list(first.export);
        for &Member {
            ci,
            cluster: c,
            ei,
            export: e,
        } in &members[1..]
        {
            let got = port_list(e);
            if got != expected {
                out.push(
                    Diagnostic::new(
                        Code::MF151,
                        format!("spec.clusters[{ci}].exports[{ei}].ports"),
                        format!(
                            "global service {} has ports [{}] in cluster {} but [{}] in cluster {}",
                            global_host(service, namespace, gd),
                            show(&got),
                            c.name,
                            show(&expected),
                            first.cluster.name
                        ),
                    )
                    .hint("a global service is one host: give it the same port names and numbers in every cluster that exports it with global: true"),
                );
            }
        }
    }
    out.extend(missing_localities(spec));
    out
}

/// MF135: two objects one cluster imports would have the same name. Names
/// join their parts with `-` (`naming::import_name`: federation, service,
/// namespace, source cluster; a global host's last part is `global`), and
/// `-` may stand inside a part: `foo-bar` in `baz` and `foo` in `bar-baz`
/// from one cluster, or an import from a cluster named `global` and the
/// global host of the same service, would be one ServiceEntry, the second
/// applied over the first. Reported once a name, at the later export.
fn name_collisions(fed: &str, spec: &FederationSpec) -> Vec<Diagnostic> {
    let globals = groups(spec);
    // Every object name an import brings, and where it comes from: an
    // export (cluster, export index) or a global host (its first exporter).
    let mut by_name: BTreeMap<String, Vec<(usize, usize, bool)>> = BTreeMap::new();
    for (ci, c) in spec.clusters.iter().enumerate() {
        for (ei, e) in c.exports.iter().enumerate() {
            let name = naming::import_name(fed, &e.service, &e.namespace, &c.name);
            by_name.entry(name).or_default().push((ci, ei, false));
        }
    }
    for ((namespace, service), members) in &globals {
        let first = members[0];
        by_name
            .entry(naming::global_name(fed, service, namespace))
            .or_default()
            .push((first.ci, first.ei, true));
    }
    let mut out = Vec::new();
    for (name, sources) in by_name.iter_mut().filter(|(_, s)| s.len() > 1) {
        // In spec order: the later one is reported, at its place.
        sources.sort_unstable();
        let receives = |importer: &str, &(ci, ei, global): &(usize, usize, bool)| {
            let (c, e) = (&spec.clusters[ci], &spec.clusters[ci].exports[ei]);
            if global {
                let members = &globals[&(e.namespace.as_str(), e.service.as_str())];
                View::of(members, importer).is_some()
            } else {
                exports_to(c, e, importer)
            }
        };
        let what = |&(ci, ei, global): &(usize, usize, bool)| {
            let (c, e) = (&spec.clusters[ci], &spec.clusters[ci].exports[ei]);
            if global {
                format!("the global host of {}.{}", e.service, e.namespace)
            } else {
                format!("{}.{} from cluster {}", e.service, e.namespace, c.name)
            }
        };
        // One export listed twice is MF119's, not a clash of two names.
        let Some((importer, both)) = spec.clusters.iter().find_map(|importer| {
            let mut got: Vec<_> = sources.iter().filter(|s| receives(&importer.name, s)).collect();
            got.dedup_by_key(|s| what(s));
            (got.len() > 1).then_some((importer, got))
        }) else {
            continue;
        };
        let &(ci, ei, _) = both[1];
        out.push(
            Diagnostic::new(
                Code::MF135,
                format!("spec.clusters[{ci}].exports[{ei}]"),
                format!(
                    "cluster {} would get two ServiceEntries named {name}: {}, and {}",
                    importer.name,
                    what(both[0]),
                    what(both[1])
                ),
            )
            .hint("object names join federation, service, namespace and cluster with '-': rename the cluster, or, when both come from one cluster, a Service or namespace, so the joined names differ"),
        );
    }
    out
}

/// MF134, once a cluster: it shares a global host with other exporters but
/// has no `locality`, so its endpoints carry none. Istio ranks an endpoint
/// against the client's locality (`pilot/pkg/networking/util/util.go`,
/// `LbPriority`: region, then zone, then subzone must be equal), and a
/// client's comes from its node's topology labels: to every client with a
/// region, an endpoint without one is of the lowest priority, its own
/// cluster's clients included, which then prefer a peer in their region.
fn missing_localities(spec: &FederationSpec) -> Vec<Diagnostic> {
    let mut told = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for ((namespace, service), members) in groups(spec) {
        if members.len() < 2 {
            continue;
        }
        for m in members.iter().filter(|m| m.cluster.locality.is_none()) {
            if !told.insert(m.ci) {
                continue;
            }
            out.push(
                Diagnostic::new(
                    Code::MF134,
                    format!("spec.clusters[{}].exports[{}].global", m.ci, m.ei),
                    format!(
                        "cluster {} serves the global host {} with {} other cluster(s) but has no locality: no client ranks its endpoints as near, not even its own pods",
                        m.cluster.name,
                        global_host(service, namespace, &spec.global_domain),
                        members.len() - 1
                    ),
                )
                .hint(format!(
                    "set spec.clusters[{}].locality to the region[/zone] its nodes carry (labels topology.kubernetes.io/region and zone)",
                    m.ci
                )),
            );
        }
    }
    out
}

/// Istio 1.30's CRD caps on a ServiceEntry (testdata/istio/crd-all.gen.yaml:
/// `spec.ports` and `spec.endpoints` `maxItems`).
pub const MAX_SERVICE_ENTRY_PORTS: usize = 256;
pub const MAX_SERVICE_ENTRY_ENDPOINTS: usize = 4096;
/// Imported hosts past which an importing cluster gets a warning: Istio
/// issues report sidecars taking minutes to start near 2,000 ServiceEntries.
pub const MANY_IMPORTED_HOSTS: usize = 1000;

/// The limits at scale: a ServiceEntry past the CRD's caps is an error
/// naming the service (MF152); an importing cluster past
/// [`MANY_IMPORTED_HOSTS`] hosts visible mesh-wide is a warning suggesting
/// `consumers` (MF153).
pub fn check_limits(spec: &FederationSpec) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut imported = BTreeMap::new();
    export_caps(spec, &mut imported, &mut out);
    global_caps(spec, &mut imported, &mut out);
    for (ci, c) in spec.clusters.iter().enumerate() {
        let Some(&Imported { hosts, unscoped }) = imported.get(c.name.as_str()) else {
            continue;
        };
        if hosts > MANY_IMPORTED_HOSTS && unscoped > 0 {
            out.push(
                Diagnostic::new(
                    Code::MF153,
                    format!("spec.clusters[{ci}]"),
                    format!(
                        "cluster {} imports {hosts} hosts, {unscoped} of them visible in every namespace: every sidecar there receives them all",
                        c.name
                    ),
                )
                .hint("set consumers on the exports to the namespaces that call them (exportTo), so each sidecar gets only its own; Istio sidecars have been reported to take minutes to start near 2,000 ServiceEntries"),
            );
        }
    }
    out
}

/// The hosts one cluster imports, and how many of them are visible mesh-wide.
#[derive(Default, Clone, Copy)]
struct Imported {
    hosts: usize,
    unscoped: usize,
}

impl Imported {
    fn add(&mut self, scoped: bool) {
        self.hosts += 1;
        self.unscoped += usize::from(!scoped);
    }
}

/// A cluster's distinct gateway addresses: the endpoints each of its
/// exports has in an importer's ServiceEntry.
fn address_count(c: &ClusterSpec) -> usize {
    let mut a: Vec<&str> = c.gateway.addresses.iter().map(String::as_str).collect();
    a.sort();
    a.dedup();
    a.len()
}

fn too_many(path: String, what: String, hint: &str) -> Diagnostic {
    Diagnostic::new(Code::MF152, path, what).hint(hint.to_owned())
}

/// MF152 for an exporter's addresses and an export's ports, counting each
/// plain import on the way.
fn export_caps<'a>(spec: &'a FederationSpec, imported: &mut BTreeMap<&'a str, Imported>, out: &mut Vec<Diagnostic>) {
    // Each cluster's slot in `counts`: the position of the first cluster of
    // its name, so that clusters of one name (an error of its own) share one
    // count, as they do in `imported`.
    let mut first: BTreeMap<&str, usize> = BTreeMap::new();
    let slot: Vec<usize> = (spec.clusters.iter().enumerate())
        .map(|(i, c)| *first.entry(c.name.as_str()).or_insert(i))
        .collect();
    let mut counts = vec![Imported::default(); spec.clusters.len()];
    for (ci, c) in spec.clusters.iter().enumerate() {
        if address_count(c) > MAX_SERVICE_ENTRY_ENDPOINTS && !c.exports.is_empty() {
            out.push(too_many(
                format!("spec.clusters[{ci}].gateway.addresses"),
                format!(
                    "cluster {} has {} gateway addresses: each ServiceEntry importing its services would have more than the {MAX_SERVICE_ENTRY_ENDPOINTS} endpoints Istio's CRD allows",
                    c.name,
                    address_count(c)
                ),
                "list at most 4096 addresses, e.g. a load balancer's in front of the gateway pods",
            ));
        }
        for (ei, e) in c.exports.iter().enumerate() {
            if e.ports.len() > MAX_SERVICE_ENTRY_PORTS {
                out.push(too_many(
                    format!("spec.clusters[{ci}].exports[{ei}].ports"),
                    format!(
                        "{}.{} has {} ports: its ServiceEntry would have more than the {MAX_SERVICE_ENTRY_PORTS} Istio's CRD allows",
                        e.service,
                        e.namespace,
                        e.ports.len()
                    ),
                    "export at most 256 ports per service; split it into several Services",
                ));
            }
            match &e.to {
                // Every other cluster: counted by slot, not looked up by
                // name 38,000 times at 20x100.
                None => {
                    for (i, importer) in counts.iter_mut().enumerate() {
                        if slot[i] != slot[ci] {
                            importer.add(e.consumers.is_some());
                        }
                    }
                }
                Some(_) => {
                    for (i, importer) in spec.clusters.iter().enumerate() {
                        if exports_to(c, e, &importer.name) {
                            counts[slot[i]].add(e.consumers.is_some());
                        }
                    }
                }
            }
        }
    }
    for (c, n) in spec.clusters.iter().zip(counts) {
        if n.hosts > 0 {
            let total = imported.entry(&c.name).or_default();
            total.hosts += n.hosts;
            total.unscoped += n.unscoped;
        }
    }
}

/// MF152 for a global host's endpoints in each cluster, counting each
/// imported global host on the way.
fn global_caps<'a>(spec: &'a FederationSpec, imported: &mut BTreeMap<&'a str, Imported>, out: &mut Vec<Diagnostic>) {
    for ((namespace, service), members) in groups(spec) {
        let host = global_host(service, namespace, &spec.global_domain);
        for c in &spec.clusters {
            let Some(view) = View::of(&members, &c.name) else {
                continue;
            };
            let endpoints =
                usize::from(view.own.is_some()) + view.peers.iter().map(|m| address_count(m.cluster)).sum::<usize>();
            let Member { ci, ei, .. } = members[0];
            if endpoints > MAX_SERVICE_ENTRY_ENDPOINTS {
                out.push(too_many(
                    format!("spec.clusters[{ci}].exports[{ei}].global"),
                    format!(
                        "global service {host} would have {endpoints} endpoints in cluster {}, more than the {MAX_SERVICE_ENTRY_ENDPOINTS} Istio's CRD allows on one ServiceEntry",
                        c.name
                    ),
                    "export it globally from fewer clusters, or list fewer gateway addresses per cluster",
                ));
            }
            if !view.peers.is_empty() {
                let scoped = members.iter().all(|m| m.export.consumers.is_some());
                imported.entry(&c.name).or_default().add(scoped);
            }
        }
    }
}

fn exports_to(exporter: &ClusterSpec, e: &ExportSpec, cluster: &str) -> bool {
    exporter.name != cluster && e.to.as_ref().is_none_or(|to| to.iter().any(|t| t == cluster))
}

/// Every cluster's global hosts, by cluster name, each list sorted by host.
/// Expects a spec that passed [`check`].
pub fn plan(fed: &str, spec: &FederationSpec, import_namespace: &str) -> BTreeMap<String, Vec<GlobalService>> {
    let mut out: BTreeMap<String, Vec<GlobalService>> = BTreeMap::new();
    let groups = groups(spec);
    if groups.is_empty() {
        return out;
    }
    let labels = Arc::new(naming::labels(fed, None));
    for ((namespace, service), members) in &groups {
        let host = global_host(service, namespace, &spec.global_domain);
        let ports = service_ports(&members[0].export.ports);
        for c in &spec.clusters {
            let Some(view) = View::of(members, &c.name) else {
                continue;
            };
            let endpoints = endpoints(&view, service, namespace, &ports);
            let (subject_alt_names, export_to) = identities(&view, namespace, &spec.istio.namespace);
            out.entry(c.name.clone()).or_default().push(GlobalService {
                meta: ObjectMeta {
                    name: naming::global_name(fed, service, namespace),
                    namespace: import_namespace.to_owned(),
                    labels: labels.clone(),
                    annotations: Arc::new(naming::annotations(&c.name)),
                },
                host: host.clone(),
                ports: ports.clone(),
                resolution: crate::plan::resolution(endpoints.iter().map(|e| e.address.as_str())),
                endpoints,
                subject_alt_names,
                export_to,
                outlier_detection: spec.global_outlier_detection.clone(),
            });
        }
    }
    for list in out.values_mut() {
        list.sort_by(|a, b| a.host.cmp(&b.host));
    }
    out
}

/// The cluster's own instance first, as its local Service on the service
/// ports, then each peer's distinct gateway addresses on its gateway port.
fn endpoints(view: &View<'_, '_>, service: &str, namespace: &str, ports: &[ServicePort]) -> Vec<GlobalEndpoint> {
    // Every port, on its own number or on the one port a gateway takes them all on.
    let on = |gateway: Option<u16>| -> Vec<EndpointPort> {
        ports
            .iter()
            .map(|p| EndpointPort {
                name: p.name.clone(),
                number: u32::from(gateway.unwrap_or(p.number)),
            })
            .collect()
    };
    let mut endpoints = Vec::new();
    if let Some(me) = view.own {
        endpoints.push(GlobalEndpoint {
            address: naming::service_host(service, namespace, &me.cluster.domain),
            locality: me.cluster.locality.clone(),
            cluster: me.cluster.name.clone(),
            ports: on(None),
        });
    }
    for peer in &view.peers {
        let mut addresses = peer.cluster.gateway.addresses.clone();
        addresses.sort();
        addresses.dedup();
        for address in addresses {
            endpoints.push(GlobalEndpoint {
                address,
                locality: peer.cluster.locality.clone(),
                cluster: peer.cluster.name.clone(),
                ports: on(Some(peer.cluster.gateway.port)),
            });
        }
    }
    endpoints
}

/// The identities the host's DestinationRule pins (the union of the
/// exporters' service accounts, or none when any exporter pins none) and
/// the namespaces it is exported to (the union of their `consumers`, plus
/// the exporter's own gateway namespace, or mesh-wide when any has none).
fn identities(view: &View<'_, '_>, namespace: &str, gateway_namespace: &str) -> (Vec<String>, Vec<String>) {
    let mut sans = Vec::new();
    let mut pinned = true;
    let mut export_to = Vec::new();
    let mut scoped = true;
    for Member {
        cluster: exporter,
        export: e,
        ..
    } in view.serving()
    {
        pinned &= !e.service_accounts.is_empty();
        let td = exporter.trust_domain.as_deref().unwrap_or(&exporter.domain);
        sans.extend(e.service_accounts.iter().map(|sa| naming::spiffe_id(td, namespace, sa)));
        match &e.consumers {
            Some(c) => export_to.extend(c.iter().cloned()),
            None => scoped = false,
        }
    }
    if !scoped {
        export_to.clear();
    } else if view.own.is_some() {
        // The exporter's own gateway routes the global SNI through this
        // host, under the DestinationRule's locality preference.
        export_to.push(gateway_namespace.to_owned());
    }
    for list in [&mut sans, &mut export_to] {
        list.sort();
        list.dedup();
    }
    if !pinned {
        sans.clear();
    }
    (sans, export_to)
}
