//! Every YAML text meshfed prints reads the same to a YAML 1.1 reader as to
//! a YAML 1.2 one. kubectl and kustomize (go-yaml v2 under sigs.k8s.io/yaml)
//! and PyYAML read `yes`, `on`, `off`, `y`, `~`, `0o17`, `1_000`, `1e3` and
//! `1.0` as booleans, null and numbers; a spec that uses such words as names,
//! labels or networks must still come out as strings.
//!
//! The YAML 1.1 reader here is the real PyYAML (`yaml.safe_load_all`, from
//! the venv `scripts/test.sh` makes); the YAML 1.2 reader is serde_norway.
//! Each output path is checked: `generate -o` (every file, with each
//! installer), the stdout stream, a KRM answer and `import deckhouse`.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{bin, tools};

/// The words a YAML 1.1 reader takes for something other than a string,
/// each placed where a spec lets a user put it.
fn spec(installer: &str, certs: &Path) -> String {
    format!(
        r#"apiVersion: meshfed.io/v1alpha1
kind: MeshFederation
metadata:
  name: "on"
spec:
  istio: {{version: "1.30", installer: {installer}}}
  importNamespace: "y"
  authorization: importers
  clusters:
  - name: "yes"
    domain: yes.example
    network: "off"
    rootCA: {{files: ["{a}"]}}
    gateway:
      addresses: [203.0.113.10]
      selector: {{istio: "yes", "on": "1_000", tier: "2024-01-01"}}
    exports:
    - service: "0o17"
      namespace: "no"
      ports: [{{name: http, port: 8080}}]
      serviceAccounts: ["off"]
      selector: {{app: "1e3", version: "1.0", track: "0x1F"}}
  - name: "no"
    domain: no.example
    network: "1_000"
    rootCA: {{files: ["{b}"]}}
    gateway: {{addresses: [gw.no.example]}}
    exports:
    - service: "1e3"
      namespace: "on"
      ports: [{{name: tcp, port: 9000}}]
      serviceAccounts: ["n"]
      selector: {{app: "true", stage: "null"}}
"#,
        a = certs.join("east.example.pem").display(),
        b = certs.join("west.example.pem").display(),
    )
}

fn certs() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/certs")
}

/// PyYAML's reading of `text` as JSON, or `None` when there is no PyYAML.
fn pyyaml(text: &str) -> Option<serde_json::Value> {
    let python = tools::required("python3", "check output with PyYAML")?;
    let probe = Command::new(&python).args(["-c", "import yaml"]).output().unwrap();
    if !probe.status.success() {
        assert!(
            std::env::var_os("CI").is_none(),
            "PyYAML is not importable; in CI it must be (run the tests through `bash scripts/test.sh`)"
        );
        eprintln!("SKIPPED: PyYAML not importable; run `bash scripts/test.sh` to check output with a YAML 1.1 reader");
        return None;
    }
    // Dates and other non-JSON values come out as their repr, which then
    // differs from the string serde_norway reads.
    let script = "import json, sys, yaml\nprint(json.dumps(list(yaml.safe_load_all(sys.stdin)), default=repr))";
    let mut child = Command::new(&python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "PyYAML failed to read:\n{text}");
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

fn yaml_1_2(text: &str) -> serde_json::Value {
    let docs: Vec<serde_json::Value> = serde_norway::Deserializer::from_str(text)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .collect();
    serde_json::Value::Array(docs)
}

/// `text` reads the same to both readers; false when PyYAML is missing.
fn same_to_both(what: &str, text: &str) -> bool {
    let Some(old) = pyyaml(text) else { return false };
    assert_eq!(old, yaml_1_2(text), "{what} reads differently under YAML 1.1:\n{text}");
    true
}

fn run(args: &[&str], stdin: Option<&str>) -> String {
    let out = bin::run(None, args, stdin.unwrap_or_default().as_bytes());
    assert!(
        out.status.success(),
        "meshfed {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn generated_files_read_the_same_under_yaml_1_1() {
    for installer in ["helm", "istioctl", "sail"] {
        let tmp = tempfile::tempdir().unwrap();
        let spec_file = tmp.path().join("federation.yaml");
        std::fs::write(&spec_file, spec(installer, &certs())).unwrap();
        let out = tmp.path().join("out");
        run(
            &["generate", spec_file.to_str().unwrap(), "-o", out.to_str().unwrap()],
            None,
        );
        let mut checked = 0;
        for cluster in ["yes", "no"] {
            for entry in std::fs::read_dir(out.join(cluster)).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "yaml") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    if !same_to_both(&path.display().to_string(), &text) {
                        return;
                    }
                    checked += 1;
                }
            }
        }
        // Gateway, trust bundle, imports, policies, kustomization and the fragments.
        assert!(checked >= 10, "{installer}: only {checked} files");
        // The words are really there, as strings, where a reader would trip.
        let gateway = std::fs::read_to_string(out.join("yes/gateway.yaml")).unwrap();
        assert!(
            gateway.contains("istio: 'yes'\n") && gateway.contains("'on': '1_000'\n"),
            "{gateway}"
        );
        assert!(gateway.contains("tier: '2024-01-01'\n"), "{gateway}");
    }
}

#[test]
fn the_stdout_stream_reads_the_same_under_yaml_1_1() {
    let tmp = tempfile::tempdir().unwrap();
    let spec_file = tmp.path().join("federation.yaml");
    std::fs::write(&spec_file, spec("helm", &certs())).unwrap();
    let stream = run(&["generate", spec_file.to_str().unwrap()], None);
    assert!(stream.contains("meshfed.io/cluster: 'no'\n"), "{stream}");
    same_to_both("the stdout stream", &stream);
}

#[test]
fn a_krm_answer_reads_the_same_under_yaml_1_1() {
    let spec_text = spec("none", &certs());
    let indented: String = spec_text.lines().map(|l| format!("  {l}\n")).collect();
    let list =
        format!("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\nfunctionConfig:\n{indented}");
    let answer = run(&["krm"], Some(&list));
    assert!(answer.contains("meshfed.io/federation: 'on'"), "{answer}");
    same_to_both("the KRM answer", &answer);
}

#[test]
fn a_deckhouse_import_reads_the_same_under_yaml_1_1() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/deckhouse/ok");
    let tmp = tempfile::tempdir().unwrap();
    let args = [
        "import",
        "deckhouse",
        "--name",
        "on",
        "--public",
        dir.join("public.json").to_str().unwrap(),
        "--private",
        dir.join("private.json").to_str().unwrap(),
        "--root-out",
        tmp.path().join("on.pem").to_str().unwrap(),
    ]
    .map(str::to_owned);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let entry = run(&args, None);
    assert!(entry.contains("name: 'on'\n"), "{entry}");
    same_to_both("the deckhouse entry", &entry);
}
