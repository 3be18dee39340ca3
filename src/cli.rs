//! The command line: clap's options become plain settings at this edge, and
//! each subcommand's result becomes an exit code. The core never sees clap.

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::certs::CertPolicy;
use crate::diagnostics::Diagnostics;
use crate::exit_codes::ExitCode;
use crate::load::{SpecSource, SCHEMA};
use crate::model::BuildOptions;
use crate::output;
use crate::pipeline::{self, RenderOptions};

#[derive(Parser, Debug)]
#[command(
    name = "meshfed",
    version,
    about = "Offline generator of Istio multi-cluster federation manifests"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Debug)]
struct CheckArgs {
    /// Warn about roots expiring within this many days.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    warn_expiry: i64,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Render every cluster's manifests.
    Generate {
        /// The MeshFederation spec file.
        spec: PathBuf,
        /// Write DIR/<cluster>/ folders instead of one stream on stdout.
        #[arg(short, long, value_name = "DIR")]
        output: Option<PathBuf>,
        /// Render only this cluster (repeatable).
        #[arg(long = "cluster", value_name = "NAME")]
        clusters: Vec<String>,
        /// Use templates from DIR where a file of the same name exists.
        #[arg(long, value_name = "DIR")]
        templates: Option<PathBuf>,
        #[command(flatten)]
        checks: CheckArgs,
    },
    /// Run every check and print the diagnostics; write nothing.
    Validate {
        spec: PathBuf,
        #[command(flatten)]
        checks: CheckArgs,
    },
    /// Print the JSON Schema of the MeshFederation spec.
    Schema,
    /// Describe the certificates in CA files (PEM, DER or SPIFFE bundle) and
    /// how they fare as federation roots.
    Inspect {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        checks: CheckArgs,
    },
}

/// Parses the command line and runs it.
pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::Usage
            } else {
                ExitCode::Success
            };
        }
    };
    match cli.command {
        Command::Generate {
            spec,
            output,
            clusters,
            templates,
            checks,
        } => {
            let opts = RenderOptions {
                build: build_options(&checks),
                clusters,
                templates,
            };
            generate(&spec, output.as_deref(), &opts)
        }
        Command::Validate { spec, checks } => {
            let opts = RenderOptions {
                build: build_options(&checks),
                ..Default::default()
            };
            validate(&spec, &opts)
        }
        Command::Schema => {
            print!("{SCHEMA}");
            ExitCode::Success
        }
        Command::Inspect { files, checks } => {
            let report = crate::inspect::inspect_files(&files, &build_options(&checks).certs);
            print!("{}", report.text);
            if report.has_errors {
                ExitCode::InvalidInput
            } else {
                ExitCode::Success
            }
        }
    }
}

fn build_options(checks: &CheckArgs) -> BuildOptions {
    BuildOptions {
        certs: CertPolicy {
            warn_expiry_days: checks.warn_expiry,
            ..CertPolicy::default()
        },
    }
}

/// Prints diagnostics to stderr, one line each, in a stable order.
pub fn report(diags: Diagnostics) {
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    for d in diags.sorted() {
        let _ = writeln!(err, "{d}");
    }
}

fn generate(spec: &std::path::Path, out: Option<&std::path::Path>, opts: &RenderOptions) -> ExitCode {
    let rendered = match pipeline::render_file(spec, opts) {
        Ok(r) => r,
        Err(diags) => {
            report(diags);
            return ExitCode::InvalidInput;
        }
    };
    match out {
        Some(dir) => {
            if let Err(d) = output::write_tree(dir, &rendered) {
                report(rendered.diagnostics);
                eprintln!("{d}");
                return ExitCode::InvalidInput;
            }
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            if lock
                .write_all(pipeline::stream(&rendered).as_bytes())
                .and_then(|()| lock.flush())
                .is_err()
            {
                return ExitCode::InvalidInput;
            }
        }
    }
    report(rendered.diagnostics);
    ExitCode::Success
}

fn validate(spec: &std::path::Path, opts: &RenderOptions) -> ExitCode {
    let src = match SpecSource::read(spec) {
        Ok(s) => s,
        Err(d) => {
            eprintln!("{d}");
            return ExitCode::InvalidInput;
        }
    };
    match pipeline::validate_source(&src, opts) {
        Ok((_, diags)) => {
            report(diags);
            ExitCode::Success
        }
        Err(diags) => {
            report(diags);
            ExitCode::InvalidInput
        }
    }
}
