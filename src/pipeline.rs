//! The whole pipeline in one call: spec file in, every selected cluster's
//! files out, with all diagnostics. Every front end (CLI, KRM function,
//! kustomize plugin) goes through here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::load::{self, SpecSource};
use crate::model::{self, BuildOptions, Federation};
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
    let federation = validate_source(src, opts)?;
    let (federation, mut diagnostics) = federation;
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
    let mut clusters = BTreeMap::new();
    for cluster in &federation.clusters {
        if opts.clusters.is_empty() || opts.clusters.contains(&cluster.name) {
            clusters.insert(
                cluster.name.clone(),
                renderer.cluster(&federation, cluster).map_err(one)?,
            );
        }
    }
    Ok(Rendered {
        federation,
        clusters,
        diagnostics,
    })
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
