//! The parse-back fast path (`normalise::normalise`) against serde_norway on
//! arbitrary text: whatever the fast path takes, the YAML parser must take
//! too, and the fast path must write exactly what serde_norway writes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshfed::normalise::normalise;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(fast) = normalise(text) else {
        return;
    };
    let value: serde_norway::Value =
        serde_norway::from_str(text).expect("the fast path took text that serde_norway rejects");
    let general = serde_norway::to_string(&value).expect("serde_norway writes what it read");
    assert_eq!(fast.yaml, general, "input:\n{text}");
});
