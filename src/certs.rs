//! Certificate intake: the bytes of a root CA source become checked root
//! certificates, or diagnostics that say what is wrong with them.
//!
//! The rules are PRODUCT §5 (certificate part). A rejected source never has
//! its content echoed (messages name blocks by number and line, never by
//! their bytes), and a source that holds a private key contributes nothing at
//! all, not even its certificates. This module reads bytes only; finding the
//! bytes (files, inline PEM, SPIFFE bundles) is `model`'s job.

use std::fmt;

use data_encoding::BASE64;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::public_key::PublicKey;
use x509_parser::signature_algorithm::SignatureAlgorithm;

use crate::diagnostics::{Code, Diagnostic};
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
    pub fn from_der(der: Vec<u8>, subject: String) -> Self {
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
    /// For inline PEM (no `file`): the spec file and the line its first
    /// line of text stands on, so a block is reported at its own line.
    pub inline_at: Option<(&'a std::path::Path, usize)>,
}

impl SourceRef<'_> {
    /// Places a diagnostic at `line` of the source: of its file, or of the
    /// spec for inline text that knows where it stands.
    fn place(&self, d: Diagnostic, line: Option<usize>) -> Diagnostic {
        match (self.file, self.inline_at) {
            (Some(f), _) => d.at(f, line),
            (None, Some((spec, first))) => match line {
                Some(l) => d.at(spec, Some(first + l - 1)),
                None => d,
            },
            (None, None) => d,
        }
    }
}

/// A certificate found in a source, whether or not it passed the checks
/// (for `meshfed inspect`). Empty for a source that holds a private key.
#[derive(Debug, Clone)]
pub struct FoundCert {
    /// 1-based number of the PEM block; 1 for a DER file.
    pub block: usize,
    /// Line of the BEGIN line; `None` for DER.
    pub line: Option<usize>,
    pub der: Vec<u8>,
}

/// What intake made of one source.
#[derive(Debug, Default)]
pub struct Intake {
    pub roots: Vec<RootCert>,
    pub diagnostics: Vec<Diagnostic>,
    pub found: Vec<FoundCert>,
}

/// One `-----BEGIN X-----` … `-----END X-----` block.
struct PemBlock<'a> {
    number: usize,
    label: &'a str,
    body: String,
    /// 1-based line of the BEGIN line.
    line: usize,
    /// `false` when no matching END line followed.
    complete: bool,
}

/// Every block of a text, complete or not, plus END lines that had no BEGIN
/// (a file whose start was cut off).
struct Scan<'a> {
    blocks: Vec<PemBlock<'a>>,
    /// Line and label of each END line without a BEGIN line.
    stray_ends: Vec<(usize, &'a str)>,
}

fn scan_pem(text: &str) -> Scan<'_> {
    let mut scan = Scan {
        blocks: Vec::new(),
        stray_ends: Vec::new(),
    };
    let mut open: Option<PemBlock<'_>> = None;
    // `lines()` drops a trailing `\r` too, so CRLF files read the same.
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(label) = line.strip_prefix("-----BEGIN ").and_then(|l| l.strip_suffix("-----")) {
            if let Some(b) = open.take() {
                scan.blocks.push(b);
            }
            open = Some(PemBlock {
                number: scan.blocks.len() + 1,
                label,
                body: String::new(),
                line: i + 1,
                complete: false,
            });
        } else if let Some(label) = line.strip_prefix("-----END ").and_then(|l| l.strip_suffix("-----")) {
            match open.take() {
                Some(mut b) => {
                    b.complete = b.label == label;
                    scan.blocks.push(b);
                }
                None => scan.stray_ends.push((i + 1, label)),
            }
        } else if let Some(b) = open.as_mut() {
            // RFC 1421 headers (Proc-Type, DEK-Info) of legacy encrypted keys
            // come before the data; anything after the data starts is data.
            let header = b.body.is_empty() && line.contains(':');
            if !header {
                b.body.push_str(line);
            }
        }
    }
    if let Some(b) = open {
        scan.blocks.push(b);
    }
    scan
}

fn is_private_key_label(label: &str) -> bool {
    label.contains("PRIVATE KEY")
}

/// A block's label as shown in a message: labels are structure, not content,
/// but an odd one is not repeated.
fn shown_label(label: &str) -> &str {
    let plain = label.len() <= 40
        && label
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b' ' || b.is_ascii_digit());
    if plain {
        label
    } else {
        "unrecognised"
    }
}

/// The total length (header + content) that a DER value starting at
/// `bytes[0]` claims, if its length field is well formed.
fn der_claimed_len(bytes: &[u8]) -> Option<usize> {
    let first = *bytes.get(1)?;
    if first < 0x80 {
        return Some(2 + usize::from(first));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 || bytes.len() < 2 + n {
        return None;
    }
    let len = bytes[2..2 + n]
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    Some(2 + n + len)
}

/// What a file that is not PEM text looks like.
enum Binary {
    /// An ASN.1 SEQUENCE that fills the file: DER. `certificate`: it parses as X.509.
    Der {
        certificate: bool,
        truncated: bool,
    },
    Other,
}

fn classify_binary(bytes: &[u8]) -> Option<Binary> {
    let text_like = std::str::from_utf8(bytes)
        .map(|t| {
            !t.chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\u{c}'))
        })
        .unwrap_or(false);
    // A DER SEQUENCE of a certificate always uses the long length form, so
    // its second byte is 0x81..=0x84; text starting with '0' (also 0x30) does not match.
    if bytes.first() == Some(&0x30) && matches!(bytes.get(1), Some(0x81..=0x84)) {
        if let Some(claimed) = der_claimed_len(bytes) {
            // Trailing whitespace after the DER is tolerated. The DER itself may
            // end in a whitespace byte (a signature is random), so compare the
            // tail, not a trimmed length.
            let tail_is_blank = bytes
                .get(claimed..)
                .is_some_and(|rest| rest.iter().all(u8::is_ascii_whitespace));
            if tail_is_blank {
                let certificate = x509_parser::parse_x509_certificate(&bytes[..claimed]).is_ok();
                return Some(Binary::Der {
                    certificate,
                    truncated: false,
                });
            }
            if claimed > bytes.len() && !text_like {
                return Some(Binary::Der {
                    certificate: false,
                    truncated: true,
                });
            }
        }
    }
    (!text_like).then_some(Binary::Other)
}

/// Whether a text is one base64 value (line breaks allowed) that decodes to
/// PEM: what `kubectl get secret -o jsonpath='{.data.ca\.crt}'` prints
/// without `| base64 -d`.
fn is_base64_of_pem(text: &str) -> bool {
    let joined: String = text.split_ascii_whitespace().collect();
    if joined.len() < 16 {
        return false;
    }
    let decoded = data_encoding::BASE64
        .decode(joined.as_bytes())
        .or_else(|_| data_encoding::BASE64_NOPAD.decode(joined.trim_end_matches('=').as_bytes()));
    decoded.is_ok_and(|d| {
        let d = d.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&d);
        let start = d.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(d.len());
        d[start..].starts_with(b"-----BEGIN ")
    })
}

/// Reads every root certificate from one source.
pub fn intake(bytes: &[u8], src: &SourceRef<'_>, policy: &CertPolicy) -> Intake {
    let mut out = Intake::default();
    let diag_at = |d: Diagnostic, line: Option<usize>| src.place(d, line);
    // With a file, the location names it; inline PEM says what it is.
    let lead = if src.file.is_some() {
        String::new()
    } else {
        format!("{}: ", src.origin)
    };
    let what = if src.file.is_some() { "the file" } else { src.origin };
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        out.diagnostics.push(diag_at(
            Diagnostic::new(Code::MF216, src.path, format!("{what} is empty"))
                .hint("export the cluster's root certificate (e.g. istio-ca-root-cert's root-cert.pem) into it"),
            None,
        ));
        return out;
    }
    match classify_binary(bytes) {
        Some(Binary::Der { certificate, truncated }) => {
            let (msg, hint) = match (certificate, truncated) {
                (true, _) => (
                    format!("{what} is a DER (binary) certificate, not PEM"),
                    "convert it: openssl x509 -inform der -in FILE -out FILE.pem",
                ),
                (false, true) => (
                    format!("{what} is DER (binary ASN.1) and cut short, not PEM"),
                    "export the root certificate again, as PEM",
                ),
                (false, false) => (
                    format!("{what} is DER (binary ASN.1) but not a certificate, not PEM"),
                    "it may be a key or a PKCS#12 bundle; export only the root certificate, as PEM",
                ),
            };
            if certificate {
                let der = bytes[..der_claimed_len(bytes).unwrap_or(bytes.len())].to_vec();
                out.found.push(FoundCert {
                    block: 1,
                    line: None,
                    der,
                });
            }
            out.diagnostics
                .push(diag_at(Diagnostic::new(Code::MF202, src.path, msg).hint(hint), None));
            return out;
        }
        Some(Binary::Other) => {
            out.diagnostics.push(diag_at(
                Diagnostic::new(Code::MF219, src.path, format!("{what} is a binary file, not PEM"))
                    .hint("point rootCA at the PEM file of the cluster's root certificate"),
                None,
            ));
            return out;
        }
        None => {}
    }
    // classify_binary returned None: the bytes are UTF-8 text. Old Mac line
    // ends (a lone CR) become LF; `lines()` handles CRLF itself.
    let text = String::from_utf8_lossy(bytes).replace("\r\n", "\n").replace('\r', "\n");
    let scan = scan_pem(&text);
    let stray_key = scan.stray_ends.iter().find(|(_, label)| is_private_key_label(label));
    if let Some((line, label)) = stray_key {
        // The BEGIN line is cut off, but what remains is still key material.
        out.diagnostics.push(diag_at(
            Diagnostic::new(
                Code::MF203,
                src.path,
                format!(
                    "{lead}the rest of a private key ({}) ends here; nothing from this source is used",
                    shown_label(label)
                ),
            )
            .hint(
                "never export the CA key: keep only the root's CERTIFICATE blocks, and rotate the key if it was shared",
            ),
            Some(*line),
        ));
        return out;
    }
    if scan.blocks.is_empty() {
        let (code, msg, hint) = match scan.stray_ends.first() {
            Some(_) => (
                Code::MF218,
                format!("{lead}an END line has no BEGIN line: the start of the file is cut off"),
                "the file is truncated; export it again",
            ),
            None if is_base64_of_pem(&text) => (
                Code::MF216,
                format!("{what} holds no PEM block: it is PEM encoded in base64 once more"),
                "decode it once: a Secret's data values are base64, so `kubectl get secret ... -o jsonpath=...` needs `| base64 -d`",
            ),
            None => (
                Code::MF216,
                format!("{what} holds no PEM block"),
                "it should contain -----BEGIN CERTIFICATE----- blocks",
            ),
        };
        let line = scan.stray_ends.first().map(|(line, _)| *line);
        out.diagnostics
            .push(diag_at(Diagnostic::new(code, src.path, msg).hint(hint), line));
        return out;
    }
    // A key anywhere poisons the whole source: nothing from it is used.
    let keys: Vec<&PemBlock<'_>> = scan.blocks.iter().filter(|b| is_private_key_label(b.label)).collect();
    if !keys.is_empty() {
        for b in keys {
            out.diagnostics.push(diag_at(
                Diagnostic::new(
                    Code::MF203,
                    src.path,
                    format!(
                        "{lead}block {} is a private key ({}); nothing from this source is used",
                        b.number,
                        shown_label(b.label)
                    ),
                )
                .hint("never export the CA key: keep only the root's CERTIFICATE blocks, and rotate the key if it was shared"),
                Some(b.line),
            ));
        }
        return out;
    }
    for (line, _) in &scan.stray_ends {
        out.diagnostics.push(diag_at(
            Diagnostic::new(Code::MF218, src.path, format!("{lead}this END line has no BEGIN line"))
                .hint("part of the file is missing; export it again"),
            Some(*line),
        ));
    }
    for block in &scan.blocks {
        let n = block.number;
        let here = |d: Diagnostic| diag_at(d, Some(block.line));
        let error = |code: Code, msg: String, hint: &str| here(Diagnostic::new(code, src.path, msg).hint(hint));
        if !block.complete {
            out.diagnostics.push(error(
                Code::MF218,
                format!(
                    "{lead}block {n} ({}) has no matching END line",
                    shown_label(block.label)
                ),
                "the file is truncated; export it again",
            ));
            continue;
        }
        if block.label != "CERTIFICATE" {
            out.diagnostics.push(error(
                Code::MF204,
                format!("{lead}block {n} is a {}, not a CERTIFICATE", shown_label(block.label)),
                "keep only the root's CERTIFICATE block(s)",
            ));
            continue;
        }
        if block.body.is_empty() {
            out.diagnostics.push(error(
                Code::MF218,
                format!("{lead}block {n} is empty"),
                "the file is truncated; export it again",
            ));
            continue;
        }
        let Ok(der) = BASE64.decode(block.body.as_bytes()) else {
            out.diagnostics.push(error(
                Code::MF217,
                format!("{lead}block {n} is not valid base64"),
                "the PEM was damaged (edited or cut); export it again",
            ));
            continue;
        };
        let label = format!("{lead}block {n}");
        let place = Place {
            label: &label,
            number: n,
            line: Some(block.line),
        };
        take_certificate(&mut out, der, &place, src, policy);
    }
    out
}

/// Where a certificate sits in its source, as messages name it.
struct Place<'a> {
    /// e.g. `block 2` or `inline PEM: block 2` or `key 1`.
    label: &'a str,
    number: usize,
    line: Option<usize>,
}

/// Checks one decoded certificate and, if it passes, adds it to the roots.
fn take_certificate(out: &mut Intake, der: Vec<u8>, place: &Place<'_>, src: &SourceRef<'_>, policy: &CertPolicy) {
    let here = |d: Diagnostic| src.place(d, place.line);
    let error = |code: Code, msg: String, hint: &str| here(Diagnostic::new(code, src.path, msg).hint(hint));
    if der.first() == Some(&0x30) && der_claimed_len(&der).is_some_and(|claimed| claimed > der.len()) {
        out.diagnostics.push(error(
            Code::MF218,
            format!("{} is cut short: its certificate data ends early", place.label),
            "data is missing; export it again",
        ));
        return;
    }
    let cert = match x509_parser::parse_x509_certificate(&der) {
        Ok((&[], cert)) => cert,
        Ok(_) => {
            out.diagnostics.push(error(
                Code::MF205,
                format!("{} has data after its certificate", place.label),
                "export the root certificate again",
            ));
            return;
        }
        Err(_) => {
            out.diagnostics.push(error(
                Code::MF205,
                format!("{} is not a valid X.509 certificate", place.label),
                "export the root certificate again",
            ));
            return;
        }
    };
    out.found.push(FoundCert {
        block: place.number,
        line: place.line,
        der: der.clone(),
    });
    let ok = check_root(&cert, place.label, src, policy, &mut |d| out.diagnostics.push(here(d)));
    if !ok {
        return;
    }
    let root = RootCert::from_der(der.clone(), cert.subject().to_string());
    if out.roots.iter().any(|r| r.sha256 == root.sha256) {
        out.diagnostics.push(here(
            Diagnostic::new(
                Code::MF214,
                src.path,
                format!("{} repeats an earlier certificate ({})", place.label, root.subject),
            )
            .hint("duplicates are merged; remove the copy to silence this"),
        ));
    } else {
        out.roots.push(root);
    }
}

/// Reads the X.509 roots of a SPIFFE trust bundle: a JWK Set whose keys with
/// `use: x509-svid` carry the root in `x5c` (one base64 DER certificate), as
/// SPIRE publishes it. `jwt-svid` keys are skipped; a key with private
/// parameters (`d`, `p`, `q`…) poisons the bundle like a PEM private key.
pub fn intake_spiffe_bundle(bytes: &[u8], src: &SourceRef<'_>, policy: &CertPolicy) -> Intake {
    let mut out = Intake::default();
    let diag = |code: Code, msg: String, hint: &str| {
        let d = Diagnostic::new(code, src.path, msg).hint(hint);
        match src.file {
            Some(f) => d.at(f, None),
            None => d,
        }
    };
    let bundle: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            // serde_json's message names a line and column, never content.
            out.diagnostics.push(diag(
                Code::MF501,
                format!(
                    "the SPIFFE bundle is not JSON (line {}, column {})",
                    e.line(),
                    e.column()
                ),
                "export it again, e.g. spire-server bundle show -format spiffe",
            ));
            return out;
        }
    };
    let Some(keys) = bundle.get("keys").and_then(|k| k.as_array()) else {
        out.diagnostics.push(diag(
            Code::MF501,
            "the SPIFFE bundle has no `keys` list (it is not a JWK Set)".into(),
            "export it again, e.g. spire-server bundle show -format spiffe",
        ));
        return out;
    };
    const PRIVATE_PARAMS: [&str; 6] = ["d", "p", "q", "dp", "dq", "qi"];
    let secret: Vec<usize> = keys
        .iter()
        .enumerate()
        .filter(|(_, k)| PRIVATE_PARAMS.iter().any(|p| k.get(p).is_some()))
        .map(|(i, _)| i + 1)
        .collect();
    if !secret.is_empty() {
        for n in secret {
            out.diagnostics.push(diag(
                Code::MF203,
                format!("key {n} of the SPIFFE bundle holds private key parameters; nothing from this source is used"),
                "publish only public keys in a trust bundle, and rotate the key if it was shared",
            ));
        }
        return out;
    }
    let mut x509_keys = 0;
    for (i, key) in keys.iter().enumerate() {
        let n = i + 1;
        if key.get("use").and_then(|u| u.as_str()) != Some("x509-svid") {
            continue;
        }
        x509_keys += 1;
        let label = format!("key {n}");
        let certs: Vec<&str> = key
            .get("x5c")
            .and_then(|c| c.as_array())
            .map(|c| c.iter().filter_map(|s| s.as_str()).collect())
            .unwrap_or_default();
        let [cert] = certs.as_slice() else {
            out.diagnostics.push(diag(
                Code::MF502,
                format!(
                    "{label} (x509-svid) has {} x5c certificates; SPIFFE requires exactly one",
                    certs.len()
                ),
                "export the bundle again from the SPIFFE server",
            ));
            continue;
        };
        match BASE64.decode(cert.as_bytes()) {
            Ok(der) => {
                let place = Place {
                    label: &label,
                    number: n,
                    line: None,
                };
                take_certificate(&mut out, der, &place, src, policy);
            }
            Err(_) => out.diagnostics.push(diag(
                Code::MF217,
                format!("{label}: its x5c certificate is not valid base64"),
                "export the bundle again from the SPIFFE server",
            )),
        }
    }
    if x509_keys == 0 {
        out.diagnostics.push(diag(
            Code::MF502,
            "the SPIFFE bundle has no x509-svid key: it holds no X.509 root".into(),
            "export the bundle of the cluster's X.509 CA (keys with use: x509-svid)",
        ));
    }
    out
}

/// Signature algorithms whose digest is SHA-1 or weaker (MD5, MD2).
const WEAK_SIGNATURES: [(&str, &str); 6] = [
    ("1.2.840.113549.1.1.5", "SHA-1"),
    ("1.3.14.3.2.29", "SHA-1"),
    ("1.2.840.10040.4.3", "SHA-1"),
    ("1.2.840.10045.4.1", "SHA-1"),
    ("1.2.840.113549.1.1.4", "MD5"),
    ("1.2.840.113549.1.1.2", "MD2"),
];
const SHA1_DIGEST: &str = "1.3.14.3.2.26";
const RSASSA_PSS: &str = "1.2.840.113549.1.1.10";

/// The weak digest a signature algorithm uses, if it uses one.
pub fn weak_digest(cert: &X509Certificate<'_>) -> Option<&'static str> {
    let oid = cert.signature_algorithm.algorithm.to_id_string();
    if let Some((_, name)) = WEAK_SIGNATURES.iter().find(|(o, _)| *o == oid) {
        return Some(name);
    }
    // RSASSA-PSS names its digest in parameters; absent, it defaults to SHA-1.
    // (Only PSS is handed to try_from: in debug builds x509-parser prints
    // every algorithm it does not know to stderr.)
    if oid != RSASSA_PSS {
        return None;
    }
    match SignatureAlgorithm::try_from(&cert.signature_algorithm) {
        Ok(SignatureAlgorithm::RSASSA_PSS(params)) if params.hash_algorithm_oid().to_id_string() == SHA1_DIGEST => {
            Some("SHA-1")
        }
        _ => None,
    }
}

/// Bits of an RSA modulus (x509-parser's `key_size` is byte-granular and
/// returns 0 for a modulus without a leading zero byte).
pub fn rsa_bits(modulus: &[u8]) -> usize {
    let m: &[u8] = {
        let skip = modulus.iter().take_while(|b| **b == 0).count();
        &modulus[skip..]
    };
    match m.first() {
        Some(first) => (m.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
        None => 0,
    }
}

/// Key type and size, e.g. ("EC", 256) or ("RSA", 2048).
pub fn key_description(cert: &X509Certificate<'_>) -> (String, usize) {
    match cert.public_key().parsed() {
        Ok(PublicKey::RSA(rsa)) => ("RSA".into(), rsa_bits(rsa.modulus)),
        Ok(k @ PublicKey::EC(_)) => ("EC".into(), k.key_size()),
        Ok(k @ PublicKey::DSA(_)) => ("DSA".into(), k.key_size()),
        Ok(PublicKey::Unknown(_)) if cert.public_key().algorithm.algorithm.to_id_string() == "1.3.101.112" => {
            ("Ed25519".into(), 256)
        }
        _ => (cert.public_key().algorithm.algorithm.to_id_string(), 0),
    }
}

/// Checks one certificate against the rules for a federation root. Returns
/// whether it may be used (no errors).
fn check_root(
    cert: &X509Certificate<'_>,
    block: &str,
    src: &SourceRef<'_>,
    policy: &CertPolicy,
    report: &mut dyn FnMut(Diagnostic),
) -> bool {
    let what = format!("{block} ({})", subject_text(cert));
    let mut errors: Vec<Diagnostic> = Vec::new();
    let mut error = |code, msg: String, hint: &str| errors.push(Diagnostic::new(code, src.path, msg).hint(hint));
    let is_ca = matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
    if !is_ca {
        error(
            Code::MF206,
            format!("{what} is not a CA certificate (basicConstraints CA:TRUE missing)"),
            "export the mesh's root CA (root-cert.pem), not a workload or gateway certificate",
        );
    }
    // Without a keyUsage extension every usage is allowed (RFC 5280 4.2.1.3),
    // and that is how Envoy and OpenSSL verify; Istio's own sample root has none.
    let signs_certs = match cert.key_usage() {
        Ok(Some(ku)) => ku.value.key_cert_sign(),
        Ok(None) => true,
        Err(_) => false,
    };
    if is_ca && !signs_certs {
        error(
            Code::MF207,
            format!("{what} may not sign certificates (keyUsage lacks keyCertSign)"),
            "export the root that actually signs the mesh's certificates",
        );
    }
    let not_before = cert.validity().not_before.to_datetime();
    let not_after = cert.validity().not_after.to_datetime();
    if policy.now > not_after {
        error(
            Code::MF208,
            format!("{what} expired on {}", date(not_after)),
            "rotate the cluster's root CA and export the new root",
        );
    } else if policy.now < not_before {
        error(
            Code::MF209,
            format!("{what} is not valid before {}", date(not_before)),
            "check the clock of the machine that made it, or wait",
        );
    } else if not_after - policy.now <= Duration::days(policy.warn_expiry_days) {
        let days_left = (not_after - policy.now).whole_days();
        report(
            Diagnostic::new(
                Code::MF210,
                src.path,
                format!("{what} expires on {} ({days_left} days left)", date(not_after)),
            )
            .hint("start a root rotation: add the new root beside this one"),
        );
    }
    if let Some(digest) = weak_digest(cert) {
        error(
            Code::MF211,
            format!("{what} is signed with {digest}"),
            "issue a new root signed with SHA-256 or better",
        );
    }
    if let Ok(PublicKey::RSA(rsa)) = cert.public_key().parsed() {
        let bits = rsa_bits(rsa.modulus);
        if bits < 2048 {
            error(
                Code::MF212,
                format!("{what} has a {bits}-bit RSA key"),
                "issue a new root with RSA 2048+ or ECDSA P-256+",
            );
        }
    }
    // A leaf is not self-signed either; MF206 already says what is wrong.
    if is_ca && cert.subject().as_raw() != cert.issuer().as_raw() {
        report(Diagnostic::new(Code::MF213, src.path, format!("{what} is not self-signed (issued by {})", cert.issuer()))
            .hint("peers should trust the top of the chain; export the root that issued it unless trusting the intermediate is intended"));
    }
    if let (true, Some(td), Some(found)) = (is_ca, src.trust_domain, spiffe_trust_domain(cert)) {
        if !found.eq_ignore_ascii_case(td) {
            report(Diagnostic::new(Code::MF215, src.path, format!("{what} names SPIFFE trust domain {found}, but the cluster's trustDomain is {td}"))
                .hint("set the cluster's trustDomain to the one its CA issues, or check that this is the right cluster's root"));
        }
    }
    let ok = errors.is_empty();
    for e in errors {
        report(e);
    }
    ok
}

/// The subject as messages show it; an empty one is said to be empty.
pub fn subject_text(cert: &X509Certificate<'_>) -> String {
    let subject = cert.subject().to_string();
    if subject.is_empty() {
        "empty subject".to_owned()
    } else {
        subject
    }
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

#[cfg(test)]
#[path = "../tests/integration/support/pki.rs"]
mod pki;

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::OnceLock;

    use super::pki::{base64_lines, CertSpec, Issued, Key, Pki};
    use super::*;

    /// Every kind of certificate the tests need, made once.
    struct Fixture {
        pki: Pki,
        root: Issued,
        root_no_key_usage: Issued,
        rsa2048: Issued,
        rsa1024: Issued,
        sha1: Issued,
        pss_sha1: Issued,
        pss_sha256: Issued,
        leaf: Issued,
        no_cert_sign: Issued,
        expired: Issued,
        future: Issued,
        intermediate: Issued,
        spiffe_elsewhere: Issued,
        spiffe_cluster_a: Issued,
    }

    fn fixture() -> &'static Fixture {
        static F: OnceLock<Fixture> = OnceLock::new();
        F.get_or_init(|| {
            let mut pki = Pki::new();
            let root = pki.issue(&CertSpec::root("unit root"), None);
            let with = |f: &dyn Fn(&mut CertSpec)| {
                let mut s = CertSpec::root("unit variant");
                f(&mut s);
                s
            };
            let root_no_key_usage = pki.issue(&with(&|s| s.extensions = "root_no_key_usage"), None);
            let rsa2048 = pki.issue(&with(&|s| s.key = Key::Rsa(2048)), None);
            let rsa1024 = pki.issue(&with(&|s| s.key = Key::Rsa(1024)), None);
            let sha1 = pki.issue(
                &with(&|s| {
                    s.key = Key::Rsa(2048);
                    s.digest = "sha1";
                }),
                None,
            );
            let pss = |digest: &'static str| {
                with(&move |s: &mut CertSpec| {
                    s.key = Key::Rsa(2048);
                    s.digest = digest;
                    s.pss = true;
                })
            };
            let pss_sha1 = pki.issue(&pss("sha1"), None);
            let pss_sha256 = pki.issue(&pss("sha256"), None);
            let leaf = pki.issue(&with(&|s| s.extensions = "leaf"), Some(&root));
            let no_cert_sign = pki.issue(&with(&|s| s.extensions = "no_cert_sign"), None);
            let expired = pki.issue(
                &with(&|s| {
                    s.start = "20000101000000Z".into();
                    s.end = Some("20010101000000Z".into());
                }),
                None,
            );
            let future = pki.issue(
                &with(&|s| {
                    s.start = "20900101000000Z".into();
                }),
                None,
            );
            let intermediate = pki.issue(&CertSpec::root("unit intermediate"), Some(&root));
            let spiffe_elsewhere = pki.issue(&with(&|s| s.extensions = "root_spiffe_elsewhere"), None);
            let spiffe_cluster_a = pki.issue(&with(&|s| s.extensions = "root_spiffe_cluster_a"), None);
            Fixture {
                pki,
                root,
                root_no_key_usage,
                rsa2048,
                rsa1024,
                sha1,
                pss_sha1,
                pss_sha256,
                leaf,
                no_cert_sign,
                expired,
                future,
                intermediate,
                spiffe_elsewhere,
                spiffe_cluster_a,
            }
        })
    }

    fn at(y: i32, mo: u8, d: u8, h: u8, mi: u8, s: u8) -> OffsetDateTime {
        let month = time::Month::try_from(mo).expect("month");
        time::Date::from_calendar_date(y, month, d)
            .and_then(|date| date.with_hms(h, mi, s))
            .expect("date")
            .assume_utc()
    }

    fn policy() -> CertPolicy {
        CertPolicy {
            now: at(2026, 6, 1, 12, 0, 0),
            warn_expiry_days: 30,
        }
    }

    fn run(bytes: &[u8]) -> Intake {
        run_with(bytes, &policy())
    }

    fn run_with(bytes: &[u8], policy: &CertPolicy) -> Intake {
        let src = SourceRef {
            path: "spec.clusters[0].rootCA.files[0]",
            origin: "certs/a.pem",
            file: Some(Path::new("certs/a.pem")),
            trust_domain: Some("cluster-a.local"),
            inline_at: None,
        };
        intake(bytes, &src, policy)
    }

    fn codes(i: &Intake) -> Vec<Code> {
        i.diagnostics.iter().map(|d| d.code).collect()
    }

    fn messages(i: &Intake) -> String {
        i.diagnostics.iter().map(|d| d.to_string() + "\n").collect()
    }

    #[test]
    fn a_good_root_is_taken_in_canonical_form() {
        let f = fixture();
        let got = run(f.root.cert_pem.as_bytes());
        assert!(got.diagnostics.is_empty(), "{}", messages(&got));
        assert_eq!(got.roots.len(), 1);
        assert_eq!(got.roots[0].pem, f.root.cert_pem, "openssl writes canonical PEM too");
        assert_eq!(got.roots[0].sha256, hex(&Sha256::digest(f.pki.der(&f.root))));
    }

    #[test]
    fn crlf_text_around_blocks_and_a_bom_are_accepted() {
        let f = fixture();
        let crlf = f.root.cert_pem.replace('\n', "\r\n");
        let text = f.pki.text(&f.root);
        assert!(text.starts_with("Certificate:"));
        let bom = format!("\u{feff}{}", f.root.cert_pem);
        let cr = f.root.cert_pem.replace('\n', "\r");
        for input in [crlf.as_str(), text.as_str(), bom.as_str(), cr.as_str()] {
            let got = run(input.as_bytes());
            assert!(got.diagnostics.is_empty(), "{}", messages(&got));
            assert_eq!(got.roots[0].pem, f.root.cert_pem);
        }
    }

    #[test]
    fn a_private_key_poisons_the_source_and_is_never_echoed() {
        let f = fixture();
        let forms = [
            f.root.key_pem.clone(),
            f.pki.key_as(&f.rsa2048, "traditional"),
            f.pki.key_as(&f.root, "traditional"),
            f.pki.key_as(&f.root, "encrypted"),
        ];
        for key in &forms {
            let input = format!("{}{key}", f.root.cert_pem);
            let got = run(input.as_bytes());
            assert_eq!(codes(&got), [Code::MF203], "{}", messages(&got));
            assert!(got.roots.is_empty() && got.found.is_empty());
            let text = messages(&got);
            assert!(text.contains("block 2") && text.contains("certs/a.pem:"), "{text}");
            for line in base64_lines(key) {
                assert!(!text.contains(&line), "key material echoed: {text}");
            }
        }
        // A truncated key is still a key, whichever end is missing.
        let cut: String = f.root.key_pem.lines().take(2).map(|l| format!("{l}\n")).collect();
        assert_eq!(codes(&run(cut.as_bytes())), [Code::MF203]);
        let headless: String = f.root.key_pem.lines().skip(1).map(|l| format!("{l}\n")).collect();
        let got = run(format!("{}{headless}", f.root.cert_pem).as_bytes());
        assert_eq!(codes(&got), [Code::MF203]);
        assert!(got.roots.is_empty());
    }

    #[test]
    fn der_is_named_and_text_starting_with_zero_is_not_der() {
        let f = fixture();
        let der = f.pki.der(&f.root);
        let got = run(&der);
        assert_eq!(codes(&got), [Code::MF202]);
        assert!(messages(&got).contains("DER (binary) certificate"));
        assert_eq!(got.found.len(), 1, "inspect can still describe it");
        assert!(got.roots.is_empty());
        let mut with_newline = der.clone();
        with_newline.push(b'\n');
        assert_eq!(codes(&run(&with_newline)), [Code::MF202]);
        assert_eq!(codes(&run(&der[..der.len() / 2])), [Code::MF202]);
        assert!(messages(&run(&der[..der.len() / 2])).contains("cut short"));
        // 0x30 is also the digit '0': such text is not DER.
        assert_eq!(codes(&run(b"0000 no certificate here\n")), [Code::MF216]);
        // DER whose last byte is itself whitespace (0x20), then a newline.
        let seq = [0x30, 0x81, 0x03, 0x01, 0x02, 0x20, b'\n'];
        let got = run(&seq);
        assert_eq!(codes(&got), [Code::MF202], "{}", messages(&got));
        assert!(messages(&got).contains("not a certificate"));
    }

    #[test]
    fn empty_binary_and_plain_text_each_have_their_own_code() {
        assert_eq!(codes(&run(b"")), [Code::MF216]);
        assert_eq!(codes(&run(b" \n\r\n")), [Code::MF216]);
        assert_eq!(codes(&run(b"just some notes\n")), [Code::MF216]);
        assert_eq!(codes(&run(&[0u8; 64])), [Code::MF219]);
        assert_eq!(codes(&run(&[0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe])), [Code::MF219]);
    }

    #[test]
    fn truncated_and_corrupt_blocks_are_told_apart() {
        let f = fixture();
        let pem = &f.root.cert_pem;
        let lines: Vec<&str> = pem.lines().collect();
        let no_end: String = lines[..lines.len() - 1].iter().map(|l| format!("{l}\n")).collect();
        assert_eq!(codes(&run(no_end.as_bytes())), [Code::MF218]);
        let no_begin: String = lines[1..].iter().map(|l| format!("{l}\n")).collect();
        assert_eq!(codes(&run(no_begin.as_bytes())), [Code::MF218]);
        // Whole base64 lines missing: the base64 is fine, the DER is short.
        let mut cut = lines.clone();
        cut.remove(2);
        let cut: String = cut.iter().map(|l| format!("{l}\n")).collect();
        assert_eq!(
            codes(&run(cut.as_bytes())),
            [Code::MF218],
            "{}",
            messages(&run(cut.as_bytes()))
        );
        let empty = "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n";
        assert_eq!(codes(&run(empty.as_bytes())), [Code::MF218]);
        let corrupt = pem.replacen("MI", "M!", 1);
        assert_eq!(codes(&run(corrupt.as_bytes())), [Code::MF217]);
        let not_x509 = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            BASE64.encode(b"hello, this is not a certificate")
        );
        assert_eq!(codes(&run(not_x509.as_bytes())), [Code::MF205]);
        // Problems in one block do not hide the others.
        let both = format!("{corrupt}{not_x509}{pem}");
        let got = run(both.as_bytes());
        assert_eq!(codes(&got), [Code::MF217, Code::MF205]);
        assert_eq!(got.roots.len(), 1);
    }

    #[test]
    fn only_certificate_blocks_are_accepted() {
        let f = fixture();
        let got = run(f.pki.request(&f.root).as_bytes());
        assert_eq!(codes(&got), [Code::MF204]);
        assert!(messages(&got).contains("CERTIFICATE REQUEST"));
        assert_eq!(codes(&run(f.pki.key_as(&f.root, "public").as_bytes())), [Code::MF204]);
    }

    #[test]
    fn ca_flags_are_required() {
        let f = fixture();
        assert_eq!(codes(&run(f.leaf.cert_pem.as_bytes())), [Code::MF206]);
        assert_eq!(codes(&run(f.no_cert_sign.cert_pem.as_bytes())), [Code::MF207]);
        let got = run(f.root_no_key_usage.cert_pem.as_bytes());
        assert!(got.diagnostics.is_empty(), "no keyUsage means every usage");
        assert_eq!(got.roots.len(), 1);
    }

    #[test]
    fn validity_is_checked_against_now() {
        let f = fixture();
        let got = run(f.expired.cert_pem.as_bytes());
        assert_eq!(codes(&got), [Code::MF208]);
        assert!(messages(&got).contains("expired on 2001-01-01"));
        assert!(got.roots.is_empty());
        let got = run(f.future.cert_pem.as_bytes());
        assert_eq!(codes(&got), [Code::MF209]);
        assert!(messages(&got).contains("not valid before 2090-01-01"));
    }

    #[test]
    fn expiry_within_the_window_is_a_warning_with_days_left() {
        let f = fixture();
        let pem = f.root.cert_pem.as_bytes();
        let soon = CertPolicy {
            now: at(2099, 12, 11, 23, 59, 59),
            warn_expiry_days: 30,
        };
        let got = run_with(pem, &soon);
        assert_eq!(codes(&got), [Code::MF210]);
        assert!(
            messages(&got).contains("expires on 2099-12-31 (20 days left)"),
            "{}",
            messages(&got)
        );
        assert_eq!(got.roots.len(), 1, "a warning does not reject the root");
        let edge = CertPolicy {
            now: at(2099, 12, 1, 23, 59, 59),
            ..soon
        };
        assert_eq!(
            codes(&run_with(pem, &edge)),
            [Code::MF210],
            "exactly 30 days is within 30 days"
        );
        let narrow = CertPolicy {
            warn_expiry_days: 10,
            ..soon
        };
        assert!(run_with(pem, &narrow).diagnostics.is_empty());
    }

    #[test]
    fn weak_signatures_and_keys_are_errors() {
        let f = fixture();
        let got = run(f.sha1.cert_pem.as_bytes());
        assert_eq!(codes(&got), [Code::MF211]);
        assert_eq!(
            codes(&run(f.pss_sha1.cert_pem.as_bytes())),
            [Code::MF211],
            "PSS over SHA-1"
        );
        assert!(run(f.pss_sha256.cert_pem.as_bytes()).diagnostics.is_empty());
        let got = run(f.rsa1024.cert_pem.as_bytes());
        assert_eq!(codes(&got), [Code::MF212]);
        assert!(messages(&got).contains("1024-bit RSA key"));
        assert!(run(f.rsa2048.cert_pem.as_bytes()).diagnostics.is_empty());
    }

    #[test]
    fn rsa_bits_count_bits_not_bytes() {
        assert_eq!(rsa_bits(&[0x00, 0x80, 0, 0]), 24);
        assert_eq!(rsa_bits(&[0xff, 0, 0]), 24, "no leading zero byte");
        assert_eq!(rsa_bits(&[0x00, 0x7f, 0]), 15);
        assert_eq!(rsa_bits(&[]), 0);
    }

    #[test]
    fn intermediates_duplicates_and_spiffe_mismatches_are_warnings() {
        let f = fixture();
        let got = run(f.intermediate.cert_pem.as_bytes());
        assert_eq!(codes(&got), [Code::MF213]);
        assert_eq!(got.roots.len(), 1);
        let twice = format!("{}{}", f.root.cert_pem, f.root.cert_pem);
        let got = run(twice.as_bytes());
        assert_eq!(codes(&got), [Code::MF214]);
        assert_eq!(got.roots.len(), 1);
        let got = run(f.spiffe_elsewhere.cert_pem.as_bytes());
        assert_eq!(codes(&got), [Code::MF215]);
        assert!(messages(&got).contains("elsewhere.local"));
        assert!(run(f.spiffe_cluster_a.cert_pem.as_bytes()).diagnostics.is_empty());
    }

    #[test]
    fn rotation_keeps_both_roots() {
        let f = fixture();
        let both = format!("{}{}", f.root.cert_pem, f.rsa2048.cert_pem);
        let got = run(both.as_bytes());
        assert!(got.diagnostics.is_empty());
        assert_eq!(got.roots.len(), 2);
    }

    #[test]
    fn inline_pem_names_itself_in_the_message() {
        let f = fixture();
        let src = SourceRef {
            path: "spec.clusters[0].rootCA.pem",
            origin: "inline PEM",
            file: None,
            trust_domain: None,
            inline_at: None,
        };
        let got = intake(f.leaf.cert_pem.as_bytes(), &src, &policy());
        assert!(messages(&got).contains("inline PEM: block 1"), "{}", messages(&got));
    }

    #[test]
    fn istio_sample_roots_are_accepted() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/istio/samples-certs");
        let bytes = std::fs::read(dir.join("root-cert-combined.pem")).expect("Istio's sample roots in testdata/istio");
        let got = run(&bytes);
        assert_eq!(got.roots.len(), 2, "{}", messages(&got));
        assert!(got.diagnostics.iter().all(|d| !d.is_error()), "{}", messages(&got));
    }

    fn bundle(keys: &str) -> String {
        format!(r#"{{"keys": [{keys}], "spiffe_sequence": 3}}"#)
    }

    fn x509_key(pems: &[&str]) -> String {
        let x5c: Vec<String> = pems
            .iter()
            .map(|p| {
                let body: String = p.lines().filter(|l| !l.starts_with("-----")).collect();
                format!("\"{body}\"")
            })
            .collect();
        format!(r#"{{"use": "x509-svid", "kty": "EC", "x5c": [{}]}}"#, x5c.join(","))
    }

    fn run_bundle(json: &str) -> Intake {
        let src = SourceRef {
            path: "spec.clusters[0].rootCA.spiffeBundle",
            origin: "bundle.json",
            file: Some(Path::new("bundle.json")),
            trust_domain: Some("cluster-a.local"),
            inline_at: None,
        };
        intake_spiffe_bundle(json.as_bytes(), &src, &policy())
    }

    #[test]
    fn spiffe_bundles_give_their_x509_roots() {
        let f = fixture();
        let jwt = r#"{"use": "jwt-svid", "kid": "k1", "kty": "EC"}"#;
        let both = [
            x509_key(&[&f.root.cert_pem]),
            jwt.to_owned(),
            x509_key(&[&f.rsa2048.cert_pem]),
        ]
        .join(",");
        let got = run_bundle(&bundle(&both));
        assert!(got.diagnostics.is_empty(), "{}", messages(&got));
        assert_eq!(got.roots.len(), 2);
        assert_eq!(got.roots.iter().filter(|r| r.pem == f.root.cert_pem).count(), 1);
        // The same rules apply to bundle roots.
        let got = run_bundle(&bundle(&x509_key(&[&f.leaf.cert_pem])));
        assert_eq!(codes(&got), [Code::MF206]);
        assert!(messages(&got).contains("key 1 ("));
    }

    #[test]
    fn broken_spiffe_bundles_are_named() {
        let f = fixture();
        assert_eq!(codes(&run_bundle("not json")), [Code::MF501]);
        assert_eq!(codes(&run_bundle(r#"{"spiffe_sequence": 1}"#)), [Code::MF501]);
        assert_eq!(codes(&run_bundle(&bundle(r#"{"use": "jwt-svid"}"#))), [Code::MF502]);
        let two = x509_key(&[&f.root.cert_pem, &f.rsa2048.cert_pem]);
        assert_eq!(codes(&run_bundle(&bundle(&two))), [Code::MF502]);
        assert_eq!(
            codes(&run_bundle(&bundle(r#"{"use": "x509-svid", "x5c": ["@@@"]}"#))),
            [Code::MF217]
        );
        let secret = r#"{"use": "x509-svid", "kty": "EC", "d": "c2VjcmV0", "x5c": []}"#;
        let got = run_bundle(&bundle(&format!("{},{secret}", x509_key(&[&f.root.cert_pem]))));
        assert_eq!(codes(&got), [Code::MF203]);
        assert!(got.roots.is_empty() && !messages(&got).contains("c2VjcmV0"));
    }
}
