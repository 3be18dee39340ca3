//! The `meshfed-check` hook of `.pre-commit-hooks.yaml`, run by the real
//! `pre-commit` (PyPI, installed into `.venv` by `scripts/test.sh`).
//!
//! The hook file is committed to a temporary hooks repository, which a
//! temporary project repository uses as `repo: <path>` at that commit: this
//! is how users consume it, and it needs no network. The meshfed under test
//! is first on PATH. The hook passes on fresh output and fails on a
//! hand-edited file, on a stale one and on a generated file git does not
//! track.
//!
//! Without pre-commit on PATH the test is skipped with a message, except in
//! CI (`CI=true`), where that is a failure.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::tools;

const BIN: &str = env!("CARGO_BIN_EXE_meshfed");

/// Runs a command in `dir` with the meshfed under test first on PATH, a
/// private pre-commit cache and a fixed git identity.
fn run(dir: &Path, program: &Path, args: &[&str], cache: &Path) -> Output {
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = std::env::join_paths(
        std::iter::once(bin_dir.to_path_buf()).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env("PRE_COMMIT_HOME", cache)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .unwrap()
}

fn git(dir: &Path, args: &[&str], cache: &Path) -> String {
    let out = run(dir, Path::new("git"), args, cache);
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn show(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_hook_passes_on_fresh_output_and_fails_on_drift() {
    let Some(pre_commit) = tools::required("pre-commit", "test the hook") else {
        return;
    };
    let Some(_) = tools::required("git", "test the hook") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let repo_root = Path::new(env!("CARGO_MANIFEST_DIR"));

    // The hooks repository: this repository's hook file, committed.
    let hooks = tmp.path().join("hooks");
    std::fs::create_dir(&hooks).unwrap();
    std::fs::copy(
        repo_root.join(".pre-commit-hooks.yaml"),
        hooks.join(".pre-commit-hooks.yaml"),
    )
    .unwrap();
    git(&hooks, &["init", "-q"], &cache);
    git(&hooks, &["add", "-A"], &cache);
    git(&hooks, &["commit", "-qm", "hooks"], &cache);
    let rev = git(&hooks, &["rev-parse", "HEAD"], &cache).trim().to_owned();

    // The project: the seed spec, its generated output, the hook config.
    let project = tmp.path().join("project");
    std::fs::create_dir_all(project.join("federation/certs")).unwrap();
    let seed = repo_root.join("examples/seed");
    for f in ["federation.yaml", "certs/cluster-a.pem", "certs/cluster-b.pem"] {
        std::fs::copy(seed.join(f), project.join("federation").join(f)).unwrap();
    }
    std::fs::write(
        project.join(".pre-commit-config.yaml"),
        format!(
            "repos:\n- repo: {}\n  rev: {rev}\n  hooks:\n  - id: meshfed-check\n    args: [federation/federation.yaml, -o, out]\n",
            hooks.display()
        ),
    )
    .unwrap();
    let generate = || {
        let out = run(
            &project,
            Path::new(BIN),
            &["generate", "federation/federation.yaml", "-o", "out"],
            &cache,
        );
        assert!(out.status.success(), "{}", show(&out));
    };
    generate();
    git(&project, &["init", "-q"], &cache);
    git(&project, &["add", "-A"], &cache);
    git(&project, &["commit", "-qm", "fresh output"], &cache);
    let hook = || run(&project, &pre_commit, &["run", "meshfed-check", "--all-files"], &cache);

    let out = hook();
    assert!(out.status.success(), "the hook failed on fresh output:\n{}", show(&out));

    // A hand edit.
    let gateway = project.join("out/cluster-b/gateway.yaml");
    let text = std::fs::read_to_string(&gateway).unwrap();
    std::fs::write(&gateway, text.replace("AUTO_PASSTHROUGH", "PASSTHROUGH")).unwrap();
    let out = hook();
    assert!(
        !out.status.success(),
        "the hook passed a hand-edited file:\n{}",
        show(&out)
    );
    assert!(show(&out).contains("+++ b/cluster-b/gateway.yaml"), "{}", show(&out));
    generate();
    assert!(hook().status.success());

    // A stale file: the spec no longer exports foo, but out/ still has
    // cluster-a's Gateway and cluster-b's import of it.
    let spec = project.join("federation/federation.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    let export = "    exports:\n    - service: foo\n      namespace: abc\n      ports:\n      - {name: http, port: 8080}\n      serviceAccounts: [foo]\n";
    assert!(text.contains(export));
    std::fs::write(&spec, text.replacen(export, "", 1)).unwrap();
    let out = hook();
    assert!(!out.status.success(), "the hook passed a stale file:\n{}", show(&out));
    assert!(show(&out).contains("--- a/cluster-a/gateway.yaml"), "{}", show(&out));
    generate();
    let out = hook();
    assert!(out.status.success(), "{}", show(&out));

    // Generated but not tracked: a fresh clone would miss cluster-b's folder.
    git(&project, &["add", "-A"], &cache);
    git(&project, &["commit", "-qm", "no foo"], &cache);
    git(&project, &["rm", "-q", "-r", "--cached", "out/cluster-b"], &cache);
    git(&project, &["commit", "-qm", "cluster-b untracked"], &cache);
    let out = hook();
    assert!(
        !out.status.success(),
        "the hook passed untracked output:\n{}",
        show(&out)
    );
    assert!(
        show(&out).contains("MF443") && show(&out).contains("out/cluster-b/gateway.yaml"),
        "{}",
        show(&out)
    );
    git(&project, &["add", "out"], &cache);
    let out = hook();
    assert!(out.status.success(), "{}", show(&out));
}
