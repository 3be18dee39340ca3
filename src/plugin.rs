//! kustomize legacy exec plugin mode, and putting the binary where
//! kustomize looks for it.
//!
//! `kubectl kustomize --enable-alpha-plugins` runs a generator named by a
//! `MeshFederationMember` file as `<plugin dir>/MeshFederationMember <tmp
//! copy of that file>`, from the kustomization folder, with
//! `KUSTOMIZE_PLUGIN_CONFIG_ROOT` set to it. It reads the objects the plugin
//! prints. Because the file it passes is a temporary copy, `spec.federation`
//! resolves from the kustomization root, not from the copy's folder.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::diagnostics::{Checked, Code, Diagnostic, Diagnostics};
use crate::krm;
use crate::load;
use crate::pipeline::{self, RenderOptions, Rendered};
use crate::spec::{API_VERSION, MEMBER_KIND};

/// Largest file we look at when deciding whether an argument is a plugin
/// config: a MeshFederationMember is a few lines.
const MAX_MEMBER_BYTES: u64 = 1024 * 1024;

/// The plugin's folder below `$XDG_CONFIG_HOME/kustomize/plugin`: the
/// apiVersion, then the kind in lower case.
pub fn plugin_path(config_home: &Path) -> PathBuf {
    config_home
        .join("kustomize/plugin")
        .join(API_VERSION)
        .join(MEMBER_KIND.to_lowercase())
        .join(MEMBER_KIND)
}

/// `$XDG_CONFIG_HOME`, or `~/.config` as the XDG spec (and kustomize) default it.
pub fn config_home() -> Option<PathBuf> {
    match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir)),
        None => std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")),
    }
}

/// Whether a lone command-line argument is a MeshFederationMember file, as
/// kustomize passes it.
pub fn is_member_file(arg: &OsStr) -> bool {
    let path = Path::new(arg);
    let small_file = std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() <= MAX_MEMBER_BYTES);
    if !small_file {
        return false;
    }
    let Ok(text) = std::fs::File::open(path)
        .map_err(|e| e.to_string())
        .and_then(load::read_text)
    else {
        return false;
    };
    load::parse_yaml(&text, path).is_ok_and(|v| {
        v.get("kind").and_then(|k| k.as_str()) == Some(MEMBER_KIND)
            && v.get("apiVersion").and_then(|k| k.as_str()) == Some(API_VERSION)
    })
}

/// Renders the cluster a MeshFederationMember file names. `root` is where
/// `spec.federation` resolves from.
pub fn render_member(file: &Path, root: &Path, opts: &RenderOptions) -> Checked<Rendered> {
    // The same bound as every other input (`load::read_text`).
    let text = std::fs::File::open(file)
        .map_err(|e| e.to_string())
        .and_then(load::read_text);
    let text = text.map_err(|e| {
        Diagnostics::from(
            Diagnostic::new(Code::MF412, "", format!("cannot read {}: {e}", file.display()))
                .hint("check the generators entry of kustomization.yaml names the MeshFederationMember file")
                .at(file, None),
        )
    })?;
    crate::nesting::diagnose(&text, file).map_err(Diagnostics::from)?;
    let value: serde_norway::Value = serde_norway::from_str(&text).map_err(|e| {
        Diagnostics::from(
            Diagnostic::new(Code::MF412, "", format!("not YAML: {e}"))
                .hint("fix the YAML of the MeshFederationMember file")
                .at(file, None),
        )
    })?;
    let member = krm::read_member(&value).map_err(|d| Diagnostics::from(d.at(file, None)))?;
    let spec = krm::resolve(root, &member.spec.federation);
    let opts = RenderOptions {
        clusters: vec![member.metadata.name],
        ..opts.clone()
    };
    pipeline::render_file(&spec, &opts).map_err(krm::member_diagnostics)
}

/// The kustomization root kustomize names, else the working directory.
pub fn config_root() -> PathBuf {
    std::env::var_os("KUSTOMIZE_PLUGIN_CONFIG_ROOT")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Links (or copies) the running binary to the plugin path below
/// `config_home`; returns that path.
pub fn install(config_home: &Path, copy: bool) -> Result<PathBuf, Diagnostic> {
    let target = plugin_path(config_home);
    let failed = |what: &str, e: std::io::Error| {
        Diagnostic::new(Code::MF430, "", format!("cannot {what} {}: {e}", target.display()))
            .hint("check that the folder is writable, or set XDG_CONFIG_HOME")
            .at(&target, None)
    };
    let exe = std::env::current_exe().map_err(|e| failed("find the running binary for", e))?;
    let exe = exe.canonicalize().unwrap_or(exe);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|e| failed("create the folder of", e))?;
    }
    // The path is meshfed's own plugin name: replace whatever an earlier
    // install left there.
    match std::fs::remove_file(&target) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(failed("replace", e)),
        _ => {}
    }
    if copy {
        std::fs::copy(&exe, &target).map_err(|e| failed("copy the binary to", e))?;
    } else {
        link(&exe, &target).map_err(|e| failed("link the binary to", e))?;
    }
    Ok(target)
}

#[cfg(unix)]
fn link(exe: &Path, target: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(exe, target)
}

#[cfg(not(unix))]
fn link(exe: &Path, target: &Path) -> std::io::Result<()> {
    std::fs::copy(exe, target).map(|_| ())
}
