//! The real programs some tests drive (kubectl, pre-commit, Graphviz, kpt):
//! found on PATH, which `scripts/test.sh` prepares. Locally a missing tool
//! skips the test with a message; in CI (`CI` set) it is a failure.

use std::path::PathBuf;

/// `program` on PATH, or `None` after saying the test is skipped; panics in CI.
pub fn required(program: &str, what: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{program} is not on PATH; in CI it must be (run the tests through `bash scripts/test.sh`)"
        );
        eprintln!("SKIPPED: {program} not on PATH; run `bash scripts/test.sh` to {what}");
    }
    found
}
