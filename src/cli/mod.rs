//! The command line: clap's options become plain settings at this edge, and
//! each subcommand's result becomes an exit code. The core never sees clap.
//!
//! Every command returns one `Outcome`: what goes to stdout, the diagnostics,
//! and how the run ended. `run` alone prints it (`report`) and maps it to an
//! exit code (`finish`), so the order is the same for every command: stdout
//! first, then the diagnostics, then a closing note or drift summary.
//!
//! - `args`: the clap types (options, subcommands, `--help` text);
//! - `commands`: one function a subcommand, each returning an `Outcome`;
//! - `explain`: `meshfed explain`, the built-in docs/diagnostics.md;
//! - `report`: stderr (diagnostics, notes, `--format`, `--quiet`) and stdout.

mod args;
mod commands;
mod explain;
mod report;

use std::io::IsTerminal;

use clap::Parser;

use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::exit_codes::ExitCode;

use args::Cli;

/// How a command ended, before anything is printed.
pub(super) enum Outcome {
    /// Success (exit 0): `stdout` and `summary` (the latter not with
    /// `--quiet`), then the warnings, then `note` (not with `--quiet`).
    Ok {
        stdout: String,
        summary: Option<String>,
        diagnostics: Diagnostics,
        note: Option<String>,
    },
    /// Invalid input (exit 1): `stdout` when the output itself carries the
    /// errors (`inspect`'s report, a KRM ResourceList's results), then the
    /// diagnostics.
    Failed { stdout: String, diagnostics: Diagnostics },
    /// `check` found drift (exit 3): the diff, the diagnostics, then the
    /// summary saying how to bring the folder up to date.
    Drift {
        stdout: String,
        diagnostics: Diagnostics,
        summary: Option<String>,
    },
    /// The command line is wrong (exit 2): the diagnostics say how.
    Usage(Diagnostics),
    /// The command line is wrong (exit 2): the usage goes to stderr.
    Help,
    /// What clap says about the command line (`--help`, `--version`: exit 0;
    /// a mistake: exit 2).
    Clap(clap::Error),
}

impl Outcome {
    /// Success with `stdout` and nothing else to say.
    fn printed(stdout: impl Into<String>) -> Self {
        Outcome::Ok {
            stdout: stdout.into(),
            summary: None,
            diagnostics: Diagnostics::new(),
            note: None,
        }
    }

    /// Success with `stdout`, then the warnings.
    fn warned(stdout: String, diagnostics: Diagnostics) -> Self {
        Outcome::Ok {
            stdout,
            summary: None,
            diagnostics,
            note: None,
        }
    }

    /// Success with a one-line `summary` on stdout (which `--quiet` drops),
    /// then the warnings.
    fn summarised(summary: String, diagnostics: Diagnostics) -> Self {
        Outcome::Ok {
            stdout: String::new(),
            summary: Some(summary),
            diagnostics,
            note: None,
        }
    }

    /// Invalid input, said by the diagnostics alone.
    fn failed(diagnostics: Diagnostics) -> Self {
        Outcome::Failed {
            stdout: String::new(),
            diagnostics,
        }
    }

    fn failed_one(d: Diagnostic) -> Self {
        Outcome::failed(d.into())
    }

    fn usage(d: Diagnostic) -> Self {
        Outcome::Usage(d.into())
    }
}

/// Parses the command line, runs it, prints the outcome and returns the exit code.
pub fn run() -> ExitCode {
    finish(outcome())
}

fn outcome() -> Outcome {
    // The two ways a pipeline calls meshfed without a subcommand: kpt and
    // kustomize exec functions (no arguments, a ResourceList on stdin) and
    // kustomize legacy exec plugins (one argument, the plugin config file).
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    match args.as_slice() {
        [] if !std::io::stdin().is_terminal() => return commands::krm_function(true),
        [arg] if crate::plugin::is_member_file(arg) => return commands::kustomize_plugin(std::path::Path::new(arg)),
        _ => {}
    }
    if let Some(outcome) = commands::spec_given_as_plugin_argument(&args) {
        return outcome;
    }
    match Cli::try_parse() {
        Ok(cli) => {
            report::init(cli.diag_format(), cli.quiet);
            commands::dispatch(cli.command)
        }
        Err(e) => Outcome::Clap(e),
    }
}

/// The one place an outcome is printed and becomes an exit code. A failed
/// write to stdout (MF451) turns any outcome into exit 1.
fn finish(outcome: Outcome) -> ExitCode {
    let (stdout, diagnostics, closing, code) = match outcome {
        Outcome::Clap(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::Usage
            } else {
                ExitCode::Success
            };
        }
        Outcome::Help => {
            let _ = <Cli as clap::CommandFactory>::command().write_help(&mut std::io::stderr());
            return ExitCode::Usage;
        }
        Outcome::Usage(diagnostics) => (String::new(), diagnostics, None, ExitCode::Usage),
        Outcome::Ok {
            mut stdout,
            summary,
            diagnostics,
            note,
        } => {
            if let Some(summary) = summary.filter(|_| !report::style().quiet) {
                stdout.push_str(&summary);
            }
            (stdout, diagnostics, note.map(Closing::Note), ExitCode::Success)
        }
        Outcome::Failed { stdout, diagnostics } => (stdout, diagnostics, None, ExitCode::InvalidInput),
        Outcome::Drift {
            stdout,
            diagnostics,
            summary,
        } => (stdout, diagnostics, summary.map(Closing::Drift), ExitCode::Drift),
    };
    let written = report::emit(&stdout);
    report::report(diagnostics);
    match closing {
        Some(Closing::Note(text)) => report::note(&text),
        Some(Closing::Drift(text)) => report::drift_summary(&text),
        None => {}
    }
    if written {
        code
    } else {
        ExitCode::InvalidInput
    }
}

/// The last line on stderr.
enum Closing {
    Note(String),
    Drift(String),
}
