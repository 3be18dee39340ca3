//! The whole pipeline in one call: spec file in, every selected cluster's
//! files out, with all diagnostics. Every front end (CLI, KRM function,
//! kustomize plugin) goes through here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::load::{self, SpecSource};
use crate::model::{self, BuildOptions, ClusterPlan, Federation};
use crate::render::{ClusterOutput, Renderer};

#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    pub build: BuildOptions,
    /// Only these clusters; empty means all.
    pub clusters: Vec<String>,
    pub templates: Option<PathBuf>,
}

/// What a successful run produced; `diagnostics` holds its warnings.
pub struct Rendered {
    pub federation: Federation,
    /// Cluster name → its files.
    pub clusters: BTreeMap<String, ClusterOutput>,
    pub diagnostics: Diagnostics,
}

/// Loads, checks and renders. On any error: every diagnostic, nothing rendered.
pub fn render_file(spec: &Path, opts: &RenderOptions) -> Result<Rendered, Diagnostics> {
    let src = SpecSource::read(spec).map_err(one)?;
    render_source(&src, opts)
}

pub fn render_source(src: &SpecSource, opts: &RenderOptions) -> Result<Rendered, Diagnostics> {
    let (federation, diagnostics, renderer) = prepare(src, opts)?;
    let mut clusters = BTreeMap::new();
    for cluster in selected(&federation, opts) {
        clusters.insert(
            cluster.name.clone(),
            renderer.cluster(&federation, cluster).map_err(one)?,
        );
    }
    Ok(Rendered {
        federation,
        clusters,
        diagnostics,
    })
}

/// Renders cluster by cluster and hands each one's files to `sink`, which
/// owns them from then on: memory holds the plan and the clusters being
/// rendered, never every cluster's output at once. Clusters are rendered on
/// as many threads as the machine has cores; `sink` may be called in any
/// order. On error, the error of the first cluster (in name order) that
/// failed, as `render_source` would report it. On success, the warnings.
pub fn render_each<F>(src: &SpecSource, opts: &RenderOptions, sink: F) -> Result<Diagnostics, Diagnostics>
where
    F: Fn(&str, ClusterOutput) -> Result<(), Diagnostic> + Sync,
{
    let (federation, diagnostics, renderer) = prepare(src, opts)?;
    let clusters: Vec<&ClusterPlan> = selected(&federation, opts).collect();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let work = || {
        let mut errors = Vec::new();
        while !failed.load(Ordering::Relaxed) {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(cluster) = clusters.get(i) else { break };
            let done = renderer
                .cluster(&federation, cluster)
                .and_then(|files| sink(&cluster.name, files));
            if let Err(d) = done {
                // Clusters are taken in order, so every cluster before this one
                // is already taken and finishes: the first error is always found.
                failed.store(true, Ordering::Relaxed);
                errors.push((i, d));
            }
        }
        errors
    };
    // A thread (and its malloc arena) costs about a millisecond: only worth it
    // when there are hundreds of objects to render.
    let objects: usize = clusters.iter().map(|c| c.imports.len() + 1).sum();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(clusters.len())
        .min(1 + objects / 256);
    let mut errors: Vec<(usize, Diagnostic)> = if workers <= 1 {
        work()
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers).map(|_| scope.spawn(work)).collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    };
    errors.sort_by_key(|(i, _)| *i);
    match errors.into_iter().next() {
        Some((_, d)) => Err(one(d)),
        None => Ok(diagnostics),
    }
}

/// The checked plan, its warnings and the template set, or every problem.
fn prepare(src: &SpecSource, opts: &RenderOptions) -> Result<(Federation, Diagnostics, Renderer), Diagnostics> {
    let (federation, mut diagnostics) = validate_source(src, opts)?;
    for name in &opts.clusters {
        if !federation.clusters.iter().any(|c| &c.name == name) {
            diagnostics.push(
                Diagnostic::error(
                    "MF130",
                    "spec.clusters",
                    format!("--cluster {name}: no such cluster in the federation"),
                )
                .hint(format!("pick one of: {}", cluster_names(&federation)))
                .at(&src.file, None),
            );
        }
    }
    if diagnostics.has_errors() {
        return Err(diagnostics);
    }
    let renderer = Renderer::new(opts.templates.as_deref()).map_err(one)?;
    Ok((federation, diagnostics, renderer))
}

fn selected<'a>(fed: &'a Federation, opts: &'a RenderOptions) -> impl Iterator<Item = &'a ClusterPlan> {
    fed.clusters
        .iter()
        .filter(|c| opts.clusters.is_empty() || opts.clusters.contains(&c.name))
}

/// Every check, no rendering: the plan and its warnings, or every problem.
pub fn validate_source(src: &SpecSource, opts: &RenderOptions) -> Result<(Federation, Diagnostics), Diagnostics> {
    let spec = load::load_spec(src)?;
    match model::build(&spec, src, &opts.build) {
        (Some(fed), diags) if !diags.has_errors() => Ok((fed, diags)),
        (_, diags) => Err(diags),
    }
}

fn cluster_names(fed: &Federation) -> String {
    fed.clusters
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn one(d: Diagnostic) -> Diagnostics {
    let mut diags = Diagnostics::new();
    diags.push(d);
    diags
}

/// The applied objects of the given clusters as one multi-document stream.
pub fn stream(rendered: &Rendered) -> String {
    let mut out = String::new();
    for files in rendered.clusters.values() {
        for file in files.values().filter(|f| f.applied) {
            for doc in file.text.split_inclusive("\n---\n") {
                out.push_str("---\n");
                out.push_str(doc.strip_suffix("---\n").unwrap_or(doc));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{write_tree, StagedTree};

    fn seed() -> SpecSource {
        SpecSource::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed/federation.yaml")).unwrap()
    }

    fn read_tree(dir: &Path) -> BTreeMap<PathBuf, String> {
        let mut files = BTreeMap::new();
        for cluster in std::fs::read_dir(dir).unwrap() {
            for file in std::fs::read_dir(cluster.unwrap().path()).unwrap() {
                let path = file.unwrap().path();
                let text = std::fs::read_to_string(&path).unwrap();
                files.insert(path.strip_prefix(dir).unwrap().to_owned(), text);
            }
        }
        files
    }

    #[test]
    fn cluster_by_cluster_writes_what_all_at_once_writes() {
        let src = seed();
        let opts = RenderOptions::default();
        let tmp = tempfile::tempdir().unwrap();
        let (whole, staged) = (tmp.path().join("whole"), tmp.path().join("staged"));
        write_tree(&whole, &render_source(&src, &opts).unwrap()).unwrap();
        let tree = StagedTree::new(&staged);
        render_each(&src, &opts, |cluster, files| tree.stage(cluster, &files)).unwrap();
        tree.commit().unwrap();
        assert_eq!(read_tree(&whole), read_tree(&staged));

        // Again over its own output: a changed file is put right, the rest left alone.
        std::fs::write(staged.join("cluster-a/gateway.yaml"), "changed\n").unwrap();
        let tree = StagedTree::new(&staged);
        render_each(&src, &opts, |cluster, files| tree.stage(cluster, &files)).unwrap();
        tree.commit().unwrap();
        assert_eq!(read_tree(&whole), read_tree(&staged));
    }

    #[test]
    fn a_broken_template_leaves_nothing_behind() {
        let src = seed();
        let tmp = tempfile::tempdir().unwrap();
        let templates = tmp.path().join("templates");
        std::fs::create_dir(&templates).unwrap();
        std::fs::write(templates.join("gateway.yaml"), "kind: [unclosed\n").unwrap();
        let opts = RenderOptions {
            templates: Some(templates),
            ..RenderOptions::default()
        };
        let out = tmp.path().join("out");
        let tree = StagedTree::new(&out);
        let err = render_each(&src, &opts, |cluster, files| tree.stage(cluster, &files)).unwrap_err();
        drop(tree);
        let first = err.iter().next().unwrap();
        assert_eq!(first.code, "MF302");
        // The same error render_source reports, and no folder or temporary file left.
        let whole = render_source(&src, &opts).err().unwrap();
        assert_eq!(whole.iter().next().unwrap().to_string(), first.to_string());
        assert!(!out.exists());
    }
}
