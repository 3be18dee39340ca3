//! The facts of each cluster's `NEXT-STEPS.md`: what it needs beyond
//! meshfed's output (the installer step, gateway, callers, exports, the
//! gateways its pods call).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;

use super::imports::{gateway_addresses, ImportedService};
use super::mesh_config::istioctl_target_port;
use super::{GatewayExposure, InstallerKind, IstioTarget, ServiceImport};
use crate::spec::{ClusterSpec, ExportSpec};

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
    pub imported_hosts: ImportedHosts,
    /// Namespaces of the exported workloads, whose pods need a sidecar.
    pub export_namespaces: Vec<String>,
}

/// The hosts of a cluster's imports, in import order, serialized as a list
/// of host names: read from the imports themselves, so the 38,000 host
/// names of 20x100 are not copied once more. Shared, so the renderer hands
/// the list to the template without copying it (`render::next_steps`).
#[derive(Debug, Clone)]
pub struct ImportedHosts(Arc<[Arc<ImportedService>]>);

impl ImportedHosts {
    /// The imports whose `host` each entry is.
    pub fn services(&self) -> &Arc<[Arc<ImportedService>]> {
        &self.0
    }
}

impl Serialize for ImportedHosts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|i| &i.host))
    }
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
    /// The clusters it is exported to, sorted. Shared: every export of a
    /// cluster without `to` goes to the same clusters.
    pub importers: Arc<[String]>,
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

/// `importers`: sorted.
pub(super) fn export_step(e: &ExportSpec, importers: Arc<[String]>) -> ExportStep {
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
    ExportStep {
        service: e.service.clone(),
        namespace: e.namespace.clone(),
        ports,
        importers,
    }
}

/// The facts of cluster `c`: `callers`, every importer of `exports`
/// (sorted, deduplicated); `imports` sorted by source cluster.
pub(super) fn next_steps(
    c: &ClusterSpec,
    istio: &IstioTarget,
    gateway: Option<&GatewayExposure>,
    mut exports: Vec<ExportStep>,
    callers: Vec<String>,
    imports: &[ServiceImport],
    by_name: &BTreeMap<&str, &ClusterSpec>,
) -> NextSteps {
    exports.sort_by(|a, b| (&a.namespace, &a.service).cmp(&(&b.namespace, &b.service)));
    // Borrowed while sorted and deduplicated, each copied once at the end.
    let export_namespaces: BTreeSet<&str> = exports.iter().map(|e| e.namespace.as_str()).collect();
    let export_namespaces = export_namespaces.into_iter().map(str::to_owned).collect();
    // The imports are sorted by source: each source's imports are together.
    let mut sources: Vec<&str> = imports.iter().map(|i| i.service.source_cluster.as_str()).collect();
    sources.dedup();
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
        callers,
        exports,
        remote_gateways,
        imported_hosts: ImportedHosts(imports.iter().map(|i| i.service.clone()).collect()),
        export_namespaces,
    }
}
