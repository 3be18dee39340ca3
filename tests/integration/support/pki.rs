//! A throw-away certificate authority for tests, driven through the
//! `openssl` CLI so the certificates are made by the tool users make theirs
//! with, not by the code under test.
//!
//! Dates are explicit (`openssl ca -startdate/-enddate`) so that messages
//! which print them stay byte-stable in golden files; only keys (and so
//! fingerprints) differ from run to run, and goldens never show those.
//! Private keys live only in the temporary directory and are never committed.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// OpenSSL config: a CA database plus one extension section per kind of
/// certificate the tests need.
const CONFIG: &str = "\
[ ca ]
default_ca = ca_default
[ ca_default ]
dir = .
database = ./index.txt
new_certs_dir = ./issued
serial = ./serial
policy = policy_any
unique_subject = no
default_md = sha256
copy_extensions = none
[ policy_any ]
commonName = supplied
organizationName = optional
[ req ]
distinguished_name = dn
[ dn ]
[ root ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ root_no_key_usage ]
basicConstraints = critical,CA:TRUE
subjectKeyIdentifier = hash
[ root_spiffe_elsewhere ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectAltName = URI:spiffe://elsewhere.local
[ root_spiffe_cluster_a ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectAltName = URI:spiffe://cluster-a.local
[ no_cert_sign ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,digitalSignature,cRLSign
[ leaf ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
subjectAltName = URI:spiffe://cluster-a.local/ns/abc/sa/foo
[ leaf_cluster_b ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
subjectAltName = URI:spiffe://cluster-b.local/ns/xyz/sa/bar
";

/// Validity far from today in both directions: a cert valid now for decades.
pub const START: &str = "20200101000000Z";
pub const END: &str = "20991231235959Z";

#[derive(Debug, Clone, Copy)]
pub enum Key {
    Ec256,
    Rsa(u32),
}

/// What to issue.
#[derive(Debug, Clone)]
pub struct CertSpec {
    pub common_name: String,
    pub key: Key,
    /// Extension section of [`CONFIG`].
    pub extensions: &'static str,
    pub start: String,
    /// `None`: `days` from now.
    pub end: Option<String>,
    pub days: u32,
    pub digest: &'static str,
    /// Sign with RSASSA-PSS instead of PKCS#1 v1.5 (RSA keys only).
    pub pss: bool,
}

impl CertSpec {
    /// A workload certificate as istiod issues it: CA:FALSE, a SPIFFE URI SAN
    /// (`extensions` "leaf" for cluster-a.local, "leaf_cluster_b" for cluster-b.local).
    pub fn workload(common_name: &str, extensions: &'static str) -> Self {
        CertSpec {
            extensions,
            ..CertSpec::root(common_name)
        }
    }

    /// A good root: EC P-256, CA:TRUE + keyCertSign, SHA-256, valid 2020–2099.
    pub fn root(common_name: &str) -> Self {
        CertSpec {
            common_name: common_name.to_owned(),
            key: Key::Ec256,
            extensions: "root",
            start: START.into(),
            end: Some(END.into()),
            days: 0,
            digest: "sha256",
            pss: false,
        }
    }
}

/// A certificate with its key, both PEM.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

pub struct Pki {
    dir: tempfile::TempDir,
    count: usize,
}

impl Pki {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("issued")).expect("issued dir");
        std::fs::write(dir.path().join("index.txt"), "").expect("index");
        std::fs::write(dir.path().join("serial"), "01\n").expect("serial");
        std::fs::write(dir.path().join("openssl.cnf"), CONFIG).expect("config");
        Pki { dir, count: 0 }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn openssl(&self, args: &[&str]) -> std::process::Output {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run openssl ({e}): the tests make their certificates with the openssl CLI; install it")
            });
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn new_key(&mut self, key: Key, name: &str) {
        match key {
            Key::Ec256 => self.openssl(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                name,
            ]),
            Key::Rsa(bits) => self.openssl(&[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                &format!("rsa_keygen_bits:{bits}"),
                "-out",
                name,
            ]),
        };
    }

    /// Issues a certificate: self-signed, or signed by `issuer`.
    pub fn issue(&mut self, spec: &CertSpec, issuer: Option<&Issued>) -> Issued {
        self.count += 1;
        let n = self.count;
        let key = format!("key{n}.pem");
        let csr = format!("req{n}.csr");
        let cert = format!("cert{n}.pem");
        self.new_key(spec.key, &key);
        let subject = format!("/O=meshfed tests/CN={}", spec.common_name);
        self.openssl(&[
            "req",
            "-new",
            "-config",
            "openssl.cnf",
            "-key",
            &key,
            "-subj",
            &subject,
            "-out",
            &csr,
        ]);
        let days = spec.days.to_string();
        let mut args: Vec<&str> = vec![
            "ca",
            "-batch",
            "-config",
            "openssl.cnf",
            "-notext",
            "-preserveDN",
            "-rand_serial",
            "-in",
            &csr,
            "-out",
            &cert,
            "-extensions",
            spec.extensions,
            "-md",
            spec.digest,
            "-startdate",
            &spec.start,
        ];
        if spec.pss {
            args.extend(["-sigopt", "rsa_padding_mode:pss"]);
        }
        match &spec.end {
            Some(end) => args.extend(["-enddate", end.as_str()]),
            None => args.extend(["-days", days.as_str()]),
        }
        let issuer_cert;
        let issuer_key;
        match issuer {
            Some(i) => {
                issuer_cert = i.cert_path.display().to_string();
                issuer_key = i.key_path.display().to_string();
                args.extend(["-cert", issuer_cert.as_str(), "-keyfile", issuer_key.as_str()]);
            }
            None => args.extend(["-selfsign", "-keyfile", key.as_str()]),
        }
        self.openssl(&args);
        let dir = self.dir.path();
        Issued {
            cert_pem: std::fs::read_to_string(dir.join(&cert)).expect("cert written"),
            key_pem: std::fs::read_to_string(dir.join(&key)).expect("key written"),
            cert_path: dir.join(&cert),
            key_path: dir.join(&key),
        }
    }

    /// The certificate in DER.
    pub fn der(&self, issued: &Issued) -> Vec<u8> {
        let path = issued.cert_path.display().to_string();
        self.openssl(&["x509", "-in", &path, "-outform", "DER"]).stdout
    }

    /// `openssl x509 -text` output: a description, then the PEM block.
    pub fn text(&self, issued: &Issued) -> String {
        let path = issued.cert_path.display().to_string();
        String::from_utf8(self.openssl(&["x509", "-in", &path, "-text"]).stdout).expect("text")
    }

    /// The key in another PEM form: `traditional` gives `RSA/EC PRIVATE KEY`,
    /// `encrypted` gives `ENCRYPTED PRIVATE KEY`.
    pub fn key_as(&self, issued: &Issued, form: &str) -> String {
        let path = issued.key_path.display().to_string();
        let args: Vec<&str> = match form {
            "traditional" => vec!["pkey", "-in", &path, "-traditional"],
            "encrypted" => vec![
                "pkcs8",
                "-topk8",
                "-in",
                &path,
                "-passout",
                "pass:meshfed",
                "-v2",
                "aes-256-cbc",
            ],
            "public" => vec!["pkey", "-in", &path, "-pubout"],
            other => panic!("unknown key form {other}"),
        };
        String::from_utf8(self.openssl(&args).stdout).expect("pem")
    }

    /// A certificate request for the key: a PEM block that is not a certificate.
    pub fn request(&self, issued: &Issued) -> String {
        let path = issued.key_path.display().to_string();
        let out = self.openssl(&[
            "req",
            "-new",
            "-config",
            "openssl.cnf",
            "-key",
            &path,
            "-subj",
            "/CN=request",
        ]);
        String::from_utf8(out.stdout).expect("pem")
    }
}

impl Pki {
    /// The private scalar of an EC P-256 key as a JWK `d` (base64url).
    pub fn jwk_d(&self, issued: &Issued) -> Option<String> {
        let key = issued.key_path.display().to_string();
        let der = self.openssl(&["pkey", "-in", &key, "-outform", "DER"]).stdout;
        // `pkey -outform DER` writes an EC key as SEC1 ECPrivateKey, naming the curve.
        const P256_OID: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
        der.windows(10).any(|w| w == P256_OID).then_some(())?;
        // The scalar: 32 bytes after the OCTET STRING header 04 20 of the inner ECPrivateKey.
        let at = der.windows(2).position(|w| w == [0x04, 0x20])?;
        Some(data_encoding::BASE64URL_NOPAD.encode(der.get(at + 2..at + 34)?))
    }

    /// A SPIFFE trust bundle as SPIRE publishes it: a JWK Set with the
    /// root as an `x509-svid` key (`x5c`) and a `jwt-svid` key beside it.
    /// `with_private`: the x509 key also carries its private scalar `d`.
    pub fn spiffe_bundle(&self, root: &Issued, with_private: bool) -> String {
        use data_encoding::{BASE64, BASE64URL_NOPAD};
        let cert = self.der(root);
        let key = root.key_path.display().to_string();
        let spki = self
            .openssl(&["pkey", "-in", &key, "-pubout", "-outform", "DER"])
            .stdout;
        // P-256 SPKI ends with the point 04 || x || y.
        let point = &spki[spki.len() - 64..];
        let (x, y) = (
            BASE64URL_NOPAD.encode(&point[..32]),
            BASE64URL_NOPAD.encode(&point[32..]),
        );
        let private = if with_private {
            format!(r#", "d": "{}""#, self.jwk_d(root).expect("an EC key"))
        } else {
            String::new()
        };
        format!(
            r#"{{
  "keys": [
    {{
      "use": "x509-svid",
      "kty": "EC",
      "crv": "P-256",
      "x": "{x}",
      "y": "{y}"{private},
      "x5c": ["{}"]
    }},
    {{
      "use": "jwt-svid",
      "kid": "jwt-key-1",
      "kty": "EC",
      "crv": "P-256",
      "x": "{x}",
      "y": "{y}"
    }}
  ],
  "spiffe_sequence": 1,
  "spiffe_refresh_hint": 300
}}
"#,
            BASE64.encode(&cert)
        )
    }
}

/// The base64 lines of a PEM text (what must never be echoed).
pub fn base64_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----") && !l.contains(':'))
        .map(str::to_owned)
        .collect()
}
