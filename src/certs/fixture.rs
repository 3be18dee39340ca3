//! What the certificate unit tests share: every kind of certificate they
//! need, made once by `pki` (real openssl), and ways to run intake on it.

use std::path::Path;
use std::sync::OnceLock;

use time::OffsetDateTime;

use super::pki::{CertSpec, Issued, Key, Pki};
use super::{intake, CertPolicy, Intake, SourceRef};
use crate::diagnostics::Code;

/// Every kind of certificate the tests need, made once.
pub(super) struct Fixture {
    pub(super) pki: Pki,
    pub(super) root: Issued,
    pub(super) root_no_key_usage: Issued,
    pub(super) rsa2048: Issued,
    pub(super) rsa1024: Issued,
    pub(super) sha1: Issued,
    pub(super) pss_sha1: Issued,
    pub(super) pss_sha256: Issued,
    pub(super) leaf: Issued,
    pub(super) no_cert_sign: Issued,
    pub(super) expired: Issued,
    pub(super) future: Issued,
    pub(super) intermediate: Issued,
    pub(super) spiffe_elsewhere: Issued,
    pub(super) spiffe_cluster_a: Issued,
}

pub(super) fn fixture() -> &'static Fixture {
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

pub(super) fn at(y: i32, mo: u8, d: u8, h: u8, mi: u8, s: u8) -> OffsetDateTime {
    let month = time::Month::try_from(mo).expect("month");
    time::Date::from_calendar_date(y, month, d)
        .and_then(|date| date.with_hms(h, mi, s))
        .expect("date")
        .assume_utc()
}

pub(super) fn policy() -> CertPolicy {
    CertPolicy {
        now: at(2026, 6, 1, 12, 0, 0),
        warn_expiry_days: 30,
    }
}

pub(super) fn run(bytes: &[u8]) -> Intake {
    run_with(bytes, &policy())
}

pub(super) fn run_with(bytes: &[u8], policy: &CertPolicy) -> Intake {
    let src = SourceRef {
        path: "spec.clusters[0].rootCA.files[0]",
        origin: "certs/a.pem",
        file: Some(Path::new("certs/a.pem")),
        trust_domain: Some("cluster-a.local"),
        inline_at: None,
    };
    intake(bytes, &src, policy)
}

pub(super) fn codes(i: &Intake) -> Vec<Code> {
    i.diagnostics.iter().map(|d| d.code).collect()
}

pub(super) fn messages(i: &Intake) -> String {
    i.diagnostics.iter().map(|d| d.to_string() + "\n").collect()
}
