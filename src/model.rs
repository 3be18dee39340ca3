//! The validated plan between the spec and the templates: plain data in
//! which every decision is already taken (names, labels, which cluster
//! imports and trusts what, API versions, installer settings). Templates
//! only format it.
//!
//! `build` runs every semantic check of PRODUCT §5 on the spec part and
//! collects all problems in one pass.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::certs::{self, CertPolicy, RootCert, SourceRef};
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::load::SpecSource;
use crate::locate::LineIndex;
use crate::naming;
use crate::spec::{AuthorizationMode, ClusterSpec, Installer, MeshFederation, RootCaSpec};

/// Oldest Istio minor meshfed renders for: the first with
/// `meshConfig.caCertificates[].trustDomains` and `ISTIO_MULTIROOT_MESH`.
pub const OLDEST_ISTIO_MINOR: u32 = 20;
/// Newest Istio minor whose schemas and value paths were checked.
pub const NEWEST_CHECKED_ISTIO_MINOR: u32 = 30;

#[derive(Debug, Clone, Serialize)]
pub struct Federation {
    pub name: String,
    pub istio: IstioTarget,
    pub import_namespace: String,
    /// Sorted by name.
    pub clusters: Vec<ClusterPlan>,
    /// How many exports there are: every `ImportedService::index` is below it.
    #[serde(skip)]
    pub exports: usize,
    /// In KRM mode, the items (`ObjectSource::item`) roots were read from:
    /// inputs, never to be replaced as earlier output.
    #[serde(skip)]
    pub items_read: BTreeSet<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IstioTarget {
    pub minor: u32,
    pub version: String,
    pub namespace: String,
    pub installer: InstallerKind,
    /// `networking.istio.io/v1` from 1.22 on, `v1beta1` before.
    pub networking_api: String,
    pub security_api: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InstallerKind {
    Helm,
    Istioctl,
    Sail,
    None,
}

/// Kubernetes object metadata as it is emitted. Labels and annotations are
/// shared: a 20-cluster federation has 38,000 imports but only 20 different
/// sets of each, and a map per import was most of the plan's memory.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectMeta {
    pub name: String,
    pub namespace: String,
    pub labels: Arc<BTreeMap<String, String>>,
    pub annotations: Arc<BTreeMap<String, String>>,
}

/// Everything one cluster gets.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterPlan {
    pub name: String,
    pub domain: String,
    pub trust_domain: String,
    pub network: Option<String>,
    /// The cluster's own roots, sorted by fingerprint.
    pub roots: Vec<RootCert>,
    /// Sorted by source cluster, namespace, service.
    pub imports: Vec<ServiceImport>,
    /// Global hosts this cluster serves or imports, sorted by host (`global`).
    pub globals: Vec<crate::global::GlobalService>,
    pub gateway: Option<GatewayExposure>,
    pub trust: Option<TrustBundle>,
    pub mesh_config: Option<MeshConfigFragment>,
    /// With `authorization: importers`: one per exported service, sorted by namespace and service.
    pub authorizations: Vec<ExportAuthorization>,
    /// What the cluster needs that meshfed cannot set (`NEXT-STEPS.md`).
    pub next_steps: NextSteps,
}

/// What a cluster needs beyond meshfed's output, for its `NEXT-STEPS.md`:
/// the facts specific to this cluster, every list sorted.
#[derive(Debug, Clone, Serialize)]
pub struct NextSteps {
    /// `helm`, `istioctl`, `sail` or `none`: which fragment to apply and how.
    pub installer: InstallerKind,
    /// The federation port as peers reach it and as the gateway pods listen on it.
    pub gateway: Option<GatewayStep>,
    /// The clusters that call this one through its gateway.
    pub callers: Vec<String>,
    /// This cluster's exported services.
    pub exports: Vec<ExportStep>,
    /// The gateways this cluster's pods call, one per cluster it imports from.
    pub remote_gateways: Vec<RemoteGatewayStep>,
    /// The hosts this cluster's pods may call.
    pub imported_hosts: Vec<String>,
    /// Namespaces of the exported workloads, whose pods need a sidecar.
    pub export_namespaces: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GatewayStep {
    pub port: u16,
    pub target_port: u16,
    pub addresses: Vec<String>,
    pub selector: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportStep {
    pub service: String,
    pub namespace: String,
    pub ports: Vec<ExportPortStep>,
    /// The clusters it is exported to.
    pub importers: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportPortStep {
    pub name: String,
    pub port: u32,
    pub target_port: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct RemoteGatewayStep {
    pub cluster: String,
    pub addresses: Vec<String>,
    pub port: u16,
}

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

/// The AUTO_PASSTHROUGH Gateway exposing exactly this cluster's exports.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayExposure {
    pub meta: ObjectMeta,
    pub selector: BTreeMap<String, String>,
    pub port: u16,
    /// Sorted.
    pub hosts: Vec<String>,
}

/// The roots of one remote cluster this cluster trusts.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteTrust {
    pub cluster: String,
    pub trust_domain: String,
    pub roots: Vec<RootCert>,
    /// All roots, concatenated.
    pub pem: String,
}

/// The trust Secret: one key per remote cluster plus `ca.crt`.
#[derive(Debug, Clone, Serialize)]
pub struct TrustBundle {
    pub meta: ObjectMeta,
    /// Sorted by cluster name.
    pub remotes: Vec<RemoteTrust>,
    /// Every remote root, deduplicated and sorted by fingerprint, concatenated.
    pub ca_crt: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaCertificate {
    pub pem: String,
    pub trust_domains: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GatewayServicePort {
    pub name: String,
    pub port: u16,
    pub target_port: u16,
}

/// The istiod and gateway settings a cluster needs, whatever the installer.
#[derive(Debug, Clone, Serialize)]
pub struct MeshConfigFragment {
    pub cluster_domain: String,
    pub trust_domain: String,
    pub network: Option<String>,
    pub ca_certificates: Vec<CaCertificate>,
    pub istiod_env: BTreeMap<String, String>,
    pub proxy_metadata: BTreeMap<String, String>,
    /// Ports of the ingress gateway's Service, for exporting clusters.
    pub gateway_service_ports: Vec<GatewayServicePort>,
    /// The Gateway's selector: the labels the gateway pods must carry. The
    /// `istio/gateway` chart's `labels` value sets them.
    pub gateway_selector: BTreeMap<String, String>,
    /// istioctl, exporting clusters: the `ingressGateways` component that
    /// serves the federation port.
    pub istioctl_gateway: Option<IstioctlGateway>,
}

/// The IstioOperator ingress gateway component that carries the federation
/// port. istioctl's own `istio-ingressgateway` when its pods already carry
/// the selector (its labels are never changed: they are its Deployment's
/// immutable selector); otherwise a component of its own, listed beside an
/// untouched `istio-ingressgateway` (istioctl replaces lists, so leaving that
/// out would remove the default gateway).
#[derive(Debug, Clone, Serialize)]
pub struct IstioctlGateway {
    pub name: String,
    /// The component's `label`; empty for `istio-ingressgateway`, whose
    /// labels stay as they are.
    pub label: BTreeMap<String, String>,
    /// Whether `istio-ingressgateway` is listed, unchanged, beside it.
    pub beside_default: bool,
}

/// Settings for `build`.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub certs: CertPolicy,
    /// The ConfigMaps and Secrets among a KRM function's items, which
    /// `rootCA.configMaps`/`rootCA.secrets` name; `None` outside KRM mode.
    pub objects: Option<ObjectSources>,
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

/// Whether a port name asks for UDP (`udp`, `udp-dns`), which Istio does not proxy.
fn names_udp(name: &str) -> bool {
    name.split('-').next() == Some("udp")
}

/// Whether an explicit protocol and the one a port's name selects disagree.
/// gRPC runs over HTTP/2, so `grpc` with `HTTP2` (and `http2` with `GRPC`) agree.
fn contradicts(by_name: &str, explicit: &str) -> bool {
    by_name != explicit && !matches!((by_name, explicit), ("GRPC", "HTTP2") | ("HTTP2", "GRPC"))
}

/// `"1.30"` → 30.
fn istio_minor(version: &str) -> Option<u32> {
    version.strip_prefix("1.")?.parse().ok()
}

struct Builder<'a> {
    src: &'a SpecSource,
    objects: Option<&'a ObjectSources>,
    /// The items (`ObjectSource::item`) a root was read from.
    items_read: BTreeSet<usize>,
    /// Built on the first diagnostic: a valid spec never needs it.
    index: std::cell::OnceCell<LineIndex>,
    diags: Diagnostics,
    /// `meshfed graph` needs names, not certificates: root CA problems are
    /// warnings and the plan is built without those roots.
    roots_as_warnings: bool,
}

/// Codes of root CA sources and their certificates (MF116, MF2xx, the
/// SPIFFE bundle's MF5xx), which [`build_without_roots`] reports as warnings.
fn is_root_problem(code: Code) -> bool {
    code == Code::MF116 || code.as_str().starts_with("MF2") || code.as_str().starts_with("MF5")
}

impl Builder<'_> {
    fn report(&mut self, mut d: Diagnostic) {
        if self.roots_as_warnings && d.is_error() && is_root_problem(d.code) {
            d = d.as_warning();
        }
        let d = if d.location.is_none() {
            let line = self
                .index
                .get_or_init(|| LineIndex::build(&self.src.text))
                .line_of(&d.path);
            d.at(&self.src.file, line)
        } else {
            d
        };
        self.diags.push(d);
    }
}

/// Turns a schema-valid spec into the plan, or the list of problems.
pub fn build(spec: &MeshFederation, src: &SpecSource, opts: &BuildOptions) -> (Option<Federation>, Diagnostics) {
    build_with(spec, src, opts, false)
}

/// The plan for `meshfed graph`, which needs cluster names and exports, not
/// certificates: an expired, missing or broken root is a warning, and the
/// cluster is drawn (its roots are left out of the plan, which is never
/// written).
pub fn build_without_roots(
    spec: &MeshFederation,
    src: &SpecSource,
    opts: &BuildOptions,
) -> (Option<Federation>, Diagnostics) {
    build_with(spec, src, opts, true)
}

fn build_with(
    spec: &MeshFederation,
    src: &SpecSource,
    opts: &BuildOptions,
    roots_as_warnings: bool,
) -> (Option<Federation>, Diagnostics) {
    let mut b = Builder {
        src,
        objects: opts.objects.as_ref(),
        items_read: BTreeSet::new(),
        index: std::cell::OnceCell::new(),
        diags: Diagnostics::new(),
        roots_as_warnings,
    };
    let fed = spec.metadata.name.clone();
    let s = &spec.spec;

    let minor = istio_minor(&s.istio.version).unwrap_or(0);
    if minor < OLDEST_ISTIO_MINOR {
        b.report(
            Diagnostic::new(
                Code::MF124,
                "spec.istio.version",
                format!("Istio {} is older than meshfed supports", s.istio.version),
            )
            .hint(format!(
                "meshfed renders for Istio 1.{OLDEST_ISTIO_MINOR} and later; upgrade the meshes first"
            )),
        );
    } else if minor > NEWEST_CHECKED_ISTIO_MINOR {
        b.report(
            Diagnostic::new(
                Code::MF126,
                "spec.istio.version",
                format!(
                    "Istio {} is newer than the 1.{NEWEST_CHECKED_ISTIO_MINOR} meshfed was checked against",
                    s.istio.version
                ),
            )
            .hint("the output uses the newest known API versions; check it against that release's CRDs"),
        );
    }

    if s.clusters.is_empty() {
        b.report(
            Diagnostic::new(Code::MF110, "spec.clusters", "the federation has no clusters")
                .hint("add at least two clusters"),
        );
    } else if s.clusters.len() == 1 {
        b.report(
            Diagnostic::new(Code::MF111, "spec.clusters", "only one cluster: nothing to federate")
                .hint("add the clusters it should federate with"),
        );
    }

    check_unused_metadata(&mut b, &spec.metadata);
    if s.clusters.len() >= 2 && s.clusters.iter().all(|c| c.exports.is_empty()) {
        b.report(
            Diagnostic::new(
                Code::MF133,
                "spec.clusters",
                "no cluster exports anything: no cluster imports a service and no cluster trusts another",
            )
            .hint("list under a cluster's `exports` the services it offers to the others"),
        );
    }
    check_cluster_identities(&mut b, &s.clusters);

    let names: BTreeSet<&str> = s.clusters.iter().map(|c| c.name.as_str()).collect();
    // (importer, exporter, export index) triples and every cluster's roots.
    let mut roots: BTreeMap<String, Vec<RootCert>> = BTreeMap::new();
    for (ci, c) in s.clusters.iter().enumerate() {
        check_exports(
            &mut b,
            ci,
            c,
            &names,
            s.authorization == Some(AuthorizationMode::Importers),
        );
        let cluster_roots = read_roots(&mut b, ci, c, &opts.certs);
        roots.insert(c.name.clone(), cluster_roots);
    }
    for d in crate::global::check(s)
        .into_iter()
        .chain(crate::global::check_limits(s))
    {
        b.report(d);
    }

    if b.diags.has_errors() {
        return (None, b.diags);
    }

    let minor_api = |v1: &str, old: &str| if minor >= 22 { v1.to_owned() } else { old.to_owned() };
    let istio = IstioTarget {
        minor,
        version: s.istio.version.clone(),
        namespace: s.istio.namespace.clone(),
        installer: match s.istio.installer {
            Installer::Helm => InstallerKind::Helm,
            Installer::Istioctl => InstallerKind::Istioctl,
            Installer::Sail => InstallerKind::Sail,
            Installer::None => InstallerKind::None,
        },
        networking_api: minor_api("networking.istio.io/v1", "networking.istio.io/v1beta1"),
        security_api: minor_api("security.istio.io/v1", "security.istio.io/v1beta1"),
    };

    let by_name: BTreeMap<&str, &ClusterSpec> = s.clusters.iter().map(|c| (c.name.as_str(), c)).collect();
    let mut imports: BTreeMap<&str, Vec<ServiceImport>> = BTreeMap::new();
    let mut exported_hosts: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut peers: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut authorizations: BTreeMap<&str, Vec<ExportAuthorization>> = BTreeMap::new();
    let mut export_steps: BTreeMap<&str, Vec<ExportStep>> = BTreeMap::new();
    let annotations: BTreeMap<&str, Arc<BTreeMap<String, String>>> =
        by_name.keys().map(|n| (*n, Arc::new(naming::annotations(n)))).collect();
    let mut exports = 0;
    for exporter in by_name.values() {
        let labels = Arc::new(naming::labels(&fed, Some(&exporter.name)));
        for e in &exporter.exports {
            let host = naming::service_host(&e.service, &e.namespace, &exporter.domain);
            exported_hosts.entry(&exporter.name).or_default().push(host.clone());
            if e.global {
                // Peers send the global host's SNI to this gateway (see `global`).
                exported_hosts
                    .entry(&exporter.name)
                    .or_default()
                    .push(crate::global::global_host(&e.service, &e.namespace, &s.global_domain));
            }
            let targets: Vec<&str> = match &e.to {
                Some(to) => to.iter().map(String::as_str).collect(),
                None => by_name.keys().copied().filter(|n| *n != exporter.name).collect(),
            };
            // Worked out once per export; importers differ only in the cluster annotation.
            let service = Arc::new(service_import(
                &fed,
                s.import_namespace.as_str(),
                exporter,
                e,
                host,
                labels.clone(),
                exports,
            ));
            exports += 1;
            for &importer in &targets {
                peers.entry(importer).or_default().insert(&exporter.name);
                peers.entry(&exporter.name).or_default().insert(importer);
                let annotations = match annotations.get(importer) {
                    Some(a) => a.clone(),
                    None => Arc::new(naming::annotations(importer)),
                };
                imports.entry(importer).or_default().push(ServiceImport {
                    service: service.clone(),
                    annotations,
                });
            }
            export_steps
                .entry(&exporter.name)
                .or_default()
                .push(export_step(e, &targets));
            if s.authorization == Some(AuthorizationMode::Importers) {
                let importers = targets.iter().map(|t| trust_domain(by_name[t]));
                authorizations
                    .entry(&exporter.name)
                    .or_default()
                    .push(export_authorization(&fed, exporter, e, importers));
            }
        }
    }

    let mut globals = crate::global::plan(&fed, s, &s.import_namespace);
    let mut clusters = Vec::with_capacity(by_name.len());
    for (name, c) in &by_name {
        let mut cluster_imports = imports.remove(name).unwrap_or_default();
        cluster_imports.sort_by(|a, b| {
            let (a, b) = (&a.service, &b.service);
            (&a.source_cluster, &a.host).cmp(&(&b.source_cluster, &b.host))
        });
        let gateway = exported_hosts.get(name).map(|hosts| {
            let mut hosts = hosts.clone();
            hosts.sort();
            GatewayExposure {
                meta: meta(naming::gateway_name(&fed), &s.istio.namespace, &fed, None, name),
                selector: c.gateway.selector.clone(),
                port: c.gateway.port,
                hosts,
            }
        });
        let remotes: Vec<RemoteTrust> = peers
            .get(name)
            .into_iter()
            .flatten()
            .map(|peer| {
                let pc = by_name[peer];
                let peer_roots = roots[*peer].clone();
                RemoteTrust {
                    cluster: pc.name.clone(),
                    trust_domain: trust_domain(pc).to_owned(),
                    pem: peer_roots.iter().map(|r| r.pem.as_str()).collect(),
                    roots: peer_roots,
                }
            })
            .collect();
        let trust = (!remotes.is_empty()).then(|| trust_bundle(&fed, &s.istio.namespace, name, &remotes));
        let mesh_config =
            (istio.installer != InstallerKind::None).then(|| mesh_config(c, &istio, &remotes, gateway.as_ref()));
        let next_steps = next_steps(
            c,
            &istio,
            gateway.as_ref(),
            export_steps.remove(name).unwrap_or_default(),
            &cluster_imports,
            &by_name,
        );
        clusters.push(ClusterPlan {
            name: c.name.clone(),
            domain: c.domain.clone(),
            trust_domain: trust_domain(c).to_owned(),
            network: c.network.clone(),
            roots: roots[*name].clone(),
            imports: cluster_imports,
            globals: globals.remove(*name).unwrap_or_default(),
            gateway,
            trust,
            mesh_config,
            authorizations: {
                let mut a = authorizations.remove(name).unwrap_or_default();
                a.sort_by(|x, y| (&x.policy.namespace, &x.policy.name).cmp(&(&y.policy.namespace, &y.policy.name)));
                a
            },
            next_steps,
        });
    }
    let federation = Federation {
        name: fed,
        istio,
        import_namespace: s.import_namespace.clone(),
        clusters,
        exports,
        items_read: std::mem::take(&mut b.items_read),
    };
    (Some(federation), b.diags)
}

fn export_step(e: &crate::spec::ExportSpec, importers: &[&str]) -> ExportStep {
    let mut ports: Vec<ExportPortStep> = e
        .ports
        .iter()
        .map(|p| ExportPortStep {
            name: p.name.clone(),
            port: p.port,
            target_port: p.target_port.unwrap_or(p.port),
        })
        .collect();
    ports.sort_by_key(|p| p.port);
    let mut importers: Vec<String> = importers.iter().map(|s| (*s).to_owned()).collect();
    importers.sort();
    ExportStep {
        service: e.service.clone(),
        namespace: e.namespace.clone(),
        ports,
        importers,
    }
}

fn next_steps(
    c: &ClusterSpec,
    istio: &IstioTarget,
    gateway: Option<&GatewayExposure>,
    mut exports: Vec<ExportStep>,
    imports: &[ServiceImport],
    by_name: &BTreeMap<&str, &ClusterSpec>,
) -> NextSteps {
    exports.sort_by(|a, b| (&a.namespace, &a.service).cmp(&(&b.namespace, &b.service)));
    let callers: BTreeSet<String> = exports.iter().flat_map(|e| e.importers.iter().cloned()).collect();
    let export_namespaces: BTreeSet<String> = exports.iter().map(|e| e.namespace.clone()).collect();
    let sources: BTreeSet<&str> = imports.iter().map(|i| i.service.source_cluster.as_str()).collect();
    let remote_gateways = sources
        .into_iter()
        .filter_map(|name| by_name.get(name))
        .map(|r| {
            let addresses = gateway_addresses(&r.gateway.addresses);
            RemoteGatewayStep {
                cluster: r.name.clone(),
                addresses,
                port: r.gateway.port,
            }
        })
        .collect();
    NextSteps {
        installer: istio.installer,
        gateway: gateway.map(|gw| {
            let addresses = gateway_addresses(&c.gateway.addresses);
            GatewayStep {
                port: gw.port,
                target_port: if istio.installer == InstallerKind::Istioctl {
                    istioctl_target_port(gw.port)
                } else {
                    gw.port
                },
                addresses,
                selector: gw.selector.clone(),
            }
        }),
        callers: callers.into_iter().collect(),
        exports,
        remote_gateways,
        imported_hosts: imports.iter().map(|i| i.service.host.clone()).collect(),
        export_namespaces: export_namespaces.into_iter().collect(),
    }
}

/// An address as the output writes it: an IPv6 address in its RFC 5952 form
/// (`2001:DB8:0:0::11` → `2001:db8::11`, what `Ipv6Addr`'s Display gives),
/// anything else as written.
fn normalise_address(addr: &str) -> String {
    match addr.parse::<std::net::Ipv6Addr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => addr.to_owned(),
    }
}

/// A gateway's addresses normalised, sorted and without duplicates.
fn gateway_addresses(addresses: &[String]) -> Vec<String> {
    let mut out: Vec<String> = addresses.iter().map(|a| normalise_address(a)).collect();
    out.sort();
    out.dedup();
    out
}

fn trust_domain(c: &ClusterSpec) -> &str {
    c.trust_domain.as_deref().unwrap_or(&c.domain)
}

fn meta(name: String, namespace: &str, fed: &str, source: Option<&str>, cluster: &str) -> ObjectMeta {
    ObjectMeta {
        name,
        namespace: namespace.to_owned(),
        labels: Arc::new(naming::labels(fed, source)),
        annotations: Arc::new(naming::annotations(cluster)),
    }
}

/// The import of `e` from `exporter`, without the importing cluster's annotation.
fn service_import(
    fed: &str,
    namespace: &str,
    exporter: &ClusterSpec,
    e: &crate::spec::ExportSpec,
    host: String,
    labels: Arc<BTreeMap<String, String>>,
    index: usize,
) -> ImportedService {
    let mut ports: Vec<ServicePort> = e
        .ports
        .iter()
        .map(|p| ServicePort {
            name: p.name.clone(),
            number: p.port as u16,
            protocol: port_protocol(&p.name, p.protocol.as_deref()).unwrap_or_else(|| "TCP".to_owned()),
        })
        .collect();
    ports.sort_by_key(|p| p.number);
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
fn export_to(e: &crate::spec::ExportSpec) -> Vec<String> {
    let mut namespaces: Vec<String> = e.consumers.iter().flatten().cloned().collect();
    namespaces.sort();
    namespaces.dedup();
    namespaces
}

fn export_authorization<'a>(
    fed: &str,
    exporter: &ClusterSpec,
    e: &crate::spec::ExportSpec,
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

/// Who reads the trust Secret, as an annotation on it. Sidecars do not: on
/// Istio's ISTIO_MUTUAL path the remote roots come from
/// `meshConfig.caCertificates` over PCDS. A `credentialName` of a SIMPLE or
/// MUTUAL TLS Gateway or DestinationRule reads its `ca.crt`
/// (pilot/pkg/credentials/kube/secrets.go, `ExtractRoot`), and so can any
/// client outside the mesh.
pub const TRUST_SECRET_READERS: (&str, &str) = (
    "meshfed.io/read-by",
    "credentialName (ca.crt) of SIMPLE/MUTUAL TLS and clients outside the mesh; not Istio ISTIO_MUTUAL sidecars, which get these roots from meshConfig.caCertificates",
);

fn trust_bundle(fed: &str, namespace: &str, cluster: &str, remotes: &[RemoteTrust]) -> TrustBundle {
    let mut all: Vec<&RootCert> = remotes.iter().flat_map(|r| &r.roots).collect();
    all.sort_by(|a, b| a.sha256.cmp(&b.sha256));
    all.dedup_by(|a, b| a.sha256 == b.sha256);
    let mut meta = meta(naming::trust_bundle_name(fed), namespace, fed, None, cluster);
    Arc::make_mut(&mut meta.annotations).insert(TRUST_SECRET_READERS.0.to_owned(), TRUST_SECRET_READERS.1.to_owned());
    TrustBundle {
        meta,
        remotes: remotes.to_vec(),
        ca_crt: all.iter().map(|r| r.pem.as_str()).collect(),
    }
}

/// Ports of the default ingress gateway Service (name, port, target port).
/// Setting the port list replaces it, so they are listed again beside ours.
/// The `istio/gateway` Helm chart (also used beside sail) targets 80/443;
/// istioctl's `istio-ingressgateway` targets 8080/8443.
const HELM_GATEWAY_PORTS: [(&str, u16, u16); 3] =
    [("status-port", 15021, 15021), ("http2", 80, 80), ("https", 443, 443)];
const ISTIOCTL_GATEWAY_PORTS: [(&str, u16, u16); 3] =
    [("status-port", 15021, 15021), ("http2", 80, 8080), ("https", 443, 8443)];

/// The labels of istioctl's `istio-ingressgateway` pods
/// (manifests/charts/gateways/istio-ingress/values.yaml, 1.20–1.30).
const ISTIOCTL_DEFAULT_GATEWAY_LABELS: [(&str, &str); 2] =
    [("app", "istio-ingressgateway"), ("istio", "ingressgateway")];

/// The container port istioctl's gateway listens on for a Service port.
/// Its pods run unprivileged (`ISTIO_META_UNPRIVILEGED_POD`), and istiod
/// builds no listener for a target port below 1024
/// (pilot/pkg/networking/core/gateway.go, `buildGatewayListeners`); like
/// istioctl's own 80→8080 and 443→8443, such a port is moved up by 8000.
pub fn istioctl_target_port(port: u16) -> u16 {
    if port < 1024 {
        port + 8000
    } else {
        port
    }
}

fn mesh_config(
    c: &ClusterSpec,
    istio: &IstioTarget,
    remotes: &[RemoteTrust],
    gateway: Option<&GatewayExposure>,
) -> MeshConfigFragment {
    let minor = istio.minor;
    // One entry per distinct root; a root shared by two clusters is scoped to both trust domains.
    let mut by_root: BTreeMap<&str, (&str, BTreeSet<&str>)> = BTreeMap::new();
    for r in remotes {
        for root in &r.roots {
            by_root
                .entry(&root.sha256)
                .or_insert((&root.pem, BTreeSet::new()))
                .1
                .insert(&r.trust_domain);
        }
    }
    let mut ca_certificates: Vec<CaCertificate> = by_root
        .into_values()
        .map(|(pem, tds)| CaCertificate {
            pem: pem.to_owned(),
            trust_domains: tds.into_iter().map(str::to_owned).collect(),
        })
        .collect();
    ca_certificates.sort_by(|a, b| (&a.trust_domains, &a.pem).cmp(&(&b.trust_domains, &b.pem)));

    let mut istiod_env = BTreeMap::from([("ISTIO_MULTIROOT_MESH".to_owned(), "true".to_owned())]);
    // istiod serves the caCertificates bundle only over PCDS (pilot/pkg/xds/pcds.go, with
    // ISTIO_MULTIROOT_MESH), and pilot-agent subscribes to it only with PROXY_CONFIG_XDS_AGENT
    // (pilot/cmd/pilot-agent/options/options.go, default false; the handler that loads the
    // bundle is in pkg/istio-agent/xds_proxy.go). Istio's own tests/integration/security/
    // ca_custom_root sets both. proxyMetadata reaches the agent as environment variables
    // (injection-template.yaml), so it is a string.
    let mut proxy_metadata = BTreeMap::from([
        ("ISTIO_META_DNS_CAPTURE".to_owned(), "true".to_owned()),
        ("PROXY_CONFIG_XDS_AGENT".to_owned(), "true".to_owned()),
    ]);
    // Address auto-allocation for ServiceEntries, so remote names resolve in the pod.
    match minor {
        0..=22 => {
            proxy_metadata.insert("ISTIO_META_DNS_AUTO_ALLOCATE".to_owned(), "true".to_owned());
        }
        23 | 24 => {
            istiod_env.insert("PILOT_ENABLE_IP_AUTOALLOCATE".to_owned(), "true".to_owned());
        }
        _ => {}
    }
    let istioctl = istio.installer == InstallerKind::Istioctl;
    let istioctl_gateway = gateway.filter(|_| istioctl).map(|gw| {
        let default_labels = ISTIOCTL_DEFAULT_GATEWAY_LABELS;
        let on_default = gw
            .selector
            .iter()
            .all(|(k, v)| default_labels.contains(&(k.as_str(), v.as_str())));
        if on_default {
            IstioctlGateway {
                name: "istio-ingressgateway".to_owned(),
                label: BTreeMap::new(),
                beside_default: false,
            }
        } else {
            // The chart merges `label` into istio-ingressgateway's default labels: set
            // `app` and `istio` too, as Istio's samples/multicluster/gen-eastwest-gateway.sh
            // does, so that Gateways written for the default gateway do not select these pods.
            let name = gw.meta.name.clone();
            let mut label = gw.selector.clone();
            label.entry("app".to_owned()).or_insert_with(|| name.clone());
            label.entry("istio".to_owned()).or_insert_with(|| name.clone());
            IstioctlGateway {
                name,
                label,
                beside_default: true,
            }
        }
    });
    let gateway_service_ports = match gateway {
        Some(gw) => {
            // A component of our own serves only the federation port (and the status port).
            let defaults: &[(&str, u16, u16)] = match &istioctl_gateway {
                Some(component) if component.beside_default => &ISTIOCTL_GATEWAY_PORTS[..1],
                Some(_) => &ISTIOCTL_GATEWAY_PORTS,
                None => &HELM_GATEWAY_PORTS,
            };
            let mut ports: Vec<GatewayServicePort> = defaults
                .iter()
                .filter(|(_, port, _)| *port != gw.port)
                .map(|(name, port, target)| GatewayServicePort {
                    name: (*name).to_owned(),
                    port: *port,
                    target_port: *target,
                })
                .collect();
            ports.push(GatewayServicePort {
                name: "tls-meshfed".to_owned(),
                port: gw.port,
                // The istio/gateway chart lets its pods bind low ports
                // (net.ipv4.ip_unprivileged_port_start=0 in its deployment.yaml).
                target_port: if istioctl {
                    istioctl_target_port(gw.port)
                } else {
                    gw.port
                },
            });
            ports
        }
        None => Vec::new(),
    };
    MeshConfigFragment {
        cluster_domain: c.domain.clone(),
        trust_domain: trust_domain(c).to_owned(),
        network: c.network.clone(),
        ca_certificates,
        istiod_env,
        proxy_metadata,
        gateway_service_ports,
        gateway_selector: c.gateway.selector.clone(),
        istioctl_gateway,
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
fn check_unused_metadata(b: &mut Builder<'_>, m: &crate::spec::Metadata) {
    if let Some(ns) = &m.namespace {
        b.report(
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
        b.report(
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
        b.report(
            Diagnostic::new(
                Code::MF132,
                "metadata.annotations",
                format!("annotations {} are not copied to the generated objects", foreign.join(", ")),
            )
            .hint("remove them; to annotate the output, use kustomize's `commonAnnotations:` or kpt's set-annotations function"),
        );
    }
}

fn check_cluster_identities(b: &mut Builder<'_>, clusters: &[ClusterSpec]) {
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut domains: BTreeMap<&str, usize> = BTreeMap::new();
    let mut tds: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, c) in clusters.iter().enumerate() {
        let path = format!("spec.clusters[{i}]");
        if let Some(first) = names.insert(&c.name, i) {
            b.report(
                Diagnostic::new(
                    Code::MF112,
                    format!("{path}.name"),
                    format!("cluster name {} is already used by spec.clusters[{first}]", c.name),
                )
                .hint("give every cluster a unique name"),
            );
        }
        if c.domain == "cluster.local" {
            b.report(
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
        } else if let Some(first) = domains.insert(&c.domain, i) {
            b.report(
                Diagnostic::new(
                    Code::MF113,
                    format!("{path}.domain"),
                    format!("domain {} is already used by spec.clusters[{first}]", c.domain),
                )
                .hint("give each cluster its own DNS domain, the one its kubelet clusterDomain and CoreDNS zone serve"),
            );
        }
        let td = trust_domain(c);
        if let Some(first) = tds.insert(td, i) {
            let field = if c.trust_domain.is_some() {
                "trustDomain"
            } else {
                "domain"
            };
            b.report(
                Diagnostic::new(
                    Code::MF114,
                    format!("{path}.{field}"),
                    format!("trust domain {td} is already used by spec.clusters[{first}]"),
                )
                .hint("each cluster needs its own SPIFFE trust domain"),
            );
        }
        if td == "cluster.local" && c.domain != "cluster.local" {
            b.report(
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

fn check_exports(b: &mut Builder<'_>, ci: usize, c: &ClusterSpec, names: &BTreeSet<&str>, needs_selector: bool) {
    let path = format!("spec.clusters[{ci}]");
    if !c.exports.is_empty() && c.gateway.addresses.is_empty() {
        b.report(
            Diagnostic::new(
                Code::MF117,
                format!("{path}.gateway.addresses"),
                format!("cluster {} exports services but has no gateway address", c.name),
            )
            .hint("list the IPs or DNS names at which peers reach its ingress gateway"),
        );
    }
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
            b.report(
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
            b.report(
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
    let mut seen: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (ei, e) in c.exports.iter().enumerate() {
        let ep = format!("{path}.exports[{ei}]");
        if let Some(first) = seen.insert((&e.service, &e.namespace), ei) {
            b.report(
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
            b.report(
                Diagnostic::new(Code::MF140, format!("{ep}.selector"), format!("{}.{} has no workload selector", e.service, e.namespace))
                    .hint("authorization: importers needs the labels of the exported pods (the Service's selector), e.g. selector: {app: foo}"),
            );
        }
        let mut numbers: BTreeMap<u32, usize> = BTreeMap::new();
        let mut port_names: BTreeMap<&str, usize> = BTreeMap::new();
        for (pi, p) in e.ports.iter().enumerate() {
            if let Some(first) = numbers.insert(p.port, pi) {
                b.report(
                    Diagnostic::new(
                        Code::MF122,
                        format!("{ep}.ports[{pi}].port"),
                        format!("port {} is already listed at ports[{first}]", p.port),
                    )
                    .hint("list each port number once"),
                );
            }
            if let Some(first) = port_names.insert(&p.name, pi) {
                b.report(
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
                b.report(
                    Diagnostic::new(
                        Code::MF129,
                        format!("{ep}.ports[{pi}].name"),
                        format!("port name {} asks for UDP, which Istio does not proxy", p.name),
                    )
                    .hint("export only TCP-based ports through the mesh; reach a UDP service another way, or rename the port if it is TCP"),
                );
            } else if let (Some(named), Some(explicit)) = (&by_name, &p.protocol) {
                if contradicts(named, explicit) {
                    b.report(
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
                b.report(
                    Diagnostic::new(
                        Code::MF125,
                        format!("{ep}.ports[{pi}].name"),
                        format!("port name {} does not say its protocol; TCP is assumed", p.name),
                    )
                    .hint("name it with Istio's prefix (http-, grpc-, tcp-, tls-...) or set protocol"),
                );
            }
        }
        if let Some(to) = &e.to {
            if to.is_empty() {
                b.report(
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
                    b.report(
                        Diagnostic::new(
                            Code::MF121,
                            format!("{ep}.to[{ti}]"),
                            format!("cluster {target} cannot import its own service"),
                        )
                        .hint("name only other clusters in `to`"),
                    );
                } else if !names.contains(target.as_str()) {
                    b.report(
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
}

/// Root CA intake alone, for a spec that failed its schema elsewhere: every
/// cluster whose `rootCA` parses still has its certificates checked, so one
/// run reports a field typo and a pasted private key or an expired root
/// together. Only intake's diagnostics; nothing is built.
pub fn intake_roots(value: &serde_json::Value, src: &SpecSource, opts: &BuildOptions) -> Diagnostics {
    let mut b = Builder {
        src,
        objects: opts.objects.as_ref(),
        items_read: BTreeSet::new(),
        index: std::cell::OnceCell::new(),
        diags: Diagnostics::new(),
        roots_as_warnings: false,
    };
    // Another kind of document is no spec: its paths mean nothing to us.
    let field = |key: &str| value.get(key).and_then(serde_json::Value::as_str);
    if field("apiVersion") != Some(crate::spec::API_VERSION) || field("kind") != Some(crate::spec::KIND) {
        return b.diags;
    }
    let clusters = value.pointer("/spec/clusters").and_then(serde_json::Value::as_array);
    for (ci, c) in clusters.into_iter().flatten().enumerate() {
        let Some(root_ca) = c
            .get("rootCA")
            .and_then(|r| serde_json::from_value::<RootCaSpec>(r.clone()).ok())
        else {
            continue;
        };
        let text = |key: &str| c.get(key).and_then(serde_json::Value::as_str).map(str::to_owned);
        let cluster = ClusterSpec {
            name: text("name").unwrap_or_else(|| format!("#{ci}")),
            domain: text("domain").unwrap_or_default(),
            trust_domain: text("trustDomain"),
            network: None,
            locality: None,
            root_ca,
            gateway: Default::default(),
            exports: Vec::new(),
        };
        read_roots(&mut b, ci, &cluster, &opts.certs);
    }
    b.diags
}

fn read_roots(b: &mut Builder<'_>, ci: usize, c: &ClusterSpec, policy: &CertPolicy) -> Vec<RootCert> {
    let path = format!("spec.clusters[{ci}].rootCA");
    let td = trust_domain(c);
    let mut roots: Vec<RootCert> = Vec::new();
    if c.root_ca.files.is_empty()
        && c.root_ca.pem.is_none()
        && c.root_ca.spiffe_bundle.is_none()
        && !c.root_ca.references_objects()
    {
        b.report(
            Diagnostic::new(Code::MF116, path, format!("cluster {} has no root CA source", c.name))
                .hint("set rootCA.files to the PEM of the cluster's exported root certificate (or rootCA.pem inline)"),
        );
        return roots;
    }
    let first_diag = b.diags.len();
    let mut sources: Vec<(String, String, Option<std::path::PathBuf>, Vec<u8>)> = Vec::new();
    for (fi, f) in c.root_ca.files.iter().enumerate() {
        let fpath = format!("{path}.files[{fi}]");
        let resolved = b.src.base_dir.join(f);
        match read_cert_file(&resolved) {
            Ok(bytes) => sources.push((fpath, f.clone(), Some(resolved), bytes)),
            Err(why) => b.report(
                Diagnostic::new(
                    Code::MF201,
                    fpath,
                    format!("cannot read root CA file {}: {why}", resolved.display()),
                )
                .hint(unreadable_path_hint(f)),
            ),
        }
    }
    if let Some(pem) = &c.root_ca.pem {
        sources.push((
            format!("{path}.pem"),
            "inline PEM".to_owned(),
            None,
            pem.as_bytes().to_vec(),
        ));
    }
    sources.extend(object_root_sources(b, &path, c));
    // Inline PEM in a literal block (`pem: |`) has its own lines in the spec:
    // a pasted key is reported at its BEGIN line, not at `pem:`.
    let inline_first = c
        .root_ca
        .pem
        .as_ref()
        .and_then(|_| literal_block_first_line(b, &format!("{path}.pem")));
    for (fpath, origin, file, bytes) in &sources {
        let inline_at = match (file, inline_first) {
            (None, Some(first)) if fpath.ends_with(".pem") => Some((b.src.file.as_path(), first)),
            _ => None,
        };
        let src = SourceRef {
            path: fpath,
            origin,
            file: file.as_deref(),
            trust_domain: Some(td),
            inline_at,
        };
        let got = certs::intake(bytes, &src, policy);
        merge_roots(b, fpath, origin, got, &mut roots);
    }
    if let Some(bundle) = &c.root_ca.spiffe_bundle {
        read_spiffe_bundle(b, &format!("{path}.spiffeBundle"), bundle, td, policy, &mut roots);
    }
    if rotation_under_way(&roots, policy) {
        for d in b.diags.since_mut(first_diag).filter(|d| d.code == Code::MF210) {
            d.message
                .push_str("; the rotation is under way: a root that lasts longer is listed beside it");
            d.hint = Some(
                "next step: once every workload has a certificate from the new root, remove this root from rootCA and generate again"
                    .to_owned(),
            );
        }
    }
    roots.sort_by(|a, b| a.sha256.cmp(&b.sha256));
    roots
}

/// Whether a cluster lists, beside a root that expires soon, one that
/// outlives the warning window: its rotation has begun, so the expiry
/// warning says what comes next rather than "start a root rotation".
fn rotation_under_way(roots: &[RootCert], policy: &CertPolicy) -> bool {
    let horizon = policy.now + time::Duration::days(policy.warn_expiry_days);
    roots.len() >= 2
        && roots.iter().any(|r| {
            x509_parser::parse_x509_certificate(&r.der)
                .is_ok_and(|(_, c)| c.validity().not_after.to_datetime() > horizon)
        })
}

/// What to do about a root CA path that cannot be read. A Windows-style
/// `certs\a.pem` is one file name with a backslash in it everywhere but
/// Windows: the hint says to write `/`, which works everywhere.
fn unreadable_path_hint(path: &str) -> String {
    if path.contains('\\') {
        format!(
            "write the path with `/` ({}): `\\` separates folders only on Windows; paths resolve from the folder of the spec file",
            path.replace('\\', "/")
        )
    } else {
        "paths resolve from the folder of the spec file; check the name and permissions".to_owned()
    }
}

/// The spec line of the first line of text of a literal block scalar
/// (`pem: |`, `pem: |-`, `pem: |2`), whose text lines stand one to one on
/// the lines after the key; `None` for any other style (quoted, folded,
/// flow), whose lines do not map so simply.
fn literal_block_first_line(b: &Builder<'_>, path: &str) -> Option<usize> {
    let key_line = b.index.get_or_init(|| LineIndex::build(&b.src.text)).line_of(path)?;
    let key = path.rsplit('.').next()?;
    let text = b.src.text.lines().nth(key_line.checked_sub(1)?)?;
    let after = text.split_once(&format!("{key}:"))?.1.trim_start();
    after.starts_with('|').then_some(key_line + 1)
}

/// `rootCA.spiffeBundle`: the X.509 roots of a SPIFFE trust bundle file.
fn read_spiffe_bundle(
    b: &mut Builder<'_>,
    fpath: &str,
    bundle: &str,
    td: &str,
    policy: &CertPolicy,
    roots: &mut Vec<RootCert>,
) {
    let resolved = b.src.base_dir.join(bundle);
    let bytes = match read_cert_file(&resolved) {
        Ok(bytes) => bytes,
        Err(why) => {
            b.report(
                Diagnostic::new(
                    Code::MF201,
                    fpath,
                    format!("cannot read SPIFFE bundle {}: {why}", resolved.display()),
                )
                .hint(unreadable_path_hint(bundle)),
            );
            return;
        }
    };
    let src = SourceRef {
        path: fpath,
        origin: bundle,
        file: Some(&resolved),
        trust_domain: Some(td),
        inline_at: None,
    };
    let got = certs::intake_spiffe_bundle(&bytes, &src, policy);
    merge_roots(b, fpath, bundle, got, roots);
}

/// Reports one source's diagnostics and adds its roots, merging (with a
/// warning) a root another source of the cluster already gave.
fn merge_roots(b: &mut Builder<'_>, fpath: &str, origin: &str, got: certs::Intake, roots: &mut Vec<RootCert>) {
    for d in got.diagnostics {
        b.report(d);
    }
    for root in got.roots {
        if roots.iter().any(|r| r.sha256 == root.sha256) {
            b.report(
                Diagnostic::new(
                    Code::MF214,
                    fpath,
                    format!(
                        "{origin}: {} is also given by another source of this cluster",
                        root.subject
                    ),
                )
                .hint("duplicates are merged; list each root once"),
            );
        } else {
            roots.push(root);
        }
    }
}

/// Reads a certificate file, refusing anything far larger than a CA bundle.
fn read_cert_file(path: &Path) -> Result<Vec<u8>, String> {
    const MAX: u64 = 4 * 1024 * 1024;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.is_dir() {
        return Err("it is a directory".into());
    }
    if meta.len() > MAX {
        return Err(format!("{} bytes is far larger than a CA bundle", meta.len()));
    }
    // Devices and pipes report no size (/dev/zero never ends): read at most MAX + 1.
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(std::fs::File::open(path).map_err(|e| e.to_string())?, MAX + 1),
        &mut bytes,
    )
    .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX {
        return Err(format!("it is larger than {MAX} bytes, far larger than a CA bundle"));
    }
    Ok(bytes)
}

/// One ConfigMap or Secret among a KRM function's items, its values decoded
/// (`Err` holds why a Secret value is not valid base64).
#[derive(Debug, Clone)]
pub struct ObjectSource {
    /// Its place among the function's items.
    pub item: usize,
    pub kind: ObjectKind,
    pub name: String,
    pub namespace: Option<String>,
    pub data: BTreeMap<String, Result<Vec<u8>, String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    ConfigMap,
    Secret,
}

/// Every ConfigMap and Secret a KRM function was given.
#[derive(Debug, Clone, Default)]
pub struct ObjectSources {
    pub objects: Vec<ObjectSource>,
}

/// The PEM sources `rootCA.configMaps` and `rootCA.secrets` name, looked up
/// among the KRM items; outside KRM mode each reference is an error (MF420).
fn object_root_sources(
    b: &mut Builder<'_>,
    path: &str,
    c: &ClusterSpec,
) -> Vec<(String, String, Option<std::path::PathBuf>, Vec<u8>)> {
    let refs = c
        .root_ca
        .config_maps
        .iter()
        .enumerate()
        .map(|(i, r)| (ObjectKind::ConfigMap, format!("{path}.configMaps[{i}]"), r))
        .chain(
            c.root_ca
                .secrets
                .iter()
                .enumerate()
                .map(|(i, r)| (ObjectKind::Secret, format!("{path}.secrets[{i}]"), r)),
        );
    let mut sources = Vec::new();
    for (kind, rpath, r) in refs {
        let what = format!(
            "{kind:?} {}{}",
            r.namespace.as_deref().map(|n| format!("{n}/")).unwrap_or_default(),
            r.name
        );
        let Some(objects) = b.objects else {
            b.report(
                Diagnostic::new(
                    Code::MF420,
                    rpath,
                    format!("{what} can only be read in KRM function mode"),
                )
                .hint("outside a kpt/kustomize function pipeline, use rootCA.files or rootCA.pem"),
            );
            continue;
        };
        let found: Vec<&ObjectSource> = objects
            .objects
            .iter()
            .filter(|o| o.kind == kind && o.name == r.name)
            .filter(|o| r.namespace.is_none() || o.namespace == r.namespace)
            .collect();
        let object = match found.as_slice() {
            [one] => {
                b.items_read.insert(one.item);
                *one
            }
            [] => {
                b.report(
                    Diagnostic::new(Code::MF421, rpath, format!("no {what} among the function's items"))
                        .hint("add it to the package/kustomization the function runs on, or fix the name"),
                );
                continue;
            }
            _ => {
                b.report(
                    Diagnostic::new(Code::MF423, rpath, format!("{} items match {what}", found.len()))
                        .hint("set `namespace` to pick one"),
                );
                continue;
            }
        };
        match object.data.get(&r.key) {
            Some(Ok(bytes)) => sources.push((rpath, format!("{what} key {}", r.key), None, bytes.clone())),
            Some(Err(why)) => b.report(
                Diagnostic::new(Code::MF424, rpath, format!("{what} key {}: {why}", r.key))
                    .hint("Secret data values are base64; put PEM text under stringData instead"),
            ),
            None => b.report(
                Diagnostic::new(Code::MF422, rpath, format!("{what} has no key {}", r.key)).hint(format!(
                    "use one of its keys: {}",
                    object.data.keys().cloned().collect::<Vec<_>>().join(", ")
                )),
            ),
        }
    }
    sources
}

/// A ServiceEntry's `resolution` for these endpoint addresses: `STATIC` when
/// every one is an IP (Istio connects to them as given), `DNS` otherwise.
pub(crate) fn resolution<'a>(mut addresses: impl Iterator<Item = &'a str>) -> &'static str {
    if addresses.all(|a| a.parse::<IpAddr>().is_ok()) {
        "STATIC"
    } else {
        "DNS"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn istioctl_moves_privileged_ports_up_like_its_own_defaults() {
        assert_eq!(istioctl_target_port(80), 8080);
        assert_eq!(istioctl_target_port(443), 8443);
        assert_eq!(istioctl_target_port(853), 8853);
        assert_eq!(istioctl_target_port(1023), 9023);
        assert_eq!(istioctl_target_port(1024), 1024);
        assert_eq!(istioctl_target_port(15443), 15443);
    }
}
