//! `meshfed graph`: golden output in both formats, and the DOT output is
//! fed to the real Graphviz where it is installed (scripts/test.sh installs
//! it; in CI its absence is a failure).

use std::path::PathBuf;
use std::process::Command;

use crate::support::{golden, scenarios};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn graph(spec: &str, format: &str) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_meshfed"))
        .args(["graph", spec, "--format", format])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// Each scenario's graphs: `testdata/generate/<case>/graph.{mmd,dot}`.
#[test]
fn graphs_are_golden() {
    for scenario in scenarios::all() {
        for (format, ext) in [("mermaid", "mmd"), ("dot", "dot")] {
            let actual = graph(scenario.spec.to_str().unwrap(), format);
            golden::assert_file(&scenario.dir.join(format!("graph.{ext}")), &actual);
        }
    }
}

#[test]
fn import_edges_follow_the_exports() {
    // three-clusters: catalog is exported only to north; search to everyone;
    // ledger only to east; gamma exports nothing.
    let dot = graph("testdata/generate/three-clusters/federation.yaml", "dot");
    assert!(
        dot.contains("\"north\" -> \"east\" [label=\"catalog.shop\\nsearch.shop\"]"),
        "{dot}"
    );
    assert!(dot.contains("\"gamma\" -> \"east\" [label=\"search.shop\"]"), "{dot}");
    assert!(dot.contains("\"east\" -> \"north\" [label=\"ledger.bank\"]"), "{dot}");
    assert!(!dot.contains("-> \"gamma\" [label"), "nobody imports from gamma: {dot}");
    // gamma and north never deal with each other, so they do not trust each other.
    assert!(
        !dot.contains("\"gamma\" -> \"north\"") && !dot.contains("\"north\" -> \"gamma\""),
        "{dot}"
    );
}

#[test]
fn graphviz_accepts_the_dot_output() {
    let Some(graphviz) = crate::support::tools::required("dot", "check the DOT output with Graphviz") else {
        return;
    };
    for scenario in scenarios::all() {
        let dot = graph(scenario.spec.to_str().unwrap(), "dot");
        let mut child = Command::new(&graphviz)
            .arg("-Tsvg")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), dot.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "Graphviz rejected the DOT: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"), "no SVG came out");
    }
}

/// `graph` needs names, not certificates: with one root expired and one
/// missing it still draws every cluster and edge (the same as with good
/// roots), and prints the certificate problems as warnings, exit 0.
#[test]
fn a_federation_with_expired_and_missing_roots_is_still_drawn() {
    use crate::support::pki::{CertSpec, Pki};
    let tmp = tempfile::tempdir().unwrap();
    let spec_dir = tmp.path().join("a/b");
    std::fs::create_dir_all(&spec_dir).unwrap();
    std::fs::create_dir_all(tmp.path().join("certs")).unwrap();
    std::fs::copy(
        root().join("testdata/generate/three-clusters/federation.yaml"),
        spec_dir.join("federation.yaml"),
    )
    .unwrap();
    // east: expired; north: missing; gamma: good.
    let mut pki = Pki::new();
    let mut expired = CertSpec::root("east expired");
    expired.start = "20000101000000Z".into();
    expired.end = Some("20010101000000Z".into());
    std::fs::write(
        tmp.path().join("certs/east.example.pem"),
        pki.issue(&expired, None).cert_pem,
    )
    .unwrap();
    std::fs::copy(
        root().join("testdata/certs/gamma.example.pem"),
        tmp.path().join("certs/gamma.example.pem"),
    )
    .unwrap();

    let o = Command::new(env!("CARGO_BIN_EXE_meshfed"))
        .args(["graph", "federation.yaml", "--format", "dot"])
        .current_dir(&spec_dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning[MF208] spec.clusters[0].rootCA.files[0]"),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning[MF201] spec.clusters[1].rootCA.files[0]"),
        "{stderr}"
    );
    assert!(!stderr.contains("error["), "{stderr}");
    let dot = String::from_utf8(o.stdout).unwrap();
    assert_eq!(
        dot,
        graph("testdata/generate/three-clusters/federation.yaml", "dot"),
        "the drawing differs from the one with good roots"
    );
}

#[test]
fn a_global_service_is_one_node_served_by_every_exporter() {
    // global-dns: east and west export checkout globally (west only to north).
    let dot = graph("testdata/generate/global-dns/federation.yaml", "dot");
    assert_eq!(
        dot.matches("\"checkout.shop.mesh.example.com\" [shape=ellipse").count(),
        1,
        "{dot}"
    );
    for exporter in ["east", "west"] {
        assert!(
            dot.contains(&format!(
                "\"{exporter}\" -> \"checkout.shop.mesh.example.com\" [style=bold"
            )),
            "{dot}"
        );
    }
    assert!(
        !dot.contains("\"north\" -> \"checkout.shop.mesh"),
        "north only imports it: {dot}"
    );
    let mermaid = graph("testdata/generate/global-dns/federation.yaml", "mermaid");
    assert_eq!(mermaid.matches("==>|global| g0").count(), 2, "{mermaid}");
}
