//! `meshfed import deckhouse`: golden entry, the root CA written as
//! canonical PEM, a hostname that does not parse, a bad gateway address and
//! port, and the imported entry working in a real spec.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::golden;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn import(case: &str, dir: &Path) -> Output {
    let case_dir = root().join("testdata/deckhouse").join(case);
    Command::new(env!("CARGO_BIN_EXE_meshfed"))
        .args([
            "import",
            "deckhouse",
            "--name",
            "gamma",
            "--root-out",
            "certs/gamma.pem",
            "--public",
        ])
        .arg(case_dir.join("public.json"))
        .arg("--private")
        .arg(case_dir.join("private.json"))
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn imports_a_cluster_entry_and_its_root() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("certs")).unwrap();
    let o = import("ok", tmp.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    golden::assert_file(
        &root().join("testdata/deckhouse/ok/expected.yaml"),
        &String::from_utf8(o.stdout).unwrap(),
    );
    // The published root, written out canonical (it was canonical already).
    let written = std::fs::read_to_string(tmp.path().join("certs/gamma.pem")).unwrap();
    assert_eq!(
        written,
        std::fs::read_to_string(root().join("testdata/certs/gamma.example.pem")).unwrap()
    );
}

/// Imports a case that must fail: exit 1, nothing on stdout, no root file
/// written. Returns stderr.
fn import_fails(case: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("certs")).unwrap();
    let o = import(case, tmp.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    assert!(!tmp.path().join("certs/gamma.pem").exists(), "no root file on error");
    String::from_utf8(o.stderr).unwrap()
}

#[test]
fn a_hostname_that_does_not_parse_is_named_and_nothing_is_written() {
    let stderr = import_fails("bad-hostname");
    assert!(stderr.contains("error[MF607] publicServices[2].hostname"), "{stderr}");
    assert!(stderr.contains("legacy.svc.gamma.example"), "{stderr}");
}

#[test]
fn a_bad_gateway_address_and_port_are_named_with_what_to_give() {
    let stderr = import_fails("bad-gateway");
    let line = |path: &str| {
        stderr
            .lines()
            .find(|l| l.contains(&format!("error[MF604] {path}")))
            .unwrap_or_else(|| panic!("no MF604 at {path}: {stderr}"))
            .to_owned()
    };
    assert!(
        line("ingressGateways[0].address").contains("public IP or DNS name"),
        "{stderr}"
    );
    assert!(line("ingressGateways[1].port").contains("1 to 65535"), "{stderr}");
}

#[test]
fn the_imported_entry_federates_with_a_meshfed_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("certs")).unwrap();
    let o = import("ok", tmp.path());
    assert!(o.status.success());
    let entry = String::from_utf8(o.stdout).unwrap();
    std::fs::copy(
        root().join("examples/seed/certs/cluster-a.pem"),
        tmp.path().join("certs/cluster-a.pem"),
    )
    .unwrap();
    let indented: String = entry.lines().map(|l| format!("  {l}\n")).collect();
    let spec = format!(
        "apiVersion: meshfed.io/v1alpha1\nkind: MeshFederation\nmetadata:\n  name: mixed\nspec:\n  clusters:\n  \
         - name: cluster-a\n    domain: cluster-a.local\n    rootCA:\n      files: [certs/cluster-a.pem]\n{indented}"
    );
    std::fs::write(tmp.path().join("federation.yaml"), spec).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_meshfed"))
        .args(["generate", "federation.yaml", "--cluster", "cluster-a"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stream = String::from_utf8(out.stdout).unwrap();
    assert!(stream.contains("- api.web.svc.gamma.example"), "{stream}");
    // One gateway address is a DNS name, so the import resolves by DNS.
    assert!(stream.contains("resolution: DNS"), "{stream}");
    assert!(stream.contains("address: gw.gamma.example.com"), "{stream}");
}
