//! Certificate intake: the bytes of a root CA source become checked root
//! certificates, or diagnostics that say what is wrong with them.
//!
//! The rules are PRODUCT §5 (certificate part). A rejected source never has
//! its content echoed (messages name blocks by number and line, never by
//! their bytes), and a source that holds a private key contributes nothing at
//! all, not even its certificates. This module reads bytes only; finding the
//! bytes (files, inline PEM, SPIFFE bundles, KRM objects) is `intake`'s job.
//!
//! - `pem`: a PEM (or DER) source, block by block ([`intake`]);
//! - `spiffe`: a SPIFFE trust bundle's X.509 roots ([`intake_spiffe_bundle`]);
//! - `policy`: the rules one decoded certificate must meet to be a root.

use std::fmt;

use data_encoding::BASE64;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::diagnostics::{Code, Diagnostic};
use crate::naming::hex;

mod pem;
mod policy;
mod spiffe;

pub use pem::intake;
pub use policy::{key_description, spiffe_trust_domain, subject_text};
pub use spiffe::intake_spiffe_bundle;

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

    /// An error about this source's bytes, placed at `line` of it: how
    /// every problem found in a source is built.
    fn error(&self, code: Code, msg: String, hint: &str, line: Option<usize>) -> Diagnostic {
        self.place(Diagnostic::new(code, self.path, msg).hint(hint), line)
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
#[path = "../../tests/integration/support/pki.rs"]
mod pki;

#[cfg(test)]
mod fixture;
