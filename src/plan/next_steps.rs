//! The facts of each cluster's `NEXT-STEPS.md`: what it needs beyond
//! meshfed's output (the installer step, gateway, callers, exports, the
//! gateways its pods call).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::imports::gateway_addresses;
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

pub(super) fn export_step(e: &ExportSpec, importers: &[&str]) -> ExportStep {
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

pub(super) fn next_steps(
    c: &ClusterSpec,
    istio: &IstioTarget,
    gateway: Option<&GatewayExposure>,
    mut exports: Vec<ExportStep>,
    imports: &[ServiceImport],
    by_name: &BTreeMap<&str, &ClusterSpec>,
) -> NextSteps {
    exports.sort_by(|a, b| (&a.namespace, &a.service).cmp(&(&b.namespace, &b.service)));
    // Borrowed while sorted and deduplicated, each copied once at the end.
    let callers: BTreeSet<&str> = exports
        .iter()
        .flat_map(|e| e.importers.iter().map(String::as_str))
        .collect();
    let export_namespaces: BTreeSet<&str> = exports.iter().map(|e| e.namespace.as_str()).collect();
    let callers = callers.into_iter().map(str::to_owned).collect();
    let export_namespaces = export_namespaces.into_iter().map(str::to_owned).collect();
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
        callers,
        exports,
        remote_gateways,
        imported_hosts: imports.iter().map(|i| i.service.host.clone()).collect(),
        export_namespaces,
    }
}
