//! Writing rendered clusters to `DIR/<cluster>/`.
//!
//! Everything is rendered before the first byte is written; each file is
//! written to a temporary sibling and renamed into place, so a reader never
//! sees half a file.

use std::io::Write;
use std::path::Path;

use crate::diagnostics::Diagnostic;
use crate::pipeline::Rendered;

/// Writes every rendered cluster below `dir`.
pub fn write_tree(dir: &Path, rendered: &Rendered) -> Result<(), Diagnostic> {
    for (cluster, files) in &rendered.clusters {
        let cdir = dir.join(cluster);
        std::fs::create_dir_all(&cdir).map_err(|e| io_error(&cdir, &e))?;
        for (name, file) in files {
            write_atomic(&cdir.join(name), file.text.as_bytes())?;
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file in the same folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Diagnostic> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.meshfed-tmp"));
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error(path, &e));
    }
    Ok(())
}

fn io_error(path: &Path, e: &std::io::Error) -> Diagnostic {
    Diagnostic::error("MF303", "", format!("cannot write {}: {e}", path.display()))
        .hint("check that the output folder is writable")
        .at(path, None)
}
