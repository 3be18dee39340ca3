//! `meshfed check`: is the committed output folder what `generate -o` would
//! write now? Renders in memory, plans the tree exactly as `generate` would
//! (`output::plan`, manifest included) and compares file by file. Reports
//! every difference as a unified diff: edited files, missing files, and
//! files meshfed generated earlier that should no longer exist; and, as
//! problems of their own, temporaries a killed `generate` left behind and
//! (with `--require-tracked`) generated files git does not track. Never
//! writes. Holds a shared lock on the folder while it reads, so it never
//! sees a `generate` halfway through its renames.

use std::path::Path;
use std::process::Command;

use similar::TextDiff;

use crate::diagnostics::{Code, Diagnostic};
use crate::output;
use crate::pipeline::Rendered;

/// How the output folder differs from what `generate -o` would write.
#[derive(Debug, Default)]
pub struct Drift {
    /// The unified diff from what is in the folder to what generate would
    /// write; empty when every file is up to date.
    pub diff: String,
    /// What a diff cannot show: stray temporaries (MF442) and untracked
    /// generated files (MF443).
    pub problems: Vec<Diagnostic>,
}

impl Drift {
    pub fn is_clean(&self) -> bool {
        self.diff.is_empty() && self.problems.is_empty()
    }
}

/// Compares `dir` with what generate would write for `rendered`. With
/// `require_tracked`, inside a git work tree, every file generate would
/// leave there must also be tracked by git (in its index).
pub fn compare(
    dir: &Path,
    rendered: &Rendered,
    filtered: bool,
    require_tracked: bool,
    notify: output::Notify,
) -> Result<Drift, Vec<Diagnostic>> {
    let _lock = output::lock_for_reading(dir, notify).map_err(|d| vec![d])?;
    let plan = output::plan(dir, rendered, filtered)?;
    let mut out = Drift::default();
    for (rel, expected) in &plan.files {
        let path = dir.join(rel);
        match read(&path)? {
            Some(actual) if actual == *expected => {}
            Some(actual) => out
                .diff
                .push_str(&diff(&actual, expected, &format!("a/{rel}"), &format!("b/{rel}"))),
            None => out.diff.push_str(&diff("", expected, "/dev/null", &format!("b/{rel}"))),
        }
    }
    for rel in &plan.stale {
        let path = dir.join(rel);
        if let Some(actual) = read(&path)? {
            out.diff.push_str(&diff(&actual, "", &format!("a/{rel}"), "/dev/null"));
        }
    }
    for tmp in output::temporaries(dir) {
        out.problems.push(
            Diagnostic::new(
                Code::MF442,
                "",
                format!(
                    "{} is a temporary file left by a meshfed run that was killed",
                    tmp.display()
                ),
            )
            .hint("run generate again: it removes them")
            .at(&tmp, None),
        );
    }
    if require_tracked {
        out.problems.extend(untracked(dir, plan.files.keys())?);
    }
    Ok(out)
}

/// MF443 for each of `files` (relative to `dir`) that git does not track,
/// when `dir` is inside a git work tree; nothing outside one.
fn untracked<'a>(dir: &Path, files: impl Iterator<Item = &'a String>) -> Result<Vec<Diagnostic>, Vec<Diagnostic>> {
    if !dir.is_dir() {
        // Every file is missing, which the diff already shows.
        return Ok(Vec::new());
    }
    let git = |args: &[&str]| Command::new("git").args(args).current_dir(dir).output();
    let inside = match git(&["rev-parse", "--is-inside-work-tree"]) {
        Ok(out) => out.status.success() && out.stdout.starts_with(b"true"),
        Err(e) => {
            return Err(vec![Diagnostic::new(
                Code::MF443,
                "",
                format!("--require-tracked: cannot run git: {e}"),
            )
            .hint("install git, or drop --require-tracked")
            .at(dir, None)])
        }
    };
    if !inside {
        return Ok(Vec::new());
    }
    // Paths relative to `dir`, as the manifest has them; -z: never quoted.
    let listed = match git(&["ls-files", "-z", "--", "."]) {
        Ok(out) if out.status.success() => out.stdout,
        Ok(out) => {
            return Err(vec![Diagnostic::new(
                Code::MF443,
                "",
                format!(
                    "--require-tracked: git ls-files failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            )
            .at(dir, None)])
        }
        Err(e) => {
            return Err(vec![Diagnostic::new(
                Code::MF443,
                "",
                format!("--require-tracked: cannot run git: {e}"),
            )
            .at(dir, None)])
        }
    };
    let tracked: std::collections::BTreeSet<&[u8]> = listed.split(|b| *b == 0).collect();
    Ok(files
        .filter(|rel| !tracked.contains(rel.as_bytes()))
        .map(|rel| {
            let path = dir.join(rel);
            Diagnostic::new(
                Code::MF443,
                "",
                format!("{} is generated but not tracked by git", path.display()),
            )
            .hint(format!("git add {}", path.display()))
            .at(&path, None)
        })
        .collect())
}

fn read(path: &Path) -> Result<Option<String>, Vec<Diagnostic>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(vec![Diagnostic::new(
            Code::MF403,
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
