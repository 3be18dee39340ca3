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
    import_with(case, dir, &["--root-out", "certs/gamma.pem"])
}

fn import_with(case: &str, dir: &Path, extra: &[&str]) -> Output {
    let case_dir = root().join("testdata/deckhouse").join(case);
    Command::new(env!("CARGO_BIN_EXE_meshfed"))
        .args(["import", "deckhouse", "--name", "gamma"])
        .args(extra)
        .arg("--public")
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
    // At the line of the field in the private document.
    let private = root().join("testdata/deckhouse/bad-hostname/private.json");
    assert!(
        stderr.contains(&format!(
            "error[MF607] publicServices[2].hostname ({}:36)",
            private.display()
        )),
        "{stderr}"
    );
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
    // Pasted as is: the entry comes indented as an item of spec.clusters.
    let spec = format!(
        "apiVersion: meshfed.io/v1alpha1\nkind: MeshFederation\nmetadata:\n  name: mixed\nspec:\n  clusters:\n  \
         - name: cluster-a\n    domain: cluster-a.local\n    rootCA:\n      files: [certs/cluster-a.pem]\n{entry}"
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

/// `--root-out` makes missing folders; the entry names it relative to
/// `--spec-dir` and says so; an existing different file is refused (MF613)
/// and left as it was unless `--force`; the same content is no conflict.
#[test]
fn root_out_makes_folders_names_the_file_from_the_spec_dir_and_never_clobbers() {
    let tmp = tempfile::tempdir().unwrap();
    let args = ["--root-out", "fed/certs/gamma.pem", "--spec-dir", "fed"];
    let o = import_with("ok", tmp.path(), &args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let entry = String::from_utf8(o.stdout).unwrap();
    assert!(entry.contains("\n      - certs/gamma.pem\n"), "{entry}");
    assert!(
        entry.contains("# rootCA.files: certs/gamma.pem is relative to the spec's folder: fed (--spec-dir)"),
        "{entry}"
    );
    let written = tmp.path().join("fed/certs/gamma.pem");
    let root_pem = std::fs::read_to_string(root().join("testdata/certs/gamma.example.pem")).unwrap();
    assert_eq!(std::fs::read_to_string(&written).unwrap(), root_pem);

    // The same content again: fine.
    assert!(import_with("ok", tmp.path(), &args).status.success());

    // Something else there: refused and untouched, nothing printed.
    std::fs::write(&written, "my notes\n").unwrap();
    let o = import_with("ok", tmp.path(), &args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(o.stdout.is_empty());
    assert!(stderr.contains("error[MF613] --root-out"), "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&written).unwrap(), "my notes\n");

    let forced: Vec<&str> = args.iter().copied().chain(["--force"]).collect();
    assert!(import_with("ok", tmp.path(), &forced).status.success());
    assert_eq!(std::fs::read_to_string(&written).unwrap(), root_pem);

    // Without --spec-dir the working directory is the spec folder.
    let o = import_with("ok", tmp.path(), &["--root-out", "fed/certs/gamma.pem"]);
    let entry = String::from_utf8(o.stdout).unwrap();
    assert!(entry.contains("\n      - fed/certs/gamma.pem\n"), "{entry}");
    assert!(
        entry.contains("the spec's folder: the working directory (--spec-dir)"),
        "{entry}"
    );
}

/// A `--root-out` whose folder cannot be made (a file stands in the way):
/// MF303 saying so, exit 1, and no entry on stdout, since the entry would
/// name a file that is not there.
#[test]
fn a_root_out_that_cannot_be_written_prints_no_entry() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("certs"), "a file, not a folder\n").unwrap();
    let o = import_with("ok", tmp.path(), &["--root-out", "certs/sub/gamma.pem"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(o.stdout.is_empty(), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(stderr.contains("error[MF303]"), "{stderr}");
    assert!(stderr.contains("cannot create the folder certs/sub"), "{stderr}");
    assert!(stderr.contains("the folder of --root-out can be made"), "{stderr}");
}

/// Swapped `--public` and `--private` are named as such, at the line of
/// the field that gave them away.
#[test]
fn swapped_documents_are_recognised() {
    let tmp = tempfile::tempdir().unwrap();
    let case_dir = root().join("testdata/deckhouse/ok");
    let o = Command::new(env!("CARGO_BIN_EXE_meshfed"))
        .args(["import", "deckhouse", "--name", "gamma", "--public"])
        .arg(case_dir.join("private.json"))
        .arg("--private")
        .arg(case_dir.join("public.json"))
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    let private = case_dir.join("private.json");
    assert!(
        stderr.contains(&format!(
            "error[MF611] ({}:2): this looks like the private federation document, given as --public; swap the files of --public and --private",
            private.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("this looks like the public federation document, given as --private"),
        "{stderr}"
    );
    assert!(!stderr.contains("MF602"), "{stderr}");
}

/// A cluster that uses cluster.local imports, with a warning carrying
/// MF115's advice (the spec will refuse it).
#[test]
fn a_cluster_local_domain_is_a_warning_at_import() {
    let tmp = tempfile::tempdir().unwrap();
    let o = import("cluster-local", tmp.path());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("warning[MF612] publicServices"))
        .unwrap_or_else(|| panic!("no MF612: {stderr}"));
    assert!(
        line.contains("give the cluster its own domain, e.g. gamma.local"),
        "{line}"
    );
    assert!(line.contains("MF115"), "{line}");
}

/// A problem with the published root CA stands at the line of `rootCA` in
/// the public document (the PEM's own lines mean nothing there).
#[test]
fn a_root_ca_problem_carries_the_line_of_root_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let public = std::fs::read_to_string(root().join("testdata/deckhouse/ok/public.json")).unwrap();
    let start = public.find("\"rootCA\": \"").unwrap() + "\"rootCA\": \"".len();
    let end = start + public[start..].find('"').unwrap();
    let broken = format!("{}not a certificate{}", &public[..start], &public[end..]);
    std::fs::write(tmp.path().join("public.json"), broken).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_meshfed"))
        .args([
            "import",
            "deckhouse",
            "--name",
            "gamma",
            "--public",
            "public.json",
            "--private",
        ])
        .arg(root().join("testdata/deckhouse/ok/private.json"))
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error[MF216] rootCA (public.json:3): the published root CA holds no PEM block"),
        "{stderr}"
    );
}
