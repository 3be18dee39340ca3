//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod bin;
pub mod golden;
pub mod istio_crd;
pub mod pki;
pub mod scenarios;
pub mod tools;
pub mod tree;
