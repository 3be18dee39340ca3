//! The command line's habits, through the real binary: shell completions and
//! the man page, `--format json|github`, `--quiet`, colour only on a
//! terminal, `validate`'s summary, `--help`, `meshfed explain`, a spec given
//! as the plugin argument, the spec from stdin, and the note about the
//! all-cluster stream.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_meshfed");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn seed() -> PathBuf {
    root().join("examples/seed/federation.yaml")
}

fn meshfed(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN).args(args).current_dir(dir).output().unwrap()
}

fn meshfed_stdin(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A spec with a warning (a root expiring within the window) and an error
/// free build: the seed with `--warn-expiry` far beyond its roots' lifetime.
fn warning_args(spec: &Path) -> Vec<String> {
    vec![
        "validate".into(),
        spec.display().to_string(),
        "--warn-expiry".into(),
        "1000000".into(),
    ]
}

/// A spec with errors at known lines: a cluster exporting to a cluster that does not exist.
fn broken_spec(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(seed()).unwrap().replacen(
        "serviceAccounts: [foo]",
        "serviceAccounts: [foo]\n      to: [cluster-z]",
        1,
    );
    assert!(text.contains("cluster-z"), "the seed changed; adapt the test");
    for pem in ["cluster-a.pem", "cluster-b.pem"] {
        std::fs::create_dir_all(dir.join("certs")).unwrap();
        std::fs::copy(
            root().join("examples/seed/certs").join(pem),
            dir.join("certs").join(pem),
        )
        .unwrap();
    }
    std::fs::write(dir.join("federation.yaml"), text).unwrap();
    dir.join("federation.yaml")
}

#[test]
fn bash_completion_is_valid_and_names_the_subcommands() {
    let tmp = tempfile::tempdir().unwrap();
    let o = meshfed(tmp.path(), &["completions", "bash"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let script = text(&o.stdout);
    for sub in ["generate", "check", "validate", "explain", "completions", "man"] {
        assert!(script.contains(sub), "bash completion lacks {sub}");
    }
    std::fs::write(tmp.path().join("meshfed.bash"), &o.stdout).unwrap();
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(tmp.path().join("meshfed.bash"))
        .output()
        .unwrap();
    assert!(syntax.status.success(), "bash -n: {}", text(&syntax.stderr));
    for shell in ["zsh", "fish"] {
        let o = meshfed(tmp.path(), &["completions", shell]);
        assert!(o.status.success() && text(&o.stdout).contains("generate"), "{shell}");
    }
    let o = meshfed(tmp.path(), &["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn the_man_page_renders() {
    let tmp = tempfile::tempdir().unwrap();
    let o = meshfed(tmp.path(), &["man"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let page = text(&o.stdout);
    assert!(page.starts_with(".ie") || page.contains(".TH meshfed 1"), "{page}");
    assert!(page.contains(".SH NAME") && page.contains(".SH SUBCOMMANDS"), "{page}");
    std::fs::write(tmp.path().join("meshfed.1"), &o.stdout).unwrap();
    // groff renders the page as `man -l` would; warnings (-ww) must be none.
    match Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(tmp.path().join("meshfed.1"))
        .output()
    {
        Ok(g) => {
            assert!(g.status.success(), "groff: {}", text(&g.stderr));
            assert_eq!(text(&g.stderr), "", "groff warnings");
        }
        Err(_) => {
            let _ = writeln!(std::io::stderr(), "SKIPPED: no groff; checked the roff structure only");
        }
    }
}

#[test]
fn json_diagnostics_are_one_object_per_line() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = broken_spec(tmp.path());
    // Before and after the subcommand.
    for args in [
        vec!["--format", "json", "validate", "federation.yaml"],
        vec!["validate", "federation.yaml", "--format", "json"],
    ] {
        let o = meshfed(tmp.path(), &args);
        assert_eq!(o.status.code(), Some(1));
        let err = text(&o.stderr);
        assert!(!err.is_empty());
        for line in err.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys.len(), 7, "{line}");
            assert!(line.starts_with("{\"severity\":\"error\",\"code\":\"MF"), "{line}");
        }
        let mf120: serde_json::Value = err
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["code"] == "MF120")
            .unwrap_or_else(|| panic!("no MF120: {err}"));
        assert_eq!(mf120["file"], "federation.yaml");
        assert!(mf120["line"].as_u64().is_some_and(|l| l > 1), "{mf120}");
        assert!(mf120["path"].as_str().unwrap().starts_with("spec.clusters["));
        assert!(mf120["message"].as_str().unwrap().contains("cluster-z"));
    }
    let _ = spec;
    // Not after `inspect`, whose report (diagnostics included) is on stdout:
    // refused rather than ignored.
    let o = meshfed(tmp.path(), &["inspect", "certs/cluster-a.pem", "--format", "json"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
}

#[test]
fn github_diagnostics_are_workflow_commands_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    broken_spec(tmp.path());
    // A file name with the characters a property must escape.
    std::fs::rename(tmp.path().join("federation.yaml"), tmp.path().join("a:b,c%.yaml")).unwrap();
    let o = meshfed(tmp.path(), &["validate", "a:b,c%.yaml", "--format", "github"]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    let line = err
        .lines()
        .find(|l| l.contains("title=MF120"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(line.starts_with("::error file=a%3Ab%2Cc%25.yaml,line="), "{line}");
    assert!(line.contains(",title=MF120::spec.clusters["), "{line}");
    assert!(line.ends_with("(meshfed explain MF120)"), "{line}");
    assert!(
        err.lines()
            .all(|l| l.starts_with("::error ") || l.starts_with("::warning ")),
        "{err}"
    );
    // Warnings are ::warning.
    let args = warning_args(&seed());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = meshfed(tmp.path(), &[&args[..], &["--format", "github"]].concat());
    assert!(o.status.success());
    assert!(
        text(&o.stderr).lines().any(|l| l.starts_with("::warning file=")),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn quiet_keeps_errors_only() {
    let tmp = tempfile::tempdir().unwrap();
    let args = warning_args(&seed());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let loud = meshfed(tmp.path(), &args);
    assert!(loud.status.success());
    assert!(text(&loud.stderr).contains("warning[MF"), "the test needs a warning");
    let quiet = meshfed(tmp.path(), &[&args[..], &["--quiet"]].concat());
    assert!(quiet.status.success());
    assert_eq!(text(&quiet.stderr), "");
    assert_eq!(text(&quiet.stdout), "", "no summary either");
    broken_spec(tmp.path());
    let o = meshfed(tmp.path(), &["-q", "validate", "federation.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("error[MF120]"));
}

#[test]
fn validate_prints_a_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let o = meshfed(root().join("examples/seed").as_path(), &["validate", "federation.yaml"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "federation.yaml: 2 clusters, 2 exports, 0 errors, 0 warnings\n"
    );
    let args = warning_args(&seed());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = meshfed(tmp.path(), &args);
    let warnings = text(&o.stderr).lines().filter(|l| l.starts_with("warning[")).count();
    assert!(warnings > 0);
    let plural = if warnings == 1 { "" } else { "s" };
    assert!(
        text(&o.stdout).ends_with(&format!(
            "2 clusters, 2 exports, 0 errors, {warnings} warning{plural}\n"
        )),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn piped_output_has_no_colour_and_a_terminal_has_it_unless_no_color() {
    let tmp = tempfile::tempdir().unwrap();
    let args = warning_args(&seed());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let piped = meshfed(tmp.path(), &args);
    assert!(text(&piped.stderr).contains("warning[MF"));
    assert!(!piped.stderr.contains(&0x1b), "escape codes on a pipe");
    // `script` gives meshfed a pseudo-terminal for stdout and stderr.
    if Command::new("script").arg("--version").output().is_err() {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: no `script`; the terminal half is not tested"
        );
        return;
    }
    let line = format!("'{BIN}' {}", args.join(" "));
    let on_tty = |no_color: Option<&str>| {
        let mut c = Command::new("script");
        c.args(["-qec", &line, "/dev/null"])
            .current_dir(tmp.path())
            .env("TERM", "xterm");
        match no_color {
            Some(v) => c.env("NO_COLOR", v),
            None => c.env_remove("NO_COLOR"),
        };
        text(&c.output().unwrap().stdout)
    };
    let coloured = on_tty(None);
    assert!(coloured.contains("\x1b[1;33mwarning[MF"), "{coloured:?}");
    let plain = on_tty(Some("1"));
    assert!(
        plain.contains("warning[MF") && !plain.contains("\x1b[1;33m"),
        "{plain:?}"
    );
    // An empty NO_COLOR is unset (no-color.org).
    assert!(on_tty(Some("")).contains("\x1b[1;33m"));
}

#[test]
fn help_lists_exit_codes_the_plugin_form_and_stdin() {
    let o = meshfed(root(), &["--help"]);
    assert!(o.status.success());
    let help = text(&o.stdout);
    for needle in [
        "Exit codes:",
        "0  success",
        "1  invalid input",
        "2  the command line is wrong",
        "3  `check` found",
        "meshfed MEMBER_FILE",
        "`-` to read it from stdin",
        "from the working\ndirectory",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
}

#[test]
fn the_release_profile_has_no_debug_info() {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let release = manifest.split("[profile.release]").nth(1).unwrap();
    let release = release.split("\n[").next().unwrap();
    assert!(release.contains("debug = false"), "{release}");
    assert!(
        release.contains("strip = \"debuginfo\"") || release.contains("strip = true"),
        "{release}"
    );
}

#[test]
fn explain_prints_the_built_in_entry() {
    let tmp = tempfile::tempdir().unwrap();
    // From an empty folder: nothing read from the repository.
    let o = meshfed(tmp.path(), &["explain", "MF208"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let doc = std::fs::read_to_string(root().join("docs/diagnostics.md")).unwrap();
    let entry = doc
        .split("\n### MF208\n")
        .nth(1)
        .unwrap()
        .split("\n#")
        .next()
        .unwrap()
        .trim();
    assert_eq!(text(&o.stdout), format!("MF208\n\n{entry}\n"));
    assert_eq!(meshfed(tmp.path(), &["explain", "mf208"]).stdout, o.stdout);
    let list = meshfed(tmp.path(), &["explain"]);
    assert!(list.status.success());
    let codes = doc.lines().filter(|l| l.starts_with("### MF")).count();
    assert_eq!(text(&list.stdout).lines().count(), codes);
    let unknown = meshfed(tmp.path(), &["explain", "MF999"]);
    assert_eq!(unknown.status.code(), Some(2));
    let err = text(&unknown.stderr);
    assert!(
        err.contains("MF460") && err.contains("`meshfed explain` lists every code"),
        "{err}"
    );
}

#[test]
fn every_diagnostic_points_to_explain() {
    let tmp = tempfile::tempdir().unwrap();
    broken_spec(tmp.path());
    let o = meshfed(tmp.path(), &["validate", "federation.yaml"]);
    let err = text(&o.stderr);
    assert!(!err.is_empty());
    for line in err.lines() {
        let code = &line[line.find("[MF").unwrap() + 1..][..5];
        assert!(line.ends_with(&format!(" (meshfed explain {code})")), "{line}");
    }
}

#[test]
fn a_spec_given_as_the_plugin_argument_suggests_generate() {
    let dir = root().join("examples/seed");
    let o = meshfed(&dir, &["federation.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("MF461") && err.contains("did you mean `meshfed generate federation.yaml`?"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
    let o = meshfed(&dir, &["federation.yaml", "-o", "out dir"]);
    assert!(text(&o.stderr).contains("did you mean `meshfed generate federation.yaml -o 'out dir'`?"));
    assert!(!dir.join("out dir").exists());
}

#[test]
fn the_spec_can_come_from_stdin() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = root().join("examples/seed");
    let spec = std::fs::read(seed()).unwrap();
    // From the spec's folder, its relative root paths resolve from the working directory.
    let from_file = meshfed(
        &seed_dir,
        &[
            "generate",
            "federation.yaml",
            "-o",
            tmp.path().join("a").to_str().unwrap(),
        ],
    );
    assert!(from_file.status.success(), "{}", text(&from_file.stderr));
    let o = meshfed_stdin(
        &seed_dir,
        &["generate", "-", "-o", tmp.path().join("b").to_str().unwrap()],
        &spec,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    for cluster in ["cluster-a", "cluster-b"] {
        let a = std::fs::read_dir(tmp.path().join("a").join(cluster)).unwrap().count();
        let b = std::fs::read_dir(tmp.path().join("b").join(cluster)).unwrap().count();
        assert!(a > 0 && a == b, "{cluster}");
    }
    let stream = meshfed_stdin(&seed_dir, &["generate", "-"], &spec);
    assert_eq!(
        stream.stdout,
        meshfed(&seed_dir, &["generate", "federation.yaml"]).stdout
    );
    let v = meshfed_stdin(&seed_dir, &["validate", "-"], &spec);
    assert_eq!(
        text(&v.stdout),
        "<stdin>: 2 clusters, 2 exports, 0 errors, 0 warnings\n"
    );
    let c = meshfed_stdin(
        &seed_dir,
        &["check", "-", "-o", tmp.path().join("a").to_str().unwrap()],
        &spec,
    );
    assert!(c.status.success(), "{}", text(&c.stderr));
    // Elsewhere the roots are not found, and the diagnostic says `<stdin>`.
    let o = meshfed_stdin(tmp.path(), &["validate", "-"], &spec);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("(<stdin>:"), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("MF201"), "{}", text(&o.stderr));
    let o = meshfed_stdin(tmp.path(), &["validate", "-"], b"\xff\xfe");
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("MF001") && text(&o.stderr).contains("stdin"));
}

#[test]
fn the_all_cluster_stream_is_noted_when_piped() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = seed();
    let spec = spec.to_str().unwrap();
    let all = meshfed(tmp.path(), &["generate", spec]);
    assert!(all.status.success());
    let err = text(&all.stderr);
    assert_eq!(err.lines().filter(|l| l.starts_with("note: ")).count(), 1, "{err}");
    assert!(
        err.contains("2 clusters (cluster-a, cluster-b)") && err.contains("--cluster NAME"),
        "{err}"
    );
    let one = meshfed(tmp.path(), &["generate", spec, "--cluster", "cluster-a"]);
    assert!(!text(&one.stderr).contains("note:"), "{}", text(&one.stderr));
    let folder = meshfed(tmp.path(), &["generate", spec, "-o", "out"]);
    assert!(!text(&folder.stderr).contains("note:"));
    let quiet = meshfed(tmp.path(), &["generate", spec, "-q"]);
    assert_eq!(text(&quiet.stderr), "");
}

#[test]
fn checks_drift_line_follows_the_format() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = seed();
    let spec = spec.to_str().unwrap();
    // An empty output folder: drift, exit 3.
    std::fs::create_dir(tmp.path().join("out")).unwrap();
    let o = meshfed(tmp.path(), &["check", spec, "-o", "out", "--format", "json"]);
    assert_eq!(o.status.code(), Some(3));
    let err = text(&o.stderr);
    assert!(err.contains("out is out of date with"), "{err}");
    for line in err.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    let o = meshfed(tmp.path(), &["check", spec, "-o", "out", "--format", "github", "-q"]);
    assert_eq!(o.status.code(), Some(3));
    let err = text(&o.stderr);
    assert!(
        err.lines()
            .any(|l| l.starts_with("::error title=meshfed check::out is out of date")),
        "{err}"
    );
    assert!(err.lines().all(|l| l.starts_with("::error ")), "{err}");
}
