//! `TreeWriter`: `generate -o` stages each cluster's files as temporary
//! siblings (or, for a cluster folder not there yet, the whole folder as a
//! temporary folder) and renames them into place only when every cluster
//! rendered without conflict; signals while staging remove every trace
//! (`interrupted`). Also the one-file form, `write_atomic`.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};

use super::lock::{lock_folder, FolderLock, Notify};
use super::manifest::{Ownership, MANIFEST};
use crate::diagnostics::{Code, Diagnostic};
use crate::render::ClusterOutput;

/// What a staging temporary is called: `.<name>.meshfed-tmp` beside `<name>`
/// (a file, or a cluster folder staged whole).
const TMP_SUFFIX: &str = ".meshfed-tmp";

/// The temporaries a run of meshfed stages in `dir` and its cluster folders
/// (files, and cluster folders staged whole), sorted: after a run ends, any
/// left are from a run that was killed.
pub fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let is_tmp = |name: &str| name.starts_with('.') && name.ends_with(TMP_SUFFIX);
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(kind) = entry.file_type() else { continue };
        if (kind.is_file() || kind.is_dir()) && is_tmp(&name) {
            // A staged file, or a staged cluster folder with its files.
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
pub(super) fn interrupted() -> bool {
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
    /// (temporary, target): a file, or a cluster folder staged whole.
    files: Vec<(PathBuf, PathBuf)>,
    /// Every `cluster/file` this run writes, unchanged ones included.
    written: BTreeSet<String>,
    clusters: BTreeSet<String>,
    conflicts: Vec<Diagnostic>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, Staged> {
        lock(&self.state)
    }

    /// Removes everything staged (cluster folders this run made are staged
    /// whole), and the output folder if this run made it.
    fn remove_staged(&self) {
        let state = std::mem::take(&mut *self.state());
        for (tmp, _) in &state.files {
            let _ = remove_temporary(tmp);
        }
        if self.new_root {
            let _ = std::fs::remove_dir(&self.own.dir);
        }
    }
}

impl TreeWriter {
    /// Creates `dir` if need be, locks it (waiting for another run), removes
    /// the temporaries a killed run left and reads the manifest.
    pub fn new(dir: &Path, notify: Notify) -> Result<Self, Diagnostic> {
        let (new_root, folder_lock) = loop {
            let new_root = !dir.exists();
            std::fs::create_dir_all(dir).map_err(|e| io_error(dir, &e))?;
            if let Some(l) = lock_folder(dir, true, notify)? {
                break (new_root, l);
            }
        };
        for tmp in temporaries(dir) {
            remove_temporary(&tmp).map_err(|e| io_error(&tmp, &e))?;
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
        // A cluster folder that is not there yet is staged whole, as a
        // temporary folder renamed into place at the end: one rename, not
        // one per file (each a directory update, 9 ms for 500 on ext4), and
        // its files hold no earlier content to compare with.
        let fresh = {
            let _phase = self.staging()?;
            match cdir.exists() {
                true => None,
                false => {
                    let tmp = shared.own.dir.join(format!(".{cluster}{TMP_SUFFIX}"));
                    std::fs::create_dir(&tmp).map_err(|e| io_error(&cdir, &e))?;
                    shared.state().files.push((tmp.clone(), cdir.clone()));
                    Some(tmp)
                }
            }
        };
        for (name, file) in files {
            if let Some(d) = shared.own.conflict(federation, cluster, name, files) {
                shared.state().conflicts.push(d);
                continue;
            }
            let target = cdir.join(name);
            let _phase = self.staging()?;
            let staged = match &fresh {
                Some(tmp) => {
                    write_new(&tmp.join(name), file.text.as_bytes()).map_err(|e| io_error(&target, &e))?;
                    None
                }
                // An unchanged file is left alone: no write, and its mtime stays.
                None if std::fs::read(&target).is_ok_and(|old| old == file.text.as_bytes()) => None,
                None => Some(stage(&target, file.text.as_bytes())?),
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
        rename_all(&state.files).map_err(|d| vec![d])?;
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

/// Renames each staged file into place, the last (the manifest, if it
/// changed) only after every other one. A large run's renames are shared
/// between two threads (each of the 500 at 20x100 is a system call to
/// itself). On error, the temporaries not yet renamed are removed and the
/// error of a file that failed is returned (the first half's first).
fn rename_all(files: &[(PathBuf, PathBuf)]) -> Result<(), Diagnostic> {
    let Some((last, rest)) = files.split_last() else {
        return Ok(());
    };
    let failed = AtomicBool::new(false);
    let rename = |part: &[(PathBuf, PathBuf)]| -> Option<Diagnostic> {
        for (tmp, target) in part {
            if failed.load(Ordering::Relaxed) {
                return None;
            }
            if let Err(e) = std::fs::rename(tmp, target) {
                failed.store(true, Ordering::Relaxed);
                return Some(io_error(target, &e));
            }
        }
        None
    };
    let (first, second) = rest.split_at(if rest.len() >= RENAMES_WORTH_A_THREAD {
        rest.len() / 2
    } else {
        rest.len()
    });
    let errors = std::thread::scope(|s| {
        let other = (!second.is_empty()).then(|| std::thread::Builder::new().spawn_scoped(s, || rename(second)));
        let mine = rename(first);
        let theirs = match other {
            Some(Ok(handle)) => handle.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
            // No thread to be had: this one renames the rest.
            Some(Err(_)) => rename(second),
            None => None,
        };
        [mine, theirs]
    });
    let result = match errors.into_iter().flatten().next() {
        Some(d) => Err(d),
        None => std::fs::rename(&last.0, &last.1).map_err(|e| io_error(&last.1, &e)),
    };
    if result.is_err() {
        // Whatever was not renamed is still a temporary: none stays behind.
        for (tmp, _) in files {
            let _ = remove_temporary(tmp);
        }
    }
    result
}

/// Removes a staged file, or a staged cluster folder and what it holds
/// (a link is removed, never followed); nothing if it is gone (renamed
/// into place).
fn remove_temporary(tmp: &Path) -> std::io::Result<()> {
    let removed = match std::fs::symlink_metadata(tmp) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(tmp),
        Ok(_) => std::fs::remove_file(tmp),
        Err(e) => Err(e),
    };
    match removed {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Writes a file that is not there yet (in a staged cluster folder).
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::File::create_new(path).and_then(|mut f| f.write_all(bytes))
}

/// Below this many renames one thread is as quick as two.
const RENAMES_WORTH_A_THREAD: usize = 64;

/// Makes the folders above `path` that are missing (MF303 when it cannot).
pub fn create_parent(path: &Path) -> Result<(), Diagnostic> {
    let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    std::fs::create_dir_all(parent).map_err(|e| {
        Diagnostic::new(
            Code::MF303,
            "",
            format!("cannot create the folder {}: {e}", parent.display()),
        )
        .hint("check that the folder can be made")
        .at(parent, None)
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` staged files in two folders, the manifest's last.
    fn staged(dir: &Path, n: usize) -> Vec<(PathBuf, PathBuf)> {
        let mut files: Vec<_> = (0..n)
            .map(|i| {
                let folder = dir.join(if i < n / 2 { "a" } else { "b" });
                std::fs::create_dir_all(&folder).unwrap();
                let target = folder.join(format!("f{i}.yaml"));
                (stage(&target, format!("{i}\n").as_bytes()).unwrap(), target)
            })
            .collect();
        let manifest = dir.join(MANIFEST);
        files.push((stage(&manifest, b"m\n").unwrap(), manifest));
        files
    }

    fn one_file(text: &str) -> ClusterOutput {
        let file = crate::render::OutputFile {
            text: text.to_owned(),
            applied: true,
        };
        ClusterOutput::from([("a.yaml".to_owned(), file)])
    }

    #[test]
    fn a_new_cluster_folder_is_staged_whole_and_renamed_into_place() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let writer = TreeWriter::new(&out, &|_| {}).unwrap();
        writer.stage("fed", "east", &one_file("a: 1\n")).unwrap();
        assert_eq!(temporaries(&out), vec![out.join(".east.meshfed-tmp")]);
        assert!(!out.join("east").exists(), "the folder appeared before the run ended");
        writer.finish(false).unwrap();
        assert_eq!(std::fs::read_to_string(out.join("east/a.yaml")).unwrap(), "a: 1\n");
        assert_eq!(temporaries(&out), Vec::<PathBuf>::new());
        // The folder is there now: the next run stages file by file.
        let writer = TreeWriter::new(&out, &|_| {}).unwrap();
        writer.stage("fed", "east", &one_file("a: 2\n")).unwrap();
        assert_eq!(temporaries(&out), vec![out.join("east/.a.yaml.meshfed-tmp")]);
        writer.abort();
        assert_eq!(std::fs::read_to_string(out.join("east/a.yaml")).unwrap(), "a: 1\n");
        assert_eq!(temporaries(&out), Vec::<PathBuf>::new());
    }

    #[test]
    fn a_cluster_folder_a_killed_run_staged_is_removed_by_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let staged = dir.path().join(".east.meshfed-tmp");
        std::fs::create_dir_all(&staged).unwrap();
        std::fs::write(staged.join("a.yaml"), "half a fi").unwrap();
        assert_eq!(temporaries(dir.path()), vec![staged.clone()]);
        let writer = TreeWriter::new(dir.path(), &|_| {}).unwrap();
        assert!(!staged.exists());
        writer.abort();
    }

    #[test]
    fn many_renames_on_two_threads_put_every_file_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let files = staged(dir.path(), 3 * RENAMES_WORTH_A_THREAD);
        rename_all(&files).unwrap();
        for (i, (tmp, target)) in files.iter().enumerate() {
            assert!(!tmp.exists(), "{} left", tmp.display());
            let want = if i + 1 == files.len() {
                "m\n".to_owned()
            } else {
                format!("{i}\n")
            };
            assert_eq!(std::fs::read_to_string(target).unwrap(), want);
        }
    }

    #[test]
    fn a_failed_rename_leaves_no_temporary_and_no_new_manifest() {
        for n in [4, 3 * RENAMES_WORTH_A_THREAD] {
            let dir = tempfile::tempdir().unwrap();
            let files = staged(dir.path(), n);
            // A folder that is not empty cannot be renamed over, in either half.
            let blocked = &files[n - 2].1;
            std::fs::create_dir_all(blocked.join("in-the-way")).unwrap();
            let err = rename_all(&files).unwrap_err();
            assert!(err.message.contains(&blocked.display().to_string()), "{}", err.message);
            for (tmp, _) in &files {
                assert!(!tmp.exists(), "{} left", tmp.display());
            }
            assert!(
                !dir.path().join(MANIFEST).exists(),
                "the manifest went in after a failure"
            );
        }
    }
}
