//! `meshfed inspect`: the real binary on real files, checked against what
//! the `openssl` CLI says about the same certificates.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::pki::{base64_lines, CertSpec, Pki};

fn meshfed(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshfed"))
        .args(args)
        .output()
        .expect("the meshfed binary runs")
}

/// openssl's SHA-256 fingerprint and subject of the PEM certificate in `pem`.
fn openssl_view(pem: &str, dir: &Path) -> (String, String) {
    let file = dir.join("one.pem");
    std::fs::write(&file, pem).expect("write");
    let out = Command::new(crate::support::tools::essential(
        "openssl",
        "compare `inspect` with openssl",
    ))
    .args([
        "x509",
        "-noout",
        "-fingerprint",
        "-sha256",
        "-subject",
        "-nameopt",
        "oneline",
        "-in",
    ])
    .arg(&file)
    .output()
    .expect("openssl runs");
    let text = String::from_utf8(out.stdout).expect("text");
    let value = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("openssl printed no {prefix}: {text}"))
            .to_owned()
    };
    let subject = value("subject=").replace(" = ", "=").replace("emailAddress=", "Email=");
    (value("sha256 Fingerprint="), subject)
}

#[test]
fn both_roots_of_istios_combined_sample_are_shown() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/istio/samples-certs/root-cert-combined.pem");
    let pem = std::fs::read_to_string(&file).expect("Istio's sample roots in testdata/istio");
    let tmp = tempfile::tempdir().expect("temp dir");
    let blocks: Vec<String> = pem
        .split_inclusive("-----END CERTIFICATE-----\n")
        .filter(|b| b.contains("BEGIN CERTIFICATE"))
        .map(str::to_owned)
        .collect();
    assert_eq!(blocks.len(), 2);
    let views: Vec<(String, String)> = blocks.iter().map(|b| openssl_view(b, tmp.path())).collect();
    assert_ne!(views[0], views[1]);

    let out = meshfed(&["inspect", file.to_str().expect("utf-8 path")]);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(out.status.code(), Some(0), "{text}");
    for (fingerprint, subject) in &views {
        assert!(
            text.contains(&format!("sha256:      {fingerprint}\n")),
            "{fingerprint} missing:\n{text}"
        );
        assert!(
            text.contains(&format!("subject:     {subject}\n")),
            "{subject} missing:\n{text}"
        );
    }
    assert!(text.contains("certificate 1 (line 1)") && text.contains("certificate 2 (line 25)"));
    assert!(text.contains("key:         RSA 2048") && text.contains("key:         RSA 4096"));
    assert!(text.contains("CA:TRUE, keyCertSign"));
    assert_eq!(
        text.matches("diagnostics: none: usable as a federation root").count(),
        2
    );
    // Deterministic: the same input, the same text.
    let again = meshfed(&["inspect", file.to_str().expect("utf-8 path")]);
    assert_eq!(String::from_utf8_lossy(&again.stdout), text);
}

#[test]
fn problems_are_shown_and_keys_never() {
    let mut pki = Pki::new();
    let mut spec = CertSpec::root("expired one");
    spec.start = "20000101000000Z".into();
    spec.end = Some("20010101000000Z".into());
    let expired = pki.issue(&spec, None);
    let root = pki.issue(&CertSpec::root("good one"), None);
    let dir = pki.path().to_path_buf();
    std::fs::write(dir.join("expired.pem"), &expired.cert_pem).expect("write");
    std::fs::write(dir.join("with-key.pem"), format!("{}{}", root.cert_pem, root.key_pem)).expect("write");
    std::fs::write(dir.join("root.der"), pki.der(&root)).expect("write");
    std::fs::write(dir.join("bundle.json"), pki.spiffe_bundle(&root, false)).expect("write");

    let out = Command::new(env!("CARGO_BIN_EXE_meshfed"))
        .args(["inspect", "expired.pem", "with-key.pem", "root.der", "bundle.json"])
        .current_dir(&dir)
        .output()
        .expect("runs");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("2000-01-01 to 2001-01-01 (expired)"), "{text}");
    assert!(text.contains("error[MF208]"), "{text}");
    assert!(
        text.contains("error[MF203]") && text.contains("with-key.pem:12"),
        "{text}"
    );
    assert!(text.contains("error[MF202]"), "{text}");
    // DER and the bundle are still described: the same root, twice.
    let (fingerprint, _) = openssl_view(&root.cert_pem, &dir);
    assert_eq!(text.matches(&fingerprint).count(), 2, "{text}");
    for line in base64_lines(&root.key_pem) {
        assert!(!text.contains(&line), "key material printed:\n{text}");
    }
}

/// A file `inspect` cannot read has its own code (MF503): the path resolves
/// from the current folder, not from a spec, so MF201's advice would mislead.
#[test]
fn a_missing_file_is_named_with_its_own_code() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let missing = tmp.path().join("nowhere.pem");
    let out = meshfed(&["inspect", missing.to_str().expect("utf-8 path")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("error[MF503]"), "{text}");
    assert!(text.contains("(meshfed explain MF503)"), "{text}");
}
