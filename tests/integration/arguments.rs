//! Command-line arguments at their edges, through the real binary: `-o -`,
//! `-o FILE`, a `--templates` folder that is missing or holds a misnamed
//! file, `check`'s fix hint, a reader that closes stdout early, and a
//! stdout that cannot be written.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_meshfed");

fn seed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed/federation.yaml")
}

fn meshfed(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN).args(args).current_dir(dir).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn dash_streams_to_stdout() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = seed();
    let plain = meshfed(tmp.path(), &["generate", spec.to_str().unwrap()]);
    let dash = meshfed(tmp.path(), &["generate", spec.to_str().unwrap(), "-o", "-"]);
    assert!(dash.status.success(), "{}", stderr(&dash));
    assert!(!plain.stdout.is_empty());
    assert_eq!(dash.stdout, plain.stdout);
    assert!(!tmp.path().join("-").exists(), "no folder named -");
}

#[test]
fn an_output_path_that_is_a_file_is_named_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("out"), "mine\n").unwrap();
    let spec = seed();
    for command in ["generate", "check"] {
        let o = meshfed(tmp.path(), &[command, spec.to_str().unwrap(), "-o", "out"]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{command}: {err}");
        assert!(
            err.contains("MF450") && err.contains("is a file, not a folder"),
            "{command}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(o.stdout.is_empty());
    }
    assert_eq!(std::fs::read_to_string(tmp.path().join("out")).unwrap(), "mine\n");
}

/// `check -o -` is refused (MF452, exit 2): stdout is where `generate -o -`
/// writes, not something `check` can compare with, and no folder named `-`
/// is read or suggested.
#[test]
fn check_with_stdout_as_its_folder_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = seed();
    let o = meshfed(tmp.path(), &["check", spec.to_str().unwrap(), "-o", "-"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.starts_with("error[MF452]: check -o -: "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(o.stdout.is_empty(), "no diff is printed");
}

#[test]
fn a_templates_folder_must_exist_and_hold_only_known_names() {
    let tmp = tempfile::tempdir().unwrap();
    let misnamed = tmp.path().join("misnamed");
    std::fs::create_dir(&misnamed).unwrap();
    std::fs::write(misnamed.join("gateway.yml"), "kind: Gateway\n").unwrap();
    std::fs::write(misnamed.join(".gitkeep"), "").unwrap();
    let spec = seed();
    for (dir, says) in [("missing", "missing"), ("misnamed", "gateway.yml is not a template")] {
        for command in ["generate", "check"] {
            let o = meshfed(
                tmp.path(),
                &[command, spec.to_str().unwrap(), "-o", "out", "--templates", dir],
            );
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(1), "{command} {dir}: {err}");
            assert!(err.contains("MF304") && err.contains(says), "{command} {dir}: {err}");
            // It names the templates it knows.
            assert!(
                err.contains("gateway.yaml") && err.contains("destinationrule.yaml"),
                "{err}"
            );
            assert!(!tmp.path().join("out").exists(), "nothing written");
        }
    }
}

#[test]
fn checks_fix_hint_repeats_the_options_given() {
    let tmp = tempfile::tempdir().unwrap();
    let templates = tmp.path().join("my templates");
    std::fs::create_dir(&templates).unwrap();
    let spec = seed();
    let o = meshfed(
        tmp.path(),
        &[
            "check",
            spec.to_str().unwrap(),
            "-o",
            "out",
            "--cluster",
            "cluster-a",
            "--templates",
            templates.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let hint = format!(
        "run `meshfed generate {} -o out --cluster cluster-a --templates '{}'`",
        spec.display(),
        templates.display()
    );
    assert!(stderr(&o).contains(&hint), "{}\nwant: {hint}", stderr(&o));
}

#[test]
fn a_reader_that_stops_early_is_no_error() {
    // `| true` closes the pipe at once, so meshfed's write meets a closed pipe.
    let spec = seed();
    for args in [
        format!("generate {}", spec.display()),
        "schema".to_owned(),
        format!("graph {}", spec.display()),
    ] {
        let o = Command::new("bash")
            .args(["-c", &format!("\"$0\" {args} | true; echo \"${{PIPESTATUS[0]}}\""), BIN])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stdout), "0\n", "{args}: {}", stderr(&o));
        // No error; only the note that the stream holds every cluster (cli_habits).
        let err = stderr(&o);
        assert!(
            err.lines().all(|l| l.starts_with("note: stdout holds the objects of")),
            "{args}: {err}"
        );
    }
}

#[test]
fn a_failed_stdout_write_says_what_failed() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        let _ = writeln!(std::io::stderr(), "SKIPPED: no /dev/full on this system");
        return;
    };
    let o = Command::new(BIN)
        .args(["generate", seed().to_str().unwrap()])
        .stdout(Stdio::from(full))
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("MF451") && err.contains("cannot write the output to stdout"),
        "{err}"
    );
}
