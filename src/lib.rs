//! meshfed: a declarative Istio federation spec in, every cluster's
//! manifests out, offline.
//!
//! The pipeline, in file order: `load` (spec intake) → `certs` (root CA
//! intake) → `model` (the validated plan) → `render` (templates) →
//! `output` / `pipeline::stream` (files or a YAML stream), every YAML text
//! written by `yaml` (YAML-1.1-safe quoting). `cli` is the
//! command-line edge; `diagnostics` carries every problem found.

// A Diagnostic is the error type throughout; errors are the cold path, so
// their size does not matter and boxing them would only add noise.
#![allow(clippy::result_large_err)]

pub mod certs;
pub mod check;
pub mod cli;
pub mod deckhouse;
pub mod diagnostics;
pub mod exit_codes;
pub mod graph;
pub mod inspect;
pub mod interrupt;
pub mod krm;
pub mod load;
pub mod locate;
pub mod model;
pub mod naming;
pub mod nesting;
pub mod output;
pub mod pipeline;
pub mod plugin;
pub mod render;
pub mod resource_list;
pub mod spec;
pub mod yaml;
