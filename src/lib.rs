//! meshfed: a declarative Istio federation spec in, every cluster's
//! manifests out, offline.
//!
//! The pipeline, in file order: `load` (spec text, the one bounded file
//! reader) → `intake` (every check, and each cluster's root CA sources read
//! and handed to `certs`) → `plan` (pure: every decision, no I/O) →
//! `render` (templates) → `output` / `pipeline::stream` (files or a YAML
//! stream), every YAML text written by `yaml` (YAML-1.1-safe quoting).
//! `cli` is the command-line edge; `diagnostics` carries every problem found.

// A Diagnostic is the error type throughout; errors are the cold path, so
// their size does not matter and boxing them would only add noise.
#![allow(clippy::result_large_err)]

mod certs;
mod cli;
mod deckhouse;
mod diagnostics;
mod drift;
mod exit_codes;
mod graph;
mod inspect;
mod intake;
mod interrupt;
mod krm;
mod line_index;
mod load;
mod naming;
mod nesting;
mod output;
mod pipeline;
mod plan;
mod plugin;
mod render;
mod resource_list;
mod spec;
mod suggest;
mod yaml;

pub use cli::run;

/// What the fuzz targets (`fuzz/`) and the integration tests drive beside
/// the binary; not a stable API. Everything else is private to the crate,
/// so the compiler reports code nothing uses.
#[doc(hidden)]
pub mod internals {
    pub use crate::certs::{intake, intake_spiffe_bundle, CertPolicy, SourceRef};
    pub use crate::diagnostics::{Code, Diagnostic};
    pub use crate::krm::process;
    pub use crate::load::{cut_agrees, load_spec, SpecSource};
    pub use crate::pipeline::RenderOptions;
}
