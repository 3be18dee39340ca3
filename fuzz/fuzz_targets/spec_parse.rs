//! Spec intake (`load::load_spec`: YAML with alias/nesting bounds, JSON
//! Schema, typed spec) on arbitrary text: never a panic, and every failure
//! carries at least one error diagnostic. A large spec's YAML parsed in
//! parts (`load::Cut`, here at any size) is the YAML parsed whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshfed::internals::{cut_agrees, load_spec, SpecSource};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let src = SpecSource {
        file: "federation.yaml".into(),
        base_dir: "/nonexistent-meshfed-fuzz".into(),
        text: text.to_owned(),
    };
    assert!(cut_agrees(text), "parsed in parts, the spec reads differently");
    if let Err(diags) = load_spec(&src) {
        assert!(diags.has_errors());
        for d in diags.sorted() {
            let _ = d.to_string();
        }
    }
});
