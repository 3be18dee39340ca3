//! The command line: clap's options become plain settings at this edge, and
//! each subcommand's result becomes an exit code. The core never sees clap.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use clap::{Parser, Subcommand};

use crate::certs::CertPolicy;
use crate::check;
use crate::deckhouse;
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::exit_codes::ExitCode;
use crate::graph::{self as fedgraph, GraphFormat};
use crate::intake::BuildOptions;
use crate::krm;
use crate::load::{SpecSource, SCHEMA};
use crate::output;
use crate::pipeline::{self, RenderOptions};
use crate::plugin;

/// What `--help` says after the options: the exit codes, the forms without
/// a subcommand, and `-` for stdin.
const AFTER_HELP: &str = "\
SPEC is a MeshFederation file, or `-` to read it from stdin; relative paths in
it (rootCA files) resolve from the spec's folder, or from the working
directory when it comes from stdin.

Without a subcommand:
  meshfed MEMBER_FILE    kustomize exec plugin: render the cluster a
                         MeshFederationMember file names
  meshfed < list.yaml    KRM function (as `meshfed krm`), when stdin is not
                         a terminal

Exit codes:
  0  success (warnings may be printed)
  1  invalid input: diagnostics on stderr, nothing written
  2  the command line is wrong
  3  `check` found the output folder out of date

Diagnostics go to stderr, one per line; `meshfed explain MFnnn` prints what a
code means and what to do. `--format json|github` prints them for tools and
GitHub Actions annotations (before the subcommand for `graph`).";

#[derive(Parser, Debug)]
#[command(
    name = "meshfed",
    version,
    about = "Offline generator of Istio multi-cluster federation manifests",
    after_help = AFTER_HELP
)]
struct Cli {
    #[command(flatten)]
    style: StyleArgs,
    /// Print errors only: no warnings, notes or summaries.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

/// How diagnostics are printed on stderr.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
enum DiagFormat {
    /// One line each, coloured on a terminal (not with NO_COLOR).
    #[default]
    Human,
    /// One JSON object per line: severity, code, path, file, line, message, hint.
    Json,
    /// GitHub Actions workflow commands (`::error file=F,line=N::message`): annotations.
    Github,
}

/// `--format`: accepted before the subcommand and after the ones that print
/// diagnostics (not after `graph`, whose `--format` picks the drawing, nor
/// `inspect`, whose report on stdout holds its diagnostics).
#[derive(clap::Args, Debug)]
struct StyleArgs {
    /// How diagnostics are printed on stderr.
    #[arg(long = "format", value_enum, value_name = "FORMAT")]
    format: Option<DiagFormat>,
}

#[derive(clap::Args, Debug)]
struct CheckArgs {
    /// Warn about roots expiring within this many days.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    warn_expiry: i64,
}

/// How this run prints diagnostics: set once, from the command line.
#[derive(Debug, Clone, Copy, Default)]
struct Style {
    format: DiagFormat,
    quiet: bool,
    colour: bool,
}

static STYLE: OnceLock<Style> = OnceLock::new();

fn style() -> Style {
    STYLE.get().copied().unwrap_or_default()
}

/// Colour only for a person at a terminal: stderr is a tty, `NO_COLOR` is
/// unset or empty (no-color.org), and the terminal is not `dumb`.
fn colour_wanted() -> bool {
    let set = |name| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    std::io::stderr().is_terminal() && !set("NO_COLOR") && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
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
    #[command(flatten)]
    style: StyleArgs,
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
        /// The MeshFederation spec file (`-`: stdin).
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
        /// The MeshFederation spec file (`-`: stdin).
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
        /// The MeshFederation spec file (`-`: stdin).
        spec: PathBuf,
        #[command(flatten)]
        checks: CheckArgs,
        #[command(flatten)]
        style: StyleArgs,
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
        /// The MeshFederation spec file (`-`: stdin).
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
    /// Print what a diagnostic code means and what to do (docs/diagnostics.md,
    /// built in); without CODE, list every code.
    Explain {
        /// A code such as MF208.
        code: Option<String>,
    },
    /// Print a shell completion script: `meshfed completions bash > /etc/bash_completion.d/meshfed`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `meshfed man > meshfed.1; man -l meshfed.1`.
    Man,
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
        #[command(flatten)]
        style: StyleArgs,
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
    if let Some(code) = spec_given_as_plugin_argument(&args) {
        return code;
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
    let format = match &cli.command {
        Command::Generate { render, .. } | Command::Check { render, .. } => render.style.format,
        Command::Validate { style, .. } | Command::Import(ImportCommand::Deckhouse { style, .. }) => style.format,
        _ => None,
    };
    let _ = STYLE.set(Style {
        format: format.or(cli.style.format).unwrap_or_default(),
        quiet: cli.quiet,
        colour: colour_wanted(),
    });
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
        Command::Validate { spec, checks, .. } => {
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
            ..
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
        Command::Explain { code } => explain(code.as_deref()),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "meshfed",
                &mut script,
            );
            emit(&String::from_utf8_lossy(&script))
        }
        Command::Man => {
            let mut page = Vec::new();
            match clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut page) {
                Ok(()) => emit(&String::from_utf8_lossy(&page)),
                Err(e) => {
                    report_one(Diagnostic::new(
                        Code::MF451,
                        "",
                        format!("cannot write the manual page: {e}"),
                    ));
                    ExitCode::InvalidInput
                }
            }
        }
    }
}

/// docs/diagnostics.md, built in, so `meshfed explain` works with only the binary.
const DIAGNOSTICS_DOC: &str = include_str!("../docs/diagnostics.md");

/// Every `### MFnnn` entry of the built-in docs: its code and its text up to
/// the next heading.
fn doc_entries() -> Vec<(&'static str, &'static str)> {
    let mut entries = Vec::new();
    let mut rest = DIAGNOSTICS_DOC;
    while let Some(start) = rest.find("\n### MF") {
        let body = &rest[start + 5..];
        let (code, after) = body.split_once('\n').unwrap_or((body, ""));
        let end = after.find("\n#").unwrap_or(after.len());
        entries.push((code.trim(), after[..end].trim()));
        rest = &after[end..];
    }
    entries
}

/// `meshfed explain [CODE]`: the code's entry, or the list of codes with
/// their first sentence.
fn explain(code: Option<&str>) -> ExitCode {
    let entries = doc_entries();
    let Some(code) = code else {
        let list: String = entries
            .iter()
            .map(|(code, text)| {
                let summary = text.lines().next().unwrap_or("").trim_start_matches("**");
                let summary = summary.split("**").next().unwrap_or(summary);
                format!("{code}  {summary}\n")
            })
            .collect();
        return emit(&list);
    };
    let wanted = code.trim().to_ascii_uppercase();
    let wanted = if wanted.starts_with("MF") {
        wanted
    } else {
        format!("MF{wanted}")
    };
    match entries.iter().find(|(c, _)| *c == wanted) {
        Some((c, text)) => emit(&format!("{c}\n\n{text}\n")),
        None => {
            report_one(
                Diagnostic::new(Code::MF460, "", format!("{code} is not a meshfed diagnostic code"))
                    .hint("`meshfed explain` lists every code; codes look like MF208"),
            );
            ExitCode::Usage
        }
    }
}

/// `meshfed federation.yaml`: a MeshFederation spec where kustomize's plugin
/// form expects a MeshFederationMember file. Say which command was meant
/// (MF461, exit 2) instead of clap's "unrecognized subcommand".
fn spec_given_as_plugin_argument(args: &[std::ffi::OsString]) -> Option<ExitCode> {
    let first = args.first()?;
    let command = <Cli as clap::CommandFactory>::command();
    if first
        .to_str()
        .is_some_and(|a| a.starts_with('-') || command.find_subcommand(a).is_some())
    {
        return None;
    }
    let path = Path::new(first);
    let small_file = std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() <= 1024 * 1024);
    let text = small_file.then(|| std::fs::read_to_string(path).ok()).flatten()?;
    let kind = crate::load::parse_yaml(&text, path)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))?;
    if kind != "MeshFederation" {
        return None;
    }
    let mut words = vec!["meshfed".to_owned(), "generate".to_owned()];
    words.extend(args.iter().map(|a| shell_word(&a.to_string_lossy())));
    report_one(
        Diagnostic::new(
            Code::MF461,
            "",
            format!(
                "{} is a MeshFederation spec, not a MeshFederationMember file (the kustomize plugin form)",
                path.display()
            ),
        )
        .hint(format!("did you mean `{}`?", words.join(" ")))
        .at(path, None),
    );
    Some(ExitCode::Usage)
}

/// `implicit`: run because there were no arguments; then an empty stdin
/// (a script calling `meshfed` with stdin closed) gets the usage, not MF410.
fn krm_function(implicit: bool) -> ExitCode {
    let input = match crate::load::read_text(std::io::stdin().lock()) {
        Ok(input) => input,
        Err(why) => {
            report_one(Diagnostic::new(
                Code::MF410,
                "",
                format!("cannot read a ResourceList from stdin: {why}"),
            ));
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
            report_one(d);
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
        report_one(
            Diagnostic::new(Code::MF430, "", "neither XDG_CONFIG_HOME nor HOME is set")
                .hint("set XDG_CONFIG_HOME (or HOME)"),
        );
        return ExitCode::InvalidInput;
    };
    match plugin::install(&home, copy) {
        Ok(path) => emit(&format!("{}\n", path.display())),
        Err(d) => {
            report_one(d);
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

/// Prints diagnostics to stderr, one line each, in a stable order, in the
/// `--format` asked for; with `--quiet`, errors only.
pub fn report(diags: Diagnostics) {
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

fn report_one(d: Diagnostic) {
    report(Diagnostics::from(d));
}

/// `check`'s closing line on drift (no code: the diff is the detail), in the
/// `--format` asked for, so a JSON or GitHub reader sees it too; printed
/// even with `--quiet`, as it says why the exit code is 3.
fn drift_summary(text: &str) {
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
fn note(text: &str) {
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

/// The spec: the file, or stdin for `-`. From stdin, relative paths in it
/// resolve from the working directory, and diagnostics name it `<stdin>`.
fn read_spec(spec: &Path) -> Result<SpecSource, Diagnostic> {
    if spec.as_os_str() != "-" {
        return SpecSource::read(spec);
    }
    let unreadable = |why: String| {
        Diagnostic::new(Code::MF001, "", format!("cannot read the spec from stdin: {why}"))
            .hint("pipe the MeshFederation spec into `meshfed … -`, as UTF-8 text")
            .at("<stdin>", None)
    };
    // The same bound as every other input (`load::read_text`).
    let text = crate::load::read_text(std::io::stdin().lock()).map_err(unreadable)?;
    Ok(SpecSource {
        file: PathBuf::from("<stdin>"),
        base_dir: PathBuf::new(),
        text,
    })
}

fn render_spec(spec: &Path, opts: &RenderOptions) -> Result<pipeline::Rendered, Diagnostics> {
    let src = read_spec(spec).map_err(Diagnostics::from)?;
    pipeline::render_source(&src, opts)
}

fn generate(spec: &std::path::Path, out: Option<&std::path::Path>, opts: &RenderOptions) -> ExitCode {
    if let Some(dir) = out {
        let src = match read_spec(spec) {
            Ok(src) => src,
            Err(d) => {
                report_one(d);
                return ExitCode::InvalidInput;
            }
        };
        return match output::generate_tree(&src, dir, opts) {
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
    let rendered = match render_spec(spec, opts) {
        Ok(r) => r,
        Err(diags) => {
            report(diags);
            return ExitCode::InvalidInput;
        }
    };
    let code = emit(&pipeline::stream(&rendered));
    report(rendered.diagnostics);
    if opts.clusters.is_empty() && rendered.clusters.len() > 1 && !std::io::stdout().is_terminal() {
        let names: Vec<&str> = rendered.clusters.keys().map(String::as_str).collect();
        note(&format!(
            "stdout holds the objects of {} clusters ({}), some under the same names in each; \
             apply one cluster's with --cluster NAME, or write a folder per cluster with -o DIR",
            names.len(),
            names.join(", ")
        ));
    }
    code
}

fn check(spec: &std::path::Path, dir: &std::path::Path, require_tracked: bool, opts: &RenderOptions) -> ExitCode {
    let rendered = match render_spec(spec, opts) {
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
            let regenerate = !drift.diff.is_empty() || drift.problems.iter().any(|d| d.code != Code::MF443);
            let mut diags = rendered.diagnostics;
            diags.extend(drift.problems);
            report(diags);
            if !regenerate {
                return match code {
                    ExitCode::Success => ExitCode::Drift,
                    failed => failed,
                };
            }
            drift_summary(&format!(
                "{} is out of date with {}; run `{}`",
                dir.display(),
                spec.display(),
                regenerate_command(spec, dir, opts)
            ));
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
    let src = match read_spec(spec) {
        Ok(s) => s,
        Err(d) => {
            report_one(d);
            return ExitCode::InvalidInput;
        }
    };
    match pipeline::validate_source(&src, opts) {
        Ok((fed, diags)) => {
            let warnings = diags.clone().sorted().iter().filter(|d| !d.is_error()).count();
            report(diags);
            if style().quiet {
                return ExitCode::Success;
            }
            let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
            emit(&format!(
                "{}: {}, {}, 0 errors, {}\n",
                src.file.display(),
                plural(fed.clusters.len(), "cluster"),
                plural(fed.exports, "export"),
                plural(warnings, "warning")
            ))
        }
        Err(diags) => {
            report(diags);
            ExitCode::InvalidInput
        }
    }
}

fn graph(spec: &std::path::Path, format: GraphFormat) -> ExitCode {
    let src = match read_spec(spec) {
        Ok(s) => s,
        Err(d) => {
            report_one(d);
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
            report_one(
                Diagnostic::new(Code::MF451, "", format!("cannot write the output to stdout: {e}"))
                    .hint("check where stdout goes (a full disk, a closed pipe or file)"),
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
    report_one(
        Diagnostic::new(
            Code::MF450,
            "",
            format!("-o {}: the path is a file, not a folder", dir.display()),
        )
        .hint("give -o the output folder (generate creates it when missing; `generate -o -` streams to stdout)")
        .at(dir, None),
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
