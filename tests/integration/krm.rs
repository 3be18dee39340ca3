//! KRM function mode, as kpt and kustomize run it: `meshfed` with no
//! arguments, a ResourceList on stdin, run from the case's folder.
//!
//! Each folder in `testdata/krm/` is one case: `resourcelist.yaml` (the
//! input) and `expected.yaml` (the whole output ResourceList). Adding a case
//! means adding a folder. `MESHFED_BLESS=1 cargo test --test integration krm` rewrites
//! the expected files; review the diff before committing.
//!
//! Beyond the exact output, every case is checked for the contract's rules:
//! exit 1 exactly when a result is an error; every item meshfed does not own
//! comes back equal and in order (all items, when there is an error); and
//! feeding the output back in gives the same output (re-runs are idempotent,
//! generated objects are replaced, never duplicated).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_norway::Value;

const BIN: &str = env!("CARGO_BIN_EXE_meshfed");

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/krm");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("resourcelist.yaml").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 4, "expected the KRM cases in {}", root.display());
    cases
}

/// Runs the function in `dir` on `input`: (exit code, stdout, stderr).
fn run(dir: &Path, input: &str) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn yaml(text: &str) -> Value {
    serde_norway::from_str(text).unwrap()
}

fn items(list: &Value) -> Vec<Value> {
    list.get("items")
        .and_then(Value::as_sequence)
        .cloned()
        .unwrap_or_default()
}

/// The federation the case's functionConfig renders, by name.
fn federation_name(dir: &Path, list: &Value) -> String {
    let config = list.get("functionConfig").unwrap();
    let fed = match config.get("kind").and_then(Value::as_str) {
        Some("MeshFederationMember") => {
            let file = config["spec"]["federation"].as_str().unwrap();
            yaml(&std::fs::read_to_string(dir.join(file)).unwrap())
        }
        _ => config.clone(),
    };
    fed["metadata"]["name"].as_str().unwrap_or_default().to_owned()
}

fn owned_by(item: &Value, federation: &str) -> bool {
    let labels = &item["metadata"]["labels"];
    labels["app.kubernetes.io/managed-by"].as_str() == Some("meshfed")
        && labels["meshfed.io/federation"].as_str() == Some(federation)
}

fn has_error(list: &Value) -> bool {
    list.get("results")
        .and_then(Value::as_sequence)
        .is_some_and(|r| r.iter().any(|r| r["severity"].as_str() == Some("error")))
}

fn diff(expected: &str, actual: &str) -> String {
    similar::TextDiff::from_lines(expected, actual)
        .unified_diff()
        .header("expected", "actual")
        .to_string()
}

#[test]
fn krm_cases() {
    let bless = std::env::var_os("MESHFED_BLESS").is_some();
    let mut failures = Vec::new();
    for dir in cases() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let input = std::fs::read_to_string(dir.join("resourcelist.yaml")).unwrap();
        let (code, stdout, stderr) = run(&dir, &input);
        let expected_path = dir.join("expected.yaml");
        if bless {
            std::fs::write(&expected_path, &stdout).unwrap();
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if stdout != expected {
            failures.push(format!("{name}: output differs\n{}", diff(&expected, &stdout)));
            continue;
        }
        let output = yaml(&stdout);
        let want_code = if has_error(&output) { 1 } else { 0 };
        if code != want_code {
            failures.push(format!("{name}: exit {code}, expected {want_code}; stderr: {stderr}"));
        }

        let input_list = yaml(&input);
        let federation = federation_name(&dir, &input_list);
        let (input_items, output_items) = (items(&input_list), items(&output));
        let kept: Vec<&Value> = if has_error(&output) {
            input_items.iter().collect()
        } else {
            input_items.iter().filter(|i| !owned_by(i, &federation)).collect()
        };
        let came_back: Vec<&Value> = output_items.iter().take(kept.len()).collect();
        if kept != came_back {
            failures.push(format!(
                "{name}: the items meshfed does not own did not come back unchanged, in order"
            ));
        }
        if has_error(&output) && output_items.len() != input_items.len() {
            failures.push(format!("{name}: an error run added or dropped items"));
        }

        let (code2, again, _) = run(&dir, &stdout);
        if again != stdout || code2 != code {
            failures.push(format!(
                "{name}: a re-run changed the output\n{}",
                diff(&stdout, &again)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn not_a_resource_list_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(dir.path(), "kind: Deployment\n");
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    assert!(stderr.contains("MF410") && stderr.contains("ResourceList"), "{stderr}");
}

#[test]
fn the_krm_subcommand_is_the_same_function() {
    let dir = cases().into_iter().next().unwrap();
    let input = std::fs::read_to_string(dir.join("resourcelist.yaml")).unwrap();
    let (_, implicit, _) = run(&dir, &input);
    let mut child = Command::new(BIN)
        .arg("krm")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), implicit);
}

#[test]
fn object_references_outside_krm_mode_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("federation.yaml");
    let seed = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed/federation.yaml"))
        .unwrap()
        .replace(
            "files: [certs/cluster-a.pem]",
            "configMaps: [{name: cluster-a-root, key: ca.crt}]",
        )
        .replace("files: [certs/cluster-b.pem]", "pem: x");
    std::fs::write(&spec, seed).unwrap();
    let out = Command::new(BIN)
        .args(["validate", spec.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("MF420") && stderr.contains("spec.clusters[0].rootCA.configMaps[0]"),
        "{stderr}"
    );
}

#[test]
fn no_arguments_and_empty_stdin_prints_the_usage() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(dir.path(), "");
    assert_eq!(code, 2);
    assert_eq!(stdout, "");
    assert!(stderr.contains("Usage: meshfed"), "{stderr}");
}
