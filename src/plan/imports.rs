//! The export fan-out: each export becomes one shared `ImportedService`
//! imported by every cluster it goes to, the host its exporter's gateway
//! exposes, a pair of peers, and with `authorization: importers` the
//! policies that let only the importers in.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;

use super::next_steps::{export_step, ExportStep};
use super::{trust_domain, ObjectMeta};
use crate::naming;
use crate::spec::{AuthorizationMode, ClusterSpec, ExportSpec, FederationSpec, PortSpec};

/// Who may call one exported service (`authorization: importers`): an
/// ALLOW AuthorizationPolicy and a STRICT PeerAuthentication on its workloads.
#[derive(Debug, Clone, Serialize)]
pub struct ExportAuthorization {
    pub policy: ObjectMeta,
    pub peer_authentication: ObjectMeta,
    pub selector: BTreeMap<String, String>,
    /// The exporting cluster's own workloads, on every port: `<trustDomain>/*`.
    pub local_principals: Vec<String>,
    /// The importing clusters' workloads, on the exported ports only.
    pub importer_principals: Vec<String>,
    /// The exported ports as the workload listens on them (`targetPort`,
    /// default `port`), sorted and deduplicated.
    pub ports: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServicePort {
    pub name: String,
    pub number: u16,
    pub protocol: String,
}

/// A remote service registered in this cluster: a ServiceEntry and its
/// DestinationRule. Every importer of an export shares one `ImportedService`
/// and differs only in the cluster annotation, so a 20 x 100 federation holds
/// 2,000 of them, not 38,000. It serializes (for templates) as one object:
/// `meta` (with this cluster's annotations), `host`, `source_cluster`,
/// `ports`, `resolution`, `endpoints`, `gateway_port`, `subject_alt_names`,
/// `export_to`.
#[derive(Debug, Clone)]
pub struct ServiceImport {
    pub service: Arc<ImportedService>,
    pub annotations: Arc<BTreeMap<String, String>>,
}

/// What every importer of one export shares; `meta.annotations` is empty.
#[derive(Debug, Clone, Serialize)]
pub struct ImportedService {
    /// This export's place among the federation's exports (`Federation::exports`),
    /// for renderers that work each one out once.
    #[serde(skip)]
    pub index: usize,
    pub meta: ObjectMeta,
    pub host: String,
    pub source_cluster: String,
    pub ports: Vec<ServicePort>,
    /// `STATIC` when every gateway address is an IP, `DNS` otherwise.
    pub resolution: &'static str,
    pub endpoints: Vec<String>,
    pub gateway_port: u16,
    pub subject_alt_names: Vec<String>,
    /// `exportTo` of the ServiceEntry and DestinationRule: the export's
    /// `consumers`, sorted and deduplicated; empty: visible mesh-wide.
    pub export_to: Vec<String>,
}

impl Serialize for ServiceImport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let s = &*self.service;
        let meta = ObjectMeta {
            annotations: self.annotations.clone(),
            ..s.meta.clone()
        };
        let mut out = serializer.serialize_struct("ServiceImport", 9)?;
        out.serialize_field("meta", &meta)?;
        out.serialize_field("host", &s.host)?;
        out.serialize_field("source_cluster", &s.source_cluster)?;
        out.serialize_field("ports", &s.ports)?;
        out.serialize_field("resolution", s.resolution)?;
        out.serialize_field("endpoints", &s.endpoints)?;
        out.serialize_field("gateway_port", &s.gateway_port)?;
        out.serialize_field("subject_alt_names", &s.subject_alt_names)?;
        out.serialize_field("export_to", &s.export_to)?;
        out.end()
    }
}

/// One cluster's part of the export fan-out.
#[derive(Default)]
pub(super) struct ClusterFanOut<'a> {
    /// What it imports, in exporter (name) order, then export order.
    pub(super) imports: Vec<ServiceImport>,
    /// The hosts its gateway exposes; empty when it exports nothing.
    pub(super) exported_hosts: Vec<String>,
    /// The clusters it imports from or exports to.
    pub(super) peers: BTreeSet<&'a str>,
    /// With `authorization: importers`: its policies.
    pub(super) authorizations: Vec<ExportAuthorization>,
    /// Its exports, as NEXT-STEPS.md lists them.
    pub(super) export_steps: Vec<ExportStep>,
    /// The clusters its exports go to, sorted: every export's importers.
    pub(super) callers: Vec<String>,
}

/// The export fan-out: each cluster's part, in name order (`by_name`'s).
/// Indexed by position, not by name: at 20x100 there are 38,000 imports,
/// and a map lookup by name for each was a third of building the plan.
pub(super) struct FanOut<'a> {
    pub(super) clusters: Vec<ClusterFanOut<'a>>,
    /// How many exports there are (`Federation::exports`).
    pub(super) exports: usize,
}

/// Every export of every cluster, fanned out to its importers.
pub(super) fn fan_out<'a>(
    fed: &str,
    s: &'a FederationSpec,
    by_name: &BTreeMap<&'a str, &'a ClusterSpec>,
) -> FanOut<'a> {
    let names: Vec<&'a str> = by_name.keys().copied().collect();
    let mut fanning = Fanning {
        fed,
        s,
        by_name,
        annotations: names.iter().map(|n| Arc::new(naming::annotations(n))).collect(),
        out: FanOut {
            clusters: names.iter().map(|_| ClusterFanOut::default()).collect(),
            exports: 0,
        },
        names,
    };
    for (xi, &exporter) in by_name.values().enumerate() {
        fanning.exporter(xi, exporter);
    }
    fanning.out
}

/// A fan-out in progress.
struct Fanning<'x, 'a> {
    fed: &'x str,
    s: &'a FederationSpec,
    by_name: &'x BTreeMap<&'a str, &'a ClusterSpec>,
    /// The cluster names in `by_name`'s order: a cluster's position is its slot in `out`.
    names: Vec<&'a str>,
    /// Each cluster's annotations, shared by all its imports.
    annotations: Vec<Arc<BTreeMap<String, String>>>,
    out: FanOut<'a>,
}

impl<'a> Fanning<'_, 'a> {
    /// The exports of the cluster at position `xi`, and its peers.
    fn exporter(&mut self, xi: usize, exporter: &'a ClusterSpec) {
        let names = &self.names;
        let labels = Arc::new(naming::labels(self.fed, Some(&exporter.name)));
        // An export without `to` goes to every other cluster: who those are
        // is worked out once per exporter, and its importer list is shared.
        let others: Vec<usize> = (0..names.len()).filter(|&i| i != xi).collect();
        let to_others: Arc<[String]> = others.iter().map(|&i| names[i].to_owned()).collect();
        let mut to_all = false;
        let mut to_named: BTreeSet<&'a str> = BTreeSet::new();
        for e in &exporter.exports {
            match &e.to {
                Some(to) => {
                    to_named.extend(to.iter().map(String::as_str));
                    // Checked to be clusters of the federation (`checks`).
                    let targets: Vec<usize> = to
                        .iter()
                        .filter_map(|t| self.names.binary_search(&t.as_str()).ok())
                        .collect();
                    let mut importers: Vec<String> = to.clone();
                    importers.sort();
                    self.export(xi, exporter, e, &labels, &targets, Arc::from(importers));
                }
                None => {
                    to_all = true;
                    self.export(xi, exporter, e, &labels, &others, to_others.clone());
                }
            }
        }
        let names = &self.names;
        let callers: BTreeSet<&'a str> = others
            .iter()
            .filter(|_| to_all)
            .map(|&i| names[i])
            .chain(to_named)
            .collect();
        for &importer in &callers {
            if let Ok(i) = names.binary_search(&importer) {
                self.out.clusters[i].peers.insert(&exporter.name);
            }
            self.out.clusters[xi].peers.insert(importer);
        }
        self.out.clusters[xi].callers = callers.into_iter().map(str::to_owned).collect();
    }

    /// Export `e` of the cluster at position `xi`, to the clusters at
    /// positions `targets`, named (sorted) in `importers`.
    fn export(
        &mut self,
        xi: usize,
        exporter: &ClusterSpec,
        e: &ExportSpec,
        labels: &Arc<BTreeMap<String, String>>,
        targets: &[usize],
        importers: Arc<[String]>,
    ) {
        let (fed, s) = (self.fed, self.s);
        // Worked out once per export; importers differ only in the cluster annotation.
        let host = naming::service_host(&e.service, &e.namespace, &exporter.domain);
        let index = self.out.exports;
        let service = Arc::new(service_import(
            fed,
            &s.import_namespace,
            exporter,
            e,
            host,
            labels.clone(),
            index,
        ));
        self.out.exports += 1;
        for &i in targets {
            self.out.clusters[i].imports.push(ServiceImport {
                service: service.clone(),
                annotations: self.annotations[i].clone(),
            });
        }
        let mine = &mut self.out.clusters[xi];
        mine.exported_hosts.push(service.host.clone());
        if e.global {
            // Peers send the global host's SNI to this gateway (see `global`).
            let global = crate::plan::global::global_host(&e.service, &e.namespace, &s.global_domain);
            mine.exported_hosts.push(global);
        }
        if s.authorization == Some(AuthorizationMode::Importers) {
            // Every importer is a cluster in a checked spec; the fan-out may
            // also run beside the checks (`plan::fan_out`), so it never panics.
            let importers = (importers.iter()).filter_map(|t| self.by_name.get(t.as_str()).map(|c| trust_domain(c)));
            mine.authorizations
                .push(export_authorization(fed, exporter, e, importers));
        }
        mine.export_steps.push(export_step(e, importers));
    }
}

/// Istio port-name prefixes and the protocol they select
/// (https://istio.io/latest/docs/ops/configuration/traffic-management/protocol-selection/).
/// `udp` is not here: Istio parses it (istio/istio pkg/config/protocol/instance.go,
/// `Parse`) but proxies no UDP ("Non-TCP based protocols, such as UDP, are not
/// proxied", the page above), so a `udp-*` export is refused (MF129).
const PROTOCOL_PREFIXES: [(&str, &str); 11] = [
    ("grpc-web", "GRPC"),
    ("grpc", "GRPC"),
    ("http2", "HTTP2"),
    ("https", "HTTPS"),
    ("http", "HTTP"),
    ("mongo", "MONGO"),
    ("mysql", "TCP"),
    ("redis", "TCP"),
    ("tcp", "TCP"),
    ("tls", "TLS"),
    ("h2c", "HTTP2"),
];

/// The protocol of a port: explicit, or from its name's prefix (`http`,
/// `http-web`), as Istio selects it. `None` when the name says nothing.
pub fn port_protocol(name: &str, explicit: Option<&str>) -> Option<String> {
    if let Some(p) = explicit {
        return Some(p.to_owned());
    }
    let prefix = name.split('-').next().unwrap_or(name);
    PROTOCOL_PREFIXES
        .iter()
        .find(|(p, _)| *p == prefix || name == *p)
        .map(|(_, proto)| (*proto).to_owned())
}

/// An address as the output writes it: an IPv6 address in its RFC 5952 form
/// (`2001:DB8:0:0::11` → `2001:db8::11`, what `Ipv6Addr`'s Display gives),
/// anything else as written.
pub(crate) fn normalise_address(addr: &str) -> String {
    match addr.parse::<std::net::Ipv6Addr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => addr.to_owned(),
    }
}

/// A gateway's addresses normalised, sorted and without duplicates.
pub(super) fn gateway_addresses(addresses: &[String]) -> Vec<String> {
    let mut out: Vec<String> = addresses.iter().map(|a| normalise_address(a)).collect();
    out.sort();
    out.dedup();
    out
}

/// An export's ports as a ServiceEntry lists them: sorted by number, each
/// with its protocol (TCP when its name says none).
pub fn service_ports(ports: &[PortSpec]) -> Vec<ServicePort> {
    let mut ports: Vec<ServicePort> = ports
        .iter()
        .map(|p| ServicePort {
            name: p.name.clone(),
            number: p.port as u16,
            protocol: port_protocol(&p.name, p.protocol.as_deref()).unwrap_or_else(|| "TCP".to_owned()),
        })
        .collect();
    ports.sort_by_key(|p| p.number);
    ports
}

/// The import of `e` from `exporter`, without the importing cluster's annotation.
fn service_import(
    fed: &str,
    namespace: &str,
    exporter: &ClusterSpec,
    e: &ExportSpec,
    host: String,
    labels: Arc<BTreeMap<String, String>>,
    index: usize,
) -> ImportedService {
    let ports = service_ports(&e.ports);
    let endpoints = gateway_addresses(&exporter.gateway.addresses);
    let td = trust_domain(exporter);
    let mut sans: Vec<String> = e
        .service_accounts
        .iter()
        .map(|sa| naming::spiffe_id(td, &e.namespace, sa))
        .collect();
    sans.sort();
    sans.dedup();
    ImportedService {
        index,
        meta: ObjectMeta {
            name: naming::import_name(fed, &e.service, &e.namespace, &exporter.name),
            namespace: namespace.to_owned(),
            labels,
            annotations: Arc::default(),
        },
        host,
        source_cluster: exporter.name.clone(),
        ports,
        resolution: resolution(endpoints.iter().map(String::as_str)),
        endpoints,
        gateway_port: exporter.gateway.port,
        subject_alt_names: sans,
        export_to: export_to(e),
    }
}

/// The `exportTo` of an import's ServiceEntry and DestinationRule: the
/// export's `consumers`, sorted and deduplicated (empty: no `exportTo`,
/// visible in every namespace). istiod reads it for a ServiceEntry in
/// pilot/pkg/serviceregistry/serviceentry/conversion.go (`Attributes.ExportTo`,
/// checked by `PushContext::IsServiceVisible`) and for a DestinationRule in
/// pilot/pkg/model/push_context.go (`setDestinationRules`): a namespace not
/// listed sees neither the host nor its mTLS settings.
fn export_to(e: &ExportSpec) -> Vec<String> {
    let mut namespaces: Vec<String> = e.consumers.iter().flatten().cloned().collect();
    namespaces.sort();
    namespaces.dedup();
    namespaces
}

fn export_authorization<'a>(
    fed: &str,
    exporter: &ClusterSpec,
    e: &ExportSpec,
    importer_trust_domains: impl Iterator<Item = &'a str>,
) -> ExportAuthorization {
    let meta = |suffix: &str| ObjectMeta {
        name: naming::object_name(&[fed, &e.service, suffix]),
        namespace: e.namespace.clone(),
        labels: Arc::new(naming::labels(fed, None)),
        annotations: Arc::new(naming::annotations(&exporter.name)),
    };
    let principal = |td: &str| format!("{td}/*");
    let importers: BTreeSet<String> = importer_trust_domains.map(principal).collect();
    // `to.operation.ports` become Envoy RBAC destination_port on the workload's
    // inbound listener (pilot/pkg/security/authz/model/model.go, generator.go):
    // the port the pod receives on, the Service's targetPort, not the Service port.
    let mut ports: Vec<u32> = e.ports.iter().map(|p| p.target_port.unwrap_or(p.port)).collect();
    ports.sort();
    ports.dedup();
    ExportAuthorization {
        policy: meta("importers"),
        peer_authentication: meta("strict"),
        selector: e.selector.clone().unwrap_or_default(),
        local_principals: vec![principal(trust_domain(exporter))],
        importer_principals: importers.into_iter().collect(),
        ports: ports.iter().map(u32::to_string).collect(),
    }
}

/// A ServiceEntry's `resolution` for these endpoint addresses: `STATIC` when
/// every one is an IP (Istio connects to them as given), `DNS` otherwise.
pub fn resolution<'a>(mut addresses: impl Iterator<Item = &'a str>) -> &'static str {
    if addresses.all(|a| a.parse::<IpAddr>().is_ok()) {
        "STATIC"
    } else {
        "DNS"
    }
}
