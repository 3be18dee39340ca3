//! The core generator, end to end through the real binary:
//!
//! - golden files: each scenario's `generate -o` tree must equal
//!   `testdata/generate/<case>/expected/` byte for byte
//!   (`MESHFED_BLESS=1 cargo test` rewrites them after a deliberate change);
//! - every emitted Istio object validates against Istio's CRD schemas
//!   (`support::istio_crd`), and the validator itself rejects broken objects;
//! - the seed scenario does what PRODUCT §1 promises;
//! - output is deterministic and independent of input order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::istio_crd;
use serde_json::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn meshfed(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshfed"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("meshfed runs")
}

/// (case name, spec path relative to the repo root).
const CASES: [(&str, &str); 5] = [
    ("seed", "examples/seed/federation.yaml"),
    ("dns-gateway", "testdata/generate/dns-gateway/federation.yaml"),
    ("rotation", "testdata/generate/rotation/federation.yaml"),
    ("three-clusters", "testdata/generate/three-clusters/federation.yaml"),
    ("authorization", "testdata/generate/authorization/federation.yaml"),
];

/// Renders `spec` into a fresh folder and returns (tempdir guard, tree).
fn generate_tree(spec: &Path) -> (tempfile::TempDir, BTreeMap<String, String>) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = meshfed(&["generate", spec.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(
        o.status.success(),
        "generate {} failed: {}",
        spec.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let tree = read_tree(&out);
    (tmp, tree)
}

fn read_tree(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                files.insert(rel, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    files
}

fn diff(expected: &str, actual: &str, name: &str) -> String {
    similar::TextDiff::from_lines(expected, actual)
        .unified_diff()
        .header(&format!("expected/{name}"), &format!("actual/{name}"))
        .to_string()
}

fn compare_or_bless(expected_dir: &Path, actual: &BTreeMap<String, String>) {
    if std::env::var_os("MESHFED_BLESS").is_some() {
        let _ = std::fs::remove_dir_all(expected_dir);
        for (name, text) in actual {
            let p = expected_dir.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        return;
    }
    let expected = read_tree(expected_dir);
    let mut problems = String::new();
    for name in expected.keys().filter(|n| !actual.contains_key(*n)) {
        problems.push_str(&format!("missing file {name}\n"));
    }
    for (name, text) in actual {
        match expected.get(name) {
            None => problems.push_str(&format!("unexpected file {name}\n")),
            Some(e) if e != text => problems.push_str(&diff(e, text, name)),
            Some(_) => {}
        }
    }
    assert!(
        problems.is_empty(),
        "output differs from {} (MESHFED_BLESS=1 to accept):\n{problems}",
        expected_dir.display()
    );
}

#[test]
fn golden_outputs() {
    for (case, spec) in CASES {
        let (_tmp, tree) = generate_tree(&root().join(spec));
        compare_or_bless(&root().join("testdata/generate").join(case).join("expected"), &tree);
    }
}

#[test]
fn stream_output_is_golden_and_annotated() {
    let o = meshfed(&["generate", "examples/seed/federation.yaml"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stream = String::from_utf8(o.stdout).unwrap();
    let golden = root().join("testdata/generate/seed/stream.yaml");
    if std::env::var_os("MESHFED_BLESS").is_some() {
        std::fs::write(&golden, &stream).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).unwrap();
    assert!(expected == stream, "{}", diff(&expected, &stream, "stream.yaml"));
    let docs = istio_crd::documents(&stream);
    assert!(docs.len() >= 6, "expected both clusters' objects, got {}", docs.len());
    for d in &docs {
        let cluster = d["metadata"]["annotations"]["meshfed.io/cluster"].as_str();
        assert!(
            matches!(cluster, Some("cluster-a" | "cluster-b")),
            "not annotated with its cluster: {d}"
        );
    }
}

#[test]
fn every_istio_object_validates_against_the_crds() {
    let mut checked = 0;
    for (case, spec) in CASES {
        let (_tmp, tree) = generate_tree(&root().join(spec));
        for (name, text) in &tree {
            for doc in istio_crd::documents(text) {
                let api = doc["apiVersion"].as_str().unwrap_or_default();
                if api.contains(".istio.io/") && !api.starts_with("install.istio.io") {
                    let problems = istio_crd::validate(&doc);
                    assert!(
                        problems.is_empty(),
                        "{case}/{name} {}: {problems:#?}",
                        doc["metadata"]["name"]
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 20, "only {checked} Istio objects were checked");
}

fn valid_service_entry() -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
        "metadata": {"name": "x", "namespace": "istio-system"},
        "spec": {
            "hosts": ["bar.xyz.svc.cluster-b.local"], "location": "MESH_INTERNAL", "resolution": "STATIC",
            "ports": [{"number": 8080, "name": "http", "protocol": "HTTP"}],
            "endpoints": [{"address": "203.0.113.20", "ports": {"http": 15443}}]
        }
    })
}

#[test]
fn the_crd_validator_rejects_what_the_cluster_would() {
    assert_eq!(istio_crd::validate(&valid_service_entry()), Vec::<String>::new());
    type Breakage = (&'static str, fn(&mut Value));
    let broken: [Breakage; 7] = [
        ("unknown field", |v| v["spec"]["hostz"] = json!(["a"])),
        ("port range", |v| v["spec"]["ports"][0]["number"] = json!(70000)),
        (
            "duplicate port numbers",
            |v| v["spec"]["ports"] = json!([{"number": 80, "name": "a", "protocol": "HTTP"}, {"number": 80, "name": "b", "protocol": "HTTP"}]),
        ),
        ("STATIC with a DNS endpoint", |v| {
            v["spec"]["endpoints"][0]["address"] = json!("gw.example.com")
        }),
        ("bad enum", |v| v["spec"]["location"] = json!("SOMEWHERE")),
        ("wildcard host", |v| v["spec"]["hosts"] = json!(["*"])),
        ("v1 kind under an unknown version", |v| {
            v["apiVersion"] = json!("networking.istio.io/v9")
        }),
    ];
    for (what, breaks) in broken {
        let mut v = valid_service_entry();
        breaks(&mut v);
        assert!(!istio_crd::validate(&v).is_empty(), "validator accepted: {what}");
    }
}

fn object<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn pem_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

#[test]
fn seed_federation_connects_cluster_a_to_bar_in_cluster_b() {
    let (_tmp, tree) = generate_tree(&root().join("examples/seed/federation.yaml"));
    let a: Vec<Value> = tree
        .iter()
        .filter(|(n, _)| n.starts_with("cluster-a/"))
        .flat_map(|(_, t)| istio_crd::documents(t))
        .collect();
    let b: Vec<Value> = tree
        .iter()
        .filter(|(n, _)| n.starts_with("cluster-b/"))
        .flat_map(|(_, t)| istio_crd::documents(t))
        .collect();

    let se = object(&a, "ServiceEntry");
    assert_eq!(se.len(), 1);
    let se = &se[0]["spec"];
    assert_eq!(se["hosts"], json!(["bar.xyz.svc.cluster-b.local"]));
    assert_eq!(se["location"], "MESH_INTERNAL");
    assert_eq!(se["resolution"], "STATIC");
    assert_eq!(
        se["endpoints"],
        json!([{"address": "203.0.113.20", "ports": {"http": 15443, "grpc-api": 15443}}])
    );
    assert_eq!(se["subjectAltNames"], json!(["spiffe://cluster-b.local/ns/xyz/sa/bar"]));
    let dr = object(&a, "DestinationRule");
    assert_eq!(dr[0]["spec"]["host"], "bar.xyz.svc.cluster-b.local");
    assert_eq!(dr[0]["spec"]["trafficPolicy"]["tls"]["mode"], "ISTIO_MUTUAL");

    let gw = object(&b, "Gateway");
    assert_eq!(gw.len(), 1);
    let server = &gw[0]["spec"]["servers"][0];
    assert_eq!(server["hosts"], json!(["bar.xyz.svc.cluster-b.local"]));
    assert_eq!(server["tls"]["mode"], "AUTO_PASSTHROUGH");
    assert_eq!(server["port"]["number"], 15443);

    // Each cluster's trust outputs hold the other's root, and only that.
    for (me, other, docs) in [("cluster-a", "cluster-b", &a), ("cluster-b", "cluster-a", &b)] {
        let root_pem = std::fs::read_to_string(root().join(format!("examples/seed/certs/{other}.pem"))).unwrap();
        let secret = object(docs, "Secret");
        let data = secret[0]["data"].as_object().unwrap();
        assert_eq!(
            data.keys().collect::<Vec<_>>(),
            vec!["ca.crt", &format!("{other}.pem")],
            "{me}"
        );
        let decoded = String::from_utf8(
            data_encoding::BASE64
                .decode(data["ca.crt"].as_str().unwrap().as_bytes())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(pem_body(&decoded), pem_body(&root_pem), "{me} ca.crt");
        let values: Value = serde_norway::from_str(&tree[&format!("{me}/helm-istiod-values.yaml")]).unwrap();
        let cas = values["meshConfig"]["caCertificates"].as_array().unwrap();
        assert_eq!(cas.len(), 1);
        assert_eq!(pem_body(cas[0]["pem"].as_str().unwrap()), pem_body(&root_pem));
        assert_eq!(cas[0]["trustDomains"], json!([format!("{other}.local")]));
        assert_eq!(values["pilot"]["env"]["ISTIO_MULTIROOT_MESH"], "true");
        assert_eq!(values["global"]["proxy"]["clusterDomain"], format!("{me}.local"));
        assert_eq!(values["meshConfig"]["trustDomain"], format!("{me}.local"));
        assert_eq!(
            values["meshConfig"]["defaultConfig"]["proxyMetadata"]["ISTIO_META_DNS_CAPTURE"],
            "true"
        );
        let gateway_values: Value = serde_norway::from_str(&tree[&format!("{me}/helm-gateway-values.yaml")]).unwrap();
        assert!(gateway_values["service"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["port"] == 15443));
        let kustomization: Value = serde_norway::from_str(&tree[&format!("{me}/kustomization.yaml")]).unwrap();
        let resources = kustomization["resources"].as_array().unwrap();
        assert!(
            !resources.contains(&json!("helm-istiod-values.yaml")),
            "fragments are not applied"
        );
        for r in resources {
            assert!(
                tree.contains_key(&format!("{me}/{}", r.as_str().unwrap())),
                "{me} lists missing {r}"
            );
        }
    }
}

#[test]
fn rotation_puts_both_roots_in_every_trust_output() {
    let (_tmp, tree) = generate_tree(&root().join("testdata/generate/rotation/federation.yaml"));
    let old = pem_body(&std::fs::read_to_string(root().join("testdata/certs/west.example.pem")).unwrap());
    let new = pem_body(&std::fs::read_to_string(root().join("testdata/certs/west.example-2027.pem")).unwrap());
    let secret = &istio_crd::documents(&tree["east/trust-bundle.yaml"])[0];
    for key in ["ca.crt", "west.pem"] {
        let pem = String::from_utf8(
            data_encoding::BASE64
                .decode(secret["data"][key].as_str().unwrap().as_bytes())
                .unwrap(),
        )
        .unwrap();
        let body = pem_body(&pem);
        assert!(body.contains(&old) && body.contains(&new), "{key} lacks a root");
    }
    let patch: Value = serde_norway::from_str(&tree["east/sail-istio-patch.yaml"]).unwrap();
    let cas = patch["spec"]["values"]["meshConfig"]["caCertificates"]
        .as_array()
        .unwrap();
    let bodies: Vec<String> = cas.iter().map(|c| pem_body(c["pem"].as_str().unwrap())).collect();
    assert!(
        bodies.contains(&old) && bodies.contains(&new),
        "caCertificates lacks a root"
    );
    assert!(cas.iter().all(|c| c["trustDomains"] == json!(["west.example"])));
}

#[test]
fn same_input_twice_gives_identical_bytes() {
    for (_, spec) in CASES {
        let (_t1, first) = generate_tree(&root().join(spec));
        let (_t2, second) = generate_tree(&root().join(spec));
        assert_eq!(first, second, "{spec}");
    }
}

/// Reverses every list whose order carries no meaning.
fn reorder(spec: &mut Value) {
    let clusters = spec["spec"]["clusters"].as_array_mut().unwrap();
    clusters.reverse();
    for c in clusters {
        for pointer in ["/exports", "/gateway/addresses", "/rootCA/files"] {
            if let Some(a) = c.pointer_mut(pointer).and_then(Value::as_array_mut) {
                a.reverse();
            }
        }
        for e in c.get_mut("exports").and_then(Value::as_array_mut).into_iter().flatten() {
            for list in ["ports", "serviceAccounts", "to"] {
                if let Some(a) = e.get_mut(list).and_then(Value::as_array_mut) {
                    a.reverse();
                }
            }
        }
    }
}

#[test]
fn reordering_the_input_does_not_change_the_output() {
    for (case, spec) in CASES {
        let spec_path = root().join(spec);
        let mut value: Value = serde_norway::from_str(&std::fs::read_to_string(&spec_path).unwrap()).unwrap();
        reorder(&mut value);
        // In a temporary folder (tests never write into the checkout), so the
        // certificate paths become absolute.
        let spec_dir = spec_path.parent().unwrap();
        for c in value["spec"]["clusters"].as_array_mut().unwrap() {
            for f in c
                .pointer_mut("/rootCA/files")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                *f = Value::from(spec_dir.join(f.as_str().unwrap()).to_str().unwrap());
            }
        }
        let tmp = tempfile::tempdir().unwrap();
        let reordered = tmp.path().join(format!("reordered-{case}.yaml"));
        std::fs::write(&reordered, serde_norway::to_string(&value).unwrap()).unwrap();
        let (_t1, expected) = generate_tree(&spec_path);
        let (_t2, actual) = generate_tree(&reordered);
        assert_eq!(expected, actual, "{case}");
    }
}

#[test]
fn reordering_pem_blocks_does_not_change_the_output() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = root().join("testdata/certs");
    let old = std::fs::read_to_string(certs.join("west.example.pem")).unwrap();
    let new = std::fs::read_to_string(certs.join("west.example-2027.pem")).unwrap();
    let east = std::fs::read_to_string(certs.join("east.example.pem")).unwrap();
    let render = |bundle: String| {
        std::fs::write(tmp.path().join("west.pem"), bundle).unwrap();
        std::fs::write(tmp.path().join("east.pem"), &east).unwrap();
        let spec = std::fs::read_to_string(root().join("testdata/generate/rotation/federation.yaml"))
            .unwrap()
            .replace("[../../certs/east.example.pem]", "[east.pem]")
            .replace(
                "[../../certs/west.example.pem, ../../certs/west.example-2027.pem]",
                "[west.pem]",
            );
        std::fs::write(tmp.path().join("federation.yaml"), spec).unwrap();
        generate_tree(&tmp.path().join("federation.yaml")).1
    };
    // With CRLF line ends and text around the blocks, as `openssl x509 -text` writes.
    let forward = render(format!("{old}{new}"));
    let backward = render(format!(
        "Certificate:\r\n    Data: ...\r\n{}{}",
        new.replace('\n', "\r\n"),
        old.replace('\n', "\r\n")
    ));
    assert_eq!(forward, backward);
    let (_t, golden) = generate_tree(&root().join("testdata/generate/rotation/federation.yaml"));
    assert_eq!(forward, golden, "one bundle file renders like two files");
}

#[test]
fn authorization_admits_exactly_the_importers() {
    let (_tmp, tree) = generate_tree(&root().join("testdata/generate/authorization/federation.yaml"));
    let docs = istio_crd::documents(&tree["east/authorization.yaml"]);
    let policy = |ns: &str| -> Value {
        (*object(&docs, "AuthorizationPolicy")
            .into_iter()
            .find(|p| p["metadata"]["namespace"] == ns)
            .unwrap())
        .clone()
    };
    // vault is exported only to north: west may not call it.
    let vault = policy("secrets");
    assert_eq!(vault["spec"]["action"], "ALLOW");
    assert_eq!(vault["spec"]["selector"]["matchLabels"], json!({"app": "vault"}));
    assert_eq!(
        vault["spec"]["rules"][0]["from"][0]["source"]["principals"],
        json!(["east.example/*"])
    );
    assert_eq!(
        vault["spec"]["rules"][1]["from"][0]["source"]["principals"],
        json!(["north.example/*"])
    );
    assert_eq!(
        vault["spec"]["rules"][1]["to"][0]["operation"]["ports"],
        json!(["8200", "8201"])
    );
    // status goes to every other cluster.
    let status = policy("ops");
    assert_eq!(
        status["spec"]["rules"][1]["from"][0]["source"]["principals"],
        json!(["north.example/*", "west.example/*"])
    );
    let strict = object(&docs, "PeerAuthentication");
    assert_eq!(strict.len(), 2);
    assert!(strict.iter().all(|p| p["spec"]["mtls"]["mode"] == "STRICT"));
    assert!(!tree.contains_key("north/authorization.yaml"), "north exports nothing");
}

#[test]
fn authorization_needs_a_selector_on_every_export() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = std::fs::read_to_string(root().join("testdata/generate/authorization/federation.yaml"))
        .unwrap()
        .replace("      selector: {app: vault}\n", "")
        .replace("../../certs/", &format!("{}/", root().join("testdata/certs").display()));
    let path = tmp.path().join("federation.yaml");
    std::fs::write(&path, spec).unwrap();
    let out = tmp.path().join("out");
    let o = meshfed(&["generate", path.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error[MF140] spec.clusters[0].exports[0].selector"),
        "{stderr}"
    );
    assert!(!out.exists());
}
