//! The output folder: `generate -o DIR` (atomic, keeps a record of what it
//! wrote, removes its own stale files, never touches anyone else's) and
//! `check SPEC -o DIR` (exit 0 when up to date, 3 with a diff on drift).
//! Each test runs the real binary on a copy of the seed example.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_meshfed");

/// A temporary copy of `examples/seed` (spec and certificates).
struct Seed {
    dir: tempfile::TempDir,
}

impl Seed {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed");
        std::fs::create_dir(dir.path().join("certs")).unwrap();
        for f in ["federation.yaml", "certs/cluster-a.pem", "certs/cluster-b.pem"] {
            std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
        }
        Seed { dir }
    }

    fn spec(&self) -> PathBuf {
        self.dir.path().join("federation.yaml")
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    fn edit_spec(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.spec()).unwrap();
        assert!(text.contains(from), "the seed spec no longer contains {from:?}");
        std::fs::write(self.spec(), text.replacen(from, to, 1)).unwrap();
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }

    fn generate(&self, extra: &[&str]) -> Output {
        let mut args = vec!["generate", "federation.yaml", "-o", "out"];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    fn check(&self) -> Output {
        self.run(&["check", "federation.yaml", "-o", "out"])
    }
}

/// Every file below `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(path.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Removes cluster-a's export (the first `exports:` block in the seed), so
/// cluster-a no longer has a Gateway and cluster-b imports nothing.
fn drop_cluster_a_export(seed: &Seed) {
    seed.edit_spec(
        "    exports:\n    - service: foo\n      namespace: abc\n      ports:\n      - {name: http, port: 8080}\n      serviceAccounts: [foo]\n",
        "",
    );
}

#[test]
fn generate_writes_every_file_and_records_them() {
    let seed = Seed::new();
    let out = seed.generate(&[]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let files = tree(&seed.out());
    assert!(files.contains(&"cluster-a/gateway.yaml".to_owned()), "{files:?}");
    assert!(files.contains(&"cluster-b/kustomization.yaml".to_owned()), "{files:?}");
    let manifest = std::fs::read_to_string(seed.out().join(".meshfed-manifest")).unwrap();
    let recorded: Vec<&str> = manifest.lines().filter(|l| !l.starts_with('#')).collect();
    let written: Vec<&str> = files
        .iter()
        .map(String::as_str)
        .filter(|f| *f != ".meshfed-manifest")
        .collect();
    assert_eq!(recorded, written);
    assert!(!files.iter().any(|f| f.contains("meshfed-tmp")), "{files:?}");
}

#[test]
fn invalid_input_writes_nothing() {
    let seed = Seed::new();
    seed.edit_spec("domain: cluster-b.local", "domain: cluster.local");
    let out = seed.generate(&[]);
    assert_eq!(code(&out), 1);
    assert!(
        !seed.out().exists(),
        "an output folder was created: {:?}",
        tree(&seed.out())
    );
}

#[test]
fn invalid_input_leaves_an_existing_tree_as_it_was() {
    let seed = Seed::new();
    assert_eq!(code(&seed.generate(&[])), 0);
    let before: Vec<(String, Vec<u8>)> = tree(&seed.out())
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(seed.out().join(&f)).unwrap();
            (f, bytes)
        })
        .collect();
    drop_cluster_a_export(&seed);
    seed.edit_spec("files: [certs/cluster-b.pem]", "files: [certs/missing.pem]");
    assert_eq!(code(&seed.generate(&[])), 1);
    for (f, bytes) in before {
        assert_eq!(std::fs::read(seed.out().join(&f)).unwrap(), bytes, "{f} changed");
    }
}

#[test]
fn a_write_that_fails_midway_changes_nothing() {
    let seed = Seed::new();
    assert_eq!(code(&seed.generate(&[])), 0);
    let imports = seed.out().join("cluster-a/imports-cluster-b.yaml");
    let before = std::fs::read_to_string(&imports).unwrap();
    // cluster-a's imports change, and cluster-b's folder cannot be written
    // (a plain file stands where the folder was), so staging fails after
    // cluster-a's files were staged.
    seed.edit_spec("addresses: [203.0.113.20]", "addresses: [203.0.113.21]");
    std::fs::remove_dir_all(seed.out().join("cluster-b")).unwrap();
    std::fs::write(seed.out().join("cluster-b"), "not a folder\n").unwrap();
    let out = seed.generate(&[]);
    assert_eq!(code(&out), 1);
    assert!(text(&out.stderr).contains("MF303"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&imports).unwrap(), before);
    let files = tree(&seed.out());
    assert!(!files.iter().any(|f| f.contains("meshfed-tmp")), "{files:?}");
}

#[test]
fn stale_files_are_removed_and_foreign_files_kept() {
    let seed = Seed::new();
    assert_eq!(code(&seed.generate(&[])), 0);
    std::fs::write(seed.out().join("cluster-a/NOTES.md"), "mine\n").unwrap();
    std::fs::write(seed.out().join("README.md"), "mine too\n").unwrap();
    drop_cluster_a_export(&seed);
    let out = seed.generate(&[]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let files = tree(&seed.out());
    assert!(!files.contains(&"cluster-a/gateway.yaml".to_owned()), "{files:?}");
    assert!(
        !files.contains(&"cluster-b/imports-cluster-a.yaml".to_owned()),
        "{files:?}"
    );
    assert!(
        files.contains(&"cluster-a/imports-cluster-b.yaml".to_owned()),
        "{files:?}"
    );
    assert_eq!(
        std::fs::read_to_string(seed.out().join("cluster-a/NOTES.md")).unwrap(),
        "mine\n"
    );
    assert_eq!(
        std::fs::read_to_string(seed.out().join("README.md")).unwrap(),
        "mine too\n"
    );
    let manifest = std::fs::read_to_string(seed.out().join(".meshfed-manifest")).unwrap();
    assert!(!manifest.contains("cluster-a/gateway.yaml"), "{manifest}");
}

#[test]
fn a_removed_clusters_folder_goes_away() {
    let seed = Seed::new();
    assert_eq!(code(&seed.generate(&[])), 0);
    let spec = std::fs::read_to_string(seed.spec()).unwrap();
    let one_cluster = &spec[..spec.find("  - name: cluster-b").unwrap()];
    std::fs::write(seed.spec(), one_cluster).unwrap();
    let out = seed.generate(&[]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(!seed.out().join("cluster-b").exists(), "{:?}", tree(&seed.out()));
    assert!(seed.out().join("cluster-a/gateway.yaml").exists());
}

#[test]
fn a_file_meshfed_did_not_write_is_never_overwritten() {
    let seed = Seed::new();
    std::fs::create_dir_all(seed.out().join("cluster-a")).unwrap();
    std::fs::write(seed.out().join("cluster-a/gateway.yaml"), "hand-written\n").unwrap();
    let out = seed.generate(&[]);
    assert_eq!(code(&out), 1);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("MF401") && stderr.contains("gateway.yaml"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(seed.out().join("cluster-a/gateway.yaml")).unwrap(),
        "hand-written\n"
    );
    assert_eq!(tree(&seed.out()), vec!["cluster-a/gateway.yaml".to_owned()]);
}

#[test]
fn a_cluster_filter_keeps_the_other_clusters_files() {
    let seed = Seed::new();
    assert_eq!(code(&seed.generate(&[])), 0);
    let before = tree(&seed.out());
    let out = seed.generate(&["--cluster", "cluster-a"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(tree(&seed.out()), before);
    assert_eq!(code(&seed.check()), 0);
}

#[test]
fn check_passes_on_fresh_output() {
    let seed = Seed::new();
    assert_eq!(code(&seed.generate(&[])), 0);
    let out = seed.check();
    assert_eq!(code(&out), 0, "{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn check_finds_a_hand_edit() {
    let seed = Seed::new();
    assert_eq!(code(&seed.generate(&[])), 0);
    let gw = seed.out().join("cluster-b/gateway.yaml");
    let edited = std::fs::read_to_string(&gw).unwrap().replace("15443", "15444");
    std::fs::write(&gw, edited).unwrap();
    let out = seed.check();
    assert_eq!(code(&out), 3);
    let diff = text(&out.stdout);
    assert!(diff.contains("--- a/cluster-b/gateway.yaml"), "{diff}");
    assert!(
        diff.contains("-      number: 15444") && diff.contains("+      number: 15443"),
        "{diff}"
    );
}

#[test]
fn next_steps_are_recorded_checked_and_not_applied() {
    let seed = Seed::new();
    assert_eq!(code(&seed.generate(&[])), 0);
    let manifest = std::fs::read_to_string(seed.out().join(".meshfed-manifest")).unwrap();
    for cluster in ["cluster-a", "cluster-b"] {
        assert!(manifest.contains(&format!("{cluster}/NEXT-STEPS.md\n")), "{manifest}");
        let kustomization = std::fs::read_to_string(seed.out().join(cluster).join("kustomization.yaml")).unwrap();
        assert!(!kustomization.contains("NEXT-STEPS"), "{kustomization}");
    }
    let notes = seed.out().join("cluster-a/NEXT-STEPS.md");
    let edited = std::fs::read_to_string(&notes)
        .unwrap()
        .replace("cluster-a.local", "cluster.local");
    std::fs::write(&notes, edited).unwrap();
    let out = seed.check();
    assert_eq!(code(&out), 3);
    assert!(
        text(&out.stdout).contains("--- a/cluster-a/NEXT-STEPS.md"),
        "{}",
        text(&out.stdout)
    );
    // A spec change that only the notes show is drift too.
    assert_eq!(code(&seed.generate(&[])), 0);
    seed.edit_spec("addresses: [203.0.113.10]", "addresses: [203.0.113.11]");
    let out = seed.check();
    assert_eq!(code(&out), 3);
    assert!(
        text(&out.stdout).contains("+++ b/cluster-a/NEXT-STEPS.md"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn check_finds_a_deleted_file() {
    let seed = Seed::new();
    assert_eq!(code(&seed.generate(&[])), 0);
    std::fs::remove_file(seed.out().join("cluster-a/trust-bundle.yaml")).unwrap();
    let out = seed.check();
    assert_eq!(code(&out), 3);
    let diff = text(&out.stdout);
    assert!(
        diff.contains("--- /dev/null\n+++ b/cluster-a/trust-bundle.yaml"),
        "{diff}"
    );
}

#[test]
fn check_finds_a_stale_file() {
    let seed = Seed::new();
    assert_eq!(code(&seed.generate(&[])), 0);
    drop_cluster_a_export(&seed);
    let out = seed.check();
    assert_eq!(code(&out), 3);
    let diff = text(&out.stdout);
    assert!(diff.contains("--- a/cluster-a/gateway.yaml\n+++ /dev/null"), "{diff}");
    // check never writes.
    assert!(seed.out().join("cluster-a/gateway.yaml").exists());
    assert_eq!(code(&seed.generate(&[])), 0);
    assert_eq!(code(&seed.check()), 0);
}

#[test]
fn check_ignores_foreign_files_and_rejects_invalid_input() {
    let seed = Seed::new();
    assert_eq!(code(&seed.generate(&[])), 0);
    std::fs::write(seed.out().join("cluster-a/NOTES.md"), "mine\n").unwrap();
    assert_eq!(code(&seed.check()), 0);
    seed.edit_spec("domain: cluster-b.local", "domain: cluster.local");
    let out = seed.check();
    assert_eq!(code(&out), 1);
    assert!(text(&out.stderr).contains("MF115"), "{}", text(&out.stderr));
}
