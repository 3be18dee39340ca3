//! Every diagnostic code the code can produce is documented exactly once in
//! `docs/diagnostics.md`, under a `### MFnnn` heading: the entry `meshfed
//! explain MFnnn`, which every human diagnostic line names, prints.

use std::collections::BTreeSet;
use std::path::Path;

/// Every `"MFnnn"` string literal in the sources below `dir`.
fn codes_in(dir: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).expect("source folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            codes_in(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("source file");
            for (i, _) in text.match_indices("\"MF") {
                let code = &text[i + 1..];
                let digits = code.get(2..5).unwrap_or("");
                if digits.len() == 3 && digits.bytes().all(|b| b.is_ascii_digit()) && code[5..].starts_with('"') {
                    out.insert(code[..5].to_owned());
                }
            }
        }
    }
}

#[test]
fn every_code_in_the_source_is_documented_once() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut codes = BTreeSet::new();
    codes_in(&root.join("src"), &mut codes);
    assert!(
        codes.len() > 40,
        "found only {} codes; is the scan broken?",
        codes.len()
    );
    let doc = std::fs::read_to_string(root.join("docs/diagnostics.md")).expect("docs/diagnostics.md");
    let headings: Vec<&str> = doc.lines().filter_map(|l| l.strip_prefix("### ")).collect();
    let mut missing = Vec::new();
    for code in &codes {
        match headings.iter().filter(|h| h.trim() == code).count() {
            1 => {}
            0 => missing.push(format!("{code} is not documented")),
            n => missing.push(format!("{code} is documented {n} times")),
        }
    }
    assert!(missing.is_empty(), "docs/diagnostics.md: {}", missing.join(", "));
}

#[test]
fn the_printed_pointer_names_explain() {
    // Resolves with only the binary; the heading `### MF208` is the entry it prints.
    let d = meshfed::internals::Diagnostic::error("MF208", "spec", "expired");
    assert!(d.to_string().ends_with(" (meshfed explain MF208)"));
}
