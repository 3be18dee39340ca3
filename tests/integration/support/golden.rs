//! Golden files: compare what a run printed with the committed expectation,
//! or, with `MESHFED_BLESS=1`, write the expectation anew (review the diff
//! before committing it).

use std::collections::BTreeMap;
use std::path::Path;

/// Whether this run rewrites goldens instead of comparing.
pub fn blessing() -> bool {
    std::env::var_os("MESHFED_BLESS").is_some()
}

/// A unified diff of `expected` against `actual`, headed with `name`.
pub fn diff(expected: &str, actual: &str, name: &str) -> String {
    similar::TextDiff::from_lines(expected, actual)
        .unified_diff()
        .header(&format!("expected/{name}"), &format!("actual/{name}"))
        .to_string()
}

/// `actual` against the golden file `path`: `Err` holds the diff. A missing
/// golden compares as empty.
pub fn check_file(path: &Path, actual: &str) -> Result<(), String> {
    if blessing() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected == actual {
        return Ok(());
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    Err(format!(
        "{} differs (MESHFED_BLESS=1 to accept):\n{}",
        path.display(),
        diff(&expected, actual, &name)
    ))
}

/// Panics with the diff when `actual` differs from the golden file `path`.
pub fn assert_file(path: &Path, actual: &str) {
    if let Err(problem) = check_file(path, actual) {
        panic!("{problem}");
    }
}

/// A whole tree (relative path → text) against the golden folder
/// `expected_dir`: missing, unexpected and differing files. Blessing
/// replaces the folder.
pub fn assert_tree(expected_dir: &Path, actual: &BTreeMap<String, String>) {
    if blessing() {
        let _ = std::fs::remove_dir_all(expected_dir);
        for (name, text) in actual {
            let path = expected_dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        return;
    }
    let expected = super::tree::texts(expected_dir);
    let mut problems = String::new();
    for name in expected.keys().filter(|n| !actual.contains_key(*n)) {
        problems.push_str(&format!("missing file {name}\n"));
    }
    for (name, text) in actual {
        match expected.get(name) {
            None => problems.push_str(&format!("unexpected file {name}\n")),
            Some(e) if e != text => problems.push_str(&diff(e, text, name)),
            Some(_) => {}
        }
    }
    assert!(
        problems.is_empty(),
        "output differs from {} (MESHFED_BLESS=1 to accept):\n{problems}",
        expected_dir.display()
    );
}
