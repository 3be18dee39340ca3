//! `rootCA.spiffeBundle`: the X.509 roots of a SPIFFE trust bundle.

use data_encoding::BASE64;

use super::policy::{take_certificate, Place};
use super::{CertPolicy, Intake, SourceRef};
use crate::diagnostics::Code;

/// Reads the X.509 roots of a SPIFFE trust bundle: a JWK Set whose keys with
/// `use: x509-svid` carry the root in `x5c` (one base64 DER certificate), as
/// SPIRE publishes it. `jwt-svid` keys are skipped; a key with private
/// parameters (`d`, `p`, `q`…) poisons the bundle like a PEM private key.
pub fn intake_spiffe_bundle(bytes: &[u8], src: &SourceRef<'_>, policy: &CertPolicy) -> Intake {
    let mut out = Intake::default();
    let diag = |code: Code, msg: String, hint: &str| src.error(code, msg, hint, None);
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
        if key.get("use").and_then(|u| u.as_str()) != Some("x509-svid") {
            continue;
        }
        x509_keys += 1;
        read_x509_key(&mut out, key, i + 1, src, policy);
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

/// Key `n` of a bundle, an `x509-svid` one: its one `x5c` certificate goes
/// on to `take_certificate`.
fn read_x509_key(out: &mut Intake, key: &serde_json::Value, n: usize, src: &SourceRef<'_>, policy: &CertPolicy) {
    let diag = |code: Code, msg: String, hint: &str| src.error(code, msg, hint, None);
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
        return;
    };
    match BASE64.decode(cert.as_bytes()) {
        Ok(der) => {
            let place = Place {
                label: &label,
                number: n,
                line: None,
            };
            take_certificate(out, der, &place, src, policy);
        }
        Err(_) => out.diagnostics.push(diag(
            Code::MF217,
            format!("{label}: its x5c certificate is not valid base64"),
            "export the bundle again from the SPIFFE server",
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::certs::fixture::{codes, fixture, messages, policy};

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
