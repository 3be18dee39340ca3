//! The parse-back fast path (`normalise::normalise`) against the general path
//! on arbitrary text: whatever the fast path takes, serde_norway's parser must
//! take too, and the fast path must write exactly what `meshfed::internals::to_string` (the yaml module) writes
//! for that value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshfed::internals::normalise;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(fast) = normalise(text) else {
        return;
    };
    let value: serde_norway::Value =
        serde_norway::from_str(text).expect("the fast path took text that serde_norway rejects");
    let general = meshfed::internals::to_string(&value).expect("meshfed writes what serde_norway read");
    assert_eq!(fast.yaml, general, "input:\n{text}");
});
