//! The plan between the spec and the templates: plain data in which every
//! decision is already taken (names, labels, which cluster imports and
//! trusts what, API versions, installer settings). Templates only format it.
//!
//! [`build`] is pure: it reads nothing and cannot fail. It takes a spec that
//! passed `checks` and the roots `intake` read (a [`ClusterRoots`]); KRM
//! state and file reading stay in `intake`. Each part has its own file:
//!
//! - `imports`: the export fan-out (ServiceEntry/DestinationRule imports,
//!   gateway hosts, peers, `authorization: importers` policies);
//! - `trust`: the remote roots each cluster trusts and its trust Secret;
//! - `mesh_config`: istiod, proxy and gateway settings for each installer;
//! - `next_steps`: the facts of each cluster's `NEXT-STEPS.md`;
//! - `global`: global services (one host served by every exporter, with
//!   locality failover): their checks and each cluster's ServiceEntry and
//!   DestinationRule for them;
//! - `checks`: PRODUCT §5's semantic checks, which the plan relies on.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::certs::RootCert;
use crate::naming;
use crate::plan::global::GlobalService;
use crate::spec::{ClusterSpec, FederationSpec, Installer, IstioSpec, MeshFederation};

pub(crate) mod checks;
pub(crate) mod global;
mod imports;
mod mesh_config;
mod next_steps;
mod trust;

pub use imports::{
    port_protocol, resolution, service_ports, ExportAuthorization, ImportedService, ServiceImport, ServicePort,
};
pub use mesh_config::MeshConfigFragment;
pub use next_steps::{ExportPortStep, GatewayStep, NextSteps, RemoteGatewayStep};
pub use trust::TrustBundle;

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
    pub globals: Vec<crate::plan::global::GlobalService>,
    pub gateway: Option<GatewayExposure>,
    pub trust: Option<TrustBundle>,
    pub mesh_config: Option<MeshConfigFragment>,
    /// With `authorization: importers`: one per exported service, sorted by namespace and service.
    pub authorizations: Vec<ExportAuthorization>,
    /// What the cluster needs that meshfed cannot set (`NEXT-STEPS.md`).
    pub next_steps: NextSteps,
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

/// Every cluster's checked roots, sorted by fingerprint, as intake read
/// them: with the spec, all the plan is built from.
#[derive(Debug, Clone, Default)]
pub struct ClusterRoots {
    by_cluster: BTreeMap<String, Vec<RootCert>>,
}

impl ClusterRoots {
    pub fn insert(&mut self, cluster: &str, roots: Vec<RootCert>) {
        self.by_cluster.insert(cluster.to_owned(), roots);
    }

    /// A cluster's roots; none for a cluster intake did not read.
    pub fn of(&self, cluster: &str) -> &[RootCert] {
        self.by_cluster.get(cluster).map_or(&[], Vec::as_slice)
    }
}

/// What every cluster's plan is built from.
struct Context<'a> {
    fed: &'a str,
    spec: &'a FederationSpec,
    istio: &'a IstioTarget,
    by_name: &'a BTreeMap<&'a str, &'a ClusterSpec>,
    roots: &'a ClusterRoots,
}

/// The export fan-out of a spec: the part of the plan that needs no roots.
pub struct FannedOut<'a>(imports::FanOut<'a>);

/// The export fan-out, for [`build`]. It never panics, so it may be
/// worked out while intake checks the spec and reads the roots (at 20x100 it
/// takes as long as intake), and thrown away if the spec fails.
pub fn fan_out(spec: &MeshFederation) -> FannedOut<'_> {
    let s = &spec.spec;
    FannedOut(imports::fan_out(&spec.metadata.name, s, &by_name(s)))
}

fn by_name(s: &FederationSpec) -> BTreeMap<&str, &ClusterSpec> {
    s.clusters.iter().map(|c| (c.name.as_str(), c)).collect()
}

/// The plan of a spec that passed every check (`checks`, and intake's root
/// checks), from its [`fan_out`] and the roots intake read.
pub fn build(spec: &MeshFederation, fan_out: FannedOut<'_>, roots: &ClusterRoots) -> Federation {
    let fed = spec.metadata.name.as_str();
    let s = &spec.spec;
    let istio = istio_target(&s.istio);
    let by_name = by_name(s);
    let fan_out = fan_out.0;
    let exports = fan_out.exports;
    let mut globals = crate::plan::global::plan(fed, s, &s.import_namespace);
    let cx = Context {
        fed,
        spec: s,
        istio: &istio,
        by_name: &by_name,
        roots,
    };
    // `fan_out.clusters` is in `by_name`'s order.
    let clusters = by_name
        .iter()
        .zip(fan_out.clusters)
        .map(|((name, c), mine)| cluster_plan(&cx, c, mine, globals.remove(*name).unwrap_or_default()))
        .collect();
    Federation {
        name: fed.to_owned(),
        istio,
        import_namespace: s.import_namespace.clone(),
        clusters,
        exports,
    }
}

/// The Istio release the output is for, and the API versions it reads.
fn istio_target(istio: &IstioSpec) -> IstioTarget {
    let minor = istio_minor(&istio.version).unwrap_or(0);
    let minor_api = |v1: &str, old: &str| if minor >= 22 { v1.to_owned() } else { old.to_owned() };
    IstioTarget {
        minor,
        version: istio.version.clone(),
        namespace: istio.namespace.clone(),
        installer: match istio.installer {
            Installer::Helm => InstallerKind::Helm,
            Installer::Istioctl => InstallerKind::Istioctl,
            Installer::Sail => InstallerKind::Sail,
            Installer::None => InstallerKind::None,
        },
        networking_api: minor_api("networking.istio.io/v1", "networking.istio.io/v1beta1"),
        security_api: minor_api("security.istio.io/v1", "security.istio.io/v1beta1"),
    }
}

/// Everything cluster `c` gets, from its part of the fan-out.
fn cluster_plan(
    cx: &Context<'_>,
    c: &ClusterSpec,
    mine: imports::ClusterFanOut<'_>,
    globals: Vec<GlobalService>,
) -> ClusterPlan {
    let (fed, name, namespace) = (cx.fed, c.name.as_str(), cx.spec.istio.namespace.as_str());
    let mut cluster_imports = mine.imports;
    cluster_imports.sort_by(|a, b| {
        let (a, b) = (&a.service, &b.service);
        (&a.source_cluster, &a.host).cmp(&(&b.source_cluster, &b.host))
    });
    let mut hosts = mine.exported_hosts;
    let gateway = (!hosts.is_empty()).then(|| {
        hosts.sort();
        GatewayExposure {
            meta: meta(naming::gateway_name(fed), namespace, fed, None, name),
            selector: c.gateway.selector.clone(),
            port: c.gateway.port,
            hosts,
        }
    });
    let remotes = trust::remotes(&mine.peers, cx.by_name, cx.roots);
    let trust = (!remotes.is_empty()).then(|| trust::trust_bundle(fed, namespace, name, &remotes));
    let mesh_config = (cx.istio.installer != InstallerKind::None)
        .then(|| mesh_config::mesh_config(c, cx.istio, &remotes, gateway.as_ref()));
    let next_steps = next_steps::next_steps(
        c,
        cx.istio,
        gateway.as_ref(),
        mine.export_steps,
        mine.callers,
        &cluster_imports,
        cx.by_name,
    );
    let mut authorizations = mine.authorizations;
    authorizations.sort_by(|x, y| (&x.policy.namespace, &x.policy.name).cmp(&(&y.policy.namespace, &y.policy.name)));
    ClusterPlan {
        name: c.name.clone(),
        domain: c.domain.clone(),
        trust_domain: trust_domain(c).to_owned(),
        network: c.network.clone(),
        roots: cx.roots.of(name).to_vec(),
        imports: cluster_imports,
        globals,
        gateway,
        trust,
        mesh_config,
        authorizations,
        next_steps,
    }
}

/// `"1.30"` → 30.
pub(crate) fn istio_minor(version: &str) -> Option<u32> {
    version.strip_prefix("1.")?.parse().ok()
}

/// A cluster's SPIFFE trust domain: `trustDomain`, else its domain.
pub(crate) fn trust_domain(c: &ClusterSpec) -> &str {
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
