//! Reading a folder tree: the one walker the test modules share.

use std::collections::BTreeMap;
use std::path::Path;

/// Every file below `dir`: its path relative to `dir` (with `/`) → bytes.
/// A missing `dir` is an empty tree.
pub fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap();
                let name = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                out.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// Every file below `dir` as text (panics on a file that is not UTF-8).
pub fn texts(dir: &Path) -> BTreeMap<String, String> {
    files(dir)
        .into_iter()
        .map(|(name, bytes)| {
            let text = String::from_utf8(bytes).unwrap_or_else(|_| panic!("{name} is not UTF-8"));
            (name, text)
        })
        .collect()
}
