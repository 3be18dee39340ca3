//! `meshfed inspect FILE...`: what is in a CA file, as a person reads it.
//!
//! Each certificate is described (subject, issuer, SHA-256 fingerprint,
//! validity and days left, key, signature algorithm, CA flags, SPIFFE trust
//! domain) together with the diagnostics `certs::intake` would give it as a
//! federation root. The text is deterministic for a given day. Nothing here
//! decides anything: the checks are `certs`'; a source holding a private key
//! is only reported, never described, so no key material is ever printed.

use std::fmt::Write;
use std::path::Path;

use x509_parser::certificate::X509Certificate;
use x509_parser::objects::{oid2sn, oid_registry};

use crate::certs::{self, CertPolicy, FoundCert, Intake, SourceRef};
use crate::diagnostics::{Code, Diagnostic};

/// The report for every file, and whether any check gave an error.
pub struct Report {
    pub text: String,
    pub has_errors: bool,
}

/// Inspects each file in turn.
pub fn inspect_files(files: &[impl AsRef<Path>], policy: &CertPolicy) -> Report {
    let mut report = Report {
        text: String::new(),
        has_errors: false,
    };
    for (i, file) in files.iter().enumerate() {
        if i > 0 {
            report.text.push('\n');
        }
        inspect_file(file.as_ref(), policy, &mut report);
    }
    report
}

fn inspect_file(file: &Path, policy: &CertPolicy, report: &mut Report) {
    let shown = file.display().to_string();
    let out = &mut report.text;
    let _ = writeln!(out, "{shown}");
    let bytes = match crate::load::read_ca_file(file) {
        Ok(b) => b,
        Err(e) => {
            let d = Diagnostic::new(Code::MF503, "", format!("cannot read {shown}: {e}"))
                .hint("check the path and its permissions")
                .at(file, None);
            let _ = writeln!(out, "  {d}");
            report.has_errors = true;
            return;
        }
    };
    let src = SourceRef {
        path: "",
        origin: &shown,
        file: Some(file),
        trust_domain: None,
        inline_at: None,
    };
    // A SPIFFE bundle is a JSON object; everything else is PEM (or DER).
    let intake: Intake = if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        certs::intake_spiffe_bundle(&bytes, &src, policy)
    } else {
        certs::intake(&bytes, &src, policy)
    };
    report.has_errors |= intake.diagnostics.iter().any(Diagnostic::is_error);
    let mut placed = vec![false; intake.diagnostics.len()];
    for found in &intake.found {
        let mine: Vec<&Diagnostic> = intake
            .diagnostics
            .iter()
            .enumerate()
            .filter(|(i, d)| {
                let hit = found.line.is_some() && d.location.as_ref().and_then(|l| l.line) == found.line
                    || d.message.contains(&format!("key {} ", found.block));
                if hit {
                    placed[*i] = true;
                }
                hit
            })
            .map(|(_, d)| d)
            .collect();
        describe(found, &mine, policy, out);
    }
    let rest: Vec<&Diagnostic> = intake
        .diagnostics
        .iter()
        .zip(&placed)
        .filter(|(_, p)| !**p)
        .map(|(d, _)| d)
        .collect();
    if intake.found.is_empty() {
        let _ = writeln!(out, "  no certificate");
    }
    for d in rest {
        let _ = writeln!(out, "  {d}");
    }
}

fn describe(found: &FoundCert, diags: &[&Diagnostic], policy: &CertPolicy, out: &mut String) {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(&found.der) else {
        return;
    };
    match found.line {
        Some(line) => {
            let _ = writeln!(out, "  certificate {} (line {line})", found.block);
        }
        None => {
            let _ = writeln!(out, "  certificate {}", found.block);
        }
    }
    let mut field = |name: &str, value: String| {
        let _ = writeln!(out, "    {:<13}{value}", format!("{name}:"));
    };
    field("subject", certs::subject_text(&cert));
    field("issuer", cert.issuer().to_string());
    field("self-signed", yes_no(cert.subject().as_raw() == cert.issuer().as_raw()));
    field("sha256", fingerprint(&found.der));
    let not_before = cert.validity().not_before.to_datetime();
    let not_after = cert.validity().not_after.to_datetime();
    let state = if policy.now > not_after {
        "expired".to_owned()
    } else if policy.now < not_before {
        "not yet valid".to_owned()
    } else {
        format!("{} days left", (not_after - policy.now).whole_days())
    };
    field(
        "valid",
        format!("{} to {} ({state})", certs::date(not_before), certs::date(not_after)),
    );
    let (key, bits) = certs::key_description(&cert);
    field("key", if bits > 0 { format!("{key} {bits}") } else { key });
    field("signature", signature_name(&cert));
    field("ca", ca_flags(&cert));
    field(
        "spiffe",
        certs::spiffe_trust_domain(&cert).unwrap_or_else(|| "none".to_owned()),
    );
    if diags.is_empty() {
        field("diagnostics", "none: usable as a federation root".to_owned());
    } else {
        field("diagnostics", String::new());
        for d in diags {
            let _ = writeln!(out, "      {d}");
        }
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

/// `AB:CD:…`, as `openssl x509 -fingerprint -sha256` prints it.
pub fn fingerprint(der: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn signature_name(cert: &X509Certificate<'_>) -> String {
    let oid = &cert.signature_algorithm.algorithm;
    oid2sn(oid, oid_registry())
        .map(str::to_owned)
        .unwrap_or_else(|_| oid.to_id_string())
}

/// `CA:TRUE, pathlen:1, keyCertSign` and the like.
fn ca_flags(cert: &X509Certificate<'_>) -> String {
    let mut parts = Vec::new();
    match cert.basic_constraints() {
        Ok(Some(bc)) => {
            parts.push(format!("CA:{}", if bc.value.ca { "TRUE" } else { "FALSE" }));
            if let Some(n) = bc.value.path_len_constraint {
                parts.push(format!("pathlen:{n}"));
            }
        }
        Ok(None) => parts.push("no basicConstraints".to_owned()),
        Err(_) => parts.push("basicConstraints unreadable".to_owned()),
    }
    match cert.key_usage() {
        Ok(Some(ku)) => parts.push(if ku.value.key_cert_sign() {
            "keyCertSign".to_owned()
        } else {
            "no keyCertSign".to_owned()
        }),
        Ok(None) => parts.push("no keyUsage (any usage)".to_owned()),
        Err(_) => parts.push("keyUsage unreadable".to_owned()),
    }
    parts.join(", ")
}
