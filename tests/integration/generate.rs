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

use crate::support::{golden, istio_crd, scenarios, tree};
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
    let tree = tree::texts(&out);
    (tmp, tree)
}

#[test]
fn golden_outputs() {
    for s in scenarios::all() {
        let (_tmp, tree) = generate_tree(&s.spec);
        golden::assert_tree(&s.dir.join("expected"), &tree);
    }
}

/// The embedded templates write canonical YAML directly (src/render/canonical.rs);
/// the same templates given with `--templates` take the general path (JSON
/// values, parsed back, emitted by src/yaml.rs). Both give the goldens byte
/// for byte, in every scenario.
#[test]
fn the_general_path_gives_the_same_goldens() {
    let templates = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(root().join("templates")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, templates.path().join(path.file_name().unwrap())).unwrap();
    }
    for scenario in scenarios::all() {
        let case = &scenario.name;
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let o = meshfed(&[
            "generate",
            scenario.spec.to_str().unwrap(),
            "--templates",
            templates.path().to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{case}: {}", String::from_utf8_lossy(&o.stderr));
        let expected = tree::texts(&scenario.dir.join("expected"));
        assert_eq!(tree::texts(&out), expected, "{case}");
    }
}

#[test]
fn stream_output_is_golden_and_annotated() {
    let o = meshfed(&["generate", "examples/seed/federation.yaml"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stream = String::from_utf8(o.stdout).unwrap();
    golden::assert_file(&scenarios::named("seed").dir.join("stream.yaml"), &stream);
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
    for scenario in scenarios::all() {
        let case = &scenario.name;
        let (_tmp, tree) = generate_tree(&scenario.spec);
        for (name, text) in tree.iter().filter(|(n, _)| n.ends_with(".yaml")) {
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
        .filter(|(n, _)| n.starts_with("cluster-a/") && n.ends_with(".yaml"))
        .flat_map(|(_, t)| istio_crd::documents(t))
        .collect();
    let b: Vec<Value> = tree
        .iter()
        .filter(|(n, _)| n.starts_with("cluster-b/") && n.ends_with(".yaml"))
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
        // Without it the sidecars never receive caCertificates (see sidecar_trust.rs).
        assert_eq!(
            values["meshConfig"]["defaultConfig"]["proxyMetadata"]["PROXY_CONFIG_XDS_AGENT"],
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
    for scenario in scenarios::all() {
        let (_t1, first) = generate_tree(&scenario.spec);
        let (_t2, second) = generate_tree(&scenario.spec);
        assert_eq!(first, second, "{}", scenario.name);
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
    for scenario in scenarios::all() {
        let case = &scenario.name;
        let spec_path = scenario.spec.clone();
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
    // Its Service port 80 targets the pods' 8080: the policy matches the port
    // the workload receives on, the importers keep calling (and SNI-routing) 80.
    assert_eq!(
        status["spec"]["rules"][1]["to"][0]["operation"]["ports"],
        json!(["8080"])
    );
    let imports = istio_crd::documents(&tree["north/imports-east.yaml"]);
    let status_entry = object(&imports, "ServiceEntry")
        .into_iter()
        .find(|se| se["spec"]["hosts"][0] == "status.ops.svc.east.example")
        .unwrap();
    assert_eq!(
        status_entry["spec"]["ports"],
        json!([{"number": 80, "name": "http", "protocol": "HTTP"}])
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

/// The labels the `istio/gateway` chart gives its pods for `values` under
/// `release`: `app` and `istio` from `values.labels` or from the release
/// name (`istio` without its `istio-` prefix), then every other key of
/// `values.labels` (istio/istio 1.30.3
/// manifests/charts/gateway/templates/_helpers.tpl, `gateway.selectorLabels`,
/// and templates/deployment.yaml).
fn gateway_chart_pod_labels(values: &Value, release: &str) -> BTreeMap<String, String> {
    let labels = values["labels"].as_object().cloned().unwrap_or_default();
    let get = |k: &str| labels.get(k).and_then(Value::as_str).map(str::to_owned);
    let mut pod: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    pod.insert("app".into(), get("app").unwrap_or_else(|| release.to_owned()));
    pod.insert(
        "istio".into(),
        get("istio").unwrap_or_else(|| release.trim_start_matches("istio-").to_owned()),
    );
    pod
}

fn selector_of(gateway_yaml: &str) -> BTreeMap<String, String> {
    let gw = &istio_crd::documents(gateway_yaml)[0];
    serde_json::from_value(gw["spec"]["selector"].clone()).unwrap()
}

fn is_subset(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[test]
fn gateway_chart_values_label_the_pods_the_gateway_selects() {
    let mut checked = 0;
    for scenario in scenarios::all() {
        let case = &scenario.name;
        let (_tmp, tree) = generate_tree(&scenario.spec);
        for (name, text) in &tree {
            let Some(cluster) = name.strip_suffix("/helm-gateway-values.yaml") else {
                continue;
            };
            let values: Value = serde_norway::from_str(text).unwrap();
            let selector = selector_of(&tree[&format!("{cluster}/gateway.yaml")]);
            // Whatever the user names the Helm release.
            for release in ["istio-ingressgateway", "federation-gateway", "gw"] {
                let pod = gateway_chart_pod_labels(&values, release);
                assert!(
                    is_subset(&selector, &pod),
                    "{case}/{cluster}: release {release} labels its pods {pod:?}, the Gateway selects {selector:?}"
                );
            }
            checked += 1;
        }
    }
    // seed (2), rotation (2), three-clusters (2, one with a selector of its own).
    assert!(checked >= 6, "only {checked} gateway values checked");
}

#[test]
fn istioctl_never_relabels_its_ingress_gateway_and_listens_above_1023() {
    // istio-ingressgateway's labels (manifests/charts/gateways/istio-ingress/values.yaml);
    // a component's `label` is merged over them (operator/pkg/render/manifest.go,
    // then the chart's zzz_profile.yaml mustMergeOverwrite).
    let defaults = BTreeMap::from([
        ("app".to_owned(), "istio-ingressgateway".to_owned()),
        ("istio".to_owned(), "ingressgateway".to_owned()),
    ]);
    let (_tmp, tree) = generate_tree(&root().join("testdata/generate/dns-gateway/federation.yaml"));
    let mut own_components = 0;
    for cluster in ["east", "west"] {
        let overlay: Value = serde_norway::from_str(&tree[&format!("{cluster}/istio-operator.yaml")]).unwrap();
        let components = overlay["spec"]["components"]["ingressGateways"].as_array().unwrap();
        let default = components
            .iter()
            .find(|c| c["name"] == "istio-ingressgateway")
            .unwrap_or_else(|| panic!("{cluster}: istio-ingressgateway dropped from the list"));
        assert!(
            default.get("label").is_none(),
            "{cluster}: istio-ingressgateway relabelled: {default}"
        );
        let serving: Vec<&Value> = components
            .iter()
            .filter(|c| {
                c["k8s"]["service"]["ports"]
                    .as_array()
                    .is_some_and(|ports| ports.iter().any(|p| p["name"] == "tls-meshfed"))
            })
            .collect();
        assert_eq!(serving.len(), 1, "{cluster}");
        let component = serving[0];
        let mut pod = defaults.clone();
        if let Some(label) = component["label"].as_object() {
            own_components += 1;
            for (k, v) in label {
                pod.insert(k.clone(), v.as_str().unwrap().to_owned());
            }
        }
        let selector = selector_of(&tree[&format!("{cluster}/gateway.yaml")]);
        assert!(is_subset(&selector, &pod), "{cluster}: {pod:?} vs {selector:?}");
        // The pods run unprivileged: istiod builds no listener below 1024
        // (pilot/pkg/networking/core/gateway.go, buildGatewayListeners).
        for p in component["k8s"]["service"]["ports"].as_array().unwrap() {
            assert!(p["targetPort"].as_u64().unwrap() >= 1024, "{cluster}: {p}");
        }
    }
    assert_eq!(own_components, 1, "east's custom selector gets a component of its own");
    // west publishes 443 and its gateway listens on 8443; the Gateway and the peers keep 443.
    let west = &istio_crd::documents(&tree["west/gateway.yaml"])[0];
    assert_eq!(west["spec"]["servers"][0]["port"]["number"], 443);
    let east_import = &istio_crd::documents(&tree["east/imports-west.yaml"])[0];
    assert_eq!(east_import["spec"]["endpoints"][0]["ports"]["grpc"], 443);
}

#[test]
fn next_steps_say_what_each_cluster_needs_beyond_the_output() {
    let (_tmp, tree) = generate_tree(&root().join("examples/seed/federation.yaml"));
    let a = &tree["cluster-a/NEXT-STEPS.md"];
    let b = &tree["cluster-b/NEXT-STEPS.md"];
    for (notes, domain, port, export, caller, import) in [
        (
            a,
            "cluster-a.local",
            "15443",
            "foo.abc.svc.cluster-a.local",
            "cluster-b",
            "bar.xyz.svc.cluster-b.local",
        ),
        (
            b,
            "cluster-b.local",
            "15443",
            "bar.xyz.svc.cluster-b.local",
            "cluster-a",
            "foo.abc.svc.cluster-a.local",
        ),
    ] {
        for needle in [
            // The cluster's own DNS, which meshfed cannot set, and the managed-Kubernetes caveat.
            "kubelet `clusterDomain`",
            "CoreDNS",
            &format!("must both be\n`{domain}`"),
            "managed",
            // Install order, restart after the fragment (proxy metadata is read at injection).
            "helm upgrade --install istiod",
            "rollout restart",
            "PROXY_CONFIG_XDS_AGENT",
            // The federation port, reachable from every peer that calls this cluster.
            &format!("Port {port} of the gateway Service"),
            &format!("from every cluster that calls this one: `{caller}`"),
            // Sidecars on every exported workload; exported Service ports as in the spec.
            "sidecar injection",
            &format!("`{export}`"),
            "8080 → 8080",
            &format!("`{import}`"),
            "not which root may sign them",
        ] {
            assert!(notes.contains(needle), "{domain}: no {needle:?} in\n{notes}");
        }
    }
    assert!(b.contains("grpc-api 9090 → 9090"), "{b}");
    // istioctl: a federation port below 1024 says where the pods listen.
    let (_tmp, tree) = generate_tree(&root().join("testdata/generate/dns-gateway/federation.yaml"));
    let west = &tree["west/NEXT-STEPS.md"];
    assert!(
        west.contains("Port 443 of the gateway Service (its pods listen on 8443)"),
        "{west}"
    );
    assert!(west.contains("istioctl install"), "{west}");
}

#[test]
fn consumers_scope_each_import_to_its_namespaces() {
    let (_tmp, tree) = generate_tree(&scenarios::named("consumers").spec);
    // (importing cluster, host) → exportTo of its ServiceEntry and of its DestinationRule.
    let mut seen: BTreeMap<(String, String, String), Value> = BTreeMap::new();
    for (name, text) in tree.iter().filter(|(n, _)| n.contains("/imports-")) {
        let cluster = name.split('/').next().unwrap().to_owned();
        for d in istio_crd::documents(text) {
            let kind = d["kind"].as_str().unwrap().to_owned();
            let host = match kind.as_str() {
                "ServiceEntry" => d["spec"]["hosts"][0].as_str().unwrap().to_owned(),
                _ => d["spec"]["host"].as_str().unwrap().to_owned(),
            };
            seen.insert((cluster.clone(), host, kind), d["spec"]["exportTo"].clone());
        }
    }
    let expect = |cluster: &str, host: &str, export_to: Value| {
        for kind in ["ServiceEntry", "DestinationRule"] {
            let key = (cluster.to_owned(), host.to_owned(), kind.to_owned());
            assert_eq!(seen.get(&key), Some(&export_to), "{key:?}");
        }
    };
    // Sorted, the duplicate dropped.
    expect("west", "orders.shop.svc.east.example", json!(["batch", "web"]));
    // No consumers: no exportTo, visible mesh-wide as before.
    expect("west", "stock.shop.svc.east.example", Value::Null);
    expect("east", "ledger.bank.svc.west.example", json!(["payments"]));
    assert_eq!(seen.len(), 6, "{seen:#?}");
}

/// `cluster`'s global ServiceEntry and DestinationRule for `host` in a scenario's tree.
fn global_objects(tree: &BTreeMap<String, String>, cluster: &str) -> (Value, Value) {
    let docs = istio_crd::documents(&tree[&format!("{cluster}/global-services.yaml")]);
    let se = object(&docs, "ServiceEntry");
    let dr = object(&docs, "DestinationRule");
    assert_eq!((se.len(), dr.len()), (1, 1), "{cluster}: {docs:#?}");
    (se[0]["spec"].clone(), dr[0]["spec"].clone())
}

fn endpoint_summary(se: &Value) -> Vec<(String, Value, Value)> {
    se["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["address"].as_str().unwrap().to_owned(),
                e["locality"].clone(),
                e["ports"].clone(),
            )
        })
        .collect()
}

#[test]
fn a_global_service_is_one_host_with_every_exporter_by_locality() {
    let (_tmp, tree) = generate_tree(&scenarios::named("global-static").spec);
    // north exports nothing: both exporters' gateways, each with its cluster's locality and gateway port.
    let (se, dr) = global_objects(&tree, "north");
    assert_eq!(se["hosts"], json!(["checkout.shop.global"]));
    assert_eq!(se["location"], "MESH_INTERNAL");
    assert_eq!(se["resolution"], "STATIC");
    let east = json!("us-east1/us-east1-b");
    let west = json!("europe-west1/europe-west1-c");
    assert_eq!(
        endpoint_summary(&se),
        vec![
            ("192.0.2.1".into(), east.clone(), json!({"http": 15443, "grpc": 15443})),
            ("192.0.2.2".into(), west.clone(), json!({"http": 443, "grpc": 443})),
            ("192.0.2.3".into(), west.clone(), json!({"http": 443, "grpc": 443})),
        ]
    );
    assert_eq!(
        se["subjectAltNames"],
        json!([
            "spiffe://east.example/ns/shop/sa/checkout",
            "spiffe://west.example/ns/shop/sa/checkout",
            "spiffe://west.example/ns/shop/sa/checkout-canary"
        ])
    );
    assert_eq!(se["exportTo"], json!(["mobile", "web"]));
    assert_eq!(dr["host"], "checkout.shop.global");
    assert_eq!(dr["exportTo"], json!(["mobile", "web"]));
    let policy = &dr["trafficPolicy"];
    assert_eq!(policy["tls"]["mode"], "ISTIO_MUTUAL");
    assert_eq!(policy["loadBalancer"]["localityLbSetting"]["enabled"], true);
    // Overridden in the spec, the rest defaults.
    assert_eq!(
        policy["outlierDetection"],
        json!({"consecutive5xxErrors": 3, "interval": "10s", "baseEjectionTime": "30s", "maxEjectionPercent": 100})
    );
    // An exporter: its own instance first, through its local Service (so DNS),
    // then the peer; its gateway namespace sees the host.
    let (se, _) = global_objects(&tree, "east");
    assert_eq!(se["resolution"], "DNS");
    let endpoints = endpoint_summary(&se);
    assert_eq!(
        endpoints[0],
        (
            "checkout.shop.svc.east.example".into(),
            east,
            json!({"http": 8080, "grpc": 9090})
        )
    );
    assert_eq!(endpoints[1].1, west);
    assert_eq!(endpoints.len(), 3);
    assert_eq!(se["exportTo"], json!(["istio-system", "mobile", "web"]));
    // Every exporter's Gateway serves the global host, which peers' SNI names.
    for cluster in ["east", "west"] {
        let gw = istio_crd::documents(&tree[&format!("{cluster}/gateway.yaml")]);
        let hosts = gw[0]["spec"]["servers"][0]["hosts"].as_array().unwrap().clone();
        assert!(hosts.contains(&json!("checkout.shop.global")), "{cluster}: {hosts:?}");
    }
}

#[test]
fn a_global_service_honours_to_the_global_domain_and_dns_gateways() {
    let (_tmp, tree) = generate_tree(&scenarios::named("global-dns").spec);
    let (se, dr) = global_objects(&tree, "north");
    assert_eq!(se["hosts"], json!(["checkout.shop.mesh.example.com"]));
    assert_eq!(se["resolution"], "DNS");
    assert_eq!(
        endpoint_summary(&se),
        vec![
            ("gw.east.example.com".into(), json!("us-east1"), json!({"http": 15443})),
            (
                "gw.west.example.com".into(),
                json!("europe-west1/europe-west1-c/rack-7"),
                json!({"http": 15443})
            ),
        ]
    );
    // No consumers: mesh-wide, as before.
    assert_eq!((&se["exportTo"], &dr["exportTo"]), (&Value::Null, &Value::Null));
    // west exports only to north: east has its own instance alone (its gateway still needs it).
    let (se, _) = global_objects(&tree, "east");
    assert_eq!(
        endpoint_summary(&se),
        vec![(
            "checkout.shop.svc.east.example".into(),
            json!("us-east1"),
            json!({"http": 8080})
        )]
    );
}

/// A spec of `clusters` (name, gateway addresses, exports) with the committed
/// test roots, validated: (exit code, stderr).
fn validate_generated(clusters: Vec<(&str, Vec<String>, Vec<Value>)>) -> (i32, String) {
    validate_generated_as(clusters, |spec| serde_json::to_string(spec).unwrap()).1
}

/// `meshfed validate` of a spec with these clusters, written by `write`:
/// the spec's text, exit code and stderr.
fn validate_generated_as(
    clusters: Vec<(&str, Vec<String>, Vec<Value>)>,
    write: impl Fn(&Value) -> String,
) -> (String, (i32, String)) {
    let tmp = tempfile::tempdir().unwrap();
    let clusters: Vec<Value> = clusters
        .into_iter()
        .map(|(name, addresses, exports)| {
            let cert = root().join(format!("testdata/certs/{name}.example.pem"));
            json!({
                "name": name, "domain": format!("{name}.example"),
                "rootCA": {"files": [cert.to_str().unwrap()]},
                "gateway": {"addresses": addresses}, "exports": exports
            })
        })
        .collect();
    let spec = json!({
        "apiVersion": "meshfed.io/v1alpha1", "kind": "MeshFederation",
        "metadata": {"name": "big"}, "spec": {"clusters": clusters}
    });
    let path = tmp.path().join("federation.yaml");
    let text = write(&spec);
    std::fs::write(&path, &text).unwrap();
    let o = meshfed(&["validate", path.to_str().unwrap()]);
    let outcome = (
        o.status.code().unwrap(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    (text, outcome)
}

/// A spec past 32 KiB has its warnings placed on another thread while the
/// plan is built (`intake::read`): the line is still the one the warned
/// path stands on.
#[test]
fn a_large_specs_warnings_stand_at_their_lines() {
    let exports: Vec<Value> = (0..1001).map(|i| export(&format!("s{i}"), 1, false, false)).collect();
    let (text, (code, stderr)) = validate_generated_as(
        vec![("east", vec!["192.0.2.1".into()], exports), ("west", vec![], vec![])],
        |spec| serde_norway::to_string(spec).unwrap(),
    );
    assert!(text.len() > 32 * 1024, "{}", text.len());
    assert_eq!(code, 0, "{stderr}");
    // `spec.clusters[1]` stands on its item's first line (keys are sorted).
    let line = text
        .lines()
        .position(|l| l.trim_start() == "- domain: west.example")
        .unwrap()
        + 1;
    let warning = stderr
        .lines()
        .find(|l| l.starts_with("warning[MF153] spec.clusters[1]"));
    assert!(
        warning.is_some_and(|w| w.contains(&format!("federation.yaml:{line})"))),
        "line {line}: {stderr}"
    );
}

/// The limit warnings' lines are looked up while the other checks run; a
/// warning of another check, at a path that lookup was not given, is still
/// placed at its own line (and the limit warning at its own).
#[test]
fn a_large_specs_other_warnings_stand_at_their_lines_too() {
    let mut exports: Vec<Value> = (0..1001).map(|i| export(&format!("s{i}"), 1, false, false)).collect();
    exports[500]["ports"][0]["name"] = json!("web");
    let (text, (code, stderr)) = validate_generated_as(
        vec![("east", vec!["192.0.2.1".into()], exports), ("west", vec![], vec![])],
        |spec| serde_norway::to_string(spec).unwrap(),
    );
    assert!(text.len() > 32 * 1024, "{}", text.len());
    assert_eq!(code, 0, "{stderr}");
    let line_of = |wanted: &str| text.lines().position(|l| l.trim_start() == wanted).unwrap() + 1;
    let at = |prefix: &str, line: usize| {
        let warning = stderr.lines().find(|l| l.starts_with(prefix));
        assert!(
            warning.is_some_and(|w| w.contains(&format!("federation.yaml:{line})"))),
            "{prefix} at line {line}: {stderr}"
        );
    };
    at(
        "warning[MF125] spec.clusters[0].exports[500].ports[0].name",
        line_of("- name: web"),
    );
    at("warning[MF153] spec.clusters[1]", line_of("- domain: west.example"));
}

fn export(service: &str, ports: usize, global: bool, consumers: bool) -> Value {
    let ports: Vec<Value> = (0..ports)
        .map(|i| json!({"name": format!("http-{i}"), "port": 8000 + i}))
        .collect();
    let mut e = json!({"service": service, "namespace": "shop", "ports": ports, "global": global});
    if consumers {
        e["consumers"] = json!(["web"]);
    }
    e
}

#[test]
fn service_entries_past_istios_crd_caps_are_errors_naming_the_service() {
    // 4,096 addresses are allowed on one cluster's imports, but the global
    // host adds the other exporter's: 4,097 endpoints in north and west.
    let many: Vec<String> = (0..4096).map(|i| format!("10.0.{}.{}", i / 256, i % 256)).collect();
    let (code, stderr) = validate_generated(vec![
        ("east", many, vec![export("checkout", 1, true, false)]),
        (
            "west",
            vec!["192.0.2.2".into()],
            vec![export("checkout", 1, true, false)],
        ),
        ("north", vec![], vec![]),
    ]);
    assert_eq!(code, 1, "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error[MF152]")).collect();
    assert_eq!(errors.len(), 2, "{stderr}");
    for cluster in ["north", "west"] {
        assert!(
            errors
                .iter()
                .any(|l| l.contains("checkout.shop.global would have 4097 endpoints")
                    && l.contains(&format!("in cluster {cluster}"))),
            "{stderr}"
        );
    }
    // 256 ports pass, 257 do not.
    let (code, stderr) = validate_generated(vec![
        (
            "east",
            vec!["192.0.2.1".into()],
            vec![export("wide", 256, false, false), export("wider", 257, false, false)],
        ),
        ("west", vec![], vec![]),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.matches("error[").count(), 1, "{stderr}");
    assert!(
        stderr.contains("error[MF152] spec.clusters[0].exports[1].ports"),
        "{stderr}"
    );
    assert!(stderr.contains("wider.shop has 257 ports"), "{stderr}");
}

#[test]
fn a_cluster_importing_over_1000_hosts_mesh_wide_is_warned_to_scope_them() {
    let exports = |n: usize, consumers: bool| -> Vec<Value> {
        (0..n).map(|i| export(&format!("s{i}"), 1, false, consumers)).collect()
    };
    let warned = |stderr: &str| stderr.lines().any(|l| l.starts_with("warning[MF153] spec.clusters[1]"));
    let (code, stderr) = validate_generated(vec![
        ("east", vec!["192.0.2.1".into()], exports(1001, false)),
        ("west", vec![], vec![]),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(warned(&stderr), "{stderr}");
    assert!(
        stderr.contains("imports 1001 hosts") && stderr.contains("consumers"),
        "{stderr}"
    );
    for (n, consumers) in [(1000, false), (1001, true)] {
        let (code, stderr) = validate_generated(vec![
            ("east", vec!["192.0.2.1".into()], exports(n, consumers)),
            ("west", vec![], vec![]),
        ]);
        assert_eq!(code, 0, "{stderr}");
        assert!(!warned(&stderr), "{n} {consumers}: {stderr}");
    }
}
