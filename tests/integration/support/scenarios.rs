//! The generate scenarios, found from their folders: each folder of
//! `testdata/generate/` with an `expected/` tree is one. Its spec is the
//! folder's `federation.yaml`, or, when it has none, the bundled example of
//! the same name (`examples/<case>/federation.yaml`, which the README runs).
//! Adding a scenario means adding a folder.

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One golden scenario.
pub struct Scenario {
    pub name: String,
    /// The spec, absolute.
    pub spec: PathBuf,
    /// The folder holding `expected/` (and any other golden of the case).
    pub dir: PathBuf,
}

/// Every scenario, sorted by name.
pub fn all() -> Vec<Scenario> {
    let base = root().join("testdata/generate");
    let mut out: Vec<Scenario> = std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|dir| dir.join("expected").is_dir())
        .map(|dir| {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            let own = dir.join("federation.yaml");
            let spec = if own.is_file() {
                own
            } else {
                root().join("examples").join(&name).join("federation.yaml")
            };
            assert!(spec.is_file(), "scenario {name} has no spec: {}", spec.display());
            Scenario { name, spec, dir }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(out.len() >= 5, "expected the scenarios in {}", base.display());
    out
}

/// The scenario called `name`.
pub fn named(name: &str) -> Scenario {
    all()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no scenario {name}"))
}
