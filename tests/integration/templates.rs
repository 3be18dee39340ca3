//! `--templates DIR`: a user's templates replace the embedded ones by file
//! name; a broken template is a clear one-line error and nothing is written.

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::support::{scenarios, tree};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn generate(templates: &std::path::Path, out: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshfed"))
        .args(["generate", "examples/seed/federation.yaml", "--templates"])
        .arg(templates)
        .arg("-o")
        .arg(out)
        .current_dir(root())
        .output()
        .unwrap()
}

/// A `--templates` folder holding one template, `name` with `text`, and
/// where its output goes; both inside the returned temporary folder.
fn one_template(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("templates");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
    let out = tmp.path().join("out");
    (tmp, dir, out)
}

fn embedded(name: &str) -> String {
    std::fs::read_to_string(root().join("templates").join(name)).unwrap()
}

#[test]
fn every_embedded_template_is_used_by_some_scenario() {
    // Each template name the code knows exists in templates/ and shows up in
    // the golden output of at least one scenario (fragments by file name,
    // objects by kind).
    let goldens: String = scenarios::all()
        .iter()
        .flat_map(|s| tree::texts(&s.dir.join("expected")))
        .map(|(name, text)| {
            let file = name.rsplit('/').next().unwrap_or_default().to_owned();
            format!("{file}\n{text}")
        })
        .collect();
    for (name, needle) in [
        ("serviceentry.yaml", "kind: ServiceEntry"),
        ("destinationrule.yaml", "kind: DestinationRule"),
        ("gateway.yaml", "kind: Gateway"),
        ("trust-bundle.yaml", "kind: Secret"),
        ("helm-istiod-values.yaml", "helm-istiod-values.yaml"),
        ("helm-gateway-values.yaml", "helm-gateway-values.yaml"),
        ("istio-operator.yaml", "kind: IstioOperator"),
        ("sail-istio-patch.yaml", "kind: Istio\n"),
        ("authorizationpolicy.yaml", "kind: AuthorizationPolicy"),
        ("peerauthentication.yaml", "kind: PeerAuthentication"),
        ("next-steps.md", "NEXT-STEPS.md\n# "),
    ] {
        assert!(
            root().join("templates").join(name).is_file(),
            "templates/{name} is missing"
        );
        assert!(goldens.contains(needle), "no scenario renders {name}");
    }
}

#[test]
fn a_user_template_replaces_the_embedded_one() {
    let custom = embedded("destinationrule.yaml").replace(
        "      mode: ISTIO_MUTUAL",
        "      mode: ISTIO_MUTUAL\n    connectionPool:\n      tcp:\n        maxConnections: 100",
    );
    let (_tmp, dir, out) = one_template("destinationrule.yaml", &custom);
    let o = generate(&dir, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dr = std::fs::read_to_string(out.join("cluster-a/imports-cluster-b.yaml")).unwrap();
    assert!(dr.contains("maxConnections: 100"), "{dr}");
    // The other templates stay embedded.
    assert!(std::fs::read_to_string(out.join("cluster-b/gateway.yaml"))
        .unwrap()
        .contains("AUTO_PASSTHROUGH"));
}

#[test]
fn a_broken_template_is_one_clear_error_and_nothing_is_written() {
    for (body, code, detail) in [
        (
            "apiVersion: v1\nkind: Gateway\n{% for x in %}\n",
            "MF301",
            "gateway.yaml:3",
        ),
        (
            "apiVersion: v1\nkind: Gateway\nspec: {{ no_such_variable }}\n",
            "MF301",
            "gateway.yaml:3",
        ),
        (
            "apiVersion: v1\nkind: Gateway\nspec: [unclosed\n",
            "MF302",
            "gateway.yaml",
        ),
        ("- just\n- a list\n", "MF302", "gateway.yaml"),
    ] {
        let (_tmp, dir, out) = one_template("gateway.yaml", body);
        let o = generate(&dir, &out);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{body}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(code) && stderr.contains(detail), "{body}: {stderr}");
        assert!(
            stderr.contains(dir.to_str().unwrap()),
            "names the user's template file: {stderr}"
        );
        assert!(!out.exists(), "nothing may be written when a template fails");
    }
}

#[test]
fn a_user_next_steps_template_reads_the_lists_of_names_as_lists() {
    // meshfed hands `next-steps.md` its long lists of names without copying
    // them (src/render/next_steps.rs); a user's template must not notice.
    let template = concat!(
        "{{ steps.imported_hosts|length }} {{ steps.imported_hosts[0] }} {{ steps.imported_hosts }}",
        " {% for h in steps.imported_hosts %}[{{ loop.index }} {{ h }}]{% endfor %}",
        " {{ steps.imported_hosts|join(\"<&>\") }} {{ steps.imported_hosts|map(\"upper\")|join(\",\") }}\n",
        "{% for e in steps.exports %}{{ e.service }}: {{ e.importers|length }} {{ e.importers }}",
        " {{ e.importers|join(\", \") }} {{ e.importers|first }}{% if \"cluster-b\" in e.importers %} in{% endif %}\n",
        "{% endfor %}{{ steps|tojson }}\n",
    );
    let (_tmp, dir, out) = one_template("next-steps.md", template);
    let o = generate(&dir, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(out.join("cluster-a/NEXT-STEPS.md")).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(concat!(
            "1 bar.xyz.svc.cluster-b.local ['bar.xyz.svc.cluster-b.local']",
            " [1 bar.xyz.svc.cluster-b.local] bar.xyz.svc.cluster-b.local BAR.XYZ.SVC.CLUSTER-B.LOCAL"
        ))
    );
    assert_eq!(lines.next(), Some("foo: 1 ['cluster-b'] cluster-b cluster-b in"));
    // Every field, in the plan's order (`plan::NextSteps`).
    assert_eq!(
        lines.next(),
        Some(concat!(
            r#"{"installer": "helm", "gateway": {"port": 15443, "target_port": 15443, "addresses": ["203.0.113.10"], "#,
            r#""selector": {"istio": "ingressgateway"}}, "callers": ["cluster-b"], "exports": [{"service": "foo", "#,
            r#""namespace": "abc", "ports": [{"name": "http", "port": 8080, "target_port": 8080}], "importers": ["cluster-b"]}], "#,
            r#""remote_gateways": [{"cluster": "cluster-b", "addresses": ["203.0.113.20"], "port": 15443}], "#,
            r#""imported_hosts": ["bar.xyz.svc.cluster-b.local"], "export_namespaces": ["abc"]}"#
        ))
    );
}
