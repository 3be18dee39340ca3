//! The output folder: `generate -o DIR` (atomic, keeps a record of what it
//! wrote, removes its own stale files, never touches anyone else's, one run
//! at a time, nothing left behind on a signal, adopts its own files when the
//! record is lost) and `check SPEC -o DIR` (exit 0 when up to date, 3 with a
//! diff on drift or a stray temporary). Each test runs the real binary on a
//! copy of the seed example, or on bench/gen_federation.py's 20x100 spec.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support;

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

    /// `args` run while another holds the lock: the wait ends after a second.
    fn run_waiting(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .current_dir(self.dir.path())
            .env("MESHFED_LOCK_TIMEOUT", "1")
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
    support::tree::files(dir).into_keys().collect()
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

/// Every file below `dir` with its bytes.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    tree(dir)
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(dir.join(&f)).unwrap();
            (f, bytes)
        })
        .collect()
}

fn stray_temporaries(dir: &Path) -> Vec<String> {
    tree(dir).into_iter().filter(|f| f.contains("meshfed-tmp")).collect()
}

/// Seed spec `federation-b.yaml`: cluster-a exports nothing and cluster-b's
/// gateway moved, so it differs from `federation.yaml` in content and in
/// which files exist.
fn write_spec_b(seed: &Seed) {
    let text = std::fs::read_to_string(seed.spec()).unwrap();
    let export = "    exports:\n    - service: foo\n      namespace: abc\n      ports:\n      - {name: http, port: 8080}\n      serviceAccounts: [foo]\n";
    assert!(text.contains(export) && text.contains("203.0.113.20"));
    let b = text.replacen(export, "", 1).replace("203.0.113.20", "203.0.113.21");
    std::fs::write(seed.dir.path().join("federation-b.yaml"), b).unwrap();
}

#[test]
fn two_runs_into_one_folder_never_leave_a_mix() {
    let seed = Seed::new();
    write_spec_b(&seed);
    let spawn = |spec: &str, out: &str| {
        Command::new(BIN)
            .args(["generate", spec, "-o", out])
            .current_dir(seed.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Each spec's full output, written alone.
    let reference = |spec: &str, out: &str| {
        assert!(spawn(spec, out).wait().unwrap().success());
        snapshot(&seed.dir.path().join(out))
    };
    let a = reference("federation.yaml", "ref-a");
    let b = reference("federation-b.yaml", "ref-b");
    assert_ne!(a, b);
    for round in 0..25 {
        let (first, second) = if round % 2 == 0 {
            ("federation.yaml", "federation-b.yaml")
        } else {
            ("federation-b.yaml", "federation.yaml")
        };
        let one = spawn(first, "out");
        let two = spawn(second, "out");
        for run in [one, two] {
            let out = run.wait_with_output().unwrap();
            assert!(out.status.success(), "round {round}: {}", text(&out.stderr));
        }
        let now = snapshot(&seed.out());
        assert!(
            now == a || now == b,
            "round {round}: the folder is a mix of both runs: {:?}",
            tree(&seed.out())
        );
        let check = |spec: &str| code(&seed.run(&["check", spec, "-o", "out"]));
        let expected = if now == a { (0, 3) } else { (3, 0) };
        assert_eq!(
            (check("federation.yaml"), check("federation-b.yaml")),
            expected,
            "round {round}"
        );
    }
}

/// A run waits for the lock, says so once, and gives up with MF440. The
/// remark is a note like any other: none with `--quiet`, a JSON object with
/// `--format json`, a GitHub `::notice::` with `--format github` (it used
/// to be printed as plain text whatever was asked).
#[test]
fn a_run_waits_for_the_lock_and_gives_up_with_mf440() {
    let seed = Seed::new();
    assert_eq!(code(&seed.generate(&[])), 0);
    // Another meshfed holding the folder, as `generate` itself locks it.
    let held = std::fs::File::open(seed.out()).unwrap();
    held.lock().unwrap();
    let waiting = |args: &[&str]| {
        let out = seed.run_waiting(args);
        assert_eq!(code(&out), 1, "{}", text(&out.stderr));
        let stderr = text(&out.stderr);
        assert!(stderr.contains("MF440"), "{stderr}");
        stderr
    };
    let said = "waiting for another meshfed run to finish with out (up to 1 s)";
    let human = waiting(&["generate", "federation.yaml", "-o", "out"]);
    assert_eq!(human.lines().next(), Some(format!("note: {said}").as_str()), "{human}");
    let quiet = waiting(&["generate", "federation.yaml", "-o", "out", "--quiet"]);
    assert!(!quiet.contains("waiting"), "{quiet}");
    let json = waiting(&["generate", "federation.yaml", "-o", "out", "--format", "json"]);
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(
        first,
        serde_json::json!({"severity": "note", "message": said}),
        "{json}"
    );
    // check waits for a generate too (a shared lock against an exclusive one).
    let github = waiting(&["check", "federation.yaml", "-o", "out", "--format", "github"]);
    assert_eq!(
        github.lines().next(),
        Some(format!("::notice::{said}").as_str()),
        "{github}"
    );
    held.unlock().unwrap();
    assert_eq!(code(&seed.check()), 0);
}

#[test]
fn stray_temporaries_fail_check_and_the_next_generate_removes_them() {
    let seed = Seed::new();
    assert_eq!(code(&seed.generate(&[])), 0);
    // What a run killed with SIGKILL while staging leaves behind.
    std::fs::write(seed.out().join("cluster-a/.gateway.yaml.meshfed-tmp"), "half a fi").unwrap();
    std::fs::write(seed.out().join("..meshfed-manifest.meshfed-tmp"), "").unwrap();
    let out = seed.check();
    assert_eq!(code(&out), 3);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("MF442") && stderr.contains("cluster-a/.gateway.yaml.meshfed-tmp"),
        "{stderr}"
    );
    assert_eq!(code(&seed.generate(&[])), 0);
    assert_eq!(stray_temporaries(&seed.out()), Vec::<String>::new());
    assert_eq!(code(&seed.check()), 0);
}

/// SIGINT, SIGTERM and SIGHUP at several points of a 20 clusters × 100 services run
/// (bench/gen_federation.py), then a full run: no temporary is ever left and
/// `check` passes.
#[cfg(unix)]
#[test]
fn a_signal_mid_write_leaves_no_temporary() {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    use std::time::{Duration, Instant};
    let (Some(python), Some(_)) = (
        crate::support::tools::required("python3", "generate the 20x100 federation"),
        crate::support::tools::required("openssl", "make its root CAs"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let generator = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/gen_federation.py");
    let made = Command::new(python)
        .arg(generator)
        .args(["20", "100"])
        .arg(tmp.path().join("fed"))
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made.stderr));
    let out = tmp.path().join("out");
    let run = |args: &[&str]| {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .current_dir(tmp.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        // meshfed keeps a signal its parent ignores ignored, and this test may
        // run under a parent that ignores SIGINT (a shell's `cargo test &`).
        // SAFETY: only async-signal-safe signal(2) between fork and exec.
        unsafe {
            command.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                libc::signal(libc::SIGTERM, libc::SIG_DFL);
                libc::signal(libc::SIGHUP, libc::SIG_DFL);
                Ok(())
            });
        }
        command.spawn().unwrap()
    };
    // Sends SIG`signal` to a new `generate` once `staged` temporaries exist
    // (0: at once, while the spec is still being read and checked).
    let interrupt = |signal: &str, staged: usize| {
        let mut child = run(&["generate", "fed/federation.yaml", "-o", "out"]);
        let start = Instant::now();
        while stray_temporaries(&out).len() < staged
            && child.try_wait().unwrap().is_none()
            && start.elapsed() < Duration::from_secs(300)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before {staged} temporaries were seen"
        );
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = child.wait_with_output().unwrap().status;
        let number = match signal {
            "INT" => libc::SIGINT,
            "TERM" => libc::SIGTERM,
            _ => libc::SIGHUP,
        };
        // Staging was under way, so the run cannot have been past its renames.
        assert_eq!(
            status.signal(),
            Some(number),
            "SIG{signal} after {staged} temporaries: {status:?}"
        );
        assert_eq!(
            stray_temporaries(&out),
            Vec::<String>::new(),
            "SIG{signal} after {staged} temporaries"
        );
    };
    for (signal, staged) in [("INT", 0), ("INT", 1), ("TERM", 40), ("HUP", 100), ("INT", 400)] {
        interrupt(signal, staged);
    }
    let full = run(&["generate", "fed/federation.yaml", "-o", "out"])
        .wait_with_output()
        .unwrap();
    assert!(full.status.success(), "{}", text(&full.stderr));
    assert_eq!(stray_temporaries(&out), Vec::<String>::new());
    let check = run(&["check", "fed/federation.yaml", "-o", "out"])
        .wait_with_output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));

    // Interrupting a run over an existing tree leaves that tree as it was.
    let before = snapshot(&out);
    let spec = tmp.path().join("fed/federation.yaml");
    let text_before = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&spec, text_before.replace(".10, ", ".12, ")).unwrap();
    interrupt("INT", 40);
    assert!(snapshot(&out) == before, "an interrupted run changed the tree");
}

#[test]
fn a_lost_manifest_adopts_meshfeds_own_files() {
    let seed = Seed::new();
    assert_eq!(code(&seed.generate(&[])), 0);
    let before = snapshot(&seed.out());
    std::fs::remove_file(seed.out().join(".meshfed-manifest")).unwrap();
    // check sees the missing record as drift, not as someone else's files.
    let out = seed.check();
    assert_eq!(code(&out), 3, "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("+++ b/.meshfed-manifest"),
        "{}",
        text(&out.stdout)
    );
    let out = seed.generate(&[]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(snapshot(&seed.out()), before);

    // The spec changed too: labelled objects, meshfed's kustomization and
    // NEXT-STEPS.md are adopted even though their content changes.
    std::fs::remove_file(seed.out().join(".meshfed-manifest")).unwrap();
    seed.edit_spec("203.0.113.20", "203.0.113.21");
    let notes = seed.out().join("cluster-b/NEXT-STEPS.md");
    let old_notes = std::fs::read_to_string(&notes).unwrap();
    let out = seed.generate(&[]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_ne!(std::fs::read_to_string(&notes).unwrap(), old_notes);
    assert_eq!(code(&seed.check()), 0);
}

#[test]
fn a_lost_manifest_still_never_takes_someone_elses_file() {
    let seed = Seed::new();
    assert_eq!(code(&seed.generate(&[])), 0);
    std::fs::remove_file(seed.out().join(".meshfed-manifest")).unwrap();
    // An object of another federation, and a kustomization of one's own.
    let gw = seed.out().join("cluster-a/gateway.yaml");
    let other = std::fs::read_to_string(&gw)
        .unwrap()
        .replace("meshfed.io/federation: seed", "meshfed.io/federation: other");
    std::fs::write(&gw, &other).unwrap();
    let kustomization = seed.out().join("cluster-b/kustomization.yaml");
    let mine = std::fs::read_to_string(&kustomization).unwrap() + "namespace: mine\n";
    std::fs::write(&kustomization, &mine).unwrap();
    let out = seed.generate(&[]);
    assert_eq!(code(&out), 1);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("MF401")
            && stderr.contains("cluster-a/gateway.yaml")
            && stderr.contains("cluster-b/kustomization.yaml"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("error[MF401]").count(), 2, "{stderr}");
    assert_eq!(std::fs::read_to_string(&gw).unwrap(), other);
    assert_eq!(std::fs::read_to_string(&kustomization).unwrap(), mine);
}

#[test]
fn a_manifest_with_merge_conflict_markers_is_read_as_the_union() {
    let seed = Seed::new();
    assert_eq!(code(&seed.generate(&[])), 0);
    let manifest = seed.out().join(".meshfed-manifest");
    let ours = std::fs::read_to_string(&manifest).unwrap();
    // Their branch no longer exports foo from cluster-a, and added a file.
    let theirs: String = ours
        .lines()
        .filter(|l| !l.starts_with('#') && *l != "cluster-a/gateway.yaml")
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        + "cluster-b/extra.yaml\n";
    std::fs::write(seed.out().join("cluster-b/extra.yaml"), "kind: ConfigMap\n").unwrap();
    let body: String = ours
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(
        &manifest,
        format!("<<<<<<< HEAD\n{body}=======\n{theirs}>>>>>>> theirs\n"),
    )
    .unwrap();
    let out = seed.check();
    assert_eq!(code(&out), 3, "{}", text(&out.stderr));
    let out = seed.generate(&[]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    // Listed on one side only, no longer generated: meshfed's, and stale.
    assert!(!seed.out().join("cluster-b/extra.yaml").exists());
    assert_eq!(std::fs::read_to_string(&manifest).unwrap(), ours);
    assert_eq!(code(&seed.check()), 0);
}
