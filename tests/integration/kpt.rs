//! meshfed as an exec KRM function under the real kpt (1.0.0-beta.56 on the
//! project's machines): `kpt fn eval --exec` with a MeshFederationMember or a
//! MeshFederation as `--fn-config`, and `kpt fn render --allow-exec` with a
//! Kptfile pipeline.
//!
//! The package (testdata/kpt/package) holds what a careless YAML round trip
//! changes. Each test copies it, with the seed federation, into a temporary
//! tree and checks that the package's own files come out byte for byte, that
//! the added files hold exactly the objects `meshfed generate` makes for the
//! same clusters, and that a second run changes nothing. The first test
//! checks the premise: kpt with `/bin/cat` as the function leaves the
//! package as it was.
//!
//! kpt runs an exec function in kpt's own working directory, so relative
//! paths in the function config resolve from where kpt was started; the
//! last test starts it elsewhere and expects the hint that says so.
//!
//! Without kpt on PATH the tests are skipped with a message, except in CI
//! (`CI` set), where a missing kpt is a failure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_norway::Value;

use crate::support::{self, tools};

const BIN: &str = env!("CARGO_BIN_EXE_meshfed");

/// What the skip message says the tests need.
const KPT_TESTS: &str = "run meshfed under kpt (kpt itself is not installed by it: https://kpt.dev/installation/)";

/// Relative path → bytes of every file under `dir`.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    support::tree::files(dir)
        .into_iter()
        .map(|(name, bytes)| (PathBuf::from(name), bytes))
        .collect()
}

/// Fails with the paths that differ (not the bytes of every file).
fn assert_same_tree(got: &BTreeMap<PathBuf, Vec<u8>>, want: &BTreeMap<PathBuf, Vec<u8>>, what: &str) {
    let differ: Vec<&PathBuf> = got
        .keys()
        .chain(want.keys())
        .filter(|p| got.get(*p) != want.get(*p))
        .collect();
    assert!(differ.is_empty(), "{what}: {differ:?}");
}

/// A temporary tree: `package/` (the fixture), `federation/` (the seed
/// example) and `member.yaml` (cluster-a, its path relative to the root).
fn workspace() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixture = repo.join("testdata/kpt/package");
    std::fs::create_dir_all(root.join("package")).unwrap();
    for (path, bytes) in tree(&fixture) {
        std::fs::write(root.join("package").join(path), bytes).unwrap();
    }
    std::fs::create_dir_all(root.join("federation/certs")).unwrap();
    for f in ["federation.yaml", "certs/cluster-a.pem", "certs/cluster-b.pem"] {
        std::fs::copy(repo.join("examples/seed").join(f), root.join("federation").join(f)).unwrap();
    }
    std::fs::write(root.join("member.yaml"), member("federation/federation.yaml")).unwrap();
    tmp
}

fn member(federation: &str) -> String {
    format!(
        "apiVersion: meshfed.io/v1alpha1\nkind: MeshFederationMember\nmetadata:\n  name: cluster-a\n  annotations:\n    \
         config.kubernetes.io/local-config: \"true\"\nspec:\n  federation: {federation}\n"
    )
}

/// Runs kpt in `cwd`; panics with its output unless it succeeds.
fn kpt(kpt: &Path, cwd: &Path, args: &[&str]) {
    let out = Command::new(kpt).args(args).current_dir(cwd).output().unwrap();
    assert!(
        out.status.success(),
        "kpt {args:?} failed\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The package's files as the fixture has them, unchanged, and the files kpt
/// added beside them.
fn split_added(before: &BTreeMap<PathBuf, Vec<u8>>, after: &BTreeMap<PathBuf, Vec<u8>>) -> Vec<PathBuf> {
    for (path, bytes) in before {
        let now = after.get(path).unwrap_or_else(|| panic!("{} is gone", path.display()));
        assert!(
            now == bytes,
            "{} changed:\n{}",
            path.display(),
            similar::TextDiff::from_lines(&String::from_utf8_lossy(bytes), &String::from_utf8_lossy(now))
                .unified_diff()
                .header("before", "after")
        );
    }
    after.keys().filter(|p| !before.contains_key(*p)).cloned().collect()
}

/// An object without the annotations kpt adds or strips.
fn without_kpt_annotations(mut doc: Value) -> Value {
    if let Some(annotations) = doc
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_mapping_mut)
    {
        annotations.retain(|k, _| {
            let k = k.as_str().unwrap_or_default();
            !k.starts_with("config.kubernetes.io/") && !k.starts_with("internal.config.kubernetes.io/")
        });
    }
    doc
}

fn documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &Value| !v.is_null())
        .map(without_kpt_annotations)
        .collect()
}

fn sorted(mut docs: Vec<Value>) -> Vec<Value> {
    docs.sort_by_key(|d| serde_norway::to_string(d).unwrap());
    docs
}

/// What `meshfed generate SPEC` prints for these clusters (every cluster
/// when none is named), as objects.
fn generated(spec: &Path, clusters: &[&str]) -> Vec<Value> {
    let mut cmd = Command::new(BIN);
    cmd.arg("generate").arg(spec);
    for c in clusters {
        cmd.args(["--cluster", c]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    documents(&String::from_utf8(out.stdout).unwrap())
}

fn objects_in(dir: &Path, files: &[PathBuf]) -> Vec<Value> {
    files
        .iter()
        .flat_map(|f| documents(&std::fs::read_to_string(dir.join(f)).unwrap()))
        .collect()
}

/// A Kptfile whose pipeline runs meshfed with `member.yaml` (in the package).
fn with_pipeline(package: &Path, federation: &str) {
    let kptfile = format!(
        "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: package\npipeline:\n  mutators:\n  \
         - exec: {BIN}\n    configPath: member.yaml\n"
    );
    std::fs::write(package.join("Kptfile"), kptfile).unwrap();
    std::fs::write(package.join("member.yaml"), member(federation)).unwrap();
}

/// A workspace ready for kpt: kpt itself, the temporary tree, its package
/// folder and the package's files before kpt ran.
struct Package {
    kpt: PathBuf,
    tmp: tempfile::TempDir,
    dir: PathBuf,
    before: BTreeMap<PathBuf, Vec<u8>>,
}

/// The workspace, with a Kptfile pipeline when `pipeline`; `None` (the
/// test is skipped) without kpt outside CI.
fn package(pipeline: bool) -> Option<Package> {
    let kpt = tools::required("kpt", KPT_TESTS)?;
    let tmp = workspace();
    let dir = tmp.path().join("package");
    if pipeline {
        with_pipeline(&dir, "federation/federation.yaml");
    }
    let before = tree(&dir);
    Some(Package { kpt, tmp, dir, before })
}

impl Package {
    fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// Runs kpt in `cwd`; the package's files after it, and which are new.
    fn run(&self, cwd: &Path, args: &[&str]) -> (BTreeMap<PathBuf, Vec<u8>>, Vec<PathBuf>) {
        kpt(&self.kpt, cwd, args);
        let after = tree(&self.dir);
        let added = split_added(&self.before, &after);
        (after, added)
    }

    /// The files kpt added hold exactly the objects `meshfed generate`
    /// makes for `clusters`.
    fn assert_added_objects(&self, added: &[PathBuf], clusters: &[&str]) {
        let want = generated(&self.root().join("federation/federation.yaml"), clusters);
        assert_eq!(sorted(objects_in(&self.dir, added)), sorted(want), "{clusters:?}");
    }

    /// A second run leaves the package as the first left it.
    fn assert_settled(&self, cwd: &Path, args: &[&str], first: &BTreeMap<PathBuf, Vec<u8>>) {
        kpt(&self.kpt, cwd, args);
        assert_same_tree(&tree(&self.dir), first, "a second run changed");
    }
}

#[test]
fn kpt_with_cat_leaves_the_package_byte_for_byte() {
    let Some(p) = package(false) else {
        return;
    };
    let (after, _) = p.run(p.root(), &["fn", "eval", "package", "--exec", "/bin/cat"]);
    assert_same_tree(&after, &p.before, "kpt with /bin/cat changed");
}

#[test]
fn kpt_fn_eval_with_a_member_adds_that_cluster_and_keeps_the_package() {
    let Some(p) = package(false) else {
        return;
    };
    let args = ["fn", "eval", "package", "--exec", BIN, "--fn-config", "member.yaml"];
    let (first, added) = p.run(p.root(), &args);
    p.assert_added_objects(&added, &["cluster-a"]);
    p.assert_settled(p.root(), &args, &first);
}

#[test]
fn kpt_fn_eval_with_a_federation_adds_every_cluster_in_its_folder() {
    let Some(p) = package(false) else {
        return;
    };
    // The MeshFederation's rootCA files resolve from kpt's working directory.
    let federation = p.root().join("federation");
    let args = [
        "fn",
        "eval",
        "../package",
        "--exec",
        BIN,
        "--fn-config",
        "federation.yaml",
    ];
    let (first, added) = p.run(&federation, &args);
    for cluster in ["cluster-a", "cluster-b"] {
        let files: Vec<PathBuf> = added.iter().filter(|f| f.starts_with(cluster)).cloned().collect();
        p.assert_added_objects(&files, &[cluster]);
    }
    assert!(
        added
            .iter()
            .all(|f| f.starts_with("cluster-a") || f.starts_with("cluster-b")),
        "{added:?}"
    );
    p.assert_settled(&federation, &args, &first);
}

#[test]
fn kpt_fn_render_keeps_the_package_adds_the_cluster_and_settles() {
    let Some(p) = package(true) else {
        return;
    };
    let args = ["fn", "render", "package", "--allow-exec"];
    let (first, added) = p.run(p.root(), &args);
    p.assert_added_objects(&added, &["cluster-a"]);
    p.assert_settled(p.root(), &args, &first);
}

#[test]
fn kpt_started_elsewhere_gets_the_working_directory_hint() {
    // The pipeline's path is relative to the workspace root, but kpt is
    // started in the package.
    let Some(p) = package(true) else {
        return;
    };
    let out = Command::new(&p.kpt)
        .args(["fn", "render", ".", "--allow-exec"])
        .current_dir(&p.dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("MF001")
            && stderr.contains("spec.federation")
            && stderr.contains("the folder kpt was started from, not the package folder"),
        "{stderr}"
    );
    assert_same_tree(&tree(&p.dir), &p.before, "a failed render changed");
}

#[test]
fn kpt_fn_render_leaves_the_cluster_objects_where_the_user_moved_them() {
    let Some(p) = package(true) else {
        return;
    };
    let args = ["fn", "render", "package", "--allow-exec"];
    let (_, added) = p.run(p.root(), &args);
    // Gather meshfed's objects into one file of the user's choosing.
    let mut mesh = String::new();
    for file in &added {
        if !mesh.is_empty() {
            mesh.push_str("---\n");
        }
        mesh.push_str(&std::fs::read_to_string(p.dir.join(file)).unwrap());
        std::fs::remove_file(p.dir.join(file)).unwrap();
    }
    std::fs::write(p.dir.join("mesh.yaml"), &mesh).unwrap();
    let moved = tree(&p.dir);
    kpt(&p.kpt, p.root(), &args);
    assert_same_tree(
        &tree(&p.dir),
        &moved,
        "a render moved meshfed's objects out of mesh.yaml",
    );
}
