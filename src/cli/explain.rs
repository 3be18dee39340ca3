//! `meshfed explain [CODE]`: docs/diagnostics.md, built into the binary.

use super::Outcome;
use crate::diagnostics::{Code, Diagnostic};

/// docs/diagnostics.md, built in, so `meshfed explain` works with only the binary.
const DIAGNOSTICS_DOC: &str = include_str!("../../docs/diagnostics.md");

/// Every `### MFnnn` entry of the built-in docs: its code and its text up to
/// the next heading.
fn doc_entries() -> Vec<(&'static str, &'static str)> {
    let mut entries = Vec::new();
    let mut rest = DIAGNOSTICS_DOC;
    while let Some(start) = rest.find("\n### MF") {
        let body = &rest[start + 5..];
        let (code, after) = body.split_once('\n').unwrap_or((body, ""));
        let end = after.find("\n#").unwrap_or(after.len());
        entries.push((code.trim(), after[..end].trim()));
        rest = &after[end..];
    }
    entries
}

/// `meshfed explain [CODE]`: the code's entry, or the list of codes with
/// their first sentence.
pub(super) fn explain(code: Option<&str>) -> Outcome {
    let entries = doc_entries();
    let Some(code) = code else {
        let list: String = entries
            .iter()
            .map(|(code, text)| {
                let summary = text.lines().next().unwrap_or("").trim_start_matches("**");
                let summary = summary.split("**").next().unwrap_or(summary);
                format!("{code}  {summary}\n")
            })
            .collect();
        return Outcome::printed(list);
    };
    let wanted = code.trim().to_ascii_uppercase();
    let wanted = if wanted.starts_with("MF") {
        wanted
    } else {
        format!("MF{wanted}")
    };
    match entries.iter().find(|(c, _)| *c == wanted) {
        Some((c, text)) => Outcome::printed(format!("{c}\n\n{text}\n")),
        None => Outcome::usage(
            Diagnostic::new(Code::MF460, "", format!("{code} is not a meshfed diagnostic code"))
                .hint("`meshfed explain` lists every code; codes look like MF208"),
        ),
    }
}
