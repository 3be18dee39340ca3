//! Root CA intake on arbitrary bytes: never a panic, and a source with a
//! private-key block never yields a root.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshfed::internals::{intake, CertPolicy, Code, SourceRef};

fuzz_target!(|data: &[u8]| {
    let src = SourceRef {
        path: "spec.clusters[0].rootCA.files[0]",
        origin: "fuzz.pem",
        file: Some(std::path::Path::new("fuzz.pem")),
        trust_domain: Some("cluster-a.local"),
        inline_at: None,
    };
    let got = intake(data, &src, &CertPolicy::default());
    let text = String::from_utf8_lossy(data);
    if text.contains("PRIVATE KEY-----") && got.diagnostics.iter().any(|d| d.code == Code::MF203) {
        assert!(got.roots.is_empty() && got.found.is_empty());
    }
    for d in &got.diagnostics {
        let _ = d.to_string();
    }
});
