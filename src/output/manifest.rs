//! The manifest (`.meshfed-manifest`): what meshfed owns below an output
//! folder (`Ownership`), and the tree `generate -o DIR` will leave there
//! (`plan`), which `check` compares with.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::adopt::adopts;
use crate::diagnostics::{Code, Diagnostic};
use crate::pipeline::Rendered;
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
pub(super) struct Ownership {
    pub(super) dir: PathBuf,
    recorded: BTreeSet<String>,
}

impl Ownership {
    pub(super) fn read(dir: &Path) -> Result<Self, Diagnostic> {
        Ok(Ownership {
            dir: dir.to_path_buf(),
            recorded: read_manifest(dir)?,
        })
    }

    /// MF401 when `cluster/name` exists, the manifest does not list it and
    /// it is not recognisably meshfed's (`adopts`). `files` is everything
    /// this run writes in that cluster's folder.
    pub(super) fn conflict(
        &self,
        federation: &str,
        cluster: &str,
        name: &str,
        files: &ClusterOutput,
    ) -> Option<Diagnostic> {
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
    pub(super) fn settle(
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
