//! The roots each cluster trusts: one `RemoteTrust` per peer, and the trust
//! Secret that carries them all.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;

use super::{meta, trust_domain, ClusterRoots, ObjectMeta};
use crate::certs::RootCert;
use crate::naming;
use crate::spec::ClusterSpec;

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

/// The roots of each peer a cluster trusts, sorted by cluster name.
pub(super) fn remotes(
    peers: &BTreeSet<&str>,
    by_name: &BTreeMap<&str, &ClusterSpec>,
    roots: &ClusterRoots,
) -> Vec<RemoteTrust> {
    peers
        .iter()
        .map(|peer| {
            let pc = by_name[peer];
            let peer_roots = roots.of(peer).to_vec();
            RemoteTrust {
                cluster: pc.name.clone(),
                trust_domain: trust_domain(pc).to_owned(),
                pem: peer_roots.iter().map(|r| r.pem.as_str()).collect(),
                roots: peer_roots,
            }
        })
        .collect()
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

pub(super) fn trust_bundle(fed: &str, namespace: &str, cluster: &str, remotes: &[RemoteTrust]) -> TrustBundle {
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
