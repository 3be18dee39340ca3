//! The ConfigMaps and Secrets a KRM function was given, and the root CA
//! sources `rootCA.configMaps` / `rootCA.secrets` find among them.

use std::collections::BTreeMap;

use super::roots::RootSource;
use super::Reader;
use crate::diagnostics::{Code, Diagnostic};
use crate::spec::ClusterSpec;

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
pub(super) fn object_root_sources(b: &mut Reader<'_>, path: &str, c: &ClusterSpec) -> Vec<RootSource> {
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
            Some(Ok(bytes)) => sources.push(RootSource {
                path: rpath,
                origin: format!("{what} key {}", r.key),
                file: None,
                bytes: bytes.clone(),
            }),
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
