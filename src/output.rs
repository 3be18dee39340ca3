//! Writing rendered clusters to `DIR/<cluster>/`, and knowing what is ours.
//!
//! `DIR/.meshfed-manifest` records every file meshfed wrote below `DIR`, one
//! relative path per line. It is one file for the whole folder, not one per
//! cluster, so a cluster dropped from the spec is still known to be ours and
//! its files are removed; and `check` has a single record to compare with.
//! A manifest that git left with conflict markers is read as the union of
//! both sides (what `merge=union` in `.gitattributes` would have written).
//!
//! A file at a target path that the manifest does not list is someone
//! else's, and the whole write is refused, unless it is recognisably
//! meshfed's (`adopts`): a lost or merged manifest must not lock
//! meshfed out of its own output. `generate -o` (`TreeWriter`)
//! stages each cluster's files as temporary siblings as soon as the cluster
//! is rendered, and renames them into place only when every cluster rendered
//! without conflict, so a failure midway (a broken template, disk full,
//! permissions) leaves the old tree as it was. Stale files are removed last.
//! `check` compares against the same rules in memory (`plan`); both ask
//! `Ownership`, the one place that knows them.
//!
//! Runs exclude each other: `generate -o` holds an exclusive lock on `DIR`
//! (`flock(2)` on the folder itself, so no lock file is left to commit),
//! `check` a shared one; a second run waits for the first (`lock_folder`).
//! Ctrl-C, SIGTERM or SIGHUP while staging removes every temporary and
//! folder the run made (`interrupted`); temporaries a killed run left behind are removed by
//! the next `generate` and reported by `check` (`temporaries`).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use crate::diagnostics::Diagnostics;
use crate::diagnostics::{Code, Diagnostic};
use crate::load::SpecSource;
use crate::pipeline::{self, RenderOptions, Rendered};
use crate::render::{ClusterOutput, NEXT_STEPS_FILE};

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

    /// MF401 when `cluster/name` exists, the manifest does not list it and
    /// it is not recognisably meshfed's (`adopts`). `files` is everything
    /// this run writes in that cluster's folder.
    fn conflict(&self, federation: &str, cluster: &str, name: &str, files: &ClusterOutput) -> Option<Diagnostic> {
        let rel = format!("{cluster}/{name}");
        if self.recorded.contains(&rel) {
            return None;
        }
        let target = self.dir.join(&rel);
        let meta = std::fs::symlink_metadata(&target).ok()?;
        if meta.is_file() && adopts(&self.dir, cluster, name, federation, files) {
            return None;
        }
        Some(
            Diagnostic::new(
                Code::MF401,
                "",
                format!(
                    "{} exists and was not written by meshfed; nothing was written",
                    target.display()
                ),
            )
            .hint(
                "move it away or delete it, then run generate again (meshfed never overwrites a file it did not write)",
            )
            .at(&target, None),
        )
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
/// refuses (MF401) any target that exists but is neither recorded in it nor
/// recognisably meshfed's.
pub fn plan<'a>(dir: &Path, rendered: &'a Rendered, filtered: bool) -> Result<TreePlan<'a>, Vec<Diagnostic>> {
    let own = Ownership::read(dir).map_err(|d| vec![d])?;
    let mut files = BTreeMap::new();
    let mut conflicts = Vec::new();
    for (cluster, outputs) in &rendered.clusters {
        for (name, file) in outputs {
            conflicts.extend(own.conflict(&rendered.federation.name, cluster, name, outputs));
            files.insert(format!("{cluster}/{name}"), Cow::Borrowed(file.text.as_str()));
        }
    }
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
                Diagnostic::new(Code::MF402, "", format!("cannot read {}: {e}", path.display()))
                    .hint("meshfed keeps its record of written files there; restore it or remove the folder")
                    .at(&path, None),
            )
        }
    };
    let mut recorded = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        // git's conflict markers: both sides of a merge are kept (a union), as
        // the `merge=union` driver the README suggests would have done.
        let marker = ["<<<<<<<", "|||||||", "=======", ">>>>>>>"]
            .iter()
            .any(|m| line.starts_with(m));
        if line.is_empty() || line.starts_with('#') || marker {
            continue;
        }
        // Only `cluster/file` below DIR: a hand-edited manifest must never
        // make meshfed delete something outside its folders.
        let safe = Path::new(line)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
            && line.split('/').count() == 2;
        if !safe {
            return Err(Diagnostic::new(
                Code::MF402,
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

/// Whether the file `name` in `cluster_dir`, which the manifest does not
/// list, is meshfed's all the same, so that a lost or merged manifest does
/// not lock meshfed out of its own output:
///
/// - its content is exactly what this run writes there (overwriting it
///   changes nothing), which is how installer fragments are recognised:
///   they are Helm values or patches and carry no labels;
/// - every document in it is an object labelled
///   `app.kubernetes.io/managed-by: meshfed` and `meshfed.io/federation:
///   <this federation>`, as every object meshfed renders is;
/// - it is a `kustomization.yaml` holding nothing but `apiVersion`, `kind`
///   and `resources`, each resource a file this run writes in that folder or
///   a labelled file of this federation beside it: meshfed's own shape,
///   listing only meshfed's files;
/// - it is the cluster's `NEXT-STEPS.md` and says, as meshfed's template
///   does, that meshfed wrote the folder for this cluster of this federation.
///
/// A fragment that differs from what this run writes is not adopted (it
/// carries nothing that says whose it is): MF401 as before.
fn adopts(dir: &Path, cluster: &str, name: &str, federation: &str, files: &ClusterOutput) -> bool {
    let cluster_dir = dir.join(cluster);
    let Ok(text) = std::fs::read_to_string(cluster_dir.join(name)) else {
        return false;
    };
    if files.get(name).is_some_and(|f| f.text == text) {
        return true;
    }
    match name {
        "kustomization.yaml" => lists_only_meshfeds(&text, &cluster_dir, federation, files),
        NEXT_STEPS_FILE => says_meshfed_wrote_it(&text, cluster, federation),
        _ => carries_labels(&text, federation),
    }
}

/// What `templates/next-steps.md` says near its top, whatever the line
/// breaks (tests/integration/check.rs `a_lost_manifest_adopts_meshfeds_own_files`
/// fails if the template stops saying it).
fn next_steps_signature(cluster: &str, federation: &str) -> String {
    format!("meshfed wrote this folder for cluster `{cluster}` of federation `{federation}`.")
}

fn says_meshfed_wrote_it(text: &str, cluster: &str, federation: &str) -> bool {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    flat.contains(&next_steps_signature(cluster, federation))
}

/// Every document of `text` is an object with meshfed's two labels for
/// `federation`, and there is at least one.
fn carries_labels(text: &str, federation: &str) -> bool {
    use serde::Deserialize;
    let mut objects = 0;
    for doc in serde_norway::Deserializer::from_str(text) {
        let Ok(value) = serde_norway::Value::deserialize(doc) else {
            return false;
        };
        if value.is_null() {
            continue;
        }
        let labels = &value["metadata"]["labels"];
        if labels["app.kubernetes.io/managed-by"].as_str() != Some("meshfed")
            || labels["meshfed.io/federation"].as_str() != Some(federation)
        {
            return false;
        }
        objects += 1;
    }
    objects > 0
}

fn lists_only_meshfeds(text: &str, cluster_dir: &Path, federation: &str, files: &ClusterOutput) -> bool {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Kustomization {
        #[serde(rename = "apiVersion")]
        api_version: String,
        kind: String,
        resources: Vec<String>,
    }
    let Ok(k) = serde_norway::from_str::<Kustomization>(text) else {
        return false;
    };
    k.api_version == "kustomize.config.k8s.io/v1beta1"
        && k.kind == "Kustomization"
        && k.resources.iter().all(|r| {
            files.contains_key(r)
                || (!r.contains('/')
                    && !r.starts_with('.')
                    && std::fs::read_to_string(cluster_dir.join(r)).is_ok_and(|t| carries_labels(&t, federation)))
        })
}

/// `generate SPEC -o DIR`: renders cluster by cluster straight into a
/// `TreeWriter`. The warnings on success; every problem otherwise, with
/// nothing written. Takes over SIGINT, SIGTERM and SIGHUP for the rest of
/// the process (`interrupt::install`), to clean up on them.
pub fn generate_tree(src: &SpecSource, dir: &Path, opts: &RenderOptions) -> Result<Diagnostics, Diagnostics> {
    // Before any thread starts: they inherit the blocked signals.
    crate::interrupt::install(interrupted);
    let writer = TreeWriter::new(dir).map_err(Diagnostics::from)?;
    let staged = pipeline::render_each(src, opts, |federation, cluster, files| {
        writer.stage(federation, cluster, &files)
    });
    match staged {
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

/// How long a run waits for another one to release the output folder:
/// `MESHFED_LOCK_TIMEOUT` seconds, 120 by default (the largest benchmark
/// federation, 40 clusters × 100 services, takes 3 s).
fn lock_timeout() -> Duration {
    std::env::var("MESHFED_LOCK_TIMEOUT")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(120), Duration::from_secs)
}

/// A lock on an output folder, held until dropped: exclusive for
/// `generate -o`, shared for `check`. It is `flock(2)` on the folder itself:
/// no lock file to commit or to leave behind, and the kernel releases it when
/// the process ends however it ends.
pub struct FolderLock {
    _folder: File,
}

/// Takes the lock on `dir`, which must exist, waiting for another run (with
/// one note on stderr) up to `lock_timeout`; MF440 after that. `None` when
/// `dir` was removed or replaced meanwhile (a run that created it failed and
/// removed it again): the caller starts over.
fn lock_folder(dir: &Path, exclusive: bool) -> Result<Option<FolderLock>, Diagnostic> {
    let timeout = lock_timeout();
    let deadline = Instant::now() + timeout;
    let folder = File::open(dir).map_err(|e| lock_error(dir, &e))?;
    let mut told = false;
    loop {
        let taken = if exclusive {
            folder.try_lock()
        } else {
            folder.try_lock_shared()
        };
        match taken {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) => {}
            // A file system without locks (some network mounts): go on
            // unlocked rather than refuse to work there at all.
            Err(TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => break,
            Err(TryLockError::Error(e)) => return Err(lock_error(dir, &e)),
        }
        if Instant::now() >= deadline {
            return Err(Diagnostic::new(
                Code::MF440,
                "",
                format!(
                    "{} is still in use by another meshfed run after {} s; nothing was written",
                    dir.display(),
                    timeout.as_secs()
                ),
            )
            .hint("wait for the other run to finish (or stop it), then run again; MESHFED_LOCK_TIMEOUT sets the wait in seconds")
            .at(dir, None));
        }
        if !told {
            eprintln!(
                "note: waiting for another meshfed run to finish with {} (up to {} s)",
                dir.display(),
                timeout.as_secs()
            );
            told = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(same_folder(&folder, dir).then_some(FolderLock { _folder: folder }))
}

#[cfg(unix)]
fn same_folder(folder: &File, dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (folder.metadata(), std::fs::metadata(dir)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_folder(_folder: &File, dir: &Path) -> bool {
    dir.is_dir()
}

fn lock_error(dir: &Path, e: &std::io::Error) -> Diagnostic {
    Diagnostic::new(Code::MF440, "", format!("cannot lock {}: {e}", dir.display()))
        .hint("check that the output folder is a readable folder")
        .at(dir, None)
}

/// Takes the shared lock `check` holds while it reads `dir`; `None` when
/// `dir` does not exist (there is nothing to read, so nothing to wait for).
pub fn lock_for_reading(dir: &Path) -> Result<Option<FolderLock>, Diagnostic> {
    loop {
        if !dir.is_dir() {
            return Ok(None);
        }
        if let Some(lock) = lock_folder(dir, false)? {
            return Ok(Some(lock));
        }
    }
}

/// What a staging temporary is called: `.<name>.meshfed-tmp` beside `<name>`.
const TMP_SUFFIX: &str = ".meshfed-tmp";

/// The temporaries a run of meshfed stages in `dir` and its cluster folders,
/// sorted: after a run ends, any left are from a run that was killed.
pub fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let is_tmp = |name: &str| name.starts_with('.') && name.ends_with(TMP_SUFFIX);
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_file() && is_tmp(&name) {
            found.push(entry.path());
        } else if kind.is_dir() {
            let Ok(inner) = std::fs::read_dir(entry.path()) else {
                continue;
            };
            found.extend(
                inner
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                    .filter(|e| is_tmp(&e.file_name().to_string_lossy()))
                    .map(|e| e.path()),
            );
        }
    }
    found.sort();
    found
}

/// The writer of the run in progress, for the signal thread.
static ACTIVE: Mutex<Option<Arc<Shared>>> = Mutex::new(None);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// SIGINT, SIGTERM or SIGHUP (`interrupt::install`): while staging, removes
/// everything the run staged or created and lets the process die; once the
/// renames have begun, lets them finish (they take milliseconds, and
/// stopping halfway would leave exactly the mixed tree the staging avoids).
fn interrupted() -> bool {
    let Some(shared) = lock(&ACTIVE).clone() else {
        return true;
    };
    let mut phase = shared.phase.write().unwrap_or_else(|e| e.into_inner());
    match *phase {
        Phase::Staging => {
            *phase = Phase::Closed;
            shared.remove_staged();
            true
        }
        Phase::Closed => true,
        Phase::Committing => false,
    }
}

/// `generate -o` cluster by cluster: each cluster's files are checked
/// against the manifest and staged as temporary siblings as soon as the
/// cluster is rendered (so memory holds one cluster's output per thread, not
/// the whole tree); `finish` renames everything into place, manifest last,
/// then removes stale files; `abort` removes every trace. Nothing is renamed
/// while any file conflicts, so an error anywhere leaves the tree as it was.
/// The folder stays locked while the writer lives.
pub struct TreeWriter {
    shared: Arc<Shared>,
    _lock: FolderLock,
}

/// What the signal thread needs to clean up after the run.
struct Shared {
    own: Ownership,
    /// The output folder did not exist: `abort` removes it again.
    new_root: bool,
    state: Mutex<Staged>,
    /// Read-held while a file is staged, write-held to commit or to clean
    /// up, so a signal never removes a file being renamed and never misses
    /// one being written.
    phase: RwLock<Phase>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Staging,
    /// Aborted or interrupted: nothing more may be staged.
    Closed,
    /// Renaming into place: runs to the end.
    Committing,
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

impl Shared {
    fn state(&self) -> MutexGuard<'_, Staged> {
        lock(&self.state)
    }

    /// Removes everything staged and every folder this run created.
    fn remove_staged(&self) {
        let state = std::mem::take(&mut *self.state());
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
}

impl TreeWriter {
    /// Creates `dir` if need be, locks it (waiting for another run), removes
    /// the temporaries a killed run left and reads the manifest.
    pub fn new(dir: &Path) -> Result<Self, Diagnostic> {
        let (new_root, folder_lock) = loop {
            let new_root = !dir.exists();
            std::fs::create_dir_all(dir).map_err(|e| io_error(dir, &e))?;
            if let Some(l) = lock_folder(dir, true)? {
                break (new_root, l);
            }
        };
        for tmp in temporaries(dir) {
            std::fs::remove_file(&tmp).map_err(|e| io_error(&tmp, &e))?;
        }
        let own = match Ownership::read(dir) {
            Ok(own) => own,
            Err(d) => {
                if new_root {
                    let _ = std::fs::remove_dir(dir);
                }
                return Err(d);
            }
        };
        let shared = Arc::new(Shared {
            own,
            new_root,
            state: Mutex::new(Staged::default()),
            phase: RwLock::new(Phase::Staging),
        });
        *lock(&ACTIVE) = Some(Arc::clone(&shared));
        Ok(TreeWriter {
            shared,
            _lock: folder_lock,
        })
    }

    /// Checks and stages one cluster's files. Conflicts are collected (all of
    /// them are reported by `finish`); an I/O error, or a signal, stops the
    /// run at once.
    pub fn stage(&self, federation: &str, cluster: &str, files: &ClusterOutput) -> Result<(), Diagnostic> {
        let shared = &self.shared;
        let cdir = shared.own.dir.join(cluster);
        {
            let _phase = self.staging()?;
            if !cdir.exists() {
                std::fs::create_dir_all(&cdir).map_err(|e| io_error(&cdir, &e))?;
                shared.state().created_dirs.push(cdir.clone());
            }
        }
        for (name, file) in files {
            if let Some(d) = shared.own.conflict(federation, cluster, name, files) {
                shared.state().conflicts.push(d);
                continue;
            }
            let target = cdir.join(name);
            let _phase = self.staging()?;
            // An unchanged file is left alone: no write, and its mtime stays.
            let unchanged = std::fs::read(&target).is_ok_and(|old| old == file.text.as_bytes());
            let staged = if unchanged {
                None
            } else {
                Some(stage(&target, file.text.as_bytes())?)
            };
            let mut state = shared.state();
            state.written.insert(format!("{cluster}/{name}"));
            if let Some(tmp) = staged {
                state.files.push((tmp, target));
            }
        }
        shared.state().clusters.insert(cluster.to_owned());
        Ok(())
    }

    /// The phase, read-held, while the run is still staging; an error once
    /// it was interrupted (the signal thread is then ending the process).
    fn staging(&self) -> Result<RwLockReadGuard<'_, Phase>, Diagnostic> {
        let phase = self.shared.phase.read().unwrap_or_else(|e| e.into_inner());
        if *phase == Phase::Staging {
            Ok(phase)
        } else {
            Err(Diagnostic::new(Code::MF441, "", "interrupted; nothing was written")
                .hint("run generate again")
                .at(&self.shared.own.dir, None))
        }
    }

    /// Removes everything staged and every folder this run created.
    pub fn abort(self) {
        let mut phase = self.shared.phase.write().unwrap_or_else(|e| e.into_inner());
        *phase = Phase::Closed;
        self.shared.remove_staged();
    }

    /// Puts every staged file in place, writes the manifest and removes
    /// stale files; or, with any conflict, removes what was staged and
    /// reports every conflict.
    pub fn finish(self, filtered: bool) -> Result<(), Vec<Diagnostic>> {
        let shared = Arc::clone(&self.shared);
        let mut phase = shared.phase.write().unwrap_or_else(|e| e.into_inner());
        if *phase != Phase::Staging {
            // Interrupted: the signal thread cleaned up and ends the process.
            return Err(vec![Diagnostic::new(
                Code::MF441,
                "",
                "interrupted; nothing was written",
            )
            .at(&shared.own.dir, None)]);
        }
        let mut state = std::mem::take(&mut *shared.state());
        if !state.conflicts.is_empty() {
            let mut conflicts = std::mem::take(&mut state.conflicts);
            conflicts.sort_by(|a, b| a.location.cmp(&b.location));
            *shared.state() = state;
            *phase = Phase::Closed;
            shared.remove_staged();
            return Err(conflicts);
        }
        let dir = shared.own.dir.clone();
        let (stale, manifest) = shared.own.settle(&state.written, &state.clusters, filtered);
        let manifest_path = dir.join(MANIFEST);
        if std::fs::read(&manifest_path).map_or(true, |old| old != manifest.as_bytes()) {
            match stage(&manifest_path, manifest.as_bytes()) {
                // The manifest goes last so that, should a rename fail, the old
                // record (which still lists every old file) stays in place.
                Ok(tmp) => state.files.push((tmp, manifest_path)),
                Err(d) => {
                    *shared.state() = state;
                    *phase = Phase::Closed;
                    shared.remove_staged();
                    return Err(vec![d]);
                }
            }
        }
        *phase = Phase::Committing;
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

impl Drop for TreeWriter {
    fn drop(&mut self) {
        let mut active = lock(&ACTIVE);
        if active.as_ref().is_some_and(|a| Arc::ptr_eq(a, &self.shared)) {
            *active = None;
        }
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
    let tmp = dir.join(format!(".{name}{TMP_SUFFIX}"));
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
    Diagnostic::new(Code::MF303, "", format!("cannot write {}: {e}", path.display()))
        .hint("check that the output folder is writable")
        .at(path, None)
}
