//! The command line as clap reads it: every option and subcommand, and the
//! plain settings they become. Only this file knows clap's types.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::certs::CertPolicy;
use crate::intake::BuildOptions;
use crate::pipeline::RenderOptions;

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
pub(super) struct Cli {
    #[command(flatten)]
    pub(super) style: StyleArgs,
    /// Print errors only: no warnings, notes or summaries.
    #[arg(short, long, global = true)]
    pub(super) quiet: bool,
    #[command(subcommand)]
    pub(super) command: Command,
}

/// How diagnostics are printed on stderr.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum DiagFormat {
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
pub(super) struct StyleArgs {
    /// How diagnostics are printed on stderr.
    #[arg(long = "format", value_enum, value_name = "FORMAT")]
    pub(super) format: Option<DiagFormat>,
}

#[derive(clap::Args, Debug)]
pub(super) struct CheckArgs {
    /// Warn about roots expiring within this many days.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub(super) warn_expiry: i64,
}

/// What `generate` and `check` share: which clusters, which templates, which checks.
#[derive(clap::Args, Debug)]
pub(super) struct RenderArgs {
    /// Only this cluster (repeatable).
    #[arg(long = "cluster", value_name = "NAME")]
    pub(super) clusters: Vec<String>,
    /// Use templates from DIR where a file of the same name exists.
    #[arg(long, value_name = "DIR")]
    pub(super) templates: Option<PathBuf>,
    #[command(flatten)]
    pub(super) checks: CheckArgs,
    #[command(flatten)]
    pub(super) style: StyleArgs,
}

impl RenderArgs {
    pub(super) fn options(self) -> RenderOptions {
        RenderOptions {
            build: build_options(&self.checks),
            clusters: self.clusters,
            templates: self.templates,
        }
    }
}

#[derive(Subcommand, Debug)]
pub(super) enum Command {
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
pub(super) enum ImportCommand {
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
pub(super) enum GraphFormatArg {
    Mermaid,
    Dot,
}

#[derive(Subcommand, Debug)]
pub(super) enum PluginAction {
    /// Link the binary where `kubectl kustomize --enable-alpha-plugins` looks for the
    /// MeshFederationMember generator ($XDG_CONFIG_HOME/kustomize/plugin/...).
    Install {
        /// Copy the binary instead of linking it.
        #[arg(long)]
        copy: bool,
    },
}

pub(super) fn build_options(checks: &CheckArgs) -> BuildOptions {
    BuildOptions {
        certs: CertPolicy {
            warn_expiry_days: checks.warn_expiry,
            ..CertPolicy::default()
        },
        ..BuildOptions::default()
    }
}

impl Cli {
    /// `--format` after the subcommand wins over one before it; human by default.
    pub(super) fn diag_format(&self) -> DiagFormat {
        let after = match &self.command {
            Command::Generate { render, .. } | Command::Check { render, .. } => render.style.format,
            Command::Validate { style, .. } | Command::Import(ImportCommand::Deckhouse { style, .. }) => style.format,
            _ => None,
        };
        after.or(self.style.format).unwrap_or_default()
    }
}
