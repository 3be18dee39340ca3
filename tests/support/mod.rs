//! Helpers shared by the integration tests; each test target uses some of them.
#![allow(dead_code)]

pub mod istio_crd;
pub mod pki;
