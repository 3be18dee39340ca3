//! A cluster's root CA sources (`rootCA.files`, inline `pem`, a SPIFFE
//! bundle, KRM ConfigMaps and Secrets), read and handed to `certs`; roots
//! several sources give are merged, and an expiring root beside its
//! successor says the rotation is under way.

use std::path::PathBuf;

use super::objects::object_root_sources;
use super::{BuildOptions, Reader};
use crate::certs::{self, CertPolicy, RootCert, SourceRef};
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::load::{self, SpecSource};
use crate::plan::trust_domain;
use crate::spec::{ClusterSpec, RootCaSpec};

/// One root CA source of a cluster, read: its field path, what messages
/// call it, the file it came from (none for inline PEM and KRM objects),
/// and its bytes.
pub(super) struct RootSource {
    pub(super) path: String,
    pub(super) origin: String,
    pub(super) file: Option<PathBuf>,
    pub(super) bytes: Vec<u8>,
}

/// Root CA intake alone, for a spec that failed its schema elsewhere: every
/// cluster whose `rootCA` parses still has its certificates checked, so one
/// run reports a field typo and a pasted private key or an expired root
/// together. Only intake's diagnostics; nothing is built.
pub fn intake_roots(value: &serde_json::Value, src: &SpecSource, opts: &BuildOptions) -> Diagnostics {
    let mut b = Reader::new(src, opts, false);
    // Another kind of document is no spec: its paths mean nothing to us.
    let field = |key: &str| value.get(key).and_then(serde_json::Value::as_str);
    if field("apiVersion") != Some(crate::spec::API_VERSION) || field("kind") != Some(crate::spec::KIND) {
        return b.placed();
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
    b.placed()
}

pub(super) fn read_roots(b: &mut Reader<'_>, ci: usize, c: &ClusterSpec, policy: &CertPolicy) -> Vec<RootCert> {
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
    let sources = root_sources(b, &path, c);
    // Inline PEM in a literal block (`pem: |`) has its own lines in the spec:
    // a pasted key is reported at its BEGIN line, not at `pem:`.
    let inline_first = c
        .root_ca
        .pem
        .as_ref()
        .and_then(|_| literal_block_first_line(b, &format!("{path}.pem")));
    for source in &sources {
        let inline_at = match (&source.file, inline_first) {
            (None, Some(first)) if source.path.ends_with(".pem") => Some((b.src.file.as_path(), first)),
            _ => None,
        };
        let src = SourceRef {
            path: &source.path,
            origin: &source.origin,
            file: source.file.as_deref(),
            trust_domain: Some(td),
            inline_at,
        };
        let got = certs::intake(&source.bytes, &src, policy);
        merge_roots(b, &source.path, &source.origin, got, &mut roots);
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

/// A cluster's root CA sources in spec order (`files`, `pem`, then KRM
/// objects), read; an unreadable one is reported (MF201) and left out.
fn root_sources(b: &mut Reader<'_>, path: &str, c: &ClusterSpec) -> Vec<RootSource> {
    let mut sources = Vec::new();
    for (fi, f) in c.root_ca.files.iter().enumerate() {
        let fpath = format!("{path}.files[{fi}]");
        let resolved = b.src.base_dir.join(f);
        match load::read_ca_file(&resolved) {
            Ok(bytes) => sources.push(RootSource {
                path: fpath,
                origin: f.clone(),
                file: Some(resolved),
                bytes,
            }),
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
        sources.push(RootSource {
            path: format!("{path}.pem"),
            origin: "inline PEM".to_owned(),
            file: None,
            bytes: pem.as_bytes().to_vec(),
        });
    }
    sources.extend(object_root_sources(b, path, c));
    sources
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
fn literal_block_first_line(b: &Reader<'_>, path: &str) -> Option<usize> {
    let key_line = b.line_index().line_of(path)?;
    let key = path.rsplit('.').next()?;
    let text = b.src.text.lines().nth(key_line.checked_sub(1)?)?;
    let after = text.split_once(&format!("{key}:"))?.1.trim_start();
    after.starts_with('|').then_some(key_line + 1)
}

/// `rootCA.spiffeBundle`: the X.509 roots of a SPIFFE trust bundle file.
fn read_spiffe_bundle(
    b: &mut Reader<'_>,
    fpath: &str,
    bundle: &str,
    td: &str,
    policy: &CertPolicy,
    roots: &mut Vec<RootCert>,
) {
    let resolved = b.src.base_dir.join(bundle);
    let bytes = match load::read_ca_file(&resolved) {
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
fn merge_roots(b: &mut Reader<'_>, fpath: &str, origin: &str, got: certs::Intake, roots: &mut Vec<RootCert>) {
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
