//! The process exit codes of PRODUCT §4.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    Success = 0,
    /// Invalid input: diagnostics on stderr, nothing written.
    InvalidInput = 1,
    /// The command line itself is wrong.
    Usage = 2,
    /// `check` found the committed output out of date.
    Drift = 3,
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}
