//! `meshfed check`: is the committed output folder what `generate -o` would
//! write now? Renders in memory, plans the tree exactly as `generate` would
//! (`output::plan`, manifest included) and compares file by file. Reports
//! every difference as a unified diff: edited files, missing files, and
//! files meshfed generated earlier that should no longer exist. Never writes.

use std::path::Path;

use similar::TextDiff;

use crate::diagnostics::Diagnostic;
use crate::output;
use crate::pipeline::Rendered;

/// The unified diff from what is in `dir` to what generate would write;
/// empty when the folder is up to date.
pub fn drift(dir: &Path, rendered: &Rendered, filtered: bool) -> Result<String, Vec<Diagnostic>> {
    let plan = output::plan(dir, rendered, filtered)?;
    let mut out = String::new();
    for (rel, expected) in &plan.files {
        let path = dir.join(rel);
        match read(&path)? {
            Some(actual) if actual == *expected => {}
            Some(actual) => out.push_str(&diff(&actual, expected, &format!("a/{rel}"), &format!("b/{rel}"))),
            None => out.push_str(&diff("", expected, "/dev/null", &format!("b/{rel}"))),
        }
    }
    for rel in &plan.stale {
        let path = dir.join(rel);
        if let Some(actual) = read(&path)? {
            out.push_str(&diff(&actual, "", &format!("a/{rel}"), "/dev/null"));
        }
    }
    Ok(out)
}

fn read(path: &Path) -> Result<Option<String>, Vec<Diagnostic>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(vec![Diagnostic::error(
            "MF403",
            "",
            format!("cannot read {}: {e}", path.display()),
        )
        .hint("check the output folder's permissions")
        .at(path, None)]),
    }
}

fn diff(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .missing_newline_hint(true)
        .to_string()
}
