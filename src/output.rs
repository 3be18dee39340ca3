//! Writing rendered clusters to `DIR/<cluster>/`, and knowing what is ours.
//!
//! `DIR/.meshfed-manifest` records every file meshfed wrote below `DIR`, one
//! relative path per line. It is one file for the whole folder, not one per
//! cluster, so a cluster dropped from the spec is still known to be ours and
//! its files are removed; and `check` has a single record to compare with.
//!
//! A write is planned in full before the first byte lands (`plan`): a file at
//! a target path that the manifest does not list is someone else's, and the
//! whole write is refused. Then every file goes to a temporary sibling, and
//! only when all of them are written are they renamed into place, so a
//! failure midway (disk full, permissions) leaves the old tree as it was.
//! Stale files are removed last. `check` uses the same plan to compare.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::diagnostics::Diagnostic;
use crate::pipeline::Rendered;

/// The record of what meshfed wrote, relative to the output folder.
pub const MANIFEST: &str = ".meshfed-manifest";

const MANIFEST_HEADER: &str = "# Files meshfed generated below this folder, one per line. `meshfed generate -o`\n\
# removes them once they are no longer generated and never touches any other file.\n";

/// What `generate -o DIR` will leave below `DIR`.
#[derive(Debug, Default)]
pub struct TreePlan<'a> {
    /// Relative path (`cluster/file`) → content, the manifest included;
    /// rendered text is borrowed, not copied (it can be hundreds of MB).
    pub files: BTreeMap<String, Cow<'a, str>>,
    /// Relative paths meshfed wrote earlier that this run no longer produces.
    pub stale: BTreeSet<String>,
}

/// Plans the tree for `rendered` below `dir`: reads the existing manifest and
/// refuses (MF401) any target that exists but is not recorded in it.
///
/// With a cluster filter (`rendered.clusters` is a subset), only the selected
/// clusters' recorded files can become stale; other clusters stay recorded.
pub fn plan<'a>(dir: &Path, rendered: &'a Rendered, filtered: bool) -> Result<TreePlan<'a>, Vec<Diagnostic>> {
    let recorded = read_manifest(dir).map_err(|d| vec![d])?;
    let mut files = BTreeMap::new();
    for (cluster, outputs) in &rendered.clusters {
        for (name, file) in outputs {
            files.insert(format!("{cluster}/{name}"), Cow::Borrowed(file.text.as_str()));
        }
    }
    let in_scope = |rel: &str| {
        !filtered
            || rel
                .split_once('/')
                .is_some_and(|(cluster, _)| rendered.clusters.contains_key(cluster))
    };
    let stale: BTreeSet<String> = recorded
        .iter()
        .filter(|rel| in_scope(rel) && !files.contains_key(*rel))
        .cloned()
        .collect();
    let mut owned: BTreeSet<String> = files.keys().cloned().collect();
    owned.extend(recorded.iter().filter(|rel| !in_scope(rel)).cloned());

    let mut conflicts = Vec::new();
    for rel in files.keys() {
        let target = dir.join(rel);
        if !recorded.contains(rel) && std::fs::symlink_metadata(&target).is_ok() {
            conflicts.push(
                Diagnostic::error(
                    "MF401",
                    "",
                    format!("{} exists and was not written by meshfed; nothing was written", target.display()),
                )
                .hint("move it away or delete it, then run generate again (meshfed never overwrites a file it did not write)")
                .at(&target, None),
            );
        }
    }
    if !conflicts.is_empty() {
        return Err(conflicts);
    }
    let mut manifest = MANIFEST_HEADER.to_owned();
    for rel in &owned {
        manifest.push_str(rel);
        manifest.push('\n');
    }
    files.insert(MANIFEST.to_owned(), Cow::Owned(manifest));
    Ok(TreePlan { files, stale })
}

/// The relative paths the manifest in `dir` lists; empty when there is none.
pub fn read_manifest(dir: &Path) -> Result<BTreeSet<String>, Diagnostic> {
    let path = dir.join(MANIFEST);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => {
            return Err(
                Diagnostic::error("MF402", "", format!("cannot read {}: {e}", path.display()))
                    .hint("meshfed keeps its record of written files there; restore it or remove the folder")
                    .at(&path, None),
            )
        }
    };
    let mut recorded = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // Only `cluster/file` below DIR: a hand-edited manifest must never
        // make meshfed delete something outside its folders.
        let safe = Path::new(line)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
            && line.split('/').count() == 2;
        if !safe {
            return Err(Diagnostic::error(
                "MF402",
                "",
                format!(
                    "{}: line {} is not a cluster/file path: {line:?}",
                    path.display(),
                    i + 1
                ),
            )
            .hint("meshfed writes this file itself; restore it from version control")
            .at(&path, Some(i + 1)));
        }
        recorded.insert(line.to_owned());
    }
    Ok(recorded)
}

/// Writes every rendered cluster below `dir`, removes stale files and
/// updates the manifest. On error the tree is left as it was, as far as the
/// file system allows.
pub fn write_tree(dir: &Path, rendered: &Rendered, filtered: bool) -> Result<(), Vec<Diagnostic>> {
    let plan = plan(dir, rendered, filtered)?;
    commit(dir, &plan).map_err(|d| vec![d])
}

fn commit(dir: &Path, plan: &TreePlan<'_>) -> Result<(), Diagnostic> {
    // Stage everything first; a failure here leaves no trace.
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut created_dirs: Vec<PathBuf> = Vec::new();
    let result = (|| {
        for (rel, text) in &plan.files {
            let target = dir.join(rel);
            // An unchanged file is left alone: no write, and its mtime stays.
            if std::fs::read(&target).is_ok_and(|old| old == text.as_bytes()) {
                continue;
            }
            let parent = target.parent().unwrap_or(dir).to_path_buf();
            if !parent.exists() {
                std::fs::create_dir_all(&parent).map_err(|e| io_error(&parent, &e))?;
                created_dirs.push(parent);
            }
            let tmp = stage(&target, text.as_bytes())?;
            staged.push((tmp, target));
        }
        Ok(())
    })();
    if let Err(d) = result {
        for (tmp, _) in &staged {
            let _ = std::fs::remove_file(tmp);
        }
        for created in created_dirs.iter().rev() {
            let _ = std::fs::remove_dir(created);
        }
        return Err(d);
    }
    // The manifest goes last so that, should a rename fail, the old record
    // (which still lists every old file) stays in place.
    staged.sort_by_key(|(_, target)| target.ends_with(MANIFEST));
    for (tmp, target) in &staged {
        if let Err(e) = std::fs::rename(tmp, target) {
            for (tmp, _) in &staged {
                let _ = std::fs::remove_file(tmp);
            }
            return Err(io_error(target, &e));
        }
    }
    for rel in &plan.stale {
        let path = dir.join(rel);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&path, &e)),
        }
        // A cluster folder that is now empty was ours; one holding anything
        // else is left alone (remove_dir refuses a non-empty folder).
        if let Some(parent) = path.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
    Ok(())
}

/// Writes one file whole or not at all: a temporary sibling renamed into place.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Diagnostic> {
    let tmp = stage(path, bytes)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_error(path, &e)
    })
}

/// Writes `bytes` to a temporary sibling of `path` and returns its path.
fn stage(path: &Path, bytes: &[u8]) -> Result<PathBuf, Diagnostic> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.meshfed-tmp"));
    // No fsync: the rename already keeps readers from seeing half a file, and
    // syncing every file was most of the time of a large run.
    let result = std::fs::File::create(&tmp).and_then(|mut f| f.write_all(bytes));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error(path, &e));
    }
    Ok(tmp)
}

fn io_error(path: &Path, e: &std::io::Error) -> Diagnostic {
    Diagnostic::error("MF303", "", format!("cannot write {}: {e}", path.display()))
        .hint("check that the output folder is writable")
        .at(path, None)
}
