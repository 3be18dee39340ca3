//! Diagnostics as data: a stable code, a severity, a field path, a location
//! and a hint. Producing a diagnostic is separate from rendering it, so the
//! same problems can be shown to a person (`render_human`) or handed to a
//! KRM pipeline as `results`.
//!
//! Every code is documented once, in `docs/diagnostics.md`, which is built
//! into the binary; the human line ends with `(meshfed explain MFnnn)`, which
//! prints that entry with only the binary at hand.

use std::fmt;
use std::path::PathBuf;

mod codes;

pub use codes::Code;

/// How bad a problem is. Errors stop generation; warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// Where a problem was found: a file and, where the parser knows it, a line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    pub file: PathBuf,
    pub line: Option<usize>,
}

/// One problem with the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The code's own severity, except where [`Diagnostic::as_warning`]
    /// lowered it.
    pub severity: Severity,
    /// Stable code such as `MF104`, declared in `codes.rs` and documented
    /// in `docs/diagnostics.md`.
    pub code: Code,
    /// Field path in the spec, e.g. `spec.clusters[1].rootCA.files[0]`; empty
    /// when the problem is not tied to a field.
    pub path: String,
    pub location: Option<Location>,
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A problem of the code's own severity.
    pub fn new(code: Code, path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: code.severity(),
            code,
            path: path.into(),
            location: None,
            message: message.into(),
            hint: None,
        }
    }

    /// The same problem reported as a warning, for the one command that can
    /// go on without what it is about: `meshfed graph` draws a federation
    /// whose root CA sources are broken, so their errors become warnings
    /// there (`docs/diagnostics.md` says so).
    pub fn as_warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn at(mut self, file: impl Into<PathBuf>, line: Option<usize>) -> Self {
        self.location = Some(Location {
            file: file.into(),
            line,
        });
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The one-line human form:
    /// `error[MF104] spec.clusters[1].domain (federation.yaml:14): message; hint (meshfed explain MF104)`
    pub fn render_human(&self) -> String {
        self.to_string()
    }

    /// The human form with the `error[MFnnn]` / `warning[MFnnn]` prefix in
    /// bold red / bold yellow ANSI colour, for a terminal.
    pub fn render_colour(&self) -> String {
        let plain = self.to_string();
        let prefix = format!("{}[{}]", self.severity.as_str(), self.code.as_str());
        let colour = match self.severity {
            Severity::Error => "\x1b[1;31m",
            Severity::Warning => "\x1b[1;33m",
        };
        format!("{colour}{prefix}\x1b[0m{}", &plain[prefix.len()..])
    }

    /// One JSON object on one line, fields in a fixed order: `severity`,
    /// `code`, `path`, `file`, `line`, `message`, `hint` (`null` where
    /// unknown), for tools reading `--format json`.
    pub fn render_json(&self) -> String {
        #[derive(serde::Serialize)]
        struct Json<'a> {
            severity: &'a str,
            code: &'a str,
            path: Option<&'a str>,
            file: Option<String>,
            line: Option<usize>,
            message: &'a str,
            hint: Option<&'a str>,
        }
        serde_json::to_string(&Json {
            severity: self.severity.as_str(),
            code: self.code.as_str(),
            path: Some(self.path.as_str()).filter(|p| !p.is_empty()),
            file: self.location.as_ref().map(|l| l.file.display().to_string()),
            line: self.location.as_ref().and_then(|l| l.line),
            message: &self.message,
            hint: self.hint.as_deref(),
        })
        .unwrap_or_default()
    }

    /// A GitHub Actions workflow command, which the runner turns into an
    /// annotation on the file and line:
    /// `::error file=federation.yaml,line=14,title=MF104::spec.clusters[1].domain: message; hint`.
    pub fn render_github(&self) -> String {
        let mut props = Vec::new();
        if let Some(loc) = &self.location {
            props.push(format!("file={}", github_property(&loc.file.display().to_string())));
            if let Some(line) = loc.line {
                props.push(format!("line={line}"));
            }
        }
        props.push(format!("title={}", github_property(self.code.as_str())));
        let mut message = String::new();
        if !self.path.is_empty() {
            message.push_str(&self.path);
            message.push_str(": ");
        }
        message.push_str(&self.message);
        if let Some(hint) = &self.hint {
            message.push_str("; ");
            message.push_str(hint);
        }
        message.push_str(&format!(" (meshfed explain {})", self.code.as_str()));
        format!(
            "::{} {}::{}",
            self.severity.as_str(),
            props.join(","),
            github_data(&message)
        )
    }
}

/// A workflow command's message, escaped as the runner unescapes it
/// (actions/toolkit packages/core/src/command.ts, `escapeData`): `%`, CR, LF.
pub fn github_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// A workflow command's property value (`file=`, `title=`), escaped as
/// `escapeProperty` in the same file: the data escapes plus `:` and `,`,
/// which would otherwise end the value.
pub fn github_property(s: &str) -> String {
    github_data(s).replace(':', "%3A").replace(',', "%2C")
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.severity.as_str(), self.code.as_str())?;
        if !self.path.is_empty() {
            write!(f, " {}", self.path)?;
        }
        if let Some(loc) = &self.location {
            write!(f, " ({}", loc.file.display())?;
            if let Some(line) = loc.line {
                write!(f, ":{line}")?;
            }
            write!(f, ")")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "; {hint}")?;
        }
        write!(f, " (meshfed explain {})", self.code.as_str())
    }
}

/// What a step that checks input returns: its value and the warnings found
/// on the way, or every problem found (at least one error, with the
/// warnings). Every checking step, from intake to `generate -o`, has this
/// one shape.
pub type Checked<T> = Result<(T, Diagnostics), Diagnostics>;

/// Problems collected over a whole run; they decide the exit status at the end.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(other);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// The diagnostics pushed since there were `start`, to be reworded.
    pub fn since_mut(&mut self, start: usize) -> impl Iterator<Item = &mut Diagnostic> {
        self.items.iter_mut().skip(start)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    /// Errors first, then by file, line, path and code: a stable order no
    /// matter in which order the checks ran.
    pub fn sorted(mut self) -> Vec<Diagnostic> {
        self.items.sort_by(|a, b| {
            (a.severity, &a.location, &a.path, a.code, &a.message).cmp(&(
                b.severity,
                &b.location,
                &b.path,
                b.code,
                &b.message,
            ))
        });
        self.items.dedup();
        self.items
    }
}

/// One problem on its own, where a step that finds only one meets a caller
/// that collects many.
impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics { items: vec![d] }
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}
