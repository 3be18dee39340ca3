//! The rules one decoded certificate must meet to be a federation root
//! (CA, signs certificates, in date, strong digest and key), and the
//! warnings that do not reject it (expiry soon, not self-signed, another
//! trust domain, a repeat).

use time::Duration;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::public_key::PublicKey;
use x509_parser::signature_algorithm::SignatureAlgorithm;

use super::pem::der_claimed_len;
use super::{date, CertPolicy, FoundCert, Intake, RootCert, SourceRef};
use crate::diagnostics::{Code, Diagnostic};

/// Where a certificate sits in its source, as messages name it.
pub(super) struct Place<'a> {
    /// e.g. `block 2` or `inline PEM: block 2` or `key 1`.
    pub(super) label: &'a str,
    pub(super) number: usize,
    pub(super) line: Option<usize>,
}

/// Checks one decoded certificate and, if it passes, adds it to the roots.
pub(super) fn take_certificate(
    out: &mut Intake,
    der: Vec<u8>,
    place: &Place<'_>,
    src: &SourceRef<'_>,
    policy: &CertPolicy,
) {
    let here = |d: Diagnostic| src.place(d, place.line);
    let error = |code: Code, msg: String, hint: &str| src.error(code, msg, hint, place.line);
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
    // Placed in the source by `report`.
    let mut error = |code: Code, msg: String, hint: &str| errors.push(src.error(code, msg, hint, None));
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
    check_validity(cert, &what, src, policy, &mut error, report);
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
    chain_warnings(cert, is_ca, &what, src, report);
    let ok = errors.is_empty();
    for e in errors {
        report(e);
    }
    ok
}

/// MF208/MF209 when `policy.now` is outside the validity; MF210 (a warning,
/// reported at once) when the root expires within the warning window.
fn check_validity(
    cert: &X509Certificate<'_>,
    what: &str,
    src: &SourceRef<'_>,
    policy: &CertPolicy,
    error: &mut dyn FnMut(Code, String, &str),
    report: &mut dyn FnMut(Diagnostic),
) {
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
}

/// The warnings that do not reject a CA root: not self-signed (MF213), or
/// another SPIFFE trust domain than the cluster's (MF215).
fn chain_warnings(
    cert: &X509Certificate<'_>,
    is_ca: bool,
    what: &str,
    src: &SourceRef<'_>,
    report: &mut dyn FnMut(Diagnostic),
) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certs::fixture::{at, codes, fixture, messages, run, run_with};

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
}
