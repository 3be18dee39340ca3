//! The real programs some tests drive (kubectl, pre-commit, git, Graphviz,
//! openssl, kpt): found on PATH, which `scripts/test.sh` prepares. Locally a
//! missing tool skips the test with a message on stderr; in CI (`CI=true`,
//! as GitHub Actions, GitLab CI and most others set it) it is a failure, so
//! a CI job never passes by skipping.

use std::io::Write;
use std::path::PathBuf;

/// Whether we run in CI: `CI` set to anything but empty, `0` or `false`.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false"))
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

/// `program` on PATH, or `None` after saying on stderr that the test is
/// skipped; in CI a missing program fails the test instead.
pub fn required(program: &str, what: &str) -> Option<PathBuf> {
    let found = on_path(program);
    if found.is_none() {
        assert!(
            !in_ci(),
            "{program} is not on PATH, and in CI (CI=true) every test must run: install it or run the tests through `bash scripts/test.sh` to {what}"
        );
        // Straight to the process's stderr: libtest captures `eprintln!` of
        // a passing test, and a skip must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {program} not on PATH; install it or run `bash scripts/test.sh` to {what}"
        );
    }
    found
}

/// `program` on PATH, or a failure naming it: for tools so many tests need
/// (openssl makes every test certificate) that skipping would hide most of
/// the suite.
pub fn essential(program: &str, what: &str) -> PathBuf {
    on_path(program).unwrap_or_else(|| panic!("{program} is not on PATH; the tests need it to {what}: install it"))
}
