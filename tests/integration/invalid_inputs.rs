//! Wrong input, case by case: every folder of `testdata/invalid/` is one
//! mistake a user makes (a wrong certificate or a wrong spec). For each, the
//! real binary's `validate` and `generate -o` must exit 1, write nothing,
//! print exactly `expected.txt` on stderr, name the file or field, and never
//! print a line of any private key the case holds.
//!
//! A case folder holds `federation.yaml`, any fixed files it needs, and
//! optionally `files.txt`: certificates made at test time with the `openssl`
//! CLI, one file per line, `PATH = RECIPE + RECIPE ...` (see [`recipe`]).
//! A line `@INLINE RECIPE + ...@` in `federation.yaml` is replaced by that
//! PEM, indented like the marker (for `rootCA.pem`). Keys are never committed.
//!
//! `MESHFED_BLESS=1 cargo test --test integration invalid_inputs` rewrites the goldens.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::golden;
use crate::support::pki::{base64_lines, CertSpec, Issued, Key, Pki};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/invalid")
}

fn meshfed(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshfed"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the meshfed binary runs")
}

/// Certificates of one case, made on demand and cached by recipe, plus
/// every private key made for it.
struct CaseCerts {
    pki: Pki,
    issued: BTreeMap<String, Issued>,
}

impl CaseCerts {
    fn new() -> Self {
        CaseCerts {
            pki: Pki::new(),
            issued: BTreeMap::new(),
        }
    }

    /// Every private key made for the case, in every form it was printed.
    fn key_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for i in self.issued.values() {
            lines.extend(base64_lines(&i.key_pem));
            lines.extend(base64_lines(&self.pki.key_as(i, "traditional")));
            lines.extend(self.pki.jwk_d(i));
        }
        lines
    }

    fn cert(&mut self, kind: &str, name: &str) -> Issued {
        let id = format!("{kind}:{name}");
        if let Some(i) = self.issued.get(&id) {
            return i.clone();
        }
        let root = (kind != "root").then(|| self.cert("root", name));
        let mut spec = CertSpec::root(&format!("{name} {kind}"));
        let mut issuer = None;
        match kind {
            "root" => {}
            "leaf" => {
                spec.extensions = "leaf";
                issuer = root.as_ref();
            }
            "intermediate" => issuer = root.as_ref(),
            "no-cert-sign" => spec.extensions = "no_cert_sign",
            "spiffe-elsewhere" => spec.extensions = "root_spiffe_elsewhere",
            "expired" => {
                spec.start = "20000101000000Z".into();
                spec.end = Some("20010101000000Z".into());
            }
            "not-yet-valid" => spec.start = "20900101000000Z".into(),
            // Relative on purpose: "expires within N days" needs today. The
            // test masks the date; the days left (9) stay stable.
            "expiring" => {
                spec.start = "20200101000000Z".into();
                spec.end = None;
                spec.days = 10;
            }
            "sha1" => {
                spec.key = Key::Rsa(2048);
                spec.digest = "sha1";
            }
            "rsa1024" => spec.key = Key::Rsa(1024),
            "rsa2048" => spec.key = Key::Rsa(2048),
            other => panic!("unknown certificate kind {other}"),
        }
        let issued = self.pki.issue(&spec, issuer);
        self.issued.insert(id, issued.clone());
        issued
    }

    /// The bytes of one recipe:
    /// `root|leaf|intermediate|no-cert-sign|spiffe-elsewhere|expired|not-yet-valid|expiring|sha1|rsa1024|rsa2048:NAME`
    /// give that certificate's PEM; `key|traditional-key|encrypted-key|public-key|request|der|text|crlf|truncated|cut|corrupt|base64-pem:NAME`
    /// `bundle|bundle-expired|bundle-with-private-key:NAME` (SPIFFE bundles)
    /// derive from the root NAME; `empty`, `binary`, `notes` need no name.
    fn recipe(&mut self, recipe: &str) -> Vec<u8> {
        let (kind, name) = recipe.split_once(':').unwrap_or((recipe, ""));
        let root = |s: &mut Self| s.cert("root", name);
        match kind {
            "empty" => Vec::new(),
            "binary" => (0u8..=255).cycle().take(600).collect(),
            "notes" => b"Root CA of cluster-a: ask the platform team for the PEM.\n".to_vec(),
            "key" => root(self).key_pem.into_bytes(),
            "traditional-key" => {
                let r = root(self);
                self.pki.key_as(&r, "traditional").into_bytes()
            }
            "encrypted-key" => {
                let r = root(self);
                self.pki.key_as(&r, "encrypted").into_bytes()
            }
            "public-key" => {
                let r = root(self);
                self.pki.key_as(&r, "public").into_bytes()
            }
            "request" => {
                let r = root(self);
                self.pki.request(&r).into_bytes()
            }
            "der" => {
                let r = root(self);
                self.pki.der(&r)
            }
            "text" => {
                let r = root(self);
                self.pki.text(&r).into_bytes()
            }
            "bundle" => {
                let r = root(self);
                self.pki.spiffe_bundle(&r, false).into_bytes()
            }
            "bundle-expired" => {
                let c = self.cert("expired", name);
                self.pki.spiffe_bundle(&c, false).into_bytes()
            }
            "bundle-with-private-key" => {
                let r = root(self);
                self.pki.spiffe_bundle(&r, true).into_bytes()
            }
            // What `kubectl get -o jsonpath` prints without `| base64 -d`.
            "base64-pem" => data_encoding::BASE64
                .encode(root(self).cert_pem.as_bytes())
                .into_bytes(),
            "crlf" => root(self).cert_pem.replace('\n', "\r\n").into_bytes(),
            "truncated" => {
                let pem = root(self).cert_pem;
                let lines: Vec<&str> = pem.lines().collect();
                lines[..lines.len() / 2]
                    .iter()
                    .map(|l| format!("{l}\n"))
                    .collect::<String>()
                    .into_bytes()
            }
            "cut" => {
                let pem = root(self).cert_pem;
                let mut lines: Vec<&str> = pem.lines().collect();
                lines.remove(3);
                lines.iter().map(|l| format!("{l}\n")).collect::<String>().into_bytes()
            }
            "corrupt" => root(self).cert_pem.replacen("MI", "M*", 1).into_bytes(),
            _ => self.cert(kind, name).cert_pem.into_bytes(),
        }
    }

    fn recipes(&mut self, list: &str) -> Vec<u8> {
        list.split('+').flat_map(|r| self.recipe(r.trim())).collect()
    }
}

/// Copies a case into a temporary folder and makes its certificates.
fn prepare(case: &Path, certs: &mut CaseCerts) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(case).expect("case folder") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if entry.file_type().expect("type").is_file() {
            std::fs::copy(entry.path(), tmp.path().join(&name)).expect("copy");
        } else {
            copy_dir(&entry.path(), &tmp.path().join(&name));
        }
    }
    let manifest = case.join("files.txt");
    if let Ok(text) = std::fs::read_to_string(&manifest) {
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (path, list) = line.split_once('=').expect("files.txt: PATH = RECIPE");
            let path = tmp.path().join(path.trim());
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            if list.trim() == "dir" {
                std::fs::create_dir_all(&path).expect("mkdir");
            } else {
                std::fs::write(&path, certs.recipes(list)).expect("write cert");
            }
        }
    }
    let spec_path = tmp.path().join("federation.yaml");
    // A spec that is not UTF-8 on purpose holds no markers.
    let spec = std::fs::read_to_string(&spec_path).unwrap_or_default();
    if spec.contains("@INLINE ") {
        let mut out = String::new();
        for line in spec.lines() {
            let trimmed = line.trim();
            match trimmed.strip_prefix("@INLINE ").and_then(|r| r.strip_suffix('@')) {
                Some(list) => {
                    let indent = &line[..line.len() - line.trim_start().len()];
                    let pem = String::from_utf8(certs.recipes(list)).expect("inline PEM is text");
                    for l in pem.lines() {
                        out.push_str(&format!("{indent}{l}\n"));
                    }
                }
                None => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        std::fs::write(&spec_path, out).expect("write spec");
    }
    tmp
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("dir") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
}

/// Masks what depends on today: the date after "expires on " (only
/// certificates made relative to now reach that message in the corpus).
fn stable(stderr: &str) -> String {
    let mut out = String::new();
    let mut rest = stderr;
    while let Some(i) = rest.find("expires on ") {
        let (head, tail) = rest.split_at(i + "expires on ".len());
        out.push_str(head);
        out.push_str("<DATE>");
        rest = tail.get(10..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

/// Runs one case; returns a description of every failure.
fn check_case(case: &Path) -> Vec<String> {
    let name = case.file_name().unwrap_or_default().to_string_lossy().into_owned();
    let mut certs = CaseCerts::new();
    let tmp = prepare(case, &mut certs);
    let dir = tmp.path();
    let mut failures = Vec::new();
    let mut fail = |msg: String| failures.push(format!("{name}: {msg}"));

    let validate = meshfed(dir, &["validate", "federation.yaml"]);
    let generate = meshfed(dir, &["generate", "federation.yaml", "-o", "out"]);
    let stderr = stable(&String::from_utf8_lossy(&validate.stderr));

    for (what, out) in [("validate", &validate), ("generate", &generate)] {
        if out.status.code() != Some(1) {
            fail(format!("{what} exited {:?}, not 1", out.status.code()));
        }
    }
    if dir.join("out").exists() {
        fail("generate created the output folder".into());
    }
    if !validate.stdout.is_empty() || !generate.stdout.is_empty() {
        fail("something was printed on stdout".into());
    }
    let generate_stderr = stable(&String::from_utf8_lossy(&generate.stderr));
    if generate_stderr != stderr {
        fail(format!(
            "generate and validate disagree:\n{}",
            golden::diff(&stderr, &generate_stderr, "stderr")
        ));
    }

    if let Err(problem) = golden::check_file(&case.join("expected.txt"), &stderr) {
        fail(problem);
    }

    if stderr.lines().count() == 0 {
        fail("no diagnostic at all".into());
    }
    for line in stderr.lines() {
        let names_file = line.contains("(federation.yaml") || line.contains("(certs/");
        let names_field = line.split("] ").nth(1).is_some_and(|r| {
            ["spec.", "metadata.", "apiVersion", "kind"]
                .iter()
                .any(|p| r.starts_with(p))
        });
        if !names_file && !names_field {
            fail(format!("names neither file nor field: {line}"));
        }
    }

    let everything = [&validate.stdout, &validate.stderr, &generate.stdout, &generate.stderr]
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect::<String>();
    for line in certs.key_lines() {
        if everything.contains(&line) {
            fail(format!("private key line printed: {line}"));
        }
        // Not even part of a line: any 24 characters of it.
        if let Some(w) = line
            .as_bytes()
            .windows(24)
            .find(|w| everything.as_bytes().windows(24).any(|e| e == *w))
        {
            fail(format!("part of a private key printed: {}", String::from_utf8_lossy(w)));
        }
    }
    failures
}

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(testdata())
        .expect("testdata/invalid")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
}

#[test]
fn every_invalid_case_fails_cleanly_with_its_golden_diagnostics() {
    let cases = cases();
    assert!(cases.len() >= 30, "the corpus has only {} cases", cases.len());
    let failures: Vec<String> = cases.iter().flat_map(|c| check_case(c)).collect();
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_certificate_code_has_a_case() {
    let mut text = String::new();
    for case in cases() {
        text.push_str(&std::fs::read_to_string(case.join("expected.txt")).unwrap_or_default());
    }
    for n in 201..=219 {
        let code = format!("[MF{n}]");
        assert!(text.contains(&code), "no case shows {code}");
    }
}

const TWO_CLUSTERS: &str = "\
apiVersion: meshfed.io/v1alpha1
kind: MeshFederation
metadata:
  name: ok
spec:
  clusters:
  - name: cluster-a
    domain: cluster-a.local
    rootCA:
      files: [certs/a.pem, certs/a-next.pem]
    gateway:
      addresses: [203.0.113.10]
    exports:
    - service: foo
      namespace: abc
      ports:
      - {name: http, port: 8080}
  - name: cluster-b
    domain: cluster-b.local
    rootCA:
      files: [certs/b.pem]
    gateway:
      addresses: [203.0.113.20]
";

/// Warnings alone do not fail, and rotation (two roots for one cluster)
/// puts both roots into every trust output of its peer.
#[test]
fn warnings_alone_pass_and_both_rotation_roots_reach_every_trust_output() {
    let mut certs = CaseCerts::new();
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    std::fs::create_dir(dir.join("certs")).expect("mkdir");
    std::fs::write(dir.join("federation.yaml"), TWO_CLUSTERS).expect("spec");
    // The current root (CRLF, openssl's text around it) twice, and the next root.
    let current = certs.recipes("text:cluster-a + crlf:cluster-a");
    std::fs::write(dir.join("certs/a.pem"), current).expect("a");
    std::fs::write(dir.join("certs/a-next.pem"), certs.recipes("rsa2048:cluster-a")).expect("a-next");
    std::fs::write(dir.join("certs/b.pem"), certs.recipes("intermediate:cluster-b")).expect("b");

    let out = meshfed(dir, &["generate", "federation.yaml", "-o", "out"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("warning[MF214]"), "{stderr}");
    assert!(stderr.contains("warning[MF213]"), "{stderr}");
    assert!(!stderr.contains("error["), "{stderr}");

    let roots = [
        certs.cert("root", "cluster-a").cert_pem,
        certs.cert("rsa2048", "cluster-a").cert_pem,
    ];
    let strings = output_strings(&dir.join("out/cluster-b"));
    for root in &roots {
        // ca.crt, cluster-a.pem and a caCertificates entry (Helm values) at least.
        let carriers = strings.iter().filter(|s| s.contains(root.as_str())).count();
        assert!(carriers >= 3, "a rotation root is in only {carriers} trust value(s)");
    }
}

/// Every string value of one cluster's output folder, base64 values decoded
/// too (NEXT-STEPS.md is prose, not YAML, and is left out).
fn output_strings(cluster_dir: &std::path::Path) -> Vec<String> {
    let mut strings = Vec::new();
    for entry in std::fs::read_dir(cluster_dir).expect("cluster output") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        let text = std::fs::read_to_string(path).expect("output file");
        for doc in serde_norway::Deserializer::from_str(&text) {
            let value: serde_json::Value = serde::Deserialize::deserialize(doc).expect("output is YAML");
            collect_strings(&value, &mut strings);
        }
    }
    strings
}

fn collect_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => {
            if let Ok(bytes) = data_encoding::BASE64.decode(s.as_bytes()) {
                if let Ok(text) = String::from_utf8(bytes) {
                    out.push(text);
                }
            }
            out.push(s.clone());
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        serde_json::Value::Object(map) => map.values().for_each(|i| collect_strings(i, out)),
        _ => {}
    }
}

/// `rootCA.spiffeBundle`: the root inside a SPIRE-style bundle is trusted
/// by the peer exactly like a PEM root.
#[test]
fn a_spiffe_bundle_is_a_root_source() {
    let mut certs = CaseCerts::new();
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    std::fs::create_dir(dir.join("certs")).expect("mkdir");
    let spec = TWO_CLUSTERS
        .replace("files: [certs/a.pem, certs/a-next.pem]", "files: [certs/a.pem]")
        .replace("files: [certs/b.pem]", "spiffeBundle: certs/b.bundle.json");
    std::fs::write(dir.join("federation.yaml"), spec).expect("spec");
    std::fs::write(dir.join("certs/a.pem"), certs.recipes("root:cluster-a")).expect("a");
    std::fs::write(dir.join("certs/b.bundle.json"), certs.recipes("bundle:cluster-b")).expect("b");

    let out = meshfed(dir, &["generate", "federation.yaml", "-o", "out"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    let root_b = certs.cert("root", "cluster-b").cert_pem;
    let strings = output_strings(&dir.join("out/cluster-a"));
    let carriers = strings.iter().filter(|s| s.contains(root_b.as_str())).count();
    assert!(
        carriers >= 3,
        "cluster-b's bundle root is in only {carriers} trust value(s)"
    );
}

/// `meshfed validate federation.yaml` in `dir`: its stderr, once the exit
/// code is `code`.
fn validate(dir: &std::path::Path, code: i32) -> String {
    let out = meshfed(dir, &["validate", "federation.yaml"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    stderr
}

/// A temporary tree with `TWO_CLUSTERS` as `federation.yaml` (one valid root
/// file per cluster), the spec changed by `edit` first.
fn two_valid_clusters(edit: impl FnOnce(String) -> String) -> tempfile::TempDir {
    let mut certs = CaseCerts::new();
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    std::fs::create_dir(dir.join("certs")).expect("mkdir");
    let spec = TWO_CLUSTERS.replace("files: [certs/a.pem, certs/a-next.pem]", "files: [certs/a.pem]");
    std::fs::write(dir.join("federation.yaml"), edit(spec)).expect("spec");
    std::fs::write(dir.join("certs/a.pem"), certs.recipes("root:cluster-a")).expect("a");
    std::fs::write(dir.join("certs/b.pem"), certs.recipes("root:cluster-b")).expect("b");
    tmp
}

/// One IPv6 gateway address written two ways is one address: a warning
/// (MF131), and the importer's ServiceEntry lists it once, in RFC 5952 form.
#[test]
fn an_ipv6_address_written_two_ways_is_one_endpoint_in_rfc5952_form() {
    let tmp = two_valid_clusters(|spec| {
        spec.replace(
            "addresses: [203.0.113.10]",
            "addresses: [\"2001:DB8:0:0::11\", \"2001:db8::11\"]",
        )
    });
    let dir = tmp.path();

    let out = meshfed(dir, &["generate", "federation.yaml", "-o", "out"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning[MF131] spec.clusters[0].gateway.addresses[1]"),
        "{stderr}"
    );
    let mut strings = Vec::new();
    for entry in std::fs::read_dir(dir.join("out/cluster-b")).expect("cluster-b output") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("output file");
        assert!(
            !text.contains("2001:DB8"),
            "{} keeps the unnormalised form",
            path.display()
        );
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        for doc in serde_norway::Deserializer::from_str(&text) {
            let value: serde_json::Value = serde::Deserialize::deserialize(doc).expect("output is YAML");
            collect_strings(&value, &mut strings);
        }
    }
    let endpoints = strings.iter().filter(|s| s.as_str() == "2001:db8::11").count();
    assert_eq!(endpoints, 1, "the address is not one endpoint: {endpoints}");
}

/// A folder given as the spec says it is a folder (MF001), not "check the
/// permissions".
#[test]
fn a_folder_given_as_the_spec_is_named_a_folder() {
    let tmp = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(tmp.path().join("federation")).expect("mkdir");
    let out = meshfed(tmp.path(), &["validate", "federation"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error[MF001] (federation): cannot read the spec: it is a folder; give the spec file"),
        "{stderr}"
    );
    assert!(!stderr.contains("permission"), "{stderr}");
}

/// A root that expires soon beside one that lasts: the rotation is under
/// way, and the warning says the next step, not "start a root rotation".
/// Alone, the same root still says to start one.
#[test]
fn an_expiring_root_beside_its_successor_says_the_rotation_is_under_way() {
    let mut certs = CaseCerts::new();
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    std::fs::create_dir(dir.join("certs")).expect("mkdir");
    std::fs::write(dir.join("federation.yaml"), TWO_CLUSTERS).expect("spec");
    std::fs::write(dir.join("certs/a.pem"), certs.recipes("expiring:cluster-a")).expect("a");
    std::fs::write(dir.join("certs/a-next.pem"), certs.recipes("root:cluster-a")).expect("a-next");
    std::fs::write(dir.join("certs/b.pem"), certs.recipes("expiring:cluster-b")).expect("b");

    let out = meshfed(dir, &["validate", "federation.yaml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let line = |path: &str| {
        stderr
            .lines()
            .find(|l| l.starts_with(&format!("warning[MF210] {path}")))
            .unwrap_or_else(|| panic!("no MF210 for {path}: {stderr}"))
            .to_owned()
    };
    let rotating = line("spec.clusters[0].rootCA.files[0]");
    assert!(rotating.contains("the rotation is under way"), "{rotating}");
    assert!(
        rotating.contains("once every workload has a certificate from the new root, remove this root"),
        "{rotating}"
    );
    assert!(!rotating.contains("start a root rotation"), "{rotating}");
    let alone = line("spec.clusters[1].rootCA.files[0]");
    assert!(alone.contains("start a root rotation"), "{alone}");
}

/// Ignored input is never silent: metadata.namespace, labels and
/// annotations (other than the tools' own) are each a warning (MF132), and
/// `exports:` with no value is no exports, not a type error.
#[test]
fn unused_metadata_is_a_warning_and_an_empty_exports_is_none() {
    let tmp = two_valid_clusters(|spec| {
        let spec = spec
            .replace(
                "  name: ok\n",
                "  name: ok\n  namespace: mesh\n  labels: {team: net}\n  annotations:\n    \
             config.kubernetes.io/local-config: \"true\"\n    owner: net-team\n",
            )
            .replace(
                "      files: [certs/b.pem]\n",
                "      files: [certs/b.pem]\n    exports:\n",
            );
        assert!(spec.contains("    exports:\n"), "{spec}");
        spec
    });
    let dir = tmp.path();

    let out = meshfed(dir, &["validate", "federation.yaml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for (path, what) in [
        ("metadata.namespace (federation.yaml:5)", "namespace mesh is not used"),
        ("metadata.labels (federation.yaml:6)", "labels team are not copied"),
        (
            "metadata.annotations (federation.yaml:7)",
            "annotations owner are not copied",
        ),
    ] {
        assert!(
            stderr.contains(&format!("warning[MF132] {path}: {what}")),
            "no warning for {path}: {stderr}"
        );
    }
    assert!(
        !stderr.contains("local-config"),
        "a tool's own annotation is reported: {stderr}"
    );
    assert_eq!(stderr.lines().count(), 3, "{stderr}");
}

/// A federation where no cluster exports anything federates nothing: a
/// warning (MF133), not a silent empty output.
#[test]
fn a_federation_without_exports_is_a_warning() {
    let tmp = two_valid_clusters(|spec| {
        let spec = spec.replace(
            "    exports:\n    - service: foo\n      namespace: abc\n      ports:\n      - {name: http, port: 8080}\n",
            "",
        );
        assert!(!spec.contains("exports"), "{spec}");
        spec
    });
    let dir = tmp.path();

    let out = meshfed(dir, &["validate", "federation.yaml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        ["warning[MF133] spec.clusters (federation.yaml:6): no cluster exports anything: no cluster imports a service and no cluster trusts another; list under a cluster's `exports` the services it offers to the others (meshfed explain MF133)"],
        "{stderr}"
    );
}

/// An Istio release newer than the ones meshfed was checked against is a
/// warning of its own (MF126), not the "too old" error's code: the output is
/// still written, with the newest API versions meshfed knows.
#[test]
fn a_newer_istio_is_a_warning_with_its_own_code() {
    let tmp = two_valid_clusters(|spec| spec.replace("spec:\n", "spec:\n  istio:\n    version: \"1.99\"\n"));
    let out = meshfed(tmp.path(), &["generate", "federation.yaml", "-o", "out"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.starts_with("warning[MF126] spec.istio.version (federation.yaml:7): Istio 1.99 is newer than"),
        "{stderr}"
    );
    assert!(tmp.path().join("out/cluster-a").is_dir());
}

/// A value listed three times: both repeats name the first place, where the
/// value is kept, not the one just before them.
#[test]
fn a_third_duplicate_names_the_first() {
    let tmp = two_valid_clusters(|spec| {
        spec.replace(
            "      - {name: http, port: 8080}\n",
            "      - {name: http, port: 8080}\n      - {name: http-b, port: 8080}\n      - {name: http-c, port: 8080}\n",
        )
    });
    let stderr = validate(tmp.path(), 1);
    for repeat in [1, 2] {
        let line = format!(
            "error[MF122] spec.clusters[0].exports[0].ports[{repeat}].port (federation.yaml:{}): port 8080 is already listed at ports[0];",
            17 + repeat
        );
        assert!(stderr.contains(&line), "{line}\n{stderr}");
    }
}

/// Two clusters serve one global host, one of them without `locality`:
/// a warning for that one (MF134), none once both have one.
#[test]
fn a_global_exporter_without_locality_is_a_warning() {
    let global = |spec: String, b_locality: &str| {
        spec.replace(
            "    domain: cluster-a.local\n",
            "    domain: cluster-a.local\n    locality: us-east1\n",
        )
        .replace(
            "      - {name: http, port: 8080}\n",
            "      - {name: http, port: 8080}\n      global: true\n",
        )
        .replace(
            "    domain: cluster-b.local\n",
            &format!("    domain: cluster-b.local\n{b_locality}"),
        )
        .replace(
            "      addresses: [203.0.113.20]\n",
            "      addresses: [203.0.113.20]\n    exports:\n    - service: foo\n      namespace: abc\n      ports:\n      - {name: http, port: 8080}\n      global: true\n",
        )
    };
    let tmp = two_valid_clusters(|spec| global(spec, ""));
    let stderr = validate(tmp.path(), 0);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.starts_with("warning[MF134]")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].starts_with("warning[MF134] spec.clusters[1].exports[0].global (federation.yaml:")
            && warnings[0].contains(
                "cluster cluster-b serves the global host foo.abc.global with 1 other cluster(s) but has no locality"
            ),
        "{stderr}"
    );

    let tmp = two_valid_clusters(|spec| global(spec, "    locality: europe-west1\n"));
    let stderr = validate(tmp.path(), 0);
    assert!(!stderr.contains("MF134"), "{stderr}");
}

/// Two exports whose parts join to one object name in the importer (MF135):
/// `foo-bar` in `baz` and `foo` in `bar-baz` from one cluster; and an import
/// from a cluster named `global` beside the global host of that service.
#[test]
fn imports_that_would_share_a_name_are_refused() {
    let tmp = two_valid_clusters(|spec| {
        spec.replace(
            "    - service: foo\n      namespace: abc\n",
            "    - service: foo-bar\n      namespace: baz\n      ports:\n      - {name: http, port: 8080}\n    - service: foo\n      namespace: bar-baz\n",
        )
    });
    let stderr = validate(tmp.path(), 1);
    assert!(
        stderr.starts_with(
            "error[MF135] spec.clusters[0].exports[1] (federation.yaml:18): cluster cluster-b would get two ServiceEntries named ok-foo-bar-baz-cluster-a: foo-bar.baz from cluster cluster-a, and foo.bar-baz from cluster cluster-a;"
        ),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let tmp = two_valid_clusters(|spec| {
        spec.replace("  - name: cluster-b\n", "  - name: global\n")
            .replace(
                "      - {name: http, port: 8080}\n",
                "      - {name: http, port: 8080}\n      global: true\n",
            )
            .replace(
                "      addresses: [203.0.113.20]\n",
                "      addresses: [203.0.113.20]\n    exports:\n    - service: foo\n      namespace: abc\n      ports:\n      - {name: http, port: 8080}\n",
            )
    });
    let stderr = validate(tmp.path(), 1);
    assert!(
        stderr.contains("error[MF135] spec.clusters[1].exports[0]")
            && stderr.contains("cluster cluster-a would get two ServiceEntries named ok-foo-abc-global"),
        "{stderr}"
    );
}
