//! The command line: clap's options become plain settings at this edge, and
//! each subcommand's result becomes an exit code. The core never sees clap.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::certs::CertPolicy;
use crate::check;
use crate::deckhouse;
use crate::diagnostics::Diagnostics;
use crate::exit_codes::ExitCode;
use crate::graph::{self as fedgraph, GraphFormat};
use crate::krm;
use crate::load::{SpecSource, SCHEMA};
use crate::model::BuildOptions;
use crate::output;
use crate::pipeline::{self, RenderOptions};
use crate::plugin;

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

/// What `generate` and `check` share: which clusters, which templates, which checks.
#[derive(clap::Args, Debug)]
struct RenderArgs {
    /// Only this cluster (repeatable).
    #[arg(long = "cluster", value_name = "NAME")]
    clusters: Vec<String>,
    /// Use templates from DIR where a file of the same name exists.
    #[arg(long, value_name = "DIR")]
    templates: Option<PathBuf>,
    #[command(flatten)]
    checks: CheckArgs,
}

impl RenderArgs {
    fn options(self) -> RenderOptions {
        RenderOptions {
            build: build_options(&self.checks),
            clusters: self.clusters,
            templates: self.templates,
        }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Render every cluster's manifests.
    Generate {
        /// The MeshFederation spec file.
        spec: PathBuf,
        /// Write DIR/<cluster>/ folders instead of one stream on stdout.
        /// (`-o -` is stdout, the same as no `-o`.)
        #[arg(short, long, value_name = "DIR")]
        output: Option<PathBuf>,
        #[command(flatten)]
        render: RenderArgs,
    },
    /// Compare DIR with what `generate -o DIR` would write; exit 3 with a diff on drift.
    Check {
        /// The MeshFederation spec file.
        spec: PathBuf,
        /// The output folder to compare.
        #[arg(short, long, value_name = "DIR")]
        output: PathBuf,
        /// Inside a git work tree, also fail when a generated file is not
        /// tracked by git (what the pre-commit hook does).
        #[arg(long)]
        require_tracked: bool,
        #[command(flatten)]
        render: RenderArgs,
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
    /// Turn another system's published federation metadata into a spec entry.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Draw who imports what from whom, and who trusts whom.
    Graph {
        spec: PathBuf,
        #[arg(long, value_enum, default_value_t = GraphFormatArg::Mermaid)]
        format: GraphFormatArg,
    },
    /// Run as a KRM function: a ResourceList on stdin, the same list with
    /// meshfed's objects on stdout (also what `meshfed` with no arguments
    /// does when stdin is not a terminal).
    Krm,
    /// Manage the kustomize legacy exec plugin.
    Plugin {
        #[command(subcommand)]
        action: PluginAction,
    },
}

#[derive(Subcommand, Debug)]
enum ImportCommand {
    /// Print the clusters[] entry for a Deckhouse cluster and write its root CA.
    Deckhouse {
        /// Cluster name in the federation.
        #[arg(long)]
        name: String,
        /// The cluster's public federation document (clusterUUID, rootCA, authnKeyPub).
        #[arg(long, value_name = "FILE")]
        public: PathBuf,
        /// The cluster's private federation document (ingressGateways, publicServices).
        #[arg(long, value_name = "FILE")]
        private: PathBuf,
        /// Where to write the root CA (missing folders are made); the entry names this path [default: NAME.pem].
        #[arg(long, value_name = "FILE")]
        root_out: Option<PathBuf>,
        /// The folder of the spec the entry goes into: the entry names --root-out relative to it [default: the working directory].
        #[arg(long, value_name = "DIR")]
        spec_dir: Option<PathBuf>,
        /// Overwrite an existing --root-out that holds something else.
        #[arg(long)]
        force: bool,
        /// Cluster domain, when it cannot be derived from the published hostnames.
        #[arg(long)]
        domain: Option<String>,
        /// SPIFFE trust domain, when it differs from the domain.
        #[arg(long)]
        trust_domain: Option<String>,
        #[command(flatten)]
        checks: CheckArgs,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum GraphFormatArg {
    Mermaid,
    Dot,
}

#[derive(Subcommand, Debug)]
enum PluginAction {
    /// Link the binary where `kubectl kustomize --enable-alpha-plugins` looks for the
    /// MeshFederationMember generator ($XDG_CONFIG_HOME/kustomize/plugin/...).
    Install {
        /// Copy the binary instead of linking it.
        #[arg(long)]
        copy: bool,
    },
}

/// Parses the command line and runs it.
pub fn run() -> ExitCode {
    // The two ways a pipeline calls meshfed without a subcommand: kpt and
    // kustomize exec functions (no arguments, a ResourceList on stdin) and
    // kustomize legacy exec plugins (one argument, the plugin config file).
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    match args.as_slice() {
        [] if !std::io::stdin().is_terminal() => return krm_function(true),
        [arg] if plugin::is_member_file(arg) => return kustomize_plugin(std::path::Path::new(arg)),
        _ => {}
    }
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
        Command::Generate { spec, output, render } => {
            // `-o -` is stdout, as for most tools, never a folder named `-`.
            let output = output.filter(|o| o.as_os_str() != "-");
            if let Some(code) = output.as_deref().and_then(not_a_folder) {
                return code;
            }
            generate(&spec, output.as_deref(), &render.options())
        }
        Command::Check {
            spec,
            output,
            require_tracked,
            render,
        } => {
            if let Some(code) = not_a_folder(&output) {
                return code;
            }
            check(&spec, &output, require_tracked, &render.options())
        }
        Command::Validate { spec, checks } => {
            let opts = RenderOptions {
                build: build_options(&checks),
                ..Default::default()
            };
            validate(&spec, &opts)
        }
        Command::Import(ImportCommand::Deckhouse {
            name,
            public,
            private,
            root_out,
            spec_dir,
            force,
            domain,
            trust_domain,
            checks,
        }) => {
            let root_out = root_out.unwrap_or_else(|| PathBuf::from(format!("{name}.pem")));
            let req = deckhouse::ImportRequest {
                name,
                public,
                private,
                root_out,
                spec_dir: spec_dir.unwrap_or_else(|| PathBuf::from(".")),
                force,
                domain,
                trust_domain,
            };
            match deckhouse::import(&req, &build_options(&checks).certs) {
                Ok((yaml, warnings)) => {
                    let code = emit(&yaml);
                    report(warnings);
                    code
                }
                Err(diags) => {
                    report(diags);
                    ExitCode::InvalidInput
                }
            }
        }
        Command::Graph { spec, format } => {
            let format = match format {
                GraphFormatArg::Mermaid => GraphFormat::Mermaid,
                GraphFormatArg::Dot => GraphFormat::Dot,
            };
            graph(&spec, format)
        }
        Command::Schema => emit(SCHEMA),
        Command::Inspect { files, checks } => {
            let report = crate::inspect::inspect_files(&files, &build_options(&checks).certs);
            match emit(&report.text) {
                ExitCode::Success if report.has_errors => ExitCode::InvalidInput,
                code => code,
            }
        }
        Command::Krm => krm_function(false),
        Command::Plugin {
            action: PluginAction::Install { copy },
        } => plugin_install(copy),
    }
}

/// `implicit`: run because there were no arguments; then an empty stdin
/// (a script calling `meshfed` with stdin closed) gets the usage, not MF410.
fn krm_function(implicit: bool) -> ExitCode {
    let input = match crate::load::read_text(std::io::stdin().lock()) {
        Ok(input) => input,
        Err(why) => {
            eprintln!("error[MF410]: cannot read a ResourceList from stdin: {why}");
            return ExitCode::InvalidInput;
        }
    };
    if implicit && input.trim().is_empty() {
        let _ = <Cli as clap::CommandFactory>::command().write_help(&mut std::io::stderr());
        return ExitCode::Usage;
    }
    let workdir = std::path::PathBuf::from(".");
    match krm::process(&input, &workdir, &RenderOptions::default()) {
        Ok(outcome) => match emit(&outcome.output) {
            ExitCode::Success if outcome.failed => ExitCode::InvalidInput,
            code => code,
        },
        Err(d) => {
            eprintln!("{d}");
            ExitCode::InvalidInput
        }
    }
}

fn kustomize_plugin(file: &std::path::Path) -> ExitCode {
    match plugin::render_member(file, &plugin::config_root(), &RenderOptions::default()) {
        Ok(rendered) => {
            let code = emit(&pipeline::stream(&rendered));
            report(rendered.diagnostics);
            code
        }
        Err(diags) => {
            report(diags);
            ExitCode::InvalidInput
        }
    }
}

fn plugin_install(copy: bool) -> ExitCode {
    let Some(home) = plugin::config_home() else {
        eprintln!("error[MF430]: neither XDG_CONFIG_HOME nor HOME is set; set XDG_CONFIG_HOME");
        return ExitCode::InvalidInput;
    };
    match plugin::install(&home, copy) {
        Ok(path) => emit(&format!("{}\n", path.display())),
        Err(d) => {
            eprintln!("{d}");
            ExitCode::InvalidInput
        }
    }
}

fn build_options(checks: &CheckArgs) -> BuildOptions {
    BuildOptions {
        certs: CertPolicy {
            warn_expiry_days: checks.warn_expiry,
            ..CertPolicy::default()
        },
        ..BuildOptions::default()
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
    if let Some(dir) = out {
        return match output::generate_tree(spec, dir, opts) {
            Ok(warnings) => {
                report(warnings);
                ExitCode::Success
            }
            Err(diags) => {
                report(diags);
                ExitCode::InvalidInput
            }
        };
    }
    let rendered = match pipeline::render_file(spec, opts) {
        Ok(r) => r,
        Err(diags) => {
            report(diags);
            return ExitCode::InvalidInput;
        }
    };
    let code = emit(&pipeline::stream(&rendered));
    report(rendered.diagnostics);
    code
}

fn check(spec: &std::path::Path, dir: &std::path::Path, require_tracked: bool, opts: &RenderOptions) -> ExitCode {
    let rendered = match pipeline::render_file(spec, opts) {
        Ok(r) => r,
        Err(diags) => {
            report(diags);
            return ExitCode::InvalidInput;
        }
    };
    match check::drift(dir, &rendered, !opts.clusters.is_empty(), require_tracked) {
        Ok(drift) if drift.is_clean() => {
            report(rendered.diagnostics);
            ExitCode::Success
        }
        Ok(drift) => {
            let code = emit(&drift.diff);
            // Untracked files alone (MF443) are not fixed by generating again.
            let regenerate = !drift.diff.is_empty() || drift.problems.iter().any(|d| d.code != "MF443");
            let mut diags = rendered.diagnostics;
            diags.extend(drift.problems);
            report(diags);
            if !regenerate {
                return match code {
                    ExitCode::Success => ExitCode::Drift,
                    failed => failed,
                };
            }
            eprintln!(
                "{} is out of date with {}; run `{}`",
                dir.display(),
                spec.display(),
                regenerate_command(spec, dir, opts)
            );
            match code {
                ExitCode::Success => ExitCode::Drift,
                failed => failed,
            }
        }
        Err(problems) => {
            let mut diags = rendered.diagnostics;
            diags.extend(problems);
            report(diags);
            ExitCode::InvalidInput
        }
    }
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

fn graph(spec: &std::path::Path, format: GraphFormat) -> ExitCode {
    let src = match SpecSource::read(spec) {
        Ok(s) => s,
        Err(d) => {
            eprintln!("{d}");
            return ExitCode::InvalidInput;
        }
    };
    match pipeline::validate_for_graph(&src, &RenderOptions::default()) {
        Ok((fed, diags)) => {
            let code = emit(&fedgraph::render(&fed, format));
            report(diags);
            code
        }
        Err(diags) => {
            report(diags);
            ExitCode::InvalidInput
        }
    }
}

/// Writes `text` to stdout. A reader that stopped reading (`meshfed generate
/// … | head`) is no failure: the rest is dropped quietly, as `cat` does, and
/// the exit code is what it would have been. Any other failed write (a full
/// disk, a closed descriptor) is MF451, exit 1.
fn emit(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::Success,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::Success,
        Err(e) => {
            eprintln!(
                "{}",
                crate::diagnostics::Diagnostic::error("MF451", "", format!("cannot write the output to stdout: {e}"))
                    .hint("check where stdout goes (a full disk, a closed pipe or file)")
            );
            ExitCode::InvalidInput
        }
    }
}

/// `-o PATH` where PATH is a file: say so (MF450, exit 2) instead of failing
/// on the manifest inside it.
fn not_a_folder(dir: &std::path::Path) -> Option<ExitCode> {
    if !dir.exists() || dir.is_dir() {
        return None;
    }
    eprintln!(
        "{}",
        crate::diagnostics::Diagnostic::error(
            "MF450",
            "",
            format!("-o {}: the path is a file, not a folder", dir.display())
        )
        .hint("give -o the output folder (generate creates it when missing; `generate -o -` streams to stdout)")
        .at(dir, None)
    );
    Some(ExitCode::Usage)
}

/// The `generate` command that brings DIR up to date, with the options
/// `check` was given that change what is written.
fn regenerate_command(spec: &std::path::Path, dir: &std::path::Path, opts: &RenderOptions) -> String {
    let mut words = vec![
        "meshfed".to_owned(),
        "generate".to_owned(),
        shell_word(&spec.to_string_lossy()),
        "-o".to_owned(),
        shell_word(&dir.to_string_lossy()),
    ];
    for cluster in &opts.clusters {
        words.extend(["--cluster".to_owned(), shell_word(cluster)]);
    }
    if let Some(templates) = &opts.templates {
        words.extend(["--templates".to_owned(), shell_word(&templates.to_string_lossy())]);
    }
    words.join(" ")
}

/// `word` as a POSIX shell reads it back: as is when it holds only safe
/// characters, else in single quotes.
fn shell_word(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}
