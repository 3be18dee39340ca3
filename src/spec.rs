//! The input: a `MeshFederation` document as the user writes it, with the
//! defaults PRODUCT §2 names. These types mirror the YAML one to one and
//! decide nothing; `intake` checks them and reads the roots they name,
//! and `plan` turns them into the plan.
//!
//! Unknown fields are rejected twice over: by the JSON Schema in
//! `schemas/` (which reports every problem with its path) and by
//! `deny_unknown_fields` here (a guard if the two ever drift apart).

use std::collections::BTreeMap;

use serde::Deserialize;

pub const API_VERSION: &str = "meshfed.io/v1alpha1";
pub const KIND: &str = "MeshFederation";
pub const MEMBER_KIND: &str = "MeshFederationMember";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MeshFederation {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: FederationSpec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FederationSpec {
    #[serde(default)]
    pub istio: IstioSpec,
    #[serde(default = "default_istio_namespace")]
    pub import_namespace: String,
    /// Who may call exported services; `None` leaves authorization alone.
    #[serde(default)]
    pub authorization: Option<AuthorizationMode>,
    #[serde(default)]
    pub clusters: Vec<ClusterSpec>,
    /// The DNS suffix of global hosts (`<service>.<namespace>.<globalDomain>`).
    #[serde(default = "default_global_domain")]
    pub global_domain: String,
    /// Outlier detection on every global host's DestinationRule.
    #[serde(default)]
    pub global_outlier_detection: OutlierDetectionSpec,
}

/// `outlierDetection` of a global host's DestinationRule: Istio does no
/// locality failover without it.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OutlierDetectionSpec {
    #[serde(default = "default_consecutive_errors")]
    pub consecutive5xx_errors: u32,
    #[serde(default = "default_outlier_interval")]
    pub interval: String,
    #[serde(default = "default_base_ejection_time")]
    pub base_ejection_time: String,
    #[serde(default = "default_max_ejection_percent")]
    pub max_ejection_percent: u32,
}

impl Default for OutlierDetectionSpec {
    fn default() -> Self {
        OutlierDetectionSpec {
            consecutive5xx_errors: default_consecutive_errors(),
            interval: default_outlier_interval(),
            base_ejection_time: default_base_ejection_time(),
            max_ejection_percent: default_max_ejection_percent(),
        }
    }
}

fn default_global_domain() -> String {
    "global".to_owned()
}

fn default_consecutive_errors() -> u32 {
    5
}

fn default_outlier_interval() -> String {
    "10s".to_owned()
}

fn default_base_ejection_time() -> String {
    "30s".to_owned()
}

fn default_max_ejection_percent() -> u32 {
    100
}

/// `importers`: each exported workload admits only its own cluster and the
/// clusters it is exported to, over STRICT mutual TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthorizationMode {
    None,
    Importers,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IstioSpec {
    #[serde(default = "default_istio_version")]
    pub version: String,
    #[serde(default = "default_istio_namespace")]
    pub namespace: String,
    #[serde(default)]
    pub installer: Installer,
}

impl Default for IstioSpec {
    fn default() -> Self {
        IstioSpec {
            version: default_istio_version(),
            namespace: default_istio_namespace(),
            installer: Installer::default(),
        }
    }
}

/// How Istio is installed in every cluster; picks the shape of the
/// mesh-config fragment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Installer {
    #[default]
    Helm,
    Istioctl,
    Sail,
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterSpec {
    pub name: String,
    pub domain: String,
    #[serde(default)]
    pub trust_domain: Option<String>,
    #[serde(default)]
    pub network: Option<String>,
    /// Istio locality `region[/zone[/subzone]]` of the cluster's workloads.
    #[serde(default)]
    pub locality: Option<String>,
    #[serde(default, rename = "rootCA")]
    pub root_ca: RootCaSpec,
    #[serde(default)]
    pub gateway: GatewaySpec,
    /// `exports:` with no value (null) is no exports, like an absent field.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub exports: Vec<ExportSpec>,
}

/// Where a cluster's exported root certificate(s) come from. Several
/// sources may be combined; several roots are normal during rotation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootCaSpec {
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub pem: Option<String>,
    /// A SPIFFE trust bundle (JWKS with `x5c`), relative to the spec file.
    #[serde(default, rename = "spiffeBundle")]
    pub spiffe_bundle: Option<String>,
    /// Keys of ConfigMaps among a KRM function's `items` (KRM mode only).
    #[serde(default, rename = "configMaps")]
    pub config_maps: Vec<ObjectKeyRef>,
    /// Keys of Secrets among a KRM function's `items` (KRM mode only).
    #[serde(default)]
    pub secrets: Vec<ObjectKeyRef>,
}

impl RootCaSpec {
    /// Whether any source names a ConfigMap or Secret.
    pub fn references_objects(&self) -> bool {
        !self.config_maps.is_empty() || !self.secrets.is_empty()
    }
}

/// One key of a ConfigMap or Secret. Without `namespace`, the name must be
/// unique among the items of that kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectKeyRef {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    pub key: String,
}

/// The second kind (PRODUCT §4): names one cluster of a federation, for
/// pipelines that build one cluster at a time.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MeshFederationMember {
    /// Read only so that `deny_unknown_fields` accepts it: callers pick this
    /// type by `kind` before they read it.
    #[serde(rename = "apiVersion")]
    pub _api_version: String,
    #[serde(rename = "kind")]
    pub _kind: String,
    pub metadata: Metadata,
    pub spec: MemberSpec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberSpec {
    /// Path of the MeshFederation file, relative to the folder of the file
    /// that names it (the kustomization root in plugin mode).
    pub federation: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySpec {
    #[serde(default)]
    pub addresses: Vec<String>,
    #[serde(default = "default_gateway_port")]
    pub port: u16,
    #[serde(default = "default_gateway_selector")]
    pub selector: BTreeMap<String, String>,
}

impl Default for GatewaySpec {
    fn default() -> Self {
        GatewaySpec {
            addresses: Vec::new(),
            port: default_gateway_port(),
            selector: default_gateway_selector(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExportSpec {
    pub service: String,
    pub namespace: String,
    #[serde(default)]
    pub ports: Vec<PortSpec>,
    #[serde(default)]
    pub service_accounts: Vec<String>,
    /// `None`: every other cluster.
    #[serde(default)]
    pub to: Option<Vec<String>>,
    /// Labels of the exported workloads; required by `authorization: importers`.
    #[serde(default)]
    pub selector: Option<BTreeMap<String, String>>,
    /// The importing clusters' namespaces that may use the import: its
    /// ServiceEntry's and DestinationRule's `exportTo`. `None`: mesh-wide.
    #[serde(default)]
    pub consumers: Option<Vec<String>>,
    /// Also served under `<service>.<namespace>.<globalDomain>`, with every
    /// other cluster exporting it globally.
    #[serde(default)]
    pub global: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortSpec {
    pub name: String,
    /// The Service port: what importers call, and what the SNI names.
    pub port: u32,
    /// The workload's port (the Service's `targetPort`); `None`: `port`.
    #[serde(default, rename = "targetPort")]
    pub target_port: Option<u32>,
    #[serde(default)]
    pub protocol: Option<String>,
}

fn default_istio_version() -> String {
    "1.30".to_owned()
}

fn default_istio_namespace() -> String {
    "istio-system".to_owned()
}

fn default_gateway_port() -> u16 {
    15443
}

fn default_gateway_selector() -> BTreeMap<String, String> {
    BTreeMap::from([("istio".to_owned(), "ingressgateway".to_owned())])
}

/// A list that YAML leaves null (`exports:` with nothing after it) is empty.
fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}
