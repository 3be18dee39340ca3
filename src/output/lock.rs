//! Runs exclude each other: `flock(2)` on the output folder itself,
//! exclusive for `generate -o`, shared for `check`; a run waits for another
//! (saying so once, through the caller's `notify`) up to
//! `MESHFED_LOCK_TIMEOUT` seconds.

use std::fs::{File, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::diagnostics::{Code, Diagnostic};

/// Where a remark made while a run waits goes: the front end prints it as a
/// note, in the `--format` asked for and not with `--quiet` (`cli::report`).
pub type Notify<'a> = &'a dyn Fn(&str);

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
/// one remark to `notify`) up to `lock_timeout`; MF440 after that. `None` when
/// `dir` was removed or replaced meanwhile (a run that created it failed and
/// removed it again): the caller starts over.
pub(super) fn lock_folder(dir: &Path, exclusive: bool, notify: Notify) -> Result<Option<FolderLock>, Diagnostic> {
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
            return Err(Diagnostic::new(Code::MF440,
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
            notify(&format!(
                "waiting for another meshfed run to finish with {} (up to {} s)",
                dir.display(),
                timeout.as_secs()
            ));
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
pub fn lock_for_reading(dir: &Path, notify: Notify) -> Result<Option<FolderLock>, Diagnostic> {
    loop {
        if !dir.is_dir() {
            return Ok(None);
        }
        if let Some(lock) = lock_folder(dir, false, notify)? {
            return Ok(Some(lock));
        }
    }
}
