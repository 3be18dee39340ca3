//! Writing rendered clusters to `DIR/<cluster>/`, and knowing what is ours.
//!
//! `DIR/.meshfed-manifest` records every file meshfed wrote below `DIR`, one
//! relative path per line. It is one file for the whole folder, not one per
//! cluster, so a cluster dropped from the spec is still known to be ours and
//! its files are removed; and `check` has a single record to compare with.
//!
//! A file at a target path that the manifest does not list is someone
//! else's, and the whole write is refused. `generate -o` (`TreeWriter`)
//! stages each cluster's files as temporary siblings as soon as the cluster
//! is rendered, and renames them into place only when every cluster rendered
//! without conflict, so a failure midway (a broken template, disk full,
//! permissions) leaves the old tree as it was. Stale files are removed last.
//! `check` compares against the same rules in memory (`plan`); both ask
//! `Ownership`, the one place that knows them.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::diagnostics::Diagnostic;
use crate::diagnostics::Diagnostics;
use crate::load::SpecSource;
use crate::pipeline::{self, RenderOptions, Rendered};
use crate::render::ClusterOutput;

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

/// What the manifest says meshfed owns below a folder, and what follows
/// from it. `plan` (for `check`) and `TreeWriter` (for `generate -o`) both
/// ask it, so the two agree on conflicts, stale files and the new record.
struct Ownership {
    dir: PathBuf,
    recorded: BTreeSet<String>,
}

impl Ownership {
    fn read(dir: &Path) -> Result<Self, Diagnostic> {
        Ok(Ownership {
            dir: dir.to_path_buf(),
            recorded: read_manifest(dir)?,
        })
    }

    /// MF401 when `rel` exists but meshfed never wrote it.
    fn conflict(&self, rel: &str) -> Option<Diagnostic> {
        let target = self.dir.join(rel);
        (!self.recorded.contains(rel) && std::fs::symlink_metadata(&target).is_ok()).then(|| {
            Diagnostic::error(
                "MF401",
                "",
                format!(
                    "{} exists and was not written by meshfed; nothing was written",
                    target.display()
                ),
            )
            .hint(
                "move it away or delete it, then run generate again (meshfed never overwrites a file it did not write)",
            )
            .at(&target, None)
        })
    }

    /// Given what this run writes (`cluster/file` paths) and which clusters
    /// it rendered: the recorded files that are now stale, and the new
    /// manifest. With a cluster filter, only the rendered clusters' recorded
    /// files can become stale; other clusters stay recorded.
    fn settle(
        &self,
        written: &BTreeSet<String>,
        rendered: &BTreeSet<String>,
        filtered: bool,
    ) -> (BTreeSet<String>, String) {
        let in_scope = |rel: &str| {
            !filtered
                || rel
                    .split_once('/')
                    .is_some_and(|(cluster, _)| rendered.contains(cluster))
        };
        let stale: BTreeSet<String> = self
            .recorded
            .iter()
            .filter(|rel| in_scope(rel) && !written.contains(*rel))
            .cloned()
            .collect();
        let mut owned: BTreeSet<&String> = written.iter().collect();
        owned.extend(self.recorded.iter().filter(|rel| !in_scope(rel)));
        let mut manifest = MANIFEST_HEADER.to_owned();
        for rel in owned {
            manifest.push_str(rel);
            manifest.push('\n');
        }
        (stale, manifest)
    }
}

/// Plans the tree for `rendered` below `dir`: reads the existing manifest and
/// refuses (MF401) any target that exists but is not recorded in it.
pub fn plan<'a>(dir: &Path, rendered: &'a Rendered, filtered: bool) -> Result<TreePlan<'a>, Vec<Diagnostic>> {
    let own = Ownership::read(dir).map_err(|d| vec![d])?;
    let mut files = BTreeMap::new();
    for (cluster, outputs) in &rendered.clusters {
        for (name, file) in outputs {
            files.insert(format!("{cluster}/{name}"), Cow::Borrowed(file.text.as_str()));
        }
    }
    let conflicts: Vec<Diagnostic> = files.keys().filter_map(|rel| own.conflict(rel)).collect();
    if !conflicts.is_empty() {
        return Err(conflicts);
    }
    let written: BTreeSet<String> = files.keys().cloned().collect();
    let clusters: BTreeSet<String> = rendered.clusters.keys().cloned().collect();
    let (stale, manifest) = own.settle(&written, &clusters, filtered);
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

/// `generate SPEC -o DIR`: renders cluster by cluster straight into a
/// `TreeWriter`. The warnings on success; every problem otherwise, with
/// nothing written.
pub fn generate_tree(spec: &Path, dir: &Path, opts: &RenderOptions) -> Result<Diagnostics, Diagnostics> {
    let one = |d: Diagnostic| {
        let mut diags = Diagnostics::new();
        diags.push(d);
        diags
    };
    let src = SpecSource::read(spec).map_err(one)?;
    let writer = TreeWriter::new(dir).map_err(one)?;
    match pipeline::render_each(&src, opts, |cluster, files| writer.stage(cluster, &files)) {
        Ok(warnings) => writer
            .finish(!opts.clusters.is_empty())
            .map(|()| warnings.clone())
            .map_err(|problems| {
                let mut diags = warnings;
                diags.extend(problems);
                diags
            }),
        Err(diags) => {
            writer.abort();
            Err(diags)
        }
    }
}

/// `generate -o` cluster by cluster: each cluster's files are checked
/// against the manifest and staged as temporary siblings as soon as the
/// cluster is rendered (so memory holds one cluster's output per thread, not
/// the whole tree); `finish` renames everything into place, manifest last,
/// then removes stale files; `abort` removes every trace. Nothing is renamed
/// while any file conflicts, so an error anywhere leaves the tree as it was.
pub struct TreeWriter {
    own: Ownership,
    /// The output folder did not exist: `abort` removes it again.
    new_root: bool,
    state: Mutex<Staged>,
}

#[derive(Default)]
struct Staged {
    /// (temporary file, target)
    files: Vec<(PathBuf, PathBuf)>,
    created_dirs: Vec<PathBuf>,
    /// Every `cluster/file` this run writes, unchanged ones included.
    written: BTreeSet<String>,
    clusters: BTreeSet<String>,
    conflicts: Vec<Diagnostic>,
}

impl TreeWriter {
    pub fn new(dir: &Path) -> Result<Self, Diagnostic> {
        Ok(TreeWriter {
            own: Ownership::read(dir)?,
            new_root: !dir.exists(),
            state: Mutex::new(Staged::default()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Staged> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks and stages one cluster's files. Conflicts are collected (all of
    /// them are reported by `finish`); an I/O error is returned at once.
    pub fn stage(&self, cluster: &str, files: &ClusterOutput) -> Result<(), Diagnostic> {
        let cdir = self.own.dir.join(cluster);
        if !cdir.exists() {
            std::fs::create_dir_all(&cdir).map_err(|e| io_error(&cdir, &e))?;
            self.state().created_dirs.push(cdir.clone());
        }
        for (name, file) in files {
            let rel = format!("{cluster}/{name}");
            if let Some(d) = self.own.conflict(&rel) {
                self.state().conflicts.push(d);
                continue;
            }
            let target = cdir.join(name);
            // An unchanged file is left alone: no write, and its mtime stays.
            let unchanged = std::fs::read(&target).is_ok_and(|old| old == file.text.as_bytes());
            let staged = if unchanged {
                None
            } else {
                Some(stage(&target, file.text.as_bytes())?)
            };
            let mut state = self.state();
            state.written.insert(rel);
            if let Some(tmp) = staged {
                state.files.push((tmp, target));
            }
        }
        self.state().clusters.insert(cluster.to_owned());
        Ok(())
    }

    /// Removes everything staged and every folder this run created.
    pub fn abort(self) {
        let state = self.state.into_inner().unwrap_or_else(|e| e.into_inner());
        for (tmp, _) in &state.files {
            let _ = std::fs::remove_file(tmp);
        }
        for created in state.created_dirs.iter().rev() {
            let _ = std::fs::remove_dir(created);
        }
        if self.new_root {
            let _ = std::fs::remove_dir(&self.own.dir);
        }
    }

    /// Puts every staged file in place, writes the manifest and removes
    /// stale files; or, with any conflict, removes what was staged and
    /// reports every conflict.
    pub fn finish(self, filtered: bool) -> Result<(), Vec<Diagnostic>> {
        let mut state = std::mem::take(&mut *self.state());
        if !state.conflicts.is_empty() {
            let mut conflicts = std::mem::take(&mut state.conflicts);
            conflicts.sort_by(|a, b| a.location.cmp(&b.location));
            *self.state() = state;
            self.abort();
            return Err(conflicts);
        }
        let dir = self.own.dir.clone();
        let (stale, manifest) = self.own.settle(&state.written, &state.clusters, filtered);
        let manifest_path = dir.join(MANIFEST);
        if std::fs::read(&manifest_path).map_or(true, |old| old != manifest.as_bytes()) {
            match stage(&manifest_path, manifest.as_bytes()) {
                // The manifest goes last so that, should a rename fail, the old
                // record (which still lists every old file) stays in place.
                Ok(tmp) => state.files.push((tmp, manifest_path)),
                Err(d) => {
                    *self.state() = state;
                    self.abort();
                    return Err(vec![d]);
                }
            }
        }
        for (i, (tmp, target)) in state.files.iter().enumerate() {
            if let Err(e) = std::fs::rename(tmp, target) {
                for (tmp, _) in &state.files[i..] {
                    let _ = std::fs::remove_file(tmp);
                }
                return Err(vec![io_error(target, &e)]);
            }
        }
        for rel in &stale {
            let path = dir.join(rel);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(vec![io_error(&path, &e)]),
            }
            // A cluster folder that is now empty was ours; one holding anything
            // else is left alone (remove_dir refuses a non-empty folder).
            if let Some(parent) = path.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
        Ok(())
    }
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
