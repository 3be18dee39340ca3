//! meshfed: a declarative Istio federation spec in, every cluster's
//! manifests out, offline.
//!
//! The pipeline, in file order: `load` (spec intake) → `certs` (root CA
//! intake) → `model` (the validated plan) → `render` (templates) →
//! `output` / `pipeline::stream` (files or a YAML stream). `cli` is the
//! command-line edge; `diagnostics` carries every problem found.

pub mod certs;
pub mod cli;
pub mod diagnostics;
pub mod exit_codes;
pub mod inspect;
pub mod load;
pub mod locate;
pub mod model;
pub mod naming;
pub mod output;
pub mod pipeline;
pub mod render;
pub mod spec;
