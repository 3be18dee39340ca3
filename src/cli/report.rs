//! What a run prints besides its output: diagnostics, notes and `check`'s
//! drift summary on stderr, and the output itself on stdout (`emit`). The
//! style is set once from the command line (`init`); the forms that run
//! before the command line is parsed (the KRM function and kustomize plugin
//! forms, a spec given where a member file was expected) print in the
//! default style.
//!
//! What each kind of line does with `--quiet` and `--format`:
//!
//! | line | human | `json` | `github` | `--quiet` |
//! | --- | --- | --- | --- | --- |
//! | diagnostic (`report`) | `error[MFnnn] …` | one object a line | `::error …::` / `::warning …::` | errors only |
//! | note (`note`) | `note: …` | `{"severity":"note","message":…}` | `::notice::…` | none |
//! | drift summary (`drift_summary`) | the sentence | `{"severity":"error","message":…}` | `::error title=meshfed check::…` | printed: it says why the exit code is 3 |
//!
//! A remark made deep in a run is a note too: the one that `generate -o` or
//! `check` waits for another run's lock on the output folder
//! (`output::lock`) comes here through the `Notify` the command passes, so
//! `--quiet` silences it and `--format json|github` print it as above. (It
//! used to be written straight to stderr, in the human form, whatever was
//! asked.) `validate`'s one-line summary is output, on stdout, and not
//! printed with `--quiet`.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use super::args::DiagFormat;
use crate::diagnostics::{Code, Diagnostic, Diagnostics};

/// How this run prints diagnostics: set once, from the command line.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Style {
    format: DiagFormat,
    pub(super) quiet: bool,
    colour: bool,
}

static STYLE: OnceLock<Style> = OnceLock::new();

/// Sets how this run prints, once, from the command line.
pub(super) fn init(format: DiagFormat, quiet: bool) {
    let _ = STYLE.set(Style {
        format,
        quiet,
        colour: colour_wanted(),
    });
}

pub(super) fn style() -> Style {
    STYLE.get().copied().unwrap_or_default()
}

/// Colour only for a person at a terminal: stderr is a tty, `NO_COLOR` is
/// unset or empty (no-color.org), and the terminal is not `dumb`.
fn colour_wanted() -> bool {
    let set = |name| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    std::io::stderr().is_terminal() && !set("NO_COLOR") && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// Prints diagnostics to stderr, one line each, in a stable order, in the
/// `--format` asked for; with `--quiet`, errors only.
pub(super) fn report(diags: Diagnostics) {
    let style = style();
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    for d in diags.sorted() {
        if style.quiet && !d.is_error() {
            continue;
        }
        let line = match style.format {
            DiagFormat::Human if style.colour => d.render_colour(),
            DiagFormat::Human => d.render_human(),
            DiagFormat::Json => d.render_json(),
            DiagFormat::Github => d.render_github(),
        };
        let _ = writeln!(err, "{line}");
    }
}

pub(super) fn report_one(d: Diagnostic) {
    report(Diagnostics::from(d));
}

/// `check`'s closing line on drift (no code: the diff is the detail), in the
/// `--format` asked for, so a JSON or GitHub reader sees it too; printed
/// even with `--quiet`, as it says why the exit code is 3.
pub(super) fn drift_summary(text: &str) {
    let line = match style().format {
        DiagFormat::Human => text.to_owned(),
        DiagFormat::Json => serde_json::json!({"severity": "error", "message": text}).to_string(),
        DiagFormat::Github => format!(
            "::error title={}::{}",
            crate::diagnostics::github_property("meshfed check"),
            crate::diagnostics::github_data(text)
        ),
    };
    eprintln!("{line}");
}

/// A remark that is not a problem with the input (no code): `note: …` on
/// stderr, a `"severity":"note"` object, or a GitHub `::notice::`. Not with `--quiet`.
pub(super) fn note(text: &str) {
    let style = style();
    if style.quiet {
        return;
    }
    let line = match style.format {
        DiagFormat::Human if style.colour => format!("\x1b[1;36mnote\x1b[0m: {text}"),
        DiagFormat::Human => format!("note: {text}"),
        DiagFormat::Json => serde_json::json!({"severity": "note", "message": text}).to_string(),
        DiagFormat::Github => format!("::notice::{}", crate::diagnostics::github_data(text)),
    };
    eprintln!("{line}");
}

/// Writes `text` to stdout; whether it got there. A reader that stopped
/// reading (`meshfed generate … | head`) is no failure: the rest is dropped
/// quietly, as `cat` does, and the exit code is what it would have been. Any
/// other failed write (a full disk, a closed descriptor) is reported here
/// (MF451) and the run fails (exit 1). Nothing to write is not written.
pub(super) fn emit(text: &str) -> bool {
    if text.is_empty() {
        return true;
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => true,
        Err(e) => {
            report_one(
                Diagnostic::new(Code::MF451, "", format!("cannot write the output to stdout: {e}"))
                    .hint("check where stdout goes (a full disk, a closed pipe or file)"),
            );
            false
        }
    }
}
