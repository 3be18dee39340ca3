//! Deep nesting is refused by a linear scan before libyaml sees it (whose
//! time grows with the square of the depth), at every YAML entry point:
//! a megabyte of nested `[` and of nested block mappings, through the real
//! binary; and inputs without end stop at the 64 MiB limit. No timing is
//! asserted (`bench/nesting.sh` measures); before the scan, the `[` case
//! alone took minutes.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::bin;

const MB: usize = 1 << 20;

/// A megabyte of `[`, and a megabyte of block mappings each nested in the last.
fn deep_values() -> [(&'static str, String); 2] {
    let mut block = String::new();
    let mut depth = 2;
    while block.len() < MB {
        block.push_str(&" ".repeat(depth));
        block.push_str("k:\n");
        depth += 1;
    }
    [("flow", "[".repeat(MB)), ("block", format!("\n{block}"))]
}

fn spec_with(value: &str) -> String {
    format!("apiVersion: meshfed.io/v1alpha1\nkind: MeshFederation\nmetadata:\n  name: deep\n  labels: {value}\n")
}

fn refused(what: &str, out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
    assert!(
        stderr.contains("MF003") && stderr.contains("nests deeper than 100 levels"),
        "{what}: {stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{what}: one line: {stderr}");
}

fn run(dir: &Path, args: &[&str], stdin: &str) -> Output {
    bin::run(Some(dir), args, stdin.as_bytes())
}

#[test]
fn the_spec_refuses_deep_nesting() {
    let tmp = tempfile::tempdir().unwrap();
    for (kind, value) in deep_values() {
        std::fs::write(tmp.path().join("federation.yaml"), spec_with(&value)).unwrap();
        refused(kind, &run(tmp.path(), &["validate", "federation.yaml"], ""));
        let out = run(tmp.path(), &["generate", "federation.yaml", "-o", "out"], "");
        refused(kind, &out);
        assert!(!tmp.path().join("out").exists());
    }
}

#[test]
fn krm_stdin_refuses_deep_nesting() {
    let tmp = tempfile::tempdir().unwrap();
    for (kind, value) in deep_values() {
        let list = format!(
            "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  data: {value}\n"
        );
        let out = run(tmp.path(), &["krm"], &list);
        refused(kind, &out);
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn the_plugin_refuses_a_deep_federation() {
    // The member file itself is small (kustomize's copy of it); the
    // federation it names is deep.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("member.yaml"),
        "apiVersion: meshfed.io/v1alpha1\nkind: MeshFederationMember\nmetadata:\n  name: a\nspec:\n  federation: federation.yaml\n",
    )
    .unwrap();
    for (kind, value) in deep_values() {
        std::fs::write(tmp.path().join("federation.yaml"), spec_with(&value)).unwrap();
        refused(kind, &run(tmp.path(), &["member.yaml"], ""));
    }
}

#[test]
fn deckhouse_documents_refuse_deep_nesting() {
    let tmp = tempfile::tempdir().unwrap();
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/deckhouse/ok/public.json");
    let (_, brackets) = &deep_values()[0];
    std::fs::write(
        tmp.path().join("private.json"),
        format!("{{\"ingressGateways\": {brackets}"),
    )
    .unwrap();
    let out = run(
        tmp.path(),
        &[
            "import",
            "deckhouse",
            "--name",
            "gamma",
            "--public",
            case.to_str().unwrap(),
            "--private",
            "private.json",
        ],
        "",
    );
    refused("flow", &out);
    assert!(!tmp.path().join("gamma.pem").exists());
}

#[test]
fn endless_inputs_stop_at_the_size_limit() {
    // Like the spec, KRM stdin and Deckhouse documents are read up to 64 MiB
    // and no further: /dev/zero never ends.
    if !Path::new("/dev/zero").exists() {
        let _ = writeln!(std::io::stderr(), "SKIPPED: no /dev/zero on this system");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let zero = || Stdio::from(std::fs::File::open("/dev/zero").unwrap());
    let krm = Command::new(bin::BIN).arg("krm").stdin(zero()).output().unwrap();
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/deckhouse/ok/public.json");
    let deckhouse = Command::new(bin::BIN)
        .args([
            "import",
            "deckhouse",
            "--name",
            "gamma",
            "--private",
            "/dev/zero",
            "--public",
        ])
        .arg(case)
        .current_dir(tmp.path())
        .output()
        .unwrap();
    for (what, out, code) in [("krm", krm, "MF410"), ("deckhouse", deckhouse, "MF601")] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
        assert!(
            stderr.contains(code) && stderr.contains("larger than"),
            "{what}: {stderr}"
        );
    }
}
