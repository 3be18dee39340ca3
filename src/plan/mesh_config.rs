//! The istiod, proxy and ingress gateway settings each cluster needs,
//! whatever the installer (Helm values, an IstioOperator, a Sail `Istio`):
//! the remote roots, multi-root and DNS settings, the gateway's ports.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::trust::RemoteTrust;
use super::{trust_domain, GatewayExposure, InstallerKind, IstioTarget};
use crate::spec::ClusterSpec;

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

/// The istiod, proxy and gateway settings cluster `c` needs, trusting `remotes`.
pub(super) fn mesh_config(
    c: &ClusterSpec,
    istio: &IstioTarget,
    remotes: &[RemoteTrust],
    gateway: Option<&GatewayExposure>,
) -> MeshConfigFragment {
    let (istiod_env, proxy_metadata) = agent_settings(istio.minor);
    let istioctl = istio.installer == InstallerKind::Istioctl;
    let istioctl_gateway = gateway.filter(|_| istioctl).map(istioctl_gateway);
    let gateway_service_ports = match gateway {
        Some(gw) => gateway_service_ports(gw, istioctl_gateway.as_ref(), istioctl),
        None => Vec::new(),
    };
    MeshConfigFragment {
        cluster_domain: c.domain.clone(),
        trust_domain: trust_domain(c).to_owned(),
        network: c.network.clone(),
        ca_certificates: ca_certificates(remotes),
        istiod_env,
        proxy_metadata,
        gateway_service_ports,
        gateway_selector: c.gateway.selector.clone(),
        istioctl_gateway,
    }
}

/// `meshConfig.caCertificates`: one entry per distinct root; a root shared
/// by two clusters is scoped to both trust domains.
fn ca_certificates(remotes: &[RemoteTrust]) -> Vec<CaCertificate> {
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
    ca_certificates
}

/// istiod's environment and the proxies' `proxyMetadata` for Istio 1.`minor`.
fn agent_settings(minor: u32) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
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
    (istiod_env, proxy_metadata)
}

/// istioctl: the ingress gateway component that serves the federation port.
fn istioctl_gateway(gw: &GatewayExposure) -> IstioctlGateway {
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
}

/// The ports of an exporting cluster's ingress gateway Service: the
/// installer's defaults (those that stay) and the federation port.
fn gateway_service_ports(
    gw: &GatewayExposure,
    istioctl_gateway: Option<&IstioctlGateway>,
    istioctl: bool,
) -> Vec<GatewayServicePort> {
    // A component of our own serves only the federation port (and the status port).
    let defaults: &[(&str, u16, u16)] = match istioctl_gateway {
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
