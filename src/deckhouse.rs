//! `meshfed import deckhouse`: turns the documents a Deckhouse cluster
//! publishes for federation into a `clusters[]` entry of the spec, without
//! any access to the cluster.
//!
//! Public document: `clusterUUID`, `rootCA` (PEM), `authnKeyPub`.
//! Private document: `ingressGateways[{address, port}]`,
//! `publicServices[{hostname, ports[{name, port}]}]`, hostnames being
//! `<service>.<namespace>.svc.<cluster domain>`. Fields meshfed does not
//! use are ignored, so newer Deckhouse releases still import.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::certs::{self, CertPolicy, SourceRef};
use crate::diagnostics::{Checked, Code, Diagnostic, Diagnostics};
use crate::naming;

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub name: String,
    pub public: PathBuf,
    pub private: PathBuf,
    /// Where the root CA is written (missing folders are made); the entry
    /// names it relative to `spec_dir`.
    pub root_out: PathBuf,
    /// The folder of the spec the entry is pasted into: `rootCA.files`
    /// resolve from there.
    pub spec_dir: PathBuf,
    /// Overwrite a different existing `root_out`.
    pub force: bool,
    /// Overrides the domain derived from the hostnames (needed when the cluster publishes no service).
    pub domain: Option<String>,
    pub trust_domain: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublicDoc {
    #[serde(rename = "clusterUUID")]
    cluster_uuid: String,
    #[serde(rename = "rootCA")]
    root_ca: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PrivateDoc {
    #[serde(default)]
    ingress_gateways: Vec<IngressGateway>,
    #[serde(default)]
    public_services: Vec<PublicService>,
}

#[derive(Deserialize)]
struct IngressGateway {
    address: String,
    port: u32,
}

#[derive(Deserialize)]
struct PublicService {
    hostname: String,
    #[serde(default)]
    ports: Vec<NamedPort>,
}

#[derive(Deserialize, Serialize, Clone)]
struct NamedPort {
    name: String,
    port: u32,
}

/// The spec entry, fields in the order the README documents them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClusterEntry {
    name: String,
    domain: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    trust_domain: Option<String>,
    #[serde(rename = "rootCA")]
    root_ca: RootFiles,
    gateway: GatewayEntry,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    exports: Vec<ExportEntry>,
}

#[derive(Serialize)]
struct RootFiles {
    files: Vec<String>,
}

#[derive(Serialize)]
struct GatewayEntry {
    addresses: Vec<String>,
    port: u32,
}

#[derive(Serialize)]
struct ExportEntry {
    service: String,
    namespace: String,
    ports: Vec<NamedPort>,
}

/// `<service>.<namespace>.svc.<domain>` → its three parts.
pub fn split_hostname(host: &str) -> Option<(&str, &str, &str)> {
    let (svc_ns, domain) = host.split_once(".svc.")?;
    let (service, namespace) = svc_ns.split_once('.')?;
    let valid_domain = domain.split('.').all(naming::is_dns_label);
    (naming::is_dns_label(service) && naming::is_dns_label(namespace) && valid_domain)
        .then_some((service, namespace, domain))
}

/// The top-level fields that only one of the two documents has.
const PUBLIC_ONLY: [&str; 3] = ["clusterUUID", "rootCA", "authnKeyPub"];
const PRIVATE_ONLY: [&str; 2] = ["ingressGateways", "publicServices"];

/// Reads one document (bounded, like every input); its text is kept for line numbers.
fn read_json<T: for<'de> Deserialize<'de>>(file: &Path, what: &str) -> Result<(T, String), Diagnostic> {
    let text = std::fs::File::open(file)
        .map_err(|e| e.to_string())
        .and_then(crate::load::read_text)
        .map_err(|why| {
            Diagnostic::new(Code::MF601, "", format!("cannot read the {what} document: {why}"))
                .at(file, None)
                .hint("check the path")
        })?;
    // serde_json stops at 128 levels by itself; the scan gives the same
    // answer (MF003) as every other entry point, as fast.
    crate::nesting::diagnose(&text, file)?;
    // The other document given here (--public and --private swapped): say so.
    if let Ok(serde_json::Value::Object(top)) = serde_json::from_str::<serde_json::Value>(&text) {
        let (mine, theirs, other) = if what == "public" {
            (&PUBLIC_ONLY[..], &PRIVATE_ONLY[..], "private")
        } else {
            (&PRIVATE_ONLY[..], &PUBLIC_ONLY[..], "public")
        };
        let has = |keys: &[&str]| keys.iter().any(|k| top.contains_key(*k));
        if !has(mine) && has(theirs) {
            let line = crate::line_index::LineIndex::build(&text)
                .line_of(theirs.iter().find(|k| top.contains_key(**k)).copied().unwrap_or(""));
            return Err(Diagnostic::new(
                Code::MF611,
                "",
                format!("this looks like the {other} federation document, given as --{what}"),
            )
            .at(file, line)
            .hint("swap the files of --public and --private"));
        }
    }
    let value = serde_json::from_str(&text).map_err(|e| {
        Diagnostic::new(
            Code::MF602,
            "",
            format!("the {what} document is not what Deckhouse publishes: {e}"),
        )
        .at(file, Some(e.line()))
        .hint(format!(
            "pass the cluster's {what} federation document as published by Deckhouse"
        ))
    })?;
    Ok((value, text))
}

/// `path` made absolute from the working directory, `.` and `..` resolved
/// by name (symbolic links are not followed).
fn absolute(path: &Path) -> PathBuf {
    use std::path::Component;
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `target` relative to the folder `base`, with `/` separators (as the spec
/// writes paths): `certs/a.pem`, `../certs/a.pem`.
pub fn relative_to(target: &Path, base: &Path) -> String {
    let (target, base) = (absolute(target), absolute(base));
    let t: Vec<_> = target.components().collect();
    let b: Vec<_> = base.components().collect();
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".to_owned(); b.len() - common];
    parts.extend(t[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    parts.join("/")
}

/// What an import produced: the entry to print and the root CA file to
/// write (the caller writes it, through `output`).
#[derive(Debug)]
pub struct Imported {
    /// The `clusters[]` entry, indented to paste under `spec.clusters:`.
    pub entry: String,
    /// Where the root CA goes (`--root-out`) and its PEM text.
    pub root_out: PathBuf,
    pub root_pem: String,
}

/// Builds the entry and the root CA file's text; writes nothing. Every
/// problem on failure, including an existing `--root-out` that holds
/// something else (MF613, unless `--force`).
pub fn import(req: &ImportRequest, policy: &CertPolicy) -> Checked<Imported> {
    let mut diags = Diagnostics::new();
    let ((public, public_text), (private, private_text)) = read_documents(req)?;
    if !naming::is_dns_label(&req.name) {
        diags.push(
            Diagnostic::new(Code::MF603, "--name", format!("{:?} is not a DNS-1123 label", req.name))
                .hint("use lower-case letters, digits and '-'"),
        );
    }

    // The PEM is one JSON string: its own line numbers mean nothing in the
    // file, so its problems stand at the line of `rootCA`.
    let src = SourceRef {
        path: "rootCA",
        origin: "the published root CA",
        file: None,
        trust_domain: req.trust_domain.as_deref(),
        inline_at: None,
    };
    let intake = certs::intake(public.root_ca.as_bytes(), &src, policy);
    let root_line = crate::line_index::LineIndex::build(&public_text).line_of("rootCA");
    diags.extend(intake.diagnostics.into_iter().map(|d| d.at(&req.public, root_line)));

    let (ports, mut addresses) = gateways(&private, req, &mut diags);
    let (domains, mut exports) = services(&private, req, &mut diags);
    let domain = pick_domain(req, &domains, &mut diags);
    if domain == "cluster.local" {
        diags.push(
            Diagnostic::new(Code::MF612,
                "publicServices",
                "the cluster uses cluster.local, every cluster's default domain: remote names would collide with local ones",
            )
            .at(&req.private, None)
            .hint(format!(
                "give the cluster its own domain, e.g. {}.local, as its kubelet clusterDomain and CoreDNS zone, then export the documents again (the spec will refuse cluster.local: MF115)",
                req.name
            )),
        );
    }
    exports.sort_by(|a, b| (&a.namespace, &a.service).cmp(&(&b.namespace, &b.service)));
    addresses.sort();
    addresses.dedup();
    place_on_lines(&mut diags, req, &private_text);
    let pem: String = intake.roots.iter().map(|r| r.pem.as_str()).collect();
    diags.extend(root_out_taken(req, &pem));
    if diags.has_errors() {
        return Err(diags);
    }
    let entry = ClusterEntry {
        name: req.name.clone(),
        domain,
        trust_domain: req.trust_domain.clone(),
        root_ca: RootFiles {
            files: vec![relative_to(&req.root_out, &req.spec_dir)],
        },
        gateway: GatewayEntry {
            addresses,
            port: ports.first().copied().unwrap_or(15443),
        },
        exports,
    };
    let imported = Imported {
        entry: entry_text(req, &public, &entry)?,
        root_out: req.root_out.clone(),
        root_pem: pem,
    };
    Ok((imported, diags))
}

/// A document read, and its text (for line numbers).
type Read<T> = (T, String);

/// Both documents, or every problem with either.
fn read_documents(req: &ImportRequest) -> Result<(Read<PublicDoc>, Read<PrivateDoc>), Diagnostics> {
    let mut diags = Diagnostics::new();
    match (
        read_json::<PublicDoc>(&req.public, "public"),
        read_json::<PrivateDoc>(&req.private, "private"),
    ) {
        (Ok(p), Ok(q)) => Ok((p, q)),
        (p, q) => {
            diags.extend(p.err());
            diags.extend(q.err());
            Err(diags)
        }
    }
}

/// The gateways' ports and addresses, checked (MF604, MF605, MF606).
fn gateways(private: &PrivateDoc, req: &ImportRequest, diags: &mut Diagnostics) -> (BTreeSet<u32>, Vec<String>) {
    let mut ports = BTreeSet::new();
    let mut addresses = Vec::new();
    for (i, gw) in private.ingress_gateways.iter().enumerate() {
        let path = format!("ingressGateways[{i}]");
        if gw.address.parse::<IpAddr>().is_err() && !naming::is_dns_name(&gw.address) {
            diags.push(
                Diagnostic::new(
                    Code::MF604,
                    format!("{path}.address"),
                    format!("{:?} is neither an IP address nor a DNS name", gw.address),
                )
                .hint("give the gateway's public IP or DNS name, as the other clusters reach it")
                .at(&req.private, None),
            );
        }
        if !(1..=65535).contains(&gw.port) {
            diags.push(
                Diagnostic::new(
                    Code::MF604,
                    format!("{path}.port"),
                    format!("port {} is out of range", gw.port),
                )
                .hint("use the gateway's TLS port, 1 to 65535 (Istio's default is 15443)")
                .at(&req.private, None),
            );
        }
        ports.insert(gw.port);
        addresses.push(gw.address.clone());
    }
    if private.ingress_gateways.is_empty() && !private.public_services.is_empty() {
        diags.push(
            Diagnostic::new(
                Code::MF605,
                "ingressGateways",
                "the cluster publishes services but no ingress gateway",
            )
            .at(&req.private, None)
            .hint("check that the cluster's federation ingress gateway is up, then export the document again"),
        );
    }
    if ports.len() > 1 {
        diags.push(
            Diagnostic::new(
                Code::MF606,
                "ingressGateways",
                format!(
                    "the gateways listen on different ports ({}); meshfed takes one port per cluster",
                    ports.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
                ),
            )
            .at(&req.private, None)
            .hint("keep the gateways that share the federation port and remove the others from the document"),
        );
    }

    (ports, addresses)
}

/// The published services' domains and the exports they become (MF607, MF610).
fn services(
    private: &PrivateDoc,
    req: &ImportRequest,
    diags: &mut Diagnostics,
) -> (BTreeSet<String>, Vec<ExportEntry>) {
    let mut domains = BTreeSet::new();
    let mut exports = Vec::new();
    for (i, s) in private.public_services.iter().enumerate() {
        match split_hostname(&s.hostname) {
            Some((service, namespace, domain)) => {
                domains.insert(domain.to_owned());
                if s.ports.is_empty() {
                    diags.push(
                        Diagnostic::new(
                            Code::MF610,
                            format!("publicServices[{i}].ports"),
                            format!("{} publishes no port", s.hostname),
                        )
                        .at(&req.private, None)
                        .hint("an exported service needs at least one port"),
                    );
                }
                for (pi, p) in s.ports.iter().enumerate() {
                    if !naming::is_dns_label(&p.name) || !(1..=65535).contains(&p.port) {
                        diags.push(
                            Diagnostic::new(
                                Code::MF610,
                                format!("publicServices[{i}].ports[{pi}]"),
                                format!("port {:?} {} is not a valid named port", p.name, p.port),
                            )
                            .at(&req.private, None)
                            .hint("port names are DNS-1123 labels, numbers 1 to 65535"),
                        );
                    }
                }
                let mut ports = s.ports.clone();
                ports.sort_by_key(|p| p.port);
                exports.push(ExportEntry {
                    service: service.to_owned(),
                    namespace: namespace.to_owned(),
                    ports,
                });
            }
            None => diags.push(
                Diagnostic::new(
                    Code::MF607,
                    format!("publicServices[{i}].hostname"),
                    format!("{:?} is not <service>.<namespace>.svc.<cluster domain>", s.hostname),
                )
                .at(&req.private, None)
                .hint("meshfed derives service, namespace and domain from the hostname; fix or drop this entry"),
            ),
        }
    }
    (domains, exports)
}

/// The cluster's domain: `--domain`, or the one the hostnames share (MF608, MF609).
fn pick_domain(req: &ImportRequest, domains: &BTreeSet<String>, diags: &mut Diagnostics) -> String {
    match (&req.domain, domains.len()) {
        (Some(d), _) => {
            if let Some(other) = domains.iter().find(|x| *x != d) {
                diags.push(
                    Diagnostic::new(
                        Code::MF608,
                        "publicServices",
                        format!("hostnames use domain {other}, but --domain is {d}"),
                    )
                    .at(&req.private, None)
                    .hint("peers will import the services under --domain; make sure the cluster really uses it"),
                );
            }
            d.clone()
        }
        (None, 1) => domains.first().cloned().unwrap_or_default(),
        (None, 0) => {
            diags.push(
                Diagnostic::new(
                    Code::MF609,
                    "publicServices",
                    "no hostname to derive the cluster domain from",
                )
                .at(&req.private, None)
                .hint("pass --domain"),
            );
            String::new()
        }
        (None, _) => {
            diags.push(
                Diagnostic::new(
                    Code::MF609,
                    "publicServices",
                    format!(
                        "hostnames use several domains ({})",
                        domains.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                )
                .at(&req.private, None)
                .hint("a cluster has one DNS domain; pass --domain to pick it"),
            );
            String::new()
        }
    }
}

/// Every problem in the private document at the line of its field.
fn place_on_lines(diags: &mut Diagnostics, req: &ImportRequest, private_text: &str) {
    let index = crate::line_index::LineIndex::build(private_text);
    for d in diags.since_mut(0) {
        if let Some(loc) = d.location.as_mut() {
            if loc.file == req.private && loc.line.is_none() && !d.path.is_empty() {
                loc.line = index.line_of(&d.path);
            }
        }
    }
}

/// MF613: an existing root file is replaced only when it holds the same, or with --force.
fn root_out_taken(req: &ImportRequest, pem: &str) -> Option<Diagnostic> {
    match std::fs::read(&req.root_out) {
        Ok(old) if old != pem.as_bytes() && !req.force => Some(
            Diagnostic::new(
                Code::MF613,
                "--root-out",
                format!("{} exists and holds something else", req.root_out.display()),
            )
            .at(&req.root_out, None)
            .hint("pass --force to overwrite it, or choose another --root-out"),
        ),
        _ => None,
    }
}

/// The entry as YAML with two comment lines, indented as an item of `spec.clusters`.
fn entry_text(req: &ImportRequest, public: &PublicDoc, entry: &ClusterEntry) -> Result<String, Diagnostics> {
    let root_file = &entry.root_ca.files[0];
    let yaml = crate::yaml::to_string(std::slice::from_ref(entry)).map_err(|e| {
        Diagnostics::from(
            Diagnostic::new(Code::MF305, "", format!("cannot write the entry: {e}"))
                .hint("this is a bug in meshfed: report it with the Deckhouse documents that caused it"),
        )
    })?;
    // Indented as an item of `spec.clusters` (two spaces, as the README's
    // spec writes it), so it pastes as is.
    let mut out = format!(
        "  # {} — Deckhouse cluster {}; paste under spec.clusters: as is\n  # rootCA.files: {root_file} is relative to the spec's folder: {} (--spec-dir)\n",
        req.name,
        public.cluster_uuid,
        if req.spec_dir == Path::new(".") {
            "the working directory".to_owned()
        } else {
            req.spec_dir.display().to_string()
        }
    );
    for line in yaml.lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::split_hostname;

    #[test]
    fn hostnames_split_into_service_namespace_domain() {
        assert_eq!(
            split_hostname("bar.xyz.svc.cluster-b.local"),
            Some(("bar", "xyz", "cluster-b.local"))
        );
        assert_eq!(split_hostname("bar.svc.cluster.local"), None);
        assert_eq!(split_hostname("a.b.c.svc.x.local"), None);
        assert_eq!(split_hostname("bar.xyz.cluster-b.local"), None);
        assert_eq!(split_hostname("Bar.xyz.svc.local"), None);
    }
}
