//! KRM function mode (`krm::process`) on arbitrary text: never a panic; an
//! answer to an input serde_norway reads is one it reads too, holding at
//! least the items it was given; and an answer without an error result is a
//! fixed point (running the function on its own output gives the same
//! output).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use meshfed::internals::process;
use meshfed::internals::RenderOptions;
use serde_norway::Value;

fn items(text: &str) -> Option<usize> {
    let list: Value = serde_norway::from_str(text).ok()?;
    list.get("items")?.as_sequence().map(Vec::len)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Member specs are read relative to this folder; it does not exist, so
    // only inline MeshFederations (roots as PEM or ConfigMap items) render.
    let workdir = Path::new("/nonexistent-meshfed-fuzz");
    let opts = RenderOptions::default();
    let Ok(out) = process(text, workdir, &opts) else {
        return;
    };
    // Items serde_norway cannot read (duplicate keys, integers past 64 bits)
    // pass through as their text; then only meshfed's own reader counts them.
    match (items(text), items(&out.output)) {
        (Some(given), Some(kept)) if out.failed => {
            assert!(kept >= given, "items were dropped on an error: {given} -> {kept}");
        }
        (Some(_), None) => panic!("serde_norway reads the input but not the answer"),
        _ => {}
    }
    if out.failed {
        return;
    }
    let again = process(&out.output, workdir, &opts).expect("the answer is a ResourceList");
    assert!(!again.failed);
    assert_eq!(again.output, out.output, "a second run changed the list");
});
