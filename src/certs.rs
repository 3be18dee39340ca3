//! Certificate intake: the bytes of a root CA source become checked root
//! certificates, or diagnostics that say what is wrong with them.
//!
//! The rules are PRODUCT §5 (certificate part). A rejected source never has
//! its content echoed, and a source that holds a private key contributes
//! nothing at all, not even its certificates.

use std::fmt;

use data_encoding::BASE64;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::public_key::PublicKey;

use crate::diagnostics::Diagnostic;
use crate::naming::hex;

/// A root certificate that passed every check, ready to be emitted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RootCert {
    #[serde(skip)]
    pub der: Vec<u8>,
    /// Lower-case hex SHA-256 of the DER: the identity used to deduplicate and order roots.
    pub sha256: String,
    pub subject: String,
    /// Canonical PEM: 64-column base64, `\n` line ends, final newline.
    pub pem: String,
}

impl RootCert {
    fn from_der(der: Vec<u8>, subject: String) -> Self {
        let sha256 = hex(&Sha256::digest(&der));
        let pem = canonical_pem(&der);
        RootCert {
            der,
            sha256,
            subject,
            pem,
        }
    }
}

/// Policy knobs for the checks.
#[derive(Debug, Clone, Copy)]
pub struct CertPolicy {
    pub now: OffsetDateTime,
    /// A root expiring within this many days gives a warning.
    pub warn_expiry_days: i64,
}

impl Default for CertPolicy {
    fn default() -> Self {
        CertPolicy {
            now: OffsetDateTime::now_utc(),
            warn_expiry_days: 30,
        }
    }
}

/// Where the bytes came from, for diagnostics: the field path in the spec,
/// and the file (or a description such as "inline PEM").
#[derive(Debug, Clone)]
pub struct SourceRef<'a> {
    pub path: &'a str,
    pub origin: &'a str,
    /// The file the diagnostics point at, when there is one.
    pub file: Option<&'a std::path::Path>,
    /// The cluster's SPIFFE trust domain, if known.
    pub trust_domain: Option<&'a str>,
}

/// What intake made of one source.
#[derive(Debug, Default)]
pub struct Intake {
    pub roots: Vec<RootCert>,
    pub diagnostics: Vec<Diagnostic>,
}

/// One `-----BEGIN X-----` … `-----END X-----` block.
struct PemBlock<'a> {
    label: &'a str,
    body: String,
    /// 1-based line of the BEGIN line.
    line: usize,
}

enum Scan<'a> {
    Blocks(Vec<PemBlock<'a>>),
    Truncated { label: &'a str, line: usize },
}

fn scan_pem(text: &str) -> Scan<'_> {
    let mut blocks = Vec::new();
    let mut open: Option<PemBlock<'_>> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(label) = line.strip_prefix("-----BEGIN ").and_then(|l| l.strip_suffix("-----")) {
            if let Some(b) = open.take() {
                return Scan::Truncated {
                    label: b.label,
                    line: b.line,
                };
            }
            open = Some(PemBlock {
                label,
                body: String::new(),
                line: i + 1,
            });
        } else if let Some(label) = line.strip_prefix("-----END ").and_then(|l| l.strip_suffix("-----")) {
            match open.take() {
                Some(b) if b.label == label => blocks.push(b),
                Some(b) => {
                    return Scan::Truncated {
                        label: b.label,
                        line: b.line,
                    }
                }
                None => {}
            }
        } else if let Some(b) = open.as_mut() {
            // RFC 1421 headers (Proc-Type, DEK-Info) in legacy encrypted keys.
            if !line.contains(':') {
                b.body.push_str(line);
            }
        }
    }
    match open {
        Some(b) => Scan::Truncated {
            label: b.label,
            line: b.line,
        },
        None => Scan::Blocks(blocks),
    }
}

fn is_private_key_label(label: &str) -> bool {
    label.contains("PRIVATE KEY")
}

/// Reads every root certificate from one source.
pub fn intake(bytes: &[u8], src: &SourceRef<'_>, policy: &CertPolicy) -> Intake {
    let mut out = Intake::default();
    let diag_at = |d: Diagnostic, line: Option<usize>| match src.file {
        Some(f) => d.at(f, line),
        None => d,
    };
    let origin = src.origin;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        out.diagnostics.push(diag_at(
            Diagnostic::error("MF216", src.path, format!("{origin} is empty"))
                .hint("export the cluster's root certificate (e.g. istio-ca-root-cert's root-cert.pem) into it"),
            None,
        ));
        return out;
    }
    if bytes.first() == Some(&0x30) && !bytes.contains(&b'-')
        || (bytes.first() == Some(&0x30) && std::str::from_utf8(bytes).is_err())
    {
        out.diagnostics.push(diag_at(
            Diagnostic::error("MF202", src.path, format!("{origin} is DER (binary), not PEM"))
                .hint("convert it: openssl x509 -inform der -in FILE -out FILE.pem"),
            None,
        ));
        return out;
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        out.diagnostics.push(diag_at(
            Diagnostic::error("MF219", src.path, format!("{origin} is a binary file, not PEM"))
                .hint("point rootCA at the PEM file of the cluster's root certificate"),
            None,
        ));
        return out;
    };
    let blocks = match scan_pem(text) {
        Scan::Blocks(b) => b,
        Scan::Truncated { label, line } => {
            let label = if is_private_key_label(label) {
                "PRIVATE KEY"
            } else {
                label
            };
            out.diagnostics.push(diag_at(
                Diagnostic::error(
                    "MF218",
                    src.path,
                    format!("{origin}: the {label} block that begins here has no END line"),
                )
                .hint("the file is truncated; export it again"),
                Some(line),
            ));
            return out;
        }
    };
    if blocks.is_empty() {
        out.diagnostics.push(diag_at(
            Diagnostic::error("MF216", src.path, format!("{origin} holds no PEM block"))
                .hint("it should contain -----BEGIN CERTIFICATE----- blocks"),
            None,
        ));
        return out;
    }
    // A key anywhere poisons the whole source: nothing from it is emitted.
    let keys: Vec<&PemBlock<'_>> = blocks.iter().filter(|b| is_private_key_label(b.label)).collect();
    if !keys.is_empty() {
        for (n, b) in blocks.iter().enumerate().filter(|(_, b)| is_private_key_label(b.label)) {
            out.diagnostics.push(diag_at(
                Diagnostic::error(
                    "MF203",
                    src.path,
                    format!("{origin}: block {} is a private key; nothing from this source is used", n + 1),
                )
                .hint("never export the CA key; keep only the CERTIFICATE blocks of the root and rotate the key if it was shared"),
                Some(b.line),
            ));
        }
        return out;
    }
    for (n, block) in blocks.iter().enumerate() {
        let here = |d: Diagnostic| diag_at(d, Some(block.line));
        if block.label != "CERTIFICATE" {
            out.diagnostics.push(here(
                Diagnostic::error(
                    "MF204",
                    src.path,
                    format!("{origin}: block {} is a {}, not a CERTIFICATE", n + 1, block.label),
                )
                .hint("keep only the root's CERTIFICATE block(s)"),
            ));
            continue;
        }
        let Ok(der) = BASE64.decode(block.body.as_bytes()) else {
            out.diagnostics.push(here(
                Diagnostic::error(
                    "MF217",
                    src.path,
                    format!("{origin}: block {} is not valid base64", n + 1),
                )
                .hint("the PEM was damaged (edited or cut); export it again"),
            ));
            continue;
        };
        match x509_parser::parse_x509_certificate(&der) {
            Ok((_, cert)) => {
                let block_no = n + 1;
                let ok = check_root(&cert, block_no, src, policy, &mut |d| out.diagnostics.push(here(d)));
                if ok {
                    let root = RootCert::from_der(der.clone(), cert.subject().to_string());
                    if out.roots.iter().any(|r| r.sha256 == root.sha256) {
                        out.diagnostics.push(here(
                            Diagnostic::warning(
                                "MF214",
                                src.path,
                                format!(
                                    "{origin}: block {block_no} repeats an earlier certificate ({})",
                                    root.subject
                                ),
                            )
                            .hint("duplicates are merged; remove the copy to silence this"),
                        ));
                    } else {
                        out.roots.push(root);
                    }
                }
            }
            Err(_) => out.diagnostics.push(here(
                Diagnostic::error(
                    "MF205",
                    src.path,
                    format!("{origin}: block {} is not a valid X.509 certificate", n + 1),
                )
                .hint("export the root certificate again"),
            )),
        }
    }
    out
}

const SHA1_SIGNATURES: [&str; 3] = ["1.2.840.113549.1.1.5", "1.2.840.10040.4.3", "1.2.840.10045.4.1"];

/// Checks one certificate against the rules for a federation root. Returns
/// whether it may be used (no errors).
fn check_root(
    cert: &X509Certificate<'_>,
    block: usize,
    src: &SourceRef<'_>,
    policy: &CertPolicy,
    report: &mut dyn FnMut(Diagnostic),
) -> bool {
    let origin = src.origin;
    let subject = cert.subject().to_string();
    let what = format!("{origin}: block {block} ({subject})");
    let mut errors: Vec<Diagnostic> = Vec::new();
    let mut error = |code, msg: String, hint: &str| errors.push(Diagnostic::error(code, src.path, msg).hint(hint));
    let is_ca = matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
    if !is_ca {
        error(
            "MF206",
            format!("{what} is not a CA certificate (basicConstraints CA:TRUE missing)"),
            "export the mesh's root CA (root-cert.pem), not a workload or gateway certificate",
        );
    }
    let signs_certs = match cert.key_usage() {
        Ok(Some(ku)) => ku.value.key_cert_sign(),
        Ok(None) => true, // no keyUsage extension: every usage is allowed
        Err(_) => false,
    };
    if is_ca && !signs_certs {
        error(
            "MF207",
            format!("{what} may not sign certificates (keyUsage lacks keyCertSign)"),
            "export the root that actually signs the mesh's certificates",
        );
    }
    let not_before = cert.validity().not_before.to_datetime();
    let not_after = cert.validity().not_after.to_datetime();
    if policy.now > not_after {
        error(
            "MF208",
            format!("{what} expired on {}", date(not_after)),
            "rotate the cluster's root CA and export the new root",
        );
    } else if policy.now < not_before {
        error(
            "MF209",
            format!("{what} is not valid before {}", date(not_before)),
            "check the clock of the machine that made it, or wait",
        );
    } else {
        let days_left = (not_after - policy.now).whole_days();
        if days_left < policy.warn_expiry_days {
            report(
                Diagnostic::warning(
                    "MF210",
                    src.path,
                    format!("{what} expires on {} ({days_left} days left)", date(not_after)),
                )
                .hint("start a root rotation: add the new root beside this one"),
            );
        }
    }
    let sig = cert.signature_algorithm.algorithm.to_id_string();
    if SHA1_SIGNATURES.contains(&sig.as_str()) {
        error(
            "MF211",
            format!("{what} is signed with SHA-1"),
            "issue a new root signed with SHA-256 or better",
        );
    }
    if let Ok(PublicKey::RSA(rsa)) = cert.public_key().parsed() {
        let bits = rsa.key_size();
        if bits < 2048 {
            error(
                "MF212",
                format!("{what} has a {bits}-bit RSA key"),
                "issue a new root with RSA 2048+ or ECDSA P-256+",
            );
        }
    }
    if cert.subject().as_raw() != cert.issuer().as_raw() {
        report(Diagnostic::warning("MF213", src.path, format!("{what} is not self-signed (issued by {})", cert.issuer()))
            .hint("peers should trust the top of the chain; export the root that issued it unless trusting the intermediate is intended"));
    }
    if let (Some(td), Some(found)) = (src.trust_domain, spiffe_trust_domain(cert)) {
        if found != td {
            report(Diagnostic::warning("MF215", src.path, format!("{what} names SPIFFE trust domain {found}, but the cluster's trustDomain is {td}"))
                .hint("set the cluster's trustDomain to the one its CA issues, or check that this is the right cluster's root"));
        }
    }
    let ok = errors.is_empty();
    for e in errors {
        report(e);
    }
    ok
}

/// The trust domain of the first `spiffe://` URI SAN, if any.
pub fn spiffe_trust_domain(cert: &X509Certificate<'_>) -> Option<String> {
    let san = cert.subject_alternative_name().ok()??;
    san.value.general_names.iter().find_map(|n| match n {
        GeneralName::URI(uri) => uri
            .strip_prefix("spiffe://")
            .map(|rest| rest.split('/').next().unwrap_or("").to_owned()),
        _ => None,
    })
}

pub fn date(t: OffsetDateTime) -> impl fmt::Display {
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// PEM as every tool writes it: 64 columns, LF, final newline.
pub fn canonical_pem(der: &[u8]) -> String {
    let b64 = BASE64.encode(der);
    let mut pem = String::with_capacity(b64.len() + b64.len() / 64 + 60);
    pem.push_str("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}
