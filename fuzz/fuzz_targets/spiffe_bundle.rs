//! SPIFFE trust bundle intake on arbitrary bytes: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshfed::internals::{intake_spiffe_bundle, CertPolicy, Code, SourceRef};

fuzz_target!(|data: &[u8]| {
    let src = SourceRef {
        path: "spec.clusters[0].rootCA.spiffeBundle",
        origin: "bundle.json",
        file: Some(std::path::Path::new("bundle.json")),
        trust_domain: Some("cluster-a.local"),
        inline_at: None,
    };
    let got = intake_spiffe_bundle(data, &src, &CertPolicy::default());
    if got.diagnostics.iter().any(|d| d.code == Code::MF203) {
        assert!(got.roots.is_empty());
    }
});
