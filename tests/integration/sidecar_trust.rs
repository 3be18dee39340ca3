//! Does a remote root reach a sidecar? Each installer's fragment (helm,
//! istioctl, sail) is read the way Istio reads it, and the roots a sidecar
//! would then hold are put to a real mutual-TLS handshake (`openssl
//! s_server`/`s_client`) between a workload certificate of cluster-a and one
//! of cluster-b, both ways.
//!
//! How Istio turns the fragment into a sidecar's roots (istio/istio 1.30.3):
//! - istiod collects `meshConfig.caCertificates[].pem`
//!   (`pilot/pkg/trustbundle/trustbundle.go`, `AddMeshConfigUpdate`) only
//!   with `ISTIO_MULTIROOT_MESH` true in its environment
//!   (`pilot/pkg/features/pilot.go`, `pilot/pkg/bootstrap/server.go`) and
//!   serves the bundle only over PCDS (`pilot/pkg/xds/pcds.go`);
//! - pilot-agent subscribes to PCDS only with `PROXY_CONFIG_XDS_AGENT` true
//!   (`pilot/cmd/pilot-agent/options/options.go`, default false;
//!   `pkg/istio-agent/xds_proxy.go` installs the handler), an environment
//!   variable the injection template sets from
//!   `meshConfig.defaultConfig.proxyMetadata`
//!   (`manifests/charts/istio-control/istio-discovery/files/injection-template.yaml`);
//!   Istio's own `tests/integration/security/ca_custom_root` sets both;
//! - the agent adds the bundle to its own root
//!   (`security/pkg/nodeagent/cache/secretcache.go`, `mergeConfigTrustBundle`).
//!
//! The trust `Secret` is on none of these paths, so the handshake never uses it.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::support::pki::{CertSpec, Issued, Pki};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Two clusters as in the seed example, with roots (and so workload keys)
/// made for this test: the seed's own roots come without keys.
struct Clusters {
    pki: Pki,
    roots: [Issued; 2],
    workloads: [Issued; 2],
}

const NAMES: [&str; 2] = ["cluster-a", "cluster-b"];

fn clusters() -> Clusters {
    let mut pki = Pki::new();
    let root_a = pki.issue(&CertSpec::root("Root CA cluster-a"), None);
    let root_b = pki.issue(&CertSpec::root("Root CA cluster-b"), None);
    let workload_a = pki.issue(&CertSpec::workload("foo.abc", "leaf"), Some(&root_a));
    let workload_b = pki.issue(&CertSpec::workload("bar.xyz", "leaf_cluster_b"), Some(&root_b));
    Clusters {
        pki,
        roots: [root_a, root_b],
        workloads: [workload_a, workload_b],
    }
}

/// `generate -o` of the seed spec with `installer` and the test's roots;
/// returns the output folder.
fn generate(c: &Clusters, installer: &str) -> PathBuf {
    let dir = c.pki.path().join(format!("spec-{installer}"));
    std::fs::create_dir_all(dir.join("certs")).unwrap();
    for (name, root) in NAMES.iter().zip(&c.roots) {
        std::fs::write(dir.join(format!("certs/{name}.pem")), &root.cert_pem).unwrap();
    }
    let seed = std::fs::read_to_string(root().join("examples/seed/federation.yaml")).unwrap();
    assert!(seed.contains("installer: helm"));
    let spec = dir.join("federation.yaml");
    std::fs::write(
        &spec,
        seed.replace("installer: helm", &format!("installer: {installer}")),
    )
    .unwrap();
    let out = dir.join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_meshfed"))
        .arg("generate")
        .arg(&spec)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

/// The installer's fragment as (meshConfig, istiod env), at the installer's
/// own value paths: the istiod chart's `meshConfig` and `pilot.env`, the
/// IstioOperator's `spec.meshConfig` and `spec.values.pilot.env`, the sail
/// `Istio`'s `spec.values.meshConfig` and `spec.values.pilot.env`.
fn fragment(out: &Path, cluster: &str, installer: &str) -> (Value, Value) {
    let (file, mesh, env) = match installer {
        "helm" => ("helm-istiod-values.yaml", "/meshConfig", "/pilot/env"),
        "istioctl" => ("istio-operator.yaml", "/spec/meshConfig", "/spec/values/pilot/env"),
        "sail" => (
            "sail-istio-patch.yaml",
            "/spec/values/meshConfig",
            "/spec/values/pilot/env",
        ),
        other => panic!("no installer {other}"),
    };
    let text = std::fs::read_to_string(out.join(cluster).join(file)).unwrap();
    let v: Value = serde_norway::from_str(&text).unwrap();
    (
        v.pointer(mesh).cloned().unwrap_or(Value::Null),
        v.pointer(env).cloned().unwrap_or(Value::Null),
    )
}

/// The roots istiod sends a sidecar over PCDS: every `caCertificates[].pem`,
/// only when istiod has `ISTIO_MULTIROOT_MESH: "true"` and the proxy
/// metadata has `PROXY_CONFIG_XDS_AGENT: "true"`; otherwise none.
fn pcds_bundle(mesh: &Value, env: &Value) -> String {
    let multiroot = env["ISTIO_MULTIROOT_MESH"] == json!("true");
    let subscribed = mesh["defaultConfig"]["proxyMetadata"]["PROXY_CONFIG_XDS_AGENT"] == json!("true");
    if !(multiroot && subscribed) {
        return String::new();
    }
    mesh["caCertificates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|ca| ca["pem"].as_str())
        .collect()
}

/// What a sidecar of the cluster trusts: its own root plus the PCDS bundle.
fn sidecar_roots(c: &Clusters, i: usize, bundle: &str, tag: &str) -> PathBuf {
    let path = c.pki.path().join(format!("roots-{}-{tag}.pem", NAMES[i]));
    std::fs::write(&path, format!("{}{bundle}", c.roots[i].cert_pem)).unwrap();
    path
}

/// A real mTLS handshake: the server presents `server` and requires a client
/// certificate verified against `server_roots`; the client presents `client`
/// and verifies the server against `client_roots`. True when a line made it
/// through and back (so both sides accepted the other; under TLS 1.3 a
/// client can finish its side before the server rejects its certificate).
fn handshake(server: &Issued, server_roots: &Path, client: &Issued, client_roots: &Path) -> bool {
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut s = Command::new("openssl")
            .args([
                "s_server",
                "-accept",
                &format!("127.0.0.1:{port}"),
                "-naccept",
                "1",
                "-rev",
            ])
            .args(["-Verify", "1", "-verify_return_error"])
            .arg("-cert")
            .arg(&server.cert_path)
            .arg("-key")
            .arg(&server.key_path)
            .arg("-CAfile")
            .arg(server_roots)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl runs");
        let mut lines = BufReader::new(s.stdout.take().unwrap()).lines();
        let listening = lines.by_ref().map_while(Result::ok).any(|l| l.starts_with("ACCEPT"));
        if !listening {
            // The port was taken in the meantime: try another.
            let _ = s.wait();
            continue;
        }
        let mut cl = Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-brief"])
            .arg("-verify_return_error")
            .arg("-cert")
            .arg(&client.cert_path)
            .arg("-key")
            .arg(&client.key_path)
            .arg("-CAfile")
            .arg(client_roots)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl runs");
        let mut stdin = cl.stdin.take().unwrap();
        // A refused handshake closes the client, and writing may then fail: that is an answer too.
        let _ = stdin.write_all(b"ping\n");
        let _ = stdin.flush();
        let mut reply = String::new();
        let _ = BufReader::new(cl.stdout.take().unwrap()).read_line(&mut reply);
        drop(stdin);
        let _ = cl.kill();
        let _ = cl.wait();
        let _ = s.kill();
        let _ = s.wait();
        return reply.trim() == "gnip";
    }
    panic!("openssl s_server found no free port in five tries");
}

#[test]
fn every_installer_fragment_brings_the_remote_root_to_the_sidecars() {
    let c = clusters();
    for installer in ["helm", "istioctl", "sail"] {
        let out = generate(&c, installer);
        let mut roots = Vec::new();
        for (i, name) in NAMES.iter().enumerate() {
            let (mesh, env) = fragment(&out, name, installer);
            let bundle = pcds_bundle(&mesh, &env);
            let peer = &c.roots[1 - i].cert_pem;
            assert!(
                bundle.contains(peer.trim()),
                "{installer}: {name}'s sidecars would not get {}'s root",
                NAMES[1 - i]
            );
            // The peer's SPIFFE IDs are accepted: caCertificates scopes its root to its trust domain.
            let trust_domains: Vec<&Value> = mesh["caCertificates"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|ca| ca["trustDomains"].as_array().unwrap())
                .collect();
            assert_eq!(
                trust_domains,
                [&json!(format!("{}.local", NAMES[1 - i]))],
                "{installer}"
            );
            roots.push(sidecar_roots(&c, i, &bundle, installer));
        }
        let [a, b] = &c.workloads;
        assert!(
            handshake(b, &roots[1], a, &roots[0]),
            "{installer}: foo in cluster-a cannot call bar in cluster-b"
        );
        assert!(
            handshake(a, &roots[0], b, &roots[1]),
            "{installer}: bar in cluster-b cannot call foo in cluster-a"
        );
    }
}

#[test]
fn without_proxy_config_xds_agent_no_remote_root_arrives_and_the_handshake_fails() {
    let c = clusters();
    for installer in ["helm", "istioctl", "sail"] {
        let out = generate(&c, installer);
        let mut roots = Vec::new();
        for (i, name) in NAMES.iter().enumerate() {
            let (mut mesh, env) = fragment(&out, name, installer);
            // The fragment as it was before PROXY_CONFIG_XDS_AGENT was set.
            let metadata = mesh["defaultConfig"]["proxyMetadata"].as_object_mut().unwrap();
            assert!(metadata.remove("PROXY_CONFIG_XDS_AGENT").is_some(), "{installer}");
            let bundle = pcds_bundle(&mesh, &env);
            assert_eq!(bundle, "", "{installer}: {name} got a bundle without subscribing");
            roots.push(sidecar_roots(&c, i, &bundle, &format!("{installer}-unsubscribed")));
        }
        let [a, b] = &c.workloads;
        assert!(
            !handshake(b, &roots[1], a, &roots[0]),
            "{installer}: the handshake passed with only the local roots"
        );
        // The control: with the remote root there, the same certificates do connect.
        let both = c.pki.path().join("both-roots.pem");
        std::fs::write(&both, format!("{}{}", c.roots[0].cert_pem, c.roots[1].cert_pem)).unwrap();
        assert!(handshake(b, &both, a, &both), "{installer}: control handshake failed");
    }
}

#[test]
fn the_trust_secret_says_who_reads_it() {
    let c = clusters();
    let out = generate(&c, "helm");
    let text = std::fs::read_to_string(out.join("cluster-a/trust-bundle.yaml")).unwrap();
    let secret: Value = serde_norway::from_str(&text).unwrap();
    let note = secret["metadata"]["annotations"]["meshfed.io/read-by"]
        .as_str()
        .unwrap_or_default();
    assert!(
        note.contains("credentialName") && note.contains("not Istio ISTIO_MUTUAL"),
        "{text}"
    );
}
