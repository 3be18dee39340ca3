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
//! `check` a shared one; a second run waits for the first (`lock`), and
//! says so once through the caller's `Notify`, which the CLI prints as a
//! note (honouring `--quiet` and `--format`; `cli::report`).
//! Ctrl-C, SIGTERM or SIGHUP while staging removes every temporary (files,
//! and new cluster folders staged whole) and the output folder if the run
//! made it (`interrupted`); temporaries a killed run left behind are removed by
//! the next `generate` and reported by `check` (`temporaries`).
//!
//! Files: `manifest` (the record, `Ownership`, `plan`), `adopt` (files
//! meshfed recognises as its own), `lock` (the folder lock), `writer`
//! (`TreeWriter`, staging, signals, `write_atomic`). Nothing else in the
//! crate writes files.

mod adopt;
mod lock;
mod manifest;
mod writer;

use std::path::Path;

use crate::diagnostics::{Checked, Diagnostics};
use crate::load::SpecSource;
use crate::pipeline::{self, RenderOptions};

pub use lock::{lock_for_reading, Notify};
pub use manifest::plan;
use writer::interrupted;
use writer::TreeWriter;
pub use writer::{create_parent, temporaries, write_atomic};

/// `generate SPEC -o DIR`: renders cluster by cluster straight into a
/// `TreeWriter`. The warnings on success; every problem otherwise, with
/// nothing written. Takes over SIGINT, SIGTERM and SIGHUP for the rest of
/// the process (`interrupt::install`), to clean up on them.
pub fn generate_tree(src: &SpecSource, dir: &Path, opts: &RenderOptions, notify: Notify) -> Checked<()> {
    // Before any thread starts: they inherit the blocked signals.
    crate::interrupt::install(interrupted);
    let writer = TreeWriter::new(dir, notify).map_err(Diagnostics::from)?;
    let staged = pipeline::render_each(src, opts, |federation, cluster, files| {
        writer.stage(federation, cluster, &files)
    });
    match staged {
        Ok(((), warnings)) => writer
            .finish(!opts.clusters.is_empty())
            .map(|()| ((), warnings.clone()))
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
