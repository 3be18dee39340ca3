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
//! comes back equal and in order (all items, when there is an error), and,
//! where the input's items are a block list, byte for byte: the output's
//! items begin with exactly those items' lines; and feeding the output back
//! in gives the same output (re-runs are idempotent, generated objects are
//! replaced, never duplicated).

use std::path::{Path, PathBuf};

use serde_norway::Value;

use crate::support::{bin, golden};

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
    let out = bin::run(Some(dir), &[], input.as_bytes());
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

/// Each item's lines of a block `items:` list (from its `-` to the next
/// item's), read plainly from the text: `None` for any other layout.
fn item_texts(text: &str) -> Option<Vec<String>> {
    let mut lines = text
        .split_inclusive('\n')
        .skip_while(|l| l.trim_end() != "items:")
        .skip(1);
    let mut items: Vec<String> = Vec::new();
    let mut dash: Option<usize> = None;
    for line in lines.by_ref() {
        let body = line.trim_start();
        let indent = line.len() - body.len();
        if indent == 0 && !body.starts_with(['-', '#']) && !body.trim().is_empty() {
            break;
        }
        if body.starts_with('-') && dash.is_none_or(|d| d == indent) {
            dash = Some(indent);
            items.push(String::new());
        }
        if let Some(item) = items.last_mut() {
            item.push_str(line);
        }
    }
    dash.map(|_| items)
}

#[test]
fn krm_cases() {
    let mut failures = Vec::new();
    for dir in cases() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let input = std::fs::read_to_string(dir.join("resourcelist.yaml")).unwrap();
        let (code, stdout, stderr) = run(&dir, &input);
        if let Err(problem) = golden::check_file(&dir.join("expected.yaml"), &stdout) {
            failures.push(format!("{name}: {problem}"));
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
        if let Some(texts) = item_texts(&input) {
            let want: Vec<&String> = texts
                .iter()
                .zip(&input_items)
                .filter(|(_, item)| kept.contains(item))
                .map(|(t, _)| t)
                .collect();
            let got = item_texts(&stdout).unwrap_or_default();
            if got.iter().take(want.len()).ne(want.iter().copied()) {
                failures.push(format!("{name}: the kept items' text did not come back byte for byte"));
            }
        }
        if has_error(&output) && output_items.len() != input_items.len() {
            failures.push(format!("{name}: an error run added or dropped items"));
        }

        let (code2, again, _) = run(&dir, &stdout);
        if again != stdout || code2 != code {
            failures.push(format!(
                "{name}: a re-run changed the output\n{}",
                golden::diff(&stdout, &again, "output")
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

/// A control character is not YAML: libyaml (kpt, kustomize) refuses it, so
/// copying it through would hand them a list they cannot read (found by the
/// krm_resource_list fuzz target: U+000E inside a kept functionConfig).
#[test]
fn a_control_character_is_refused_not_copied() {
    let dir = tempfile::tempdir().unwrap();
    let input = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\nfunctionConfig:\n  apiVersion: meshfed\u{e}io/v1alpha1\n  kind: MeshFederationMember\n";
    let (code, stdout, stderr) = run(dir.path(), input);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("MF410") && stderr.contains("line 5 holds the control character U+000E"),
        "{stderr}"
    );
}

/// A flow item whose closing brace stands on the next line is not cut at
/// the parser's span (which can end before the brace): it is written again,
/// and the answer stays YAML (found by the krm_resource_list fuzz target).
#[test]
fn a_flow_item_closed_on_the_next_line_is_written_again() {
    let dir = tempfile::tempdir().unwrap();
    let input = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: [{apiVersion: v1, kind: Namespace, metadata: {name: a},\n}, {apiVersion: v1, kind: Namespace, metadata: {name: b}}]\n";
    let (_, stdout, stderr) = run(dir.path(), input);
    let answer: Value = serde_norway::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}{stderr}"));
    let names: Vec<String> = items(&answer)
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names, ["a", "b"], "{stdout}");
}

/// A flow item over several lines is written again from its value; a key
/// (here one without a value, as `{a, b}` has) whose lone carriage returns
/// fold into line breaks (YAML line breaks to libyaml and saphyr-parser
/// alike) is short as read but, once its breaks are escaped, past the 1024
/// characters a reader allows an implicit key: it is written as an explicit
/// `? key` (found by the krm_resource_list fuzz target, crash-b81279da).
#[test]
fn a_key_long_once_escaped_is_written_as_an_explicit_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = format!("a{}b", "\r".repeat(600));
    let input = format!(
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: [{{apiVersion: v1, kind: Namespace,\n  {key}}}]\n"
    );
    let read: Value = serde_norway::from_str(&input).unwrap();
    let folded = format!("a{}b", "\n".repeat(599));
    assert_eq!(items(&read)[0].get(folded.as_str()), Some(&Value::Null));
    let (_, stdout, stderr) = run(dir.path(), &input);
    let answer: Value = serde_norway::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}{stderr}"));
    assert_eq!(items(&answer), items(&read), "{stdout}");
}

#[test]
fn the_krm_subcommand_is_the_same_function() {
    let dir = cases().into_iter().next().unwrap();
    let input = std::fs::read_to_string(dir.join("resourcelist.yaml")).unwrap();
    let (_, implicit, _) = run(&dir, &input);
    let out = bin::run(Some(&dir), &["krm"], input.as_bytes());
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
    let out = bin::run(None, &["validate", spec.to_str().unwrap()], b"");
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

/// Items are data, not meshfed's types: an integer past 64 bits, a key
/// written twice, a tag, an anchor and its alias — YAML serde_norway will
/// not read — pass through as written, and the run still renders.
#[test]
fn items_serde_cannot_read_pass_through_as_written() {
    let odd = [
        "- apiVersion: example.com/v1\n  kind: BigQuota\n  metadata: {name: storage}\n  spec:\n    bytes: 123456789012345678901234567890\n    negative: -123456789012345678901234567890\n",
        "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: twice}\n  data: {a: \"1\", a: \"2\"}\n",
        "- !custom\n  apiVersion: example.com/v1\n  kind: Tagged\n  metadata: &meta {name: tagged}\n  copy: *meta\n",
    ];
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed/federation.yaml");
    let input = format!(
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n{}functionConfig:\n  apiVersion: meshfed.io/v1alpha1\n  \
         kind: MeshFederationMember\n  metadata: {{name: cluster-a}}\n  spec: {{federation: {}}}\n",
        odd.concat(),
        seed.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(dir.path(), &input);
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    assert!(
        stdout.starts_with(&input[..input.find("functionConfig:").unwrap()]),
        "{stdout}"
    );
    assert!(
        stdout.contains("kind: Gateway") && !stdout.contains("results:"),
        "{stdout}"
    );
    let (_, again, _) = run(dir.path(), &stdout);
    assert_eq!(again, stdout);
}

#[test]
fn a_relative_member_path_that_does_not_resolve_names_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let input = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\nfunctionConfig:\n  \
                 apiVersion: meshfed.io/v1alpha1\n  kind: MeshFederationMember\n  metadata: {name: cluster-a}\n  \
                 spec: {federation: federation/federation.yaml}\n";
    let (code, stdout, _) = run(dir.path(), input);
    assert_eq!(code, 1);
    let canonical = dir.path().canonicalize().unwrap();
    assert!(
        stdout.contains("[MF001]")
            && stdout.contains(&format!(
                "working directory the function runs in ({})",
                canonical.display()
            ))
            && stdout.contains("not the package folder"),
        "{stdout}"
    );
}

/// An alias in a kept item whose anchor was in a replaced one: the list is
/// written from values (equal as YAML data), never with a dangling alias.
#[test]
fn an_alias_to_a_replaced_item_is_written_out() {
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed/federation.yaml");
    let input = format!(
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n\
         - apiVersion: networking.istio.io/v1\n  kind: Gateway\n  metadata:\n    name: seed-gateway\n    \
         labels: &owned {{app.kubernetes.io/managed-by: meshfed, meshfed.io/federation: seed}}\n    \
         annotations: {{meshfed.io/cluster: cluster-a}}\n\
         - apiVersion: v1\n  kind: ConfigMap\n  metadata: {{name: copy, labels: *owned}}\n\
         functionConfig:\n  apiVersion: meshfed.io/v1alpha1\n  kind: MeshFederationMember\n  \
         metadata: {{name: cluster-a}}\n  spec: {{federation: {}}}\n",
        seed.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(dir.path(), &input);
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let out = items(&yaml(&stdout));
    assert_eq!(out[0]["kind"].as_str(), Some("ConfigMap"));
    assert_eq!(
        out[0]["metadata"]["labels"]["meshfed.io/federation"].as_str(),
        Some("seed")
    );
    assert_eq!(out.iter().filter(|i| i["kind"].as_str() == Some("Gateway")).count(), 1);
}

/// A list whose text cannot be cut (a lone carriage return ends a line for
/// YAML, not for the copier) is written from its values, keys included —
/// here a null key — and a re-run settles. Found by mutating the cases.
#[test]
fn a_list_it_cannot_cut_is_written_from_its_values() {
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed/federation.yaml");
    let input = format!(
        "# a comment\r: a null key\napiVersion: config.kubernetes.io/v1\nkind: ResourceList\n\
         items: [{{apiVersion: v1, kind: Namespace, metadata: {{name: abc}}}}]\n\
         functionConfig: {{apiVersion: meshfed.io/v1alpha1, kind: MeshFederationMember, \
         metadata: {{name: cluster-a}}, spec: {{federation: {}}}}}\n",
        seed.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(dir.path(), &input);
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    assert!(stdout.starts_with("null: a null key\n"), "{stdout}");
    let (_, again, _) = run(dir.path(), &stdout);
    assert_eq!(again, stdout);
}

/// The contract on mutated inputs: each case's text with a few lines
/// deleted, doubled, shifted or spliced with YAML punctuation (a fixed
/// seed, so the same inputs every run). Whatever the function answers, an
/// item meshfed does not own comes back equal, an error run keeps every
/// item, and a successful answer is a fixed point. (`krm::process` in this
/// process: the fuzz target `krm_resource_list` checks the same, without end.)
#[test]
fn mutated_cases_keep_the_contract() {
    const PIECES: [&str; 22] = [
        "  ",
        "- ",
        "#c",
        "\n",
        "{",
        "}",
        "[",
        "]",
        "'",
        "\"",
        ": ",
        "&a ",
        "*a",
        "!t ",
        "---\n",
        "\t",
        "\r",
        "é",
        "|\n",
        "- a: 1\n",
        "0o17",
        "123456789012345678901234567890",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut below = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n.max(1) as u64) as usize
    };
    let seeds: Vec<(PathBuf, String)> = cases()
        .into_iter()
        .map(|d| {
            let text = std::fs::read_to_string(d.join("resourcelist.yaml")).unwrap();
            (d, text)
        })
        .collect();
    let opts = meshfed::internals::RenderOptions::default();
    for round in 0..400 {
        let (dir, seed) = &seeds[below(seeds.len())];
        let mut lines: Vec<String> = seed.split_inclusive('\n').map(str::to_owned).collect();
        for _ in 0..1 + below(3) {
            let k = below(lines.len());
            match below(5) {
                0 => drop(lines.remove(k)),
                1 => {
                    let at = below(lines[k].len() + 1);
                    if lines[k].is_char_boundary(at) {
                        lines[k].insert_str(at, PIECES[below(PIECES.len())]);
                    }
                }
                2 => lines.insert(k, lines[k].clone()),
                3 => lines[k].insert_str(0, "  "),
                _ => lines[k] = lines[k].strip_prefix("  ").unwrap_or(&lines[k]).to_owned(),
            }
            if lines.is_empty() {
                lines.push(String::new());
            }
        }
        let text = lines.concat();
        let Ok(out) = meshfed::internals::process(&text, dir, &opts) else {
            continue;
        };
        let context = || format!("round {round}\n--- input\n{text}\n--- output\n{}", out.output);
        let given: Option<Vec<Value>> = serde_norway::from_str::<Value>(&text).ok().map(|l| items(&l));
        let answer: Option<Vec<Value>> = serde_norway::from_str::<Value>(&out.output).ok().map(|l| items(&l));
        if let (Some(given), Some(answer)) = (&given, &answer) {
            if out.failed {
                assert_eq!(given, answer, "an error run changed the items: {}", context());
            }
            let mut rest = answer.iter();
            for item in given
                .iter()
                .filter(|i| i["metadata"]["labels"]["app.kubernetes.io/managed-by"] != "meshfed")
            {
                assert!(rest.any(|a| a == item), "an item was lost or changed: {}", context());
            }
        } else {
            assert!(given.is_none(), "the answer is not YAML: {}", context());
        }
        if !out.failed {
            let again = meshfed::internals::process(&out.output, dir, &opts).unwrap();
            assert_eq!(again.output, out.output, "not a fixed point: {}", context());
        }
    }
}
