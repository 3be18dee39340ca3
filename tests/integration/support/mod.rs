//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod bin;
pub mod istio_crd;
pub mod pki;
pub mod tools;
